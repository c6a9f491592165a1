//! A running Chroma server as a source, read through its HTTP API in pages: API v2 (Chroma
//! 0.5 and later, 1.x, and chroma-rs) or v1 (0.3.x / 0.4.x), whichever answers its heartbeat first.
//! Bodies are parsed with the Python-JSON parser so bare `NaN`/`Infinity` and big ints that
//! Python servers emit are kept as they are (and then handled by the policy).

use std::time::Duration;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use chroma_legacy::checks::metadata_quirks;
use chroma_legacy::{
    parse_python_json, LegacyCollection, LegacyEmbedding, LegacyError, LegacyRecord, LegacySource, LegacyValue,
    NameRules, Quirk, RecordBatches, RecordChecks, Result, SourceKind,
};

/// Which API the server speaks: the client's notion (v2 first, else v1).
pub use chroma_client::ApiLine;

/// A running Chroma server read through its HTTP API (a [`LegacySource`]).
pub struct ServerSource {
    base: String,
    headers: Vec<(String, String)>,
    agent: ureq::Agent,
    /// The API the server answered on.
    pub api: ApiLine,
    /// The version the server reports (empty when it reports none).
    pub version: String,
    warnings: Vec<String>,
    /// 0.3.x addresses collections by name in record routes.
    by_name: bool,
    with_uris: bool,
}

fn http_err(context: String, message: String) -> LegacyError {
    LegacyError::Http { context, message }
}

fn transport_err(context: String, source: ureq::Error) -> LegacyError {
    LegacyError::Transport { context, source: Box::new(source) }
}

/// RFC 3986 unreserved characters (`A-Za-z0-9-_.~`) stay as they are; every other byte of a
/// path segment or query value is `%XX`-encoded.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn pct(s: &str) -> String {
    utf8_percent_encode(s, URL_COMPONENT).to_string()
}

impl ServerSource {
    /// Connects: probes `/api/v2/heartbeat`, then `/api/v1/heartbeat`.
    pub fn connect(url: &str, headers: Vec<(String, String)>) -> Result<ServerSource> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(600)))
            .http_status_as_error(false)
            .build()
            .into();
        let base = url.trim_end_matches('/').to_string();
        let mut s = ServerSource {
            base,
            headers,
            agent,
            api: ApiLine::V2,
            version: String::new(),
            warnings: Vec::new(),
            by_name: false,
            with_uris: true,
        };
        let mut last = None;
        for (line, path) in [(ApiLine::V2, "/api/v2/heartbeat"), (ApiLine::V1, "/api/v1/heartbeat")] {
            match s.call("GET", path, None) {
                Ok(_) => {
                    s.api = line;
                    let vpath = if line == ApiLine::V2 { "/api/v2/version" } else { "/api/v1/version" };
                    s.version = match s.call("GET", vpath, None) {
                        Ok(LegacyValue::Str(v)) => v,
                        _ => String::new(),
                    };
                    s.by_name = line == ApiLine::V1 && s.version.starts_with("0.3.");
                    return Ok(s);
                }
                Err(e) => last = Some(e),
            }
        }
        let context = format!("connecting to {url}: no Chroma API answers a heartbeat (v2 or v1)");
        Err(match last {
            Some(e) => LegacyError::Context { context, source: Box::new(e) },
            None => LegacyError::Unreadable(context),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Result<LegacyValue> {
        let url = format!("{}{}", self.base, path);
        let ctx = || format!("{method} {url}");
        let resp = if method == "GET" {
            let mut r = self.agent.get(&url);
            for (k, v) in &self.headers {
                r = r.header(k.as_str(), v.as_str());
            }
            r.call()
        } else {
            let mut r = self.agent.post(&url).header("content-type", "application/json");
            for (k, v) in &self.headers {
                r = r.header(k.as_str(), v.as_str());
            }
            r.send(body.map(std::string::ToString::to_string).unwrap_or_default().as_bytes())
        };
        let mut resp = resp.map_err(|e| transport_err(ctx(), e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| transport_err(format!("{}: reading the response", ctx()), e))?;
        if !(200..300).contains(&status) {
            let shown: String = text.chars().take(300).collect();
            return Err(http_err(ctx(), format!("HTTP {status}: {shown}")));
        }
        parse_python_json(&text).map_err(|source| LegacyError::Json {
            context: format!("{}: response is not JSON", ctx()),
            source,
            after: String::new(),
        })
    }

    fn coll_base(&self, c: &LegacyCollection) -> String {
        match self.api {
            ApiLine::V2 => {
                format!("/api/v2/tenants/{}/databases/{}/collections/{}", pct(&c.tenant), pct(&c.database), pct(&c.id))
            }
            ApiLine::V1 if self.by_name => format!("/api/v1/collections/{}", pct(&c.name)),
            ApiLine::V1 => format!("/api/v1/collections/{}", pct(&c.id)),
        }
    }

    fn get_page(&mut self, c: &LegacyCollection, offset: usize, limit: usize) -> Result<LegacyValue> {
        let path = format!("{}/get", self.coll_base(c));
        let body = |uris: bool| {
            let mut inc = vec!["embeddings", "documents", "metadatas"];
            if uris {
                inc.push("uris");
            }
            serde_json::json!({"limit": limit, "offset": offset, "include": inc})
        };
        if self.with_uris {
            match self.call("POST", &path, Some(&body(true))) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    // Older servers reject "uris" in include.
                    if self.call("POST", &path, Some(&body(false))).is_err() {
                        return Err(e);
                    }
                    self.with_uris = false;
                }
            }
        }
        self.call("POST", &path, Some(&body(false)))
    }

    fn list_collections(&self, tenant: &str, database: &str) -> Result<Vec<LegacyCollection>> {
        let mut out = Vec::new();
        let page = 100usize;
        let mut offset = 0usize;
        loop {
            let path = match self.api {
                ApiLine::V2 => format!(
                    "/api/v2/tenants/{}/databases/{}/collections?limit={page}&offset={offset}",
                    pct(tenant),
                    pct(database)
                ),
                ApiLine::V1 if self.by_name => "/api/v1/collections".to_string(),
                ApiLine::V1 => format!(
                    "/api/v1/collections?tenant={}&database={}&limit={page}&offset={offset}",
                    pct(tenant),
                    pct(database)
                ),
            };
            let v = self.call("GET", &path, None)?;
            let LegacyValue::List(items) = v else {
                return Err(LegacyError::Format(format!("{path}: expected a list of collections")));
            };
            let n = items.len();
            for it in items {
                out.push(collection_of(&it, tenant, database)?);
            }
            if self.by_name || n < page {
                break;
            }
            offset += n;
        }
        Ok(out)
    }
}

fn field<'a>(v: &'a LegacyValue, k: &str) -> Option<&'a LegacyValue> {
    match v {
        LegacyValue::Map(m) => m.get(k).filter(|x| !matches!(x, LegacyValue::Null)),
        _ => None,
    }
}

fn text(v: Option<&LegacyValue>) -> Option<String> {
    match v {
        Some(LegacyValue::Str(s)) => Some(s.clone()),
        Some(LegacyValue::BrokenStr { lossy, .. }) => Some(lossy.clone()),
        _ => None,
    }
}

fn collection_of(v: &LegacyValue, tenant: &str, database: &str) -> Result<LegacyCollection> {
    let id = text(field(v, "id")).ok_or_else(|| LegacyError::Format("collection without an id".into()))?;
    let name = text(field(v, "name")).unwrap_or_default();
    let mut quirks = Vec::new();
    // Accepted by the server that stored it: the rules of Chroma >= 0.4 (0.4-0.6 or 1.x).
    if let Some(reason) = chroma_legacy::name_rejection(&name, NameRules::Stored) {
        quirks.push(Quirk::NameRejectedByNewRules { reason });
    }
    let metadata = match field(v, "metadata") {
        Some(LegacyValue::Map(m)) => {
            metadata_quirks(m, &mut quirks);
            Some(m.clone())
        }
        _ => None,
    };
    let configuration_json = field(v, "configuration_json")
        .or_else(|| field(v, "configuration"))
        .and_then(chroma_legacy::LegacyValue::to_json);
    // 1.x servers describe the collection's indexes in `schema`; older ones send none.
    let schema_json = field(v, "schema").and_then(chroma_legacy::LegacyValue::to_json).filter(|s| !s.is_null());
    let dimension = match field(v, "dimension") {
        Some(LegacyValue::Int(d)) if *d > 0 => Some(*d as usize),
        _ => None,
    };
    let space = match metadata.as_ref().and_then(|m| m.get("hnsw:space")) {
        Some(LegacyValue::Str(s)) => Some(s.clone()),
        _ => None,
    };
    Ok(LegacyCollection {
        id,
        name,
        metadata,
        tenant: text(field(v, "tenant")).unwrap_or_else(|| tenant.to_string()),
        database: text(field(v, "database")).unwrap_or_else(|| database.to_string()),
        dimension,
        space,
        configuration_json,
        schema_json,
        record_count_hint: None,
        quirks,
    })
}

impl LegacySource for ServerSource {
    fn kind(&self) -> SourceKind {
        // The closest kind; the report names the server and its API line separately.
        SourceKind::Chroma04Plus
    }

    fn tenants_and_databases(&self) -> Result<Vec<(String, String)>> {
        let default = vec![(chroma_legacy::DEFAULT_TENANT.to_string(), chroma_legacy::DEFAULT_DATABASE.to_string())];
        if self.api == ApiLine::V1 {
            return Ok(default);
        }
        // The identity tells the tenant (and databases) this token can see.
        let tenant = match self.call("GET", "/api/v2/auth/identity", None) {
            Ok(v) => text(field(&v, "tenant")).unwrap_or_else(|| chroma_legacy::DEFAULT_TENANT.to_string()),
            Err(_) => chroma_legacy::DEFAULT_TENANT.to_string(),
        };
        let path = format!("/api/v2/tenants/{}/databases", pct(&tenant));
        match self.call("GET", &path, None) {
            Ok(LegacyValue::List(items)) => {
                let mut out: Vec<(String, String)> =
                    items.iter().filter_map(|d| text(field(d, "name"))).map(|n| (tenant.clone(), n)).collect();
                if out.is_empty() {
                    out = default;
                }
                Ok(out)
            }
            _ => Ok(default),
        }
    }

    fn collections(&mut self) -> Result<Vec<LegacyCollection>> {
        let mut out = Vec::new();
        for (t, d) in self.tenants_and_databases()? {
            let mut cs = self.list_collections(&t, &d)?;
            for c in &mut cs {
                let path = format!("{}/count", self.coll_base(c));
                if let Ok(LegacyValue::Int(n)) = self.call("GET", &path, None) {
                    c.record_count_hint = Some(n.max(0) as u64);
                }
            }
            out.extend(cs);
        }
        Ok(out)
    }

    fn records(&mut self, collection: &LegacyCollection, batch: usize) -> Result<RecordBatches<'_>> {
        Ok(Box::new(PageIter {
            src: self,
            coll: collection.clone(),
            batch: batch.max(1),
            offset: 0,
            checks: RecordChecks::new(collection.dimension),
            done: false,
        }))
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

struct PageIter<'a> {
    src: &'a mut ServerSource,
    coll: LegacyCollection,
    batch: usize,
    offset: usize,
    /// Ids seen so far (for duplicate detection): the only per-record state held.
    checks: RecordChecks,
    done: bool,
}

fn column<'a>(v: &'a LegacyValue, k: &str) -> &'a [LegacyValue] {
    match field(v, k) {
        Some(LegacyValue::List(l)) => l,
        _ => &[],
    }
}

fn embedding_of(v: Option<&LegacyValue>) -> Option<LegacyEmbedding> {
    let LegacyValue::List(items) = v? else { return None };
    Some(LegacyEmbedding::F64(
        items
            .iter()
            .map(|x| match x {
                LegacyValue::Float(f) => *f,
                LegacyValue::Int(i) => *i as f64,
                _ => f64::NAN,
            })
            .collect(),
    ))
}

impl PageIter<'_> {
    fn page(&mut self) -> Result<Vec<LegacyRecord>> {
        let v = self.src.get_page(&self.coll, self.offset, self.batch)?;
        let ids = column(&v, "ids");
        let (embs, docs, metas, uris) =
            (column(&v, "embeddings"), column(&v, "documents"), column(&v, "metadatas"), column(&v, "uris"));
        let mut out = Vec::with_capacity(ids.len());
        for (i, idv) in ids.iter().enumerate() {
            let pos = self.offset + i;
            let origin = format!("{} page offset {} row {i}", self.coll.name, self.offset);
            let mut quirks = Vec::new();
            let id = self.checks.id(text(Some(idv)), || format!("record #{pos}"), &mut quirks);
            let embedding = embedding_of(embs.get(i));
            self.checks.embedding(embedding.as_ref(), Some("the server returned none"), &mut quirks);
            let document = text(docs.get(i));
            RecordChecks::document(document.as_deref(), &mut quirks);
            let metadata = match metas.get(i) {
                Some(LegacyValue::Map(m)) => {
                    metadata_quirks(m, &mut quirks);
                    Some(m.clone())
                }
                _ => None,
            };
            out.push(LegacyRecord { id, embedding, document, uri: text(uris.get(i)), metadata, origin, quirks });
        }
        self.offset += ids.len();
        Ok(out)
    }
}

/// The next item of a paged reader: a page, or `None` after the last one. A short or empty
/// page, or an error, ends the reading (`done`), so an error is reported once.
pub(crate) fn next_page<T>(done: &mut bool, batch: usize, page: Result<Vec<T>>) -> Option<Result<Vec<T>>> {
    match page {
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
        Ok(p) if p.is_empty() => {
            *done = true;
            None
        }
        Ok(p) => {
            *done = p.len() < batch;
            Some(Ok(p))
        }
    }
}

impl Iterator for PageIter<'_> {
    type Item = Result<Vec<LegacyRecord>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let page = self.page();
        next_page(&mut self.done, self.batch, page)
    }
}
