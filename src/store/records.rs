//! Rows the stores keep, and the writes the engine hands them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    AgentStatus, AssetId, ClientId, DeviceKind, ExtensionKind, ExtensionRow, ExternalDeviceId,
    ExternalScopeId, IdentityHints, IntegrationId, MappingId, ProviderId, ScopeKind,
};

/// `rmm_integrations.sync_status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Never run.
    #[default]
    Pending,
    /// A run is in progress.
    Syncing,
    /// The last run finished (possibly with per-device failures, see the run report).
    Completed,
    /// The last run failed as a whole; `sync_error` says why.
    Error,
}

impl SyncStatus {
    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Pending => "pending",
            SyncStatus::Syncing => "syncing",
            SyncStatus::Completed => "completed",
            SyncStatus::Error => "error",
        }
    }

    /// Parses a stored value, accepting the reference's legacy `failed` as `Error`.
    pub fn parse_lenient(s: &str) -> Self {
        match s {
            "syncing" => SyncStatus::Syncing,
            "completed" => SyncStatus::Completed,
            "error" | "failed" => SyncStatus::Error,
            _ => SyncStatus::Pending,
        }
    }
}

/// One integration (`rmm_integrations`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationRecord {
    /// Integration id.
    pub integration_id: IntegrationId,
    /// Provider slug.
    pub provider: ProviderId,
    /// The provider instance's URL (no credentials).
    pub instance_url: Option<String>,
    /// Whether the integration is enabled.
    pub is_active: bool,
    /// When the connection was first tested successfully.
    pub connected_at: Option<DateTime<Utc>>,
    /// Last run of any kind.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// Last genuine full run.
    pub last_full_sync_at: Option<DateTime<Utc>>,
    /// Start of the last successful incremental run.
    pub last_incremental_sync_at: Option<DateTime<Utc>>,
    /// Status lifecycle.
    pub sync_status: SyncStatus,
    /// The first causes of the last failure, with the provider's real messages.
    pub sync_error: Option<String>,
    /// Host and adapter settings; merged, never replaced wholesale.
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// The delta checkpoint; advances only when a window fully succeeded.
    pub cursor: Option<String>,
    /// The run lease as last written, if any: a lease whose `expires_at` has passed belongs to
    /// a holder that is gone (killed or crashed) and is free for the next run.
    #[serde(default)]
    pub lease: Option<LeaseInfo>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Who holds (or last held) an integration's run lease, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseInfo {
    /// The holder (a run id, a worker name).
    pub holder: String,
    /// When the lease lapses unless renewed.
    pub expires_at: DateTime<Utc>,
}

impl LeaseInfo {
    /// Whether the lease has lapsed at `now`: its holder stopped renewing it (it was killed
    /// or lost the store) and any run may take it over.
    pub fn is_stale(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// What to create or refresh for an integration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSpec {
    /// Integration id.
    pub integration_id: IntegrationId,
    /// Provider slug.
    pub provider: ProviderId,
    /// Instance URL (no credentials).
    pub instance_url: Option<String>,
    /// Enabled.
    pub is_active: bool,
    /// Settings to merge into the stored ones.
    pub settings: serde_json::Map<String, serde_json::Value>,
}

impl IntegrationSpec {
    /// An active integration with no instance URL and no settings.
    pub fn new(integration_id: IntegrationId, provider: ProviderId) -> Self {
        Self {
            integration_id,
            provider,
            instance_url: None,
            is_active: true,
            settings: serde_json::Map::new(),
        }
    }
}

/// A partial update of an integration's run state; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // fields mirror IntegrationRecord
pub struct SyncStateUpdate {
    pub sync_status: Option<SyncStatus>,
    pub sync_error: Option<Option<String>>,
    pub connected_at: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    pub last_full_sync_at: Option<DateTime<Utc>>,
    pub last_incremental_sync_at: Option<DateTime<Utc>>,
    pub cursor: Option<Option<String>>,
}

/// One scope mapping (`rmm_organization_mappings`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScopeRecord {
    /// Mapping row id.
    pub mapping_id: MappingId,
    /// Owning integration.
    pub integration_id: IntegrationId,
    /// Provider's scope id.
    pub external_id: ExternalScopeId,
    /// Provider's scope name.
    pub name: String,
    /// Parent scope.
    pub parent: Option<ExternalScopeId>,
    /// Kind of scope.
    pub kind: ScopeKind,
    /// The host's client; `None` = unmapped. Host-owned.
    pub client_id: Option<ClientId>,
    /// Whether assets are synced for this scope. Host-owned.
    pub auto_sync_assets: bool,
    /// Provider metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Last time a scope sync saw it.
    pub last_synced_at: Option<DateTime<Utc>>,
    /// Set when a complete scope listing no longer contained it; cleared when it returns.
    pub vanished_at: Option<DateTime<Utc>>,
}

impl ScopeRecord {
    /// Whether devices in this scope may create assets.
    pub fn is_eligible(&self) -> bool {
        self.client_id.is_some() && self.auto_sync_assets
    }
}

/// The host's decision for a scope. `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScopeAssignment {
    /// `Some(Some(c))` maps to client `c`, `Some(None)` unmaps.
    pub client_id: Option<Option<ClientId>>,
    /// Turn asset sync on or off.
    pub auto_sync_assets: Option<bool>,
}

/// What a scope sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeSyncCounts {
    /// New scopes (start unmapped, auto sync on).
    pub created: u64,
    /// Existing scopes refreshed (name, parent, metadata only).
    pub updated: u64,
    /// Scopes missing from a complete listing, now flagged.
    pub vanished: u64,
    /// Flagged scopes that came back.
    pub reappeared: u64,
}

/// `tenant_external_entity_mappings.sync_status` for asset rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingStatus {
    /// Live.
    #[default]
    Synced,
    /// Tombstoned.
    Deleted,
}

impl MappingStatus {
    /// Stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            MappingStatus::Synced => "synced",
            MappingStatus::Deleted => "deleted",
        }
    }

    /// Parses a stored value; the reference's `error` (its tombstone) reads as `Deleted`.
    pub fn parse_lenient(s: &str) -> Self {
        match s {
            "deleted" | "error" => MappingStatus::Deleted,
            _ => MappingStatus::Synced,
        }
    }
}

/// The values of host-ownable fields as the engine last wrote them. A stored value that no
/// longer equals what was written was edited by the host, and the host's edit wins.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // the asset columns of the same names
pub struct WrittenValues {
    pub name: Option<String>,
    pub serial_number: Option<String>,
    pub location: Option<String>,
    pub status: Option<String>,
    pub client_id: Option<ClientId>,
}

/// One device mapping (`tenant_external_entity_mappings` with `alga_entity_type = 'asset'`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MappingRecord {
    /// Row id.
    pub id: MappingId,
    /// `integration_type`.
    pub provider: ProviderId,
    /// Owning integration (our addition: several integrations per provider are allowed).
    pub integration_id: IntegrationId,
    /// `alga_entity_id`.
    pub asset_id: AssetId,
    /// `external_entity_id`.
    pub external_id: ExternalDeviceId,
    /// `external_realm_id`: the device's current scope.
    pub scope_id: ExternalScopeId,
    /// `synced` or `deleted`.
    pub status: MappingStatus,
    /// Last write by the engine.
    pub last_synced_at: DateTime<Utc>,
    /// When it was tombstoned.
    pub deleted_at: Option<DateTime<Utc>>,
    /// Provider metadata (replaced wholesale when reported).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Fingerprint of the last ingested snapshot (hex); equal means unchanged.
    pub fingerprint: Option<String>,
    /// Host-ownable values as last written.
    pub written: Option<WrittenValues>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
}

/// The engine-managed columns of an asset (`assets`) plus its extension row. Host-only columns
/// (purchase dates, notes …) are not part of it and stores never touch them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // the `assets` columns of the same names
pub struct AssetRecord {
    pub asset_id: AssetId,
    pub client_id: ClientId,
    pub asset_type: DeviceKind,
    pub asset_tag: String,
    pub name: String,
    pub serial_number: Option<String>,
    pub status: String,
    pub location: Option<String>,
    pub rmm_provider: Option<ProviderId>,
    pub rmm_device_id: Option<String>,
    pub rmm_organization_id: Option<String>,
    pub agent_status: Option<AgentStatus>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub last_rmm_sync_at: Option<DateTime<Utc>>,
    /// Hardware identity facts (our addition), for cross-provider matching.
    pub identity: IdentityHints,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The extension row in the table for `asset_type`, if any.
    pub extension: Option<ExtensionRow>,
}

/// A host-side edit of an asset, as a PSA user would make it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[allow(missing_docs)] // None leaves the column as it is
pub struct HostAssetUpdate {
    pub name: Option<String>,
    pub status: Option<String>,
    pub location: Option<Option<String>>,
    pub serial_number: Option<Option<String>>,
    pub client_id: Option<ClientId>,
}

/// The identity facts to search for when cross-provider matching is on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityQuery {
    /// Normalized serial numbers.
    pub serial_numbers: Vec<String>,
    /// Normalized MAC addresses (12 lowercase hex digits).
    pub mac_addresses: Vec<String>,
    /// Normalized system UUIDs (lowercase, hyphenated).
    pub system_uuids: Vec<String>,
}

impl IdentityQuery {
    /// `true` when there is nothing to look up.
    pub fn is_empty(&self) -> bool {
        self.serial_numbers.is_empty()
            && self.mac_addresses.is_empty()
            && self.system_uuids.is_empty()
    }
}

/// What the engine asks the store about one batch: answered in one round trip.
#[derive(Clone, Debug, PartialEq)]
pub struct CorrelationQuery {
    /// Provider of the batch.
    pub provider: ProviderId,
    /// Integration of the batch.
    pub integration_id: IntegrationId,
    /// Device ids to look up (current and previous ids of identity changes).
    pub external_ids: Vec<ExternalDeviceId>,
    /// The scopes the batch's devices are in.
    pub scope_ids: Vec<ExternalScopeId>,
    /// Identity facts, only when cross-provider matching is enabled.
    pub identity: Option<IdentityQuery>,
}

/// The store's answer to a [`CorrelationQuery`]: raw rows; the engine makes every decision.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Correlation {
    /// This integration's mappings whose external id is in the query, in any scope and status.
    pub mappings: Vec<MappingRecord>,
    /// Assets those mappings point to; assets with `rmm_provider` = the query's provider and
    /// `rmm_device_id` in the query (adoption candidates); and identity matches. Each asset once.
    pub assets: Vec<AssetRecord>,
    /// Every mapping of the query's provider (any integration) pointing at an adoption or
    /// identity candidate, so the engine never adopts an asset another integration owns.
    pub candidate_mappings: Vec<MappingRecord>,
    /// Scope mappings for the query's scopes.
    pub scopes: Vec<ScopeRecord>,
    /// Devices the host suppressed.
    pub suppressed: Vec<ExternalDeviceId>,
}

/// One of the batch's own mappings, narrowed to what settles an unchanged device: the first,
/// cheap phase of a correlation (see [`crate::store::AssetStore::correlate_digest`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingDigest {
    /// Row id.
    pub id: MappingId,
    /// `external_entity_id`.
    pub external_id: ExternalDeviceId,
    /// `alga_entity_id`.
    pub asset_id: AssetId,
    /// `external_realm_id`.
    pub scope_id: ExternalScopeId,
    /// `synced` or `deleted`.
    pub status: MappingStatus,
    /// Fingerprint of the last ingested snapshot.
    pub fingerprint: Option<String>,
    /// Last write by the engine (picks between legacy duplicate mappings).
    pub last_synced_at: DateTime<Utc>,
    /// `asset_type` of the asset the mapping points to; `None` when that asset is gone.
    pub asset_type: Option<DeviceKind>,
}

impl MappingDigest {
    /// The digest of a full mapping row, given the `asset_type` of the asset it points to.
    pub fn of(mapping: &MappingRecord, asset_type: Option<DeviceKind>) -> Self {
        Self {
            id: mapping.id,
            external_id: mapping.external_id.clone(),
            asset_id: mapping.asset_id,
            scope_id: mapping.scope_id.clone(),
            status: mapping.status,
            fingerprint: mapping.fingerprint.clone(),
            last_synced_at: mapping.last_synced_at,
            asset_type,
        }
    }
}

/// The first phase of a correlation: the batch's own mappings (narrowed), its scopes and its
/// suppressed devices. Enough to settle unchanged, suppressed and already-tombstoned devices;
/// the engine asks for the full [`Correlation`] of the rest only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CorrelationDigest {
    /// This integration's mappings whose external id is in the query, in any scope and status.
    pub mappings: Vec<MappingDigest>,
    /// Scope mappings for the query's scopes.
    pub scopes: Vec<ScopeRecord>,
    /// Devices the host suppressed.
    pub suppressed: Vec<ExternalDeviceId>,
}

impl Correlation {
    /// The digest of this correlation: what [`crate::store::AssetStore::correlate_digest`]
    /// must answer for the same query (the conformance suite checks exactly this). Mappings
    /// of another provider or integration (possible only in hand-edited legacy rows) are left
    /// out, as the engine ignores them.
    pub fn digest(&self, query: &CorrelationQuery) -> CorrelationDigest {
        let asset_types: std::collections::HashMap<AssetId, DeviceKind> = self
            .assets
            .iter()
            .map(|a| (a.asset_id, a.asset_type))
            .collect();
        CorrelationDigest {
            mappings: self
                .mappings
                .iter()
                .filter(|m| {
                    m.provider == query.provider && m.integration_id == query.integration_id
                })
                .map(|m| MappingDigest::of(m, asset_types.get(&m.asset_id).copied()))
                .collect(),
            scopes: self.scopes.clone(),
            suppressed: self.suppressed.clone(),
        }
    }
}

impl CorrelationDigest {
    /// Sorts every list, so two digests of the same rows compare equal.
    pub fn normalized(mut self) -> Self {
        self.mappings.sort_by_key(|m| m.id);
        self.scopes
            .sort_by(|a, b| a.external_id.cmp(&b.external_id));
        self.suppressed.sort();
        self
    }
}

/// How an asset row is written.
#[derive(Clone, Debug, PartialEq)]
pub enum AssetWrite {
    /// Leave the asset row alone.
    Keep,
    /// Insert a new asset.
    Insert(AssetRecord),
    /// Overwrite the engine-managed columns. `expected_updated_at` is the `updated_at` the
    /// engine read: if the row changed since (a host edit), the store fails with
    /// [`crate::ErrorKind::Conflict`] and the engine re-plans the device.
    Update {
        /// New values.
        asset: AssetRecord,
        /// Optimistic-concurrency guard.
        expected_updated_at: DateTime<Utc>,
    },
}

/// How the extension rows of an asset are written.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExtensionWrite {
    /// Upsert this row into this table (keyed by asset id).
    pub upsert: Option<(ExtensionKind, ExtensionRow)>,
    /// Delete the asset's rows from these tables (reclassification leaves nothing behind).
    pub delete: Vec<ExtensionKind>,
}

/// Everything the engine writes for one device; one batch of these is one transaction.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceWrite {
    /// The device (for error attribution).
    pub external_id: ExternalDeviceId,
    /// The asset row.
    pub asset: AssetWrite,
    /// The extension rows (applied after the asset row; `asset_id` of the write).
    pub extension: ExtensionWrite,
    /// The mapping row, inserted or replaced by id.
    pub mapping: MappingRecord,
    /// The asset the extension write belongs to.
    pub asset_id: AssetId,
}

/// A device that failed in an earlier run and is retried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedDevice {
    /// The device.
    pub external_id: ExternalDeviceId,
    /// The last error.
    pub error: String,
    /// How many runs in a row it failed.
    pub attempts: u32,
    /// Last failure.
    pub failed_at: DateTime<Utc>,
}

/// A filter for listing assets.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssetFilter {
    /// Only assets mapped by this integration.
    pub integration_id: Option<IntegrationId>,
    /// Only this many.
    pub limit: Option<usize>,
}

/// A run lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRequest {
    /// Who asks (a run id, a worker name).
    pub holder: String,
    /// When an unreleased lease lapses, so a crashed worker does not block forever.
    pub expires_at: DateTime<Utc>,
    /// The time of the request (leases whose `expires_at` is before it are free).
    pub now: DateTime<Utc>,
}
