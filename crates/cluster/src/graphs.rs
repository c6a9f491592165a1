//! Built HNSW graphs kept in PostgreSQL (`chroma_graphs`, `chroma_graph_chunks`), so a node
//! loading a collection reuses the graph another node built from the same records instead of
//! linking every vector again (the dominant cost of a cold load).
//!
//! A graph is only valid for the exact slot layout it was built over. A node that loaded a
//! collection from `chroma_records` puts record `i` (in `seq` order) in slot `i`; so a graph
//! built by such a node, before it applied any change, fits any other node loading the same
//! records. Its row names what it was built over: the collection's incarnation, the SHA-256
//! of its configuration, the log position of the load and the SHA-256 of the record ids in
//! load order. A loading node uses it only if all four match what it read; otherwise it
//! links in the background (searches scan the unlinked vectors exactly meanwhile) and, when
//! done, publishes its own graph if its cache is still exactly what it loaded.

use crate::pg::{pg_err, Pool};
use chroma_types::Result;
use postgres::GenericClient;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Bytes per `chroma_graph_chunks` row (a bytea value is limited to 1 GB).
const CHUNK: usize = 8 << 20;

/// Lowercase hex SHA-256.
pub fn sha_hex(d: Sha256) -> String {
    use std::fmt::Write;
    d.finalize().iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// SHA-256 of a configuration's stored text.
pub fn config_sha(config_text: &str) -> String {
    sha_hex(Sha256::new_with_prefix(config_text.as_bytes()))
}

/// The ids of a load, hashed in load order (length-prefixed, so no two lists collide by
/// concatenation).
#[derive(Default)]
pub struct IdsHash(Sha256);

impl IdsHash {
    /// Adds the next id.
    pub fn push(&mut self, id: &str) {
        self.0.update((id.len() as u64).to_le_bytes());
        self.0.update(id.as_bytes());
    }

    /// The hex digest.
    pub fn finish(self) -> String {
        sha_hex(self.0)
    }
}

/// What a graph was built over (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub incarnation: i64,
    pub config_sha: String,
    pub position: u64,
    pub ids_sha: String,
}

/// The saved graph of collection `id` if it was built over exactly `want`.
pub fn fetch(c: &mut impl GenericClient, id: Uuid, want: &Built) -> Result<Option<Vec<u8>>> {
    let Some(row) = c
        .query_opt(
            "SELECT incarnation, config_sha256, log_position, ids_sha256, bytes, chunks FROM chroma_graphs
             WHERE collection_id = $1",
            &[&id],
        )
        .map_err(|e| pg_err("reading a saved graph", e))?
    else {
        return Ok(None);
    };
    let have = Built {
        incarnation: row.get(0),
        config_sha: row.get(1),
        position: row.get::<_, i64>(2) as u64,
        ids_sha: row.get(3),
    };
    if have != *want {
        tracing::debug!(collection = %id, ?have, ?want, "saved graph built over other records; not used");
        return Ok(None);
    }
    let (bytes, chunks): (i64, i32) = (row.get(4), row.get(5));
    let mut out = Vec::with_capacity(usize::try_from(bytes).unwrap_or(0));
    let rows = c
        .query("SELECT chunk, data FROM chroma_graph_chunks WHERE collection_id = $1 ORDER BY chunk", &[&id])
        .map_err(|e| pg_err("reading a saved graph", e))?;
    for (i, r) in rows.iter().enumerate() {
        if r.get::<_, i32>(0) != i as i32 {
            return Ok(None); // replaced meanwhile (read outside a snapshot): not used
        }
        out.extend_from_slice(r.get::<_, &[u8]>(1));
    }
    if rows.len() != chunks as usize || out.len() as i64 != bytes {
        return Ok(None);
    }
    Ok(Some(out))
}

/// Deletes the saved graph built over `built` (it did not load: damaged), so that the next
/// node to link the collection saves a good one.
pub fn discard(c: &mut impl GenericClient, id: Uuid, built: &Built) -> Result<()> {
    c.execute(
        "DELETE FROM chroma_graph_chunks WHERE collection_id = $1 AND EXISTS (SELECT 1 FROM chroma_graphs
           WHERE collection_id = $1 AND incarnation = $2 AND log_position = $3 AND ids_sha256 = $4)",
        &[&id, &built.incarnation, &(built.position as i64), &built.ids_sha],
    )
    .and_then(|_| {
        c.execute(
            "DELETE FROM chroma_graphs WHERE collection_id = $1 AND incarnation = $2 AND log_position = $3
               AND ids_sha256 = $4",
            &[&id, &built.incarnation, &(built.position as i64), &built.ids_sha],
        )
    })
    .map(drop)
    .map_err(|e| pg_err("discarding a damaged graph", e))
}

/// Saves `graph` as collection `id`'s graph built over `built`, unless the collection was
/// re-created meanwhile or a graph at the same or a later position is already saved.
/// Returns whether it was saved.
pub fn publish(pool: &Pool, id: Uuid, built: &Built, graph: &[u8], slots: usize) -> Result<bool> {
    let mut conn = pool.get()?;
    let mut tx = conn.transaction().map_err(|e| pg_err("saving a graph", e))?;
    // Chunks of a large graph can outlast the per-statement timeout; a dead server is still
    // noticed by the TCP user timeout.
    tx.batch_execute("SET LOCAL statement_timeout = 0").map_err(|e| pg_err("saving a graph", e))?;
    // Two nodes finishing the same graph at once: one saves, the other then sees it saved.
    tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 1129801544))", &[&id.to_string()])
        .map_err(|e| pg_err("saving a graph", e))?;
    let current = tx
        .query_opt("SELECT incarnation FROM chroma_collections WHERE id = $1", &[&id])
        .map_err(|e| pg_err("saving a graph", e))?;
    if current.map(|r| r.get::<_, i64>(0)) != Some(built.incarnation) {
        return Ok(false);
    }
    let saved = tx
        .query_opt("SELECT incarnation, log_position FROM chroma_graphs WHERE collection_id = $1", &[&id])
        .map_err(|e| pg_err("saving a graph", e))?;
    if saved.is_some_and(|r| r.get::<_, i64>(0) == built.incarnation && r.get::<_, i64>(1) >= built.position as i64) {
        return Ok(false);
    }
    tx.execute("DELETE FROM chroma_graph_chunks WHERE collection_id = $1", &[&id])
        .map_err(|e| pg_err("saving a graph", e))?;
    let mut chunks = 0i32;
    for (i, part) in graph.chunks(CHUNK).enumerate() {
        tx.execute(
            "INSERT INTO chroma_graph_chunks (collection_id, chunk, data) VALUES ($1, $2, $3)",
            &[&id, &(i as i32), &part],
        )
        .map_err(|e| pg_err("saving a graph", e))?;
        chunks += 1;
    }
    tx.execute(
        "INSERT INTO chroma_graphs (collection_id, incarnation, config_sha256, log_position, ids_sha256, slots, bytes, chunks)
         VALUES ($1, $2, $3, $4, $5, $8, $6, $7)
         ON CONFLICT (collection_id) DO UPDATE SET incarnation = EXCLUDED.incarnation,
           config_sha256 = EXCLUDED.config_sha256, log_position = EXCLUDED.log_position,
           ids_sha256 = EXCLUDED.ids_sha256, slots = EXCLUDED.slots, bytes = EXCLUDED.bytes, chunks = EXCLUDED.chunks",
        &[&id, &built.incarnation, &built.config_sha, &(built.position as i64), &built.ids_sha, &(graph.len() as i64), &chunks, &(slots as i64)],
    )
    .map_err(|e| pg_err("saving a graph", e))?;
    tx.commit().map_err(|e| pg_err("saving a graph", e))?;
    Ok(true)
}
