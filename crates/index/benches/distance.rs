//! Distance kernel benchmarks: squared L2, dot product (the inner-product space) and cosine at
//! the dimensions of common embedding models (384, 768, 1536), for every kernel family the
//! running CPU supports (portable scalar, AVX2+FMA, AVX-512F).
//!
//! Run: `cargo bench -p chroma-index --bench distance` (a filter narrows it, e.g.
//! `cargo bench -p chroma-index --bench distance -- l2/avx2`). CI does not run it;
//! `cargo clippy --all-targets` only compiles it.

use std::hint::black_box;
use std::time::Duration;

use chroma_index::distance::{supported_kernels, KernelFamily};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// Deterministic values in [-1, 1).
fn vector(dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..dim)
        .map(|_| {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

type Metric = fn(&KernelFamily, &[f32], &[f32]) -> f32;

fn kernels(c: &mut Criterion) {
    let families = supported_kernels();
    let metrics: [(&str, Metric); 3] =
        [("l2", KernelFamily::l2sq), ("ip", KernelFamily::dot), ("cosine", KernelFamily::cosine)];
    for (metric, f) in metrics {
        let mut group = c.benchmark_group(metric);
        for dim in [384usize, 768, 1536] {
            let a = vector(dim, 1);
            let b = vector(dim, 2);
            group.throughput(Throughput::Elements(dim as u64));
            for k in &families {
                group.bench_with_input(BenchmarkId::new(k.name(), dim), &dim, |bench, _| {
                    bench.iter(|| f(k, black_box(&a), black_box(&b)));
                });
            }
        }
        group.finish();
    }
}

criterion_group! {
    name = benches;
    // short runs: the kernels take nanoseconds, so a second of samples is plenty
    config = Criterion::default().warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    targets = kernels
}
criterion_main!(benches);
