//! Storage engine of chroma-rs: `SQLite` schema and migrations, vector files, the engine behind
//! every client.
//!
//! [`Engine`] implements [`chroma_types::ChromaApi`]. It runs in two modes with one code
//! path: **ephemeral** (`SQLite` in memory, vectors only in the in-memory index) and
//! **persistent** (a data folder, see [`folder`]). `SQLite` holds tenants, databases,
//! collections, records, documents and typed metadata rows (so `where` runs as indexed SQL)
//! plus a trigram FTS5 table for `where_document`. Vectors live in one append-only float32
//! file per collection, made durable before the `SQLite` transaction that refers to them
//! commits; the HNSW graph beside it is a cache rebuilt or caught up on load.
//! `docs/design.md` describes the write and read paths and the crash invariants.
//!
//! # Modules
//!
//! * [`budget`]: a request's deadline, cancel flag and result limits, installed for the
//!   current thread by [`budget::run_with`];
//! * `engine`: the [`Engine`] type, its `impl` split by concern: opening, the catalog
//!   (tenants, databases, collections), the write path (with its pure planning step), the
//!   read path, the in-memory index and its background indexer, compaction, and the
//!   [`ChromaApi`](chroma_types::ChromaApi) impl that ties them to the API;
//! * [`folder`]: what a data folder holds, its single-process lock, the vector files;
//! * `schema`: the `SQLite` schema as checksummed, numbered migrations;
//! * `sqlfilter`: `where` / `where_document` filters compiled to SQL;
//! * `error`: `SQLite`, I/O and JSON failures as API errors that keep their cause.
//!
//! # Features
//!
//! * `testing`: makes public what only this crate's integration tests need
//!   (`Engine::open_at_version`, the `schema` and `sqlfilter` modules, raw vector-file
//!   access in [`folder`], `Engine::limit_database_pages`) and turns on the failpoints of
//!   the vector and graph file I/O (`fileio`, from `chroma-index`'s `failpoints` feature).
//!   Nothing else should enable it.

#![deny(missing_docs)]
#![warn(clippy::too_many_lines)]

pub mod budget;
mod engine;
mod error;
pub mod folder;
#[cfg(feature = "testing")]
pub mod schema;
#[cfg(not(feature = "testing"))]
mod schema;
#[cfg(feature = "testing")]
pub mod sqlfilter;
#[cfg(not(feature = "testing"))]
mod sqlfilter;

/// The failpoint layer of our own file I/O (see `chroma_index::fileio`), for fault-injection tests.
#[cfg(feature = "testing")]
pub use chroma_index::fileio;
pub use engine::{altered_config, Engine, GraphExport, PreparedBatch, VacuumReport};
