//! Chroma's default embedding function: all-MiniLM-L6-v2, run natively.

use std::path::Path;

use rayon::prelude::*;

use crate::{Bert, EmbedError, EmbeddingFunction, ModelFiles, WordPiece};

/// Word pieces per text, `[CLS]` and `[SEP]` included: longer texts are cut, as Chroma's
/// default function does (sentence-transformers' `max_seq_length` for this model).
pub const MAX_TOKENS: usize = 256;

/// The default function's name in Chroma 1.x's registry (`DefaultEmbeddingFunction.name()`).
pub const DEFAULT_NAME: &str = "default";

/// Texts per forward pass (Chroma's default batch size).
const BATCH: usize = 32;

/// all-MiniLM-L6-v2 (384 dimensions), Chroma's `default` embedding function.
pub struct DefaultEmbeddingFunction {
    tokenizer: WordPiece,
    model: Bert,
}

impl std::fmt::Debug for DefaultEmbeddingFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DefaultEmbeddingFunction").field("shape", &self.model.shape()).finish_non_exhaustive()
    }
}

impl DefaultEmbeddingFunction {
    /// Loads the model found by the documented lookup ([`ModelFiles::new`]), downloading it
    /// into the user cache folder at first use.
    pub fn load() -> Result<Self, EmbedError> {
        Self::from_files(&ModelFiles::new())
    }

    /// Loads the model from the files `files` resolves to (checked against their pinned
    /// SHA-256 first).
    pub fn from_files(files: &ModelFiles) -> Result<Self, EmbedError> {
        Self::from_checked_dir(&files.resolve()?)
    }

    /// Loads the model from a folder holding `config.json`, `vocab.txt` and
    /// `model.safetensors` (checked against their pinned SHA-256 first).
    pub fn from_dir(dir: &Path) -> Result<Self, EmbedError> {
        Self::from_files(&ModelFiles::dir(dir))
    }

    fn from_checked_dir(dir: &Path) -> Result<Self, EmbedError> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| EmbedError::io(&config_path, e))?;
        let format = |message: String| EmbedError::Format { file: config_path.clone(), message };
        let config: serde_json::Value = serde_json::from_str(&text).map_err(|e| format(e.to_string()))?;
        // The forward pass implements this one architecture; say so rather than compute nonsense.
        for (key, want) in [("model_type", "bert"), ("hidden_act", "gelu"), ("position_embedding_type", "absolute")] {
            if config.get(key).and_then(serde_json::Value::as_str) != Some(want) {
                return Err(format(format!("{key} must be \"{want}\"")));
            }
        }
        let heads = config
            .get("num_attention_heads")
            .and_then(serde_json::Value::as_u64)
            .ok_or_else(|| format("no num_attention_heads".into()))?;
        let tokenizer = WordPiece::from_vocab_file(&dir.join("vocab.txt"), MAX_TOKENS)?;
        let weights_path = dir.join("model.safetensors");
        let bytes = std::fs::read(&weights_path).map_err(|e| EmbedError::io(&weights_path, e))?;
        let model = Bert::from_safetensors(&bytes, heads as usize)
            .map_err(|message| EmbedError::Format { file: weights_path.clone(), message })?;
        if model.shape().vocab != tokenizer.vocab_len() || model.shape().max_positions < MAX_TOKENS {
            return Err(EmbedError::Format {
                file: weights_path,
                message: format!("weights do not fit the vocabulary of {} pieces", tokenizer.vocab_len()),
            });
        }
        Ok(Self { tokenizer, model })
    }

    /// The word-piece ids the model sees for `text` (`[CLS]` … `[SEP]`, at most
    /// [`MAX_TOKENS`]).
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.tokenizer.encode(text)
    }

    /// Vector dimension (384).
    pub fn dimension(&self) -> usize {
        self.model.shape().hidden
    }
}

impl EmbeddingFunction for DefaultEmbeddingFunction {
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(BATCH) {
            let ids: Vec<Vec<u32>> = chunk.par_iter().map(|t| self.tokenizer.encode(t)).collect();
            out.extend(self.model.embed(&ids).map_err(EmbedError::Model)?);
        }
        Ok(out)
    }

    fn name(&self) -> &'static str {
        DEFAULT_NAME
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}
