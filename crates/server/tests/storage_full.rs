//! A full disk seen through the HTTP server: a write that hits `SQLITE_FULL` (the database
//! capped at its size with `PRAGMA max_page_count`, see `Engine::limit_database_pages`) is
//! answered with a clear error in Chroma's v2 shape, not SQL text; reads keep being served
//! and show nothing of the failed write; once there is room, writes succeed again.

mod common;

use chroma_server::ServerConfig;
use chroma_types::Settings;
use common::{raw, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;

const DB: &str = "/api/v2/tenants/default_tenant/databases/default_database";

fn post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let r = raw(s, "POST", path, &[("Content-Type", "application/json")], Some(&body.to_string()));
    let v = if r.body.is_empty() { Value::Null } else { r.json() };
    (r.status, v)
}

fn get(s: &TestServer, path: &str) -> (u16, Value) {
    let r = raw(s, "GET", path, &[], None);
    (r.status, r.json())
}

/// `n` records `{prefix}{i}` with a document long enough to need new pages.
fn batch(prefix: &str, n: usize) -> Value {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let embeddings: Vec<Vec<f32>> = (0..n).map(|i| vec![i as f32, 1.0, 0.5]).collect();
    let documents: Vec<String> = (0..n).map(|i| format!("{prefix} document {i} ").repeat(40)).collect();
    json!({"ids": ids, "embeddings": embeddings, "documents": documents})
}

#[test]
fn a_write_on_a_full_disk_gets_a_clear_error_and_reads_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let engine = chroma_store::Engine::open(dir.path(), Settings::default()).expect("engine");
    let s = common::start_with(Arc::new(engine.clone()), ServerConfig::default());
    let (status, c) = post(&s, &format!("{DB}/collections"), &json!({"name": "full"}));
    assert_eq!(status, 200, "{c}");
    let coll = format!("{DB}/collections/{}", c["id"].as_str().expect("id"));
    assert_eq!(post(&s, &format!("{coll}/add"), &batch("a", 20)).0, 201);

    // The same engine the server uses (a folder is open once per process).
    engine.vacuum().expect("vacuum"); // no free pages left to reuse
    engine.limit_database_pages(Some(0)).expect("limit");
    let (status, err) = post(&s, &format!("{coll}/add"), &batch("b", 50));
    assert_eq!(status, 500, "{err}");
    assert_eq!(err["error"], "InternalError", "{err}");
    let message = err["message"].as_str().expect("message");
    assert!(message.contains("database or disk is full"), "{message}");
    assert!(message.contains("the request was not applied"), "{message}");
    for sql in ["INSERT", "SELECT", "UPDATE", "WHERE"] {
        assert!(!message.contains(sql), "SQL text in {message}");
    }

    // Reads go on and show nothing of the failed write.
    assert_eq!(get(&s, &format!("{coll}/count")), (200, json!(20)));
    let (status, got) = post(&s, &format!("{coll}/get"), &json!({"include": ["documents"]}));
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["ids"].as_array().expect("ids").len(), 20);
    assert!(got["ids"].as_array().expect("ids").iter().all(|id| id.as_str().is_some_and(|i| i.starts_with('a'))));
    let (status, q) =
        post(&s, &format!("{coll}/query"), &json!({"query_embeddings": [[3.0, 1.0, 0.5]], "n_results": 1}));
    assert_eq!(status, 200, "{q}");
    assert_eq!(q["ids"], json!([["a3"]]));

    // Room again: the same write succeeds.
    engine.limit_database_pages(None).expect("lift");
    assert_eq!(post(&s, &format!("{coll}/add"), &batch("b", 50)).0, 201);
    assert_eq!(get(&s, &format!("{coll}/count")), (200, json!(70)));
}
