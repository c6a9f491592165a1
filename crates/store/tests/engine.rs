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
        let embs: Vec<Vec<f32>> = (0..n).map(|i| vec![(i as f32).sin(), (i as f32).cos(), i as f32 / n as f32]).collect();
        e.add(c.id, AddRequest::new(ids.clone(), embs)).unwrap();
        // delete two thirds: above the automatic threshold, so this compacts on its own
        let gone: Vec<String> = ids.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, s)| s.clone()).collect();
        e.delete(c.id, DeleteRequest { ids: Some(gone), ..Default::default() }).unwrap();
        e.update(c.id, UpdateRequest { ids: vec!["id0".into()], embeddings: Some(vec![Some(vec![5.0, 5.0, 5.0])]), ..Default::default() }).unwrap();
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
    assert!(files.iter().all(|f| f.ends_with("-2.f32") || f.ends_with("-2.graph")), "only the newest generation remains: {files:?}");
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
    e.build_index(c.id).unwrap();
    let r = e.query(c.id, QueryRequest::new(vec![vec![2.0, 7.0]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["2-7".to_string()]]);
    // a normal add after a bulk load keeps index and storage in step
    e.add(c.id, AddRequest::new(vec!["z".into()], vec![vec![9.0, 9.0]])).unwrap();
    let r = e.query(c.id, QueryRequest::new(vec![vec![9.0, 9.0]], 1)).unwrap();
    assert_eq!(r.ids, vec![vec!["z".to_string()]]);
}
