//! Scopes (`rmm_organization_mappings`): discovery upserts, listing and host assignment.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::bulk::{Val, execute_rows};
use super::codec::{id, json, json_array, ts};
use super::errors::SqlResultExt;
use super::rows::{SCOPE_JSON, ScopeJson, decode_each, get};
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::now_micros;
use crate::model::{ExternalScopeId, IntegrationId, MappingId, ScopeSnapshot, TenantId};
use crate::store::{ScopeAssignment, ScopeRecord, ScopeSyncCounts};

const UPSERT_HEAD: &str = "INSERT INTO rmm_organization_mappings (tenant, mapping_id, \
     integration_id, external_organization_id, external_organization_name, parent_external_id, \
     scope_kind, metadata, auto_sync_assets, last_synced_at, created_at, updated_at) ";

/// Refreshes provider facts only: never `client_id` or `auto_sync_assets` (host-owned).
const UPSERT_TAIL: &str = " ON CONFLICT (tenant, integration_id, external_organization_id) \
     DO UPDATE SET external_organization_name = excluded.external_organization_name, \
       parent_external_id = excluded.parent_external_id, scope_kind = excluded.scope_kind, \
       metadata = excluded.metadata, last_synced_at = excluded.last_synced_at, \
       vanished_at = NULL, updated_at = excluded.updated_at";

pub(super) async fn sync_scopes(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    scopes: &[ScopeSnapshot],
    complete: bool,
    now: DateTime<Utc>,
) -> Result<ScopeSyncCounts> {
    const OP: &str = "sync_scopes";
    let tenant = id(tenant.as_uuid());
    let integration = id(integration.as_uuid());
    let now = ts(now);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;

    // Which scopes exist and which are flagged vanished, to count what the upsert does.
    let rows = sqlx::query(
        "SELECT external_organization_id, vanished_at FROM rmm_organization_mappings \
         WHERE tenant = ?1 AND integration_id = ?2",
    )
    .bind(&tenant)
    .bind(&integration)
    .fetch_all(&mut *tx)
    .await
    .during(OP)?;
    let mut existing: HashMap<String, bool> = HashMap::with_capacity(rows.len());
    for r in &rows {
        let vanished: Option<String> = get(r, "vanished_at")?;
        existing.insert(get(r, "external_organization_id")?, vanished.is_some());
    }

    let mut counts = ScopeSyncCounts::default();
    let mut present: HashSet<&str> = HashSet::with_capacity(scopes.len());
    let mut values = Vec::with_capacity(scopes.len());
    for s in scopes {
        present.insert(s.id.as_str());
        match existing.get_mut(s.id.as_str()) {
            Some(vanished) => {
                if std::mem::take(vanished) {
                    counts.reappeared += 1;
                }
                counts.updated += 1;
            }
            None => {
                existing.insert(s.id.as_str().to_owned(), false);
                counts.created += 1;
            }
        }
        let row: Vec<Val> = vec![
            tenant.as_str().into(),
            id(MappingId::from_uuid(uuid::Uuid::now_v7()).as_uuid()).into(),
            integration.as_str().into(),
            s.id.as_str().into(),
            s.name.clone().into(),
            s.parent.as_ref().map(|p| p.as_str().to_owned()).into(),
            s.kind.as_str().into(),
            json(&s.metadata)?.into(),
            Val::Int(Some(1)),
            now.as_str().into(),
            now.as_str().into(),
            now.as_str().into(),
        ];
        values.push(row);
    }
    execute_rows(&mut tx, OP, UPSERT_HEAD, values, UPSERT_TAIL).await?;

    if complete {
        let done = sqlx::query(
            "UPDATE rmm_organization_mappings SET vanished_at = ?3, updated_at = ?3 \
             WHERE tenant = ?1 AND integration_id = ?2 AND vanished_at IS NULL \
               AND external_organization_id NOT IN (SELECT value FROM json_each(?4))",
        )
        .bind(&tenant)
        .bind(&integration)
        .bind(&now)
        .bind(json_array(present.iter().copied())?)
        .execute(&mut *tx)
        .await
        .during(OP)?;
        counts.vanished = done.rows_affected();
    }
    tx.commit().await.during(OP)?;
    Ok(counts)
}

pub(super) async fn list_scopes(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
) -> Result<Vec<ScopeRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {SCOPE_JSON} AS row FROM rmm_organization_mappings \
         WHERE tenant = ?1 AND integration_id = ?2 ORDER BY external_organization_id"
    ))
    .bind(id(tenant.as_uuid()))
    .bind(id(integration.as_uuid()))
    .fetch_all(pool)
    .await
    .during("list_scopes")?;
    decode_each(&rows, "scopes", ScopeJson::into_record)
}

pub(super) async fn assign_scope(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    scope_id: &ExternalScopeId,
    a: &ScopeAssignment,
) -> Result<ScopeRecord> {
    const OP: &str = "assign_scope";
    let tenant = id(tenant.as_uuid());
    let integration = id(integration.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    let mut qb: QueryBuilder<'_, Sqlite> =
        QueryBuilder::new("UPDATE rmm_organization_mappings SET ");
    let mut set = qb.separated(", ");
    if let Some(client) = a.client_id {
        set.push("client_id = ")
            .push_bind_unseparated(client.map(|c| id(c.as_uuid())));
    }
    if let Some(on) = a.auto_sync_assets {
        set.push("auto_sync_assets = ").push_bind_unseparated(on);
    }
    set.push("updated_at = ")
        .push_bind_unseparated(ts(now_micros()));
    qb.push(" WHERE tenant = ")
        .push_bind(tenant.clone())
        .push(" AND integration_id = ")
        .push_bind(integration.clone())
        .push(" AND external_organization_id = ")
        .push_bind(scope_id.as_str().to_owned());
    let done = qb.build().execute(&mut *tx).await.during(OP)?;
    if done.rows_affected() == 0 {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("scope {scope_id} does not exist"),
        ));
    }
    let rows = sqlx::query(&format!(
        "SELECT {SCOPE_JSON} AS row FROM rmm_organization_mappings \
         WHERE tenant = ?1 AND integration_id = ?2 AND external_organization_id = ?3"
    ))
    .bind(&tenant)
    .bind(&integration)
    .bind(scope_id.as_str())
    .fetch_all(&mut *tx)
    .await
    .during(OP)?;
    let record = decode_each(&rows, "scope", ScopeJson::into_record)?
        .pop()
        .ok_or_else(|| Error::store(format!("scope {scope_id} vanished during assign_scope")))?;
    tx.commit().await.during(OP)?;
    Ok(record)
}
