//! The orchestrator's run logic, end to end: `SyncOrchestrator` + `InMemoryStore` +
//! `ScriptedProvider`. Every test states one rule of the run lifecycle and fails if it breaks.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::DateTime;
use common::flaky_store::FlakyStore;
use common::hooked_provider::HookedProvider;
use common::{Harness, client_of, device, fleet, minutes_ago, thresholds};
use rmm_sync::ErrorKind;
use rmm_sync::model::{
    AgentStatus, ClientId, ExternalDeviceId, IdentityChange, Reported, ScopeSnapshot, TenantId,
};
use rmm_sync::provider::{Capabilities, ChangesPage, Cursor, RmmProvider};
use rmm_sync::store::{AssetStore, MappingStatus, ScopeAssignment, SyncStateUpdate, SyncStatus};
use rmm_sync::sync::{
    CancelToken, HeldBackSweep, RunMode, RunRequest, RunStatus, SyncEvent, SyncOptions,
};
use rmm_sync::testkit::{ScriptedFault, ScriptedProvider};

fn ids(prefix: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{prefix}-{i}")).collect()
}

/// The scripted provider's capabilities plus a server-side `since` filter.
fn since_capabilities() -> Capabilities {
    Capabilities {
        list_devices_since: true,
        ..ScriptedProvider::new().capabilities()
    }
}

// ---- full runs ------------------------------------------------------------------------------

#[tokio::test]
async fn full_run_creates_mapped_devices_and_counts_unmapped_skips() {
    let h = Harness::new(fleet(&[("a", 3), ("b", 2), ("c", 4)])).await;
    h.map_scope("a").await;
    h.map_scope("b").await;

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.errors);
    assert_eq!(r.mode, RunMode::Full);
    assert_eq!(r.counts.seen, 9);
    assert_eq!(r.counts.created, 5);
    assert_eq!(r.counts.skipped, 4);
    assert_eq!(
        r.skipped_reasons,
        BTreeMap::from([("unmapped_scope".to_owned(), 4)])
    );
    assert_eq!(r.scopes_listed, 3);
    assert_eq!(h.assets().await.len(), 5);
    for (scope, n) in [("a", 3), ("b", 2)] {
        for id in ids(scope, 0..n) {
            let asset = h.asset(&id).await.expect("created");
            assert_eq!(asset.client_id, client_of(scope));
            assert_eq!(asset.rmm_organization_id.as_deref(), Some(scope));
            assert_eq!(asset.rmm_device_id.as_deref(), Some(id.as_str()));
        }
    }
    for id in ids("c", 0..4) {
        assert!(h.mapping(&id).await.is_none(), "no orphan for {id}");
    }
}

#[tokio::test]
async fn second_full_run_is_all_unchanged_and_writes_nothing() {
    let h = Harness::new(fleet(&[("a", 3), ("b", 2), ("c", 1)])).await;
    h.map_scope("a").await;
    h.map_scope("b").await;
    h.run(RunRequest::full()).await;
    let before = h.assets().await;

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.unchanged, 5);
    assert_eq!(r.counts.skipped, 1);
    assert_eq!(r.counts.written(), 0);
    assert_eq!(
        h.assets().await,
        before,
        "an unchanged device costs no write"
    );
}

// ---- status lifecycle -------------------------------------------------------------------------

#[tokio::test]
async fn status_is_syncing_during_the_run_and_completed_after() {
    let provider = fleet(&[("a", 4)]).with_page_size(2);
    let h = Harness::new(provider).await;
    h.map_all().await;
    let observed = Arc::new(Mutex::new(Vec::new()));
    let (store, tenant, integration) = (Arc::clone(&h.store), h.tenant, h.integration);
    let sink = Arc::clone(&observed);
    let h = h.with_progress(Arc::new(move |e: &SyncEvent| {
        if matches!(e, SyncEvent::PageIngested { .. }) {
            let rec = Harness::integration_now(&store, tenant, integration);
            sink.lock().unwrap().push(rec.sync_status);
        }
    }));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(
        *observed.lock().unwrap(),
        vec![SyncStatus::Syncing, SyncStatus::Syncing]
    );
    let rec = h.integration_record().await;
    assert_eq!(rec.sync_status, SyncStatus::Completed);
    assert_eq!(rec.sync_error, None);
    assert_eq!(rec.last_sync_at, Some(r.started_at));
    assert_eq!(rec.last_full_sync_at, Some(r.started_at));
    assert_eq!(rec.last_incremental_sync_at, None);
}

#[tokio::test]
async fn provider_401_ends_in_error_with_the_real_cause_and_keeps_last_full_sync() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    let first = h.run(RunRequest::full()).await;
    h.provider.remove_device("a-0");
    h.provider.inject(ScriptedFault::ListPage {
        scope: None,
        page: 0,
        kind: ErrorKind::Unauthorized,
    });

    let failed = h.run(RunRequest::full()).await;

    assert_eq!(failed.status, RunStatus::Failed);
    assert_eq!(failed.counts.tombstoned, 0, "a failed run sweeps nothing");
    assert!(
        failed
            .errors
            .iter()
            .any(|e| e.kind == ErrorKind::Unauthorized)
    );
    let rec = h.integration_record().await;
    assert_eq!(rec.sync_status, SyncStatus::Error);
    let cause = rec.sync_error.expect("the cause is kept");
    assert!(cause.contains("scripted fault: unauthorized"), "{cause}");
    assert_eq!(rec.last_sync_at, Some(failed.started_at));
    assert_eq!(rec.last_full_sync_at, Some(first.started_at));
    assert_eq!(h.live("a").await, ids("a", 0..3));

    let healed = h.run(RunRequest::full()).await;
    let rec = h.integration_record().await;
    assert_eq!(healed.status, RunStatus::Completed);
    assert_eq!(rec.sync_status, SyncStatus::Completed);
    assert_eq!(
        rec.sync_error, None,
        "a successful run clears the old error"
    );
    assert_eq!(rec.last_full_sync_at, Some(healed.started_at));
}

#[tokio::test]
async fn scope_listing_failure_is_an_error_not_a_silent_failure() {
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.provider
        .inject(ScriptedFault::ListScopes(ErrorKind::Unauthorized));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Failed);
    let rec = h.integration_record().await;
    assert_eq!(rec.sync_status, SyncStatus::Error);
    assert!(rec.sync_error.unwrap().contains("unauthorized"));
}

// ---- mark and sweep -------------------------------------------------------------------------

#[tokio::test]
async fn removed_device_is_tombstoned_after_a_complete_listing_and_only_once() {
    let h = Harness::new(fleet(&[("a", 3), ("b", 2)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let asset_before = h.asset("a-1").await.unwrap();
    h.provider.remove_device("a-1");

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.tombstoned, 1);
    assert_eq!(r.counts.unchanged, 4);
    let m = h.mapping("a-1").await.unwrap();
    assert_eq!(m.status, MappingStatus::Deleted);
    assert!(m.deleted_at.is_some());
    let asset = h.asset("a-1").await.expect("never hard-deleted");
    assert_eq!(asset.asset_id, asset_before.asset_id);
    assert_eq!(asset.status, "inactive");
    assert_eq!(asset.agent_status, Some(AgentStatus::Offline));
    assert_eq!(h.live("a").await, vec!["a-0", "a-2"]);

    let again = h.run(RunRequest::full()).await;
    assert_eq!(again.counts.tombstoned, 0, "a tombstone is not re-counted");
    assert_eq!(again.counts.written(), 0);
}

/// A failed listing anywhere holds back every sweep of the run: the device it hid may have moved
/// out of a scope that did list completely.
#[tokio::test]
async fn listing_that_fails_midway_sweeps_nothing_in_that_run() {
    let h = Harness::new(fleet(&[("a", 6), ("b", 3)]).with_page_size(2)).await;
    h.map_all().await;
    let first = h.run(RunRequest::full()).await;
    h.provider.remove_device("a-4");
    h.provider.remove_device("b-0");
    h.provider.inject(ScriptedFault::ListPage {
        scope: Some("a".into()),
        page: 1,
        kind: ErrorKind::Unavailable,
    });

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::CompletedWithErrors);
    assert_eq!(r.scopes_incomplete, vec!["a".into()]);
    assert_eq!(r.counts.tombstoned, 0, "no sweep while a listing failed");
    assert!(r.sweep_skipped.is_some(), "the held-back sweep is reported");
    assert!(h.live("a").await.contains(&"a-4".to_owned()));
    assert!(h.live("b").await.contains(&"b-0".to_owned()));
    let rec = h.integration_record().await;
    assert_eq!(rec.last_full_sync_at, Some(first.started_at));
    let cause = rec.sync_error.expect("the scope error is reported");
    assert!(cause.contains("scope: a"), "{cause}");

    // The next complete run sweeps both.
    let next = h.run(RunRequest::full()).await;
    assert_eq!(next.counts.tombstoned, 2);
    assert_eq!(next.sweep_skipped, None);
    assert_eq!(
        h.mapping("b-0").await.unwrap().status,
        MappingStatus::Deleted
    );
}

#[tokio::test]
async fn circuit_breaker_holds_back_a_large_sweep_but_sweeps_small_scopes() {
    let h = Harness::new(fleet(&[("big", 12), ("small", 4)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    for id in ids("big", 0..7).into_iter().chain(ids("small", 0..3)) {
        h.provider.remove_device(&id);
    }

    let r = h.run(RunRequest::full()).await;

    assert_eq!(
        r.held_back_sweeps,
        vec![HeldBackSweep {
            scope: "big".into(),
            known: 12,
            would_tombstone: 7,
        }]
    );
    assert_eq!(r.counts.tombstoned, 3, "the small scope is swept");
    assert_eq!(h.live("big").await.len(), 12);
    assert_eq!(h.live("small").await, vec!["small-3"]);
}

#[tokio::test]
async fn circuit_breaker_lets_exactly_half_of_a_scope_go() {
    let h = Harness::new(fleet(&[("big", 12)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    for id in ids("big", 0..6) {
        h.provider.remove_device(&id);
    }

    let r = h.run(RunRequest::full()).await;

    assert!(r.held_back_sweeps.is_empty());
    assert_eq!(r.counts.tombstoned, 6);
}

#[tokio::test]
async fn the_next_page_is_fetched_while_a_page_is_ingested() {
    let store = Arc::new(FlakyStore::default());
    let dyn_store: Arc<dyn AssetStore> = Arc::clone(&store) as _;
    let h = Harness::in_store(
        dyn_store,
        TenantId::new_random(),
        fleet(&[("a", 30)]).with_page_size(10),
        "main",
    )
    .await;
    h.map_all().await;
    // The write of the first page waits until the provider was asked for the second: a run
    // that fetched only after ingesting would make it give up.
    let provider = Arc::clone(&h.provider);
    store.hold_apply_until(move || provider.page_calls() >= 2);

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.errors);
    assert_eq!(r.counts.created, 30);
    assert_eq!(h.provider.page_calls(), 3, "three pages, each fetched once");
    assert_eq!(
        store.waits(),
        (3, 0),
        "every page's write saw the next fetch start"
    );
    // Pages are still ingested in order and completely.
    assert_eq!(h.assets().await.len(), 30);
}

#[tokio::test(start_paused = true)]
async fn store_outage_fails_the_run_as_a_whole_and_sweeps_nothing() {
    let store = Arc::new(FlakyStore::default());
    let dyn_store: Arc<dyn AssetStore> = Arc::clone(&store) as _;
    let h = Harness::in_store(
        dyn_store,
        TenantId::new_random(),
        fleet(&[("a", 3)]),
        "main",
    )
    .await;
    h.map_all().await;
    let first = h.run(RunRequest::full()).await;
    h.provider.update_device("a-0", |d| {
        d.details.lan_ip = Reported::Value("10.3.3.3".into())
    });
    h.provider.remove_device("a-2");
    store.go_down();

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.counts.tombstoned, 0);
    let rec = h.integration_record().await;
    assert_eq!(rec.sync_status, SyncStatus::Error);
    assert!(rec.sync_error.unwrap().contains("connection refused"));
    assert_eq!(rec.last_full_sync_at, Some(first.started_at));
    assert_eq!(h.live("a").await, ids("a", 0..3));

    store.heal();
    let healed = h.run(RunRequest::full()).await;
    assert_eq!(healed.status, RunStatus::Completed);
    assert_eq!((healed.counts.updated, healed.counts.tombstoned), (1, 1));
}

#[tokio::test]
async fn remapping_a_scope_moves_its_assets_unmapping_keeps_them() {
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let assign = |client: Option<ClientId>| ScopeAssignment {
        client_id: Some(client),
        ..ScopeAssignment::default()
    };
    let new_owner = ClientId::from_name("new-owner");
    h.store
        .assign_scope(
            h.tenant,
            h.integration,
            &"a".into(),
            &assign(Some(new_owner)),
        )
        .await
        .unwrap();

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.updated, 2);
    assert_eq!(h.asset("a-0").await.unwrap().client_id, new_owner);

    h.store
        .assign_scope(h.tenant, h.integration, &"a".into(), &assign(None))
        .await
        .unwrap();
    h.run(RunRequest::full()).await;
    let asset = h.asset("a-0").await.unwrap();
    assert_eq!(
        asset.client_id, new_owner,
        "an unmapped scope takes no client away"
    );
    assert_eq!(h.live("a").await.len(), 2, "nor the assets");
}

// ---- identity: moves, overlaps, re-keys -------------------------------------------------------

#[tokio::test]
async fn device_moving_scope_is_moved_in_either_listing_order() {
    let h = Harness::new(fleet(&[("a", 2), ("b", 2)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let a0 = h.asset("a-0").await.unwrap().asset_id;
    let b1 = h.asset("b-1").await.unwrap().asset_id;
    // a is listed before b: a-0 is missing from its old scope before it shows up in the new
    // one; b-1 shows up in its new scope before its old scope is listed.
    h.provider.move_device("a-0", "b");
    h.provider.move_device("b-1", "a");

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.moved, 2);
    assert_eq!(r.counts.created, 0);
    assert_eq!(r.counts.tombstoned, 0);
    assert_eq!(h.assets().await.len(), 4);
    for (id, asset_id, scope) in [("a-0", a0, "b"), ("b-1", b1, "a")] {
        let asset = h.asset(id).await.unwrap();
        assert_eq!(asset.asset_id, asset_id, "{id} keeps its asset");
        assert_eq!(asset.client_id, client_of(scope));
        assert_eq!(asset.rmm_organization_id.as_deref(), Some(scope));
        let m = h.mapping(id).await.unwrap();
        assert_eq!(m.scope_id.as_str(), scope);
        assert_eq!(m.status, MappingStatus::Synced);
    }

    let again = h.run(RunRequest::full()).await;
    assert_eq!(again.counts.unchanged, 4);
}

#[tokio::test]
async fn device_listed_in_two_scopes_is_ingested_once() {
    let h = Harness::new(fleet(&[("a", 2), ("b", 2)])).await;
    h.map_all().await;
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    let mut twin = h.provider.device("a-0").unwrap();
    twin.scope_id = "b".into();
    hooked.also_list_in("b", twin);

    let r = h
        .run_with(
            Arc::clone(&hooked) as Arc<dyn RmmProvider>,
            RunRequest::full(),
        )
        .await;

    assert_eq!(r.counts.seen, 4);
    assert_eq!(r.counts.created, 4);
    assert_eq!(h.assets().await.len(), 4);
    assert_eq!(h.mapping("a-0").await.unwrap().scope_id.as_str(), "a");

    let again = h.run_with(hooked, RunRequest::full()).await;
    assert_eq!(again.counts.unchanged, 4);
    assert_eq!(again.counts.moved, 0, "no flip-flopping between the scopes");
}

#[tokio::test]
async fn identity_change_rekeys_the_mapping_in_a_full_run() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let original = h.asset("a-1").await.unwrap().asset_id;
    assert!(
        h.provider
            .rekey_device("a-1", "a-1-reimaged", chrono::Utc::now())
    );

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.created, 0);
    assert_eq!(r.counts.tombstoned, 0);
    assert!(h.mapping("a-1").await.is_none());
    let asset = h.asset("a-1-reimaged").await.unwrap();
    assert_eq!(asset.asset_id, original);
    assert_eq!(asset.rmm_device_id.as_deref(), Some("a-1-reimaged"));
    assert_eq!(h.assets().await.len(), 3);
}

#[tokio::test]
async fn identity_change_is_not_lost_when_the_run_after_it_failed() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let original = h.asset("a-1").await.unwrap().asset_id;
    h.provider
        .rekey_device("a-1", "a-1-reimaged", chrono::Utc::now());
    h.provider
        .inject(ScriptedFault::ListScopes(ErrorKind::Unavailable));
    let failed = h.run(RunRequest::full()).await;
    assert_eq!(failed.status, RunStatus::Failed);

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.created, 0, "the re-keyed device is no new asset");
    assert_eq!(r.counts.tombstoned, 0);
    assert_eq!(h.asset("a-1-reimaged").await.unwrap().asset_id, original);
}

// ---- cancellation, leases, progress -------------------------------------------------------

#[tokio::test]
async fn cancellation_stops_after_the_page_sweeps_nothing_and_releases_the_lease() {
    let h = Harness::new(fleet(&[("a", 20)]).with_page_size(2)).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.remove_device("a-19");
    for id in ids("a", 0..19) {
        h.provider.update_device(&id, |d| {
            d.details.lan_ip = Reported::Value("10.1.1.1".into())
        });
    }
    let token = CancelToken::new();
    let trigger = token.clone();
    let h = h.with_progress(Arc::new(move |e: &SyncEvent| {
        if matches!(e, SyncEvent::PageIngested { .. }) {
            trigger.cancel();
        }
    }));
    let pages_before = h.provider.page_calls();

    let r = h.run(RunRequest::full().with_cancel(token)).await;

    assert_eq!(r.status, RunStatus::Cancelled);
    let fetched = h.provider.page_calls() - pages_before;
    assert!(
        (2..=4).contains(&fetched),
        "the ingested page and at most the few read ahead (two queued, one waiting to be), not \
         the remaining {} pages: {fetched}",
        10 - fetched
    );
    assert_eq!(r.counts.updated, 2, "the first page was ingested");
    assert_eq!(r.counts.tombstoned, 0);
    assert!(h.live("a").await.contains(&"a-19".to_owned()));
    let rec = h.integration_record().await;
    assert_ne!(
        rec.sync_status,
        SyncStatus::Syncing,
        "never stuck in syncing"
    );

    // The lease was released: the next run goes through and finishes the job.
    let next = h.run(RunRequest::full()).await;
    assert_eq!(next.status, RunStatus::Completed);
    assert_eq!(next.counts.updated, 17);
    assert_eq!(next.counts.tombstoned, 1);
}

#[tokio::test]
async fn concurrent_run_of_the_same_integration_is_refused_other_integrations_are_not() {
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.map_all().await;
    let other =
        Harness::in_store(Arc::clone(&h.store), h.tenant, fleet(&[("x", 2)]), "other").await;
    other.map_all().await;
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.arm_gate();
    let first = tokio::spawn({
        let (orch, tenant, integration) = (h.orch.clone(), h.tenant, h.integration);
        let provider: Arc<dyn RmmProvider> = Arc::clone(&hooked) as _;
        async move {
            orch.run(tenant, integration, provider, RunRequest::full())
                .await
        }
    });
    hooked.gate.entered.notified().await;

    let err = h
        .orch
        .run(
            h.tenant,
            h.integration,
            Arc::clone(&h.provider) as _,
            RunRequest::full(),
        )
        .await
        .expect_err("the lease is held");
    assert_eq!(err.kind(), ErrorKind::LeaseHeld);
    let unrelated = other.run(RunRequest::full()).await;
    assert_eq!(unrelated.status, RunStatus::Completed);
    assert_eq!(unrelated.counts.created, 2);

    hooked.gate.release.notify_one();
    let held = first.await.unwrap().unwrap();
    assert_eq!(held.status, RunStatus::Completed);
    assert_eq!(held.counts.created, 2);
    let after = h.run(RunRequest::full()).await;
    assert_eq!(after.counts.unchanged, 2, "the lease is free again");
}

fn describe(e: &SyncEvent) -> String {
    let scope = |s: &Option<rmm_sync::model::ExternalScopeId>| {
        s.as_ref().map_or("*".to_owned(), |s| s.to_string())
    };
    match e {
        SyncEvent::RunStarted { scopes, .. } => format!("run_started {scopes:?}"),
        SyncEvent::ScopeStarted { scope: s } => format!("scope_started {}", scope(s)),
        SyncEvent::PageIngested {
            scope: s, devices, ..
        } => format!("page {} {devices}", scope(s)),
        SyncEvent::ScopeFinished { scope: s, complete } => {
            format!("scope_finished {} {complete}", scope(s))
        }
        SyncEvent::RunFinished { report } => format!("run_finished {:?}", report.status),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn progress_events_come_in_order_with_one_run_started() {
    let h = Harness::new(fleet(&[("a", 3), ("b", 1)]).with_page_size(2))
        .await
        .with_options(SyncOptions {
            scope_concurrency: 1,
            ..SyncOptions::default()
        });
    h.map_all().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let h = h.with_progress(Arc::new(move |e: &SyncEvent| {
        sink.lock().unwrap().push(describe(e));
    }));

    h.run(RunRequest::full()).await;

    assert_eq!(
        *events.lock().unwrap(),
        vec![
            "run_started Some(2)",
            "scope_started a",
            "page a 2",
            "page a 1",
            "scope_finished a true",
            "scope_started b",
            "page b 1",
            "scope_finished b true",
            "run_finished Completed",
        ]
    );
}

#[tokio::test]
async fn concurrent_listings_keep_each_scope_in_order_and_lose_nothing() {
    let scopes: Vec<(String, usize)> = (0..6).map(|i| (format!("s{i}"), 5)).collect();
    let spec: Vec<(&str, usize)> = scopes.iter().map(|(s, n)| (s.as_str(), *n)).collect();
    let h = Harness::new(fleet(&spec).with_page_size(2)).await;
    h.map_all().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let h = h.with_progress(Arc::new(move |e: &SyncEvent| {
        sink.lock().unwrap().push(describe(e));
    }));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.errors);
    assert_eq!((r.counts.created, r.scopes_listed), (30, 6));
    let events = events.lock().unwrap().clone();
    assert_eq!(
        events.first().map(String::as_str),
        Some("run_started Some(6)")
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("run_finished Completed")
    );
    let mut interleaved = false;
    for (scope, _) in &scopes {
        let at = |what: &str| -> Vec<usize> {
            let prefix = format!("{what} {scope}");
            (0..events.len())
                .filter(|&i| events[i] == prefix || events[i].starts_with(&format!("{prefix} ")))
                .collect()
        };
        let (started, pages, finished) = (at("scope_started"), at("page"), at("scope_finished"));
        assert_eq!(
            (started.len(), pages.len(), finished.len()),
            (1, 3, 1),
            "{scope}: {events:?}"
        );
        assert!(
            started[0] < pages[0] && pages[2] < finished[0],
            "{scope}: {events:?}"
        );
        assert_eq!(events[finished[0]], format!("scope_finished {scope} true"));
        interleaved |= finished[0] - started[0] > 4;
    }
    // With the default concurrency the listings do overlap.
    assert!(interleaved, "listings ran one after the other: {events:?}");
    // Every device of every scope was stored once, in its own scope.
    assert_eq!(h.assets().await.len(), 30);
    for (scope, _) in &scopes {
        assert_eq!(h.live(scope).await.len(), 5, "{scope}");
    }
}

#[tokio::test]
async fn every_run_mode_starts_with_run_started_and_ends_with_run_finished() {
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    let h = h.with_progress(Arc::new(move |e: &SyncEvent| {
        sink.lock().unwrap().push(describe(e));
    }));
    h.provider
        .inject(ScriptedFault::ListScopes(ErrorKind::Unavailable));

    for request in [
        RunRequest::full(),
        RunRequest::device("a-0"),
        RunRequest::incremental(),
    ] {
        events.lock().unwrap().clear();
        h.run(request).await;
        let seen = events.lock().unwrap().clone();
        let starts = seen.iter().filter(|e| e.starts_with("run_started")).count();
        assert_eq!(starts, 1, "{seen:?}");
        assert!(seen[0].starts_with("run_started"), "{seen:?}");
        assert!(seen.last().unwrap().starts_with("run_finished"), "{seen:?}");
    }
}

// ---- agent status and incremental runs ------------------------------------------------------

#[tokio::test]
async fn agent_status_goes_stale_on_later_runs_without_provider_changes() {
    let (seen_long_ago, seen_an_hour_ago) = (minutes_ago(120), minutes_ago(60));
    let provider_with = |online_min, overdue_min| {
        let p = ScriptedProvider::new()
            .with_capabilities(since_capabilities())
            .with_thresholds(thresholds(online_min, overdue_min));
        p.put_scope(ScopeSnapshot::new(
            "a",
            "A",
            rmm_sync::model::ScopeKind::Organization,
        ));
        for (id, seen) in [("a-0", seen_long_ago), ("a-1", seen_an_hour_ago)] {
            let mut d = device(id, "a");
            d.last_seen_at = Reported::Value(seen);
            p.put_device(d);
        }
        p
    };
    let options = SyncOptions {
        incremental_overlap: Duration::ZERO,
        ..SyncOptions::default()
    };
    let h = Harness::new(provider_with(180, None))
        .await
        .with_options(options);
    h.map_all().await;
    let first = h.run(RunRequest::incremental()).await;
    assert!(first.fell_back_to_full);
    assert_eq!(
        h.asset("a-0").await.unwrap().agent_status,
        Some(AgentStatus::Online)
    );

    // Same fleet, nothing new since the cursor; only time (here: stricter thresholds) passed.
    let later = h
        .run_with(
            Arc::new(provider_with(15, Some(90))),
            RunRequest::incremental(),
        )
        .await;

    assert!(!later.fell_back_to_full);
    assert_eq!(later.counts.seen, 0, "the provider listed nothing");
    assert_eq!(later.agent_status_changes, 2);
    assert_eq!(
        h.asset("a-0").await.unwrap().agent_status,
        Some(AgentStatus::Overdue)
    );
    assert_eq!(
        h.asset("a-1").await.unwrap().agent_status,
        Some(AgentStatus::Offline)
    );
}

#[tokio::test]
async fn incremental_with_since_uses_the_stored_cursor_and_never_sweeps() {
    let p = ScriptedProvider::new().with_capabilities(since_capabilities());
    p.put_scope(common::scope("a"));
    for i in 0..5 {
        let mut d = device(&format!("a-{i}"), "a");
        d.last_seen_at = Reported::Value(minutes_ago(180));
        p.put_device(d);
    }
    let newest = minutes_ago(60);
    let mut d = device("a-5", "a");
    d.last_seen_at = Reported::Value(newest);
    p.put_device(d);
    let h = Harness::new(p).await;
    h.map_all().await;

    let first = h.run(RunRequest::incremental()).await;
    assert!(first.fell_back_to_full, "no cursor yet: a full walk");
    assert_eq!(first.counts.created, 6);
    let cursor = h.integration_record().await.cursor.expect("cursor stored");
    assert_eq!(DateTime::parse_from_rfc3339(&cursor).unwrap(), newest);

    let touched = minutes_ago(1);
    h.provider.update_device("a-0", |d| {
        d.last_seen_at = Reported::Value(touched);
        d.details.lan_ip = Reported::Value("10.2.2.2".into());
    });
    h.provider.remove_device("a-1");
    let second = h.run(RunRequest::incremental()).await;

    assert!(!second.fell_back_to_full);
    assert_eq!(second.mode, RunMode::Incremental);
    // a-0 changed; a-5 is inside the overlap window; a-1..a-4 are older than the cursor.
    assert_eq!(second.counts.seen, 2);
    assert_eq!(second.counts.updated, 1);
    assert_eq!(second.counts.unchanged, 1);
    assert_eq!(
        second.counts.tombstoned, 0,
        "an incremental listing is no sweep"
    );
    assert!(h.live("a").await.contains(&"a-1".to_owned()));
    let rec = h.integration_record().await;
    assert_eq!(
        DateTime::parse_from_rfc3339(rec.cursor.as_deref().unwrap()).unwrap(),
        touched
    );
    assert_eq!(rec.last_incremental_sync_at, Some(second.started_at));
    assert_eq!(rec.last_full_sync_at, Some(first.started_at));
}

#[tokio::test]
async fn incremental_cursor_never_moves_backwards_when_nothing_changed() {
    let p = ScriptedProvider::new().with_capabilities(since_capabilities());
    p.put_scope(common::scope("a"));
    let mut d = device("a-0", "a");
    let seen_at = minutes_ago(180);
    d.last_seen_at = Reported::Value(seen_at);
    p.put_device(d);
    let h = Harness::new(p).await;
    h.map_all().await;
    h.run(RunRequest::incremental()).await;
    // From now on the window is empty: the provider lists nothing newer than the cursor.
    h.provider.remove_device("a-0");

    for _ in 0..3 {
        h.run(RunRequest::incremental()).await;
        let rec = h.integration_record().await;
        let cursor = DateTime::parse_from_rfc3339(rec.cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor, seen_at, "the checkpoint holds");
    }
}

#[tokio::test]
async fn incremental_without_deltas_falls_back_to_a_full_walk_that_sweeps() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.remove_device("a-2");

    let r = h.run(RunRequest::incremental()).await;

    assert!(r.fell_back_to_full);
    assert_eq!(r.counts.unchanged, 2);
    assert_eq!(r.counts.tombstoned, 1);
    let rec = h.integration_record().await;
    assert_eq!(rec.last_incremental_sync_at, Some(r.started_at));
    assert_eq!(rec.sync_status, SyncStatus::Completed);
}

// ---- incremental runs with provider deltas (list_changes) ------------------------------------

fn checkpoint_page(checkpoint: &str) -> ChangesPage {
    ChangesPage {
        checkpoint: Some(checkpoint.into()),
        ..ChangesPage::default()
    }
}

/// The pair a `list_changes_page` call is recorded as.
fn change_call(checkpoint: Option<&str>, cursor: Option<&str>) -> (Option<String>, Option<String>) {
    (checkpoint.map(str::to_owned), cursor.map(str::to_owned))
}

#[tokio::test]
async fn first_incremental_with_deltas_walks_everything_and_takes_the_checkpoint() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.script_changes(vec![Ok(checkpoint_page("cp-1"))]);

    let r = h
        .run_with(Arc::clone(&hooked) as _, RunRequest::incremental())
        .await;

    assert!(
        r.fell_back_to_full,
        "no checkpoint yet: nothing to take deltas from"
    );
    assert_eq!(r.counts.created, 3);
    assert_eq!(hooked.change_requests(), vec![change_call(None, None)]);
    assert_eq!(h.integration_record().await.cursor.as_deref(), Some("cp-1"));
}

#[tokio::test]
async fn incremental_with_deltas_applies_changes_deletions_and_rekeys_without_sweeping() {
    let h = Harness::new(fleet(&[("a", 5)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let checkpoint = SyncStateUpdate {
        cursor: Some(Some("cp-1".into())),
        ..SyncStateUpdate::default()
    };
    h.store
        .update_sync_state(h.tenant, h.integration, &checkpoint)
        .await
        .unwrap();
    h.provider.update_device("a-0", |d| {
        d.details.lan_ip = Reported::Value("10.2.2.2".into())
    });
    let changed = h.provider.device("a-0").unwrap();
    h.provider.remove_device("a-1");
    h.provider.remove_device("a-4"); // silently gone: only a complete listing may sweep it
    let rekeyed = h.asset("a-2").await.unwrap().asset_id;
    h.provider.rekey_device("a-2", "a-2x", chrono::Utc::now());
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.script_changes(vec![
        Ok(ChangesPage {
            devices: vec![changed],
            deleted: vec![("a-1".into(), Some("a".into()))],
            next_cursor: Some(Cursor::new("page-2")),
            ..ChangesPage::default()
        }),
        Ok(ChangesPage {
            identity_changes: vec![IdentityChange {
                previous: "a-2".into(),
                current: "a-2x".into(),
                changed_at: None,
            }],
            checkpoint: Some("cp-2".into()),
            ..ChangesPage::default()
        }),
    ]);

    let r = h
        .run_with(Arc::clone(&hooked) as _, RunRequest::incremental())
        .await;

    assert!(!r.fell_back_to_full);
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.errors);
    assert_eq!(
        (r.counts.updated, r.counts.tombstoned, r.rekeyed),
        (1, 1, 1)
    );
    assert_eq!(r.counts.created, 0);
    assert_eq!(
        hooked.change_requests(),
        vec![
            change_call(Some("cp-1"), None),
            change_call(Some("cp-1"), Some("page-2"))
        ]
    );
    assert!(h.live("a").await.contains(&"a-4".to_owned()));
    assert_eq!(h.asset("a-2x").await.unwrap().asset_id, rekeyed);
    let rec = h.integration_record().await;
    assert_eq!(rec.cursor.as_deref(), Some("cp-2"));
    assert_eq!(rec.last_incremental_sync_at, Some(r.started_at));
}

#[tokio::test]
async fn expired_delta_window_falls_back_to_a_full_walk_and_restarts_the_window() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let checkpoint = SyncStateUpdate {
        cursor: Some(Some("cp-old".into())),
        ..SyncStateUpdate::default()
    };
    h.store
        .update_sync_state(h.tenant, h.integration, &checkpoint)
        .await
        .unwrap();
    h.provider.remove_device("a-2");
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.script_changes(vec![
        Err(ErrorKind::CursorExpired),
        Ok(checkpoint_page("cp-new")),
    ]);

    let r = h
        .run_with(Arc::clone(&hooked) as _, RunRequest::incremental())
        .await;

    assert!(r.fell_back_to_full);
    assert_eq!(r.counts.tombstoned, 1, "the full walk sweeps");
    assert_eq!(
        hooked.change_requests(),
        vec![change_call(Some("cp-old"), None), change_call(None, None)]
    );
    assert_eq!(
        h.integration_record().await.cursor.as_deref(),
        Some("cp-new")
    );

    hooked.script_changes(vec![Ok(checkpoint_page("cp-newer"))]);
    let next = h
        .run_with(Arc::clone(&hooked) as _, RunRequest::incremental())
        .await;
    assert!(!next.fell_back_to_full, "deltas again after the restart");
    assert_eq!(
        hooked.change_requests().last(),
        Some(&change_call(Some("cp-new"), None))
    );
}

// ---- failures, dry runs, device runs, history -------------------------------------------------

#[tokio::test]
async fn failed_devices_are_recorded_retried_and_cleared_after_success() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.provider
        .update_device("a-1", |d| d.details.ram_gb = Reported::Value(-4.0));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::CompletedWithErrors);
    assert_eq!(r.counts.created, 2);
    assert_eq!(r.counts.failed, 1);
    assert_eq!(r.errors[0].device, Some(ExternalDeviceId::new("a-1")));
    assert_eq!(r.errors[0].kind, ErrorKind::InvalidInput);
    let failed = h
        .store
        .failed_devices(h.tenant, h.integration)
        .await
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].external_id.as_str(), "a-1");
    assert_eq!(failed[0].attempts, 1);
    assert!(failed[0].error.contains("ram_gb"), "{}", failed[0].error);
    let rec = h.integration_record().await;
    assert_eq!(rec.sync_status, SyncStatus::Completed);
    assert!(rec.sync_error.unwrap().contains("a-1"));

    h.run(RunRequest::full()).await;
    let failed = h
        .store
        .failed_devices(h.tenant, h.integration)
        .await
        .unwrap();
    assert_eq!(failed[0].attempts, 2, "attempts accumulate");

    h.provider
        .update_device("a-1", |d| d.details.ram_gb = Reported::Value(8.0));
    let healed = h.run(RunRequest::full()).await;
    assert_eq!(healed.status, RunStatus::Completed);
    assert_eq!(healed.counts.created, 1);
    assert!(
        h.store
            .failed_devices(h.tenant, h.integration)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(h.integration_record().await.sync_error, None);
}

#[tokio::test]
async fn failed_device_gone_from_a_complete_listing_is_no_longer_retried() {
    let h = Harness::new(fleet(&[("a", 3), ("b", 4)]).with_page_size(2)).await;
    h.map_all().await;
    h.provider
        .update_device("a-1", |d| d.details.ram_gb = Reported::Value(-4.0));
    h.provider
        .update_device("b-1", |d| d.details.ram_gb = Reported::Value(-4.0));
    h.run(RunRequest::full()).await;
    h.provider.remove_device("a-1");
    h.provider.remove_device("b-1");
    h.provider.inject(ScriptedFault::ListPage {
        scope: Some("b".into()),
        page: 1,
        kind: ErrorKind::Unavailable,
    });

    h.run(RunRequest::full()).await;
    let failed = h
        .store
        .failed_devices(h.tenant, h.integration)
        .await
        .unwrap();
    let ids: Vec<&str> = failed.iter().map(|f| f.external_id.as_str()).collect();
    assert_eq!(
        ids,
        vec!["a-1", "b-1"],
        "an incomplete listing proves nothing"
    );

    h.run(RunRequest::full()).await;
    let failed = h
        .store
        .failed_devices(h.tenant, h.integration)
        .await
        .unwrap();
    assert!(failed.is_empty(), "{failed:?}");
}

#[tokio::test]
async fn incremental_run_retries_failed_devices_outside_its_window() {
    let p = ScriptedProvider::new().with_capabilities(since_capabilities());
    p.put_scope(common::scope("a"));
    for i in 0..3 {
        let mut d = device(&format!("a-{i}"), "a");
        d.last_seen_at = Reported::Value(minutes_ago(600));
        p.put_device(d);
    }
    let h = Harness::new(p).await;
    h.map_all().await;
    h.provider
        .update_device("a-1", |d| d.details.ram_gb = Reported::Value(-4.0));
    let first = h.run(RunRequest::incremental()).await;
    assert_eq!(first.counts.failed, 1);
    h.provider
        .update_device("a-1", |d| d.details.ram_gb = Reported::Value(8.0));

    let r = h.run(RunRequest::incremental()).await;

    assert!(!r.fell_back_to_full);
    assert_eq!(
        r.counts.created, 1,
        "fetched by id although older than the window"
    );
    assert!(h.asset("a-1").await.is_some());
    assert!(
        h.store
            .failed_devices(h.tenant, h.integration)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn dry_run_reports_the_plan_and_writes_nothing() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.put_device(device("a-9", "a"));
    h.provider.update_device("a-0", |d| {
        d.details.lan_ip = Reported::Value("10.3.3.3".into())
    });
    h.provider.remove_device("a-1");
    let all = ["a-0", "a-1", "a-2", "a-9"];
    let snapshot = || async {
        let mut mappings = Vec::new();
        for id in all {
            mappings.push(h.mapping(id).await);
        }
        let failed = h
            .store
            .failed_devices(h.tenant, h.integration)
            .await
            .unwrap();
        let runs = h
            .store
            .recent_runs(h.tenant, h.integration, 100)
            .await
            .unwrap();
        (
            h.assets().await,
            mappings,
            h.integration_record().await,
            failed,
            runs,
        )
    };
    let before = snapshot().await;

    let r = h.run(RunRequest::full().dry_run(true)).await;

    assert_eq!(r.counts.created, 1);
    assert_eq!(r.counts.updated, 1);
    assert_eq!(r.counts.unchanged, 1);
    assert_eq!(r.counts.tombstoned, 1);
    let plan = r.plan.expect("a dry run carries its plan");
    assert_eq!(
        (plan.created, plan.updated, plan.tombstoned),
        (vec!["a-9".into()], vec!["a-0".into()], vec!["a-1".into()])
    );
    assert!(snapshot().await == before, "a dry run changes nothing");
}

#[tokio::test]
async fn device_run_refreshes_one_device_and_tombstones_a_vanished_one() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    let first = h.run(RunRequest::full()).await;
    h.provider.update_device("a-0", |d| {
        d.details.lan_ip = Reported::Value("10.4.4.4".into())
    });
    h.provider.update_device("a-1", |d| {
        d.details.lan_ip = Reported::Value("10.5.5.5".into())
    });

    let r = h.run(RunRequest::device("a-0")).await;

    assert_eq!(r.mode, RunMode::Device);
    assert_eq!(r.counts.seen, 1);
    assert_eq!(r.counts.updated, 1);
    let lan = |a: rmm_sync::store::AssetRecord| a.extension.unwrap().lan_ip;
    assert_eq!(
        lan(h.asset("a-0").await.unwrap()).as_deref(),
        Some("10.4.4.4")
    );
    assert_eq!(
        lan(h.asset("a-1").await.unwrap()).as_deref(),
        Some("10.0.0.1")
    );

    h.provider.remove_device("a-2");
    let gone = h.run(RunRequest::device("a-2")).await;
    assert_eq!(gone.counts.tombstoned, 1);
    assert_eq!(
        h.mapping("a-2").await.unwrap().status,
        MappingStatus::Deleted
    );
    let rec = h.integration_record().await;
    assert_eq!(
        rec.last_full_sync_at,
        Some(first.started_at),
        "a device run is no full run"
    );
    assert_eq!(rec.last_sync_at, Some(gone.started_at));
}

#[tokio::test]
async fn run_history_keeps_every_report_newest_first() {
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.map_all().await;
    let first = h.run(RunRequest::full()).await;
    let second = h.run(RunRequest::device("a-1")).await;
    let third = h.run(RunRequest::incremental()).await;

    let runs = h
        .store
        .recent_runs(h.tenant, h.integration, 10)
        .await
        .unwrap();

    assert_eq!(runs, vec![third, second.clone(), first]);
    let last_two = h
        .store
        .recent_runs(h.tenant, h.integration, 1)
        .await
        .unwrap();
    assert_ne!(last_two[0].run_id, second.run_id);
}

// ---- lease renewal and inactive integrations ----------------------------------------------

/// An intruder's attempt to take the lease, made from inside a progress callback.
fn intrude(h: &Harness) -> impl Fn() -> bool + Send + Sync + 'static {
    let (store, tenant, integration) = (Arc::clone(&h.store), h.tenant, h.integration);
    move || {
        let now = rmm_sync::ingest::now_micros();
        let request = rmm_sync::store::LeaseRequest {
            holder: "intruder".into(),
            expires_at: now + chrono::Duration::hours(1),
            now,
        };
        futures::executor::block_on(store.try_acquire_lease(tenant, integration, &request)).unwrap()
    }
}

#[tokio::test]
async fn a_run_longer_than_its_lease_ttl_keeps_the_lease() {
    let h = Harness::new(fleet(&[("a", 3)]).with_page_size(1)).await;
    h.map_all().await;
    let options = SyncOptions {
        lease_ttl: Duration::from_millis(300),
        ..SyncOptions::default()
    };
    let try_take = intrude(&h);
    let taken = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&taken);
    let h = h
        .with_options(options)
        .with_progress(Arc::new(move |e: &SyncEvent| {
            if matches!(e, SyncEvent::PageIngested { .. }) {
                // Each page takes longer than a third of the TTL: without renewal the lease would
                // lapse by the second page.
                std::thread::sleep(Duration::from_millis(200));
                log.lock().unwrap().push(try_take());
            }
        }));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(
        *taken.lock().unwrap(),
        vec![false, false, false],
        "the lease never lapsed"
    );
}

#[tokio::test]
async fn a_provider_call_longer_than_the_lease_ttl_does_not_let_the_lease_lapse() {
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.map_all().await;
    let h = h.with_options(SyncOptions {
        lease_ttl: Duration::from_millis(200),
        ..SyncOptions::default()
    });
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.arm_gate();
    let run = tokio::spawn({
        let (orch, tenant, integration) = (h.orch.clone(), h.tenant, h.integration);
        let provider: Arc<dyn RmmProvider> = Arc::clone(&hooked) as _;
        async move {
            orch.run(tenant, integration, provider, RunRequest::full())
                .await
        }
    });
    hooked.gate.entered.notified().await;
    // The page request is parked for three TTLs: only renewal on a timer keeps the lease.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        !intrude(&h)(),
        "the lease was renewed while the provider was slow"
    );
    let record = h
        .store
        .get_integration(h.tenant, h.integration)
        .await
        .unwrap()
        .unwrap();
    let lease = record.lease.expect("the record shows the held lease");
    assert!(!lease.is_stale(rmm_sync::ingest::now_micros()), "{lease:?}");

    hooked.gate.release.notify_one();
    let r = run.await.unwrap().unwrap();
    assert_eq!(r.status, RunStatus::Completed);
    assert_eq!(r.counts.created, 2);
    let record = h
        .store
        .get_integration(h.tenant, h.integration)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.lease, None, "released at the end");
}

#[tokio::test]
async fn a_run_whose_renewals_fail_stops_writing_before_its_lease_could_be_taken_over() {
    let store = Arc::new(FlakyStore::default());
    let h = Harness::in_store(
        Arc::clone(&store) as _,
        TenantId::new_random(),
        fleet(&[("a", 2)]),
        "main",
    )
    .await;
    h.map_all().await;
    let ttl = Duration::from_millis(400);
    let h = h.with_options(SyncOptions {
        lease_ttl: ttl,
        ..SyncOptions::default()
    });
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.arm_gate();
    let run = tokio::spawn({
        let (orch, tenant, integration) = (h.orch.clone(), h.tenant, h.integration);
        let provider: Arc<dyn RmmProvider> = Arc::clone(&hooked) as _;
        async move {
            orch.run(tenant, integration, provider, RunRequest::full())
                .await
        }
    });
    hooked.gate.entered.notified().await;
    // The store cannot be reached for renewals while the page is on its way; by the time it
    // arrives less than a quarter of the TTL is left on the lease.
    store.fail_lease_requests();
    tokio::time::sleep(ttl * 3 / 4 + Duration::from_millis(50)).await;
    hooked.gate.release.notify_one();
    let r = run.await.unwrap().unwrap();

    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.errors
            .iter()
            .any(|e| e.kind == ErrorKind::LeaseHeld && e.message.contains("renewed in time")),
        "{:?}",
        r.errors
    );
    assert_eq!(r.counts.created, 0, "nothing written without a safe lease");
    assert!(h.assets().await.is_empty());
}

#[tokio::test]
async fn a_run_that_lost_its_lease_stops() {
    let h = Harness::new(fleet(&[("a", 3)]).with_page_size(1)).await;
    h.map_all().await;
    let options = SyncOptions {
        lease_ttl: Duration::from_millis(100),
        ..SyncOptions::default()
    };
    let try_take = intrude(&h);
    let h = h
        .with_options(options)
        .with_progress(Arc::new(move |e: &SyncEvent| {
            if matches!(e, SyncEvent::PageIngested { .. }) {
                std::thread::sleep(Duration::from_millis(150)); // the lease lapses…
                assert!(try_take(), "…and another worker takes it");
            }
        }));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::Failed);
    assert!(
        r.errors.iter().any(|e| e.kind == ErrorKind::LeaseHeld),
        "{:?}",
        r.errors
    );
    assert_eq!(r.counts.seen, 1, "no page after the lease was lost");
}

#[tokio::test]
async fn an_inactive_integration_is_refused() {
    let h = Harness::new(fleet(&[("a", 1)])).await;
    let mut spec = h.provider.integration_spec("main");
    spec.is_active = false;
    h.store.upsert_integration(h.tenant, &spec).await.unwrap();

    let err = h
        .orch
        .run(
            h.tenant,
            h.integration,
            Arc::clone(&h.provider) as Arc<dyn RmmProvider>,
            RunRequest::full(),
        )
        .await
        .expect_err("inactive integrations do not sync");

    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert!(err.to_string().contains("not active"), "{err}");
}
