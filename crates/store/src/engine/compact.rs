//! Compaction: rewrites a collection's vectors and graph without deleted or replaced slots,
//! and `vacuum`, which compacts every collection and then runs `SQLite`'s VACUUM.
//!
//! Crash safety comes from generations: the compacted vectors and graph are written under
//! the next generation number and made durable first; one `SQLite` transaction then renumbers
//! the records' slots and switches the collection to the new generation. Files of any other
//! generation are removed when the collection is next loaded, so a crash at any point leaves
//! either the old or the new generation in force, never a mix.

use super::indexer::index_err;
use super::{sparse, CollRow, CollState, Engine, IndexState};
use crate::error::ResultExt;
use crate::folder;
use chroma_types::{Error, Result};
use rusqlite::params;
use std::path::Path;
use uuid::Uuid;

/// What `vacuum` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VacuumReport {
    /// Collections looked at.
    pub collections: usize,
    /// Collections that had dead slots and were rewritten.
    pub collections_compacted: usize,
    /// Vector slots dropped in total.
    pub slots_reclaimed: u64,
    /// Size of the data folder before (0 for an ephemeral store).
    pub bytes_before: u64,
    /// Size of the data folder after.
    pub bytes_after: u64,
}

/// Deleted slots needed before a write triggers compaction on its own.
const AUTO_COMPACT_MIN: usize = 1000;

fn folder_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => folder_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl Engine {
    /// Compacts a collection if it has any dead slots. Returns the slots reclaimed.
    pub fn compact_collection(&self, id: Uuid) -> Result<u64> {
        let st = self.state(id);
        let _w = st.write.lock();
        let row = self.collection_row(id)?;
        self.ensure_index(&st, &row)?;
        self.compact_locked(&st, &row)
    }

    /// Compaction with the collection's write lock held and its index loaded.
    fn compact_locked(&self, st: &CollState, row: &CollRow) -> Result<u64> {
        let mut g = st.index.write();
        let Some(index) = g.index.as_ref() else { return Ok(0) };
        let dead = index.len() - index.live_count();
        if dead == 0 {
            return Ok(0);
        }
        let (new_index, map) = index.compact().map_err(index_err)?;
        let generation = row.generation + 1;
        if let Some(dir) = self.coll_dir(&row.coll.id) {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            folder::write_vectors_atomic(&folder::vectors_path(&dir, generation), new_index.vectors())?;
            new_index.save_graph(&folder::graph_path(&dir, generation), row.coll.log_position).map_err(index_err)?;
        }
        // Held over the commit as writes hold it (see `sparse.rs`).
        let mut sp = st.sparse.write();
        {
            let mut conn = self.inner.conn.lock();
            let tx = conn.transaction().context("starting compaction")?;
            let slots: Vec<(i64, i64)> = {
                let mut stmt = tx.prepare("SELECT rid, slot FROM records WHERE cid = ?1").context("reading slots")?;
                let rows = stmt.query_map([row.cid], |r| Ok((r.get(0)?, r.get(1)?))).context("reading slots")?;
                rows.collect::<std::result::Result<_, _>>().context("reading slots")?
            };
            {
                let mut upd = tx.prepare("UPDATE records SET slot = ?2 WHERE rid = ?1").context("renumbering slots")?;
                for (rid, slot) in slots {
                    let Some(Some(new)) = map.get(slot as usize) else {
                        return Err(Error::internal(format!(
                            "record {rid} refers to slot {slot}, which the index does not hold as live"
                        )));
                    };
                    upd.execute(params![rid, i64::from(*new)]).context("renumbering slots")?;
                }
            }
            tx.execute(
                "UPDATE collections SET slot_count = ?2, generation = ?3 WHERE cid = ?1",
                params![row.cid, new_index.len() as i64, generation],
            )
            .context("switching generation")?;
            tx.commit().context("committing compaction")?;
        }
        // Only slots changed: the sparse indexes (by id) stay exact under the new generation.
        let at = |generation| (row.cid, row.coll.log_position as i64, generation);
        sparse::retag(&mut sp, at(row.generation), at(generation));
        drop(sp);
        let saved = new_index.len();
        *g = IndexState {
            loaded: true,
            index: Some(new_index),
            saved_slots: if self.inner.root.is_some() { saved } else { 0 },
            // Slots were renumbered: the filter index is rebuilt by the next filtered query.
            filter: parking_lot::RwLock::new(None),
        };
        if let Some(dir) = self.coll_dir(&row.coll.id) {
            folder::remove_stale_generations(&dir, generation);
        }
        tracing::info!(collection = %row.coll.name, reclaimed = dead, "compacted the vector index");
        Ok(dead as u64)
    }

    /// Compacts after a write when dead slots outnumber live ones (and are at least 1000).
    /// Maintenance after a committed write: a failure (a full disk) is logged, not returned
    /// (an error now would report a write that did happen as failed); nothing changed, and
    /// the next write that removes slots tries again.
    pub(super) fn maybe_auto_compact(&self, st: &CollState, row: &CollRow) {
        let needs = {
            let g = st.index.read();
            g.index.as_ref().is_some_and(|i| {
                let dead = i.len() - i.live_count();
                dead >= AUTO_COMPACT_MIN && dead > i.live_count()
            })
        };
        if !needs {
            return;
        }
        // The request's budget does not stop it either, for the same reason.
        let done = crate::budget::shielded(|| {
            let row = self.collection_row(row.coll.id)?;
            self.compact_locked(st, &row).map(|_| ())
        });
        if let Err(e) = done {
            tracing::warn!(collection = %row.coll.name, error = %e, "could not compact after a write; it is tried again later");
        }
    }

    /// Compacts every collection, then runs `SQLite` VACUUM. Reports what was reclaimed.
    pub fn vacuum(&self) -> Result<VacuumReport> {
        let mut report = VacuumReport { bytes_before: self.path().map_or(0, folder_size), ..Default::default() };
        let ids: Vec<Uuid> = {
            let conn = self.reader()?;
            let mut stmt = conn.prepare("SELECT id FROM collections ORDER BY cid").context("listing collections")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0)).context("listing collections")?;
            rows.filter_map(std::result::Result::ok).filter_map(|s| Uuid::parse_str(&s).ok()).collect()
        };
        for id in ids {
            report.collections += 1;
            let n = self.compact_collection(id)?;
            if n > 0 {
                report.collections_compacted += 1;
                report.slots_reclaimed += n;
            }
        }
        {
            let conn = self.inner.conn.lock();
            conn.execute_batch("VACUUM; PRAGMA wal_checkpoint(TRUNCATE);").context("running VACUUM")?;
        }
        report.bytes_after = self.path().map_or(0, folder_size);
        Ok(report)
    }
}
