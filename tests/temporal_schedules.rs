//! Temporal Schedules against a real server (`temporal server start-dev`; `.ci/run` starts
//! one). Skipped when none is reachable, except under `CI=true`.
#![cfg(feature = "temporal")]

mod support;

use std::time::Duration;

use rmm_sync::model::{IntegrationId, TenantId};
use rmm_sync::schedule::SyncSchedule;
use rmm_sync::sync::RunMode;
use rmm_sync::transport::temporal::ids::{self, ScheduleKind};
use rmm_sync::transport::temporal::schedules::delete_schedules;
use rmm_sync::transport::temporal::{
    ScheduledIntegration, SyncWorkflowInput, TemporalConfig, apply_schedules, connect,
    list_schedules,
};
use support::temporal::temporal_address_or_skip;
use temporalio_client::Client;
use temporalio_client::schedules::ScheduleDescriptionAction;

/// A client and a fresh tenant, so parallel tests never share a schedule id.
async fn setup() -> Option<(Client, TemporalConfig, TenantId)> {
    let address = temporal_address_or_skip()?;
    let config = TemporalConfig {
        address,
        ..TemporalConfig::default()
    };
    let client = connect(&config).await.expect("connect to Temporal");
    Some((client, config, TenantId::new_random()))
}

fn integration(
    tenant: TenantId,
    name: &str,
    full: &str,
    incremental: &str,
) -> ScheduledIntegration {
    ScheduledIntegration {
        name: name.to_owned(),
        tenant,
        integration: IntegrationId::from_name(name),
        schedule: SyncSchedule {
            full: Some(full.parse().unwrap()),
            incremental: Some(incremental.parse().unwrap()),
            jitter: None,
        },
    }
}

/// Deletes what a test created even when an assertion fails. Drop runs inside the test's
/// (current-thread) runtime, which then cannot drive the test's client: it connects anew on a
/// thread of its own.
struct Cleanup(TemporalConfig, Vec<ScheduledIntegration>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let config = self.0.clone();
        let integrations = std::mem::take(&mut self.1);
        let deleted = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let client = connect(&config).await?;
                    delete_schedules(&client, &integrations).await
                })
        })
        .join();
        if let Ok(Err(e)) = deleted {
            eprintln!("cleanup: could not delete the test's schedules: {e}");
        }
    }
}

#[tokio::test]
async fn applying_twice_leaves_one_schedule_per_mode_and_reports_unchanged() {
    let Some((client, config, tenant)) = setup().await else {
        return;
    };
    let integrations = vec![
        integration(tenant, "tanium-main", "0 3 * * *", "10m"),
        integration(tenant, "ninja-eu", "@daily", "15m"),
    ];
    let _cleanup = Cleanup(config.clone(), integrations.clone());

    let first = apply_schedules(&client, &config, &integrations)
        .await
        .unwrap();
    assert_eq!(first.created.len(), 4, "{first:?}");
    assert!(
        first.updated.is_empty() && first.unchanged.is_empty(),
        "{first:?}"
    );

    let second = apply_schedules(&client, &config, &integrations)
        .await
        .unwrap();
    assert!(
        second.created.is_empty() && second.updated.is_empty(),
        "{second:?}"
    );
    let mut unchanged = second.unchanged.clone();
    unchanged.sort();
    let mut created = first.created.clone();
    created.sort();
    assert_eq!(unchanged, created);

    let listed = list_schedules(&client, &config, &integrations)
        .await
        .unwrap();
    assert_eq!(listed.len(), 4, "{listed:?}");
    for info in &listed {
        assert!(info.in_sync, "{info:?}");
        assert!(!info.paused);
        assert!(!info.next_action_times.is_empty(), "{info:?}");
        assert!(info.next_action_times[0] > chrono::Utc::now() - chrono::Duration::minutes(1));
    }
    let tanium_full = listed
        .iter()
        .find(|i| i.integration == "tanium-main" && i.mode == RunMode::Full)
        .unwrap();
    assert_eq!(
        tanium_full.spec.as_deref(),
        Some("cron \"0 3 * * *\" (UTC), jitter 30s")
    );
    // A cron schedule fires at 03:00 UTC (plus at most 30 s jitter).
    for t in &tanium_full.next_action_times {
        assert_eq!(t.format("%H:%M").to_string(), "03:00", "{t}");
    }

    // The action starts the sync workflow by name, with our input and id, on our queue.
    let i = &integrations[0];
    let d = client
        .get_schedule_handle(ids::schedule_id(
            i.tenant,
            i.integration,
            ScheduleKind::Incremental,
        ))
        .describe(Default::default())
        .await
        .unwrap();
    let ScheduleDescriptionAction::StartWorkflow(action) = d.action() else {
        panic!("not a start-workflow action");
    };
    assert_eq!(action.workflow_type(), "IntegrationSyncWorkflow");
    assert_eq!(action.task_queue(), "rmm-sync");
    assert_eq!(
        action.workflow_id(),
        ids::sync_workflow_id(i.tenant, i.integration)
    );
    let input: SyncWorkflowInput = action.args().await.unwrap().unwrap();
    assert_eq!(
        input,
        SyncWorkflowInput::new(i.tenant, i.integration, RunMode::Incremental)
    );
    let policies = d
        .raw()
        .schedule
        .as_ref()
        .unwrap()
        .policies
        .as_ref()
        .unwrap();
    assert_eq!(policies.overlap_policy, 1, "skip");
}

#[tokio::test]
async fn changing_an_interval_updates_only_that_schedule_and_removing_a_mode_deletes_it() {
    let Some((client, config, tenant)) = setup().await else {
        return;
    };
    let mut i = integration(tenant, "tactical", "6h", "10m");
    let _cleanup = Cleanup(config.clone(), vec![i.clone()]);
    apply_schedules(&client, &config, std::slice::from_ref(&i))
        .await
        .unwrap();

    i.schedule.incremental = Some("5m".parse().unwrap());
    let changed = apply_schedules(&client, &config, std::slice::from_ref(&i))
        .await
        .unwrap();
    let incremental = ids::schedule_id(tenant, i.integration, ScheduleKind::Incremental);
    let full = ids::schedule_id(tenant, i.integration, ScheduleKind::Full);
    assert_eq!(changed.updated, vec![incremental.clone()], "{changed:?}");
    assert_eq!(changed.unchanged, vec![full.clone()], "{changed:?}");

    let d = client
        .get_schedule_handle(incremental.clone())
        .describe(Default::default())
        .await
        .unwrap();
    let spec = d.raw().schedule.as_ref().unwrap().spec.as_ref().unwrap();
    let every = spec.interval[0].interval.as_ref().unwrap();
    assert_eq!(every.seconds, 300, "{spec:?}");
    let jitter = spec.jitter.as_ref().unwrap();
    assert_eq!(jitter.seconds, 30, "a tenth of 5m: {spec:?}");
    let listed = list_schedules(&client, &config, std::slice::from_ref(&i))
        .await
        .unwrap();
    let info = listed
        .iter()
        .find(|s| s.schedule_id == incremental)
        .unwrap();
    assert_eq!(info.spec.as_deref(), Some("every 5m, jitter 30s"));
    // Interval ticks are 5 minutes apart (give or take the jitter).
    let gap = info.next_action_times[1] - info.next_action_times[0];
    assert!((gap.num_seconds() - 300).abs() <= 30, "{gap}");

    // An explicit jitter is applied too.
    i.schedule.jitter = Some(Duration::from_secs(5));
    let jittered = apply_schedules(&client, &config, std::slice::from_ref(&i))
        .await
        .unwrap();
    assert_eq!(jittered.updated.len(), 2, "{jittered:?}");

    i.schedule.full = None;
    let removed = apply_schedules(&client, &config, std::slice::from_ref(&i))
        .await
        .unwrap();
    assert_eq!(removed.deleted, vec![full], "{removed:?}");
    assert_eq!(removed.unchanged, vec![incremental], "{removed:?}");
    let listed = list_schedules(&client, &config, std::slice::from_ref(&i))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
}

#[tokio::test]
async fn a_missing_namespace_is_an_error_naming_the_schedule() {
    let Some((_, config, tenant)) = setup().await else {
        return;
    };
    let config = TemporalConfig {
        namespace: format!("no-such-namespace-{}", tenant),
        ..config
    };
    let client = connect(&config).await.unwrap();
    let i = integration(tenant, "x", "1h", "10m");
    let e = apply_schedules(&client, &config, &[i]).await.unwrap_err();
    assert_eq!(e.kind(), rmm_sync::ErrorKind::NotFound, "{e}");
    assert!(
        e.context("schedule")
            .is_some_and(|s| s.starts_with("rmm-sync/")),
        "{e}"
    );
}
