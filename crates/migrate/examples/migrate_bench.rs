//! Migration benchmark: a 0.3.x duckdb+parquet folder into a new chroma-rs folder.
//!
//! ```text
//! .venvs/fixture-0.3.29/bin/python crates/migrate/examples/make_legacy03_bench.py bench-data/legacy-03-100k 100000 384
//! CARGO_TARGET_DIR=/work/target-migrate cargo run --release -p chroma-migrate --example migrate_bench -- bench-data/legacy-03-100k
//! ```
//! Prints records/s (whole run and per phase: read-and-check, write, index build, verify) and
//! the peak resident memory (`VmHWM`), beside chroma-migrate 0.0.7's 76 records/s (20k x 384,
//! measured on this machine, see the legacy spec). Args: SRC [DEST] [--batch-size N].

use std::path::PathBuf;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut batch = None;
    let build_index = args.iter().any(|a| a == "--build-index");
    args.retain(|a| a != "--build-index");
    if let Some(i) = args.iter().position(|a| a == "--batch-size") {
        batch = args.get(i + 1).and_then(|s| s.parse::<usize>().ok());
        args.drain(i..(i + 2).min(args.len()));
    }
    let src = PathBuf::from(args.first().cloned().unwrap_or_else(|| "bench-data/legacy-03-100k".into()));
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = args.get(1).map_or_else(|| tmp.path().join("dest"), PathBuf::from);
    let before = vm_hwm_kib().unwrap_or(0);
    let a = chroma_migrate::MigrateArgs {
        from: Some(src.display().to_string()),
        to: Some(dest.display().to_string()),
        quiet: true,
        yes: true,
        batch_size: batch,
        build_index,
        ..Default::default()
    };
    let t = std::time::Instant::now();
    let r = match chroma_migrate::run(a) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("migration failed: {e}");
            std::process::exit(1);
        }
    };
    let secs = t.elapsed().as_secs_f64();
    let hwm = vm_hwm_kib().unwrap_or(0);
    let n = r.records as f64;
    let sum = |f: fn(&chroma_migrate::CollectionReport) -> f64| r.collections.iter().map(f).sum::<f64>();
    let (check, write, index, verify) =
        (sum(|c| c.check_seconds), sum(|c| c.write_seconds), sum(|c| c.index_seconds), sum(|c| c.verify_seconds));
    let rate = |s: f64| if s > 0.0 { n / s } else { 0.0 };
    println!("{}", r.outcome);
    println!(
        "records: {}  bytes: {}  total: {secs:.2} s  => {:.0} records/s (chroma-migrate 0.0.7: 76 records/s)",
        r.records,
        r.bytes,
        rate(secs)
    );
    if (check - write).abs() < 1e-9 {
        println!(
            "  read, check and write (one pipelined pass into a new folder): {write:.2} s ({:.0} rec/s)",
            rate(write)
        );
    } else {
        println!("  read+check pass: {check:.2} s ({:.0} rec/s)", rate(check));
        println!("  write pass (bulk add): {write:.2} s ({:.0} rec/s)", rate(write));
    }
    if index > 0.01 {
        println!("  HNSW graph (--build-index, all cores): {index:.2} s ({:.0} rec/s)", rate(index));
    }
    println!("  verify (read back + checksum): {verify:.2} s ({:.0} rec/s)", rate(verify));
    if index > 0.01 {
        println!("  without the graph build: {:.0} records/s", rate(secs - index));
    }
    println!("peak RSS (VmHWM): {:.1} MiB (at start {:.1} MiB)", hwm as f64 / 1024.0, before as f64 / 1024.0);
    let json = serde_json::json!({
        "records": r.records, "seconds": secs, "records_per_second": rate(secs),
        "check_seconds": check, "write_seconds": write, "index_seconds": index, "verify_seconds": verify,
        "peak_rss_kib": hwm, "baseline_chroma_migrate_records_per_second": 76,
    });
    println!("{json}");
}
