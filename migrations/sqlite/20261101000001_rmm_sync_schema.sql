-- rmm-sync schema for SQLite (the embedded store).
--
-- Table and column names are the reference PSA schema's (and PostgresStore's), so the same
-- queries read both. SQLite types:
--   * uuids            TEXT, lowercase hyphenated (so alga_entity_id = asset_id compares as text)
--   * timestamps       TEXT, RFC 3339 UTC with exactly six fractional digits
--                      ('2026-11-01T12:00:00.000000Z'): exact at microsecond precision, and
--                      lexicographic order equals time order, so comparisons need no functions
--   * JSON             TEXT
--   * booleans         INTEGER 0/1
--   * ram_gb           REAL (fractional RAM; the reference's integer column truncated it)
-- rmm-sync binds every value itself; the DEFAULTs only serve rows a host inserts by hand.

-- rmm_integrations --------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS rmm_integrations (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    instance_url TEXT,
    is_active INTEGER NOT NULL DEFAULT 0,
    connected_at TEXT,
    last_sync_at TEXT,
    last_full_sync_at TEXT,
    last_incremental_sync_at TEXT,
    sync_status TEXT DEFAULT 'pending',
    sync_error TEXT,
    settings TEXT DEFAULT '{}',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    -- our additions
    rmm_sync_cursor TEXT,
    lease_holder TEXT,
    lease_expires_at TEXT,
    PRIMARY KEY (tenant, integration_id)
);
CREATE INDEX IF NOT EXISTS idx_rmm_integrations_tenant_active
    ON rmm_integrations (tenant, is_active);

-- rmm_organization_mappings (scopes) --------------------------------------------------------
CREATE TABLE IF NOT EXISTS rmm_organization_mappings (
    tenant TEXT NOT NULL,
    mapping_id TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_organization_id TEXT NOT NULL,
    external_organization_name TEXT,
    client_id TEXT,
    auto_sync_assets INTEGER NOT NULL DEFAULT 1,
    auto_create_tickets INTEGER NOT NULL DEFAULT 0,
    metadata TEXT DEFAULT '{}',
    last_synced_at TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    default_contact_id TEXT,
    -- our additions
    parent_external_id TEXT,
    scope_kind TEXT,
    vanished_at TEXT,
    PRIMARY KEY (tenant, mapping_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS idx_rmm_org_mappings_unique_external
    ON rmm_organization_mappings (tenant, integration_id, external_organization_id);
CREATE INDEX IF NOT EXISTS idx_rmm_org_mappings_client
    ON rmm_organization_mappings (tenant, client_id);

-- tenant_external_entity_mappings (device mappings) -----------------------------------------
CREATE TABLE IF NOT EXISTS tenant_external_entity_mappings (
    id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    integration_type TEXT NOT NULL,
    alga_entity_type TEXT NOT NULL,
    alga_entity_id TEXT NOT NULL,
    external_entity_id TEXT NOT NULL,
    external_realm_id TEXT,
    sync_status TEXT DEFAULT 'pending',
    last_synced_at TEXT,
    metadata TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    -- our additions
    integration_id TEXT,
    fingerprint TEXT,
    written TEXT,
    deleted_at TEXT,
    PRIMARY KEY (tenant, id)
);
-- One mapping per device and one per asset in an integration (rows of other entity types,
-- which the host may keep in the same table, are not constrained).
CREATE UNIQUE INDEX IF NOT EXISTS rmm_sync_mappings_device_uq
    ON tenant_external_entity_mappings (tenant, integration_id, external_entity_id)
    WHERE alga_entity_type = 'asset';
CREATE UNIQUE INDEX IF NOT EXISTS rmm_sync_mappings_asset_uq
    ON tenant_external_entity_mappings (tenant, integration_id, alga_entity_id)
    WHERE alga_entity_type = 'asset';
CREATE INDEX IF NOT EXISTS rmm_sync_mappings_asset_idx
    ON tenant_external_entity_mappings (tenant, alga_entity_id)
    WHERE alga_entity_type = 'asset';
-- Mark-and-sweep candidates: live devices of one scope.
CREATE INDEX IF NOT EXISTS rmm_sync_mappings_realm_idx
    ON tenant_external_entity_mappings (tenant, integration_id, external_realm_id)
    WHERE alga_entity_type = 'asset';

-- assets ------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS assets (
    tenant TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    asset_type TEXT NOT NULL DEFAULT 'unknown',
    client_id TEXT NOT NULL,
    asset_tag TEXT NOT NULL,
    serial_number TEXT,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    location TEXT,
    location_id TEXT,
    purchase_date TEXT,
    warranty_end_date TEXT,
    attributes TEXT,
    notes_document_id TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    rmm_provider TEXT,
    rmm_device_id TEXT,
    rmm_organization_id TEXT,
    agent_status TEXT,
    last_seen_at TEXT,
    last_rmm_sync_at TEXT,
    -- our addition: IdentityHints as JSON
    rmm_identity TEXT,
    PRIMARY KEY (tenant, asset_id)
);
-- Not unique on purpose: two integrations of one provider may reuse device ids (NinjaOne ids
-- are per-instance integers); uniqueness lives on the mapping.
CREATE INDEX IF NOT EXISTS idx_assets_rmm_device ON assets (tenant, rmm_provider, rmm_device_id);
CREATE INDEX IF NOT EXISTS idx_assets_agent_status ON assets (tenant, agent_status);

-- workstation_assets / server_assets --------------------------------------------------------
CREATE TABLE IF NOT EXISTS workstation_assets (
    tenant TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    os_type TEXT,
    os_version TEXT,
    cpu_model TEXT,
    cpu_cores INTEGER,
    ram_gb REAL,
    storage_type TEXT,
    storage_capacity_gb INTEGER,
    gpu_model TEXT,
    last_login TEXT,
    installed_software TEXT DEFAULT '[]',
    agent_version TEXT,
    antivirus_status TEXT,
    antivirus_product TEXT,
    last_reboot_at TEXT,
    pending_patches INTEGER,
    failed_patches INTEGER,
    last_patch_scan_at TEXT,
    system_info TEXT DEFAULT '{}',
    "current_user" TEXT,
    uptime_seconds INTEGER,
    lan_ip TEXT,
    wan_ip TEXT,
    cpu_utilization_percent REAL,
    memory_usage_percent REAL,
    memory_used_gb REAL,
    disk_usage TEXT DEFAULT '[]',
    pending_os_patches INTEGER,
    pending_software_patches INTEGER,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    PRIMARY KEY (tenant, asset_id),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS server_assets (
    tenant TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    os_type TEXT,
    os_version TEXT,
    cpu_model TEXT,
    cpu_cores INTEGER,
    ram_gb REAL,
    storage_config TEXT DEFAULT '[]',
    raid_config TEXT,
    is_virtual INTEGER DEFAULT 0,
    hypervisor TEXT,
    network_interfaces TEXT DEFAULT '[]',
    primary_ip TEXT,
    installed_services TEXT DEFAULT '[]',
    agent_version TEXT,
    antivirus_status TEXT,
    antivirus_product TEXT,
    last_reboot_at TEXT,
    pending_patches INTEGER,
    failed_patches INTEGER,
    last_patch_scan_at TEXT,
    system_info TEXT DEFAULT '{}',
    disk_usage TEXT DEFAULT '[]',
    cpu_usage_percent REAL,
    memory_usage_percent REAL,
    "current_user" TEXT,
    uptime_seconds INTEGER,
    lan_ip TEXT,
    wan_ip TEXT,
    memory_used_gb REAL,
    pending_os_patches INTEGER,
    pending_software_patches INTEGER,
    installed_software TEXT DEFAULT '[]',
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    PRIMARY KEY (tenant, asset_id),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE
);

-- Our own tables ------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS rmm_sync_failed_devices (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_entity_id TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at TEXT NOT NULL,
    PRIMARY KEY (tenant, integration_id, external_entity_id)
);
CREATE TABLE IF NOT EXISTS rmm_sync_suppressed_devices (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    external_entity_id TEXT NOT NULL,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f000Z', 'now')),
    PRIMARY KEY (tenant, integration_id, external_entity_id)
);
CREATE TABLE IF NOT EXISTS rmm_sync_runs (
    tenant TEXT NOT NULL,
    run_id TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    started_at TEXT NOT NULL,
    report TEXT NOT NULL,
    -- record order (newest first in recent_runs), assigned on insert
    recorded_seq INTEGER NOT NULL,
    PRIMARY KEY (tenant, run_id)
);
CREATE INDEX IF NOT EXISTS rmm_sync_runs_recent
    ON rmm_sync_runs (tenant, integration_id, recorded_seq DESC);
-- Normalized hardware identifiers (kind s = serial, m = MAC, u = system UUID), maintained on
-- every asset write, for cross-provider matching.
CREATE TABLE IF NOT EXISTS rmm_sync_asset_identifiers (
    tenant TEXT NOT NULL,
    asset_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, asset_id, kind, value),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS rmm_sync_asset_identifiers_lookup
    ON rmm_sync_asset_identifiers (tenant, kind, value);
