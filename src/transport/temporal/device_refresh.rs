//! `DeviceRefreshWorkflow`: single-device refreshes through Temporal, for webhooks. One workflow
//! per device ([`super::ids::device_workflow_id`]), started or signalled with
//! [`request_device_refresh`] (signal-with-start): every event for a device while its workflow
//! waits or runs lands as a signal on that one workflow, and a burst becomes one refresh, or
//! two when events arrive during the first.
//!
//! A refresh is a run of the step seam in [`RunMode::Device`] (begin, one page, finish), so it
//! takes the integration's lease like an in-process device run: while a full run holds it, the
//! refresh waits and tries again, and the events keep coalescing meanwhile.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_client::{Client, WorkflowStartOptions};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{SyncWorkflowContext, WorkflowContext, WorkflowResult};

use super::config::TemporalConfig;
use super::ids::device_workflow_id;
use super::input::SyncWorkflowInput;
use super::workflow::{Steps, SyncWorkflowOutcome, execute_steps};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ExternalDeviceId, IntegrationId, TenantId};
use crate::sync::RunMode;

/// How long a refresh waits after its first event for more of the same device (a webhook
/// source often sends several events for one change).
pub const COALESCE_WINDOW: Duration = Duration::from_secs(1);

/// Waits between attempts while the integration is busy (another run holds its lease): a
/// full run of a large fleet takes minutes, so the wait grows to [`BUSY_WAIT_MAX`].
const BUSY_WAIT_FIRST: Duration = Duration::from_secs(5);
const BUSY_WAIT_MAX: Duration = Duration::from_secs(120);
/// Busy attempts before the refresh gives up (about an hour): the next full run covers the
/// device anyway.
const BUSY_ATTEMPTS: u32 = 35;

/// A device event, as the signal carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceEvent {
    /// What happened, for the workflow's history (e.g. the webhook's event type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
}

/// What a device refresh workflow did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceRefreshOutcome {
    /// Events received (signals, the starting one included).
    pub events: u64,
    /// Refreshes run for them.
    pub refreshes: u32,
    /// The last refresh's outcome (`Refused` with `lease_held` when the integration stayed
    /// busy through every attempt).
    pub last: SyncWorkflowOutcome,
}

/// Refreshes one device when signalled (see the module docs).
#[workflow]
#[derive(Debug, Default)]
pub struct DeviceRefreshWorkflow {
    /// Events received and not yet served by a refresh.
    pending: u64,
    /// Events received in all.
    events: u64,
}

#[workflow_methods]
impl DeviceRefreshWorkflow {
    /// Runs refreshes while events are pending.
    #[allow(clippy::future_not_send)] // workflow code: single-threaded by design
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: SyncWorkflowInput,
    ) -> WorkflowResult<DeviceRefreshOutcome> {
        let mut refreshes = 0u32;
        let mut runs = 0u32;
        let mut steps = move || {
            runs += 1;
            Steps {
                seq: runs - 1,
                continue_as_new: false,
            }
        };
        loop {
            // Let a burst arrive; then serve everything received so far with one refresh.
            ctx.timer(COALESCE_WINDOW).await;
            ctx.state_mut(|s| s.pending = 0);
            let mut last = execute_steps(ctx, input.clone(), steps()).await?;
            let mut wait = BUSY_WAIT_FIRST;
            let mut attempts = 1;
            while is_busy(&last) && attempts < BUSY_ATTEMPTS {
                ctx.timer(wait).await;
                wait = (wait * 2).min(BUSY_WAIT_MAX);
                attempts += 1;
                // Events received while waiting are served by this attempt.
                ctx.state_mut(|s| s.pending = 0);
                last = execute_steps(ctx, input.clone(), steps()).await?;
            }
            refreshes += 1;
            if ctx.state(|s| s.pending) == 0 {
                return Ok(DeviceRefreshOutcome {
                    events: ctx.state(|s| s.events),
                    refreshes,
                    last,
                });
            }
        }
    }

    /// One more event for the device.
    #[signal]
    pub fn refresh(&mut self, _ctx: &mut SyncWorkflowContext<Self>, _event: DeviceEvent) {
        self.pending += 1;
        self.events += 1;
    }
}

fn is_busy(outcome: &SyncWorkflowOutcome) -> bool {
    matches!(
        outcome,
        SyncWorkflowOutcome::Refused {
            kind: ErrorKind::LeaseHeld,
            ..
        }
    )
}

/// Asks for a refresh of one device: signals its [`DeviceRefreshWorkflow`], starting it when
/// none runs (signal-with-start, atomic on the server). Returns the workflow id. Does not wait
/// for the refresh.
pub async fn request_device_refresh(
    client: &Client,
    config: &TemporalConfig,
    tenant: TenantId,
    integration: IntegrationId,
    device: &ExternalDeviceId,
    event: DeviceEvent,
) -> Result<String> {
    let workflow_id = device_workflow_id(tenant, integration, device);
    let mut input = SyncWorkflowInput::new(tenant, integration, RunMode::Device);
    input.device = Some(device.clone());
    let options = WorkflowStartOptions::new(config.task_queue.clone(), workflow_id.clone()).build();
    client
        .signal_with_start_workflow(
            DeviceRefreshWorkflow::run,
            input,
            DeviceRefreshWorkflow::refresh,
            event,
            options,
        )
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Unavailable,
                format!("could not signal workflow {workflow_id}: {e}"),
            )
            .with_context("address", &config.address)
        })?;
    Ok(workflow_id)
}

/// The service's [`DeviceRefreshRoute`](crate::service::DeviceRefreshRoute) through Temporal:
/// each webhook refresh becomes a [`request_device_refresh`] (what `rmm-sync serve` does with
/// `transport = "temporal"`).
#[cfg(feature = "service")]
#[derive(Clone)]
pub struct TemporalRefreshRoute {
    client: Client,
    config: TemporalConfig,
}

#[cfg(feature = "service")]
impl TemporalRefreshRoute {
    /// Refreshes signalled through `client` to workflows on `config`'s task queue.
    pub fn new(client: Client, config: TemporalConfig) -> Self {
        Self { client, config }
    }
}

#[cfg(feature = "service")]
impl std::fmt::Debug for TemporalRefreshRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporalRefreshRoute")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "service")]
#[async_trait::async_trait]
impl crate::service::DeviceRefreshRoute for TemporalRefreshRoute {
    async fn refresh(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<()> {
        let event = DeviceEvent {
            what: Some("webhook".to_owned()),
        };
        request_device_refresh(
            &self.client,
            &self.config,
            tenant,
            integration,
            device,
            event,
        )
        .await
        .map(|_| ())
    }
}
