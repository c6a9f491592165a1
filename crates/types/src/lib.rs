//! Data model, validation and filter language of chroma-rs: no I/O.
//!
//! Everything above this crate (the storage engine, the Rust client, the HTTP server, the
//! migration tool) speaks in these types:
//!
//! * [`metadata`]: metadata values (str / i64 / f64 / bool and homogeneous arrays of them),
//!   with JSON conversion that keeps `1` an integer and `1.0` a float.
//! * [`filter`]: the `where` and `where_document` languages, parsed from JSON into a checked
//!   AST with Chroma's error wording, plus the [`filter::Dialect`] knobs where Chroma 0.4.x and
//!   1.x disagree.
//! * [`config`]: HNSW / distance settings from `hnsw:*` collection metadata or a 1.x
//!   `configuration` object.
//! * [`model`]: tenants, databases, collections, the request and result structs of every
//!   record operation.
//! * [`validate`]: name rules, id / embedding / metadata checks.
//! * [`api`]: the [`api::ChromaApi`] trait that the embedded engine and the HTTP client both
//!   implement, so one client type and one test suite cover every mode.
//! * [`search`]: the 1.x Search API plan (rank expressions, group-by, select) and its result.
//! * [`sparse`]: the 1.x `SparseVector` value (tagged JSON, checked, exact round trip).
//! * [`settings`]: user settings, including the refusal of Chroma 0.3.x configurations.
#![deny(missing_docs)]

pub mod api;
pub mod budget;
pub mod config;
pub mod error;
pub mod filter;
pub mod metadata;
pub mod model;
pub mod search;
pub mod settings;
pub mod sparse;
pub mod validate;

pub use api::{ChromaApi, IndexingStatus};
pub use config::{IndexConfig, Space};
pub use error::{Error, ErrorKind, Result};
pub use filter::{Dialect, Where, WhereDocument};
pub use metadata::{Metadata, MetadataValue, UpdateMetadata};
pub use model::*;
pub use settings::Settings;
pub use sparse::SparseVector;

/// The tenant every client uses unless told otherwise.
pub const DEFAULT_TENANT: &str = "default_tenant";
/// The database every client uses unless told otherwise.
pub const DEFAULT_DATABASE: &str = "default_database";
/// The fixed id Chroma gives the default database.
pub const DEFAULT_DATABASE_ID: &str = "00000000-0000-0000-0000-000000000000";
/// Version reported by `version()`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Largest number of records in one write call (Chroma 0.4.x reports the same figure:
/// `SQLite`'s variable limit divided by 6 variables per row).
pub const DEFAULT_MAX_BATCH_SIZE: usize = 41_666;
