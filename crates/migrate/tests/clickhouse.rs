//! 0.3.x ClickHouse source against a real Debian clickhouse-server on 127.0.0.1, started by
//! scripts/fixtures/start-clickhouse.sh. The tables are made with the DDL chromadb 0.3.x used
//! and filled with the rows the real chromadb 0.3.29 wrote (tests/fixtures/legacy/clickhouse-0.3.29);
//! the result must equal what real 0.3.29 returned for the same data (the parquet fixture's
//! expected.json). Skipped (with a message) only when clickhouse-server is not installed.

mod common;

use std::path::Path;
use std::process::Command;

use chroma_migrate::{MigrateArgs, MigrateError, Policy};
use common::*;

const BIN: &str = "/usr/sbin/clickhouse-server";

fn start() -> Option<u16> {
    if !Path::new(BIN).exists() {
        eprintln!("SKIPPED: {BIN} is not installed (scripts/fixtures/start-clickhouse.sh installs and starts it)");
        return None;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/fixtures/start-clickhouse.sh");
    let out = Command::new("bash").arg(&script).output().expect("run start-clickhouse.sh");
    assert!(out.status.success(), "start-clickhouse.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    Some(String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or("").trim().parse().expect("port"))
}

fn enc(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn exec(port: u16, sql: &str, body: &[u8]) {
    let url = format!("http://127.0.0.1:{port}/?query={}", enc(sql));
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut r = agent.post(&url).send(body).expect("http");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "{sql}: {text}");
}

fn load(port: u16, db: &str, dir: &Path) {
    exec(port, &format!("DROP DATABASE IF EXISTS {db}"), b"");
    exec(port, &format!("CREATE DATABASE {db}"), b"");
    exec(port, &format!("CREATE TABLE {db}.collections (uuid UUID, name String, metadata String) ENGINE = MergeTree() ORDER BY uuid"), b"");
    exec(port, &format!("CREATE TABLE {db}.embeddings (collection_uuid UUID, uuid UUID, embedding Array(Float64), document Nullable(String), id Nullable(String), metadata Nullable(String)) ENGINE = MergeTree() ORDER BY collection_uuid"), b"");
    for t in ["collections", "embeddings"] {
        let body = std::fs::read(dir.join(format!("{t}.jsonl"))).expect("jsonl");
        exec(port, &format!("INSERT INTO {db}.{t} FORMAT JSONEachRow"), &body);
    }
}

#[test]
fn clickhouse_sources_migrate_like_real_chroma() {
    let Some(port) = start() else { return };
    let root = fixtures_dir().join("clickhouse-0.3.29");
    for (fx, policy) in [
        ("v0.3.29-main", Policy::Fail),
        ("v0.3.29-quirk-nan-inf", Policy::Coerce),
        ("v0.3.29-quirk-dup-ids", Policy::Skip),
    ] {
        let db = format!("mig_{}", fx.replace(['.', '-'], "_"));
        load(port, &db, &root.join(fx));
        let out = tmp();
        let dest = out.path().join("dest");
        let r = chroma_migrate::run(MigrateArgs {
            from: Some(format!("clickhouse://127.0.0.1:{port}/{db}")),
            to: Some(dest.display().to_string()),
            on_invalid: policy,
            quiet: true,
            batch_size: Some(4),
            ..Default::default()
        })
        .unwrap_or_else(|e| panic!("{fx}: {e}"));
        assert!(r.outcome.starts_with("migrated, verified"), "{fx}: {}", r.to_text());
        let exp = load_expected(&fixture(fx));
        let got = read_folder(&dest);
        for ec in list(get(&exp, "collections")) {
            let name = s(get(ec, "name"));
            let (id, _, recs) = &got[&name];
            assert_eq!(*id, s(get(ec, "id")), "{fx}/{name}: collection id kept");
            let bad = problem_ids(&r, &name);
            for er in list(get(ec, "records")) {
                let rid = s(get(er, "id"));
                if bad.contains(&rid) {
                    continue;
                }
                let g = recs.iter().find(|g| g.id == rid).unwrap_or_else(|| panic!("{fx}/{name}/{rid} missing"));
                check_record(&format!("{fx}/{name}"), er, g);
            }
        }
    }
    // fail policy on a quirky ClickHouse store: nothing written
    let out = tmp();
    let dest = out.path().join("dest");
    let db = "mig_v0_3_29_quirk_nan_inf";
    let e = chroma_migrate::run(MigrateArgs {
        from: Some(format!("clickhouse://127.0.0.1:{port}/{db}")),
        to: Some(dest.display().to_string()),
        quiet: true,
        ..Default::default()
    })
    .unwrap_err();
    assert!(matches!(e, MigrateError::Problems(_)), "{e}");
    assert!(!dest.exists());
}
