//! The run: open both ends, check everything, write, verify, report.
//!
//! * [`endpoint`]: what `--from` / `--to` name, and opening them;
//! * [`destination`]: the writes a run makes (tenants, databases, collections, records);
//! * [`pass`]: one read pass over one collection (check, and write when asked);
//! * [`check`]: pass 1 (check everything), or the single pass into a new folder;
//! * [`write`](mod@write): pass 2 (conflicts, confirmation, writing), with [`resume`];
//! * [`verify`]: index, read back, compare;
//! * [`finish`]: report rows, totals, outcome; [`progress`]: progress bars.

mod check;
mod destination;
mod endpoint;
mod finish;
mod pass;
mod progress;
mod resume;
mod verify;
mod write;

use std::io::IsTerminal;
use std::time::Instant;

use chroma_legacy::LegacySource;
use chroma_store::folder::FolderKind;
use chroma_types::{Collection, Settings};

pub use destination::Destination;
use endpoint::{check_dest_folder, Endpoint};
use pass::Findings;

use crate::convert;
use crate::report::Report;
use crate::{MigrateArgs, MigrateError};

/// Default records per batch (read, check and write); `--batch-size` changes it, the
/// destination's `max_batch_size` caps it.
pub const DEFAULT_BATCH: usize = 10_000;

/// One run in progress: the source, where the records go, and what was found so far.
struct Run {
    args: MigrateArgs,
    t0: Instant,
    /// `--to`, or the given destination's label.
    to: String,
    dst_ep: Endpoint,
    source: Box<dyn LegacySource>,
    /// Records per read, write and read-back page.
    batch: usize,
    report: Report,
    /// Problems and warnings of the passes (moved into the report once they are over).
    found: Findings,
    /// Ask before writing (both ends of a terminal, no `--yes`, no `--quiet`).
    prompt: bool,
}

/// What writing one collection left to verify.
#[derive(Default)]
struct Written {
    /// The destination collection; `None` when there is nothing to verify (skipped, already
    /// migrated, or failed while writing).
    coll: Option<Collection>,
    records: u64,
    seconds: f64,
}

/// Runs a migration into a destination the caller made (an HTTP client, an engine...).
/// `args.to` is only used as the destination's label in the report.
pub fn run_with_destination(args: MigrateArgs, dest: Destination) -> Result<Report, MigrateError> {
    run(args, Some(dest))
}

pub(crate) fn run(args: MigrateArgs, given: Option<Destination>) -> Result<Report, MigrateError> {
    let mut run = Run::open(args, given.as_ref())?;
    let single_pass = run.single_pass_folder(given.is_some())?;
    let tds = run.source.tenants_and_databases()?;
    let colls = run.source.collections()?;
    run.found.warnings.extend(run.source.warnings());
    // Metadata keys that 0.x servers stored (`#`, `$`, empty) go as they are into a chroma-rs
    // folder; a server over HTTP answers 1.x clients, whose rules refuse them.
    let legacy_keys = match given.as_ref() {
        Some(d) => matches!(d, Destination::Folder(_)),
        None => !matches!(run.dst_ep, Endpoint::Http(_)),
    };
    let plans = convert::plan_collections(
        colls,
        run.args.on_invalid,
        legacy_keys,
        &mut run.found.problems,
        &mut run.found.warnings,
    );
    let (checked, opened, written) = match &single_pass {
        Some(path) => run.single_pass(path, &tds, plans)?,
        None => (run.check_pass(plans)?, None, Vec::new()),
    };
    run.move_findings_into_report();
    if let Some(end) = run.stop_before_writing(&checked) {
        return end;
    }
    let dest = match (opened, given) {
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => run.open_destination()?,
    };
    run.cap_batch(&dest)?;
    run.report.collections = finish::collection_reports(&checked, "pending");
    let mut failed = Vec::new();
    let written = match single_pass {
        Some(_) => written,
        None => run.write_pass(&dest, &tds, &checked, &mut failed)?,
    };
    run.verify(&dest, &checked, &written, &mut failed)?;
    run.finish(&dest, &failed)
}

impl Run {
    /// Checks the arguments, opens the source and checks (not opens) the destination.
    fn open(args: MigrateArgs, given: Option<&Destination>) -> Result<Run, MigrateError> {
        let t0 = Instant::now();
        let from = args.from.clone().ok_or_else(|| MigrateError::Usage("--from is required".into()))?;
        let to = match (&args.to, given) {
            (Some(t), _) => t.clone(),
            (None, Some(Destination::Api { label, .. })) => label.clone(),
            (None, _) => return Err(MigrateError::Usage("--to is required".into())),
        };
        let src_ep = endpoint::parse_endpoint(&from)?;
        let dst_ep = endpoint::parse_endpoint(&to)?;
        endpoint::check_not_same_folder(&src_ep, &dst_ep)?;
        let (source, source_kind) = endpoint::open_source(&src_ep, &args)?;
        // Check the destination before reading anything; open (create) it only after the check pass.
        let destination_kind = destination_kind(given, &dst_ep)?;
        let max_batch = match given {
            Some(d) => d
                .api()
                .max_batch_size()
                .map_err(MigrateError::destination("asking the destination's max_batch_size"))?,
            None => Settings::default().max_batch_size,
        };
        let batch = args.batch_size.unwrap_or(DEFAULT_BATCH).clamp(1, max_batch.max(1));
        let report = Report {
            source: endpoint::redact_url(&from),
            source_kind,
            destination: endpoint::redact_url(&to),
            destination_kind,
            policy: args.on_invalid.as_str().into(),
            dry_run: args.dry_run,
            ..Default::default()
        };
        let prompt = std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.yes && !args.quiet;
        Ok(Run { args, t0, to, dst_ep, source, batch, report, found: Findings::default(), prompt })
    }

    /// The folder to check and write in one pass, pipelined: a new (or empty) folder with
    /// nobody to ask. If the check finds a problem under policy fail, the folder is removed
    /// again, so the outcome is the same as checking first: nothing written.
    fn single_pass_folder(&self, given: bool) -> Result<Option<std::path::PathBuf>, MigrateError> {
        match &self.dst_ep {
            Endpoint::Folder(p) if !given && !self.args.dry_run && !self.prompt => {
                Ok(matches!(check_dest_folder(p)?, FolderKind::Empty).then(|| p.clone()))
            }
            _ => Ok(None),
        }
    }

    /// The passes are over: their problems and warnings (and the source's latest warnings)
    /// go into the report.
    fn move_findings_into_report(&mut self) {
        let mut found = std::mem::take(&mut self.found);
        for w in self.source.warnings() {
            if !found.warnings.contains(&w) {
                found.warnings.push(w);
            }
        }
        self.report.problems = found.problems;
        self.report.warnings = found.warnings;
    }

    fn open_destination(&mut self) -> Result<Destination, MigrateError> {
        let (d, kind) = endpoint::open_destination(&self.dst_ep, &self.args)?;
        if matches!(self.dst_ep, Endpoint::Http(_)) {
            self.report.destination_kind = kind;
        }
        Ok(d)
    }

    /// An API destination opened after the check pass caps the batch with its `max_batch_size`.
    fn cap_batch(&mut self, dest: &Destination) -> Result<(), MigrateError> {
        if let Destination::Api { .. } = dest {
            let mb = dest
                .api()
                .max_batch_size()
                .map_err(MigrateError::destination("asking the destination's max_batch_size"))?;
            self.batch = self.batch.min(mb.max(1));
        }
        Ok(())
    }
}

/// The destination's kind in words, for the report, checked before anything is read.
fn destination_kind(given: Option<&Destination>, dst_ep: &Endpoint) -> Result<String, MigrateError> {
    Ok(match (given, dst_ep) {
        (Some(Destination::Folder(_)), _) => "chroma-rs folder".to_string(),
        (Some(Destination::Api { keeps_ids, .. }), _) => {
            format!("Chroma API ({})", if *keeps_ids { "keeps ids" } else { "new ids" })
        }
        (None, Endpoint::Folder(p)) => match check_dest_folder(p)? {
            FolderKind::ChromaRs => "chroma-rs folder".to_string(),
            _ => "new chroma-rs folder".to_string(),
        },
        (None, Endpoint::Http(_)) => "Chroma server".to_string(),
        (None, Endpoint::Postgres(_)) => "chroma-rs PostgreSQL storage".to_string(),
        (None, Endpoint::ClickHouse { .. }) => return Err(endpoint::clickhouse_is_a_source_only()),
    })
}
