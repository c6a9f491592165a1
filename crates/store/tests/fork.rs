//! Forks of persistent collections: the copy survives a reopen, does not share files with
//! its source (writes and compaction of either leave the other intact), and its graph file is
//! copied rather than rebuilt. `fork_timing` (ignored) measures a large fork.

use chroma_store::Engine;
use chroma_types::*;

const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;

fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    ((x >> 40) as f32) / (1u64 << 24) as f32
                })
                .collect()
        })
        .collect()
}

fn ids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("id{i}")).collect()
}

fn fill(e: &Engine, c: Uuid, from: usize, vs: Vec<Vec<f32>>) {
    let n = vs.len();
    let docs = (from..from + n).map(|i| Some(format!("document number {i}"))).collect();
    let mds = (from..from + n)
        .map(|i| Some(chroma_types::metadata::metadata_from_json(&serde_json::json!({"i": i as i64})).unwrap()))
        .collect();
    e.add(c, AddRequest::new(ids(from..from + n), vs).documents(docs).metadatas(mds)).unwrap();
}

use uuid::Uuid;

fn everything(e: &Engine, c: Uuid) -> GetResult {
    e.get(
        c,
        GetRequest { include: vec![Include::Documents, Include::Metadatas, Include::Embeddings], ..Default::default() },
    )
    .unwrap()
}

#[test]
fn fork_survives_reopen_and_is_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let dim = 8;
    let (src, fork, before) = {
        let e = Engine::open(tmp.path(), Settings::default()).unwrap();
        let c = e.create_collection(T, D, CreateCollection::new("src")).unwrap();
        fill(&e, c.id, 0, vectors(3000, dim, 1));
        e.delete(c.id, DeleteRequest { ids: Some(ids(0..100)), ..Default::default() }).unwrap();
        let before = everything(&e, c.id);
        let f = e.fork_collection(c.id, "fork").unwrap();
        assert_eq!(everything(&e, f.id), before);
        let dir = tmp.path().join("collections").join(f.id.to_string());
        let graphs = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|d| d.file_name().to_string_lossy().starts_with("hnsw-"))
            .count();
        assert_eq!(graphs, 1, "the graph file is copied with the vectors");
        // writes to the source after the fork stay in the source
        fill(&e, c.id, 3000, vectors(50, dim, 2));
        fill(&e, f.id, 5000, vectors(20, dim, 3));
        (c.id, f.id, before)
    };
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    assert_eq!(e.count(src).unwrap(), 2950);
    assert_eq!(e.count(fork).unwrap(), 2920);
    let got = e
        .get(
            fork,
            GetRequest { ids: Some(before.ids.clone()), include: vec![Include::Embeddings], ..Default::default() },
        )
        .unwrap();
    assert_eq!(got.embeddings, before.embeddings);
    // the fork's own vectors went to its own file
    let mine = e
        .get(fork, GetRequest { ids: Some(ids(5000..5020)), include: vec![Include::Embeddings], ..Default::default() })
        .unwrap();
    assert_eq!(mine.embeddings.unwrap(), vectors(20, dim, 3));
    let theirs = e
        .get(src, GetRequest { ids: Some(ids(3000..3050)), include: vec![Include::Embeddings], ..Default::default() })
        .unwrap();
    assert_eq!(theirs.embeddings.unwrap(), vectors(50, dim, 2));
    // the nearest neighbour of a stored vector is itself, in both
    let probe = vectors(3000, dim, 1)[1234].clone();
    for c in [src, fork] {
        let r = e.query(c, QueryRequest::new(vec![probe.clone()], 1)).unwrap();
        assert_eq!(r.ids[0], vec!["id1234".to_string()]);
    }
    // compacting the source writes a new generation and leaves the fork alone
    e.compact_collection(src).unwrap();
    e.delete(fork, DeleteRequest { ids: Some(ids(100..200)), ..Default::default() }).unwrap();
    drop(e);
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    assert_eq!(e.count(fork).unwrap(), 2820);
    let got = e
        .get(fork, GetRequest { ids: Some(ids(200..3000)), include: vec![Include::Embeddings], ..Default::default() })
        .unwrap();
    assert_eq!(got.embeddings.unwrap(), vectors(3000, dim, 1)[200..].to_vec());
    assert_eq!(e.fork_count(src).unwrap(), 1);
    let s = e.indexing_status(fork).unwrap();
    assert_eq!(s.total_ops, s.num_indexed_ops + s.num_unindexed_ops);
}

/// `cargo test -p chroma-store --test fork -- --ignored --nocapture` (`FORK_N`, `FORK_DIM`):
/// the time of one fork of a persistent collection.
#[test]
#[ignore = "timing; run by hand"]
fn fork_timing() {
    let n: usize = std::env::var("FORK_N").ok().and_then(|s| s.parse().ok()).unwrap_or(20_000);
    let dim: usize = std::env::var("FORK_DIM").ok().and_then(|s| s.parse().ok()).unwrap_or(384);
    let tmp = tempfile::tempdir().unwrap();
    let e = Engine::open(tmp.path(), Settings::default()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("big")).unwrap();
    let vs = vectors(n, dim, 7);
    let t = std::time::Instant::now();
    for (k, chunk) in vs.chunks(5000).enumerate() {
        fill(&e, c.id, k * 5000, chunk.to_vec());
    }
    e.build_index(c.id, &|_, _| {}).unwrap();
    eprintln!("load {n} x {dim}: {:.1} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let f = e.fork_collection(c.id, "big-fork").unwrap();
    eprintln!("fork {n} x {dim}: {:.3} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let probes: Vec<Vec<f32>> = (0..20).map(|i| vs[i * n / 20].clone()).collect();
    let r = e.query(f.id, QueryRequest::new(probes.clone(), 3)).unwrap();
    eprintln!("first query on the fork (loads its index): {:.3} s", t.elapsed().as_secs_f64());
    let s = e.query(c.id, QueryRequest::new(probes, 3)).unwrap();
    assert_eq!(r.ids, s.ids, "the fork answers as its source");
    assert_eq!(r.distances, s.distances);
}
