//! Embedded benchmark of chroma-rs: the workload of `bench/chroma_bench.py` (which runs it against
//! real Chroma) on a dataset made by `bench/make_dataset.py` (`scripts/make-bench-data.sh`): add
//! records/s and CPU, query p50/p99 with the default include, recall@10 at the default ef and at ef
//! 10 and 100, cold open to the first query in a fresh process, disk, peak RSS. Prints one JSON line
//! in the record format `bench/summarize.py` reads (and appends it to `--out`), so chroma-rs and
//! real Chroma share one table. See `bench/README.md`.
//!
//! Usage: chroma-rs-bench --dataset DIR [--path DIR] [--batch 5000] [--queries 1000]
//!                        [--label NAME] [--out results.jsonl] [--ephemeral] [--filters FILE]
//!
//! `--filters bench/filters.json` adds the filtered workload (issue 16): records also get a
//! `tags` array, and a third fresh process runs each filter of the file (`where` /
//! `where_document`) over the first 200 queries: p50/p99, the first query (which builds the
//! filter index), recall@10 against the exact filtered top-10 (brute force over the records
//! `get` finds with the same filter), and the filter index's bytes per record.

use chroma_store::Engine;
use chroma_types::{
    metadata, AddRequest, ChromaApi, CreateCollection, Metadata, QueryRequest, Settings, UpdateCollection,
    DEFAULT_DATABASE, DEFAULT_TENANT, VERSION,
};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

struct Args {
    dataset: PathBuf,
    path: PathBuf,
    batch: usize,
    queries: usize,
    label: String,
    out: Option<PathBuf>,
    ephemeral: bool,
    phase: Option<String>,
    filters: Option<PathBuf>,
}

fn usage() -> ! {
    eprintln!("usage: chroma-rs-bench --dataset DIR [--path DIR] [--batch N] [--queries N] [--label NAME] [--out FILE] [--ephemeral]");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        dataset: PathBuf::new(),
        path: PathBuf::from("bench-run/chroma-rs-embedded"),
        batch: 5000,
        queries: 1000,
        label: "chroma-rs embedded".into(),
        out: None,
        ephemeral: false,
        phase: None,
        filters: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage());
        match k.as_str() {
            "--dataset" => a.dataset = PathBuf::from(v()),
            "--path" => a.path = PathBuf::from(v()),
            "--batch" => a.batch = v().parse().unwrap_or_else(|_| usage()),
            "--queries" => a.queries = v().parse().unwrap_or_else(|_| usage()),
            "--label" => a.label = v(),
            "--out" => a.out = Some(PathBuf::from(v())),
            "--ephemeral" => a.ephemeral = true,
            "--phase" => a.phase = Some(v()),
            "--filters" => a.filters = Some(PathBuf::from(v())),
            _ => usage(),
        }
    }
    if a.dataset.as_os_str().is_empty() {
        usage()
    }
    a
}

/// Minimal .npy reader for little-endian f4 / i4 C-order 2-d arrays.
fn read_npy(path: &Path) -> Result<(Vec<usize>, Vec<u8>, String), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{} is not a .npy file", path.display()));
    }
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
    };
    let header = String::from_utf8_lossy(&bytes[start..start + hlen]).to_string();
    let descr = header.split("'descr':").nth(1).and_then(|s| s.split('\'').nth(1)).unwrap_or("").to_string();
    let shape_s = header
        .split("'shape':")
        .nth(1)
        .and_then(|s| s.split('(').nth(1))
        .and_then(|s| s.split(')').next())
        .unwrap_or("");
    let shape: Vec<usize> = shape_s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    if header.contains("'fortran_order': True") {
        return Err("fortran order not supported".into());
    }
    Ok((shape, bytes[start + hlen..].to_vec(), descr))
}

fn npy_f32(path: &Path) -> (usize, usize, Vec<f32>) {
    let (shape, data, descr) = read_npy(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(descr, "<f4", "{}: expected float32", path.display());
    let v = data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape[0], shape[1], v)
}

fn npy_i32(path: &Path) -> (usize, usize, Vec<i32>) {
    let (shape, data, descr) = read_npy(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(descr, "<i4", "{}: expected int32", path.display());
    let v = data.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    (shape[0], shape[1], v)
}

fn proc_status(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process from /proc/self/stat (clock ticks of 100 Hz)
    std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit(')').next()?.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn tree_bytes(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => tree_bytes(&e.path()),
            Ok(m) => {
                use std::os::unix::fs::MetadataExt;
                m.blocks() * 512
            }
            Err(_) => 0,
        })
        .sum()
}

/// The current UTC time as `YYYY-MM-DD HH:MM:SS` (days to a civil date: the proleptic Gregorian
/// calendar counted in 400-year eras of 146,097 days, years starting on 1 March).
fn utc_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60)
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
    v[i.min(v.len() - 1)]
}

/// Runs the queries; returns p50, p99, recall@10, client CPU ms per query, first-query ms.
fn run_queries(e: &Engine, id: uuid::Uuid, a: &Args, ef_note: &str) -> Value {
    let (nq, dim, q) = npy_f32(&a.dataset.join("queries.npy"));
    let (_, k_gt, gt) = npy_i32(&a.dataset.join("gt_ids.npy"));
    let nq = nq.min(a.queries);
    let mut lat = Vec::with_capacity(nq);
    let mut hits = 0usize;
    let cpu0 = cpu_seconds();
    for i in 0..nq {
        let v = q[i * dim..(i + 1) * dim].to_vec();
        let t = Instant::now();
        let r = e.query(id, QueryRequest::new(vec![v], 10)).expect("query");
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let truth: std::collections::HashSet<i32> = gt[i * k_gt..i * k_gt + 10].iter().copied().collect();
        hits += r.ids[0].iter().filter(|s| s[2..].parse::<i32>().is_ok_and(|x| truth.contains(&x))).count();
    }
    let cpu = cpu_seconds() - cpu0;
    let first = lat.first().copied().unwrap_or(0.0);
    json!({
        "p50_ms": pct(&mut lat.clone(), 50.0), "p99_ms": pct(&mut lat, 99.0),
        "recall@10": hits as f64 / (nq * 10) as f64, "client_cpu_ms_per_q": cpu * 1000.0 / nq as f64,
        "first_query_ms": first, "ef": ef_note,
    })
}

fn open(a: &Args) -> Engine {
    if a.ephemeral {
        Engine::ephemeral(Settings::default()).expect("ephemeral engine")
    } else {
        Engine::open(&a.path, Settings::default()).expect("open data folder")
    }
}

fn phase_load(a: &Args) -> Value {
    if !a.ephemeral {
        let _ = std::fs::remove_dir_all(&a.path);
    }
    let (n, dim, base) = npy_f32(&a.dataset.join("base.npy"));
    let docs: Vec<String> = std::fs::read_to_string(a.dataset.join("base_docs.txt"))
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default();
    let e = open(a);
    let c = e
        .create_collection(
            DEFAULT_TENANT,
            DEFAULT_DATABASE,
            CreateCollection::new("bench")
                .metadata(metadata::metadata_from_json(&json!({"hnsw:space": "l2"})).expect("metadata")),
        )
        .expect("create collection");
    let mut add_s = 0.0;
    let cpu0 = cpu_seconds();
    let mut start = 0;
    while start < n {
        let end = (start + a.batch).min(n);
        let ids: Vec<String> = (start..end).map(|i| format!("id{i}")).collect();
        let embs: Vec<Vec<f32>> = (start..end).map(|i| base[i * dim..(i + 1) * dim].to_vec()).collect();
        let d: Vec<Option<String>> =
            (start..end).map(|i| Some(docs.get(i).cloned().unwrap_or_else(|| format!("document {i}")))).collect();
        let m: Vec<Option<Metadata>> = (start..end)
            .map(|i| {
                let mut m = json!({"i": i, "bucket": format!("b{}", i % 10)});
                if a.filters.is_some() {
                    m["tags"] = json!([format!("t{}", i % 7), format!("t{}", i % 11)]);
                }
                Some(metadata::metadata_from_json(&m).expect("md"))
            })
            .collect();
        let req = AddRequest::new(ids, embs).documents(d).metadatas(m);
        let t = Instant::now();
        e.add(c.id, req).expect("add");
        add_s += t.elapsed().as_secs_f64();
        start = end;
        eprint!("\r  added {end}/{n}  ({:.0} rec/s)", end as f64 / add_s);
    }
    eprintln!();
    let add_cpu = cpu_seconds() - cpu0;
    let ef = c.config.ef_search;
    let default = run_queries(&e, c.id, a, &format!("default (ef_search {ef})"));
    json!({"n": n, "batch": a.batch, "add_s": add_s, "add_rec_s": n as f64 / add_s, "add_client_cpu_s": add_cpu,
           "default_ef": ef, "default": default, "client_peak_rss": proc_status("VmHWM")})
}

fn phase_reopen(a: &Args) -> Value {
    let (nq, dim, q) = npy_f32(&a.dataset.join("queries.npy"));
    let _ = nq;
    let t = Instant::now();
    let e = open(a);
    let c = e.get_collection(DEFAULT_TENANT, DEFAULT_DATABASE, "bench").expect("get collection");
    e.query(c.id, QueryRequest::new(vec![q[..dim].to_vec()], 10)).expect("first query");
    let cold = t.elapsed().as_secs_f64();
    let d = run_queries(&e, c.id, a, "default");
    // recall at ef 10 (Chroma 0.4.x's default) for comparison
    e.update_collection(
        c.id,
        UpdateCollection { new_configuration: Some(json!({"hnsw": {"ef_search": 10}})), ..Default::default() },
    )
    .expect("modify");
    let ef10 = run_queries(&e, c.id, a, "ef_search 10");
    e.update_collection(
        c.id,
        UpdateCollection { new_configuration: Some(json!({"hnsw": {"ef_search": 100}})), ..Default::default() },
    )
    .expect("modify");
    let ef100 = run_queries(&e, c.id, a, "ef_search 100");
    json!({"cold_open_s": cold, "default": d, "ef10": ef10, "ef100": ef100, "client_rss_end": proc_status("VmRSS"), "client_peak_rss": proc_status("VmHWM")})
}

/// The CPU's model name (`/proc/cpuinfo`), so a record says which machine it comes from.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|x| x.1.trim().to_string())
        })
        .unwrap_or_default()
}

/// The filtered workload: each filter of `--filters` over the first 200 queries.
fn phase_filters(a: &Args, e: &Engine, id: uuid::Uuid) -> Value {
    use chroma_types::filter::{parse_where, parse_where_document};
    let Some(file) = &a.filters else { return Value::Null };
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(file).expect("read --filters")).expect("--filters is JSON");
    let (nq, dim, q) = npy_f32(&a.dataset.join("queries.npy"));
    let (n, _, base) = npy_f32(&a.dataset.join("base.npy"));
    let nq = nq.min(a.queries).min(200);
    let mut out = Vec::new();
    for case in &cases {
        let w = parse_where(case.get("where")).expect("where");
        let d = parse_where_document(case.get("where_document")).expect("where_document");
        let get = chroma_types::GetRequest {
            r#where: w.clone(),
            where_document: d.clone(),
            include: vec![],
            ..Default::default()
        };
        let rows: Vec<usize> = e.get(id, get).expect("get").ids.iter().filter_map(|s| s[2..].parse().ok()).collect();
        let (mut lat, mut hits, mut wanted) = (Vec::with_capacity(nq), 0usize, 0usize);
        for i in 0..nq {
            let v = &q[i * dim..(i + 1) * dim];
            let mut req = QueryRequest::new(vec![v.to_vec()], 10);
            req.r#where.clone_from(&w);
            req.where_document.clone_from(&d);
            let t = Instant::now();
            let r = e.query(id, req).expect("filtered query");
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let mut exact: Vec<(f32, usize)> = rows
                .iter()
                .map(|&row| {
                    let b = &base[row * dim..(row + 1) * dim];
                    (b.iter().zip(v).map(|(x, y)| (x - y) * (x - y)).sum::<f32>(), row)
                })
                .collect();
            let k = exact.len().min(10);
            if k > 0 {
                exact.select_nth_unstable_by(k - 1, |x, y| x.0.total_cmp(&y.0));
            }
            let truth: std::collections::HashSet<usize> = exact[..k].iter().map(|x| x.1).collect();
            wanted += k;
            hits += r.ids[0].iter().filter(|s| s[2..].parse::<usize>().is_ok_and(|x| truth.contains(&x))).count();
        }
        let first = lat.first().copied().unwrap_or(0.0);
        let line = json!({"name": case["name"], "matches": rows.len(), "first_ms": first,
            "p50_ms": pct(&mut lat.clone(), 50.0), "p99_ms": pct(&mut lat, 99.0),
            "recall@10": if wanted == 0 { 1.0 } else { hits as f64 / wanted as f64 }});
        eprintln!("  {line}");
        out.push(line);
    }
    let bytes = e.filter_index_bytes(id).unwrap_or(0);
    json!({"queries": nq, "cases": out, "filter_index_bytes": bytes,
           "filter_index_bytes_per_record": bytes as f64 / n.max(1) as f64})
}

fn main() {
    let a = parse_args();
    if let Some(p) = &a.phase {
        let v = match p.as_str() {
            "load" => phase_load(&a),
            "filters" => {
                let e = open(&a);
                let c = e.get_collection(DEFAULT_TENANT, DEFAULT_DATABASE, "bench").expect("get collection");
                phase_filters(&a, &e, c.id)
            }
            _ => phase_reopen(&a),
        };
        println!("{v}");
        return;
    }
    let exe = std::env::current_exe().expect("current exe");
    let run = |phase: &str| -> Value {
        let mut args: Vec<String> = std::env::args().skip(1).collect();
        args.extend(["--phase".to_string(), phase.to_string()]);
        let out = std::process::Command::new(&exe)
            .args(&args)
            .stderr(std::process::Stdio::inherit())
            .output()
            .expect("run phase");
        assert!(out.status.success(), "phase {phase} failed");
        let s = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(s.lines().last().unwrap_or("{}")).expect("phase output")
    };
    let ds = a.dataset.file_name().map(|s| s.to_string_lossy().to_string()).unwrap_or_default();
    eprintln!("[chroma-rs-bench] {} on {ds}: load phase", a.label);
    let mut res = json!({"label": a.label, "system": "chroma-rs", "dataset": ds,
                         "mode": if a.ephemeral { "ephemeral" } else { "persistent" }, "payload": "full",
                         "time": utc_now(), "version": VERSION,
                         "simd": chroma_index::distance::simd_level(), "cpu": cpu_model()});
    if a.ephemeral {
        // one process: nothing to reopen
        res["load"] = phase_load(&a);
    } else {
        res["load"] = run("load");
        res["disk_bytes"] = json!(tree_bytes(&a.path));
        eprintln!("[chroma-rs-bench] reopen phase (fresh process)");
        res["reopen"] = run("reopen");
        if a.filters.is_some() {
            eprintln!("[chroma-rs-bench] filters phase (fresh process)");
            res["filters"] = run("filters");
        }
    }
    let line = res.to_string();
    println!("{line}");
    if let Some(out) = &a.out {
        if let Some(dir) = out.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(out).expect("open --out");
        let _ = writeln!(f, "{line}");
    }
    let l = &res["load"];
    eprintln!(
        "add {:.0} rec/s | p50 {:.3} ms p99 {:.3} ms | recall@10 {:.3} | peak RSS {} MB",
        l["add_rec_s"].as_f64().unwrap_or(0.0),
        l["default"]["p50_ms"].as_f64().unwrap_or(0.0),
        l["default"]["p99_ms"].as_f64().unwrap_or(0.0),
        l["default"]["recall@10"].as_f64().unwrap_or(0.0),
        l["client_peak_rss"].as_u64().unwrap_or(0) / (1 << 20)
    );
    if let Some(r) = res.get("reopen") {
        eprintln!(
            "cold open to first query {:.3} s | ef10 recall {:.3} | ef100 recall {:.3} p50 {:.3} ms | disk {} MB",
            r["cold_open_s"].as_f64().unwrap_or(0.0),
            r["ef10"]["recall@10"].as_f64().unwrap_or(0.0),
            r["ef100"]["recall@10"].as_f64().unwrap_or(0.0),
            r["ef100"]["p50_ms"].as_f64().unwrap_or(0.0),
            res["disk_bytes"].as_u64().unwrap_or(0) / (1 << 20)
        );
    }
}
