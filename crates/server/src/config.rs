//! [`ServerConfig`]: where the server listens and whom it lets in, from Chroma's environment
//! variables.

use crate::auth::Auth;
use chroma_types::{Error, Result};

/// Default largest request body: 40 MiB, as Chroma 1.x.
pub const DEFAULT_MAX_BODY_BYTES: usize = 40 * 1024 * 1024;

/// How the server listens and whom it lets in.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to bind (Chroma's `chroma run` default: localhost).
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
}

/// Default of [`ServerConfig::request_timeout`]: 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "localhost".into(),
            port: 8000,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            cors_allow_origins: Vec::new(),
            auth: Auth::None,
            allow_reset: false,
            request_timeout: Some(DEFAULT_REQUEST_TIMEOUT),
        }
    }
}

/// A request time limit in seconds (fractions allowed); `0` means no limit.
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
fn parse_list(v: &str) -> Vec<String> {
    let t = v.trim();
    if t.starts_with('[') {
        if let Ok(items) = serde_json::from_str::<Vec<String>>(t) {
            return items;
        }
    }
    t.split(',')
        .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\''))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl ServerConfig {
    /// Reads the environment variables Chroma users know:
    /// `CHROMA_SERVER_HOST`, `CHROMA_SERVER_HTTP_PORT`, `ALLOW_RESET`,
    /// `CHROMA_SERVER_CORS_ALLOW_ORIGINS` (JSON list or comma list),
    /// `CHROMA_SERVER_MAX_PAYLOAD_SIZE_BYTES` / `MAX_PAYLOAD_SIZE_BYTES`,
    /// `CHROMA_SERVER_AUTHN_PROVIDER` (or 0.4.x `CHROMA_SERVER_AUTH_PROVIDER`),
    /// `CHROMA_SERVER_AUTHN_CREDENTIALS[_FILE]` (or `CHROMA_SERVER_AUTH_CREDENTIALS[_FILE]`),
    /// `CHROMA_AUTH_TOKEN_TRANSPORT_HEADER` (or `CHROMA_SERVER_AUTH_TOKEN_TRANSPORT_HEADER`).
    /// Names are case-insensitive, as with Chroma's settings.
    pub fn from_env() -> Result<ServerConfig> {
        Self::from_pairs(std::env::vars())
    }

    /// Same as [`ServerConfig::from_env`] from explicit pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Result<ServerConfig> {
        let vars: std::collections::HashMap<String, String> =
            pairs.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).collect();
        let get = |names: &[&str]| names.iter().find_map(|n| vars.get(*n).map(String::as_str));
        let mut c = ServerConfig::default();
        if let Some(h) = get(&["chroma_server_host"]).filter(|h| !h.trim().is_empty()) {
            c.host = h.trim().to_string();
        }
        if let Some(p) = get(&["chroma_server_http_port"]).filter(|p| !p.trim().is_empty()) {
            c.port = p
                .trim()
                .parse()
                .map_err(|_| Error::invalid(format!("CHROMA_SERVER_HTTP_PORT expects a port number, got {p:?}")))?;
        }
        if let Some(v) = get(&["allow_reset"]) {
            c.allow_reset = parse_bool("ALLOW_RESET", v)?;
        }
        if let Some(v) = get(&["chroma_rs_request_timeout"]).filter(|v| !v.trim().is_empty()) {
            c.request_timeout = parse_timeout("CHROMA_RS_REQUEST_TIMEOUT", v)?;
        }
        if let Some(v) = get(&["chroma_server_cors_allow_origins"]) {
            c.cors_allow_origins = parse_list(v);
        }
        if let Some(v) =
            get(&["chroma_server_max_payload_size_bytes", "max_payload_size_bytes"]).filter(|v| !v.trim().is_empty())
        {
            c.max_body_bytes = v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid(format!("max payload size expects a positive integer, got {v:?}")))?;
        }
        c.auth = Auth::from_settings(
            get(&["chroma_server_authn_provider", "chroma_server_auth_provider"]),
            get(&["chroma_server_authn_credentials", "chroma_server_auth_credentials"]),
            get(&["chroma_server_authn_credentials_file", "chroma_server_auth_credentials_file"]),
            get(&["chroma_auth_token_transport_header", "chroma_server_auth_token_transport_header"]),
        )?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenHeader;

    #[test]
    fn config_from_pairs() {
        let p = |k: &str, v: &str| (k.to_string(), v.to_string());
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
    }
}
