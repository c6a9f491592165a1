//! Migrations into and out of chroma-rs's PostgreSQL storage (`postgres://…`, what
//! `chroma-rs run --storage` serves): a chroma-rs folder into PostgreSQL and back into a new
//! folder (equal to the first, ids kept), a server into PostgreSQL, resume, and bad input.
//! Needs `CHROMA_RS_POSTGRES_URL` (exported by `scripts/test.sh`'s rust step; started by
//! `scripts/fixtures/start-postgres.sh`); without it each test prints why it is skipped.
//! Each test uses its own database `pgmig_<test>`.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chroma_cluster::{Cluster, ClusterOptions};
use chroma_migrate::MigrateArgs;
use chroma_store::Engine;
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, DeleteRequest, Metadata, MetadataValue, QueryRequest, Settings,
    SparseVector,
};
use common::*;
use serde_json::json;

/// The scratch server's URL, or `None` (the test prints why it is skipped). Under CI a
/// missing URL is a failure.
fn base_url() -> Option<String> {
    match std::env::var("CHROMA_RS_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CHROMA_RS_POSTGRES_URL is not set (scripts/fixtures/start-postgres.sh prints it)"
            );
            eprintln!("SKIPPED: CHROMA_RS_POSTGRES_URL is not set (run scripts/fixtures/start-postgres.sh)");
            None
        }
    }
}

/// A new, empty database `pgmig_<name>` on the scratch server; its URL.
fn fresh_db(base: &str, name: &str) -> String {
    let db = format!("pgmig_{name}");
    let mut c = postgres::Client::connect(base, postgres::NoTls).expect("connect to PostgreSQL");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop database");
    c.batch_execute(&format!("CREATE DATABASE {db}")).expect("create database");
    let (head, _) = base.rsplit_once('/').expect("URL with a database");
    format!("{head}/{db}")
}

fn run(from: &str, to: &str, batch: usize) -> chroma_migrate::Report {
    chroma_migrate::run(MigrateArgs {
        from: Some(from.to_string()),
        to: Some(to.to_string()),
        quiet: true,
        batch_size: Some(batch),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"))
}

fn node(url: &str) -> Cluster {
    let mut o = ClusterOptions::new(url);
    o.listen = false;
    Cluster::open(o).expect("open a node")
}

fn sparse(i: usize) -> SparseVector {
    SparseVector::new(vec![i as u32 % 5, 10 + i as u32 % 3], vec![0.5 + i as f32, 1e-6 * (i as f32 + 1.0)], None)
        .expect("sparse")
}

/// Metadata with every value type chroma-rs holds (a sparse vector, arrays, the three scalars
/// and a bool), a key 0.x servers stored (`$x`), or none at all.
fn metadata(i: usize) -> Option<Metadata> {
    if i.is_multiple_of(7) {
        return None;
    }
    let mut m = Metadata::new();
    m.insert("i".into(), MetadataValue::Int(i as i64 - 40));
    m.insert("f".into(), MetadataValue::Float(i as f64 / 3.0));
    m.insert("whole".into(), MetadataValue::Float(2.0));
    m.insert("b".into(), MetadataValue::Bool(i.is_multiple_of(2)));
    m.insert("s".into(), MetadataValue::Str(format!("é{i}\u{0}x")));
    m.insert("sp".into(), MetadataValue::Sparse(Box::new(sparse(i))));
    if i.is_multiple_of(3) {
        m.insert("tags".into(), MetadataValue::from_json("tags", &json!(["a", "b"])).expect("array"));
        m.insert("$x".into(), MetadataValue::Int(1));
    }
    Some(m)
}

/// A chroma-rs folder with two tenants/databases, HNSW settings in metadata and in a 1.x
/// configuration, documents, uris, every metadata type, deletes and upserts (so insertion
/// order and slots are not the ids' order).
fn make_source(dir: &std::path::Path) {
    let e = Engine::open(dir, Settings::default()).expect("source folder");
    let mut create = CreateCollection::new("docs");
    create.metadata = Some(Metadata::from([
        ("hnsw:space".to_string(), MetadataValue::Str("cosine".into())),
        ("owner".to_string(), MetadataValue::Str("ops".into())),
    ]));
    let a = e.create_collection("default_tenant", "default_database", create).expect("create docs");
    let n = 300;
    let ids: Vec<String> = (0..n).map(|i| format!("id{}", (i * 37) % n)).collect();
    let embs: Vec<Vec<f32>> =
        (0..n).map(|i| vec![(i as f32).sin(), (i as f32).cos(), 0.25 + i as f32 / 100.0]).collect();
    let docs: Vec<Option<String>> = (0..n).map(|i| (i % 5 != 0).then(|| format!("document {i} ünïcode"))).collect();
    let uris: Vec<Option<String>> = (0..n).map(|i| (i % 4 == 0).then(|| format!("s3://b/{i}"))).collect();
    let metas: Vec<Option<Metadata>> = (0..n).map(metadata).collect();
    let mut req = AddRequest::new(ids, embs).documents(docs).uris(uris).metadatas(metas);
    req.dialect.legacy_metadata_keys = true;
    e.add(a.id, req).expect("add");
    e.delete(a.id, DeleteRequest { ids: Some(vec!["id3".into(), "id150".into()]), ..Default::default() })
        .expect("delete");
    e.upsert(a.id, AddRequest::new(vec!["id7".into(), "new1".into()], vec![vec![9.0, 9.0, 9.0], vec![1.0, 0.0, 0.0]]))
        .expect("upsert");

    e.create_tenant("tenant2").expect("tenant");
    e.create_database("tenant2", "db2").expect("database");
    let mut create = CreateCollection::new("configured");
    create.configuration = Some(json!({
        "hnsw": {"space": "ip", "ef_search": 33, "max_neighbors": 24},
        "embedding_function": {"type": "known", "name": "default", "config": {}}
    }));
    let b = e.create_collection("tenant2", "db2", create).expect("create configured");
    e.add(b.id, AddRequest::new(vec!["x".into(), "y".into()], vec![vec![1.0, 2.0], vec![3.0, 4.0]])).expect("add");
    e.create_collection("tenant2", "db2", CreateCollection::new("empty")).expect("create empty");

    // A 1.x schema: a sparse vector index on one key, a key whose inverted index is off.
    let mut create = CreateCollection::new("indexed");
    create.schema = Some(json!({"keys": {
        "sp": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}},
        "restricted": {"string": {"string_inverted_index": {"enabled": false, "config": {}}}}
    }}));
    let c = e.create_collection("tenant2", "db2", create).expect("create indexed");
    let metas: Vec<Option<Metadata>> = (0..20)
        .map(|i| {
            Some(Metadata::from([
                ("sp".to_string(), MetadataValue::Sparse(Box::new(sparse(i)))),
                ("restricted".to_string(), MetadataValue::Str(format!("r{i}"))),
            ]))
        })
        .collect();
    let ids = (0..20).map(|i| format!("s{i}")).collect();
    let embs = (0..20).map(|i| vec![i as f32, 1.0]).collect();
    e.add(c.id, AddRequest::new(ids, embs).metadatas(metas)).expect("add indexed");
}

/// The configuration compared: space, M, `ef_search`, the embedding-function description and
/// the 1.x schema (metadata-key indexes, the sparse vector index).
type Cfg = (String, usize, usize, Option<serde_json::Value>, serde_json::Value);

/// Everything a store holds, by (tenant, database, name): id, metadata, configuration, and the
/// records by id.
type Dump = BTreeMap<String, (uuid::Uuid, Option<Metadata>, Cfg, BTreeMap<String, Got>)>;

fn dump(api: &dyn ChromaApi) -> Dump {
    let mut out = Dump::new();
    for t in api.list_tenants(None, 0).expect("tenants") {
        for d in api.list_databases(&t.name, None, 0).expect("databases") {
            for c in api.list_collections(&t.name, &d.name, None, 0).expect("collections") {
                let g = api
                    .get(
                        c.id,
                        chroma_types::GetRequest {
                            include: vec![
                                chroma_types::Include::Embeddings,
                                chroma_types::Include::Documents,
                                chroma_types::Include::Metadatas,
                                chroma_types::Include::Uris,
                            ],
                            ..Default::default()
                        },
                    )
                    .expect("get");
                let mut recs = BTreeMap::new();
                for (i, id) in g.ids.iter().enumerate() {
                    let got = Got {
                        id: id.clone(),
                        embedding: g.embeddings.as_ref().expect("embeddings")[i].clone(),
                        document: g.documents.as_ref().expect("documents")[i].clone(),
                        uri: g.uris.as_ref().expect("uris")[i].clone(),
                        metadata: g.metadatas.as_ref().expect("metadatas")[i].clone(),
                    };
                    recs.insert(id.clone(), got);
                }
                let cfg = (
                    c.config.space.as_str().to_string(),
                    c.config.m,
                    c.config.ef_search,
                    c.config.embedding_function.clone(),
                    c.config.to_schema_json(),
                );
                out.insert(format!("{}/{}/{}", t.name, d.name, c.name), (c.id, c.metadata.clone(), cfg, recs));
            }
        }
    }
    out
}

fn assert_same(a: &Dump, b: &Dump, what: &str) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{what}: collections");
    for (k, (id, md, cfg, recs)) in a {
        let (id2, md2, cfg2, recs2) = &b[k];
        assert_eq!(id, id2, "{what}: {k} id");
        assert_eq!(md, md2, "{what}: {k} metadata");
        assert_eq!(cfg, cfg2, "{what}: {k} configuration");
        assert_eq!(recs.len(), recs2.len(), "{what}: {k} count");
        for (rid, r) in recs {
            let r2 = recs2.get(rid).unwrap_or_else(|| panic!("{what}: {k}/{rid} missing"));
            assert_eq!(
                (&r.embedding, &r.document, &r.uri, &r.metadata),
                (&r2.embedding, &r2.document, &r2.uri, &r2.metadata),
                "{what}: {k}/{rid}"
            );
        }
    }
}

fn nearest(api: &dyn ChromaApi, id: uuid::Uuid) -> Vec<Vec<String>> {
    api.query(id, QueryRequest::new(vec![vec![0.3, 0.9, 1.0], vec![-1.0, 0.1, 2.0]], 5)).expect("query").ids
}

#[test]
fn folder_to_postgres_and_back_is_equal() {
    let Some(base) = base_url() else { return };
    let url = fresh_db(&base, "roundtrip");
    let tmp = tmp();
    let (src, back) = (tmp.path().join("src"), tmp.path().join("back"));
    make_source(&src);

    let r = run(&src.display().to_string(), &url, 64);
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    assert_eq!(r.source_kind, "chroma-rs folder");
    assert_eq!(r.destination_kind, "chroma-rs PostgreSQL storage");
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert!(r.warnings.iter().all(|w| !w.contains("not kept")), "{:?}", r.warnings);
    assert!(!r.warnings.iter().any(|w| w.contains("new id")), "ids are kept: {:?}", r.warnings);
    let again = run(&src.display().to_string(), &url, 64);
    assert_eq!(again.outcome, "already migrated, verified: nothing changed", "{}", again.to_text());

    // A node over the database serves exactly the source (ids kept), and answers queries alike.
    let source = Engine::open(&src, Settings::default()).expect("source");
    let want = dump(&source);
    let n = node(&url);
    assert_same(&want, &dump(&n), "folder -> postgres");
    let docs = want["default_tenant/default_database/docs"].0;
    assert_eq!(nearest(&n, docs), nearest(&source, docs));
    drop(source);
    drop(n);

    let r = run(&url, &back.display().to_string(), 50);
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    assert_eq!(r.source_kind, "chroma-rs PostgreSQL storage");
    let copy = Engine::open(&back, Settings::default()).expect("copy");
    assert_same(&want, &dump(&copy), "folder -> postgres -> folder");
    // the schema came through: the key whose inverted index is off still refuses filters
    let indexed = want["tenant2/db2/indexed"].0;
    let schema = &want["tenant2/db2/indexed"].2 .4;
    assert_eq!(schema["keys"]["sp"]["sparse_vector"]["sparse_vector_index"]["enabled"], json!(true), "{schema}");
    let filter = chroma_types::filter::parse_where(Some(&json!({"restricted": "r3"}))).expect("where");
    let refused = copy.get(indexed, chroma_types::GetRequest { r#where: filter, ..Default::default() });
    assert!(refused.unwrap_err().message.contains("Cannot filter using metadata key 'restricted'"));
    assert_eq!(nearest(&copy, docs), nearest(&Engine::open(&src, Settings::default()).expect("src"), docs));
}

/// Starts chroma-rs's server on 127.0.0.1 (random port) over `engine`, in a background thread.
fn start_server(engine: Arc<Engine>) -> String {
    let api: Arc<dyn ChromaApi> = engine;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        rt.block_on(async move {
            let config = chroma_server::ServerConfig::default();
            let _ = chroma_server::serve_on(listener, api, config, std::future::pending()).await;
        });
    });
    format!("http://{addr}")
}

#[test]
fn server_to_postgres_and_resume() {
    let Some(base) = base_url() else { return };
    let url = fresh_db(&base, "server");
    let tmp = tmp();
    make_source(&tmp.path().join("src"));
    let engine = Arc::new(Engine::open(&tmp.path().join("src"), Settings::default()).expect("engine"));
    let server = start_server(engine.clone());

    // Interrupted after 100 records (the test hook), then resumed by the same command.
    let mut a = MigrateArgs {
        from: Some(server.clone()),
        to: Some(url.clone()),
        quiet: true,
        batch_size: Some(40),
        max_records: Some(100),
        ..Default::default()
    };
    match chroma_migrate::run(a.clone()) {
        Err(chroma_migrate::MigrateError::Interrupted { written, .. }) => assert!(written >= 100),
        other => panic!("expected an interruption, got {other:?}"),
    }
    a.max_records = None;
    let r = chroma_migrate::run(a).expect("resume");
    assert!(r.outcome.starts_with("migrated, verified"), "{}", r.to_text());
    assert!(r.collections.iter().any(|c| c.status.contains("resumed")), "{}", r.to_text());

    // The server's collection ids are kept (PostgreSQL, like a folder, takes the source's ids),
    // and every value came through HTTP's JSON exactly (floats, arrays, sparse vectors, `$x`).
    // A server source is read for the tenant of its token's identity (default_tenant here).
    let mut want = dump(engine.as_ref());
    want.retain(|k, _| k.starts_with("default_tenant/"));
    let got = dump(&node(&url));
    assert_same(&want, &got, "server -> postgres");
}

#[test]
fn bad_postgres_endpoints_are_clear_errors() {
    let tmp = tmp();
    let folder = tmp.path().join("f");
    make_source(&folder);
    let err = |from: &str, to: &str| {
        chroma_migrate::run(MigrateArgs {
            from: Some(from.into()),
            to: Some(to.into()),
            quiet: true,
            ..Default::default()
        })
        .expect_err("must fail")
        .to_string()
    };
    // Nothing listens on port 1: a clear error within the timeout, naming the storage, and
    // no password in it.
    let t0 = std::time::Instant::now();
    let e = err(&folder.display().to_string(), "postgres://u:secret@127.0.0.1:1/db");
    assert!(e.contains("PostgreSQL") && !e.contains("secret"), "{e}");
    assert!(t0.elapsed().as_secs() < 30, "took {:?}", t0.elapsed());
    let e = err("postgres://u:secret@127.0.0.1:1/db", &tmp.path().join("out").display().to_string());
    assert!(e.contains("PostgreSQL") && !e.contains("secret"), "{e}");
    assert!(!tmp.path().join("out").exists(), "nothing is created when the source cannot be read");
    let e = err("postgres://127.0.0.1:19399/a", "postgres://127.0.0.1:19399/a/");
    assert!(e.contains("same PostgreSQL database"), "{e}");
    let e = err(&folder.display().to_string(), &tmp.path().join("copy").display().to_string());
    assert!(e.contains("already a chroma-rs folder"), "{e}");
    let e = err("mysql://x:secret@h/db", &tmp.path().join("copy").display().to_string());
    assert!(e.contains("unknown scheme") && !e.contains("secret"), "{e}");
}
