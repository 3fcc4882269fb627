//! Run bookkeeping: leases, failed devices, run history.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::error::ErrorKind;
use crate::model::{DeviceError, ExternalDeviceId, OutcomeCounts, RunId};
use crate::store::{AssetStore, LeaseRequest};
use crate::sync::{HeldBackSweep, RunMode, RunReport, RunStatus};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, PROVIDER_B};

/// One holder at a time; the holder re-acquires and extends; an expired lease is taken over;
/// release by a non-holder is ignored; leases are per integration.
pub async fn lease_rules(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let other = fx.sibling(PROVIDER_B).await?;
    let take = |fx: &Fixture, holder: &str, now: i64, expires: i64| {
        let (store, tenant, integration) = (Arc::clone(&fx.store), fx.tenant, fx.integration);
        let req = LeaseRequest {
            holder: holder.into(),
            expires_at: fx.at(expires),
            now: fx.at(now),
        };
        async move {
            store
                .try_acquire_lease(tenant, integration, &req)
                .await
                .or_fail("try_acquire_lease")
        }
    };
    let release = |holder: &'static str| {
        let (store, tenant, integration) = (Arc::clone(&fx.store), fx.tenant, fx.integration);
        async move {
            store
                .release_lease(tenant, integration, holder)
                .await
                .or_fail("release_lease")
        }
    };
    let lease_of = |fx: &Fixture| {
        let (store, tenant, integration) = (Arc::clone(&fx.store), fx.tenant, fx.integration);
        async move {
            Ok::<_, String>(
                store
                    .get_integration(tenant, integration)
                    .await
                    .or_fail("get_integration")?
                    .or_fail("the integration")?
                    .lease,
            )
        }
    };
    ensure!(
        lease_of(&fx).await?.is_none(),
        "no lease before the first run"
    );
    ensure!(take(&fx, "run-a", 0, 10).await?, "a free lease is granted");
    let held = lease_of(&fx)
        .await?
        .or_fail("the granted lease in the record")?;
    ensure!(
        held.holder == "run-a" && held.expires_at == fx.at(10),
        "the record shows holder and expiry as granted: {held:?}"
    );
    ensure!(
        !held.is_stale(fx.at(9)) && held.is_stale(fx.at(10)),
        "a lease is stale from its expiry on"
    );
    ensure!(
        !take(&fx, "run-b", 5, 20).await?,
        "a held lease is refused to another holder"
    );
    ensure!(
        take(&other, "run-b", 5, 20).await?,
        "leases are per integration"
    );
    ensure!(
        take(&fx, "run-a", 6, 20).await?,
        "the holder re-acquires (and extends)"
    );
    ensure!(
        !take(&fx, "run-b", 15, 30).await?,
        "the extended lease still holds at minute 15"
    );
    ensure!(
        take(&fx, "run-b", 21, 30).await?,
        "an expired lease is taken over"
    );
    release("run-a").await?;
    ensure!(
        !take(&fx, "run-c", 22, 40).await?,
        "a release by a non-holder is ignored"
    );
    release("run-b").await?;
    ensure!(
        lease_of(&fx).await?.is_none(),
        "a released lease is gone from the record"
    );
    ensure!(
        take(&fx, "run-c", 23, 40).await?,
        "a released lease is free"
    );
    Ok(())
}

/// Failed devices count attempts and keep the last error, succeeded devices are cleared, and
/// the list is per integration, ordered by external id.
pub async fn failed_device_bookkeeping(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let other = fx.sibling(PROVIDER_B).await?;
    let id = ExternalDeviceId::new;
    let s = &fx.store;
    let failed = vec![
        (id("dev-2"), "timeout".to_owned()),
        (id("dev-1"), "decode: bad JSON".to_owned()),
    ];
    s.update_failed_devices(fx.tenant, fx.integration, &failed, &[], fx.at(1))
        .await
        .or_fail("update_failed_devices")?;
    let list = s
        .failed_devices(fx.tenant, fx.integration)
        .await
        .or_fail("failed_devices")?;
    let ids: Vec<&str> = list.iter().map(|f| f.external_id.as_str()).collect();
    ensure_eq!(
        ids,
        vec!["dev-1", "dev-2"],
        "failed devices, ordered by external id"
    );
    ensure_eq!(
        (list[0].attempts, list[0].error.as_str(), list[0].failed_at),
        (1, "decode: bad JSON", fx.at(1)),
        "first failure"
    );

    let again = vec![(id("dev-1"), "unavailable: 503".to_owned())];
    s.update_failed_devices(fx.tenant, fx.integration, &again, &[id("dev-2")], fx.at(2))
        .await
        .or_fail("update_failed_devices")?;
    let list = s
        .failed_devices(fx.tenant, fx.integration)
        .await
        .or_fail("failed_devices")?;
    ensure_eq!(list.len(), 1, "the succeeded device is cleared");
    ensure_eq!(
        (list[0].attempts, list[0].error.as_str(), list[0].failed_at),
        (2, "unavailable: 503", fx.at(2)),
        "second failure"
    );
    let theirs = s
        .failed_devices(other.tenant, other.integration)
        .await
        .or_fail("failed_devices")?;
    ensure!(
        theirs.is_empty(),
        "another integration sees the failures: {theirs:?}"
    );
    s.update_failed_devices(fx.tenant, fx.integration, &[], &[id("dev-1")], fx.at(3))
        .await
        .or_fail("update_failed_devices")?;
    let list = s
        .failed_devices(fx.tenant, fx.integration)
        .await
        .or_fail("failed_devices")?;
    ensure!(list.is_empty(), "all cleared after success, found {list:?}");
    Ok(())
}

fn report(fx: &Fixture, minute: i64, status: RunStatus) -> RunReport {
    RunReport {
        run_id: RunId::new_v7(),
        integration: fx.integration,
        provider: fx.provider.clone(),
        mode: RunMode::Incremental,
        status,
        started_at: fx.at(minute),
        finished_at: fx.at(minute + 1),
        counts: OutcomeCounts {
            seen: 9,
            created: 3,
            updated: 2,
            unchanged: 1,
            skipped: 2,
            failed: 1,
            ..Default::default()
        },
        skipped_reasons: BTreeMap::from([("unmapped_scope".to_owned(), 2)]),
        errors: vec![DeviceError {
            device: Some("dev-7".into()),
            kind: ErrorKind::Unavailable,
            message: "unavailable: HTTP 503 \"try later\"".into(),
        }],
        errors_truncated: 4,
        scopes_listed: 3,
        scopes_incomplete: vec!["org-3".into()],
        held_back_sweeps: vec![HeldBackSweep {
            scope: "org-2".into(),
            known: 40,
            would_tombstone: 30,
        }],
        agent_status_changes: 5,
        rekeyed: 2,
        sweep_skipped: None,
        plan: None,
        fell_back_to_full: true,
    }
}

/// Recorded runs read back exactly, newest first, limited, per integration.
pub async fn run_history_newest_first(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let other = fx.sibling(PROVIDER_B).await?;
    let r1 = report(&fx, 1, RunStatus::Completed);
    let theirs = report(&other, 2, RunStatus::Failed);
    let r2 = report(&fx, 3, RunStatus::CompletedWithErrors);
    let r3 = report(&fx, 5, RunStatus::Cancelled);
    for (f, r) in [(&fx, &r1), (&other, &theirs), (&fx, &r2), (&fx, &r3)] {
        fx.store
            .record_run(f.tenant, r)
            .await
            .or_fail("record_run")?;
    }
    let recent = fx
        .store
        .recent_runs(fx.tenant, fx.integration, 2)
        .await
        .or_fail("recent_runs")?;
    ensure_eq!(
        recent,
        vec![r3.clone(), r2.clone()],
        "the two newest runs, newest first"
    );
    let all = fx
        .store
        .recent_runs(fx.tenant, fx.integration, 10)
        .await
        .or_fail("recent_runs")?;
    ensure_eq!(
        all,
        vec![r3, r2, r1],
        "every run of the integration, newest first"
    );
    let mine = fx
        .store
        .recent_runs(other.tenant, other.integration, 10)
        .await
        .or_fail("recent_runs")?;
    ensure_eq!(mine, vec![theirs], "the other integration's runs");
    Ok(())
}
