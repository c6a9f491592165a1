//! 0.3.29 duckdb+parquet fixtures (made by the real chromadb 0.3.29) read by our reader and
//! compared with what the real 0.3.29 returned for them (expected.json).

mod common;

use chroma_legacy::{detect_folder, open_parquet03, LegacyError, LegacySource, LegacyValue, Quirk, SourceKind};
use common::*;

fn quirks_of(dir: &str, coll: &str) -> Vec<(String, Vec<Quirk>)> {
    let mut src = open_parquet03(&fixture(dir)).expect("open");
    let cs = src.collections().expect("collections");
    let c = cs.iter().find(|c| c.name == coll).expect("collection").clone();
    read_all(&mut src, &c, 100).into_iter().map(|r| (r.id, r.quirks)).collect()
}

#[test]
fn every_v03_fixture_matches_real_chroma() {
    let dirs = fixtures_with_prefix("v0.3.29-");
    assert!(dirs.len() >= 10, "fixtures missing: {dirs:?}");
    for dir in dirs {
        let before = snapshot(&dir);
        assert_eq!(detect_folder(&dir).expect("detect"), Some(SourceKind::Parquet03), "{dir:?}");
        let src = open_parquet03(&dir).expect("open");
        assert_eq!(src.kind(), SourceKind::Parquet03);
        // batch sizes 1 and 3 exercise splitting across arrow batches
        for batch in [1, 3, 1000] {
            let mut src = open_parquet03(&dir).expect("open");
            let (c, r) = compare_with_expected(&dir, &mut src, 0.0, batch);
            if batch == 1000 {
                eprintln!("{}: {c} collections, {r} records match", dir.display());
            }
        }
        assert_eq!(
            src.tenants_and_databases().expect("td"),
            vec![("default_tenant".to_string(), "default_database".to_string())]
        );
        assert!(before == snapshot(&dir), "{dir:?} was modified by reading it");
    }
}

#[test]
fn main_fixture_shape() {
    let mut src = open_parquet03(&fixture("v0.3.29-main")).expect("open");
    let cs = src.collections().expect("collections");
    let by = |n: &str| cs.iter().find(|c| c.name == n).expect(n).clone();
    assert_eq!(by("ip_coll").space.as_deref(), Some("ip"));
    assert_eq!(by("cosine_coll").space.as_deref(), Some("cosine"));
    assert_eq!(by("l2_coll").space.as_deref(), Some("l2"));
    assert_eq!(by("ip_coll").dimension, Some(4));
    assert_eq!(by("cosine_coll").dimension, Some(2));
    assert_eq!(by("empty_coll").metadata, None);
    assert_eq!(by("empty_coll").record_count_hint, Some(0));
    assert_eq!(by("empty_coll").dimension, None);
    assert_eq!(by("cosine_coll").record_count_hint, Some(13));
    let recs = read_all(&mut src, &by("l2_coll"), 2);
    let ids: Vec<&str> = recs.iter().map(|r| r.id.as_str()).collect();
    assert!(!ids.contains(&"l2-del") && !ids.contains(&"l2-del2"));
    let upd = recs.iter().find(|r| r.id == "l2-upd").expect("l2-upd");
    assert_eq!(upd.document.as_deref(), Some("after update"));
    assert!(recs.iter().all(|r| r.quirks.is_empty()), "{recs:?}");
    assert!(recs.iter().all(|r| r.origin.contains("chroma-embeddings.parquet row")));
    assert!(src.warnings().iter().all(|w| !w.contains("row(s) belong")));
}

#[test]
fn quirks_are_reported() {
    let q = quirks_of("v0.3.29-quirk-nan-inf", "nan_inf");
    assert!(q[0].1.contains(&Quirk::NonFiniteFloat { key: "v".into() }));
    assert!(q[3].1.is_empty());
    let q = quirks_of("v0.3.29-quirk-bigint", "bigint");
    assert!(q.iter().take(3).all(|(_, q)| q.contains(&Quirk::IntBeyond64Bits { key: "v".into() })));
    assert!(q[3].1.is_empty(), "i64 bounds are fine: {:?}", q[3]);
    let q = quirks_of("v0.3.29-quirk-empty-dict", "empty_dict");
    assert!(q.iter().any(|(id, q)| id == "e1" && q.contains(&Quirk::MetadataEmptyDict)));
    let q = quirks_of("v0.3.29-quirk-bool", "bools");
    assert!(q.iter().all(|(_, q)| q.contains(&Quirk::BoolValue { key: "flag".into() })));
    let q = quirks_of("v0.3.29-quirk-nested", "nested");
    assert!(q.iter().any(|(id, q)| id == "n1" && q.contains(&Quirk::NestedValue { key: "outer".into() })));
    let q = quirks_of("v0.3.29-quirk-dup-ids", "dups");
    assert_eq!(q.iter().filter(|(id, _)| id == "d1").count(), 2);
    assert!(q.iter().any(|(id, q)| id == "d1" && q.iter().any(|x| matches!(x, Quirk::DuplicateId { .. }))));
    let q = quirks_of("v0.3.29-quirk-wrong-dim", "wrong_dim");
    assert!(q.iter().any(|(id, q)| id == "w5" && q.contains(&Quirk::DimensionMismatch { expected: 3, found: 5 })));
    let q = quirks_of("v0.3.29-quirk-nul", "nul_bytes");
    assert!(q.iter().any(|(_, q)| q.contains(&Quirk::NulByte { field: "id".into() })));
    assert!(q.iter().any(|(_, q)| q.contains(&Quirk::NulByte { field: "document".into() })));
    assert!(q.iter().any(|(_, q)| q.iter().any(|x| matches!(x, Quirk::OddKey { .. }))));
    let q = quirks_of("v0.3.29-quirk-unicode", "unicode");
    assert!(q.iter().any(|(id, q)| id == "lone" && q.contains(&Quirk::BrokenUnicode { key: "s".into() })));

    let mut src = open_parquet03(&fixture("v0.3.29-quirk-names")).expect("open");
    let cs = src.collections().expect("collections");
    assert!(cs[0].quirks.iter().any(|q| matches!(q, Quirk::NameRejectedByNewRules { .. })));
    let mut src = open_parquet03(&fixture("v0.3.29-quirk-nested")).expect("open");
    let cs = src.collections().expect("collections");
    assert!(cs[0].quirks.contains(&Quirk::NestedValue { key: "cfg".into() }));
}

#[test]
fn malformed_metadata_is_kept_raw() {
    // the real 0.3.29 cannot read this collection at all (JSONDecodeError); we can
    let mut src = open_parquet03(&fixture("v0.3.29-quirk-malformed")).expect("open");
    let cs = src.collections().expect("collections");
    let recs = read_all(&mut src, &cs[0], 10);
    assert_eq!(recs.len(), 4);
    let by = |id: &str| recs.iter().find(|r| r.id == id).expect(id);
    assert!(matches!(&by("m1").quirks[..], [Quirk::MetadataMalformedJson { raw, .. }] if raw == "{\"a\": 1,"));
    assert!(matches!(&by("m2").quirks[..], [Quirk::MetadataNotAnObject { raw }] if raw == "[1, 2]"));
    assert!(matches!(&by("m3").quirks[..], [Quirk::MetadataNotAnObject { raw }] if raw == "null"));
    assert!(by("m1").metadata.is_none());
    assert_eq!(by("m4").metadata.as_ref().and_then(|m| m.get("a")), Some(&LegacyValue::Int(3)));
}

#[test]
fn stale_index_is_reported() {
    let mut src = open_parquet03(&fixture("v0.3.29-quirk-stale-index")).expect("open");
    let w = src.warnings().join("\n");
    assert!(w.contains("added after the last persist"), "{w}");
    assert!(w.contains("deleted after the last persist"), "{w}");
    let cs = src.collections().expect("collections");
    assert_eq!(read_all(&mut src, &cs[0], 10).len(), 2);
}

#[test]
fn missing_parquet_with_index_is_an_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let src = fixture("v0.3.29-quirk-stale-index").join("index");
    std::fs::create_dir(tmp.path().join("index")).expect("mkdir");
    for e in std::fs::read_dir(&src).expect("ls") {
        let p = e.expect("e").path();
        std::fs::copy(&p, tmp.path().join("index").join(p.file_name().expect("name"))).expect("cp");
    }
    assert_eq!(detect_folder(tmp.path()).expect("detect"), Some(SourceKind::Parquet03));
    match open_parquet03(tmp.path()) {
        Err(LegacyError::Unreadable(m)) => assert!(m.contains("cannot be recovered"), "{m}"),
        Err(e) => panic!("wrong error {e}"),
        Ok(_) => panic!("opened a folder without parquet files"),
    }
    let empty = tempfile::tempdir().expect("tmp");
    assert_eq!(detect_folder(empty.path()).expect("detect"), None);
}
