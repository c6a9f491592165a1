//! The `SQLite` schema, as numbered migrations embedded in the binary.
//!
//! Each applied migration is recorded in `schema_migrations` with a SHA-256 checksum of its
//! SQL. On open, applied migrations are verified against the embedded ones (a changed
//! checksum is an error, never silent drift), a database that records a migration this build
//! does not know (written by a newer chroma-rs) is refused untouched, and pending migrations
//! are applied in one transaction.

use crate::error::ResultExt;
use chroma_types::{Error, Result};
use rusqlite::{params, Connection};
use sha2::{Digest, Sha256};

/// One schema step. The SQL text must never change once released: its checksum is stored.
pub struct Migration {
    /// Applied in increasing order; recorded in `schema_migrations`.
    pub version: i64,
    /// What the step does, for messages.
    pub name: &'static str,
    /// The SQL, run as one batch.
    pub sql: &'static str,
}

/// Every migration, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core tables",
        sql: r"
CREATE TABLE tenants (
    name TEXT PRIMARY KEY
);
CREATE TABLE databases (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
    UNIQUE (tenant, name)
);
CREATE TABLE collections (
    cid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    database_id TEXT NOT NULL REFERENCES databases(id) ON DELETE CASCADE,
    metadata TEXT,
    config TEXT NOT NULL,
    dimension INTEGER,
    version INTEGER NOT NULL DEFAULT 0,
    log_position INTEGER NOT NULL DEFAULT 0,
    slot_count INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    UNIQUE (database_id, name)
);
CREATE TABLE records (
    rid INTEGER PRIMARY KEY,
    cid INTEGER NOT NULL REFERENCES collections(cid) ON DELETE CASCADE,
    id TEXT NOT NULL,
    slot INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    document TEXT,
    uri TEXT,
    metadata TEXT,
    UNIQUE (cid, id)
);
CREATE INDEX records_by_slot ON records (cid, slot);
CREATE TABLE metadata_index (
    rid INTEGER NOT NULL REFERENCES records(rid) ON DELETE CASCADE,
    cid INTEGER NOT NULL,
    key TEXT NOT NULL,
    in_array INTEGER NOT NULL DEFAULT 0,
    str_value TEXT,
    int_value INTEGER,
    float_value REAL,
    bool_value INTEGER
);
CREATE INDEX metadata_index_by_record ON metadata_index (rid);
INSERT INTO tenants (name) VALUES ('default_tenant');
INSERT INTO databases (id, name, tenant)
    VALUES ('00000000-0000-0000-0000-000000000000', 'default_database', 'default_tenant');
",
    },
    Migration {
        version: 2,
        name: "filter indexes and full-text search",
        sql: r"
CREATE INDEX metadata_str ON metadata_index (cid, key, str_value) WHERE str_value IS NOT NULL;
CREATE INDEX metadata_int ON metadata_index (cid, key, int_value) WHERE int_value IS NOT NULL;
CREATE INDEX metadata_float ON metadata_index (cid, key, float_value) WHERE float_value IS NOT NULL;
CREATE INDEX metadata_bool ON metadata_index (cid, key, bool_value) WHERE bool_value IS NOT NULL;
CREATE VIRTUAL TABLE documents_fts USING fts5(
    document, tokenize = 'trigram case_sensitive 1', content = '', contentless_delete = 1
);
INSERT INTO documents_fts (rowid, document) SELECT rid, document FROM records WHERE document IS NOT NULL;
",
    },
    Migration {
        version: 3,
        name: "records in insertion order per collection",
        sql: r"
CREATE INDEX records_by_cid_rid ON records (cid, rid);
",
    },
    Migration {
        version: 4,
        name: "fork lineage",
        sql: r"
ALTER TABLE collections ADD COLUMN lineage TEXT;
",
    },
    Migration {
        version: 5,
        name: "operation counts and indexed operations",
        sql: r"
ALTER TABLE collections ADD COLUMN total_ops INTEGER NOT NULL DEFAULT 0;
ALTER TABLE collections ADD COLUMN indexed_ops INTEGER NOT NULL DEFAULT 0;
UPDATE collections SET total_ops = (SELECT count(*) FROM records r WHERE r.cid = collections.cid);
UPDATE collections SET indexed_ops = total_ops;
",
    },
];

/// The schema version this build writes.
pub fn current_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// SHA-256 of a migration's SQL, in hex.
pub fn checksum(sql: &str) -> String {
    let digest = Sha256::digest(sql.as_bytes());
    digest.iter().fold(String::with_capacity(64), |mut s, b| {
        use std::fmt::Write;
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Verifies applied migrations and applies pending ones (up to `target`, normally all).
/// Returns the number applied.
pub fn migrate(conn: &mut Connection, target: i64) -> Result<usize> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
        );",
    )
    .context("creating schema_migrations")?;
    let applied: Vec<(i64, String, String)> = {
        let mut stmt = conn
            .prepare("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
            .context("reading schema_migrations")?;
        let rows =
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).context("reading schema_migrations")?;
        rows.collect::<std::result::Result<_, _>>().context("reading schema_migrations")?
    };
    for (version, name, sum) in &applied {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == *version) else {
            return Err(Error::unavailable(format!(
                "this data folder was written by a newer chroma-rs (schema version {version} \"{name}\"; this build knows up to {}). \
                 Upgrade chroma-rs to open it; nothing was changed.",
                current_version()
            )));
        };
        if checksum(m.sql) != *sum {
            return Err(Error::unavailable(format!(
                "schema migration {version} (\"{}\") recorded in this data folder has checksum {sum}, but this build's copy has {}. \
                 The migration was modified after it was applied; refusing to open rather than drift.",
                m.name,
                checksum(m.sql)
            )));
        }
    }
    let done: std::collections::HashSet<i64> = applied.iter().map(|a| a.0).collect();
    let pending: Vec<&Migration> =
        MIGRATIONS.iter().filter(|m| m.version <= target && !done.contains(&m.version)).collect();
    if pending.is_empty() {
        return Ok(0);
    }
    let tx = conn.transaction().context("starting migration")?;
    for m in &pending {
        tx.execute_batch(m.sql).with_context(|| format!("applying schema migration {} ({})", m.version, m.name))?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, checksum(m.sql)],
        )
        .context("recording migration")?;
    }
    tx.commit().context("committing migrations")?;
    Ok(pending.len())
}

/// The highest applied schema version, if the database has the bookkeeping table.
#[cfg(any(test, feature = "testing"))]
pub fn applied_version(conn: &Connection) -> Result<Option<i64>> {
    use rusqlite::OptionalExtension;
    let has: Option<String> = conn
        .query_row("SELECT name FROM sqlite_master WHERE type='table' AND name='schema_migrations'", [], |r| r.get(0))
        .optional()
        .context("reading sqlite_master")?;
    if has.is_none() {
        return Ok(None);
    }
    conn.query_row("SELECT max(version) FROM schema_migrations", [], |r| r.get(0)).context("reading schema version")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_and_verifies() {
        let mut c = Connection::open_in_memory().unwrap();
        assert_eq!(migrate(&mut c, current_version()).unwrap(), MIGRATIONS.len());
        assert_eq!(migrate(&mut c, current_version()).unwrap(), 0);
        assert_eq!(applied_version(&c).unwrap(), Some(current_version()));
    }

    #[test]
    fn upgrades_from_first_version() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, 1).unwrap();
        c.execute("INSERT INTO collections (id, name, database_id, config) VALUES ('u', 'c', '00000000-0000-0000-0000-000000000000', '{}')", []).unwrap();
        c.execute("INSERT INTO records (cid, id, slot, seq, document) VALUES (1, 'a', 0, 1, 'hello world')", [])
            .unwrap();
        assert_eq!(migrate(&mut c, current_version()).unwrap(), MIGRATIONS.len() - 1);
        let n: i64 = c
            .query_row("SELECT count(*) FROM documents_fts WHERE documents_fts MATCH '\"wor\"'", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn changed_checksum_and_newer_schema_are_refused() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, current_version()).unwrap();
        c.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1", []).unwrap();
        let e = migrate(&mut c, current_version()).unwrap_err();
        assert!(e.message.contains("checksum"), "{e}");
        c.execute("UPDATE schema_migrations SET checksum = ?1 WHERE version = 1", [checksum(MIGRATIONS[0].sql)])
            .unwrap();
        c.execute("INSERT INTO schema_migrations (version, name, checksum) VALUES (999, 'future', 'y')", []).unwrap();
        let e = migrate(&mut c, current_version()).unwrap_err();
        assert!(e.message.contains("newer chroma-rs"), "{e}");
    }
}
