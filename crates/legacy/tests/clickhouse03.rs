//! ClickHouse 0.3.x reader against a real Debian clickhouse-server on 127.0.0.1.
//! Tables are created with the DDL chromadb 0.3.x uses and filled with exactly the rows the real
//! chromadb 0.3.29 wrote to its parquet fixtures (chromadb 0.3.29 cannot write to ClickHouse
//! 18.16 unpatched). Skips (with a message) only when clickhouse-server is not installed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chroma_legacy::{open_clickhouse03, ClickHouseConfig, LegacySource, Quirk, SourceKind};
use common::*;

const BIN: &str = "/usr/sbin/clickhouse-server";

fn start() -> Option<u16> {
    // scripts/test.sh starts the server once and exports its URL
    if let Ok(url) = std::env::var("CHROMA_RS_CLICKHOUSE_URL") {
        if let Some(port) = url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()) {
            return Some(port);
        }
    }
    if !Path::new(BIN).exists() {
        eprintln!(
            "SKIPPED: {BIN} is not installed (Debian package clickhouse-server; \
             scripts/fixtures/start-clickhouse.sh installs and starts it)"
        );
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixtures/start-clickhouse.sh");
    let out = Command::new("bash").arg(&script).output().expect("run start-clickhouse.sh");
    assert!(out.status.success(), "start-clickhouse.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    let port = String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().parse().expect("port");
    Some(port)
}

fn exec(port: u16, sql: &str, body: Option<&[u8]>) {
    let url = format!("http://127.0.0.1:{port}/?query={}", enc(sql));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.post(&url).send(body.unwrap_or(b"")).expect("http");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "{sql}: {text}");
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn load(port: u16, db: &str, dir: &Path) {
    exec(port, &format!("DROP DATABASE IF EXISTS {db}"), None);
    exec(port, &format!("CREATE DATABASE {db}"), None);
    exec(port, &format!("CREATE TABLE {db}.collections (uuid UUID, name String, metadata String) ENGINE = MergeTree() ORDER BY uuid"), None);
    exec(port, &format!("CREATE TABLE {db}.embeddings (collection_uuid UUID, uuid UUID, embedding Array(Float64), document Nullable(String), id Nullable(String), metadata Nullable(String)) ENGINE = MergeTree() ORDER BY collection_uuid"), None);
    for t in ["collections", "embeddings"] {
        let body = std::fs::read(dir.join(format!("{t}.jsonl"))).expect("jsonl");
        exec(port, &format!("INSERT INTO {db}.{t} FORMAT JSONEachRow"), Some(&body));
    }
}

#[test]
fn clickhouse_stores_match_real_chroma() {
    let Some(port) = start() else { return };
    let root = fixtures_dir().join("clickhouse-0.3.29");
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(&root).expect("dir").filter_map(|e| e.ok()).map(|e| e.path()).collect();
    dirs.sort();
    assert!(dirs.len() >= 5);
    for dir in dirs {
        let name = dir.file_name().and_then(|n| n.to_str()).expect("name").to_string();
        let db = format!("legacy_{}_{}", name.replace(['.', '-'], "_"), std::process::id());
        load(port, &db, &dir);
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
        exec(port, &format!("DROP DATABASE IF EXISTS {db}"), None);
    }
}

#[test]
fn clickhouse_errors_are_reported() {
    let Some(port) = start() else { return };
    let cfg = ClickHouseConfig { database: "system".into(), ..ClickHouseConfig::new("127.0.0.1", port) };
    match open_clickhouse03(cfg) {
        Err(e) => assert!(e.to_string().contains("no table"), "{e}"),
        Ok(_) => panic!("system database is not a chroma store"),
    }
    // nothing listens on port 1
    assert!(open_clickhouse03(ClickHouseConfig::new("127.0.0.1", 1)).is_err());
}
