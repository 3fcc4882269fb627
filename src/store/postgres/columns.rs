//! Column-wise arrays for `INSERT … SELECT FROM UNNEST(…)`: one bound array per column, so a
//! whole batch is one statement per table whatever its size.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::types::Json;
use uuid::Uuid;

use crate::model::{ExtensionRow, IdentityHints, StorageInfo};
use crate::store::{AssetRecord, MappingRecord, WrittenValues};

type Q<'q> = Query<'q, Postgres, PgArguments>;

/// Asset columns (everything but `tenant`), in [`ASSET_TARGETS`] order.
#[derive(Default)]
pub(super) struct AssetColumns<'a> {
    pub(super) asset_id: Vec<Uuid>,
    client_id: Vec<Uuid>,
    asset_type: Vec<&'static str>,
    asset_tag: Vec<&'a str>,
    name: Vec<&'a str>,
    serial_number: Vec<Option<&'a str>>,
    status: Vec<&'a str>,
    location: Vec<Option<&'a str>>,
    rmm_provider: Vec<Option<&'a str>>,
    rmm_device_id: Vec<Option<&'a str>>,
    rmm_organization_id: Vec<Option<&'a str>>,
    agent_status: Vec<Option<&'static str>>,
    last_seen_at: Vec<Option<DateTime<Utc>>>,
    last_rmm_sync_at: Vec<Option<DateTime<Utc>>>,
    identity: Vec<Json<&'a IdentityHints>>,
    created_at: Vec<DateTime<Utc>>,
    updated_at: Vec<DateTime<Utc>>,
    /// Only for updates: the optimistic-concurrency guard.
    pub(super) expected_updated_at: Vec<DateTime<Utc>>,
}

/// The target columns of [`AssetColumns`] (without the guard).
pub(super) const ASSET_TARGETS: &str = "asset_id, client_id, asset_type, asset_tag, name, \
    serial_number, status, location, rmm_provider, rmm_device_id, rmm_organization_id, \
    agent_status, last_seen_at, last_rmm_sync_at, rmm_identity, created_at, updated_at";

/// `UNNEST` of [`AssetColumns`] starting at parameter `$2` (17 arrays, 18 with the guard).
pub(super) const ASSET_UNNEST: &str = "UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::text[], \
    $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], \
    $13::text[], $14::timestamptz[], $15::timestamptz[], $16::jsonb[], $17::timestamptz[], \
    $18::timestamptz[]";

impl<'a> AssetColumns<'a> {
    pub(super) fn len(&self) -> usize {
        self.asset_id.len()
    }

    pub(super) fn push(&mut self, a: &'a AssetRecord) {
        self.asset_id.push(*a.asset_id.as_uuid());
        self.client_id.push(*a.client_id.as_uuid());
        self.asset_type.push(a.asset_type.as_str());
        self.asset_tag.push(&a.asset_tag);
        self.name.push(&a.name);
        self.serial_number.push(a.serial_number.as_deref());
        self.status.push(&a.status);
        self.location.push(a.location.as_deref());
        self.rmm_provider
            .push(a.rmm_provider.as_ref().map(|p| p.as_str()));
        self.rmm_device_id.push(a.rmm_device_id.as_deref());
        self.rmm_organization_id
            .push(a.rmm_organization_id.as_deref());
        self.agent_status.push(a.agent_status.map(|s| s.as_str()));
        self.last_seen_at.push(a.last_seen_at);
        self.last_rmm_sync_at.push(a.last_rmm_sync_at);
        self.identity.push(Json(&a.identity));
        self.created_at.push(a.created_at);
        self.updated_at.push(a.updated_at);
    }

    /// Binds the 17 column arrays (and the guard when `with_guard`).
    pub(super) fn bind<'q>(&'q self, q: Q<'q>, with_guard: bool) -> Q<'q> {
        let q = q
            .bind(&self.asset_id)
            .bind(&self.client_id)
            .bind(&self.asset_type)
            .bind(&self.asset_tag)
            .bind(&self.name)
            .bind(&self.serial_number)
            .bind(&self.status)
            .bind(&self.location)
            .bind(&self.rmm_provider)
            .bind(&self.rmm_device_id)
            .bind(&self.rmm_organization_id)
            .bind(&self.agent_status)
            .bind(&self.last_seen_at)
            .bind(&self.last_rmm_sync_at)
            .bind(&self.identity)
            .bind(&self.created_at)
            .bind(&self.updated_at);
        if with_guard {
            q.bind(&self.expected_updated_at)
        } else {
            q
        }
    }
}

/// Extension rows, column-wise, in `rows::EXTENSION_COLUMNS` order after the asset id.
#[derive(Default)]
pub(super) struct ExtensionColumns<'a> {
    asset_id: Vec<Uuid>,
    os_type: Vec<Option<&'a str>>,
    os_version: Vec<Option<&'a str>>,
    agent_version: Vec<Option<&'a str>>,
    current_user: Vec<Option<&'a str>>,
    uptime_seconds: Vec<Option<i64>>,
    lan_ip: Vec<Option<&'a str>>,
    wan_ip: Vec<Option<&'a str>>,
    antivirus_status: Vec<Option<&'a str>>,
    antivirus_product: Vec<Option<&'a str>>,
    last_reboot_at: Vec<Option<DateTime<Utc>>>,
    pending_patches: Vec<Option<i32>>,
    pending_os_patches: Vec<Option<i32>>,
    pending_software_patches: Vec<Option<i32>>,
    failed_patches: Vec<Option<i32>>,
    last_patch_scan_at: Vec<Option<DateTime<Utc>>>,
    cpu_model: Vec<Option<&'a str>>,
    cpu_cores: Vec<Option<i32>>,
    ram_gb: Vec<Option<f64>>,
    disk_usage: Vec<Option<Json<&'a Vec<StorageInfo>>>>,
    installed_software: Vec<Option<Json<&'a Vec<Value>>>>,
    system_info: Vec<Option<Json<&'a Map<String, Value>>>>,
}

/// `UNNEST` of [`ExtensionColumns`] starting at `$2` (22 arrays).
pub(super) const EXTENSION_UNNEST: &str = "UNNEST($2::uuid[], $3::text[], $4::text[], \
    $5::text[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::text[], $11::text[], \
    $12::timestamptz[], $13::int[], $14::int[], $15::int[], $16::int[], $17::timestamptz[], \
    $18::text[], $19::int[], $20::float8[], $21::jsonb[], $22::jsonb[], $23::jsonb[])";

impl<'a> ExtensionColumns<'a> {
    pub(super) fn is_empty(&self) -> bool {
        self.asset_id.is_empty()
    }

    pub(super) fn push(&mut self, asset_id: Uuid, r: &'a ExtensionRow) {
        self.asset_id.push(asset_id);
        self.os_type.push(r.os_type.as_deref());
        self.os_version.push(r.os_version.as_deref());
        self.agent_version.push(r.agent_version.as_deref());
        self.current_user.push(r.current_user.as_deref());
        self.uptime_seconds.push(r.uptime_seconds);
        self.lan_ip.push(r.lan_ip.as_deref());
        self.wan_ip.push(r.wan_ip.as_deref());
        self.antivirus_status.push(r.antivirus_status.as_deref());
        self.antivirus_product.push(r.antivirus_product.as_deref());
        self.last_reboot_at.push(r.last_reboot_at);
        self.pending_patches.push(r.pending_patches);
        self.pending_os_patches.push(r.pending_os_patches);
        self.pending_software_patches
            .push(r.pending_software_patches);
        self.failed_patches.push(r.failed_patches);
        self.last_patch_scan_at.push(r.last_patch_scan_at);
        self.cpu_model.push(r.cpu_model.as_deref());
        self.cpu_cores.push(r.cpu_cores);
        self.ram_gb.push(r.ram_gb);
        self.disk_usage.push(r.disk_usage.as_ref().map(Json));
        self.installed_software
            .push(r.installed_software.as_ref().map(Json));
        self.system_info.push(r.system_info.as_ref().map(Json));
    }

    pub(super) fn bind<'q>(&'q self, q: Q<'q>) -> Q<'q> {
        q.bind(&self.asset_id)
            .bind(&self.os_type)
            .bind(&self.os_version)
            .bind(&self.agent_version)
            .bind(&self.current_user)
            .bind(&self.uptime_seconds)
            .bind(&self.lan_ip)
            .bind(&self.wan_ip)
            .bind(&self.antivirus_status)
            .bind(&self.antivirus_product)
            .bind(&self.last_reboot_at)
            .bind(&self.pending_patches)
            .bind(&self.pending_os_patches)
            .bind(&self.pending_software_patches)
            .bind(&self.failed_patches)
            .bind(&self.last_patch_scan_at)
            .bind(&self.cpu_model)
            .bind(&self.cpu_cores)
            .bind(&self.ram_gb)
            .bind(&self.disk_usage)
            .bind(&self.installed_software)
            .bind(&self.system_info)
    }
}

/// Mapping rows, column-wise.
#[derive(Default)]
pub(super) struct MappingColumns<'a> {
    id: Vec<Uuid>,
    provider: Vec<&'a str>,
    integration_id: Vec<Uuid>,
    asset_id: Vec<String>,
    external_id: Vec<&'a str>,
    scope_id: Vec<&'a str>,
    status: Vec<&'static str>,
    last_synced_at: Vec<DateTime<Utc>>,
    deleted_at: Vec<Option<DateTime<Utc>>>,
    metadata: Vec<Json<&'a Map<String, Value>>>,
    fingerprint: Vec<Option<&'a str>>,
    written: Vec<Option<Json<&'a WrittenValues>>>,
    created_at: Vec<DateTime<Utc>>,
}

/// `UNNEST` of [`MappingColumns`] starting at `$2` (13 arrays), with column names.
pub(super) const MAPPING_UNNEST: &str = "UNNEST($2::uuid[], $3::text[], $4::uuid[], \
    $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[], \
    $11::jsonb[], $12::text[], $13::jsonb[], $14::timestamptz[]) AS u(id, provider, \
    integration_id, asset_id, external_id, scope_id, status, last_synced_at, deleted_at, \
    metadata, fingerprint, written, created_at)";

impl<'a> MappingColumns<'a> {
    pub(super) fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    pub(super) fn push(&mut self, m: &'a MappingRecord) {
        self.id.push(*m.id.as_uuid());
        self.provider.push(m.provider.as_str());
        self.integration_id.push(*m.integration_id.as_uuid());
        self.asset_id.push(m.asset_id.to_string());
        self.external_id.push(m.external_id.as_str());
        self.scope_id.push(m.scope_id.as_str());
        self.status.push(m.status.as_str());
        self.last_synced_at.push(m.last_synced_at);
        self.deleted_at.push(m.deleted_at);
        self.metadata.push(Json(&m.metadata));
        self.fingerprint.push(m.fingerprint.as_deref());
        self.written.push(m.written.as_ref().map(Json));
        self.created_at.push(m.created_at);
    }

    pub(super) fn bind<'q>(&'q self, q: Q<'q>) -> Q<'q> {
        q.bind(&self.id)
            .bind(&self.provider)
            .bind(&self.integration_id)
            .bind(&self.asset_id)
            .bind(&self.external_id)
            .bind(&self.scope_id)
            .bind(&self.status)
            .bind(&self.last_synced_at)
            .bind(&self.deleted_at)
            .bind(&self.metadata)
            .bind(&self.fingerprint)
            .bind(&self.written)
            .bind(&self.created_at)
    }
}
