//! The filter index of a folder written by `chroma-rs-bench --filters`: builds it with one
//! filtered query and prints its heap bytes, per record, and the build time.
//!
//! Usage: `cargo run --release -p chroma-bench --example filter_index_size -- DATA_FOLDER`.
use chroma_store::Engine;
use chroma_types::filter::parse_where;
use chroma_types::{ChromaApi, QueryRequest, Settings, DEFAULT_DATABASE, DEFAULT_TENANT};
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).expect("usage: filter_index_size DATA_FOLDER");
    let e = Engine::open(std::path::Path::new(&path), Settings::default()).expect("open");
    let c = e.get_collection(DEFAULT_TENANT, DEFAULT_DATABASE, "bench").expect("coll");
    let dim = c.dimension.unwrap_or(1);
    e.query(c.id, QueryRequest::new(vec![vec![0.01; dim]], 10)).expect("index load");
    let mut req = QueryRequest::new(vec![vec![0.01; dim]], 10);
    req.r#where = parse_where(Some(&serde_json::json!({"bucket": "b3"}))).expect("where");
    let t = Instant::now();
    e.query(c.id, req).expect("filtered query");
    let build = t.elapsed();
    let n = e.count(c.id).expect("count");
    let bytes = e.filter_index_bytes(c.id).unwrap_or(0);
    println!(
        "records {n} filter index {bytes} bytes ({:.1} per record); first filtered query (builds it) {build:?}",
        bytes as f64 / n.max(1) as f64
    );
}
