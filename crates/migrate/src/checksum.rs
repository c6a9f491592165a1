//! Order-independent content checksum of a collection, computed incrementally (one record at a
//! time, nothing held): each record is encoded canonically and hashed with XXH3-128; the
//! collection checksum is the record count plus the wrapping sum (mod 2^128) of the record
//! hashes. A sum, unlike a xor, also catches a record present twice. Source and destination
//! are hashed the same way, so pages may come in any order.
//!
//! Canonical record encoding: id; document (absent ≠ empty); uri; metadata with keys sorted,
//! each value tagged with its type (an int 1 differs from a float 1.0), floats by their bits;
//! an empty metadata map counts as no metadata (Chroma returns `None` for both); the embedding
//! as float32 bits. Source float64 vectors are rounded to float32 before hashing: that rounding
//! is the only change the verification allows.

use chroma_types::{Metadata, MetadataValue};

/// A record as the destination is expected to hold it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: String,
    pub embedding: Vec<f32>,
    pub document: Option<String>,
    pub uri: Option<String>,
    pub metadata: Option<Metadata>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Checksum {
    pub count: u64,
    pub sum: u128,
}

impl Checksum {
    pub fn add(&mut self, r: &Record, buf: &mut Vec<u8>) {
        buf.clear();
        encode(r, buf);
        self.count += 1;
        self.sum = self.sum.wrapping_add(twox_hash::XxHash3_128::oneshot(buf));
    }
    pub fn hex(&self) -> String {
        format!("{}:{:032x}", self.count, self.sum)
    }
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

fn put_opt(buf: &mut Vec<u8>, s: &Option<String>) {
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
            buf.push(*b as u8);
        }
        MetadataValue::StrArray(a) => {
            buf.push(b'S');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|s| put_str(buf, s));
        }
        MetadataValue::IntArray(a) => {
            buf.push(b'I');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|i| buf.extend_from_slice(&i.to_le_bytes()));
        }
        MetadataValue::FloatArray(a) => {
            buf.push(b'F');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|f| buf.extend_from_slice(&f.to_bits().to_le_bytes()));
        }
        MetadataValue::BoolArray(a) => {
            buf.push(b'B');
            buf.extend_from_slice(&(a.len() as u64).to_le_bytes());
            a.iter().for_each(|b| buf.push(*b as u8));
        }
    }
}

pub fn encode(r: &Record, buf: &mut Vec<u8>) {
    put_str(buf, &r.id);
    put_opt(buf, &r.document);
    put_opt(buf, &r.uri);
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
    for x in &r.embedding {
        buf.extend_from_slice(&x.to_bits().to_le_bytes());
    }
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
}
