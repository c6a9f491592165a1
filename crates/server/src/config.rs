//! [`ServerConfig`]: where the server listens and whom it lets in, from Chroma 1.x's config file
//! ([`ConfigFile`]) and Chroma's environment variables (1.x and 0.x names).
//!
//! Precedence, highest first: the caller's flags (applied by `chroma-rs run` after
//! [`ServerConfig::resolve`]), environment variables, the config file, the defaults.

use crate::auth::Auth;
use chroma_types::{Error, Result};
use serde_norway::Value as Yaml;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Default largest request body: 40 MiB, as Chroma 1.x.
pub const DEFAULT_MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// The Chroma release whose HTTP API (v2) chroma-rs follows; v1 answers as 0.4.24 / 0.5.x.
pub const CHROMA_API_VERSION: &str = "1.5.9";

/// How the server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (default 127.0.0.1: `chroma run`'s `localhost`, IPv4).
    pub host: String,
    /// Port (default 8000).
    pub port: u16,
    /// Largest accepted request body in bytes.
    pub max_body_bytes: usize,
    /// Origins allowed by CORS; empty = no CORS headers; `"*"` = any origin.
    pub cors_allow_origins: Vec<String>,
    /// Authentication.
    pub auth: Auth,
    /// Whether `POST .../reset` may wipe the data (the engine's settings must allow it too).
    pub allow_reset: bool,
    /// How long one request may run before the engine stops it and answers a timeout error
    /// (`None`: no limit). Default [`DEFAULT_REQUEST_TIMEOUT`].
    pub request_timeout: Option<std::time::Duration>,
    /// How long a client may take to send a request head, from its first byte, before the
    /// connection is closed (`None`: no limit). Default [`DEFAULT_HEADER_READ_TIMEOUT`].
    pub header_read_timeout: Option<std::time::Duration>,
    /// How long a connection may stay idle (no request in flight, nothing sent either way)
    /// before it is closed (`None`: no limit). Default [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Option<std::time::Duration>,
}

/// Default of [`ServerConfig::header_read_timeout`]: 10 s.
pub const DEFAULT_HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Default of [`ServerConfig::idle_timeout`]: 60 s, longer than the keep-alive expiry of the
/// clients (httpx 5 s, Node's fetch 4 s), so that they close first and never reuse a connection
/// the server is closing.
pub const DEFAULT_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Default of [`ServerConfig::request_timeout`]: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".into(),
            port: 8000,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            cors_allow_origins: Vec::new(),
            auth: Auth::None,
            allow_reset: false,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
            header_read_timeout: Some(DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: Some(DEFAULT_IDLE_TIMEOUT),
        }
    }
}

/// A time limit in seconds (fractions allowed); `0` means no limit.
pub fn parse_timeout(key: &str, v: &str) -> Result<Option<std::time::Duration>> {
    let secs: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s < 1e9)
        .ok_or_else(|| Error::invalid(format!("{key} expects a number of seconds (0 = no limit), got {v:?}")))?;
    Ok((secs > 0.0).then(|| std::time::Duration::from_secs_f64(secs)))
}

fn parse_bool(key: &str, v: &str) -> Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" | "" => Ok(false),
        _ => Err(Error::invalid(format!("{key} expects true or false, got {v:?}"))),
    }
}

/// `["a","b"]` (Chroma's JSON list form) or `a,b`.
pub fn parse_list(v: &str) -> Vec<String> {
    let t = v.trim();
    if t.starts_with('[') {
        if let Ok(items) = serde_json::from_str::<Vec<String>>(t) {
            return items;
        }
    }
    t.trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\''))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_port(key: &str, v: &str) -> Result<u16> {
    v.trim().parse().map_err(|_| Error::invalid(format!("{key} expects a port number (0-65535), got {v:?}")))
}

fn parse_size(key: &str, v: &str) -> Result<usize> {
    v.trim()
        .parse::<usize>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Error::invalid(format!("{key} expects a positive number of bytes, got {v:?}")))
}

// ------------------------------------------------------------------------------------------
// The config file

/// The keys of Chroma 1.5.9's server config file (`chroma run CONFIG.yaml`) that chroma-rs
/// reads.
pub const USED_KEYS: &[&str] =
    &["port", "listen_address", "persist_path", "allow_reset", "cors_allow_origins", "max_payload_size_bytes"];

/// The keys Chroma 1.5.9's server config file knows that chroma-rs does not use, with why.
pub const IGNORED_KEYS: &[(&str, &str)] = &[
    ("sqlite_filename", "chroma-rs keeps its own database file, chroma-rs.sqlite3, in the data folder"),
    (
        "sqlitedb",
        "chroma-rs keeps its own database file in the data folder and always checks and applies its checksummed migrations",
    ),
    ("segment_manager", "chroma-rs loads each collection's index on first use and keeps it in memory"),
    ("sysdb", "chroma-rs is a single node: tenants, databases and collections live in its SQLite file"),
    ("mcmr_sysdb", "a distributed Chroma component; chroma-rs is a single node"),
    ("log", "a distributed Chroma component; chroma-rs commits writes to SQLite directly"),
    ("executor", "a distributed Chroma component; chroma-rs runs queries in-process"),
    ("collections_with_segments_provider", "a distributed Chroma component; chroma-rs is a single node"),
    ("default_knn_index", "chroma-rs always builds HNSW indexes"),
    ("enable_schema", "collection schemas are always on in chroma-rs"),
    ("tenants_to_migrate_immediately", "a Chroma Cloud setting"),
    ("tenants_to_migrate_immediately_threshold", "a Chroma Cloud setting"),
    ("min_records_for_invocation", "attached functions are not served by chroma-rs"),
    ("tenants_with_quantization_enabled", "a Chroma Cloud setting"),
    ("tenants_with_maxscore_enabled", "a Chroma Cloud setting"),
    ("enable_log_scouting", "a distributed Chroma component"),
    ("circuit_breaker", "chroma-rs has no request circuit breaker"),
    ("scorecard_enabled", "chroma-rs has no request scorecard"),
    ("scorecard", "chroma-rs has no request scorecard"),
    ("region", "a Chroma Cloud setting"),
    ("open_telemetry", "chroma-rs sends no telemetry; it logs to stderr (filter with CHROMA_RS_LOG or RUST_LOG)"),
    ("stdout_tracing", "chroma-rs logs to stderr (filter with CHROMA_RS_LOG or RUST_LOG)"),
    ("enable_span_indexing", "chroma-rs sends no telemetry"),
];

/// Chroma 1.x's server config file, as far as chroma-rs uses it. Every field is `None` when the
/// file does not set it (or sets it to `null`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigFile {
    /// `port`.
    pub port: Option<u16>,
    /// `listen_address`.
    pub listen_address: Option<String>,
    /// `persist_path`: the data folder.
    pub persist_path: Option<String>,
    /// `allow_reset`.
    pub allow_reset: Option<bool>,
    /// `cors_allow_origins`.
    pub cors_allow_origins: Option<Vec<String>>,
    /// `max_payload_size_bytes`.
    pub max_payload_size_bytes: Option<usize>,
    /// Keys Chroma 1.5.9 does not know either (typos, or another program's keys).
    pub unknown_keys: Vec<String>,
    /// Keys of Chroma 1.5.9's config that chroma-rs does not use, with why.
    pub ignored_keys: Vec<(String, &'static str)>,
}

fn yaml_str(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        Yaml::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn shown(v: &Yaml) -> String {
    serde_norway::to_string(v).map_or_else(|_| format!("{v:?}"), |s| s.trim().to_string())
}

impl ConfigFile {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("Cannot read the config file {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| Error::invalid(format!("Config file {}: {}", path.display(), e.message)))
    }

    /// Parses a config file's text. A value of the wrong type is an error naming the key and
    /// what it expects; unknown and ignored keys are listed in the result.
    pub fn parse(text: &str) -> Result<ConfigFile> {
        let doc: Yaml = serde_norway::from_str(text).map_err(|e| Error::invalid(format!("not valid YAML: {e}")))?;
        let map = match doc {
            Yaml::Null => return Ok(ConfigFile::default()),
            Yaml::Mapping(m) => m,
            other => {
                return Err(Error::invalid(format!("expected a mapping of keys to values, got {}", shown(&other))))
            }
        };
        let mut c = ConfigFile::default();
        for (k, v) in map {
            let Some(key) = k.as_str().map(str::to_string) else {
                c.unknown_keys.push(shown(&k));
                continue;
            };
            if v.is_null() {
                continue;
            }
            let bad = |expected: &str| Error::invalid(format!("key `{key}` expects {expected}, got {}", shown(&v)));
            match key.as_str() {
                "port" => {
                    let p = v.as_u64().or_else(|| yaml_str(&v).and_then(|s| s.trim().parse().ok()));
                    c.port = Some(p.and_then(|p| u16::try_from(p).ok()).ok_or_else(|| bad("a port number (0-65535)"))?);
                }
                "listen_address" => {
                    let s = yaml_str(&v).filter(|s| !s.trim().is_empty());
                    c.listen_address = Some(s.ok_or_else(|| bad("an address to listen on, e.g. \"0.0.0.0\""))?);
                }
                "persist_path" => {
                    let s = yaml_str(&v).filter(|s| !s.trim().is_empty());
                    c.persist_path = Some(s.ok_or_else(|| bad("the path of the data folder"))?);
                }
                "allow_reset" => {
                    let b = v.as_bool().or_else(|| v.as_str().and_then(|s| parse_bool(&key, s).ok()));
                    c.allow_reset = Some(b.ok_or_else(|| bad("true or false"))?);
                }
                "cors_allow_origins" => {
                    let list = match &v {
                        Yaml::Sequence(items) => items.iter().map(yaml_str).collect::<Option<Vec<_>>>(),
                        Yaml::String(s) => Some(parse_list(s)),
                        _ => None,
                    };
                    c.cors_allow_origins = Some(list.ok_or_else(|| bad("a list of origins, e.g. [\"*\"]"))?);
                }
                "max_payload_size_bytes" => {
                    let n = v.as_u64().or_else(|| yaml_str(&v).and_then(|s| s.trim().parse().ok()));
                    let n = n.and_then(|n| usize::try_from(n).ok()).filter(|n| *n > 0);
                    c.max_payload_size_bytes = Some(n.ok_or_else(|| bad("a positive number of bytes"))?);
                }
                _ => match IGNORED_KEYS.iter().find(|(k, _)| *k == key) {
                    Some((_, why)) => c.ignored_keys.push((key, why)),
                    None => c.unknown_keys.push(key),
                },
            }
        }
        Ok(c)
    }
}

// ------------------------------------------------------------------------------------------
// Environment and precedence

/// Environment variables, by lower-cased name (Chroma's names are case-insensitive).
struct Env(HashMap<String, (String, String)>);

impl Env {
    fn new(pairs: impl IntoIterator<Item = (String, String)>) -> Env {
        Env(pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), (k, v))).collect())
    }

    /// The first of `names` that is set and not blank, as (name as set, value).
    fn get(&self, names: &[&str]) -> Option<(&str, &str)> {
        names
            .iter()
            .find_map(|n| self.0.get(*n).filter(|(_, v)| !v.trim().is_empty()).map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// Like [`Env::get`], blank values included (an empty `CHROMA_SERVER_CORS_ALLOW_ORIGINS`
    /// turns CORS off).
    fn get_any(&self, names: &[&str]) -> Option<(&str, &str)> {
        names.iter().find_map(|n| self.0.get(*n).map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// The data folder from the environment (`CHROMA_PERSIST_PATH`, 1.x; `PERSIST_DIRECTORY`, 0.x)
/// or else the config file's `persist_path`; `None` when neither sets it.
pub fn persist_path(file: Option<&ConfigFile>, pairs: impl IntoIterator<Item = (String, String)>) -> Option<PathBuf> {
    let env = Env::new(pairs);
    env.get(&["chroma_persist_path", "persist_directory"])
        .map(|(_, v)| PathBuf::from(v.trim()))
        .or_else(|| file.and_then(|f| f.persist_path.as_deref()).map(PathBuf::from))
}

/// `CHROMA_<KEY>` variables (Chroma 1.x's names for its config keys, `__` for a nested key) that
/// name a key chroma-rs ignores, with why.
pub fn ignored_env(pairs: impl IntoIterator<Item = (String, String)>) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = pairs
        .into_iter()
        .filter_map(|(k, _)| {
            let lk = k.to_ascii_lowercase();
            let key = lk.strip_prefix("chroma_")?.split("__").next()?.to_string();
            IGNORED_KEYS.iter().find(|(name, _)| *name == key).map(|(_, why)| (k, *why))
        })
        .collect();
    out.sort();
    out
}

impl ServerConfig {
    /// Reads the environment variables Chroma users know (see [`ServerConfig::resolve`]).
    pub fn from_env() -> Result<ServerConfig> {
        Self::resolve(None, std::env::vars())
    }

    /// Same as [`ServerConfig::from_env`] from explicit pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<ServerConfig> {
        Self::resolve(None, pairs)
    }

    /// The defaults, overridden by the config `file`, overridden by the environment `pairs`.
    /// Variables (case-insensitive; where two names mean the same, the first set wins):
    ///
    /// * `CHROMA_LISTEN_ADDRESS` (1.x), `CHROMA_SERVER_HOST` (0.x);
    /// * `CHROMA_PORT`, `CHROMA_SERVER_HTTP_PORT`;
    /// * `CHROMA_ALLOW_RESET`, `ALLOW_RESET`;
    /// * `CHROMA_CORS_ALLOW_ORIGINS`, `CHROMA_SERVER_CORS_ALLOW_ORIGINS` (JSON list or comma list);
    /// * `CHROMA_MAX_PAYLOAD_SIZE_BYTES`, `CHROMA_SERVER_MAX_PAYLOAD_SIZE_BYTES`, `MAX_PAYLOAD_SIZE_BYTES`;
    /// * `CHROMA_RS_REQUEST_TIMEOUT`, `CHROMA_RS_HEADER_READ_TIMEOUT`, `CHROMA_RS_IDLE_TIMEOUT`
    ///   (seconds, 0 = no limit);
    /// * `CHROMA_SERVER_AUTHN_PROVIDER` (or 0.4.x `CHROMA_SERVER_AUTH_PROVIDER`),
    ///   `CHROMA_SERVER_AUTHN_CREDENTIALS[_FILE]` (or `CHROMA_SERVER_AUTH_CREDENTIALS[_FILE]`),
    ///   `CHROMA_AUTH_TOKEN_TRANSPORT_HEADER` (or `CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER`).
    pub fn resolve(
        file: Option<&ConfigFile>,
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ServerConfig> {
        let mut c = ServerConfig::default();
        if let Some(f) = file {
            if let Some(h) = &f.listen_address {
                c.host.clone_from(h);
            }
            if let Some(p) = f.port {
                c.port = p;
            }
            if let Some(b) = f.allow_reset {
                c.allow_reset = b;
            }
            if let Some(o) = &f.cors_allow_origins {
                c.cors_allow_origins.clone_from(o);
            }
            if let Some(n) = f.max_payload_size_bytes {
                c.max_body_bytes = n;
            }
        }
        let env = Env::new(pairs);
        if let Some((_, h)) = env.get(&["chroma_listen_address", "chroma_server_host"]) {
            c.host = h.trim().to_string();
        }
        if let Some((k, p)) = env.get(&["chroma_port", "chroma_server_http_port"]) {
            c.port = parse_port(k, p)?;
        }
        if let Some((k, v)) = env.get_any(&["chroma_allow_reset", "allow_reset"]) {
            c.allow_reset = parse_bool(k, v)?;
        }
        if let Some((k, v)) = env.get(&["chroma_rs_request_timeout"]) {
            c.request_timeout = parse_timeout(k, v)?;
        }
        if let Some((k, v)) = env.get(&["chroma_rs_header_read_timeout"]) {
            c.header_read_timeout = parse_timeout(k, v)?;
        }
        if let Some((k, v)) = env.get(&["chroma_rs_idle_timeout"]) {
            c.idle_timeout = parse_timeout(k, v)?;
        }
        if let Some((_, v)) = env.get_any(&["chroma_cors_allow_origins", "chroma_server_cors_allow_origins"]) {
            c.cors_allow_origins = parse_list(v);
        }
        if let Some((k, v)) = env.get(&[
            "chroma_max_payload_size_bytes",
            "chroma_server_max_payload_size_bytes",
            "max_payload_size_bytes",
        ]) {
            c.max_body_bytes = parse_size(k, v)?;
        }
        let val = |names: &[&str]| env.get_any(names).map(|(_, v)| v);
        c.auth = Auth::from_settings(
            val(&["chroma_server_authn_provider", "chroma_server_auth_provider"]),
            val(&["chroma_server_authn_credentials", "chroma_server_auth_credentials"]),
            val(&["chroma_server_authn_credentials_file", "chroma_server_auth_credentials_file"]),
            val(&["chroma_auth_token_transport_header", "chroma_server_auth_token_transport_header"]),
        )?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenHeader;

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn config_from_pairs() {
        let c = ServerConfig::from_pairs([
            p("CHROMA_SERVER_HTTP_PORT", "9000"),
            p("ALLOW_RESET", "TRUE"),
            p("CHROMA_SERVER_CORS_ALLOW_ORIGINS", "[\"http://a\", \"http://b\"]"),
            p("CHROMA_SERVER_AUTH_PROVIDER", "chromadb.auth.token.TokenAuthServerProvider"),
            p("CHROMA_SERVER_AUTH_CREDENTIALS", "tok"),
            p("CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER", "X_CHROMA_TOKEN"),
        ])
        .unwrap();
        assert_eq!(c.port, 9000);
        assert!(c.allow_reset);
        assert_eq!(c.cors_allow_origins, vec!["http://a", "http://b"]);
        assert_eq!(c.auth, Auth::Token { tokens: vec!["tok".into()], header: TokenHeader::XChromaToken });
        assert!(ServerConfig::from_pairs([p("CHROMA_SERVER_HTTP_PORT", "x")]).is_err());
        assert!(ServerConfig::from_pairs([p("CHROMA_SERVER_AUTHN_PROVIDER", "weird")]).is_err());
        assert_eq!(ServerConfig::from_pairs([]).unwrap().auth, Auth::None);
        let c = ServerConfig::from_pairs([p("CHROMA_RS_HEADER_READ_TIMEOUT", "2.5"), p("CHROMA_RS_IDLE_TIMEOUT", "0")])
            .unwrap();
        assert_eq!(c.header_read_timeout, Some(std::time::Duration::from_millis(2500)));
        assert_eq!(c.idle_timeout, None);
        let d = ServerConfig::from_pairs([]).unwrap();
        assert_eq!(
            (d.header_read_timeout, d.idle_timeout),
            (Some(DEFAULT_HEADER_READ_TIMEOUT), Some(DEFAULT_IDLE_TIMEOUT))
        );
        let e = ServerConfig::from_pairs([p("CHROMA_RS_IDLE_TIMEOUT", "soon")]).unwrap_err();
        assert!(e.message.contains("CHROMA_RS_IDLE_TIMEOUT"), "{}", e.message);
    }

    const GOOD: &str = "\
# Chroma 1.5.9's single_node_full.yaml, trimmed
open_telemetry:
  service_name: \"chroma\"
  endpoint: \"http://otel-collector:4317\"
port: 8123
listen_address: \"0.0.0.0\"
max_payload_size_bytes: 1048576
cors_allow_origins: [\"*\"]
persist_path: \"./data\"
allow_reset: true
sqlitedb:
  hash_type: \"md5\"
  migration_mode: \"apply\"
";

    #[test]
    fn good_file() {
        let f = ConfigFile::parse(GOOD).unwrap();
        assert_eq!(f.port, Some(8123));
        assert_eq!(f.listen_address.as_deref(), Some("0.0.0.0"));
        assert_eq!(f.max_payload_size_bytes, Some(1_048_576));
        assert_eq!(f.cors_allow_origins, Some(vec!["*".to_string()]));
        assert_eq!(f.persist_path.as_deref(), Some("./data"));
        assert_eq!(f.allow_reset, Some(true));
        assert!(f.unknown_keys.is_empty());
        let ignored: Vec<&str> = f.ignored_keys.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(ignored, ["open_telemetry", "sqlitedb"]);
        let c = ServerConfig::resolve(Some(&f), []).unwrap();
        assert_eq!((c.host.as_str(), c.port, c.max_body_bytes, c.allow_reset), ("0.0.0.0", 8123, 1_048_576, true));
        assert_eq!(ConfigFile::parse("").unwrap(), ConfigFile::default());
        assert_eq!(ConfigFile::parse("port: ~\n").unwrap(), ConfigFile::default());
    }

    #[test]
    fn unknown_keys_are_listed() {
        let f = ConfigFile::parse("port: 8001\nprot: 9000\nlisten_adress: x\n").unwrap();
        assert_eq!(f.unknown_keys, ["prot", "listen_adress"]);
        assert_eq!(f.port, Some(8001));
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key, expected) in [
            ("port: abc", "`port`", "port number"),
            ("port: 70000", "`port`", "port number"),
            ("allow_reset: maybe", "`allow_reset`", "true or false"),
            ("max_payload_size_bytes: -1", "`max_payload_size_bytes`", "positive number of bytes"),
            ("cors_allow_origins: {a: 1}", "`cors_allow_origins`", "list of origins"),
            ("listen_address: [1, 2]", "`listen_address`", "address"),
        ] {
            let e = ConfigFile::parse(text).unwrap_err();
            assert!(e.message.contains(key) && e.message.contains(expected), "{text}: {}", e.message);
        }
        assert!(ConfigFile::parse("- a\n- b\n").unwrap_err().message.contains("mapping"));
        assert!(ConfigFile::parse("port: [").unwrap_err().message.contains("YAML"));
    }

    #[test]
    fn env_beats_file_and_new_names_beat_old() {
        let f = ConfigFile::parse(GOOD).unwrap();
        let c = ServerConfig::resolve(
            Some(&f),
            [
                p("CHROMA_PORT", "9001"),
                p("CHROMA_SERVER_HTTP_PORT", "9002"),
                p("CHROMA_SERVER_HOST", "127.0.0.2"),
                p("ALLOW_RESET", "false"),
                p("CHROMA_CORS_ALLOW_ORIGINS", "[\"http://x\"]"),
                p("CHROMA_MAX_PAYLOAD_SIZE_BYTES", "2048"),
            ],
        )
        .unwrap();
        assert_eq!(c.port, 9001);
        assert_eq!(c.host, "127.0.0.2");
        assert!(!c.allow_reset);
        assert_eq!(c.cors_allow_origins, ["http://x"]);
        assert_eq!(c.max_body_bytes, 2048);
        let e = ServerConfig::resolve(Some(&f), [p("chroma_port", "x")]).unwrap_err();
        assert!(e.message.contains("chroma_port"), "{}", e.message);
        assert_eq!(persist_path(Some(&f), []), Some(PathBuf::from("./data")));
        assert_eq!(persist_path(Some(&f), [p("PERSIST_DIRECTORY", "/d")]), Some(PathBuf::from("/d")));
        assert_eq!(
            persist_path(None, [p("CHROMA_PERSIST_PATH", "/e"), p("PERSIST_DIRECTORY", "/d")]),
            Some("/e".into())
        );
        let ig = ignored_env([p("CHROMA_SQLITEDB__URL", "x"), p("CHROMA_PORT", "1"), p("CHROMA_SERVER_HOST", "h")]);
        assert_eq!(ig.len(), 1);
        assert_eq!(ig[0].0, "CHROMA_SQLITEDB__URL");
    }
}
