//! The default embedding function (all-MiniLM-L6-v2, native, from `chroma-embed`) for Python.

use chroma_embed::{DefaultEmbeddingFunction, EmbeddingFunction};
use numpy::{PyArray1, PyArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::sync::{Mutex, OnceLock};

/// The model, loaded once per process on first use (a load that failed is tried again next
/// time: the user may have put the files in place since).
static MODEL: OnceLock<DefaultEmbeddingFunction> = OnceLock::new();
static LOADING: Mutex<()> = Mutex::new(());

fn model() -> Result<&'static DefaultEmbeddingFunction, String> {
    if let Some(m) = MODEL.get() {
        return Ok(m);
    }
    // One loader at a time: a first use from several threads reads (or downloads) the files once.
    let _guard = LOADING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(m) = MODEL.get() {
        return Ok(m);
    }
    let loaded = DefaultEmbeddingFunction::load().map_err(|e| {
        format!(
            "The default embedding function (all-MiniLM-L6-v2) could not be loaded: {e}. Pass embeddings= \
             yourself, or an embedding_function=."
        )
    })?;
    Ok(MODEL.get_or_init(|| loaded))
}

/// Embeds texts with the default model; returns a 2-d float32 `NumPy` array, one row per text.
/// The GIL is released while the model runs.
#[pyfunction]
#[allow(clippy::needless_pass_by_value)] // pyo3 hands over an owned list
pub fn embed_default(py: Python<'_>, texts: Vec<String>) -> PyResult<Bound<'_, PyAny>> {
    let vectors = py
        .detach(|| {
            let m = model()?;
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            m.embed(&refs).map_err(|e| e.to_string())
        })
        .map_err(PyValueError::new_err)?;
    let dim = vectors.first().map_or(0, Vec::len);
    let rows = vectors.len();
    let flat: Vec<f32> = vectors.into_iter().flatten().collect();
    Ok(PyArray1::from_vec(py, flat).reshape([rows, dim])?.into_any())
}
