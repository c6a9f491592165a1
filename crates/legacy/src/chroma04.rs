//! Chroma >= 0.4 persistent folders (0.4.x, 0.5.x, 1.x): `chroma.sqlite3` opened read-only
//! (immutable) + one hnsw segment folder per collection.
//!
//! Records (ids, documents, uris, metadata) come from the metadata segment (`embeddings`,
//! `embedding_metadata`, `embedding_metadata_array` in 1.x). Vectors come from the vector
//! segment's hnsw files (state as of their last sync, mapped by `index_metadata.pickle`)
//! with the `embeddings_queue` log replayed on top from the vector segment's `max_seq_id`
//! (where the log was purged, only the hnsw files have the older vectors).
//!
//! Why this file is long (~800 lines): one reader of one format (the `SQLite` layout, the
//! pickled segment metadata and the log replay depend on each other); its record checks are in
//! `checks.rs` and its HNSW file reader in `hnsw.rs`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use percent_encoding::{utf8_percent_encode, AsciiSet};
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, OpenFlags};

use crate::hnsw::HnswIndex;
use crate::{
    io_err, name_rejection, parse_python_json, sql_err, value_quirks, LegacyCollection, LegacyEmbedding, LegacyError,
    LegacyMetadata, LegacyRecord, LegacySource, LegacyValue, NameRules, Quirk, RecordBatches, RecordChecks, Result,
    SourceKind, DEFAULT_DATABASE, DEFAULT_TENANT,
};

/// The `SQLite` database of a Chroma >= 0.4 folder.
pub const SQLITE_FILE: &str = "chroma.sqlite3";

fn uri_for(path: &Path) -> Result<String> {
    // `?`, `#` and `%` would end or escape the path part of the URI; SQLite decodes `%XX`
    // (and percent-encoding also encodes non-ASCII bytes, which SQLite decodes back).
    const URI_PATH: &AsciiSet = &AsciiSet::EMPTY.add(b'?').add(b'#').add(b'%');
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map_err(io_err("current dir"))?.join(path)
    };
    let s =
        abs.to_str().ok_or_else(|| LegacyError::Unreadable(format!("{}: path is not valid UTF-8", abs.display())))?;
    Ok(format!("file:{}?mode=ro&immutable=1", utf8_percent_encode(s, URI_PATH)))
}

/// Opens a `SQLite` file strictly read-only and immutable (no locks, no journal, no -shm).
pub(crate) fn open_ro(db: &Path) -> Result<Connection> {
    let uri = uri_for(db)?;
    Connection::open_with_flags(
        &uri,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(format!("opening {} read-only", db.display())))
}

pub(crate) fn count_collections(db: &Path) -> Result<u64> {
    let c = open_ro(db)?;
    c.query_row("SELECT count(*) FROM collections", [], |r| r.get::<_, i64>(0))
        .map(|n| n.max(0) as u64)
        .map_err(sql_err(format!("counting collections in {}", db.display())))
}

#[derive(Debug, Default, Clone)]
struct Schema {
    tables: HashSet<String>,
    columns: HashMap<String, Vec<String>>,
}

impl Schema {
    fn has_table(&self, t: &str) -> bool {
        self.tables.contains(t)
    }
    fn has_col(&self, t: &str, c: &str) -> bool {
        self.columns.get(t).is_some_and(|cs| cs.iter().any(|x| x == c))
    }
}

/// Reader of a Chroma >= 0.4 folder.
pub struct Chroma04Source {
    root: PathBuf,
    conn: Connection,
    schema: Schema,
    warnings: Vec<String>,
    /// Keeps a private copy alive when the folder had a non-empty WAL.
    _tmp_copy: Option<TempCopy>,
}

struct TempCopy(PathBuf);
impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Opens a Chroma >= 0.4 folder read-only. If `chroma.sqlite3-wal` holds data, the database
/// and its WAL are copied to a private temp folder and read from there (opening a WAL database
/// in place would create/modify `-shm`).
pub fn open_chroma04(path: &Path) -> Result<Chroma04Source> {
    let db = path.join(SQLITE_FILE);
    if !db.is_file() {
        return Err(LegacyError::Unreadable(format!("{}: no {SQLITE_FILE}", path.display())));
    }
    let mut warnings = Vec::new();
    let wal = path.join(format!("{SQLITE_FILE}-wal"));
    let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
    let (conn, tmp) = if wal_len > 0 {
        let dir = std::env::temp_dir().join(format!(
            "chroma-legacy-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir).map_err(io_err(format!("creating {}", dir.display())))?;
        let guard = TempCopy(dir.clone());
        std::fs::copy(&db, dir.join(SQLITE_FILE)).map_err(io_err(format!("copying {}", db.display())))?;
        std::fs::copy(&wal, dir.join(format!("{SQLITE_FILE}-wal")))
            .map_err(io_err(format!("copying {}", wal.display())))?;
        warnings.push(format!(
            "{}: {SQLITE_FILE}-wal has {wal_len} bytes (a Chroma process may still be running or \
             crashed); read from a private copy of the database and its WAL",
            path.display()
        ));
        let copy = dir.join(SQLITE_FILE);
        let c = Connection::open_with_flags(&copy, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(sql_err(format!("opening copy of {}", db.display())))?;
        (c, Some(guard))
    } else {
        (open_ro(&db)?, None)
    };
    let mut schema = Schema::default();
    {
        let mut st = conn
            .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            .map_err(sql_err(format!("reading schema of {}", db.display())))?;
        let names = st
            .query_map([], |r| r.get::<_, String>(0))
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err(format!("reading schema of {}", db.display())))?;
        for n in names {
            let mut ci = conn
                .prepare(&format!("PRAGMA table_info(\"{}\")", n.replace('"', "\"\"")))
                .map_err(sql_err(format!("table_info {n}")))?;
            let cols = ci
                .query_map([], |r| r.get::<_, String>(1))
                .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
                .map_err(sql_err(format!("table_info {n}")))?;
            schema.columns.insert(n.clone(), cols);
            schema.tables.insert(n);
        }
    }
    for t in ["collections", "segments", "embeddings", "embedding_metadata"] {
        if !schema.has_table(t) {
            return Err(LegacyError::Format(format!(
                "{}: table {t} missing - not a Chroma >= 0.4 database",
                db.display()
            )));
        }
    }
    Ok(Chroma04Source { root: path.to_path_buf(), conn, schema, warnings, _tmp_copy: tmp })
}

fn sql_value_to_i64(v: &SqlValue) -> Option<i64> {
    match v {
        SqlValue::Integer(i) => Some(*i),
        SqlValue::Blob(b) if b.len() == 8 => {
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            Some(i64::from_be_bytes(a))
        }
        SqlValue::Blob(b) if b.len() < 8 && !b.is_empty() => {
            Some(b.iter().fold(0i64, |acc, x| (acc << 8) | i64::from(*x)))
        }
        _ => None,
    }
}

/// One typed metadata row -> value. Returns None if every value column is NULL.
fn typed_value(s: Option<String>, i: Option<i64>, f: Option<f64>, b: Option<i64>) -> Option<LegacyValue> {
    if let Some(s) = s {
        return Some(LegacyValue::Str(s));
    }
    if let Some(b) = b {
        return Some(LegacyValue::Bool(b != 0));
    }
    if let Some(i) = i {
        return Some(LegacyValue::Int(i));
    }
    f.map(LegacyValue::Float)
}

#[derive(Debug, Clone)]
struct CollectionSegments {
    metadata: Option<String>,
    vector: Option<String>,
}

impl Chroma04Source {
    /// The folder read.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn segments_of(&self, coll: &str) -> Result<CollectionSegments> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, type, scope FROM segments WHERE collection = ?1")
            .map_err(sql_err("reading segments"))?;
        let rows = st
            .query_map([coll], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, Option<String>>(2)?))
            })
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err(format!("reading segments of collection {coll}")))?;
        let mut out = CollectionSegments { metadata: None, vector: None };
        for (id, ty, scope) in rows {
            let ty = ty.unwrap_or_default();
            let scope = scope.unwrap_or_default();
            if scope == "METADATA" || ty.contains("/metadata/") {
                out.metadata = Some(id);
            } else if scope == "VECTOR" || ty.contains("/vector/") {
                out.vector = Some(id);
            }
        }
        Ok(out)
    }

    fn collection_metadata(&self, coll: &str) -> Result<Option<LegacyMetadata>> {
        let has_bool = self.schema.has_col("collection_metadata", "bool_value");
        if !self.schema.has_table("collection_metadata") {
            return Ok(None);
        }
        let sql = format!(
            "SELECT key, str_value, int_value, float_value, {} FROM collection_metadata WHERE collection_id = ?1",
            if has_bool { "bool_value" } else { "NULL" }
        );
        let mut st = self.conn.prepare_cached(&sql).map_err(sql_err("reading collection_metadata"))?;
        let rows = st
            .query_map([coll], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<i64>>(2)?,
                    r.get::<_, Option<f64>>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                ))
            })
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err(format!("reading metadata of collection {coll}")))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut m = LegacyMetadata::new();
        for (k, s, i, f, b) in rows {
            m.insert(k, typed_value(s, i, f, b).unwrap_or(LegacyValue::Null));
        }
        Ok(Some(m))
    }

    fn seq_of_segment(&self, seg: &str) -> Result<Option<i64>> {
        if !self.schema.has_table("max_seq_id") {
            return Ok(None);
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT seq_id FROM max_seq_id WHERE segment_id = ?1")
            .map_err(sql_err("reading max_seq_id"))?;
        let mut rows = st.query([seg]).map_err(sql_err("reading max_seq_id"))?;
        match rows.next().map_err(sql_err("reading max_seq_id"))? {
            Some(r) => {
                let v: SqlValue = r.get(0).map_err(sql_err("reading max_seq_id"))?;
                Ok(sql_value_to_i64(&v))
            }
            None => Ok(None),
        }
    }

    /// Records in a metadata segment.
    fn record_count(&self, metadata_segment: &str, coll: &str) -> Result<u64> {
        let n = self
            .conn
            .query_row("SELECT count(*) FROM embeddings WHERE segment_id = ?1", [metadata_segment], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(sql_err(format!("counting records of collection {coll}")))?;
        Ok(n.max(0) as u64)
    }

    /// The dimension of a vector segment's (non-empty) hnsw index, if it can be opened.
    fn index_dimension(&self, vector_segment: &str) -> Option<usize> {
        let dir = self.root.join(vector_segment);
        if !dir.join("header.bin").is_file() {
            return None;
        }
        let idx = HnswIndex::open_segment_dir(&dir).ok()?;
        (!idx.is_empty()).then(|| idx.dimension())
    }

    /// Vector state for a collection: hnsw files + replayed log.
    fn vector_state(&mut self, coll: &LegacyCollection, vector_seg: Option<&str>) -> Result<VectorState> {
        let mut state = VectorState::default();
        // None = replay the whole log
        let start_seq = match vector_seg {
            Some(seg) => self.hnsw_files(seg, &mut state)?,
            None => None,
        };
        state.cosine = coll.space.as_deref() == Some("cosine");
        if self.schema.has_table("embeddings_queue") {
            self.replay_log(coll, start_seq, &mut state)?;
        }
        state.start_seq = start_seq;
        Ok(state)
    }

    /// Opens the vector segment's hnsw files (into `state`); returns the sequence id the log
    /// is to be replayed from (`None`: all of it).
    fn hnsw_files(&mut self, seg: &str, state: &mut VectorState) -> Result<Option<i64>> {
        let dir = self.root.join(seg);
        if dir.join("header.bin").is_file() {
            let pk = dir.join("index_metadata.pickle");
            if pk.is_file() {
                let bytes = std::fs::read(&pk).map_err(io_err(format!("reading {}", pk.display())))?;
                let p = crate::pickle::parse(&bytes)
                    .map_err(|source| LegacyError::Pickle { context: pk.display().to_string(), source })?;
                let mut id_to_label = HashMap::new();
                if let Some(d) = p.dict_get("id_to_label").and_then(|d| d.as_dict()) {
                    for (k, v) in d {
                        if let (Some(k), Some(v)) = (k.as_str(), v.as_i128()) {
                            id_to_label.insert(k.to_string(), v as u64);
                        }
                    }
                } else {
                    return Err(LegacyError::Format(format!("{}: no id_to_label", pk.display())));
                }
                let pickle_seq =
                    p.dict_get("max_seq_id").and_then(super::pickle::PickleValue::as_i128).map(|v| v as i64);
                let table_seq = self.seq_of_segment(seg)?;
                let start_seq = match (pickle_seq, table_seq) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if start_seq.is_none() {
                    self.warnings.push(format!(
                        "{}: no max_seq_id for vector segment {seg}; replaying the whole log",
                        self.root.display()
                    ));
                }
                let index = HnswIndex::open_segment_dir(&dir)?;
                state.hnsw = Some((index, id_to_label, dir));
                return Ok(start_seq);
            }
        } else if dir.exists() {
            self.warnings.push(format!(
                "{}: vector segment folder {seg} has no header.bin; vectors only from the log",
                self.root.display()
            ));
        }
        Ok(None)
    }

    /// Replays the collection's `embeddings_queue` after `start_seq` into `state`.
    fn replay_log(&self, coll: &LegacyCollection, start_seq: Option<i64>, state: &mut VectorState) -> Result<()> {
        let min_seq: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(seq_id) FROM embeddings_queue WHERE topic LIKE ?1",
                [format!("%/{}", coll.id)],
                |r| r.get(0),
            )
            .map_err(sql_err("reading embeddings_queue"))?;
        state.log_min_seq = min_seq;
        let mut st = self
            .conn
            .prepare(
                "SELECT seq_id, operation, id, vector, encoding FROM embeddings_queue \
                 WHERE topic LIKE ?1 AND seq_id > ?2 ORDER BY seq_id",
            )
            .map_err(sql_err("reading embeddings_queue"))?;
        let mut rows = st
            .query(rusqlite::params![format!("%/{}", coll.id), start_seq.unwrap_or(i64::MIN)])
            .map_err(sql_err("reading embeddings_queue"))?;
        while let Some(r) = rows.next().map_err(sql_err("reading embeddings_queue"))? {
            let seq: i64 = r.get(0).map_err(sql_err("embeddings_queue.seq_id"))?;
            let op: i64 = r.get(1).map_err(sql_err("embeddings_queue.operation"))?;
            let id: String = r.get(2).map_err(sql_err("embeddings_queue.id"))?;
            let blob: Option<Vec<u8>> = r.get(3).map_err(sql_err("embeddings_queue.vector"))?;
            let enc: Option<String> = r.get(4).map_err(sql_err("embeddings_queue.encoding"))?;
            let vector = match blob {
                None => None,
                Some(b) => {
                    let e = enc.unwrap_or_default();
                    if !e.eq_ignore_ascii_case("FLOAT32") || b.len() % 4 != 0 {
                        state.bad.insert(
                            id.clone(),
                            format!("log seq_id {seq}: vector encoding {e:?} with {} bytes not understood", b.len()),
                        );
                        None
                    } else {
                        Some(
                            b.chunks_exact(4)
                                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                                .collect::<Vec<f32>>(),
                        )
                    }
                }
            };
            state.apply(seq, op, id, vector);
        }
        Ok(())
    }
}

#[derive(Default)]
struct VectorState {
    hnsw: Option<(HnswIndex, HashMap<String, u64>, PathBuf)>,
    /// id -> Some(vector, seq) | None (deleted in the replayed log)
    log: HashMap<String, Option<(Vec<f32>, i64)>>,
    bad: HashMap<String, String>,
    cosine: bool,
    start_seq: Option<i64>,
    log_min_seq: Option<i64>,
}

impl VectorState {
    fn exists(&self, id: &str) -> bool {
        match self.log.get(id) {
            Some(Some(_)) => true,
            Some(None) => false,
            None => self.hnsw.as_ref().is_some_and(|(_, m, _)| m.contains_key(id)),
        }
    }
    /// Applies one log operation the way the vector segment does:
    /// 0 ADD (ignored if present), 1 UPDATE (ignored if absent; vector optional),
    /// 2 UPSERT, 3 DELETE.
    fn apply(&mut self, seq: i64, op: i64, id: String, vector: Option<Vec<f32>>) {
        let exists = self.exists(&id);
        match op {
            0 => {
                if !exists {
                    if let Some(v) = vector {
                        self.log.insert(id, Some((v, seq)));
                    }
                }
            }
            1 => {
                if exists {
                    if let Some(v) = vector {
                        self.log.insert(id, Some((v, seq)));
                    }
                }
            }
            2 => {
                if let Some(v) = vector {
                    self.log.insert(id, Some((v, seq)));
                }
            }
            3 => {
                self.log.insert(id, None);
            }
            _ => {
                self.bad.insert(id, format!("log seq_id {seq}: unknown operation {op}"));
            }
        }
    }

    fn lookup(&self, id: &str, quirks: &mut Vec<Quirk>) -> Result<Option<LegacyEmbedding>> {
        if let Some(b) = self.bad.get(id) {
            quirks.push(Quirk::Other(b.clone()));
        }
        match self.log.get(id) {
            Some(Some((v, _))) => return Ok(Some(LegacyEmbedding::F32(v.clone()))),
            Some(None) => {
                quirks.push(Quirk::MissingEmbedding {
                    detail: "the log deletes this id, but the metadata segment still has it".into(),
                });
                return Ok(None);
            }
            None => {}
        }
        if let Some((idx, map, dir)) = &self.hnsw {
            if let Some(label) = map.get(id) {
                return if let Some((v, deleted)) = idx.original_vector(*label, self.cosine)? {
                    if deleted {
                        quirks.push(Quirk::Other(format!("hnsw element for label {label} is marked deleted")));
                    }
                    Ok(Some(LegacyEmbedding::F32(v)))
                } else {
                    quirks.push(Quirk::MissingEmbedding {
                        detail: format!("label {label} not found in {}", dir.display()),
                    });
                    Ok(None)
                };
            }
        }
        let detail = match (self.start_seq, self.log_min_seq) {
            (_, Some(m)) if m > 1 => format!("not in the hnsw files and not in the log (log purged below seq_id {m})"),
            _ => "not in the hnsw files and not in the log".to_string(),
        };
        quirks.push(Quirk::MissingEmbedding { detail });
        Ok(None)
    }
}

/// A JSON text column (`what` names it in the quirk when it does not parse).
fn json_column(t: Option<&str>, what: &str, quirks: &mut Vec<Quirk>) -> Option<serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(t?) {
        Ok(v) => Some(v),
        Err(e) => {
            quirks.push(Quirk::Other(format!("{what} is not valid JSON: {e}")));
            None
        }
    }
}

/// The distance function in effect: `hnsw:space` metadata, else the configuration, else the
/// schema (1.x), else Chroma's default `l2`.
fn resolve_space(
    meta: Option<&LegacyMetadata>,
    config: Option<&serde_json::Value>,
    schema: Option<&serde_json::Value>,
) -> String {
    if let Some(LegacyValue::Str(s)) = meta.and_then(|m| m.get("hnsw:space")) {
        return s.clone();
    }
    let pick = |v: &serde_json::Value, path: &[&str]| -> Option<String> {
        let mut cur = v;
        for p in path {
            cur = cur.get(p)?;
        }
        cur.as_str().map(std::string::ToString::to_string)
    };
    if let Some(c) = config {
        for path in [&["hnsw", "space"][..], &["hnsw_configuration", "space"], &["spann", "space"]] {
            if let Some(s) = pick(c, path) {
                return s;
            }
        }
    }
    if let Some(s) = schema {
        for path in [
            &["keys", "#embedding", "float_list", "vector_index", "config", "space"][..],
            &["defaults", "float_list", "vector_index", "config", "space"],
        ] {
            if let Some(x) = pick(s, path) {
                return x;
            }
        }
    }
    "l2".to_string()
}

impl LegacySource for Chroma04Source {
    fn kind(&self) -> SourceKind {
        SourceKind::Chroma04Plus
    }

    fn tenants_and_databases(&self) -> Result<Vec<(String, String)>> {
        if !self.schema.has_table("databases") {
            return Ok(vec![(DEFAULT_TENANT.into(), DEFAULT_DATABASE.into())]);
        }
        let mut st = self
            .conn
            .prepare("SELECT tenant_id, name FROM databases ORDER BY tenant_id, name")
            .map_err(sql_err("reading databases"))?;
        let v = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err("reading databases"))?;
        Ok(v)
    }

    fn collections(&mut self) -> Result<Vec<LegacyCollection>> {
        type Row = (String, String, Option<i64>, Option<String>, Option<String>, Option<String>, Option<String>);
        let s = &self.schema;
        let dim = if s.has_col("collections", "dimension") { "c.dimension" } else { "NULL" };
        let conf = if s.has_col("collections", "config_json_str") { "c.config_json_str" } else { "NULL" };
        let sch = if s.has_col("collections", "schema_str") { "c.schema_str" } else { "NULL" };
        let (db, join) = if s.has_col("collections", "database_id") && s.has_table("databases") {
            ("d.tenant_id, d.name", "LEFT JOIN databases d ON d.id = c.database_id")
        } else {
            ("NULL, NULL", "")
        };
        let sql = format!("SELECT c.id, c.name, {dim}, {conf}, {sch}, {db} FROM collections c {join} ORDER BY c.rowid");
        let rows: Vec<Row> = {
            let mut st = self.conn.prepare(&sql).map_err(sql_err("reading collections"))?;
            let it = st
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?)))
                .and_then(|it| it.collect::<std::result::Result<Vec<Row>, _>>())
                .map_err(sql_err("reading collections"))?;
            it
        };
        let mut out = Vec::new();
        for (id, name, dimension, conf, schema_str, tenant, database) in rows {
            let mut quirks = Vec::new();
            // Written by Chroma >= 0.4: the rules of the release that wrote it (0.4-0.6 or 1.x).
            if let Some(reason) = name_rejection(&name, NameRules::Stored) {
                quirks.push(Quirk::NameRejectedByNewRules { reason });
            }
            let metadata = self.collection_metadata(&id)?;
            if let Some(m) = &metadata {
                value_quirks(m, &mut quirks);
            }
            let configuration_json = json_column(conf.as_deref(), "config_json_str", &mut quirks);
            let schema_json = json_column(schema_str.as_deref(), "schema_str", &mut quirks);
            let space = Some(resolve_space(metadata.as_ref(), configuration_json.as_ref(), schema_json.as_ref()));
            let segs = self.segments_of(&id)?;
            let record_count_hint = match &segs.metadata {
                Some(ms) => Some(self.record_count(ms, &id)?),
                None => None,
            };
            let dimension = match dimension.and_then(|d| usize::try_from(d).ok()) {
                Some(d) => Some(d),
                None => segs.vector.as_deref().and_then(|vs| self.index_dimension(vs)),
            };
            if segs.metadata.is_none() {
                quirks.push(Quirk::Other("collection has no metadata segment".into()));
            }
            out.push(LegacyCollection {
                id,
                name,
                metadata,
                tenant: tenant.unwrap_or_else(|| DEFAULT_TENANT.into()),
                database: database.unwrap_or_else(|| DEFAULT_DATABASE.into()),
                dimension,
                space,
                configuration_json,
                schema_json,
                record_count_hint,
                quirks,
            });
        }
        Ok(out)
    }

    fn records(&mut self, collection: &LegacyCollection, batch: usize) -> Result<RecordBatches<'_>> {
        let segs = self.segments_of(&collection.id)?;
        let Some(meta_seg) = segs.metadata.clone() else {
            return Ok(Box::new(std::iter::empty()));
        };
        let state = self.vector_state(collection, segs.vector.as_deref())?;
        Ok(Box::new(RecordIter {
            src: self,
            seg: meta_seg,
            state,
            after: i64::MIN,
            batch: batch.max(1),
            checks: RecordChecks::unique_ids(collection.dimension),
            done: false,
        }))
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}

struct RecordIter<'a> {
    src: &'a Chroma04Source,
    seg: String,
    state: VectorState,
    after: i64,
    batch: usize,
    checks: RecordChecks,
    done: bool,
}

impl RecordIter<'_> {
    fn next_batch(&mut self) -> Result<Vec<LegacyRecord>> {
        let conn = &self.src.conn;
        let mut st = conn
            .prepare_cached(
                "SELECT id, embedding_id, seq_id FROM embeddings WHERE segment_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )
            .map_err(sql_err("reading embeddings"))?;
        let rows = st
            .query_map(rusqlite::params![self.seg, self.after, self.batch as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, SqlValue>(2)?))
            })
            .and_then(|it| it.collect::<std::result::Result<Vec<_>, _>>())
            .map_err(sql_err("reading embeddings"))?;
        let (Some(first), Some(last)) = (rows.first().map(|r| r.0), rows.last().map(|r| r.0)) else {
            return Ok(Vec::new());
        };
        self.after = last;
        let mut metas = metadata_rows(conn, "embedding_metadata", "id, key", first, last)?;
        let mut arrays = if self.src.schema.has_table("embedding_metadata_array") {
            metadata_rows(conn, "embedding_metadata_array", "id, key, rowid", first, last)?
        } else {
            HashMap::new()
        };
        let mut out = Vec::with_capacity(rows.len());
        for (rowid, eid, seq) in rows {
            let mut quirks = Vec::new();
            let id = self.checks.id(eid, String::new, &mut quirks);
            let origin = match sql_value_to_i64(&seq) {
                Some(s) => format!("{SQLITE_FILE} embeddings.id {rowid} (seq_id {s})"),
                None => format!("{SQLITE_FILE} embeddings.id {rowid}"),
            };
            let (document, uri, md) = record_metadata(
                metas.remove(&rowid).unwrap_or_default(),
                arrays.remove(&rowid).unwrap_or_default(),
                &mut quirks,
            );
            RecordChecks::document(document.as_deref(), &mut quirks);
            let embedding = self.state.lookup(&id, &mut quirks)?;
            // A missing vector is reported by the lookup, which knows why.
            self.checks.embedding(embedding.as_ref(), None, &mut quirks);
            out.push(LegacyRecord {
                id,
                embedding,
                document,
                uri,
                metadata: if md.is_empty() { None } else { Some(md) },
                origin,
                quirks,
            });
        }
        Ok(out)
    }
}

/// A metadata row: key and typed value (`None` when every value column is NULL).
type MetadataRow = (String, Option<LegacyValue>);

/// A record's metadata rows (`(key, typed value)`, `None` when every value column is NULL)
/// of a range of records (row ids `first..=last`) from `table`, by row id.
fn metadata_rows(
    conn: &Connection,
    table: &str,
    order: &str,
    first: i64,
    last: i64,
) -> Result<HashMap<i64, Vec<MetadataRow>>> {
    let ctx = format!("reading {table}");
    let sql = format!(
        "SELECT id, key, string_value, int_value, float_value, bool_value FROM {table} \
         WHERE id >= ?1 AND id <= ?2 ORDER BY {order}"
    );
    let mut ms = conn.prepare_cached(&sql).map_err(sql_err(ctx.clone()))?;
    let it = ms
        .query_map([first, last], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, typed_value(r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))
        })
        .map_err(sql_err(ctx.clone()))?;
    let mut out: HashMap<i64, Vec<MetadataRow>> = HashMap::new();
    for row in it {
        let (id, k, v) = row.map_err(sql_err(ctx.clone()))?;
        out.entry(id).or_default().push((k, v));
    }
    Ok(out)
}

/// One record's document, uri and metadata from its metadata rows and (1.x) array rows.
fn record_metadata(
    rows: Vec<MetadataRow>,
    arrays: Vec<MetadataRow>,
    quirks: &mut Vec<Quirk>,
) -> (Option<String>, Option<String>, LegacyMetadata) {
    let mut document = None;
    let mut uri = None;
    let mut md = LegacyMetadata::new();
    for (k, v) in rows {
        match (k.as_str(), v) {
            ("chroma:document", Some(LegacyValue::Str(s))) => document = Some(s),
            ("chroma:uri", Some(LegacyValue::Str(s))) => uri = Some(s),
            (_, Some(v)) => {
                md.insert(k, v);
            }
            (_, None) => {
                quirks.push(Quirk::ValueWithoutType { key: k.clone() });
                md.insert(k, LegacyValue::Null);
            }
        }
    }
    for (k, v) in arrays {
        let v = v.unwrap_or(LegacyValue::Null);
        match md.entry(k.clone()).or_insert_with(|| LegacyValue::List(Vec::new())) {
            LegacyValue::List(l) => l.push(v),
            _ => quirks.push(Quirk::Other(format!("key {k:?} is both a scalar and an array"))),
        }
    }
    value_quirks(&md, quirks);
    // A 1.x array (a list of scalars) is not nested.
    quirks.retain(|q| !matches!(q, Quirk::NestedValue { key } if matches!(md.get(key), Some(LegacyValue::List(l)) if l.iter().all(|x| !matches!(x, LegacyValue::List(_) | LegacyValue::Map(_))))));
    (document, uri, md)
}

impl Iterator for RecordIter<'_> {
    type Item = Result<Vec<LegacyRecord>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_batch() {
            Ok(b) if b.is_empty() => {
                self.done = true;
                None
            }
            Ok(b) => Some(Ok(b)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Parses a JSON text column value the way Python would (exposed for callers that need it).
pub fn parse_json_text(t: &str) -> Option<LegacyValue> {
    parse_python_json(t).ok()
}
