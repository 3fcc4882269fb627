//! The deterministic fleet generator: a realistic platform and chassis mix (Windows
//! workstations and servers, VDI, Linux, Macs, Unix, endpoints without inventory yet), with the
//! empty strings and sensor error values real Gateways return.

use chrono::{DateTime, Duration, SubsecRound, Utc};

use super::fleet::{SimApp, SimDisk, SimEndpoint, SimGroup};
use crate::testkit::fleet::XorShift;

impl SimEndpoint {
    /// A generated endpoint: number `index` of a fleet seeded with `seed`, with EID `eid`, in
    /// `group`, its times relative to `now`.
    pub fn generate(index: u64, eid: u64, group: &str, seed: u64, now: DateTime<Utc>) -> Self {
        let mut r = XorShift::new(seed ^ index.wrapping_mul(0xA076_1D64_78BD_642F));
        // The Gateway reports whole seconds.
        let now = now.trunc_subsecs(0);
        let profile = r.below(100);
        let pick = |r: &mut XorShift, items: &[&str]| {
            items[r.below(items.len() as u64) as usize].to_owned()
        };
        let noisy = |r: &mut XorShift, value: String, error: &str| {
            if r.below(100) < 4 {
                error.to_owned()
            } else {
                value
            }
        };
        let mut e = SimEndpoint {
            id: eid.to_string(),
            name: String::new(),
            domain_name: String::new(),
            computer_id: (r.next() % 4_000_000_000).to_string(),
            system_uuid: uuid_text(&mut r),
            namespace: String::new(),
            serial_number: String::new(),
            manufacturer: String::new(),
            model: String::new(),
            chassis_type: String::new(),
            is_virtual: Some(false),
            is_encrypted: Some(r.below(10) < 7),
            eid_first_seen: None,
            eid_last_seen: None,
            ip_address: String::new(),
            ip_addresses: Vec::new(),
            mac_addresses: Vec::new(),
            primary_user: String::new(),
            last_logged_in_user: String::new(),
            os_name: String::new(),
            os_platform: "Unknown".into(),
            os_generation: String::new(),
            windows: None,
            memory_ram: String::new(),
            memory_total: String::new(),
            cpu: String::new(),
            logical_processors: 0,
            disks: None,
            installed_applications: Vec::new(),
            groups: vec![group.to_owned()],
        };
        let user = format!("user{:04}", r.below(5000));
        let domain = pick(&mut r, &["acme.local", "corp.example", "globex.lan", ""]);
        match profile {
            // Windows workstations, physical.
            0..=54 => {
                let (make, models, serial) = pick_pc_vendor(&mut r);
                e.name = format!("WS-{index:06}");
                e.manufacturer = make.into();
                e.model = models;
                e.serial_number = serial;
                e.chassis_type = pick(
                    &mut r,
                    &[
                        "Notebook",
                        "Laptop",
                        "Desktop",
                        "Mini Tower",
                        "All in One",
                        "Convertible",
                    ],
                );
                set_windows_client(&mut e, &mut r);
                e.primary_user = noisy(
                    &mut r,
                    user.clone(),
                    "Error: No inventory has been collected",
                );
                let netbios = domain.split('.').next().unwrap_or("").to_uppercase();
                e.last_logged_in_user = if netbios.is_empty() {
                    user.clone()
                } else {
                    format!("{netbios}\\{user}")
                };
            }
            // Windows VDI desktops.
            55..=61 => {
                e.name = format!("VDI-{index:06}");
                e.manufacturer = "VMware, Inc.".into();
                e.model = "VMware Virtual Platform".into();
                e.serial_number = format!(
                    "VMware-42 {:02x} {:02x} {:02x}",
                    r.below(256),
                    r.below(256),
                    r.below(256)
                );
                e.chassis_type = "Virtual".into();
                e.is_virtual = Some(true);
                set_windows_client(&mut e, &mut r);
                e.last_logged_in_user = user.clone();
            }
            // Windows servers.
            62..=74 => {
                e.name = format!("SRV-{index:06}");
                e.os_name = pick(
                    &mut r,
                    &[
                        "Windows Server 2022 Standard",
                        "Windows Server 2019 Datacenter",
                        "Windows Server 2016 Standard",
                    ],
                );
                e.os_platform = "Windows".into();
                e.os_generation = if e.os_name.contains("2016") {
                    "Windows Server 2016"
                } else if e.os_name.contains("2019") {
                    "Windows Server 2019"
                } else {
                    "Windows Server 2022"
                }
                .into();
                let role = if r.below(10) == 0 {
                    "Domain Controller"
                } else {
                    "Server"
                };
                e.windows = Some((
                    role.into(),
                    "10".into(),
                    pick(&mut r, &["1607", "1809", "21H2"]),
                ));
                if r.below(10) < 7 {
                    virtual_hardware(&mut e, &mut r);
                } else {
                    e.manufacturer = "Dell Inc.".into();
                    e.model = pick(
                        &mut r,
                        &["PowerEdge R650", "PowerEdge R740", "PowerEdge T440"],
                    );
                    e.serial_number = alnum(&mut r, 7);
                    e.chassis_type = "Rack Mount Chassis".into();
                }
                e.last_logged_in_user = noisy(&mut r, "Administrator".into(), "[no results]");
            }
            // Linux servers.
            75..=86 => {
                e.name = format!("lnx-{index:06}");
                let (name, generation) = pick_linux(&mut r);
                e.os_name = name;
                e.os_generation = generation;
                e.os_platform = "Linux".into();
                if r.below(10) < 8 {
                    virtual_hardware(&mut e, &mut r);
                } else {
                    e.manufacturer = "HPE".into();
                    e.model = "ProLiant DL360 Gen10".into();
                    e.serial_number = format!("CZ{}", alnum(&mut r, 8));
                    e.chassis_type = "Rack Mount Chassis".into();
                }
                e.last_logged_in_user = noisy(&mut r, "root".into(), "[no results]");
            }
            // Macs.
            87..=95 => {
                e.name = format!("MAC-{index:06}");
                e.manufacturer = "Apple Inc.".into();
                e.model = pick(
                    &mut r,
                    &["MacBookPro18,3", "Mac14,2", "Macmini9,1", "MacBookAir10,1"],
                );
                e.serial_number = format!("C02{}", alnum(&mut r, 9));
                e.chassis_type = if e.model.starts_with("Macmini") {
                    "Desktop".into()
                } else {
                    pick(&mut r, &["Notebook", "Laptop"])
                };
                let (name, generation) = pick(
                    &mut r,
                    &["macOS 14.4.1|14", "macOS 13.6.5|13", "macOS 15.1|15"],
                )
                .split_once('|')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .unwrap_or_default();
                e.os_name = name;
                e.os_generation = generation;
                e.os_platform = "Mac".into();
                e.primary_user = user.clone();
                e.last_logged_in_user = user.clone();
            }
            // Linux desktops.
            96..=97 => {
                e.name = format!("dev-{index:06}");
                let (make, models, serial) = pick_pc_vendor(&mut r);
                e.manufacturer = make.into();
                e.model = models;
                e.serial_number = serial;
                e.chassis_type = "Notebook".into();
                e.os_name = "Ubuntu 24.04.1 LTS".into();
                e.os_generation = "24.04".into();
                e.os_platform = "Linux".into();
                e.last_logged_in_user = user.clone();
            }
            // Unix servers.
            98 => {
                e.name = format!("unix-{index:06}");
                if r.below(2) == 0 {
                    e.os_name = "AIX 7.2".into();
                    e.os_platform = "AIX".into();
                    e.os_generation = "7.2".into();
                    e.manufacturer = "IBM".into();
                    e.model = "9009-42A".into();
                } else {
                    e.os_name = "Oracle Solaris 11.4".into();
                    e.os_platform = "Solaris".into();
                    e.os_generation = "11.4".into();
                    e.manufacturer = "Oracle Corporation".into();
                    e.model = "SPARC T8-1".into();
                }
                e.serial_number = alnum(&mut r, 10);
                e.is_virtual = None;
                e.is_encrypted = None;
            }
            // Endpoints whose inventory sensors have not answered yet.
            _ => {
                e.name = format!("new-{index:06}");
                e.os_name = "[no results]".into();
                e.chassis_type =
                    "TSE-Error: Failed to send to sensor child process: timed out".into();
                e.manufacturer = "[no results]".into();
                e.is_virtual = None;
                e.is_encrypted = None;
                e.primary_user = "Error: No inventory has been collected".into();
            }
        }
        e.domain_name = domain;
        if e.cpu.is_empty() && profile < 99 {
            e.cpu = pick(
                &mut r,
                &[
                    "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
                    "Intel(R) Core(TM) i5-10310U CPU @ 1.70GHz",
                    "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
                    "AMD EPYC 7763 64-Core Processor",
                    "Apple M2",
                ],
            );
            e.logical_processors = [2, 4, 8, 12, 16, 32][r.below(6) as usize];
        }
        if profile < 99 {
            let (ram, total) = [
                ("8 GB", "8192 MB"),
                ("7.7 GB", "7884 MB"),
                ("16 GB", "16384 MB"),
                ("15.7 GB", "16077 MB"),
                ("32 GB", "32768 MB"),
                ("64 GB", "65536 MB"),
            ][r.below(6) as usize];
            e.memory_ram = noisy(&mut r, ram.into(), "[current result unavailable]");
            e.memory_total = total.into();
            e.disks = Some(disks(&mut r, &e.os_platform));
            e.ip_address = format!("10.{}.{}.{}", r.below(256), r.below(256), 1 + r.below(254));
            e.ip_addresses = vec![e.ip_address.clone()];
            if r.below(3) == 0 {
                e.ip_addresses
                    .push(format!("fe80::{:x}:{:x}", r.below(65536), r.below(65536)));
            }
            e.mac_addresses = vec![mac(&mut r, &e.manufacturer)];
            if r.below(5) == 0 {
                e.mac_addresses.push(mac(&mut r, ""));
            }
            e.installed_applications = apps(&mut r, &e.os_platform);
        }
        if r.below(50) == 0 {
            e.serial_number = String::new();
        }
        // Last seen: most endpoints checked in within the hour, some are stale, a few never.
        let age_minutes = match r.below(100) {
            0..=74 => r.below(50) as i64,
            75..=89 => 70 + r.below(3 * 24 * 60) as i64,
            90..=98 => 8 * 24 * 60 + r.below(20 * 24 * 60) as i64,
            _ => -1,
        };
        if age_minutes >= 0 {
            let seen = now - Duration::minutes(age_minutes) - Duration::seconds(r.below(60) as i64);
            e.eid_last_seen = Some(seen);
            e.eid_first_seen = Some(seen - Duration::days(1 + r.below(900) as i64));
        }
        e
    }
}

fn set_windows_client(e: &mut SimEndpoint, r: &mut XorShift) {
    let eleven = r.below(3) > 0;
    e.os_name = if eleven {
        ["Windows 11 Pro", "Windows 11 Enterprise"][r.below(2) as usize]
    } else {
        ["Windows 10 Pro", "Windows 10 Enterprise"][r.below(2) as usize]
    }
    .into();
    e.os_platform = "Windows".into();
    e.os_generation = if eleven { "Windows 11" } else { "Windows 10" }.into();
    let release = if eleven {
        ["22H2", "23H2", "24H2"]
    } else {
        ["21H2", "22H2", "22H2"]
    }[r.below(3) as usize];
    e.windows = Some(("Workstation".into(), "10".into(), release.into()));
}

fn virtual_hardware(e: &mut SimEndpoint, r: &mut XorShift) {
    let (make, model) = [
        ("VMware, Inc.", "VMware Virtual Platform"),
        ("Microsoft Corporation", "Virtual Machine"),
        ("Xen", "HVM domU"),
        ("Amazon EC2", "m5.large"),
        ("QEMU", "Standard PC (Q35 + ICH9, 2009)"),
    ][r.below(5) as usize];
    e.manufacturer = make.into();
    e.model = model.into();
    e.chassis_type = "Virtual".into();
    e.is_virtual = Some(true);
    e.serial_number = match make {
        "VMware, Inc." => format!(
            "VMware-42 {:02x} {:02x} {:02x}",
            r.below(256),
            r.below(256),
            r.below(256)
        ),
        "Xen" | "QEMU" => String::new(),
        _ => alnum(r, 12),
    };
}

fn pick_pc_vendor(r: &mut XorShift) -> (&'static str, String, String) {
    match r.below(3) {
        0 => (
            "Dell Inc.",
            ["Latitude 7440", "OptiPlex 7010", "Precision 3581"][r.below(3) as usize].into(),
            alnum(r, 7),
        ),
        1 => (
            "HP",
            ["EliteBook 840 G8", "ProDesk 600 G6", "ZBook Firefly 14 G9"][r.below(3) as usize]
                .into(),
            format!("5CG{}", alnum(r, 7)),
        ),
        _ => (
            "LENOVO",
            ["20XW004GUS", "21AH00BNUS", "11DT0036US"][r.below(3) as usize].into(),
            format!("PF{}", alnum(r, 6)),
        ),
    }
}

fn pick_linux(r: &mut XorShift) -> (String, String) {
    let (n, g) = [
        ("Ubuntu 22.04.4 LTS", "22.04"),
        ("Red Hat Enterprise Linux 9.3 (Plow)", "9.3"),
        ("Rocky Linux 8.9 (Green Obsidian)", "8.9"),
        ("Debian GNU/Linux 12 (bookworm)", "12"),
    ][r.below(4) as usize];
    (n.into(), g.into())
}

fn disks(r: &mut XorShift, platform: &str) -> Vec<SimDisk> {
    let names: &[&str] = match platform {
        "Windows" => {
            if r.below(3) == 0 {
                &["C:", "D:"]
            } else {
                &["C:"]
            }
        }
        "Linux" => &["/", "/var"],
        _ => &["/"],
    };
    names
        .iter()
        .map(|name| {
            let total = [128u64, 256, 476, 512, 931][r.below(5) as usize];
            let free = 5 + r.below(total - 5);
            let used = total - free;
            let pct = used * 100 / total;
            SimDisk {
                name: (*name).into(),
                free: Some(format!("{free} GB")),
                total: Some(format!("{total} GB")),
                used_percentage: if r.below(20) == 0 {
                    None
                } else {
                    Some(format!("{pct} %"))
                },
                used_space: Some(format!("{used} GB")),
            }
        })
        .collect()
}

fn apps(r: &mut XorShift, platform: &str) -> Vec<SimApp> {
    let catalogue: &[(&str, &str)] = match platform {
        "Windows" => &[
            ("Google Chrome", "124.0.6367.61"),
            ("Microsoft Edge", "124.0.2478.51"),
            ("7-Zip 23.01 (x64)", "23.01"),
            ("Microsoft 365 Apps for enterprise", "16.0.17425.20176"),
            ("Zoom Workplace", "6.0.2"),
            ("Tanium Client", "7.4.10.1075"),
        ],
        "Mac" => &[
            ("Google Chrome", "124.0.6367.61"),
            ("Slack", "4.38.115"),
            ("Tanium Client", "7.4.10.1075"),
        ],
        _ => &[
            ("openssl", "3.0.2"),
            ("curl", "7.81.0"),
            ("TaniumClient", "7.4.10.1075"),
        ],
    };
    let n = 2 + r.below(catalogue.len() as u64 - 1) as usize;
    catalogue[..n]
        .iter()
        .map(|(name, version)| SimApp {
            name: (*name).into(),
            version: (*version).into(),
            uninstallable: Some(true),
        })
        .collect()
}

fn alnum(r: &mut XorShift, n: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    (0..n)
        .map(|_| CHARS[r.below(CHARS.len() as u64) as usize] as char)
        .collect()
}

fn uuid_text(r: &mut XorShift) -> String {
    let a = r.next();
    let b = r.next();
    format!(
        "{:08X}-{:04X}-{:04X}-{:04X}-{:012X}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFFF,
        b >> 48,
        b & 0xFFFF_FFFF_FFFF
    )
}

fn mac(r: &mut XorShift, manufacturer: &str) -> String {
    let oui: [u8; 3] = match manufacturer {
        "VMware, Inc." => [0x00, 0x50, 0x56],
        "HP" => [0x3c, 0x52, 0x82],
        "Dell Inc." => [0xd4, 0x81, 0xd7],
        "Apple Inc." => [0xa4, 0x83, 0xe7],
        _ => [0x00, 0x1b, 0x21],
    };
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        oui[0],
        oui[1],
        oui[2],
        r.below(256),
        r.below(256),
        r.below(256)
    )
}

const GROUP_NAMES: &[&str] = &[
    "Acme Corp",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli",
    "Vandelay Imports",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Wonka Industries",
];

/// Group number `i` of a generated fleet.
pub(crate) fn generate_group(i: u64) -> SimGroup {
    let base = GROUP_NAMES[(i % GROUP_NAMES.len() as u64) as usize];
    let round = i / GROUP_NAMES.len() as u64;
    let name = if round == 0 {
        base.to_owned()
    } else {
        format!("{base} {}", round + 1)
    };
    let manual = i % 4 == 3; // every fourth group is a manual one
    SimGroup {
        id: (100 + i).to_string(),
        expression: if manual {
            String::new()
        } else {
            format!(
                "Domain Name contains {}",
                name.to_lowercase().replace(' ', "-")
            )
        },
        name,
        group_type: if manual { "MANUAL" } else { "STANDARD" }.into(),
        content_set: i.is_multiple_of(3).then(|| "Base".to_owned()),
    }
}
