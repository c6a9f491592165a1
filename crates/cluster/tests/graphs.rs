//! Cold loads: a node loading a collection answers exactly at once while its graph links in
//! the background, publishes the graph to PostgreSQL when done, and the next node loading the
//! same records takes that graph instead of linking; a graph that does not fit (damaged, or
//! built over other records) is not used.

mod common;

use chroma_types::{AddRequest, ChromaApi, CreateCollection, QueryRequest, DEFAULT_DATABASE as D, DEFAULT_TENANT as T};
use std::time::{Duration, Instant};
use uuid::Uuid;

const DIM: usize = 16;

fn emb(i: usize) -> Vec<f32> {
    let mut s = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..DIM)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 1000) as f32 / 1000.0
        })
        .collect()
}

/// The exact 10 nearest ids (squared L2, ties by lower index) among records `0..n`.
fn exact(q: &[f32], n: usize) -> Vec<String> {
    let mut d: Vec<(f32, usize)> =
        (0..n).map(|i| (emb(i).iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum(), i)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.iter().take(10).map(|(_, i)| format!("id{i}")).collect()
}

fn node(url: &str) -> chroma_cluster::Cluster {
    let mut o = chroma_cluster::ClusterOptions::new(url);
    o.listen = false;
    chroma_cluster::Cluster::open(o).expect("open a node")
}

fn add_range(api: &dyn ChromaApi, id: Uuid, r: std::ops::Range<usize>) {
    for start in r.clone().step_by(1000) {
        let end = (start + 1000).min(r.end);
        api.add(id, AddRequest::new((start..end).map(|i| format!("id{i}")).collect(), (start..end).map(emb).collect()))
            .unwrap();
    }
}

fn saved_position(pg: &mut postgres::Client, id: Uuid) -> Option<(i64, i64)> {
    pg.query_opt("SELECT log_position, slots FROM chroma_graphs WHERE collection_id = $1", &[&id])
        .unwrap()
        .map(|r| (r.get(0), r.get(1)))
}

fn wait_saved(pg: &mut postgres::Client, id: Uuid, position: i64) -> (i64, i64) {
    let t = Instant::now();
    loop {
        if let Some(s) = saved_position(pg, id).filter(|s| s.0 == position) {
            return s;
        }
        assert!(t.elapsed() < Duration::from_secs(180), "no graph at position {position} published within 3 minutes");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Every query's 10 nearest on `api` equal the exact ones (`n` records).
fn check_exact(api: &dyn ChromaApi, id: Uuid, n: usize, probes: usize) {
    for p in 0..probes {
        let q = emb(1_000_000 + p);
        let got = api.query(id, QueryRequest::new(vec![q.clone()], 10)).unwrap().ids.remove(0);
        assert_eq!(got, exact(&q, n), "probe {p}");
    }
}

#[test]
fn cold_loads_answer_at_once_and_share_the_graph() {
    let Some(base) = common::base_url() else { return };
    let url = common::fresh_db(&base, "graphs");
    let n = 6000;
    let writer = node(&url);
    let id = writer.create_collection(T, D, CreateCollection::new("graphs")).unwrap().id;
    add_range(&writer, id, 0..n);
    let mut pg = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    assert_eq!(saved_position(&mut pg, id), None, "a writer's cache is not a load: nothing to publish");

    // A cold node: its first reads come before the graph is linked (more than the inline
    // maximum of 2,048 vectors) and are exact (pending vectors are scanned).
    let b = node(&url);
    let st = b.indexing_status(id).unwrap();
    assert_eq!(st.total_ops, n as u64);
    assert!(st.num_unindexed_ops > 0, "a load of {n} links in the background: {st:?}");
    check_exact(&b, id, n, 5);
    let position = n as i64 / 1000;
    assert_eq!(wait_saved(&mut pg, id, position), (position, n as i64));
    // Linked now: still right (HNSW on 16 dimensions and 6k points finds the exact 10).
    check_exact(&b, id, n, 5);

    // The next cold node takes that graph: fully linked on load.
    let c = node(&url);
    let st = c.indexing_status(id).unwrap();
    assert_eq!((st.num_indexed_ops, st.total_ops), (n as u64, n as u64), "graph not taken from PostgreSQL");
    check_exact(&c, id, n, 5);

    // A damaged graph (a byte flipped: the CRC fails) is refused: the node links its own.
    pg.execute(
        "UPDATE chroma_graph_chunks SET data = set_byte(data, 100, (get_byte(data, 100) + 1) % 256)
         WHERE collection_id = $1 AND chunk = 0",
        &[&id],
    )
    .unwrap();
    let d = node(&url);
    assert!(d.indexing_status(id).unwrap().num_unindexed_ops > 0, "a damaged graph was used");
    check_exact(&d, id, n, 3);
    // It was discarded, and the refusing node publishes a good one once linked.
    assert_eq!(wait_saved(&mut pg, id, position), (position, n as i64));
    drop(d);
    let d2 = node(&url);
    assert_eq!(d2.indexing_status(id).unwrap().num_unindexed_ops, 0, "the republished graph was not taken");
    drop(d2);

    // After more writes, the saved graph no longer fits a load (other records): not used,
    // and the node that links the new records publishes the newer graph.
    add_range(&writer, id, n..n + 1000);
    let e = node(&url);
    assert!(e.indexing_status(id).unwrap().num_unindexed_ops > 0, "a graph of other records was used");
    check_exact(&e, id, n + 1000, 3);
    assert_eq!(wait_saved(&mut pg, id, position + 1), (position + 1, n as i64 + 1000));
    let f = node(&url);
    assert_eq!(f.indexing_status(id).unwrap().num_unindexed_ops, 0);
    check_exact(&f, id, n + 1000, 3);

    // A cache that applied changes after its load never publishes (its slots would not
    // match a load); deleting the collection removes its graph.
    writer.delete_collection(T, D, "graphs").unwrap();
    assert_eq!(saved_position(&mut pg, id), None);
}
