//! The in-memory vector index of each collection: loading it from the vector and graph files,
//! linking an unindexed tail (inline when small, by a background thread when large), saving
//! the graph, and the explicit [`Engine::build_index`] of a bulk loader.

use super::{CollRow, CollState, Engine, IndexState, Inner};
use crate::error::ResultExt;
use crate::folder;
use chroma_index::{HnswParams, VectorIndex};
use chroma_types::{Error, IndexConfig, Result, Space};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// A collection's graph, from [`Engine::export_graph`].
#[derive(Debug, Clone)]
pub struct GraphExport {
    /// The graph file's bytes (chroma-index's format, CRC-checked).
    pub bytes: Vec<u8>,
    /// Slots the graph covers (linked).
    pub linked: usize,
    /// Slots stored (linked or pending).
    pub stored: usize,
    /// Slots holding a live record.
    pub live: usize,
}

/// Unlinked vectors found on load, or written by one request, up to this many are linked
/// before the load or the write returns; more are linked in the background.
pub(super) const INLINE_INDEX_MAX: usize = 2048;
/// Slots the background indexer links per step (a writer waits at most one step).
pub(super) const INDEX_STEP: usize = 1024;
/// A collection's version steps once no write came for this long (Chroma's compactor also
/// runs behind the writes; a quiet spell makes one step cover a burst of writes).
const VERSION_STEP_QUIET: Duration = Duration::from_secs(1);
/// How often a waiting version stepper looks again.
const VERSION_STEP_POLL: Duration = Duration::from_millis(100);

/// The index crate's name for a collection's distance function.
pub(super) fn to_index_space(s: Space) -> chroma_index::Space {
    match s {
        Space::L2 => chroma_index::Space::L2,
        Space::Ip => chroma_index::Space::InnerProduct,
        Space::Cosine => chroma_index::Space::Cosine,
    }
}

/// The HNSW parameters of a collection's configuration.
pub(super) fn hnsw_params(c: &IndexConfig) -> HnswParams {
    HnswParams {
        m: c.m,
        ef_construction: c.ef_construction,
        ef_search: c.ef_search,
        num_threads: c.num_threads,
        resize_factor: c.resize_factor,
    }
}

/// An index failure as an API error: bad vectors are the caller's fault, the rest internal.
pub(super) fn index_err(e: chroma_index::IndexError) -> Error {
    match e {
        chroma_index::IndexError::DimensionMismatch { expected, got } => Error::dimension(expected, got),
        chroma_index::IndexError::NonFinite { .. } => Error::invalid(e.to_string()).with_source(e),
        other => crate::error::internal("vector index", other),
    }
}

impl Engine {
    /// Makes sure the collection's index is in memory (loading it, or attaching the vectors
    /// unlinked when the graph file is missing or behind). A small unlinked tail is linked
    /// now; a large one by a background thread (`spawn_indexer`), during which searches scan
    /// it exactly, so the first query after an open never waits for a graph build.
    pub(super) fn ensure_index(&self, st: &Arc<CollState>, row: &CollRow) -> Result<()> {
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
                .with_source(e)
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
        // Reads must go on when the graph cannot be saved (a full disk): it is a cache.
        self.save_graph_best_effort(row, &mut g, 1);
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

    /// Links a collection's pending vectors (left by [`bulk_add_unlinked`](Self::bulk_add_unlinked)):
    /// by the background indexer when there are many and background indexing is on (searches
    /// scan them exactly meanwhile), else now.
    pub fn link_in_background(&self, collection: Uuid) -> Result<()> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        self.ensure_index(&st, &row)?;
        let pending = st.index.read().index.as_ref().map_or(0, VectorIndex::pending);
        if pending > INLINE_INDEX_MAX && self.inner.background_indexing.load(Ordering::Acquire) {
            self.spawn_indexer(collection, &st);
        } else if pending > 0 {
            if let Some(idx) = st.index.read().index.as_ref() {
                idx.index_pending(usize::MAX);
            }
        }
        Ok(())
    }

    /// The graph of a collection's linked vectors, in chroma-index's graph file format (see
    /// `chroma_index::VectorIndex::graph_bytes`), tagged with the collection's log position;
    /// `None` if it has no vectors.
    pub fn export_graph(&self, collection: Uuid) -> Result<Option<GraphExport>> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        self.ensure_index(&st, &row)?;
        let g = st.index.read();
        Ok(g.index.as_ref().map(|i| {
            let (bytes, linked) = i.graph_bytes(row.coll.log_position);
            GraphExport { bytes, linked, stored: i.len(), live: i.live_count() }
        }))
    }

    /// Puts a graph exported by [`export_graph`](Self::export_graph) from a copy of this
    /// collection holding the same vectors in the same slots in place of the collection's
    /// graph; vectors beyond it are linked in the background. The caller vouches that the
    /// slots match (a wrong graph cannot break memory safety, only mis-rank results); a
    /// damaged or mismatched (dimension, space, M, too many slots) graph is refused and the
    /// index left as it was. Returns the slots now linked.
    pub fn import_graph(&self, collection: Uuid, bytes: &[u8]) -> Result<usize> {
        let st = self.state(collection);
        let _w = st.write.lock();
        let row = self.collection_row(collection)?;
        self.ensure_index(&st, &row)?;
        let mut g = st.index.write();
        let Some(idx) = g.index.as_mut() else {
            return Err(Error::invalid(format!("collection {collection} has no vectors to attach a graph to")));
        };
        idx.attach_graph(bytes).map_err(index_err)?;
        let (linked, pending) = (idx.indexed(), idx.pending());
        self.save_graph_best_effort(&row, &mut g, 1);
        drop(g);
        if pending > 0 {
            self.spawn_indexer(collection, &st);
        } else {
            // Fully linked by the attached graph: indexing status says so at once, as after
            // a version step.
            self.mark_indexed(row.cid)?;
        }
        Ok(linked)
    }

    /// Starts the background indexer of a collection unless one is running or background
    /// indexing is off. It links `INDEX_STEP` slots per step under a shared lock (searches
    /// go on; a writer waits at most one step), saves the graph as it goes and when done, and
    /// stops when the engine is dropped (the drop saves what is linked).
    pub(super) fn spawn_indexer(&self, id: Uuid, st: &Arc<CollState>) {
        if !self.inner.background_indexing.load(Ordering::Acquire) || st.indexing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let st2 = st.clone();
        let spawned = std::thread::Builder::new()
            .name("chroma-rs-indexer".into())
            .spawn(move || Self::indexer_loop(&weak, id, &st2));
        if let Err(e) = spawned {
            st.indexing.store(false, Ordering::Release);
            tracing::warn!(error = %e, "could not start the background indexer; the index is linked on the next write or open");
        }
    }

    /// The background indexer's thread (see [`spawn_indexer`](Self::spawn_indexer)).
    fn indexer_loop(weak: &Weak<Inner>, id: Uuid, st: &CollState) {
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
                engine.save_linked_graph(id, st);
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

    /// `live[slot]`: whether a record holds the slot.
    fn live_bitmap(&self, row: &CollRow) -> Result<Vec<bool>> {
        let conn = self.reader()?;
        let mut live = vec![false; row.slot_count as usize];
        let mut stmt = conn.prepare_cached("SELECT slot FROM records WHERE cid = ?1").context("reading slots")?;
        let rows = stmt.query_map([row.cid], |r| r.get::<_, i64>(0)).context("reading slots")?;
        for s in rows {
            let s = s.context("reading slots")?;
            if let Some(x) = live.get_mut(s as usize) {
                *x = true;
            }
        }
        Ok(live)
    }

    /// [`save_graph_if_behind`](Self::save_graph_if_behind), logging a failure instead of
    /// returning it: for saves that follow a committed write or a load, where the graph is
    /// only a cache (the next load catches it up from the vector file).
    pub(super) fn save_graph_best_effort(&self, row: &CollRow, g: &mut IndexState, min_new: usize) {
        if let Err(e) = self.save_graph_if_behind(row, g, min_new) {
            tracing::warn!(collection = %row.coll.name, error = %e, "could not save the index graph; it is caught up on the next load");
        }
    }

    /// Saves the graph when at least `min_new` slots are not yet in the file.
    pub(super) fn save_graph_if_behind(&self, row: &CollRow, g: &mut IndexState, min_new: usize) -> Result<()> {
        let Some(dir) = self.coll_dir(&row.coll.id) else { return Ok(()) };
        let Some(index) = g.index.as_ref() else { return Ok(()) };
        let behind = index.indexed().saturating_sub(g.saved_slots);
        if behind == 0 || behind < min_new {
            return Ok(());
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        g.saved_slots =
            index.save_graph(&folder::graph_path(&dir, row.generation), row.coll.log_position).map_err(index_err)?;
        Ok(())
    }

    /// After a committed write: the collection's `version` steps (and `indexing_status`
    /// counts every operation written so far as indexed) once writes have been quiet for
    /// [`VERSION_STEP_QUIET`], the vector index has linked every vector and, persistent, its
    /// graph is saved: what Chroma's compaction does, which clients wait for by polling the
    /// collection's `version`. Nothing when background indexing is off (a bulk loader).
    pub(super) fn schedule_version_step(&self, id: Uuid, st: &Arc<CollState>) {
        *st.last_write.lock() = Some(Instant::now());
        if !self.inner.background_indexing.load(Ordering::Acquire) || st.stepping.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.inner);
        let st2 = st.clone();
        let spawned = std::thread::Builder::new()
            .name("chroma-rs-version".into())
            .spawn(move || Self::version_loop(&weak, id, &st2));
        if let Err(e) = spawned {
            st.stepping.store(false, Ordering::Release);
            tracing::warn!(error = %e, "could not start the version stepper; the version steps after the next write");
        }
    }

    /// The version stepper's thread (see [`schedule_version_step`](Self::schedule_version_step)).
    /// Holds the engine only while stepping, so dropping the engine ends it.
    fn version_loop(weak: &Weak<Inner>, id: Uuid, st: &Arc<CollState>) {
        loop {
            let due = st.last_write.lock().map(|t| t + VERSION_STEP_QUIET);
            let now = Instant::now();
            if let Some(due) = due.filter(|d| *d > now) {
                std::thread::sleep((due - now).min(VERSION_STEP_POLL));
                if weak.strong_count() == 0 {
                    return;
                }
                continue;
            }
            let Some(inner) = weak.upgrade() else { return };
            let engine = Engine { inner };
            let started = Instant::now();
            let stepped = engine.version_step(id, st);
            drop(engine);
            match stepped {
                Ok(false) => {
                    std::thread::sleep(VERSION_STEP_POLL); // the indexer is still linking
                    continue;
                }
                Ok(true) => {}
                Err(e) => {
                    if e.kind != chroma_types::ErrorKind::NotFound {
                        tracing::warn!(collection = %id, error = %e, "could not step the collection version");
                    }
                }
            }
            st.stepping.store(false, Ordering::Release);
            // A write after this step began would have found the stepper running: go on if so.
            let more = st.last_write.lock().is_some_and(|t| t >= started);
            if !more || st.stepping.swap(true, Ordering::AcqRel) {
                return;
            }
        }
    }

    /// One version step: `false` while the index still has unlinked vectors. Under the
    /// collection's writer lock, so the operations counted are those the index holds.
    fn version_step(&self, id: Uuid, st: &Arc<CollState>) -> Result<bool> {
        let _w = st.write.lock();
        let row = self.collection_row(id)?;
        self.ensure_index(st, &row)?;
        {
            let mut g = st.index.write();
            if g.index.as_ref().is_some_and(|i| i.pending() > 0) {
                drop(g);
                self.spawn_indexer(id, st);
                return Ok(false);
            }
            self.save_graph_best_effort(&row, &mut g, 1);
        }
        self.mark_indexed(row.cid)?;
        Ok(true)
    }

    /// Records that the index covers every operation written: `indexed_ops = total_ops` and
    /// the version steps, unless nothing was new. The caller holds the writer lock and has
    /// checked that nothing is pending.
    fn mark_indexed(&self, cid: i64) -> Result<()> {
        let conn = self.inner.conn.lock();
        conn.execute(
            "UPDATE collections SET indexed_ops = total_ops, version = version + 1
             WHERE cid = ?1 AND indexed_ops < total_ops",
            [cid],
        )
        .context("stepping the collection version")?;
        Ok(())
    }
}
