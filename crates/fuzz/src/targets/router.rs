//! Every route of the real axum router, in process (`tower::ServiceExt::oneshot`), over a
//! fresh ephemeral engine holding one collection of three records.
//!
//! Input: a first line `METHOD PATH [USER-AGENT]`, then the body. In the path, `{C}` stands for
//! the collection's id and `{N}` for its name (`fuzz`), so corpus files stay readable and
//! reach the record routes.

use super::sig;
use crate::Outcome;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chroma_server::ServerConfig;
use chroma_types::Settings;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

const V2_DB: &str = "/api/v2/tenants/default_tenant/databases/default_database";

async fn call(app: &axum::Router, method: Method, path: &str, ua: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
    if !ua.is_empty() {
        req = req.header("user-agent", ua);
    }
    let Ok(req) = req.body(Body::from(body)) else { return (StatusCode::BAD_REQUEST, b"unbuildable".to_vec()) };
    match app.clone().oneshot(req).await {
        Ok(resp) => {
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20).await.map(|b| b.to_vec()).unwrap_or_default();
            (status, bytes)
        }
        Err(e) => match e {},
    }
}

/// The collection every input finds: three 3-d records with documents and metadata.
async fn seed(app: &axum::Router) -> Result<String, String> {
    let (st, b) = call(
        app,
        Method::POST,
        &format!("{V2_DB}/collections"),
        "",
        br#"{"name":"fuzz","metadata":{"hnsw:space":"l2","k":1}}"#.to_vec(),
    )
    .await;
    let v: Value = serde_json::from_slice(&b).map_err(|e| format!("seed: create answered {st}: {e}"))?;
    let id = v.get("id").and_then(Value::as_str).ok_or_else(|| format!("seed: create answered {st}: {v}"))?.to_string();
    let add = br#"{"ids":["a","b","c"],"embeddings":[[1,0,0],[0,1,0],[0,0,1]],"documents":["apple pie","banana split",null],"metadatas":[{"n":1,"s":"x","f":0.5,"b":true},{"n":2,"s":"y"},null]}"#;
    let (st, b) = call(app, Method::POST, &format!("{V2_DB}/collections/{id}/add"), "", add.to_vec()).await;
    if !st.is_success() {
        return Err(format!("seed: add answered {st}: {}", String::from_utf8_lossy(&b)));
    }
    Ok(id)
}

/// Whether a 5xx answer is one of the documented ones: 503/504/499-style refusals, and on API
/// v1 the 500s Chroma 0.4.x/0.5.x gave for `ValueError`s and friends (their clients expect
/// them), but never an internal error.
fn documented_5xx(v1: bool, status: StatusCode, body: &[u8]) -> bool {
    if matches!(status.as_u16(), 503 | 504) {
        return true;
    }
    if !v1 || status != StatusCode::INTERNAL_SERVER_ERROR {
        return false;
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else { return false };
    if v.get("detail").is_some() {
        return true; // 0.4.24's dimension error on add, wrapped in an HTTPException
    }
    v.get("error").and_then(Value::as_str).is_some_and(|e| {
        ["ValueError(", "NotFoundError(", "UniqueConstraintError(", "InvalidDimensionException("]
            .iter()
            .any(|p| e.starts_with(p))
    })
}

/// One request through a fresh router.
pub(crate) fn route(input: &[u8]) -> Outcome {
    let split = input.iter().position(|&b| b == b'\n').unwrap_or(input.len());
    let head = String::from_utf8_lossy(&input[..split]).to_string();
    let body = input.get(split + 1..).unwrap_or_default().to_vec();
    let mut parts = head.splitn(3, ' ');
    let method = parts.next().unwrap_or_default();
    let Ok(method) = Method::from_bytes(method.as_bytes()) else { return Ok("bad method".into()) };
    let path_t = parts.next().unwrap_or("/").to_string();
    let ua = parts.next().unwrap_or_default().to_string();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let engine = chroma_store::Engine::ephemeral(Settings { allow_reset: true, ..Settings::default() })
        .map_err(|e| format!("ephemeral engine: {e}"))?;
    let config = ServerConfig { allow_reset: true, ..ServerConfig::default() };
    let app = chroma_server::router(Arc::new(engine), &config);
    rt.block_on(async move {
        let id = seed(&app).await?;
        let path = path_t.replace("{C}", &id).replace("{N}", "fuzz");
        let (status, resp) = call(&app, method.clone(), &path, &ua, body).await;
        let v1 = path.starts_with("/api/v1");
        if status.is_server_error() && !documented_5xx(v1, status, &resp) {
            return Err(format!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&resp[..resp.len().min(2000)])
            ));
        }
        // The engine must still answer after whatever the request did.
        let (st, b) = call(&app, Method::GET, "/api/v2/heartbeat", "", Vec::new()).await;
        if st != StatusCode::OK {
            return Err(format!("heartbeat after {method} {path}: {st} {}", String::from_utf8_lossy(&b)));
        }
        let name = serde_json::from_slice::<Value>(&resp)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        let route: String = path_t.split('/').take(9).collect::<Vec<_>>().join("/");
        Ok(sig(&format!("{method} {route} {}", status.as_u16()), &name))
    })
}
