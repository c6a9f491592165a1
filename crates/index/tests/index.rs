//! Integration tests of chroma-index: recall, spaces, filters, tombstones, save/load,
//! corrupt files, pending slots and concurrency.
//!
//! Why this file is long (~700 lines): one test binary for the whole index keeps its build
//! cheap on CI; each test is short and named for what it checks.

use std::collections::HashSet;

use chroma_index::{distance, Filter, HnswParams, IndexError, Neighbor, Space, VectorIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn gauss(rng: &mut StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(1e-12);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Deterministic clustered data: `clusters` gaussian blobs, unit-normalised.
fn clustered(n: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centers: Vec<f32> = (0..clusters * dim).map(|_| gauss(&mut rng)).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.random_range(0..clusters);
        let mut v: Vec<f32> = (0..dim).map(|j| centers[c * dim + j] + spread * gauss(&mut rng)).collect();
        let nrm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        for x in &mut v {
            *x /= nrm;
        }
        out.extend_from_slice(&v);
    }
    out
}

/// Data and held-out queries drawn from the same clusters.
fn split(n: usize, nq: usize, dim: usize, clusters: usize, spread: f32, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut all = clustered(n + nq, dim, clusters, spread, seed);
    let q = all.split_off(n * dim);
    (all, q)
}

fn exact(space: Space, data: &[f32], dim: usize, q: &[f32], k: usize, ok: impl Fn(u32) -> bool) -> Vec<Neighbor> {
    let mut all: Vec<Neighbor> = data
        .chunks_exact(dim)
        .enumerate()
        .filter(|(i, _)| ok(*i as u32))
        .map(|(i, v)| Neighbor { slot: i as u32, distance: distance::distance(space, q, v) })
        .collect();
    all.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.slot.cmp(&b.slot)));
    all.truncate(k);
    all
}

fn params(threads: usize) -> HnswParams {
    HnswParams { num_threads: threads, ..HnswParams::default() }
}

fn recall(got: &[Neighbor], want: &[Neighbor]) -> usize {
    let w: HashSet<u32> = want.iter().map(|n| n.slot).collect();
    got.iter().filter(|n| w.contains(&n.slot)).count()
}

fn assert_sorted(res: &[Neighbor]) {
    for w in res.windows(2) {
        assert!(w[0].distance.total_cmp(&w[1].distance).then(w[0].slot.cmp(&w[1].slot)).is_lt(), "not sorted: {w:?}");
    }
}

#[test]
fn recall_10k_clustered_128d() {
    let dim = 128;
    let (data, queries) = split(10_000, 200, dim, 50, 1.0, 7);

    let mut idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    let r = idx.append(&data).unwrap();
    assert_eq!(r, 0..10_000);
    assert_eq!(idx.len(), 10_000);
    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let got = idx.search(q, 10, Some(100), Filter::All).unwrap();
        assert_eq!(got.len(), 10);
        assert_sorted(&got);
        let want = exact(Space::L2, &data, dim, q, 10, |_| true);
        hits += recall(&got, &want);
    }
    let rec = hits as f64 / 2000.0;
    eprintln!("recall@10 (10k x 128, ef 100) = {rec}");
    assert!(rec >= 0.99, "recall@10 = {rec}");
}

#[test]
fn cosine_and_ip_spaces() {
    let dim = 32;
    let (mut data, queries) = split(6000, 50, dim, 20, 0.5, 11);
    // de-normalise to make cosine differ from ip
    for (i, v) in data.chunks_exact_mut(dim).enumerate() {
        let s = 1.0 + (i % 7) as f32;
        for x in v.iter_mut() {
            *x *= s;
        }
    }

    for space in [Space::Cosine, Space::InnerProduct, Space::L2] {
        let idx = VectorIndex::build(dim, space, params(2), data.clone(), |_| true).unwrap();
        let mut hits = 0;
        for q in queries.chunks_exact(dim) {
            let got = idx.search(q, 10, Some(200), Filter::All).unwrap();
            let want = exact(space, &data, dim, q, 10, |_| true);
            assert_eq!(got.len(), 10);
            hits += recall(&got, &want);
            // distances reported equal the public kernel (within float noise)
            for n in &got {
                let d = distance::distance(space, q, idx.vector(n.slot).unwrap());
                assert!((d - n.distance).abs() <= 1e-4 * d.abs().max(1.0), "{space:?}: {d} vs {}", n.distance);
            }
        }
        assert!(hits as f64 / 500.0 >= 0.95, "{space:?} recall {}", hits as f64 / 500.0);
    }
}

#[test]
fn filtered_search_is_exact_top_k() {
    let dim = 24;
    let n = 10_000;
    let (data, queries) = split(n, 8, dim, 30, 0.4, 21);
    let mut idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    idx.append(&data).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    // tombstone a few to mix with filtering
    for _ in 0..300 {
        idx.remove(rng.random_range(0..n as u32)).unwrap();
    }

    for &size in &[1usize, 3, 10, 57, 500, 1024, 1500, 3000, 5000, 7000, 9500, 10_000] {
        let mut allowed: Vec<u32> = (0..n as u32).collect();
        // partial shuffle, take `size`, sort
        for i in 0..size {
            let j = rng.random_range(i..n);
            allowed.swap(i, j);
        }
        allowed.truncate(size);
        allowed.sort_unstable();
        let set: HashSet<u32> = allowed.iter().copied().collect();
        for q in queries.chunks_exact(dim) {
            for &k in &[1usize, 10, 100] {
                let got = idx.search(q, k, None, Filter::Allowed(&allowed)).unwrap();
                let want = exact(Space::L2, &data, dim, q, k, |s| set.contains(&s) && idx.is_live(s));
                assert_eq!(got.len(), want.len(), "size {size} k {k}");
                assert!(got.iter().all(|r| set.contains(&r.slot) && idx.is_live(r.slot)));
                assert_sorted(&got);
                if size <= 5000 {
                    // brute-force regime: exact
                    assert_eq!(got, want, "size {size} k {k}");
                } else {
                    let r = recall(&got, &want) as f64 / want.len() as f64;
                    assert!(r >= 0.8, "size {size} k {k}: recall {r}");
                }
            }
        }
    }
    // unsorted with duplicates and out-of-range ids are accepted
    let q = &queries[..dim];
    let messy = [42u32, 7, 42, 9_999_999, 3, 7];
    let got = idx.search(q, 10, None, Filter::Allowed(&messy)).unwrap();
    let want = exact(Space::L2, &data, dim, q, 10, |s| [42u32, 7, 3].contains(&s) && idx.is_live(s));
    assert_eq!(got, want);
}

#[test]
fn selective_filters_take_the_filtered_walk() {
    // 10k slots, ef 20: a filter keeping 1.3k-2k slots is past the exact plan (`c > 64 ef'`
    // and `c^2 > 32 ef' n`) and below n / 5, so it takes the ACORN-style walk that only
    // computes distances to allowed slots. Random, strided and one-cluster filters, with
    // tombstones: exactly k allowed live results, sorted, and near the exact filtered top-k.
    let dim = 16;
    let n = 10_000;
    let (data, queries) = split(n, 20, dim, 25, 0.35, 77);
    let mut idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    idx.append(&data).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    for _ in 0..200 {
        idx.remove(rng.random_range(0..n as u32)).unwrap();
    }
    let mut random: Vec<u32> = (0..n as u32).filter(|_| rng.random_range(0..100) < 18).collect();
    random.sort_unstable();
    let strided: Vec<u32> = (0..n as u32).filter(|s| s % 6 == 1).collect();
    // the slots nearest one data point: a filter that is one region of the graph
    let center = &data[..dim];
    let mut near: Vec<u32> = exact(Space::L2, &data, dim, center, 1900, |_| true).iter().map(|x| x.slot).collect();
    near.sort_unstable();
    for (name, allowed) in [("random", &random), ("strided", &strided), ("one region", &near)] {
        assert!(allowed.len() > 1280 && allowed.len() < 2000, "{name}: {} slots", allowed.len());
        let set: HashSet<u32> = allowed.iter().copied().collect();
        let (mut hits, mut wanted) = (0, 0);
        for q in queries.chunks_exact(dim) {
            let got = idx.search(q, 10, Some(20), Filter::Allowed(allowed)).unwrap();
            let want = exact(Space::L2, &data, dim, q, 10, |s| set.contains(&s) && idx.is_live(s));
            assert_eq!(got.len(), 10, "{name}");
            assert!(got.iter().all(|r| set.contains(&r.slot) && idx.is_live(r.slot)), "{name}");
            assert_sorted(&got);
            hits += recall(&got, &want);
            wanted += want.len();
        }
        let r = hits as f64 / wanted as f64;
        assert!(r >= 0.9, "{name}: recall {r}");
    }
}

#[test]
fn filter_far_from_query_still_returns_k() {
    // the allowed set is one cluster, the query sits in another: HNSW with the filter cannot
    // collect k results cheaply, the fallback must still return exactly k
    let dim = 16;
    let n = 20_000;
    let mut rng = StdRng::seed_from_u64(3);
    let mut data = Vec::with_capacity(n * dim);
    for i in 0..n {
        let base = if i % 3 == 0 { 10.0 } else { -10.0 };
        for _ in 0..dim {
            data.push(base + gauss(&mut rng));
        }
    }
    let idx = VectorIndex::build(dim, Space::L2, params(2), data.clone(), |_| true).unwrap();
    let allowed: Vec<u32> = (0..n as u32).filter(|i| i % 3 == 0).collect(); // 6667 slots
    let q = vec![-10.0f32; dim];
    for &k in &[10usize, 100, 1000] {
        let got = idx.search(&q, k, Some(10), Filter::Allowed(&allowed)).unwrap();
        assert_eq!(got.len(), k);
        assert!(got.iter().all(|r| r.slot % 3 == 0));
        assert_sorted(&got);
    }
}

#[test]
fn removed_never_returned() {
    let dim = 16;
    let n = 8000;
    let (data, queries) = split(n, 50, dim, 10, 0.3, 31);
    let mut idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    idx.append(&data).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    let mut removed = HashSet::new();
    while removed.len() < n * 6 / 10 {
        let s = rng.random_range(0..n as u32);
        idx.remove(s).unwrap();
        removed.insert(s);
    }
    idx.remove(*removed.iter().next().unwrap()).unwrap(); // idempotent
    assert_eq!(idx.live_count(), n - removed.len());
    assert_eq!(idx.len(), n);
    assert!(matches!(idx.remove(n as u32), Err(IndexError::SlotOutOfRange { .. })));

    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let got = idx.search(q, 10, None, Filter::All).unwrap();
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|r| !removed.contains(&r.slot)));
        let want = exact(Space::L2, &data, dim, q, 10, |s| !removed.contains(&s));
        hits += recall(&got, &want);
    }
    assert!(hits as f64 / 500.0 >= 0.9);
    // remove everything: empty results
    for s in 0..n as u32 {
        idx.remove(s).unwrap();
    }
    assert_eq!(idx.live_count(), 0);
    assert!(idx.search(&queries[..dim], 5, None, Filter::All).unwrap().is_empty());
    // appending after deletions still works
    let r = idx.append(&data[..dim * 3]).unwrap();
    assert_eq!(r, n as u32..n as u32 + 3);
    let got = idx.search(&data[..dim], 5, None, Filter::All).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].slot, n as u32);
}

#[test]
fn save_load_roundtrip_identical() {
    let dim = 32;
    let n = 6000;
    let (data, queries) = split(n, 40, dim, 20, 0.4, 41);
    let mut idx = VectorIndex::new(dim, Space::Cosine, params(2)).unwrap();
    idx.append(&data).unwrap();
    idx.remove(5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("graph.hnsw");
    idx.save_graph(&path, 1234).unwrap();
    assert!(!dir.path().join("graph.hnsw.tmp").exists());
    let (loaded, info) = VectorIndex::load(&path, dim, Space::Cosine, params(2), data.clone(), |s| s != 5).unwrap();
    assert_eq!(info.tag, 1234);
    assert_eq!(info.graph_slots, n as u32);
    assert_eq!(loaded.len(), n);
    assert_eq!(loaded.live_count(), n - 1);

    for q in queries.chunks_exact(dim) {
        for ef in [10usize, 50] {
            let a = idx.search(q, 10, Some(ef), Filter::All).unwrap();
            let b = loaded.search(q, 10, Some(ef), Filter::All).unwrap();
            assert_eq!(a, b);
        }
    }
    // saving the loaded index gives a byte-identical file (graph-only content)
    let path2 = dir.path().join("graph2.hnsw");
    loaded.save_graph(&path2, 1234).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(&path2).unwrap());
    // the file holds no vectors: much smaller than n*dim*4
    assert!(std::fs::metadata(&path).unwrap().len() < (n * dim * 4) as u64);
}

#[test]
#[allow(clippy::float_cmp)] // a vector's L2 distance to itself is exactly 0
fn load_catches_up_extra_vectors() {
    let dim = 16;
    let data = clustered(7000, dim, 15, 0.3, 51);
    let mut idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    idx.append(&data[..5000 * dim]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    idx.save_graph(&path, 77).unwrap();
    // caller appended 2000 more (one of which was then deleted) after the save
    let (loaded, info) = VectorIndex::load(&path, dim, Space::L2, params(2), data.clone(), |s| s != 6500).unwrap();
    assert_eq!(info.graph_slots, 5000);
    assert_eq!(info.tag, 77);
    assert_eq!(loaded.len(), 7000);
    assert_eq!(loaded.live_count(), 6999);
    // the 2000 slots beyond the file are pending (scanned exactly) until indexed
    assert_eq!(loaded.indexed(), 5000);
    assert_eq!(loaded.pending(), 2000);
    for s in (5000..7000u32).step_by(97).filter(|&s| s != 6500) {
        let q = loaded.vector(s).unwrap().to_vec();
        assert_eq!(loaded.search(&q, 1, None, Filter::All).unwrap()[0].distance, 0.0);
    }
    assert_eq!(loaded.index_pending(usize::MAX), 0);
    assert_eq!(loaded.pending(), 0);
    let mut found = 0;
    for s in 5000..7000u32 {
        if s == 6500 {
            continue;
        }
        let q = loaded.vector(s).unwrap().to_vec();
        let got = loaded.search(&q, 10, None, Filter::All).unwrap();
        assert!(got.iter().all(|r| r.slot != 6500));
        if got.iter().any(|r| r.slot == s || r.distance == 0.0) {
            found += 1;
        }
    }
    assert!(found >= 1990, "found {found}");
    // fewer vectors than the graph covers: error
    let err = VectorIndex::load(&path, dim, Space::L2, params(2), data[..4000 * dim].to_vec(), |_| true);
    assert!(matches!(err, Err(IndexError::Mismatch(_))));
}

#[test]
fn corrupt_files_are_errors() {
    let dim = 8;
    let data = clustered(2000, dim, 5, 0.3, 61);
    let mut idx = VectorIndex::new(dim, Space::L2, params(1)).unwrap();
    idx.append(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    idx.save_graph(&path, 1).unwrap();
    let good = std::fs::read(&path).unwrap();
    let load = |bytes: &[u8]| {
        std::fs::write(dir.path().join("bad"), bytes).unwrap();
        VectorIndex::load(&dir.path().join("bad"), dim, Space::L2, params(1), data.clone(), |_| true)
    };
    assert!(load(&good).is_ok());
    // missing
    assert!(matches!(
        VectorIndex::load(&dir.path().join("nope"), dim, Space::L2, params(1), data.clone(), |_| true),
        Err(IndexError::Io(_))
    ));
    // empty, truncated at many points
    assert!(load(&[]).is_err());
    for cut in [1usize, 8, 63, 64, 65, 100, good.len() / 2, good.len() - 5, good.len() - 1] {
        assert!(load(&good[..cut]).is_err(), "cut {cut}");
    }
    // flipped bytes anywhere
    for pos in [0usize, 9, 20, 40, 70, good.len() / 3, good.len() - 2] {
        let mut b = good.clone();
        b[pos] ^= 0x5a;
        assert!(load(&b).is_err(), "flip {pos}");
    }
    // garbage
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    assert!(load(&garbage).is_err());
    // mismatched dim / space / m
    assert!(matches!(
        VectorIndex::load(&path, 4, Space::L2, params(1), data.clone(), |_| true),
        Err(IndexError::Mismatch(_))
    ));
    assert!(matches!(
        VectorIndex::load(&path, dim, Space::Cosine, params(1), data.clone(), |_| true),
        Err(IndexError::Mismatch(_))
    ));
    let p32 = HnswParams { m: 32, ..params(1) };
    assert!(matches!(
        VectorIndex::load(&path, dim, Space::L2, p32, data.clone(), |_| true),
        Err(IndexError::Mismatch(_))
    ));
    // vectors with a partial row / NaN
    assert!(VectorIndex::load(&path, dim, Space::L2, params(1), data[..dim * 2000 - 1].to_vec(), |_| true).is_err());
    let mut nan = data.clone();
    nan[17] = f32::NAN;
    assert!(matches!(
        VectorIndex::load(&path, dim, Space::L2, params(1), nan, |_| true),
        Err(IndexError::NonFinite { index: 2 })
    ));
}

/// Checks an index loaded from a damaged file: searches (graph walk included) return
/// exactly `min(k, live)` sorted live slots, it takes new vectors, and what it saves loads.
fn check_loaded(mut idx: VectorIndex, data: &[f32], dim: usize, p: &HnswParams, dir: &std::path::Path) {
    assert_eq!(idx.len(), data.len() / dim);
    let k = 10.min(idx.live_count());
    for q in data.chunks_exact(dim).step_by(301) {
        // ef 10 over 1500 slots takes the HNSW path (see the crate docs' thresholds)
        let res = idx.search(q, 10, Some(10), Filter::All).unwrap();
        assert_eq!(res.len(), k);
        assert_sorted(&res);
        assert!(res.iter().all(|r| idx.is_live(r.slot)));
    }
    idx.append(&data[..5 * dim]).unwrap();
    assert_eq!(idx.search(&data[..dim], 1, Some(10), Filter::All).unwrap().len(), 1);
    let resaved = dir.join("resaved");
    idx.save_graph(&resaved, 9).unwrap();
    let more: Vec<f32> = data.iter().chain(&data[..5 * dim]).copied().collect();
    let (again, info) = VectorIndex::load(&resaved, dim, Space::L2, p.clone(), more, |_| true).unwrap();
    assert_eq!((info.tag, again.len()), (9, idx.len()));
}

/// A saved graph cut at many lengths or with bytes flipped at many positions is refused with
/// an error or loads as a sound index, and never panics. Each damage is tried twice: with the
/// stale checksum (caught by the CRC) and with the checksum recomputed, so the structural
/// checks behind it (counts, levels, links, entry point, lengths) are exercised too.
#[test]
fn damaged_graph_files_are_refused_or_sound() {
    let dim = 4;
    let n = 1500;
    let data = clustered(n, dim, 5, 0.5, 71);
    let p = HnswParams { m: 4, ef_construction: 20, ..params(1) };
    let mut idx = VectorIndex::new(dim, Space::L2, p.clone()).unwrap();
    idx.append(&data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good_path = dir.path().join("good");
    idx.save_graph(&good_path, 5).unwrap();
    let good = std::fs::read(&good_path).unwrap();
    let body = &good[..good.len() - 4];
    let with_crc = |b: &[u8]| -> Vec<u8> {
        let mut v = b.to_vec();
        v.extend_from_slice(&crc32fast::hash(b).to_le_bytes());
        v
    };
    assert_eq!(with_crc(body), good);

    let bad = dir.path().join("bad");
    let (mut refused, mut loaded) = (0usize, 0usize);
    let mut try_load = |bytes: &[u8], what: &str| {
        std::fs::write(&bad, bytes).unwrap();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            match VectorIndex::load(&bad, dim, Space::L2, p.clone(), data.clone(), |_| true) {
                Ok((idx, _)) => {
                    check_loaded(idx, &data, dim, &p, dir.path());
                    true
                }
                Err(_) => false,
            }
        }));
        if outcome.unwrap_or_else(|_| panic!("{what}: panicked")) {
            loaded += 1;
        } else {
            refused += 1;
        }
    };

    // Offsets: every byte of the header and the first lists, then a stride over the body
    // (the levels, the level-0 lists, the upper lists) and the last bytes.
    let mut offsets: Vec<usize> = (0..300).collect();
    offsets.extend((300..good.len()).step_by(89));
    offsets.extend(good.len().saturating_sub(40)..good.len());
    offsets.retain(|&o| o < good.len());
    offsets.dedup();

    for &cut in &offsets {
        try_load(&good[..cut], &format!("cut at {cut}"));
        if cut >= 4 && cut < body.len() {
            try_load(&with_crc(&body[..cut]), &format!("cut at {cut}, checksum fixed"));
        }
    }
    for (i, &pos) in offsets.iter().enumerate() {
        let mask = [0x01u8, 0x80, 0xff, 0x5a, 0x10][i % 5];
        let mut b = good.clone();
        b[pos] ^= mask;
        try_load(&b, &format!("flip {mask:#x} at {pos}"));
        if pos < body.len() {
            try_load(&with_crc(&b[..body.len()]), &format!("flip {mask:#x} at {pos}, checksum fixed"));
        }
    }
    // The stale checksum refuses every damage; with it fixed, some damage is harmless (the
    // tag, ef_construction, a link moved to another valid node) and loads.
    try_load(&good, "intact");
    assert!(refused > 2 * offsets.len(), "refused {refused}");
    assert!(loaded > 1, "no damaged file loaded: the soundness checks never ran");
    eprintln!("{} damaged files: {refused} refused, {} loaded and sound", refused + loaded - 1, loaded - 1);
}

#[test]
#[allow(clippy::float_cmp)] // distances between small integer vectors are exact
fn input_validation() {
    assert!(matches!(VectorIndex::new(0, Space::L2, params(1)), Err(IndexError::InvalidParams(_))));
    assert!(VectorIndex::new(4, Space::L2, HnswParams { m: 1, ..params(1) }).is_err());
    assert!(VectorIndex::new(4, Space::L2, HnswParams { resize_factor: 0.5, ..params(1) }).is_err());
    assert!(VectorIndex::new(4, Space::L2, HnswParams { resize_factor: f64::NAN, ..params(1) }).is_err());
    let mut idx = VectorIndex::new(4, Space::L2, params(1)).unwrap();
    assert!(matches!(idx.append(&[1.0, 2.0, 3.0]), Err(IndexError::DimensionMismatch { .. })));
    assert!(matches!(
        idx.append(&[1.0, 2.0, 3.0, 4.0, 1.0, f32::NAN, 0.0, 0.0]),
        Err(IndexError::NonFinite { index: 1 })
    ));
    assert!(idx.append(&[f32::INFINITY, 0.0, 0.0, 0.0]).is_err());
    assert_eq!(idx.len(), 0);
    // empty index
    assert!(idx.search(&[0.0; 4], 10, None, Filter::All).unwrap().is_empty());
    assert!(idx.search(&[0.0; 4], 10, None, Filter::Allowed(&[0, 1])).unwrap().is_empty());
    assert_eq!(idx.append(&[]).unwrap(), 0..0);
    idx.append(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
    // query validation
    assert!(matches!(idx.search(&[0.0; 3], 1, None, Filter::All), Err(IndexError::DimensionMismatch { .. })));
    assert!(matches!(idx.search(&[0.0, f32::NAN, 0.0, 0.0], 1, None, Filter::All), Err(IndexError::NonFinite { .. })));
    // k = 0, k > count
    assert!(idx.search(&[1.0, 0.0, 0.0, 0.0], 0, None, Filter::All).unwrap().is_empty());
    let all = idx.search(&[1.0, 0.0, 0.0, 0.0], 100, None, Filter::All).unwrap();
    assert_eq!(all.iter().map(|n| n.slot).collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(all[0].distance, 0.0);
    assert_eq!(all[1].distance, 2.0);
    assert!(idx.vector(3).is_none());
    assert!(idx.vector(u32::MAX).is_none());
    assert_eq!(idx.vector(1).unwrap(), &[0.0, 1.0, 0.0, 0.0]);
    assert!(!idx.is_live(3));
    // ties broken by slot
    idx.append(&[0.0, 1.0, 0.0, 0.0]).unwrap();
    let r = idx.search(&[0.0, 1.0, 0.0, 0.0], 2, None, Filter::All).unwrap();
    assert_eq!((r[0].slot, r[1].slot), (1, 3));
    // build with wrong sizes
    assert!(VectorIndex::build(4, Space::L2, params(1), vec![1.0; 5], |_| true).is_err());
    assert!(VectorIndex::build(4, Space::L2, params(1), vec![], |_| true).unwrap().is_empty());
}

#[test]
fn build_with_dead_slots_and_compact() {
    let dim = 12;
    let n = 5000;
    let data = clustered(n, dim, 10, 0.3, 71);
    let idx = VectorIndex::build(dim, Space::L2, params(2), data.clone(), |s| s % 4 != 0).unwrap();
    assert_eq!(idx.len(), n);
    assert_eq!(idx.live_count(), n - n / 4);
    let q = &data[..dim];
    let got = idx.search(q, 20, None, Filter::All).unwrap();
    assert_eq!(got.len(), 20);
    assert!(got.iter().all(|r| r.slot % 4 != 0));
    let (c, map) = idx.compact().unwrap();
    assert_eq!(c.len(), n - n / 4);
    assert_eq!(c.live_count(), c.len());
    assert_eq!(map.len(), n);
    assert_eq!(map[0], None);
    assert_eq!(map[1], Some(0));
    for (old, new) in map.iter().enumerate() {
        if let Some(new) = new {
            assert_eq!(idx.vector(old as u32), c.vector(*new));
        }
    }
    let got2 = c.search(q, 20, Some(200), Filter::All).unwrap();
    let want = exact(Space::L2, c.vectors(), dim, q, 20, |_| true);
    assert!(recall(&got2, &want) >= 18);
}

#[test]
fn concurrent_searches_and_incremental_appends() {
    let dim = 32;
    let (data, queries) = split(6000, 64, dim, 20, 0.4, 81);
    let mut idx = VectorIndex::new(dim, Space::L2, HnswParams { resize_factor: 1.5, ..params(2) }).unwrap();
    // many small appends (single-threaded path) then a big one (parallel path)
    for chunk in data[..1000 * dim].chunks(37 * dim) {
        idx.append(chunk).unwrap();
    }
    idx.append(&data[1000 * dim..]).unwrap();
    assert_eq!(idx.len(), 6000);

    let idx = &idx;
    let data = &data;
    let hits: usize = std::thread::scope(|s| {
        let hs: Vec<_> = queries
            .chunks_exact(dim * 16)
            .map(|qs| {
                s.spawn(move || {
                    let mut h = 0;
                    for q in qs.chunks_exact(dim) {
                        let got = idx.search(q, 10, None, Filter::All).unwrap();
                        h += recall(&got, &exact(Space::L2, data, dim, q, 10, |_| true));
                    }
                    h
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert!(hits as f64 / 640.0 >= 0.97, "recall {}", hits as f64 / 640.0);
}

#[test]
fn index_is_send_sync_and_empty_graph_roundtrip() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<VectorIndex>();
    let dim = 8;
    let idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty");
    idx.save_graph(&path, 0).unwrap();
    // empty graph + 3000 vectors appended after the save: pending, then caught up
    let data = clustered(3000, dim, 5, 0.3, 91);
    let (loaded, info) = VectorIndex::load(&path, dim, Space::L2, params(2), data.clone(), |_| true).unwrap();
    assert_eq!(info.graph_slots, 0);
    assert_eq!(loaded.len(), 3000);
    assert_eq!(loaded.pending(), 3000);
    loaded.index_pending(usize::MAX);
    let q = &data[100 * dim..101 * dim].to_vec();
    let got = loaded.search(q, 5, None, Filter::All).unwrap();
    assert_eq!(got[0].slot, 100);
    // the re-saved graph loads again and answers the same
    loaded.save_graph(&path, 9).unwrap();
    let (again, info) = VectorIndex::load(&path, dim, Space::L2, params(2), data, |_| true).unwrap();
    assert_eq!(info, chroma_index::LoadInfo { tag: 9, graph_slots: 3000 });
    assert_eq!(again.search(q, 5, None, Filter::All).unwrap(), got);
}

/// Many identical vectors (as Chroma's own test suite adds: tens of thousands of [1, 2, 3]
/// with M = 128): every space still answers k results at the right distance, and the
/// graph stays searchable after more distinct vectors arrive.
#[test]
fn identical_vectors_in_every_space() {
    for space in [Space::L2, Space::Cosine, Space::InnerProduct] {
        let p = HnswParams { m: 64, ef_construction: 128, ef_search: 128, num_threads: 2, resize_factor: 1.2 };
        let mut idx = VectorIndex::new(3, space, p).unwrap();
        let same: Vec<f32> = (0..1500).flat_map(|_| [1.0f32, 2.0, 3.0]).collect();
        idx.append(&same).unwrap();
        idx.append(&[-1.0, 0.5, 9.0]).unwrap();
        let res = idx.search(&[1.0, 2.0, 3.0], 10, None, Filter::All).unwrap();
        assert_eq!(res.len(), 10, "{space:?}");
        assert_sorted(&res);
        let same_d = match space {
            Space::L2 | Space::Cosine => 0.0,
            Space::InnerProduct => 1.0 - 14.0,
        };
        // (inner product ranks the distinct vector first: its dot with the query is larger)
        for n in res.iter().filter(|n| n.slot < 1500) {
            assert!((n.distance - same_d).abs() < 1e-4, "{space:?}: {n:?}");
        }
        let odd = idx.search(&[-1.0, 0.5, 9.0], 1, None, Filter::All).unwrap();
        assert_eq!(odd[0].slot, 1500, "{space:?}: the one distinct vector is found");
    }
}

/// A collection whose graph is not built yet answers exactly (scan of the pending slots),
/// keeps answering while a builder links the slots step by step on another thread, and
/// reaches normal HNSW recall once everything is linked.
#[test]
fn pending_slots_are_searchable_while_indexing() {
    let dim = 24;
    let n = 12_000;
    let (data, queries) = split(n, 40, dim, 25, 0.35, 91);
    let dead = |s: u32| s % 101 == 7;
    let idx = VectorIndex::unbuilt(dim, Space::Cosine, params(2), data.clone(), |s| !dead(s)).unwrap();
    assert_eq!((idx.indexed(), idx.pending()), (0, n));
    // nothing linked: every answer is the exact one
    for q in queries.chunks_exact(dim).take(10) {
        let got = idx.search(q, 10, None, Filter::All).unwrap();
        assert_eq!(got, exact(Space::Cosine, &data, dim, q, 10, |s| !dead(s)));
    }
    let allowed: Vec<u32> = (0..n as u32).filter(|s| s % 3 == 0).collect();
    let idx = &idx;
    let (data_r, queries_r, allowed_r) = (&data, &queries, &allowed);
    std::thread::scope(|sc| {
        let builder = sc.spawn(move || {
            let mut steps = 0;
            while idx.index_pending(1000) > 0 {
                steps += 1;
            }
            steps
        });
        // searches run during the build: never a removed slot, never a repeated slot,
        // always k results, and a stored vector finds itself (HNSW is approximate: nearly always)
        let mut rounds = 0;
        let (mut self_hits, mut self_tries) = (0usize, 0usize);
        while !builder.is_finished() || rounds < 5 {
            for (i, q) in queries_r.chunks_exact(dim).enumerate() {
                let got = idx.search(q, 10, None, Filter::All).unwrap();
                assert_eq!(got.len(), 10);
                assert_sorted(&got);
                assert!(got.iter().all(|r| !dead(r.slot)));
                let uniq: HashSet<u32> = got.iter().map(|r| r.slot).collect();
                assert_eq!(uniq.len(), 10);
                let f = idx.search(q, 5, None, Filter::Allowed(allowed_r)).unwrap();
                assert_eq!(f.len(), 5);
                assert!(f.iter().all(|r| r.slot % 3 == 0 && !dead(r.slot)));
                let s = ((i * 997 + rounds * 31) % n) as u32;
                if !dead(s) {
                    let v = &data_r[s as usize * dim..(s as usize + 1) * dim];
                    self_tries += 1;
                    self_hits += usize::from(idx.search(v, 1, None, Filter::All).unwrap()[0].distance < 1e-5);
                }
            }
            rounds += 1;
        }
        assert!(builder.join().unwrap() >= 11);
        assert!(self_hits as f64 >= 0.95 * self_tries as f64, "{self_hits}/{self_tries}");
    });
    assert_eq!(idx.pending(), 0);
    let mut hits = 0;
    for q in queries.chunks_exact(dim) {
        let got = idx.search(q, 10, None, Filter::All).unwrap();
        hits += recall(&got, &exact(Space::Cosine, &data, dim, q, 10, |s| !dead(s)));
    }
    assert!(hits as f64 / 400.0 >= 0.95, "recall {}", hits as f64 / 400.0);
}

/// A save while slots are pending writes only the linked prefix; loading it leaves the rest
/// pending; appends behind a pending tail join the tail (the graph stays a prefix).
#[test]
fn save_with_pending_tail_and_append_behind_it() {
    let dim = 8;
    let data = clustered(5000, dim, 10, 0.3, 93);
    let mut idx = VectorIndex::new(dim, Space::L2, params(2)).unwrap();
    idx.append(&data[..2000 * dim]).unwrap();
    assert_eq!(idx.pending(), 0);
    idx.append_unindexed(&data[2000 * dim..3000 * dim]).unwrap();
    idx.append(&data[3000 * dim..4000 * dim]).unwrap();
    assert_eq!((idx.indexed(), idx.pending()), (2000, 2000));
    assert_eq!(idx.index_pending(500), 1500);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g");
    idx.save_graph(&path, 5).unwrap();
    let (loaded, info) =
        VectorIndex::load(&path, dim, Space::L2, params(2), data[..4000 * dim].to_vec(), |_| true).unwrap();
    assert_eq!(info.graph_slots, 2500);
    assert_eq!(loaded.pending(), 1500);
    for s in [0u32, 2499, 2500, 3999] {
        let v = &data[s as usize * dim..(s as usize + 1) * dim];
        let got = loaded.search(v, 3, None, Filter::All).unwrap();
        assert_eq!(got, exact(Space::L2, &data[..4000 * dim], dim, v, 3, |_| true));
    }
}

#[test]
fn attach_graph_links_a_copy_of_the_same_vectors() {
    let dim = 8;
    let vecs: Vec<f32> = (0..3000 * dim).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let params = HnswParams { num_threads: 1, ..HnswParams::default() };
    let mut built = VectorIndex::new(dim, Space::L2, params.clone()).unwrap();
    built.append(&vecs).unwrap();
    built.remove(5).unwrap();
    let (bytes, n) = built.graph_bytes(42);
    assert_eq!(n, 3000);
    let mut copy = VectorIndex::new(dim, Space::L2, params.clone()).unwrap();
    copy.append_unindexed(&vecs).unwrap();
    copy.remove(5).unwrap();
    let mut damaged = bytes.clone();
    damaged[200] ^= 1;
    assert!(copy.attach_graph(&damaged).is_err());
    assert_eq!((copy.indexed(), copy.len(), copy.live_count()), (0, 3000, 2999), "unchanged after a refusal");
    let info = copy.attach_graph(&bytes).unwrap();
    assert_eq!((info.tag, info.graph_slots), (42, 3000));
    assert_eq!((copy.indexed(), copy.live_count()), (3000, 2999));
    for q in 0..20 {
        let query = &vecs[q * 97 * dim..(q * 97 + 1) * dim];
        let a = built.search(query, 10, None, Filter::All).unwrap();
        let b = copy.search(query, 10, None, Filter::All).unwrap();
        assert_eq!(a, b);
    }
    // A graph over more slots than the index holds is refused.
    let mut small = VectorIndex::new(dim, Space::L2, params).unwrap();
    small.append_unindexed(&vecs[..100 * dim]).unwrap();
    assert!(small.attach_graph(&bytes).is_err());
}
