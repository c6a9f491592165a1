//! Figures for the capacity model of `docs/scale-out.md` (not a timed test: `#[ignore]`d; run with
//! `cargo test --release -p chroma-cluster --test capacity -- --ignored --nocapture`,
//! `CAPACITY_N` records of `CAPACITY_DIM` dimensions, default 20,000 x 384).

mod common;

use chroma_types::{AddRequest, ChromaApi, CreateCollection, QueryRequest, DEFAULT_DATABASE as D, DEFAULT_TENANT as T};
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU seconds used so far by every `postgres` process (the server and its backends).
fn postgres_cpu_s() -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0.0;
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else { continue };
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        if !head.contains("(postgres") {
            continue;
        }
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() > 13 {
            total += (f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0)) / tick;
        }
    }
    total
}

fn vector(i: usize, dim: usize) -> Vec<f32> {
    let mut s = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 10_000) as f32 / 10_000.0
        })
        .collect()
}

#[test]
#[ignore = "measurement, not a check"]
fn capacity_figures() {
    let Some(base) = common::base_url() else { return };
    let (n, dim, batch) = (env("CAPACITY_N", 20_000), env("CAPACITY_DIM", 384), 1000);
    let url = common::fresh_db(&base, "capacity");
    let writer = common::node(&url);
    let coll = writer.create_collection(T, D, CreateCollection::new("capacity")).unwrap();
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    // A second node, warm at position 0 and not listening: its catch-up is timed below.
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.listen = false;
    let behind = chroma_cluster::Cluster::open(o).unwrap();
    assert_eq!(behind.count(coll.id).unwrap(), 0);
    let cpu0 = postgres_cpu_s();
    let t = Instant::now();
    for start in (0..n).step_by(batch) {
        let ids = (start..(start + batch).min(n)).map(|i| format!("id{i}")).collect::<Vec<_>>();
        let embs = (start..(start + batch).min(n)).map(|i| vector(i, dim)).collect();
        writer.add(coll.id, AddRequest::new(ids, embs)).unwrap();
    }
    let add_s = t.elapsed().as_secs_f64();
    let pg_cpu = postgres_cpu_s() - cpu0;
    let mut bytes = |table: &str| -> i64 {
        pg.query_one(&format!("SELECT pg_total_relation_size('{table}')"), &[]).unwrap().get(0)
    };
    let (records_b, log_b) = (bytes("chroma_records"), bytes("chroma_log"));
    let t = Instant::now();
    assert_eq!(behind.count(coll.id).unwrap(), n);
    let catch_up_s = t.elapsed().as_secs_f64();
    let rss0 = rss_kib();
    let cold = common::node(&url);
    let t = Instant::now();
    assert_eq!(cold.count(coll.id).unwrap(), n);
    let cold_s = t.elapsed().as_secs_f64();
    let rss1 = rss_kib();
    let mut lat = Vec::new();
    for i in 0..200 {
        let t = Instant::now();
        cold.query(coll.id, QueryRequest::new(vec![vector(i * 7, dim)], 10)).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "capacity: n={n} dim={dim}: add {:.0} rec/s ({add_s:.1} s, batches of {batch}); PostgreSQL CPU {:.1} µs/record; \
         chroma_records {:.0} B/record, chroma_log {:.0} B/record; catch-up by replay {:.0} rec/s; cold load {cold_s:.2} s \
         ({:.0} rec/s); node RSS +{:.0} B/record for the cold-loaded cache; warm query p50 {:.2} ms",
        n as f64 / add_s,
        pg_cpu * 1e6 / n as f64,
        records_b as f64 / n as f64,
        log_b as f64 / n as f64,
        n as f64 / catch_up_s,
        n as f64 / cold_s,
        (rss1.saturating_sub(rss0) * 1024) as f64 / n as f64,
        lat[lat.len() / 2],
    );
}
