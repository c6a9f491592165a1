//! Index configuration of a collection: distance space and HNSW parameters.
//!
//! Two spellings reach us: legacy `hnsw:*` keys in collection metadata (every client line) and
//! a 1.x `configuration` object (`{"hnsw": {"space": ..., "ef_search": ...}}`, or the 0.5.x
//! `{"hnsw_configuration": {...}}`). Both are parsed into one [`IndexConfig`]; unknown
//! `hnsw:` keys and bad values are errors, as in Chroma.

use crate::error::{Error, Result};
use crate::metadata::{Metadata, MetadataValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// Distance function of a collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Space {
    /// Squared Euclidean distance.
    #[default]
    L2,
    /// `1 - dot(a, b)`.
    Ip,
    /// `1 - cos(a, b)`.
    Cosine,
}

impl Space {
    /// The space as Chroma names it (`"l2"`, `"ip"`, `"cosine"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Space::L2 => "l2",
            Space::Ip => "ip",
            Space::Cosine => "cosine",
        }
    }
    /// The space named `s`, if it is one.
    pub fn parse(s: &str) -> Option<Space> {
        match s {
            "l2" => Some(Space::L2),
            "ip" => Some(Space::Ip),
            "cosine" => Some(Space::Cosine),
            _ => None,
        }
    }
}

/// HNSW parameters and distance space of one collection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexConfig {
    /// The distance function.
    pub space: Space,
    /// `hnsw:M` / `max_neighbors`.
    pub m: usize,
    /// `hnsw:construction_ef` / `ef_construction`.
    pub ef_construction: usize,
    /// `hnsw:search_ef` / `ef_search`. Default 100 as in 1.x (0.4.x used 10, recall ~0.65).
    pub ef_search: usize,
    /// `hnsw:num_threads`; 0 = all cores.
    pub num_threads: usize,
    /// `hnsw:resize_factor`: accepted for compatibility (the index grows as needed).
    pub resize_factor: f64,
    /// Accepted for compatibility; chroma-rs indexes every write at once.
    pub batch_size: usize,
    /// Accepted for compatibility; see docs/design.md for when the graph file is saved.
    pub sync_threshold: usize,
    /// 1.x: the client-side embedding function's description (`{"type", "name", "config"}`),
    /// kept and given back so clients re-create it; chroma-rs never runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_function: Option<Value>,
    /// 1.x schema entries for metadata keys (`keys` minus `#document` / `#embedding`), as the
    /// client sent them. A disabled inverted index makes filtering on that key an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_keys: Option<serde_json::Map<String, Value>>,
    /// 1.x: the schema disabled the full-text index of `#document`; document filters are then
    /// refused, as by Chroma.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fts_disabled: bool,
    /// 1.x: value types (`string`, `int`, `float`, `bool`) whose inverted index the schema's
    /// `defaults` disabled. Keys discovered in written metadata inherit it (see
    /// [`IndexConfig::discover_keys`]), so filtering on them is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default_index_off: Vec<String>,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            space: Space::L2,
            m: 16,
            ef_construction: 100,
            ef_search: 100,
            num_threads: 0,
            resize_factor: 1.2,
            batch_size: 100,
            sync_threshold: 1000,
            embedding_function: None,
            schema_keys: None,
            fts_disabled: false,
            default_index_off: Vec::new(),
        }
    }
}

const HNSW_KEYS: &[&str] = &[
    "hnsw:space",
    "hnsw:M",
    "hnsw:construction_ef",
    "hnsw:search_ef",
    "hnsw:num_threads",
    "hnsw:resize_factor",
    "hnsw:batch_size",
    "hnsw:sync_threshold",
];

fn bad_value(key: &str, v: impl std::fmt::Display) -> Error {
    Error::invalid(format!("Invalid value for HNSW parameter: {key} = {v}"))
}

fn positive_int(key: &str, v: &MetadataValue, min: i64) -> Result<usize> {
    match v {
        MetadataValue::Int(i) if *i >= min && *i <= 1_000_000 => Ok(*i as usize),
        MetadataValue::Int(i) => Err(bad_value(key, i)),
        other => Err(bad_value(key, other.to_json())),
    }
}

impl IndexConfig {
    /// Reads `hnsw:*` keys from collection metadata on top of `self`.
    pub fn apply_metadata(mut self, metadata: Option<&Metadata>) -> Result<Self> {
        let Some(md) = metadata else { return Ok(self) };
        for (key, v) in md.iter().filter(|(k, _)| k.starts_with("hnsw:")) {
            match key.as_str() {
                "hnsw:space" => {
                    self.space = match v {
                        MetadataValue::Str(s) => Space::parse(s).ok_or_else(|| bad_value(key, s))?,
                        other => return Err(bad_value(key, other.to_json())),
                    }
                }
                "hnsw:M" => self.m = positive_int(key, v, 2)?,
                "hnsw:construction_ef" => self.ef_construction = positive_int(key, v, 1)?,
                "hnsw:search_ef" => self.ef_search = positive_int(key, v, 1)?,
                "hnsw:num_threads" => self.num_threads = positive_int(key, v, 1)?,
                "hnsw:batch_size" => self.batch_size = positive_int(key, v, 3)?,
                "hnsw:sync_threshold" => self.sync_threshold = positive_int(key, v, 3)?,
                "hnsw:resize_factor" => {
                    self.resize_factor = match v {
                        MetadataValue::Int(i) if *i >= 1 => *i as f64,
                        MetadataValue::Float(f) if *f >= 1.0 && f.is_finite() => *f,
                        other => return Err(bad_value(key, other.to_json())),
                    }
                }
                _ => return Err(Error::invalid(format!("Unknown HNSW parameter: {key}"))),
            }
        }
        Ok(self)
    }

    /// Reads a 1.x (`{"hnsw": {...}}`) or 0.5.x (`{"hnsw_configuration": {...}}`)
    /// configuration object on top of `self`. `null` changes nothing.
    pub fn apply_configuration(mut self, configuration: Option<&Value>) -> Result<Self> {
        let Some(cfg) = configuration else { return Ok(self) };
        if cfg.is_null() {
            return Ok(self);
        }
        let Value::Object(map) = cfg else {
            return Err(Error::invalid(format!("Expected configuration to be an object, got {cfg}")));
        };
        if let Some(ef) = map.get("embedding_function").filter(|e| !e.is_null()) {
            if !ef.is_object() {
                return Err(Error::invalid(format!("Expected embedding_function to be an object, got {ef}")));
            }
            self.embedding_function = Some(ef.clone());
        }
        // chroma-rs's own v2 answers carry both forms; the 0.5.x one is the complete one.
        let hnsw = map.get("hnsw_configuration").or_else(|| map.get("hnsw"));
        if let Some(spann) = map.get("spann").filter(|s| !s.is_null()) {
            // A local Chroma 1.x builds an HNSW index for a SPANN configuration, keeping only
            // its space; chroma-rs does the same.
            if hnsw.is_some_and(|h| !h.is_null()) {
                return Err(Error::invalid("Multiple vector index configurations provided"));
            }
            let Value::Object(sp) = spann else {
                return Err(Error::invalid(format!("Expected spann configuration to be an object, got {spann}")));
            };
            if let Some(space) = sp.get("space").filter(|x| !x.is_null()) {
                self.space = space
                    .as_str()
                    .and_then(Space::parse)
                    .ok_or_else(|| Error::invalid(format!("Invalid value for SPANN configuration space: {space}")))?;
            }
            return Ok(self);
        }
        let Some(hnsw) = hnsw else { return Ok(self) };
        if hnsw.is_null() {
            return Ok(self);
        }
        let Value::Object(h) = hnsw else {
            return Err(Error::invalid(format!("Expected hnsw configuration to be an object, got {hnsw}")));
        };
        for (key, v) in h {
            let int = |min: u64| -> Result<usize> {
                v.as_u64()
                    .filter(|i| *i >= min && *i <= 1_000_000)
                    .map(|i| i as usize)
                    .ok_or_else(|| Error::invalid(format!("Invalid value for HNSW configuration {key}: {v}")))
            };
            match key.as_str() {
                "_type" => {}
                "space" => {
                    self.space = v
                        .as_str()
                        .and_then(Space::parse)
                        .ok_or_else(|| Error::invalid(format!("Invalid value for HNSW configuration space: {v}")))?;
                }
                "M" | "max_neighbors" => self.m = int(2)?,
                "ef_construction" => self.ef_construction = int(1)?,
                "ef_search" => self.ef_search = int(1)?,
                "num_threads" => self.num_threads = int(1)?,
                "batch_size" => self.batch_size = int(3)?,
                "sync_threshold" => self.sync_threshold = int(3)?,
                "resize_factor" => {
                    self.resize_factor = v.as_f64().filter(|f| *f >= 1.0 && f.is_finite()).ok_or_else(|| {
                        Error::invalid(format!("Invalid value for HNSW configuration resize_factor: {v}"))
                    })?;
                }
                _ => return Err(Error::invalid(format!("Unknown HNSW configuration parameter: {key}"))),
            }
        }
        Ok(self)
    }

    /// Reads a 1.x collection `schema` on top of `self`: the vector index's space and
    /// embedding function (an embedding function given in both the configuration and the
    /// schema must be the same one), and the entries for metadata keys, a sparse vector index
    /// among them (checked as distributed Chroma checks it: on one metadata key only, its
    /// `source_key` `#document` or a metadata key). `null` changes nothing.
    pub fn apply_schema(mut self, schema: Option<&Value>, configured_ef: Option<&Value>) -> Result<Self> {
        let Some(schema) = schema.filter(|s| !s.is_null()) else { return Ok(self) };
        let Value::Object(s) = schema else {
            return Err(Error::invalid(format!("Expected schema to be an object, got {schema}")));
        };
        let keys = s.get("keys").and_then(Value::as_object).cloned().unwrap_or_default();
        check_schema_keys(&keys, s.get("defaults"))?;
        let vector = keys
            .get("#embedding")
            .and_then(|e| e.pointer("/float_list/vector_index/config"))
            .or_else(|| s.get("defaults").and_then(|d| d.pointer("/float_list/vector_index/config")));
        if let Some(v) = vector {
            // Clients send a full schema with defaults filled in (space l2, the "default"
            // embedding function) next to the configuration: a schema value that is only the
            // default does not override what the configuration says.
            if let Some(space) = v.get("space").filter(|x| !x.is_null()) {
                let space = space
                    .as_str()
                    .and_then(Space::parse)
                    .ok_or_else(|| Error::invalid(format!("Invalid space in schema: {space}")))?;
                if space != Space::L2 {
                    self.space = space;
                }
            }
            if let Some(h) = v.get("hnsw").filter(|h| !h.is_null()) {
                self = self.apply_schema_hnsw(h)?;
            }
            if let Some(ef) = v.get("embedding_function").filter(|e| e.is_object()) {
                let is_default = |e: &Value| e.get("name").and_then(Value::as_str) == Some("default");
                if let Some(conf) = configured_ef.filter(|c| c.is_object()) {
                    if conf != ef && !is_default(conf) && !is_default(ef) {
                        return Err(Error::invalid(
                            "The embedding function in the schema conflicts with the one in the configuration: give it in one place",
                        ));
                    }
                    if is_default(ef) && !is_default(conf) {
                        self.embedding_function = Some(conf.clone());
                    } else {
                        self.embedding_function = Some(ef.clone());
                    }
                } else {
                    self.embedding_function = Some(ef.clone());
                }
            }
        }
        self.fts_disabled =
            keys.get("#document").and_then(|d| d.pointer("/string/fts_index/enabled")) == Some(&Value::Bool(false));
        if let Some(defaults) = s.get("defaults") {
            self.default_index_off = INVERTED_TYPES
                .iter()
                .filter(|t| defaults.pointer(&format!("/{t}/{t}_inverted_index/enabled")) == Some(&Value::Bool(false)))
                .map(|t| (*t).to_string())
                .collect();
        }
        let own: serde_json::Map<String, Value> = keys.into_iter().filter(|(k, _)| !k.starts_with('#')).collect();
        if !own.is_empty() {
            self.schema_keys = Some(own);
        }
        Ok(self)
    }

    /// Whether the schema declares `key`'s sparse vector index as BM25 (`bm25: true` in its
    /// `SparseVectorIndexConfig`): its sparse searches then weigh each query term by its IDF.
    pub fn sparse_bm25(&self, key: &str) -> bool {
        self.schema_keys
            .as_ref()
            .and_then(|k| k.get(key))
            .and_then(|e| e.pointer("/sparse_vector/sparse_vector_index/config/bm25"))
            .and_then(Value::as_bool)
            == Some(true)
    }

    /// The `hnsw` object of a 1.x schema's vector index (`HnswIndexConfig`: every field
    /// optional, `null` meaning the default).
    fn apply_schema_hnsw(mut self, h: &Value) -> Result<Self> {
        let Value::Object(h) = h else {
            return Err(Error::invalid(format!("Expected hnsw index config to be an object, got {h}")));
        };
        for (key, v) in h.iter().filter(|(_, v)| !v.is_null()) {
            let int = |min: u64| -> Result<usize> {
                v.as_u64()
                    .filter(|i| *i >= min && *i <= 1_000_000)
                    .map(|i| i as usize)
                    .ok_or_else(|| Error::invalid(format!("Invalid value for HNSW index config {key}: {v}")))
            };
            match key.as_str() {
                "max_neighbors" => self.m = int(2)?,
                "ef_construction" => self.ef_construction = int(1)?,
                "ef_search" => self.ef_search = int(1)?,
                "num_threads" => self.num_threads = int(1)?,
                "batch_size" => self.batch_size = int(2)?,
                "sync_threshold" => self.sync_threshold = int(2)?,
                "resize_factor" => {
                    self.resize_factor = v.as_f64().filter(|f| *f >= 1.0 && f.is_finite()).ok_or_else(|| {
                        Error::invalid(format!("Invalid value for HNSW index config resize_factor: {v}"))
                    })?;
                }
                _ => return Err(Error::invalid(format!("Unknown HNSW index config parameter: {key}"))),
            }
        }
        Ok(self)
    }

    /// Metadata keys whose inverted index the schema disabled: filtering on them is an error.
    pub fn unfilterable_key<'a>(&self, mut keys: impl Iterator<Item = &'a str>) -> Option<&'a str> {
        let entries = self.schema_keys.as_ref()?;
        keys.find(|k| {
            entries.get(*k).and_then(Value::as_object).is_some_and(|types| {
                types.values().any(|t| {
                    t.as_object().is_some_and(|idx| {
                        idx.iter().any(|(name, i)| {
                            name.ends_with("_inverted_index") && i.get("enabled") == Some(&Value::Bool(false))
                        })
                    })
                })
            })
        })
    }

    /// Adds to the schema's keys the metadata keys (and value types) of `metadata` that it does
    /// not list yet, as Chroma's schema discovers them from written records: each gets an
    /// inverted index of its value type, enabled unless the schema's defaults disabled that
    /// type. Returns whether anything was added. Sparse vectors are left out: their index is
    /// declared in the schema, never discovered.
    pub fn discover_keys(&mut self, metadata: &Metadata) -> bool {
        let mut added = false;
        for (key, value) in metadata {
            let Some(kind) = inverted_type(value) else { continue };
            if key.starts_with('#') || self.knows_key(key, kind) {
                continue;
            }
            let enabled = !self.default_index_off.iter().any(|t| t == kind);
            let keys = self.schema_keys.get_or_insert_with(serde_json::Map::new);
            let entry = keys.entry(key.clone()).or_insert_with(|| json!({}));
            if let Value::Object(types) = entry {
                types.insert(
                    kind.to_string(),
                    json!({ format!("{kind}_inverted_index"): {"enabled": enabled, "config": {}} }),
                );
                added = true;
            }
        }
        added
    }

    /// This configuration with the keys of every metadata in `metadatas` discovered (see
    /// [`IndexConfig::discover_keys`]), or `None` when it lists them all already: the common
    /// case costs no copy.
    pub fn with_discovered_keys<'a>(&self, metadatas: impl IntoIterator<Item = &'a Metadata>) -> Option<IndexConfig> {
        let mut out: Option<IndexConfig> = None;
        for md in metadatas {
            match &mut out {
                Some(c) => {
                    c.discover_keys(md);
                }
                None if !self.knows_keys(md) => {
                    let mut c = self.clone();
                    c.discover_keys(md);
                    out = Some(c);
                }
                None => {}
            }
        }
        out
    }

    /// Whether [`IndexConfig::discover_keys`] would add nothing for `metadata`.
    pub fn knows_keys(&self, metadata: &Metadata) -> bool {
        metadata.iter().all(|(key, value)| {
            key.starts_with('#') || inverted_type(value).is_none_or(|kind| self.knows_key(key, kind))
        })
    }

    fn knows_key(&self, key: &str, kind: &str) -> bool {
        self.schema_keys.as_ref().and_then(|k| k.get(key)).is_some_and(|e| e.get(kind).is_some() || !e.is_object())
    }

    /// Is this metadata key one of the reserved `hnsw:` parameters?
    pub fn is_hnsw_key(key: &str) -> bool {
        HNSW_KEYS.contains(&key)
    }

    /// The 1.x `configuration_json` form.
    pub fn to_v1x_json(&self) -> Value {
        json!({
            "hnsw": {
                "space": self.space.as_str(),
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
                "max_neighbors": self.m,
                "resize_factor": self.resize_factor,
                "sync_threshold": self.sync_threshold,
            },
            "spann": null,
            "embedding_function": self.embedding_function.clone().unwrap_or(Value::Null),
        })
    }

    /// The 0.5.x `configuration_json` form (with `_type` keys), which 1.x clients accept too.
    pub fn to_v05_json(&self) -> Value {
        json!({
            "hnsw_configuration": {
                "space": self.space.as_str(),
                "ef_construction": self.ef_construction,
                "ef_search": self.ef_search,
                "num_threads": if self.num_threads == 0 { 2 } else { self.num_threads },
                "M": self.m,
                "resize_factor": self.resize_factor,
                "batch_size": self.batch_size,
                "sync_threshold": self.sync_threshold,
                "_type": "HNSWConfigurationInternal",
            },
            "_type": "CollectionConfigurationInternal",
        })
    }

    /// The collection `schema` a 1.x server reports (its default schema: documents full-text
    /// indexed, metadata values inverted-indexed, one HNSW vector index), derived from this
    /// configuration so that a change of `ef_search` etc. shows in it. chroma-rs indexes every
    /// metadata type and every document; the schema describes that, it does not configure it.
    pub fn to_schema_json(&self) -> Value {
        let hnsw = json!({
            "ef_construction": self.ef_construction,
            "max_neighbors": self.m,
            "ef_search": self.ef_search,
            "num_threads": if self.num_threads == 0 { 2 } else { self.num_threads },
            "batch_size": self.batch_size,
            "sync_threshold": self.sync_threshold,
            "resize_factor": self.resize_factor,
        });
        let on = |b: bool| json!({"enabled": b, "config": {}});
        let mut vector = json!({"space": self.space.as_str(), "hnsw": hnsw});
        if let (Some(ef), Some(v)) = (&self.embedding_function, vector.as_object_mut()) {
            v.insert("embedding_function".into(), ef.clone());
        }
        let mut keyed = vector.clone();
        if let Some(v) = keyed.as_object_mut() {
            v.insert("source_key".into(), json!("#document"));
        }
        let inverted = |t: &str| on(!self.default_index_off.iter().any(|x| x == t));
        let mut schema = json!({
            "defaults": {
                "string": {"fts_index": on(false), "string_inverted_index": inverted("string")},
                "float_list": {"vector_index": {"enabled": false, "config": vector}},
                "sparse_vector": {"sparse_vector_index": {"enabled": false, "config": {"embedding_function": {"type": "unknown"}, "bm25": false}}},
                "int": {"int_inverted_index": inverted("int")},
                "float": {"float_inverted_index": inverted("float")},
                "bool": {"bool_inverted_index": inverted("bool")},
            },
            "keys": {
                "#document": {"string": {"fts_index": on(!self.fts_disabled), "string_inverted_index": on(false)}},
                "#embedding": {"float_list": {"vector_index": {"enabled": true, "config": keyed}}},
            },
        });
        if let (Some(own), Some(keys)) = (&self.schema_keys, schema.pointer_mut("/keys").and_then(Value::as_object_mut))
        {
            for (k, v) in own {
                keys.insert(k.clone(), v.clone());
            }
        }
        schema
    }
}

/// The value types a schema gives an inverted index.
const INVERTED_TYPES: [&str; 4] = ["string", "int", "float", "bool"];

/// The schema value type of a metadata value's inverted index (arrays: their elements' type).
fn inverted_type(value: &MetadataValue) -> Option<&'static str> {
    match value {
        MetadataValue::Str(_) | MetadataValue::StrArray(_) => Some("string"),
        MetadataValue::Int(_) | MetadataValue::IntArray(_) => Some("int"),
        MetadataValue::Float(_) | MetadataValue::FloatArray(_) => Some("float"),
        MetadataValue::Bool(_) | MetadataValue::BoolArray(_) => Some("bool"),
        MetadataValue::Sparse(_) => None,
    }
}

/// The checks distributed Chroma makes on a schema's keys: `#` keys other than `#document` and
/// `#embedding` are reserved; a sparse vector index sits on one metadata key (not in the
/// defaults, at most one per collection) and its `source_key` is `#document` or a metadata key.
fn check_schema_keys(keys: &serde_json::Map<String, Value>, defaults: Option<&Value>) -> Result<()> {
    let sparse_on = |entry: &Value| {
        entry.pointer("/sparse_vector/sparse_vector_index/enabled").and_then(Value::as_bool) == Some(true)
    };
    if defaults.is_some_and(sparse_on) {
        return Err(Error::invalid(
            "A sparse vector index cannot be enabled in the schema defaults: create it on one metadata key",
        ));
    }
    let mut sparse_keys = Vec::new();
    for (key, entry) in keys {
        if key.starts_with('#') && key != "#document" && key != "#embedding" {
            return Err(Error::invalid(format!(
                "Invalid key '{key}' in schema: keys starting with '#' are reserved (#document, #embedding)"
            )));
        }
        if !sparse_on(entry) {
            continue;
        }
        if key.starts_with('#') {
            return Err(Error::invalid(format!("A sparse vector index cannot be created on the special key '{key}'")));
        }
        let config = entry.pointer("/sparse_vector/sparse_vector_index/config");
        match config.and_then(|c| c.get("source_key")) {
            None | Some(Value::Null) => {}
            Some(Value::String(src)) if src == "#document" || (!src.is_empty() && !src.starts_with('#')) => {}
            Some(other) => {
                return Err(Error::invalid(format!(
                    "Invalid source_key {other} for the sparse vector index on '{key}': it must be #document or a metadata key"
                )))
            }
        }
        if let Some(b) = config.and_then(|c| c.get("bm25")).filter(|b| !b.is_null() && !b.is_boolean()) {
            return Err(Error::invalid(format!(
                "Invalid bm25 {b} for the sparse vector index on '{key}': expected a boolean"
            )));
        }
        sparse_keys.push(key.as_str());
    }
    if sparse_keys.len() > 1 {
        return Err(Error::invalid(format!(
            "Only one sparse vector index is allowed per collection, the schema enables {}: {}",
            sparse_keys.len(),
            sparse_keys.join(", ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::metadata_from_json;

    #[test]
    fn metadata_keys() {
        let md =
            metadata_from_json(&json!({"hnsw:space": "cosine", "hnsw:M": 32, "hnsw:search_ef": 50, "x": 1})).unwrap();
        let c = IndexConfig::default().apply_metadata(Some(&md)).unwrap();
        assert_eq!((c.space, c.m, c.ef_search), (Space::Cosine, 32, 50));
        let bad = metadata_from_json(&json!({"hnsw:foo": 1})).unwrap();
        assert_eq!(
            IndexConfig::default().apply_metadata(Some(&bad)).unwrap_err().message,
            "Unknown HNSW parameter: hnsw:foo"
        );
        let bad = metadata_from_json(&json!({"hnsw:M": "x"})).unwrap();
        assert!(IndexConfig::default().apply_metadata(Some(&bad)).unwrap_err().message.contains("hnsw:M"));
        let bad = metadata_from_json(&json!({"hnsw:space": "hamming"})).unwrap();
        assert!(IndexConfig::default().apply_metadata(Some(&bad)).is_err());
    }

    #[test]
    fn configuration_forms() {
        let c = IndexConfig::default()
            .apply_configuration(Some(&json!({"hnsw": {"space": "ip", "ef_search": 7}})))
            .unwrap();
        assert_eq!((c.space, c.ef_search), (Space::Ip, 7));
        let c = IndexConfig::default().apply_configuration(Some(&c.to_v05_json())).unwrap();
        assert_eq!((c.space, c.ef_search), (Space::Ip, 7));
        assert!(IndexConfig::default().apply_configuration(Some(&json!({"hnsw": {"bogus": 1}}))).is_err());
    }

    #[test]
    fn spann_is_served_by_hnsw() {
        // As a local Chroma 1.5.9: SPANN parameters are dropped, the space is kept.
        let c = IndexConfig::default()
            .apply_configuration(Some(&json!({"spann": {"search_nprobe": 64, "ef_search": 200}})))
            .unwrap();
        assert_eq!(c, IndexConfig::default());
        let c = IndexConfig::default().apply_configuration(Some(&json!({"spann": {"space": "cosine"}}))).unwrap();
        assert_eq!(c.space, Space::Cosine);
        let both = json!({"spann": {"space": "cosine"}, "hnsw": {"ef_search": 9}});
        let e = IndexConfig::default().apply_configuration(Some(&both)).unwrap_err();
        assert_eq!(e.message, "Multiple vector index configurations provided");
        let c = IndexConfig::default()
            .apply_configuration(Some(&json!({"spann": null, "hnsw": {"ef_search": 9}})))
            .unwrap();
        assert_eq!(c.ef_search, 9);
    }

    #[test]
    fn discovered_keys_inherit_the_defaults() {
        let md = |pairs: Vec<(&str, MetadataValue)>| -> Metadata {
            pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        };
        let off = json!({"defaults": {"string": {"string_inverted_index": {"enabled": false, "config": {}}}},
            "keys": {"pinned": {"string": {"string_inverted_index": {"enabled": true, "config": {}}}}}});
        let mut c = IndexConfig::default().apply_schema(Some(&off), None).unwrap();
        assert_eq!(c.default_index_off, vec!["string".to_string()]);
        let first = md(vec![
            ("topic", MetadataValue::Str("a".into())),
            ("n", MetadataValue::Int(1)),
            ("pinned", MetadataValue::Str("x".into())),
        ]);
        assert!(!c.knows_keys(&first));
        assert!(c.discover_keys(&first));
        assert!(c.knows_keys(&first));
        assert!(!c.discover_keys(&first), "nothing new the second time");
        // `topic` inherits the disabled default; `n` (int) is on; the declared key is untouched
        assert_eq!(c.unfilterable_key(["n", "topic"].into_iter()), Some("topic"));
        assert_eq!(c.unfilterable_key(["n", "pinned"].into_iter()), None);
        // a second value type of a known key is added beside the first
        assert!(c.discover_keys(&md(vec![("n", MetadataValue::Float(1.5))])));
        let s = c.to_schema_json();
        assert_eq!(s.pointer("/keys/n/int/int_inverted_index/enabled"), Some(&json!(true)));
        assert_eq!(s.pointer("/keys/n/float/float_inverted_index/enabled"), Some(&json!(true)));
        assert_eq!(s.pointer("/keys/topic/string/string_inverted_index/enabled"), Some(&json!(false)));
        assert_eq!(s.pointer("/defaults/string/string_inverted_index/enabled"), Some(&json!(false)));
        assert_eq!(s.pointer("/defaults/int/int_inverted_index/enabled"), Some(&json!(true)));
        // sparse vectors and reserved keys are never discovered
        let sparse = crate::SparseVector::new(vec![1], vec![1.0], None).unwrap();
        assert!(!c.discover_keys(&md(vec![("sv", MetadataValue::Sparse(Box::new(sparse)))])));
        // the stored form keeps it all
        let back: IndexConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert_eq!(back.to_schema_json(), s);
    }

    #[test]
    fn schema_hnsw_and_fts() {
        let hnsw = json!({"ef_construction": 150, "max_neighbors": 32, "ef_search": 77, "num_threads": null,
            "batch_size": 50, "sync_threshold": 500, "resize_factor": 1.5});
        let schema = json!({"defaults": {"float_list": {"vector_index": {"config": {"hnsw": hnsw}}}},
            "keys": {"#document": {"string": {"fts_index": {"enabled": false, "config": {}}}}}});
        let c = IndexConfig::default().apply_schema(Some(&schema), None).unwrap();
        assert_eq!((c.ef_construction, c.m, c.ef_search, c.num_threads), (150, 32, 77, 0));
        assert_eq!((c.batch_size, c.sync_threshold, c.resize_factor), (50, 500, 1.5));
        assert!(c.fts_disabled);
        let v = c.to_v1x_json();
        assert_eq!(v["hnsw"]["max_neighbors"], 32);
        assert_eq!(v["hnsw"]["ef_search"], 77);
        let s = c.to_schema_json();
        assert_eq!(s.pointer("/keys/#embedding/float_list/vector_index/config/hnsw/max_neighbors"), Some(&json!(32)));
        assert_eq!(s.pointer("/defaults/float_list/vector_index/config/hnsw/ef_search"), Some(&json!(77)));
        assert_eq!(s.pointer("/keys/#document/string/fts_index/enabled"), Some(&json!(false)));
        let bad =
            json!({"keys": {"#embedding": {"float_list": {"vector_index": {"config": {"hnsw": {"ef_search": 0}}}}}}});
        assert!(IndexConfig::default().apply_schema(Some(&bad), None).is_err());
        let bad = json!({"keys": {"#embedding": {"float_list": {"vector_index": {"config": {"hnsw": {"bogus": 1}}}}}}});
        assert!(IndexConfig::default().apply_schema(Some(&bad), None).is_err());
        // the stored form keeps the flag; an old stored config without it reads as enabled
        let back: IndexConfig = serde_json::from_value(serde_json::to_value(&c).unwrap()).unwrap();
        assert!(back.fts_disabled);
        let old: IndexConfig = serde_json::from_value(serde_json::to_value(IndexConfig::default()).unwrap()).unwrap();
        assert!(!old.fts_disabled);
    }
}
