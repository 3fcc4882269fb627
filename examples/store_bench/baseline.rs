//! The row-at-a-time baseline: what the reference implementation does per device, against the
//! same schema. Each device is its own transaction of 5–9 sequential statements: exact-realm
//! mapping lookup, any-realm lookup, asset lookup, rmm-column lookup, client lookup, asset
//! insert or update, extension upsert, mapping write. It never skips an unchanged device.
//! The mapping lookups filter by `integration_id` (where the reference filters by provider) so
//! they use this schema's indexes, as the reference's use its own: a fair comparison.

use rmm_sync::model::{DeviceSnapshot, ExtensionKind, ExtensionRow, OutcomeCounts, TenantId};
use rmm_sync::store::IntegrationSpec;
use sqlx::types::Json;
use sqlx::{PgPool, Row};
use uuid::Uuid;

pub(crate) struct Baseline {
    pool: PgPool,
    tenant: Uuid,
    spec: IntegrationSpec,
    /// Assets created, and the count at which to refresh planner statistics next: the same
    /// schedule `PostgresStore` follows, so neither side runs on plans made for empty tables.
    created: std::cell::Cell<(u64, u64)>,
}

const EXTENSION_COLUMNS: &str = "os_type, os_version, agent_version, \"current_user\", \
    uptime_seconds, lan_ip, wan_ip, antivirus_status, antivirus_product, last_reboot_at, \
    pending_patches, pending_os_patches, pending_software_patches, failed_patches, \
    last_patch_scan_at, cpu_model, cpu_cores, ram_gb, disk_usage, installed_software, system_info";

impl Baseline {
    pub(crate) fn new(pool: PgPool, tenant: TenantId, spec: IntegrationSpec) -> Self {
        Self {
            pool,
            tenant: *tenant.as_uuid(),
            spec,
            created: std::cell::Cell::new((0, 2_000)),
        }
    }

    pub(crate) async fn ingest(&self, batch: &[DeviceSnapshot], counts: &mut OutcomeCounts) {
        for d in batch {
            let created = self.one(d).await.expect("baseline device");
            counts.seen += 1;
            if created {
                counts.created += 1;
                let (n, next) = self.created.get();
                let next = if n + 1 >= next {
                    sqlx::query(
                        "ANALYZE assets, tenant_external_entity_mappings, workstation_assets, \
                         server_assets",
                    )
                    .execute(&self.pool)
                    .await
                    .expect("analyze");
                    next * 2
                } else {
                    next
                };
                self.created.set((n + 1, next));
            } else {
                counts.updated += 1;
            }
        }
    }

    /// One device, one transaction. Returns whether an asset was created.
    async fn one(&self, d: &DeviceSnapshot) -> sqlx::Result<bool> {
        let t = self.tenant;
        let provider = self.spec.provider.as_str();
        let now = rmm_sync::ingest::now_micros();
        let mut tx = self.pool.begin().await?;
        // 1. mapping in the device's realm
        let mut mapping = sqlx::query(
            "SELECT id, alga_entity_id FROM tenant_external_entity_mappings
             WHERE tenant = $1 AND integration_id = $2 AND alga_entity_type = 'asset'
               AND external_entity_id = $3 AND external_realm_id = $4",
        )
        .bind(t)
        .bind(self.spec.integration_id.as_uuid())
        .bind(d.external_id.as_str())
        .bind(d.scope_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        // 2. mapping in any realm
        if mapping.is_none() {
            mapping = sqlx::query(
                "SELECT id, alga_entity_id FROM tenant_external_entity_mappings
                 WHERE tenant = $1 AND integration_id = $2 AND alga_entity_type = 'asset'
                   AND external_entity_id = $3 ORDER BY last_synced_at DESC LIMIT 1",
            )
            .bind(t)
            .bind(self.spec.integration_id.as_uuid())
            .bind(d.external_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        }
        let mapping_id: Option<Uuid> = mapping.as_ref().map(|r| r.get(0));
        // 3. the mapped asset
        let mut asset: Option<Uuid> = None;
        if let Some(r) = &mapping {
            let id: String = r.get(1);
            asset = sqlx::query_scalar(
                "SELECT asset_id FROM assets WHERE tenant = $1 AND asset_id = $2::uuid",
            )
            .bind(t)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        }
        // 4. an asset carrying the rmm columns
        if asset.is_none() {
            asset = sqlx::query_scalar(
                "SELECT asset_id FROM assets
                 WHERE tenant = $1 AND rmm_provider = $2 AND rmm_device_id = $3 LIMIT 1",
            )
            .bind(t)
            .bind(provider)
            .bind(d.external_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        }
        // 5. the scope's client
        let client: Option<Uuid> = sqlx::query_scalar(
            "SELECT client_id FROM rmm_organization_mappings
             WHERE tenant = $1 AND integration_id = $2 AND external_organization_id = $3",
        )
        .bind(t)
        .bind(self.spec.integration_id.as_uuid())
        .bind(d.scope_id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .flatten();
        let Some(client) = client else {
            tx.rollback().await?;
            return Ok(false);
        };
        // 6. asset insert or update
        let created = asset.is_none();
        let asset_id = asset.unwrap_or_else(Uuid::now_v7);
        let serial = d.serial_number.value().cloned();
        let last_seen = d.last_seen_at.value().copied();
        if created {
            sqlx::query(
                "INSERT INTO assets (tenant, asset_id, client_id, asset_type, asset_tag, name,
                     serial_number, status, rmm_provider, rmm_device_id, rmm_organization_id,
                     agent_status, last_seen_at, last_rmm_sync_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, 'online', $11, $12,
                     $12, $12)",
            )
            .bind(t)
            .bind(asset_id)
            .bind(client)
            .bind(d.kind.as_str())
            .bind(format!("{provider}:{}", d.external_id))
            .bind(&d.display_name)
            .bind(&serial)
            .bind(provider)
            .bind(d.external_id.as_str())
            .bind(d.scope_id.as_str())
            .bind(last_seen)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "UPDATE assets SET client_id = $3, asset_type = $4, name = $5, serial_number = $6,
                     rmm_organization_id = $7, last_seen_at = $8, last_rmm_sync_at = $9,
                     updated_at = $9
                 WHERE tenant = $1 AND asset_id = $2",
            )
            .bind(t)
            .bind(asset_id)
            .bind(client)
            .bind(d.kind.as_str())
            .bind(&d.display_name)
            .bind(&serial)
            .bind(d.scope_id.as_str())
            .bind(last_seen)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        // 7. extension upsert
        if let Some(kind) = d.kind.extension() {
            let table = match kind {
                ExtensionKind::Workstation => "workstation_assets",
                ExtensionKind::Server => "server_assets",
            };
            let r = d.details.apply_to(&ExtensionRow::default());
            let set = EXTENSION_COLUMNS
                .split(", ")
                .map(|c| format!("{c} = EXCLUDED.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            sqlx::query(&format!(
                "INSERT INTO {table} (tenant, asset_id, {EXTENSION_COLUMNS}) VALUES ($1, $2, $3,
                     $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
                     $20, $21, $22, $23)
                 ON CONFLICT (tenant, asset_id) DO UPDATE SET {set}"
            ))
            .bind(t)
            .bind(asset_id)
            .bind(&r.os_type)
            .bind(&r.os_version)
            .bind(&r.agent_version)
            .bind(&r.current_user)
            .bind(r.uptime_seconds)
            .bind(&r.lan_ip)
            .bind(&r.wan_ip)
            .bind(&r.antivirus_status)
            .bind(&r.antivirus_product)
            .bind(r.last_reboot_at)
            .bind(r.pending_patches)
            .bind(r.pending_os_patches)
            .bind(r.pending_software_patches)
            .bind(r.failed_patches)
            .bind(r.last_patch_scan_at)
            .bind(&r.cpu_model)
            .bind(r.cpu_cores)
            .bind(r.ram_gb)
            .bind(r.disk_usage.as_ref().map(Json))
            .bind(r.installed_software.as_ref().map(Json))
            .bind(r.system_info.as_ref().map(Json))
            .execute(&mut *tx)
            .await?;
        }
        // 8. mapping write
        match mapping_id {
            Some(id) => {
                sqlx::query(
                    "UPDATE tenant_external_entity_mappings SET external_realm_id = $3,
                         sync_status = 'synced', last_synced_at = $4, updated_at = $4
                     WHERE tenant = $1 AND id = $2",
                )
                .bind(t)
                .bind(id)
                .bind(d.scope_id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            None => {
                sqlx::query(
                    "INSERT INTO tenant_external_entity_mappings (tenant, id, integration_type,
                         alga_entity_type, alga_entity_id, external_entity_id, external_realm_id,
                         sync_status, last_synced_at, created_at, updated_at, integration_id)
                     VALUES ($1, $2, $3, 'asset', $4, $5, $6, 'synced', $7, $7, $7, $8)",
                )
                .bind(t)
                .bind(Uuid::now_v7())
                .bind(provider)
                .bind(asset_id.to_string())
                .bind(d.external_id.as_str())
                .bind(d.scope_id.as_str())
                .bind(now)
                .bind(self.spec.integration_id.as_uuid())
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(created)
    }
}
