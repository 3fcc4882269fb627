//! Column lists and row decoders shared by the queries.

use std::sync::LazyLock;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::codec::{parse_id, parse_json, parse_json_opt, parse_ts, parse_ts_opt};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatus, AssetId, ClientId, DeviceKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, MappingId, ProviderId, ScopeKind,
};
use crate::store::{
    AssetRecord, IntegrationRecord, MappingRecord, MappingStatus, ScopeRecord, SyncStatus,
};

/// Reads one column, naming it in the error.
pub(super) fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(column).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("sqlite store: column {column}: {e}"),
        )
        .with_context("column", column)
    })
}

fn get_id(row: &SqliteRow, column: &str) -> Result<uuid::Uuid> {
    parse_id(column, &get::<String>(row, column)?)
}

fn get_ts(row: &SqliteRow, column: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    parse_ts(column, &get::<String>(row, column)?)
}

fn get_ts_opt(row: &SqliteRow, column: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    parse_ts_opt(column, get(row, column)?)
}

fn get_json_map(
    row: &SqliteRow,
    column: &str,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    Ok(parse_json_opt(column, get(row, column)?)?.unwrap_or_default())
}

/// A provider slug as stored; a value that is not a valid slug (written by someone else)
/// reads as no provider rather than failing the whole batch.
fn provider_lenient(s: Option<String>) -> Option<ProviderId> {
    s.and_then(|s| s.parse().ok())
}

// ---- integrations ---------------------------------------------------------------------------

/// Columns of an [`IntegrationRecord`].
pub(super) const INTEGRATION_COLUMNS: &str = "integration_id, provider, instance_url, is_active, \
     connected_at, last_sync_at, last_full_sync_at, last_incremental_sync_at, sync_status, \
     sync_error, settings, rmm_sync_cursor, created_at, updated_at";

pub(super) fn integration(row: &SqliteRow) -> Result<IntegrationRecord> {
    let provider: String = get(row, "provider")?;
    Ok(IntegrationRecord {
        integration_id: IntegrationId::from_uuid(get_id(row, "integration_id")?),
        provider: provider.parse().map_err(|e: Error| {
            Error::new(
                ErrorKind::Decode,
                format!("sqlite store: column provider: {}", e.message()),
            )
        })?,
        instance_url: get(row, "instance_url")?,
        is_active: get(row, "is_active")?,
        connected_at: get_ts_opt(row, "connected_at")?,
        last_sync_at: get_ts_opt(row, "last_sync_at")?,
        last_full_sync_at: get_ts_opt(row, "last_full_sync_at")?,
        last_incremental_sync_at: get_ts_opt(row, "last_incremental_sync_at")?,
        sync_status: get::<Option<String>>(row, "sync_status")?
            .map(|s| SyncStatus::parse_lenient(&s))
            .unwrap_or_default(),
        sync_error: get(row, "sync_error")?,
        settings: get_json_map(row, "settings")?,
        cursor: get(row, "rmm_sync_cursor")?,
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
    })
}

// ---- scopes -----------------------------------------------------------------------------------

/// Columns of a [`ScopeRecord`].
pub(super) const SCOPE_COLUMNS: &str = "mapping_id, integration_id, external_organization_id, \
     external_organization_name, parent_external_id, scope_kind, client_id, auto_sync_assets, \
     metadata, last_synced_at, vanished_at";

pub(super) fn scope_kind(s: Option<&str>) -> ScopeKind {
    match s {
        Some("site") => ScopeKind::Site,
        Some("group") => ScopeKind::Group,
        Some("custom") => ScopeKind::Custom,
        _ => ScopeKind::Organization,
    }
}

pub(super) fn scope(row: &SqliteRow) -> Result<ScopeRecord> {
    let client: Option<String> = get(row, "client_id")?;
    Ok(ScopeRecord {
        mapping_id: MappingId::from_uuid(get_id(row, "mapping_id")?),
        integration_id: IntegrationId::from_uuid(get_id(row, "integration_id")?),
        external_id: ExternalScopeId::new(get::<String>(row, "external_organization_id")?),
        name: get::<Option<String>>(row, "external_organization_name")?.unwrap_or_default(),
        parent: get::<Option<String>>(row, "parent_external_id")?.map(ExternalScopeId::new),
        kind: scope_kind(get::<Option<String>>(row, "scope_kind")?.as_deref()),
        client_id: client
            .map(|c| parse_id("client_id", &c).map(ClientId::from_uuid))
            .transpose()?,
        auto_sync_assets: get(row, "auto_sync_assets")?,
        metadata: get_json_map(row, "metadata")?,
        last_synced_at: get_ts_opt(row, "last_synced_at")?,
        vanished_at: get_ts_opt(row, "vanished_at")?,
    })
}

// ---- device mappings --------------------------------------------------------------------------

/// Columns of a [`MappingRecord`].
pub(super) const MAPPING_COLUMNS: &str = "id, integration_type, integration_id, alga_entity_id, \
     external_entity_id, external_realm_id, sync_status, last_synced_at, deleted_at, metadata, \
     fingerprint, written, created_at";

pub(super) fn mapping(row: &SqliteRow) -> Result<MappingRecord> {
    let provider: String = get(row, "integration_type")?;
    let created_at = get_ts(row, "created_at")?;
    Ok(MappingRecord {
        id: MappingId::from_uuid(get_id(row, "id")?),
        provider: provider.parse().map_err(|e: Error| {
            Error::new(
                ErrorKind::Decode,
                format!("sqlite store: column integration_type: {}", e.message()),
            )
        })?,
        // Rows written before integrations existed (reference schema) belong to no integration.
        integration_id: IntegrationId::from_uuid(
            get::<Option<String>>(row, "integration_id")?
                .map(|s| parse_id("integration_id", &s))
                .transpose()?
                .unwrap_or_default(),
        ),
        asset_id: AssetId::from_uuid(get_id(row, "alga_entity_id")?),
        external_id: ExternalDeviceId::new(get::<String>(row, "external_entity_id")?),
        scope_id: ExternalScopeId::new(
            get::<Option<String>>(row, "external_realm_id")?.unwrap_or_default(),
        ),
        status: MappingStatus::parse_lenient(
            get::<Option<String>>(row, "sync_status")?
                .as_deref()
                .unwrap_or_default(),
        ),
        last_synced_at: get_ts_opt(row, "last_synced_at")?.unwrap_or(created_at),
        deleted_at: get_ts_opt(row, "deleted_at")?,
        metadata: get_json_map(row, "metadata")?,
        fingerprint: get(row, "fingerprint")?,
        written: parse_json_opt("written", get(row, "written")?)?,
        created_at,
    })
}

// ---- assets and extension rows ----------------------------------------------------------------

/// The engine-managed `assets` columns, in bind order for inserts.
pub(super) const ASSET_COLUMNS: [&str; 18] = [
    "tenant",
    "asset_id",
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
    "created_at",
    "updated_at",
];

/// The extension columns the engine writes; identical names in `workstation_assets` and
/// `server_assets`.
pub(super) const EXTENSION_COLUMNS: [&str; 21] = [
    "os_type",
    "os_version",
    "agent_version",
    "\"current_user\"",
    "uptime_seconds",
    "lan_ip",
    "wan_ip",
    "antivirus_status",
    "antivirus_product",
    "last_reboot_at",
    "pending_patches",
    "pending_os_patches",
    "pending_software_patches",
    "failed_patches",
    "last_patch_scan_at",
    "cpu_model",
    "cpu_cores",
    "ram_gb",
    "disk_usage",
    "installed_software",
    "system_info",
];

/// `SELECT … FROM assets a` with the extension row of the asset's type joined in, its columns
/// prefixed `x_` and `x_present` telling whether the row exists. Filter with `WHERE` after it.
pub(super) static SELECT_ASSET_WITH_EXTENSION: LazyLock<String> = LazyLock::new(|| {
    let mut sql = String::from("SELECT ");
    for c in &ASSET_COLUMNS[1..] {
        sql.push_str("a.");
        sql.push_str(c);
        sql.push_str(", ");
    }
    for c in EXTENSION_COLUMNS {
        let bare = c.trim_matches('"');
        sql.push_str(&format!(
            "CASE a.asset_type WHEN 'server' THEN s.{c} ELSE w.{c} END AS x_{bare}, "
        ));
    }
    sql.push_str(
        "CASE a.asset_type WHEN 'server' THEN s.asset_id WHEN 'workstation' THEN w.asset_id END \
         AS x_present \
         FROM assets a \
         LEFT JOIN workstation_assets w ON w.tenant = a.tenant AND w.asset_id = a.asset_id \
           AND a.asset_type = 'workstation' \
         LEFT JOIN server_assets s ON s.tenant = a.tenant AND s.asset_id = a.asset_id \
           AND a.asset_type = 'server' ",
    );
    sql
});

/// `SELECT <extension columns> FROM {table}`, unprefixed, for [`extension`] with prefix "".
pub(super) fn select_extension(table: &str) -> String {
    format!(
        "SELECT {} FROM {table} WHERE tenant = ?1 AND asset_id = ?2",
        EXTENSION_COLUMNS.join(", ")
    )
}

/// An asset decoded from [`SELECT_ASSET_WITH_EXTENSION`].
pub(super) fn asset_with_extension(row: &SqliteRow) -> Result<AssetRecord> {
    let mut a = asset(row)?;
    if get::<Option<String>>(row, "x_present")?.is_some() {
        a.extension = Some(extension(row, "x_")?);
    }
    Ok(a)
}

fn asset(row: &SqliteRow) -> Result<AssetRecord> {
    Ok(AssetRecord {
        asset_id: AssetId::from_uuid(get_id(row, "asset_id")?),
        client_id: ClientId::from_uuid(get_id(row, "client_id")?),
        asset_type: DeviceKind::parse_lenient(&get::<String>(row, "asset_type")?),
        asset_tag: get(row, "asset_tag")?,
        name: get(row, "name")?,
        serial_number: get(row, "serial_number")?,
        status: get(row, "status")?,
        location: get(row, "location")?,
        rmm_provider: provider_lenient(get(row, "rmm_provider")?),
        rmm_device_id: get(row, "rmm_device_id")?,
        rmm_organization_id: get(row, "rmm_organization_id")?,
        agent_status: get::<Option<String>>(row, "agent_status")?
            .map(|s| AgentStatus::parse_lenient(&s)),
        last_seen_at: get_ts_opt(row, "last_seen_at")?,
        last_rmm_sync_at: get_ts_opt(row, "last_rmm_sync_at")?,
        identity: parse_json_opt("rmm_identity", get(row, "rmm_identity")?)?.unwrap_or_default(),
        created_at: get_ts(row, "created_at")?,
        updated_at: get_ts(row, "updated_at")?,
        extension: None,
    })
}

/// An extension row whose columns carry `prefix`.
pub(super) fn extension(row: &SqliteRow, prefix: &str) -> Result<ExtensionRow> {
    let col = |name: &str| format!("{prefix}{name}");
    let text = |name: &str| get::<Option<String>>(row, &col(name));
    let int = |name: &str| get::<Option<i32>>(row, &col(name));
    let time = |name: &str| -> Result<_> { parse_ts_opt(name, text(name)?) };
    Ok(ExtensionRow {
        os_type: text("os_type")?,
        os_version: text("os_version")?,
        agent_version: text("agent_version")?,
        current_user: text("current_user")?,
        uptime_seconds: get(row, &col("uptime_seconds"))?,
        lan_ip: text("lan_ip")?,
        wan_ip: text("wan_ip")?,
        antivirus_status: text("antivirus_status")?,
        antivirus_product: text("antivirus_product")?,
        last_reboot_at: time("last_reboot_at")?,
        pending_patches: int("pending_patches")?,
        pending_os_patches: int("pending_os_patches")?,
        pending_software_patches: int("pending_software_patches")?,
        failed_patches: int("failed_patches")?,
        last_patch_scan_at: time("last_patch_scan_at")?,
        cpu_model: text("cpu_model")?,
        cpu_cores: int("cpu_cores")?,
        ram_gb: get(row, &col("ram_gb"))?,
        disk_usage: parse_json_opt("disk_usage", text("disk_usage")?)?,
        installed_software: parse_json_opt("installed_software", text("installed_software")?)?,
        system_info: text("system_info")?
            .map(|s| parse_json("system_info", &s))
            .transpose()?,
    })
}
