//! The README's example.
use chroma_client::{Client, CollectionOptions, Get, Query, Records};
use serde_json::json;

fn main() -> chroma_types::Result<()> {
    // or Client::ephemeral(), or Client::http("http://127.0.0.1:8000")
    let client = Client::persistent(std::env::temp_dir().join("chroma-rs-quickstart"))?;
    let docs =
        client.get_or_create_collection("docs", CollectionOptions::new().metadata(json!({"hnsw:space": "cosine"})))?;
    docs.add(
        Records::new(["a", "b"], vec![vec![1.0, 0.0], vec![0.0, 1.0]])
            .documents(["apples", "bananas"])
            .metadatas(vec![json!({"kind": "fruit", "n": 1}), json!({"kind": "fruit", "n": 2})]),
    )?;
    let hits = docs.query(Query::new(vec![vec![0.9, 0.1]]).n_results(1).r#where(json!({"n": {"$gte": 1}})))?;
    println!("{:?}", hits.ids); // [["a"]]
    let got = docs.get(Get::new().where_document(json!({"$contains": "nan"})))?;
    println!("{:?}", got.ids); // ["b"]
    Ok(())
}
