//! The same raw HTTP requests to a real Chroma 1.5.9 (`CHROMA_159_URL`, started by
//! `scripts/test.sh`) and to chroma-rs in-process, comparing status codes and the body fields
//! that matter. Skipped when `CHROMA_159_URL` is unset. Collection names are unique per run:
//! the real server is shared.
//!
//! Where chroma-rs does more than a local 1.5.9 (fork, fork count, indexing status), the real
//! server's refusal is checked and ours is checked against what the 1.5.9 Python client reads.

mod common;

use common::{raw, raw_to, Raw, TestServer};
use serde_json::{json, Value};
use std::net::SocketAddr;

const T: &str = common::T;
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// Both servers, or `None` (test skipped) without `CHROMA_159_URL`.
struct Pair {
    real: SocketAddr,
    ours: TestServer,
    tag: String,
}

fn pair() -> Option<Pair> {
    let Ok(url) = std::env::var("CHROMA_159_URL") else {
        eprintln!("SKIPPED: set CHROMA_159_URL (a real Chroma 1.5.9, e.g. http://127.0.0.1:8000) to run this test");
        return None;
    };
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let real: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(host).ok()?.next()?;
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
    Some(Pair { real, ours: common::start(common::reset_config()), tag })
}

impl Pair {
    /// `(real, ours)` answers to one request.
    fn both(&self, method: &str, path: &str, body: Option<&Value>) -> (Raw, Raw) {
        let b = body.map(Value::to_string);
        let r = raw_to(self.real, method, path, &[JSON], b.as_deref());
        let o = raw(&self.ours, method, path, &[JSON], b.as_deref());
        (r, o)
    }

    /// Sends to both and checks that the statuses agree.
    fn same_status(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> (Value, Value) {
        let (r, o) = self.both(method, path, body);
        assert_eq!(r.status, o.status, "{what}: status differs\n 1.5.9: {}\n ours:  {}", r.body, o.body);
        (parse(&r), parse(&o))
    }

    /// Sends to both and checks status and error message.
    fn same_error(&self, what: &str, method: &str, path: &str, body: Option<&Value>) -> (Value, Value) {
        let (r, o) = self.same_status(what, method, path, body);
        assert_eq!(r.get("error"), o.get("error"), "{what}: error name differs\n 1.5.9: {r}\n ours:  {o}");
        assert_eq!(r.get("message"), o.get("message"), "{what}: message differs\n 1.5.9: {r}\n ours:  {o}");
        (r, o)
    }

    /// Creates a collection on both from the same body; returns the two ids.
    fn create(&self, body: &Value) -> (String, String, Value, Value) {
        let (r, o) = self.same_status("create collection", "POST", &format!("{T}/collections"), Some(body));
        let id = |v: &Value| v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string();
        (id(&r), id(&o), r, o)
    }

    fn name(&self, base: &str) -> String {
        format!("sbs-{base}-{}", self.tag)
    }
}

fn parse(r: &Raw) -> Value {
    serde_json::from_str(&r.body).unwrap_or(Value::Null)
}

fn coll(id: &str, op: &str) -> String {
    format!("{T}/collections/{id}/{op}")
}

/// Sends to each server its own collection's path; checks the statuses agree.
fn per_coll(p: &Pair, what: &str, ids: (&str, &str), op: &str, method: &str, body: Option<&Value>) -> (Raw, Raw) {
    let b = body.map(Value::to_string);
    let r = raw_to(p.real, method, &coll(ids.0, op), &[JSON], b.as_deref());
    let o = raw(&p.ours, method, &coll(ids.1, op), &[JSON], b.as_deref());
    assert_eq!(r.status, o.status, "{what}: status differs\n 1.5.9: {}\n ours:  {}", r.body, o.body);
    (r, o)
}

fn seed_docs(p: &Pair, ids: (&str, &str)) {
    let add = json!({
        "ids": ["a", "b", "c", "d", "e"],
        "embeddings": [[1, 0], [0, 1], [1, 1], [2, 1], [1, 2]],
        "documents": ["hello world", "foo bar", "Hello there", "goodbye world", null],
        "metadatas": [{"k": 1}, {"k": 2}, {"k": 3}, {"k": 4}, {"k": 5}],
    });
    per_coll(p, "add", ids, "add", "POST", Some(&add));
}

fn sorted_ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x.as_str().map(String::from)).collect())
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn document_filters() {
    let Some(p) = pair() else { return };
    let (r, o, _, _) = p.create(&json!({"name": p.name("docs")}));
    let ids = (r.as_str(), o.as_str());
    seed_docs(&p, ids);
    let filters = [
        json!({"$contains": "world"}),
        json!({"$not_contains": "world"}),
        json!({"$regex": "^[Hh]ello"}),
        json!({"$not_regex": "o w"}),
        json!({"$and": [{"$contains": "o"}, {"$not_contains": "bar"}]}),
        json!({"$or": [{"$contains": "foo"}, {"$regex": "there$"}]}),
    ];
    for f in &filters {
        for body in [json!({"where_document": f}), json!({"where": {"#document": f}})] {
            let (a, b) = per_coll(&p, &format!("get {body}"), ids, "get", "POST", Some(&body));
            assert_eq!(sorted_ids(&parse(&a)), sorted_ids(&parse(&b)), "get {body}");
        }
    }
    let mixed = [
        json!({"$and": [{"k": {"$gte": 2}}, {"#document": {"$contains": "world"}}]}),
        json!({"$or": [{"k": 2}, {"#document": {"$regex": "^Hello"}}]}),
    ];
    for w in &mixed {
        let body = json!({"where": w});
        let (a, b) = per_coll(&p, &format!("get {body}"), ids, "get", "POST", Some(&body));
        assert_eq!(sorted_ids(&parse(&a)), sorted_ids(&parse(&b)), "get {body}");
    }
    // operators a document filter does not have are refused by both
    for w in [json!({"#document": {"$eq": "foo bar"}}), json!({"#document": {"$in": ["foo bar"]}})] {
        let body = json!({"where": w});
        let (a, b) = per_coll(&p, &format!("get {body}"), ids, "get", "POST", Some(&body));
        assert!(a.status >= 400, "1.5.9 accepted {body}: {}", a.body);
        assert_eq!(parse(&a)["message"], parse(&b)["message"], "get {body}");
    }
}

/// The schema a 1.5.9 Python client sends for
/// `Schema().create_index(config=VectorIndexConfig(hnsw=HnswIndexConfig(...)))`.
fn hnsw_schema(hnsw: &Value) -> Value {
    let ef = json!({"name": "default", "type": "known", "config": {}});
    let on = |b: bool| json!({"enabled": b, "config": {}});
    json!({
        "defaults": {
            "string": {"fts_index": on(false), "string_inverted_index": on(true)},
            "float_list": {"vector_index": {"enabled": false, "config": {"embedding_function": ef, "hnsw": hnsw, "space": "l2"}}},
            "sparse_vector": {"sparse_vector_index": {"enabled": false, "config": {"embedding_function": {"type": "unknown"}}}},
            "int": {"int_inverted_index": on(true)},
            "float": {"float_inverted_index": on(true)},
            "bool": {"bool_inverted_index": on(true)},
        },
        "keys": {
            "#document": {"string": {"fts_index": on(true), "string_inverted_index": on(false)}},
            "#embedding": {"float_list": {"vector_index": {"enabled": true,
                "config": {"embedding_function": ef, "source_key": "#document", "hnsw": hnsw, "space": "l2"}}}},
        },
    })
}

#[test]
fn schema_hnsw_settings() {
    let Some(p) = pair() else { return };
    let hnsw = json!({"ef_construction": 150, "max_neighbors": 32, "ef_search": 77, "num_threads": 3,
        "batch_size": 50, "sync_threshold": 500, "resize_factor": 1.5});
    let (_, _, r, o) = p.create(&json!({"name": p.name("hnsw"), "schema": hnsw_schema(&hnsw), "configuration": null}));
    assert_eq!(r["configuration_json"]["hnsw"], o["configuration_json"]["hnsw"]);
    assert_eq!(r["configuration_json"]["spann"], o["configuration_json"]["spann"]);
    assert_eq!(r["configuration_json"]["embedding_function"], o["configuration_json"]["embedding_function"]);
    for ptr in ["/keys/#embedding/float_list/vector_index/config/hnsw", "/defaults/float_list/vector_index/config/hnsw"]
    {
        assert_eq!(r["schema"].pointer(ptr), o["schema"].pointer(ptr), "{ptr}");
        assert_eq!(o["schema"].pointer(ptr), Some(&hnsw), "{ptr}");
    }
    // partly given: the rest are defaults on both
    let part = json!({"ef_search": 42, "max_neighbors": null});
    let (_, _, r, o) = p.create(&json!({"name": p.name("hnsw2"), "schema": hnsw_schema(&part)}));
    assert_eq!(r["configuration_json"]["hnsw"], o["configuration_json"]["hnsw"]);
}

#[test]
fn spann_configuration() {
    let Some(p) = pair() else { return };
    for (base, cfg) in [
        ("spann", json!({"spann": {"search_nprobe": 64, "ef_search": 200}})),
        ("spann-cos", json!({"spann": {"space": "cosine"}})),
    ] {
        let (_, _, r, o) = p.create(&json!({"name": p.name(base), "configuration": cfg}));
        assert_eq!(r["configuration_json"]["hnsw"], o["configuration_json"]["hnsw"], "{cfg}");
        assert_eq!(o["configuration_json"]["spann"], Value::Null);
        assert_eq!(r["configuration_json"]["spann"], Value::Null);
    }
    let body = json!({"name": p.name("spann-hnsw"), "configuration": {"spann": {"space": "cosine"}, "hnsw": {"ef_search": 9}}});
    p.same_error("spann and hnsw", "POST", &format!("{T}/collections"), Some(&body));
}

#[test]
fn fts_disabled_schema() {
    let Some(p) = pair() else { return };
    let mut schema = hnsw_schema(&json!({}));
    schema["keys"]["#document"]["string"]["fts_index"]["enabled"] = json!(false);
    let (r, o, rj, oj) = p.create(&json!({"name": p.name("nofts"), "schema": schema}));
    assert_eq!(rj["schema"]["keys"]["#document"], oj["schema"]["keys"]["#document"]);
    let ids = (r.as_str(), o.as_str());
    per_coll(
        &p,
        "add",
        ids,
        "add",
        "POST",
        Some(&json!({"ids": ["a", "b"], "embeddings": [[1, 2], [2, 3]], "documents": ["hello world", "foo bar"]})),
    );
    let calls = [
        ("get", json!({"where_document": {"$contains": "hello"}})),
        ("get", json!({"where": {"#document": {"$contains": "hello"}}})),
        ("get", json!({"where": {"$and": [{"x": 1}, {"#document": {"$not_contains": "a"}}]}})),
        ("query", json!({"query_embeddings": [[1, 2]], "n_results": 1, "where_document": {"$regex": "h.*"}})),
        ("delete", json!({"where_document": {"$not_contains": "hello"}})),
    ];
    for (op, body) in &calls {
        let (a, b) = per_coll(&p, &format!("{op} {body}"), ids, op, "POST", Some(body));
        assert_eq!(parse(&a)["message"], parse(&b)["message"], "{op} {body}");
    }
    // metadata filters still work
    let (a, b) = per_coll(&p, "get where", ids, "get", "POST", Some(&json!({"where": {"x": 1}})));
    assert_eq!(sorted_ids(&parse(&a)), sorted_ids(&parse(&b)));
}

#[test]
fn delete_counts() {
    let Some(p) = pair() else { return };
    let (r, o, _, _) = p.create(&json!({"name": p.name("del")}));
    let ids = (r.as_str(), o.as_str());
    let add = json!({"ids": ["a", "b", "c", "d", "e", "f", "g"],
        "embeddings": [[1, 2], [2, 3], [3, 4], [4, 5], [5, 6], [6, 7], [7, 8]],
        "documents": ["hello world", "foo bar", "hello foo", "xyz", "abc", "q", "r"],
        "metadatas": [{"k": 1}, {"k": 2}, {"k": 3}, {"k": 4}, {"k": 5}, {"k": 6}, {"k": 7}]});
    per_coll(&p, "add", ids, "add", "POST", Some(&add));
    let steps = [
        json!({"ids": ["a", "nope"]}),
        json!({"ids": ["zzz"]}),
        json!({"ids": ["b", "b"]}),
        json!({"ids": ["c", "d", "zz"], "where": {"k": 3}}),
        json!({"ids": ["d"], "limit": 1}),
        json!({"where": {"k": {"$gte": 6}}}),
        json!({"where": {"k": {"$gte": 0}}, "limit": 1}),
        json!({"where_document": {"$contains": "abc"}}),
        json!({}),
        json!({"ids": []}),
    ];
    for body in &steps {
        let (a, b) = per_coll(&p, &format!("delete {body}"), ids, "delete", "POST", Some(body));
        let (a, b) = (parse(&a), parse(&b));
        if a.get("deleted").is_some() {
            assert_eq!(a["deleted"], b["deleted"], "delete {body}");
        }
    }
    let (a, b) = per_coll(&p, "get", ids, "get", "POST", Some(&json!({})));
    assert_eq!(sorted_ids(&parse(&a)), sorted_ids(&parse(&b)));
}

#[test]
fn routes_local_chroma_refuses() {
    let Some(p) = pair() else { return };
    let (r, o, _, _) = p.create(&json!({"name": p.name("routes")}));
    let ids = (r.as_str(), o.as_str());
    let missing = uuid::Uuid::new_v4().to_string();
    let search = json!({"searches": [{}], "read_level": "index_and_wal"});
    // search: chroma-rs serves it (1.5.9 refuses it locally); a missing collection is the
    // same 404 from both.
    let (a, b) = p.same_status("search missing", "POST", &coll(&missing, "search"), Some(&search));
    assert_eq!(a["error"], b["error"], "search missing");
    let attach = json!({"name": "x", "function_id": "record_counter", "output_collection": "o", "params": null});
    // the same answer from both, on an existing and on a missing collection
    for (op, method, body) in [
        ("functions/attach", "POST", Some(&attach)),
        ("functions/x", "GET", None),
        ("attached_functions/x/detach", "POST", Some(&json!({"delete_output": false}))),
    ] {
        let (a, b) = per_coll(&p, op, ids, op, method, body);
        assert_eq!(parse(&a)["message"], parse(&b)["message"], "{op}");
        let (a, b) = p.same_status(&format!("{op} missing"), method, &coll(&missing, op), body);
        assert_eq!(a["error"], b["error"], "{op} missing");
    }
    p.same_status("search without searches", "POST", &coll(ids.1, "search"), Some(&json!({})));
    // fork, fork_count and indexing_status on a missing collection: 404 from both
    for (op, method, body) in [
        ("fork", "POST", Some(json!({"new_name": p.name("nofork")}))),
        ("fork_count", "GET", None),
        ("indexing_status", "GET", None),
    ] {
        let (a, b) = p.same_status(&format!("{op} missing"), method, &coll(&missing, op), body.as_ref());
        assert_eq!(a["error"], b["error"]);
    }
    p.same_status("fork without new_name", "POST", &coll(&missing, "fork"), Some(&json!({})));
    p.same_status("fork of a bad id", "POST", &coll("not-a-uuid", "fork"), Some(&json!({"new_name": "x"})));
}

/// Fork, fork count and indexing status: 1.5.9 local refuses them; chroma-rs answers in the
/// shapes the 1.5.9 Python client reads (`CollectionModel.from_json`, `int(resp["count"])`,
/// `IndexingStatus(**resp)`).
#[test]
fn fork_and_indexing_status() {
    let Some(p) = pair() else { return };
    let (r, o, _, _) = p.create(&json!({"name": p.name("fork"), "metadata": {"m": 1}}));
    let ids = (r.as_str(), o.as_str());
    seed_docs(&p, ids);
    let fork = json!({"new_name": p.name("forked")});
    let (a, b) = (
        raw_to(p.real, "POST", &coll(ids.0, "fork"), &[JSON], Some(&fork.to_string())),
        raw(&p.ours, "POST", &coll(ids.1, "fork"), &[JSON], Some(&fork.to_string())),
    );
    assert_eq!(a.status, 501, "{}", a.body);
    assert_eq!(b.status, 200, "{}", b.body);
    let f = b.json();
    for key in
        ["id", "name", "configuration_json", "metadata", "dimension", "tenant", "database", "version", "log_position"]
    {
        assert!(f.get(key).is_some(), "fork answer lacks {key}: {f}");
    }
    assert_eq!(f["name"], fork["new_name"]);
    assert_eq!(f["metadata"], json!({"m": 1}));
    let fid = f["id"].as_str().unwrap().to_string();
    let got = raw(&p.ours, "POST", &coll(&fid, "get"), &[JSON], Some("{}")).json();
    assert_eq!(sorted_ids(&got), vec!["a", "b", "c", "d", "e"]);

    let a = raw_to(p.real, "GET", &coll(ids.0, "fork_count"), &[JSON], None);
    assert_eq!(a.status, 501, "{}", a.body);
    let b = raw(&p.ours, "GET", &coll(ids.1, "fork_count"), &[JSON], None);
    assert_eq!((b.status, b.json()), (200, json!({"count": 1})));

    let a = raw_to(p.real, "GET", &coll(ids.0, "indexing_status"), &[JSON], None);
    assert_eq!(a.status, 500, "{}", a.body);
    let b = raw(&p.ours, "GET", &coll(ids.1, "indexing_status"), &[JSON], None);
    assert_eq!(b.status, 200, "{}", b.body);
    let s = b.json();
    assert_eq!(s["total_ops"], 5);
    assert_eq!(s["num_indexed_ops"].as_u64().unwrap() + s["num_unindexed_ops"].as_u64().unwrap(), 5);
    assert!(s["op_indexing_progress"].is_f64(), "{s}");
}

/// Metadata keys starting with `#` or `$`: a real 1.5.9 refuses them (records, collection
/// metadata, modify) and so do we on v2 for 1.x clients, with the same status and message.
#[test]
fn legacy_metadata_keys_refused_by_1x() {
    let Some(p) = pair() else { return };
    let (r, o, _, _) = p.create(&json!({"name": p.name("keys")}));
    let ids = (r.as_str(), o.as_str());
    let bodies = [
        ("add", json!({"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]], "metadatas": [{"ok": 1}, {"$dollar": 1}]})),
        ("upsert", json!({"ids": ["a"], "embeddings": [[1, 2]], "metadatas": [{"#hash": "x"}]})),
        ("update", json!({"ids": ["a"], "metadatas": [{"$x": null}]})),
    ];
    for (op, body) in &bodies {
        let (a, b) = per_coll(&p, op, ids, op, "POST", Some(body));
        assert_eq!(parse(&a), parse(&b), "{op} {body}");
    }
    let create = json!({"name": p.name("keys2"), "metadata": {"$c": 1}});
    p.same_error("create with a $ key", "POST", &format!("{T}/collections"), Some(&create));
    // Both problems in one message; 1.5.9 lists them in hash-map order (either comes first).
    let create = json!({"name": "a b", "metadata": {"#c": 1}});
    let (r, o) =
        p.same_status("create with a # key and a bad name", "POST", &format!("{T}/collections"), Some(&create));
    let parts = |v: &Value| {
        let m = v["message"].as_str().unwrap_or_default().trim_start_matches("Validation error: ").to_string();
        let mut lines: Vec<String> = m.lines().map(String::from).collect();
        lines.sort();
        lines
    };
    assert_eq!((&r["error"], parts(&r)), (&o["error"], parts(&o)), "\n 1.5.9: {r}\n ours:  {o}");
    assert_eq!(parts(&o).len(), 2, "{o}");
    let modify = json!({"new_metadata": {"#c": 1}});
    let m = modify.to_string();
    let a = raw_to(p.real, "PUT", &format!("{T}/collections/{}", ids.0), &[JSON], Some(&m));
    let b = raw(&p.ours, "PUT", &format!("{T}/collections/{}", ids.1), &[JSON], Some(&m));
    assert_eq!((a.status, parse(&a)), (b.status, parse(&b)), "modify with a # key");
    // `$`-keys in a filter: refused by both
    let (a, b) = per_coll(&p, "where $x", ids, "get", "POST", Some(&json!({"where": {"$dollar": 1}})));
    assert_eq!(parse(&a)["error"], parse(&b)["error"]);
}

/// The same metadata keys on API v1 against a real Chroma 0.4.24 (`CHROMA_0424_URL`, started
/// by `scripts/test.sh`): stored, returned and filtered on alike.
#[test]
fn legacy_metadata_keys_against_0424() {
    let Ok(url) = std::env::var("CHROMA_0424_URL") else {
        eprintln!("SKIPPED: set CHROMA_0424_URL (a real Chroma 0.4.24) to run this test");
        return;
    };
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let Some(real) = std::net::ToSocketAddrs::to_socket_addrs(host).ok().and_then(|mut a| a.next()) else {
        panic!("CHROMA_0424_URL {url} does not resolve");
    };
    let ours = common::start(common::reset_config());
    let ua = common::UA04;
    let name = format!("sbs-keys-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let create = json!({"name": name, "metadata": {"$c": 1, "#d": "x"}}).to_string();
    let r = raw_to(real, "POST", "/api/v1/collections", &[ua], Some(&create));
    let o = raw(&ours, "POST", "/api/v1/collections", &[ua], Some(&create));
    assert_eq!((r.status, r.json()["metadata"].clone()), (o.status, o.json()["metadata"].clone()), "{}", o.body);
    let (rid, oid) = (r.json()["id"].as_str().unwrap().to_string(), o.json()["id"].as_str().unwrap().to_string());
    let steps = [
        (
            "add",
            json!({"ids": ["a", "b", "c"], "embeddings": [[1, 2], [3, 4], [5, 6]],
            "metadatas": [{"$dollar": 1, "#hash": "x", "n": 1}, {"$dollar": 2}, {"": "empty"}]}),
        ),
        ("update", json!({"ids": ["b"], "metadatas": [{"#h2": 5}]})),
        ("upsert", json!({"ids": ["d"], "embeddings": [[7, 8]], "metadatas": [{"$u": 5}]})),
        ("get", json!({})),
        ("get", json!({"where": {"$dollar": 1}})),
        ("get", json!({"where": {"$and": [{"$dollar": {"$gte": 1}}, {"#hash": {"$ne": "y"}}]}})),
        ("get", json!({"where": {"#h2": {"$in": [5, 6]}}})),
        ("get", json!({"where": {"$contains": "x"}})),
        ("query", json!({"query_embeddings": [[1, 2]], "n_results": 2, "where": {"$dollar": 2}})),
    ];
    for (op, body) in &steps {
        let b = body.to_string();
        let r = raw_to(real, "POST", &format!("/api/v1/collections/{rid}/{op}"), &[ua], Some(&b));
        let o = raw(&ours, "POST", &format!("/api/v1/collections/{oid}/{op}"), &[ua], Some(&b));
        assert_eq!(r.status, o.status, "{op} {body}: status differs\n 0.4.24: {}\n ours:   {}", r.body, o.body);
        let (r, o) = (parse(&r), parse(&o));
        assert_eq!(r.get("ids"), o.get("ids"), "{op} {body}");
        assert_eq!(r.get("metadatas"), o.get("metadatas"), "{op} {body}");
    }
}

/// Every route the official JS client `chromadb@3.5.0` can call (method, path as written in its
/// `dist/chromadb.mjs`); [`js_route_list_matches_the_installed_client`] checks this list against
/// the installed package.
const JS_3_5_0_ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v2/auth/identity"),
    ("GET", "/api/v2/collections/{crn}"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections/by-id/{collection_id}"),
    ("DELETE", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}"),
    ("PUT", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/fork"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/fork_count"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections_count"),
    ("GET", "/api/v2/healthcheck"),
    ("GET", "/api/v2/heartbeat"),
    ("GET", "/api/v2/pre-flight-checks"),
    ("POST", "/api/v2/reset"),
    ("GET", "/api/v2/version"),
    ("POST", "/api/v2/tenants"),
    ("GET", "/api/v2/tenants/{tenant_name}"),
    ("PATCH", "/api/v2/tenants/{tenant_name}"),
    ("GET", "/api/v2/tenants/{tenant}/databases"),
    ("POST", "/api/v2/tenants/{tenant}/databases"),
    ("DELETE", "/api/v2/tenants/{tenant}/databases/{database}"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/add"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/count"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/delete"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/get"),
    ("GET", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/indexing_status"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/query"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/search"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/update"),
    ("POST", "/api/v2/tenants/{tenant}/databases/{database}/collections/{collection_id}/upsert"),
];

/// The route list above is the installed client's (when `tests/js/node_modules` is there:
/// `bash scripts/js-tests.sh` installs it): every `url: "/api/v2..."` of its code, with the
/// HTTP method of the call it belongs to.
#[test]
fn js_route_list_matches_the_installed_client() {
    let dist =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/js/node_modules/chromadb/dist/chromadb.mjs");
    let Ok(code) = std::fs::read_to_string(&dist) else {
        eprintln!("SKIPPED: {} is not installed (bash scripts/js-tests.sh installs it)", dist.display());
        return;
    };
    let mut found: Vec<(String, String)> = Vec::new();
    let marker = "url: \"";
    let mut at = 0;
    while let Some(i) = code[at..].find(marker) {
        let start = at + i + marker.len();
        let Some(len) = code[start..].find('"') else { break };
        let url = &code[start..start + len];
        at = start + len;
        if !url.starts_with("/api/v2") {
            continue;
        }
        // the method of the call: the last `.get(` / `.post(` ... before the URL
        let before = &code[start.saturating_sub(600)..start];
        let method = ["get", "post", "put", "patch", "delete"]
            .iter()
            .filter_map(|m| before.rfind(&format!(".{m}(")).map(|p| (p, m.to_ascii_uppercase())))
            .max()
            .map(|(_, m)| m)
            .unwrap_or_default();
        found.push((method, url.to_string()));
    }
    found.sort();
    found.dedup();
    let mut want: Vec<(String, String)> =
        JS_3_5_0_ROUTES.iter().map(|(m, p)| ((*m).to_string(), (*p).to_string())).collect();
    want.sort();
    assert_eq!(found, want, "the routes of {} changed", dist.display());
}

/// Each route of the JS client, called the same way on both servers (a missing collection, a
/// malformed resource name, bodies the server refuses, a database that does not exist for the
/// delete): the same status, error name and message. `reset` is left out (it would wipe the
/// shared real server were it started with reset allowed).
#[test]
fn js_routes_answer_as_1_5_9() {
    let Some(p) = pair() else { return };
    let missing = uuid::Uuid::new_v4().to_string();
    let missing_db = format!("nodb-{}", p.tag);
    let mut differ = Vec::new();
    for (method, path) in JS_3_5_0_ROUTES {
        if path.ends_with("/reset") {
            continue;
        }
        let db =
            if *method == "DELETE" && path.ends_with("{database}") { missing_db.as_str() } else { "default_database" };
        let url = path
            .replace("{tenant_name}", "default_tenant")
            .replace("{tenant}", "default_tenant")
            .replace("{database}", db)
            .replace("{collection_id}", &missing)
            .replace("{crn}", "default_tenant::x");
        let body = (*method != "GET" && *method != "DELETE").then(|| json!({}));
        let (r, o) = p.both(method, &url, body.as_ref());
        let same = r.status == o.status
            && (r.status < 400 || {
                let (a, b) = (parse(&r), parse(&o));
                a.get("error") == b.get("error") && a.get("message") == b.get("message")
            });
        if !same {
            differ.push(format!("{method} {path}\n 1.5.9: {} {}\n ours:  {} {}", r.status, r.body, o.status, o.body));
        }
    }
    assert!(differ.is_empty(), "{} routes answer differently:\n{}", differ.len(), differ.join("\n"));
}

/// Bad requests (missing or malformed ids, missing tenants and databases, bodies of the wrong
/// shape, refused values): the same status, error name and message from both. Left out, where
/// chroma-rs differs on purpose (docs/design.md): duplicate ids in one add and `n_results: 0`
/// (1.5.9 local accepts both; we refuse, as Chroma's clients do before sending), an unknown
/// `include` or a negative `limit` (400 with our message, not serde's 422), a short tenant name
/// (1.5.9's message lists a hash map in random order), and the error name of a taken collection
/// name (1.5.9: `ChromaError`; ours `UniqueConstraintError`, a subclass in its client).
#[test]
fn error_texts() {
    let Some(p) = pair() else { return };
    let (r, o, _, _) = p.create(&json!({"name": p.name("errors")}));
    let ids = (r.as_str(), o.as_str());
    let add = json!({"ids": ["a", "b"], "embeddings": [[1, 2], [3, 4]], "documents": ["x", "y"], "metadatas": [{"k": 1}, {"k": "s"}]});
    per_coll(&p, "add", ids, "add", "POST", Some(&add));
    let m = "00000000-0000-0000-0000-00000000abcd";
    let nodb = "/api/v2/tenants/default_tenant/databases/nodb-x";
    let mut cases: Vec<(String, &str, String, Option<Value>)> = Vec::new();
    for op in ["get", "delete", "count", "query", "add", "upsert", "update"] {
        let method = if op == "count" { "GET" } else { "POST" };
        let body = match op {
            "get" => Some(json!({})),
            "delete" => Some(json!({"ids": ["a"]})),
            "count" => None,
            "query" => Some(json!({"query_embeddings": [[1, 2]], "n_results": 1})),
            "update" => Some(json!({"ids": ["z"]})),
            _ => Some(json!({"ids": ["z"], "embeddings": [[1, 2]]})),
        };
        cases.push((format!("{op} of a missing collection"), method, coll(m, op), body.clone()));
        cases.push((format!("{op} of a malformed id"), method, coll("not-a-uuid", op), body));
    }
    let c = |op: &str| format!("{T}/collections/{{C}}/{op}");
    let more: Vec<(&str, &str, String, Option<Value>)> = vec![
        ("get collection: missing id", "GET", format!("{T}/collections/{m}"), None),
        ("get collection: missing name", "GET", format!("{T}/collections/nonexistent-coll"), None),
        ("by-id: missing", "GET", format!("{T}/collections/by-id/{m}"), None),
        ("by-id: malformed", "GET", format!("{T}/collections/by-id/not-a-uuid"), None),
        ("modify: missing", "PUT", format!("{T}/collections/{m}"), Some(json!({"new_name": "abc"}))),
        ("modify: malformed id", "PUT", format!("{T}/collections/not-a-uuid"), Some(json!({"new_name": "abc"}))),
        ("delete collection: missing", "DELETE", format!("{T}/collections/nonexistent-coll"), None),
        ("missing tenant", "GET", "/api/v2/tenants/nope-tenant".into(), None),
        ("missing database", "GET", nodb.into(), None),
        ("create in a missing database", "POST", format!("{nodb}/collections"), Some(json!({"name": "abc"}))),
        ("count in a missing database", "GET", format!("{nodb}/collections_count"), None),
        ("add without ids", "POST", c("add"), Some(json!({"embeddings": [[1, 2]]}))),
        ("ids not a list", "POST", c("add"), Some(json!({"ids": "a", "embeddings": [[1, 2]]}))),
        ("wrong dimension", "POST", c("add"), Some(json!({"ids": ["q"], "embeddings": [[1, 2, 3]]}))),
        ("query dimension", "POST", c("query"), Some(json!({"query_embeddings": [[1, 2, 3]], "n_results": 1}))),
        ("duplicate name", "POST", format!("{T}/collections"), Some(json!({"name": p.name("errors")}))),
        ("short name", "POST", format!("{T}/collections"), Some(json!({"name": "a"}))),
        ("delete without ids or filters", "POST", c("delete"), Some(json!({"ids": []}))),
        ("list in a missing database", "GET", format!("{nodb}/collections"), None),
        ("bad name on modify", "PUT", format!("{T}/collections/{{C}}"), Some(json!({"new_name": "a"}))),
        ("bad database name", "POST", "/api/v2/tenants/default_tenant/databases".into(), Some(json!({"name": "a b"}))),
        ("update tenant without resource_name", "PATCH", "/api/v2/tenants/default_tenant".into(), Some(json!({}))),
        ("malformed resource name", "GET", "/api/v2/collections/a:b".into(), None),
        ("get with a where of two keys", "POST", c("get"), Some(json!({"where": {"a": 1, "b": 2}}))),
        ("where with an unknown operator", "POST", c("get"), Some(json!({"where": {"k": {"$foo": 1}}}))),
        ("where with a $ key", "POST", c("delete"), Some(json!({"where": {"$x": 1}}))),
        ("where $gt of a string", "POST", c("get"), Some(json!({"where": {"k": {"$gt": "x"}}}))),
        ("where not a dict", "POST", c("query"), Some(json!({"query_embeddings": [[1, 2]], "where": [1]}))),
        ("#document $contains of a number", "POST", c("get"), Some(json!({"where": {"#document": {"$contains": 1}}}))),
        ("where_document with an unknown operator", "POST", c("get"), Some(json!({"where_document": {"$foo": "x"}}))),
        ("where_document $contains of a number", "POST", c("get"), Some(json!({"where_document": {"$contains": 1}}))),
        ("where_document regex syntax", "POST", c("get"), Some(json!({"where_document": {"$regex": "("}}))),
    ];
    cases.extend(more.into_iter().map(|(w, m, path, b)| (w.to_string(), m, path, b)));
    let mut differ = Vec::new();
    for (what, method, path, body) in &cases {
        let b = body.as_ref().map(Value::to_string);
        let r = raw_to(p.real, method, &path.replace("{C}", ids.0), &[JSON], b.as_deref());
        let o = raw(&p.ours, method, &path.replace("{C}", ids.1), &[JSON], b.as_deref());
        let (a, b) = (parse(&r), parse(&o));
        let same_name = a.get("error") == b.get("error") || (a["error"] == "ChromaError" && r.status == 409);
        if r.status != o.status || (r.status >= 400 && (!same_name || a.get("message") != b.get("message"))) {
            differ.push(format!(
                "{what}: {method} {path}\n 1.5.9: {} {}\n ours:  {} {}",
                r.status, r.body, o.status, o.body
            ));
        }
    }
    assert!(differ.is_empty(), "{} of {} answer differently:\n{}", differ.len(), cases.len(), differ.join("\n"));
}
