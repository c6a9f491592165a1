//! [`Engine`]: the operations of [`ChromaApi`] for Python, on any backend.

use crate::convert::{self, IntoPy};
use chroma_client::{HttpApi, HttpOptions};
use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::{
    AddRequest, ChromaApi, Collection, CreateCollection, Database, DeleteRequest, GetRequest, Include, QueryRequest,
    Settings, UpdateCollection, UpdateRequest,
};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A backend: the embedded engine (in memory or a folder) or a server over HTTP.
///
/// Methods take and return plain Python values; argument checking that chromadb does on the
/// client side lives in the Python half, the rest (and every storage rule) in the engine.
#[pyclass(frozen, module = "chroma_rs._native")]
pub struct Engine {
    api: Arc<dyn ChromaApi>,
}

fn settings(py: Python<'_>, pairs: Option<Vec<(String, String)>>) -> PyResult<Settings> {
    Settings::from_pairs(pairs.unwrap_or_default()).py(py)
}

fn uuid(py: Python<'_>, id: &str) -> PyResult<Uuid> {
    Uuid::parse_str(id)
        .map_err(|_| convert::py_err(py, &chroma_types::Error::invalid(format!("Could not parse {id} as a UUID"))))
}

fn includes(py: Python<'_>, include: Option<Vec<String>>, default: fn() -> Vec<Include>) -> PyResult<Vec<Include>> {
    match include {
        None => Ok(default()),
        Some(v) => v.iter().map(|s| Include::parse(s).py(py)).collect(),
    }
}

fn collection_to_py<'py>(py: Python<'py>, c: &Collection) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", c.id.to_string())?;
    d.set_item("name", &c.name)?;
    d.set_item("tenant", &c.tenant)?;
    d.set_item("database", &c.database)?;
    d.set_item("metadata", convert::metadata_to_py(py, c.metadata.as_ref())?)?;
    d.set_item("dimension", c.dimension)?;
    d.set_item("configuration_json", convert::from_json(py, &c.config.to_v1x_json())?)?;
    d.set_item("schema", convert::from_json(py, &c.config.to_schema_json())?)?;
    d.set_item("version", c.version)?;
    d.set_item("log_position", c.log_position)?;
    Ok(d)
}

fn database_to_py<'py>(py: Python<'py>, db: &Database) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("id", db.id.to_string())?;
    d.set_item("name", &db.name)?;
    d.set_item("tenant", &db.tenant)?;
    Ok(d)
}

/// The `where` / `where_document` filters as the engine's checked AST.
fn filters(
    py: Python<'_>,
    r#where: Option<&Bound<'_, PyAny>>,
    where_document: Option<&Bound<'_, PyAny>>,
) -> PyResult<(Option<chroma_types::Where>, Option<chroma_types::WhereDocument>)> {
    let w = convert::opt_json(r#where)?;
    let wd = convert::opt_json(where_document)?;
    let w = parse_where(w.as_ref()).py(py)?;
    let wd = parse_where_document(wd.as_ref()).py(py)?;
    Ok((w, wd))
}

fn empty_map_is_none(v: Option<Value>) -> Option<Value> {
    v.filter(|v| !matches!(v, Value::Object(m) if m.is_empty()))
}

/// The record columns of `add` / `upsert`.
fn add_request(
    py: Python<'_>,
    ids: Vec<String>,
    embeddings: &Bound<'_, PyAny>,
    documents: Option<&Bound<'_, PyAny>>,
    uris: Option<&Bound<'_, PyAny>>,
    metadatas: Option<&Bound<'_, PyAny>>,
) -> PyResult<AddRequest> {
    let mut req = AddRequest::new(ids, convert::embeddings(embeddings)?);
    if let Some(d) = documents.filter(|d| !d.is_none()) {
        req = req.documents(convert::strings(d)?);
    }
    if let Some(u) = uris.filter(|u| !u.is_none()) {
        req = req.uris(convert::strings(u)?);
    }
    if let Some(m) = metadatas.filter(|m| !m.is_none()) {
        req.metadatas = Some(convert::metadatas(py, m)?);
    }
    Ok(req)
}

#[pymethods]
impl Engine {
    /// An in-memory engine. `settings`: (key, value) pairs as Chroma's `Settings` holds them.
    #[staticmethod]
    #[pyo3(signature = (settings=None))]
    fn ephemeral(py: Python<'_>, settings: Option<Vec<(String, String)>>) -> PyResult<Engine> {
        let settings = self::settings(py, settings)?;
        let engine = py.detach(|| chroma_store::Engine::ephemeral(settings)).py(py)?;
        Ok(Engine { api: Arc::new(engine) })
    }

    /// The engine on a data folder (created when missing). A second process on the same
    /// folder is refused with the holder's pid; in one process the folder's engine is shared.
    #[staticmethod]
    #[pyo3(signature = (path, settings=None))]
    fn persistent(py: Python<'_>, path: PathBuf, settings: Option<Vec<(String, String)>>) -> PyResult<Engine> {
        let settings = self::settings(py, settings)?;
        let engine = py.detach(move || chroma_store::Engine::open(&path, settings)).py(py)?;
        Ok(Engine { api: Arc::new(engine) })
    }

    /// A Chroma or chroma-rs server at `url` (API v2, or v1 for 0.4.x / 0.5.x servers).
    #[staticmethod]
    #[pyo3(signature = (url, headers=None, timeout_seconds=None))]
    fn http(
        py: Python<'_>,
        url: String,
        headers: Option<Vec<(String, String)>>,
        timeout_seconds: Option<f64>,
    ) -> PyResult<Engine> {
        let mut options = HttpOptions::new(url);
        for (k, v) in headers.unwrap_or_default() {
            options = options.header(k, v);
        }
        if let Some(t) = timeout_seconds.filter(|t| t.is_finite() && *t > 0.0) {
            options = options.timeout(Duration::from_secs_f64(t));
        }
        let api = py.detach(|| HttpApi::new(options)).py(py)?;
        Ok(Engine { api: Arc::new(api) })
    }

    /// Nanoseconds since the Unix epoch.
    fn heartbeat(&self, py: Python<'_>) -> PyResult<u128> {
        py.detach(|| self.api.heartbeat()).py(py)
    }

    /// The server's (or engine's) version string.
    fn version(&self, py: Python<'_>) -> PyResult<String> {
        py.detach(|| self.api.version()).py(py)
    }

    /// The largest write batch accepted.
    fn max_batch_size(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.api.max_batch_size()).py(py)
    }

    /// Wipes everything (only when the settings allow it).
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.api.reset()).py(py)
    }

    /// Creates a tenant.
    fn create_tenant(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.api.create_tenant(name)).py(py)
    }

    /// A tenant's name, or `NotFoundError`.
    fn get_tenant(&self, py: Python<'_>, name: &str) -> PyResult<String> {
        py.detach(|| self.api.get_tenant(name)).py(py).map(|t| t.name)
    }

    /// Creates a database in a tenant.
    fn create_database<'py>(&self, py: Python<'py>, tenant: &str, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let db = py.detach(|| self.api.create_database(tenant, name)).py(py)?;
        database_to_py(py, &db)
    }

    /// A database as a dict (`id`, `name`, `tenant`).
    fn get_database<'py>(&self, py: Python<'py>, tenant: &str, name: &str) -> PyResult<Bound<'py, PyDict>> {
        let db = py.detach(|| self.api.get_database(tenant, name)).py(py)?;
        database_to_py(py, &db)
    }

    /// The databases of a tenant.
    #[pyo3(signature = (tenant, limit=None, offset=0))]
    fn list_databases<'py>(
        &self,
        py: Python<'py>,
        tenant: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let dbs = py.detach(|| self.api.list_databases(tenant, limit, offset)).py(py)?;
        let items = dbs.iter().map(|d| database_to_py(py, d)).collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// Deletes a database and its collections.
    fn delete_database(&self, py: Python<'_>, tenant: &str, name: &str) -> PyResult<()> {
        py.detach(|| self.api.delete_database(tenant, name)).py(py)
    }

    /// Creates (or with `get_or_create`, gets) a collection; returns it as a dict.
    #[pyo3(signature = (tenant, database, name, metadata=None, configuration=None, schema=None, get_or_create=false))]
    #[allow(clippy::too_many_arguments)]
    fn create_collection<'py>(
        &self,
        py: Python<'py>,
        tenant: &str,
        database: &str,
        name: &str,
        metadata: Option<&Bound<'py, PyAny>>,
        configuration: Option<&Bound<'py, PyAny>>,
        schema: Option<&Bound<'py, PyAny>>,
        get_or_create: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut req = CreateCollection::new(name);
        req.metadata = match empty_map_is_none(convert::opt_json(metadata)?) {
            Some(v) => Some(chroma_types::metadata::metadata_from_json(&v).py(py)?),
            None => None,
        };
        req.configuration = empty_map_is_none(convert::opt_json(configuration)?);
        req.schema = convert::opt_json(schema)?;
        req.get_or_create = get_or_create;
        let c = py.detach(|| self.api.create_collection(tenant, database, req)).py(py)?;
        collection_to_py(py, &c)
    }

    /// A collection by name.
    fn get_collection<'py>(
        &self,
        py: Python<'py>,
        tenant: &str,
        database: &str,
        name: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = py.detach(|| self.api.get_collection(tenant, database, name)).py(py)?;
        collection_to_py(py, &c)
    }

    /// A collection by id.
    fn get_collection_by_id<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyDict>> {
        let id = uuid(py, id)?;
        let c = py.detach(|| self.api.get_collection_by_id(id)).py(py)?;
        collection_to_py(py, &c)
    }

    /// Collections in creation order.
    #[pyo3(signature = (tenant, database, limit=None, offset=0))]
    fn list_collections<'py>(
        &self,
        py: Python<'py>,
        tenant: &str,
        database: &str,
        limit: Option<usize>,
        offset: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let cs = py.detach(|| self.api.list_collections(tenant, database, limit, offset)).py(py)?;
        let items = cs.iter().map(|c| collection_to_py(py, c)).collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, items)
    }

    /// How many collections a database holds.
    fn count_collections(&self, py: Python<'_>, tenant: &str, database: &str) -> PyResult<usize> {
        py.detach(|| self.api.count_collections(tenant, database)).py(py)
    }

    /// Renames a collection and/or replaces its metadata or mutable configuration.
    #[pyo3(signature = (id, new_name=None, new_metadata=None, new_configuration=None))]
    fn update_collection(
        &self,
        py: Python<'_>,
        id: &str,
        new_name: Option<String>,
        new_metadata: Option<&Bound<'_, PyAny>>,
        new_configuration: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = uuid(py, id)?;
        let mut req = UpdateCollection { new_name, ..UpdateCollection::default() };
        req.new_metadata = match convert::opt_json(new_metadata)? {
            Some(v) => Some(chroma_types::metadata::metadata_from_json(&v).py(py)?),
            None => None,
        };
        req.new_configuration = convert::opt_json(new_configuration)?;
        py.detach(|| self.api.update_collection(id, req)).py(py)
    }

    /// Deletes a collection by name.
    fn delete_collection(&self, py: Python<'_>, tenant: &str, database: &str, name: &str) -> PyResult<()> {
        py.detach(|| self.api.delete_collection(tenant, database, name)).py(py)
    }

    /// Copies a collection into a new one; returns the new collection.
    fn fork_collection<'py>(&self, py: Python<'py>, id: &str, new_name: &str) -> PyResult<Bound<'py, PyDict>> {
        let id = uuid(py, id)?;
        let c = py.detach(|| self.api.fork_collection(id, new_name)).py(py)?;
        collection_to_py(py, &c)
    }

    /// How many forks share the collection's lineage.
    fn fork_count(&self, py: Python<'_>, id: &str) -> PyResult<usize> {
        let id = uuid(py, id)?;
        py.detach(|| self.api.fork_count(id)).py(py)
    }

    /// The background indexer's progress, in 1.x's shape.
    fn indexing_status<'py>(&self, py: Python<'py>, id: &str) -> PyResult<Bound<'py, PyDict>> {
        let id = uuid(py, id)?;
        let s = py.detach(|| self.api.indexing_status(id)).py(py)?;
        let d = PyDict::new(py);
        d.set_item("num_indexed_ops", s.num_indexed_ops)?;
        d.set_item("num_unindexed_ops", s.num_unindexed_ops)?;
        d.set_item("total_ops", s.total_ops)?;
        d.set_item("op_indexing_progress", s.op_indexing_progress)?;
        Ok(d)
    }

    /// The 1.x Search API: `request` is the JSON text of the HTTP route's body
    /// (`{"searches": [...], "read_level": ...}`, as chromadb's `Search.to_dict()` writes it),
    /// parsed and answered exactly as the server does; the answer is its JSON text.
    fn search(&self, py: Python<'_>, id: &str, request: &str) -> PyResult<String> {
        let id = uuid(py, id)?;
        let v: Value = serde_json::from_str(request)
            .map_err(|e| chroma_types::Error::invalid(format!("search request is not JSON: {e}")))
            .py(py)?;
        let req = chroma_wire::search::search_request_from_json(&v).py(py)?;
        let res = py.detach(|| self.api.search(id, req)).py(py)?;
        Ok(chroma_wire::search::search_result_to_json(&res).to_string())
    }

    /// Adds records; ids already present are an error (nothing is written).
    #[pyo3(signature = (id, ids, embeddings, documents=None, uris=None, metadatas=None))]
    #[allow(clippy::too_many_arguments)]
    fn add(
        &self,
        py: Python<'_>,
        id: &str,
        ids: Vec<String>,
        embeddings: &Bound<'_, PyAny>,
        documents: Option<&Bound<'_, PyAny>>,
        uris: Option<&Bound<'_, PyAny>>,
        metadatas: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = uuid(py, id)?;
        let req = add_request(py, ids, embeddings, documents, uris, metadatas)?;
        py.detach(|| self.api.add(id, req)).py(py)
    }

    /// Adds records, replacing those whose ids exist.
    #[pyo3(signature = (id, ids, embeddings, documents=None, uris=None, metadatas=None))]
    #[allow(clippy::too_many_arguments)]
    fn upsert(
        &self,
        py: Python<'_>,
        id: &str,
        ids: Vec<String>,
        embeddings: &Bound<'_, PyAny>,
        documents: Option<&Bound<'_, PyAny>>,
        uris: Option<&Bound<'_, PyAny>>,
        metadatas: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = uuid(py, id)?;
        let req = add_request(py, ids, embeddings, documents, uris, metadatas)?;
        py.detach(|| self.api.upsert(id, req)).py(py)
    }

    /// Changes existing records; columns left `None` keep what is stored.
    #[pyo3(signature = (id, ids, embeddings=None, documents=None, uris=None, metadatas=None))]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &self,
        py: Python<'_>,
        id: &str,
        ids: Vec<String>,
        embeddings: Option<&Bound<'_, PyAny>>,
        documents: Option<&Bound<'_, PyAny>>,
        uris: Option<&Bound<'_, PyAny>>,
        metadatas: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let id = uuid(py, id)?;
        let mut req = UpdateRequest { ids, ..UpdateRequest::default() };
        if let Some(e) = embeddings.filter(|e| !e.is_none()) {
            req.embeddings = Some(convert::opt_embeddings(e)?);
        }
        if let Some(d) = documents.filter(|d| !d.is_none()) {
            req.documents = Some(convert::strings(d)?);
        }
        if let Some(u) = uris.filter(|u| !u.is_none()) {
            req.uris = Some(convert::strings(u)?);
        }
        if let Some(m) = metadatas.filter(|m| !m.is_none()) {
            req.metadatas = Some(convert::metadatas(py, m)?);
        }
        py.detach(|| self.api.update(id, req)).py(py)
    }

    /// Deletes records by id and/or filter; returns how many were deleted.
    #[pyo3(signature = (id, ids=None, r#where=None, where_document=None, limit=None))]
    fn delete(
        &self,
        py: Python<'_>,
        id: &str,
        ids: Option<Vec<String>>,
        r#where: Option<&Bound<'_, PyAny>>,
        where_document: Option<&Bound<'_, PyAny>>,
        limit: Option<u32>,
    ) -> PyResult<usize> {
        let id = uuid(py, id)?;
        let (w, wd) = filters(py, r#where, where_document)?;
        let req = DeleteRequest { ids, r#where: w, where_document: wd, limit, ..DeleteRequest::default() };
        py.detach(|| self.api.delete(id, req)).py(py).map(|v| v.len())
    }

    /// Records by id and/or filter, as a dict of columns (chromadb's `GetResult`).
    #[pyo3(signature = (id, ids=None, r#where=None, where_document=None, limit=None, offset=None, include=None))]
    #[allow(clippy::too_many_arguments)]
    fn get<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        ids: Option<Vec<String>>,
        r#where: Option<&Bound<'py, PyAny>>,
        where_document: Option<&Bound<'py, PyAny>>,
        limit: Option<usize>,
        offset: Option<usize>,
        include: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let id = uuid(py, id)?;
        let (w, wd) = filters(py, r#where, where_document)?;
        let include = includes(py, include, Include::get_default)?;
        let req = GetRequest { ids, r#where: w, where_document: wd, limit, offset, include, ..GetRequest::default() };
        let r = py.detach(|| self.api.get(id, req)).py(py)?;
        let d = PyDict::new(py);
        d.set_item("ids", &r.ids)?;
        d.set_item(
            "embeddings",
            match &r.embeddings {
                Some(e) => convert::embeddings_to_numpy(py, e)?,
                None => py.None().into_bound(py),
            },
        )?;
        d.set_item("documents", opt(py, r.documents.as_deref(), |v| convert::strings_to_py(py, v))?)?;
        d.set_item("uris", opt(py, r.uris.as_deref(), |v| convert::strings_to_py(py, v))?)?;
        d.set_item("data", py.None())?;
        d.set_item("metadatas", opt(py, r.metadatas.as_deref(), |v| metadatas_to_py(py, v))?)?;
        d.set_item("included", r.include.iter().map(|i| i.as_str()).collect::<Vec<_>>())?;
        Ok(d)
    }

    /// Nearest records per query embedding (chromadb's `QueryResult`).
    #[pyo3(signature = (id, query_embeddings, n_results=10, ids=None, r#where=None, where_document=None, include=None))]
    #[allow(clippy::too_many_arguments)]
    fn query<'py>(
        &self,
        py: Python<'py>,
        id: &str,
        query_embeddings: &Bound<'py, PyAny>,
        n_results: usize,
        ids: Option<Vec<String>>,
        r#where: Option<&Bound<'py, PyAny>>,
        where_document: Option<&Bound<'py, PyAny>>,
        include: Option<Vec<String>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let id = uuid(py, id)?;
        let (w, wd) = filters(py, r#where, where_document)?;
        let mut req = QueryRequest::new(convert::embeddings(query_embeddings)?, n_results);
        req.ids = ids;
        req.r#where = w;
        req.where_document = wd;
        req.include = includes(py, include, Include::query_default)?;
        let r = py.detach(|| self.api.query(id, req)).py(py)?;
        let d = PyDict::new(py);
        d.set_item("ids", &r.ids)?;
        d.set_item(
            "embeddings",
            opt(py, r.embeddings.as_deref(), |per_query| {
                let arrays = per_query
                    .iter()
                    .map(|rows| convert::embeddings_to_numpy(py, rows))
                    .collect::<PyResult<Vec<_>>>()?;
                Ok(PyList::new(py, arrays)?.into_any())
            })?,
        )?;
        d.set_item(
            "documents",
            opt(py, r.documents.as_deref(), |per_query| nested(py, per_query, |v| convert::strings_to_py(py, v)))?,
        )?;
        d.set_item(
            "uris",
            opt(py, r.uris.as_deref(), |per_query| nested(py, per_query, |v| convert::strings_to_py(py, v)))?,
        )?;
        d.set_item("data", py.None())?;
        d.set_item(
            "metadatas",
            opt(py, r.metadatas.as_deref(), |per_query| nested(py, per_query, |v| metadatas_to_py(py, v)))?,
        )?;
        d.set_item(
            "distances",
            opt(py, r.distances.as_deref(), |per_query| {
                let lists: Vec<Vec<f64>> =
                    per_query.iter().map(|v| v.iter().map(|&x| f64::from(x)).collect()).collect();
                Ok(PyList::new(py, lists)?.into_any())
            })?,
        )?;
        d.set_item("included", r.include.iter().map(|i| i.as_str()).collect::<Vec<_>>())?;
        Ok(d)
    }

    /// How many records the collection holds.
    fn count(&self, py: Python<'_>, id: &str) -> PyResult<usize> {
        let id = uuid(py, id)?;
        py.detach(|| self.api.count(id)).py(py)
    }
}

/// `None` for a column that was not included, else the converted column.
fn opt<'py, T: ?Sized>(
    py: Python<'py>,
    v: Option<&T>,
    f: impl FnOnce(&T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Some(v) => f(v),
        None => Ok(py.None().into_bound(py)),
    }
}

/// One converted list per query.
fn nested<'py, T>(
    py: Python<'py>,
    per_query: &[T],
    f: impl Fn(&T) -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let items = per_query.iter().map(f).collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}

fn metadatas_to_py<'py>(py: Python<'py>, v: &[Option<chroma_types::Metadata>]) -> PyResult<Bound<'py, PyAny>> {
    let items = v.iter().map(|m| convert::metadata_to_py(py, m.as_ref())).collect::<PyResult<Vec<_>>>()?;
    Ok(PyList::new(py, items)?.into_any())
}
