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
//!
//! [`SyncSchedule`]: crate::schedule::SyncSchedule

mod config;
pub mod ids;
mod input;
pub mod retry;
pub mod schedules;

pub use config::{TemporalConfig, connect};
pub use input::{DEVICE_REFRESH_WORKFLOW, INTEGRATION_SYNC_WORKFLOW, SyncWorkflowInput};
pub use retry::{activity_failure, default_retry_policy};
pub use schedules::{
    ApplyReport, ScheduleInfo, ScheduledIntegration, apply_schedules, list_schedules,
};
