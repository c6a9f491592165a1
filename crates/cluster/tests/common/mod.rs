//! Shared test setup: a fresh PostgreSQL database per test on the server named by
//! `CHROMA_RS_POSTGRES_URL` (`scripts/fixtures/start-postgres.sh` starts one).
#![allow(dead_code)]

use chroma_cluster::{Cluster, ClusterOptions};
use chroma_types::Settings;

/// The base URL, or `None` to skip. Under CI a missing URL is a failure, not a skip.
pub fn base_url() -> Option<String> {
    match std::env::var("CHROMA_RS_POSTGRES_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CHROMA_RS_POSTGRES_URL is not set (scripts/fixtures/start-postgres.sh prints it)"
            );
            eprintln!("skipped: CHROMA_RS_POSTGRES_URL is not set (run scripts/fixtures/start-postgres.sh)");
            None
        }
    }
}

/// `base` with its database replaced by `db`.
pub fn with_db(base: &str, db: &str) -> String {
    let (head, _) = base.rsplit_once('/').expect("URL with a database");
    format!("{head}/{db}")
}

/// A new, empty database named after the test; its URL. `CHROMA_RS_PG_TEST_PREFIX` (default
/// `chroma_test_`) prefixes the name, so runs sharing one server do not drop each other's.
pub fn fresh_db(base: &str, name: &str) -> String {
    let prefix = std::env::var("CHROMA_RS_PG_TEST_PREFIX").unwrap_or_else(|_| "chroma_test_".into());
    assert!(prefix.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "bad prefix {prefix:?}");
    let db = format!("{prefix}{name}");
    let mut c = postgres::Client::connect(base, postgres::NoTls).expect("connect to PostgreSQL");
    c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).expect("drop database");
    c.batch_execute(&format!("CREATE DATABASE {db}")).expect("create database");
    with_db(base, &db)
}

/// A node on `url` with reset allowed.
pub fn node(url: &str) -> Cluster {
    let mut o = ClusterOptions::new(url);
    o.settings = Settings { allow_reset: true, ..Settings::default() };
    Cluster::open(o).expect("open a node")
}
