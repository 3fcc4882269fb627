//! Orchestrated runs end to end on the store.

use std::sync::Arc;

use chrono::Duration;

use crate::error::ErrorKind;
use crate::ingest::now_micros;
use crate::model::{ScopeKind, ScopeSnapshot};
use crate::store::{AssetStore, LeaseRequest, MappingStatus, SyncStatus};
use crate::sync::{RunRequest, RunStatus, SyncOrchestrator};

use super::ScenarioResult;
use super::provider::ListProvider;
use super::support::{Fixture, OrFail, fleet};

/// Full runs through [`SyncOrchestrator`]: scope sync, creation, an unchanged second run, a
/// sweep of a vanished device, the status lifecycle, run history, and the lease (refused while
/// held, free after a run).
pub async fn full_runs_end_to_end(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let scopes = vec![
        ScopeSnapshot::new("org-1", "One", ScopeKind::Organization),
        ScopeSnapshot::new("org-2", "Two", ScopeKind::Organization),
    ];
    let provider = Arc::new(ListProvider::new(fx.provider.clone(), scopes));
    for d in fleet("one", "org-1", 3)
        .into_iter()
        .chain(fleet("two", "org-2", 3))
    {
        provider.put(d);
    }
    let orch = SyncOrchestrator::new(Arc::clone(store));
    let scope_counts = orch
        .sync_scopes(fx.tenant, fx.integration, provider.as_ref())
        .await
        .or_fail("sync_scopes")?;
    ensure_eq!(scope_counts.created, 2, "scopes created by the scope sync");
    fx.mapped_scope("org-1").await?;
    fx.mapped_scope("org-2").await?;

    let run = |request: RunRequest| {
        let (orch, fx, provider) = (orch.clone(), fx.clone(), Arc::clone(&provider));
        async move { orch.run(fx.tenant, fx.integration, provider, request).await }
    };
    let first = run(RunRequest::full())
        .await
        .or_fail("the first full run")?;
    ensure_eq!(
        first.status,
        RunStatus::Completed,
        "status of the first run ({:?})",
        first.errors
    );
    ensure_eq!(
        (first.counts.created, first.counts.seen),
        (6, 6),
        "created by the first run"
    );
    let state = fx
        .store
        .get_integration(fx.tenant, fx.integration)
        .await
        .or_fail("get_integration")?
        .or_fail("the integration")?;
    ensure_eq!(
        state.sync_status,
        SyncStatus::Completed,
        "sync_status after a run"
    );
    ensure_eq!(state.sync_error, None, "sync_error after a clean run");
    ensure_eq!(
        state.last_full_sync_at,
        Some(first.started_at),
        "last_full_sync_at"
    );
    ensure_eq!(fx.assets().await?.len(), 6, "assets after the first run");

    provider.remove("one-001");
    let mut renamed = fleet("two", "org-2", 1).remove(0);
    renamed.display_name = "two-renamed".into();
    provider.put(renamed);
    let second = run(RunRequest::full())
        .await
        .or_fail("the second full run")?;
    ensure_eq!(
        second.status,
        RunStatus::Completed,
        "status of the second run ({:?})",
        second.errors
    );
    let c = &second.counts;
    ensure_eq!(
        (c.unchanged, c.updated, c.tombstoned, c.created),
        (4, 1, 1, 0),
        "unchanged, updated, tombstoned, created by the second run"
    );
    ensure_eq!(
        fx.mapping("one-001").await?.status,
        MappingStatus::Deleted,
        "the vanished device is swept"
    );
    ensure_eq!(fx.assets().await?.len(), 6, "a sweep never deletes assets");

    let history = fx
        .store
        .recent_runs(fx.tenant, fx.integration, 10)
        .await
        .or_fail("recent_runs")?;
    ensure_eq!(
        history,
        vec![second, first],
        "the run history holds both reports, newest first"
    );

    let now = now_micros();
    let lease = LeaseRequest {
        holder: "someone-else".into(),
        expires_at: now + Duration::hours(1),
        now,
    };
    let granted = fx
        .store
        .try_acquire_lease(fx.tenant, fx.integration, &lease)
        .await
        .or_fail("try_acquire_lease")?;
    ensure!(granted, "the lease is free after the runs");
    match run(RunRequest::full()).await {
        Err(e) if e.kind() == ErrorKind::LeaseHeld => {}
        other => {
            return Err(format!(
                "a run while another holder has the lease: expected LeaseHeld, got {other:?}"
            ));
        }
    }
    fx.store
        .release_lease(fx.tenant, fx.integration, "someone-else")
        .await
        .or_fail("release_lease")?;
    Ok(())
}
