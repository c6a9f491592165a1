//! Chroma 0.3.x `duckdb+parquet` persist directory: `chroma-collections.parquet`,
//! `chroma-embeddings.parquet` (+ `index/` with hnswlib files, used only for checks).
//! Read streamed, batch by batch; the embeddings file is never loaded whole.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use arrow_array::{
    Array, ArrayRef, BinaryArray, Float32Array, Float64Array, LargeBinaryArray, LargeListArray, LargeStringArray,
    ListArray, RecordBatch, StringArray, StringViewArray,
};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::arrow::ProjectionMask;

use crate::checks::{metadata_text_03, name_quirks_03, space_03, RecordChecks};
use crate::{
    io_err, LegacyCollection, LegacyEmbedding, LegacyError, LegacyRecord, LegacySource, Quirk, RecordBatches, Result,
    SourceKind, DEFAULT_DATABASE, DEFAULT_TENANT,
};

/// The 0.3.x collections table.
pub const COLLECTIONS_FILE: &str = "chroma-collections.parquet";
/// The 0.3.x records table.
pub const EMBEDDINGS_FILE: &str = "chroma-embeddings.parquet";

/// True if the folder has 0.3.x files (parquet files or `index/index_*.bin`).
// hnswlib and chromadb write these names in lower case.
#[allow(clippy::case_sensitive_file_extension_comparisons)]
pub fn looks_like_parquet03(path: &Path) -> bool {
    if path.join(COLLECTIONS_FILE).is_file() || path.join(EMBEDDINGS_FILE).is_file() {
        return true;
    }
    index_files(path)
        .iter()
        .any(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("index_") && n.ends_with(".bin")))
}

fn index_files(path: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(path.join("index")) {
        Ok(rd) => rd.filter_map(std::result::Result::ok).map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

/// Reader of a 0.3.x duckdb+parquet folder.
pub struct Parquet03Source {
    root: PathBuf,
    warnings: Vec<String>,
    /// collection uuid -> (row count, first-row-derived nothing) filled by `collections()`.
    counts: Option<HashMap<String, u64>>,
}

/// Opens a 0.3.x duckdb+parquet folder. Fails if the parquet files are missing (then only
/// `index/` could be read: float32 vectors and internal uuids, no ids/documents/metadata).
pub fn open_parquet03(path: &Path) -> Result<Parquet03Source> {
    let root = path.to_path_buf();
    let coll = root.join(COLLECTIONS_FILE);
    let emb = root.join(EMBEDDINGS_FILE);
    let idx = index_files(&root);
    if !coll.is_file() || !emb.is_file() {
        let missing: Vec<&str> = [(COLLECTIONS_FILE, &coll), (EMBEDDINGS_FILE, &emb)]
            .iter()
            .filter(|(_, p)| !p.is_file())
            .map(|(n, _)| *n)
            .collect();
        let mut msg = format!("{}: {} missing", root.display(), missing.join(" and "));
        if !idx.is_empty() {
            msg.push_str(
                "; index/ is present: the 0.3.x process was probably killed before it persisted. \
                 index/ holds only float32 vectors and internal record uuids - ids, documents and \
                 metadata cannot be recovered from it",
            );
        }
        return Err(LegacyError::Unreadable(msg));
    }
    let mut warnings = Vec::new();
    stale_check(&root, &idx, &mut warnings)?;
    index_content_check(&root, &mut warnings)?;
    Ok(Parquet03Source { root, warnings, counts: None })
}

fn mtime(p: &Path) -> Result<SystemTime> {
    std::fs::metadata(p)
        .and_then(|m| m.modified())
        .map_err(io_err(format!("reading modification time of {}", p.display())))
}

fn stale_check(root: &Path, idx: &[PathBuf], warnings: &mut Vec<String>) -> Result<()> {
    if idx.is_empty() {
        return Ok(());
    }
    let parquet_time = mtime(&root.join(COLLECTIONS_FILE))?.min(mtime(&root.join(EMBEDDINGS_FILE))?);
    let mut newer = Vec::new();
    for p in idx {
        if mtime(p)? > parquet_time {
            if let Some(n) = p.file_name().and_then(|n| n.to_str()) {
                newer.push(n.to_string());
            }
        }
    }
    if !newer.is_empty() {
        newer.sort();
        warnings.push(format!(
            "{}: index/ is newer than the parquet files ({} file(s), e.g. {}): the 0.3.x process \
             changed data after its last persist() and did not persist again. The parquet files \
             are read as the source of truth: records added or updated after the last persist \
             are missing (index/ keeps only their float32 vectors and internal uuids, not ids, \
             documents or metadata) and records deleted after it are still present.",
            root.display(),
            newer.len(),
            newer[0]
        ));
    }
    Ok(())
}

/// Compares the record uuids each collection's `index/uuid_to_id_<coll>.pkl` knows with the
/// uuids in the parquet file. Only reads the two uuid columns (streamed).
fn index_content_check(root: &Path, warnings: &mut Vec<String>) -> Result<()> {
    let mut index_uuids: HashMap<String, HashSet<String>> = HashMap::new();
    for p in index_files(root) {
        let Some(name) = p.file_name().and_then(|n| n.to_str()) else { continue };
        let Some(coll) = name.strip_prefix("uuid_to_id_").and_then(|n| n.strip_suffix(".pkl")) else {
            continue;
        };
        let bytes = std::fs::read(&p).map_err(io_err(format!("reading {}", p.display())))?;
        let v = match crate::pickle::parse(&bytes) {
            Ok(v) => v,
            Err(e) => {
                warnings.push(format!("{}: unreadable, index/ not checked: {e}", p.display()));
                continue;
            }
        };
        let Some(d) = v.as_dict() else {
            warnings.push(format!("{}: not a dict, index/ not checked", p.display()));
            continue;
        };
        let set = d.iter().filter_map(|(k, _)| k.as_str().map(dashed_uuid)).collect();
        index_uuids.insert(coll.to_string(), set);
    }
    if index_uuids.is_empty() {
        return Ok(());
    }
    let path = root.join(EMBEDDINGS_FILE);
    let (reader, _) = open_reader(&path, &["collection_uuid", "uuid"], 8192)?;
    let mut in_parquet: HashMap<String, HashSet<String>> = HashMap::new();
    for b in reader {
        let b = b.map_err(|source| LegacyError::Arrow { context: format!("reading {}", path.display()), source })?;
        let (c, u) = (TextCol::new(&b, "collection_uuid")?, TextCol::new(&b, "uuid")?);
        for i in 0..b.num_rows() {
            let Some(coll) = c.get(i)? else { continue };
            if !index_uuids.contains_key(&coll) {
                continue;
            }
            if let Some(u) = u.get(i)? {
                in_parquet.entry(coll).or_default().insert(u.to_ascii_lowercase());
            }
        }
    }
    let mut colls: Vec<&String> = index_uuids.keys().collect();
    colls.sort();
    let empty = HashSet::new();
    for coll in colls {
        let idx = &index_uuids[coll];
        let pq = in_parquet.get(coll).unwrap_or(&empty);
        let only_index = idx.difference(pq).count();
        let only_parquet = pq.difference(idx).count();
        if only_index > 0 {
            warnings.push(format!(
                "{}: collection {coll}: {only_index} record(s) are in index/ but not in the parquet \
                 files: they were added after the last persist() and are lost (index/ holds only \
                 their float32 vectors and internal uuids - no ids, documents or metadata)",
                root.display()
            ));
        }
        if only_parquet > 0 {
            warnings.push(format!(
                "{}: collection {coll}: {only_parquet} record(s) are in the parquet files but not in \
                 index/: deleted after the last persist() (the parquet files still have them), or \
                 never indexed (e.g. rejected for a wrong dimension)",
                root.display()
            ));
        }
    }
    Ok(())
}

fn dashed_uuid(hex: &str) -> String {
    let h = hex.to_ascii_lowercase();
    if h.len() == 32 && h.bytes().all(|c| c.is_ascii_hexdigit()) {
        format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
    } else {
        h
    }
}

/// A panic inside the parquet crate, as a message.
fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// The record batches of a parquet file. The parquet crate panics on some malformed files
/// (the fuzzer found "column start and length should not be negative"): such a panic ends the
/// stream with an error instead of the process.
pub(crate) struct Batches {
    inner: ParquetRecordBatchReader,
    done: bool,
}

impl Iterator for Batches {
    type Item = std::result::Result<arrow_array::RecordBatch, arrow_schema::ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.inner.next())) {
            Ok(item) => item,
            Err(p) => {
                self.done = true;
                Some(Err(arrow_schema::ArrowError::ParquetError(format!(
                    "malformed parquet data (the parquet reader failed: {})",
                    panic_message(&*p)
                ))))
            }
        }
    }
}

/// Opens `path` for reading `columns`; a malformed file is an error, even where the parquet
/// crate would panic.
fn open_reader(path: &Path, columns: &[&str], batch: usize) -> Result<(Batches, Vec<u64>)> {
    match std::panic::catch_unwind(|| open_reader_inner(path, columns, batch)) {
        Ok(r) => r.map(|(inner, rows)| (Batches { inner, done: false }, rows)),
        Err(p) => Err(LegacyError::Format(format!(
            "{}: malformed parquet file (the parquet reader failed: {})",
            path.display(),
            panic_message(&*p)
        ))),
    }
}

fn open_reader_inner(path: &Path, columns: &[&str], batch: usize) -> Result<(ParquetRecordBatchReader, Vec<u64>)> {
    let file = File::open(path).map_err(io_err(format!("opening {}", path.display())))?;
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|source| LegacyError::Parquet {
        context: format!("reading parquet footer of {}", path.display()),
        source,
    })?;
    let schema = b.parquet_schema();
    let fields = schema.root_schema().get_fields();
    let mut roots = Vec::new();
    for want in columns {
        let i = fields.iter().position(|f| f.name() == *want).ok_or_else(|| {
            LegacyError::Format(format!(
                "{}: no column {want:?} (columns: {})",
                path.display(),
                fields.iter().map(|f| f.name()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        roots.push(i);
    }
    let mask = ProjectionMask::roots(schema, roots);
    let rg_rows: Vec<u64> = b.metadata().row_groups().iter().map(|rg| rg.num_rows().max(0) as u64).collect();
    let r = b
        .with_projection(mask)
        .with_batch_size(batch.max(1))
        .build()
        .map_err(|source| LegacyError::Parquet { context: format!("reading {}", path.display()), source })?;
    Ok((r, rg_rows))
}

/// Text column accessor over the string/binary array kinds arrow may produce.
struct TextCol<'a> {
    arr: &'a ArrayRef,
    name: &'a str,
}

impl<'a> TextCol<'a> {
    fn new(batch: &'a RecordBatch, name: &'a str) -> Result<Self> {
        let arr =
            batch.column_by_name(name).ok_or_else(|| LegacyError::Format(format!("batch has no column {name:?}")))?;
        Ok(TextCol { arr, name })
    }
    /// `Ok(None)` for NULL.
    fn get(&self, i: usize) -> Result<Option<String>> {
        if self.arr.is_null(i) {
            return Ok(None);
        }
        let a = self.arr.as_any();
        if let Some(s) = a.downcast_ref::<StringArray>() {
            return Ok(Some(s.value(i).to_string()));
        }
        if let Some(s) = a.downcast_ref::<LargeStringArray>() {
            return Ok(Some(s.value(i).to_string()));
        }
        if let Some(s) = a.downcast_ref::<StringViewArray>() {
            return Ok(Some(s.value(i).to_string()));
        }
        let bytes = if let Some(b) = a.downcast_ref::<BinaryArray>() {
            b.value(i)
        } else if let Some(b) = a.downcast_ref::<LargeBinaryArray>() {
            b.value(i)
        } else {
            return Err(LegacyError::Format(format!(
                "column {:?} has type {}, expected text",
                self.name,
                self.arr.data_type()
            )));
        };
        String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|e| LegacyError::Format(format!("column {:?}: text is not valid UTF-8: {e}", self.name)))
    }
}

fn list_values(arr: &ArrayRef, i: usize) -> Result<Option<ArrayRef>> {
    if arr.is_null(i) {
        return Ok(None);
    }
    let a = arr.as_any();
    if let Some(l) = a.downcast_ref::<ListArray>() {
        return Ok(Some(l.value(i)));
    }
    if let Some(l) = a.downcast_ref::<LargeListArray>() {
        return Ok(Some(l.value(i)));
    }
    Err(LegacyError::Format(format!("embedding column has type {}, expected a list", arr.data_type())))
}

fn embedding_at(arr: &ArrayRef, i: usize, quirks: &mut Vec<Quirk>) -> Result<Option<LegacyEmbedding>> {
    let Some(v) = list_values(arr, i)? else { return Ok(None) };
    let nulls = v.null_count();
    if nulls > 0 {
        quirks.push(Quirk::Other(format!("embedding has {nulls} NULL element(s) (read as NaN)")));
    }
    let a = v.as_any();
    if let Some(f) = a.downcast_ref::<Float64Array>() {
        if nulls == 0 {
            return Ok(Some(LegacyEmbedding::F64(f.values().to_vec())));
        }
        let out = (0..f.len()).map(|j| if f.is_null(j) { f64::NAN } else { f.value(j) }).collect();
        return Ok(Some(LegacyEmbedding::F64(out)));
    }
    if let Some(f) = a.downcast_ref::<Float32Array>() {
        let out = (0..f.len()).map(|j| if f.is_null(j) { f32::NAN } else { f.value(j) }).collect();
        return Ok(Some(LegacyEmbedding::F32(out)));
    }
    Err(LegacyError::Format(format!("embedding elements have type {}, expected DOUBLE", v.data_type())))
}

fn origin_of(global: u64, rg_rows: &[u64]) -> String {
    let mut left = global;
    for (g, n) in rg_rows.iter().enumerate() {
        if left < *n {
            return format!("{EMBEDDINGS_FILE} row {global} (row group {g}, row {left})");
        }
        left -= n;
    }
    format!("{EMBEDDINGS_FILE} row {global}")
}

impl Parquet03Source {
    /// The folder read.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn count_rows(&mut self) -> Result<&HashMap<String, u64>> {
        if self.counts.is_none() {
            let path = self.root.join(EMBEDDINGS_FILE);
            let (reader, _) = open_reader(&path, &["collection_uuid"], 8192)?;
            let mut counts: HashMap<String, u64> = HashMap::new();
            for b in reader {
                let b =
                    b.map_err(|source| LegacyError::Arrow { context: format!("reading {}", path.display()), source })?;
                let col = TextCol::new(&b, "collection_uuid")?;
                for i in 0..b.num_rows() {
                    let k = col.get(i)?.unwrap_or_default();
                    *counts.entry(k).or_default() += 1;
                }
            }
            self.counts = Some(counts);
        }
        match &self.counts {
            Some(c) => Ok(c),
            None => Err(LegacyError::Format("row counts unavailable".into())),
        }
    }

    /// `dimensionality` from `index/index_metadata_<uuid>.pkl`, if present and readable.
    fn index_dimension(&mut self, uuid: &str) -> Option<usize> {
        let p = self.root.join("index").join(format!("index_metadata_{uuid}.pkl"));
        let bytes = std::fs::read(&p).ok()?;
        match crate::pickle::parse(&bytes) {
            Ok(v) => v.dict_get("dimensionality").and_then(super::pickle::PickleValue::as_i128).map(|d| d as usize),
            Err(e) => {
                self.warnings.push(format!("{}: unreadable pickle: {e}", p.display()));
                None
            }
        }
    }
}

impl LegacySource for Parquet03Source {
    fn kind(&self) -> SourceKind {
        SourceKind::Parquet03
    }

    fn tenants_and_databases(&self) -> Result<Vec<(String, String)>> {
        Ok(vec![(DEFAULT_TENANT.to_string(), DEFAULT_DATABASE.to_string())])
    }

    fn collections(&mut self) -> Result<Vec<LegacyCollection>> {
        let path = self.root.join(COLLECTIONS_FILE);
        let (reader, _) = open_reader(&path, &["uuid", "name", "metadata"], 1024)?;
        let mut out = Vec::new();
        let mut names: HashSet<String> = HashSet::new();
        for b in reader {
            let b =
                b.map_err(|source| LegacyError::Arrow { context: format!("reading {}", path.display()), source })?;
            let (u, n, m) = (TextCol::new(&b, "uuid")?, TextCol::new(&b, "name")?, TextCol::new(&b, "metadata")?);
            for i in 0..b.num_rows() {
                let mut quirks = Vec::new();
                let id = u.get(i)?.ok_or_else(|| {
                    LegacyError::Format(format!("{}: collection row {i} has a NULL uuid", path.display()))
                })?;
                let name = n.get(i)?.unwrap_or_else(|| {
                    quirks.push(Quirk::Other("collection name is NULL".into()));
                    String::new()
                });
                name_quirks_03(&name, &mut names, &mut quirks);
                let metadata = metadata_text_03(m.get(i)?.as_deref(), true, &mut quirks);
                let space = space_03(metadata.as_ref());
                out.push(LegacyCollection {
                    id,
                    name,
                    metadata,
                    tenant: DEFAULT_TENANT.into(),
                    database: DEFAULT_DATABASE.into(),
                    dimension: None,
                    space,
                    configuration_json: None,
                    schema_json: None,
                    record_count_hint: None,
                    quirks,
                });
            }
        }
        let counts = self.count_rows()?.clone();
        for c in &mut out {
            c.record_count_hint = Some(counts.get(&c.id).copied().unwrap_or(0));
            c.dimension = self.index_dimension(&c.id);
        }
        let known: HashSet<&str> = out.iter().map(|c| c.id.as_str()).collect();
        let mut orphans: Vec<(&String, &u64)> = counts.iter().filter(|(k, _)| !known.contains(k.as_str())).collect();
        orphans.sort();
        for (k, n) in orphans {
            let w = format!(
                "{}: {n} row(s) belong to collection uuid {k:?}, which is not in {COLLECTIONS_FILE}",
                self.root.display()
            );
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        Ok(out)
    }

    fn records(&mut self, collection: &LegacyCollection, batch: usize) -> Result<RecordBatches<'_>> {
        let path = self.root.join(EMBEDDINGS_FILE);
        let (reader, rg_rows) = open_reader(
            &path,
            &["collection_uuid", "uuid", "embedding", "document", "id", "metadata"],
            batch.clamp(1, 8192),
        )?;
        Ok(Box::new(RecordIter {
            reader,
            path,
            rg_rows,
            coll: collection.id.clone(),
            checks: RecordChecks::new(collection.dimension),
            batch: batch.max(1),
            global: 0,
            pending: Vec::new(),
            done: false,
        }))
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

struct RecordIter {
    reader: Batches,
    path: PathBuf,
    rg_rows: Vec<u64>,
    coll: String,
    checks: RecordChecks,
    batch: usize,
    global: u64,
    pending: Vec<LegacyRecord>,
    done: bool,
}

impl RecordIter {
    fn take_batch(&mut self, b: &RecordBatch) -> Result<()> {
        let cu = TextCol::new(b, "collection_uuid")?;
        let uuid = TextCol::new(b, "uuid")?;
        let doc = TextCol::new(b, "document")?;
        let idc = TextCol::new(b, "id")?;
        let md = TextCol::new(b, "metadata")?;
        let emb = b
            .column_by_name("embedding")
            .ok_or_else(|| LegacyError::Format("batch has no column \"embedding\"".into()))?;
        let emb: &ArrayRef = emb;
        for i in 0..b.num_rows() {
            let global = self.global + i as u64;
            if cu.get(i)?.as_deref() != Some(self.coll.as_str()) {
                continue;
            }
            let origin = match uuid.get(i)? {
                Some(u) => format!("{} uuid {u}", origin_of(global, &self.rg_rows)),
                None => origin_of(global, &self.rg_rows),
            };
            let mut quirks = Vec::new();
            let id = self.checks.id(idc.get(i)?, || origin.clone(), &mut quirks);
            let embedding = embedding_at(emb, i, &mut quirks)?;
            self.checks.embedding(embedding.as_ref(), Some("embedding is NULL"), &mut quirks);
            let document = doc.get(i)?;
            RecordChecks::document(document.as_deref(), &mut quirks);
            let metadata = metadata_text_03(md.get(i)?.as_deref(), false, &mut quirks);
            self.pending.push(LegacyRecord { id, embedding, document, uri: None, metadata, origin, quirks });
        }
        self.global += b.num_rows() as u64;
        Ok(())
    }
}

impl Iterator for RecordIter {
    type Item = Result<Vec<LegacyRecord>>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.pending.len() < self.batch {
            match self.reader.next() {
                None => self.done = true,
                Some(Err(source)) => {
                    self.done = true;
                    return Some(Err(LegacyError::Arrow {
                        context: format!("reading {}", self.path.display()),
                        source,
                    }));
                }
                Some(Ok(b)) => {
                    if let Err(e) = self.take_batch(&b) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
        }
        if self.pending.is_empty() {
            return None;
        }
        let n = self.pending.len().min(self.batch);
        let rest = self.pending.split_off(n);
        Some(Ok(std::mem::replace(&mut self.pending, rest)))
    }
}
