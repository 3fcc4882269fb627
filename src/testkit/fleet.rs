//! Deterministic fleet generation (no RNG crate: a small xorshift keeps builds lean and output
//! stable across platforms).

use chrono::{DateTime, TimeZone, Utc};

use crate::model::{
    DeviceDetails, DeviceKind, DeviceSnapshot, IdentityHints, Reported, ScopeKind, ScopeSnapshot,
    StorageInfo,
};

/// Deterministic pseudo-random numbers.
#[derive(Debug, Clone)]
pub(crate) struct XorShift(u64);

impl XorShift {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The fixed "now" of generated fleets, so generated last-seen times are reproducible.
pub fn fleet_epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 12, 0, 0).unwrap()
}

/// One generated device: `dev-<i>` in `scope-<i % scopes>`, with realistic details.
pub fn generate_device(i: u64, scopes: u64, seed: u64) -> DeviceSnapshot {
    let mut r = XorShift::new(seed ^ i.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let kind = match r.below(10) {
        0..=6 => DeviceKind::Workstation,
        7 | 8 => DeviceKind::Server,
        _ => DeviceKind::NetworkDevice,
    };
    let scope = format!("scope-{}", i % scopes.max(1));
    let mut s = DeviceSnapshot::new(format!("dev-{i}"), scope, kind, format!("host-{i:06}"));
    s.serial_number = Reported::Value(format!("SN{:010X}", r.next() & 0xFF_FFFF_FFFF));
    s.last_seen_at =
        Reported::Value(fleet_epoch() - chrono::Duration::minutes(r.below(60 * 24) as i64));
    s.details = DeviceDetails {
        os_type: Reported::Value(if kind == DeviceKind::Server {
            "Windows Server".into()
        } else {
            "Windows".into()
        }),
        os_version: Reported::Value(format!("10.0.{}", 19000 + r.below(4000))),
        cpu_model: Reported::Value("Intel(R) Core(TM) i7".into()),
        cpu_cores: Reported::Value(2 << r.below(4)),
        ram_gb: Reported::Value([7.7, 15.7, 16.0, 31.9, 64.0][r.below(5) as usize]),
        lan_ip: Reported::Value(format!(
            "10.{}.{}.{}",
            r.below(255),
            r.below(255),
            r.below(255)
        )),
        current_user: if r.below(5) == 0 {
            Reported::Null
        } else {
            Reported::Value(format!("user{}", r.below(1000)))
        },
        disk_usage: Reported::Value(vec![StorageInfo::from_total_free(
            "C:",
            256.0,
            (r.below(200) + 10) as f64,
        )]),
        ..DeviceDetails::default()
    };
    s.identity = IdentityHints {
        hostname: Some(format!("host-{i:06}")),
        manufacturer: Some("Dell Inc.".into()),
        ..IdentityHints::default()
    };
    s
}

/// `devices` generated devices across `scopes` scopes, and the scopes.
pub fn generate_fleet(
    devices: u64,
    scopes: u64,
    seed: u64,
) -> (Vec<ScopeSnapshot>, Vec<DeviceSnapshot>) {
    let scope_list = (0..scopes.max(1))
        .map(|i| {
            ScopeSnapshot::new(
                format!("scope-{i}"),
                format!("Scope {i}"),
                ScopeKind::Organization,
            )
        })
        .collect();
    let devs = (0..devices)
        .map(|i| generate_device(i, scopes, seed))
        .collect();
    (scope_list, devs)
}
