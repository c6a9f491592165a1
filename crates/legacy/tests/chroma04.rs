//! Chroma >= 0.4 folders written by the real chromadb 0.4.24, 0.5.23 and 1.5.9, compared with
//! what the same real chromadb returned when reading them back (expected.json).

mod common;

use chroma_legacy::{detect_folder, open_chroma04, open_folder, LegacySource, Quirk, SourceKind};
use common::*;

/// float32 round trip + cosine normalize/denormalize in hnswlib: compare with a tolerance.
const TOL: f64 = 1e-5;

#[test]
fn every_v04plus_fixture_matches_real_chroma() {
    let mut dirs = Vec::new();
    for p in ["v0.4.24-", "v0.5.23-", "v1.5.9-"] {
        dirs.extend(fixtures_with_prefix(p));
    }
    assert!(dirs.len() >= 4, "fixtures missing: {dirs:?}");
    for dir in dirs {
        let before = snapshot(&dir);
        assert_eq!(detect_folder(&dir).expect("detect"), Some(SourceKind::Chroma04Plus), "{dir:?}");
        for batch in [1, 7, 1000] {
            let mut src = open_chroma04(&dir).expect("open");
            let (c, r) = compare_with_expected(&dir, &mut src, TOL, batch);
            if batch == 1000 {
                eprintln!("{}: {c} collections, {r} records match; warnings {:?}", dir.display(), src.warnings());
            }
            let cs = src.collections().expect("collections");
            for col in &cs {
                for b in src.records(col, batch).expect("records") {
                    for rec in b.expect("batch") {
                        assert!(
                            rec.quirks.is_empty(),
                            "{} {} {}: unexpected quirks {:?}",
                            dir.display(),
                            col.name,
                            rec.id,
                            rec.quirks
                        );
                        assert!(rec.embedding.is_some());
                    }
                }
            }
        }
        let mut boxed = open_folder(&dir).expect("open_folder");
        assert_eq!(boxed.kind(), SourceKind::Chroma04Plus);
        assert!(!boxed.collections().expect("collections").is_empty());
        drop(boxed);
        assert!(before == snapshot(&dir), "{dir:?} was modified by reading it");
    }
}

#[test]
fn tenants_databases_and_collection_fields() {
    for v in ["v0.4.24-main", "v0.5.23-main", "v1.5.9-main"] {
        let mut src = open_chroma04(&fixture(v)).expect("open");
        let td = src.tenants_and_databases().expect("td");
        for want in [("default_tenant", "default_database"), ("default_tenant", "db_three"), ("tenant_two", "db_two")] {
            assert!(td.iter().any(|(t, d)| t == want.0 && d == want.1), "{v}: {td:?}");
        }
        let cs = src.collections().expect("collections");
        let by = |n: &str, db: &str| {
            cs.iter().find(|c| c.name == n && c.database == db).unwrap_or_else(|| panic!("{v} {n}")).clone()
        };
        assert_eq!(by("ip_coll", "default_database").space.as_deref(), Some("ip"), "{v}");
        assert_eq!(by("cosine_coll", "default_database").space.as_deref(), Some("cosine"), "{v}");
        assert_eq!(by("big_coll", "default_database").space.as_deref(), Some("cosine"), "{v}");
        assert_eq!(by("l2_coll", "default_database").space.as_deref(), Some("l2"), "{v}");
        assert_eq!(by("ip_coll", "default_database").dimension, Some(4), "{v}");
        assert_eq!(by("big_coll", "default_database").dimension, Some(8), "{v}");
        assert_eq!(by("big_coll", "default_database").record_count_hint, Some(125), "{v}");
        assert_eq!(by("empty_coll", "default_database").record_count_hint, Some(0), "{v}");
        assert_eq!(by("other_coll", "db_two").tenant, "tenant_two", "{v}");
        assert_eq!(by("l2_coll", "db_three").record_count_hint, Some(1), "{v}");
        let l2 = by("l2_coll", "default_database");
        let recs = read_all(&mut src, &l2, 100);
        assert!(recs.iter().all(|r| r.origin.contains("embeddings.id")));
        let uri = recs.iter().find(|r| r.id == "l2-uri").expect("l2-uri");
        assert_eq!(uri.uri.as_deref(), Some("file:///tmp/x.png"), "{v}");
    }
}

#[test]
fn purged_log_vectors_come_from_hnsw_files() {
    let dir = fixture("v1.5.9-purged");
    let conn =
        rusqlite::Connection::open_with_flags(dir.join("chroma.sqlite3"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("sqlite");
    let min: i64 = conn.query_row("SELECT min(seq_id) FROM embeddings_queue", [], |r| r.get(0)).expect("min");
    assert!(min > 200, "log should be purged (min seq_id {min})");
    drop(conn);
    let mut src = open_chroma04(&dir).expect("open");
    let cs = src.collections().expect("collections");
    let recs = read_all(&mut src, &cs[0], 64);
    assert_eq!(recs.len(), 257);
    assert!(recs.iter().all(|r| r.embedding.is_some() && r.quirks.is_empty()));
    let upd = recs.iter().find(|r| r.id == "p-001").expect("p-001");
    assert_eq!(upd.embedding.as_ref().map(chroma_legacy::LegacyEmbedding::to_f32), Some(vec![0.5f32; 6]));
}

#[test]
fn missing_vectors_are_reported_not_invented() {
    // copy a purged folder without its hnsw segment: vectors are unrecoverable
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::copy(fixture("v1.5.9-purged").join("chroma.sqlite3"), tmp.path().join("chroma.sqlite3")).expect("cp");
    let mut src = open_chroma04(tmp.path()).expect("open");
    let cs = src.collections().expect("collections");
    let recs = read_all(&mut src, &cs[0], 100);
    assert_eq!(recs.len(), 257);
    let missing = recs.iter().filter(|r| r.quirks.iter().any(|q| matches!(q, Quirk::MissingEmbedding { .. }))).count();
    assert!(missing > 200, "{missing}");
    assert!(recs.iter().filter(|r| r.embedding.is_none()).count() == missing);
}
