//! When an integration's scheduled runs are next due, from what the store knows: shared by the
//! scheduler and by hosts that show it (`rmm-sync status`).

use chrono::{DateTime, Utc};

use crate::schedule::SyncSchedule;
use crate::store::IntegrationRecord;
use crate::sync::RunMode;

/// One upcoming scheduled run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextRun {
    /// Full or incremental.
    pub mode: RunMode,
    /// When it is due (before jitter); in the past when overdue (it starts right away).
    pub at: DateTime<Utc>,
    /// The schedule, as written.
    pub schedule: String,
}

/// The schedules of `schedule` with their last run taken from the store (`last_full_sync_at`,
/// `last_incremental_sync_at`); an integration that never ran a mode is due now.
pub fn next_runs(
    schedule: &SyncSchedule,
    record: Option<&IntegrationRecord>,
    now: DateTime<Utc>,
) -> Vec<NextRun> {
    let mut out = Vec::new();
    let modes = [
        (
            RunMode::Full,
            &schedule.full,
            record.and_then(|r| r.last_full_sync_at),
        ),
        (
            RunMode::Incremental,
            &schedule.incremental,
            record.and_then(|r| r.last_incremental_sync_at),
        ),
    ];
    for (mode, s, last) in modes {
        if let Some(s) = s {
            out.push(NextRun {
                mode,
                at: s.next_due(last, now),
                schedule: s.to_string(),
            });
        }
    }
    out
}
