//! Tenants, databases and collections in PostgreSQL.

use crate::pg::{is_unique_violation, pg_err, Conn};
use chroma_types::metadata::{metadata_from_json, metadata_to_json};
use chroma_types::{
    validate, Collection, CreateCollection, Database, Error, IndexConfig, Metadata, Result, Tenant, UpdateCollection,
};
use postgres::types::Type;
use postgres::{GenericClient, Row};
use uuid::Uuid;

/// A collection's catalog row.
#[derive(Debug, Clone)]
pub struct CollRow {
    /// As the API shows it.
    pub coll: Collection,
    /// `config` without its schema keys (compared by caches to notice a changed configuration;
    /// the keys only change at creation, a new incarnation, and by discovery on write).
    pub config_text: String,
    /// Changes per creation (see the schema).
    pub incarnation: i64,
    /// Next insertion-order number.
    pub next_seq: i64,
}

const COLL_COLUMNS: &str = "c.id, c.name, d.tenant, d.name, c.metadata, c.config, c.dimension, c.version, \
     c.log_position, c.incarnation, c.next_seq";

fn page(limit: Option<usize>) -> Option<i64> {
    limit.map(validate::page_bound)
}

fn metadata_text(m: Option<&Metadata>) -> Option<String> {
    m.map(|m| metadata_to_json(m).to_string())
}

fn coll_row(r: &Row) -> Result<CollRow> {
    let metadata: Option<String> = r.get(4);
    let metadata = metadata
        .map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| Error::internal_from("reading collection metadata", e))
                .and_then(|v| metadata_from_json(&v))
        })
        .transpose()?;
    let stored: String = r.get(5);
    let config: IndexConfig =
        serde_json::from_str(&stored).map_err(|e| Error::internal_from("reading collection configuration", e))?;
    // The schema's keys change as writes discover metadata keys; every cache discovers them
    // itself from the same writes, so they are left out of what caches compare.
    let config_text = if config.schema_keys.is_some() {
        let mut index_only = config.clone();
        index_only.schema_keys = None;
        serde_json::to_string(&index_only).map_err(|e| Error::internal_from("encoding a configuration", e))?
    } else {
        stored
    };
    let dimension: Option<i32> = r.get(6);
    Ok(CollRow {
        coll: Collection {
            id: r.get(0),
            name: r.get(1),
            tenant: r.get(2),
            database: r.get(3),
            metadata,
            dimension: dimension.map(|d| d as usize),
            config,
            version: r.get::<_, i64>(7) as u64,
            log_position: r.get::<_, i64>(8) as u64,
        },
        config_text,
        incarnation: r.get(9),
        next_seq: r.get(10),
    })
}

/// A collection's row; `for_update` locks it until the transaction ends (every write does,
/// which orders the writes of one collection).
pub fn collection_row(c: &mut impl GenericClient, id: Uuid, for_update: bool) -> Result<CollRow> {
    let sql = format!(
        "SELECT {COLL_COLUMNS} FROM chroma_collections c JOIN chroma_databases d ON d.id = c.database_id WHERE c.id = $1{}",
        if for_update { " FOR UPDATE OF c" } else { "" }
    );
    // Every read and write starts here: typed parameters make it one round trip (a plain
    // query is three: prepare, execute, close).
    let row = c.query_typed_opt(&sql, &[(&id, Type::UUID)]).map_err(|e| pg_err("reading a collection", e))?;
    row.as_ref().map(coll_row).transpose()?.ok_or_else(|| Error::collection_not_found(&id.to_string()))
}

/// The statement of [`collection_row_prepared`].
const READ_ROW: &str = "SELECT c.id, c.name, d.tenant, d.name, c.metadata, c.config, c.dimension, c.version, \
     c.log_position, c.incarnation, c.next_seq FROM chroma_collections c JOIN chroma_databases d ON d.id = c.database_id \
     WHERE c.id = $1";

/// A collection's row, unlocked, by a statement prepared on the connection: every read asks
/// for it, so PostgreSQL neither parses nor plans it each time (one round trip, as typed).
pub fn collection_row_prepared(conn: &mut Conn<'_>, id: Uuid) -> Result<CollRow> {
    let st = conn.prepared(READ_ROW).map_err(|e| pg_err("reading a collection", e))?;
    let row = conn.query_opt(&st, &[&id]).map_err(|e| {
        conn.forget_prepared();
        pg_err("reading a collection", e)
    })?;
    row.as_ref().map(coll_row).transpose()?.ok_or_else(|| Error::collection_not_found(&id.to_string()))
}

fn database_id(c: &mut impl GenericClient, tenant: &str, database: &str) -> Result<Uuid> {
    c.query_opt("SELECT id FROM chroma_databases WHERE tenant = $1 AND name = $2", &[&tenant, &database])
        .map_err(|e| pg_err("reading a database", e))?
        .map(|r| r.get(0))
        .ok_or_else(|| {
            Error::not_found(format!("Database {database} not found for tenant {tenant}. Are you sure it exists?"))
        })
}

pub fn create_tenant(c: &mut impl GenericClient, name: &str) -> Result<()> {
    validate::tenant_name(name)?;
    let n = c
        .execute("INSERT INTO chroma_tenants (name) VALUES ($1) ON CONFLICT DO NOTHING", &[&name])
        .map_err(|e| pg_err("creating a tenant", e))?;
    if n == 0 {
        return Err(Error::exists(format!("Tenant {name} already exists")));
    }
    Ok(())
}

pub fn tenant(c: &mut impl GenericClient, name: &str) -> Result<Tenant> {
    c.query_opt("SELECT name FROM chroma_tenants WHERE name = $1", &[&name])
        .map_err(|e| pg_err("reading a tenant", e))?
        .map(|r| Tenant { name: r.get(0) })
        .ok_or_else(|| Error::not_found(format!("Tenant {name} not found")))
}

pub fn tenants(c: &mut impl GenericClient, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
    let rows = c
        .query(
            "SELECT name FROM chroma_tenants ORDER BY created LIMIT $1 OFFSET $2",
            &[&page(limit), &validate::page_bound(offset)],
        )
        .map_err(|e| pg_err("listing tenants", e))?;
    Ok(rows.iter().map(|r| Tenant { name: r.get(0) }).collect())
}

pub fn delete_tenant(c: &mut impl GenericClient, name: &str) -> Result<()> {
    tenant(c, name)?;
    if !databases(c, name, Some(1), 0)?.is_empty() {
        return Err(Error::invalid(format!("Tenant {name} still has databases; delete them first")));
    }
    c.execute("DELETE FROM chroma_tenants WHERE name = $1", &[&name]).map_err(|e| pg_err("deleting a tenant", e))?;
    Ok(())
}

pub fn create_database(c: &mut impl GenericClient, tenant_name: &str, name: &str) -> Result<Database> {
    validate::database_name(name)?;
    tenant(c, tenant_name)?;
    let id = Uuid::new_v4();
    let n = c
        .execute(
            "INSERT INTO chroma_databases (id, tenant, name) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            &[&id, &tenant_name, &name],
        )
        .map_err(|e| pg_err("creating a database", e))?;
    if n == 0 {
        return Err(Error::exists(format!("Database {name} already exists for tenant {tenant_name}")));
    }
    Ok(Database { id, name: name.to_string(), tenant: tenant_name.to_string() })
}

pub fn database(c: &mut impl GenericClient, tenant: &str, name: &str) -> Result<Database> {
    let id = database_id(c, tenant, name)?;
    Ok(Database { id, name: name.to_string(), tenant: tenant.to_string() })
}

pub fn databases(
    c: &mut impl GenericClient,
    tenant: &str,
    limit: Option<usize>,
    offset: usize,
) -> Result<Vec<Database>> {
    let rows = c
        .query(
            "SELECT id, name FROM chroma_databases WHERE tenant = $1 ORDER BY created LIMIT $2 OFFSET $3",
            &[&tenant, &page(limit), &validate::page_bound(offset)],
        )
        .map_err(|e| pg_err("listing databases", e))?;
    Ok(rows.iter().map(|r| Database { id: r.get(0), name: r.get(1), tenant: tenant.to_string() }).collect())
}

/// Deletes a collection's rows (catalog, records, log, saved graph).
pub fn drop_collection(c: &mut impl GenericClient, id: Uuid) -> Result<()> {
    for sql in [
        "DELETE FROM chroma_records WHERE collection_id = $1",
        "DELETE FROM chroma_log WHERE collection_id = $1",
        "DELETE FROM chroma_graph_chunks WHERE collection_id = $1",
        "DELETE FROM chroma_graphs WHERE collection_id = $1",
        "DELETE FROM chroma_collections WHERE id = $1",
    ] {
        c.execute(sql, &[&id]).map_err(|e| pg_err("deleting a collection", e))?;
    }
    c.execute("SELECT pg_notify('chroma_log', $1)", &[&format!("drop:{id}")])
        .map_err(|e| pg_err("deleting a collection", e))?;
    Ok(())
}

/// Deletes a database and its collections; returns the collections' ids.
pub fn delete_database(c: &mut impl GenericClient, tenant: &str, name: &str) -> Result<Vec<Uuid>> {
    let db = database_id(c, tenant, name)?;
    let ids: Vec<Uuid> = c
        .query("SELECT id FROM chroma_collections WHERE database_id = $1 FOR UPDATE", &[&db])
        .map_err(|e| pg_err("deleting a database", e))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    for id in &ids {
        drop_collection(c, *id)?;
    }
    c.execute("DELETE FROM chroma_databases WHERE id = $1", &[&db]).map_err(|e| pg_err("deleting a database", e))?;
    Ok(ids)
}

/// `create_collection`, in the caller's transaction. `Ok(None)` after a unique violation
/// (a concurrent create of the same name): the caller retries.
pub fn create_collection(
    c: &mut impl GenericClient,
    tenant: &str,
    database: &str,
    req: &CreateCollection,
) -> Result<Option<Collection>> {
    validate::stored_collection_name(&req.name)?;
    let metadata = req.metadata.clone().filter(|m| !m.is_empty());
    if let Some(m) = &metadata {
        validate::collection_metadata(m)?;
    }
    let config = IndexConfig::default()
        .apply_metadata(metadata.as_ref())?
        .apply_configuration(req.configuration.as_ref())?
        .apply_schema(req.schema.as_ref(), req.configuration.as_ref().and_then(|c| c.get("embedding_function")))?;
    let db = database_id(c, tenant, database)?;
    let existing: Option<Uuid> = c
        .query_opt("SELECT id FROM chroma_collections WHERE database_id = $1 AND name = $2", &[&db, &req.name])
        .map_err(|e| pg_err("reading a collection", e))?
        .map(|r| r.get(0));
    if let Some(existing) = existing {
        if req.get_or_create {
            return match collection_row(c, existing, false) {
                Ok(row) => Ok(Some(row.coll)),
                // deleted since the name was read: the caller tries again
                Err(e) if e.kind == chroma_types::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            };
        }
        return Err(Error::exists(format!("Collection {} already exists", req.name)));
    }
    let id = req.id.unwrap_or_else(Uuid::new_v4);
    if req.id.is_some() {
        let taken: Option<String> = c
            .query_opt("SELECT name FROM chroma_collections WHERE id = $1", &[&id])
            .map_err(|e| pg_err("reading a collection", e))?
            .map(|r| r.get(0));
        if let Some(other) = taken {
            return Err(Error::exists(format!("Collection id {id} is already used by collection {other}")));
        }
    }
    let config_text =
        serde_json::to_string(&config).map_err(|e| Error::internal_from("encoding a configuration", e))?;
    match c.execute(
        "INSERT INTO chroma_collections (id, database_id, name, metadata, config) VALUES ($1, $2, $3, $4, $5)",
        &[&id, &db, &req.name, &metadata_text(metadata.as_ref()), &config_text],
    ) {
        Ok(_) => Ok(Some(collection_row(c, id, false)?.coll)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(pg_err("creating a collection", e)),
    }
}

pub fn collection_named(c: &mut impl GenericClient, tenant: &str, database: &str, name: &str) -> Result<Collection> {
    let db = database_id(c, tenant, database)?;
    let id: Uuid = c
        .query_opt("SELECT id FROM chroma_collections WHERE database_id = $1 AND name = $2", &[&db, &name])
        .map_err(|e| pg_err("reading a collection", e))?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::collection_not_found(name))?;
    Ok(collection_row(c, id, false)?.coll)
}

pub fn collections(
    c: &mut impl GenericClient,
    tenant: &str,
    database: &str,
    limit: Option<usize>,
    offset: usize,
) -> Result<Vec<Collection>> {
    let db = database_id(c, tenant, database)?;
    let sql = format!(
        "SELECT {COLL_COLUMNS} FROM chroma_collections c JOIN chroma_databases d ON d.id = c.database_id
         WHERE c.database_id = $1 ORDER BY c.incarnation LIMIT $2 OFFSET $3"
    );
    let rows = c
        .query(&sql, &[&db, &page(limit), &validate::page_bound(offset)])
        .map_err(|e| pg_err("listing collections", e))?;
    rows.iter().map(|r| coll_row(r).map(|r| r.coll)).collect()
}

pub fn count_collections(c: &mut impl GenericClient, tenant: &str, database: &str) -> Result<usize> {
    let db = database_id(c, tenant, database)?;
    let n: i64 = c
        .query_one("SELECT count(*) FROM chroma_collections WHERE database_id = $1", &[&db])
        .map_err(|e| pg_err("counting collections", e))?
        .get(0);
    Ok(n as usize)
}

pub fn update_collection(c: &mut impl GenericClient, id: Uuid, req: UpdateCollection) -> Result<()> {
    let row = collection_row(c, id, true)?;
    if let Some(name) = &req.new_name {
        validate::stored_collection_name(name)?;
    }
    let new_metadata = req.new_metadata.map(|m| if m.is_empty() { None } else { Some(m) });
    if let Some(Some(m)) = &new_metadata {
        validate::collection_metadata(m)?;
    }
    let config = chroma_store::altered_config(
        &row.coll.config,
        new_metadata.as_ref().and_then(Option::as_ref),
        req.new_configuration.as_ref(),
    )?;
    if let Some(name) = &req.new_name {
        let taken = c
            .query_opt(
                "SELECT 1 FROM chroma_collections WHERE database_id = (SELECT database_id FROM chroma_collections WHERE id = $1)
                 AND name = $2 AND id != $1",
                &[&id, name],
            )
            .map_err(|e| pg_err("renaming a collection", e))?;
        if taken.is_some() {
            return Err(Error::exists(format!("Collection {name} already exists")));
        }
    }
    let config_text =
        serde_json::to_string(&config).map_err(|e| Error::internal_from("encoding a configuration", e))?;
    let set_metadata = new_metadata.is_some();
    let metadata = new_metadata.as_ref().and_then(|m| metadata_text(m.as_ref()));
    c.execute(
        "UPDATE chroma_collections SET name = COALESCE($2, name), metadata = CASE WHEN $3 THEN $4 ELSE metadata END,
         config = $5, version = version + 1 WHERE id = $1",
        &[&id, &req.new_name, &set_metadata, &metadata, &config_text],
    )
    .map_err(|e| match e {
        e if is_unique_violation(&e) => {
            Error::exists(format!("Collection {} already exists", req.new_name.clone().unwrap_or_default()))
        }
        e => pg_err("updating a collection", e),
    })?;
    Ok(())
}

/// Copies collection `id` (rows and records) into a new collection `new_name`.
pub fn fork_collection(c: &mut impl GenericClient, id: Uuid, new_name: &str) -> Result<Collection> {
    validate::stored_collection_name(new_name)?;
    collection_row(c, id, true)?;
    let taken = c
        .query_opt(
            "SELECT 1 FROM chroma_collections WHERE database_id = (SELECT database_id FROM chroma_collections WHERE id = $1)
             AND name = $2",
            &[&id, &new_name],
        )
        .map_err(|e| pg_err("forking a collection", e))?;
    if taken.is_some() {
        return Err(Error::exists(format!("Collection {new_name} already exists")));
    }
    let new_id = Uuid::new_v4();
    // The fork starts at the source's log position with an empty log of its own: its cache is
    // loaded from its records, and later changes continue the numbering.
    c.execute(
        "INSERT INTO chroma_collections (id, database_id, name, metadata, config, dimension, version, log_position, next_seq, lineage)
         SELECT $2, database_id, $3, metadata, config, dimension, version, log_position, next_seq, COALESCE(lineage, id)
         FROM chroma_collections WHERE id = $1",
        &[&id, &new_id, &new_name],
    )
    .map_err(|e| pg_err("forking a collection", e))?;
    c.execute(
        "INSERT INTO chroma_records (collection_id, id, seq, embedding, document, uri, metadata)
         SELECT $2, id, seq, embedding, document, uri, metadata FROM chroma_records WHERE collection_id = $1",
        &[&id, &new_id],
    )
    .map_err(|e| pg_err("forking a collection", e))?;
    Ok(collection_row(c, new_id, false)?.coll)
}

pub fn fork_count(c: &mut impl GenericClient, id: Uuid) -> Result<usize> {
    let root: Uuid = c
        .query_opt("SELECT COALESCE(lineage, id) FROM chroma_collections WHERE id = $1", &[&id])
        .map_err(|e| pg_err("reading a collection", e))?
        .map(|r| r.get(0))
        .ok_or_else(|| Error::collection_not_found(&id.to_string()))?;
    let n: i64 = c
        .query_one("SELECT count(*) FROM chroma_collections WHERE lineage = $1", &[&root])
        .map_err(|e| pg_err("counting forks", e))?
        .get(0);
    Ok(n as usize)
}

/// Empties every table and puts the default tenant and database back.
pub fn reset(c: &mut impl GenericClient) -> Result<()> {
    c.batch_execute(
        "TRUNCATE chroma_records, chroma_log, chroma_graph_chunks, chroma_graphs, chroma_collections, chroma_databases, chroma_tenants;
         INSERT INTO chroma_tenants (name) VALUES ('default_tenant');
         INSERT INTO chroma_databases (id, tenant, name) VALUES ('00000000-0000-0000-0000-000000000000', 'default_tenant', 'default_database');
         SELECT pg_notify('chroma_log', 'reset');",
    )
    .map_err(|e| pg_err("resetting", e))
}
