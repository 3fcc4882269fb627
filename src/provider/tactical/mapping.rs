//! Wire → [`DeviceSnapshot`]: pure functions over one agent row.
//!
//! Two shapes exist: the raw model (beta listing, agent detail) and the classic table row.
//! Both map to the same snapshot fields where they carry the same facts; a fact a shape does
//! not carry is [`Reported::Absent`], so it never wipes what the other shape wrote.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::config::DeviceScope;
use super::dto::{AgentModelDto, AgentTableDto};
use super::hardware::{Hardware, clean_ips, volumes};
use super::sites::{SiteIndex, client_scope_id, site_scope_id};
use crate::model::{
    AgentStatus, AgentStatusThresholds, DeviceDetails, DeviceKind, DeviceSnapshot, IdentityHints,
    Reported,
};

/// What a row is mapped against.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MapContext<'a> {
    pub(crate) index: &'a SiteIndex,
    pub(crate) device_scope: DeviceScope,
    /// The clock agent status is evaluated at.
    pub(crate) now: DateTime<Utc>,
    /// Thresholds for rows that do not carry their own.
    pub(crate) thresholds: AgentStatusThresholds,
}

/// A row that could not be placed in a scope: its site is not in the client/site index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unplaced {
    pub(crate) agent_id: String,
    pub(crate) site: String,
}

/// Maps a raw model row (beta listing or agent detail).
pub(crate) fn map_model(
    row: &AgentModelDto,
    ctx: &MapContext<'_>,
) -> Result<DeviceSnapshot, Unplaced> {
    let unplaced = || Unplaced {
        agent_id: row.agent_id.clone(),
        site: row
            .site
            .map_or_else(|| "none".to_owned(), |s| s.to_string()),
    };
    let site_id = row.site.ok_or_else(unplaced)?;
    let site = ctx.index.site(site_id).ok_or_else(unplaced)?;
    let scope = match ctx.device_scope {
        DeviceScope::Client => client_scope_id(site.client_id),
        DeviceScope::Site => site_scope_id(site_id),
    };
    let mut s = DeviceSnapshot::new(
        row.agent_id.as_str(),
        scope,
        kind(row.monitoring_type.as_deref()),
        row.hostname.trim(),
    );
    s.location = Reported::Value(site.name.clone());
    s.last_seen_at = row.last_seen.into();
    let thresholds = match (row.offline_time, row.overdue_time) {
        (None, None) => ctx.thresholds,
        (offline, overdue) => AgentStatusThresholds {
            online_within: offline.map(minutes).unwrap_or(ctx.thresholds.online_within),
            overdue_after: overdue.map(minutes).or(ctx.thresholds.overdue_after),
        },
    };
    s.agent_status = Reported::Value(status_of(row.last_seen, &thresholds, ctx.now));

    let hw = row
        .wmi_detail
        .as_ref()
        .filter(|w| w.is_object())
        .map(|w| Hardware::from_wmi(row.plat.as_deref(), w));
    // Facts derived from the inventory: absent when the agent sent none (it may simply not
    // have reported yet), null when the inventory exists but lacks them.
    let from_hw = |f: &dyn Fn(&Hardware) -> Option<String>| match &hw {
        None => Reported::Absent,
        Some(h) => f(h).into(),
    };
    s.serial_number = match hw.as_ref().and_then(|h| h.serial.clone()) {
        Some(serial) => Reported::Value(serial),
        None => Reported::Absent,
    };

    let mut info = base_system_info(row.plat.as_deref(), row.goarch.as_deref());
    info.insert(
        "needs_reboot".into(),
        row.needs_reboot.unwrap_or(false).into(),
    );
    info.insert(
        "maintenance_mode".into(),
        row.maintenance_mode.unwrap_or(false).into(),
    );
    info.insert(
        "patches_last_installed".into(),
        row.patches_last_installed
            .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
    );
    if let Some(h) = &hw {
        info.insert("local_ips".into(), h.local_ips.clone().into());
        if let Some(mm) = &h.make_model {
            info.insert("make_model".into(), mm.clone().into());
        }
    }

    s.details = DeviceDetails {
        os_type: os_family(row.plat.as_deref(), row.operating_system.as_deref()),
        os_version: nonempty(row.operating_system.as_deref()).into(),
        agent_version: nonempty(row.version.as_deref()).into(),
        current_user: nonempty(row.logged_in_username.as_deref())
            .filter(|u| u != "None")
            .into(),
        lan_ip: from_hw(&|h| h.local_ips.first().cloned()),
        wan_ip: ip(row.public_ip.as_deref()).into(),
        last_reboot_at: row.boot_time.and_then(epoch).into(),
        cpu_model: from_hw(&|h| (!h.cpus.is_empty()).then(|| h.cpus.join(", "))),
        cpu_cores: hw
            .as_ref()
            .and_then(|h| h.cpu_cores)
            .map_or(Reported::Absent, Reported::Value),
        ram_gb: row.total_ram.filter(|r| *r >= 0.0).into(),
        disk_usage: row.disks.as_ref().map(volumes).into(),
        system_info: Reported::Value(info),
        ..DeviceDetails::default()
    };
    s.identity = IdentityHints {
        serial_numbers: hw.iter().filter_map(|h| h.serial.clone()).collect(),
        manufacturer: hw.as_ref().and_then(|h| h.manufacturer.clone()),
        model: hw.as_ref().and_then(|h| h.model.clone()),
        mac_addresses: hw.as_ref().map(|h| h.macs.clone()).unwrap_or_default(),
        hostname: nonempty(Some(&row.hostname)),
        ..IdentityHints::default()
    };
    s.metadata = Reported::Value(metadata(site.client_id, Some(site_id), &site.name));
    Ok(s)
}

/// Maps a classic table row listed for `client_id` (`GET /agents/?client=<id>`).
pub(crate) fn map_table(
    row: &AgentTableDto,
    client_id: i64,
    ctx: &MapContext<'_>,
) -> Result<DeviceSnapshot, Unplaced> {
    let site_name = row.site_name.clone().unwrap_or_default();
    let site_id = ctx.index.site_by_name(client_id, &site_name);
    let scope = match (ctx.device_scope, site_id) {
        (DeviceScope::Client, _) => client_scope_id(client_id),
        (DeviceScope::Site, Some(site)) => site_scope_id(site),
        (DeviceScope::Site, None) => {
            return Err(Unplaced {
                agent_id: row.agent_id.clone(),
                site: format!("{site_name:?} of client {client_id}"),
            });
        }
    };
    let mut s = DeviceSnapshot::new(
        row.agent_id.as_str(),
        scope,
        kind(row.monitoring_type.as_deref()),
        row.hostname.trim(),
    );
    s.location = nonempty(row.site_name.as_deref()).into();
    s.last_seen_at = row.last_seen.into();
    s.agent_status = Reported::Value(
        row.status
            .as_deref()
            .map(AgentStatus::parse_lenient)
            .filter(|st| *st != AgentStatus::Unknown)
            .unwrap_or_else(|| status_of(row.last_seen, &ctx.thresholds, ctx.now)),
    );
    s.serial_number = match nonempty(row.serial_number.as_deref()) {
        Some(serial) => Reported::Value(serial),
        None => Reported::Absent,
    };
    let local_ips = row
        .local_ips
        .as_deref()
        .map(|l| clean_ips(std::iter::once(l)));
    // Windows entries read "<name>, <cores>C/<threads>T"; keep the name, sum the cores.
    let mut cores: Option<i32> = None;
    let cpus: Option<Vec<String>> = row.cpu_model.as_ref().map(|c| {
        let mut names: Vec<String> = Vec::new();
        for entry in c.iter().map(|n| n.trim()) {
            let (name, n_cores) = split_core_suffix(entry);
            if let Some(n) = n_cores {
                cores = Some(cores.unwrap_or(0).saturating_add(n));
            }
            if !name.is_empty()
                && !name.eq_ignore_ascii_case("unknown cpu model")
                && !names.iter().any(|x| x == name)
            {
                names.push(name.to_owned());
            }
        }
        names
    });
    let make_model = nonempty(row.make_model.as_deref()).filter(|m| !is_error_text(m));

    let mut info = base_system_info(row.plat.as_deref(), row.goarch.as_deref());
    info.insert(
        "needs_reboot".into(),
        row.needs_reboot.unwrap_or(false).into(),
    );
    info.insert(
        "maintenance_mode".into(),
        row.maintenance_mode.unwrap_or(false).into(),
    );
    if let Some(ips) = &local_ips {
        info.insert("local_ips".into(), ips.clone().into());
    }
    if let Some(mm) = &make_model {
        info.insert("make_model".into(), mm.clone().into());
    }

    s.details = DeviceDetails {
        os_type: os_family(row.plat.as_deref(), row.operating_system.as_deref()),
        os_version: nonempty(row.operating_system.as_deref()).into(),
        agent_version: nonempty(row.version.as_deref()).into(),
        // "-" means nobody; italic marks the *last* user shown while nobody is logged on.
        current_user: nonempty(row.logged_username.as_deref())
            .filter(|u| u != "-" && u != "None" && row.italic != Some(true))
            .into(),
        lan_ip: local_ips
            .as_ref()
            .map_or(Reported::Absent, |ips| ips.first().cloned().into()),
        wan_ip: ip(row.public_ip.as_deref()).into(),
        last_reboot_at: row.boot_time.and_then(epoch).into(),
        // Tactical reports a flag, not a count: 1 means "at least one approved update waits".
        pending_patches: row
            .has_patches_pending
            .map_or(Reported::Absent, |p| Reported::Value(i32::from(p))),
        cpu_model: cpus.as_ref().map_or(Reported::Absent, |c| {
            (!c.is_empty()).then(|| c.join(", ")).into()
        }),
        cpu_cores: cores.map_or(Reported::Absent, Reported::Value),
        system_info: Reported::Value(info),
        ..DeviceDetails::default()
    };
    s.identity = IdentityHints {
        serial_numbers: nonempty(row.serial_number.as_deref()).into_iter().collect(),
        model: make_model,
        hostname: nonempty(Some(&row.hostname)),
        ..IdentityHints::default()
    };
    s.metadata = Reported::Value(metadata(client_id, site_id, &site_name));
    Ok(s)
}

/// Tactical's status rule: never seen is offline; seen within `offline_time` is online; seen
/// before `overdue_time` is overdue; in between offline.
pub(crate) fn status_of(
    last_seen: Option<DateTime<Utc>>,
    thresholds: &AgentStatusThresholds,
    now: DateTime<Utc>,
) -> AgentStatus {
    match last_seen {
        None => AgentStatus::Offline,
        Some(_) => thresholds.evaluate(last_seen, now),
    }
}

/// `"Intel(R) Xeon(R), 8C/16T"` → (`"Intel(R) Xeon(R)"`, `Some(8)`).
fn split_core_suffix(entry: &str) -> (&str, Option<i32>) {
    if let Some((name, suffix)) = entry.rsplit_once(", ")
        && let Some((c, t)) = suffix.split_once("C/")
        && let (Ok(c), true) = (
            c.parse::<i32>(),
            t.strip_suffix('T')
                .is_some_and(|t| t.parse::<u32>().is_ok()),
        )
    {
        return (name.trim(), Some(c));
    }
    (entry, None)
}

fn kind(monitoring_type: Option<&str>) -> DeviceKind {
    match monitoring_type.map(str::trim) {
        Some(t) if t.eq_ignore_ascii_case("server") => DeviceKind::Server,
        Some(t) if t.eq_ignore_ascii_case("workstation") => DeviceKind::Workstation,
        _ => DeviceKind::Unknown,
    }
}

fn minutes(m: u32) -> Duration {
    Duration::from_secs(u64::from(m) * 60)
}

/// The OS family from the platform (`windows`, `linux`, `darwin`), else the first word of the
/// OS string.
fn os_family(plat: Option<&str>, os: Option<&str>) -> Reported<String> {
    match plat.map(str::to_ascii_lowercase).as_deref() {
        Some("windows") => Reported::Value("Windows".into()),
        Some("linux") => Reported::Value("Linux".into()),
        Some("darwin") => Reported::Value("macOS".into()),
        _ => match os.and_then(|o| o.split_whitespace().next()) {
            Some(first) => Reported::Value(first.trim_end_matches(',').to_owned()),
            None => Reported::Absent,
        },
    }
}

fn base_system_info(plat: Option<&str>, goarch: Option<&str>) -> Map<String, Value> {
    let mut info = Map::new();
    info.insert("platform".into(), plat.map_or(Value::Null, Value::from));
    info.insert("goarch".into(), goarch.map_or(Value::Null, Value::from));
    info
}

fn metadata(client_id: i64, site_id: Option<i64>, site_name: &str) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("client_id".into(), client_id.into());
    m.insert("site_id".into(), site_id.map_or(Value::Null, Value::from));
    m.insert("site_name".into(), site_name.into());
    m
}

fn nonempty(s: Option<&str>) -> Option<String> {
    s.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn is_error_text(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("error") || l.starts_with("unknown")
}

/// A public address, if the text is one (agents send `"None"` or error texts otherwise).
fn ip(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    s.parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// An epoch-seconds float as a timestamp (0 and absurd values are unknown).
fn epoch(secs: f64) -> Option<DateTime<Utc>> {
    if !secs.is_finite() || secs <= 0.0 || secs > 32_503_680_000.0 {
        return None;
    }
    let whole = secs.trunc() as i64;
    let nanos = ((secs - secs.trunc()) * 1e9)
        .round()
        .clamp(0.0, 999_999_999.0) as u32;
    DateTime::from_timestamp(whole, nanos).map(|t| {
        // Micro precision, the same every time, so fingerprints stay stable.
        t - chrono::Duration::nanoseconds(i64::from(t.timestamp_subsec_nanos() % 1000))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::tactical::dto::ClientDto;
    use chrono::TimeZone;
    use serde_json::json;

    fn index() -> SiteIndex {
        let clients: Vec<ClientDto> = serde_json::from_value(json!([
            {"id": 1, "name": "Acme Corp", "sites": [{"id": 1, "name": "HQ"}, {"id": 2, "name": "Branch"}]},
            {"id": 2, "name": "Globex", "sites": [{"id": 3, "name": "HQ"}]}
        ]))
        .unwrap();
        SiteIndex::from_clients(clients)
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 22, 0, 0).unwrap()
    }

    fn ctx(index: &SiteIndex, scope: DeviceScope) -> MapContext<'_> {
        MapContext {
            index,
            device_scope: scope,
            now: now(),
            thresholds: AgentStatusThresholds {
                online_within: Duration::from_secs(240),
                overdue_after: Some(Duration::from_secs(1800)),
            },
        }
    }

    fn model_row() -> AgentModelDto {
        serde_json::from_value(json!({
            "id": 12, "agent_id": "bGludXgtc2VydmVyLWFnZW50LTAwMg", "hostname": "acme-srv01", "site": 2,
            "monitoring_type": "server", "plat": "linux", "goarch": "amd64",
            "operating_system": "Ubuntu 22.04.4 LTS", "version": "2.11.0",
            "last_seen": "2026-11-27T21:43:08.662803Z", "boot_time": 1792366988.662803,
            "public_ip": "203.0.113.11", "total_ram": 32, "logged_in_username": "None",
            "disks": [{"device": "/dev/sda1", "fstype": "ext4", "total": "97.9G", "used": "12.1G", "free": "80.8G", "percent": 13}],
            "offline_time": 4, "overdue_time": 30, "needs_reboot": true,
            "wmi_detail": {"cpus": ["AMD EPYC 7763 64-Core Processor"], "local_ips": ["10.0.0.5/24"],
                           "serialnumber": "VM-0002", "make_model": "QEMU Standard PC", "disks": []}
        }))
        .unwrap()
    }

    #[test]
    fn model_rows_map_every_field() {
        let idx = index();
        let s = map_model(&model_row(), &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.external_id.as_str(), "bGludXgtc2VydmVyLWFnZW50LTAwMg");
        assert_eq!(s.scope_id.as_str(), "1");
        assert_eq!(s.kind, DeviceKind::Server);
        assert_eq!(s.display_name, "acme-srv01");
        assert_eq!(s.location, Reported::Value("Branch".into()));
        assert_eq!(s.serial_number, Reported::Value("VM-0002".into()));
        // 16m52s ago with offline 4 / overdue 30 minutes.
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Offline));
        let d = &s.details;
        assert_eq!(d.os_type, Reported::Value("Linux".into()));
        assert_eq!(d.os_version, Reported::Value("Ubuntu 22.04.4 LTS".into()));
        assert_eq!(d.agent_version, Reported::Value("2.11.0".into()));
        assert_eq!(d.current_user, Reported::Null);
        assert_eq!(d.lan_ip, Reported::Value("10.0.0.5".into()));
        assert_eq!(d.wan_ip, Reported::Value("203.0.113.11".into()));
        assert_eq!(
            d.cpu_model,
            Reported::Value("AMD EPYC 7763 64-Core Processor".into())
        );
        assert_eq!(d.cpu_cores, Reported::Absent);
        assert_eq!(d.ram_gb, Reported::Value(32.0));
        assert_eq!(d.pending_patches, Reported::Absent);
        let disks = d.disk_usage.value().unwrap();
        assert_eq!(
            (disks[0].name.as_str(), disks[0].total_gb),
            ("/dev/sda1", 97.9)
        );
        let boot = d.last_reboot_at.value().unwrap();
        assert_eq!(boot.timestamp(), 1_792_366_988);
        let info = d.system_info.value().unwrap();
        assert_eq!(info["needs_reboot"], true);
        assert_eq!(info["platform"], "linux");
        assert_eq!(s.identity.serial_numbers, vec!["VM-0002"]);
        let meta = s.metadata.value().unwrap();
        assert_eq!(
            (meta["client_id"].as_i64(), meta["site_id"].as_i64()),
            (Some(1), Some(2))
        );

        let site = map_model(&model_row(), &ctx(&idx, DeviceScope::Site)).unwrap();
        assert_eq!(site.scope_id.as_str(), "site:2");
    }

    #[test]
    fn per_agent_thresholds_decide_the_status() {
        let idx = index();
        let mut row = model_row();
        row.offline_time = Some(60);
        let s = map_model(&row, &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Online));
        row.overdue_time = Some(10);
        row.offline_time = Some(5);
        let s = map_model(&row, &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Overdue));
        row.last_seen = None;
        let s = map_model(&row, &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Offline));
        assert_eq!(s.last_seen_at, Reported::Null);
    }

    #[test]
    fn status_rule_matches_the_reference_scenarios() {
        let t = AgentStatusThresholds {
            online_within: Duration::from_secs(5 * 60),
            overdue_after: Some(Duration::from_secs(30 * 60)),
        };
        let ago = |m| Some(now() - chrono::Duration::minutes(m));
        assert_eq!(status_of(ago(4), &t, now()), AgentStatus::Online);
        assert_eq!(status_of(ago(10), &t, now()), AgentStatus::Offline);
        assert_eq!(status_of(ago(40), &t, now()), AgentStatus::Overdue);
        assert_eq!(status_of(None, &t, now()), AgentStatus::Offline);
    }

    #[test]
    fn unknown_sites_and_missing_inventory() {
        let idx = index();
        let mut row = model_row();
        row.site = Some(99);
        let e = map_model(&row, &ctx(&idx, DeviceScope::Client)).unwrap_err();
        assert_eq!(e.site, "99");
        let mut row = model_row();
        row.wmi_detail = None;
        row.disks = None;
        row.total_ram = None;
        row.public_ip = Some("error".into());
        let s = map_model(&row, &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.details.cpu_model, Reported::Absent);
        assert_eq!(s.details.lan_ip, Reported::Absent);
        assert_eq!(s.serial_number, Reported::Absent);
        assert_eq!(s.details.disk_usage, Reported::Null);
        assert_eq!(s.details.ram_gb, Reported::Null);
        assert_eq!(s.details.wan_ip, Reported::Null);
    }

    #[test]
    fn table_rows_map_what_they_carry() {
        let idx = index();
        let row: AgentTableDto = serde_json::from_value(json!({
            "agent_id": "w1", "hostname": "ACME-WS01", "site_name": "HQ", "client_name": "Globex",
            "monitoring_type": "workstation", "status": "online", "last_seen": "2026-11-27T21:59:00Z",
            "boot_time": 1792366988.0, "needs_reboot": false, "has_patches_pending": true,
            "logged_username": "jdoe", "italic": false, "plat": "windows", "goarch": "amd64",
            "version": "2.11.0", "operating_system": "Windows 11 Pro, 64 bit (build 22631)",
            "public_ip": "203.0.113.10", "cpu_model": ["Intel(R) Core(TM) i7-1185G7, 4C/8T"],
            "local_ips": "192.168.1.50", "make_model": "HP EliteBook 840 G8", "serial_number": "5CG1234XYZ"
        }))
        .unwrap();
        let s = map_table(&row, 2, &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.scope_id.as_str(), "2");
        assert_eq!(s.kind, DeviceKind::Workstation);
        assert_eq!(s.agent_status, Reported::Value(AgentStatus::Online));
        assert_eq!(s.details.os_type, Reported::Value("Windows".into()));
        assert_eq!(s.details.pending_patches, Reported::Value(1));
        assert_eq!(s.details.current_user, Reported::Value("jdoe".into()));
        assert_eq!(s.details.lan_ip, Reported::Value("192.168.1.50".into()));
        assert_eq!(
            s.details.cpu_model,
            Reported::Value("Intel(R) Core(TM) i7-1185G7".into())
        );
        assert_eq!(s.details.cpu_cores, Reported::Value(4));
        assert_eq!(s.details.ram_gb, Reported::Absent);
        assert_eq!(s.details.disk_usage, Reported::Absent);
        assert_eq!(s.serial_number, Reported::Value("5CG1234XYZ".into()));
        assert_eq!(s.metadata.value().unwrap()["site_id"], 3);
        let site = map_table(&row, 2, &ctx(&idx, DeviceScope::Site)).unwrap();
        assert_eq!(site.scope_id.as_str(), "site:3");

        let mut nobody = row.clone();
        nobody.logged_username = Some("jdoe".into());
        nobody.italic = Some(true);
        let s = map_table(&nobody, 2, &ctx(&idx, DeviceScope::Client)).unwrap();
        assert_eq!(s.details.current_user, Reported::Null);
        let mut lost = row;
        lost.site_name = Some("Gone".into());
        assert!(map_table(&lost, 2, &ctx(&idx, DeviceScope::Site)).is_err());
        assert!(map_table(&lost, 2, &ctx(&idx, DeviceScope::Client)).is_ok());
    }

    #[test]
    fn windows_cpu_entries_carry_core_counts() {
        assert_eq!(split_core_suffix("Xeon, 8C/16T"), ("Xeon", Some(8)));
        assert_eq!(
            split_core_suffix("AMD EPYC 7763 64-Core Processor"),
            ("AMD EPYC 7763 64-Core Processor", None)
        );
        assert_eq!(split_core_suffix("Odd, 8C/xT"), ("Odd, 8C/xT", None));
    }

    #[test]
    fn epochs_are_stable_to_the_microsecond() {
        let a = epoch(1_792_366_988.662_803).unwrap();
        assert_eq!(a, epoch(1_792_366_988.662_803).unwrap());
        assert_eq!(a.timestamp_subsec_nanos() % 1000, 0);
        assert_eq!(epoch(0.0), None);
        assert_eq!(epoch(f64::NAN), None);
    }
}
