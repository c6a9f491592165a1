//! The Rust client's Search API builders on an embedded client, against a brute-force
//! reference on random data: a filtered Knn (filters matching none, one and all records), a
//! weighted sum with defaults and paging, `Rrf` of two `Knn` lists, `GroupBy` with `MinK` and `MaxK`,
//! a sparse Knn, `#id` filters and bad input.
#![cfg(feature = "embedded")]

use chroma_client::search::{rrf, Knn, MaxK, MinK, Rank, Search};
use chroma_client::{Client, Collection, CollectionOptions, Records};
use chroma_types::SparseVector;
use serde_json::json;

const N: usize = 120;
const DIM: usize = 6;

/// A filter and which record indices it allows.
type Case = (Option<serde_json::Value>, Box<dyn Fn(usize) -> bool>);

fn rng(seed: &mut u64) -> f32 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    ((*seed >> 40) as f32) / (1u64 << 24) as f32 - 0.5
}

struct Data {
    col: Collection,
    vectors: Vec<Vec<f32>>,
    seed: u64,
}

fn id(i: usize) -> String {
    format!("r{i:03}")
}

fn setup(name: &str) -> Data {
    let client = Client::ephemeral().unwrap();
    let col = client.create_collection(name, CollectionOptions::new()).unwrap();
    let mut seed = 42;
    let vectors: Vec<Vec<f32>> = (0..N).map(|_| (0..DIM).map(|_| rng(&mut seed)).collect()).collect();
    let metas: Vec<serde_json::Value> = (0..N)
        .map(|i| {
            let sparse =
                json!({"#type": "sparse_vector", "indices": [i % 5, 5 + i % 3], "values": [1.0 + (i % 7) as f64, 0.5]});
            json!({"g": i % 4, "tag": if i == 7 { "one" } else { "many" }, "sp": sparse})
        })
        .collect();
    col.add(Records::new((0..N).map(id), vectors.clone()).metadatas(metas)).unwrap();
    Data { col, vectors, seed }
}

fn query(d: &mut Data) -> Vec<f32> {
    (0..DIM).map(|_| rng(&mut d.seed)).collect()
}

/// Squared L2 in f32, as the engine computes it.
fn l2(a: &[f32], b: &[f32]) -> f64 {
    f64::from(a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>())
}

/// The `limit` nearest allowed records: (index, distance), ties by id.
fn knn(d: &Data, q: &[f32], allowed: impl Fn(usize) -> bool, limit: usize) -> Vec<(usize, f64)> {
    let mut v: Vec<(usize, f64)> = (0..N).filter(|i| allowed(*i)).map(|i| (i, l2(&d.vectors[i], q))).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    v.truncate(limit);
    v
}

fn ranked(scores: Vec<(usize, f64)>) -> Vec<(usize, f64)> {
    let mut s = scores;
    s.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    s
}

fn close(got: &[Option<f64>], want: &[f64]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        let g = g.unwrap();
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{g} vs {w}");
    }
}

#[test]
fn filtered_knn_matching_none_one_and_all() {
    let mut d = setup("search-filtered");
    let q = query(&mut d);
    let cases: Vec<Case> = vec![
        (Some(json!({"tag": "none"})), Box::new(|_| false)),
        (Some(json!({"tag": "one"})), Box::new(|i| i == 7)),
        (None, Box::new(|_| true)),
        (Some(json!({"g": 2})), Box::new(|i| i % 4 == 2)),
    ];
    for (filter, allowed) in cases {
        let mut s = Search::new().rank(Knn::new(q.clone()).limit(10)).select(["#score", "g"]);
        if let Some(f) = filter.clone() {
            s = s.r#where(f);
        }
        let r = d.col.search([s]).unwrap();
        let want = knn(&d, &q, allowed, 10);
        assert_eq!(r.ids[0], want.iter().map(|x| id(x.0)).collect::<Vec<_>>(), "{filter:?}");
        close(r.scores[0].as_ref().unwrap(), &want.iter().map(|x| x.1).collect::<Vec<_>>());
        let metas = r.metadatas[0].as_ref().unwrap();
        for (m, (i, _)) in metas.iter().zip(&want) {
            assert_eq!(
                m.as_ref().unwrap().get("g").map(|v| format!("{v:?}")),
                Some(format!("{:?}", chroma_types::MetadataValue::Int((i % 4) as i64)))
            );
        }
    }
}

#[test]
fn weighted_sum_with_defaults_and_paging() {
    let mut d = setup("search-sum");
    let (q1, q2) = (query(&mut d), query(&mut d));
    let rank = Rank::from(Knn::new(q1.clone()).limit(15).default(10.0)) * 0.7
        + Rank::from(Knn::new(q2.clone()).limit(15).default(10.0)) * 0.3;
    let r = d.col.search([Search::new().rank(rank).offset(4).limit(6).select(["#score"])]).unwrap();
    let a: std::collections::HashMap<usize, f64> = knn(&d, &q1, |_| true, 15).into_iter().collect();
    let b: std::collections::HashMap<usize, f64> = knn(&d, &q2, |_| true, 15).into_iter().collect();
    let mut all: Vec<usize> = a.keys().chain(b.keys()).copied().collect();
    all.sort_unstable();
    all.dedup();
    let want = ranked(
        all.iter()
            .map(|i| (*i, 0.7 * a.get(i).copied().unwrap_or(10.0) + 0.3 * b.get(i).copied().unwrap_or(10.0)))
            .collect(),
    );
    let want = &want[4..10];
    assert_eq!(r.ids[0], want.iter().map(|x| id(x.0)).collect::<Vec<_>>());
    close(r.scores[0].as_ref().unwrap(), &want.iter().map(|x| x.1).collect::<Vec<_>>());
}

#[test]
fn rrf_of_two_knn_lists() {
    let mut d = setup("search-rrf");
    let (q1, q2) = (query(&mut d), query(&mut d));
    let rank = rrf(
        vec![Knn::new(q1.clone()).limit(30).return_rank().into(), Knn::new(q2.clone()).limit(30).return_rank().into()],
        60.0,
        Some(vec![3.0, 1.0]),
        true,
    )
    .unwrap();
    let r = d.col.search([Search::new().rank(rank).limit(10).select(["#score"])]).unwrap();
    let p1: std::collections::HashMap<usize, usize> =
        knn(&d, &q1, |_| true, 30).iter().enumerate().map(|(r, x)| (x.0, r)).collect();
    let p2: std::collections::HashMap<usize, usize> =
        knn(&d, &q2, |_| true, 30).iter().enumerate().map(|(r, x)| (x.0, r)).collect();
    // without defaults a record must be in both lists
    let want = ranked(
        p1.iter()
            .filter_map(|(i, r1)| p2.get(i).map(|r2| (*i, -(0.75 / (60.0 + *r1 as f64) + 0.25 / (60.0 + *r2 as f64)))))
            .collect(),
    );
    let want = &want[..10.min(want.len())];
    assert_eq!(r.ids[0], want.iter().map(|x| id(x.0)).collect::<Vec<_>>());
    close(r.scores[0].as_ref().unwrap(), &want.iter().map(|x| x.1).collect::<Vec<_>>());
}

#[test]
fn group_by_min_k_and_max_k() {
    let mut d = setup("search-group");
    let q = query(&mut d);
    let top = knn(&d, &q, |_| true, 50);
    for (agg, largest) in [(MinK::new(["#score"], 2), false), (MaxK::new(["#score"], 2), true)] {
        let r = d
            .col
            .search([Search::new().rank(Knn::new(q.clone()).limit(50)).group_by(["g"], agg).select(["#score"])])
            .unwrap();
        let mut kept = Vec::new();
        for g in 0..4 {
            let mut members: Vec<(usize, f64)> = top.iter().copied().filter(|x| x.0 % 4 == g).collect();
            if largest {
                members.reverse(); // `top` is ascending by (score, id)
            }
            kept.extend(members.into_iter().take(2));
        }
        let want = ranked(kept);
        assert_eq!(r.ids[0], want.iter().map(|x| id(x.0)).collect::<Vec<_>>(), "largest={largest}");
    }
}

#[test]
fn sparse_knn_and_id_filters() {
    let d = setup("search-sparse");
    let q = SparseVector::new(vec![2, 6], vec![1.0, 2.0], None).unwrap();
    let r = d
        .col
        .search([Search::new()
            .r#where(json!({"$and": [{"#id": {"$nin": [id(2)]}}, {"g": {"$ne": 3}}]}))
            .rank(Knn::sparse("sp", q).limit(8))
            .select(["#score"])])
        .unwrap();
    // reference: inner product over the two indices each record holds
    let ip = |i: usize| -> f64 {
        let mut s = 0.0;
        if i % 5 == 2 {
            s += 1.0 + (i % 7) as f64;
        }
        if 5 + i % 3 == 6 {
            s += 2.0 * 0.5;
        }
        s
    };
    let want = ranked((0..N).filter(|i| *i != 2 && i % 4 != 3 && ip(*i) > 0.0).map(|i| (i, -ip(i))).collect());
    let want = &want[..8];
    assert_eq!(r.ids[0], want.iter().map(|x| id(x.0)).collect::<Vec<_>>());
    close(r.scores[0].as_ref().unwrap(), &want.iter().map(|x| x.1).collect::<Vec<_>>());
}

#[test]
fn bad_searches_are_clear_errors() {
    let d = setup("search-bad");
    let e = d.col.search([Search::new().limit(0)]).unwrap_err();
    assert!(e.to_string().contains("positive"), "{e}");
    let e = d.col.search([Search::new().r#where(json!({"$or": [{"#id": "r001"}, {"g": 1}]}))]).unwrap_err();
    assert!(e.to_string().contains("#id"), "{e}");
    assert!(rrf(vec![], 60.0, None, false).is_err());
    assert!(rrf(vec![Rank::from(1.0)], 60.0, Some(vec![1.0, 2.0]), false).is_err());
    let e = d.col.search([Search::new().rank(Knn::new(vec![1.0; 3]))]).unwrap_err();
    assert!(e.to_string().to_lowercase().contains("dimension"), "{e}");
}
