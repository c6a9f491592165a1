//! The JSON shapes of Chroma's HTTP API, API v1 (as served by Chroma 0.4.x and 0.5.x) and
//! API v2 (0.5.16 and later), in both directions: the server parses request bodies with the
//! `*Body` types and writes responses with the `*_to_json` / `*Response` helpers; the HTTP
//! client does the reverse. Keeping both sides here means one definition of every shape.
//!
//! Conventions that every Chroma client line relies on:
//! * missing, `null` and `{}` filters mean "no filter";
//! * embeddings in requests are lists of numbers, or (v2) base64 strings of little-endian f32;
//! * metadata integers stay integers and floats stay floats;
//! * the collection object differs per client line ([`Shape`]).

use base64::Engine as _;
use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::metadata::{
    metadata_from_json, metadata_to_json, update_metadata_from_json, update_metadata_to_json,
};
use chroma_types::{
    AddRequest, Collection, CreateCollection, Database, DeleteRequest, Dialect, Error, GetRequest, GetResult, Include,
    IndexConfig, Metadata, QueryRequest, QueryResult, Result, Tenant, UpdateCollection, UpdateRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use uuid::Uuid;

/// The response shape expected by one line of Chroma clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// API v1 as Chroma 0.4.x served it (clients 0.4.x-0.5.3, JS <= 1.9.2): collection objects
    /// with exactly `name, id, metadata, tenant, database`.
    V04,
    /// API v1 as Chroma 0.5.4-0.5.15 served it: collection objects with `configuration_json`.
    V05,
    /// API v2, one shape accepted by the 0.5.16-0.6.x and 1.x clients.
    V2,
}

// ------------------------------------------------------------------------------------------
// Embeddings

/// One embedding in a request: a list of numbers or a base64 string of little-endian f32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingIn {
    Floats(Vec<f32>),
    Base64(String),
}

impl EmbeddingIn {
    pub fn into_vec(self) -> Result<Vec<f32>> {
        match self {
            EmbeddingIn::Floats(v) => Ok(v),
            EmbeddingIn::Base64(s) => decode_base64_embedding(&s),
        }
    }
    pub fn base64(v: &[f32]) -> EmbeddingIn {
        EmbeddingIn::Base64(encode_base64_embedding(v))
    }
}

/// Decodes a base64 string of packed little-endian f32 values.
pub fn decode_base64_embedding(s: &str) -> Result<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| Error::invalid(format!("Invalid base64 embedding: {e}")))?;
    if bytes.len() % 4 != 0 {
        return Err(Error::invalid(format!(
            "Invalid base64 embedding: {} bytes is not a whole number of float32 values",
            bytes.len()
        )));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

pub fn encode_base64_embedding(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn embeddings_in(items: Vec<EmbeddingIn>) -> Result<Vec<Vec<f32>>> {
    items.into_iter().map(EmbeddingIn::into_vec).collect()
}

fn embeddings_out(items: &[Vec<f32>], base64: bool) -> Vec<EmbeddingIn> {
    items.iter().map(|e| if base64 { EmbeddingIn::base64(e) } else { EmbeddingIn::Floats(e.clone()) }).collect()
}

// ------------------------------------------------------------------------------------------
// Metadata helpers

fn opt_metadata(v: Option<Value>, what: &str) -> Result<Option<Metadata>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => metadata_from_json(&v).map(Some),
        Some(other) => Err(Error::invalid(format!("Expected {what} to be a dict or None, got {other}"))),
    }
}

fn record_metadatas(v: Option<Vec<Value>>) -> Result<Option<Vec<Option<chroma_types::UpdateMetadata>>>> {
    v.map(|items| {
        items
            .into_iter()
            .map(|m| match m {
                Value::Null => Ok(None),
                m @ Value::Object(_) => update_metadata_from_json(&m).map(Some),
                other => Err(Error::invalid(format!("Expected metadata to be a dict or None, got {other}"))),
            })
            .collect()
    })
    .transpose()
}

fn metadata_json(m: &Option<Metadata>) -> Value {
    m.as_ref().map(metadata_to_json).unwrap_or(Value::Null)
}

fn includes(v: Option<Vec<String>>, default: Vec<Include>) -> Result<Vec<Include>> {
    match v {
        None => Ok(default),
        Some(items) => items.iter().map(|s| Include::parse(s)).collect(),
    }
}

fn non_negative(v: Option<i64>, what: &str) -> Result<Option<usize>> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Err(Error::invalid(format!("{what} cannot be negative"))),
        Some(n) => usize::try_from(n).map(Some).map_err(|_| Error::invalid(format!("{what} is too large"))),
    }
}

// ------------------------------------------------------------------------------------------
// Request bodies

/// `{"name": ...}` of create tenant / create database.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NameBody {
    pub name: String,
}

/// Body of create collection (all lines).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CreateCollectionBody {
    pub name: String,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub configuration: Option<Value>,
    #[serde(default)]
    pub get_or_create: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl CreateCollectionBody {
    pub fn into_request(self) -> Result<CreateCollection> {
        Ok(CreateCollection {
            metadata: opt_metadata(self.metadata, "metadata")?,
            name: self.name,
            configuration: self.configuration.filter(|c| !c.is_null()),
            get_or_create: self.get_or_create.unwrap_or(false),
            schema: self.schema.filter(|s| !s.is_null()),
            id: None,
        })
    }
    pub fn from_request(req: &CreateCollection) -> Self {
        CreateCollectionBody {
            name: req.name.clone(),
            // Chroma servers refuse `{}`; no metadata means the same.
            metadata: req.metadata.as_ref().filter(|m| !m.is_empty()).map(metadata_to_json),
            configuration: req.configuration.clone(),
            get_or_create: Some(req.get_or_create),
            schema: req.schema.clone(),
        }
    }
}

/// Body of modify collection (PUT).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateCollectionBody {
    #[serde(default)]
    pub new_name: Option<String>,
    #[serde(default)]
    pub new_metadata: Option<Value>,
    #[serde(default)]
    pub new_configuration: Option<Value>,
}

impl UpdateCollectionBody {
    pub fn into_request(self) -> Result<UpdateCollection> {
        Ok(UpdateCollection {
            new_name: self.new_name,
            new_metadata: opt_metadata(self.new_metadata, "metadata")?,
            new_configuration: self.new_configuration.filter(|c| !c.is_null()),
        })
    }
    pub fn from_request(req: &UpdateCollection) -> Self {
        UpdateCollectionBody {
            new_name: req.new_name.clone(),
            new_metadata: req.new_metadata.as_ref().filter(|m| !m.is_empty()).map(metadata_to_json),
            new_configuration: req.new_configuration.clone(),
        }
    }
}

/// Body of add and upsert.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AddBody {
    pub ids: Vec<String>,
    #[serde(default)]
    pub embeddings: Option<Vec<EmbeddingIn>>,
    #[serde(default)]
    pub metadatas: Option<Vec<Value>>,
    #[serde(default)]
    pub documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub uris: Option<Vec<Option<String>>>,
}

impl AddBody {
    pub fn into_request(self) -> Result<AddRequest> {
        let Some(embeddings) = self.embeddings else {
            return Err(Error::invalid(
                "embeddings are required: chroma-rs does not compute embeddings on the server, \
                 so the client must send them (pass embeddings, or give the client an embedding function)",
            ));
        };
        Ok(AddRequest {
            ids: self.ids,
            embeddings: embeddings_in(embeddings)?,
            documents: self.documents,
            uris: self.uris,
            metadatas: record_metadatas(self.metadatas)?,
        })
    }
    pub fn from_request(req: &AddRequest, base64: bool) -> Self {
        AddBody {
            ids: req.ids.clone(),
            embeddings: Some(embeddings_out(&req.embeddings, base64)),
            metadatas: req
                .metadatas
                .as_ref()
                .map(|ms| ms.iter().map(|m| m.as_ref().map(update_metadata_to_json).unwrap_or(Value::Null)).collect()),
            documents: req.documents.clone(),
            uris: req.uris.clone(),
        }
    }
}

/// Body of update.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateBody {
    pub ids: Vec<String>,
    #[serde(default)]
    pub embeddings: Option<Vec<Option<EmbeddingIn>>>,
    #[serde(default)]
    pub metadatas: Option<Vec<Value>>,
    #[serde(default)]
    pub documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    pub uris: Option<Vec<Option<String>>>,
}

impl UpdateBody {
    pub fn into_request(self) -> Result<UpdateRequest> {
        let embeddings = self
            .embeddings
            .map(|items| {
                items.into_iter().map(|e| e.map(EmbeddingIn::into_vec).transpose()).collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok(UpdateRequest {
            ids: self.ids,
            embeddings,
            documents: self.documents,
            uris: self.uris,
            metadatas: record_metadatas(self.metadatas)?,
        })
    }
    pub fn from_request(req: &UpdateRequest, base64: bool) -> Self {
        UpdateBody {
            ids: req.ids.clone(),
            embeddings: req.embeddings.as_ref().map(|es| {
                es.iter()
                    .map(|e| {
                        e.as_ref().map(|e| if base64 { EmbeddingIn::base64(e) } else { EmbeddingIn::Floats(e.clone()) })
                    })
                    .collect()
            }),
            metadatas: req
                .metadatas
                .as_ref()
                .map(|ms| ms.iter().map(|m| m.as_ref().map(update_metadata_to_json).unwrap_or(Value::Null)).collect()),
            documents: req.documents.clone(),
            uris: req.uris.clone(),
        }
    }
}

/// Body of get.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GetBody {
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    pub r#where: Option<Value>,
    #[serde(default)]
    pub where_document: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Value>,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub offset: Option<i64>,
    #[serde(default)]
    pub include: Option<Vec<String>>,
}

impl GetBody {
    pub fn into_request(self, dialect: Dialect) -> Result<GetRequest> {
        if self.sort.as_ref().is_some_and(|s| !s.is_null()) {
            return Err(Error::invalid("Sorting is not yet supported"));
        }
        Ok(GetRequest {
            r#where: parse_where(self.r#where.as_ref())?,
            where_document: parse_where_document(self.where_document.as_ref())?,
            ids: self.ids,
            limit: non_negative(self.limit, "Limit")?,
            offset: non_negative(self.offset, "Offset")?,
            include: includes(self.include, Include::get_default())?,
            dialect,
        })
    }
    pub fn from_request(req: &GetRequest) -> Self {
        GetBody {
            ids: req.ids.clone(),
            r#where: req.r#where.as_ref().map(|w| w.to_json()),
            where_document: req.where_document.as_ref().map(|w| w.to_json()),
            sort: None,
            limit: req.limit.map(|n| n.min(i64::MAX as usize) as i64),
            offset: req.offset.map(|n| n.min(i64::MAX as usize) as i64),
            include: Some(req.include.iter().map(|i| i.as_str().to_string()).collect()),
        }
    }
}

/// Body of query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    pub query_embeddings: Vec<EmbeddingIn>,
    #[serde(default)]
    pub n_results: Option<i64>,
    #[serde(default, rename = "where")]
    pub r#where: Option<Value>,
    #[serde(default)]
    pub where_document: Option<Value>,
    #[serde(default)]
    pub include: Option<Vec<String>>,
}

impl QueryBody {
    pub fn into_request(self, dialect: Dialect) -> Result<QueryRequest> {
        let n_results = match self.n_results {
            None => 10,
            Some(n) if n <= 0 => {
                return Err(Error::invalid(format!(
                    "Expected requested number of results to be a positive integer, got {n}"
                )))
            }
            Some(n) => usize::try_from(n).map_err(|_| Error::invalid("n_results is too large"))?,
        };
        Ok(QueryRequest {
            query_embeddings: embeddings_in(self.query_embeddings)?,
            n_results,
            ids: self.ids,
            r#where: parse_where(self.r#where.as_ref())?,
            where_document: parse_where_document(self.where_document.as_ref())?,
            include: includes(self.include, Include::query_default())?,
            dialect,
        })
    }
    pub fn from_request(req: &QueryRequest) -> Self {
        QueryBody {
            ids: req.ids.clone(),
            query_embeddings: embeddings_out(&req.query_embeddings, false),
            n_results: Some(req.n_results.min(i64::MAX as usize) as i64),
            r#where: req.r#where.as_ref().map(|w| w.to_json()),
            where_document: req.where_document.as_ref().map(|w| w.to_json()),
            include: Some(req.include.iter().map(|i| i.as_str().to_string()).collect()),
        }
    }
}

/// Body of delete.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeleteBody {
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    #[serde(default, rename = "where")]
    pub r#where: Option<Value>,
    #[serde(default)]
    pub where_document: Option<Value>,
    /// 1.x: delete at most this many matching records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl DeleteBody {
    pub fn into_request(self, dialect: Dialect) -> Result<DeleteRequest> {
        Ok(DeleteRequest {
            r#where: parse_where(self.r#where.as_ref())?,
            where_document: parse_where_document(self.where_document.as_ref())?,
            ids: self.ids,
            limit: self.limit,
            dialect,
        })
    }
    pub fn from_request(req: &DeleteRequest) -> Self {
        DeleteBody {
            ids: req.ids.clone(),
            r#where: req.r#where.as_ref().map(|w| w.to_json()),
            where_document: req.where_document.as_ref().map(|w| w.to_json()),
            limit: req.limit,
        }
    }
    /// True when only ids were given (0.4.x echoes them back).
    pub fn ids_only(&self) -> bool {
        let empty = |v: &Option<Value>| match v {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            _ => false,
        };
        self.ids.is_some() && empty(&self.r#where) && empty(&self.where_document)
    }
}

// ------------------------------------------------------------------------------------------
// Responses: tenants, databases, collections

pub fn tenant_to_json(t: &Tenant, shape: Shape) -> Value {
    match shape {
        Shape::V2 => json!({"name": t.name, "resource_name": null}),
        _ => json!({"name": t.name}),
    }
}

pub fn tenant_from_json(v: &Value) -> Result<Tenant> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::internal(format!("Unexpected tenant object from server: {v}")))?;
    Ok(Tenant { name: name.to_string() })
}

pub fn database_to_json(d: &Database) -> Value {
    json!({"id": d.id.to_string(), "name": d.name, "tenant": d.tenant})
}

pub fn database_from_json(v: &Value) -> Result<Database> {
    let bad = || Error::internal(format!("Unexpected database object from server: {v}"));
    let id = v.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(bad)?;
    let name = v.get("name").and_then(Value::as_str).ok_or_else(bad)?;
    let tenant = v.get("tenant").and_then(Value::as_str).ok_or_else(bad)?;
    Ok(Database { id, name: name.to_string(), tenant: tenant.to_string() })
}

/// The collection object in the shape `shape` expects.
pub fn collection_to_json(c: &Collection, shape: Shape) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), Value::String(c.id.to_string()));
    m.insert("name".into(), Value::String(c.name.clone()));
    if shape != Shape::V04 {
        let mut cfg = c.config.to_v05_json();
        if shape == Shape::V2 {
            // 1.x clients read `hnsw` and `embedding_function`; 0.5.16-0.6 read the `_type` form.
            if let (Some(o), Value::Object(v1)) = (cfg.as_object_mut(), c.config.to_v1x_json()) {
                o.extend(v1);
            }
        }
        m.insert("configuration_json".into(), cfg);
    }
    m.insert("metadata".into(), metadata_json(&c.metadata));
    if shape != Shape::V04 {
        m.insert("dimension".into(), c.dimension.map(Value::from).unwrap_or(Value::Null));
    }
    m.insert("tenant".into(), Value::String(c.tenant.clone()));
    m.insert("database".into(), Value::String(c.database.clone()));
    if shape != Shape::V04 {
        m.insert("version".into(), Value::from(c.version));
        m.insert("log_position".into(), Value::from(c.log_position));
    }
    if shape == Shape::V2 {
        m.insert("schema".into(), c.config.to_schema_json());
    }
    Value::Object(m)
}

/// Reads a collection object of any shape (0.4.x, 0.5.x or 1.x server).
pub fn collection_from_json(v: &Value) -> Result<Collection> {
    let bad = |what: &str| Error::internal(format!("Unexpected collection object from server ({what}): {v}"));
    let id = v.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()).ok_or_else(|| bad("id"))?;
    let name = v.get("name").and_then(Value::as_str).ok_or_else(|| bad("name"))?.to_string();
    let metadata = match v.get("metadata") {
        None | Some(Value::Null) => None,
        Some(m) => Some(metadata_from_json(m).map_err(|e| bad(&e.message))?),
    };
    let config = IndexConfig::default()
        .apply_configuration(
            v.get("configuration_json").filter(|c| c.get("hnsw").is_some() || c.get("hnsw_configuration").is_some()),
        )
        .unwrap_or_default()
        .apply_metadata(metadata.as_ref())
        .unwrap_or_else(|_| IndexConfig::default());
    let str_or = |k: &str, d: &str| v.get(k).and_then(Value::as_str).unwrap_or(d).to_string();
    Ok(Collection {
        id,
        name,
        tenant: str_or("tenant", chroma_types::DEFAULT_TENANT),
        database: str_or("database", chroma_types::DEFAULT_DATABASE),
        metadata,
        dimension: v.get("dimension").and_then(Value::as_u64).map(|d| d as usize),
        config,
        version: v.get("version").and_then(Value::as_u64).unwrap_or(0),
        log_position: v.get("log_position").and_then(Value::as_u64).unwrap_or(0),
    })
}

// ------------------------------------------------------------------------------------------
// Responses: get and query

fn include_names(include: &[Include]) -> Vec<&'static str> {
    include.iter().filter(|i| **i != Include::Data).map(|i| i.as_str()).collect()
}

/// Response of `get`, serialized without an intermediate `Value` (f32 stays short).
#[derive(Debug, Serialize)]
pub struct GetResponse<'a> {
    pub ids: &'a [String],
    pub embeddings: Option<&'a [Vec<f32>]>,
    pub metadatas: Option<&'a [Option<Metadata>]>,
    pub documents: Option<&'a [Option<String>]>,
    pub uris: Option<&'a [Option<String>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<&'static str>>,
}

/// v1 results carry `"data": null` (0.4.x/0.5.x servers always sent it).
#[derive(Debug, Serialize)]
struct WithData<'a, T: Serialize> {
    #[serde(flatten)]
    inner: &'a T,
    data: Value,
}

/// Serializes a get result for `shape`.
pub fn get_result_to_string(r: &GetResult, shape: Shape) -> Result<String> {
    let resp = GetResponse {
        ids: &r.ids,
        embeddings: r.embeddings.as_deref(),
        metadatas: r.metadatas.as_deref(),
        documents: r.documents.as_deref(),
        uris: r.uris.as_deref(),
        included: (shape != Shape::V04).then(|| include_names(&r.include)),
        include: (shape == Shape::V2).then(|| include_names(&r.include)),
    };
    let out = if shape == Shape::V2 {
        serde_json::to_string(&resp)
    } else {
        serde_json::to_string(&WithData { inner: &resp, data: Value::Null })
    };
    out.map_err(|e| Error::internal(format!("Cannot serialize get result: {e}")))
}

/// Response of `query`.
#[derive(Debug, Serialize)]
pub struct QueryResponse<'a> {
    pub ids: &'a [Vec<String>],
    pub distances: Option<&'a [Vec<f32>]>,
    pub embeddings: Option<&'a [Vec<Vec<f32>>]>,
    pub metadatas: Option<&'a [Vec<Option<Metadata>>]>,
    pub documents: Option<&'a [Vec<Option<String>>]>,
    pub uris: Option<&'a [Vec<Option<String>>]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<&'static str>>,
}

/// Serializes a query result for `shape`.
pub fn query_result_to_string(r: &QueryResult, shape: Shape) -> Result<String> {
    let resp = QueryResponse {
        ids: &r.ids,
        distances: r.distances.as_deref(),
        embeddings: r.embeddings.as_deref(),
        metadatas: r.metadatas.as_deref(),
        documents: r.documents.as_deref(),
        uris: r.uris.as_deref(),
        included: (shape != Shape::V04).then(|| include_names(&r.include)),
        include: (shape == Shape::V2).then(|| include_names(&r.include)),
    };
    let out = if shape == Shape::V2 {
        serde_json::to_string(&resp)
    } else {
        serde_json::to_string(&WithData { inner: &resp, data: Value::Null })
    };
    out.map_err(|e| Error::internal(format!("Cannot serialize query result: {e}")))
}

#[derive(Deserialize)]
struct GetResponseIn {
    ids: Vec<String>,
    #[serde(default)]
    embeddings: Option<Vec<EmbeddingIn>>,
    #[serde(default)]
    metadatas: Option<Vec<Value>>,
    #[serde(default)]
    documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    uris: Option<Vec<Option<String>>>,
    #[serde(default)]
    include: Option<Vec<String>>,
    #[serde(default)]
    included: Option<Vec<String>>,
}

fn metadatas_in(items: Vec<Value>) -> Result<Vec<Option<Metadata>>> {
    items.into_iter().map(|m| if m.is_null() { Ok(None) } else { metadata_from_json(&m).map(Some) }).collect()
}

fn include_in(a: Option<Vec<String>>, b: Option<Vec<String>>) -> Vec<Include> {
    a.or(b).unwrap_or_default().iter().filter_map(|s| Include::parse(s).ok()).collect()
}

/// Reads a get response of any line.
pub fn get_result_from_slice(body: &[u8]) -> Result<GetResult> {
    let r: GetResponseIn = serde_json::from_slice(body)
        .map_err(|e| Error::internal(format!("Unexpected get response from server: {e}")))?;
    Ok(GetResult {
        ids: r.ids,
        embeddings: r.embeddings.map(embeddings_in).transpose()?,
        documents: r.documents,
        uris: r.uris,
        metadatas: r.metadatas.map(metadatas_in).transpose()?,
        include: include_in(r.include, r.included),
    })
}

#[derive(Deserialize)]
struct QueryResponseIn {
    ids: Vec<Vec<String>>,
    #[serde(default)]
    distances: Option<Vec<Vec<f32>>>,
    #[serde(default)]
    embeddings: Option<Vec<Vec<EmbeddingIn>>>,
    #[serde(default)]
    metadatas: Option<Vec<Vec<Value>>>,
    #[serde(default)]
    documents: Option<Vec<Vec<Option<String>>>>,
    #[serde(default)]
    uris: Option<Vec<Vec<Option<String>>>>,
    #[serde(default)]
    include: Option<Vec<String>>,
    #[serde(default)]
    included: Option<Vec<String>>,
}

/// Reads a query response of any line.
pub fn query_result_from_slice(body: &[u8]) -> Result<QueryResult> {
    let r: QueryResponseIn = serde_json::from_slice(body)
        .map_err(|e| Error::internal(format!("Unexpected query response from server: {e}")))?;
    Ok(QueryResult {
        ids: r.ids,
        distances: r.distances,
        embeddings: r.embeddings.map(|q| q.into_iter().map(embeddings_in).collect()).transpose()?,
        documents: r.documents,
        uris: r.uris,
        metadatas: r.metadatas.map(|q| q.into_iter().map(metadatas_in).collect()).transpose()?,
        include: include_in(r.include, r.included),
    })
}

// ------------------------------------------------------------------------------------------
// Errors

/// The error body every line understands: `{"error": <name>, "message": <text>}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Maps an error response (status and body) back to a [`chroma_types::Error`].
pub fn error_from_response(status: u16, body: &[u8]) -> Error {
    use chroma_types::ErrorKind as K;
    let text = String::from_utf8_lossy(body).to_string();
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let mut name = parsed.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).unwrap_or("").to_string();
    // API v1 (Chroma 0.4.x) sends the Python repr: {"error": "ValueError('Collection x does not exist.')"}.
    let mut repr_message = None;
    if let Some((n, rest)) = name.split_once('(') {
        if !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && rest.ends_with(')') {
            let inner = rest[..rest.len() - 1].trim();
            let inner = inner.strip_prefix(['\'', '"']).and_then(|i| i.strip_suffix(['\'', '"'])).unwrap_or(inner);
            repr_message = Some(inner.to_string());
            name = n.to_string();
        }
    }
    if name == "ValueError" {
        name = if repr_message.as_deref().is_some_and(|m| m.contains("does not exist")) {
            "NotFoundError"
        } else {
            "InvalidArgumentError"
        }
        .to_string();
    }
    let message = repr_message
        .or_else(|| parsed.as_ref().and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string)))
        .or_else(|| {
            parsed
                .as_ref()
                .and_then(|v| v.get("detail"))
                .map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string()))
        })
        .or_else(|| (!name.is_empty()).then(|| name.clone()))
        .unwrap_or_else(|| if text.is_empty() { format!("HTTP status {status}") } else { text.clone() });
    let kind = match name.as_str() {
        "NotFoundError" | "InvalidCollection" => K::NotFound,
        "InvalidDimension" => K::InvalidDimension,
        "DuplicateID" => K::DuplicateId,
        "UniqueConstraintError" | "IDAlreadyExists" => K::AlreadyExists,
        "BatchSizeExceededError" => K::BatchSizeExceeded,
        "AuthorizationError" | "AuthError" => K::Unauthorized,
        "InvalidArgumentError" | "InvalidUUID" => {
            if message.contains("expecting embedding with dimension")
                || message.contains("does not match collection dimensionality")
            {
                K::InvalidDimension
            } else if message.contains("Expected IDs to be unique") {
                K::DuplicateId
            } else {
                K::InvalidArgument
            }
        }
        _ => match status {
            400 | 422 => K::InvalidArgument,
            401 => K::Unauthorized,
            403 => K::Forbidden,
            404 => K::NotFound,
            409 => K::AlreadyExists,
            413 => K::BatchSizeExceeded,
            503 => K::Unavailable,
            _ => K::Internal,
        },
    };
    Error::new(kind, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        assert_eq!(decode_base64_embedding("AACAPwAAAEAAAEBA").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(encode_base64_embedding(&[1.0, 2.0]), "AACAPwAAAEA=");
        assert!(decode_base64_embedding("AACA").is_err());
        assert!(decode_base64_embedding("!!").is_err());
    }

    #[test]
    fn add_body_accepts_both_embedding_forms() {
        let b: AddBody = serde_json::from_value(json!({"ids": ["a", "b"], "embeddings": [[1, 2.5], "AACAPwAAAEA="],
            "metadatas": [{"k": 1}, null], "documents": ["x", null], "uris": null}))
        .unwrap();
        let r = b.into_request().unwrap();
        assert_eq!(r.embeddings, vec![vec![1.0, 2.5], vec![1.0, 2.0]]);
        assert_eq!(r.metadatas.as_ref().unwrap()[1], None);
        assert!(serde_json::from_value::<AddBody>(json!({"ids": ["a"], "embeddings": [[true]]})).is_err());
        let r2 = AddBody::from_request(&r, true).into_request().unwrap();
        assert_eq!(r, r2);
    }

    #[test]
    fn get_result_shapes() {
        let r = GetResult {
            ids: vec!["a".into()],
            documents: Some(vec![None]),
            include: vec![Include::Documents],
            ..Default::default()
        };
        let v04: Value = serde_json::from_str(&get_result_to_string(&r, Shape::V04).unwrap()).unwrap();
        assert_eq!(
            v04,
            json!({"ids": ["a"], "embeddings": null, "metadatas": null, "documents": [null], "uris": null, "data": null})
        );
        let v2: Value = serde_json::from_str(&get_result_to_string(&r, Shape::V2).unwrap()).unwrap();
        assert_eq!(v2["include"], json!(["documents"]));
        assert!(v2.get("data").is_none());
        let back = get_result_from_slice(get_result_to_string(&r, Shape::V2).unwrap().as_bytes()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn f32_stays_short() {
        let r = QueryResult {
            ids: vec![vec!["a".into()]],
            distances: Some(vec![vec![0.1]]),
            include: vec![Include::Distances],
            ..Default::default()
        };
        let s = query_result_to_string(&r, Shape::V2).unwrap();
        assert!(s.contains("[[0.1]]"), "{s}");
    }

    #[test]
    fn collection_shapes() {
        let c = Collection {
            id: Uuid::nil(),
            name: "abc".into(),
            tenant: "t".into(),
            database: "d".into(),
            metadata: None,
            dimension: Some(3),
            config: IndexConfig { num_threads: 2, ..IndexConfig::default() },
            version: 0,
            log_position: 0,
        };
        let v = collection_to_json(&c, Shape::V04);
        assert_eq!(v.as_object().unwrap().len(), 5);
        let v = collection_to_json(&c, Shape::V2);
        assert_eq!(v["configuration_json"]["_type"], "CollectionConfigurationInternal");
        assert_eq!(collection_from_json(&v).unwrap(), c);
    }

    #[test]
    fn errors_map_back() {
        use chroma_types::ErrorKind as K;
        assert_eq!(error_from_response(404, br#"{"error":"NotFoundError","message":"x"}"#).kind, K::NotFound);
        assert_eq!(error_from_response(409, br#"{"error":"ChromaError","message":"x"}"#).kind, K::AlreadyExists);
        assert_eq!(error_from_response(500, b"oops").message, "oops");
        let e = error_from_response(400, br#"{"error":"InvalidArgumentError","message":"Collection expecting embedding with dimension of 3, got 2"}"#);
        assert_eq!(e.kind, K::InvalidDimension);
        // API v1 (Chroma 0.4.x): the Python repr, status 500
        let e = error_from_response(500, br#"{"error":"ValueError('Collection nope does not exist.')"}"#);
        assert_eq!((e.kind, e.message.as_str()), (K::NotFound, "Collection nope does not exist."));
        assert_eq!(
            error_from_response(500, br#"{"error":"UniqueConstraintError('Collection abc already exists')"}"#).kind,
            K::AlreadyExists
        );
        assert_eq!(error_from_response(500, br#"{"error":"NotFoundError('Tenant zz not found')"}"#).kind, K::NotFound);
        assert_eq!(
            error_from_response(500, br#"{"error":"ValueError('Expected metadata to be a dict')"}"#).kind,
            K::InvalidArgument
        );
    }
}
