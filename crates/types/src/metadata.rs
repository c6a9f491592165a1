//! Metadata values: the scalar types Chroma allows, plus the 1.x homogeneous arrays.
//!
//! JSON integers stay integers and JSON floats stay floats (`1` and `1.0` differ), as Chroma's
//! clients expect on read-back. Booleans are never numbers.
//!
//! # Numbers beyond `i64`: one rule
//!
//! An integer is an `i64`. A JSON number that is not an `i64` is read as the `f64` nearest to
//! it, a float: `9223372036854775808` (2^63), `18446744073709551616` (2^64) and
//! `100000000000000000000` become the floats `9.223372036854776e18`, `1.8446744073709552e19`
//! and `1e20`, exactly as if written with a decimal point. Negative zero is the float `0.0`:
//! `-0` and `-0.0` both read as `0.0` (`serde_json` hands both over as the float `-0.0`, so they
//! cannot be told apart once parsed). The rule is the same for a metadata value, every element of
//! a metadata list (a list with any non-`i64` number is a list of floats), and every filter
//! operand ([`crate::filter`]: `$eq`...`$lte`, `$in`/`$nin`, `$contains`), so a value written
//! can always be found with the same literal; it is applied by [`number`], which both modules
//! call.
//!
//! Why: Chroma 1.5.9 stores every such metadata value as that float (`{"k": 18446744073709551616}`
//! reads back as `1.8446744073709552e+19`, `{"k": -0}` as `0.0`, `[1, 9223372036854775808]` as
//! `[1.0, 9.223372036854776e+18]`), and the JSON parser has already turned every integer from 2^64
//! on into a float before any check could refuse it, so refusing only 2^63..2^64 would be a
//! second rule. (Chroma 0.4.24 dropped such metadata silently, and answered a filter on one with
//! a 500 `OverflowError`; 1.5.9 refuses a filter operand from 2^63 to 2^64-1 with
//! `Invalid where clause` but takes 2^64 as a float.) A JSON number too large for an `f64`
//! (`1e400`) is refused by the JSON parser itself.

use crate::error::{Error, Result};
use crate::sparse::SparseVector;
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
    /// 1.x: a sparse vector (`{"#type": "sparse_vector", ...}` on the wire); searchable with a
    /// sparse `Knn`, never matched by a `where` filter. Boxed: it is three times the size of
    /// the other variants, and every metadata value would pay for it.
    Sparse(Box<SparseVector>),
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
            MetadataValue::Sparse(_) => "sparse vector",
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
            MetadataValue::Sparse(v) => v.to_json(),
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
            Value::Object(_) if SparseVector::is_tagged(v) => {
                SparseVector::from_json(&format!("metadata key '{key}'"), v).map(|s| MetadataValue::Sparse(Box::new(s)))
            }
            Value::Object(_) => Err(Error::invalid(format!(
                "Expected metadata value for key '{key}' to be a str, int, float, bool or list, got a dict"
            ))),
        }
    }
}

fn float_json(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A JSON number read by the module's rule: an `i64` stays an integer (`Ok(Ok(i))`), any other
/// number is the nearest float with negative zero as `0.0` (`Ok(Err(f))`); `None` for a number
/// with no finite `f64` (which `serde_json` never produces).
pub fn number(n: &serde_json::Number) -> Option<std::result::Result<i64, f64>> {
    if let Some(i) = n.as_i64() {
        return Some(Ok(i));
    }
    // `as_f64` is `Some` for every number `serde_json` makes: u64 beyond i64 rounds to nearest.
    n.as_f64().filter(|f| f.is_finite()).map(|f| Err(normalize_float(f)))
}

/// Negative zero as `0.0` (the one float rule for values and operands); any other float as is.
pub fn normalize_float(f: f64) -> f64 {
    if f == 0.0 {
        0.0
    } else {
        f
    }
}

fn number_value(key: &str, n: &serde_json::Number) -> Result<MetadataValue> {
    match number(n) {
        Some(Ok(i)) => Ok(MetadataValue::Int(i)),
        Some(Err(f)) => Ok(MetadataValue::Float(f)),
        None => Err(Error::invalid(format!("Metadata value for key '{key}' is not a finite number: {n}"))),
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
                Value::Number(n) => match number(n) {
                    // An integer in a list with a non-i64 number: a float, as in `[1, 1.5]`.
                    Some(Ok(i)) => Ok(i as f64),
                    Some(Err(f)) => Ok(f),
                    None => Err(mixed()),
                },
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
        assert!(metadata_from_json(&json!([1])).is_err());
        assert!(
            metadata_from_json(&json!({"a": {"#type": "sparse_vector", "indices": [2, 1], "values": [1, 1]}})).is_err()
        );
    }

    #[test]
    fn sparse_vectors_are_values() {
        let v = json!({"s": {"#type": "sparse_vector", "indices": [0, 4], "values": [0.25, 1.5]}, "n": 1});
        let m = metadata_from_json(&v).unwrap();
        assert!(matches!(&m["s"], MetadataValue::Sparse(s) if s.indices == vec![0, 4]));
        assert_eq!(metadata_to_json(&m), v);
    }

    /// The one rule for numbers beyond i64, on literal JSON text as the server receives it:
    /// the floats Chroma 1.5.9 reads back for the same requests.
    #[test]
    fn integers_beyond_i64_are_the_nearest_float() {
        let read = |text: &str| {
            let v: Value = serde_json::from_str(&format!("{{\"k\": {text}}}")).unwrap();
            metadata_from_json(&v).unwrap().remove("k").unwrap()
        };
        assert_eq!(read("9223372036854775807"), MetadataValue::Int(i64::MAX));
        assert_eq!(read("-9223372036854775808"), MetadataValue::Int(i64::MIN));
        assert_eq!(read("9223372036854775808"), MetadataValue::Float(9.223_372_036_854_776e18));
        assert_eq!(read("-9223372036854775809"), MetadataValue::Float(-9.223_372_036_854_776e18));
        assert_eq!(read("18446744073709551615"), MetadataValue::Float(1.844_674_407_370_955_2e19));
        assert_eq!(read("18446744073709551616"), MetadataValue::Float(1.844_674_407_370_955_2e19));
        assert_eq!(read("100000000000000000000"), MetadataValue::Float(1e20));
        assert_eq!(read("1e20"), MetadataValue::Float(1e20));
        // -0 and -0.0: the float 0.0, with a positive sign (1.5.9 reads back `0.0` for both).
        for zero in ["-0", "-0.0", "0.0"] {
            let MetadataValue::Float(f) = read(zero) else { panic!("{zero}") };
            assert!(f == 0.0 && f.is_sign_positive(), "{zero}");
        }
        assert_eq!(read("0"), MetadataValue::Int(0));
        assert_eq!(read("[1, 9223372036854775808]"), MetadataValue::FloatArray(vec![1.0, 9.223_372_036_854_776e18]));
        assert_eq!(read("[18446744073709551616, 1]"), MetadataValue::FloatArray(vec![1.844_674_407_370_955_2e19, 1.0]));
        let MetadataValue::FloatArray(zeros) = read("[-0, 2]") else { panic!() };
        assert!(zeros[0].is_sign_positive());
        assert_eq!(read("[1, -9223372036854775808]"), MetadataValue::IntArray(vec![1, i64::MIN]));
        // The same on update metadata and through serde.
        let v: Value = serde_json::from_str(r#"{"k": 18446744073709551615}"#).unwrap();
        assert_eq!(update_metadata_from_json(&v).unwrap()["k"], Some(MetadataValue::Float(1.844_674_407_370_955_2e19)));
        let m: MetadataValue = serde_json::from_str("9223372036854775808").unwrap();
        assert_eq!(m, MetadataValue::Float(9.223_372_036_854_776e18));
        assert_eq!(
            metadata_to_json(&metadata_from_json(&json!({"k": u64::MAX})).unwrap()),
            json!({"k": 1.844_674_407_370_955_2e19})
        );
        // Too large for any float: the JSON parser refuses it first.
        assert!(serde_json::from_str::<Value>(r#"{"k": 1e400}"#).is_err());
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
