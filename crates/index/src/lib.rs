//! # chroma-index: the vector index of chroma-rs
//!
//! This crate answers "which stored vectors are nearest to this query vector?" for one
//! collection. It owns the vectors of a collection in memory (one contiguous slot-major
//! `Vec<f32>`), an HNSW graph over them and a tombstone bitset, and offers exact brute-force
//! search for small or heavily filtered cases. It is hand-written (no C++ build step) and
//! follows hnswlib's algorithm and memory layout ideas:
//!
//! * level of a node = `floor(-ln(U) / ln(M))` (drawn deterministically per slot),
//!   `M0 = 2 M` links at level 0, `M` above;
//! * neighbour selection with the HNSW "heuristic" (keep a candidate only if it is closer to
//!   the new node than to every neighbour already kept);
//! * level-0 links of all nodes in one contiguous array; visited marks with a generation tag
//!   in a pool of per-search scratch spaces, so an unfiltered search allocates nothing but its result;
//! * concurrent insertion ([`VectorIndex::append`] uses `params.num_threads` threads): link
//!   lists are atomics read lock-free, each node has its own mutex for writers.
//!
//! ## Usage
//! ```
//! use chroma_index::{Filter, HnswParams, Space, VectorIndex};
//! let mut idx = VectorIndex::new(3, Space::L2, HnswParams::default())?;
//! let slots = idx.append(&[0.0, 0.0, 1.0, /* slot 0 */ 1.0, 0.0, 0.0 /* slot 1 */])?;
//! assert_eq!(slots, 0..2);
//! let hits = idx.search(&[0.9, 0.0, 0.0], 1, None, Filter::All)?;
//! assert_eq!(hits[0].slot, 1);
//! let only0 = idx.search(&[0.9, 0.0, 0.0], 5, None, Filter::Allowed(&[0]))?;
//! assert_eq!(only0.len(), 1);
//! idx.remove(1)?;
//! assert_eq!(idx.search(&[0.9, 0.0, 0.0], 5, None, Filter::All)?[0].slot, 0);
//! # Ok::<(), chroma_index::IndexError>(())
//! ```
//!
//! ## Concurrency
//! Searches take `&self` and may run from many threads at once (`VectorIndex: Send + Sync`);
//! mutations (`append`, `remove`) take `&mut self`, so a caller typically wraps the index in
//! an `RwLock`. `append` parallelises internally with `params.num_threads` threads (batches
//! smaller than 256 vectors are inserted on the calling thread). With `num_threads = 1` a
//! build is deterministic (node levels are a hash of the slot, not a random stream).
//!
//! ## Unlinked (pending) slots
//! The graph covers a prefix `0..indexed()` of the slots. [`VectorIndex::append_unindexed`],
//! [`VectorIndex::unbuilt`] and [`VectorIndex::load`] (for slots beyond the file) leave slots
//! *pending*: stored and searchable, not linked. A search runs HNSW over the linked prefix and
//! an exact scan over the pending slots and merges both, so results stay complete.
//! [`VectorIndex::index_pending`] links them a step at a time and takes `&self`: searches run
//! meanwhile. `append` behind a pending tail joins the tail, so the graph stays a prefix, and
//! [`VectorIndex::save_graph`] saves exactly the linked prefix.
//!
//! ## Slots
//! Records are addressed by *slots*: dense `u32` ids `0..len` assigned in append order by the
//! storage layer. A removed slot is tombstoned (kept in the graph for connectivity, never
//! returned again). [`VectorIndex::compact`] rebuilds without tombstones.
//!
//! ## Spaces
//! * `L2`: squared euclidean distance;
//! * `InnerProduct`: `1 - a.b`;
//! * `Cosine`: `1 - a.b / ((|a| + 1e-30)(|b| + 1e-30))`. Original vectors are kept; the inverse
//!   norm of each slot is precomputed.
//!
//! Kernels (module [`distance`](mod@distance)) use AVX-512F when the CPU has it, else
//! AVX2+FMA, else a portable loop; the choice is made once at runtime.
//!
//! ## Search strategy and thresholds
//! Let `c` = number of candidate slots (live slots, intersected with the filter if any),
//! `n` = all slots in the graph (incl. tombstones), and `ef' = max(ef, k)`.
//! * `k` is capped at `c`; `k == 0` or `c == 0` returns an empty list.
//! * Without a filter, **brute force** (exact) is used when `c <= 1024` or `c^2 <= 32 * ef' * n`:
//!   an HNSW search costs roughly `32 * ef'` distance evaluations (about `ef'` expansions of a
//!   level-0 list of up to `2M = 32` links), brute force `c`; a whole index of fewer than ~3.2k
//!   live slots (at `ef' = 100`) is searched exactly.
//! * With a filter keeping `c` slots, one of three plans (issue 16, measured at 100k x 384):
//!   * **exact** when `c <= 1024`, or `c <= 64 * ef'` and `c^2 <= 32 * ef' * n`: the scan of
//!     a few thousand vectors (rows prefetched a few slots ahead, as scattered slots defeat
//!     the hardware prefetcher) beats any walk; 6.4k slots at `ef' = 100`.
//!   * **filtered walk** (ACORN-1 style) when `c < n / 5`: the level-0 search computes
//!     distances to allowed slots only, reaching them through up to two hops (a rejected
//!     neighbour's list is read, not its vector), with `ef' * 1.5`. A plain walk must visit
//!     about `n / c` times more nodes to collect `ef'` allowed ones (`32 ef' n / c`
//!     distances: 10x an unfiltered query at 10%), this walk about as many as an unfiltered
//!     one. Recall@10 on the clustered 100k set: 0.99-0.9995 from 3% to 22%.
//!   * **plain walk** otherwise: every node is traversed, the filter applies to the results
//!     only; with a fifth or more of the nodes allowed it costs under 5x an unfiltered walk
//!     and reads no second-hop lists.
//!
//!   `CHROMA_RS_FILTER_PLAN=exact|walk|acorn` forces a plan (benchmarks only).
//! * The walks apply the filter (and tombstones) during the search: rejected nodes are never
//!   returned. If a walk returns fewer than `k` results (the filter disconnected the allowed
//!   region), the query falls back to brute force, so a filtered query always returns exactly
//!   `min(k, c)` results.
//!
//! Results are sorted by ascending distance, ties by ascending slot.
//!
//! ## Graph file format (version 1, little-endian)
//! The file holds the graph only; vectors are stored by the caller and handed back on load.
//! ```text
//! offset size  field
//!  0      8    magic "CHRHNSW\0"
//!  8      4    version (1)
//! 12      4    dim
//! 16      4    space (0 = l2, 1 = ip, 2 = cosine)
//! 20      4    M
//! 24      4    M0 (= 2M)
//! 28      4    ef_construction (informational)
//! 32      8    slot count S (the graph covers slots 0..S)
//! 40      8    tag (caller's "last sequence covered")
//! 48      4    entry point slot (0xFFFFFFFF = empty graph)
//! 52      4    max level
//! 56      8    body length in bytes
//! 64      S    level of each slot (u8)
//!  ..          level-0 link list of each slot in slot order: u32 count, count x u32 slot
//!  ..          for each slot with level L > 0, lists of levels 1..=L: u32 count, count x u32
//! end-4   4    CRC-32 (IEEE) of all preceding bytes
//! ```
//! Saving writes `<path>.tmp`, fsyncs it, renames it over `path` and fsyncs the directory
//! (through [`fileio`], whose failpoints, on with the `failpoints` feature, let tests make
//! those calls fail; on failure the temporary file is removed and `path` is untouched).
//! Loading verifies magic, version, checksum, dim/space/M, every count and every link, and
//! returns an error (never panics) on anything unexpected, so the caller can rebuild.
//!
//! Why this file is long (~850 lines): it is the `VectorIndex` type only (search, insert,
//! remove, the unlinked tail); the kernels, graph and file format have their own modules, and
//! splitting the impl further would scatter one lock discipline across files.

#![deny(missing_docs)]

use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

pub mod distance;
pub mod fileio;
mod graph;
mod persist;
mod vecbuf;

pub use vecbuf::VecBuf;

use distance::Kernels;
use graph::{Cand, Graph, Query, ScratchPool, Store, NONE};

/// Distance function of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// Squared euclidean distance.
    L2,
    /// `1 - a.b`.
    InnerProduct,
    /// `1 - cos(a, b)`.
    Cosine,
}

/// HNSW parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct HnswParams {
    /// Links per node above level 0 (level 0 has `2 * m`). Default 16.
    pub m: usize,
    /// Candidate list size while inserting. Default 100.
    pub ef_construction: usize,
    /// Default candidate list size while searching. Default 100.
    pub ef_search: usize,
    /// Insertion threads; 0 = all available cores. Default 0.
    pub num_threads: usize,
    /// Capacity growth factor when appending (>= 1.0). Default 1.2.
    pub resize_factor: f64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams { m: 16, ef_construction: 100, ef_search: 100, num_threads: 0, resize_factor: 1.2 }
    }
}

/// Which slots a search may return.
#[derive(Clone, Copy, Debug)]
pub enum Filter<'a> {
    /// Every live slot.
    All,
    /// Only these slots (sorted ascending is expected; unsorted or duplicated input is
    /// accepted and normalised at some cost). Unknown or removed slots are ignored.
    Allowed(&'a [u32]),
}

/// One search result.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    /// The slot found.
    pub slot: u32,
    /// Its distance to the query, in the index's [`Space`].
    pub distance: f32,
}

/// What [`VectorIndex::load`] found in the graph file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadInfo {
    /// The tag passed to [`VectorIndex::save_graph`].
    pub tag: u64,
    /// Slots covered by the file; slots beyond it are left pending (see
    /// [`VectorIndex::index_pending`]): searchable at once, by exact scan, until indexed.
    pub graph_slots: u32,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// A dimension or an [`HnswParams`] value is out of its range (the message says which).
    #[error("invalid parameters: {0}")]
    InvalidParams(String),
    /// A vector or query does not have the index's dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length given (for a flat batch: its remainder modulo the dimension).
        got: usize,
    },
    /// A vector holds NaN or an infinity; such vectors are refused.
    #[error("vector {index} contains NaN or infinity")]
    NonFinite {
        /// Position of the offending vector in the batch (0 for a query).
        index: usize,
    },
    /// A slot that was never appended.
    #[error("slot {slot} out of range (len {len})")]
    SlotOutOfRange {
        /// The slot asked for.
        slot: u32,
        /// Number of slots in the index.
        len: usize,
    },
    /// The index already holds the most slots a `u32` can address.
    #[error("index is full (slots are u32)")]
    CapacityExceeded,
    /// The graph file is damaged (bad magic, checksum, count or link); rebuild instead.
    #[error("graph file corrupt: {0}")]
    Corrupt(String),
    /// The graph file is intact but does not fit (version, dim, space, M or vector count).
    #[error("graph file does not match: {0}")]
    Mismatch(String),
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// Cost factor of the brute-force / HNSW decision (see the crate docs).
const HNSW_COST_FACTOR: f64 = 32.0;
/// A filtered search over more than `ACORN_MIN_FACTOR * ef'` candidates walks the graph
/// (see the crate docs).
const ACORN_MIN_FACTOR: f64 = 64.0;
/// Filters keeping at least `1 / WALK_MIN_INVERSE` of the slots walk the whole graph.
const WALK_MIN_INVERSE: usize = 5;
/// How many slots ahead an exact scan asks for rows.
const PREFETCH_AHEAD: usize = 4;
/// Below this many candidates, always brute force.
const BRUTE_FORCE_MIN: usize = 1024;
/// Fewer new vectors than this are inserted on the calling thread.
const PARALLEL_MIN: usize = 256;
/// Seed of the per-slot level generator.
const LEVEL_SEED: u64 = 0x6368_726f_6d61_2d72; // "chroma-r"

/// In-memory vector index: vectors + HNSW graph + tombstones.
pub struct VectorIndex {
    dim: usize,
    space: Space,
    params: HnswParams,
    kernels: Kernels,
    vectors: VecBuf,
    /// `1 / (|v| + 1e-30)` per slot (cosine only; empty otherwise).
    inv_norms: Vec<f32>,
    deleted: Vec<u64>,
    n_deleted: usize,
    graph: Graph,
    pool: ScratchPool,
    /// Slots `0..indexed` are in the graph; `indexed..len` are pending: stored and
    /// searchable (by exact scan), not yet linked. Only grows, and only in whole steps of
    /// [`index_pending`](VectorIndex::index_pending) (or inline appends), so a saved graph
    /// never refers to a half-inserted node.
    indexed: AtomicUsize,
    /// Held by an indexing step and by `save_graph`: one builder at a time, and a save
    /// never sees a step half done.
    build_lock: parking_lot::Mutex<()>,
}

// Not derived: the vectors and the graph would print megabytes; the counts say enough.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for VectorIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VectorIndex")
            .field("dim", &self.dim)
            .field("space", &self.space)
            .field("len", &self.len())
            .field("live", &self.live_count())
            .field("pending", &self.pending())
            .finish()
    }
}

fn validate_params(dim: usize, p: &HnswParams) -> Result<(), IndexError> {
    if dim == 0 || dim > (1 << 24) {
        return Err(IndexError::InvalidParams(format!("dim must be in 1..=16777216, got {dim}")));
    }
    if p.m < 2 || p.m > 2048 {
        return Err(IndexError::InvalidParams(format!("m must be in 2..=2048, got {}", p.m)));
    }
    if p.ef_construction == 0 {
        return Err(IndexError::InvalidParams("ef_construction must be >= 1".into()));
    }
    if !(p.resize_factor.is_finite() && p.resize_factor >= 1.0) {
        return Err(IndexError::InvalidParams("resize_factor must be a finite number >= 1".into()));
    }
    Ok(())
}

fn check_finite(vectors: &[f32], dim: usize) -> Result<(), IndexError> {
    // Branch-free per block so the compiler vectorises it (a cold open checks every vector);
    // the position is searched only when a block fails.
    const BLOCK: usize = 1024;
    for (b, block) in vectors.chunks(BLOCK).enumerate() {
        let ok = block.iter().fold(true, |acc, x| acc & x.is_finite());
        if !ok {
            let pos = b * BLOCK + block.iter().position(|x| !x.is_finite()).unwrap_or(0);
            return Err(IndexError::NonFinite { index: pos / dim });
        }
    }
    Ok(())
}

impl VectorIndex {
    /// Empty index.
    pub fn new(dim: usize, space: Space, params: HnswParams) -> Result<Self, IndexError> {
        validate_params(dim, &params)?;
        Ok(VectorIndex {
            dim,
            space,
            graph: Graph::new(params.m),
            params,
            kernels: distance::kernels(),
            vectors: VecBuf::default(),
            inv_norms: Vec::new(),
            deleted: Vec::new(),
            n_deleted: 0,
            pool: ScratchPool::default(),
            indexed: AtomicUsize::new(0),
            build_lock: parking_lot::Mutex::new(()),
        })
    }

    /// Vector dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Distance space.
    pub fn space(&self) -> Space {
        self.space
    }

    /// Parameters in use.
    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// Number of slots, including removed ones.
    pub fn len(&self) -> usize {
        self.graph.len()
    }

    /// True if no slot was ever appended.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Slots linked into the graph (a prefix `0..indexed` of the slots).
    pub fn indexed(&self) -> usize {
        self.indexed.load(Ordering::Acquire).min(self.len())
    }

    /// Slots stored but not linked into the graph yet. Searches scan them exactly, so
    /// results stay complete; [`index_pending`](Self::index_pending) links them.
    pub fn pending(&self) -> usize {
        self.len() - self.indexed()
    }

    /// Number of slots not removed.
    pub fn live_count(&self) -> usize {
        self.len() - self.n_deleted
    }

    /// True if `slot` exists and was not removed.
    #[inline]
    pub fn is_live(&self, slot: u32) -> bool {
        (slot as usize) < self.len() && !self.is_deleted(slot)
    }

    #[inline]
    fn is_deleted(&self, slot: u32) -> bool {
        self.deleted.get(slot as usize >> 6).is_some_and(|w| w & (1u64 << (slot & 63)) != 0)
    }

    /// The stored vector of `slot` (also for removed slots), or None if out of range.
    pub fn vector(&self, slot: u32) -> Option<&[f32]> {
        let s = (slot as usize).checked_mul(self.dim)?;
        self.vectors.get(s..s + self.dim)
    }

    /// All stored vectors, slot-major.
    pub fn vectors(&self) -> &[f32] {
        &self.vectors
    }

    /// Sets the default `ef` of [`search`](Self::search).
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    fn store(&self) -> Store<'_> {
        Store::new(&self.vectors, &self.inv_norms, self.dim, self.len(), self.space, self.kernels)
    }

    fn threads(&self) -> usize {
        match self.params.num_threads {
            0 => std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            t => t,
        }
    }

    /// Adds vectors to the store and graph nodes (without links) for them.
    fn push_vectors(&mut self, vectors: &[f32]) -> Result<Range<u32>, IndexError> {
        if !vectors.len().is_multiple_of(self.dim) {
            return Err(IndexError::DimensionMismatch { expected: self.dim, got: vectors.len() % self.dim });
        }
        check_finite(vectors, self.dim)?;
        let count = vectors.len() / self.dim;
        let start = self.len();
        let end = start.checked_add(count).ok_or(IndexError::CapacityExceeded)?;
        if end >= NONE as usize {
            return Err(IndexError::CapacityExceeded);
        }
        // capacity growth by resize_factor
        let cap_slots = self.vectors.capacity() / self.dim;
        if end > cap_slots {
            let grown = ((cap_slots as f64) * self.params.resize_factor).ceil() as usize;
            let target = end.max(grown).min(NONE as usize - 1);
            let len = self.vectors.len();
            self.vectors.make_owned().reserve_exact(target * self.dim - len);
            self.graph.reserve_total(target);
            if self.space == Space::Cosine {
                self.inv_norms.reserve_exact(target - self.inv_norms.len());
            }
        }
        self.vectors.make_owned().extend_from_slice(vectors);
        if self.space == Space::Cosine {
            self.inv_norms.extend(vectors.chunks_exact(self.dim).map(distance::inv_norm));
        }
        for s in start..end {
            let lv = self.graph.level_for(s as u32, LEVEL_SEED);
            self.graph.push_node(lv);
        }
        self.deleted.resize(end.div_ceil(64), 0);
        Ok(start as u32..end as u32)
    }

    /// Inserts the given slots into the graph, in parallel when there are many.
    fn insert_slots(&self, slots: &[u32]) {
        /// Slots a thread claims at a time in the parallel phase.
        const CHUNK: usize = 16;
        if slots.is_empty() {
            return;
        }
        let st = self.store();
        let ef_c = self.params.ef_construction;
        let threads = self.threads().min(slots.len().div_ceil(PARALLEL_MIN)).max(1);
        // the first node of an empty graph becomes the entry point; insert a small prefix
        // serially so the parallel phase starts from a connected core
        let serial = if self.graph.entry.lock().node == NONE {
            slots.len().min(if threads > 1 { 64 } else { slots.len() })
        } else {
            0
        };
        let serial = if threads == 1 { slots.len() } else { serial };
        let mut sc = self.pool.take();
        for &s in &slots[..serial] {
            self.graph.insert(&st, s, ef_c, &mut sc);
        }
        self.pool.put(sc);
        let rest = &slots[serial..];
        if rest.is_empty() {
            return;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    let mut sc = self.pool.take();
                    loop {
                        let i = next.fetch_add(CHUNK, std::sync::atomic::Ordering::Relaxed);
                        if i >= rest.len() {
                            break;
                        }
                        for &s in &rest[i..(i + CHUNK).min(rest.len())] {
                            self.graph.insert(&st, s, ef_c, &mut sc);
                        }
                    }
                    self.pool.put(sc);
                });
            }
        });
    }

    /// Appends vectors (flat, `len % dim == 0`), assigning the next slots, and inserts them
    /// into the graph using `params.num_threads` threads. Rejects NaN/infinite values and
    /// leaves the index unchanged on error.
    ///
    /// If earlier slots are still pending (see [`append_unindexed`](Self::append_unindexed)),
    /// the new slots join the pending tail instead, so the graph stays a prefix of the slots.
    pub fn append(&mut self, vectors: &[f32]) -> Result<Range<u32>, IndexError> {
        let caught_up = self.pending() == 0;
        let range = self.push_vectors(vectors)?;
        if caught_up {
            let slots: Vec<u32> = range.clone().collect();
            self.insert_slots(&slots);
            self.indexed.store(range.end as usize, Ordering::Release);
        }
        Ok(range)
    }

    /// Appends vectors like [`append`](Self::append) but leaves them pending: searchable at
    /// once (exact scan), linked into the graph by [`index_pending`](Self::index_pending).
    pub fn append_unindexed(&mut self, vectors: &[f32]) -> Result<Range<u32>, IndexError> {
        self.push_vectors(vectors)
    }

    /// Links up to `max` pending slots into the graph (in slot order, `params.num_threads`
    /// threads) and returns how many are still pending. Takes `&self`: searches may run
    /// meanwhile (they scan the pending slots exactly); a second caller waits for the first.
    pub fn index_pending(&self, max: usize) -> usize {
        let _step = self.build_lock.lock();
        let len = self.len();
        let start = self.indexed.load(Ordering::Acquire).min(len);
        let end = start + max.min(len - start);
        let slots: Vec<u32> = (start as u32..end as u32).filter(|&s| !self.is_deleted(s)).collect();
        self.insert_slots(&slots);
        self.indexed.store(end, Ordering::Release);
        len - end
    }

    /// Tombstones `slot`: it is never returned by a search again. Removing an already removed
    /// slot is a no-op; an unknown slot is an error.
    pub fn remove(&mut self, slot: u32) -> Result<(), IndexError> {
        if slot as usize >= self.len() {
            return Err(IndexError::SlotOutOfRange { slot, len: self.len() });
        }
        if !self.is_deleted(slot) {
            if let Some(w) = self.deleted.get_mut(slot as usize >> 6) {
                *w |= 1u64 << (slot & 63);
                self.n_deleted += 1;
            }
        }
        Ok(())
    }

    /// Builds an index from scratch over `vectors` (slot-major); slots for which `live`
    /// returns false are tombstoned and not inserted into the graph.
    pub fn build(
        dim: usize,
        space: Space,
        params: HnswParams,
        vectors: impl Into<VecBuf>,
        live: impl Fn(u32) -> bool,
    ) -> Result<Self, IndexError> {
        let idx = Self::unbuilt(dim, space, params, vectors, live)?;
        idx.index_pending(usize::MAX);
        Ok(idx)
    }

    /// Like [`build`](Self::build) but links nothing: every slot is pending, searched exactly
    /// until [`index_pending`](Self::index_pending) links it. Instant, whatever the size.
    pub fn unbuilt(
        dim: usize,
        space: Space,
        params: HnswParams,
        vectors: impl Into<VecBuf>,
        live: impl Fn(u32) -> bool,
    ) -> Result<Self, IndexError> {
        let vectors: VecBuf = vectors.into();
        let mut idx = VectorIndex::new(dim, space, params)?;
        if !vectors.len().is_multiple_of(dim) {
            return Err(IndexError::DimensionMismatch { expected: dim, got: vectors.len() % dim });
        }
        idx.adopt_vectors(vectors)?;
        idx.mark_dead(&live);
        Ok(idx)
    }

    /// Takes ownership of `vectors` as the store (no copy) and creates graph nodes.
    fn adopt_vectors(&mut self, vectors: VecBuf) -> Result<(), IndexError> {
        // A mapped vector file was validated when it was written; scanning it here would read
        // every page at open. (A damaged value could only mis-rank: distances compare with
        // total_cmp, so NaN never panics.)
        if let VecBuf::Owned(v) = &vectors {
            check_finite(v, self.dim)?;
        }
        let n = vectors.len() / self.dim;
        if n >= NONE as usize {
            return Err(IndexError::CapacityExceeded);
        }
        if self.space == Space::Cosine {
            self.inv_norms = vectors.chunks_exact(self.dim).map(distance::inv_norm).collect();
        }
        self.vectors = vectors;
        self.graph.reserve_total(n);
        for s in 0..n {
            let lv = self.graph.level_for(s as u32, LEVEL_SEED);
            self.graph.push_node(lv);
        }
        self.deleted = vec![0; n.div_ceil(64)];
        self.n_deleted = 0;
        Ok(())
    }

    /// Tombstones the slots that are not live.
    fn mark_dead(&mut self, live: &impl Fn(u32) -> bool) {
        for s in 0..self.len() as u32 {
            if !live(s) {
                let _ = self.remove(s);
            }
        }
    }

    /// Saves the graph (not the vectors) atomically to `path` with the caller's `tag`. The
    /// file covers the linked slots `0..indexed()`; pending slots are not in it. Returns the
    /// number of slots the file covers.
    pub fn save_graph(&self, path: &Path, tag: u64) -> Result<usize, IndexError> {
        let _step = self.build_lock.lock();
        let n = self.indexed();
        let bytes = persist::encode(&self.graph, n, self.dim, self.space, self.params.ef_construction, tag);
        persist::write_atomic(path, &bytes)?;
        Ok(n)
    }

    /// The graph of the linked slots `0..indexed()` in the file format of
    /// [`save_graph`](Self::save_graph), in memory (to be kept elsewhere than in a file, and
    /// given back to [`attach_graph`](Self::attach_graph)). Returns the bytes and the number
    /// of slots they cover.
    pub fn graph_bytes(&self, tag: u64) -> (Vec<u8>, usize) {
        let _step = self.build_lock.lock();
        let n = self.indexed();
        (persist::encode(&self.graph, n, self.dim, self.space, self.params.ef_construction, tag), n)
    }

    /// Replaces the graph with one saved from an index holding the same vectors in the same
    /// slots (by [`graph_bytes`](Self::graph_bytes) or [`save_graph`](Self::save_graph)),
    /// keeping this index's vectors and tombstones: slots beyond the graph are left pending.
    /// The same checks as [`load`](Self::load); on error the index is unchanged.
    pub fn attach_graph(&mut self, bytes: &[u8]) -> Result<LoadInfo, IndexError> {
        let gf = persist::decode(bytes, self.dim, self.space, self.params.m)?;
        if gf.slots > self.len() {
            return Err(IndexError::Mismatch(format!(
                "graph covers {} slots but the index holds {}",
                gf.slots,
                self.len()
            )));
        }
        let live: Vec<bool> = (0..self.len() as u32).map(|s| !self.is_deleted(s)).collect();
        let mut idx = VectorIndex::new(self.dim, self.space, self.params.clone())?;
        // The vectors move (no copy); they were checked when they were appended, so adopting
        // them again cannot fail, but if it did they are put back.
        let vectors = std::mem::take(&mut self.vectors);
        if let Err(e) = idx.adopt_vectors(vectors) {
            self.vectors = std::mem::take(&mut idx.vectors);
            return Err(e);
        }
        let info = idx.install_graph_file(&gf, |s| live.get(s as usize).copied().unwrap_or(false));
        *self = idx;
        Ok(info)
    }

    /// Loads a graph saved by [`save_graph`](Self::save_graph) and attaches `vectors`
    /// (slot-major; may hold more slots than the file covers: those are left pending, see
    /// [`index_pending`](Self::index_pending)).
    /// Slots for which `live` is false are tombstoned. A missing, corrupt, truncated or
    /// mismatched (dim/space/M) file, or fewer vectors than the file covers, is an error:
    /// the caller should then [`build`](Self::build).
    pub fn load(
        path: &Path,
        dim: usize,
        space: Space,
        params: HnswParams,
        vectors: impl Into<VecBuf>,
        live: impl Fn(u32) -> bool,
    ) -> Result<(Self, LoadInfo), IndexError> {
        let vectors: VecBuf = vectors.into();
        validate_params(dim, &params)?;
        let bytes = std::fs::read(path)?;
        Self::load_from_bytes(&bytes, dim, space, params, vectors, live)
    }

    /// [`load`](Self::load) from the file's bytes already in memory (the fuzz harness feeds
    /// damaged graphs this way). The same checks, the same errors.
    pub fn load_from_bytes(
        bytes: &[u8],
        dim: usize,
        space: Space,
        params: HnswParams,
        vectors: impl Into<VecBuf>,
        live: impl Fn(u32) -> bool,
    ) -> Result<(Self, LoadInfo), IndexError> {
        let vectors: VecBuf = vectors.into();
        validate_params(dim, &params)?;
        if !vectors.len().is_multiple_of(dim) {
            return Err(IndexError::DimensionMismatch { expected: dim, got: vectors.len() % dim });
        }
        let gf = persist::decode(bytes, dim, space, params.m)?;
        let n = vectors.len() / dim;
        if gf.slots > n {
            return Err(IndexError::Mismatch(format!("graph covers {} slots but only {n} vectors given", gf.slots)));
        }
        let mut idx = VectorIndex::new(dim, space, params)?;
        idx.adopt_vectors(vectors)?;
        let info = idx.install_graph_file(&gf, live);
        Ok((idx, info))
    }

    /// Installs a decoded graph file over freshly adopted vectors (every slot a fresh node).
    fn install_graph_file(&mut self, gf: &persist::GraphFile, live: impl Fn(u32) -> bool) -> LoadInfo {
        // the file's levels win for the slots it covers
        for (s, &lv) in gf.levels.iter().enumerate() {
            if self.graph.levels[s] != lv {
                self.graph.levels[s] = lv;
                self.graph.upper[s] =
                    (0..lv as usize * (self.graph.m + 1)).map(|_| std::sync::atomic::AtomicU32::new(0)).collect();
            }
        }
        debug_assert_eq!(gf.m, self.graph.m);
        persist::install(&self.graph, gf);
        self.mark_dead(&live);
        self.indexed.store(gf.slots, Ordering::Release);
        LoadInfo { tag: gf.tag, graph_slots: gf.slots as u32 }
    }

    /// Rebuilds without tombstones. Returns the new index and `map[old_slot] = Some(new_slot)`
    /// (None for removed slots); new slots keep the old relative order.
    pub fn compact(&self) -> Result<(VectorIndex, Vec<Option<u32>>), IndexError> {
        let mut map = Vec::with_capacity(self.len());
        let mut vecs = Vec::with_capacity(self.live_count() * self.dim);
        let mut next = 0u32;
        for s in 0..self.len() as u32 {
            if self.is_live(s) {
                if let Some(v) = self.vector(s) {
                    vecs.extend_from_slice(v);
                }
                map.push(Some(next));
                next += 1;
            } else {
                map.push(None);
            }
        }
        let idx = VectorIndex::build(self.dim, self.space, self.params.clone(), vecs, |_| true)?;
        Ok((idx, map))
    }

    fn check_query(&self, query: &[f32]) -> Result<(), IndexError> {
        if query.len() != self.dim {
            return Err(IndexError::DimensionMismatch { expected: self.dim, got: query.len() });
        }
        if query.iter().any(|x| !x.is_finite()) {
            return Err(IndexError::NonFinite { index: 0 });
        }
        Ok(())
    }

    fn make_query<'q>(&self, query: &'q [f32]) -> Query<'q> {
        let inv = if self.space == Space::Cosine { distance::inv_norm(query) } else { 1.0 };
        Query { v: query, inv }
    }

    fn use_brute(candidates: usize, total: usize, ef: usize) -> bool {
        let c = candidates as f64;
        candidates <= BRUTE_FORCE_MIN || c * c <= HNSW_COST_FACTOR * ef as f64 * total as f64
    }

    /// k nearest neighbours of `query` among live slots passing `filter`, ascending by
    /// distance (ties by slot). `ef` defaults to `params.ef_search` and is raised to `k`.
    /// Returns exactly `min(k, number of live allowed slots)` results.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        filter: Filter,
    ) -> Result<Vec<Neighbor>, IndexError> {
        self.check_query(query)?;
        let live = self.live_count();
        if k == 0 || live == 0 {
            return Ok(Vec::new());
        }
        let q = self.make_query(query);
        let ef = ef.unwrap_or(self.params.ef_search).max(k).max(1);
        Ok(match filter {
            Filter::All => self.search_all(&q, k.min(live), ef),
            Filter::Allowed(ids) => self.search_allowed(&q, k, ef, ids),
        })
    }

    /// [`search`](Self::search) without a filter; `0 < k <= live_count()`.
    fn search_all(&self, q: &Query, k: usize, ef: usize) -> Vec<Neighbor> {
        let total = self.len();
        // Slots `indexed..total` are not (fully) linked yet: scan them exactly and merge.
        let indexed = self.indexed();
        let all = || self.brute(q, k, (0..total as u32).filter(|&s| !self.is_deleted(s)));
        if indexed == 0 || Self::use_brute(self.live_count(), total, ef) {
            return all();
        }
        let mut res = if self.n_deleted == 0 {
            self.hnsw(q, k, ef, |_| true, Level0::All)
        } else {
            self.hnsw(q, k, ef, |s| !self.is_deleted(s), Level0::Accepted)
        };
        if indexed < total {
            let tail = self.brute(q, k, (indexed as u32..total as u32).filter(|&s| !self.is_deleted(s)));
            res = merge_top_k(res, tail, k);
        }
        if res.len() < k {
            return all();
        }
        res
    }

    /// [`search`](Self::search) restricted to the live slots among `ids`; `k > 0`.
    fn search_allowed(&self, q: &Query, k: usize, ef: usize, ids: &[u32]) -> Vec<Neighbor> {
        let owned;
        let ids = if ids.windows(2).all(|w| w[0] < w[1]) {
            ids
        } else {
            let mut v = ids.to_vec();
            v.sort_unstable();
            v.dedup();
            owned = v;
            &owned[..]
        };
        let allowed = ids.iter().filter(|&&s| self.is_live(s)).count();
        if allowed == 0 {
            return Vec::new();
        }
        let total = self.len();
        let indexed = self.indexed();
        let k = k.min(allowed);
        let brute = || self.brute(q, k, ids.iter().copied().filter(|&s| self.is_live(s)));
        let plan = Self::filter_plan(allowed, total, ef);
        if indexed == 0 || plan == Plan::Exact {
            return brute();
        }
        let mut bits = vec![0u64; total.div_ceil(64)];
        for &s in ids {
            if self.is_live(s) {
                bits[s as usize >> 6] |= 1u64 << (s & 63);
            }
        }
        let accept = |s: u32| bits.get(s as usize >> 6).is_some_and(|w| w & (1u64 << (s & 63)) != 0);
        let mut res = match plan {
            Plan::Walk => self.hnsw(q, k, ef, accept, Level0::Accepted),
            _ => self.hnsw(q, k, ef, accept, Level0::Filtered),
        };
        if indexed < total {
            let from = ids.partition_point(|&s| (s as usize) < indexed);
            let tail = self.brute(q, k, ids[from..].iter().copied().filter(|&s| self.is_live(s)));
            res = merge_top_k(res, tail, k);
        }
        if res.len() < k {
            return brute();
        }
        res
    }

    /// Exact top-k over the given slots.
    fn brute(&self, q: &Query, k: usize, slots: impl Iterator<Item = u32>) -> Vec<Neighbor> {
        let st = self.store();
        let mut heap: std::collections::BinaryHeap<Cand> = std::collections::BinaryHeap::with_capacity(k + 1);
        // Rows are asked for PREFETCH_AHEAD slots before they are read (scattered slots
        // defeat the hardware prefetcher): a small ring of the slots in flight.
        let mut slots = slots;
        let mut ring = [0u32; PREFETCH_AHEAD];
        let mut filled = 0;
        while filled < PREFETCH_AHEAD {
            let Some(s) = slots.next() else { break };
            st.prefetch_row(s);
            ring[filled] = s;
            filled += 1;
        }
        let mut at = 0usize;
        let mut left = filled;
        while left > 0 {
            let s = ring[at];
            if let Some(next) = slots.next() {
                st.prefetch_row(next);
                ring[at] = next;
            } else {
                left -= 1;
            }
            at = (at + 1) % PREFETCH_AHEAD;
            let d = st.dist(q, s);
            let c = Cand { d, id: s };
            if heap.len() < k {
                heap.push(c);
            } else if let Some(top) = heap.peek() {
                if c < *top {
                    heap.pop();
                    heap.push(c);
                }
            }
        }
        let mut v = heap.into_vec();
        v.sort_unstable();
        v.into_iter().map(|c| Neighbor { slot: c.id, distance: c.d }).collect()
    }

    /// How a filtered search keeping `candidates` of `total` slots runs (see the crate docs);
    /// `CHROMA_RS_FILTER_PLAN=exact|walk|acorn` forces one, for benchmarks.
    fn filter_plan(candidates: usize, total: usize, ef: usize) -> Plan {
        static FORCED: std::sync::OnceLock<Option<Plan>> = std::sync::OnceLock::new();
        let forced = FORCED.get_or_init(|| match std::env::var("CHROMA_RS_FILTER_PLAN").as_deref() {
            Ok("exact") => Some(Plan::Exact),
            Ok("walk") => Some(Plan::Walk),
            Ok("acorn") => Some(Plan::Acorn),
            _ => None,
        });
        if let Some(p) = *forced {
            return p;
        }
        let c = candidates as f64;
        if candidates <= BRUTE_FORCE_MIN
            || (c <= ACORN_MIN_FACTOR * ef as f64 && Self::use_brute(candidates, total, ef))
        {
            Plan::Exact
        } else if candidates.saturating_mul(WALK_MIN_INVERSE) < total {
            Plan::Acorn
        } else {
            Plan::Walk
        }
    }

    /// HNSW search; returns at most k accepted results, sorted. Level 0 is walked by `walk`:
    /// every node, the filter applied to the results (`accept_all` skips even that), or
    /// ([`Level0::Filtered`], [`graph::Graph::search_layer_filtered`]) computing distances
    /// only to accepted slots, with a 1.5x wider beam.
    fn hnsw<A: Fn(u32) -> bool>(&self, q: &Query, k: usize, ef: usize, accept: A, walk: Level0) -> Vec<Neighbor> {
        let e = *self.graph.entry.lock();
        if e.node == NONE {
            return Vec::new();
        }
        let st = self.store();
        let mut sc = self.pool.take();
        let mut buf = std::mem::take(&mut sc.nbuf);
        let d0 = st.dist(q, e.node);
        let (cur, cur_d) = self.graph.greedy(&st, q, e.node, d0, e.max_level as usize, 0, &mut buf);
        sc.nbuf = buf;
        match walk {
            Level0::All => self.graph.search_layer(&st, q, cur, cur_d, ef, 0, &mut sc, accept, true),
            Level0::Accepted => self.graph.search_layer(&st, q, cur, cur_d, ef, 0, &mut sc, accept, false),
            Level0::Filtered => self.graph.search_layer_filtered(&st, q, cur, cur_d, ef + ef / 2, &mut sc, accept),
        }
        let mut v = std::mem::take(&mut sc.sorted);
        v.clear();
        v.extend(sc.top.drain());
        v.sort_unstable();
        let out = v.iter().take(k).map(|c| Neighbor { slot: c.id, distance: c.d }).collect();
        sc.sorted = v;
        self.pool.put(sc);
        out
    }
}

/// How [`VectorIndex::hnsw`] walks level 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level0 {
    /// Every node is a result (no filter, no tombstone).
    All,
    /// Every node is walked; only accepted ones are results.
    Accepted,
    /// Distances only to accepted nodes (ACORN-1 style).
    Filtered,
}

/// The way a filtered search runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    /// Exact scan of the allowed slots.
    Exact,
    /// Graph walk over every node, the filter applied to the results only.
    Walk,
    /// Graph walk that computes distances to allowed slots only (two-hop bridges).
    Acorn,
}

/// The `k` best of two sorted result lists, without repeating a slot (a slot being linked
/// while a search runs can be found by both the graph walk and the pending scan).
fn merge_top_k(a: Vec<Neighbor>, b: Vec<Neighbor>, k: usize) -> Vec<Neighbor> {
    let mut all = a;
    all.extend(b);
    all.sort_unstable_by(|x, y| x.distance.total_cmp(&y.distance).then(x.slot.cmp(&y.slot)));
    let mut seen = std::collections::HashSet::with_capacity(all.len());
    all.retain(|n| seen.insert(n.slot));
    all.truncate(k);
    all
}

pub use distance::distance;
