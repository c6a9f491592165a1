//! Pass 2: after the check pass found nothing that stops the run: conflicts are looked for
//! (before any write), the user is asked (on a terminal), and every collection is written,
//! or completed when a previous run was interrupted.

use std::time::Instant;

use chroma_types::Collection;

use super::destination::Destination;
use super::pass::{read_pass, Checked, Findings, WriteTo};
use super::progress::Bar;
use super::resume::find_existing;
use super::{Run, Written};
use crate::{interactive, MigrateError};

impl Run {
    /// Writes every checked collection; returns what each left to verify. Collections whose
    /// records changed since the check are appended to `failed`.
    pub(super) fn write_pass(
        &mut self,
        dest: &Destination,
        tds: &[(String, String)],
        checked: &[Checked],
        failed: &mut Vec<String>,
    ) -> Result<Vec<Written>, MigrateError> {
        // ---- conflicts, before any write ----
        let mut existing: Vec<Option<Collection>> = Vec::new();
        for c in checked {
            existing.push(if c.plan.skip { None } else { find_existing(dest, &c.plan)? });
        }
        if self.prompt {
            self.confirm(checked)?;
        }
        for (t, d) in tds {
            dest.ensure_tenant_db(t, d)?;
        }
        let mut written = Vec::new();
        let mut written_total = 0u64;
        for (i, (c, existing)) in checked.iter().zip(existing).enumerate() {
            if c.plan.skip {
                written.push(Written::default());
                continue;
            }
            let w = self.write_collection(dest, i, c, existing, written_total, failed)?;
            written_total += w.records;
            written.push(w);
        }
        Ok(written)
    }

    fn confirm(&self, checked: &[Checked]) -> Result<(), MigrateError> {
        let n: u64 = checked.iter().map(|c| c.expected.count).sum();
        let q = format!(
            "Write {} collection(s), {n} record(s) to {}?",
            checked.iter().filter(|c| !c.plan.skip).count(),
            super::endpoint::redact_url(&self.to)
        );
        if !interactive::confirm(&q)? {
            return Err(MigrateError::Usage("cancelled; nothing was written".into()));
        }
        Ok(())
    }

    /// Writes (or completes, or leaves alone) the `i`th collection.
    fn write_collection(
        &mut self,
        dest: &Destination,
        i: usize,
        c: &Checked,
        existing: Option<Collection>,
        written_before: u64,
        failed: &mut Vec<String>,
    ) -> Result<Written, MigrateError> {
        let ct = Instant::now();
        dest.ensure_tenant_db(&c.plan.src.tenant, &c.plan.src.database)?;
        let coll = match existing {
            Some(col) => {
                if self.already_migrated(dest, i, c, &col, ct)? {
                    return Ok(Written::default());
                }
                col
            }
            None => dest.create(&c.plan)?,
        };
        let bar = Bar::new(c.plan.dest_name.clone(), Some(c.expected.count), self.args.quiet);
        let to = WriteTo {
            dest,
            coll: coll.id,
            limit: self.args.max_records().map(|m| m.saturating_sub(written_before)),
            stop_on_problem: false,
        };
        // Problems were reported by pass 1; this read only has to meet them again.
        let mut scratch = Findings::default();
        let r =
            read_pass(self.source.as_mut(), &c.plan, self.args.on_invalid, self.batch, &mut scratch, &bar, Some(to))?;
        let cr = &mut self.report.collections[i];
        cr.records_written = r.written;
        if r.interrupted {
            bar.done(r.written, "written (interrupted)");
            cr.dest_id = Some(coll.id.to_string());
            cr.status = "interrupted".into();
            return Err(self.interrupted(written_before + r.written));
        }
        bar.done(r.written, "written");
        if r.sum != c.expected {
            cr.dest_id = Some(coll.id.to_string());
            cr.status =
                format!("failed: the source changed while migrating ({} then {})", c.expected.hex(), r.sum.hex());
            failed.push(c.plan.dest_name.clone());
            return Ok(Written { coll: None, records: r.written, seconds: 0.0 });
        }
        Ok(Written { coll: Some(coll), records: r.written, seconds: ct.elapsed().as_secs_f64() })
    }
}
