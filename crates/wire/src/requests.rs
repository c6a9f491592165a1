//! Request bodies: what clients send and the server parses, with the conversions to and from
//! the engine's request types.

use crate::embeddings::{embeddings_in, embeddings_out, EmbeddingIn};
use chroma_types::filter::{parse_where_document, parse_where_in};
use chroma_types::metadata::{
    metadata_from_json, metadata_to_json, update_metadata_from_json, update_metadata_to_json,
};
use chroma_types::{
    AddRequest, CreateCollection, DeleteRequest, Dialect, Error, GetRequest, Include, Metadata, QueryRequest, Result,
    UpdateCollection, UpdateMetadata, UpdateRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

// ------------------------------------------------------------------------------------------
// Helpers

fn opt_metadata(v: Option<Value>, what: &str) -> Result<Option<Metadata>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Object(_)) => metadata_from_json(&v).map(Some),
        Some(other) => Err(Error::invalid(format!("Expected {what} to be a dict or None, got {other}"))),
    }
}

fn record_metadatas(v: Option<Vec<Value>>) -> Result<Option<Vec<Option<UpdateMetadata>>>> {
    v.map(|items| {
        items
            .into_iter()
            .map(|m| match m {
                Value::Null => Ok(None),
                m @ Value::Object(_) => update_metadata_from_json(&m).map(Some),
                other => Err(Error::invalid(format!("Expected metadata to be a dict or None, got {other}"))),
            })
            .collect()
    })
    .transpose()
}

/// Per-record metadatas as JSON (`null` for a record without).
fn record_metadatas_json(ms: Option<&Vec<Option<UpdateMetadata>>>) -> Option<Vec<Value>> {
    ms.map(|ms| ms.iter().map(|m| m.as_ref().map_or(Value::Null, update_metadata_to_json)).collect())
}

fn includes(v: Option<Vec<String>>, default: Vec<Include>) -> Result<Vec<Include>> {
    match v {
        None => Ok(default),
        Some(items) => items.iter().map(|s| Include::parse(s)).collect(),
    }
}

fn include_names(include: &[Include]) -> Vec<String> {
    include.iter().map(|i| i.as_str().to_string()).collect()
}

fn non_negative(v: Option<i64>, what: &str) -> Result<Option<usize>> {
    match v {
        None => Ok(None),
        Some(n) if n < 0 => Err(Error::invalid(format!("{what} cannot be negative"))),
        Some(n) => usize::try_from(n).map(Some).map_err(|_| Error::invalid(format!("{what} is too large"))),
    }
}

fn saturating_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

// ------------------------------------------------------------------------------------------
// Tenants, databases, collections

/// `{"name": ...}` of create tenant / create database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NameBody {
    /// The tenant or database name.
    pub name: String,
}

/// Body of v2 tenant update.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateTenantBody {
    /// The tenant's Chroma Cloud resource name (a local server keeps none).
    pub resource_name: String,
}

/// Body of create collection (all lines).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CreateCollectionBody {
    /// Collection name.
    pub name: String,
    /// Collection metadata (a JSON object, or null).
    #[serde(default)]
    pub metadata: Option<Value>,
    /// A 1.x configuration object.
    #[serde(default)]
    pub configuration: Option<Value>,
    /// Return the existing collection instead of failing when the name is taken.
    #[serde(default)]
    pub get_or_create: Option<bool>,
    /// A 1.x collection schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Value>,
}

impl CreateCollectionBody {
    /// The engine request (metadata checked).
    pub fn into_request(self) -> Result<CreateCollection> {
        Ok(CreateCollection {
            metadata: opt_metadata(self.metadata, "metadata")?,
            name: self.name,
            configuration: self.configuration.filter(|c| !c.is_null()),
            get_or_create: self.get_or_create.unwrap_or(false),
            schema: self.schema.filter(|s| !s.is_null()),
            id: None,
        })
    }

    /// The body a client sends for `req`.
    pub fn from_request(req: &CreateCollection) -> Self {
        CreateCollectionBody {
            name: req.name.clone(),
            // Chroma servers refuse `{}`; no metadata means the same.
            metadata: req.metadata.as_ref().filter(|m| !m.is_empty()).map(metadata_to_json),
            configuration: req.configuration.clone(),
            get_or_create: Some(req.get_or_create),
            schema: req.schema.clone(),
        }
    }
}

/// Body of modify collection (PUT).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateCollectionBody {
    /// The new name.
    #[serde(default)]
    pub new_name: Option<String>,
    /// The new metadata (replaces the whole metadata).
    #[serde(default)]
    pub new_metadata: Option<Value>,
    /// Changes to the mutable configuration.
    #[serde(default)]
    pub new_configuration: Option<Value>,
}

impl UpdateCollectionBody {
    /// The engine request (metadata checked).
    pub fn into_request(self) -> Result<UpdateCollection> {
        Ok(UpdateCollection {
            new_name: self.new_name,
            new_metadata: opt_metadata(self.new_metadata, "metadata")?,
            new_configuration: self.new_configuration.filter(|c| !c.is_null()),
        })
    }

    /// The body a client sends for `req`.
    pub fn from_request(req: &UpdateCollection) -> Self {
        UpdateCollectionBody {
            new_name: req.new_name.clone(),
            new_metadata: req.new_metadata.as_ref().filter(|m| !m.is_empty()).map(metadata_to_json),
            new_configuration: req.new_configuration.clone(),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Records

/// Body of add and upsert.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct AddBody {
    /// Record ids.
    pub ids: Vec<String>,
    /// One embedding per record (required: chroma-rs does not embed on the server).
    #[serde(default)]
    pub embeddings: Option<Vec<EmbeddingIn>>,
    /// One metadata object (or null) per record.
    #[serde(default)]
    pub metadatas: Option<Vec<Value>>,
    /// One document (or null) per record.
    #[serde(default)]
    pub documents: Option<Vec<Option<String>>>,
    /// One URI (or null) per record.
    #[serde(default)]
    pub uris: Option<Vec<Option<String>>>,
}

impl AddBody {
    /// The engine request (embeddings decoded, metadata checked), its metadata keys under
    /// `dialect`'s rules.
    pub fn into_request(self, dialect: Dialect) -> Result<AddRequest> {
        let Some(embeddings) = self.embeddings else {
            return Err(Error::invalid(
                "embeddings are required: chroma-rs does not compute embeddings on the server, \
                 so the client must send them (pass embeddings, or give the client an embedding function)",
            ));
        };
        Ok(AddRequest {
            ids: self.ids,
            embeddings: embeddings_in(embeddings)?,
            documents: self.documents,
            uris: self.uris,
            metadatas: record_metadatas(self.metadatas)?,
            dialect,
        })
    }

    /// The body a client sends for `req`, embeddings in base64 when `base64`.
    pub fn from_request(req: &AddRequest, base64: bool) -> Self {
        AddBody {
            ids: req.ids.clone(),
            embeddings: Some(embeddings_out(&req.embeddings, base64)),
            metadatas: record_metadatas_json(req.metadatas.as_ref()),
            documents: req.documents.clone(),
            uris: req.uris.clone(),
        }
    }
}

/// Body of update.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct UpdateBody {
    /// Record ids.
    pub ids: Vec<String>,
    /// One embedding (or null: unchanged) per record.
    #[serde(default)]
    #[allow(clippy::option_option)] // absent column vs. null for one record
    pub embeddings: Option<Vec<Option<EmbeddingIn>>>,
    /// One metadata change (or null) per record; `null` values delete keys.
    #[serde(default)]
    pub metadatas: Option<Vec<Value>>,
    /// One document (or null) per record.
    #[serde(default)]
    pub documents: Option<Vec<Option<String>>>,
    /// One URI (or null) per record.
    #[serde(default)]
    pub uris: Option<Vec<Option<String>>>,
}

impl UpdateBody {
    /// The engine request (embeddings decoded, metadata checked), its metadata keys under
    /// `dialect`'s rules.
    pub fn into_request(self, dialect: Dialect) -> Result<UpdateRequest> {
        let embeddings = self
            .embeddings
            .map(|items| {
                items.into_iter().map(|e| e.map(EmbeddingIn::into_vec).transpose()).collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        Ok(UpdateRequest {
            ids: self.ids,
            embeddings,
            documents: self.documents,
            uris: self.uris,
            metadatas: record_metadatas(self.metadatas)?,
            dialect,
        })
    }

    /// The body a client sends for `req`, embeddings in base64 when `base64`.
    pub fn from_request(req: &UpdateRequest, base64: bool) -> Self {
        UpdateBody {
            ids: req.ids.clone(),
            embeddings: req
                .embeddings
                .as_ref()
                .map(|es| es.iter().map(|e| e.as_ref().map(|e| EmbeddingIn::encode(e, base64))).collect()),
            metadatas: record_metadatas_json(req.metadatas.as_ref()),
            documents: req.documents.clone(),
            uris: req.uris.clone(),
        }
    }
}

/// Body of get.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GetBody {
    /// Only these ids.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    #[serde(default, rename = "where")]
    pub r#where: Option<Value>,
    /// Document filter.
    #[serde(default)]
    pub where_document: Option<Value>,
    /// 1.x sort (refused: not supported yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Value>,
    /// At most this many records.
    #[serde(default)]
    pub limit: Option<i64>,
    /// Skip this many records.
    #[serde(default)]
    pub offset: Option<i64>,
    /// Columns to return.
    #[serde(default)]
    pub include: Option<Vec<String>>,
}

impl GetBody {
    /// The engine request, with the filter semantics `dialect`.
    pub fn into_request(self, dialect: Dialect) -> Result<GetRequest> {
        if self.sort.as_ref().is_some_and(|s| !s.is_null()) {
            return Err(Error::invalid("Sorting is not yet supported"));
        }
        Ok(GetRequest {
            r#where: parse_where_in(self.r#where.as_ref(), dialect)?,
            where_document: parse_where_document(self.where_document.as_ref())?,
            ids: self.ids,
            limit: non_negative(self.limit, "Limit")?,
            offset: non_negative(self.offset, "Offset")?,
            include: includes(self.include, Include::get_default())?,
            dialect,
        })
    }

    /// The body a client sends for `req`.
    pub fn from_request(req: &GetRequest) -> Self {
        GetBody {
            ids: req.ids.clone(),
            r#where: req.r#where.as_ref().map(chroma_types::Where::to_json),
            where_document: req.where_document.as_ref().map(chroma_types::WhereDocument::to_json),
            sort: None,
            limit: req.limit.map(saturating_i64),
            offset: req.offset.map(saturating_i64),
            include: Some(include_names(&req.include)),
        }
    }
}

/// Body of query.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueryBody {
    /// Only consider these ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ids: Option<Vec<String>>,
    /// The embeddings to find neighbours of.
    pub query_embeddings: Vec<EmbeddingIn>,
    /// Neighbours per query embedding (default 10).
    #[serde(default)]
    pub n_results: Option<i64>,
    /// Metadata filter.
    #[serde(default, rename = "where")]
    pub r#where: Option<Value>,
    /// Document filter.
    #[serde(default)]
    pub where_document: Option<Value>,
    /// Columns to return.
    #[serde(default)]
    pub include: Option<Vec<String>>,
}

impl QueryBody {
    /// The engine request, with the filter semantics `dialect`.
    pub fn into_request(self, dialect: Dialect) -> Result<QueryRequest> {
        let n_results = match self.n_results {
            None => 10,
            Some(n) if n <= 0 => {
                return Err(Error::invalid(format!(
                    "Expected requested number of results to be a positive integer, got {n}"
                )))
            }
            Some(n) => usize::try_from(n).map_err(|_| Error::invalid("n_results is too large"))?,
        };
        Ok(QueryRequest {
            query_embeddings: embeddings_in(self.query_embeddings)?,
            n_results,
            ids: self.ids,
            r#where: parse_where_in(self.r#where.as_ref(), dialect)?,
            where_document: parse_where_document(self.where_document.as_ref())?,
            include: includes(self.include, Include::query_default())?,
            dialect,
        })
    }

    /// The body a client sends for `req`.
    pub fn from_request(req: &QueryRequest) -> Self {
        QueryBody {
            ids: req.ids.clone(),
            query_embeddings: embeddings_out(&req.query_embeddings, false),
            n_results: Some(saturating_i64(req.n_results)),
            r#where: req.r#where.as_ref().map(chroma_types::Where::to_json),
            where_document: req.where_document.as_ref().map(chroma_types::WhereDocument::to_json),
            include: Some(include_names(&req.include)),
        }
    }
}

/// Body of delete.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DeleteBody {
    /// Only these ids.
    #[serde(default)]
    pub ids: Option<Vec<String>>,
    /// Metadata filter.
    #[serde(default, rename = "where")]
    pub r#where: Option<Value>,
    /// Document filter.
    #[serde(default)]
    pub where_document: Option<Value>,
    /// 1.x: delete at most this many matching records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl DeleteBody {
    /// The engine request, with the filter semantics `dialect`.
    pub fn into_request(self, dialect: Dialect) -> Result<DeleteRequest> {
        Ok(DeleteRequest {
            r#where: parse_where_in(self.r#where.as_ref(), dialect)?,
            where_document: parse_where_document(self.where_document.as_ref())?,
            ids: self.ids,
            limit: self.limit,
            dialect,
        })
    }

    /// The body a client sends for `req`.
    pub fn from_request(req: &DeleteRequest) -> Self {
        DeleteBody {
            ids: req.ids.clone(),
            r#where: req.r#where.as_ref().map(chroma_types::Where::to_json),
            where_document: req.where_document.as_ref().map(chroma_types::WhereDocument::to_json),
            limit: req.limit,
        }
    }

    /// True when only ids were given (0.4.x echoes them back).
    pub fn ids_only(&self) -> bool {
        let empty = |v: Option<&Value>| match v {
            None | Some(Value::Null) => true,
            Some(Value::Object(m)) => m.is_empty(),
            _ => false,
        };
        self.ids.is_some() && empty(self.r#where.as_ref()) && empty(self.where_document.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn add_body_accepts_both_embedding_forms() {
        let b: AddBody = serde_json::from_value(json!({"ids": ["a", "b"], "embeddings": [[1, 2.5], "AACAPwAAAEA="],
            "metadatas": [{"k": 1}, null], "documents": ["x", null], "uris": null}))
        .unwrap();
        let r = b.into_request(Dialect::V1).unwrap();
        assert_eq!(r.embeddings, vec![vec![1.0, 2.5], vec![1.0, 2.0]]);
        assert_eq!(r.metadatas.as_ref().unwrap()[1], None);
        assert!(serde_json::from_value::<AddBody>(json!({"ids": ["a"], "embeddings": [[true]]})).is_err());
        let r2 = AddBody::from_request(&r, true).into_request(Dialect::V1).unwrap();
        assert_eq!(r, r2);
    }
}
