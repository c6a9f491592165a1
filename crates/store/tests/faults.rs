//! Fault injection: writes fail at chosen points and the store must stay whole.
//!
//! Two kinds of fault, both real errors raised where the real ones would be:
//!
//! * `SQLite` runs out of room: `PRAGMA max_page_count` caps the database a few pages above
//!   its size, so a write that needs more pages gets `SQLITE_FULL`, as on a full disk
//!   ([`Engine::limit_database_pages`]);
//! * our own files fail: the failpoint layer of `chroma_index::fileio` (on with the store's
//!   `testing` feature) makes the N-th write, fsync or rename of a vector or graph file fail
//!   with `ENOSPC`, `EIO`, or a short write (half the bytes, then `ENOSPC`), and every later
//!   one until the fault is lifted: a full disk stays full.
//!
//! For each fault kind and injection point, a writer runs random adds, upserts, updates,
//! deletes and compactions against a persistent folder, and checks after every call:
//!
//! * a failed call returned a clear error naming the cause (no panic, no SQL text) and changed
//!   nothing: reads show exactly the model of acknowledged writes (`get` of everything,
//!   `count`, and every record found by its own embedding, so the vector index agrees with
//!   `SQLite`); a failing graph save (a cache) never fails a write;
//! * half of the scenarios close and reopen the folder with the fault still in force: it
//!   opens and serves reads;
//! * once the fault is lifted, writes succeed; after a close and reopen the store equals the
//!   model, with no temporary file left behind.
//!
//! A third test fills a real 1 MiB tmpfs instead, where mounting is permitted (skipped, with a
//! message, where it is not).

mod support;

use chroma_store::fileio::{self, Fault, Point};
use chroma_store::Engine;
use chroma_types::metadata::metadata_from_json;
use chroma_types::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use support::Rng;

const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;
const DIM: usize = 8;
/// Live records the writer steers towards.
const TARGET: usize = 120;

/// The failpoints are process-wide: the tests of this file take turns.
static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

/// A test's turn: no fault is armed while it starts, nor after it ends (even by a panic).
struct Turn(#[allow(dead_code)] parking_lot::MutexGuard<'static, ()>);

impl Turn {
    fn take() -> Turn {
        let guard = SERIAL.lock();
        fileio::clear();
        Turn(guard)
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        fileio::clear();
    }
}

#[derive(Clone, Debug, PartialEq)]
struct Rec {
    emb: Vec<f32>,
    doc: Option<String>,
    md: Option<Metadata>,
}

type Model = BTreeMap<String, Rec>;

#[derive(Clone, Debug)]
enum Op {
    Add(Vec<(String, Rec)>),
    Upsert(Vec<(String, Rec)>),
    Update(Vec<(String, Rec)>),
    Delete(Vec<String>),
    Compact,
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Add(_) => "add",
            Op::Upsert(_) => "upsert",
            Op::Update(_) => "update",
            Op::Delete(_) => "delete",
            Op::Compact => "compact",
        }
    }

    fn run(&self, e: &Engine, cid: uuid::Uuid) -> Result<()> {
        let req = |recs: &[(String, Rec)]| AddRequest {
            ids: recs.iter().map(|(id, _)| id.clone()).collect(),
            embeddings: recs.iter().map(|(_, r)| r.emb.clone()).collect(),
            documents: Some(recs.iter().map(|(_, r)| r.doc.clone()).collect()),
            uris: None,
            metadatas: Some(recs.iter().map(|(_, r)| r.md.as_ref().map(to_update)).collect()),
            ..AddRequest::default()
        };
        match self {
            Op::Add(recs) => e.add(cid, req(recs)),
            Op::Upsert(recs) => e.upsert(cid, req(recs)),
            Op::Update(recs) => {
                let r = req(recs);
                e.update(
                    cid,
                    UpdateRequest {
                        ids: r.ids,
                        embeddings: Some(r.embeddings.into_iter().map(Some).collect()),
                        documents: r.documents,
                        uris: None,
                        metadatas: r.metadatas,
                        ..UpdateRequest::default()
                    },
                )
            }
            Op::Delete(ids) => e.delete(cid, DeleteRequest { ids: Some(ids.clone()), ..Default::default() }).map(drop),
            Op::Compact => e.compact_collection(cid).map(drop),
        }
    }

    /// What an acknowledged call did. Metadata always carries the same keys, so an
    /// update's merge is a replacement.
    fn apply(&self, model: &mut Model) {
        match self {
            Op::Add(recs) => {
                for (id, r) in recs {
                    model.entry(id.clone()).or_insert_with(|| r.clone());
                }
            }
            Op::Upsert(recs) => {
                for (id, r) in recs {
                    model.insert(id.clone(), r.clone());
                }
            }
            Op::Update(recs) => {
                for (id, r) in recs {
                    if let Some(m) = model.get_mut(id) {
                        *m = r.clone();
                    }
                }
            }
            Op::Delete(ids) => {
                for id in ids {
                    model.remove(id);
                }
            }
            Op::Compact => {}
        }
    }
}

fn to_update(m: &Metadata) -> UpdateMetadata {
    m.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()
}

/// Random operations, steered towards `TARGET` live records.
struct Writer {
    rng: Rng,
    next_id: u64,
}

impl Writer {
    fn rec(&mut self) -> Rec {
        const WORDS: [&str; 12] =
            ["disk", "full", "write", "vector", "graph", "commit", "sync", "page", "wal", "slot", "index", "model"];
        let emb = (0..DIM).map(|_| self.rng.f32()).collect();
        let n = self.rng.range(10, 40) as usize;
        let doc: Vec<&str> = (0..n).map(|_| *self.rng.pick(&WORDS)).collect();
        let md =
            json!({"g": self.rng.below(10), "v": self.rng.next_u64() >> 12, "s": format!("{:x}", self.rng.next_u64())});
        Rec { emb, doc: Some(doc.join(" ")), md: Some(metadata_from_json(&md).unwrap()) }
    }

    fn fresh(&mut self) -> String {
        self.next_id += 1;
        format!("r{}", self.next_id)
    }

    fn existing(&mut self, model: &Model, n: usize) -> Vec<String> {
        let ids: Vec<&String> = model.keys().collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<String> = (0..n).map(|_| (*self.rng.pick(&ids)).clone()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// An add of `n` new records and one existing id (which add skips).
    fn add(&mut self, model: &Model, n: usize) -> Op {
        let mut ids: Vec<String> = (0..n).map(|_| self.fresh()).collect();
        ids.extend(self.existing(model, 1));
        Op::Add(ids.into_iter().map(|id| (id, self.rec())).collect())
    }

    fn op(&mut self, model: &Model) -> Op {
        let grow = model.len() < TARGET;
        let roll = self.rng.below(100);
        let n = self.rng.range(5, 25) as usize;
        if model.is_empty() || roll < if grow { 45 } else { 15 } {
            return self.add(model, n);
        }
        if roll < 60 {
            let mut ids = self.existing(model, n / 2);
            ids.extend((0..if grow { n / 2 } else { 1 }).map(|_| self.fresh()));
            return Op::Upsert(ids.into_iter().map(|id| (id, self.rec())).collect());
        }
        if roll < 78 {
            let mut ids = self.existing(model, n / 2);
            ids.push(self.fresh()); // update skips a new id
            return Op::Update(ids.into_iter().map(|id| (id, self.rec())).collect());
        }
        if roll < 93 {
            let mut ids = self.existing(model, if grow { n / 3 } else { n });
            ids.push(self.fresh());
            return Op::Delete(ids);
        }
        Op::Compact
    }
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Reads show exactly `model`, and the index finds every record by its own embedding.
fn check(e: &Engine, cid: uuid::Uuid, model: &Model, what: &str) {
    let g = e
        .get(
            cid,
            GetRequest {
                include: vec![Include::Embeddings, Include::Documents, Include::Metadatas],
                ..Default::default()
            },
        )
        .unwrap_or_else(|err| panic!("{what}: get failed: {err}"));
    assert_eq!(e.count(cid).unwrap_or_else(|err| panic!("{what}: count failed: {err}")), g.ids.len(), "{what}: count");
    let (embs, docs, mds) = (g.embeddings.unwrap(), g.documents.unwrap(), g.metadatas.unwrap());
    let mut stored = Model::new();
    for (i, id) in g.ids.iter().enumerate() {
        let rec = Rec { emb: embs[i].clone(), doc: docs[i].clone(), md: mds[i].clone() };
        assert!(stored.insert(id.clone(), rec).is_none(), "{what}: {id} returned twice");
    }
    if &stored != model {
        let only_store: Vec<&String> = stored.keys().filter(|k| !model.contains_key(*k)).take(5).collect();
        let only_model: Vec<&String> = model.keys().filter(|k| !stored.contains_key(*k)).take(5).collect();
        let changed: Vec<&String> =
            stored.iter().filter(|(k, v)| model.get(*k).is_some_and(|m| m != *v)).map(|(k, _)| k).take(5).collect();
        panic!(
            "{what}: the store differs from the acknowledged writes: only in store {only_store:?}, only in model {only_model:?}, changed {changed:?}"
        );
    }
    if model.is_empty() {
        return;
    }
    let res = e
        .query(cid, QueryRequest::new(model.values().map(|r| r.emb.clone()).collect(), 1))
        .unwrap_or_else(|err| panic!("{what}: query failed: {err}"));
    let dists = res.distances.unwrap();
    for (i, (id, r)) in model.iter().enumerate() {
        let got = res.ids[i].first().unwrap_or_else(|| panic!("{what}: query for {id} found nothing"));
        assert!(
            dists[i][0] < 1e-5 || model.get(got).is_some_and(|m| l2(&m.emb, &r.emb) < 1e-5),
            "{what}: {id} found {got} at {}",
            dists[i][0]
        );
    }
}

/// No temporary file is left under the folder.
fn check_no_temp_files(dir: &Path, what: &str) {
    let left: Vec<String> = support::folder_contents(dir)
        .into_keys()
        .filter(|k| std::path::Path::new(k).extension().is_some_and(|x| x == "tmp"))
        .collect();
    assert!(left.is_empty(), "{what}: temporary files left: {left:?}");
}

fn open(dir: &Path) -> (Engine, uuid::Uuid) {
    let e = Engine::open(dir, Settings::default()).expect("open");
    let md = metadata_from_json(&json!({"hnsw:sync_threshold": 4})).unwrap();
    let cid = e.create_collection(T, D, CreateCollection::new("faults").metadata(md).get_or_create(true)).unwrap().id;
    (e, cid)
}

/// A fault to inject.
#[derive(Clone, Copy, Debug)]
enum Injection {
    /// `SQLite` may grow by this many pages.
    Sqlite { extra_pages: u64 },
    /// `point` fails with `fault` after `after` good calls.
    File { point: Point, fault: Fault, after: u64 },
}

impl Injection {
    fn arm(self, e: &Engine) {
        match self {
            Injection::Sqlite { extra_pages } => {
                // No free pages to reuse: the limit is the room left.
                e.vacuum().unwrap();
                e.limit_database_pages(Some(extra_pages)).unwrap();
            }
            Injection::File { point, fault, after } => fileio::arm(point, after, fault),
        }
    }

    /// Lifts every fault (file and `SQLite`).
    fn lift_all(e: &Engine) {
        fileio::clear();
        e.limit_database_pages(None).unwrap();
    }

    /// What the error message of a call this fault failed must say.
    fn expected(self) -> &'static str {
        match self {
            Injection::Sqlite { .. } => "database or disk is full",
            Injection::File { fault: Fault::Io, .. } => "Input/output error",
            Injection::File { .. } => "No space left on device",
        }
    }

    /// Whether only a compaction may fail (graph files are a cache: a write whose graph
    /// cannot be saved still succeeds).
    fn only_compaction_fails(self) -> bool {
        matches!(self, Injection::File { point: Point::GraphWrite | Point::GraphSync | Point::GraphRename, .. })
    }
}

/// Runs one scenario: ops under the fault, checks, lift, ops, reopen. Returns the failed calls.
fn scenario(dir: &Path, w: &mut Writer, model: &mut Model, inj: Injection, reopen_armed: bool) -> usize {
    let what = format!("{inj:?}");
    let (mut e, mut cid) = open(dir);
    check(&e, cid, model, &format!("{what}: on open"));
    inj.arm(&e);
    let mut failed = 0;
    for step in 0..10 {
        // Every third call is a compaction (it writes every kind of file), after a delete
        // that leaves it something to do.
        let op = match step % 3 {
            // A large add first: it needs more pages than a small cap leaves.
            0 if step == 0 && matches!(inj, Injection::Sqlite { .. }) => w.add(model, 40),
            0 if step > 0 => Op::Compact,
            2 => Op::Delete(w.existing(model, 3)),
            _ => w.op(model),
        };
        match op.run(&e, cid) {
            Ok(()) => op.apply(model),
            Err(err) => {
                failed += 1;
                let ctx = format!("{what}: {} (step {step})", op.name());
                assert_eq!(err.kind, ErrorKind::Internal, "{ctx}: {err:?}");
                assert!(err.message.contains(inj.expected()), "{ctx}: unclear error {:?}", err.message);
                assert!(
                    !err.message.contains("INSERT") && !err.message.contains("SELECT"),
                    "{ctx}: SQL text in {:?}",
                    err.message
                );
                if inj.expected() != "Input/output error" {
                    assert!(err.message.contains("the request was not applied"), "{ctx}: no hint in {:?}", err.message);
                }
                assert!(
                    !inj.only_compaction_fails() || matches!(op, Op::Compact),
                    "{ctx}: a graph save failure failed the write: {}",
                    err.message
                );
            }
        }
        check(&e, cid, model, &format!("{what}: after {} at step {step}", op.name()));
    }
    if reopen_armed {
        // Close and reopen on a disk that is still full: it opens and serves reads.
        drop(e);
        (e, cid) = open(dir);
        if let Injection::Sqlite { .. } = inj {
            inj.arm(&e); // a connection's limit (the file faults are process-wide, still armed)
        }
        check(&e, cid, model, &format!("{what}: reopened with the fault in force"));
    }
    Injection::lift_all(&e);
    for step in 0..3 {
        let op = if step == 2 { Op::Compact } else { w.op(model) };
        op.run(&e, cid).unwrap_or_else(|err| panic!("{what}: {} after the fault was lifted: {err}", op.name()));
        op.apply(model);
        check(&e, cid, model, &format!("{what}: {} after the fault was lifted", op.name()));
    }
    drop(e);
    let (e, cid) = open(dir);
    check(&e, cid, model, &format!("{what}: after a clean reopen"));
    check_no_temp_files(dir, &what);
    failed
}

#[test]
fn file_write_fsync_and_rename_failures_lose_nothing_acknowledged() {
    let _turn = Turn::take();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let seed = Rng::from_time().next_u64();
    eprintln!("faults: seed {seed}");
    let mut w = Writer { rng: Rng::new(seed), next_id: 0 };
    let mut model = Model::new();
    let mut n = 0;
    let started = std::time::Instant::now();
    for point in Point::ALL {
        for fault in Fault::ALL {
            for after in [0, 1, 2] {
                let inj = Injection::File { point, fault, after };
                let before = fileio::calls(point);
                let failed = scenario(&dir, &mut w, &mut model, inj, n % 2 == 1);
                // The fault was reached (a graph fault fails at least the compactions).
                assert!(fileio::calls(point) > before + after, "{inj:?} was never reached");
                assert!(failed > 0, "{inj:?}: no call failed");
                n += 1;
            }
        }
    }
    eprintln!(
        "faults: {n} file scenarios in {:.1} s, {} records at the end",
        started.elapsed().as_secs_f64(),
        model.len()
    );
}

#[test]
fn sqlite_full_loses_nothing_acknowledged() {
    let _turn = Turn::take();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let seed = Rng::from_time().next_u64();
    eprintln!("faults: seed {seed}");
    let mut w = Writer { rng: Rng::new(seed), next_id: 0 };
    let mut model = Model::new();
    let started = std::time::Instant::now();
    let mut failing = 0;
    for (i, extra_pages) in [0, 1, 2, 3, 5, 8].into_iter().enumerate() {
        let inj = Injection::Sqlite { extra_pages };
        let failed = scenario(&dir, &mut w, &mut model, inj, i % 2 == 1);
        // With room for a few more pages the fault may come late or not at all; with at most
        // two, the opening 40-record add cannot fit.
        assert!(failed > 0 || extra_pages > 2, "{inj:?}: no call failed");
        failing += usize::from(failed > 0);
    }
    assert!(failing >= 4, "only {failing} of 6 page limits made a call fail");
    eprintln!("faults: 6 SQLite scenarios in {:.1} s, {failing} with failed calls", started.elapsed().as_secs_f64());
}

/// A tmpfs of a given size mounted for the test, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (with the reason) where mounting is not permitted: not Linux, not root, or a
    /// container without `CAP_SYS_ADMIN`.
    fn mount(size: &str) -> std::result::Result<Tmpfs, String> {
        if !cfg!(target_os = "linux") {
            return Err("not Linux".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount refused: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs { dir })
    }

    fn resize(&self, size: &str) {
        let st = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("mount");
        assert!(st.success(), "could not grow the tmpfs");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// The same checks on a real full file system: a 1 MiB tmpfs that the writer fills (`SQLite`
/// and the vector files get the kernel's own `ENOSPC`), then grown. Needs the right to mount;
/// skipped with a message where it is missing (the in-process tests above always run).
#[test]
fn a_real_full_tmpfs_loses_nothing_acknowledged() {
    let _turn = Turn::take();
    let fs = match Tmpfs::mount("1m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("faults: tmpfs variant skipped ({why})");
            return;
        }
    };
    let dir = fs.dir.path().join("data");
    let seed = Rng::from_time().next_u64();
    eprintln!("faults: tmpfs, seed {seed}");
    let mut w = Writer { rng: Rng::new(seed), next_id: 0 };
    let mut model = Model::new();
    let (mut e, mut cid) = open(&dir);
    let (mut failed, mut ops, mut reopened) = (0, 0, false);
    let mut causes = std::collections::BTreeSet::new();
    while failed < 12 && ops < 400 {
        ops += 1;
        // Mostly adds, so the disk fills; every failure is followed by other kinds of write.
        let op = if failed == 0 || w.rng.chance(0.5) { w.add(&model, 20) } else { w.op(&model) };
        match op.run(&e, cid) {
            Ok(()) => op.apply(&mut model),
            Err(err) => {
                failed += 1;
                assert_eq!(err.kind, ErrorKind::Internal, "{err:?}");
                assert!(err.message.contains("the disk is full"), "{}: unclear error {:?}", op.name(), err.message);
                causes.insert(err.message.split(';').next().unwrap_or_default().to_string());
            }
        }
        check(&e, cid, &model, &format!("tmpfs: after {} (op {ops})", op.name()));
        if failed >= 6 && !reopened {
            // Close and reopen on the full disk: it opens and serves reads.
            drop(e);
            (e, cid) = open(&dir);
            check(&e, cid, &model, "tmpfs: reopened while full");
            reopened = true;
        }
    }
    assert!(failed >= 12, "the tmpfs never filled up in {ops} writes");
    fs.resize("64m");
    for _ in 0..3 {
        let op = w.add(&model, 20);
        op.run(&e, cid).unwrap_or_else(|err| panic!("tmpfs: add once there is room: {err}"));
        op.apply(&mut model);
    }
    drop(e);
    let (e, cid) = open(&dir);
    check(&e, cid, &model, "tmpfs: reopened with room");
    check_no_temp_files(&dir, "tmpfs");
    eprintln!("faults: tmpfs: {failed} of {ops} writes failed, {} records kept; causes {causes:?}", model.len());
    drop(e);
}
