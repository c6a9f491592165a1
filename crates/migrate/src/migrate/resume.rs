//! Resuming: the destination collection a previous run made for a plan, and whether it
//! already holds everything (then it is left alone).

use std::time::Instant;

use chroma_types::{Collection, ErrorKind};

use super::destination::{parse_uuid, Destination};
use super::pass::Checked;
use super::verify::{dest_checksum, metadata_matches};
use super::Run;
use crate::convert::CollectionPlan;
use crate::MigrateError;

/// The destination collection a previous run made for this plan, if any. Errors on a
/// collection that is in the way but did not come from this source.
pub(super) fn find_existing(dest: &Destination, plan: &CollectionPlan) -> Result<Option<Collection>, MigrateError> {
    let api = dest.api();
    let (t, d) = (&plan.src.tenant, &plan.src.database);
    let by_name = match api.get_collection(t, d, &plan.dest_name) {
        Ok(c) => Some(c),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(MigrateError::destination("looking up a collection")(e)),
    };
    if !dest.keeps_ids() {
        return Ok(by_name);
    }
    let Some(id) = parse_uuid(&plan.src.id) else { return Ok(by_name) };
    let by_id = match api.get_collection_by_id(id) {
        Ok(c) => Some(c),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(MigrateError::destination("looking up a collection")(e)),
    };
    match (by_id, by_name) {
        (Some(c), _) if c.name != plan.dest_name || c.tenant != *t || c.database != *d => Err(MigrateError::Conflict(format!(
            "the destination has collection id {id} as {}/{}/{:?}, but the source collection is {t}/{d}/{:?}; nothing was written",
            c.tenant, c.database, c.name, plan.dest_name
        ))),
        (Some(c), _) => Ok(Some(c)),
        (None, Some(c)) => Err(MigrateError::Conflict(format!(
            "the destination already has a collection {t}/{d}/{:?} (id {}) that did not come from this source (id {}); \
             nothing was written. Migrate into a new folder, or delete or rename that collection",
            c.name, c.id, plan.src.id
        ))),
        (None, None) => Ok(None),
    }
}

impl Run {
    /// For a collection a previous run made: true (and the report says so) when it already
    /// holds exactly what this run would write; otherwise it is marked `resumed`.
    pub(super) fn already_migrated(
        &mut self,
        dest: &Destination,
        i: usize,
        c: &Checked,
        coll: &Collection,
        started: Instant,
    ) -> Result<bool, MigrateError> {
        let api = dest.api();
        let got = dest_checksum(api, coll.id, self.batch)?;
        let cr = &mut self.report.collections[i];
        if got == c.expected && metadata_matches(api, coll.id, c.plan.metadata.as_ref())? {
            cr.dest_id = Some(coll.id.to_string());
            cr.status = "already migrated, verified".into();
            cr.seconds = started.elapsed().as_secs_f64();
            if !self.args.quiet {
                eprintln!("{}: already migrated, verified ({} records)", c.plan.dest_name, got.count);
            }
            return Ok(true);
        }
        cr.status = "resumed".into();
        Ok(false)
    }
}
