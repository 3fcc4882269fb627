//! The reference implementation's ingestion, reproduced for comparison: one device per call,
//! each in its own transaction, with the same 5–9 sequential queries (reference §2.2–2.4):
//! exact-realm mapping, any-realm mapping, asset by mapping, asset by rmm columns, asset-scoped
//! mapping, scope client, then asset update/insert, extension upsert and mapping write. No
//! diffing: every device is rewritten on every run.

use rmm_sync::model::{DeviceSnapshot, ExtensionRow, OutcomeCounts, ProviderId};
use sqlx::{Row, SqliteConnection, SqlitePool};

use super::{integration, tenant};

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn to_json<T: serde::Serialize>(v: Option<T>) -> Option<String> {
    v.map(|v| serde_json::to_string(&v).expect("JSON values serialize"))
}

const EXTENSION_COLUMNS: &str = "os_type, os_version, agent_version, \"current_user\", \
     uptime_seconds, lan_ip, wan_ip, antivirus_status, antivirus_product, last_reboot_at, \
     pending_patches, pending_os_patches, pending_software_patches, failed_patches, \
     last_patch_scan_at, cpu_model, cpu_cores, ram_gb, disk_usage, installed_software, \
     system_info";

/// The reference schema's lookup index for its by-provider mapping queries (rmm-sync itself
/// looks mappings up by integration and does not need it); created so the baseline runs at
/// the speed it has on its own schema.
pub(crate) const REFERENCE_INDEX: &str = "CREATE INDEX IF NOT EXISTS \
     idx_tenant_integration_external \
     ON tenant_external_entity_mappings (tenant, integration_type, external_entity_id)";

pub(crate) async fn run(
    pool: &SqlitePool,
    devices: u64,
    device: impl Fn(u64) -> DeviceSnapshot,
) -> OutcomeCounts {
    let mut counts = OutcomeCounts::default();
    for i in 0..devices {
        let d = device(i);
        let mut tx = pool.begin().await.unwrap();
        let created = ingest_one(&mut tx, &d).await;
        tx.commit().await.unwrap();
        counts.seen += 1;
        match created {
            Some(true) => counts.created += 1,
            Some(false) => counts.updated += 1,
            None => counts.skipped += 1,
        }
    }
    counts
}

/// `Some(true)` created, `Some(false)` updated, `None` skipped (no client).
async fn ingest_one(conn: &mut SqliteConnection, d: &DeviceSnapshot) -> Option<bool> {
    let tenant = tenant().to_string();
    let provider = ProviderId::TANIUM.as_str();
    let now = ts(rmm_sync::ingest::now_micros());
    // 1-2. mapping in the exact realm, else in any realm
    let mut mapping = sqlx::query(
        "SELECT id, alga_entity_id FROM tenant_external_entity_mappings WHERE tenant = ?1 \
         AND integration_type = ?2 AND alga_entity_type = 'asset' AND external_entity_id = ?3 \
         AND external_realm_id = ?4 LIMIT 1",
    )
    .bind(&tenant)
    .bind(provider)
    .bind(d.external_id.as_str())
    .bind(d.scope_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .unwrap();
    if mapping.is_none() {
        mapping = sqlx::query(
            "SELECT id, alga_entity_id FROM tenant_external_entity_mappings WHERE tenant = ?1 \
             AND integration_type = ?2 AND alga_entity_type = 'asset' \
             AND external_entity_id = ?3 LIMIT 1",
        )
        .bind(&tenant)
        .bind(provider)
        .bind(d.external_id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .unwrap();
    }
    let mut mapping_id: Option<String> = mapping.as_ref().map(|m| m.get("id"));
    // 3. the mapped asset
    let mut asset: Option<String> = None;
    if let Some(m) = &mapping {
        let id: String = m.get("alga_entity_id");
        asset = sqlx::query(
            "SELECT asset_id, asset_type, client_id FROM assets WHERE tenant = ?1 AND asset_id = ?2",
        )
        .bind(&tenant)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await
        .unwrap()
        .map(|r| r.get("asset_id"));
    }
    // 4. adoption by rmm columns
    if asset.is_none() {
        asset = sqlx::query(
            "SELECT asset_id, asset_type, client_id FROM assets WHERE tenant = ?1 \
             AND rmm_provider = ?2 AND rmm_device_id = ?3 LIMIT 1",
        )
        .bind(&tenant)
        .bind(provider)
        .bind(d.external_id.as_str())
        .fetch_optional(&mut *conn)
        .await
        .unwrap()
        .map(|r| r.get("asset_id"));
        // 5. an asset-scoped mapping
        if let (None, Some(a)) = (&mapping_id, &asset) {
            mapping_id = sqlx::query(
                "SELECT id FROM tenant_external_entity_mappings WHERE tenant = ?1 \
                 AND integration_type = ?2 AND alga_entity_type = 'asset' \
                 AND alga_entity_id = ?3 LIMIT 1",
            )
            .bind(&tenant)
            .bind(provider)
            .bind(a)
            .fetch_optional(&mut *conn)
            .await
            .unwrap()
            .map(|r| r.get("id"));
        }
    }
    // 6. the scope's client
    let client: Option<String> = sqlx::query(
        "SELECT client_id FROM rmm_organization_mappings WHERE tenant = ?1 \
         AND integration_id = ?2 AND external_organization_id = ?3",
    )
    .bind(&tenant)
    .bind(integration().to_string())
    .bind(d.scope_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .unwrap()
    .and_then(|r| r.get("client_id"));

    let status = if d.lifecycle == rmm_sync::model::Lifecycle::Offline {
        "inactive"
    } else {
        "active"
    };
    let serial = d.serial_number.value().cloned().unwrap_or_default();
    let last_seen = d.last_seen_at.value().copied().map(ts);
    // 7. asset update or insert
    let created = match &asset {
        Some(a) => {
            sqlx::query(
                "UPDATE assets SET asset_type = ?3, name = ?4, serial_number = ?5, status = ?6, \
                 location = '', rmm_provider = ?7, rmm_device_id = ?8, rmm_organization_id = ?9, \
                 agent_status = 'online', last_seen_at = ?10, last_rmm_sync_at = ?11, \
                 client_id = COALESCE(?12, client_id) WHERE tenant = ?1 AND asset_id = ?2",
            )
            .bind(&tenant)
            .bind(a)
            .bind(d.kind.as_str())
            .bind(&d.display_name)
            .bind(&serial)
            .bind(status)
            .bind(provider)
            .bind(d.external_id.as_str())
            .bind(d.scope_id.as_str())
            .bind(&last_seen)
            .bind(&now)
            .bind(&client)
            .execute(&mut *conn)
            .await
            .unwrap();
            false
        }
        None => {
            let client = client.as_ref()?;
            let id = uuid::Uuid::new_v4().to_string();
            sqlx::query(
                "INSERT INTO assets (tenant, asset_id, asset_type, client_id, asset_tag, \
                 serial_number, name, status, location, rmm_provider, rmm_device_id, \
                 rmm_organization_id, agent_status, last_seen_at, last_rmm_sync_at, created_at, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '', ?9, ?10, ?11, 'online', \
                 ?12, ?13, ?13, ?13)",
            )
            .bind(&tenant)
            .bind(&id)
            .bind(d.kind.as_str())
            .bind(client)
            .bind(format!("{provider}:{}", d.external_id))
            .bind(&serial)
            .bind(&d.display_name)
            .bind(status)
            .bind(provider)
            .bind(d.external_id.as_str())
            .bind(d.scope_id.as_str())
            .bind(&last_seen)
            .bind(&now)
            .execute(&mut *conn)
            .await
            .unwrap();
            asset = Some(id);
            true
        }
    };
    let asset = asset.expect("asset found or created");
    // 8. extension upsert
    if let Some(kind) = d.kind.extension() {
        let table = match kind {
            rmm_sync::model::ExtensionKind::Workstation => "workstation_assets",
            rmm_sync::model::ExtensionKind::Server => "server_assets",
        };
        let r = d.details.apply_to(&ExtensionRow::default());
        let sets = EXTENSION_COLUMNS
            .split(", ")
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO {table} (tenant, asset_id, {EXTENSION_COLUMNS}, updated_at) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, \
             ?19, ?20, ?21, ?22, ?23, ?24) ON CONFLICT (tenant, asset_id) DO UPDATE SET {sets}"
        );
        sqlx::query(&sql)
            .bind(&tenant)
            .bind(&asset)
            .bind(r.os_type)
            .bind(r.os_version)
            .bind(r.agent_version)
            .bind(r.current_user)
            .bind(r.uptime_seconds)
            .bind(r.lan_ip)
            .bind(r.wan_ip)
            .bind(r.antivirus_status)
            .bind(r.antivirus_product)
            .bind(r.last_reboot_at.map(ts))
            .bind(r.pending_patches)
            .bind(r.pending_os_patches)
            .bind(r.pending_software_patches)
            .bind(r.failed_patches)
            .bind(r.last_patch_scan_at.map(ts))
            .bind(r.cpu_model)
            .bind(r.cpu_cores)
            .bind(r.ram_gb)
            .bind(to_json(r.disk_usage))
            .bind(to_json(r.installed_software))
            .bind(to_json(r.system_info))
            .bind(&now)
            .execute(&mut *conn)
            .await
            .unwrap();
    }
    // 9. mapping write
    let metadata = serde_json::to_string(&d.metadata.value().cloned().unwrap_or_default()).unwrap();
    match mapping_id {
        Some(id) => {
            sqlx::query(
                "UPDATE tenant_external_entity_mappings SET external_realm_id = ?3, \
                 sync_status = 'synced', last_synced_at = ?4, metadata = ?5 \
                 WHERE tenant = ?1 AND id = ?2",
            )
            .bind(&tenant)
            .bind(id)
            .bind(d.scope_id.as_str())
            .bind(&now)
            .bind(&metadata)
            .execute(&mut *conn)
            .await
            .unwrap();
        }
        None => {
            sqlx::query(
                "INSERT INTO tenant_external_entity_mappings (id, tenant, integration_type, \
                 alga_entity_type, alga_entity_id, external_entity_id, external_realm_id, \
                 sync_status, last_synced_at, metadata, created_at, updated_at, integration_id) \
                 VALUES (?1, ?2, ?3, 'asset', ?4, ?5, ?6, 'synced', ?7, ?8, ?7, ?7, ?9)",
            )
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(&tenant)
            .bind(provider)
            .bind(&asset)
            .bind(d.external_id.as_str())
            .bind(d.scope_id.as_str())
            .bind(&now)
            .bind(&metadata)
            .bind(integration().to_string())
            .execute(&mut *conn)
            .await
            .unwrap();
        }
    }
    Some(created)
}
