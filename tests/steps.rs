//! The step seam (`begin_run` → `run_page`… → `finish_run`), driven the way a durable executor
//! drives it: one step at a time, every input and output through JSON, steps retried after a
//! simulated crash. Each test compares with the in-process run or counts the store's rows.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use common::hooked_provider::HookedProvider;
use common::{Harness, fleet};
use rmm_sync::ErrorKind;
use rmm_sync::model::{ExternalScopeId, Reported, TenantId};
use rmm_sync::provider::{ChangesPage, RmmProvider};
use rmm_sync::store::sqlite::SqliteStore;
use rmm_sync::store::{AssetStore, LeaseRequest, SyncStateUpdate};
use rmm_sync::sync::{
    BegunRun, CancelToken, Listing, PageStep, PageTask, RunMode, RunReport, RunStatus, RunTally,
    RunTicket, StepsEnded, SyncOrchestrator, is_unusable_window,
};
use rmm_sync::testkit::{ScriptedFault, ScriptedProvider};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// What crosses a process boundary goes through JSON, as a workflow engine's payloads do.
fn via_json<T: Serialize + DeserializeOwned>(value: T) -> T {
    let text = serde_json::to_string(&value).expect("serializes");
    serde_json::from_str(&text).expect("deserializes")
}

/// How the test executor runs, and misbehaves.
#[derive(Clone, Copy, Default)]
struct Crashes {
    /// Pages are taken with `run_page_ahead`: each step fetches the listing's next page while
    /// it ingests its own (what a Temporal activity does); the next step uses that fetch.
    fetch_ahead: bool,
    /// Every page step runs twice; the first result is lost (a worker died after the writes,
    /// before the engine recorded the step as done).
    pages: bool,
    /// `begin_run` and `finish_run` run twice the same way.
    begin_and_finish: bool,
    /// Page steps alternate between two workers (orchestrators over the same store, as two
    /// processes would be): each finds chunks the other ran only in the store's seen log.
    two_workers: bool,
}

/// A sequential durable executor: the steps in order, the tally merged from deltas.
async fn run_stepwise(
    h: &Harness,
    provider: Arc<dyn RmmProvider>,
    mode: RunMode,
    crashes: Crashes,
) -> RunReport {
    let ticket = via_json(RunTicket::new(h.tenant, h.integration, mode, "workflow-1"));
    let max_errors = h.orch.options().max_report_errors;
    let mut begun: BegunRun = h
        .orch
        .begin_run(Arc::clone(&provider), &ticket)
        .await
        .unwrap();
    if crashes.begin_and_finish {
        begun = h
            .orch
            .begin_run(Arc::clone(&provider), &ticket)
            .await
            .unwrap();
    }
    let begun = via_json(begun);
    if let Some(report) = begun.finished {
        return *report;
    }
    let mut tally: RunTally = begun.tally;
    let mut listings: VecDeque<Listing> = begun.listings.into();
    let other_worker =
        SyncOrchestrator::with_options(Arc::clone(&h.store), h.orch.options().clone());
    let mut chunk = 0;
    'listings: while let Some(listing) = listings.pop_front() {
        let mut cursor = None;
        let mut ahead = None;
        loop {
            let task = via_json(PageTask {
                listing: listing.clone(),
                cursor: cursor.clone(),
                chunk,
            });
            let cancel = CancelToken::new();
            let worker = if crashes.two_workers && chunk % 2 == 1 {
                &other_worker
            } else {
                &h.orch
            };
            let mut step = if crashes.fetch_ahead {
                worker
                    .run_page_ahead(
                        Arc::clone(&provider),
                        &ticket,
                        &task,
                        ahead.take(),
                        true,
                        &cancel,
                    )
                    .await
                    .map(|(step, next)| {
                        ahead = next;
                        step
                    })
            } else {
                worker
                    .run_page(Arc::clone(&provider), &ticket, &task, &cancel)
                    .await
            };
            if crashes.pages && step.is_ok() {
                // The retry lands on the other worker when there are two.
                let retry = if crashes.two_workers && chunk % 2 == 0 {
                    &other_worker
                } else {
                    &h.orch
                };
                step = retry
                    .run_page(Arc::clone(&provider), &ticket, &task, &cancel)
                    .await;
            }
            chunk += 1;
            let step: PageStep = match step {
                Ok(step) => via_json(step),
                Err(e) if is_unusable_window(&listing, &e) => {
                    let replanned = via_json(
                        h.orch
                            .replan_full_walk(Arc::clone(&provider), &ticket)
                            .await
                            .unwrap(),
                    );
                    tally.merge(replanned.tally, max_errors);
                    listings = replanned.listings.into();
                    continue 'listings;
                }
                Err(e) => {
                    assert_ne!(e.kind(), ErrorKind::LeaseHeld, "{e}");
                    let failed = tally.listing_failed(&listing, &e);
                    tally.merge(failed, max_errors);
                    continue 'listings;
                }
            };
            tally.merge(step.delta, max_errors);
            match step.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    let tally = via_json(tally);
    let mut report = h
        .orch
        .finish_run(
            Arc::clone(&provider),
            &ticket,
            tally.clone(),
            StepsEnded::Listed,
        )
        .await
        .unwrap();
    if crashes.begin_and_finish {
        report = h
            .orch
            .finish_run(provider, &ticket, tally, StepsEnded::Listed)
            .await
            .unwrap();
    }
    report
}

/// The store's assets as comparable rows: external id → (name, client, status, agent status,
/// mapping status, scope). Asset ids and timestamps differ between two stores by design.
async fn contents(h: &Harness) -> BTreeMap<String, String> {
    let mut rows = BTreeMap::new();
    for a in h.assets().await {
        let device = a
            .rmm_device_id
            .clone()
            .expect("synced assets carry the device id");
        let m = h.mapping(&device).await.expect("a mapping per asset");
        rows.insert(
            device,
            format!(
                "{} {} {} {:?} {:?} {}",
                a.name, a.client_id, a.status, a.agent_status, m.status, m.scope_id
            ),
        );
    }
    rows
}

/// The parts of two reports of the same work that must agree.
fn comparable(r: &RunReport) -> String {
    format!(
        "{:?} {:?} {:?} listed={} incomplete={:?} swept_skip={:?} held={:?} agent={} fell_back={}",
        r.status,
        r.counts,
        r.skipped_reasons,
        r.scopes_listed,
        r.scopes_incomplete,
        r.sweep_skipped,
        r.held_back_sweeps,
        r.agent_status_changes,
        r.fell_back_to_full
    )
}

/// Two harnesses over separate stores with the same generated fleet; every scope but the last
/// mapped (so skips are counted too).
async fn twin_harnesses(devices: u64, scopes: u64) -> (Harness, Harness) {
    let make = || ScriptedProvider::generated(devices, scopes, 7).with_page_size(40);
    let direct = Harness::new(make()).await;
    let stepped = Harness::new(make()).await;
    for h in [&direct, &stepped] {
        let all = h.store.list_scopes(h.tenant, h.integration).await.unwrap();
        for s in &all[..all.len() - 1] {
            h.map_scope(s.external_id.as_str()).await;
        }
    }
    (direct, stepped)
}

fn mutate(p: &ScriptedProvider) {
    let ids = p.device_ids();
    for id in &ids[0..5] {
        p.remove_device(id.as_str());
    }
    for id in &ids[10..20] {
        p.update_device(id.as_str(), |d| {
            d.details.lan_ip = Reported::Value("10.9.9.9".into())
        });
    }
    let target = p.device(ids[30].as_str()).unwrap().scope_id;
    for id in &ids[40..43] {
        p.move_device(id.as_str(), target.as_str());
    }
}

#[tokio::test]
async fn a_stepwise_full_run_gives_the_same_store_and_counts_as_the_in_process_run() {
    let (direct, stepped) = twin_harnesses(600, 5).await;

    let a = direct.run(rmm_sync::sync::RunRequest::full()).await;
    let b = run_stepwise(
        &stepped,
        Arc::clone(&stepped.provider) as _,
        RunMode::Full,
        Crashes::default(),
    )
    .await;
    assert_eq!(a.status, RunStatus::Completed, "{:?}", a.errors);
    assert_eq!(comparable(&a), comparable(&b));
    assert!(
        a.counts.created > 400 && a.counts.skipped > 0,
        "{:?}",
        a.counts
    );
    assert_eq!(contents(&direct).await, contents(&stepped).await);

    // Removed, changed and moved devices: the sweep of the stepwise run works from the seen log.
    // This time each page step fetches the next page while it ingests its own.
    mutate(&direct.provider);
    mutate(&stepped.provider);
    let direct_before = direct.provider.page_calls();
    let a = direct.run(rmm_sync::sync::RunRequest::full()).await;
    let direct_pages = direct.provider.page_calls() - direct_before;
    let stepped_before = stepped.provider.page_calls();
    let b = run_stepwise(
        &stepped,
        Arc::clone(&stepped.provider) as _,
        RunMode::Full,
        Crashes {
            fetch_ahead: true,
            ..Crashes::default()
        },
    )
    .await;
    assert_eq!(
        stepped.provider.page_calls() - stepped_before,
        direct_pages,
        "every page fetched once, ahead or not"
    );
    assert!(a.counts.tombstoned > 0, "{:?}", a.counts);
    assert_eq!(comparable(&a), comparable(&b));
    assert_eq!(contents(&direct).await, contents(&stepped).await);
    let stored = stepped
        .store
        .recent_runs(stepped.tenant, stepped.integration, 10)
        .await
        .unwrap();
    assert_eq!(stored.len(), 2, "one history entry per run");
    assert_eq!(
        stepped
            .store
            .clear_seen(stepped.tenant, stepped.integration)
            .await
            .unwrap(),
        0,
        "finish_run cleared the run's seen log"
    );
}

async fn retried_pages_leave_one_asset_per_device(store: Arc<dyn AssetStore>, two_workers: bool) {
    let provider = ScriptedProvider::generated(300, 3, 11).with_page_size(25);
    let h = Harness::in_store(store, TenantId::new_random(), provider, "main").await;
    h.map_all().await;
    let crashes = Crashes {
        pages: true,
        two_workers,
        ..Crashes::default()
    };

    let first = run_stepwise(&h, Arc::clone(&h.provider) as _, RunMode::Full, crashes).await;

    assert_eq!(first.status, RunStatus::Completed, "{:?}", first.errors);
    assert_eq!(h.assets().await.len(), 300, "one asset per device");
    // The acknowledged attempt of each page found what the lost attempt had written.
    assert_eq!(first.counts.seen, 300, "every device counted exactly once");
    assert_eq!(first.counts.unchanged, 300, "{:?}", first.counts);
    assert_eq!(first.counts.created, 0);

    h.provider
        .remove_device(h.provider.device_ids()[0].as_str());
    let second = run_stepwise(&h, Arc::clone(&h.provider) as _, RunMode::Full, crashes).await;
    assert_eq!(
        (
            second.counts.seen,
            second.counts.tombstoned,
            second.counts.created
        ),
        (300, 1, 0),
        "299 listed and unchanged, 1 tombstoned: {:?}",
        second.counts
    );
    assert_eq!(h.assets().await.len(), 300, "tombstoned, never deleted");
}

#[tokio::test]
async fn retried_page_steps_create_no_duplicates_in_memory() {
    let store = Arc::new(rmm_sync::store::InMemoryStore::new());
    retried_pages_leave_one_asset_per_device(store, false).await;
}

#[tokio::test]
async fn retried_page_steps_create_no_duplicates_in_sqlite() {
    let store = Arc::new(SqliteStore::temporary().await.unwrap());
    retried_pages_leave_one_asset_per_device(store, false).await;
}

#[tokio::test]
async fn page_steps_retried_on_another_worker_create_no_duplicates_in_sqlite() {
    let store = Arc::new(SqliteStore::temporary().await.unwrap());
    retried_pages_leave_one_asset_per_device(store, true).await;
}

#[tokio::test]
async fn retried_begin_and_finish_record_one_run_and_sweep_once() {
    let h = Harness::new(fleet(&[("a", 12), ("b", 8)])).await;
    h.map_all().await;
    let crashes = Crashes {
        begin_and_finish: true,
        ..Crashes::default()
    };
    run_stepwise(&h, Arc::clone(&h.provider) as _, RunMode::Full, crashes).await;
    h.provider.remove_device("a-3");

    let r = run_stepwise(&h, Arc::clone(&h.provider) as _, RunMode::Full, crashes).await;

    assert_eq!(r.counts.tombstoned, 1, "{:?}", r.counts);
    assert_eq!(r.status, RunStatus::Completed, "{:?}", r.errors);
    let runs = h
        .store
        .recent_runs(h.tenant, h.integration, 10)
        .await
        .unwrap();
    assert_eq!(
        runs.len(),
        2,
        "a finish step run twice records its run once"
    );
    assert!(!h.live("a").await.contains(&"a-3".to_owned()));
    assert_eq!(h.live("a").await.len(), 11);
    let rec = h.integration_record().await;
    assert_eq!(rec.lease, None, "finish released the lease");
}

#[tokio::test]
async fn a_step_finds_the_lease_another_run_holds_and_fails_with_lease_held() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    let ticket = RunTicket::new(h.tenant, h.integration, RunMode::Full, "workflow-1");
    let begun = h
        .orch
        .begin_run(Arc::clone(&h.provider) as _, &ticket)
        .await
        .unwrap();
    // The lease lapses (worker gone longer than the TTL) and another run takes it.
    let now = chrono::Utc::now();
    let other = LeaseRequest {
        holder: "someone-else".into(),
        expires_at: now + chrono::Duration::minutes(5),
        now: now + chrono::Duration::minutes(3),
    };
    assert!(
        h.store
            .try_acquire_lease(h.tenant, h.integration, &other)
            .await
            .unwrap()
    );

    let task = PageTask {
        listing: begun.listings[0].clone(),
        cursor: None,
        chunk: 0,
    };
    let err = h
        .orch
        .run_page(
            Arc::clone(&h.provider) as _,
            &ticket,
            &task,
            &CancelToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LeaseHeld, "{err}");
    assert!(
        h.assets().await.is_empty(),
        "nothing written without the lease"
    );
}

#[tokio::test]
async fn an_expired_delta_window_replans_as_a_full_walk_that_sweeps() {
    let h = Harness::new(fleet(&[("a", 3)])).await;
    h.map_all().await;
    h.run(rmm_sync::sync::RunRequest::full()).await;
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
        Ok(ChangesPage {
            checkpoint: Some("cp-new".into()),
            ..ChangesPage::default()
        }),
    ]);

    let r = run_stepwise(&h, hooked as _, RunMode::Incremental, Crashes::default()).await;

    assert!(r.fell_back_to_full);
    assert_eq!(r.counts.tombstoned, 1, "the full walk sweeps");
    assert_eq!(
        h.integration_record().await.cursor.as_deref(),
        Some("cp-new")
    );
}

#[tokio::test]
async fn a_listing_given_up_by_the_executor_is_incomplete_and_nothing_is_swept() {
    let (direct, stepped) = twin_harnesses(200, 4).await;
    direct.run(rmm_sync::sync::RunRequest::full()).await;
    run_stepwise(
        &stepped,
        Arc::clone(&stepped.provider) as _,
        RunMode::Full,
        Crashes::default(),
    )
    .await;
    let scope: ExternalScopeId = stepped
        .store
        .list_scopes(stepped.tenant, stepped.integration)
        .await
        .unwrap()[1]
        .external_id
        .clone();
    for h in [&direct, &stepped] {
        let id = h.provider.device_ids()[0].clone();
        h.provider.remove_device(id.as_str());
        h.provider.inject(ScriptedFault::ListPage {
            scope: Some(scope.clone()),
            page: 1,
            kind: ErrorKind::Unavailable,
        });
    }

    let a = direct.run(rmm_sync::sync::RunRequest::full()).await;
    let b = run_stepwise(
        &stepped,
        Arc::clone(&stepped.provider) as _,
        RunMode::Full,
        Crashes::default(),
    )
    .await;

    assert_eq!(a.scopes_incomplete, vec![scope]);
    assert_eq!(a.counts.tombstoned, 0);
    assert!(a.sweep_skipped.is_some());
    assert_eq!(comparable(&a), comparable(&b));
    assert_eq!(contents(&direct).await, contents(&stepped).await);
}

#[tokio::test]
async fn a_run_that_fails_in_its_first_step_is_finished_there_like_an_in_process_run() {
    let (direct, stepped) = twin_harnesses(50, 2).await;
    for h in [&direct, &stepped] {
        h.provider
            .inject(ScriptedFault::ListScopes(ErrorKind::Forbidden));
    }

    let a = direct.run(rmm_sync::sync::RunRequest::full()).await;
    let b = run_stepwise(
        &stepped,
        Arc::clone(&stepped.provider) as _,
        RunMode::Full,
        Crashes::default(),
    )
    .await;

    assert_eq!(a.status, RunStatus::Failed);
    assert_eq!(comparable(&a), comparable(&b));
    assert_eq!(a.errors.len(), 1);
    assert_eq!(b.errors, a.errors);
    let rec = stepped.integration_record().await;
    assert_eq!(rec.lease, None, "released");
    assert!(rec.sync_error.is_some());
}
