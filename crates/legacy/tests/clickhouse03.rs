//! `ClickHouse` 0.3.x reader against a real Debian clickhouse-server on 127.0.0.1.
//! Tables are created with the DDL chromadb 0.3.x uses and filled with exactly the rows the real
//! chromadb 0.3.29 wrote to its parquet fixtures (chromadb 0.3.29 cannot write to `ClickHouse`
//! 18.16 unpatched). Skips (with a message) only when clickhouse-server is not installed.

mod common;

use std::path::PathBuf;

use chroma_legacy::{open_clickhouse03, ClickHouseConfig, LegacySource, Quirk, SourceKind};
use common::*;

#[test]
fn clickhouse_stores_match_real_chroma() {
    let Some(port) = clickhouse_port() else { return };
    let root = fixtures_dir().join("clickhouse-0.3.29");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).expect("dir").filter_map(std::result::Result::ok).map(|e| e.path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    for dir in dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        let db = format!("legacy_{}_{}", name.replace(['.', '-'], "_"), std::process::id());
        clickhouse_load(port, &db, &dir);
        let cfg = ClickHouseConfig { database: db.clone(), ..ClickHouseConfig::new("127.0.0.1", port) };
        let mut src = open_clickhouse03(cfg.clone()).expect("open");
        assert_eq!(src.kind(), SourceKind::ClickHouse03);
        let expected_dir = fixtures_dir().join(&name);
        for batch in [1, 2, 500] {
            let mut src = open_clickhouse03(cfg.clone()).expect("open");
            let (c, r) = compare_with_expected(&expected_dir, &mut src, 0.0, batch);
            if batch == 500 {
                eprintln!("clickhouse {name}: {c} collections, {r} records match real chroma 0.3.29");
            }
        }
        if name.ends_with("malformed") {
            let cs = src.collections().expect("collections");
            let recs = read_all(&mut src, &cs[0], 10);
            assert!(recs.iter().any(|r| r.quirks.iter().any(|q| matches!(q, Quirk::MetadataMalformedJson { .. }))));
        }
        if name.ends_with("nan-inf") {
            let cs = src.collections().expect("collections");
            let recs = read_all(&mut src, &cs[0], 10);
            assert!(recs.iter().any(|r| r.quirks.contains(&Quirk::NonFiniteFloat { key: "v".into() })));
        }
        clickhouse_exec(port, &format!("DROP DATABASE IF EXISTS {db}"), b"");
    }
}

#[test]
fn clickhouse_errors_are_reported() {
    let Some(port) = clickhouse_port() else { return };
    let cfg = ClickHouseConfig { database: "system".into(), ..ClickHouseConfig::new("127.0.0.1", port) };
    match open_clickhouse03(cfg) {
        Err(e) => assert!(e.to_string().contains("no table"), "{e}"),
        Ok(_) => panic!("system database is not a chroma store"),
    }
    // nothing listens on port 1
    assert!(open_clickhouse03(ClickHouseConfig::new("127.0.0.1", 1)).is_err());
}
