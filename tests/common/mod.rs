//! Shared harness of the end-to-end tests: one tenant, one integration, an `InMemoryStore`, a
//! `ScriptedProvider` and a `SyncOrchestrator` over them, plus snapshot builders.
//!
//! Each test binary uses a different part of it, hence the module-wide `dead_code` allowance.
#![allow(dead_code)]

pub(crate) mod flaky_store;
pub(crate) mod hooked_provider;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use rmm_sync::ingest::now_micros;
use rmm_sync::model::{
    AgentStatusThresholds, ClientId, DeviceKind, DeviceSnapshot, ExternalDeviceId, ExternalScopeId,
    IntegrationId, Reported, ScopeKind, ScopeSnapshot, TenantId,
};
use rmm_sync::provider::RmmProvider;
use rmm_sync::store::{
    AssetFilter, AssetRecord, AssetStore, InMemoryStore, IntegrationRecord, MappingRecord,
    ScopeAssignment,
};
use rmm_sync::sync::{ProgressFn, RunReport, RunRequest, SyncOptions, SyncOrchestrator};
use rmm_sync::testkit::ScriptedProvider;

/// The client a scope is mapped to by [`Harness::map_scope`].
pub(crate) fn client_of(scope: &str) -> ClientId {
    ClientId::from_name(scope)
}

/// A realistic workstation snapshot seen a minute ago; every optional field reported.
pub(crate) fn device(id: &str, scope: &str) -> DeviceSnapshot {
    let mut d = DeviceSnapshot::new(id, scope, DeviceKind::Workstation, format!("host-{id}"));
    d.serial_number = Reported::Value(format!("SN-{id}"));
    d.last_seen_at = Reported::Value(now_micros() - chrono::Duration::minutes(1));
    d.details.os_type = Reported::Value("Windows".into());
    d.details.os_version = Reported::Value("10.0.19045".into());
    d.details.lan_ip = Reported::Value("10.0.0.1".into());
    d.details.current_user = Reported::Value("alice".into());
    d.details.agent_version = Reported::Value("2.4.1".into());
    d.details.ram_gb = Reported::Value(16.0);
    d
}

/// An organization scope.
pub(crate) fn scope(id: &str) -> ScopeSnapshot {
    ScopeSnapshot::new(id, format!("Scope {id}"), ScopeKind::Organization)
}

/// A provider with the given scopes, each holding `n` devices named `<scope>-<i>`.
pub(crate) fn fleet(scopes: &[(&str, usize)]) -> ScriptedProvider {
    let p = ScriptedProvider::new();
    for (s, n) in scopes {
        p.put_scope(scope(s));
        for i in 0..*n {
            p.put_device(device(&format!("{s}-{i}"), s));
        }
    }
    p
}

/// Thresholds with an online window and an optional overdue window, in minutes.
pub(crate) fn thresholds(online_min: u64, overdue_min: Option<u64>) -> AgentStatusThresholds {
    AgentStatusThresholds {
        online_within: Duration::from_secs(online_min * 60),
        overdue_after: overdue_min.map(|m| Duration::from_secs(m * 60)),
    }
}

/// Everything one end-to-end test needs.
pub(crate) struct Harness {
    pub(crate) store: Arc<dyn AssetStore>,
    pub(crate) tenant: TenantId,
    pub(crate) integration: IntegrationId,
    pub(crate) provider: Arc<ScriptedProvider>,
    pub(crate) orch: SyncOrchestrator,
}

impl Harness {
    /// A fresh in-memory store with the provider's integration created and its scopes synced
    /// (all unmapped).
    pub(crate) async fn new(provider: ScriptedProvider) -> Self {
        let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
        Self::in_store(store, TenantId::new_random(), provider, "main").await
    }

    /// A harness for an integration named `name` in an existing store and tenant.
    pub(crate) async fn in_store(
        store: Arc<dyn AssetStore>,
        tenant: TenantId,
        provider: ScriptedProvider,
        name: &str,
    ) -> Self {
        let spec = provider.integration_spec(name);
        store.upsert_integration(tenant, &spec).await.unwrap();
        let orch = SyncOrchestrator::new(Arc::clone(&store));
        orch.sync_scopes(tenant, spec.integration_id, &provider)
            .await
            .unwrap();
        Self {
            store,
            tenant,
            integration: spec.integration_id,
            provider: Arc::new(provider),
            orch,
        }
    }

    /// Replaces the orchestrator's options (keeps no progress callback).
    pub(crate) fn with_options(mut self, options: SyncOptions) -> Self {
        self.orch = SyncOrchestrator::with_options(Arc::clone(&self.store), options);
        self
    }

    /// Adds a progress callback (keeps the options in force).
    pub(crate) fn with_progress(mut self, progress: ProgressFn) -> Self {
        let options = self.orch.options().clone();
        self.orch = SyncOrchestrator::with_options(Arc::clone(&self.store), options)
            .with_progress(progress);
        self
    }

    /// Maps a scope to [`client_of`] it.
    pub(crate) async fn map_scope(&self, scope: &str) {
        let assignment = ScopeAssignment {
            client_id: Some(Some(client_of(scope))),
            ..Default::default()
        };
        self.store
            .assign_scope(
                self.tenant,
                self.integration,
                &ExternalScopeId::new(scope),
                &assignment,
            )
            .await
            .unwrap();
    }

    /// Maps every scope the store knows.
    pub(crate) async fn map_all(&self) {
        for s in self
            .store
            .list_scopes(self.tenant, self.integration)
            .await
            .unwrap()
        {
            self.map_scope(s.external_id.as_str()).await;
        }
    }

    /// Runs with the harness's own provider; panics on `Err` (misuse or lease).
    pub(crate) async fn run(&self, request: RunRequest) -> RunReport {
        self.run_with(Arc::clone(&self.provider) as Arc<dyn RmmProvider>, request)
            .await
    }

    /// Runs with another provider instance of the same integration.
    pub(crate) async fn run_with(
        &self,
        provider: Arc<dyn RmmProvider>,
        request: RunRequest,
    ) -> RunReport {
        self.orch
            .run(self.tenant, self.integration, provider, request)
            .await
            .expect("run returns a report")
    }

    pub(crate) async fn mapping(&self, device: &str) -> Option<MappingRecord> {
        self.store
            .get_mapping(
                self.tenant,
                self.integration,
                &ExternalDeviceId::new(device),
            )
            .await
            .unwrap()
    }

    /// The asset the device's mapping points to.
    pub(crate) async fn asset(&self, device: &str) -> Option<AssetRecord> {
        let m = self.mapping(device).await?;
        self.store.get_asset(self.tenant, m.asset_id).await.unwrap()
    }

    pub(crate) async fn assets(&self) -> Vec<AssetRecord> {
        self.store
            .list_assets(self.tenant, &AssetFilter::default())
            .await
            .unwrap()
    }

    pub(crate) async fn integration_record(&self) -> IntegrationRecord {
        self.store
            .get_integration(self.tenant, self.integration)
            .await
            .unwrap()
            .unwrap()
    }

    /// Live device ids of one scope, as a sweep would see them.
    pub(crate) async fn live(&self, scope: &str) -> Vec<String> {
        self.store
            .live_device_ids(self.tenant, self.integration, &ExternalScopeId::new(scope))
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.as_str().to_owned())
            .collect()
    }

    /// The integration record read synchronously, for progress callbacks. The in-memory
    /// store's futures never wait, so polling once completes them.
    pub(crate) fn integration_now(
        store: &Arc<dyn AssetStore>,
        tenant: TenantId,
        id: IntegrationId,
    ) -> IntegrationRecord {
        store
            .get_integration(tenant, id)
            .now_or_never()
            .expect("the in-memory store never waits")
            .unwrap()
            .unwrap()
    }
}

/// `now - minutes`, microsecond precision.
pub(crate) fn minutes_ago(minutes: i64) -> DateTime<Utc> {
    now_micros() - chrono::Duration::minutes(minutes)
}
