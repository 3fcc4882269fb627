//! `apply`: one transaction per batch, one multi-row statement per table.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use sqlx::{SqliteConnection, SqlitePool};

use super::bulk::{Val, execute_rows};
use super::codec::{id, json, json_array, json_opt, ts, ts_opt};
use super::errors::SqlResultExt;
use super::identifiers;
use super::rows::{ASSET_COLUMNS, EXTENSION_COLUMNS, get};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{AssetId, ExtensionKind, ExtensionRow, TenantId};
use crate::store::{AssetRecord, AssetWrite, DeviceWrite, MappingRecord};

const OP: &str = "apply";

/// Applies the writes in one `BEGIN IMMEDIATE` transaction (the write lock is taken up front,
/// so a concurrent writer waits on `busy_timeout` instead of failing on a lock upgrade).
pub(super) async fn apply(
    pool: &SqlitePool,
    tenant: TenantId,
    writes: &[DeviceWrite],
) -> Result<()> {
    if writes.is_empty() {
        return Ok(());
    }
    let tenant = id(tenant.as_uuid());
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.during(OP)?;
    // Inside the write transaction, so a concurrent build of the tenant's identifiers is
    // either committed (and seen here) or not started (and reads this batch's asset rows).
    let maintained = identifiers::maintained(&mut tx, &tenant).await?;
    if writes_overlap(writes) {
        // Several writes for one asset or mapping: apply them one after another so the last
        // one wins, exactly as if they were separate batches (the engine never sends these).
        for w in writes {
            write_set(&mut tx, &tenant, std::slice::from_ref(w), maintained).await?;
        }
    } else {
        write_set(&mut tx, &tenant, writes, maintained).await?;
    }
    tx.commit().await.during(OP)
}

fn writes_overlap(writes: &[DeviceWrite]) -> bool {
    let mut assets = HashSet::with_capacity(writes.len());
    let mut mappings = HashSet::with_capacity(writes.len());
    writes
        .iter()
        .any(|w| !assets.insert(w.asset_id) || !mappings.insert(w.mapping.id))
}

async fn write_set(
    conn: &mut SqliteConnection,
    tenant: &str,
    writes: &[DeviceWrite],
    maintained: bool,
) -> Result<()> {
    let mut inserts = Vec::new();
    let mut updates = Vec::new();
    for w in writes {
        match &w.asset {
            AssetWrite::Keep => {}
            AssetWrite::Insert(a) => inserts.push(a),
            AssetWrite::Update {
                asset,
                expected_updated_at,
            } => updates.push((asset, ts(*expected_updated_at))),
        }
    }
    insert_assets(conn, tenant, &inserts).await?;
    update_assets(conn, tenant, &updates).await?;
    if maintained {
        let updated: Vec<&AssetRecord> = updates.iter().map(|(a, _)| *a).collect();
        write_identifiers(conn, tenant, &inserts, &updated).await?;
    }
    write_extensions(conn, tenant, writes).await?;
    upsert_mappings(conn, tenant, writes).await
}

fn asset_values(tenant: &str, a: &AssetRecord) -> Result<Vec<Val>> {
    Ok(vec![
        tenant.into(),
        id(a.asset_id.as_uuid()).into(),
        id(a.client_id.as_uuid()).into(),
        a.asset_type.as_str().into(),
        a.asset_tag.clone().into(),
        a.name.clone().into(),
        a.serial_number.clone().into(),
        a.status.clone().into(),
        a.location.clone().into(),
        a.rmm_provider
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .into(),
        a.rmm_device_id.clone().into(),
        a.rmm_organization_id.clone().into(),
        a.agent_status.map(|s| s.as_str().to_owned()).into(),
        ts_opt(a.last_seen_at).into(),
        ts_opt(a.last_rmm_sync_at).into(),
        json(&a.identity)?.into(),
        ts(a.created_at).into(),
        ts(a.updated_at).into(),
    ])
}

static INSERT_ASSETS: LazyLock<String> =
    LazyLock::new(|| format!("INSERT INTO assets ({}) ", ASSET_COLUMNS.join(", ")));

async fn insert_assets(
    conn: &mut SqliteConnection,
    tenant: &str,
    assets: &[&AssetRecord],
) -> Result<()> {
    let rows = assets
        .iter()
        .map(|a| asset_values(tenant, a))
        .collect::<Result<Vec<_>>>()?;
    execute_rows(conn, OP, &INSERT_ASSETS, rows, "").await?;
    Ok(())
}

/// Columns an update rewrites: every engine-managed column but the key and `created_at`.
const UPDATED_ASSET_COLUMNS: &[&str] = &[
    "client_id",
    "asset_type",
    "asset_tag",
    "name",
    "serial_number",
    "status",
    "location",
    "rmm_provider",
    "rmm_device_id",
    "rmm_organization_id",
    "agent_status",
    "last_seen_at",
    "last_rmm_sync_at",
    "rmm_identity",
    "updated_at",
];

/// `WITH v(<asset columns>, expected) AS (VALUES …) UPDATE assets … FROM v`, guarded by the
/// `updated_at` the engine read.
static UPDATE_ASSETS: LazyLock<(String, String)> = LazyLock::new(|| {
    let head = format!("WITH v({}, expected) AS (", ASSET_COLUMNS.join(", "));
    let sets: Vec<String> = UPDATED_ASSET_COLUMNS
        .iter()
        .map(|c| format!("{c} = v.{c}"))
        .collect();
    let tail = format!(
        ") UPDATE assets SET {} FROM v WHERE assets.tenant = v.tenant \
         AND assets.asset_id = v.asset_id AND assets.updated_at = v.expected",
        sets.join(", ")
    );
    (head, tail)
});

async fn update_assets(
    conn: &mut SqliteConnection,
    tenant: &str,
    updates: &[(&AssetRecord, String)],
) -> Result<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let rows = updates
        .iter()
        .map(|(a, expected)| {
            let mut row = asset_values(tenant, a)?;
            row.push(expected.clone().into());
            Ok(row)
        })
        .collect::<Result<Vec<_>>>()?;
    let (head, tail) = &*UPDATE_ASSETS;
    let changed = execute_rows(conn, OP, head, rows, tail).await?;
    if changed < updates.len() as u64 {
        return Err(explain_stale_updates(conn, tenant, updates).await);
    }
    Ok(())
}

/// Which update did not apply, and why: the asset is gone (`NotFound`) or was changed since the
/// engine read it (`Conflict`).
async fn explain_stale_updates(
    conn: &mut SqliteConnection,
    tenant: &str,
    updates: &[(&AssetRecord, String)],
) -> Error {
    let ids: Vec<String> = updates
        .iter()
        .map(|(a, _)| id(a.asset_id.as_uuid()))
        .collect();
    let current: Result<HashMap<String, String>> = async {
        let rows = sqlx::query(
            "SELECT asset_id, updated_at FROM assets \
             WHERE tenant = ?1 AND asset_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(tenant)
        .bind(json_array(ids.iter().map(String::as_str))?)
        .fetch_all(&mut *conn)
        .await
        .during(OP)?;
        rows.iter()
            .map(|r| Ok((get(r, "asset_id")?, get(r, "updated_at")?)))
            .collect()
    }
    .await;
    let current = match current {
        Ok(c) => c,
        Err(e) => return e,
    };
    for ((a, expected), key) in updates.iter().zip(&ids) {
        match current.get(key) {
            None => {
                return Error::new(
                    ErrorKind::NotFound,
                    format!("asset {} does not exist", a.asset_id),
                );
            }
            Some(found) if found != expected => {
                return Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "asset {} was changed concurrently (updated_at {found}, expected {expected})",
                        a.asset_id
                    ),
                );
            }
            Some(_) => {}
        }
    }
    Error::new(
        ErrorKind::Conflict,
        "an asset update matched no row (changed concurrently)",
    )
}

/// Keeps `rmm_sync_asset_identifiers` equal to the normalized identifiers of every written
/// asset, for cross-provider matching lookups; only in tenants whose identifiers are maintained
/// (see [`super::identifiers`]).
async fn write_identifiers(
    conn: &mut SqliteConnection,
    tenant: &str,
    inserted: &[&AssetRecord],
    updated: &[&AssetRecord],
) -> Result<()> {
    if !updated.is_empty() {
        let ids = updated
            .iter()
            .map(|a| id(a.asset_id.as_uuid()))
            .collect::<Vec<_>>();
        sqlx::query(
            "DELETE FROM rmm_sync_asset_identifiers \
             WHERE tenant = ?1 AND asset_id IN (SELECT value FROM json_each(?2))",
        )
        .bind(tenant)
        .bind(json_array(ids.iter().map(String::as_str))?)
        .execute(&mut *conn)
        .await
        .during(OP)?;
    }
    let mut rows = Vec::new();
    for a in inserted.iter().chain(updated) {
        let asset_id = id(a.asset_id.as_uuid());
        for (kind, value) in identifier_rows(a) {
            rows.push(vec![
                tenant.into(),
                asset_id.clone().into(),
                kind.into(),
                value.into(),
            ]);
        }
    }
    execute_rows(conn, OP, identifiers::INSERT_IDENTIFIERS, rows, "").await?;
    Ok(())
}

/// The identifier rows of an asset: kind `s` (serial), `m` (MAC), `u` (system UUID).
pub(super) fn identifier_rows(a: &AssetRecord) -> Vec<(&'static str, String)> {
    identifiers::key_rows(&a.identity, a.serial_number.as_deref())
}

/// The table of an extension kind.
pub(super) fn extension_table(kind: ExtensionKind) -> &'static str {
    match kind {
        ExtensionKind::Workstation => "workstation_assets",
        ExtensionKind::Server => "server_assets",
    }
}

/// The extension values in [`EXTENSION_COLUMNS`] order.
pub(super) fn extension_values(r: &ExtensionRow) -> Result<Vec<Val>> {
    Ok(vec![
        r.os_type.clone().into(),
        r.os_version.clone().into(),
        r.agent_version.clone().into(),
        r.current_user.clone().into(),
        r.uptime_seconds.into(),
        r.lan_ip.clone().into(),
        r.wan_ip.clone().into(),
        r.antivirus_status.clone().into(),
        r.antivirus_product.clone().into(),
        ts_opt(r.last_reboot_at).into(),
        r.pending_patches.into(),
        r.pending_os_patches.into(),
        r.pending_software_patches.into(),
        r.failed_patches.into(),
        ts_opt(r.last_patch_scan_at).into(),
        r.cpu_model.clone().into(),
        r.cpu_cores.into(),
        r.ram_gb.into(),
        json_opt(r.disk_usage.as_ref())?.into(),
        json_opt(r.installed_software.as_ref())?.into(),
        json_opt(r.system_info.as_ref())?.into(),
    ])
}

/// `INSERT INTO <table> … ON CONFLICT DO UPDATE` head and tail for an extension table.
fn upsert_extension_sql(table: &str) -> (String, String) {
    let head = format!(
        "INSERT INTO {table} (tenant, asset_id, {}, updated_at) ",
        EXTENSION_COLUMNS.join(", ")
    );
    let sets: Vec<String> = EXTENSION_COLUMNS
        .iter()
        .chain(["updated_at"].iter())
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let tail = format!(
        " ON CONFLICT (tenant, asset_id) DO UPDATE SET {}",
        sets.join(", ")
    );
    (head, tail)
}

static UPSERT_WORKSTATION: LazyLock<(String, String)> =
    LazyLock::new(|| upsert_extension_sql("workstation_assets"));
static UPSERT_SERVER: LazyLock<(String, String)> =
    LazyLock::new(|| upsert_extension_sql("server_assets"));

async fn write_extensions(
    conn: &mut SqliteConnection,
    tenant: &str,
    writes: &[DeviceWrite],
) -> Result<()> {
    for kind in [ExtensionKind::Workstation, ExtensionKind::Server] {
        let gone: Vec<String> = writes
            .iter()
            .filter(|w| w.extension.delete.contains(&kind))
            .map(|w| id(w.asset_id.as_uuid()))
            .collect();
        if !gone.is_empty() {
            sqlx::query(&format!(
                "DELETE FROM {} WHERE tenant = ?1 AND asset_id IN (SELECT value FROM json_each(?2))",
                extension_table(kind)
            ))
            .bind(tenant)
            .bind(json_array(gone.iter().map(String::as_str))?)
            .execute(&mut *conn)
            .await
            .during(OP)?;
        }
    }
    for kind in [ExtensionKind::Workstation, ExtensionKind::Server] {
        let mut rows = Vec::new();
        for w in writes {
            if let Some((k, row)) = &w.extension.upsert
                && *k == kind
            {
                let mut values = vec![tenant.into(), id(w.asset_id.as_uuid()).into()];
                values.extend(extension_values(row)?);
                values.push(ts(w.mapping.last_synced_at).into());
                rows.push(values);
            }
        }
        let (head, tail) = match kind {
            ExtensionKind::Workstation => &*UPSERT_WORKSTATION,
            ExtensionKind::Server => &*UPSERT_SERVER,
        };
        execute_rows(conn, OP, head, rows, tail).await?;
    }
    Ok(())
}

/// Mapping columns in bind order.
const MAPPING_WRITE_COLUMNS: &[&str] = &[
    "id",
    "tenant",
    "integration_type",
    "alga_entity_type",
    "alga_entity_id",
    "external_entity_id",
    "external_realm_id",
    "sync_status",
    "last_synced_at",
    "metadata",
    "created_at",
    "updated_at",
    "integration_id",
    "fingerprint",
    "written",
    "deleted_at",
];

static UPSERT_MAPPINGS: LazyLock<(String, String)> = LazyLock::new(|| {
    let head = format!(
        "INSERT INTO tenant_external_entity_mappings ({}) ",
        MAPPING_WRITE_COLUMNS.join(", ")
    );
    let sets: Vec<String> = MAPPING_WRITE_COLUMNS[2..]
        .iter()
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let tail = format!(
        " ON CONFLICT (tenant, id) DO UPDATE SET {}",
        sets.join(", ")
    );
    (head, tail)
});

fn mapping_values(tenant: &str, m: &MappingRecord) -> Result<Vec<Val>> {
    Ok(vec![
        id(m.id.as_uuid()).into(),
        tenant.into(),
        m.provider.as_str().into(),
        "asset".into(),
        id(m.asset_id.as_uuid()).into(),
        m.external_id.as_str().into(),
        m.scope_id.as_str().into(),
        m.status.as_str().into(),
        ts(m.last_synced_at).into(),
        json(&m.metadata)?.into(),
        ts(m.created_at).into(),
        // The mapping's last write is the engine's batch time.
        ts(m.last_synced_at).into(),
        id(m.integration_id.as_uuid()).into(),
        m.fingerprint.clone().into(),
        json_opt(m.written.as_ref())?.into(),
        ts_opt(m.deleted_at).into(),
    ])
}

async fn upsert_mappings(
    conn: &mut SqliteConnection,
    tenant: &str,
    writes: &[DeviceWrite],
) -> Result<()> {
    let rows = writes
        .iter()
        .map(|w| mapping_values(tenant, &w.mapping))
        .collect::<Result<Vec<_>>>()?;
    let (head, tail) = &*UPSERT_MAPPINGS;
    execute_rows(conn, OP, head, rows, tail).await?;
    Ok(())
}

/// Asset ids as the JSON array `json_each` expands.
pub(super) fn asset_id_array<'a>(ids: impl IntoIterator<Item = &'a AssetId>) -> Result<String> {
    let ids: Vec<String> = ids.into_iter().map(|a| id(a.as_uuid())).collect();
    json_array(ids.iter().map(String::as_str))
}
