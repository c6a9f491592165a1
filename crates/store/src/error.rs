//! Turning `SQLite`, I/O and JSON failures into [`chroma_types::Error`]s that keep their cause.
//!
//! Messages are `"{context}: {cause}"`, as they always were (tests and clients compare them);
//! the cause itself stays reachable through [`std::error::Error::source`].

use chroma_types::{Error, Result};

/// `.context("reading slots")` on any `Result` whose error is a standard error.
pub(crate) trait ResultExt<T> {
    /// An internal error `"{context}: {cause}"` that keeps the cause.
    fn context(self, context: &str) -> Result<T>;

    /// As [`context`](Self::context), with the context built only on failure.
    fn with_context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E> ResultExt<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, context: &str) -> Result<T> {
        self.map_err(|e| interrupted(&e).unwrap_or_else(|| internal(context, e)))
    }

    fn with_context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| interrupted(&e).unwrap_or_else(|| internal(&context(), e)))
    }
}

/// What a full disk adds to the message: the cause alone ("database or disk is full") does
/// not say what to do, nor that the request left nothing behind (every write is one
/// transaction, its vectors committed only with it).
pub(crate) const STORAGE_FULL_HINT: &str =
    "the disk is full (or the database reached its size limit); the request was not applied: free space and retry";

/// An internal error `"{context}: {cause}"`, with [`STORAGE_FULL_HINT`] after it when the
/// cause is a full disk.
pub(crate) fn internal<E: std::error::Error + Send + Sync + 'static>(context: &str, e: E) -> Error {
    if storage_full(&e) {
        let message = format!("{context}: {e}; {STORAGE_FULL_HINT}");
        Error::internal(message).with_source(e)
    } else {
        Error::internal_from(context, e)
    }
}

/// Whether `e`, or an error it wraps, is `SQLITE_FULL` or `ENOSPC`.
fn storage_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if let Some(s) = e.downcast_ref::<rusqlite::Error>() {
            if s.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull) {
                return true;
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// The request's timeout or cancellation error when `e` is a `SQLite` statement interrupted
/// because the request's [budget](crate::budget) ran out.
fn interrupted<E: std::error::Error + 'static>(e: &E) -> Option<Error> {
    let sqlite = (e as &dyn std::error::Error).downcast_ref::<rusqlite::Error>()?;
    let from_function = matches!(sqlite, rusqlite::Error::SqliteFailure(_, Some(m)) if m.contains(crate::budget::FUNCTION_STOP))
        || matches!(sqlite, rusqlite::Error::UserFunctionError(e) if e.to_string().contains(crate::budget::FUNCTION_STOP));
    if from_function || sqlite.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) {
        crate::budget::interrupted_error()
    } else {
        None
    }
}

/// A failure to serialise a value (an id list, a collection config) to JSON: the message is
/// the JSON error's own. Use as `serde_json::to_string(&ids).map_err(json_error)`.
pub(crate) fn json_error(e: serde_json::Error) -> Error {
    Error::internal(e.to_string()).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_says_so() {
        let r: std::result::Result<(), std::io::Error> = Err(std::io::Error::from_raw_os_error(28));
        let e = r.context("writing x").unwrap_err();
        assert!(e.message.starts_with("writing x: No space left on device"), "{}", e.message);
        assert!(e.message.ends_with(STORAGE_FULL_HINT), "{}", e.message);
        let r: std::result::Result<(), std::io::Error> = Err(std::io::Error::from_raw_os_error(5));
        assert_eq!(r.context("writing x").unwrap_err().message, "writing x: Input/output error (os error 5)");
    }

    #[test]
    fn context_keeps_message_and_cause() {
        let r: std::result::Result<(), std::io::Error> = Err(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        let e = r.context("opening x").unwrap_err();
        assert_eq!(e.message, "opening x: gone");
        let cause = std::error::Error::source(&e).expect("cause kept");
        assert_eq!(
            cause.downcast_ref::<std::io::Error>().map(std::io::Error::kind),
            Some(std::io::ErrorKind::NotFound)
        );
    }
}
