//! End-to-end store benchmark: a generated fleet driven through the ingestion engine in
//! batches of 1000 (as the orchestrator does), against a store, printing devices/second and
//! peak RSS. Run each scenario in its own process so the peak RSS is honest:
//!
//! ```text
//! cargo run --release --example store_bench --features testkit,postgres -- \
//!     --store postgres --devices 100000 --scenario first-load
//! ```
//!
//! Options: `--store memory|postgres`, `--devices N`,
//! `--scenario first-load|unchanged|changed-5pct`, `--baseline` (PostgreSQL only: the
//! reference's row-at-a-time writes, 5–9 sequential queries per device, one transaction per
//! device), `--url URL` (PostgreSQL admin URL; default `$RMM_SYNC_BENCH_POSTGRES_URL`, then
//! `postgres://postgres@127.0.0.1:5432/test`). A fresh database is created and dropped.
//!
//! Setup (scopes, and the first load that the re-sync scenarios start from) is not timed, and
//! the peak-RSS counter is reset after it (Linux `clear_refs`), so both figures are the
//! scenario's own. Devices are generated per batch, so memory is bounded by the batch.

#[cfg(feature = "postgres")]
mod baseline;
#[cfg(feature = "postgres")]
mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::{
    ClientId, DeviceSnapshot, IntegrationId, OutcomeCounts, ProviderId, Reported, TenantId,
};
use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::testkit::{fleet_epoch, generate_device, generate_fleet};

const BATCH: u64 = 1000;
const SCOPES: u64 = 50;
const SEED: u64 = 42;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    FirstLoad,
    Unchanged,
    Changed5Pct,
}

#[derive(Debug)]
struct Args {
    store: String,
    devices: u64,
    scenario: Scenario,
    baseline: bool,
    url: String,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        store: "memory".into(),
        devices: 10_000,
        scenario: Scenario::FirstLoad,
        baseline: false,
        url: std::env::var("RMM_SYNC_BENCH_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--store" => args.store = value()?,
            "--devices" => {
                args.devices = value()?
                    .parse()
                    .map_err(|_| "--devices needs a number".to_string())?
            }
            "--scenario" => {
                args.scenario = match value()?.as_str() {
                    "first-load" => Scenario::FirstLoad,
                    "unchanged" => Scenario::Unchanged,
                    "changed-5pct" => Scenario::Changed5Pct,
                    other => return Err(format!("unknown scenario {other}")),
                }
            }
            "--baseline" => args.baseline = true,
            "--url" => args.url = value()?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// Device `i` as the provider reports it in `scenario`: the re-sync of a 5% change moves
/// every 20th device's OS build and last-seen time.
fn device(i: u64, scenario: Scenario) -> DeviceSnapshot {
    let mut d = generate_device(i, SCOPES, SEED);
    if scenario == Scenario::Changed5Pct && i % 20 == 0 {
        d.details.os_version = Reported::Value(format!("10.0.{}", 30_000 + i % 1000));
        d.last_seen_at = Reported::Value(fleet_epoch());
    }
    d
}

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(0xbe7c_0000_0000_4000_8000_0000_0000_0001))
}

fn spec() -> IntegrationSpec {
    IntegrationSpec {
        integration_id: IntegrationId::from_name("bench"),
        provider: ProviderId::new("bench").expect("slug"),
        instance_url: None,
        is_active: true,
        settings: Default::default(),
    }
}

/// Integration, scopes, and every scope mapped to a client.
async fn prepare(store: &dyn AssetStore) {
    let spec = spec();
    store.upsert_integration(tenant(), &spec).await.expect("integration");
    let (scopes, _) = generate_fleet(0, SCOPES, SEED);
    store
        .sync_scopes(tenant(), spec.integration_id, &scopes, true, fleet_epoch())
        .await
        .expect("scopes");
    for s in &scopes {
        let client = ClientId::from_name(&format!("client-{}", s.id));
        store
            .assign_scope(
                tenant(),
                spec.integration_id,
                &s.id,
                &ScopeAssignment {
                    client_id: Some(Some(client)),
                    auto_sync_assets: None,
                },
            )
            .await
            .expect("assign");
    }
}

/// What drives one batch into the store.
enum Driver {
    Engine(IngestionEngine),
    #[cfg(feature = "postgres")]
    Baseline(baseline::Baseline),
}

impl Driver {
    async fn ingest(&self, batch: Vec<DeviceSnapshot>, counts: &mut OutcomeCounts) {
        match self {
            Driver::Engine(engine) => {
                let ctx = IngestContext::new(tenant(), spec().provider, spec().integration_id);
                let r = engine.ingest(&ctx, batch).await.expect("ingest");
                counts.add(&r.counts);
            }
            #[cfg(feature = "postgres")]
            Driver::Baseline(b) => b.ingest(&batch, counts).await,
        }
    }
}

/// Ingests the whole fleet as `scenario` sees it; returns the time spent in the driver.
async fn run(driver: &Driver, devices: u64, scenario: Scenario) -> (Duration, OutcomeCounts) {
    let mut counts = OutcomeCounts::default();
    let mut spent = Duration::ZERO;
    let mut start = 0;
    while start < devices {
        let end = (start + BATCH).min(devices);
        let batch: Vec<DeviceSnapshot> = (start..end).map(|i| device(i, scenario)).collect();
        let t = Instant::now();
        driver.ingest(batch, &mut counts).await;
        spent += t.elapsed();
        start = end;
    }
    (spent, counts)
}

/// Peak resident set size in MiB (`VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Resets the peak-RSS counter so setup does not count (Linux only; harmless elsewhere).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("store_bench: {e}");
            std::process::exit(2);
        }
    };
    let (driver, cleanup): (Driver, Option<Box<dyn FnOnce()>>) = match args.store.as_str() {
        "memory" if !args.baseline => {
            let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
            prepare(store.as_ref()).await;
            (Driver::Engine(IngestionEngine::new(store)), None)
        }
        #[cfg(feature = "postgres")]
        "postgres" => {
            let db = pg::BenchDb::create(&args.url).await;
            let store = Arc::new(
                rmm_sync::store::postgres::PostgresStore::connect(&db.url)
                    .await
                    .expect("connect"),
            );
            prepare(store.as_ref()).await;
            let driver = if args.baseline {
                Driver::Baseline(baseline::Baseline::new(
                    store.pool().clone(),
                    tenant(),
                    spec(),
                ))
            } else {
                Driver::Engine(IngestionEngine::new(store))
            };
            (driver, Some(Box::new(move || drop(db))))
        }
        // An `sqlite` arm goes here (same shape as `postgres`, with SqliteStore).
        other => {
            eprintln!(
                "store_bench: store {other:?} is not available (memory; postgres with feature \
                 postgres; --baseline needs postgres)"
            );
            std::process::exit(2);
        }
    };
    if args.scenario != Scenario::FirstLoad {
        run(&driver, args.devices, Scenario::FirstLoad).await;
    }
    reset_peak_rss();
    let (spent, counts) = run(&driver, args.devices, args.scenario).await;
    let rate = args.devices as f64 / spent.as_secs_f64();
    println!(
        "store={} baseline={} scenario={:?} devices={} seconds={:.2} devices_per_sec={:.0} \
         peak_rss_mib={:.1} created={} updated={} unchanged={} failed={}",
        args.store,
        args.baseline,
        args.scenario,
        args.devices,
        spent.as_secs_f64(),
        rate,
        peak_rss_mib(),
        counts.created,
        counts.updated,
        counts.unchanged,
        counts.failed,
    );
    drop(driver);
    if let Some(c) = cleanup {
        c();
    }
}
