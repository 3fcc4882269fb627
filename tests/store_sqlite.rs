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
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0x5eed_0000_0000_4000_8000_0000_0000_0001,
    ))
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
        count(
            store,
            "SELECT count(*) FROM tenant_external_entity_mappings"
        )
        .await,
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

/// The whole store conformance suite, one test per scenario, each on a fresh temp-file database
/// that is deleted when the test's last store handle drops.
mod conformance {
    use std::sync::Arc;

    use rmm_sync::store::sqlite::SqliteStore;

    rmm_sync::conformance_tests!(Arc::new(SqliteStore::temporary().await.unwrap()));

    /// The whole suite on one shared database file, as a host with one database runs it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn whole_suite_on_one_shared_database() {
        let store = Arc::new(SqliteStore::temporary().await.unwrap());
        let report = rmm_sync::store::conformance::run_all(store).await;
        assert!(report.is_success(), "{report}");
        assert!(report.skipped.is_empty(), "{report}");
    }
}

#[tokio::test]
async fn a_temporary_store_removes_its_files_when_dropped() {
    let store = SqliteStore::temporary().await.unwrap();
    let path = store.pool().connect_options().get_filename().to_owned();
    set_up(&store, "temporary").await;
    assert!(path.exists());
    let clone = store.clone();
    drop(store);
    assert!(path.exists(), "a clone still uses it");
    drop(clone);
    assert!(!path.exists(), "{} left behind", path.display());
}

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
        let sql =
            format!("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '{table}'");
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
    assert_eq!(
        ext.last_reboot_at,
        d.details.last_reboot_at.value().copied()
    );
    // The optimistic-concurrency guard compares updated_at exactly: an update must apply.
    d.display_name = "renamed by provider".into();
    let r = engine
        .ingest(
            &ctx.clone().at(now + chrono::Duration::microseconds(1)),
            vec![d],
        )
        .await
        .unwrap();
    assert_eq!(r.counts.updated, 1, "{:?}", r.outcomes);
}

#[tokio::test]
async fn every_double_reads_back_bit_for_bit() {
    // Reads render REAL through text (see the store's rows module): values that need all 17
    // significant digits, subnormals and the largest plausible RAM must survive unchanged.
    let store = SqliteStore::temporary().await.unwrap();
    let ctx = set_up(&store, "doubles").await;
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    let values = [
        0.1 + 0.2,
        1e-300,
        5e-324,
        1_048_575.999_999_999_9,
        123_456.789_012_345_68,
        15.7,
        7.700_000_000_000_001,
    ];
    let devices: Vec<DeviceSnapshot> = values
        .iter()
        .enumerate()
        .map(|(i, ram)| {
            let mut d = generate_device(i as u64, SCOPES, SEED);
            d.kind = DeviceKind::Server;
            d.details.ram_gb = Reported::Value(*ram);
            d
        })
        .collect();
    let r = engine.ingest(&ctx, devices).await.unwrap();
    assert_eq!(r.counts.created, values.len() as u64, "{:?}", r.outcomes);
    for (outcome, ram) in r.outcomes.iter().zip(values) {
        let a = store
            .get_asset(tenant(), outcome.asset_id.unwrap())
            .await
            .unwrap()
            .unwrap();
        let stored = a.extension.unwrap().ram_gb.unwrap();
        assert_eq!(
            stored.to_bits(),
            ram.to_bits(),
            "{ram:e} read back as {stored:e}"
        );
    }
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
        count(
            &store,
            "SELECT count(*) FROM tenant_external_entity_mappings"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_locked_database_or_an_exhausted_pool_is_unavailable_and_retryable() {
    let db = TempDb::new();
    db.open().await.close().await;
    let options = SqliteStoreOptions {
        max_connections: 1,
        busy_timeout: Duration::from_millis(50),
        acquire_timeout: Duration::from_millis(50),
    };
    let store = SqliteStore::connect_with(&db.url(), &options)
        .await
        .unwrap();
    let ctx = set_up(&store, "busy").await;

    // Another writer holds the write lock for longer than busy_timeout.
    let other = db.open().await;
    let mut lock = other.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
    sqlx::query("DELETE FROM rmm_sync_suppressed_devices")
        .execute(&mut *lock)
        .await
        .unwrap();
    let err = store
        .set_suppressed(tenant(), ctx.integration_id, &"dev-1".into(), true)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    lock.rollback().await.unwrap();
    store
        .set_suppressed(tenant(), ctx.integration_id, &"dev-1".into(), true)
        .await
        .unwrap();

    // Every pooled connection is checked out.
    let held = store.pool().acquire().await.unwrap();
    let err = store
        .get_integration(tenant(), ctx.integration_id)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_retryable());
    drop(held);
}

#[tokio::test]
async fn two_stores_on_one_file_write_concurrently_without_losing_anything() {
    let db = TempDb::new();
    let a = db.open().await;
    let b = db.open().await;
    let ctx_a = set_up(&a, "writer-a").await;
    let ctx_b = set_up(&b, "writer-b").await;
    let options = rmm_sync::ingest::EngineOptions {
        batch_size: 50,
        ..Default::default()
    };
    let engine_a = IngestionEngine::with_options(Arc::new(a.clone()), options.clone());
    let engine_b = IngestionEngine::with_options(Arc::new(b.clone()), options);
    // Interleaved small transactions from two pools: each waits for the other's write lock.
    let (ra, rb) = tokio::join!(
        engine_a.ingest(&ctx_a, devices(0..1000)),
        engine_b.ingest(&ctx_b, devices(0..1000)),
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!((ra.counts.created, rb.counts.created), (1000, 1000));
    // A re-sync of one races the other's changes.
    let mut changed = devices(0..1000);
    for d in changed.iter_mut().step_by(10) {
        d.display_name.push_str("-renamed");
    }
    let (ra, rb) = tokio::join!(
        engine_a.ingest(&ctx_a, devices(0..1000)),
        engine_b.ingest(&ctx_b, changed),
    );
    assert_eq!(ra.unwrap().counts.unchanged, 1000);
    assert_eq!(rb.unwrap().counts.updated, 100);
    // Same device ids in two integrations of one provider: two assets each, never adopted
    // across integrations.
    assert_eq!(count(&a, "SELECT count(*) FROM assets").await, 2000);
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM (SELECT integration_id, external_entity_id \
             FROM tenant_external_entity_mappings GROUP BY 1, 2 HAVING count(*) = 1)"
        )
        .await,
        2000
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM assets WHERE name LIKE '%-renamed'"
        )
        .await,
        100
    );
}

#[tokio::test]
async fn an_orchestrated_run_records_state_runs_and_releases_the_lease() {
    use rmm_sync::sync::{RunRequest, SyncOrchestrator};
    use rmm_sync::testkit::ScriptedProvider;

    let db = TempDb::new();
    let store: Arc<dyn AssetStore> = Arc::new(db.open().await);
    let provider = Arc::new(ScriptedProvider::generated(120, 3, 11));
    let spec = provider.integration_spec("orchestrated");
    store.upsert_integration(tenant(), &spec).await.unwrap();
    let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
    orchestrator
        .sync_scopes(tenant(), spec.integration_id, provider.as_ref())
        .await
        .unwrap();
    for scope in store
        .list_scopes(tenant(), spec.integration_id)
        .await
        .unwrap()
    {
        let map = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name(scope.external_id.as_str()))),
            auto_sync_assets: None,
        };
        store
            .assign_scope(tenant(), spec.integration_id, &scope.external_id, &map)
            .await
            .unwrap();
    }
    let first = orchestrator
        .run(
            tenant(),
            spec.integration_id,
            Arc::clone(&provider) as Arc<dyn rmm_sync::provider::RmmProvider>,
            RunRequest::full(),
        )
        .await
        .unwrap();
    assert_eq!(first.counts.created, 120, "{first:?}");
    provider.remove_device("dev-3");
    let second = orchestrator
        .run(
            tenant(),
            spec.integration_id,
            Arc::clone(&provider) as Arc<dyn rmm_sync::provider::RmmProvider>,
            RunRequest::full(),
        )
        .await
        .unwrap();
    assert_eq!(second.counts.unchanged, 119, "{second:?}");
    assert_eq!(second.counts.tombstoned, 1, "{second:?}");
    let m = store
        .get_mapping(tenant(), spec.integration_id, &"dev-3".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.status, MappingStatus::Deleted);

    let runs = store
        .recent_runs(tenant(), spec.integration_id, 10)
        .await
        .unwrap();
    assert_eq!(
        runs.iter().map(|r| r.run_id).collect::<Vec<_>>(),
        vec![second.run_id, first.run_id]
    );
    let record = store
        .get_integration(tenant(), spec.integration_id)
        .await
        .unwrap()
        .unwrap();
    assert!(record.last_full_sync_at.is_some());
    // The lease was released: another holder gets it at once.
    let lease = rmm_sync::store::LeaseRequest {
        holder: "someone-else".into(),
        expires_at: Utc::now() + chrono::Duration::minutes(5),
        now: Utc::now(),
    };
    assert!(
        store
            .try_acquire_lease(tenant(), spec.integration_id, &lease)
            .await
            .unwrap()
    );
}

// ---- crash safety -----------------------------------------------------------------------------

/// Set in a child copy of this test binary: the database it ingests into.
const CRASH_CHILD_DB: &str = "RMM_SYNC_SQLITE_CRASH_CHILD_DB";
/// Set in the child: abort after this many committed batches (absent: run until killed).
const CRASH_CHILD_ABORT_AFTER: &str = "RMM_SYNC_SQLITE_CRASH_CHILD_ABORT_AFTER";
const CRASH_BATCH: u64 = 100;

/// The child's side: ingest `CRASH_BATCH`-device batches, print `committed <k>` after each
/// commit, and die without any cleanup.
async fn crash_child(db: &str) -> ! {
    let abort_after: Option<u64> = std::env::var(CRASH_CHILD_ABORT_AFTER)
        .ok()
        .and_then(|v| v.parse().ok());
    let store = SqliteStore::connect(&format!("sqlite://{db}"))
        .await
        .unwrap();
    let ctx = IngestContext::new(tenant(), ProviderId::TANIUM, integration("crash"));
    let engine = IngestionEngine::new(Arc::new(store));
    for k in 1.. {
        let batch = devices((k - 1) * CRASH_BATCH..k * CRASH_BATCH);
        let r = engine.ingest(&ctx, batch).await.unwrap();
        assert_eq!(r.counts.created, CRASH_BATCH);
        println!("committed {k}");
        if abort_after == Some(k) {
            std::process::abort();
        }
    }
    unreachable!("the child runs until it aborts or is killed")
}

/// Runs this test again in a child process (only this test, in child mode).
fn spawn_child(test: &str, db: &Path, abort_after: Option<u64>) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CRASH_CHILD_DB, db)
        .env_remove(CRASH_CHILD_ABORT_AFTER)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(n) = abort_after {
        cmd.env(CRASH_CHILD_ABORT_AFTER, n.to_string());
    }
    cmd.spawn().unwrap()
}

fn last_committed(lines: &[String]) -> u64 {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("committed "))
        .filter_map(|n| n.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// After a crash: what was committed is whole batches, and a complete re-run ends with every
/// device exactly once and every committed asset kept.
async fn assert_recovers(db: &TempDb, reported: u64) {
    let store = db.open().await;
    let mapped = count(
        &store,
        "SELECT count(*) FROM tenant_external_entity_mappings",
    )
    .await as u64;
    assert_eq!(
        mapped % CRASH_BATCH,
        0,
        "a batch was half written: {mapped} mappings"
    );
    assert!(mapped >= reported * CRASH_BATCH, "lost a committed batch");
    assert_each_device_once(&store, mapped).await;
    let before = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap();

    let total = mapped + 3 * CRASH_BATCH;
    let ctx = IngestContext::new(tenant(), ProviderId::TANIUM, integration("crash"));
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    let r = engine.ingest(&ctx, devices(0..total)).await.unwrap();
    assert_eq!(r.counts.unchanged, mapped, "{:?}", r.counts);
    assert_eq!(r.counts.created, total - mapped, "{:?}", r.counts);
    assert_each_device_once(&store, total).await;
    for a in before {
        let now = store.get_asset(tenant(), a.asset_id).await.unwrap();
        assert_eq!(now.as_ref(), Some(&a), "committed asset changed or lost");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_aborted_between_batches_loses_and_duplicates_nothing() {
    if let Ok(db) = std::env::var(CRASH_CHILD_DB) {
        crash_child(&db).await;
    }
    let db = TempDb::new();
    set_up(&db.open().await, "crash").await;
    let child = spawn_child(
        "a_process_aborted_between_batches_loses_and_duplicates_nothing",
        &db.path,
        Some(3),
    );
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the child must die by abort");
    let lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(last_committed(&lines), 3, "{lines:?}");
    let store = db.open().await;
    assert_eq!(
        count(&store, "SELECT count(*) FROM assets").await as u64,
        3 * CRASH_BATCH
    );
    assert_recovers(&db, 3).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_process_killed_inside_a_batch_loses_and_duplicates_nothing() {
    if let Ok(db) = std::env::var(CRASH_CHILD_DB) {
        crash_child(&db).await;
    }
    let db = TempDb::new();
    set_up(&db.open().await, "crash").await;
    let mut child = spawn_child(
        "a_process_killed_inside_a_batch_loses_and_duplicates_nothing",
        &db.path,
        None,
    );
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let done = line.trim() == "committed 2";
        lines.push(line);
        if done {
            break;
        }
    }
    // Most of the child's time is spent inside a write transaction; kill it a few
    // milliseconds into the next batch (SIGKILL: no unwinding, no rollback, no close).
    std::thread::sleep(Duration::from_millis(
        1 + uuid::Uuid::new_v4().as_u128() as u64 % 15,
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(last_committed(&lines), 2, "{lines:?}");
    assert_recovers(&db, 2).await;
}

// ---- identifier rows ------------------------------------------------------------------------

/// The identifier rows a full rebuild would give, as (asset, kind, value), sorted.
async fn expected_identifier_rows(store: &SqliteStore) -> Vec<(String, String, String)> {
    let assets = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap();
    let mut rows = Vec::new();
    for a in &assets {
        let k = rmm_sync::ingest::identity::identity_keys(&a.identity, a.serial_number.as_deref());
        let id = a.asset_id.as_uuid().hyphenated().to_string();
        for (kind, list) in [
            ("s", k.serial_numbers),
            ("m", k.mac_addresses),
            ("u", k.system_uuids),
        ] {
            rows.extend(list.into_iter().map(|v| (id.clone(), kind.to_owned(), v)));
        }
    }
    rows.sort();
    rows
}

async fn identifier_rows(store: &SqliteStore) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT asset_id, kind, value FROM rmm_sync_asset_identifiers \
         ORDER BY asset_id, kind, value",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

#[tokio::test]
async fn identifier_rows_exist_only_once_matching_ran_and_then_follow_every_write() {
    let db = TempDb::new();
    let store = db.open().await;
    let ctx = set_up(&store, "ids").await;
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    engine.ingest(&ctx, devices(0..60)).await.unwrap();
    let marker = "SELECT count(*) FROM rmm_sync_identifier_tenants";
    assert!(
        identifier_rows(&store).await.is_empty(),
        "no identifiers while no run matches"
    );
    assert_eq!(count(&store, marker).await, 0);

    // The first matching run builds them for the whole tenant, then writes its own.
    let on = ctx.clone().with_cross_provider_matching(true);
    engine.ingest(&on, devices(60..80)).await.unwrap();
    assert_eq!(count(&store, marker).await, 1);
    let expected = expected_identifier_rows(&store).await;
    assert!(
        expected.len() >= 80,
        "the generated fleet has identifiers ({})",
        expected.len()
    );
    assert_eq!(identifier_rows(&store).await, expected);

    // Writes with matching off now maintain them: changed devices, new devices, a host edit.
    let mut changed = devices(0..30);
    for d in &mut changed {
        d.serial_number = Reported::Value(format!("CHANGED-{}", d.external_id.as_str()));
    }
    engine.ingest(&ctx, changed).await.unwrap();
    engine.ingest(&ctx, devices(80..100)).await.unwrap();
    let asset = store
        .list_assets(tenant(), &AssetFilter::default())
        .await
        .unwrap()[0]
        .asset_id;
    let edit = rmm_sync::store::HostAssetUpdate {
        serial_number: Some(Some("HOST-EDITED-1".into())),
        ..Default::default()
    };
    store
        .update_asset(tenant(), asset, &edit, Utc::now())
        .await
        .unwrap();
    // Another matching run does not build again (nor duplicate anything).
    engine.ingest(&on, devices(60..80)).await.unwrap();
    assert_eq!(
        identifier_rows(&store).await,
        expected_identifier_rows(&store).await
    );
    assert_eq!(count(&store, marker).await, 1);
}
