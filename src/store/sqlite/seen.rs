//! The seen log of a run (`rmm_sync_run_seen`): one row per step, its ids as one JSON array, so
//! a step records a few thousand ids in one statement and the sweep reads the union with one
//! `json_each` query.

use sqlx::SqlitePool;

use super::codec::{id, json_array};
use super::errors::SqlResultExt;
use crate::error::Result;
use crate::model::{ExternalDeviceId, IntegrationId, RunId, TenantId};

/// Upserts the chunk: a retried step replaces what it recorded before.
pub(super) async fn record_seen(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    run: RunId,
    chunk: &str,
    ids: &[ExternalDeviceId],
) -> Result<()> {
    sqlx::query(
        "INSERT INTO rmm_sync_run_seen (tenant, integration_id, run_id, chunk, ids) \
         VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (tenant, integration_id, run_id, chunk) DO UPDATE SET ids = excluded.ids",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration.as_uuid()))
    .bind(id(run.as_uuid()))
    .bind(chunk)
    .bind(json_array(ids.iter().map(ExternalDeviceId::as_str))?)
    .execute(pool)
    .await
    .during("record_seen")?;
    Ok(())
}

/// The union of the run's chunks, each id once (`DISTINCT` over the expanded arrays).
pub(super) async fn seen_devices(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    run: RunId,
    before_chunk: Option<&str>,
) -> Result<Vec<ExternalDeviceId>> {
    // `chunk` is TEXT with the default BINARY collation: byte order, as the trait says.
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT j.value FROM rmm_sync_run_seen AS s, json_each(s.ids) AS j \
         WHERE s.tenant = ?1 AND s.integration_id = ?2 AND s.run_id = ?3 \
           AND (?4 IS NULL OR s.chunk < ?4)",
    )
    .bind(id(tenant.as_uuid()))
    .bind(id(integration.as_uuid()))
    .bind(id(run.as_uuid()))
    .bind(before_chunk)
    .fetch_all(pool)
    .await
    .during("seen_devices")?;
    Ok(ids.into_iter().map(ExternalDeviceId::new).collect())
}

/// Deletes every run's chunks of the integration; the count of rows is the count of chunks.
pub(super) async fn clear_seen(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM rmm_sync_run_seen WHERE tenant = ?1 AND integration_id = ?2")
            .bind(id(tenant.as_uuid()))
            .bind(id(integration.as_uuid()))
            .execute(pool)
            .await
            .during("clear_seen")?
            .rows_affected(),
    )
}
