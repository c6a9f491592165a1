//! One read pass over one collection: every record is converted and checked (problems are
//! collected, the checksum of what is to be written is summed) and, when the pass writes,
//! sent to a second thread that writes it, so reading and writing overlap.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use chroma_legacy::{LegacyRecord, LegacySource};
use uuid::Uuid;

use super::destination::{Batch, Destination};
use super::progress::Bar;
use crate::checksum::{Checksum, Record};
use crate::convert::{self, CollectionPlan, Policy, RecordCtx};
use crate::report::Problem;
use crate::MigrateError;

/// What the checks found so far: problems (handled by the policy) and warnings.
#[derive(Default)]
pub(super) struct Findings {
    pub(super) problems: Vec<Problem>,
    pub(super) warnings: Vec<String>,
}

/// Where a read pass sends its records.
pub(super) struct WriteTo<'a> {
    pub(super) dest: &'a Destination,
    pub(super) coll: Uuid,
    /// Test hook (`--max-records`): records this pass may write before it stops as if interrupted.
    pub(super) limit: Option<u64>,
    /// Stop writing (and go on checking) at the first problem: policy fail in the single pass.
    pub(super) stop_on_problem: bool,
}

/// What a read pass found and wrote.
#[derive(Default)]
pub(super) struct PassResult {
    pub(super) read: u64,
    pub(super) sum: Checksum,
    pub(super) skipped: u64,
    pub(super) coerced: u64,
    pub(super) bytes: u64,
    pub(super) written: u64,
    pub(super) interrupted: bool,
}

/// Per collection: what the check pass found.
pub(super) struct Checked {
    pub(super) plan: CollectionPlan,
    pub(super) read: u64,
    pub(super) expected: Checksum,
    pub(super) skipped: u64,
    pub(super) coerced: u64,
    pub(super) bytes: u64,
    pub(super) check_seconds: f64,
}

impl Checked {
    pub(super) fn new(plan: CollectionPlan, r: &PassResult, check_seconds: f64) -> Checked {
        Checked {
            plan,
            read: r.read,
            expected: r.sum,
            skipped: r.skipped,
            coerced: r.coerced,
            bytes: r.bytes,
            check_seconds,
        }
    }
}

/// The state of one pass: the collection, the policy, what was found and counted.
struct Converter<'a> {
    plan: &'a CollectionPlan,
    policy: Policy,
    ctx: RecordCtx,
    buf: Vec<u8>,
    found: &'a mut Findings,
    result: PassResult,
}

impl Converter<'_> {
    /// Converts one record and counts it: `Some` when it is to be written (then it is in the
    /// checksum), `None` when the policy dropped it (problems appended).
    fn convert(&mut self, rec: LegacyRecord) -> Option<Record> {
        let found = &mut *self.found;
        let converted = convert::convert_record(
            rec,
            self.plan,
            self.policy,
            &mut self.ctx,
            &mut found.problems,
            &mut found.warnings,
        );
        let Some((rec, coerced)) = converted else {
            self.result.skipped += 1;
            return None;
        };
        self.result.coerced += u64::from(coerced);
        self.result.bytes += convert::record_bytes(&rec);
        self.result.sum.add(&rec, &mut self.buf);
        Some(rec)
    }
}

/// Reads one collection, converting and checking every record (problems appended) and
/// summing the checksum of what is to be written. With `to`, the records are also written,
/// by a second thread, so reading and writing overlap; at most two batches wait between them.
pub(super) fn read_pass(
    source: &mut dyn LegacySource,
    plan: &CollectionPlan,
    policy: Policy,
    batch: usize,
    found: &mut Findings,
    bar: &Bar,
    to: Option<WriteTo<'_>>,
) -> Result<PassResult, MigrateError> {
    let mut conv =
        Converter { plan, policy, ctx: RecordCtx::default(), buf: Vec::new(), found, result: PassResult::default() };
    match to {
        None => check_only(source, &mut conv, batch, bar)?,
        Some(to) => check_and_write(source, &mut conv, batch, bar, &to)?,
    }
    Ok(conv.result)
}

fn check_only(
    source: &mut dyn LegacySource,
    conv: &mut Converter<'_>,
    batch: usize,
    bar: &Bar,
) -> Result<(), MigrateError> {
    for b in source.records(&conv.plan.src, batch)? {
        let b = b?;
        conv.result.read += b.len() as u64;
        bar.inc(b.len() as u64);
        if conv.plan.skip {
            conv.result.skipped += b.len() as u64;
            continue;
        }
        for rec in b {
            conv.convert(rec);
        }
    }
    Ok(())
}

fn check_and_write(
    source: &mut dyn LegacySource,
    conv: &mut Converter<'_>,
    batch: usize,
    bar: &Bar,
    to: &WriteTo<'_>,
) -> Result<(), MigrateError> {
    let (dest, coll) = (to.dest, to.coll);
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Batch>(2);
        let writer = scope.spawn(move || write_batches(dest, coll, &rx, bar));
        let read = feed(source, conv, batch, to, &tx);
        drop(tx);
        let written = writer.join().map_err(|_| MigrateError::WriterPanicked)?;
        conv.result.written = written?;
        read
    })
}

/// The writing thread: writes every batch it receives; returns the number of records written.
fn write_batches(dest: &Destination, coll: Uuid, rx: &Receiver<Batch>, bar: &Bar) -> Result<u64, MigrateError> {
    let mut n = 0u64;
    for b in rx {
        let k = b.len() as u64;
        dest.write(coll, b).map_err(MigrateError::destination("adding records"))?;
        n += k;
        bar.inc(k);
    }
    Ok(n)
}

/// The reading side of [`check_and_write`]: converts records and sends them in batches.
fn feed(
    source: &mut dyn LegacySource,
    conv: &mut Converter<'_>,
    batch: usize,
    to: &WriteTo<'_>,
    tx: &SyncSender<Batch>,
) -> Result<(), MigrateError> {
    let prepare = |recs| to.dest.prepare(to.coll, recs).map_err(MigrateError::destination("adding records"));
    let mut pending: Vec<Record> = Vec::with_capacity(batch);
    let mut sent = 0u64;
    let mut writing = true;
    for b in source.records(&conv.plan.src, batch)? {
        let b = b?;
        conv.result.read += b.len() as u64;
        for rec in b {
            let converted = conv.convert(rec);
            if let (Some(rec), true) = (converted, writing) {
                pending.push(rec);
            }
            if writing && to.stop_on_problem && !conv.found.problems.is_empty() {
                writing = false;
                pending = Vec::new();
            }
            let limit_hit = to.limit.is_some_and(|m| sent + pending.len() as u64 >= m);
            if writing && (pending.len() >= batch || limit_hit) {
                sent += pending.len() as u64;
                let b = prepare(std::mem::replace(&mut pending, Vec::with_capacity(batch)))?;
                if tx.send(b).is_err() {
                    return Ok(()); // the writer stopped: its error is returned by the caller
                }
                if limit_hit {
                    conv.result.interrupted = true;
                    return Ok(());
                }
            }
        }
    }
    if writing && !pending.is_empty() {
        let _ = tx.send(prepare(pending)?);
    }
    Ok(())
}
