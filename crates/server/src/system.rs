//! Handlers that touch no tenant or collection: heartbeat, version, pre-flight checks, health
//! check, identity, reset.

use crate::errors::{Fail, Op};
use crate::middleware::Caller;
use crate::reply::{finish, ok};
use crate::request::{run, AppState};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chroma_types::{Error, ErrorKind};
use chroma_wire::ClientLine;
use serde_json::{json, Value};

/// `{"nanosecond heartbeat": ...}`.
pub(crate) async fn heartbeat(State(st): State<AppState>, Extension(line): Extension<ClientLine>) -> Response {
    let r = run(&st, |api| api.heartbeat()).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|ns| ok(json!({"nanosecond heartbeat": u64::try_from(ns).unwrap_or(u64::MAX)}))))
}

/// The version string.
pub(crate) async fn version(State(st): State<AppState>, Extension(line): Extension<ClientLine>) -> Response {
    let r = run(&st, |api| api.version()).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|v| ok(Value::String(v))))
}

/// `max_batch_size`, and on v2 `supports_base64_encoding`.
pub(crate) async fn preflight(State(st): State<AppState>, Extension(line): Extension<ClientLine>) -> Response {
    let r = run(&st, |api| api.max_batch_size()).await.map_err(Fail::api(Op::Other));
    finish(
        line,
        r.map(|n| {
            if line.is_v2() {
                ok(json!({"max_batch_size": n, "supports_base64_encoding": true}))
            } else {
                ok(json!({"max_batch_size": n}))
            }
        }),
    )
}

/// Always ready.
pub(crate) async fn healthcheck() -> Response {
    ok(json!({"is_executor_ready": true, "is_log_client_ready": true}))
}

/// v2: who the caller is (the basic-auth user, else "") and what they may use.
pub(crate) async fn identity(caller: Option<Extension<Caller>>) -> Response {
    let user = caller.map(|Extension(c)| c.0).unwrap_or_default();
    ok(json!({"user_id": user, "tenant": chroma_types::DEFAULT_TENANT, "databases": [chroma_types::DEFAULT_DATABASE]}))
}

/// Wipes everything, when the configuration allows it.
pub(crate) async fn reset(State(st): State<AppState>, Extension(line): Extension<ClientLine>) -> Response {
    if !st.allow_reset {
        let msg = if line.is_v2() {
            "Reset is disabled by config"
        } else {
            "Resetting is not allowed by this configuration (to enable it, set `allow_reset` to `True` in your Settings() or include `ALLOW_RESET=TRUE` in your environment variables)"
        };
        return Fail::Api(Op::Other, Error::new(ErrorKind::Forbidden, msg)).respond(line);
    }
    let r = run(&st, |api| api.reset()).await.map_err(Fail::api(Op::Other));
    finish(line, r.map(|()| ok(Value::Bool(true))))
}
