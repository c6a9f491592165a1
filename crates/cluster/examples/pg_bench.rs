//! One node on PostgreSQL against one node on its folder, same sitting, on a bench dataset
//! (`bench-data/<name>`: `base.npy`, `queries.npy`, `gt_ids.npy`; see bench/README.md):
//!
//! * **add**: every record through `ChromaApi::add` in batches of 1,000 (folder engine, then
//!   the PostgreSQL node), records/s, and PostgreSQL's CPU per record written;
//! * **warm query**: `k = 10` queries alternating between the two (and the PostgreSQL node
//!   again with `read_overlap`, on other queries), p50/p95, recall@10;
//! * **warm search**: the same vectors through the Search API (`Knn`, limit 10), the folder
//!   node, the PostgreSQL node at the default `read_level` and at `index_only`, alternating;
//! * **cold load**: a new node's first query (load from PostgreSQL + search; its result checked
//!   against the exact answer), the time until its graph is linked and published to
//!   PostgreSQL, and a second new node's first query once the graph is there; the folder's
//!   cold open (`Engine::open` + first query) for comparison.
//!
//! ```sh
//! CHROMA_RS_POSTGRES_URL=$(bash scripts/fixtures/start-postgres.sh) \
//!   cargo run --release -p chroma-cluster --example pg_bench -- bench-data/clustered-100k-384 \
//!   [--queries 1000] [--out bench/results/FILE.jsonl] [--work DIR] [--db NAME] [--cold-only | --warm-only]
//! ```
//! Prints one JSON line (and appends it to `--out`). The PostgreSQL database `--db` (default
//! `chroma_pg_bench`) is dropped and re-created; `--cold-only` runs only the cold loads,
//! `--warm-only` only the warm queries and searches, on the database (and `--work` folder) a
//! full run left.

use chroma_cluster::{Cluster, ClusterOptions};
use chroma_store::Engine;
use chroma_types::search::{Knn, KnnQuery, Rank, ReadLevel, Search, SearchRequest};
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, QueryRequest, Settings, DEFAULT_DATABASE as D, DEFAULT_TENANT as T,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use uuid::Uuid;

type Res<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn npy(path: &Path, want: &str) -> Res<(usize, usize, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 12 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{} is not a .npy file", path.display()).into());
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
    };
    let header = String::from_utf8_lossy(bytes.get(start..start + hlen).ok_or("short .npy header")?).to_string();
    if !header.contains(want) || header.contains("'fortran_order': True") {
        return Err(format!("{}: expected a C-order {want} array", path.display()).into());
    }
    let shape: Vec<usize> = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .unwrap_or("")
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    let [rows, cols] = shape[..] else { return Err(format!("{}: expected 2-d", path.display()).into()) };
    Ok((rows, cols, bytes[start + hlen..].to_vec()))
}

fn f32s(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// CPU seconds used so far by every `postgres` process on this machine.
fn postgres_cpu_s() -> f64 {
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if head.contains("(postgres") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 13 {
                total += (f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0)) / 100.0;
            }
        }
    }
    total
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

struct Data {
    n: usize,
    dim: usize,
    base: Vec<f32>,
    queries: Vec<Vec<f32>>,
    gt: Vec<Vec<String>>,
}

fn load_data(dir: &Path, nq: usize) -> Res<Data> {
    let (n, dim, b) = npy(&dir.join("base.npy"), "<f4")?;
    let (q, qd, qb) = npy(&dir.join("queries.npy"), "<f4")?;
    let (_, k, gb) = npy(&dir.join("gt_ids.npy"), "<i4")?;
    assert_eq!(qd, dim);
    let qv = f32s(&qb);
    let gt: Vec<i32> = gb.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    let nq = nq.min(q);
    Ok(Data {
        n,
        dim,
        base: f32s(&b),
        queries: (0..nq).map(|i| qv[i * dim..(i + 1) * dim].to_vec()).collect(),
        gt: (0..nq).map(|i| gt[i * k..i * k + 10].iter().map(|x| format!("id{x}")).collect()).collect(),
    })
}

fn add_all(api: &dyn ChromaApi, coll: Uuid, d: &Data) -> Res<f64> {
    let t = Instant::now();
    for start in (0..d.n).step_by(1000) {
        let end = (start + 1000).min(d.n);
        let ids = (start..end).map(|i| format!("id{i}")).collect();
        let embs = (start..end).map(|i| d.base[i * d.dim..(i + 1) * d.dim].to_vec()).collect();
        api.add(coll, AddRequest::new(ids, embs))?;
    }
    Ok(t.elapsed().as_secs_f64())
}

fn query(api: &dyn ChromaApi, coll: Uuid, q: &[f32]) -> Res<Vec<String>> {
    let mut r = api.query(coll, QueryRequest::new(vec![q.to_vec()], 10))?;
    Ok(r.ids.pop().unwrap_or_default())
}

fn search(api: &dyn ChromaApi, coll: Uuid, q: &[f32], level: ReadLevel) -> Res<Vec<String>> {
    let knn = Knn {
        query: KnnQuery::Dense(q.to_vec()),
        key: "#embedding".into(),
        limit: 10,
        default: None,
        return_rank: false,
    };
    let s = Search { rank: Some(Rank::Knn(knn)), limit: Some(10), ..Default::default() };
    let mut r = api.search(coll, SearchRequest { searches: vec![s], read_level: level })?;
    Ok(r.ids.pop().unwrap_or_default())
}

/// Search API p50s (ms) and recall@10: the folder node, the PostgreSQL node at the default
/// read level and at `index_only`, alternating query by query.
fn warm_search(folder: &dyn ChromaApi, fc: Uuid, pg: &dyn ChromaApi, pc: Uuid, d: &Data) -> Res<serde_json::Value> {
    let (mut tf, mut tp, mut ti, mut rp, mut ri) = (Vec::new(), Vec::new(), Vec::new(), 0.0, 0.0);
    let n = d.queries.len();
    for i in 0..n {
        // Each variant takes a different query in each round (all of them over the run), so
        // none runs a query whose graph walk the previous one just brought into the CPU caches.
        let t = Instant::now();
        search(folder, fc, &d.queries[i], ReadLevel::IndexAndWal)?;
        tf.push(t.elapsed().as_secs_f64() * 1e3);
        let j = (i + n / 3) % n;
        let t = Instant::now();
        rp += recall(&search(pg, pc, &d.queries[j], ReadLevel::IndexAndWal)?, &d.gt[j]);
        tp.push(t.elapsed().as_secs_f64() * 1e3);
        let j = (i + 2 * n / 3) % n;
        let t = Instant::now();
        ri += recall(&search(pg, pc, &d.queries[j], ReadLevel::IndexOnly)?, &d.gt[j]);
        ti.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let nqf = d.queries.len() as f64;
    let (f50, p50, i50) = (pct(&mut tf, 0.5), pct(&mut tp, 0.5), pct(&mut ti, 0.5));
    eprintln!(
        "warm search p50: folder {f50:.2} ms, postgres {p50:.2} ms ({:.2}x), index_only {i50:.2} ms ({:.2}x)",
        p50 / f50,
        i50 / f50
    );
    Ok(serde_json::json!({
        "folder_search_p50_ms": f50, "pg_search_p50_ms": p50, "pg_search_index_only_p50_ms": i50,
        "pg_search_p50_ratio": p50 / f50, "pg_search_index_only_p50_ratio": i50 / f50,
        "pg_search_p95_ms": pct(&mut tp, 0.95), "pg_search_index_only_p95_ms": pct(&mut ti, 0.95),
        "folder_search_p95_ms": pct(&mut tf, 0.95),
        "pg_search_recall10": rp / nqf, "pg_search_index_only_recall10": ri / nqf,
    }))
}

fn recall(got: &[String], want: &[String]) -> f64 {
    got.iter().filter(|g| want.contains(g)).count() as f64 / want.len() as f64
}

fn node(url: &str) -> Res<Cluster> {
    let mut o = ClusterOptions::new(url);
    o.listen = false;
    Ok(Cluster::open(o)?)
}

/// A new node's first query: (seconds, recall@10 against the exact answer).
fn cold_query(url: &str, coll: Uuid, d: &Data) -> Res<(f64, f64, Cluster)> {
    let t = Instant::now();
    let c = node(url)?;
    let got = query(&c, coll, &d.queries[0])?;
    Ok((t.elapsed().as_secs_f64(), recall(&got, &d.gt[0]), c))
}

/// A new node's first query with no saved graph, the time until its graph is published, and
/// a second new node's first query and query p50 with it.
fn cold_loads(url: &str, pc: Uuid, d: &Data) -> Res<serde_json::Value> {
    let nqf = d.queries.len() as f64;
    // cold loads from PostgreSQL
    let (cold1_s, cold1_recall, c1) = cold_query(url, pc, d)?;
    eprintln!("cold node, no saved graph: first query after {cold1_s:.2} s (recall@10 {cold1_recall:.2})");
    let t = Instant::now();
    let mut conn = postgres::Client::connect(url, postgres::NoTls)?;
    let published_s = loop {
        let n: i64 = conn.query_one("SELECT count(*) FROM chroma_graphs WHERE collection_id = $1", &[&pc])?.get(0);
        if n > 0 {
            break cold1_s + t.elapsed().as_secs_f64();
        }
        if t.elapsed() > Duration::from_secs(600) {
            return Err("the cold node did not publish its graph within 10 minutes".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let graph_bytes: i64 = conn.query_one("SELECT bytes FROM chroma_graphs WHERE collection_id = $1", &[&pc])?.get(0);
    eprintln!("graph linked and published {published_s:.1} s after the cold node started ({graph_bytes} bytes)");
    drop(c1);
    let (cold2_s, cold2_recall, c2) = cold_query(url, pc, d)?;
    let mut t2 = Vec::new();
    let mut r2 = 0.0;
    for (q, gt) in d.queries.iter().zip(&d.gt) {
        let t = Instant::now();
        r2 += recall(&query(&c2, pc, q)?, gt);
        t2.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let c2p50 = pct(&mut t2, 0.5);
    eprintln!(
        "cold node, saved graph: first query after {cold2_s:.2} s (recall@10 {cold2_recall:.2}), then p50 {c2p50:.2} ms, recall@10 {:.3}",
        r2 / nqf
    );
    drop(c2);

    Ok(serde_json::json!({
        "cold_first_query_s": cold1_s, "cold_first_query_recall10": cold1_recall,
        "cold_graph_published_s": published_s, "graph_bytes": graph_bytes,
        "cold_with_graph_first_query_s": cold2_s, "cold_with_graph_recall10": cold2_recall,
        "cold_with_graph_query_p50_ms": c2p50, "cold_with_graph_recall10_all": r2 / nqf,
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    }))
}

/// Warm queries and searches (the node's cache loaded): p50/p95 and recall per variant.
fn warm(folder: &Engine, fc: Uuid, pg: &Cluster, pc: Uuid, d: &Data) -> Res<serde_json::Value> {
    // warm queries, alternating: the folder, the PostgreSQL node (the row first, the default),
    // and the same node with its row fetch overlapped with the search (`read_overlap`)
    let (mut tf, mut tp, mut ts, mut rf, mut rp) = (Vec::new(), Vec::new(), Vec::new(), 0.0, 0.0);
    for pass in 0..2 {
        // a first pass warms both (the folder's graph may still be linking after its adds)
        let n = d.queries.len();
        for (i, (q, gt)) in d.queries.iter().zip(&d.gt).enumerate() {
            let t = Instant::now();
            rf += recall(&query(folder, fc, q)?, gt);
            tf.push(t.elapsed().as_secs_f64() * 1e3);
            let t = Instant::now();
            rp += recall(&query(pg, pc, q)?, gt);
            tp.push(t.elapsed().as_secs_f64() * 1e3);
            // another query (see warm_search), so that its graph walk is not in the CPU caches
            pg.set_read_overlap(true);
            let t = Instant::now();
            query(pg, pc, &d.queries[(i + n / 2) % n])?;
            ts.push(t.elapsed().as_secs_f64() * 1e3);
            pg.set_read_overlap(false);
        }
        if pass == 0 {
            (tf, tp, ts) = (Vec::new(), Vec::new(), Vec::new());
            (rf, rp) = (0.0, 0.0);
        }
    }
    let nqf = d.queries.len() as f64;
    let (fp50, fp95, pp50, pp95) = (pct(&mut tf, 0.5), pct(&mut tf, 0.95), pct(&mut tp, 0.5), pct(&mut tp, 0.95));
    let (sp50, sp95) = (pct(&mut ts, 0.5), pct(&mut ts, 0.95));
    eprintln!(
        "warm query p50: folder {fp50:.2} ms, postgres {pp50:.2} ms ({:.2}x), postgres overlapped {sp50:.2} ms ({:.2}x)",
        pp50 / fp50,
        sp50 / fp50
    );
    let searched = warm_search(folder, fc, pg, pc, d)?;
    Ok(serde_json::json!({
        "folder_query_p50_ms": fp50, "folder_query_p95_ms": fp95, "folder_recall10": rf / nqf,
        "pg_query_p50_ms": pp50, "pg_query_p95_ms": pp95, "pg_recall10": rp / nqf,
        "pg_query_p50_ratio": pp50 / fp50,
        "pg_overlap_query_p50_ms": sp50, "pg_overlap_query_p95_ms": sp95, "pg_overlap_query_p50_ratio": sp50 / fp50,
        "search": searched,
    }))
}

/// Adds `extra`'s fields to the object `line`.
fn merge(line: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(o), serde_json::Value::Object(x)) = (line.as_object_mut(), extra) {
        o.extend(x);
    }
}

/// `--warm-only`: the warm queries and searches again, on the folder and the database a full
/// run left (a new node, which takes the graph saved in PostgreSQL).
fn warm_only(url: &str, work: &Path, d: &Data, out: Option<String>) -> Res<()> {
    let folder = Engine::open(&work.join("folder"), Settings::default())?;
    let fc = folder.get_collection(T, D, "bench")?.id;
    let pg = node(url)?;
    let pc = pg.get_collection(T, D, "bench")?.id;
    query(&pg, pc, &d.queries[0])?;
    let mut line =
        serde_json::json!({"bench": "pg_vs_folder_warm", "n": d.n, "dim": d.dim, "queries": d.queries.len()});
    merge(&mut line, warm(&folder, fc, &pg, pc, d)?);
    merge(
        &mut line,
        serde_json::json!({"load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim()}),
    );
    println!("{line}");
    if let Some(out) = out {
        writeln!(std::fs::OpenOptions::new().create(true).append(true).open(out)?, "{line}")?;
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let dataset = PathBuf::from(args.first().ok_or("usage: pg_bench DATASET [--queries N] [--out FILE] [--work DIR]")?);
    let nq: usize = arg("--queries").map_or(Ok(1000), |v| v.parse())?;
    let work = PathBuf::from(arg("--work").unwrap_or_else(|| "bench-run/pg-bench".into()));
    let base_url = std::env::var("CHROMA_RS_POSTGRES_URL").map_err(|_| "set CHROMA_RS_POSTGRES_URL")?;
    let d = load_data(&dataset, nq)?;
    eprintln!("{}: {} x {}, {} queries", dataset.display(), d.n, d.dim, d.queries.len());

    let db = arg("--db").unwrap_or_else(|| "chroma_pg_bench".into());
    if db.is_empty() || !db.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!("--db {db:?}: lowercase letters, digits and _ only").into());
    }
    let url = format!("{}/{db}", base_url.rsplit_once('/').ok_or("URL without a database")?.0);
    if args.iter().any(|a| a == "--warm-only") {
        return warm_only(&url, &work, &d, arg("--out"));
    }
    if args.iter().any(|a| a == "--cold-only") {
        // the cold loads alone, on the database a full run left (its saved graph dropped first)
        let pc = node(&url)?.get_collection(T, D, "bench")?.id;
        let mut conn = postgres::Client::connect(&url, postgres::NoTls)?;
        conn.execute("DELETE FROM chroma_graph_chunks", &[])?;
        conn.execute("DELETE FROM chroma_graphs", &[])?;
        let line = cold_loads(&url, pc, &d)?;
        println!("{line}");
        return Ok(());
    }
    let mut admin = postgres::Client::connect(&base_url, postgres::NoTls)?;
    admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))?;
    admin.batch_execute(&format!("CREATE DATABASE {db}"))?;
    if work.exists() {
        std::fs::remove_dir_all(&work)?;
    }
    let folder_path = work.join("folder");

    // add: folder, then PostgreSQL (each alone on the machine's cores)
    let folder = Engine::open(&folder_path, Settings::default())?;
    let fc = folder.create_collection(T, D, CreateCollection::new("bench"))?.id;
    let folder_add_s = add_all(&folder, fc, &d)?;
    eprintln!("folder add: {:.0} rec/s", d.n as f64 / folder_add_s);
    let pg = node(&url)?;
    let pc = pg.create_collection(T, D, CreateCollection::new("bench"))?.id;
    let cpu0 = postgres_cpu_s();
    let pg_add_s = add_all(&pg, pc, &d)?;
    let pg_cpu_per_rec_us = (postgres_cpu_s() - cpu0) / d.n as f64 * 1e6;
    eprintln!("postgres add: {:.0} rec/s, {pg_cpu_per_rec_us:.0} µs PostgreSQL CPU per record", d.n as f64 / pg_add_s);

    // Warm reads come long after an ingest: let PostgreSQL finish the work the adds left
    // (autovacuum of 100k fresh rows, a checkpoint) so that it does not compete with them.
    let mut conn = postgres::Client::connect(&url, postgres::NoTls)?;
    // (one statement per call: several in one string run as one transaction, which VACUUM refuses)
    for sql in ["VACUUM ANALYZE chroma_records", "VACUUM ANALYZE chroma_log", "CHECKPOINT"] {
        conn.batch_execute(sql)?;
    }
    drop(conn);

    let warm_line = warm(&folder, fc, &pg, pc, &d)?;
    drop(pg);

    let cold = cold_loads(&url, pc, &d)?;

    // the folder's cold open
    drop(folder);
    let t = Instant::now();
    let folder = Engine::open(&folder_path, Settings::default())?;
    let got = query(&folder, fc, &d.queries[0])?;
    let folder_cold_s = t.elapsed().as_secs_f64();
    eprintln!("folder cold open + first query: {folder_cold_s:.2} s (recall@10 {:.2})", recall(&got, &d.gt[0]));

    let mut line = serde_json::json!({
        "bench": "pg_vs_folder",
        "dataset": dataset.file_name().map(|s| s.to_string_lossy().to_string()),
        "n": d.n, "dim": d.dim, "queries": d.queries.len(),
        "folder_add_rec_s": d.n as f64 / folder_add_s,
        "pg_add_rec_s": d.n as f64 / pg_add_s,
        "pg_add_ratio": folder_add_s / pg_add_s,
        "pg_cpu_per_record_us": pg_cpu_per_rec_us,
        "cold": cold,
        "folder_cold_open_first_query_s": folder_cold_s,
        "load_average": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    });
    merge(&mut line, warm_line);
    println!("{line}");
    if let Some(out) = arg("--out") {
        writeln!(std::fs::OpenOptions::new().create(true).append(true).open(out)?, "{line}")?;
    }
    Ok(())
}
