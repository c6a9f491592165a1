//! The one API that every way into chroma-rs implements: the embedded engine (ephemeral or
//! persistent) and the HTTP client. The Rust `Client` type is a thin, friendlier front over a
//! `dyn ChromaApi`, and the same test suite runs against every implementation.

use crate::error::Result;
use crate::model::{
    AddRequest, Collection, CreateCollection, Database, DeleteRequest, GetRequest, GetResult, QueryRequest,
    QueryResult, Tenant, UpdateCollection, UpdateRequest,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How far a collection's indexes have caught up with its writes (1.x
/// `get_indexing_status`). chroma-rs counts record operations as Chroma's log does (each
/// record added, upserted, updated or deleted is one op; a fork inherits its source's count);
/// they are indexed once the collection's version has stepped past them (the background
/// indexer linked every vector and saved the graph). Searches see unindexed ops all the same.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IndexingStatus {
    /// Operations covered by the last version step.
    pub num_indexed_ops: u64,
    /// Operations written since.
    pub num_unindexed_ops: u64,
    /// Every operation written.
    pub total_ops: u64,
    /// `num_indexed_ops / total_ops`, 1.0 for an empty collection.
    pub op_indexing_progress: f64,
}

impl IndexingStatus {
    /// The status of a collection with `indexed` of `total` operations indexed.
    pub fn new(indexed: usize, total: usize) -> IndexingStatus {
        let indexed = indexed.min(total);
        IndexingStatus {
            num_indexed_ops: indexed as u64,
            num_unindexed_ops: (total - indexed) as u64,
            total_ops: total as u64,
            op_indexing_progress: if total == 0 { 1.0 } else { indexed as f64 / total as f64 },
        }
    }
}

/// The operations of Chroma's API, implemented by the engine and by the HTTP client.
pub trait ChromaApi: Send + Sync {
    /// Nanoseconds since the Unix epoch, as Chroma's heartbeat.
    fn heartbeat(&self) -> Result<u128>;
    /// The server's version string.
    fn version(&self) -> Result<String>;
    /// Largest number of records one write may carry.
    fn max_batch_size(&self) -> Result<usize>;
    /// Deletes everything. Refused (`Forbidden`) unless the settings allow it.
    fn reset(&self) -> Result<()>;

    /// Creates a tenant; `AlreadyExists` if the name is taken.
    fn create_tenant(&self, name: &str) -> Result<()>;
    /// A tenant by name; `NotFound` if there is none.
    fn get_tenant(&self, name: &str) -> Result<Tenant>;
    /// Tenants in creation order, paged.
    fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>>;
    /// Deletes a tenant that has no databases left.
    fn delete_tenant(&self, name: &str) -> Result<()>;

    /// Creates a database in `tenant`.
    fn create_database(&self, tenant: &str, name: &str) -> Result<Database>;
    /// A database by tenant and name.
    fn get_database(&self, tenant: &str, name: &str) -> Result<Database>;
    /// The databases of `tenant` in creation order, paged.
    fn list_databases(&self, tenant: &str, limit: Option<usize>, offset: usize) -> Result<Vec<Database>>;
    /// Deletes a database and every collection in it.
    fn delete_database(&self, tenant: &str, name: &str) -> Result<()>;

    /// Creates a collection (or returns the existing one when `req.get_or_create`).
    fn create_collection(&self, tenant: &str, database: &str, req: CreateCollection) -> Result<Collection>;
    /// A collection by name.
    fn get_collection(&self, tenant: &str, database: &str, name: &str) -> Result<Collection>;
    /// A collection by id, in any tenant or database.
    fn get_collection_by_id(&self, id: Uuid) -> Result<Collection>;
    /// Collections ordered by creation.
    fn list_collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Vec<Collection>>;
    /// How many collections `database` holds.
    fn count_collections(&self, tenant: &str, database: &str) -> Result<usize>;
    /// Renames a collection or replaces its metadata or mutable configuration.
    fn update_collection(&self, id: Uuid, req: UpdateCollection) -> Result<()>;
    /// Deletes a collection and its records.
    fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()>;
    /// Copies a collection (records, configuration, metadata) into a new one named
    /// `new_name` in the same database (1.x `collection.fork`).
    fn fork_collection(&self, id: Uuid, new_name: &str) -> Result<Collection>;
    /// How many forks share this collection's lineage (the collection it was forked from,
    /// transitively, and every fork of it), not counting the root itself.
    fn fork_count(&self, id: Uuid) -> Result<usize>;
    /// How far the collection's vector index has caught up with its writes.
    fn indexing_status(&self, id: Uuid) -> Result<IndexingStatus>;

    /// Adds records; ids that already exist are ignored (as in Chroma).
    fn add(&self, collection: Uuid, req: AddRequest) -> Result<()>;
    /// Inserts missing ids, updates existing ones (metadata merged key by key).
    fn upsert(&self, collection: Uuid, req: AddRequest) -> Result<()>;
    /// Updates existing ids; missing ids are ignored.
    fn update(&self, collection: Uuid, req: UpdateRequest) -> Result<()>;
    /// Returns the ids that were actually deleted. (0.4.x echoed the ids it was given for an
    /// ids-only delete; the HTTP edge does that for those clients.)
    fn delete(&self, collection: Uuid, req: DeleteRequest) -> Result<Vec<String>>;
    /// Records by id and/or filter, in insertion order.
    fn get(&self, collection: Uuid, req: GetRequest) -> Result<GetResult>;
    /// The nearest records to each query embedding, among those that match the filters.
    fn query(&self, collection: Uuid, req: QueryRequest) -> Result<QueryResult>;
    /// How many records the collection holds.
    fn count(&self, collection: Uuid) -> Result<usize>;
    /// [`count`](Self::count) at a 1.x read level: `index_only` may leave out the latest
    /// writes where a backend keeps them apart (a cluster node's cache); the default reads all.
    fn count_at(&self, collection: Uuid, read_level: crate::search::ReadLevel) -> Result<usize> {
        let _ = read_level; // one engine: every level reads every acknowledged write
        self.count(collection)
    }
    /// 1.x Search API: a batch of ranked, filtered, grouped searches.
    fn search(&self, collection: Uuid, req: crate::search::SearchRequest) -> Result<crate::search::SearchResult>;
}
