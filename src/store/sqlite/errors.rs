//! sqlx errors to typed errors: unique violation → `Conflict`, busy/locked database and pool
//! trouble → `Unavailable` (retryable), everything else → `Store` with SQLite's message.

use crate::error::{Error, ErrorKind};

/// SQLite primary result codes that mean "someone else holds the lock, try again".
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;

/// Maps an sqlx error raised while doing `operation` ("apply", "correlate" …).
pub(super) fn map_err(operation: &'static str, e: sqlx::Error) -> Error {
    let mut code = None;
    let (kind, message) = match &e {
        sqlx::Error::Database(db) => {
            code = db.code().map(|c| c.into_owned());
            let primary = db
                .code()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            let kind = match db.kind() {
                sqlx::error::ErrorKind::UniqueViolation => ErrorKind::Conflict,
                sqlx::error::ErrorKind::ForeignKeyViolation => ErrorKind::NotFound,
                _ if matches!(primary, Some(SQLITE_BUSY | SQLITE_LOCKED)) => ErrorKind::Unavailable,
                _ => ErrorKind::Store,
            };
            (kind, db.message().to_owned())
        }
        sqlx::Error::PoolTimedOut => (
            ErrorKind::Unavailable,
            "timed out waiting for a pooled connection".to_owned(),
        ),
        sqlx::Error::PoolClosed => (ErrorKind::Unavailable, "the pool is closed".to_owned()),
        sqlx::Error::Io(io) => (ErrorKind::Unavailable, format!("I/O error: {io}")),
        sqlx::Error::WorkerCrashed => (
            ErrorKind::Unavailable,
            "the SQLite worker thread stopped".to_owned(),
        ),
        other => (ErrorKind::Store, other.to_string()),
    };
    // The message already carries SQLite's words; the source would only repeat them.
    let err = Error::new(kind, format!("sqlite store: {operation}: {message}"))
        .with_context("operation", operation);
    match code {
        Some(c) => err.with_context("sqlite_code", c),
        None => err,
    }
}

/// Extension for `Result<T, sqlx::Error>`.
pub(super) trait SqlResultExt<T> {
    /// Maps the error with [`map_err`].
    fn during(self, operation: &'static str) -> crate::error::Result<T>;
}

impl<T> SqlResultExt<T> for Result<T, sqlx::Error> {
    fn during(self, operation: &'static str) -> crate::error::Result<T> {
        self.map_err(|e| map_err(operation, e))
    }
}
