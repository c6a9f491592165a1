//! The `chroma-rs` binary: thin glue over the chroma-rs libraries.
//!
//! * `chroma-rs run` serves a data folder (or memory) over Chroma's HTTP API (chroma-server
//!   over chroma-store);
//! * `chroma-rs vacuum` compacts a data folder (chroma-store);
//! * `chroma-rs migrate` copies older Chroma data in (chroma-migrate).

// Doc comments on the clap types are `--help` text for a terminal, where backticks would show.
#![allow(clippy::doc_markdown)]

use chroma_store::Engine;
use chroma_types::{ChromaApi, Settings};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

// mimalloc: the bulk paths (migrate, large adds) allocate and free many large buffers; with
// the system allocator they were returned to the OS and faulted in again (~15% of a migration).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "chroma-rs",
    version,
    about = "The Chroma embedding database, in Rust: one fast binary that speaks Chroma's API."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve a data folder over Chroma's HTTP API (v1 and v2), for every official client.
    Run(RunArgs),
    /// Compact a data folder: drop deleted vectors from the indexes and run SQLite VACUUM.
    Vacuum {
        /// The chroma-rs data folder.
        #[arg(long)]
        path: PathBuf,
    },
    /// Copy data from Chroma 0.3.x (duckdb+parquet folder or ClickHouse), a Chroma >= 0.4
    /// folder or any Chroma server into a chroma-rs folder or server; checks, then verifies.
    Migrate(chroma_migrate::MigrateArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// Data folder (created if missing).
    #[arg(long, default_value = "./chroma_data")]
    path: PathBuf,
    /// Keep everything in memory instead (nothing is written to disk).
    #[arg(long, conflicts_with = "path")]
    ephemeral: bool,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Largest request body in bytes [env: CHROMA_SERVER_MAX_PAYLOAD_SIZE_BYTES; default 40 MiB].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Allow POST /reset to wipe everything [env: ALLOW_RESET].
    #[arg(long)]
    allow_reset: bool,
    /// CORS origins, comma separated or a JSON list [env: CHROMA_SERVER_CORS_ALLOW_ORIGINS].
    #[arg(long)]
    cors_allow_origins: Option<String>,
    /// Seconds one request may run before it is stopped with a timeout error; 0 = no limit
    /// [env: CHROMA_RS_REQUEST_TIMEOUT; default 30].
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<String>,
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CHROMA_RS_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::FAILURE
}

fn run(args: RunArgs) -> ExitCode {
    let mut config = match chroma_server::ServerConfig::from_env() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    config.host = args.host;
    config.port = args.port;
    if let Some(n) = args.max_body_bytes {
        config.max_body_bytes = n;
    }
    if args.allow_reset {
        config.allow_reset = true;
    }
    if let Some(t) = args.request_timeout {
        match chroma_server::config::parse_timeout("--request-timeout", &t) {
            Ok(t) => config.request_timeout = t,
            Err(e) => return fail(e),
        }
    }
    if let Some(o) = args.cors_allow_origins {
        config.cors_allow_origins = o.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    }
    let mut settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    settings.allow_reset = config.allow_reset;
    let (engine, what) = if args.ephemeral {
        (Engine::ephemeral(settings), "memory (ephemeral: nothing is saved)".to_string())
    } else {
        let shown = args.path.canonicalize().unwrap_or(args.path.clone()).display().to_string();
        (Engine::open(&args.path, settings), format!("data folder {shown}"))
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("starting the async runtime: {e}")),
    };
    let api: Arc<dyn ChromaApi> = Arc::new(engine.clone());
    let (host, port) = (config.host.clone(), config.port);
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await.map_err(|e| {
            format!("cannot listen on {host}:{port}: {e} (is another server using the port? pick one with --port)")
        })?;
        let addr = listener.local_addr().map_or_else(|_| format!("{host}:{port}"), |a| a.to_string());
        eprintln!("chroma-rs {} serving {what}", env!("CARGO_PKG_VERSION"));
        eprintln!("listening on http://{addr} (API /api/v1 and /api/v2); Ctrl-C to stop");
        chroma_server::serve_on(listener, api, config, shutdown_signal())
            .await
            .map_err(|e| format!("server error: {e}"))
    });
    if let Err(e) = engine.flush() {
        tracing::warn!(error = %e, "saving index graphs on shutdown failed; they will be rebuilt on next open");
    }
    match result {
        Ok(()) => {
            eprintln!("stopped cleanly");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

fn vacuum(path: &std::path::Path) -> ExitCode {
    match chroma_store::folder::detect(path) {
        Ok(chroma_store::folder::FolderKind::ChromaRs) => {}
        Ok(
            kind @ (chroma_store::folder::FolderKind::Chroma03Parquet | chroma_store::folder::FolderKind::Chroma04Plus),
        ) => return fail(chroma_store::folder::legacy_error(path, &kind)),
        Ok(_) => {
            return fail(format!("{} is not a chroma-rs data folder (no chroma-rs.sqlite3 in it)", path.display()))
        }
        Err(e) => return fail(e),
    }
    let engine = match Engine::open(path, Settings::default()) {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    eprintln!("vacuuming {} ...", path.display());
    match engine.vacuum() {
        Ok(r) => {
            let mb = |b: u64| b as f64 / (1u64 << 20) as f64;
            println!(
                "collections: {} ({} compacted, {} dead vectors dropped); size {:.1} MB -> {:.1} MB (reclaimed {:.1} MB)",
                r.collections,
                r.collections_compacted,
                r.slots_reclaimed,
                mb(r.bytes_before),
                mb(r.bytes_after),
                mb(r.bytes_before.saturating_sub(r.bytes_after))
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

fn migrate(args: chroma_migrate::MigrateArgs) -> ExitCode {
    match chroma_migrate::run(args) {
        Ok(report) => {
            println!("{}", report.to_text());
            ExitCode::SUCCESS
        }
        Err(e) => {
            if let Some(report) = e.report() {
                eprintln!("{}", report.to_text());
            }
            fail(e)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Vacuum { path } => vacuum(&path),
        Command::Migrate(args) => migrate(args),
    }
}
