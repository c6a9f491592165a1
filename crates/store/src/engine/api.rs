//! [`ChromaApi`] for [`Engine`]: each method names the engine operation that implements it
//! (in `catalog.rs`, `write.rs` or `read.rs`).

use super::Engine;
use chroma_types::search::{SearchRequest, SearchResult};
use chroma_types::{
    AddRequest, ChromaApi, Collection, CreateCollection, Database, DeleteRequest, GetRequest, GetResult,
    IndexingStatus, QueryRequest, QueryResult, Result, Tenant, UpdateCollection, UpdateRequest,
};
use uuid::Uuid;

/// Nanoseconds since the Unix epoch (0 if the clock is before it).
fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

impl ChromaApi for Engine {
    fn heartbeat(&self) -> Result<u128> {
        Ok(now_nanos())
    }

    fn version(&self) -> Result<String> {
        Ok(chroma_types::VERSION.to_string())
    }

    fn max_batch_size(&self) -> Result<usize> {
        Ok(self.inner.settings.max_batch_size)
    }

    fn reset(&self) -> Result<()> {
        self.reset_store()
    }

    fn create_tenant(&self, name: &str) -> Result<()> {
        self.insert_tenant(name)
    }

    fn get_tenant(&self, name: &str) -> Result<Tenant> {
        self.tenant(name)
    }

    fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        self.tenants(limit, offset)
    }

    fn delete_tenant(&self, name: &str) -> Result<()> {
        self.remove_tenant(name)
    }

    fn create_database(&self, tenant: &str, name: &str) -> Result<Database> {
        self.insert_database(tenant, name)
    }

    fn get_database(&self, tenant: &str, name: &str) -> Result<Database> {
        self.database(tenant, name)
    }

    fn list_databases(&self, tenant: &str, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        self.databases(tenant, limit, offset)
    }

    fn delete_database(&self, tenant: &str, name: &str) -> Result<()> {
        self.remove_database(tenant, name)
    }

    fn create_collection(&self, tenant: &str, database: &str, req: CreateCollection) -> Result<Collection> {
        self.insert_collection(tenant, database, req)
    }

    fn get_collection(&self, tenant: &str, database: &str, name: &str) -> Result<Collection> {
        self.collection_named(tenant, database, name)
    }

    fn get_collection_by_id(&self, id: Uuid) -> Result<Collection> {
        Ok(self.collection_row(id)?.coll)
    }

    fn list_collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Vec<Collection>> {
        self.collections(tenant, database, limit, offset)
    }

    fn count_collections(&self, tenant: &str, database: &str) -> Result<usize> {
        self.collection_count(tenant, database)
    }

    fn update_collection(&self, id: Uuid, req: UpdateCollection) -> Result<()> {
        self.alter_collection(id, req)
    }

    fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        self.remove_collection(tenant, database, name)
    }

    fn fork_collection(&self, id: Uuid, new_name: &str) -> Result<Collection> {
        self.fork(id, new_name)
    }

    fn fork_count(&self, id: Uuid) -> Result<usize> {
        self.forks(id)
    }

    fn indexing_status(&self, id: Uuid) -> Result<IndexingStatus> {
        self.indexing(id)
    }

    fn add(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        self.add_records(collection, req)
    }

    fn upsert(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        self.upsert_records(collection, req)
    }

    fn update(&self, collection: Uuid, req: UpdateRequest) -> Result<()> {
        self.update_records(collection, req)
    }

    fn delete(&self, collection: Uuid, req: DeleteRequest) -> Result<Vec<String>> {
        self.delete_records(collection, &req)
    }

    fn get(&self, collection: Uuid, req: GetRequest) -> Result<GetResult> {
        self.get_records(collection, &req)
    }

    fn query(&self, collection: Uuid, req: QueryRequest) -> Result<QueryResult> {
        self.query_records(collection, &req)
    }

    fn count(&self, collection: Uuid) -> Result<usize> {
        self.count_records(collection)
    }

    fn search(&self, collection: Uuid, req: SearchRequest) -> Result<SearchResult> {
        self.search_records(collection, &req)
    }
}
