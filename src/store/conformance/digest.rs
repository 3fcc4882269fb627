//! The digest phase of a correlation: `correlate_digest` answers exactly what `correlate`'s
//! rows digest to, for every kind of device state the engine settles from it.

use std::sync::Arc;

use super::ScenarioResult;
use super::support::{Fixture, OrFail, PROVIDER_B, workstation};
use crate::model::{DeviceKind, ExternalDeviceId, ExternalScopeId};
use crate::store::{AssetStore, CorrelationQuery, MappingStatus};

/// Live, moved, reclassified, tombstoned, dangling, suppressed, unknown and foreign devices in
/// one query: the store's digest equals the digest of its own correlation, and says the right
/// thing about each device.
pub async fn correlate_digest_matches_correlate(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    fx.mapped_scope("org-2").await?;
    fx.scope("org-off", None, false).await?;
    let mut server = workstation("srv", "org-1");
    server.kind = DeviceKind::Server;
    let mut batch = vec![server];
    for id in ["live", "moved", "gone", "dangling", "hushed"] {
        batch.push(workstation(id, "org-1"));
    }
    fx.ingest(0, batch).await?;
    fx.ingest(1, vec![workstation("moved", "org-2")]).await?;
    fx.engine
        .tombstone(&fx.ctx(2), vec![("gone".into(), Some("org-1".into()))])
        .await
        .or_fail("tombstone")?;
    let dangling = fx.mapping("dangling").await?.asset_id;
    fx.store
        .delete_asset(fx.tenant, dangling)
        .await
        .or_fail("delete_asset")?;
    fx.store
        .set_suppressed(fx.tenant, fx.integration, &"hushed".into(), true)
        .await
        .or_fail("set_suppressed")?;
    // Same device id in another integration (and provider), and in another tenant.
    let sibling = fx.sibling(PROVIDER_B).await?;
    sibling.mapped_scope("org-1").await?;
    sibling
        .ingest(0, vec![workstation("live", "org-1")])
        .await?;
    let elsewhere = fx.other_tenant().await?;
    elsewhere.mapped_scope("org-1").await?;
    elsewhere
        .ingest(0, vec![workstation("unknown", "org-1")])
        .await?;

    let ids = [
        "live", "moved", "srv", "gone", "dangling", "hushed", "unknown",
    ];
    let query = CorrelationQuery {
        provider: fx.provider.clone(),
        integration_id: fx.integration,
        external_ids: ids.iter().map(|i| ExternalDeviceId::new(*i)).collect(),
        scope_ids: ["org-1", "org-2", "org-off", "org-none"]
            .into_iter()
            .map(ExternalScopeId::new)
            .collect(),
        identity: None,
    };
    let digest = fx
        .store
        .correlate_digest(fx.tenant, &query)
        .await
        .or_fail("correlate_digest")?
        .normalized();
    let full = fx
        .store
        .correlate(fx.tenant, &query)
        .await
        .or_fail("correlate")?
        .digest(&query)
        .normalized();
    ensure_eq!(digest, full, "correlate_digest vs the digest of correlate");

    let row = |id: &str| {
        digest
            .mappings
            .iter()
            .find(|m| m.external_id.as_str() == id)
            .ok_or_else(|| format!("the digest has no mapping for {id}"))
    };
    ensure_eq!(digest.mappings.len(), 6, "mappings in the digest");
    let live = row("live")?;
    ensure_eq!(live.id, fx.mapping("live").await?.id, "live: mapping id");
    ensure_eq!(
        live.fingerprint,
        fx.mapping("live").await?.fingerprint,
        "live: fingerprint"
    );
    ensure!(live.fingerprint.is_some(), "live: a fingerprint is stored");
    ensure_eq!(
        live.asset_type,
        Some(DeviceKind::Workstation),
        "live: asset type"
    );
    ensure_eq!(live.status, MappingStatus::Synced, "live: status");
    ensure_eq!(row("moved")?.scope_id.as_str(), "org-2", "moved: realm");
    ensure_eq!(
        row("srv")?.asset_type,
        Some(DeviceKind::Server),
        "srv: type"
    );
    ensure_eq!(row("gone")?.status, MappingStatus::Deleted, "gone: status");
    ensure_eq!(row("dangling")?.asset_type, None, "dangling: no asset");
    ensure_eq!(
        digest.suppressed,
        vec![ExternalDeviceId::new("hushed")],
        "suppressed devices"
    );
    let scopes: Vec<&str> = digest
        .scopes
        .iter()
        .map(|s| s.external_id.as_str())
        .collect();
    ensure_eq!(scopes, vec!["org-1", "org-2", "org-off"], "scopes");
    ensure!(
        !digest.scopes[2].auto_sync_assets && digest.scopes[2].client_id.is_none(),
        "org-off: host fields read back, found {:?}",
        digest.scopes[2]
    );
    Ok(())
}
