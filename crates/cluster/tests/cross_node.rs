//! Several nodes over one PostgreSQL database: read your writes across nodes, and concurrent
//! writers on different nodes against a serial reference.

mod common;

use chroma_types::metadata::metadata_from_json;
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, DeleteRequest, GetRequest, Include, QueryRequest, UpdateRequest,
    DEFAULT_DATABASE as D, DEFAULT_TENANT as T,
};
use serde_json::json;
use std::sync::Barrier;

fn emb(i: usize) -> Vec<f32> {
    vec![i as f32, (i % 7) as f32, 1.0]
}

#[test]
fn write_on_one_node_read_on_the_others_at_once() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "ryw");
    let (a, b) = (common::node(&url), common::node(&url));
    // C does not LISTEN: it sees A's writes only through the catch-up every read does.
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.listen = false;
    let c = chroma_cluster::Cluster::open(o).unwrap();
    let coll = a.create_collection(T, D, CreateCollection::new("ryw")).unwrap();
    // B and C cache the empty collection first, so every later read must catch up.
    assert_eq!(b.count(coll.id).unwrap(), 0);
    assert_eq!(c.count(coll.id).unwrap(), 0);
    assert_eq!(b.get_collection(T, D, "ryw").unwrap().id, coll.id);
    for round in 0..40usize {
        let id = format!("r{round}");
        a.add(
            coll.id,
            AddRequest::new(vec![id.clone()], vec![emb(round)]).documents(vec![Some(format!("doc {round}"))]),
        )
        .unwrap();
        if round % 5 == 4 {
            a.update(
                coll.id,
                UpdateRequest {
                    ids: vec![format!("r{}", round - 1)],
                    metadatas: Some(vec![Some(
                        chroma_types::metadata::update_metadata_from_json(&json!({"round": round})).unwrap(),
                    )]),
                    ..Default::default()
                },
            )
            .unwrap();
            let gone =
                a.delete(coll.id, DeleteRequest { ids: Some(vec![format!("r{}", round - 2)]), ..Default::default() });
            assert_eq!(gone.unwrap(), vec![format!("r{}", round - 2)]);
        }
        let expected = a
            .get(coll.id, GetRequest { include: vec![Include::Metadatas, Include::Documents], ..Default::default() })
            .unwrap();
        let barrier = Barrier::new(2);
        std::thread::scope(|s| {
            for node in [&b, &c] {
                let (expected, barrier, id) = (&expected, &barrier, &id);
                s.spawn(move || {
                    barrier.wait();
                    let got = node
                        .get(
                            coll.id,
                            GetRequest { include: vec![Include::Metadatas, Include::Documents], ..Default::default() },
                        )
                        .unwrap();
                    assert_eq!(&got, expected, "round {round}");
                    let q = node.query(coll.id, QueryRequest::new(vec![emb(round)], 1)).unwrap();
                    assert_eq!(&q.ids[0][0], id);
                    assert_eq!(node.count(coll.id).unwrap(), expected.ids.len());
                });
            }
        });
    }
    // Catalog changes are seen at once too.
    b.update_collection(
        coll.id,
        chroma_types::UpdateCollection { new_name: Some("ryw2".into()), ..Default::default() },
    )
    .unwrap();
    assert_eq!(c.get_collection(T, D, "ryw2").unwrap().id, coll.id);
    c.delete_collection(T, D, "ryw2").unwrap();
    assert_eq!(a.count(coll.id).unwrap_err().kind, chroma_types::ErrorKind::NotFound);
}

/// One writer's operations: upserts of overlapping ids, each writer merging its own metadata
/// key (`w<N>`), so the final state does not depend on how the writers interleave; a lost
/// update would lose a key, a duplicate id would show in the count.
fn writer_ops(w: usize) -> Vec<AddRequest> {
    let mut state = 0x9e37_79b9_u64.wrapping_mul(w as u64 + 1);
    (0..60)
        .map(|step| {
            let mut ids: Vec<usize> = Vec::new();
            while ids.len() < 5 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let id = (state % 40) as usize;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            AddRequest::new(ids.iter().map(|i| format!("id{i}")).collect(), ids.iter().map(|&i| emb(i)).collect())
                .documents(ids.iter().map(|i| Some(format!("document {i}"))).collect())
                .metadatas(
                    ids.iter().map(|_| Some(metadata_from_json(&json!({format!("w{w}"): step})).unwrap())).collect(),
                )
        })
        .collect()
}

fn sorted(api: &dyn ChromaApi, id: uuid::Uuid) -> Vec<(String, String, Vec<f32>, String)> {
    let r = api
        .get(
            id,
            GetRequest {
                include: vec![Include::Metadatas, Include::Documents, Include::Embeddings],
                ..Default::default()
            },
        )
        .unwrap();
    let mut out: Vec<_> = (0..r.ids.len())
        .map(|i| {
            (
                r.ids[i].clone(),
                format!("{:?}", r.metadatas.as_ref().unwrap()[i]),
                r.embeddings.as_ref().unwrap()[i].clone(),
                r.documents.as_ref().unwrap()[i].clone().unwrap_or_default(),
            )
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn three_writers_on_three_nodes_match_a_serial_reference() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "writers");
    let nodes = [common::node(&url), common::node(&url), common::node(&url)];
    let coll = nodes[0].create_collection(T, D, CreateCollection::new("writers")).unwrap();
    let barrier = Barrier::new(3);
    std::thread::scope(|s| {
        for (w, node) in nodes.iter().enumerate() {
            let barrier = &barrier;
            s.spawn(move || {
                barrier.wait();
                for req in writer_ops(w) {
                    node.upsert(coll.id, req).unwrap();
                }
            });
        }
    });
    let reference = chroma_store::Engine::ephemeral(chroma_types::Settings::default()).unwrap();
    let rc = reference.create_collection(T, D, CreateCollection::new("writers")).unwrap();
    for w in 0..3 {
        for req in writer_ops(w) {
            reference.upsert(rc.id, req).unwrap();
        }
    }
    let expected = sorted(&reference, rc.id);
    assert_eq!(expected.len(), 40);
    for node in &nodes {
        assert_eq!(sorted(node, coll.id), expected);
        assert_eq!(node.count(coll.id).unwrap(), 40);
    }
    // Every node holds the same insertion order (the log's order).
    let order = |n: &chroma_cluster::Cluster| n.get(coll.id, GetRequest::default()).unwrap().ids;
    assert_eq!(order(&nodes[1]), order(&nodes[0]));
    assert_eq!(order(&nodes[2]), order(&nodes[0]));
    // Positions are gap-free: 180 writes, 1..=180.
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let positions: Vec<i64> = pg
        .query("SELECT position FROM chroma_log WHERE collection_id = $1 ORDER BY position", &[&coll.id])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(positions, (1..=180).collect::<Vec<i64>>());
    assert_eq!(nodes[2].get_collection_by_id(coll.id).unwrap().log_position, 180);
    // A node that starts now loads the same state from the records table alone.
    let late = common::node(&url);
    assert_eq!(sorted(&late, coll.id), expected);
    assert_eq!(order(&late), order(&nodes[0]));
}

/// Every id of the collection through `get`, `count` and `search` on `node`; the three must agree.
fn ids_seen(node: &chroma_cluster::Cluster, id: uuid::Uuid) -> Vec<String> {
    use chroma_types::search::{Search, SearchRequest};
    let got = node.get(id, GetRequest::default()).unwrap().ids;
    assert_eq!(node.count(id).unwrap(), got.len());
    let req = SearchRequest { searches: vec![Search::default()], ..Default::default() };
    let searched = node.search(id, req).unwrap().ids.pop().unwrap();
    assert_eq!(searched, got);
    got
}

/// A read with `read_overlap` runs on the cache as it is while the collection's row is
/// fetched; this checks the answers that must be thrown away: a cache behind the committed
/// position, a cache of an older collection with the same id (re-created, so at a *lower*
/// position), a cache of a deleted collection. The same reads on a node fetching the row first
/// (the default) must agree. Neither B node LISTENs, so nothing but the read path moves their
/// caches.
#[test]
fn a_read_on_a_stale_cache_is_redone_after_catching_up() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "stale");
    let a = common::node(&url);
    let bs = [true, false].map(|overlap| {
        let mut o = chroma_cluster::ClusterOptions::new(&url);
        o.listen = false;
        o.read_overlap = overlap;
        chroma_cluster::Cluster::open(o).unwrap()
    });
    let coll = a.create_collection(T, D, CreateCollection::new("stale")).unwrap();
    let seen = |want: &[String]| {
        for b in &bs {
            assert_eq!(ids_seen(b, coll.id), want);
        }
    };
    let ids = |r: std::ops::Range<usize>| r.map(|i| format!("s{i}")).collect::<Vec<_>>();
    for i in 0..6 {
        a.add(coll.id, AddRequest::new(vec![format!("s{i}")], vec![emb(i)])).unwrap();
    }
    seen(&ids(0..6));
    // Behind: the B caches are at position 6, the row at 9.
    a.add(coll.id, AddRequest::new(vec!["s6".into()], vec![emb(6)])).unwrap();
    a.delete(coll.id, DeleteRequest { ids: Some(vec!["s0".into()]), ..Default::default() }).unwrap();
    a.upsert(coll.id, AddRequest::new(vec!["s1".into()], vec![emb(100)])).unwrap();
    seen(&ids(1..7));
    for b in &bs {
        let q = b.query(coll.id, QueryRequest::new(vec![emb(100)], 1)).unwrap();
        assert_eq!(q.ids[0], vec!["s1".to_string()], "the upserted vector is found");
    }
    // Warm and current: the first answer stands, and stays right over many reads.
    for _ in 0..20 {
        seen(&ids(1..7));
    }
    // Re-created with the same id: its log is at 2 while the B caches of the old one are at 9.
    a.delete_collection(T, D, "stale").unwrap();
    let again = a.create_collection(T, D, CreateCollection { id: Some(coll.id), ..CreateCollection::new("stale") });
    assert_eq!(again.unwrap().id, coll.id);
    a.add(coll.id, AddRequest::new(vec!["n0".into()], vec![emb(0)])).unwrap();
    a.add(coll.id, AddRequest::new(vec!["n1".into()], vec![emb(1)])).unwrap();
    assert_eq!(a.get_collection_by_id(coll.id).unwrap().log_position, 2);
    seen(&["n0".to_string(), "n1".to_string()]);
    // Deleted: the B nodes still cache it, but the read must say it is gone.
    a.delete_collection(T, D, "stale").unwrap();
    for b in &bs {
        for err in [
            b.get(coll.id, GetRequest::default()).unwrap_err(),
            b.count(coll.id).unwrap_err(),
            b.query(coll.id, QueryRequest::new(vec![emb(0)], 1)).unwrap_err(),
        ] {
            assert_eq!(err.kind, chroma_types::ErrorKind::NotFound, "{err}");
        }
    }
}

/// `read_level=index_only` (1.x search): a node serves the cache it holds as it is, so a
/// write on A may be missing from B's index-only answer; a default read on B is never stale,
/// and after it the index-only answer has caught up too.
#[test]
fn index_only_search_may_be_stale_a_default_read_is_not() {
    use chroma_types::search::{Knn, KnnQuery, Rank, ReadLevel, Search, SearchRequest};
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "readlevel");
    let a = common::node(&url);
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.listen = false;
    let b = chroma_cluster::Cluster::open(o).unwrap();
    let coll = a.create_collection(T, D, CreateCollection::new("readlevel")).unwrap();
    let search = |node: &chroma_cluster::Cluster, level: ReadLevel| {
        let knn = Knn {
            query: KnnQuery::Dense(emb(50)),
            key: "#embedding".into(),
            limit: 16,
            default: None,
            return_rank: false,
        };
        let s = Search { rank: Some(Rank::Knn(knn)), limit: Some(3), ..Default::default() };
        node.search(coll.id, SearchRequest { searches: vec![s], read_level: level }).unwrap().ids.pop().unwrap()
    };
    // No cache on B yet: index_only loads one (it cannot answer from nothing).
    a.add(coll.id, AddRequest::new(vec!["far".into()], vec![emb(1)])).unwrap();
    assert_eq!(search(&b, ReadLevel::IndexOnly), vec!["far".to_string()]);
    // A writes the nearest record; B's cache does not hear of it (no LISTEN).
    a.add(coll.id, AddRequest::new(vec!["near".into()], vec![emb(50)])).unwrap();
    for _ in 0..3 {
        assert_eq!(search(&b, ReadLevel::IndexOnly), vec!["far".to_string()], "served as cached");
    }
    assert_eq!(search(&b, ReadLevel::IndexAndBoundedWal), vec!["near".to_string(), "far".to_string()]);
    a.delete(coll.id, DeleteRequest { ids: Some(vec!["far".into()]), ..Default::default() }).unwrap();
    assert_eq!(search(&b, ReadLevel::IndexOnly), vec!["near".to_string(), "far".to_string()], "served as cached");
    // count too (1.x `count(read_level=...)`): index_only counts the cache as it is
    assert_eq!(b.count_at(coll.id, ReadLevel::IndexOnly).unwrap(), 2, "counted as cached");
    assert_eq!(search(&b, ReadLevel::IndexAndWal), vec!["near".to_string()]);
    assert_eq!(search(&b, ReadLevel::IndexOnly), vec!["near".to_string()], "caught up by the default read");
    a.add(coll.id, AddRequest::new(vec!["third".into()], vec![emb(3)])).unwrap();
    assert_eq!(b.count_at(coll.id, ReadLevel::IndexOnly).unwrap(), 1, "counted as cached");
    assert_eq!(b.count_at(coll.id, ReadLevel::IndexAndWal).unwrap(), 2);
    assert_eq!(b.count_at(coll.id, ReadLevel::IndexOnly).unwrap(), 2, "caught up by the default count");
    a.delete(coll.id, DeleteRequest { ids: Some(vec!["third".into()]), ..Default::default() }).unwrap();
    // A node that LISTENs catches up in the background: index_only converges without a default read.
    let c = common::node(&url);
    assert_eq!(search(&c, ReadLevel::IndexOnly), vec!["near".to_string()]);
    a.add(coll.id, AddRequest::new(vec!["nearer".into()], vec![emb(50)])).unwrap();
    let started = std::time::Instant::now();
    while search(&c, ReadLevel::IndexOnly).len() < 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the LISTEN catch-up did not arrive");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn log_positions(url: &str, id: uuid::Uuid) -> Vec<i64> {
    let mut pg = postgres::Client::connect(url, postgres::NoTls).unwrap();
    pg.query("SELECT position FROM chroma_log WHERE collection_id = $1 ORDER BY position", &[&id])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Log pruning: entries older than the retention go; a node whose cache is behind the pruned
/// horizon (here B, which does not LISTEN) finds its next entry missing and reloads from the
/// records, with every change it missed (an update, a delete, an upsert of a new vector).
#[test]
fn a_cache_behind_the_pruned_log_reloads_from_the_records() {
    use std::time::Duration;
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "pruned");
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.log_retention = None;
    let a = chroma_cluster::Cluster::open(o.clone()).unwrap();
    o.listen = false;
    let b = chroma_cluster::Cluster::open(o.clone()).unwrap();
    assert_eq!(b.prune_log().unwrap(), 0, "a node that keeps the log prunes nothing");
    o.log_retention = Some(Duration::from_secs(3));
    let pruner = chroma_cluster::Cluster::open(o).unwrap();
    let coll = a.create_collection(T, D, CreateCollection::new("pruned")).unwrap();
    for i in 0..10 {
        let add = AddRequest::new(vec![format!("p{i}")], vec![emb(i)]).documents(vec![Some(format!("doc {i}"))]);
        a.add(coll.id, add).unwrap();
    }
    assert_eq!(sorted(&b, coll.id), sorted(&a, coll.id));
    // B's cache is at 10. Entries 11-13 age past the retention, 14-15 do not.
    let meta = chroma_types::metadata::update_metadata_from_json(&json!({"changed": true})).unwrap();
    let update = UpdateRequest { ids: vec!["p3".into()], metadatas: Some(vec![Some(meta)]), ..Default::default() };
    a.update(coll.id, update).unwrap();
    a.delete(coll.id, DeleteRequest { ids: Some(vec!["p4".into()]), ..Default::default() }).unwrap();
    a.upsert(coll.id, AddRequest::new(vec!["p5".into()], vec![emb(500)])).unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    a.add(coll.id, AddRequest::new(vec!["p10".into()], vec![emb(10)])).unwrap();
    a.delete(coll.id, DeleteRequest { ids: Some(vec!["p0".into()]), ..Default::default() }).unwrap();
    // Its own pruner (every second) may have run already: the log's state is what counts.
    pruner.prune_log().unwrap();
    let left = log_positions(&url, coll.id);
    assert!(left.iter().all(|&p| p > 13) && left.len() <= 2, "kept {left:?}");
    let want = sorted(&a, coll.id);
    assert_eq!(want.len(), 9);
    assert_eq!(sorted(&b, coll.id), want, "B reloaded past the pruned entries");
    let order = |n: &chroma_cluster::Cluster| n.get(coll.id, GetRequest::default()).unwrap().ids;
    assert_eq!(order(&b), order(&a));
    let q = b.query(coll.id, QueryRequest::new(vec![emb(500)], 1)).unwrap();
    assert_eq!(q.ids[0], vec!["p5".to_string()]);
    // The whole log pruned: a cache behind finds no entry at all, and reloads too.
    let c = {
        let mut o = chroma_cluster::ClusterOptions::new(&url);
        o.listen = false;
        chroma_cluster::Cluster::open(o).unwrap()
    };
    assert_eq!(sorted(&c, coll.id), want);
    a.upsert(coll.id, AddRequest::new(vec!["p1".into()], vec![emb(600)])).unwrap();
    std::thread::sleep(Duration::from_millis(3500));
    pruner.prune_log().unwrap();
    assert!(log_positions(&url, coll.id).is_empty());
    let want = sorted(&a, coll.id);
    assert_eq!(sorted(&c, coll.id), want);
    assert_eq!(sorted(&b, coll.id), want);
    // Writes go on from a pruned log (positions continue), and every node follows them.
    a.add(coll.id, AddRequest::new(vec!["p11".into()], vec![emb(11)])).unwrap();
    assert_eq!(log_positions(&url, coll.id), vec![17]);
    assert_eq!(sorted(&b, coll.id), sorted(&a, coll.id));
    assert_eq!(sorted(&c, coll.id).len(), 10);
}

/// Pruning deletes in bounded batches (256 entries a statement) until nothing aged is left:
/// 600 aged entries take three batches, newer ones stay, and a cache that missed them all
/// reloads.
#[test]
fn pruning_a_long_log_takes_several_batches() {
    use std::time::{Duration, Instant};
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "prune_batches");
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.log_retention = None;
    let a = chroma_cluster::Cluster::open(o.clone()).unwrap();
    o.listen = false;
    let b = chroma_cluster::Cluster::open(o.clone()).unwrap();
    let coll = a.create_collection(T, D, CreateCollection::new("batches")).unwrap();
    assert!(sorted(&b, coll.id).is_empty()); // B's cache, at position 0
    for i in 0..600 {
        a.add(coll.id, AddRequest::new(vec![format!("b{i}")], vec![emb(i)])).unwrap();
    }
    std::thread::sleep(Duration::from_millis(4500));
    a.add(coll.id, AddRequest::new(vec!["fresh".into()], vec![emb(9999)])).unwrap();
    o.listen = true;
    o.log_retention = Some(Duration::from_secs(4));
    let pruner = chroma_cluster::Cluster::open(o).unwrap();
    // The pruner's own thread may take some batches first; the log's state is what counts.
    let (mut pruned, started) = (0, Instant::now());
    while log_positions(&url, coll.id).len() > 1 {
        assert!(started.elapsed() < Duration::from_secs(60), "pruning did not finish");
        pruned += pruner.prune_log().unwrap();
    }
    assert!(pruned <= 600, "pruned {pruned}");
    assert_eq!(log_positions(&url, coll.id), vec![601], "the entry newer than the retention stays");
    let want = sorted(&a, coll.id);
    assert_eq!(want.len(), 601);
    assert_eq!(sorted(&b, coll.id), want, "B reloaded past the pruned entries");
}

/// Writers to one collection queue on their node before taking the row lock: with a lock
/// timeout shorter than the whole queue's work, every one of many concurrent writers still
/// commits (in PostgreSQL each waits behind at most the one writer of each other node). A
/// writer that waits on its node past `write_queue_timeout` gets a clear `Unavailable`, and
/// leaves nothing behind.
#[test]
fn many_writers_on_one_node_queue_there_not_in_postgres() {
    use std::time::Duration;
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "queue");
    let mut o = chroma_cluster::ClusterOptions::new(&url);
    o.timeout = Duration::from_secs(1);
    let node = chroma_cluster::Cluster::open(o.clone()).unwrap();
    let other = chroma_cluster::Cluster::open(o.clone()).unwrap();
    let coll = node.create_collection(T, D, CreateCollection::new("queue")).unwrap();
    let batch = |w: usize, k: usize| {
        let ids: Vec<String> = (0..100).map(|i| format!("w{w}-{k}-{i}")).collect();
        let embs = (0..100).map(|i| vec![w as f32, k as f32, i as f32]).collect();
        AddRequest::new(ids, embs)
    };
    let writers = 24;
    std::thread::scope(|s| {
        for w in 0..writers {
            let n = if w % 4 == 3 { &other } else { &node };
            s.spawn(move || {
                for k in 0..4 {
                    n.add(coll.id, batch(w, k)).unwrap();
                }
            });
        }
    });
    assert_eq!(node.count(coll.id).unwrap(), writers * 4 * 100);
    assert_eq!(node.get_collection_by_id(coll.id).unwrap().log_position, (writers * 4) as u64);
    // A queue timeout of 1 ms: writers that find another ahead of them on the node give up.
    o.write_queue_timeout = Duration::from_millis(1);
    let impatient = chroma_cluster::Cluster::open(o).unwrap();
    let before = impatient.count(coll.id).unwrap();
    let impatient = &impatient;
    let outcomes: Vec<Result<(), chroma_types::Error>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|w| s.spawn(move || impatient.add(coll.id, batch(100 + w, 0)))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = outcomes.iter().filter(|r| r.is_ok()).count();
    assert!(ok >= 1, "the first writer has no one ahead of it");
    for e in outcomes.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(e.kind, chroma_types::ErrorKind::Unavailable, "{e}");
        assert!(e.message.contains("queued on this node"), "{e}");
    }
    assert_eq!(impatient.count(coll.id).unwrap(), before + ok * 100);
    assert_eq!(node.count(coll.id).unwrap(), before + ok * 100);
}
