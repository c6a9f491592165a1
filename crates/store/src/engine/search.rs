//! The 1.x Search API over the engine: filter, rank, group, page, select (see
//! `docs/search.md`). Dense `Knn` runs the ordinary filtered query path of `read.rs` (HNSW or
//! brute force, exactly as `query`); sparse `Knn` runs the inverted index of `sparse.rs`. The
//! rest (evaluating the rank expression over the union of the `Knn` lists, grouping, paging)
//! is plain code over those lists.

use super::Engine;
use chroma_types::search::{
    GroupBy, Knn, KnnQuery, Search, SearchRequest, SearchResult, DOCUMENT_KEY, EMBEDDING_KEY, ID_KEY, METADATA_KEY,
    SCORE_KEY,
};
use chroma_types::{Error, GetRequest, Include, Metadata, MetadataValue, QueryRequest, Result};
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// One `Knn`'s list: `(id, distance)` nearest first.
type KnnList = Vec<(String, f64)>;

/// A ranked record: its id and score.
type Scored = (String, Option<f64>);

/// The fetched document, embedding and metadata of one record.
type Fields = (Option<String>, Option<Vec<f32>>, Option<Metadata>);

impl Engine {
    /// `search`: each search of the batch in turn.
    pub(super) fn search_records(&self, collection: Uuid, req: &SearchRequest) -> Result<SearchResult> {
        let mut out = SearchResult::default();
        for s in &req.searches {
            let rows = self.one_search(collection, s)?;
            self.project(collection, s, &rows, &mut out)?;
        }
        Ok(out)
    }

    /// The ids passing the filter, in insertion order; `None` when there is no filter.
    fn allowed_ids(&self, collection: Uuid, s: &Search) -> Result<Option<Vec<String>>> {
        let f = &s.filter;
        if f.ids.is_none() && f.exclude_ids.is_empty() && f.r#where.is_none() {
            return Ok(None);
        }
        // `get` refuses an empty or repeated id list; here they mean "nothing" and "once".
        let ids = f.ids.as_ref().map(|ids| {
            let mut seen = HashSet::new();
            ids.iter().filter(|id| seen.insert(id.as_str())).cloned().collect::<Vec<_>>()
        });
        if ids.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Some(Vec::new()));
        }
        let got = self.get_records(
            collection,
            &GetRequest { ids, r#where: f.r#where.clone(), include: Vec::new(), ..GetRequest::default() },
        )?;
        let excluded: HashSet<&str> = f.exclude_ids.iter().map(String::as_str).collect();
        let mut seen = HashSet::new();
        // Ids given twice in `$in` are one record.
        Ok(Some(got.ids.into_iter().filter(|id| !excluded.contains(id.as_str()) && seen.insert(id.clone())).collect()))
    }

    /// The ranked (or, without a rank, filtered) records of one search, paged.
    fn one_search(&self, collection: Uuid, s: &Search) -> Result<Vec<Scored>> {
        let allowed = self.allowed_ids(collection, s)?;
        let Some(rank) = &s.rank else {
            let ids = match allowed {
                Some(ids) => ids,
                None => self.get_records(collection, &GetRequest { include: Vec::new(), ..GetRequest::default() })?.ids,
            };
            let rows = ids.into_iter().map(|id| (id, None));
            return Ok(page(rows.collect(), s.offset, s.limit));
        };
        let knns = rank.knns();
        let lists =
            knns.iter().map(|k| self.knn_list(collection, s, k, allowed.as_deref())).collect::<Result<Vec<_>>>()?;
        let mut scored = evaluate(rank, &knns, &lists);
        if let Some(g) = &s.group_by {
            scored = self.group(collection, g, scored)?;
        }
        Ok(page(scored, s.offset, s.limit))
    }

    /// One `Knn`: the `limit` nearest allowed records with their distance.
    fn knn_list(&self, collection: Uuid, s: &Search, k: &Knn, allowed: Option<&[String]>) -> Result<KnnList> {
        if allowed.is_some_and(<[String]>::is_empty) {
            return Ok(Vec::new());
        }
        match &k.query {
            KnnQuery::Dense(q) => {
                if k.key != EMBEDDING_KEY {
                    return Err(Error::invalid(format!("Knn key '{}' is not a dense embedding key", k.key)));
                }
                // `#id` clauses are applied as the id list; otherwise the filter itself, so the
                // query path can use its filtered search.
                let by_ids = s.filter.ids.is_some() || !s.filter.exclude_ids.is_empty();
                let req = QueryRequest {
                    query_embeddings: vec![q.clone()],
                    n_results: k.limit,
                    ids: if by_ids { allowed.map(<[String]>::to_vec) } else { None },
                    r#where: if by_ids { None } else { s.filter.r#where.clone() },
                    where_document: None,
                    include: vec![Include::Distances],
                    dialect: chroma_types::Dialect::default(),
                };
                let r = self.query_records_ef(collection, &req, Some(k.limit.saturating_mul(knn_ef_factor())))?;
                let ids = r.ids.into_iter().next().unwrap_or_default();
                let d = r.distances.and_then(|d| d.into_iter().next()).unwrap_or_default();
                // Equal distances in id order, as the final sort and the sparse lists order them,
                // so a rank (`return_rank`) is the position the same search alone would show.
                let mut list: KnnList = ids.into_iter().zip(d.into_iter().map(f64::from)).collect();
                list.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
                Ok(list)
            }
            KnnQuery::Sparse(q) => {
                let row = self.collection_row(collection)?;
                let bm25 = row.coll.config.sparse_bm25(&k.key);
                // Lower is better: the distance of a sparse match is its negated score.
                Ok(self
                    .sparse_top(&row, &k.key, q, k.limit, allowed, bm25)?
                    .into_iter()
                    .map(|(id, ip)| (id, -f64::from(ip)))
                    .collect())
            }
        }
    }

    /// Groups ranked records by metadata keys and keeps each group's `k` per the aggregate;
    /// the kept records are returned by score again.
    fn group(&self, collection: Uuid, g: &GroupBy, scored: Vec<Scored>) -> Result<Vec<Scored>> {
        let ids: Vec<String> = scored.iter().map(|(id, _)| id.clone()).collect();
        let mds = self.metadata_of(collection, &ids)?;
        let mut groups: HashMap<String, Vec<Scored>> = HashMap::new();
        let mut order: Vec<String> = Vec::new();
        for row in scored {
            let md = mds.get(&row.0).and_then(Option::as_ref);
            let key = group_key(&g.keys, md);
            if !groups.contains_key(&key) {
                order.push(key.clone());
            }
            groups.entry(key).or_default().push(row);
        }
        let mut out = Vec::new();
        for key in order {
            let Some(mut members) = groups.remove(&key) else { continue };
            members.sort_by(|a, b| {
                let (ma, mb) = (mds.get(&a.0).and_then(Option::as_ref), mds.get(&b.0).and_then(Option::as_ref));
                aggregate_cmp(&g.aggregate.keys, g.aggregate.max, a, ma, b, mb)
            });
            members.truncate(g.aggregate.k);
            out.extend(members);
        }
        out.sort_by(score_cmp);
        Ok(out)
    }

    /// Metadata of records by id.
    fn metadata_of(&self, collection: Uuid, ids: &[String]) -> Result<HashMap<String, Option<Metadata>>> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let got = self.get_records(
            collection,
            &GetRequest { ids: Some(ids.to_vec()), include: vec![Include::Metadatas], ..GetRequest::default() },
        )?;
        Ok(got.ids.into_iter().zip(got.metadatas.unwrap_or_default()).collect())
    }

    /// Appends one search's payload: the selected fields of its records.
    fn project(&self, collection: Uuid, s: &Search, rows: &[Scored], out: &mut SearchResult) -> Result<()> {
        let has = |k: &str| s.select.iter().any(|x| x == k);
        let md_keys: Vec<&String> = s
            .select
            .iter()
            .filter(|k| ![DOCUMENT_KEY, EMBEDDING_KEY, METADATA_KEY, SCORE_KEY, ID_KEY].contains(&k.as_str()))
            .collect();
        let want_md = has(METADATA_KEY) || !md_keys.is_empty();
        let mut include = Vec::new();
        if has(DOCUMENT_KEY) {
            include.push(Include::Documents);
        }
        if has(EMBEDDING_KEY) {
            include.push(Include::Embeddings);
        }
        if want_md {
            include.push(Include::Metadatas);
        }
        let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
        let mut fetched: HashMap<String, Fields> = HashMap::new();
        if !include.is_empty() && !ids.is_empty() {
            let g =
                self.get_records(collection, &GetRequest { ids: Some(ids.clone()), include, ..GetRequest::default() })?;
            let n = g.ids.len();
            let mut docs = g.documents.unwrap_or_default().into_iter();
            let mut embs = g.embeddings.unwrap_or_default().into_iter();
            let mut mds = g.metadatas.unwrap_or_default().into_iter();
            for id in g.ids.into_iter().take(n) {
                fetched.insert(id, (docs.next().flatten(), embs.next(), mds.next().flatten()));
            }
        }
        let field = |id: &String| fetched.get(id);
        out.documents
            .push(has(DOCUMENT_KEY).then(|| ids.iter().map(|id| field(id).and_then(|f| f.0.clone())).collect()));
        out.embeddings
            .push(has(EMBEDDING_KEY).then(|| ids.iter().map(|id| field(id).and_then(|f| f.1.clone())).collect()));
        out.metadatas.push(want_md.then(|| {
            ids.iter()
                .map(|id| {
                    let md = field(id).and_then(|f| f.2.clone())?;
                    if has(METADATA_KEY) {
                        return Some(md);
                    }
                    let picked: Metadata = md.into_iter().filter(|(k, _)| md_keys.contains(&k)).collect();
                    (!picked.is_empty()).then_some(picked)
                })
                .collect()
        }));
        out.scores.push(has(SCORE_KEY).then(|| rows.iter().map(|(_, sc)| *sc).collect()));
        out.select.push(s.select.clone());
        out.ids.push(ids);
        Ok(())
    }
}

/// The graph search of a dense `Knn` inside a search uses `ef` of at least this many times its
/// `limit` (and at least the collection's `ef_search`). A `query` takes its `n_results` from
/// wherever the graph search ends; a `Knn` list feeds a rank expression (`Rrf` reads every
/// position), so its whole depth should be the exact nearest records: see `docs/search.md` for
/// the measured agreement with exact lists and the cost. `CHROMA_RS_SEARCH_EF_FACTOR` overrides
/// it (a tuning knob for benchmarks; 1 is the plain `query` behaviour).
pub(super) const KNN_EF_FACTOR: usize = 4;

fn knn_ef_factor() -> usize {
    static FACTOR: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *FACTOR.get_or_init(|| {
        std::env::var("CHROMA_RS_SEARCH_EF_FACTOR")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&f| f > 0)
            .unwrap_or(KNN_EF_FACTOR)
    })
}

/// Scores every record in some `Knn` list: a record's value in a `Knn` is its distance, or
/// its 0-based position with `return_rank`; a record missing from a list takes that `Knn`'s
/// default, and without one it is dropped. Best (lowest) first, ties by id.
pub(super) fn evaluate(rank: &chroma_types::search::Rank, knns: &[&Knn], lists: &[KnnList]) -> Vec<Scored> {
    let maps: Vec<HashMap<&str, f64>> = knns
        .iter()
        .zip(lists)
        .map(|(k, l)| {
            l.iter()
                .enumerate()
                .map(|(pos, (id, d))| (id.as_str(), if k.return_rank { pos as f64 } else { *d }))
                .collect()
        })
        .collect();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (id, _) in lists.iter().flatten() {
        if !seen.insert(id.as_str()) {
            continue;
        }
        let vals: Vec<Option<f64>> = maps.iter().map(|m| m.get(id.as_str()).copied()).collect();
        if let Some(score) = rank.eval(&vals) {
            out.push((id.clone(), Some(score)));
        }
    }
    out.sort_by(score_cmp);
    out
}

fn score_cmp(a: &Scored, b: &Scored) -> Ordering {
    let (x, y) = (a.1.unwrap_or(f64::INFINITY), b.1.unwrap_or(f64::INFINITY));
    x.total_cmp(&y).then_with(|| a.0.cmp(&b.0))
}

fn page(rows: Vec<Scored>, offset: usize, limit: Option<usize>) -> Vec<Scored> {
    rows.into_iter().skip(offset).take(limit.unwrap_or(usize::MAX)).collect()
}

/// The group of a record: the JSON of each key's value (`null` when missing).
fn group_key(keys: &[String], md: Option<&Metadata>) -> String {
    let vals: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| md.and_then(|m| m.get(k)).map_or(serde_json::Value::Null, MetadataValue::to_json))
        .collect();
    serde_json::Value::Array(vals).to_string()
}

/// A sort key of the aggregate: `#score` or a metadata value (numbers before strings before
/// booleans; a missing value sorts last either way).
#[derive(PartialEq, PartialOrd)]
enum SortVal {
    Num(f64),
    Str(String),
    Bool(bool),
}

fn sort_val(key: &str, row: &Scored, md: Option<&Metadata>) -> Option<SortVal> {
    if key == SCORE_KEY {
        return row.1.map(SortVal::Num);
    }
    match md?.get(key)? {
        MetadataValue::Int(i) => Some(SortVal::Num(*i as f64)),
        MetadataValue::Float(f) => Some(SortVal::Num(*f)),
        MetadataValue::Str(s) => Some(SortVal::Str(s.clone())),
        MetadataValue::Bool(b) => Some(SortVal::Bool(*b)),
        _ => None,
    }
}

fn aggregate_cmp(
    keys: &[String],
    max: bool,
    a: &Scored,
    ma: Option<&Metadata>,
    b: &Scored,
    mb: Option<&Metadata>,
) -> Ordering {
    for k in keys {
        let (x, y) = (sort_val(k, a, ma), sort_val(k, b, mb));
        let o = match (x, y) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(Ordering::Equal);
                if max {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    score_cmp(a, b)
}
