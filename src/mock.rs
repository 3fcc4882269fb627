//! mockall mocks of every plugin trait (feature `mock`).
//!
//! `MockAssetStore`, `MockScopeSource` and `MockDeviceSnapshotSource` come from `automock`;
//! [`MockRmmProvider`] implements all three provider traits at once, because a provider is a
//! scope source and a device source too.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use crate::provider::{MockDeviceSnapshotSource, MockScopeSource};
pub use crate::store::MockAssetStore;

use crate::error::Result;
use crate::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, IdentityChange, ScopeSnapshot,
};
use crate::provider::{
    Capabilities, ChangesPage, ChangesRequest, ConnectionReport, DevicePage, DevicePageRequest,
    DeviceSnapshotSource, ProviderInfo, RmmProvider, ScopeSource,
};

mockall::mock! {
    /// A mock provider implementing [`RmmProvider`], [`ScopeSource`] and
    /// [`DeviceSnapshotSource`].
    #[derive(Debug)]
    pub RmmProvider {}

    #[async_trait]
    impl RmmProvider for RmmProvider {
        fn info(&self) -> ProviderInfo;
        fn capabilities(&self) -> Capabilities;
        fn agent_status_thresholds(&self) -> AgentStatusThresholds;
        async fn test_connection(&self) -> Result<ConnectionReport>;
    }

    #[async_trait]
    impl ScopeSource for RmmProvider {
        async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>>;
    }

    #[async_trait]
    impl DeviceSnapshotSource for RmmProvider {
        async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage>;
        async fn list_changes_page(&self, request: &ChangesRequest) -> Result<ChangesPage>;
        async fn identity_changes(&self, since: Option<DateTime<Utc>>) -> Result<Vec<IdentityChange>>;
        async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>>;
    }
}
