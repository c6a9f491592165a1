//! Every legacy fixture (made by the real Chroma; expected.json = what that Chroma returns)
//! migrated into a temporary chroma-rs folder under each policy, and compared record by record.

mod common;

use std::collections::HashMap;
use std::path::Path;

use chroma_legacy::LegacyValue;
use chroma_migrate::{MigrateArgs, MigrateError, Policy, Report};
use chroma_types::MetadataValue;
use common::*;

/// Problem kinds each 0.3.29 fixture must produce (empty = migrates as is under `fail`).
fn expected_kinds(fixture: &str) -> Option<&'static [&'static str]> {
    Some(match fixture {
        "v0.3.29-main"
        | "v0.3.29-quirk-bool"
        | "v0.3.29-quirk-nul"
        | "v0.3.29-quirk-null-strings"
        | "v0.3.29-quirk-stale-index" => &[],
        "v0.3.29-quirk-bigint" => &["int_beyond_64_bits"],
        "v0.3.29-quirk-dup-ids" => &["duplicate_id"],
        "v0.3.29-quirk-empty-dict" => &["empty_metadata"],
        "v0.3.29-quirk-malformed" => &["malformed_metadata"],
        "v0.3.29-quirk-names" => &["bad_collection_name"],
        "v0.3.29-quirk-nan-inf" => &["nan_or_inf"],
        "v0.3.29-quirk-nested" => &["nested_metadata"],
        "v0.3.29-quirk-unicode" => &["lone_surrogate"],
        "v0.3.29-quirk-wrong-dim" => &["wrong_dimension"],
        n if n.starts_with("v0.4") || n.starts_with("v0.5") || n.starts_with("v1.") => &[],
        _ => return None,
    })
}

fn name(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

/// Compares the destination with expected.json: every record without a problem must be
/// there exactly; record counts must match the report; skipped collections must be absent.
fn compare(dir: &Path, dest: &Path, report: &Report) -> (usize, usize) {
    type Folder = (String, Option<chroma_types::Metadata>, Vec<Got>);
    let exp = load_expected(dir);
    let got = read_folder(dest);
    let by_id: HashMap<&str, (&String, &Folder)> = got.iter().map(|(k, v)| (v.0.as_str(), (k, v))).collect();
    let (mut colls, mut recs) = (0, 0);
    for ec in list(get(&exp, "collections")) {
        let id = s(get(ec, "id"));
        let cname = s(get(ec, "name"));
        let cr =
            report.collections.iter().find(|c| c.source_id == id).unwrap_or_else(|| panic!("{cname} not in report"));
        if cr.status == "skipped" {
            assert!(!by_id.contains_key(id.as_str()), "{cname}: skipped but present");
            continue;
        }
        assert!(cr.status.ends_with("verified"), "{cname}: status {}", cr.status);
        let (_, (_, md, records)) =
            by_id.get(id.as_str()).unwrap_or_else(|| panic!("{cname} ({id}) missing in destination"));
        colls += 1;
        assert_eq!(records.len() as u64, cr.records_expected, "{cname}: record count");
        let coll_problem = report.problems.iter().any(|p| p.collection_id == id && p.record_id.is_none());
        if !coll_problem {
            let em = exp_meta_json(get(ec, "metadata")).expect("collection metadata JSON");
            assert_eq!(em, meta_json(md.as_ref()), "{cname}: collection metadata");
        }
        if !matches!(get(ec, "get_error"), LegacyValue::Null) {
            continue;
        }
        let bad = problem_ids(report, &cname);
        for er in list(get(ec, "records")) {
            let rid = s(get(er, "id"));
            if bad.contains(&rid) {
                continue;
            }
            let g = records.iter().find(|g| g.id == rid).unwrap_or_else(|| panic!("{cname}: record {rid:?} missing"));
            // 0.3.x: exact after float32 rounding; >= 0.4: vectors come from hnswlib files.
            let tol = if name(dir).starts_with("v0.3") { 0.0 } else { 1e-5 };
            check_record_tol(&format!("{}/{cname}", name(dir)), er, g, tol);
            recs += 1;
        }
    }
    (colls, recs)
}

#[test]
fn every_fixture_migrates_under_coerce_and_matches_real_chroma() {
    let dirs = all_fixtures();
    assert!(dirs.len() >= 14, "fixtures missing: {dirs:?}");
    for dir in dirs {
        let out = tmp();
        let dest = out.path().join("dest");
        let r = migrate(&dir, &dest, Policy::Coerce).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let (c, n) = compare(&dir, &dest, &r);
        eprintln!(
            "{}: {c} collections, {n} records match expected.json; {} problems coerced/skipped",
            name(&dir),
            r.problems.len()
        );
    }
}

#[test]
fn fail_policy_stops_before_writing_and_lists_every_problem() {
    for dir in all_fixtures() {
        let Some(kinds_exp) = expected_kinds(&name(&dir)) else { continue };
        let out = tmp();
        let dest = out.path().join("dest");
        match migrate(&dir, &dest, Policy::Fail) {
            Ok(r) => {
                assert!(kinds_exp.is_empty(), "{}: expected problems {kinds_exp:?}", name(&dir));
                assert!(r.problems.is_empty());
                assert_eq!(r.outcome, "migrated, verified", "{}", name(&dir));
                compare(&dir, &dest, &r);
            }
            Err(MigrateError::Problems(r)) => {
                assert_eq!(
                    kinds(&r),
                    kinds_exp.iter().map(std::string::ToString::to_string).collect::<Vec<_>>(),
                    "{}",
                    name(&dir)
                );
                assert!(r.problems.iter().all(|p| p.action.starts_with("stop")));
                assert!(!dest.exists(), "{}: destination created although nothing may be written", name(&dir));
                let text = r.to_text();
                for p in &r.problems {
                    assert!(text.contains(&p.collection));
                    if let Some(id) = &p.record_id {
                        assert!(text.contains(&format!("{id:?}")), "{text}");
                    }
                }
            }
            Err(e) => panic!("{}: {e}", name(&dir)),
        }
    }
}

/// A new folder is checked and written in one pass; when the check finds a problem under
/// `fail`, what was written is removed again: an empty folder stays (empty), a missing one
/// stays missing, and a later `--on-invalid=skip` run into it works.
#[test]
fn fail_policy_in_the_single_pass_leaves_an_empty_folder_empty() {
    let dir = all_fixtures()
        .into_iter()
        .find(|d| expected_kinds(&name(d)).is_some_and(|k| !k.is_empty()))
        .expect("a fixture with problems");
    let out = tmp();
    let dest = out.path().join("empty");
    std::fs::create_dir(&dest).unwrap();
    assert!(matches!(migrate(&dir, &dest, Policy::Fail), Err(MigrateError::Problems(_))));
    assert!(dest.is_dir(), "the folder the user made is kept");
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 0, "and left empty");
    let r = migrate(&dir, &dest, Policy::Skip).unwrap();
    assert!(!r.problems.is_empty() && r.problems.iter().all(|p| !p.action.starts_with("stop")), "{}", r.outcome);
}

#[test]
fn skip_policy_drops_exactly_the_offending_records_or_collections() {
    for dir in all_fixtures() {
        if expected_kinds(&name(&dir)).is_none() {
            continue;
        }
        let out = tmp();
        let dest = out.path().join("dest");
        let r = migrate(&dir, &dest, Policy::Skip).unwrap_or_else(|e| panic!("{}: {e}", name(&dir)));
        assert!(r.problems.iter().all(|p| p.action.starts_with("skipped")), "{}", name(&dir));
        compare(&dir, &dest, &r);
        let got = read_folder(&dest);
        match name(&dir).as_str() {
            "v0.3.29-quirk-dup-ids" => {
                let recs = &got["dups"].2;
                assert_eq!(recs.len(), 2);
                assert_eq!(
                    recs.iter().find(|g| g.id == "d1").and_then(|g| g.document.clone()).as_deref(),
                    Some("first d1")
                );
            }
            "v0.3.29-quirk-nan-inf" => {
                let ids: Vec<&str> = got["nan_inf"].2.iter().map(|g| g.id.as_str()).collect();
                assert_eq!(ids, ["ok"]);
                assert_eq!(r.records_skipped, 3);
            }
            "v0.3.29-quirk-wrong-dim" => assert_eq!(got["wrong_dim"].2.len(), 2),
            "v0.3.29-quirk-names" | "v0.3.29-quirk-bigint" | "v0.3.29-quirk-nested" | "v0.3.29-quirk-empty-dict" => {
                // collection-level problem: the whole collection is skipped
                assert!(got.is_empty(), "{}: {:?}", name(&dir), got.keys());
                assert!(r.problems.iter().any(|p| p.action == "skipped collection"));
            }
            "v0.3.29-quirk-malformed" => {
                assert_eq!(problem_ids(&r, "malformed").len(), 2, "{:?}", r.problems);
            }
            _ => {}
        }
    }
}

fn md<'a>(g: &'a [Got], id: &str) -> &'a chroma_types::Metadata {
    g.iter().find(|x| x.id == id).and_then(|x| x.metadata.as_ref()).unwrap_or_else(|| panic!("{id}: no metadata"))
}

#[test]
fn coerce_policy_changes_values_as_documented() {
    let run = |f: &str| {
        let out = tmp();
        let dest = out.path().join("dest");
        let r = migrate(&fixture(f), &dest, Policy::Coerce).expect(f);
        assert!(r.problems.iter().all(|p| p.action.starts_with("coerced") || p.action.contains("cannot be coerced")));
        (read_folder(&dest), r, out)
    };
    let (g, r, _o) = run("v0.3.29-quirk-bigint");
    let recs = &g["bigint"].2;
    assert_eq!(md(recs, "b1")["v"], MetadataValue::Str("18446744073709551616".into()));
    assert_eq!(md(recs, "b2")["v"], MetadataValue::Str("-1208925819614629174706176".into()));
    assert_eq!(md(recs, "b4")["v"], MetadataValue::Int(i64::MAX));
    assert_eq!(
        g["bigint"].1.as_ref().map(|m| m["huge"].clone()),
        Some(MetadataValue::Str("1180591620717411303424".into()))
    );
    assert_eq!(r.records_coerced, 3);

    let (g, _, _o) = run("v0.3.29-quirk-nan-inf");
    let recs = &g["nan_inf"].2;
    assert_eq!(recs.len(), 4);
    assert!(recs.iter().find(|x| x.id == "nan").is_some_and(|x| x.metadata.is_none()));
    assert_eq!(md(recs, "inf").len(), 1);
    assert_eq!(md(recs, "inf")["w"], MetadataValue::Int(1));

    let (g, _, _o) = run("v0.3.29-quirk-nested");
    let recs = &g["nested"].2;
    assert_eq!(md(recs, "n1")["list"], MetadataValue::IntArray(vec![1, 2]));
    assert!(matches!(&md(recs, "n1")["outer"], MetadataValue::Str(s) if s.contains("inner")));
    assert_eq!(g["nested"].1.as_ref().map(|m| m["cfg"].clone()), Some(MetadataValue::Str("{\"k\":\"v\"}".into())));

    let (g, _, _o) = run("v0.3.29-quirk-names");
    assert!(g.contains_key("ab-337b7cbc"), "{:?}", g.keys());

    let (g, _, _o) = run("v0.3.29-quirk-dup-ids");
    let recs = &g["dups"].2;
    assert_eq!(recs.len(), 3);
    assert_eq!(recs.iter().find(|x| x.id == "d1#dup1").and_then(|x| x.document.as_deref()), Some("second d1"));

    let (g, _, _o) = run("v0.3.29-quirk-empty-dict");
    assert_eq!(g["empty_dict"].1, None);
    assert!(g["empty_dict"].2.iter().find(|x| x.id == "e1").is_some_and(|x| x.metadata.is_none()));

    let (g, _, _o) = run("v0.3.29-quirk-unicode");
    assert_eq!(md(&g["unicode"].2, "lone")["s"], MetadataValue::Str("\u{fffd}".into()));

    let (g, r, _o) = run("v0.3.29-quirk-malformed");
    let recs = &g["malformed"].2;
    assert_eq!(
        recs.iter().filter(|x| x.metadata.as_ref().is_some_and(|m| m.contains_key("legacy_metadata"))).count(),
        2
    );
    assert_eq!(r.records_coerced, 2);

    let (g, r, _o) = run("v0.3.29-quirk-wrong-dim");
    assert_eq!(g["wrong_dim"].2.len(), 2);
    assert!(r.problems.iter().any(|p| p.kind == "wrong_dimension" && p.record_id.as_deref() == Some("w5")));
}

#[test]
fn nul_bytes_and_unicode_are_held_exactly() {
    let out = tmp();
    let dest = out.path().join("dest");
    let r = migrate(&fixture("v0.3.29-quirk-nul"), &dest, Policy::Fail).expect("nul");
    assert!(r.problems.is_empty());
    let g = read_folder(&dest);
    let rec = g["nul_bytes"].2.iter().find(|x| x.id == "nul\0id").expect("id with NUL");
    assert_eq!(rec.document.as_deref(), Some("doc\0with nul"));
    let m = rec.metadata.as_ref().expect("metadata");
    assert_eq!(m["k"], MetadataValue::Str("v\0v".into()));
    assert_eq!(m["k\0"], MetadataValue::Int(1));
}

#[test]
fn dry_run_writes_nothing() {
    let out = tmp();
    let dest = out.path().join("dest");
    let mut a = args(&fixture("v0.3.29-main"), &dest, Policy::Fail);
    a.dry_run = true;
    let r = chroma_migrate::run(a).expect("dry run");
    assert!(r.dry_run && r.outcome.starts_with("dry run"), "{}", r.outcome);
    assert_eq!(r.records_written, 0);
    assert!(r.records > 0);
    assert!(!dest.exists());
    // also with problems and a coerce policy
    let mut a = args(&fixture("v0.3.29-quirk-nan-inf"), &dest, Policy::Coerce);
    a.dry_run = true;
    let r = chroma_migrate::run(a).expect("dry run");
    assert_eq!(r.problems.len(), 3);
    assert!(!dest.exists());
}

#[test]
fn interrupted_run_resumes_and_a_second_run_changes_nothing() {
    let out = tmp();
    let dest = out.path().join("dest");
    let src = fixture("v0.3.29-main");
    let mut a = args(&src, &dest, Policy::Fail);
    a.batch_size = Some(2);
    a.max_records = Some(5);
    match chroma_migrate::run(a.clone()) {
        Err(MigrateError::Interrupted { written, .. }) => assert_eq!(written, 5),
        other => panic!("expected an interruption, got {other:?}"),
    }
    let partial: usize = read_folder(&dest).values().map(|c| c.2.len()).sum();
    assert_eq!(partial, 5);
    a.max_records = None;
    let r = chroma_migrate::run(a.clone()).expect("resume");
    assert_eq!(r.outcome, "migrated, verified");
    assert!(r.collections.iter().any(|c| c.status == "completed (resumed), verified"), "{:?}", r.collections);
    compare(&src, &dest, &r);
    let total: u64 = r.collections.iter().map(|c| c.records_expected).sum();
    let now: usize = read_folder(&dest).values().map(|c| c.2.len()).sum();
    assert_eq!(now as u64, total, "no duplicates, nothing lost");
    let again = chroma_migrate::run(a).expect("second run");
    assert_eq!(again.outcome, "already migrated, verified: nothing changed");
    assert_eq!(again.records_written, 0);
    assert!(again.collections.iter().all(|c| c.status == "already migrated, verified"));
    assert!(again.to_text().contains("already migrated, verified"));
}

#[test]
fn stale_index_is_reported() {
    let out = tmp();
    let r = migrate(&fixture("v0.3.29-quirk-stale-index"), &out.path().join("d"), Policy::Fail).expect("stale");
    let w = r.warnings.join("\n");
    assert!(w.contains("index/") && w.contains("cannot be recovered") || w.contains("lost"), "{w}");
}

#[test]
fn a_foreign_collection_in_the_way_is_a_conflict_and_nothing_is_written() {
    use chroma_types::{ChromaApi, CreateCollection, Settings};
    let out = tmp();
    let dest = out.path().join("dest");
    {
        let e = chroma_store::Engine::open(&dest, Settings::default()).expect("open");
        e.create_collection("default_tenant", "default_database", CreateCollection::new("l2_coll")).expect("create");
    }
    match migrate(&fixture("v0.3.29-main"), &dest, Policy::Fail) {
        Err(MigrateError::Conflict(m)) => assert!(m.contains("l2_coll"), "{m}"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(read_folder(&dest).len(), 1);
}

#[test]
fn report_json_is_written() {
    let out = tmp();
    let mut a = args(&fixture("v0.3.29-quirk-nan-inf"), &out.path().join("d"), Policy::Fail);
    let jf = out.path().join("report.json");
    a.report_json = Some(jf.clone());
    assert!(matches!(chroma_migrate::run(a), Err(MigrateError::Problems(_))));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&jf).expect("json file")).expect("json");
    assert_eq!(v["problems"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["problems"][0]["collection"], "nan_inf");
}

#[test]
fn cli_arguments_and_no_terminal() {
    let a = MigrateArgs::parse_from([
        "--from",
        "old",
        "--to",
        "new",
        "--dry-run",
        "--on-invalid=coerce",
        "--header",
        "X-A:1",
        "--header",
        "X-B: 2",
        "--token",
        "t",
        "--ch-user",
        "u",
        "--ch-password",
        "p",
        "--yes",
    ])
    .expect("parse");
    assert_eq!(a.on_invalid, Policy::Coerce);
    assert!(a.dry_run && a.yes);
    assert_eq!(a.headers, ["X-A:1", "X-B: 2"]);
    assert!(MigrateArgs::parse_from(["--on-invalid=maybe"]).is_err());
    // cargo test's stdin is not a terminal here (and never in CI)
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let e = chroma_migrate::run(MigrateArgs::default()).unwrap_err();
        assert_eq!(e.to_string(), "--from is required when not running on a terminal");
    }
    let out = tmp();
    let e = migrate(&out.path().join("nothing"), &out.path().join("d"), Policy::Fail).unwrap_err();
    assert!(e.to_string().contains("does not exist"), "{e}");
    let e = migrate(&fixture("v0.3.29-main"), &fixture("v0.3.29-quirk-bool"), Policy::Fail).unwrap_err();
    assert!(e.to_string().contains("legacy"), "{e}");
}
