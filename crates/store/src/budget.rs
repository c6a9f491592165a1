//! What one request may spend: the budget of [`chroma_types::budget`] (re-exported here), and
//! how the engine enforces it: a `SQLite` progress handler, checks in the SQL functions and in
//! our own loops, commits that are never interrupted, and a meter on result sizes.

pub use chroma_types::budget::*;

use chroma_types::{Error, Result};

thread_local! {
    /// Set while a commit runs: a commit is never interrupted.
    static SHIELDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the current request must stop: what the `SQLite` progress handler asks.
pub(crate) fn exhausted() -> bool {
    !SHIELDED.with(std::cell::Cell::get) && check().is_err()
}

/// What a function called from SQL (`$regex`, `$contains`) fails with once the budget has
/// run out: a statement spends most of its time in them on a large scan, and the progress
/// handler only runs between them.
pub(crate) const FUNCTION_STOP: &str = "chroma-rs: request budget exhausted";

/// `Err` for a SQL function once the current request must stop.
pub(crate) fn check_in_function() -> rusqlite::Result<()> {
    if exhausted() {
        return Err(rusqlite::Error::UserFunctionError(FUNCTION_STOP.into()));
    }
    Ok(())
}

/// The last check before a commit: `Err` once the request must stop, unless inside
/// [`shielded`] (work that must finish once started).
pub(crate) fn check_before_commit() -> Result<()> {
    if SHIELDED.with(std::cell::Cell::get) {
        return Ok(());
    }
    check()
}

/// Runs `f` (a commit) with interruption off: a commit completes or fails on its own.
pub(crate) fn shielded<T>(f: impl FnOnce() -> T) -> T {
    struct Unshield(bool);
    impl Drop for Unshield {
        fn drop(&mut self) {
            SHIELDED.with(|s| s.set(self.0));
        }
    }
    let _u = Unshield(SHIELDED.with(|s| s.replace(true)));
    f()
}

/// The error for a statement that `SQLite` interrupted: the budget's own error when it has
/// run out (the usual case).
pub(crate) fn interrupted_error() -> Option<Error> {
    check().err()
}

/// Counts the rows and bytes of an answer as it is built, refusing to go past the limits.
pub(crate) struct ResultMeter {
    limits: ResultLimits,
    rows: usize,
    bytes: usize,
}

impl ResultMeter {
    /// A meter with the current thread's limits.
    pub(crate) fn new() -> ResultMeter {
        ResultMeter { limits: limits(), rows: 0, bytes: 0 }
    }

    /// Refuses a query that asks for more rows than the limit, before any work.
    pub(crate) fn check_query(&self, queries: usize, n_results: usize) -> Result<()> {
        let rows = queries.saturating_mul(n_results);
        if rows > self.limits.max_rows {
            return Err(Error::invalid(format!(
                "the query asks for up to {rows} results ({queries} query embeddings × n_results {n_results}), \
                 more than the limit of {} result rows per request; ask for fewer",
                self.limits.max_rows
            )));
        }
        Ok(())
    }

    /// Accounts one more row of `bytes` bytes; `Err` past a limit. Also checks the budget's
    /// time (every 1024 rows).
    pub(crate) fn add(&mut self, bytes: usize) -> Result<()> {
        self.rows += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        if self.rows > self.limits.max_rows {
            return Err(Error::invalid(format!(
                "the result has more than {} records, the limit per request; page through it with limit and offset",
                self.limits.max_rows
            )));
        }
        if self.bytes > self.limits.max_bytes {
            return Err(Error::invalid(format!(
                "the result is larger than {} MiB, the limit per request; page through it with limit and offset, or include fewer fields",
                self.limits.max_bytes >> 20
            )));
        }
        if self.rows.is_multiple_of(1024) {
            check()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chroma_types::ErrorKind;

    #[test]
    fn shielded_work_is_not_stopped() {
        let c = Budget::unlimited();
        c.cancel();
        assert!(check().is_ok());
        run_with(c, || {
            assert!(exhausted());
            assert!(!shielded(exhausted));
            run_with(Budget::unlimited(), || assert!(check().is_ok()));
            assert_eq!(check().unwrap_err().kind, ErrorKind::Cancelled);
        });
        assert!(check().is_ok());
    }
}
