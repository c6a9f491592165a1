//! [`HttpApi`]: [`ChromaApi`] over Chroma's HTTP API, so the same [`crate::Client`] talks to a
//! chroma-rs server or to a Chroma server: API v2 (Chroma 0.5.16+ / 1.x, chroma-rs), or API v1
//! (Chroma 0.4.x / 0.5.x) when the server has no v2. The line is chosen on the first call by
//! probing `/api/v2/heartbeat`, then `/api/v1/heartbeat`.
//!
//! On v1 the tenant and database go in the query string and record routes need only the
//! collection id; v1 has no route to list tenants or databases, to delete them, or to get a
//! collection by id (found by listing the collections of the scopes this client has seen).
//!
//! This module holds the transport (URLs, headers, status mapping, the probe and caches);
//! [`options`] holds [`HttpOptions`], and the `api` module the [`ChromaApi`] calls.

mod api;
pub mod options;

pub use chroma_wire::ApiLine;
pub use options::{HttpOptions, TokenTransport};

use base64::Engine as _;
use chroma_types::{ChromaApi, Collection, Error, ErrorKind, Result};
use chroma_wire::encode_path_segment as pct;
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// The Chroma HTTP API (v2, or v1 for older servers) as a [`ChromaApi`].
pub struct HttpApi {
    agent: ureq::Agent,
    /// Server root, without `/api/vN`.
    root: String,
    line: OnceLock<ApiLine>,
    headers: Vec<(String, String)>,
    /// `(max_batch_size, supports_base64_encoding)` from pre-flight-checks.
    preflight: OnceLock<(usize, bool)>,
    /// Collection id → (tenant, database): v2 record routes need both.
    scopes: Mutex<HashMap<Uuid, (String, String)>>,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpApi({})", self.root)
    }
}

fn json_body<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal_from("Cannot encode request", e))
}

/// The headers every request carries: the extra ones, then the credentials.
fn request_headers(opts: HttpOptions) -> Result<Vec<(String, String)>> {
    let mut headers = opts.headers;
    if let Some(tok) = &opts.token {
        match opts.token_transport {
            TokenTransport::Bearer => headers.push(("Authorization".into(), format!("Bearer {tok}"))),
            TokenTransport::XChromaToken => headers.push(("X-Chroma-Token".into(), tok.clone())),
        }
    }
    if let Some((u, p)) = &opts.basic_auth {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
        headers.push(("Authorization".into(), format!("Basic {b}")));
    }
    for (k, v) in &headers {
        if k.is_empty()
            || k.bytes().any(|b| b.is_ascii_control() || b == b':' || b == b' ')
            || v.bytes().any(|b| b == b'\n' || b == b'\r')
        {
            return Err(Error::invalid(format!("Invalid HTTP header {k:?}")));
        }
    }
    Ok(headers)
}

/// The server root from a user's URL: scheme checked (`http://` added when missing), trailing
/// slash and `/api/vN` removed.
fn server_root(url: &str) -> Result<String> {
    let mut url = url.trim().trim_end_matches('/').to_string();
    if url.is_empty() {
        return Err(Error::invalid("The server URL is empty"));
    }
    if !url.contains("://") {
        url = format!("http://{url}");
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::invalid(format!("Unsupported URL scheme in {url:?}: use http:// or https://")));
    }
    if url.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(Error::invalid("https:// URLs need chroma-client's `tls` feature"));
    }
    for suffix in ["/api/v2", "/api/v1"] {
        if let Some(s) = url.strip_suffix(suffix) {
            url = s.to_string();
        }
    }
    Ok(url)
}

impl HttpApi {
    /// Connects lazily: nothing is sent until the first call.
    pub fn new(opts: HttpOptions) -> Result<HttpApi> {
        let root = server_root(&opts.url)?;
        let timeout = opts.timeout.unwrap_or(Duration::from_secs(120));
        let headers = request_headers(opts)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent(format!("chroma-rs client {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpApi {
            agent: ureq::Agent::new_with_config(config),
            root,
            line: OnceLock::new(),
            headers,
            preflight: OnceLock::new(),
            scopes: Mutex::new(HashMap::new()),
        })
    }

    /// The API line of the server (probed once: v2 heartbeat, else v1 heartbeat).
    pub fn api_line(&self) -> Result<ApiLine> {
        if let Some(l) = self.line.get() {
            return Ok(*l);
        }
        let v2 = self.send_to(&format!("{}/api/v2/heartbeat", self.root), "GET", None);
        let line = match v2 {
            Ok(_) => ApiLine::V2,
            Err(e) if e.kind == ErrorKind::Unavailable => return Err(e),
            Err(e) => match self.send_to(&format!("{}/api/v1/heartbeat", self.root), "GET", None) {
                Ok(_) => ApiLine::V1,
                Err(_) => return Err(e),
            },
        };
        Ok(*self.line.get_or_init(|| line))
    }

    fn v1(&self) -> Result<bool> {
        Ok(self.api_line()? == ApiLine::V1)
    }

    fn send(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let v = if self.v1()? { "v1" } else { "v2" };
        self.send_to(&format!("{}/api/{v}{path}", self.root), method, body)
    }

    fn with_headers<B>(&self, mut r: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        for (k, v) in &self.headers {
            r = r.header(k.as_str(), v.as_str());
        }
        r
    }

    fn send_to(&self, url: &str, method: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let transport = |e: ureq::Error| {
            Error::unavailable(format!("Could not reach the Chroma server at {url}: {e}")).with_source(e)
        };
        let mut resp = match method {
            "GET" => self.with_headers(self.agent.get(url)).call().map_err(transport)?,
            "DELETE" => self.with_headers(self.agent.delete(url)).call().map_err(transport)?,
            m => {
                let r = match m {
                    "PUT" => self.agent.put(url),
                    "PATCH" => self.agent.patch(url),
                    _ => self.agent.post(url),
                };
                self.with_headers(r)
                    .header("Content-Type", "application/json")
                    .send(body.unwrap_or_else(|| b"{}".to_vec()))
                    .map_err(transport)?
            }
        };
        let status = resp.status().as_u16();
        let bytes =
            resp.body_mut().with_config().limit(u64::MAX).read_to_vec().map_err(|e| {
                Error::unavailable(format!("Could not read the response from {url}: {e}")).with_source(e)
            })?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(chroma_wire::error_from_response(status, &bytes))
        }
    }

    fn json(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Value> {
        let bytes = self.send(method, path, body)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::internal_from("The server sent invalid JSON", e))
    }

    fn scope(tenant: &str, database: &str) -> String {
        format!("/tenants/{}/databases/{}", pct(tenant), pct(database))
    }

    /// `(max_batch_size, supports_base64_encoding)` from pre-flight-checks, cached.
    fn preflight(&self) -> Result<(usize, bool)> {
        if let Some(p) = self.preflight.get() {
            return Ok(*p);
        }
        let v = self.json("GET", "/pre-flight-checks", None)?;
        let max = v.get("max_batch_size").and_then(Value::as_i64).filter(|n| *n > 0).map_or(usize::MAX, |n| n as usize);
        let b64 = v.get("supports_base64_encoding").and_then(Value::as_bool).unwrap_or(false);
        Ok(*self.preflight.get_or_init(|| (max, b64)))
    }

    /// Finds which tenant/database a collection id lives in (v2 routes need both).
    fn locate(&self, id: Uuid) -> Result<(String, String)> {
        if let Some(s) = self.scopes.lock().ok().and_then(|m| m.get(&id).cloned()) {
            return Ok(s);
        }
        let c = self.get_collection_by_id(id)?;
        Ok((c.tenant, c.database))
    }

    fn remember(&self, c: Collection) -> Collection {
        if let Ok(mut m) = self.scopes.lock() {
            if m.len() > 100_000 {
                m.clear();
            }
            m.insert(c.id, (c.tenant.clone(), c.database.clone()));
        }
        c
    }

    fn collection(&self, v: &Value) -> Result<Collection> {
        chroma_wire::collection_from_json(v).map(|c| self.remember(c))
    }

    fn coll_path(&self, id: Uuid, op: &str) -> Result<String> {
        if self.v1()? {
            return Ok(format!("/collections/{id}/{op}"));
        }
        let (t, d) = self.locate(id)?;
        Ok(format!("{}/collections/{id}/{op}", Self::scope(&t, &d)))
    }

    /// v1 query string naming a tenant and database.
    fn v1_scope(tenant: &str, database: &str) -> String {
        format!("tenant={}&database={}", pct(tenant), pct(database))
    }

    fn v1_missing(what: &str) -> Error {
        Error::invalid(format!("{what} is not available on this server (Chroma API v1)"))
    }

    /// v1 has no by-id route: look through the collections of every scope this client has
    /// seen (the default one first).
    fn v1_collection_by_id(&self, id: Uuid) -> Result<Collection> {
        let mut scopes = vec![(chroma_types::DEFAULT_TENANT.to_string(), chroma_types::DEFAULT_DATABASE.to_string())];
        if let Ok(m) = self.scopes.lock() {
            if let Some(s) = m.get(&id) {
                scopes.insert(0, s.clone());
            }
            for s in m.values() {
                if !scopes.contains(s) {
                    scopes.push(s.clone());
                }
            }
        }
        for (t, d) in scopes {
            let mut offset = 0;
            loop {
                let page = match self.list_collections(&t, &d, Some(100), offset) {
                    Ok(p) => p,
                    Err(e) if e.kind == ErrorKind::NotFound => break,
                    Err(e) => return Err(e),
                };
                if let Some(c) = page.iter().find(|c| c.id == id) {
                    return Ok(c.clone());
                }
                if page.len() < 100 {
                    break;
                }
                offset += page.len();
            }
        }
        Err(Error::collection_not_found(&id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_roots() {
        assert_eq!(server_root(" localhost:8000/ ").unwrap(), "http://localhost:8000");
        assert_eq!(server_root("http://h:1/api/v2/").unwrap(), "http://h:1");
        assert_eq!(server_root("http://h:1/api/v1").unwrap(), "http://h:1");
        assert!(server_root("").is_err());
        assert!(server_root("ftp://h").is_err());
        let opts = HttpOptions::new("h").token("t").header("X-A", "b");
        assert_eq!(
            request_headers(opts).unwrap(),
            vec![("X-A".to_string(), "b".to_string()), ("Authorization".to_string(), "Bearer t".to_string())]
        );
        assert!(request_headers(HttpOptions::new("h").header("bad:name", "v")).is_err());
    }
}
