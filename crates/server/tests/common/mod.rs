//! A real server (chroma-rs engine + router) on 127.0.0.1, and a raw HTTP helper that sends
//! exactly the bytes given (no Content-Type unless asked), as old Chroma clients do.

#![allow(dead_code)]

use chroma_server::ServerConfig;
use chroma_types::{ChromaApi, Settings};
use serde_json::Value;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

pub struct TestServer {
    pub addr: std::net::SocketAddr,
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn start(config: ServerConfig) -> TestServer {
    let settings = Settings { allow_reset: config.allow_reset, ..Settings::default() };
    let engine = chroma_store::Engine::ephemeral(settings).expect("engine");
    start_with(Arc::new(engine), config)
}

pub fn start_with(api: Arc<dyn ChromaApi>, config: ServerConfig) -> TestServer {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    std_listener.set_nonblocking(true).expect("nonblocking");
    let addr = std_listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
            chroma_server::serve_on(listener, api, config, async {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
    });
    TestServer { addr, url: format!("http://{addr}"), stop: Some(tx), thread: Some(thread) }
}

pub fn reset_config() -> ServerConfig {
    ServerConfig { allow_reset: true, ..ServerConfig::default() }
}

pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Raw {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Sends one request with exactly these headers (plus Host, Content-Length, Connection: close).
pub fn raw(server: &TestServer, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Raw {
    raw_to(server.addr, method, path, headers, body)
}

/// [`raw`] to any server (e.g. a real Chroma).
pub fn raw_to(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Raw {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || method == "POST" || method == "PUT" {
        let _ = write!(req, "Content-Length: {}\r\n", body.len());
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|c| c.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_string(), v.trim().to_string())).collect();
    let chunked = headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Raw { status, headers, body }
}

fn dechunk(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// The 0.4.24 Python client: `python-requests` UA, JSON body without Content-Type.
pub const UA04: (&str, &str) = ("User-Agent", "python-requests/2.31.0");
/// The 0.5.15 Python client.
pub const UA05: (&str, &str) = ("User-Agent", "python-httpx/0.27.0");

pub const T: &str = "/api/v2/tenants/default_tenant/databases/default_database";
