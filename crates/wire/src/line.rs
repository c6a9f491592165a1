//! Which client line a request comes from, and which API version a server speaks.

use chroma_types::Dialect;

/// The version of Chroma's HTTP API: the path prefix of every route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiLine {
    /// `/api/v2` (Chroma 0.5.16+, 1.x, chroma-rs).
    V2,
    /// `/api/v1` only (Chroma 0.4.x, 0.5.x before v2).
    V1,
}

/// The line of Chroma clients a request comes from, as the server tells them apart (API
/// version from the path, then the `User-Agent`). Chroma's three server generations answer
/// the same call differently, and each client line (and its test suite) expects the answers of
/// the server it was released with: collection objects, result objects, error names and
/// statuses, collection name rules and filter semantics all follow from this one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientLine {
    /// API v1 with a client of the Chroma 0.4.x era (Python 0.4.x-0.5.3 `python-requests`,
    /// JS `chromadb` <= 1.9.2, curl, ...): answered as Chroma 0.4.24 did, collection objects
    /// with exactly `name, id, metadata, tenant, database`.
    V04,
    /// API v1 with a Python 0.5.4-0.5.15 client (`python-httpx`): answered as Chroma
    /// 0.5.4-0.5.15 did, collection objects with `configuration_json`.
    V05,
    /// API v2 with a Python 0.5.16-0.6.x client (httpx's default `User-Agent`): v2 paths,
    /// shapes and filter semantics, but the error names and collection name rules of the 0.5
    /// server these clients were released with, and collection objects without the 1.x keys
    /// of `configuration_json` (they reject `embedding_function`) and without `schema`.
    V06,
    /// API v2 with any other client (Python 1.x, JS 1.9.3+ / 2.x / 3.x, chroma-rs): one shape
    /// that all of them accept.
    V1x,
}

impl ClientLine {
    /// The API version this line talks.
    pub fn api(self) -> ApiLine {
        match self {
            ClientLine::V04 | ClientLine::V05 => ApiLine::V1,
            ClientLine::V06 | ClientLine::V1x => ApiLine::V2,
        }
    }

    /// Whether this line talks API v2.
    pub fn is_v2(self) -> bool {
        self.api() == ApiLine::V2
    }

    /// Filter semantics and metadata key rules this line's clients expect. 0.5.16+ servers
    /// already had the 1.x filter semantics (`$ne` / `$not_contains` match records without the
    /// key / document), so pre-1.x clients on v2 get them too; but every 0.x server stored
    /// metadata keys starting with `#` or `$`, which only 1.x refuses.
    pub fn dialect(self) -> Dialect {
        match self {
            ClientLine::V04 => Dialect::V04,
            ClientLine::V05 => Dialect { get_ordered_by_id: false, ..Dialect::V04 },
            ClientLine::V06 => Dialect { legacy_metadata_keys: true, ..Dialect::V1 },
            ClientLine::V1x => Dialect::V1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_map_to_apis_and_dialects() {
        assert_eq!(ClientLine::V05.api(), ApiLine::V1);
        assert!(ClientLine::V06.is_v2());
        assert_eq!(ClientLine::V04.dialect(), Dialect::V04);
        assert!(!ClientLine::V05.dialect().get_ordered_by_id && !ClientLine::V05.dialect().ne_matches_missing);
        assert_eq!(ClientLine::V06.dialect(), Dialect { legacy_metadata_keys: true, ..Dialect::V1 });
        assert!(ClientLine::V04.dialect().legacy_metadata_keys && ClientLine::V05.dialect().legacy_metadata_keys);
        assert_eq!(ClientLine::V1x.dialect(), Dialect::V1);
    }
}
