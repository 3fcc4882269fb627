//! Hardware facts from an agent's raw inventory: `wmi_detail` (WMI classes on Windows, a flat
//! object on Linux and macOS) and the `disks` list with human-readable sizes.
//!
//! The beta listing sends only the raw model, so the CPU, addresses, serial and make/model the
//! dashboard shows are derived here the same way the server derives them.

use std::net::IpAddr;

use serde_json::Value;

use crate::model::StorageInfo;

/// What the raw inventory says about the hardware.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Hardware {
    /// Distinct CPU model names, in order.
    pub(crate) cpus: Vec<String>,
    /// Physical cores over all sockets (Windows only).
    pub(crate) cpu_cores: Option<i32>,
    /// Local addresses without prefix lengths, IPv4 first.
    pub(crate) local_ips: Vec<String>,
    /// MAC addresses of the network adapters (Windows only).
    pub(crate) macs: Vec<String>,
    pub(crate) serial: Option<String>,
    pub(crate) manufacturer: Option<String>,
    pub(crate) model: Option<String>,
    /// "make model" as the dashboard shows it.
    pub(crate) make_model: Option<String>,
}

impl Hardware {
    /// Reads `wmi_detail` for a platform (`windows`, `linux`, `darwin`).
    pub(crate) fn from_wmi(plat: Option<&str>, wmi: &Value) -> Self {
        if matches!(plat, Some("linux") | Some("darwin")) {
            Self::from_posix(wmi)
        } else {
            Self::from_windows(wmi)
        }
    }

    fn from_posix(wmi: &Value) -> Self {
        let strings = |key: &str| -> Vec<String> {
            wmi.get(key)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(text).collect())
                .unwrap_or_default()
        };
        let make_model = wmi.get("make_model").and_then(text);
        Hardware {
            cpus: distinct(strings("cpus")),
            cpu_cores: None,
            local_ips: clean_ips(strings("local_ips").iter().map(String::as_str)),
            macs: Vec::new(),
            serial: wmi.get("serialnumber").and_then(text),
            manufacturer: None,
            model: make_model.clone(),
            make_model,
        }
    }

    fn from_windows(wmi: &Value) -> Self {
        let mut cpus = Vec::new();
        let mut cores = 0i64;
        let mut saw_cores = false;
        for cpu in instances(wmi, "cpu") {
            if let Some(name) = property(cpu, "Name").and_then(text) {
                cpus.push(name);
            }
            if let Some(n) = property(cpu, "NumberOfCores").and_then(number) {
                cores += n;
                saw_cores = true;
            }
        }
        let mut ips = Vec::new();
        let mut macs = Vec::new();
        for adapter in instances(wmi, "network_config") {
            if let Some(list) = property(adapter, "IPAddress").and_then(Value::as_array) {
                ips.extend(list.iter().filter_map(text));
            }
            if let Some(mac) = property(adapter, "MACAddress").and_then(text) {
                macs.push(mac);
            }
        }
        let first = |key: &str, prop: &str| {
            instances(wmi, key)
                .next()
                .and_then(|i| property(i, prop))
                .and_then(text)
        };
        let mut manufacturer = first("comp_sys_prod", "Vendor");
        let mut model = first("comp_sys", "Model");
        if model.as_deref().is_some_and(is_placeholder) {
            manufacturer = first("base_board", "Manufacturer");
            model = first("base_board", "Product");
        }
        let make_model = match (&manufacturer, &model) {
            (Some(make), Some(model)) => Some(format!("{make} {model}")),
            (None, Some(model)) => Some(model.clone()),
            (Some(make), None) => Some(make.clone()),
            (None, None) => None,
        };
        Hardware {
            cpus: distinct(cpus),
            cpu_cores: saw_cores.then(|| i32::try_from(cores).unwrap_or(i32::MAX)),
            local_ips: clean_ips(ips.iter().map(String::as_str)),
            macs: distinct(macs),
            serial: first("bios", "SerialNumber"),
            manufacturer,
            model,
            make_model,
        }
    }
}

/// The instances of a WMI class: `wmi_detail[key]` is a list of instances, each a list of
/// single-property objects (or one object).
fn instances<'a>(wmi: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    wmi.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// A property of one WMI instance.
fn property<'a>(instance: &'a Value, name: &str) -> Option<&'a Value> {
    match instance {
        Value::Array(parts) => parts.iter().find_map(|p| p.get(name)),
        Value::Object(o) => o.get(name),
        _ => None,
    }
}

/// A non-empty trimmed string.
fn text(v: &Value) -> Option<String> {
    let s = v.as_str()?.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

fn number(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn is_placeholder(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.contains("to be filled") || l == "system product name" || l == "default string"
}

fn distinct(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

/// Addresses from agent strings (`"10.0.0.5/24"`, `"fe80::1"`, error texts): prefix lengths
/// dropped, non-addresses ignored, IPv4 first, duplicates removed.
pub(crate) fn clean_ips<'a>(raw: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for entry in raw.flat_map(|s| s.split(',')) {
        let addr = entry.trim().split('/').next().unwrap_or("");
        match addr.parse::<IpAddr>() {
            Ok(IpAddr::V4(ip)) => v4.push(ip.to_string()),
            Ok(IpAddr::V6(ip)) => v6.push(ip.to_string()),
            Err(_) => {}
        }
    }
    v4.extend(v6);
    distinct(v4)
}

/// Volumes from the model's `disks`: a list (or, from old agents, an object keyed by device)
/// of `{device, fstype, total, used, free, percent}` with sizes like `"64.7G"`. Volumes whose
/// total cannot be read are left out.
pub(crate) fn volumes(disks: &Value) -> Vec<StorageInfo> {
    let entries: Vec<(Option<&str>, &Value)> = match disks {
        Value::Array(a) => a.iter().map(|d| (None, d)).collect(),
        Value::Object(o) => o.iter().map(|(k, d)| (Some(k.as_str()), d)).collect(),
        _ => Vec::new(),
    };
    entries
        .into_iter()
        .filter_map(|(key, d)| {
            let name = d
                .get("device")
                .and_then(text)
                .or_else(|| key.map(str::to_owned))?;
            let total = d.get("total").and_then(size_gb)?;
            let free = d
                .get("free")
                .and_then(size_gb)
                .or_else(|| Some(total - d.get("used").and_then(size_gb)?))
                .unwrap_or(0.0)
                .clamp(0.0, total);
            let mut info = StorageInfo::from_total_free(name, round2(total), round2(free));
            if let Some(p) = d.get("percent").and_then(percent) {
                info.utilization_percent = p;
            }
            Some(info)
        })
        .collect()
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn percent(v: &Value) -> Option<f64> {
    let p = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().trim_end_matches('%').trim().parse().ok()?,
        _ => return None,
    };
    (p.is_finite() && (0.0..=100.0).contains(&p)).then_some(p)
}

/// A size in GB from `"64.7G"`, `"931.5 GB"`, `"1.8T"`, `"512M"`, `"0B"` (binary multiples,
/// as agents print them) or a plain number of bytes.
pub(crate) fn size_gb(v: &Value) -> Option<f64> {
    const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
    let gb = match v {
        Value::Number(n) => n.as_f64()? / GIB,
        Value::String(s) => {
            let s = s.trim();
            let split = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(s.len());
            let value: f64 = s[..split].parse().ok()?;
            let unit = s[split..].trim().to_ascii_uppercase();
            let unit = unit.trim_end_matches("IB").trim_end_matches('B');
            let factor = match unit {
                "" => 1.0 / GIB,
                "K" => 1.0 / (1024.0 * 1024.0),
                "M" => 1.0 / 1024.0,
                "G" => 1.0,
                "T" => 1024.0,
                "P" => 1024.0 * 1024.0,
                _ => return None,
            };
            value * factor
        }
        _ => return None,
    };
    (gb.is_finite() && gb >= 0.0).then_some(gb)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn windows_wmi_gives_cpu_addresses_serial_and_make() {
        let wmi = json!({
            "cpu": [[{"Name": "Intel(R) Core(TM) i7-1185G7"}, {"NumberOfCores": 4}, {"NumberOfLogicalProcessors": 8}],
                    [{"Name": "Intel(R) Core(TM) i7-1185G7", "NumberOfCores": 4}]],
            "network_config": [[{"IPAddress": ["192.168.1.50", "fe80::1c2d:3e4f"]}, {"MACAddress": "3C:52:82:11:22:33"}],
                               [{"IPAddress": null}, {"MACAddress": "00:15:5D:00:00:01"}]],
            "bios": [[{"SerialNumber": " 5CG1234XYZ "}]],
            "comp_sys": [[{"Model": "EliteBook 840 G8"}]],
            "comp_sys_prod": [[{"Vendor": "HP"}]]
        });
        let hw = Hardware::from_wmi(Some("windows"), &wmi);
        assert_eq!(hw.cpus, vec!["Intel(R) Core(TM) i7-1185G7"]);
        assert_eq!(hw.cpu_cores, Some(8));
        assert_eq!(hw.local_ips, vec!["192.168.1.50", "fe80::1c2d:3e4f"]);
        assert_eq!(hw.macs.len(), 2);
        assert_eq!(hw.serial.as_deref(), Some("5CG1234XYZ"));
        assert_eq!(hw.make_model.as_deref(), Some("HP EliteBook 840 G8"));
    }

    #[test]
    fn placeholder_models_fall_back_to_the_base_board() {
        let wmi = json!({
            "comp_sys": [[{"Model": "To Be Filled By O.E.M."}]],
            "comp_sys_prod": [[{"Vendor": "To Be Filled By O.E.M."}]],
            "base_board": [[{"Manufacturer": "ASRock"}, {"Product": "B450M Pro4"}]]
        });
        let hw = Hardware::from_wmi(None, &wmi);
        assert_eq!(hw.make_model.as_deref(), Some("ASRock B450M Pro4"));
        assert_eq!(hw.cpu_cores, None);
        assert!(hw.cpus.is_empty() && hw.serial.is_none());
    }

    #[test]
    fn posix_inventory_is_flat() {
        let wmi = json!({"cpus": ["AMD EPYC 7763 64-Core Processor"], "local_ips": ["10.0.0.5/24", "10.0.0.5/24", "::1/128"],
                         "serialnumber": "VM-0002", "make_model": "QEMU Standard PC", "disks": ["QEMU HARDDISK 100GB"]});
        let hw = Hardware::from_wmi(Some("linux"), &wmi);
        assert_eq!(hw.cpus, vec!["AMD EPYC 7763 64-Core Processor"]);
        assert_eq!(hw.local_ips, vec!["10.0.0.5", "::1"]);
        assert_eq!(hw.serial.as_deref(), Some("VM-0002"));
        assert_eq!(hw.make_model.as_deref(), Some("QEMU Standard PC"));
    }

    #[test]
    fn human_sizes_become_gigabytes() {
        assert_eq!(size_gb(&json!("64.7G")), Some(64.7));
        assert_eq!(size_gb(&json!("931.5 GB")), Some(931.5));
        assert_eq!(size_gb(&json!("2T")), Some(2048.0));
        assert_eq!(size_gb(&json!("512M")), Some(0.5));
        assert_eq!(size_gb(&json!("1.5GiB")), Some(1.5));
        assert_eq!(size_gb(&json!(1_073_741_824u64)), Some(1.0));
        assert_eq!(size_gb(&json!("lots")), None);
        assert_eq!(size_gb(&json!("5X")), None);
    }

    #[test]
    fn volumes_read_lists_and_legacy_objects() {
        let list = json!([
            {"device": "C:", "fstype": "NTFS", "total": "237.9G", "used": "173.2G", "free": "64.7G", "percent": 72},
            {"device": "D:", "total": "bad"},
            {"device": "E:", "total": "100G", "used": "25G"}
        ]);
        let v = volumes(&list);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "C:");
        assert_eq!(
            (v[0].total_gb, v[0].free_gb, v[0].utilization_percent),
            (237.9, 64.7, 72.0)
        );
        assert_eq!((v[1].free_gb, v[1].utilization_percent), (75.0, 25.0));
        let legacy = json!({"C:": {"total": "100G", "free": "40G", "percent": "60%"}});
        let v = volumes(&legacy);
        assert_eq!(v[0].name, "C:");
        assert_eq!(v[0].utilization_percent, 60.0);
        assert!(volumes(&json!(null)).is_empty());
    }

    #[test]
    fn addresses_are_cleaned() {
        let ips = clean_ips(
            [
                "10.0.0.5/24, 192.168.1.2",
                "error getting local ips",
                "fe80::1",
            ]
            .into_iter(),
        );
        assert_eq!(ips, vec!["10.0.0.5", "192.168.1.2", "fe80::1"]);
    }
}
