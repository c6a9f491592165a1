//! Forking a collection (1.x `collection.fork`): a new collection with the same records,
//! configuration and metadata.
//!
//! The rows are copied in one `SQLite` transaction with `INSERT … SELECT`: records get new
//! `rid`s shifted by one offset (past every existing `rid`), so insertion order is kept and the
//! `metadata_index` and `documents_fts` rows follow with the same shift. Slots are unchanged,
//! so the fork's vector file is a byte copy of the source's committed vectors and its graph
//! file a copy of the source's graph.
//!
//! Why copy and not hard-link: a vector file is appended to in place (`append_vectors` cuts it
//! back to the committed length, then writes), so two collections sharing one inode would
//! write over each other's new vectors. `std::fs::copy` uses `copy_file_range` on Linux, which
//! shares extents (a reflink) on file systems that can (Btrfs, XFS, bcachefs), so a fork costs
//! no data copy there and later appends are copy-on-write. A compaction writes a new
//! generation of files and never touches the old ones in place, so it is safe either way.
//!
//! The files are written before the transaction commits; a crash in between leaves a folder
//! no collection names, which nothing reads.

use super::indexer::{hnsw_params, index_err, to_index_space};
use super::{sparse, CollRow, Engine};
use crate::error::ResultExt;
use crate::folder;
use chroma_index::fileio::{self, Point};
use chroma_index::VectorIndex;
use chroma_types::{validate, Collection, Error, IndexingStatus, Result};
use rusqlite::{params, OptionalExtension, Transaction};
use std::path::Path;
use uuid::Uuid;

impl Engine {
    /// `fork`: copies collection `id` into a new collection `new_name` of the same database.
    pub(super) fn fork(&self, id: Uuid, new_name: &str) -> Result<Collection> {
        validate::stored_collection_name(new_name)?;
        let st = self.state(id);
        let _w = st.write.lock(); // no write to the source while it is copied
        let row = self.collection_row(id)?;
        self.ensure_index(&st, &row)?;
        let new_id = Uuid::new_v4();
        {
            // The source's graph as far as it is linked, so the fork does not relink it.
            let mut g = st.index.write();
            self.save_graph_if_behind(&row, &mut g, 1)?;
        }
        let new_dir = self.coll_dir(&new_id);
        let copied = match (self.coll_dir(&id), &new_dir, row.coll.dimension) {
            (Some(src), Some(dst), Some(dim)) => copy_files(&src, dst, row.generation, row.slot_count * dim as u64 * 4),
            _ => Ok(()),
        };
        let committed = copied.and_then(|()| self.fork_rows(&row, new_id, new_name));
        if committed.is_err() {
            if let Some(dst) = &new_dir {
                let _ = std::fs::remove_dir_all(dst);
            }
        }
        committed?;
        let forked = self.collection_row(new_id)?;
        // The source's sparse indexes hold the fork's records too: copying one is cheaper than
        // rebuilding it from SQLite.
        let copied = sparse::fork(
            &st.sparse.read(),
            (row.cid, row.coll.log_position as i64, row.generation),
            (forked.cid, forked.coll.log_position as i64, forked.generation),
        );
        *self.state(new_id).sparse.write() = copied;
        if new_dir.is_none() {
            self.fork_ephemeral_index(&st, &forked)?;
        }
        Ok(forked.coll)
    }

    /// The `SQLite` half of a fork, in one transaction.
    fn fork_rows(&self, row: &CollRow, new_id: Uuid, new_name: &str) -> Result<()> {
        let mut conn = self.inner.conn.lock();
        let tx = conn.transaction().context("forking collection")?;
        let db_id: String = tx
            .query_row("SELECT database_id FROM collections WHERE cid = ?1", [row.cid], |r| r.get(0))
            .context("forking collection")?;
        let taken: Option<i64> = tx
            .query_row(
                "SELECT cid FROM collections WHERE database_id = ?1 AND name = ?2",
                params![db_id, new_name],
                |r| r.get(0),
            )
            .optional()
            .context("forking collection")?;
        if taken.is_some() {
            return Err(Error::exists(format!("Collection {new_name} already exists")));
        }
        tx.execute(
            "INSERT INTO collections (id, name, database_id, metadata, config, dimension, version, log_position, slot_count, generation, lineage, total_ops, indexed_ops)
             SELECT ?1, ?2, database_id, metadata, config, dimension, version, log_position, slot_count, generation, COALESCE(lineage, id), total_ops, indexed_ops
             FROM collections WHERE cid = ?3",
            params![new_id.to_string(), new_name, row.cid],
        )
        .context("forking collection")?;
        let new_cid = tx.last_insert_rowid();
        copy_records(&tx, row.cid, new_cid)?;
        tx.commit().context("forking collection")
    }

    /// An ephemeral fork's index: the source's vectors (copied) with the same live slots,
    /// linked now when small, else by the background indexer.
    fn fork_ephemeral_index(&self, src: &super::CollState, forked: &CollRow) -> Result<()> {
        let copy = {
            let g = src.index.read();
            g.index
                .as_ref()
                .map(|i| (i.vectors().to_vec(), (0..i.len() as u32).map(|s| i.is_live(s)).collect::<Vec<_>>()))
        };
        let st = self.state(forked.coll.id);
        let mut g = st.index.write();
        g.loaded = true;
        let (Some((vectors, live)), Some(dim)) = (copy, forked.coll.dimension) else { return Ok(()) };
        let space = to_index_space(forked.coll.config.space);
        let idx = VectorIndex::unbuilt(dim, space, hnsw_params(&forked.coll.config), vectors, |s| live[s as usize])
            .map_err(index_err)?;
        let pending = idx.pending();
        if pending <= 2048 {
            idx.index_pending(usize::MAX);
        }
        g.index = Some(idx);
        drop(g);
        if pending > 2048 {
            self.spawn_indexer(forked.coll.id, &st);
        }
        Ok(())
    }

    /// `fork_count`: the collections sharing `id`'s lineage, less the root.
    pub(super) fn forks(&self, id: Uuid) -> Result<usize> {
        let conn = self.inner.conn.lock();
        let root: Option<String> = conn
            .query_row("SELECT COALESCE(lineage, id) FROM collections WHERE id = ?1", [id.to_string()], |r| r.get(0))
            .optional()
            .context("counting forks")?;
        let root = root.ok_or_else(|| Error::collection_not_found(&id.to_string()))?;
        let n: i64 = conn
            .query_row("SELECT count(*) FROM collections WHERE lineage = ?1", [root], |r| r.get(0))
            .context("counting forks")?;
        Ok(n as usize)
    }

    /// `indexing_status`: the record operations written, and those covered by the last
    /// version step (see [`schedule_version_step`](Self::schedule_version_step)).
    pub(super) fn indexing(&self, id: Uuid) -> Result<IndexingStatus> {
        let conn = self.reader()?;
        let ops: Option<(i64, i64)> = conn
            .query_row("SELECT indexed_ops, total_ops FROM collections WHERE id = ?1", [id.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()
            .context("reading indexing status")?;
        let (indexed, total) = ops.ok_or_else(|| Error::collection_not_found(&id.to_string()))?;
        Ok(IndexingStatus::new(indexed.max(0) as usize, total.max(0) as usize))
    }
}

/// Copies a collection's rows to `new_cid`: records with `rid`s shifted past every existing
/// one, then their metadata index and full-text rows with the same shift.
fn copy_records(tx: &Transaction<'_>, cid: i64, new_cid: i64) -> Result<()> {
    let shift: i64 = tx
        .query_row(
            "SELECT COALESCE((SELECT max(rid) FROM records), 0) + 1 - COALESCE((SELECT min(rid) FROM records WHERE cid = ?1), 0)",
            [cid],
            |r| r.get(0),
        )
        .context("forking records")?;
    tx.execute(
        "INSERT INTO records (rid, cid, id, slot, seq, document, uri, metadata)
         SELECT rid + ?1, ?2, id, slot, seq, document, uri, metadata FROM records WHERE cid = ?3 ORDER BY rid",
        params![shift, new_cid, cid],
    )
    .context("forking records")?;
    tx.execute(
        "INSERT INTO metadata_index (rid, cid, key, in_array, str_value, int_value, float_value, bool_value)
         SELECT rid + ?1, ?2, key, in_array, str_value, int_value, float_value, bool_value FROM metadata_index WHERE cid = ?3",
        params![shift, new_cid, cid],
    )
    .context("forking metadata")?;
    tx.execute(
        "INSERT INTO documents_fts (rowid, document) SELECT rid, document FROM records WHERE cid = ?1 AND document IS NOT NULL",
        [new_cid],
    )
    .context("forking documents")?;
    Ok(())
}

/// Copies the committed vectors and the graph file of `generation` from `src` to `dst`.
fn copy_files(src: &Path, dst: &Path, generation: i64, committed_bytes: u64) -> Result<()> {
    std::fs::create_dir_all(dst).with_context(|| format!("creating {}", dst.display()))?;
    let (vs, vd) = (folder::vectors_path(src, generation), folder::vectors_path(dst, generation));
    if vs.exists() {
        std::fs::copy(&vs, &vd).with_context(|| format!("copying {}", vs.display()))?;
        let f =
            std::fs::OpenOptions::new().write(true).open(&vd).with_context(|| format!("opening {}", vd.display()))?;
        if f.metadata().with_context(|| format!("reading {}", vd.display()))?.len() > committed_bytes {
            f.set_len(committed_bytes).with_context(|| format!("truncating {}", vd.display()))?;
        }
        fileio::sync_all(Point::VectorSync, &f).with_context(|| format!("syncing {}", vd.display()))?;
    }
    let (gs, gd) = (folder::graph_path(src, generation), folder::graph_path(dst, generation));
    if gs.exists() {
        std::fs::copy(&gs, &gd).with_context(|| format!("copying {}", gs.display()))?;
    }
    Ok(())
}
