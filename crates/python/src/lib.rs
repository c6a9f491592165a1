//! `chroma_rs._native`: the extension module behind the `chroma_rs` Python package.
//!
//! It exposes one class, [`engine::Engine`]: the [`chroma_types::ChromaApi`] of an embedded
//! engine (in memory or on a folder) or of a server over HTTP, with plain Python values in
//! and out. The Chroma-shaped API that users write against (`PersistentClient`, `Collection`,
//! `GetResult`, the exception classes, the client-side checks) is the Python half of the
//! package, in `crates/python/python/chroma_rs/`, so that its signatures, defaults and
//! messages can be read and changed without a rebuild.
//!
//! Every engine call releases the GIL: Python threads run while the engine works, and one
//! `Engine` is safe to share between threads (the engine does its own locking).

pub mod convert;
pub mod embed;
pub mod engine;

use pyo3::prelude::*;

/// The module: `chroma_rs._native`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<engine::Engine>()?;
    m.add_function(wrap_pyfunction!(settings_error, m)?)?;
    m.add_function(wrap_pyfunction!(embed::embed_default, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// Why these settings (`(name, value)` pairs, as `Settings` holds them) are refused, or `None`:
/// Chroma 0.3.x implementations (`chroma_db_impl="duckdb+parquet"`, `chroma_api_impl="rest"`,
/// ...) are refused with a message that names `chroma-rs migrate`.
#[pyfunction]
fn settings_error(pairs: Vec<(String, String)>) -> Option<String> {
    chroma_types::Settings::from_pairs(pairs).err().map(|e| e.message)
}
