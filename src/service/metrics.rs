//! Prometheus metrics of the service (via `prometheus-client`: no global recorder, so two
//! services in one process — or a host with its own registry — never mix their numbers).
//!
//! Names and labels (label values are integration names, modes, statuses and error kinds:
//! never a secret, a URL or a device name):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `rmm_sync_runs_total` | counter | `integration`, `mode`, `status` |
//! | `rmm_sync_devices_total` | counter | `integration`, `outcome` |
//! | `rmm_sync_run_duration_seconds` | histogram | `integration`, `mode` |
//! | `rmm_sync_last_success_timestamp_seconds` | gauge | `integration` |
//! | `rmm_sync_provider_errors_total` | counter | `integration`, `kind` |
//! | `rmm_sync_webhook_events_total` | counter | `integration`, `result` |
//! | `rmm_sync_scheduled_runs_skipped_total` | counter | `integration`, `reason` |

use std::fmt;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::sync::{RunReport, RunStatus};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RunLabels {
    integration: String,
    mode: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabels {
    integration: String,
    mode: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IntegrationLabel {
    integration: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    integration: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    integration: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    integration: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    integration: String,
    reason: String,
}

type DurationFamily = Family<ModeLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 0.1 s … ~27 min: a single-device refresh up to a 100k-device first load.
    Histogram::new(exponential_buckets(0.1, 2.5, 12))
}

/// The service's metrics and the registry they live in.
pub struct ServiceMetrics {
    registry: Registry,
    runs: Family<RunLabels, Counter>,
    devices: Family<OutcomeLabels, Counter>,
    duration: DurationFamily,
    last_success: Family<IntegrationLabel, Gauge<f64, AtomicU64>>,
    provider_errors: Family<KindLabels, Counter>,
    webhook_events: Family<ResultLabels, Counter>,
    skipped: Family<ReasonLabels, Counter>,
}

impl fmt::Debug for ServiceMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceMetrics").finish_non_exhaustive()
    }
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceMetrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let runs = Family::default();
        let devices = Family::default();
        let duration = DurationFamily::new_with_constructor(duration_histogram);
        let last_success = Family::default();
        let provider_errors = Family::default();
        let webhook_events = Family::default();
        let skipped = Family::default();
        // prometheus-client appends `_total` to counters and `_seconds` comes from the name.
        registry.register(
            "rmm_sync_runs",
            "Sync runs finished, by mode and status",
            runs.clone(),
        );
        registry.register(
            "rmm_sync_devices",
            "Devices processed by sync runs, by outcome",
            devices.clone(),
        );
        registry.register(
            "rmm_sync_run_duration_seconds",
            "Wall time of sync runs",
            duration.clone(),
        );
        registry.register(
            "rmm_sync_last_success_timestamp_seconds",
            "Unix time of the last run that finished (completed, possibly with device errors)",
            last_success.clone(),
        );
        registry.register(
            "rmm_sync_provider_errors",
            "Errors reported by runs, by error kind",
            provider_errors.clone(),
        );
        registry.register(
            "rmm_sync_webhook_events",
            "Webhook deliveries, by result",
            webhook_events.clone(),
        );
        registry.register(
            "rmm_sync_scheduled_runs_skipped",
            "Scheduled runs not started, by reason (overlap: the integration was busy; lease_held: another process runs it)",
            skipped.clone(),
        );
        Self {
            registry,
            runs,
            devices,
            duration,
            last_success,
            provider_errors,
            webhook_events,
            skipped,
        }
    }

    /// The metrics in Prometheus' text exposition format (OpenMetrics flavour, which
    /// Prometheus scrapes natively).
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records a finished run.
    pub fn record_run(&self, integration: &str, report: &RunReport) {
        let integration = integration.to_owned();
        let mode = report.mode.as_str().to_owned();
        let status = run_status(report.status).to_owned();
        self.runs
            .get_or_create(&RunLabels {
                integration: integration.clone(),
                mode: mode.clone(),
                status,
            })
            .inc();
        let seconds = (report.finished_at - report.started_at)
            .to_std()
            .map_or(0.0, |d| d.as_secs_f64());
        self.duration
            .get_or_create(&ModeLabels {
                integration: integration.clone(),
                mode,
            })
            .observe(seconds);
        let c = &report.counts;
        for (outcome, n) in [
            ("created", c.created),
            ("updated", c.updated),
            ("unchanged", c.unchanged),
            ("moved", c.moved),
            ("tombstoned", c.tombstoned),
            ("restored", c.restored),
            ("skipped", c.skipped),
            ("ambiguous", c.ambiguous),
            ("failed", c.failed),
        ] {
            if n > 0 {
                self.devices
                    .get_or_create(&OutcomeLabels {
                        integration: integration.clone(),
                        outcome: outcome.to_owned(),
                    })
                    .inc_by(n);
            }
        }
        for e in &report.errors {
            self.provider_error(&integration, e.kind.as_str());
        }
        if matches!(
            report.status,
            RunStatus::Completed | RunStatus::CompletedWithErrors
        ) {
            let at = report.finished_at.timestamp_micros() as f64 / 1e6;
            self.last_success
                .get_or_create(&IntegrationLabel { integration })
                .set(at);
        }
    }

    /// Counts an error of `kind` (an [`crate::ErrorKind`] name).
    pub fn provider_error(&self, integration: &str, kind: &str) {
        self.provider_errors
            .get_or_create(&KindLabels {
                integration: integration.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// Counts a webhook delivery by its result (`accepted`, `coalesced`, `duplicate`,
    /// `ignored`, `unauthorized`, `malformed`, `too_large`, `unsupported_media_type`,
    /// `queue_full`, `shutting_down`).
    pub fn webhook_event(&self, integration: &str, result: &str) {
        self.webhook_events
            .get_or_create(&ResultLabels {
                integration: integration.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// Counts `n` scheduled runs that did not start, by reason (`overlap`, `lease_held`).
    pub fn scheduled_run_skipped(&self, integration: &str, reason: &str, n: u64) {
        self.skipped
            .get_or_create(&ReasonLabels {
                integration: integration.to_owned(),
                reason: reason.to_owned(),
            })
            .inc_by(n);
    }
}

fn run_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Completed => "completed",
        RunStatus::CompletedWithErrors => "completed_with_errors",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IntegrationId, ProviderId};
    use crate::sync::RunMode;

    #[test]
    fn runs_devices_and_events_are_rendered_with_their_labels() {
        let m = ServiceMetrics::new();
        let mut report = RunReport::new(
            IntegrationId::from_name("x"),
            ProviderId::TANIUM,
            RunMode::Incremental,
        );
        report.counts.created = 3;
        report.counts.unchanged = 7;
        report.status = RunStatus::Completed;
        m.record_run("eu-1", &report);
        m.record_run("eu-1", &report);
        m.webhook_event("eu-1", "accepted");
        m.scheduled_run_skipped("eu-1", "overlap", 2);
        let text = m.render();
        for line in [
            r#"rmm_sync_runs_total{integration="eu-1",mode="incremental",status="completed"} 2"#,
            r#"rmm_sync_devices_total{integration="eu-1",outcome="created"} 6"#,
            r#"rmm_sync_devices_total{integration="eu-1",outcome="unchanged"} 14"#,
            r#"rmm_sync_webhook_events_total{integration="eu-1",result="accepted"} 1"#,
            r#"rmm_sync_scheduled_runs_skipped_total{integration="eu-1",reason="overlap"} 2"#,
            r#"rmm_sync_run_duration_seconds_count{integration="eu-1",mode="incremental"} 2"#,
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        assert!(text.contains("rmm_sync_last_success_timestamp_seconds{integration=\"eu-1\"}"));
    }
}
