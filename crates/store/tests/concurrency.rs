//! Readers and writers of one engine on several threads: readers never see a half-applied
//! write or compaction (a record without its embedding, or with another record's embedding,
//! or a query distance that is not the distance to the returned embedding), and the final
//! state is consistent.
//!
//! Every embedding starts with a marker derived from its record's id, so a reader can tell
//! that an embedding belongs to the record it came with.

mod support;

use chroma_store::Engine;
use chroma_types::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const DIM: usize = 4;

fn marker(id: &str) -> f32 {
    let h = id.bytes().fold(1_469_598_103_934_665_603_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211));
    (h % 100_000) as f32 / 1000.0
}

fn emb(id: &str, rng: &mut support::Rng) -> Vec<f32> {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.f32()).collect();
    v[0] = marker(id);
    v
}

#[allow(clippy::float_cmp)] // the marker is stored and returned bit for bit
fn check_pair(what: &str, id: &str, e: &[f32]) {
    assert_eq!(e.len(), DIM, "{what} returned {id} without its embedding ({e:?})");
    assert_eq!(e[0], marker(id), "{what} returned {id} with another record's embedding {e:?}");
}

fn run(e: &Engine, seconds: u64) {
    let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("conc")).unwrap();
    e.add(c.id, AddRequest::new(vec!["seed".into()], vec![emb("seed", &mut support::Rng::new(0))])).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers: Vec<std::thread::JoinHandle<usize>> = (0..2u64)
        .map(|w| {
            let e = e.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut rng = support::Rng::new(w + 1);
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let ids: Vec<String> = (0..rng.range(3, 20)).map(|i| format!("w{w}-{n}-{i}")).collect();
                    let embs: Vec<Vec<f32>> = ids.iter().map(|i| emb(i, &mut rng)).collect();
                    e.upsert(c.id, AddRequest::new(ids.clone(), embs)).unwrap();
                    let moved = vec![ids[0].clone()];
                    let new = vec![Some(emb(&ids[0], &mut rng))];
                    e.update(c.id, UpdateRequest { ids: moved, embeddings: Some(new), ..Default::default() }).unwrap();
                    e.delete(c.id, DeleteRequest { ids: Some(vec![ids[1].clone()]), ..Default::default() }).unwrap();
                    n += 1;
                }
                n
            })
        })
        .collect();
    {
        let e = e.clone();
        let stop = stop.clone();
        workers.push(std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                n += e.compact_collection(c.id).unwrap() as usize;
            }
            n
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut rng = support::Rng::new(99);
    let mut reads = 0;
    while Instant::now() < deadline {
        let g = e.get(c.id, GetRequest { include: vec![Include::Embeddings], ..Default::default() }).unwrap();
        for (id, v) in g.ids.iter().zip(g.embeddings.unwrap()) {
            check_pair("get", id, &v);
        }
        let q: Vec<f32> = (0..DIM).map(|_| rng.f32() * 50.0).collect();
        let mut req = QueryRequest::new(vec![q.clone()], 10);
        req.include = vec![Include::Embeddings, Include::Distances];
        let r = e.query(c.id, req).unwrap();
        for ((id, v), d) in r.ids[0].iter().zip(&r.embeddings.unwrap()[0]).zip(&r.distances.unwrap()[0]) {
            check_pair("query", id, v);
            let true_d: f32 = v.iter().zip(&q).map(|(x, y)| (x - y) * (x - y)).sum();
            assert!(
                (true_d - d).abs() <= 1e-3 * (1.0 + true_d),
                "query returned {id} at {d} but its embedding is at {true_d}"
            );
        }
        reads += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let done: Vec<usize> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    assert!(reads > 10 && done[..2].iter().all(|r| *r > 10), "reads {reads}, write rounds / slots compacted {done:?}");
    let g = e.get(c.id, GetRequest { include: vec![Include::Embeddings], ..Default::default() }).unwrap();
    assert_eq!(g.ids.len(), e.count(c.id).unwrap());
    for (id, v) in g.ids.iter().zip(g.embeddings.unwrap()) {
        check_pair("final get", id, &v);
    }
}

fn seconds() -> u64 {
    std::env::var("CONCURRENCY_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4)
}

#[test]
fn readers_never_see_half_applied_writes_ephemeral() {
    run(&Engine::ephemeral(Settings::default()).unwrap(), seconds());
}

#[test]
fn readers_never_see_half_applied_writes_persistent() {
    let tmp = tempfile::tempdir().unwrap();
    run(&Engine::open(tmp.path(), Settings::default()).unwrap(), seconds());
}
