//! Get and query results, in the shape each client line expects, and read back from any line.

use crate::embeddings::{embeddings_in, EmbeddingIn};
use crate::line::ClientLine;
use chroma_types::metadata::metadata_from_json;
use chroma_types::{Error, GetResult, Include, Metadata, QueryResult, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

fn include_names(include: &[Include]) -> Vec<&'static str> {
    include.iter().filter(|i| **i != Include::Data).map(|i| i.as_str()).collect()
}

/// Response of `get`, serialized without an intermediate `Value` (f32 stays short).
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct GetResponse<'a> {
    /// Record ids.
    pub ids: &'a [String],
    /// Embeddings, when included.
    pub embeddings: Option<&'a [Vec<f32>]>,
    /// Metadatas, when included.
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<Option<serde_json::Map<String, Value>>>>"))]
    pub metadatas: Option<&'a [Option<Metadata>]>,
    /// Documents, when included.
    pub documents: Option<&'a [Option<String>]>,
    /// URIs, when included.
    pub uris: Option<&'a [Option<String>]>,
    /// The included columns (0.5.x and v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<&'static str>>,
    /// The included columns (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<&'static str>>,
}

/// v1 results carry `"data": null` (0.4.x/0.5.x servers always sent it).
#[derive(Debug, Serialize)]
struct WithData<'a, T: Serialize> {
    #[serde(flatten)]
    inner: &'a T,
    data: Value,
}

/// Serializes `resp` for `line`: `"data": null` added on API v1.
fn result_to_string<T: Serialize>(resp: &T, line: ClientLine, what: &str) -> Result<String> {
    let out = if line.is_v2() {
        serde_json::to_string(resp)
    } else {
        serde_json::to_string(&WithData { inner: resp, data: Value::Null })
    };
    out.map_err(|e| Error::internal_from(format!("Cannot serialize {what} result"), e))
}

/// Serializes a get result for `line`.
pub fn get_result_to_string(r: &GetResult, line: ClientLine) -> Result<String> {
    let resp = GetResponse {
        ids: &r.ids,
        embeddings: r.embeddings.as_deref(),
        metadatas: r.metadatas.as_deref(),
        documents: r.documents.as_deref(),
        uris: r.uris.as_deref(),
        included: (line != ClientLine::V04).then(|| include_names(&r.include)),
        include: line.is_v2().then(|| include_names(&r.include)),
    };
    result_to_string(&resp, line, "get")
}

/// Response of `query`.
#[derive(Debug, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct QueryResponse<'a> {
    /// Record ids, one list per query embedding.
    pub ids: &'a [Vec<String>],
    /// Distances, when included.
    pub distances: Option<&'a [Vec<f32>]>,
    /// Embeddings, when included.
    pub embeddings: Option<&'a [Vec<Vec<f32>>]>,
    /// Metadatas, when included.
    #[cfg_attr(feature = "schema", schemars(with = "Option<Vec<Vec<Option<serde_json::Map<String, Value>>>>>"))]
    pub metadatas: Option<&'a [Vec<Option<Metadata>>]>,
    /// Documents, when included.
    pub documents: Option<&'a [Vec<Option<String>>]>,
    /// URIs, when included.
    pub uris: Option<&'a [Vec<Option<String>>]>,
    /// The included columns (0.5.x and v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub included: Option<Vec<&'static str>>,
    /// The included columns (v2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<&'static str>>,
}

/// Serializes a query result for `line`.
pub fn query_result_to_string(r: &QueryResult, line: ClientLine) -> Result<String> {
    let resp = QueryResponse {
        ids: &r.ids,
        distances: r.distances.as_deref(),
        embeddings: r.embeddings.as_deref(),
        metadatas: r.metadatas.as_deref(),
        documents: r.documents.as_deref(),
        uris: r.uris.as_deref(),
        included: (line != ClientLine::V04).then(|| include_names(&r.include)),
        include: line.is_v2().then(|| include_names(&r.include)),
    };
    result_to_string(&resp, line, "query")
}

#[derive(Deserialize)]
struct GetResponseIn {
    ids: Vec<String>,
    #[serde(default)]
    embeddings: Option<Vec<EmbeddingIn>>,
    #[serde(default)]
    metadatas: Option<Vec<Value>>,
    #[serde(default)]
    documents: Option<Vec<Option<String>>>,
    #[serde(default)]
    uris: Option<Vec<Option<String>>>,
    #[serde(default)]
    include: Option<Vec<String>>,
    #[serde(default)]
    included: Option<Vec<String>>,
}

fn metadatas_in(items: Vec<Value>) -> Result<Vec<Option<Metadata>>> {
    items.into_iter().map(|m| if m.is_null() { Ok(None) } else { metadata_from_json(&m).map(Some) }).collect()
}

fn include_in(a: Option<Vec<String>>, b: Option<Vec<String>>) -> Vec<Include> {
    a.or(b).unwrap_or_default().iter().filter_map(|s| Include::parse(s).ok()).collect()
}

/// Reads a get response of any line.
pub fn get_result_from_slice(body: &[u8]) -> Result<GetResult> {
    let r: GetResponseIn =
        serde_json::from_slice(body).map_err(|e| Error::internal_from("Unexpected get response from server", e))?;
    Ok(GetResult {
        ids: r.ids,
        embeddings: r.embeddings.map(embeddings_in).transpose()?,
        documents: r.documents,
        uris: r.uris,
        metadatas: r.metadatas.map(metadatas_in).transpose()?,
        include: include_in(r.include, r.included),
    })
}

#[derive(Deserialize)]
struct QueryResponseIn {
    ids: Vec<Vec<String>>,
    #[serde(default)]
    distances: Option<Vec<Vec<f32>>>,
    #[serde(default)]
    embeddings: Option<Vec<Vec<EmbeddingIn>>>,
    #[serde(default)]
    metadatas: Option<Vec<Vec<Value>>>,
    #[serde(default)]
    documents: Option<Vec<Vec<Option<String>>>>,
    #[serde(default)]
    uris: Option<Vec<Vec<Option<String>>>>,
    #[serde(default)]
    include: Option<Vec<String>>,
    #[serde(default)]
    included: Option<Vec<String>>,
}

/// Reads a query response of any line.
pub fn query_result_from_slice(body: &[u8]) -> Result<QueryResult> {
    let r: QueryResponseIn =
        serde_json::from_slice(body).map_err(|e| Error::internal_from("Unexpected query response from server", e))?;
    Ok(QueryResult {
        ids: r.ids,
        distances: r.distances,
        embeddings: r.embeddings.map(|q| q.into_iter().map(embeddings_in).collect()).transpose()?,
        documents: r.documents,
        uris: r.uris,
        metadatas: r.metadatas.map(|q| q.into_iter().map(metadatas_in).collect()).transpose()?,
        include: include_in(r.include, r.included),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_result_shapes() {
        let r = GetResult {
            ids: vec!["a".into()],
            documents: Some(vec![None]),
            include: vec![Include::Documents],
            ..Default::default()
        };
        let v04: Value = serde_json::from_str(&get_result_to_string(&r, ClientLine::V04).unwrap()).unwrap();
        assert_eq!(
            v04,
            json!({"ids": ["a"], "embeddings": null, "metadatas": null, "documents": [null], "uris": null, "data": null})
        );
        let v05: Value = serde_json::from_str(&get_result_to_string(&r, ClientLine::V05).unwrap()).unwrap();
        assert_eq!((v05["included"].clone(), v05.get("include")), (json!(["documents"]), None));
        for line in [ClientLine::V06, ClientLine::V1x] {
            let v2: Value = serde_json::from_str(&get_result_to_string(&r, line).unwrap()).unwrap();
            assert_eq!(v2["include"], json!(["documents"]));
            assert!(v2.get("data").is_none());
        }
        let back = get_result_from_slice(get_result_to_string(&r, ClientLine::V1x).unwrap().as_bytes()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn f32_stays_short() {
        let r = QueryResult {
            ids: vec![vec!["a".into()]],
            distances: Some(vec![vec![0.1]]),
            include: vec![Include::Distances],
            ..Default::default()
        };
        let s = query_result_to_string(&r, ClientLine::V1x).unwrap();
        assert!(s.contains("[[0.1]]"), "{s}");
    }
}
