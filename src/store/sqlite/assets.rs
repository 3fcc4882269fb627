//! Asset reads, host edits, mark-and-sweep candidates and agent-status re-evaluation.

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};

use super::bulk::execute_rows;
use super::codec::{id, ts};
use super::errors::SqlResultExt;
use super::rows::{
    AssetJson, ExtensionJson, MAPPING_JSON, MappingJson, decode_each, get, select_asset_rows,
    select_extension,
};
use super::write::{extension_table, identifier_rows};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, TenantId,
};
use crate::store::{AssetFilter, AssetRecord, HostAssetUpdate, MappingRecord};

/// A mapping counts as live unless tombstoned (`deleted`, or the reference's `error`), the
/// same reading as [`crate::store::MappingStatus::parse_lenient`].
const LIVE: &str = "COALESCE(sync_status, '') NOT IN ('deleted', 'error')";

async fn load_asset(
    conn: &mut SqliteConnection,
    tenant: &str,
    asset: &str,
    op: &'static str,
) -> Result<Option<AssetRecord>> {
    let rows = sqlx::query(&format!(
        "{} WHERE a.tenant = ?1 AND a.asset_id = ?2",
        select_asset_rows()
    ))
    .bind(tenant)
    .bind(asset)
    .fetch_all(&mut *conn)
    .await
    .during(op)?;
    Ok(decode_each(&rows, "asset", AssetJson::into_record)?.pop())
}

pub(super) async fn get_asset(
    pool: &SqlitePool,
    tenant: TenantId,
    asset: AssetId,
) -> Result<Option<AssetRecord>> {
    let mut conn = pool.acquire().await.during("get_asset")?;
    load_asset(
        &mut conn,
        &id(tenant.as_uuid()),
        &id(asset.as_uuid()),
        "get_asset",
    )
    .await
}

pub(super) async fn list_assets(
    pool: &SqlitePool,
    tenant: TenantId,
    filter: &AssetFilter,
) -> Result<Vec<AssetRecord>> {
    let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new(select_asset_rows());
    qb.push(" WHERE a.tenant = ")
        .push_bind(id(tenant.as_uuid()));
    if let Some(integration) = filter.integration_id {
        qb.push(
            " AND a.asset_id IN (SELECT m.alga_entity_id FROM tenant_external_entity_mappings m \
             WHERE m.tenant = a.tenant AND m.alga_entity_type = 'asset' AND m.integration_id = ",
        )
        .push_bind(id(integration.as_uuid()))
        .push(")");
    }
    qb.push(" ORDER BY a.asset_id");
    if let Some(limit) = filter.limit {
        qb.push(" LIMIT ")
            .push_bind(i64::try_from(limit).unwrap_or(i64::MAX));
    }
    let rows = qb.build().fetch_all(pool).await.during("list_assets")?;
    decode_each(&rows, "assets", AssetJson::into_record)
}

pub(super) async fn extension_rows(
    pool: &SqlitePool,
    tenant: TenantId,
    asset: AssetId,
) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
    let tenant = id(tenant.as_uuid());
    let asset = id(asset.as_uuid());
    let mut tx = pool.begin().await.during("extension_rows")?;
    let mut out = Vec::new();
    for kind in [ExtensionKind::Workstation, ExtensionKind::Server] {
        let rows = sqlx::query(&select_extension(extension_table(kind)))
            .bind(&tenant)
            .bind(&asset)
            .fetch_all(&mut *tx)
            .await
            .during("extension_rows")?;
        for row in decode_each(&rows, "extension row", ExtensionJson::into_row)? {
            out.push((kind, row));
        }
    }
    tx.commit().await.during("extension_rows")?;
    Ok(out)
}

pub(super) async fn get_mapping(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    device: &ExternalDeviceId,
) -> Result<Option<MappingRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {MAPPING_JSON} AS row FROM tenant_external_entity_mappings \
         WHERE tenant = ?1 AND integration_id = ?2 AND alga_entity_type = 'asset' \
           AND external_entity_id = ?3"
    ))
    .bind(id(tenant.as_uuid()))
    .bind(id(integration.as_uuid()))
    .bind(device.as_str())
    .fetch_all(pool)
    .await
    .during("get_mapping")?;
    Ok(decode_each(&rows, "mapping", MappingJson::into_record)?.pop())
}

pub(super) async fn update_asset(
    pool: &SqlitePool,
    tenant: TenantId,
    asset: AssetId,
    u: &HostAssetUpdate,
    now: DateTime<Utc>,
) -> Result<()> {
    const OP: &str = "update_asset";
    let tenant = id(tenant.as_uuid());
    let key = id(asset.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    let mut qb: QueryBuilder<'_, Sqlite> = QueryBuilder::new("UPDATE assets SET ");
    let mut set = qb.separated(", ");
    if let Some(v) = &u.name {
        set.push("name = ").push_bind_unseparated(v.clone());
    }
    if let Some(v) = &u.status {
        set.push("status = ").push_bind_unseparated(v.clone());
    }
    if let Some(v) = &u.location {
        set.push("location = ").push_bind_unseparated(v.clone());
    }
    if let Some(v) = &u.serial_number {
        set.push("serial_number = ")
            .push_bind_unseparated(v.clone());
    }
    if let Some(v) = u.client_id {
        set.push("client_id = ")
            .push_bind_unseparated(id(v.as_uuid()));
    }
    set.push("updated_at = ").push_bind_unseparated(ts(now));
    qb.push(" WHERE tenant = ")
        .push_bind(tenant.clone())
        .push(" AND asset_id = ")
        .push_bind(key.clone());
    let done = qb.build().execute(&mut *tx).await.during(OP)?;
    if done.rows_affected() == 0 {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("asset {asset} does not exist"),
        ));
    }
    if u.serial_number.is_some() && super::identifiers::maintained(&mut tx, &tenant).await? {
        // The serial is a matching identifier: keep the lookup table in step (in tenants whose
        // identifiers are maintained; see `super::identifiers`).
        if let Some(a) = load_asset(&mut tx, &tenant, &key, OP).await? {
            sqlx::query(
                "DELETE FROM rmm_sync_asset_identifiers WHERE tenant = ?1 AND asset_id = ?2",
            )
            .bind(&tenant)
            .bind(&key)
            .execute(&mut *tx)
            .await
            .during(OP)?;
            let rows = identifier_rows(&a)
                .into_iter()
                .map(|(kind, value)| {
                    vec![
                        tenant.as_str().into(),
                        key.as_str().into(),
                        kind.into(),
                        value.into(),
                    ]
                })
                .collect();
            execute_rows(
                &mut tx,
                OP,
                super::identifiers::INSERT_IDENTIFIERS,
                rows,
                "",
            )
            .await?;
        }
    }
    tx.commit().await.during(OP)
}

pub(super) async fn delete_asset(
    pool: &SqlitePool,
    tenant: TenantId,
    asset: AssetId,
) -> Result<()> {
    const OP: &str = "delete_asset";
    let tenant = id(tenant.as_uuid());
    let key = id(asset.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    // Explicit deletes rather than relying on ON DELETE CASCADE: a host pool may run with
    // foreign keys off.
    for table in [
        "workstation_assets",
        "server_assets",
        "rmm_sync_asset_identifiers",
        "assets",
    ] {
        sqlx::query(&format!(
            "DELETE FROM {table} WHERE tenant = ?1 AND asset_id = ?2"
        ))
        .bind(&tenant)
        .bind(&key)
        .execute(&mut *tx)
        .await
        .during(OP)?;
    }
    tx.commit().await.during(OP)
}

/// The sweep's candidate query (one scope's live devices, in id order).
fn live_device_ids_sql() -> String {
    format!(
        "SELECT external_entity_id FROM tenant_external_entity_mappings \
         WHERE tenant = ?1 AND integration_id = ?2 AND alga_entity_type = 'asset' \
           AND external_realm_id = ?3 AND {LIVE} ORDER BY external_entity_id"
    )
}

pub(super) async fn live_device_ids(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    scope: &ExternalScopeId,
) -> Result<Vec<ExternalDeviceId>> {
    let rows = sqlx::query(&live_device_ids_sql())
        .bind(id(tenant.as_uuid()))
        .bind(id(integration.as_uuid()))
        .bind(scope.as_str())
        .fetch_all(pool)
        .await
        .during("live_device_ids")?;
    rows.iter()
        .map(|r| get::<String>(r, "external_entity_id").map(ExternalDeviceId::new))
        .collect()
}

/// Ranks of [`crate::model::AgentStatus::staleness`], in SQL.
fn staleness(column: &str) -> String {
    format!(
        "(CASE {column} WHEN 'online' THEN 1 WHEN 'offline' THEN 2 WHEN 'overdue' THEN 3 \
         ELSE 0 END)"
    )
}

/// `now - d` as stored text; a cutoff before year 1 sorts below every stored timestamp.
fn cutoff(now: DateTime<Utc>, d: std::time::Duration) -> String {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| now.checked_sub_signed(d))
        .filter(|t| chrono::Datelike::year(t) >= 1)
        .map(ts)
        .unwrap_or_else(|| "0000".to_owned())
}

pub(super) async fn reevaluate_agent_status(
    pool: &SqlitePool,
    tenant: TenantId,
    integration: IntegrationId,
    thresholds: &AgentStatusThresholds,
    now: DateTime<Utc>,
) -> Result<u64> {
    // One set-based UPDATE. Text timestamps compare in time order, so the age thresholds
    // become two cutoffs: seen at or after `online` is online, at or before `overdue` overdue.
    let sql = format!(
        "UPDATE assets SET agent_status = d.next, updated_at = ?3 FROM ( \
           SELECT a.asset_id AS asset_id, \
             CASE WHEN a.last_seen_at >= ?4 THEN 'online' \
                  WHEN ?6 AND a.last_seen_at <= ?5 THEN 'overdue' \
                  ELSE 'offline' END AS next \
           FROM assets a \
           WHERE a.tenant = ?1 AND a.last_seen_at IS NOT NULL AND a.asset_id IN ( \
             SELECT alga_entity_id FROM tenant_external_entity_mappings \
             WHERE tenant = ?1 AND integration_id = ?2 AND alga_entity_type = 'asset' \
               AND {LIVE}) \
         ) AS d \
         WHERE assets.tenant = ?1 AND assets.asset_id = d.asset_id AND {} > {}",
        staleness("d.next"),
        staleness("assets.agent_status"),
    );
    let done = sqlx::query(&sql)
        .bind(id(tenant.as_uuid()))
        .bind(id(integration.as_uuid()))
        .bind(ts(now))
        .bind(cutoff(now, thresholds.online_within))
        .bind(
            thresholds
                .overdue_after
                .map(|o| cutoff(now, o))
                .unwrap_or_else(|| "0000".to_owned()),
        )
        .bind(thresholds.overdue_after.is_some())
        .execute(pool)
        .await
        .during("reevaluate_agent_status")?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// A sweep reads one scope's rows from the realm index alone: not the device index that
    /// happens to give the same order while walking every mapping of the integration.
    #[tokio::test]
    async fn sweep_candidates_come_from_the_covering_realm_index() {
        let store = SqliteStore::temporary().await.unwrap();
        let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", live_device_ids_sql()))
            .bind("t")
            .bind("i")
            .bind("s")
            .fetch_all(store.pool())
            .await
            .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|r| get::<String>(r, "detail").unwrap())
            .collect();
        let plan = plan.join("; ");
        assert!(
            plan.contains("COVERING INDEX rmm_sync_mappings_realm_idx"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "no sort needed: {plan}");
    }
}
