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
//! **Sources** (`--from`): a Chroma 0.3.x duckdb+parquet folder; a 0.3.x ClickHouse server
//! (`clickhouse://host:8123[/database]`, `--ch-user/--ch-password`); a Chroma >= 0.4 folder
//! (`chroma.sqlite3` + HNSW segment files of 0.4.x/0.5.x/1.x: records, documents, metadata,
//! uris, collection metadata and configuration, tenants and databases); a running Chroma server
//! of any API line (`http://host:8000`: `/api/v2/heartbeat` is probed, then `/api/v1/heartbeat`),
//! read in pages of `get(limit, offset)`. The folder kind is detected from its files.
//!
//! **Destinations** (`--to`): a chroma-rs data folder (a missing or empty folder becomes one),
//! or a server speaking the Chroma API v2 or v1 (chroma-rs, or Chroma 0.4.x to 1.x). Records are written in
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
//! | `bad_metadata_key` | empty key, or key starting with `chroma:`, `#`, `$` | renamed to `_empty_key` / `_<key>` |
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
//! migrated), configuration keys chroma-rs does not keep (embedding functions), new collection
//! ids on HTTP destinations.
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

use std::io::IsTerminal;
use std::path::PathBuf;

pub mod checksum;
pub mod convert;
mod interactive;
mod migrate;
pub mod report;
pub mod server_source;

pub use convert::Policy;
pub use migrate::{run_with_destination, Destination};
pub use report::{CollectionReport, Problem, Report};

/// Command-line arguments of `chroma-rs migrate`.
#[derive(clap::Args, Debug, Clone, PartialEq)]
pub struct MigrateArgs {
    /// Source: a folder (0.3.x parquet or Chroma >= 0.4, detected), `clickhouse://host:8123[/db]`,
    /// or a Chroma server `http://host:8000`. Asked interactively when omitted on a terminal.
    #[arg(long, value_name = "SRC")]
    pub from: Option<String>,
    /// Destination: a chroma-rs folder (new or empty folders are created) or a server URL.
    #[arg(long, value_name = "DST")]
    pub to: Option<String>,
    /// Read and check everything, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// What to do with values the destination cannot hold exactly.
    #[arg(long, value_enum, default_value_t = Policy::Fail, value_name = "POLICY")]
    pub on_invalid: Policy,
    /// Extra HTTP header for server endpoints, `Name:Value` (repeatable).
    #[arg(long = "header", value_name = "K:V")]
    pub headers: Vec<String>,
    /// Token for server endpoints, sent as `Authorization: Bearer <T>`.
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// ClickHouse user.
    #[arg(long, value_name = "U")]
    pub ch_user: Option<String>,
    /// ClickHouse password.
    #[arg(long, value_name = "P")]
    pub ch_password: Option<String>,
    /// Do not ask for confirmation before writing.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also write the report as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub report_json: Option<PathBuf>,
    /// Records per write (default and maximum: the destination's max_batch_size).
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// No progress bars, no report on stdout (the report is still returned / written as JSON).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Folder destinations: link each collection's HNSW graph before finishing (all cores;
    /// about 5,000 records/s for 384-d vectors). Without it the migration stores the vectors
    /// and the graph is linked in the background by whoever opens the folder next; queries
    /// are exact (a scan) until then.
    #[arg(long)]
    pub build_index: bool,
    /// Test hook: stop (as if interrupted) once this many records have been written.
    #[arg(long, hide = true)]
    pub max_records: Option<u64>,
}

impl Default for MigrateArgs {
    fn default() -> Self {
        MigrateArgs {
            from: None,
            to: None,
            dry_run: false,
            on_invalid: Policy::Fail,
            headers: Vec::new(),
            token: None,
            ch_user: None,
            ch_password: None,
            yes: false,
            report_json: None,
            batch_size: None,
            quiet: false,
            build_index: false,
            max_records: None,
        }
    }
}

#[derive(clap::Parser)]
#[command(name = "migrate")]
struct Wrapper {
    #[command(flatten)]
    args: MigrateArgs,
}

impl MigrateArgs {
    /// Parses arguments as the `migrate` subcommand would (handy for tests and embedding).
    pub fn parse_from<I, T>(args: I) -> Result<MigrateArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let it = std::iter::once(std::ffi::OsString::from("migrate")).chain(args.into_iter().map(Into::into));
        Wrapper::try_parse_from(it).map(|w| w.args)
    }
}

/// Why a run did not complete. Variants that carry a report have it filled in as far as the
/// run got (and it has been printed / written to `--report-json` already).
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// Bad arguments or endpoints.
    #[error("{0}")]
    Usage(String),
    /// The source could not be read.
    #[error("reading the source: {0}")]
    Source(#[from] chroma_legacy::LegacyError),
    /// The destination refused or failed.
    #[error("writing the destination: {0}")]
    Destination(chroma_types::Error),
    /// Policy `fail` found problems: nothing was written.
    #[error("{} problem(s) found; nothing was written (policy fail). Re-run with --on-invalid=skip or --on-invalid=coerce, or fix the source", .0.problems.len())]
    Problems(Box<Report>),
    /// A collection in the destination does not match what was copied.
    #[error("verification failed: {}", .0.outcome)]
    Verification(Box<Report>),
    /// The destination already has a collection that did not come from this source.
    #[error("{0}")]
    Conflict(String),
    /// Stopped by the `--max-records` test hook or by the user.
    #[error("interrupted after {written} record(s); run the same command again to resume")]
    Interrupted { written: u64, report: Box<Report> },
    #[error("{0}")]
    Io(String),
}

impl MigrateError {
    /// The report, when the run got far enough to have one.
    pub fn report(&self) -> Option<&Report> {
        match self {
            MigrateError::Problems(r) | MigrateError::Verification(r) => Some(r),
            MigrateError::Interrupted { report, .. } => Some(report),
            _ => None,
        }
    }
}

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
