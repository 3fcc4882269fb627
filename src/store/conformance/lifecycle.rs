//! Reclassification, tombstones and restores.

use std::sync::Arc;

use crate::model::{
    AgentStatus, DeviceKind, DeviceSnapshot, ExtensionKind, ExternalScopeId, Outcome, Reported,
    SkipReason,
};
use crate::store::{AssetStore, MappingStatus};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, workstation};

/// Workstation → server moves the extension row to the server table, carrying the stored
/// values the new snapshot does not report, and leaves no workstation row.
pub async fn reclassify_moves_extension(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;

    let mut server = workstation("dev-1", "org-1");
    server.kind = DeviceKind::Server;
    server.details.cpu_model = Reported::Absent;
    server.details.os_version = Reported::Value("Server 2022".into());
    let o = fx.ingest_one(10, server).await?;
    ensure_eq!(o.outcome, Outcome::Updated, "outcome of a reclassification");
    ensure_eq!(o.asset_id, Some(asset_id), "the same asset is reclassified");

    let a = fx.asset(asset_id).await?;
    ensure_eq!(
        a.asset_type,
        DeviceKind::Server,
        "asset_type after reclassification"
    );
    let rows = fx
        .store
        .extension_rows(fx.tenant, asset_id)
        .await
        .or_fail("extension_rows")?;
    let kinds: Vec<ExtensionKind> = rows.iter().map(|(k, _)| *k).collect();
    ensure_eq!(
        kinds,
        vec![ExtensionKind::Server],
        "extension tables holding the asset"
    );
    let row = &rows[0].1;
    ensure_eq!(
        row.cpu_model.as_deref(),
        Some("Intel Core i7-1365U"),
        "carried cpu_model"
    );
    ensure_eq!(
        row.os_version.as_deref(),
        Some("Server 2022"),
        "new os_version"
    );
    ensure_eq!(
        a.extension.as_ref(),
        Some(row),
        "get_asset reads the server row"
    );
    Ok(())
}

/// Reclassifying to a kind without an extension table (network device) removes the extension
/// row; a snapshot of unknown kind never reclassifies.
pub async fn reclassify_to_network_device_drops_extension(
    store: &Arc<dyn AssetStore>,
) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;

    let mut unknown = workstation("dev-1", "org-1");
    unknown.kind = DeviceKind::Unknown;
    unknown.details.os_version = Reported::Value("changed".into());
    ensure_eq!(
        fx.ingest_one(5, unknown).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    ensure_eq!(
        fx.asset(asset_id).await?.asset_type,
        DeviceKind::Workstation,
        "unknown kind keeps the type"
    );

    let mut switch = workstation("dev-1", "org-1");
    switch.kind = DeviceKind::NetworkDevice;
    ensure_eq!(
        fx.ingest_one(10, switch).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.asset_type, DeviceKind::NetworkDevice, "asset_type");
    ensure_eq!(a.extension, None, "get_asset shows no extension");
    let rows = fx
        .store
        .extension_rows(fx.tenant, asset_id)
        .await
        .or_fail("extension_rows")?;
    ensure!(
        rows.is_empty(),
        "no extension row may be left behind, found {rows:?}"
    );
    Ok(())
}

/// A provider deletion tombstones: asset inactive/offline but kept (with its extension row),
/// mapping `deleted` with a timestamp, and no longer live.
pub async fn tombstone_marks_inactive(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let mut snap = workstation("dev-1", "org-1");
    snap.last_seen_at = Reported::Value(fx.at(0));
    let asset_id = fx.create(0, snap).await?;
    fx.create(0, workstation("dev-2", "org-1")).await?;

    let o = fx
        .ingest_one(10, DeviceSnapshot::deleted("dev-1", "org-1"))
        .await?;
    ensure_eq!(
        o.outcome,
        Outcome::Tombstoned,
        "outcome of a provider deletion"
    );
    ensure_eq!(o.asset_id, Some(asset_id), "tombstoned asset");
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.status, "inactive", "status of a tombstoned asset");
    ensure_eq!(
        a.agent_status,
        Some(AgentStatus::Offline),
        "agent_status of a tombstoned asset"
    );
    ensure_eq!(a.name, "pc-dev-1", "a tombstone does not blank the asset");
    let rows = fx
        .store
        .extension_rows(fx.tenant, asset_id)
        .await
        .or_fail("extension_rows")?;
    ensure_eq!(rows.len(), 1, "a tombstone keeps the extension row");
    let m = fx.mapping("dev-1").await?;
    ensure_eq!(m.status, MappingStatus::Deleted, "mapping status");
    ensure_eq!(m.deleted_at, Some(fx.at(10)), "mapping deleted_at");
    ensure_eq!(m.asset_id, asset_id, "mapping still points at the asset");

    // The orchestrator's tombstone path (no scope known) does the same.
    let swept = fx
        .engine
        .tombstone(&fx.ctx(11), vec![("dev-2".into(), None::<ExternalScopeId>)])
        .await
        .or_fail("engine.tombstone")?;
    ensure_eq!(swept.counts.tombstoned, 1, "engine.tombstone counts");
    ensure_eq!(
        fx.mapping("dev-2").await?.status,
        MappingStatus::Deleted,
        "swept mapping"
    );
    let live = fx
        .store
        .live_device_ids(fx.tenant, fx.integration, &"org-1".into())
        .await
        .or_fail("live_device_ids")?;
    ensure!(
        live.is_empty(),
        "tombstoned devices are not live, found {live:?}"
    );
    Ok(())
}

/// A deletion for a device the store never knew is skipped `no_mapping_to_tombstone`.
pub async fn tombstone_without_mapping_skips(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let o = fx
        .ingest_one(0, DeviceSnapshot::deleted("ghost", "org-1"))
        .await?;
    let expected = Outcome::Skipped {
        reason: SkipReason::NoMappingToTombstone,
    };
    ensure_eq!(o.outcome, expected, "outcome");
    ensure!(
        fx.maybe_mapping("ghost").await?.is_none(),
        "no mapping is written for a ghost"
    );
    ensure!(
        fx.all_assets().await?.is_empty(),
        "no asset is written for a ghost"
    );
    Ok(())
}

/// Tombstoning a tombstoned device is `unchanged`: no write, `deleted_at` keeps the first time.
pub async fn repeated_tombstone_unchanged(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    let gone = DeviceSnapshot::deleted("dev-1", "org-1");
    ensure_eq!(
        fx.ingest_one(10, gone.clone()).await?.outcome,
        Outcome::Tombstoned,
        "first tombstone"
    );
    let asset_before = fx.asset(asset_id).await?;

    let again = fx.ingest(20, vec![gone]).await?;
    ensure_eq!(
        again.outcomes[0].outcome,
        Outcome::Unchanged,
        "second tombstone"
    );
    ensure_eq!(
        again.counts.tombstoned,
        0,
        "a second tombstone is not re-counted"
    );
    ensure_eq!(
        fx.mapping("dev-1").await?.deleted_at,
        Some(fx.at(10)),
        "deleted_at keeps the first time"
    );
    ensure_eq!(
        fx.asset(asset_id).await?,
        asset_before,
        "asset after a second tombstone"
    );
    Ok(())
}

/// A tombstoned device that comes back is `restored` onto the same asset: active again, mapping
/// `synced` without `deleted_at`, live again.
pub async fn restore_after_tombstone(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    let gone = DeviceSnapshot::deleted("dev-1", "org-1");
    ensure_eq!(
        fx.ingest_one(10, gone).await?.outcome,
        Outcome::Tombstoned,
        "tombstone"
    );

    let mut back = workstation("dev-1", "org-1");
    back.last_seen_at = Reported::Value(fx.at(20));
    let o = fx.ingest_one(20, back).await?;
    ensure_eq!(
        o.outcome,
        Outcome::Restored,
        "outcome of a returning device"
    );
    ensure_eq!(o.asset_id, Some(asset_id), "restored onto the same asset");
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.status, "active", "status after restore");
    ensure_eq!(
        a.agent_status,
        Some(AgentStatus::Online),
        "agent_status after restore"
    );
    let m = fx.mapping("dev-1").await?;
    ensure_eq!(
        (m.status, m.deleted_at),
        (MappingStatus::Synced, None),
        "mapping after restore"
    );
    let live = fx
        .store
        .live_device_ids(fx.tenant, fx.integration, &"org-1".into())
        .await
        .or_fail("live_device_ids")?;
    ensure_eq!(live, vec!["dev-1".into()], "restored device is live");
    ensure_eq!(fx.all_assets().await?.len(), 1, "assets in the tenant");
    Ok(())
}
