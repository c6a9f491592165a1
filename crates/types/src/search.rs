//! The 1.x Search API plan (`collection.search(Search()...)`): a filter, a rank expression,
//! an optional group-by, paging and a selection of fields, several searches per call.
//!
//! Scores follow Chroma's convention: **lower is better**. A dense `Knn` scores a record by
//! its distance in the collection's space, a sparse `Knn` by the negated inner product (so the
//! largest inner product comes first), and `return_rank` turns either into the 0-based
//! position in that `Knn`'s list. `Rrf` is sent by the clients already expanded into this
//! arithmetic (`-(w1/(k+rank1) + ...)`). See `docs/search.md`.

use crate::error::{Error, Result};
use crate::filter::{parse_where, Where};
use crate::sparse::SparseVector;
use serde_json::{json, Map, Value};

/// The key of the dense embedding in `Knn.key`, `select` and filters.
pub const EMBEDDING_KEY: &str = "#embedding";
/// The key of the document.
pub const DOCUMENT_KEY: &str = "#document";
/// The key of the whole metadata.
pub const METADATA_KEY: &str = "#metadata";
/// The key of the score.
pub const SCORE_KEY: &str = "#score";
/// The key of the record id.
pub const ID_KEY: &str = "#id";

/// What a `Knn` searches with.
#[derive(Debug, Clone, PartialEq)]
pub enum KnnQuery {
    /// A dense vector, against `#embedding`.
    Dense(Vec<f32>),
    /// A sparse vector, against a metadata key holding sparse vectors.
    Sparse(SparseVector),
}

/// `$knn`: the `limit` nearest records (among those passing the filter) to `query` in `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct Knn {
    /// The query vector.
    pub query: KnnQuery,
    /// `#embedding` or a metadata key of sparse vectors.
    pub key: String,
    /// How many nearest records this `Knn` scores (the clients' default is 16).
    pub limit: usize,
    /// The score of a record outside this `Knn`'s list; `None` drops such a record.
    pub default: Option<f64>,
    /// Score by 0-based position in the list instead of by distance.
    pub return_rank: bool,
}

/// A rank expression. Every operator the 1.5.9 Python client and 3.x JS client can send.
#[derive(Debug, Clone, PartialEq)]
pub enum Rank {
    /// `$knn`.
    Knn(Knn),
    /// `$val`: a constant.
    Val(f64),
    /// `$sum` of two or more.
    Sum(Vec<Rank>),
    /// `$mul` of two or more.
    Mul(Vec<Rank>),
    /// `$max` of two or more.
    Max(Vec<Rank>),
    /// `$min` of two or more.
    Min(Vec<Rank>),
    /// `$sub`: left - right.
    Sub(Box<Rank>, Box<Rank>),
    /// `$div`: left / right.
    Div(Box<Rank>, Box<Rank>),
    /// `$abs`.
    Abs(Box<Rank>),
    /// `$exp`: e to the rank.
    Exp(Box<Rank>),
    /// `$log`: natural logarithm.
    Log(Box<Rank>),
}

impl Rank {
    /// Every `Knn` in the expression, depth first (the order [`Rank::eval`] numbers them).
    pub fn knns(&self) -> Vec<&Knn> {
        fn walk<'a>(r: &'a Rank, out: &mut Vec<&'a Knn>) {
            match r {
                Rank::Knn(k) => out.push(k),
                Rank::Val(_) => {}
                Rank::Sum(v) | Rank::Mul(v) | Rank::Max(v) | Rank::Min(v) => v.iter().for_each(|x| walk(x, out)),
                Rank::Sub(a, b) | Rank::Div(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Rank::Abs(a) | Rank::Exp(a) | Rank::Log(a) => walk(a, out),
            }
        }
        let mut out = Vec::new();
        walk(self, &mut out);
        out
    }

    /// The score of one record, given the value of each `Knn` (numbered as by [`Rank::knns`])
    /// for it: `None` when some `Knn` without a default has no value, which drops the record.
    pub fn eval(&self, knn_values: &[Option<f64>]) -> Option<f64> {
        let mut next = 0;
        self.eval_at(knn_values, &mut next)
    }

    fn eval_at(&self, vals: &[Option<f64>], next: &mut usize) -> Option<f64> {
        // Evaluate every child even after a `None`, so the Knn numbering stays aligned.
        let all = |v: &[Rank], next: &mut usize| -> Option<Vec<f64>> {
            let out: Vec<Option<f64>> = v.iter().map(|x| x.eval_at(vals, next)).collect();
            out.into_iter().collect()
        };
        match self {
            Rank::Knn(k) => {
                let i = *next;
                *next += 1;
                vals.get(i).copied().flatten().or(k.default)
            }
            Rank::Val(v) => Some(*v),
            Rank::Sum(v) => all(v, next).map(|x| x.iter().sum()),
            Rank::Mul(v) => all(v, next).map(|x| x.iter().product()),
            Rank::Max(v) => all(v, next).map(|x| x.into_iter().fold(f64::NEG_INFINITY, f64::max)),
            Rank::Min(v) => all(v, next).map(|x| x.into_iter().fold(f64::INFINITY, f64::min)),
            Rank::Sub(a, b) => {
                let (a, b) = (a.eval_at(vals, next), b.eval_at(vals, next));
                Some(a? - b?)
            }
            Rank::Div(a, b) => {
                let (a, b) = (a.eval_at(vals, next), b.eval_at(vals, next));
                Some(a? / b?)
            }
            Rank::Abs(a) => a.eval_at(vals, next).map(f64::abs),
            Rank::Exp(a) => a.eval_at(vals, next).map(f64::exp),
            Rank::Log(a) => a.eval_at(vals, next).map(f64::ln),
        }
    }
}

// Arithmetic on rank expressions, as the clients write it (`knn * 0.8 + other * 0.2`).
impl From<f64> for Rank {
    fn from(x: f64) -> Rank {
        Rank::Val(x)
    }
}

impl From<Knn> for Rank {
    fn from(k: Knn) -> Rank {
        Rank::Knn(k)
    }
}

impl<T: Into<Rank>> std::ops::Add<T> for Rank {
    type Output = Rank;
    fn add(self, rhs: T) -> Rank {
        match (self, rhs.into()) {
            // flattened, as the Python client flattens `a + b + c` into one `$sum`
            (Rank::Sum(mut a), Rank::Sum(b)) => {
                a.extend(b);
                Rank::Sum(a)
            }
            (Rank::Sum(mut a), b) => {
                a.push(b);
                Rank::Sum(a)
            }
            (a, b) => Rank::Sum(vec![a, b]),
        }
    }
}

impl<T: Into<Rank>> std::ops::Mul<T> for Rank {
    type Output = Rank;
    fn mul(self, rhs: T) -> Rank {
        match (self, rhs.into()) {
            (Rank::Mul(mut a), b) => {
                a.push(b);
                Rank::Mul(a)
            }
            (a, b) => Rank::Mul(vec![a, b]),
        }
    }
}

impl<T: Into<Rank>> std::ops::Sub<T> for Rank {
    type Output = Rank;
    fn sub(self, rhs: T) -> Rank {
        Rank::Sub(Box::new(self), Box::new(rhs.into()))
    }
}

impl<T: Into<Rank>> std::ops::Div<T> for Rank {
    type Output = Rank;
    fn div(self, rhs: T) -> Rank {
        Rank::Div(Box::new(self), Box::new(rhs.into()))
    }
}

impl std::ops::Neg for Rank {
    type Output = Rank;
    fn neg(self) -> Rank {
        Rank::Mul(vec![Rank::Val(-1.0), self])
    }
}

/// `$min_k` / `$max_k`: which records each group keeps.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// `$max_k` (largest first) when true, `$min_k` (smallest first) when false.
    pub max: bool,
    /// Sort keys, in order: `#score` or metadata keys.
    pub keys: Vec<String>,
    /// Records kept per group.
    pub k: usize,
}

/// `group_by`: group the ranked records by metadata keys and keep some of each group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    /// Metadata keys whose values form the group.
    pub keys: Vec<String>,
    /// Which records of each group are kept.
    pub aggregate: Aggregate,
}

/// The filter of one search: `#id` clauses pulled out of the `where` as the engine applies them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchFilter {
    /// Only these ids (`#id` `$eq` / `$in`; several clauses intersect).
    pub ids: Option<Vec<String>>,
    /// Never these ids (`#id` `$ne` / `$nin`).
    pub exclude_ids: Vec<String>,
    /// The rest of the `where` (metadata and `#document` clauses).
    pub r#where: Option<Where>,
}

impl SearchFilter {
    /// Reads a search's `filter` (a 1.x `where`, with `#document` and `#id` clauses). The `#id`
    /// clauses are pulled out where the engine can apply them as id lists: at the top level or
    /// inside a top-level `$and`. Under `$or` they are refused (no id list can express them).
    pub fn from_json(v: Option<&Value>) -> Result<SearchFilter> {
        let mut f = SearchFilter::default();
        let Some(v) = v else { return Ok(f) };
        if v.is_null() || v.as_object().is_some_and(Map::is_empty) {
            return Ok(f);
        }
        let rest = take_ids(v, &mut f, true)?;
        f.r#where = match rest {
            None => None,
            Some(w) => parse_where(Some(&w))?,
        };
        Ok(f)
    }
}

fn take_ids(v: &Value, f: &mut SearchFilter, top: bool) -> Result<Option<Value>> {
    let Value::Object(m) = v else { return Ok(Some(v.clone())) };
    if let Some(Value::Array(parts)) = m.get("$and").filter(|_| m.len() == 1 && top) {
        let mut kept = Vec::new();
        for p in parts {
            if let Some(rest) = take_ids(p, f, true)? {
                kept.push(rest);
            }
        }
        return Ok(match kept.len() {
            0 => None,
            1 => kept.pop(),
            _ => Some(json!({ "$and": kept })),
        });
    }
    if let Some(cond) = m.get(ID_KEY) {
        if m.len() != 1 {
            return Err(Error::invalid("A where clause must hold exactly one key"));
        }
        if !top {
            return Err(Error::invalid("#id filters are supported at the top level or inside $and, not under $or"));
        }
        id_clause(cond, f)?;
        return Ok(None);
    }
    if let Some(Value::Array(parts)) = m.get("$or") {
        for p in parts {
            take_ids(p, f, false)?;
        }
    }
    if let Some(Value::Array(parts)) = m.get("$and") {
        for p in parts {
            take_ids(p, f, top)?;
        }
    }
    Ok(Some(v.clone()))
}

fn id_clause(cond: &Value, f: &mut SearchFilter) -> Result<()> {
    let strs = |v: &Value| -> Result<Vec<String>> {
        let one = |x: &Value| {
            x.as_str()
                .map(str::to_string)
                .ok_or_else(|| Error::invalid(format!("#id operands must be strings, got {x}")))
        };
        match v {
            Value::Array(a) => a.iter().map(one).collect(),
            x => Ok(vec![one(x)?]),
        }
    };
    let (op, operand) = match cond {
        Value::Object(o) if o.len() == 1 => o.iter().next().map_or(("", cond), |(k, v)| (k.as_str(), v)),
        Value::String(_) => ("$eq", cond),
        _ => return Err(Error::invalid(format!("Invalid #id filter: {cond}"))),
    };
    match op {
        "$eq" | "$in" => {
            if op == "$in" && !operand.is_array() {
                return Err(Error::invalid(format!("$in requires a list, got {operand}")));
            }
            let ids = strs(operand)?;
            f.ids = Some(match f.ids.take() {
                None => ids,
                Some(prev) => prev.into_iter().filter(|x| ids.contains(x)).collect(),
            });
        }
        "$ne" | "$nin" => {
            if op == "$nin" && !operand.is_array() {
                return Err(Error::invalid(format!("$nin requires a list, got {operand}")));
            }
            f.exclude_ids.extend(strs(operand)?);
        }
        _ => return Err(Error::invalid(format!("Unsupported operator {op} on #id (use $eq, $ne, $in or $nin)"))),
    }
    Ok(())
}

/// One search of a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Search {
    /// Which records take part.
    pub filter: SearchFilter,
    /// The ranking; `None` returns the filtered records in insertion order with no score.
    pub rank: Option<Rank>,
    /// Grouping of the ranked records.
    pub group_by: Option<GroupBy>,
    /// Records skipped first.
    pub offset: usize,
    /// At most this many records; `None` for all.
    pub limit: Option<usize>,
    /// The fields returned, as sent: `#document`, `#embedding`, `#metadata`, `#score`,
    /// metadata keys.
    pub select: Vec<String>,
}

/// How much of the write-ahead log a search or count reads (1.x `ReadLevel`). One node has no
/// separate log: every acknowledged write is searchable, so all three levels read everything.
/// A cluster node (chroma-cluster) serves `index_only` from its cache as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadLevel {
    /// `index_and_wal` (the default).
    #[default]
    IndexAndWal,
    /// `index_only`.
    IndexOnly,
    /// `index_and_bounded_wal`.
    IndexAndBoundedWal,
}

impl ReadLevel {
    /// The level named as the clients send it (`index_and_wal`, `index_only`,
    /// `index_and_bounded_wal`); `None` for any other name.
    pub fn parse(name: &str) -> Option<ReadLevel> {
        match name {
            "index_and_wal" => Some(ReadLevel::IndexAndWal),
            "index_only" => Some(ReadLevel::IndexOnly),
            "index_and_bounded_wal" => Some(ReadLevel::IndexAndBoundedWal),
            _ => None,
        }
    }

    /// The name the clients send.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadLevel::IndexAndWal => "index_and_wal",
            ReadLevel::IndexOnly => "index_only",
            ReadLevel::IndexAndBoundedWal => "index_and_bounded_wal",
        }
    }
}

/// A batch of searches.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchRequest {
    /// The searches, answered in order.
    pub searches: Vec<Search>,
    /// The read level.
    pub read_level: ReadLevel,
}

/// The answer: one column-major payload per search.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SearchResult {
    /// Ids per search.
    pub ids: Vec<Vec<String>>,
    /// Documents per search, when `#document` was selected.
    pub documents: Vec<Option<Vec<Option<String>>>>,
    /// Embeddings per search, when `#embedding` was selected.
    pub embeddings: Vec<Option<Vec<Option<Vec<f32>>>>>,
    /// Metadata per search, when `#metadata` or metadata keys were selected.
    pub metadatas: Vec<Option<Vec<Option<crate::Metadata>>>>,
    /// Scores per search, when `#score` was selected.
    pub scores: Vec<Option<Vec<Option<f64>>>>,
    /// The selected keys per search.
    pub select: Vec<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knn(default: Option<f64>) -> Rank {
        Rank::Knn(Knn {
            query: KnnQuery::Dense(vec![0.0]),
            key: EMBEDDING_KEY.into(),
            limit: 1,
            default,
            return_rank: false,
        })
    }

    #[test]
    fn eval_numbers_knns_depth_first_and_drops_missing() {
        let r = Rank::Sub(Box::new(Rank::Sum(vec![knn(None), Rank::Val(1.0)])), Box::new(knn(Some(5.0))));
        assert_eq!(r.knns().len(), 2);
        assert_eq!(r.eval(&[Some(2.0), Some(1.0)]), Some(2.0));
        assert_eq!(r.eval(&[Some(2.0), None]), Some(-2.0));
        assert_eq!(r.eval(&[None, Some(1.0)]), None);
        let m = Rank::Max(vec![knn(None), Rank::Exp(Box::new(Rank::Val(0.0))), Rank::Abs(Box::new(Rank::Val(-3.0)))]);
        assert_eq!(m.eval(&[Some(2.0)]), Some(3.0));
        assert_eq!(
            Rank::Log(Box::new(Rank::Div(Box::new(Rank::Val(1.0)), Box::new(Rank::Val(1.0))))).eval(&[]),
            Some(0.0)
        );
    }
}
