//! Embedding functions of chroma-rs: text in, vectors out, and the name and config Chroma 1.x
//! stores in a collection's configuration so any client knows which function made its vectors.
//!
//! The default function is all-MiniLM-L6-v2, as in Chroma, run natively: a `WordPiece`
//! tokenizer ([`WordPiece`]), the BERT encoder ([`Bert`]), mean pooling and L2
//! normalisation; no Python and no ONNX Runtime. Its files (`config.json`, `vocab.txt`,
//! `model.safetensors`) are found or downloaded by [`ModelFiles`], each checked against a
//! pinned SHA-256 before use.
//!
//! ```no_run
//! use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction};
//! let ef = DefaultEmbeddingFunction::load()?; // finds (or downloads) the model files
//! let vectors = ef.embed(&["a cat sat on the mat", "the weather is fine"])?;
//! assert_eq!(vectors[0].len(), 384);
//! # Ok::<(), chroma_embed::EmbedError>(())
//! ```

mod bert;
mod files;
mod minilm;
#[cfg(feature = "openai")]
mod openai;
mod tokenizer;

use std::path::{Path, PathBuf};

pub use bert::{Bert, BertShape};
pub use files::{ModelFiles, MODEL_DIR_ENV, MODEL_FILES, MODEL_NAME, MODEL_URL_ENV};
pub use minilm::{DefaultEmbeddingFunction, DEFAULT_NAME, MAX_TOKENS};
#[cfg(feature = "openai")]
pub use openai::{OpenAiEmbeddingFunction, OPENAI_DEFAULT_BASE, OPENAI_DEFAULT_KEY_ENV, OPENAI_NAME};
pub use tokenizer::WordPiece;

/// A function from texts to vectors, as a Chroma collection uses one.
pub trait EmbeddingFunction: Send + Sync {
    /// One vector per text, in order, all of the same dimension.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// The function's name in Chroma's registry of known functions (e.g. `default`).
    fn name(&self) -> &str;

    /// The function's own config object (Chroma's `get_config()`).
    fn config(&self) -> serde_json::Value;

    /// The `embedding_function` entry of a collection's configuration as Chroma 1.x stores
    /// it: `{"type": "known", "name": ..., "config": {...}}`.
    fn stored_config(&self) -> serde_json::Value {
        known_config(self.name(), self.config())
    }
}

/// The `embedding_function` entry Chroma 1.x stores for a function it knows by `name`:
/// `{"type": "known", "name": name, "config": config}`.
pub fn known_config(name: &str, config: serde_json::Value) -> serde_json::Value {
    let mut entry = serde_json::Map::new();
    entry.insert("type".into(), "known".into());
    entry.insert("name".into(), name.into());
    entry.insert("config".into(), config);
    serde_json::Value::Object(entry)
}

/// The stored config of the default function ([`DefaultEmbeddingFunction`]), without
/// loading its model: `{"type": "known", "name": "default", "config": {}}`.
pub fn default_stored_config() -> serde_json::Value {
    known_config(DEFAULT_NAME, serde_json::json!({}))
}

/// What can go wrong finding, checking, downloading or running a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbedError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A model file is not in the folder it must be in (and was not downloaded).
    #[error("model file {file} is missing ({hint})")]
    Missing {
        /// The path where it was looked for.
        file: PathBuf,
        /// How to provide it.
        hint: String,
    },
    /// A model file's SHA-256 is not the pinned one: a partial, corrupted or different file.
    #[error("model file {file} has SHA-256 {actual}, expected {expected} (partial or corrupted file: delete it to download it again)")]
    Checksum {
        /// The file.
        file: PathBuf,
        /// The pinned digest (hex).
        expected: String,
        /// The digest of the file (hex).
        actual: String,
    },
    /// Downloading a model file failed.
    #[error("downloading {url}: {message}")]
    Download {
        /// What was fetched.
        url: String,
        /// Why it failed.
        message: String,
    },
    /// A model file has the right checksum but cannot be used (or a file given by path is
    /// malformed).
    #[error("model file {file}: {message}")]
    Format {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An embedding function's settings are unusable (a stored config it cannot be built
    /// from, a missing API key).
    #[error("{0}")]
    Config(String),
    /// An embedding service answered with an error or with something unusable (wrong count
    /// or dimension of vectors).
    #[error("{url}: {message}")]
    Remote {
        /// The endpoint.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The model cannot embed this input.
    #[error("embedding failed: {0}")]
    Model(String),
}

impl EmbedError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.to_path_buf(), source }
    }
}
