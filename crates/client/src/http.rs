//! [`HttpApi`]: [`ChromaApi`] over Chroma's HTTP API, so the same [`crate::Client`] talks to a
//! chroma-rs server or to a Chroma server: API v2 (Chroma 0.5.16+ / 1.x, chroma-rs), or API v1
//! (Chroma 0.4.x / 0.5.x) when the server has no v2. The line is chosen on the first call by
//! probing `/api/v2/heartbeat`, then `/api/v1/heartbeat`.
//!
//! On v1 the tenant and database go in the query string and record routes need only the
//! collection id; v1 has no route to list tenants or databases, to delete them, or to get a
//! collection by id (found by listing the collections of the scopes this client has seen).

use crate::wire;
use base64::Engine as _;
use chroma_types::{
    AddRequest, ChromaApi, Collection, CreateCollection, Database, DeleteRequest, Error, ErrorKind, GetRequest,
    GetResult, QueryRequest, QueryResult, Result, Tenant, UpdateCollection, UpdateRequest,
};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use uuid::Uuid;

/// Which header carries a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenTransport {
    /// `Authorization: Bearer <token>` (Chroma's default).
    #[default]
    Bearer,
    /// `X-Chroma-Token: <token>` (Chroma Cloud and `X_CHROMA_TOKEN` servers).
    XChromaToken,
}

/// How to reach a server.
#[derive(Clone, Default)]
pub struct HttpOptions {
    /// Base URL, e.g. `http://localhost:8000` (a path such as `/api/v2` is optional).
    pub url: String,
    /// Extra headers sent with every request.
    pub headers: Vec<(String, String)>,
    /// Token for token authentication.
    pub token: Option<String>,
    /// Header that carries `token`.
    pub token_transport: TokenTransport,
    /// User and password for basic authentication.
    pub basic_auth: Option<(String, String)>,
    /// Timeout of one whole request (default 120 s).
    pub timeout: Option<Duration>,
}

impl std::fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOptions")
            .field("url", &self.url)
            .field("headers", &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>())
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .field("token_transport", &self.token_transport)
            .field("basic_auth", &self.basic_auth.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl HttpOptions {
    pub fn new(url: impl Into<String>) -> Self {
        HttpOptions { url: url.into(), ..Default::default() }
    }
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn token_transport(mut self, t: TokenTransport) -> Self {
        self.token_transport = t;
        self
    }
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.basic_auth = Some((user.into(), password.into()));
        self
    }
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }
}

/// Which HTTP API a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiLine {
    /// `/api/v2` (Chroma 0.5.16+, 1.x, chroma-rs).
    V2,
    /// `/api/v1` only (Chroma 0.4.x, 0.5.x before v2).
    V1,
}

/// The Chroma HTTP API (v2, or v1 for older servers) as a [`ChromaApi`].
pub struct HttpApi {
    agent: ureq::Agent,
    /// Server root, without `/api/vN`.
    root: String,
    line: OnceLock<ApiLine>,
    headers: Vec<(String, String)>,
    base64: OnceLock<(usize, bool)>,
    /// Collection id → (tenant, database): v2 record routes need both.
    scopes: Mutex<HashMap<Uuid, (String, String)>>,
}

impl std::fmt::Debug for HttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpApi({})", self.root)
    }
}

fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn json_body<T: Serialize>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal(format!("Cannot encode request: {e}")))
}

impl HttpApi {
    /// Connects lazily: nothing is sent until the first call.
    pub fn new(opts: HttpOptions) -> Result<HttpApi> {
        let mut url = opts.url.trim().trim_end_matches('/').to_string();
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
        let mut headers = opts.headers.clone();
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
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(opts.timeout.unwrap_or(Duration::from_secs(120))))
            .user_agent(format!("chroma-rs client {}", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(HttpApi {
            agent: ureq::Agent::new_with_config(config),
            root: url,
            line: OnceLock::new(),
            headers,
            base64: OnceLock::new(),
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

    fn send_to(&self, url: &str, method: &str, body: Option<Vec<u8>>) -> Result<Vec<u8>> {
        let url = url.to_string();
        let transport = |e: ureq::Error| Error::unavailable(format!("Could not reach the Chroma server at {url}: {e}"));
        let mut resp = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                for (k, v) in &self.headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                r.call().map_err(transport)?
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                for (k, v) in &self.headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                r.call().map_err(transport)?
            }
            (m, body) => {
                let mut r = match m {
                    "PUT" => self.agent.put(&url),
                    "PATCH" => self.agent.patch(&url),
                    _ => self.agent.post(&url),
                };
                for (k, v) in &self.headers {
                    r = r.header(k.as_str(), v.as_str());
                }
                r = r.header("Content-Type", "application/json");
                r.send(body.unwrap_or_else(|| b"{}".to_vec())).map_err(transport)?
            }
        };
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| Error::unavailable(format!("Could not read the response from {url}: {e}")))?;
        if (200..300).contains(&status) {
            Ok(bytes)
        } else {
            Err(wire::error_from_response(status, &bytes))
        }
    }

    fn json(&self, method: &str, path: &str, body: Option<Vec<u8>>) -> Result<Value> {
        let bytes = self.send(method, path, body)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| Error::internal(format!("The server sent invalid JSON: {e}")))
    }

    fn scope(tenant: &str, database: &str) -> String {
        format!("/tenants/{}/databases/{}", pct(tenant), pct(database))
    }

    /// `(max_batch_size, supports_base64_encoding)` from pre-flight-checks, cached.
    fn preflight(&self) -> Result<(usize, bool)> {
        if let Some(p) = self.base64.get() {
            return Ok(*p);
        }
        let v = self.json("GET", "/pre-flight-checks", None)?;
        let max = v
            .get("max_batch_size")
            .and_then(Value::as_i64)
            .filter(|n| *n > 0)
            .map(|n| n as usize)
            .unwrap_or(usize::MAX);
        let b64 = v.get("supports_base64_encoding").and_then(Value::as_bool).unwrap_or(false);
        Ok(*self.base64.get_or_init(|| (max, b64)))
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
        wire::collection_from_json(v).map(|c| self.remember(c))
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
}

impl HttpApi {
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

fn as_usize(v: &Value, what: &str) -> Result<usize> {
    v.as_u64().map(|n| n as usize).ok_or_else(|| Error::internal(format!("Unexpected {what} from server: {v}")))
}

impl ChromaApi for HttpApi {
    fn heartbeat(&self) -> Result<u128> {
        let v = self.json("GET", "/heartbeat", None)?;
        v.get("nanosecond heartbeat")
            .and_then(Value::as_u64)
            .map(u128::from)
            .ok_or_else(|| Error::internal(format!("Unexpected heartbeat from server: {v}")))
    }

    fn version(&self) -> Result<String> {
        let v = self.json("GET", "/version", None)?;
        v.as_str().map(str::to_string).ok_or_else(|| Error::internal(format!("Unexpected version from server: {v}")))
    }

    fn max_batch_size(&self) -> Result<usize> {
        self.preflight().map(|p| p.0)
    }

    fn reset(&self) -> Result<()> {
        self.json("POST", "/reset", None).map(|_| ())
    }

    fn create_tenant(&self, name: &str) -> Result<()> {
        self.json("POST", "/tenants", Some(json_body(&wire::NameBody { name: name.into() })?)).map(|_| ())
    }

    fn get_tenant(&self, name: &str) -> Result<Tenant> {
        wire::tenant_from_json(&self.json("GET", &format!("/tenants/{}", pct(name)), None)?)
    }

    fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        if self.v1()? {
            return Err(Self::v1_missing("Listing tenants"));
        }
        let mut q = format!("/tenants?offset={offset}");
        if let Some(l) = limit {
            q.push_str(&format!("&limit={l}"));
        }
        let v = self.json("GET", &q, None)?;
        v.as_array()
            .ok_or_else(|| Error::internal("Unexpected tenant list"))?
            .iter()
            .map(wire::tenant_from_json)
            .collect()
    }

    fn delete_tenant(&self, name: &str) -> Result<()> {
        if self.v1()? {
            return Err(Self::v1_missing("Deleting a tenant"));
        }
        self.json("DELETE", &format!("/tenants/{}", pct(name)), None).map(|_| ())
    }

    fn create_database(&self, tenant: &str, name: &str) -> Result<Database> {
        if self.v1()? {
            let body = json_body(&wire::NameBody { name: name.into() })?;
            self.json("POST", &format!("/databases?tenant={}", pct(tenant)), Some(body))?;
            return self.get_database(tenant, name);
        }
        self.json(
            "POST",
            &format!("/tenants/{}/databases", pct(tenant)),
            Some(json_body(&wire::NameBody { name: name.into() })?),
        )?;
        self.get_database(tenant, name)
    }

    fn get_database(&self, tenant: &str, name: &str) -> Result<Database> {
        if self.v1()? {
            let v = self.json("GET", &format!("/databases/{}?tenant={}", pct(name), pct(tenant)), None)?;
            return wire::database_from_json(&v);
        }
        wire::database_from_json(&self.json("GET", &Self::scope(tenant, name), None)?)
    }

    fn list_databases(&self, tenant: &str, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        if self.v1()? {
            return Err(Self::v1_missing("Listing databases"));
        }
        let mut q = format!("/tenants/{}/databases?offset={offset}", pct(tenant));
        if let Some(l) = limit {
            q.push_str(&format!("&limit={l}"));
        }
        let v = self.json("GET", &q, None)?;
        v.as_array()
            .ok_or_else(|| Error::internal("Unexpected database list"))?
            .iter()
            .map(wire::database_from_json)
            .collect()
    }

    fn delete_database(&self, tenant: &str, name: &str) -> Result<()> {
        if self.v1()? {
            return Err(Self::v1_missing("Deleting a database"));
        }
        self.json("DELETE", &Self::scope(tenant, name), None).map(|_| ())
    }

    fn create_collection(&self, tenant: &str, database: &str, req: CreateCollection) -> Result<Collection> {
        if req.id.is_some() {
            return Err(Error::invalid("Choosing a collection id is only possible with the embedded engine"));
        }
        let body = json_body(&wire::CreateCollectionBody::from_request(&req))?;
        if self.v1()? {
            let path = format!("/collections?{}", Self::v1_scope(tenant, database));
            return self.collection(&self.json("POST", &path, Some(body))?);
        }
        self.collection(&self.json("POST", &format!("{}/collections", Self::scope(tenant, database)), Some(body))?)
    }

    fn get_collection(&self, tenant: &str, database: &str, name: &str) -> Result<Collection> {
        if self.v1()? {
            let path = format!("/collections/{}?{}", pct(name), Self::v1_scope(tenant, database));
            return self.collection(&self.json("GET", &path, None)?);
        }
        self.collection(&self.json(
            "GET",
            &format!("{}/collections/{}", Self::scope(tenant, database), pct(name)),
            None,
        )?)
    }

    fn get_collection_by_id(&self, id: Uuid) -> Result<Collection> {
        // The by-id route sits under a tenant/database path; chroma-rs checks that they match,
        // so look in the default scope first, then in every database we can list.
        if self.v1()? {
            return self.v1_collection_by_id(id);
        }
        let default = Self::scope(chroma_types::DEFAULT_TENANT, chroma_types::DEFAULT_DATABASE);
        match self.json("GET", &format!("{default}/collections/by-id/{id}"), None) {
            Ok(v) => return self.collection(&v),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if let Ok(tenants) = self.list_tenants(None, 0) {
            for t in tenants {
                for d in self.list_databases(&t.name, None, 0).unwrap_or_default() {
                    if let Ok(v) =
                        self.json("GET", &format!("{}/collections/by-id/{id}", Self::scope(&t.name, &d.name)), None)
                    {
                        return self.collection(&v);
                    }
                }
            }
        }
        Err(Error::collection_not_found(&id.to_string()))
    }

    fn list_collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Vec<Collection>> {
        let mut q = if self.v1()? {
            format!("/collections?{}&offset={offset}", Self::v1_scope(tenant, database))
        } else {
            format!("{}/collections?offset={offset}", Self::scope(tenant, database))
        };
        if let Some(l) = limit {
            q.push_str(&format!("&limit={l}"));
        }
        let v = self.json("GET", &q, None)?;
        v.as_array()
            .ok_or_else(|| Error::internal("Unexpected collection list"))?
            .iter()
            .map(|c| self.collection(c))
            .collect()
    }

    fn count_collections(&self, tenant: &str, database: &str) -> Result<usize> {
        if self.v1()? {
            let path = format!("/count_collections?{}", Self::v1_scope(tenant, database));
            return as_usize(&self.json("GET", &path, None)?, "count");
        }
        as_usize(&self.json("GET", &format!("{}/collections_count", Self::scope(tenant, database)), None)?, "count")
    }

    fn update_collection(&self, id: Uuid, req: UpdateCollection) -> Result<()> {
        let body = json_body(&wire::UpdateCollectionBody::from_request(&req))?;
        if self.v1()? {
            return self.json("PUT", &format!("/collections/{id}"), Some(body)).map(|_| ());
        }
        let (t, d) = self.locate(id)?;
        self.json("PUT", &format!("{}/collections/{id}", Self::scope(&t, &d)), Some(body)).map(|_| ())
    }

    fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        if self.v1()? {
            let path = format!("/collections/{}?{}", pct(name), Self::v1_scope(tenant, database));
            return self.json("DELETE", &path, None).map(|_| ());
        }
        self.json("DELETE", &format!("{}/collections/{}", Self::scope(tenant, database), pct(name)), None).map(|_| ())
    }

    fn add(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        let (_, b64) = self.preflight()?;
        let body = json_body(&wire::AddBody::from_request(&req, b64))?;
        self.send("POST", &self.coll_path(collection, "add")?, Some(body)).map(|_| ())
    }

    fn upsert(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        let (_, b64) = self.preflight()?;
        let body = json_body(&wire::AddBody::from_request(&req, b64))?;
        self.send("POST", &self.coll_path(collection, "upsert")?, Some(body)).map(|_| ())
    }

    fn update(&self, collection: Uuid, req: UpdateRequest) -> Result<()> {
        let (_, b64) = self.preflight()?;
        let body = json_body(&wire::UpdateBody::from_request(&req, b64))?;
        self.send("POST", &self.coll_path(collection, "update")?, Some(body)).map(|_| ())
    }

    fn delete(&self, collection: Uuid, req: DeleteRequest) -> Result<Vec<String>> {
        // v2 answers with a count only, and the trait returns the deleted ids: find the
        // matching ids first, then delete exactly those (still under the same filters, so a
        // record changed in between is not deleted by mistake).
        let path = self.coll_path(collection, "delete")?;
        let nothing_asked = req.ids.is_none() && req.r#where.is_none() && req.where_document.is_none();
        let limit_misused = req.limit.is_some() && req.r#where.is_none() && req.where_document.is_none();
        if nothing_asked || limit_misused {
            // Let the server answer (nothing, or its error) exactly as it does for any client.
            self.json("POST", &path, Some(json_body(&wire::DeleteBody::from_request(&req))?))?;
            return Ok(Vec::new());
        }
        let probe = GetRequest {
            ids: req.ids.clone(),
            r#where: req.r#where.clone(),
            where_document: req.where_document.clone(),
            limit: req.limit.map(|l| l as usize),
            include: vec![],
            dialect: req.dialect,
            ..Default::default()
        };
        let matched = self.get(collection, probe)?.ids;
        if matched.is_empty() {
            return Ok(matched);
        }
        let exact = DeleteRequest { ids: Some(matched.clone()), limit: None, ..req };
        let v = self.json("POST", &path, Some(json_body(&wire::DeleteBody::from_request(&exact))?))?;
        let deleted = match &v {
            Value::Array(items) => items.len(),
            v => v.get("deleted").and_then(Value::as_u64).unwrap_or(0) as usize,
        };
        if deleted == matched.len() {
            return Ok(matched);
        }
        // Something changed in between: report the ones that are gone now.
        let left =
            self.get(collection, GetRequest { ids: Some(matched.clone()), include: vec![], ..Default::default() })?.ids;
        let left: std::collections::HashSet<String> = left.into_iter().collect();
        Ok(matched.into_iter().filter(|id| !left.contains(id)).collect())
    }

    fn get(&self, collection: Uuid, req: GetRequest) -> Result<GetResult> {
        let body = json_body(&wire::GetBody::from_request(&req))?;
        wire::get_result_from_slice(&self.send("POST", &self.coll_path(collection, "get")?, Some(body))?)
    }

    fn query(&self, collection: Uuid, req: QueryRequest) -> Result<QueryResult> {
        let body = json_body(&wire::QueryBody::from_request(&req))?;
        wire::query_result_from_slice(&self.send("POST", &self.coll_path(collection, "query")?, Some(body))?)
    }

    fn count(&self, collection: Uuid) -> Result<usize> {
        as_usize(&self.json("GET", &self.coll_path(collection, "count")?, None)?, "count")
    }
}
