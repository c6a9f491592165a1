//! Pass 1: read and check every collection, writing nothing; or, into a new (or empty) folder
//! with nobody to ask, the single pass that checks and writes at once.

use std::path::Path;
use std::time::Instant;

use super::destination::Destination;
use super::finish::{collection_reports, remove_new_folder};
use super::pass::{read_pass, Checked, PassResult, WriteTo};
use super::progress::Bar;
use super::{endpoint, Run, Written};
use crate::convert::{CollectionPlan, Policy};
use crate::MigrateError;

/// What the single pass did: what was checked, the destination (unless it was removed
/// again) and what was written.
pub(super) type SinglePass = (Vec<Checked>, Option<Destination>, Vec<Written>);

impl Run {
    /// Reads and checks one collection, writing nothing.
    fn check_collection(&mut self, plan: CollectionPlan) -> Result<Checked, MigrateError> {
        let ct = Instant::now();
        let bar = Bar::new(format!("checking {}", plan.src.name), plan.src.record_count_hint, self.args.quiet);
        let r = read_pass(self.source.as_mut(), &plan, self.args.on_invalid, self.batch, &mut self.found, &bar, None)?;
        bar.done(r.read, "checked");
        Ok(Checked::new(plan, &r, ct.elapsed().as_secs_f64()))
    }

    /// Pass 1: reads and checks everything.
    pub(super) fn check_pass(&mut self, plans: Vec<CollectionPlan>) -> Result<Vec<Checked>, MigrateError> {
        plans.into_iter().map(|plan| self.check_collection(plan)).collect()
    }

    /// Checks and writes everything in one pass into the new (or empty) folder `path`. Under
    /// policy fail a problem stops the writing, and what was written is removed again.
    /// Returns what was checked, the destination (unless it was removed) and what was written.
    pub(super) fn single_pass(
        &mut self,
        path: &Path,
        tds: &[(String, String)],
        plans: Vec<CollectionPlan>,
    ) -> Result<SinglePass, MigrateError> {
        let existed = path.exists();
        let d = endpoint::open_destination(&self.dst_ep, &self.args)?.0;
        for (t, db) in tds {
            d.ensure_tenant_db(t, db)?;
        }
        let mut checked = Vec::new();
        let mut written = Vec::new();
        let mut written_total = 0u64;
        for plan in plans {
            if plan.skip {
                checked.push(self.check_collection(plan)?);
                written.push(Written::default());
                continue;
            }
            let ct = Instant::now();
            let (coll, r) = self.write_in_single_pass(&d, &plan, written_total)?;
            written_total += r.written;
            let interrupted = r.interrupted;
            let seconds = ct.elapsed().as_secs_f64();
            checked.push(Checked::new(plan, &r, seconds));
            written.push(Written { coll: Some(coll), records: r.written, seconds });
            if interrupted {
                return Err(self.interrupted_single_pass(&checked, &written, written_total));
            }
        }
        if self.args.on_invalid == Policy::Fail && !self.found.problems.is_empty() {
            // Undo: the folder was new or empty before this run.
            drop(d);
            remove_new_folder(path, existed);
            return Ok((checked, None, written));
        }
        Ok((checked, Some(d), written))
    }

    /// Creates the collection of `plan` and reads, checks and writes its records.
    fn write_in_single_pass(
        &mut self,
        d: &Destination,
        plan: &CollectionPlan,
        written_before: u64,
    ) -> Result<(chroma_types::Collection, PassResult), MigrateError> {
        d.ensure_tenant_db(&plan.src.tenant, &plan.src.database)?;
        let coll = d.create(plan)?;
        let bar = Bar::new(plan.dest_name.clone(), plan.src.record_count_hint, self.args.quiet);
        let to = WriteTo {
            dest: d,
            coll: coll.id,
            limit: self.args.max_records().map(|m| m.saturating_sub(written_before)),
            stop_on_problem: self.args.on_invalid == Policy::Fail,
        };
        let r =
            read_pass(self.source.as_mut(), plan, self.args.on_invalid, self.batch, &mut self.found, &bar, Some(to))?;
        bar.done(
            r.read,
            if r.interrupted { "read, written in part (interrupted)" } else { "read, checked and written" },
        );
        Ok((coll, r))
    }

    fn interrupted_single_pass(&mut self, checked: &[Checked], written: &[Written], total: u64) -> MigrateError {
        let found = std::mem::take(&mut self.found);
        self.report.problems = found.problems;
        self.report.warnings = found.warnings;
        self.report.collections = collection_reports(checked, "interrupted");
        for (c, w) in self.report.collections.iter_mut().zip(written) {
            c.records_written = w.records;
        }
        self.interrupted(total)
    }
}
