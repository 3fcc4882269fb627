//! One integration's worker: scheduled runs first, then due webhook actions, one at a time —
//! so the service never races itself for the integration's lease; the lease still guards
//! against other processes (another `serve`, a `sync` from cron).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::host::{Shared, Slot};
use super::next_runs::next_runs;
use super::webhook::{DeviceAction, Taken};
use crate::ErrorKind;
use crate::ingest::{IngestContext, now_micros};
use crate::schedule::{Schedule, jitter};
use crate::sync::{RunMode, RunReport, RunRequest};

/// At most this many skipped ticks are counted for one overlap (a 1-minute cron during a
/// 2-day outage is not worth iterating).
const MAX_COUNTED_TICKS: u64 = 10_000;

/// One schedule's state.
#[derive(Debug)]
struct Timer {
    mode: RunMode,
    schedule: Schedule,
    jitter: Duration,
    /// When the next run starts (schedule + jitter).
    due: DateTime<Utc>,
    /// The schedule's own due time (before jitter), for counting overlapped ticks.
    tick: DateTime<Utc>,
}

impl Timer {
    fn rearm(&mut self, last: DateTime<Utc>, now: DateTime<Utc>) {
        self.tick = self.schedule.next_due(Some(last), now);
        self.due = self.tick + chrono_duration(jitter(self.jitter));
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

pub(crate) async fn run(shared: Arc<Shared>, slot: Arc<Slot>) {
    let mut stop = shared.stop.subscribe();
    let mut timers = load_timers(&shared, &slot).await;
    loop {
        if *stop.borrow() {
            break;
        }
        let now = Utc::now();
        if let Some(i) = timers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.due <= now)
            .min_by_key(|(_, t)| t.due)
            .map(|(i, _)| i)
        {
            scheduled_run(&shared, &slot, &mut timers, i).await;
            continue;
        }
        if let Some(taken) = slot.queue.take_due(Instant::now()) {
            device_action(&shared, &slot, taken).await;
            continue;
        }
        let next_timer = timers
            .iter()
            .map(|t| t.due)
            .min()
            .map(|due| Instant::now() + (due - now).to_std().unwrap_or(Duration::ZERO));
        let wake = [next_timer, slot.queue.next_due()]
            .into_iter()
            .flatten()
            .min()
            // Nothing scheduled and nothing queued: wake on the next event (or stop).
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(3_600));
        tokio::select! {
            () = tokio::time::sleep_until(wake) => {}
            () = slot.queue.changed() => {}
            _ = stop.changed() => {}
        }
    }
}

/// The schedules, armed from the store's last runs (a tick missed while no service ran is
/// due at once, once).
async fn load_timers(shared: &Shared, slot: &Slot) -> Vec<Timer> {
    let spec = &slot.spec;
    let record = match shared
        .orchestrator
        .engine()
        .store()
        .get_integration(spec.tenant, spec.integration)
        .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(integration = %spec.name, error = %e, "cannot read the integration's last runs; its schedules start now");
            None
        }
    };
    let now = Utc::now();
    next_runs(&spec.schedule, record.as_ref(), now)
        .into_iter()
        .map(|next| {
            let schedule = match next.mode {
                RunMode::Full => spec.schedule.full.clone(),
                _ => spec.schedule.incremental.clone(),
            }
            .expect("next_runs only lists configured schedules");
            let jitter_max = spec.schedule.jitter_for(&schedule);
            Timer {
                mode: next.mode,
                due: next.at + chrono_duration(jitter(jitter_max)),
                tick: next.at,
                schedule,
                jitter: jitter_max,
            }
        })
        .collect()
}

async fn scheduled_run(shared: &Shared, slot: &Slot, timers: &mut [Timer], i: usize) {
    let spec = &slot.spec;
    let mode = timers[i].mode;
    let request = match mode {
        RunMode::Full => RunRequest::full(),
        _ => RunRequest::incremental(),
    };
    let started = Utc::now();
    let result = run_now(shared, slot, request).await;
    let ended = Utc::now();
    match result {
        Ok(report) => finished(shared, &spec.name, &report),
        Err(e) if e.kind() == ErrorKind::LeaseHeld => {
            tracing::info!(integration = %spec.name, mode = mode.as_str(), "scheduled run skipped: another process holds the integration's lease");
            shared
                .metrics
                .scheduled_run_skipped(&spec.name, "lease_held", 1);
            let t = &mut timers[i];
            t.rearm(ended, ended);
            let retry = ended + chrono_duration(shared.options.lease_held_retry);
            if retry < t.due {
                t.due = retry;
            }
            return;
        }
        Err(e) => {
            tracing::error!(integration = %spec.name, mode = mode.as_str(), error = %e, "scheduled run could not start");
            shared.metrics.provider_error(&spec.name, e.kind().as_str());
        }
    }
    // Ticks that fell while this run went on are skipped, not piled up.
    for (j, t) in timers.iter_mut().enumerate() {
        let overlapped = if j == i {
            t.schedule.ticks_between(started, ended, MAX_COUNTED_TICKS)
        } else if t.tick <= ended {
            1 + t.schedule.ticks_between(t.tick, ended, MAX_COUNTED_TICKS)
        } else {
            continue;
        };
        if overlapped > 0 {
            tracing::info!(integration = %spec.name, mode = t.mode.as_str(), skipped = overlapped, "scheduled ticks skipped: a run was in progress");
            shared
                .metrics
                .scheduled_run_skipped(&spec.name, "overlap", overlapped);
        }
        t.rearm(ended, ended);
    }
}

async fn device_action(shared: &Shared, slot: &Slot, taken: Taken) {
    let spec = &slot.spec;
    match &taken.action {
        DeviceAction::Ignore => {}
        DeviceAction::Refresh(device) if shared.refresh_route.is_some() => {
            let route = shared.refresh_route.as_ref().expect("checked");
            match route.refresh(spec.tenant, spec.integration, device).await {
                Ok(()) => {
                    tracing::debug!(integration = %spec.name, device = %device, "refresh handed to its route");
                }
                Err(e) if e.is_retryable() && taken.attempts < shared.options.max_busy_retries => {
                    tracing::warn!(integration = %spec.name, device = %device, error = %e, "refresh route unavailable; trying again");
                    slot.queue
                        .retry_later(taken, shared.options.busy_retry_delay);
                }
                Err(e) => {
                    tracing::error!(integration = %spec.name, device = %device, error = %e, "refresh route refused the refresh; the next full run covers the device");
                    shared.metrics.provider_error(&spec.name, e.kind().as_str());
                }
            }
        }
        DeviceAction::Refresh(device) => {
            match run_now(shared, slot, RunRequest::device(device.clone())).await {
                Ok(report) => finished(shared, &spec.name, &report),
                Err(e) if e.kind() == ErrorKind::LeaseHeld => {
                    if taken.attempts < shared.options.max_busy_retries {
                        slot.queue
                            .retry_later(taken, shared.options.busy_retry_delay);
                    } else {
                        tracing::warn!(integration = %spec.name, device = %device, "webhook refresh dropped: the integration stayed busy in another process; the next full run covers the device");
                    }
                }
                Err(e) => {
                    tracing::error!(integration = %spec.name, device = %device, error = %e, "webhook refresh failed");
                    shared.metrics.provider_error(&spec.name, e.kind().as_str());
                }
            }
        }
        DeviceAction::Tombstone { device, scope } => {
            let started = now_micros();
            let ctx =
                IngestContext::new(spec.tenant, spec.provider.info().provider, spec.integration)
                    .with_thresholds(spec.provider.agent_status_thresholds())
                    .at(started);
            let engine = shared.orchestrator.engine();
            match engine
                .tombstone(&ctx, vec![(device.clone(), scope.clone())])
                .await
            {
                Ok(batch) => {
                    let mut report = RunReport::new(
                        spec.integration,
                        spec.provider.info().provider,
                        RunMode::Device,
                    );
                    report.started_at = started;
                    report.counts = batch.counts;
                    report.finished_at = now_micros();
                    finished(shared, &spec.name, &report);
                }
                Err(e) => {
                    tracing::error!(integration = %spec.name, device = %device, error = %e, "webhook tombstone failed");
                    shared.metrics.provider_error(&spec.name, e.kind().as_str());
                }
            }
        }
    }
}

/// One run of the slot's integration through the orchestrator, cancelled by shutdown.
async fn run_now(shared: &Shared, slot: &Slot, request: RunRequest) -> crate::Result<RunReport> {
    let spec = &slot.spec;
    shared
        .orchestrator
        .run(
            spec.tenant,
            spec.integration,
            Arc::clone(&spec.provider),
            request.with_cancel(shared.runs_cancel.clone()),
        )
        .await
}

/// Metrics and the one log line per run.
fn finished(shared: &Shared, name: &str, report: &RunReport) {
    shared.metrics.record_run(name, report);
    let c = &report.counts;
    let took = (report.finished_at - report.started_at)
        .to_std()
        .unwrap_or(Duration::ZERO);
    tracing::info!(
        integration = name,
        mode = report.mode.as_str(),
        status = ?report.status,
        seen = c.seen,
        created = c.created,
        updated = c.updated,
        unchanged = c.unchanged,
        moved = c.moved,
        tombstoned = c.tombstoned,
        failed = c.failed,
        duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        "run finished"
    );
}
