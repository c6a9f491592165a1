//! The argument builders of [`crate::Collection`]'s calls: [`Records`] (add / upsert),
//! [`Update`], [`Get`], [`Query`], [`Delete`], and [`CollectionOptions`] for creating
//! collections.

use chroma_types::metadata::update_metadata_from_json;
use chroma_types::{AddRequest, Dialect, Include, Result, Space, UpdateMetadata, UpdateRequest};
use serde_json::Value;

/// Optional arguments of `create_collection` / `get_or_create_collection`.
#[derive(Clone, Default)]
pub struct CollectionOptions {
    /// Collection metadata as a JSON object (`hnsw:*` keys set index parameters).
    pub metadata: Option<Value>,
    /// A Chroma 1.x configuration object, e.g. `{"hnsw": {"space": "cosine"}}`.
    pub configuration: Option<Value>,
    /// The collection's embedding function; `None`: the default (feature `embed`).
    #[cfg(feature = "embed")]
    pub(crate) embedding_function: Option<std::sync::Arc<dyn chroma_embed::EmbeddingFunction>>,
}

// The embedding function has no `Debug`: its name stands for it.
impl std::fmt::Debug for CollectionOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("CollectionOptions");
        d.field("metadata", &self.metadata).field("configuration", &self.configuration);
        #[cfg(feature = "embed")]
        d.field("embedding_function", &self.embedding_function.as_ref().map(|ef| ef.name().to_string()));
        d.finish()
    }
}

impl CollectionOptions {
    /// No metadata, no configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the collection metadata (a JSON object).
    #[must_use]
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets a Chroma 1.x configuration object.
    #[must_use]
    pub fn configuration(mut self, configuration: Value) -> Self {
        self.configuration = Some(configuration);
        self
    }

    /// The collection's embedding function (feature `embed`): it embeds the documents and
    /// query texts given without embeddings through the returned handle, and its
    /// `{"type": "known", "name", "config"}` is stored as the configuration's
    /// `embedding_function`, as Chroma 1.x clients store theirs, so any client that opens the
    /// collection knows which function made its vectors. Without one the default function's
    /// config is stored.
    #[cfg(feature = "embed")]
    #[must_use]
    pub fn embedding_function(mut self, ef: std::sync::Arc<dyn chroma_embed::EmbeddingFunction>) -> Self {
        self.embedding_function = Some(ef);
        self
    }

    /// Shorthand for the distance function (`hnsw:space` in the metadata).
    #[must_use]
    pub fn space(mut self, space: Space) -> Self {
        let mut md = match self.metadata.take() {
            Some(Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        };
        md.insert("hnsw:space".into(), Value::String(space.as_str().into()));
        self.metadata = Some(Value::Object(md));
        self
    }
}

fn strings<I, S>(items: I) -> Vec<String>
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    items.into_iter().map(Into::into).collect()
}

/// Records for `add` / `upsert` ([`Records`]) or changes for `update` ([`Update`]): ids,
/// embeddings of type `E`, and the optional columns both share.
#[derive(Debug, Clone, Default)]
pub struct RecordBatch<E> {
    /// Record ids.
    pub ids: Vec<String>,
    /// One embedding per record ([`Records`]), or optional new embeddings ([`Update`]).
    pub embeddings: E,
    /// One document (or none) per record.
    pub documents: Option<Vec<Option<String>>>,
    /// One URI (or none) per record.
    pub uris: Option<Vec<Option<String>>>,
    /// One JSON object (or null) per record; in an update, `null` values delete keys.
    pub metadatas: Option<Vec<Value>>,
}

/// Records for `add` / `upsert`: every record has an embedding.
pub type Records = RecordBatch<Vec<Vec<f32>>>;

/// Changes for `update`: every column is optional; `null` metadata values delete keys.
#[allow(clippy::option_option)] // no new embeddings at all vs. none for one record
pub type Update = RecordBatch<Option<Vec<Option<Vec<f32>>>>>;

impl<E> RecordBatch<E> {
    /// One document per record.
    #[must_use]
    pub fn documents<I, S>(mut self, docs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.documents = Some(docs.into_iter().map(|d| Some(d.into())).collect());
        self
    }

    /// Documents where some records have none.
    #[must_use]
    pub fn optional_documents(mut self, docs: Vec<Option<String>>) -> Self {
        self.documents = Some(docs);
        self
    }

    /// One URI (or none) per record.
    #[must_use]
    pub fn uris(mut self, uris: Vec<Option<String>>) -> Self {
        self.uris = Some(uris);
        self
    }

    /// One JSON object (or null) per record.
    #[must_use]
    pub fn metadatas(mut self, metadatas: Vec<Value>) -> Self {
        self.metadatas = Some(metadatas);
        self
    }

    /// The metadata column as the engine takes it.
    fn metadatas_request(metadatas: Option<Vec<Value>>) -> Result<Option<Vec<Option<UpdateMetadata>>>> {
        metadatas
            .map(|ms| {
                ms.into_iter()
                    .map(|m| match m {
                        Value::Null => Ok(None),
                        m => update_metadata_from_json(&m).map(Some),
                    })
                    .collect()
            })
            .transpose()
    }
}

impl Records {
    /// Records with these ids and embeddings (one per id).
    pub fn new<I, S>(ids: I, embeddings: Vec<Vec<f32>>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Records { ids: strings(ids), embeddings, ..Default::default() }
    }

    /// Records with these ids and documents and no embeddings: the collection's embedding
    /// function makes them (feature `embed`).
    pub fn from_documents<I, S, D, T>(ids: I, documents: D) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
        D: IntoIterator<Item = T>,
        T: Into<String>,
    {
        Records::new(ids, Vec::new()).documents(documents)
    }

    pub(crate) fn into_request(self, dialect: Dialect) -> Result<AddRequest> {
        Ok(AddRequest {
            ids: self.ids,
            embeddings: self.embeddings,
            documents: self.documents,
            uris: self.uris,
            metadatas: Self::metadatas_request(self.metadatas)?,
            dialect,
        })
    }
}

impl Update {
    /// Changes to the records with these ids (nothing changed yet).
    pub fn new<I, S>(ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Update { ids: strings(ids), ..Default::default() }
    }

    /// New embeddings, one per record.
    #[must_use]
    pub fn embeddings(mut self, e: Vec<Vec<f32>>) -> Self {
        self.embeddings = Some(e.into_iter().map(Some).collect());
        self
    }

    pub(crate) fn into_request(self, dialect: Dialect) -> Result<UpdateRequest> {
        Ok(UpdateRequest {
            ids: self.ids,
            embeddings: self.embeddings,
            documents: self.documents,
            uris: self.uris,
            metadatas: Self::metadatas_request(self.metadatas)?,
            dialect,
        })
    }
}

/// Arguments of `get`.
#[derive(Debug, Clone, Default)]
pub struct Get {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    pub r#where: Option<Value>,
    /// Document filter.
    pub where_document: Option<Value>,
    /// At most this many records.
    pub limit: Option<usize>,
    /// Skip this many records.
    pub offset: Option<usize>,
    /// Default: metadatas and documents.
    pub include: Option<Vec<Include>>,
}

impl Get {
    /// Every record, metadatas and documents included.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these ids.
    #[must_use]
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids = Some(strings(ids));
        self
    }

    /// A metadata filter, e.g. `json!({"a": {"$gt": 1}})`.
    #[must_use]
    pub fn r#where(mut self, filter: Value) -> Self {
        self.r#where = Some(filter);
        self
    }

    /// A document filter, e.g. `json!({"$contains": "rust"})`.
    #[must_use]
    pub fn where_document(mut self, filter: Value) -> Self {
        self.where_document = Some(filter);
        self
    }

    /// At most `n` records.
    #[must_use]
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Skips the first `n` records.
    #[must_use]
    pub fn offset(mut self, n: usize) -> Self {
        self.offset = Some(n);
        self
    }

    /// The columns to return.
    #[must_use]
    pub fn include(mut self, include: &[Include]) -> Self {
        self.include = Some(include.to_vec());
        self
    }
}

/// Arguments of `query`.
#[derive(Debug, Clone)]
pub struct Query {
    /// The embeddings to find neighbours of.
    pub query_embeddings: Vec<Vec<f32>>,
    /// Neighbours per query embedding.
    pub n_results: usize,
    /// Only consider these ids.
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    pub r#where: Option<Value>,
    /// Document filter.
    pub where_document: Option<Value>,
    /// Default: metadatas, documents and distances.
    pub include: Option<Vec<Include>>,
    /// Texts to embed with the collection's embedding function when `query_embeddings` is
    /// empty (feature `embed`).
    pub query_texts: Option<Vec<String>>,
}

impl Query {
    /// Nearest neighbours of each embedding (10 unless [`Query::n_results`] says otherwise).
    pub fn new(query_embeddings: Vec<Vec<f32>>) -> Self {
        Query {
            query_embeddings,
            n_results: 10,
            ids: None,
            r#where: None,
            where_document: None,
            include: None,
            query_texts: None,
        }
    }

    /// Nearest neighbours of each text, embedded by the collection's embedding function
    /// (feature `embed`).
    pub fn texts<I, S>(texts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Query { query_texts: Some(strings(texts)), ..Query::new(Vec::new()) }
    }

    /// Neighbours per query embedding.
    #[must_use]
    pub fn n_results(mut self, n: usize) -> Self {
        self.n_results = n;
        self
    }

    /// Only consider these ids.
    #[must_use]
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids = Some(strings(ids));
        self
    }

    /// A metadata filter.
    #[must_use]
    pub fn r#where(mut self, filter: Value) -> Self {
        self.r#where = Some(filter);
        self
    }

    /// A document filter.
    #[must_use]
    pub fn where_document(mut self, filter: Value) -> Self {
        self.where_document = Some(filter);
        self
    }

    /// The columns to return.
    #[must_use]
    pub fn include(mut self, include: &[Include]) -> Self {
        self.include = Some(include.to_vec());
        self
    }
}

/// Arguments of `delete`: ids and/or filters (all given must match).
#[derive(Debug, Clone, Default)]
pub struct Delete {
    /// Only these ids.
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    pub r#where: Option<Value>,
    /// Document filter.
    pub where_document: Option<Value>,
    /// At most this many of the matching records (oldest first).
    pub limit: Option<u32>,
}

impl Delete {
    /// Nothing selected yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only these ids.
    #[must_use]
    pub fn ids<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.ids = Some(strings(ids));
        self
    }

    /// A metadata filter.
    #[must_use]
    pub fn r#where(mut self, filter: Value) -> Self {
        self.r#where = Some(filter);
        self
    }

    /// A document filter.
    #[must_use]
    pub fn where_document(mut self, filter: Value) -> Self {
        self.where_document = Some(filter);
        self
    }

    /// Deletes at most `limit` of the matching records, oldest first (needs a filter).
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_and_updates_share_their_columns() {
        let add = Records::new(["a", "b"], vec![vec![1.0], vec![2.0]])
            .documents(["x", "y"])
            .metadatas(vec![json!({"k": 1}), Value::Null])
            .into_request(Dialect::V1)
            .unwrap();
        assert_eq!(add.documents, Some(vec![Some("x".to_string()), Some("y".to_string())]));
        assert_eq!(add.metadatas.as_ref().map(|m| m[1].is_none()), Some(true));
        let up = Update::new(["a"])
            .embeddings(vec![vec![3.0]])
            .optional_documents(vec![None])
            .metadatas(vec![json!({"k": null})])
            .into_request(Dialect::V1)
            .unwrap();
        assert_eq!(up.embeddings, Some(vec![Some(vec![3.0])]));
        assert_eq!(up.documents, Some(vec![None]));
        assert!(Update::new(["a"]).metadatas(vec![json!(3)]).into_request(Dialect::V1).is_err());
    }
}
