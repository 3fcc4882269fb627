//! The device kind from the operating system, the chassis and the virtual flag — never from
//! host names (the reference's "studios-pc is an iOS device" mistake).

use super::queries::{Os, Platform};
use super::values::clean;
use crate::model::DeviceKind;

/// Broad chassis classes from Tanium's "Chassis Type" values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chassis {
    Portable,
    Desktop,
    Server,
    Virtual,
    Unknown,
}

pub(crate) fn chassis(raw: &str) -> Chassis {
    let Some(c) = clean(raw) else {
        return Chassis::Unknown;
    };
    let c = c.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| c.contains(w));
    if has(&["virtual"]) || c == "vm" {
        Chassis::Virtual
    } else if has(&["rack", "blade", "server", "multi-system"]) {
        Chassis::Server
    } else if has(&[
        "notebook",
        "laptop",
        "portable",
        "hand held",
        "tablet",
        "convertible",
        "detachable",
    ]) {
        Chassis::Portable
    } else if has(&[
        "desktop",
        "tower",
        "all in one",
        "all-in-one",
        "pizza box",
        "lunch box",
        "space-saving",
        "mini pc",
        "stick pc",
    ]) {
        Chassis::Desktop
    } else {
        Chassis::Unknown
    }
}

/// The device kind from the operating system, the chassis and the virtual flag — never from the
/// host name.
pub(crate) fn infer_kind(os: &Os, chassis_type: &str, is_virtual: Option<bool>) -> DeviceKind {
    let os_name = clean(&os.name).unwrap_or("").to_ascii_lowercase();
    let chassis = chassis(chassis_type);
    let platform = match &os.platform {
        Platform::Unknown | Platform::Other(_) => platform_from_os_name(&os_name),
        p => p.clone(),
    };
    match platform {
        Platform::Windows => {
            let windows_type = os
                .windows
                .as_ref()
                .and_then(|w| clean(&w.windows_type))
                .unwrap_or("")
                .to_ascii_lowercase();
            if windows_type.contains("server")
                || windows_type.contains("domain controller")
                || os_name.contains("server")
            {
                DeviceKind::Server
            } else {
                DeviceKind::Workstation
            }
        }
        Platform::Mac => DeviceKind::Workstation,
        Platform::Solaris | Platform::Aix => DeviceKind::Server,
        Platform::Linux => {
            if os_name.contains("desktop") || os_name.contains("workstation") {
                return DeviceKind::Workstation;
            }
            match chassis {
                Chassis::Portable | Chassis::Desktop => DeviceKind::Workstation,
                // Linux VMs and unclassified Linux machines under Tanium are servers.
                Chassis::Server | Chassis::Virtual | Chassis::Unknown => DeviceKind::Server,
            }
        }
        Platform::Unknown | Platform::Other(_) => {
            if ["android", "ios", "ipados"].iter().any(|m| {
                os_name
                    .split(|c: char| !c.is_alphanumeric())
                    .any(|w| w == *m)
            }) {
                return DeviceKind::MobileDevice;
            }
            match chassis {
                Chassis::Portable | Chassis::Desktop => DeviceKind::Workstation,
                Chassis::Server => DeviceKind::Server,
                Chassis::Virtual | Chassis::Unknown => {
                    if os_name.contains("server") && is_virtual.is_some() {
                        DeviceKind::Server
                    } else {
                        DeviceKind::Unknown
                    }
                }
            }
        }
    }
}

pub(crate) fn platform_from_os_name(os_name: &str) -> Platform {
    if os_name.contains("windows") {
        Platform::Windows
    } else if os_name.contains("mac os") || os_name.contains("macos") || os_name.contains("os x") {
        Platform::Mac
    } else if [
        "linux", "ubuntu", "red hat", "centos", "debian", "suse", "rocky", "alma",
    ]
    .iter()
    .any(|d| os_name.contains(d))
    {
        Platform::Linux
    } else if os_name.contains("solaris") {
        Platform::Solaris
    } else if os_name.contains("aix") {
        Platform::Aix
    } else {
        Platform::Unknown
    }
}

pub(crate) fn platform_name(p: &Platform) -> &str {
    match p {
        Platform::Unknown => "Unknown",
        Platform::Windows => "Windows",
        Platform::Linux => "Linux",
        Platform::Mac => "Mac",
        Platform::Solaris => "Solaris",
        Platform::Aix => "AIX",
        Platform::Other(s) => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::tanium::queries::WindowsOs;

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
    fn kind_comes_from_os_chassis_and_virtual_flag_not_host_names() {
        let win = |t| os("Windows 11 Pro", Platform::Windows, Some(t));
        assert_eq!(
            infer_kind(&win("Workstation"), "Notebook", Some(false)),
            DeviceKind::Workstation
        );
        assert_eq!(
            infer_kind(&win("Server"), "Virtual", Some(true)),
            DeviceKind::Server
        );
        assert_eq!(
            infer_kind(&win("Domain Controller"), "Rack Mount Chassis", Some(false)),
            DeviceKind::Server
        );
        let srv = os("Windows Server 2022 Standard", Platform::Windows, None);
        assert_eq!(infer_kind(&srv, "", None), DeviceKind::Server);
        // A VDI desktop is still a workstation.
        assert_eq!(
            infer_kind(&win("Workstation"), "Virtual", Some(true)),
            DeviceKind::Workstation
        );
        let linux = os("Ubuntu 22.04.4 LTS", Platform::Linux, None);
        assert_eq!(
            infer_kind(&linux, "Virtual", Some(true)),
            DeviceKind::Server
        );
        assert_eq!(
            infer_kind(&linux, "Notebook", Some(false)),
            DeviceKind::Workstation
        );
        assert_eq!(
            infer_kind(&linux, "TSE-Error: timed out", None),
            DeviceKind::Server
        );
        let mac = os("macOS 14.4", Platform::Mac, None);
        assert_eq!(
            infer_kind(&mac, "Laptop", Some(false)),
            DeviceKind::Workstation
        );
        assert_eq!(
            infer_kind(&os("AIX 7.2", Platform::Aix, None), "", None),
            DeviceKind::Server
        );
        let unknown = os("", Platform::Unknown, None);
        assert_eq!(
            infer_kind(&unknown, "Desktop", None),
            DeviceKind::Workstation
        );
        assert_eq!(infer_kind(&unknown, "", None), DeviceKind::Unknown);
        let android = os("Android 14", Platform::Other("Android".into()), None);
        assert_eq!(infer_kind(&android, "", None), DeviceKind::MobileDevice);
        // "studios" contains "ios" but is no mobile OS.
        let odd = os("StudiOS appliance", Platform::Unknown, None);
        assert_eq!(infer_kind(&odd, "", None), DeviceKind::Unknown);
    }
}
