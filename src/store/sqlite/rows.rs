//! How rows are read: every multi-column read selects each row as one JSON object
//! (`json_object(...)`), and batch reads fold all rows into one JSON array
//! (`json_group_array`). One value crosses from SQLite's worker thread per query instead of
//! one message per row and one decode call per column, which halves the CPU cost of a
//! correlation. Values keep their exact stored text; REAL columns are rendered with
//! `printf('%!.17g')`, which round-trips every double exactly (JSON's own rendering keeps
//! only 15 digits).

use serde::Deserialize;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::codec::{parse_id, parse_json, parse_json_opt, parse_ts, parse_ts_opt};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatus, AssetId, ClientId, DeviceKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, MappingId, ProviderId, ScopeKind,
};
use crate::store::{
    AssetRecord, IntegrationRecord, LeaseInfo, MappingRecord, MappingStatus, ScopeRecord,
    SyncStatus,
};

/// Reads one plain column, naming it in the error.
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

/// Parses the JSON text of one row object or of a `json_group_array` of them.
pub(super) fn parse_rows<T: for<'de> Deserialize<'de>>(what: &str, json: &str) -> Result<T> {
    serde_json::from_str(json).map_err(|e| {
        Error::new(
            ErrorKind::Decode,
            format!("sqlite store: reading {what}: {e}"),
        )
    })
}

fn bad(column: &str, e: Error) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("sqlite store: column {column}: {}", e.message()),
    )
    .with_context("column", column)
}

fn provider(column: &str, s: &str) -> Result<ProviderId> {
    s.parse().map_err(|e| bad(column, e))
}

fn real(column: &str, s: Option<String>) -> Result<Option<f64>> {
    s.map(|s| {
        s.parse().map_err(|_| {
            Error::new(
                ErrorKind::Decode,
                format!("sqlite store: column {column}: {s:?} is not a number"),
            )
        })
    })
    .transpose()
}

// ---- integrations ---------------------------------------------------------------------------

/// One [`IntegrationRecord`] as a JSON object.
pub(super) const INTEGRATION_JSON: &str = "json_object('integration_id', integration_id, \
     'provider', provider, 'instance_url', instance_url, 'is_active', is_active, \
     'connected_at', connected_at, 'last_sync_at', last_sync_at, \
     'last_full_sync_at', last_full_sync_at, 'last_incremental_sync_at', last_incremental_sync_at, \
     'sync_status', sync_status, 'sync_error', sync_error, 'settings', settings, \
     'rmm_sync_cursor', rmm_sync_cursor, 'lease_holder', lease_holder, \
     'lease_expires_at', lease_expires_at, 'created_at', created_at, 'updated_at', updated_at)";

#[derive(Deserialize)]
pub(super) struct IntegrationJson {
    integration_id: String,
    provider: String,
    instance_url: Option<String>,
    is_active: i64,
    connected_at: Option<String>,
    last_sync_at: Option<String>,
    last_full_sync_at: Option<String>,
    last_incremental_sync_at: Option<String>,
    sync_status: Option<String>,
    sync_error: Option<String>,
    settings: Option<String>,
    rmm_sync_cursor: Option<String>,
    lease_holder: Option<String>,
    lease_expires_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl IntegrationJson {
    pub(super) fn into_record(self) -> Result<IntegrationRecord> {
        Ok(IntegrationRecord {
            integration_id: IntegrationId::from_uuid(parse_id(
                "integration_id",
                &self.integration_id,
            )?),
            provider: provider("provider", &self.provider)?,
            instance_url: self.instance_url,
            is_active: self.is_active != 0,
            connected_at: parse_ts_opt("connected_at", self.connected_at)?,
            last_sync_at: parse_ts_opt("last_sync_at", self.last_sync_at)?,
            last_full_sync_at: parse_ts_opt("last_full_sync_at", self.last_full_sync_at)?,
            last_incremental_sync_at: parse_ts_opt(
                "last_incremental_sync_at",
                self.last_incremental_sync_at,
            )?,
            sync_status: self
                .sync_status
                .map(|s| SyncStatus::parse_lenient(&s))
                .unwrap_or_default(),
            sync_error: self.sync_error,
            settings: parse_json_opt("settings", self.settings)?.unwrap_or_default(),
            cursor: self.rmm_sync_cursor,
            lease: match (self.lease_holder, self.lease_expires_at) {
                (Some(holder), Some(expires_at)) => Some(LeaseInfo {
                    holder,
                    expires_at: parse_ts("lease_expires_at", &expires_at)?,
                }),
                _ => None,
            },
            created_at: parse_ts("created_at", &self.created_at)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
        })
    }
}

// ---- scopes -----------------------------------------------------------------------------------

/// One [`ScopeRecord`] as a JSON object.
pub(super) const SCOPE_JSON: &str = "json_object('mapping_id', mapping_id, \
     'integration_id', integration_id, 'external_organization_id', external_organization_id, \
     'external_organization_name', external_organization_name, \
     'parent_external_id', parent_external_id, 'scope_kind', scope_kind, \
     'client_id', client_id, 'auto_sync_assets', auto_sync_assets, 'metadata', metadata, \
     'last_synced_at', last_synced_at, 'vanished_at', vanished_at)";

#[derive(Deserialize)]
pub(super) struct ScopeJson {
    mapping_id: String,
    integration_id: String,
    external_organization_id: String,
    external_organization_name: Option<String>,
    parent_external_id: Option<String>,
    scope_kind: Option<String>,
    client_id: Option<String>,
    auto_sync_assets: i64,
    metadata: Option<String>,
    last_synced_at: Option<String>,
    vanished_at: Option<String>,
}

fn scope_kind(s: Option<&str>) -> ScopeKind {
    match s {
        Some("site") => ScopeKind::Site,
        Some("group") => ScopeKind::Group,
        Some("custom") => ScopeKind::Custom,
        _ => ScopeKind::Organization,
    }
}

impl ScopeJson {
    pub(super) fn into_record(self) -> Result<ScopeRecord> {
        Ok(ScopeRecord {
            mapping_id: MappingId::from_uuid(parse_id("mapping_id", &self.mapping_id)?),
            integration_id: IntegrationId::from_uuid(parse_id(
                "integration_id",
                &self.integration_id,
            )?),
            external_id: ExternalScopeId::new(self.external_organization_id),
            name: self.external_organization_name.unwrap_or_default(),
            parent: self.parent_external_id.map(ExternalScopeId::new),
            kind: scope_kind(self.scope_kind.as_deref()),
            client_id: self
                .client_id
                .map(|c| parse_id("client_id", &c).map(ClientId::from_uuid))
                .transpose()?,
            auto_sync_assets: self.auto_sync_assets != 0,
            metadata: parse_json_opt("metadata", self.metadata)?.unwrap_or_default(),
            last_synced_at: parse_ts_opt("last_synced_at", self.last_synced_at)?,
            vanished_at: parse_ts_opt("vanished_at", self.vanished_at)?,
        })
    }
}

// ---- device mappings --------------------------------------------------------------------------

/// One [`MappingRecord`] as a JSON object.
pub(super) const MAPPING_JSON: &str = "json_object('id', id, \
     'integration_type', integration_type, 'integration_id', integration_id, \
     'alga_entity_id', alga_entity_id, 'external_entity_id', external_entity_id, \
     'external_realm_id', external_realm_id, 'sync_status', sync_status, \
     'last_synced_at', last_synced_at, 'deleted_at', deleted_at, 'metadata', metadata, \
     'fingerprint', fingerprint, 'written', written, 'created_at', created_at)";

#[derive(Deserialize)]
pub(super) struct MappingJson {
    id: String,
    integration_type: String,
    integration_id: Option<String>,
    alga_entity_id: String,
    external_entity_id: String,
    external_realm_id: Option<String>,
    sync_status: Option<String>,
    last_synced_at: Option<String>,
    deleted_at: Option<String>,
    metadata: Option<String>,
    fingerprint: Option<String>,
    written: Option<String>,
    created_at: String,
}

impl MappingJson {
    pub(super) fn into_record(self) -> Result<MappingRecord> {
        let created_at = parse_ts("created_at", &self.created_at)?;
        Ok(MappingRecord {
            id: MappingId::from_uuid(parse_id("id", &self.id)?),
            provider: provider("integration_type", &self.integration_type)?,
            // Rows written before integrations existed (reference schema) belong to none.
            integration_id: IntegrationId::from_uuid(
                self.integration_id
                    .map(|s| parse_id("integration_id", &s))
                    .transpose()?
                    .unwrap_or_default(),
            ),
            asset_id: AssetId::from_uuid(parse_id("alga_entity_id", &self.alga_entity_id)?),
            external_id: ExternalDeviceId::new(self.external_entity_id),
            scope_id: ExternalScopeId::new(self.external_realm_id.unwrap_or_default()),
            status: MappingStatus::parse_lenient(self.sync_status.as_deref().unwrap_or_default()),
            last_synced_at: parse_ts_opt("last_synced_at", self.last_synced_at)?
                .unwrap_or(created_at),
            deleted_at: parse_ts_opt("deleted_at", self.deleted_at)?,
            metadata: parse_json_opt("metadata", self.metadata)?.unwrap_or_default(),
            fingerprint: self.fingerprint,
            written: parse_json_opt("written", self.written)?,
            created_at,
        })
    }
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

pub(super) use crate::store::sql_columns::EXTENSION_COLUMNS;

/// The REAL extension column (rendered as exact text, see the module docs).
const REAL_COLUMN: &str = "ram_gb";

/// `json_object(...)` of the extension columns, each taken from `column(name)`.
fn extension_json(column: impl Fn(&str) -> String) -> String {
    let fields: Vec<String> = EXTENSION_COLUMNS
        .iter()
        .map(|c| {
            let key = c.trim_matches('"');
            let value = column(c);
            if key == REAL_COLUMN {
                format!("'{key}', iif({value} IS NULL, NULL, printf('%!.17g', {value}))")
            } else {
                format!("'{key}', {value}")
            }
        })
        .collect();
    format!("json_object({})", fields.join(", "))
}

/// `SELECT <asset as JSON> FROM assets a` with the extension row of the asset's type joined
/// in (`x` is null when there is none). Filter with `WHERE` after it; wrap the object in
/// `json_group_array` with [`select_asset_array`].
pub(super) static ASSET_JSON: std::sync::LazyLock<(String, &'static str)> =
    std::sync::LazyLock::new(|| {
        let mut fields: Vec<String> = ASSET_COLUMNS[1..]
            .iter()
            .map(|c| format!("'{c}', a.{c}"))
            .collect();
        let ext = extension_json(|c| {
            format!("CASE a.asset_type WHEN 'server' THEN s.{c} ELSE w.{c} END")
        });
        fields.push(format!(
            "'x', CASE WHEN COALESCE(w.asset_id, s.asset_id) IS NULL THEN NULL ELSE {ext} END"
        ));
        let object = format!("json_object({})", fields.join(", "));
        let from = "FROM assets a \
             LEFT JOIN workstation_assets w ON w.tenant = a.tenant AND w.asset_id = a.asset_id \
               AND a.asset_type = 'workstation' \
             LEFT JOIN server_assets s ON s.tenant = a.tenant AND s.asset_id = a.asset_id \
               AND a.asset_type = 'server'";
        (object, from)
    });

/// `SELECT <asset object> FROM …` (one row per asset).
pub(super) fn select_asset_rows() -> String {
    let (object, from) = &*ASSET_JSON;
    format!("SELECT {object} AS row {from}")
}

/// `SELECT json_group_array(<asset object>) FROM …` (one row for all assets).
pub(super) fn select_asset_array() -> String {
    let (object, from) = &*ASSET_JSON;
    format!("SELECT json_group_array({object}) AS rows {from}")
}

/// `SELECT <extension object> FROM {table}` for one asset.
pub(super) fn select_extension(table: &str) -> String {
    format!(
        "SELECT {} AS row FROM {table} WHERE tenant = ?1 AND asset_id = ?2",
        extension_json(|c| c.to_owned())
    )
}

#[derive(Deserialize)]
pub(super) struct AssetJson {
    asset_id: String,
    client_id: String,
    asset_type: String,
    asset_tag: String,
    name: String,
    serial_number: Option<String>,
    status: String,
    location: Option<String>,
    rmm_provider: Option<String>,
    rmm_device_id: Option<String>,
    rmm_organization_id: Option<String>,
    agent_status: Option<String>,
    last_seen_at: Option<String>,
    last_rmm_sync_at: Option<String>,
    rmm_identity: Option<String>,
    created_at: String,
    updated_at: String,
    x: Option<ExtensionJson>,
}

impl AssetJson {
    pub(super) fn into_record(self) -> Result<AssetRecord> {
        Ok(AssetRecord {
            asset_id: AssetId::from_uuid(parse_id("asset_id", &self.asset_id)?),
            client_id: ClientId::from_uuid(parse_id("client_id", &self.client_id)?),
            asset_type: DeviceKind::parse_lenient(&self.asset_type),
            asset_tag: self.asset_tag,
            name: self.name,
            serial_number: self.serial_number,
            status: self.status,
            location: self.location,
            // A value that is not a valid slug (written by someone else) reads as no provider
            // rather than failing the whole batch.
            rmm_provider: self.rmm_provider.and_then(|p| p.parse().ok()),
            rmm_device_id: self.rmm_device_id,
            rmm_organization_id: self.rmm_organization_id,
            agent_status: self.agent_status.map(|s| AgentStatus::parse_lenient(&s)),
            last_seen_at: parse_ts_opt("last_seen_at", self.last_seen_at)?,
            last_rmm_sync_at: parse_ts_opt("last_rmm_sync_at", self.last_rmm_sync_at)?,
            identity: parse_json_opt("rmm_identity", self.rmm_identity)?.unwrap_or_default(),
            created_at: parse_ts("created_at", &self.created_at)?,
            updated_at: parse_ts("updated_at", &self.updated_at)?,
            extension: self.x.map(ExtensionJson::into_row).transpose()?,
        })
    }
}

#[derive(Deserialize)]
pub(super) struct ExtensionJson {
    os_type: Option<String>,
    os_version: Option<String>,
    agent_version: Option<String>,
    current_user: Option<String>,
    uptime_seconds: Option<i64>,
    lan_ip: Option<String>,
    wan_ip: Option<String>,
    antivirus_status: Option<String>,
    antivirus_product: Option<String>,
    last_reboot_at: Option<String>,
    pending_patches: Option<i32>,
    pending_os_patches: Option<i32>,
    pending_software_patches: Option<i32>,
    failed_patches: Option<i32>,
    last_patch_scan_at: Option<String>,
    cpu_model: Option<String>,
    cpu_cores: Option<i32>,
    ram_gb: Option<String>,
    disk_usage: Option<String>,
    installed_software: Option<String>,
    system_info: Option<String>,
}

impl ExtensionJson {
    pub(super) fn into_row(self) -> Result<ExtensionRow> {
        Ok(ExtensionRow {
            os_type: self.os_type,
            os_version: self.os_version,
            agent_version: self.agent_version,
            current_user: self.current_user,
            uptime_seconds: self.uptime_seconds,
            lan_ip: self.lan_ip,
            wan_ip: self.wan_ip,
            antivirus_status: self.antivirus_status,
            antivirus_product: self.antivirus_product,
            last_reboot_at: parse_ts_opt("last_reboot_at", self.last_reboot_at)?,
            pending_patches: self.pending_patches,
            pending_os_patches: self.pending_os_patches,
            pending_software_patches: self.pending_software_patches,
            failed_patches: self.failed_patches,
            last_patch_scan_at: parse_ts_opt("last_patch_scan_at", self.last_patch_scan_at)?,
            cpu_model: self.cpu_model,
            cpu_cores: self.cpu_cores,
            ram_gb: real(REAL_COLUMN, self.ram_gb)?,
            disk_usage: parse_json_opt("disk_usage", self.disk_usage)?,
            installed_software: parse_json_opt("installed_software", self.installed_software)?,
            system_info: self
                .system_info
                .map(|s| parse_json("system_info", &s))
                .transpose()?,
        })
    }
}

/// Decodes rows that each hold one JSON object in column `row`.
pub(super) fn decode_each<J, T>(
    rows: &[SqliteRow],
    what: &str,
    convert: impl Fn(J) -> Result<T>,
) -> Result<Vec<T>>
where
    J: for<'de> Deserialize<'de>,
{
    rows.iter()
        .map(|r| convert(parse_rows(what, &get::<String>(r, "row")?)?))
        .collect()
}

/// Decodes a `json_group_array` (SQLite returns `[]` for no rows).
pub(super) fn decode_array<J, T>(
    json: &str,
    what: &str,
    convert: impl Fn(J) -> Result<T>,
) -> Result<Vec<T>>
where
    J: for<'de> Deserialize<'de>,
{
    parse_rows::<Vec<J>>(what, json)?
        .into_iter()
        .map(convert)
        .collect()
}
