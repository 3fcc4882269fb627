//! Per-device bookkeeping (failed and suppressed devices) and run history.

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::bulk::{Val, execute_rows};
use super::codec::{id, json, json_array, parse_json, parse_ts, ts};
use super::errors::SqlResultExt;
use super::rows::get;
use crate::error::Result;
use crate::model::{ExternalDeviceId, IntegrationId, TenantId};
use crate::store::FailedDevice;
use crate::sync::RunReport;

pub(super) async fn update_failed_devices(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    failed: &[(ExternalDeviceId, String)],
    succeeded: &[ExternalDeviceId],
    now: DateTime<Utc>,
) -> Result<()> {
    const OP: &str = "update_failed_devices";
    if failed.is_empty() && succeeded.is_empty() {
        return Ok(());
    }
    let tenant = id(tenant.as_uuid());
    let integration = id(integration.as_uuid());
    let now = ts(now);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    if !succeeded.is_empty() {
        sqlx::query(
            "DELETE FROM rmm_sync_failed_devices WHERE tenant = ?1 AND integration_id = ?2 \
             AND external_entity_id IN (SELECT value FROM json_each(?3))",
        )
        .bind(&tenant)
        .bind(&integration)
        .bind(json_array(succeeded.iter().map(ExternalDeviceId::as_str))?)
        .execute(&mut *tx)
        .await
        .during(OP)?;
    }
    let rows: Vec<Vec<Val>> = failed
        .iter()
        .map(|(device, error)| {
            vec![
                tenant.as_str().into(),
                integration.as_str().into(),
                device.as_str().into(),
                error.clone().into(),
                Val::Int(Some(1)),
                now.as_str().into(),
            ]
        })
        .collect();
    execute_rows(
        &mut tx,
        OP,
        "INSERT INTO rmm_sync_failed_devices (tenant, integration_id, external_entity_id, error, \
         attempts, failed_at) ",
        rows,
        " ON CONFLICT (tenant, integration_id, external_entity_id) DO UPDATE SET \
         error = excluded.error, attempts = attempts + 1, failed_at = excluded.failed_at",
    )
    .await?;
    tx.commit().await.during(OP)
}

pub(super) async fn failed_devices(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<Vec<FailedDevice>> {
    let rows = sqlx::query(
        "SELECT external_entity_id, error, attempts, failed_at FROM rmm_sync_failed_devices \
         WHERE tenant = ?1 AND integration_id = ?2 ORDER BY external_entity_id",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration.as_uuid()))
    .fetch_all(pool)
    .await
    .during("failed_devices")?;
    rows.iter()
        .map(|r| {
            Ok(FailedDevice {
                external_id: ExternalDeviceId::new(get::<String>(r, "external_entity_id")?),
                error: get(r, "error")?,
                attempts: u32::try_from(get::<i64>(r, "attempts")?).unwrap_or(u32::MAX),
                failed_at: parse_ts("failed_at", &get::<String>(r, "failed_at")?)?,
            })
        })
        .collect()
}

pub(super) async fn set_suppressed(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    device: &ExternalDeviceId,
    suppressed: bool,
) -> Result<()> {
    let tenant = id(tenant.as_uuid());
    let integration = id(integration.as_uuid());
    let query = if suppressed {
        sqlx::query(
            "INSERT OR IGNORE INTO rmm_sync_suppressed_devices \
             (tenant, integration_id, external_entity_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(tenant)
        .bind(integration)
        .bind(device.as_str())
        .bind(ts(crate::ingest::now_micros()))
    } else {
        sqlx::query(
            "DELETE FROM rmm_sync_suppressed_devices \
             WHERE tenant = ?1 AND integration_id = ?2 AND external_entity_id = ?3",
        )
        .bind(tenant)
        .bind(integration)
        .bind(device.as_str())
    };
    query.execute(pool).await.during("set_suppressed")?;
    Ok(())
}

pub(super) async fn record_run(
    pool: &SqlitePool,
    tenant: TenantId,
    report: &RunReport,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rmm_sync_runs (tenant, run_id, integration_id, started_at, report, \
           recorded_seq) \
         VALUES (?1, ?2, ?3, ?4, ?5, (SELECT COALESCE(MAX(recorded_seq), 0) + 1 FROM rmm_sync_runs)) \
         ON CONFLICT (tenant, run_id) DO UPDATE SET integration_id = excluded.integration_id, \
           started_at = excluded.started_at, report = excluded.report, \
           recorded_seq = excluded.recorded_seq",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(report.run_id.as_uuid()))
    .bind(id(report.integration.as_uuid()))
    .bind(ts(report.started_at))
    .bind(json(report)?)
    .execute(pool)
    .await
    .during("record_run")?;
    Ok(())
}

pub(super) async fn recent_runs(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    limit: usize,
) -> Result<Vec<RunReport>> {
    let rows = sqlx::query(
        "SELECT report FROM rmm_sync_runs WHERE tenant = ?1 AND integration_id = ?2 \
         ORDER BY recorded_seq DESC LIMIT ?3",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration.as_uuid()))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .during("recent_runs")?;
    rows.iter()
        .map(|r| parse_json("report", &get::<String>(r, "report")?))
        .collect()
}
