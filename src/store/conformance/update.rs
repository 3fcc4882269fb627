//! Diffing: unchanged devices cost nothing, changes land, absent is not null.

use std::sync::Arc;

use serde_json::json;

use crate::model::{Outcome, Reported};
use crate::store::AssetStore;

use super::ScenarioResult;
use super::support::{Fixture, OrFail, all_outcomes, fleet, workstation};

/// Re-ingesting identical snapshots reports every device `unchanged` and writes nothing: the
/// asset's `updated_at` / `last_rmm_sync_at` and the mapping's `last_synced_at` stay as they were.
pub async fn reingest_identical_writes_nothing(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let devices = fleet("dev", "org-1", 5);
    let first = fx.ingest(0, devices.clone()).await?;
    all_outcomes(&first, &Outcome::Created, "first ingest")?;
    let before_assets = fx.assets().await?;
    let before_mapping = fx.mapping("dev-002").await?;

    let second = fx.ingest(30, devices).await?;
    all_outcomes(&second, &Outcome::Unchanged, "identical re-ingest")?;
    ensure_eq!(
        second.counts.written(),
        0,
        "devices written by an identical re-ingest"
    );
    let after_assets = fx.assets().await?;
    ensure_eq!(
        after_assets,
        before_assets,
        "assets after an identical re-ingest (no write at all)"
    );
    for a in &after_assets {
        ensure_eq!(a.updated_at, fx.at(0), "updated_at of {}", a.name);
        ensure_eq!(
            a.last_rmm_sync_at,
            Some(fx.at(0)),
            "last_rmm_sync_at of {}",
            a.name
        );
    }
    ensure_eq!(
        fx.mapping("dev-002").await?,
        before_mapping,
        "mapping after an identical re-ingest"
    );
    Ok(())
}

/// A changed provider field is `updated` on the same asset, with the new value and the new
/// sync time.
pub async fn changed_field_updates(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;

    let mut changed = workstation("dev-1", "org-1");
    changed.details.os_version = Reported::Value("11 24H2".into());
    changed.display_name = "pc-renamed-by-provider".into();
    let o = fx.ingest_one(10, changed).await?;
    ensure_eq!(o.outcome, Outcome::Updated, "outcome of a changed device");
    ensure_eq!(
        o.asset_id,
        Some(asset_id),
        "the update lands on the same asset"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(
        a.name,
        "pc-renamed-by-provider",
        "provider-owned name refreshed"
    );
    ensure_eq!(a.updated_at, fx.at(10), "updated_at");
    ensure_eq!(a.last_rmm_sync_at, Some(fx.at(10)), "last_rmm_sync_at");
    ensure_eq!(a.created_at, fx.at(0), "created_at never changes");
    let ext = a.extension.or_fail("extension row")?;
    ensure_eq!(ext.os_version.as_deref(), Some("11 24H2"), "os_version");
    ensure_eq!(ext.cpu_cores, Some(10), "untouched extension column");
    ensure_eq!(
        fx.mapping("dev-1").await?.last_synced_at,
        fx.at(10),
        "mapping last_synced_at"
    );
    ensure_eq!(fx.assets().await?.len(), 1, "assets of the integration");
    Ok(())
}

/// On asset columns, a field the provider does not report keeps the stored value and a field
/// it reports as null is cleared.
pub async fn absent_keeps_null_clears_asset_fields(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let mut snap = workstation("dev-1", "org-1");
    snap.location = Reported::Value("Room 101".into());
    snap.last_seen_at = Reported::Value(fx.at(-5));
    let asset_id = fx.create(0, snap).await?;

    let mut next = workstation("dev-1", "org-1");
    next.serial_number = Reported::Absent;
    next.location = Reported::Null;
    next.last_seen_at = Reported::Absent;
    next.details.os_version = Reported::Value("changed".into());
    ensure_eq!(
        fx.ingest_one(10, next).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(
        a.serial_number.as_deref(),
        Some("SN-DEV-1"),
        "absent serial_number is kept"
    );
    ensure_eq!(a.location, None, "null location is cleared");
    ensure_eq!(
        a.last_seen_at,
        Some(fx.at(-5)),
        "absent last_seen_at is kept"
    );

    let mut last = workstation("dev-1", "org-1");
    last.serial_number = Reported::Null;
    last.last_seen_at = Reported::Null;
    ensure_eq!(
        fx.ingest_one(20, last).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    let a = fx.asset(asset_id).await?;
    ensure_eq!(a.serial_number, None, "null serial_number is cleared");
    ensure_eq!(a.last_seen_at, None, "null last_seen_at is cleared");
    Ok(())
}

/// On extension columns, absent keeps and null clears (cpu_model absent vs null, RAM null).
pub async fn absent_keeps_null_clears_extension_fields(
    store: &Arc<dyn AssetStore>,
) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let mut snap = workstation("dev-1", "org-1");
    snap.details.lan_ip = Reported::Value("10.0.0.7".into());
    let asset_id = fx.create(0, snap).await?;

    let mut next = workstation("dev-1", "org-1");
    next.details.cpu_model = Reported::Absent;
    next.details.ram_gb = Reported::Null;
    next.details.lan_ip = Reported::Absent;
    next.details.cpu_cores = Reported::Value(12);
    ensure_eq!(
        fx.ingest_one(10, next).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    let ext = fx
        .asset(asset_id)
        .await?
        .extension
        .or_fail("extension row")?;
    ensure_eq!(
        ext.cpu_model.as_deref(),
        Some("Intel Core i7-1365U"),
        "absent cpu_model is kept"
    );
    ensure_eq!(
        ext.lan_ip.as_deref(),
        Some("10.0.0.7"),
        "absent lan_ip is kept"
    );
    ensure_eq!(ext.ram_gb, None, "null ram_gb is cleared");
    ensure_eq!(ext.cpu_cores, Some(12), "reported cpu_cores replaces");

    let mut last = workstation("dev-1", "org-1");
    last.details.cpu_model = Reported::Null;
    ensure_eq!(
        fx.ingest_one(20, last).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    let ext = fx
        .asset(asset_id)
        .await?
        .extension
        .or_fail("extension row")?;
    ensure_eq!(ext.cpu_model, None, "null cpu_model is cleared");
    ensure_eq!(ext.ram_gb, Some(16.0), "reported ram_gb is written again");
    Ok(())
}

/// Fractional RAM (Tanium's "15.7 GB") is stored and read back exactly, as is a tiny and a
/// large value.
pub async fn fractional_ram_exact(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    for (i, ram) in [15.7, 0.5, 1536.25].into_iter().enumerate() {
        let mut snap = workstation(&format!("dev-{i}"), "org-1");
        snap.details.ram_gb = Reported::Value(ram);
        let id = fx.create(0, snap).await?;
        let ext = fx.asset(id).await?.extension.or_fail("extension row")?;
        ensure_eq!(ext.ram_gb, Some(ram), "ram_gb read back");
    }
    Ok(())
}

/// Provider metadata lives on the mapping: absent keeps it, a reported map replaces it
/// wholesale (no stale keys), null clears it.
pub async fn mapping_metadata_rules(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let obj = |v: serde_json::Value| v.as_object().cloned().unwrap_or_default();
    let mut snap = workstation("dev-1", "org-1");
    let first = obj(json!({"agent": {"version": "7.1"}, "tags": ["a", "b"], "ring": 2}));
    snap.metadata = Reported::Value(first.clone());
    fx.create(0, snap).await?;
    ensure_eq!(
        fx.mapping("dev-1").await?.metadata,
        first,
        "metadata written on create"
    );

    let mut absent = workstation("dev-1", "org-1");
    absent.details.os_version = Reported::Value("changed".into());
    ensure_eq!(
        fx.ingest_one(10, absent).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    ensure_eq!(
        fx.mapping("dev-1").await?.metadata,
        first,
        "absent metadata is kept"
    );

    let mut replaced = workstation("dev-1", "org-1");
    let second = obj(json!({"ring": 3}));
    replaced.metadata = Reported::Value(second.clone());
    ensure_eq!(
        fx.ingest_one(20, replaced).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    ensure_eq!(
        fx.mapping("dev-1").await?.metadata,
        second,
        "reported metadata replaces wholesale"
    );

    let mut cleared = workstation("dev-1", "org-1");
    cleared.metadata = Reported::Null;
    ensure_eq!(
        fx.ingest_one(30, cleared).await?.outcome,
        Outcome::Updated,
        "outcome"
    );
    ensure!(
        fx.mapping("dev-1").await?.metadata.is_empty(),
        "null metadata clears it"
    );
    Ok(())
}
