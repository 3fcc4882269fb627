//! `SqliteStore`: the store conformance suite on a fresh temp-file database per test, plus the
//! behaviour only a file database has (creation, migrations, reopen, crash safety, several
//! writers, error mapping).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use rmm_sync::ErrorKind;
use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::{
    AssetId, ClientId, DeviceKind, DeviceSnapshot, IntegrationId, MappingId, ProviderId, Reported,
    TenantId,
};
use rmm_sync::store::sqlite::{SqliteStore, SqliteStoreOptions};
use rmm_sync::store::{
    AssetFilter, AssetStore, AssetWrite, DeviceWrite, ExtensionWrite, IntegrationSpec,
    MappingStatus, ScopeAssignment,
};
use rmm_sync::testkit::{generate_device, generate_fleet};

/// A database file in the temp dir, removed (with its WAL files) when dropped.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new() -> Self {
        let name = format!("rmm-sync-test-{}.db", uuid::Uuid::new_v4());
        Self {
            path: std::env::temp_dir().join(name),
        }
    }

    fn at(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }

    async fn open(&self) -> SqliteStore {
        SqliteStore::connect(&self.url()).await.expect("open store")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

const SCOPES: u64 = 4;
const SEED: u64 = 7;

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(0x5eed_0000_0000_4000_8000_0000_0000_0001))
}

fn integration(name: &str) -> IntegrationId {
    IntegrationId::from_name(name)
}

/// Creates the integration and maps every generated scope to a client.
async fn set_up(store: &dyn AssetStore, integration_name: &str) -> IngestContext {
    let integration_id = integration(integration_name);
    let spec = IntegrationSpec {
        integration_id,
        provider: ProviderId::TANIUM,
        instance_url: Some("https://tanium.example".into()),
        is_active: true,
        settings: Default::default(),
    };
    store.upsert_integration(tenant(), &spec).await.unwrap();
    let (scopes, _) = generate_fleet(0, SCOPES, SEED);
    store
        .sync_scopes(tenant(), integration_id, &scopes, true, Utc::now())
        .await
        .unwrap();
    for s in &scopes {
        let map = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name(s.id.as_str()))),
            auto_sync_assets: None,
        };
        store
            .assign_scope(tenant(), integration_id, &s.id, &map)
            .await
            .unwrap();
    }
    IngestContext::new(tenant(), ProviderId::TANIUM, integration_id)
}

fn devices(range: std::ops::Range<u64>) -> Vec<DeviceSnapshot> {
    range.map(|i| generate_device(i, SCOPES, SEED)).collect()
}

async fn count(store: &SqliteStore, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

/// Every device of `0..n` has exactly one live mapping, one asset, and nothing else exists.
async fn assert_each_device_once(store: &SqliteStore, n: u64) {
    assert_eq!(count(store, "SELECT count(*) FROM assets").await, n as i64);
    assert_eq!(
        count(store, "SELECT count(*) FROM tenant_external_entity_mappings").await,
        n as i64
    );
    assert_eq!(
        count(
            store,
            "SELECT count(DISTINCT external_entity_id) FROM tenant_external_entity_mappings"
        )
        .await,
        n as i64
    );
    let orphans = count(
        store,
        "SELECT count(*) FROM assets a WHERE NOT EXISTS (SELECT 1 FROM \
         tenant_external_entity_mappings m WHERE m.alga_entity_id = a.asset_id)",
    )
    .await;
    assert_eq!(orphans, 0, "assets without a mapping");
}

// ---- conformance --------------------------------------------------------------------------

// ---- file lifecycle ---------------------------------------------------------------------------

#[tokio::test]
async fn connect_creates_a_missing_file_and_migrates_it() {
    let db = TempDb::new();
    assert!(!db.path.exists());
    let store = db.open().await;
    assert!(db.path.exists(), "database file created");
    for table in [
        "rmm_integrations",
        "rmm_organization_mappings",
        "tenant_external_entity_mappings",
        "assets",
        "workstation_assets",
        "server_assets",
        "rmm_sync_failed_devices",
        "rmm_sync_suppressed_devices",
        "rmm_sync_runs",
        "rmm_sync_asset_identifiers",
    ] {
        let sql = format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
        assert_eq!(count(&store, &sql).await, 1, "{table}");
    }
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(fk, 1);
}

#[tokio::test]
async fn migrations_are_idempotent() {
    let db = TempDb::new();
    let first = db.open().await;
    let second = db.open().await;
    second.migrate().await.unwrap();
    first.migrate().await.unwrap();
    let applied = count(&first, "SELECT count(*) FROM _sqlx_migrations").await;
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite"))
        .unwrap()
        .count() as i64;
    assert_eq!(applied, embedded);
}

#[tokio::test]
async fn data_survives_reopen() {
    let db = TempDb::new();
    let store = db.open().await;
    let ctx = set_up(&store, "reopen").await;
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    let first = engine.ingest(&ctx, devices(0..300)).await.unwrap();
    assert_eq!(first.counts.created, 300);
    let before = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap();
    store.close().await;

    let reopened = db.open().await;
    let after = reopened
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap();
    assert_eq!(before, after);
    let engine = IngestionEngine::new(Arc::new(reopened.clone()));
    let again = engine.ingest(&ctx, devices(0..300)).await.unwrap();
    assert_eq!(again.counts.unchanged, 300, "{:?}", again.counts);
}

#[tokio::test]
async fn in_memory_url_works_and_keeps_data_across_calls() {
    let store = SqliteStore::connect("sqlite::memory:").await.unwrap();
    let ctx = set_up(&store, "memory").await;
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    engine.ingest(&ctx, devices(0..50)).await.unwrap();
    let again = engine.ingest(&ctx, devices(0..50)).await.unwrap();
    assert_eq!(again.counts.unchanged, 50);
}

#[tokio::test]
async fn a_bad_url_is_a_config_error_naming_the_url() {
    let err = SqliteStore::connect("postgres://user:secret@db/x")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    assert_eq!(err.context("key"), Some("url"));
    assert!(!format!("{err} {err:?}").contains("secret"), "{err:?}");
}

// ---- values -----------------------------------------------------------------------------------

#[tokio::test]
async fn timestamps_and_fractional_ram_round_trip_exactly() {
    let db = TempDb::new();
    let store = db.open().await;
    let now = Utc.timestamp_opt(1_790_000_000, 123_456_000).unwrap();
    let ctx = set_up(&store, "values").await.at(now);
    let mut d = DeviceSnapshot::new("dev-x", "scope-0", DeviceKind::Workstation, "x");
    d.last_seen_at = Reported::Value(Utc.timestamp_opt(1_789_999_000, 999_999_000).unwrap());
    d.details.ram_gb = Reported::Value(15.7);
    d.details.last_reboot_at = Reported::Value(Utc.timestamp_opt(1, 1_000).unwrap());
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    let r = engine.ingest(&ctx, vec![d.clone()]).await.unwrap();
    let asset_id = r.outcomes[0].asset_id.unwrap();
    let a = store.get_asset(tenant(), asset_id).await.unwrap().unwrap();
    assert_eq!(a.updated_at, now);
    assert_eq!(a.last_seen_at, d.last_seen_at.value().copied());
    let ext = a.extension.unwrap();
    assert_eq!(ext.ram_gb, Some(15.7));
    assert_eq!(ext.last_reboot_at, d.details.last_reboot_at.value().copied());
    // The optimistic-concurrency guard compares updated_at exactly: an update must apply.
    d.display_name = "renamed by provider".into();
    let r = engine.ingest(&ctx.clone().at(now + chrono::Duration::microseconds(1)), vec![d]).await.unwrap();
    assert_eq!(r.counts.updated, 1, "{:?}", r.outcomes);
}

// ---- reliability ------------------------------------------------------------------------------

#[tokio::test]
async fn a_unique_violation_is_a_conflict_and_the_batch_writes_nothing() {
    let db = TempDb::new();
    let store = db.open().await;
    let ctx = set_up(&store, "unique").await;
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    engine.ingest(&ctx, devices(0..1)).await.unwrap();
    let existing = store
        .get_mapping(tenant(), ctx.integration_id, &"dev-0".into())
        .await
        .unwrap()
        .unwrap();
    let asset = store
        .get_asset(tenant(), existing.asset_id)
        .await
        .unwrap()
        .unwrap();

    // A valid new device ...
    let mut new_asset = asset.clone();
    new_asset.asset_id = AssetId::new_random();
    new_asset.extension = None;
    let mut new_mapping = existing.clone();
    new_mapping.id = MappingId::new_random();
    new_mapping.external_id = "dev-new".into();
    new_mapping.asset_id = new_asset.asset_id;
    let valid = DeviceWrite {
        external_id: new_mapping.external_id.clone(),
        asset_id: new_asset.asset_id,
        asset: AssetWrite::Insert(new_asset),
        extension: ExtensionWrite::default(),
        mapping: new_mapping,
    };
    // ... and a second mapping row for a device that already has one.
    let mut duplicate = existing.clone();
    duplicate.id = MappingId::new_random();
    let clash = DeviceWrite {
        external_id: duplicate.external_id.clone(),
        asset_id: duplicate.asset_id,
        asset: AssetWrite::Keep,
        extension: ExtensionWrite::default(),
        mapping: duplicate,
    };
    let err = store.apply(tenant(), &[valid, clash]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("UNIQUE"), "{err}");
    assert_eq!(count(&store, "SELECT count(*) FROM assets").await, 1);
    assert_eq!(
        count(&store, "SELECT count(*) FROM tenant_external_entity_mappings").await,
        1
    );
}
