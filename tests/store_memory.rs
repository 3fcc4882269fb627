//! The store conformance suite on [`InMemoryStore`]: one test per scenario, each on a fresh
//! store (the scenarios would also share one, since each works in its own random tenant).
#![cfg(feature = "conformance")]

use std::sync::Arc;

use rmm_sync::store::InMemoryStore;

rmm_sync::conformance_tests!(Arc::new(InMemoryStore::new()));

/// The whole suite on one shared store, as a host with one database runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_on_one_shared_store() {
    let report = rmm_sync::store::conformance::run_all(Arc::new(InMemoryStore::new())).await;
    assert!(report.is_success(), "{report}");
    assert!(report.passed.len() >= 30, "{report}");
}
