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
    mod differential;
    mod errors;
    pub(crate) mod guarded;
    pub(crate) mod harness;
    mod identifiers;
    mod schema;
}

/// One test per conformance scenario, each on its own fresh database.
mod conformance {
    use crate::postgres::guarded::Guarded;

    rmm_sync::conformance_tests!(match Guarded::create().await {
        Some(store) => store,
        None => return,
    });

    /// The whole suite on one shared database, as a host with one database runs it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whole_suite_on_one_shared_database() {
        let Some(store) = Guarded::create().await else {
            return;
        };
        let report = rmm_sync::store::conformance::run_all(store).await;
        assert!(report.is_success(), "{report}");
        assert!(report.skipped.is_empty(), "{report}");
    }
}
