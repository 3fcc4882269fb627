//! Column lists both SQL dialects share (the schema's names are the same in both).

/// The extension columns the engine writes, in [`crate::model::ExtensionRow`] order; the same
/// names in `workstation_assets` and `server_assets`. `current_user` is quoted: it is a reserved
/// word in PostgreSQL.
pub(crate) const EXTENSION_COLUMNS: [&str; 21] = [
    "os_type",
    "os_version",
    "agent_version",
    "\"current_user\"",
    "uptime_seconds",
    "lan_ip",
    "wan_ip",
    "antivirus_status",
    "antivirus_product",
    "last_reboot_at",
    "pending_patches",
    "pending_os_patches",
    "pending_software_patches",
    "failed_patches",
    "last_patch_scan_at",
    "cpu_model",
    "cpu_cores",
    "ram_gb",
    "disk_usage",
    "installed_software",
    "system_info",
];
