//! The seen log of a run (`rmm_sync_run_seen`): one row per step, its ids as one `text[]`, so
//! a step records a few thousand ids in one statement (one array parameter) and the sweep reads
//! the union with one `unnest` query.

use sqlx::PgPool;

use super::errors::ctx;
use crate::error::Result;
use crate::model::{ExternalDeviceId, IntegrationId, RunId, TenantId};

/// Upserts the chunk: a retried step replaces what it recorded before.
pub(super) async fn record_seen(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    run: RunId,
    chunk: &str,
    ids: &[ExternalDeviceId],
) -> Result<()> {
    let ids: Vec<&str> = ids.iter().map(ExternalDeviceId::as_str).collect();
    sqlx::query(
        "INSERT INTO rmm_sync_run_seen (tenant, integration_id, run_id, chunk, ids)
         VALUES ($1, $2, $3, $4, $5::text[])
         ON CONFLICT (tenant, integration_id, run_id, chunk) DO UPDATE SET ids = EXCLUDED.ids",
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(run.as_uuid())
    .bind(chunk)
    .bind(&ids)
    .execute(pool)
    .await
    .map_err(ctx("record_seen"))?;
    Ok(())
}

/// The union of the run's chunks, each id once (`DISTINCT` over the unnested arrays).
pub(super) async fn seen_devices(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    run: RunId,
    before_chunk: Option<&str>,
) -> Result<Vec<ExternalDeviceId>> {
    // Byte order (`COLLATE "C"`), as the trait says, whatever the database's collation.
    let ids: Vec<String> = sqlx::query_scalar(
        r#"SELECT DISTINCT u.id FROM rmm_sync_run_seen AS s CROSS JOIN LATERAL unnest(s.ids) AS u(id)
         WHERE s.tenant = $1 AND s.integration_id = $2 AND s.run_id = $3
           AND ($4::text IS NULL OR s.chunk COLLATE "C" < $4::text)"#,
    )
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(run.as_uuid())
    .bind(before_chunk)
    .fetch_all(pool)
    .await
    .map_err(ctx("seen_devices"))?;
    Ok(ids.into_iter().map(ExternalDeviceId::new).collect())
}

/// Deletes every run's chunks of the integration; the count of rows is the count of chunks.
pub(super) async fn clear_seen(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<u64> {
    Ok(
        sqlx::query("DELETE FROM rmm_sync_run_seen WHERE tenant = $1 AND integration_id = $2")
            .bind(tenant.as_uuid())
            .bind(integration.as_uuid())
            .execute(pool)
            .await
            .map_err(ctx("clear_seen"))?
            .rows_affected(),
    )
}
