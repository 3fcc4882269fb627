//! End to end: a simulated Tanium Gateway with N endpoints across M computer groups, the
//! Tanium adapter over real HTTP, a full `SyncOrchestrator` run into `InMemoryStore`, then an
//! unchanged re-run. Prints devices per second and peak RSS (VmHWM).
//!
//! ```text
//! cargo run --release --features tanium,testkit --example tanium_e2e -- [endpoints] [groups] [page_size]
//! ```
//! Defaults: 100,000 endpoints, 50 groups, page size 500. The simulator runs in the same
//! process, so the peak RSS includes its fleet; the figure after generation is printed apart.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use rmm_sync::model::{ClientId, IntegrationId, ProviderId, TenantId};
use rmm_sync::provider::{
    DevicePageRequest, DeviceSnapshotSource, RmmProvider, ScopeSource, device_pages,
};
use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::sync::{RunReport, RunRequest, SyncOrchestrator};
use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args()
        .nth(n)
        .map(|a| a.replace('_', "").parse().expect("numeric argument"))
        .unwrap_or(default)
}

/// `VmHWM` and `VmRSS` from /proc (Linux), in MiB.
fn memory_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// CPU time (user + system) of this process so far, in seconds (Linux).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<f64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    (fields.get(11).copied().unwrap_or(0.0) + fields.get(12).copied().unwrap_or(0.0)) / 100.0
}

fn summary(label: &str, report: &RunReport, secs: f64, cpu: f64) {
    let c = &report.counts;
    let (hwm, rss) = memory_mib();
    println!(
        "{label}: {:?} in {secs:.2} s wall, {cpu:.2} s CPU = {:.0} devices/s (seen {}, created {}, updated {}, unchanged {}, failed {}, incomplete scopes {}); RSS {rss:.0} MiB, peak {hwm:.0} MiB",
        report.status,
        c.seen as f64 / secs,
        c.seen,
        c.created,
        c.updated,
        c.unchanged,
        c.failed,
        report.scopes_incomplete.len()
    );
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (endpoints, groups, page_size) = (arg(1, 100_000), arg(2, 50), arg(3, 500));
    let started = Instant::now();
    let sim = TaniumGatewaySim::start(SimConfig::new(endpoints, groups, 2026)).await?;
    let (hwm, rss) = memory_mib();
    println!(
        "simulator: {endpoints} endpoints in {groups} groups generated in {:.2} s (RSS {rss:.0} MiB, peak {hwm:.0} MiB)",
        started.elapsed().as_secs_f64()
    );

    let provider = Arc::new(
        sim.provider_builder()
            .page_size(u32::try_from(page_size)?)
            .build()?,
    );
    // The adapter and the simulator alone: every group listed, nothing ingested.
    let (t, c) = (Instant::now(), cpu_secs());
    let mut listed = 0usize;
    for scope in provider.list_scopes().await? {
        let request =
            DevicePageRequest::new(Some(scope.id)).with_page_size(Some(u32::try_from(page_size)?));
        let mut pages = device_pages(
            Arc::clone(&provider) as Arc<dyn DeviceSnapshotSource>,
            request,
        );
        while let Some(page) = pages.next().await {
            listed += page?.devices.len();
        }
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "listing only (adapter + simulator): {listed} endpoints in {secs:.2} s wall, {:.2} s CPU = {:.0} devices/s",
        cpu_secs() - c,
        listed as f64 / secs
    );

    let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
    let tenant = TenantId::new_random();
    let integration = IntegrationId::from_name("tanium-e2e");
    store
        .upsert_integration(
            tenant,
            &IntegrationSpec {
                integration_id: integration,
                provider: ProviderId::TANIUM,
                instance_url: provider.info().base_url,
                is_active: true,
                settings: Default::default(),
            },
        )
        .await?;
    let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
    orchestrator
        .sync_scopes(tenant, integration, provider.as_ref())
        .await?;
    for scope in store.list_scopes(tenant, integration).await? {
        let client = ClientId::from_name(scope.external_id.as_str());
        let assignment = ScopeAssignment {
            client_id: Some(Some(client)),
            ..Default::default()
        };
        store
            .assign_scope(tenant, integration, &scope.external_id, &assignment)
            .await?;
    }

    let (t, c) = (Instant::now(), cpu_secs());
    let full = orchestrator
        .run(
            tenant,
            integration,
            Arc::clone(&provider) as Arc<dyn RmmProvider>,
            RunRequest::full(),
        )
        .await?;
    summary("full run", &full, t.elapsed().as_secs_f64(), cpu_secs() - c);

    let (t, c) = (Instant::now(), cpu_secs());
    let again = orchestrator
        .run(
            tenant,
            integration,
            Arc::clone(&provider) as Arc<dyn RmmProvider>,
            RunRequest::full(),
        )
        .await?;
    summary(
        "unchanged re-run",
        &again,
        t.elapsed().as_secs_f64(),
        cpu_secs() - c,
    );

    let requests = sim.requests().len();
    println!("Gateway requests: {requests}");
    if full.counts.created != endpoints || again.counts.unchanged != endpoints {
        return Err("the runs did not ingest every endpoint exactly once".into());
    }
    Ok(())
}
