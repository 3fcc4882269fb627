//! Migrations: idempotent, concurrent-safe, and able to adopt a database that already has the
//! reference PSA's tables.

use std::sync::Arc;

use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::Outcome;
use rmm_sync::model::{
    AssetId, DeviceKind, DeviceSnapshot, ExternalDeviceId, IntegrationId, ProviderId, Reported,
};
use rmm_sync::store::{AssetStore, MappingStatus};
use sqlx::Executor;

use super::common::{connect, count, tenant};
use super::harness::TestDb;

#[tokio::test]
async fn connecting_twice_and_concurrently_migrates_once() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let (a, b) = tokio::join!(connect(&db.url), connect(&db.url));
    drop((a, b));
    let again = connect(&db.url).await;
    again.migrate().await.expect("migrate is idempotent");
    let mut c = db.conn().await;
    let applied = count(
        &mut c,
        "SELECT count(*) FROM _sqlx_migrations WHERE success",
    )
    .await;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, files);
}

/// The reference schema as the PSA's own migrations leave it (only what matters here):
/// integer RAM, timestamps without time zone on assets, no rmm-sync columns, the reference's
/// unique indexes, and a legacy mapping row without integration_id.
const REFERENCE_DDL: &str = r#"
CREATE TABLE rmm_integrations (
    tenant uuid NOT NULL, integration_id uuid NOT NULL DEFAULT gen_random_uuid(),
    provider varchar(50) NOT NULL, instance_url varchar(255),
    is_active boolean NOT NULL DEFAULT false, connected_at timestamptz, last_sync_at timestamptz,
    last_full_sync_at timestamptz, last_incremental_sync_at timestamptz,
    sync_status varchar(20) DEFAULT 'pending', sync_error text, settings jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, integration_id));
CREATE UNIQUE INDEX idx_rmm_integrations_tenant_provider ON rmm_integrations (tenant, provider);
CREATE TABLE rmm_organization_mappings (
    tenant uuid NOT NULL, mapping_id uuid NOT NULL DEFAULT gen_random_uuid(),
    integration_id uuid NOT NULL, external_organization_id varchar(255) NOT NULL,
    external_organization_name varchar(255), client_id uuid,
    auto_sync_assets boolean NOT NULL DEFAULT true, metadata jsonb DEFAULT '{}',
    last_synced_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (tenant, mapping_id));
CREATE UNIQUE INDEX idx_rmm_org_mappings_unique_external
    ON rmm_organization_mappings (tenant, integration_id, external_organization_id);
CREATE TABLE tenant_external_entity_mappings (
    id uuid DEFAULT gen_random_uuid(), tenant uuid NOT NULL,
    integration_type varchar(50) NOT NULL, alga_entity_type varchar(50) NOT NULL,
    alga_entity_id varchar(255) NOT NULL, external_entity_id varchar(255) NOT NULL,
    external_realm_id varchar(255), sync_status varchar(20) DEFAULT 'pending',
    last_synced_at timestamptz, metadata jsonb,
    created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, tenant));
CREATE UNIQUE INDEX idx_unique_alga_mapping ON tenant_external_entity_mappings
    (tenant, integration_type, alga_entity_type, alga_entity_id);
CREATE UNIQUE INDEX idx_unique_external_mapping ON tenant_external_entity_mappings
    (tenant, integration_type, alga_entity_type, external_entity_id, COALESCE(external_realm_id, ''));
CREATE TABLE assets (
    tenant uuid NOT NULL, asset_id uuid NOT NULL DEFAULT gen_random_uuid(),
    asset_type text NOT NULL DEFAULT 'unknown', client_id uuid NOT NULL, asset_tag text NOT NULL,
    serial_number text, name text NOT NULL, status text NOT NULL, location text,
    attributes jsonb, created_at timestamp DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp DEFAULT CURRENT_TIMESTAMP, rmm_provider varchar(50),
    rmm_device_id varchar(255), rmm_organization_id varchar(255), agent_status varchar(20),
    last_seen_at timestamptz, last_rmm_sync_at timestamptz, PRIMARY KEY (tenant, asset_id));
CREATE TABLE workstation_assets (
    tenant uuid NOT NULL, asset_id uuid NOT NULL, os_type varchar(255), os_version varchar(255),
    cpu_model varchar(255), cpu_cores integer, ram_gb integer, gpu_model varchar(255),
    installed_software jsonb DEFAULT '[]', PRIMARY KEY (tenant, asset_id),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE);
CREATE TABLE server_assets (
    tenant uuid NOT NULL, asset_id uuid NOT NULL, os_type varchar(255), cpu_cores integer,
    ram_gb integer, is_virtual boolean DEFAULT false, PRIMARY KEY (tenant, asset_id),
    FOREIGN KEY (tenant, asset_id) REFERENCES assets (tenant, asset_id) ON DELETE CASCADE);
"#;

const INTEGRATION: &str = "00000000-0000-4000-8000-0000000000aa";
const ASSET: &str = "00000000-0000-4000-8000-0000000000bb";
const CLIENT: &str = "00000000-0000-4000-8000-0000000000cc";

#[tokio::test]
async fn adopts_a_database_on_the_reference_schema() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let t = tenant().to_string();
    let mut c = db.conn().await;
    c.execute(REFERENCE_DDL).await.expect("reference DDL");
    // What the reference left behind: an integration, a mapped scope, an asset with its
    // workstation row (integer RAM), and its device mapping (no integration_id).
    c.execute(
        format!(
            "INSERT INTO rmm_integrations (tenant, integration_id, provider, is_active, settings)
               VALUES ('{t}', '{INTEGRATION}', 'tacticalrmm', true, '\"{{\\\"region\\\": \\\"eu\\\"}}\"');
             INSERT INTO rmm_organization_mappings (tenant, integration_id, external_organization_id,
               external_organization_name, client_id)
               VALUES ('{t}', '{INTEGRATION}', 'site-1', 'Site 1', '{CLIENT}');
             INSERT INTO assets (tenant, asset_id, asset_type, client_id, asset_tag, serial_number,
               name, status, rmm_provider, rmm_device_id, rmm_organization_id, created_at, updated_at)
               VALUES ('{t}', '{ASSET}', 'workstation', '{CLIENT}', 'TAG-1', '', 'pc-1', 'active',
                       'tacticalrmm', 'agent-1', 'site-1', '2025-01-01 10:00:00', '2025-01-01 10:00:00');
             INSERT INTO workstation_assets (tenant, asset_id, os_type, ram_gb)
               VALUES ('{t}', '{ASSET}', 'Windows', 16);
             INSERT INTO tenant_external_entity_mappings (tenant, integration_type, alga_entity_type,
               alga_entity_id, external_entity_id, external_realm_id, sync_status, last_synced_at)
               VALUES ('{t}', 'tacticalrmm', 'asset', '{ASSET}', 'agent-1', 'site-1', 'synced',
                       '2025-01-01 10:00:00+00');
             INSERT INTO tenant_external_entity_mappings (tenant, integration_type, alga_entity_type,
               alga_entity_id, external_entity_id)
               VALUES ('{t}', 'xero', 'client', 'not-a-uuid', 'C-1');"
        )
        .as_str(),
    )
    .await
    .expect("reference rows");

    let store = connect(&db.url).await;

    // The columns were migrated in place.
    let ram_type: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns
         WHERE table_name = 'workstation_assets' AND column_name = 'ram_gb'",
    )
    .fetch_one(&mut c)
    .await
    .unwrap();
    assert_eq!(ram_type, "double precision");
    let integration = IntegrationId::from_uuid(INTEGRATION.parse().unwrap());
    let record = store
        .get_integration(tenant(), integration)
        .await
        .unwrap()
        .expect("the reference integration");
    assert_eq!(
        record.settings.get("region").and_then(|v| v.as_str()),
        Some("eu")
    );
    let asset_id = AssetId::from_uuid(ASSET.parse().unwrap());
    let asset = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();
    assert_eq!(asset.extension.as_ref().unwrap().ram_gb, Some(16.0));
    let mapping = store
        .get_mapping(tenant(), integration, &ExternalDeviceId::new("agent-1"))
        .await
        .unwrap()
        .expect("the legacy mapping was claimed by the integration");
    assert_eq!(mapping.asset_id, asset_id);
    assert_eq!(mapping.status, MappingStatus::Synced);

    // The engine updates the adopted asset in place (no duplicate) and keeps fractional RAM.
    let engine = IngestionEngine::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let ctx = IngestContext::new(tenant(), ProviderId::TACTICALRMM, integration);
    let mut snap = DeviceSnapshot::new("agent-1", "site-1", DeviceKind::Workstation, "pc-1");
    snap.details.ram_gb = Reported::Value(15.7);
    let r = engine.ingest(&ctx, vec![snap]).await.unwrap();
    assert_eq!(r.outcomes[0].outcome, Outcome::Updated, "{:?}", r.outcomes);
    assert_eq!(r.outcomes[0].asset_id, Some(asset_id));
    let asset = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();
    assert_eq!(asset.extension.unwrap().ram_gb, Some(15.7));
    assert_eq!(count(&mut c, "SELECT count(*) FROM assets").await, 1);
    // Rows of other entity types are left alone.
    assert_eq!(
        count(&mut c, "SELECT count(*) FROM tenant_external_entity_mappings WHERE integration_type = 'xero' AND integration_id IS NULL").await,
        1
    );
}

#[tokio::test]
async fn updated_at_is_maintained_for_other_writers_and_exact_for_ours() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = connect(&db.url).await;
    let p = rmm_sync::testkit::ScriptedProvider::generated(1, 1, 5);
    let spec = p.integration_spec("touch");
    let scopes = rmm_sync::provider::ScopeSource::list_scopes(&p)
        .await
        .unwrap();
    let id = super::common::prepare(&store, &spec, &scopes).await;
    let engine = IngestionEngine::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let ctx = IngestContext::new(tenant(), spec.provider.clone(), id);
    let devices = p
        .device_ids()
        .iter()
        .filter_map(|d| p.device(d.as_str()))
        .collect();
    let r = engine.ingest(&ctx, devices).await.unwrap();
    let asset_id = r.outcomes[0].asset_id.unwrap();
    let before = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();

    // A host writer that forgets updated_at still moves it (the engine then sees the edit).
    let mut c = db.conn().await;
    sqlx::query("UPDATE assets SET name = 'renamed by hand' WHERE asset_id = $1")
        .bind(asset_id.as_uuid())
        .execute(&mut c)
        .await
        .unwrap();
    let after = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();
    assert!(after.updated_at > before.updated_at, "{after:?}");

    // rmm-sync's own writes keep exactly the time they set, even an unchanged one.
    store
        .update_asset(
            tenant(),
            asset_id,
            &rmm_sync::store::HostAssetUpdate {
                name: Some("again".into()),
                ..Default::default()
            },
            after.updated_at,
        )
        .await
        .unwrap();
    let exact = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();
    assert_eq!(exact.updated_at, after.updated_at);
    assert_eq!(exact.name, "again");
}
