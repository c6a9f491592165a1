//! The write path: add, upsert, update (one shared path), the bulk load, and delete.
//!
//! A write takes the collection's writer lock, plans the write (`plan.rs`: pure), appends the
//! new vectors to the vector file and makes them durable, inserts and updates the rows in one
//! `SQLite` transaction and commits it, and only then brings the in-memory index up to date.
//! Readers pair rows with index vectors under the index lock, which a write holds from before
//! its commit until the index has the write.

use super::indexer::{hnsw_params, index_err, to_index_space, INDEX_STEP, INLINE_INDEX_MAX};
use super::plan::{
    self, rows_from_add, rows_from_update, PlannedRecord, RowMetadata, Target, WriteMode, WritePlan, WriteRow,
};
use super::{metadata_text, parse_metadata_text, sparse, CollRow, CollState, Engine, IndexState, StoredRecord};
use crate::error::{json_error, ResultExt};
use crate::{budget, folder};
use chroma_index::VectorIndex;
use chroma_types::metadata::merge_metadata;
use chroma_types::{validate, AddRequest, DeleteRequest, Error, Metadata, MetadataValue, Result, UpdateRequest};
use rusqlite::{params, Transaction};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// Appends of at least this many floats write the vector file on a second thread.
const PARALLEL_VECTOR_WRITE: usize = 1 << 18;

/// How far the embeddings of a write were checked before it reached the write path.
#[derive(Clone, Copy, Debug)]
enum Embeddings {
    /// Straight from a request: checked here, against the collection and each other.
    Unchecked,
    /// From [`Engine::prepare_bulk`]: checked already, all of dimension `dim` (`None`: the
    /// batch has none); only the collection's dimension is left to compare.
    Checked { dim: Option<usize> },
}

/// How long a write of more than [`INLINE_INDEX_MAX`] new vectors links them itself before
/// leaving the rest to the background indexer.
const INLINE_LINK_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// When the in-memory index learns about a write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IndexUpdate {
    /// Right after the commit (the index is loaded first).
    Immediate,
    /// On the next load, which catches up from the vector file (the bulk load).
    Deferred,
    /// Right after the commit, stored but not linked into the graph (searched exactly until
    /// [`Engine::link_in_background`] or [`Engine::import_graph`] links it).
    Unlinked,
}

/// An `add` batch validated and converted by [`Engine::prepare_bulk`] (on any thread), to be
/// written by [`Engine::bulk_add_prepared`].
pub struct PreparedBatch {
    collection: Uuid,
    dim: Option<usize>,
    rows: Vec<WriteRow>,
}

impl PreparedBatch {
    /// Records in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True if the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Engine {
    /// `add`: inserts new ids, skips existing ones.
    pub(super) fn add_records(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        validate::add_request(&req, None, self.inner.settings.max_batch_size)?;
        self.write(collection, WriteMode::Add, rows_from_add(req))
    }

    /// `upsert`: inserts new ids, updates existing ones.
    pub(super) fn upsert_records(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        validate::add_request(&req, None, self.inner.settings.max_batch_size)?;
        self.write(collection, WriteMode::Upsert, rows_from_add(req))
    }

    /// `update`: updates existing ids, skips new ones.
    pub(super) fn update_records(&self, collection: Uuid, req: UpdateRequest) -> Result<()> {
        validate::update_request(&req, None, self.inner.settings.max_batch_size)?;
        self.write(collection, WriteMode::Update, rows_from_update(req))
    }

    /// The shared write path of add, upsert and update.
    fn write(&self, collection: Uuid, mode: WriteMode, rows: Vec<WriteRow>) -> Result<()> {
        self.write_rows(collection, mode, rows, Embeddings::Unchecked, IndexUpdate::Immediate)
    }

    /// Bulk load for a persistent folder: adds records (durably, as `add`) without inserting
    /// them into the in-memory HNSW graph; the graph is built on the next load or by
    /// [`build_index`](Self::build_index), with all cores. Ephemeral engines fall back to `add`.
    pub fn bulk_add(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        let batch = self.prepare_bulk(collection, req)?;
        self.bulk_add_prepared(batch)
    }

    /// The first half of [`bulk_add`](Self::bulk_add): validates the request and converts its
    /// rows (metadata merged and serialised). Touches no storage, so a bulk loader can run it
    /// on its reading thread while the previous batch is being written.
    pub fn prepare_bulk(&self, collection: Uuid, req: AddRequest) -> Result<PreparedBatch> {
        let dim = validate::add_request(&req, None, self.inner.settings.max_batch_size)?;
        let mut rows = rows_from_add(req);
        for r in &mut rows {
            if let RowMetadata::Update(update) = &r.metadata {
                let metadata = update.as_ref().and_then(|m| merge_metadata(None, m));
                let text = metadata_text(metadata.as_ref());
                r.metadata = RowMetadata::Prepared { metadata, text };
            }
        }
        Ok(PreparedBatch { collection, dim, rows })
    }

    /// The second half of [`bulk_add`](Self::bulk_add): writes a prepared batch (ids already
    /// in the collection are skipped, as `add` does).
    pub fn bulk_add_prepared(&self, batch: PreparedBatch) -> Result<()> {
        let index = if self.inner.root.is_some() { IndexUpdate::Deferred } else { IndexUpdate::Immediate };
        self.write_rows(batch.collection, WriteMode::Add, batch.rows, Embeddings::Checked { dim: batch.dim }, index)
    }

    /// A bulk load whose vectors are searchable at once, by exact scan, and linked into the
    /// graph later: by [`link_in_background`](Self::link_in_background), by a graph saved
    /// elsewhere ([`import_graph`](Self::import_graph)), or by the next write's indexer. For
    /// a derived copy that must answer soon (a cluster node's cache). Folder engines defer
    /// the index as [`bulk_add`](Self::bulk_add) does.
    pub fn bulk_add_unlinked(&self, collection: Uuid, req: AddRequest) -> Result<()> {
        let batch = self.prepare_bulk(collection, req)?;
        let index = if self.inner.root.is_some() { IndexUpdate::Deferred } else { IndexUpdate::Unlinked };
        self.write_rows(batch.collection, WriteMode::Add, batch.rows, Embeddings::Checked { dim: batch.dim }, index)
    }

    /// Writes `rows`: plan, vectors, one transaction, then the in-memory index.
    fn write_rows(
        &self,
        collection: Uuid,
        mode: WriteMode,
        rows: Vec<WriteRow>,
        embeddings: Embeddings,
        index: IndexUpdate,
    ) -> Result<()> {
        let st = self.state(collection);
        let _w = st.write.lock();
        let row = self.collection_row(collection)?;
        self.prepare_index_for_write(&st, &row, index)?;
        validate::batch_size(rows.len(), self.inner.settings.max_batch_size)?;
        let dim = batch_dimension(&row, &rows, embeddings)?;

        // Readers pair SQLite rows with index vectors under the index lock: hold it from
        // before the commit until the index has the write, so none sees one without the other.
        let g = (index != IndexUpdate::Deferred).then(|| st.index.write());
        // The same for the sparse indexes: a search sees them at SQLite's state or waits.
        let mut sp = st.sparse.write();
        let seq = row.coll.log_position as i64 + 1;
        let Some((plan, existing)) = self.commit_write(&row, mode, rows, dim, seq)? else { return Ok(()) };
        let before = (row.cid, row.coll.log_position as i64, row.generation);
        sparse::apply_write(&mut sp, before, (row.cid, seq, row.generation), &plan, &existing);
        drop(sp);
        self.schedule_version_step(collection, &st);
        let Some(mut g) = g else {
            return Ok(()); // deferred (bulk_add)
        };
        let filter = g.filter.get_mut();
        if filter.as_mut().is_some_and(|f| !f.apply_write(before, (row.cid, seq, row.generation), &plan, &existing)) {
            *filter = None; // out of step: the next filtered query rebuilds it
        }
        // The write is durable; now bring the in-memory index up to date. A large batch is
        // linked in steps for at most `INLINE_LINK_TIME`, the rest by the background indexer
        // (searches scan it exactly meanwhile): 15k identical vectors at M=128 (Chroma's
        // `test_add_large`) took 7 s to link, and on a loaded machine outlasted the request's
        // time limit.
        let many = plan.new_vectors.len() / dim.unwrap_or(1).max(1) > INLINE_INDEX_MAX
            && self.inner.background_indexing.load(std::sync::atomic::Ordering::Acquire);
        let link = index == IndexUpdate::Immediate && !many;
        if !self.apply_to_index(&row, &mut g, &plan, dim, link)? {
            return Ok(());
        }
        if index == IndexUpdate::Immediate && many {
            if let Some(idx) = g.index.as_ref() {
                let started = std::time::Instant::now();
                while idx.pending() > 0 && started.elapsed() < INLINE_LINK_TIME {
                    idx.index_pending(INDEX_STEP);
                }
            }
        }
        // Appends behind an unlinked tail join it (the graph stays a prefix of the slots).
        let tail = g.index.as_ref().is_some_and(|i| i.pending() > 0);
        if self.inner.root.is_some() {
            let mut saved_row = row.clone();
            saved_row.coll.log_position = seq as u64;
            let len = g.index.as_ref().map_or(0, VectorIndex::len);
            let threshold = row.coll.config.sync_threshold.max(len / 4);
            // The write is committed: a graph that cannot be saved now (a full disk) is
            // caught up from the vector file on the next load, never reported as a failed write.
            self.save_graph_best_effort(&saved_row, &mut g, threshold);
        }
        drop(g);
        if tail && index == IndexUpdate::Immediate {
            self.spawn_indexer(collection, &st);
        }
        if !plan.removed_slots.is_empty() {
            self.maybe_auto_compact(&st, &row);
        }
        Ok(())
    }

    /// Loads the index before an immediate write; before a deferred one, saves what is
    /// linked and unloads it (the graph file stays as it is; the next load catches up from
    /// the vector file).
    fn prepare_index_for_write(&self, st: &Arc<CollState>, row: &CollRow, index: IndexUpdate) -> Result<()> {
        match index {
            IndexUpdate::Immediate | IndexUpdate::Unlinked => self.ensure_index(st, row),
            IndexUpdate::Deferred => {
                let mut g = st.index.write();
                if g.loaded {
                    self.save_graph_best_effort(row, &mut g, 1);
                }
                *g = IndexState::default();
                Ok(())
            }
        }
    }

    /// Plans the write against the stored records and commits it: vectors first, durable,
    /// then the rows in one transaction. `None` when every row was skipped; else the plan and
    /// the stored records it replaced (by id).
    fn commit_write(
        &self,
        row: &CollRow,
        mode: WriteMode,
        rows: Vec<WriteRow>,
        dim: Option<usize>,
        seq: i64,
    ) -> Result<Option<(WritePlan, HashMap<String, StoredRecord>)>> {
        let mut conn = self.inner.conn.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).context("starting write")?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        // Every record has a slot, so a collection that never had a vector has no records.
        let existing = if row.slot_count == 0 { HashMap::new() } else { read_existing(&tx, row.cid, &ids)? };
        let plan = plan::plan(mode, rows, &existing, row.slot_count as i64)?;
        if plan.is_empty() {
            return Ok(None);
        }
        let vector_file = match (dim, self.coll_dir(&row.coll.id), plan.new_vectors.is_empty()) {
            (Some(d), Some(dir), false) => Some((d, folder::vectors_path(&dir, row.generation))),
            _ => None,
        };
        // Large appends are written (and fsynced) on a second thread while the rows are
        // inserted; the commit waits for them.
        std::thread::scope(|scope| -> Result<()> {
            let vectors_written = match &vector_file {
                Some((d, path)) if plan.new_vectors.len() >= PARALLEL_VECTOR_WRITE => {
                    let (d, slot_count, data) = (*d, row.slot_count, &plan.new_vectors);
                    Some(scope.spawn(move || folder::append_vectors(path, d, slot_count, data)))
                }
                Some((d, path)) => {
                    folder::append_vectors(path, *d, row.slot_count, &plan.new_vectors)?;
                    None
                }
                None => None,
            };
            apply_records(&tx, row.cid, seq, &plan.records)?;
            discover_schema_keys(&tx, row, &plan.records)?;
            tx.execute(
                "UPDATE collections SET slot_count = ?2, log_position = ?3, dimension = COALESCE(dimension, ?4),
                 total_ops = total_ops + ?5 WHERE cid = ?1",
                params![row.cid, plan.slot_count, seq, dim.map(|d| d as i64), plan.records.len() as i64],
            )
            .context("updating collection")?;
            if let Some(h) = vectors_written {
                h.join().map_err(|_| Error::internal("the vector writer thread panicked"))??;
            }
            // Past this check the write completes: a commit is never interrupted.
            budget::check_before_commit()?;
            budget::shielded(|| tx.commit()).context("committing write")
        })?;
        Ok(Some((plan, existing)))
    }

    /// Appends the plan's vectors to the in-memory index (linked, or left pending) and removes
    /// the replaced slots. Returns `false` when the index was out of step with storage and
    /// has been dropped (persistent: it is reloaded on next use).
    fn apply_to_index(
        &self,
        row: &CollRow,
        g: &mut IndexState,
        plan: &WritePlan,
        dim: Option<usize>,
        link: bool,
    ) -> Result<bool> {
        if g.index.is_none() {
            if let Some(d) = dim {
                let idx = VectorIndex::new(d, to_index_space(row.coll.config.space), hnsw_params(&row.coll.config))
                    .map_err(index_err)?;
                g.index = Some(idx);
            }
        }
        let Some(index) = g.index.as_mut() else { return Ok(true) };
        let consistent = index.len() as u64 == row.slot_count;
        let appended = if consistent && !plan.new_vectors.is_empty() {
            if link { index.append(&plan.new_vectors) } else { index.append_unindexed(&plan.new_vectors) }.map(|_| ())
        } else {
            Ok(())
        };
        if !consistent || appended.is_err() {
            tracing::warn!(collection = %row.coll.name, "in-memory index out of step with storage; it will be reloaded");
            if self.inner.root.is_some() {
                *g = IndexState::default();
                return Ok(false);
            }
            return appended.map_err(index_err).map(|()| false);
        }
        for s in &plan.removed_slots {
            index.remove(*s).map_err(index_err)?;
        }
        Ok(true)
    }

    /// `delete`: removes the records matching ids and filters (at most `limit`, oldest
    /// first); returns their ids.
    pub(super) fn delete_records(&self, collection: Uuid, req: &DeleteRequest) -> Result<Vec<String>> {
        if let Some(ids) = &req.ids {
            if ids.iter().any(String::is_empty) {
                return Err(Error::invalid("Empty ID, ID must have at least one character"));
            }
        }
        if req.limit.is_some() && req.r#where.is_none() && req.where_document.is_none() {
            return Err(Error::invalid(
                "limit can only be specified when a where or where_document clause is provided",
            ));
        }
        if req.ids.is_none() && req.r#where.is_none() && req.where_document.is_none() {
            return Ok(Vec::new());
        }
        let st = self.state(collection);
        let _w = st.write.lock();
        let row = self.collection_row(collection)?;
        Self::check_filterable(&row, req.r#where.as_ref(), req.where_document.as_ref())?;
        let mut g = st.index.write(); // held from before the commit (see write_rows)
        let mut sp = st.sparse.write(); // likewise
                                        // The filter runs on a read connection: a slow one does not hold up other collections'
                                        // writers. This collection's rows cannot change before the commit below (its writer
                                        // lock is held).
        let mut matched = Self::matching(
            &*self.reader()?,
            row.cid,
            req.ids.as_deref(),
            req.r#where.as_ref(),
            req.where_document.as_ref(),
            req.dialect,
        )?;
        if let Some(limit) = req.limit {
            matched.truncate(limit as usize); // `matching` is in insertion order: oldest go first
        }
        if matched.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.inner.conn.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).context("starting delete")?;
        let rids: Vec<i64> = matched.iter().map(|m| m.0).collect();
        delete_rows(&tx, &rids)?;
        tx.execute(
            "UPDATE collections SET log_position = log_position + 1, total_ops = total_ops + ?2 WHERE cid = ?1",
            params![row.cid, matched.len() as i64],
        )
        .context("updating collection")?;
        budget::check_before_commit()?;
        budget::shielded(|| tx.commit()).context("committing delete")?;
        drop(conn);
        let before = (row.cid, row.coll.log_position as i64, row.generation);
        let after = (row.cid, row.coll.log_position as i64 + 1, row.generation);
        let deleted: Vec<&str> = matched.iter().map(|m| m.1.as_str()).collect();
        sparse::apply_delete(&mut sp, before, after, &deleted);
        drop(sp);
        let filter = g.filter.get_mut();
        if filter.as_mut().is_some_and(|f| !f.apply_delete(before, after, matched.iter().map(|m| m.2 as u32))) {
            *filter = None;
        }
        if let Some(index) = g.index.as_mut() {
            for (_, _, slot) in &matched {
                if let Err(e) = index.remove(*slot as u32) {
                    tracing::warn!(error = %e, "index out of step on delete; it will be reloaded");
                    if self.inner.root.is_some() {
                        *g = IndexState::default();
                    }
                    break;
                }
            }
        }
        drop(g);
        self.schedule_version_step(collection, &st);
        self.maybe_auto_compact(&st, &row);
        Ok(matched.into_iter().map(|m| m.1).collect())
    }
}

/// The dimension of a batch, checked against the collection's (and, unless checked
/// already, within the batch).
fn batch_dimension(row: &CollRow, rows: &[WriteRow], embeddings: Embeddings) -> Result<Option<usize>> {
    match embeddings {
        Embeddings::Checked { dim: Some(d) } if row.coll.dimension.is_some_and(|c| c != d) => {
            Err(Error::invalid(format!(
                "Embedding dimension {d} does not match collection dimensionality {}",
                row.coll.dimension.unwrap_or_default()
            )))
        }
        Embeddings::Checked { dim } => Ok(dim.or(row.coll.dimension)),
        Embeddings::Unchecked => {
            validate::embeddings(rows.iter().filter_map(|r| r.embedding.as_deref()), row.coll.dimension)
        }
    }
}

/// The stored records of collection `cid` with the given ids.
/// Adds the metadata keys the collection's schema does not list yet (Chroma's schema
/// discovery), in the write's transaction: a key is in the schema once a record with it is.
fn discover_schema_keys(tx: &Transaction, row: &CollRow, records: &[PlannedRecord]) -> Result<()> {
    if let Some(c) = row.coll.config.with_discovered_keys(records.iter().filter_map(|r| r.metadata.as_ref())) {
        let text = serde_json::to_string(&c).map_err(json_error)?;
        tx.execute("UPDATE collections SET config = ?2 WHERE cid = ?1", params![row.cid, text])
            .context("updating the collection schema")?;
    }
    Ok(())
}

fn read_existing(tx: &Transaction, cid: i64, ids: &[String]) -> Result<HashMap<String, StoredRecord>> {
    let ids_json = serde_json::to_string(ids).map_err(json_error)?;
    let mut stmt = tx
        .prepare_cached(
            "SELECT rid, id, slot, document, uri, metadata FROM records
             WHERE cid = ?1 AND id IN (SELECT value FROM json_each(?2))",
        )
        .context("reading records")?;
    let rows = stmt
        .query_map(params![cid, ids_json], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })
        .context("reading records")?;
    let mut out = HashMap::new();
    for row in rows {
        let (rid, id, slot, document, uri, md) = row.context("reading records")?;
        out.insert(id, StoredRecord { rid, slot, document, uri, metadata: parse_metadata_text(md)? });
    }
    Ok(out)
}

/// Inserts and updates the planned records, their full-text rows and their metadata rows.
fn apply_records(tx: &Transaction, cid: i64, seq: i64, records: &[PlannedRecord]) -> Result<()> {
    let mut ins = tx
        .prepare_cached(
            "INSERT INTO records (cid, id, slot, seq, document, uri, metadata) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .context("inserting records")?;
    let mut upd = tx
        .prepare_cached("UPDATE records SET slot = ?2, seq = ?3, document = ?4, uri = ?5, metadata = ?6 WHERE rid = ?1")
        .context("updating records")?;
    let mut fts_ins = tx
        .prepare_cached("INSERT INTO documents_fts (rowid, document) VALUES (?1, ?2)")
        .context("indexing documents")?;
    let mut fts_del = tx.prepare_cached("DELETE FROM documents_fts WHERE rowid = ?1").context("indexing documents")?;
    let mut md_del = tx.prepare_cached("DELETE FROM metadata_index WHERE rid = ?1").context("indexing metadata")?;
    let mut md_rows = MetadataRows::default();
    for p in records {
        let rid = match p.target {
            Target::Insert => {
                ins.execute(params![cid, p.id, p.slot, seq, p.document, p.uri, p.metadata_text])
                    .context("inserting records")?;
                tx.last_insert_rowid()
            }
            Target::Update { rid } => {
                upd.execute(params![rid, p.slot, seq, p.document, p.uri, p.metadata_text])
                    .context("updating records")?;
                if p.unindex_old_document {
                    fts_del.execute([rid]).context("indexing documents")?;
                }
                rid
            }
        };
        if let Some(doc) = p.document.as_ref().filter(|_| p.index_document) {
            fts_ins.execute(params![rid, doc]).context("indexing documents")?;
        }
        if p.metadata_changed {
            if p.target != Target::Insert {
                md_del.execute([rid]).context("indexing metadata")?;
            }
            md_rows.push(rid, p.metadata.as_ref());
        }
    }
    md_rows.insert(tx, cid)
}

/// Deletes records with their full-text rows (metadata rows go by foreign key cascade).
fn delete_rows(tx: &Transaction, rids: &[i64]) -> Result<()> {
    let mut fts = tx.prepare_cached("DELETE FROM documents_fts WHERE rowid = ?1").context("deleting documents")?;
    let mut rec = tx.prepare_cached("DELETE FROM records WHERE rid = ?1").context("deleting records")?;
    for rid in rids {
        fts.execute([rid]).context("deleting documents")?;
        rec.execute([rid]).context("deleting records")?;
    }
    Ok(())
}

/// `metadata_index` rows of one write, inserted many per statement (a bulk load writes
/// one row per metadata value: per-statement overhead dominated).
#[derive(Default)]
struct MetadataRows<'a> {
    rows: Vec<MetadataRow<'a>>,
}

/// (rid, key, `in_array`, str, int, float, bool) of one `metadata_index` row.
type MetadataRow<'a> = (i64, &'a str, i64, Option<&'a str>, Option<i64>, Option<f64>, Option<i64>);

impl<'a> MetadataRows<'a> {
    /// Rows per INSERT statement (8 parameters each, far below `SQLite`'s limit of 32766).
    const PER_STATEMENT: usize = 64;

    fn push(&mut self, rid: i64, md: Option<&'a Metadata>) {
        let Some(md) = md else { return };
        for (k, v) in md {
            let k = k.as_str();
            match v {
                MetadataValue::Str(s) => self.rows.push((rid, k, 0, Some(s), None, None, None)),
                MetadataValue::Int(i) => self.rows.push((rid, k, 0, None, Some(*i), None, None)),
                MetadataValue::Float(f) => self.rows.push((rid, k, 0, None, None, Some(*f), None)),
                MetadataValue::Bool(b) => self.rows.push((rid, k, 0, None, None, None, Some(i64::from(*b)))),
                MetadataValue::StrArray(a) => {
                    self.rows.extend(a.iter().map(|s| (rid, k, 1, Some(s.as_str()), None, None, None)));
                }
                MetadataValue::IntArray(a) => {
                    self.rows.extend(a.iter().map(|i| (rid, k, 1, None, Some(*i), None, None)));
                }
                MetadataValue::FloatArray(a) => {
                    self.rows.extend(a.iter().map(|f| (rid, k, 1, None, None, Some(*f), None)));
                }
                MetadataValue::BoolArray(a) => {
                    self.rows.extend(a.iter().map(|b| (rid, k, 1, None, None, None, Some(i64::from(*b)))));
                }
                // Not filterable: a sparse vector lives in the record's metadata text and the
                // sparse index built from it (`engine/sparse.rs`), never in `metadata_index`.
                MetadataValue::Sparse(_) => {}
            }
        }
    }

    fn insert(&self, tx: &Transaction, cid: i64) -> Result<()> {
        for chunk in self.rows.chunks(Self::PER_STATEMENT) {
            let mut text = String::from(
                "INSERT INTO metadata_index (rid, cid, key, in_array, str_value, int_value, float_value, bool_value) VALUES ",
            );
            for i in 0..chunk.len() {
                text.push_str(if i == 0 { "(?,?,?,?,?,?,?,?)" } else { ",(?,?,?,?,?,?,?,?)" });
            }
            let mut stmt = tx.prepare_cached(&text).context("indexing metadata")?;
            let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(chunk.len() * 8);
            for (rid, key, arr, sv, iv, fv, bv) in chunk {
                params.extend_from_slice(&[rid as &dyn rusqlite::ToSql, &cid, key, arr, sv, iv, fv, bv]);
            }
            stmt.execute(params.as_slice()).context("indexing metadata")?;
        }
        Ok(())
    }
}
