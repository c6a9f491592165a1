//! A node's derived caches: one chroma-store collection per PostgreSQL collection (same id,
//! named by its id in the cache engine's default database), loaded from `chroma_records`,
//! advanced from `chroma_log`, evicted least recently used past `--cache-bytes`.

use crate::catalog::{self, CollRow};
use crate::graphs;
use crate::log::{bytes_f32, f32_bytes, Op};
use crate::pg::{pg_err, Pool};
use crate::Inner;
use chroma_store::Engine;
use chroma_types::metadata::metadata_from_json;
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, Dialect, Error, ErrorKind, GetRequest, Include, Result, UpdateMetadata,
    DEFAULT_DATABASE, DEFAULT_TENANT,
};
use parking_lot::lock_api::{ArcRwLockReadGuard, ArcRwLockWriteGuard};
use parking_lot::{Mutex, RawRwLock, RwLock};
use postgres::fallible_iterator::FallibleIterator;
use postgres::{GenericClient, Transaction};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Records per batch when a cache is loaded.
const LOAD_BATCH: usize = 4096;

/// Estimated bytes a cached record costs beyond its vector (ids, row, graph links).
const RECORD_OVERHEAD: u64 = 256;

#[derive(Default)]
/// Whether a collection is cached, and how far.
pub struct State {
    loaded: Option<Loaded>,
}

struct Loaded {
    incarnation: i64,
    /// Shared, so a read can note what it saw without copying the text.
    config: Arc<str>,
    pos: u64,
    /// Set while the cache is exactly what a load from `chroma_records` made of it (no change
    /// applied since) and its graph was not taken from PostgreSQL: the graph it links then
    /// fits every node loading the same records, so it is published (see `graphs`).
    publishable: Option<graphs::Built>,
}

struct Entry {
    state: Arc<RwLock<State>>,
    /// Milliseconds since the cache was created, at the last use.
    last_used: AtomicU64,
    bytes: AtomicU64,
}

/// What a cache was while a read ran on it.
pub struct Seen {
    incarnation: i64,
    config: Arc<str>,
    pos: u64,
}

impl Seen {
    /// True if a read of a cache as it was here answers for `row`: the same collection
    /// (incarnation) and configuration, at or past `row`'s log position.
    pub fn covers(&self, row: &CollRow) -> bool {
        self.incarnation == row.incarnation && *self.config == *row.config_text && self.pos >= row.coll.log_position
    }
}

/// A read guard: the collection's cache stays as it is (not advanced, evicted or reloaded)
/// while it is held.
pub type ReadGuard = ArcRwLockReadGuard<RawRwLock, State>;
type WriteGuard = ArcRwLockWriteGuard<RawRwLock, State>;

pub struct Cache {
    engine: Engine,
    pool: Arc<Pool>,
    entries: Mutex<HashMap<Uuid, Arc<Entry>>>,
    limit: Option<u64>,
    start: Instant,
}

fn apply(engine: &Engine, id: Uuid, op: Op) -> Result<()> {
    match op {
        Op::Add(r) => engine.add(id, r),
        Op::Upsert(r) => engine.upsert(id, r),
        Op::Update(r) => engine.update(id, r),
        Op::Delete(ids) => engine.delete(id, Op::delete_request(ids)).map(drop),
    }
}

fn record_bytes(dim: Option<usize>) -> u64 {
    dim.map_or(0, |d| d as u64 * 4) + RECORD_OVERHEAD
}

impl Cache {
    pub fn new(engine: Engine, limit: Option<u64>, pool: Arc<Pool>) -> Cache {
        Cache { engine, pool, entries: Mutex::new(HashMap::new()), limit, start: Instant::now() }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn entry(&self, id: Uuid) -> Arc<Entry> {
        let e = self
            .entries
            .lock()
            .entry(id)
            .or_insert_with(|| {
                Arc::new(Entry {
                    state: Arc::new(RwLock::new(State::default())),
                    last_used: AtomicU64::new(0),
                    bytes: AtomicU64::new(0),
                })
            })
            .clone();
        e.last_used.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
        e
    }

    pub fn usage(&self) -> (u64, usize) {
        let entries = self.entries.lock();
        let bytes = entries.values().map(|e| e.bytes.load(Ordering::Relaxed)).sum();
        let n = entries.values().filter(|e| e.bytes.load(Ordering::Relaxed) > 0).count();
        (bytes, n)
    }

    /// Whether this node holds the collection's cache loaded (at any position).
    pub fn is_loaded(&self, id: Uuid) -> bool {
        let entry = self.entries.lock().get(&id).cloned();
        entry.is_some_and(|e| e.state.read().loaded.is_some())
    }

    /// The cache of `row`'s collection, caught up to at least `row`'s log position.
    pub fn synced(&self, id: Uuid, row: &CollRow, conn: &mut impl GenericClient) -> Result<ReadGuard> {
        let entry = self.entry(id);
        {
            let st = entry.state.read_arc();
            if st.loaded.as_ref().is_some_and(|l| Self::current(l, row) && l.pos >= row.coll.log_position) {
                return Ok(st);
            }
        }
        let mut st = entry.state.write_arc();
        self.sync(&entry, &mut st, id, row, conn)?;
        Ok(ArcRwLockWriteGuard::downgrade(st))
    }

    fn current(l: &Loaded, row: &CollRow) -> bool {
        l.incarnation == row.incarnation && *l.config == *row.config_text
    }

    /// Runs `f` on the collection's cache as it is, without PostgreSQL, if this node holds it
    /// loaded; with what the cache was (its incarnation, configuration and position) while `f` ran.
    pub fn as_is<T>(&self, id: Uuid, f: impl FnOnce(&Engine) -> T) -> Option<(Seen, T)> {
        let entry = self.entries.lock().get(&id).cloned()?;
        entry.last_used.store(self.start.elapsed().as_millis() as u64, Ordering::Relaxed);
        // The read guard keeps catch-ups, writes and reloads out while `f` runs, so the
        // result is the state at `pos`.
        let st = entry.state.read_arc();
        let l = st.loaded.as_ref()?;
        let seen = Seen { incarnation: l.incarnation, config: l.config.clone(), pos: l.pos };
        Some((seen, f(&self.engine)))
    }

    fn sync(
        &self,
        entry: &Entry,
        st: &mut WriteGuard,
        id: Uuid,
        row: &CollRow,
        conn: &mut impl GenericClient,
    ) -> Result<()> {
        if st.loaded.as_ref().is_some_and(|l| !Self::current(l, row)) {
            self.unload(entry, st, id);
        }
        if st.loaded.is_none() {
            self.load(entry, st, id, row, conn)?;
        }
        let pos = st.loaded.as_ref().map_or(0, |l| l.pos);
        if pos < row.coll.log_position {
            if let Err(e) = self.catch_up(entry, st, id, row, conn) {
                if e.kind == ErrorKind::Unavailable {
                    return Err(e);
                }
                // The log did not replay (pruned, or an entry this node refuses): the records
                // table is the truth; load it again.
                tracing::warn!(collection = %id, error = %e, "change log did not replay; reloading the cache");
                self.unload(entry, st, id);
                self.load(entry, st, id, row, conn)?;
            }
        }
        Ok(())
    }

    fn unload(&self, entry: &Entry, st: &mut WriteGuard, id: Uuid) {
        st.loaded = None;
        entry.bytes.store(0, Ordering::Relaxed);
        if let Err(e) = self.engine.delete_collection(DEFAULT_TENANT, DEFAULT_DATABASE, &id.to_string()) {
            if e.kind != ErrorKind::NotFound {
                tracing::warn!(collection = %id, error = %e, "could not drop a cache");
            }
        }
    }

    /// Loads the collection's records (one statement: one snapshot, with the log position
    /// it reflects), in insertion order.
    fn load(
        &self,
        entry: &Entry,
        st: &mut WriteGuard,
        id: Uuid,
        row: &CollRow,
        conn: &mut impl GenericClient,
    ) -> Result<()> {
        let started = Instant::now();
        let _ = self.engine.delete_collection(DEFAULT_TENANT, DEFAULT_DATABASE, &id.to_string());
        let create = CreateCollection {
            name: id.to_string(),
            id: Some(id),
            metadata: row.coll.metadata.clone(),
            ..Default::default()
        };
        self.engine.create_collection_with_config(DEFAULT_TENANT, DEFAULT_DATABASE, create, &row.coll.config)?;
        let result = self.load_rows(id, conn);
        let (pos, n, ids) = match result {
            Ok(x) => x,
            Err(e) => {
                let _ = self.engine.delete_collection(DEFAULT_TENANT, DEFAULT_DATABASE, &id.to_string());
                return Err(e);
            }
        };
        let loaded_ms = started.elapsed().as_millis() as u64;
        let built = graphs::Built {
            incarnation: row.incarnation,
            config_sha: graphs::config_sha(&row.config_text),
            position: pos,
            ids_sha: ids.finish(),
        };
        let imported = n > 0 && self.import_graph(id, &built, conn);
        // The vectors are searchable now (exact scan); the graph links behind (or is complete).
        self.engine.link_in_background(id)?;
        entry.bytes.store(n as u64 * record_bytes(row.coll.dimension), Ordering::Relaxed);
        let publishable = (n > 0 && !imported).then_some(built);
        if let Some(b) = &publishable {
            self.spawn_publisher(entry, id, b.clone());
        }
        st.loaded =
            Some(Loaded { incarnation: row.incarnation, config: row.config_text.as_str().into(), pos, publishable });
        tracing::info!(collection = %id, records = n, position = pos, load_ms = loaded_ms, graph_from_postgres = imported,
            ms = started.elapsed().as_millis() as u64, "cache loaded from PostgreSQL");
        Ok(())
    }

    /// Takes the collection's graph from PostgreSQL if one was built over exactly these
    /// records; false (the vectors stay unlinked) if there is none or it does not load.
    fn import_graph(&self, id: Uuid, built: &graphs::Built, conn: &mut impl GenericClient) -> bool {
        let bytes = match graphs::fetch(conn, id, built) {
            Ok(Some(b)) => b,
            Ok(None) => return false,
            Err(e) => {
                tracing::warn!(collection = %id, error = %e, "could not read the saved graph; linking the vectors here");
                return false;
            }
        };
        match self.engine.import_graph(id, &bytes) {
            Ok(linked) => {
                tracing::info!(collection = %id, linked, bytes = bytes.len(), "graph taken from PostgreSQL");
                true
            }
            Err(e) => {
                tracing::warn!(collection = %id, error = %e, "saved graph refused; linking the vectors here");
                if let Err(e) = graphs::discard(conn, id, built) {
                    tracing::warn!(collection = %id, error = %e, "could not discard the refused graph");
                }
                false
            }
        }
    }

    /// Waits (on its own thread) until the collection's vectors are all linked, then saves the
    /// graph to PostgreSQL if the cache is still exactly what the load made (`publishable`).
    fn spawn_publisher(&self, entry: &Entry, id: Uuid, built: graphs::Built) {
        let (engine, state, pool) = (self.engine.clone(), entry.state.clone(), self.pool.clone());
        let still = move |st: &State| st.loaded.as_ref().is_some_and(|l| l.publishable.as_ref() == Some(&built));
        let spawned = std::thread::Builder::new().name("chroma-cluster-graph".into()).spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(200));
                if !still(&state.read()) {
                    return;
                }
                match engine.index_progress(id) {
                    Ok((linked, stored)) if linked >= stored => break,
                    Ok(_) => {}
                    Err(_) => return, // dropped from the cache meanwhile
                }
            }
            // The state's read lock keeps writes and catch-ups out while the graph is copied.
            let (export, built) = {
                let st = state.read();
                let Some(b) = st.loaded.as_ref().and_then(|l| l.publishable.clone()) else { return };
                match engine.export_graph(id) {
                    Ok(Some(x)) if x.linked == x.stored => (x, b),
                    _ => return,
                }
            };
            let started = Instant::now();
            match graphs::publish(&pool, id, &built, &export.bytes, export.linked) {
                Ok(saved) => tracing::info!(collection = %id, saved, bytes = export.bytes.len(),
                    ms = started.elapsed().as_millis() as u64, "graph published to PostgreSQL"),
                Err(e) => tracing::warn!(collection = %id, error = %e, "could not publish the graph"),
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start the graph publisher");
        }
    }

    fn load_rows(&self, id: Uuid, conn: &mut impl GenericClient) -> Result<(u64, usize, graphs::IdsHash)> {
        // The statement stays open while the cache takes its rows in (graph inserts and all),
        // which can outlast the per-statement timeout; a dead server is still noticed by the
        // TCP user timeout.
        conn.batch_execute("SET statement_timeout = 0").map_err(|e| pg_err("loading a cache", e))?;
        let loaded = self.stream_rows(id, conn);
        conn.batch_execute("RESET statement_timeout").map_err(|e| pg_err("loading a cache", e))?;
        loaded
    }

    /// Streams the rows (one statement) while a second thread puts the previous batch into
    /// the cache: decoding PostgreSQL's rows and the engine's inserts overlap.
    fn stream_rows(&self, id: Uuid, conn: &mut impl GenericClient) -> Result<(u64, usize, graphs::IdsHash)> {
        let mut rows = conn
            .query_typed_raw(
                "SELECT c.log_position, r.id, r.embedding, r.document, r.uri, r.metadata
                 FROM chroma_collections c LEFT JOIN chroma_records r ON r.collection_id = c.id
                 WHERE c.id = $1 ORDER BY r.seq",
                [(&id as &(dyn postgres::types::ToSql + Sync), postgres::types::Type::UUID)],
            )
            .map_err(|e| pg_err("loading a cache", e))?;
        let dialect = Dialect { legacy_metadata_keys: true, ..Dialect::V1 };
        let new_batch = || AddRequest {
            dialect,
            documents: Some(Vec::with_capacity(LOAD_BATCH)),
            uris: Some(Vec::with_capacity(LOAD_BATCH)),
            metadatas: Some(Vec::with_capacity(LOAD_BATCH)),
            ..Default::default()
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<AddRequest>(2);
        let engine = &self.engine;
        std::thread::scope(|scope| {
            let writer = scope.spawn(move || -> Result<usize> {
                let mut n = 0;
                for req in rx {
                    n += req.ids.len();
                    // On error the receiver is dropped: the reader's next send fails and it stops.
                    engine.bulk_add_unlinked(id, req)?;
                }
                Ok(n)
            });
            let mut pos = None;
            let mut ids = graphs::IdsHash::default();
            let mut batch = new_batch();
            let read = (|| -> Result<()> {
                while let Some(r) = rows.next().map_err(|e| pg_err("loading a cache", e))? {
                    pos = Some(r.get::<_, i64>(0) as u64);
                    let Some(rid) = r.get::<_, Option<String>>(1) else { continue };
                    ids.push(&rid);
                    batch.ids.push(rid);
                    batch.embeddings.push(r.get::<_, Option<&[u8]>>(2).map_or(Ok(Vec::new()), bytes_f32)?);
                    let meta: Option<&str> = r.get(5);
                    let meta = meta.map(parse_metadata).transpose()?;
                    if let (Some(d), Some(u), Some(m)) = (&mut batch.documents, &mut batch.uris, &mut batch.metadatas) {
                        d.push(r.get::<_, Option<String>>(3));
                        u.push(r.get::<_, Option<String>>(4));
                        m.push(meta);
                    }
                    if batch.ids.len() >= LOAD_BATCH && tx.send(std::mem::replace(&mut batch, new_batch())).is_err() {
                        return Ok(()); // the writer failed: its error is returned below
                    }
                }
                if !batch.ids.is_empty() {
                    let _ = tx.send(batch);
                }
                Ok(())
            })();
            drop(tx);
            let written = writer.join().map_err(|_| Error::internal("the cache loader thread panicked"))?;
            read?;
            let n = written?;
            let pos = pos.ok_or_else(|| Error::collection_not_found(&id.to_string()))?;
            Ok((pos, n, ids))
        })
    }

    fn catch_up(
        &self,
        entry: &Entry,
        st: &mut WriteGuard,
        id: Uuid,
        row: &CollRow,
        conn: &mut impl GenericClient,
    ) -> Result<()> {
        let Some(l) = st.loaded.as_mut() else { return Ok(()) };
        let rows = conn
            .query(
                "SELECT position, op FROM chroma_log WHERE collection_id = $1 AND position > $2 AND position <= $3
                 ORDER BY position",
                &[&id, &(l.pos as i64), &(row.coll.log_position as i64)],
            )
            .map_err(|e| pg_err("reading the change log", e))?;
        for r in rows {
            let p = r.get::<_, i64>(0) as u64;
            if p != l.pos + 1 {
                return Err(Error::internal(format!("change log of {id} has no entry {} (next is {p})", l.pos + 1)));
            }
            let op = Op::decode(r.get(1))?;
            let n = op.ids().len() as u64;
            l.publishable = None;
            apply(&self.engine, id, op)?;
            l.pos = p;
            entry.bytes.fetch_add(n * record_bytes(row.coll.dimension), Ordering::Relaxed);
        }
        if l.pos < row.coll.log_position {
            return Err(Error::internal(format!("change log of {id} ends before position {}", row.coll.log_position)));
        }
        Ok(())
    }

    /// One write, in `tx` (which holds the collection's row lock): catch up, apply to the
    /// cache, persist the touched records and the log entry, commit. The cache is dropped if
    /// anything after the apply fails (it may hold a change PostgreSQL does not).
    pub fn write<T>(
        &self,
        id: Uuid,
        row: &CollRow,
        mut tx: Transaction<'_>,
        apply_op: impl FnOnce(&Engine) -> Result<(T, Op)>,
    ) -> Result<T> {
        let entry = self.entry(id);
        let mut st = entry.state.write_arc();
        self.sync(&entry, &mut st, id, row, &mut tx)?;
        let (out, op) = apply_op(&self.engine)?;
        let n = op.ids().len() as u64;
        let done =
            self.persist(&mut tx, id, row, &op).and_then(|()| tx.commit().map_err(|e| pg_err("committing a write", e)));
        match done {
            Ok(()) => {
                if let Some(l) = st.loaded.as_mut() {
                    l.pos = row.coll.log_position + 1;
                    l.publishable = None;
                }
                let dim = self.engine.get_collection_by_id(id).ok().and_then(|c| c.dimension);
                entry.bytes.fetch_add(n * record_bytes(dim), Ordering::Relaxed);
                Ok(out)
            }
            Err(e) => {
                self.unload(&entry, &mut st, id);
                Err(e)
            }
        }
    }

    fn persist(&self, tx: &mut Transaction<'_>, id: Uuid, row: &CollRow, op: &Op) -> Result<()> {
        let pos = row.coll.log_position as i64 + 1;
        tx.execute(
            "INSERT INTO chroma_log (collection_id, position, op) VALUES ($1, $2, $3)",
            &[&id, &pos, &op.encode()?],
        )
        .map_err(|e| pg_err("writing the change log", e))?;
        let mut advanced = 0i64;
        if let Op::Delete(ids) = op {
            if !ids.is_empty() {
                tx.execute("DELETE FROM chroma_records WHERE collection_id = $1 AND id = ANY($2)", &[&id, ids])
                    .map_err(|e| pg_err("deleting records", e))?;
            }
        } else {
            let ids = op.ids();
            let order: HashMap<&str, i64> = ids.iter().enumerate().map(|(i, s)| (s.as_str(), i as i64)).collect();
            let got = self.engine.get(
                id,
                GetRequest {
                    ids: Some(ids.to_vec()),
                    include: vec![Include::Embeddings, Include::Documents, Include::Uris, Include::Metadatas],
                    ..Default::default()
                },
            )?;
            let n = got.ids.len();
            let seqs: Vec<i64> =
                got.ids.iter().map(|s| row.next_seq + order.get(s.as_str()).copied().unwrap_or(0)).collect();
            let embs: Vec<Option<Vec<u8>>> = match &got.embeddings {
                Some(e) => e.iter().map(|v| Some(f32_bytes(v))).collect(),
                None => vec![None; n],
            };
            let docs = got.documents.clone().unwrap_or_else(|| vec![None; n]);
            let uris = got.uris.clone().unwrap_or_else(|| vec![None; n]);
            // Metadata keys new to the schema join it (as chroma-store does on a folder);
            // `CollRow::config_text` leaves them out, so caches elsewhere are not reloaded.
            if let Some(c) =
                got.metadatas.as_ref().and_then(|m| row.coll.config.with_discovered_keys(m.iter().flatten()))
            {
                let text =
                    serde_json::to_string(&c).map_err(|e| Error::internal_from("encoding a configuration", e))?;
                tx.execute("UPDATE chroma_collections SET config = $2 WHERE id = $1", &[&id, &text])
                    .map_err(|e| pg_err("updating the collection schema", e))?;
            }
            let metas: Vec<Option<String>> = match &got.metadatas {
                Some(m) => m
                    .iter()
                    .map(|m| m.as_ref().map(|m| chroma_types::metadata::metadata_to_json(m).to_string()))
                    .collect(),
                None => vec![None; n],
            };
            if n > 0 {
                tx.execute(
                    "INSERT INTO chroma_records (collection_id, id, seq, embedding, document, uri, metadata)
                     SELECT $1, * FROM unnest($2::text[], $3::int8[], $4::bytea[], $5::text[], $6::text[], $7::text[])
                     ON CONFLICT (collection_id, id) DO UPDATE SET embedding = EXCLUDED.embedding,
                       document = EXCLUDED.document, uri = EXCLUDED.uri, metadata = EXCLUDED.metadata",
                    &[&id, &got.ids, &seqs, &embs, &docs, &uris, &metas],
                )
                .map_err(|e| pg_err("writing records", e))?;
            }
            advanced = ids.len() as i64;
        }
        let dim = self.engine.get_collection_by_id(id)?.dimension.map(|d| d as i32);
        tx.execute(
            "UPDATE chroma_collections SET log_position = $2, next_seq = next_seq + $3, dimension = $4 WHERE id = $1",
            &[&id, &pos, &advanced, &dim],
        )
        .map_err(|e| pg_err("advancing the change log", e))?;
        tx.execute("SELECT pg_notify('chroma_log', $1)", &[&format!("{id}:{pos}")])
            .map_err(|e| pg_err("advancing the change log", e))?;
        Ok(())
    }

    /// Drops a collection's cache (the collection was deleted).
    pub fn forget(&self, id: Uuid) {
        let entry = self.entries.lock().remove(&id);
        if let Some(entry) = entry {
            let mut st = entry.state.write_arc();
            self.unload(&entry, &mut st, id);
        }
    }

    /// Drops every cache.
    pub fn clear(&self) {
        let ids: Vec<Uuid> = self.entries.lock().keys().copied().collect();
        for id in ids {
            self.forget(id);
        }
    }

    /// Evicts least recently used caches (other than `keep`, and none in use) until the
    /// estimate is within the limit.
    pub fn evict(&self, keep: Uuid) {
        let Some(limit) = self.limit else { return };
        let mut entries: Vec<(Uuid, Arc<Entry>)> = self.entries.lock().iter().map(|(k, v)| (*k, v.clone())).collect();
        let mut total: u64 = entries.iter().map(|(_, e)| e.bytes.load(Ordering::Relaxed)).sum();
        if total <= limit {
            return;
        }
        entries.sort_by_key(|(_, e)| e.last_used.load(Ordering::Relaxed));
        for (id, e) in entries {
            if total <= limit {
                break;
            }
            if id == keep {
                continue;
            }
            if let Some(mut st) = e.state.try_write_arc() {
                let b = e.bytes.load(Ordering::Relaxed);
                if st.loaded.is_some() {
                    tracing::info!(collection = %id, bytes = b, "cache evicted (--cache-bytes)");
                    self.unload(&e, &mut st, id);
                    total = total.saturating_sub(b);
                }
            }
        }
    }

    /// Advances a loaded cache if it is behind `pos` (a notification from another node), or
    /// behind the collection's row when `pos` is `None`.
    fn advance(&self, inner: &Inner, id: Uuid, pos: Option<u64>) -> Result<()> {
        let Some(entry) = self.entries.lock().get(&id).cloned() else { return Ok(()) };
        if entry.state.read().loaded.as_ref().is_none_or(|l| pos.is_some_and(|p| l.pos >= p)) {
            return Ok(());
        }
        let mut conn = inner.pool.get()?;
        let row = match catalog::collection_row_prepared(&mut conn, id) {
            Err(e) if e.kind == ErrorKind::NotFound => {
                // Deleted (its drop notification missed): `index_only` reads must not find it.
                self.forget(id);
                return Ok(());
            }
            row => row?,
        };
        let mut st = entry.state.write_arc();
        if st.loaded.is_some() {
            self.sync(&entry, &mut st, id, &row, &mut *conn)?;
        }
        Ok(())
    }
}

fn parse_metadata(text: &str) -> Result<UpdateMetadata> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::internal_from("reading stored record metadata", e))?;
    Ok(metadata_from_json(&v)?.into_iter().map(|(k, v)| (k, Some(v))).collect())
}

/// LISTEN/NOTIFY: warm caches follow other nodes' writes soon after they commit (reads would
/// catch up anyway; this keeps that catch-up short). Reconnects after a failure.
pub fn spawn_listener(inner: Weak<Inner>) {
    let spawned = std::thread::Builder::new().name("chroma-cluster-listen".into()).spawn(move || loop {
        let client = match inner.upgrade() {
            None => return,
            Some(i) => i.pool.connect_dedicated(),
        };
        let Ok(mut client) = client else {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        };
        if client.batch_execute("LISTEN chroma_log").is_err() {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        // Writes committed before LISTEN took effect (at start, or while reconnecting) sent
        // notifications this node missed: catch up every cache once, so `index_only` reads
        // are not left behind until the next write.
        if let Some(node) = inner.upgrade() {
            let ids: Vec<Uuid> = node.cache.entries.lock().keys().copied().collect();
            for id in ids {
                if let Err(e) = node.cache.advance(&node, id, None) {
                    tracing::debug!(collection = %id, error = %e, "catch-up after LISTEN failed");
                }
            }
        }
        loop {
            let Some(node) = inner.upgrade() else { return };
            let mut pending: HashMap<Uuid, u64> = HashMap::new();
            let mut failed = false;
            {
                let mut notes = client.notifications();
                let mut it = notes.timeout_iter(Duration::from_millis(500));
                loop {
                    match it.next() {
                        Ok(Some(n)) => handle(&node, n.payload(), &mut pending),
                        Ok(None) => break,
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                    if pending.len() > 1024 {
                        break;
                    }
                }
            }
            for (id, pos) in pending {
                if let Err(e) = node.cache.advance(&node, id, Some(pos)) {
                    tracing::debug!(collection = %id, error = %e, "background catch-up failed");
                }
            }
            if failed || client.is_closed() {
                break;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the LISTEN thread; caches catch up on reads only");
    }
}

fn handle(node: &Inner, payload: &str, pending: &mut HashMap<Uuid, u64>) {
    if payload == "reset" {
        node.cache.clear();
    } else if let Some(id) = payload.strip_prefix("drop:") {
        if let Ok(id) = Uuid::parse_str(id) {
            node.cache.forget(id);
        }
    } else if let Some((id, pos)) = payload.split_once(':') {
        if let (Ok(id), Ok(pos)) = (Uuid::parse_str(id), pos.parse::<u64>()) {
            let p = pending.entry(id).or_insert(0);
            *p = (*p).max(pos);
        }
    }
}
