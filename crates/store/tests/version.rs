//! The collection `version` and `indexing_status`: every record operation is counted; the
//! version steps once writes have been quiet for a moment and the index holds them (what
//! Chroma's compaction does, which 1.x clients and Chroma's own suite poll for); the version
//! and the counts are persisted and never go back.

use chroma_store::Engine;
use chroma_types::*;
use std::time::{Duration, Instant};
use uuid::Uuid;

const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("id{i}")).collect()
}

fn vectors(range: std::ops::Range<usize>) -> Vec<Vec<f32>> {
    range.map(|i| vec![i as f32, (i % 7) as f32, 1.0]).collect()
}

fn version(e: &Engine, c: Uuid) -> u64 {
    e.get_collection_by_id(c).unwrap().version
}

/// Polls until the version passes `from` (at most 20 s).
fn wait_past(e: &Engine, c: Uuid, from: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = version(e, c);
        if v > from {
            return v;
        }
        assert!(Instant::now() < deadline, "the version stayed at {v}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check(e: &Engine, c: Uuid, indexed: u64, total: u64) {
    let s = e.indexing_status(c).unwrap();
    assert_eq!((s.num_indexed_ops, s.num_unindexed_ops, s.total_ops), (indexed, total - indexed, total), "{s:?}");
}

fn steps(e: &Engine) {
    let c = e.create_collection(T, D, CreateCollection::new("vcoll")).unwrap().id;
    let v0 = version(e, c);
    check(e, c, 0, 0);
    assert!((e.indexing_status(c).unwrap().op_indexing_progress - 1.0).abs() < 1e-12);

    // a burst of writes: counted at once, indexed by one step after the quiet spell
    let t = Instant::now();
    e.add(c, AddRequest::new(ids(0..300), vectors(0..300))).unwrap();
    e.upsert(c, AddRequest::new(ids(299..301), vectors(299..301))).unwrap();
    let early = version(e, c);
    if t.elapsed() < Duration::from_millis(900) {
        assert_eq!(early, v0, "stepped during the quiet spell");
        check(e, c, 0, 302);
    }
    let v1 = wait_past(e, c, v0);
    check(e, c, 302, 302);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(version(e, c), v1, "a step with nothing new");

    // a delete counts one op per deleted record; a delete matching nothing counts none
    e.delete(c, DeleteRequest { ids: Some(ids(0..2)), ..Default::default() }).unwrap();
    e.delete(c, DeleteRequest { ids: Some(vec!["nope".into()]), ..Default::default() }).unwrap();
    check(e, c, 302, 304);
    let v2 = wait_past(e, c, v1);
    check(e, c, 304, 304);
    assert!(v2 > v1);

    // a fork inherits the counts and steps on its own
    let f = e.fork_collection(c, "v-fork").unwrap();
    assert_eq!(f.version, v2);
    check(e, f.id, 304, 304);
    let docs = Some(vec![Some("changed".to_string()); 3]);
    e.update(f.id, UpdateRequest { ids: ids(5..8), documents: docs, ..Default::default() }).unwrap();
    check(e, f.id, 304, 307);
    check(e, c, 304, 304);
    wait_past(e, f.id, v2);
    check(e, f.id, 307, 307);
}

#[test]
fn ephemeral_version_steps() {
    steps(&Engine::ephemeral(Settings::default()).unwrap());
}

#[test]
fn persistent_version_steps_and_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    steps(&e);
    let c = e.get_collection(T, D, "vcoll").unwrap();
    // unindexed ops at close stay counted and are stepped by the next writer's quiet spell
    e.add(c.id, AddRequest::new(ids(1000..1010), vectors(1000..1010))).unwrap();
    drop(e);
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    let c2 = e.get_collection(T, D, "vcoll").unwrap();
    assert!(c2.version >= c.version);
    let s = e.indexing_status(c.id).unwrap();
    assert_eq!(s.total_ops, 314);
    e.add(c.id, AddRequest::new(ids(2000..2001), vectors(2000..2001))).unwrap();
    wait_past(&e, c.id, c2.version);
    check(&e, c.id, 315, 315);
}

/// A write of many new vectors whose graph is slow to build (identical vectors at M=128, as in
/// Chroma's `test_add_large`) links for a bounded time and leaves the rest to the background
/// indexer: every record is found at once (the unlinked tail is scanned exactly), and the
/// version steps only once the graph holds them all.
fn large_slow_batch(e: &Engine) {
    let md: Metadata = [
        ("hnsw:M".to_string(), MetadataValue::Int(128)),
        ("hnsw:construction_ef".to_string(), MetadataValue::Int(128)),
    ]
    .into();
    let c = e.create_collection(T, D, CreateCollection::new("big").metadata(md)).unwrap().id;
    let v0 = version(e, c);
    let n = 6_000;
    let t = Instant::now();
    e.add(c, AddRequest::new(ids(0..n), vec![vec![1.0, 2.0, 3.0]; n])).unwrap();
    let took = t.elapsed();
    let g = e.export_graph(c).unwrap().unwrap();
    // linked whole, or the write gave up linking after its 2 s
    assert!(g.linked == n || took >= Duration::from_secs(2), "{} of {n} linked in {took:?}", g.linked);
    assert_eq!(g.stored, n);
    assert_eq!(e.count(c).unwrap(), n);
    let mut q = QueryRequest::new(vec![vec![1.0, 2.0, 3.0]], 7);
    q.include = vec![Include::Distances];
    let got = e.query(c, q.clone()).unwrap();
    assert_eq!(got.ids[0].len(), 7);
    assert!(got.distances.as_ref().unwrap()[0].iter().all(|d| *d == 0.0));
    // the last record written is found right away, linked or not
    let last = e.get(c, GetRequest { ids: Some(ids(n - 1..n)), ..Default::default() }).unwrap();
    assert_eq!(last.ids, ids(n - 1..n));
    let deadline = Instant::now() + Duration::from_secs(120);
    let v1 = loop {
        let v = version(e, c);
        if v > v0 {
            break v;
        }
        assert!(Instant::now() < deadline, "the version stayed at {v}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(v1 > v0);
    check(e, c, n as u64, n as u64);
    assert_eq!(e.export_graph(c).unwrap().unwrap().linked, n, "the version stepped before the graph was whole");
    assert_eq!(e.query(c, q).unwrap().ids[0].len(), 7);
}

#[test]
fn large_slow_batch_ephemeral() {
    large_slow_batch(&Engine::ephemeral(Settings::default()).unwrap());
}

#[test]
fn large_slow_batch_persistent_survives_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    large_slow_batch(&e);
    drop(e);
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    let c = e.get_collection(T, D, "big").unwrap().id;
    assert_eq!(e.count(c).unwrap(), 6_000);
}
