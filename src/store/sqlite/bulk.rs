//! Multi-row statements: many rows, one statement, chunked below SQLite's bound-parameter limit.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::errors::SqlResultExt;
use crate::error::Result;

/// SQLite's limit on bound parameters per statement (`SQLITE_MAX_VARIABLE_NUMBER`, 3.32+).
const MAX_PARAMS: usize = 32_766;
/// Rows per statement at most: one statement per table for the engine's 1000-device batches.
const MAX_ROWS: usize = 1_000;

/// One bound value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
}

impl From<String> for Val {
    fn from(v: String) -> Self {
        Val::Text(Some(v))
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Self {
        Val::Text(Some(v.to_owned()))
    }
}
impl From<Option<String>> for Val {
    fn from(v: Option<String>) -> Self {
        Val::Text(v)
    }
}
impl From<Option<i64>> for Val {
    fn from(v: Option<i64>) -> Self {
        Val::Int(v)
    }
}
impl From<Option<i32>> for Val {
    fn from(v: Option<i32>) -> Self {
        Val::Int(v.map(i64::from))
    }
}
impl From<Option<f64>> for Val {
    fn from(v: Option<f64>) -> Self {
        Val::Real(v)
    }
}

/// Runs `head VALUES (…), (…) tail` for `rows` (all of the same width), as few statements as
/// the parameter limit allows. Returns the rows the statements changed.
pub(super) async fn execute_rows(
    conn: &mut SqliteConnection,
    operation: &'static str,
    head: &str,
    rows: Vec<Vec<Val>>,
    tail: &str,
) -> Result<u64> {
    let Some(width) = rows.first().map(Vec::len) else {
        return Ok(0);
    };
    let per_statement = (MAX_PARAMS / width.max(1)).clamp(1, MAX_ROWS);
    let mut changed = 0;
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Val>> = rows.by_ref().take(per_statement).collect();
        // Full chunks repeat batch after batch and are worth a cached prepared statement;
        // odd-sized remainders would only evict the ones that are.
        let persistent = chunk.len() == per_statement;
        let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(head);
        qb.push_values(chunk, |mut b, row| {
            for v in row {
                match v {
                    Val::Text(s) => b.push_bind(s),
                    Val::Int(i) => b.push_bind(i),
                    Val::Real(f) => b.push_bind(f),
                };
            }
        });
        qb.push(tail);
        let done = qb
            .build()
            .persistent(persistent)
            .execute(&mut *conn)
            .await
            .during(operation)?;
        changed += done.rows_affected();
    }
    Ok(changed)
}
