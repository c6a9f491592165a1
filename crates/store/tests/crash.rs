//! kill -9 durability test.
//!
//! A child process (this test binary run again as `crash_writer_child`) opens a persistent
//! folder and streams random adds, upserts, updates, deletes (by ids and by `where`) and the
//! occasional compaction, in batches of random size. Before each call it prints `BEGIN <op as
//! JSON>`, after the call returns `ACK`. The parent kills it with SIGKILL after a random
//! delay, reopens the folder and checks:
//!
//! * the store equals the model of every acknowledged write, or that plus the one write in
//!   flight (never a part of it, never an older state): acknowledged adds/updates carry
//!   exactly their content or the in-flight one's, acknowledged deletes stay deleted;
//! * the vector index agrees with `SQLite`: `count == get().ids.len()`; every record's own
//!   embedding, searched among its group (exact search), returns it at distance ~0; the same
//!   unfiltered (HNSW, the collection is big enough) returns full result lists whose distances
//!   are the true distances of the returned records, finding the record itself nearly always;
//! * the sparse vectors in the records' metadata come back exactly, and a sparse `Knn` search
//!   (the inverted index, derived from `SQLite`) returns the model's exact inner-product order;
//! * one generation of vector/graph files is left after a reopen.
//!
//! Then the next cycle starts a new child on the same folder. `CRASH_CYCLES` sets the number of
//! cycles (default 50).

mod support;

use chroma_store::{folder, Engine};
use chroma_types::filter::parse_where;
use chroma_types::metadata::{metadata_from_json, update_metadata_from_json};
use chroma_types::*;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use support::{say, ChildProc, Rng};

const DIR_ENV: &str = "CHROMA_CRASH_DIR";
const SEED_ENV: &str = "CHROMA_CRASH_SEED";
const CYCLE_ENV: &str = "CHROMA_CRASH_CYCLE";
const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;
const NAME: &str = "crash";
const DIM: usize = 8;
/// Live records the writer steers towards: enough for unfiltered queries to use HNSW
/// (`ef_search` 10: more than 1024 candidates and c^2 > 320 n).
const TARGET: usize = 1500;
const GROUPS: i64 = 20;
const MAX_OPS: usize = 2000;

// ---------------------------------------------------------------------------------------------
// Operations and their JSON form (what the child prints before each call)

#[derive(Clone, Debug)]
struct WRec {
    id: String,
    emb: Option<Vec<f32>>,
    doc: Option<String>,
    /// Update metadata: a null value deletes the key.
    md: Option<Value>,
}

#[derive(Clone, Debug)]
enum WOp {
    Add(Vec<WRec>),
    Upsert(Vec<WRec>),
    Update(Vec<WRec>),
    DeleteIds(Vec<String>),
    DeleteGroup(i64),
    Compact,
}

impl WRec {
    fn to_json(&self) -> Value {
        json!({"id": self.id, "e": self.emb, "doc": self.doc, "md": self.md})
    }
    fn from_json(v: &Value) -> WRec {
        WRec {
            id: v["id"].as_str().unwrap().to_string(),
            emb: v["e"].as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap() as f32).collect()),
            doc: v["doc"].as_str().map(str::to_string),
            md: Some(v["md"].clone()).filter(|m| !m.is_null()),
        }
    }
}

impl WOp {
    fn to_json(&self) -> Value {
        let recs = |r: &Vec<WRec>| r.iter().map(WRec::to_json).collect::<Vec<_>>();
        match self {
            WOp::Add(r) => json!({"op": "add", "recs": recs(r)}),
            WOp::Upsert(r) => json!({"op": "upsert", "recs": recs(r)}),
            WOp::Update(r) => json!({"op": "update", "recs": recs(r)}),
            WOp::DeleteIds(ids) => json!({"op": "delete_ids", "ids": ids}),
            WOp::DeleteGroup(g) => json!({"op": "delete_group", "grp": g}),
            WOp::Compact => json!({"op": "compact"}),
        }
    }
    fn kind(&self) -> &'static str {
        match self {
            WOp::Add(_) => "add",
            WOp::Upsert(_) => "upsert",
            WOp::Update(_) => "update",
            WOp::DeleteIds(_) => "delete by ids",
            WOp::DeleteGroup(_) => "delete by where",
            WOp::Compact => "compaction",
        }
    }
    fn from_json(v: &Value) -> WOp {
        let recs = || v["recs"].as_array().unwrap().iter().map(WRec::from_json).collect();
        match v["op"].as_str().unwrap() {
            "add" => WOp::Add(recs()),
            "upsert" => WOp::Upsert(recs()),
            "update" => WOp::Update(recs()),
            "delete_ids" => {
                WOp::DeleteIds(v["ids"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect())
            }
            "delete_group" => WOp::DeleteGroup(v["grp"].as_i64().unwrap()),
            "compact" => WOp::Compact,
            other => panic!("unknown op {other}"),
        }
    }

    /// Performs the operation on the engine (child side).
    fn run(&self, e: &Engine, cid: uuid::Uuid) {
        let umd = |r: &WRec| r.md.as_ref().map(|m| update_metadata_from_json(m).unwrap());
        match self {
            WOp::Add(recs) | WOp::Upsert(recs) => {
                let req = AddRequest {
                    ids: recs.iter().map(|r| r.id.clone()).collect(),
                    embeddings: recs.iter().map(|r| r.emb.clone().unwrap()).collect(),
                    documents: Some(recs.iter().map(|r| r.doc.clone()).collect()),
                    uris: None,
                    metadatas: Some(recs.iter().map(umd).collect()),
                    ..Default::default()
                };
                if matches!(self, WOp::Add(_)) {
                    e.add(cid, req).unwrap();
                } else {
                    e.upsert(cid, req).unwrap();
                }
            }
            WOp::Update(recs) => e
                .update(
                    cid,
                    UpdateRequest {
                        ids: recs.iter().map(|r| r.id.clone()).collect(),
                        embeddings: Some(recs.iter().map(|r| r.emb.clone()).collect()),
                        documents: Some(recs.iter().map(|r| r.doc.clone()).collect()),
                        uris: None,
                        metadatas: Some(recs.iter().map(umd).collect()),
                        ..Default::default()
                    },
                )
                .unwrap(),
            WOp::DeleteIds(ids) => {
                e.delete(cid, DeleteRequest { ids: Some(ids.clone()), ..Default::default() }).unwrap();
            }
            WOp::DeleteGroup(g) => {
                let w = parse_where(Some(&json!({"grp": g}))).unwrap();
                e.delete(cid, DeleteRequest { r#where: w, ..Default::default() }).unwrap();
            }
            WOp::Compact => {
                e.compact_collection(cid).unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The model

#[derive(Clone, Debug, PartialEq)]
struct Rec {
    emb: Vec<f32>,
    doc: Option<String>,
    md: Option<Metadata>,
}

type Model = BTreeMap<String, Rec>;

fn merge(base: Option<Metadata>, upd: &Value) -> Option<Metadata> {
    let mut m = base.unwrap_or_default();
    for (k, v) in upd.as_object().unwrap() {
        if v.is_null() {
            m.remove(k);
        } else {
            m.insert(k.clone(), MetadataValue::from_json(k, v).unwrap());
        }
    }
    (!m.is_empty()).then_some(m)
}

fn apply(model: &mut Model, op: &WOp) {
    match op {
        WOp::Add(recs) | WOp::Upsert(recs) => {
            for r in recs {
                match model.get_mut(&r.id) {
                    None => {
                        let md = r.md.as_ref().and_then(|m| merge(None, m));
                        model.insert(r.id.clone(), Rec { emb: r.emb.clone().unwrap(), doc: r.doc.clone(), md });
                    }
                    Some(_) if matches!(op, WOp::Add(_)) => {}
                    Some(old) => {
                        old.emb = r.emb.clone().unwrap();
                        if r.doc.is_some() {
                            old.doc.clone_from(&r.doc);
                        }
                        if let Some(m) = &r.md {
                            old.md = merge(old.md.take(), m);
                        }
                    }
                }
            }
        }
        WOp::Update(recs) => {
            for r in recs {
                if let Some(old) = model.get_mut(&r.id) {
                    if let Some(e) = &r.emb {
                        old.emb.clone_from(e);
                    }
                    if r.doc.is_some() {
                        old.doc.clone_from(&r.doc);
                    }
                    if let Some(m) = &r.md {
                        old.md = merge(old.md.take(), m);
                    }
                }
            }
        }
        WOp::DeleteIds(ids) => {
            for id in ids {
                model.remove(id);
            }
        }
        WOp::DeleteGroup(g) => {
            model.retain(|_, r| r.md.as_ref().and_then(|m| m.get("grp")) != Some(&MetadataValue::Int(*g)));
        }
        WOp::Compact => {}
    }
}

// ---------------------------------------------------------------------------------------------
// The writer (child process)

fn random_emb(rng: &mut Rng) -> Vec<f32> {
    (0..DIM).map(|_| rng.f32()).collect()
}

fn gen_op(rng: &mut Rng, live: &[String], prefix: &str, next: &mut usize) -> WOp {
    let mut fresh = |rng: &mut Rng| {
        *next += 1;
        let id = format!("{prefix}-{next}");
        let grp = rng.below(GROUPS as u64) as i64;
        WRec {
            doc: Some(format!("doc of {id}")),
            md: Some(json!({"grp": grp, "v": rng.below(1000), "tag": format!("t{}", rng.below(5)), "sp": {
                "#type": "sparse_vector", "indices": [rng.below(8), 8 + rng.below(8)],
                "values": [0.5 + rng.below(100) as f64 / 7.0, 1.0 + rng.below(100) as f64 / 3.0]}})),
            emb: Some(random_emb(rng)),
            id,
        }
    };
    let pick = |rng: &mut Rng| -> String {
        if live.is_empty() || rng.chance(0.05) {
            format!("missing-{}", rng.below(1000))
        } else {
            rng.pick(live).clone()
        }
    };
    let growing = live.len() < TARGET;
    let r = rng.below(100);
    if growing && r < 60 || live.len() < 50 {
        let n = rng.range(1, 300) as usize;
        return WOp::Add((0..n).map(|_| fresh(rng)).collect());
    }
    let n = rng.range(1, 40) as usize;
    let mut ids_seen = std::collections::HashSet::new();
    match r {
        0..=19 => {
            // add that also names existing ids (ignored by add)
            let mut recs: Vec<WRec> = (0..n).map(|_| fresh(rng)).collect();
            for _ in 0..rng.below(3) {
                let mut r = fresh(rng);
                r.id = pick(rng);
                recs.push(r);
            }
            recs.retain(|r| ids_seen.insert(r.id.clone()));
            WOp::Add(recs)
        }
        20..=44 => {
            let recs: Vec<WRec> = (0..n)
                .map(|_| {
                    let mut r = fresh(rng);
                    if rng.chance(0.7) {
                        r.id = pick(rng);
                    }
                    if rng.chance(0.3) {
                        r.doc = None;
                    }
                    if rng.chance(0.3) {
                        r.md = Some(
                            json!({"v": null, "grp": rng.below(GROUPS as u64), "tag": format!("u{}", rng.below(5))}),
                        );
                    }
                    r
                })
                .filter(|r| ids_seen.insert(r.id.clone()))
                .collect();
            WOp::Upsert(recs)
        }
        45..=69 => {
            let recs: Vec<WRec> = (0..n)
                .map(|_| {
                    let id = pick(rng);
                    WRec {
                        emb: rng.chance(0.5).then(|| random_emb(rng)),
                        doc: rng.chance(0.5).then(|| format!("updated {id} {}", rng.below(100))),
                        md: rng.chance(0.6).then(|| {
                            if rng.chance(0.5) {
                                json!({"v": null})
                            } else {
                                json!({"grp": rng.below(GROUPS as u64), "v": rng.below(1000)})
                            }
                        }),
                        id,
                    }
                })
                .filter(|r| ids_seen.insert(r.id.clone()))
                .collect();
            WOp::Update(recs)
        }
        70..=89 => {
            let ids: Vec<String> = (0..n).map(|_| pick(rng)).filter(|i| ids_seen.insert(i.clone())).collect();
            WOp::DeleteIds(ids)
        }
        90..=94 => WOp::DeleteGroup(rng.below(GROUPS as u64) as i64),
        _ => WOp::Compact,
    }
}

/// Child side: writes until killed (or `MAX_OPS` operations, then closes and says DONE).
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(DIR_ENV) else { return };
    let seed: u64 = std::env::var(SEED_ENV).unwrap().parse().unwrap();
    let cycle: String = std::env::var(CYCLE_ENV).unwrap();
    let mut rng = Rng::new(seed);
    let e = Engine::open(Path::new(&dir), Settings::default()).unwrap();
    let cid = e.get_collection(T, D, NAME).unwrap().id;
    let mut live: Vec<String> = e.get(cid, GetRequest { include: vec![], ..Default::default() }).unwrap().ids;
    say("READY");
    let mut next = 0;
    let prefix = format!("c{cycle}");
    for _ in 0..MAX_OPS {
        let op = gen_op(&mut rng, &live, &prefix, &mut next);
        say(&format!("BEGIN {}", op.to_json()));
        op.run(&e, cid);
        say("ACK");
        // the child's own view of the live ids (only used to pick ids for the next ops)
        let mut set: std::collections::BTreeSet<String> = live.into_iter().collect();
        match &op {
            WOp::Add(r) | WOp::Upsert(r) => {
                set.extend(r.iter().map(|r| r.id.clone()).filter(|i| !i.starts_with("missing-")));
            }
            WOp::DeleteIds(ids) => ids.iter().for_each(|i| {
                set.remove(i);
            }),
            WOp::DeleteGroup(_) => {
                set =
                    e.get(cid, GetRequest { include: vec![], ..Default::default() }).unwrap().ids.into_iter().collect();
            }
            _ => {}
        }
        live = set.into_iter().collect();
    }
    drop(e);
    say("DONE");
}

// ---------------------------------------------------------------------------------------------
// The parent

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

fn read_store(e: &Engine, cid: uuid::Uuid) -> Model {
    let g = e
        .get(
            cid,
            GetRequest {
                include: vec![Include::Embeddings, Include::Documents, Include::Metadatas],
                ..Default::default()
            },
        )
        .unwrap();
    let n = g.ids.len();
    assert_eq!(e.count(cid).unwrap(), n, "count agrees with get");
    let embs = g.embeddings.unwrap();
    let docs = g.documents.unwrap();
    let mds = g.metadatas.unwrap();
    let mut out = Model::new();
    for (i, id) in g.ids.into_iter().enumerate() {
        let prev = out.insert(id.clone(), Rec { emb: embs[i].clone(), doc: docs[i].clone(), md: mds[i].clone() });
        assert!(prev.is_none(), "{id} returned twice");
    }
    out
}

fn describe_diff(a: &Model, b: &Model) -> String {
    let mut out = Vec::new();
    for (k, v) in a {
        match b.get(k) {
            None => out.push(format!("{k}: only in store")),
            Some(w) if w != v => out.push(format!("{k}: store {v:?} / model {w:?}")),
            _ => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.push(format!("{k}: only in model"));
    }
    let n = out.len();
    out.truncate(8);
    format!("{n} differences, e.g. {out:#?}")
}

/// The index agrees with `SQLite` (see the module docs). Returns HNSW self-query misses.
fn check_index(e: &Engine, cid: uuid::Uuid, model: &Model) -> usize {
    if model.is_empty() {
        return 0;
    }
    // exact: each record among its group
    let mut groups: BTreeMap<i64, Vec<(&String, &Rec)>> = BTreeMap::new();
    for (id, r) in model {
        let g = match r.md.as_ref().and_then(|m| m.get("grp")) {
            Some(MetadataValue::Int(g)) => *g,
            other => panic!("{id} has no group: {other:?}"),
        };
        groups.entry(g).or_default().push((id, r));
    }
    for (g, recs) in &groups {
        let mut req = QueryRequest::new(recs.iter().map(|(_, r)| r.emb.clone()).collect(), 1);
        req.r#where = Some(parse_where(Some(&json!({"grp": g}))).unwrap().unwrap());
        let res = e.query(cid, req).unwrap();
        for (i, (id, _)) in recs.iter().enumerate() {
            assert_eq!(res.ids[i], vec![(*id).clone()], "group {g}: {id} is not found by its own embedding");
            assert!(res.distances.as_ref().unwrap()[i][0] < 1e-5);
        }
    }
    // the sparse index (derived from SQLite, rebuilt on first use): exact inner-product order
    for term in [3u32, 11] {
        let q = chroma_types::SparseVector::new(vec![term], vec![1.0], None).unwrap();
        let mut want: Vec<(f32, &String)> = model
            .iter()
            .filter_map(|(id, r)| match r.md.as_ref().and_then(|m| m.get("sp")) {
                Some(MetadataValue::Sparse(v)) => Some((v.dot(&q), id)),
                _ => None,
            })
            .filter(|(d, _)| *d != 0.0)
            .collect();
        want.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
        want.truncate(10);
        assert!(!want.is_empty() || model.len() < 40, "the records carry sparse vectors");
        let knn = chroma_types::search::Knn {
            query: chroma_types::search::KnnQuery::Sparse(q),
            key: "sp".into(),
            limit: 10,
            default: None,
            return_rank: false,
        };
        let s = chroma_types::search::Search { rank: Some(chroma_types::search::Rank::Knn(knn)), ..Default::default() };
        let got =
            e.search(cid, chroma_types::search::SearchRequest { searches: vec![s], ..Default::default() }).unwrap();
        assert_eq!(got.ids[0], want.iter().map(|w| w.1.clone()).collect::<Vec<_>>(), "sparse search on term {term}");
    }
    // unfiltered (HNSW once the collection is big): consistent distances, full lists
    let ids: Vec<&String> = model.keys().collect();
    let k = 5.min(model.len());
    let res = e.query(cid, QueryRequest::new(model.values().map(|r| r.emb.clone()).collect(), k)).unwrap();
    let mut misses = 0;
    for (i, (got, dists)) in res.ids.iter().zip(res.distances.unwrap()).enumerate() {
        assert_eq!(got.len(), k, "a full result list for {}", ids[i]);
        for (id, d) in got.iter().zip(&dists) {
            let rec = model.get(id).unwrap_or_else(|| panic!("query returned {id}, which is not in the store"));
            let true_d = l2(&model[ids[i]].emb, &rec.emb);
            assert!((d - true_d).abs() < 1e-4, "query for {} reports {id} at {d}, true distance {true_d}", ids[i]);
        }
        if &got[0] != ids[i] {
            misses += 1;
        }
    }
    // The collection searches with ef 10 over a graph churned by deletes, updates and
    // compactions: a few self-query misses are HNSW's approximation (up to 1.7% in one cycle of
    // ~15 runs of 50 cycles), while an index out of step with SQLite misses far more.
    assert!(misses * 20 <= model.len(), "{misses} of {} records not found by their own embedding", model.len());
    misses
}

#[allow(clippy::case_sensitive_file_extension_comparisons)] // names this crate writes, lowercase
fn check_one_generation(dir: &Path, cid: uuid::Uuid) {
    let cdir = folder::collection_dir(dir, &cid);
    let Ok(entries) = std::fs::read_dir(&cdir) else { return };
    let names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().to_string()).collect();
    let gens: std::collections::BTreeSet<String> = names
        .iter()
        .map(|n| {
            n.trim_start_matches("vectors-")
                .trim_start_matches("hnsw-")
                .trim_end_matches(".f32")
                .trim_end_matches(".graph")
                .to_string()
        })
        .collect();
    assert!(gens.len() <= 1 && names.iter().all(|n| !n.ends_with(".tmp")), "files of one generation only: {names:?}");
}

#[derive(Default, Debug)]
struct Stats {
    cycles: usize,
    acked_ops: usize,
    in_flight_applied: usize,
    in_flight_not_applied: usize,
    killed_before_first_op: usize,
    finished_before_kill: usize,
    compactions_acked: usize,
    /// What the writer was doing when it was killed.
    killed_in: BTreeMap<&'static str, usize>,
    hnsw_self_misses: usize,
    max_records: usize,
}

#[test]
fn kill_minus_nine_loses_no_acknowledged_write() {
    let cycles: usize = std::env::var("CRASH_CYCLES").ok().and_then(|s| s.parse().ok()).unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let cid = {
        let e = Engine::open(&dir, Settings::default()).unwrap();
        let md = metadata_from_json(&json!({"hnsw:search_ef": 10, "hnsw:sync_threshold": 3})).unwrap();
        e.create_collection(T, D, CreateCollection::new(NAME).metadata(md)).unwrap().id
    };
    let mut rng = Rng::from_time();
    let base_seed = rng.next_u64();
    eprintln!("crash test: seed {base_seed}, {cycles} cycles (CRASH_CYCLES)");
    let mut model = Model::new();
    let mut stats = Stats::default();
    let started = Instant::now();
    for cycle in 0..cycles {
        let seed = base_seed.wrapping_add(cycle as u64);
        let t0 = Instant::now();
        let mut child = ChildProc::spawn(
            "crash_writer_child",
            &[(DIR_ENV, dir.display().to_string()), (SEED_ENV, seed.to_string()), (CYCLE_ENV, cycle.to_string())],
        );
        child
            .wait_for("READY", Duration::from_secs(120))
            .unwrap_or_else(|| panic!("cycle {cycle}: the writer did not start"));
        let t_ready = t0.elapsed();
        // mostly mid-stream; sometimes at once (during the index load), sometimes later
        let delay = match rng.below(10) {
            0 => 0,
            1 => rng.range(200, 600),
            _ => rng.range(1, 200),
        };
        std::thread::sleep(Duration::from_millis(delay));
        if let Some(status) = child.child.try_wait().unwrap() {
            assert!(status.success(), "cycle {cycle}: the writer failed on its own ({status})");
        }
        child.child.kill().unwrap();
        child.child.wait().unwrap();
        // everything it printed (its stdout closes when it dies)
        let lines: Vec<String> = child.lines.iter().collect();
        let mut acked: Vec<WOp> = Vec::new();
        let mut in_flight: Option<WOp> = None;
        let mut done = false;
        for l in &lines {
            if let Some(j) = l.strip_prefix("BEGIN ") {
                assert!(in_flight.is_none(), "cycle {cycle}: BEGIN without ACK before it");
                in_flight = Some(WOp::from_json(&serde_json::from_str(j).unwrap()));
            } else if l == "ACK" {
                acked.push(in_flight.take().expect("ACK without BEGIN"));
            } else if l == "DONE" {
                done = true;
            }
        }
        stats.cycles += 1;
        stats.acked_ops += acked.len();
        stats.finished_before_kill += usize::from(done);
        if acked.is_empty() && in_flight.is_none() {
            stats.killed_before_first_op += 1;
        }
        stats.compactions_acked += acked.iter().filter(|o| matches!(o, WOp::Compact)).count();
        let kind = match &in_flight {
            None if done => "nothing (finished)",
            None => "between operations",
            Some(op) => op.kind(),
        };
        *stats.killed_in.entry(kind).or_default() += 1;
        for op in &acked {
            apply(&mut model, op);
        }
        let t1 = Instant::now();
        // reopen: must succeed at once (the OS released the dead writer's lock)
        let e = Engine::open(&dir, Settings::default()).unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
        let t_open = t1.elapsed();
        let store = read_store(&e, cid);
        let t_read = t1.elapsed();
        if store != model {
            let Some(op) = &in_flight else {
                panic!(
                    "cycle {cycle}: the store lost or changed acknowledged writes: {}",
                    describe_diff(&store, &model)
                );
            };
            let mut with = model.clone();
            apply(&mut with, op);
            assert!(
                store == with,
                "cycle {cycle}: the store is neither the acknowledged state nor that plus the write in flight ({op:?}): {}",
                describe_diff(&store, &with)
            );
            if with != model {
                stats.in_flight_applied += 1;
            }
            model = with;
        } else if let Some(op) = &in_flight {
            let mut with = model.clone();
            apply(&mut with, op);
            if with != model {
                stats.in_flight_not_applied += 1;
            }
        }
        stats.max_records = stats.max_records.max(model.len());
        stats.hnsw_self_misses += check_index(&e, cid, &model);
        let t_check = t1.elapsed();
        drop(e);
        if std::env::var("CRASH_TIMING").is_ok() {
            eprintln!("cycle {cycle}: ready {t_ready:?} delay {delay} acked {} open {t_open:?} read {t_read:?} check {t_check:?} closed {:?}", acked.len(), t1.elapsed());
        }
        check_one_generation(&dir, cid);
    }
    // a last clean open: still the same
    let e = Engine::open(&dir, Settings::default()).unwrap();
    assert!(read_store(&e, cid) == model);
    eprintln!("crash test: {stats:?} in {:.1} s", started.elapsed().as_secs_f64());
    assert!(stats.acked_ops > 0);
}
