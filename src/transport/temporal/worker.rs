//! A worker: polls the task queue and executes the sync workflows and their activities.
//! Many workers may share a task queue; each executes what it polls.

use std::future::Future;

use temporalio_client::Client;
use temporalio_sdk::{Runtime, Worker, WorkerOptions};

use super::activities::SyncActivities;
use super::config::TemporalConfig;
use super::device_refresh::DeviceRefreshWorkflow;
use super::workflow::IntegrationSyncWorkflow;
use crate::error::{Error, ErrorKind, Result};

/// The longest the SDK holds back an activity's heartbeats (its default is 80% of the
/// heartbeat timeout, 16 s): a cancellation reaches a running `list_pages` only with a
/// heartbeat's answer, and a retried attempt resumes from the last heartbeat sent, so both are
/// at most this far behind. One small request per running activity every 2 s.
const HEARTBEAT_THROTTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Worker options with the sync and device refresh workflows and `activities` registered on
/// the configured task queue.
pub fn worker_options(
    config: &TemporalConfig,
    activities: SyncActivities,
) -> Result<WorkerOptions> {
    let options = WorkerOptions::new(config.task_queue.clone())
        .register_workflow::<IntegrationSyncWorkflow>()
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("registering the sync workflow: {e}"),
            )
        })?
        .register_workflow::<DeviceRefreshWorkflow>()
        .map_err(|e| {
            Error::new(
                ErrorKind::Other,
                format!("registering the device refresh workflow: {e}"),
            )
        })?
        .register_activities(activities)
        .max_heartbeat_throttle_interval(HEARTBEAT_THROTTLE)
        .build();
    Ok(options)
}

/// Runs a worker until `shutdown` resolves, then lets it finish the tasks it holds (the SDK's
/// graceful shutdown) and returns.
///
/// The future is not `Send` (the SDK's worker loop is not): await it on the runtime's main
/// task (`block_on`) or a `LocalSet`, not in `tokio::spawn`.
#[allow(clippy::future_not_send)]
pub async fn run_worker(
    client: Client,
    config: &TemporalConfig,
    activities: SyncActivities,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let runtime = Runtime::from_current_tokio(Default::default()).map_err(|e| {
        Error::new(
            ErrorKind::Other,
            format!("starting the Temporal runtime: {e}"),
        )
    })?;
    let options = worker_options(config, activities)?;
    let mut worker = Worker::new(&runtime, client, options).map_err(|e| {
        Error::new(
            ErrorKind::InvalidConfig,
            format!("creating the worker: {e}"),
        )
    })?;
    let handle = worker.shutdown_handle();
    tokio::spawn(async move {
        shutdown.await;
        handle();
    });
    worker
        .run()
        .await
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("the worker stopped: {e}")))
}
