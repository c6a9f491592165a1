//! Error bodies, read back into [`chroma_types::Error`] whatever the server's line. (The
//! server writes them per client line: see chroma-server's `errors` module.)

use chroma_types::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The error body every line understands: `{"error": <name>, "message": <text>}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Chroma's error name (`NotFoundError`, `InvalidArgumentError`, ...).
    pub error: String,
    /// What went wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// API v1 (Chroma 0.4.x) sends the Python repr: `{"error": "ValueError('Collection x does not
/// exist.')"}`. Returns the class name and the message when `name` is such a repr.
fn split_python_repr(name: &str) -> Option<(String, String)> {
    let (n, rest) = name.split_once('(')?;
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || !rest.ends_with(')') {
        return None;
    }
    let inner = rest[..rest.len() - 1].trim();
    let inner = inner.strip_prefix(['\'', '"']).and_then(|i| i.strip_suffix(['\'', '"'])).unwrap_or(inner);
    Some((n.to_string(), inner.to_string()))
}

/// The kind for an error `name` (and `message`) of any line, else for the HTTP `status`.
fn kind_of(name: &str, message: &str, status: u16) -> ErrorKind {
    use ErrorKind as K;
    match name {
        "NotFoundError" | "InvalidCollection" => K::NotFound,
        "InvalidDimension" => K::InvalidDimension,
        "DuplicateID" => K::DuplicateId,
        "UniqueConstraintError" | "IDAlreadyExists" => K::AlreadyExists,
        "BatchSizeExceededError" => K::BatchSizeExceeded,
        "AuthorizationError" | "AuthError" => K::Unauthorized,
        "InvalidArgumentError" | "InvalidUUID" => {
            if message.contains("expecting embedding with dimension")
                || message.contains("does not match collection dimensionality")
            {
                K::InvalidDimension
            } else if message.contains("Expected IDs to be unique") {
                K::DuplicateId
            } else {
                K::InvalidArgument
            }
        }
        _ => match status {
            400 | 422 => K::InvalidArgument,
            401 => K::Unauthorized,
            403 => K::Forbidden,
            404 => K::NotFound,
            409 => K::AlreadyExists,
            413 => K::BatchSizeExceeded,
            503 => K::Unavailable,
            _ => K::Internal,
        },
    }
}

/// Maps an error response (status and body) back to a [`chroma_types::Error`].
pub fn error_from_response(status: u16, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body).to_string();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut name = parsed.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).unwrap_or("").to_string();
    let mut repr_message = None;
    if let Some((n, m)) = split_python_repr(&name) {
        name = n;
        repr_message = Some(m);
    }
    if name == "ValueError" {
        name = if repr_message.as_deref().is_some_and(|m| m.contains("does not exist")) {
            "NotFoundError"
        } else {
            "InvalidArgumentError"
        }
        .to_string();
    }
    let message = repr_message
        .or_else(|| parsed.as_ref().and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string)))
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v.get("detail"))
                .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_string))
        })
        .or_else(|| (!name.is_empty()).then(|| name.clone()))
        .unwrap_or_else(|| if text.is_empty() { format!("HTTP status {status}") } else { text.clone() });
    Error::new(kind_of(&name, &message, status), message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chroma_types::ErrorKind as K;

    #[test]
    fn errors_map_back() {
        assert_eq!(error_from_response(404, br#"{"error":"NotFoundError","message":"x"}"#).kind, K::NotFound);
        assert_eq!(error_from_response(409, br#"{"error":"ChromaError","message":"x"}"#).kind, K::AlreadyExists);
        assert_eq!(error_from_response(500, b"oops").message, "oops");
        assert_eq!(error_from_response(502, b"").message, "HTTP status 502");
        assert_eq!(error_from_response(422, br#"{"detail":[{"msg":"m"}]}"#).message, r#"[{"msg":"m"}]"#);
        let e = error_from_response(
            400,
            br#"{"error":"InvalidArgumentError","message":"Collection expecting embedding with dimension of 3, got 2"}"#,
        );
        assert_eq!(e.kind, K::InvalidDimension);
        // API v1 (Chroma 0.4.x): the Python repr, status 500
        let e = error_from_response(500, br#"{"error":"ValueError('Collection nope does not exist.')"}"#);
        assert_eq!((e.kind, e.message.as_str()), (K::NotFound, "Collection nope does not exist."));
        assert_eq!(
            error_from_response(500, br#"{"error":"UniqueConstraintError('Collection abc already exists')"}"#).kind,
            K::AlreadyExists
        );
        assert_eq!(error_from_response(500, br#"{"error":"NotFoundError('Tenant zz not found')"}"#).kind, K::NotFound);
        assert_eq!(
            error_from_response(500, br#"{"error":"ValueError('Expected metadata to be a dict')"}"#).kind,
            K::InvalidArgument
        );
    }
}
