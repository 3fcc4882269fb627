//! Where the service sends a webhook's device refresh: by default it runs in this process; a
//! [`DeviceRefreshRoute`] hands it to something else (the Temporal transport's
//! `TemporalRefreshRoute` signals a `DeviceRefreshWorkflow`, which coalesces and runs it on a
//! worker).

use std::fmt;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{ExternalDeviceId, IntegrationId, TenantId};

/// Sends single-device refreshes elsewhere instead of running them in the service (see
/// [`super::SyncService::with_refresh_route`]).
#[async_trait]
pub trait DeviceRefreshRoute: Send + Sync + fmt::Debug {
    /// Hands over one refresh; returns once it is accepted (not run). A retryable error makes
    /// the service try again later, like a busy integration.
    async fn refresh(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<()>;
}
