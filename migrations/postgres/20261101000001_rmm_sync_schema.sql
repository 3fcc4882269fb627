-- rmm-sync schema for PostgreSQL.
--
-- Table and column names follow the reference PSA schema, so this migration both creates a
-- fresh database and adopts one that already has the reference tables: every table is
-- CREATE TABLE IF NOT EXISTS, and every column we rely on is added with ADD COLUMN IF NOT EXISTS.
-- Our own additions live in extra columns and in the rmm_sync_* tables.

-- rmm_integrations ------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS rmm_integrations (
    tenant uuid NOT NULL,
    integration_id uuid NOT NULL DEFAULT gen_random_uuid(),
    provider varchar(50) NOT NULL,
    instance_url varchar(255),
    is_active boolean NOT NULL DEFAULT false,
    connected_at timestamptz,
    last_sync_at timestamptz,
    last_full_sync_at timestamptz,
    last_incremental_sync_at timestamptz,
    sync_status varchar(20) DEFAULT 'pending',
    sync_error text,
    settings jsonb DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, integration_id)
);
ALTER TABLE rmm_integrations
    ADD COLUMN IF NOT EXISTS rmm_sync_cursor text,
    ADD COLUMN IF NOT EXISTS lease_holder text,
    ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
CREATE INDEX IF NOT EXISTS idx_rmm_integrations_tenant_active
    ON rmm_integrations (tenant, is_active);

-- rmm_organization_mappings (scopes) ------------------------------------------------------
CREATE TABLE IF NOT EXISTS rmm_organization_mappings (
    tenant uuid NOT NULL,
    mapping_id uuid NOT NULL DEFAULT gen_random_uuid(),
    integration_id uuid NOT NULL,
    external_organization_id varchar(255) NOT NULL,
    external_organization_name varchar(255),
    client_id uuid,
    auto_sync_assets boolean NOT NULL DEFAULT true,
    auto_create_tickets boolean NOT NULL DEFAULT false,
    metadata jsonb DEFAULT '{}'::jsonb,
    last_synced_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    default_contact_id uuid,
    PRIMARY KEY (tenant, mapping_id)
);
ALTER TABLE rmm_organization_mappings
    ADD COLUMN IF NOT EXISTS parent_external_id varchar(255),
    ADD COLUMN IF NOT EXISTS scope_kind varchar(20),
    ADD COLUMN IF NOT EXISTS vanished_at timestamptz;
CREATE UNIQUE INDEX IF NOT EXISTS idx_rmm_org_mappings_unique_external
    ON rmm_organization_mappings (tenant, integration_id, external_organization_id);
CREATE INDEX IF NOT EXISTS idx_rmm_org_mappings_client
    ON rmm_organization_mappings (tenant, client_id);

-- tenant_external_entity_mappings (device mappings) ---------------------------------------
CREATE TABLE IF NOT EXISTS tenant_external_entity_mappings (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    tenant uuid NOT NULL,
    integration_type varchar(50) NOT NULL,
    alga_entity_type varchar(50) NOT NULL,
    alga_entity_id varchar(255) NOT NULL,
    external_entity_id varchar(255) NOT NULL,
    external_realm_id varchar(255),
    sync_status varchar(20) DEFAULT 'pending',
    last_synced_at timestamptz,
    metadata jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);
ALTER TABLE tenant_external_entity_mappings
    ADD COLUMN IF NOT EXISTS integration_id uuid,
    ADD COLUMN IF NOT EXISTS fingerprint text,
    ADD COLUMN IF NOT EXISTS written jsonb,
    ADD COLUMN IF NOT EXISTS deleted_at timestamptz;

-- Adoption: reference rows predate integration_id. The reference allows one integration per
-- provider and tenant, so the owner is unambiguous; where a legacy schema kept one row per
-- realm for the same device, only the most recently synced row is claimed (the others stay,
-- untouched and invisible to rmm-sync) so the unique indexes below can be built.
UPDATE tenant_external_entity_mappings m
SET integration_id = i.integration_id
FROM (
    SELECT DISTINCT ON (tenant, integration_type, external_entity_id) tenant, id
    FROM tenant_external_entity_mappings
    WHERE alga_entity_type = 'asset' AND integration_id IS NULL
    ORDER BY tenant, integration_type, external_entity_id,
             last_synced_at DESC NULLS LAST, created_at DESC, id
) pick, rmm_integrations i
WHERE m.tenant = pick.tenant AND m.id = pick.id
  AND i.tenant = m.tenant AND i.provider = m.integration_type
  AND (SELECT count(*) FROM rmm_integrations i2
       WHERE i2.tenant = m.tenant AND i2.provider = m.integration_type) = 1;

CREATE UNIQUE INDEX IF NOT EXISTS rmm_sync_mappings_device_uq
    ON tenant_external_entity_mappings (tenant, integration_id, external_entity_id)
    WHERE alga_entity_type = 'asset';
-- Mark-and-sweep candidates: the live devices of one scope.
CREATE INDEX IF NOT EXISTS rmm_sync_mappings_realm_idx
    ON tenant_external_entity_mappings (tenant, integration_id, external_realm_id)
    WHERE alga_entity_type = 'asset';
-- Asset first: the same index answers "every mapping of these assets, any integration".
CREATE UNIQUE INDEX IF NOT EXISTS rmm_sync_mappings_asset_uq
    ON tenant_external_entity_mappings (tenant, alga_entity_id, integration_id)
    WHERE alga_entity_type = 'asset';

-- assets --------------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS assets (
    tenant uuid NOT NULL,
    asset_id uuid NOT NULL DEFAULT gen_random_uuid(),
    asset_type text NOT NULL DEFAULT 'unknown',
    client_id uuid NOT NULL,
    asset_tag text NOT NULL,
    serial_number text,
    name text NOT NULL,
    status text NOT NULL,
    location text,
    location_id uuid,
    purchase_date timestamp,
    warranty_end_date timestamp,
    attributes jsonb,
    notes_document_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, asset_id)
);
ALTER TABLE assets
    ADD COLUMN IF NOT EXISTS rmm_provider varchar(50),
    ADD COLUMN IF NOT EXISTS rmm_device_id varchar(255),
    ADD COLUMN IF NOT EXISTS rmm_organization_id varchar(255),
    ADD COLUMN IF NOT EXISTS agent_status varchar(20),
    ADD COLUMN IF NOT EXISTS last_seen_at timestamptz,
    ADD COLUMN IF NOT EXISTS last_rmm_sync_at timestamptz,
    ADD COLUMN IF NOT EXISTS rmm_identity jsonb;
-- Not unique on purpose: two integrations of one provider may reuse device ids; uniqueness
-- lives on the mapping.
CREATE INDEX IF NOT EXISTS idx_assets_rmm_device ON assets (tenant, rmm_provider, rmm_device_id);
CREATE INDEX IF NOT EXISTS idx_assets_agent_status ON assets (tenant, agent_status);

-- The reference created these as timestamp without time zone; optimistic concurrency compares
-- updated_at exactly, so they become timestamptz (values read as UTC).
DO $$
DECLARE col text;
BEGIN
    FOREACH col IN ARRAY ARRAY['created_at', 'updated_at'] LOOP
        IF EXISTS (
            SELECT 1 FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = 'assets'
              AND column_name = col AND data_type = 'timestamp without time zone'
        ) THEN
            EXECUTE format(
                'ALTER TABLE assets ALTER COLUMN %I TYPE timestamptz USING %I AT TIME ZONE ''UTC''',
                col, col);
        END IF;
    END LOOP;
END $$;

-- workstation_assets / server_assets -----------------------------------------------------
CREATE TABLE IF NOT EXISTS workstation_assets (
    tenant uuid NOT NULL,
    asset_id uuid NOT NULL,
    os_type varchar(255),
    os_version varchar(255),
    cpu_model varchar(255),
    cpu_cores integer,
    ram_gb double precision,
    storage_type varchar(255),
    storage_capacity_gb integer,
    gpu_model varchar(255),
    last_login timestamp,
    installed_software jsonb DEFAULT '[]'::jsonb,
    PRIMARY KEY (tenant, asset_id),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS server_assets (
    tenant uuid NOT NULL,
    asset_id uuid NOT NULL,
    os_type varchar(255),
    os_version varchar(255),
    cpu_model varchar(255),
    cpu_cores integer,
    ram_gb double precision,
    storage_config jsonb DEFAULT '[]'::jsonb,
    raid_config varchar(255),
    is_virtual boolean DEFAULT false,
    hypervisor varchar(255),
    network_interfaces jsonb DEFAULT '[]'::jsonb,
    primary_ip varchar(255),
    installed_services jsonb DEFAULT '[]'::jsonb,
    PRIMARY KEY (tenant, asset_id),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE
);
ALTER TABLE workstation_assets
    ADD COLUMN IF NOT EXISTS os_type varchar(255),
    ADD COLUMN IF NOT EXISTS os_version varchar(255),
    ADD COLUMN IF NOT EXISTS cpu_model varchar(255),
    ADD COLUMN IF NOT EXISTS cpu_cores integer,
    ADD COLUMN IF NOT EXISTS ram_gb double precision,
    ADD COLUMN IF NOT EXISTS agent_version varchar(255),
    ADD COLUMN IF NOT EXISTS antivirus_status varchar(50),
    ADD COLUMN IF NOT EXISTS antivirus_product varchar(255),
    ADD COLUMN IF NOT EXISTS last_reboot_at timestamptz,
    ADD COLUMN IF NOT EXISTS pending_patches integer,
    ADD COLUMN IF NOT EXISTS failed_patches integer,
    ADD COLUMN IF NOT EXISTS last_patch_scan_at timestamptz,
    ADD COLUMN IF NOT EXISTS system_info jsonb DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS "current_user" varchar(255),
    ADD COLUMN IF NOT EXISTS uptime_seconds bigint,
    ADD COLUMN IF NOT EXISTS lan_ip varchar(45),
    ADD COLUMN IF NOT EXISTS wan_ip varchar(45),
    ADD COLUMN IF NOT EXISTS cpu_utilization_percent decimal(5, 2),
    ADD COLUMN IF NOT EXISTS memory_usage_percent decimal(5, 2),
    ADD COLUMN IF NOT EXISTS memory_used_gb decimal(10, 2),
    ADD COLUMN IF NOT EXISTS disk_usage jsonb DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS pending_os_patches integer,
    ADD COLUMN IF NOT EXISTS pending_software_patches integer,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE server_assets
    ADD COLUMN IF NOT EXISTS os_type varchar(255),
    ADD COLUMN IF NOT EXISTS os_version varchar(255),
    ADD COLUMN IF NOT EXISTS cpu_model varchar(255),
    ADD COLUMN IF NOT EXISTS cpu_cores integer,
    ADD COLUMN IF NOT EXISTS ram_gb double precision,
    ADD COLUMN IF NOT EXISTS agent_version varchar(255),
    ADD COLUMN IF NOT EXISTS antivirus_status varchar(50),
    ADD COLUMN IF NOT EXISTS antivirus_product varchar(255),
    ADD COLUMN IF NOT EXISTS last_reboot_at timestamptz,
    ADD COLUMN IF NOT EXISTS pending_patches integer,
    ADD COLUMN IF NOT EXISTS failed_patches integer,
    ADD COLUMN IF NOT EXISTS last_patch_scan_at timestamptz,
    ADD COLUMN IF NOT EXISTS system_info jsonb DEFAULT '{}'::jsonb,
    ADD COLUMN IF NOT EXISTS disk_usage jsonb DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS cpu_usage_percent decimal(5, 2),
    ADD COLUMN IF NOT EXISTS memory_usage_percent decimal(5, 2),
    ADD COLUMN IF NOT EXISTS "current_user" varchar(255),
    ADD COLUMN IF NOT EXISTS uptime_seconds bigint,
    ADD COLUMN IF NOT EXISTS lan_ip varchar(45),
    ADD COLUMN IF NOT EXISTS wan_ip varchar(45),
    ADD COLUMN IF NOT EXISTS memory_used_gb decimal(10, 2),
    ADD COLUMN IF NOT EXISTS pending_os_patches integer,
    ADD COLUMN IF NOT EXISTS pending_software_patches integer,
    ADD COLUMN IF NOT EXISTS installed_software jsonb DEFAULT '[]'::jsonb,
    ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
-- Fractional RAM (Tanium reports 15.7 GB): the reference's integer column truncated it.
ALTER TABLE workstation_assets ALTER COLUMN ram_gb TYPE double precision;
ALTER TABLE server_assets ALTER COLUMN ram_gb TYPE double precision;

-- Our own tables ------------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS rmm_sync_failed_devices (
    tenant uuid NOT NULL,
    integration_id uuid NOT NULL,
    external_entity_id varchar(255) NOT NULL,
    error text NOT NULL,
    attempts integer NOT NULL,
    failed_at timestamptz NOT NULL,
    PRIMARY KEY (tenant, integration_id, external_entity_id)
);
CREATE TABLE IF NOT EXISTS rmm_sync_suppressed_devices (
    tenant uuid NOT NULL,
    integration_id uuid NOT NULL,
    external_entity_id varchar(255) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, integration_id, external_entity_id)
);
CREATE TABLE IF NOT EXISTS rmm_sync_runs (
    tenant uuid NOT NULL,
    run_id uuid NOT NULL,
    integration_id uuid NOT NULL,
    started_at timestamptz NOT NULL,
    report jsonb NOT NULL,
    recorded_seq bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (tenant, run_id)
);
CREATE INDEX IF NOT EXISTS rmm_sync_runs_recent
    ON rmm_sync_runs (tenant, integration_id, recorded_seq DESC);
-- Normalized hardware identifiers (kind s = serial, m = MAC, u = system UUID), maintained on
-- every asset write, for cross-provider matching.
CREATE TABLE IF NOT EXISTS rmm_sync_asset_identifiers (
    tenant uuid NOT NULL,
    asset_id uuid NOT NULL,
    kind char(1) NOT NULL,
    value text NOT NULL,
    -- No foreign key: rows are written and deleted together with their asset, and a per-row
    -- foreign-key check would cost more than the insert itself.
    PRIMARY KEY (tenant, asset_id, kind, value)
);
CREATE INDEX IF NOT EXISTS rmm_sync_asset_identifiers_lookup
    ON rmm_sync_asset_identifiers (tenant, kind, value);

-- updated_at maintenance ----------------------------------------------------------------------
-- rmm-sync sets updated_at itself on every write. Other writers (the host application, manual
-- SQL) get it maintained by this trigger when their UPDATE leaves it unchanged.
CREATE OR REPLACE FUNCTION rmm_sync_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
       AND current_setting('rmm_sync.writer', true) IS DISTINCT FROM 'on' THEN
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rmm_integrations', 'rmm_organization_mappings',
                             'tenant_external_entity_mappings', 'assets',
                             'workstation_assets', 'server_assets'] LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS rmm_sync_touch_updated_at ON %I', t);
        EXECUTE format('CREATE TRIGGER rmm_sync_touch_updated_at BEFORE UPDATE ON %I '
                       'FOR EACH ROW EXECUTE FUNCTION rmm_sync_touch_updated_at()', t);
    END LOOP;
END $$;
