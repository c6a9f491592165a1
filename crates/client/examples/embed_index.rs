//! End to end: embed and index N sentences through a persistent client (the native default
//! model, chroma-store), timed from the first `add` until the last returns (every write is
//! indexed before `add` returns), in batches of 1000 documents; then the same texts embedded
//! alone, for the share of the model. One JSON line (`bench/embed/run.sh`).
//!
//! usage: `cargo run --release -p chroma-client --example embed_index -- MODEL_DIR SENTENCES N DB_DIR`
//! (`SENTENCES`: one a line; `DB_DIR` must not exist yet). Threads: `RAYON_NUM_THREADS`.

use std::sync::Arc;
use std::time::Instant;

use chroma_client::{Client, CollectionOptions, Query, Records};
use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction};

const BATCH: usize = 1000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model, sentences, n, db] = &args[..] else {
        return Err("usage: embed_index MODEL_DIR SENTENCES N DB_DIR".into());
    };
    let n: usize = n.parse()?;
    let text = std::fs::read_to_string(sentences)?;
    let texts: Vec<&str> = text.lines().take(n).collect();
    if texts.len() < n {
        return Err(format!("{n} sentences wanted, {sentences} has {}", texts.len()).into());
    }
    if std::path::Path::new(db).exists() {
        return Err(format!("{db} exists: give a new folder").into());
    }
    let ef = Arc::new(DefaultEmbeddingFunction::from_dir(model.as_ref())?);
    let client = Client::persistent(db)?;
    let docs = client.create_collection(
        "wordnet",
        CollectionOptions::new().space(chroma_types::Space::Cosine).embedding_function(ef.clone()),
    )?;
    let start = Instant::now();
    for (b, chunk) in texts.chunks(BATCH).enumerate() {
        let ids = (0..chunk.len()).map(|i| format!("s{}", b * BATCH + i));
        docs.add(Records::from_documents(ids, chunk.iter().copied()))?;
        eprintln!("{} sentences in {:.1} s", b * BATCH + chunk.len(), start.elapsed().as_secs_f64());
    }
    let seconds = start.elapsed().as_secs_f64();
    if docs.count()? != n {
        return Err(format!("{} records after adding {n}", docs.count()?).into());
    }
    // A sentence finds itself: the index holds what the model made.
    let hit = docs.query(Query::texts([texts[n / 2]]).n_results(1))?;
    if hit.ids[0].first().map(String::as_str) != Some(format!("s{}", n / 2).as_str()) {
        eprintln!("note: sentence {} found {:?} (a duplicate text?)", n / 2, hit.ids[0]);
    }
    let start = Instant::now();
    for chunk in texts.chunks(BATCH) {
        ef.embed(chunk)?;
    }
    let embed_seconds = start.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "engine": "e2e", "sentences": n, "batch": BATCH, "threads": rayon_threads(),
            "seconds": seconds, "per_second": n as f64 / seconds, "embed_seconds": embed_seconds,
        })
    );
    Ok(())
}

/// The threads the model runs on (rayon's global pool: `RAYON_NUM_THREADS`, else all cores).
fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
}
