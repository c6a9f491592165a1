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

/// `chroma-rs --version`: ours, and the Chroma API we follow (`chroma_server::CHROMA_API_VERSION`).
const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (Chroma API 1.5.9: /api/v2 as Chroma 1.5.9; /api/v1 as Chroma 0.4.24 and 0.5.x)"
);

#[derive(Parser)]
#[command(
    name = "chroma-rs",
    version = VERSION_LINE,
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

const RUN_AFTER_HELP: &str = "\
Settings come from, highest first: these flags, environment variables, the config file, the
defaults. Environment variables (Chroma 1.x name first, then the 0.x names):
  CHROMA_LISTEN_ADDRESS, CHROMA_SERVER_HOST                 --host
  CHROMA_PORT, CHROMA_SERVER_HTTP_PORT                      --port
  CHROMA_PERSIST_PATH, PERSIST_DIRECTORY                    --path
  CHROMA_ALLOW_RESET, ALLOW_RESET                           --allow-reset
  CHROMA_CORS_ALLOW_ORIGINS, CHROMA_SERVER_CORS_ALLOW_ORIGINS   --cors-allow-origins
  CHROMA_MAX_PAYLOAD_SIZE_BYTES, CHROMA_SERVER_MAX_PAYLOAD_SIZE_BYTES   --max-body-bytes
  CHROMA_SERVER_AUTHN_PROVIDER, CHROMA_SERVER_AUTHN_CREDENTIALS[_FILE],
  CHROMA_AUTH_TOKEN_TRANSPORT_HEADER (and their 0.4.x CHROMA_SERVER_AUTH_* names)
The config file is Chroma 1.x's (`chroma run CONFIG.yaml`): port, listen_address, persist_path,
allow_reset, cors_allow_origins, max_payload_size_bytes are used; its other keys are logged as
ignored, with why; keys Chroma does not know either get a warning.
The API is described at /openapi.json and browsable at /docs.";

#[derive(clap::Args)]
#[command(after_help = RUN_AFTER_HELP)]
struct RunArgs {
    /// Chroma 1.x server config file (YAML), as for `chroma run CONFIG.yaml`.
    #[arg(value_name = "CONFIG")]
    config_file: Option<PathBuf>,
    /// The same, as a flag.
    #[arg(long = "config", value_name = "PATH", conflicts_with = "config_file")]
    config: Option<PathBuf>,
    /// Data folder, created if missing [default: ./chroma_data].
    #[arg(long)]
    path: Option<PathBuf>,
    /// Keep everything in memory instead (nothing is written to disk).
    #[arg(long, conflicts_with = "path")]
    ephemeral: bool,
    /// Serve from PostgreSQL (15+), the system of record for any number of nodes:
    /// postgres://USER@HOST:PORT/DB. Nothing durable is kept on this node (docs/scale-out.md).
    #[arg(long, value_name = "URL", conflicts_with_all = ["path", "ephemeral"])]
    storage: Option<String>,
    /// With --storage: keep the per-collection caches in this folder (emptied at start)
    /// instead of memory.
    #[arg(long, value_name = "DIR", requires = "storage")]
    cache_path: Option<PathBuf>,
    /// With --storage: evict caches, least recently used first, past this many bytes.
    #[arg(long, value_name = "N", requires = "storage")]
    cache_bytes: Option<u64>,
    /// With --storage: keep change-log entries this many seconds (0: forever) [default: 600].
    /// A cache further behind reloads from the records (docs/scale-out.md, "Log pruning").
    #[arg(long, value_name = "SECONDS", requires = "storage")]
    log_retention: Option<u64>,
    /// Address to listen on [default: 127.0.0.1].
    #[arg(long)]
    host: Option<String>,
    /// Port to listen on [default: 8000].
    #[arg(long)]
    port: Option<u16>,
    /// Largest request body in bytes [default: 40 MiB].
    #[arg(long)]
    max_body_bytes: Option<usize>,
    /// Allow POST /reset to wipe everything.
    #[arg(long)]
    allow_reset: bool,
    /// CORS origins, comma separated or a JSON list ("*": any).
    #[arg(long)]
    cors_allow_origins: Option<String>,
    /// Seconds one request may run before it is stopped with a timeout error; 0 = no limit
    /// [env: CHROMA_RS_REQUEST_TIMEOUT; default 30].
    #[arg(long, value_name = "SECONDS")]
    request_timeout: Option<String>,
    /// Seconds a client may take to send a request head (from its first byte) before its
    /// connection is closed; 0 = no limit [env: CHROMA_RS_HEADER_READ_TIMEOUT; default 10].
    #[arg(long, value_name = "SECONDS")]
    header_read_timeout: Option<String>,
    /// Seconds a connection may sit idle (no request in flight) before it is closed; 0 = no
    /// limit [env: CHROMA_RS_IDLE_TIMEOUT; default 60].
    #[arg(long, value_name = "SECONDS")]
    idle_timeout: Option<String>,
}

/// Where the data lives.
#[derive(Debug, PartialEq)]
enum Place {
    Memory,
    Folder(PathBuf),
    /// `--storage`: PostgreSQL, with the node's caches in memory or a folder.
    Postgres {
        url: String,
        cache_path: Option<PathBuf>,
        cache_bytes: Option<u64>,
        log_retention: Option<u64>,
    },
}

/// What `run` serves, with the settings resolved: flags > environment > config file > defaults.
struct Resolved {
    config: chroma_server::ServerConfig,
    place: Place,
    /// Log lines about the configuration: (is a warning, text).
    notes: Vec<(bool, String)>,
}

fn resolve(args: &RunArgs, env: &[(String, String)]) -> Result<Resolved, String> {
    let mut notes = Vec::new();
    let file = match args.config.as_ref().or(args.config_file.as_ref()) {
        None => None,
        Some(p) => {
            if !p.exists() {
                return Err(format!("config file {} does not exist", p.display()));
            }
            let f = chroma_server::ConfigFile::load(p).map_err(|e| e.message)?;
            if !f.unknown_keys.is_empty() {
                notes.push((
                    true,
                    format!(
                        "config file {}: unknown keys, not used: {} (chroma-rs reads {})",
                        p.display(),
                        f.unknown_keys.join(", "),
                        chroma_server::config::USED_KEYS.join(", ")
                    ),
                ));
            }
            for (k, why) in &f.ignored_keys {
                notes.push((false, format!("config file {}: `{k}` is ignored: {why}", p.display())));
            }
            Some(f)
        }
    };
    for (k, why) in chroma_server::config::ignored_env(env.iter().cloned()) {
        notes.push((false, format!("environment variable {k} is ignored: {why}")));
    }
    let mut config = chroma_server::ServerConfig::resolve(file.as_ref(), env.iter().cloned()).map_err(|e| e.message)?;
    let host_set = args.host.is_some()
        || file.as_ref().is_some_and(|f| f.listen_address.is_some())
        || env.iter().any(|(k, v)| {
            matches!(k.to_ascii_lowercase().as_str(), "chroma_listen_address" | "chroma_server_host")
                && !v.trim().is_empty()
        });
    if file.is_some() && !host_set {
        notes.push((
            false,
            format!(
                "listen_address not set: listening on {} (Chroma 1.x would listen on 0.0.0.0; set listen_address: \"0.0.0.0\" to listen on every interface)",
                config.host
            ),
        ));
    }
    if let Some(h) = &args.host {
        config.host.clone_from(h);
    }
    if let Some(p) = args.port {
        config.port = p;
    }
    if let Some(n) = args.max_body_bytes {
        config.max_body_bytes = n;
    }
    if args.allow_reset {
        config.allow_reset = true;
    }
    if let Some(o) = &args.cors_allow_origins {
        config.cors_allow_origins = chroma_server::config::parse_list(o);
    }
    if let Some(t) = &args.request_timeout {
        config.request_timeout = chroma_server::config::parse_timeout("--request-timeout", t).map_err(|e| e.message)?;
    }
    if let Some(t) = &args.header_read_timeout {
        config.header_read_timeout =
            chroma_server::config::parse_timeout("--header-read-timeout", t).map_err(|e| e.message)?;
    }
    if let Some(t) = &args.idle_timeout {
        config.idle_timeout = chroma_server::config::parse_timeout("--idle-timeout", t).map_err(|e| e.message)?;
    }
    let place = if let Some(url) = &args.storage {
        if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
            return Err(format!("--storage {url:?}: expected a postgres:// URL"));
        }
        Place::Postgres {
            url: url.clone(),
            cache_path: args.cache_path.clone(),
            cache_bytes: args.cache_bytes,
            log_retention: args.log_retention,
        }
    } else if args.ephemeral {
        Place::Memory
    } else {
        let from_env_or_file = chroma_server::config::persist_path(file.as_ref(), env.iter().cloned());
        Place::Folder(args.path.clone().or(from_env_or_file).unwrap_or_else(|| PathBuf::from("./chroma_data")))
    };
    Ok(Resolved { config, place, notes })
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

fn run(args: &RunArgs) -> ExitCode {
    let env: Vec<(String, String)> = std::env::vars().collect();
    let Resolved { config, place, notes } = match resolve(args, &env) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    for (warn, note) in notes {
        if warn {
            tracing::warn!("{note}");
        } else {
            tracing::info!("{note}");
        }
    }
    let mut settings = match Settings::from_pairs(env) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    settings.allow_reset = config.allow_reset;
    let cluster_settings = settings.clone();
    let (engine, what) = match &place {
        Place::Memory => (Engine::ephemeral(settings).map(Some), "memory (ephemeral: nothing is saved)".to_string()),
        Place::Folder(path) => {
            let shown = path.canonicalize().unwrap_or(path.clone()).display().to_string();
            (Engine::open(path, settings).map(Some), format!("data folder {shown}"))
        }
        Place::Postgres { .. } => (Ok(None), String::new()),
    };
    let engine = match engine {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    let (api, what): (Arc<dyn ChromaApi>, String) = match (&engine, &place) {
        (Some(e), _) => (Arc::new(e.clone()), what),
        (None, Place::Postgres { url, cache_path, cache_bytes, log_retention }) => {
            let mut opts = chroma_cluster::ClusterOptions::new(url.clone());
            opts.cache_path.clone_from(cache_path);
            opts.cache_bytes = *cache_bytes;
            if let Some(secs) = *log_retention {
                opts.log_retention = (secs > 0).then(|| std::time::Duration::from_secs(secs));
            }
            opts.settings = cluster_settings;
            match chroma_cluster::Cluster::open(opts) {
                // The URL without its user and password.
                Ok(c) => (Arc::new(c), format!("PostgreSQL storage {}", url.rsplit('@').next().unwrap_or(url))),
                Err(e) => return fail(e),
            }
        }
        (None, _) => return fail("no storage"),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return fail(format!("starting the async runtime: {e}")),
    };
    let (host, port) = (config.host.clone(), config.port);
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await.map_err(|e| {
            format!("cannot listen on {host}:{port}: {e} (is another server using the port? pick one with --port)")
        })?;
        let addr = listener.local_addr().map_or_else(|_| format!("{host}:{port}"), |a| a.to_string());
        eprintln!("chroma-rs {} serving {what}", env!("CARGO_PKG_VERSION"));
        eprintln!("listening on http://{addr} (API /api/v1 and /api/v2, described at /docs); Ctrl-C to stop");
        chroma_server::serve_on(listener, api, config, shutdown_signal())
            .await
            .map_err(|e| format!("server error: {e}"))
    });
    if let Err(e) = engine.as_ref().map_or(Ok(()), Engine::flush) {
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
        Command::Run(args) => run(&args),
        Command::Vacuum { path } => vacuum(&path),
        Command::Migrate(args) => migrate(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["chroma-rs", "run"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Run(a) => a,
            _ => unreachable!(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    fn config_file(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.yaml");
        std::fs::write(&p, text).unwrap();
        (dir, p.display().to_string())
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let (_d, cfg) = config_file(
            "port: 7001\nlisten_address: 10.0.0.1\npersist_path: /file\nmax_payload_size_bytes: 100\nallow_reset: false\n",
        );
        let e = env(&[("CHROMA_PORT", "7002"), ("CHROMA_PERSIST_PATH", "/env"), ("CHROMA_SERVER_HOST", "10.0.0.2")]);
        // file only
        let r = resolve(&args(&[&cfg]), &[]).unwrap();
        assert_eq!((r.config.port, r.config.host.as_str(), r.config.max_body_bytes), (7001, "10.0.0.1", 100));
        assert_eq!(r.place, Place::Folder("/file".into()));
        // env beats file
        let r = resolve(&args(&["--config", &cfg]), &e).unwrap();
        assert_eq!((r.config.port, r.config.host.as_str()), (7002, "10.0.0.2"));
        assert_eq!(r.place, Place::Folder("/env".into()));
        // flags beat env
        let r = resolve(&args(&[&cfg, "--port", "7003", "--path", "/flag", "--host", "10.0.0.3", "--allow-reset"]), &e)
            .unwrap();
        assert_eq!((r.config.port, r.config.host.as_str()), (7003, "10.0.0.3"));
        assert_eq!(r.place, Place::Folder("/flag".into()));
        assert!(r.config.allow_reset);
        // defaults
        let r = resolve(&args(&[]), &[]).unwrap();
        assert_eq!((r.config.port, r.config.host.as_str()), (8000, "127.0.0.1"));
        assert_eq!(r.place, Place::Folder("./chroma_data".into()));
        assert_eq!(r.config.max_body_bytes, chroma_server::DEFAULT_MAX_BODY_BYTES);
        assert!(r.notes.is_empty());
        assert_eq!(resolve(&args(&["--ephemeral", &cfg]), &e).unwrap().place, Place::Memory);
    }

    #[test]
    fn config_file_notes_and_errors() {
        let (_d, cfg) = config_file("port: 7001\nprot: 1\nsqlite_filename: x.sqlite3\n");
        let r = resolve(&args(&[&cfg]), &env(&[("CHROMA_SQLITEDB__URL", "x")])).unwrap();
        let warnings: Vec<&String> = r.notes.iter().filter(|(w, _)| *w).map(|(_, n)| n).collect();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("unknown keys, not used: prot"), "{}", warnings[0]);
        let infos: Vec<&String> = r.notes.iter().filter(|(w, _)| !*w).map(|(_, n)| n).collect();
        assert!(infos.iter().any(|n| n.contains("`sqlite_filename` is ignored")), "{infos:?}");
        assert!(infos.iter().any(|n| n.contains("CHROMA_SQLITEDB__URL is ignored")), "{infos:?}");
        assert!(infos.iter().any(|n| n.contains("listen_address not set")), "{infos:?}");
        let (_d2, bad) = config_file("port: eighty\n");
        let e = resolve(&args(&[&bad]), &[]).err().unwrap();
        assert!(e.contains("`port`") && e.contains("port number") && e.contains("config.yaml"), "{e}");
        let e = resolve(&args(&["/no/such/file.yaml"]), &[]).err().unwrap();
        assert!(e.contains("does not exist"), "{e}");
        let e = resolve(&args(&[]), &env(&[("CHROMA_PORT", "x")])).err().unwrap();
        assert!(e.contains("CHROMA_PORT"), "{e}");
        assert!(Cli::try_parse_from(["chroma-rs", "run", "a.yaml", "--config", "b.yaml"]).is_err());
    }

    #[test]
    fn version_names_the_chroma_api() {
        assert!(VERSION_LINE.starts_with(env!("CARGO_PKG_VERSION")));
        assert!(VERSION_LINE.contains(&format!("Chroma API {}", chroma_server::CHROMA_API_VERSION)));
    }
}
