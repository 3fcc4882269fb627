//! The Temporal transport (feature `temporal`): one workflow per integration run, one activity
//! per step, Temporal Schedules instead of the in-process scheduler.
//!
//! - [`TemporalConfig`] and [`connect`]: where the server is, which namespace and task queue.
//! - [`ids`]: workflow and schedule ids derived from tenant + integration, so a second start of
//!   the same run is refused by Temporal instead of running twice.
//! - [`retry`]: which [`crate::ErrorKind`]s Temporal retries, and the default activity
//!   [`temporalio_common::RetryPolicy`].
//! - [`schedules`]: Temporal Schedules from the same per-integration [`SyncSchedule`] that
//!   `serve` uses; applied idempotently.
//! - [`SyncWorkflowInput`]: the workflow input the schedules send.
//! - [`IntegrationSyncWorkflow`] and [`SyncActivities`]: the run as a workflow of the step
//!   seam's steps ([`crate::sync::RunTicket`] …); [`run_worker`] executes them,
//!   [`run_via_temporal`] starts one and waits for its report.
//!
//! [`SyncSchedule`]: crate::schedule::SyncSchedule

// The SDK's `#[activities]` / `#[workflow_methods]` macros generate a marker type and an
// associated constant per method, undocumented and without `Debug`; our own items in these
// files are documented all the same.
#[allow(missing_docs, missing_debug_implementations)]
mod activities;
mod client;
mod config;
#[allow(missing_docs, missing_debug_implementations)]
mod device_refresh;
pub mod ids;
mod input;
pub mod retry;
pub mod schedules;
mod worker;
#[allow(missing_docs, missing_debug_implementations)]
mod workflow;

pub use activities::{
    BeginOutcome, FinishInput, PagesInput, PagesOutcome, ProviderSource, SyncActivities,
};
pub use client::{SyncStart, run_via_temporal, start_sync};
pub use config::{TemporalConfig, connect};
#[cfg(feature = "service")]
pub use device_refresh::TemporalRefreshRoute;
pub use device_refresh::{
    COALESCE_WINDOW, DeviceEvent, DeviceRefreshOutcome, DeviceRefreshWorkflow,
    request_device_refresh,
};
pub use input::{DEVICE_REFRESH_WORKFLOW, INTEGRATION_SYNC_WORKFLOW, SyncWorkflowInput};
pub use retry::{activity_failure, default_retry_policy};
pub use schedules::{
    ApplyReport, ScheduleInfo, ScheduledIntegration, apply_schedules, list_schedules,
};
pub use worker::{run_worker, worker_options};
pub use workflow::{
    Continuation, IntegrationSyncWorkflow, PAGES_PER_ACTIVITY, PAGES_PER_EXECUTION,
    SyncWorkflowOutcome,
};
