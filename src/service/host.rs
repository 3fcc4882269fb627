//! [`SyncService`]: the always-on host — one worker per integration (schedules and webhook
//! refreshes, one run at a time), the HTTP side, and a bounded graceful shutdown.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::http::service_routes;
use super::integration::ServiceIntegration;
use super::metrics::ServiceMetrics;
use super::options::ServiceOptions;
use super::webhook::{EventQueue, webhook_routes};
use super::worker;
use crate::error::{Error, Result};
use crate::sync::{CancelToken, SyncOrchestrator};

/// One integration and its queue.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) spec: ServiceIntegration,
    pub(crate) queue: EventQueue,
}

/// What the workers and the HTTP handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) orchestrator: SyncOrchestrator,
    pub(crate) metrics: ServiceMetrics,
    pub(crate) options: ServiceOptions,
    pub(crate) slots: HashMap<String, Arc<Slot>>,
    /// Webhooks are refused (503) once shutdown began.
    pub(crate) draining: AtomicBool,
    /// Workers stop taking work when this turns true.
    pub(crate) stop: watch::Sender<bool>,
    /// Running syncs stop after their current batch when this is cancelled.
    pub(crate) runs_cancel: CancelToken,
    /// Where webhook refreshes go instead of running here (`None`: here).
    pub(crate) refresh_route: Option<Arc<dyn super::DeviceRefreshRoute>>,
}

impl Shared {
    pub(crate) fn slot(&self, name: &str) -> Option<&Arc<Slot>> {
        self.slots.get(name)
    }

    pub(crate) fn draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }
}

/// The service: build it, mount [`SyncService::router`] in an HTTP server, call
/// [`SyncService::start`], and [`RunningService::shutdown`] on SIGTERM.
///
/// ```no_run
/// # async fn demo(orchestrator: rmm_sync::sync::SyncOrchestrator,
/// #               integrations: Vec<rmm_sync::service::ServiceIntegration>)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use rmm_sync::service::{ServiceOptions, SyncService};
///
/// let service = SyncService::new(orchestrator, integrations, ServiceOptions::default())?;
/// let app = service.router(); // or merge service.webhook_router() into your own
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let running = service.start();
/// let server = tokio::spawn(async move { axum::serve(listener, app).await });
/// tokio::signal::ctrl_c().await?;
/// let report = running.shutdown().await; // webhooks get 503, runs stop after their batch
/// server.abort();
/// assert!(report.clean);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SyncService {
    shared: Arc<Shared>,
}

impl fmt::Debug for SyncService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&String> = self.shared.slots.keys().collect();
        names.sort();
        f.debug_struct("SyncService")
            .field("integrations", &names)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl SyncService {
    /// A service over `integrations` (each must exist in the orchestrator's store). Names must
    /// be unique and URL-safe (`A-Z a-z 0-9 . _ -`): they are the webhook paths.
    pub fn new(
        orchestrator: SyncOrchestrator,
        integrations: Vec<ServiceIntegration>,
        options: ServiceOptions,
    ) -> Result<Self> {
        let mut slots = HashMap::new();
        for spec in integrations {
            let name = spec.name.clone();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            {
                return Err(Error::invalid_config(
                    "name",
                    format!(
                        "integration name {name:?} must be non-empty and use only A-Z a-z 0-9 . _ - (it is a URL path segment)"
                    ),
                ));
            }
            let queue = EventQueue::new(
                options.queue_capacity,
                options.coalesce_window,
                options.replay_memory,
            );
            if slots
                .insert(name.clone(), Arc::new(Slot { spec, queue }))
                .is_some()
            {
                return Err(Error::invalid_config(
                    "name",
                    format!("integration name {name:?} is used twice"),
                ));
            }
        }
        let (stop, _) = watch::channel(false);
        Ok(Self {
            shared: Arc::new(Shared {
                orchestrator,
                metrics: ServiceMetrics::new(),
                options,
                slots,
                draining: AtomicBool::new(false),
                stop,
                runs_cancel: CancelToken::new(),
                refresh_route: None,
            }),
        })
    }

    /// Sends webhook refreshes to `route` instead of running them in this process (deletions
    /// still tombstone here: a store write, no provider call). Call it right after
    /// [`SyncService::new`], before [`SyncService::router`] or [`SyncService::start`].
    ///
    /// # Panics
    ///
    /// When the service was already cloned, routed or started.
    #[must_use]
    pub fn with_refresh_route(mut self, route: Arc<dyn super::DeviceRefreshRoute>) -> Self {
        Arc::get_mut(&mut self.shared)
            .expect("with_refresh_route is called before the service is shared")
            .refresh_route = Some(route);
        self
    }

    /// The metrics (also served at `/metrics` by [`SyncService::router`]).
    pub fn metrics(&self) -> &ServiceMetrics {
        &self.shared.metrics
    }

    /// `POST /webhooks/{name}` only, for a host that serves health and metrics itself.
    pub fn webhook_router(&self) -> Router {
        webhook_routes(Arc::clone(&self.shared))
    }

    /// Webhooks plus `GET /healthz`, `GET /readyz` and `GET /metrics`.
    pub fn router(&self) -> Router {
        self.webhook_router()
            .merge(service_routes(Arc::clone(&self.shared)))
    }

    /// Starts one worker per integration (scheduled runs, then webhook refreshes, one at a
    /// time). Call once, inside a Tokio runtime.
    pub fn start(&self) -> RunningService {
        let mut tasks = JoinSet::new();
        for slot in self.shared.slots.values() {
            tasks.spawn(worker::run(Arc::clone(&self.shared), Arc::clone(slot)));
        }
        RunningService {
            shared: Arc::clone(&self.shared),
            tasks,
        }
    }
}

/// A started service.
#[derive(Debug)]
pub struct RunningService {
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

/// How a shutdown went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every worker stopped within the timeout (their runs finished their batch, saved their
    /// state and released their lease).
    pub clean: bool,
    /// Webhook refreshes that were still queued (the next full run covers those devices).
    pub dropped_events: usize,
    /// How long it took.
    pub took: Duration,
}

impl RunningService {
    /// Stops: webhooks get 503 from now on, no new run starts, running syncs stop after their
    /// current batch; waits at most `shutdown_timeout`, then abandons what still runs (its
    /// lease then expires by its TTL).
    pub async fn shutdown(mut self) -> ShutdownReport {
        let started = tokio::time::Instant::now();
        self.shared.draining.store(true, Ordering::Release);
        self.shared.stop.send_replace(true);
        self.shared.runs_cancel.cancel();
        let timeout = self.shared.options.shutdown_timeout;
        let drained = tokio::time::timeout(timeout, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await
        .is_ok();
        if !drained {
            tracing::warn!(
                timeout_s = timeout.as_secs_f64(),
                "shutdown timed out; abandoning running syncs (their leases expire by TTL)"
            );
            self.tasks.abort_all();
        }
        let dropped_events = self.shared.slots.values().map(|s| s.queue.len()).sum();
        if dropped_events > 0 {
            tracing::warn!(
                dropped_events,
                "webhook refreshes still queued at shutdown were dropped; the next full run covers those devices"
            );
        }
        ShutdownReport {
            clean: drained,
            dropped_events,
            took: started.elapsed(),
        }
    }
}
