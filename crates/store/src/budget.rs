//! What one request may spend: a deadline, a cancel flag and result-size limits.
//!
//! The [`ChromaApi`](chroma_types::ChromaApi) methods take no budget argument; instead a
//! caller runs them inside [`run_with`], which installs a [`Budget`] for the current thread
//! for the duration of the closure:
//!
//! ```
//! use chroma_store::budget::{self, Budget};
//! use std::time::Duration;
//!
//! let b = Budget::with_timeout(Duration::from_secs(30));
//! let cancel = b.cancel_flag(); // set it from another thread to stop the request
//! let answer = budget::run_with(b, || 1 + 1); // e.g. `|| engine.get(id, req)`
//! # let _ = (answer, cancel);
//! ```
//!
//! The engine checks the budget in every `SQLite` statement (a progress handler on each
//! connection interrupts the statement) and in its own long loops. When the deadline has
//! passed or the flag is set, the request stops, frees what it built, rolls back whatever it
//! had not committed, and returns an error of kind [`ErrorKind::Timeout`] ("the request
//! exceeded its time limit of N s (raise it with --request-timeout)") or
//! [`ErrorKind::Cancelled`] ("the request was cancelled"). A write is either committed whole
//! or not at all: the budget is checked one last time just before the commit, never during it.
//!
//! Outside [`run_with`] there is no deadline and the [`ResultLimits::default`] limits apply.
//! The engine runs each request on the caller's thread, so the budget follows the request
//! (work the engine hands to helper threads, such as the background indexer, is not bound by
//! it).

use chroma_types::{Error, ErrorKind, Result};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default of [`ResultLimits::max_rows`].
pub const DEFAULT_MAX_RESULT_ROWS: usize = 1_000_000;
/// Default of [`ResultLimits::max_bytes`] (512 MiB).
pub const DEFAULT_MAX_RESULT_BYTES: usize = 512 << 20;

/// How large the answer of one request may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResultLimits {
    /// Records in a `get` answer, or `n_results × number of query embeddings` in a `query`.
    pub max_rows: usize,
    /// Bytes of ids, documents, URIs, metadata and embeddings (4 bytes a float) in the answer,
    /// as held in memory before it is serialised.
    pub max_bytes: usize,
}

impl Default for ResultLimits {
    fn default() -> Self {
        ResultLimits { max_rows: DEFAULT_MAX_RESULT_ROWS, max_bytes: DEFAULT_MAX_RESULT_BYTES }
    }
}

/// The time limit, cancel flag and result limits of one request. Cheap to clone (clones share
/// the cancel flag).
#[derive(Clone, Debug, Default)]
pub struct Budget {
    /// The time limit and when it runs out.
    deadline: Option<(Duration, Instant)>,
    cancel: Arc<AtomicBool>,
    limits: ResultLimits,
}

impl Budget {
    /// No time limit, a fresh cancel flag, the default result limits.
    pub fn unlimited() -> Budget {
        Budget::default()
    }

    /// A time limit of `timeout` from now.
    pub fn with_timeout(timeout: Duration) -> Budget {
        Budget { deadline: Some((timeout, Instant::now() + timeout)), ..Budget::default() }
    }

    /// The same budget, stopped when `flag` is set (instead of its own flag).
    #[must_use]
    pub fn with_cancel_flag(mut self, flag: Arc<AtomicBool>) -> Budget {
        self.cancel = flag;
        self
    }

    /// The same budget with other result limits.
    #[must_use]
    pub fn with_limits(mut self, limits: ResultLimits) -> Budget {
        self.limits = limits;
        self
    }

    /// The cancel flag: storing `true` stops the request.
    pub fn cancel_flag(&self) -> Arc<AtomicBool> {
        self.cancel.clone()
    }

    /// Cancels the request (same as setting [`cancel_flag`](Self::cancel_flag)).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Release);
    }

    /// The result limits.
    pub fn limits(&self) -> ResultLimits {
        self.limits
    }

    /// The time limit, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.deadline.map(|(t, _)| t)
    }

    /// `Err` (timeout or cancelled) once the request must stop.
    pub fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Cancelled, "the request was cancelled"));
        }
        if let Some((timeout, deadline)) = self.deadline {
            if Instant::now() >= deadline {
                return Err(timeout_error(timeout));
            }
        }
        Ok(())
    }
}

/// The error of a request stopped by its time limit.
fn timeout_error(timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("the request exceeded its time limit of {} s (raise it with --request-timeout)", timeout.as_secs_f64()),
    )
}

thread_local! {
    /// The budget of the request running on this thread.
    static CURRENT: RefCell<Option<Budget>> = const { RefCell::new(None) };
    /// Set while a commit runs: a commit is never interrupted.
    static SHIELDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` with `budget` as the current thread's budget (the previous one, if any, is
/// restored afterwards, also on panic).
pub fn run_with<T>(budget: Budget, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Budget>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.borrow_mut().replace(budget)));
    f()
}

/// The current thread's budget ([`Budget::unlimited`] outside [`run_with`]).
pub fn current() -> Budget {
    CURRENT.with(|c| c.borrow().clone()).unwrap_or_default()
}

/// `Err` (timeout or cancelled) once the current request must stop; `Ok` outside
/// [`run_with`].
pub fn check() -> Result<()> {
    CURRENT.with(|c| c.borrow().as_ref().map_or(Ok(()), Budget::check))
}

/// The current thread's result limits.
pub(crate) fn limits() -> ResultLimits {
    CURRENT.with(|c| c.borrow().as_ref().map(Budget::limits)).unwrap_or_default()
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

    #[test]
    fn messages_and_nesting() {
        let b = Budget::with_timeout(Duration::from_millis(200));
        std::thread::sleep(Duration::from_millis(210));
        let e = b.check().unwrap_err();
        assert_eq!(e.kind, ErrorKind::Timeout);
        assert_eq!(e.message, "the request exceeded its time limit of 0.2 s (raise it with --request-timeout)");
        let c = Budget::unlimited();
        c.cancel();
        assert_eq!(c.check().unwrap_err().message, "the request was cancelled");
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
