//! A PostgresStore that owns its test database: the database is dropped when the last handle
//! to the store goes, i.e. at the end of the test that created it (also when it panics).

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rmm_sync::Result;
use rmm_sync::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use rmm_sync::store::postgres::PostgresStore;
use rmm_sync::store::{
    AssetFilter, AssetRecord, AssetStore, Correlation, CorrelationDigest, CorrelationQuery,
    DeviceWrite, FailedDevice, HostAssetUpdate, IntegrationRecord, IntegrationSpec, LeaseRequest,
    MappingRecord, ScopeAssignment, ScopeRecord, ScopeSyncCounts, StoreCapabilities,
    SyncStateUpdate,
};
use rmm_sync::sync::RunReport;
use serde_json::{Map, Value};

use super::harness::TestDb;

#[derive(Debug)]
pub(crate) struct Guarded {
    store: PostgresStore,
    // Declared after `store`, so the pool closes before the database is dropped.
    _db: TestDb,
}

impl Guarded {
    /// A store on a fresh database, or `None` when the test is skipped (no server, not CI).
    pub(crate) async fn create() -> Option<Arc<dyn AssetStore>> {
        let db = TestDb::create().await?;
        let store = PostgresStore::connect(&db.url).await.expect("connect");
        Some(Arc::new(Guarded { store, _db: db }))
    }
}

#[async_trait]
impl AssetStore for Guarded {
    fn capabilities(&self) -> StoreCapabilities {
        self.store.capabilities()
    }
    async fn upsert_integration(
        &self,
        t: TenantId,
        s: &IntegrationSpec,
    ) -> Result<IntegrationRecord> {
        self.store.upsert_integration(t, s).await
    }
    async fn get_integration(
        &self,
        t: TenantId,
        i: IntegrationId,
    ) -> Result<Option<IntegrationRecord>> {
        self.store.get_integration(t, i).await
    }
    async fn list_integrations(&self, t: TenantId) -> Result<Vec<IntegrationRecord>> {
        self.store.list_integrations(t).await
    }
    async fn update_sync_state(
        &self,
        t: TenantId,
        i: IntegrationId,
        u: &SyncStateUpdate,
    ) -> Result<()> {
        self.store.update_sync_state(t, i, u).await
    }
    async fn merge_settings(
        &self,
        t: TenantId,
        i: IntegrationId,
        p: &Map<String, Value>,
    ) -> Result<Map<String, Value>> {
        self.store.merge_settings(t, i, p).await
    }
    async fn try_acquire_lease(
        &self,
        t: TenantId,
        i: IntegrationId,
        r: &LeaseRequest,
    ) -> Result<bool> {
        self.store.try_acquire_lease(t, i, r).await
    }
    async fn release_lease(&self, t: TenantId, i: IntegrationId, h: &str) -> Result<()> {
        self.store.release_lease(t, i, h).await
    }
    async fn sync_scopes(
        &self,
        t: TenantId,
        i: IntegrationId,
        s: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts> {
        self.store.sync_scopes(t, i, s, complete, now).await
    }
    async fn list_scopes(&self, t: TenantId, i: IntegrationId) -> Result<Vec<ScopeRecord>> {
        self.store.list_scopes(t, i).await
    }
    async fn assign_scope(
        &self,
        t: TenantId,
        i: IntegrationId,
        s: &ExternalScopeId,
        a: &ScopeAssignment,
    ) -> Result<ScopeRecord> {
        self.store.assign_scope(t, i, s, a).await
    }
    async fn correlate(&self, t: TenantId, q: &CorrelationQuery) -> Result<Correlation> {
        self.store.correlate(t, q).await
    }
    async fn correlate_digest(
        &self,
        t: TenantId,
        q: &CorrelationQuery,
    ) -> Result<CorrelationDigest> {
        self.store.correlate_digest(t, q).await
    }
    async fn apply(&self, t: TenantId, w: &[DeviceWrite]) -> Result<()> {
        self.store.apply(t, w).await
    }
    async fn live_device_ids(
        &self,
        t: TenantId,
        i: IntegrationId,
        s: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>> {
        self.store.live_device_ids(t, i, s).await
    }
    async fn reevaluate_agent_status(
        &self,
        t: TenantId,
        i: IntegrationId,
        th: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.store.reevaluate_agent_status(t, i, th, now).await
    }
    async fn update_failed_devices(
        &self,
        t: TenantId,
        i: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        ok: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.store
            .update_failed_devices(t, i, failed, ok, now)
            .await
    }
    async fn failed_devices(&self, t: TenantId, i: IntegrationId) -> Result<Vec<FailedDevice>> {
        self.store.failed_devices(t, i).await
    }
    async fn set_suppressed(
        &self,
        t: TenantId,
        i: IntegrationId,
        d: &ExternalDeviceId,
        on: bool,
    ) -> Result<()> {
        self.store.set_suppressed(t, i, d, on).await
    }
    async fn get_asset(&self, t: TenantId, a: AssetId) -> Result<Option<AssetRecord>> {
        self.store.get_asset(t, a).await
    }
    async fn list_assets(&self, t: TenantId, f: &AssetFilter) -> Result<Vec<AssetRecord>> {
        self.store.list_assets(t, f).await
    }
    async fn extension_rows(
        &self,
        t: TenantId,
        a: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
        self.store.extension_rows(t, a).await
    }
    async fn get_mapping(
        &self,
        t: TenantId,
        i: IntegrationId,
        d: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>> {
        self.store.get_mapping(t, i, d).await
    }
    async fn update_asset(
        &self,
        t: TenantId,
        a: AssetId,
        u: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.store.update_asset(t, a, u, now).await
    }
    async fn delete_asset(&self, t: TenantId, a: AssetId) -> Result<()> {
        self.store.delete_asset(t, a).await
    }
    async fn record_run(&self, t: TenantId, r: &RunReport) -> Result<()> {
        self.store.record_run(t, r).await
    }
    async fn recent_runs(
        &self,
        t: TenantId,
        i: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>> {
        self.store.recent_runs(t, i, limit).await
    }
    async fn record_seen(
        &self,
        t: TenantId,
        i: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        self.store.record_seen(t, i, run, chunk, ids).await
    }
    async fn seen_devices<'a>(
        &self,
        t: TenantId,
        i: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        self.store.seen_devices(t, i, run, before_chunk).await
    }
    async fn clear_seen(&self, t: TenantId, i: IntegrationId) -> Result<u64> {
        self.store.clear_seen(t, i).await
    }
}
