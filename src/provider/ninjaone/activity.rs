//! What an activity (from `GET /v2/activities` or a webhook) means for the device it names.
//!
//! The event is the activity's `statusCode` (`NODE_DELETED`, `SYSTEM_REBOOTED` …);
//! `activityType` is only the coarse class (`SYSTEM`, `CONDITION` …).

use serde::{Deserialize, Serialize};

/// What to do about the device an activity names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceEffect {
    /// Inventory may have changed: fetch the device again.
    Refresh,
    /// NinjaOne deleted the device: tombstone it now.
    Tombstone,
}

/// Status codes that delete a device.
pub const DELETION_STATUS_CODES: &[&str] = &["NODE_DELETED", "REJECTED_NODE_DELETED"];

/// Status codes after which a device's inventory may differ: lifecycle and approval, identity,
/// reboots and log-ons, hardware, and OS patches (build numbers). Alert, scripting, backup and
/// other activities change nothing this adapter maps and are ignored.
pub const REFRESH_STATUS_CODES: &[&str] = &[
    "NODE_CREATED",
    "NODE_UPDATED",
    "NODE_RE_ENROLLED",
    "NODE_IDENTIFICATION_UPDATED",
    "NODE_CLONING_DETECTED",
    "NODE_MANUALLY_APPROVED",
    "NODE_AUTOMATICALLY_APPROVED",
    "NODE_MANUALLY_REJECTED",
    "NODE_AUTOMATICALLY_REJECTED",
    "NODE_REGISTRATION_REJECTED",
    "MOBILE_DEVICE_UNREGISTERED",
    "SYSTEM_REBOOTED",
    "USER_LOGGED_IN",
    "USER_LOGGED_OUT",
    "CPU_ADDED",
    "CPU_REMOVED",
    "MEMORY_ADDED",
    "MEMORY_REMOVED",
    "DISK_DRIVE_ADDED",
    "DISK_DRIVE_REMOVED",
    "DISK_PARTITION_ADDED",
    "DISK_PARTITION_REMOVED",
    "DISK_VOLUME_ADDED",
    "DISK_VOLUME_REMOVED",
    "ADAPTER_ADDED",
    "ADAPTER_REMOVED",
    "ADAPTER_CONFIG_CHANGED",
    "ADAPTER_STATUS_CHANGED",
    "PATCH_MANAGEMENT_INSTALLED",
];

/// The effect of an activity with this `statusCode`, or `None` for events that change nothing
/// the adapter maps.
pub fn device_effect(status_code: &str) -> Option<DeviceEffect> {
    let code = status_code.trim();
    if DELETION_STATUS_CODES
        .iter()
        .any(|c| c.eq_ignore_ascii_case(code))
    {
        Some(DeviceEffect::Tombstone)
    } else if REFRESH_STATUS_CODES
        .iter()
        .any(|c| c.eq_ignore_ascii_case(code))
    {
        Some(DeviceEffect::Refresh)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletions_refreshes_and_noise() {
        assert_eq!(device_effect("NODE_DELETED"), Some(DeviceEffect::Tombstone));
        assert_eq!(
            device_effect("rejected_node_deleted"),
            Some(DeviceEffect::Tombstone)
        );
        assert_eq!(device_effect("NODE_UPDATED"), Some(DeviceEffect::Refresh));
        assert_eq!(
            device_effect("SYSTEM_REBOOTED"),
            Some(DeviceEffect::Refresh)
        );
        assert_eq!(device_effect("TRIGGERED"), None);
        // A PSA sync deleting its own copy is not a device deletion.
        assert_eq!(device_effect("CONNECTWISE_NODE_SYNC_NODE_DELETED"), None);
        assert_eq!(device_effect(""), None);
    }
}
