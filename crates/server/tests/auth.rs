//! Basic auth with bcrypt hashes against a real server: a check costs the same whether or not
//! the user exists, password guessing does not slow other requests, a correct client pays
//! bcrypt once (then its credentials are cached), and too many queued checks are refused in
//! Chroma's JSON error shape.

mod common;

use base64::Engine as _;
use chroma_server::{Auth, BasicUser, ServerConfig};
use common::{raw, Raw, TestServer};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const LIST: &str = "/api/v2/tenants/default_tenant/databases/default_database/collections";

fn server(cost: u32) -> TestServer {
    let users = vec![
        BasicUser { user: "alice".into(), secret: bcrypt::hash("right-password", cost).expect("hash") },
        BasicUser { user: "bob".into(), secret: "plain-password".into() },
    ];
    common::start(ServerConfig { auth: Auth::Basic { users }, ..ServerConfig::default() })
}

fn basic(user: &str, pass: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

fn list_as(s: &TestServer, user: &str, pass: &str) -> (Raw, Duration) {
    let auth = basic(user, pass);
    let t = Instant::now();
    let r = raw(s, "GET", LIST, &[("Authorization", auth.as_str())], None);
    (r, t.elapsed())
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One bcrypt verification at `cost` on this machine, now (the median of 5).
fn bcrypt_time(cost: u32) -> Duration {
    let h = bcrypt::hash("x", cost).expect("hash");
    let mut v: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            assert!(!bcrypt::verify("y", &h).expect("verify"));
            t.elapsed()
        })
        .collect();
    median(&mut v)
}

#[test]
fn an_unknown_user_takes_as_long_as_a_wrong_password() {
    let s = server(8);
    let (mut unknown, mut wrong) = (Vec::new(), Vec::new());
    // Interleaved, so that a change in the machine's load hits both alike.
    for i in 0..25 {
        let (r, t) = list_as(&s, &format!("mallory{i}"), "guess");
        assert_eq!(r.status, 401, "{}", r.body);
        unknown.push(t);
        let (r, t) = list_as(&s, "alice", &format!("guess{i}"));
        assert_eq!(r.status, 401, "{}", r.body);
        assert_eq!(r.json()["error"], "AuthorizationError");
        wrong.push(t);
        // The plain-password user also pays the dummy bcrypt: no user can be told apart.
        let (r, _) = list_as(&s, "bob", &format!("guess{i}"));
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let (u, w) = (median(&mut unknown), median(&mut wrong));
    let b = bcrypt_time(8);
    eprintln!("median: unknown user {u:?}, wrong password {w:?}; one bcrypt at cost 8: {b:?}");
    // Before: unknown 0.2 ms against 77 ms (cost 10), a ratio of ~400.
    let ratio = u.max(w).as_secs_f64() / u.min(w).as_secs_f64();
    assert!(ratio < 1.5, "unknown user {u:?} vs wrong password {w:?}: ratio {ratio:.2} (bound 1.5)");
    assert!(u >= b / 2, "an unknown user ({u:?}) must cost a bcrypt ({b:?})");
}

#[test]
fn password_guessing_does_not_slow_other_requests() {
    let s = server(10);
    // A client that verified before the attack: its credentials are cached.
    assert_eq!(list_as(&s, "alice", "right-password").0.status, 200);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (heartbeats, cached, guesses) = std::thread::scope(|scope| {
        let guessers: Vec<_> = (0..8)
            .map(|g| {
                let (s, stop) = (&s, &stop);
                scope.spawn(move || {
                    let mut statuses = Vec::new();
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        statuses.push(list_as(s, "alice", &format!("guess-{g}-{i}")).0.status);
                        i += 1;
                    }
                    statuses
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let (mut heartbeats, mut cached) = (Vec::new(), Vec::new());
        for _ in 0..30 {
            let t = Instant::now();
            let r = raw(&s, "GET", "/api/v2/heartbeat", &[], None);
            heartbeats.push(t.elapsed());
            assert_eq!(r.status, 200, "{}", r.body);
            let (r, t) = list_as(&s, "alice", "right-password");
            assert_eq!(r.status, 200, "{}", r.body);
            cached.push(t);
            std::thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let guesses: Vec<u16> = guessers.into_iter().flat_map(|g| g.join().expect("guesser")).collect();
        (heartbeats, cached, guesses)
    });
    assert!(guesses.iter().all(|&st| st == 401 || st == 429), "{guesses:?}");
    let (h, c) = (median(&mut heartbeats.clone()), median(&mut cached.clone()));
    eprintln!(
        "8 guessers ({} guesses): heartbeat p50 {h:?} max {:?}; cached client p50 {c:?}",
        guesses.len(),
        heartbeats.iter().max()
    );
    // Before: 340-770 ms, the guesses' bcrypt ran on the async workers.
    assert!(h < Duration::from_millis(50), "heartbeat p50 {h:?} while guessing (bound 50 ms)");
    assert!(c < Duration::from_millis(50), "a cached client's p50 {c:?} while guessing (bound 50 ms)");
}

#[test]
fn a_correct_password_pays_bcrypt_once() {
    let s = server(10);
    let b = bcrypt_time(10);
    let (r, first) = list_as(&s, "alice", "right-password");
    assert_eq!(r.status, 200, "{}", r.body);
    let mut later: Vec<Duration> = (0..10)
        .map(|_| {
            let (r, t) = list_as(&s, "alice", "right-password");
            assert_eq!(r.status, 200, "{}", r.body);
            t
        })
        .collect();
    let later = median(&mut later);
    eprintln!("first {first:?}, cached p50 {later:?}, one bcrypt {b:?}");
    assert!(first >= b / 2, "the first check ({first:?}) runs bcrypt ({b:?})");
    assert!(later * 4 < b, "a cached check ({later:?}) must cost well under a bcrypt ({b:?})");
    // The cache is keyed by user and password: neither a wrong password nor another user rides on it.
    assert_eq!(list_as(&s, "alice", "right-passwordX").0.status, 401);
    assert_eq!(list_as(&s, "bob", "right-password").0.status, 401);
    assert_eq!(list_as(&s, "bob", "plain-password").0.status, 200);
}

#[test]
fn too_many_queued_checks_are_refused_as_rate_limited() {
    let s = server(10);
    let n = 64 + chroma_server::auth::Authenticator::bcrypt_slots() + 60;
    let barrier = Arc::new(Barrier::new(n));
    let results: Vec<Raw> = std::thread::scope(|scope| {
        let hs: Vec<_> = (0..n)
            .map(|i| {
                let (s, barrier) = (&s, barrier.clone());
                scope.spawn(move || {
                    barrier.wait();
                    list_as(s, "alice", &format!("guess{i}")).0
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let limited: Vec<&Raw> = results.iter().filter(|r| r.status == 429).collect();
    let denied = results.iter().filter(|r| r.status == 401).count();
    eprintln!("{n} concurrent guesses: {denied} x 401, {} x 429", limited.len());
    assert_eq!(denied + limited.len(), n, "only 401 and 429");
    assert!(!limited.is_empty(), "{n} concurrent checks: some must be refused");
    assert!(denied >= 64, "the queue holds 64 checks: {denied} were answered 401");
    let v = limited[0].json();
    assert_eq!(v["error"], "RateLimitError", "{v}");
    assert!(v["message"].as_str().unwrap_or("").contains("password checks"), "{v}");
    // The server still answers a correct client.
    assert_eq!(list_as(&s, "alice", "right-password").0.status, 200);
}
