//! Shared helpers: compare a reader's output with a fixture's expected.json (written by the real
//! Chroma of that version reading the folder back). Fixture access comes from
//! `chroma_legacy::testing`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub use chroma_legacy::testing::*;
use chroma_legacy::{LegacyCollection, LegacyEmbedding, LegacyMetadata, LegacyRecord, LegacySource, LegacyValue};

pub fn fixtures_with_prefix(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with(prefix)))
        .collect();
    v.sort();
    v
}

/// NaN-aware equality; ints and floats compare by value (expected.json may print 3.0 as 3.0
/// while the store has an int only if the writer did so - we do not mix them).
#[allow(clippy::float_cmp)] // exact: both sides were decoded from the same stored bits
pub fn same(a: &LegacyValue, b: &LegacyValue) -> bool {
    match (a, b) {
        (LegacyValue::Float(x), LegacyValue::Float(y)) => (x.is_nan() && y.is_nan()) || x == y,
        (LegacyValue::List(x), LegacyValue::List(y)) => x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q)),
        (LegacyValue::Map(x), LegacyValue::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        (LegacyValue::Str(x), LegacyValue::BrokenStr { lossy, .. }) => x == lossy,
        _ => a == b,
    }
}

pub fn meta_value(m: Option<&LegacyMetadata>) -> LegacyValue {
    match m {
        None => LegacyValue::Null,
        Some(m) => LegacyValue::Map(m.clone()),
    }
}

pub fn read_all(src: &mut dyn LegacySource, c: &LegacyCollection, batch: usize) -> Vec<LegacyRecord> {
    let mut out = Vec::new();
    for b in src.records(c, batch).expect("records") {
        let b = b.expect("batch");
        assert!(!b.is_empty() && b.len() <= batch, "batch size {} (max {batch})", b.len());
        out.extend(b);
    }
    out
}

/// Compares one expected record (from real Chroma) with ours. `tol` = allowed absolute error on
/// vector elements (0 for exact).
pub fn check_record(ctx: &str, exp: &LegacyValue, ours: &LegacyRecord, tol: f64) {
    assert_eq!(s(get(exp, "id")), ours.id, "{ctx}: id");
    let ed = get(exp, "document");
    let od = ours.document.clone().map_or(LegacyValue::Null, LegacyValue::Str);
    assert!(same(ed, &od), "{ctx} {}: document {ed:?} vs ours {od:?}", ours.id);
    let em = get(exp, "metadata");
    let om = meta_value(ours.metadata.as_ref());
    // chromadb 1.5.9's get() shows {} (not None) for a record whose only stored keys were
    // chroma:uri; the store has no user metadata, which is what we report
    let uri_only = matches!(em, LegacyValue::Map(m) if m.is_empty()) && om == LegacyValue::Null && ours.uri.is_some();
    assert!(uri_only || same(em, &om), "{ctx} {}: metadata\n expected {em:?}\n ours     {om:?}", ours.id);
    if let LegacyValue::Str(u) = get(exp, "uri") {
        assert_eq!(Some(u.clone()), ours.uri, "{ctx} {}: uri", ours.id);
    }
    let ee = list(get(exp, "embedding"));
    let oe: Vec<f64> = ours.embedding.as_ref().map(LegacyEmbedding::to_f64).unwrap_or_default();
    assert_eq!(ee.len(), oe.len(), "{ctx} {}: embedding length", ours.id);
    for (i, (x, y)) in ee.iter().zip(&oe).enumerate() {
        let x = match x {
            LegacyValue::Float(f) => *f,
            LegacyValue::Int(i) => *i as f64,
            other => panic!("{ctx}: embedding element {other:?}"),
        };
        assert!(
            (x - y).abs() <= tol || (x.is_nan() && y.is_nan()),
            "{ctx} {}: embedding[{i}] expected {x} ours {y}",
            ours.id
        );
    }
}

pub fn find_collection<'a>(ours: &'a [LegacyCollection], exp: &LegacyValue) -> &'a LegacyCollection {
    let id = s(get(exp, "id"));
    ours.iter().find(|c| c.id == id).unwrap_or_else(|| panic!("collection {id} not found"))
}

/// Whole-fixture comparison. Returns (collections, records) compared.
pub fn compare_with_expected(dir: &Path, src: &mut dyn LegacySource, tol: f64, batch: usize) -> (usize, usize) {
    let exp = load_expected(dir);
    let ctx = dir.file_name().and_then(|n| n.to_str()).unwrap_or("?").to_string();
    let mut ours = src.collections().expect("collections");
    let exp_colls = list(get(&exp, "collections"));
    assert_eq!(exp_colls.len(), ours.len(), "{ctx}: number of collections");
    let mut nrec = 0;
    for ec in exp_colls {
        let c = find_collection(&ours, ec).clone();
        assert_eq!(s(get(ec, "name")), c.name, "{ctx}: name");
        let em = get(ec, "metadata");
        assert!(
            same(em, &meta_value(c.metadata.as_ref())),
            "{ctx} {}: collection metadata {em:?} vs {:?}",
            c.name,
            c.metadata
        );
        if let LegacyValue::Str(t) = get(ec, "tenant") {
            assert_eq!(t, &c.tenant, "{ctx}: tenant");
        }
        if let LegacyValue::Str(d) = get(ec, "database") {
            assert_eq!(d, &c.database, "{ctx}: database");
        }
        if let LegacyValue::Str(e) = get(ec, "get_error") {
            eprintln!("{ctx} {}: real chroma failed to read it ({e}); checked separately", c.name);
            continue;
        }
        let recs = read_all(src, &c, batch);
        let er = list(get(ec, "records"));
        assert_eq!(er.len(), recs.len(), "{ctx} {}: number of records", c.name);
        // real chroma's order is the store's order for 0.3.x; for >= 0.4 compare by id
        let mut pairs: Vec<(&LegacyValue, &LegacyRecord)> = er.iter().zip(recs.iter()).collect();
        if pairs.iter().any(|(e, o)| s(get(e, "id")) != o.id) {
            let mut e_sorted: Vec<&LegacyValue> = er.iter().collect();
            let doc = |v: &LegacyValue| match v {
                LegacyValue::Str(x) => Some(x.clone()),
                _ => None,
            };
            e_sorted.sort_by_key(|e| (s(get(e, "id")), doc(get(e, "document"))));
            let mut o_sorted: Vec<&LegacyRecord> = recs.iter().collect();
            o_sorted.sort_by(|a, b| (&a.id, &a.document).cmp(&(&b.id, &b.document)));
            pairs = e_sorted.into_iter().zip(o_sorted).collect();
        }
        for (e, o) in pairs {
            check_record(&format!("{ctx}/{}", c.name), e, o, tol);
            nrec += 1;
        }
        if let Some(n) = c.record_count_hint {
            assert_eq!(n as usize, recs.len(), "{ctx} {}: record_count_hint", c.name);
        }
    }
    ours.clear();
    (exp_colls.len(), nrec)
}

/// Hash of every file under `dir` (path, size, content) to prove a reader left it untouched.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>, Option<std::time::SystemTime>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let m = std::fs::metadata(&p).ok().and_then(|m| m.modified().ok());
                out.push((p.clone(), std::fs::read(&p).expect("read"), m));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
