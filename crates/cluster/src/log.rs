//! The change log's entries: each write request as it was applied by the node that committed
//! it (a delete by filter resolved to the ids it removed), so that every node replaying the
//! entries in position order reaches the same state. JSON text; embeddings as base64 of
//! little-endian `f32`s.

use base64::Engine as _;
use chroma_types::metadata::{update_metadata_from_json, update_metadata_to_json};
use chroma_types::{AddRequest, DeleteRequest, Dialect, Error, Result, UpdateMetadata, UpdateRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One change to a collection.
#[derive(Debug, Clone)]
pub enum Op {
    /// `add` (existing ids skipped).
    Add(AddRequest),
    /// `upsert`.
    Upsert(AddRequest),
    /// `update` (missing ids skipped).
    Update(UpdateRequest),
    /// The ids a delete removed.
    Delete(Vec<String>),
}

#[derive(Serialize, Deserialize)]
struct Entry {
    op: String,
    ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embeddings: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    documents: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uris: Option<Vec<Option<String>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadatas: Option<Vec<Option<Value>>>,
    #[serde(default)]
    legacy_keys: bool,
}

/// `f32`s as little-endian bytes.
pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Little-endian bytes back to `f32`s.
pub fn bytes_f32(b: &[u8]) -> Result<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return Err(Error::internal(format!("stored embedding of {} bytes is not a whole number of f32s", b.len())));
    }
    Ok(b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

fn b64(v: &[f32]) -> String {
    base64::engine::general_purpose::STANDARD.encode(f32_bytes(v))
}

fn unb64(s: &str) -> Result<Vec<f32>> {
    let b = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| Error::internal_from("decoding a change-log embedding", e))?;
    bytes_f32(&b)
}

fn metas(m: Option<&Vec<Option<UpdateMetadata>>>) -> Option<Vec<Option<Value>>> {
    m.map(|v| v.iter().map(|m| m.as_ref().map(update_metadata_to_json)).collect())
}

fn unmetas(m: Option<Vec<Option<Value>>>) -> Result<Option<Vec<Option<UpdateMetadata>>>> {
    m.map(|v| v.into_iter().map(|m| m.as_ref().map(update_metadata_from_json).transpose()).collect()).transpose()
}

/// The dialect a replayed write is checked with: the writer already checked the keys under the
/// client's rules, so replay accepts what any client line may store.
fn dialect(legacy: bool) -> Dialect {
    Dialect { legacy_metadata_keys: legacy, ..Dialect::V1 }
}

impl Op {
    /// The ids this change touches.
    pub fn ids(&self) -> &[String] {
        match self {
            Op::Add(r) | Op::Upsert(r) => &r.ids,
            Op::Update(r) => &r.ids,
            Op::Delete(ids) => ids,
        }
    }

    /// The entry as stored in `chroma_log.op`.
    pub fn encode(&self) -> Result<String> {
        let e = match self {
            Op::Add(r) | Op::Upsert(r) => Entry {
                op: if matches!(self, Op::Add(_)) { "add" } else { "upsert" }.into(),
                ids: r.ids.clone(),
                embeddings: Some(r.embeddings.iter().map(|e| Some(b64(e))).collect()),
                documents: r.documents.clone(),
                uris: r.uris.clone(),
                metadatas: metas(r.metadatas.as_ref()),
                legacy_keys: r.dialect.legacy_metadata_keys,
            },
            Op::Update(r) => Entry {
                op: "update".into(),
                ids: r.ids.clone(),
                embeddings: r.embeddings.as_ref().map(|v| v.iter().map(|e| e.as_deref().map(b64)).collect()),
                documents: r.documents.clone(),
                uris: r.uris.clone(),
                metadatas: metas(r.metadatas.as_ref()),
                legacy_keys: r.dialect.legacy_metadata_keys,
            },
            Op::Delete(ids) => Entry {
                op: "delete".into(),
                ids: ids.clone(),
                embeddings: None,
                documents: None,
                uris: None,
                metadatas: None,
                legacy_keys: false,
            },
        };
        serde_json::to_string(&e).map_err(|e| Error::internal_from("encoding a change-log entry", e))
    }

    /// An entry read back from `chroma_log.op`.
    pub fn decode(text: &str) -> Result<Op> {
        let e: Entry =
            serde_json::from_str(text).map_err(|e| Error::internal_from("decoding a change-log entry", e))?;
        let d = dialect(e.legacy_keys);
        Ok(match e.op.as_str() {
            "add" | "upsert" => {
                let embeddings = e
                    .embeddings
                    .unwrap_or_default()
                    .into_iter()
                    .map(|s| s.as_deref().map_or(Ok(Vec::new()), unb64))
                    .collect::<Result<Vec<_>>>()?;
                let r = AddRequest {
                    ids: e.ids,
                    embeddings,
                    documents: e.documents,
                    uris: e.uris,
                    metadatas: unmetas(e.metadatas)?,
                    dialect: d,
                };
                if e.op == "add" {
                    Op::Add(r)
                } else {
                    Op::Upsert(r)
                }
            }
            "update" => Op::Update(UpdateRequest {
                ids: e.ids,
                embeddings: e
                    .embeddings
                    .map(|v| v.into_iter().map(|s| s.as_deref().map(unb64).transpose()).collect::<Result<Vec<_>>>())
                    .transpose()?,
                documents: e.documents,
                uris: e.uris,
                metadatas: unmetas(e.metadatas)?,
                dialect: d,
            }),
            "delete" => Op::Delete(e.ids),
            other => return Err(Error::internal(format!("unknown change-log operation {other:?}"))),
        })
    }

    /// A delete of exactly these ids.
    pub fn delete_request(ids: Vec<String>) -> DeleteRequest {
        DeleteRequest { ids: Some(ids), ..Default::default() }
    }
}
