//! Test helpers shared by this crate's tests and chroma-migrate's (feature `testing`): the
//! fixtures under `tests/fixtures/legacy` (written by real Chroma releases) with their
//! `expected.json` (what that release read back), and a 0.3.x `ClickHouse` store loaded from
//! the rows real chromadb 0.3.29 wrote.

use std::path::{Path, PathBuf};
use std::process::Command;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use crate::{parse_python_json, LegacyValue};

/// `tests/fixtures/legacy` of the workspace.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/legacy")
}

/// One fixture folder.
pub fn fixture(name: &str) -> PathBuf {
    fixtures_dir().join(name)
}

/// A fixture's `expected.json`.
pub fn load_expected(dir: &Path) -> LegacyValue {
    let text = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
    parse_python_json(&text).expect("expected.json parses")
}

/// `v[k]`, or null.
pub fn get<'a>(v: &'a LegacyValue, k: &str) -> &'a LegacyValue {
    match v {
        LegacyValue::Map(m) => m.get(k).unwrap_or(&LegacyValue::Null),
        _ => &LegacyValue::Null,
    }
}

/// A string value (panics on anything else).
pub fn s(v: &LegacyValue) -> String {
    match v {
        LegacyValue::Str(s) => s.clone(),
        LegacyValue::BrokenStr { lossy, .. } => lossy.clone(),
        other => panic!("expected a string, got {other:?}"),
    }
}

/// A list value; null is the empty list (panics on anything else).
pub fn list(v: &LegacyValue) -> &[LegacyValue] {
    match v {
        LegacyValue::List(l) => l,
        LegacyValue::Null => &[],
        other => panic!("expected a list, got {other:?}"),
    }
}

/// The port of a `ClickHouse` server for the tests: `CHROMA_RS_CLICKHOUSE_URL` (set by
/// `scripts/test.sh`), else one started by `scripts/fixtures/start-clickhouse.sh`. `None`
/// (with a message) when clickhouse-server is not installed: the test is skipped.
pub fn clickhouse_port() -> Option<u16> {
    const BIN: &str = "/usr/sbin/clickhouse-server";
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

/// Runs one statement on the `ClickHouse` server at `port` (`body`: data for an INSERT).
pub fn clickhouse_exec(port: u16, sql: &str, body: &[u8]) {
    let url = format!("http://127.0.0.1:{port}/?query={}", utf8_percent_encode(sql, NON_ALPHANUMERIC));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.post(&url).send(body).expect("http");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "{sql}: {text}");
}

/// (Re)creates database `db` with chromadb 0.3.x's tables (its DDL) and fills them from
/// `dir`'s `collections.jsonl` and `embeddings.jsonl`.
pub fn clickhouse_load(port: u16, db: &str, dir: &Path) {
    clickhouse_exec(port, &format!("DROP DATABASE IF EXISTS {db}"), b"");
    clickhouse_exec(port, &format!("CREATE DATABASE {db}"), b"");
    clickhouse_exec(
        port,
        &format!(
            "CREATE TABLE {db}.collections (uuid UUID, name String, metadata String) ENGINE = MergeTree() ORDER BY uuid"
        ),
        b"",
    );
    clickhouse_exec(
        port,
        &format!(
            "CREATE TABLE {db}.embeddings (collection_uuid UUID, uuid UUID, embedding Array(Float64), \
             document Nullable(String), id Nullable(String), metadata Nullable(String)) \
             ENGINE = MergeTree() ORDER BY collection_uuid"
        ),
        b"",
    );
    for t in ["collections", "embeddings"] {
        let body = std::fs::read(dir.join(format!("{t}.jsonl"))).expect("jsonl");
        clickhouse_exec(port, &format!("INSERT INTO {db}.{t} FORMAT JSONEachRow"), &body);
    }
}
