//! The run: open both ends, check everything, write, verify, report.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chroma_legacy::{LegacySource, SourceKind};
use chroma_store::folder::{self, FolderKind};
use chroma_store::Engine;
use chroma_types::{
    AddRequest, ChromaApi, Collection, CreateCollection, ErrorKind, GetRequest, Include, Metadata, Settings,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use uuid::Uuid;

use crate::checksum::{Checksum, Record};
use crate::convert::{self, CollectionPlan, Policy, RecordCtx};
use crate::report::{CollectionReport, Problem, Report};
use crate::server_source::ServerSource;
use crate::{interactive, MigrateArgs, MigrateError};

/// Default records per batch (read, check and write); `--batch-size` changes it, the
/// destination's `max_batch_size` caps it.
pub const DEFAULT_BATCH: usize = 10_000;

/// Where the records go.
pub enum Destination {
    /// A chroma-rs data folder, written through the embedded engine (bulk load: the HNSW
    /// graph is built once per collection at the end; collection ids are kept).
    Folder(Engine),
    /// Anything that implements the Chroma API (an HTTP client, an in-process engine).
    /// `keeps_ids`: whether `CreateCollection.id` is honoured.
    Api { api: Box<dyn ChromaApi>, label: String, keeps_ids: bool },
}

impl Destination {
    fn api(&self) -> &dyn ChromaApi {
        match self {
            Destination::Folder(e) => e,
            Destination::Api { api, .. } => api.as_ref(),
        }
    }
    fn keeps_ids(&self) -> bool {
        match self {
            Destination::Folder(_) => true,
            Destination::Api { keeps_ids, .. } => *keeps_ids,
        }
    }
    /// Turns records into what [`write`](Self::write) takes; for a folder this validates and
    /// converts them (the engine's `prepare_bulk`), so the reading thread does that work.
    fn prepare(&self, coll: Uuid, recs: Vec<Record>) -> chroma_types::Result<Batch> {
        let req = add_request(recs);
        match self {
            Destination::Folder(e) => e.prepare_bulk(coll, req).map(Batch::Prepared),
            Destination::Api { .. } => Ok(Batch::Request(req)),
        }
    }
    fn write(&self, coll: Uuid, batch: Batch) -> chroma_types::Result<()> {
        match (self, batch) {
            (Destination::Folder(e), Batch::Prepared(b)) => e.bulk_add_prepared(b),
            (Destination::Folder(e), Batch::Request(r)) => e.bulk_add(coll, r),
            (Destination::Api { api, .. }, Batch::Request(r)) => api.add(coll, r),
            (Destination::Api { .. }, Batch::Prepared(_)) => {
                Err(chroma_types::Error::internal("a prepared folder batch was sent to an API destination"))
            }
        }
    }
    /// Links a folder collection's graph now when asked (`--build-index`); otherwise the
    /// folder's next user links it in the background.
    fn finish(&self, coll: Uuid, build_index: bool, bar: &Bar) -> chroma_types::Result<()> {
        match self {
            Destination::Folder(e) if build_index => e.build_index(coll, &|linked, total| {
                bar.set_message(format!("linking the index {linked}/{total}"));
            }),
            _ => Ok(()),
        }
    }
}

/// A batch on its way from the reading thread to the writing one.
enum Batch {
    Prepared(chroma_store::PreparedBatch),
    Request(AddRequest),
}

impl Batch {
    fn len(&self) -> usize {
        match self {
            Batch::Prepared(b) => b.len(),
            Batch::Request(r) => r.ids.len(),
        }
    }
}

enum Endpoint {
    Folder(PathBuf),
    ClickHouse { host: String, port: u16, database: String },
    Http(String),
}

fn parse_endpoint(s: &str) -> Result<Endpoint, MigrateError> {
    if let Some(rest) = s.strip_prefix("clickhouse://") {
        let (hostport, db) = match rest.split_once('/') {
            Some((h, d)) if !d.trim_matches('/').is_empty() => (h, d.trim_matches('/').to_string()),
            Some((h, _)) => (h, "default".to_string()),
            None => (rest, "default".to_string()),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => match p.parse::<u16>() {
                Ok(p) => (h.trim_matches(|c| c == '[' || c == ']').to_string(), p),
                Err(_) => return Err(MigrateError::Usage(format!("bad port in {s:?}"))),
            },
            _ => (hostport.to_string(), 8123),
        };
        if host.is_empty() {
            return Err(MigrateError::Usage(format!("no host in {s:?}")));
        }
        return Ok(Endpoint::ClickHouse { host, port, database: db });
    }
    if s.starts_with("http://") || s.starts_with("https://") {
        return Ok(Endpoint::Http(s.to_string()));
    }
    if s.contains("://") {
        return Err(MigrateError::Usage(format!(
            "{s:?}: unknown scheme (use a folder path, clickhouse://host:8123 or http://host:8000)"
        )));
    }
    Ok(Endpoint::Folder(PathBuf::from(s)))
}

fn headers(args: &MigrateArgs) -> Result<Vec<(String, String)>, MigrateError> {
    let mut out = Vec::new();
    for h in &args.headers {
        let Some((k, v)) = h.split_once(':') else {
            return Err(MigrateError::Usage(format!("--header {h:?}: expected Name:Value")));
        };
        if k.trim().is_empty() {
            return Err(MigrateError::Usage(format!("--header {h:?}: empty name")));
        }
        out.push((k.trim().to_string(), v.trim().to_string()));
    }
    if let Some(t) = &args.token {
        out.push(("Authorization".into(), format!("Bearer {t}")));
    }
    Ok(out)
}

fn open_source(ep: &Endpoint, args: &MigrateArgs) -> Result<(Box<dyn LegacySource>, String), MigrateError> {
    match ep {
        Endpoint::Folder(p) => {
            if !p.exists() {
                return Err(MigrateError::Usage(format!("source {} does not exist", p.display())));
            }
            if folder::detect(p).map_err(MigrateError::Destination)? == FolderKind::ChromaRs {
                return Err(MigrateError::Usage(format!(
                    "source {} is already a chroma-rs folder: nothing to migrate",
                    p.display()
                )));
            }
            match chroma_legacy::detect_folder(p)? {
                Some(SourceKind::Parquet03) => {
                    Ok((Box::new(chroma_legacy::open_parquet03(p)?), SourceKind::Parquet03.to_string()))
                }
                Some(SourceKind::Chroma04Plus) => {
                    Ok((Box::new(chroma_legacy::open_chroma04(p)?), SourceKind::Chroma04Plus.to_string()))
                }
                _ => Err(MigrateError::Usage(format!(
                    "source {} holds no Chroma data (no chroma.sqlite3, no chroma-*.parquet, no index/)",
                    p.display()
                ))),
            }
        }
        Endpoint::ClickHouse { host, port, database } => {
            let mut cfg = chroma_legacy::ClickHouseConfig::new(host.clone(), *port)
                .with_credentials(args.ch_user.clone(), args.ch_password.clone());
            cfg.database = database.clone();
            Ok((Box::new(chroma_legacy::open_clickhouse03(cfg)?), SourceKind::ClickHouse03.to_string()))
        }
        Endpoint::Http(url) => {
            let s = ServerSource::connect(url, headers(args)?)?;
            let kind = format!(
                "Chroma server, API {} (version {})",
                if s.api == crate::server_source::ApiLine::V2 { "v2" } else { "v1" },
                if s.version.is_empty() { "unknown" } else { &s.version }
            );
            Ok((Box::new(s), kind))
        }
    }
}

fn check_dest_folder(p: &Path) -> Result<FolderKind, MigrateError> {
    let kind = folder::detect(p).map_err(MigrateError::Destination)?;
    match kind {
        FolderKind::Empty | FolderKind::ChromaRs => Ok(kind),
        FolderKind::Chroma03Parquet | FolderKind::Chroma04Plus => Err(MigrateError::Usage(format!(
            "destination {} holds legacy Chroma data; choose a new (or empty) folder for chroma-rs",
            p.display()
        ))),
        FolderKind::Other => Err(MigrateError::Usage(format!(
            "destination {} is not empty and not a chroma-rs folder; choose a new (or empty) folder",
            p.display()
        ))),
    }
}

fn open_destination(ep: &Endpoint, args: &MigrateArgs) -> Result<(Destination, String), MigrateError> {
    match ep {
        Endpoint::Folder(p) => {
            let kind = check_dest_folder(p)?;
            let e = Engine::open(p, Settings::default()).map_err(MigrateError::Destination)?;
            // The graph is linked by the folder's next user (or now, with --build-index).
            e.set_background_indexing(false);
            let what = if kind == FolderKind::Empty { "new chroma-rs folder" } else { "chroma-rs folder" };
            Ok((Destination::Folder(e), what.to_string()))
        }
        Endpoint::ClickHouse { .. } => {
            Err(MigrateError::Usage("ClickHouse is a source only; migrate to a folder or a Chroma server".into()))
        }
        Endpoint::Http(url) => {
            let mut opts = chroma_client::HttpOptions::new(url.clone());
            for (k, v) in headers(&MigrateArgs { token: None, ..args.clone() })? {
                opts = opts.header(k, v);
            }
            if let Some(t) = &args.token {
                opts = opts.token(t.clone());
            }
            let api = chroma_client::HttpApi::new(opts).map_err(MigrateError::Destination)?;
            api.heartbeat().map_err(dest_err(&format!("connecting to {url}")))?;
            let version = api.version().unwrap_or_default();
            let line = match api.api_line() {
                Ok(chroma_client::ApiLine::V1) => "v1",
                _ => "v2",
            };
            Ok((
                Destination::Api { api: Box::new(api), label: url.clone(), keeps_ids: false },
                format!("Chroma server, API {line} (version {version})"),
            ))
        }
    }
}

struct Bar {
    bar: Option<ProgressBar>,
    quiet: bool,
    label: String,
    start: Instant,
}

impl Bar {
    fn new(label: String, len: Option<u64>, quiet: bool) -> Bar {
        let bar = if !quiet && std::io::stderr().is_terminal() {
            let b = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix:.bold} [{bar:30}] {human_pos}/{human_len} {per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            b.set_style(style);
            b.set_prefix(label.clone());
            b.enable_steady_tick(Duration::from_millis(200));
            Some(b)
        } else {
            None
        };
        Bar { bar, quiet, label, start: Instant::now() }
    }
    fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn clear(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
    fn set_message(&self, m: String) {
        if let Some(b) = &self.bar {
            b.set_message(m);
        }
    }
    fn done(self, n: u64, what: &str) {
        let secs = self.start.elapsed().as_secs_f64();
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
        if !self.quiet {
            let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
            eprintln!("{}: {n} records {what} in {secs:.2} s ({rate:.0} records/s)", self.label);
        }
    }
}

fn parse_uuid(s: &str) -> Option<Uuid> {
    Uuid::parse_str(s).ok()
}

/// Per collection: what the check pass found.
struct Checked {
    plan: CollectionPlan,
    read: u64,
    expected: Checksum,
    skipped: u64,
    coerced: u64,
    bytes: u64,
    check_seconds: f64,
}

fn finish_report(args: &MigrateArgs, report: &Report) {
    if !args.quiet {
        print!("{}", report.to_text());
    }
    if let Some(p) = &args.report_json {
        if let Err(e) = std::fs::write(p, report.to_json()) {
            eprintln!("could not write the JSON report to {}: {e}", p.display());
        }
    }
}

fn dest_err(context: &str) -> impl FnOnce(chroma_types::Error) -> MigrateError + '_ {
    move |e| MigrateError::Destination(chroma_types::Error::new(e.kind, format!("{context}: {}", e.message)))
}

/// Runs a migration into a destination the caller made (an HTTP client, an engine...).
/// `args.to` is only used as the destination's label in the report.
pub fn run_with_destination(args: MigrateArgs, dest: Destination) -> Result<Report, MigrateError> {
    run(args, Some(dest))
}

pub(crate) fn run(args: MigrateArgs, given: Option<Destination>) -> Result<Report, MigrateError> {
    let t0 = Instant::now();
    let from = args.from.clone().ok_or_else(|| MigrateError::Usage("--from is required".into()))?;
    let to = match (&args.to, &given) {
        (Some(t), _) => t.clone(),
        (None, Some(Destination::Api { label, .. })) => label.clone(),
        (None, _) => return Err(MigrateError::Usage("--to is required".into())),
    };
    let src_ep = parse_endpoint(&from)?;
    let dst_ep = parse_endpoint(&to)?;
    if let (Endpoint::Folder(a), Endpoint::Folder(b)) = (&src_ep, &dst_ep) {
        let same = match (a.canonicalize(), b.canonicalize()) {
            (Ok(x), Ok(y)) => x == y,
            _ => a == b,
        };
        if same {
            return Err(MigrateError::Usage(
                "--from and --to are the same folder; choose a new folder for --to".into(),
            ));
        }
    }
    let (mut source, source_kind) = open_source(&src_ep, &args)?;
    // Check the destination before reading anything; open (create) it only after the check pass.
    let mut dest: Option<Destination> = given;
    let destination_kind = match (&dest, &dst_ep) {
        (Some(Destination::Folder(_)), _) => "chroma-rs folder".to_string(),
        (Some(Destination::Api { keeps_ids, .. }), _) => {
            format!("Chroma API ({})", if *keeps_ids { "keeps ids" } else { "new ids" })
        }
        (None, Endpoint::Folder(p)) => match check_dest_folder(p)? {
            FolderKind::ChromaRs => "chroma-rs folder".to_string(),
            _ => "new chroma-rs folder".to_string(),
        },
        (None, Endpoint::Http(_)) => "Chroma server".to_string(),
        (None, Endpoint::ClickHouse { .. }) => {
            return Err(MigrateError::Usage(
                "ClickHouse is a source only; migrate to a folder or a Chroma server".into(),
            ));
        }
    };
    let max_batch = match &dest {
        Some(d) => d.api().max_batch_size().map_err(dest_err("asking the destination's max_batch_size"))?,
        None => Settings::default().max_batch_size,
    };
    let mut batch = args.batch_size.unwrap_or(DEFAULT_BATCH).clamp(1, max_batch.max(1));

    let mut report = Report {
        source: from.clone(),
        source_kind,
        destination: to.clone(),
        destination_kind,
        policy: args.on_invalid.as_str().into(),
        dry_run: args.dry_run,
        ..Default::default()
    };
    let mut problems: Vec<Problem> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();

    // A new (or empty) folder with nobody to ask: check and write in one pass, pipelined.
    // If the check finds a problem under policy fail, the folder is removed again, so the
    // outcome is the same as checking first: nothing written.
    let prompt = std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.yes && !args.quiet;
    let single_pass = match (&dest, &dst_ep) {
        (None, Endpoint::Folder(p)) if !args.dry_run && !prompt => {
            matches!(check_dest_folder(p)?, FolderKind::Empty).then(|| p.clone())
        }
        _ => None,
    };

    let tds = source.tenants_and_databases()?;
    let colls = source.collections()?;
    warnings.extend(source.warnings());
    let plans = convert::plan_collections(colls, args.on_invalid, &mut problems, &mut warnings);
    let mut checked: Vec<Checked> = Vec::new();
    // Set by the single pass: the destination, its collection ids and what was written.
    let mut opened: Option<Destination> = None;
    let mut written_in_pass: Vec<(Option<Collection>, u64, f64)> = Vec::new();

    if let Some(folder_path) = &single_pass {
        // ---- single pass: read, check and write ----
        let existed = folder_path.exists();
        let d = open_destination(&dst_ep, &args)?.0;
        for (t, db) in &tds {
            ensure_tenant_db(d.api(), t, db)?;
        }
        let mut written_total = 0u64;
        for plan in plans {
            let ct = Instant::now();
            if plan.skip {
                let bar = Bar::new(format!("checking {}", plan.src.name), plan.src.record_count_hint, args.quiet);
                let r = read_pass(source.as_mut(), &plan, &args, batch, &mut problems, &mut warnings, &bar, None)?;
                bar.done(r.read, "checked");
                checked.push(Checked::new(plan, &r, ct.elapsed().as_secs_f64()));
                written_in_pass.push((None, 0, 0.0));
                continue;
            }
            ensure_tenant_db(d.api(), &plan.src.tenant, &plan.src.database)?;
            let coll = create(&d, &plan)?;
            let bar = Bar::new(plan.dest_name.clone(), plan.src.record_count_hint, args.quiet);
            let to = WriteTo {
                dest: &d,
                coll: coll.id,
                limit: args.max_records.map(|m| m.saturating_sub(written_total)),
                stop_on_problem: args.on_invalid == Policy::Fail,
            };
            let r = read_pass(source.as_mut(), &plan, &args, batch, &mut problems, &mut warnings, &bar, Some(to))?;
            written_total += r.written;
            let secs = ct.elapsed().as_secs_f64();
            bar.done(
                r.read,
                if r.interrupted { "read, written in part (interrupted)" } else { "read, checked and written" },
            );
            let interrupted = r.interrupted;
            checked.push(Checked::new(plan, &r, secs));
            written_in_pass.push((Some(coll), r.written, secs));
            if interrupted {
                report.problems = std::mem::take(&mut problems);
                report.warnings = std::mem::take(&mut warnings);
                report.collections = collection_reports(&checked, "interrupted");
                for (c, (_, w, _)) in report.collections.iter_mut().zip(&written_in_pass) {
                    c.records_written = *w;
                }
                return Err(interrupted_run(&args, report, t0, written_total));
            }
        }
        if args.on_invalid == Policy::Fail && !problems.is_empty() {
            // Undo: the folder was new or empty before this run.
            drop(d);
            remove_new_folder(folder_path, existed);
        } else {
            opened = Some(d);
        }
    } else {
        // ---- pass 1: read and check everything ----
        for plan in plans {
            let ct = Instant::now();
            let bar = Bar::new(format!("checking {}", plan.src.name), plan.src.record_count_hint, args.quiet);
            let r = read_pass(source.as_mut(), &plan, &args, batch, &mut problems, &mut warnings, &bar, None)?;
            bar.done(r.read, "checked");
            checked.push(Checked::new(plan, &r, ct.elapsed().as_secs_f64()));
        }
    }
    for w in source.warnings() {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    report.problems = problems;
    report.warnings = warnings;

    if args.on_invalid == Policy::Fail && !report.problems.is_empty() {
        report.collections = collection_reports(&checked, "not written (problems found)");
        totals(&mut report, t0);
        report.outcome = format!(
            "stopped: {} problem(s) found; nothing was written (policy fail; see --on-invalid)",
            report.problems.len()
        );
        finish_report(&args, &report);
        return Err(MigrateError::Problems(Box::new(report)));
    }
    if args.dry_run {
        report.collections = collection_reports(&checked, "checked (dry run)");
        totals(&mut report, t0);
        let n: u64 = report.collections.iter().map(|c| c.records_expected).sum();
        report.outcome = format!(
            "dry run: {} collection(s), {n} record(s) would be written, {} problem(s) handled by policy {}; nothing written",
            checked.iter().filter(|c| !c.plan.skip).count(),
            report.problems.len(),
            report.policy
        );
        finish_report(&args, &report);
        return Ok(report);
    }
    let dest = match (opened, dest.take()) {
        (Some(d), _) | (None, Some(d)) => d,
        (None, None) => {
            let (d, kind) = open_destination(&dst_ep, &args)?;
            if matches!(dst_ep, Endpoint::Http(_)) {
                report.destination_kind = kind;
            }
            d
        }
    };
    if let Destination::Api { .. } = &dest {
        let mb = dest.api().max_batch_size().map_err(dest_err("asking the destination's max_batch_size"))?;
        batch = batch.min(mb.max(1));
    }
    let api = dest.api();
    report.collections = collection_reports(&checked, "pending");
    let mut failed = Vec::new();

    if single_pass.is_none() {
        // ---- conflicts, before any write ----
        let mut existing: Vec<Option<Collection>> = Vec::new();
        for c in &checked {
            if c.plan.skip {
                existing.push(None);
                continue;
            }
            existing.push(find_existing(&dest, &c.plan)?);
        }
        if prompt {
            let n: u64 = checked.iter().map(|c| c.expected.count).sum();
            let q = format!(
                "Write {} collection(s), {n} record(s) to {to}?",
                checked.iter().filter(|c| !c.plan.skip).count()
            );
            if !interactive::confirm(&q)? {
                return Err(MigrateError::Usage("cancelled; nothing was written".into()));
            }
        }

        // ---- pass 2: write ----
        for (t, d) in &tds {
            ensure_tenant_db(api, t, d)?;
        }
        let mut written_total = 0u64;
        for (i, c) in checked.iter().enumerate() {
            if c.plan.skip {
                written_in_pass.push((None, 0, 0.0));
                continue;
            }
            let ct = Instant::now();
            ensure_tenant_db(api, &c.plan.src.tenant, &c.plan.src.database)?;
            let (coll, resumed) = match &existing[i] {
                Some(col) => (col.clone(), true),
                None => (create(&dest, &c.plan)?, false),
            };
            if resumed {
                let got = dest_checksum(api, coll.id, batch)?;
                if got == c.expected && metadata_matches(api, coll.id, &c.plan.metadata)? {
                    report.collections[i].dest_id = Some(coll.id.to_string());
                    report.collections[i].status = "already migrated, verified".into();
                    report.collections[i].seconds = ct.elapsed().as_secs_f64();
                    if !args.quiet {
                        eprintln!("{}: already migrated, verified ({} records)", c.plan.dest_name, got.count);
                    }
                    written_in_pass.push((None, 0, 0.0));
                    continue;
                }
                report.collections[i].status = "resumed".into();
            }
            let bar = Bar::new(c.plan.dest_name.clone(), Some(c.expected.count), args.quiet);
            let to = WriteTo {
                dest: &dest,
                coll: coll.id,
                limit: args.max_records.map(|m| m.saturating_sub(written_total)),
                stop_on_problem: false,
            };
            // Problems were reported by pass 1; this read only has to meet them again.
            let (mut scratch_p, mut scratch_w) = (Vec::new(), Vec::new());
            let r = read_pass(source.as_mut(), &c.plan, &args, batch, &mut scratch_p, &mut scratch_w, &bar, Some(to))?;
            written_total += r.written;
            report.collections[i].records_written = r.written;
            if r.interrupted {
                bar.done(r.written, "written (interrupted)");
                report.collections[i].dest_id = Some(coll.id.to_string());
                report.collections[i].status = "interrupted".into();
                return Err(interrupted_run(&args, report, t0, written_total));
            }
            bar.done(r.written, "written");
            if r.sum != c.expected {
                report.collections[i].dest_id = Some(coll.id.to_string());
                report.collections[i].status =
                    format!("failed: the source changed while migrating ({} then {})", c.expected.hex(), r.sum.hex());
                failed.push(c.plan.dest_name.clone());
                written_in_pass.push((None, r.written, 0.0));
                continue;
            }
            written_in_pass.push((Some(coll), r.written, ct.elapsed().as_secs_f64()));
        }
    }

    // ---- index (if asked), verify ----
    for (i, c) in checked.iter().enumerate() {
        let Some((Some(coll), written, write_seconds)) = written_in_pass.get(i).cloned() else { continue };
        let resumed = report.collections[i].status == "resumed";
        report.collections[i].dest_id = Some(coll.id.to_string());
        report.collections[i].records_written = written;
        report.collections[i].write_seconds = write_seconds;
        if !dest.keeps_ids() || coll.id.to_string() != c.plan.src.id {
            report.warnings.push(format!(
                "collection {:?}: new id {} in the destination (source id {})",
                c.plan.dest_name, coll.id, c.plan.src.id
            ));
        }
        let it = Instant::now();
        let bar = Bar::new(format!("{}: index", c.plan.dest_name), None, args.quiet || !args.build_index);
        dest.finish(coll.id, args.build_index, &bar).map_err(dest_err("building the index"))?;
        bar.clear();
        report.collections[i].index_seconds = it.elapsed().as_secs_f64();
        let vt = Instant::now();
        let got = dest_checksum(api, coll.id, batch)?;
        let md_ok = metadata_matches(api, coll.id, &c.plan.metadata)?;
        report.collections[i].verify_seconds = vt.elapsed().as_secs_f64();
        report.collections[i].seconds =
            write_seconds + report.collections[i].index_seconds + report.collections[i].verify_seconds;
        if got == c.expected && md_ok {
            report.collections[i].status =
                if resumed { "completed (resumed), verified".into() } else { "migrated, verified".into() };
        } else {
            report.collections[i].status = format!(
                "failed: verification: destination {} vs expected {}{}",
                got.hex(),
                c.expected.hex(),
                if md_ok { "" } else { " (collection metadata differs)" }
            );
            failed.push(c.plan.dest_name.clone());
        }
    }
    totals(&mut report, t0);
    let migrated: Vec<&CollectionReport> = report.collections.iter().filter(|c| c.status != "skipped").collect();
    report.outcome = if !failed.is_empty() {
        format!("verification failed for {} collection(s): {}", failed.len(), failed.join(", "))
    } else if !migrated.is_empty() && migrated.iter().all(|c| c.status == "already migrated, verified") {
        "already migrated, verified: nothing changed".into()
    } else if migrated.is_empty() {
        "nothing to migrate".into()
    } else {
        "migrated, verified".into()
    };
    if !report.problems.is_empty() {
        report.outcome.push_str(&format!(
            " ({} problem(s) handled by policy {})",
            report.problems.len(),
            report.policy
        ));
    }
    if !args.build_index && matches!(dest, Destination::Folder(_)) && report.records_written > 0 {
        report.warnings.push(
            "the HNSW graph is linked in the background when the folder is next opened (queries are exact meanwhile); \
             pass --build-index to link it during the migration"
                .into(),
        );
    }
    finish_report(&args, &report);
    if !failed.is_empty() {
        return Err(MigrateError::Verification(Box::new(report)));
    }
    Ok(report)
}

fn collection_reports(checked: &[Checked], status: &str) -> Vec<CollectionReport> {
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

/// Ends a run stopped by the `--max-records` test hook: totals, outcome, report printed.
fn interrupted_run(args: &MigrateArgs, mut report: Report, t0: Instant, written: u64) -> MigrateError {
    totals(&mut report, t0);
    report.outcome = format!("interrupted after {written} record(s) (test hook --max-records); run again to resume");
    finish_report(args, &report);
    MigrateError::Interrupted { written, report: Box::new(report) }
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

/// Removes what a failed single pass created in a folder that was new or empty: only the
/// files chroma-rs writes (anything else that appeared meanwhile is left alone), and the folder
/// itself if this run created it and it is empty again.
fn remove_new_folder(path: &Path, existed: bool) {
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

/// Where a read pass sends its records.
struct WriteTo<'a> {
    dest: &'a Destination,
    coll: Uuid,
    /// Test hook (`--max-records`): records this pass may write before it stops as if interrupted.
    limit: Option<u64>,
    /// Stop writing (and go on checking) at the first problem: policy fail in the single pass.
    stop_on_problem: bool,
}

/// What a read pass found and wrote.
#[derive(Default)]
struct PassResult {
    read: u64,
    sum: Checksum,
    skipped: u64,
    coerced: u64,
    bytes: u64,
    written: u64,
    interrupted: bool,
}

impl PassResult {
    /// Converts one record and counts it: `Some` when it is to be written (then it is in the
    /// checksum), `None` when the policy dropped it (problems appended).
    #[allow(clippy::too_many_arguments)]
    fn convert(
        &mut self,
        rec: chroma_legacy::LegacyRecord,
        plan: &CollectionPlan,
        policy: Policy,
        ctx: &mut RecordCtx,
        problems: &mut Vec<Problem>,
        warnings: &mut Vec<String>,
        buf: &mut Vec<u8>,
    ) -> Option<Record> {
        match convert::convert_record(rec, plan, policy, ctx, problems, warnings) {
            Some((rec, coerced)) => {
                self.coerced += coerced as u64;
                self.bytes += convert::record_bytes(&rec);
                self.sum.add(&rec, buf);
                Some(rec)
            }
            None => {
                self.skipped += 1;
                None
            }
        }
    }
}

impl Checked {
    fn new(plan: CollectionPlan, r: &PassResult, check_seconds: f64) -> Checked {
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

/// Reads one collection, converting and checking every record (problems appended) and
/// summing the checksum of what is to be written. With `to`, the records are also written,
/// by a second thread, so reading and writing overlap; at most two batches wait between them.
#[allow(clippy::too_many_arguments)]
fn read_pass(
    source: &mut dyn LegacySource,
    plan: &CollectionPlan,
    args: &MigrateArgs,
    batch: usize,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
    bar: &Bar,
    to: Option<WriteTo<'_>>,
) -> Result<PassResult, MigrateError> {
    let mut r = PassResult::default();
    let mut ctx = RecordCtx::default();
    let mut buf = Vec::new();
    let Some(to) = to else {
        for b in source.records(&plan.src, batch)? {
            let b = b?;
            r.read += b.len() as u64;
            bar.inc(b.len() as u64);
            if plan.skip {
                r.skipped += b.len() as u64;
                continue;
            }
            for rec in b {
                r.convert(rec, plan, args.on_invalid, &mut ctx, problems, warnings, &mut buf);
            }
        }
        return Ok(r);
    };
    let (dest, coll) = (to.dest, to.coll);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(2);
        let writer = scope.spawn(move || -> Result<u64, MigrateError> {
            let mut n = 0u64;
            for b in rx {
                let k = b.len() as u64;
                dest.write(coll, b).map_err(dest_err("adding records"))?;
                n += k;
                bar.inc(k);
            }
            Ok(n)
        });
        let mut pending: Vec<Record> = Vec::with_capacity(batch);
        let mut sent = 0u64;
        let mut writing = true;
        let read = (|| -> Result<(), MigrateError> {
            for b in source.records(&plan.src, batch)? {
                let b = b?;
                r.read += b.len() as u64;
                for rec in b {
                    let converted = r.convert(rec, plan, args.on_invalid, &mut ctx, problems, warnings, &mut buf);
                    if let (Some(rec), true) = (converted, writing) {
                        pending.push(rec);
                    }
                    if writing && to.stop_on_problem && !problems.is_empty() {
                        writing = false;
                        pending = Vec::new();
                    }
                    let limit_hit = to.limit.is_some_and(|m| sent + pending.len() as u64 >= m);
                    if writing && (pending.len() >= batch || limit_hit) {
                        sent += pending.len() as u64;
                        let recs = std::mem::replace(&mut pending, Vec::with_capacity(batch));
                        let b = dest.prepare(coll, recs).map_err(dest_err("adding records"))?;
                        if tx.send(b).is_err() {
                            return Ok(()); // the writer stopped: its error is returned below
                        }
                        if limit_hit {
                            r.interrupted = true;
                            return Ok(());
                        }
                    }
                }
            }
            if writing && !pending.is_empty() {
                let b = dest.prepare(coll, std::mem::take(&mut pending)).map_err(dest_err("adding records"))?;
                let _ = tx.send(b);
            }
            Ok(())
        })();
        drop(tx);
        let written = writer.join().map_err(|_| MigrateError::Io("the writer thread panicked".into()))?;
        r.written = written?;
        read?;
        Ok(r)
    })
}

fn ensure_tenant_db(api: &dyn ChromaApi, t: &str, d: &str) -> Result<(), MigrateError> {
    if let Err(e) = api.get_tenant(t) {
        if e.kind != ErrorKind::NotFound {
            return Err(dest_err("reading a tenant")(e));
        }
        api.create_tenant(t).map_err(dest_err("creating a tenant"))?;
    }
    if let Err(e) = api.get_database(t, d) {
        if e.kind != ErrorKind::NotFound {
            return Err(dest_err("reading a database")(e));
        }
        api.create_database(t, d).map_err(dest_err("creating a database"))?;
    }
    Ok(())
}

/// The destination collection a previous run made for this plan, if any. Errors on a
/// collection that is in the way but did not come from this source.
fn find_existing(dest: &Destination, plan: &CollectionPlan) -> Result<Option<Collection>, MigrateError> {
    let api = dest.api();
    let (t, d) = (&plan.src.tenant, &plan.src.database);
    let by_name = match api.get_collection(t, d, &plan.dest_name) {
        Ok(c) => Some(c),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(dest_err("looking up a collection")(e)),
    };
    if !dest.keeps_ids() {
        return Ok(by_name);
    }
    let Some(id) = parse_uuid(&plan.src.id) else { return Ok(by_name) };
    let by_id = match api.get_collection_by_id(id) {
        Ok(c) => Some(c),
        Err(e) if e.kind == ErrorKind::NotFound => None,
        Err(e) => return Err(dest_err("looking up a collection")(e)),
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

fn create(dest: &Destination, plan: &CollectionPlan) -> Result<Collection, MigrateError> {
    let req = CreateCollection {
        name: plan.dest_name.clone(),
        metadata: plan.metadata.clone(),
        configuration: plan.configuration.clone(),
        get_or_create: false,
        schema: None,
        id: if dest.keeps_ids() { parse_uuid(&plan.src.id) } else { None },
    };
    dest.api()
        .create_collection(&plan.src.tenant, &plan.src.database, req)
        .map_err(dest_err(&format!("creating collection {:?}", plan.dest_name)))
}

fn add_request(recs: Vec<Record>) -> AddRequest {
    let n = recs.len();
    let mut ids = Vec::with_capacity(n);
    let mut embs = Vec::with_capacity(n);
    let mut docs = Vec::with_capacity(n);
    let mut uris = Vec::with_capacity(n);
    let mut metas = Vec::with_capacity(n);
    for r in recs {
        ids.push(r.id);
        embs.push(r.embedding);
        docs.push(r.document);
        uris.push(r.uri);
        metas.push(r.metadata.filter(|m| !m.is_empty()));
    }
    let mut req = AddRequest::new(ids, embs).documents(docs).metadatas(metas);
    if uris.iter().any(Option::is_some) {
        req = req.uris(uris);
    }
    req
}

fn dest_checksum(api: &dyn ChromaApi, coll: Uuid, batch: usize) -> Result<Checksum, MigrateError> {
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
        let g = api.get(coll, req).map_err(dest_err("reading back for verification"))?;
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

fn metadata_matches(api: &dyn ChromaApi, coll: Uuid, expected: &Option<Metadata>) -> Result<bool, MigrateError> {
    let c = api.get_collection_by_id(coll).map_err(dest_err("reading a collection"))?;
    let norm = |m: &Option<Metadata>| m.clone().filter(|m| !m.is_empty());
    Ok(norm(&c.metadata) == norm(expected))
}
