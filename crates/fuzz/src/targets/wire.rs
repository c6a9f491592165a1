//! Base64 embeddings and the wire request bodies.

use super::sig;
use crate::Outcome;
use chroma_types::{Dialect, Result};
use chroma_wire::{
    decode_base64_embedding, encode_base64_embedding, AddBody, CreateCollectionBody, DeleteBody, EmbeddingIn, GetBody,
    NameBody, QueryBody, UpdateBody, UpdateCollectionBody,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Decodes the input as a base64 embedding (and as an `EmbeddingIn` JSON value); what
/// decodes must encode back to the same bits.
pub(crate) fn base64(input: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(input);
    let first = match decode_base64_embedding(&text) {
        Ok(v) => {
            let again = decode_base64_embedding(&encode_base64_embedding(&v))
                .map_err(|e| format!("re-encoded embedding does not decode: {e}"))?;
            let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            if bits(&again) != bits(&v) {
                return Err(format!("base64 round trip changed {} values", v.len()));
            }
            format!("ok:{}", v.len().min(8))
        }
        Err(e) => sig("err", &e.message),
    };
    // The same bytes as a JSON embedding (a list of numbers or a string).
    if let Ok(e) = serde_json::from_slice::<EmbeddingIn>(input) {
        let _ = e.into_vec();
    }
    Ok(first)
}

/// Parses `body` as `B`, converts it with `into`, checks it with `valid` (what the engine
/// checks before it acts: a request it refuses need not print back), prints the request back as
/// a body with `back` and converts that again: one conversion may normalise, a second must
/// change nothing.
fn round_trip<B, R>(
    body: &[u8],
    into: impl Fn(B) -> Result<R>,
    valid: impl Fn(&R) -> Result<()>,
    back: impl Fn(&R) -> B,
) -> Outcome
where
    B: DeserializeOwned + Serialize,
    R: std::fmt::Debug,
{
    let b: B = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => return Ok(sig("shape", &e.to_string())),
    };
    let r1 = match into(b) {
        Ok(r) => r,
        Err(e) => return Ok(sig("invalid", &e.message)),
    };
    if let Err(e) = valid(&r1) {
        return Ok(sig("refused", &e.message));
    }
    let again = |r: &R| -> std::result::Result<R, String> {
        let text = serde_json::to_vec(&back(r)).map_err(|e| format!("request does not print: {e}"))?;
        let b: B = serde_json::from_slice(&text)
            .map_err(|e| format!("printed body does not parse: {e}: {}", String::from_utf8_lossy(&text)))?;
        into(b).map_err(|e| format!("printed body is refused: {}: {}", e.message, String::from_utf8_lossy(&text)))
    };
    let r2 = again(&r1)?;
    let r3 = again(&r2)?;
    // Debug text, not PartialEq: base64 embeddings may carry NaN, which is not equal to itself.
    if format!("{r2:?}") != format!("{r3:?}") {
        return Err(format!("body round trip is not stable: {r2:?} then {r3:?}"));
    }
    Ok("ok".into())
}

fn add_ok(r: &chroma_types::AddRequest) -> Result<()> {
    chroma_types::validate::add_request(r, None, usize::MAX).map(|_| ())
}

fn update_ok(r: &chroma_types::UpdateRequest) -> Result<()> {
    chroma_types::validate::update_request(r, None, usize::MAX).map(|_| ())
}

fn query_ok(r: &chroma_types::QueryRequest) -> Result<()> {
    chroma_types::validate::embeddings(r.query_embeddings.iter().map(Vec::as_slice), None).map(|_| ())
}

/// First line: the body kind; the rest: the JSON body.
pub(crate) fn requests(input: &[u8]) -> Outcome {
    let split = input.iter().position(|&b| b == b'\n').unwrap_or(input.len());
    let kind = String::from_utf8_lossy(&input[..split]).trim().to_string();
    let body = input.get(split + 1..).unwrap_or_default();
    let dialect = if kind.ends_with("04") { Dialect::V04 } else { Dialect::V1 };
    let out = match kind.trim_end_matches("04") {
        "add" | "upsert" => {
            round_trip(body, |b: AddBody| b.into_request(dialect), add_ok, |r| AddBody::from_request(r, false))
        }
        "add64" => round_trip(body, |b: AddBody| b.into_request(dialect), add_ok, |r| AddBody::from_request(r, true)),
        "update" => {
            round_trip(body, |b: UpdateBody| b.into_request(dialect), update_ok, |r| UpdateBody::from_request(r, false))
        }
        "get" => round_trip(body, |b: GetBody| b.into_request(dialect), |_| Ok(()), GetBody::from_request),
        "query" => round_trip(body, |b: QueryBody| b.into_request(dialect), query_ok, QueryBody::from_request),
        "delete" => round_trip(body, |b: DeleteBody| b.into_request(dialect), |_| Ok(()), DeleteBody::from_request),
        "create" => {
            round_trip(body, CreateCollectionBody::into_request, |_| Ok(()), CreateCollectionBody::from_request)
        }
        "modify" => {
            round_trip(body, UpdateCollectionBody::into_request, |_| Ok(()), UpdateCollectionBody::from_request)
        }
        "name" => match serde_json::from_slice::<NameBody>(body) {
            Ok(n) => {
                use chroma_types::validate;
                let verdicts = [
                    validate::tenant_name(&n.name),
                    validate::database_name(&n.name),
                    validate::collection_name(&n.name),
                ];
                Ok(verdicts.iter().map(|v| if v.is_ok() { 'y' } else { 'n' }).collect())
            }
            Err(e) => Ok(sig("shape", &e.to_string())),
        },
        _ => Ok("unknown kind".into()),
    }?;
    Ok(format!("{kind}:{out}"))
}
