//! The command line of `chroma-rs migrate` ([`MigrateArgs`], a clap `Args` the binary flattens).

use std::path::PathBuf;

use crate::convert::Policy;

/// Command-line arguments of `chroma-rs migrate`.
// The field docs are the `--help` text: they stay plain text (no Markdown backticks).
#[allow(clippy::doc_markdown, clippy::struct_excessive_bools)]
#[derive(clap::Args, Debug, Clone, PartialEq, Default)]
pub struct MigrateArgs {
    /// Source: a folder (0.3.x parquet, Chroma >= 0.4 or chroma-rs, detected), `clickhouse://host:8123[/db]`,
    /// a Chroma server `http://host:8000`, or chroma-rs's PostgreSQL storage
    /// `postgres://USER@HOST:PORT/DB`. Asked interactively when omitted on a terminal.
    #[arg(long, value_name = "SRC")]
    pub from: Option<String>,
    /// Destination: a chroma-rs folder (new or empty folders are created), chroma-rs's PostgreSQL
    /// storage `postgres://USER@HOST:PORT/DB`, or a server URL.
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
    #[cfg(feature = "testing")]
    #[arg(long, hide = true)]
    pub max_records: Option<u64>,
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

    /// The `--max-records` test hook (always `None` without the `testing` feature).
    pub(crate) fn max_records(&self) -> Option<u64> {
        #[cfg(feature = "testing")]
        return self.max_records;
        #[cfg(not(feature = "testing"))]
        return None;
    }
}
