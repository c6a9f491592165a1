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
    fn add(&self, coll: Uuid, req: AddRequest) -> chroma_types::Result<()> {
        match self {
            Destination::Folder(e) => e.bulk_add(coll, req),
            Destination::Api { api, .. } => api.add(coll, req),
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
            Ok((
                Destination::Api { api: Box::new(api), label: url.clone(), keeps_ids: false },
                format!("Chroma server, API v2 (version {version})"),
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
            return Err(MigrateError::Usage("--from and --to are the same folder; choose a new folder for --to".into()));
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
            return Err(MigrateError::Usage("ClickHouse is a source only; migrate to a folder or a Chroma server".into()));
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

    // ---- pass 1: read and check everything ----
    let tds = source.tenants_and_databases()?;
    let colls = source.collections()?;
    warnings.extend(source.warnings());
    let plans = convert::plan_collections(colls, args.on_invalid, &mut problems, &mut warnings);
    let mut checked: Vec<Checked> = Vec::new();
    let mut buf = Vec::new();
    for plan in plans {
        let mut c =
            Checked { plan, read: 0, expected: Checksum::default(), skipped: 0, coerced: 0, bytes: 0, check_seconds: 0.0 };
        let ct = Instant::now();
        let bar = Bar::new(format!("checking {}", c.plan.src.name), c.plan.src.record_count_hint, args.quiet);
        let mut ctx = RecordCtx::default();
        for b in source.records(&c.plan.src, batch)? {
            let b = b?;
            c.read += b.len() as u64;
            bar.inc(b.len() as u64);
            if c.plan.skip {
                c.skipped += b.len() as u64;
                continue;
            }
            for rec in b {
                match convert::convert_record(rec, &c.plan, args.on_invalid, &mut ctx, &mut problems, &mut warnings) {
                    Some((r, coerced)) => {
                        c.coerced += coerced as u64;
                        c.bytes += convert::record_bytes(&r);
                        c.expected.add(&r, &mut buf);
                    }
                    None => c.skipped += 1,
                }
            }
        }
        bar.done(c.read, "checked");
        c.check_seconds = ct.elapsed().as_secs_f64();
        checked.push(c);
    }
    for w in source.warnings() {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    report.problems = problems;
    report.warnings = warnings;
    let collection_reports = |checked: &[Checked], status: &str| -> Vec<CollectionReport> {
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
    };
    let totals = |report: &mut Report| {
        report.records = report.collections.iter().map(|c| c.records_read).sum();
        report.records_written = report.collections.iter().map(|c| c.records_written).sum();
        report.records_skipped = report.collections.iter().map(|c| c.records_skipped).sum();
        report.records_coerced = report.collections.iter().map(|c| c.records_coerced).sum();
        report.bytes = report.collections.iter().map(|c| c.bytes).sum();
        report.seconds = t0.elapsed().as_secs_f64();
        report.records_per_second = if report.seconds > 0.0 { report.records as f64 / report.seconds } else { 0.0 };
    };

    if args.on_invalid == Policy::Fail && !report.problems.is_empty() {
        report.collections = collection_reports(&checked, "not written (problems found)");
        totals(&mut report);
        report.outcome = format!(
            "stopped: {} problem(s) found; nothing was written (policy fail; see --on-invalid)",
            report.problems.len()
        );
        finish_report(&args, &report);
        return Err(MigrateError::Problems(Box::new(report)));
    }
    if args.dry_run {
        report.collections = collection_reports(&checked, "checked (dry run)");
        totals(&mut report);
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
    let dest = match dest.take() {
        Some(d) => d,
        None => open_destination(&dst_ep, &args)?.0,
    };
    if let Destination::Api { .. } = &dest {
        let mb = dest.api().max_batch_size().map_err(dest_err("asking the destination's max_batch_size"))?;
        batch = batch.min(mb.max(1));
    }
    let api = dest.api();

    // ---- conflicts, before any write ----
    let mut existing: Vec<Option<Collection>> = Vec::new();
    for c in &checked {
        if c.plan.skip {
            existing.push(None);
            continue;
        }
        existing.push(find_existing(&dest, &c.plan)?);
    }
    if std::io::stdin().is_terminal() && std::io::stderr().is_terminal() && !args.yes && !args.quiet {
        let n: u64 = checked.iter().map(|c| c.expected.count).sum();
        let q = format!(
            "Write {} collection(s), {n} record(s) to {to}?",
            checked.iter().filter(|c| !c.plan.skip).count()
        );
        if !interactive::confirm(&q)? {
            return Err(MigrateError::Usage("cancelled; nothing was written".into()));
        }
    }

    // ---- pass 2: write, then verify ----
    for (t, d) in &tds {
        ensure_tenant_db(api, t, d)?;
    }
    report.collections = collection_reports(&checked, "pending");
    let mut written_total = 0u64;
    let mut failed = Vec::new();
    for (i, c) in checked.iter().enumerate() {
        if c.plan.skip {
            continue;
        }
        let ct = Instant::now();
        ensure_tenant_db(api, &c.plan.src.tenant, &c.plan.src.database)?;
        let (coll, resumed) = match &existing[i] {
            Some(col) => (col.clone(), true),
            None => (create(&dest, &c.plan)?, false),
        };
        report.collections[i].dest_id = Some(coll.id.to_string());
        if !dest.keeps_ids() || coll.id.to_string() != c.plan.src.id {
            report.warnings.push(format!(
                "collection {:?}: new id {} in the destination (source id {})",
                c.plan.dest_name, coll.id, c.plan.src.id
            ));
        }
        if resumed {
            let got = dest_checksum(api, coll.id, batch)?;
            if got == c.expected && metadata_matches(api, coll.id, &c.plan.metadata)? {
                report.collections[i].status = "already migrated, verified".into();
                report.collections[i].seconds = ct.elapsed().as_secs_f64();
                if !args.quiet {
                    eprintln!("{}: already migrated, verified ({} records)", c.plan.dest_name, got.count);
                }
                continue;
            }
        }
        let bar = Bar::new(c.plan.dest_name.clone(), Some(c.expected.count), args.quiet);
        let mut ctx = RecordCtx::default();
        let (mut scratch_p, mut scratch_w) = (Vec::new(), Vec::new());
        let mut again = Checksum::default();
        let mut written = 0u64;
        let mut pending: Vec<Record> = Vec::with_capacity(batch);
        let mut interrupted = false;
        'outer: for b in source.records(&c.plan.src, batch)? {
            for rec in b? {
                if let Some((r, _)) =
                    convert::convert_record(rec, &c.plan, args.on_invalid, &mut ctx, &mut scratch_p, &mut scratch_w)
                {
                    again.add(&r, &mut buf);
                    pending.push(r);
                }
                let limit_hit = args.max_records.is_some_and(|m| written_total + pending.len() as u64 >= m);
                if pending.len() >= batch || limit_hit {
                    let n = pending.len() as u64;
                    write_batch(&dest, coll.id, std::mem::take(&mut pending))?;
                    written += n;
                    written_total += n;
                    bar.inc(n);
                    if limit_hit {
                        interrupted = true;
                        break 'outer;
                    }
                }
            }
        }
        if !interrupted && !pending.is_empty() {
            let n = pending.len() as u64;
            write_batch(&dest, coll.id, std::mem::take(&mut pending))?;
            written += n;
            written_total += n;
            bar.inc(n);
        }
        report.collections[i].records_written = written;
        if interrupted {
            bar.done(written, "written (interrupted)");
            report.collections[i].status = "interrupted".into();
            totals(&mut report);
            report.outcome = format!("interrupted after {written_total} record(s) (test hook --max-records); run again to resume");
            finish_report(&args, &report);
            return Err(MigrateError::Interrupted { written: written_total, report: Box::new(report) });
        }
        report.collections[i].write_seconds = ct.elapsed().as_secs_f64();
        let it = Instant::now();
        dest.finish(coll.id, args.build_index, &bar).map_err(dest_err("building the index"))?;
        report.collections[i].index_seconds = it.elapsed().as_secs_f64();
        bar.done(written, "written");
        if again != c.expected {
            report.collections[i].status =
                format!("failed: the source changed while migrating ({} then {})", c.expected.hex(), again.hex());
            failed.push(c.plan.dest_name.clone());
            continue;
        }
        let vt = Instant::now();
        let got = dest_checksum(api, coll.id, batch)?;
        let md_ok = metadata_matches(api, coll.id, &c.plan.metadata)?;
        report.collections[i].verify_seconds = vt.elapsed().as_secs_f64();
        report.collections[i].seconds = ct.elapsed().as_secs_f64();
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
    totals(&mut report);
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
        report.outcome.push_str(&format!(" ({} problem(s) handled by policy {})", report.problems.len(), report.policy));
    }
    finish_report(&args, &report);
    if !failed.is_empty() {
        return Err(MigrateError::Verification(Box::new(report)));
    }
    Ok(report)
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

fn write_batch(dest: &Destination, coll: Uuid, recs: Vec<Record>) -> Result<(), MigrateError> {
    if recs.is_empty() {
        return Ok(());
    }
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
    dest.add(coll, req).map_err(dest_err("adding records"))
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
        let embs = g.embeddings.unwrap_or_default();
        let docs = g.documents.unwrap_or_default();
        let uris = g.uris.unwrap_or_default();
        let metas = g.metadatas.unwrap_or_default();
        for (j, id) in g.ids.into_iter().enumerate() {
            let r = Record {
                id,
                embedding: embs.get(j).cloned().unwrap_or_default(),
                document: docs.get(j).cloned().flatten(),
                uri: uris.get(j).cloned().flatten(),
                metadata: metas.get(j).cloned().flatten(),
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
