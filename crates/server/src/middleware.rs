//! What runs around every handler: client line detection, authentication, CORS.

use crate::auth::Denied;
use crate::errors::Fail;
use crate::request::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use chroma_wire::ClientLine;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

/// Who the auth middleware let in ("" without auth or for tokens).
#[derive(Clone, Default)]
pub(crate) struct Caller(pub(crate) String);

/// The client line of a request to `path`:
/// * `/api/v1`: `python-httpx` is the 0.5.4-0.5.15 Python client; everything else gets
///   0.4.x answers.
/// * `/api/v2`: Python clients 0.5.16-0.6.x send httpx's default User-Agent, while 1.x clients
///   name themselves ("Chroma Python Client v1..."); everything else is 1.x.
pub(crate) fn client_line(path: &str, headers: &HeaderMap) -> ClientLine {
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if path.starts_with("/api/v1") {
        if ua.contains("python-httpx") {
            ClientLine::V05
        } else {
            ClientLine::V04
        }
    } else if path.starts_with("/api/v2") && ua.starts_with("python-httpx") {
        ClientLine::V06
    } else {
        ClientLine::V1x
    }
}

/// Detects the request's [`ClientLine`] once and puts it in the request extensions, where
/// handlers, the auth layer and the fallback read it (`Extension<ClientLine>`).
pub(crate) async fn detect_client_line(mut req: Request, next: Next) -> Response {
    let line = client_line(req.uri().path(), req.headers());
    req.extensions_mut().insert(line);
    next.run(req).await
}

/// The line [`detect_client_line`] stored (detected again if the layer is missing).
fn line_of(req: &Request) -> ClientLine {
    req.extensions().get::<ClientLine>().copied().unwrap_or_else(|| client_line(req.uri().path(), req.headers()))
}

/// Paths that stay open when auth is on (as Chroma's default ignore list, and the API's
/// description).
fn is_open_path(method: &Method, path: &str) -> bool {
    let p = path.strip_suffix('/').unwrap_or(path);
    *method == Method::OPTIONS
        || (*method == Method::GET
            && matches!(
                p,
                "/api/v1"
                    | "/api/v1/heartbeat"
                    | "/api/v1/version"
                    | "/api/v2"
                    | "/api/v2/heartbeat"
                    | "/api/v2/version"
                    | "/api/v2/healthcheck"
                    | "/openapi.json"
                    | "/docs"
            ))
}

/// The message of a password check refused because too many are running and waiting.
const BUSY: &str = "Too many password checks in progress; retry in a moment";

/// Lets in requests with valid credentials (or on open paths) and records the [`Caller`];
/// answers the others with the line's `AuthorizationError` (or `RateLimitError` when too many
/// password checks are queued).
pub(crate) async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if !st.auth.is_enabled() || is_open_path(req.method(), req.uri().path()) {
        req.extensions_mut().insert(Caller::default());
        return next.run(req).await;
    }
    match st.auth.check(req.headers()).await {
        Ok(user) => {
            req.extensions_mut().insert(Caller(user));
            next.run(req).await
        }
        Err(Denied::Unauthorized) => Fail::Unauthorized.respond(line_of(&req)),
        Err(Denied::Busy) => Fail::Busy(BUSY.to_string()).respond(line_of(&req)),
    }
}

/// Turns axum's plain-text 413 (a body over [`DefaultBodyLimit`](axum::extract::DefaultBodyLimit))
/// into the line's JSON error, naming the limit and the settings that raise it. The engine's
/// own 413s (`BatchSizeExceededError`) are JSON already and pass unchanged.
pub(crate) async fn json_too_large(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let line = line_of(&req);
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if resp.status() != StatusCode::PAYLOAD_TOO_LARGE || is_json {
        return resp;
    }
    Fail::TooLarge(format!(
        "The request body is larger than this server accepts ({limit} bytes); raise the limit with --max-body-bytes, CHROMA_MAX_PAYLOAD_SIZE_BYTES or max_payload_size_bytes in the config file"
    ))
    .respond(line)
}

/// CORS for `origins` (`"*"`: any origin); `None` when the list is empty (no CORS headers).
pub(crate) fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    Some(CorsLayer::new().allow_origin(allow).allow_methods(Any).allow_headers(Any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_lines_from_path_and_user_agent() {
        let ua = |s: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::USER_AGENT, HeaderValue::from_str(s).unwrap());
            h
        };
        let none = HeaderMap::new();
        assert_eq!(client_line("/api/v1/collections", &none), ClientLine::V04);
        assert_eq!(client_line("/api/v1/collections", &ua("python-requests/2.31.0")), ClientLine::V04);
        assert_eq!(client_line("/api/v1", &ua("Python-HTTPX/0.27.0")), ClientLine::V05);
        assert_eq!(client_line("/api/v2/heartbeat", &ua("python-httpx/0.27.0")), ClientLine::V06);
        // on v2 only httpx's own User-Agent marks a pre-1.x client
        assert_eq!(client_line("/api/v2/heartbeat", &ua("Mozilla python-httpx")), ClientLine::V1x);
        assert_eq!(client_line("/api/v2/heartbeat", &ua("Chroma Python Client v1.0.0")), ClientLine::V1x);
        assert_eq!(client_line("/api/v2/heartbeat", &none), ClientLine::V1x);
        assert_eq!(client_line("/elsewhere", &ua("python-httpx/0.27.0")), ClientLine::V1x);
    }
}
