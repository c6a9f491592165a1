//! The JSON shapes of Chroma's HTTP API, API v1 (as served by Chroma 0.4.x and 0.5.x) and
//! API v2 (0.5.16 and later), in both directions: the server parses request bodies with the
//! `*Body` types and writes responses with the `*_to_json` / `*_to_string` helpers; the HTTP
//! client does the reverse. Keeping both sides here means one definition of every shape, and
//! neither side needs the other's dependencies: this crate does no I/O.
//!
//! Conventions that every Chroma client line relies on:
//! * missing, `null` and `{}` filters mean "no filter";
//! * embeddings in requests are lists of numbers, or (v2) base64 strings of little-endian f32
//!   ([`embeddings`]);
//! * metadata integers stay integers and floats stay floats;
//! * the collection object, result objects and error bodies differ per client line
//!   ([`ClientLine`]).
//!
//! Modules: [`line`](mod@line) (which client line / API version), [`embeddings`], [`requests`] (request
//! bodies), [`objects`] (tenants, databases, collections), [`results`] (get and query
//! results), [`search`] (the 1.x Search API request and answer), [`errors`] (error bodies read back into [`chroma_types::Error`]).

#![deny(missing_docs)]

pub mod embeddings;
pub mod errors;
pub mod line;
pub mod objects;
pub mod requests;
pub mod results;
pub mod search;

pub use embeddings::{decode_base64_embedding, encode_base64_embedding, EmbeddingIn};
pub use errors::{error_from_response, ErrorBody};
pub use line::{ApiLine, ClientLine};
pub use objects::{
    collection_from_json, collection_to_json, database_from_json, database_to_json, tenant_from_json, tenant_to_json,
};
pub use requests::{
    AddBody, CreateCollectionBody, DeleteBody, GetBody, NameBody, QueryBody, UpdateBody, UpdateCollectionBody,
    UpdateTenantBody,
};
pub use results::{get_result_from_slice, get_result_to_string, query_result_from_slice, query_result_to_string};
pub use results::{GetResponse, QueryResponse};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Bytes kept as they are in a path segment: RFC 3986's unreserved characters.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Percent-encodes `s` for one URL path segment (or query value): every byte but ASCII
/// letters, digits and `-_.~` becomes `%XX` (upper-case hex), so tenant, database and
/// collection names travel unchanged whatever they contain.
///
/// ```
/// assert_eq!(chroma_wire::encode_path_segment("a b/ü~"), "a%20b%2F%C3%BC~");
/// ```
pub fn encode_path_segment(s: &str) -> String {
    utf8_percent_encode(s, PATH_SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::encode_path_segment;

    /// The hand-written encoder this replaces, kept as the reference.
    fn reference(s: &str) -> String {
        use std::fmt::Write as _;
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(char::from(b));
            } else {
                let _ = write!(out, "%{b:02X}");
            }
        }
        out
    }

    #[test]
    fn path_segments_encode_as_before() {
        for s in ["", "abc", "a b", "nl1\n", "x/y?z#w&v=u", "ünï©ødé", "%41", "-_.~!*'()", "\u{0}\u{7f}"] {
            assert_eq!(encode_path_segment(s), reference(s), "{s:?}");
        }
    }
}
