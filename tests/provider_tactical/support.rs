//! Shared set-up: providers pointed at a simulator, a store with every client mapped.

use std::sync::Arc;
use std::time::Duration;

use rmm_sync::model::{ClientId, IntegrationId, TenantId};
use rmm_sync::provider::http::RetryConfig;
use rmm_sync::provider::tactical::{TacticalAuth, TacticalConfig, TacticalProvider};
use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::sync::SyncOrchestrator;
use rmm_sync::testkit::TacticalSim;

/// Retries that keep tests fast but still honour short `Retry-After`s.
pub(crate) fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_retry_after: Duration::from_secs(2),
    }
}

pub(crate) fn config(sim: &TacticalSim, auth: TacticalAuth) -> TacticalConfig {
    TacticalConfig::new(sim.url(), auth).with_retry(fast_retry())
}

pub(crate) fn api_key_provider(sim: &TacticalSim) -> TacticalProvider {
    TacticalProvider::new(config(sim, TacticalAuth::api_key(sim.api_key()))).unwrap()
}

pub(crate) fn knox_provider(sim: &TacticalSim, user: &str, password: &str) -> TacticalProvider {
    TacticalProvider::new(config(sim, TacticalAuth::knox(user, password))).unwrap()
}

/// The host client a Tactical client id is mapped to in these tests.
pub(crate) fn host_client(tactical_client: i64) -> ClientId {
    ClientId::from_name(&format!("client-{tactical_client}"))
}

/// A store with the integration registered and every client scope (not the sites) mapped.
pub(crate) struct Harness {
    pub(crate) store: Arc<dyn AssetStore>,
    pub(crate) tenant: TenantId,
    pub(crate) integration: IntegrationId,
    pub(crate) orchestrator: SyncOrchestrator,
    pub(crate) provider: Arc<TacticalProvider>,
}

impl Harness {
    pub(crate) async fn new(provider: TacticalProvider) -> Self {
        let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
        let tenant = TenantId::new_random();
        let integration = IntegrationId::from_name("tactical-test");
        let spec = IntegrationSpec::new(integration, rmm_sync::model::ProviderId::TACTICALRMM);
        store.upsert_integration(tenant, &spec).await.unwrap();
        let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
        let provider = Arc::new(provider);
        orchestrator
            .sync_scopes(tenant, integration, provider.as_ref())
            .await
            .unwrap();
        let harness = Harness {
            store,
            tenant,
            integration,
            orchestrator,
            provider,
        };
        harness.map_clients().await;
        harness
    }

    /// Maps every organization scope to `host_client(id)`; sites stay unmapped.
    pub(crate) async fn map_clients(&self) {
        for scope in self
            .store
            .list_scopes(self.tenant, self.integration)
            .await
            .unwrap()
        {
            if let Ok(id) = scope.external_id.as_str().parse::<i64>() {
                let assignment = ScopeAssignment {
                    client_id: Some(Some(host_client(id))),
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
    }

    pub(crate) async fn run(
        &self,
        request: rmm_sync::sync::RunRequest,
    ) -> rmm_sync::sync::RunReport {
        let provider: Arc<dyn rmm_sync::provider::RmmProvider> =
            Arc::<TacticalProvider>::clone(&self.provider);
        self.orchestrator
            .run(self.tenant, self.integration, provider, request)
            .await
            .unwrap()
    }

    pub(crate) async fn assets(&self) -> Vec<rmm_sync::store::AssetRecord> {
        self.store
            .list_assets(self.tenant, &Default::default())
            .await
            .unwrap()
    }
}
