//! Workflow and schedule ids, derived from tenant + integration.
//!
//! Temporal refuses to start a second workflow with the id of a running one, so deriving the id
//! from what the run is about makes "one run per integration at a time" hold across every
//! worker and every starter (schedules, the CLI, webhooks):
//!
//! | what | id |
//! |---|---|
//! | integration run (full, incremental, scopes) | `rmm-sync/{tenant}/{integration}/sync` |
//! | single-device refresh | `rmm-sync/{tenant}/{integration}/device/{external id}` |
//! | full-run schedule | `rmm-sync/{tenant}/{integration}/full` |
//! | incremental-run schedule | `rmm-sync/{tenant}/{integration}/incremental` |
//!
//! Tenant and integration are UUIDs (hyphenated, lowercase). An external device id is the
//! provider's string: `%` and control characters are percent-encoded (so the id stays
//! printable and distinct ids stay distinct), and one longer than [`MAX_DEVICE_ID_BYTES`]
//! is cut at a character boundary and suffixed with `~` and a 128-bit hash of the whole id,
//! keeping every workflow id far below Temporal's 1000-byte limit.

use std::fmt::Write as _;

use crate::model::{ExternalDeviceId, IntegrationId, TenantId};

/// The prefix of every id this crate gives Temporal.
pub const PREFIX: &str = "rmm-sync";

/// The longest encoded external device id kept verbatim in a workflow id; longer ones are
/// shortened (prefix + hash).
pub const MAX_DEVICE_ID_BYTES: usize = 200;

/// The bytes of a shortened device id kept before the hash.
const KEPT_PREFIX_BYTES: usize = 160;

/// Which scheduled run a schedule starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScheduleKind {
    /// Full runs.
    Full,
    /// Incremental runs.
    Incremental,
}

impl ScheduleKind {
    /// Both kinds, full first.
    pub const ALL: [ScheduleKind; 2] = [ScheduleKind::Full, ScheduleKind::Incremental];

    /// `full` or `incremental`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleKind::Full => "full",
            ScheduleKind::Incremental => "incremental",
        }
    }

    /// The run mode a schedule of this kind starts.
    pub fn run_mode(self) -> crate::sync::RunMode {
        match self {
            ScheduleKind::Full => crate::sync::RunMode::Full,
            ScheduleKind::Incremental => crate::sync::RunMode::Incremental,
        }
    }
}

/// `rmm-sync/{tenant}/{integration}`: what every id of one integration starts with.
pub fn integration_prefix(tenant: TenantId, integration: IntegrationId) -> String {
    format!("{PREFIX}/{tenant}/{integration}")
}

/// `rmm-sync/{tenant}/`: what every id of one tenant starts with.
pub fn tenant_prefix(tenant: TenantId) -> String {
    format!("{PREFIX}/{tenant}/")
}

/// The id of an integration's run workflow (`IntegrationSyncWorkflow`).
pub fn sync_workflow_id(tenant: TenantId, integration: IntegrationId) -> String {
    format!("{}/sync", integration_prefix(tenant, integration))
}

/// The id of a single-device refresh workflow (`DeviceRefreshWorkflow`).
pub fn device_workflow_id(
    tenant: TenantId,
    integration: IntegrationId,
    device: &ExternalDeviceId,
) -> String {
    format!(
        "{}/device/{}",
        integration_prefix(tenant, integration),
        encode_device_id(device.as_str())
    )
}

/// The id of an integration's full or incremental schedule.
pub fn schedule_id(tenant: TenantId, integration: IntegrationId, kind: ScheduleKind) -> String {
    format!(
        "{}/{}",
        integration_prefix(tenant, integration),
        kind.as_str()
    )
}

/// Percent-encodes `%` and control characters; shortens long ids to prefix + `~` + hash.
fn encode_device_id(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c == '%' || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    if out.len() <= MAX_DEVICE_ID_BYTES {
        return out;
    }
    let mut cut = KEPT_PREFIX_BYTES;
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = xxhash_rust::xxh3::xxh3_128(raw.as_bytes());
    format!("{}~{hash:032x}", &out[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (TenantId, IntegrationId) {
        (
            "00000000-0000-0000-0000-000000000001".parse().unwrap(),
            IntegrationId::from_name("tanium-main"),
        )
    }

    #[test]
    fn ids_follow_the_documented_scheme() {
        let (t, i) = ids();
        let base = format!("rmm-sync/00000000-0000-0000-0000-000000000001/{i}");
        assert_eq!(sync_workflow_id(t, i), format!("{base}/sync"));
        assert_eq!(
            schedule_id(t, i, ScheduleKind::Full),
            format!("{base}/full")
        );
        assert_eq!(
            schedule_id(t, i, ScheduleKind::Incremental),
            format!("{base}/incremental")
        );
        assert_eq!(
            device_workflow_id(t, i, &ExternalDeviceId::new("ep-42")),
            format!("{base}/device/ep-42")
        );
        assert!(sync_workflow_id(t, i).starts_with(&tenant_prefix(t)));
    }

    #[test]
    fn odd_characters_stay_readable_and_distinct() {
        let (t, i) = ids();
        let id = |raw: &str| device_workflow_id(t, i, &ExternalDeviceId::new(raw));
        assert!(id("a/b c:é").ends_with("/device/a/b c:é"));
        assert!(id("line\nbreak").ends_with("/device/line%0Abreak"));
        // `%` itself is encoded, so a literal "%0A" cannot collide with a newline.
        assert!(id("line%0Abreak").ends_with("/device/line%250Abreak"));
        assert_ne!(id("line\nbreak"), id("line%0Abreak"));
        assert!(!id("tab\there\u{7f}").chars().any(char::is_control));
    }

    #[test]
    fn long_device_ids_are_shortened_deterministically_and_stay_distinct() {
        let (t, i) = ids();
        let long_a = "é".repeat(2_000);
        let long_b = format!("{}x", "é".repeat(1_999));
        let a = device_workflow_id(t, i, &ExternalDeviceId::new(&long_a));
        let b = device_workflow_id(t, i, &ExternalDeviceId::new(&long_b));
        assert_eq!(a, device_workflow_id(t, i, &ExternalDeviceId::new(&long_a)));
        assert_ne!(a, b, "same prefix, different ids");
        for id in [&a, &b] {
            assert!(id.len() < 1_000, "{}", id.len());
        }
        let tail = a.rsplit_once('~').unwrap().1;
        assert_eq!(tail.len(), 32);
        // Exactly at the limit stays verbatim.
        let edge = "d".repeat(MAX_DEVICE_ID_BYTES);
        assert!(device_workflow_id(t, i, &ExternalDeviceId::new(&edge)).ends_with(&edge));
        let over = "d".repeat(MAX_DEVICE_ID_BYTES + 1);
        assert!(device_workflow_id(t, i, &ExternalDeviceId::new(&over)).contains('~'));
    }
}
