//! What a provider can do (OpenDAL-style flags).

use serde::{Deserialize, Serialize};

/// Capability flags and limits of a provider.
///
/// All flags are off by default. Third-party adapters construct it with a struct literal and
/// **must** end it with `..Default::default()`, so new flags in later releases compile:
///
/// ```
/// use rmm_sync::provider::Capabilities;
/// let caps = Capabilities {
///     test_connection: true,
///     list_scopes: true,
///     list_devices: true,
///     list_devices_max_page_size: Some(500),
///     ..Default::default()
/// };
/// assert!(!caps.list_devices_since);
/// ```
///
/// The orchestrator checks these before it calls: asking a provider for something it does not
/// claim never happens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// `RmmProvider::test_connection` does a real check.
    pub test_connection: bool,
    /// `ScopeSource::list_scopes` works.
    pub list_scopes: bool,
    /// `DeviceSnapshotSource::list_devices_page` works.
    pub list_devices: bool,
    /// Devices are listed per scope (`DevicePageRequest::scope` is honoured). Without it the
    /// orchestrator lists the whole integration once and the snapshots carry their scopes.
    pub list_devices_per_scope: bool,
    /// `DevicePageRequest::since` is filtered server-side (Tanium `eidLastSeen`, Tactical
    /// `last_seen`).
    pub list_devices_since: bool,
    /// `DeviceSnapshotSource::list_changes_page` returns real deltas (NinjaOne activities).
    pub list_changes: bool,
    /// `DeviceSnapshotSource::identity_changes` reports re-keyed devices (Tanium).
    pub identity_changes: bool,
    /// `DeviceSnapshotSource::get_device` fetches one device.
    pub get_device: bool,
    /// A complete listing really contains every device, so missing devices may be swept.
    pub deletion_detection: bool,
    /// The adapter can verify and parse webhooks.
    pub webhooks: bool,
    /// Snapshots can carry installed software (when asked for).
    pub device_has_software: bool,
    /// Snapshots carry `last_seen_at`.
    pub device_has_last_seen: bool,
    /// Snapshots carry hardware serials.
    pub device_has_serial: bool,
    /// Largest page the API serves.
    pub list_devices_max_page_size: Option<u32>,
    /// The API's documented request budget per minute.
    pub requests_per_minute: Option<u32>,
}
