//! `--from` and `--to`: what they name (a folder, `ClickHouse`, a server) and opening them.

use std::path::{Path, PathBuf};

use chroma_legacy::{LegacySource, SourceKind};
use chroma_store::folder::{self, FolderKind};
use chroma_store::Engine;
use chroma_types::{ChromaApi, Settings};

use super::destination::Destination;
use crate::api_source::ApiSource;
use crate::server_source::ServerSource;
use crate::{MigrateArgs, MigrateError};

/// What `--from` or `--to` names.
pub(super) enum Endpoint {
    Folder(PathBuf),
    ClickHouse {
        host: String,
        port: u16,
        database: String,
    },
    Http(String),
    /// chroma-rs's PostgreSQL storage (`postgres://…`, as `chroma-rs run --storage` takes it).
    Postgres(String),
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`, for reports and messages.
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((auth, host)) = rest.rsplit_once('@') else { return url.to_string() };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// `clickhouse://host[:port][/database]` (port 8123 and database `default` when omitted).
fn parse_clickhouse(s: &str, rest: &str) -> Result<Endpoint, MigrateError> {
    let (hostport, db) = match rest.split_once('/') {
        Some((h, d)) if !d.trim_matches('/').is_empty() => (h, d.trim_matches('/').to_string()),
        Some((h, _)) => (h, "default".to_string()),
        None => (rest, "default".to_string()),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h.trim_matches(|c| c == '[' || c == ']').to_string(), p),
            Err(_) => return Err(MigrateError::Usage(format!("bad port in {s:?}"))),
        },
        _ => (hostport.to_string(), 8123),
    };
    if host.is_empty() {
        return Err(MigrateError::Usage(format!("no host in {s:?}")));
    }
    Ok(Endpoint::ClickHouse { host, port, database: db })
}

pub(super) fn parse_endpoint(s: &str) -> Result<Endpoint, MigrateError> {
    if let Some(rest) = s.strip_prefix("clickhouse://") {
        return parse_clickhouse(s, rest);
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Ok(Endpoint::Http(s.to_string()));
    }
    if s.starts_with("postgres://") || s.starts_with("postgresql://") {
        return Ok(Endpoint::Postgres(s.to_string()));
    }
    if s.contains("://") {
        return Err(MigrateError::Usage(format!(
            "{:?}: unknown scheme (use a folder path, clickhouse://host:8123, http://host:8000 or \
             postgres://USER@HOST:PORT/DB)",
            redact_url(s)
        )));
    }
    Ok(Endpoint::Folder(PathBuf::from(s)))
}

/// Refuses `--from` and `--to` naming the same folder or the same PostgreSQL database, and a
/// chroma-rs folder copied into another folder (a chroma-rs folder is a source only for other
/// kinds of store: PostgreSQL, a server).
pub(super) fn check_not_same_folder(src: &Endpoint, dst: &Endpoint) -> Result<(), MigrateError> {
    if let (Endpoint::Postgres(a), Endpoint::Postgres(b)) = (src, dst) {
        if a.trim_end_matches('/') == b.trim_end_matches('/') {
            return Err(MigrateError::Usage("--from and --to are the same PostgreSQL database".into()));
        }
    }
    if let (Endpoint::Folder(a), Endpoint::Folder(_)) = (src, dst) {
        if a.exists() && folder::detect(a).map_err(MigrateError::Destination)? == FolderKind::ChromaRs {
            return Err(MigrateError::Usage(format!(
                "source {} is already a chroma-rs folder: nothing to migrate (a chroma-rs folder is a source \
                 only for postgres:// or server destinations)",
                a.display()
            )));
        }
    }
    if let (Endpoint::Folder(a), Endpoint::Folder(b)) = (src, dst) {
        let same = match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        };
        if same {
            return Err(MigrateError::Usage(
                "--from and --to are the same folder; choose a new folder for --to".into(),
            ));
        }
    }
    Ok(())
}

/// `--header K:V` and `--token T` as HTTP headers.
pub(super) fn headers(args: &MigrateArgs) -> Result<Vec<(String, String)>, MigrateError> {
    let mut out = Vec::new();
    for h in &args.headers {
        let Some((k, v)) = h.split_once(':') else {
            return Err(MigrateError::Usage(format!("--header {h:?}: expected Name:Value")));
        };
        if k.trim().is_empty() {
            return Err(MigrateError::Usage(format!("--header {h:?}: empty name")));
        }
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(t) = &args.token {
        out.push(("Authorization".into(), format!("Bearer {t}")));
    }
    Ok(out)
}

fn open_source_folder(p: &Path) -> Result<(Box<dyn LegacySource>, String), MigrateError> {
    if !p.exists() {
        return Err(MigrateError::Usage(format!("source {} does not exist", p.display())));
    }
    if folder::detect(p).map_err(MigrateError::Destination)? == FolderKind::ChromaRs {
        // Read through the engine, as any other chroma-rs store (into PostgreSQL or a server;
        // `check_not_same_folder` refused a folder destination).
        let label = p.display().to_string();
        let e = Engine::open(p, Settings::default()).map_err(source_err(format!("opening {label}")))?;
        e.set_background_indexing(false);
        return Ok((Box::new(ApiSource::new(Box::new(e), label)), "chroma-rs folder".to_string()));
    }
    match chroma_legacy::detect_folder(p)? {
        Some(SourceKind::Parquet03) => {
            Ok((Box::new(chroma_legacy::open_parquet03(p)?), SourceKind::Parquet03.to_string()))
        }
        Some(SourceKind::Chroma04Plus) => {
            Ok((Box::new(chroma_legacy::open_chroma04(p)?), SourceKind::Chroma04Plus.to_string()))
        }
        _ => Err(MigrateError::Usage(format!(
            "source {} holds no Chroma data (no chroma.sqlite3, no chroma-*.parquet, no index/)",
            p.display()
        ))),
    }
}

/// Opens the source; also returns its kind in words, for the report.
pub(super) fn open_source(ep: &Endpoint, args: &MigrateArgs) -> Result<(Box<dyn LegacySource>, String), MigrateError> {
    match ep {
        Endpoint::Folder(p) => open_source_folder(p),
        Endpoint::ClickHouse { host, port, database } => {
            let mut cfg = chroma_legacy::ClickHouseConfig::new(host.clone(), *port)
                .with_credentials(args.ch_user.clone(), args.ch_password.clone());
            cfg.database.clone_from(database);
            Ok((Box::new(chroma_legacy::open_clickhouse03(cfg)?), SourceKind::ClickHouse03.to_string()))
        }
        Endpoint::Http(url) => {
            let s = ServerSource::connect(url, headers(args)?)?;
            let kind = format!(
                "Chroma server, API {} (version {})",
                if s.api == chroma_client::ApiLine::V2 { "v2" } else { "v1" },
                if s.version.is_empty() { "unknown" } else { &s.version }
            );
            Ok((Box::new(s), kind))
        }
        Endpoint::Postgres(url) => {
            let label = redact_url(url);
            let api = open_postgres(url).map_err(source_err(format!("opening {label}")))?;
            Ok((Box::new(ApiSource::new(Box::new(api), label)), "chroma-rs PostgreSQL storage".to_string()))
        }
    }
}

/// chroma-rs's PostgreSQL storage, opened as one node without a server: its schema is applied
/// if missing (as `run --storage` does), no LISTEN connection, and the derived cache holds one
/// collection at a time (the others are evicted as soon as the next one is used).
pub(super) fn open_postgres(url: &str) -> chroma_types::Result<chroma_cluster::Cluster> {
    let mut opts = chroma_cluster::ClusterOptions::new(url);
    opts.listen = false;
    opts.cache_bytes = Some(1);
    opts.pool_size = 4;
    chroma_cluster::Cluster::open(opts)
}

fn source_err(context: String) -> impl FnOnce(chroma_types::Error) -> MigrateError {
    move |source| MigrateError::Source(chroma_legacy::LegacyError::Api { context, source })
}

/// A destination folder must be new, empty or a chroma-rs folder.
pub(super) fn check_dest_folder(p: &Path) -> Result<FolderKind, MigrateError> {
    let kind = folder::detect(p).map_err(MigrateError::Destination)?;
    match kind {
        FolderKind::Empty | FolderKind::ChromaRs => Ok(kind),
        FolderKind::Chroma03Parquet | FolderKind::Chroma04Plus => Err(MigrateError::Usage(format!(
            "destination {} holds legacy Chroma data; choose a new (or empty) folder for chroma-rs",
            p.display()
        ))),
        FolderKind::Other => Err(MigrateError::Usage(format!(
            "destination {} is not empty and not a chroma-rs folder; choose a new (or empty) folder",
            p.display()
        ))),
    }
}

pub(super) fn clickhouse_is_a_source_only() -> MigrateError {
    MigrateError::Usage("ClickHouse is a source only; migrate to a folder or a Chroma server".into())
}

fn open_http_destination(url: &str, args: &MigrateArgs) -> Result<(Destination, String), MigrateError> {
    let mut opts = chroma_client::HttpOptions::new(url.to_string());
    for (k, v) in headers(&MigrateArgs { token: None, ..args.clone() })? {
        opts = opts.header(k, v);
    }
    if let Some(t) = &args.token {
        opts = opts.token(t.clone());
    }
    let api = chroma_client::HttpApi::new(opts).map_err(MigrateError::Destination)?;
    api.heartbeat().map_err(MigrateError::destination(&format!("connecting to {url}")))?;
    let version = api.version().unwrap_or_default();
    let line = match api.api_line() {
        Ok(chroma_client::ApiLine::V1) => "v1",
        _ => "v2",
    };
    Ok((
        Destination::Api { api: Box::new(api), label: url.to_string(), keeps_ids: false },
        format!("Chroma server, API {line} (version {version})"),
    ))
}

/// Opens (creates) the destination; also returns its kind in words, for the report.
pub(super) fn open_destination(ep: &Endpoint, args: &MigrateArgs) -> Result<(Destination, String), MigrateError> {
    match ep {
        Endpoint::Folder(p) => {
            let kind = check_dest_folder(p)?;
            let e = Engine::open(p, Settings::default()).map_err(MigrateError::Destination)?;
            // The graph is linked by the folder's next user (or now, with --build-index).
            e.set_background_indexing(false);
            let what = if kind == FolderKind::Empty { "new chroma-rs folder" } else { "chroma-rs folder" };
            Ok((Destination::Folder(e), what.to_string()))
        }
        Endpoint::ClickHouse { .. } => Err(clickhouse_is_a_source_only()),
        Endpoint::Http(url) => open_http_destination(url, args),
        Endpoint::Postgres(url) => {
            let api = open_postgres(url).map_err(MigrateError::destination(&format!("opening {}", redact_url(url))))?;
            // Collection ids are kept, as on a folder: a node over this database serves the
            // same ids the source had.
            let d = Destination::Api { api: Box::new(api), label: redact_url(url), keeps_ids: true };
            Ok((d, "chroma-rs PostgreSQL storage".to_string()))
        }
    }
}
