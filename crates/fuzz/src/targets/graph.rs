//! The HNSW graph file decoder, and the index it loads.

use super::sig;
use crate::Outcome;
use chroma_index::{Filter, HnswParams, Space, VectorIndex};

fn u32_at(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        u64::from_le_bytes(a)
    })
}

/// Deterministic finite vectors (an LCG), so a failure replays exactly.
fn vectors(n: usize, dim: usize) -> Vec<f32> {
    let mut x: u32 = 0x1234_5678;
    (0..n * dim)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

/// Loads the input as a graph file. The checksum and the body length are fixed up first, so
/// mutations reach the checks behind them; dim, space and M are taken from the header (when
/// in range) so the file is not refused as a mere mismatch. What loads must then answer
/// searches with exactly `min(k, candidates)` results, before and after inserts.
pub(crate) fn graph(input: &[u8]) -> Outcome {
    let mut b = input.to_vec();
    if b.len() >= 68 {
        let body = (b.len() - 68) as u64;
        b[56..64].copy_from_slice(&body.to_le_bytes());
        let n = b.len() - 4;
        let crc = crc32fast::hash(&b[..n]);
        b[n..].copy_from_slice(&crc.to_le_bytes());
    }
    let dim = match u32_at(&b, 12) as usize {
        d @ 1..=64 => d,
        _ => 3,
    };
    let space = match u32_at(&b, 16) {
        1 => Space::InnerProduct,
        2 => Space::Cosine,
        _ => Space::L2,
    };
    let m = match u32_at(&b, 20) as usize {
        m @ 2..=64 => m,
        _ => 16,
    };
    let slots = (u64_at(&b, 32).min(4096)) as usize;
    let n = slots + input.len() % 3;
    let params = HnswParams { m, ef_construction: 20, ef_search: 20, num_threads: 1, resize_factor: 1.2 };
    let live = |s: u32| s % 7 != 3;
    let (mut idx, _info) = match VectorIndex::load_from_bytes(&b, dim, space, params, vectors(n, dim), live) {
        Ok(x) => x,
        Err(e) => return Ok(sig("err", &e.to_string())),
    };
    let check = |idx: &VectorIndex, when: &str| -> Result<(), String> {
        let queries = vectors(3, dim);
        for q in queries.chunks(dim) {
            let live = idx.live_count();
            let hits = idx.search(q, 5, None, Filter::All).map_err(|e| format!("search {when}: {e}"))?;
            if hits.len() != live.min(5) {
                return Err(format!("search {when}: {} hits, expected {}", hits.len(), live.min(5)));
            }
            let allowed: Vec<u32> = (0..idx.len() as u32).step_by(2).collect();
            let want = allowed.iter().filter(|&&s| idx.is_live(s)).count().min(5);
            let hits =
                idx.search(q, 5, Some(50), Filter::Allowed(&allowed)).map_err(|e| format!("search {when}: {e}"))?;
            if hits.len() != want || hits.iter().any(|h| h.slot % 2 != 0 || !idx.is_live(h.slot)) {
                return Err(format!("filtered search {when}: {hits:?}, expected {want} even live slots"));
            }
        }
        Ok(())
    };
    check(&idx, "after load")?;
    idx.index_pending(usize::MAX);
    check(&idx, "after indexing the pending slots")?;
    idx.append(&vectors(4, dim)).map_err(|e| format!("append after load: {e}"))?;
    check(&idx, "after append")?;
    Ok(format!("loaded:{}", slots.min(3)))
}

/// Graph files made by the index itself (the corpus seeds: `chroma-fuzz seeds graph`): each
/// space, a few sizes, M 4 and 16, with levels above 0.
pub(crate) fn seeds() -> Result<crate::Seeds, String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (name, space, m, n, dim) in [
        ("l2-m4-40", Space::L2, 4, 40, 3),
        ("ip-m4-9", Space::InnerProduct, 4, 9, 2),
        ("cos-m16-1", Space::Cosine, 16, 1, 4),
        ("l2-m16-0", Space::L2, 16, 0, 3),
        ("cos-m2-30", Space::Cosine, 2, 30, 3),
    ] {
        let params = HnswParams { m, ef_construction: 20, ef_search: 20, num_threads: 1, resize_factor: 1.2 };
        let idx = VectorIndex::build(dim, space, params, vectors(n, dim), |_| true).map_err(|e| e.to_string())?;
        let p = tmp.path().join(name);
        idx.save_graph(&p, 7).map_err(|e| e.to_string())?;
        out.push((format!("{name}.bin"), std::fs::read(&p).map_err(|e| e.to_string())?));
    }
    Ok(out)
}
