//! Storage engine of chroma-rs: SQLite schema and migrations, vector files, the engine behind
//! every client.
//!
//! [`Engine`] implements [`chroma_types::ChromaApi`]. It runs in two modes with one code
//! path: **ephemeral** (SQLite in memory, vectors only in the in-memory index) and
//! **persistent** (a data folder, see [`folder`]). SQLite holds tenants, databases,
//! collections, records, documents and typed metadata rows (so `where` runs as indexed SQL,
//! see [`sqlfilter`]) plus a trigram FTS5 table for `where_document`. Vectors live in one
//! append-only float32 file per collection, made durable before the SQLite transaction that
//! refers to them commits; the HNSW graph beside it is a cache rebuilt or caught up on load.
//! `docs/design.md` describes the write and read paths and the crash invariants.

mod compact;
pub mod folder;
pub mod schema;
pub mod sqlfilter;

use chroma_index::{Filter, HnswParams, VectorIndex};
use chroma_types::metadata::{merge_metadata, metadata_to_json, UpdateMetadata};
use chroma_types::{
    validate, AddRequest, ChromaApi, Collection, CreateCollection, Database, DeleteRequest, Error, ErrorKind,
    GetRequest, GetResult, Include, IndexConfig, Metadata, MetadataValue, QueryRequest, QueryResult, Result, Settings,
    Space, Tenant, UpdateCollection, UpdateRequest, DEFAULT_DATABASE, DEFAULT_DATABASE_ID, DEFAULT_TENANT,
};
use parking_lot::{Mutex, RwLock};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use uuid::Uuid;

pub use compact::VacuumReport;

/// Unlinked vectors found on load up to this many are linked before the load returns;
/// more are linked in the background.
const INLINE_INDEX_MAX: usize = 2048;
/// Appends of at least this many floats write the vector file on a second thread.
const PARALLEL_VECTOR_WRITE: usize = 1 << 18;
/// Slots the background indexer links per step (a writer waits at most one step).
const INDEX_STEP: usize = 1024;

/// The storage engine. Cheap to clone; clones share one open store.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    conn: Mutex<Connection>,
    root: Option<PathBuf>,
    settings: Settings,
    colls: Mutex<HashMap<Uuid, Arc<CollState>>>,
    /// Whether a large unindexed tail is linked by a background thread (see `spawn_indexer`).
    background_indexing: AtomicBool,
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
}

#[derive(Default)]
struct IndexState {
    loaded: bool,
    index: Option<VectorIndex>,
    /// Slots covered by the graph file on disk.
    saved_slots: usize,
}

/// A collection row with its storage bookkeeping.
#[derive(Clone)]
struct CollRow {
    cid: i64,
    coll: Collection,
    slot_count: u64,
    generation: i64,
}

/// An existing record as read for a write.
struct StoredRecord {
    rid: i64,
    slot: i64,
    document: Option<String>,
    uri: Option<String>,
    metadata: Option<Metadata>,
}

fn sql(context: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |e| Error::internal(format!("{context}: {e}"))
}

fn registry() -> &'static Mutex<HashMap<PathBuf, Weak<Inner>>> {
    static R: OnceLock<Mutex<HashMap<PathBuf, Weak<Inner>>>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(HashMap::new()))
}

fn to_index_space(s: Space) -> chroma_index::Space {
    match s {
        Space::L2 => chroma_index::Space::L2,
        Space::Ip => chroma_index::Space::InnerProduct,
        Space::Cosine => chroma_index::Space::Cosine,
    }
}

fn hnsw_params(c: &IndexConfig) -> HnswParams {
    HnswParams {
        m: c.m,
        ef_construction: c.ef_construction,
        ef_search: c.ef_search,
        num_threads: c.num_threads,
        resize_factor: c.resize_factor,
    }
}

fn index_err(e: chroma_index::IndexError) -> Error {
    match e {
        chroma_index::IndexError::DimensionMismatch { expected, got } => Error::dimension(expected, got),
        chroma_index::IndexError::NonFinite { .. } => Error::invalid(format!("{e}")),
        other => Error::internal(format!("vector index: {other}")),
    }
}

fn parse_metadata_text(text: Option<String>) -> Result<Option<Metadata>> {
    match text {
        None => Ok(None),
        Some(t) => {
            let v: serde_json::Value =
                serde_json::from_str(&t).map_err(|e| Error::internal(format!("stored metadata is not JSON: {e}")))?;
            let m = chroma_types::metadata::metadata_from_json(&v)?;
            Ok(if m.is_empty() { None } else { Some(m) })
        }
    }
}

fn metadata_text(m: &Option<Metadata>) -> Option<String> {
    m.as_ref().filter(|m| !m.is_empty()).map(|m| metadata_to_json(m).to_string())
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function("chroma_regexp", 2, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
        thread_local! {
            static CACHE: std::cell::RefCell<HashMap<String, regex::Regex>> = std::cell::RefCell::new(HashMap::new());
        }
        let pattern: String = ctx.get(0)?;
        let text: Option<String> = ctx.get(1)?;
        let Some(text) = text else { return Ok(false) };
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if !c.contains_key(&pattern) {
                let re = regex::Regex::new(&pattern).map_err(|e| rusqlite::Error::UserFunctionError(Box::new(e)))?;
                if c.len() > 256 {
                    c.clear();
                }
                c.insert(pattern.clone(), re);
            }
            Ok(c.get(&pattern).is_some_and(|re| re.is_match(&text)))
        })
    })
    .map_err(sql("registering functions"))
}

fn configure(conn: &Connection, persistent: bool) -> Result<()> {
    if persistent {
        // WAL + synchronous=FULL: a committed transaction survives a crash or power loss.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sql("setting WAL mode"))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sql("setting synchronous"))?;
        // 64 MiB page cache (default 2 MiB): index pages of large collections stay in memory.
        conn.pragma_update(None, "cache_size", -65536).map_err(sql("setting cache size"))?;
    }
    conn.pragma_update(None, "foreign_keys", "ON").map_err(sql("enabling foreign keys"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(sql("setting busy timeout"))?;
    register_functions(conn)
}

impl Engine {
    /// An in-memory store; everything is gone when the last clone is dropped.
    pub fn ephemeral(settings: Settings) -> Result<Engine> {
        let mut conn = Connection::open_in_memory().map_err(sql("opening in-memory SQLite"))?;
        configure(&conn, false)?;
        schema::migrate(&mut conn, schema::current_version())?;
        Ok(Engine {
            inner: Arc::new(Inner {
                conn: Mutex::new(conn),
                root: None,
                settings,
                colls: Mutex::new(HashMap::new()),
                background_indexing: AtomicBool::new(true),
                _lock: None,
            }),
        })
    }

    /// Opens (or creates) a data folder. A folder already open in this process is shared.
    /// Refuses, without touching it, a folder that holds legacy Chroma data, one written by a
    /// newer chroma-rs, or one held by another process.
    pub fn open(path: &Path, settings: Settings) -> Result<Engine> {
        Self::open_at_version(path, settings, schema::current_version())
    }

    /// As [`open`](Self::open), applying migrations only up to `version` (for upgrade tests).
    pub fn open_at_version(path: &Path, settings: Settings, version: i64) -> Result<Engine> {
        let kind = folder::detect(path)?;
        if matches!(kind, folder::FolderKind::Chroma03Parquet | folder::FolderKind::Chroma04Plus) {
            return Err(folder::legacy_error(path, &kind));
        }
        std::fs::create_dir_all(path)
            .map_err(|e| Error::internal(format!("creating data folder {}: {e}", path.display())))?;
        let canonical =
            path.canonicalize().map_err(|e| Error::internal(format!("resolving {}: {e}", path.display())))?;
        let mut reg = registry().lock();
        if let Some(inner) = reg.get(&canonical).and_then(Weak::upgrade) {
            if inner.settings != settings {
                return Err(Error::invalid(format!(
                    "{} is already open in this process with different settings",
                    canonical.display()
                )));
            }
            return Ok(Engine { inner });
        }
        let mut lock = Self::lock_folder(&canonical)?;
        let db_path = canonical.join(folder::DB_FILE);
        let mut conn =
            Connection::open(&db_path).map_err(|e| Error::internal(format!("opening {}: {e}", db_path.display())))?;
        configure(&conn, true)?;
        schema::migrate(&mut conn, version)?;
        lock.record_owner();
        let inner = Arc::new(Inner {
            conn: Mutex::new(conn),
            root: Some(canonical.clone()),
            settings,
            colls: Mutex::new(HashMap::new()),
            background_indexing: AtomicBool::new(true),
            _lock: Some(lock),
        });
        reg.insert(canonical, Arc::downgrade(&inner));
        Ok(Engine { inner })
    }

    /// Takes the folder lock. A handle of this process that is closing the folder holds the
    /// lock until its drop (which saves index graphs) has finished: wait for that instead of
    /// reporting this very process as the holder.
    fn lock_folder(dir: &Path) -> Result<folder::FolderLock> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            match folder::lock(dir) {
                Err(e) if e.kind == ErrorKind::Unavailable && std::time::Instant::now() < deadline => {
                    let holder = std::fs::read_to_string(dir.join(folder::LOCK_FILE)).ok();
                    if holder.and_then(|h| h.trim().parse::<u32>().ok()) != Some(std::process::id()) {
                        return Err(e);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                other => return other,
            }
        }
    }

    /// The data folder, if persistent.
    pub fn path(&self) -> Option<&Path> {
        self.inner.root.as_deref()
    }

    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Saves every index graph that is behind its vectors (also done on drop).
    pub fn flush(&self) -> Result<()> {
        let colls: Vec<(Uuid, Arc<CollState>)> = self.inner.colls.lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        for (id, st) in colls {
            let row = match self.collection_row(id) {
                Ok(r) => r,
                Err(_) => continue,
            };
            let mut g = st.index.write();
            self.save_graph_if_behind(&row, &mut g, 1)?;
        }
        Ok(())
    }

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
            .map_err(sql("reading collection"))?;
        let Some((cid, name, tenant, database, md, config, dim, version, log_position, slot_count, generation)) = row
        else {
            return Err(Error::collection_not_found(&id.to_string()));
        };
        let config: IndexConfig =
            serde_json::from_str(&config).map_err(|e| Error::internal(format!("stored collection config: {e}")))?;
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
        Self::collection_row_in(&self.inner.conn.lock(), id)
    }

    fn coll_dir(&self, id: &Uuid) -> Option<PathBuf> {
        self.inner.root.as_ref().map(|r| folder::collection_dir(r, id))
    }

    /// Makes sure the collection's index is in memory (loading it, or attaching the vectors
    /// unlinked when the graph file is missing or behind). A small unlinked tail is linked
    /// now; a large one by a background thread (`spawn_indexer`), during which searches scan
    /// it exactly, so the first query after an open never waits for a graph build.
    fn ensure_index(&self, st: &Arc<CollState>, row: &CollRow) -> Result<()> {
        if st.index.read().loaded {
            return Ok(());
        }
        let mut g = st.index.write();
        if g.loaded {
            return Ok(());
        }
        let (Some(dim), Some(dir)) = (row.coll.dimension, self.coll_dir(&row.coll.id)) else {
            // Ephemeral collections are always loaded; a collection without a dimension has no vectors.
            g.loaded = true;
            return Ok(());
        };
        folder::remove_stale_generations(&dir, row.generation);
        let vpath = folder::vectors_path(&dir, row.generation);
        let gpath = folder::graph_path(&dir, row.generation);
        let live = self.live_bitmap(row)?;
        let is_live = |s: u32| live.get(s as usize).copied().unwrap_or(false);
        let space = to_index_space(row.coll.config.space);
        let params = hnsw_params(&row.coll.config);
        // Memory-map the vector file: a cold open copies nothing (see chroma_index::VecBuf).
        let map = || {
            chroma_index::VecBuf::map_file(&vpath, row.slot_count as usize * dim).map_err(|e| {
                Error::internal(format!(
                    "vector file {} does not hold the {} committed vectors ({e}); the folder is damaged",
                    vpath.display(),
                    row.slot_count
                ))
            })
        };
        let vectors = map()?;
        let (index, saved) = match VectorIndex::load(&gpath, dim, space, params.clone(), vectors, is_live) {
            Ok((idx, info)) => (idx, info.graph_slots as usize),
            Err(e) => {
                if gpath.exists() {
                    tracing::warn!(collection = %row.coll.name, error = %e, "index graph unreadable; rebuilding it from the vector file");
                }
                (VectorIndex::unbuilt(dim, space, params, map()?, is_live).map_err(index_err)?, 0)
            }
        };
        let pending = index.pending();
        if pending > 0 && pending <= INLINE_INDEX_MAX {
            index.index_pending(usize::MAX);
        } else if pending > 0 && self.inner.background_indexing.load(Ordering::Acquire) {
            tracing::info!(collection = %row.coll.name, pending, "linking vectors into the index in the background; searches scan them exactly meanwhile");
        }
        g.index = Some(index);
        g.saved_slots = saved;
        g.loaded = true;
        self.save_graph_if_behind(row, &mut g, 1)?;
        let background = g.index.as_ref().is_some_and(|i| i.pending() > 0);
        drop(g);
        if background {
            self.spawn_indexer(row.coll.id, st);
        }
        Ok(())
    }

    /// Stops (`false`) or allows (`true`, the default) background index building. A
    /// short-lived bulk writer (`chroma-rs migrate`) turns it off so the graph is built by
    /// whoever opens the folder next, or explicitly with [`build_index`](Self::build_index).
    pub fn set_background_indexing(&self, on: bool) {
        self.inner.background_indexing.store(on, Ordering::Release);
    }

    /// `(linked, stored)` vector slots of a collection's in-memory index (loading it if
    /// needed): `linked < stored` while vectors are still being linked into the graph.
    pub fn index_progress(&self, collection: Uuid) -> Result<(usize, usize)> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        self.ensure_index(&st, &row)?;
        let g = st.index.read();
        Ok(g.index.as_ref().map_or((0, 0), |i| (i.indexed(), i.len())))
    }

    /// Starts the background indexer of a collection unless one is running or background
    /// indexing is off. It links `INDEX_STEP` slots per step under a shared lock (searches
    /// go on; a writer waits at most one step), saves the graph as it goes and when done, and
    /// stops when the engine is dropped (the drop saves what is linked).
    fn spawn_indexer(&self, id: Uuid, st: &Arc<CollState>) {
        if !self.inner.background_indexing.load(Ordering::Acquire) || st.indexing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let st2 = st.clone();
        let spawned = std::thread::Builder::new()
            .name("chroma-rs-indexer".into())
            .spawn(move || Self::indexer_loop(weak, id, st2));
        if let Err(e) = spawned {
            st.indexing.store(false, Ordering::Release);
            tracing::warn!(error = %e, "could not start the background indexer; the index is linked on the next write or open");
        }
    }

    fn indexer_loop(weak: Weak<Inner>, id: Uuid, st: Arc<CollState>) {
        let started = std::time::Instant::now();
        loop {
            let Some(inner) = weak.upgrade() else { return };
            let engine = Engine { inner };
            let (left, behind) = {
                let g = st.index.read();
                match g.index.as_ref() {
                    Some(idx) => {
                        let left = idx.index_pending(INDEX_STEP);
                        let unsaved = idx.indexed().saturating_sub(g.saved_slots);
                        (left, unsaved >= (idx.len() / 4).max(INDEX_STEP * 8))
                    }
                    None => (0, false), // unloaded (bulk load, delete): nothing to do
                }
            };
            if left == 0 || behind {
                engine.save_linked_graph(id, &st);
            }
            drop(engine);
            if left == 0 {
                tracing::info!(collection = %id, seconds = started.elapsed().as_secs_f64(), "index linked and saved");
                st.indexing.store(false, Ordering::Release);
                // A write may have appended to the tail after the last step: go on if so.
                let more = st.index.read().index.as_ref().is_some_and(|i| i.pending() > 0);
                if !more || st.indexing.swap(true, Ordering::AcqRel) {
                    return;
                }
            }
        }
    }

    /// Saves the graph of a collection if linking got ahead of the file (indexer helper).
    fn save_linked_graph(&self, id: Uuid, st: &CollState) {
        let _w = st.write.lock();
        let Ok(row) = self.collection_row(id) else { return }; // deleted meanwhile
        let mut g = st.index.write();
        if let Err(e) = self.save_graph_if_behind(&row, &mut g, 1) {
            tracing::warn!(collection = %row.coll.name, error = %e, "could not save the index graph");
        }
    }

    fn live_bitmap(&self, row: &CollRow) -> Result<Vec<bool>> {
        let conn = self.inner.conn.lock();
        let mut live = vec![false; row.slot_count as usize];
        let mut stmt = conn.prepare_cached("SELECT slot FROM records WHERE cid = ?1").map_err(sql("reading slots"))?;
        let rows = stmt.query_map([row.cid], |r| r.get::<_, i64>(0)).map_err(sql("reading slots"))?;
        for s in rows {
            let s = s.map_err(sql("reading slots"))?;
            if let Some(x) = live.get_mut(s as usize) {
                *x = true;
            }
        }
        Ok(live)
    }

    /// Saves the graph when at least `min_new` slots are not yet in the file.
    fn save_graph_if_behind(&self, row: &CollRow, g: &mut IndexState, min_new: usize) -> Result<()> {
        let Some(dir) = self.coll_dir(&row.coll.id) else { return Ok(()) };
        let Some(index) = g.index.as_ref() else { return Ok(()) };
        let behind = index.indexed().saturating_sub(g.saved_slots);
        if behind == 0 || behind < min_new {
            return Ok(());
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::internal(format!("creating {}: {e}", dir.display())))?;
        g.saved_slots =
            index.save_graph(&folder::graph_path(&dir, row.generation), row.coll.log_position).map_err(index_err)?;
        Ok(())
    }

    fn read_existing(tx: &Transaction, cid: i64, ids: &[String]) -> Result<HashMap<String, StoredRecord>> {
        let ids_json = serde_json::to_string(ids).map_err(|e| Error::internal(e.to_string()))?;
        let mut stmt = tx
            .prepare_cached(
                "SELECT rid, id, slot, document, uri, metadata FROM records
                 WHERE cid = ?1 AND id IN (SELECT value FROM json_each(?2))",
            )
            .map_err(sql("reading records"))?;
        let rows = stmt
            .query_map(params![cid, ids_json], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })
            .map_err(sql("reading records"))?;
        let mut out = HashMap::new();
        for row in rows {
            let (rid, id, slot, document, uri, md) = row.map_err(sql("reading records"))?;
            out.insert(id, StoredRecord { rid, slot, document, uri, metadata: parse_metadata_text(md)? });
        }
        Ok(out)
    }

    /// The shared write path of add, upsert and update.
    fn write(&self, collection: Uuid, mode: WriteMode, rows: Vec<WriteRow>) -> Result<()> {
        self.write_with(collection, mode, rows, false)
    }

    /// Bulk load for a persistent folder: adds records (durably, as `add`) without inserting
    /// them into the in-memory HNSW graph; the graph is built on the next load or by
    /// [`build_index`](Self::build_index), with all cores. Ephemeral engines fall back to `add`.
    pub fn bulk_add(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        let batch = self.prepare_bulk(collection, req)?;
        self.bulk_add_prepared(batch)
    }

    /// The first half of [`bulk_add`](Self::bulk_add): validates the request and converts its
    /// rows (metadata merged and serialised). Touches no storage, so a bulk loader can run it
    /// on its reading thread while the previous batch is being written.
    pub fn prepare_bulk(&self, collection: Uuid, req: AddRequest) -> Result<PreparedBatch> {
        let dim = validate::add_request(&req, None, self.inner.settings.max_batch_size)?;
        let mut rows = rows_from_add(req);
        for r in &mut rows {
            let md = r.metadata.take().flatten().and_then(|m| merge_metadata(None, &m));
            let text = metadata_text(&md);
            r.prepared = Some((md, text));
        }
        Ok(PreparedBatch { collection, dim, rows })
    }

    /// The second half of [`bulk_add`](Self::bulk_add): writes a prepared batch (ids already
    /// in the collection are skipped, as `add` does).
    pub fn bulk_add_prepared(&self, batch: PreparedBatch) -> Result<()> {
        let defer = self.inner.root.is_some();
        self.write_prepared(batch.collection, WriteMode::Add, batch.rows, defer, Some(batch.dim))
    }

    /// Loads a collection's index, links every vector into the graph now (all cores) and
    /// saves it. `progress(linked, stored)` is called after each step.
    pub fn build_index(&self, collection: Uuid, progress: &dyn Fn(usize, usize)) -> Result<()> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        self.ensure_index(&st, &row)?;
        loop {
            let g = st.index.read();
            let Some(idx) = g.index.as_ref() else { break };
            let left = idx.index_pending(INDEX_STEP * 4);
            progress(idx.indexed(), idx.len());
            if left == 0 {
                break;
            }
        }
        let _w = st.write.lock();
        let row = self.collection_row(collection)?;
        let mut g = st.index.write();
        self.save_graph_if_behind(&row, &mut g, 1)
    }

    fn write_with(&self, collection: Uuid, mode: WriteMode, rows: Vec<WriteRow>, defer_index: bool) -> Result<()> {
        self.write_prepared(collection, mode, rows, defer_index, None)
    }

    /// `validated`: `Some(dim)` when the rows come from [`prepare_bulk`](Self::prepare_bulk)
    /// (embeddings already checked; only the dimension against the collection is left).
    fn write_prepared(
        &self,
        collection: Uuid,
        mode: WriteMode,
        rows: Vec<WriteRow>,
        defer_index: bool,
        validated: Option<Option<usize>>,
    ) -> Result<()> {
        let st = self.state(collection);
        let _w = st.write.lock();
        let row = self.collection_row(collection)?;
        if defer_index {
            // The graph file stays as it is; the next load catches up from the vector file.
            let mut g = st.index.write();
            if g.loaded {
                self.save_graph_if_behind(&row, &mut g, 1)?;
            }
            *g = IndexState::default();
        } else {
            self.ensure_index(&st, &row)?;
        }
        let max_batch = self.inner.settings.max_batch_size;
        validate::batch_size(rows.len(), max_batch)?;
        // dimension check against the collection and within the batch
        let dim = match validated {
            Some(Some(d)) if row.coll.dimension.is_some_and(|c| c != d) => {
                return Err(Error::invalid(format!(
                    "Embedding dimension {d} does not match collection dimensionality {}",
                    row.coll.dimension.unwrap_or_default()
                )));
            }
            Some(d) => d.or(row.coll.dimension),
            None => validate::embeddings(rows.iter().filter_map(|r| r.embedding.as_deref()), row.coll.dimension)?,
        };

        // Readers pair SQLite rows with index vectors under the index lock: hold it from
        // before the commit until the index has the write, so none sees one without the other.
        let g = (!defer_index).then(|| st.index.write());
        let mut conn = self.inner.conn.lock();
        let tx =
            conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql("starting write"))?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        // Every record has a slot, so a collection that never had a vector has no records.
        let existing = if row.slot_count == 0 { HashMap::new() } else { Self::read_existing(&tx, row.cid, &ids)? };
        let seq = row.coll.log_position as i64 + 1;
        let mut next_slot = row.slot_count as i64;
        let mut new_vectors: Vec<f32> = Vec::new();
        let mut removed_slots: Vec<u32> = Vec::new();
        struct Pending {
            rid: Option<i64>,
            id: String,
            slot: i64,
            document: Option<String>,
            uri: Option<String>,
            metadata: Option<Metadata>,
            /// Serialised already (prepared bulk rows).
            metadata_text: Option<Option<String>>,
            old_document: Option<Option<String>>,
            metadata_changed: bool,
        }
        let mut pending: Vec<Pending> = Vec::with_capacity(rows.len());
        for r in rows {
            match existing.get(&r.id) {
                None if mode == WriteMode::Update => {
                    tracing::debug!(id = %r.id, "update of missing id ignored");
                }
                None => {
                    let Some(emb) = r.embedding else {
                        return Err(Error::invalid(format!(
                            "Record {} has no embedding; embeddings are required to add records",
                            r.id
                        )));
                    };
                    new_vectors.extend_from_slice(&emb);
                    let slot = next_slot;
                    next_slot += 1;
                    let (md, md_text) = match r.prepared {
                        Some((md, text)) => (md, Some(text)),
                        None => (r.metadata.flatten().and_then(|m| merge_metadata(None, &m)), None),
                    };
                    pending.push(Pending {
                        rid: None,
                        id: r.id,
                        slot,
                        document: r.document.flatten(),
                        uri: r.uri.flatten(),
                        metadata: md,
                        metadata_text: md_text,
                        old_document: None,
                        metadata_changed: true,
                    });
                }
                Some(_) if mode == WriteMode::Add => {
                    tracing::debug!(id = %r.id, "add of existing id ignored");
                }
                Some(old) => {
                    let mut slot = old.slot;
                    if let Some(emb) = r.embedding {
                        new_vectors.extend_from_slice(&emb);
                        removed_slots.push(old.slot as u32);
                        slot = next_slot;
                        next_slot += 1;
                    }
                    let (metadata, metadata_changed) = match r.metadata {
                        Some(Some(upd)) => (merge_metadata(old.metadata.clone(), &upd), true),
                        // upsert/update with an explicit null metadata keeps the stored one
                        _ => (old.metadata.clone(), false),
                    };
                    let document = match r.document {
                        Some(d @ Some(_)) => d,
                        _ => old.document.clone(),
                    };
                    let uri = match r.uri {
                        Some(u @ Some(_)) => u,
                        _ => old.uri.clone(),
                    };
                    let doc_changed = document != old.document;
                    pending.push(Pending {
                        rid: Some(old.rid),
                        id: r.id,
                        slot,
                        document,
                        uri,
                        metadata,
                        metadata_text: None,
                        old_document: if doc_changed { Some(old.document.clone()) } else { None },
                        metadata_changed,
                    });
                }
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        // Vectors first, durable, before the commit that refers to them. Large appends are
        // written (and fsynced) on a second thread while the rows are inserted below.
        let vector_file = match (dim, self.coll_dir(&collection), new_vectors.is_empty()) {
            (Some(d), Some(dir), false) => Some((d, folder::vectors_path(&dir, row.generation))),
            _ => None,
        };
        std::thread::scope(|scope| -> Result<()> {
            let vectors_written = match &vector_file {
                Some((d, path)) if new_vectors.len() >= PARALLEL_VECTOR_WRITE => {
                    let (d, slot_count, data) = (*d, row.slot_count, &new_vectors);
                    Some(scope.spawn(move || folder::append_vectors(path, d, slot_count, data)))
                }
                Some((d, path)) => {
                    folder::append_vectors(path, *d, row.slot_count, &new_vectors)?;
                    None
                }
                None => None,
            };

            {
                let mut ins = tx
                .prepare_cached(
                    "INSERT INTO records (cid, id, slot, seq, document, uri, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(sql("inserting records"))?;
                let mut upd = tx
                    .prepare_cached(
                        "UPDATE records SET slot = ?2, seq = ?3, document = ?4, uri = ?5, metadata = ?6 WHERE rid = ?1",
                    )
                    .map_err(sql("updating records"))?;
                let mut fts_ins = tx
                    .prepare_cached("INSERT INTO documents_fts (rowid, document) VALUES (?1, ?2)")
                    .map_err(sql("indexing documents"))?;
                let mut fts_del = tx
                    .prepare_cached("DELETE FROM documents_fts WHERE rowid = ?1")
                    .map_err(sql("indexing documents"))?;
                let mut md_del =
                    tx.prepare_cached("DELETE FROM metadata_index WHERE rid = ?1").map_err(sql("indexing metadata"))?;
                let mut md_rows = MetadataRows::default();
                for p in &mut pending {
                    let md_text = p.metadata_text.take().unwrap_or_else(|| metadata_text(&p.metadata));
                    match p.rid {
                        None => {
                            ins.execute(params![row.cid, p.id, p.slot, seq, p.document, p.uri, md_text])
                                .map_err(sql("inserting records"))?;
                            let rid = tx.last_insert_rowid();
                            if let Some(doc) = &p.document {
                                fts_ins.execute(params![rid, doc]).map_err(sql("indexing documents"))?;
                            }
                            md_rows.push(rid, &p.metadata);
                        }
                        Some(rid) => {
                            upd.execute(params![rid, p.slot, seq, p.document, p.uri, md_text])
                                .map_err(sql("updating records"))?;
                            if let Some(old_doc) = &p.old_document {
                                if old_doc.is_some() {
                                    fts_del.execute([rid]).map_err(sql("indexing documents"))?;
                                }
                                if let Some(doc) = &p.document {
                                    fts_ins.execute(params![rid, doc]).map_err(sql("indexing documents"))?;
                                }
                            }
                            if p.metadata_changed {
                                md_del.execute([rid]).map_err(sql("indexing metadata"))?;
                                md_rows.push(rid, &p.metadata);
                            }
                        }
                    }
                }
                md_rows.insert(&tx, row.cid)?;
            }
            tx.execute(
            "UPDATE collections SET slot_count = ?2, log_position = ?3, dimension = COALESCE(dimension, ?4) WHERE cid = ?1",
            params![row.cid, next_slot, seq, dim.map(|d| d as i64)],
        )
        .map_err(sql("updating collection"))?;
            if let Some(h) = vectors_written {
                h.join().map_err(|_| Error::internal("the vector writer thread panicked"))??;
            }
            tx.commit().map_err(sql("committing write"))?;
            Ok(())
        })?;
        drop(conn);

        let removed_slots_empty = removed_slots.is_empty();
        let Some(mut g) = g else {
            return Ok(()); // deferred (bulk_add)
        };
        // The write is durable; now bring the in-memory index up to date.
        if g.index.is_none() {
            if let Some(d) = dim {
                let idx = VectorIndex::new(d, to_index_space(row.coll.config.space), hnsw_params(&row.coll.config))
                    .map_err(index_err)?;
                g.index = Some(idx);
            }
        }
        if let Some(index) = g.index.as_mut() {
            let consistent = index.len() as u64 == row.slot_count;
            let appended =
                if consistent && !new_vectors.is_empty() { index.append(&new_vectors).map(|_| ()) } else { Ok(()) };
            if !consistent || appended.is_err() {
                tracing::warn!(collection = %row.coll.name, "in-memory index out of step with storage; it will be reloaded");
                if self.inner.root.is_some() {
                    *g = IndexState::default();
                    return Ok(());
                }
                return appended.map_err(index_err);
            }
            for s in &removed_slots {
                index.remove(*s).map_err(index_err)?;
            }
        }
        // Appends behind an unlinked tail join it (the graph stays a prefix of the slots).
        let tail = g.index.as_ref().is_some_and(|i| i.pending() > 0);
        if self.inner.root.is_some() {
            let mut saved_row = row.clone();
            saved_row.coll.log_position = seq as u64;
            let len = g.index.as_ref().map(|i| i.len()).unwrap_or(0);
            let threshold = row.coll.config.sync_threshold.max(len / 4);
            self.save_graph_if_behind(&saved_row, &mut g, threshold)?;
        }
        drop(g);
        if tail {
            self.spawn_indexer(collection, &st);
        }
        if !removed_slots_empty {
            self.maybe_auto_compact(&st, &row)?;
        }
        Ok(())
    }

    /// Slots (and rids, ids) of records matching ids and filters.
    fn matching(
        conn: &Connection,
        cid: i64,
        ids: Option<&[String]>,
        w: Option<&chroma_types::Where>,
        d: Option<&chroma_types::WhereDocument>,
        dialect: chroma_types::Dialect,
    ) -> Result<Vec<(i64, String, i64)>> {
        let f = sqlfilter::compile(cid, w, d, dialect);
        let mut q = String::from("SELECT r.rid, r.id, r.slot FROM records r WHERE r.cid = ? ");
        let mut params: Vec<rusqlite::types::Value> = vec![cid.into()];
        if let Some(ids) = ids {
            q.push_str("AND r.id IN (SELECT value FROM json_each(?)) ");
            params.push(serde_json::to_string(ids).map_err(|e| Error::internal(e.to_string()))?.into());
        }
        q.push_str("AND ");
        q.push_str(&f.sql);
        params.extend(f.params);
        q.push_str(" ORDER BY r.rid");
        let mut stmt = conn.prepare(&q).map_err(sql("filtering records"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(sql("filtering records"))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(sql("filtering records"))
    }

    /// A 1.x schema can disable a key's inverted index; Chroma then refuses filters on it.
    fn check_filterable(row: &CollRow, w: Option<&chroma_types::Where>) -> Result<()> {
        let Some(w) = w else { return Ok(()) };
        match row.coll.config.unfilterable_key(w.keys().into_iter()) {
            Some(k) => Err(Error::invalid(format!(
                "Cannot filter using metadata key '{k}': its inverted index is disabled in the collection schema"
            ))),
            None => Ok(()),
        }
    }

    /// Query's `ids` must all exist (as in Chroma 1.x, whose query fails with "Error finding
    /// id"): a silently shorter answer would hide a caller's stale id list.
    fn require_ids(conn: &Connection, cid: i64, ids: &[String]) -> Result<()> {
        let mut stmt = conn
            .prepare_cached("SELECT j.value FROM json_each(?2) j WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.cid = ?1 AND r.id = j.value) LIMIT 1")
            .map_err(sql("checking query ids"))?;
        let list = serde_json::to_string(ids).map_err(|e| Error::internal(e.to_string()))?;
        let missing: Option<String> =
            stmt.query_row(rusqlite::params![cid, list], |r| r.get(0)).optional().map_err(sql("checking query ids"))?;
        match missing {
            Some(id) => Err(Error::invalid(format!("Error finding id {id}: it is not in the collection"))),
            None => Ok(()),
        }
    }

    fn delete_rows(tx: &Transaction, rids: &[i64]) -> Result<()> {
        let mut fts =
            tx.prepare_cached("DELETE FROM documents_fts WHERE rowid = ?1").map_err(sql("deleting documents"))?;
        let mut rec = tx.prepare_cached("DELETE FROM records WHERE rid = ?1").map_err(sql("deleting records"))?;
        for rid in rids {
            fts.execute([rid]).map_err(sql("deleting documents"))?;
            rec.execute([rid]).map_err(sql("deleting records"))?;
        }
        Ok(())
    }

    /// Removes every trace of a collection (rows, files, in-memory state).
    fn drop_collection(&self, id: Uuid) -> Result<()> {
        let st = self.state(id);
        let _w = st.write.lock();
        {
            let mut conn = self.inner.conn.lock();
            let tx = conn.transaction().map_err(sql("deleting collection"))?;
            let cid: Option<i64> = tx
                .query_row("SELECT cid FROM collections WHERE id = ?1", [id.to_string()], |r| r.get(0))
                .optional()
                .map_err(sql("deleting collection"))?;
            if let Some(cid) = cid {
                tx.execute("DELETE FROM documents_fts WHERE rowid IN (SELECT rid FROM records WHERE cid = ?1)", [cid])
                    .map_err(sql("deleting documents"))?;
                tx.execute("DELETE FROM metadata_index WHERE cid = ?1", [cid]).map_err(sql("deleting metadata"))?;
                tx.execute("DELETE FROM records WHERE cid = ?1", [cid]).map_err(sql("deleting records"))?;
                tx.execute("DELETE FROM collections WHERE cid = ?1", [cid]).map_err(sql("deleting collection"))?;
            }
            tx.commit().map_err(sql("deleting collection"))?;
        }
        *st.index.write() = IndexState::default();
        self.inner.colls.lock().remove(&id);
        if let Some(dir) = self.coll_dir(&id) {
            if dir.exists() {
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| Error::internal(format!("removing {}: {e}", dir.display())))?;
            }
        }
        Ok(())
    }

    fn database_id(conn: &Connection, tenant: &str, database: &str) -> Result<String> {
        conn.query_row("SELECT id FROM databases WHERE tenant = ?1 AND name = ?2", params![tenant, database], |r| {
            r.get(0)
        })
        .optional()
        .map_err(sql("reading database"))?
        .ok_or_else(|| {
            Error::not_found(format!("Database {database} not found for tenant {tenant}. Are you sure it exists?"))
        })
    }

    /// Reads records; embeddings come from `index`, which the caller holds locked across
    /// this call so that slots and vectors belong to one state.
    fn fetch_rows(
        &self,
        index: Option<&VectorIndex>,
        sql_text: &str,
        params: Vec<rusqlite::types::Value>,
        include: &[Include],
    ) -> Result<Vec<FetchedRecord>> {
        let want_docs = include.contains(&Include::Documents);
        let want_uris = include.contains(&Include::Uris);
        let want_md = include.contains(&Include::Metadatas);
        let conn = self.inner.conn.lock();
        let mut stmt = conn.prepare_cached(sql_text).map_err(sql("reading records"))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    if want_docs { r.get::<_, Option<String>>(2)? } else { None },
                    if want_uris { r.get::<_, Option<String>>(3)? } else { None },
                    if want_md { r.get::<_, Option<String>>(4)? } else { None },
                ))
            })
            .map_err(sql("reading records"))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, slot, document, uri, md) = r.map_err(sql("reading records"))?;
            out.push(FetchedRecord { id, slot, document, uri, metadata: parse_metadata_text(md)?, embedding: None });
        }
        drop(stmt);
        drop(conn);
        if include.contains(&Include::Embeddings) {
            for r in &mut out {
                r.embedding = index.and_then(|i| i.vector(r.slot as u32)).map(<[f32]>::to_vec);
            }
        }
        Ok(out)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum WriteMode {
    Add,
    Upsert,
    Update,
}

/// One record of a write, normalised from the request columns.
struct WriteRow {
    id: String,
    embedding: Option<Vec<f32>>,
    /// `None`: column absent; `Some(None)`: null entry.
    document: Option<Option<String>>,
    uri: Option<Option<String>>,
    metadata: Option<Option<UpdateMetadata>>,
    /// Set by [`Engine::prepare_bulk`]: the metadata of a new record and its JSON text,
    /// computed off the write path.
    prepared: Option<(Option<Metadata>, Option<String>)>,
}

/// An `add` batch validated and converted by [`Engine::prepare_bulk`] (on any thread), to be
/// written by [`Engine::bulk_add_prepared`].
pub struct PreparedBatch {
    collection: Uuid,
    dim: Option<usize>,
    rows: Vec<WriteRow>,
}

impl PreparedBatch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// `metadata_index` rows of one write, inserted many per statement (a bulk load writes
/// one row per metadata value: per-statement overhead dominated).
#[derive(Default)]
struct MetadataRows<'a> {
    rows: Vec<MetadataRow<'a>>,
}

/// (rid, key, in_array, str, int, float, bool) of one `metadata_index` row.
type MetadataRow<'a> = (i64, &'a str, i64, Option<&'a str>, Option<i64>, Option<f64>, Option<i64>);

impl<'a> MetadataRows<'a> {
    /// Rows per INSERT statement (8 parameters each, far below SQLite's limit of 32766).
    const PER_STATEMENT: usize = 64;

    fn push(&mut self, rid: i64, md: &'a Option<Metadata>) {
        let Some(md) = md else { return };
        for (k, v) in md {
            let k = k.as_str();
            match v {
                MetadataValue::Str(s) => self.rows.push((rid, k, 0, Some(s), None, None, None)),
                MetadataValue::Int(i) => self.rows.push((rid, k, 0, None, Some(*i), None, None)),
                MetadataValue::Float(f) => self.rows.push((rid, k, 0, None, None, Some(*f), None)),
                MetadataValue::Bool(b) => self.rows.push((rid, k, 0, None, None, None, Some(*b as i64))),
                MetadataValue::StrArray(a) => {
                    a.iter().for_each(|s| self.rows.push((rid, k, 1, Some(s), None, None, None)))
                }
                MetadataValue::IntArray(a) => {
                    a.iter().for_each(|i| self.rows.push((rid, k, 1, None, Some(*i), None, None)))
                }
                MetadataValue::FloatArray(a) => {
                    a.iter().for_each(|f| self.rows.push((rid, k, 1, None, None, Some(*f), None)))
                }
                MetadataValue::BoolArray(a) => {
                    a.iter().for_each(|b| self.rows.push((rid, k, 1, None, None, None, Some(*b as i64))))
                }
            }
        }
    }

    fn insert(&self, tx: &Transaction, cid: i64) -> Result<()> {
        for chunk in self.rows.chunks(Self::PER_STATEMENT) {
            let mut text = String::from(
                "INSERT INTO metadata_index (rid, cid, key, in_array, str_value, int_value, float_value, bool_value) VALUES ",
            );
            for i in 0..chunk.len() {
                text.push_str(if i == 0 { "(?,?,?,?,?,?,?,?)" } else { ",(?,?,?,?,?,?,?,?)" });
            }
            let mut stmt = tx.prepare_cached(&text).map_err(sql("indexing metadata"))?;
            let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 8);
            for (rid, key, arr, sv, iv, fv, bv) in chunk {
                params.extend_from_slice(&[rid as &dyn rusqlite::ToSql, &cid, key, arr, sv, iv, fv, bv]);
            }
            stmt.execute(params.as_slice()).map_err(sql("indexing metadata"))?;
        }
        Ok(())
    }
}

struct FetchedRecord {
    id: String,
    slot: i64,
    document: Option<String>,
    uri: Option<String>,
    metadata: Option<Metadata>,
    embedding: Option<Vec<f32>>,
}

fn column<T>(col: Option<Vec<T>>, n: usize) -> Vec<Option<T>> {
    match col {
        Some(v) => v.into_iter().map(Some).collect(),
        None => (0..n).map(|_| None).collect(),
    }
}

fn rows_from_add(req: AddRequest) -> Vec<WriteRow> {
    let n = req.ids.len();
    let docs = column(req.documents, n);
    let uris = column(req.uris, n);
    let mds = column(req.metadatas, n);
    req.ids
        .into_iter()
        .zip(req.embeddings)
        .zip(docs.into_iter().zip(uris).zip(mds))
        .map(|((id, e), ((d, u), m))| WriteRow {
            id,
            embedding: Some(e),
            document: d,
            uri: u,
            metadata: m,
            prepared: None,
        })
        .collect()
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
        if !self.inner.settings.allow_reset {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "Resetting is not allowed by this configuration (set ALLOW_RESET=TRUE, or Settings { allow_reset: true, .. })",
            ));
        }
        let ids: Vec<Uuid> = {
            let conn = self.inner.conn.lock();
            let mut stmt = conn.prepare("SELECT id FROM collections").map_err(sql("listing collections"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(sql("listing collections"))?;
            rows.filter_map(|r| r.ok()).filter_map(|s| Uuid::parse_str(&s).ok()).collect()
        };
        for id in ids {
            self.drop_collection(id)?;
        }
        let mut conn = self.inner.conn.lock();
        let tx = conn.transaction().map_err(sql("resetting"))?;
        tx.execute(
            "DELETE FROM databases WHERE NOT (tenant = ?1 AND name = ?2)",
            params![DEFAULT_TENANT, DEFAULT_DATABASE],
        )
        .map_err(sql("resetting"))?;
        tx.execute("DELETE FROM tenants WHERE name != ?1", [DEFAULT_TENANT]).map_err(sql("resetting"))?;
        tx.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?1)", [DEFAULT_TENANT]).map_err(sql("resetting"))?;
        tx.execute(
            "INSERT OR IGNORE INTO databases (id, name, tenant) VALUES (?1, ?2, ?3)",
            params![DEFAULT_DATABASE_ID, DEFAULT_DATABASE, DEFAULT_TENANT],
        )
        .map_err(sql("resetting"))?;
        tx.commit().map_err(sql("resetting"))?;
        Ok(())
    }

    fn create_tenant(&self, name: &str) -> Result<()> {
        validate::tenant_name(name)?;
        let conn = self.inner.conn.lock();
        let n =
            conn.execute("INSERT OR IGNORE INTO tenants (name) VALUES (?1)", [name]).map_err(sql("creating tenant"))?;
        if n == 0 {
            return Err(Error::exists(format!("Tenant {name} already exists")));
        }
        Ok(())
    }

    fn get_tenant(&self, name: &str) -> Result<Tenant> {
        let conn = self.inner.conn.lock();
        conn.query_row("SELECT name FROM tenants WHERE name = ?1", [name], |r| r.get(0))
            .optional()
            .map_err(sql("reading tenant"))?
            .map(|name| Tenant { name })
            .ok_or_else(|| Error::not_found(format!("Tenant {name} not found")))
    }

    fn list_tenants(&self, limit: Option<usize>, offset: usize) -> Result<Vec<Tenant>> {
        let conn = self.inner.conn.lock();
        let mut stmt = conn
            .prepare("SELECT name FROM tenants ORDER BY rowid LIMIT ?1 OFFSET ?2")
            .map_err(sql("listing tenants"))?;
        let rows = stmt
            .query_map(params![limit.map(|l| l as i64).unwrap_or(-1), offset as i64], |r| r.get(0))
            .map_err(sql("listing tenants"))?;
        rows.map(|r| r.map(|name| Tenant { name }))
            .collect::<std::result::Result<_, _>>()
            .map_err(sql("listing tenants"))
    }

    fn delete_tenant(&self, name: &str) -> Result<()> {
        self.get_tenant(name)?;
        let n = self.list_databases(name, Some(1), 0)?.len();
        if n > 0 {
            return Err(Error::invalid(format!("Tenant {name} still has databases; delete them first")));
        }
        let conn = self.inner.conn.lock();
        conn.execute("DELETE FROM tenants WHERE name = ?1", [name]).map_err(sql("deleting tenant"))?;
        Ok(())
    }

    fn create_database(&self, tenant: &str, name: &str) -> Result<Database> {
        validate::database_name(name)?;
        self.get_tenant(tenant)?;
        let id = Uuid::new_v4();
        let conn = self.inner.conn.lock();
        let n = conn
            .execute(
                "INSERT OR IGNORE INTO databases (id, name, tenant) VALUES (?1, ?2, ?3)",
                params![id.to_string(), name, tenant],
            )
            .map_err(sql("creating database"))?;
        if n == 0 {
            return Err(Error::exists(format!("Database {name} already exists for tenant {tenant}")));
        }
        Ok(Database { id, name: name.to_string(), tenant: tenant.to_string() })
    }

    fn get_database(&self, tenant: &str, name: &str) -> Result<Database> {
        let conn = self.inner.conn.lock();
        let id = Self::database_id(&conn, tenant, name)?;
        Ok(Database {
            id: Uuid::parse_str(&id).map_err(|e| Error::internal(format!("stored database id: {e}")))?,
            name: name.to_string(),
            tenant: tenant.to_string(),
        })
    }

    fn list_databases(&self, tenant: &str, limit: Option<usize>, offset: usize) -> Result<Vec<Database>> {
        let conn = self.inner.conn.lock();
        let mut stmt = conn
            .prepare("SELECT id, name FROM databases WHERE tenant = ?1 ORDER BY rowid LIMIT ?2 OFFSET ?3")
            .map_err(sql("listing databases"))?;
        let rows = stmt
            .query_map(params![tenant, limit.map(|l| l as i64).unwrap_or(-1), offset as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(sql("listing databases"))?;
        let mut out = Vec::new();
        for r in rows {
            let (id, name) = r.map_err(sql("listing databases"))?;
            out.push(Database {
                id: Uuid::parse_str(&id).map_err(|e| Error::internal(format!("stored database id: {e}")))?,
                name,
                tenant: tenant.to_string(),
            });
        }
        Ok(out)
    }

    fn delete_database(&self, tenant: &str, name: &str) -> Result<()> {
        let db_id = Self::database_id(&self.inner.conn.lock(), tenant, name)?;
        let ids: Vec<Uuid> = {
            let conn = self.inner.conn.lock();
            let mut stmt = conn
                .prepare("SELECT id FROM collections WHERE database_id = ?1")
                .map_err(sql("listing collections"))?;
            let rows = stmt.query_map([&db_id], |r| r.get::<_, String>(0)).map_err(sql("listing collections"))?;
            rows.filter_map(|r| r.ok()).filter_map(|s| Uuid::parse_str(&s).ok()).collect()
        };
        for id in ids {
            self.drop_collection(id)?;
        }
        let conn = self.inner.conn.lock();
        conn.execute("DELETE FROM databases WHERE id = ?1", [&db_id]).map_err(sql("deleting database"))?;
        Ok(())
    }

    fn create_collection(&self, tenant: &str, database: &str, req: CreateCollection) -> Result<Collection> {
        validate::stored_collection_name(&req.name)?;
        let metadata = req.metadata.filter(|m| !m.is_empty());
        if let Some(m) = &metadata {
            validate::collection_metadata(m)?;
        }
        let config = IndexConfig::default()
            .apply_metadata(metadata.as_ref())?
            .apply_configuration(req.configuration.as_ref())?
            .apply_schema(req.schema.as_ref(), req.configuration.as_ref().and_then(|c| c.get("embedding_function")))?;
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
                .map_err(sql("reading collection"))?;
            if let Some(existing) = existing {
                if req.get_or_create {
                    // Read it under the same lock: a concurrent delete must not turn a found
                    // collection into "does not exist".
                    let id = Uuid::parse_str(&existing)
                        .map_err(|e| Error::internal(format!("stored collection id: {e}")))?;
                    return Ok(Self::collection_row_in(&conn, id)?.coll);
                }
                return Err(Error::exists(format!("Collection {} already exists", req.name)));
            }
            let id = req.id.unwrap_or_else(Uuid::new_v4);
            if req.id.is_some() {
                let taken: Option<String> = conn
                    .query_row("SELECT name FROM collections WHERE id = ?1", [id.to_string()], |r| r.get(0))
                    .optional()
                    .map_err(sql("reading collection"))?;
                if let Some(other) = taken {
                    return Err(Error::exists(format!("Collection id {id} is already used by collection {other}")));
                }
            }
            let config_text = serde_json::to_string(&config).map_err(|e| Error::internal(e.to_string()))?;
            conn.execute(
                "INSERT INTO collections (id, name, database_id, metadata, config) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id.to_string(), req.name, db_id, metadata_text(&metadata), config_text],
            )
            .map_err(sql("creating collection"))?;
            Self::collection_row_in(&conn, id)?.coll
        };
        let st = self.state(created.id);
        st.index.write().loaded = true;
        Ok(created)
    }

    fn get_collection(&self, tenant: &str, database: &str, name: &str) -> Result<Collection> {
        let id: String = {
            let conn = self.inner.conn.lock();
            let db_id = Self::database_id(&conn, tenant, database)?;
            conn.query_row(
                "SELECT id FROM collections WHERE database_id = ?1 AND name = ?2",
                params![db_id, name],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql("reading collection"))?
            .ok_or_else(|| Error::collection_not_found(name))?
        };
        self.get_collection_by_id(
            Uuid::parse_str(&id).map_err(|e| Error::internal(format!("stored collection id: {e}")))?,
        )
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
        let ids: Vec<String> = {
            let conn = self.inner.conn.lock();
            let db_id = Self::database_id(&conn, tenant, database)?;
            let mut stmt = conn
                .prepare("SELECT id FROM collections WHERE database_id = ?1 ORDER BY cid LIMIT ?2 OFFSET ?3")
                .map_err(sql("listing collections"))?;
            let rows = stmt
                .query_map(params![db_id, limit.map(|l| l as i64).unwrap_or(-1), offset as i64], |r| r.get(0))
                .map_err(sql("listing collections"))?;
            rows.collect::<std::result::Result<_, _>>().map_err(sql("listing collections"))?
        };
        ids.iter()
            .map(|s| {
                Uuid::parse_str(s)
                    .map_err(|e| Error::internal(format!("stored collection id: {e}")))
                    .and_then(|id| self.get_collection_by_id(id))
            })
            .collect()
    }

    fn count_collections(&self, tenant: &str, database: &str) -> Result<usize> {
        let conn = self.inner.conn.lock();
        let db_id = Self::database_id(&conn, tenant, database)?;
        conn.query_row("SELECT count(*) FROM collections WHERE database_id = ?1", [db_id], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(sql("counting collections"))
    }

    fn update_collection(&self, id: Uuid, req: UpdateCollection) -> Result<()> {
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
        let mut config = row.coll.config.clone();
        if let Some(Some(m)) = &new_metadata {
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
        if let Some(cfg) = &req.new_configuration {
            let before = config.clone();
            config = config.apply_configuration(Some(cfg))?;
            if config.space != before.space || config.m != before.m || config.ef_construction != before.ef_construction
            {
                return Err(Error::invalid(
                    "Changing space, max_neighbors or ef_construction of a collection once it is created is not supported",
                ));
            }
        }
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
                    .map_err(sql("renaming collection"))?;
                if taken.is_some() {
                    return Err(Error::exists(format!("Collection {name} already exists")));
                }
            }
            let config_text = serde_json::to_string(&config).map_err(|e| Error::internal(e.to_string()))?;
            conn.execute(
                "UPDATE collections SET name = COALESCE(?2, name), metadata = CASE WHEN ?3 THEN ?4 ELSE metadata END,
                 config = ?5, version = version + 1 WHERE cid = ?1",
                params![
                    row.cid,
                    req.new_name,
                    new_metadata.is_some(),
                    new_metadata.as_ref().and_then(metadata_text),
                    config_text
                ],
            )
            .map_err(sql("updating collection"))?;
        }
        if config.ef_search != row.coll.config.ef_search {
            if let Some(index) = st.index.write().index.as_mut() {
                index.set_ef_search(config.ef_search);
            }
        }
        Ok(())
    }

    fn delete_collection(&self, tenant: &str, database: &str, name: &str) -> Result<()> {
        let c = self.get_collection(tenant, database, name)?;
        self.drop_collection(c.id)
    }

    fn add(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        validate::add_request(&req, None, self.inner.settings.max_batch_size)?;
        self.write(collection, WriteMode::Add, rows_from_add(req))
    }

    fn upsert(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        validate::add_request(&req, None, self.inner.settings.max_batch_size)?;
        self.write(collection, WriteMode::Upsert, rows_from_add(req))
    }

    fn update(&self, collection: Uuid, req: UpdateRequest) -> Result<()> {
        validate::update_request(&req, None, self.inner.settings.max_batch_size)?;
        let n = req.ids.len();
        let embs = req.embeddings.map(|v| v.into_iter().collect::<Vec<_>>());
        let embs: Vec<Option<Vec<f32>>> = match embs {
            Some(v) => v,
            None => (0..n).map(|_| None).collect(),
        };
        let docs = column(req.documents, n);
        let uris = column(req.uris, n);
        let mds = column(req.metadatas, n);
        let rows = req
            .ids
            .into_iter()
            .zip(embs)
            .zip(docs.into_iter().zip(uris).zip(mds))
            .map(|((id, e), ((d, u), m))| WriteRow {
                id,
                embedding: e,
                document: d,
                uri: u,
                metadata: m,
                prepared: None,
            })
            .collect();
        self.write(collection, WriteMode::Update, rows)
    }

    fn delete(&self, collection: Uuid, req: DeleteRequest) -> Result<Vec<String>> {
        if let Some(ids) = &req.ids {
            if ids.iter().any(String::is_empty) {
                return Err(Error::invalid("Empty ID, ID must have at least one character"));
            }
        }
        if req.limit.is_some() && req.r#where.is_none() && req.where_document.is_none() {
            return Err(Error::invalid(
                "limit can only be specified when a where or where_document clause is provided",
            ));
        }
        if req.ids.is_none() && req.r#where.is_none() && req.where_document.is_none() {
            return Ok(Vec::new());
        }
        let st = self.state(collection);
        let _w = st.write.lock();
        let row = self.collection_row(collection)?;
        Self::check_filterable(&row, req.r#where.as_ref())?;
        let mut g = st.index.write(); // held from before the commit (see write_with)
        let mut conn = self.inner.conn.lock();
        let mut matched = Self::matching(
            &conn,
            row.cid,
            req.ids.as_deref(),
            req.r#where.as_ref(),
            req.where_document.as_ref(),
            req.dialect,
        )?;
        if let Some(limit) = req.limit {
            matched.truncate(limit as usize); // `matching` is in insertion order: oldest go first
        }
        if matched.is_empty() {
            return Ok(Vec::new());
        }
        let tx =
            conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql("starting delete"))?;
        let rids: Vec<i64> = matched.iter().map(|m| m.0).collect();
        Self::delete_rows(&tx, &rids)?;
        tx.execute("UPDATE collections SET log_position = log_position + 1 WHERE cid = ?1", [row.cid])
            .map_err(sql("updating collection"))?;
        tx.commit().map_err(sql("committing delete"))?;
        drop(conn);
        if let Some(index) = g.index.as_mut() {
            for (_, _, slot) in &matched {
                if let Err(e) = index.remove(*slot as u32) {
                    tracing::warn!(error = %e, "index out of step on delete; it will be reloaded");
                    if self.inner.root.is_some() {
                        *g = IndexState::default();
                    }
                    break;
                }
            }
        }
        drop(g);
        self.maybe_auto_compact(&st, &row)?;
        Ok(matched.into_iter().map(|m| m.1).collect())
    }

    fn get(&self, collection: Uuid, req: GetRequest) -> Result<GetResult> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        Self::check_filterable(&row, req.r#where.as_ref())?;
        let f = sqlfilter::compile(row.cid, req.r#where.as_ref(), req.where_document.as_ref(), req.dialect);
        let mut q = String::from("SELECT r.id, r.slot, r.document, r.uri, r.metadata FROM records r WHERE r.cid = ? ");
        let mut params: Vec<rusqlite::types::Value> = vec![row.cid.into()];
        if let Some(ids) = &req.ids {
            q.push_str("AND r.id IN (SELECT value FROM json_each(?)) ");
            params.push(serde_json::to_string(ids).map_err(|e| Error::internal(e.to_string()))?.into());
        }
        q.push_str("AND ");
        q.push_str(&f.sql);
        params.extend(f.params);
        q.push_str(if req.dialect.get_ordered_by_id { " ORDER BY r.id" } else { " ORDER BY r.rid" });
        q.push_str(" LIMIT ? OFFSET ?");
        params.push((req.limit.map(|l| l as i64).unwrap_or(-1)).into());
        params.push((req.offset.unwrap_or(0) as i64).into());
        // Embeddings come from the in-memory index when it is loaded, else straight from the
        // vector file (reading a collection back, as `chroma-rs migrate` verifies, must not
        // build a graph nor map the whole file). The index lock is held either way: slots and
        // vectors belong to one generation.
        let g = req.include.contains(&Include::Embeddings).then(|| st.index.read());
        let loaded = g.as_ref().is_some_and(|g| g.loaded);
        let mut recs = self.fetch_rows(g.as_ref().and_then(|g| g.index.as_ref()), &q, params, &req.include)?;
        if g.is_some() && !loaded {
            let row = self.collection_row(collection)?;
            if let (Some(dim), Some(dir)) = (row.coll.dimension, self.coll_dir(&collection)) {
                let slots: Vec<u64> = recs.iter().map(|r| r.slot as u64).collect();
                let path = folder::vectors_path(&dir, row.generation);
                for (r, v) in recs.iter_mut().zip(folder::read_slots(&path, dim, row.slot_count, &slots)?) {
                    r.embedding = Some(v);
                }
            }
        }
        drop(g);
        let inc = |i: Include| req.include.contains(&i);
        let n = recs.len();
        let mut out = GetResult {
            include: req.include.clone(),
            ids: Vec::with_capacity(n),
            embeddings: inc(Include::Embeddings).then(|| Vec::with_capacity(n)),
            documents: inc(Include::Documents).then(|| Vec::with_capacity(n)),
            uris: inc(Include::Uris).then(|| Vec::with_capacity(n)),
            metadatas: inc(Include::Metadatas).then(|| Vec::with_capacity(n)),
        };
        // Move each value into its column (no copies: a page of 10k 384-d vectors is 15 MB).
        for r in recs {
            out.ids.push(r.id);
            if let Some(e) = out.embeddings.as_mut() {
                e.push(r.embedding.unwrap_or_default());
            }
            if let Some(d) = out.documents.as_mut() {
                d.push(r.document);
            }
            if let Some(u) = out.uris.as_mut() {
                u.push(r.uri);
            }
            if let Some(m) = out.metadatas.as_mut() {
                m.push(r.metadata);
            }
        }
        Ok(out)
    }

    fn query(&self, collection: Uuid, req: QueryRequest) -> Result<QueryResult> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        Self::check_filterable(&row, req.r#where.as_ref())?;
        if req.query_embeddings.is_empty() {
            return Err(Error::invalid("Expected query_embeddings to be a non-empty list"));
        }
        if req.n_results == 0 {
            // As Chroma's clients and server: an empty answer to n_results 0 hides a caller bug.
            return Err(Error::invalid("Expected requested number of results to be a positive integer, got 0"));
        }
        if let Some(ids) = &req.ids {
            Self::require_ids(&self.inner.conn.lock(), row.cid, ids)?;
        }
        validate::embeddings(req.query_embeddings.iter().map(Vec::as_slice), row.coll.dimension)?;
        let nq = req.query_embeddings.len();
        let inc = |i: Include| req.include.contains(&i);
        let mut hits: Vec<Vec<chroma_index::Neighbor>> = vec![Vec::new(); nq];
        let searching = row.coll.dimension.is_some() && req.n_results > 0;
        if searching {
            self.ensure_index(&st, &row)?;
        }
        // One index state for filter, search and fetch: compaction renumbers slots, and writes
        // hold the write lock from their commit until the index has them.
        let g = st.index.read();
        if searching {
            let filtered = req.ids.is_some() || req.r#where.is_some() || req.where_document.is_some();
            let allowed: Option<Vec<u32>> = if filtered {
                let conn = self.inner.conn.lock();
                let m = Self::matching(
                    &conn,
                    row.cid,
                    req.ids.as_deref(),
                    req.r#where.as_ref(),
                    req.where_document.as_ref(),
                    req.dialect,
                )?;
                let mut slots: Vec<u32> = m.into_iter().map(|x| x.2 as u32).collect();
                slots.sort_unstable();
                Some(slots)
            } else {
                None
            };
            if allowed.as_ref().is_none_or(|a| !a.is_empty()) {
                if let Some(index) = g.index.as_ref() {
                    let filter = match &allowed {
                        Some(a) => Filter::Allowed(a),
                        None => Filter::All,
                    };
                    for (q, h) in req.query_embeddings.iter().zip(hits.iter_mut()) {
                        *h = index.search(q, req.n_results, None, filter).map_err(index_err)?;
                    }
                }
            }
        }
        // Fetch the hit records in one statement.
        let mut slots: Vec<i64> = hits.iter().flatten().map(|n| n.slot as i64).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut by_slot: HashMap<i64, FetchedRecord> = HashMap::new();
        if !slots.is_empty() {
            let q = "SELECT r.id, r.slot, r.document, r.uri, r.metadata FROM records r
                     WHERE r.cid = ? AND r.slot IN (SELECT value FROM json_each(?))";
            let params: Vec<rusqlite::types::Value> =
                vec![row.cid.into(), serde_json::to_string(&slots).map_err(|e| Error::internal(e.to_string()))?.into()];
            for r in self.fetch_rows(g.index.as_ref(), q, params, &req.include)? {
                by_slot.insert(r.slot, r);
            }
        }
        drop(g);
        let mut out = QueryResult { include: req.include.clone(), ..Default::default() };
        let mut ids = Vec::with_capacity(nq);
        let mut embs = Vec::new();
        let mut docs = Vec::new();
        let mut uris = Vec::new();
        let mut mds = Vec::new();
        let mut dists = Vec::new();
        for h in &hits {
            // A slot can vanish between search and fetch only through a concurrent delete: skip it.
            let recs: Vec<(&FetchedRecord, f32)> =
                h.iter().filter_map(|n| by_slot.get(&(n.slot as i64)).map(|r| (r, n.distance))).collect();
            ids.push(recs.iter().map(|(r, _)| r.id.clone()).collect());
            embs.push(recs.iter().map(|(r, _)| r.embedding.clone().unwrap_or_default()).collect());
            docs.push(recs.iter().map(|(r, _)| r.document.clone()).collect());
            uris.push(recs.iter().map(|(r, _)| r.uri.clone()).collect());
            mds.push(recs.iter().map(|(r, _)| r.metadata.clone()).collect());
            dists.push(recs.iter().map(|(_, d)| *d).collect());
        }
        out.ids = ids;
        if inc(Include::Embeddings) {
            out.embeddings = Some(embs);
        }
        if inc(Include::Documents) {
            out.documents = Some(docs);
        }
        if inc(Include::Uris) {
            out.uris = Some(uris);
        }
        if inc(Include::Metadatas) {
            out.metadatas = Some(mds);
        }
        if inc(Include::Distances) {
            out.distances = Some(dists);
        }
        Ok(out)
    }

    fn count(&self, collection: Uuid) -> Result<usize> {
        let row = self.collection_row(collection)?;
        let conn = self.inner.conn.lock();
        conn.query_row("SELECT count(*) FROM records WHERE cid = ?1", [row.cid], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(sql("counting records"))
    }
}
