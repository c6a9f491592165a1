//! HTTP server of chroma-rs speaking Chroma's API v1 and v2 for every official client line.
//!
//! * `/api/v1` answers as Chroma 0.4.24 did (0.4.x clients, JS `chromadb` <= 1.9.2), or as
//!   0.5.4-0.5.15 did when the caller is a `python-httpx` client (collection objects carry
//!   `configuration_json` then). Trailing slashes are accepted.
//! * `/api/v2` answers with one shape that the 0.5.16-0.6.x and 1.x Python clients and the
//!   JS 1.9.3+ / 2.x / 3.x clients accept.
//! * Bodies are parsed as JSON whatever their `Content-Type` (old clients send none).
//! * Engine calls run on the blocking pool ([`tokio::task::spawn_blocking`]).
//!
//! Which of these a request gets is its [`ClientLine`], detected once per request from the
//! path and the `User-Agent` and handed to every handler.
//!
//! ```no_run
//! # async fn demo(api: std::sync::Arc<dyn chroma_types::ChromaApi>) -> std::io::Result<()> {
//! let config = chroma_server::ServerConfig { port: 8000, ..Default::default() };
//! chroma_server::serve(api, config, async { let _ = tokio::signal::ctrl_c().await; }).await
//! # }
//! ```
//!
//! Modules: [`config`] and [`auth`] (settings), [`errors`] (error responses per client line);
//! inside: `conn` (the connection loop: hyper HTTP/1.1 with header-read and idle timeouts),
//! `router` (the route table), `openapi` (`/openapi.json` and `/docs`, generated from
//! the route tables and the wire types), `v1` / `v2` (each version's routes), `middleware`
//! (client line detection, auth, CORS), `request` (state, extractors, body parsing, engine
//! calls), `reply` (response helpers), and the handlers by concern: `system`, `tenants`,
//! `collections`, `records`.

#![deny(missing_docs)]

pub mod auth;
mod collections;
pub mod config;
mod conn;
pub mod errors;
mod lineage;
mod middleware;
mod openapi;
mod records;
mod reply;
mod request;
mod router;
mod system;
mod tenants;
mod v1;
mod v2;

pub use auth::{Auth, BasicUser, TokenHeader};
pub use chroma_wire::ClientLine;
pub use config::{ConfigFile, ServerConfig, CHROMA_API_VERSION, DEFAULT_MAX_BODY_BYTES};

use axum::Router;
use chroma_types::ChromaApi;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// The axum router serving `/api/v1` and `/api/v2` over `api`.
pub fn router(api: Arc<dyn ChromaApi>, config: &ServerConfig) -> Router {
    router::router(api, config)
}

/// Binds `config.host:config.port` and serves until `shutdown` completes.
pub async fn serve(
    api: Arc<dyn ChromaApi>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
    serve_on(listener, api, config, shutdown).await
}

/// Serves on an already bound listener (tests bind port 0 and read the address first).
pub async fn serve_on(
    listener: TcpListener,
    api: Arc<dyn ChromaApi>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(api, &config);
    tracing::info!(
        "chroma-rs server listening on {}",
        listener.local_addr().map(|a| a.to_string()).unwrap_or_default()
    );
    let timeouts = conn::Timeouts { header_read: config.header_read_timeout, idle: config.idle_timeout };
    conn::serve(listener, app, timeouts, shutdown).await;
    Ok(())
}
