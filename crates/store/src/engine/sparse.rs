//! The sparse vector index: one inverted index per (collection, metadata key), derived from
//! the records' metadata in `SQLite`. It is a cache, never a source of truth: it is built on
//! first use after open and rebuilt when the collection's `log_position` (advanced by every
//! write) or `generation` (compaction) differs from the one it was built at, so a search never
//! sees a state older than the last acknowledged write, and nothing sparse needs its own crash
//! recovery.
//!
//! Scoring is exact: the inner product of the query with every record that shares at least
//! one index with it, accumulated posting list by posting list (a term-at-a-time pass over the
//! query's terms only). Records sharing no index with the query score nothing and are not
//! candidates, as in any inverted index.

use super::{CollRow, Engine};
use crate::error::ResultExt;
use chroma_types::{MetadataValue, Result, SparseVector};
use std::collections::HashMap;
use std::sync::Arc;

/// The inverted index of one sparse key.
pub(super) struct SparseIndex {
    /// `(log_position, generation)` of the collection when built.
    stamp: (u64, i64),
    /// Record ids by document number.
    pub(super) ids: Vec<String>,
    /// Per vector index: `(document number, value)`, in document order.
    postings: HashMap<u32, Vec<(u32, f32)>>,
}

impl SparseIndex {
    /// Builds from `(id, vector)` pairs.
    pub(super) fn build(stamp: (u64, i64), docs: Vec<(String, SparseVector)>) -> SparseIndex {
        let mut ids = Vec::with_capacity(docs.len());
        let mut postings: HashMap<u32, Vec<(u32, f32)>> = HashMap::new();
        for (n, (id, v)) in docs.into_iter().enumerate() {
            let n = n as u32;
            ids.push(id);
            for (&i, &x) in v.indices.iter().zip(&v.values) {
                postings.entry(i).or_default().push((n, x));
            }
        }
        SparseIndex { stamp, ids, postings }
    }

    /// The `limit` records with the largest inner product with `query`, as `(document number,
    /// inner product)`, best first (ties by document number); `allowed` (by document number)
    /// restricts the candidates. With `bm25` (the key's schema says its vectors are BM25 term
    /// weights, as `ChromaBm25EmbeddingFunction` writes them) each query term weighs its IDF
    /// instead of its own value: the score is Okapi BM25, `sum idf(t) * w(t, d)`, with
    /// `idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))` over the `N` records holding a vector
    /// for the key, `n(t)` of them holding `t`.
    pub(super) fn top(
        &self,
        query: &SparseVector,
        limit: usize,
        allowed: Option<&[bool]>,
        bm25: bool,
    ) -> Vec<(u32, f32)> {
        let mut acc: HashMap<u32, f32> = HashMap::new();
        let n_docs = self.ids.len() as f64;
        for (i, &value) in query.indices.iter().zip(&query.values) {
            let Some(list) = self.postings.get(i) else { continue };
            let q = if bm25 {
                let n = list.len() as f64;
                (1.0 + (n_docs - n + 0.5) / (n + 0.5)).ln() as f32
            } else {
                value
            };
            for &(d, x) in list {
                if allowed.is_some_and(|a| !a[d as usize]) {
                    continue;
                }
                *acc.entry(d).or_insert(0.0) += q * x;
            }
        }
        let mut scored: Vec<(u32, f32)> = acc.into_iter().collect();
        let by_score = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > limit {
            scored.select_nth_unstable_by(limit, by_score);
            scored.truncate(limit);
        }
        scored.sort_by(by_score);
        scored
    }
}

impl Engine {
    /// The sparse index of `key`, built or rebuilt if the collection changed since.
    pub(super) fn sparse_index(&self, row: &CollRow, key: &str) -> Result<Arc<SparseIndex>> {
        let st = self.state(row.coll.id);
        let stamp = (row.coll.log_position, row.generation);
        if let Some(ix) = st.sparse.lock().get(key).filter(|ix| ix.stamp == stamp) {
            return Ok(ix.clone());
        }
        let docs = {
            let conn = self.reader()?;
            let mut stmt = conn
                .prepare_cached("SELECT id, metadata FROM records WHERE cid = ?1 AND metadata IS NOT NULL ORDER BY id")
                .context("reading sparse vectors")?;
            let rows = stmt
                .query_map([row.cid], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .context("reading sparse vectors")?;
            let mut docs = Vec::new();
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
            docs
        };
        let ix = Arc::new(SparseIndex::build(stamp, docs));
        st.sparse.lock().insert(key.to_string(), ix.clone());
        Ok(ix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_is_the_exact_inner_product_order() {
        let v = |i: Vec<u32>, x: Vec<f32>| SparseVector::new(i, x, None).unwrap();
        let ix = SparseIndex::build(
            (0, 0),
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
}
