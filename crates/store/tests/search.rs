//! The Search API against a brute-force reference written here: random records (dense vectors,
//! sparse vectors, metadata), every rank operator, `GroupBy` with `MinK`/`MaxK`, paging and
//! select, under filters matching no record, one record, some and all. The reference computes
//! exact L2 distances and inner products itself and evaluates the rank tree with its own code.

use chroma_store::Engine;
use chroma_types::filter::parse_where;
use chroma_types::search::{
    Aggregate, GroupBy, Knn, KnnQuery, Rank, Search, SearchFilter, SearchRequest, EMBEDDING_KEY,
};
use chroma_types::{
    AddRequest, ChromaApi, CreateCollection, Metadata, MetadataValue, Settings, SparseVector, DEFAULT_DATABASE,
    DEFAULT_TENANT,
};
use serde_json::json;
use std::collections::{HashMap, HashSet};

const N: usize = 300;
const DIM: usize = 8;
const VOCAB: u32 = 40;

/// xorshift64*: deterministic data without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn sparse(&mut self) -> SparseVector {
        let mut idx: Vec<u32> = (0..=self.next() % 5).map(|_| (self.next() % u64::from(VOCAB)) as u32).collect();
        idx.sort_unstable();
        idx.dedup();
        let vals = idx.iter().map(|_| 0.1 + self.unit()).collect();
        SparseVector::new(idx, vals, None).unwrap()
    }
}

/// Which records a filter lets through, by the reference's own reading.
type Pred = Box<dyn Fn(&Rec) -> bool>;

struct Rec {
    id: String,
    emb: Vec<f32>,
    sp: SparseVector,
    g: i64,
    p: f64,
}

fn setup() -> (Engine, uuid::Uuid, Vec<Rec>) {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    let md: Metadata = [("hnsw:search_ef".to_string(), MetadataValue::Int(400))].into();
    let c =
        e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("search").metadata(md)).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let recs: Vec<Rec> = (0..N)
        .map(|i| Rec {
            id: format!("r{i:03}"),
            emb: (0..DIM).map(|_| rng.unit()).collect(),
            sp: rng.sparse(),
            g: (rng.next() % 5) as i64,
            p: f64::from(rng.unit()),
        })
        .collect();
    let req =
        AddRequest::new(recs.iter().map(|r| r.id.clone()).collect(), recs.iter().map(|r| r.emb.clone()).collect())
            .documents(recs.iter().map(|r| Some(format!("doc {}", r.id))).collect())
            .metadatas(
                recs.iter()
                    .map(|r| {
                        Some(Metadata::from([
                            ("g".to_string(), MetadataValue::Int(r.g)),
                            ("p".to_string(), MetadataValue::Float(r.p)),
                            ("sp".to_string(), MetadataValue::Sparse(Box::new(r.sp.clone()))),
                        ]))
                    })
                    .collect(),
            );
    e.add(c.id, req).unwrap();
    (e, c.id, recs)
}

// ---- the reference ----

fn l2(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(x, y)| f64::from(x - y) * f64::from(x - y)).sum()
}

fn ip(a: &SparseVector, b: &SparseVector) -> f64 {
    let m: HashMap<u32, f32> = a.indices.iter().copied().zip(a.values.iter().copied()).collect();
    b.indices.iter().zip(&b.values).filter_map(|(i, v)| m.get(i).map(|x| f64::from(x * v))).sum()
}

/// A Knn's list by brute force: (id, distance) nearest first.
fn ref_knn(k: &Knn, recs: &[&Rec]) -> Vec<(String, f64)> {
    let mut all: Vec<(String, f64)> = match &k.query {
        KnnQuery::Dense(q) => recs.iter().map(|r| (r.id.clone(), l2(q, &r.emb))).collect(),
        KnnQuery::Sparse(q) => recs
            .iter()
            .filter(|r| r.sp.indices.iter().any(|i| q.indices.contains(i)))
            .map(|r| (r.id.clone(), -ip(q, &r.sp)))
            .collect(),
    };
    all.sort_by(|a, b| a.1.total_cmp(&b.1));
    all.truncate(k.limit);
    all
}

fn ref_eval(r: &Rank, id: &str, lists: &mut std::slice::Iter<'_, (Knn, Vec<(String, f64)>)>) -> Option<f64> {
    let many = |v: &[Rank], lists: &mut std::slice::Iter<'_, (Knn, Vec<(String, f64)>)>| -> Vec<Option<f64>> {
        v.iter().map(|x| ref_eval(x, id, lists)).collect()
    };
    match r {
        Rank::Knn(_) => {
            let (k, l) = lists.next().unwrap();
            match l.iter().position(|(x, _)| x == id) {
                Some(pos) => Some(if k.return_rank { pos as f64 } else { l[pos].1 }),
                None => k.default,
            }
        }
        Rank::Val(v) => Some(*v),
        Rank::Sum(v) => many(v, lists).into_iter().sum(),
        Rank::Mul(v) => many(v, lists).into_iter().product(),
        Rank::Max(v) => many(v, lists).into_iter().try_fold(f64::MIN, |a, x| x.map(|x| a.max(x))),
        Rank::Min(v) => many(v, lists).into_iter().try_fold(f64::MAX, |a, x| x.map(|x| a.min(x))),
        Rank::Sub(a, b) => {
            let (a, b) = (ref_eval(a, id, lists), ref_eval(b, id, lists));
            Some(a? - b?)
        }
        Rank::Div(a, b) => {
            let (a, b) = (ref_eval(a, id, lists), ref_eval(b, id, lists));
            Some(a? / b?)
        }
        Rank::Abs(a) => ref_eval(a, id, lists).map(f64::abs),
        Rank::Exp(a) => ref_eval(a, id, lists).map(f64::exp),
        Rank::Log(a) => ref_eval(a, id, lists).map(f64::ln),
    }
}

fn knns_of(r: &Rank) -> Vec<Knn> {
    r.knns().into_iter().cloned().collect()
}

/// The whole search by brute force: (id, score) in answer order.
fn reference(recs: &[Rec], allowed: &dyn Fn(&Rec) -> bool, s: &Search) -> Vec<(String, f64)> {
    let pool: Vec<&Rec> = recs.iter().filter(|r| allowed(r)).collect();
    let rank = s.rank.as_ref().unwrap();
    let lists: Vec<(Knn, Vec<(String, f64)>)> = knns_of(rank)
        .into_iter()
        .map(|k| {
            let l = ref_knn(&k, &pool);
            (k, l)
        })
        .collect();
    let mut cands: Vec<String> = lists.iter().flat_map(|(_, l)| l.iter().map(|(id, _)| id.clone())).collect();
    let mut seen = HashSet::new();
    cands.retain(|c| seen.insert(c.clone()));
    let mut scored: Vec<(String, f64)> =
        cands.into_iter().filter_map(|id| ref_eval(rank, &id, &mut lists.iter()).map(|s| (id, s))).collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    if let Some(g) = &s.group_by {
        let by_id: HashMap<&str, &Rec> = recs.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut groups: HashMap<i64, Vec<(String, f64)>> = HashMap::new();
        for x in scored {
            groups.entry(by_id[x.0.as_str()].g).or_default().push(x);
        }
        scored = Vec::new();
        for (_, mut m) in groups {
            let key = |x: &(String, f64)| if g.aggregate.keys[0] == "#score" { x.1 } else { by_id[x.0.as_str()].p };
            m.sort_by(|a, b| {
                let o = key(a).total_cmp(&key(b));
                (if g.aggregate.max { o.reverse() } else { o }).then(a.1.total_cmp(&b.1)).then(a.0.cmp(&b.0))
            });
            m.truncate(g.aggregate.k);
            scored.extend(m);
        }
        scored.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    }
    scored.into_iter().skip(s.offset).take(s.limit.unwrap_or(usize::MAX)).collect()
}

// ---- the rank expressions ----

fn dense(q: &[f32], limit: usize, default: Option<f64>, return_rank: bool) -> Rank {
    Rank::Knn(Knn { query: KnnQuery::Dense(q.to_vec()), key: EMBEDDING_KEY.into(), limit, default, return_rank })
}

fn sparse(q: &SparseVector, limit: usize, default: Option<f64>, return_rank: bool) -> Rank {
    Rank::Knn(Knn { query: KnnQuery::Sparse(q.clone()), key: "sp".into(), limit, default, return_rank })
}

#[allow(clippy::unnecessary_box_returns)] // the operands of Rank::Sub/Div/... are boxed
fn b(r: Rank) -> Box<Rank> {
    Box::new(r)
}

/// Rrf as the clients expand it: -(sum of w / (k + rank)).
fn rrf(ranks: Vec<Rank>, k: f64, w: &[f64]) -> Rank {
    let terms: Vec<Rank> = ranks
        .into_iter()
        .zip(w)
        .map(|(r, w)| Rank::Div(b(Rank::Val(*w)), b(Rank::Sum(vec![Rank::Val(k), r]))))
        .collect();
    Rank::Mul(vec![Rank::Val(-1.0), Rank::Sum(terms)])
}

fn expressions(q: &[f32], sq: &SparseVector) -> Vec<(&'static str, Rank)> {
    vec![
        ("knn", dense(q, 10, None, false)),
        ("knn rank", dense(q, 7, None, true)),
        ("sparse", sparse(sq, 10, None, false)),
        ("sparse rank", sparse(sq, 5, None, true)),
        ("rrf", rrf(vec![dense(q, 20, Some(1000.0), true), sparse(sq, 20, Some(1000.0), true)], 60.0, &[1.0, 1.0])),
        (
            "rrf weighted",
            rrf(vec![dense(q, 15, Some(50.0), true), sparse(sq, 15, Some(50.0), true)], 10.0, &[0.7, 0.3]),
        ),
        ("sum no default", Rank::Sum(vec![dense(q, 30, None, false), sparse(sq, 30, None, false)])),
        ("sub", Rank::Sub(b(dense(q, 12, Some(3.0), false)), b(sparse(sq, 12, Some(0.0), false)))),
        ("mul", Rank::Mul(vec![dense(q, 10, None, false), Rank::Val(0.5), Rank::Val(-2.0)])),
        ("div", Rank::Div(b(dense(q, 10, None, false)), b(Rank::Val(4.0)))),
        ("abs", Rank::Abs(b(sparse(sq, 10, None, false)))),
        ("exp", Rank::Exp(b(dense(q, 10, None, false)))),
        ("log", Rank::Log(b(Rank::Sum(vec![Rank::Val(1.0), dense(q, 10, None, false)])))),
        ("min", Rank::Min(vec![dense(q, 10, Some(9.0), false), Rank::Val(0.4)])),
        ("max", Rank::Max(vec![dense(q, 10, Some(9.0), false), sparse(sq, 10, Some(-0.5), false)])),
    ]
}

#[test]
fn every_rank_expression_and_group_by_matches_brute_force() {
    let (e, cid, recs) = setup();
    let mut rng = Rng(42);
    let one = recs[17].id.clone();
    let filters: Vec<(&str, SearchFilter, Pred)> = vec![
        ("none", SearchFilter::default(), Box::new(|_| true)),
        (
            "all",
            SearchFilter {
                r#where: parse_where(Some(&json!({"p": {"$gte": 0.0}}))).unwrap(),
                ..SearchFilter::default()
            },
            Box::new(|_| true),
        ),
        (
            "some",
            SearchFilter {
                r#where: parse_where(Some(&json!({"g": {"$in": [1, 3]}}))).unwrap(),
                ..SearchFilter::default()
            },
            Box::new(|r| r.g == 1 || r.g == 3),
        ),
        (
            "one",
            SearchFilter { ids: Some(vec![one.clone(), "missing".into(), one.clone()]), ..SearchFilter::default() },
            Box::new(move |r| r.id == one),
        ),
        (
            "excluded",
            SearchFilter {
                exclude_ids: recs.iter().filter(|r| r.g == 0).map(|r| r.id.clone()).collect(),
                ..SearchFilter::default()
            },
            Box::new(|r| r.g != 0),
        ),
        ("empty id list", SearchFilter { ids: Some(Vec::new()), ..SearchFilter::default() }, Box::new(|_| false)),
        (
            "zero",
            SearchFilter { r#where: parse_where(Some(&json!({"g": 99}))).unwrap(), ..SearchFilter::default() },
            Box::new(|_| false),
        ),
    ];
    let groupings = [
        None,
        Some(GroupBy {
            keys: vec!["g".into()],
            aggregate: Aggregate { max: false, keys: vec!["#score".into()], k: 2 },
        }),
        Some(GroupBy { keys: vec!["g".into()], aggregate: Aggregate { max: true, keys: vec!["p".into()], k: 1 } }),
    ];
    let mut checked = 0;
    for round in 0..3 {
        let q: Vec<f32> = (0..DIM).map(|_| rng.unit()).collect();
        let sq = rng.sparse();
        for (fname, filter, pred) in &filters {
            for (ename, rank) in expressions(&q, &sq) {
                for (gi, group_by) in groupings.iter().enumerate() {
                    let (offset, limit) = if round == 1 { (2, Some(5)) } else { (0, None) };
                    let s = Search {
                        filter: filter.clone(),
                        rank: Some(rank.clone()),
                        group_by: group_by.clone(),
                        offset,
                        limit,
                        select: vec!["#score".into(), "#document".into(), "g".into()],
                    };
                    let want = reference(&recs, pred.as_ref(), &s);
                    let got = e.search(cid, SearchRequest { searches: vec![s], ..SearchRequest::default() }).unwrap();
                    let what = format!("round {round}, filter {fname}, {ename}, grouping {gi}");
                    let ids: Vec<&str> = want.iter().map(|(id, _)| id.as_str()).collect();
                    assert_eq!(got.ids[0], ids, "{what}");
                    let scores = got.scores[0].as_ref().unwrap();
                    for ((_, w), g) in want.iter().zip(scores) {
                        let g = g.unwrap();
                        assert!((w - g).abs() <= 1e-4 * (1.0 + w.abs()), "{what}: score {g} != {w}");
                    }
                    let docs = got.documents[0].as_ref().unwrap();
                    for (id, d) in got.ids[0].iter().zip(docs) {
                        assert_eq!(d.as_deref(), Some(format!("doc {id}").as_str()), "{what}");
                    }
                    // Only the selected metadata key comes back.
                    for m in got.metadatas[0].as_ref().unwrap() {
                        assert_eq!(m.as_ref().unwrap().keys().collect::<Vec<_>>(), vec!["g"], "{what}");
                    }
                    if fname.contains("zero") || fname.contains("empty") {
                        assert!(got.ids[0].is_empty());
                    }
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 3 * 7 * 15 * 3);
}

#[test]
fn no_rank_pages_the_filtered_records_and_sparse_values_round_trip() {
    let (e, cid, recs) = setup();
    let s = Search {
        filter: SearchFilter { r#where: parse_where(Some(&json!({"g": 2}))).unwrap(), ..SearchFilter::default() },
        offset: 1,
        limit: Some(3),
        select: vec!["#metadata".into(), "#embedding".into(), "#score".into()],
        ..Search::default()
    };
    let batch = SearchRequest {
        searches: vec![s.clone(), Search { limit: Some(2), ..Search::default() }],
        ..SearchRequest::default()
    };
    let got = e.search(cid, batch).unwrap();
    let want: Vec<&Rec> = recs.iter().filter(|r| r.g == 2).skip(1).take(3).collect();
    assert_eq!(got.ids[0], want.iter().map(|r| r.id.clone()).collect::<Vec<_>>());
    assert_eq!(got.ids[1], vec!["r000", "r001"]);
    assert!(got.scores[0].as_ref().unwrap().iter().all(Option::is_none));
    assert!(got.documents[0].is_none() && got.metadatas[1].is_none());
    for (r, (m, emb)) in
        want.iter().zip(got.metadatas[0].as_ref().unwrap().iter().zip(got.embeddings[0].as_ref().unwrap()))
    {
        assert_eq!(m.as_ref().unwrap()["sp"], MetadataValue::Sparse(Box::new(r.sp.clone())));
        assert_eq!(emb.as_ref().unwrap(), &r.emb);
    }
    assert_eq!(got.select[0], vec!["#metadata", "#embedding", "#score"]);
}

#[test]
fn sparse_index_follows_writes() {
    let (e, cid, recs) = setup();
    let q = recs[5].sp.clone();
    let run = |e: &Engine| {
        let s = Search { rank: Some(sparse(&q, 3, None, false)), ..Search::default() };
        e.search(cid, SearchRequest { searches: vec![s], ..SearchRequest::default() }).unwrap().ids.remove(0)
    };
    assert!(run(&e).contains(&recs[5].id) || !run(&e).is_empty());
    // A new record holding the query scaled up must come first at once.
    let big = SparseVector::new(q.indices.clone(), q.values.iter().map(|v| v * 100.0).collect(), None).unwrap();
    let md = Metadata::from([("sp".to_string(), MetadataValue::Sparse(Box::new(big)))]);
    e.add(cid, AddRequest::new(vec!["new".into()], vec![vec![0.5; DIM]]).metadatas(vec![Some(md)])).unwrap();
    assert_eq!(run(&e)[0], "new");
    e.delete(cid, chroma_types::DeleteRequest { ids: Some(vec!["new".into()]), ..Default::default() }).unwrap();
    assert!(!run(&e).contains(&"new".to_string()));
}

#[test]
fn bad_sparse_metadata_is_refused_whole() {
    let (e, cid, _) = setup();
    let bad =
        serde_json::from_value::<MetadataValue>(json!({"#type": "sparse_vector", "indices": [3, 1], "values": [1, 2]}));
    assert!(bad.is_err());
    // A dense query of the wrong dimension is the query path's clear error.
    let s = Search { rank: Some(dense(&[1.0, 2.0], 3, None, false)), ..Search::default() };
    let err = e.search(cid, SearchRequest { searches: vec![s], ..SearchRequest::default() }).unwrap_err();
    assert!(err.message.contains("dimension"), "{}", err.message);
    assert_eq!(e.count(cid).unwrap(), N);
}

#[test]
fn equal_scores_rank_in_id_order_in_every_knn_list() {
    // Records added out of id order with the same sparse vector and the same embedding: a Knn
    // list orders equal scores by id, so a `return_rank` position is where the same Knn
    // searched alone shows the record.
    let e = Engine::ephemeral(Settings::default()).unwrap();
    let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("ties")).unwrap();
    let sv = SparseVector::new(vec![3, 7], vec![1.0, 2.0], None).unwrap();
    let ids: Vec<String> = ["d", "b", "e", "a", "c"].iter().map(|s| (*s).to_string()).collect();
    let md = Metadata::from([("sp".to_string(), MetadataValue::Sparse(Box::new(sv.clone())))]);
    e.add(c.id, AddRequest::new(ids.clone(), vec![vec![0.25, 0.5]; 5]).metadatas(vec![Some(md); 5])).unwrap();
    // Sparse: the limit keeps the lowest ids. Dense: the index keeps the first added of equal
    // distances (its slot order), then they rank in id order.
    for (rank, want) in
        [(sparse(&sv, 3, None, true), ["a", "b", "c"]), (dense(&[0.0, 0.0], 3, None, true), ["b", "d", "e"])]
    {
        let s = Search { rank: Some(rank), select: vec!["#score".into()], ..Search::default() };
        let got = e.search(c.id, SearchRequest { searches: vec![s], ..SearchRequest::default() }).unwrap();
        assert_eq!(got.ids[0], want);
        assert_eq!(got.scores[0], Some(vec![Some(0.0), Some(1.0), Some(2.0)]));
    }
}

/// The sparse index kept up by writes: random adds, upserts, updates (with and without a new
/// sparse value, removing the key, leaving metadata alone) and deletes (by id and by `where`),
/// a compaction and a fork along the way, interleaved with sparse searches (filtered or not),
/// each compared with a brute force over a model of the records: same ids, same order (equal
/// scores by id), same scores.
#[test]
fn sparse_index_kept_up_by_every_write_matches_brute_force() {
    use chroma_types::{DeleteRequest, UpdateRequest};
    use std::collections::BTreeMap;
    let e = Engine::ephemeral(Settings::default()).unwrap();
    let mut cid = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("upkeep")).unwrap().id;
    let mut rng = Rng(0x51ed_270b_27c3_a2e1);
    // Few terms and values so lists are long and scores often tie.
    let vector = |rng: &mut Rng| {
        let mut idx: Vec<u32> = (0..=rng.next() % 4).map(|_| (rng.next() % 12) as u32).collect();
        idx.sort_unstable();
        idx.dedup();
        let vals = idx.iter().map(|_| [0.5f32, 1.0, 2.0, -1.0][(rng.next() % 4) as usize]).collect();
        SparseVector::new(idx, vals, None).unwrap()
    };
    // id -> (sparse value, g)
    let mut model: BTreeMap<String, (Option<SparseVector>, i64)> = BTreeMap::new();
    let md_of = |sp: &Option<SparseVector>, g: i64| {
        let mut m = Metadata::from([("g".to_string(), MetadataValue::Int(g))]);
        if let Some(s) = sp {
            m.insert("sp".into(), MetadataValue::Sparse(Box::new(s.clone())));
        }
        m
    };
    for step in 0..600u32 {
        let mut ids: Vec<String> = (0..=rng.next() % 3).map(|_| format!("k{:03}", rng.next() % 90)).collect();
        ids.sort();
        ids.dedup();
        let n = ids.len();
        match rng.next() % 10 {
            op @ 0..=4 => {
                // add (existing ids skipped) or upsert (merged into existing metadata)
                let upsert = op >= 3;
                let news: Vec<(Option<SparseVector>, i64)> = (0..n)
                    .map(|_| ((!rng.next().is_multiple_of(5)).then(|| vector(&mut rng)), (rng.next() % 4) as i64))
                    .collect();
                let req = AddRequest::new(ids.clone(), vec![vec![0.5, 0.5]; n])
                    .metadatas(news.iter().map(|(s, g)| Some(md_of(s, *g))).collect());
                if upsert {
                    e.upsert(cid, req).unwrap();
                } else {
                    e.add(cid, req).unwrap();
                }
                for (id, (s, g)) in ids.iter().zip(news) {
                    match model.get_mut(id) {
                        None => {
                            model.insert(id.clone(), (s, g));
                        }
                        Some(old) if upsert => {
                            // Merge: a missing key keeps the stored value.
                            old.1 = g;
                            if s.is_some() {
                                old.0 = s;
                            }
                        }
                        Some(_) => {}
                    }
                }
            }
            5 | 6 => {
                // update: a new value, or the key removed (a None value), or no metadata at all
                let kind = rng.next() % 3;
                let mds: Vec<Option<chroma_types::metadata::UpdateMetadata>> = (0..n)
                    .map(|_| match kind {
                        0 => Some([("sp".to_string(), Some(MetadataValue::Sparse(Box::new(vector(&mut rng)))))].into()),
                        1 => Some([("sp".to_string(), None)].into()),
                        _ => None,
                    })
                    .collect();
                let req = UpdateRequest {
                    ids: ids.clone(),
                    embeddings: Some(vec![Some(vec![0.25, 0.75]); n]),
                    metadatas: Some(mds.clone()),
                    ..UpdateRequest::default()
                };
                e.update(cid, req).unwrap();
                for (id, md) in ids.iter().zip(mds) {
                    if let (Some(rec), Some(md)) = (model.get_mut(id), md) {
                        rec.0 = match md.get("sp") {
                            Some(Some(MetadataValue::Sparse(s))) => Some((**s).clone()),
                            _ => None,
                        };
                    }
                }
            }
            7 | 8 => {
                e.delete(cid, DeleteRequest { ids: Some(ids.clone()), ..DeleteRequest::default() }).unwrap();
                for id in &ids {
                    model.remove(id);
                }
            }
            _ => {
                let g = (rng.next() % 4) as i64;
                let w = parse_where(Some(&json!({"g": g}))).unwrap();
                e.delete(cid, DeleteRequest { r#where: w, ..DeleteRequest::default() }).unwrap();
                model.retain(|_, (_, rg)| *rg != g);
            }
        }
        if step == 200 {
            e.compact_collection(cid).unwrap();
        }
        if step == 400 {
            let fork = e.fork_collection(cid, "upkeep-fork").unwrap();
            e.delete(cid, DeleteRequest { ids: Some(model.keys().cloned().collect()), ..DeleteRequest::default() })
                .unwrap();
            cid = fork.id;
        }
        // A search after every write.
        let q = vector(&mut rng);
        let limit = [1, 3, 10, 200][(rng.next() % 4) as usize];
        let filtered = rng.next().is_multiple_of(3);
        let mut want: Vec<(String, f64)> = model
            .iter()
            .filter(|(_, (_, g))| !filtered || *g >= 2)
            .filter_map(|(id, (s, _))| {
                let s = s.as_ref()?;
                let mut score = 0.0f32;
                let mut any = false;
                for (i, w) in q.indices.iter().zip(&q.values) {
                    if let Some(p) = s.indices.iter().position(|x| x == i) {
                        score += w * s.values[p];
                        any = true;
                    }
                }
                any.then(|| (id.clone(), -f64::from(score)))
            })
            .collect();
        want.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        want.truncate(limit);
        let filter = SearchFilter {
            r#where: if filtered { parse_where(Some(&json!({"g": {"$gte": 2}}))).unwrap() } else { None },
            ..SearchFilter::default()
        };
        let s = Search {
            filter,
            rank: Some(sparse(&q, limit, None, false)),
            select: vec!["#score".into()],
            ..Search::default()
        };
        let got = e.search(cid, SearchRequest { searches: vec![s], ..SearchRequest::default() }).unwrap();
        let got: Vec<(String, f64)> =
            got.ids[0].iter().cloned().zip(got.scores[0].clone().unwrap().into_iter().map(Option::unwrap)).collect();
        assert_eq!(got, want, "step {step}");
    }
    // Built once, on the first search: every write, the compaction and the fork kept it.
    assert_eq!(e.sparse_index_builds(), 1);
}

/// A dense `Knn` inside a search runs the graph search at `ef` of at least 4 x its `limit`
/// (`docs/search.md`): on a sparse graph (M 4) with a low `ef_search` (10), its lists are much
/// closer to the exact nearest records than `query`'s at the same depth, which searches at
/// `ef` = `n_results`.
#[test]
fn dense_knn_lists_search_deeper_than_query() {
    let e = Engine::ephemeral(Settings::default()).unwrap();
    let md: Metadata =
        [("hnsw:search_ef".to_string(), MetadataValue::Int(10)), ("hnsw:M".to_string(), MetadataValue::Int(4))].into();
    let c = e.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, CreateCollection::new("deep").metadata(md)).unwrap();
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let (n, dim, limit) = (3000, 16, 20);
    let vecs: Vec<Vec<f32>> = (0..n).map(|_| (0..dim).map(|_| rng.unit()).collect()).collect();
    let ids: Vec<String> = (0..n).map(|i| format!("v{i:05}")).collect();
    // Batches small enough to be linked by the write itself (a larger one is linked in the
    // background and searched exactly until then).
    for (i, v) in ids.chunks(1000).zip(vecs.chunks(1000)) {
        e.add(c.id, AddRequest::new(i.to_vec(), v.to_vec())).unwrap();
    }
    let (mut by_search, mut by_query, mut total) = (0usize, 0usize, 0usize);
    for _ in 0..30 {
        let q: Vec<f32> = (0..dim).map(|_| rng.unit()).collect();
        let mut exact: Vec<(f64, &String)> = vecs.iter().zip(&ids).map(|(v, id)| (l2(&q, v), id)).collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        let exact: HashSet<&String> = exact.iter().take(limit).map(|x| x.1).collect();
        let s = Search { rank: Some(dense(&q, limit, None, false)), ..Search::default() };
        let got = e.search(c.id, SearchRequest { searches: vec![s], ..SearchRequest::default() }).unwrap();
        by_search += got.ids[0].iter().filter(|id| exact.contains(id)).count();
        let got = e.query(c.id, chroma_types::QueryRequest::new(vec![q], limit)).unwrap();
        by_query += got.ids[0].iter().filter(|id| exact.contains(id)).count();
        total += limit;
    }
    let (rs, rq) = (by_search as f64 / total as f64, by_query as f64 / total as f64);
    // Measured: 0.91 against 0.585.
    assert!(rs >= 0.8 && rs > rq + 0.15, "recall of Knn lists {rs}, of query {rq}");
}
