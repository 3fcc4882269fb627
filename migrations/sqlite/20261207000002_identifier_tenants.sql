-- Tenants whose rmm_sync_asset_identifiers rows are complete and kept in step with every asset
-- write. Identifier rows exist only for cross-provider matching, so a tenant gets them the first
-- time a run with matching on correlates a batch: the store then rebuilds the tenant's rows from
-- its asset rows (serial_number, rmm_identity) and records the tenant here, in one transaction;
-- from then on every asset write of the tenant maintains them, whatever the writing
-- integration's own setting. A tenant not listed here has no identifier rows worth reading.
CREATE TABLE IF NOT EXISTS rmm_sync_identifier_tenants (
    tenant TEXT NOT NULL PRIMARY KEY,
    built_at TEXT NOT NULL
) WITHOUT ROWID;
-- Before this table existed every asset write maintained identifiers: existing tenants keep
-- them maintained.
INSERT OR IGNORE INTO rmm_sync_identifier_tenants (tenant, built_at)
SELECT DISTINCT tenant, strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM assets;
