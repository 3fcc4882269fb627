//! The simulated instance's data: clients, sites and agents in the shape of Tactical's models,
//! generated deterministically from a seed.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::testkit::fleet::XorShift;

/// A client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimClient {
    /// Primary key.
    pub id: i64,
    /// Name.
    pub name: String,
}

/// A site of a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSite {
    /// Primary key.
    pub id: i64,
    /// The client's primary key.
    pub client: i64,
    /// Name (unique within the client).
    pub name: String,
}

/// An agent: the fields of Tactical's `Agent` model the simulator serves. Change them with
/// [`super::TacticalSim::update_agent`].
#[derive(Clone, Debug, PartialEq)]
pub struct SimAgent {
    /// Primary key (the beta API's `id`).
    pub id: i64,
    /// The stable agent id.
    pub agent_id: String,
    /// Host name.
    pub hostname: String,
    /// Site primary key.
    pub site: i64,
    /// `server` or `workstation`.
    pub monitoring_type: String,
    /// `windows`, `linux` or `darwin`.
    pub plat: String,
    /// `amd64`, `arm64` …
    pub goarch: String,
    /// OS description as the agent reports it.
    pub operating_system: String,
    /// Agent version.
    pub version: String,
    /// Last check-in; `None` = never.
    pub last_seen: Option<DateTime<Utc>>,
    /// Boot time, epoch seconds.
    pub boot_time: Option<f64>,
    /// Public address.
    pub public_ip: Option<String>,
    /// RAM in GB.
    pub total_ram: Option<i64>,
    /// Volumes: `[{device, fstype, total, used, free, percent}]` with human sizes.
    pub disks: Value,
    /// `"None"` when nobody is logged on (as agents report it).
    pub logged_in_username: String,
    /// The last user who was logged on.
    pub last_logged_in_user: Option<String>,
    /// A reboot is pending.
    pub needs_reboot: bool,
    /// Approved updates wait to be installed.
    pub has_patches_pending: bool,
    /// Maintenance mode.
    pub maintenance_mode: bool,
    /// Minutes without check-in before the agent is offline.
    pub offline_time: u32,
    /// Minutes without check-in before the agent is overdue.
    pub overdue_time: u32,
    /// Raw inventory (WMI classes on Windows; a flat object elsewhere).
    pub wmi_detail: Option<Value>,
    /// Free-text description.
    pub description: Option<String>,
    /// When patches were last installed.
    pub patches_last_installed: Option<DateTime<Utc>>,
}

/// Clients `Client 0..n` with `sites_per_client` sites each (`HQ`, `Branch 1` …).
pub(crate) fn generate_clients(
    clients: u64,
    sites_per_client: u64,
) -> (Vec<SimClient>, Vec<SimSite>) {
    let mut cs = Vec::new();
    let mut ss = Vec::new();
    let mut site_id = 0;
    for c in 0..clients.max(1) {
        let id = c as i64 + 1;
        cs.push(SimClient {
            id,
            name: format!("Client {c:03}"),
        });
        for s in 0..sites_per_client.max(1) {
            site_id += 1;
            ss.push(SimSite {
                id: site_id,
                client: id,
                name: if s == 0 {
                    "HQ".to_owned()
                } else {
                    format!("Branch {s}")
                },
            });
        }
    }
    (cs, ss)
}

const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Agent number `i` (primary key `i + 1`) in `site`, seen relative to `epoch`.
///
/// Last-seen ages stay far from Tactical's default thresholds (4 and 30 minutes) so statuses do
/// not flip while a test runs: about 60 % seen 1–2 minutes ago (online), 15 % 10–20 minutes
/// (offline), 20 % 2 hours to 3 days (overdue), 5 % never.
pub(crate) fn generate_agent(i: u64, site: i64, seed: u64, epoch: DateTime<Utc>) -> SimAgent {
    let mut r = XorShift::new(seed ^ (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let agent_id: String = (0..40)
        .map(|_| ID_ALPHABET[r.below(ID_ALPHABET.len() as u64) as usize] as char)
        .collect();
    let plat = match r.below(20) {
        0..=14 => "windows",
        15..=18 => "linux",
        _ => "darwin",
    };
    let server = r.below(5) == 0;
    let monitoring_type = if server { "server" } else { "workstation" };
    let hostname = match (plat, server) {
        ("windows", true) => format!("SRV-{i:05}"),
        ("windows", false) => format!("WS-{i:05}"),
        ("linux", _) => format!("linux-{i:05}"),
        _ => format!("mac-{i:05}"),
    };
    let minutes = match r.below(20) {
        0..=11 => Some(1 + r.below(2) as i64),
        12..=14 => Some(10 + r.below(11) as i64),
        15..=18 => Some(120 + r.below(3 * 24 * 60 - 120) as i64),
        _ => None,
    };
    let last_seen = minutes.map(|m| {
        epoch - chrono::Duration::minutes(m) - chrono::Duration::seconds(r.below(50) as i64)
    });
    let boot_time =
        (epoch - chrono::Duration::hours(1 + r.below(24 * 30) as i64)).timestamp() as f64 + 0.5;
    let ram = [4, 8, 16, 32, 64, 128][r.below(6) as usize];
    let user = format!("user{}", r.below(500));
    let logged_in = if r.below(4) == 0 {
        "None".to_owned()
    } else {
        user.clone()
    };
    let serial = format!("SN{:010X}", r.next() & 0xFF_FFFF_FFFF);
    let ip = format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254));
    let public_ip = format!("203.0.113.{}", 1 + r.below(254));
    let total_disk = [128.0, 256.0, 512.0, 1024.0][r.below(4) as usize];
    let used = (total_disk * (10 + r.below(85)) as f64 / 100.0 * 10.0).round() / 10.0;
    let (os, wmi, device, fstype) = match plat {
        "windows" => {
            let cpu = [
                "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
                "Intel(R) Xeon(R) Silver 4210R CPU @ 2.40GHz",
                "AMD Ryzen 7 PRO 5850U",
            ][r.below(3) as usize];
            let cores = [4, 8, 10][r.below(3) as usize];
            let os = if server {
                "Windows Server 2022 Standard, 64 bit v21H2 (build 20348.2113)".to_owned()
            } else {
                format!(
                    "Windows 11 Pro, 64 bit v23H2 (build 22631.{})",
                    2000 + r.below(900)
                )
            };
            let (make, model) = [
                ("Dell Inc.", "OptiPlex 7090"),
                ("HP", "EliteBook 840 G8"),
                ("LENOVO", "20XW0026US"),
            ][r.below(3) as usize];
            let mac = format!(
                "3C:52:82:{:02X}:{:02X}:{:02X}",
                r.below(256),
                r.below(256),
                r.below(256)
            );
            let wmi = json!({
                "cpu": [[{"Name": cpu}, {"NumberOfCores": cores}, {"NumberOfLogicalProcessors": cores * 2}]],
                "network_config": [[{"Description": "Intel(R) Ethernet Connection"}, {"IPAddress": [ip, "fe80::1c2d:3e4f:5a6b:7c8d"]}, {"MACAddress": mac}]],
                "bios": [[{"SerialNumber": serial}]],
                "comp_sys": [[{"Model": model}, {"Manufacturer": make}]],
                "comp_sys_prod": [[{"Vendor": make}, {"Version": model}]],
                "disk": [[{"Caption": "NVMe SSD"}, {"InterfaceType": "SCSI"}, {"Size": (total_disk * 1_073_741_824.0) as u64}]],
                "graphics": [[{"Caption": "Intel(R) UHD Graphics"}]]
            });
            (os, wmi, "C:", "NTFS")
        }
        "linux" => {
            let os = "Ubuntu 22.04.4 LTS".to_owned();
            let wmi = json!({
                "cpus": ["AMD EPYC 7763 64-Core Processor"],
                "gpus": [],
                "local_ips": [format!("{ip}/24")],
                "make_model": "QEMU Standard PC (Q35 + ICH9, 2009)",
                "serialnumber": serial,
                "disks": [format!("QEMU HARDDISK {}GB", total_disk as u64)]
            });
            (os, wmi, "/dev/sda1", "ext4")
        }
        _ => {
            let os = "Darwin 14.4.1 arm64".to_owned();
            let wmi = json!({
                "cpus": ["Apple M2"],
                "gpus": ["Apple M2"],
                "local_ips": [format!("{ip}/16")],
                "make_model": "Apple MacBookAir10,1",
                "serialnumber": serial,
                "disks": ["APPLE SSD AP0512Z 500GB"]
            });
            (os, wmi, "/dev/disk3s1", "apfs")
        }
    };
    SimAgent {
        id: i as i64 + 1,
        agent_id,
        hostname,
        site,
        monitoring_type: monitoring_type.to_owned(),
        plat: plat.to_owned(),
        goarch: if plat == "darwin" { "arm64" } else { "amd64" }.to_owned(),
        operating_system: os,
        version: "2.9.1".to_owned(),
        last_seen,
        boot_time: Some(boot_time),
        public_ip: Some(public_ip),
        total_ram: Some(ram),
        disks: json!([{
            "device": device, "fstype": fstype,
            "total": format!("{total_disk:.1}G"), "used": format!("{used:.1}G"),
            "free": format!("{:.1}G", total_disk - used),
            "percent": (used / total_disk * 100.0).round() as i64
        }]),
        logged_in_username: logged_in,
        last_logged_in_user: Some(user),
        needs_reboot: r.below(8) == 0,
        has_patches_pending: plat == "windows" && r.below(3) == 0,
        maintenance_mode: false,
        offline_time: 4,
        overdue_time: 30,
        wmi_detail: Some(wmi),
        description: None,
        patches_last_installed: (plat == "windows")
            .then(|| epoch - chrono::Duration::days(1 + r.below(30) as i64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_varied() {
        let epoch = Utc::now();
        let a = generate_agent(5, 1, 7, epoch);
        assert_eq!(a, generate_agent(5, 1, 7, epoch));
        assert_ne!(a.agent_id, generate_agent(6, 1, 7, epoch).agent_id);
        assert_eq!(a.agent_id.len(), 40);
        let agents: Vec<SimAgent> = (0..400).map(|i| generate_agent(i, 1, 7, epoch)).collect();
        for plat in ["windows", "linux", "darwin"] {
            assert!(agents.iter().any(|a| a.plat == plat), "{plat}");
        }
        assert!(agents.iter().any(|a| a.last_seen.is_none()));
        assert!(agents.iter().any(|a| a.monitoring_type == "server"));
        let (clients, sites) = generate_clients(3, 2);
        assert_eq!((clients.len(), sites.len()), (3, 6));
        assert_eq!(sites[5].client, 3);
    }
}
