//! Starting a sync workflow and waiting for its report: what `rmm-sync sync --via temporal`
//! does.

use temporalio_client::errors::WorkflowStartError;
use temporalio_client::{
    Client, WorkflowGetResultOptions, WorkflowIdConflictPolicy, WorkflowStartOptions,
};

use super::config::TemporalConfig;
use super::ids::sync_workflow_id;
use super::input::SyncWorkflowInput;
use super::workflow::{IntegrationSyncWorkflow, SyncWorkflowOutcome};
use crate::error::{Error, ErrorKind, Result};

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
    let workflow_id = sync_workflow_id(input.tenant, input.integration);
    let options = WorkflowStartOptions::new(config.task_queue.clone(), workflow_id.clone())
        .id_conflict_policy(WorkflowIdConflictPolicy::Fail)
        .build();
    match client
        .start_workflow(IntegrationSyncWorkflow::run, input, options)
        .await
    {
        Ok(handle) => {
            let run_id = handle.run_id().map(str::to_owned);
            Ok(SyncStart {
                workflow_id,
                run_id,
            })
        }
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

/// Starts the integration's sync workflow and waits for its outcome (following
/// continue-as-new to the last execution).
pub async fn run_via_temporal(
    client: &Client,
    config: &TemporalConfig,
    input: SyncWorkflowInput,
) -> Result<SyncWorkflowOutcome> {
    let start = start_sync(client, config, input).await?;
    client
        .get_workflow_handle::<IntegrationSyncWorkflow>(start.workflow_id.clone())
        .get_result(WorkflowGetResultOptions::default())
        .await
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("workflow {} did not complete: {e}", start.workflow_id),
            )
        })
}
