//! Serves a chroma-rs engine over HTTP, for manual testing and the Python suites.
//!
//! ```text
//! cargo run -p chroma-server --example serve -- [--path DIR] [--host H] [--port P]
//! ```
//! Without `--path` the data lives in memory. Settings come from the environment as with
//! Chroma (`ALLOW_RESET=TRUE`, `CHROMA_SERVER_AUTHN_PROVIDER`, ...).

use chroma_server::ServerConfig;
use chroma_types::{ChromaApi, Settings};
use std::sync::Arc;

fn main() {
    if let Err(e) = real_main() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn real_main() -> Result<(), String> {
    let mut config = ServerConfig::from_env().map_err(|e| e.to_string())?;
    let mut settings = Settings::from_env().map_err(|e| e.to_string())?;
    let mut path: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--path" => path = Some(val("--path")?),
            "--host" => config.host = val("--host")?,
            "--port" => config.port = val("--port")?.parse().map_err(|_| "--port expects a number".to_string())?,
            "--allow-reset" => config.allow_reset = true,
            "-h" | "--help" => {
                println!("usage: serve [--path DIR] [--host H] [--port P] [--allow-reset]");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    settings.allow_reset = settings.allow_reset || config.allow_reset;
    config.allow_reset = settings.allow_reset;
    let engine = match &path {
        Some(p) => chroma_store::Engine::open(std::path::Path::new(p), settings),
        None => chroma_store::Engine::ephemeral(settings),
    }
    .map_err(|e| e.to_string())?;
    let api: Arc<dyn ChromaApi> = Arc::new(engine);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        eprintln!("chroma-rs serving on http://{}:{}", config.host, config.port);
        chroma_server::serve(api, config, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| e.to_string())
    })
}
