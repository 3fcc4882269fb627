//! Per-device bookkeeping outside the batch path: sweep candidates, agent-status
//! re-evaluation, failed and suppressed devices, reads and host edits, run history.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;

use super::errors::ctx;
use super::identifiers::{self, IdentifierColumns};
use super::rows::{
    self, ASSET_COLUMNS, ASSET_FROM, Cols, EXTENSION_SELECT, LIVE_MAPPING, MAPPING_COLUMNS,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IdentityHints, IntegrationId, TenantId,
};
use crate::store::{AssetFilter, AssetRecord, FailedDevice, HostAssetUpdate, MappingRecord};
use crate::sync::RunReport;

static SELECT_ASSETS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {ASSET_COLUMNS}, {} FROM {ASSET_FROM}",
        EXTENSION_SELECT.as_str()
    )
});

pub(super) async fn live_device_ids(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    scope: &ExternalScopeId,
) -> Result<Vec<ExternalDeviceId>> {
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT m.external_entity_id FROM tenant_external_entity_mappings m
         WHERE m.tenant = $1 AND m.integration_id = $2 AND m.alga_entity_type = 'asset'
           AND m.external_realm_id = $3 AND {LIVE_MAPPING}
         ORDER BY m.external_entity_id COLLATE \"C\""
    ))
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(scope.as_str())
    .fetch_all(pool)
    .await
    .map_err(ctx("live_device_ids"))?;
    Ok(ids.into_iter().map(ExternalDeviceId::new).collect())
}

/// One set-based UPDATE. Age thresholds become instants: online when seen at or after
/// `now - online_within` (a future last-seen counts as just seen), overdue when seen at or
/// before `now - overdue_after`, offline otherwise. Only moves to a staler status.
pub(super) async fn reevaluate_agent_status(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    t: &AgentStatusThresholds,
    now: DateTime<Utc>,
) -> Result<u64> {
    let before = |d: std::time::Duration| {
        chrono::Duration::from_std(d)
            .ok()
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    };
    let online_since = before(t.online_within);
    let overdue_before = t.overdue_after.map(before);
    let rank = |col: &str| {
        format!(
            "CASE {col} WHEN 'online' THEN 1 WHEN 'offline' THEN 2 WHEN 'overdue' THEN 3 ELSE 0 END"
        )
    };
    let derived = "CASE WHEN a.last_seen_at >= $3 THEN 'online'
                        WHEN $4::timestamptz IS NOT NULL AND a.last_seen_at <= $4 THEN 'overdue'
                        ELSE 'offline' END";
    let sql = format!(
        "UPDATE assets a SET agent_status = {derived}, updated_at = $5
         WHERE a.tenant = $1 AND a.last_seen_at IS NOT NULL
           AND a.asset_id IN (
               SELECT m.alga_entity_id::uuid FROM tenant_external_entity_mappings m
               WHERE m.tenant = $1 AND m.integration_id = $2 AND m.alga_entity_type = 'asset'
                 AND {LIVE_MAPPING})
           AND {} > {}",
        rank(&format!("({derived})")),
        rank("COALESCE(a.agent_status, 'unknown')"),
    );
    Ok(sqlx::query(&sql)
        .bind(tenant.as_uuid())
        .bind(integration.as_uuid())
        .bind(online_since)
        .bind(overdue_before)
        .bind(now)
        .execute(pool)
        .await
        .map_err(ctx("reevaluate_agent_status"))?
        .rows_affected())
}

pub(super) async fn update_failed_devices(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    failed: &[(ExternalDeviceId, String)],
    succeeded: &[ExternalDeviceId],
    now: DateTime<Utc>,
) -> Result<()> {
    // A device failing twice in one call counts twice; its last error is kept.
    let mut grouped: BTreeMap<&str, (i32, &str)> = BTreeMap::new();
    for (id, error) in failed {
        let e = grouped.entry(id.as_str()).or_insert((0, error.as_str()));
        e.0 += 1;
        e.1 = error;
    }
    let mut tx = pool.begin().await.map_err(ctx("update_failed_devices"))?;
    if !succeeded.is_empty() {
        let ids: Vec<&str> = succeeded.iter().map(|d| d.as_str()).collect();
        sqlx::query(
            "DELETE FROM rmm_sync_failed_devices
             WHERE tenant = $1 AND integration_id = $2 AND external_entity_id = ANY($3)",
        )
        .bind(tenant.as_uuid())
        .bind(integration.as_uuid())
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .map_err(ctx("update_failed_devices"))?;
    }
    if !grouped.is_empty() {
        let ids: Vec<&str> = grouped.keys().copied().collect();
        let counts: Vec<i32> = grouped.values().map(|v| v.0).collect();
        let errors: Vec<&str> = grouped.values().map(|v| v.1).collect();
        sqlx::query(
            "INSERT INTO rmm_sync_failed_devices AS f
                 (tenant, integration_id, external_entity_id, error, attempts, failed_at)
             SELECT $1, $2, u.id, u.error, u.n, $6
             FROM UNNEST($3::text[], $4::text[], $5::int[]) AS u(id, error, n)
             ON CONFLICT (tenant, integration_id, external_entity_id) DO UPDATE SET
                 error = EXCLUDED.error, attempts = f.attempts + EXCLUDED.attempts,
                 failed_at = EXCLUDED.failed_at",
        )
        .bind(tenant.as_uuid())
        .bind(integration.as_uuid())
        .bind(&ids)
        .bind(&errors)
        .bind(&counts)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(ctx("update_failed_devices"))?;
    }
    tx.commit().await.map_err(ctx("update_failed_devices"))
}

pub(super) async fn failed_devices(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<Vec<FailedDevice>> {
    let rows: Vec<(String, String, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT external_entity_id, error, attempts, failed_at FROM rmm_sync_failed_devices
         WHERE tenant = $1 AND integration_id = $2 ORDER BY external_entity_id COLLATE \"C\"",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .fetch_all(pool)
    .await
    .map_err(ctx("failed_devices"))?;
    Ok(rows
        .into_iter()
        .map(|(id, error, attempts, failed_at)| FailedDevice {
            external_id: ExternalDeviceId::new(id),
            error,
            attempts: attempts.max(0) as u32,
            failed_at,
        })
        .collect())
}

pub(super) async fn set_suppressed(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    device: &ExternalDeviceId,
    suppressed: bool,
) -> Result<()> {
    let sql = if suppressed {
        "INSERT INTO rmm_sync_suppressed_devices (tenant, integration_id, external_entity_id)
         VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM rmm_sync_suppressed_devices
         WHERE tenant = $1 AND integration_id = $2 AND external_entity_id = $3"
    };
    sqlx::query(sql)
        .bind(tenant.as_uuid())
        .bind(integration.as_uuid())
        .bind(device.as_str())
        .execute(pool)
        .await
        .map_err(ctx("set_suppressed"))?;
    Ok(())
}

pub(super) async fn get_asset(
    pool: &PgPool,
    tenant: TenantId,
    asset: AssetId,
) -> Result<Option<AssetRecord>> {
    let row = sqlx::query(&format!(
        "{} WHERE a.tenant = $1 AND a.asset_id = $2",
        SELECT_ASSETS.as_str()
    ))
    .bind(tenant.as_uuid())
    .bind(asset.as_uuid())
    .fetch_optional(pool)
    .await
    .map_err(ctx("get_asset"))?;
    row.map(|r| rows::asset(&mut Cols::new(&r, 0))).transpose()
}

pub(super) async fn list_assets(
    pool: &PgPool,
    tenant: TenantId,
    filter: &AssetFilter,
) -> Result<Vec<AssetRecord>> {
    let rows = sqlx::query(&format!(
        "{} WHERE a.tenant = $1
           AND ($2::uuid IS NULL OR a.asset_id IN (
               SELECT m.alga_entity_id::uuid FROM tenant_external_entity_mappings m
               WHERE m.tenant = $1 AND m.integration_id = $2 AND m.alga_entity_type = 'asset'))
         ORDER BY a.asset_id LIMIT $3",
        SELECT_ASSETS.as_str()
    ))
    .bind(tenant.as_uuid())
    .bind(filter.integration_id.map(|i| *i.as_uuid()))
    .bind(filter.limit.map(|l| l.min(i64::MAX as usize) as i64))
    .fetch_all(pool)
    .await
    .map_err(ctx("list_assets"))?;
    rows.iter()
        .map(|r| rows::asset(&mut Cols::new(r, 0)))
        .collect()
}

pub(super) async fn extension_rows(
    pool: &PgPool,
    tenant: TenantId,
    asset: AssetId,
) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
    let cols = rows::EXTENSION_COLUMNS.join(", ");
    let sql = format!(
        "SELECT 'w', true, {cols} FROM workstation_assets WHERE tenant = $1 AND asset_id = $2
         UNION ALL
         SELECT 's', true, {cols} FROM server_assets WHERE tenant = $1 AND asset_id = $2"
    );
    let rows = sqlx::query(&sql)
        .bind(tenant.as_uuid())
        .bind(asset.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(ctx("extension_rows"))?;
    let mut out = Vec::new();
    for r in &rows {
        let kind = match Cols::new(r, 0).next::<&str>()? {
            "w" => ExtensionKind::Workstation,
            _ => ExtensionKind::Server,
        };
        if let Some(row) = rows::extension(&mut Cols::new(r, 1))? {
            out.push((kind, row));
        }
    }
    out.sort_by_key(|(k, _)| matches!(k, ExtensionKind::Server));
    Ok(out)
}

pub(super) async fn get_mapping(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    device: &ExternalDeviceId,
) -> Result<Option<MappingRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {MAPPING_COLUMNS} FROM tenant_external_entity_mappings m
         WHERE m.tenant = $1 AND m.integration_id = $2 AND m.alga_entity_type = 'asset'
           AND m.external_entity_id = $3"
    ))
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(device.as_str())
    .fetch_optional(pool)
    .await
    .map_err(ctx("get_mapping"))?;
    row.map(|r| rows::mapping(&mut Cols::new(&r, 0)))
        .transpose()
}

pub(super) async fn update_asset(
    pool: &PgPool,
    tenant: TenantId,
    asset: AssetId,
    u: &HostAssetUpdate,
    now: DateTime<Utc>,
) -> Result<()> {
    let mut tx = pool.begin().await.map_err(ctx("update_asset"))?;
    let maintained = identifiers::maintained(&mut tx, *tenant.as_uuid()).await?;
    let updated: Option<(Option<Json<IdentityHints>>, Option<String>)> = sqlx::query_as(
        "UPDATE assets SET
             name = COALESCE($3, name),
             status = COALESCE($4, status),
             location = CASE WHEN $5 THEN $6 ELSE location END,
             serial_number = CASE WHEN $7 THEN $8 ELSE serial_number END,
             client_id = COALESCE($9, client_id),
             updated_at = $10
         WHERE tenant = $1 AND asset_id = $2
         RETURNING rmm_identity, serial_number",
    )
    .bind(tenant.as_uuid())
    .bind(asset.as_uuid())
    .bind(u.name.as_deref())
    .bind(u.status.as_deref())
    .bind(u.location.is_some())
    .bind(u.location.clone().flatten())
    .bind(u.serial_number.is_some())
    .bind(u.serial_number.clone().flatten())
    .bind(u.client_id.map(|c| *c.as_uuid()))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await
    .map_err(ctx("update_asset"))?;
    let Some((identity, serial)) = updated else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("asset {asset} does not exist"),
        ));
    };
    if u.serial_number.is_some() && maintained {
        // The serial is an identifier: keep the lookup table in step (in tenants whose
        // identifiers are maintained; see `super::identifiers`).
        let mut record_like = IdentifierColumns::default();
        record_like.push_keys(
            *asset.as_uuid(),
            &identity.map(|j| j.0).unwrap_or_default(),
            serial.as_deref(),
        );
        identifiers::replace(
            &mut tx,
            *tenant.as_uuid(),
            &[*asset.as_uuid()],
            &record_like,
        )
        .await?;
    }
    tx.commit().await.map_err(ctx("update_asset"))
}

pub(super) async fn delete_asset(pool: &PgPool, tenant: TenantId, asset: AssetId) -> Result<()> {
    let mut tx = pool.begin().await.map_err(ctx("delete_asset"))?;
    // Explicit deletes: an adopted database may lack the cascading foreign keys.
    for table in [
        "workstation_assets",
        "server_assets",
        "rmm_sync_asset_identifiers",
        "assets",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant = $1 AND asset_id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(asset.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(ctx("delete_asset"))?;
    }
    tx.commit().await.map_err(ctx("delete_asset"))
}

pub(super) async fn record_run(pool: &PgPool, tenant: TenantId, report: &RunReport) -> Result<()> {
    sqlx::query(
        "INSERT INTO rmm_sync_runs (tenant, run_id, integration_id, started_at, report)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant, run_id) DO UPDATE SET report = EXCLUDED.report",
    )
    .bind(tenant.as_uuid())
    .bind(report.run_id.as_uuid())
    .bind(report.integration.as_uuid())
    .bind(report.started_at)
    .bind(Json(report))
    .execute(pool)
    .await
    .map_err(ctx("record_run"))?;
    Ok(())
}

pub(super) async fn recent_runs(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    limit: usize,
) -> Result<Vec<RunReport>> {
    let rows: Vec<Json<RunReport>> = sqlx::query_scalar(
        "SELECT report FROM rmm_sync_runs WHERE tenant = $1 AND integration_id = $2
         ORDER BY recorded_seq DESC LIMIT $3",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(pool)
    .await
    .map_err(ctx("recent_runs"))?;
    Ok(rows.into_iter().map(|j| j.0).collect())
}
