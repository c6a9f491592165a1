//! The cost of a sparse search right after a one-record write (issue #13): a folder of
//! RECORDS records (default 100,000) with BM25-like sparse vectors (about 24 terms each, Zipf
//! over a 30,000-term vocabulary), then ROUNDS rounds of "upsert one record, then one sparse
//! `Knn` search", timing each half.
//!
//! The "before" figure is the first search after open, which builds the key's inverted index
//! from `SQLite`: before incremental upkeep every search after a write did exactly that. The
//! "after" figure is the search right after a write, which finds the index kept current by the
//! write. The answers are checked to contain the record just written first.
//!
//! Usage: `cargo run --release -p chroma-bench --example sparse_upkeep -- DATA_FOLDER [RECORDS] [ROUNDS]`
//! (the folder is created, and removed first if it exists).
use chroma_store::Engine;
use chroma_types::search::{Knn, KnnQuery, Rank, Search, SearchRequest};
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, Metadata, MetadataValue, Settings, SparseVector, DEFAULT_DATABASE,
    DEFAULT_TENANT,
};
use std::time::{Duration, Instant};

const VOCAB: f64 = 30_000.0;
const DIM: usize = 4;

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A Zipf-like term (rank ~ 1/r): the exponential of a uniform over [0, ln VOCAB).
    fn term(&mut self) -> u32 {
        (self.unit() * VOCAB.ln()).exp() as u32
    }
    /// A document's BM25 term weights (k1 1.2, b 0.75, avgdl 256, as Chroma's function).
    fn doc(&mut self) -> SparseVector {
        let len = 12 + (self.next() % 25) as usize;
        let mut tf = std::collections::BTreeMap::<u32, f64>::new();
        for _ in 0..len {
            *tf.entry(self.term()).or_default() += 1.0;
        }
        let norm = 1.2 * (1.0 - 0.75 + 0.75 * len as f64 / 256.0);
        let (i, v): (Vec<u32>, Vec<f32>) = tf.into_iter().map(|(t, f)| (t, (f * 2.2 / (f + norm)) as f32)).unzip();
        SparseVector::new(i, v, None).expect("sorted")
    }
}

fn metadata(v: SparseVector) -> Metadata {
    Metadata::from([("sp".to_string(), MetadataValue::Sparse(Box::new(v)))])
}

fn search(e: &Engine, c: uuid::Uuid, q: &SparseVector) -> Vec<String> {
    let knn =
        Knn { query: KnnQuery::Sparse(q.clone()), key: "sp".into(), limit: 10, default: None, return_rank: false };
    let s = Search { rank: Some(Rank::Knn(knn)), limit: Some(10), ..Search::default() };
    e.search(c, SearchRequest { searches: vec![s], ..SearchRequest::default() }).expect("search").ids.remove(0)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn p50(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = std::path::PathBuf::from(args.next().expect("usage: sparse_upkeep DATA_FOLDER [RECORDS] [ROUNDS]"));
    let records: usize = args.next().map_or(100_000, |s| s.parse().expect("RECORDS"));
    let rounds: usize = args.next().map_or(50, |s| s.parse().expect("ROUNDS"));
    let _ = std::fs::remove_dir_all(&path);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t = Instant::now();
    let c = {
        let e = Engine::open(&path, Settings::default()).expect("open");
        let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("sparse")).expect("create");
        for start in (0..records).step_by(5000) {
            let n = 5000.min(records - start);
            let ids = (start..start + n).map(|i| format!("r{i:07}")).collect();
            let embs = (0..n).map(|_| (0..DIM).map(|_| rng.unit() as f32).collect()).collect();
            let mds = (0..n).map(|_| Some(metadata(rng.doc()))).collect();
            e.bulk_add(c.id, AddRequest::new(ids, embs).metadatas(mds)).expect("add");
        }
        c.id
    };
    eprintln!("loaded {records} records in {:.1} s", t.elapsed().as_secs_f64());
    let e = Engine::open(&path, Settings::default()).expect("reopen");
    // Load the dense index first so the write below does not pay for it.
    e.upsert(c, AddRequest::new(vec!["warm".into()], vec![vec![0.5; DIM]])).expect("warm");
    // A short keyword query (4 terms of a document), as a BM25 query is.
    let q = {
        let d = rng.doc();
        let keep: Vec<usize> = (0..d.indices.len()).step_by((d.indices.len() / 4).max(1)).take(4).collect();
        SparseVector::new(keep.iter().map(|&i| d.indices[i]).collect(), keep.iter().map(|_| 1.0).collect(), None)
            .expect("sorted")
    };
    // Writes before the index is built, for comparison with those that keep it current.
    let plain: Vec<f64> = (0..rounds)
        .map(|i| {
            let md = metadata(rng.doc());
            let t = Instant::now();
            e.upsert(c, AddRequest::new(vec![format!("plain{i}")], vec![vec![0.5; DIM]]).metadatas(vec![Some(md)]))
                .expect("upsert");
            ms(t.elapsed())
        })
        .collect();
    let t = Instant::now();
    search(&e, c, &q);
    let cold = t.elapsed();
    let (mut writes, mut searches) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // A record holding the query's terms with large weights: it must come first.
        let big =
            SparseVector::new(q.indices.clone(), q.values.iter().map(|v| v * 100.0).collect(), None).expect("sorted");
        let id = format!("new{round}");
        let t = Instant::now();
        e.upsert(c, AddRequest::new(vec![id.clone()], vec![vec![0.5; DIM]]).metadatas(vec![Some(metadata(big))]))
            .expect("upsert");
        writes.push(ms(t.elapsed()));
        let t = Instant::now();
        let got = search(&e, c, &q);
        searches.push(ms(t.elapsed()));
        assert_eq!(got.iter().filter(|x| x.starts_with("new")).count(), (round + 1).min(10), "{got:?}");
    }
    // The same search with no write before it, for comparison.
    let quiet: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            search(&e, c, &q);
            ms(t.elapsed())
        })
        .collect();
    let builds = e.sparse_index_builds();
    assert_eq!(builds, 1, "the writes should have kept the index current");
    println!(
        "{{\"records\": {records}, \"rounds\": {rounds}, \"search_that_builds_ms\": {:.2}, \
         \"write_p50_ms\": {:.2}, \"write_without_index_p50_ms\": {:.2}, \"search_after_write_p50_ms\": {:.3}, \"search_without_write_p50_ms\": {:.3}, \
         \"index_builds\": {builds}}}",
        ms(cold),
        p50(writes),
        p50(plain),
        p50(searches),
        p50(quiet)
    );
}
