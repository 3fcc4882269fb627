//! The JSON shapes of the real server (as recorded in `provider-apis.md` §C and §D.3): raw
//! model rows (beta API), table rows (`/agents/`), the agent detail, clients and sites, with
//! the server's computed properties (status, CPU model, local IPs …).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::fleet::{SimAgent, SimClient, SimSite};

/// DRF's datetime format: ISO 8601, UTC as `Z`.
pub(crate) fn drf_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

fn opt_time(t: Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| Value::String(drf_time(t)))
}

/// `Agent.status`: never seen or older than `offline_time` is offline; older than both
/// thresholds is overdue.
pub(crate) fn status(a: &SimAgent, now: DateTime<Utc>) -> &'static str {
    let Some(seen) = a.last_seen else {
        return "offline";
    };
    let offline = now - chrono::Duration::minutes(i64::from(a.offline_time));
    let overdue = now - chrono::Duration::minutes(i64::from(a.overdue_time));
    if seen < offline && seen > overdue {
        "offline"
    } else if seen < offline && seen < overdue {
        "overdue"
    } else {
        "online"
    }
}

fn posix(a: &SimAgent) -> bool {
    a.plat == "linux" || a.plat == "darwin"
}

fn wmi_prop<'a>(instance: &'a Value, name: &str) -> Option<&'a Value> {
    instance.as_array()?.iter().find_map(|p| p.get(name))
}

fn cpu_model(a: &SimAgent) -> Value {
    let Some(wmi) = &a.wmi_detail else {
        return json!(["unknown cpu model"]);
    };
    if posix(a) {
        return wmi
            .get("cpus")
            .cloned()
            .unwrap_or(json!(["unknown cpu model"]));
    }
    let cpus: Vec<Value> = wmi
        .get("cpu")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|cpu| {
                    let name = wmi_prop(cpu, "Name")?.as_str()?;
                    let cores = wmi_prop(cpu, "NumberOfCores").and_then(Value::as_i64);
                    let threads =
                        wmi_prop(cpu, "NumberOfLogicalProcessors").and_then(Value::as_i64);
                    Some(match (cores, threads) {
                        (Some(c), Some(t)) => Value::String(format!("{name}, {c}C/{t}T")),
                        _ => Value::String(name.to_owned()),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if cpus.is_empty() {
        json!(["unknown cpu model"])
    } else {
        Value::Array(cpus)
    }
}

fn local_ips(a: &SimAgent) -> String {
    let Some(wmi) = &a.wmi_detail else {
        return "error getting local ips".into();
    };
    let ips: Vec<String> = if posix(a) {
        wmi.get("local_ips")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        wmi.get("network_config")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|adapter| wmi_prop(adapter, "IPAddress")?.as_array().cloned())
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .filter(|ip| ip.parse::<std::net::Ipv4Addr>().is_ok())
            .collect()
    };
    if ips.is_empty() {
        "error getting local ips".into()
    } else {
        ips.join(", ")
    }
}

fn make_model(a: &SimAgent) -> String {
    let Some(wmi) = &a.wmi_detail else {
        return "unknown make/model".into();
    };
    if posix(a) {
        return wmi
            .get("make_model")
            .and_then(Value::as_str)
            .unwrap_or("error getting make/model")
            .to_owned();
    }
    let first = |key: &str, prop: &str| {
        wmi.get(key)?
            .as_array()?
            .first()
            .and_then(|i| wmi_prop(i, prop))?
            .as_str()
            .map(str::to_owned)
    };
    match (first("comp_sys_prod", "Vendor"), first("comp_sys", "Model")) {
        (Some(make), Some(model)) => format!("{make} {model}"),
        _ => "unknown make/model".into(),
    }
}

fn serial_number(a: &SimAgent) -> String {
    let Some(wmi) = &a.wmi_detail else {
        return String::new();
    };
    let found = if posix(a) {
        wmi.get("serialnumber").and_then(Value::as_str)
    } else {
        wmi.pointer("/bios/0/0/SerialNumber")
            .and_then(Value::as_str)
    };
    found.unwrap_or("").to_owned()
}

fn physical_disks(a: &SimAgent) -> Value {
    match &a.wmi_detail {
        Some(wmi) if posix(a) => wmi.get("disks").cloned().unwrap_or(json!(["unknown disk"])),
        Some(wmi) => {
            let disks: Vec<Value> = wmi
                .get("disk")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| {
                    let caption = wmi_prop(d, "Caption")?.as_str()?;
                    let interface = wmi_prop(d, "InterfaceType")?.as_str()?;
                    let size = wmi_prop(d, "Size")?.as_u64()?;
                    Some(Value::String(format!(
                        "{caption} {}GB {interface}",
                        (size as f64 / 1_073_741_824.0).round()
                    )))
                })
                .collect();
            Value::Array(disks)
        }
        None => json!(["unknown disk"]),
    }
}

fn graphics(a: &SimAgent) -> String {
    let gpus: Vec<String> = match &a.wmi_detail {
        Some(wmi) if posix(a) => wmi
            .get("gpus")
            .and_then(Value::as_array)
            .map(|g| {
                g.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
        Some(wmi) => wmi
            .get("graphics")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|g| wmi_prop(g, "Caption")?.as_str().map(str::to_owned))
            .collect(),
        None => Vec::new(),
    };
    if gpus.is_empty() {
        "No graphics cards".into()
    } else {
        gpus.join(", ")
    }
}

fn checks() -> Value {
    json!({"total": 0, "passing": 0, "failing": 0, "warning": 0, "info": 0, "has_failing_checks": false})
}

/// The model's own fields (what `fields = "__all__"` serialises), without `id`.
fn model_fields(a: &SimAgent) -> Map<String, Value> {
    let v = json!({
        "created_by": null, "created_time": null, "modified_by": null, "modified_time": null,
        "version": a.version, "operating_system": a.operating_system, "plat": a.plat, "goarch": a.goarch,
        "hostname": a.hostname, "agent_id": a.agent_id, "last_seen": opt_time(a.last_seen),
        "services": [], "public_ip": a.public_ip, "total_ram": a.total_ram, "disks": a.disks,
        "boot_time": a.boot_time, "logged_in_username": a.logged_in_username,
        "last_logged_in_user": a.last_logged_in_user, "monitoring_type": a.monitoring_type,
        "description": a.description, "mesh_node_id": null, "overdue_email_alert": false,
        "overdue_text_alert": false, "overdue_dashboard_alert": false,
        "offline_time": a.offline_time, "overdue_time": a.overdue_time, "check_interval": 120,
        "needs_reboot": a.needs_reboot, "choco_installed": false, "wmi_detail": a.wmi_detail,
        "patches_last_installed": opt_time(a.patches_last_installed), "time_zone": null,
        "maintenance_mode": a.maintenance_mode, "block_policy_inheritance": false,
        "default_shell": "powershell", "default_shell_custom": null,
        "alert_template": null, "site": a.site, "policy": null
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!("json! object"),
    }
}

/// A row of `GET /beta/v1/agent/` (`ListAgentSerializer`, `fields = "__all__"`).
pub(crate) fn beta_row(a: &SimAgent) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), a.id.into());
    m.extend(model_fields(a));
    Value::Object(m)
}

/// The body of `GET /agents/<agent_id>/` (`AgentSerializer`: every model field but `id`, plus
/// computed fields; `client` is the client's *name*).
pub(crate) fn detail(
    a: &SimAgent,
    client: &SimClient,
    site: &SimSite,
    now: DateTime<Utc>,
) -> Value {
    let mut m = model_fields(a);
    let extra = json!({
        "winupdatepolicy": [], "status": status(a, now), "cpu_model": cpu_model(a),
        "local_ips": local_ips(a), "make_model": make_model(a), "physical_disks": physical_disks(a),
        "graphics": graphics(a), "checks": checks(), "timezone": "America/Los_Angeles",
        "all_timezones": ["America/Los_Angeles", "Europe/Berlin", "UTC"],
        "client": client.name, "site_name": site.name, "custom_fields": [],
        "applied_policies": {"agent_policy": null, "site_policy": null, "client_policy": null, "default_policy": null},
        "effective_patch_policy": {}, "alert_template": null
    });
    if let Value::Object(e) = extra {
        m.extend(e);
    }
    Value::Object(m)
}

/// A row of `GET /agents/` (`AgentTableSerializer`); `policy` is omitted without a policy.
pub(crate) fn table_row(
    a: &SimAgent,
    client: &SimClient,
    site: &SimSite,
    now: DateTime<Utc>,
) -> Value {
    let st = status(a, now);
    let nobody = a.logged_in_username == "None";
    let (logged, italic) = if nobody && st == "online" {
        (
            a.last_logged_in_user.clone().unwrap_or_else(|| "-".into()),
            true,
        )
    } else if !nobody {
        (a.logged_in_username.clone(), false)
    } else {
        ("-".to_owned(), false)
    };
    json!({
        "agent_id": a.agent_id, "alert_template": null, "hostname": a.hostname,
        "site_name": site.name, "client_name": client.name, "monitoring_type": a.monitoring_type,
        "description": a.description, "needs_reboot": a.needs_reboot, "pending_actions_count": 0,
        "status": st, "overdue_text_alert": false, "overdue_email_alert": false,
        "overdue_dashboard_alert": false, "last_seen": opt_time(a.last_seen), "boot_time": a.boot_time,
        "checks": checks(), "maintenance_mode": a.maintenance_mode, "logged_username": logged,
        "italic": italic, "block_policy_inheritance": false, "plat": a.plat, "goarch": a.goarch,
        "has_patches_pending": a.has_patches_pending, "version": a.version,
        "operating_system": a.operating_system, "public_ip": a.public_ip,
        "cpu_model": cpu_model(a), "graphics": graphics(a), "local_ips": local_ips(a),
        "make_model": make_model(a), "physical_disks": physical_disks(a), "custom_fields": [],
        "serial_number": serial_number(a)
    })
}

/// `GET /agents/?detail=false` rows.
pub(crate) fn hostname_row(a: &SimAgent, client: &SimClient, site: &SimSite) -> Value {
    json!({"id": a.id, "hostname": a.hostname, "agent_id": a.agent_id, "client": client.name, "site": site.name})
}

fn failing() -> Value {
    json!({"error": false, "warning": false})
}

/// One client of `GET /clients/`, with its sites and agent counts.
pub(crate) fn client(c: &SimClient, sites: &[(&SimSite, usize)]) -> Value {
    let total: usize = sites.iter().map(|(_, n)| n).sum();
    let sites: Vec<Value> = sites
        .iter()
        .map(|(s, n)| {
            json!({"id": s.id, "name": s.name, "server_policy": null, "workstation_policy": null,
                   "alert_template": null, "client_name": c.name, "client": c.id, "custom_fields": [],
                   "agent_count": n, "block_policy_inheritance": false, "maintenance_mode": false,
                   "failing_checks": failing()})
        })
        .collect();
    json!({"id": c.id, "name": c.name, "server_policy": null, "workstation_policy": null,
           "alert_template": null, "block_policy_inheritance": false, "sites": sites,
           "custom_fields": [], "agent_count": total, "maintenance_mode": false,
           "failing_checks": failing()})
}

/// A raw client row of `GET /beta/v1/client/`.
pub(crate) fn beta_client(c: &SimClient) -> Value {
    json!({"id": c.id, "created_by": null, "created_time": null, "modified_by": null,
           "modified_time": null, "name": c.name, "block_policy_inheritance": false,
           "failing_checks": failing(), "workstation_policy": null, "server_policy": null,
           "alert_template": null})
}

/// A raw site row of `GET /beta/v1/site/`.
pub(crate) fn beta_site(s: &SimSite) -> Value {
    json!({"id": s.id, "created_by": null, "created_time": null, "modified_by": null,
           "modified_time": null, "name": s.name, "block_policy_inheritance": false,
           "failing_checks": failing(), "client": s.client, "workstation_policy": null,
           "server_policy": null, "alert_template": null})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::tactical::fleet::generate_agent;

    #[test]
    fn status_follows_the_server_rule() {
        let now = Utc::now();
        let mut a = generate_agent(0, 1, 1, now);
        let ago = |m| Some(now - chrono::Duration::minutes(m));
        a.last_seen = ago(2);
        assert_eq!(status(&a, now), "online");
        a.last_seen = ago(10);
        assert_eq!(status(&a, now), "offline");
        a.last_seen = ago(45);
        assert_eq!(status(&a, now), "overdue");
        a.last_seen = None;
        assert_eq!(status(&a, now), "offline");
    }

    #[test]
    fn rows_have_the_recorded_shapes() {
        let now = Utc::now();
        let a = generate_agent(3, 1, 9, now);
        let c = SimClient {
            id: 1,
            name: "Acme".into(),
        };
        let s = SimSite {
            id: 1,
            client: 1,
            name: "HQ".into(),
        };
        let t = table_row(&a, &c, &s, now);
        assert!(t.get("policy").is_none(), "policy omitted without a policy");
        assert!(t["cpu_model"].is_array() && t["local_ips"].is_string());
        assert!(t.get("total_ram").is_none() && t.get("id").is_none());
        let b = beta_row(&a);
        assert_eq!(b["id"], 4);
        assert_eq!(b["site"], 1);
        assert!(b.get("status").is_none() && b.get("client_name").is_none());
        let d = detail(&a, &c, &s, now);
        assert!(d.get("id").is_none());
        assert_eq!(d["client"], "Acme");
        assert!(d["status"].is_string());
    }
}
