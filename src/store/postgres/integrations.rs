//! `rmm_integrations`: integrations, run state, settings and the run lease.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::PgPool;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use uuid::Uuid;

use super::errors::ctx;
use super::rows::{Cols, json_object};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{IntegrationId, TenantId};
use crate::store::{
    IntegrationRecord, IntegrationSpec, LeaseInfo, LeaseRequest, SyncStateUpdate, SyncStatus,
    merge_settings,
};

const INTEGRATION_COLUMNS: &str = "integration_id, provider, instance_url, is_active, \
    connected_at, last_sync_at, last_full_sync_at, last_incremental_sync_at, sync_status, \
    sync_error, settings, rmm_sync_cursor, lease_holder, lease_expires_at, created_at, updated_at";

fn not_found(integration: IntegrationId) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("integration {integration} does not exist"),
    )
}

fn decode(row: &PgRow) -> Result<IntegrationRecord> {
    let mut c = Cols::new(row, 0);
    let integration_id: Uuid = c.next()?;
    let provider: String = c.next()?;
    Ok(IntegrationRecord {
        integration_id: IntegrationId::from_uuid(integration_id),
        provider: provider.parse().map_err(|_| {
            Error::new(
                ErrorKind::Decode,
                format!("integration {integration_id} has provider {provider:?}, not a slug"),
            )
        })?,
        instance_url: c.next()?,
        is_active: c.next()?,
        connected_at: c.next()?,
        last_sync_at: c.next()?,
        last_full_sync_at: c.next()?,
        last_incremental_sync_at: c.next()?,
        sync_status: SyncStatus::parse_lenient(c.next::<Option<&str>>()?.unwrap_or("")),
        sync_error: c.next()?,
        settings: json_object(c.next()?),
        cursor: c.next()?,
        lease: lease(c.next()?, c.next()?),
        created_at: c.next()?,
        updated_at: c.next()?,
    })
}

/// The lease columns as a [`LeaseInfo`] (both set, or no lease).
fn lease(holder: Option<String>, expires_at: Option<DateTime<Utc>>) -> Option<LeaseInfo> {
    Some(LeaseInfo {
        holder: holder?,
        expires_at: expires_at?,
    })
}

pub(super) async fn upsert(
    pool: &PgPool,
    tenant: TenantId,
    spec: &IntegrationSpec,
) -> Result<IntegrationRecord> {
    let now = crate::ingest::now_micros();
    let mut tx = pool.begin().await.map_err(ctx("upsert_integration"))?;
    // Lock the row (if any) so concurrent settings merges do not lose each other's keys.
    let current: Option<Option<Json<Value>>> = sqlx::query_scalar(
        "SELECT settings FROM rmm_integrations WHERE tenant = $1 AND integration_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_uuid())
    .bind(spec.integration_id.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(ctx("upsert_integration"))?;
    let mut settings = json_object(current.flatten());
    merge_settings(&mut settings, &spec.settings);
    let row = sqlx::query(&format!(
        "INSERT INTO rmm_integrations (tenant, integration_id, provider, instance_url, is_active,
             sync_status, settings, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'pending', $6, $7, $7)
         ON CONFLICT (tenant, integration_id) DO UPDATE SET provider = EXCLUDED.provider,
             instance_url = EXCLUDED.instance_url, is_active = EXCLUDED.is_active,
             settings = EXCLUDED.settings, updated_at = EXCLUDED.updated_at
         RETURNING {INTEGRATION_COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(spec.integration_id.as_uuid())
    .bind(spec.provider.as_str())
    .bind(spec.instance_url.as_deref())
    .bind(spec.is_active)
    .bind(Json(&settings))
    .bind(now)
    .fetch_one(&mut *tx)
    .await
    .map_err(ctx("upsert_integration"))?;
    let record = decode(&row)?;
    tx.commit().await.map_err(ctx("upsert_integration"))?;
    Ok(record)
}

pub(super) async fn get(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<Option<IntegrationRecord>> {
    sqlx::query(&format!(
        "SELECT {INTEGRATION_COLUMNS} FROM rmm_integrations WHERE tenant = $1 AND integration_id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .fetch_optional(pool)
    .await
    .map_err(ctx("get_integration"))?
    .as_ref()
    .map(decode)
    .transpose()
}

pub(super) async fn list(pool: &PgPool, tenant: TenantId) -> Result<Vec<IntegrationRecord>> {
    sqlx::query(&format!(
        "SELECT {INTEGRATION_COLUMNS} FROM rmm_integrations WHERE tenant = $1 ORDER BY integration_id"
    ))
    .bind(tenant.as_uuid())
    .fetch_all(pool)
    .await
    .map_err(ctx("list_integrations"))?
    .iter()
    .map(decode)
    .collect()
}

pub(super) async fn update_sync_state(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    u: &SyncStateUpdate,
) -> Result<()> {
    let done = sqlx::query(
        "UPDATE rmm_integrations SET
            sync_status = COALESCE($3, sync_status),
            sync_error = CASE WHEN $4 THEN $5 ELSE sync_error END,
            connected_at = COALESCE($6, connected_at),
            last_sync_at = COALESCE($7, last_sync_at),
            last_full_sync_at = COALESCE($8, last_full_sync_at),
            last_incremental_sync_at = COALESCE($9, last_incremental_sync_at),
            rmm_sync_cursor = CASE WHEN $10 THEN $11 ELSE rmm_sync_cursor END,
            updated_at = $12
         WHERE tenant = $1 AND integration_id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(u.sync_status.map(|s| s.as_str()))
    .bind(u.sync_error.is_some())
    .bind(u.sync_error.clone().flatten())
    .bind(u.connected_at)
    .bind(u.last_sync_at)
    .bind(u.last_full_sync_at)
    .bind(u.last_incremental_sync_at)
    .bind(u.cursor.is_some())
    .bind(u.cursor.clone().flatten())
    .bind(crate::ingest::now_micros())
    .execute(pool)
    .await
    .map_err(ctx("update_sync_state"))?
    .rows_affected();
    if done == 0 {
        return Err(not_found(integration));
    }
    Ok(())
}

pub(super) async fn merge(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    let mut tx = pool.begin().await.map_err(ctx("merge_settings"))?;
    let current: Option<Option<Json<Value>>> = sqlx::query_scalar(
        "SELECT settings FROM rmm_integrations WHERE tenant = $1 AND integration_id = $2 FOR UPDATE",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(ctx("merge_settings"))?;
    let Some(current) = current else {
        return Err(not_found(integration));
    };
    let mut settings = json_object(current);
    merge_settings(&mut settings, patch);
    sqlx::query(
        "UPDATE rmm_integrations SET settings = $3, updated_at = $4
         WHERE tenant = $1 AND integration_id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(Json(&settings))
    .bind(crate::ingest::now_micros())
    .execute(&mut *tx)
    .await
    .map_err(ctx("merge_settings"))?;
    tx.commit().await.map_err(ctx("merge_settings"))?;
    Ok(settings)
}

/// One conditional UPDATE: the row lock makes two racing acquirers serialize, and only one of
/// them sees the lease free.
pub(super) async fn try_acquire_lease(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    req: &LeaseRequest,
) -> Result<bool> {
    let granted = sqlx::query(
        "UPDATE rmm_integrations SET lease_holder = $3, lease_expires_at = $4
         WHERE tenant = $1 AND integration_id = $2
           AND (lease_holder IS NULL OR lease_holder = $3 OR lease_expires_at IS NULL
                OR lease_expires_at <= $5)",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(&req.holder)
    .bind(req.expires_at)
    .bind(req.now)
    .execute(pool)
    .await
    .map_err(ctx("try_acquire_lease"))?
    .rows_affected();
    if granted == 1 {
        return Ok(true);
    }
    // Tell "held by someone else" from "no such integration".
    let exists: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM rmm_integrations WHERE tenant = $1 AND integration_id = $2",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .fetch_optional(pool)
    .await
    .map_err(ctx("try_acquire_lease"))?;
    match exists {
        Some(_) => Ok(false),
        None => Err(not_found(integration)),
    }
}

pub(super) async fn release_lease(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    holder: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE rmm_integrations SET lease_holder = NULL, lease_expires_at = NULL
         WHERE tenant = $1 AND integration_id = $2 AND lease_holder = $3",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(holder)
    .execute(pool)
    .await
    .map_err(ctx("release_lease"))?;
    Ok(())
}
