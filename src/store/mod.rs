//! The [`AssetStore`] trait, the rows it keeps, and the stores that ship with the crate.
//!
//! A store is deliberately "dumb": it answers correlation queries with raw rows (a narrow
//! digest of the batch first, when it supports one, then the full rows of the devices the digest
//! did not settle) and applies one batch of [`DeviceWrite`]s atomically. Every decision (identity, diffing, host
//! ownership, tombstones) is made once, in [`crate::ingest`], so all stores behave the same and
//! the conformance suite (`store::conformance`, feature `conformance`) can prove it.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use crate::sync::RunReport;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
pub mod memory;
#[cfg(feature = "postgres")]
pub mod postgres;
mod records;
mod settings;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod sql_columns;
#[cfg(feature = "sqlite")]
pub mod sqlite;

pub use memory::InMemoryStore;
pub use records::{
    AssetFilter, AssetRecord, AssetWrite, Correlation, CorrelationDigest, CorrelationQuery,
    DeviceWrite, ExtensionWrite, FailedDevice, HostAssetUpdate, IdentityQuery, IntegrationRecord,
    IntegrationSpec, LeaseInfo, LeaseRequest, MappingDigest, MappingRecord, MappingStatus,
    ScopeAssignment, ScopeRecord, ScopeSyncCounts, SyncStateUpdate, SyncStatus, WrittenValues,
};
pub use settings::merge_settings;

/// What a store can do; the conformance suite reads it to pick its tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreCapabilities {
    /// `apply` is all-or-nothing.
    pub transactions: bool,
    /// Several processes may write the same database at once.
    pub concurrent_writers: bool,
    /// Largest batch `apply` accepts in one call (`None`: no limit).
    pub max_batch_size: Option<usize>,
    /// [`AssetStore::correlate_digest`] is implemented: the engine settles unchanged devices
    /// from narrow rows and fetches the full correlation only for the others.
    #[serde(default)]
    pub correlation_digest: bool,
    /// [`AssetStore::record_seen`], [`AssetStore::seen_devices`] and [`AssetStore::clear_seen`]
    /// are implemented: runs whose steps execute in different processes (the Temporal
    /// transport) can sweep.
    #[serde(default)]
    pub run_seen_log: bool,
}

/// Where assets, mappings and sync state live. Object-safe: hosts hold `Arc<dyn AssetStore>`.
///
/// Every method takes the tenant and must never read or write another tenant's rows.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait AssetStore: Send + Sync + Debug + 'static {
    /// What this store supports.
    fn capabilities(&self) -> StoreCapabilities;

    // ---- integrations -------------------------------------------------------------------

    /// Creates the integration, or refreshes `provider`, `instance_url` and `is_active` of an
    /// existing one and deep-merges `settings` into the stored settings.
    async fn upsert_integration(
        &self,
        tenant: TenantId,
        spec: &IntegrationSpec,
    ) -> Result<IntegrationRecord>;

    /// One integration.
    async fn get_integration(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Option<IntegrationRecord>>;

    /// All integrations of the tenant, ordered by id.
    async fn list_integrations(&self, tenant: TenantId) -> Result<Vec<IntegrationRecord>>;

    /// Updates run state; `NotFound` when the integration does not exist.
    async fn update_sync_state(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        update: &SyncStateUpdate,
    ) -> Result<()>;

    /// Deep-merges `patch` into the settings (objects merge key by key, other values replace,
    /// `null` removes a key) and returns the result.
    async fn merge_settings(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>>;

    /// Takes the run lease of an integration: `true` when granted (free, expired, or already
    /// held by the same holder, in which case it is extended).
    async fn try_acquire_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        request: &LeaseRequest,
    ) -> Result<bool>;

    /// Gives the lease back if `holder` holds it.
    async fn release_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        holder: &str,
    ) -> Result<()>;

    // ---- scopes ---------------------------------------------------------------------------

    /// Upserts scopes by (integration, external id). New scopes start unmapped with
    /// `auto_sync_assets = true`; existing ones get name, parent, kind and metadata refreshed and
    /// nothing else (never `client_id` or `auto_sync_assets`). When `complete` is true (the
    /// listing was complete), scopes not in `scopes` are flagged vanished and flagged ones that
    /// are back are un-flagged. Nothing is ever deleted.
    async fn sync_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts>;

    /// All scopes of an integration, ordered by external id.
    async fn list_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<ScopeRecord>>;

    /// The host maps, unmaps or (de)activates a scope; `NotFound` for an unknown scope.
    async fn assign_scope(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
        assignment: &ScopeAssignment,
    ) -> Result<ScopeRecord>;

    // ---- devices --------------------------------------------------------------------------

    /// Everything the store knows about one batch, in one round trip.
    async fn correlate(&self, tenant: TenantId, query: &CorrelationQuery) -> Result<Correlation>;

    /// The cheap first phase of [`AssetStore::correlate`], in one round trip: must equal
    /// `correlate(query).digest(query)` ([`Correlation::digest`]) for the same rows. The
    /// engine calls it only when [`StoreCapabilities::correlation_digest`] is set, and then
    /// fetches the full correlation only for devices the digest does not settle: a re-sync of
    /// unchanged devices reads a few narrow columns per device instead of whole asset rows.
    ///
    /// The default derives the digest from `correlate` (correct, not cheaper), so a decorator
    /// that forwards `capabilities` but not this method still behaves.
    async fn correlate_digest(
        &self,
        tenant: TenantId,
        query: &CorrelationQuery,
    ) -> Result<CorrelationDigest> {
        Ok(self.correlate(tenant, query).await?.digest(query))
    }

    /// Applies one batch atomically: all writes or none. Fails with
    /// [`crate::ErrorKind::Conflict`] on a unique violation or a stale `expected_updated_at`.
    async fn apply(&self, tenant: TenantId, writes: &[DeviceWrite]) -> Result<()>;

    /// External ids of the integration's live (`synced`) mappings in one scope: the candidates
    /// of a mark-and-sweep.
    async fn live_device_ids(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>>;

    /// Re-derives `agent_status` from `last_seen_at` for every live device of the integration,
    /// moving a device only to a staler status ([`crate::model::AgentStatus::staleness`]).
    /// Returns how many assets changed.
    async fn reevaluate_agent_status(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        thresholds: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64>;

    // ---- failures and suppression ---------------------------------------------------------

    /// Records devices that failed (incrementing their attempt count) and clears devices that
    /// succeeded.
    async fn update_failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        succeeded: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// Devices to retry, ordered by external id.
    async fn failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<FailedDevice>>;

    /// The host asks to ignore (or stop ignoring) a device.
    async fn set_suppressed(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
        suppressed: bool,
    ) -> Result<()>;

    // ---- reads and host edits -------------------------------------------------------------

    /// One asset with its extension row.
    async fn get_asset(&self, tenant: TenantId, asset: AssetId) -> Result<Option<AssetRecord>>;

    /// Assets, ordered by asset id.
    async fn list_assets(&self, tenant: TenantId, filter: &AssetFilter)
    -> Result<Vec<AssetRecord>>;

    /// Every extension row the asset has, in any table (normally zero or one).
    async fn extension_rows(
        &self,
        tenant: TenantId,
        asset: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>>;

    /// The mapping of a device in an integration.
    async fn get_mapping(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>>;

    /// A host edit of an asset (sets `updated_at`); `NotFound` for an unknown asset.
    async fn update_asset(
        &self,
        tenant: TenantId,
        asset: AssetId,
        update: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()>;

    /// The host deletes an asset and its extension rows (mappings stay, as in hosts that
    /// delete assets behind the library's back; the engine repairs them).
    async fn delete_asset(&self, tenant: TenantId, asset: AssetId) -> Result<()>;

    // ---- run history ----------------------------------------------------------------------

    /// Keeps a finished run's report.
    async fn record_run(&self, tenant: TenantId, report: &RunReport) -> Result<()>;

    /// The latest runs of an integration, newest first.
    async fn recent_runs(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>>;

    // ---- the seen log of a run ------------------------------------------------------------
    //
    // A run's mark-and-sweep needs every device id its complete listing saw. When the steps
    // of one run execute in different processes (Temporal activities; a worker may die between
    // pages), that set cannot live in memory: each step records its ids here, and the sweep
    // reads their union. Only stores that set [`StoreCapabilities::run_seen_log`] implement
    // these; the defaults fail with `Unsupported`, so stores written before them keep
    // compiling (and runs in one process never call them).

    /// Records the external device ids one step of run `run` saw. `chunk` names the step (e.g.
    /// "t3/p17"); recording the same chunk again replaces its ids (a retried step), so the log
    /// is idempotent. Ids may repeat across chunks.
    async fn record_seen(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        let _ = (tenant, integration, run, chunk, ids);
        Err(Error::unsupported("record_seen"))
    }

    /// Every id recorded for `run` of this integration, each once, in any order. With
    /// `before_chunk`, only the ids of chunks whose name sorts before it (byte order): a retried
    /// step reads what the steps before it saw, not what its own first attempt recorded (name
    /// chunks so they sort in step order, e.g. zero-padded numbers).
    async fn seen_devices<'a>(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        let _ = (tenant, integration, run, before_chunk);
        Err(Error::unsupported("seen_devices"))
    }

    /// Forgets every seen log of the integration (all runs): called when a run starts and when
    /// it finishes, while it holds the integration's lease. Returns the number of chunks
    /// removed.
    async fn clear_seen(&self, tenant: TenantId, integration: IntegrationId) -> Result<u64> {
        let _ = (tenant, integration);
        Err(Error::unsupported("clear_seen"))
    }
}

/// A shared, type-erased store.
pub type DynAssetStore = dyn AssetStore;

/// Shared handle type hosts pass around.
pub type SharedStore = Arc<dyn AssetStore>;
