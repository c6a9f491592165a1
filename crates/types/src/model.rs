//! Tenants, databases, collections, and the request/result structs of record operations.

use crate::config::IndexConfig;
use crate::error::{Error, Result};
use crate::filter::{Dialect, Where, WhereDocument};
use crate::metadata::{Metadata, UpdateMetadata};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A tenant: the top of the namespace (Chroma's `default_tenant` exists from the start).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's name (3 characters or more).
    pub name: String,
}

/// A database inside a tenant; collections live in databases.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    /// Stable id (the default database has the fixed all-zero id).
    pub id: Uuid,
    /// Name, unique within the tenant.
    pub name: String,
    /// The tenant that owns it.
    pub tenant: String,
}

/// A collection as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    /// Stable id, kept across renames (and across `chroma-rs migrate`).
    pub id: Uuid,
    /// Name, unique within the database.
    pub name: String,
    /// The tenant that owns it.
    pub tenant: String,
    /// The database that holds it.
    pub database: String,
    /// User metadata, including any `hnsw:*` keys given at creation. `None` when none was given.
    pub metadata: Option<Metadata>,
    /// Fixed by the first write that carries an embedding.
    pub dimension: Option<usize>,
    /// The effective index configuration.
    pub config: IndexConfig,
    /// Bumped on every modify.
    pub version: u64,
    /// Sequence number of the last write applied.
    pub log_position: u64,
}

/// Arguments of `create_collection` / `get_or_create_collection`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateCollection {
    /// Name of the collection to create (or get).
    pub name: String,
    /// User metadata; `hnsw:*` keys configure the index (0.4 style).
    pub metadata: Option<Metadata>,
    /// A 1.x or 0.5.x configuration object; `None` = defaults / `hnsw:*` metadata.
    pub configuration: Option<Value>,
    /// Return the existing collection of that name instead of failing.
    pub get_or_create: bool,
    /// A 1.x collection schema (see `IndexConfig::apply_schema`).
    pub schema: Option<Value>,
    /// Use this id instead of a new random one (the migration tool keeps ids). Only the
    /// embedded engine honours it; an id already in use is an error.
    pub id: Option<Uuid>,
}

impl CreateCollection {
    /// A request to create `name` with defaults.
    pub fn new(name: impl Into<String>) -> Self {
        CreateCollection { name: name.into(), ..Default::default() }
    }
    /// Sets the user metadata.
    #[must_use]
    pub fn metadata(mut self, m: Metadata) -> Self {
        self.metadata = Some(m);
        self
    }
    /// Sets the 1.x / 0.5.x configuration object.
    #[must_use]
    pub fn configuration(mut self, c: Value) -> Self {
        self.configuration = Some(c);
        self
    }
    /// Keeps `id` as the collection id (embedded engine only).
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }
    /// Returns the existing collection of that name instead of failing.
    #[must_use]
    pub fn get_or_create(mut self, yes: bool) -> Self {
        self.get_or_create = yes;
        self
    }
}

/// Arguments of `modify` on a collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateCollection {
    /// Renames the collection.
    pub new_name: Option<String>,
    /// Replaces the whole user metadata (as Chroma does).
    pub new_metadata: Option<Metadata>,
    /// 1.x `new_configuration`; only `ef_search` (and `num_threads`, `batch_size`,
    /// `sync_threshold`, `resize_factor`) may change after creation.
    pub new_configuration: Option<Value>,
}

/// Records to `add` or `upsert`. Every column but `ids` and `embeddings` is optional; when
/// present it must have one entry per id.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AddRequest {
    /// One id per record, unique within the request.
    pub ids: Vec<String>,
    /// One embedding per id, all of the collection's dimension.
    pub embeddings: Vec<Vec<f32>>,
    /// Document text per record.
    pub documents: Option<Vec<Option<String>>>,
    /// URI per record.
    pub uris: Option<Vec<Option<String>>>,
    /// `None` values delete a key on upsert and are dropped on add.
    pub metadatas: Option<Vec<Option<UpdateMetadata>>>,
    /// Whose rules the metadata keys follow ([`Dialect::legacy_metadata_keys`]); default 1.x.
    pub dialect: Dialect,
}

impl AddRequest {
    /// Records with ids and embeddings only.
    pub fn new(ids: Vec<String>, embeddings: Vec<Vec<f32>>) -> Self {
        AddRequest { ids, embeddings, ..Default::default() }
    }
    /// Sets the documents, one per id.
    #[must_use]
    pub fn documents(mut self, docs: Vec<Option<String>>) -> Self {
        self.documents = Some(docs);
        self
    }
    /// Sets the URIs, one per id.
    #[must_use]
    pub fn uris(mut self, uris: Vec<Option<String>>) -> Self {
        self.uris = Some(uris);
        self
    }
    /// Sets the metadata, one per id.
    #[must_use]
    pub fn metadatas(mut self, m: Vec<Option<Metadata>>) -> Self {
        self.metadatas =
            Some(m.into_iter().map(|m| m.map(|m| m.into_iter().map(|(k, v)| (k, Some(v))).collect())).collect());
        self
    }
}

/// Changes to existing records. Missing ids are ignored, as in Chroma.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateRequest {
    /// The records to change.
    pub ids: Vec<String>,
    /// Per-record: `None` keeps the stored embedding.
    pub embeddings: Option<Vec<Option<Vec<f32>>>>,
    /// Per-record: `None` keeps the stored document.
    pub documents: Option<Vec<Option<String>>>,
    /// Per-record: `None` keeps the stored URI.
    pub uris: Option<Vec<Option<String>>>,
    /// Merged key by key into the stored metadata; a `None` value deletes the key.
    pub metadatas: Option<Vec<Option<UpdateMetadata>>>,
    /// Whose rules the metadata keys follow ([`Dialect::legacy_metadata_keys`]); default 1.x.
    pub dialect: Dialect,
}

/// Which record fields a `get` or `query` returns (`ids` always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Include {
    /// The document text.
    Documents,
    /// The stored embedding.
    Embeddings,
    /// The metadata map.
    Metadatas,
    /// The distance to the query embedding (`query` only).
    Distances,
    /// The URI.
    Uris,
    /// Client-side only in Chroma; accepted and ignored.
    Data,
}

impl Include {
    /// Parses Chroma's name of an include item (`"documents"`, ...).
    pub fn parse(s: &str) -> Result<Include> {
        Ok(match s {
            "documents" => Include::Documents,
            "embeddings" => Include::Embeddings,
            "metadatas" => Include::Metadatas,
            "distances" => Include::Distances,
            "uris" => Include::Uris,
            "data" => Include::Data,
            other => {
                return Err(Error::invalid(format!(
                    "Expected include item to be one of documents, embeddings, metadatas, distances, uris, data, got {other}"
                )))
            }
        })
    }
    /// Chroma's name of this include item.
    pub fn as_str(self) -> &'static str {
        match self {
            Include::Documents => "documents",
            Include::Embeddings => "embeddings",
            Include::Metadatas => "metadatas",
            Include::Distances => "distances",
            Include::Uris => "uris",
            Include::Data => "data",
        }
    }
    /// Default of `get`.
    pub fn get_default() -> Vec<Include> {
        vec![Include::Metadatas, Include::Documents]
    }
    /// Default of `query`.
    pub fn query_default() -> Vec<Include> {
        vec![Include::Metadatas, Include::Documents, Include::Distances]
    }
}

/// Arguments of `get`.
#[derive(Debug, Clone, PartialEq)]
pub struct GetRequest {
    /// Only these ids (in this order when given).
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    pub r#where: Option<Where>,
    /// Document filter.
    pub where_document: Option<WhereDocument>,
    /// At most this many records.
    pub limit: Option<usize>,
    /// Skip this many matching records first.
    pub offset: Option<usize>,
    /// Which fields to return.
    pub include: Vec<Include>,
    /// The client line whose filter rules apply.
    pub dialect: Dialect,
}

impl Default for GetRequest {
    fn default() -> Self {
        GetRequest {
            ids: None,
            r#where: None,
            where_document: None,
            limit: None,
            offset: None,
            include: Include::get_default(),
            dialect: Dialect::default(),
        }
    }
}

/// Arguments of `query`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryRequest {
    /// One search per embedding.
    pub query_embeddings: Vec<Vec<f32>>,
    /// Nearest records to return per search.
    pub n_results: usize,
    /// 1.x: restrict candidates to these ids.
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    pub r#where: Option<Where>,
    /// Document filter.
    pub where_document: Option<WhereDocument>,
    /// Which fields to return.
    pub include: Vec<Include>,
    /// The client line whose filter rules apply.
    pub dialect: Dialect,
}

impl QueryRequest {
    /// `n_results` nearest records for each embedding, default include.
    pub fn new(query_embeddings: Vec<Vec<f32>>, n_results: usize) -> Self {
        QueryRequest {
            query_embeddings,
            n_results,
            ids: None,
            r#where: None,
            where_document: None,
            include: Include::query_default(),
            dialect: Dialect::default(),
        }
    }
}

/// Arguments of `delete`. With none of `ids/where/where_document` it deletes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteRequest {
    /// Delete these ids.
    pub ids: Option<Vec<String>>,
    /// Delete records whose metadata matches.
    pub r#where: Option<Where>,
    /// Delete records whose document matches.
    pub where_document: Option<WhereDocument>,
    /// Delete at most this many of the matching records, oldest first (1.x). Only with a
    /// `where` or `where_document` filter; `Some(0)` deletes nothing.
    pub limit: Option<u32>,
    /// The client line whose filter rules apply.
    pub dialect: Dialect,
}

/// Result of `get`: columns, one entry per record; a column is `None` unless included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetResult {
    /// Ids of the returned records.
    pub ids: Vec<String>,
    /// Embeddings, if included.
    pub embeddings: Option<Vec<Vec<f32>>>,
    /// Documents, if included.
    pub documents: Option<Vec<Option<String>>>,
    /// URIs, if included.
    pub uris: Option<Vec<Option<String>>>,
    /// Metadata, if included.
    pub metadatas: Option<Vec<Option<Metadata>>>,
    /// What was included, as asked.
    pub include: Vec<Include>,
}

/// Result of `query`: one inner list per query embedding, nearest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    /// Ids per query, nearest first.
    pub ids: Vec<Vec<String>>,
    /// Embeddings per query, if included.
    pub embeddings: Option<Vec<Vec<Vec<f32>>>>,
    /// Documents per query, if included.
    pub documents: Option<Vec<Vec<Option<String>>>>,
    /// URIs per query, if included.
    pub uris: Option<Vec<Vec<Option<String>>>>,
    /// Metadata per query, if included.
    pub metadatas: Option<Vec<Vec<Option<Metadata>>>>,
    /// Distances per query, if included.
    pub distances: Option<Vec<Vec<f32>>>,
    /// What was included, as asked.
    pub include: Vec<Include>,
}
