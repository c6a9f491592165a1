//! The change log's entries: each write request as it was applied by the node that committed
//! it (a delete by filter resolved to the ids it removed), so that every node replaying the
//! entries in position order reaches the same state. JSON text; embeddings as base64 of
//! little-endian `f32`s.

use crate::pg::{pg_err, Pool};
use base64::Engine as _;
use chroma_types::metadata::{update_metadata_from_json, update_metadata_to_json};
use chroma_types::{AddRequest, DeleteRequest, Dialect, Error, Result, UpdateMetadata, UpdateRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Weak;
use std::time::Duration;

/// Key of the advisory lock under which one node at a time prunes the log.
const PRUNE_LOCK: i64 = 0x6368_726f_6d61_0002;

/// Entries deleted per statement when pruning (one entry can hold a batch of thousands of
/// vectors, megabytes: bounded statements keep each transaction short).
const PRUNE_BATCH: i64 = 256;

/// Deletes the change-log entries written more than `retention` ago, in batches, unless
/// another node is pruning at the moment. Returns how many were deleted.
///
/// Within a collection an entry's time grows with its position (it is taken under the
/// collection's row lock), so this removes a prefix of each collection's log. A cache behind
/// the pruned horizon finds its next entry missing and reloads from `chroma_records`, which
/// always hold the current state; no cache load needs the log before its own snapshot.
pub fn prune(pool: &Pool, retention: Duration) -> chroma_types::Result<u64> {
    let secs = retention.as_secs_f64();
    let mut total = 0u64;
    loop {
        let mut conn = pool.get()?;
        let mut tx = conn.transaction().map_err(|e| pg_err("pruning the change log", e))?;
        let mine: bool = tx
            .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&PRUNE_LOCK])
            .map_err(|e| pg_err("pruning the change log", e))?
            .get(0);
        if !mine {
            return Ok(total);
        }
        // A batch of large entries can outlast the per-statement timeout, and no writer waits
        // for these rows (writes only insert newer positions); a dead server is still noticed
        // by the TCP user timeout.
        tx.batch_execute("SET LOCAL statement_timeout = 0").map_err(|e| pg_err("pruning the change log", e))?;
        // Keyed by (collection_id, position) so that Citus pushes it down shard by shard.
        let n = tx
            .execute(
                "DELETE FROM chroma_log WHERE (collection_id, position) IN (SELECT collection_id, position
                   FROM chroma_log WHERE written_at < clock_timestamp() - make_interval(secs => $1) LIMIT $2)",
                &[&secs, &PRUNE_BATCH],
            )
            .map_err(|e| pg_err("pruning the change log", e))?;
        tx.commit().map_err(|e| pg_err("pruning the change log", e))?;
        total += n;
        if n < PRUNE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// Prunes the log every `retention / 4` (between 1 s and 1 min) while the node lives.
pub fn spawn_pruner(pool: Weak<Pool>, retention: Duration) {
    let every = (retention / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
    let spawned = std::thread::Builder::new().name("chroma-cluster-prune".into()).spawn(move || loop {
        // Sleeps in short steps so that a dropped node's thread ends soon.
        let mut slept = Duration::ZERO;
        while slept < every {
            std::thread::sleep(Duration::from_millis(250));
            slept += Duration::from_millis(250);
            if pool.strong_count() == 0 {
                return;
            }
        }
        let Some(pool) = pool.upgrade() else { return };
        match prune(&pool, retention) {
            Ok(0) => {}
            Ok(n) => tracing::info!(entries = n, "change log pruned"),
            Err(e) => tracing::debug!(error = %e, "change log not pruned this time"),
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the change-log pruner; the log is kept");
    }
}

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
