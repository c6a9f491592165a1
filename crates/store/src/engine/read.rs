//! The read path: get, query and count, and the filter step that `delete` shares (ids and
//! `where` / `where_document` compiled to SQL, see [`crate::sqlfilter`]).
//!
//! Rows come from `SQLite`, vectors from the in-memory index (or, for a `get` of a collection
//! whose index is not loaded, straight from the vector file). Both are read under the
//! collection's index lock, so slots and vectors belong to one state.
//!
//! Persistent stores read on connections of their own (see `pool.rs`), so reads never wait
//! for each other nor for a writer; every read checks the request's [budget](crate::budget)
//! (its deadline and cancel flag, and the size of its answer).

use super::filter_index::{self, FilterIndex};
use super::indexer::index_err;
use super::{parse_metadata_text, CollRow, Engine, IndexState};
use crate::error::{json_error, ResultExt};
use crate::{budget, folder, sqlfilter};
use chroma_index::{Filter, Neighbor, VectorIndex};
use chroma_types::validate::page_bound;
use chroma_types::{
    validate, Dialect, Error, GetRequest, GetResult, Include, Metadata, QueryRequest, QueryResult, Result, Where,
    WhereDocument,
};
use rusqlite::{Connection, OptionalExtension};
use std::collections::HashMap;
use uuid::Uuid;

/// One record as read back.
struct FetchedRecord {
    id: String,
    slot: i64,
    document: Option<String>,
    uri: Option<String>,
    metadata: Option<Metadata>,
    embedding: Option<Vec<f32>>,
}

/// `(rid, id, slot)` of a record that matched a filter.
pub(super) type Matched = (i64, String, i64);

impl Engine {
    /// `get`: records by ids and filters, paged.
    pub(super) fn get_records(&self, collection: Uuid, req: &GetRequest) -> Result<GetResult> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        Self::check_filterable(&row, req.r#where.as_ref(), req.where_document.as_ref())?;
        let (q, params) = get_sql(&row, req)?;
        // Embeddings come from the in-memory index when it is loaded, else straight from the
        // vector file (reading a collection back, as `chroma-rs migrate` verifies, must not
        // build a graph nor map the whole file). The index lock is held either way: slots and
        // vectors belong to one generation.
        let g = req.include.contains(&Include::Embeddings).then(|| st.index.read());
        let loaded = g.as_ref().is_some_and(|g| g.loaded);
        let mut recs = self.fetch_rows(&row, g.as_ref().and_then(|g| g.index.as_ref()), &q, params, &req.include)?;
        if g.is_some() && !loaded {
            self.embeddings_from_file(collection, &mut recs)?;
        }
        drop(g);
        Ok(get_result(recs, &req.include))
    }

    /// Fills in embeddings from the vector file (the index is not loaded).
    fn embeddings_from_file(&self, collection: Uuid, recs: &mut [FetchedRecord]) -> Result<()> {
        let row = self.collection_row(collection)?;
        if let (Some(dim), Some(dir)) = (row.coll.dimension, self.coll_dir(&collection)) {
            let slots: Vec<u64> = recs.iter().map(|r| r.slot as u64).collect();
            let path = folder::vectors_path(&dir, row.generation);
            for (r, v) in recs.iter_mut().zip(folder::read_slots(&path, dim, row.slot_count, &slots)?) {
                r.embedding = Some(v);
            }
        }
        Ok(())
    }

    /// `query`: the nearest neighbours of each query embedding among the records that pass
    /// the filters.
    pub(super) fn query_records(&self, collection: Uuid, req: &QueryRequest) -> Result<QueryResult> {
        self.query_records_ef(collection, req, None)
    }

    /// `query` with the graph search's `ef` raised to at least `ef_floor` (the collection's
    /// `ef_search` otherwise): the Search API's deep `Knn` lists (see `search.rs`).
    pub(super) fn query_records_ef(
        &self,
        collection: Uuid,
        req: &QueryRequest,
        ef_floor: Option<usize>,
    ) -> Result<QueryResult> {
        let st = self.state(collection);
        let row = self.collection_row(collection)?;
        Self::check_filterable(&row, req.r#where.as_ref(), req.where_document.as_ref())?;
        if req.query_embeddings.is_empty() {
            return Err(Error::invalid("Expected query_embeddings to be a non-empty list"));
        }
        if req.n_results == 0 {
            // As Chroma's clients and server: an empty answer to n_results 0 hides a caller bug.
            return Err(Error::invalid("Expected requested number of results to be a positive integer, got 0"));
        }
        budget::ResultMeter::new().check_query(req.query_embeddings.len(), req.n_results)?;
        if let Some(ids) = &req.ids {
            Self::require_ids(&*self.reader()?, row.cid, ids)?;
        }
        validate::embeddings(req.query_embeddings.iter().map(Vec::as_slice), row.coll.dimension)?;
        let searching = row.coll.dimension.is_some() && req.n_results > 0;
        if searching {
            self.ensure_index(&st, &row)?;
        }
        // One index state for filter, search and fetch: compaction renumbers slots, and writes
        // hold the write lock from their commit until the index has them.
        let g = st.index.read();
        let hits = if searching {
            self.search(&row, &g, req, ef_floor)?
        } else {
            vec![Vec::new(); req.query_embeddings.len()]
        };
        let by_slot = self.fetch_hits(&row, g.index.as_ref(), &hits, &req.include)?;
        drop(g);
        check_answer_size(&row, &hits, &by_slot, &req.include)?;
        Ok(query_result(&hits, &by_slot, &req.include))
    }

    /// Searches the index for each query embedding, among the records passing the filters.
    fn search(
        &self,
        row: &CollRow,
        g: &IndexState,
        req: &QueryRequest,
        ef_floor: Option<usize>,
    ) -> Result<Vec<Vec<Neighbor>>> {
        let mut hits: Vec<Vec<Neighbor>> = vec![Vec::new(); req.query_embeddings.len()];
        let allowed = self.allowed_slots(
            row,
            g,
            req.ids.as_deref(),
            req.r#where.as_ref(),
            req.where_document.as_ref(),
            req.dialect,
        )?;
        if allowed.as_ref().is_none_or(|a| !a.is_empty()) {
            if let Some(index) = g.index.as_ref() {
                let filter = match &allowed {
                    Some(a) => Filter::Allowed(a),
                    None => Filter::All,
                };
                for (q, h) in req.query_embeddings.iter().zip(hits.iter_mut()) {
                    budget::check()?;
                    let ef = ef_floor.map(|f| f.max(index.params().ef_search));
                    *h = index.search(q, req.n_results, ef, filter).map_err(index_err)?;
                }
            }
        }
        Ok(hits)
    }

    /// Reads the records of every hit, in one statement.
    fn fetch_hits(
        &self,
        row: &CollRow,
        index: Option<&VectorIndex>,
        hits: &[Vec<Neighbor>],
        include: &[Include],
    ) -> Result<HashMap<i64, FetchedRecord>> {
        let mut slots: Vec<i64> = hits.iter().flatten().map(|n| i64::from(n.slot)).collect();
        slots.sort_unstable();
        slots.dedup();
        let mut by_slot: HashMap<i64, FetchedRecord> = HashMap::new();
        if !slots.is_empty() {
            let q = "SELECT r.id, r.slot, r.document, r.uri, r.metadata FROM records r
                     WHERE r.cid = ? AND r.slot IN (SELECT value FROM json_each(?))";
            let params: Vec<rusqlite::types::Value> =
                vec![row.cid.into(), serde_json::to_string(&slots).map_err(json_error)?.into()];
            for r in self.fetch_rows(row, index, q, params, include)? {
                by_slot.insert(r.slot, r);
            }
        }
        Ok(by_slot)
    }

    /// `count`: records in a collection.
    pub(super) fn count_records(&self, collection: Uuid) -> Result<usize> {
        let row = self.collection_row(collection)?;
        let conn = self.reader()?;
        conn.query_row("SELECT count(*) FROM records WHERE cid = ?1", [row.cid], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .context("counting records")
    }

    /// The sorted slots of the records passing ids and filters (`None`: no filter was given),
    /// for a search over `g`'s index. `where` and `where_document` are answered by the
    /// collection's [`FilterIndex`] (built here on first use, rebuilt when `SQLite` has moved
    /// past it); a request with `ids` goes through `SQLite` ([`Self::matching`]).
    pub(super) fn allowed_slots(
        &self,
        row: &CollRow,
        g: &IndexState,
        ids: Option<&[String]>,
        w: Option<&Where>,
        d: Option<&WhereDocument>,
        dialect: Dialect,
    ) -> Result<Option<Vec<u32>>> {
        if ids.is_none() && w.is_none() && d.is_none() {
            return Ok(None);
        }
        let conn = self.reader()?;
        if ids.is_some() {
            let m = Self::matching(&conn, row.cid, ids, w, d, dialect)?;
            let mut slots: Vec<u32> = m.into_iter().map(|x| x.2 as u32).collect();
            slots.sort_unstable();
            return Ok(Some(slots));
        }
        let (tag, _) = filter_index::current_tag(&conn, row.cid)?;
        {
            let f = g.filter.read();
            if let Some(fi) = f.as_ref().filter(|fi| fi.tag() == tag) {
                return Ok(Some(fi.evaluate(&conn, w, d, dialect)?.to_slots()));
            }
        }
        let mut f = g.filter.write();
        // Another query may have rebuilt it meanwhile.
        if f.as_ref().is_none_or(|fi| fi.tag() != tag) {
            let built = FilterIndex::build(&conn, row.cid)?;
            tracing::debug!(collection = %row.coll.name, bytes = built.heap_bytes(), "built the filter index");
            *f = Some(built);
        }
        let f = parking_lot::RwLockWriteGuard::downgrade(f);
        match f.as_ref() {
            Some(fi) => Ok(Some(fi.evaluate(&conn, w, d, dialect)?.to_slots())),
            None => Err(Error::internal("the filter index vanished while held")),
        }
    }

    /// Heap bytes of a collection's filter index (`None`: not built; it is built by the first
    /// filtered query). For benchmarks and memory reports.
    pub fn filter_index_bytes(&self, collection: Uuid) -> Option<usize> {
        let st = self.state(collection);
        let g = st.index.read();
        let f = g.filter.read();
        f.as_ref().map(FilterIndex::heap_bytes)
    }

    /// Slots (and rids, ids) of records matching ids and filters, in insertion order.
    pub(super) fn matching(
        conn: &Connection,
        cid: i64,
        ids: Option<&[String]>,
        w: Option<&Where>,
        d: Option<&WhereDocument>,
        dialect: Dialect,
    ) -> Result<Vec<Matched>> {
        let f = sqlfilter::compile(cid, w, d, dialect);
        let mut q = String::from("SELECT r.rid, r.id, r.slot FROM records r WHERE r.cid = ? ");
        let mut params: Vec<rusqlite::types::Value> = vec![cid.into()];
        if let Some(ids) = ids {
            q.push_str("AND r.id IN (SELECT value FROM json_each(?)) ");
            params.push(serde_json::to_string(ids).map_err(json_error)?.into());
        }
        q.push_str("AND ");
        q.push_str(&f.sql);
        params.extend(f.params);
        q.push_str(" ORDER BY r.rid");
        let mut stmt = conn.prepare(&q).context("filtering records")?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .context("filtering records")?;
        rows.collect::<std::result::Result<Vec<_>, _>>().context("filtering records")
    }

    /// A 1.x schema can disable a key's inverted index; Chroma then refuses filters on it.
    /// A schema can also disable the full-text index of `#document`: then every document
    /// filter (`where_document`, or `#document` inside `where`) is refused.
    pub(super) fn check_filterable(row: &CollRow, w: Option<&Where>, d: Option<&WhereDocument>) -> Result<()> {
        fn has_document(w: &Where) -> bool {
            match w {
                Where::And(v) | Where::Or(v) => v.iter().any(has_document),
                Where::Document(_) => true,
                _ => false,
            }
        }
        if row.coll.config.fts_disabled && (d.is_some() || w.is_some_and(has_document)) {
            return Err(Error::invalid("Cannot filter using full-text search because FTS indexing is disabled"));
        }
        let Some(w) = w else { return Ok(()) };
        match row.coll.config.unfilterable_key(w.keys().into_iter()) {
            Some(k) => Err(Error::invalid(format!(
                "Cannot filter using metadata key '{k}': its inverted index is disabled in the collection schema"
            ))),
            None => Ok(()),
        }
    }

    /// Query's `ids` must all exist (as in Chroma 1.x, whose query fails with "Error finding
    /// id"): a silently shorter answer would hide a caller's stale id list.
    fn require_ids(conn: &Connection, cid: i64, ids: &[String]) -> Result<()> {
        let mut stmt = conn
            .prepare_cached("SELECT j.value FROM json_each(?2) j WHERE NOT EXISTS (SELECT 1 FROM records r WHERE r.cid = ?1 AND r.id = j.value) LIMIT 1")
            .context("checking query ids")?;
        let list = serde_json::to_string(ids).map_err(json_error)?;
        let missing: Option<String> =
            stmt.query_row(rusqlite::params![cid, list], |r| r.get(0)).optional().context("checking query ids")?;
        match missing {
            Some(id) => Err(Error::invalid(format!("Error finding id {id}: it is not in the collection"))),
            None => Ok(()),
        }
    }

    /// Reads records; embeddings come from `index`, which the caller holds locked across
    /// this call so that slots and vectors belong to one state.
    fn fetch_rows(
        &self,
        row: &CollRow,
        index: Option<&VectorIndex>,
        sql_text: &str,
        params: Vec<rusqlite::types::Value>,
        include: &[Include],
    ) -> Result<Vec<FetchedRecord>> {
        let want_docs = include.contains(&Include::Documents);
        let want_uris = include.contains(&Include::Uris);
        let want_md = include.contains(&Include::Metadatas);
        let embedding_bytes =
            if include.contains(&Include::Embeddings) { row.coll.dimension.unwrap_or(0) * 4 } else { 0 };
        let mut meter = budget::ResultMeter::new();
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(sql_text).context("reading records")?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(params), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    if want_docs { r.get::<_, Option<String>>(2)? } else { None },
                    if want_uris { r.get::<_, Option<String>>(3)? } else { None },
                    if want_md { r.get::<_, Option<String>>(4)? } else { None },
                ))
            })
            .context("reading records")?;
        let mut out = Vec::new();
        for r in rows {
            let (id, slot, document, uri, md) = r.context("reading records")?;
            let text_len = |t: &Option<String>| t.as_ref().map_or(0, String::len);
            meter.add(id.len() + text_len(&document) + text_len(&uri) + text_len(&md) + embedding_bytes)?;
            out.push(FetchedRecord { id, slot, document, uri, metadata: parse_metadata_text(md)?, embedding: None });
        }
        drop(stmt);
        drop(conn);
        if include.contains(&Include::Embeddings) {
            for r in &mut out {
                r.embedding = index.and_then(|i| i.vector(r.slot as u32)).map(<[f32]>::to_vec);
            }
        }
        Ok(out)
    }
}

/// The statement and parameters of a `get`.
fn get_sql(row: &CollRow, req: &GetRequest) -> Result<(String, Vec<rusqlite::types::Value>)> {
    let f = sqlfilter::compile(row.cid, req.r#where.as_ref(), req.where_document.as_ref(), req.dialect);
    let mut q = String::from("SELECT r.id, r.slot, r.document, r.uri, r.metadata FROM records r WHERE r.cid = ? ");
    let mut params: Vec<rusqlite::types::Value> = vec![row.cid.into()];
    if let Some(ids) = &req.ids {
        q.push_str("AND r.id IN (SELECT value FROM json_each(?)) ");
        params.push(serde_json::to_string(ids).map_err(json_error)?.into());
    }
    q.push_str("AND ");
    q.push_str(&f.sql);
    params.extend(f.params);
    q.push_str(if req.dialect.get_ordered_by_id { " ORDER BY r.id" } else { " ORDER BY r.rid" });
    q.push_str(" LIMIT ? OFFSET ?");
    params.push(req.limit.map_or(-1, page_bound).into());
    params.push(page_bound(req.offset.unwrap_or(0)).into());
    Ok((q, params))
}

/// Moves each value of the records into its column (no copies: a page of 10k 384-d vectors
/// is 15 MB).
fn get_result(recs: Vec<FetchedRecord>, include: &[Include]) -> GetResult {
    let inc = |i: Include| include.contains(&i);
    let n = recs.len();
    let mut out = GetResult {
        include: include.to_vec(),
        ids: Vec::with_capacity(n),
        embeddings: inc(Include::Embeddings).then(|| Vec::with_capacity(n)),
        documents: inc(Include::Documents).then(|| Vec::with_capacity(n)),
        uris: inc(Include::Uris).then(|| Vec::with_capacity(n)),
        metadatas: inc(Include::Metadatas).then(|| Vec::with_capacity(n)),
    };
    for r in recs {
        out.ids.push(r.id);
        if let Some(e) = out.embeddings.as_mut() {
            e.push(r.embedding.unwrap_or_default());
        }
        if let Some(d) = out.documents.as_mut() {
            d.push(r.document);
        }
        if let Some(u) = out.uris.as_mut() {
            u.push(r.uri);
        }
        if let Some(m) = out.metadatas.as_mut() {
            m.push(r.metadata);
        }
    }
    out
}

/// Refuses a query answer (records repeat across query embeddings) past the size limit.
fn check_answer_size(
    row: &CollRow,
    hits: &[Vec<Neighbor>],
    by_slot: &HashMap<i64, FetchedRecord>,
    include: &[Include],
) -> Result<()> {
    let embedding_bytes = if include.contains(&Include::Embeddings) { row.coll.dimension.unwrap_or(0) * 4 } else { 0 };
    let mut meter = budget::ResultMeter::new();
    for n in hits.iter().flatten() {
        if let Some(r) = by_slot.get(&i64::from(n.slot)) {
            let text_len = |t: &Option<String>| t.as_ref().map_or(0, String::len);
            let md = r.metadata.as_ref().map_or(0, |m| m.len() * 32);
            meter.add(r.id.len() + text_len(&r.document) + text_len(&r.uri) + md + embedding_bytes + 4)?;
        }
    }
    Ok(())
}

/// One result list per query, with the columns asked for.
fn query_result(hits: &[Vec<Neighbor>], by_slot: &HashMap<i64, FetchedRecord>, include: &[Include]) -> QueryResult {
    let inc = |i: Include| include.contains(&i);
    let nq = hits.len();
    let mut ids = Vec::with_capacity(nq);
    let mut embs = Vec::new();
    let mut docs = Vec::new();
    let mut uris = Vec::new();
    let mut mds = Vec::new();
    let mut dists = Vec::new();
    for h in hits {
        // A slot can vanish between search and fetch only through a concurrent delete: skip it.
        let recs: Vec<(&FetchedRecord, f32)> =
            h.iter().filter_map(|n| by_slot.get(&i64::from(n.slot)).map(|r| (r, n.distance))).collect();
        ids.push(recs.iter().map(|(r, _)| r.id.clone()).collect());
        embs.push(recs.iter().map(|(r, _)| r.embedding.clone().unwrap_or_default()).collect());
        docs.push(recs.iter().map(|(r, _)| r.document.clone()).collect());
        uris.push(recs.iter().map(|(r, _)| r.uri.clone()).collect());
        mds.push(recs.iter().map(|(r, _)| r.metadata.clone()).collect());
        dists.push(recs.iter().map(|(_, d)| *d).collect());
    }
    QueryResult {
        include: include.to_vec(),
        ids,
        embeddings: inc(Include::Embeddings).then_some(embs),
        documents: inc(Include::Documents).then_some(docs),
        uris: inc(Include::Uris).then_some(uris),
        metadatas: inc(Include::Metadatas).then_some(mds),
        distances: inc(Include::Distances).then_some(dists),
    }
}
