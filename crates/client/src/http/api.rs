//! The [`ChromaApi`] calls of [`HttpApi`], each on API v2 or (older servers) v1.

use super::{json_body, pct, HttpApi};
use chroma_types::{
    AddRequest, ChromaApi, Collection, CreateCollection, Database, DeleteRequest, Error, ErrorKind, GetRequest,
    GetResult, IndexingStatus, QueryRequest, QueryResult, Result, Tenant, UpdateCollection, UpdateRequest,
};
use chroma_wire as wire;
use serde_json::Value;
use std::fmt::Write as _;
use uuid::Uuid;

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
            let _ = write!(q, "&limit={l}");
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
            let _ = write!(q, "&limit={l}");
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
            let _ = write!(q, "&limit={l}");
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

    fn fork_collection(&self, id: Uuid, new_name: &str) -> Result<Collection> {
        if self.v1()? {
            return Err(Self::v1_missing("Forking a collection"));
        }
        let body = json_body(&serde_json::json!({ "new_name": new_name }))?;
        self.collection(&self.json("POST", &self.coll_path(id, "fork")?, Some(body))?)
    }

    fn fork_count(&self, id: Uuid) -> Result<usize> {
        if self.v1()? {
            return Err(Self::v1_missing("Counting forks"));
        }
        let v = self.json("GET", &self.coll_path(id, "fork_count")?, None)?;
        as_usize(v.get("count").unwrap_or(&Value::Null), "fork count")
    }

    fn indexing_status(&self, id: Uuid) -> Result<IndexingStatus> {
        if self.v1()? {
            return Err(Self::v1_missing("Indexing status"));
        }
        let v = self.json("GET", &self.coll_path(id, "indexing_status")?, None)?;
        serde_json::from_value(v.clone())
            .map_err(|e| Error::internal(format!("Unexpected indexing status from server: {v}")).with_source(e))
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
            v => v.get("deleted").and_then(Value::as_u64).map_or(0, |n| n as usize),
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

    fn count_at(&self, collection: Uuid, read_level: chroma_types::search::ReadLevel) -> Result<usize> {
        if read_level == chroma_types::search::ReadLevel::IndexAndWal || self.v1()? {
            return self.count(collection); // the default, sent as the clients do: no parameter
        }
        let path = format!("{}?read_level={}", self.coll_path(collection, "count")?, read_level.as_str());
        as_usize(&self.json("GET", &path, None)?, "count")
    }

    fn search(
        &self,
        collection: Uuid,
        req: chroma_types::search::SearchRequest,
    ) -> Result<chroma_types::search::SearchResult> {
        let body = json_body(&wire::search::search_request_to_json(&req))?;
        let bytes = self.send("POST", &self.coll_path(collection, "search")?, Some(body))?;
        let v: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::internal_from("Cannot read the search result", e))?;
        wire::search::search_result_from_json(&v)
    }
}
