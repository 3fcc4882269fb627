//! sqlx errors → [`crate::Error`]: unique violations are conflicts, an unreachable server or an
//! exhausted pool is retryable, everything else keeps the database's own message.

use crate::error::{Error, ErrorKind};

/// Maps a sqlx error; `what` names the operation ("apply", "correlate" …).
pub(super) fn map_err(what: &'static str, e: sqlx::Error) -> Error {
    let (kind, message) = classify(&e);
    // No `with_source`: the message already carries the database's words, and sqlx's own
    // rendering of configuration errors may quote connection parameters.
    Error::new(kind, format!("PostgreSQL {what} failed: {message}")).with_context("operation", what)
}

/// A closure for `map_err` that names the operation.
pub(super) fn ctx(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| map_err(what, e)
}

fn classify(e: &sqlx::Error) -> (ErrorKind, String) {
    match e {
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            let kind = match code.as_str() {
                // unique_violation, exclusion_violation, ON CONFLICT touching a row twice
                "23505" | "23P01" | "21000" => ErrorKind::Conflict,
                // foreign_key_violation: the row referred to does not exist
                "23503" => ErrorKind::NotFound,
                // serialization_failure, deadlock_detected, lock_not_available: try again
                "40001" | "40P01" | "55P03" => ErrorKind::Unavailable,
                // query_canceled (statement_timeout)
                "57014" => ErrorKind::Timeout,
                c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57P") => {
                    ErrorKind::Unavailable
                }
                _ => ErrorKind::Store,
            };
            let constraint = db
                .constraint()
                .map(|c| format!(" (constraint {c})"))
                .unwrap_or_default();
            (kind, format!("{} [{code}]{constraint}", db.message()))
        }
        sqlx::Error::PoolTimedOut => (
            ErrorKind::Unavailable,
            "timed out waiting for a pooled connection".into(),
        ),
        sqlx::Error::PoolClosed => (ErrorKind::Unavailable, "the pool is closed".into()),
        sqlx::Error::Io(io) => (ErrorKind::Unavailable, format!("I/O error: {io}")),
        sqlx::Error::Tls(t) => (ErrorKind::Unavailable, format!("TLS error: {t}")),
        sqlx::Error::WorkerCrashed => (
            ErrorKind::Unavailable,
            "the connection worker crashed".into(),
        ),
        sqlx::Error::RowNotFound => (ErrorKind::NotFound, "no row found".into()),
        sqlx::Error::ColumnDecode { index, source } => (
            ErrorKind::Decode,
            format!("column {index} could not be decoded: {source}"),
        ),
        sqlx::Error::Decode(d) => (
            ErrorKind::Decode,
            format!("a value could not be decoded: {d}"),
        ),
        sqlx::Error::Migrate(m) => (ErrorKind::Store, format!("migration failed: {m}")),
        sqlx::Error::Configuration(_) => (
            ErrorKind::InvalidConfig,
            "invalid connection options".into(),
        ),
        other => (ErrorKind::Store, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeout_is_retryable() {
        let e = map_err("apply", sqlx::Error::PoolTimedOut);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert!(e.to_string().contains("apply"), "{e}");
    }

    #[test]
    fn row_not_found_is_not_found() {
        assert_eq!(
            map_err("get", sqlx::Error::RowNotFound).kind(),
            ErrorKind::NotFound
        );
    }
}
