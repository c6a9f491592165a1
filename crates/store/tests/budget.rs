//! One bad request must not stall the others: a slow read of one collection does not make a
//! read of another wait; a request's budget (deadline or cancel flag, see
//! `chroma_store::budget`) stops a slow read or write quickly, with its own error, leaving
//! nothing half-written; result-size limits refuse answers that would not fit.

use chroma_store::budget::{self, Budget, ResultLimits};
use chroma_store::Engine;
use chroma_types::filter::parse_where_document;
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, DeleteRequest, ErrorKind, GetRequest, QueryRequest, Settings,
    DEFAULT_DATABASE, DEFAULT_TENANT,
};
use serde_json::json;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;

/// Rows of the slow collection, and the size of each document.
const SLOW_ROWS: usize = 4_000;
const DOC_LEN: usize = 2_000;

/// A `$regex` with a large Unicode automaton: the regex engine's fast paths give up on it,
/// so matching costs far more per byte than a scan (and never matches: no `#`).
const SLOW_REGEX: &str = r"(?:\b\w{1,8}\b\W+){1,8}#";

fn doc(i: usize) -> String {
    let words = ["lorem", "ipsum", "dolor", "sit", "amet", "été", "naïve", "ça"];
    let mut s = String::with_capacity(DOC_LEN + 16);
    let mut k = i;
    while s.len() < DOC_LEN {
        s.push_str(words[k % words.len()]);
        s.push(' ');
        k = k.wrapping_mul(31).wrapping_add(7);
    }
    s
}

/// A persistent engine with a large collection "slow" and a small one "fast".
fn setup(dir: &std::path::Path) -> (Engine, Uuid, Uuid) {
    let e = Engine::open(dir, Settings::default()).unwrap();
    let slow = e.create_collection(T, D, CreateCollection::new("slow")).unwrap().id;
    for chunk in 0..(SLOW_ROWS / 1_000) {
        let range = chunk * 1_000..(chunk + 1) * 1_000;
        let ids = range.clone().map(|i| format!("s{i}")).collect();
        let embeddings = range.clone().map(|i| vec![i as f32, 1.0]).collect();
        let docs = range.map(|i| Some(doc(i))).collect();
        e.add(slow, AddRequest::new(ids, embeddings).documents(docs)).unwrap();
    }
    let fast = e.create_collection(T, D, CreateCollection::new("fast")).unwrap().id;
    let ids = (0..10).map(|i| format!("f{i}")).collect();
    e.add(fast, AddRequest::new(ids, (0..10).map(|i| vec![i as f32, 0.0]).collect())).unwrap();
    (e, slow, fast)
}

fn slow_get() -> GetRequest {
    GetRequest {
        where_document: parse_where_document(Some(&json!({"$regex": SLOW_REGEX}))).unwrap(),
        include: vec![],
        ..GetRequest::default()
    }
}

#[test]
fn a_slow_read_does_not_stall_other_collections() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, slow, fast) = setup(tmp.path());
    let running = Arc::new(AtomicBool::new(true));
    let b = Budget::with_timeout(Duration::from_secs(60));
    let cancel = b.cancel_flag();
    let reader = {
        let (e, running) = (e.clone(), running.clone());
        std::thread::spawn(move || {
            let r = budget::run_with(b, || e.get(slow, slow_get()));
            running.store(false, Ordering::Release);
            r
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    let mut checks = 0;
    while running.load(Ordering::Acquire) && checks < 20 {
        let started = Instant::now();
        assert_eq!(e.count(fast).unwrap(), 10);
        assert_eq!(e.get(fast, GetRequest::default()).unwrap().ids.len(), 10);
        let c = e.get_collection(T, D, "fast").unwrap();
        assert_eq!(c.id, fast);
        let took = started.elapsed();
        assert!(took < Duration::from_millis(100), "reads of another collection took {took:?} during a slow read");
        checks += 1;
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(checks > 0, "the slow read ended before the other reads ran");
    // A write to the other collection does not wait for the slow read either.
    if running.load(Ordering::Acquire) {
        let started = Instant::now();
        e.add(fast, AddRequest::new(vec!["f10".into()], vec![vec![10.0, 0.0]])).unwrap();
        assert_eq!(e.count(fast).unwrap(), 11, "read-your-writes");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(500), "a write to another collection took {took:?} during a slow read");
    }
    assert!(running.load(Ordering::Acquire), "the slow read ended before the checks did");
    cancel.store(true, Ordering::Release);
    assert_eq!(reader.join().unwrap().unwrap_err().kind, ErrorKind::Cancelled);
}

#[test]
fn a_deadline_or_a_cancel_stops_a_slow_read() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, slow, fast) = setup(tmp.path());

    // Deadline.
    let started = Instant::now();
    let err =
        budget::run_with(Budget::with_timeout(Duration::from_millis(200)), || e.get(slow, slow_get())).unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_eq!(err.message, "the request exceeded its time limit of 0.2 s (raise it with --request-timeout)");
    assert!(took < Duration::from_millis(600), "stopped {took:?} after the start (deadline 200 ms)");

    // Cancel flag, set from another thread.
    let b = Budget::unlimited();
    let flag = b.cancel_flag();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        flag.store(true, Ordering::Release);
        Instant::now()
    });
    let err = budget::run_with(b, || e.get(slow, slow_get())).unwrap_err();
    let stopped = Instant::now();
    let cancelled_at = canceller.join().unwrap();
    assert_eq!(err.kind, ErrorKind::Cancelled, "{err}");
    assert_eq!(err.message, "the request was cancelled");
    let late = stopped.duration_since(cancelled_at);
    assert!(late < Duration::from_millis(400), "stopped {late:?} after the cancel ");

    // A query whose filter is slow is stopped too; the engine answers normally afterwards.
    let q = QueryRequest {
        where_document: parse_where_document(Some(&json!({"$regex": SLOW_REGEX}))).unwrap(),
        ..QueryRequest::new(vec![vec![1.0, 1.0]], 3)
    };
    let err = budget::run_with(Budget::with_timeout(Duration::from_millis(200)), || e.query(slow, q)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_eq!(e.count(slow).unwrap(), SLOW_ROWS);
    assert_eq!(budget::run_with(Budget::with_timeout(Duration::from_secs(30)), || e.count(fast)).unwrap(), 10);
}

#[test]
fn an_interrupted_write_leaves_nothing_half_visible() {
    let tmp = tempfile::tempdir().unwrap();
    let (e, slow, _fast) = setup(tmp.path());
    // A delete whose filter is slow: stopped, nothing deleted.
    let del = DeleteRequest {
        where_document: parse_where_document(Some(&json!({"$not_regex": SLOW_REGEX}))).unwrap(),
        ..DeleteRequest::default()
    };
    let err =
        budget::run_with(Budget::with_timeout(Duration::from_millis(200)), || e.delete(slow, del.clone())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    assert_eq!(e.count(slow).unwrap(), SLOW_ROWS);

    // A large add stopped by its deadline: none of its records is visible, before or after a
    // reopen, and the collection takes writes afterwards.
    let n = 20_000;
    let ids: Vec<String> = (0..n).map(|i| format!("big{i}")).collect();
    let embeddings = (0..n).map(|i| vec![i as f32, 2.0]).collect();
    let docs = (0..n).map(|i| Some(doc(i))).collect();
    let req = AddRequest::new(ids.clone(), embeddings).documents(docs);
    let err =
        budget::run_with(Budget::with_timeout(Duration::from_millis(50)), || e.add(slow, req.clone())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout, "{err}");
    let check = |e: &Engine| {
        assert_eq!(e.count(slow).unwrap(), SLOW_ROWS);
        let got = e.get(slow, GetRequest { ids: Some(ids[..100].to_vec()), ..GetRequest::default() }).unwrap();
        assert!(
            got.ids.is_empty(),
            "records of the interrupted add are visible: {:?}",
            &got.ids[..3.min(got.ids.len())]
        );
        let hits = e.query(slow, QueryRequest::new(vec![vec![5.0, 2.0]], 3)).unwrap();
        assert!(hits.ids[0].iter().all(|id| id.starts_with('s')), "{:?}", hits.ids);
    };
    check(&e);
    e.add(slow, AddRequest::new(vec!["after".into()], vec![vec![0.5, 0.5]])).unwrap();
    assert_eq!(e.count(slow).unwrap(), SLOW_ROWS + 1);
    drop(e);
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    assert_eq!(e.count(slow).unwrap(), SLOW_ROWS + 1);
    e.delete(slow, DeleteRequest { ids: Some(vec!["after".into()]), ..DeleteRequest::default() }).unwrap();
    check(&e);
    // Added whole, the same request then succeeds.
    e.add(slow, req).unwrap();
    assert_eq!(e.count(slow).unwrap(), SLOW_ROWS + n);
}

#[test]
fn result_limits_refuse_answers_too_large() {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("big")).unwrap().id;
    let n = 2_000;
    let ids: Vec<String> = (0..n).map(|i| format!("r{i}")).collect();
    e.add(c, AddRequest::new(ids, (0..n).map(|i| vec![i as f32, 1.0]).collect()).documents(vec![Some(doc(0)); n]))
        .unwrap();
    let limits = ResultLimits { max_rows: 1_000, max_bytes: 1 << 20 };
    let with =
        |f: &dyn Fn() -> chroma_types::Result<usize>| budget::run_with(Budget::unlimited().with_limits(limits), f);

    // Rows: a get without a limit is refused, a page of it is fine.
    let err =
        with(&|| e.get(c, GetRequest { include: vec![], ..GetRequest::default() }).map(|r| r.ids.len())).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);
    assert!(err.message.contains("more than 1000 records"), "{err}");
    let page = GetRequest { include: vec![], limit: Some(1_000), ..GetRequest::default() };
    assert_eq!(with(&|| e.get(c, page.clone()).map(|r| r.ids.len())).unwrap(), 1_000);

    // Bytes: 1,000 documents of 2 kB are more than 1 MiB.
    let docs = GetRequest { limit: Some(1_000), ..GetRequest::default() };
    let err = with(&|| e.get(c, docs.clone()).map(|r| r.ids.len())).unwrap_err();
    assert!(err.message.contains("larger than 1 MiB"), "{err}");

    // Query: n_results × query embeddings past the row limit is refused before any work.
    let q = QueryRequest::new(vec![vec![1.0, 1.0]; 11], 100);
    let err = with(&|| e.query(c, q.clone()).map(|r| r.ids.len())).unwrap_err();
    assert!(err.message.contains("1100 results") && err.message.contains("limit of 1000"), "{err}");
    let q = QueryRequest { query_embeddings: vec![vec![1.0, 1.0]; 10], n_results: 100, include: vec![], ..q };
    assert_eq!(with(&|| e.query(c, q.clone()).map(|r| r.ids.len())).unwrap(), 10);

    // The defaults: a query for usize::MAX results is refused, not allocated.
    let q = QueryRequest::new(vec![vec![1.0, 1.0]], usize::MAX);
    let err = e.query(c, q).unwrap_err();
    assert!(err.message.contains("limit of 1000000 result rows"), "{err}");
}
