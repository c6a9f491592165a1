//! The chroma-rs Rust client: one API over the embedded engine (ephemeral or persistent) and
//! over HTTP (a chroma-rs server, or a Chroma server speaking API v2, or v1 for 0.4.x / 0.5.x).
//!
//! [`Client`] mirrors Chroma's Python client (`create_collection`, `get_or_create_collection`,
//! `list_collections`, ...) and hands out [`Collection`] handles with `add`, `upsert`,
//! `update`, `delete`, `get`, `query`, `count`, `peek` and `modify`. Filters are written as
//! JSON, exactly as in Python:
//!
//! ```
//! use chroma_client::{Client, CollectionOptions, Get, Query, Records};
//! use serde_json::json;
//!
//! # fn main() -> chroma_types::Result<()> {
//! let client = Client::ephemeral()?;
//! let docs = client.get_or_create_collection("docs", CollectionOptions::new().metadata(json!({"hnsw:space": "cosine"})))?;
//! docs.add(
//!     Records::new(["a", "b"], vec![vec![1.0, 0.0], vec![0.0, 1.0]])
//!         .documents(["apples", "bananas"])
//!         .metadatas(vec![json!({"kind": "fruit", "n": 1}), json!({"kind": "fruit", "n": 2})]),
//! )?;
//! let hits = docs.query(Query::new(vec![vec![0.9, 0.1]]).n_results(1).r#where(json!({"n": {"$gte": 1}})))?;
//! assert_eq!(hits.ids, vec![vec!["a".to_string()]]);
//! let got = docs.get(Get::new().where_document(json!({"$contains": "nan"})))?;
//! assert_eq!(got.ids, vec!["b".to_string()]);
//! # Ok(())
//! # }
//! ```
//!
//! Modes: [`Client::ephemeral`] (in memory), [`Client::persistent`] (a data folder),
//! [`Client::http`] / [`Client::http_with`] (a server; token or basic auth and extra headers
//! through [`HttpOptions`]), and [`Client::from_api`] for any other [`ChromaApi`].
//! The [`wire`] module holds the JSON shapes of the HTTP API, shared with chroma-server.

pub mod http;
pub mod wire;

pub use chroma_types::{
    ChromaApi, Database, Error, ErrorKind, GetResult, Include, Metadata, QueryResult, Result, Settings, Space, Tenant,
};
pub use http::{ApiLine, HttpApi, HttpOptions, TokenTransport};

use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::metadata::{metadata_from_json, update_metadata_from_json};
use chroma_types::{
    AddRequest, CreateCollection, DeleteRequest, Dialect, GetRequest, QueryRequest, UpdateCollection, UpdateRequest,
};
use serde_json::Value;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

/// Entry point: a tenant and database on one backend.
#[derive(Clone)]
pub struct Client {
    api: Arc<dyn ChromaApi>,
    tenant: String,
    database: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("tenant", &self.tenant).field("database", &self.database).finish()
    }
}

impl Client {
    /// An in-memory database that disappears with the client (default settings).
    pub fn ephemeral() -> Result<Client> {
        Self::ephemeral_with(Settings::default())
    }

    pub fn ephemeral_with(settings: Settings) -> Result<Client> {
        Ok(Self::from_api(Arc::new(chroma_store::Engine::ephemeral(settings)?)))
    }

    /// Opens (or creates) a data folder.
    pub fn persistent(path: impl AsRef<Path>) -> Result<Client> {
        Self::persistent_with(path, Settings::default())
    }

    pub fn persistent_with(path: impl AsRef<Path>, settings: Settings) -> Result<Client> {
        Ok(Self::from_api(Arc::new(chroma_store::Engine::open(path.as_ref(), settings)?)))
    }

    /// A server at `url` (e.g. `http://localhost:8000`), API v2 (or v1 on older Chroma servers,
    /// see [`HttpApi`]). Checks that the default
    /// tenant and database exist, as Chroma's `HttpClient` does.
    pub fn http(url: &str) -> Result<Client> {
        Self::http_with(HttpOptions::new(url))
    }

    /// A server with headers / token / basic auth / timeout.
    pub fn http_with(options: HttpOptions) -> Result<Client> {
        let client = Self::from_api(Arc::new(HttpApi::new(options)?));
        client.check_scope()?;
        Ok(client)
    }

    /// Any implementation of the API (an engine shared with other code, a test double, ...).
    pub fn from_api(api: Arc<dyn ChromaApi>) -> Client {
        Client { api, tenant: chroma_types::DEFAULT_TENANT.into(), database: chroma_types::DEFAULT_DATABASE.into() }
    }

    /// The same backend, scoped to another tenant (database reset to the default).
    pub fn with_tenant(mut self, tenant: impl Into<String>) -> Client {
        self.tenant = tenant.into();
        self
    }

    /// The same backend, scoped to another database.
    pub fn with_database(mut self, database: impl Into<String>) -> Client {
        self.database = database.into();
        self
    }

    fn check_scope(&self) -> Result<()> {
        self.api.get_tenant(&self.tenant).map_err(|e| {
            Error::new(e.kind, format!("Could not connect to tenant {}. Are you sure it exists? ({e})", self.tenant))
        })?;
        self.api.get_database(&self.tenant, &self.database).map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "Could not connect to database {} for tenant {}. Are you sure it exists? ({e})",
                    self.database, self.tenant
                ),
            )
        })?;
        Ok(())
    }

    pub fn tenant(&self) -> &str {
        &self.tenant
    }
    pub fn database(&self) -> &str {
        &self.database
    }
    pub fn api(&self) -> &Arc<dyn ChromaApi> {
        &self.api
    }

    /// Nanoseconds since the Unix epoch, from the backend.
    pub fn heartbeat(&self) -> Result<u128> {
        self.api.heartbeat()
    }
    pub fn version(&self) -> Result<String> {
        self.api.version()
    }
    pub fn get_max_batch_size(&self) -> Result<usize> {
        self.api.max_batch_size()
    }
    /// Deletes everything (only when the settings allow reset).
    pub fn reset(&self) -> Result<()> {
        self.api.reset()
    }

    // ---- tenants and databases
    pub fn create_tenant(&self, name: &str) -> Result<()> {
        self.api.create_tenant(name)
    }
    pub fn get_tenant(&self, name: &str) -> Result<Tenant> {
        self.api.get_tenant(name)
    }
    pub fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        self.api.list_tenants(limit, offset)
    }
    pub fn delete_tenant(&self, name: &str) -> Result<()> {
        self.api.delete_tenant(name)
    }
    /// Creates a database in this client's tenant.
    pub fn create_database(&self, name: &str) -> Result<Database> {
        self.api.create_database(&self.tenant, name)
    }
    pub fn get_database(&self, name: &str) -> Result<Database> {
        self.api.get_database(&self.tenant, name)
    }
    pub fn list_databases(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        self.api.list_databases(&self.tenant, limit, offset)
    }
    pub fn delete_database(&self, name: &str) -> Result<()> {
        self.api.delete_database(&self.tenant, name)
    }

    // ---- collections
    fn handle(&self, c: chroma_types::Collection) -> Collection {
        Collection { api: self.api.clone(), model: c, dialect: Dialect::V1 }
    }

    fn create(&self, name: &str, options: CollectionOptions, get_or_create: bool) -> Result<Collection> {
        let metadata = match options.metadata {
            None | Some(Value::Null) => None,
            Some(v) => Some(metadata_from_json(&v)?),
        };
        let req = CreateCollection {
            name: name.to_string(),
            metadata,
            configuration: options.configuration,
            get_or_create,
            schema: None,
            id: None,
        };
        self.api.create_collection(&self.tenant, &self.database, req).map(|c| self.handle(c))
    }

    /// Creates a collection; an existing name is an error (`AlreadyExists`).
    pub fn create_collection(&self, name: &str, options: CollectionOptions) -> Result<Collection> {
        self.create(name, options, false)
    }

    /// Returns the collection named `name`, creating it when missing.
    pub fn get_or_create_collection(&self, name: &str, options: CollectionOptions) -> Result<Collection> {
        self.create(name, options, true)
    }

    pub fn get_collection(&self, name: &str) -> Result<Collection> {
        self.api.get_collection(&self.tenant, &self.database, name).map(|c| self.handle(c))
    }

    pub fn get_collection_by_id(&self, id: Uuid) -> Result<Collection> {
        self.api.get_collection_by_id(id).map(|c| self.handle(c))
    }

    /// Collections of this database, in creation order.
    pub fn list_collections(&self, limit: Option<usize>, offset: Option<usize>) -> Result<Vec<Collection>> {
        Ok(self
            .api
            .list_collections(&self.tenant, &self.database, limit, offset.unwrap_or(0))?
            .into_iter()
            .map(|c| self.handle(c))
            .collect())
    }

    pub fn count_collections(&self) -> Result<usize> {
        self.api.count_collections(&self.tenant, &self.database)
    }

    pub fn delete_collection(&self, name: &str) -> Result<()> {
        self.api.delete_collection(&self.tenant, &self.database, name)
    }
}

/// Optional arguments of `create_collection` / `get_or_create_collection`.
#[derive(Debug, Clone, Default)]
pub struct CollectionOptions {
    /// Collection metadata as a JSON object (`hnsw:*` keys set index parameters).
    pub metadata: Option<Value>,
    /// A Chroma 1.x configuration object, e.g. `{"hnsw": {"space": "cosine"}}`.
    pub configuration: Option<Value>,
}

impl CollectionOptions {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }
    pub fn configuration(mut self, configuration: Value) -> Self {
        self.configuration = Some(configuration);
        self
    }
    /// Shorthand for the distance function (`hnsw:space` in the metadata).
    pub fn space(mut self, space: Space) -> Self {
        let mut md = match self.metadata.take() {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        md.insert("hnsw:space".into(), Value::String(space.as_str().into()));
        self.metadata = Some(Value::Object(md));
        self
    }
}

fn record_metadatas(items: Option<Vec<Value>>) -> Result<Option<Vec<Option<chroma_types::UpdateMetadata>>>> {
    items
        .map(|ms| {
            ms.into_iter()
                .map(|m| match m {
                    Value::Null => Ok(None),
                    m => update_metadata_from_json(&m).map(Some),
                })
                .collect()
        })
        .transpose()
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

/// Records for `add` / `upsert`.
#[derive(Debug, Clone, Default)]
pub struct Records {
    pub ids: Vec<String>,
    pub embeddings: Vec<Vec<f32>>,
    pub documents: Option<Vec<Option<String>>>,
    pub uris: Option<Vec<Option<String>>>,
    /// One JSON object (or null) per record.
    pub metadatas: Option<Vec<Value>>,
}

impl Records {
    pub fn new<I, S>(ids: I, embeddings: Vec<Vec<f32>>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Records { ids: strings(ids), embeddings, ..Default::default() }
    }
    pub fn documents<I, S>(mut self, docs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.documents = Some(docs.into_iter().map(|d| Some(d.into())).collect());
        self
    }
    /// Documents where some records have none.
    pub fn optional_documents(mut self, docs: Vec<Option<String>>) -> Self {
        self.documents = Some(docs);
        self
    }
    pub fn uris(mut self, uris: Vec<Option<String>>) -> Self {
        self.uris = Some(uris);
        self
    }
    pub fn metadatas(mut self, metadatas: Vec<Value>) -> Self {
        self.metadatas = Some(metadatas);
        self
    }
    fn into_request(self) -> Result<AddRequest> {
        Ok(AddRequest {
            ids: self.ids,
            embeddings: self.embeddings,
            documents: self.documents,
            uris: self.uris,
            metadatas: record_metadatas(self.metadatas)?,
        })
    }
}

/// Changes for `update`: every column is optional; `null` metadata values delete keys.
#[derive(Debug, Clone, Default)]
pub struct Update {
    pub ids: Vec<String>,
    pub embeddings: Option<Vec<Option<Vec<f32>>>>,
    pub documents: Option<Vec<Option<String>>>,
    pub uris: Option<Vec<Option<String>>>,
    pub metadatas: Option<Vec<Value>>,
}

impl Update {
    pub fn new<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Update { ids: strings(ids), ..Default::default() }
    }
    pub fn embeddings(mut self, e: Vec<Vec<f32>>) -> Self {
        self.embeddings = Some(e.into_iter().map(Some).collect());
        self
    }
    pub fn documents<I, S>(mut self, docs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.documents = Some(docs.into_iter().map(|d| Some(d.into())).collect());
        self
    }
    pub fn uris(mut self, uris: Vec<Option<String>>) -> Self {
        self.uris = Some(uris);
        self
    }
    pub fn metadatas(mut self, metadatas: Vec<Value>) -> Self {
        self.metadatas = Some(metadatas);
        self
    }
    fn into_request(self) -> Result<UpdateRequest> {
        Ok(UpdateRequest {
            ids: self.ids,
            embeddings: self.embeddings,
            documents: self.documents,
            uris: self.uris,
            metadatas: record_metadatas(self.metadatas)?,
        })
    }
}

/// Arguments of `get`.
#[derive(Debug, Clone, Default)]
pub struct Get {
    pub ids: Option<Vec<String>>,
    pub r#where: Option<Value>,
    pub where_document: Option<Value>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    /// Default: metadatas and documents.
    pub include: Option<Vec<Include>>,
}

impl Get {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids = Some(strings(ids));
        self
    }
    /// A metadata filter, e.g. `json!({"a": {"$gt": 1}})`.
    pub fn r#where(mut self, filter: Value) -> Self {
        self.r#where = Some(filter);
        self
    }
    /// A document filter, e.g. `json!({"$contains": "rust"})`.
    pub fn where_document(mut self, filter: Value) -> Self {
        self.where_document = Some(filter);
        self
    }
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = Some(n);
        self
    }
    pub fn include(mut self, include: &[Include]) -> Self {
        self.include = Some(include.to_vec());
        self
    }
}

/// Arguments of `query`.
#[derive(Debug, Clone)]
pub struct Query {
    pub query_embeddings: Vec<Vec<f32>>,
    pub n_results: usize,
    pub ids: Option<Vec<String>>,
    pub r#where: Option<Value>,
    pub where_document: Option<Value>,
    /// Default: metadatas, documents and distances.
    pub include: Option<Vec<Include>>,
}

impl Query {
    /// Nearest neighbours of each embedding (10 unless [`Query::n_results`] says otherwise).
    pub fn new(query_embeddings: Vec<Vec<f32>>) -> Self {
        Query { query_embeddings, n_results: 10, ids: None, r#where: None, where_document: None, include: None }
    }
    pub fn n_results(mut self, n: usize) -> Self {
        self.n_results = n;
        self
    }
    /// Only consider these ids.
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids = Some(strings(ids));
        self
    }
    pub fn r#where(mut self, filter: Value) -> Self {
        self.r#where = Some(filter);
        self
    }
    pub fn where_document(mut self, filter: Value) -> Self {
        self.where_document = Some(filter);
        self
    }
    pub fn include(mut self, include: &[Include]) -> Self {
        self.include = Some(include.to_vec());
        self
    }
}

/// Arguments of `delete`: ids and/or filters (all given must match).
#[derive(Debug, Clone, Default)]
pub struct Delete {
    pub ids: Option<Vec<String>>,
    pub r#where: Option<Value>,
    pub where_document: Option<Value>,
    pub limit: Option<u32>,
}

impl Delete {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids = Some(strings(ids));
        self
    }
    pub fn r#where(mut self, filter: Value) -> Self {
        self.r#where = Some(filter);
        self
    }
    pub fn where_document(mut self, filter: Value) -> Self {
        self.where_document = Some(filter);
        self
    }
    /// Deletes at most `limit` of the matching records, oldest first (needs a filter).
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

/// A handle on one collection.
#[derive(Clone)]
pub struct Collection {
    api: Arc<dyn ChromaApi>,
    model: chroma_types::Collection,
    dialect: Dialect,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection").field("name", &self.model.name).field("id", &self.model.id).finish()
    }
}

impl Collection {
    pub fn id(&self) -> Uuid {
        self.model.id
    }
    pub fn name(&self) -> &str {
        &self.model.name
    }
    pub fn tenant(&self) -> &str {
        &self.model.tenant
    }
    pub fn database(&self) -> &str {
        &self.model.database
    }
    /// Metadata as of when this handle was fetched (or last modified through it).
    pub fn metadata(&self) -> Option<&Metadata> {
        self.model.metadata.as_ref()
    }
    /// Dimension as of when this handle was fetched.
    pub fn dimension(&self) -> Option<usize> {
        self.model.dimension
    }
    /// Index configuration (space, HNSW parameters).
    pub fn config(&self) -> &chroma_types::IndexConfig {
        &self.model.config
    }
    /// The stored collection record.
    pub fn model(&self) -> &chroma_types::Collection {
        &self.model
    }
    /// Use Chroma 0.4.x filter semantics (`$ne` skips records without the key, ...).
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    pub fn add(&self, records: Records) -> Result<()> {
        self.api.add(self.model.id, records.into_request()?)
    }
    pub fn upsert(&self, records: Records) -> Result<()> {
        self.api.upsert(self.model.id, records.into_request()?)
    }
    pub fn update(&self, update: Update) -> Result<()> {
        self.api.update(self.model.id, update.into_request()?)
    }
    /// Deletes matching records and returns the ids deleted (over HTTP: the ids that existed
    /// for an ids-only delete; otherwise one empty string per deleted record).
    pub fn delete(&self, delete: Delete) -> Result<Vec<String>> {
        let req = DeleteRequest {
            ids: delete.ids,
            r#where: parse_where(delete.r#where.as_ref())?,
            where_document: parse_where_document(delete.where_document.as_ref())?,
            limit: delete.limit,
            dialect: self.dialect,
        };
        self.api.delete(self.model.id, req)
    }
    pub fn get(&self, get: Get) -> Result<GetResult> {
        let req = GetRequest {
            ids: get.ids,
            r#where: parse_where(get.r#where.as_ref())?,
            where_document: parse_where_document(get.where_document.as_ref())?,
            limit: get.limit,
            offset: get.offset,
            include: get.include.unwrap_or_else(Include::get_default),
            dialect: self.dialect,
        };
        self.api.get(self.model.id, req)
    }
    pub fn query(&self, query: Query) -> Result<QueryResult> {
        if query.n_results == 0 {
            return Err(Error::invalid("Expected requested number of results to be a positive integer, got 0"));
        }
        let req = QueryRequest {
            query_embeddings: query.query_embeddings,
            n_results: query.n_results,
            ids: query.ids,
            r#where: parse_where(query.r#where.as_ref())?,
            where_document: parse_where_document(query.where_document.as_ref())?,
            include: query.include.unwrap_or_else(Include::query_default),
            dialect: self.dialect,
        };
        self.api.query(self.model.id, req)
    }
    pub fn count(&self) -> Result<usize> {
        self.api.count(self.model.id)
    }
    /// The first `limit` records with embeddings, metadatas and documents.
    pub fn peek(&self, limit: usize) -> Result<GetResult> {
        self.get(Get::new().limit(limit).include(&[Include::Embeddings, Include::Metadatas, Include::Documents]))
    }
    /// Renames and/or replaces the metadata (Chroma replaces the whole metadata).
    pub fn modify(&mut self, new_name: Option<&str>, new_metadata: Option<Value>) -> Result<()> {
        let new_metadata = match new_metadata {
            None | Some(Value::Null) => None,
            Some(v) => Some(metadata_from_json(&v)?),
        };
        let req = UpdateCollection {
            new_name: new_name.map(str::to_string),
            new_metadata: new_metadata.clone(),
            new_configuration: None,
        };
        self.api.update_collection(self.model.id, req)?;
        self.refresh()
    }
    /// Changes mutable configuration (e.g. `{"hnsw": {"ef_search": 200}}`).
    pub fn modify_configuration(&mut self, configuration: Value) -> Result<()> {
        let req = UpdateCollection { new_configuration: Some(configuration), ..Default::default() };
        self.api.update_collection(self.model.id, req)?;
        self.refresh()
    }
    /// Re-reads the collection record from the backend.
    pub fn refresh(&mut self) -> Result<()> {
        self.model = self.api.get_collection_by_id(self.model.id)?;
        Ok(())
    }
}
