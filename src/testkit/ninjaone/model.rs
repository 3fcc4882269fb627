//! The simulator's tenant: organizations, locations, devices, the activity log, and how they
//! are rendered as NinjaOne v2 JSON (written from the API description, independently of the
//! adapter's own decoding).

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::testkit::fleet::XorShift;

/// Every `nodeClass` of the v2 API, so generated fleets exercise them all.
pub const SIM_NODE_CLASSES: &[&str] = &[
    "WINDOWS_SERVER",
    "WINDOWS_WORKSTATION",
    "LINUX_WORKSTATION",
    "MAC",
    "ANDROID",
    "APPLE_IOS",
    "APPLE_IPADOS",
    "VMWARE_VM_HOST",
    "VMWARE_VM_GUEST",
    "HYPERV_VMM_HOST",
    "HYPERV_VMM_GUEST",
    "LINUX_SERVER",
    "MAC_SERVER",
    "CLOUD_MONITOR_TARGET",
    "NMS_SWITCH",
    "NMS_ROUTER",
    "NMS_FIREWALL",
    "NMS_PRIVATE_NETWORK_GATEWAY",
    "NMS_PRINTER",
    "NMS_SCANNER",
    "NMS_DIAL_MANAGER",
    "NMS_WAP",
    "NMS_IPSLA",
    "NMS_COMPUTER",
    "NMS_VM_HOST",
    "NMS_APPLIANCE",
    "NMS_OTHER",
    "NMS_SERVER",
    "NMS_PHONE",
    "NMS_VIRTUAL_MACHINE",
    "NMS_NETWORK_MANAGEMENT_AGENT",
    "UNMANAGED_DEVICE",
    "MANAGED_DEVICE",
];

/// A NinjaOne organization.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOrganization {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A NinjaOne location.
#[derive(Clone, Debug, PartialEq)]
pub struct SimLocation {
    /// Id (its own id space: location 1 and organization 1 are different things).
    pub id: i64,
    /// The organization it belongs to.
    pub organization_id: i64,
    /// Name.
    pub name: String,
}

/// One disk volume.
#[derive(Clone, Debug, PartialEq)]
pub struct SimVolume {
    /// Drive letter or mount point.
    pub name: String,
    /// Bytes.
    pub capacity: i64,
    /// Bytes.
    pub free_space: i64,
}

/// What an agent device (Windows, macOS, Linux) reports beyond the basics.
#[derive(Clone, Debug, PartialEq)]
pub struct SimAgent {
    /// `os.name`.
    pub os_name: String,
    /// `os.buildNumber`.
    pub build_number: String,
    /// `os.lastBootTime` (epoch seconds).
    pub last_boot: f64,
    /// `system.manufacturer`.
    pub manufacturer: String,
    /// `system.model`.
    pub model: String,
    /// `system.serialNumber` (also the BIOS serial).
    pub serial_number: String,
    /// `memory.capacity` (bytes).
    pub ram_bytes: i64,
    /// `processors[0].name`.
    pub cpu_name: String,
    /// `processors[0].numCores`.
    pub cpu_cores: i32,
    /// `volumes`.
    pub volumes: Vec<SimVolume>,
    /// `ipAddresses`.
    pub ip_addresses: Vec<String>,
    /// `macAddresses`.
    pub mac_addresses: Vec<String>,
    /// `publicIP`.
    pub public_ip: String,
    /// `lastLoggedInUser`.
    pub last_logged_in_user: Option<String>,
}

/// One device as the simulator serves it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimDevice {
    /// Id.
    pub id: i64,
    /// `organizationId`.
    pub organization_id: i64,
    /// `locationId`.
    pub location_id: i64,
    /// `nodeClass`.
    pub node_class: String,
    /// `displayName`.
    pub display_name: String,
    /// `systemName`.
    pub system_name: String,
    /// `offline`.
    pub offline: bool,
    /// `lastContact` (epoch seconds, fractional).
    pub last_contact: f64,
    /// `created` (epoch seconds).
    pub created: f64,
    /// `approvalStatus`.
    pub approval_status: String,
    /// Agent facts; `None` for network, mobile and cloud-monitor devices.
    pub agent: Option<SimAgent>,
    /// Keys merged over the rendered JSON last (tests: odd shapes, wrong types, nulls).
    pub overrides: Map<String, Value>,
}

impl SimDevice {
    /// The `Device` JSON of `GET /v2/devices-detailed`.
    pub fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self.wire()).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in &self.overrides {
                obj.insert(k.clone(), val.clone());
            }
        }
        v
    }

    /// The same JSON as bytes (the fast path for big pages).
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        if self.overrides.is_empty() {
            serde_json::to_vec(&self.wire()).unwrap_or_default()
        } else {
            serde_json::to_vec(&self.to_json()).unwrap_or_default()
        }
    }

    fn wire(&self) -> WireDevice<'_> {
        let dns = format!("{}.corp.example", self.system_name.to_ascii_lowercase());
        WireDevice {
            id: self.id,
            uid: format!("00000000-0000-4000-8000-{:012x}", self.id),
            organization_id: self.organization_id,
            location_id: self.location_id,
            node_class: &self.node_class,
            node_role_id: 1,
            role_policy_id: 1,
            approval_status: &self.approval_status,
            offline: self.offline,
            display_name: &self.display_name,
            system_name: &self.system_name,
            dns_name: dns,
            netbios_name: &self.system_name,
            created: self.created,
            last_contact: self.last_contact,
            last_update: self.last_contact,
            tags: [],
            fields: Map::new(),
            user_data: Map::new(),
            device_type: if self.agent.is_some() { "AGENT" } else { "NMS" },
            agent: self.agent.as_ref().map(|a| WireAgent {
                ip_addresses: &a.ip_addresses,
                mac_addresses: &a.mac_addresses,
                public_ip: &a.public_ip,
                os: WireOs {
                    manufacturer: if a.os_name.contains("Windows") {
                        "Microsoft Corporation"
                    } else {
                        ""
                    },
                    name: &a.os_name,
                    architecture: "64-bit",
                    last_boot_time: a.last_boot,
                    build_number: &a.build_number,
                    release_id: "",
                    service_pack_major_version: 0,
                    service_pack_minor_version: 0,
                    locale: "en-US",
                    language: "en-US",
                    needs_reboot: false,
                },
                system: WireSystem {
                    name: &self.system_name,
                    manufacturer: &a.manufacturer,
                    model: &a.model,
                    bios_serial_number: &a.serial_number,
                    serial_number: &a.serial_number,
                    domain: "corp.example",
                    domain_role: "MEMBER_WORKSTATION",
                    number_of_processors: 1,
                    total_physical_memory: a.ram_bytes,
                    virtual_machine: self.node_class.contains("GUEST"),
                    chassis_type: "DESKTOP",
                },
                memory: WireMemory {
                    capacity: a.ram_bytes,
                },
                processors: [WireProcessor {
                    architecture: "x64",
                    max_clock_speed: 3_000_000_000,
                    clock_speed: 2_900_000_000,
                    name: &a.cpu_name,
                    num_cores: a.cpu_cores,
                    num_logical_cores: a.cpu_cores * 2,
                }],
                volumes: a
                    .volumes
                    .iter()
                    .map(|v| WireVolume {
                        name: &v.name,
                        drive_letter: &v.name,
                        label: "",
                        device_type: "Local Disk",
                        file_system: "NTFS",
                        auto_mount: true,
                        compressed: false,
                        capacity: v.capacity,
                        free_space: v.free_space,
                    })
                    .collect(),
                last_logged_in_user: a.last_logged_in_user.as_deref(),
            }),
        }
    }
}

// The v2 `Device` / `AgentDevice` shape, written from the API description (not shared with
// the adapter's decoding, so a misspelt field shows up as a failing test).

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDevice<'a> {
    id: i64,
    uid: String,
    organization_id: i64,
    location_id: i64,
    node_class: &'a str,
    node_role_id: i64,
    role_policy_id: i64,
    approval_status: &'a str,
    offline: bool,
    display_name: &'a str,
    system_name: &'a str,
    dns_name: String,
    netbios_name: &'a str,
    created: f64,
    last_contact: f64,
    last_update: f64,
    tags: [&'a str; 0],
    fields: Map<String, Value>,
    user_data: Map<String, Value>,
    device_type: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    agent: Option<WireAgent<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAgent<'a> {
    ip_addresses: &'a [String],
    mac_addresses: &'a [String],
    #[serde(rename = "publicIP")]
    public_ip: &'a str,
    os: WireOs<'a>,
    system: WireSystem<'a>,
    memory: WireMemory,
    processors: [WireProcessor<'a>; 1],
    volumes: Vec<WireVolume<'a>>,
    last_logged_in_user: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireOs<'a> {
    manufacturer: &'a str,
    name: &'a str,
    architecture: &'a str,
    last_boot_time: f64,
    build_number: &'a str,
    release_id: &'a str,
    service_pack_major_version: i32,
    service_pack_minor_version: i32,
    locale: &'a str,
    language: &'a str,
    needs_reboot: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSystem<'a> {
    name: &'a str,
    manufacturer: &'a str,
    model: &'a str,
    bios_serial_number: &'a str,
    serial_number: &'a str,
    domain: &'a str,
    domain_role: &'a str,
    number_of_processors: i32,
    total_physical_memory: i64,
    virtual_machine: bool,
    chassis_type: &'a str,
}

#[derive(Serialize)]
struct WireMemory {
    capacity: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireProcessor<'a> {
    architecture: &'a str,
    max_clock_speed: i64,
    clock_speed: i64,
    name: &'a str,
    num_cores: i32,
    num_logical_cores: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireVolume<'a> {
    name: &'a str,
    drive_letter: &'a str,
    label: &'a str,
    device_type: &'a str,
    file_system: &'a str,
    auto_mount: bool,
    compressed: bool,
    capacity: i64,
    free_space: i64,
}

/// One entry of the activity log.
#[derive(Clone, Debug, PartialEq)]
pub struct SimActivity {
    /// Id (increasing).
    pub id: i64,
    /// Epoch seconds.
    pub activity_time: f64,
    /// The device it names.
    pub device_id: Option<i64>,
    /// `activityType` (`SYSTEM`, `CONDITION` …).
    pub activity_type: String,
    /// `statusCode` (`NODE_UPDATED`, `NODE_DELETED` …).
    pub status_code: String,
    /// The device's organization, location and class when it happened (for expanded
    /// webhook payloads, which must work for deleted devices too).
    pub device_ref: Option<(i64, i64, String)>,
}

impl SimActivity {
    /// The `Activity` JSON; with `expand_device`, a webhook's expanded `device`.
    pub fn to_json(&self, expand_device: bool) -> Value {
        let mut v = json!({
            "id": self.id,
            "activityTime": self.activity_time,
            "deviceId": self.device_id,
            "severity": "NONE",
            "priority": "NONE",
            "activityType": self.activity_type,
            "statusCode": self.status_code,
            "status": self.status_code.replace('_', " ").to_lowercase(),
            "activityResult": "SUCCESS",
            "message": format!("{} on device {:?}", self.status_code, self.device_id),
            "type": "Action",
            "data": {}
        });
        if expand_device
            && let (Some(id), Some((org, loc, class))) = (self.device_id, &self.device_ref)
        {
            v["device"] =
                json!({"id": id, "organizationId": org, "locationId": loc, "nodeClass": class});
        }
        v
    }
}

/// The shape of a generated tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimFleet {
    /// Organizations (ids 1..=n).
    pub organizations: u32,
    /// Locations per organization (ids 1.. across the tenant).
    pub locations_per_organization: u32,
    /// Devices (ids 1..=n).
    pub devices: u32,
    /// Seed: the same seed gives the same tenant.
    pub seed: u64,
}

impl SimFleet {
    /// `devices` across `organizations` with two locations each.
    pub fn new(devices: u32, organizations: u32, seed: u64) -> Self {
        Self {
            organizations,
            locations_per_organization: 2,
            devices,
            seed,
        }
    }
}

/// Generates organizations, locations and devices. `now` is epoch seconds: devices were last
/// seen within the hour before it (offline ones days before).
pub(crate) fn generate(
    fleet: SimFleet,
    now: f64,
) -> (Vec<SimOrganization>, Vec<SimLocation>, Vec<SimDevice>) {
    let orgs: Vec<SimOrganization> = (1..=i64::from(fleet.organizations.max(1)))
        .map(|id| SimOrganization {
            id,
            name: format!("Customer {id:03}"),
        })
        .collect();
    let per_org = i64::from(fleet.locations_per_organization.max(1));
    let locations: Vec<SimLocation> = orgs
        .iter()
        .flat_map(|o| {
            (0..per_org).map(move |k| SimLocation {
                id: (o.id - 1) * per_org + k + 1,
                organization_id: o.id,
                name: if k == 0 {
                    "Main office".to_owned()
                } else {
                    format!("Branch {k}")
                },
            })
        })
        .collect();
    let devices = (1..=i64::from(fleet.devices))
        .map(|id| generate_device(id, &orgs, per_org, fleet.seed, now))
        .collect();
    (orgs, locations, devices)
}

pub(crate) fn generate_device(
    id: i64,
    orgs: &[SimOrganization],
    per_org: i64,
    seed: u64,
    now: f64,
) -> SimDevice {
    let mut r = XorShift::new(seed ^ (id as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let org = &orgs[(id as usize - 1) % orgs.len()];
    let location_id = (org.id - 1) * per_org + (id / orgs.len() as i64) % per_org + 1;
    // Every 50th device walks through all node classes; the rest look like a typical MSP fleet.
    let node_class = if id % 50 == 0 {
        SIM_NODE_CLASSES[((id / 50) as usize) % SIM_NODE_CLASSES.len()]
    } else {
        match r.below(20) {
            0..=13 => "WINDOWS_WORKSTATION",
            14 | 15 => "MAC",
            16 => "LINUX_WORKSTATION",
            17 | 18 => "WINDOWS_SERVER",
            _ => "LINUX_SERVER",
        }
    };
    let offline = r.below(10) == 0;
    let last_contact = if offline {
        now - 86_400.0 * (1 + r.below(20)) as f64
    } else {
        now - r.below(3_600) as f64 - 0.25
    };
    let has_agent = matches!(
        node_class,
        "WINDOWS_WORKSTATION"
            | "WINDOWS_SERVER"
            | "MAC"
            | "MAC_SERVER"
            | "LINUX_WORKSTATION"
            | "LINUX_SERVER"
            | "HYPERV_VMM_GUEST"
            | "VMWARE_VM_GUEST"
    );
    let name = format!("{}-{id:06}", org.name.replace(' ', "").to_uppercase());
    let agent = has_agent.then(|| {
        let os_name = match node_class {
            "MAC" | "MAC_SERVER" => "macOS Sonoma".to_owned(),
            "LINUX_WORKSTATION" | "LINUX_SERVER" => "Ubuntu 22.04.4 LTS".to_owned(),
            "WINDOWS_SERVER" => "Windows Server 2022 Standard".to_owned(),
            _ => "Windows 11 Pro".to_owned(),
        };
        SimAgent {
            os_name,
            build_number: format!("{}", 22_000 + r.below(700)),
            last_boot: last_contact - (3_600 + r.below(30 * 86_400)) as f64,
            manufacturer: ["Dell Inc.", "HP", "Lenovo"][r.below(3) as usize].to_owned(),
            model: format!("Model {}", r.below(40)),
            serial_number: format!("SN{:010X}", r.next() & 0xFF_FFFF_FFFF),
            ram_bytes: [8_i64, 16, 32, 64][r.below(4) as usize] * 1024 * 1024 * 1024,
            cpu_name: "Intel(R) Core(TM) i7-1185G7".to_owned(),
            cpu_cores: 2 << r.below(3),
            volumes: vec![SimVolume {
                name: "C:".into(),
                capacity: 256 * 1024 * 1024 * 1024,
                free_space: ((10 + r.below(200)) * 1024 * 1024 * 1024) as i64,
            }],
            ip_addresses: vec![
                "fe80::1".into(),
                format!("10.{}.{}.{}", r.below(255), r.below(255), 1 + r.below(250)),
            ],
            mac_addresses: vec![format!(
                "02:00:00:{:02X}:{:02X}:{:02X}",
                (id >> 16) & 0xFF,
                (id >> 8) & 0xFF,
                id & 0xFF
            )],
            public_ip: "203.0.113.10".into(),
            last_logged_in_user: (r.below(5) != 0).then(|| format!("CORP\\user{}", r.below(500))),
        }
    });
    SimDevice {
        id,
        organization_id: org.id,
        location_id,
        node_class: node_class.to_owned(),
        display_name: name.clone(),
        system_name: name,
        offline,
        last_contact,
        created: now - 400.0 * 86_400.0,
        approval_status: "APPROVED".into(),
        agent,
        overrides: Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_covers_every_class() {
        let fleet = SimFleet::new(2_000, 7, 3);
        let (o1, l1, d1) = generate(fleet, 1.8e9);
        let (_, _, d2) = generate(fleet, 1.8e9);
        assert_eq!(d1, d2);
        assert_eq!(o1.len(), 7);
        assert_eq!(l1.len(), 14);
        for class in SIM_NODE_CLASSES {
            assert!(d1.iter().any(|d| d.node_class == *class), "{class} missing");
        }
        for d in &d1 {
            let loc = l1.iter().find(|l| l.id == d.location_id).unwrap();
            assert_eq!(loc.organization_id, d.organization_id, "device {}", d.id);
        }
    }
}
