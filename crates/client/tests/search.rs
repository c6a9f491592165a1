//! The Search API builder of the Rust client (`chroma_client::search`) against a brute-force
//! reference written here: dense and sparse `Knn`, filters matching none, one and all records,
//! `#id` clauses, rank arithmetic, `Rrf`, `GroupBy` with `MinK` / `MaxK`, paging and select; the
//! same searches over HTTP (a chroma-rs server in process) give the same answers.

use std::collections::HashMap;
use std::sync::Arc;

use chroma_client::search::{GroupBy, Knn, MaxK, MinK, Rank, Rrf, Search, SearchResult};
use chroma_client::{Client, Collection, CollectionOptions, ErrorKind, Records};
use chroma_types::{ChromaApi, Settings, SparseVector};
use serde_json::json;

const N: usize = 300;
const DIM: usize = 6;

/// A seeded generator (no extra dependency): xorshift64*.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn vec(&mut self) -> Vec<f32> {
        (0..DIM).map(|_| self.f()).collect()
    }
    fn sparse(&mut self) -> SparseVector {
        let mut idx: Vec<u32> = (0..3).map(|_| (self.next() % 12) as u32).collect();
        idx.sort_unstable();
        idx.dedup();
        let vals = idx.iter().map(|_| self.f().abs() + 0.01).collect();
        SparseVector::new(idx, vals, None).expect("sparse")
    }
}

struct Data {
    vectors: Vec<Vec<f32>>,
    sparse: Vec<SparseVector>,
}

fn id(i: usize) -> String {
    format!("r{i:03}")
}

fn fill(col: &Collection) -> Data {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let vectors: Vec<Vec<f32>> = (0..N).map(|_| rng.vec()).collect();
    let sparse: Vec<SparseVector> = (0..N).map(|_| rng.sparse()).collect();
    let metadatas =
        (0..N).map(|i| json!({"i": i, "bucket": format!("b{}", i % 4), "bag": sparse[i].to_json()})).collect();
    col.add(
        Records::new((0..N).map(id), vectors.clone())
            .documents((0..N).map(|i| format!("doc {i}")))
            .metadatas(metadatas),
    )
    .expect("add");
    Data { vectors, sparse }
}

fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum()
}

/// The `limit` best (lowest) of `score` among `allowed`, ties by id: a `Knn` list.
fn knn_list(allowed: &[usize], score: impl Fn(usize) -> Option<f64>, limit: usize) -> Vec<(usize, f64)> {
    let mut v: Vec<(usize, f64)> = allowed.iter().filter_map(|&i| score(i).map(|s| (i, s))).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

fn ids_of(r: &SearchResult, search: usize) -> Vec<String> {
    r.ids[search].clone()
}

fn scores_of(r: &SearchResult, search: usize) -> Vec<f64> {
    r.scores[search].as_ref().expect("scores selected").iter().map(|s| s.expect("score")).collect()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{got:?} vs {want:?}");
    }
}

fn check_all(col: &Collection, d: &Data) {
    let mut rng = Rng(42);
    let all: Vec<usize> = (0..N).collect();

    // Dense Knn with a filter matching a quarter, one record, none and all.
    let q = rng.vec();
    let cases: Vec<(serde_json::Value, Vec<usize>)> = vec![
        (json!({"bucket": "b1"}), all.iter().copied().filter(|i| i % 4 == 1).collect()),
        (json!({"i": 7}), vec![7]),
        (json!({"bucket": "nope"}), vec![]),
        (json!({"i": {"$gte": 0}}), all.clone()),
        (json!({"#id": {"$in": [id(3), id(5), id(200)]}}), vec![3, 5, 200]),
        (
            json!({"$and": [{"#id": {"$nin": [id(1)]}}, {"bucket": "b1"}]}),
            all.iter().copied().filter(|i| i % 4 == 1).collect(),
        ),
    ];
    for (filter, allowed) in cases {
        let got = col
            .search(Search::new().r#where(filter.clone()).rank(Knn::dense(q.clone()).limit(20)).limit(5).select([
                "#score",
                "#document",
                "i",
            ]))
            .expect("search");
        let want = knn_list(&allowed, |i| Some(l2(&d.vectors[i], &q)), 20);
        let want: Vec<(usize, f64)> = want.into_iter().take(5).collect();
        assert_eq!(ids_of(&got, 0), want.iter().map(|w| id(w.0)).collect::<Vec<_>>(), "filter {filter}");
        assert_close(&scores_of(&got, 0), &want.iter().map(|w| w.1).collect::<Vec<_>>());
        let docs = got.documents[0].as_ref().expect("documents");
        assert_eq!(docs, &want.iter().map(|w| Some(format!("doc {}", w.0))).collect::<Vec<_>>());
        let mds = got.metadatas[0].as_ref().expect("metadatas");
        for m in mds {
            let m = m.as_ref().expect("metadata");
            assert_eq!(m.len(), 1, "only the selected key");
        }
    }

    // Sparse Knn on a metadata key: negated inner product.
    let sq = rng.sparse();
    let got = col
        .search(Search::new().rank(Knn::sparse("bag", sq.clone()).limit(10)).limit(10).select(["#score"]))
        .expect("sparse");
    let dot = |i: usize| {
        let v = d.sparse[i].dot(&sq);
        (v != 0.0).then_some(-f64::from(v))
    };
    let want = knn_list(&all, dot, 10);
    assert_eq!(ids_of(&got, 0), want.iter().map(|w| id(w.0)).collect::<Vec<_>>());
    assert_close(&scores_of(&got, 0), &want.iter().map(|w| w.1).collect::<Vec<_>>());

    // Arithmetic: 0.7 * knn1 + 0.3 * knn2 (defaults 10), then abs/exp/log/max/min, and Rrf.
    let (q1, q2) = (rng.vec(), rng.vec());
    let (l1, l2list) =
        (knn_list(&all, |i| Some(l2(&d.vectors[i], &q1)), 30), knn_list(&all, |i| Some(l2(&d.vectors[i], &q2)), 30));
    let m1: HashMap<usize, (usize, f64)> = l1.iter().enumerate().map(|(r, &(i, s))| (i, (r, s))).collect();
    let m2: HashMap<usize, (usize, f64)> = l2list.iter().enumerate().map(|(r, &(i, s))| (i, (r, s))).collect();
    let candidates: Vec<usize> = {
        let mut c: Vec<usize> = m1.keys().chain(m2.keys()).copied().collect();
        c.sort_unstable();
        c.dedup();
        c
    };
    let expect = |f: &dyn Fn(usize) -> f64, limit: usize| -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = candidates.iter().map(|&i| (i, f(i))).collect();
        v.sort_by(|a, b| a.1.total_cmp(&b.1).then(id(a.0).cmp(&id(b.0))));
        v.truncate(limit);
        v
    };
    let k1 = || Knn::dense(q1.clone()).limit(30).default(10.0);
    let k2 = || Knn::dense(q2.clone()).limit(30).default(10.0);
    let d1 = |i: usize| m1.get(&i).map_or(10.0, |x| x.1);
    let d2 = |i: usize| m2.get(&i).map_or(10.0, |x| x.1);
    let r1 = |i: usize| m1.get(&i).map_or(100.0, |x| x.0 as f64);
    let r2 = |i: usize| m2.get(&i).map_or(100.0, |x| x.0 as f64);
    let searches = vec![
        Search::new().rank(k1().into_rank() * 0.7 + k2().into_rank() * 0.3).limit(8).select(["#score"]),
        Search::new().rank((k1().into_rank() - k2()).abs().max(Rank::val(0.5))).limit(8).select(["#score"]),
        Search::new()
            .rank((k1().into_rank() + 1.0).log().min(k2().into_rank().exp() / 2.0))
            .limit(8)
            .select(["#score"]),
        Search::new()
            .rank(
                Rrf::new([
                    Knn::dense(q1.clone()).limit(30).return_rank().default(100.0),
                    Knn::dense(q2.clone()).limit(30).return_rank().default(100.0),
                ])
                .weights(vec![3.0, 1.0])
                .normalize()
                .k(20.0),
            )
            .limit(8)
            .offset(2)
            .select(["#score"]),
    ];
    let got = col.search_many(searches).expect("batch");
    let wants = [
        expect(&|i| 0.7 * d1(i) + 0.3 * d2(i), 8),
        expect(&|i| (d1(i) - d2(i)).abs().max(0.5), 8),
        expect(&|i| (d1(i) + 1.0).ln().min(d2(i).exp() / 2.0), 8),
        expect(&|i| -(0.75 / (20.0 + r1(i)) + 0.25 / (20.0 + r2(i))), 10).into_iter().skip(2).collect(),
    ];
    for (s, want) in wants.iter().enumerate() {
        assert_eq!(ids_of(&got, s), want.iter().map(|w| id(w.0)).collect::<Vec<_>>(), "search {s}");
        assert_close(&scores_of(&got, s), &want.iter().map(|w| w.1).collect::<Vec<_>>());
    }

    // GroupBy bucket, MinK by score 2 per group; MaxK by "i" 1 per group.
    let q = rng.vec();
    let list = knn_list(&all, |i| Some(l2(&d.vectors[i], &q)), 40);
    let got = col
        .search_many(vec![
            Search::new()
                .rank(Knn::dense(q.clone()).limit(40))
                .group_by(GroupBy::new(["bucket"], MinK::new(["#score"], 2)))
                .select(["#score"]),
            Search::new().rank(Knn::dense(q.clone()).limit(40)).group_by(GroupBy::new(["bucket"], MaxK::new(["i"], 1))),
        ])
        .expect("group by");
    let mut per: HashMap<usize, Vec<(usize, f64)>> = HashMap::new();
    for &(i, s) in &list {
        per.entry(i % 4).or_default().push((i, s));
    }
    let mut want: Vec<(usize, f64)> = per.values().flat_map(|v| v.iter().take(2).copied()).collect();
    want.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    assert_eq!(ids_of(&got, 0), want.iter().map(|w| id(w.0)).collect::<Vec<_>>());
    let mut want: Vec<(usize, f64)> =
        per.values().map(|v| *v.iter().max_by_key(|x| x.0).expect("non-empty group")).collect();
    want.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    assert_eq!(ids_of(&got, 1), want.iter().map(|w| id(w.0)).collect::<Vec<_>>());
    assert!(got.scores[1].is_none(), "score not selected");

    // No rank: the filtered records in insertion order; select_all.
    let got = col.search(Search::new().r#where(json!({"i": {"$lt": 3}})).select_all()).expect("unranked");
    assert_eq!(ids_of(&got, 0), vec![id(0), id(1), id(2)]);
    assert_eq!(got.embeddings[0].as_ref().expect("embeddings")[1].as_deref(), Some(&d.vectors[1][..]));

    // Errors are clear and change nothing.
    let err = |s: Search| col.search(s).expect_err("must fail");
    assert_eq!(err(Search::new().rank(Rrf::new(Vec::<Knn>::new()))).kind, ErrorKind::InvalidArgument);
    let e = err(Search::new().rank(Rrf::new([Knn::dense(q.clone())]).weights(vec![1.0, 2.0])));
    assert!(e.to_string().contains("Number of weights (2) must match number of ranks (1)"), "{e}");
    assert!(err(Search::new().rank(Rrf::new([Knn::dense(q.clone())]).k(0.0))).to_string().contains("positive"));
    assert!(err(Search::new().r#where(json!({"i": {"$bogus": 1}}))).to_string().contains("$bogus"));
    assert!(col.search_many(Vec::new()).is_err());
    assert_eq!(col.count().expect("count"), N);
}

#[test]
fn search_builder_matches_brute_force_embedded() {
    let client = Client::ephemeral().expect("client");
    let col = client.create_collection("search-builder", CollectionOptions::new()).expect("create");
    let d = fill(&col);
    check_all(&col, &d);
}

#[test]
fn search_builder_matches_brute_force_over_http() {
    let api: Arc<dyn ChromaApi> = Arc::new(chroma_store::Engine::ephemeral(Settings::default()).expect("engine"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            chroma_server::serve_on(listener, api, chroma_server::ServerConfig::default(), async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
    });
    {
        let client = Client::http(&format!("http://{addr}")).expect("client");
        let col = client.create_collection("search-builder", CollectionOptions::new()).expect("create");
        let d = fill(&col);
        check_all(&col, &d);
    }
    let _ = tx.send(());
    server.join().expect("server thread");
}
