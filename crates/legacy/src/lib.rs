//! Readers of Chroma data that predates chroma-rs: 0.3.x parquet and `ClickHouse`, Chroma >= 0.4 folders.
//!
//! Every reader yields the same neutral stream: tenants/databases, [`LegacyCollection`]s and,
//! per collection, batches of [`LegacyRecord`]s with values exactly as stored. Nothing is
//! converted or validated beyond what is needed to decode; everything odd is reported as a
//! [`Quirk`] on the record/collection (or as a source-level warning), and the `migrate` crate
//! decides what to do with it. Readers never modify their source.

#![deny(missing_docs)]
#![warn(clippy::too_many_lines)]

use std::fmt;
use std::path::Path;

pub mod checks;
pub mod chroma04;
pub mod clickhouse03;
pub mod hnsw;
pub mod parquet03;
pub mod pickle;
#[cfg(feature = "testing")]
pub mod testing;
pub mod value;

pub use checks::{name_rejection, parse_metadata_text, value_quirks, NameRules, RecordChecks};
pub use chroma04::{open_chroma04, Chroma04Source};
pub use clickhouse03::{open_clickhouse03, ClickHouse03Source, ClickHouseConfig};
pub use parquet03::{open_parquet03, Parquet03Source};
pub use value::{parse_python_json, JsonError, LegacyMetadata, LegacyValue};

/// What generation of Chroma data a source holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// 0.3.x `duckdb+parquet` persist directory.
    Parquet03,
    /// 0.3.x `ClickHouse` backend (server mode).
    ClickHouse03,
    /// Chroma >= 0.4 persistent folder (`chroma.sqlite3` + hnsw segment folders).
    Chroma04Plus,
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SourceKind::Parquet03 => "chroma 0.3.x duckdb+parquet folder",
            SourceKind::ClickHouse03 => "chroma 0.3.x ClickHouse database",
            SourceKind::Chroma04Plus => "chroma >= 0.4 folder (chroma.sqlite3)",
        })
    }
}

/// Errors of the legacy readers; every variant says where it happened.
#[derive(Debug, thiserror::Error)]
pub enum LegacyError {
    /// A file (or an HTTP body being streamed) could not be read.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A parquet file could not be read.
    #[error("{context}: {source}")]
    Parquet {
        /// What was being done, naming the file.
        context: String,
        /// The cause.
        source: parquet::errors::ParquetError,
    },
    /// Decoding parquet data into arrow arrays failed.
    #[error("{context}: {source}")]
    Arrow {
        /// What was being done, naming the file.
        context: String,
        /// The cause.
        source: arrow_schema::ArrowError,
    },
    /// A `SQLite` query failed.
    #[error("{context}: {source}")]
    Sqlite {
        /// What was being done.
        context: String,
        /// The cause.
        source: rusqlite::Error,
    },
    /// An HTTP request failed (connection, TLS, timeout, reading the body).
    #[error("{context}: {source}")]
    Transport {
        /// The request, e.g. `GET http://host/api/v2/heartbeat`.
        context: String,
        /// The cause.
        source: Box<ureq::Error>,
    },
    /// A server answered, but not as expected (an HTTP error status, an odd answer).
    #[error("{context}: {message}")]
    Http {
        /// The request.
        context: String,
        /// What was wrong, with the server's words where it gave some.
        message: String,
    },
    /// Text that should be (Python-flavoured) JSON is not.
    #[error("{context}: {source}{after}")]
    Json {
        /// Where the text came from.
        context: String,
        /// The cause.
        source: JsonError,
        /// What the message shows after the cause (e.g. `: <the text>`); often empty.
        after: String,
    },
    /// A pickle file (0.3.x and hnswlib index metadata) could not be decoded.
    #[error("{context}: {source}")]
    Pickle {
        /// The file.
        context: String,
        /// The cause.
        source: pickle::PickleError,
    },
    /// A store read through the Chroma API (a chroma-rs folder, PostgreSQL) failed.
    #[error("{context}: {source}")]
    Api {
        /// What was being read.
        context: String,
        /// The cause.
        source: chroma_types::Error,
    },
    /// A step failed because of an earlier error, kept as the cause.
    #[error("{context}: {source}")]
    Context {
        /// What failed.
        context: String,
        /// The cause.
        source: Box<LegacyError>,
    },
    /// The data does not have the expected layout / encoding.
    #[error("{0}")]
    Format(String),
    /// The source cannot be read as asked (e.g. parquet files missing but `index/` present).
    #[error("{0}")]
    Unreadable(String),
}

/// `Result` with [`LegacyError`].
pub type Result<T> = std::result::Result<T, LegacyError>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LegacyError {
    let context = context.into();
    move |source| LegacyError::Io { context, source }
}

pub(crate) fn sql_err(context: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> LegacyError {
    let context = context.into();
    move |source| LegacyError::Sqlite { context, source }
}

/// A vector as stored: float64 in 0.3.x, float32 in >= 0.4.
#[derive(Debug, Clone, PartialEq)]
pub enum LegacyEmbedding {
    /// Float32, as Chroma >= 0.4 stores them.
    F32(Vec<f32>),
    /// Float64, as 0.3.x stored them.
    F64(Vec<f64>),
}

impl LegacyEmbedding {
    /// Number of components.
    pub fn len(&self) -> usize {
        match self {
            LegacyEmbedding::F32(v) => v.len(),
            LegacyEmbedding::F64(v) => v.len(),
        }
    }
    /// No components.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// As f64 (exact for F32).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            LegacyEmbedding::F32(v) => v.iter().map(|x| f64::from(*x)).collect(),
            LegacyEmbedding::F64(v) => v.clone(),
        }
    }
    /// As f32 (rounds F64 values).
    pub fn to_f32(&self) -> Vec<f32> {
        match self {
            LegacyEmbedding::F32(v) => v.clone(),
            LegacyEmbedding::F64(v) => v.iter().map(|x| *x as f32).collect(),
        }
    }
}

/// Something odd about a stored collection or record. Readers report, never fix.
#[derive(Debug, Clone, PartialEq)]
pub enum Quirk {
    /// Metadata text that is not valid JSON (metadata is `None`).
    MetadataMalformedJson {
        /// The metadata text as stored.
        raw: String,
        /// The parser's error.
        error: String,
    },
    /// Metadata JSON that is not an object, e.g. `null` on a record, `[1, 2]` (metadata is `None`).
    MetadataNotAnObject {
        /// The metadata text as stored.
        raw: String,
    },
    /// Metadata is the empty object `{}` (kept as an empty map).
    MetadataEmptyDict,
    /// A metadata value that is a list or dict.
    NestedValue {
        /// The metadata key.
        key: String,
    },
    /// A metadata value that is a bool (0.3.27-0.3.29 refuse them; older 0.3.x stored them).
    BoolValue {
        /// The metadata key.
        key: String,
    },
    /// NaN or ±Infinity.
    NonFiniteFloat {
        /// The metadata key.
        key: String,
    },
    /// An int outside the i64 range.
    IntBeyond64Bits {
        /// The metadata key.
        key: String,
    },
    /// A string with lone UTF-16 surrogates (not valid Unicode).
    BrokenUnicode {
        /// The metadata key.
        key: String,
    },
    /// A metadata key with an empty name or a NUL byte.
    OddKey {
        /// The metadata key.
        key: String,
    },
    /// A metadata value stored with every typed column NULL (e.g. NaN written to `SQLite`).
    ValueWithoutType {
        /// The metadata key.
        key: String,
    },
    /// A NUL byte in the id, document, or a metadata key/value.
    NulByte {
        /// Which field, in words (`id`, `document`, ...).
        field: String,
    },
    /// The id was NULL in the store (id is then "").
    NullId,
    /// The id was already seen in this collection at `first_origin`.
    DuplicateId {
        /// Where the first record with this id is.
        first_origin: String,
    },
    /// Embedding length differs from the collection's dimension.
    DimensionMismatch {
        /// The collection's dimension.
        expected: usize,
        /// This embedding's length.
        found: usize,
    },
    /// No vector could be found for this record.
    MissingEmbedding {
        /// Why, in words.
        detail: String,
    },
    /// Collection name that Chroma's rules reject (see [`NameRules`]: those of the release that
    /// wrote the data; for 0.3.x data those of 0.4, the first release that checked names).
    NameRejectedByNewRules {
        /// The rules' message.
        reason: String,
    },
    /// Anything else, in words.
    Other(String),
}

impl fmt::Display for Quirk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Quirk::MetadataMalformedJson { raw, error } => {
                write!(f, "metadata is not valid JSON ({error}): {}", preview(raw))
            }
            Quirk::MetadataNotAnObject { raw } => {
                write!(f, "metadata JSON is not an object: {}", preview(raw))
            }
            Quirk::MetadataEmptyDict => write!(f, "metadata is an empty dict {{}}"),
            Quirk::NestedValue { key } => write!(f, "metadata key {key:?} holds a nested list/dict"),
            Quirk::BoolValue { key } => write!(f, "metadata key {key:?} holds a bool"),
            Quirk::NonFiniteFloat { key } => write!(f, "metadata key {key:?} holds NaN or infinity"),
            Quirk::IntBeyond64Bits { key } => {
                write!(f, "metadata key {key:?} holds an int beyond 64 bits")
            }
            Quirk::BrokenUnicode { key } => {
                write!(f, "metadata key {key:?} holds a string with lone surrogates")
            }
            Quirk::OddKey { key } => write!(f, "metadata key {key:?} is empty or has a NUL byte"),
            Quirk::ValueWithoutType { key } => {
                write!(f, "metadata key {key:?} has no typed value (all value columns NULL)")
            }
            Quirk::NulByte { field } => write!(f, "NUL byte in {field}"),
            Quirk::NullId => write!(f, "id is NULL"),
            Quirk::DuplicateId { first_origin } => {
                write!(f, "duplicate id (first seen at {first_origin})")
            }
            Quirk::DimensionMismatch { expected, found } => {
                write!(f, "embedding has {found} dimensions, collection has {expected}")
            }
            Quirk::MissingEmbedding { detail } => write!(f, "no embedding: {detail}"),
            Quirk::NameRejectedByNewRules { reason } => {
                write!(f, "collection name rejected by chroma >= 0.4: {reason}")
            }
            Quirk::Other(s) => f.write_str(s),
        }
    }
}

fn preview(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// A collection as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyCollection {
    /// Collection uuid, lowercase dashed text.
    pub id: String,
    /// Collection name as stored.
    pub name: String,
    /// Raw collection metadata (incl. `hnsw:*` keys); `None` when absent / stored as `null`.
    pub metadata: Option<LegacyMetadata>,
    /// `"default_tenant"` for 0.3.x and 0.4 folders that predate tenants.
    pub tenant: String,
    /// `"default_database"` for 0.3.x and 0.4 folders that predate databases.
    pub database: String,
    /// Dimension as recorded by the store (collection row, index metadata), if any.
    pub dimension: Option<usize>,
    /// Distance function in effect: `hnsw:space` from metadata, the segment/config, else the
    /// version's default `"l2"`; the raw string, not validated.
    pub space: Option<String>,
    /// `collections.config_json_str` (0.5.x/1.x), parsed.
    pub configuration_json: Option<serde_json::Value>,
    /// The 1.x collection `schema` (`collections.schema_str`, a server's `schema` field),
    /// parsed: metadata-key indexes, a sparse vector index, the vector index's settings.
    pub schema_json: Option<serde_json::Value>,
    /// Number of stored records (rows), if cheaply known.
    pub record_count_hint: Option<u64>,
    /// What is odd about it.
    pub quirks: Vec<Quirk>,
}

/// A record as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyRecord {
    /// User id ("" with [`Quirk::NullId`] if the store had NULL).
    pub id: String,
    /// The vector, if one was found.
    pub embedding: Option<LegacyEmbedding>,
    /// The document.
    pub document: Option<String>,
    /// The uri (Chroma >= 0.5).
    pub uri: Option<String>,
    /// Raw metadata without `chroma:document`/`chroma:uri`; `None` when absent or unparseable
    /// (see quirks).
    pub metadata: Option<LegacyMetadata>,
    /// Where it came from, for error reports (file+row, seq id, table row id).
    pub origin: String,
    /// What is odd about it.
    pub quirks: Vec<Quirk>,
}

/// A reader's records of one collection, in batches.
pub type RecordBatches<'a> = Box<dyn Iterator<Item = Result<Vec<LegacyRecord>>> + 'a>;

/// One legacy store, read-only.
pub trait LegacySource {
    /// What generation of data this is.
    fn kind(&self) -> SourceKind;
    /// (tenant, database) pairs; 0.3.x has only `("default_tenant", "default_database")`.
    fn tenants_and_databases(&self) -> Result<Vec<(String, String)>>;
    /// Every collection, in the source's order.
    fn collections(&mut self) -> Result<Vec<LegacyCollection>>;
    /// All records of `collection`, in batches of at most `batch` (>= 1) records, streamed.
    fn records(&mut self, collection: &LegacyCollection, batch: usize) -> Result<RecordBatches<'_>>;
    /// Source-level warnings (stale index, missing files, ...), accumulated so far.
    fn warnings(&self) -> Vec<String>;
}

/// The tenant of data that predates tenants.
pub const DEFAULT_TENANT: &str = "default_tenant";
/// The database of data that predates databases.
pub const DEFAULT_DATABASE: &str = "default_database";

/// Says what a folder holds without modifying it: `Some(kind)` or `None` if it is not a
/// recognisable Chroma folder. A folder with both `chroma.sqlite3` and 0.3.x parquet files
/// (0.4 opened on a 0.3 folder) counts as `Parquet03` when `chroma.sqlite3` has no collections.
pub fn detect_folder(path: &Path) -> Result<Option<SourceKind>> {
    let meta = std::fs::metadata(path).map_err(io_err(format!("reading {}", path.display())))?;
    if !meta.is_dir() {
        return Err(LegacyError::Unreadable(format!("{} is not a folder", path.display())));
    }
    let legacy = parquet03::looks_like_parquet03(path);
    let sqlite = path.join("chroma.sqlite3").is_file();
    match (legacy, sqlite) {
        (false, false) => Ok(None),
        (true, false) => Ok(Some(SourceKind::Parquet03)),
        (false, true) => Ok(Some(SourceKind::Chroma04Plus)),
        (true, true) => {
            let n = chroma04::count_collections(&path.join("chroma.sqlite3")).unwrap_or(0);
            Ok(Some(if n > 0 { SourceKind::Chroma04Plus } else { SourceKind::Parquet03 }))
        }
    }
}

/// Opens whatever [`detect_folder`] finds.
pub fn open_folder(path: &Path) -> Result<Box<dyn LegacySource>> {
    match detect_folder(path)? {
        Some(SourceKind::Parquet03) => Ok(Box::new(open_parquet03(path)?)),
        Some(SourceKind::Chroma04Plus) => Ok(Box::new(open_chroma04(path)?)),
        Some(SourceKind::ClickHouse03) | None => Err(LegacyError::Unreadable(format!(
            "{} holds no Chroma data (no chroma.sqlite3, no chroma-*.parquet, no index/)",
            path.display()
        ))),
    }
}
