//! The engine's behaviour suite, written against `dyn ChromaApi` so that the same checks run
//! on the ephemeral engine, the persistent engine and (from chroma-client) over HTTP.
//! Each check uses its own collection names so the suite can run on a shared server.
#![allow(dead_code)]

use chroma_types::filter::{parse_where, parse_where_document};
use chroma_types::metadata::{metadata_from_json, update_metadata_from_json};
use chroma_types::search::ReadLevel;
use chroma_types::*;
use serde_json::json;

pub const T: &str = DEFAULT_TENANT;
pub const D: &str = DEFAULT_DATABASE;

fn md(v: &serde_json::Value) -> Metadata {
    metadata_from_json(v).unwrap()
}

fn w(v: &serde_json::Value) -> Option<Where> {
    parse_where(Some(v)).unwrap()
}

fn wd(v: &serde_json::Value) -> Option<WhereDocument> {
    parse_where_document(Some(v)).unwrap()
}

fn ids(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

fn fresh(api: &dyn ChromaApi, name: &str, metadata: Option<serde_json::Value>) -> Collection {
    let _ = api.delete_collection(T, D, name);
    let mut req = CreateCollection::new(name);
    if let Some(m) = metadata {
        req = req.metadata(md(&m));
    }
    api.create_collection(T, D, req).unwrap()
}

/// Four records as in the spec's captured examples.
fn seed(api: &dyn ChromaApi, c: &Collection) {
    let req = AddRequest::new(
        ids(&["a", "b", "c", "d"]),
        vec![vec![0.0, 1.0, 0.0], vec![1.0, 0.0, 0.0], vec![0.0, 0.0, 1.0], vec![0.0, 1.0, 1.0]],
    )
    .documents(vec![Some("foo bar".into()), Some("hello world".into()), None, None])
    .metadatas(vec![
        None,
        Some(md(&json!({"f": 1.5, "k": 1, "s": "x", "t": true}))),
        Some(md(&json!({"k": 3}))),
        None,
    ]);
    api.add(c.id, req).unwrap();
}

fn get_ids(api: &dyn ChromaApi, c: &Collection, req: GetRequest) -> Vec<String> {
    api.get(c.id, req).unwrap().ids
}

pub fn collections(api: &dyn ChromaApi) {
    let c = fresh(api, "suite-coll", Some(json!({"a": 1, "hnsw:space": "cosine"})));
    assert_eq!(c.name, "suite-coll");
    assert_eq!(c.config.space, Space::Cosine);
    assert_eq!(c.dimension, None);
    let e = api.create_collection(T, D, CreateCollection::new("suite-coll")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
    let same = api.create_collection(T, D, CreateCollection::new("suite-coll").get_or_create(true)).unwrap();
    assert_eq!(same.id, c.id);
    assert_eq!(api.get_collection(T, D, "suite-coll").unwrap().id, c.id);
    assert_eq!(api.get_collection_by_id(c.id).unwrap().name, "suite-coll");
    assert!(api.list_collections(T, D, None, 0).unwrap().iter().any(|x| x.id == c.id));
    let n = api.count_collections(T, D).unwrap();
    assert!(n >= 1);
    assert_eq!(api.list_collections(T, D, Some(1), 0).unwrap().len(), 1);
    assert_eq!(api.list_collections(T, D, None, n).unwrap().len(), 0);
    // rename + metadata replace
    let _ = api.delete_collection(T, D, "suite-coll2");
    api.update_collection(
        c.id,
        UpdateCollection {
            new_name: Some("suite-coll2".into()),
            new_metadata: Some(md(&json!({"b": "x"}))),
            ..Default::default()
        },
    )
    .unwrap();
    let c2 = api.get_collection(T, D, "suite-coll2").unwrap();
    assert_eq!(c2.metadata, Some(md(&json!({"b": "x"}))));
    assert_eq!(c2.config.space, Space::Cosine, "space survives a metadata replace");
    assert_eq!(api.get_collection(T, D, "suite-coll").unwrap_err().kind, ErrorKind::NotFound);
    // bad names
    for bad in ["ab", "-abc", "a..b", "10.0.0.1"] {
        assert_eq!(
            api.create_collection(T, D, CreateCollection::new(bad)).unwrap_err().kind,
            ErrorKind::InvalidArgument,
            "{bad}"
        );
    }
    let e = api
        .create_collection(T, D, CreateCollection::new("suite-badhnsw").metadata(md(&json!({"hnsw:foo": 1}))))
        .unwrap_err();
    assert!(e.message.contains("hnsw:foo"), "{e}");
    assert!(api.get_collection(T, D, "suite-badhnsw").is_err(), "a rejected create leaves nothing behind");
    api.delete_collection(T, D, "suite-coll2").unwrap();
    assert_eq!(api.delete_collection(T, D, "suite-coll2").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.get_collection_by_id(c.id).unwrap_err().kind, ErrorKind::NotFound);
    assert!(api.add(c.id, AddRequest::new(ids(&["x"]), vec![vec![1.0]])).is_err());
}

pub fn tenants_and_databases(api: &dyn ChromaApi) {
    let t = format!("suite-tenant-{}", std::process::id());
    let _ = api.create_tenant(&t);
    assert_eq!(api.get_tenant(&t).unwrap().name, t);
    assert_eq!(api.create_tenant(&t).unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(api.get_tenant("no-such-tenant").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.create_tenant("ab").unwrap_err().kind, ErrorKind::InvalidArgument);
    let db = api.create_database(&t, "db1").unwrap();
    assert_eq!(api.get_database(&t, "db1").unwrap().id, db.id);
    assert_eq!(api.create_database(&t, "db1").unwrap_err().kind, ErrorKind::AlreadyExists);
    assert_eq!(api.get_database(&t, "nodb").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.create_database("no-such-tenant", "db1").unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.list_databases(&t, None, 0).unwrap().len(), 1);
    // same collection name in two databases
    let a = api.create_collection(&t, "db1", CreateCollection::new("shared-name")).unwrap();
    let b = fresh(api, "shared-name", None);
    assert_ne!(a.id, b.id);
    assert_eq!(a.tenant, t);
    assert_eq!(api.count_collections(&t, "db1").unwrap(), 1);
    api.delete_database(&t, "db1").unwrap();
    assert_eq!(api.get_collection_by_id(a.id).unwrap_err().kind, ErrorKind::NotFound);
    assert!(api.get_collection_by_id(b.id).is_ok());
    api.delete_tenant(&t).unwrap();
    assert_eq!(api.get_tenant(&t).unwrap_err().kind, ErrorKind::NotFound);
    api.delete_collection(T, D, "shared-name").unwrap();
}

pub fn records(api: &dyn ChromaApi) {
    let c = fresh(api, "suite-records", None);
    assert_eq!(api.count(c.id).unwrap(), 0);
    assert_eq!(
        api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 3)).unwrap().ids,
        vec![Vec::<String>::new()]
    );
    seed(api, &c);
    assert_eq!(api.count(c.id).unwrap(), 4);
    // 1.x read levels: with no concurrent writer every level counts the same
    for level in [ReadLevel::IndexAndWal, ReadLevel::IndexOnly, ReadLevel::IndexAndBoundedWal] {
        assert_eq!(api.count_at(c.id, level).unwrap(), 4, "{level:?}");
    }
    assert_eq!(api.get_collection_by_id(c.id).unwrap().dimension, Some(3));
    // get everything, insertion order, all columns
    let all = api
        .get(
            c.id,
            GetRequest {
                include: vec![Include::Embeddings, Include::Metadatas, Include::Documents, Include::Uris],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(all.ids, ids(&["a", "b", "c", "d"]));
    assert_eq!(all.embeddings.as_ref().unwrap()[1], vec![1.0, 0.0, 0.0]);
    assert_eq!(
        all.documents.as_ref().unwrap(),
        &vec![Some("foo bar".to_string()), Some("hello world".into()), None, None]
    );
    assert_eq!(all.metadatas.as_ref().unwrap()[1], Some(md(&json!({"f": 1.5, "k": 1, "s": "x", "t": true}))));
    assert_eq!(all.metadatas.as_ref().unwrap()[0], None);
    assert_eq!(all.uris.as_ref().unwrap(), &vec![None, None, None, None]);
    // default include: metadatas + documents only
    let def = api.get(c.id, GetRequest::default()).unwrap();
    assert!(def.embeddings.is_none() && def.documents.is_some() && def.metadatas.is_some());
    // add of an existing id is ignored
    api.add(c.id, AddRequest::new(ids(&["a"]), vec![vec![9.0, 9.0, 9.0]]).documents(vec![Some("changed".into())]))
        .unwrap();
    let a = api
        .get(
            c.id,
            GetRequest {
                ids: Some(ids(&["a"])),
                include: vec![Include::Embeddings, Include::Documents],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(a.documents.unwrap()[0].as_deref(), Some("foo bar"));
    assert_eq!(a.embeddings.unwrap()[0], vec![0.0, 1.0, 0.0]);
    // ids filter, limit, offset
    assert_eq!(
        get_ids(api, &c, GetRequest { ids: Some(ids(&["c", "a", "zzz"])), ..Default::default() }),
        ids(&["a", "c"])
    );
    assert_eq!(get_ids(api, &c, GetRequest { limit: Some(2), ..Default::default() }), ids(&["a", "b"]));
    assert_eq!(get_ids(api, &c, GetRequest { limit: Some(2), offset: Some(3), ..Default::default() }), ids(&["d"]));
    assert_eq!(get_ids(api, &c, GetRequest { offset: Some(1), ..Default::default() }), ids(&["b", "c", "d"]));
    // query: distances (squared l2), n_results truncation
    let q = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0], vec![0.0, 0.9, 0.1]], 2)).unwrap();
    assert_eq!(q.ids, vec![ids(&["b", "a"]), ids(&["a", "d"])]);
    let d = q.distances.unwrap();
    assert!((d[0][0] - 0.0).abs() < 1e-6 && (d[0][1] - 2.0).abs() < 1e-6, "{d:?}");
    assert!((d[1][0] - 0.02).abs() < 1e-5 && (d[1][1] - 0.82).abs() < 1e-5, "{d:?}");
    assert_eq!(q.documents.unwrap()[0], vec![Some("hello world".to_string()), Some("foo bar".into())]);
    let q = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 100)).unwrap();
    assert_eq!(q.ids[0].len(), 4);
    let e = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 0)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "n_results 0 is refused: {e}");
    // filtered query returns the exact top-k among matches
    let mut qr = QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 10);
    qr.r#where = w(&json!({"k": {"$gte": 1}}));
    assert_eq!(api.query(c.id, qr.clone()).unwrap().ids, vec![ids(&["b", "c"])]);
    qr.r#where = None;
    qr.where_document = wd(&json!({"$contains": "foo"}));
    assert_eq!(api.query(c.id, qr.clone()).unwrap().ids, vec![ids(&["a"])]);
    qr.where_document = None;
    qr.ids = Some(ids(&["c", "d"]));
    assert_eq!(api.query(c.id, qr).unwrap().ids, vec![ids(&["c", "d"])]);
    // update merges metadata, null deletes a key; missing ids ignored
    api.update(
        c.id,
        UpdateRequest {
            ids: ids(&["b", "nope"]),
            metadatas: Some(vec![
                Some(update_metadata_from_json(&json!({"k": 7, "s": null, "new": "n"})).unwrap()),
                None,
            ]),
            documents: Some(vec![Some("new doc".into()), None]),
            ..Default::default()
        },
    )
    .unwrap();
    let b = api
        .get(
            c.id,
            GetRequest {
                ids: Some(ids(&["b"])),
                include: vec![Include::Metadatas, Include::Documents, Include::Embeddings],
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(b.metadatas.unwrap()[0], Some(md(&json!({"f": 1.5, "k": 7, "t": true, "new": "n"}))));
    assert_eq!(b.documents.unwrap()[0].as_deref(), Some("new doc"));
    assert_eq!(b.embeddings.unwrap()[0], vec![1.0, 0.0, 0.0], "embedding kept when not given");
    assert_eq!(api.count(c.id).unwrap(), 4);
    // the document index follows the update
    assert_eq!(
        get_ids(api, &c, GetRequest { where_document: wd(&json!({"$contains": "hello"})), ..Default::default() }),
        Vec::<String>::new()
    );
    assert_eq!(
        get_ids(api, &c, GetRequest { where_document: wd(&json!({"$contains": "new doc"})), ..Default::default() }),
        ids(&["b"])
    );
    // update of an embedding moves the record in vector space
    api.update(
        c.id,
        UpdateRequest { ids: ids(&["c"]), embeddings: Some(vec![Some(vec![1.0, 0.1, 0.0])]), ..Default::default() },
    )
    .unwrap();
    let q = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.1, 0.0]], 1)).unwrap();
    assert_eq!(q.ids, vec![ids(&["c"])]);
    // upsert: insert new, merge existing
    let mut up = AddRequest::new(ids(&["b", "e"]), vec![vec![1.0, 0.0, 0.0], vec![0.5, 0.5, 0.0]])
        .metadatas(vec![Some(md(&json!({"k": 8}))), Some(md(&json!({"k": 9})))]);
    up.documents = Some(vec![None, Some("eee".into())]);
    api.upsert(c.id, up).unwrap();
    let got = api.get(c.id, GetRequest { ids: Some(ids(&["b", "e"])), ..Default::default() }).unwrap();
    assert_eq!(
        got.metadatas.unwrap(),
        vec![Some(md(&json!({"f": 1.5, "k": 8, "t": true, "new": "n"}))), Some(md(&json!({"k": 9})))]
    );
    assert_eq!(got.documents.unwrap(), vec![Some("new doc".to_string()), Some("eee".into())]);
    assert_eq!(api.count(c.id).unwrap(), 5);
    // delete by ids (missing ids ignored), by where, by where_document
    let del = api.delete(c.id, DeleteRequest { ids: Some(ids(&["e", "nonexist"])), ..Default::default() }).unwrap();
    assert_eq!(del, ids(&["e"]));
    let del = api.delete(c.id, DeleteRequest { r#where: w(&json!({"k": 3})), ..Default::default() }).unwrap();
    assert_eq!(del, ids(&["c"]), "c kept its metadata through the embedding update");
    let del = api.delete(c.id, DeleteRequest { r#where: w(&json!({"k": 8})), ..Default::default() }).unwrap();
    assert_eq!(del, ids(&["b"]));
    let del = api
        .delete(
            c.id,
            DeleteRequest {
                where_document: wd(&json!({"$contains": "foo"})),
                ids: Some(ids(&["a", "d"])),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(del, ids(&["a"]));
    assert_eq!(api.delete(c.id, DeleteRequest::default()).unwrap(), Vec::<String>::new());
    assert_eq!(get_ids(api, &c, GetRequest::default()), ids(&["d"]));
    let q = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 10)).unwrap();
    assert_eq!(q.ids, vec![ids(&["d"])], "deleted records never come back in queries");
    api.delete_collection(T, D, "suite-records").unwrap();
}

/// `per_request_dialect`: the 0.4.x filter dialect can be asked for per call (embedded); over
/// HTTP the server picks it from the client line, so those checks only run embedded.
pub fn filters(api: &dyn ChromaApi, per_request_dialect: bool) {
    let c = fresh(api, "suite-filters", None);
    let n = 40;
    let mut req =
        AddRequest::new((0..n).map(|i| format!("r{i}")).collect(), (0..n).map(|i| vec![i as f32, 1.0]).collect());
    req.documents = Some(
        (0..n)
            .map(|i| {
                if i % 5 == 4 {
                    None
                } else {
                    Some(format!("Doc number {i} {}", if i % 2 == 0 { "even" } else { "odd" }))
                }
            })
            .collect(),
    );
    req = req.metadatas((0..n).map(|i| {
        if i % 7 == 6 { None } else {
            Some(md(&json!({"i": i, "f": i as f64 / 2.0, "s": format!("s{}", i % 3), "b": i % 2 == 0, "tags": [format!("t{}", i % 4), "all"]})))
        }
    }).collect());
    api.add(c.id, req).unwrap();
    let check = |filter: serde_json::Value, doc: Option<serde_json::Value>, expect: &dyn Fn(usize) -> bool| {
        let got = get_ids(
            api,
            &c,
            GetRequest { r#where: w(&filter), where_document: doc.as_ref().and_then(wd), ..Default::default() },
        );
        let want: Vec<String> = (0..n).filter(|i| expect(*i)).map(|i| format!("r{i}")).collect();
        assert_eq!(got, want, "where {filter} where_document {doc:?}");
    };
    let has = |i: usize| i % 7 != 6;
    let hasdoc = |i: usize| i % 5 != 4;
    check(json!({"i": 3}), None, &|i| has(i) && i == 3);
    check(json!({"i": {"$eq": 3.0}}), None, &|i| has(i) && i == 3);
    check(json!({"f": {"$gt": 10}}), None, &|i| has(i) && i as f64 / 2.0 > 10.0);
    check(json!({"i": {"$gte": 30}}), None, &|i| has(i) && i >= 30);
    check(json!({"i": {"$lt": 4.5}}), None, &|i| has(i) && i < 5);
    check(json!({"i": {"$lte": 4}}), None, &|i| has(i) && i <= 4);
    check(json!({"s": {"$ne": "s1"}}), None, &|i| !has(i) || i % 3 != 1);
    check(json!({"s": {"$in": ["s0", "s2"]}}), None, &|i| has(i) && i % 3 != 1);
    check(json!({"i": {"$nin": [1, 2, 3]}}), None, &|i| !has(i) || !(1..=3).contains(&i));
    check(json!({"b": true}), None, &|i| has(i) && i % 2 == 0);
    check(json!({"b": {"$ne": true}}), None, &|i| !has(i) || i % 2 == 1);
    check(json!({"$and": [{"b": true}, {"i": {"$gt": 20}}]}), None, &|i| has(i) && i % 2 == 0 && i > 20);
    check(json!({"$or": [{"i": 1}, {"s": "s2"}]}), None, &|i| has(i) && (i == 1 || i % 3 == 2));
    check(json!({"tags": {"$contains": "t1"}}), None, &|i| has(i) && i % 4 == 1);
    check(json!({"tags": {"$not_contains": "t1"}}), None, &|i| !has(i) || i % 4 != 1);
    check(json!({"nokey": {"$ne": 1}}), None, &|_| true);
    check(json!({}), Some(json!({"$contains": "even"})), &|i| hasdoc(i) && i % 2 == 0);
    check(json!({}), Some(json!({"$contains": "EVEN"})), &|_| false);
    check(json!({}), Some(json!({"$not_contains": "even"})), &|i| !hasdoc(i) || i % 2 == 1);
    check(json!({}), Some(json!({"$contains": "1"})), &|i| hasdoc(i) && i.to_string().contains('1'));
    check(json!({}), Some(json!({"$regex": "number [0-9]{2} odd"})), &|i| hasdoc(i) && i >= 10 && i % 2 == 1);
    check(json!({}), Some(json!({"$not_regex": "^Doc"})), &|i| !hasdoc(i));
    check(json!({}), Some(json!({"$and": [{"$contains": "odd"}, {"$contains": "3"}]})), &|i| {
        hasdoc(i) && i % 2 == 1 && i.to_string().contains('3')
    });
    check(json!({}), Some(json!({"$or": [{"$contains": "number 2 "}, {"$contains": "number 3 "}]})), &|i| {
        hasdoc(i) && (i == 2 || i == 3)
    });
    check(json!({"i": {"$gt": 10}}), Some(json!({"$contains": "even"})), &|i| {
        has(i) && hasdoc(i) && i > 10 && i % 2 == 0
    });
    // 0.4.x dialect: $ne / $nin need the key, $not_contains needs a document
    if per_request_dialect {
        let v04 = |filter: serde_json::Value, doc: Option<serde_json::Value>| {
            get_ids(
                api,
                &c,
                GetRequest {
                    r#where: w(&filter),
                    where_document: doc.as_ref().and_then(wd),
                    dialect: Dialect::V04,
                    ..Default::default()
                },
            )
            .len()
        };
        assert_eq!(v04(json!({"s": {"$ne": "s1"}}), None), (0..n).filter(|i| has(*i) && i % 3 != 1).count());
        assert_eq!(
            v04(json!({}), Some(json!({"$not_contains": "even"}))),
            (0..n).filter(|i| hasdoc(*i) && i % 2 == 1).count()
        );
    }
    // filtered query is exact top-k among matches
    let mut q = QueryRequest::new(vec![vec![0.0, 1.0]], 3);
    q.r#where = w(&json!({"s": "s2"}));
    let r = api.query(c.id, q).unwrap();
    let want: Vec<String> = (0..n).filter(|i| has(*i) && i % 3 == 2).take(3).map(|i| format!("r{i}")).collect();
    assert_eq!(r.ids[0], want);
    api.delete_collection(T, D, "suite-filters").unwrap();
}

pub fn spaces(api: &dyn ChromaApi) {
    for (space, expect) in [("l2", 26.0f32), ("ip", -10.0), ("cosine", 1.0 - 11.0 / (122f32).sqrt())] {
        let name = format!("suite-space-{space}");
        let c = fresh(api, &name, Some(json!({"hnsw:space": space})));
        api.add(c.id, AddRequest::new(ids(&["p"]), vec![vec![11.0, 1.0]])).unwrap();
        let r = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0]], 1)).unwrap();
        let d = r.distances.unwrap()[0][0];
        let l2 = if space == "l2" { 101.0 } else { expect };
        assert!((d - l2).abs() < 1e-4, "{space}: {d} vs {l2}");
        let e = api.get(c.id, GetRequest { include: vec![Include::Embeddings], ..Default::default() }).unwrap();
        assert_eq!(e.embeddings.unwrap()[0], vec![11.0, 1.0], "embeddings come back as given, not normalised");
        api.delete_collection(T, D, &name).unwrap();
    }
}

pub fn errors(api: &dyn ChromaApi) {
    let c = fresh(api, "suite-errors", None);
    api.add(c.id, AddRequest::new(ids(&["a"]), vec![vec![1.0, 2.0]])).unwrap();
    let e = api.add(c.id, AddRequest::new(ids(&["b"]), vec![vec![1.0, 2.0, 3.0]])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidDimension, "{e}");
    let e = api.query(c.id, QueryRequest::new(vec![vec![1.0]], 1)).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidDimension, "{e}");
    let e = api.add(c.id, AddRequest::new(ids(&["x", "x"]), vec![vec![1.0, 2.0], vec![1.0, 2.0]])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::DuplicateId, "{e}");
    let e = api.add(c.id, AddRequest::new(ids(&["x", "y"]), vec![vec![1.0, 2.0]])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    let e = api.add(c.id, AddRequest::new(ids(&["x"]), vec![vec![f32::NAN, 2.0]])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    let e = api.add(c.id, AddRequest::new(ids(&[""]), vec![vec![1.0, 2.0]])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    let e = api.add(c.id, AddRequest::new(vec![], vec![])).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument, "{e}");
    let mut bad = AddRequest::new(ids(&["x"]), vec![vec![1.0, 2.0]]);
    bad.metadatas = Some(vec![Some(update_metadata_from_json(&json!({"chroma:document": "x"})).unwrap())]);
    assert_eq!(api.add(c.id, bad).unwrap_err().kind, ErrorKind::InvalidArgument);
    let mut bad = AddRequest::new(ids(&["x"]), vec![vec![1.0, 2.0]]);
    bad.documents = Some(vec![]);
    assert_eq!(api.add(c.id, bad).unwrap_err().kind, ErrorKind::InvalidArgument);
    let max = api.max_batch_size().unwrap();
    let big = AddRequest::new((0..=max).map(|i| i.to_string()).collect(), (0..=max).map(|_| vec![0.0, 0.0]).collect());
    assert_eq!(api.add(c.id, big).unwrap_err().kind, ErrorKind::BatchSizeExceeded);
    let missing = uuid::Uuid::new_v4();
    assert_eq!(api.add(missing, AddRequest::new(ids(&["a"]), vec![vec![1.0]])).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.get(missing, GetRequest::default()).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.count(missing).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.query(missing, QueryRequest::new(vec![vec![1.0]], 1)).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(api.count(c.id).unwrap(), 1, "failed writes changed nothing");
    api.delete_collection(T, D, "suite-errors").unwrap();
}

/// 1.x additions: delete with `limit`, query restricted to `ids`.
pub fn limits_and_id_queries(api: &dyn ChromaApi) {
    let c = fresh(api, "suite-limit", None);
    let all = ids(&["id1", "id2", "id3", "id4", "id5"]);
    let cats = ["a", "a", "a", "b", "b"];
    let embs: Vec<Vec<f32>> = (0..5).map(|i| vec![i as f32, 1.0]).collect();
    let req =
        AddRequest::new(all.clone(), embs).metadatas(cats.iter().map(|k| Some(md(&json!({"category": k})))).collect());
    api.add(c.id, req).unwrap();
    let cat_a = || w(&json!({"category": "a"}));
    let none = api.delete(c.id, DeleteRequest { r#where: cat_a(), limit: Some(0), ..Default::default() }).unwrap();
    assert!(none.is_empty(), "limit 0 deletes nothing");
    let two = api.delete(c.id, DeleteRequest { r#where: cat_a(), limit: Some(2), ..Default::default() }).unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(get_ids(api, &c, GetRequest::default()), ids(&["id3", "id4", "id5"]), "the oldest matches go first");
    let e =
        api.delete(c.id, DeleteRequest { ids: Some(ids(&["id3"])), limit: Some(5), ..Default::default() }).unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
    assert!(e.message.contains("limit can only be specified"), "{}", e.message);
    assert_eq!(api.count(c.id).unwrap(), 3, "a refused delete deletes nothing");
    // query with ids: only those ids come back; an id that is not there is an error
    let mut q = QueryRequest::new(vec![vec![4.0, 1.0]], 10);
    q.ids = Some(ids(&["id3", "id4"]));
    let r = api.query(c.id, q.clone()).unwrap();
    assert_eq!(r.ids, vec![ids(&["id4", "id3"])]);
    q.ids = Some(ids(&["id3", "id1"]));
    let e = api.query(c.id, q).unwrap_err();
    assert!(e.message.contains("Error finding id"), "{}", e.message);
    api.delete_collection(T, D, "suite-limit").unwrap();
}

/// `fork_collection`: the same records (ids, order, documents, metadata, vectors), the
/// same configuration and metadata; filters and queries work on the copy; writes to one do
/// not show in the other; `fork_count` counts the lineage; `indexing_status` sees every vector.
pub fn forks(api: &dyn ChromaApi) {
    forks_checked(api, true);
}

/// `exact_slots`: the backend counts every operation since the collection was created (one
/// engine over its own folder: 4 adds and a delete in the source, one add in the fork); a
/// cluster node's cache is rebuilt from the live records, so its `total_ops` may be smaller
/// (see docs/scale-out.md).
fn forks_checked(api: &dyn ChromaApi, exact_slots: bool) {
    let _ = api.delete_collection(T, D, "suite-fork-b");
    let _ = api.delete_collection(T, D, "suite-fork-c");
    let c = fresh(api, "suite-fork-a", Some(json!({"hnsw:space": "cosine", "m": 1})));
    seed(api, &c);
    api.delete(c.id, DeleteRequest { ids: Some(ids(&["c"])), ..Default::default() }).unwrap();
    let all =
        GetRequest { include: vec![Include::Documents, Include::Metadatas, Include::Embeddings], ..Default::default() };
    let before = api.get(c.id, all.clone()).unwrap();
    let f = api.fork_collection(c.id, "suite-fork-b").unwrap();
    assert_ne!(f.id, c.id);
    assert_eq!(f.name, "suite-fork-b");
    assert_eq!((f.tenant.as_str(), f.database.as_str()), (T, D));
    assert_eq!(f.metadata, c.metadata);
    assert_eq!(f.config.space, Space::Cosine);
    assert_eq!(f.dimension, Some(3));
    assert_eq!(api.get(f.id, all.clone()).unwrap(), before);
    assert_eq!(api.count(f.id).unwrap(), 3);
    // the copied metadata index and full-text rows answer filters
    assert_eq!(get_ids(api, &f, GetRequest { r#where: w(&json!({"k": 1})), ..Default::default() }), ids(&["b"]));
    assert_eq!(
        get_ids(api, &f, GetRequest { where_document: wd(&json!({"$contains": "hello wo"})), ..Default::default() }),
        ids(&["b"])
    );
    let r = api.query(f.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 1)).unwrap();
    assert_eq!(r.ids[0], ids(&["b"]));
    // independent afterwards
    api.add(f.id, AddRequest::new(ids(&["e"]), vec![vec![1.0, 1.0, 1.0]]).documents(vec![Some("hello fork".into())]))
        .unwrap();
    api.delete(c.id, DeleteRequest { ids: Some(ids(&["b"])), ..Default::default() }).unwrap();
    assert_eq!(api.count(c.id).unwrap(), 2);
    assert_eq!(api.count(f.id).unwrap(), 4);
    assert_eq!(
        get_ids(api, &f, GetRequest { where_document: wd(&json!({"$contains": "hello"})), ..Default::default() }),
        ids(&["b", "e"])
    );
    assert_eq!(
        get_ids(api, &c, GetRequest { where_document: wd(&json!({"$contains": "hello"})), ..Default::default() }),
        ids(&[])
    );
    let r = api.query(c.id, QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 5)).unwrap();
    assert_eq!(r.ids[0].len(), 2);
    let e = api.fork_collection(c.id, "suite-fork-b").unwrap_err();
    assert_eq!(e.kind, ErrorKind::AlreadyExists, "{e}");
    let e = api.fork_collection(uuid::Uuid::new_v4(), "suite-fork-x").unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound, "{e}");
    // a fork of a fork joins the same lineage
    let g = api.fork_collection(f.id, "suite-fork-c").unwrap();
    assert_eq!(api.count(g.id).unwrap(), 4);
    for id in [c.id, f.id, g.id] {
        assert_eq!(api.fork_count(id).unwrap(), 2);
    }
    let s = api.indexing_status(f.id).unwrap();
    assert_eq!(s.total_ops, s.num_indexed_ops + s.num_unindexed_ops);
    if exact_slots {
        assert_eq!(s.total_ops, 6);
    } else {
        assert!((4..=6).contains(&s.total_ops), "{s:?}");
    }
    assert!((0.0..=1.0).contains(&s.op_indexing_progress));
    // an empty collection forks too
    let empty = fresh(api, "suite-fork-empty", None);
    let _ = api.delete_collection(T, D, "suite-fork-empty2");
    let e2 = api.fork_collection(empty.id, "suite-fork-empty2").unwrap();
    assert_eq!(api.count(e2.id).unwrap(), 0);
    assert!((api.indexing_status(e2.id).unwrap().op_indexing_progress - 1.0).abs() < 1e-9);
    for n in ["suite-fork-a", "suite-fork-b", "suite-fork-c", "suite-fork-empty", "suite-fork-empty2"] {
        api.delete_collection(T, D, n).unwrap();
    }
}

/// A 1.x schema's HNSW settings are used and reported; a schema that disables the
/// full-text index of `#document` makes document filters an error.
pub fn schema_settings(api: &dyn ChromaApi) {
    let hnsw = json!({"ef_construction": 150, "max_neighbors": 32, "ef_search": 77, "num_threads": 3,
        "batch_size": 50, "sync_threshold": 500, "resize_factor": 1.5});
    let schema = json!({"keys": {"#embedding": {"float_list": {"vector_index": {"enabled": true,
        "config": {"space": "l2", "hnsw": hnsw, "source_key": "#document"}}}}}});
    let _ = api.delete_collection(T, D, "suite-schema-hnsw");
    let mut req = CreateCollection::new("suite-schema-hnsw");
    req.schema = Some(schema);
    let c = api.create_collection(T, D, req).unwrap();
    let k = &c.config;
    assert_eq!((k.ef_construction, k.m, k.ef_search, k.num_threads), (150, 32, 77, 3));
    assert_eq!((k.batch_size, k.sync_threshold, k.resize_factor), (50, 500, 1.5));
    assert_eq!(k.to_schema_json().pointer("/keys/#embedding/float_list/vector_index/config/hnsw"), Some(&hnsw));
    api.delete_collection(T, D, "suite-schema-hnsw").unwrap();

    let schema = json!({"keys": {"#document": {"string": {"fts_index": {"enabled": false, "config": {}}}}}});
    let _ = api.delete_collection(T, D, "suite-schema-nofts");
    let mut req = CreateCollection::new("suite-schema-nofts");
    req.schema = Some(schema);
    let c = api.create_collection(T, D, req).unwrap();
    assert!(c.config.fts_disabled);
    seed(api, &c);
    let msg = "Cannot filter using full-text search because FTS indexing is disabled";
    let e = api.get(c.id, GetRequest { where_document: wd(&json!({"$contains": "foo"})), ..Default::default() });
    assert_eq!(e.unwrap_err().message, msg);
    let e = api.get(
        c.id,
        GetRequest {
            r#where: w(&json!({"$and": [{"k": 1}, {"#document": {"$contains": "foo"}}]})),
            ..Default::default()
        },
    );
    assert_eq!(e.unwrap_err().message, msg);
    let mut q = QueryRequest::new(vec![vec![1.0, 0.0, 0.0]], 1);
    q.where_document = wd(&json!({"$regex": "f.o"}));
    assert_eq!(api.query(c.id, q).unwrap_err().message, msg);
    let e = api.delete(c.id, DeleteRequest { where_document: wd(&json!({"$contains": "foo"})), ..Default::default() });
    assert_eq!(e.unwrap_err().message, msg);
    assert_eq!(get_ids(api, &c, GetRequest { r#where: w(&json!({"k": 1})), ..Default::default() }), ids(&["b"]));
    api.delete_collection(T, D, "suite-schema-nofts").unwrap();
}

/// The whole suite on an embedded engine.
pub fn run_all(api: &dyn ChromaApi) {
    run(api, true);
}

/// The whole suite through a client of a server.
pub fn run_all_remote(api: &dyn ChromaApi) {
    run(api, false);
}

/// The whole suite on a chroma-cluster node (PostgreSQL behind a derived cache).
pub fn run_all_cluster(api: &dyn ChromaApi) {
    run_with(api, true, false);
}

fn run(api: &dyn ChromaApi, embedded: bool) {
    run_with(api, embedded, true);
}

fn run_with(api: &dyn ChromaApi, embedded: bool, exact_slots: bool) {
    assert!(api.heartbeat().unwrap() > 0);
    assert!(!api.version().unwrap().is_empty());
    collections(api);
    tenants_and_databases(api);
    records(api);
    filters(api, embedded);
    spaces(api);
    errors(api);
    limits_and_id_queries(api);
    forks_checked(api, exact_slots);
    schema_settings(api);
}
