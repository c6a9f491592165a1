//! Connections to PostgreSQL: a bounded pool, timeouts, errors mapped to Chroma's kinds, and
//! the embedded schema migrations.

use chroma_types::{Error, ErrorKind, Result};
use parking_lot::{Condvar, Mutex};
use postgres::error::SqlState;
use postgres::{Client, NoTls, Statement};
use sha2::{Digest, Sha256};
use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The schema migrations, in order: (version, name, SQL). Append only: an applied migration's
/// text is checked against its checksum on every start.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (2, "graphs", include_str!("../migrations/0002_graphs.sql")),
    (3, "log time", include_str!("../migrations/0003_log_time.sql")),
];

/// Key of the advisory lock under which nodes starting at once apply the migrations.
const MIGRATION_LOCK: i64 = 0x6368_726f_6d61_0001;

/// The schema version this node knows.
pub fn schema_version() -> i32 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

fn checksum(sql: &str) -> String {
    use std::fmt::Write;
    Sha256::digest(sql.as_bytes()).iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A PostgreSQL failure as Chroma's error: the server unreachable, shutting down or over its
/// statement timeout is `Unavailable` (503) naming the storage; anything else is internal.
pub fn pg_err(context: &str, e: postgres::Error) -> Error {
    let unavailable = match e.code() {
        None => true,
        Some(code) => {
            let c = code.code();
            // Class 08 (connection), 57 (operator intervention: shutdown, query_canceled by
            // statement_timeout), 53 (insufficient resources), 40 (serialization/deadlock),
            // 55P03 (lock_timeout: another node's write held the collection too long).
            c.starts_with("08") || c.starts_with("57") || c.starts_with("53") || c.starts_with("40") || c == "55P03"
        }
    };
    // A server error's Display is only "db error": name what the server said.
    let said = e.as_db_error().map_or_else(|| e.to_string(), |d| format!("{}: {}", d.code().code(), d.message()));
    if unavailable {
        Error::unavailable(format!("PostgreSQL storage unavailable while {context}: {said}")).with_source(e)
    } else {
        Error::internal_from(format!("PostgreSQL storage error while {context}"), e)
    }
}

/// True if `e` is a unique-constraint violation (a name taken by a concurrent writer).
pub fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A connection with the statements prepared on it.
struct Pooled {
    client: Client,
    /// Statements prepared once per connection (by their text): PostgreSQL then neither
    /// parses nor plans them again on each call.
    prepared: Vec<(&'static str, Statement)>,
}

/// A bounded pool of connections.
pub struct Pool {
    config: postgres::Config,
    idle: Mutex<Vec<Pooled>>,
    open: Mutex<usize>,
    freed: Condvar,
    max: usize,
    timeout: Duration,
}

impl Pool {
    /// A pool of at most `max` connections to `url`; `timeout` bounds connecting, waiting for a
    /// free connection and each statement.
    pub fn new(url: &str, max: usize, timeout: Duration) -> Result<Pool> {
        let mut config = postgres::Config::from_str(url)
            .map_err(|e| Error::invalid(format!("invalid --storage URL {url:?}: {e}")))?;
        let ms = timeout.as_millis().max(1);
        config
            .connect_timeout(timeout)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(10))
            .tcp_user_timeout(timeout)
            // A node frozen inside a write (stopped, not killed: its socket stays open) would
            // hold the collection's row lock; PostgreSQL ends such a session after a minute.
            .options(&format!(
                "-c statement_timeout={ms} -c lock_timeout={ms} -c idle_in_transaction_session_timeout=60000"
            ))
            .application_name("chroma-rs");
        Ok(Pool {
            config,
            idle: Mutex::new(Vec::new()),
            open: Mutex::new(0),
            freed: Condvar::new(),
            max: max.max(1),
            timeout,
        })
    }

    /// A connection, reused or new.
    pub fn get(&self) -> Result<Conn<'_>> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(c) = self.idle.lock().pop() {
                if !c.client.is_closed() {
                    return Ok(Conn { pool: self, client: Some(c) });
                }
                *self.open.lock() -= 1;
                continue;
            }
            let mut open = self.open.lock();
            if *open < self.max {
                *open += 1;
                drop(open);
                return match self.config.connect(NoTls) {
                    Ok(client) => Ok(Conn { pool: self, client: Some(Pooled { client, prepared: Vec::new() }) }),
                    Err(e) => {
                        *self.open.lock() -= 1;
                        self.freed.notify_one();
                        Err(pg_err("connecting", e))
                    }
                };
            }
            if self.freed.wait_until(&mut open, deadline).timed_out() {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("PostgreSQL storage busy: no free connection within {:?}", self.timeout),
                ));
            }
        }
    }

    /// Drops every idle connection (after PostgreSQL restarted, they are all dead).
    pub fn clear(&self) {
        let n = {
            let mut idle = self.idle.lock();
            let n = idle.len();
            idle.clear();
            n
        };
        *self.open.lock() -= n;
        self.freed.notify_all();
    }

    /// A connection outside the pool (the LISTEN thread's).
    pub fn connect_dedicated(&self) -> Result<Client> {
        self.config.connect(NoTls).map_err(|e| pg_err("connecting", e))
    }
}

/// A pooled connection, given back on drop unless it broke.
pub struct Conn<'a> {
    pool: &'a Pool,
    client: Option<Pooled>,
}

impl Conn<'_> {
    /// `sql` prepared on this connection (once; kept while the connection lives).
    pub fn prepared(&mut self, sql: &'static str) -> std::result::Result<Statement, postgres::Error> {
        let c = self.client.as_mut().expect("present until drop");
        if let Some((_, st)) = c.prepared.iter().find(|(text, _)| *text == sql) {
            return Ok(st.clone());
        }
        let st = c.client.prepare(sql)?;
        c.prepared.push((sql, st.clone()));
        Ok(st)
    }

    /// Drops the statements prepared on this connection (after a failed call: the next one
    /// prepares afresh, so a statement PostgreSQL no longer accepts is not reused forever).
    pub fn forget_prepared(&mut self) {
        if let Some(c) = self.client.as_mut() {
            c.prepared.clear();
        }
    }
}

impl Deref for Conn<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client.as_ref().expect("present until drop").client
    }
}

impl DerefMut for Conn<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client.as_mut().expect("present until drop").client
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if c.client.is_closed() {
                // A connection that failed once is not trusted again: PostgreSQL may be gone.
                *self.pool.open.lock() -= 1;
                drop(c);
                self.pool.clear();
            } else {
                self.pool.idle.lock().push(c);
            }
        }
        self.pool.freed.notify_one();
    }
}

/// Applies the embedded migrations that are missing, under an advisory lock, in one
/// transaction; refuses a database whose schema is newer than this node's or whose applied
/// migrations differ from the embedded ones.
pub fn migrate(client: &mut Client) -> Result<()> {
    let mut tx = client.transaction().map_err(|e| pg_err("migrating the schema", e))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .map_err(|e| pg_err("migrating the schema", e))?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS chroma_migrations (version integer PRIMARY KEY, name text NOT NULL,
         checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .map_err(|e| pg_err("migrating the schema", e))?;
    let rows = tx
        .query("SELECT version, checksum FROM chroma_migrations ORDER BY version", &[])
        .map_err(|e| pg_err("migrating the schema", e))?;
    let known = schema_version();
    let mut applied = 0;
    for row in rows {
        let (version, sum): (i32, String) = (row.get(0), row.get(1));
        let Some((_, name, sql)) = MIGRATIONS.iter().find(|m| m.0 == version) else {
            return Err(Error::new(
                ErrorKind::Internal,
                format!(
                    "the PostgreSQL schema is at version {version}, newer than this node knows ({known}); \
                     upgrade chroma-rs on this node"
                ),
            ));
        };
        if checksum(sql) != sum {
            return Err(Error::internal(format!(
                "PostgreSQL schema migration {version} ({name}) differs from the one this node embeds (checksum mismatch)"
            )));
        }
        applied = applied.max(version);
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|m| m.0 > applied) {
        tracing::info!(version, name, "applying PostgreSQL schema migration");
        tx.batch_execute(sql).map_err(|e| pg_err("migrating the schema", e))?;
        tx.execute(
            "INSERT INTO chroma_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[version, name, &checksum(sql)],
        )
        .map_err(|e| pg_err("migrating the schema", e))?;
    }
    tx.commit().map_err(|e| pg_err("migrating the schema", e))
}
