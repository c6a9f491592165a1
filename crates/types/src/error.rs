//! The API-level error: a kind that the HTTP edge maps to a status code and a Chroma error
//! name, and a message written for the user.

use std::fmt;

/// What went wrong, in the categories that Chroma's clients distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Anything else: I/O, SQLite, a broken invariant.
    Internal,
}

/// The error every public chroma-rs API returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into() }
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn exists(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::AlreadyExists, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }
    pub fn dimension(expected: usize, got: usize) -> Self {
        Self::new(
            ErrorKind::InvalidDimension,
            format!("Collection expecting embedding with dimension of {expected}, got {got}"),
        )
    }
    pub fn collection_not_found(name_or_id: &str) -> Self {
        Self::not_found(format!("Collection {name_or_id} does not exist."))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}
