//! The end of a run: per-collection report rows, totals, the one-line outcome, printing the
//! report, and undoing a failed single pass.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use chroma_store::folder;

use super::destination::Destination;
use super::pass::Checked;
use super::Run;
use crate::report::{CollectionReport, Report};
use crate::{MigrateArgs, MigrateError};

/// Prints the report (unless `--quiet`) and writes it to `--report-json`.
pub(super) fn finish_report(args: &MigrateArgs, report: &Report) {
    if !args.quiet {
        print!("{}", report.to_text());
    }
    if let Some(p) = &args.report_json {
        if let Err(e) = std::fs::write(p, report.to_json()) {
            eprintln!("could not write the JSON report to {}: {e}", p.display());
        }
    }
}

/// One report row per checked collection, all with `status` (skipped ones say so).
pub(super) fn collection_reports(checked: &[Checked], status: &str) -> Vec<CollectionReport> {
    checked
        .iter()
        .map(|c| CollectionReport {
            tenant: c.plan.src.tenant.clone(),
            database: c.plan.src.database.clone(),
            source_name: c.plan.src.name.clone(),
            source_id: c.plan.src.id.clone(),
            dest_name: (!c.plan.skip).then(|| c.plan.dest_name.clone()),
            dest_id: None,
            records_read: c.read,
            records_expected: c.expected.count,
            records_written: 0,
            records_skipped: c.skipped,
            records_coerced: c.coerced,
            bytes: c.bytes,
            status: if c.plan.skip { "skipped".to_string() } else { status.to_string() },
            checksum: c.expected.hex(),
            seconds: 0.0,
            check_seconds: c.check_seconds,
            write_seconds: 0.0,
            index_seconds: 0.0,
            verify_seconds: 0.0,
        })
        .collect()
}

fn totals(report: &mut Report, t0: Instant) {
    report.records = report.collections.iter().map(|c| c.records_read).sum();
    report.records_written = report.collections.iter().map(|c| c.records_written).sum();
    report.records_skipped = report.collections.iter().map(|c| c.records_skipped).sum();
    report.records_coerced = report.collections.iter().map(|c| c.records_coerced).sum();
    report.bytes = report.collections.iter().map(|c| c.bytes).sum();
    report.seconds = t0.elapsed().as_secs_f64();
    report.records_per_second = if report.seconds > 0.0 { report.records as f64 / report.seconds } else { 0.0 };
}

/// The outcome line of a run that wrote (or found everything already written).
fn outcome(report: &Report, failed: &[String]) -> String {
    let migrated: Vec<&CollectionReport> = report.collections.iter().filter(|c| c.status != "skipped").collect();
    let mut outcome = if !failed.is_empty() {
        format!("verification failed for {} collection(s): {}", failed.len(), failed.join(", "))
    } else if !migrated.is_empty() && migrated.iter().all(|c| c.status == "already migrated, verified") {
        "already migrated, verified: nothing changed".into()
    } else if migrated.is_empty() {
        "nothing to migrate".into()
    } else {
        "migrated, verified".into()
    };
    if !report.problems.is_empty() {
        let _ = write!(outcome, " ({} problem(s) handled by policy {})", report.problems.len(), report.policy);
    }
    outcome
}

impl Run {
    /// Outcome set, report printed; the report is handed out (the run is over).
    fn close(&mut self, outcome: String) -> Report {
        self.report.outcome = outcome;
        finish_report(&self.args, &self.report);
        std::mem::take(&mut self.report)
    }

    /// Ends a run stopped by the `--max-records` test hook.
    pub(super) fn interrupted(&mut self, written: u64) -> MigrateError {
        totals(&mut self.report, self.t0);
        let report =
            self.close(format!("interrupted after {written} record(s) (test hook --max-records); run again to resume"));
        MigrateError::Interrupted { written, report: Box::new(report) }
    }

    /// Ends a run before writing: policy fail found problems (an error), or a dry run.
    pub(super) fn stop_before_writing(&mut self, checked: &[Checked]) -> Option<Result<Report, MigrateError>> {
        if self.args.on_invalid == crate::Policy::Fail && !self.report.problems.is_empty() {
            self.report.collections = collection_reports(checked, "not written (problems found)");
            totals(&mut self.report, self.t0);
            let outcome = format!(
                "stopped: {} problem(s) found; nothing was written (policy fail; see --on-invalid)",
                self.report.problems.len()
            );
            return Some(Err(MigrateError::Problems(Box::new(self.close(outcome)))));
        }
        if self.args.dry_run {
            self.report.collections = collection_reports(checked, "checked (dry run)");
            totals(&mut self.report, self.t0);
            let n: u64 = self.report.collections.iter().map(|c| c.records_expected).sum();
            let outcome = format!(
                "dry run: {} collection(s), {n} record(s) would be written, {} problem(s) handled by policy {}; nothing written",
                checked.iter().filter(|c| !c.plan.skip).count(),
                self.report.problems.len(),
                self.report.policy
            );
            return Some(Ok(self.close(outcome)));
        }
        None
    }

    /// Ends a run that wrote: outcome, the background-index note, report printed.
    pub(super) fn finish(&mut self, dest: &Destination, failed: &[String]) -> Result<Report, MigrateError> {
        totals(&mut self.report, self.t0);
        let outcome = outcome(&self.report, failed);
        if !self.args.build_index && matches!(dest, Destination::Folder(_)) && self.report.records_written > 0 {
            self.report.warnings.push(
                "the HNSW graph is linked in the background when the folder is next opened (queries are exact meanwhile); \
                 pass --build-index to link it during the migration"
                    .into(),
            );
        }
        let report = self.close(outcome);
        if !failed.is_empty() {
            return Err(MigrateError::Verification(Box::new(report)));
        }
        Ok(report)
    }
}

/// Removes what a failed single pass created in a folder that was new or empty: only the
/// files chroma-rs writes (anything else that appeared meanwhile is left alone), and the folder
/// itself if this run created it and it is empty again.
pub(super) fn remove_new_folder(path: &Path, existed: bool) {
    let db = folder::DB_FILE;
    let ours = [
        db.to_string(),
        format!("{db}-wal"),
        format!("{db}-shm"),
        format!("{db}-journal"),
        folder::LOCK_FILE.to_string(),
    ];
    let mut res: std::io::Result<()> = Ok(());
    for f in &ours {
        match std::fs::remove_file(path.join(f)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => res = Err(e),
            _ => {}
        }
    }
    match std::fs::remove_dir_all(path.join("collections")) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => res = Err(e),
        _ => {}
    }
    if !existed {
        // Fails (and keeps the folder) if something else is in it.
        let _ = std::fs::remove_dir(path);
    }
    if let Err(e) = res {
        eprintln!(
            "could not remove {} after the failed check ({e}); it holds a partial copy: delete it",
            path.display()
        );
    }
}
