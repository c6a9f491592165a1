//! Error responses, per client line.
//!
//! Chroma's three server generations answer the same failure differently, and each client line
//! only turns the names it knows into typed exceptions. [`ClientLine`] says which generation a
//! request is talking to; [`Fail`] is everything a handler can fail with; [`Fail::respond`]
//! writes the body and status that line's clients (and test suites) expect.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chroma_types::{Error, ErrorKind};
use chroma_wire::ClientLine;
use serde_json::{json, Value};

/// What a failing call was doing; a few 0.4.x/0.5.x answers depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Tenants, databases, reset, anything not about one collection.
    Other,
    /// GET/DELETE `collections/{name}`, create collection.
    CollectionByName,
    /// PUT `collections/{id}`, v2 `by-id`.
    CollectionById,
    /// A record operation on `collections/{id}/...` other than add.
    Record,
    /// `collections/{id}/add`.
    Add,
    /// Delete a database (1.5.9 words its not-found apart).
    DatabaseDelete,
}

/// Everything a handler can fail with.
#[derive(Debug)]
pub enum Fail {
    /// The engine (or input conversion) refused.
    Api(Op, Error),
    /// The body is not JSON.
    Json(String),
    /// The body is JSON of the wrong shape (missing field, wrong type).
    Shape(String),
    /// A query parameter is malformed.
    Query(String),
    /// A path segment that must be a UUID is not.
    BadUuid(String),
    /// Missing or wrong credentials.
    Unauthorized,
    /// No such route.
    NoRoute(String),
    /// Too much work of this kind is queued (429 `RateLimitError`, as Chroma's rate limiter).
    Busy(String),
    /// The request body is larger than the server accepts (413 `ChromaError`, as Chroma 1.5.9).
    TooLarge(String),
}

impl Fail {
    /// Wraps an engine error of a call doing `op` (for `map_err`).
    pub fn api(op: Op) -> impl FnOnce(Error) -> Fail {
        move |e| Fail::Api(op, e)
    }

    /// The response `line`'s clients expect for this failure. API v2 responses carry a
    /// `chroma-trace-id` header.
    pub fn respond(self, line: ClientLine) -> Response {
        let (status, body) = match line {
            ClientLine::V04 => self.v1(ClientLine::V04),
            // 0.5.16-0.6.x clients on v2 expect the errors of the 0.5 server they came with.
            ClientLine::V05 | ClientLine::V06 => self.v1(ClientLine::V05),
            ClientLine::V1x => self.v2(),
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if line.is_v2() {
            let trace = uuid::Uuid::new_v4().simple().to_string();
            if let Ok(v) = HeaderValue::from_str(&trace) {
                resp.headers_mut().insert("chroma-trace-id", v);
            }
        }
        resp
    }

    /// API v1's answer, as the 0.4.x (`line` V04) or 0.5.x (V05) server gave it.
    fn v1(self, line: ClientLine) -> (StatusCode, Value) {
        let named =
            |status: u16, name: &str, message: &str| (status_code(status), json!({"error": name, "message": message}));
        let repr = |class: &str, message: &str| {
            (StatusCode::INTERNAL_SERVER_ERROR, json!({"error": python_repr(class, message)}))
        };
        match self {
            Fail::Api(op, e) => {
                let msg = e.message.as_str();
                match e.kind {
                    ErrorKind::InvalidDimension => {
                        let m = dimension_message_v04(msg);
                        if line == ClientLine::V04 && op == Op::Add {
                            // 0.4.24 wraps this one into an HTTPException.
                            (StatusCode::INTERNAL_SERVER_ERROR, json!({"detail": m}))
                        } else {
                            named(400, "InvalidDimension", &m)
                        }
                    }
                    ErrorKind::DuplicateId => named(400, "DuplicateID", msg),
                    ErrorKind::NotFound => match (line, op) {
                        (_, Op::Record | Op::Add) => named(400, "InvalidCollection", msg),
                        (ClientLine::V04, Op::CollectionByName) => repr("ValueError", msg),
                        (ClientLine::V04, _) => repr("NotFoundError", msg),
                        (_, Op::CollectionByName | Op::CollectionById) => named(400, "InvalidCollection", msg),
                        _ => named(404, "NotFoundError", msg),
                    },
                    ErrorKind::AlreadyExists => {
                        if line == ClientLine::V04 {
                            repr("UniqueConstraintError", msg)
                        } else {
                            named(409, "UniqueConstraintError", msg)
                        }
                    }
                    ErrorKind::BatchSizeExceeded if line == ClientLine::V05 => {
                        named(413, "BatchSizeExceededError", msg)
                    }
                    ErrorKind::InvalidArgument | ErrorKind::BatchSizeExceeded | ErrorKind::Forbidden => {
                        repr("ValueError", msg)
                    }
                    ErrorKind::Unauthorized => named(401, "AuthorizationError", msg),
                    ErrorKind::Timeout => named(504, "TimeoutError", msg),
                    ErrorKind::Cancelled => named(499, "CancelledError", msg),
                    _ => repr("Exception", msg),
                }
            }
            Fail::Json(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"type": "json_invalid", "loc": ["body", 0], "msg": format!("JSON decode error: {m}")}]}),
            ),
            Fail::Shape(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"type": "value_error", "loc": ["body"], "msg": m}]}),
            ),
            Fail::Query(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"detail": [{"type": "value_error", "loc": ["query"], "msg": m}]}),
            ),
            Fail::BadUuid(s) => named(400, "InvalidUUID", &format!("Could not parse {s} as a UUID")),
            Fail::Unauthorized => named(401, "AuthorizationError", "Unauthorized"),
            Fail::NoRoute(_) => (StatusCode::NOT_FOUND, json!({"detail": "Not Found"})),
            Fail::Busy(m) => named(429, "RateLimitError", &m),
            Fail::TooLarge(m) => named(413, "ChromaError", &m),
        }
    }

    /// API v2's answer (Chroma 1.x).
    fn v2(self) -> (StatusCode, Value) {
        let named =
            |status: u16, name: &str, message: &str| (status_code(status), json!({"error": name, "message": message}));
        match self {
            Fail::Api(op, e) => {
                let msg = e.message.as_str();
                match e.kind {
                    ErrorKind::InvalidArgument | ErrorKind::InvalidDimension | ErrorKind::DuplicateId => {
                        named(400, "InvalidArgumentError", msg)
                    }
                    ErrorKind::BatchSizeExceeded => named(413, "BatchSizeExceededError", msg),
                    ErrorKind::NotFound => named(404, "NotFoundError", &not_found_1x(op, msg)),
                    ErrorKind::AlreadyExists => named(409, "UniqueConstraintError", msg),
                    ErrorKind::Forbidden => named(403, "ChromaError", msg),
                    ErrorKind::Unauthorized => named(401, "AuthorizationError", msg),
                    ErrorKind::Unavailable => named(503, "InternalError", msg),
                    // Chroma has no time limit per request: a name its clients show as is.
                    ErrorKind::Timeout => named(504, "TimeoutError", msg),
                    // Only a client that has gone away sees this (nginx's "client closed request").
                    ErrorKind::Cancelled => named(499, "CancelledError", msg),
                    _ => named(500, "InternalError", msg),
                }
            }
            Fail::Json(m) => {
                named(400, "InvalidArgumentError", &format!("Failed to parse the request body as JSON: {m}"))
            }
            Fail::Shape(m) => {
                named(422, "ChromaError", &format!("Failed to deserialize the JSON body into the target type: {m}"))
            }
            Fail::Query(m) => named(400, "InvalidArgumentError", &m),
            Fail::BadUuid(_) => named(400, "InvalidArgumentError", "Collection ID is not a valid UUIDv4"),
            Fail::Unauthorized => named(401, "AuthorizationError", "Unauthorized"),
            Fail::NoRoute(p) => named(404, "NotFoundError", &format!("No route for {p}")),
            Fail::Busy(m) => named(429, "RateLimitError", &m),
            Fail::TooLarge(m) => named(413, "ChromaError", &m),
        }
    }
}

/// A not-found message of the engine (0.x wording, which the v1 lines keep) in Chroma 1.5.9's:
/// the name in brackets, and a final period except on the calls that look a collection up
/// (get and delete by name, get by id).
fn not_found_1x(op: Op, msg: &str) -> String {
    if let Some(x) = msg.strip_prefix("Collection ").and_then(|m| m.strip_suffix(" does not exist.")) {
        return match op {
            Op::CollectionByName => format!("Collection [{x}] does not exist"),
            _ => format!("Collection [{x}] does not exist."),
        };
    }
    if let Some(x) = msg.strip_prefix("Tenant ").and_then(|m| m.strip_suffix(" not found")) {
        return format!("Tenant [{x}] not found");
    }
    if let Some((x, _)) = msg.strip_prefix("Database ").and_then(|m| m.split_once(" not found for tenant ")) {
        return match op {
            Op::DatabaseDelete => format!("Database [{x}] not found"),
            _ => format!("Database [{x}] not found. Are you sure it exists?"),
        };
    }
    msg.to_string()
}

fn status_code(n: u16) -> StatusCode {
    StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// `Class('message')` as Python's `repr` of an exception writes it (0.4.x error bodies).
pub fn python_repr(class: &str, message: &str) -> String {
    let quote = if message.contains('\'') && !message.contains('"') { '"' } else { '\'' };
    let mut out = String::with_capacity(message.len() + class.len() + 4);
    out.push_str(class);
    out.push('(');
    out.push(quote);
    for c in message.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out.push(')');
    out
}

/// Rewrites the engine's dimension message into 0.4.x/0.5.x wording
/// ("Embedding dimension 2 does not match collection dimensionality 3"), which those
/// clients' test suites look for.
pub fn dimension_message_v04(msg: &str) -> String {
    let prefix = "Collection expecting embedding with dimension of ";
    if let Some(rest) = msg.strip_prefix(prefix) {
        if let Some((expected, got)) = rest.split_once(", got ") {
            let got = got.trim_end_matches('.');
            if expected.parse::<usize>().is_ok() && got.parse::<usize>().is_ok() {
                return format!("Embedding dimension {got} does not match collection dimensionality {expected}");
            }
        }
    }
    msg.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(
            python_repr("ValueError", "Collection x does not exist."),
            "ValueError('Collection x does not exist.')"
        );
        assert_eq!(python_repr("ValueError", "it's"), "ValueError(\"it's\")");
        assert_eq!(python_repr("ValueError", "it's \"x\""), "ValueError('it\\'s \"x\"')");
    }

    #[test]
    fn dimension_wording() {
        assert_eq!(
            dimension_message_v04("Collection expecting embedding with dimension of 3, got 2"),
            "Embedding dimension 2 does not match collection dimensionality 3"
        );
        assert_eq!(dimension_message_v04("other"), "other");
    }
}
