//! Model-based property test of the storage engine.
//!
//! Random small collections and random operation sequences (add, upsert, update with
//! null-deleting metadata keys, delete by ids / `where` / `where_document`, failing writes, and a
//! reopen of the persistent folder) are applied to the ephemeral engine, the persistent engine
//! (in a temporary folder) and a reference model written here in plain Rust (a `Vec` of
//! records in insertion order, filters evaluated directly following the spec's section 3).
//! After every operation a random probe compares `get` (random ids / `where` / `where_document` /
//! limit / offset, 1.x or 0.4.x dialect), `count` and `query` (exact: the model's brute-force
//! top-k among the matching records; distance ties allowed) between the engines and the model.
//!
//! One file of about 1,000 lines on purpose: the model, the operation generators and the
//! probes are one property test, read top to bottom.
//!
//! Collections stay far below the index's brute-force threshold (1024 candidates), so queries
//! are exact. `PROPTEST_CASES` raises the number of cases (default 64).
//!
//! Semantics the model encodes (engine choices where the spec leaves room):
//! * `$eq/$ne/$gt/...` compare scalars only: strings with strings, booleans with booleans,
//!   ints and floats numerically with each other; an array value never matches them.
//! * 1.x: `$ne` / `$nin` match records that lack the key (or have another type);
//!   0.4.x: only records with a value of the operand's type.
//! * `$contains` / `$not_contains` in `where` test membership in array values only;
//!   `$not_contains` is the exact negation in both dialects.
//! * `where_document`: case-sensitive substring / regex; `$not_contains` / `$not_regex` match
//!   records without a document in 1.x, not in 0.4.x.
//! * `get` returns insertion order (1.x) or id order (0.4.x); update/upsert keep a record's
//!   place; an explicit null document/uri/metadata in an update keeps the stored value.

mod support;

use chroma_store::Engine;
use chroma_types::filter::{parse_where, parse_where_document, Cmp, Scalar};
use chroma_types::*;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use std::collections::{BTreeMap, HashSet};

// ---------------------------------------------------------------------------------------------
// Vocabulary

const IDS: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "9", "10", "sp ace", "qu'o\"te", "ünï", "a%_"];
const KEYS: &[&str] = &["s", "i", "f", "b", "m", "a"];
const FILTER_KEYS: &[&str] = &["s", "i", "f", "b", "m", "a", "nokey"];
const STRS: &[&str] = &["x", "y", "", "X", "x y"];
const FLOATS: &[f64] = &[-1.5, 0.0, 0.5, 2.0, 3.25];
const DOCS: &[&str] = &[
    "hello world",
    "Hello World",
    "foo bar",
    "bar foo baz",
    "café au lait",
    "a",
    "",
    "100% pure",
    "say \"hi\"",
    "ab ab ab",
    "xyz",
];
const NEEDLES: &[&str] =
    &["", "o", "ab", "é", "afé", "HELLO", "hello", "%", "\"hi\"", "o w", "zzz", "bar f", "foo", "ab ab"];
const REGEXES: &[&str] = &["^a", "b.r", "[0-9]", "d$", "(?i)hello", "é", "^$", "o w|xyz", ".", "^[^ ]+$"];
const URIS: &[&str] = &["s3://x", "file:///y", ""];

// ---------------------------------------------------------------------------------------------
// Generated operations

#[derive(Clone, Debug)]
struct Row {
    id: String,
    emb: Vec<f32>,
    doc: Option<String>,
    uri: Option<String>,
    md: Option<UpdateMetadata>,
}

#[derive(Clone, Debug)]
struct Batch {
    rows: Vec<Row>,
    with_docs: bool,
    with_uris: bool,
    with_mds: bool,
}

#[derive(Clone, Debug)]
struct URow {
    id: String,
    emb: Option<Vec<f32>>,
    doc: Option<String>,
    uri: Option<String>,
    md: Option<UpdateMetadata>,
}

/// An update batch: which columns it carries.
#[allow(clippy::struct_excessive_bools)] // one flag per optional request column
#[derive(Clone, Debug)]
struct UBatch {
    rows: Vec<URow>,
    with_embs: bool,
    with_docs: bool,
    with_uris: bool,
    with_mds: bool,
}

#[derive(Clone, Debug)]
struct Selection {
    ids: Option<Vec<String>>,
    w: Option<Where>,
    wd: Option<WhereDocument>,
    v04: bool,
}

impl Selection {
    fn dialect(&self) -> Dialect {
        if self.v04 {
            Dialect::V04
        } else {
            Dialect::V1
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Add(Batch),
    Upsert(Batch),
    Update(UBatch),
    Delete(Selection),
    /// An add whose first embedding has the wrong dimension: refused, nothing changes.
    BadDimension(Batch),
    /// An add with the same id twice: refused, nothing changes.
    DuplicateIds(Batch),
    /// Drops the persistent engine and opens the folder again.
    Reopen,
}

#[derive(Clone, Debug)]
struct Probe {
    sel: Selection,
    limit: Option<usize>,
    offset: Option<usize>,
    queries: Vec<Vec<f32>>,
    n_results: usize,
}

#[derive(Clone, Debug)]
struct Case {
    dim: usize,
    space: Space,
    first: Batch,
    steps: Vec<(Op, Probe)>,
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn s_str() -> impl Strategy<Value = String> {
    prop::sample::select(STRS).prop_map(str::to_string)
}
fn s_int() -> impl Strategy<Value = i64> {
    -2i64..=3
}
fn s_float() -> impl Strategy<Value = f64> {
    prop::sample::select(FLOATS)
}

fn scalar_value() -> BoxedStrategy<MetadataValue> {
    prop_oneof![
        s_str().prop_map(MetadataValue::Str),
        s_int().prop_map(MetadataValue::Int),
        s_float().prop_map(MetadataValue::Float),
        any::<bool>().prop_map(MetadataValue::Bool),
    ]
    .boxed()
}

fn array_value() -> BoxedStrategy<MetadataValue> {
    prop_oneof![
        prop::collection::vec(s_str(), 1..4).prop_map(MetadataValue::StrArray),
        prop::collection::vec(s_int(), 1..4).prop_map(MetadataValue::IntArray),
        prop::collection::vec(s_float(), 1..4).prop_map(MetadataValue::FloatArray),
        prop::collection::vec(any::<bool>(), 1..3).prop_map(MetadataValue::BoolArray),
    ]
    .boxed()
}

fn value_for(key: &str) -> BoxedStrategy<MetadataValue> {
    match key {
        "s" => s_str().prop_map(MetadataValue::Str).boxed(),
        "i" => s_int().prop_map(MetadataValue::Int).boxed(),
        "f" => s_float().prop_map(MetadataValue::Float).boxed(),
        "b" => any::<bool>().prop_map(MetadataValue::Bool).boxed(),
        "a" => array_value(),
        _ => prop_oneof![3 => scalar_value(), 1 => array_value()].boxed(),
    }
}

/// Update metadata: up to 4 keys, a quarter of them null (delete the key).
fn update_metadata() -> BoxedStrategy<UpdateMetadata> {
    let entry = prop::sample::select(KEYS).prop_flat_map(|k| {
        prop_oneof![3 => value_for(k).prop_map(Some), 1 => Just(None)].prop_map(move |v| (k.to_string(), v))
    });
    prop::collection::vec(entry, 0..5).prop_map(|v| v.into_iter().collect()).boxed()
}

fn embedding(dim: usize) -> BoxedStrategy<Vec<f32>> {
    let comp = prop_oneof![4 => (-2i32..=2).prop_map(|x| x as f32), 1 => Just(0.5f32), 1 => Just(-0.25f32)];
    prop::collection::vec(comp, dim).boxed()
}

fn s_id() -> impl Strategy<Value = String> {
    prop::sample::select(IDS).prop_map(str::to_string)
}

fn opt_doc() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.75, prop::sample::select(DOCS).prop_map(str::to_string))
}

fn opt_uri() -> impl Strategy<Value = Option<String>> {
    prop::option::weighted(0.5, prop::sample::select(URIS).prop_map(str::to_string))
}

fn dedup_by_id<T>(rows: Vec<T>, id: impl Fn(&T) -> &str) -> Vec<T> {
    let mut seen = HashSet::new();
    rows.into_iter().filter(|r| seen.insert(id(r).to_string())).collect()
}

fn batch(dim: usize) -> BoxedStrategy<Batch> {
    let row = (s_id(), embedding(dim), opt_doc(), opt_uri(), prop::option::weighted(0.8, update_metadata()))
        .prop_map(|(id, emb, doc, uri, md)| Row { id, emb, doc, uri, md });
    (prop::collection::vec(row, 1..6), prop::bool::weighted(0.8), prop::bool::weighted(0.3), prop::bool::weighted(0.8))
        .prop_map(|(rows, with_docs, with_uris, with_mds)| Batch {
            rows: dedup_by_id(rows, |r| &r.id),
            with_docs,
            with_uris,
            with_mds,
        })
        .boxed()
}

fn ubatch(dim: usize) -> BoxedStrategy<UBatch> {
    let row = (
        s_id(),
        prop::option::weighted(0.7, embedding(dim)),
        opt_doc(),
        opt_uri(),
        prop::option::weighted(0.8, update_metadata()),
    )
        .prop_map(|(id, emb, doc, uri, md)| URow { id, emb, doc, uri, md });
    (
        prop::collection::vec(row, 1..5),
        prop::bool::weighted(0.5),
        prop::bool::weighted(0.6),
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(rows, with_embs, with_docs, with_uris, with_mds)| UBatch {
            rows: dedup_by_id(rows, |r| &r.id),
            with_embs,
            with_docs,
            with_uris,
            with_mds,
        })
        .boxed()
}

fn scalar() -> BoxedStrategy<Scalar> {
    prop_oneof![
        s_str().prop_map(Scalar::Str),
        s_int().prop_map(Scalar::Int),
        s_float().prop_map(Scalar::Float),
        any::<bool>().prop_map(Scalar::Bool),
    ]
    .boxed()
}

fn numeric() -> BoxedStrategy<Scalar> {
    prop_oneof![s_int().prop_map(Scalar::Int), s_float().prop_map(Scalar::Float)].boxed()
}

fn in_values() -> BoxedStrategy<Vec<Scalar>> {
    prop_oneof![
        prop::collection::vec(s_str().prop_map(Scalar::Str), 1..4),
        prop::collection::vec(numeric(), 1..4),
        prop::collection::vec(any::<bool>().prop_map(Scalar::Bool), 1..3),
    ]
    .boxed()
}

/// Operands mostly of the type the key holds (so filters select something), sometimes any.
fn operand_for(key: &str) -> BoxedStrategy<Scalar> {
    let typed = match key {
        "s" => s_str().prop_map(Scalar::Str).boxed(),
        "i" | "f" => numeric(),
        "b" => any::<bool>().prop_map(Scalar::Bool).boxed(),
        _ => scalar(),
    };
    prop_oneof![3 => typed, 1 => scalar()].boxed()
}

fn in_values_for(key: &str) -> BoxedStrategy<Vec<Scalar>> {
    let typed = match key {
        "s" => prop::collection::vec(s_str().prop_map(Scalar::Str), 1..4).boxed(),
        "i" | "f" => prop::collection::vec(numeric(), 1..4).boxed(),
        "b" => prop::collection::vec(any::<bool>().prop_map(Scalar::Bool), 1..3).boxed(),
        _ => in_values(),
    };
    prop_oneof![3 => typed, 1 => in_values()].boxed()
}

fn where_leaf() -> BoxedStrategy<Where> {
    prop::sample::select(FILTER_KEYS)
        .prop_flat_map(|key| {
            let k = key.to_string();
            prop_oneof![
                (Just(k.clone()), prop::sample::select(vec![Cmp::Eq, Cmp::Ne]), operand_for(key))
                    .prop_map(|(key, op, value)| Where::Compare { key, op, value }),
                (Just(k.clone()), prop::sample::select(vec![Cmp::Gt, Cmp::Gte, Cmp::Lt, Cmp::Lte]), numeric())
                    .prop_map(|(key, op, value)| Where::Compare { key, op, value }),
                (Just(k.clone()), in_values_for(key), any::<bool>()).prop_map(|(key, values, negate)| Where::In {
                    key,
                    values,
                    negate
                }),
                (Just(k), operand_for(key), any::<bool>()).prop_map(|(key, value, negate)| Where::Contains {
                    key,
                    value,
                    negate
                }),
            ]
        })
        .boxed()
}

fn where_filter() -> BoxedStrategy<Where> {
    // 1.x `{"#document": {...}}` clauses beside metadata clauses.
    prop_oneof![4 => where_leaf(), 1 => doc_leaf().prop_map(Where::Document)]
        .prop_recursive(2, 10, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(Where::And),
                prop::collection::vec(inner, 1..4).prop_map(Where::Or),
            ]
        })
        .boxed()
}

fn doc_leaf() -> BoxedStrategy<WhereDocument> {
    // needles: fixed tricky ones, or a substring of a vocabulary document
    let substring = (prop::sample::select(DOCS), any::<prop::sample::Index>(), 0usize..6).prop_map(|(d, i, len)| {
        let chars: Vec<char> = d.chars().collect();
        if chars.is_empty() {
            return String::new();
        }
        let start = i.index(chars.len());
        chars[start..(start + len).min(chars.len())].iter().collect()
    });
    let needle = prop_oneof![prop::sample::select(NEEDLES).prop_map(str::to_string), substring];
    let regex = prop::sample::select(REGEXES).prop_map(str::to_string);
    prop_oneof![
        needle.clone().prop_map(WhereDocument::Contains),
        needle.prop_map(WhereDocument::NotContains),
        regex.clone().prop_map(WhereDocument::Regex),
        regex.prop_map(WhereDocument::NotRegex),
    ]
    .boxed()
}

fn doc_filter() -> BoxedStrategy<WhereDocument> {
    doc_leaf()
        .prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 1..4).prop_map(WhereDocument::And),
                prop::collection::vec(inner, 1..4).prop_map(WhereDocument::Or),
            ]
        })
        .boxed()
}

fn selection(require_something: bool) -> BoxedStrategy<Selection> {
    (
        prop::option::weighted(0.3, prop::collection::vec(s_id(), 1..5)),
        prop::option::weighted(0.6, where_filter()),
        prop::option::weighted(0.35, doc_filter()),
        prop::bool::weighted(0.4),
    )
        .prop_map(move |(ids, w, wd, v04)| {
            let mut s = Selection { ids, w, wd, v04 };
            if require_something && s.ids.is_none() && s.w.is_none() && s.wd.is_none() {
                // delete with no criteria is its own (rare) case below; make this one select
                s.w = Some(Where::Compare { key: "i".into(), op: Cmp::Gte, value: Scalar::Int(1) });
            }
            s
        })
        .boxed()
}

fn op(dim: usize) -> BoxedStrategy<Op> {
    prop_oneof![
        5 => batch(dim).prop_map(Op::Add),
        4 => batch(dim).prop_map(Op::Upsert),
        4 => ubatch(dim).prop_map(Op::Update),
        4 => selection(true).prop_map(Op::Delete),
        1 => Just(Op::Delete(Selection { ids: None, w: None, wd: None, v04: false })),
        1 => batch(dim).prop_map(Op::BadDimension),
        1 => batch(dim).prop_map(Op::DuplicateIds),
        1 => Just(Op::Reopen),
    ]
    .boxed()
}

fn probe(dim: usize) -> BoxedStrategy<Probe> {
    (
        selection(false),
        prop::option::weighted(0.3, 0usize..6),
        prop::option::weighted(0.3, 0usize..6),
        prop::collection::vec(embedding(dim), 1..3),
        0usize..8, // 0 must be refused
    )
        .prop_map(|(sel, limit, offset, queries, n_results)| Probe { sel, limit, offset, queries, n_results })
        .boxed()
}

fn case() -> impl Strategy<Value = Case> {
    (2usize..=4, prop::sample::select(vec![Space::L2, Space::Ip, Space::Cosine])).prop_flat_map(|(dim, space)| {
        (batch(dim), prop::collection::vec((op(dim), probe(dim)), 1..24)).prop_map(move |(first, steps)| Case {
            dim,
            space,
            first,
            steps,
        })
    })
}

// ---------------------------------------------------------------------------------------------
// The reference model

#[derive(Clone, Debug, PartialEq)]
struct Rec {
    id: String,
    emb: Vec<f32>,
    doc: Option<String>,
    uri: Option<String>,
    md: Option<Metadata>,
}

#[derive(Default, Debug)]
struct Model {
    recs: Vec<Rec>,
}

fn merge(base: Option<Metadata>, upd: &UpdateMetadata) -> Option<Metadata> {
    let mut m = base.unwrap_or_default();
    for (k, v) in upd {
        match v {
            Some(v) => {
                m.insert(k.clone(), v.clone());
            }
            None => {
                m.remove(k);
            }
        }
    }
    (!m.is_empty()).then_some(m)
}

/// Scalar comparison with the spec's typing rules; `None` (missing key or array value) and
/// mismatched types never compare.
fn cmp_scalar(v: Option<&MetadataValue>, op: Cmp, x: &Scalar) -> bool {
    use std::cmp::Ordering;
    let ord: Option<Ordering> = match (v, x) {
        (Some(MetadataValue::Str(a)), Scalar::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Some(MetadataValue::Bool(a)), Scalar::Bool(b)) => Some(a.cmp(b)),
        (Some(MetadataValue::Int(a)), Scalar::Int(b)) => Some(a.cmp(b)),
        (Some(MetadataValue::Int(a)), Scalar::Float(b)) => (*a as f64).partial_cmp(b),
        (Some(MetadataValue::Float(a)), Scalar::Int(b)) => a.partial_cmp(&(*b as f64)),
        (Some(MetadataValue::Float(a)), Scalar::Float(b)) => a.partial_cmp(b),
        _ => None,
    };
    let Some(o) = ord else { return false };
    match op {
        Cmp::Eq => o == Ordering::Equal,
        Cmp::Ne => o != Ordering::Equal,
        Cmp::Gt => o == Ordering::Greater,
        Cmp::Gte => o != Ordering::Less,
        Cmp::Lt => o == Ordering::Less,
        Cmp::Lte => o != Ordering::Greater,
    }
}

fn same_type(v: Option<&MetadataValue>, x: &Scalar) -> bool {
    matches!(
        (v, x),
        (Some(MetadataValue::Str(_)), Scalar::Str(_))
            | (Some(MetadataValue::Bool(_)), Scalar::Bool(_))
            | (Some(MetadataValue::Int(_) | MetadataValue::Float(_)), Scalar::Int(_) | Scalar::Float(_))
    )
}

fn array_elements(v: Option<&MetadataValue>) -> Vec<MetadataValue> {
    match v {
        Some(MetadataValue::StrArray(a)) => a.iter().cloned().map(MetadataValue::Str).collect(),
        Some(MetadataValue::IntArray(a)) => a.iter().copied().map(MetadataValue::Int).collect(),
        Some(MetadataValue::FloatArray(a)) => a.iter().copied().map(MetadataValue::Float).collect(),
        Some(MetadataValue::BoolArray(a)) => a.iter().copied().map(MetadataValue::Bool).collect(),
        _ => Vec::new(),
    }
}

fn eval_where(w: &Where, md: Option<&Metadata>, doc: Option<&str>, d: Dialect) -> bool {
    let scalar_of = |key: &str| md.and_then(|m| m.get(key)).filter(|v| !v.is_array());
    match w {
        Where::And(p) => p.iter().all(|x| eval_where(x, md, doc, d)),
        Where::Or(p) => p.iter().any(|x| eval_where(x, md, doc, d)),
        Where::Document(wd) => eval_doc(wd, doc, d),
        Where::Compare { key, op: Cmp::Ne, value } => {
            let v = scalar_of(key);
            if d.ne_matches_missing {
                !cmp_scalar(v, Cmp::Eq, value)
            } else {
                cmp_scalar(v, Cmp::Ne, value)
            }
        }
        Where::Compare { key, op, value } => cmp_scalar(scalar_of(key), *op, value),
        Where::In { key, values, negate } => {
            let v = scalar_of(key);
            let hit = values.iter().any(|x| cmp_scalar(v, Cmp::Eq, x));
            match (negate, d.ne_matches_missing) {
                (false, _) => hit,
                (true, true) => !hit,
                (true, false) => same_type(v, &values[0]) && !hit,
            }
        }
        Where::Contains { key, value, negate } => {
            let elems = array_elements(md.and_then(|m| m.get(key)));
            let hit = elems.iter().any(|e| cmp_scalar(Some(e), Cmp::Eq, value));
            hit != *negate
        }
    }
}

/// `$contains`: the term literally, or with [`Dialect::contains_wildcards`] each `_` / `%` as
/// any one character (how Chroma 0.4/0.5's own tests model their `LIKE`).
fn contains(text: &str, needle: &str, d: Dialect) -> bool {
    if d.contains_wildcards && needle.contains(['_', '%']) {
        let chars: Vec<char> = needle.chars().collect();
        let t: Vec<char> = text.chars().collect();
        return t.len() >= chars.len()
            && t.windows(chars.len())
                .any(|w| w.iter().zip(&chars).all(|(a, b)| (*b == '_' || *b == '%') && *a != '\n' || a == b));
    }
    text.contains(needle)
}

fn eval_doc(wd: &WhereDocument, doc: Option<&str>, d: Dialect) -> bool {
    let missing_ok = d.not_contains_matches_missing_document;
    let re = |p: &str| regex::Regex::new(p).unwrap();
    match wd {
        WhereDocument::And(p) => p.iter().all(|x| eval_doc(x, doc, d)),
        WhereDocument::Or(p) => p.iter().any(|x| eval_doc(x, doc, d)),
        WhereDocument::Contains(s) => doc.is_some_and(|t| contains(t, s, d)),
        WhereDocument::NotContains(s) => match doc {
            Some(t) => !contains(t, s, d),
            None => missing_ok,
        },
        WhereDocument::Regex(p) => doc.is_some_and(|t| re(p).is_match(t)),
        WhereDocument::NotRegex(p) => match doc {
            Some(t) => !re(p).is_match(t),
            None => missing_ok,
        },
    }
}

fn distance(space: Space, a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    match space {
        Space::L2 => a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum(),
        Space::Ip => 1.0 - dot,
        Space::Cosine => {
            let na = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            let nb = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
            1.0 - dot / ((na + 1e-30) * (nb + 1e-30))
        }
    }
}

impl Model {
    fn pos(&self, id: &str) -> Option<usize> {
        self.recs.iter().position(|r| r.id == id)
    }

    fn write(&mut self, b: &Batch, upsert: bool) {
        for r in &b.rows {
            let doc = b.with_docs.then(|| r.doc.clone());
            let uri = b.with_uris.then(|| r.uri.clone());
            let md = b.with_mds.then(|| r.md.clone());
            match self.pos(&r.id) {
                None => self.recs.push(Rec {
                    id: r.id.clone(),
                    emb: r.emb.clone(),
                    doc: doc.flatten(),
                    uri: uri.flatten(),
                    md: md.flatten().and_then(|m| merge(None, &m)),
                }),
                Some(_) if !upsert => {}
                Some(i) => {
                    let rec = &mut self.recs[i];
                    rec.emb.clone_from(&r.emb);
                    Self::apply_fields(rec, doc, uri, md);
                }
            }
        }
    }

    // `None`: the column is absent; `Some(None)`: a null entry (the API's own distinction).
    #[allow(clippy::option_option)]
    fn apply_fields(
        rec: &mut Rec,
        doc: Option<Option<String>>,
        uri: Option<Option<String>>,
        md: Option<Option<UpdateMetadata>>,
    ) {
        if let Some(Some(d)) = doc {
            rec.doc = Some(d);
        }
        if let Some(Some(u)) = uri {
            rec.uri = Some(u);
        }
        if let Some(Some(m)) = md {
            rec.md = merge(rec.md.take(), &m);
        }
    }

    fn update(&mut self, b: &UBatch) {
        for r in &b.rows {
            if let Some(i) = self.pos(&r.id) {
                let rec = &mut self.recs[i];
                if b.with_embs {
                    if let Some(e) = &r.emb {
                        rec.emb.clone_from(e);
                    }
                }
                Self::apply_fields(
                    rec,
                    b.with_docs.then(|| r.doc.clone()),
                    b.with_uris.then(|| r.uri.clone()),
                    b.with_mds.then(|| r.md.clone()),
                );
            }
        }
    }

    fn matches(rec: &Rec, sel: &Selection) -> bool {
        let d = sel.dialect();
        sel.ids.as_ref().is_none_or(|ids| ids.contains(&rec.id))
            && sel.w.as_ref().is_none_or(|w| eval_where(w, rec.md.as_ref(), rec.doc.as_deref(), d))
            && sel.wd.as_ref().is_none_or(|wd| eval_doc(wd, rec.doc.as_deref(), d))
    }

    fn select(&self, sel: &Selection) -> Vec<&Rec> {
        self.recs.iter().filter(|r| Self::matches(r, sel)).collect()
    }

    fn delete(&mut self, sel: &Selection) -> Vec<String> {
        if sel.ids.is_none() && sel.w.is_none() && sel.wd.is_none() {
            return Vec::new();
        }
        let gone: Vec<String> = self.select(sel).iter().map(|r| r.id.clone()).collect();
        self.recs.retain(|r| !gone.contains(&r.id));
        gone
    }

    fn get(&self, p: &Probe) -> Vec<&Rec> {
        let mut v = self.select(&p.sel);
        if p.sel.v04 {
            v.sort_by(|a, b| a.id.cmp(&b.id));
        }
        let off = p.offset.unwrap_or(0);
        v.into_iter().skip(off).take(p.limit.unwrap_or(usize::MAX)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Driving engines and comparing

fn add_request(b: &Batch) -> AddRequest {
    AddRequest {
        ids: b.rows.iter().map(|r| r.id.clone()).collect(),
        embeddings: b.rows.iter().map(|r| r.emb.clone()).collect(),
        documents: b.with_docs.then(|| b.rows.iter().map(|r| r.doc.clone()).collect()),
        uris: b.with_uris.then(|| b.rows.iter().map(|r| r.uri.clone()).collect()),
        metadatas: b.with_mds.then(|| b.rows.iter().map(|r| r.md.clone()).collect()),
        ..Default::default()
    }
}

fn update_request(b: &UBatch) -> UpdateRequest {
    UpdateRequest {
        ids: b.rows.iter().map(|r| r.id.clone()).collect(),
        embeddings: b.with_embs.then(|| b.rows.iter().map(|r| r.emb.clone()).collect()),
        documents: b.with_docs.then(|| b.rows.iter().map(|r| r.doc.clone()).collect()),
        uris: b.with_uris.then(|| b.rows.iter().map(|r| r.uri.clone()).collect()),
        metadatas: b.with_mds.then(|| b.rows.iter().map(|r| r.md.clone()).collect()),
        ..Default::default()
    }
}

struct Subject {
    name: &'static str,
    engine: Option<Engine>,
    dir: Option<tempfile::TempDir>,
    cid: uuid::Uuid,
}

impl Subject {
    fn api(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }
    fn reopen(&mut self) {
        if let Some(dir) = &self.dir {
            self.engine = None; // the last handle: closes the folder
            self.engine = Some(Engine::open(dir.path(), Settings::default()).expect("reopen"));
        }
    }
}

fn check_records(what: &str, got: &GetResult, want: &[&Rec]) {
    let ids: Vec<&str> = want.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(got.ids, ids, "{what}: ids");
    let embs = got.embeddings.as_ref().expect("embeddings included");
    for (i, r) in want.iter().enumerate() {
        assert_eq!(embs[i], r.emb, "{what}: embedding of {}", r.id);
        assert_eq!(got.documents.as_ref().unwrap()[i], r.doc, "{what}: document of {}", r.id);
        assert_eq!(got.uris.as_ref().unwrap()[i], r.uri, "{what}: uri of {}", r.id);
        assert_eq!(got.metadatas.as_ref().unwrap()[i], r.md, "{what}: metadata of {}", r.id);
    }
}

fn all_columns() -> Vec<Include> {
    vec![Include::Embeddings, Include::Documents, Include::Metadatas, Include::Uris]
}

fn check_probe(s: &Subject, m: &Model, p: &Probe, space: Space, step: usize) {
    let api = s.api();
    let what = format!("{} step {step}", s.name);
    assert_eq!(api.count(s.cid).unwrap(), m.recs.len(), "{what}: count");
    // the whole collection, every column
    let all = api.get(s.cid, GetRequest { include: all_columns(), ..Default::default() }).unwrap();
    check_records(&format!("{what}: full get"), &all, &m.recs.iter().collect::<Vec<_>>());
    // the filtered, paged get
    let req = GetRequest {
        ids: p.sel.ids.clone(),
        r#where: p.sel.w.clone(),
        where_document: p.sel.wd.clone(),
        limit: p.limit,
        offset: p.offset,
        include: all_columns(),
        dialect: p.sel.dialect(),
    };
    let got = api.get(s.cid, req).unwrap();
    check_records(&format!("{what}: get {p:?}"), &got, &m.get(p));
    // query: exact top-k among the matching records
    let cands = m.select(&p.sel);
    let mut qr = QueryRequest::new(p.queries.clone(), p.n_results);
    qr.ids.clone_from(&p.sel.ids);
    qr.r#where.clone_from(&p.sel.w);
    qr.where_document.clone_from(&p.sel.wd);
    qr.dialect = p.sel.dialect();
    qr.include = vec![Include::Embeddings, Include::Documents, Include::Metadatas, Include::Uris, Include::Distances];
    let missing = p.sel.ids.as_ref().and_then(|ids| ids.iter().find(|id| !m.recs.iter().any(|r| &r.id == *id)));
    let res = match (api.query(s.cid, qr), missing) {
        (Err(e), _) if p.n_results == 0 => {
            assert_eq!(e.kind, ErrorKind::InvalidArgument, "{what}: n_results 0: {e}");
            return;
        }
        (Err(e), Some(id)) => {
            assert!(e.message.contains("Error finding id"), "{what}: query with missing id {id}: {e}");
            return;
        }
        (Err(e), None) => panic!("{what}: query {p:?} failed: {e}"),
        (Ok(_), _) if p.n_results == 0 => panic!("{what}: n_results 0 was accepted"),
        (Ok(_), Some(id)) => panic!("{what}: query with missing id {id} was accepted"),
        (Ok(res), None) => res,
    };
    assert_eq!(res.ids.len(), p.queries.len(), "{what}: one result list per query");
    for (qi, q) in p.queries.iter().enumerate() {
        let mut model_d: Vec<(f64, &Rec)> = cands.iter().map(|r| (distance(space, q, &r.emb), *r)).collect();
        model_d.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let k = p.n_results.min(cands.len());
        let ids = &res.ids[qi];
        let dists = &res.distances.as_ref().unwrap()[qi];
        assert_eq!(ids.len(), k, "{what}: query {qi} result size for {p:?}");
        let tol = |d: f64| 1e-4 * (1.0 + d.abs());
        let mut seen = HashSet::new();
        for (j, id) in ids.iter().enumerate() {
            assert!(seen.insert(id), "{what}: {id} returned twice");
            let rec = cands
                .iter()
                .find(|r| &r.id == id)
                .unwrap_or_else(|| panic!("{what}: query returned {id}, which does not match {p:?}"));
            let d_true = distance(space, q, &rec.emb);
            let d = f64::from(dists[j]);
            assert!((d - d_true).abs() <= tol(d_true), "{what}: distance of {id} is {d}, expected {d_true}");
            assert!(
                (d - model_d[j].0).abs() <= tol(model_d[j].0),
                "{what}: rank {j} has distance {d}, exact top-k has {}",
                model_d[j].0
            );
            if j > 0 {
                assert!(dists[j - 1] <= dists[j], "{what}: distances not ascending: {dists:?}");
            }
            assert_eq!(res.embeddings.as_ref().unwrap()[qi][j], rec.emb, "{what}: query embedding of {id}");
            assert_eq!(res.documents.as_ref().unwrap()[qi][j], rec.doc, "{what}: query document of {id}");
            assert_eq!(res.metadatas.as_ref().unwrap()[qi][j], rec.md, "{what}: query metadata of {id}");
            assert_eq!(res.uris.as_ref().unwrap()[qi][j], rec.uri, "{what}: query uri of {id}");
        }
    }
}

fn apply(s: &mut Subject, op: &Op, dim: usize, step: usize, expect_deleted: &[String]) {
    let what = format!("{} step {step}", s.name);
    match op {
        Op::Add(b) => s.api().add(s.cid, add_request(b)).unwrap(),
        Op::Upsert(b) => s.api().upsert(s.cid, add_request(b)).unwrap(),
        Op::Update(b) => s.api().update(s.cid, update_request(b)).unwrap(),
        Op::Delete(sel) => {
            let req = DeleteRequest {
                ids: sel.ids.clone(),
                r#where: sel.w.clone(),
                where_document: sel.wd.clone(),
                limit: None,
                dialect: sel.dialect(),
            };
            let got = s.api().delete(s.cid, req).unwrap();
            assert_eq!(got, expect_deleted, "{what}: deleted ids of {sel:?}");
        }
        Op::BadDimension(b) => {
            let mut req = add_request(b);
            req.embeddings[0].push(1.0);
            let e = s.api().add(s.cid, req.clone()).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidDimension, "{what}: {e}");
            assert!(e.message.contains(&dim.to_string()), "{what}: {e}");
            let e = s.api().upsert(s.cid, req).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidDimension, "{what}: {e}");
            let upd = UpdateRequest {
                ids: vec![b.rows[0].id.clone()],
                embeddings: Some(vec![Some(vec![0.0; dim + 1])]),
                ..Default::default()
            };
            let e = s.api().update(s.cid, upd).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidDimension, "{what}: {e}");
        }
        Op::DuplicateIds(b) => {
            let mut req = add_request(b);
            req.ids.push(req.ids[0].clone());
            req.embeddings.push(req.embeddings[0].clone());
            for c in [&mut req.documents, &mut req.uris].into_iter().flatten() {
                c.push(None);
            }
            if let Some(c) = &mut req.metadatas {
                c.push(None);
            }
            let e = s.api().upsert(s.cid, req).unwrap_err();
            assert_eq!(e.kind, ErrorKind::DuplicateId, "{what}: {e}");
        }
        Op::Reopen => s.reopen(),
    }
}

fn run_case(c: &Case) {
    // filters survive their JSON form (what every client sends)
    for (op, p) in &c.steps {
        let sels: Vec<&Selection> = match op {
            Op::Delete(s) => vec![s, &p.sel],
            _ => vec![&p.sel],
        };
        for s in sels {
            if let Some(w) = &s.w {
                assert_eq!(parse_where(Some(&w.to_json())).unwrap().as_ref(), Some(w));
            }
            if let Some(wd) = &s.wd {
                assert_eq!(parse_where_document(Some(&wd.to_json())).unwrap().as_ref(), Some(wd));
            }
        }
    }
    let md: Metadata = BTreeMap::from([("hnsw:space".to_string(), MetadataValue::Str(c.space.as_str().into()))]);
    let create = CreateCollection::new("model").metadata(md);
    let eph = Engine::ephemeral(Settings::default()).unwrap();
    let cid = eph.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, create.clone()).unwrap().id;
    let dir = tempfile::tempdir().unwrap();
    let per = Engine::open(dir.path(), Settings::default()).unwrap();
    let pcid = per.create_collection(DEFAULT_TENANT, DEFAULT_DATABASE, create).unwrap().id;
    let mut subjects = [
        Subject { name: "ephemeral", engine: Some(eph), dir: None, cid },
        Subject { name: "persistent", engine: Some(per), dir: Some(dir), cid: pcid },
    ];
    let mut model = Model::default();
    model.write(&c.first, false);
    for s in &subjects {
        s.api().add(s.cid, add_request(&c.first)).unwrap();
        assert_eq!(s.api().get_collection_by_id(s.cid).unwrap().dimension, Some(c.dim));
    }
    for (step, (op, probe)) in c.steps.iter().enumerate() {
        let deleted = match op {
            Op::Add(b) => {
                model.write(b, false);
                Vec::new()
            }
            Op::Upsert(b) => {
                model.write(b, true);
                Vec::new()
            }
            Op::Update(b) => {
                model.update(b);
                Vec::new()
            }
            Op::Delete(sel) => model.delete(sel),
            _ => Vec::new(),
        };
        for s in &mut subjects {
            apply(s, op, c.dim, step, &deleted);
            check_probe(s, &model, probe, c.space, step);
        }
    }
    // a final reopen: everything acknowledged is still there
    let s = &mut subjects[1];
    s.reopen();
    let last = Probe {
        sel: Selection { ids: None, w: None, wd: None, v04: false },
        limit: None,
        offset: None,
        queries: vec![vec![0.5; c.dim]],
        n_results: 100,
    };
    check_probe(s, &model, &last, c.space, usize::MAX);
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, max_shrink_iters: 2000, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn engine_matches_model(c in case()) {
        run_case(&c);
    }
}

// ---------------------------------------------------------------------------------------------
// Hand-picked cases the random search may rarely hit

fn one_case(dim: usize, space: Space, first: Batch, steps: Vec<(Op, Probe)>) {
    run_case(&Case { dim, space, first, steps });
}

fn row(id: &str, emb: Vec<f32>, doc: Option<&str>, md: Option<UpdateMetadata>) -> Row {
    Row { id: id.into(), emb, doc: doc.map(str::to_string), uri: None, md }
}

fn umd(pairs: &[(&str, Option<MetadataValue>)]) -> UpdateMetadata {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

fn probe_of(w: Option<Where>, wd: Option<WhereDocument>, v04: bool) -> Probe {
    Probe {
        sel: Selection { ids: None, w, wd, v04 },
        limit: None,
        offset: None,
        queries: vec![vec![0.0, 1.0]],
        n_results: 10,
    }
}

/// `$nin` with only non-integral floats in the 0.4.x dialect must still match int values.
#[test]
fn nin_of_fractional_floats_matches_ints_v04() {
    use MetadataValue::*;
    let first = Batch {
        rows: vec![
            row("a", vec![0.0, 1.0], None, Some(umd(&[("i", Some(Int(3)))]))),
            row("b", vec![1.0, 0.0], None, Some(umd(&[("i", Some(Float(0.5)))]))),
            row("c", vec![1.0, 1.0], None, Some(umd(&[("s", Some(Str("x".into())))]))),
        ],
        with_docs: false,
        with_uris: false,
        with_mds: true,
    };
    let nin = Where::In { key: "i".into(), values: vec![Scalar::Float(0.5), Scalar::Float(2.5)], negate: true };
    let nin_int = Where::In { key: "i".into(), values: vec![Scalar::Int(3)], negate: true };
    one_case(
        2,
        Space::L2,
        first,
        vec![
            (Op::Reopen, probe_of(Some(nin.clone()), None, true)),
            (Op::Reopen, probe_of(Some(nin), None, false)),
            (Op::Reopen, probe_of(Some(nin_int.clone()), None, true)),
            (Op::Reopen, probe_of(Some(nin_int), None, false)),
        ],
    );
}

/// Document filters around the trigram index: short needles, non-ASCII, quotes, empty.
#[test]
fn document_filters_edge_cases() {
    let docs = ["café au lait", "say \"hi\"", "", "ab", "100% pure"];
    let first = Batch {
        rows: docs
            .iter()
            .enumerate()
            .map(|(i, d)| row(IDS[i], vec![i as f32, 1.0], Some(d), None))
            .chain([row("z", vec![9.0, 9.0], None, None)])
            .collect(),
        with_docs: true,
        with_uris: false,
        with_mds: false,
    };
    let mut steps = Vec::new();
    for needle in ["", "é", "fé", "afé", "\"hi\"", "\"", "ab", "% p", "0% ", "lait", "Lait"] {
        for v04 in [false, true] {
            steps.push((Op::Reopen, probe_of(None, Some(WhereDocument::Contains(needle.into())), v04)));
            steps.push((Op::Reopen, probe_of(None, Some(WhereDocument::NotContains(needle.into())), v04)));
        }
    }
    one_case(2, Space::Cosine, first, steps);
}

/// Deleting every key with nulls leaves no metadata (null, never `{}`), and the record no
/// longer matches filters on those keys.
#[test]
fn null_deletes_every_key() {
    use MetadataValue::*;
    let first = Batch {
        rows: vec![row(
            "a",
            vec![0.0, 1.0],
            Some("doc"),
            Some(umd(&[("i", Some(Int(1))), ("a", Some(StrArray(vec!["x".into()])))])),
        )],
        with_docs: true,
        with_uris: false,
        with_mds: true,
    };
    let upd = UBatch {
        rows: vec![URow {
            id: "a".into(),
            emb: None,
            doc: None,
            uri: None,
            md: Some(umd(&[("i", None), ("a", None)])),
        }],
        with_embs: false,
        with_docs: true,
        with_uris: false,
        with_mds: true,
    };
    let has_i = Where::Compare { key: "i".into(), op: Cmp::Eq, value: Scalar::Int(1) };
    let has_x = Where::Contains { key: "a".into(), value: Scalar::Str("x".into()), negate: false };
    one_case(
        2,
        Space::Ip,
        first,
        vec![
            (Op::Update(upd), probe_of(Some(has_i), None, false)),
            (Op::Reopen, probe_of(Some(has_x.clone()), None, false)),
            (
                Op::Reopen,
                probe_of(
                    Some(Where::Contains { key: "a".into(), value: Scalar::Str("x".into()), negate: true }),
                    None,
                    true,
                ),
            ),
        ],
    );
}
