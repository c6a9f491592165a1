//! Response helpers shared by every handler.

use crate::errors::Fail;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chroma_wire::ClientLine;
use serde_json::{json, Value};

/// `v` as a JSON response with `status`.
pub(crate) fn json_response(status: StatusCode, v: Value) -> Response {
    (status, axum::Json(v)).into_response()
}

/// Already serialized JSON (get and query results, written without an intermediate `Value`).
pub(crate) fn raw_json(status: StatusCode, s: String) -> Response {
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], s).into_response()
}

/// `v` with status 200.
pub(crate) fn ok(v: Value) -> Response {
    json_response(StatusCode::OK, v)
}

/// The answer of a call that returns nothing: `null` on v1, `{}` on v2.
pub(crate) fn empty(line: ClientLine) -> Response {
    ok(if line.is_v2() { json!({}) } else { Value::Null })
}

/// The response, or the failure as `line`'s clients expect it.
pub(crate) fn finish(line: ClientLine, r: Result<Response, Fail>) -> Response {
    r.unwrap_or_else(|f| f.respond(line))
}
