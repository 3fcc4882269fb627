//! [`RunTally`]: what a run has found so far — counts, errors, listing progress, the checkpoint
//! to store — as one serializable value. The in-process executor keeps one tally for the whole
//! run; a durable executor (Temporal) carries it in workflow state and folds each step's delta
//! into it with [`RunTally::merge`]. Never the devices themselves: a tally stays a few KB.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::report::{RunPlan, RunReport};
use crate::error::{Error, ErrorKind};
use crate::ingest::BatchResult;
use crate::model::{DeviceError, ExternalDeviceId, ExternalScopeId, Outcome};

/// Failed device ids a tally keeps for the failed-device set; beyond it they are counted but not
/// recorded for one-by-one retry (a full listing retries every device anyway). Bounds the tally a
/// durable executor carries in its history.
pub(crate) const MAX_FAILED_KEPT: usize = 10_000;

/// What the run does once its listings are done.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Conclusion {
    /// Nothing more (device and scope runs).
    #[default]
    Nothing,
    /// A full walk: store the `since` cursor (providers with `list_devices_since`), then
    /// mark-and-sweep.
    FullWalk,
    /// A `since` window from `checkpoint`: advance the cursor past it, retry failed devices.
    SinceWindow {
        /// The stored checkpoint the window started from.
        checkpoint: DateTime<Utc>,
    },
    /// A delta window: store its end checkpoint, retry failed devices.
    Changes,
}

/// The state of one run between steps (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunTally {
    /// The report being filled in.
    pub(super) report: RunReport,
    /// Devices that failed in this run, with the cause (capped at `MAX_FAILED_KEPT`).
    #[serde(default)]
    pub(super) failed: Vec<(ExternalDeviceId, String)>,
    /// Scopes whose listing reached its last page without an error.
    #[serde(default)]
    pub(super) complete_scopes: Vec<ExternalScopeId>,
    /// The whole-integration listing (providers that do not list per scope) completed.
    #[serde(default)]
    pub(super) whole_listing_complete: bool,
    /// The newest last-seen time among devices seen (a `since` provider's next checkpoint).
    #[serde(default)]
    pub(super) max_last_seen: Option<DateTime<Utc>>,
    /// The checkpoint to store if the run succeeds.
    #[serde(default)]
    pub(super) pending_cursor: Option<String>,
    /// The newest checkpoint a delta window's pages reported.
    #[serde(default)]
    pub(super) window_end: Option<String>,
    /// Every error of the run, also those left out of the report.
    #[serde(default)]
    pub(super) total_errors: u64,
    /// Why this run must not sweep even complete scopes.
    #[serde(default)]
    pub(super) no_sweep: Option<String>,
    /// What the run does after its listings.
    #[serde(default)]
    pub(super) conclusion: Conclusion,
}

impl RunTally {
    /// An empty tally around a fresh report.
    pub(super) fn new(report: RunReport) -> Self {
        Self {
            report,
            failed: Vec::new(),
            complete_scopes: Vec::new(),
            whole_listing_complete: false,
            max_last_seen: None,
            pending_cursor: None,
            window_end: None,
            total_errors: 0,
            no_sweep: None,
            conclusion: Conclusion::Nothing,
        }
    }

    /// An empty tally for one step's findings (same report identity, nothing counted), to be
    /// merged into the run's tally.
    pub(super) fn delta_of(&self) -> Self {
        let mut report = self.report.clone();
        report.counts = Default::default();
        report.skipped_reasons.clear();
        report.errors.clear();
        report.errors_truncated = 0;
        report.scopes_listed = 0;
        report.scopes_incomplete.clear();
        report.sweep_skipped = None;
        report.held_back_sweeps.clear();
        report.agent_status_changes = 0;
        report.rekeyed = 0;
        report.plan = report.plan.as_ref().map(|_| RunPlan::default());
        report.fell_back_to_full = false;
        Self::new(report)
    }

    /// The report so far (counts, errors, listing progress).
    pub fn report(&self) -> &RunReport {
        &self.report
    }

    /// Every error of the run so far, also those left out of the report.
    pub fn total_errors(&self) -> u64 {
        self.total_errors
    }

    /// Folds a step's delta (from the same run) into this tally. `max_errors` caps the report's
    /// error list as [`crate::sync::SyncOptions::max_report_errors`] does in process.
    pub fn merge(&mut self, delta: RunTally, max_errors: usize) {
        let d = delta.report;
        let r = &mut self.report;
        r.counts.add(&d.counts);
        for (reason, n) in d.skipped_reasons {
            *r.skipped_reasons.entry(reason).or_default() += n;
        }
        let room = max_errors.saturating_sub(r.errors.len());
        let overflow = d.errors.len().saturating_sub(room) as u64;
        r.errors.extend(d.errors.into_iter().take(room));
        r.errors_truncated += d.errors_truncated + overflow;
        r.scopes_listed += d.scopes_listed;
        r.scopes_incomplete.extend(d.scopes_incomplete);
        if r.sweep_skipped.is_none() {
            r.sweep_skipped = d.sweep_skipped;
        }
        r.held_back_sweeps.extend(d.held_back_sweeps);
        r.agent_status_changes += d.agent_status_changes;
        r.rekeyed += d.rekeyed;
        r.fell_back_to_full |= d.fell_back_to_full;
        if let (Some(plan), Some(more)) = (&mut r.plan, d.plan) {
            let cap = max_errors * 10;
            for (list, extra) in [
                (&mut plan.created, more.created),
                (&mut plan.updated, more.updated),
                (&mut plan.moved, more.moved),
                (&mut plan.tombstoned, more.tombstoned),
            ] {
                let room = cap.saturating_sub(list.len());
                list.extend(extra.into_iter().take(room));
            }
        }
        let room = MAX_FAILED_KEPT.saturating_sub(self.failed.len());
        self.failed.extend(delta.failed.into_iter().take(room));
        self.complete_scopes.extend(delta.complete_scopes);
        self.whole_listing_complete |= delta.whole_listing_complete;
        self.max_last_seen = match (self.max_last_seen, delta.max_last_seen) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        if delta.pending_cursor.is_some() {
            self.pending_cursor = delta.pending_cursor;
        }
        if delta.window_end.is_some() {
            self.window_end = delta.window_end;
        }
        self.total_errors += delta.total_errors;
        if self.no_sweep.is_none() {
            self.no_sweep = delta.no_sweep;
        }
        if delta.conclusion != Conclusion::Nothing {
            self.conclusion = delta.conclusion;
        }
    }

    /// Records the outcomes of one ingested batch.
    pub(super) fn absorb(&mut self, result: BatchResult, max_errors: usize) {
        self.report.counts.add(&result.counts);
        let cap = max_errors * 10;
        for o in result.outcomes {
            if let Some(plan) = &mut self.report.plan {
                let list = match &o.outcome {
                    Outcome::Created => Some(&mut plan.created),
                    Outcome::Updated | Outcome::Restored => Some(&mut plan.updated),
                    Outcome::Moved { .. } => Some(&mut plan.moved),
                    Outcome::Tombstoned => Some(&mut plan.tombstoned),
                    _ => None,
                };
                if let Some(list) = list.filter(|l| l.len() < cap) {
                    list.push(o.external_id.clone());
                }
            }
            match o.outcome {
                Outcome::Skipped { reason } => {
                    *self
                        .report
                        .skipped_reasons
                        .entry(reason.as_str().to_owned())
                        .or_default() += 1;
                }
                Outcome::Failed { error } => {
                    self.push_failed(o.external_id.clone(), error.message.clone());
                    self.push_error(error, max_errors);
                }
                _ => {}
            }
        }
    }

    /// Re-keys are not devices seen: counted apart, only their problems reported.
    pub(super) fn absorb_rekeys(&mut self, result: BatchResult, max_errors: usize) {
        for o in result.outcomes {
            match o.outcome {
                Outcome::Updated => self.report.rekeyed += 1,
                Outcome::Failed { error } => self.push_error(error, max_errors),
                Outcome::Ambiguous { candidates } => self.push_error(DeviceError {
                    device: Some(o.external_id),
                    kind: ErrorKind::Conflict,
                    message: format!(
                        "identity change onto an id that already has its own asset; assets {candidates:?} need a manual merge"
                    ),
                }, max_errors),
                _ => {}
            }
        }
    }

    pub(super) fn push_failed(&mut self, device: ExternalDeviceId, cause: String) {
        if self.failed.len() < MAX_FAILED_KEPT {
            self.failed.push((device, cause));
        }
    }

    /// Records an error of the run (logged; kept in the report up to `max_errors`).
    pub(super) fn error(&mut self, device: Option<ExternalDeviceId>, e: &Error, max_errors: usize) {
        tracing::warn!(device = ?device, error = %e, "sync error");
        self.push_error(
            DeviceError {
                device,
                kind: e.kind(),
                message: e.to_string(),
            },
            max_errors,
        );
    }

    pub(super) fn push_error(&mut self, error: DeviceError, max_errors: usize) {
        self.total_errors += 1;
        if self.report.errors.len() < max_errors {
            self.report.errors.push(error);
        } else {
            self.report.errors_truncated += 1;
        }
    }

    /// A listing ended: complete (its last page was read without an error) or not.
    pub(super) fn finish_listing(&mut self, scope: Option<ExternalScopeId>, complete: bool) {
        match (complete, scope) {
            (true, Some(s)) => self.complete_scopes.push(s),
            (true, None) => self.whole_listing_complete = true,
            (false, Some(s)) => self.report.scopes_incomplete.push(s),
            (false, None) => self
                .report
                .scopes_incomplete
                .push(ExternalScopeId::new("*")),
        }
    }

    /// Records the newest last-seen time of a device seen.
    pub(super) fn saw_last_seen(&mut self, t: DateTime<Utc>) {
        self.max_last_seen = Some(self.max_last_seen.map_or(t, |m| m.max(t)));
    }
}
