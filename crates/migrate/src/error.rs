//! Why a run did not complete ([`MigrateError`]).

use crate::report::Report;

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
    Destination(#[source] chroma_types::Error),
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
    Interrupted {
        /// Records written before the stop.
        written: u64,
        /// The report so far.
        report: Box<Report>,
    },
    /// Reading or writing a local file or stream (e.g. the answers on stdin) failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file or stream, e.g. `reading stdin`.
        context: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The thread that writes the destination panicked.
    #[error("the writer thread panicked")]
    WriterPanicked,
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

    /// [`MigrateError::Destination`] with `context` before the destination's message; the
    /// destination's error is kept as the cause.
    pub(crate) fn destination(context: &str) -> impl FnOnce(chroma_types::Error) -> MigrateError + '_ {
        move |e| {
            MigrateError::Destination(
                chroma_types::Error::new(e.kind, format!("{context}: {}", e.message)).with_source(e),
            )
        }
    }
}
