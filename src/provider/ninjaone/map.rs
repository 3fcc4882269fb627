//! NinjaOne records → normalized snapshots.
//!
//! Timestamps are epoch **seconds** (JSON numbers, often fractional), never milliseconds.
//! Fields NinjaOne did not send stay [`Reported::Absent`], so they never wipe what another
//! source wrote; fields it sent as `null` or empty are [`Reported::Null`].

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::config::ScopeLevel;
use super::wire::{ComputerSystem, Device, Id, Location, OperatingSystem, Organization, Volume};
use crate::model::{
    AgentStatus, DeviceDetails, DeviceKind, DeviceSnapshot, ExternalScopeId, IdentityHints,
    Lifecycle, Reported, ScopeKind, ScopeSnapshot, StorageInfo,
};

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Every `nodeClass` of the v2 API and the kind it becomes. Unknown (future) classes become
/// [`DeviceKind::Unknown`] with the class kept in the mapping metadata.
pub(crate) const NODE_CLASSES: &[(&str, DeviceKind)] = &[
    ("WINDOWS_WORKSTATION", DeviceKind::Workstation),
    ("LINUX_WORKSTATION", DeviceKind::Workstation),
    ("MAC", DeviceKind::Workstation),
    ("NMS_COMPUTER", DeviceKind::Workstation),
    ("WINDOWS_SERVER", DeviceKind::Server),
    ("LINUX_SERVER", DeviceKind::Server),
    ("MAC_SERVER", DeviceKind::Server),
    ("VMWARE_VM_HOST", DeviceKind::Server),
    ("VMWARE_VM_GUEST", DeviceKind::Server),
    ("HYPERV_VMM_HOST", DeviceKind::Server),
    ("HYPERV_VMM_GUEST", DeviceKind::Server),
    ("NMS_SERVER", DeviceKind::Server),
    ("NMS_VM_HOST", DeviceKind::Server),
    ("NMS_VIRTUAL_MACHINE", DeviceKind::Server),
    ("ANDROID", DeviceKind::MobileDevice),
    ("APPLE_IOS", DeviceKind::MobileDevice),
    ("APPLE_IPADOS", DeviceKind::MobileDevice),
    ("NMS_SWITCH", DeviceKind::NetworkDevice),
    ("NMS_ROUTER", DeviceKind::NetworkDevice),
    ("NMS_FIREWALL", DeviceKind::NetworkDevice),
    ("NMS_PRIVATE_NETWORK_GATEWAY", DeviceKind::NetworkDevice),
    ("NMS_WAP", DeviceKind::NetworkDevice),
    ("NMS_IPSLA", DeviceKind::NetworkDevice),
    ("NMS_DIAL_MANAGER", DeviceKind::NetworkDevice),
    ("NMS_APPLIANCE", DeviceKind::NetworkDevice),
    ("NMS_NETWORK_MANAGEMENT_AGENT", DeviceKind::NetworkDevice),
    ("NMS_PRINTER", DeviceKind::NetworkDevice),
    ("NMS_SCANNER", DeviceKind::NetworkDevice),
    ("NMS_PHONE", DeviceKind::NetworkDevice),
    ("NMS_OTHER", DeviceKind::NetworkDevice),
    ("NMS", DeviceKind::NetworkDevice),
    ("CLOUD_MONITOR_TARGET", DeviceKind::NetworkDevice),
    ("UNMANAGED_DEVICE", DeviceKind::Unknown),
    ("MANAGED_DEVICE", DeviceKind::Unknown),
];

/// The kind of a `nodeClass`.
pub(crate) fn kind_of(node_class: &str) -> DeviceKind {
    NODE_CLASSES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(node_class.trim()))
        .map_or(DeviceKind::Unknown, |(_, k)| *k)
}

/// An epoch-seconds timestamp. Values that cannot be seconds of a plausible date are refused:
/// non-finite, zero or negative ("never"), or beyond the year 2200 — except values in the
/// millisecond range, which some integrations send and are converted instead of being read as
/// dates thousands of years away.
pub(crate) fn epoch_seconds(value: f64) -> Option<DateTime<Utc>> {
    if !value.is_finite() || value <= 0.0 {
        return None;
    }
    // 1e11 seconds is the year 5138; no real timestamp in seconds gets there.
    let seconds = if value >= 1e11 { value / 1000.0 } else { value };
    let micros = (seconds * 1_000_000.0).round();
    if micros > 7_258_118_400_000_000.0 {
        return None; // after 2200-01-01
    }
    DateTime::from_timestamp_micros(micros as i64)
}

fn reported_time(value: &Reported<f64>) -> Reported<DateTime<Utc>> {
    match value {
        Reported::Absent => Reported::Absent,
        Reported::Null => Reported::Null,
        Reported::Value(v) => epoch_seconds(*v).map_or(Reported::Null, Reported::Value),
    }
}

/// A text value: trimmed; empty counts as null.
fn text(value: &Reported<String>) -> Reported<String> {
    match value {
        Reported::Absent => Reported::Absent,
        Reported::Null => Reported::Null,
        Reported::Value(v) if v.trim().is_empty() => Reported::Null,
        Reported::Value(v) => Reported::Value(v.trim().to_owned()),
    }
}

fn some_text(value: &Reported<String>) -> Option<String> {
    text(value).value().cloned()
}

/// The scope id of a device under the configured level.
pub(crate) fn scope_of(
    level: ScopeLevel,
    organization: &Reported<Id>,
    location: &Reported<Id>,
) -> Option<ExternalScopeId> {
    match level {
        ScopeLevel::Organization => organization
            .value()
            .map(|o| ExternalScopeId::new(o.0.to_string())),
        ScopeLevel::Location => location
            .value()
            .map(|l| ExternalScopeId::new(ScopeLevel::location_scope_id(l.0))),
    }
}

/// One device record → snapshot; `None` when the record has no usable id (it cannot be
/// correlated with anything). A device without a scope gets an empty scope id, which the
/// engine reports as a failed device with a clear message.
pub(crate) fn device_snapshot(d: &Device, level: ScopeLevel) -> Option<DeviceSnapshot> {
    let id = d.id.value()?.0;
    let class = some_text(&d.node_class);
    let kind = class.as_deref().map_or(DeviceKind::Unknown, kind_of);
    let name = [
        &d.display_name,
        &d.system_name,
        &d.dns_name,
        &d.netbios_name,
    ]
    .into_iter()
    .find_map(some_text)
    .unwrap_or_else(|| format!("NinjaOne device {id}"));
    let scope = scope_of(level, &d.organization_id, &d.location_id).unwrap_or_else(|| "".into());
    let mut s = DeviceSnapshot::new(id.to_string(), scope, kind, name);

    let approval = some_text(&d.approval_status);
    if approval
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("DECOMMISSIONED"))
    {
        s.lifecycle = Lifecycle::Offline;
    }
    s.agent_status = match d.offline {
        Reported::Value(true) => Reported::Value(AgentStatus::Offline),
        Reported::Value(false) => Reported::Value(AgentStatus::Online),
        _ => Reported::Absent,
    };
    s.last_seen_at = reported_time(&d.last_contact);
    if let Reported::Value(refs) = &d.references
        && let Reported::Value(location) = &refs.location
    {
        s.location = text(&location.name);
    }

    let system = d.system.value();
    let os = d.os.value();
    if let Some(sys) = system {
        s.serial_number =
            match some_text(&sys.serial_number).or_else(|| some_text(&sys.bios_serial_number)) {
                Some(serial) => Reported::Value(serial),
                None => Reported::Null,
            };
    }
    s.details = details(d, os, system);
    s.identity = identity(d, system);
    s.metadata = Reported::Value(metadata(d, class.as_deref(), approval.as_deref()));
    Some(s)
}

fn details(
    d: &Device,
    os: Option<&OperatingSystem>,
    system: Option<&ComputerSystem>,
) -> DeviceDetails {
    // Agent devices (Windows, macOS, Linux) carry an `os` object; for the others (network,
    // mobile, cloud monitors) NinjaOne has no such facts and nothing is reported.
    let agent = os.is_some();
    let mut details = DeviceDetails::default();
    if let Some(os) = os {
        details.os_type = os_family(&os.name);
        details.os_version = os_version(os);
        details.last_reboot_at = reported_time(&os.last_boot_time);
        // Uptime as of the last contact, not "now": stable while a device is offline, so an
        // unchanged device stays unchanged.
        details.uptime_seconds = match (
            reported_time(&os.last_boot_time).value(),
            reported_time(&d.last_contact).value(),
        ) {
            (Some(boot), Some(contact)) if contact >= boot => {
                Reported::Value((*contact - *boot).num_seconds())
            }
            _ => Reported::Null,
        };
    }
    if agent {
        details.current_user = text(&d.last_logged_in_user);
        details.lan_ip = match &d.ip_addresses {
            Reported::Value(ips) => lan_ip(ips).map_or(Reported::Null, Reported::Value),
            Reported::Null => Reported::Null,
            Reported::Absent => Reported::Absent,
        };
        details.wan_ip = text(&d.public_ip);
        if let Reported::Value(cpus) = &d.processors {
            details.cpu_model = cpus
                .iter()
                .find_map(|c| some_text(&c.name))
                .map_or(Reported::Null, Reported::Value);
            let cores: i32 = cpus
                .iter()
                .map(|c| {
                    c.num_cores
                        .value()
                        .or(c.num_logical_cores.value())
                        .copied()
                        .unwrap_or(0)
                })
                .sum();
            details.cpu_cores = if cores > 0 {
                Reported::Value(cores)
            } else {
                Reported::Null
            };
        }
        let memory = d
            .memory
            .value()
            .and_then(|m| m.capacity.value().copied())
            .or_else(|| system.and_then(|s| s.total_physical_memory.value().copied()));
        details.ram_gb = match memory {
            Some(bytes) if bytes > 0 => Reported::Value(round2(bytes as f64 / GIB)),
            _ if d.memory.is_absent() && system.is_none() => Reported::Absent,
            _ => Reported::Null,
        };
        if let Reported::Value(volumes) = &d.volumes {
            details.disk_usage = Reported::Value(volumes.iter().filter_map(storage).collect());
        }
    }
    if let Some(info) = system_info(d, os, system) {
        details.system_info = Reported::Value(info);
    }
    details
}

/// Normalised OS family (`Windows`, `macOS`, `Linux`, `iOS`, `Android`), else the raw name.
fn os_family(name: &Reported<String>) -> Reported<String> {
    text(name).map(|n| {
        let l = n.to_ascii_lowercase();
        let family = if l.contains("windows") {
            "Windows"
        } else if l.contains("mac") || l.contains("darwin") {
            "macOS"
        } else if l.contains("ipados") || l.contains("ios") {
            "iOS"
        } else if l.contains("android") {
            "Android"
        } else if [
            "linux", "ubuntu", "debian", "centos", "red hat", "rhel", "fedora", "suse", "alma",
            "rocky",
        ]
        .iter()
        .any(|k| l.contains(k))
        {
            "Linux"
        } else {
            return n;
        };
        family.to_owned()
    })
}

/// `"Windows 11 Pro 23H2 (build 22631)"`: name, release and build as far as reported.
fn os_version(os: &OperatingSystem) -> Reported<String> {
    let Some(name) = some_text(&os.name) else {
        return text(&os.name);
    };
    let mut v = name;
    if let Some(release) = some_text(&os.release_id) {
        v.push(' ');
        v.push_str(&release);
    }
    if let Some(build) = some_text(&os.build_number) {
        v.push_str(&format!(" (build {build})"));
    }
    Reported::Value(v)
}

/// The first usable IPv4 address: not loopback, not link-local, not unspecified.
fn lan_ip(ips: &[String]) -> Option<String> {
    ips.iter()
        .find_map(|raw| match raw.trim().parse::<IpAddr>() {
            Ok(IpAddr::V4(v4))
                if !v4.is_loopback() && !v4.is_link_local() && !v4.is_unspecified() =>
            {
                Some(v4.to_string())
            }
            _ => None,
        })
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn storage(v: &Volume) -> Option<StorageInfo> {
    let capacity = *v.capacity.value()?;
    if capacity <= 0 {
        return None;
    }
    let free = v
        .free_space
        .value()
        .copied()
        .unwrap_or(0)
        .clamp(0, capacity);
    let name = [&v.drive_letter, &v.name, &v.label]
        .into_iter()
        .find_map(some_text)
        .unwrap_or_else(|| "volume".to_owned());
    Some(StorageInfo::from_total_free(
        name,
        round2(capacity as f64 / GIB),
        round2(free as f64 / GIB),
    ))
}

fn system_info(
    d: &Device,
    os: Option<&OperatingSystem>,
    system: Option<&ComputerSystem>,
) -> Option<Map<String, Value>> {
    let mut info = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            info.insert(key.to_owned(), v);
        }
    };
    if let Some(sys) = system {
        put(
            "manufacturer",
            some_text(&sys.manufacturer).map(Value::from),
        );
        put("model", some_text(&sys.model).map(Value::from));
        put(
            "chassis_type",
            some_text(&sys.chassis_type).map(Value::from),
        );
        put("domain", some_text(&sys.domain).map(Value::from));
        put("domain_role", some_text(&sys.domain_role).map(Value::from));
        put(
            "virtual_machine",
            sys.virtual_machine.value().map(|v| json!(v)),
        );
    }
    if let Some(os) = os {
        put(
            "os_manufacturer",
            some_text(&os.manufacturer).map(Value::from),
        );
        put(
            "os_architecture",
            some_text(&os.architecture).map(Value::from),
        );
        put("needs_reboot", os.needs_reboot.value().map(|v| json!(v)));
    }
    put("dns_name", some_text(&d.dns_name).map(Value::from));
    put("netbios_name", some_text(&d.netbios_name).map(Value::from));
    put("public_ip", some_text(&d.public_ip).map(Value::from));
    (!info.is_empty()).then_some(info)
}

fn identity(d: &Device, system: Option<&ComputerSystem>) -> IdentityHints {
    let mut serials = Vec::new();
    if let Some(sys) = system {
        for s in [&sys.serial_number, &sys.bios_serial_number] {
            if let Some(s) = some_text(s)
                && !serials.contains(&s)
            {
                serials.push(s);
            }
        }
    }
    let dns = some_text(&d.dns_name);
    IdentityHints {
        serial_numbers: serials,
        manufacturer: system.and_then(|s| some_text(&s.manufacturer)),
        model: system.and_then(|s| some_text(&s.model)),
        mac_addresses: d
            .mac_addresses
            .value()
            .map(|m| {
                m.iter()
                    .filter(|m| !m.trim().is_empty())
                    .map(|m| m.trim().to_owned())
                    .collect()
            })
            .unwrap_or_default(),
        system_uuid: None, // `uid` is NinjaOne's node id, not the SMBIOS UUID
        hostname: some_text(&d.system_name).or_else(|| some_text(&d.netbios_name)),
        fqdn: dns.filter(|n| n.contains('.')),
    }
}

/// Stable provider facts for the mapping row (nothing that changes on every check-in).
fn metadata(d: &Device, class: Option<&str>, approval: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            m.insert(key.to_owned(), v);
        }
    };
    put("nodeClass", class.map(Value::from));
    put("deviceType", some_text(&d.device_type).map(Value::from));
    put("approvalStatus", approval.map(Value::from));
    put(
        "organizationId",
        d.organization_id.value().map(|i| json!(i.0)),
    );
    put("locationId", d.location_id.value().map(|i| json!(i.0)));
    put("uid", some_text(&d.uid).map(Value::from));
    put("nodeRoleId", d.node_role_id.value().map(|i| json!(i.0)));
    put(
        "parentDeviceId",
        d.parent_device_id.value().map(|i| json!(i.0)),
    );
    put(
        "maintenance",
        d.maintenance
            .value()
            .and_then(|mt| some_text(&mt.status))
            .map(Value::from),
    );
    put(
        "tags",
        d.tags.value().filter(|t| !t.is_empty()).map(|t| json!(t)),
    );
    put(
        "created",
        reported_time(&d.created)
            .value()
            .map(|t| json!(t.to_rfc3339())),
    );
    m
}

/// An organization → scope.
pub(crate) fn organization_scope(o: &Organization) -> Option<ScopeSnapshot> {
    let id = o.id.value()?.0;
    let name = some_text(&o.name).unwrap_or_else(|| format!("Organization {id}"));
    let mut s = ScopeSnapshot::new(id.to_string(), name, ScopeKind::Organization);
    if let Some(d) = some_text(&o.description) {
        s.metadata.insert("description".into(), d.into());
    }
    if let Some(mode) = some_text(&o.node_approval_mode) {
        s.metadata.insert("nodeApprovalMode".into(), mode.into());
    }
    if let Some(tags) = o.tags.value().filter(|t| !t.is_empty()) {
        s.metadata.insert("tags".into(), json!(tags));
    }
    Some(s)
}

/// A location → scope (kind `site`, parent = its organization).
pub(crate) fn location_scope(l: &Location) -> Option<ScopeSnapshot> {
    let id = l.id.value()?.0;
    let name = some_text(&l.name).unwrap_or_else(|| format!("Location {id}"));
    let mut s = ScopeSnapshot::new(ScopeLevel::location_scope_id(id), name, ScopeKind::Site);
    s.parent = l
        .organization_id
        .value()
        .map(|o| ExternalScopeId::new(o.0.to_string()));
    s.metadata.insert("locationId".into(), json!(id));
    if let Some(a) = some_text(&l.address) {
        s.metadata.insert("address".into(), a.into());
    }
    if let Some(d) = some_text(&l.description) {
        s.metadata.insert("description".into(), d.into());
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn device(v: Value) -> Device {
        serde_json::from_value(v).unwrap()
    }

    /// The spec's example agent device (values invented).
    fn workstation() -> Value {
        json!({"id":101,"uid":"9b1f7c1e-2f55-4f8a-8a1b-0c9e1d2f3a4b","organizationId":1,"locationId":11,
          "nodeClass":"WINDOWS_WORKSTATION","nodeRoleId":1,"approvalStatus":"APPROVED","offline":false,
          "displayName":"Reception PC","systemName":"ACME-WS01","dnsName":"acme-ws01.acme.local","netbiosName":"ACME-WS01",
          "created":1704880000.0,"lastContact":1795878120.512,"lastUpdate":1795878090.0,"tags":[],"fields":{},
          "maintenance":{"status":"IN_MAINTENANCE","start":1795870000,"end":1795880000},
          "ipAddresses":["fe80::1","169.254.3.3","192.168.1.50"],"macAddresses":["3C:52:82:11:22:33"],"publicIP":"203.0.113.10","deviceType":"AGENT",
          "os":{"manufacturer":"Microsoft Corporation","name":"Windows 11 Pro","architecture":"64-bit","lastBootTime":1795700000,"buildNumber":"22631","releaseId":"23H2","needsReboot":false},
          "system":{"name":"ACME-WS01","manufacturer":"HP","model":"HP EliteBook 840 G8","biosSerialNumber":"5CG1234XYZ","serialNumber":"5CG1234XYZ","domain":"acme.local","domainRole":"MEMBER_WORKSTATION","totalPhysicalMemory":17179869184_i64,"virtualMachine":false,"chassisType":"LAPTOP"},
          "memory":{"capacity":17179869184_i64},
          "processors":[{"architecture":"x64","maxClockSpeed":3000000000_i64,"name":"Intel(R) Core(TM) i7-1185G7","numCores":4,"numLogicalCores":8}],
          "volumes":[{"name":"C:","driveLetter":"C:","label":"OS","fileSystem":"NTFS","capacity":511101108224_i64,"freeSpace":129386041344_i64},
                     {"name":"D:","capacity":0}],
          "lastLoggedInUser":"ACME\\jdoe"})
    }

    #[test]
    fn maps_an_agent_workstation() {
        let s = device_snapshot(&device(workstation()), ScopeLevel::Organization).unwrap();
        assert_eq!(s.external_id.as_str(), "101");
        assert_eq!(s.scope_id.as_str(), "1");
        assert_eq!(s.kind, DeviceKind::Workstation);
        assert_eq!(s.display_name, "Reception PC");
        assert_eq!(s.serial_number, Reported::Value("5CG1234XYZ".into()));
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Online));
        let seen = Utc.timestamp_opt(1_795_878_120, 512_000_000).unwrap();
        assert_eq!(s.last_seen_at, Reported::Value(seen));
        let d = &s.details;
        assert_eq!(d.os_type, Reported::Value("Windows".into()));
        assert_eq!(
            d.os_version,
            Reported::Value("Windows 11 Pro 23H2 (build 22631)".into())
        );
        assert_eq!(
            d.last_reboot_at,
            Reported::Value(Utc.timestamp_opt(1_795_700_000, 0).unwrap())
        );
        assert_eq!(d.uptime_seconds, Reported::Value(178_120));
        assert_eq!(d.lan_ip, Reported::Value("192.168.1.50".into()));
        assert_eq!(d.wan_ip, Reported::Value("203.0.113.10".into()));
        assert_eq!(d.current_user, Reported::Value("ACME\\jdoe".into()));
        assert_eq!(
            d.cpu_model,
            Reported::Value("Intel(R) Core(TM) i7-1185G7".into())
        );
        assert_eq!(d.cpu_cores, Reported::Value(4));
        assert_eq!(d.ram_gb, Reported::Value(16.0));
        let disks = d.disk_usage.value().unwrap();
        assert_eq!(disks.len(), 1, "zero-capacity volumes are skipped");
        assert_eq!(disks[0].name, "C:");
        assert_eq!(disks[0].total_gb, 476.0);
        assert_eq!(disks[0].free_gb, 120.5);
        let info = d.system_info.value().unwrap();
        assert_eq!(info["model"], "HP EliteBook 840 G8");
        assert_eq!(info["chassis_type"], "LAPTOP");
        assert_eq!(s.identity.hostname.as_deref(), Some("ACME-WS01"));
        assert_eq!(s.identity.fqdn.as_deref(), Some("acme-ws01.acme.local"));
        assert_eq!(s.identity.serial_numbers, vec!["5CG1234XYZ".to_owned()]);
        assert_eq!(
            s.identity.mac_addresses,
            vec!["3C:52:82:11:22:33".to_owned()]
        );
        let meta = s.metadata.value().unwrap();
        assert_eq!(meta["nodeClass"], "WINDOWS_WORKSTATION");
        assert_eq!(meta["maintenance"], "IN_MAINTENANCE");
        assert!(
            !meta.contains_key("lastContact"),
            "volatile values stay out of metadata"
        );
    }

    #[test]
    fn location_level_uses_prefixed_location_ids() {
        let s = device_snapshot(&device(workstation()), ScopeLevel::Location).unwrap();
        assert_eq!(s.scope_id.as_str(), "loc-11");
    }

    #[test]
    fn every_documented_node_class_has_a_deliberate_kind() {
        // The nodeClass enum of the v2 spec (Device.nodeClass), plus the legacy plain NMS.
        let documented = "WINDOWS_SERVER WINDOWS_WORKSTATION LINUX_WORKSTATION MAC ANDROID APPLE_IOS \
            APPLE_IPADOS VMWARE_VM_HOST VMWARE_VM_GUEST HYPERV_VMM_HOST HYPERV_VMM_GUEST LINUX_SERVER \
            MAC_SERVER CLOUD_MONITOR_TARGET NMS_SWITCH NMS_ROUTER NMS_FIREWALL \
            NMS_PRIVATE_NETWORK_GATEWAY NMS_PRINTER NMS_SCANNER NMS_DIAL_MANAGER NMS_WAP NMS_IPSLA \
            NMS_COMPUTER NMS_VM_HOST NMS_APPLIANCE NMS_OTHER NMS_SERVER NMS_PHONE \
            NMS_VIRTUAL_MACHINE NMS_NETWORK_MANAGEMENT_AGENT UNMANAGED_DEVICE MANAGED_DEVICE NMS";
        for class in documented.split_whitespace() {
            assert!(
                NODE_CLASSES.iter().any(|(c, _)| *c == class),
                "{class} has no entry"
            );
        }
        assert_eq!(NODE_CLASSES.len(), documented.split_whitespace().count());
        assert_eq!(kind_of("WINDOWS_SERVER"), DeviceKind::Server);
        assert_eq!(kind_of("APPLE_IPADOS"), DeviceKind::MobileDevice);
        assert_eq!(kind_of("NMS_FIREWALL"), DeviceKind::NetworkDevice);
        assert_eq!(kind_of("mac"), DeviceKind::Workstation);
        assert_eq!(kind_of("SOMETHING_NEW"), DeviceKind::Unknown);
    }

    #[test]
    fn timestamps_are_seconds_not_milliseconds() {
        let t = epoch_seconds(1_795_878_120.0).unwrap();
        assert_eq!(t, Utc.with_ymd_and_hms(2026, 11, 28, 15, 2, 0).unwrap());
        // The reference implementation's defect: seconds read as milliseconds land in 1970.
        assert!(t.timestamp() > 1_700_000_000);
        assert_eq!(
            epoch_seconds(1_795_878_120_000.0),
            Some(t),
            "milliseconds are recognised"
        );
        assert_eq!(epoch_seconds(0.0), None);
        assert_eq!(epoch_seconds(-5.0), None);
        assert_eq!(epoch_seconds(f64::NAN), None);
        assert_eq!(epoch_seconds(9e10), None, "the year 4800 is not a date");
    }

    #[test]
    fn non_agent_devices_report_no_agent_facts() {
        let s = device_snapshot(
            &device(
                json!({"id": 7, "organizationId": 2, "nodeClass": "NMS_SWITCH",
                "systemName": "core-sw1", "offline": true, "lastContact": 1795878000,
                "ipAddresses": ["10.0.0.1"]}),
            ),
            ScopeLevel::Organization,
        )
        .unwrap();
        assert_eq!(s.kind, DeviceKind::NetworkDevice);
        assert_eq!(s.display_name, "core-sw1");
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Offline));
        assert_eq!(s.serial_number, Reported::Absent);
        assert_eq!(s.details.os_type, Reported::Absent);
        assert_eq!(s.details.lan_ip, Reported::Absent);
        assert_eq!(s.details.ram_gb, Reported::Absent);
    }

    #[test]
    fn missing_ids_and_scopes_are_handled() {
        assert!(
            device_snapshot(
                &device(json!({"nodeClass": "MAC"})),
                ScopeLevel::Organization
            )
            .is_none()
        );
        let s = device_snapshot(&device(json!({"id": 9})), ScopeLevel::Organization).unwrap();
        assert_eq!(
            s.scope_id.as_str(),
            "",
            "the engine reports it as a failed device"
        );
        assert_eq!(s.display_name, "NinjaOne device 9");
        assert_eq!(s.kind, DeviceKind::Unknown);
        assert_eq!(s.agent_status, Reported::Absent);
        assert_eq!(s.last_seen_at, Reported::Absent);
    }

    #[test]
    fn nulls_clear_and_decommissioned_devices_go_offline() {
        let s = device_snapshot(
            &device(
                json!({"id": 3, "organizationId": 1, "nodeClass": "LINUX_SERVER",
                "approvalStatus": "DECOMMISSIONED", "lastContact": null,
                "os": {"name": "Ubuntu 22.04.4 LTS"}, "system": {"serialNumber": " "},
                "lastLoggedInUser": null, "ipAddresses": []}),
            ),
            ScopeLevel::Organization,
        )
        .unwrap();
        assert_eq!(s.lifecycle, Lifecycle::Offline);
        assert_eq!(s.last_seen_at, Reported::Null);
        assert_eq!(s.serial_number, Reported::Null);
        assert_eq!(s.details.os_type, Reported::Value("Linux".into()));
        assert_eq!(s.details.current_user, Reported::Null);
        assert_eq!(s.details.lan_ip, Reported::Null);
        assert_eq!(s.details.uptime_seconds, Reported::Null);
    }

    #[test]
    fn scopes_from_organizations_and_locations() {
        let o: Organization = serde_json::from_value(
            json!({"id": 2, "name": "Globex", "description": "Key account", "nodeApprovalMode": "MANUAL", "tags": ["gold"]}),
        )
        .unwrap();
        let s = organization_scope(&o).unwrap();
        assert_eq!(
            (s.id.as_str(), s.name.as_str(), s.kind),
            ("2", "Globex", ScopeKind::Organization)
        );
        assert_eq!(s.metadata["tags"], json!(["gold"]));
        let l: Location =
            serde_json::from_value(json!({"id": 2, "name": "HQ", "organizationId": 2})).unwrap();
        let s = location_scope(&l).unwrap();
        assert_eq!(s.id.as_str(), "loc-2");
        assert_eq!(s.kind, ScopeKind::Site);
        assert_eq!(s.parent.as_ref().map(|p| p.as_str()), Some("2"));
    }
}
