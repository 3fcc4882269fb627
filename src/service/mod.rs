//! The service layer (feature `service`): what runs continuously above the orchestrator.
//!
//! - **Scheduler**: per integration a full and an incremental [`Schedule`] (an interval such
//!   as `"15m"` or a 5-field cron expression, UTC) with jitter. One run at a time per
//!   integration; a tick missed while no service ran runs once; a tick that falls during a run
//!   is skipped and counted (`rmm_sync_scheduled_runs_skipped_total{reason="overlap"}`); a
//!   lease held by another process is counted as `lease_held` and retried soon. Every run goes
//!   through [`crate::sync::SyncOrchestrator`] — there is no second sync path.
//! - **Webhook receiver**: [`SyncService::webhook_router`], an `axum::Router` a host can mount:
//!   `POST /webhooks/{name}` verifies (provider modules verify and parse), limits the body,
//!   answers 202 before any provider call, and queues per integration: events for one device
//!   within [`ServiceOptions::coalesce_window`] become one single-device refresh, deletions
//!   tombstone through the engine, replays (a repeated event id) are ignored, and a full queue
//!   answers 503 with `Retry-After`.
//!   A [`DeviceRefreshRoute`] sends those refreshes elsewhere instead (to Temporal).
//! - **Health and metrics**: [`SyncService::router`] adds `/healthz`, `/readyz` and
//!   Prometheus `/metrics` ([`ServiceMetrics`]).
//! - **Shutdown**: [`RunningService::shutdown`] refuses webhooks (503), lets running syncs
//!   finish their batch and release their lease, bounded by
//!   [`ServiceOptions::shutdown_timeout`].
//!
//! A crashed service holds nothing for long: leases are short and renewed (see
//! [`crate::sync::SyncOptions::lease_ttl`]), so the next service or `sync` takes over.

mod host;
mod http;
mod integration;
mod metrics;
mod next_runs;
mod options;
mod route;
mod webhook;
mod worker;

pub use crate::schedule::{Schedule, SyncSchedule};
pub use host::{RunningService, ShutdownReport, SyncService};
pub use integration::ServiceIntegration;
pub use metrics::ServiceMetrics;
pub use next_runs::{NextRun, next_runs};
pub use options::ServiceOptions;
pub use route::DeviceRefreshRoute;
pub use webhook::{DeviceAction, WebhookDelivery, WebhookParser, WebhookSource};
