//! Times the parts of a cold open: open, `get_collection`, first query (index load).
//!
//! Usage: `cargo run --release -p chroma-bench --example cold_open -- DATA_FOLDER` on a folder written
//! by `chroma-rs-bench` (its collection `bench`).
use chroma_store::Engine;
use chroma_types::{ChromaApi, QueryRequest, Settings, DEFAULT_DATABASE, DEFAULT_TENANT};
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).expect("usage: cold_open DATA_FOLDER");
    let t = Instant::now();
    let e = Engine::open(std::path::Path::new(&path), Settings::default()).expect("open");
    let t1 = t.elapsed();
    let c = e.get_collection(DEFAULT_TENANT, DEFAULT_DATABASE, "bench").expect("coll");
    let t2 = t.elapsed();
    let dim = c.dimension.unwrap_or(1);
    e.query(c.id, QueryRequest::new(vec![vec![0.01; dim]], 10)).expect("q");
    let t3 = t.elapsed();
    e.query(c.id, QueryRequest::new(vec![vec![0.02; dim]], 10)).expect("q");
    let t4 = t.elapsed();
    println!(
        "open {t1:?} get_collection {:?} first query {:?} second query {:?}",
        t2.saturating_sub(t1),
        t3.saturating_sub(t2),
        t4.saturating_sub(t3)
    );
}
