//! The checks every reader makes on what it reads, in one place: ids (NULL, NUL bytes,
//! duplicates), embeddings (missing, dimension), documents (NUL bytes), metadata (values the
//! destination may not hold, malformed 0.3.x JSON text) and collection names. Checks only
//! report [`Quirk`]s; they never change a value.

use std::collections::HashMap;

use crate::{parse_python_json, LegacyEmbedding, LegacyMetadata, LegacyValue, Quirk};

/// Per-collection record checks: remembers the ids seen (for duplicates) and the dimension.
#[derive(Debug, Default)]
pub struct RecordChecks {
    /// Id -> where it was first seen; `None` when the store keeps ids unique itself.
    seen: Option<HashMap<String, String>>,
    dimension: Option<usize>,
    /// Take the dimension from the first embedding when the collection records none.
    learn_dimension: bool,
}

impl RecordChecks {
    /// Checks for a store that does not keep ids unique (0.3.x, a server's pages): duplicates
    /// are reported; without a recorded dimension the first embedding's length is expected.
    pub fn new(dimension: Option<usize>) -> Self {
        RecordChecks { seen: Some(HashMap::new()), dimension, learn_dimension: true }
    }

    /// Checks for a store whose schema keeps ids unique (Chroma >= 0.4: `UNIQUE(segment_id,
    /// embedding_id)`): no duplicate tracking, and only a recorded dimension is checked.
    pub fn unique_ids(dimension: Option<usize>) -> Self {
        RecordChecks { seen: None, dimension, learn_dimension: false }
    }

    /// The id as stored: NULL becomes `""` ([`Quirk::NullId`]); NUL bytes and ids seen
    /// before are reported (`first_seen` says where this one is, for later duplicates).
    pub fn id(&mut self, raw: Option<String>, first_seen: impl FnOnce() -> String, quirks: &mut Vec<Quirk>) -> String {
        let id = raw.unwrap_or_else(|| {
            quirks.push(Quirk::NullId);
            String::new()
        });
        if id.contains('\0') {
            quirks.push(Quirk::NulByte { field: "id".into() });
        }
        if let Some(seen) = &mut self.seen {
            if let Some(first) = seen.get(&id) {
                quirks.push(Quirk::DuplicateId { first_origin: first.clone() });
            } else {
                seen.insert(id.clone(), first_seen());
            }
        }
        id
    }

    /// A missing embedding (when `missing` says why: readers that look vectors up report
    /// that themselves) or one whose length is not the collection's.
    pub fn embedding(&mut self, e: Option<&LegacyEmbedding>, missing: Option<&str>, quirks: &mut Vec<Quirk>) {
        match (e, self.dimension) {
            (None, _) => {
                if let Some(detail) = missing {
                    quirks.push(Quirk::MissingEmbedding { detail: detail.into() });
                }
            }
            (Some(e), Some(d)) if e.len() != d => quirks.push(Quirk::DimensionMismatch { expected: d, found: e.len() }),
            (Some(e), None) if self.learn_dimension => self.dimension = Some(e.len()),
            _ => {}
        }
    }

    /// NUL bytes in the document.
    pub fn document(doc: Option<&str>, quirks: &mut Vec<Quirk>) {
        if doc.is_some_and(|d| d.contains('\0')) {
            quirks.push(Quirk::NulByte { field: "document".into() });
        }
    }
}

/// Quirks of a metadata map's values (shared by all readers).
pub fn value_quirks(meta: &LegacyMetadata, out: &mut Vec<Quirk>) {
    for (k, v) in meta {
        if k.is_empty() || k.contains('\0') {
            out.push(Quirk::OddKey { key: k.clone() });
        }
        match v {
            LegacyValue::List(_) | LegacyValue::Map(_) => out.push(Quirk::NestedValue { key: k.clone() }),
            LegacyValue::Float(f) if !f.is_finite() => out.push(Quirk::NonFiniteFloat { key: k.clone() }),
            LegacyValue::BigInt(_) => out.push(Quirk::IntBeyond64Bits { key: k.clone() }),
            LegacyValue::BrokenStr { .. } => out.push(Quirk::BrokenUnicode { key: k.clone() }),
            LegacyValue::Str(s) if s.contains('\0') => {
                out.push(Quirk::NulByte { field: format!("metadata value of {k:?}") });
            }
            _ => {}
        }
    }
}

/// Quirks of a metadata map as a reader got it (a server's JSON, `SQLite` rows): `{}` and
/// [`value_quirks`].
pub fn metadata_quirks(meta: &LegacyMetadata, quirks: &mut Vec<Quirk>) {
    if meta.is_empty() {
        quirks.push(Quirk::MetadataEmptyDict);
    }
    value_quirks(meta, quirks);
}

/// Parses a JSON metadata text as 0.3.x stored it, returning the map (or None) and quirks.
/// `is_collection`: the 4-char text `null` is the normal "no metadata" there.
pub fn parse_metadata_text(raw: &str, is_collection: bool, quirks: &mut Vec<Quirk>) -> Option<LegacyMetadata> {
    match parse_python_json(raw) {
        Ok(LegacyValue::Map(m)) => {
            metadata_quirks(&m, quirks);
            Some(m)
        }
        Ok(LegacyValue::Null) if is_collection => None,
        Ok(_) => {
            quirks.push(Quirk::MetadataNotAnObject { raw: raw.to_string() });
            None
        }
        Err(e) => {
            quirks.push(Quirk::MetadataMalformedJson { raw: raw.to_string(), error: e.to_string() });
            None
        }
    }
}

/// A 0.3.x metadata text (record or collection), parsed, with its quirks; bools are
/// reported too (0.3.27-0.3.29 refuse them, older 0.3.x stored them).
pub fn metadata_text_03(raw: Option<&str>, is_collection: bool, quirks: &mut Vec<Quirk>) -> Option<LegacyMetadata> {
    let m = parse_metadata_text(raw?, is_collection, quirks)?;
    for (k, v) in &m {
        if matches!(v, LegacyValue::Bool(_)) {
            quirks.push(Quirk::BoolValue { key: k.clone() });
        }
    }
    Some(m)
}

/// The `hnsw:space` of 0.3.x collection metadata (0.3.x's default `l2` when absent).
pub fn space_03(metadata: Option<&LegacyMetadata>) -> Option<String> {
    match metadata.and_then(|m| m.get("hnsw:space")) {
        Some(LegacyValue::Str(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
        None => Some("l2".to_string()),
    }
}

/// Which Chroma's collection-name rules a stored name is checked against: those of the
/// release that wrote the data, or for 0.3.x (which had none) of the release that
/// introduced them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRules {
    /// Chroma 0.4.x-0.6.x (3-63 characters; Python's `re` let a final newline through):
    /// [`chroma_types::validate::collection_name_v04`]. For 0.3.x data, which Chroma 0.4
    /// was the first to check.
    V04,
    /// Whatever a Chroma >= 0.4 store may hold: the 1.x rules or the 0.4-0.6 ones
    /// ([`chroma_types::validate::stored_collection_name`]). For >= 0.4 folders and servers.
    Stored,
}

/// Why `rules` reject a collection name, if they do (the validator's message).
pub fn name_rejection(name: &str, rules: NameRules) -> Option<String> {
    let checked = match rules {
        NameRules::V04 => chroma_types::validate::collection_name_v04(name),
        NameRules::Stored => chroma_types::validate::stored_collection_name(name),
    };
    checked.err().map(|e| e.message)
}

/// The name checks of a 0.3.x collection: the 0.4 rules ([`NameRules::V04`]: 0.3.x had none,
/// 0.4 was the first release to check) and a name used twice (`names`: those seen so far).
pub fn name_quirks_03<S: std::hash::BuildHasher>(
    name: &str,
    names: &mut std::collections::HashSet<String, S>,
    quirks: &mut Vec<Quirk>,
) {
    if let Some(reason) = name_rejection(name, NameRules::V04) {
        quirks.push(Quirk::NameRejectedByNewRules { reason });
    }
    if !names.insert(name.to_string()) {
        quirks.push(Quirk::Other(format!("collection name {name:?} used twice")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_are_chroma_types_rules() {
        // Chroma 0.4-0.6 checked with Python's `re`, whose `$` matches before a final newline.
        assert_eq!(name_rejection("abc\n", NameRules::V04), None);
        assert_eq!(name_rejection("abc\n", NameRules::Stored), None);
        assert!(name_rejection("ab", NameRules::V04).is_some());
        assert!(name_rejection("10.0.0.1", NameRules::V04).is_some());
        let long = "a".repeat(100);
        assert!(name_rejection(&long, NameRules::V04).is_some());
        assert_eq!(name_rejection(&long, NameRules::Stored), None);
    }

    #[test]
    fn record_checks() {
        let mut c = RecordChecks::new(None);
        let mut q = Vec::new();
        assert_eq!(c.id(None, || "row 0".into(), &mut q), "");
        assert_eq!(q, [Quirk::NullId]);
        q.clear();
        c.id(Some("a\0".into()), || "row 1".into(), &mut q);
        c.id(Some("a\0".into()), || "row 2".into(), &mut q);
        let dup = Quirk::DuplicateId { first_origin: "row 1".into() };
        assert_eq!(q, [Quirk::NulByte { field: "id".into() }, Quirk::NulByte { field: "id".into() }, dup]);
        q.clear();
        c.embedding(Some(&LegacyEmbedding::F32(vec![1.0, 2.0])), Some("none"), &mut q);
        c.embedding(Some(&LegacyEmbedding::F32(vec![1.0])), Some("none"), &mut q);
        c.embedding(None, Some("none"), &mut q);
        let missing = Quirk::MissingEmbedding { detail: "none".into() };
        assert_eq!(q, [Quirk::DimensionMismatch { expected: 2, found: 1 }, missing]);
        let mut fixed = RecordChecks::unique_ids(None);
        q.clear();
        fixed.id(Some("x".into()), String::new, &mut q);
        fixed.id(Some("x".into()), String::new, &mut q);
        fixed.embedding(Some(&LegacyEmbedding::F32(vec![1.0])), None, &mut q);
        fixed.embedding(Some(&LegacyEmbedding::F32(vec![1.0, 2.0])), None, &mut q);
        fixed.embedding(None, None, &mut q);
        assert!(q.is_empty(), "{q:?}");
    }
}
