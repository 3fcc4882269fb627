//! `apply`: one transaction per batch and one statement per table, whatever the batch size.
//! Updates carry the `updated_at` the engine read; if any row no longer matches, the whole
//! batch rolls back with `Conflict` (or `NotFound` when the asset is gone).

use std::collections::HashMap;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use super::columns::{
    ASSET_TARGETS, ASSET_UNNEST, AssetColumns, EXTENSION_UNNEST, ExtensionColumns, MAPPING_UNNEST,
    MappingColumns,
};
use super::errors::ctx;
use super::identifiers::{self, IdentifierColumns};
use super::rows::EXTENSION_COLUMNS;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ExtensionKind, TenantId};
use crate::store::{AssetWrite, DeviceWrite};

static INSERT_ASSETS: LazyLock<String> = LazyLock::new(|| {
    format!("INSERT INTO assets (tenant, {ASSET_TARGETS}) SELECT $1, * FROM {ASSET_UNNEST})")
});

static UPDATE_ASSETS: LazyLock<String> = LazyLock::new(|| {
    let targets: Vec<&str> = ASSET_TARGETS.split(',').map(str::trim).collect();
    let set = targets[1..]
        .iter()
        .map(|c| format!("{c} = u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "UPDATE assets a SET {set} FROM {ASSET_UNNEST}, $19::timestamptz[]) AS u({}, expected)
         WHERE a.tenant = $1 AND a.asset_id = u.asset_id AND a.updated_at = u.expected",
        targets.join(", ")
    )
});

fn extension_table(kind: ExtensionKind) -> &'static str {
    match kind {
        ExtensionKind::Workstation => "workstation_assets",
        ExtensionKind::Server => "server_assets",
    }
}

static UPSERT_EXTENSION: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    let cols = EXTENSION_COLUMNS.join(", ");
    let set = EXTENSION_COLUMNS
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    ["workstation_assets", "server_assets"]
        .into_iter()
        .map(|t| {
            let sql = format!(
                "INSERT INTO {t} (tenant, asset_id, {cols}, updated_at)
                 SELECT $1, u.*, now() FROM {EXTENSION_UNNEST} AS u
                 ON CONFLICT (tenant, asset_id) DO UPDATE SET {set}, updated_at = now()"
            );
            (t, sql)
        })
        .collect()
});

const UPSERT_MAPPINGS: &str = "INSERT INTO tenant_external_entity_mappings (tenant, id, \
    integration_type, alga_entity_type, alga_entity_id, external_entity_id, external_realm_id, \
    sync_status, last_synced_at, deleted_at, metadata, fingerprint, written, created_at, \
    updated_at, integration_id)";

static UPSERT_MAPPINGS_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{UPSERT_MAPPINGS}
         SELECT $1, u.id, u.provider, 'asset', u.asset_id, u.external_id, u.scope_id, u.status,
                u.last_synced_at, u.deleted_at, u.metadata, u.fingerprint, u.written,
                u.created_at, u.last_synced_at, u.integration_id
         FROM {MAPPING_UNNEST}
         ON CONFLICT (tenant, id) DO UPDATE SET
            integration_type = EXCLUDED.integration_type,
            alga_entity_type = EXCLUDED.alga_entity_type,
            alga_entity_id = EXCLUDED.alga_entity_id,
            external_entity_id = EXCLUDED.external_entity_id,
            external_realm_id = EXCLUDED.external_realm_id,
            sync_status = EXCLUDED.sync_status,
            last_synced_at = EXCLUDED.last_synced_at,
            deleted_at = EXCLUDED.deleted_at,
            metadata = EXCLUDED.metadata,
            fingerprint = EXCLUDED.fingerprint,
            written = EXCLUDED.written,
            created_at = EXCLUDED.created_at,
            updated_at = EXCLUDED.updated_at,
            integration_id = EXCLUDED.integration_id"
    )
});

/// The batch split by table.
#[derive(Default)]
struct Plan<'a> {
    inserts: AssetColumns<'a>,
    updates: AssetColumns<'a>,
    deletes: HashMap<ExtensionKind, Vec<Uuid>>,
    upserts: HashMap<ExtensionKind, ExtensionColumns<'a>>,
    mappings: MappingColumns<'a>,
    identifiers: IdentifierColumns,
}

impl<'a> Plan<'a> {
    /// The batch's rows; identifier rows only when `identifiers` (the tenant's are maintained).
    fn new(writes: &'a [DeviceWrite], identifiers: bool) -> Self {
        let mut p = Plan::default();
        for w in writes {
            match &w.asset {
                AssetWrite::Keep => {}
                AssetWrite::Insert(a) => {
                    p.inserts.push(a);
                    if identifiers {
                        p.identifiers.push_asset(a);
                    }
                }
                AssetWrite::Update {
                    asset,
                    expected_updated_at,
                } => {
                    p.updates.push(asset);
                    p.updates.expected_updated_at.push(*expected_updated_at);
                    if identifiers {
                        p.identifiers.push_asset(asset);
                    }
                }
            }
            for k in &w.extension.delete {
                p.deletes.entry(*k).or_default().push(*w.asset_id.as_uuid());
            }
            if let Some((k, row)) = &w.extension.upsert {
                p.upserts
                    .entry(*k)
                    .or_default()
                    .push(*w.asset_id.as_uuid(), row);
            }
            p.mappings.push(&w.mapping);
        }
        p
    }
}

/// Applies the batch; returns how many assets it inserted.
pub(super) async fn apply(pool: &PgPool, tenant: TenantId, writes: &[DeviceWrite]) -> Result<u64> {
    if writes.is_empty() {
        return Ok(0);
    }
    let t = *tenant.as_uuid();
    let mut tx = pool.begin().await.map_err(ctx("apply"))?;
    // Before any asset row is written: a concurrent build of the tenant's identifiers either
    // committed (and is seen here) or waits for this transaction and then reads its rows.
    let maintained = identifiers::maintained(&mut tx, t).await?;
    let plan = Plan::new(writes, maintained);
    if plan.inserts.len() > 0 {
        plan.inserts
            .bind(sqlx::query(&INSERT_ASSETS).bind(t), false)
            .execute(&mut *tx)
            .await
            .map_err(ctx("apply (insert assets)"))?;
    }
    if plan.updates.len() > 0 {
        let done = plan
            .updates
            .bind(sqlx::query(&UPDATE_ASSETS).bind(t), true)
            .execute(&mut *tx)
            .await
            .map_err(ctx("apply (update assets)"))?
            .rows_affected();
        if done < plan.updates.len() as u64 {
            return Err(stale_update_error(&mut tx, t, &plan.updates).await);
        }
    }
    for kind in [ExtensionKind::Workstation, ExtensionKind::Server] {
        let table = extension_table(kind);
        if let Some(ids) = plan.deletes.get(&kind) {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE tenant = $1 AND asset_id = ANY($2)"
            ))
            .bind(t)
            .bind(ids)
            .execute(&mut *tx)
            .await
            .map_err(ctx("apply (delete extension rows)"))?;
        }
        if let Some(cols) = plan.upserts.get(&kind).filter(|c| !c.is_empty()) {
            cols.bind(sqlx::query(&UPSERT_EXTENSION[table]).bind(t))
                .execute(&mut *tx)
                .await
                .map_err(ctx("apply (upsert extension rows)"))?;
        }
    }
    if !plan.mappings.is_empty() {
        plan.mappings
            .bind(sqlx::query(&UPSERT_MAPPINGS_SQL).bind(t))
            .execute(&mut *tx)
            .await
            .map_err(ctx("apply (upsert mappings)"))?;
    }
    if maintained {
        identifiers::replace(&mut tx, t, &plan.updates.asset_id, &plan.identifiers).await?;
    }
    tx.commit().await.map_err(ctx("apply (commit)"))?;
    Ok(plan.inserts.len() as u64)
}

/// Names the first update that did not match: its asset is gone (`NotFound`) or was changed
/// since the engine read it (`Conflict`). The caller's transaction rolls back on drop.
async fn stale_update_error(
    tx: &mut Transaction<'_, Postgres>,
    tenant: Uuid,
    updates: &AssetColumns<'_>,
) -> Error {
    let current: Result<Vec<(Uuid, DateTime<Utc>)>> = sqlx::query_as(
        "SELECT asset_id, updated_at FROM assets WHERE tenant = $1 AND asset_id = ANY($2)",
    )
    .bind(tenant)
    .bind(&updates.asset_id)
    .fetch_all(&mut **tx)
    .await
    .map_err(ctx("apply (check stale updates)"));
    let current: HashMap<Uuid, DateTime<Utc>> = match current {
        Ok(rows) => rows.into_iter().collect(),
        Err(e) => return e,
    };
    let mut seen = std::collections::HashSet::new();
    for (id, expected) in updates.asset_id.iter().zip(&updates.expected_updated_at) {
        match current.get(id) {
            None => {
                return Error::new(ErrorKind::NotFound, format!("asset {id} does not exist"));
            }
            Some(at) if at != expected || !seen.insert(*id) => {
                return Error::new(
                    ErrorKind::Conflict,
                    format!("asset {id} was changed concurrently"),
                );
            }
            Some(_) => {}
        }
    }
    Error::new(
        ErrorKind::Conflict,
        "an asset update did not match its expected updated_at",
    )
}
