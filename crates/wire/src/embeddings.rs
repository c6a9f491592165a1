//! Embeddings on the wire: lists of numbers, or (API v2) base64 strings of packed
//! little-endian f32 values.

use base64::Engine as _;
use chroma_types::{Error, Result};
use serde::{Deserialize, Serialize};

/// One embedding in a request or response: a list of numbers or a base64 string of
/// little-endian f32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum EmbeddingIn {
    /// `[0.1, 0.2, ...]`.
    Floats(Vec<f32>),
    /// Base64 of the packed little-endian f32 values (API v2 with
    /// `supports_base64_encoding`).
    Base64(String),
}

impl EmbeddingIn {
    /// The values, decoding base64 when needed.
    pub fn into_vec(self) -> Result<Vec<f32>> {
        match self {
            EmbeddingIn::Floats(v) => Ok(v),
            EmbeddingIn::Base64(s) => decode_base64_embedding(&s),
        }
    }

    /// `v` as a base64 string.
    pub fn base64(v: &[f32]) -> EmbeddingIn {
        EmbeddingIn::Base64(encode_base64_embedding(v))
    }

    /// `v` as base64 when `base64`, else as a list of numbers.
    pub fn encode(v: &[f32], base64: bool) -> EmbeddingIn {
        if base64 {
            EmbeddingIn::base64(v)
        } else {
            EmbeddingIn::Floats(v.to_vec())
        }
    }
}

/// Decodes a base64 string of packed little-endian f32 values.
pub fn decode_base64_embedding(s: &str) -> Result<Vec<f32>> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| Error::invalid(format!("Invalid base64 embedding: {e}")).with_source(e))?;
    if bytes.len() % 4 != 0 {
        return Err(Error::invalid(format!(
            "Invalid base64 embedding: {} bytes is not a whole number of float32 values",
            bytes.len()
        )));
    }
    Ok(bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// Encodes `v` as base64 of packed little-endian f32 values.
pub fn encode_base64_embedding(v: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(v.len() * 4);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Decodes a list of embeddings.
pub(crate) fn embeddings_in(items: Vec<EmbeddingIn>) -> Result<Vec<Vec<f32>>> {
    items.into_iter().map(EmbeddingIn::into_vec).collect()
}

/// Encodes a list of embeddings.
pub(crate) fn embeddings_out(items: &[Vec<f32>], base64: bool) -> Vec<EmbeddingIn> {
    items.iter().map(|e| EmbeddingIn::encode(e, base64)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        assert_eq!(decode_base64_embedding("AACAPwAAAEAAAEBA").unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(encode_base64_embedding(&[1.0, 2.0]), "AACAPwAAAEA=");
        assert!(decode_base64_embedding("AACA").is_err());
        let e = decode_base64_embedding("!!").unwrap_err();
        assert!(std::error::Error::source(&e).is_some());
    }
}
