//! Python values <-> chroma-rs types, and engine errors -> the package's exception classes.

use chroma_types::metadata::{metadata_to_json, update_metadata_from_json};
use chroma_types::{Error, ErrorKind, Metadata, UpdateMetadata};
use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};
use serde_json::Value;

/// The exception class (in `chroma_rs.errors`) for an engine error, named as chromadb 1.x
/// names it, so that `except chromadb.errors.NotFoundError` code ports by renaming the import.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "NotFoundError",
        ErrorKind::DuplicateId => "DuplicateIDError",
        ErrorKind::AlreadyExists => "UniqueConstraintError",
        ErrorKind::BatchSizeExceeded => "BatchSizeExceededError",
        ErrorKind::Forbidden => "AuthorizationError",
        ErrorKind::Unauthorized => "ChromaAuthError",
        ErrorKind::InvalidArgument | ErrorKind::InvalidDimension => "InvalidArgumentError",
        _ => "InternalError",
    }
}

/// Turns an engine error into an instance of the matching `chroma_rs.errors` class.
pub fn py_err(py: Python<'_>, e: &Error) -> PyErr {
    let made = py.import("chroma_rs.errors").and_then(|m| m.getattr(class_name(e.kind))).and_then(|class| {
        let exc = class.call1((e.message.as_str(),))?;
        Ok(PyErr::from_value(exc))
    });
    // Only when the Python half of the package is missing (the module imported on its own).
    made.unwrap_or_else(|_| PyRuntimeError::new_err(e.message.clone()))
}

/// Extension trait: `result.py(py)?` turns an engine error into a Python exception.
pub trait IntoPy<T> {
    /// The value, or the error as a Python exception.
    fn py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for chroma_types::Result<T> {
    fn py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|e| py_err(py, &e))
    }
}

/// A Python value (dict, list, str, number, bool, None) as JSON.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    pythonize::depythonize::<Value>(obj).map_err(|e| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "Expected a JSON-like value (dict, list, str, number, bool or None), got {e}"
        ))
    })
}

/// `None` stays `None`; anything else as JSON.
pub fn opt_json(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Value>> {
    match obj {
        Some(o) if !o.is_none() => Ok(Some(to_json(o)?)),
        _ => Ok(None),
    }
}

/// JSON as a Python value.
pub fn from_json<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    pythonize::pythonize(py, v).map_err(|e| PyRuntimeError::new_err(e.to_string()))
}

/// Embeddings from a 2-d float32 `NumPy` array (the fast path: the Python half converts other
/// arrays to it) or from any sequence of sequences of numbers.
pub fn embeddings(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Vec<f32>>> {
    if let Ok(arr) = obj.extract::<PyReadonlyArray2<'_, f32>>() {
        let view = arr.as_array();
        return Ok(view.rows().into_iter().map(|r| r.iter().copied().collect()).collect());
    }
    obj.extract::<Vec<Vec<f32>>>()
}

/// Per-record optional embeddings (`update`): `None` entries keep the stored vector.
pub fn opt_embeddings(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Option<Vec<f32>>>> {
    if let Ok(arr) = obj.extract::<PyReadonlyArray2<'_, f32>>() {
        let view = arr.as_array();
        return Ok(view.rows().into_iter().map(|r| Some(r.iter().copied().collect())).collect());
    }
    obj.extract::<Vec<Option<Vec<f32>>>>()
}

/// Per-record metadata (a list of dicts or `None`s), checked by the engine's rules.
pub fn metadatas(py: Python<'_>, obj: &Bound<'_, PyAny>) -> PyResult<Vec<Option<UpdateMetadata>>> {
    let list = obj.cast::<PyList>()?;
    let mut out = Vec::with_capacity(list.len());
    for item in list.iter() {
        if item.is_none() {
            out.push(None);
        } else {
            out.push(Some(update_metadata_from_json(&to_json(&item)?).py(py)?));
        }
    }
    Ok(out)
}

/// A column of optional strings (documents, URIs).
pub fn strings(obj: &Bound<'_, PyAny>) -> PyResult<Vec<Option<String>>> {
    obj.extract::<Vec<Option<String>>>()
}

/// Rows of vectors as a 2-d float64 `NumPy` array (what chromadb 1.x returns: it builds the
/// array from Python floats). An empty result is a `(0,)` array, as `np.array([])` is.
pub fn embeddings_to_numpy<'py>(py: Python<'py>, rows: &[Vec<f32>]) -> PyResult<Bound<'py, PyAny>> {
    let dim = rows.first().map_or(0, Vec::len);
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().map(|&x| f64::from(x))).collect();
    let arr = PyArray1::from_vec(py, flat);
    if rows.is_empty() {
        return Ok(arr.into_any());
    }
    Ok(arr.reshape([rows.len(), dim])?.into_any())
}

/// A metadata map as a Python dict.
pub fn metadata_to_py<'py>(py: Python<'py>, m: Option<&Metadata>) -> PyResult<Bound<'py, PyAny>> {
    match m {
        Some(m) => from_json(py, &metadata_to_json(m)),
        None => Ok(py.None().into_bound(py)),
    }
}

/// A list of optional strings as a Python list.
pub fn strings_to_py<'py>(py: Python<'py>, v: &[Option<String>]) -> PyResult<Bound<'py, PyAny>> {
    let items: Vec<Bound<'py, PyAny>> = v
        .iter()
        .map(|s| match s {
            Some(s) => PyString::new(py, s).into_any(),
            None => py.None().into_bound(py),
        })
        .collect();
    Ok(PyList::new(py, items)?.into_any())
}
