//! Sparse vectors: the 1.x `SparseVector` metadata value and the query of a sparse `Knn`.
//!
//! On the wire a sparse vector is a JSON object tagged `"#type": "sparse_vector"` with parallel
//! `indices` and `values` arrays and, optionally, `tokens` (the Python client's `labels`):
//! `{"#type": "sparse_vector", "indices": [1, 7], "values": [0.5, 2.0]}`. The indices are
//! non-negative integers in strictly ascending order (Chroma's client checks the same), the
//! values finite numbers. Values are kept as `f32`, as Chroma keeps them, and written back in
//! the shortest decimal form that reads as the same `f32`, so `123.456` sent is `123.456` read
//! back.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// The tag key of a typed metadata value.
pub const TYPE_KEY: &str = "#type";
/// The tag value of a sparse vector.
pub const SPARSE_VECTOR_TYPE: &str = "sparse_vector";

/// A sparse vector: parallel sorted `indices` and `values`, with optional `tokens`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVector {
    /// Dimension indices, strictly ascending.
    pub indices: Vec<u32>,
    /// The value at each index.
    pub values: Vec<f32>,
    /// Optional label of each index (the wire's `tokens`).
    pub tokens: Option<Vec<String>>,
}

impl SparseVector {
    /// A checked sparse vector.
    pub fn new(indices: Vec<u32>, values: Vec<f32>, tokens: Option<Vec<String>>) -> Result<SparseVector> {
        let v = SparseVector { indices, values, tokens };
        v.check("sparse vector")?;
        Ok(v)
    }

    /// Whether `v` is a JSON object tagged as a sparse vector.
    pub fn is_tagged(v: &Value) -> bool {
        v.get(TYPE_KEY).and_then(Value::as_str) == Some(SPARSE_VECTOR_TYPE)
    }

    fn check(&self, what: &str) -> Result<()> {
        if self.indices.len() != self.values.len() {
            return Err(Error::invalid(format!(
                "{what}: SparseVector indices and values must have the same length, got {} indices and {} values",
                self.indices.len(),
                self.values.len()
            )));
        }
        if let Some(t) = &self.tokens {
            if t.len() != self.indices.len() {
                return Err(Error::invalid(format!(
                    "{what}: SparseVector tokens must have the same length as indices, got {} tokens, {} indices",
                    t.len(),
                    self.indices.len()
                )));
            }
        }
        for (i, w) in self.indices.windows(2).enumerate() {
            if w[1] <= w[0] {
                return Err(Error::invalid(format!(
                    "{what}: SparseVector indices must be sorted in strictly ascending order, found indices[{}]={} <= indices[{i}]={}",
                    i + 1,
                    w[1],
                    w[0]
                )));
            }
        }
        if let Some(p) = self.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(format!(
                "{what}: SparseVector values must be finite, got a non-finite value at position {p}"
            )));
        }
        Ok(())
    }

    /// Reads the tagged JSON form; `what` names the value in messages (a metadata key, a query).
    pub fn from_json(what: &str, v: &Value) -> Result<SparseVector> {
        let Value::Object(map) = v else {
            return Err(Error::invalid(format!("{what}: expected a sparse vector object, got {v}")));
        };
        if !Self::is_tagged(v) {
            return Err(Error::invalid(format!(
                "{what}: expected {TYPE_KEY}='{SPARSE_VECTOR_TYPE}', got {}",
                map.get(TYPE_KEY).map_or_else(|| "None".to_string(), Value::to_string)
            )));
        }
        for k in map.keys() {
            if !matches!(k.as_str(), TYPE_KEY | "indices" | "values" | "tokens") {
                return Err(Error::invalid(format!("{what}: unexpected field '{k}' in a sparse vector")));
            }
        }
        let list = |field: &str| -> Result<&Vec<Value>> {
            match map.get(field) {
                Some(Value::Array(a)) => Ok(a),
                Some(other) => {
                    Err(Error::invalid(format!("{what}: expected SparseVector {field} to be a list, got {other}")))
                }
                None => Err(Error::invalid(format!("{what}: SparseVector requires '{field}'"))),
            }
        };
        let indices = list("indices")?
            .iter()
            .enumerate()
            .map(|(i, x)| {
                x.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
                    Error::invalid(format!(
                        "{what}: SparseVector indices must be integers from 0 to {}, got {x} at position {i}",
                        u32::MAX
                    ))
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        let values = list("values")?
            .iter()
            .enumerate()
            .map(|(i, x)| {
                let f = x.as_f64().filter(|_| x.is_number()).ok_or_else(|| {
                    Error::invalid(format!("{what}: SparseVector values must be numbers, got {x} at position {i}"))
                })?;
                // Beyond f32's range the value would become infinite: refuse it rather than store inf.
                let g = f as f32;
                if g.is_finite() {
                    Ok(g)
                } else {
                    Err(Error::invalid(format!(
                        "{what}: SparseVector value {x} at position {i} is out of range for a 32-bit float"
                    )))
                }
            })
            .collect::<Result<Vec<f32>>>()?;
        let tokens = match map.get("tokens") {
            None | Some(Value::Null) => None,
            Some(Value::Array(a)) => Some(
                a.iter()
                    .map(|t| {
                        t.as_str().map(str::to_string).ok_or_else(|| {
                            Error::invalid(format!("{what}: SparseVector tokens must be strings, got {t}"))
                        })
                    })
                    .collect::<Result<Vec<String>>>()?,
            ),
            Some(other) => {
                return Err(Error::invalid(format!("{what}: expected SparseVector tokens to be a list, got {other}")))
            }
        };
        let v = SparseVector { indices, values, tokens };
        v.check(what)?;
        Ok(v)
    }

    /// The tagged JSON form.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(TYPE_KEY.into(), Value::String(SPARSE_VECTOR_TYPE.into()));
        m.insert("indices".into(), Value::Array(self.indices.iter().map(|&i| Value::from(i)).collect()));
        m.insert("values".into(), Value::Array(self.values.iter().map(|&f| f32_json(f)).collect()));
        if let Some(t) = &self.tokens {
            m.insert("tokens".into(), Value::Array(t.iter().map(|s| Value::String(s.clone())).collect()));
        }
        Value::Object(m)
    }

    /// The inner product with another sparse vector (both sorted: one merge pass).
    pub fn dot(&self, other: &SparseVector) -> f32 {
        let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
        while i < self.indices.len() && j < other.indices.len() {
            match self.indices[i].cmp(&other.indices[j]) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    sum += self.values[i] * other.values[j];
                    i += 1;
                    j += 1;
                }
            }
        }
        sum
    }
}

/// An `f32` as the JSON number with its shortest decimal form (`0.1f32` is `0.1`, not
/// `0.10000000149011612`), so a value reads back as the literal the user sent.
pub fn f32_json(f: f32) -> Value {
    let shortest: f64 = f.to_string().parse().unwrap_or(f64::from(f));
    serde_json::Number::from_f64(shortest).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trip_keeps_the_literals() {
        let v = json!({"#type": "sparse_vector", "indices": [1, 7, 999], "values": [0.1, 2, 123.456]});
        let s = SparseVector::from_json("k", &v).unwrap();
        assert_eq!(s.indices, vec![1, 7, 999]);
        assert_eq!(
            s.to_json(),
            json!({"#type": "sparse_vector", "indices": [1, 7, 999], "values": [0.1, 2.0, 123.456]})
        );
        let t = json!({"#type": "sparse_vector", "indices": [3], "values": [1.5], "tokens": ["x"]});
        assert_eq!(SparseVector::from_json("k", &t).unwrap().to_json(), t);
    }

    #[test]
    fn bad_vectors_are_refused() {
        for bad in [
            json!({"#type": "sparse_vector", "indices": [2, 1], "values": [1, 1]}),
            json!({"#type": "sparse_vector", "indices": [1, 1], "values": [1, 1]}),
            json!({"#type": "sparse_vector", "indices": [1], "values": [1, 2]}),
            json!({"#type": "sparse_vector", "indices": [-1], "values": [1]}),
            json!({"#type": "sparse_vector", "indices": [1.5], "values": [1]}),
            json!({"#type": "sparse_vector", "indices": [1], "values": ["a"]}),
            json!({"#type": "sparse_vector", "indices": [1], "values": [1e300]}),
            json!({"#type": "sparse_vector", "indices": [1], "values": [1], "tokens": ["a", "b"]}),
            json!({"#type": "sparse_vector", "indices": [1]}),
            json!({"#type": "dense", "indices": [1], "values": [1]}),
            json!({"#type": "sparse_vector", "indices": [1], "values": [1], "extra": 1}),
        ] {
            assert!(SparseVector::from_json("k", &bad).is_err(), "{bad}");
        }
        let empty = json!({"#type": "sparse_vector", "indices": [], "values": []});
        assert!(SparseVector::from_json("k", &empty).unwrap().indices.is_empty());
    }

    #[test]
    fn dot_merges_sorted_indices() {
        let a = SparseVector::new(vec![1, 3, 5], vec![1.0, 2.0, 3.0], None).unwrap();
        let b = SparseVector::new(vec![0, 3, 5, 9], vec![7.0, 4.0, 0.5, 1.0], None).unwrap();
        assert!((a.dot(&b) - 9.5).abs() < 1e-6);
    }
}
