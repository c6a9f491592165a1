//! Migrations into and out of servers speaking the Chroma API: chroma-rs's own server started
//! in-process (`chroma_server::serve_on` over an ephemeral engine), and — only when the env var
//! `CHROMA_159_URL` is set (e.g. <http://127.0.0.1:8000>) — a real Chroma 1.5.9 server.

mod common;

use std::sync::Arc;

use chroma_migrate::{MigrateArgs, Policy};
use chroma_store::Engine;
use chroma_types::{ChromaApi, Settings};
use common::*;

/// Starts chroma-rs's server on 127.0.0.1 (random port) in a background thread.
fn start_server() -> (String, Arc<Engine>) {
    let engine = Arc::new(Engine::ephemeral(Settings::default()).expect("engine"));
    let api: Arc<dyn ChromaApi> = engine.clone();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        rt.block_on(async move {
            let config = chroma_server::ServerConfig::default();
            let _ = chroma_server::serve_on(listener, api, config, std::future::pending()).await;
        });
    });
    (format!("http://{addr}"), engine)
}

/// Migrates everything a server holds into a new folder `dest`, reading pages of `batch`.
fn out_of_server(url: &str, dest: &std::path::Path, batch: usize) -> chroma_migrate::Report {
    chroma_migrate::run(MigrateArgs {
        from: Some(url.to_string()),
        to: Some(dest.display().to_string()),
        quiet: true,
        batch_size: Some(batch),
        ..Default::default()
    })
    .unwrap_or_else(|e| panic!("out of the server at {url}: {e}"))
}

/// An HTTP agent that hands back error statuses instead of failing on them.
fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(ureq::Agent::config_builder().http_status_as_error(false).build())
}

#[test]
fn into_our_server_and_back_out_of_it() {
    let (url, engine) = start_server();
    let src = fixture("v0.3.29-main");
    let a = MigrateArgs {
        from: Some(src.display().to_string()),
        to: Some(url.clone()),
        quiet: true,
        batch_size: Some(5),
        ..Default::default()
    };
    let r = chroma_migrate::run(a.clone()).expect("into the server");
    assert_eq!(r.outcome, "migrated, verified");
    assert!(r.warnings.iter().any(|w| w.contains("new id")), "{:?}", r.warnings);
    assert_eq!(engine.count_collections("default_tenant", "default_database").expect("count"), 4);
    let again = chroma_migrate::run(a).expect("second run");
    assert_eq!(again.outcome, "already migrated, verified: nothing changed");

    // The server as a source (API v2, paged get), into a folder: same records as real 0.3.29 returned.
    let out = tmp();
    let dest = out.path().join("dest");
    let r = out_of_server(&url, &dest, 3);
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    assert!(r.source_kind.contains("v2"), "{}", r.source_kind);
    let got = read_folder(&dest);
    let exp = load_expected(&src);
    let mut n = 0;
    for ec in list(get(&exp, "collections")) {
        let name = s(get(ec, "name"));
        let (_, md, recs) = got.get(&name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(exp_meta_json(get(ec, "metadata")).expect("json"), meta_json(md.as_ref()), "{name}");
        for er in list(get(ec, "records")) {
            let id = s(get(er, "id"));
            let g = recs.iter().find(|g| g.id == id).unwrap_or_else(|| panic!("{name}/{id} missing"));
            check_record(&name, er, g);
            n += 1;
        }
        assert_eq!(recs.len(), list(get(ec, "records")).len());
    }
    assert!(n > 20);
}

#[test]
fn quirks_into_our_server_under_coerce() {
    let (url, engine) = start_server();
    let r = chroma_migrate::run(MigrateArgs {
        from: Some(fixture("v0.3.29-quirk-nan-inf").display().to_string()),
        to: Some(url),
        on_invalid: Policy::Coerce,
        quiet: true,
        ..Default::default()
    })
    .expect("coerce into server");
    assert!(r.outcome.starts_with("migrated, verified"), "{}", r.outcome);
    let c = engine.get_collection("default_tenant", "default_database", "nan_inf").expect("collection");
    assert_eq!(engine.count(c.id).expect("count"), 4);
}

/// The URL of a real server from `var`, or None (the test is skipped, and says so).
fn real_server(var: &str, what: &str) -> Option<String> {
    let url = std::env::var(var).ok();
    if url.is_none() {
        eprintln!("SKIPPED: set {var} (e.g. http://127.0.0.1:8000, {what}) to run this test");
    }
    url
}

/// Migrates the 0.3.29 main fixture into a real server (its four collections removed first, so
/// the server's other data stays out of the way), checks it is verified, and checks that a
/// second run changes nothing. Returns the first run's report.
fn into_server_twice(api: &chroma_client::HttpApi, url: &str) -> chroma_migrate::Report {
    for c in ["cosine_coll", "empty_coll", "ip_coll", "l2_coll"] {
        let _ = api.delete_collection("default_tenant", "default_database", c);
    }
    let a = MigrateArgs {
        from: Some(fixture("v0.3.29-main").display().to_string()),
        to: Some(url.to_string()),
        quiet: true,
        ..Default::default()
    };
    let r = chroma_migrate::run(a.clone()).expect("into the server");
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    let again = chroma_migrate::run(a).expect("second run");
    assert_eq!(again.outcome, "already migrated, verified: nothing changed");
    r
}

#[test]
fn into_real_chroma_1_5_9_when_available() {
    let Some(url) = real_server("CHROMA_159_URL", "a real Chroma 1.5.9 server") else { return };
    let api = chroma_client::HttpApi::new(chroma_client::HttpOptions::new(url.clone())).expect("client");
    into_server_twice(&api, &url);

    // The real server as a source (API v2, paged): back out into a folder, every record there.
    let out = tmp();
    let dest = out.path().join("from-real");
    let r = out_of_server(&url, &dest, 5);
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    let got = read_folder(&dest);
    let exp = load_expected(&fixture("v0.3.29-main"));
    for ec in list(get(&exp, "collections")) {
        let name = s(get(ec, "name"));
        let (_, _, recs) = got.get(&name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(recs.len(), list(get(ec, "records")).len(), "{name}");
        for er in list(get(ec, "records")) {
            let id = s(get(er, "id"));
            assert!(recs.iter().any(|g| g.id == id), "{name}/{id} missing");
        }
    }
}

/// A real Chroma 0.4.24 server (API v1 only) as a destination: the Rust HTTP client finds the
/// line by itself; the migration is verified, and a second run changes nothing.
#[test]
fn into_real_chroma_0_4_24_when_available() {
    let Some(url) = real_server("CHROMA_0424_URL", "a real Chroma 0.4.24 server") else { return };
    let api = chroma_client::HttpApi::new(chroma_client::HttpOptions::new(url.clone())).expect("client");
    assert_eq!(api.api_line().expect("probe"), chroma_client::ApiLine::V1);
    // v1 errors come back typed (0.4.24 sends Python reprs with status 500)
    let missing = api.get_collection("default_tenant", "default_database", "no-such-collection").unwrap_err();
    assert_eq!(missing.kind, chroma_types::ErrorKind::NotFound, "{missing:?}");
    assert!(api.list_tenants(None, 0).is_err(), "v1 cannot list tenants: a clear error");
    let r = into_server_twice(&api, &url);
    assert!(r.destination_kind.contains("API v1"), "{}", r.destination_kind);
    // what the server holds, read with the client over v1
    let c = api.get_collection("default_tenant", "default_database", "cosine_coll").expect("cosine_coll");
    assert_eq!(api.get_collection_by_id(c.id).expect("by id").name, "cosine_coll");
    let exp = load_expected(&fixture("v0.3.29-main"));
    let ec = list(get(&exp, "collections")).iter().find(|c| s(get(c, "name")) == "cosine_coll").expect("in fixture");
    assert_eq!(api.count(c.id).expect("count"), list(get(ec, "records")).len());
}

/// POSTs JSON to a server (API v1 as a 0.4 client sends it) and returns the parsed answer.
fn v1_post(url: &str, body: &serde_json::Value) -> serde_json::Value {
    let mut resp = agent().post(url).header("Content-Type", "application/json").send(body.to_string()).expect("post");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().expect("body");
    assert!((200..300).contains(&status), "{url}: {status} {text}");
    serde_json::from_str(&text).expect("json")
}

#[test]
fn out_of_real_chroma_0_4_24_when_available() {
    let Some(url) = real_server("CHROMA_0424_URL", "a real Chroma 0.4.24 server") else { return };
    // Fill it over API v1, as a 0.4.24 client does.
    let _ = agent().delete(&format!("{url}/api/v1/collections/from04")).call();
    let c = v1_post(
        &format!("{url}/api/v1/collections"),
        &serde_json::json!({"name": "from04", "metadata": {"hnsw:space": "cosine", "owner": "t", "#tag": 1}}),
    );
    let id = c["id"].as_str().expect("id").to_string();
    let n = 25;
    let ids: Vec<String> = (0..n).map(|i| format!("r{i:02}")).collect();
    let embs: Vec<Vec<f32>> = (0..n).map(|i| vec![i as f32 + 0.5, 1.0, -(i as f32) / 3.0]).collect();
    // Keys that 0.4.24 stores and 1.x refuses ($, #, empty) migrate by default, as they are.
    let metas: Vec<serde_json::Value> = (0..n)
        .map(|i| serde_json::json!({"i": i, "even": i % 2 == 0, "s": format!("v{i}"), "$d": i, "#h": "x", "": true}))
        .collect();
    let docs: Vec<String> = (0..n).map(|i| format!("document number {i} ünïcode")).collect();
    v1_post(
        &format!("{url}/api/v1/collections/{id}/add"),
        &serde_json::json!({"ids": ids, "embeddings": embs, "metadatas": metas, "documents": docs}),
    );

    let out = tmp();
    let dest = out.path().join("from-04");
    let r = out_of_server(&url, &dest, 7);
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    assert!(r.problems.is_empty(), "{}", r.to_text());
    assert!(r.source_kind.contains("v1"), "{}", r.source_kind);
    let got = read_folder(&dest);
    let (_, md, recs) = got.get("from04").expect("from04 migrated");
    assert_eq!(
        md.as_ref().and_then(|m| m.get("owner")).map(chroma_types::MetadataValue::to_json),
        Some(serde_json::json!("t"))
    );
    assert_eq!(
        md.as_ref().and_then(|m| m.get("#tag")).map(chroma_types::MetadataValue::to_json),
        Some(serde_json::json!(1))
    );
    assert_eq!(recs.len(), n);
    for i in 0..n {
        let g = recs.iter().find(|g| g.id == format!("r{i:02}")).expect("record");
        assert_eq!(g.document.as_deref(), Some(format!("document number {i} ünïcode").as_str()));
        let m = g.metadata.as_ref().expect("metadata");
        let key = |k: &str| m.get(k).map(chroma_types::MetadataValue::to_json);
        assert_eq!(
            (key("$d"), key("#h"), key("")),
            (Some(serde_json::json!(i)), Some(serde_json::json!("x")), Some(serde_json::json!(true)))
        );
        let want = [i as f32 + 0.5, 1.0, -(i as f32) / 3.0];
        assert!(
            g.embedding.iter().zip(want).all(|(a, b)| (a - b).abs() <= 1e-5 * (1.0 + b.abs())),
            "{:?} vs {want:?}",
            g.embedding
        );
    }
}

#[test]
fn sparse_vectors_out_of_our_server_exactly() {
    // Sparse vectors exist only where the Search API does (chroma-rs, Chroma's cloud): a
    // server holding them migrates into a folder with every index and value exactly, and the
    // copy answers a sparse search as the source does.
    use chroma_types::search::{Knn, KnnQuery, Rank, Search, SearchRequest};
    use chroma_types::{AddRequest, CreateCollection, Metadata, MetadataValue, SparseVector};
    let (url, engine) = start_server();
    let c = engine
        .create_collection("default_tenant", "default_database", CreateCollection::new("sparse-src"))
        .expect("create");
    let n = 40usize;
    let sv = |i: usize| {
        let values = vec![0.1 + i as f32 / 3.0, 123.456, 1e-7 * (i as f32 + 1.0)];
        SparseVector::new(vec![i as u32 % 7, 7 + i as u32 % 5, 4_000_000_000], values, None).expect("sparse")
    };
    let mds: Vec<Option<Metadata>> =
        (0..n).map(|i| Some(Metadata::from([("sp".to_string(), MetadataValue::Sparse(Box::new(sv(i))))]))).collect();
    let ids: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
    engine
        .add(c.id, AddRequest::new(ids.clone(), (0..n).map(|i| vec![i as f32, 1.0]).collect()).metadatas(mds))
        .expect("add");
    let out = tmp();
    let dest = out.path().join("dest");
    let r = out_of_server(&url, &dest, 7);
    assert_eq!(r.outcome, "migrated, verified", "{}", r.to_text());
    let got = read_folder(&dest);
    let (_, _, recs) = got.get("sparse-src").expect("collection copied");
    assert_eq!(recs.len(), n);
    for g in recs {
        let i: usize = g.id[1..].parse().expect("id");
        let md = g.metadata.as_ref().expect("metadata");
        assert_eq!(md.get("sp"), Some(&MetadataValue::Sparse(Box::new(sv(i)))), "{}", g.id);
    }
    // The copy's sparse index answers as the source's.
    let search = |e: &Engine, cid| {
        let knn = Knn {
            query: KnnQuery::Sparse(SparseVector::new(vec![3, 9], vec![1.0, 2.0], None).expect("query")),
            key: "sp".into(),
            limit: 10,
            default: None,
            return_rank: false,
        };
        let s = Search { rank: Some(Rank::Knn(knn)), select: vec!["#score".into()], ..Search::default() };
        e.search(cid, SearchRequest { searches: vec![s], ..SearchRequest::default() }).expect("search")
    };
    let want = search(&engine, c.id);
    drop(got);
    let copy = Engine::open(&dest, Settings::default()).expect("open copy");
    let cc = copy.get_collection("default_tenant", "default_database", "sparse-src").expect("copy");
    assert_eq!(search(&copy, cc.id), want);
    assert!(!want.ids[0].is_empty());
}
