//! The 1.x Search API's builders, mirroring the Python client's (`Search().where(...)
//! .rank(Knn(...)).group_by(...).limit(...).select(...)`), for [`Collection::search`](crate::Collection::search):
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # fn main() -> chroma_types::Result<()> {
//! use chroma_client::search::{rrf, Knn, MinK, Search};
//! use chroma_client::{Client, CollectionOptions, Records};
//! use serde_json::json;
//!
//! let client = Client::ephemeral()?;
//! let c = client.create_collection("search-doc", CollectionOptions::new())?;
//! c.add(Records::new(["a", "b", "c"], vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]])
//!     .metadatas(vec![json!({"g": 1}), json!({"g": 2}), json!({"g": 1})]))?;
//! let dense = Search::new().r#where(json!({"g": 1})).rank(Knn::new(vec![1.0, 0.1]).limit(10)).limit(1);
//! let hybrid = Search::new()
//!     .rank(rrf(vec![Knn::new(vec![1.0, 0.0]).return_rank().into(), Knn::new(vec![0.0, 1.0]).return_rank().into()], 60.0, None, false)?)
//!     .group_by(["g"], MinK::new(["#score"], 1))
//!     .select(["#score", "g"]);
//! let r = c.search([dense, hybrid])?;
//! assert_eq!(r.ids[0], vec!["a".to_string()]);
//! assert_eq!(r.ids[1].len(), 2); // one per group
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "embedded"))]
//! # fn main() {}
//! ```
//!
//! Rank expressions are [`Rank`] values: a [`Knn`] or a number turns into one with `.into()`,
//! and they combine with `+`, `-`, `*`, `/` and unary `-` (`Rank::Abs`, `Exp`, `Log`, `Min`,
//! `Max` for the rest). Semantics: `docs/search.md`.

use chroma_types::search::{self as plan, Aggregate, GroupBy, KnnQuery, SearchFilter, EMBEDDING_KEY};
pub use chroma_types::search::{Rank, ReadLevel, SearchResult};
use chroma_types::{Error, Result, SparseVector};
use serde_json::Value;

/// `Knn`: the `limit` nearest records to a query (default limit 16, as the clients').
#[derive(Debug, Clone, PartialEq)]
pub struct Knn(plan::Knn);

impl Knn {
    /// A dense query against the collection's embeddings.
    pub fn new(query: Vec<f32>) -> Knn {
        Knn(plan::Knn {
            query: KnnQuery::Dense(query),
            key: EMBEDDING_KEY.into(),
            limit: 16,
            default: None,
            return_rank: false,
        })
    }

    /// A sparse query against the metadata key `key` holding sparse vectors.
    pub fn sparse(key: impl Into<String>, query: SparseVector) -> Knn {
        Knn(plan::Knn { query: KnnQuery::Sparse(query), key: key.into(), limit: 16, default: None, return_rank: false })
    }

    /// How many nearest records this `Knn` scores.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Knn {
        self.0.limit = n;
        self
    }

    /// The score of a record missing from this `Knn`'s list (without one, such a record is dropped).
    #[must_use]
    pub fn default(mut self, score: f64) -> Knn {
        self.0.default = Some(score);
        self
    }

    /// Score by 0-based position in the list instead of by distance (what [`rrf`] needs).
    #[must_use]
    pub fn return_rank(mut self) -> Knn {
        self.0.return_rank = true;
        self
    }
}

impl From<Knn> for Rank {
    fn from(k: Knn) -> Rank {
        Rank::Knn(k.0)
    }
}

/// Reciprocal rank fusion, as the clients expand it: `-(sum of w_i / (k + rank_i))`, each
/// rank usually a [`Knn`] with [`return_rank`](Knn::return_rank). `weights` default to 1 each;
/// `normalize` scales them to sum to 1.
pub fn rrf(ranks: Vec<Rank>, k: f64, weights: Option<Vec<f64>>, normalize: bool) -> Result<Rank> {
    if ranks.is_empty() {
        return Err(Error::invalid("Rrf requires at least one rank"));
    }
    if !(k > 0.0 && k.is_finite()) {
        return Err(Error::invalid(format!("Rrf k must be positive, got {k}")));
    }
    let mut w = weights.unwrap_or_else(|| vec![1.0; ranks.len()]);
    if w.len() != ranks.len() {
        return Err(Error::invalid(format!("Rrf got {} weights for {} ranks", w.len(), ranks.len())));
    }
    if w.iter().any(|x| !x.is_finite() || *x < 0.0) {
        return Err(Error::invalid("Rrf weights must be non-negative numbers"));
    }
    if normalize {
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return Err(Error::invalid("Rrf weights sum to zero: they cannot be normalised"));
        }
        for x in &mut w {
            *x /= total;
        }
    }
    let terms: Vec<Rank> = ranks.into_iter().zip(w).map(|(r, w)| Rank::Val(w) / (Rank::Val(k) + r)).collect();
    let sum = if terms.len() == 1 { terms.into_iter().next().unwrap_or(Rank::Val(0.0)) } else { Rank::Sum(terms) };
    Ok(-sum)
}

/// `MinK`: each group keeps its `k` records smallest by `keys` (`#score` or metadata keys).
#[derive(Debug, Clone, PartialEq)]
pub struct MinK;

impl MinK {
    /// The aggregate.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>, k: usize) -> Aggregate {
        Aggregate { max: false, keys: keys.into_iter().map(Into::into).collect(), k }
    }
}

/// `MaxK`: each group keeps its `k` records largest by `keys`.
#[derive(Debug, Clone, PartialEq)]
pub struct MaxK;

impl MaxK {
    /// The aggregate.
    #[allow(clippy::new_ret_no_self)]
    pub fn new<S: Into<String>>(keys: impl IntoIterator<Item = S>, k: usize) -> Aggregate {
        Aggregate { max: true, keys: keys.into_iter().map(Into::into).collect(), k }
    }
}

/// One search: filter, rank, group-by, paging and selection.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    filter: Option<Value>,
    rank: Option<Rank>,
    group_by: Option<GroupBy>,
    offset: usize,
    limit: Option<usize>,
    select: Vec<String>,
}

impl Search {
    /// A search of every record, unranked.
    pub fn new() -> Search {
        Search::default()
    }

    /// The filter: a 1.x `where` as JSON, with `#document` and `#id` clauses allowed.
    #[must_use]
    pub fn r#where(mut self, filter: Value) -> Search {
        self.filter = Some(filter);
        self
    }

    /// The rank expression (lower scores first).
    #[must_use]
    pub fn rank(mut self, rank: impl Into<Rank>) -> Search {
        self.rank = Some(rank.into());
        self
    }

    /// Groups by metadata keys, keeping what `aggregate` ([`MinK`] / [`MaxK`]) says.
    #[must_use]
    pub fn group_by<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>, aggregate: Aggregate) -> Search {
        self.group_by = Some(GroupBy { keys: keys.into_iter().map(Into::into).collect(), aggregate });
        self
    }

    /// At most `n` records.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Search {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` records.
    #[must_use]
    pub fn offset(mut self, n: usize) -> Search {
        self.offset = n;
        self
    }

    /// The fields returned: `#document`, `#embedding`, `#metadata`, `#score` or metadata keys.
    #[must_use]
    pub fn select<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Search {
        self.select = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The engine's plan (the filter parsed and checked).
    pub(crate) fn into_plan(self) -> Result<plan::Search> {
        if self.limit == Some(0) {
            return Err(Error::invalid("Limit limit must be positive, got 0"));
        }
        Ok(plan::Search {
            filter: SearchFilter::from_json(self.filter.as_ref())?,
            rank: self.rank,
            group_by: self.group_by,
            offset: self.offset,
            limit: self.limit,
            select: self.select,
        })
    }
}
