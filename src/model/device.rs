//! Device-level enums, storage info, details and identity hints.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Reported;

/// What kind of asset a device becomes. Selects the extension table.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A desktop or laptop (`workstation_assets`).
    Workstation,
    /// A physical or virtual server (`server_assets`).
    Server,
    /// A switch, router, firewall, access point …
    NetworkDevice,
    /// A phone or tablet.
    MobileDevice,
    /// Anything the provider could not classify.
    #[default]
    Unknown,
}

impl DeviceKind {
    /// The value stored in `assets.asset_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceKind::Workstation => "workstation",
            DeviceKind::Server => "server",
            DeviceKind::NetworkDevice => "network_device",
            DeviceKind::MobileDevice => "mobile_device",
            DeviceKind::Unknown => "unknown",
        }
    }

    /// Parses a stored `asset_type`; unknown values become [`DeviceKind::Unknown`].
    pub fn parse_lenient(s: &str) -> Self {
        match s {
            "workstation" => DeviceKind::Workstation,
            "server" => DeviceKind::Server,
            "network_device" => DeviceKind::NetworkDevice,
            "mobile_device" => DeviceKind::MobileDevice,
            _ => DeviceKind::Unknown,
        }
    }

    /// The extension table this kind's details live in, if any.
    pub fn extension(self) -> Option<ExtensionKind> {
        match self {
            DeviceKind::Workstation => Some(ExtensionKind::Workstation),
            DeviceKind::Server => Some(ExtensionKind::Server),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which extension table holds a device's details.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExtensionKind {
    /// `workstation_assets`.
    Workstation,
    /// `server_assets`.
    Server,
}

/// The provider-side lifecycle of a device in one snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lifecycle {
    /// Managed and reporting.
    #[default]
    Active,
    /// Known to the provider but not currently reporting.
    Offline,
    /// The provider says the device was deleted (NinjaOne `NODE_DELETED`): tombstone it now.
    Deleted,
}

/// Whether a device's agent is checking in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    /// Checked in within the provider's online window.
    Online,
    /// Past the online window (not reachable now).
    Offline,
    /// Silent for longer than the provider's overdue window (Tactical's meaning: an
    /// alert-worthy silence, staler than offline).
    Overdue,
    /// Never seen, or the provider gave no last-seen time.
    #[default]
    Unknown,
}

impl AgentStatus {
    /// The value stored in `assets.agent_status`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Online => "online",
            AgentStatus::Offline => "offline",
            AgentStatus::Overdue => "overdue",
            AgentStatus::Unknown => "unknown",
        }
    }

    /// Parses a stored value; anything unrecognised is `Unknown`.
    pub fn parse_lenient(s: &str) -> Self {
        match s {
            "online" => AgentStatus::Online,
            "offline" => AgentStatus::Offline,
            "overdue" => AgentStatus::Overdue,
            _ => AgentStatus::Unknown,
        }
    }

    /// How stale a status is: time alone only ever moves a device to a staler status.
    pub fn staleness(self) -> u8 {
        match self {
            AgentStatus::Unknown => 0,
            AgentStatus::Online => 1,
            AgentStatus::Offline => 2,
            AgentStatus::Overdue => 3,
        }
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How last-seen age turns into an [`AgentStatus`], per provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentStatusThresholds {
    /// Seen at most this long ago: online.
    #[serde(with = "duration_secs")]
    pub online_within: Duration,
    /// Seen longer ago than this: overdue. `None`: devices past the online window are simply
    /// offline.
    #[serde(with = "opt_duration_secs", default)]
    pub overdue_after: Option<Duration>,
}

impl Default for AgentStatusThresholds {
    /// Online when seen in the last 15 minutes, overdue after 7 days of silence.
    fn default() -> Self {
        Self {
            online_within: Duration::from_secs(15 * 60),
            overdue_after: Some(Duration::from_secs(7 * 24 * 3600)),
        }
    }
}

impl AgentStatusThresholds {
    /// The status of a device last seen at `last_seen`, evaluated at `now`. A last-seen time in
    /// the future (clock skew) counts as just seen.
    pub fn evaluate(&self, last_seen: Option<DateTime<Utc>>, now: DateTime<Utc>) -> AgentStatus {
        let Some(seen) = last_seen else {
            return AgentStatus::Unknown;
        };
        let age = (now - seen).to_std().unwrap_or(Duration::ZERO);
        if age <= self.online_within {
            AgentStatus::Online
        } else if self.overdue_after.is_some_and(|o| age >= o) {
            AgentStatus::Overdue
        } else {
            AgentStatus::Offline
        }
    }
}

mod duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

mod opt_duration_secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs()),
            None => s.serialize_none(),
        }
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Duration::from_secs))
    }
}

/// One disk or volume (serialized with the reference's snake_case keys).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StorageInfo {
    /// Drive letter, mount point or volume label.
    pub name: String,
    /// Capacity in GB.
    pub total_gb: f64,
    /// Free space in GB.
    pub free_gb: f64,
    /// Used share, 0–100.
    pub utilization_percent: f64,
}

impl StorageInfo {
    /// A volume from total and free GB, with the utilisation computed.
    pub fn from_total_free(name: impl Into<String>, total_gb: f64, free_gb: f64) -> Self {
        let used = if total_gb > 0.0 {
            ((total_gb - free_gb) / total_gb * 100.0).clamp(0.0, 100.0)
        } else {
            0.0
        };
        Self {
            name: name.into(),
            total_gb,
            free_gb,
            utilization_percent: (used * 100.0).round() / 100.0,
        }
    }
}

/// The extension-table fields of a device (`workstation_assets` / `server_assets`). Every field
/// is a [`Reported`]: absent leaves the stored value, null clears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)] // field names are the column names of reference §1.3 / §10.5
pub struct DeviceDetails {
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub os_type: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub os_version: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub agent_version: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub current_user: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub uptime_seconds: Reported<i64>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub lan_ip: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub wan_ip: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub antivirus_status: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub antivirus_product: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub last_reboot_at: Reported<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub pending_patches: Reported<i32>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub pending_os_patches: Reported<i32>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub pending_software_patches: Reported<i32>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub failed_patches: Reported<i32>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub last_patch_scan_at: Reported<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub cpu_model: Reported<String>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub cpu_cores: Reported<i32>,
    /// RAM in GB; fractional values (Tanium's "15.7 GB") are kept exactly.
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub ram_gb: Reported<f64>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub disk_usage: Reported<Vec<StorageInfo>>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub installed_software: Reported<Vec<serde_json::Value>>,
    #[serde(skip_serializing_if = "Reported::is_absent")]
    pub system_info: Reported<serde_json::Map<String, serde_json::Value>>,
}

/// The stored extension row: plain optional values (what [`DeviceDetails`] resolves to).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[allow(missing_docs)] // same columns as DeviceDetails
pub struct ExtensionRow {
    pub os_type: Option<String>,
    pub os_version: Option<String>,
    pub agent_version: Option<String>,
    pub current_user: Option<String>,
    pub uptime_seconds: Option<i64>,
    pub lan_ip: Option<String>,
    pub wan_ip: Option<String>,
    pub antivirus_status: Option<String>,
    pub antivirus_product: Option<String>,
    pub last_reboot_at: Option<DateTime<Utc>>,
    pub pending_patches: Option<i32>,
    pub pending_os_patches: Option<i32>,
    pub pending_software_patches: Option<i32>,
    pub failed_patches: Option<i32>,
    pub last_patch_scan_at: Option<DateTime<Utc>>,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<i32>,
    pub ram_gb: Option<f64>,
    pub disk_usage: Option<Vec<StorageInfo>>,
    pub installed_software: Option<Vec<serde_json::Value>>,
    pub system_info: Option<serde_json::Map<String, serde_json::Value>>,
}

impl DeviceDetails {
    /// The row that results from applying these details to `current` (absent keeps, null
    /// clears, value replaces).
    pub fn apply_to(&self, current: &ExtensionRow) -> ExtensionRow {
        macro_rules! m {
            ($($f:ident),*) => { ExtensionRow { $($f: self.$f.merged(current.$f.as_ref())),* } };
        }
        m!(
            os_type,
            os_version,
            agent_version,
            current_user,
            uptime_seconds,
            lan_ip,
            wan_ip,
            antivirus_status,
            antivirus_product,
            last_reboot_at,
            pending_patches,
            pending_os_patches,
            pending_software_patches,
            failed_patches,
            last_patch_scan_at,
            cpu_model,
            cpu_cores,
            ram_gb,
            disk_usage,
            installed_software,
            system_info
        )
    }

    /// `true` when no field is reported at all.
    pub fn is_empty(&self) -> bool {
        self == &DeviceDetails::default()
    }
}

/// Hardware identity facts used for optional cross-provider matching and for review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct IdentityHints {
    /// Hardware serial numbers (BIOS, chassis, board).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub serial_numbers: Vec<String>,
    /// Manufacturer, used with the serial for matching.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// Model name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// MAC addresses, any notation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mac_addresses: Vec<String>,
    /// SMBIOS system UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_uuid: Option<String>,
    /// Short host name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Fully qualified domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fqdn: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn thresholds_follow_age() {
        let now = Utc.with_ymd_and_hms(2026, 2, 13, 12, 0, 0).unwrap();
        let t = AgentStatusThresholds {
            online_within: Duration::from_secs(5 * 60),
            overdue_after: Some(Duration::from_secs(30 * 60)),
        };
        let ago = |m: i64| Some(now - chrono::Duration::minutes(m));
        assert_eq!(t.evaluate(ago(4), now), AgentStatus::Online);
        assert_eq!(t.evaluate(ago(10), now), AgentStatus::Offline);
        assert_eq!(t.evaluate(ago(40), now), AgentStatus::Overdue);
        assert_eq!(t.evaluate(ago(-3), now), AgentStatus::Online);
        assert_eq!(t.evaluate(None, now), AgentStatus::Unknown);
    }

    #[test]
    fn details_apply_keeps_absent_and_clears_null() {
        let current = ExtensionRow {
            os_type: Some("Windows".into()),
            cpu_cores: Some(4),
            ram_gb: Some(8.0),
            ..Default::default()
        };
        let d = DeviceDetails {
            cpu_cores: Reported::Null,
            ram_gb: Reported::Value(15.7),
            ..Default::default()
        };
        let row = d.apply_to(&current);
        assert_eq!(row.os_type.as_deref(), Some("Windows"));
        assert_eq!(row.cpu_cores, None);
        assert_eq!(row.ram_gb, Some(15.7));
    }

    #[test]
    fn storage_utilisation_is_computed() {
        let s = StorageInfo::from_total_free("C:", 200.0, 50.0);
        assert_eq!(s.utilization_percent, 75.0);
        assert_eq!(
            StorageInfo::from_total_free("x", 0.0, 0.0).utilization_percent,
            0.0
        );
    }
}
