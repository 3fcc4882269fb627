//! An `InMemoryStore` wrapper that can fail writes of chosen devices (a statement failing
//! midway through a create) and add extra mapping rows to correlation answers (legacy schemas
//! with one mapping row per realm).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rmm_sync::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use rmm_sync::store::{
    AssetFilter, AssetRecord, AssetStore, Correlation, CorrelationQuery, DeviceWrite, FailedDevice,
    HostAssetUpdate, InMemoryStore, IntegrationRecord, IntegrationSpec, LeaseRequest,
    MappingRecord, ScopeAssignment, ScopeRecord, ScopeSyncCounts, StoreCapabilities,
    SyncStateUpdate,
};
use rmm_sync::sync::RunReport;
use rmm_sync::{Error, ErrorKind, Result};

#[derive(Debug, Default)]
pub(crate) struct FlakyStore {
    pub(crate) inner: InMemoryStore,
    fail_writes_of: Mutex<HashSet<ExternalDeviceId>>,
    outage: Mutex<bool>,
    lease_outage: Mutex<bool>,
    extra_mappings: Mutex<Vec<MappingRecord>>,
    apply_waits_for: Mutex<Option<Condition>>,
    /// (waits whose condition came true, waits that gave up).
    waits: Mutex<(u32, u32)>,
}

#[derive(Clone)]
struct Condition(Arc<dyn Fn() -> bool + Send + Sync>);

impl std::fmt::Debug for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Condition")
    }
}

impl FlakyStore {
    /// Every `apply` containing a write for `device` fails (as a constraint violating insert
    /// would), until [`FlakyStore::heal`].
    pub(crate) fn fail_writes_of(&self, device: &str) {
        self.fail_writes_of
            .lock()
            .unwrap()
            .insert(ExternalDeviceId::new(device));
    }

    /// Every `apply` fails as an unreachable database would.
    pub(crate) fn go_down(&self) {
        *self.outage.lock().unwrap() = true;
    }

    /// Every lease request fails as an unreachable database would (renewals included).
    pub(crate) fn fail_lease_requests(&self) {
        *self.lease_outage.lock().unwrap() = true;
    }

    /// Writes succeed again.
    pub(crate) fn heal(&self) {
        self.fail_writes_of.lock().unwrap().clear();
        *self.outage.lock().unwrap() = false;
    }

    /// Every `apply` first waits (yielding, up to 5 s) until `condition` holds; see
    /// [`FlakyStore::waits`].
    pub(crate) fn hold_apply_until(&self, condition: impl Fn() -> bool + Send + Sync + 'static) {
        *self.apply_waits_for.lock().unwrap() = Some(Condition(Arc::new(condition)));
    }

    /// (applies whose condition came true while they waited, applies that gave up waiting).
    pub(crate) fn waits(&self) -> (u32, u32) {
        *self.waits.lock().unwrap()
    }

    /// Adds a mapping row to every correlation that asks for its device, ahead of the real
    /// rows (so "first row wins" would pick it).
    pub(crate) fn add_correlated_mapping(&self, mapping: MappingRecord) {
        self.extra_mappings.lock().unwrap().push(mapping);
    }
}

#[async_trait]
impl AssetStore for FlakyStore {
    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }

    async fn upsert_integration(
        &self,
        tenant: TenantId,
        spec: &IntegrationSpec,
    ) -> Result<IntegrationRecord> {
        self.inner.upsert_integration(tenant, spec).await
    }

    async fn get_integration(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Option<IntegrationRecord>> {
        self.inner.get_integration(tenant, integration).await
    }

    async fn list_integrations(&self, tenant: TenantId) -> Result<Vec<IntegrationRecord>> {
        self.inner.list_integrations(tenant).await
    }

    async fn update_sync_state(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        update: &SyncStateUpdate,
    ) -> Result<()> {
        self.inner
            .update_sync_state(tenant, integration, update)
            .await
    }

    async fn merge_settings(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.inner.merge_settings(tenant, integration, patch).await
    }

    async fn try_acquire_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        request: &LeaseRequest,
    ) -> Result<bool> {
        if *self.lease_outage.lock().unwrap() {
            return Err(Error::new(ErrorKind::Unavailable, "the database is down"));
        }
        self.inner
            .try_acquire_lease(tenant, integration, request)
            .await
    }

    async fn release_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        holder: &str,
    ) -> Result<()> {
        self.inner.release_lease(tenant, integration, holder).await
    }

    async fn sync_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts> {
        self.inner
            .sync_scopes(tenant, integration, scopes, complete, now)
            .await
    }

    async fn list_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<ScopeRecord>> {
        self.inner.list_scopes(tenant, integration).await
    }

    async fn assign_scope(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
        assignment: &ScopeAssignment,
    ) -> Result<ScopeRecord> {
        self.inner
            .assign_scope(tenant, integration, scope, assignment)
            .await
    }

    async fn correlate(&self, tenant: TenantId, query: &CorrelationQuery) -> Result<Correlation> {
        let mut c = self.inner.correlate(tenant, query).await?;
        let extra = self.extra_mappings.lock().unwrap().clone();
        for m in extra {
            if query.external_ids.contains(&m.external_id) {
                c.mappings.insert(0, m);
            }
        }
        Ok(c)
    }

    async fn apply(&self, tenant: TenantId, writes: &[DeviceWrite]) -> Result<()> {
        let condition = self.apply_waits_for.lock().unwrap().clone();
        if let Some(condition) = condition {
            // Sleeping yields to whatever the caller runs next to this write.
            let mut held = false;
            for _ in 0..500 {
                if (condition.0)() {
                    held = true;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let mut waits = self.waits.lock().unwrap();
            if held { waits.0 += 1 } else { waits.1 += 1 }
        }
        if *self.outage.lock().unwrap() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "connection refused by the database",
            ));
        }
        let failing = self.fail_writes_of.lock().unwrap().clone();
        if let Some(w) = writes.iter().find(|w| failing.contains(&w.external_id)) {
            return Err(Error::new(
                ErrorKind::Store,
                format!(
                    "insert into workstation_assets failed for device {}",
                    w.external_id
                ),
            ));
        }
        self.inner.apply(tenant, writes).await
    }

    async fn live_device_ids(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>> {
        self.inner.live_device_ids(tenant, integration, scope).await
    }

    async fn reevaluate_agent_status(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        thresholds: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.inner
            .reevaluate_agent_status(tenant, integration, thresholds, now)
            .await
    }

    async fn update_failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        succeeded: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.inner
            .update_failed_devices(tenant, integration, failed, succeeded, now)
            .await
    }

    async fn failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<FailedDevice>> {
        self.inner.failed_devices(tenant, integration).await
    }

    async fn set_suppressed(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
        suppressed: bool,
    ) -> Result<()> {
        self.inner
            .set_suppressed(tenant, integration, device, suppressed)
            .await
    }

    async fn get_asset(&self, tenant: TenantId, asset: AssetId) -> Result<Option<AssetRecord>> {
        self.inner.get_asset(tenant, asset).await
    }

    async fn list_assets(
        &self,
        tenant: TenantId,
        filter: &AssetFilter,
    ) -> Result<Vec<AssetRecord>> {
        self.inner.list_assets(tenant, filter).await
    }

    async fn extension_rows(
        &self,
        tenant: TenantId,
        asset: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
        self.inner.extension_rows(tenant, asset).await
    }

    async fn get_mapping(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>> {
        self.inner.get_mapping(tenant, integration, device).await
    }

    async fn update_asset(
        &self,
        tenant: TenantId,
        asset: AssetId,
        update: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.inner.update_asset(tenant, asset, update, now).await
    }

    async fn delete_asset(&self, tenant: TenantId, asset: AssetId) -> Result<()> {
        self.inner.delete_asset(tenant, asset).await
    }

    async fn record_run(&self, tenant: TenantId, report: &RunReport) -> Result<()> {
        self.inner.record_run(tenant, report).await
    }

    async fn recent_runs(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>> {
        self.inner.recent_runs(tenant, integration, limit).await
    }
    async fn record_seen(
        &self,
        t: TenantId,
        i: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        self.inner.record_seen(t, i, run, chunk, ids).await
    }
    async fn seen_devices<'a>(
        &self,
        t: TenantId,
        i: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        self.inner.seen_devices(t, i, run, before_chunk).await
    }
    async fn clear_seen(&self, t: TenantId, i: IntegrationId) -> Result<u64> {
        self.inner.clear_seen(t, i).await
    }
}
