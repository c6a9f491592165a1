//! The Rust `Client` over HTTP against a real chroma-rs server (in process, on 127.0.0.1),
//! and the same calls embedded: both modes must give the same answers.

use chroma_client::{Client, CollectionOptions, Delete, ErrorKind, Get, HttpOptions, Include, Query, Records, Update};
use chroma_server::{Auth, ServerConfig, TokenHeader};
use chroma_types::{ChromaApi, Settings};
use serde_json::json;
use std::sync::Arc;

/// A chroma-rs server over an ephemeral engine, stopped when dropped.
struct TestServer {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(config: ServerConfig) -> TestServer {
    let settings = Settings { allow_reset: config.allow_reset, ..Settings::default() };
    let api: Arc<dyn ChromaApi> = Arc::new(chroma_store::Engine::ephemeral(settings).expect("engine"));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            chroma_server::serve_on(listener, api, config, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
    });
    TestServer { url: format!("http://{addr}"), stop: Some(tx), thread: Some(thread) }
}

fn reset_config() -> ServerConfig {
    ServerConfig { allow_reset: true, ..ServerConfig::default() }
}

fn exercise(client: &Client) {
    client.reset().expect("reset");
    assert!(client.heartbeat().unwrap() > 0);
    assert!(!client.version().unwrap().is_empty());
    assert!(client.get_max_batch_size().unwrap() > 0);

    let mut col = client
        .create_collection(
            "rust-client",
            CollectionOptions::new().metadata(json!({"hnsw:space": "cosine", "owner": "me"})),
        )
        .unwrap();
    assert_eq!(col.config().space, chroma_client::Space::Cosine);
    let err = client.create_collection("rust-client", CollectionOptions::new()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::AlreadyExists, "{err}");
    let same = client.get_or_create_collection("rust-client", CollectionOptions::new()).unwrap();
    assert_eq!(same.id(), col.id());

    col.add(
        Records::new(["a", "b", "c"], vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![1.0, 1.0]])
            .documents(["apple pie", "banana bread", "cherry tart"])
            .metadatas(vec![json!({"n": 1, "kind": "pie"}), json!({"n": 2}), json!(null)]),
    )
    .unwrap();
    assert_eq!(col.count().unwrap(), 3);
    let err = col.add(Records::new(["z"], vec![vec![1.0, 2.0, 3.0]])).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidDimension, "{err}");

    let g = col.get(Get::new().r#where(json!({"n": {"$gte": 2}}))).unwrap();
    assert_eq!(g.ids, vec!["b"]);
    let g = col.get(Get::new().where_document(json!({"$contains": "tart"})).include(&[Include::Embeddings])).unwrap();
    assert_eq!(g.ids, vec!["c"]);
    assert_eq!(g.embeddings.unwrap(), vec![vec![1.0, 1.0]]);
    let q = col.query(Query::new(vec![vec![1.0, 0.1]]).n_results(2)).unwrap();
    assert_eq!(q.ids[0][0], "a");
    assert_eq!(q.distances.as_ref().unwrap()[0].len(), 2);
    let err = col.get(Get::new().r#where(json!({"n": {"$gt": "x"}}))).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidArgument);

    col.update(Update::new(["a"]).metadatas(vec![json!({"n": 10, "kind": null})])).unwrap();
    let g = col.get(Get::new().ids(["a"])).unwrap();
    assert_eq!(g.metadatas.unwrap()[0].as_ref().unwrap().len(), 1);
    col.upsert(Records::new(["d"], vec![vec![0.5, 0.5]])).unwrap();
    assert_eq!(col.count().unwrap(), 4);
    let deleted = col.delete(Delete::new().ids(["d", "nope"])).unwrap();
    assert_eq!(deleted, vec!["d"]);
    assert_eq!(col.peek(2).unwrap().ids.len(), 2);

    col.modify(Some("rust-client-2"), Some(json!({"owner": "you"}))).unwrap();
    assert_eq!(col.name(), "rust-client-2");
    assert_eq!(client.get_collection("rust-client-2").unwrap().id(), col.id());
    assert_eq!(client.get_collection_by_id(col.id()).unwrap().name(), "rust-client-2");
    assert_eq!(client.list_collections(None, None).unwrap().len(), 1);
    assert_eq!(client.count_collections().unwrap(), 1);
    let err = client.get_collection("missing").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    client.create_tenant("acme").unwrap();
    let acme = client.clone().with_tenant("acme");
    acme.create_database("prod").unwrap();
    let prod = acme.with_database("prod");
    let pc = prod.create_collection("scoped", CollectionOptions::new()).unwrap();
    pc.add(Records::new(["x"], vec![vec![1.0]])).unwrap();
    assert_eq!(pc.count().unwrap(), 1);
    assert_eq!(prod.count_collections().unwrap(), 1);
    assert_eq!(client.count_collections().unwrap(), 1);
    assert_eq!(client.get_collection_by_id(pc.id()).unwrap().tenant(), "acme");

    client.delete_collection("rust-client-2").unwrap();
    assert_eq!(client.count_collections().unwrap(), 0);
}

#[test]
fn http_and_embedded_agree() {
    let s = start(reset_config());
    exercise(&Client::http(&s.url).unwrap());
    let settings = chroma_client::Settings { allow_reset: true, ..Default::default() };
    exercise(&Client::ephemeral_with(settings).unwrap());
}

#[test]
fn http_client_auth() {
    let s = start(ServerConfig {
        auth: Auth::Token { tokens: vec!["tok".into()], header: TokenHeader::XChromaToken },
        ..ServerConfig::default()
    });
    let err = Client::http(&s.url).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "{err}");
    let err = Client::http_with(HttpOptions::new(&s.url).token("tok")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unauthorized, "bearer is the wrong header here: {err}");
    let c = Client::http_with(
        HttpOptions::new(&s.url).token("tok").token_transport(chroma_client::TokenTransport::XChromaToken),
    )
    .unwrap();
    assert_eq!(c.count_collections().unwrap(), 0);
    let err = Client::http("http://127.0.0.1:1").unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unavailable);
}

#[test]
fn large_batch_over_http() {
    let s = start(reset_config());
    let c = Client::http(&s.url).unwrap();
    let col = c.create_collection("big", CollectionOptions::new()).unwrap();
    let n = 10_000;
    let ids: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
    let embs: Vec<Vec<f32>> =
        (0..n).map(|i| (0..16).map(|j| ((i * 31 + j * 7) % 97) as f32 / 97.0).collect()).collect();
    let max = c.get_max_batch_size().unwrap();
    for (ids, embs) in ids.chunks(max).zip(embs.chunks(max)) {
        col.add(Records::new(ids.to_vec(), embs.to_vec())).unwrap();
    }
    assert_eq!(col.count().unwrap(), n);
    let q = col.query(Query::new(vec![embs[1234].clone()]).n_results(3).include(&[Include::Distances])).unwrap();
    #[allow(clippy::float_cmp)] // the record itself: exactly 0
    {
        assert_eq!(q.distances.unwrap()[0][0], 0.0);
    }
    let g = col.get(Get::new().limit(5000).offset(5000).include(&[])).unwrap();
    assert_eq!(g.ids.len(), 5000);
}

/// The engine's own behaviour suite (crates/store/tests/common/api_suite.rs), run through
/// `HttpApi` against a real server: the HTTP client must answer exactly as the engine does.
#[path = "../../store/tests/common/api_suite.rs"]
#[allow(clippy::pedantic)] // chroma-store's file, linted there
mod api_suite;

#[test]
fn engine_suite_over_http() {
    let server = start(reset_config());
    let api = chroma_client::HttpApi::new(HttpOptions::new(server.url.clone())).expect("http api");
    api_suite::run_all_remote(&api);
}
