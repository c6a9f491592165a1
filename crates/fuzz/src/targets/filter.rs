//! `where` and `where_document` from JSON.

use super::sig;
use crate::Outcome;
use chroma_types::filter::{parse_where, parse_where_document};
use serde_json::Value;

/// Parses a `where` filter; a parsed filter printed back must parse to the same filter.
pub(crate) fn where_filter(input: &[u8]) -> Outcome {
    let Ok(v) = serde_json::from_slice::<Value>(input) else { return Ok("not json".into()) };
    match parse_where(Some(&v)) {
        Ok(None) => Ok("none".into()),
        Ok(Some(w)) => {
            let printed = w.to_json();
            match parse_where(Some(&printed)) {
                Ok(Some(again)) if again == w => Ok("ok".into()),
                other => {
                    Err(format!("where round trip: {v} parsed as {w:?}, printed as {printed}, read back as {other:?}"))
                }
            }
        }
        Err(e) => Ok(sig("err", &e.message)),
    }
}

/// Parses a `where_document` filter; printed back, it must parse to the same filter.
pub(crate) fn where_document(input: &[u8]) -> Outcome {
    let Ok(v) = serde_json::from_slice::<Value>(input) else { return Ok("not json".into()) };
    match parse_where_document(Some(&v)) {
        Ok(None) => Ok("none".into()),
        Ok(Some(w)) => {
            let printed = w.to_json();
            match parse_where_document(Some(&printed)) {
                Ok(Some(again)) if again == w => Ok("ok".into()),
                other => Err(format!(
                    "where_document round trip: {v} parsed as {w:?}, printed as {printed}, read back as {other:?}"
                )),
            }
        }
        Err(e) => Ok(sig("err", &e.message)),
    }
}
