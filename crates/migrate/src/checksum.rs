//! Order-independent content checksum of a collection, computed incrementally (one record at a
//! time, nothing held): each record is encoded canonically and hashed with XXH3-128; the
//! collection checksum is the record count plus the wrapping sum (mod 2^128) of the record
//! hashes. A sum, unlike a xor, also catches a record present twice. Source and destination
//! are hashed the same way, so pages may come in any order.
//!
//! Canonical record encoding: id; document (absent ≠ empty); uri; metadata with keys sorted,
//! each value tagged with its type (an int 1 differs from a float 1.0), floats by their bits;
//! an empty metadata map counts as no metadata (Chroma returns `None` for both); the embedding's
//! length. Embedding values are compared numerically instead of by their bits: each record adds
//! `sum_j e_j * w(id, j)` (pseudo-random weights in [-1, 1) drawn from the id) to a float64
//! projection, and two projections match when they differ by at most 1e-6 of the sum of the
//! terms' magnitudes. That tolerates what real Chroma does to cosine vectors (it stores them
//! normalised and scales them back, moving values by an ulp) and float64 -> float32 rounding
//! of old sources, while a missing, swapped or changed embedding moves the projection by
//! orders of magnitude more.

use chroma_types::{Metadata, MetadataValue};

/// A record as the destination is expected to hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The id.
    pub id: String,
    /// The vector (float32).
    pub embedding: Vec<f32>,
    /// The document.
    pub document: Option<String>,
    /// The uri.
    pub uri: Option<String>,
    /// The metadata (`{}` counts as none).
    pub metadata: Option<Metadata>,
}

/// The checksum of a collection (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct Checksum {
    /// Records added.
    pub count: u64,
    /// Wrapping sum of the records' hashes (everything but the embedding values).
    pub sum: u128,
    /// Sum of the embeddings' projections, and of the magnitudes of their terms.
    pub projection: f64,
    /// Sum of the magnitudes of the projection's terms (sets the tolerance).
    pub magnitude: f64,
}

/// Exact on everything but embedding values; those within the tolerance of the module docs.
impl PartialEq for Checksum {
    fn eq(&self, o: &Self) -> bool {
        let tolerance = 1e-6 * self.magnitude.max(o.magnitude) + 1e-9;
        self.count == o.count && self.sum == o.sum && (self.projection - o.projection).abs() <= tolerance
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

impl Checksum {
    /// Adds one record (`buf` is scratch space, reused between calls).
    pub fn add(&mut self, r: &Record, buf: &mut Vec<u8>) {
        buf.clear();
        encode(r, buf);
        self.count += 1;
        self.sum = self.sum.wrapping_add(twox_hash::XxHash3_128::oneshot(buf));
        let seed = twox_hash::XxHash3_64::oneshot(r.id.as_bytes());
        // Eight independent lanes so the loop vectorises (one serial sum was ~40% of a pass).
        let (mut p, mut m) = ([0f64; 8], [0f64; 8]);
        for (c, chunk) in r.embedding.chunks(8).enumerate() {
            for (l, &x) in chunk.iter().enumerate() {
                let j = (c * 8 + l) as u64;
                let w = (splitmix64(seed.wrapping_add(j)) >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
                let t = f64::from(x) * w;
                p[l] += t;
                m[l] += t.abs();
            }
        }
        self.projection += p.iter().sum::<f64>();
        self.magnitude += m.iter().sum::<f64>();
    }
    /// `count:sum:projection`, for the report.
    pub fn hex(&self) -> String {
        format!("{}:{:032x}:{:+.9e}", self.count, self.sum, self.projection)
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt(buf: &mut Vec<u8>, s: Option<&String>) {
    match s {
        None => buf.push(0),
        Some(s) => {
            buf.push(1);
            put_str(buf, s);
        }
    }
}

fn put_value(buf: &mut Vec<u8>, v: &MetadataValue) {
    match v {
        MetadataValue::Str(s) => {
            buf.push(b's');
            put_str(buf, s);
        }
        MetadataValue::Int(i) => {
            buf.push(b'i');
            buf.extend_from_slice(&i.to_le_bytes());
        }
        MetadataValue::Float(f) => {
            buf.push(b'f');
            buf.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        MetadataValue::Bool(b) => {
            buf.push(b'b');
            buf.push(u8::from(*b));
        }
        MetadataValue::StrArray(a) => {
            buf.push(b'S');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for s in a {
                put_str(buf, s);
            }
        }
        MetadataValue::IntArray(a) => {
            buf.push(b'I');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for i in a {
                buf.extend_from_slice(&i.to_le_bytes());
            }
        }
        MetadataValue::FloatArray(a) => {
            buf.push(b'F');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for f in a {
                buf.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
        MetadataValue::BoolArray(a) => {
            buf.push(b'B');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            for b in a {
                buf.push(u8::from(*b));
            }
        }
        MetadataValue::Sparse(v) => {
            buf.push(b'V');
            buf.extend_from_slice(&(v.indices.len() as u64).to_le_bytes());
            for (i, x) in v.indices.iter().zip(&v.values) {
                buf.extend_from_slice(&i.to_le_bytes());
                buf.extend_from_slice(&x.to_bits().to_le_bytes());
            }
            match &v.tokens {
                None => buf.push(0),
                Some(t) => {
                    buf.push(1);
                    for s in t {
                        put_str(buf, s);
                    }
                }
            }
        }
    }
}

/// The canonical encoding of a record (see the module docs), appended to `buf`.
pub fn encode(r: &Record, buf: &mut Vec<u8>) {
    put_str(buf, &r.id);
    put_opt(buf, r.document.as_ref());
    put_opt(buf, r.uri.as_ref());
    match &r.metadata {
        Some(m) if !m.is_empty() => {
            buf.push(1);
            buf.extend_from_slice(&(m.len() as u64).to_le_bytes());
            for (k, v) in m {
                put_str(buf, k);
                put_value(buf, v);
            }
        }
        _ => buf.push(0),
    }
    buf.extend_from_slice(&(r.embedding.len() as u64).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, m: Option<Metadata>) -> Record {
        Record { id: id.into(), embedding: vec![1.0, 2.0], document: None, uri: None, metadata: m }
    }

    #[test]
    fn order_independent_and_type_sensitive() {
        let mut buf = Vec::new();
        let (a, b) = (rec("a", None), rec("b", None));
        let (mut x, mut y) = (Checksum::default(), Checksum::default());
        x.add(&a, &mut buf);
        x.add(&b, &mut buf);
        y.add(&b, &mut buf);
        y.add(&a, &mut buf);
        assert_eq!(x, y);
        let mut z = Checksum::default();
        z.add(&a, &mut buf);
        z.add(&a, &mut buf);
        assert_ne!(x.sum, z.sum);
        let int = rec("a", Some([("k".to_string(), MetadataValue::Int(1))].into()));
        let flt = rec("a", Some([("k".to_string(), MetadataValue::Float(1.0))].into()));
        let (mut p, mut q) = (Checksum::default(), Checksum::default());
        p.add(&int, &mut buf);
        q.add(&flt, &mut buf);
        assert_ne!(p, q);
        let (mut e, mut n) = (Checksum::default(), Checksum::default());
        e.add(&rec("a", Some(Metadata::new())), &mut buf);
        n.add(&rec("a", None), &mut buf);
        assert_eq!(e, n);
    }

    #[test]
    fn embeddings_compare_within_rounding_only() {
        let sum = |recs: &[Record]| {
            let mut c = Checksum::default();
            let mut b = Vec::new();
            for r in recs {
                c.add(r, &mut b);
            }
            c
        };
        let mk =
            |id: &str, e: Vec<f32>| Record { id: id.into(), embedding: e, document: None, uri: None, metadata: None };
        let base = [mk("a", vec![0.2, 0.21, -3.5]), mk("b", vec![9.0, -9.0, 0.0])];
        // one ulp off here and there (real Chroma's cosine round trip): still equal
        let ulp = |x: f32| f32::from_bits(x.to_bits() + 1);
        let nudged = [mk("a", vec![ulp(0.2), 0.21, -3.5]), mk("b", vec![ulp(9.0), -9.0, 0.0])];
        assert_eq!(sum(&base), sum(&nudged));
        // swapped embeddings, a changed value, a lost component: all differ
        let swapped = [mk("a", vec![9.0, -9.0, 0.0]), mk("b", vec![0.2, 0.21, -3.5])];
        assert_ne!(sum(&base), sum(&swapped));
        let changed = [mk("a", vec![0.2, 0.22, -3.5]), mk("b", vec![9.0, -9.0, 0.0])];
        assert_ne!(sum(&base), sum(&changed));
        let short = [mk("a", vec![0.2, 0.21]), mk("b", vec![9.0, -9.0, 0.0])];
        assert_ne!(sum(&base), sum(&short));
    }
}
