//! Column lists shared by every query that reads mappings, assets (with their extension row)
//! and scopes, and the positional decoders for them.
//!
//! Rows are read by position, block by block, so one wide row (see `correlate`) can carry
//! several record kinds without a name lookup per column.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Decode, Postgres, Row, Type};
use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatus, AssetId, ClientId, DeviceKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IdentityHints, IntegrationId, MappingId, ProviderId, ScopeKind, StorageInfo,
};
use crate::store::{AssetRecord, MappingRecord, MappingStatus, ScopeRecord, WrittenValues};

pub(super) use crate::store::sql_columns::EXTENSION_COLUMNS;

/// A mapping row (`tenant_external_entity_mappings` aliased `m`): 13 columns.
pub(super) const MAPPING_COLUMNS: &str = "m.id, m.integration_type, m.integration_id, \
    m.alga_entity_id, m.external_entity_id, m.external_realm_id, m.sync_status, \
    m.last_synced_at, m.deleted_at, m.metadata, m.fingerprint, m.written, m.created_at";
pub(super) const MAPPING_WIDTH: usize = 13;

/// An asset row (`assets` aliased `a`): 17 columns.
pub(super) const ASSET_COLUMNS: &str = "a.asset_id, a.client_id, a.asset_type, a.asset_tag, \
    a.name, a.serial_number, a.status, a.location, a.rmm_provider, a.rmm_device_id, \
    a.rmm_organization_id, a.agent_status, a.last_seen_at, a.last_rmm_sync_at, a.rmm_identity, \
    a.created_at, a.updated_at";
pub(super) const ASSET_WIDTH: usize = 17;

/// The extension block: a presence flag and the 21 extension columns, from whichever of the
/// two tables matches the asset's type (joined as `w` and `s`, see [`ASSET_FROM`]).
pub(super) static EXTENSION_SELECT: LazyLock<String> = LazyLock::new(|| {
    let mut cols = vec!["(w.asset_id IS NOT NULL OR s.asset_id IS NOT NULL)".to_owned()];
    cols.extend(
        EXTENSION_COLUMNS
            .iter()
            .map(|c| format!("COALESCE(w.{c}, s.{c})")),
    );
    cols.join(", ")
});
pub(super) const EXTENSION_WIDTH: usize = 22;

/// `assets a` with its extension row joined. Each extension table is probed only for assets
/// of its type: the type test is a one-time filter inside the fenced (`OFFSET 0`) lateral
/// subquery, so the other table's index is not touched.
pub(super) const ASSET_FROM: &str = "assets a \
    LEFT JOIN LATERAL (SELECT * FROM workstation_assets w0 WHERE a.asset_type = 'workstation' \
        AND w0.tenant = a.tenant AND w0.asset_id = a.asset_id OFFSET 0) w ON true \
    LEFT JOIN LATERAL (SELECT * FROM server_assets s0 WHERE a.asset_type = 'server' \
        AND s0.tenant = a.tenant AND s0.asset_id = a.asset_id OFFSET 0) s ON true";

/// A scope row (`rmm_organization_mappings` aliased `o`): 11 columns.
pub(super) const SCOPE_COLUMNS: &str = "o.mapping_id, o.integration_id, \
    o.external_organization_id, o.external_organization_name, o.parent_external_id, \
    o.scope_kind, o.client_id, o.auto_sync_assets, o.metadata, o.last_synced_at, o.vanished_at";
pub(super) const SCOPE_WIDTH: usize = 11;
/// The SQL types of [`SCOPE_COLUMNS`], for the typed NULLs of `UNION ALL` rows of other kinds.
pub(super) const SCOPE_TYPES: [&str; SCOPE_WIDTH] = [
    "uuid",
    "uuid",
    "text",
    "text",
    "text",
    "text",
    "uuid",
    "boolean",
    "jsonb",
    "timestamptz",
    "timestamptz",
];

/// `NULL::type` for each type: the blocks a `UNION ALL` row of another kind leaves empty.
pub(super) fn typed_nulls(types: &[&str]) -> Vec<String> {
    types.iter().map(|t| format!("NULL::{t}")).collect()
}

/// Live device mappings: the reference's legacy `error` is its tombstone.
pub(super) const LIVE_MAPPING: &str = "COALESCE(m.sync_status, '') NOT IN ('deleted', 'error')";

/// Reads consecutive columns of a row.
pub(super) struct Cols<'r> {
    row: &'r PgRow,
    at: usize,
}

impl<'r> Cols<'r> {
    pub(super) fn new(row: &'r PgRow, at: usize) -> Self {
        Self { row, at }
    }

    pub(super) fn next<T>(&mut self) -> Result<T>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        let i = self.at;
        self.at += 1;
        self.row.try_get(i).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!("PostgreSQL row column {i} could not be decoded: {e}"),
            )
        })
    }
}

fn decode_err(what: String) -> Error {
    Error::new(ErrorKind::Decode, what)
}

/// A JSON object column; the reference sometimes stored objects as JSON strings.
pub(super) fn json_object(v: Option<Json<Value>>) -> Map<String, Value> {
    match v.map(|j| j.0) {
        Some(Value::Object(m)) => m,
        Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or_default(),
        _ => Map::new(),
    }
}

fn provider(slug: &str) -> Result<ProviderId> {
    slug.parse()
        .map_err(|_| decode_err(format!("stored provider {slug:?} is not a provider slug")))
}

fn asset_id(text: &str) -> Result<AssetId> {
    text.parse().map_err(|_| {
        decode_err(format!(
            "mapping alga_entity_id {text:?} is not an asset id (uuid)"
        ))
    })
}

pub(super) fn scope_kind(s: Option<&str>) -> ScopeKind {
    match s {
        Some("site") => ScopeKind::Site,
        Some("group") => ScopeKind::Group,
        Some("custom") => ScopeKind::Custom,
        _ => ScopeKind::Organization,
    }
}

/// Decodes a [`MAPPING_COLUMNS`] block.
pub(super) fn mapping(c: &mut Cols<'_>) -> Result<MappingRecord> {
    let id: Uuid = c.next()?;
    let integration_type: String = c.next()?;
    let integration: Option<Uuid> = c.next()?;
    let alga_entity_id: String = c.next()?;
    let external: String = c.next()?;
    let realm: Option<String> = c.next()?;
    let status: Option<String> = c.next()?;
    let last_synced_at: Option<DateTime<Utc>> = c.next()?;
    let deleted_at: Option<DateTime<Utc>> = c.next()?;
    let metadata: Option<Json<Value>> = c.next()?;
    let fingerprint: Option<String> = c.next()?;
    let written: Option<Json<WrittenValues>> = c.next()?;
    let created_at: DateTime<Utc> = c.next()?;
    let integration = integration.ok_or_else(|| {
        decode_err(format!(
            "mapping {id} has no integration_id (a legacy row rmm-sync does not own)"
        ))
    })?;
    Ok(MappingRecord {
        id: MappingId::from_uuid(id),
        provider: provider(&integration_type)?,
        integration_id: IntegrationId::from_uuid(integration),
        asset_id: asset_id(&alga_entity_id)?,
        external_id: ExternalDeviceId::new(external),
        scope_id: ExternalScopeId::new(realm.unwrap_or_default()),
        status: MappingStatus::parse_lenient(status.as_deref().unwrap_or("")),
        last_synced_at: last_synced_at.unwrap_or(created_at),
        deleted_at,
        metadata: json_object(metadata),
        fingerprint,
        written: written.map(|w| w.0),
        created_at,
    })
}

/// Decodes an [`ASSET_COLUMNS`] block followed by an [`EXTENSION_SELECT`] block.
pub(super) fn asset(c: &mut Cols<'_>) -> Result<AssetRecord> {
    let asset_id: Uuid = c.next()?;
    let client_id: Uuid = c.next()?;
    let asset_type: String = c.next()?;
    let asset_tag: String = c.next()?;
    let name: String = c.next()?;
    let serial_number: Option<String> = c.next()?;
    let status: String = c.next()?;
    let location: Option<String> = c.next()?;
    let rmm_provider: Option<String> = c.next()?;
    let rmm_device_id: Option<String> = c.next()?;
    let rmm_organization_id: Option<String> = c.next()?;
    let agent_status: Option<String> = c.next()?;
    let last_seen_at: Option<DateTime<Utc>> = c.next()?;
    let last_rmm_sync_at: Option<DateTime<Utc>> = c.next()?;
    let identity: Option<Json<IdentityHints>> = c.next()?;
    let created_at: DateTime<Utc> = c.next()?;
    let updated_at: DateTime<Utc> = c.next()?;
    let extension = extension(c)?;
    Ok(AssetRecord {
        asset_id: AssetId::from_uuid(asset_id),
        client_id: ClientId::from_uuid(client_id),
        asset_type: DeviceKind::parse_lenient(&asset_type),
        asset_tag,
        name,
        serial_number,
        status,
        location,
        // A slug another application wrote that is not one of ours reads as "no provider".
        rmm_provider: rmm_provider.and_then(|p| p.parse().ok()),
        rmm_device_id,
        rmm_organization_id,
        agent_status: agent_status.map(|s| AgentStatus::parse_lenient(&s)),
        last_seen_at,
        last_rmm_sync_at,
        identity: identity.map(|j| j.0).unwrap_or_default(),
        created_at,
        updated_at,
        extension,
    })
}

/// Decodes an [`EXTENSION_SELECT`] block.
pub(super) fn extension(c: &mut Cols<'_>) -> Result<Option<ExtensionRow>> {
    let present: bool = c.next()?;
    let row = ExtensionRow {
        os_type: c.next()?,
        os_version: c.next()?,
        agent_version: c.next()?,
        current_user: c.next()?,
        uptime_seconds: c.next()?,
        lan_ip: c.next()?,
        wan_ip: c.next()?,
        antivirus_status: c.next()?,
        antivirus_product: c.next()?,
        last_reboot_at: c.next()?,
        pending_patches: c.next()?,
        pending_os_patches: c.next()?,
        pending_software_patches: c.next()?,
        failed_patches: c.next()?,
        last_patch_scan_at: c.next()?,
        cpu_model: c.next()?,
        cpu_cores: c.next()?,
        ram_gb: c.next()?,
        disk_usage: c.next::<Option<Json<Vec<StorageInfo>>>>()?.map(|j| j.0),
        installed_software: c.next::<Option<Json<Vec<Value>>>>()?.map(|j| j.0),
        system_info: c.next::<Option<Json<Map<String, Value>>>>()?.map(|j| j.0),
    };
    Ok(present.then_some(row))
}

/// Decodes a [`SCOPE_COLUMNS`] block.
pub(super) fn scope(c: &mut Cols<'_>) -> Result<ScopeRecord> {
    let mapping_id: Uuid = c.next()?;
    let integration_id: Uuid = c.next()?;
    let external: String = c.next()?;
    let name: Option<String> = c.next()?;
    let parent: Option<String> = c.next()?;
    let kind: Option<String> = c.next()?;
    let client_id: Option<Uuid> = c.next()?;
    let auto_sync_assets: bool = c.next()?;
    let metadata: Option<Json<Value>> = c.next()?;
    let last_synced_at: Option<DateTime<Utc>> = c.next()?;
    let vanished_at: Option<DateTime<Utc>> = c.next()?;
    Ok(ScopeRecord {
        mapping_id: MappingId::from_uuid(mapping_id),
        integration_id: IntegrationId::from_uuid(integration_id),
        external_id: ExternalScopeId::new(external),
        name: name.unwrap_or_default(),
        parent: parent.map(ExternalScopeId::new),
        kind: scope_kind(kind.as_deref()),
        client_id: client_id.map(ClientId::from_uuid),
        auto_sync_assets,
        metadata: json_object(metadata),
        last_synced_at,
        vanished_at,
    })
}
