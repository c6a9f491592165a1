//! The fuzz targets. Each takes raw bytes, feeds them to one parser the way untrusted input
//! reaches it, and checks what must hold beyond "no panic" (round trips, status codes,
//! result sizes).

mod filter;
mod graph;
mod legacy;
mod router;
mod wire;

use crate::{JsonAt, Target};

/// Tokens of Chroma's filter language and request bodies.
const JSON_DICT: &[&[u8]] = &[
    b"\"$and\"",
    b"\"$or\"",
    b"\"$eq\"",
    b"\"$ne\"",
    b"\"$gt\"",
    b"\"$gte\"",
    b"\"$lt\"",
    b"\"$lte\"",
    b"\"$in\"",
    b"\"$nin\"",
    b"\"$contains\"",
    b"\"$not_contains\"",
    b"\"$regex\"",
    b"\"$not_regex\"",
    b"\"#document\"",
    b"\"#metadata\"",
    b"\"ids\"",
    b"\"where\"",
    b"\"where_document\"",
    b"\"embeddings\"",
    b"\"metadatas\"",
    b"\"documents\"",
    b"\"uris\"",
    b"\"include\"",
    b"\"limit\"",
    b"\"offset\"",
    b"\"n_results\"",
    b"\"query_embeddings\"",
    b"\"name\"",
    b"\"metadata\"",
    b"\"configuration\"",
    b"\"get_or_create\"",
    b"\"new_name\"",
    b"\"new_metadata\"",
    b"\"hnsw:space\"",
    b"\"cosine\"",
    b"\"distances\"",
    b"\"AAAAAAAAgD8=\"",
    b"null",
    b"true",
    b"false",
    b"[]",
    b"{}",
    b"[[1,2,3]]",
    b"\"\\u0000\"",
    b"\"(a+)+$\"",
    b"\"\\\\\"",
    b"1e400",
    b"-0",
];

/// Every target, in run order.
pub(crate) fn all() -> Vec<Target> {
    vec![
        Target {
            name: "where",
            about: "`where` filters from JSON (chroma_types::parse_where); parse, print, parse again must agree",
            run: filter::where_filter,
            dict: JSON_DICT,
            json_at: Some(JsonAt::Start),
            max_len: 1 << 20,
        },
        Target {
            name: "where_document",
            about: "`where_document` filters from JSON (parse_where_document); print/parse round trip",
            run: filter::where_document,
            dict: JSON_DICT,
            json_at: Some(JsonAt::Start),
            max_len: 1 << 20,
        },
        Target {
            name: "base64",
            about: "base64 embeddings (decode_base64_embedding, EmbeddingIn from JSON); decode/encode round trip",
            run: wire::base64,
            dict: &[b"=", b"==", b"+", b"/", b"-", b"_", b" ", b"\n", b"AAAA", b"AACAPw=="],
            json_at: None,
            max_len: 1 << 16,
        },
        Target {
            name: "requests",
            about: "wire request bodies (first line: add, update, upsert, get, query, delete, create, modify, name), into engine requests and back",
            run: wire::requests,
            dict: JSON_DICT,
            json_at: Some(JsonAt::AfterFirstLine),
            max_len: 1 << 20,
        },
        Target {
            name: "router",
            about: "the real axum router over an ephemeral engine (first line: METHOD PATH [user-agent]); no panic, no 500 but documented ones",
            run: router::route,
            dict: JSON_DICT,
            json_at: Some(JsonAt::AfterFirstLine),
            max_len: 1 << 20,
        },
        Target {
            name: "graph",
            about: "HNSW graph files (VectorIndex::load_from_bytes; checksum and body length fixed up), then searches and inserts on what loaded",
            run: graph::graph,
            dict: &[b"CHRHNSW\0", b"\x01\0\0\0", b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x10\0\0\0", b"\x20\0\0\0"],
            json_at: None,
            max_len: 1 << 20,
        },
        Target {
            name: "pickle",
            about: "Python pickles (chroma_legacy::pickle::parse, index_metadata.pickle of 0.4+ folders)",
            run: legacy::pickle,
            dict: &[b"\x80\x04", b"}", b"]", b"(", b"t", b"s", b"u", b"e", b"a", b"\x94", b".", b"X", b"\x8c", b"J", b"K", b"M", b"\x8a", b"G", b"q", b"h", b"r", b"j"],
            json_at: None,
            max_len: 1 << 16,
        },
        Target {
            name: "python_json",
            about: "Python-style JSON metadata text of 0.3.x (parse_python_json, parse_metadata_text)",
            run: legacy::python_json,
            dict: &[b"NaN", b"Infinity", b"-Infinity", b"\\ud800", b"\\u0000", b"null", b"true", b"{", b"}", b"[", b"]", b"\"", b"1e999", b"99999999999999999999"],
            json_at: Some(JsonAt::Start),
            max_len: 1 << 16,
        },
        Target {
            name: "clickhouse_rows",
            about: "ClickHouse JSONEachRow answers to the 0.3.x embeddings query (clickhouse03::records_from_rows)",
            run: legacy::clickhouse_rows,
            dict: &[b"\"uuid\"", b"\"embedding\"", b"\"document\"", b"\"id\"", b"\"metadata\"", b"NaN", b"null", b"\n", b"\"{\\\"a\\\": 1}\""],
            json_at: None,
            max_len: 1 << 18,
        },
        Target {
            name: "parquet03",
            about: "0.3.x parquet files (first byte: 0 collections file, 1 embeddings file; rest: the file), read through open_parquet03",
            run: legacy::parquet03,
            dict: &[b"PAR1", b"\0\0\0\0", b"\xff\xff\xff\x7f", b"\x15\x04", b"\x18"],
            json_at: None,
            max_len: 1 << 18,
        },
        Target {
            name: "chroma04",
            about: "Chroma >= 0.4 folders (the fixtures with SQLite rows and index files changed by the input), read through open_chroma04",
            run: legacy::chroma04,
            dict: &[b"\0", b"\x01", b"\x02", b"\x03", b"\xff\xff\xff\xff", b"\0\0\0\0\0\0\0\0"],
            json_at: None,
            max_len: 4096,
        },
    ]
}

/// Seed inputs a target can make itself (graph files written by the index), for
/// `chroma-fuzz seeds TARGET`; `None` for targets whose corpus is written by hand.
pub(crate) fn generated_seeds(target: &str) -> Option<Result<crate::Seeds, String>> {
    match target {
        "graph" => Some(graph::seeds()),
        _ => None,
    }
}

/// A short signature of an error message: its first words, digits dropped, so that inputs
/// reaching a new error path count as new and the same error with other numbers does not.
pub(crate) fn sig(prefix: &str, msg: &str) -> String {
    // Quoted parts are the input's own text (keys, values): dropped too.
    let mut quoted = false;
    let s: String = msg
        .chars()
        .filter(|&c| {
            if matches!(c, '"' | '\'' | '`') {
                quoted = !quoted;
            }
            !quoted && !c.is_ascii_digit()
        })
        .take(40)
        .collect();
    format!("{prefix}:{s}")
}
