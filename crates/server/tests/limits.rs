//! One request must not stall the server: the `$contains` stall of a 1 MB document (it took
//! ~43 s and held up every collection), a read on one collection beside a count on another,
//! and the per-request time limit answered as a timeout error in Chroma's v2 error shape.

mod common;

use chroma_server::ServerConfig;
use chroma_types::Settings;
use common::{raw, TestServer};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DB: &str = "/api/v2/tenants/default_tenant/databases/default_database";

fn post(s: &TestServer, path: &str, body: &Value) -> (u16, Value) {
    let r = raw(s, "POST", path, &[("Content-Type", "application/json")], Some(&body.to_string()));
    let v = if r.body.is_empty() { Value::Null } else { r.json() };
    (r.status, v)
}

fn collection(s: &TestServer, name: &str) -> String {
    let (status, c) = post(s, &format!("{DB}/collections"), &json!({"name": name}));
    assert_eq!(status, 200, "{c}");
    c["id"].as_str().expect("id").to_string()
}

fn persistent_server(dir: &std::path::Path, config: ServerConfig) -> TestServer {
    let engine = chroma_store::Engine::open(dir, Settings::default()).expect("engine");
    common::start_with(Arc::new(engine), config)
}

/// Peak resident memory of this process (the server runs in it), in MiB.
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

#[test]
fn a_long_needle_over_a_huge_document_does_not_stall_other_collections() {
    let dir = tempfile::tempdir().unwrap();
    let s = persistent_server(dir.path(), ServerConfig::default());
    let big = collection(&s, "big-docs");
    let other = collection(&s, "other-docs");
    let body = json!({"ids": ["huge"], "embeddings": [[1.0, 0.0]], "documents": ["a".repeat(1_000_000)]});
    assert_eq!(post(&s, &format!("{DB}/collections/{big}/add"), &body).0, 201);
    let body = json!({"ids": ["x"], "embeddings": [[0.0, 1.0]], "documents": ["x"]});
    assert_eq!(post(&s, &format!("{DB}/collections/{other}/add"), &body).0, 201);
    let rss_before = peak_rss_mib();

    let started = Instant::now();
    let slow = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let filter = json!({"where_document": {"$contains": "a".repeat(2_000)}, "include": []});
            post(&s, &format!("{DB}/collections/{big}/get"), &filter)
        });
        let mut worst = Duration::ZERO;
        while !reader.is_finished() || worst.is_zero() {
            let t = Instant::now();
            let r = raw(&s, "GET", &format!("{DB}/collections/{other}/count"), &[], None);
            assert_eq!((r.status, r.body.as_str()), (200, "1"));
            worst = worst.max(t.elapsed());
        }
        (reader.join().expect("reader"), worst)
    });
    let ((status, got), worst_count) = slow;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["ids"], json!(["huge"]));
    assert!(started.elapsed() < ServerConfig::default().request_timeout.unwrap(), "took {:?}", started.elapsed());
    assert!(worst_count < Duration::from_millis(100), "a count on another collection took {worst_count:?}");
    let grew = peak_rss_mib().saturating_sub(rss_before);
    assert!(grew < 200, "peak RSS grew by {grew} MiB during the request");
}

#[test]
fn a_request_past_its_time_limit_is_stopped_with_a_timeout_error() {
    let dir = tempfile::tempdir().unwrap();
    let engine: Arc<dyn chroma_types::ChromaApi> =
        Arc::new(chroma_store::Engine::open(dir.path(), Settings::default()).expect("engine"));
    // One server loads the data; a second one on the same engine has a 1 ms time limit.
    let loader = common::start_with(engine.clone(), ServerConfig::default());
    let id = collection(&loader, "slow-docs");
    for chunk in 0..4 {
        let ids: Vec<String> = (0..5_000).map(|i| format!("r{chunk}-{i}")).collect();
        let embeddings: Vec<[f32; 2]> = (0..5_000).map(|i| [i as f32, 1.0]).collect();
        let documents: Vec<String> = (0..5_000).map(|i| format!("document number {i} of chunk {chunk}")).collect();
        let body = json!({"ids": ids, "embeddings": embeddings, "documents": documents});
        assert_eq!(post(&loader, &format!("{DB}/collections/{id}/upsert"), &body).0, 200);
    }
    let config = ServerConfig { request_timeout: Some(Duration::from_millis(1)), ..ServerConfig::default() };
    let s = common::start_with(engine, config);
    let (status, err) =
        post(&s, &format!("{DB}/collections/{id}/get"), &json!({"where_document": {"$regex": "number [0-9]+ of"}}));
    assert_eq!(status, 504, "{err}");
    assert_eq!(err["error"], "TimeoutError");
    assert_eq!(
        err["message"], "the request exceeded its time limit of 0.001 s (raise it with --request-timeout)",
        "{err}"
    );
}
