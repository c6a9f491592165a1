//! The native all-MiniLM-L6-v2 against a reference computed another way (Hugging Face's
//! `tokenizers` + a numpy forward pass, tests/embed/reference.py) on the texts of
//! tests/embed/sentences.json: the same word-piece ids, and cosine ≥ 0.9999 for every text.
//! Skipped (with a message) when the `bench` venv is missing; scripts/test.sh sets it up.

mod common;

use std::process::Command;

use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction, MAX_TOKENS};

#[test]
fn matches_the_numpy_reference() {
    let Some(python) = common::bench_python() else { return };
    let model_dir = common::model_dir(&python);
    let root = common::root();
    let sentences = root.join("tests/embed/sentences.json");
    let out = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new(&python)
        .arg(root.join("tests/embed/reference.py"))
        .arg(&sentences)
        .arg(&model_dir)
        .arg(out.path())
        .status()
        .expect("run reference.py");
    assert!(status.success(), "reference.py failed");
    let reference: serde_json::Value = serde_json::from_slice(&std::fs::read(out.path()).unwrap()).unwrap();
    let texts: Vec<String> = serde_json::from_slice(&std::fs::read(&sentences).unwrap()).unwrap();
    assert!(texts.len() >= 300, "the fixture should hold a few hundred texts");

    let ef = DefaultEmbeddingFunction::from_dir(&model_dir).expect("load the model");
    assert_eq!(ef.dimension(), 384);
    assert_eq!(ef.stored_config(), serde_json::json!({"type": "known", "name": "default", "config": {}}));

    let want_ids = reference["ids"].as_array().unwrap();
    let mut truncated = 0;
    for (i, text) in texts.iter().enumerate() {
        let want: Vec<u32> = serde_json::from_value(want_ids[i].clone()).unwrap();
        assert_eq!(ef.tokenize(text), want, "word pieces of text {i}: {text:?}");
        truncated += usize::from(want.len() == MAX_TOKENS);
    }
    assert!(truncated >= 2, "the fixture should hold texts cut at {MAX_TOKENS} pieces");

    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let got = ef.embed(&refs).expect("embed");
    let want_vectors = reference["vectors"].as_array().unwrap();
    let mut worst = (1.0f64, 0);
    for (i, v) in got.iter().enumerate() {
        let w: Vec<f64> = serde_json::from_value(want_vectors[i].clone()).unwrap();
        let dot: f64 = v.iter().zip(&w).map(|(a, b)| f64::from(*a) * b).sum();
        let na: f64 = v.iter().map(|a| f64::from(*a).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = w.iter().map(|b| b * b).sum::<f64>().sqrt();
        let cos = dot / (na * nb);
        assert!((na - 1.0).abs() < 1e-4, "text {i} is not unit length: {na}");
        if cos < worst.0 {
            worst = (cos, i);
        }
    }
    eprintln!("{} texts, lowest cosine {:.7} (text {})", got.len(), worst.0, worst.1);
    assert!(worst.0 >= 0.9999, "text {} has cosine {} against the reference: {:?}", worst.1, worst.0, texts[worst.1]);

    // A batch gives each text what it gets alone (no cross-talk between texts of a batch).
    let alone = ef.embed(&refs[5..6]).unwrap();
    let diff = alone[0].iter().zip(&got[5]).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(diff < 1e-5, "text 5 alone differs from text 5 in a batch by {diff}");
}

#[test]
fn a_changed_file_is_refused_by_name() {
    let Some(python) = common::bench_python() else { return };
    let model_dir = common::model_dir(&python);
    let dir = tempfile::tempdir().unwrap();
    for (name, _, _) in chroma_embed::MODEL_FILES {
        std::fs::copy(model_dir.join(name), dir.path().join(name)).unwrap();
    }
    let mut vocab = std::fs::read(dir.path().join("vocab.txt")).unwrap();
    vocab[200] ^= 1;
    std::fs::write(dir.path().join("vocab.txt"), &vocab).unwrap();
    let err = DefaultEmbeddingFunction::from_dir(dir.path()).unwrap_err().to_string();
    assert!(err.contains("vocab.txt") && err.contains("SHA-256"), "{err}");
}
