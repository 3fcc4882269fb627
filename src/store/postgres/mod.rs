//! [`PostgresStore`] (feature `postgres`): the store for hosts that already run PostgreSQL,
//! on the reference PSA's table and column names (see `docs/stores.md`).
//!
//! Set-based throughout: `correlate` is one statement per batch, `apply` one transaction per
//! batch with one `INSERT … SELECT FROM UNNEST(…)` (or `UPDATE … FROM UNNEST(…)`) per table.
//! Migrations are embedded and run by [`PostgresStore::connect`].

mod apply;
mod columns;
mod connect;
mod correlate;
mod devices;
mod digest;
mod errors;
mod identifiers;
mod integrations;
mod rows;
mod scopes;
mod seen;
mod statistics;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::{
    AssetFilter, AssetRecord, AssetStore, Correlation, CorrelationDigest, CorrelationQuery,
    DeviceWrite, FailedDevice, HostAssetUpdate, IntegrationRecord, IntegrationSpec, LeaseRequest,
    MappingRecord, ScopeAssignment, ScopeRecord, ScopeSyncCounts, StoreCapabilities,
    SyncStateUpdate,
};
use crate::error::Result;
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use crate::sync::RunReport;

/// The embedded migrations (`migrations/postgres`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// A PostgreSQL-backed [`AssetStore`]. Cheap to clone (the pool is shared).
///
/// `Debug` shows the server and database, never the password.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// The connection URL with any password masked, for `Debug`.
    display: String,
    statistics: Arc<statistics::Statistics>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("url", &self.display)
            .field("pool_size", &self.pool.size())
            .finish()
    }
}

impl PostgresStore {
    /// Connects (pool of up to 10 connections, 30 s acquire timeout) and applies the embedded
    /// migrations, so the store is ready to use. `url` is a libpq-style URL such as
    /// `postgres://user:password@host:5432/database`.
    ///
    /// Fails with `InvalidConfig` for a malformed URL and `Unavailable` when the server cannot
    /// be reached; neither error contains the password.
    pub async fn connect(url: &str) -> Result<Self> {
        let pool = connect::open_pool(url).await?;
        let store = Self {
            pool,
            display: connect::redact_url(url),
            statistics: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Wraps a pool the host owns. Call [`PostgresStore::migrate`] before first use unless the
    /// schema is known to be current.
    ///
    /// rmm-sync always sets `updated_at` itself; its own pools tell the schema's `updated_at`
    /// trigger so through the session setting `rmm_sync.writer = on`. A host pool without it
    /// works the same, except that an update which leaves `updated_at` unchanged gets `now()`.
    pub fn from_pool(pool: PgPool) -> Self {
        let options = pool.connect_options();
        let display = format!(
            "postgres://{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("")
        );
        Self {
            pool,
            display,
            statistics: Arc::default(),
        }
    }

    /// Applies the embedded migrations that are not applied yet (idempotent; concurrent callers
    /// serialize on PostgreSQL's advisory lock).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| errors::map_err("migrate", e.into()))
    }

    /// The pool, for hosts that run their own queries next to the store.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl AssetStore for PostgresStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            transactions: true,
            concurrent_writers: true,
            // Each batch column travels as one array parameter: no parameter-count limit.
            max_batch_size: None,
            correlation_digest: true,
            run_seen_log: true,
        }
    }

    async fn upsert_integration(
        &self,
        tenant: TenantId,
        spec: &IntegrationSpec,
    ) -> Result<IntegrationRecord> {
        integrations::upsert(&self.pool, tenant, spec).await
    }

    async fn get_integration(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Option<IntegrationRecord>> {
        integrations::get(&self.pool, tenant, integration).await
    }

    async fn list_integrations(&self, tenant: TenantId) -> Result<Vec<IntegrationRecord>> {
        integrations::list(&self.pool, tenant).await
    }

    async fn update_sync_state(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        update: &SyncStateUpdate,
    ) -> Result<()> {
        integrations::update_sync_state(&self.pool, tenant, integration, update).await
    }

    async fn merge_settings(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        integrations::merge(&self.pool, tenant, integration, patch).await
    }

    async fn try_acquire_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        request: &LeaseRequest,
    ) -> Result<bool> {
        integrations::try_acquire_lease(&self.pool, tenant, integration, request).await
    }

    async fn release_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        holder: &str,
    ) -> Result<()> {
        integrations::release_lease(&self.pool, tenant, integration, holder).await
    }

    async fn sync_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts> {
        scopes::sync(&self.pool, tenant, integration, scopes, complete, now).await
    }

    async fn list_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<ScopeRecord>> {
        scopes::list(&self.pool, tenant, integration).await
    }

    async fn assign_scope(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
        assignment: &ScopeAssignment,
    ) -> Result<ScopeRecord> {
        scopes::assign(&self.pool, tenant, integration, scope, assignment).await
    }

    async fn correlate(&self, tenant: TenantId, query: &CorrelationQuery) -> Result<Correlation> {
        correlate::correlate(&self.pool, tenant, query).await
    }

    async fn correlate_digest(
        &self,
        tenant: TenantId,
        query: &CorrelationQuery,
    ) -> Result<CorrelationDigest> {
        digest::correlate_digest(&self.pool, tenant, query).await
    }

    async fn apply(&self, tenant: TenantId, writes: &[DeviceWrite]) -> Result<()> {
        let inserted = apply::apply(&self.pool, tenant, writes).await?;
        self.statistics.after_insert(&self.pool, inserted).await;
        Ok(())
    }

    async fn live_device_ids(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>> {
        devices::live_device_ids(&self.pool, tenant, integration, scope).await
    }

    async fn reevaluate_agent_status(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        thresholds: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        devices::reevaluate_agent_status(&self.pool, tenant, integration, thresholds, now).await
    }

    async fn update_failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        succeeded: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        devices::update_failed_devices(&self.pool, tenant, integration, failed, succeeded, now)
            .await
    }

    async fn failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<FailedDevice>> {
        devices::failed_devices(&self.pool, tenant, integration).await
    }

    async fn set_suppressed(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
        suppressed: bool,
    ) -> Result<()> {
        devices::set_suppressed(&self.pool, tenant, integration, device, suppressed).await
    }

    async fn get_asset(&self, tenant: TenantId, asset: AssetId) -> Result<Option<AssetRecord>> {
        devices::get_asset(&self.pool, tenant, asset).await
    }

    async fn list_assets(
        &self,
        tenant: TenantId,
        filter: &AssetFilter,
    ) -> Result<Vec<AssetRecord>> {
        devices::list_assets(&self.pool, tenant, filter).await
    }

    async fn extension_rows(
        &self,
        tenant: TenantId,
        asset: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
        devices::extension_rows(&self.pool, tenant, asset).await
    }

    async fn get_mapping(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>> {
        devices::get_mapping(&self.pool, tenant, integration, device).await
    }

    async fn update_asset(
        &self,
        tenant: TenantId,
        asset: AssetId,
        update: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        devices::update_asset(&self.pool, tenant, asset, update, now).await
    }

    async fn delete_asset(&self, tenant: TenantId, asset: AssetId) -> Result<()> {
        devices::delete_asset(&self.pool, tenant, asset).await
    }

    async fn record_run(&self, tenant: TenantId, report: &RunReport) -> Result<()> {
        devices::record_run(&self.pool, tenant, report).await
    }

    async fn recent_runs(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>> {
        devices::recent_runs(&self.pool, tenant, integration, limit).await
    }

    async fn record_seen(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        seen::record_seen(&self.pool, tenant, integration, run, chunk, ids).await
    }

    async fn seen_devices<'a>(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        seen::seen_devices(&self.pool, tenant, integration, run, before_chunk).await
    }

    async fn clear_seen(&self, tenant: TenantId, integration: IntegrationId) -> Result<u64> {
        seen::clear_seen(&self.pool, tenant, integration).await
    }
}
