//! Normalized snapshots: what every provider adapter produces.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{
    AgentStatus, DeviceDetails, DeviceKind, ExternalDeviceId, ExternalScopeId, IdentityHints,
    Lifecycle, Reported,
};

/// What kind of grouping a scope is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// A customer organization (NinjaOne organization, Tactical client).
    #[default]
    Organization,
    /// A site or location below an organization.
    Site,
    /// A group of devices (Tanium computer group).
    Group,
    /// Anything else a third-party provider has.
    Custom,
}

impl ScopeKind {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Organization => "organization",
            ScopeKind::Site => "site",
            ScopeKind::Group => "group",
            ScopeKind::Custom => "custom",
        }
    }
}

/// One provider scope: the unit the host maps to a client.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScopeSnapshot {
    /// The provider's id for the scope.
    pub id: ExternalScopeId,
    /// Display name.
    pub name: String,
    /// The parent scope (a NinjaOne location's organization), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<ExternalScopeId>,
    /// What kind of grouping this is.
    pub kind: ScopeKind,
    /// Provider facts worth keeping (description, tags, path …).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl ScopeSnapshot {
    /// A scope with no parent and no metadata.
    pub fn new(id: impl Into<ExternalScopeId>, name: impl Into<String>, kind: ScopeKind) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            parent: None,
            kind,
            metadata: serde_json::Map::new(),
        }
    }
}

/// One device as a provider sees it right now: the normalized contract every adapter produces
/// and the engine consumes.
///
/// The provider and integration are not repeated per device: they travel with the batch
/// ([`crate::ingest::IngestContext`]), so a snapshot can never claim another integration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceSnapshot {
    /// The provider's device id (`external_entity_id`, `assets.rmm_device_id`).
    pub external_id: ExternalDeviceId,
    /// The scope the device is in now (`external_realm_id`, `assets.rmm_organization_id`).
    pub scope_id: ExternalScopeId,
    /// Provider-side lifecycle; [`Lifecycle::Deleted`] tombstones at once.
    #[serde(default)]
    pub lifecycle: Lifecycle,
    /// Asset kind; selects the extension table.
    #[serde(default)]
    pub kind: DeviceKind,
    /// Display name (`assets.name`).
    pub display_name: String,
    /// Serial number (`assets.serial_number`).
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub serial_number: Reported<String>,
    /// Asset status the provider suggests (`active`/`inactive`); the default follows the
    /// lifecycle. Never overrides a host-set status such as `retired`.
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub status: Reported<String>,
    /// Free-text location (`assets.location`).
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub location: Reported<String>,
    /// Asset tag, used on create only; default `"<provider>:<external id>"`.
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub asset_tag: Reported<String>,
    /// Agent status as the provider reports it. When absent, the engine derives it from
    /// `last_seen_at` and the provider's thresholds.
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub agent_status: Reported<AgentStatus>,
    /// When the agent last checked in.
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub last_seen_at: Reported<DateTime<Utc>>,
    /// Extension-table fields.
    #[serde(default, skip_serializing_if = "DeviceDetails::is_empty")]
    pub details: DeviceDetails,
    /// Hardware identity facts.
    #[serde(default)]
    pub identity: IdentityHints,
    /// Provider facts kept on the mapping row (replaced wholesale when reported).
    #[serde(default, skip_serializing_if = "Reported::is_absent")]
    pub metadata: Reported<serde_json::Map<String, serde_json::Value>>,
}

impl DeviceSnapshot {
    /// A minimal active snapshot: id, scope, kind and name; every optional field absent.
    pub fn new(
        external_id: impl Into<ExternalDeviceId>,
        scope_id: impl Into<ExternalScopeId>,
        kind: DeviceKind,
        display_name: impl Into<String>,
    ) -> Self {
        Self {
            external_id: external_id.into(),
            scope_id: scope_id.into(),
            lifecycle: Lifecycle::Active,
            kind,
            display_name: display_name.into(),
            serial_number: Reported::Absent,
            status: Reported::Absent,
            location: Reported::Absent,
            asset_tag: Reported::Absent,
            agent_status: Reported::Absent,
            last_seen_at: Reported::Absent,
            details: DeviceDetails::default(),
            identity: IdentityHints::default(),
            metadata: Reported::Absent,
        }
    }

    /// A snapshot that only says "this device is gone" (explicit provider deletion).
    pub fn deleted(
        external_id: impl Into<ExternalDeviceId>,
        scope_id: impl Into<ExternalScopeId>,
    ) -> Self {
        let mut s = Self::new(external_id, scope_id, DeviceKind::Unknown, "");
        s.lifecycle = Lifecycle::Deleted;
        s
    }
}

/// A provider-reported change of a device's id (Tanium `endpointIdChanges`: a re-imaged or
/// re-registered endpoint gets a new EID). The engine re-keys the mapping instead of creating a
/// second asset.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdentityChange {
    /// The id the store knows.
    pub previous: ExternalDeviceId,
    /// The id the provider uses from now on.
    pub current: ExternalDeviceId,
    /// When the provider recorded the change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<DateTime<Utc>>,
}
