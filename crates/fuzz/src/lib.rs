//! # chroma-fuzz: fuzz targets for every parser of untrusted bytes
//!
//! Built on the stable toolchain (no `cargo fuzz`, no sanitizers): the binary `chroma-fuzz`
//! runs, per target, a coverage-less mutation loop ([`engine`]) seeded from the corpus kept in
//! `crates/fuzz/corpus/<target>/`, catches panics, stops inputs that run too long or take too
//! much memory, and writes a failing input to `target/fuzz-failures/<target>/` with the command
//! that replays it. Each target also runs its corpus as a plain `cargo test`
//! (`tests/corpus.rs`), so every regression input stays fixed.
//!
//! ```text
//! chroma-fuzz list
//! chroma-fuzz run [TARGET...] [--seconds 20] [--seed N]
//! chroma-fuzz replay TARGET FILE
//! ```
//!
//! The targets ([`targets`]): the `where` / `where_document` parsers, base64 embeddings, the
//! wire request bodies, every route of the real axum router over an ephemeral engine, the
//! HNSW graph file decoder, and the legacy readers (pickle, Python-style JSON, `ClickHouse`
//! rows, 0.3.x parquet files, Chroma >= 0.4 `SQLite` folders).

#![deny(missing_docs)]

pub mod engine;
pub mod targets;

use std::fmt;

/// What a target returns for one input: `Ok` with a short signature of what happened (the
/// error kind, the status; the engine keeps inputs with new signatures), or `Err` with the
/// invariant the input broke.
pub type Outcome = Result<String, String>;

/// Where a target's JSON starts, for the JSON-aware mutations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonAt {
    /// The whole input is JSON.
    Start,
    /// A first line (for the router: method and path), then JSON.
    AfterFirstLine,
}

/// One fuzz target.
pub struct Target {
    /// Its name (the corpus folder's name).
    pub name: &'static str,
    /// One line on what it feeds and what it checks.
    pub about: &'static str,
    /// Runs one input.
    pub run: fn(&[u8]) -> Outcome,
    /// Tokens the parser looks for, inserted by the mutator.
    pub dict: &'static [&'static [u8]],
    /// Whether (and where) the input is JSON.
    pub json_at: Option<JsonAt>,
    /// Inputs are cut to this many bytes.
    pub max_len: usize,
}

/// Seed inputs a target makes itself: (file name, bytes).
pub type Seeds = Vec<(String, Vec<u8>)>;

/// Why an input failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The code under test panicked (message and location).
    Panic(String),
    /// The target's invariant does not hold (e.g. a 500 answer, a lost round trip).
    Violation(String),
    /// The input took longer than the per-input time limit.
    Slow(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Panic(m) => write!(f, "panic: {m}"),
            Failure::Violation(m) => write!(f, "invariant broken: {m}"),
            Failure::Slow(m) => write!(f, "slow: {m}"),
        }
    }
}

/// Every target, in the order `chroma-fuzz run` runs them.
pub fn all_targets() -> Vec<Target> {
    targets::all()
}

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    all_targets().into_iter().find(|t| t.name == name)
}

/// Seeds a target makes itself (`chroma-fuzz seeds graph`: graph files written by the index),
/// as (file name, bytes); `None` for targets whose corpus is written by hand.
pub fn generated_seeds(target: &str) -> Option<Result<crate::Seeds, String>> {
    targets::generated_seeds(target)
}
