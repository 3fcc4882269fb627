//! End-to-end SQLite store benchmark: generated fleet → ingestion engine → `SqliteStore`.
//!
//! ```text
//! cargo run --release --example store_bench_sqlite --features sqlite,testkit -- \
//!     --devices 100000 --scenario first-load|unchanged|changed-5pct [--baseline]
//! ```
//!
//! Each invocation measures one scenario in a fresh database file, so its peak RSS (VmHWM) is
//! the scenario's own. `unchanged` and `changed-5pct` first load the fleet in a child process
//! (not measured), then re-sync it. Devices are generated batch by batch, so memory reflects
//! the store and the engine, not a fleet held in memory. `--baseline` replaces the engine with
//! the reference implementation's row-at-a-time ingestion (5–9 sequential queries per device,
//! each device in its own transaction) against the same schema.

mod baseline;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::{
    ClientId, DeviceSnapshot, IntegrationId, OutcomeCounts, ProviderId, Reported, TenantId,
};
use rmm_sync::store::sqlite::SqliteStore;
use rmm_sync::store::{AssetStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::testkit::{generate_device, generate_fleet};

const SCOPES: u64 = 50;
const SEED: u64 = 42;
const BATCH: u64 = 1000;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    FirstLoad,
    Unchanged,
    Changed5Pct,
}

impl Scenario {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "first-load" => Some(Self::FirstLoad),
            "unchanged" => Some(Self::Unchanged),
            "changed-5pct" => Some(Self::Changed5Pct),
            _ => None,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::FirstLoad => "first-load",
            Self::Unchanged => "unchanged",
            Self::Changed5Pct => "changed-5pct",
        }
    }
}

struct Args {
    devices: u64,
    scenario: Scenario,
    baseline: bool,
    /// Use this file and keep it (internal: the child that prepares a re-sync).
    db: Option<PathBuf>,
    /// The database at `--db` already holds the fleet (profiling runs).
    prepared: bool,
    quiet: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: store_bench_sqlite --devices N --scenario first-load|unchanged|changed-5pct \
         [--baseline]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = Args {
        devices: 10_000,
        scenario: Scenario::FirstLoad,
        baseline: false,
        db: None,
        prepared: false,
        quiet: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--devices" => {
                args.devices = it
                    .next()
                    .and_then(|v| v.replace('_', "").parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--scenario" => {
                args.scenario = it
                    .next()
                    .and_then(|v| Scenario::parse(&v))
                    .unwrap_or_else(|| usage())
            }
            "--baseline" => args.baseline = true,
            "--db" => args.db = Some(it.next().map(PathBuf::from).unwrap_or_else(|| usage())),
            "--quiet" => args.quiet = true,
            "--prepared" => args.prepared = true,
            _ => usage(),
        }
    }
    args
}

pub(crate) fn tenant() -> TenantId {
    TenantId::from_uuid(uuid::Uuid::from_u128(
        0xbe4c_0000_0000_4000_8000_0000_0000_0001,
    ))
}

pub(crate) fn integration() -> IntegrationId {
    IntegrationId::from_name("bench")
}

/// Device `i` as the scenario's provider reports it: `changed-5pct` edits every 20th device.
fn device(i: u64, scenario: Scenario) -> DeviceSnapshot {
    let mut d = generate_device(i, SCOPES, SEED);
    if scenario == Scenario::Changed5Pct && i.is_multiple_of(20) {
        d.details.os_version = Reported::Value("10.0.99999".into());
    }
    d
}

async fn set_up(store: &SqliteStore) {
    let spec = IntegrationSpec {
        integration_id: integration(),
        provider: ProviderId::TANIUM,
        instance_url: None,
        is_active: true,
        settings: Default::default(),
    };
    store.upsert_integration(tenant(), &spec).await.unwrap();
    let (scopes, _) = generate_fleet(0, SCOPES, SEED);
    store
        .sync_scopes(tenant(), integration(), &scopes, true, chrono::Utc::now())
        .await
        .unwrap();
    for s in &scopes {
        let map = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name(s.id.as_str()))),
            auto_sync_assets: None,
        };
        store
            .assign_scope(tenant(), integration(), &s.id, &map)
            .await
            .unwrap();
    }
}

/// Peak resident set size of this process in KiB (`VmHWM`).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time of this process (all threads, user + system) in seconds, from `/proc/self/stat`.
/// Printed next to wall-clock time because a shared machine stretches the latter.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // USER_HZ is 100 on Linux.
    f.iter().sum::<u64>() as f64 / 100.0
}

async fn run_engine(store: &SqliteStore, args: &Args) -> OutcomeCounts {
    let ctx = IngestContext::new(tenant(), ProviderId::TANIUM, integration());
    let engine = IngestionEngine::new(Arc::new(store.clone()));
    let mut counts = OutcomeCounts::default();
    let mut start = 0;
    while start < args.devices {
        let end = (start + BATCH).min(args.devices);
        let batch = (start..end).map(|i| device(i, args.scenario)).collect();
        let r = engine.ingest(&ctx, batch).await.unwrap();
        counts.add(&r.counts);
        start = end;
    }
    counts
}

fn prepare_in_child(db: &std::path::Path, devices: u64) {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            "--devices",
            &devices.to_string(),
            "--scenario",
            "first-load",
            "--quiet",
        ])
        .arg("--db")
        .arg(db)
        .status()
        .unwrap();
    assert!(status.success(), "preparing the database failed");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = parse_args();
    let (path, temporary) = match &args.db {
        Some(p) => (p.clone(), false),
        None => (
            std::env::temp_dir().join(format!("rmm-sync-bench-{}.db", uuid::Uuid::new_v4())),
            true,
        ),
    };
    if args.scenario != Scenario::FirstLoad && !args.prepared {
        prepare_in_child(&path, args.devices);
    }
    let store = SqliteStore::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    if args.scenario == Scenario::FirstLoad {
        set_up(&store).await;
    }
    if args.baseline {
        sqlx::query(baseline::REFERENCE_INDEX)
            .execute(store.pool())
            .await
            .unwrap();
    }

    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let counts = if args.baseline {
        baseline::run(store.pool(), args.devices, |i| device(i, args.scenario)).await
    } else {
        run_engine(&store, &args).await
    };
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu_before;
    store.close().await;

    if !args.quiet {
        println!(
            "store=sqlite mode={} scenario={} devices={} elapsed_s={:.2} devices_per_s={:.0} \
             cpu_s={:.2} devices_per_cpu_s={:.0} peak_rss_mib={:.1} created={} updated={} unchanged={} failed={}",
            if args.baseline { "baseline" } else { "batched" },
            args.scenario.name(),
            args.devices,
            elapsed,
            args.devices as f64 / elapsed,
            cpu,
            args.devices as f64 / cpu.max(0.01),
            peak_rss_kib() as f64 / 1024.0,
            counts.created,
            counts.updated,
            counts.unchanged,
            counts.failed,
        );
    }
    if temporary {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}
