//! Reads the orchestrator relies on: sweep candidates, agent-status re-evaluation, listings.

use std::sync::Arc;

use crate::model::{
    AgentStatus, AgentStatusThresholds, AssetId, DeviceSnapshot, ExternalDeviceId, ExternalScopeId,
    Outcome, Reported,
};
use crate::store::{AssetFilter, AssetStore};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, PROVIDER_B, all_outcomes, fleet, workstation};

/// `live_device_ids` lists the integration's live devices of one scope: tombstoned devices,
/// other scopes and other integrations are excluded.
pub async fn live_device_ids_per_scope(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    fx.mapped_scope("org-2").await?;
    let mut batch = fleet("one", "org-1", 3);
    batch.extend(fleet("two", "org-2", 2));
    all_outcomes(&fx.ingest(0, batch).await?, &Outcome::Created, "setup")?;
    let gone = DeviceSnapshot::deleted("one-001", "org-1");
    ensure_eq!(
        fx.ingest_one(5, gone).await?.outcome,
        Outcome::Tombstoned,
        "setup tombstone"
    );
    let other = fx.sibling(PROVIDER_B).await?;
    other.mapped_scope("org-1").await?;
    other.create(0, workstation("theirs", "org-1")).await?;

    let live = |scope: &'static str| {
        let fx = fx.clone();
        async move {
            let mut ids = fx
                .store
                .live_device_ids(fx.tenant, fx.integration, &ExternalScopeId::new(scope))
                .await
                .or_fail(format_args!("live_device_ids({scope})"))?;
            ids.sort();
            Ok::<_, String>(ids)
        }
    };
    let ids = |v: &[&str]| {
        v.iter()
            .map(|s| ExternalDeviceId::new(*s))
            .collect::<Vec<_>>()
    };
    ensure_eq!(
        live("org-1").await?,
        ids(&["one-000", "one-002"]),
        "live devices of org-1"
    );
    ensure_eq!(
        live("org-2").await?,
        ids(&["two-000", "two-001"]),
        "live devices of org-2"
    );
    ensure!(
        live("org-9").await?.is_empty(),
        "an unknown scope has no live devices"
    );
    Ok(())
}

/// `reevaluate_agent_status` re-derives agent status from last-seen age, only ever towards a
/// staler status, skips tombstoned devices and devices never seen, and counts what it changed.
pub async fn reevaluate_agent_status_only_staler(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let seen_at = |id: &str, minutes: i64| {
        let mut s = workstation(id, "org-1");
        s.last_seen_at = Reported::Value(fx.at(minutes));
        s
    };
    let fresh = fx.create(0, seen_at("fresh", 0)).await?;
    let quiet = fx.create(0, seen_at("quiet", -60)).await?;
    let mut reported = seen_at("reported", 0);
    reported.agent_status = Reported::Value(AgentStatus::Overdue);
    let reported = fx.create(0, reported).await?;
    let gone = fx.create(0, seen_at("gone", 0)).await?;
    let never = fx.create(0, workstation("never", "org-1")).await?;
    let tombstone = DeviceSnapshot::deleted("gone", "org-1");
    ensure_eq!(
        fx.ingest_one(1, tombstone).await?.outcome,
        Outcome::Tombstoned,
        "setup"
    );

    let status = |id: AssetId| {
        let fx = fx.clone();
        async move { Ok::<_, String>(fx.asset(id).await?.agent_status) }
    };
    ensure_eq!(
        status(quiet).await?,
        Some(AgentStatus::Offline),
        "setup: quiet device"
    );
    let thresholds = AgentStatusThresholds::default();
    let reevaluate = |minutes: i64| {
        let fx = fx.clone();
        async move {
            fx.store
                .reevaluate_agent_status(fx.tenant, fx.integration, &thresholds, fx.at(minutes))
                .await
                .or_fail("reevaluate_agent_status")
        }
    };

    ensure_eq!(
        reevaluate(120).await?,
        1,
        "devices changed two hours later (only `fresh`)"
    );
    ensure_eq!(
        status(fresh).await?,
        Some(AgentStatus::Offline),
        "fresh after two hours"
    );
    ensure_eq!(
        status(reported).await?,
        Some(AgentStatus::Overdue),
        "a staler reported status is kept"
    );
    ensure_eq!(
        status(never).await?,
        Some(AgentStatus::Unknown),
        "a never-seen device"
    );

    ensure_eq!(
        reevaluate(8 * 24 * 60).await?,
        2,
        "devices changed eight days later"
    );
    for (id, name) in [(fresh, "fresh"), (quiet, "quiet")] {
        ensure_eq!(
            status(id).await?,
            Some(AgentStatus::Overdue),
            "{name} after eight days"
        );
    }
    ensure_eq!(
        status(gone).await?,
        Some(AgentStatus::Offline),
        "a tombstoned device is skipped"
    );
    ensure_eq!(
        reevaluate(5).await?,
        0,
        "an earlier clock never makes a device fresher"
    );
    ensure_eq!(
        status(fresh).await?,
        Some(AgentStatus::Overdue),
        "fresh stays overdue"
    );
    Ok(())
}

/// `list_assets` filters by integration and limit and orders by asset id; without a filter it
/// lists the whole tenant.
pub async fn list_assets_filters_by_integration(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let other = fx.sibling(PROVIDER_B).await?;
    other.mapped_scope("org-1").await?;
    let mine = fx.ingest(0, fleet("a", "org-1", 4)).await?;
    all_outcomes(&mine, &Outcome::Created, "setup")?;
    all_outcomes(
        &other.ingest(0, fleet("b", "org-1", 3)).await?,
        &Outcome::Created,
        "setup",
    )?;

    let mut expected: Vec<AssetId> = mine.outcomes.iter().filter_map(|o| o.asset_id).collect();
    expected.sort();
    let listed: Vec<AssetId> = fx.assets().await?.iter().map(|a| a.asset_id).collect();
    ensure_eq!(
        listed,
        expected,
        "assets of one integration, ordered by asset id"
    );
    let all = fx.all_assets().await?;
    ensure_eq!(all.len(), 7, "assets of the tenant");
    ensure!(
        all.windows(2).all(|w| w[0].asset_id < w[1].asset_id),
        "the unfiltered list is ordered by asset id"
    );
    let filter = AssetFilter {
        integration_id: Some(fx.integration),
        limit: Some(2),
    };
    let limited = fx
        .store
        .list_assets(fx.tenant, &filter)
        .await
        .or_fail("list_assets(limit)")?;
    let limited: Vec<AssetId> = limited.iter().map(|a| a.asset_id).collect();
    ensure_eq!(
        limited,
        expected[..2].to_vec(),
        "the first two assets of the integration"
    );
    ensure!(
        fx.all_assets().await?.iter().all(|a| a.extension.is_some()),
        "listed workstations carry their extension row"
    );
    Ok(())
}
