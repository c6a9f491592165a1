//! Metadata values: the scalar types Chroma allows, plus the 1.x homogeneous arrays.
//!
//! JSON integers stay integers and JSON floats stay floats (`1` and `1.0` differ), as Chroma's
//! clients expect on read-back. Booleans are never numbers.

use crate::error::{Error, Result};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    /// A string.
    Str(String),
    /// An integer (kept apart from floats).
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// 1.x: a list of strings.
    StrArray(Vec<String>),
    /// 1.x: a list of integers.
    IntArray(Vec<i64>),
    /// 1.x: a list of floats.
    FloatArray(Vec<f64>),
    /// 1.x: a list of booleans.
    BoolArray(Vec<bool>),
}

/// Record or collection metadata. `BTreeMap` keeps output deterministic.
pub type Metadata = BTreeMap<String, MetadataValue>;

/// Metadata in update/upsert, where `None` deletes the key.
pub type UpdateMetadata = BTreeMap<String, Option<MetadataValue>>;

impl MetadataValue {
    /// A 1.x array value.
    pub fn is_array(&self) -> bool {
        matches!(
            self,
            MetadataValue::StrArray(_)
                | MetadataValue::IntArray(_)
                | MetadataValue::FloatArray(_)
                | MetadataValue::BoolArray(_)
        )
    }

    /// A short name of the type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            MetadataValue::Str(_) => "str",
            MetadataValue::Int(_) => "int",
            MetadataValue::Float(_) => "float",
            MetadataValue::Bool(_) => "bool",
            MetadataValue::StrArray(_) => "list of str",
            MetadataValue::IntArray(_) => "list of int",
            MetadataValue::FloatArray(_) => "list of float",
            MetadataValue::BoolArray(_) => "list of bool",
        }
    }

    /// The value as JSON (floats stay floats: `1.0`, not `1`).
    pub fn to_json(&self) -> Value {
        match self {
            MetadataValue::Str(s) => Value::String(s.clone()),
            MetadataValue::Int(i) => Value::from(*i),
            MetadataValue::Float(f) => float_json(*f),
            MetadataValue::Bool(b) => Value::Bool(*b),
            MetadataValue::StrArray(v) => Value::Array(v.iter().map(|s| Value::String(s.clone())).collect()),
            MetadataValue::IntArray(v) => Value::Array(v.iter().map(|i| Value::from(*i)).collect()),
            MetadataValue::FloatArray(v) => Value::Array(v.iter().map(|f| float_json(*f)).collect()),
            MetadataValue::BoolArray(v) => Value::Array(v.iter().map(|b| Value::Bool(*b)).collect()),
        }
    }

    /// Converts one JSON value. `key` is only used in messages.
    pub fn from_json(key: &str, v: &Value) -> Result<Self> {
        match v {
            Value::String(s) => Ok(MetadataValue::Str(s.clone())),
            Value::Bool(b) => Ok(MetadataValue::Bool(*b)),
            Value::Number(n) => number_value(key, n),
            Value::Array(items) => array_value(key, items),
            Value::Null => Err(Error::invalid(format!(
                "Expected metadata value for key '{key}' to be a str, int, float, bool or list, got None"
            ))),
            Value::Object(_) => Err(Error::invalid(format!(
                "Expected metadata value for key '{key}' to be a str, int, float, bool or list, got a dict"
            ))),
        }
    }
}

fn float_json(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn number_value(key: &str, n: &serde_json::Number) -> Result<MetadataValue> {
    if let Some(i) = n.as_i64() {
        return Ok(MetadataValue::Int(i));
    }
    if n.is_u64() {
        return Err(Error::invalid(format!(
            "Metadata value for key '{key}' is an integer beyond the signed 64-bit range: {n}"
        )));
    }
    match n.as_f64() {
        Some(f) if f.is_finite() => Ok(MetadataValue::Float(f)),
        _ => Err(Error::invalid(format!("Metadata value for key '{key}' is not a finite number: {n}"))),
    }
}

fn array_value(key: &str, items: &[Value]) -> Result<MetadataValue> {
    let mixed = || {
        Error::invalid(format!(
            "Expected metadata list value for key '{key}' to contain only str, int, float, or bool and all elements must be the same type"
        ))
    };
    let Some(first) = items.first() else {
        return Err(Error::invalid(format!("Expected metadata list value for key '{key}' to be non-empty")));
    };
    match first {
        Value::String(_) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(mixed))
            .collect::<Result<Vec<_>>>()
            .map(MetadataValue::StrArray),
        Value::Bool(_) => items
            .iter()
            .map(|v| v.as_bool().ok_or_else(mixed))
            .collect::<Result<Vec<_>>>()
            .map(MetadataValue::BoolArray),
        Value::Number(n) if n.is_i64() && items.iter().all(|v| v.as_i64().is_some()) => {
            Ok(MetadataValue::IntArray(items.iter().filter_map(Value::as_i64).collect()))
        }
        Value::Number(_) => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_f64().filter(|f| f.is_finite()).ok_or_else(mixed),
                _ => Err(mixed()),
            })
            .collect::<Result<Vec<_>>>()
            .map(MetadataValue::FloatArray),
        _ => Err(mixed()),
    }
}

impl Serialize for MetadataValue {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MetadataValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        MetadataValue::from_json("?", &v).map_err(serde::de::Error::custom)
    }
}

/// Converts a JSON object into metadata (no nulls allowed).
pub fn metadata_from_json(v: &Value) -> Result<Metadata> {
    let Value::Object(map) = v else {
        return Err(Error::invalid(format!("Expected metadata to be a dict, got {v}")));
    };
    map.iter().map(|(k, v)| Ok((k.clone(), MetadataValue::from_json(k, v)?))).collect()
}

/// Converts a JSON object into update metadata (null deletes the key).
pub fn update_metadata_from_json(v: &Value) -> Result<UpdateMetadata> {
    let Value::Object(map) = v else {
        return Err(Error::invalid(format!("Expected metadata to be a dict, got {v}")));
    };
    map.iter()
        .map(|(k, v)| {
            let value = if v.is_null() { None } else { Some(MetadataValue::from_json(k, v)?) };
            Ok((k.clone(), value))
        })
        .collect()
}

/// Metadata as a JSON object.
pub fn metadata_to_json(m: &Metadata) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Update metadata as a JSON object (`null` for a deleted key).
pub fn update_metadata_to_json(m: &UpdateMetadata) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, MetadataValue::to_json))).collect())
}

/// Applies an update to existing metadata, key by key; `None` removes a key.
/// Returns `None` when nothing is left (Chroma reports such a record's metadata as null).
pub fn merge_metadata(base: Option<Metadata>, update: &UpdateMetadata) -> Option<Metadata> {
    let mut out = base.unwrap_or_default();
    for (k, v) in update {
        match v {
            Some(v) => {
                out.insert(k.clone(), v.clone());
            }
            None => {
                out.remove(k);
            }
        }
    }
    if out.is_empty() {
        None
    } else {
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ints_stay_ints_and_floats_stay_floats() {
        let m =
            metadata_from_json(&json!({"a": 1, "b": 1.0, "c": true, "d": "x", "e": [1, 2], "f": [1.5, 2]})).unwrap();
        assert_eq!(m["a"], MetadataValue::Int(1));
        assert_eq!(m["b"], MetadataValue::Float(1.0));
        assert_eq!(m["c"], MetadataValue::Bool(true));
        assert_eq!(m["e"], MetadataValue::IntArray(vec![1, 2]));
        assert_eq!(m["f"], MetadataValue::FloatArray(vec![1.5, 2.0]));
        assert_eq!(metadata_to_json(&m), json!({"a": 1, "b": 1.0, "c": true, "d": "x", "e": [1, 2], "f": [1.5, 2.0]}));
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(metadata_from_json(&json!({"a": null})).is_err());
        assert!(metadata_from_json(&json!({"a": {"b": 1}})).is_err());
        assert!(metadata_from_json(&json!({"a": []})).is_err());
        assert!(metadata_from_json(&json!({"a": [1, "x"]})).is_err());
        assert!(metadata_from_json(&json!({"a": 18_446_744_073_709_551_615_u64})).is_err());
        assert!(metadata_from_json(&json!([1])).is_err());
    }

    #[test]
    fn merge_deletes_and_sets() {
        let base = metadata_from_json(&json!({"a": 1, "b": 2})).unwrap();
        let upd = update_metadata_from_json(&json!({"a": null, "c": "x"})).unwrap();
        let merged = merge_metadata(Some(base), &upd).unwrap();
        assert_eq!(metadata_to_json(&merged), json!({"b": 2, "c": "x"}));
        let all_gone = update_metadata_from_json(&json!({"b": null, "c": null})).unwrap();
        assert_eq!(merge_metadata(Some(merged), &all_gone), None);
    }
}
