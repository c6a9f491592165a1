//! The engine's behaviour suite on the ephemeral and persistent engines, and engine-only
//! behaviour: reset permission, vacuum, the bulk load and its deferred index, reading
//! embeddings without loading the index.

mod common;
use chroma_store::Engine;
use chroma_types::*;

#[test]
fn suite_ephemeral() {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    common::api_suite::run_all(&e);
}

#[test]
fn suite_persistent() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    common::api_suite::run_all(&e);
}

#[test]
fn reset_needs_permission() {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    assert_eq!(e.reset().unwrap_err().kind, ErrorKind::Forbidden);
    let e = Engine::ephemeral(Settings { allow_reset: true, ..Default::default() }).unwrap();
    e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("abc")).unwrap();
    e.create_tenant("other").unwrap();
    e.reset().unwrap();
    assert_eq!(e.count_collections(DEFAULT_TENANT, DEFAULT_DATABASE).unwrap(), 0);
    assert!(e.get_tenant("other").is_err());
    assert!(e.get_database(DEFAULT_TENANT, DEFAULT_DATABASE).is_ok());
}

#[test]
fn vacuum_compacts_and_keeps_results() {
    let dir = tempfile::tempdir().unwrap();
    let (cid, before) = {
        let e = Engine::open(dir.path(), Settings::default()).unwrap();
        let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("vac")).unwrap();
        let n = 3000;
        let ids: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
        let embs: Vec<Vec<f32>> =
            (0..n).map(|i| vec![(i as f32).sin(), (i as f32).cos(), i as f32 / n as f32]).collect();
        e.add(c.id, AddRequest::new(ids.clone(), embs)).unwrap();
        // delete two thirds: above the automatic threshold, so this compacts on its own
        let gone: Vec<String> = ids.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, s)| s.clone()).collect();
        e.delete(c.id, DeleteRequest { ids: Some(gone), ..Default::default() }).unwrap();
        e.update(
            c.id,
            UpdateRequest {
                ids: vec!["id0".into()],
                embeddings: Some(vec![Some(vec![5.0, 5.0, 5.0])]),
                ..Default::default()
            },
        )
        .unwrap();
        let q = QueryRequest::new(vec![vec![0.5, 0.5, 0.5], vec![5.0, 5.0, 5.0]], 5);
        let before = e.query(c.id, q.clone()).unwrap();
        let report = e.vacuum().unwrap();
        assert_eq!(report.collections, 1);
        assert_eq!(report.collections_compacted, 1, "the replaced slot of id0 is reclaimed");
        assert_eq!(e.query(c.id, q).unwrap().ids, before.ids);
        assert_eq!(e.count(c.id).unwrap(), 1000);
        (c.id, before)
    };
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    let q = QueryRequest::new(vec![vec![0.5, 0.5, 0.5], vec![5.0, 5.0, 5.0]], 5);
    assert_eq!(e.query(cid, q).unwrap().ids, before.ids);
    assert_eq!(before.ids[1][0], "id0");
    let files: Vec<String> = std::fs::read_dir(dir.path().join("collections").join(cid.to_string()))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(
        files.iter().all(|f| f.ends_with("-2.f32") || f.ends_with("-2.graph")),
        "only the newest generation remains: {files:?}"
    );
}

#[test]
fn bulk_add_defers_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("bulk")).unwrap();
    for b in 0..3 {
        let ids: Vec<String> = (0..500).map(|i| format!("{b}-{i}")).collect();
        let embs: Vec<Vec<f32>> = (0..500).map(|i| vec![b as f32, i as f32]).collect();
        e.bulk_add(c.id, AddRequest::new(ids, embs)).unwrap();
    }
    assert_eq!(e.count(c.id).unwrap(), 1500);
    e.build_index(c.id, &|_, _| {}).unwrap();
    let r = e.query(c.id, QueryRequest::new(vec![vec![2.0, 7.0]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["2-7".to_string()]]);
    // a normal add after a bulk load keeps index and storage in step
    e.add(c.id, AddRequest::new(vec!["z".into()], vec![vec![9.0, 9.0]])).unwrap();
    let r = e.query(c.id, QueryRequest::new(vec![vec![9.0, 9.0]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["z".to_string()]]);
}

fn wait_linked(e: &Engine, c: uuid::Uuid) -> (usize, usize) {
    let t = std::time::Instant::now();
    loop {
        let (linked, stored) = e.index_progress(c).unwrap();
        if linked == stored || t.elapsed().as_secs() > 120 {
            return (linked, stored);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A bulk-loaded folder opens with its vectors unlinked: the first query answers at once and
/// exactly (scan), a background thread links the graph while writes and deletes go on, and
/// the saved graph makes the next open start fully linked.
#[test]
fn background_indexing_after_a_bulk_load() {
    let dir = tempfile::tempdir().unwrap();
    let n = 9000usize;
    let dim = 16;
    // distinct pseudo-random vectors (a hash of (i, j))
    let vec_of = |i: usize| -> Vec<f32> {
        (0..dim)
            .map(|j| {
                let mut x = (i as u64) << 8 | j as u64;
                x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                x ^= x >> 29;
                x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
                (x >> 40) as f32 / (1u64 << 24) as f32
            })
            .collect()
    };
    let cid = {
        let e = Engine::open(dir.path(), Settings::default()).unwrap();
        e.set_background_indexing(false);
        let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("background")).unwrap();
        for b in 0..3 {
            let ids: Vec<String> = (b * 3000..(b + 1) * 3000).map(|i| format!("id{i}")).collect();
            let embs: Vec<Vec<f32>> = (b * 3000..(b + 1) * 3000).map(vec_of).collect();
            e.bulk_add(c.id, AddRequest::new(ids, embs)).unwrap();
        }
        // background indexing off: stays unlinked, queries are still exact
        assert_eq!(e.index_progress(c.id).unwrap(), (0, n));
        let r = e.query(c.id, QueryRequest::new(vec![vec_of(4321)], 1)).unwrap();
        assert_eq!(r.ids, vec![vec!["id4321".to_string()]]);
        c.id
    };
    let graph = dir.path().join("collections").join(cid.to_string()).join("hnsw-0.graph");
    assert!(!graph.exists(), "nothing linked, nothing saved");
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    let t = std::time::Instant::now();
    let r = e.query(cid, QueryRequest::new(vec![vec_of(77)], 3)).unwrap();
    assert!(t.elapsed().as_secs_f64() < 2.0, "the first query does not wait for a graph build");
    assert_eq!(r.ids[0][0], "id77");
    // writes and deletes while the indexer runs
    e.add(cid, AddRequest::new(vec!["new".into()], vec![vec![500.0; dim]])).unwrap();
    let del =
        e.delete(cid, chroma_types::DeleteRequest { ids: Some(vec!["id5".into()]), ..Default::default() }).unwrap();
    assert_eq!(del, vec!["id5".to_string()]);
    for i in [0usize, 5, 4444, 8999] {
        let r = e.query(cid, QueryRequest::new(vec![vec_of(i)], 1)).unwrap();
        if i == 5 {
            assert_ne!(r.ids[0][0], "id5");
        } else {
            assert_eq!(r.ids[0][0], format!("id{i}"));
        }
    }
    assert_eq!(wait_linked(&e, cid), (n + 1, n + 1));
    let r = e.query(cid, QueryRequest::new(vec![vec![500.0; dim]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["new".to_string()]]);
    // the indexer saved the graph when it finished
    let t = std::time::Instant::now();
    while !graph.exists() && t.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(e);
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    assert_eq!(e.index_progress(cid).unwrap(), (n + 1, n + 1));
    assert_eq!(e.count(cid).unwrap(), n);
}

/// A prepared bulk batch: validated when prepared (nothing touched), checked against the
/// collection's dimension when written, and ids already stored are skipped (resume).
#[test]
fn prepared_bulk_batches_validate_and_skip_existing_ids() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("prepared")).unwrap();
    let bad = e.prepare_bulk(c.id, AddRequest::new(vec!["a".into(), "a".into()], vec![vec![1.0, 2.0], vec![3.0, 4.0]]));
    assert_eq!(bad.err().map(|e| e.kind), Some(ErrorKind::DuplicateId), "duplicate ids refused when preparing");
    let nan = e.prepare_bulk(c.id, AddRequest::new(vec!["a".into()], vec![vec![f32::NAN, 2.0]]));
    assert!(nan.is_err(), "non-finite embedding refused when preparing");
    let md: Metadata = [("k".to_string(), MetadataValue::Int(7))].into();
    let first = e
        .prepare_bulk(
            c.id,
            AddRequest::new(vec!["a".into(), "b".into()], vec![vec![1.0, 2.0], vec![3.0, 4.0]])
                .metadatas(vec![Some(md.clone()), None]),
        )
        .unwrap();
    assert_eq!(first.len(), 2);
    e.bulk_add_prepared(first).unwrap();
    // a later batch of another dimension fails at write time, and changes nothing
    let wrong = e.prepare_bulk(c.id, AddRequest::new(vec!["z".into()], vec![vec![1.0, 2.0, 3.0]])).unwrap();
    assert!(e.bulk_add_prepared(wrong).is_err());
    // a resumed batch: "b" exists (skipped, not changed), "c" is new
    let again = e
        .prepare_bulk(c.id, AddRequest::new(vec!["b".into(), "c".into()], vec![vec![9.0, 9.0], vec![5.0, 6.0]]))
        .unwrap();
    e.bulk_add_prepared(again).unwrap();
    assert_eq!(e.count(c.id).unwrap(), 3);
    let g = e
        .get(c.id, GetRequest { include: vec![Include::Embeddings, Include::Metadatas], ..Default::default() })
        .unwrap();
    assert_eq!(g.ids, vec!["a", "b", "c"]);
    assert_eq!(g.embeddings.unwrap()[1], vec![3.0, 4.0]);
    assert_eq!(g.metadatas.unwrap()[0], Some(md));
    // the filter index was written from the prepared metadata
    let f = e
        .get(
            c.id,
            GetRequest {
                r#where: chroma_types::filter::parse_where(Some(&serde_json::json!({"k": 7}))).unwrap(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(f.ids, vec!["a"]);
}

/// `get` with embeddings on a folder whose index is not loaded reads the vector file directly
/// (no graph build); it returns exactly what the loaded index returns, also after updates,
/// deletes (slots out of order) and a vacuum (a new generation of files).
#[test]
fn get_embeddings_without_loading_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let e = Engine::open(dir.path(), Settings::default()).unwrap();
        let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("unloaded")).unwrap();
        let ids: Vec<String> = (0..300).map(|i| format!("r{i}")).collect();
        let embs: Vec<Vec<f32>> = (0..300).map(|i| vec![i as f32, -(i as f32) * 0.5, 1.0 / (i as f32 + 1.0)]).collect();
        e.add(c.id, AddRequest::new(ids, embs)).unwrap();
        e.upsert(c.id, AddRequest::new(vec!["r7".into()], vec![vec![70.0, 70.0, 70.0]])).unwrap();
        e.delete(
            c.id,
            DeleteRequest { ids: Some((0..300).step_by(3).map(|i| format!("r{i}")).collect()), ..Default::default() },
        )
        .unwrap();
        c.id
    };
    let all = GetRequest { include: vec![Include::Embeddings], ..Default::default() };
    for round in 0..2 {
        let from_file = {
            let e = Engine::open(dir.path(), Settings::default()).unwrap();
            e.get(id, all.clone()).unwrap()
        };
        let e = Engine::open(dir.path(), Settings::default()).unwrap();
        e.query(id, QueryRequest::new(vec![vec![1.0, 1.0, 1.0]], 1)).unwrap(); // loads the index
        let from_index = e.get(id, all.clone()).unwrap();
        assert_eq!(from_file, from_index, "round {round}");
        assert_eq!(from_file.ids.len(), 200);
        let r7 = from_file.ids.iter().position(|i| i == "r7").unwrap();
        assert_eq!(from_file.embeddings.as_ref().unwrap()[r7], vec![70.0, 70.0, 70.0]);
        if round == 0 {
            e.vacuum().unwrap();
        }
    }
}

/// Metadata keys that 0.x servers stored (`#`, `$`, empty): kept exactly under a write's
/// legacy dialect (across a reopen), filtered on by the 0.x `where`, refused under the 1.x
/// rules with Chroma 1.5.9's message; collection metadata keeps them on every line.
#[test]
fn legacy_metadata_keys() {
    use chroma_types::filter::{parse_where, parse_where_in};
    use chroma_types::metadata::update_metadata_from_json;
    use serde_json::json;
    let legacy = Dialect { legacy_metadata_keys: true, ..Dialect::V1 };
    let dir = tempfile::tempdir().unwrap();
    let md = |v: serde_json::Value| Some(update_metadata_from_json(&v).unwrap());
    let cid = {
        let e = Engine::open(dir.path(), Settings::default()).unwrap();
        let mut create = CreateCollection::new("legacy-keys");
        create.metadata = Some(Metadata::from([("$c".to_string(), MetadataValue::Int(1))]));
        let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, create).unwrap();
        assert_eq!(c.metadata.as_ref().and_then(|m| m.get("$c")), Some(&MetadataValue::Int(1)));
        let mut add = AddRequest::new(vec!["a".into(), "b".into()], vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        add.metadatas = Some(vec![md(json!({"$dollar": 1, "#hash": "x", "n": 1})), md(json!({"": true}))]);
        // The 1.x rules (the default) refuse them, naming the record as 1.5.9 does; nothing is written.
        let err = e.add(c.id, add.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidArgument);
        assert_eq!(err.message, "Validation error: metadatas: Invalid metadata at index 0");
        assert_eq!(e.count(c.id).unwrap(), 0);
        add.dialect = legacy;
        e.add(c.id, add).unwrap();
        let upd =
            UpdateRequest { ids: vec!["b".into()], metadatas: Some(vec![md(json!({"#h2": 5}))]), ..Default::default() };
        assert_eq!(
            e.update(c.id, upd.clone()).unwrap_err().message,
            "Validation error: metadatas: Invalid metadata at index 0"
        );
        e.update(c.id, UpdateRequest { dialect: legacy, ..upd }).unwrap();
        // `chroma:` stays reserved on every line.
        let mut bad = AddRequest::new(vec!["c".into()], vec![vec![1.0, 1.0]]);
        bad.metadatas = Some(vec![md(json!({"chroma:x": 1}))]);
        bad.dialect = legacy;
        assert!(e.add(c.id, bad).unwrap_err().message.contains("chroma:x"));
        c.id
    };
    let e = Engine::open(dir.path(), Settings::default()).unwrap();
    let got = e.get(cid, GetRequest::default()).unwrap();
    let mds = got.metadatas.unwrap();
    assert_eq!(mds[0].as_ref().unwrap().get("$dollar"), Some(&MetadataValue::Int(1)));
    assert_eq!(mds[0].as_ref().unwrap().get("#hash"), Some(&MetadataValue::Str("x".into())));
    let b = mds[1].as_ref().unwrap();
    assert_eq!((b.get(""), b.get("#h2")), (Some(&MetadataValue::Bool(true)), Some(&MetadataValue::Int(5))));
    let ids = |w: serde_json::Value, d: Dialect| {
        let r#where = parse_where_in(Some(&w), d).unwrap();
        e.get(cid, GetRequest { r#where, dialect: d, ..Default::default() }).unwrap().ids
    };
    // 0.x: a `$`-key other than `$and`/`$or` is a metadata key; 1.x refuses it in a filter.
    assert_eq!(ids(json!({"$dollar": 1}), legacy), vec!["a"]);
    assert_eq!(ids(json!({"$and": [{"$dollar": {"$gte": 1}}, {"#hash": "x"}]}), legacy), vec!["a"]);
    assert_eq!(ids(json!({"#h2": {"$gt": 1}}), Dialect::V1), vec!["b"]);
    assert!(parse_where(Some(&json!({"$dollar": 1}))).is_err());
}

#[test]
fn unlinked_bulk_load_answers_at_once_and_takes_an_exported_graph() {
    let load = |e: &Engine| {
        let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("unlinked")).unwrap();
        for b in 0..3 {
            let ids: Vec<String> = (0..1500).map(|i| format!("{b}-{i}")).collect();
            let embs: Vec<Vec<f32>> = (0..1500).map(|i| vec![b as f32, i as f32, (i % 7) as f32]).collect();
            e.bulk_add_unlinked(c.id, AddRequest::new(ids, embs)).unwrap();
        }
        c.id
    };
    let a = Engine::ephemeral(Settings::default()).unwrap();
    let ca = load(&a);
    // Stored, not linked, and found (the pending vectors are scanned exactly).
    assert_eq!(a.index_progress(ca).unwrap(), (0, 4500));
    let r = a.query(ca, QueryRequest::new(vec![vec![2.0, 7.0, 0.0]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["2-7".to_string()]]);
    a.link_in_background(ca).unwrap();
    assert_eq!(wait_linked(&a, ca), (4500, 4500));
    let graph = a.export_graph(ca).unwrap().unwrap();
    assert_eq!((graph.linked, graph.stored, graph.live), (4500, 4500, 4500));

    // A second copy of the same records takes the graph: linked at once, same answers.
    let b = Engine::ephemeral(Settings::default()).unwrap();
    let cb = load(&b);
    assert!(b.import_graph(cb, b"not a graph").is_err(), "garbage is refused");
    assert_eq!(b.index_progress(cb).unwrap(), (0, 4500), "a refused graph leaves the index as it was");
    assert_eq!(b.import_graph(cb, &graph.bytes).unwrap(), 4500);
    assert_eq!(b.index_progress(cb).unwrap(), (4500, 4500));
    for q in [vec![1.0, 100.0, 2.0], vec![0.0, 1499.0, 1.0]] {
        let ra = a.query(ca, QueryRequest::new(vec![q.clone()], 5)).unwrap();
        let rb = b.query(cb, QueryRequest::new(vec![q], 5)).unwrap();
        assert_eq!(ra.ids, rb.ids);
    }
    // Writes after the import keep index and storage in step.
    b.add(cb, AddRequest::new(vec!["z".into()], vec![vec![9.0, 9.0, 9.0]])).unwrap();
    let r = b.query(cb, QueryRequest::new(vec![vec![9.0, 9.0, 9.0]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["z".to_string()]]);
}
