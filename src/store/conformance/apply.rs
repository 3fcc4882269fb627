//! `apply` called directly: exact round trips, unique keys, optimistic concurrency, atomicity.

use std::sync::Arc;

use serde_json::json;

use crate::error::ErrorKind;
use crate::model::{
    AgentStatus, AssetId, ClientId, DeviceKind, ExtensionKind, ExtensionRow, IdentityHints,
    StorageInfo,
};
use crate::store::{
    AssetRecord, AssetStore, AssetWrite, DeviceWrite, ExtensionWrite, HostAssetUpdate,
    MappingStatus, WrittenValues,
};

use super::ScenarioResult;
use super::support::{Fixture, OrFail, blank_asset, expect_kind, workstation};

/// An extension row with every column set, including awkward values.
fn full_extension(fx: &Fixture) -> ExtensionRow {
    ExtensionRow {
        os_type: Some("Windows Server".into()),
        os_version: Some("2022 Datacenter (21H2) — build 20348.2340".into()),
        agent_version: Some("7.6.1.1024".into()),
        current_user: Some("CORP\\o'brien \"admin\"".into()),
        uptime_seconds: Some(40 * 86_400 + 17),
        lan_ip: Some("10.20.30.40".into()),
        wan_ip: Some("2001:db8::1".into()),
        antivirus_status: Some("up_to_date".into()),
        antivirus_product: Some("Defender".into()),
        last_reboot_at: Some(fx.at(-3 * 24 * 60)),
        pending_patches: Some(3),
        pending_os_patches: Some(2),
        pending_software_patches: Some(1),
        failed_patches: Some(0),
        last_patch_scan_at: Some(fx.at(-90)),
        cpu_model: Some("AMD EPYC 7543 32-Core".into()),
        cpu_cores: Some(32),
        ram_gb: Some(15.7),
        disk_usage: Some(vec![
            StorageInfo::from_total_free("C:", 476.9, 120.25),
            StorageInfo::from_total_free("/var/lib/ünïcode", 1862.0, 0.0),
        ]),
        installed_software: Some(vec![
            json!({"name": "7-Zip", "version": "23.01"}),
            json!({"name": "Ωmega", "publisher": null}),
        ]),
        system_info: json!({"bios": "1.2.3", "nested": {"list": [1, 2.5, "x"], "flag": true}})
            .as_object()
            .cloned(),
    }
}

/// A server asset with every engine-managed column set.
fn full_asset(fx: &Fixture) -> AssetRecord {
    let mut a = blank_asset(
        ClientId::new_random(),
        DeviceKind::Server,
        "srv",
        fx.at(-10),
    );
    a.name = "Empfang \"Büro\" – srv 01".into();
    a.serial_number = Some("SRV-0099-XZ".into());
    a.location = Some("Rack 4, U12".into());
    a.rmm_provider = Some(fx.provider.clone());
    a.rmm_device_id = Some("srv-01".into());
    a.rmm_organization_id = Some("org-1".into());
    a.agent_status = Some(AgentStatus::Overdue);
    a.last_seen_at = Some(fx.at(-20));
    a.last_rmm_sync_at = Some(fx.at(-10));
    a.updated_at = fx.at(-5);
    a.identity = IdentityHints {
        serial_numbers: vec!["SRV-0099-XZ".into(), "BOARD-77".into()],
        manufacturer: Some("Dell Inc.".into()),
        model: Some("PowerEdge R750".into()),
        mac_addresses: vec!["00:1A:2B:3C:4D:5E".into()],
        system_uuid: Some("4c4c4544-0042-3510-8052-b4c04f4a4d32".into()),
        hostname: Some("srv01".into()),
        fqdn: Some("srv01.corp.example".into()),
    };
    a
}

/// Every column of an asset, its extension row and its mapping reads back exactly as written
/// (timestamps to the microsecond, fractional numbers, JSON, quotes and non-ASCII text).
pub async fn apply_round_trips_rows(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let asset = full_asset(&fx);
    let row = full_extension(&fx);
    let mut write = fx.insert_write(asset.clone(), "srv-01", "org-1");
    write.extension.upsert = Some((ExtensionKind::Server, row.clone()));
    let m = &mut write.mapping;
    m.status = MappingStatus::Deleted;
    m.deleted_at = Some(fx.at(-1));
    m.last_synced_at = fx.at(-1);
    m.created_at = fx.at(-10);
    m.fingerprint = Some("0123456789abcdef0123456789abcdef".into());
    m.metadata = json!({"agent": {"v": 7}, "tags": ["a", "b"], "note": "l'été"})
        .as_object()
        .cloned()
        .unwrap_or_default();
    m.written = Some(WrittenValues {
        name: Some(asset.name.clone()),
        serial_number: asset.serial_number.clone(),
        location: None,
        status: Some("active".into()),
        client_id: Some(asset.client_id),
    });
    let mapping = write.mapping.clone();
    fx.apply(&[write]).await?;

    let expected = AssetRecord {
        extension: Some(row.clone()),
        ..asset.clone()
    };
    ensure_eq!(
        fx.asset(asset.asset_id).await?,
        expected,
        "get_asset after apply"
    );
    ensure_eq!(
        fx.mapping("srv-01").await?,
        mapping,
        "get_mapping after apply"
    );
    let rows = fx
        .store
        .extension_rows(fx.tenant, asset.asset_id)
        .await
        .or_fail("extension_rows")?;
    ensure_eq!(
        rows,
        vec![(ExtensionKind::Server, row)],
        "extension_rows after apply"
    );
    let listed = fx.all_assets().await?;
    ensure_eq!(listed, vec![expected], "list_assets after apply");
    Ok(())
}

/// Unique keys hold and violations are `Conflict`: an existing asset id, a second mapping for
/// a mapped device, a second mapping for a mapped asset in the same integration. Replacing a
/// mapping by its own id is not a violation.
pub async fn apply_enforces_unique_keys(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    let client = ClientId::new_random();
    let first = blank_asset(client, DeviceKind::Unknown, "first", fx.t0);
    let first_id = first.asset_id;
    fx.apply(&[fx.insert_write(first.clone(), "dev-1", "org-1")])
        .await?;
    let original = fx.mapping("dev-1").await?;

    let again = fx.insert_write(first, "dev-other", "org-1");
    expect_kind(
        fx.store.apply(fx.tenant, &[again]).await,
        ErrorKind::Conflict,
        "inserting an existing asset id",
    )?;
    ensure!(
        fx.maybe_mapping("dev-other").await?.is_none(),
        "a rejected write left its mapping"
    );

    let other = blank_asset(client, DeviceKind::Unknown, "other", fx.t0);
    let other_id = other.asset_id;
    let dup_device = fx.insert_write(other, "dev-1", "org-2");
    expect_kind(
        fx.store.apply(fx.tenant, &[dup_device]).await,
        ErrorKind::Conflict,
        "a second mapping for dev-1",
    )?;
    ensure!(
        fx.store
            .get_asset(fx.tenant, other_id)
            .await
            .or_fail("get_asset")?
            .is_none(),
        "a rejected write left its asset"
    );

    let dup_asset = DeviceWrite {
        external_id: "dev-2".into(),
        asset_id: first_id,
        asset: AssetWrite::Keep,
        extension: ExtensionWrite::default(),
        mapping: fx.new_mapping("dev-2", "org-1", first_id),
    };
    expect_kind(
        fx.store.apply(fx.tenant, &[dup_asset]).await,
        ErrorKind::Conflict,
        "a second mapping of one asset in one integration",
    )?;
    ensure_eq!(
        fx.mapping("dev-1").await?,
        original,
        "dev-1's mapping after the rejected writes"
    );

    let mut moved = original.clone();
    moved.scope_id = "org-9".into();
    moved.last_synced_at = fx.at(1);
    let replace = DeviceWrite {
        external_id: "dev-1".into(),
        asset_id: first_id,
        asset: AssetWrite::Keep,
        extension: ExtensionWrite::default(),
        mapping: moved.clone(),
    };
    fx.apply(&[replace]).await?;
    ensure_eq!(
        fx.mapping("dev-1").await?,
        moved,
        "a mapping replaced by its own id"
    );
    Ok(())
}

/// An `Update` whose `expected_updated_at` is stale (the host edited the asset since) fails
/// with `Conflict` and writes nothing; with the current value it succeeds.
pub async fn apply_rejects_stale_update(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let asset_id = fx.create(0, workstation("dev-1", "org-1")).await?;
    let read = fx.asset(asset_id).await?;
    let edit = HostAssetUpdate {
        name: Some("Host name".into()),
        ..Default::default()
    };
    fx.store
        .update_asset(fx.tenant, asset_id, &edit, fx.at(1))
        .await
        .or_fail("update_asset")?;
    let edited = fx.asset(asset_id).await?;
    ensure_eq!(edited.updated_at, fx.at(1), "update_asset sets updated_at");

    let stale = engine_update(&fx, &read, "Engine name", read.updated_at).await?;
    expect_kind(
        fx.store.apply(fx.tenant, &[stale]).await,
        ErrorKind::Conflict,
        "an update with a stale expected_updated_at",
    )?;
    ensure_eq!(
        fx.asset(asset_id).await?,
        edited,
        "the asset after a rejected stale update"
    );

    let fresh = engine_update(&fx, &edited, "Engine name", edited.updated_at).await?;
    fx.apply(&[fresh]).await?;
    let a = fx.asset(asset_id).await?;
    ensure_eq!(
        a.name,
        "Engine name",
        "name after an update with the current updated_at"
    );
    ensure_eq!(a.updated_at, fx.at(2), "updated_at is the written value");
    Ok(())
}

/// An engine-style update of `current` (renamed, stamped `t0 + 2 min`) guarded by `expected`.
async fn engine_update(
    fx: &Fixture,
    current: &AssetRecord,
    name: &str,
    expected: chrono::DateTime<chrono::Utc>,
) -> Result<DeviceWrite, String> {
    let device = current.rmm_device_id.clone().or_fail("rmm_device_id")?;
    let mut next = current.clone();
    next.name = name.into();
    next.updated_at = fx.at(2);
    next.extension = None;
    Ok(DeviceWrite {
        external_id: device.as_str().into(),
        asset_id: current.asset_id,
        asset: AssetWrite::Update {
            asset: next,
            expected_updated_at: expected,
        },
        extension: ExtensionWrite::default(),
        mapping: fx.mapping(&device).await?,
    })
}

/// A batch with one bad write (a duplicate mapping, or a stale update) is rejected whole:
/// none of its other writes — inserts, updates, extension rows — is visible afterwards.
pub async fn apply_is_atomic(store: &Arc<dyn AssetStore>) -> ScenarioResult {
    let fx = Fixture::new(store).await?;
    fx.mapped_scope("org-1").await?;
    let x = fx.create(0, workstation("dev-x", "org-1")).await?;
    let y = fx.create(0, workstation("dev-y", "org-1")).await?;
    let x_before = fx.asset(x).await?;
    let y_before = fx.asset(y).await?;

    let client = ClientId::new_random();
    let fresh = blank_asset(client, DeviceKind::Workstation, "fresh", fx.at(1));
    let fresh_id = fresh.asset_id;
    let mut good_insert = fx.insert_write(fresh, "new-1", "org-1");
    good_insert.extension.upsert = Some((ExtensionKind::Workstation, ExtensionRow::default()));
    let good_update = engine_update(
        &fx,
        &x_before,
        "renamed in a failed batch",
        x_before.updated_at,
    )
    .await?;
    let duplicate = fx.insert_write(
        blank_asset(client, DeviceKind::Unknown, "dup", fx.at(1)),
        "dev-y",
        "org-1",
    );
    let batch = [good_insert.clone(), good_update.clone(), duplicate];
    expect_kind(
        fx.store.apply(fx.tenant, &batch).await,
        ErrorKind::Conflict,
        "a batch with a duplicate mapping",
    )?;
    check_untouched(&fx, fresh_id, x, &x_before).await?;

    let stale = engine_update(&fx, &y_before, "stale", fx.at(-100)).await?;
    let batch = [good_insert, good_update, stale];
    expect_kind(
        fx.store.apply(fx.tenant, &batch).await,
        ErrorKind::Conflict,
        "a batch with a stale update",
    )?;
    check_untouched(&fx, fresh_id, x, &x_before).await?;
    ensure_eq!(
        fx.asset(y).await?,
        y_before,
        "dev-y after the failed batches"
    );
    Ok(())
}

async fn check_untouched(
    fx: &Fixture,
    fresh: AssetId,
    x: AssetId,
    x_before: &AssetRecord,
) -> ScenarioResult {
    let got = fx
        .store
        .get_asset(fx.tenant, fresh)
        .await
        .or_fail("get_asset")?;
    ensure!(got.is_none(), "a failed batch inserted an asset");
    let rows = fx
        .store
        .extension_rows(fx.tenant, fresh)
        .await
        .or_fail("extension_rows")?;
    ensure!(rows.is_empty(), "a failed batch inserted an extension row");
    ensure!(
        fx.maybe_mapping("new-1").await?.is_none(),
        "a failed batch inserted a mapping"
    );
    ensure_eq!(
        &fx.asset(x).await?,
        x_before,
        "an update of a failed batch is visible"
    );
    Ok(())
}
