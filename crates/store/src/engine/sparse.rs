//! The sparse vector index: one inverted index per (collection, metadata key), derived from
//! the records' metadata in `SQLite`. It is a cache, never a source of truth: built from one
//! consistent read of `SQLite` on first use after open, then kept current by the writes
//! themselves. A write holds the collection's sparse lock from before its commit until every
//! built index has it, and moves each index's tag (`log_position`, `generation`) from the state
//! it was built at to the one the write committed; an index found at any other tag (a write
//! path that did not update it) is rebuilt. So a search never sees a state older than the last
//! acknowledged write, and nothing sparse needs crash recovery.
//!
//! Upkeep: a record whose vector changes or goes away leaves a tombstone (its postings stay,
//! skipped by searches, until the dead documents pass a quarter of all, when the postings are
//! compacted); a new or changed vector is appended under a new document number. Document
//! numbers therefore follow write order, not id order, and equal scores are ordered by id
//! explicitly. Each posting list counts its live documents, so BM25's `N` and `n(t)` count live
//! documents only, exactly as a build from scratch would.
//!
//! Scoring is exact: the inner product of the query with every live record that shares at
//! least one index with it, summed in the query's term order. Two passes give the same answer:
//! the exhaustive one (term at a time over the query's posting lists) and `MaxScore` pruning
//! (document at a time; lists whose summed upper bounds cannot reach the current k-th score
//! are only probed, never walked), chosen where it pays by [`PRUNE_MIN_POSTINGS`].

use super::filter_index::{current_tag, Tag};
use super::plan::WritePlan;
use super::{CollRow, Engine, StoredRecord};
use crate::error::ResultExt;
use chroma_types::{Metadata, MetadataValue, Result, SparseVector};
use rusqlite::Connection;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// Dead documents tolerated before compaction: more than this share (1/n) of all documents.
const COMPACT_SHARE: usize = 4;
/// ... and at least this many (compacting a small index often gains nothing).
const COMPACT_MIN: usize = 64;
/// `MaxScore` is used when the query's posting lists hold at least this many entries in all
/// and the index holds at least [`PRUNE_DOCS_PER_RESULT`] live documents per result asked
/// for; otherwise the exhaustive pass, which is then as fast or faster (the measurements are
/// in `docs/search.md`).
pub(super) const PRUNE_MIN_POSTINGS: usize = 1024;
/// See [`PRUNE_MIN_POSTINGS`]: with a limit large against the collection the k-th score
/// stays low, few lists stop being walked, and the document-at-a-time pass costs more.
pub(super) const PRUNE_DOCS_PER_RESULT: usize = 2000;

/// The postings of one vector index (term).
#[derive(Clone, Default)]
struct Posting {
    /// Document numbers, ascending (appends only; compaction keeps the order).
    docs: Vec<u32>,
    /// The value of each document at this term.
    vals: Vec<f32>,
    /// Live documents in the list: `n(t)` of BM25.
    live: u32,
    /// The largest and smallest value in the list (tombstones included: still bounds).
    max: f32,
    min: f32,
}

/// The inverted index of one sparse key.
#[derive(Clone)]
pub(super) struct SparseIndex {
    /// The `SQLite` state this index reflects.
    tag: Tag,
    /// Record ids by document number (empty for a dead document).
    ids: Vec<String>,
    /// Whether each document number is live.
    live: Vec<bool>,
    /// The live document of each id.
    doc_of: HashMap<String, u32>,
    /// The terms of document `d` are `terms[term_start[d]..term_start[d + 1]]` (to count a
    /// tombstone out of its lists).
    term_start: Vec<usize>,
    terms: Vec<u32>,
    postings: HashMap<u32, Posting>,
    /// Dead document numbers.
    dead: usize,
}

/// A top-k candidate: the heap's greatest is the worst kept (lowest score, then highest id).
struct Cand<'a> {
    score: f32,
    id: &'a str,
    doc: u32,
}

impl Ord for Cand<'_> {
    fn cmp(&self, o: &Self) -> Ordering {
        o.score.total_cmp(&self.score).then_with(|| self.id.cmp(o.id))
    }
}
impl PartialOrd for Cand<'_> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl PartialEq for Cand<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand<'_> {}

/// One query term with a posting list: its weight and list.
struct QTerm<'a> {
    w: f32,
    list: &'a Posting,
    /// Upper bound of `w * value` over the list, at least 0 (a document without the term
    /// gets nothing from it).
    ub: f64,
    /// Upper bound of `|w * value|` (for the rounding slack).
    abs: f64,
}

impl SparseIndex {
    /// An empty index at `tag`.
    fn empty(tag: Tag) -> SparseIndex {
        SparseIndex {
            tag,
            ids: Vec::new(),
            live: Vec::new(),
            doc_of: HashMap::new(),
            term_start: vec![0],
            terms: Vec::new(),
            postings: HashMap::new(),
            dead: 0,
        }
    }

    /// Builds from `(id, vector)` pairs with distinct ids.
    pub(super) fn build(tag: Tag, docs: Vec<(String, SparseVector)>) -> SparseIndex {
        let mut ix = SparseIndex::empty(tag);
        for (id, v) in docs {
            ix.set(&id, Some(&v));
        }
        ix
    }

    /// Builds the index of `key` in collection `cid` from one consistent read of `SQLite`.
    fn load(conn: &Connection, cid: i64, key: &str) -> Result<SparseIndex> {
        let tx = conn.unchecked_transaction().context("reading sparse vectors")?;
        let (tag, _) = current_tag(&tx, cid)?;
        let mut docs = Vec::new();
        {
            let mut stmt = tx
                .prepare_cached("SELECT id, metadata FROM records WHERE cid = ?1 AND metadata IS NOT NULL ORDER BY id")
                .context("reading sparse vectors")?;
            let rows = stmt
                .query_map([cid], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .context("reading sparse vectors")?;
            for r in rows {
                let (id, text) = r.context("reading sparse vectors")?;
                // Most metadata holds no sparse vector: skip the JSON parse for it.
                if !text.contains("sparse_vector") {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&text).context("stored metadata is not JSON")?;
                if let Some(x) = v.get(key) {
                    if let Ok(MetadataValue::Sparse(s)) = MetadataValue::from_json(key, x) {
                        docs.push((id, *s));
                    }
                }
            }
        }
        tx.finish().context("reading sparse vectors")?;
        Ok(SparseIndex::build(tag, docs))
    }

    /// Live documents: `N` of BM25.
    fn live_count(&self) -> usize {
        self.ids.len() - self.dead
    }

    /// The id of document `d`.
    pub(super) fn id(&self, d: u32) -> &str {
        &self.ids[d as usize]
    }

    /// Sets the vector of `id` (`None`: it has none): the old one, if any, becomes a
    /// tombstone, the new one is appended.
    fn set(&mut self, id: &str, v: Option<&SparseVector>) {
        if let Some(d) = self.doc_of.remove(id) {
            let d = d as usize;
            self.live[d] = false;
            self.dead += 1;
            self.ids[d] = String::new();
            for t in &self.terms[self.term_start[d]..self.term_start[d + 1]] {
                if let Some(p) = self.postings.get_mut(t) {
                    p.live -= 1;
                }
            }
        }
        let Some(v) = v else { return };
        let d = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.live.push(true);
        self.doc_of.insert(id.to_string(), d);
        for (&t, &x) in v.indices.iter().zip(&v.values) {
            let p = self.postings.entry(t).or_insert_with(|| Posting { max: x, min: x, ..Posting::default() });
            p.docs.push(d);
            p.vals.push(x);
            p.live += 1;
            p.max = p.max.max(x);
            p.min = p.min.min(x);
        }
        self.terms.extend_from_slice(&v.indices);
        self.term_start.push(self.terms.len());
    }

    /// Drops the tombstones once they pass [`COMPACT_SHARE`]: live documents are renumbered in
    /// their order, so posting lists stay sorted.
    fn maybe_compact(&mut self) {
        if self.dead < COMPACT_MIN || self.dead * COMPACT_SHARE <= self.ids.len() {
            return;
        }
        let mut new_of = vec![u32::MAX; self.ids.len()];
        let (mut ids, mut term_start, mut terms) = (Vec::new(), vec![0], Vec::new());
        for (d, new) in new_of.iter_mut().enumerate() {
            if !self.live[d] {
                continue;
            }
            *new = ids.len() as u32;
            ids.push(std::mem::take(&mut self.ids[d]));
            terms.extend_from_slice(&self.terms[self.term_start[d]..self.term_start[d + 1]]);
            term_start.push(terms.len());
        }
        self.postings.retain(|_, p| {
            let (docs, vals) = (std::mem::take(&mut p.docs), std::mem::take(&mut p.vals));
            for (d, x) in docs.into_iter().zip(vals) {
                let n = new_of[d as usize];
                if n != u32::MAX {
                    p.docs.push(n);
                    p.vals.push(x);
                }
            }
            p.max = p.vals.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            p.min = p.vals.iter().copied().fold(f32::INFINITY, f32::min);
            !p.docs.is_empty()
        });
        for d in self.doc_of.values_mut() {
            *d = new_of[*d as usize];
        }
        self.live = vec![true; ids.len()];
        self.ids = ids;
        self.term_start = term_start;
        self.terms = terms;
        self.dead = 0;
    }

    /// Brings the index from `before` to `after` with a committed write's plan (`existing`:
    /// the records it replaced, by id). `false` (changing nothing) when the index was not at
    /// `before`: the caller drops it.
    fn apply_write(
        &mut self,
        key: &str,
        before: Tag,
        after: Tag,
        plan: &WritePlan,
        existing: &HashMap<String, StoredRecord>,
    ) -> bool {
        if self.tag != before {
            return false;
        }
        for p in plan.records.iter().filter(|p| p.metadata_changed) {
            let new = sparse_of(p.metadata.as_ref(), key);
            let old = existing.get(&p.id).and_then(|r| sparse_of(r.metadata.as_ref(), key));
            // A metadata update that leaves this key alone changes nothing here.
            if !(old.is_some() && new == old && self.doc_of.contains_key(&p.id)) {
                self.set(&p.id, new);
            }
        }
        self.tag = after;
        self.maybe_compact();
        true
    }

    /// Removes deleted ids and moves from `before` to `after`; `false` when not at `before`.
    fn apply_delete<'a>(&mut self, before: Tag, after: Tag, ids: impl Iterator<Item = &'a str>) -> bool {
        if self.tag != before {
            return false;
        }
        for id in ids {
            self.set(id, None);
        }
        self.tag = after;
        self.maybe_compact();
        true
    }

    /// The allowed-document mask of a list of allowed ids.
    pub(super) fn mask(&self, allowed: &[String]) -> Vec<bool> {
        let mut m = vec![false; self.ids.len()];
        for id in allowed {
            if let Some(&d) = self.doc_of.get(id) {
                m[d as usize] = true;
            }
        }
        m
    }

    /// The weighted query terms that have a posting list, in the query's order. With `bm25`
    /// (the key's schema says its vectors are BM25 term weights, as
    /// `ChromaBm25EmbeddingFunction` writes them) each term weighs its IDF instead of its own
    /// value: `idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))` over the `N` live records
    /// holding a vector for the key, `n(t)` of them holding `t`.
    fn query_terms(&self, query: &SparseVector, bm25: bool) -> Vec<QTerm<'_>> {
        let n_docs = self.live_count() as f64;
        let mut out = Vec::new();
        for (i, &value) in query.indices.iter().zip(&query.values) {
            let Some(list) = self.postings.get(i) else { continue };
            let w = if bm25 {
                let n = f64::from(list.live);
                (1.0 + (n_docs - n + 0.5) / (n + 0.5)).ln() as f32
            } else {
                value
            };
            let (a, b) = (f64::from(w) * f64::from(list.max), f64::from(w) * f64::from(list.min));
            out.push(QTerm { w, list, ub: a.max(b).max(0.0), abs: a.abs().max(b.abs()) });
        }
        out
    }

    /// The `limit` live records with the largest score (the inner product, or BM25 with
    /// `bm25`), as `(document number, score)`, best first, equal scores by id; `allowed` (by
    /// document number) restricts the candidates. `MaxScore` where it pays
    /// ([`PRUNE_MIN_POSTINGS`]), else the exhaustive pass: the same answer either way.
    pub(super) fn top(
        &self,
        query: &SparseVector,
        limit: usize,
        allowed: Option<&[bool]>,
        bm25: bool,
    ) -> Vec<(u32, f32)> {
        let terms = self.query_terms(query, bm25);
        let postings: usize = terms.iter().map(|t| t.list.docs.len()).sum();
        if postings >= PRUNE_MIN_POSTINGS && limit.saturating_mul(PRUNE_DOCS_PER_RESULT) <= self.live_count() {
            if let Some(top) = self.top_maxscore(&terms, limit, allowed) {
                return top;
            }
        }
        self.top_exhaustive(&terms, limit, allowed)
    }

    /// Whether document `d` may be a candidate.
    fn usable(&self, d: u32, allowed: Option<&[bool]>) -> bool {
        self.live[d as usize] && allowed.is_none_or(|a| a[d as usize])
    }

    /// The exhaustive pass: term at a time over every query list.
    fn top_exhaustive(&self, terms: &[QTerm<'_>], limit: usize, allowed: Option<&[bool]>) -> Vec<(u32, f32)> {
        if limit == 0 {
            return Vec::new();
        }
        let postings: usize = terms.iter().map(|t| t.list.docs.len()).sum();
        let mut scored: Vec<(u32, f32)> = if postings * 8 >= self.ids.len() {
            // Many candidates: a dense accumulator beats hashing every posting.
            let mut acc = vec![0.0f32; self.ids.len()];
            let mut hit = vec![false; self.ids.len()];
            let mut touched = Vec::new();
            for t in terms {
                for (&d, &x) in t.list.docs.iter().zip(&t.list.vals) {
                    if !self.usable(d, allowed) {
                        continue;
                    }
                    if !hit[d as usize] {
                        hit[d as usize] = true;
                        touched.push(d);
                    }
                    acc[d as usize] += t.w * x;
                }
            }
            touched.into_iter().map(|d| (d, acc[d as usize])).collect()
        } else {
            let mut acc: HashMap<u32, f32> = HashMap::new();
            for t in terms {
                for (&d, &x) in t.list.docs.iter().zip(&t.list.vals) {
                    if self.usable(d, allowed) {
                        *acc.entry(d).or_insert(0.0) += t.w * x;
                    }
                }
            }
            acc.into_iter().collect()
        };
        let by_score =
            |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then_with(|| self.id(a.0).cmp(self.id(b.0)));
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit, by_score);
            scored.truncate(limit);
        }
        scored.sort_by(by_score);
        scored
    }

    /// `MaxScore`: documents in number order over the "essential" lists only (those whose
    /// upper bounds, with every list of smaller bound, could still reach the k-th score); the
    /// other lists are probed for the documents that survive the bound. Scores are summed in
    /// the query's term order exactly as the exhaustive pass does, and every bound carries a
    /// slack for `f32` rounding, so the answer is identical, ties included. `None` when the
    /// values are too large for the slack to be sound (the caller goes exhaustive).
    fn top_maxscore(&self, terms: &[QTerm<'_>], limit: usize, allowed: Option<&[bool]>) -> Option<Vec<(u32, f32)>> {
        if limit == 0 || terms.is_empty() {
            return Some(Vec::new());
        }
        let total_abs: f64 = terms.iter().map(|t| t.abs).sum();
        if total_abs.is_nan() || total_abs >= 1e30 {
            return None;
        }
        // A computed f32 score is within this of the exact sum of its products.
        let slack = (terms.len() as f64 + 2.0) * f64::from(f32::EPSILON) * total_abs + f64::from(f32::MIN_POSITIVE);
        let mut ord: Vec<usize> = (0..terms.len()).collect();
        ord.sort_by(|&a, &b| terms[a].ub.total_cmp(&terms[b].ub));
        // prefix[j]: the summed bounds of the j lists of smallest bound.
        let mut prefix = vec![0.0f64; terms.len() + 1];
        for (j, &i) in ord.iter().enumerate() {
            prefix[j + 1] = prefix[j] + terms[i].ub;
        }
        let mut cursor = vec![0usize; terms.len()];
        let mut heap: BinaryHeap<Cand<'_>> = BinaryHeap::with_capacity(limit + 1);
        let mut threshold = f64::NEG_INFINITY;
        // Lists ord[..non_essential] are not walked.
        let mut non_essential = 0usize;
        let mut vals: Vec<Option<f32>> = vec![None; terms.len()];
        while let Some(d) =
            ord[non_essential..].iter().filter_map(|&i| terms[i].list.docs.get(cursor[i]).copied()).min()
        {
            let (probed, walked) = ord.split_at(non_essential);
            let bound = prefix[non_essential] + walk(terms, walked, &mut cursor, &mut vals, d);
            if !self.usable(d, allowed) || bound + slack < threshold {
                continue;
            }
            if !probe(terms, probed, &mut cursor, &mut vals, d, bound, threshold - slack) {
                continue;
            }
            // The exact score, summed in query order as the exhaustive pass does.
            let mut score = 0.0f32;
            let mut any = false;
            for (t, v) in terms.iter().zip(&vals) {
                if let Some(x) = v {
                    score += t.w * x;
                    any = true;
                }
            }
            if !any {
                continue;
            }
            let cand = Cand { score, id: self.id(d), doc: d };
            if heap.len() < limit {
                heap.push(cand);
            } else if heap.peek().is_some_and(|worst| cand < *worst) {
                heap.pop();
                heap.push(cand);
            } else {
                continue;
            }
            if heap.len() == limit {
                threshold = heap.peek().map_or(f64::NEG_INFINITY, |w| f64::from(w.score));
                while non_essential < terms.len() && prefix[non_essential + 1] + slack < threshold {
                    non_essential += 1;
                }
            }
        }
        Some(heap.into_sorted_vec().into_iter().map(|c| (c.doc, c.score)).collect())
    }
}

/// The sparse vector of `key` in a metadata map, if it holds one.
fn sparse_of<'a>(md: Option<&'a Metadata>, key: &str) -> Option<&'a SparseVector> {
    match md.and_then(|m| m.get(key)) {
        Some(MetadataValue::Sparse(v)) => Some(v),
        _ => None,
    }
}

/// `MaxScore`'s walk: advances the walked lists `ord` past `d`, noting each one's value at
/// `d` in `vals`; returns the sum of those values' contributions.
fn walk(terms: &[QTerm<'_>], ord: &[usize], cursor: &mut [usize], vals: &mut [Option<f32>], d: u32) -> f64 {
    let mut sum = 0.0;
    for &i in ord {
        let t = &terms[i];
        vals[i] = None;
        if t.list.docs.get(cursor[i]) == Some(&d) {
            vals[i] = Some(t.list.vals[cursor[i]]);
            sum += f64::from(t.w) * f64::from(t.list.vals[cursor[i]]);
            cursor[i] += 1;
        }
    }
    sum
}

/// `MaxScore`'s probes: looks `d` up in the lists `ord` that are not walked (largest bound
/// first), replacing each one's bound in `bound` by its contribution, while the document can
/// still reach `floor`. `false` when it cannot (the rest of `vals` is then stale).
fn probe(
    terms: &[QTerm<'_>],
    ord: &[usize],
    cursor: &mut [usize],
    vals: &mut [Option<f32>],
    d: u32,
    mut bound: f64,
    floor: f64,
) -> bool {
    for &i in ord.iter().rev() {
        let t = &terms[i];
        cursor[i] += t.list.docs[cursor[i]..].partition_point(|&x| x < d);
        bound -= t.ub;
        vals[i] = None;
        if t.list.docs.get(cursor[i]) == Some(&d) {
            vals[i] = Some(t.list.vals[cursor[i]]);
            bound += f64::from(t.w) * f64::from(t.list.vals[cursor[i]]);
        }
        if bound < floor {
            return false;
        }
    }
    true
}

/// The built sparse indexes of one collection, by key.
pub(super) type SparseIndexes = HashMap<String, SparseIndex>;

/// Brings every built index of a collection through a committed write (see
/// [`SparseIndex::apply_write`]); one that was out of step is dropped (rebuilt on next use).
pub(super) fn apply_write(
    indexes: &mut SparseIndexes,
    before: Tag,
    after: Tag,
    plan: &WritePlan,
    existing: &HashMap<String, StoredRecord>,
) {
    indexes.retain(|key, ix| ix.apply_write(key, before, after, plan, existing));
}

/// Brings every built index of a collection through a committed delete of `ids`.
pub(super) fn apply_delete(indexes: &mut SparseIndexes, before: Tag, after: Tag, ids: &[&str]) {
    indexes.retain(|_, ix| ix.apply_delete(before, after, ids.iter().copied()));
}

/// Moves indexes at `before` to `after` (a change that leaves every record's metadata as it
/// was: compaction renumbers slots only); drops the others.
pub(super) fn retag(indexes: &mut SparseIndexes, before: Tag, after: Tag) {
    indexes.retain(|_, ix| {
        let keep = ix.tag == before;
        ix.tag = after;
        keep
    });
}

/// Copies the indexes at `source` for a fork whose `SQLite` state is `fork`.
pub(super) fn fork(indexes: &SparseIndexes, source: Tag, fork: Tag) -> SparseIndexes {
    indexes
        .iter()
        .filter(|(_, ix)| ix.tag == source)
        .map(|(k, ix)| {
            let mut c = ix.clone();
            c.tag = fork;
            (k.clone(), c)
        })
        .collect()
}

impl Engine {
    /// The `limit` best records of a sparse `Knn` on `key` as `(id, score)` (see
    /// [`SparseIndex::top`]), among `allowed` if given. Builds the key's index on first use
    /// and rebuilds one that is out of step with `SQLite`.
    pub(super) fn sparse_top(
        &self,
        row: &CollRow,
        key: &str,
        query: &SparseVector,
        limit: usize,
        allowed: Option<&[String]>,
        bm25: bool,
    ) -> Result<Vec<(String, f32)>> {
        let st = self.state(row.coll.id);
        let run = |ix: &SparseIndex| {
            let mask = allowed.map(|a| ix.mask(a));
            ix.top(query, limit, mask.as_deref(), bm25).into_iter().map(|(d, s)| (ix.id(d).to_string(), s)).collect()
        };
        {
            // Writers hold the write lock from before their commit until the indexes have
            // the write: under the read lock, an index at SQLite's tag is current.
            let sp = st.sparse.read();
            if let Some(ix) = sp.get(key) {
                let (tag, _) = current_tag(&*self.reader()?, row.cid)?;
                if ix.tag == tag {
                    return Ok(run(ix));
                }
            }
        }
        let mut sp = st.sparse.write();
        let conn = self.reader()?;
        let (tag, _) = current_tag(&conn, row.cid)?;
        // Another search may have built it meanwhile.
        if sp.get(key).is_none_or(|ix| ix.tag != tag) {
            let built = SparseIndex::load(&conn, row.cid, key)?;
            self.inner.sparse_builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            sp.insert(key.to_string(), built);
        }
        drop(conn);
        let sp = parking_lot::RwLockWriteGuard::downgrade(sp);
        match sp.get(key) {
            Some(ix) => Ok(run(ix)),
            None => Err(chroma_types::Error::internal("the sparse index vanished while held")),
        }
    }
}

impl Engine {
    /// How many sparse indexes were built from scratch since open (writes keep built ones
    /// current, so this grows only with first uses). For tests and benchmarks.
    pub fn sparse_index_builds(&self) -> u64 {
        self.inner.sparse_builds.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(i: Vec<u32>, x: Vec<f32>) -> SparseVector {
        SparseVector::new(i, x, None).unwrap()
    }

    /// xorshift64*: deterministic data without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// Mostly small positive values, sometimes negative or tied ones; few distinct terms
        /// so lists are long and scores often equal.
        fn vector(&mut self, vocab: u64) -> SparseVector {
            let mut idx: Vec<u32> = (0..=self.below(6)).map(|_| self.below(vocab) as u32).collect();
            idx.sort_unstable();
            idx.dedup();
            let vals = idx
                .iter()
                .map(|_| match self.below(10) {
                    0 => -((self.below(4) + 1) as f32) / 4.0,
                    1..=3 => 1.0,
                    _ => (self.below(1000) + 1) as f32 / 997.0,
                })
                .collect();
            v(idx, vals)
        }
    }

    /// Brute force over the live `(id, vector)` map: (id, score) best first, ties by id.
    fn brute(
        live: &std::collections::BTreeMap<String, SparseVector>,
        q: &SparseVector,
        k: usize,
        bm25: bool,
    ) -> Vec<(String, f32)> {
        let n = live.len() as f64;
        let w: Vec<f32> = q
            .indices
            .iter()
            .zip(&q.values)
            .map(|(t, &x)| {
                if bm25 {
                    let nt = live.values().filter(|v| v.indices.contains(t)).count() as f64;
                    (1.0 + (n - nt + 0.5) / (nt + 0.5)).ln() as f32
                } else {
                    x
                }
            })
            .collect();
        let mut out: Vec<(String, f32)> = live
            .iter()
            .filter_map(|(id, v)| {
                let mut s = 0.0f32;
                let mut any = false;
                for (t, w) in q.indices.iter().zip(&w) {
                    if let Some(p) = v.indices.iter().position(|x| x == t) {
                        s += w * v.values[p];
                        any = true;
                    }
                }
                any.then(|| (id.clone(), s))
            })
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out.truncate(k);
        out
    }

    fn named(ix: &SparseIndex, top: Vec<(u32, f32)>) -> Vec<(String, f32)> {
        top.into_iter().map(|(d, s)| (ix.id(d).to_string(), s)).collect()
    }

    #[test]
    fn top_is_the_exact_inner_product_order() {
        let ix = SparseIndex::build(
            (0, 0, 0),
            vec![
                ("a".into(), v(vec![1, 2], vec![1.0, 1.0])),
                ("b".into(), v(vec![2, 3], vec![3.0, 1.0])),
                ("c".into(), v(vec![9], vec![5.0])),
            ],
        );
        let q = v(vec![1, 2], vec![2.0, 1.0]);
        assert_eq!(ix.top(&q, 10, None, false), vec![(0, 3.0), (1, 3.0)]);
        assert_eq!(ix.top(&q, 1, None, false), vec![(0, 3.0)]);
        assert_eq!(ix.top(&q, 10, Some(&[false, true, true]), false), vec![(1, 3.0)]);
        assert!(ix.top(&v(vec![7], vec![1.0]), 10, None, false).is_empty());
        // BM25: the query's values are ignored, each term weighs its IDF (term 1 is in one of
        // three records, term 2 in two)
        let idf = |n: f64| (1.0 + (3.0 - n + 0.5) / (n + 0.5)).ln() as f32;
        let got = ix.top(&q, 10, None, true);
        assert_eq!(got.len(), 2);
        assert_eq!((got[0].0, got[1].0), (0, 1), "{got:?}");
        assert!((got[0].1 - (idf(1.0) + idf(2.0))).abs() < 1e-6, "{got:?}");
        assert!((got[1].1 - 3.0 * idf(2.0)).abs() < 1e-6, "{got:?}");
    }

    /// The model test: random sets and removals (with compactions along the way) interleaved
    /// with searches; every answer of the kept-up index, exhaustive and `MaxScore`, equals a
    /// build from scratch of the same records and a brute force over them, ties and filters
    /// included; BM25's statistics count live documents only.
    #[test]
    fn incremental_upkeep_and_maxscore_match_a_fresh_build_and_brute_force() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for round in 0..6u64 {
            let vocab = [8, 30, 200][(round % 3) as usize];
            let ids = 40 + round * 60;
            let mut live = std::collections::BTreeMap::new();
            let mut ix = SparseIndex::empty((0, 0, 0));
            let mut compactions = 0;
            for step in 0..1500u32 {
                let id = format!("id{:04}", rng.below(ids));
                if rng.below(4) == 0 {
                    ix.set(&id, None);
                    live.remove(&id);
                } else {
                    let vec = rng.vector(vocab);
                    ix.set(&id, Some(&vec));
                    live.insert(id, vec);
                }
                let before = ix.dead;
                ix.maybe_compact();
                compactions += usize::from(ix.dead < before);
                if step % 25 != 0 {
                    continue;
                }
                let fresh = SparseIndex::build((0, 0, 0), live.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
                let q = rng.vector(vocab);
                let k = [1, 3, 10, 1000][rng.below(4) as usize];
                let allowed_ids: Vec<String> = live.keys().filter(|_| rng.below(3) != 0).cloned().collect();
                for bm25 in [false, true] {
                    let want = brute(&live, &q, k, bm25);
                    for (name, index) in [("kept up", &ix), ("fresh", &fresh)] {
                        let terms = index.query_terms(&q, bm25);
                        let ex = named(index, index.top_exhaustive(&terms, k, None));
                        let ms = named(index, index.top_maxscore(&terms, k, None).unwrap());
                        assert_eq!(ex, want, "{name} exhaustive, round {round} step {step} bm25 {bm25}");
                        assert_eq!(ms, want, "{name} maxscore, round {round} step {step} bm25 {bm25}");
                        // With a filter.
                        let mask = index.mask(&allowed_ids);
                        let allowed: std::collections::BTreeMap<String, SparseVector> =
                            allowed_ids.iter().map(|id| (id.clone(), live[id].clone())).collect();
                        let mut want_f = brute(&live, &q, usize::MAX, bm25);
                        want_f.retain(|(id, _)| allowed.contains_key(id));
                        want_f.truncate(k);
                        assert_eq!(named(index, index.top_exhaustive(&terms, k, Some(&mask))), want_f, "{name}");
                        assert_eq!(named(index, index.top_maxscore(&terms, k, Some(&mask)).unwrap()), want_f, "{name}");
                    }
                }
                assert_eq!(ix.live_count(), live.len());
            }
            assert!(compactions > 0, "round {round} never compacted");
        }
    }
}

/// The figures behind [`PRUNE_MIN_POSTINGS`]: exhaustive pass vs `MaxScore` on synthetic
/// BM25-like data (Zipf terms, stop words removed, Chroma's k1/b/avgdl), checked equal.
/// `SPARSE_BENCH_DOCS=100000,1000000 cargo test --release -p chroma-store --lib maxscore_figures -- --ignored --nocapture`
#[cfg(test)]
mod bench {
    use super::*;
    use std::time::Instant;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
        /// A Zipf-like term over 50,000, the 20 most frequent (stop words) left out.
        fn term(&mut self) -> u32 {
            loop {
                let t = (self.unit() * 50_000f64.ln()).exp() as u32;
                if t >= 20 {
                    return t;
                }
            }
        }
        fn doc(&mut self) -> SparseVector {
            let len = 8 + (self.next() % 40) as usize;
            let mut tf = std::collections::BTreeMap::<u32, f64>::new();
            for _ in 0..len {
                *tf.entry(self.term()).or_default() += 1.0;
            }
            let norm = 1.2 * (1.0 - 0.75 + 0.75 * len as f64 / 256.0);
            let (i, v): (Vec<u32>, Vec<f32>) = tf.into_iter().map(|(t, f)| (t, (f * 2.2 / (f + norm)) as f32)).unzip();
            SparseVector::new(i, v, None).unwrap()
        }
    }

    #[test]
    #[ignore = "a benchmark: run by hand (see the module docs)"]
    fn maxscore_figures() {
        let sizes = std::env::var("SPARSE_BENCH_DOCS").unwrap_or_else(|_| "100000".into());
        for n in sizes.split(',').map(|s| s.trim().parse::<usize>().unwrap()) {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            let docs = (0..n).map(|i| (format!("d{i:08}"), rng.doc())).collect();
            let ix = SparseIndex::build((0, 0, 0), docs);
            let queries: Vec<SparseVector> = (0..300)
                .map(|_| {
                    let mut t: Vec<u32> = (0..2 + rng.next() % 7).map(|_| rng.term()).collect();
                    t.sort_unstable();
                    t.dedup();
                    let v = vec![1.0; t.len()];
                    SparseVector::new(t, v, None).unwrap()
                })
                .collect();
            for limit in [10, 32, 100] {
                // (postings, exhaustive µs, maxscore µs)
                let mut rows = Vec::new();
                for q in &queries {
                    let terms = ix.query_terms(q, true);
                    let postings: usize = terms.iter().map(|t| t.list.docs.len()).sum();
                    let t0 = Instant::now();
                    let a = ix.top_exhaustive(&terms, limit, None);
                    let ex = t0.elapsed().as_secs_f64() * 1e6;
                    let t0 = Instant::now();
                    let b = ix.top_maxscore(&terms, limit, None).unwrap();
                    let ms = t0.elapsed().as_secs_f64() * 1e6;
                    assert_eq!(a, b);
                    rows.push((postings, ex, ms));
                }
                let p50 = |mut v: Vec<f64>| {
                    v.sort_by(f64::total_cmp);
                    v[v.len() / 2]
                };
                let ex: Vec<f64> = rows.iter().map(|r| r.1).collect();
                let ms: Vec<f64> = rows.iter().map(|r| r.2).collect();
                println!(
                    "docs {n} limit {limit}: p50 exhaustive {:.0} µs, maxscore {:.0} µs; mean {:.0} vs {:.0} µs",
                    p50(ex.clone()),
                    p50(ms.clone()),
                    ex.iter().sum::<f64>() / ex.len() as f64,
                    ms.iter().sum::<f64>() / ms.len() as f64
                );
                for (lo, hi) in [(0, 1024), (1024, 4096), (4096, 16384), (16384, 65536), (65536, usize::MAX)] {
                    let b: Vec<&(usize, f64, f64)> = rows.iter().filter(|r| r.0 >= lo && r.0 < hi).collect();
                    if b.is_empty() {
                        continue;
                    }
                    let (e, m) = (b.iter().map(|r| r.1).sum::<f64>(), b.iter().map(|r| r.2).sum::<f64>());
                    println!(
                        "  postings {lo}..{hi}: {} queries, mean exhaustive {:.0} µs, maxscore {:.0} µs",
                        b.len(),
                        e / b.len() as f64,
                        m / b.len() as f64
                    );
                }
            }
        }
    }
}
