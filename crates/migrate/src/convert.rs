//! From raw legacy values to what the destination stores, under a [`Policy`]. Every value the
//! destination cannot hold exactly becomes a [`Problem`]; the policy decides whether the run
//! stops, the record/collection is skipped, or the value is changed in the documented way.

use std::collections::{BTreeMap, HashMap, HashSet};

use chroma_legacy::{LegacyCollection, LegacyEmbedding, LegacyRecord, LegacyValue, Quirk};
use chroma_types::{validate, IndexConfig, Metadata, MetadataValue};
use serde_json::Value;

use crate::checksum::Record;
use crate::report::Problem;

/// What to do with a value the destination cannot hold exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Read and check everything first; stop before writing anything if there is any problem.
    #[default]
    Fail,
    /// Drop the offending record (or collection) and list it.
    Skip,
    /// Change the value in the documented way and list the change.
    Coerce,
}

impl Policy {
    /// The name of the policy, as `--on-invalid` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Fail => "fail",
            Policy::Skip => "skip",
            Policy::Coerce => "coerce",
        }
    }
}

/// One issue found while converting, before the policy is applied.
struct Issue {
    kind: &'static str,
    detail: String,
    /// What `coerce` does; `None` = cannot be coerced, the record is dropped.
    fix: Option<String>,
}

fn issue(kind: &'static str, detail: String, fix: Option<String>) -> Issue {
    Issue { kind, detail, fix }
}

/// The JSON-ish text of a nested legacy value (Python's rendering where JSON has none).
fn json_text(v: &LegacyValue) -> String {
    match v.to_json() {
        Some(j) => j.to_string(),
        None => v.to_string(),
    }
}

/// Converts one metadata value. `Err` carries the issue and the coerced value (`None` = drop the key).
fn value(key: &str, v: &LegacyValue, collection: bool) -> Result<MetadataValue, (Issue, Option<MetadataValue>)> {
    match v {
        LegacyValue::Bool(b) => Ok(MetadataValue::Bool(*b)),
        LegacyValue::Int(i) => Ok(MetadataValue::Int(*i)),
        LegacyValue::Str(s) => Ok(MetadataValue::Str(s.clone())),
        LegacyValue::Float(f) if f.is_finite() => Ok(MetadataValue::Float(*f)),
        LegacyValue::Float(_) => Err((
            issue("nan_or_inf", format!("metadata key {key:?} is {v}"), Some(format!("key {key:?} dropped"))),
            None,
        )),
        LegacyValue::BigInt(s) => Err((
            issue(
                "int_beyond_64_bits",
                format!("metadata key {key:?} is {s}, beyond the signed 64-bit range"),
                Some(format!("key {key:?} stored as the string \"{s}\"")),
            ),
            Some(MetadataValue::Str(s.clone())),
        )),
        LegacyValue::BrokenStr { lossy, .. } => Err((
            issue(
                "lone_surrogate",
                format!("metadata key {key:?} holds a string with lone UTF-16 surrogates (not valid Unicode)"),
                Some(format!("key {key:?}: each lone surrogate replaced by U+FFFD")),
            ),
            Some(MetadataValue::Str(lossy.clone())),
        )),
        LegacyValue::Null => Err((
            issue(
                "null_value",
                format!("metadata key {key:?} has no value (null)"),
                Some(format!("key {key:?} dropped")),
            ),
            None,
        )),
        LegacyValue::List(items) if !collection => {
            // A non-empty list of one scalar type is a chroma-rs (1.x) array: held exactly.
            let j = v.to_json();
            if let Some(j) = j.as_ref().filter(|_| !items.is_empty()) {
                if let Ok(m) = MetadataValue::from_json(key, j) {
                    if m.is_array() {
                        return Ok(m);
                    }
                }
            }
            let text = json_text(v);
            Err((
                issue(
                    "nested_metadata",
                    format!("metadata key {key:?} is a list that is not a non-empty list of one scalar type: {text}"),
                    Some(format!("key {key:?} stored as the JSON string {text}")),
                ),
                Some(MetadataValue::Str(text)),
            ))
        }
        LegacyValue::List(_) | LegacyValue::Map(_) => {
            // A tagged sparse vector (`{"#type": "sparse_vector", ...}`, from a 1.x server with
            // the Search API) in a record's metadata: held exactly.
            if let Some(j) = v.to_json().filter(|j| !collection && chroma_types::SparseVector::is_tagged(j)) {
                if let Ok(m @ MetadataValue::Sparse(_)) = MetadataValue::from_json(key, &j) {
                    return Ok(m);
                }
            }
            let text = json_text(v);
            Err((
                issue(
                    "nested_metadata",
                    format!("metadata key {key:?} holds a nested {}: {text}", v.type_name()),
                    Some(format!("key {key:?} stored as the JSON string {text}")),
                ),
                Some(MetadataValue::Str(text)),
            ))
        }
    }
}

/// Why the destination rejects a metadata key, if it does. `legacy_keys`: it takes the keys
/// that 0.x servers stored (empty, or starting with `#` or `$`), as a chroma-rs folder does;
/// a server over HTTP (Chroma 1.x, chroma-rs's 1.x line) refuses them.
fn key_problem(k: &str, legacy_keys: bool) -> Option<String> {
    if k.starts_with("chroma:") {
        return Some(format!("metadata key {k:?} starts with the reserved prefix chroma:"));
    }
    if legacy_keys {
        return None;
    }
    if k.is_empty() {
        return Some("metadata key is empty (a Chroma 1.x server refuses it)".into());
    }
    if k.starts_with('#') || k.starts_with('$') {
        return Some(format!("metadata key {k:?} starts with # or $ (a Chroma 1.x server refuses it)"));
    }
    None
}

fn coerced_key(k: &str, taken: &BTreeMap<String, LegacyValue>) -> String {
    let mut new = if k.is_empty() { "_empty_key".to_string() } else { format!("_{k}") };
    while taken.contains_key(&new) {
        new.insert(0, '_');
    }
    new
}

/// Converts a metadata map; issues are appended, the coerced map is returned. `legacy_keys`:
/// see [`key_problem`].
fn metadata(
    m: &BTreeMap<String, LegacyValue>,
    collection: bool,
    legacy_keys: bool,
    issues: &mut Vec<Issue>,
) -> Option<Metadata> {
    if m.is_empty() {
        issues.push(issue(
            "empty_metadata",
            "metadata is an empty dict {} (chroma-rs stores no metadata instead)".into(),
            Some("stored as no metadata (None)".into()),
        ));
        return None;
    }
    let mut out = Metadata::new();
    for (k, v) in m {
        let key = match key_problem(k, legacy_keys) {
            None => k.clone(),
            Some(why) => {
                let new = coerced_key(k, m);
                issues.push(issue("bad_metadata_key", why, Some(format!("key {k:?} renamed to {new:?}"))));
                new
            }
        };
        match value(&key, v, collection) {
            Ok(v) => {
                out.insert(key, v);
            }
            Err((i, coerced)) => {
                issues.push(i);
                if let Some(c) = coerced {
                    out.insert(key, c);
                }
            }
        }
    }
    if collection {
        // hnsw:* keys must parse as index settings.
        let hnsw: Vec<String> = out.keys().filter(|k| k.starts_with("hnsw:")).cloned().collect();
        for k in hnsw {
            let Some(v) = out.get(&k).cloned() else { continue };
            let single: Metadata = [(k.clone(), v.clone())].into();
            if let Err(e) = IndexConfig::default().apply_metadata(Some(&single)) {
                out.remove(&k);
                let new = format!("legacy-{k}");
                issues.push(issue(
                    "bad_hnsw_setting",
                    e.message,
                    Some(format!("key {k:?} removed (index defaults apply); its value kept under {new:?}")),
                ));
                out.insert(new, v);
            }
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Applies the policy to the issues of one item. Returns true when the item is kept.
fn decide(
    issues: Vec<Issue>,
    policy: Policy,
    what: &str,
    mut problem: impl FnMut(&'static str, String, String),
) -> (bool, bool) {
    if issues.is_empty() {
        return (true, false);
    }
    let coercible = issues.iter().all(|i| i.fix.is_some());
    for i in issues {
        let action = match policy {
            Policy::Fail => "stop (nothing written)".to_string(),
            Policy::Skip => format!("skipped {what}"),
            Policy::Coerce if coercible => format!("coerced: {}", i.fix.unwrap_or_default()),
            Policy::Coerce => format!("skipped {what} (cannot be coerced)"),
        };
        problem(i.kind, i.detail, action);
    }
    let keep = policy == Policy::Coerce && coercible;
    (keep, keep)
}

/// A source collection and what becomes of it.
#[derive(Debug, Clone)]
pub struct CollectionPlan {
    /// The collection as the source has it.
    pub src: LegacyCollection,
    /// Its name in the destination (a bad or duplicate name coerced).
    pub dest_name: String,
    /// Its metadata as the destination gets it.
    pub metadata: Option<Metadata>,
    /// The configuration the destination gets (the HNSW settings only).
    pub configuration: Option<Value>,
    /// The 1.x schema the destination gets (metadata-key indexes, a sparse vector index), if
    /// the source has one.
    pub schema: Option<Value>,
    /// Dropped by the policy (skip, or coerce of something that cannot be coerced).
    pub skip: bool,
    /// Kept by policy coerce, with changes.
    pub coerced: bool,
    /// The destination takes the metadata keys 0.x servers stored (`#`, `$`, empty): a
    /// chroma-rs folder does, a server over HTTP does not.
    pub legacy_keys: bool,
}

/// Turns the source collections into plans, in source order. Problems are appended.
/// `legacy_keys`: the destination takes the metadata keys 0.x servers stored.
pub fn plan_collections(
    colls: Vec<LegacyCollection>,
    policy: Policy,
    legacy_keys: bool,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Vec<CollectionPlan> {
    let mut used: HashSet<(String, String, String)> = HashSet::new();
    // Names that are fine keep priority over coerced ones.
    for c in &colls {
        if validate::collection_name(&c.name).is_ok() {
            used.insert((c.tenant.clone(), c.database.clone(), c.name.clone()));
        }
    }
    let mut seen: HashSet<(String, String, String)> = HashSet::new();
    let mut out = Vec::new();
    for c in colls {
        let mut issues = Vec::new();
        for q in &c.quirks {
            if let Quirk::Other(s) = q {
                if !s.contains("used twice") {
                    warnings.push(format!("collection {:?} ({}): {s}", c.name, c.id));
                }
            }
        }
        let key = (c.tenant.clone(), c.database.clone(), c.name.clone());
        let mut dest_name = c.name.clone();
        if let Err(e) = validate::collection_name(&c.name) {
            let new = sanitise_name(&c.name, &c.id, |n| {
                used.contains(&(c.tenant.clone(), c.database.clone(), n.to_string()))
            });
            issues.push(issue("bad_collection_name", e.message, Some(format!("renamed to {new:?}"))));
            dest_name = new;
        } else if !seen.insert(key.clone()) {
            let new = sanitise_name(&c.name, &c.id, |n| {
                used.contains(&(c.tenant.clone(), c.database.clone(), n.to_string()))
            });
            issues.push(issue(
                "duplicate_collection_name",
                format!("a second collection named {:?} in {}/{}", c.name, c.tenant, c.database),
                Some(format!("renamed to {new:?}")),
            ));
            dest_name = new;
        }
        used.insert((c.tenant.clone(), c.database.clone(), dest_name.clone()));
        let md = c.metadata.as_ref().and_then(|m| metadata(m, true, legacy_keys, &mut issues));
        if let Some(m) = &md {
            if let Err(e) = validate::collection_metadata(m) {
                issues.push(issue("bad_collection_metadata", e.message, None));
            }
        }
        // A chroma-rs store (the destinations that take legacy keys) also keeps a 1.x
        // embedding-function description and hands it back to 1.x clients, which re-create the
        // function from it; a server over HTTP gets the HNSW settings only.
        let configuration =
            c.configuration_json.as_ref().and_then(|cfg| configuration(cfg, &c, legacy_keys, &mut issues, warnings));
        if let Err(e) = IndexConfig::default()
            .apply_metadata(md.as_ref())
            .and_then(|x| x.apply_configuration(configuration.as_ref()))
        {
            issues.push(issue("bad_hnsw_setting", e.message, None));
        }
        let schema = c
            .schema_json
            .as_ref()
            .and_then(|s| schema(s, &c, md.as_ref(), configuration.as_ref(), legacy_keys, warnings));
        let (name, id) = (c.name.clone(), c.id.clone());
        let (keep, coerced) = decide(issues, policy, "collection", |kind, detail, action| {
            problems.push(Problem {
                kind: kind.into(),
                collection: name.clone(),
                collection_id: id.clone(),
                record_id: None,
                origin: None,
                detail,
                action,
            });
        });
        out.push(CollectionPlan {
            src: c,
            dest_name,
            metadata: md,
            configuration,
            schema,
            skip: !keep,
            coerced,
            legacy_keys,
        });
    }
    out
}

/// The part of a 0.5.x / 1.x configuration chroma-rs keeps: the HNSW settings.
fn configuration(
    cfg: &Value,
    c: &LegacyCollection,
    keep_ef: bool,
    issues: &mut Vec<Issue>,
    warnings: &mut Vec<String>,
) -> Option<Value> {
    let Value::Object(map) = cfg else {
        issues.push(issue(
            "bad_configuration",
            format!("collection configuration is not an object: {cfg}"),
            Some("configuration dropped (index defaults and hnsw:* metadata apply)".into()),
        ));
        return None;
    };
    let mut kept = serde_json::Map::new();
    let mut dropped = Vec::new();
    for (k, v) in map {
        match k.as_str() {
            "hnsw" | "hnsw_configuration" if !v.is_null() => {
                kept.insert(k.clone(), v.clone());
            }
            "embedding_function" if keep_ef && v.is_object() => {
                kept.insert(k.clone(), v.clone());
            }
            "_type" => {}
            _ if v.is_null() => {}
            _ => dropped.push(k.clone()),
        }
    }
    if !dropped.is_empty() {
        warnings.push(format!(
            "collection {:?} ({}): configuration key(s) {} not kept: only the HNSW settings (and, into a chroma-rs \
             folder or PostgreSQL, a 1.x embedding-function description) are kept (embedding functions are never \
             called by the migration; re-attach them in your client)",
            c.name,
            c.id,
            dropped.join(", ")
        ));
    }
    if kept.is_empty() {
        return None;
    }
    let v = Value::Object(kept);
    match IndexConfig::default().apply_configuration(Some(&v)) {
        Ok(_) => Some(v),
        Err(e) => {
            issues.push(issue(
                "bad_configuration",
                e.message,
                Some("configuration dropped (index defaults and hnsw:* metadata apply)".into()),
            ));
            None
        }
    }
}

/// The 1.x schema the destination gets, checked on top of what the collection's metadata and
/// configuration make (as the destination will apply it). Embedding-function descriptions in
/// it are kept only where the configuration's is (a chroma-rs folder or PostgreSQL). A schema
/// the destination would refuse (a distributed Chroma's SPANN settings, say) is dropped with a
/// warning: the records still come, with the index defaults.
fn schema(
    s: &Value,
    c: &LegacyCollection,
    md: Option<&Metadata>,
    configuration: Option<&Value>,
    keep_ef: bool,
    warnings: &mut Vec<String>,
) -> Option<Value> {
    let mut s = s.clone();
    if !keep_ef {
        strip_embedding_functions(&mut s);
    }
    // A metadata or configuration error is reported once, as `bad_hnsw_setting`.
    let base = IndexConfig::default().apply_metadata(md).and_then(|x| x.apply_configuration(configuration)).ok()?;
    match base.apply_schema(Some(&s), configuration.and_then(|c| c.get("embedding_function"))) {
        Ok(_) => Some(s),
        Err(e) => {
            warnings.push(format!(
                "collection {:?} ({}): schema not kept ({}); the index defaults and the configuration apply",
                c.name, c.id, e.message
            ));
            None
        }
    }
}

/// Removes every `embedding_function` entry of a schema (at any depth).
fn strip_embedding_functions(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("embedding_function");
            m.values_mut().for_each(strip_embedding_functions);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_embedding_functions),
        _ => {}
    }
}

/// A valid collection name close to `name`, with a suffix from the collection id.
pub fn sanitise_name(name: &str, id: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    while s.contains("..") {
        s = s.replace("..", "._");
    }
    let s = s.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let base: String = s.chars().take(400).collect();
    let short: String = id.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
    let short = if short.is_empty() { "0".to_string() } else { short };
    let mut n = 0u32;
    loop {
        let suffix = if n == 0 { short.clone() } else { format!("{short}-{n}") };
        let cand = if base.is_empty() { format!("c-{suffix}") } else { format!("{base}-{suffix}") };
        if validate::collection_name(&cand).is_ok() && !taken(&cand) {
            return cand;
        }
        n += 1;
        if n > 1000 {
            return format!("c-{}", uuid::Uuid::new_v4().simple());
        }
    }
}

/// Per-collection record conversion state (duplicate counters for coerce).
#[derive(Default)]
pub struct RecordCtx {
    dup_n: HashMap<String, u32>,
}

/// The issues the reader's quirks mean for one record, and what coerce makes of the id and
/// (for malformed metadata) the metadata (`Some` replaces the record's). Source-level oddities go to `warnings`.
fn quirk_issues(
    rec: &LegacyRecord,
    plan: &CollectionPlan,
    ctx: &mut RecordCtx,
    issues: &mut Vec<Issue>,
    warnings: &mut Vec<String>,
) -> (String, Option<Metadata>) {
    let mut id = rec.id.clone();
    // Malformed metadata is kept as {"legacy_metadata": <the raw text>}.
    let mut md_override: Option<Metadata> = None;
    let legacy_metadata =
        |raw: &String| -> Metadata { [("legacy_metadata".to_string(), MetadataValue::Str(raw.clone()))].into() };
    for q in &rec.quirks {
        match q {
            Quirk::NullId => issues.push(issue("null_id", "the id is NULL in the source".into(), None)),
            Quirk::DuplicateId { first_origin } => {
                let n = ctx.dup_n.entry(rec.id.clone()).or_insert(0);
                *n += 1;
                let new = format!("{}#dup{}", rec.id, n);
                issues.push(issue(
                    "duplicate_id",
                    format!("id {:?} already used by the record at {first_origin}", rec.id),
                    Some(format!("id changed to {new:?} (the first record keeps {:?})", rec.id)),
                ));
                id = new;
            }
            Quirk::DimensionMismatch { expected, found } => issues.push(issue(
                "wrong_dimension",
                format!("embedding has {found} dimensions, the collection has {expected}"),
                None,
            )),
            Quirk::MissingEmbedding { detail } => {
                issues.push(issue("missing_embedding", format!("no embedding: {detail}"), None));
            }
            Quirk::MetadataMalformedJson { raw, error } => {
                issues.push(issue(
                    "malformed_metadata",
                    format!("metadata is not valid JSON ({error}): {}", preview(raw)),
                    Some("metadata stored as {\"legacy_metadata\": <the raw text>}".into()),
                ));
                md_override = Some(legacy_metadata(raw));
            }
            Quirk::MetadataNotAnObject { raw } if raw.trim() == "null" => {
                // json.dumps(None): "no metadata", held exactly as None.
            }
            Quirk::MetadataNotAnObject { raw } => {
                issues.push(issue(
                    "malformed_metadata",
                    format!("metadata JSON is not an object: {}", preview(raw)),
                    Some("metadata stored as {\"legacy_metadata\": <the raw text>}".into()),
                ));
                md_override = Some(legacy_metadata(raw));
            }
            Quirk::Other(s) if !s.contains("NULL element") => {
                warnings.push(format!("collection {:?} record {:?} ({}): {s}", plan.src.name, rec.id, rec.origin));
            }
            _ => {}
        }
    }
    (id, md_override)
}

/// The record's vector as float32, with the issues of a missing, empty or non-finite one.
fn embedding_issues(rec: &LegacyRecord, issues: &mut Vec<Issue>) -> Vec<f32> {
    let Some(e) = &rec.embedding else {
        if !rec.quirks.iter().any(|q| matches!(q, Quirk::MissingEmbedding { .. })) {
            issues.push(issue("missing_embedding", "no embedding".into(), None));
        }
        return Vec::new();
    };
    let v = e.to_f32();
    if v.is_empty() {
        issues.push(issue("bad_embedding", "embedding is empty".into(), None));
    } else if let Some(pos) = v.iter().position(|x| !x.is_finite()) {
        let orig = match e {
            LegacyEmbedding::F64(o) => o.get(pos).map(ToString::to_string).unwrap_or_default(),
            LegacyEmbedding::F32(o) => o.get(pos).map(ToString::to_string).unwrap_or_default(),
        };
        issues.push(issue(
            "bad_embedding",
            format!("embedding element {pos} is {orig} (not a finite float32; NULL elements read as NaN)"),
            None,
        ));
    }
    v
}

/// Converts one record. Returns `Some((record, coerced))` when it is to be written.
pub fn convert_record(
    rec: LegacyRecord,
    plan: &CollectionPlan,
    policy: Policy,
    ctx: &mut RecordCtx,
    problems: &mut Vec<Problem>,
    warnings: &mut Vec<String>,
) -> Option<(Record, bool)> {
    let mut issues = Vec::new();
    let (id, md_override) = quirk_issues(&rec, plan, ctx, &mut issues, warnings);
    if id.is_empty() && !rec.quirks.contains(&Quirk::NullId) {
        issues.push(issue("empty_id", "the id is the empty string (chroma-rs requires a non-empty id)".into(), None));
    }
    let embedding = embedding_issues(&rec, &mut issues);
    let metadata = match md_override {
        Some(m) => Some(m),
        None => rec.metadata.as_ref().and_then(|m| metadata(m, false, plan.legacy_keys, &mut issues)),
    };
    let (name, cid, rid, origin) = (plan.src.name.clone(), plan.src.id.clone(), rec.id.clone(), rec.origin.clone());
    let (keep, coerced) = decide(issues, policy, "record", |kind, detail, action| {
        problems.push(Problem {
            kind: kind.into(),
            collection: name.clone(),
            collection_id: cid.clone(),
            record_id: Some(rid.clone()),
            origin: Some(origin.clone()),
            detail,
            action,
        });
    });
    if !keep {
        return None;
    }
    Some((Record { id, embedding, document: rec.document, uri: rec.uri, metadata }, coerced))
}

fn preview(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Size of a record in the report's byte count.
/// Payload bytes of a record (for the report): text lengths, 8 per number, 1 per bool, 4 per
/// vector component.
pub fn record_bytes(r: &Record) -> u64 {
    let value = |v: &MetadataValue| -> usize {
        match v {
            MetadataValue::Str(s) => s.len(),
            MetadataValue::Int(_) | MetadataValue::Float(_) => 8,
            MetadataValue::Bool(_) => 1,
            MetadataValue::StrArray(a) => a.iter().map(String::len).sum(),
            MetadataValue::IntArray(a) => 8 * a.len(),
            MetadataValue::FloatArray(a) => 8 * a.len(),
            MetadataValue::BoolArray(a) => a.len(),
            MetadataValue::Sparse(v) => {
                8 * v.indices.len() + v.tokens.as_ref().map_or(0, |t| t.iter().map(String::len).sum())
            }
        }
    };
    let md = r.metadata.as_ref().map_or(0, |m| m.iter().map(|(k, v)| k.len() + value(v)).sum());
    (r.id.len()
        + r.document.as_ref().map_or(0, String::len)
        + r.uri.as_ref().map_or(0, String::len)
        + md
        + 4 * r.embedding.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sanitised() {
        let n = sanitise_name("ab", "337b7cbc-0000", |_| false);
        assert_eq!(n, "ab-337b7cbc");
        let n = sanitise_name("..", "x", |_| false);
        validate::collection_name(&n).unwrap();
        let n = sanitise_name("a b ü", "1234", |c| c == "a_b-1234");
        assert_eq!(n, "a_b-1234-1");
    }

    #[test]
    fn values() {
        assert!(value("k", &LegacyValue::Float(f64::NAN), false).is_err());
        let (i, c) = value("k", &LegacyValue::BigInt("18446744073709551616".into()), false).unwrap_err();
        assert_eq!(i.kind, "int_beyond_64_bits");
        assert_eq!(c, Some(MetadataValue::Str("18446744073709551616".into())));
        let l = LegacyValue::List(vec![LegacyValue::Int(1), LegacyValue::Int(2)]);
        assert_eq!(value("k", &l, false).ok(), Some(MetadataValue::IntArray(vec![1, 2])));
        assert!(value("k", &l, true).is_err());
    }

    #[test]
    fn schemas() {
        let c = LegacyCollection {
            id: "c1".into(),
            name: "c".into(),
            metadata: None,
            tenant: "t".into(),
            database: "d".into(),
            dimension: None,
            space: None,
            configuration_json: None,
            schema_json: None,
            record_count_hint: None,
            quirks: Vec::new(),
        };
        let ef = serde_json::json!({"type": "known", "name": "default", "config": {}});
        let sparse = serde_json::json!({"keys": {
            "sp": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {"embedding_function": ef}}}}
        }});
        // kept whole into a chroma-rs store; without embedding functions into a server
        let mut warnings = Vec::new();
        assert_eq!(schema(&sparse, &c, None, None, true, &mut warnings), Some(sparse.clone()));
        let over_http = schema(&sparse, &c, None, None, false, &mut warnings).unwrap();
        assert!(over_http["keys"]["sp"]["sparse_vector"]["sparse_vector_index"]["config"]
            .get("embedding_function")
            .is_none());
        assert!(warnings.is_empty(), "{warnings:?}");
        // one the destination would refuse (sparse indexes on two keys): dropped, with a warning
        let two = serde_json::json!({"keys": {
            "a": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}},
            "b": {"sparse_vector": {"sparse_vector_index": {"enabled": true, "config": {}}}}
        }});
        assert_eq!(schema(&two, &c, None, None, true, &mut warnings), None);
        assert!(warnings.len() == 1 && warnings[0].contains("schema not kept"), "{warnings:?}");
    }

    #[test]
    fn keys_that_0x_servers_stored() {
        let m: BTreeMap<String, LegacyValue> = [("$d", 1), ("#h", 2), ("", 3), ("ok", 4)]
            .iter()
            .map(|(k, v)| ((*k).to_string(), LegacyValue::Int(*v)))
            .collect();
        // into a chroma-rs folder: kept as they are, no problem
        let mut issues = Vec::new();
        let out = metadata(&m, false, true, &mut issues).unwrap();
        assert!(issues.is_empty());
        assert_eq!(out.len(), 4);
        assert_eq!(out.get("$d"), Some(&MetadataValue::Int(1)));
        // into a server over HTTP (1.x rules): each one a problem, coerced to a new name
        let out = metadata(&m, false, false, &mut issues).unwrap();
        assert_eq!(issues.iter().filter(|i| i.kind == "bad_metadata_key").count(), 3);
        assert!(out.contains_key("_$d") && out.contains_key("_empty_key") && out.contains_key("ok"));
        // `chroma:` is reserved everywhere
        let c: BTreeMap<String, LegacyValue> = [("chroma:x".to_string(), LegacyValue::Int(1))].into();
        let mut issues = Vec::new();
        metadata(&c, false, true, &mut issues);
        assert_eq!(issues.len(), 1);
    }
}
