//! Creation and the skips that write nothing.

use std::sync::Arc;

use crate::model::{
    AgentStatus, DeviceKind, ExtensionKind, ExternalDeviceId, Outcome, Reported, SkipReason,
};
use crate::store::{AssetStore, MappingStatus};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, workstation};

fn skipped(reason: SkipReason) -> Outcome {
    Outcome::Skipped { reason }
}

/// A device in a mapped scope creates one asset for the scope's client, with the provider
/// columns, the extension row and a live mapping.
pub async fn create_in_mapped_scope(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let client = fx.mapped_scope("org-1").await?;
    let mut snap = workstation("dev-1", "org-1");
    snap.last_seen_at = Reported::Value(fx.at(-1));
    let asset_id = fx.create(0, snap).await?;

    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.client_id, client, "the asset takes the scope's client");
    ensure_eq!(a.asset_type, DeviceKind::Workstation, "asset_type");
    ensure_eq!(a.name, "pc-dev-1", "name");
    ensure_eq!(
        a.serial_number.as_deref(),
        Some("SN-DEV-1"),
        "serial_number"
    );
    ensure_eq!(a.status, "active", "status of a new active device");
    ensure_eq!(
        a.asset_tag,
        format!("{}:dev-1", fx.provider),
        "default asset_tag"
    );
    ensure_eq!(a.rmm_provider.as_ref(), Some(&fx.provider), "rmm_provider");
    ensure_eq!(a.rmm_device_id.as_deref(), Some("dev-1"), "rmm_device_id");
    ensure_eq!(
        a.rmm_organization_id.as_deref(),
        Some("org-1"),
        "rmm_organization_id"
    );
    ensure_eq!(a.agent_status, Some(AgentStatus::Online), "agent_status");
    ensure_eq!(a.last_seen_at, Some(fx.at(-1)), "last_seen_at");
    ensure_eq!(a.last_rmm_sync_at, Some(fx.at(0)), "last_rmm_sync_at");
    ensure_eq!(
        (a.created_at, a.updated_at),
        (fx.at(0), fx.at(0)),
        "timestamps"
    );
    let ext = a.extension.or_fail("the workstation extension row")?;
    ensure_eq!(
        ext.cpu_model.as_deref(),
        Some("Intel Core i7-1365U"),
        "cpu_model"
    );
    ensure_eq!(ext.ram_gb, Some(16.0), "ram_gb");
    let rows = fx
        .store
        .extension_rows(fx.tenant, asset_id)
        .await
        .or_fail("extension_rows")?;
    ensure_eq!(rows.len(), 1, "exactly one extension row");
    ensure_eq!(rows[0].0, ExtensionKind::Workstation, "extension table");

    let m = fx.mapping("dev-1").await?;
    ensure_eq!(m.asset_id, asset_id, "mapping points at the asset");
    ensure_eq!(m.status, MappingStatus::Synced, "mapping status");
    ensure_eq!(m.scope_id.as_str(), "org-1", "mapping realm");
    ensure_eq!(&m.provider, &fx.provider, "mapping provider");
    ensure_eq!(m.integration_id, fx.integration, "mapping integration");
    ensure!(
        m.fingerprint.is_some(),
        "a created mapping carries the fingerprint"
    );
    ensure_eq!(fx.assets().await?.len(), 1, "assets of the integration");
    Ok(())
}

/// A device whose scope has no client (or is unknown to the store) is skipped with
/// `unmapped_scope`, and neither an asset nor a mapping exists afterwards.
pub async fn unmapped_scope_skips_without_writing(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.scope("org-unmapped", None, true).await?;
    let result = fx
        .ingest(
            0,
            vec![
                workstation("dev-1", "org-unmapped"),
                workstation("dev-2", "org-unknown"),
            ],
        )
        .await?;
    for o in &result.outcomes {
        ensure_eq!(
            o.outcome,
            skipped(SkipReason::UnmappedScope),
            "device {}",
            o.external_id
        );
        ensure!(o.asset_id.is_none(), "a skipped device reports no asset");
    }
    for id in ["dev-1", "dev-2"] {
        ensure!(
            fx.maybe_mapping(id).await?.is_none(),
            "no mapping for skipped {id}"
        );
    }
    ensure!(
        fx.all_assets().await?.is_empty(),
        "no orphan asset in the tenant"
    );
    Ok(())
}

/// A scope with `auto_sync_assets = false` skips its devices with `scope_sync_disabled`: new
/// devices are not created and known devices are not touched.
pub async fn scope_sync_disabled_skips(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let client = fx.mapped_scope("org-1").await?;
    let known = fx.create(0, workstation("dev-1", "org-1")).await?;
    fx.assign("org-1", Some(client), false).await?;

    let mut changed = workstation("dev-1", "org-1");
    changed.display_name = "renamed".into();
    let result = fx
        .ingest(5, vec![changed, workstation("dev-2", "org-1")])
        .await?;
    for o in &result.outcomes {
        ensure_eq!(
            o.outcome,
            skipped(SkipReason::ScopeSyncDisabled),
            "device {}",
            o.external_id
        );
    }
    let a = fx.asset(known).await?;
    ensure_eq!(
        a.name,
        "pc-dev-1",
        "a known device in a disabled scope is not updated"
    );
    ensure_eq!(a.updated_at, fx.at(0), "updated_at of the untouched asset");
    ensure!(
        fx.maybe_mapping("dev-2").await?.is_none(),
        "no mapping for the new device"
    );
    ensure_eq!(fx.all_assets().await?.len(), 1, "assets in the tenant");
    Ok(())
}

/// A device the host suppressed is skipped with `suppressed` (even when known) until the host
/// lifts the suppression.
pub async fn suppressed_device_skipped(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let known = fx.create(0, workstation("dev-1", "org-1")).await?;
    for id in ["dev-1", "dev-2"] {
        fx.store
            .set_suppressed(fx.tenant, fx.integration, &ExternalDeviceId::new(id), true)
            .await
            .or_fail("set_suppressed(true)")?;
    }
    let mut changed = workstation("dev-1", "org-1");
    changed.display_name = "renamed".into();
    let result = fx
        .ingest(5, vec![changed.clone(), workstation("dev-2", "org-1")])
        .await?;
    for o in &result.outcomes {
        ensure_eq!(
            o.outcome,
            skipped(SkipReason::Suppressed),
            "device {}",
            o.external_id
        );
    }
    ensure_eq!(
        fx.asset(known).await?.name,
        "pc-dev-1",
        "a suppressed device is not updated"
    );
    ensure!(
        fx.maybe_mapping("dev-2").await?.is_none(),
        "a suppressed device is not created"
    );

    fx.store
        .set_suppressed(
            fx.tenant,
            fx.integration,
            &ExternalDeviceId::new("dev-1"),
            false,
        )
        .await
        .or_fail("set_suppressed(false)")?;
    let o = fx.ingest_one(10, changed).await?;
    ensure_eq!(o.outcome, Outcome::Updated, "after lifting the suppression");
    ensure_eq!(
        fx.asset(known).await?.name,
        "renamed",
        "name after lifting the suppression"
    );
    Ok(())
}
