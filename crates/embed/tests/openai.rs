//! The OpenAI-compatible embedding function against a stand-in `/v1/embeddings` server on
//! 127.0.0.1 written here: batching, headers and body, order by `index`, clear errors on HTTP
//! errors, wrong counts and wrong dimensions, a missing key, and the stored config as Chroma
//! 1.5.9 stores its `OpenAIEmbeddingFunction`'s.

#![cfg(feature = "openai")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use chroma_embed::{EmbedError, EmbeddingFunction, OpenAiEmbeddingFunction};
use serde_json::{json, Value};

/// How the stand-in answers.
#[derive(Clone, Copy)]
enum Mode {
    /// 3-d vectors derived from each text, items in reverse order with their `index`.
    Good,
    /// 401 with the `OpenAI` API's error shape.
    Unauthorized,
    /// One vector fewer than texts.
    Short,
    /// The last vector of each reply one number shorter.
    Ragged,
}

/// One request as the stand-in saw it: the Authorization header and the JSON body.
type Seen = Arc<Mutex<Vec<(String, Value)>>>;

/// The vector the stand-in gives `text`.
fn vector_of(text: &str) -> Vec<f32> {
    let bytes = text.as_bytes();
    vec![bytes.len() as f32, f32::from(bytes.first().copied().unwrap_or(0)), 0.5]
}

fn serve(mode: Mode) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut auth, mut length, mut line) = (String::new(), 0usize, String::new());
            reader.read_line(&mut line).unwrap();
            assert!(line.starts_with("POST /v1/embeddings "), "{line}");
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                let (name, value) = line.split_once(':').unwrap();
                match name.to_ascii_lowercase().as_str() {
                    "authorization" => auth = value.trim().to_string(),
                    "content-length" => length = value.trim().parse().unwrap(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let body: Value = serde_json::from_slice(&body).unwrap();
            let texts: Vec<String> = serde_json::from_value(body["input"].clone()).unwrap();
            log.lock().unwrap().push((auth, body));
            let mut items: Vec<Value> = texts
                .iter()
                .enumerate()
                .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": vector_of(t)}))
                .collect();
            items.reverse();
            let (status, reply) = match mode {
                Mode::Good => (200, json!({"object": "list", "data": items, "model": "m"})),
                Mode::Unauthorized => {
                    (401, json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}))
                }
                Mode::Short => {
                    items.pop();
                    (200, json!({"data": items}))
                }
                Mode::Ragged => {
                    items[0]["embedding"].as_array_mut().unwrap().pop();
                    (200, json!({"data": items}))
                }
            };
            let reply = reply.to_string();
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    (url, seen)
}

/// Sets a variable only this test reads (each test has its own name, so parallel tests do not
/// race on one variable).
fn set_key(var: &str) {
    std::env::set_var(var, "sk-test-key");
}

const TEXTS: [&str; 7] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"];

#[test]
fn batches_keep_order_and_send_model_key_and_dimensions() {
    let (url, seen) = serve(Mode::Good);
    set_key("CHROMA_RS_TEST_KEY_GOOD");
    let ef = OpenAiEmbeddingFunction::new("text-embedding-3-small")
        .api_base(&url)
        .api_key_env_var("CHROMA_RS_TEST_KEY_GOOD")
        .dimensions(3)
        .batch_size(3);
    let got = ef.embed(&TEXTS).unwrap();
    assert_eq!(got, TEXTS.iter().map(|t| vector_of(t)).collect::<Vec<_>>());
    let seen = seen.lock().unwrap();
    let sizes: Vec<usize> = seen.iter().map(|(_, b)| b["input"].as_array().unwrap().len()).collect();
    assert_eq!(sizes, [3, 3, 1]);
    for (auth, body) in seen.iter() {
        assert_eq!(auth, "Bearer sk-test-key");
        assert_eq!(body["model"], "text-embedding-3-small");
        assert_eq!(body["dimensions"], 3);
    }
    assert!(ef.embed(&[]).unwrap().is_empty());
}

#[test]
fn http_errors_name_the_status_and_message() {
    let (url, _) = serve(Mode::Unauthorized);
    set_key("CHROMA_RS_TEST_KEY_401");
    let ef = OpenAiEmbeddingFunction::new("m").api_base(&url).api_key_env_var("CHROMA_RS_TEST_KEY_401");
    let err = ef.embed(&TEXTS).unwrap_err();
    assert!(matches!(err, EmbedError::Remote { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("HTTP 401") && msg.contains("Incorrect API key provided") && msg.contains(&url), "{msg}");
}

#[test]
fn wrong_counts_and_dimensions_are_errors() {
    let (url, _) = serve(Mode::Short);
    set_key("CHROMA_RS_TEST_KEY_BAD");
    let ef = OpenAiEmbeddingFunction::new("m").api_base(&url).api_key_env_var("CHROMA_RS_TEST_KEY_BAD");
    let msg = ef.embed(&TEXTS[..2]).unwrap_err().to_string();
    assert!(msg.contains("1 embeddings for 2 texts"), "{msg}");

    let (url, _) = serve(Mode::Ragged);
    let ef = OpenAiEmbeddingFunction::new("m").api_base(&url).api_key_env_var("CHROMA_RS_TEST_KEY_BAD");
    let msg = ef.embed(&TEXTS[..2]).unwrap_err().to_string();
    assert!(msg.contains("embedding 1 has 2 dimensions, expected 3"), "{msg}");

    // Consistent vectors of another length than asked for.
    let (url, _) = serve(Mode::Good);
    let ef = OpenAiEmbeddingFunction::new("m").api_base(&url).api_key_env_var("CHROMA_RS_TEST_KEY_BAD").dimensions(8);
    let msg = ef.embed(&TEXTS[..2]).unwrap_err().to_string();
    assert!(msg.contains("embedding 0 has 3 dimensions, expected 8"), "{msg}");
}

#[test]
fn a_missing_key_is_an_error_and_nothing_is_sent() {
    let (url, seen) = serve(Mode::Good);
    let ef = OpenAiEmbeddingFunction::new("m").api_base(&url).api_key_env_var("CHROMA_RS_TEST_KEY_NEVER_SET");
    let err = ef.embed(&TEXTS).unwrap_err();
    assert!(matches!(err, EmbedError::Config(_)), "{err:?}");
    assert!(err.to_string().contains("CHROMA_RS_TEST_KEY_NEVER_SET environment variable is not set"), "{err}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn stored_config_is_chromas_and_round_trips() {
    let ef = OpenAiEmbeddingFunction::new("text-embedding-3-small")
        .api_base("http://127.0.0.1:9/v1")
        .api_key_env_var("MY_KEY")
        .dimensions(256);
    let stored = ef.stored_config();
    assert_eq!(stored["type"], "known");
    assert_eq!(stored["name"], "openai");
    // The keys 1.5.9's OpenAIEmbeddingFunction.get_config() writes, and never the key itself.
    let keys: Vec<&str> = stored["config"].as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = [
        "api_base",
        "api_key_env_var",
        "api_type",
        "api_version",
        "default_headers",
        "deployment_id",
        "dimensions",
        "model_name",
        "organization_id",
    ];
    want.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(stored["config"]["api_key_env_var"], "MY_KEY");
    assert_eq!(stored["config"]["model_name"], "text-embedding-3-small");
    let again = OpenAiEmbeddingFunction::from_config(&stored["config"]).unwrap();
    assert_eq!(again.stored_config(), stored);

    for (config, needle) in [
        (json!({"model_name": "m"}), "api_key_env_var and model_name are required"),
        (json!("x"), "config must be an object"),
        (json!({"model_name": "m", "api_key_env_var": "K", "dimensions": -1}), "dimensions must be a positive integer"),
        (json!({"model_name": "m", "api_key_env_var": "K", "api_type": "azure"}), "not supported"),
        (json!({"model_name": 3, "api_key_env_var": "K"}), "model_name must be a string"),
    ] {
        let err = OpenAiEmbeddingFunction::from_config(&config).unwrap_err();
        assert!(err.to_string().contains(needle), "{config}: {err}");
    }
}
