//! The workflow input: what a schedule (or `sync --via temporal`) hands a sync workflow.

use serde::{Deserialize, Serialize};

use crate::model::{ExternalDeviceId, IntegrationId, TenantId};
use crate::sync::RunMode;

/// The workflow type name of the per-integration run workflow (full, incremental, scopes).
/// Schedules start workflows by this name; the worker registers its workflow under it.
pub const INTEGRATION_SYNC_WORKFLOW: &str = "IntegrationSyncWorkflow";

/// The workflow type name of the single-device refresh workflow.
pub const DEVICE_REFRESH_WORKFLOW: &str = "DeviceRefreshWorkflow";

/// The input of [`INTEGRATION_SYNC_WORKFLOW`] and [`DEVICE_REFRESH_WORKFLOW`]: which run, of
/// what. Serialized as JSON (Temporal's default payload converter), so field names are part of
/// the wire format: running workflows and stored schedules carry it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SyncWorkflowInput {
    /// The tenant.
    pub tenant: TenantId,
    /// The integration.
    pub integration: IntegrationId,
    /// Full, incremental, scopes, or device.
    pub mode: RunMode,
    /// The device to refresh, for [`RunMode::Device`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<ExternalDeviceId>,
    /// Show what would change; write nothing.
    #[serde(default)]
    pub dry_run: bool,
    /// Where the run stands when the workflow continued as new (`None` for a fresh run: what
    /// schedules and `sync --via temporal` send).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Box<super::workflow::Continuation>>,
    /// Pages after which the workflow continues as new (`None`:
    /// [`super::workflow::PAGES_PER_EXECUTION`]). Lower keeps each execution's history
    /// smaller, at the cost of more executions per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages_per_execution: Option<u64>,
}

impl SyncWorkflowInput {
    /// A (non-dry) run of `mode` for one integration.
    pub fn new(tenant: TenantId, integration: IntegrationId, mode: RunMode) -> Self {
        Self {
            tenant,
            integration,
            mode,
            device: None,
            dry_run: false,
            resume: None,
            pages_per_execution: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_plain_json_and_round_trips() {
        let tenant = TenantId::new_random();
        let integration = IntegrationId::from_name("n");
        let input = SyncWorkflowInput::new(tenant, integration, RunMode::Incremental);
        let json = serde_json::to_value(&input).unwrap();
        assert_eq!(json["mode"], "incremental");
        assert_eq!(json["tenant"], tenant.to_string());
        assert!(json.get("device").is_none(), "{json}");
        let device = SyncWorkflowInput {
            mode: RunMode::Device,
            device: Some(ExternalDeviceId::new("d-1")),
            dry_run: true,
            ..input.clone()
        };
        for v in [input, device] {
            let back: SyncWorkflowInput =
                serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
            assert_eq!(back, v);
        }
    }
}
