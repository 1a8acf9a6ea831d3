//! Database failures, carried in `io::Error` through the session interfaces.

/// A database failure: `Ack::from_io` answers it with 503 and `Retry-After`,
/// a transient error the client retries (no acknowledged byte depends on it).
#[derive(Debug, thiserror::Error)]
#[error("database: {0}")]
pub struct DatabaseError(pub String);

/// True when `err` is a [`DatabaseError`].
pub fn is_database_error(err: &std::io::Error) -> bool {
    err.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<DatabaseError>().is_some())
}

/// Wraps any database-side failure as a [`DatabaseError`].
pub fn db_error(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(DatabaseError(e.to_string()))
}
