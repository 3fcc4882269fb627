//! The report a run returns (and the CLI prints as JSON).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{
    DeviceError, ExternalDeviceId, ExternalScopeId, IntegrationId, OutcomeCounts, ProviderId, RunId,
};

/// What kind of run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMode {
    /// Every scope listed completely; sweeps allowed.
    #[default]
    Full,
    /// Provider deltas since the checkpoint (or a full walk where there are none).
    Incremental,
    /// One device refreshed (webhook, manual).
    Device,
    /// Scopes only.
    Scopes,
}

impl RunMode {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            RunMode::Full => "full",
            RunMode::Incremental => "incremental",
            RunMode::Device => "device",
            RunMode::Scopes => "scopes",
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Everything succeeded.
    #[default]
    Completed,
    /// The run finished but some devices or scopes failed.
    CompletedWithErrors,
    /// The run could not finish (provider unreachable, credentials rejected, store down).
    Failed,
    /// The run was cancelled.
    Cancelled,
}

/// A sweep that the circuit breaker held back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBackSweep {
    /// The scope.
    pub scope: ExternalScopeId,
    /// Live devices the store knew in the scope.
    pub known: u64,
    /// Devices the sweep would have tombstoned.
    pub would_tombstone: u64,
}

/// What a dry run would have done, per outcome (each list capped at
/// [`crate::sync::SyncOptions::max_report_errors`] × 10 ids).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunPlan {
    /// Devices that would be created.
    pub created: Vec<ExternalDeviceId>,
    /// Devices that would be updated (including restored ones).
    pub updated: Vec<ExternalDeviceId>,
    /// Devices that would move scope.
    pub moved: Vec<ExternalDeviceId>,
    /// Devices that would be tombstoned.
    pub tombstoned: Vec<ExternalDeviceId>,
}

/// The result of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Run id.
    pub run_id: RunId,
    /// Integration.
    pub integration: IntegrationId,
    /// Provider.
    pub provider: ProviderId,
    /// Mode actually run (an incremental run without deltas reports `incremental` but walks
    /// fully; see `fell_back_to_full`).
    pub mode: RunMode,
    /// Final status.
    pub status: RunStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// Counts per outcome.
    pub counts: OutcomeCounts,
    /// Skipped devices per reason.
    pub skipped_reasons: BTreeMap<String, u64>,
    /// Errors with device ids and real causes (capped; see `errors_truncated`).
    pub errors: Vec<DeviceError>,
    /// How many errors were left out of `errors`.
    #[serde(default)]
    pub errors_truncated: u64,
    /// Scopes listed.
    #[serde(default)]
    pub scopes_listed: u64,
    /// Scopes whose listing did not complete (nothing in them was swept).
    #[serde(default)]
    pub scopes_incomplete: Vec<ExternalScopeId>,
    /// Why nothing was swept in this run, when a complete listing was not enough (another
    /// scope's listing failed, identity changes could not be fetched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep_skipped: Option<String>,
    /// Sweeps held back by the circuit breaker.
    #[serde(default)]
    pub held_back_sweeps: Vec<HeldBackSweep>,
    /// Assets whose agent status was re-derived from last-seen age.
    #[serde(default)]
    pub agent_status_changes: u64,
    /// Devices re-keyed by provider identity changes (same asset, new external id).
    #[serde(default)]
    pub rekeyed: u64,
    /// For dry runs: what would have been written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RunPlan>,
    /// The incremental run had no usable delta and walked everything.
    #[serde(default)]
    pub fell_back_to_full: bool,
}

impl RunReport {
    /// An empty report of a run starting now (status `completed`, no counts): what a run
    /// fills in, and what hosts and tests build reports from.
    pub fn new(integration: IntegrationId, provider: ProviderId, mode: RunMode) -> Self {
        let now = crate::ingest::now_micros();
        RunReport {
            run_id: RunId::new_v7(),
            integration,
            provider,
            mode,
            status: RunStatus::Completed,
            started_at: now,
            finished_at: now,
            counts: OutcomeCounts::default(),
            skipped_reasons: BTreeMap::new(),
            errors: Vec::new(),
            errors_truncated: 0,
            scopes_listed: 0,
            scopes_incomplete: Vec::new(),
            sweep_skipped: None,
            held_back_sweeps: Vec::new(),
            agent_status_changes: 0,
            rekeyed: 0,
            plan: None,
            fell_back_to_full: false,
        }
    }

    /// Whether devices or scopes failed.
    pub fn has_failures(&self) -> bool {
        self.counts.failed > 0 || !self.errors.is_empty()
    }
}
