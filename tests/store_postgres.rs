//! PostgresStore against a real server: the store conformance suite plus what only a SQL
//! database can show (migrations, adoption of the reference schema, error mapping, crash
//! safety, concurrency). Each test creates its own database and drops it afterwards.
//!
//! Set `RMM_SYNC_TEST_POSTGRES_URL` to an admin URL (default
//! `postgres://postgres@127.0.0.1:5432/test`). Without a reachable server the tests skip,
//! except with `CI=true`, where they fail.

mod postgres {
    mod common;
    mod concurrency;
    mod crash;
    mod errors;
    mod harness;
    mod schema;
}
