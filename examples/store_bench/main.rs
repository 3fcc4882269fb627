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
#![allow(clippy::future_not_send)] // a single-threaded benchmark driver; nothing is spawned

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
    if scenario == Scenario::Changed5Pct && i.is_multiple_of(20) {
        d.details.os_version = Reported::Value(format!("10.0.{}", 30_000 + i % 1000));
        d.last_seen_at = Reported::Value(fleet_epoch());
    }
    d
}

fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0xbe7c_0000_0000_4000_8000_0000_0000_0001,
    ))
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
    store
        .upsert_integration(tenant(), &spec)
        .await
        .expect("integration");
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

/// Drops the benchmark database at the end.
type Cleanup = Option<Box<dyn FnOnce()>>;

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

/// CPU seconds used so far by this process and by the PostgreSQL backends serving `database`
/// (Linux `/proc`; zeros elsewhere). Lets a run on a busy machine say how much CPU the work
/// itself took, whatever else was running.
fn cpu_seconds(database: Option<&str>) -> (f64, f64) {
    fn ticks(stat: &str) -> u64 {
        // Fields after the parenthesised command: utime and stime are the 12th and 13th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        n(11) + n(12)
    }
    const TICKS_PER_SECOND: f64 = 100.0;
    let own = ticks(&std::fs::read_to_string("/proc/self/stat").unwrap_or_default());
    let mut server = 0;
    if let (Some(db), Ok(dir)) = (database, std::fs::read_dir("/proc")) {
        for entry in dir.flatten() {
            let path = entry.path();
            let cmd = std::fs::read_to_string(path.join("cmdline")).unwrap_or_default();
            if cmd.starts_with("postgres: ") && cmd.contains(db) {
                server += ticks(&std::fs::read_to_string(path.join("stat")).unwrap_or_default());
            }
        }
    }
    (
        own as f64 / TICKS_PER_SECOND,
        server as f64 / TICKS_PER_SECOND,
    )
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
    // `setup` loads the fleet the re-sync scenarios start from (always through the engine, so
    // the baseline's re-sync meets the same rows); `driver` is what is measured.
    let mut database: Option<String> = None;
    let (setup, driver, cleanup): (Driver, Driver, Cleanup) = match args.store.as_str() {
        "memory" if !args.baseline => {
            let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
            prepare(store.as_ref()).await;
            let engine = IngestionEngine::new(store);
            (Driver::Engine(engine.clone()), Driver::Engine(engine), None)
        }
        #[cfg(feature = "postgres")]
        "postgres" => {
            let db = pg::BenchDb::create(&args.url).await;
            database = Some(db.name().to_owned());
            let store = Arc::new(
                rmm_sync::store::postgres::PostgresStore::connect(&db.url)
                    .await
                    .expect("connect"),
            );
            prepare(store.as_ref()).await;
            let engine = IngestionEngine::new(Arc::clone(&store) as Arc<dyn AssetStore>);
            let driver = if args.baseline {
                Driver::Baseline(baseline::Baseline::new(
                    store.pool().clone(),
                    tenant(),
                    spec(),
                ))
            } else {
                Driver::Engine(engine.clone())
            };
            (
                Driver::Engine(engine),
                driver,
                Some(Box::new(move || drop(db))),
            )
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
        run(&setup, args.devices, Scenario::FirstLoad).await;
    }
    reset_peak_rss();
    let cpu_before = cpu_seconds(database.as_deref());
    let (spent, counts) = run(&driver, args.devices, args.scenario).await;
    let cpu_after = cpu_seconds(database.as_deref());
    let (client_cpu, server_cpu) = (cpu_after.0 - cpu_before.0, cpu_after.1 - cpu_before.1);
    let rate = args.devices as f64 / spent.as_secs_f64();
    println!(
        "store={} baseline={} scenario={:?} devices={} seconds={:.2} devices_per_sec={:.0} \
         peak_rss_mib={:.1} created={} updated={} unchanged={} failed={} client_cpu_s={:.2} \
         server_cpu_s={:.2} devices_per_cpu_s={:.0} load={}",
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
        client_cpu,
        server_cpu,
        args.devices as f64 / (client_cpu + server_cpu),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .next()
            .unwrap_or("?"),
    );
    drop((setup, driver));
    if let Some(c) = cleanup {
        c();
    }
}
