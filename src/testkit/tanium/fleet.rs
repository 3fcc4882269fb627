//! The simulator's data: computer groups and endpoints as the Gateway serves them (text fields
//! verbatim, sensor errors included), and writing an endpoint projected onto a selection.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::graphql::{Node, write_projection};

/// One computer group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimGroup {
    /// Group id (numeric text, like the Gateway's).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `STANDARD` or `MANUAL`.
    pub group_type: String,
    /// The group's filter expression (empty for manual groups).
    pub expression: String,
    /// Content set name, if any.
    pub content_set: Option<String>,
}

impl SimGroup {
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "__typename": "ComputerGroup",
            "id": self.id,
            "name": self.name,
            "type": self.group_type,
            "managementRightsEnabled": true,
            "filterEnabled": self.group_type == "STANDARD",
            "expression": self.expression,
            "contentSet": self.content_set.as_ref().map(|n| json!({"__typename": "NamedRef", "id": "3", "name": n})),
        })
    }
}

/// One disk as the Gateway reports it (sizes as text).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the Gateway's EndpointDisk fields
pub struct SimDisk {
    pub name: String,
    pub free: Option<String>,
    pub total: Option<String>,
    pub used_percentage: Option<String>,
    pub used_space: Option<String>,
}

/// One installed application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // the Gateway's EndpointInstalledApplication fields
pub struct SimApp {
    pub name: String,
    pub version: String,
    pub uninstallable: Option<bool>,
}

/// One endpoint, field for field as the Gateway serves it. Text fields hold exactly what the
/// Gateway would send, sensor errors and empty strings included.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)] // field names mirror the Gateway's Endpoint type
pub struct SimEndpoint {
    /// The EID.
    pub id: String,
    pub name: String,
    pub domain_name: String,
    pub computer_id: String,
    pub system_uuid: String,
    pub namespace: String,
    pub serial_number: String,
    pub manufacturer: String,
    pub model: String,
    pub chassis_type: String,
    pub is_virtual: Option<bool>,
    pub is_encrypted: Option<bool>,
    pub eid_first_seen: Option<DateTime<Utc>>,
    pub eid_last_seen: Option<DateTime<Utc>>,
    pub ip_address: String,
    pub ip_addresses: Vec<String>,
    pub mac_addresses: Vec<String>,
    pub primary_user: String,
    pub last_logged_in_user: String,
    pub os_name: String,
    /// `Windows`, `Linux`, `Mac`, `Solaris`, `AIX` or `Unknown`.
    pub os_platform: String,
    pub os_generation: String,
    /// `(type, majorVersion, releaseId)` on Windows.
    pub windows: Option<(String, String, String)>,
    pub memory_ram: String,
    pub memory_total: String,
    pub cpu: String,
    pub logical_processors: i32,
    pub disks: Option<Vec<SimDisk>>,
    pub installed_applications: Vec<SimApp>,
    /// Computer groups the endpoint is a member of.
    pub groups: Vec<String>,
}

fn time(t: &Option<DateTime<Utc>>) -> Value {
    t.map_or(Value::Null, |t| {
        Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    })
}

fn write_json(value: &impl serde::Serialize, out: &mut Vec<u8>) -> Result<(), String> {
    serde_json::to_writer(out, value).map_err(|e| e.to_string())
}

impl SimEndpoint {
    /// A nested object (or list of objects) of the Gateway's `Endpoint`, with `__typename`s.
    fn nested(&self, field: &str) -> Option<Value> {
        Some(match field {
            "primaryUser" => json!({
                "__typename": "EndpointUser",
                "name": self.primary_user,
                "email": "", "phoneNumber": "", "department": "", "city": "", "country": ""
            }),
            "os" => json!({
                "__typename": "EndpointOS",
                "name": self.os_name,
                "platform": self.os_platform,
                "generation": self.os_generation,
                "language": "English",
                "windows": self.windows.as_ref().map(|(t, major, release)| json!({
                    "__typename": "EndpointWindowsOS",
                    "type": t, "majorVersion": major, "releaseId": release
                })),
            }),
            "memory" => {
                json!({ "__typename": "Memory", "ram": self.memory_ram, "total": self.memory_total })
            }
            "processor" => json!({
                "__typename": "Processor",
                "cpu": self.cpu,
                "logicalProcessors": self.logical_processors,
                "architecture": "x86_64",
            }),
            "disks" => json!(self.disks.as_ref().map(|ds| {
                ds.iter()
                    .map(|d| {
                        json!({
                            "__typename": "EndpointDisk",
                            "name": d.name, "free": d.free, "total": d.total,
                            "usedPercentage": d.used_percentage, "usedSpace": d.used_space
                        })
                    })
                    .collect::<Vec<_>>()
            })),
            "installedApplications" => Value::Array(
                self.installed_applications
                    .iter()
                    .map(|a| {
                        json!({
                            "__typename": "EndpointInstalledApplication",
                            "name": a.name, "version": a.version,
                            "silentUninstallString": "", "uninstallable": a.uninstallable
                        })
                    })
                    .collect(),
            ),
            _ => return None,
        })
    }

    /// Writes this endpoint projected onto a selection, as the Gateway would serve it; a field
    /// the simulator's `Endpoint` lacks is an error.
    pub(crate) fn write_selection(&self, nodes: &[Node], out: &mut Vec<u8>) -> Result<(), String> {
        out.push(b'{');
        let mut written = Vec::new();
        self.write_fields(nodes, out, &mut written)?;
        out.push(b'}');
        Ok(())
    }

    fn write_fields<'n>(
        &self,
        nodes: &'n [Node],
        out: &mut Vec<u8>,
        written: &mut Vec<&'n str>,
    ) -> Result<(), String> {
        for n in nodes {
            let f = match n {
                Node::Fragment(condition, children) => {
                    if condition.as_deref().is_none_or(|c| c == "Endpoint") {
                        self.write_fields(children, out, written)?;
                    }
                    continue;
                }
                Node::Field(f) => f,
            };
            if written.contains(&f.key()) {
                continue;
            }
            if !written.is_empty() {
                out.push(b',');
            }
            written.push(f.key());
            write_json(&f.key(), out)?;
            out.push(b':');
            let scalar: Option<&str> = match f.name.as_str() {
                "__typename" => Some("Endpoint"),
                "id" => Some(self.id.as_str()),
                "name" => Some(self.name.as_str()),
                "domainName" => Some(self.domain_name.as_str()),
                "computerID" => Some(self.computer_id.as_str()),
                "systemUUID" => Some(self.system_uuid.as_str()),
                "namespace" => Some(self.namespace.as_str()),
                "serialNumber" => Some(self.serial_number.as_str()),
                "manufacturer" => Some(self.manufacturer.as_str()),
                "model" => Some(self.model.as_str()),
                "chassisType" => Some(self.chassis_type.as_str()),
                "ipAddress" => Some(self.ip_address.as_str()),
                "lastLoggedInUser" => Some(self.last_logged_in_user.as_str()),
                _ => None,
            };
            match (scalar, f.name.as_str()) {
                (Some(s), _) => write_json(&s, out)?,
                (None, "isVirtual") => write_json(&self.is_virtual, out)?,
                (None, "isEncrypted") => write_json(&self.is_encrypted, out)?,
                (None, "eidFirstSeen") => write_json(&time(&self.eid_first_seen), out)?,
                (None, "eidLastSeen") => write_json(&time(&self.eid_last_seen), out)?,
                (None, "ipAddresses") => write_json(&self.ip_addresses, out)?,
                (None, "macAddresses") => write_json(&self.mac_addresses, out)?,
                (None, name) => {
                    let value = self.nested(name).ok_or_else(|| {
                        format!("Cannot query field \"{name}\" on type \"Endpoint\".")
                    })?;
                    write_projection(&value, &f.children, out)?;
                }
            }
        }
        Ok(())
    }
}
