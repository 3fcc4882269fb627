//! Your own [`AssetStore`], proven with the public conformance suite.
//!
//! `CountingStore` is a decorator: it delegates every call to an inner store and counts the
//! calls per method — the shape of a metrics or tracing layer a host might put in front of its
//! store. Any store, a decorator or a from-scratch implementation over your own database, is
//! checked the same way: hand it to `conformance::run_all` (or generate one test per scenario
//! with `rmm_sync::conformance_tests!` in your `tests/`).
//!
//! ```text
//! cargo run --example custom_store --features conformance
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rmm_sync::Result;
use rmm_sync::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use rmm_sync::store::{
    AssetFilter, AssetRecord, AssetStore, Correlation, CorrelationDigest, CorrelationQuery,
    DeviceWrite, FailedDevice, HostAssetUpdate, InMemoryStore, IntegrationRecord, IntegrationSpec,
    LeaseRequest, MappingRecord, ScopeAssignment, ScopeRecord, ScopeSyncCounts, StoreCapabilities,
    SyncStateUpdate, conformance,
};
use rmm_sync::sync::RunReport;

/// Counts calls per trait method and delegates to `inner`.
#[derive(Debug)]
struct CountingStore<S> {
    inner: S,
    calls: Mutex<BTreeMap<&'static str, u64>>,
}

impl<S: AssetStore> CountingStore<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            calls: Mutex::new(BTreeMap::new()),
        }
    }

    /// Counts one call and returns the inner store.
    fn count(&self, method: &'static str) -> &S {
        *self
            .calls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(method)
            .or_default() += 1;
        &self.inner
    }

    fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A decorator must forward every method, or an inner override is silently lost.
#[deny(clippy::missing_trait_methods)]
#[async_trait]
impl<S: AssetStore> AssetStore for CountingStore<S> {
    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }
    async fn upsert_integration(
        &self,
        t: TenantId,
        s: &IntegrationSpec,
    ) -> Result<IntegrationRecord> {
        self.count("upsert_integration")
            .upsert_integration(t, s)
            .await
    }
    async fn get_integration(
        &self,
        t: TenantId,
        i: IntegrationId,
    ) -> Result<Option<IntegrationRecord>> {
        self.count("get_integration").get_integration(t, i).await
    }
    async fn list_integrations(&self, t: TenantId) -> Result<Vec<IntegrationRecord>> {
        self.count("list_integrations").list_integrations(t).await
    }
    async fn update_sync_state(
        &self,
        t: TenantId,
        i: IntegrationId,
        u: &SyncStateUpdate,
    ) -> Result<()> {
        self.count("update_sync_state")
            .update_sync_state(t, i, u)
            .await
    }
    async fn merge_settings(
        &self,
        t: TenantId,
        i: IntegrationId,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.count("merge_settings")
            .merge_settings(t, i, patch)
            .await
    }
    async fn try_acquire_lease(
        &self,
        t: TenantId,
        i: IntegrationId,
        r: &LeaseRequest,
    ) -> Result<bool> {
        self.count("try_acquire_lease")
            .try_acquire_lease(t, i, r)
            .await
    }
    async fn release_lease(&self, t: TenantId, i: IntegrationId, holder: &str) -> Result<()> {
        self.count("release_lease")
            .release_lease(t, i, holder)
            .await
    }
    async fn sync_scopes(
        &self,
        t: TenantId,
        i: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts> {
        self.count("sync_scopes")
            .sync_scopes(t, i, scopes, complete, now)
            .await
    }
    async fn list_scopes(&self, t: TenantId, i: IntegrationId) -> Result<Vec<ScopeRecord>> {
        self.count("list_scopes").list_scopes(t, i).await
    }
    async fn assign_scope(
        &self,
        t: TenantId,
        i: IntegrationId,
        scope: &ExternalScopeId,
        a: &ScopeAssignment,
    ) -> Result<ScopeRecord> {
        self.count("assign_scope")
            .assign_scope(t, i, scope, a)
            .await
    }
    async fn correlate(&self, t: TenantId, q: &CorrelationQuery) -> Result<Correlation> {
        self.count("correlate").correlate(t, q).await
    }
    async fn correlate_digest(
        &self,
        t: TenantId,
        q: &CorrelationQuery,
    ) -> Result<CorrelationDigest> {
        self.count("correlate_digest").correlate_digest(t, q).await
    }
    async fn apply(&self, t: TenantId, writes: &[DeviceWrite]) -> Result<()> {
        self.count("apply").apply(t, writes).await
    }
    async fn live_device_ids(
        &self,
        t: TenantId,
        i: IntegrationId,
        scope: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>> {
        self.count("live_device_ids")
            .live_device_ids(t, i, scope)
            .await
    }
    async fn reevaluate_agent_status(
        &self,
        t: TenantId,
        i: IntegrationId,
        th: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        self.count("reevaluate_agent_status")
            .reevaluate_agent_status(t, i, th, now)
            .await
    }
    async fn update_failed_devices(
        &self,
        t: TenantId,
        i: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        succeeded: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.count("update_failed_devices")
            .update_failed_devices(t, i, failed, succeeded, now)
            .await
    }
    async fn failed_devices(&self, t: TenantId, i: IntegrationId) -> Result<Vec<FailedDevice>> {
        self.count("failed_devices").failed_devices(t, i).await
    }
    async fn set_suppressed(
        &self,
        t: TenantId,
        i: IntegrationId,
        d: &ExternalDeviceId,
        on: bool,
    ) -> Result<()> {
        self.count("set_suppressed")
            .set_suppressed(t, i, d, on)
            .await
    }
    async fn get_asset(&self, t: TenantId, a: AssetId) -> Result<Option<AssetRecord>> {
        self.count("get_asset").get_asset(t, a).await
    }
    async fn list_assets(&self, t: TenantId, f: &AssetFilter) -> Result<Vec<AssetRecord>> {
        self.count("list_assets").list_assets(t, f).await
    }
    async fn extension_rows(
        &self,
        t: TenantId,
        a: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
        self.count("extension_rows").extension_rows(t, a).await
    }
    async fn get_mapping(
        &self,
        t: TenantId,
        i: IntegrationId,
        d: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>> {
        self.count("get_mapping").get_mapping(t, i, d).await
    }
    async fn update_asset(
        &self,
        t: TenantId,
        a: AssetId,
        u: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.count("update_asset").update_asset(t, a, u, now).await
    }
    async fn delete_asset(&self, t: TenantId, a: AssetId) -> Result<()> {
        self.count("delete_asset").delete_asset(t, a).await
    }
    async fn record_run(&self, t: TenantId, r: &RunReport) -> Result<()> {
        self.count("record_run").record_run(t, r).await
    }
    async fn recent_runs(
        &self,
        t: TenantId,
        i: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>> {
        self.count("recent_runs").recent_runs(t, i, limit).await
    }
    async fn record_seen(
        &self,
        t: TenantId,
        i: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        self.count("record_seen")
            .record_seen(t, i, run, chunk, ids)
            .await
    }
    async fn seen_devices<'a>(
        &self,
        t: TenantId,
        i: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        self.count("seen_devices")
            .seen_devices(t, i, run, before_chunk)
            .await
    }
    async fn clear_seen(&self, t: TenantId, i: IntegrationId) -> Result<u64> {
        self.count("clear_seen").clear_seen(t, i).await
    }
}

fn main() {
    // The concurrency scenarios are only meaningful with several worker threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let store = Arc::new(CountingStore::new(InMemoryStore::new()));
    let report = runtime.block_on(conformance::run_all(
        Arc::clone(&store) as Arc<dyn AssetStore>
    ));

    println!("conformance of CountingStore<InMemoryStore>: {report}");
    println!(
        "store calls made by {} scenarios:",
        conformance::SCENARIOS.len()
    );
    for (method, n) in store.calls() {
        println!("  {method:<24} {n:>6}");
    }
    if !report.is_success() {
        std::process::exit(1);
    }
}
