//! Host-owned fields: what a PSA user edited is never overwritten by a sync.

use std::sync::Arc;

use crate::model::{ClientId, DeviceSnapshot, Outcome, Reported};
use crate::store::{AssetStore, HostAssetUpdate};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, workstation};

/// A snapshot that differs from [`workstation`] so the engine must write.
fn changed(id: &str, scope: &str, os: &str) -> DeviceSnapshot {
    let mut s = workstation(id, scope);
    s.details.os_version = Reported::Value(os.into());
    s
}

/// A host rename survives later updates, even when the provider renames the device too; the
/// provider-owned fields are still refreshed.
pub async fn host_rename_kept(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    let edit = HostAssetUpdate {
        name: Some("Reception PC".into()),
        location: Some(Some("Front desk".into())),
        ..Default::default()
    };
    fx.store
        .update_asset(fx.tenant, asset_id, &edit, fx.at(1))
        .await
        .or_fail("update_asset (host rename)")?;

    ensure_eq!(
        fx.ingest_one(10, changed("dev-1", "org-1", "24H2"))
            .await?
            .outcome,
        Outcome::Updated,
        "outcome"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.name, "Reception PC", "the host's name after an update");
    ensure_eq!(
        a.location.as_deref(),
        Some("Front desk"),
        "the host's location after an update"
    );
    let ext = a.extension.or_fail("extension row")?;
    ensure_eq!(
        ext.os_version.as_deref(),
        Some("24H2"),
        "provider-owned fields still refresh"
    );

    let mut renamed = changed("dev-1", "org-1", "24H2");
    renamed.display_name = "pc-new-provider-name".into();
    renamed.location = Reported::Value("Provider site".into());
    ensure_eq!(
        fx.ingest_one(20, renamed).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(
        a.name,
        "Reception PC",
        "the host's name after a provider rename"
    );
    ensure_eq!(
        a.location.as_deref(),
        Some("Front desk"),
        "the host's location after a provider change"
    );
    Ok(())
}

/// A host-set status (`retired`) survives updates, a tombstone and a restore: the device is
/// never re-activated behind the host's back.
pub async fn host_retired_status_kept(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    let retire = HostAssetUpdate {
        status: Some("retired".into()),
        ..Default::default()
    };
    fx.store
        .update_asset(fx.tenant, asset_id, &retire, fx.at(1))
        .await
        .or_fail("update_asset (retire)")?;

    ensure_eq!(
        fx.ingest_one(10, changed("dev-1", "org-1", "a"))
            .await?
            .outcome,
        Outcome::Updated,
        "update"
    );
    ensure_eq!(
        fx.asset(asset_id).await?.status,
        "retired",
        "status after an update"
    );

    let gone = DeviceSnapshot::deleted("dev-1", "org-1");
    ensure_eq!(
        fx.ingest_one(20, gone).await?.outcome,
        Outcome::Tombstoned,
        "tombstone"
    );
    ensure_eq!(
        fx.asset(asset_id).await?.status,
        "retired",
        "status after a tombstone"
    );

    let back = fx.ingest_one(30, changed("dev-1", "org-1", "b")).await?;
    ensure_eq!(back.outcome, Outcome::Restored, "restore");
    ensure_eq!(
        fx.asset(asset_id).await?.status,
        "retired",
        "status after a restore"
    );
    Ok(())
}

/// A host that moves an asset to another client keeps it there, also when the scope is later
/// re-mapped to yet another client.
pub async fn host_client_move_kept(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let scope_client = fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    ensure_eq!(
        fx.asset(asset_id).await?.client_id,
        scope_client,
        "setup: scope client"
    );

    let host_client = ClientId::new_random();
    let mv = HostAssetUpdate {
        client_id: Some(host_client),
        ..Default::default()
    };
    fx.store
        .update_asset(fx.tenant, asset_id, &mv, fx.at(1))
        .await
        .or_fail("update_asset (client move)")?;
    ensure_eq!(
        fx.ingest_one(10, changed("dev-1", "org-1", "a"))
            .await?
            .outcome,
        Outcome::Updated,
        "update"
    );
    ensure_eq!(
        fx.asset(asset_id).await?.client_id,
        host_client,
        "client after an update"
    );

    fx.assign("org-1", Some(ClientId::new_random()), true)
        .await?;
    ensure_eq!(
        fx.ingest_one(20, changed("dev-1", "org-1", "a"))
            .await?
            .outcome,
        Outcome::Updated,
        "update"
    );
    ensure_eq!(
        fx.asset(asset_id).await?.client_id,
        host_client,
        "client after the scope was re-mapped"
    );
    Ok(())
}
