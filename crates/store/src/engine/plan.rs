//! The pure half of the write path: given the rows of an add, upsert or update and the stored
//! records with the same ids, decide which records are inserted, updated or skipped, which
//! vector slots they get, and what their document, URI and metadata become. No `SQLite`, no
//! files: `write.rs` reads the stored records, calls [`plan`], then carries the plan out.

use super::{metadata_text, StoredRecord};
use chroma_types::metadata::{merge_metadata, UpdateMetadata};
use chroma_types::{AddRequest, Error, Metadata, Result, UpdateRequest};
use std::collections::HashMap;

/// Which API call a write comes from: decides what happens to new and existing ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum WriteMode {
    /// New ids are inserted, existing ones skipped.
    Add,
    /// New ids are inserted, existing ones updated.
    Upsert,
    /// Existing ids are updated, new ones skipped.
    Update,
}

/// The metadata a row brings.
#[derive(Clone, Debug)]
pub(super) enum RowMetadata {
    /// From a request: merged key by key into the stored metadata (`None` keeps it).
    Update(Option<UpdateMetadata>),
    /// Computed off the write path by `prepare_bulk`: a new record's metadata and its JSON
    /// text.
    Prepared { metadata: Option<Metadata>, text: Option<String> },
}

/// One record of a write, normalised from the request columns. An absent column and a null
/// entry mean the same here: "nothing given" (a new record gets none, an existing one keeps
/// what it has).
#[derive(Clone, Debug)]
pub(super) struct WriteRow {
    pub(super) id: String,
    pub(super) embedding: Option<Vec<f32>>,
    pub(super) document: Option<String>,
    pub(super) uri: Option<String>,
    pub(super) metadata: RowMetadata,
}

/// Entry `i` of an optional request column, for each of `n` rows.
fn column<T>(col: Option<Vec<Option<T>>>, n: usize) -> Vec<Option<T>> {
    match col {
        Some(v) => v,
        None => (0..n).map(|_| None).collect(),
    }
}

/// The rows of an add or upsert request.
pub(super) fn rows_from_add(req: AddRequest) -> Vec<WriteRow> {
    let n = req.ids.len();
    let embeddings = req.embeddings.into_iter().map(Some);
    rows_from_columns(req.ids, embeddings, req.documents, req.uris, req.metadatas, n)
}

/// The rows of an update request.
pub(super) fn rows_from_update(req: UpdateRequest) -> Vec<WriteRow> {
    let n = req.ids.len();
    let embeddings = column(req.embeddings, n);
    rows_from_columns(req.ids, embeddings, req.documents, req.uris, req.metadatas, n)
}

fn rows_from_columns(
    ids: Vec<String>,
    embeddings: impl IntoIterator<Item = Option<Vec<f32>>>,
    documents: Option<Vec<Option<String>>>,
    uris: Option<Vec<Option<String>>>,
    metadatas: Option<Vec<Option<UpdateMetadata>>>,
    n: usize,
) -> Vec<WriteRow> {
    let columns = column(documents, n).into_iter().zip(column(uris, n)).zip(column(metadatas, n));
    ids.into_iter()
        .zip(embeddings)
        .zip(columns)
        .map(|((id, embedding), ((document, uri), metadata))| WriteRow {
            id,
            embedding,
            document,
            uri,
            metadata: RowMetadata::Update(metadata),
        })
        .collect()
}

/// Whether a planned record is new or replaces a stored one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    /// A new record.
    Insert,
    /// The stored record with this `rid`.
    Update { rid: i64 },
}

/// One record as it will be stored.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct PlannedRecord {
    pub(super) target: Target,
    pub(super) id: String,
    pub(super) slot: i64,
    pub(super) document: Option<String>,
    pub(super) uri: Option<String>,
    pub(super) metadata: Option<Metadata>,
    /// The stored form of `metadata`.
    pub(super) metadata_text: Option<String>,
    /// The full-text index holds a document of this record that is replaced: remove it.
    pub(super) unindex_old_document: bool,
    /// Add `document` to the full-text index (a new record's, or a changed one).
    pub(super) index_document: bool,
    /// Rewrite the record's `metadata_index` rows (always true for an insert).
    pub(super) metadata_changed: bool,
}

/// What a write does, decided before anything is written.
#[derive(Debug, Default, PartialEq)]
pub(super) struct WritePlan {
    /// Records inserted or updated, in request order (skipped rows are left out).
    pub(super) records: Vec<PlannedRecord>,
    /// The vectors of the new slots, slot after slot, from the old slot count on.
    pub(super) new_vectors: Vec<f32>,
    /// Slots whose records got a new vector: dead once the write commits.
    pub(super) removed_slots: Vec<u32>,
    /// The collection's slot count after the write.
    pub(super) slot_count: i64,
}

impl WritePlan {
    /// True when every row was skipped: nothing to write.
    pub(super) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// Plans a write of `rows` in `mode` to a collection with `slot_count` slots whose records
/// with the rows' ids are `existing`. Fails (planning nothing) if a new record has no
/// embedding.
pub(super) fn plan(
    mode: WriteMode,
    rows: Vec<WriteRow>,
    existing: &HashMap<String, StoredRecord>,
    slot_count: i64,
) -> Result<WritePlan> {
    let mut plan = WritePlan { slot_count, ..WritePlan::default() };
    for row in rows {
        match (existing.get(&row.id), mode) {
            (None, WriteMode::Update) => tracing::debug!(id = %row.id, "update of missing id ignored"),
            (None, _) => {
                let record = plan.insert(row)?;
                plan.records.push(record);
            }
            (Some(_), WriteMode::Add) => tracing::debug!(id = %row.id, "add of existing id ignored"),
            (Some(old), _) => {
                let record = plan.update(row, old);
                plan.records.push(record);
            }
        }
    }
    Ok(plan)
}

impl WritePlan {
    /// Gives the next slot to `embedding`.
    fn take_slot(&mut self, embedding: &[f32]) -> i64 {
        self.new_vectors.extend_from_slice(embedding);
        let slot = self.slot_count;
        self.slot_count += 1;
        slot
    }

    fn insert(&mut self, row: WriteRow) -> Result<PlannedRecord> {
        let Some(embedding) = row.embedding else {
            return Err(Error::invalid(format!(
                "Record {} has no embedding; embeddings are required to add records",
                row.id
            )));
        };
        let slot = self.take_slot(&embedding);
        let (metadata, metadata_text) = match row.metadata {
            RowMetadata::Prepared { metadata, text } => (metadata, text),
            RowMetadata::Update(update) => {
                let md = update.and_then(|m| merge_metadata(None, &m));
                let text = metadata_text(md.as_ref());
                (md, text)
            }
        };
        Ok(PlannedRecord {
            target: Target::Insert,
            id: row.id,
            slot,
            index_document: row.document.is_some(),
            document: row.document,
            uri: row.uri,
            metadata,
            metadata_text,
            unindex_old_document: false,
            metadata_changed: true,
        })
    }

    fn update(&mut self, row: WriteRow, old: &StoredRecord) -> PlannedRecord {
        let slot = match &row.embedding {
            Some(embedding) => {
                self.removed_slots.push(old.slot as u32);
                self.take_slot(embedding)
            }
            None => old.slot,
        };
        let (metadata, metadata_changed) = match row.metadata {
            RowMetadata::Update(Some(update)) => (merge_metadata(old.metadata.clone(), &update), true),
            // No metadata given (or an explicit null): the stored one stays.
            RowMetadata::Update(None) | RowMetadata::Prepared { .. } => (old.metadata.clone(), false),
        };
        let document = row.document.or_else(|| old.document.clone());
        let uri = row.uri.or_else(|| old.uri.clone());
        let document_changed = document != old.document;
        PlannedRecord {
            target: Target::Update { rid: old.rid },
            id: row.id,
            slot,
            unindex_old_document: document_changed && old.document.is_some(),
            index_document: document_changed && document.is_some(),
            document,
            uri,
            metadata_text: metadata_text(metadata.as_ref()),
            metadata,
            metadata_changed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chroma_types::MetadataValue;

    fn row(id: &str, embedding: Option<Vec<f32>>) -> WriteRow {
        WriteRow { id: id.into(), embedding, document: None, uri: None, metadata: RowMetadata::Update(None) }
    }

    fn stored(rid: i64, slot: i64, document: Option<&str>, metadata: &[(&str, i64)]) -> StoredRecord {
        let md: Metadata = metadata.iter().map(|(k, v)| ((*k).to_string(), MetadataValue::Int(*v))).collect();
        StoredRecord {
            rid,
            slot,
            document: document.map(str::to_string),
            uri: Some("u://old".into()),
            metadata: if md.is_empty() { None } else { Some(md) },
        }
    }

    fn update_md(pairs: &[(&str, Option<i64>)]) -> UpdateMetadata {
        pairs.iter().map(|(k, v)| ((*k).to_string(), v.map(MetadataValue::Int))).collect()
    }

    fn existing(records: Vec<(&str, StoredRecord)>) -> HashMap<String, StoredRecord> {
        records.into_iter().map(|(id, r)| (id.to_string(), r)).collect()
    }

    #[test]
    fn add_inserts_new_ids_on_fresh_slots_and_skips_existing_ones() {
        let old = existing(vec![("b", stored(7, 0, Some("old doc"), &[]))]);
        let rows = vec![row("a", Some(vec![1.0, 2.0])), row("b", Some(vec![9.0, 9.0])), row("c", Some(vec![3.0, 4.0]))];
        let p = plan(WriteMode::Add, rows, &old, 5).unwrap();
        let ids: Vec<_> = p.records.iter().map(|r| (r.id.as_str(), r.slot, r.target)).collect();
        assert_eq!(ids, [("a", 5, Target::Insert), ("c", 6, Target::Insert)]);
        assert_eq!(p.new_vectors, [1.0, 2.0, 3.0, 4.0]);
        assert!(p.removed_slots.is_empty());
        assert_eq!(p.slot_count, 7);
    }

    #[test]
    fn a_new_record_needs_an_embedding() {
        let e =
            plan(WriteMode::Upsert, vec![row("a", Some(vec![1.0])), row("x", None)], &HashMap::new(), 0).unwrap_err();
        assert_eq!(e, Error::invalid("Record x has no embedding; embeddings are required to add records"));
    }

    #[test]
    fn update_skips_missing_ids_and_keeps_the_slot_without_a_new_embedding() {
        let old = existing(vec![("a", stored(3, 2, Some("doc"), &[("k", 1)]))]);
        let p = plan(WriteMode::Update, vec![row("missing", Some(vec![1.0])), row("a", None)], &old, 4).unwrap();
        assert_eq!(p.records.len(), 1);
        let r = &p.records[0];
        assert_eq!((r.target, r.slot), (Target::Update { rid: 3 }, 2));
        assert_eq!((r.document.as_deref(), r.uri.as_deref()), (Some("doc"), Some("u://old")));
        assert!(!r.metadata_changed && !r.index_document && !r.unindex_old_document);
        assert_eq!(r.metadata_text.as_deref(), Some(r#"{"k":1}"#));
        assert!(p.new_vectors.is_empty() && p.removed_slots.is_empty());
        assert_eq!(p.slot_count, 4);
    }

    #[test]
    fn a_new_embedding_moves_the_record_to_a_new_slot() {
        let old = existing(vec![("a", stored(3, 1, None, &[])), ("b", stored(4, 0, None, &[]))]);
        let rows = vec![row("b", Some(vec![0.5])), row("a", Some(vec![0.25])), row("n", Some(vec![1.0]))];
        let p = plan(WriteMode::Upsert, rows, &old, 2).unwrap();
        let slots: Vec<_> = p.records.iter().map(|r| (r.id.as_str(), r.slot)).collect();
        assert_eq!(slots, [("b", 2), ("a", 3), ("n", 4)]);
        assert_eq!(p.removed_slots, [0, 1]);
        assert_eq!(p.new_vectors, [0.5, 0.25, 1.0]);
        assert_eq!(p.slot_count, 5);
    }

    #[test]
    fn upsert_merges_metadata_and_replaces_the_document() {
        let old = existing(vec![("a", stored(3, 0, Some("old"), &[("keep", 1), ("drop", 2), ("set", 3)]))]);
        let mut r = row("a", None);
        r.document = Some("new".into());
        r.metadata = RowMetadata::Update(Some(update_md(&[("drop", None), ("set", Some(30)), ("add", Some(4))])));
        let p = plan(WriteMode::Upsert, vec![r], &old, 1).unwrap();
        let r = &p.records[0];
        let keys: Vec<_> = r.metadata.as_ref().unwrap().iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        assert_eq!(
            keys,
            [("add", MetadataValue::Int(4)), ("keep", MetadataValue::Int(1)), ("set", MetadataValue::Int(30))]
        );
        assert!(r.metadata_changed);
        assert_eq!(r.metadata_text.as_deref(), Some(r#"{"add":4,"keep":1,"set":30}"#));
        assert_eq!(r.document.as_deref(), Some("new"));
        assert!(r.unindex_old_document && r.index_document);
    }

    #[test]
    fn removing_every_key_leaves_no_metadata_and_the_same_document_is_not_reindexed() {
        let old = existing(vec![("a", stored(3, 0, Some("same"), &[("k", 1)]))]);
        let mut r = row("a", None);
        r.document = Some("same".into());
        r.metadata = RowMetadata::Update(Some(update_md(&[("k", None)])));
        let p = plan(WriteMode::Update, vec![r], &old, 1).unwrap();
        let r = &p.records[0];
        assert_eq!((&r.metadata, &r.metadata_text), (&None, &None));
        assert!(r.metadata_changed);
        assert!(!r.unindex_old_document && !r.index_document);
    }

    #[test]
    fn a_first_document_is_indexed_without_removing_anything() {
        let old = existing(vec![("a", stored(3, 0, None, &[]))]);
        let mut r = row("a", None);
        r.document = Some("first".into());
        let p = plan(WriteMode::Update, vec![r], &old, 1).unwrap();
        assert!(!p.records[0].unindex_old_document && p.records[0].index_document);
    }

    #[test]
    fn inserts_take_prepared_metadata_as_is_and_drop_null_keys_otherwise() {
        let mut prepared = row("p", Some(vec![1.0]));
        prepared.metadata = RowMetadata::Prepared { metadata: None, text: Some("verbatim".into()) };
        let mut plain = row("q", Some(vec![2.0]));
        plain.document = Some("doc".into());
        plain.metadata = RowMetadata::Update(Some(update_md(&[("gone", None)])));
        let p = plan(WriteMode::Add, vec![prepared, plain], &HashMap::new(), 0).unwrap();
        assert_eq!(p.records[0].metadata_text.as_deref(), Some("verbatim"));
        assert!(!p.records[0].index_document);
        assert_eq!((&p.records[1].metadata, &p.records[1].metadata_text), (&None, &None));
        assert!(p.records[1].index_document && p.records[1].metadata_changed);
    }

    #[test]
    fn an_all_skipped_batch_plans_nothing() {
        let old = existing(vec![("a", stored(1, 0, None, &[]))]);
        assert!(plan(WriteMode::Add, vec![row("a", Some(vec![1.0]))], &old, 1).unwrap().is_empty());
        assert!(plan(WriteMode::Update, vec![row("b", None)], &old, 1).unwrap().is_empty());
    }

    #[test]
    fn request_columns_become_rows() {
        let req = UpdateRequest {
            ids: vec!["a".into(), "b".into()],
            embeddings: Some(vec![None, Some(vec![1.0])]),
            documents: Some(vec![Some("d".into()), None]),
            uris: None,
            metadatas: Some(vec![None, Some(update_md(&[("k", Some(1))]))]),
            ..Default::default()
        };
        let rows = rows_from_update(req);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].embedding.as_deref(), rows[1].embedding.as_deref()), (None, Some(&[1.0][..])));
        assert_eq!((rows[0].document.as_deref(), rows[1].document.as_deref()), (Some("d"), None));
        assert!(rows.iter().all(|r| r.uri.is_none()));
        assert!(matches!(&rows[0].metadata, RowMetadata::Update(None)));
        assert!(matches!(&rows[1].metadata, RowMetadata::Update(Some(m)) if m.len() == 1));
    }
}
