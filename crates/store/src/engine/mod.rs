//! The [`Engine`] type and its shared state. Its `impl` is split across this module's files
//! by concern:
//!
//! * [`open`](self::open): opening a folder or an in-memory store, the per-process registry;
//! * [`catalog`](self::catalog): tenants, databases and collections;
//! * [`write`](self::write) (with the pure planning in [`plan`](self::plan)): add, upsert,
//!   update, delete and the bulk load;
//! * [`read`](self::read): get, query, count and the filter-to-slots step, with the
//!   in-memory [`filter_index`](self::filter_index) that answers `where` filters;
//! * [`indexer`](self::indexer): loading the vector index, the background indexer, saving graphs;
//! * [`compact`](self::compact): compaction and vacuum;
//! * [`api`](self::api): the [`chroma_types::ChromaApi`] impl, one line per method.

mod api;
mod catalog;
mod compact;
mod filter_index;
mod fork;
mod indexer;
mod open;
mod plan;
mod pool;
mod read;
mod search;
mod sparse;
mod write;

pub use catalog::altered_config;
pub use compact::VacuumReport;
pub use indexer::GraphExport;
pub use write::PreparedBatch;

use crate::error::ResultExt;
use crate::folder;
use chroma_index::VectorIndex;
use chroma_types::metadata::metadata_to_json;
use chroma_types::{Collection, Error, IndexConfig, Metadata, Result, Settings};
use parking_lot::{Mutex, RwLock};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use uuid::Uuid;

/// The storage engine. Cheap to clone; clones share one open store.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

/// What the clones of one [`Engine`] share.
struct Inner {
    /// The write connection: every write runs under this lock (and, ephemeral, every read).
    conn: Mutex<Connection>,
    /// The read connections (persistent only; see [`pool`]).
    readers: Option<pool::ReadPool>,
    /// The data folder (`None`: ephemeral).
    root: Option<PathBuf>,
    settings: Settings,
    colls: Mutex<HashMap<Uuid, Arc<CollState>>>,
    /// Whether a large unindexed tail is linked by a background thread (see `spawn_indexer`).
    background_indexing: AtomicBool,
    /// Sparse indexes built from scratch (`sparse.rs`); writes keep built ones current.
    sparse_builds: AtomicU64,
    _lock: Option<folder::FolderLock>,
}

/// In-memory state of one collection.
#[derive(Default)]
struct CollState {
    /// Serialises writers of this collection (slot assignment must follow commit order).
    write: Mutex<()>,
    index: RwLock<IndexState>,
    /// A background indexer is running for this collection.
    indexing: AtomicBool,
    /// Sparse inverted indexes by metadata key (`sparse.rs`): built on first use, kept
    /// current by writes, which hold the write lock from before their commit until every
    /// index has the write.
    sparse: RwLock<sparse::SparseIndexes>,
    /// A version stepper is running for this collection (`indexer.rs`).
    stepping: AtomicBool,
    /// When the last write to this collection committed (the stepper waits for a quiet spell).
    last_write: Mutex<Option<std::time::Instant>>,
}

/// The in-memory vector index of a collection, once loaded.
#[derive(Default)]
struct IndexState {
    loaded: bool,
    index: Option<VectorIndex>,
    /// Slots covered by the graph file on disk.
    saved_slots: usize,
    /// The filter index (see [`filter_index`]): built by the first filtered query, kept up to
    /// date by writes under this state's lock, dropped with the vector index.
    filter: RwLock<Option<filter_index::FilterIndex>>,
}

/// A collection row with its storage bookkeeping.
#[derive(Clone)]
struct CollRow {
    cid: i64,
    coll: Collection,
    /// Vector slots used so far (live or not): the next new vector gets this slot.
    slot_count: u64,
    /// Which `vectors-<gen>` / `hnsw-<gen>` files are in force (see `compact`).
    generation: i64,
}

/// An existing record as read for a write.
#[derive(Clone, Debug)]
struct StoredRecord {
    rid: i64,
    slot: i64,
    document: Option<String>,
    uri: Option<String>,
    metadata: Option<Metadata>,
}

/// Parses a stored metadata column (`None` for an absent or empty map).
fn parse_metadata_text(text: Option<String>) -> Result<Option<Metadata>> {
    match text {
        None => Ok(None),
        Some(t) => {
            let v: serde_json::Value = serde_json::from_str(&t).context("stored metadata is not JSON")?;
            let m = chroma_types::metadata::metadata_from_json(&v)?;
            Ok(if m.is_empty() { None } else { Some(m) })
        }
    }
}

/// The stored text of a metadata map (`None` for an absent or empty map).
fn metadata_text(m: Option<&Metadata>) -> Option<String> {
    m.filter(|m| !m.is_empty()).map(|m| metadata_to_json(m).to_string())
}

/// Reads an id stored as text.
fn parse_uuid(text: &str, what: &str) -> Result<Uuid> {
    Uuid::parse_str(text).with_context(|| format!("stored {what} id"))
}

impl Engine {
    /// The data folder, if persistent.
    pub fn path(&self) -> Option<&Path> {
        self.inner.root.as_deref()
    }

    /// The settings this engine was opened with.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Saves every index graph that is behind its vectors (also done on drop).
    pub fn flush(&self) -> Result<()> {
        let colls: Vec<(Uuid, Arc<CollState>)> = self.inner.colls.lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        for (id, st) in colls {
            let Ok(row) = self.collection_row(id) else { continue };
            let mut g = st.index.write();
            self.save_graph_if_behind(&row, &mut g, 1)?;
        }
        Ok(())
    }

    /// Caps the database file at its current size plus `extra_pages` pages (`None`: lifts
    /// the cap), with `SQLite`'s `max_page_count` on the write connection: a write that needs
    /// more pages then fails with `SQLITE_FULL`, exactly as on a full disk. Returns the pages
    /// in use. For fault-injection tests.
    #[cfg(feature = "testing")]
    pub fn limit_database_pages(&self, extra_pages: Option<u64>) -> Result<u64> {
        let conn = self.inner.conn.lock();
        let used: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).context("reading page_count")?;
        // Lifted: SQLite's own default cap (a cap cannot be set below the pages in use).
        let cap = extra_pages.map_or(4_294_967_294, |n| used.unsigned_abs() + n);
        let _: i64 = conn
            .query_row(&format!("PRAGMA max_page_count = {cap}"), [], |r| r.get(0))
            .context("setting max_page_count")?;
        Ok(used.unsigned_abs())
    }

    /// The in-memory state of a collection (created on first use).
    fn state(&self, id: Uuid) -> Arc<CollState> {
        self.inner.colls.lock().entry(id).or_default().clone()
    }

    fn collection_row_in(conn: &Connection, id: Uuid) -> Result<CollRow> {
        let row = conn
            .query_row(
                "SELECT c.cid, c.name, d.tenant, d.name, c.metadata, c.config, c.dimension, c.version, c.log_position, c.slot_count, c.generation
                 FROM collections c JOIN databases d ON d.id = c.database_id WHERE c.id = ?1",
                [id.to_string()],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, Option<i64>>(6)?,
                        r.get::<_, i64>(7)?,
                        r.get::<_, i64>(8)?,
                        r.get::<_, i64>(9)?,
                        r.get::<_, i64>(10)?,
                    ))
                },
            )
            .optional()
            .context("reading collection")?;
        let Some((cid, name, tenant, database, md, config, dim, version, log_position, slot_count, generation)) = row
        else {
            return Err(Error::collection_not_found(&id.to_string()));
        };
        let config: IndexConfig = serde_json::from_str(&config).context("stored collection config")?;
        Ok(CollRow {
            cid,
            coll: Collection {
                id,
                name,
                tenant,
                database,
                metadata: parse_metadata_text(md)?,
                dimension: dim.map(|d| d as usize),
                config,
                version: version as u64,
                log_position: log_position as u64,
            },
            slot_count: slot_count as u64,
            generation,
        })
    }

    fn collection_row(&self, id: Uuid) -> Result<CollRow> {
        Self::collection_row_in(&*self.reader()?, id)
    }

    /// A connection for reads: one of the pool's (persistent), else the write connection.
    /// It sees every write committed before the call. Never call it while holding
    /// `self.inner.conn` (ephemeral: that is the same lock).
    fn reader(&self) -> Result<pool::ReadConn<'_>> {
        match &self.inner.readers {
            Some(p) => pool::ReadConn::pooled(p),
            None => Ok(pool::ReadConn::Shared(self.inner.conn.lock())),
        }
    }

    /// The folder of a collection's vector and graph files, if persistent.
    fn coll_dir(&self, id: &Uuid) -> Option<PathBuf> {
        self.inner.root.as_ref().map(|r| folder::collection_dir(r, id))
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Save graphs that are behind so the next open does not have to catch up.
        let Some(root) = self.root.clone() else { return };
        let colls: Vec<(Uuid, Arc<CollState>)> = self.colls.lock().drain().collect();
        let conn = self.conn.lock();
        for (id, st) in colls {
            let g = st.index.read();
            let Some(index) = g.index.as_ref() else { continue };
            if index.indexed() <= g.saved_slots {
                continue;
            }
            if let Ok(row) = Engine::collection_row_in(&conn, id) {
                let dir = folder::collection_dir(&root, &id);
                if let Err(e) = index.save_graph(&folder::graph_path(&dir, row.generation), row.coll.log_position) {
                    tracing::warn!(collection = %row.coll.name, error = %e, "could not save the index graph on close");
                }
            }
        }
    }
}
