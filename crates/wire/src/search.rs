//! The 1.x Search API on the wire: `POST .../collections/{id}/search` with
//! `{"searches": [{"filter", "rank", "group_by", "limit", "select"}...], "read_level"}` as the
//! 1.5.9 Python client (`Search.to_dict`) and the 3.x JS client send it, and the column-major
//! answer `{"ids", "documents", "embeddings", "metadatas", "scores", "select"}` they parse.
//! Both directions: the server reads requests and writes results, the HTTP client the reverse.

use chroma_types::filter::Where;
use chroma_types::metadata::{metadata_from_json, metadata_to_json};
use chroma_types::search::{
    Aggregate, GroupBy, Knn, KnnQuery, Rank, ReadLevel, Search, SearchFilter, SearchRequest, SearchResult,
    EMBEDDING_KEY, ID_KEY,
};
use chroma_types::sparse::f32_json;
use chroma_types::{Error, Result, SparseVector};
use serde_json::{json, Value};

/// The deepest rank expression accepted: deeper nesting is no real ranking and would only
/// risk the stack.
const MAX_RANK_DEPTH: usize = 64;

fn invalid(msg: impl Into<String>) -> Error {
    Error::invalid(msg.into())
}

/// Reads a search request body.
pub fn search_request_from_json(v: &Value) -> Result<SearchRequest> {
    let Value::Object(m) = v else { return Err(invalid(format!("Expected a search request object, got {v}"))) };
    for k in m.keys() {
        if !matches!(k.as_str(), "searches" | "read_level") {
            return Err(invalid(format!("Unexpected field '{k}' in a search request")));
        }
    }
    let searches = match m.get("searches") {
        Some(Value::Array(a)) => a.iter().map(search_from_json).collect::<Result<Vec<_>>>()?,
        Some(other) => return Err(invalid(format!("Expected searches to be a list, got {other}"))),
        None => return Err(invalid("A search request requires 'searches'")),
    };
    let read_level = match m.get("read_level") {
        None | Some(Value::Null) => ReadLevel::IndexAndWal,
        Some(Value::String(s)) => ReadLevel::parse(s).ok_or_else(|| invalid(format!("Unknown read_level '{s}'")))?,
        Some(other) => return Err(invalid(format!("Expected read_level to be a string, got {other}"))),
    };
    Ok(SearchRequest { searches, read_level })
}

fn search_from_json(v: &Value) -> Result<Search> {
    let Value::Object(m) = v else { return Err(invalid(format!("Expected a search object, got {v}"))) };
    for k in m.keys() {
        if !matches!(k.as_str(), "filter" | "rank" | "group_by" | "limit" | "select") {
            return Err(invalid(format!("Unexpected field '{k}' in a search")));
        }
    }
    let filter = SearchFilter::from_json(m.get("filter"))?;
    let rank = match m.get("rank") {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) if o.is_empty() => None,
        Some(r) => Some(rank_from_json(r, 0)?),
    };
    let group_by = match m.get("group_by") {
        None | Some(Value::Null) => None,
        Some(g) => group_by_from_json(g)?,
    };
    let (offset, limit) = match m.get("limit") {
        None | Some(Value::Null) => (0, None),
        Some(Value::Object(l)) => {
            for k in l.keys() {
                if !matches!(k.as_str(), "offset" | "limit") {
                    return Err(invalid(format!("Unexpected key '{k}' in limit")));
                }
            }
            let offset = match l.get("offset") {
                None | Some(Value::Null) => 0,
                Some(x) => count(x, "Limit offset", true)?,
            };
            let limit = match l.get("limit") {
                None | Some(Value::Null) => None,
                Some(x) => Some(count(x, "Limit limit", false)?),
            };
            (offset, limit)
        }
        Some(other) => return Err(invalid(format!("Expected limit to be an object, got {other}"))),
    };
    let select = match m.get("select") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(s)) => {
            for k in s.keys() {
                if k != "keys" {
                    return Err(invalid(format!("Unexpected key '{k}' in select")));
                }
            }
            match s.get("keys") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => {
                    let mut out: Vec<String> = Vec::with_capacity(a.len());
                    for k in a {
                        let k = k.as_str().ok_or_else(|| invalid(format!("Select key must be a string, got {k}")))?;
                        if !out.iter().any(|x| x == k) {
                            out.push(k.to_string());
                        }
                    }
                    out
                }
                Some(other) => return Err(invalid(format!("Select keys must be a list, got {other}"))),
            }
        }
        Some(other) => return Err(invalid(format!("Expected select to be an object, got {other}"))),
    };
    Ok(Search { filter, rank, group_by, offset, limit, select })
}

/// A non-negative (or, unless `zero_ok`, positive) integer.
fn count(v: &Value, what: &str, zero_ok: bool) -> Result<usize> {
    let n = v.as_u64().ok_or_else(|| invalid(format!("{what} must be a non-negative integer, got {v}")))?;
    if n == 0 && !zero_ok {
        return Err(invalid(format!("{what} must be positive, got 0")));
    }
    usize::try_from(n).map_err(|_| invalid(format!("{what} is too large: {n}")))
}

fn ranks(v: &Value, op: &str, depth: usize) -> Result<Vec<Rank>> {
    let Value::Array(a) = v else { return Err(invalid(format!("{op} requires a list, got {v}"))) };
    if a.len() < 2 {
        return Err(invalid(format!("{op} requires at least 2 ranks, got {}", a.len())));
    }
    a.iter().map(|r| rank_from_json(r, depth + 1)).collect()
}

fn pair(v: &Value, op: &str, depth: usize) -> Result<(Box<Rank>, Box<Rank>)> {
    match (v.get("left"), v.get("right")) {
        (Some(l), Some(r)) if v.as_object().is_some_and(|o| o.len() == 2) => {
            Ok((Box::new(rank_from_json(l, depth + 1)?), Box::new(rank_from_json(r, depth + 1)?)))
        }
        _ => Err(invalid(format!("{op} requires a dict with 'left' and 'right', got {v}"))),
    }
}

/// Reads a rank expression.
pub fn rank_from_json(v: &Value, depth: usize) -> Result<Rank> {
    if depth > MAX_RANK_DEPTH {
        return Err(invalid(format!("Rank expression nested deeper than {MAX_RANK_DEPTH} levels")));
    }
    let Value::Object(m) = v else { return Err(invalid(format!("Expected a rank expression object, got {v}"))) };
    if m.len() != 1 {
        return Err(invalid(format!("Rank dict must contain exactly one operator, got {}", m.len())));
    }
    let Some((op, arg)) = m.iter().next() else { return Err(invalid("Rank dict cannot be empty")) };
    Ok(match op.as_str() {
        "$val" => {
            let x = arg
                .as_f64()
                .filter(|_| arg.is_number())
                .ok_or_else(|| invalid(format!("$val requires a number, got {arg}")))?;
            Rank::Val(x)
        }
        "$knn" => Rank::Knn(knn_from_json(arg)?),
        "$sum" => Rank::Sum(ranks(arg, op, depth)?),
        "$mul" => Rank::Mul(ranks(arg, op, depth)?),
        "$max" => Rank::Max(ranks(arg, op, depth)?),
        "$min" => Rank::Min(ranks(arg, op, depth)?),
        "$sub" => {
            let (a, b) = pair(arg, op, depth)?;
            Rank::Sub(a, b)
        }
        "$div" => {
            let (a, b) = pair(arg, op, depth)?;
            Rank::Div(a, b)
        }
        "$abs" => Rank::Abs(Box::new(rank_from_json(arg, depth + 1)?)),
        "$exp" => Rank::Exp(Box::new(rank_from_json(arg, depth + 1)?)),
        "$log" => Rank::Log(Box::new(rank_from_json(arg, depth + 1)?)),
        _ => return Err(invalid(format!("Unknown rank operator: {op}"))),
    })
}

fn knn_from_json(v: &Value) -> Result<Knn> {
    let Value::Object(m) = v else { return Err(invalid(format!("$knn requires a dict, got {v}"))) };
    for k in m.keys() {
        if !matches!(k.as_str(), "query" | "key" | "limit" | "default" | "return_rank") {
            return Err(invalid(format!("Unexpected field '{k}' in $knn")));
        }
    }
    let key = match m.get("key") {
        None | Some(Value::Null) => EMBEDDING_KEY.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(invalid(format!("$knn key must be a string, got {other}"))),
    };
    let query = match m.get("query") {
        Some(q @ Value::Object(_)) => KnnQuery::Sparse(SparseVector::from_json("$knn query", q)?),
        Some(Value::Array(a)) => {
            let dense = a
                .iter()
                .map(|x| x.as_f64().filter(|_| x.is_number()).map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or_else(|| invalid("$knn query must be a list of numbers"))?;
            if dense.is_empty() || dense.iter().any(|f| !f.is_finite()) {
                return Err(invalid("$knn query must be a non-empty list of finite numbers"));
            }
            KnnQuery::Dense(dense)
        }
        Some(Value::String(_)) => {
            return Err(invalid(
                "$knn query is a string: the client embeds text queries before sending them; send a vector",
            ))
        }
        Some(other) => return Err(invalid(format!("$knn query must be a list or a SparseVector dict, got {other}"))),
        None => return Err(invalid("$knn requires 'query' field")),
    };
    match (&query, key == EMBEDDING_KEY) {
        (KnnQuery::Sparse(_), true) => {
            return Err(invalid("A sparse $knn query must name the metadata key of its sparse vectors, not #embedding"))
        }
        (KnnQuery::Dense(_), false) => {
            return Err(invalid(format!(
                "A dense $knn query searches #embedding; key '{key}' is not a dense embedding key"
            )))
        }
        _ => {}
    }
    let limit = match m.get("limit") {
        None | Some(Value::Null) => 16,
        Some(x) => count(x, "$knn limit", false)?,
    };
    let default = match m.get("default") {
        None | Some(Value::Null) => None,
        Some(x) => Some(
            x.as_f64()
                .filter(|_| x.is_number())
                .ok_or_else(|| invalid(format!("$knn default must be a number, got {x}")))?,
        ),
    };
    let return_rank = match m.get("return_rank") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(invalid(format!("$knn return_rank must be a boolean, got {other}"))),
    };
    Ok(Knn { query, key, limit, default, return_rank })
}

fn keys_list(v: Option<&Value>, what: &str) -> Result<Vec<String>> {
    match v {
        Some(Value::Array(a)) if !a.is_empty() => a
            .iter()
            .map(|k| {
                k.as_str().map(str::to_string).ok_or_else(|| invalid(format!("{what} keys must be strings, got {k}")))
            })
            .collect(),
        Some(Value::Array(_)) => Err(invalid(format!("{what} keys cannot be empty"))),
        Some(other) => Err(invalid(format!("{what} keys must be a list, got {other}"))),
        None => Err(invalid(format!("{what} requires 'keys' field"))),
    }
}

fn group_by_from_json(v: &Value) -> Result<Option<GroupBy>> {
    let Value::Object(m) = v else { return Err(invalid(format!("Expected dict for GroupBy, got {v}"))) };
    if m.is_empty() {
        return Ok(None);
    }
    let keys = keys_list(m.get("keys"), "GroupBy")?;
    let Some(Value::Object(agg)) = m.get("aggregate") else {
        return Err(invalid("GroupBy requires 'aggregate' field (a dict)"));
    };
    if agg.len() != 1 {
        return Err(invalid(format!("Aggregate dict must contain exactly one operator, got {}", agg.len())));
    }
    let Some((op, arg)) = agg.iter().next() else { return Err(invalid("Aggregate dict cannot be empty")) };
    let max = match op.as_str() {
        "$min_k" => false,
        "$max_k" => true,
        _ => return Err(invalid(format!("Unknown aggregate operator: {op}"))),
    };
    let akeys = keys_list(arg.get("keys"), op)?;
    let k = count(arg.get("k").ok_or_else(|| invalid(format!("{op} requires 'k' field")))?, &format!("{op} k"), false)?;
    Ok(Some(GroupBy { keys, aggregate: Aggregate { max, keys: akeys, k } }))
}

/// A search request as the clients send it (for the HTTP client).
pub fn search_request_to_json(r: &SearchRequest) -> Value {
    json!({"searches": r.searches.iter().map(search_to_json).collect::<Vec<_>>(), "read_level": r.read_level.as_str()})
}

fn search_to_json(s: &Search) -> Value {
    let mut clauses: Vec<Value> = Vec::new();
    if let Some(ids) = &s.filter.ids {
        clauses.push(json!({ ID_KEY: {"$in": ids} }));
    }
    if !s.filter.exclude_ids.is_empty() {
        clauses.push(json!({ ID_KEY: {"$nin": s.filter.exclude_ids} }));
    }
    if let Some(w) = &s.filter.r#where {
        clauses.push(Where::to_json(w));
    }
    let filter = match clauses.len() {
        0 => Value::Null,
        1 => clauses.remove(0),
        _ => json!({ "$and": clauses }),
    };
    let mut limit = json!({"offset": s.offset});
    if let Some(l) = s.limit {
        limit["limit"] = json!(l);
    }
    let group_by = s.group_by.as_ref().map_or_else(
        || json!({}),
        |g| {
            let op = if g.aggregate.max { "$max_k" } else { "$min_k" };
            json!({"keys": g.keys, "aggregate": { op: {"keys": g.aggregate.keys, "k": g.aggregate.k} }})
        },
    );
    json!({
        "filter": filter,
        "rank": s.rank.as_ref().map_or(Value::Null, rank_to_json),
        "group_by": group_by,
        "limit": limit,
        "select": {"keys": s.select},
    })
}

/// A rank expression as the clients send it.
pub fn rank_to_json(r: &Rank) -> Value {
    let list = |v: &[Rank]| Value::Array(v.iter().map(rank_to_json).collect());
    match r {
        Rank::Knn(k) => {
            let query = match &k.query {
                KnnQuery::Dense(v) => Value::Array(v.iter().map(|&f| f32_json(f)).collect()),
                KnnQuery::Sparse(s) => s.to_json(),
            };
            let mut o = json!({"query": query, "key": k.key, "limit": k.limit});
            if let Some(d) = k.default {
                o["default"] = json!(d);
            }
            if k.return_rank {
                o["return_rank"] = json!(true);
            }
            json!({"$knn": o})
        }
        Rank::Val(x) => json!({"$val": x}),
        Rank::Sum(v) => json!({"$sum": list(v)}),
        Rank::Mul(v) => json!({"$mul": list(v)}),
        Rank::Max(v) => json!({"$max": list(v)}),
        Rank::Min(v) => json!({"$min": list(v)}),
        Rank::Sub(a, b) => json!({"$sub": {"left": rank_to_json(a), "right": rank_to_json(b)}}),
        Rank::Div(a, b) => json!({"$div": {"left": rank_to_json(a), "right": rank_to_json(b)}}),
        Rank::Abs(a) => json!({"$abs": rank_to_json(a)}),
        Rank::Exp(a) => json!({"$exp": rank_to_json(a)}),
        Rank::Log(a) => json!({"$log": rank_to_json(a)}),
    }
}

fn column<T>(c: &[Option<Vec<T>>], f: impl Fn(&T) -> Value) -> Value {
    Value::Array(
        c.iter().map(|p| p.as_ref().map_or(Value::Null, |v| Value::Array(v.iter().map(&f).collect()))).collect(),
    )
}

/// The answer as the clients parse it.
pub fn search_result_to_json(r: &SearchResult) -> Value {
    json!({
        "ids": r.ids,
        "documents": column(&r.documents, |d| d.as_ref().map_or(Value::Null, |s| Value::String(s.clone()))),
        "embeddings": column(&r.embeddings, |e| {
            e.as_ref().map_or(Value::Null, |v| Value::Array(v.iter().map(|&f| f32_json(f)).collect()))
        }),
        "metadatas": column(&r.metadatas, |m| m.as_ref().map_or(Value::Null, metadata_to_json)),
        "scores": column(&r.scores, |s| s.map_or(Value::Null, |x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number))),
        "select": r.select,
    })
}

fn column_from<T>(
    v: Option<&Value>,
    n: usize,
    what: &str,
    f: impl Fn(&Value) -> Result<T>,
) -> Result<Vec<Option<Vec<T>>>> {
    match v {
        None | Some(Value::Null) => Ok((0..n).map(|_| None).collect()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|p| match p {
                Value::Null => Ok(None),
                Value::Array(items) => items.iter().map(&f).collect::<Result<Vec<T>>>().map(Some),
                other => Err(invalid(format!("Unexpected {what} payload in a search result: {other}"))),
            })
            .collect(),
        Some(other) => Err(invalid(format!("Unexpected {what} in a search result: {other}"))),
    }
}

/// Reads an answer (the HTTP client).
pub fn search_result_from_json(v: &Value) -> Result<SearchResult> {
    let ids: Vec<Vec<String>> = serde_json::from_value(v.get("ids").cloned().unwrap_or(Value::Null))
        .map_err(|e| Error::internal_from("Unexpected ids in a search result", e))?;
    let n = ids.len();
    let documents = column_from(v.get("documents"), n, "documents", |d| Ok(d.as_str().map(str::to_string)))?;
    let embeddings = column_from(v.get("embeddings"), n, "embeddings", |e| {
        if e.is_null() {
            return Ok(None);
        }
        serde_json::from_value::<Vec<f32>>(e.clone())
            .map(Some)
            .map_err(|e| Error::internal_from("Unexpected embedding", e))
    })?;
    let metadatas = column_from(v.get("metadatas"), n, "metadatas", |m| {
        if m.is_null() {
            Ok(None)
        } else {
            metadata_from_json(m).map(Some)
        }
    })?;
    let scores = column_from(v.get("scores"), n, "scores", |s| Ok(s.as_f64()))?;
    let select: Vec<Vec<String>> = match v.get("select") {
        None | Some(Value::Null) => vec![Vec::new(); n],
        Some(s) => serde_json::from_value(s.clone())
            .map_err(|e| Error::internal_from("Unexpected select in a search result", e))?,
    };
    Ok(SearchResult { ids, documents, embeddings, metadatas, scores, select })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_client_request_round_trips() {
        // What `Search().where(...).rank(Rrf([...])).group_by(...).limit(5).select(...)` sends.
        let body = json!({"searches": [{
            "filter": {"$and": [{"#id": {"$in": ["a", "b"]}}, {"genre": {"$eq": "x"}}, {"#document": {"$contains": "y"}}]},
            "rank": {"$mul": [{"$val": -1}, {"$sum": [
                {"$div": {"left": {"$val": 1.0}, "right": {"$sum": [{"$val": 60}, {"$knn": {"query": [0.1, 0.2], "key": "#embedding", "limit": 16, "return_rank": true}}]}}},
                {"$div": {"left": {"$val": 1.0}, "right": {"$sum": [{"$val": 60}, {"$knn": {"query": {"#type": "sparse_vector", "indices": [1], "values": [1.0]}, "key": "sp", "limit": 16, "default": 1000, "return_rank": true}}]}}}
            ]}]},
            "group_by": {"keys": ["genre"], "aggregate": {"$min_k": {"keys": ["#score"], "k": 2}}},
            "limit": {"offset": 1, "limit": 5},
            "select": {"keys": ["#document", "#score", "title"]}
        }], "read_level": "index_only"});
        let r = search_request_from_json(&body).unwrap();
        let s = &r.searches[0];
        assert_eq!(s.filter.ids.as_deref(), Some(&["a".to_string(), "b".to_string()][..]));
        assert!(s.filter.r#where.is_some());
        assert_eq!(s.rank.as_ref().unwrap().knns().len(), 2);
        assert_eq!((s.offset, s.limit), (1, Some(5)));
        assert_eq!(r.read_level, ReadLevel::IndexOnly);
        assert_eq!(search_request_from_json(&search_request_to_json(&r)).unwrap(), r);
    }

    #[test]
    fn bad_requests_are_clear_errors() {
        for bad in [
            json!({}),
            json!({"searches": [{"rank": {"$knn": {"query": [1.0], "limit": 0}}}]}),
            json!({"searches": [{"rank": {"$sum": [{"$val": 1}]}}]}),
            json!({"searches": [{"rank": {"$pow": 1}}]}),
            json!({"searches": [{"rank": {"$knn": {"query": {"#type": "sparse_vector", "indices": [1], "values": [1]}}}}]}),
            json!({"searches": [{"rank": {"$knn": {"query": [1.0], "key": "sp"}}}]}),
            json!({"searches": [{"filter": {"$or": [{"#id": "a"}, {"k": 1}]}}]}),
            json!({"searches": [{"limit": {"limit": -1}}]}),
            json!({"searches": [{"group_by": {"keys": ["g"]}}]}),
            json!({"searches": [], "read_level": "all"}),
        ] {
            assert!(search_request_from_json(&bad).is_err(), "{bad}");
        }
        let mut deep = json!({"$val": 1});
        for _ in 0..100 {
            deep = json!({"$abs": deep});
        }
        assert!(search_request_from_json(&json!({"searches": [{"rank": deep}]})).is_err());
    }
}
