//! Persistence of the storage engine across closes and reopens, and what it does with folders
//! it must not (or cannot fully) trust: missing, corrupt or stale index graphs, vector files
//! with bytes past the committed slots, older schemas, tampered or newer schemas, and folders
//! of older Chroma releases.
//!
//! Over 700 lines on purpose: splitting it would add a test binary, and each one links the
//! whole engine; its sections are marked with `// ----` rules.

mod support;

use chroma_store::{folder, schema, Engine};
use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::metadata::{metadata_from_json, update_metadata_from_json};
use chroma_types::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use support::{assert_same_folder, folder_contents, full_get, Rng};

const T: &str = DEFAULT_TENANT;
const D: &str = DEFAULT_DATABASE;

fn settings() -> Settings {
    Settings { allow_reset: true, ..Default::default() }
}

fn md(v: &serde_json::Value) -> Metadata {
    metadata_from_json(v).unwrap()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| (*x).to_string()).collect()
}

/// Everything observable about a store: tenants, databases, collections (with config,
/// version, log position) and, per collection, count, every record with every column, a few
/// queries with every column, a filtered get and a filtered query.
#[derive(Debug, PartialEq)]
struct Snapshot {
    tenants: Vec<Tenant>,
    databases: Vec<Database>,
    collections: Vec<Collection>,
    contents: Vec<Contents>,
}

/// Name, count, full get, filtered get, query, filtered query.
type Contents = (String, usize, GetResult, GetResult, Option<QueryResult>, Option<QueryResult>);

fn snapshot(e: &Engine) -> Snapshot {
    let tenants = e.list_tenants(None, 0).unwrap();
    let mut databases = Vec::new();
    let mut collections = Vec::new();
    let mut contents = Vec::new();
    for t in &tenants {
        for db in e.list_databases(&t.name, None, 0).unwrap() {
            for c in e.list_collections(&t.name, &db.name, None, 0).unwrap() {
                assert_eq!(e.get_collection(&t.name, &db.name, &c.name).unwrap(), c);
                let n = e.count(c.id).unwrap();
                let all = full_get(e, c.id);
                let filtered = e
                    .get(
                        c.id,
                        GetRequest {
                            r#where: parse_where(Some(
                                &json!({"$or": [{"k": {"$gte": 2}}, {"tags": {"$contains": "red"}}]}),
                            ))
                            .unwrap(),
                            where_document: parse_where_document(Some(&json!({"$not_contains": "zzz"}))).unwrap(),
                            ..Default::default()
                        },
                    )
                    .unwrap();
                let (q, fq) = match c.dimension {
                    None => (None, None),
                    Some(dim) => {
                        let queries: Vec<Vec<f32>> =
                            (0..dim).map(|i| (0..dim).map(|j| if i == j { 1.0 } else { 0.1 }).collect()).collect();
                        let mut req = QueryRequest::new(queries, 4);
                        req.include = vec![
                            Include::Embeddings,
                            Include::Documents,
                            Include::Metadatas,
                            Include::Uris,
                            Include::Distances,
                        ];
                        let q = e.query(c.id, req.clone()).unwrap();
                        req.r#where = parse_where(Some(&json!({"k": {"$ne": 1}}))).unwrap();
                        req.where_document = parse_where_document(Some(&json!({"$contains": "o"}))).unwrap();
                        (Some(q), Some(e.query(c.id, req).unwrap()))
                    }
                };
                contents.push((c.name.clone(), n, all, filtered, q, fq));
                collections.push(c);
            }
            databases.push(db);
        }
    }
    Snapshot { tenants, databases, collections, contents }
}

/// Applies `op` to the engine open on `dir`, then checks that closing and reopening the folder
/// changes nothing observable. Returns the reopened engine.
fn round_trip(dir: &Path, e: Engine, what: &str, op: impl FnOnce(&Engine)) -> Engine {
    op(&e);
    let before = snapshot(&e);
    drop(e);
    let e = Engine::open(dir, settings()).unwrap();
    let after = snapshot(&e);
    assert_eq!(before, after, "after {what}: the reopened folder differs");
    e
}

fn coll(e: &Engine, tenant: &str, db: &str, name: &str) -> Collection {
    e.get_collection(tenant, db, name).unwrap()
}

fn records(n: usize, prefix: &str, dim: usize, rng: &mut Rng) -> AddRequest {
    let ids: Vec<String> = (0..n).map(|i| format!("{prefix}{i}")).collect();
    let embs: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| rng.f32()).collect()).collect();
    let docs = (0..n)
        .map(|i| if i % 4 == 3 { None } else { Some(format!("doc {prefix}{i} {}", ["hello", "world", "foo"][i % 3])) })
        .collect();
    let uris = (0..n).map(|i| if i % 2 == 0 { Some(format!("s3://b/{prefix}{i}")) } else { None }).collect();
    let mds = (0..n)
        .map(|i| {
            if i % 5 == 4 {
                None
            } else {
                let color = ["red", "green", "blue"][i % 3];
                Some(md(&json!({"k": i % 4, "f": i as f64 / 4.0, "s": format!("s{}", i % 3), "b": i % 2 == 0,
                    "tags": [color, "all"], "nums": [i, i + 1]})))
            }
        })
        .collect();
    AddRequest::new(ids, embs).documents(docs).uris(uris).metadatas(mds)
}

#[test]
fn reopen_round_trips_every_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let mut rng = Rng::new(7);
    let e = Engine::open(&dir, settings()).unwrap();
    let e = round_trip(&dir, e, "nothing (a new folder)", |_| {});
    let e = round_trip(&dir, e, "tenants and databases", |e| {
        e.create_tenant("tenant-a").unwrap();
        e.create_database("tenant-a", "db-a").unwrap();
        e.create_database(T, "db-b").unwrap();
    });
    let e = round_trip(&dir, e, "create collections", |e| {
        e.create_collection(T, D, CreateCollection::new("plain")).unwrap();
        let m = md(&json!({"hnsw:space": "cosine", "hnsw:M": 8, "owner": "me", "n": 3, "ratio": 0.5, "flag": true}));
        e.create_collection(T, D, CreateCollection::new("cos").metadata(m)).unwrap();
        e.create_collection(
            T,
            D,
            CreateCollection::new("cfg").configuration(json!({"hnsw": {"space": "ip", "ef_search": 33}})),
        )
        .unwrap();
        e.create_collection("tenant-a", "db-a", CreateCollection::new("in-a")).unwrap();
        e.create_collection(T, "db-b", CreateCollection::new("in-b")).unwrap();
    });
    let e = round_trip(&dir, e, "add", |e| {
        e.add(coll(e, T, D, "plain").id, records(40, "p", 3, &mut rng)).unwrap();
        e.add(coll(e, T, D, "cos").id, records(10, "c", 5, &mut rng)).unwrap();
        e.add(coll(e, T, D, "cfg").id, records(10, "g", 2, &mut rng)).unwrap();
        e.add(coll(e, "tenant-a", "db-a", "in-a").id, records(7, "a", 4, &mut rng)).unwrap();
        e.add(coll(e, T, "db-b", "in-b").id, records(3, "b", 2, &mut rng)).unwrap();
    });
    let plain = coll(&e, T, D, "plain").id;
    let e = round_trip(&dir, e, "add of existing ids (ignored)", |e| {
        e.add(plain, records(5, "p", 3, &mut rng)).unwrap();
    });
    let e = round_trip(&dir, e, "upsert", |e| {
        let mut req = records(6, "p", 3, &mut rng);
        req.ids[5] = "p-new".into();
        req.metadatas = Some(vec![
            Some(update_metadata_from_json(&json!({"k": 9, "s": null})).unwrap()),
            None,
            Some(update_metadata_from_json(&json!({"extra": [1.5, 2.5]})).unwrap()),
            None,
            None,
            Some(update_metadata_from_json(&json!({"k": 1, "gone": null})).unwrap()),
        ]);
        e.upsert(plain, req).unwrap();
    });
    let e = round_trip(&dir, e, "update", |e| {
        e.update(
            plain,
            UpdateRequest {
                ids: s(&["p6", "p7", "p8", "missing"]),
                embeddings: Some(vec![
                    Some(vec![9.0, 9.0, 9.0]),
                    None,
                    Some(vec![-9.0, 0.0, 1.0]),
                    Some(vec![1.0, 1.0, 1.0]),
                ]),
                documents: Some(vec![Some("rewritten zzz".into()), None, Some("another".into()), None]),
                uris: None,
                metadatas: Some(vec![
                    Some(
                        update_metadata_from_json(
                            &json!({"k": null, "f": null, "s": null, "b": null, "tags": null, "nums": null}),
                        )
                        .unwrap(),
                    ),
                    Some(update_metadata_from_json(&json!({"new": "v"})).unwrap()),
                    None,
                    None,
                ]),
                ..Default::default()
            },
        )
        .unwrap();
    });
    let e = round_trip(&dir, e, "delete by ids", |e| {
        let gone =
            e.delete(plain, DeleteRequest { ids: Some(s(&["p0", "p1", "nope"])), ..Default::default() }).unwrap();
        assert_eq!(gone, s(&["p0", "p1"]));
    });
    let e = round_trip(&dir, e, "delete by where", |e| {
        let gone = e
            .delete(
                plain,
                DeleteRequest { r#where: parse_where(Some(&json!({"k": 3}))).unwrap(), ..Default::default() },
            )
            .unwrap();
        assert!(!gone.is_empty());
    });
    let e = round_trip(&dir, e, "delete by where_document", |e| {
        let req = DeleteRequest {
            where_document: parse_where_document(Some(&json!({"$contains": "world"}))).unwrap(),
            ..Default::default()
        };
        assert!(!e.delete(plain, req).unwrap().is_empty());
    });
    let e = round_trip(&dir, e, "modify collections", |e| {
        let cos = coll(e, T, D, "cos").id;
        e.update_collection(
            cos,
            UpdateCollection {
                new_name: Some("cos2".into()),
                new_metadata: Some(md(&json!({"owner": "you"}))),
                ..Default::default()
            },
        )
        .unwrap();
        let cfg = coll(e, T, D, "cfg").id;
        e.update_collection(
            cfg,
            UpdateCollection { new_configuration: Some(json!({"hnsw": {"ef_search": 50}})), ..Default::default() },
        )
        .unwrap();
        assert_eq!(e.get_collection_by_id(cfg).unwrap().config.ef_search, 50);
        assert_eq!(e.get_collection_by_id(cos).unwrap().config.space, Space::Cosine);
    });
    let cfg = coll(&e, T, D, "cfg").id;
    let cfg_dir = dir.join("collections").join(cfg.to_string());
    assert!(cfg_dir.exists());
    let e = round_trip(&dir, e, "delete a collection", |e| e.delete_collection(T, D, "cfg").unwrap());
    assert!(!cfg_dir.exists(), "a deleted collection's files are removed");
    assert_eq!(e.get_collection_by_id(cfg).unwrap_err().kind, ErrorKind::NotFound);
    let e = round_trip(&dir, e, "delete a database", |e| e.delete_database(T, "db-b").unwrap());
    let e = round_trip(&dir, e, "create and delete a tenant", |e| {
        e.create_tenant("tenant-z").unwrap();
        e.create_database("tenant-z", "db-z").unwrap();
        e.delete_database("tenant-z", "db-z").unwrap();
        e.delete_tenant("tenant-z").unwrap();
    });
    // a collection emptied by deletes keeps its dimension and answers empty queries
    let e = round_trip(&dir, e, "delete everything in a collection", |e| {
        let a = coll(e, "tenant-a", "db-a", "in-a").id;
        let all = full_get(e, a).ids;
        e.delete(a, DeleteRequest { ids: Some(all), ..Default::default() }).unwrap();
    });
    let a = coll(&e, "tenant-a", "db-a", "in-a");
    assert_eq!(a.dimension, Some(4));
    assert_eq!(e.query(a.id, QueryRequest::new(vec![vec![0.0; 4]], 3)).unwrap().ids, vec![Vec::<String>::new()]);
    let snap = snapshot(&e);
    assert_eq!(snap.tenants.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), vec![T, "tenant-a"]);
    assert_eq!(snap.collections.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), vec!["plain", "cos2", "in-a"]);
    let e = round_trip(&dir, e, "reset", |e| e.reset().unwrap());
    assert_eq!(e.list_tenants(None, 0).unwrap(), vec![Tenant { name: T.into() }]);
    assert_eq!(e.count_collections(T, D).unwrap(), 0);
    let left: Vec<_> = std::fs::read_dir(dir.join("collections")).map(|d| d.flatten().collect()).unwrap_or_default();
    assert!(left.is_empty(), "reset leaves no collection files: {left:?}");
    drop(e);
}

// ---------------------------------------------------------------------------------------------
// The index graph is a cache

/// Files of one collection whose names start with `prefix` ("hnsw-" or "vectors-").
fn coll_file(dir: &Path, id: uuid::Uuid, prefix: &str) -> PathBuf {
    let cdir = folder::collection_dir(dir, &id);
    let mut found: Vec<PathBuf> = std::fs::read_dir(&cdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().unwrap().to_string_lossy().starts_with(prefix) && !p.to_string_lossy().ends_with(".tmp")
        })
        .collect();
    assert_eq!(found.len(), 1, "one {prefix} file in {}: {found:?}", cdir.display());
    found.pop().unwrap()
}

struct Big {
    id: uuid::Uuid,
    /// live records: id -> embedding
    live: std::collections::BTreeMap<String, Vec<f32>>,
    dim: usize,
}

/// A collection big enough that unfiltered queries use the HNSW graph (`ef_search` 10, so more
/// than 1024 live slots and c^2 > 320 n), with deletes and re-embedded records.
fn big_collection(dir: &Path, rng: &mut Rng) -> Big {
    let e = Engine::open(dir, settings()).unwrap();
    // one insertion thread: a rebuild from the same vectors and live set is deterministic
    let m = md(&json!({"hnsw:search_ef": 10, "hnsw:sync_threshold": 100, "hnsw:num_threads": 1}));
    let c = e.create_collection(T, D, CreateCollection::new("big").metadata(m)).unwrap();
    let dim = 12;
    let mut live = std::collections::BTreeMap::new();
    for b in 0..4 {
        let ids: Vec<String> = (0..600).map(|i| format!("r{b}-{i}")).collect();
        let embs: Vec<Vec<f32>> = (0..600).map(|_| (0..dim).map(|_| rng.f32()).collect()).collect();
        for (i, v) in ids.iter().zip(&embs) {
            live.insert(i.clone(), v.clone());
        }
        let mds = (0..600).map(|i| Some(md(&json!({"g": i % 10})))).collect();
        e.add(c.id, AddRequest::new(ids, embs).metadatas(mds)).unwrap();
    }
    let gone: Vec<String> = live.keys().filter(|_| rng.chance(0.1)).cloned().collect();
    for g in &gone {
        live.remove(g);
    }
    e.delete(c.id, DeleteRequest { ids: Some(gone), ..Default::default() }).unwrap();
    let moved: Vec<String> = live.keys().filter(|_| rng.chance(0.05)).cloned().collect();
    let new_embs: Vec<Vec<f32>> = moved.iter().map(|_| (0..dim).map(|_| rng.f32() * 2.0).collect()).collect();
    for (i, v) in moved.iter().zip(&new_embs) {
        live.insert(i.clone(), v.clone());
    }
    e.update(
        c.id,
        UpdateRequest { ids: moved, embeddings: Some(new_embs.into_iter().map(Some).collect()), ..Default::default() },
    )
    .unwrap();
    Big { id: c.id, live, dim }
}

fn l2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Checks the engine against the live set: exact `get`, every record found by its own
/// embedding (HNSW; at most `max_misses` misses overall), every returned distance equal to the
/// true distance of the returned id's vector, exact filtered (brute-force) self-queries, and
/// recall@10 of random queries against brute force. Returns the unfiltered results.
fn check_big(e: &Engine, big: &Big, rng: &mut Rng) -> Vec<Vec<String>> {
    assert_eq!(e.count(big.id).unwrap(), big.live.len());
    let got = e.get(big.id, GetRequest { include: vec![Include::Embeddings], ..Default::default() }).unwrap();
    let mut got: Vec<(String, Vec<f32>)> = got.ids.into_iter().zip(got.embeddings.unwrap()).collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let want: Vec<(String, Vec<f32>)> = big.live.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert!(got == want, "get returns exactly the live records with their embeddings");
    let ids: Vec<&String> = big.live.keys().collect();
    let embs: Vec<Vec<f32>> = big.live.values().cloned().collect();
    let mut req = QueryRequest::new(embs.clone(), 1);
    req.include = vec![Include::Distances];
    let res = e.query(big.id, req).unwrap();
    let mut misses = 0;
    for (i, (rid, d)) in res.ids.iter().zip(res.distances.unwrap()).enumerate() {
        assert_eq!(rid.len(), 1);
        let true_d = l2(&embs[i], &big.live[&rid[0]]);
        assert!((d[0] - true_d).abs() < 1e-4, "distance {} reported for {}, true {true_d}", d[0], rid[0]);
        if &rid[0] != ids[i] {
            misses += 1;
        }
    }
    assert!(misses * 200 <= ids.len(), "{misses} of {} records not found by their own embedding", ids.len());
    // filtered: few candidates, exact search
    for _ in 0..50 {
        let i = rng.below(ids.len() as u64) as usize;
        let mut req = QueryRequest::new(vec![embs[i].clone()], 1);
        req.ids = Some(vec![ids[i].clone(), ids[(i + 1) % ids.len()].clone()]);
        let r = e.query(big.id, req).unwrap();
        assert_eq!(&r.ids[0][0], ids[i]);
        assert!(r.distances.unwrap()[0][0] < 1e-5);
    }
    // recall of random queries
    let mut qrng = Rng::new(99); // the same queries every time, so results can be compared
    let queries: Vec<Vec<f32>> = (0..40).map(|_| (0..big.dim).map(|_| qrng.f32()).collect()).collect();
    let res = e.query(big.id, QueryRequest::new(queries.clone(), 10)).unwrap();
    let mut hit = 0;
    for (q, r) in queries.iter().zip(&res.ids) {
        let mut all: Vec<(f32, &String)> = big.live.iter().map(|(k, v)| (l2(q, v), k)).collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        hit += all[..10].iter().filter(|(_, k)| r.contains(k)).count();
    }
    assert!(hit as f64 >= 0.8 * 400.0, "recall@10 {hit}/400");
    res.ids
}

fn is_valid_graph(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| b.len() > 64 && &b[..8] == b"CHRHNSW\0")
}

#[test]
fn damaged_or_stale_graph_is_rebuilt_or_caught_up() {
    type Damage = Box<dyn Fn(&Path)>;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = Rng::new(11);
    let mut big = big_collection(dir, &mut rng);
    // Opens and waits until the background indexer has linked every vector, so results
    // come from the (deterministic, one-thread) rebuilt graph, not the exact scan.
    let open = |id: uuid::Uuid| {
        let e = Engine::open(dir, settings()).unwrap();
        let t = std::time::Instant::now();
        loop {
            let (linked, stored) = e.index_progress(id).unwrap();
            if linked == stored || t.elapsed().as_secs() > 120 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        e
    };
    let reference = {
        let e = open(big.id);
        check_big(&e, &big, &mut rng)
    };
    let graph = coll_file(dir, big.id, "hnsw-");
    assert!(is_valid_graph(&graph));
    let good = std::fs::read(&graph).unwrap();
    let overlap = |a: &[Vec<String>], b: &[Vec<String>]| -> f64 {
        let same: usize = a.iter().zip(b).map(|(x, y)| x.iter().filter(|i| y.contains(i)).count()).sum();
        same as f64 / a.iter().map(Vec::len).sum::<usize>() as f64
    };
    let damages: Vec<(&str, Damage)> = vec![
        ("deleted", Box::new(|p: &Path| std::fs::remove_file(p).unwrap())),
        (
            "bytes overwritten",
            Box::new(|p: &Path| {
                let mut b = std::fs::read(p).unwrap();
                let mid = b.len() / 2;
                for x in &mut b[mid..mid + 64] {
                    *x = 0xFF;
                }
                std::fs::write(p, b).unwrap();
            }),
        ),
        (
            "truncated",
            Box::new(|p: &Path| {
                let b = std::fs::read(p).unwrap();
                std::fs::write(p, &b[..b.len() / 3]).unwrap();
            }),
        ),
        ("emptied", Box::new(|p: &Path| std::fs::write(p, b"").unwrap())),
        (
            "header says another dimension",
            Box::new(|p: &Path| {
                let mut b = std::fs::read(p).unwrap();
                b[12] = b[12].wrapping_add(1);
                std::fs::write(p, b).unwrap();
            }),
        ),
    ];
    // Every kind of damage leads to the same rebuilt graph: identical results, close to the
    // results of the incrementally built graph, and saved so the next open loads it.
    let mut rebuilt: Option<Vec<Vec<String>>> = None;
    for (what, damage) in &damages {
        std::fs::write(&graph, &good).unwrap();
        damage(&graph);
        let e = open(big.id);
        let res = check_big(&e, &big, &mut rng);
        assert!(
            overlap(&reference, &res) > 0.9,
            "graph {what}: results drifted from before: {}",
            overlap(&reference, &res)
        );
        match &rebuilt {
            None => rebuilt = Some(res),
            Some(r) => assert!(*r == res, "graph {what}: results differ from the other rebuilds"),
        }
        drop(e);
        assert!(is_valid_graph(&graph), "graph {what}: a rebuilt graph is saved again");
        let e = open(big.id);
        assert!(
            check_big(&e, &big, &mut rng) == *rebuilt.as_ref().unwrap(),
            "graph {what}: the saved rebuilt graph gives the same results"
        );
    }
    // A valid graph from an older state: more writes happen, then the old graph comes back
    // (as after a crash between commits and the next graph save). Load catches up.
    std::fs::write(&graph, &good).unwrap();
    {
        let e = open(big.id);
        let ids: Vec<String> = (0..700).map(|i| format!("late{i}")).collect();
        let embs: Vec<Vec<f32>> = (0..700).map(|_| (0..big.dim).map(|_| rng.f32()).collect()).collect();
        for (i, v) in ids.iter().zip(&embs) {
            big.live.insert(i.clone(), v.clone());
        }
        e.add(big.id, AddRequest::new(ids, embs)).unwrap();
        let gone: Vec<String> = big.live.keys().filter(|_| rng.chance(0.1)).cloned().collect();
        for g in &gone {
            big.live.remove(g);
        }
        e.delete(big.id, DeleteRequest { ids: Some(gone), ..Default::default() }).unwrap();
        let moved: Vec<String> = big.live.keys().filter(|_| rng.chance(0.1)).cloned().collect();
        let embs: Vec<Vec<f32>> = moved.iter().map(|_| (0..big.dim).map(|_| rng.f32() + 3.0).collect()).collect();
        for (i, v) in moved.iter().zip(&embs) {
            big.live.insert(i.clone(), v.clone());
        }
        e.upsert(big.id, AddRequest::new(moved, embs)).unwrap();
        check_big(&e, &big, &mut rng);
    }
    std::fs::write(&graph, &good).unwrap();
    let e = open(big.id);
    check_big(&e, &big, &mut rng);
    drop(e);
    assert_ne!(std::fs::read(&graph).unwrap(), good, "the caught-up graph is saved");
    // a graph that belongs to another collection (same dimension, other vectors)
    let other = {
        let e = open(big.id);
        let c = e.create_collection(T, D, CreateCollection::new("other")).unwrap();
        let embs: Vec<Vec<f32>> = (0..300).map(|_| (0..big.dim).map(|_| rng.f32()).collect()).collect();
        e.add(c.id, AddRequest::new((0..300).map(|i| format!("o{i}")).collect(), embs)).unwrap();
        c.id
    };
    std::fs::copy(coll_file(dir, other, "hnsw-"), &graph).unwrap();
    let e = open(big.id);
    check_big(&e, &big, &mut rng);
}

/// Small collections (exact search): the same results, bit for bit, with or without a graph.
#[test]
fn small_collection_results_identical_after_rebuild() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = Rng::new(3);
    let e = Engine::open(dir, settings()).unwrap();
    let c =
        e.create_collection(T, D, CreateCollection::new("small").metadata(md(&json!({"hnsw:space": "ip"})))).unwrap();
    e.add(c.id, records(200, "x", 6, &mut rng)).unwrap();
    e.delete(c.id, DeleteRequest { r#where: parse_where(Some(&json!({"k": 2}))).unwrap(), ..Default::default() })
        .unwrap();
    let before = snapshot(&e);
    drop(e);
    let graph = coll_file(dir, c.id, "hnsw-");
    for damage in 0..2 {
        if damage == 0 {
            std::fs::remove_file(&graph).unwrap();
        } else {
            std::fs::write(&graph, b"CHRHNSW\0garbage").unwrap();
        }
        let e = Engine::open(dir, settings()).unwrap();
        assert_eq!(snapshot(&e), before);
    }
}

// ---------------------------------------------------------------------------------------------
// Vector files

#[test]
fn trailing_bytes_in_vector_file_are_ignored_and_cut() {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = Rng::new(5);
    let e = Engine::open(dir, settings()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("vecs")).unwrap();
    e.add(c.id, records(20, "v", 3, &mut rng)).unwrap();
    let before = snapshot(&e);
    drop(e);
    let vectors = coll_file(dir, c.id, "vectors-");
    let committed = std::fs::metadata(&vectors).unwrap().len();
    assert_eq!(committed, 20 * 3 * 4);
    // a crash after the vector append, before the commit: a whole extra slot plus a torn one
    let mut f = std::fs::OpenOptions::new().append(true).open(&vectors).unwrap();
    for x in [7.0f32, 7.0, 7.0, 8.0] {
        f.write_all(&x.to_le_bytes()).unwrap();
    }
    f.write_all(&[1, 2, 3]).unwrap();
    drop(f);
    let graph = coll_file(dir, c.id, "hnsw-");
    for with_graph in [true, false] {
        if !with_graph {
            std::fs::remove_file(&graph).unwrap();
        }
        let e = Engine::open(dir, settings()).unwrap();
        assert_eq!(snapshot(&e), before, "garbage ignored (graph present: {with_graph})");
        let r = e.query(c.id, QueryRequest::new(vec![vec![7.0, 7.0, 7.0]], 30)).unwrap();
        assert_eq!(r.ids[0].len(), 20, "no phantom record from the garbage slot");
    }
    // the next write cuts the garbage before appending
    let e = Engine::open(dir, settings()).unwrap();
    let late = AddRequest::new(s(&["n1", "n2"]), vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]]);
    e.add(c.id, late).unwrap();
    assert_eq!(std::fs::metadata(&vectors).unwrap().len(), committed + 2 * 3 * 4);
    let check = |e: &Engine| {
        let g = e
            .get(
                c.id,
                GetRequest { ids: Some(s(&["n1", "n2"])), include: vec![Include::Embeddings], ..Default::default() },
            )
            .unwrap();
        assert_eq!(g.embeddings.unwrap(), vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]]);
        let r = e.query(c.id, QueryRequest::new(vec![vec![1.0, 2.0, 3.0], vec![-1.0, -2.0, -3.0]], 1)).unwrap();
        assert_eq!(r.ids, vec![s(&["n1"]), s(&["n2"])]);
        assert!(r.distances.unwrap().iter().all(|d| d[0] == 0.0));
    };
    check(&e);
    drop(e);
    let e = Engine::open(dir, settings()).unwrap();
    check(&e);
    let after = snapshot(&e);
    assert_eq!(after.contents[0].2.ids.len(), 22);
}

#[test]
fn vector_file_shorter_than_committed_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut rng = Rng::new(9);
    let id = {
        let e = Engine::open(dir, settings()).unwrap();
        let c = e.create_collection(T, D, CreateCollection::new("short")).unwrap();
        e.add(c.id, records(10, "v", 3, &mut rng)).unwrap();
        c.id
    };
    let vectors = coll_file(dir, id, "vectors-");
    let b = std::fs::read(&vectors).unwrap();
    std::fs::write(&vectors, &b[..b.len() - 5]).unwrap();
    std::fs::remove_file(coll_file(dir, id, "hnsw-")).unwrap();
    let e = Engine::open(dir, settings()).unwrap();
    // metadata-only reads still work; reads that need vectors report the damage
    assert_eq!(e.count(id).unwrap(), 10);
    let err = e.query(id, QueryRequest::new(vec![vec![0.0; 3]], 1)).unwrap_err();
    assert!(err.message.contains("vector file") && err.message.contains("damaged"), "{err}");
    let err = e.add(id, AddRequest::new(s(&["z"]), vec![vec![0.0; 3]])).unwrap_err();
    assert!(err.message.contains("vector file"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Schema versions

fn sqlite(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join(folder::DB_FILE)).unwrap()
}

#[test]
fn schema_v1_folder_is_upgraded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // what a chroma-rs that only knew migration 1 wrote
    let (cid, coll_v1) = {
        let e = Engine::open_at_version(dir, settings(), 1).unwrap();
        e.create_tenant("old-tenant").unwrap();
        e.create_database("old-tenant", "old-db").unwrap();
        let c = e
            .create_collection(T, D, CreateCollection::new("old").metadata(md(&json!({"hnsw:space": "l2", "x": 1}))))
            .unwrap();
        (c.id, c)
    };
    {
        let conn = sqlite(dir);
        assert_eq!(schema::applied_version(&conn).unwrap(), Some(1));
        let fts: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master WHERE name = 'documents_fts'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fts, 0, "version 1 has no full-text table");
        // records as the v1 writer stored them: rows, typed metadata rows, the vector file
        let cdb: i64 =
            conn.query_row("SELECT cid FROM collections WHERE id = ?1", [cid.to_string()], |r| r.get(0)).unwrap();
        let rows = [
            ("r1", "hello world", 1i64, [1.0f32, 0.0]),
            ("r2", "goodbye moon", 2, [0.0, 1.0]),
            ("r3", "hello moon", 3, [1.0, 1.0]),
        ];
        let mut vecs = Vec::new();
        for (slot, (id, doc, k, v)) in rows.iter().enumerate() {
            conn.execute(
                "INSERT INTO records (cid, id, slot, seq, document, metadata) VALUES (?1, ?2, ?3, 1, ?4, ?5)",
                rusqlite::params![cdb, id, slot as i64, doc, format!("{{\"k\":{k}}}")],
            )
            .unwrap();
            let rid = conn.last_insert_rowid();
            conn.execute(
                "INSERT INTO metadata_index (rid, cid, key, int_value) VALUES (?1, ?2, 'k', ?3)",
                rusqlite::params![rid, cdb, k],
            )
            .unwrap();
            vecs.extend_from_slice(v);
        }
        conn.execute("UPDATE collections SET dimension = 2, slot_count = 3, log_position = 1 WHERE cid = ?1", [cdb])
            .unwrap();
        let vpath = folder::vectors_path(&folder::collection_dir(dir, &cid), 0);
        folder::append_vectors(&vpath, 2, 0, &vecs).unwrap();
    }
    let e = Engine::open(dir, settings()).unwrap();
    {
        let conn = sqlite(dir);
        assert_eq!(schema::applied_version(&conn).unwrap(), Some(schema::current_version()));
        let mut stmt = conn.prepare("SELECT version, checksum FROM schema_migrations ORDER BY version").unwrap();
        let applied: Vec<(i64, String)> =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
        let want: Vec<(i64, String)> =
            schema::MIGRATIONS.iter().map(|m| (m.version, schema::checksum(m.sql))).collect();
        assert_eq!(applied, want);
    }
    assert!(e.get_tenant("old-tenant").is_ok());
    assert!(e.get_database("old-tenant", "old-db").is_ok());
    let c = e.get_collection(T, D, "old").unwrap();
    assert_eq!((c.metadata.clone(), c.config.clone()), (coll_v1.metadata.clone(), coll_v1.config.clone()));
    assert_eq!(c.dimension, Some(2));
    let g = e
        .get(
            c.id,
            GetRequest {
                where_document: parse_where_document(Some(&json!({"$contains": "hello"}))).unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(g.ids, s(&["r1", "r3"]), "documents written under v1 are in the full-text index");
    let g = e
        .get(c.id, GetRequest { r#where: parse_where(Some(&json!({"k": {"$gte": 2}}))).unwrap(), ..Default::default() })
        .unwrap();
    assert_eq!(g.ids, s(&["r2", "r3"]));
    let q = e.query(c.id, QueryRequest::new(vec![vec![0.9, 0.1]], 3)).unwrap();
    assert_eq!(q.ids, vec![s(&["r1", "r3", "r2"])]);
    // and the upgraded folder takes new writes
    e.add(c.id, AddRequest::new(s(&["r4"]), vec![vec![0.5, 0.5]]).documents(vec![Some("hello again".into())])).unwrap();
    let g = e
        .get(
            c.id,
            GetRequest {
                where_document: parse_where_document(Some(&json!({"$contains": "hello"}))).unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(g.ids, s(&["r1", "r3", "r4"]));
    drop(e);
    // opening at an older version than the folder has does not downgrade anything
    let e = Engine::open_at_version(dir, settings(), 1).unwrap();
    drop(e);
    assert_eq!(schema::applied_version(&sqlite(dir)).unwrap(), Some(schema::current_version()));
}

/// A folder closed cleanly by this build, with one SQL statement applied to it afterwards.
fn tampered_folder(dir: &Path, sql: &str) {
    let e = Engine::open(dir, settings()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("keep")).unwrap();
    e.add(c.id, AddRequest::new(s(&["a"]), vec![vec![1.0, 2.0]])).unwrap();
    drop(e);
    let conn = sqlite(dir);
    conn.execute_batch(sql).unwrap();
    drop(conn);
    // the lock file as another process would have left it
    std::fs::write(dir.join(folder::LOCK_FILE), b"4242").unwrap();
}

#[test]
fn changed_migration_checksum_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tampered_folder(dir, "UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 1");
    let before = folder_contents(dir);
    for _ in 0..2 {
        let err = Engine::open(dir, settings()).err().expect("a tampered schema must be refused");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(err.message.contains("schema migration 1"), "{err}");
        assert!(err.message.contains("deadbeef"), "the message shows the recorded checksum: {err}");
        assert!(err.message.contains(&schema::checksum(schema::MIGRATIONS[0].sql)), "and the expected one: {err}");
        assert!(err.message.contains("modified"), "{err}");
    }
    assert_same_folder(&before, &folder_contents(dir), "refused (checksum)");
}

#[test]
fn future_schema_is_refused_and_left_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    tampered_folder(
        dir,
        "INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'from the future', 'abc')",
    );
    let before = folder_contents(dir);
    for _ in 0..2 {
        let err = Engine::open(dir, settings()).err().expect("a newer schema must be refused");
        assert_eq!(err.kind, ErrorKind::Unavailable, "{err}");
        assert!(err.message.contains("newer chroma-rs"), "{err}");
        assert!(err.message.contains("999"), "{err}");
        assert!(err.message.contains("nothing was changed"), "{err}");
    }
    assert_same_folder(&before, &folder_contents(dir), "refused (newer schema)");
    // the refusal released the folder: after removing the future row it opens again
    sqlite(dir).execute("DELETE FROM schema_migrations WHERE version = 999", []).unwrap();
    let e = Engine::open(dir, settings()).unwrap();
    assert_eq!(e.count(e.get_collection(T, D, "keep").unwrap().id).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Folders of older Chroma releases

fn assert_refused_untouched(dir: &Path, what: &str) {
    let before = folder_contents(dir);
    for version in [None, Some(1)] {
        let err = match version {
            None => Engine::open(dir, settings()),
            Some(v) => Engine::open_at_version(dir, settings(), v),
        }
        .err()
        .unwrap_or_else(|| panic!("{what}: must not open"));
        assert_eq!(err.kind, ErrorKind::Unavailable, "{what}: {err}");
        assert!(err.message.contains("chroma-rs migrate"), "{what}: {err}");
        assert!(err.message.contains(&dir.display().to_string()), "{what}: names the folder: {err}");
    }
    assert_same_folder(&before, &folder_contents(dir), what);
    assert!(!dir.join(folder::LOCK_FILE).exists() && !dir.join(folder::DB_FILE).exists(), "{what}: nothing created");
}

#[test]
fn legacy_chroma_folders_are_refused_untouched() {
    let tmp = tempfile::tempdir().unwrap();
    // Chroma 0.3.x duckdb+parquet, complete
    let d = tmp.path().join("chroma03");
    std::fs::create_dir_all(d.join("index")).unwrap();
    std::fs::write(d.join("chroma-collections.parquet"), b"PAR1 collections PAR1").unwrap();
    std::fs::write(d.join("chroma-embeddings.parquet"), b"PAR1 embeddings PAR1").unwrap();
    std::fs::write(d.join("index").join("id_to_uuid_0d7a.pkl"), b"\x80\x04pickle").unwrap();
    std::fs::write(d.join("index").join("index_0d7a.bin"), [0u8; 64]).unwrap();
    assert_refused_untouched(&d, "0.3.x folder");
    // only one of the parquet files
    for f in ["chroma-collections.parquet", "chroma-embeddings.parquet"] {
        let d = tmp.path().join(format!("only-{f}"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(f), b"PAR1").unwrap();
        assert_refused_untouched(&d, f);
    }
    // Chroma >= 0.4: chroma.sqlite3 plus segment folders
    let d = tmp.path().join("chroma04");
    let seg = d.join("3f2d7c1e-1111-4a4a-9b9b-000000000001");
    std::fs::create_dir_all(&seg).unwrap();
    {
        let conn = rusqlite::Connection::open(d.join("chroma.sqlite3")).unwrap();
        conn.execute_batch(
            "CREATE TABLE collections (id TEXT PRIMARY KEY, name TEXT); INSERT INTO collections VALUES ('x', 'c');",
        )
        .unwrap();
    }
    for f in ["header.bin", "data_level0.bin", "length.bin", "link_lists.bin", "index_metadata.pickle"] {
        std::fs::write(seg.join(f), [1u8; 16]).unwrap();
    }
    assert_refused_untouched(&d, "0.4+ folder");
    // a path that is a file
    let f = tmp.path().join("a-file");
    std::fs::write(&f, b"not a folder").unwrap();
    let err = Engine::open(&f, settings()).err().expect("a file is not a data folder");
    assert!(err.message.contains("not a folder"), "{err}");
    assert_eq!(std::fs::read(&f).unwrap(), b"not a folder");
}

#[test]
fn unrelated_files_are_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("notes.txt"), b"mine").unwrap();
    std::fs::create_dir(d.join("index")).unwrap();
    let e = Engine::open(d, settings()).unwrap();
    let c = e.create_collection(T, D, CreateCollection::new("c-1")).unwrap();
    e.add(c.id, AddRequest::new(s(&["a"]), vec![vec![1.0]])).unwrap();
    drop(e);
    assert_eq!(std::fs::read(d.join("notes.txt")).unwrap(), b"mine");
    let e = Engine::open(d, settings()).unwrap();
    assert_eq!(e.count(c.id).unwrap(), 1);
}

// ---------------------------------------------------------------------------------------------
// Errors

#[test]
fn an_io_failure_keeps_its_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let dir = file.join("data");
    let Err(err) = Engine::open(&dir, settings()) else { panic!("a folder cannot be created under a file") };
    assert_eq!(err.kind, ErrorKind::Internal);
    let cause = std::error::Error::source(&err).expect("the I/O error is kept as the cause");
    let io = cause.downcast_ref::<std::io::Error>().expect("the cause is the std::io::Error");
    assert_eq!(err.message, format!("creating data folder {}: {io}", dir.display()), "message unchanged");
}
