//! Per-device outcomes and their counts.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{AssetId, ExternalDeviceId};
use crate::error::ErrorKind;

/// Why a device was skipped. Every reason names something the host can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// The device's scope is not mapped to a client, so no asset is created (no orphans).
    UnmappedScope,
    /// The host turned asset sync off for the device's scope (`auto_sync_assets = false`).
    ScopeSyncDisabled,
    /// A deletion arrived for a device the store never knew.
    NoMappingToTombstone,
    /// The host asked to ignore this device.
    Suppressed,
}

impl SkipReason {
    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnmappedScope => "unmapped_scope",
            SkipReason::ScopeSyncDisabled => "scope_sync_disabled",
            SkipReason::NoMappingToTombstone => "no_mapping_to_tombstone",
            SkipReason::Suppressed => "suppressed",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device-level error with its real cause.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceError {
    /// The device, when the error belongs to one (scope- or run-level errors have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<ExternalDeviceId>,
    /// The error class.
    pub kind: ErrorKind,
    /// The full message, including the provider's or store's own words.
    pub message: String,
}

impl fmt::Display for DeviceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.device {
            Some(d) => write!(f, "{d}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// What happened to one device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// A new asset and mapping were written.
    Created,
    /// Provider-owned fields changed and were written.
    Updated,
    /// The fingerprint matched: nothing was written.
    Unchanged,
    /// The device changed scope; the same asset followed it.
    Moved {
        /// The scope the store knew before.
        from: String,
    },
    /// The device is gone: asset inactive/offline, mapping `deleted`.
    Tombstoned,
    /// A tombstoned device came back and was re-activated.
    Restored,
    /// Nothing was written, for a reason the host can act on.
    Skipped {
        /// Why.
        reason: SkipReason,
    },
    /// Cross-provider matching found several candidate assets; nothing was written.
    Ambiguous {
        /// The candidates, for review.
        candidates: Vec<AssetId>,
    },
    /// The device could not be processed; the rest of its batch was not affected.
    Failed {
        /// The cause.
        error: DeviceError,
    },
}

impl Outcome {
    /// `true` when this outcome wrote to the store.
    pub fn wrote(&self) -> bool {
        matches!(
            self,
            Outcome::Created
                | Outcome::Updated
                | Outcome::Moved { .. }
                | Outcome::Tombstoned
                | Outcome::Restored
        )
    }
}

/// One device's outcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceOutcome {
    /// The device.
    pub external_id: ExternalDeviceId,
    /// Its asset, when one exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<AssetId>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Counts per outcome (the `counts` object of a run report).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // one counter per outcome
pub struct OutcomeCounts {
    /// Devices the run looked at (every outcome counts once).
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub moved: u64,
    pub tombstoned: u64,
    pub restored: u64,
    pub skipped: u64,
    pub ambiguous: u64,
    pub failed: u64,
}

impl OutcomeCounts {
    /// Counts one outcome.
    pub fn record(&mut self, outcome: &Outcome) {
        self.seen += 1;
        let slot = match outcome {
            Outcome::Created => &mut self.created,
            Outcome::Updated => &mut self.updated,
            Outcome::Unchanged => &mut self.unchanged,
            Outcome::Moved { .. } => &mut self.moved,
            Outcome::Tombstoned => &mut self.tombstoned,
            Outcome::Restored => &mut self.restored,
            Outcome::Skipped { .. } => &mut self.skipped,
            Outcome::Ambiguous { .. } => &mut self.ambiguous,
            Outcome::Failed { .. } => &mut self.failed,
        };
        *slot += 1;
    }

    /// Adds another set of counts.
    pub fn add(&mut self, other: &OutcomeCounts) {
        self.seen += other.seen;
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.moved += other.moved;
        self.tombstoned += other.tombstoned;
        self.restored += other.restored;
        self.skipped += other.skipped;
        self.ambiguous += other.ambiguous;
        self.failed += other.failed;
    }

    /// Devices that were written.
    pub fn written(&self) -> u64 {
        self.created + self.updated + self.moved + self.tombstoned + self.restored
    }
}
