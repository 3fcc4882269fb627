//! Identity and correlation: moves, adoption, identity changes, dangling mappings.

use std::sync::Arc;

use crate::model::{
    ClientId, DeviceKind, ExternalDeviceId, ExternalScopeId, IdentityChange, Outcome,
};
use crate::store::{AssetStore, MappingStatus};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, blank_asset, workstation};

async fn live(fx: &Fixture, scope: &str) -> Result<Vec<ExternalDeviceId>, String> {
    let mut ids = fx
        .store
        .live_device_ids(fx.tenant, fx.integration, &ExternalScopeId::new(scope))
        .await
        .or_fail(format_args!("live_device_ids({scope})"))?;
    ids.sort();
    Ok(ids)
}

/// A device that changed scope is `moved` (never delete + create): same asset and mapping id,
/// client, `rmm_organization_id` and realm follow the new scope, and it is live only there.
pub async fn scope_move_keeps_asset(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let new_client = fx.mapped_scope("org-2").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    let mapping_before = fx.mapping("dev-1").await?;

    let moved = workstation("dev-1", "org-2");
    let o = fx.ingest_one(10, moved.clone()).await?;
    let expected = Outcome::Moved {
        from: "org-1".into(),
    };
    ensure_eq!(o.outcome, expected, "outcome of a scope move");
    ensure_eq!(o.asset_id, Some(asset_id), "a moved device keeps its asset");
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.client_id, new_client, "client follows the new scope");
    ensure_eq!(
        a.rmm_organization_id.as_deref(),
        Some("org-2"),
        "rmm_organization_id"
    );
    let m = fx.mapping("dev-1").await?;
    ensure_eq!(
        m.id,
        mapping_before.id,
        "the mapping row is updated, not replaced"
    );
    ensure_eq!(m.scope_id.as_str(), "org-2", "mapping realm");
    ensure_eq!(m.asset_id, asset_id, "mapping asset");
    ensure_eq!(fx.assets().await?.len(), 1, "assets of the integration");
    ensure!(
        live(&fx, "org-1").await?.is_empty(),
        "the old scope has no live device"
    );
    ensure_eq!(
        live(&fx, "org-2").await?,
        vec![ExternalDeviceId::new("dev-1")],
        "new scope"
    );

    let again = fx.ingest_one(20, moved).await?;
    ensure_eq!(
        again.outcome,
        Outcome::Unchanged,
        "re-ingesting the moved device"
    );
    Ok(())
}

/// Moving into an unmapped scope is still a move (the asset exists), but the client stays:
/// the client follows the scope only when the scope is mapped.
pub async fn move_to_unmapped_scope_keeps_client(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let client = fx.mapped_scope("org-1").await?;
    fx.scope("org-unmapped", None, true).await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;

    let o = fx
        .ingest_one(10, workstation("dev-1", "org-unmapped"))
        .await?;
    let expected = Outcome::Moved {
        from: "org-1".into(),
    };
    ensure_eq!(
        o.outcome,
        expected,
        "outcome of a move into an unmapped scope"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(
        a.client_id,
        client,
        "client stays when the new scope is unmapped"
    );
    ensure_eq!(
        a.rmm_organization_id.as_deref(),
        Some("org-unmapped"),
        "rmm_organization_id"
    );
    ensure_eq!(
        fx.mapping("dev-1").await?.scope_id.as_str(),
        "org-unmapped",
        "mapping realm"
    );
    Ok(())
}

/// An asset that carries this provider's (provider, device id) but has no mapping of this
/// provider is adopted: a mapping is added and no second asset is created.
pub async fn adopts_unmapped_asset(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let client = fx.mapped_scope("org-1").await?;
    // Another tool imported the device: the asset carries our provider's id but only the other
    // tool's mapping.
    let importer = fx.sibling("conformance-import").await?;
    let mut legacy = blank_asset(
        ClientId::new_random(),
        DeviceKind::Workstation,
        "legacy",
        fx.at(-60),
    );
    legacy.rmm_provider = Some(fx.provider.clone());
    legacy.rmm_device_id = Some("dev-1".into());
    let legacy_id = legacy.asset_id;
    importer
        .apply(&[importer.insert_write(legacy, "import-1", "import-scope")])
        .await?;

    let o = fx.ingest_one(0, workstation("dev-1", "org-1")).await?;
    ensure_eq!(
        o.outcome,
        Outcome::Updated,
        "adoption is reported as an update"
    );
    ensure_eq!(o.asset_id, Some(legacy_id), "the existing asset is adopted");
    let m = fx.mapping("dev-1").await?;
    ensure_eq!(
        (m.asset_id, m.status),
        (legacy_id, MappingStatus::Synced),
        "the new mapping"
    );
    let a = fx.asset(legacy_id).await?;
    ensure_eq!(
        a.client_id,
        client,
        "the adopted asset follows the mapped scope"
    );
    ensure_eq!(
        a.rmm_organization_id.as_deref(),
        Some("org-1"),
        "rmm_organization_id"
    );
    ensure_eq!(
        fx.all_assets().await?.len(),
        1,
        "no second asset in the tenant"
    );
    let import_mapping = importer.mapping("import-1").await?;
    ensure_eq!(
        import_mapping.asset_id,
        legacy_id,
        "the importer's mapping is untouched"
    );
    Ok(())
}

/// An asset that another integration of the same provider maps is never adopted: the second
/// integration creates its own asset.
pub async fn no_adoption_across_integrations(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let first = fx.create(0, workstation("dev-1", "org-1")).await?;

    let other = fx.sibling(fx.provider.as_str()).await?;
    other.mapped_scope("org-1").await?;
    let o = other.ingest_one(5, workstation("dev-1", "org-1")).await?;
    ensure_eq!(
        o.outcome,
        Outcome::Created,
        "the second integration's outcome"
    );
    ensure!(
        o.asset_id != Some(first),
        "the second integration must not take the first one's asset"
    );
    ensure_eq!(
        fx.mapping("dev-1").await?.asset_id,
        first,
        "the first integration keeps its asset"
    );
    ensure_eq!(fx.all_assets().await?.len(), 2, "assets in the tenant");
    Ok(())
}

/// A provider identity change re-keys the mapping: same asset and mapping id, new external id,
/// `rmm_device_id` updated; the old id is gone and the new id keeps updating the same asset.
pub async fn identity_change_rekeys_mapping(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("eid-old", "org-1")).await?;
    let mapping_id = fx.mapping("eid-old").await?.id;

    let change = IdentityChange {
        previous: "eid-old".into(),
        current: "eid-new".into(),
        changed_at: Some(fx.at(5)),
    };
    let result = fx
        .engine
        .apply_identity_changes(&fx.ctx(5), &[change])
        .await
        .or_fail("apply_identity_changes")?;
    ensure_eq!(result.counts.updated, 1, "re-keys reported as updates");
    ensure!(
        fx.maybe_mapping("eid-old").await?.is_none(),
        "the old id no longer resolves"
    );
    let m = fx.mapping("eid-new").await?;
    ensure_eq!(
        (m.id, m.asset_id),
        (mapping_id, asset_id),
        "the re-keyed mapping"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.rmm_device_id.as_deref(), Some("eid-new"), "rmm_device_id");

    let o = fx.ingest_one(10, workstation("eid-new", "org-1")).await?;
    ensure_eq!(
        o.outcome,
        Outcome::Updated,
        "the next listing under the new id"
    );
    ensure_eq!(
        o.asset_id,
        Some(asset_id),
        "the new id updates the same asset"
    );
    ensure_eq!(fx.all_assets().await?.len(), 1, "no second asset");
    Ok(())
}

/// A mapping whose asset the host deleted is repaired: the asset is re-created and the same
/// mapping row re-pointed — also when the snapshot is identical to the last one.
pub async fn dangling_mapping_repaired(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let snap = workstation("dev-1", "org-1");
    let old_asset = fx.create(0, snap.clone()).await?;
    let mapping = fx.mapping("dev-1").await?;
    fx.store
        .delete_asset(fx.tenant, old_asset)
        .await
        .or_fail("delete_asset")?;
    ensure!(
        fx.store
            .get_asset(fx.tenant, old_asset)
            .await
            .or_fail("get_asset")?
            .is_none(),
        "delete_asset must remove the asset"
    );
    let rows = fx
        .store
        .extension_rows(fx.tenant, old_asset)
        .await
        .or_fail("extension_rows")?;
    ensure!(
        rows.is_empty(),
        "delete_asset must remove the extension rows, found {rows:?}"
    );
    ensure_eq!(
        fx.mapping("dev-1").await?.asset_id,
        old_asset,
        "setup: the mapping dangles"
    );

    let o = fx.ingest_one(10, snap).await?;
    ensure_eq!(
        o.outcome,
        Outcome::Created,
        "outcome of a dangling mapping's device"
    );
    let new_asset = o.asset_id.or_fail("the re-created asset id")?;
    ensure!(
        new_asset != old_asset,
        "the asset is re-created under a new id"
    );
    let m = fx.mapping("dev-1").await?;
    ensure_eq!(m.id, mapping.id, "the same mapping row is re-pointed");
    ensure_eq!(m.asset_id, new_asset, "the mapping points at the new asset");
    ensure_eq!(
        m.created_at,
        mapping.created_at,
        "mapping created_at survives the repair"
    );
    fx.asset(new_asset).await?;
    let again = fx.ingest_one(20, workstation("dev-1", "org-1")).await?;
    ensure_eq!(
        again.outcome,
        Outcome::Unchanged,
        "after the repair the device is stable"
    );
    Ok(())
}
