//! Starting a sync workflow and waiting for its report: what `rmm-sync sync --via temporal`
//! does.

use temporalio_client::errors::{WorkflowGetResultError, WorkflowStartError};
use temporalio_client::{
    Client, WorkflowGetResultOptions, WorkflowHandle, WorkflowIdConflictPolicy,
    WorkflowStartOptions,
};

use temporalio_workflow::workflows::WorkflowImplementation;

use super::config::TemporalConfig;
use super::ids::sync_workflow_id;
use super::input::SyncWorkflowInput;
use super::workflow::{IntegrationSyncWorkflow, SyncWorkflowOutcome};
use crate::error::{Error, ErrorKind, Result};

/// The handle `start_workflow` gives for [`IntegrationSyncWorkflow::run`].
type SyncHandle = WorkflowHandle<Client, <IntegrationSyncWorkflow as WorkflowImplementation>::Run>;

/// A started sync workflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStart {
    /// Its workflow id ([`sync_workflow_id`]).
    pub workflow_id: String,
    /// The Temporal run id of its first execution.
    pub run_id: Option<String>,
}

/// Starts the integration's sync workflow on the configured task queue. Refused with
/// [`ErrorKind::LeaseHeld`] while another run of the integration is in progress on Temporal
/// (its workflow id is taken): at most one runs per integration in a namespace.
pub async fn start_sync(
    client: &Client,
    config: &TemporalConfig,
    input: SyncWorkflowInput,
) -> Result<SyncStart> {
    let handle = start(client, config, input).await?;
    Ok(SyncStart {
        workflow_id: handle.info().workflow_id.clone(),
        run_id: handle.run_id().map(str::to_owned),
    })
}

async fn start(
    client: &Client,
    config: &TemporalConfig,
    input: SyncWorkflowInput,
) -> Result<SyncHandle> {
    let workflow_id = sync_workflow_id(input.tenant, input.integration);
    let options = WorkflowStartOptions::new(config.task_queue.clone(), workflow_id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::Fail)
        .build();
    match client
        .start_workflow(IntegrationSyncWorkflow::run, input, options)
        .await
    {
        Ok(handle) => Ok(handle),
        Err(WorkflowStartError::AlreadyStarted { .. }) => Err(Error::new(
            ErrorKind::LeaseHeld,
            format!(
                "a run of this integration is already in progress on Temporal (workflow {workflow_id}); wait for it or cancel it"
            ),
        )),
        Err(e) => Err(Error::new(
            ErrorKind::Unavailable,
            format!("could not start workflow {workflow_id}: {e}"),
        )
        .with_context("address", &config.address)),
    }
}

/// Starts the integration's sync workflow and waits for its outcome, following
/// continue-as-new from the execution it started (not whatever runs under the workflow id
/// later).
pub async fn run_via_temporal(
    client: &Client,
    config: &TemporalConfig,
    input: SyncWorkflowInput,
) -> Result<SyncWorkflowOutcome> {
    let handle = start(client, config, input).await?;
    handle
        .get_result(WorkflowGetResultOptions::default())
        .await
        .map_err(|e| {
            let kind = match e {
                WorkflowGetResultError::Cancelled { .. } => ErrorKind::Cancelled,
                WorkflowGetResultError::TimedOut => ErrorKind::Timeout,
                _ => ErrorKind::Other,
            };
            Error::new(
                kind,
                format!(
                    "workflow {} did not complete: {e}",
                    handle.info().workflow_id
                ),
            )
        })
}
