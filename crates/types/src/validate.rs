//! Input checks shared by every entry point. Each returns an [`Error`] whose message names the
//! offending value, in Chroma's wording where Chroma has one.

use crate::error::{Error, ErrorKind, Result};
use crate::filter::Dialect;
use crate::metadata::{Metadata, UpdateMetadata};
use crate::model::{AddRequest, UpdateRequest};
use std::collections::HashSet;

/// What a stored collection name may be: the 1.x rules, or a name that the 0.4-0.6 rules
/// accepted (see [`collection_name_v04`]); each API line checks its own rules first.
pub fn stored_collection_name(name: &str) -> Result<()> {
    match name.strip_suffix('\n') {
        Some(_) => collection_name_v04(name),
        None => collection_name(name),
    }
}

/// Collection name rules of Chroma 1.x: 3-512 characters from `[a-zA-Z0-9._-]`, starting and
/// ending with an alphanumeric character, no `..`, not an IP address; each refusal in Chroma
/// 1.5.9's words.
pub fn collection_name(name: &str) -> Result<()> {
    name_1x(name)
}

/// The 1.x rules shared by collection and database names, with Chroma 1.5.9's three messages
/// (checked in its order: characters and length, then `..`, then IP address).
fn name_1x(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let shape = (3..=512).contains(&bytes.len())
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if !shape {
        return Err(Error::invalid(format!(
            "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: {}",
            shown_name(name)
        )));
    }
    if name.contains("..") {
        return Err(Error::invalid(format!(
            "Expected a name that does not contains two consecutive periods (..). Got {name}"
        )));
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Err(Error::invalid(format!("Expected a name that is not a valid ip address. Got {name}")));
    }
    Ok(())
}

/// A refused name as an error message shows it: whole up to 1,024 characters (Chroma shows it
/// whole; a message of the size of a huge name is a burden of its own), else its start and length.
fn shown_name(name: &str) -> String {
    match name.char_indices().nth(MAX_SHOWN_NAME_CHARS) {
        Some((i, _)) => format!("{}... ({} characters)", &name[..i], name.chars().count()),
        None => name.to_string(),
    }
}

const MAX_SHOWN_NAME_CHARS: usize = 1024;

/// Collection name rules of Chroma 0.4.x-0.6.x (3-63 characters), with that release's message.
/// Those releases checked with Python's `re`, whose `$` also matches before a final newline, so
/// a name such as `"abc\n"` was accepted (and stored with its newline): so is it here.
pub fn collection_name_v04(name: &str) -> Result<()> {
    let checked = name.strip_suffix('\n').unwrap_or(name);
    let msg = || {
        Error::invalid(format!(
            "Expected collection name that (1) contains 3-63 characters, (2) starts and ends with an alphanumeric character, (3) otherwise contains only alphanumeric characters, underscores or hyphens (-), (4) contains no two consecutive periods (..) and (5) is not a valid IPv4 address, got {name}"
        ))
    };
    if checked.len() > 63 || checked.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err(msg());
    }
    collection_name(checked).map_err(|_| msg())
}

/// Longest tenant or database name, in characters. Chroma has no upper bound on tenant names,
/// nor 0.4-0.6 on database names; but a name must fit in the URL of every call that names it
/// (`/api/v2/tenants/{tenant}/databases/{database}/collections/{id}/...`, percent-encoded:
/// up to 12 bytes per character), and HTTP servers refuse long URLs (Chroma 1.5.9 answers
/// 414 for a 100,000-character tenant that it created). 512 is Chroma 1.x's own bound on
/// database and collection names; two such names take at most 12 KiB of URL.
pub const MAX_NAME_CHARS: usize = 512;

/// Tenant names, on create: at least 3 characters (every Chroma release) and at most
/// [`MAX_NAME_CHARS`]; any characters otherwise, as in every Chroma release.
pub fn tenant_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n < 3 {
        return Err(Error::invalid("Tenant name must be at least 3 characters long"));
    }
    if n > MAX_NAME_CHARS {
        return Err(Error::invalid(format!(
            "Tenant name of {n} characters exceeds the limit of {MAX_NAME_CHARS} characters: {}",
            shown_name(name)
        )));
    }
    Ok(())
}

/// Database names, on create, as every client line allows them: at least 3 characters (the rule
/// and message of Chroma 0.4-0.6, whose clients and test suites create names such as `-a_`) and at
/// most [`MAX_NAME_CHARS`]. A 1.x client's create must also pass [`database_name_1x`].
pub fn database_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n < 3 {
        return Err(Error::invalid("Database name must be at least 3 characters long"));
    }
    if n > MAX_NAME_CHARS {
        return Err(Error::invalid(format!(
            "Database name of {n} characters exceeds the limit of {MAX_NAME_CHARS} characters: {}",
            shown_name(name)
        )));
    }
    Ok(())
}

/// Database names of Chroma 1.x: the collection name rules ([`collection_name`]), with Chroma
/// 1.5.9's messages. For a create from a 1.x client (API v2), on top of [`database_name`].
pub fn database_name_1x(name: &str) -> Result<()> {
    name_1x(name)
}

/// A `limit` or `offset` as the signed 64-bit number that SQL takes. A `usize` from a query
/// string or the Rust API can exceed `i64::MAX`; `as i64` would wrap it to a negative number
/// (which `SQLite` reads as "no limit" for `LIMIT` and 0 for `OFFSET`). Beyond `i64::MAX` is
/// `i64::MAX`, which no table reaches: the same answer as the exact number.
pub fn page_bound(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Ids: non-empty strings, unique within one call.
pub fn ids(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Err(Error::invalid("Expected IDs to be a non-empty list"));
    }
    if ids.iter().any(String::is_empty) {
        return Err(Error::invalid("Empty ID, ID must have at least one character"));
    }
    let mut seen = HashSet::with_capacity(ids.len());
    let mut dups: Vec<&str> = Vec::new();
    for id in ids {
        if !seen.insert(id.as_str()) && !dups.contains(&id.as_str()) {
            dups.push(id);
        }
    }
    if !dups.is_empty() {
        let shown: Vec<&str> = dups.iter().take(10).copied().collect();
        return Err(Error::new(
            ErrorKind::DuplicateId,
            format!("Expected IDs to be unique, found duplicates of: {}", shown.join(", ")),
        ));
    }
    Ok(())
}

/// The number of records in one write may not exceed `max`.
pub fn batch_size(n: usize, max: usize) -> Result<()> {
    if n > max {
        return Err(Error::new(
            ErrorKind::BatchSizeExceeded,
            format!("Batch size {n} exceeds maximum batch size {max}"),
        ));
    }
    Ok(())
}

/// One embedding: non-empty, finite.
pub fn embedding(e: &[f32]) -> Result<()> {
    if e.is_empty() {
        return Err(Error::invalid("Expected each embedding to be a non-empty list of numbers"));
    }
    if let Some(pos) = e.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(format!(
            "Expected embeddings to contain only finite numbers, got {} at position {pos}",
            e[pos]
        )));
    }
    Ok(())
}

/// Embeddings of one call: each valid, all of one dimension, and of `expected` if set.
/// Returns the dimension.
pub fn embeddings<'a>(items: impl IntoIterator<Item = &'a [f32]>, expected: Option<usize>) -> Result<Option<usize>> {
    let mut dim = expected;
    for e in items {
        embedding(e)?;
        match dim {
            None => dim = Some(e.len()),
            Some(d) if d != e.len() => return Err(Error::dimension(d, e.len())),
            Some(_) => {}
        }
    }
    Ok(dim)
}

/// Why the 1.x rules refuse a metadata key, if they do (`#`/`$`: Chroma 1.5.9 refuses them).
fn key(k: &str) -> Result<()> {
    if k.is_empty() {
        return Err(Error::invalid("Expected metadata keys to be non-empty strings"));
    }
    if k.starts_with('#') || k.starts_with('$') {
        return Err(Error::invalid(format!(
            "Metadata key {k} is reserved (keys may not start with 'chroma:', '#' or '$')"
        )));
    }
    stored_key(k)
}

/// What any client line accepts as a metadata key: everything but the `chroma:` prefix (Chroma
/// keeps it for itself; 0.4-0.6 dropped such record keys without a word, so no data holds them).
/// `#`, `$` and the empty key are what 0.x servers stored and 1.x refuses.
fn stored_key(k: &str) -> Result<()> {
    if k.starts_with("chroma:") {
        return Err(Error::invalid(format!(
            "Metadata key {k} is reserved (keys may not start with 'chroma:', '#' or '$')"
        )));
    }
    Ok(())
}

/// Record metadata keys of add/upsert/update under `dialect`'s rules (see
/// [`Dialect::legacy_metadata_keys`]).
pub fn update_metadata(m: &UpdateMetadata, dialect: Dialect) -> Result<()> {
    if dialect.legacy_metadata_keys {
        m.keys().try_for_each(|k| stored_key(k))
    } else {
        m.keys().try_for_each(|k| key(k))
    }
}

/// The metadatas of one write: under the 1.x rules a refused key gets Chroma 1.5.9's message,
/// which names the record's position.
fn record_metadatas(ms: Option<&Vec<Option<UpdateMetadata>>>, dialect: Dialect) -> Result<()> {
    for (i, m) in ms.into_iter().flatten().enumerate() {
        let Some(m) = m else { continue };
        update_metadata(m, dialect).map_err(|e| {
            if dialect.legacy_metadata_keys {
                e
            } else {
                Error::invalid(format!("Validation error: metadatas: Invalid metadata at index {i}"))
            }
        })?;
    }
    Ok(())
}

/// Collection metadata as the store keeps it: scalar values only, keys as any client line
/// accepted them (`#`/`$`: 0.x; a 1.x client's create and modify also pass
/// [`collection_metadata_keys_1x`]); `hnsw:*` keys are checked by [`crate::config`].
pub fn collection_metadata(m: &Metadata) -> Result<()> {
    if m.is_empty() {
        return Err(Error::invalid("Expected metadata to be a non-empty dict, got {}"));
    }
    for (k, v) in m {
        stored_key(k)?;
        if v.is_array() {
            return Err(Error::invalid(format!("Collection metadata value for key '{k}' cannot be a list")));
        }
        if matches!(v, crate::MetadataValue::Sparse(_)) {
            return Err(Error::invalid(format!("Collection metadata value for key '{k}' cannot be a sparse vector")));
        }
    }
    Ok(())
}

/// Collection metadata keys of a 1.x client's create (`field` "metadata") or modify
/// ("`new_metadata`"): no `#`/`$` prefix, in Chroma 1.5.9's words.
pub fn collection_metadata_keys_1x(m: &Metadata, field: &str) -> Result<()> {
    match m.keys().find(|k| k.starts_with('#') || k.starts_with('$')) {
        Some(k) => {
            Err(Error::invalid(format!("Validation error: {field}: Metadata key cannot start with '#' or '$': {k}")))
        }
        None => Ok(()),
    }
}

fn same_len<T>(what: &str, col: Option<&Vec<T>>, n: usize) -> Result<()> {
    match col {
        Some(c) if c.len() != n => {
            Err(Error::invalid(format!("Number of {what} {} must match number of ids {n}", c.len())))
        }
        _ => Ok(()),
    }
}

/// Shape of an add/upsert: ids, lengths, embeddings, metadata keys, batch size.
/// Returns the batch's embedding dimension.
pub fn add_request(req: &AddRequest, expected_dim: Option<usize>, max_batch: usize) -> Result<Option<usize>> {
    ids(&req.ids)?;
    batch_size(req.ids.len(), max_batch)?;
    if req.embeddings.len() != req.ids.len() {
        return Err(Error::invalid(format!(
            "Number of embeddings {} must match number of ids {}",
            req.embeddings.len(),
            req.ids.len()
        )));
    }
    same_len("documents", req.documents.as_ref(), req.ids.len())?;
    same_len("uris", req.uris.as_ref(), req.ids.len())?;
    same_len("metadatas", req.metadatas.as_ref(), req.ids.len())?;
    record_metadatas(req.metadatas.as_ref(), req.dialect)?;
    embeddings(req.embeddings.iter().map(Vec::as_slice), expected_dim)
}

/// Shape of an update. Returns the batch's embedding dimension, if it carries embeddings.
pub fn update_request(req: &UpdateRequest, expected_dim: Option<usize>, max_batch: usize) -> Result<Option<usize>> {
    ids(&req.ids)?;
    batch_size(req.ids.len(), max_batch)?;
    same_len("embeddings", req.embeddings.as_ref(), req.ids.len())?;
    same_len("documents", req.documents.as_ref(), req.ids.len())?;
    same_len("uris", req.uris.as_ref(), req.ids.len())?;
    same_len("metadatas", req.metadatas.as_ref(), req.ids.len())?;
    record_metadatas(req.metadatas.as_ref(), req.dialect)?;
    embeddings(req.embeddings.iter().flatten().flatten().map(Vec::as_slice), expected_dim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["abc", "a.b-c_d", "A1b", &"x".repeat(512)] {
            collection_name(ok).unwrap();
        }
        for bad in ["ab", "-abc", "abc-", "a..b", "192.168.1.1", "::1", "a b c", &"x".repeat(513), "äbc"] {
            assert!(collection_name(bad).is_err(), "{bad}");
        }
        assert!(collection_name_v04(&"x".repeat(64)).is_err());
        assert!(collection_name_v04("10.0.0.1").unwrap_err().message.contains("IPv4"));
        assert!(tenant_name("ab").is_err());
        database_name("abc").unwrap();
    }

    #[test]
    fn name_messages_are_chroma_1_5_9s() {
        let msg = |r: Result<()>| r.unwrap_err().message;
        for f in [collection_name, database_name_1x] {
            assert_eq!(
                msg(f("a b")),
                "Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: a b"
            );
            assert_eq!(msg(f("abc..")), msg(f("abc..")));
            assert!(msg(f("abc..")).starts_with("Expected a name containing 3-512"));
            assert_eq!(msg(f("a..b")), "Expected a name that does not contains two consecutive periods (..). Got a..b");
            assert_eq!(
                msg(f("a...b")),
                "Expected a name that does not contains two consecutive periods (..). Got a...b"
            );
            assert_eq!(msg(f("192.168.0.1")), "Expected a name that is not a valid ip address. Got 192.168.0.1");
            assert!(msg(f("::1")).starts_with("Expected a name containing 3-512"));
            f("1.2.3").unwrap();
            f(&"d".repeat(512)).unwrap();
            assert!(msg(f(&"d".repeat(513))).starts_with("Expected a name containing 3-512"));
        }
        // A huge name is not copied whole into the message.
        let huge = msg(collection_name(&"x".repeat(100_000)));
        assert!(huge.len() < 1200 && huge.ends_with("... (100000 characters)"), "{}", huge.len());
    }

    #[test]
    fn tenant_and_database_names() {
        // Every Chroma release: at least 3 characters, anything else goes (1.5.9 creates
        // tenants "a b", "a/b", "-abc", "a..b", "192.168.0.1"; 0.4-0.6 databases too).
        for ok in
            ["abc", "a b", "a/b", "-abc", "a..b", "192.168.0.1", "äbc", "x\0y", &"t".repeat(512), &"é".repeat(512)]
        {
            tenant_name(ok).unwrap();
            database_name(ok).unwrap();
        }
        assert_eq!(tenant_name("ab").unwrap_err().message, "Tenant name must be at least 3 characters long");
        assert_eq!(tenant_name("äb").unwrap_err().message, "Tenant name must be at least 3 characters long");
        assert_eq!(database_name("").unwrap_err().message, "Database name must be at least 3 characters long");
        assert_eq!(
            tenant_name(&"t".repeat(513)).unwrap_err().message,
            format!("Tenant name of 513 characters exceeds the limit of 512 characters: {}", "t".repeat(513))
        );
        let e = tenant_name(&"t".repeat(100_000)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert!(e.message.starts_with("Tenant name of 100000 characters exceeds the limit of 512 characters: ttt"));
        assert!(e.message.len() < 1200);
        assert!(database_name(&"é".repeat(513))
            .unwrap_err()
            .message
            .starts_with("Database name of 513 characters exceeds the limit of 512 characters"));
        // 1.x clients: the collection name rules.
        database_name_1x("my-db.v2").unwrap();
        for bad in ["-abc", "a b", "a/b", "a..b", "192.168.0.1", "ab"] {
            assert!(database_name_1x(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn page_bounds_do_not_wrap() {
        assert_eq!(page_bound(0), 0);
        assert_eq!(page_bound(10), 10);
        assert_eq!(page_bound(i64::MAX as usize), i64::MAX);
        assert_eq!(page_bound(1 << 63), i64::MAX);
        assert_eq!(page_bound(usize::MAX), i64::MAX);
    }

    #[test]
    fn id_rules() {
        let e = ids(&["a".into(), "b".into(), "a".into()]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::DuplicateId);
        assert!(e.message.contains("duplicates of: a"));
        assert!(ids(&[]).is_err());
        assert!(ids(&[String::new()]).is_err());
    }

    #[test]
    fn embedding_rules() {
        assert!(embedding(&[f32::NAN]).is_err());
        assert!(embedding(&[]).is_err());
        let e = embeddings([&[1.0f32, 2.0][..], &[1.0][..]], None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidDimension);
        assert_eq!(embeddings([&[1.0f32, 2.0][..]], Some(2)).unwrap(), Some(2));
    }

    #[test]
    fn add_shape() {
        let mut r = AddRequest::new(vec!["a".into()], vec![vec![1.0]]);
        add_request(&r, None, 10).unwrap();
        r.documents = Some(vec![]);
        assert!(add_request(&r, None, 10).unwrap_err().message.contains("documents"));
        let r = AddRequest::new(vec!["a".into(), "b".into()], vec![vec![1.0], vec![2.0]]);
        assert_eq!(add_request(&r, None, 1).unwrap_err().kind, ErrorKind::BatchSizeExceeded);
    }

    #[test]
    fn metadata_keys_per_dialect() {
        let md = |k: &str| -> UpdateMetadata { [(k.to_string(), Some(crate::MetadataValue::Int(1)))].into() };
        let legacy = Dialect { legacy_metadata_keys: true, ..Dialect::V1 };
        for k in ["$dollar", "#hash", "", "plain"] {
            update_metadata(&md(k), legacy).unwrap();
        }
        for k in ["$dollar", "#hash", "", "chroma:x"] {
            assert!(update_metadata(&md(k), Dialect::V1).is_err(), "{k:?}");
        }
        assert!(update_metadata(&md("chroma:x"), legacy).is_err());
        let mut r = AddRequest::new(vec!["a".into(), "b".into()], vec![vec![1.0], vec![2.0]]);
        r.metadatas = Some(vec![Some(md("ok")), Some(md("#x"))]);
        assert_eq!(
            add_request(&r, None, 10).unwrap_err().message,
            "Validation error: metadatas: Invalid metadata at index 1"
        );
        r.dialect = legacy;
        add_request(&r, None, 10).unwrap();
        let coll: Metadata = [("$c".to_string(), crate::MetadataValue::Int(1))].into();
        collection_metadata(&coll).unwrap();
        assert_eq!(
            collection_metadata_keys_1x(&coll, "metadata").unwrap_err().message,
            "Validation error: metadata: Metadata key cannot start with '#' or '$': $c"
        );
    }
}
