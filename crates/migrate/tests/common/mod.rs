//! Shared helpers: run migrations quietly, read a chroma-rs folder back, compare with a
//! fixture's expected.json (what the real Chroma of that version returned).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use chroma_legacy::testing::*;
use chroma_legacy::LegacyValue;
use chroma_migrate::{MigrateArgs, MigrateError, Policy, Report};
use chroma_store::Engine;
use chroma_types::metadata::metadata_to_json;
use chroma_types::{ChromaApi, GetRequest, Include, Metadata, Settings};

/// Every fixture folder that has an expected.json (0.3.x parquet, and >= 0.4 folders when present).
pub fn all_fixtures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .filter_map(std::result::Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    v.sort();
    v
}

pub fn args(from: &Path, to: &Path, policy: Policy) -> MigrateArgs {
    MigrateArgs {
        from: Some(from.display().to_string()),
        to: Some(to.display().to_string()),
        on_invalid: policy,
        quiet: true,
        ..Default::default()
    }
}

pub fn migrate(from: &Path, to: &Path, policy: Policy) -> Result<Report, MigrateError> {
    chroma_migrate::run(args(from, to, policy))
}

/// A record as read back from the destination.
#[derive(Debug, Clone)]
pub struct Got {
    pub id: String,
    pub embedding: Vec<f32>,
    pub document: Option<String>,
    pub uri: Option<String>,
    pub metadata: Option<Metadata>,
}

/// Everything in a chroma-rs folder: (tenant, database, name) -> (id, metadata, records).
pub fn read_folder(dir: &Path) -> BTreeMap<String, (String, Option<Metadata>, Vec<Got>)> {
    let e = Engine::open(dir, Settings::default()).expect("open destination");
    let mut out = BTreeMap::new();
    let tenants = e.list_tenants(None, 0).expect("tenants");
    for t in tenants {
        for d in e.list_databases(&t.name, None, 0).expect("dbs") {
            for c in e.list_collections(&t.name, &d.name, None, 0).expect("colls") {
                let g = e
                    .get(
                        c.id,
                        GetRequest {
                            include: vec![Include::Embeddings, Include::Documents, Include::Metadatas, Include::Uris],
                            ..Default::default()
                        },
                    )
                    .expect("get");
                let n = g.ids.len();
                let recs = (0..n)
                    .map(|i| Got {
                        id: g.ids[i].clone(),
                        embedding: g.embeddings.as_ref().map(|x| x[i].clone()).unwrap_or_default(),
                        document: g.documents.as_ref().and_then(|x| x[i].clone()),
                        uri: g.uris.as_ref().and_then(|x| x[i].clone()),
                        metadata: g.metadatas.as_ref().and_then(|x| x[i].clone()),
                    })
                    .collect();
                let key = if t.name == "default_tenant" && d.name == "default_database" {
                    c.name.clone()
                } else {
                    format!("{}/{}/{}", t.name, d.name, c.name)
                };
                out.insert(key, (c.id.to_string(), c.metadata.clone(), recs));
            }
        }
    }
    out
}

pub fn meta_json(m: Option<&Metadata>) -> serde_json::Value {
    match m {
        Some(m) if !m.is_empty() => metadata_to_json(m),
        _ => serde_json::Value::Null,
    }
}

/// Expected metadata as JSON (None when it has no JSON form, e.g. NaN).
pub fn exp_meta_json(v: &LegacyValue) -> Option<serde_json::Value> {
    match v {
        LegacyValue::Map(m) if m.is_empty() => Some(serde_json::Value::Null),
        other => other.to_json(),
    }
}

pub fn exp_embedding(v: &LegacyValue) -> Vec<f32> {
    list(v)
        .iter()
        .map(|x| match x {
            LegacyValue::Float(f) => *f as f32,
            LegacyValue::Int(i) => *i as f32,
            other => panic!("embedding element {other:?}"),
        })
        .collect()
}

/// Compares an expected record (real Chroma) with ours: ids, documents, uris and metadata
/// exactly, embeddings after rounding the expected values to float32.
pub fn check_record(ctx: &str, exp: &LegacyValue, got: &Got) {
    check_record_tol(ctx, exp, got, 0.0);
}

/// As [`check_record`], with an absolute tolerance on vector elements (Chroma >= 0.4 sources:
/// hnswlib normalises cosine vectors, and real Chroma returns them with ~1 ulp error too).
pub fn check_record_tol(ctx: &str, exp: &LegacyValue, got: &Got, tol: f32) {
    assert_eq!(s(get(exp, "id")), got.id, "{ctx}: id");
    let ed = match get(exp, "document") {
        LegacyValue::Null => None,
        d => Some(s(d)),
    };
    assert_eq!(ed, got.document, "{ctx} {}: document", got.id);
    if let LegacyValue::Str(u) = get(exp, "uri") {
        assert_eq!(Some(u.clone()), got.uri, "{ctx} {}: uri", got.id);
    }
    let em =
        exp_meta_json(get(exp, "metadata")).unwrap_or_else(|| panic!("{ctx} {}: metadata has no JSON form", got.id));
    assert_eq!(em, meta_json(got.metadata.as_ref()), "{ctx} {}: metadata", got.id);
    let ee = exp_embedding(get(exp, "embedding"));
    if tol == 0.0 {
        assert_eq!(ee, got.embedding, "{ctx} {}: embedding (float32)", got.id);
    } else {
        assert_eq!(ee.len(), got.embedding.len(), "{ctx} {}: embedding length", got.id);
        for (x, y) in ee.iter().zip(&got.embedding) {
            assert!((x - y).abs() <= tol, "{ctx} {}: embedding {ee:?} vs {:?}", got.id, got.embedding);
        }
    }
}

pub fn problem_ids(r: &Report, coll: &str) -> Vec<String> {
    r.problems.iter().filter(|p| p.collection == coll).filter_map(|p| p.record_id.clone()).collect()
}

pub fn kinds(r: &Report) -> Vec<String> {
    let mut k: Vec<String> = r.problems.iter().map(|p| p.kind.clone()).collect();
    k.sort();
    k.dedup();
    k
}

pub fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}
