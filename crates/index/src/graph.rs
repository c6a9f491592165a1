//! HNSW graph internals: link storage, layer search, concurrent insertion.
//!
//! Links are stored in atomics so that readers (searches, and insertions traversing the graph)
//! never lock; writers take the per-node mutex while rewriting one node's list, and never hold
//! two node locks at once (no lock-order deadlocks). A link list is `[count, id0, id1, ...]`.
//! Readers may observe a list mid-rewrite; every id ever stored is a valid slot, so the worst
//! case is a slightly stale neighbourhood, which HNSW tolerates by design.

use std::cmp::{Ordering as CmpOrdering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use crate::distance::Kernels;
use crate::Space;

/// "No node" marker (entry point of an empty graph).
pub(crate) const NONE: u32 = u32::MAX;
/// Highest level a node can get (levels are drawn with mult = 1/ln(M), so >12 is already
/// astronomically unlikely for M >= 16).
pub(crate) const MAX_LEVEL: usize = 31;

/// A (distance, slot) pair ordered by distance, then slot (total order, NaN-safe).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub d: f32,
    pub id: u32,
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    #[inline]
    fn cmp(&self, o: &Self) -> CmpOrdering {
        self.d.total_cmp(&o.d).then(self.id.cmp(&o.id))
    }
}

/// A query as the graph sees it: a pointer to `dim` floats and its inverse norm (cosine only).
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub v: &'a [f32],
    pub inv: f32,
}

/// Read-only view of the vectors plus the metric.
///
/// Invariant (checked once by [`Store::new`], relied on by the unchecked reads of
/// [`Store::dist`] and [`Store::prefetch`]): `data` holds at least `n * dim` floats, and in
/// the cosine space `inv` holds at least `n` entries. The fields are private to this module
/// so that no other code can build a `Store` that breaks it.
#[derive(Clone, Copy)]
pub(crate) struct Store<'a> {
    data: &'a [f32],
    inv: &'a [f32],
    dim: usize,
    /// Number of slots: every valid id is `< n`.
    pub n: usize,
    pub space: Space,
    k: Kernels,
}

impl<'a> Store<'a> {
    /// A view of `n` rows of `dim` floats in `data` (slot-major), with the inverse norms
    /// `inv` (cosine only; may be empty otherwise).
    ///
    /// # Panics
    /// If `data` or (cosine) `inv` is shorter than `n` rows: the index keeps them in step,
    /// so this would be a bug, and it must not turn into out-of-bounds reads.
    pub fn new(data: &'a [f32], inv: &'a [f32], dim: usize, n: usize, space: Space, k: Kernels) -> Self {
        assert!(n.checked_mul(dim).is_some_and(|len| len <= data.len()), "store holds fewer than {n} rows");
        assert!(space != Space::Cosine || inv.len() >= n, "store holds fewer than {n} inverse norms");
        Store { data, inv, dim, n, space, k }
    }

    #[inline]
    pub fn query_of(&self, id: u32) -> Query<'a> {
        let s = id as usize * self.dim;
        let v = self.data.get(s..s + self.dim).unwrap_or(&[]);
        let inv = if self.space == Space::Cosine { self.inv.get(id as usize).copied().unwrap_or(1.0) } else { 1.0 };
        Query { v, inv }
    }

    /// Pointer to the first float of row `id`.
    ///
    /// # Safety
    /// `id < self.n`. Then, by the type invariant, the row `id * dim .. (id + 1) * dim`
    /// lies inside `data`, so the returned pointer is valid for reads of `dim` floats.
    #[inline]
    unsafe fn ptr(&self, id: u32) -> *const f32 {
        debug_assert!((id as usize) < self.n);
        // SAFETY: `id < n` (caller) and `n * dim <= data.len()` (type invariant), so the
        // offset `id * dim` is within `data` (and does not overflow: it is below its length).
        unsafe { self.data.as_ptr().add(id as usize * self.dim) }
    }

    /// Distance from `q` to slot `id`; infinity if `id >= n` or `q` holds fewer than `dim`
    /// floats (neither happens for ids from the graph and checked queries).
    #[inline]
    pub fn dist(&self, q: &Query, id: u32) -> f32 {
        if (id as usize) >= self.n || q.v.len() < self.dim {
            return f32::INFINITY;
        }
        let (qp, dim) = (q.v.as_ptr(), self.dim);
        // SAFETY: `id < n` (checked above), so `ptr` is valid for `dim` floats (see `ptr`);
        // `q.v` holds at least `dim` floats (checked above); the kernels were selected for
        // this CPU (`Kernels` invariant). In the cosine space `inv.len() >= n > id` (type
        // invariant), so `get_unchecked(id)` is in bounds.
        unsafe {
            let p = self.ptr(id);
            match self.space {
                Space::L2 => (self.k.l2sq)(qp, p, dim),
                Space::InnerProduct => 1.0 - (self.k.dot)(qp, p, dim),
                Space::Cosine => 1.0 - (self.k.dot)(qp, p, dim) * q.inv * *self.inv.get_unchecked(id as usize),
            }
        }
    }

    /// Hints the CPU to fetch the first two cache lines of row `id` (no-op when out of range
    /// or not on `x86_64`): the hardware prefetcher follows from there within the row.
    #[inline]
    pub fn prefetch(&self, id: u32) {
        self.prefetch_bytes(id, 128);
    }

    /// Hints the CPU to fetch the whole of row `id` (no-op when out of range or not on
    /// `x86_64`): an exact scan of scattered slots asks for the rows a few slots ahead, as
    /// the hardware prefetcher does not follow jumps of several pages.
    #[inline]
    pub fn prefetch_row(&self, id: u32) {
        self.prefetch_bytes(id, self.dim * 4);
    }

    /// Prefetches the cache lines of the first `bytes` bytes of row `id`.
    #[inline]
    fn prefetch_bytes(&self, id: u32, bytes: usize) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            if (id as usize) < self.n {
                // SAFETY: `id < n` (checked above) satisfies `ptr`'s contract. `_mm_prefetch`
                // needs SSE, which every x86_64 CPU has (it is in the target's baseline). The
                // addresses are computed with `wrapping_add` (they may lie past the end of
                // `data` for a short last row), and a prefetch never faults or reads memory
                // architecturally, whatever the address.
                unsafe {
                    let p = self.ptr(id).cast::<i8>();
                    let mut off = 0;
                    while off < bytes {
                        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
                        off += 64;
                    }
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (id, bytes);
    }
}

/// Per-search scratch space: visited marks with a generation tag (no clearing between
/// searches) plus the heaps and buffers, all reused across searches.
pub(crate) struct Scratch {
    marks: Vec<u16>,
    tag: u16,
    pub cand: BinaryHeap<Reverse<Cand>>,
    pub top: BinaryHeap<Cand>,
    pub sorted: Vec<Cand>,
    pub sel: Vec<Cand>,
    pub tmp: Vec<Cand>,
    pub tmp2: Vec<Cand>,
    pub own: Vec<Cand>,
    pub nbuf: Vec<u32>,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            marks: Vec::new(),
            tag: 0,
            cand: BinaryHeap::new(),
            top: BinaryHeap::new(),
            sorted: Vec::new(),
            sel: Vec::new(),
            tmp: Vec::new(),
            tmp2: Vec::new(),
            own: Vec::new(),
            nbuf: Vec::new(),
        }
    }

    #[inline]
    fn begin(&mut self, n: usize) {
        if self.marks.len() < n {
            self.marks.resize(n, 0);
        }
        self.tag = self.tag.wrapping_add(1);
        if self.tag == 0 {
            self.marks.fill(0);
            self.tag = 1;
        }
    }

    /// Marks `id` visited; true if it was not visited before in this search.
    #[inline]
    fn visit(&mut self, id: u32) -> bool {
        match self.marks.get_mut(id as usize) {
            Some(m) if *m != self.tag => {
                *m = self.tag;
                true
            }
            _ => false,
        }
    }
}

/// Pool of scratch spaces, one taken per search or per inserting thread.
#[derive(Default)]
pub(crate) struct ScratchPool(Mutex<Vec<Scratch>>);

impl ScratchPool {
    pub fn take(&self) -> Scratch {
        self.0.lock().pop().unwrap_or_else(Scratch::new)
    }
    pub fn put(&self, s: Scratch) {
        let mut g = self.0.lock();
        if g.len() < 16 {
            g.push(s);
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    pub node: u32,
    pub max_level: u32,
}

/// The HNSW graph over slots `0..n`.
pub(crate) struct Graph {
    pub m: usize,
    pub m0: usize,
    pub mult: f64,
    pub levels: Vec<u8>,
    /// Level-0 lists, contiguous, stride `m0 + 1`.
    pub level0: Vec<AtomicU32>,
    /// Upper-level lists per node: `level * (m + 1)` atomics (empty for level-0 nodes).
    pub upper: Vec<Box<[AtomicU32]>>,
    pub locks: Vec<Mutex<()>>,
    pub entry: Mutex<Entry>,
}

impl Graph {
    pub fn new(m: usize) -> Self {
        Graph {
            m,
            m0: 2 * m,
            mult: 1.0 / (m as f64).ln(),
            levels: Vec::new(),
            level0: Vec::new(),
            upper: Vec::new(),
            locks: Vec::new(),
            entry: Mutex::new(Entry { node: NONE, max_level: 0 }),
        }
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    /// Reserves room for `cap` nodes in total.
    pub fn reserve_total(&mut self, cap: usize) {
        let n = self.len();
        if cap > n {
            let extra = cap - n;
            self.levels.reserve_exact(extra);
            self.level0.reserve_exact(extra * (self.m0 + 1));
            self.upper.reserve_exact(extra);
            self.locks.reserve_exact(extra);
        }
    }

    /// Appends a node with the given level and empty link lists.
    pub fn push_node(&mut self, level: u8) {
        self.levels.push(level);
        let new_len = self.level0.len() + self.m0 + 1;
        self.level0.resize_with(new_len, || AtomicU32::new(0));
        let up = level as usize * (self.m + 1);
        self.upper.push((0..up).map(|_| AtomicU32::new(0)).collect());
        self.locks.push(Mutex::new(()));
    }

    /// Level for a slot: deterministic per slot (hash -> uniform -> -ln(u) * mult).
    pub fn level_for(&self, slot: u32, seed: u64) -> u8 {
        let h = splitmix64(seed ^ u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64; // in (0, 1)
        let l = (-u.ln() * self.mult).floor();
        if l.is_finite() && l >= 0.0 {
            (l as usize).min(MAX_LEVEL) as u8
        } else {
            0
        }
    }

    #[inline]
    pub fn max_links(&self, level: usize) -> usize {
        if level == 0 {
            self.m0
        } else {
            self.m
        }
    }

    /// Link list `[count, ids...]` of `id` at `level` (empty slice if absent).
    #[inline]
    pub fn links(&self, id: u32, level: usize) -> &[AtomicU32] {
        if level == 0 {
            let s = id as usize * (self.m0 + 1);
            self.level0.get(s..s + self.m0 + 1).unwrap_or(&[])
        } else {
            let s = (level - 1) * (self.m + 1);
            match self.upper.get(id as usize) {
                Some(b) => b.get(s..s + self.m + 1).unwrap_or(&[]),
                None => &[],
            }
        }
    }

    /// Copies the neighbours of `id` at `level` into `out`.
    #[inline]
    pub fn read_links(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        let l = self.links(id, level);
        if l.is_empty() {
            return;
        }
        let c = (l[0].load(Ordering::Acquire) as usize).min(l.len() - 1);
        out.extend(l[1..=c].iter().map(|a| a.load(Ordering::Relaxed)));
    }

    /// Overwrites the list (caller holds the node lock or has exclusive access).
    fn write_links(&self, id: u32, level: usize, ids: impl Iterator<Item = u32>) {
        let l = self.links(id, level);
        if l.is_empty() {
            return;
        }
        let mut c = 0usize;
        for v in ids {
            if c + 1 >= l.len() {
                break;
            }
            l[c + 1].store(v, Ordering::Relaxed);
            c += 1;
        }
        l[0].store(c as u32, Ordering::Release);
    }

    /// Sets a list from loaded data (exclusive access).
    pub fn set_links(&self, id: u32, level: usize, ids: &[u32]) {
        self.write_links(id, level, ids.iter().copied());
    }

    /// Greedy descent from `(cur, cur_d)` through levels `from` down to `to + 1`.
    #[allow(clippy::too_many_arguments)]
    pub fn greedy(
        &self,
        st: &Store,
        q: &Query,
        mut cur: u32,
        mut cur_d: f32,
        from: usize,
        to: usize,
        buf: &mut Vec<u32>,
    ) -> (u32, f32) {
        let mut level = from;
        while level > to {
            loop {
                let mut changed = false;
                self.read_links(cur, level, buf);
                for &nb in buf.iter() {
                    let d = st.dist(q, nb);
                    if d < cur_d {
                        cur_d = d;
                        cur = nb;
                        changed = true;
                    }
                }
                if !changed {
                    break;
                }
            }
            level -= 1;
        }
        (cur, cur_d)
    }

    /// Best-first search of one layer from `ep`. Results (at most `ef`, only accepted nodes)
    /// are left in `sc.top` (max-heap). Rejected nodes are still traversed.
    #[allow(clippy::too_many_arguments)]
    pub fn search_layer<A: Fn(u32) -> bool>(
        &self,
        st: &Store,
        q: &Query,
        ep: u32,
        ep_d: f32,
        ef: usize,
        level: usize,
        sc: &mut Scratch,
        accept: A,
        accept_all: bool,
    ) {
        sc.begin(st.n);
        sc.top.clear();
        sc.cand.clear();
        let ef = ef.max(1);
        sc.visit(ep);
        let mut lower = f32::INFINITY;
        if accept_all || accept(ep) {
            sc.top.push(Cand { d: ep_d, id: ep });
            lower = ep_d;
        }
        sc.cand.push(Reverse(Cand { d: ep_d, id: ep }));
        let mut nbuf = std::mem::take(&mut sc.nbuf);
        while let Some(&Reverse(c)) = sc.cand.peek() {
            if c.d > lower && (accept_all || sc.top.len() >= ef) {
                break;
            }
            sc.cand.pop();
            // collect unvisited neighbours, then compute distances with prefetch one ahead
            nbuf.clear();
            let l = self.links(c.id, level);
            if l.is_empty() {
                continue;
            }
            let cnt = (l[0].load(Ordering::Acquire) as usize).min(l.len() - 1);
            for a in &l[1..=cnt] {
                let nb = a.load(Ordering::Relaxed);
                if sc.visit(nb) {
                    nbuf.push(nb);
                }
            }
            Self::offer(st, q, &nbuf, ef, sc, &mut lower, |nb| accept_all || accept(nb));
        }
        sc.nbuf = nbuf;
    }

    /// Level-0 search that only ever computes distances to accepted nodes (ACORN-1 style, for
    /// selective filters): an expanded node's accepted neighbours are taken first; when they
    /// are fewer than `m0 / 2`, the neighbours of its rejected neighbours (two hops) are
    /// scanned for accepted ones too, up to `m0` per expansion. Rejected nodes thus act as
    /// bridges across the parts of the graph the filter cuts out, without costing a distance
    /// each, so the walk costs about what an unfiltered one does instead of `1/f` times more.
    /// The entry point is kept as a starting candidate even when rejected. Leaves the best
    /// `ef` accepted nodes in `sc.top`.
    #[allow(clippy::too_many_arguments)]
    pub fn search_layer_filtered<A: Fn(u32) -> bool>(
        &self,
        st: &Store,
        q: &Query,
        ep: u32,
        ep_d: f32,
        ef: usize,
        sc: &mut Scratch,
        accept: A,
    ) {
        sc.begin(st.n);
        sc.top.clear();
        sc.cand.clear();
        let ef = ef.max(1);
        let want = self.m0.max(2);
        sc.visit(ep);
        let mut lower = f32::INFINITY;
        if accept(ep) {
            sc.top.push(Cand { d: ep_d, id: ep });
            lower = ep_d;
        }
        sc.cand.push(Reverse(Cand { d: ep_d, id: ep }));
        let mut nbuf = std::mem::take(&mut sc.nbuf);
        let mut bridges: Vec<u32> = Vec::with_capacity(self.m0);
        while let Some(&Reverse(c)) = sc.cand.peek() {
            if c.d > lower && sc.top.len() >= ef {
                break;
            }
            sc.cand.pop();
            nbuf.clear();
            bridges.clear();
            for nb in self.level0_list(c.id) {
                if accept(nb) {
                    if sc.visit(nb) {
                        nbuf.push(nb);
                    }
                } else if sc.visit(nb) {
                    // A bridge is crossed once: its accepted neighbours are marked when taken.
                    bridges.push(nb);
                }
            }
            if nbuf.len() < want / 2 {
                'two: for &b in &bridges {
                    for nb in self.level0_list(b) {
                        if accept(nb) && sc.visit(nb) {
                            nbuf.push(nb);
                            if nbuf.len() >= want {
                                break 'two;
                            }
                        }
                    }
                }
            }
            Self::offer(st, q, &nbuf, ef, sc, &mut lower, |_| true);
        }
        sc.nbuf = nbuf;
    }

    /// The inner step of both layer searches: scores the nodes of `nbuf` (prefetching the next
    /// one's vector), queues each that could still improve the results as a candidate, and
    /// keeps those `accept`ed among the best `ef` in `sc.top`; `lower` follows the worst kept.
    #[inline]
    fn offer(
        st: &Store,
        q: &Query,
        nbuf: &[u32],
        ef: usize,
        sc: &mut Scratch,
        lower: &mut f32,
        accept: impl Fn(u32) -> bool,
    ) {
        if let Some(&first) = nbuf.first() {
            st.prefetch(first);
        }
        for (j, &nb) in nbuf.iter().enumerate() {
            if let Some(&next) = nbuf.get(j + 1) {
                st.prefetch(next);
            }
            let d = st.dist(q, nb);
            if sc.top.len() < ef || d < *lower {
                sc.cand.push(Reverse(Cand { d, id: nb }));
                if accept(nb) {
                    sc.top.push(Cand { d, id: nb });
                    if sc.top.len() > ef {
                        sc.top.pop();
                    }
                    if let Some(t) = sc.top.peek() {
                        *lower = t.d;
                    }
                }
            }
        }
    }

    /// The level-0 links of `id` (a snapshot: a list being rewritten may be read half old).
    fn level0_list(&self, id: u32) -> impl Iterator<Item = u32> + '_ {
        let l = self.links(id, 0);
        let cnt = l.first().map_or(0, |c| (c.load(Ordering::Acquire) as usize).min(l.len() - 1));
        l.iter().skip(1).take(cnt).map(|a| a.load(Ordering::Relaxed))
    }

    /// hnswlib-style neighbour selection heuristic: walk candidates by ascending distance and
    /// keep one unless it is closer to an already kept neighbour than to the base node.
    fn heuristic(st: &Store, cands: &[Cand], m: usize, out: &mut Vec<Cand>) {
        out.clear();
        if cands.len() <= m {
            out.extend_from_slice(cands);
            return;
        }
        // l2 and cosine distances are never below 0, so a candidate at distance 0 (a duplicate
        // of the base vector; cosine allows for rounding) passes every check: keep it without
        // computing them. Without this, many identical vectors cost O(m^2) distances per
        // pruned list for nothing.
        let duplicate_below = match st.space {
            Space::L2 => 0.0,
            Space::Cosine => 1e-6,
            Space::InnerProduct => f32::NEG_INFINITY,
        };
        for c in cands {
            if out.len() >= m {
                break;
            }
            let qc = st.query_of(c.id);
            let good = c.d <= duplicate_below || out.iter().all(|r| st.dist(&qc, r.id) >= c.d);
            if good {
                out.push(*c);
            }
        }
    }

    /// `sel` (the heuristic's choice from `cands`) filled up to `m` with the closest pruned
    /// candidates: the new node's own out-links.
    fn fill_own(cands: &[Cand], sel: &[Cand], m: usize, out: &mut Vec<Cand>) {
        out.clear();
        out.extend_from_slice(sel);
        for c in cands {
            if out.len() >= m {
                break;
            }
            if !sel.iter().any(|o| o.id == c.id) {
                out.push(*c);
            }
        }
        out.sort_unstable();
    }

    /// Inserts node `id` (its vector is in `st`, its level and empty lists already exist).
    pub fn insert(&self, st: &Store, id: u32, ef_c: usize, sc: &mut Scratch) {
        let level = self.levels.get(id as usize).copied().unwrap_or(0) as usize;
        let mut guard = Some(self.entry.lock());
        let e = match guard.as_deref_mut() {
            Some(e) => *e,
            None => return,
        };
        if e.node == NONE {
            if let Some(g) = guard.as_deref_mut() {
                g.node = id;
                g.max_level = level as u32;
            }
            return;
        }
        let max_level = e.max_level as usize;
        if level <= max_level {
            guard = None; // release the global lock unless this node becomes the new entry point
        }
        let q = st.query_of(id);
        let mut cur = e.node;
        let mut cur_d = st.dist(&q, cur);
        let mut buf = std::mem::take(&mut sc.nbuf);
        if level < max_level {
            (cur, cur_d) = self.greedy(st, &q, cur, cur_d, max_level, level, &mut buf);
        }
        sc.nbuf = buf;
        for l in (0..=level.min(max_level)).rev() {
            self.search_layer(st, &q, cur, cur_d, ef_c, l, sc, |_| true, true);
            let mut sorted = std::mem::take(&mut sc.sorted);
            sorted.clear();
            sorted.extend(sc.top.drain().filter(|c| c.id != id));
            sorted.sort_unstable();
            let mut sel = std::mem::take(&mut sc.sel);
            Self::heuristic(st, &sorted, self.m, &mut sel);
            // The new node links out to up to M nodes (the heuristic's choice first, then the
            // closest pruned ones), but only the heuristic's choice links back: more ways out
            // of each node for searches (recall@10 at ef 100 on clustered-100k-384: 0.957 ->
            // 0.962) at ~7% more build time, where filling the reverse lists too cost 66%.
            let mut own = std::mem::take(&mut sc.own);
            Self::fill_own(&sorted, &sel, self.m, &mut own);
            self.set_own_links(st, id, l, &own, sc);
            sc.own = own;
            for c in &sel {
                self.connect(st, c.id, id, c.d, l, sc);
            }
            if let Some(best) = sel.first() {
                cur = best.id;
                cur_d = best.d;
            }
            sc.sorted = sorted;
            sc.sel = sel;
        }
        if let Some(mut g) = guard {
            if level > g.max_level as usize || g.node == NONE {
                g.node = id;
                g.max_level = level as u32;
            }
        }
    }

    /// Writes the new node's own list at `level`, merging with links other threads may have
    /// added meanwhile (pruned by the heuristic if over capacity).
    fn set_own_links(&self, st: &Store, id: u32, level: usize, sel: &[Cand], sc: &mut Scratch) {
        let maxc = self.max_links(level);
        let _lock = self.locks.get(id as usize).map(|l| l.lock());
        let mut existing = std::mem::take(&mut sc.nbuf);
        self.read_links(id, level, &mut existing);
        if existing.is_empty() {
            self.write_links(id, level, sel.iter().map(|c| c.id));
        } else {
            let q = st.query_of(id);
            let mut all = std::mem::take(&mut sc.tmp);
            all.clear();
            all.extend_from_slice(sel);
            for &e in &existing {
                if !all.iter().any(|c| c.id == e) {
                    all.push(Cand { d: st.dist(&q, e), id: e });
                }
            }
            all.sort_unstable();
            if all.len() <= maxc {
                self.write_links(id, level, all.iter().map(|c| c.id));
            } else {
                let mut out = std::mem::take(&mut sc.tmp2);
                Self::heuristic(st, &all, maxc, &mut out);
                self.write_links(id, level, out.iter().map(|c| c.id));
                sc.tmp2 = out;
            }
            sc.tmp = all;
        }
        sc.nbuf = existing;
    }

    /// Adds `new` (at distance `d`) to `node`'s list at `level`, pruning if full.
    fn connect(&self, st: &Store, node: u32, new: u32, d: f32, level: usize, sc: &mut Scratch) {
        let maxc = self.max_links(level);
        let l = self.links(node, level);
        if l.is_empty() {
            return;
        }
        let _lock = self.locks.get(node as usize).map(|l| l.lock());
        let cnt = (l[0].load(Ordering::Acquire) as usize).min(l.len() - 1);
        if l[1..=cnt].iter().any(|a| a.load(Ordering::Relaxed) == new) {
            return;
        }
        if cnt < maxc {
            l[cnt + 1].store(new, Ordering::Relaxed);
            l[0].store(cnt as u32 + 1, Ordering::Release);
            return;
        }
        let qn = st.query_of(node);
        let mut all = std::mem::take(&mut sc.tmp);
        all.clear();
        all.push(Cand { d, id: new });
        for a in &l[1..=cnt] {
            let e = a.load(Ordering::Relaxed);
            all.push(Cand { d: st.dist(&qn, e), id: e });
        }
        all.sort_unstable();
        let mut out = std::mem::take(&mut sc.tmp2);
        Self::heuristic(st, &all, maxc, &mut out);
        self.write_links(node, level, out.iter().map(|c| c.id));
        sc.tmp = all;
        sc.tmp2 = out;
    }
}

pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}
