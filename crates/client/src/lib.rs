//! The chroma-rs Rust client: one API over the embedded engine (ephemeral or persistent) and
//! over HTTP (a chroma-rs server, or a Chroma server speaking API v2, or v1 for 0.4.x / 0.5.x).
//!
//! [`Client`] mirrors Chroma's Python client (`create_collection`, `get_or_create_collection`,
//! `list_collections`, ...) and hands out [`Collection`] handles with `add`, `upsert`,
//! `update`, `delete`, `get`, `query`, `count`, `peek` and `modify`. Filters are written as
//! JSON, exactly as in Python:
//!
//! ```
//! # #[cfg(feature = "embedded")]
//! # fn main() -> chroma_types::Result<()> {
//! use chroma_client::{Client, CollectionOptions, Get, Query, Records};
//! use serde_json::json;
//!
//! let client = Client::ephemeral()?;
//! let docs = client.get_or_create_collection("docs", CollectionOptions::new().metadata(json!({"hnsw:space": "cosine"})))?;
//! docs.add(
//!     Records::new(["a", "b"], vec![vec![1.0, 0.0], vec![0.0, 1.0]])
//!         .documents(["apples", "bananas"])
//!         .metadatas(vec![json!({"kind": "fruit", "n": 1}), json!({"kind": "fruit", "n": 2})]),
//! )?;
//! let hits = docs.query(Query::new(vec![vec![0.9, 0.1]]).n_results(1).r#where(json!({"n": {"$gte": 1}})))?;
//! assert_eq!(hits.ids, vec![vec!["a".to_string()]]);
//! let got = docs.get(Get::new().where_document(json!({"$contains": "nan"})))?;
//! assert_eq!(got.ids, vec!["b".to_string()]);
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "embedded"))]
//! # fn main() {}
//! ```
//!
//! Modes: [`Client::ephemeral`] (in memory), [`Client::persistent`] (a data folder),
//! [`Client::http`] / [`Client::http_with`] (a server; token or basic auth and extra headers
//! through [`HttpOptions`]), and [`Client::from_api`] for any other [`ChromaApi`].
//!
//! Features (all on by default): `embedded` (the first two modes; pulls in the storage engine
//! and `rusqlite`), `http` (the HTTP modes; pulls in an HTTP client and the [`wire`] shapes,
//! shared with `chroma-server`) and `embed` (records and queries given as text:
//! [`Records::from_documents`], [`Query::texts`], embedded by the collection's embedding
//! function, by default all-MiniLM-L6-v2 run natively by `chroma-embed`, whose files are found
//! or downloaded at first use). `tls` adds `https://` URLs.
//!
//! Modules: [`client`] (the [`Client`]), [`collection`] (the [`Collection`] handle), [`args`]
//! (the argument builders), [`http`] (the HTTP backend).

#![deny(missing_docs)]

pub mod args;
pub mod client;
pub mod collection;
#[cfg(feature = "http")]
pub mod http;
pub mod search;

/// The JSON shapes of Chroma's HTTP API (the `chroma-wire` crate).
#[cfg(feature = "http")]
pub use chroma_wire as wire;

pub use args::{CollectionOptions, Delete, Get, Query, RecordBatch, Records, Update};
pub use chroma_types::{
    ChromaApi, Database, Error, ErrorKind, GetResult, Include, Metadata, QueryResult, Result, Settings, Space, Tenant,
};
pub use client::Client;
pub use collection::Collection;
#[cfg(feature = "http")]
pub use http::{ApiLine, HttpApi, HttpOptions, TokenTransport};
