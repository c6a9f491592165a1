//! The final report: what was copied, what was skipped or changed and why, and the
//! verification result of every collection. Printable as text and as JSON.

use serde::Serialize;
use std::fmt::Write as _;

/// One value, record or collection the destination could not hold exactly, and what the
/// policy did about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// Short machine-readable code, e.g. `nan_or_inf`, `duplicate_id` (see the crate docs).
    pub kind: String,
    /// Collection name in the source.
    pub collection: String,
    /// Collection id in the source.
    pub collection_id: String,
    /// The record's id, for record-level problems.
    pub record_id: Option<String>,
    /// Where in the source (file + row, sequence id, page), for record-level problems.
    pub origin: Option<String>,
    /// What is wrong, in words.
    pub detail: String,
    /// What the policy did: `stop` (fail: nothing written), `skipped record`,
    /// `skipped collection`, or `coerced: <what changed>`.
    pub action: String,
}

/// What happened to one collection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionReport {
    /// Tenant (in source and destination).
    pub tenant: String,
    /// Database (in source and destination).
    pub database: String,
    /// Name in the source.
    pub source_name: String,
    /// Id in the source.
    pub source_id: String,
    /// Name in the destination (differs when a bad name was coerced).
    pub dest_name: Option<String>,
    /// Id in the destination (differs from the source id for HTTP destinations).
    pub dest_id: Option<String>,
    /// Records read from the source.
    pub records_read: u64,
    /// Records the destination should hold after the migration (read - skipped).
    pub records_expected: u64,
    /// Records sent to the destination by this run (0 when already migrated).
    pub records_written: u64,
    /// Records dropped by the policy.
    pub records_skipped: u64,
    /// Records changed by policy coerce.
    pub records_coerced: u64,
    /// Bytes of ids, documents, uris, metadata (as JSON) and float32 embeddings.
    pub bytes: u64,
    /// `migrated, verified`, `already migrated, verified`, `completed (resumed), verified`,
    /// `skipped`, `checked (dry run)`, `failed: ...`.
    pub status: String,
    /// Checksum of the expected content (see the crate docs), hex.
    pub checksum: String,
    /// Wall time of this collection in the write pass (write + index + verify).
    pub seconds: f64,
    /// Seconds of the read-and-check pass.
    pub check_seconds: f64,
    /// Seconds writing records.
    pub write_seconds: f64,
    /// Seconds building the index (`--build-index`).
    pub index_seconds: f64,
    /// Seconds reading back and comparing.
    pub verify_seconds: f64,
}

/// Everything a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Report {
    /// `--from`.
    pub source: String,
    /// What the source is, in words.
    pub source_kind: String,
    /// `--to` (or the destination's label).
    pub destination: String,
    /// What the destination is, in words.
    pub destination_kind: String,
    /// `--on-invalid`.
    pub policy: String,
    /// `--dry-run`.
    pub dry_run: bool,
    /// One row per source collection.
    pub collections: Vec<CollectionReport>,
    /// Records read.
    pub records: u64,
    /// Records written by this run.
    pub records_written: u64,
    /// Records dropped by the policy.
    pub records_skipped: u64,
    /// Records changed by policy coerce.
    pub records_coerced: u64,
    /// Payload bytes (see [`CollectionReport::bytes`]).
    pub bytes: u64,
    /// Wall time of the run.
    pub seconds: f64,
    /// Records per second over the whole run.
    pub records_per_second: f64,
    /// Every problem found, and what the policy did.
    pub problems: Vec<Problem>,
    /// Source-level warnings (stale 0.3.x index, lost configuration keys, new ids, ...).
    pub warnings: Vec<String>,
    /// One-line outcome: `migrated, verified`, `already migrated, verified`, `dry run: ...`,
    /// `stopped: N problem(s) ...`.
    pub outcome: String,
}

impl Report {
    /// The report as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self)
            .unwrap_or_else(|e| format!("{{\"error\": \"report not serialisable: {e}\"}}"))
    }

    /// The report as text, as `chroma-rs migrate` prints it.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "chroma-rs migrate: {}", self.outcome);
        let _ = writeln!(s, "  from: {} ({})", self.source, self.source_kind);
        let _ = writeln!(s, "  to:   {} ({})", self.destination, self.destination_kind);
        let _ =
            writeln!(s, "  policy: {}{}", self.policy, if self.dry_run { " (dry run: nothing written)" } else { "" });
        let _ = writeln!(
            s,
            "  {} collection(s), {} record(s) ({} written by this run, {} skipped, {} coerced), {}, {:.2} s, {:.0} records/s",
            self.collections.len(),
            self.records,
            self.records_written,
            self.records_skipped,
            self.records_coerced,
            human_bytes(self.bytes),
            self.seconds,
            self.records_per_second
        );
        if !self.collections.is_empty() {
            let _ = writeln!(s, "collections:");
        }
        for c in &self.collections {
            let renamed = match &c.dest_name {
                Some(n) if *n != c.source_name => format!(" -> {n}"),
                _ => String::new(),
            };
            let id = match &c.dest_id {
                Some(d) if *d != c.source_id => format!(" (id {} -> {d})", c.source_id),
                _ => format!(" (id {})", c.source_id),
            };
            let _ = writeln!(
                s,
                "  {}/{}/{}{renamed}{id}: {} read, {} expected, {} written, {} skipped, {} coerced, {}, {:.2} s: {}",
                c.tenant,
                c.database,
                c.source_name,
                c.records_read,
                c.records_expected,
                c.records_written,
                c.records_skipped,
                c.records_coerced,
                human_bytes(c.bytes),
                c.seconds,
                c.status
            );
        }
        if !self.warnings.is_empty() {
            let _ = writeln!(s, "warnings:");
            for w in &self.warnings {
                let _ = writeln!(s, "  - {w}");
            }
        }
        if !self.problems.is_empty() {
            let _ = writeln!(s, "problems ({}):", self.problems.len());
            for p in &self.problems {
                let rec = match (&p.record_id, &p.origin) {
                    (Some(id), Some(o)) => format!(" record {id:?} ({o})"),
                    (Some(id), None) => format!(" record {id:?}"),
                    _ => String::new(),
                };
                let _ = writeln!(
                    s,
                    "  - [{}] collection {:?} ({}){rec}: {} => {}",
                    p.kind, p.collection, p.collection_id, p.detail, p.action
                );
            }
        }
        s
    }
}

/// `1.5 MiB`-style sizes (`512 B` below 1 KiB).
pub fn human_bytes(b: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}
