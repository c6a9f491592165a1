//! The Search API builder: Chroma 1.x's `collection.search(Search()...)` in Rust, mirroring
//! the Python client's `Search`, `Knn`, `Rrf`, `GroupBy`, `MinK` / `MaxK` and rank arithmetic.
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # fn main() -> chroma_types::Result<()> {
//! use chroma_client::search::{Knn, Rrf, Search};
//! use chroma_client::{Client, CollectionOptions, Records};
//! use serde_json::json;
//!
//! let client = Client::ephemeral()?;
//! let col = client.create_collection("docs", CollectionOptions::new())?;
//! col.add(
//!     Records::new(["a", "b", "c"], vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.7, 0.7]])
//!         .metadatas(vec![json!({"kind": "x"}), json!({"kind": "y"}), json!({"kind": "x"})]),
//! )?;
//! // Python: Search().where(K("kind") == "x").rank(Knn(query=[1, 0])).limit(1).select(K.SCORE)
//! let hits = col.search(
//!     Search::new().r#where(json!({"kind": "x"})).rank(Knn::dense(vec![1.0, 0.0])).limit(1).select(["#score"]),
//! )?;
//! assert_eq!(hits.ids, vec![vec!["a".to_string()]]);
//! // Rank arithmetic and Rrf, as in Python: 0.5 * Knn(...) + 0.5 * Knn(...), Rrf([...], k=60)
//! let mixed = Knn::dense(vec![1.0, 0.0]).into_rank() * 0.5 + Knn::dense(vec![0.0, 1.0]).into_rank() * 0.5;
//! let fused = Rrf::new([Knn::dense(vec![1.0, 0.0]).return_rank(), Knn::dense(vec![0.0, 1.0]).return_rank()]);
//! let both = col.search_many(vec![Search::new().rank(mixed), Search::new().rank(fused).limit(2)])?;
//! assert_eq!(both.ids.len(), 2);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "embedded"))]
//! # fn main() {}
//! ```
//!
//! Filters are written as JSON, as `where` dicts are in Python, including `#id` and
//! `#document` clauses. Semantics (lower scores are better, how a record missing from a `Knn`
//! list is scored, ties): `docs/search.md`.

use std::ops::{Add, Div, Mul, Neg, Sub};

use chroma_types::search::{self as plan, KnnQuery, SearchFilter, EMBEDDING_KEY};
use chroma_types::{Error, Result, SparseVector};
use serde_json::Value;

pub use chroma_types::search::{ReadLevel, SearchResult, DOCUMENT_KEY, ID_KEY, METADATA_KEY, SCORE_KEY};

/// One search: a filter, a rank, an optional group-by, paging and the fields returned.
/// Built like Python's `Search()`; run with [`Collection::search`](crate::Collection::search).
#[derive(Debug, Clone, Default)]
pub struct Search {
    filter: Option<Value>,
    rank: Option<Result<plan::Rank>>,
    group_by: Option<GroupBy>,
    offset: usize,
    limit: Option<usize>,
    select: Vec<String>,
}

impl Search {
    /// A search of every record, unranked, returning ids only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only the records passing `filter`: a 1.x `where` (`{"kind": "x"}`, `{"#document":
    /// {"$contains": "a"}}`, `{"#id": {"$in": [...]}}`, `$and` / `$or` of those).
    #[must_use]
    pub fn r#where(mut self, filter: Value) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Ranks the records: a [`Knn`], a [`Rank`] expression or an [`Rrf`].
    #[must_use]
    pub fn rank(mut self, rank: impl IntoRank) -> Self {
        self.rank = Some(rank.try_into_rank());
        self
    }

    /// Groups the ranked records and keeps some of each group.
    #[must_use]
    pub fn group_by(mut self, group_by: GroupBy) -> Self {
        self.group_by = Some(group_by);
        self
    }

    /// At most `limit` records (Python's `.limit(limit)`).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Skips the first `offset` records (Python's `.limit(limit, offset=...)`).
    #[must_use]
    pub fn offset(mut self, offset: usize) -> Self {
        self.offset = offset;
        self
    }

    /// The fields returned: [`DOCUMENT_KEY`], `"#embedding"`, [`METADATA_KEY`],
    /// [`SCORE_KEY`] and metadata keys (the metadata then holds only those).
    #[must_use]
    pub fn select<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.select.extend(keys.into_iter().map(Into::into));
        self
    }

    /// Every field: document, embedding, metadata and score (Python's `.select_all()`).
    #[must_use]
    pub fn select_all(self) -> Self {
        self.select([DOCUMENT_KEY, EMBEDDING_KEY, METADATA_KEY, SCORE_KEY])
    }

    /// The plan the engine runs; the first error of the builder (a bad filter or `Rrf`).
    pub(crate) fn into_plan(self) -> Result<plan::Search> {
        let mut select = Vec::new();
        for k in self.select {
            if !select.contains(&k) {
                select.push(k);
            }
        }
        Ok(plan::Search {
            filter: SearchFilter::from_json(self.filter.as_ref())?,
            rank: self.rank.transpose()?,
            group_by: self.group_by.map(GroupBy::into_plan),
            offset: self.offset,
            limit: self.limit,
            select,
        })
    }
}

/// `Knn`: the `limit` nearest records to a query vector, by the collection's distance (dense)
/// or by negated inner product (sparse, on a metadata key holding sparse vectors).
#[derive(Debug, Clone)]
pub struct Knn(plan::Knn);

/// The clients' default `Knn` limit.
const DEFAULT_KNN_LIMIT: usize = 16;

impl Knn {
    /// A dense query against the records' embeddings (`#embedding`).
    pub fn dense(query: Vec<f32>) -> Self {
        Knn(plan::Knn {
            query: KnnQuery::Dense(query),
            key: EMBEDDING_KEY.into(),
            limit: DEFAULT_KNN_LIMIT,
            default: None,
            return_rank: false,
        })
    }

    /// A sparse query against metadata key `key`.
    pub fn sparse(key: impl Into<String>, query: SparseVector) -> Self {
        Knn(plan::Knn {
            query: KnnQuery::Sparse(query),
            key: key.into(),
            limit: DEFAULT_KNN_LIMIT,
            default: None,
            return_rank: false,
        })
    }

    /// How many nearest records this `Knn` scores (default 16).
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.0.limit = limit;
        self
    }

    /// The value of a record outside this `Knn`'s list; without one such a record is dropped
    /// from the results.
    #[must_use]
    pub fn default(mut self, value: f64) -> Self {
        self.0.default = Some(value);
        self
    }

    /// Scores by 0-based position in the list instead of by distance (for `Rrf`).
    #[must_use]
    pub fn return_rank(mut self) -> Self {
        self.0.return_rank = true;
        self
    }

    /// This `Knn` as a rank expression, for arithmetic.
    pub fn into_rank(self) -> Rank {
        Rank(plan::Rank::Knn(self.0))
    }
}

/// A rank expression: `Knn`s and constants combined with `+ - * /`, [`Rank::abs`],
/// [`Rank::exp`], [`Rank::log`], [`Rank::max`] and [`Rank::min`], as in Python.
#[derive(Debug, Clone)]
pub struct Rank(plan::Rank);

impl Rank {
    /// A constant.
    pub fn val(v: f64) -> Self {
        Rank(plan::Rank::Val(v))
    }
    /// Absolute value.
    #[must_use]
    pub fn abs(self) -> Self {
        Rank(plan::Rank::Abs(Box::new(self.0)))
    }
    /// e to this rank.
    #[must_use]
    pub fn exp(self) -> Self {
        Rank(plan::Rank::Exp(Box::new(self.0)))
    }
    /// Natural logarithm.
    #[must_use]
    pub fn log(self) -> Self {
        Rank(plan::Rank::Log(Box::new(self.0)))
    }
    /// The larger of the two.
    #[must_use]
    pub fn max(self, other: impl Into<Rank>) -> Self {
        Rank(plan::Rank::Max(vec![self.0, other.into().0]))
    }
    /// The smaller of the two.
    #[must_use]
    pub fn min(self, other: impl Into<Rank>) -> Self {
        Rank(plan::Rank::Min(vec![self.0, other.into().0]))
    }
}

impl From<Knn> for Rank {
    fn from(k: Knn) -> Self {
        k.into_rank()
    }
}

impl From<f64> for Rank {
    fn from(v: f64) -> Self {
        Rank::val(v)
    }
}

// The arithmetic itself (flattening `a + b + c` into one `$sum`, as the Python client does)
// is chroma-types' `Rank` operators; these wrap them.
impl<R: Into<Rank>> Add<R> for Rank {
    type Output = Rank;
    fn add(self, rhs: R) -> Rank {
        Rank(self.0 + rhs.into().0)
    }
}

impl<R: Into<Rank>> Sub<R> for Rank {
    type Output = Rank;
    fn sub(self, rhs: R) -> Rank {
        Rank(self.0 - rhs.into().0)
    }
}

impl<R: Into<Rank>> Mul<R> for Rank {
    type Output = Rank;
    fn mul(self, rhs: R) -> Rank {
        Rank(self.0 * rhs.into().0)
    }
}

impl<R: Into<Rank>> Div<R> for Rank {
    type Output = Rank;
    fn div(self, rhs: R) -> Rank {
        Rank(self.0 / rhs.into().0)
    }
}

/// `-a`, as `-1 * a` (the Python client's form).
impl Neg for Rank {
    type Output = Rank;
    fn neg(self) -> Rank {
        Rank(-self.0)
    }
}

/// Reciprocal rank fusion: `-(w1 / (k + r1) + w2 / (k + r2) + ...)` over rank expressions
/// that are usually `Knn`s with [`Knn::return_rank`] (lower is better, as every score).
#[derive(Debug, Clone)]
pub struct Rrf {
    ranks: Vec<Rank>,
    k: f64,
    weights: Option<Vec<f64>>,
    normalize: bool,
}

impl Rrf {
    /// Fusion of `ranks` with `k` = 60 and equal weights.
    pub fn new<I, R>(ranks: I) -> Self
    where
        I: IntoIterator<Item = R>,
        R: Into<Rank>,
    {
        Rrf { ranks: ranks.into_iter().map(Into::into).collect(), k: 60.0, weights: None, normalize: false }
    }

    /// The smoothing constant (default 60; must be positive).
    #[must_use]
    pub fn k(mut self, k: f64) -> Self {
        self.k = k;
        self
    }

    /// One non-negative weight per rank (default all 1).
    #[must_use]
    pub fn weights(mut self, weights: Vec<f64>) -> Self {
        self.weights = Some(weights);
        self
    }

    /// Scales the weights to sum to 1.
    #[must_use]
    pub fn normalize(mut self) -> Self {
        self.normalize = true;
        self
    }
}

/// What [`Search::rank`] takes: a [`Knn`], a [`Rank`] or an [`Rrf`] (whose parameters are
/// checked when the search runs, as Python checks them when it sends the request).
pub trait IntoRank {
    /// The rank expression, or why there is none.
    fn try_into_rank(self) -> Result<plan::Rank>;
}

impl IntoRank for Knn {
    fn try_into_rank(self) -> Result<plan::Rank> {
        Ok(plan::Rank::Knn(self.0))
    }
}

impl IntoRank for Rank {
    fn try_into_rank(self) -> Result<plan::Rank> {
        Ok(self.0)
    }
}

impl IntoRank for Rrf {
    fn try_into_rank(self) -> Result<plan::Rank> {
        if self.ranks.is_empty() {
            return Err(Error::invalid("Rrf requires at least one rank"));
        }
        if !(self.k > 0.0 && self.k.is_finite()) {
            return Err(Error::invalid(format!("Rrf's k must be positive, got {}", self.k)));
        }
        let mut weights = self.weights.unwrap_or_else(|| vec![1.0; self.ranks.len()]);
        if weights.len() != self.ranks.len() {
            return Err(Error::invalid(format!(
                "Number of weights ({}) must match number of ranks ({})",
                weights.len(),
                self.ranks.len()
            )));
        }
        if weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(Error::invalid("All Rrf weights must be non-negative"));
        }
        if self.normalize {
            let sum: f64 = weights.iter().sum();
            if sum <= 0.0 {
                return Err(Error::invalid("Sum of weights must be positive when normalize is set"));
            }
            for w in &mut weights {
                *w /= sum;
            }
        }
        let terms = self.ranks.into_iter().zip(weights).map(|(r, w)| Rank::val(w) / (r + self.k));
        let sum = terms.reduce(|a, b| a + b).unwrap_or_else(|| Rank::val(0.0));
        Ok((-sum).0)
    }
}

/// `GroupBy`: groups ranked records by metadata keys; [`MinK`] / [`MaxK`] says which of each
/// group are kept.
#[derive(Debug, Clone)]
pub struct GroupBy {
    keys: Vec<String>,
    aggregate: plan::Aggregate,
}

impl GroupBy {
    /// Group by the values of `keys`, keeping what `aggregate` says of each group.
    pub fn new<I, S>(keys: I, aggregate: impl Into<plan::Aggregate>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        GroupBy { keys: keys.into_iter().map(Into::into).collect(), aggregate: aggregate.into() }
    }

    fn into_plan(self) -> plan::GroupBy {
        plan::GroupBy { keys: self.keys, aggregate: self.aggregate }
    }
}

/// `MinK`: the `k` records of each group with the smallest values of `keys` (in order;
/// [`SCORE_KEY`] or metadata keys).
#[derive(Debug, Clone)]
pub struct MinK {
    /// Sort keys.
    pub keys: Vec<String>,
    /// Records kept per group.
    pub k: usize,
}

/// `MaxK`: the `k` records of each group with the largest values of `keys`.
#[derive(Debug, Clone)]
pub struct MaxK {
    /// Sort keys.
    pub keys: Vec<String>,
    /// Records kept per group.
    pub k: usize,
}

impl MinK {
    /// The `k` smallest by `keys`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(keys: I, k: usize) -> Self {
        MinK { keys: keys.into_iter().map(Into::into).collect(), k }
    }
}

impl MaxK {
    /// The `k` largest by `keys`.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(keys: I, k: usize) -> Self {
        MaxK { keys: keys.into_iter().map(Into::into).collect(), k }
    }
}

impl From<MinK> for plan::Aggregate {
    fn from(m: MinK) -> Self {
        plan::Aggregate { max: false, keys: m.keys, k: m.k }
    }
}

impl From<MaxK> for plan::Aggregate {
    fn from(m: MaxK) -> Self {
        plan::Aggregate { max: true, keys: m.keys, k: m.k }
    }
}
