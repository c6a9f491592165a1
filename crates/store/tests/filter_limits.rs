//! Filters whose size or shape used to break the SQL they compile to, or cost time quadratic in
//! the input: long `$in` lists, wide `$and`/`$or`, NUL bytes in a `$contains` needle, and long
//! repetitive needles over a long document. Each must give the right answer, quickly.

use chroma_store::Engine;
use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::metadata::metadata_from_json;
use chroma_types::{AddRequest, ChromaApi, CreateCollection, GetRequest, Settings, DEFAULT_DATABASE, DEFAULT_TENANT};
use serde_json::json;
use std::time::{Duration, Instant};
use uuid::Uuid;

fn engine_with(docs: &[(&str, Option<String>, serde_json::Value)]) -> (Engine, Uuid) {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("limits")).unwrap();
    let ids = docs.iter().map(|d| d.0.to_string()).collect();
    let embeddings = docs.iter().enumerate().map(|(i, _)| vec![i as f32, 1.0]).collect();
    let metadatas = docs.iter().map(|d| Some(metadata_from_json(&d.2).unwrap())).collect();
    let req =
        AddRequest::new(ids, embeddings).documents(docs.iter().map(|d| d.1.clone()).collect()).metadatas(metadatas);
    e.add(c.id, req).unwrap();
    (e, c.id)
}

fn get_ids(e: &Engine, cid: Uuid, r#where: Option<&serde_json::Value>, doc: Option<&serde_json::Value>) -> Vec<String> {
    let req = GetRequest {
        r#where: parse_where(r#where).unwrap(),
        where_document: parse_where_document(doc).unwrap(),
        include: vec![],
        ..GetRequest::default()
    };
    e.get(cid, req).unwrap().ids
}

fn three() -> (Engine, Uuid) {
    engine_with(&[
        ("a", Some("red apple".into()), json!({"n": 1, "s": "x1"})),
        ("b", Some("yellow\0banana".into()), json!({"n": 2, "s": "x2"})),
        ("c", None, json!({"n": 3.5, "s": "x3"})),
    ])
}

#[test]
fn long_in_lists_work() {
    let (e, cid) = three();
    let mut strs: Vec<String> = (0..40_000).map(|i| format!("v{i}")).collect();
    strs.push("x2".into());
    assert_eq!(get_ids(&e, cid, Some(&json!({"s": {"$in": strs}})), None), ["b"]);
    let nin: Vec<String> = (0..40_000).map(|i| format!("v{i}")).chain(["x1".to_string()]).collect();
    assert_eq!(get_ids(&e, cid, Some(&json!({"s": {"$nin": nin}})), None), ["b", "c"]);
    let mut nums: Vec<serde_json::Value> = (100..40_100).map(|i| json!(i)).collect();
    nums.push(json!(3.5));
    nums.push(json!(1));
    assert_eq!(get_ids(&e, cid, Some(&json!({"n": {"$in": nums}})), None), ["a", "c"]);
    let floats: Vec<serde_json::Value> = (0..40_000).map(|i| json!(f64::from(i) + 0.25)).chain([json!(2.0)]).collect();
    assert_eq!(get_ids(&e, cid, Some(&json!({"n": {"$in": floats.clone()}})), None), ["b"]);
    assert_eq!(get_ids(&e, cid, Some(&json!({"n": {"$nin": floats}})), None), ["a", "c"]);
}

#[test]
fn wide_and_or_work() {
    // Up to the limit of 1,000 clauses per filter (SQLite's planning time grows with the square
    // of the clause count: see chroma_types::filter's MAX_CLAUSES).
    let (e, cid) = three();
    let mut any: Vec<serde_json::Value> = (0..998).map(|i| json!({"s": format!("v{i}")})).collect();
    any.push(json!({"s": "x3"}));
    assert_eq!(get_ids(&e, cid, Some(&json!({"$or": any})), None), ["c"]);
    let all: Vec<serde_json::Value> = (0..998).map(|i| json!({"n": {"$lt": 10 + i}})).collect();
    assert_eq!(get_ids(&e, cid, Some(&json!({"$and": all})), None), ["a", "b", "c"]);
    let docs: Vec<serde_json::Value> = (0..998).map(|i| json!({"$contains": format!("zz{i}")})).collect();
    let mut docs_or = docs.clone();
    docs_or.push(json!({"$contains": "apple"}));
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$or": docs_or}))), ["a"]);
    // Past it: a clear error naming the limit, not a stall.
    let wide: Vec<serde_json::Value> = (0..3_000).map(|i| json!({"s": format!("v{i}")})).collect();
    let err = parse_where(Some(&json!({"$or": wide}))).unwrap_err();
    assert!(err.message.contains("limit of 1000 clauses"), "{}", err.message);
}

#[test]
fn nul_in_a_needle_is_an_ordinary_character() {
    let (e, cid) = three();
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$contains": "yellow\u{0}ban"}))), ["b"]);
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$contains": "w\u{0}b"}))), ["b"]);
    assert!(get_ids(&e, cid, None, Some(&json!({"$contains": "\u{0}\u{0}\u{0}"}))).is_empty());
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$not_contains": "low\u{0}"}))), ["a", "c"]);
}

/// The repro of the stall: one 1,000,000-character document, a 2,000-character needle of the
/// same character. It took ~43 s and 2 GB when the needle became an FTS5 phrase of 1,998
/// trigrams; it is linear now. The bound is loose (a slow machine, a debug build): it catches
/// the quadratic cost, not a few percent.
#[test]
fn long_repetitive_needles_cost_linear_time() {
    let big = "a".repeat(1_000_000);
    let (e, cid) = engine_with(&[
        ("big", Some(big), json!({"k": 1})),
        ("dash", Some(format!("{}b", "-".repeat(300_000))), json!({"k": 2})),
        ("small", Some("aaaa".into()), json!({"k": 3})),
    ]);
    let started = Instant::now();
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$contains": "a".repeat(2_000)}))), ["big"]);
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$contains": "a".repeat(5_000) + "b"}))), Vec::<String>::new());
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$contains": "-".repeat(10_000) + "b"}))), ["dash"]);
    assert_eq!(get_ids(&e, cid, None, Some(&json!({"$not_contains": "a".repeat(10_000)}))), ["dash", "small"]);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "four long-needle filters took {took:?}");
}
