//! `chroma-rs migrate`: copies data of an older Chroma (or of any Chroma server) into a
//! chroma-rs data folder or into any server that speaks the Chroma API — checked first,
//! verified after, resumable, and with nothing lost silently.
//!
//! ```text
//! chroma-rs migrate --from SRC --to DST [--dry-run] [--on-invalid=fail|skip|coerce]
//!                   [--header K:V]... [--token T] [--ch-user U --ch-password P] [--yes]
//!                   [--report-json FILE] [--batch-size N] [--build-index] [--quiet]
//! ```
//!
//! **Sources** (`--from`): a Chroma 0.3.x `duckdb+parquet` folder; a 0.3.x `ClickHouse` server
//! (`clickhouse://host:8123[/database]`, `--ch-user/--ch-password`); a Chroma >= 0.4 folder
//! (`chroma.sqlite3` + HNSW segment files of 0.4.x/0.5.x/1.x: records, documents, metadata,
//! uris, collection metadata and configuration, tenants and databases); a running Chroma server
//! of any API line (`http://host:8000`: `/api/v2/heartbeat` is probed, then `/api/v1/heartbeat`),
//! read in pages of `get(limit, offset)`; chroma-rs's own stores, read through `ChromaApi` in the
//! same pages ([`api_source`]): a chroma-rs folder (when `--to` is not a folder) and its
//! PostgreSQL storage (`postgres://USER@HOST:PORT/DB`). The folder kind is detected from its files.
//!
//! **Destinations** (`--to`): a chroma-rs data folder (a missing or empty folder becomes one),
//! chroma-rs's PostgreSQL storage (`postgres://…`, written through a `chroma-cluster` node,
//! collection ids kept), or a server speaking the Chroma API v2 or v1 (chroma-rs, or Chroma 0.4.x to 1.x). Records are written in
//! batches of the destination's `max_batch_size` (or `--batch-size`, if smaller). `--header`
//! and `--token` (sent as `Authorization: Bearer T`) go to every HTTP endpoint of the run.
//!
//! # Policies (`--on-invalid`)
//! Every value the destination cannot hold exactly is a *problem*, listed in the report with
//! its collection, record id and source location. The policy decides what happens:
//!
//! * `fail` (default): a full read-and-check pass runs first; if it found any problem the run
//!   stops **before writing anything** and lists every problem. (Into a new or empty folder,
//!   with nobody to ask, check and write are one pipelined pass; a problem stops the writing
//!   and what was written is removed again, so the outcome is the same.)
//! * `skip`: the offending record is dropped (for collection-level problems: the whole
//!   collection); the report lists each one.
//! * `coerce`: the value is changed as below; problems that cannot be coerced drop the record.
//!
//! | kind | what | `coerce` does |
//! |---|---|---|
//! | `nan_or_inf` | NaN / ±Infinity metadata value | the key is dropped |
//! | `int_beyond_64_bits` | int outside i64 | stored as the string of its decimal digits |
//! | `nested_metadata` | dict value, or a list that is not a non-empty list of one scalar type (any list in collection metadata) | stored as its JSON text (a string) |
//! | `empty_metadata` | record or collection metadata `{}` | stored as no metadata (`None`) |
//! | `malformed_metadata` | metadata text that is not JSON, or JSON that is not an object | stored as `{"legacy_metadata": "<raw text>"}` |
//! | `lone_surrogate` | `\uD800`-style escapes that are not valid Unicode | each lone surrogate becomes U+FFFD |
//! | `null_value` | a metadata value that is null / has no type | the key is dropped |
//! | `bad_metadata_key` | key starting with `chroma:`; into a server over HTTP also an empty key or one starting with `#` or `$` (a chroma-rs folder takes these as 0.x servers stored them) | renamed to `_empty_key` / `_<key>` |
//! | `duplicate_id` | an id already seen in the collection | later records get `<id>#dup<n>`; the first keeps the id |
//! | `bad_collection_name` | name rejected by `chroma_types::validate::collection_name` | sanitised (`[A-Za-z0-9._-]`, trimmed) plus `-<first 8 hex of the collection id>` |
//! | `duplicate_collection_name` | two collections with one name in a database | the later one is renamed as above |
//! | `bad_hnsw_setting` | an `hnsw:*` value chroma-rs rejects | the key is removed (defaults apply), its value kept under `legacy-<key>` |
//! | `bad_configuration` | a 0.5.x/1.x configuration chroma-rs rejects | dropped (defaults + `hnsw:*` metadata apply) |
//! | `wrong_dimension` | embedding length differs from the collection's | cannot be coerced: record dropped |
//! | `missing_embedding`, `bad_embedding` | no vector / empty / non-finite (after float32 rounding) | cannot be coerced: record dropped |
//! | `null_id`, `empty_id` | the id is NULL or `""` | cannot be coerced: record dropped |
//! | `bad_collection_metadata` | collection metadata chroma-rs rejects otherwise | cannot be coerced: collection dropped |
//!
//! Not problems (held exactly): bool metadata (chroma-rs has bools), non-empty homogeneous
//! lists in record metadata (1.x arrays), non-ASCII text however it was escaped, NUL bytes in
//! ids, documents, keys and values (chroma-rs stores them byte for byte; tested), the
//! collection metadata text `"null"` of 0.3.x and record metadata JSON `null` (= no metadata).
//! Float64 vectors of 0.3.x are rounded to float32 (chroma-rs, like Chroma >= 0.4, stores
//! float32): this is the one change the migration always makes, and the verification allows.
//!
//! Source-level findings go to the report's warnings: a 0.3.x folder whose `index/` is newer
//! than its parquet files (records added after the last `persist()` are unrecoverable beyond
//! their float32 vectors; records deleted after it are still in the parquet files and are
//! migrated), configuration keys not kept (all but the HNSW settings and, into a chroma-rs
//! folder or PostgreSQL, a 1.x embedding-function description), new collection ids on HTTP
//! destinations.
//!
//! # Verification and resume
//! After a collection is written it is read back (in pages) and compared with what the source
//! should have become: record count plus an order-independent checksum — the wrapping sum of
//! per-record XXH3-128 hashes over id, document, uri, metadata (keys sorted, values typed) and
//! the embedding length, plus a float64 projection of the embeddings compared within 1e-6
//! (real Chroma moves cosine vectors by an ulp) — computed incrementally on both sides (see
//! [`checksum`]). Collection
//! metadata is compared too. Nothing of a collection is held in memory beyond one batch and
//! the ids seen (for duplicate detection).
//!
//! A run that was interrupted is resumed by running it again: collections that verify are
//! left alone ("already migrated, verified"); a partially copied one is completed (adding an
//! id that already exists is ignored by the destination) and then verified. On a chroma-rs
//! folder destination collection ids are kept; HTTP destinations assign new ids (noted in
//! the report), and collections are matched by name there.
//!
//! `--dry-run` runs the read-and-check pass and writes nothing (the destination is not opened).
//!
//! # Speed
//! Records are read and converted on the calling thread and written by a second one (at most
//! two batches between them). A folder destination gets records and vectors, not the HNSW
//! graph: the folder's next user links it in the background (queries are exact meanwhile), or
//! `--build-index` links it before the run ends. See `docs/migrate.md` for figures.

#![deny(missing_docs)]
#![warn(clippy::too_many_lines)]

use std::io::IsTerminal;

pub mod api_source;
mod args;
pub mod checksum;
pub mod convert;
mod error;
mod interactive;
mod migrate;
pub mod report;
pub mod server_source;

pub use args::MigrateArgs;
pub use convert::Policy;
pub use error::MigrateError;
pub use migrate::{run_with_destination, Destination};
pub use report::{CollectionReport, Problem, Report};

/// Runs a migration as `chroma-rs migrate` does.
pub fn run(mut args: MigrateArgs) -> Result<Report, MigrateError> {
    if args.from.is_none() {
        if !std::io::stdin().is_terminal() {
            return Err(MigrateError::Usage("--from is required when not running on a terminal".into()));
        }
        interactive::ask(&mut args)?;
    }
    if args.to.is_none() {
        return Err(MigrateError::Usage("--to is required (a chroma-rs folder or a server URL)".into()));
    }
    migrate::run(args, None)
}
