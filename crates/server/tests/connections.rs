//! The edges of the HTTP layer against a real server: a body over the limit is answered in
//! Chroma's JSON error shape (v1 and v2), a client that sends half a request head is cut off
//! after the header-read timeout, an idle keep-alive connection is closed after the idle
//! timeout, and clients that behave are not affected.

mod common;

use chroma_server::ServerConfig;
use common::{raw, TestServer, T, UA04};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn server(header_read: f64, idle: f64) -> TestServer {
    common::start(ServerConfig {
        header_read_timeout: Some(Duration::from_secs_f64(header_read)),
        idle_timeout: Some(Duration::from_secs_f64(idle)),
        max_body_bytes: 1000,
        ..ServerConfig::default()
    })
}

/// Waits until the server closes `s` (read returns 0 or a reset); returns how long that took,
/// or `None` if it is still open after `within`. Whatever the server sent before is discarded.
fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let t = Instant::now();
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(t.elapsed()),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return None,
            Err(_) => return Some(t.elapsed()),
        }
        if t.elapsed() > within {
            return None;
        }
    }
}

#[test]
fn a_body_over_the_limit_is_a_json_error_on_v1_and_v2() {
    let s = server(10.0, 60.0);
    let big = format!("{{\"name\": \"{}\"}}", "a".repeat(2000));
    let r = raw(&s, "POST", &format!("{T}/collections"), &[("Content-Type", "application/json")], Some(&big));
    assert_eq!(r.status, 413, "{}", r.body);
    assert!(r.header("content-type").is_some_and(|c| c.starts_with("application/json")), "{:?}", r.headers);
    let v = r.json();
    // Chroma 1.5.9 answers {"error": "ChromaError", "message": "Failed to buffer the request body: ..."}.
    assert_eq!(v["error"], "ChromaError", "{v}");
    let m = v["message"].as_str().unwrap_or_default();
    assert!(m.contains("1000 bytes") && m.contains("max_payload_size_bytes") && m.contains("--max-body-bytes"), "{m}");
    assert!(r.header("chroma-trace-id").is_some());

    let r = raw(&s, "POST", "/api/v1/collections", &[UA04], Some(&big));
    assert_eq!(r.status, 413, "{}", r.body);
    let v = r.json();
    assert_eq!(v["error"], "ChromaError", "{v}");
    assert!(v["message"].as_str().unwrap_or_default().contains("1000 bytes"), "{v}");

    // A body within the limit still works, and the engine's own 413 keeps its name.
    let r = raw(&s, "POST", &format!("{T}/collections"), &[], Some("{\"name\": \"small\"}"));
    assert_eq!(r.status, 200, "{}", r.body);
}

#[test]
fn a_client_sending_half_a_head_is_cut_off() {
    let s = server(1.0, 30.0);
    let mut c = TcpStream::connect(s.addr).expect("connect");
    c.write_all(b"GET /api/v2/heartbeat HTTP/1.1\r\nHost: x\r\n").expect("write");
    // Keep dribbling header bytes, as a slowloris client does, so that only the head's own
    // clock (not the idle one) can end it.
    let t = Instant::now();
    let mut closed = None;
    for i in 0..40 {
        if c.write_all(format!("X-Slow-{i}: y\r\n").as_bytes()).is_err() {
            closed = Some(t.elapsed());
            break;
        }
        if closed_within(&mut c, Duration::from_millis(200)).is_some() {
            closed = Some(t.elapsed());
            break;
        }
    }
    let closed = closed.expect("a half-sent head must be cut off");
    eprintln!("half a head: closed after {closed:?} (header-read timeout 1 s)");
    assert!(closed >= Duration::from_millis(800) && closed < Duration::from_secs(4), "{closed:?}");
    // The server still serves others.
    assert_eq!(raw(&s, "GET", "/api/v2/heartbeat", &[], None).status, 200);
}

#[test]
fn an_idle_keep_alive_connection_is_closed() {
    let s = server(10.0, 1.0);
    let mut c = TcpStream::connect(s.addr).expect("connect");
    // Two requests on one keep-alive connection, within the idle time: both answered.
    for _ in 0..2 {
        c.write_all(b"GET /api/v2/heartbeat HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut buf = [0u8; 1024];
        c.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let n = c.read(&mut buf).expect("read");
        let head = String::from_utf8_lossy(&buf[..n]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let idle = closed_within(&mut c, Duration::from_secs(5)).expect("an idle connection must be closed");
    eprintln!("idle keep-alive connection closed after {idle:?} more (idle timeout 1 s)");
    assert!(idle >= Duration::from_millis(500) && idle < Duration::from_secs(3), "{idle:?}");
    // A connection that never sends anything is idle too.
    let mut quiet = TcpStream::connect(s.addr).expect("connect");
    let d = closed_within(&mut quiet, Duration::from_secs(5)).expect("a silent connection must be closed");
    assert!(d >= Duration::from_millis(800), "{d:?}");
}

#[test]
fn a_request_in_flight_is_not_cut_off_by_the_connection_timeouts() {
    // The head arrives at once, the body over ~1.2 s, longer than both timeouts: the connection
    // clocks stop while a request is in flight, so it is answered.
    let s = server(0.3, 0.3);
    let body = "{\"name\": \"slow-body\", \"metadata\": {\"pad\": \"........................\"}}";
    let mut c = TcpStream::connect(s.addr).expect("connect");
    let head = format!(
        "POST {T}/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    c.write_all(head.as_bytes()).expect("head");
    for chunk in body.as_bytes().chunks(body.len() / 6 + 1) {
        std::thread::sleep(Duration::from_millis(200));
        c.write_all(chunk).expect("body chunk");
    }
    c.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let mut out = String::new();
    c.read_to_string(&mut out).expect("answer");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("slow-body"), "{out}");
}
