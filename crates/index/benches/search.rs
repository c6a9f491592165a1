//! Index search benchmarks: an HNSW index over 5,000 clustered 384-d vectors is built once,
//! then `search` with k = 10 is timed at two `ef` values, against exact brute force over the
//! same vectors (an unbuilt index, whose slots are all pending and scanned exactly), and a
//! filtered search that the cost model sends to brute force.
//!
//! Run: `cargo bench -p chroma-index --bench search`. CI does not run it;
//! `cargo clippy --all-targets` only compiles it.

use std::hint::black_box;
use std::time::Duration;

use chroma_index::{Filter, HnswParams, Space, VectorIndex};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const N: usize = 5_000;
const DIM: usize = 384;
const QUERIES: usize = 100;

/// `n` unit vectors around 20 random centres (plus the queries, drawn the same way).
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<f32> = (0..20 * dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..20);
        let v: Vec<f32> = (0..dim).map(|j| centres[c * dim + j] + 0.3 * rng.random_range(-1.0f32..1.0)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        out.extend(v.iter().map(|x| x / norm));
    }
    out
}

fn search(c: &mut Criterion) {
    let mut data = clustered(N + QUERIES, DIM, 7);
    let queries = data.split_off(N * DIM);
    let params = HnswParams::default();
    let hnsw = VectorIndex::build(DIM, Space::L2, params.clone(), data.clone(), |_| true).expect("build");
    let exact = VectorIndex::unbuilt(DIM, Space::L2, params, data, |_| true).expect("unbuilt");
    let every_tenth: Vec<u32> = (0..N as u32).step_by(10).collect();

    let mut group = c.benchmark_group("search_5k_384d_k10");
    let mut run = |name: &str, idx: &VectorIndex, ef: Option<usize>, filter: Filter| {
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                let q = &queries[(i % QUERIES) * DIM..(i % QUERIES + 1) * DIM];
                i += 1;
                black_box(idx.search(black_box(q), 10, ef, filter).expect("search"))
            });
        });
    };
    run("hnsw_ef32", &hnsw, Some(32), Filter::All);
    run("hnsw_ef100", &hnsw, Some(100), Filter::All);
    run("brute_force", &exact, None, Filter::All);
    run("filtered_10pct", &hnsw, None, Filter::Allowed(&every_tenth));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = search
}
criterion_main!(benches);
