//! What the service runs: one entry per integration, with its schedules and webhook source.

use std::fmt;
use std::sync::Arc;

use super::webhook::WebhookSource;
use crate::model::{IntegrationId, TenantId};
use crate::provider::RmmProvider;
use crate::schedule::SyncSchedule;

/// One integration the service schedules and receives webhooks for. The integration must exist
/// in the store (`AssetStore::upsert_integration`) before the service starts.
#[derive(Clone)]
pub struct ServiceIntegration {
    /// The name in metrics labels, log lines and the webhook path (`/webhooks/{name}`): short,
    /// URL-safe, unique in the service (the CLI uses the config's `id`).
    pub name: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The integration.
    pub integration: IntegrationId,
    /// Its provider.
    pub provider: Arc<dyn RmmProvider>,
    /// Scheduled runs.
    pub schedule: SyncSchedule,
    /// Webhook verification and parsing, for providers that push events.
    pub webhook: Option<WebhookSource>,
}

impl fmt::Debug for ServiceIntegration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceIntegration")
            .field("name", &self.name)
            .field("tenant", &self.tenant)
            .field("integration", &self.integration)
            .field("provider", &self.provider.info().provider)
            .field("schedule", &self.schedule)
            .field("webhook", &self.webhook)
            .finish()
    }
}

impl ServiceIntegration {
    /// An integration without schedules or webhooks; add them with the `with_*` methods.
    pub fn new(
        name: impl Into<String>,
        tenant: TenantId,
        integration: IntegrationId,
        provider: Arc<dyn RmmProvider>,
    ) -> Self {
        Self {
            name: name.into(),
            tenant,
            integration,
            provider,
            schedule: SyncSchedule::none(),
            webhook: None,
        }
    }

    /// Sets the schedules.
    #[must_use]
    pub fn with_schedule(mut self, schedule: SyncSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Receives webhooks verified and parsed by `source`.
    #[must_use]
    pub fn with_webhook(mut self, source: WebhookSource) -> Self {
        self.webhook = Some(source);
        self
    }
}
