//! Tenants, databases, collections, and the request/result structs of record operations.

use crate::config::IndexConfig;
use crate::error::{Error, Result};
use crate::filter::{Dialect, Where, WhereDocument};
use crate::metadata::{Metadata, UpdateMetadata};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tenant {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    pub id: Uuid,
    pub name: String,
    pub tenant: String,
}

/// A collection as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub id: Uuid,
    pub name: String,
    pub tenant: String,
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
    pub name: String,
    pub metadata: Option<Metadata>,
    /// A 1.x or 0.5.x configuration object; `None` = defaults / `hnsw:*` metadata.
    pub configuration: Option<Value>,
    pub get_or_create: bool,
    /// A 1.x collection schema (see `IndexConfig::apply_schema`).
    pub schema: Option<Value>,
    /// Use this id instead of a new random one (the migration tool keeps ids). Only the
    /// embedded engine honours it; an id already in use is an error.
    pub id: Option<Uuid>,
}

impl CreateCollection {
    pub fn new(name: impl Into<String>) -> Self {
        CreateCollection { name: name.into(), ..Default::default() }
    }
    pub fn metadata(mut self, m: Metadata) -> Self {
        self.metadata = Some(m);
        self
    }
    pub fn configuration(mut self, c: Value) -> Self {
        self.configuration = Some(c);
        self
    }
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }
    pub fn get_or_create(mut self, yes: bool) -> Self {
        self.get_or_create = yes;
        self
    }
}

/// Arguments of `modify` on a collection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateCollection {
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
    pub ids: Vec<String>,
    pub embeddings: Vec<Vec<f32>>,
    pub documents: Option<Vec<Option<String>>>,
    pub uris: Option<Vec<Option<String>>>,
    /// `None` values delete a key on upsert and are dropped on add.
    pub metadatas: Option<Vec<Option<UpdateMetadata>>>,
}

impl AddRequest {
    pub fn new(ids: Vec<String>, embeddings: Vec<Vec<f32>>) -> Self {
        AddRequest { ids, embeddings, ..Default::default() }
    }
    pub fn documents(mut self, docs: Vec<Option<String>>) -> Self {
        self.documents = Some(docs);
        self
    }
    pub fn uris(mut self, uris: Vec<Option<String>>) -> Self {
        self.uris = Some(uris);
        self
    }
    pub fn metadatas(mut self, m: Vec<Option<Metadata>>) -> Self {
        self.metadatas =
            Some(m.into_iter().map(|m| m.map(|m| m.into_iter().map(|(k, v)| (k, Some(v))).collect())).collect());
        self
    }
}

/// Changes to existing records. Missing ids are ignored, as in Chroma.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateRequest {
    pub ids: Vec<String>,
    /// Per-record: `None` keeps the stored embedding.
    pub embeddings: Option<Vec<Option<Vec<f32>>>>,
    pub documents: Option<Vec<Option<String>>>,
    pub uris: Option<Vec<Option<String>>>,
    /// Merged key by key into the stored metadata; a `None` value deletes the key.
    pub metadatas: Option<Vec<Option<UpdateMetadata>>>,
}

/// Which record fields a `get` or `query` returns (`ids` always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Include {
    Documents,
    Embeddings,
    Metadatas,
    Distances,
    Uris,
    /// Client-side only in Chroma; accepted and ignored.
    Data,
}

impl Include {
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
    pub ids: Option<Vec<String>>,
    pub r#where: Option<Where>,
    pub where_document: Option<WhereDocument>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub include: Vec<Include>,
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
    pub query_embeddings: Vec<Vec<f32>>,
    pub n_results: usize,
    /// 1.x: restrict candidates to these ids.
    pub ids: Option<Vec<String>>,
    pub r#where: Option<Where>,
    pub where_document: Option<WhereDocument>,
    pub include: Vec<Include>,
    pub dialect: Dialect,
}

impl QueryRequest {
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

/// Arguments of `delete`. With none of ids/where/where_document it deletes nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeleteRequest {
    pub ids: Option<Vec<String>>,
    pub r#where: Option<Where>,
    pub where_document: Option<WhereDocument>,
    /// Delete at most this many of the matching records, oldest first (1.x). Only with a
    /// `where` or `where_document` filter; `Some(0)` deletes nothing.
    pub limit: Option<u32>,
    pub dialect: Dialect,
}

/// Result of `get`: columns, one entry per record; a column is `None` unless included.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GetResult {
    pub ids: Vec<String>,
    pub embeddings: Option<Vec<Vec<f32>>>,
    pub documents: Option<Vec<Option<String>>>,
    pub uris: Option<Vec<Option<String>>>,
    pub metadatas: Option<Vec<Option<Metadata>>>,
    pub include: Vec<Include>,
}

/// Result of `query`: one inner list per query embedding, nearest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryResult {
    pub ids: Vec<Vec<String>>,
    pub embeddings: Option<Vec<Vec<Vec<f32>>>>,
    pub documents: Option<Vec<Vec<Option<String>>>>,
    pub uris: Option<Vec<Vec<Option<String>>>>,
    pub metadatas: Option<Vec<Vec<Option<Metadata>>>>,
    pub distances: Option<Vec<Vec<f32>>>,
    pub include: Vec<Include>,
}
