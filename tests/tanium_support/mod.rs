//! Shared harness of the Tanium tests: a simulated Gateway, the adapter pointed at it, an
//! `InMemoryStore` with every computer group mapped to a client, and an orchestrator.

#![allow(dead_code)] // each test file uses a different part

use std::sync::Arc;

use rmm_sync::model::{ClientId, ExternalDeviceId, IntegrationId, ProviderId, TenantId};
use rmm_sync::provider::tanium::{TaniumBuilder, TaniumProvider};
use rmm_sync::store::{
    AssetFilter, AssetRecord, AssetStore, InMemoryStore, IntegrationSpec, MappingRecord,
    ScopeAssignment,
};
use rmm_sync::sync::{RunReport, RunRequest, SyncOptions, SyncOrchestrator};
use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};

pub(crate) struct Harness {
    pub(crate) sim: TaniumGatewaySim,
    pub(crate) provider: Arc<TaniumProvider>,
    pub(crate) store: Arc<dyn AssetStore>,
    pub(crate) orchestrator: SyncOrchestrator,
    pub(crate) tenant: TenantId,
    pub(crate) integration: IntegrationId,
}

/// The client a computer group is mapped to.
pub(crate) fn client_of(group: &str) -> ClientId {
    ClientId::from_name(group)
}

impl Harness {
    pub(crate) async fn new(endpoints: u64, groups: u64, seed: u64) -> Self {
        Self::with(endpoints, groups, seed, |b| b, SyncOptions::default()).await
    }

    pub(crate) async fn with(
        endpoints: u64,
        groups: u64,
        seed: u64,
        configure: impl FnOnce(TaniumBuilder) -> TaniumBuilder,
        options: SyncOptions,
    ) -> Self {
        let sim = TaniumGatewaySim::start(SimConfig::new(endpoints, groups, seed))
            .await
            .expect("simulator starts");
        let provider = Arc::new(
            configure(sim.provider_builder())
                .build()
                .expect("provider builds"),
        );
        let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
        let tenant = TenantId::new_random();
        let integration = IntegrationId::from_name("tanium-test");
        store
            .upsert_integration(
                tenant,
                &IntegrationSpec {
                    integration_id: integration,
                    provider: ProviderId::TANIUM,
                    instance_url: Some(sim.url()),
                    is_active: true,
                    settings: Default::default(),
                },
            )
            .await
            .unwrap();
        let orchestrator = SyncOrchestrator::with_options(Arc::clone(&store), options);
        let h = Self {
            sim,
            provider,
            store,
            orchestrator,
            tenant,
            integration,
        };
        h.map_all_scopes().await;
        h
    }

    /// Syncs the scopes and maps every one to the client named after its id.
    pub(crate) async fn map_all_scopes(&self) {
        self.orchestrator
            .sync_scopes(self.tenant, self.integration, self.provider.as_ref())
            .await
            .unwrap();
        for scope in self
            .store
            .list_scopes(self.tenant, self.integration)
            .await
            .unwrap()
        {
            let assignment = ScopeAssignment {
                client_id: Some(Some(client_of(scope.external_id.as_str()))),
                ..Default::default()
            };
            self.store
                .assign_scope(
                    self.tenant,
                    self.integration,
                    &scope.external_id,
                    &assignment,
                )
                .await
                .unwrap();
        }
    }

    pub(crate) async fn run(&self, request: RunRequest) -> RunReport {
        self.orchestrator
            .run(
                self.tenant,
                self.integration,
                Arc::clone(&self.provider) as Arc<dyn rmm_sync::provider::RmmProvider>,
                request,
            )
            .await
            .expect("the run returns a report")
    }

    pub(crate) async fn full(&self) -> RunReport {
        self.run(RunRequest::full()).await
    }

    pub(crate) async fn mapping(&self, eid: &str) -> Option<MappingRecord> {
        self.store
            .get_mapping(self.tenant, self.integration, &ExternalDeviceId::new(eid))
            .await
            .unwrap()
    }

    pub(crate) async fn asset(&self, eid: &str) -> Option<AssetRecord> {
        let mapping = self.mapping(eid).await?;
        self.store
            .get_asset(self.tenant, mapping.asset_id)
            .await
            .unwrap()
    }

    pub(crate) async fn assets(&self) -> Vec<AssetRecord> {
        self.store
            .list_assets(
                self.tenant,
                &AssetFilter {
                    integration_id: Some(self.integration),
                    limit: None,
                },
            )
            .await
            .unwrap()
    }
}
