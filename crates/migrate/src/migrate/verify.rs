//! After a collection is written: link its index (with `--build-index`), read it back and
//! compare it with what the source should have become (checksum and collection metadata).

use std::time::Instant;

use chroma_types::{ChromaApi, GetRequest, Include, Metadata};
use uuid::Uuid;

use super::destination::Destination;
use super::pass::Checked;
use super::progress::Bar;
use super::{Run, Written};
use crate::checksum::{Checksum, Record};
use crate::MigrateError;

/// The checksum of what the destination holds in `coll`, read back in pages of `batch`.
pub(super) fn dest_checksum(api: &dyn ChromaApi, coll: Uuid, batch: usize) -> Result<Checksum, MigrateError> {
    let mut sum = Checksum::default();
    let mut buf = Vec::new();
    let mut offset = 0usize;
    loop {
        let req = GetRequest {
            limit: Some(batch),
            offset: Some(offset),
            include: vec![Include::Embeddings, Include::Documents, Include::Metadatas, Include::Uris],
            ..Default::default()
        };
        let g = api.get(coll, req).map_err(MigrateError::destination("reading back for verification"))?;
        let n = g.ids.len();
        let mut embs = g.embeddings.unwrap_or_default().into_iter();
        let mut docs = g.documents.unwrap_or_default().into_iter();
        let mut uris = g.uris.unwrap_or_default().into_iter();
        let mut metas = g.metadatas.unwrap_or_default().into_iter();
        for id in g.ids {
            let r = Record {
                id,
                embedding: embs.next().unwrap_or_default(),
                document: docs.next().flatten(),
                uri: uris.next().flatten(),
                metadata: metas.next().flatten(),
            };
            sum.add(&r, &mut buf);
        }
        if n < batch {
            break;
        }
        offset += n;
    }
    Ok(sum)
}

/// Whether the destination collection's metadata is `expected` (`{}` counts as none).
pub(super) fn metadata_matches(
    api: &dyn ChromaApi,
    coll: Uuid,
    expected: Option<&Metadata>,
) -> Result<bool, MigrateError> {
    let c = api.get_collection_by_id(coll).map_err(MigrateError::destination("reading a collection"))?;
    let norm = |m: Option<&Metadata>| m.filter(|m| !m.is_empty()).cloned();
    Ok(norm(c.metadata.as_ref()) == norm(expected))
}

impl Run {
    /// Index (if asked) and verify every collection this run wrote; the names of those that
    /// fail are appended to `failed`.
    pub(super) fn verify(
        &mut self,
        dest: &Destination,
        checked: &[Checked],
        written: &[Written],
        failed: &mut Vec<String>,
    ) -> Result<(), MigrateError> {
        for (i, c) in checked.iter().enumerate() {
            let Some(w) = written.get(i) else { continue };
            if w.coll.is_some() {
                self.verify_one(dest, i, c, w, failed)?;
            }
        }
        Ok(())
    }

    fn verify_one(
        &mut self,
        dest: &Destination,
        i: usize,
        c: &Checked,
        w: &Written,
        failed: &mut Vec<String>,
    ) -> Result<(), MigrateError> {
        let Some(coll) = &w.coll else { return Ok(()) };
        let api = dest.api();
        let resumed = self.report.collections[i].status == "resumed";
        let cr = &mut self.report.collections[i];
        cr.dest_id = Some(coll.id.to_string());
        cr.records_written = w.records;
        cr.write_seconds = w.seconds;
        if !dest.keeps_ids() || coll.id.to_string() != c.plan.src.id {
            self.report.warnings.push(format!(
                "collection {:?}: new id {} in the destination (source id {})",
                c.plan.dest_name, coll.id, c.plan.src.id
            ));
        }
        let it = Instant::now();
        let bar = Bar::new(format!("{}: index", c.plan.dest_name), None, self.args.quiet || !self.args.build_index);
        dest.finish(coll.id, self.args.build_index, &bar).map_err(MigrateError::destination("building the index"))?;
        bar.clear();
        let index_seconds = it.elapsed().as_secs_f64();
        let vt = Instant::now();
        let got = dest_checksum(api, coll.id, self.batch)?;
        let md_ok = metadata_matches(api, coll.id, c.plan.metadata.as_ref())?;
        let cr = &mut self.report.collections[i];
        cr.index_seconds = index_seconds;
        cr.verify_seconds = vt.elapsed().as_secs_f64();
        cr.seconds = w.seconds + cr.index_seconds + cr.verify_seconds;
        if got == c.expected && md_ok {
            cr.status = if resumed { "completed (resumed), verified".into() } else { "migrated, verified".into() };
        } else {
            cr.status = format!(
                "failed: verification: destination {} vs expected {}{}",
                got.hex(),
                c.expected.hex(),
                if md_ok { "" } else { " (collection metadata differs)" }
            );
            failed.push(c.plan.dest_name.clone());
        }
        Ok(())
    }
}
