//! Integrations: records, run state, settings and the run lease.

use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use super::codec::{id, json, parse_json_opt, ts};
use super::errors::SqlResultExt;
use super::rows::{INTEGRATION_JSON, IntegrationJson, decode_each, get};
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::now_micros;
use crate::model::{IntegrationId, TenantId};
use crate::store::merge_settings;
use crate::store::{IntegrationRecord, IntegrationSpec, LeaseRequest, SyncStateUpdate};

type Settings = serde_json::Map<String, serde_json::Value>;

fn not_found(integration: IntegrationId) -> Error {
    Error::new(
        ErrorKind::NotFound,
        format!("integration {integration} does not exist"),
    )
}

async fn load(
    conn: &mut SqliteConnection,
    tenant: &str,
    integration_id: &str,
    op: &'static str,
) -> Result<Option<IntegrationRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {INTEGRATION_JSON} AS row FROM rmm_integrations \
         WHERE tenant = ?1 AND integration_id = ?2"
    ))
    .bind(tenant)
    .bind(integration_id)
    .fetch_all(&mut *conn)
    .await
    .during(op)?;
    Ok(decode_each(&rows, "integration", IntegrationJson::into_record)?.pop())
}

async fn load_settings(
    conn: &mut SqliteConnection,
    tenant: &str,
    integration_id: &str,
    op: &'static str,
) -> Result<Option<Settings>> {
    let row = sqlx::query(
        "SELECT settings FROM rmm_integrations WHERE tenant = ?1 AND integration_id = ?2",
    )
    .bind(tenant)
    .bind(integration_id)
    .fetch_optional(&mut *conn)
    .await
    .during(op)?;
    row.map(|r| Ok(parse_json_opt("settings", get(&r, "settings")?)?.unwrap_or_default()))
        .transpose()
}

pub(super) async fn upsert(
    pool: &SqlitePool,
    tenant: TenantId,
    spec: &IntegrationSpec,
) -> Result<IntegrationRecord> {
    const OP: &str = "upsert_integration";
    let tenant = id(tenant.as_uuid());
    let integration_id = id(spec.integration_id.as_uuid());
    let now = ts(now_micros());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    let mut settings = load_settings(&mut tx, &tenant, &integration_id, OP)
        .await?
        .unwrap_or_default();
    merge_settings(&mut settings, &spec.settings);
    sqlx::query(
        "INSERT INTO rmm_integrations (tenant, integration_id, provider, instance_url, \
           is_active, sync_status, settings, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?7) \
         ON CONFLICT (tenant, integration_id) DO UPDATE SET provider = excluded.provider, \
           instance_url = excluded.instance_url, is_active = excluded.is_active, \
           settings = excluded.settings, updated_at = excluded.updated_at",
    )
    .bind(&tenant)
    .bind(&integration_id)
    .bind(spec.provider.as_str())
    .bind(spec.instance_url.as_deref())
    .bind(spec.is_active)
    .bind(json(&settings)?)
    .bind(&now)
    .execute(&mut *tx)
    .await
    .during(OP)?;
    let record = load(&mut tx, &tenant, &integration_id, OP)
        .await?
        .ok_or_else(|| not_found(spec.integration_id))?;
    tx.commit().await.during(OP)?;
    Ok(record)
}

pub(super) async fn get_one(
    pool: &SqlitePool,
    tenant: TenantId,
    integration_id: IntegrationId,
) -> Result<Option<IntegrationRecord>> {
    let mut conn = pool.acquire().await.during("get_integration")?;
    load(
        &mut conn,
        &id(tenant.as_uuid()),
        &id(integration_id.as_uuid()),
        "get_integration",
    )
    .await
}

pub(super) async fn list(pool: &SqlitePool, tenant: TenantId) -> Result<Vec<IntegrationRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {INTEGRATION_JSON} AS row FROM rmm_integrations WHERE tenant = ?1 \
         ORDER BY integration_id"
    ))
    .bind(id(tenant.as_uuid()))
    .fetch_all(pool)
    .await
    .during("list_integrations")?;
    decode_each(&rows, "integrations", IntegrationJson::into_record)
}

pub(super) async fn update_sync_state(
    pool: &SqlitePool,
    tenant: TenantId,
    integration_id: IntegrationId,
    u: &SyncStateUpdate,
) -> Result<()> {
    let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("UPDATE rmm_integrations SET ");
    let mut set = qb.separated(", ");
    if let Some(v) = u.sync_status {
        set.push("sync_status = ").push_bind_unseparated(v.as_str());
    }
    if let Some(v) = &u.sync_error {
        set.push("sync_error = ").push_bind_unseparated(v.clone());
    }
    for (column, value) in [
        ("connected_at", u.connected_at),
        ("last_sync_at", u.last_sync_at),
        ("last_full_sync_at", u.last_full_sync_at),
        ("last_incremental_sync_at", u.last_incremental_sync_at),
    ] {
        if let Some(v) = value {
            set.push(format!("{column} = "))
                .push_bind_unseparated(ts(v));
        }
    }
    if let Some(v) = &u.cursor {
        set.push("rmm_sync_cursor = ")
            .push_bind_unseparated(v.clone());
    }
    set.push("updated_at = ")
        .push_bind_unseparated(ts(now_micros()));
    qb.push(" WHERE tenant = ")
        .push_bind(id(tenant.as_uuid()))
        .push(" AND integration_id = ")
        .push_bind(id(integration_id.as_uuid()));
    let done = qb.build().execute(pool).await.during("update_sync_state")?;
    if done.rows_affected() == 0 {
        return Err(not_found(integration_id));
    }
    Ok(())
}

pub(super) async fn merge_settings_patch(
    pool: &SqlitePool,
    tenant: TenantId,
    integration_id: IntegrationId,
    patch: &Settings,
) -> Result<Settings> {
    const OP: &str = "merge_settings";
    let tenant = id(tenant.as_uuid());
    let key = id(integration_id.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    let mut settings = load_settings(&mut tx, &tenant, &key, OP)
        .await?
        .ok_or_else(|| not_found(integration_id))?;
    merge_settings(&mut settings, patch);
    sqlx::query(
        "UPDATE rmm_integrations SET settings = ?3, updated_at = ?4 \
         WHERE tenant = ?1 AND integration_id = ?2",
    )
    .bind(&tenant)
    .bind(&key)
    .bind(json(&settings)?)
    .bind(ts(now_micros()))
    .execute(&mut *tx)
    .await
    .during(OP)?;
    tx.commit().await.during(OP)?;
    Ok(settings)
}

pub(super) async fn try_acquire_lease(
    pool: &SqlitePool,
    tenant: TenantId,
    integration_id: IntegrationId,
    req: &LeaseRequest,
) -> Result<bool> {
    const OP: &str = "try_acquire_lease";
    // One conditional UPDATE: free, lapsed, or ours (then extended). Atomic across processes.
    let done = sqlx::query(
        "UPDATE rmm_integrations SET lease_holder = ?3, lease_expires_at = ?4 \
         WHERE tenant = ?1 AND integration_id = ?2 \
           AND (lease_holder IS NULL OR lease_holder = ?3 OR lease_expires_at IS NULL \
                OR lease_expires_at <= ?5)",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration_id.as_uuid()))
    .bind(&req.holder)
    .bind(ts(req.expires_at))
    .bind(ts(req.now))
    .execute(pool)
    .await
    .during(OP)?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    let exists = sqlx::query(
        "SELECT 1 AS present FROM rmm_integrations WHERE tenant = ?1 AND integration_id = ?2",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration_id.as_uuid()))
    .fetch_optional(pool)
    .await
    .during(OP)?;
    match exists {
        Some(_) => Ok(false),
        None => Err(not_found(integration_id)),
    }
}

pub(super) async fn release_lease(
    pool: &SqlitePool,
    tenant: TenantId,
    integration_id: IntegrationId,
    holder: &str,
) -> Result<()> {
    sqlx::query(
        "UPDATE rmm_integrations SET lease_holder = NULL, lease_expires_at = NULL \
         WHERE tenant = ?1 AND integration_id = ?2 AND lease_holder = ?3",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration_id.as_uuid()))
    .bind(holder)
    .execute(pool)
    .await
    .during("release_lease")?;
    Ok(())
}
