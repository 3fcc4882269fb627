//! A process killed between or inside batches loses nothing committed and duplicates nothing
//! when run again. The test re-runs its own binary as the "worker" that gets killed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use rmm_sync::ingest::{EngineOptions, IngestContext, IngestionEngine};
use rmm_sync::model::ProviderId;
use rmm_sync::store::IntegrationSpec;
use rmm_sync::testkit::{fleet_epoch, generate_fleet};

use super::common::{connect, count, prepare, tenant};
use super::harness::TestDb;

const WORKER_URL: &str = "RMM_SYNC_CRASH_WORKER_URL";
const WORKER_ABORT_AFTER: &str = "RMM_SYNC_CRASH_WORKER_ABORT_AFTER";
const TEST_NAME: &str = "postgres::crash::killed_runs_lose_nothing_and_duplicate_nothing";
const DEVICES: u64 = 3000;
const BATCH: usize = 100;

fn spec() -> IntegrationSpec {
    IntegrationSpec {
        integration_id: rmm_sync::model::IntegrationId::from_name("crash"),
        provider: ProviderId::new("crashy").unwrap(),
        instance_url: None,
        is_active: true,
        settings: Default::default(),
    }
}

/// The worker: ingests the fleet batch by batch, printing `committed N` after each batch, and
/// aborts itself after `abort_after` batches when asked (otherwise the parent kills it).
async fn worker(url: String) {
    let abort_after: Option<usize> = std::env::var(WORKER_ABORT_AFTER)
        .ok()
        .and_then(|v| v.parse().ok());
    let store = connect(&url).await;
    let engine = IngestionEngine::with_options(
        store,
        EngineOptions {
            batch_size: BATCH,
            ..EngineOptions::default()
        },
    );
    let spec = spec();
    let ctx =
        IngestContext::new(tenant(), spec.provider.clone(), spec.integration_id).at(fleet_epoch());
    let (_, devices) = generate_fleet(DEVICES, 5, 7);
    for (i, chunk) in devices.chunks(BATCH).enumerate() {
        let r = engine.ingest(&ctx, chunk.to_vec()).await.expect("ingest");
        assert_eq!(r.counts.failed, 0, "{:?}", r.outcomes);
        println!("committed {}", (i + 1) * BATCH);
        if abort_after == Some(i + 1) {
            std::process::abort();
        }
    }
}

/// Runs the worker in a child process; returns the last count it reported before dying.
fn run_worker(url: &str, abort_after: Option<usize>, kill_after: Option<usize>) -> usize {
    let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
    cmd.args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(WORKER_URL, url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(n) = abort_after {
        cmd.env(WORKER_ABORT_AFTER, n.to_string());
    }
    let mut child = cmd.spawn().expect("spawn worker");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut reported = 0;
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("committed ") {
            reported = n.trim().parse().expect("a count");
            if kill_after.is_some_and(|k| reported >= k) {
                // SIGKILL while the worker is already inside its next batch.
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait().expect("wait for worker");
    assert!(
        !status.success(),
        "the worker was meant to die, not to finish"
    );
    reported
}

async fn committed_rows(db: &TestDb) -> i64 {
    let mut c = db.conn().await;
    let assets = count(&mut c, "SELECT count(*) FROM assets").await;
    let mappings = count(
        &mut c,
        "SELECT count(*) FROM tenant_external_entity_mappings WHERE alga_entity_type = 'asset'",
    )
    .await;
    let distinct = count(&mut c, "SELECT count(DISTINCT rmm_device_id) FROM assets").await;
    assert_eq!(
        assets, mappings,
        "every asset has its mapping and vice versa"
    );
    assert_eq!(distinct, assets, "no device was written twice");
    assert_eq!(
        assets % BATCH as i64,
        0,
        "batches are all or nothing: {assets} rows is not a whole number of batches"
    );
    assets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_lose_nothing_and_duplicate_nothing() {
    if let Ok(url) = std::env::var(WORKER_URL) {
        // We are the child process.
        return worker(url).await;
    }
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = connect(&db.url).await;
    let (scopes, devices) = generate_fleet(DEVICES, 5, 7);
    prepare(&store, &spec(), &scopes).await;
    drop(store);

    // 1. The worker aborts itself right after its third commit (between batches).
    let reported = run_worker(&db.url, Some(3), None);
    assert_eq!(reported, 3 * BATCH);
    assert_eq!(committed_rows(&db).await, 3 * BATCH as i64);

    // 2. A second worker starts over and is SIGKILLed while inside a later batch.
    let reported = run_worker(&db.url, None, Some(8 * BATCH));
    let after_kill = committed_rows(&db).await;
    assert!(
        after_kill >= reported as i64,
        "{after_kill} rows committed but the worker had reported {reported}"
    );

    // 3. A full run completes: each device exactly once, committed ones untouched.
    let store: Arc<_> = connect(&db.url).await;
    let engine = IngestionEngine::with_options(
        store,
        EngineOptions {
            batch_size: BATCH,
            ..EngineOptions::default()
        },
    );
    let spec = spec();
    let ctx =
        IngestContext::new(tenant(), spec.provider.clone(), spec.integration_id).at(fleet_epoch());
    let r = engine.ingest(&ctx, devices).await.expect("final run");
    assert_eq!(r.counts.failed, 0);
    assert_eq!(r.counts.unchanged, after_kill as u64);
    assert_eq!(r.counts.created, DEVICES - after_kill as u64);
    assert_eq!(committed_rows(&db).await, DEVICES as i64);
}
