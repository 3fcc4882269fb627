//! Plain data: ids, snapshots, device facts, outcomes and reports.

mod device;
mod ids;
mod outcome;
mod provider_id;
mod reported;
mod snapshot;

pub use device::{
    AgentStatus, AgentStatusThresholds, DeviceDetails, DeviceKind, ExtensionKind, ExtensionRow,
    IdentityHints, Lifecycle, StorageInfo,
};
pub use ids::{
    AssetId, ClientId, ExternalDeviceId, ExternalScopeId, IntegrationId, MappingId, RunId, TenantId,
};
pub use outcome::{DeviceError, DeviceOutcome, Outcome, OutcomeCounts, SkipReason};
pub use provider_id::ProviderId;
pub use reported::Reported;
pub use snapshot::{DeviceSnapshot, IdentityChange, ScopeKind, ScopeSnapshot};
