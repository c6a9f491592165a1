//! Build + search benchmark on an `.npy` dataset made by `bench/make_dataset.py` (`bash scripts/make-bench-data.sh NAME`).
//!
//! Usage: `cargo run -p chroma-index --release --example index_bench -- <dataset dir> [threads] [M] [ef_construction]`
//! The directory holds `base.npy` (f32 [N, D]), `queries.npy` (f32 [Q, D]) and `gt_ids.npy` (i32 [Q, K]).

use std::path::Path;
use std::time::Instant;

use chroma_index::{Filter, HnswParams, Space, VectorIndex};

/// Minimal .npy reader: little-endian f4/i4, C order, 2-d.
fn read_npy(path: &Path) -> Result<(Vec<u8>, char, usize, usize), String> {
    let b = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if b.len() < 10 || &b[..6] != b"\x93NUMPY" {
        return Err(format!("{}: not a .npy file", path.display()));
    }
    let major = b[6];
    let (hlen, hstart) = if major == 1 {
        (u16::from_le_bytes([b[8], b[9]]) as usize, 10)
    } else {
        if b.len() < 12 {
            return Err("short header".into());
        }
        (u32::from_le_bytes([b[8], b[9], b[10], b[11]]) as usize, 12)
    };
    let header = std::str::from_utf8(b.get(hstart..hstart + hlen).ok_or("short header")?).map_err(|e| e.to_string())?;
    if header.contains("'fortran_order': True") {
        return Err("fortran order not supported".into());
    }
    let kind = if header.contains("'<f4'") {
        'f'
    } else if header.contains("'<i4'") {
        'i'
    } else {
        return Err(format!("unsupported dtype in header {header}"));
    };
    let s = header.find("'shape': (").ok_or("no shape")? + "'shape': (".len();
    let e = header[s..].find(')').ok_or("bad shape")? + s;
    let dims: Vec<usize> = header[s..e]
        .split(',')
        .filter(|t| !t.trim().is_empty())
        .map(|t| t.trim().parse::<usize>().map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let (rows, cols) = match dims.as_slice() {
        [r, c] => (*r, *c),
        [r] => (*r, 1),
        _ => return Err("expected 2-d array".into()),
    };
    let data = b.get(hstart + hlen..).ok_or("short file")?.to_vec();
    if data.len() != rows * cols * 4 {
        return Err(format!("{}: data size {} != {rows}x{cols}x4", path.display(), data.len()));
    }
    Ok((data, kind, rows, cols))
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}
fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// User+system CPU seconds of this process (all threads), from /proc/self/stat (Linux only).
fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / 100.0)
}

/// CPU time of the calling thread in ms (Linux; robust against a busy machine, unlike wall time).
#[cfg(target_os = "linux")]
fn thread_cpu_ms() -> f64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: i64,
        tv_nsec: i64,
    }
    extern "C" {
        fn clock_gettime(clk: i32, ts: *mut Timespec) -> i32;
    }
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: valid out-pointer; CLOCK_THREAD_CPUTIME_ID = 3 on Linux.
    let rc = unsafe { clock_gettime(3, &raw mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 * 1e3 + ts.tv_nsec as f64 / 1e6
}
#[cfg(not(target_os = "linux"))]
fn thread_cpu_ms() -> f64 {
    f64::NAN
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).map_or("bench-data/clustered-100k-384", String::as_str)).to_path_buf();
    let threads: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let m: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(16);
    let efc: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(100);
    let (bb, _, n, dim) = read_npy(&dir.join("base.npy"))?;
    let (qb, _, nq, qdim) = read_npy(&dir.join("queries.npy"))?;
    let (gb, gk, _, gt_k) = read_npy(&dir.join("gt_ids.npy"))?;
    if gk != 'i' || qdim != dim || gt_k < 10 || nq == 0 || gb.len() != nq * gt_k * 4 {
        return Err("bad dataset".into());
    }
    let base = f32s(&bb);
    let queries = f32s(&qb);
    let gt = i32s(&gb);
    drop((bb, qb, gb));
    println!(
        "dataset {}: n={n} dim={dim} queries={nq} kernels={}",
        dir.display(),
        chroma_index::distance::simd_level()
    );
    let params = HnswParams { m, ef_construction: efc, ef_search: 100, num_threads: threads, resize_factor: 1.2 };
    // INDEX_BENCH_GRAPH=<file>: load the graph from there if present (search-only runs),
    // otherwise build and save it there.
    let cached = std::env::var_os("INDEX_BENCH_GRAPH").map(std::path::PathBuf::from);
    let mut idx = if let Some(p) = cached.as_ref().filter(|p| p.exists()) {
        let t = Instant::now();
        let (idx, _) = VectorIndex::load(p, dim, Space::L2, params, base.clone(), |_| true)?;
        println!("loaded graph {} in {:.2} s", p.display(), t.elapsed().as_secs_f64());
        idx
    } else {
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let mut idx = VectorIndex::new(dim, Space::L2, params)?;
        idx.append(&base)?;
        let build = t.elapsed().as_secs_f64();
        let cpu =
            if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) { format!("{:.2} CPU-s", b - a) } else { "n/a".into() };
        println!("build: {build:.2} s wall, {cpu} ({threads} threads, M={m}, ef_construction={efc})");
        if let Some(p) = &cached {
            idx.save_graph(p, 0)?;
        }
        idx
    };
    let k = 10;
    for &ef in &[10usize, 16, 32, 64, 100, 128] {
        idx.set_ef_search(ef);
        let mut lat = Vec::with_capacity(nq);
        let mut cpu_lat = Vec::with_capacity(nq);
        let mut hits = 0usize;
        let t_all = Instant::now();
        for qi in 0..nq {
            let q = &queries[qi * dim..(qi + 1) * dim];
            let c = thread_cpu_ms();
            let t = Instant::now();
            let res = idx.search(q, k, None, Filter::All)?;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            cpu_lat.push(thread_cpu_ms() - c);
            let g = &gt[qi * gt_k..qi * gt_k + k];
            hits += res.iter().filter(|r| g.contains(&(r.slot as i32))).count();
        }
        let total = t_all.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        let p50 = lat[lat.len() / 2];
        let p99 = lat[(lat.len() * 99 / 100).min(lat.len() - 1)];
        cpu_lat.sort_by(f64::total_cmp);
        let cpu_p50 = cpu_lat[cpu_lat.len() / 2];
        let cpu_p99 = cpu_lat[(cpu_lat.len() * 99 / 100).min(cpu_lat.len() - 1)];
        println!(
            "ef={ef:4}  recall@10={:.4}  wall p50={p50:.3} ms p99={p99:.3} ms  cpu p50={cpu_p50:.3} ms p99={cpu_p99:.3} ms  QPS(1t)={:.0}",
            hits as f64 / (nq * k) as f64,
            nq as f64 / total
        );
    }
    // save / load round trip timing
    let tmp = std::env::temp_dir().join(format!("index_bench_{}.hnsw", std::process::id()));
    let t = Instant::now();
    idx.save_graph(&tmp, 1)?;
    let save = t.elapsed().as_secs_f64();
    let size = std::fs::metadata(&tmp)?.len();
    let t = Instant::now();
    let (idx2, _) = VectorIndex::load(&tmp, dim, Space::L2, idx.params().clone(), base, |_| true)?;
    let load = t.elapsed().as_secs_f64();
    println!("save_graph {save:.3} s ({:.1} MB), load {load:.3} s, len {}", size as f64 / 1e6, idx2.len());
    let _ = std::fs::remove_file(&tmp);
    Ok(())
}
