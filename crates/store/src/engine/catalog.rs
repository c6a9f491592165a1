//! The catalog: tenants, databases and collections (create, read, list, alter, remove), and
//! `reset`. Each method here is what one [`ChromaApi`](chroma_types::ChromaApi) method does
//! (see `api.rs`).

use super::{metadata_text, parse_uuid, Engine, IndexState};
use crate::error::{json_error, ResultExt};
use chroma_types::validate::page_bound;
use chroma_types::{
    validate, Collection, CreateCollection, Database, Error, ErrorKind, IndexConfig, Metadata, Result, Tenant,
    UpdateCollection, DEFAULT_DATABASE, DEFAULT_DATABASE_ID, DEFAULT_TENANT,
};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

impl Engine {
    pub(super) fn reset_store(&self) -> Result<()> {
        if !self.inner.settings.allow_reset {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "Resetting is not allowed by this configuration (set ALLOW_RESET=TRUE, or Settings { allow_reset: true, .. })",
            ));
        }
        let ids: Vec<Uuid> = {
            let conn = self.reader()?;
            let mut stmt = conn.prepare("SELECT id FROM collections").context("listing collections")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).context("listing collections")?;
            rows.filter_map(std::result::Result::ok).filter_map(|s| Uuid::parse_str(&s).ok()).collect()
        };
        // Several transactions: once the first has committed, the rest are not stopped by the
        // request's budget (a timeout must not leave half of it done).
        crate::budget::check()?;
        crate::budget::shielded(|| {
            ids.into_iter().try_for_each(|id| self.drop_collection(id))?;
            let mut conn = self.inner.conn.lock();
            let tx = conn.transaction().context("resetting")?;
            tx.execute(
                "DELETE FROM databases WHERE NOT (tenant = ?1 AND name = ?2)",
                params![DEFAULT_TENANT, DEFAULT_DATABASE],
            )
            .context("resetting")?;
            tx.execute("DELETE FROM tenants WHERE name != ?1", [DEFAULT_TENANT]).context("resetting")?;
            tx.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?1)", [DEFAULT_TENANT]).context("resetting")?;
            tx.execute(
                "INSERT OR IGNORE INTO databases (id, name, tenant) VALUES (?1, ?2, ?3)",
                params![DEFAULT_DATABASE_ID, DEFAULT_DATABASE, DEFAULT_TENANT],
            )
            .context("resetting")?;
            tx.commit().context("resetting")
        })
    }

    pub(super) fn insert_tenant(&self, name: &str) -> Result<()> {
        validate::tenant_name(name)?;
        let conn = self.inner.conn.lock();
        let n = conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?1)", [name]).context("creating tenant")?;
        if n == 0 {
            return Err(Error::exists(format!("Tenant {name} already exists")));
        }
        Ok(())
    }

    pub(super) fn tenant(&self, name: &str) -> Result<Tenant> {
        let conn = self.reader()?;
        conn.query_row("SELECT name FROM tenants WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .context("reading tenant")?
            .map(|name| Tenant { name })
            .ok_or_else(|| Error::not_found(format!("Tenant {name} not found")))
    }

    pub(super) fn tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        let conn = self.reader()?;
        let mut stmt =
            conn.prepare("SELECT name FROM tenants ORDER BY rowid LIMIT ?1 OFFSET ?2").context("listing tenants")?;
        let rows = stmt
            .query_map(params![limit.map_or(-1, page_bound), page_bound(offset)], |r| r.get(0))
            .context("listing tenants")?;
        rows.map(|r| r.map(|name| Tenant { name })).collect::<std::result::Result<_, _>>().context("listing tenants")
    }

    pub(super) fn remove_tenant(&self, name: &str) -> Result<()> {
        self.tenant(name)?;
        let n = self.databases(name, Some(1), 0)?.len();
        if n > 0 {
            return Err(Error::invalid(format!("Tenant {name} still has databases; delete them first")));
        }
        let conn = self.inner.conn.lock();
        conn.execute("DELETE FROM tenants WHERE name = ?1", [name]).context("deleting tenant")?;
        Ok(())
    }

    pub(super) fn insert_database(&self, tenant: &str, name: &str) -> Result<Database> {
        validate::database_name(name)?;
        self.tenant(tenant)?;
        let id = Uuid::new_v4();
        let conn = self.inner.conn.lock();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO databases (id, name, tenant) VALUES (?1, ?2, ?3)",
                params![id.to_string(), name, tenant],
            )
            .context("creating database")?;
        if n == 0 {
            return Err(Error::exists(format!("Database {name} already exists for tenant {tenant}")));
        }
        Ok(Database { id, name: name.to_string(), tenant: tenant.to_string() })
    }

    pub(super) fn database(&self, tenant: &str, name: &str) -> Result<Database> {
        let conn = self.reader()?;
        let id = Self::database_id(&conn, tenant, name)?;
        Ok(Database { id: parse_uuid(&id, "database")?, name: name.to_string(), tenant: tenant.to_string() })
    }

    pub(super) fn databases(&self, tenant: &str, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare("SELECT id, name FROM databases WHERE tenant = ?1 ORDER BY rowid LIMIT ?2 OFFSET ?3")
            .context("listing databases")?;
        let rows = stmt
            .query_map(params![tenant, limit.map_or(-1, page_bound), page_bound(offset)], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .context("listing databases")?;
        let mut out = Vec::new();
        for r in rows {
            let (id, name) = r.context("listing databases")?;
            out.push(Database { id: parse_uuid(&id, "database")?, name, tenant: tenant.to_string() });
        }
        Ok(out)
    }

    pub(super) fn remove_database(&self, tenant: &str, name: &str) -> Result<()> {
        let db_id = Self::database_id(&*self.reader()?, tenant, name)?;
        let ids: Vec<Uuid> = {
            let conn = self.reader()?;
            let mut stmt =
                conn.prepare("SELECT id FROM collections WHERE database_id = ?1").context("listing collections")?;
            let rows = stmt.query_map([&db_id], |r| r.get::<_, String>(0)).context("listing collections")?;
            rows.filter_map(std::result::Result::ok).filter_map(|s| Uuid::parse_str(&s).ok()).collect()
        };
        // Several transactions: once the first has committed, the rest are not stopped by the
        // request's budget (a timeout must not leave half of it done).
        crate::budget::check()?;
        crate::budget::shielded(|| {
            ids.into_iter().try_for_each(|id| self.drop_collection(id))?;
            let conn = self.inner.conn.lock();
            conn.execute("DELETE FROM databases WHERE id = ?1", [&db_id]).context("deleting database")?;
            Ok(())
        })
    }

    pub(super) fn insert_collection(&self, tenant: &str, database: &str, req: CreateCollection) -> Result<Collection> {
        validate::stored_collection_name(&req.name)?;
        let metadata = req.metadata.filter(|m| !m.is_empty());
        if let Some(m) = &metadata {
            validate::collection_metadata(m)?;
        }
        let config = IndexConfig::default()
            .apply_metadata(metadata.as_ref())?
            .apply_configuration(req.configuration.as_ref())?
            .apply_schema(req.schema.as_ref(), req.configuration.as_ref().and_then(|c| c.get("embedding_function")))?;
        self.insert_collection_with(tenant, database, CreateCollection { metadata, ..req }, &config)
    }

    /// Creates a collection whose effective configuration is already known (a cache of a
    /// collection kept elsewhere, as chroma-cluster's nodes hold): `req`'s configuration and
    /// schema are not read again.
    pub fn create_collection_with_config(
        &self,
        tenant: &str,
        database: &str,
        req: CreateCollection,
        config: &IndexConfig,
    ) -> Result<Collection> {
        validate::stored_collection_name(&req.name)?;
        self.insert_collection_with(tenant, database, req, config)
    }

    fn insert_collection_with(
        &self,
        tenant: &str,
        database: &str,
        req: CreateCollection,
        config: &IndexConfig,
    ) -> Result<Collection> {
        let metadata = req.metadata.filter(|m| !m.is_empty());
        let created = {
            let conn = self.inner.conn.lock();
            let db_id = Self::database_id(&conn, tenant, database)?;
            let existing: Option<String> = conn
                .query_row(
                    "SELECT id FROM collections WHERE database_id = ?1 AND name = ?2",
                    params![db_id, req.name],
                    |r| r.get(0),
                )
                .optional()
                .context("reading collection")?;
            if let Some(existing) = existing {
                if req.get_or_create {
                    // Read it under the same lock: a concurrent delete must not turn a found
                    // collection into "does not exist".
                    let id = parse_uuid(&existing, "collection")?;
                    return Ok(Self::collection_row_in(&conn, id)?.coll);
                }
                return Err(Error::exists(format!("Collection {} already exists", req.name)));
            }
            let id = req.id.unwrap_or_else(Uuid::new_v4);
            if req.id.is_some() {
                let taken: Option<String> = conn
                    .query_row("SELECT name FROM collections WHERE id = ?1", [id.to_string()], |r| r.get(0))
                    .optional()
                    .context("reading collection")?;
                if let Some(other) = taken {
                    return Err(Error::exists(format!("Collection id {id} is already used by collection {other}")));
                }
            }
            let config_text = serde_json::to_string(config).map_err(json_error)?;
            conn.execute(
                "INSERT INTO collections (id, name, database_id, metadata, config) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.to_string(), req.name, db_id, metadata_text(metadata.as_ref()), config_text],
            )
            .context("creating collection")?;
            Self::collection_row_in(&conn, id)?.coll
        };
        let st = self.state(created.id);
        st.index.write().loaded = true;
        Ok(created)
    }

    pub(super) fn collection_named(&self, tenant: &str, database: &str, name: &str) -> Result<Collection> {
        let id: String = {
            let conn = self.reader()?;
            let db_id = Self::database_id(&conn, tenant, database)?;
            conn.query_row(
                "SELECT id FROM collections WHERE database_id = ?1 AND name = ?2",
                params![db_id, name],
                |r| r.get(0),
            )
            .optional()
            .context("reading collection")?
            .ok_or_else(|| Error::collection_not_found(name))?
        };
        Ok(self.collection_row(parse_uuid(&id, "collection")?)?.coll)
    }

    pub(super) fn collections(
        &self,
        tenant: &str,
        database: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> Result<Vec<Collection>> {
        let ids: Vec<String> = {
            let conn = self.reader()?;
            let db_id = Self::database_id(&conn, tenant, database)?;
            let mut stmt = conn
                .prepare("SELECT id FROM collections WHERE database_id = ?1 ORDER BY cid LIMIT ?2 OFFSET ?3")
                .context("listing collections")?;
            let rows = stmt
                .query_map(params![db_id, limit.map_or(-1, page_bound), page_bound(offset)], |r| r.get(0))
                .context("listing collections")?;
            rows.collect::<std::result::Result<_, _>>().context("listing collections")?
        };
        ids.iter().map(|s| parse_uuid(s, "collection").and_then(|id| self.collection_row(id).map(|r| r.coll))).collect()
    }

    pub(super) fn collection_count(&self, tenant: &str, database: &str) -> Result<usize> {
        let conn = self.reader()?;
        let db_id = Self::database_id(&conn, tenant, database)?;
        conn.query_row("SELECT count(*) FROM collections WHERE database_id = ?1", [db_id], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .context("counting collections")
    }

    pub(super) fn alter_collection(&self, id: Uuid, req: UpdateCollection) -> Result<()> {
        let st = self.state(id);
        let _w = st.write.lock();
        let row = self.collection_row(id)?;
        if let Some(name) = &req.new_name {
            validate::stored_collection_name(name)?;
        }
        let new_metadata = req.new_metadata.map(|m| if m.is_empty() { None } else { Some(m) });
        if let Some(Some(m)) = &new_metadata {
            validate::collection_metadata(m)?;
        }
        let config = altered_config(
            &row.coll.config,
            new_metadata.as_ref().and_then(Option::as_ref),
            req.new_configuration.as_ref(),
        )?;
        {
            let conn = self.inner.conn.lock();
            if let Some(name) = &req.new_name {
                let taken: Option<String> = conn
                    .query_row(
                        "SELECT c2.id FROM collections c1 JOIN collections c2 ON c2.database_id = c1.database_id
                         WHERE c1.cid = ?1 AND c2.name = ?2 AND c2.cid != ?1",
                        params![row.cid, name],
                        |r| r.get(0),
                    )
                    .optional()
                    .context("renaming collection")?;
                if taken.is_some() {
                    return Err(Error::exists(format!("Collection {name} already exists")));
                }
            }
            let config_text = serde_json::to_string(&config).map_err(json_error)?;
            conn.execute(
                "UPDATE collections SET name = COALESCE(?2, name), metadata = CASE WHEN ?3 THEN ?4 ELSE metadata END,
                 config = ?5, version = version + 1 WHERE cid = ?1",
                params![
                    row.cid,
                    req.new_name,
                    new_metadata.is_some(),
                    new_metadata.as_ref().and_then(|m| metadata_text(m.as_ref())),
                    config_text
                ],
            )
            .context("updating collection")?;
        }
        if config.ef_search != row.coll.config.ef_search {
            if let Some(index) = st.index.write().index.as_mut() {
                index.set_ef_search(config.ef_search);
            }
        }
        Ok(())
    }

    pub(super) fn remove_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        let c = self.collection_named(tenant, database, name)?;
        self.drop_collection(c.id)
    }

    /// Removes every trace of a collection (rows, files, in-memory state).
    pub(super) fn drop_collection(&self, id: Uuid) -> Result<()> {
        let st = self.state(id);
        let _w = st.write.lock();
        {
            let mut conn = self.inner.conn.lock();
            let tx = conn.transaction().context("deleting collection")?;
            let cid: Option<i64> = tx
                .query_row("SELECT cid FROM collections WHERE id = ?1", [id.to_string()], |r| r.get(0))
                .optional()
                .context("deleting collection")?;
            if let Some(cid) = cid {
                tx.execute("DELETE FROM documents_fts WHERE rowid IN (SELECT rid FROM records WHERE cid = ?1)", [cid])
                    .context("deleting documents")?;
                tx.execute("DELETE FROM metadata_index WHERE cid = ?1", [cid]).context("deleting metadata")?;
                tx.execute("DELETE FROM records WHERE cid = ?1", [cid]).context("deleting records")?;
                tx.execute("DELETE FROM collections WHERE cid = ?1", [cid]).context("deleting collection")?;
            }
            crate::budget::check_before_commit()?;
            crate::budget::shielded(|| tx.commit()).context("deleting collection")?;
        }
        *st.index.write() = IndexState::default();
        st.sparse.write().clear();
        self.inner.colls.lock().remove(&id);
        // The collection is gone once the transaction commits; its files are only a cache of
        // it now. One left behind (a read-only folder, say) is swept on the next open.
        if let Some(dir) = self.coll_dir(&id) {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(folder = %dir.display(), error = %e, "could not remove the files of a deleted collection; they are removed on the next open");
                }
            }
        }
        Ok(())
    }

    fn database_id(conn: &Connection, tenant: &str, database: &str) -> Result<String> {
        conn.query_row("SELECT id FROM databases WHERE tenant = ?1 AND name = ?2", params![tenant, database], |r| {
            r.get(0)
        })
        .optional()
        .context("reading database")?
        .ok_or_else(|| {
            Error::not_found(format!("Database {database} not found for tenant {tenant}. Are you sure it exists?"))
        })
    }
}

/// The configuration after an update's metadata and configuration are applied; changing
/// the space, M or `ef_construction` of an existing collection is refused.
pub fn altered_config(
    current: &IndexConfig,
    new_metadata: Option<&Metadata>,
    new_configuration: Option<&serde_json::Value>,
) -> Result<IndexConfig> {
    let mut config = current.clone();
    if let Some(m) = new_metadata {
        let probe = IndexConfig::default().apply_metadata(Some(m))?;
        for key in ["hnsw:space", "hnsw:M", "hnsw:construction_ef"] {
            if m.contains_key(key) {
                let same = match key {
                    "hnsw:space" => probe.space == config.space,
                    "hnsw:M" => probe.m == config.m,
                    _ => probe.ef_construction == config.ef_construction,
                };
                if !same {
                    return Err(Error::invalid(format!(
                        "Changing {key} of a collection once it is created is not supported"
                    )));
                }
            }
        }
        config = config.apply_metadata(Some(m))?;
    }
    if let Some(cfg) = new_configuration {
        let before = config.clone();
        config = config.apply_configuration(Some(cfg))?;
        if config.space != before.space || config.m != before.m || config.ef_construction != before.ef_construction {
            return Err(Error::invalid(
                "Changing space, max_neighbors or ef_construction of a collection once it is created is not supported",
            ));
        }
    }
    Ok(config)
}
