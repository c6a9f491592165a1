//! [`Collection`]: a handle on one collection, with the record calls.

use crate::args::{Delete, Get, Query, Records, Update};
use crate::search::Search;
use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::metadata::metadata_from_json;
use chroma_types::search::{ReadLevel, SearchRequest, SearchResult};
use chroma_types::{
    ChromaApi, DeleteRequest, Dialect, Error, GetRequest, GetResult, Include, Metadata, QueryRequest, QueryResult,
    Result, UpdateCollection,
};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

/// A handle on one collection.
#[derive(Clone)]
pub struct Collection {
    api: Arc<dyn ChromaApi>,
    model: chroma_types::Collection,
    dialect: Dialect,
    /// Embeds documents and query texts that come without embeddings; `None`: the default
    /// function, loaded at first use.
    #[cfg(feature = "embed")]
    embedder: Option<Arc<dyn chroma_embed::EmbeddingFunction>>,
}

// The backend is left out (`dyn ChromaApi` has no `Debug`), and the rest is in `model()`.
#[allow(clippy::missing_fields_in_debug)]
impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection").field("name", &self.model.name).field("id", &self.model.id).finish()
    }
}

impl Collection {
    /// A handle on `model`, served by `api`, with 1.x filter semantics.
    pub(crate) fn new(api: Arc<dyn ChromaApi>, model: chroma_types::Collection) -> Collection {
        Collection {
            api,
            model,
            dialect: Dialect::V1,
            #[cfg(feature = "embed")]
            embedder: None,
        }
    }

    /// The collection's id.
    pub fn id(&self) -> Uuid {
        self.model.id
    }

    /// The collection's name (as of when this handle was fetched or last modified).
    pub fn name(&self) -> &str {
        &self.model.name
    }

    /// The tenant the collection belongs to.
    pub fn tenant(&self) -> &str {
        &self.model.tenant
    }

    /// The database the collection belongs to.
    pub fn database(&self) -> &str {
        &self.model.database
    }

    /// Metadata as of when this handle was fetched (or last modified through it).
    pub fn metadata(&self) -> Option<&Metadata> {
        self.model.metadata.as_ref()
    }

    /// Dimension as of when this handle was fetched.
    pub fn dimension(&self) -> Option<usize> {
        self.model.dimension
    }

    /// Index configuration (space, HNSW parameters).
    pub fn config(&self) -> &chroma_types::IndexConfig {
        &self.model.config
    }

    /// The stored collection record.
    pub fn model(&self) -> &chroma_types::Collection {
        &self.model
    }

    /// Use Chroma 0.4.x filter semantics (`$ne` skips records without the key, ...) and
    /// metadata key rules (keys starting with `#` or `$`) on an in-process engine; over HTTP
    /// the server applies its client line's rules.
    #[must_use]
    pub fn with_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// Adds records; an existing id is an error. Records given without embeddings (empty
    /// `embeddings`) get those of their documents (feature `embed`).
    pub fn add(&self, records: Records) -> Result<()> {
        self.api.add(self.model.id, self.embed_records(records)?.into_request(self.dialect)?)
    }

    /// Adds records, replacing those whose ids exist; embeds documents as [`Collection::add`].
    pub fn upsert(&self, records: Records) -> Result<()> {
        self.api.upsert(self.model.id, self.embed_records(records)?.into_request(self.dialect)?)
    }

    /// Changes existing records (ids that do not exist are skipped). New documents without
    /// new embeddings get their documents' embeddings (feature `embed`).
    pub fn update(&self, update: Update) -> Result<()> {
        self.api.update(self.model.id, self.embed_update(update)?.into_request(self.dialect)?)
    }

    /// Deletes matching records and returns the ids deleted (over HTTP: the ids that existed
    /// for an ids-only delete; otherwise one empty string per deleted record).
    pub fn delete(&self, delete: Delete) -> Result<Vec<String>> {
        let req = DeleteRequest {
            ids: delete.ids,
            r#where: parse_where(delete.r#where.as_ref())?,
            where_document: parse_where_document(delete.where_document.as_ref())?,
            limit: delete.limit,
            dialect: self.dialect,
        };
        self.api.delete(self.model.id, req)
    }

    /// Records by ids and/or filters.
    pub fn get(&self, get: Get) -> Result<GetResult> {
        let req = GetRequest {
            ids: get.ids,
            r#where: parse_where(get.r#where.as_ref())?,
            where_document: parse_where_document(get.where_document.as_ref())?,
            limit: get.limit,
            offset: get.offset,
            include: get.include.unwrap_or_else(Include::get_default),
            dialect: self.dialect,
        };
        self.api.get(self.model.id, req)
    }

    /// Nearest neighbours of each query embedding.
    pub fn query(&self, query: Query) -> Result<QueryResult> {
        if query.n_results == 0 {
            return Err(Error::invalid("Expected requested number of results to be a positive integer, got 0"));
        }
        let query = self.embed_query(query)?;
        let req = QueryRequest {
            query_embeddings: query.query_embeddings,
            n_results: query.n_results,
            ids: query.ids,
            r#where: parse_where(query.r#where.as_ref())?,
            where_document: parse_where_document(query.where_document.as_ref())?,
            include: query.include.unwrap_or_else(Include::query_default),
            dialect: self.dialect,
        };
        self.api.query(self.model.id, req)
    }

    /// One search of the Search API (Python's `collection.search(Search()...)`); see
    /// [`crate::search`].
    pub fn search(&self, search: Search) -> Result<SearchResult> {
        self.search_many(vec![search])
    }

    /// Several searches in one call, answered in order (one payload per search).
    pub fn search_many(&self, searches: Vec<Search>) -> Result<SearchResult> {
        self.search_at(searches, ReadLevel::default())
    }

    /// Several searches at a read level (1.x `read_level`; chroma-rs's own engine reads every
    /// acknowledged write at every level).
    pub fn search_at(&self, searches: Vec<Search>, read_level: ReadLevel) -> Result<SearchResult> {
        if searches.is_empty() {
            return Err(Error::invalid("A search call needs at least one search"));
        }
        let searches = searches.into_iter().map(Search::into_plan).collect::<Result<Vec<_>>>()?;
        self.api.search(self.model.id, SearchRequest { searches, read_level })
    }

    /// How many records the collection holds.
    pub fn count(&self) -> Result<usize> {
        self.api.count(self.model.id)
    }

    /// How many records the collection holds, at a read level (1.x `count(read_level=...)`;
    /// `index_only` on a cluster node counts its cache as it is).
    pub fn count_at(&self, read_level: ReadLevel) -> Result<usize> {
        self.api.count_at(self.model.id, read_level)
    }

    /// A copy of this collection (records, configuration, metadata) named `new_name`, in the
    /// same database: 1.x `collection.fork`.
    pub fn fork(&self, new_name: &str) -> Result<Collection> {
        let model = self.api.fork_collection(self.model.id, new_name)?;
        Ok(Collection { model, ..self.clone() }) // same backend, dialect and embedding function
    }

    /// How many forks share this collection's lineage.
    pub fn fork_count(&self) -> Result<usize> {
        self.api.fork_count(self.model.id)
    }

    /// How far the vector index has caught up with the writes.
    pub fn indexing_status(&self) -> Result<chroma_types::IndexingStatus> {
        self.api.indexing_status(self.model.id)
    }

    /// The first `limit` records with embeddings, metadatas and documents.
    pub fn peek(&self, limit: usize) -> Result<GetResult> {
        self.get(Get::new().limit(limit).include(&[Include::Embeddings, Include::Metadatas, Include::Documents]))
    }

    /// Renames and/or replaces the metadata (Chroma replaces the whole metadata).
    pub fn modify(&mut self, new_name: Option<&str>, new_metadata: Option<Value>) -> Result<()> {
        let new_metadata = match new_metadata {
            None | Some(Value::Null) => None,
            Some(v) => Some(metadata_from_json(&v)?),
        };
        let req = UpdateCollection { new_name: new_name.map(str::to_string), new_metadata, new_configuration: None };
        self.api.update_collection(self.model.id, req)?;
        self.refresh()
    }

    /// Changes mutable configuration (e.g. `{"hnsw": {"ef_search": 200}}`).
    pub fn modify_configuration(&mut self, configuration: Value) -> Result<()> {
        let req = UpdateCollection { new_configuration: Some(configuration), ..Default::default() };
        self.api.update_collection(self.model.id, req)?;
        self.refresh()
    }

    /// Re-reads the collection record from the backend.
    pub fn refresh(&mut self) -> Result<()> {
        self.model = self.api.get_collection_by_id(self.model.id)?;
        Ok(())
    }

    /// Use `ef` for documents and query texts that come without embeddings, instead of the
    /// function named in the collection's stored configuration (the stored config is not
    /// changed: this is the client's choice for this handle, as 1.x's `embedding_function`
    /// argument of `get_collection`).
    #[cfg(feature = "embed")]
    #[must_use]
    pub fn with_embedding_function(mut self, ef: Arc<dyn chroma_embed::EmbeddingFunction>) -> Self {
        self.embedder = Some(ef);
        self
    }

    /// The embedding function: the one given to this handle, else the one the collection's
    /// configuration names (`embedding_function`, as 1.x stores it); the default when it
    /// names none, `default`, or Chroma's ONNX name for the same model. A function this
    /// client does not have is an error, never a silent fall-back to other vectors.
    #[cfg(feature = "embed")]
    fn embedder(&self) -> Result<Arc<dyn chroma_embed::EmbeddingFunction>> {
        if let Some(ef) = &self.embedder {
            return Ok(ef.clone());
        }
        let stored = self.model.config.embedding_function.as_ref();
        let known = stored.filter(|v| v.get("type").and_then(Value::as_str) == Some("known"));
        match known.and_then(|v| v.get("name")).and_then(Value::as_str) {
            None | Some(chroma_embed::DEFAULT_NAME | "onnx_mini_lm_l6_v2") => Self::default_embedder(),
            #[cfg(feature = "openai")]
            Some(chroma_embed::OPENAI_NAME) => {
                let config = known.and_then(|v| v.get("config")).cloned().unwrap_or(Value::Null);
                let ef = chroma_embed::OpenAiEmbeddingFunction::from_config(&config)
                    .map_err(|e| Error::invalid(format!("collection {}: {e}", self.model.name)))?;
                Ok(Arc::new(ef))
            }
            Some(other) => Err(Error::invalid(format!(
                "collection {} was made with the embedding function '{other}', which this client does not have: \
                 give embeddings, or set a function with Collection::with_embedding_function",
                self.model.name
            ))),
        }
    }

    /// The default function, loaded once per process (downloaded at first use; see
    /// `chroma_embed::ModelFiles`).
    #[cfg(feature = "embed")]
    fn default_embedder() -> Result<Arc<dyn chroma_embed::EmbeddingFunction>> {
        use std::sync::Mutex;
        static DEFAULT: Mutex<Option<Arc<chroma_embed::DefaultEmbeddingFunction>>> = Mutex::new(None);
        // A poisoned lock only means another thread panicked while loading; the slot is
        // still either empty or a loaded model.
        let mut slot = DEFAULT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            let ef = chroma_embed::DefaultEmbeddingFunction::load()
                .map_err(|e| Error::internal_from("loading the default embedding function", e))?;
            *slot = Some(Arc::new(ef));
        }
        let ef: Arc<dyn chroma_embed::EmbeddingFunction> = slot.clone().expect("set above");
        Ok(ef)
    }

    #[cfg(feature = "embed")]
    fn embed_texts(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        let ef = self.embedder()?;
        let vectors = ef.embed(texts).map_err(|e| Error::internal_from("embedding documents", e))?;
        if vectors.len() != texts.len() {
            return Err(Error::internal(format!(
                "embedding function {} returned {} vectors for {} texts",
                ef.name(),
                vectors.len(),
                texts.len()
            )));
        }
        Ok(vectors)
    }

    /// Records without embeddings get those of their documents; every record then needs one.
    #[cfg(feature = "embed")]
    fn embed_records(&self, mut records: Records) -> Result<Records> {
        if !records.embeddings.is_empty() || records.ids.is_empty() {
            return Ok(records);
        }
        let Some(documents) = &records.documents else {
            return Ok(records); // the engine reports the missing embeddings
        };
        let mut texts = Vec::with_capacity(documents.len());
        for (i, d) in documents.iter().enumerate() {
            let Some(d) = d else {
                let id = records.ids.get(i).map_or("?", String::as_str);
                return Err(Error::invalid(format!("record {id} has neither an embedding nor a document")));
            };
            texts.push(d.as_str());
        }
        records.embeddings = self.embed_texts(&texts)?;
        Ok(records)
    }

    #[cfg(not(feature = "embed"))]
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    fn embed_records(&self, records: Records) -> Result<Records> {
        Ok(records)
    }

    /// New documents without new embeddings: each record with a new document gets its
    /// embedding; the others keep theirs.
    #[cfg(feature = "embed")]
    fn embed_update(&self, mut update: Update) -> Result<Update> {
        let Some(documents) = update.documents.as_ref().filter(|_| update.embeddings.is_none()) else {
            return Ok(update);
        };
        let texts: Vec<&str> = documents.iter().flatten().map(String::as_str).collect();
        let mut vectors = self.embed_texts(&texts)?.into_iter();
        update.embeddings = Some(documents.iter().map(|d| d.as_ref().and_then(|_| vectors.next())).collect());
        Ok(update)
    }

    #[cfg(not(feature = "embed"))]
    #[allow(clippy::unused_self, clippy::unnecessary_wraps)]
    fn embed_update(&self, update: Update) -> Result<Update> {
        Ok(update)
    }

    #[cfg(feature = "embed")]
    fn embed_query(&self, mut query: Query) -> Result<Query> {
        if query.query_embeddings.is_empty() {
            if let Some(texts) = query.query_texts.take() {
                let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
                query.query_embeddings = self.embed_texts(&texts)?;
            }
        }
        Ok(query)
    }

    #[cfg(not(feature = "embed"))]
    #[allow(clippy::unused_self)]
    fn embed_query(&self, query: Query) -> Result<Query> {
        if query.query_embeddings.is_empty() && query.query_texts.is_some() {
            return Err(Error::invalid("query texts need chroma-client's `embed` feature"));
        }
        Ok(query)
    }
}
