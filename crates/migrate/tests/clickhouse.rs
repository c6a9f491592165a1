//! 0.3.x `ClickHouse` source against a real Debian clickhouse-server on 127.0.0.1, started by
//! `scripts/fixtures/start-clickhouse.sh` (or named by `CHROMA_RS_CLICKHOUSE_URL`). The tables are made with the DDL chromadb 0.3.x used
//! and filled with the rows the real chromadb 0.3.29 wrote (tests/fixtures/legacy/clickhouse-0.3.29);
//! the result must equal what real 0.3.29 returned for the same data (the parquet fixture's
//! expected.json). Skipped (with a message) only when clickhouse-server is not installed.

mod common;

use chroma_migrate::{MigrateArgs, MigrateError, Policy};
use common::*;

#[test]
fn clickhouse_sources_migrate_like_real_chroma() {
    let Some(port) = clickhouse_port() else { return };
    let root = fixtures_dir().join("clickhouse-0.3.29");
    for (fx, policy) in [
        ("v0.3.29-main", Policy::Fail),
        ("v0.3.29-quirk-nan-inf", Policy::Coerce),
        ("v0.3.29-quirk-dup-ids", Policy::Skip),
    ] {
        let db = format!("mig_{}", fx.replace(['.', '-'], "_"));
        clickhouse_load(port, &db, &root.join(fx));
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
