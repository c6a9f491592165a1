//! The API-level error: a kind that the HTTP edge maps to a status code and a Chroma error
//! name, a message written for the user, and the underlying cause (an I/O or `SQLite` error, say)
//! when there is one, reachable through [`std::error::Error::source`].

use std::fmt;
use std::sync::Arc;

/// What went wrong, in the categories that Chroma's clients distinguish.
///
/// New kinds may be added: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input: a malformed filter, a bad name, wrong types, length mismatches.
    InvalidArgument,
    /// An embedding whose dimension differs from the collection's.
    InvalidDimension,
    /// The same id twice in one call.
    DuplicateId,
    /// A write larger than `max_batch_size`.
    BatchSizeExceeded,
    /// A tenant, database or collection that does not exist.
    NotFound,
    /// A tenant, database or collection name that is already taken.
    AlreadyExists,
    /// An operation the configuration forbids (reset without `allow_reset`).
    Forbidden,
    /// Missing or wrong credentials.
    Unauthorized,
    /// The data folder cannot be used as it is (held by another process, legacy layout,
    /// written by a newer chroma-rs, failed migration check).
    Unavailable,
    /// Anything else: I/O, `SQLite`, a broken invariant.
    Internal,
    /// The request ran past its time limit and was stopped (nothing it wrote is kept).
    Timeout,
    /// The request was cancelled (its client went away) and was stopped (nothing it wrote is
    /// kept).
    Cancelled,
}

/// The cause of an [`Error`]: shared so that the error stays cheap to clone.
pub type Source = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// The error every public chroma-rs API returns.
///
/// Two errors are equal when their kind and message are; the cause is not compared.
#[derive(Debug, Clone)]
pub struct Error {
    /// The category: decides the HTTP status and the client's exception class.
    pub kind: ErrorKind,
    /// What the user reads (Chroma's wording where Chroma has one).
    pub message: String,
    source: Option<Source>,
}

/// `Result` with chroma-rs's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind` with the user-facing `message` and no cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), source: None }
    }
    /// Keeps `source` as this error's cause (the message is not changed).
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }
    /// An [`ErrorKind::Internal`] error whose message is `"{context}: {source}"` and whose cause is
    /// `source`: what an I/O or `SQLite` failure becomes.
    pub fn internal_from(context: impl fmt::Display, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::internal(format!("{context}: {source}")).with_source(source)
    }
    /// [`ErrorKind::InvalidArgument`].
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    /// [`ErrorKind::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// [`ErrorKind::AlreadyExists`].
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }
    /// [`ErrorKind::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    /// [`ErrorKind::Unavailable`].
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    /// [`ErrorKind::InvalidDimension`], in Chroma's wording.
    pub fn dimension(expected: usize, got: usize) -> Self {
        Self::new(
            ErrorKind::InvalidDimension,
            format!("Collection expecting embedding with dimension of {expected}, got {got}"),
        )
    }
    /// [`ErrorKind::NotFound`] for a collection, in Chroma's wording.
    pub fn collection_not_found(name_or_id: &str) -> Self {
        Self::not_found(format!("Collection {name_or_id} does not exist."))
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind && self.message == other.message
    }
}

impl Eq for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_from_keeps_the_cause() {
        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = Error::internal_from("opening /x", io);
        assert_eq!(e.message, "opening /x: denied");
        let cause = std::error::Error::source(&e).expect("a source");
        assert_eq!(cause.to_string(), "denied");
        assert_eq!(e, Error::internal("opening /x: denied"));
    }
}
