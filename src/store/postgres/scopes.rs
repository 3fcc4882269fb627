//! `rmm_organization_mappings`: scope sync (host assignments never touched) and assignment.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::types::Json;
use uuid::Uuid;

use super::errors::ctx;
use super::rows::{self, Cols, SCOPE_COLUMNS};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ExternalScopeId, IntegrationId, ScopeSnapshot, TenantId};
use crate::store::{ScopeAssignment, ScopeRecord, ScopeSyncCounts};

pub(super) async fn sync(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    scopes: &[ScopeSnapshot],
    complete: bool,
    now: DateTime<Utc>,
) -> Result<ScopeSyncCounts> {
    // A scope listed twice counts once; the last listing wins.
    let mut last: HashMap<&str, &ScopeSnapshot> = HashMap::new();
    let mut order = Vec::new();
    for s in scopes {
        if last.insert(s.id.as_str(), s).is_none() {
            order.push(s.id.as_str());
        }
    }
    let unique: Vec<&ScopeSnapshot> = order.iter().map(|id| last[id]).collect();
    let ids: Vec<&str> = order.clone();
    let t = tenant.as_uuid();
    let i = integration.as_uuid();
    let mut tx = pool.begin().await.map_err(ctx("sync_scopes"))?;
    let mut counts = ScopeSyncCounts::default();
    if !unique.is_empty() {
        counts.reappeared = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM rmm_organization_mappings
             WHERE tenant = $1 AND integration_id = $2 AND external_organization_id = ANY($3)
               AND vanished_at IS NOT NULL",
        )
        .bind(t)
        .bind(i)
        .bind(&ids)
        .fetch_one(&mut *tx)
        .await
        .map_err(ctx("sync_scopes"))? as u64;
        let new_ids: Vec<Uuid> = unique.iter().map(|_| Uuid::now_v7()).collect();
        let names: Vec<&str> = unique.iter().map(|s| s.name.as_str()).collect();
        let parents: Vec<Option<&str>> = unique
            .iter()
            .map(|s| s.parent.as_ref().map(|p| p.as_str()))
            .collect();
        let kinds: Vec<&str> = unique.iter().map(|s| s.kind.as_str()).collect();
        let metadata: Vec<Json<&serde_json::Map<String, serde_json::Value>>> =
            unique.iter().map(|s| Json(&s.metadata)).collect();
        let inserted: Vec<bool> = sqlx::query_scalar(
            "INSERT INTO rmm_organization_mappings AS o (tenant, mapping_id, integration_id,
                 external_organization_id, external_organization_name, parent_external_id,
                 scope_kind, metadata, client_id, auto_sync_assets, last_synced_at, vanished_at,
                 created_at, updated_at)
             SELECT $1, u.mapping_id, $2, u.ext, u.name, u.parent, u.kind, u.metadata, NULL, true,
                    $8, NULL, $8, $8
             FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $9::jsonb[])
                  AS u(mapping_id, ext, name, parent, kind, metadata)
             ON CONFLICT (tenant, integration_id, external_organization_id) DO UPDATE SET
                 external_organization_name = EXCLUDED.external_organization_name,
                 parent_external_id = EXCLUDED.parent_external_id,
                 scope_kind = EXCLUDED.scope_kind,
                 metadata = EXCLUDED.metadata,
                 last_synced_at = EXCLUDED.last_synced_at,
                 vanished_at = NULL,
                 updated_at = EXCLUDED.updated_at
             RETURNING (xmax = 0)",
        )
        .bind(t)
        .bind(i)
        .bind(&new_ids)
        .bind(&ids)
        .bind(&names)
        .bind(&parents)
        .bind(&kinds)
        .bind(now)
        .bind(&metadata)
        .fetch_all(&mut *tx)
        .await
        .map_err(ctx("sync_scopes"))?;
        counts.created = inserted.iter().filter(|x| **x).count() as u64;
        counts.updated = inserted.len() as u64 - counts.created;
    }
    if complete {
        counts.vanished = sqlx::query(
            "UPDATE rmm_organization_mappings SET vanished_at = $4, updated_at = $4
             WHERE tenant = $1 AND integration_id = $2 AND vanished_at IS NULL
               AND NOT (external_organization_id = ANY($3))",
        )
        .bind(t)
        .bind(i)
        .bind(&ids)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(ctx("sync_scopes"))?
        .rows_affected();
    }
    tx.commit().await.map_err(ctx("sync_scopes"))?;
    Ok(counts)
}

pub(super) async fn list(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<Vec<ScopeRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {SCOPE_COLUMNS} FROM rmm_organization_mappings o
         WHERE o.tenant = $1 AND o.integration_id = $2
         ORDER BY o.external_organization_id COLLATE \"C\""
    ))
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .fetch_all(pool)
    .await
    .map_err(ctx("list_scopes"))?;
    rows.iter()
        .map(|r| rows::scope(&mut Cols::new(r, 0)))
        .collect()
}

pub(super) async fn assign(
    pool: &PgPool,
    tenant: TenantId,
    integration: IntegrationId,
    scope: &ExternalScopeId,
    a: &ScopeAssignment,
) -> Result<ScopeRecord> {
    let row = sqlx::query(&format!(
        "UPDATE rmm_organization_mappings o SET
             client_id = CASE WHEN $4 THEN $5 ELSE o.client_id END,
             auto_sync_assets = COALESCE($6, o.auto_sync_assets),
             updated_at = now()
         WHERE o.tenant = $1 AND o.integration_id = $2 AND o.external_organization_id = $3
         RETURNING {SCOPE_COLUMNS}"
    ))
    .bind(tenant.as_uuid())
    .bind(integration.as_uuid())
    .bind(scope.as_str())
    .bind(a.client_id.is_some())
    .bind(a.client_id.flatten().map(|c| *c.as_uuid()))
    .bind(a.auto_sync_assets)
    .fetch_optional(pool)
    .await
    .map_err(ctx("assign_scope"))?
    .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("scope {scope} does not exist")))?;
    rows::scope(&mut Cols::new(&row, 0))
}
