//! The read connections of a persistent store.
//!
//! `SQLite` in WAL mode lets readers run beside each other and beside the one writer, each
//! on its own connection: a read takes an idle connection from the pool (or opens one), so a
//! slow read of one collection never makes another request wait. Each connection is
//! `query_only`, with the same functions and progress handler as the write connection. A
//! statement on a read connection starts a new read transaction, so it sees every write
//! committed before it started (read-your-writes).
//!
//! An ephemeral store has no pool: an in-memory database is private to its connection (a
//! shared-cache one would serialise readers on table locks anyway), so its reads use the
//! write connection.

use super::open::configure_reader;
use crate::error::ResultExt;
use parking_lot::{Mutex, MutexGuard};
use rusqlite::Connection;
use std::ops::Deref;
use std::path::PathBuf;

/// Idle read connections kept open; more are opened while more reads run at once, and
/// closed when they are done.
const MAX_IDLE: usize = 8;

/// The pool of read connections of one database file.
pub(super) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub(super) fn new(path: PathBuf) -> ReadPool {
        ReadPool { path, idle: Mutex::new(Vec::new()) }
    }

    /// An idle connection, or a new one.
    fn take(&self) -> chroma_types::Result<Connection> {
        if let Some(c) = self.idle.lock().pop() {
            return Ok(c);
        }
        let mut conn = Connection::open(&self.path).with_context(|| format!("opening {}", self.path.display()))?;
        configure_reader(&mut conn)?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
    }
}

/// A connection to read with: one of the pool's, or the write connection's lock (ephemeral).
pub(super) enum ReadConn<'a> {
    /// Taken from the pool; given back on drop.
    Pooled(&'a ReadPool, Option<Connection>),
    /// The write connection, locked.
    Shared(MutexGuard<'a, Connection>),
}

impl ReadConn<'_> {
    pub(super) fn pooled(pool: &ReadPool) -> chroma_types::Result<ReadConn<'_>> {
        Ok(ReadConn::Pooled(pool, Some(pool.take()?)))
    }
}

impl Deref for ReadConn<'_> {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        match self {
            ReadConn::Pooled(_, Some(c)) => c,
            ReadConn::Pooled(_, None) => unreachable!("a pooled connection is only taken on drop"),
            ReadConn::Shared(g) => g,
        }
    }
}

impl Drop for ReadConn<'_> {
    fn drop(&mut self) {
        if let ReadConn::Pooled(pool, c) = self {
            if let Some(c) = c.take() {
                pool.give_back(c);
            }
        }
    }
}
