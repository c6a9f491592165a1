//! The router: v1 and v2 routes, `/openapi.json` and `/docs`, the fallback, and the layers
//! (auth, client line detection, body limit, CORS).

use crate::errors::Fail;
use crate::middleware::{authenticate, cors, detect_client_line, json_too_large};
use crate::openapi::{docs_page, Docs};
use crate::request::AppState;
use crate::ServerConfig;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use chroma_types::ChromaApi;
use chroma_wire::ClientLine;
use std::sync::Arc;

/// The whole application over `api`.
pub(crate) fn router(api: Arc<dyn ChromaApi>, config: &ServerConfig) -> Router {
    let st = AppState {
        api,
        allow_reset: config.allow_reset,
        auth: Arc::new(crate::auth::Authenticator::new(config.auth.clone())),
        request_timeout: config.request_timeout,
    };
    let table: Vec<_> = crate::v1::routes().into_iter().chain(crate::v2::routes()).collect();
    let mut routes = Router::new();
    for (path, mr) in &table {
        // Clients send both `path` and `path/`.
        routes = routes.route(path, mr.clone()).route(&format!("{path}/"), mr.clone());
    }
    // The API's description, generated from `table` (see `openapi`).
    let docs = Docs::new(table, st.clone());
    routes = routes
        .route("/openapi.json", get(move || async move { docs.openapi_json().await }))
        .route("/docs", get(docs_page));
    let mut app = routes
        .fallback(no_route)
        .layer(middleware::from_fn_with_state(st.clone(), authenticate))
        .layer(middleware::from_fn_with_state(config.max_body_bytes, json_too_large))
        .layer(middleware::from_fn(detect_client_line))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(st);
    if let Some(layer) = cors(&config.cors_allow_origins) {
        app = app.layer(layer);
    }
    app
}

/// Unknown paths: `FastAPI`'s `{"detail": "Not Found"}` on v1, a `NotFoundError` on v2.
async fn no_route(Extension(line): Extension<ClientLine>, method: Method, uri: Uri) -> Response {
    Fail::NoRoute(format!("{method} {}", uri.path())).respond(line)
}
