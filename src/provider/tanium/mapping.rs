//! Gateway `Endpoint` → [`DeviceSnapshot`].
//!
//! Tanium returns "non-null" strings that are empty, and sensor failures as text
//! (`Error: …`, `TSE-Error: …`, `[no results]`). Empty means "no value" and clears the stored
//! field; a sensor error means "unknown right now" and leaves the stored field alone, so a
//! transient sensor failure never erases a good value.

use serde_json::{Map, Value, json};

use super::kind::{infer_kind, platform_from_os_name, platform_name};
use super::queries::{Disk, EndpointFields, InstalledApplication, Platform};
use super::values::{
    Text, clean, first_reported, parse_percent, parse_size_gb, parse_time, reported_text, round2,
    text,
};
use crate::model::{
    DeviceDetails, DeviceKind, DeviceSnapshot, IdentityHints, Lifecycle, Reported, StorageInfo,
};

/// One disk, or `None` when its name or sizes are unusable. Missing figures are derived from
/// the others (total = used + free, free = total − used, used % from total and free).
pub(crate) fn disk(d: &Disk) -> Option<StorageInfo> {
    let name = clean(&d.name)?;
    let parse = |s: &Option<String>| s.as_deref().and_then(parse_size_gb);
    let (free, total, used) = (parse(&d.free), parse(&d.total), parse(&d.used_space));
    let total = total.or_else(|| Some(round2(used? + free?)))?;
    let free = free.or_else(|| used.map(|u| round2((total - u).max(0.0))))?;
    if total <= 0.0 && free <= 0.0 {
        return None;
    }
    let computed = StorageInfo::from_total_free(name, total, free);
    let utilization = d
        .used_percentage
        .as_deref()
        .and_then(parse_percent)
        .unwrap_or(computed.utilization_percent);
    Some(StorageInfo {
        utilization_percent: utilization,
        ..computed
    })
}

fn software(apps: &[InstalledApplication]) -> Vec<Value> {
    apps.iter()
        .filter_map(|a| {
            let name = clean(&a.name)?;
            Some(json!({
                "name": name,
                "version": clean(&a.version),
                "uninstallable": a.uninstallable,
            }))
        })
        .collect()
}

fn clean_list(list: &Option<Vec<String>>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for v in list.iter().flatten() {
        if let Some(c) = clean(v)
            && !out.iter().any(|o| o.eq_ignore_ascii_case(c))
        {
            out.push(c.to_owned());
        }
    }
    out
}

fn insert_text(map: &mut Map<String, Value>, key: &str, raw: &str) {
    if let Some(v) = clean(raw) {
        map.insert(key.to_owned(), Value::String(v.to_owned()));
    }
}

/// Maps one endpoint of `scope` to a snapshot. `software` is `Some` only when installed
/// applications were asked for.
pub(crate) fn endpoint_to_snapshot(
    e: &EndpointFields,
    scope: &str,
    software_list: Option<&[InstalledApplication]>,
) -> DeviceSnapshot {
    let id = e.id.inner();
    let kind = infer_kind(&e.os, &e.chassis_type, e.is_virtual);
    let name = clean(&e.name);
    let mut s = DeviceSnapshot::new(id, scope, kind, name.unwrap_or(id));
    s.lifecycle = Lifecycle::Active;
    s.serial_number = reported_text(&e.serial_number);
    s.last_seen_at = match e.eid_last_seen.as_ref().map(|t| parse_time(&t.0)) {
        Some(Some(t)) => Reported::Value(t),
        Some(None) => Reported::Absent, // unreadable: keep what we had
        None => Reported::Null,
    };
    let ip_addresses = clean_list(&e.ip_addresses);
    let mac_addresses = clean_list(&e.mac_addresses);

    let os_version = match (&e.os.platform, &e.os.windows) {
        (Platform::Windows, Some(w)) if clean(&w.release_id).is_some() => {
            reported_text(&w.release_id)
        }
        _ => reported_text(&e.os.generation),
    };
    let ram_gb = match (parse_size_gb(&e.memory.ram), parse_size_gb(&e.memory.total)) {
        (Some(gb), _) | (None, Some(gb)) => Reported::Value(gb),
        _ if text(&e.memory.ram) == Text::SensorError
            || text(&e.memory.total) == Text::SensorError =>
        {
            Reported::Absent
        }
        _ => Reported::Null,
    };

    let mut system_info = Map::new();
    insert_text(&mut system_info, "manufacturer", &e.manufacturer);
    insert_text(&mut system_info, "model", &e.model);
    insert_text(&mut system_info, "chassis_type", &e.chassis_type);
    insert_text(&mut system_info, "domain_name", &e.domain_name);
    system_info.insert("os_platform".into(), platform_name(&e.os.platform).into());
    insert_text(&mut system_info, "os_generation", &e.os.generation);
    if let Some(w) = &e.os.windows {
        insert_text(&mut system_info, "windows_type", &w.windows_type);
        insert_text(&mut system_info, "windows_major_version", &w.major_version);
        insert_text(&mut system_info, "windows_release_id", &w.release_id);
    }
    if let Some(v) = e.is_virtual {
        system_info.insert("is_virtual".into(), v.into());
    }
    if let Some(v) = e.is_encrypted {
        system_info.insert("is_encrypted".into(), v.into());
    }
    system_info.insert("ip_addresses".into(), json!(ip_addresses));
    system_info.insert("mac_addresses".into(), json!(mac_addresses));

    s.details = DeviceDetails {
        os_type: reported_text(&e.os.name),
        os_version,
        current_user: first_reported(&[&e.primary_user.name, &e.last_logged_in_user]),
        lan_ip: match (clean(&e.ip_address), ip_addresses.first()) {
            (Some(ip), _) => Reported::Value(ip.to_owned()),
            (None, Some(first)) => Reported::Value(first.clone()),
            (None, None) => reported_text(&e.ip_address),
        },
        cpu_model: reported_text(&e.processor.cpu),
        cpu_cores: if e.processor.logical_processors > 0 {
            Reported::Value(e.processor.logical_processors)
        } else {
            Reported::Null
        },
        ram_gb,
        disk_usage: match &e.disks {
            Some(disks) => Reported::Value(disks.iter().filter_map(disk).collect()),
            None => Reported::Absent,
        },
        installed_software: match software_list {
            Some(apps) => Reported::Value(software(apps)),
            None => Reported::Absent,
        },
        system_info: Reported::Value(system_info),
        ..DeviceDetails::default()
    };

    let hostname = name.map(|n| n.split('.').next().unwrap_or(n).to_owned());
    let fqdn = match (name, clean(&e.domain_name)) {
        (Some(n), _) if n.contains('.') => Some(n.to_owned()),
        (Some(n), Some(d)) => Some(format!("{n}.{d}")),
        _ => None,
    };
    s.identity = IdentityHints {
        serial_numbers: clean(&e.serial_number)
            .map(|v| vec![v.to_owned()])
            .unwrap_or_default(),
        manufacturer: clean(&e.manufacturer).map(str::to_owned),
        model: clean(&e.model).map(str::to_owned),
        mac_addresses,
        system_uuid: clean(&e.system_uuid).map(str::to_owned),
        hostname,
        fqdn,
    };

    let mut metadata = Map::new();
    insert_text(&mut metadata, "computer_id", &e.computer_id);
    insert_text(&mut metadata, "system_uuid", &e.system_uuid);
    insert_text(&mut metadata, "namespace", &e.namespace);
    if let Some(first) = e.eid_first_seen.as_ref().and_then(|t| parse_time(&t.0)) {
        metadata.insert("eid_first_seen".into(), first.to_rfc3339().into());
    }
    metadata.insert("source".into(), "gateway".into());
    s.metadata = Reported::Value(metadata);
    s
}

/// Maps one Asset API row (an endpoint aged out of TDS) of `scope`. The row's EID is used as
/// the device id when present, so an aged-out endpoint keeps its asset; rows without any id are
/// dropped.
pub(crate) fn asset_row_to_snapshot(row: &Value, scope: &str) -> Option<DeviceSnapshot> {
    let field = |keys: &[&str]| {
        keys.iter().find_map(|k| match row.get(*k) {
            Some(Value::String(s)) => clean(s).map(str::to_owned),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    };
    let id = field(&["eid", "endpointId", "id", "assetId"])?;
    let name = field(&["name", "hostname", "computerName"]).unwrap_or_else(|| id.clone());
    let os_name = field(&["osName", "operatingSystem"]);
    let os_lower = os_name.as_deref().unwrap_or("").to_ascii_lowercase();
    let kind = match platform_from_os_name(&os_lower) {
        Platform::Windows if os_lower.contains("server") => DeviceKind::Server,
        Platform::Windows | Platform::Mac => DeviceKind::Workstation,
        Platform::Linux | Platform::Solaris | Platform::Aix => DeviceKind::Server,
        _ => DeviceKind::Unknown,
    };
    let mut s = DeviceSnapshot::new(id, scope, kind, name);
    let online = row.get("online").and_then(Value::as_bool);
    s.lifecycle = if online == Some(false) {
        Lifecycle::Offline
    } else {
        Lifecycle::Active
    };
    if let Some(serial) = field(&["serialNumber"]) {
        s.serial_number = Reported::Value(serial);
    }
    if let Some(seen) = field(&["lastSeen", "eidLastSeen"]).and_then(|t| parse_time(&t)) {
        s.last_seen_at = Reported::Value(seen);
    }
    s.details.os_type = os_name.map_or(Reported::Absent, Reported::Value);
    s.details.os_version = field(&["osVersion"]).map_or(Reported::Absent, Reported::Value);
    s.details.current_user =
        field(&["currentUser", "userName"]).map_or(Reported::Absent, Reported::Value);
    s.details.lan_ip = field(&["ipAddress"]).map_or(Reported::Absent, Reported::Value);
    let mut metadata = Map::new();
    metadata.insert("source".into(), "asset_api".into());
    if let Some(asset_id) = field(&["id", "assetId"]) {
        metadata.insert("asset_id".into(), asset_id.into());
    }
    s.metadata = Reported::Value(metadata);
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::tanium::queries::{Memory, Os, Processor, Time, User, WindowsOs};

    fn os(name: &str, platform: Platform, windows_type: Option<&str>) -> Os {
        Os {
            name: name.into(),
            platform,
            generation: String::new(),
            windows: windows_type.map(|t| WindowsOs {
                windows_type: t.into(),
                major_version: "10".into(),
                release_id: "23H2".into(),
            }),
        }
    }

    #[test]
    fn disks_are_derived_and_bad_ones_dropped() {
        let d = |name: &str,
                 free: Option<&str>,
                 total: Option<&str>,
                 pct: Option<&str>,
                 used: Option<&str>| Disk {
            name: name.into(),
            free: free.map(Into::into),
            total: total.map(Into::into),
            used_percentage: pct.map(Into::into),
            used_space: used.map(Into::into),
        };
        let c = disk(&d(
            "C:",
            Some("120 GB"),
            Some("476 GB"),
            Some("75 %"),
            Some("356 GB"),
        ))
        .unwrap();
        assert_eq!(
            (
                c.name.as_str(),
                c.total_gb,
                c.free_gb,
                c.utilization_percent
            ),
            ("C:", 476.0, 120.0, 75.0)
        );
        let derived = disk(&d("/", Some("25 GB"), None, None, Some("75 GB"))).unwrap();
        assert_eq!(
            (derived.total_gb, derived.utilization_percent),
            (100.0, 75.0)
        );
        assert!(disk(&d("", Some("1 GB"), Some("2 GB"), None, None)).is_none());
        assert!(disk(&d("D:", Some("[no results]"), Some("2 GB"), None, None)).is_none());
    }

    fn endpoint() -> EndpointFields {
        EndpointFields {
            id: cynic::Id::new("40231"),
            name: "ACME-WS01.acme.local".into(),
            domain_name: "acme.local".into(),
            computer_id: "2214577321".into(),
            system_uuid: "4C4C4544-0042-3010-8051-B7C04F333332".into(),
            namespace: String::new(),
            serial_number: "5CG1234XYZ".into(),
            manufacturer: "HP".into(),
            model: "EliteBook 840 G8".into(),
            chassis_type: "Notebook".into(),
            is_virtual: Some(false),
            is_encrypted: Some(true),
            eid_first_seen: Some(Time("2025-01-10T08:12:00Z".into())),
            eid_last_seen: Some(Time("2026-11-27T22:51:09Z".into())),
            ip_address: "192.168.1.50".into(),
            ip_addresses: Some(vec![
                "192.168.1.50".into(),
                "fe80::1c2d:3e4f".into(),
                "".into(),
            ]),
            mac_addresses: Some(vec!["3c:52:82:11:22:33".into()]),
            primary_user: User {
                name: "Error: No inventory has been collected".into(),
            },
            last_logged_in_user: "ACME\\jdoe".into(),
            os: os("Windows 11 Pro", Platform::Windows, Some("Workstation")),
            memory: Memory {
                ram: "15.7 GB".into(),
                total: "16384 MB".into(),
            },
            processor: Processor {
                cpu: "Intel(R) Core(TM) i7-1185G7".into(),
                logical_processors: 8,
            },
            disks: Some(vec![Disk {
                name: "C:".into(),
                free: Some("120 GB".into()),
                total: Some("476 GB".into()),
                used_percentage: Some("75 %".into()),
                used_space: Some("356 GB".into()),
            }]),
        }
    }

    #[test]
    fn endpoint_maps_field_by_field() {
        let s = endpoint_to_snapshot(&endpoint(), "112", None);
        assert_eq!(s.external_id.as_str(), "40231");
        assert_eq!(s.scope_id.as_str(), "112");
        assert_eq!(s.kind, DeviceKind::Workstation);
        assert_eq!(s.display_name, "ACME-WS01.acme.local");
        assert_eq!(s.serial_number, Reported::Value("5CG1234XYZ".into()));
        assert_eq!(
            s.agent_status,
            Reported::Absent,
            "derived from last seen by the engine"
        );
        assert_eq!(
            s.last_seen_at.value().unwrap().to_rfc3339(),
            "2026-11-27T22:51:09+00:00"
        );
        let d = &s.details;
        assert_eq!(d.os_type, Reported::Value("Windows 11 Pro".into()));
        assert_eq!(d.os_version, Reported::Value("23H2".into()));
        assert_eq!(d.current_user, Reported::Value("ACME\\jdoe".into()));
        assert_eq!(d.lan_ip, Reported::Value("192.168.1.50".into()));
        assert_eq!(
            d.cpu_model,
            Reported::Value("Intel(R) Core(TM) i7-1185G7".into())
        );
        assert_eq!(d.cpu_cores, Reported::Value(8));
        assert_eq!(d.ram_gb, Reported::Value(15.7));
        assert_eq!(d.disk_usage.value().unwrap().len(), 1);
        assert_eq!(d.installed_software, Reported::Absent);
        let info = d.system_info.value().unwrap();
        assert_eq!(info["chassis_type"], "Notebook");
        assert_eq!(
            info["ip_addresses"],
            json!(["192.168.1.50", "fe80::1c2d:3e4f"])
        );
        assert_eq!(
            s.identity.system_uuid.as_deref(),
            Some("4C4C4544-0042-3010-8051-B7C04F333332")
        );
        assert_eq!(s.identity.hostname.as_deref(), Some("ACME-WS01"));
        assert_eq!(s.identity.fqdn.as_deref(), Some("ACME-WS01.acme.local"));
        assert_eq!(
            s.identity.mac_addresses,
            vec!["3c:52:82:11:22:33".to_owned()]
        );
        let meta = s.metadata.value().unwrap();
        assert_eq!(meta["computer_id"], "2214577321");
        assert!(!meta.contains_key("namespace"));
    }

    #[test]
    fn sensor_errors_leave_fields_absent_and_empties_clear_them() {
        let mut e = endpoint();
        e.serial_number = "TSE-Error: timed out".into();
        e.memory = Memory {
            ram: "[no results]".into(),
            total: "".into(),
        };
        e.primary_user.name = "".into();
        e.last_logged_in_user = "".into();
        e.os.name = "".into();
        e.processor.logical_processors = 0;
        let s = endpoint_to_snapshot(
            &e,
            "1",
            Some(&[
                InstalledApplication {
                    name: "7-Zip".into(),
                    version: "23.01".into(),
                    uninstallable: Some(true),
                },
                InstalledApplication {
                    name: " ".into(),
                    version: "1".into(),
                    uninstallable: None,
                },
            ]),
        );
        assert_eq!(s.serial_number, Reported::Absent);
        assert_eq!(s.details.ram_gb, Reported::Absent);
        assert_eq!(s.details.current_user, Reported::Null);
        assert_eq!(s.details.os_type, Reported::Null);
        assert_eq!(s.details.cpu_cores, Reported::Null);
        assert_eq!(
            s.details.installed_software,
            Reported::Value(vec![
                json!({"name": "7-Zip", "version": "23.01", "uninstallable": true})
            ])
        );
        assert!(s.identity.serial_numbers.is_empty());
    }

    #[test]
    fn asset_api_rows_keep_the_eid_and_offline_state() {
        let row = json!({"id": "a-9", "eid": "40231", "name": "old-pc", "online": false,
            "lastSeen": "2026-09-01T10:00:00Z", "osName": "Windows 10 Enterprise"});
        let s = asset_row_to_snapshot(&row, "112").unwrap();
        assert_eq!(s.external_id.as_str(), "40231");
        assert_eq!(s.lifecycle, Lifecycle::Offline);
        assert_eq!(s.kind, DeviceKind::Workstation);
        assert!(asset_row_to_snapshot(&json!({"name": "no id"}), "1").is_none());
    }
}
