//! Load check of the webhook receiver (not a test): a `SyncService` over a Tactical RMM
//! simulator and `InMemoryStore`, served on loopback; `CONCURRENCY` clients post alert webhooks
//! for random agents for `SECONDS`; prints events/s and the latency to the `202` (p50, p99,
//! max). The single-device refreshes the events cause run in the background meanwhile, as in
//! production.
//!
//! `cargo run --release --example webhook_load --features service,tactical,testkit [-- SECONDS CONCURRENCY]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use rmm_sync::model::{IntegrationId, ProviderId, TenantId};
use rmm_sync::provider::tactical::{
    DEFAULT_WEBHOOK_HEADER, TacticalAuth, TacticalConfig, TacticalProvider, TacticalWebhookConfig,
    TacticalWebhookVerifier,
};
use rmm_sync::service::{ServiceIntegration, ServiceOptions, SyncService, WebhookSource};
use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec};
use rmm_sync::sync::SyncOrchestrator;
use rmm_sync::testkit::TacticalSim;

const SECRET: &str = "load-check-secret-0123456789abcdef";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(32);

    let sim = TacticalSim::builder()
        .agents(2_000)
        .clients(10)
        .start()
        .await;
    let agents: Vec<String> = sim.agents().into_iter().map(|a| a.agent_id).collect();
    let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
    let tenant = TenantId::new_random();
    let integration = IntegrationId::from_name("tac");
    store
        .upsert_integration(
            tenant,
            &IntegrationSpec::new(integration, ProviderId::TACTICALRMM),
        )
        .await?;
    let provider = Arc::new(TacticalProvider::new(TacticalConfig::new(
        sim.url(),
        TacticalAuth::api_key(sim.api_key()),
    ))?);
    let verifier = TacticalWebhookVerifier::new(&TacticalWebhookConfig::new(SECRET))?;
    let service = SyncService::new(
        SyncOrchestrator::new(Arc::clone(&store)),
        vec![
            ServiceIntegration::new("tac", tenant, integration, provider)
                .with_webhook(WebhookSource::Tactical(verifier)),
        ],
        ServiceOptions::default(),
    )?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/webhooks/tac", listener.local_addr()?);
    let app = service.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let running = service.start();

    let agents = Arc::new(agents);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let agents = Arc::clone(&agents);
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut latencies = Vec::new();
            let mut refused = 0u64;
            let mut i = worker;
            while Instant::now() < deadline {
                let agent = &agents[(i * 7919) % agents.len()];
                let body = format!(
                    r#"{{"event":"trigger","agent_id":"{agent}","alert_id":"{i}","severity":"error"}}"#
                );
                let t = Instant::now();
                let status = http
                    .post(&url)
                    .header(DEFAULT_WEBHOOK_HEADER, SECRET)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                latencies.push(t.elapsed());
                if status != 202 {
                    refused += 1;
                }
                i += concurrency;
            }
            (latencies, refused)
        }));
    }
    let mut all = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (l, r) = t.await?;
        all.extend(l);
        refused += r;
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "webhook load: {} events in {wall:.1}s = {:.0} events/s ({concurrency} clients), not 202: {refused}; latency to 202: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        all.len() as f64 / wall,
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    let report = running.shutdown().await;
    println!(
        "shutdown: clean {}, refreshes still queued {}",
        report.clean, report.dropped_events
    );
    Ok(())
}
