//! Every corpus file of every target runs through its target as a plain test: the seeds
//! still parse as they did, and every regression input (a panic, stall or wrong answer the
//! fuzzer found and that was fixed) stays fixed.

use chroma_fuzz::engine::{load_corpus, run_one};
use std::time::Duration;

fn run_corpus(name: &str) {
    let t = chroma_fuzz::target(name).expect("target exists");
    let files = load_corpus(name);
    assert!(!files.is_empty(), "target {name} has no corpus in crates/fuzz/corpus/{name}/");
    let mut failures = Vec::new();
    for (path, bytes) in &files {
        // Debug builds are slower than the fuzzer's release build: a generous limit.
        if let Err(f) = run_one(&t, bytes, Duration::from_secs(60)) {
            failures.push(format!("{}: {f}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} corpus inputs fail:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

#[test]
fn every_target_has_a_test_here() {
    let here = include_str!("corpus.rs");
    for t in chroma_fuzz::all_targets() {
        assert!(
            here.contains(&format!("fn {}()", if t.name == "where" { "r#where" } else { t.name })),
            "no corpus test for target {}",
            t.name
        );
    }
}

#[test]
fn r#where() {
    run_corpus("where");
}

#[test]
fn where_document() {
    run_corpus("where_document");
}

#[test]
fn base64() {
    run_corpus("base64");
}

#[test]
fn requests() {
    run_corpus("requests");
}

#[test]
fn router() {
    run_corpus("router");
}

#[test]
fn graph() {
    run_corpus("graph");
}

#[test]
fn pickle() {
    run_corpus("pickle");
}

#[test]
fn python_json() {
    run_corpus("python_json");
}

#[test]
fn clickhouse_rows() {
    run_corpus("clickhouse_rows");
}

#[test]
fn parquet03() {
    run_corpus("parquet03");
}

#[test]
fn chroma04() {
    run_corpus("chroma04");
}
