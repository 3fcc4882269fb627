//! The main job without network or database: a scripted fleet is synced into `InMemoryStore`,
//! then the fleet changes (edits, a scope move, removals, an identity change, a device going
//! quiet) and a second run shows what the engine made of it.
//!
//! `cargo run --release --example demo --features testkit [-- DEVICES]`

use std::sync::Arc;
use std::time::Instant;

use rmm_sync::model::{ClientId, Reported, TenantId};
use rmm_sync::store::{AssetStore, InMemoryStore, ScopeAssignment};
use rmm_sync::sync::{RunReport, RunRequest, SyncOrchestrator};
use rmm_sync::testkit::ScriptedProvider;

fn print_report(title: &str, r: &RunReport, secs: f64) {
    let c = &r.counts;
    println!(
        "== {title}: {:?} in {secs:.2}s ({:.0} devices/s)",
        r.status,
        c.seen as f64 / secs.max(1e-9)
    );
    println!(
        "   seen {} | created {} | updated {} | unchanged {} | moved {} | tombstoned {} | restored {} | skipped {} | failed {}",
        c.seen,
        c.created,
        c.updated,
        c.unchanged,
        c.moved,
        c.tombstoned,
        c.restored,
        c.skipped,
        c.failed
    );
    if r.rekeyed > 0 {
        println!("   re-keyed by identity change: {}", r.rekeyed);
    }
    if !r.skipped_reasons.is_empty() {
        println!("   skipped: {:?}", r.skipped_reasons);
    }
    for e in r.errors.iter().take(5) {
        println!("   error: {e}");
    }
}

#[tokio::main]
async fn main() -> rmm_sync::Result<()> {
    let devices: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let provider = Arc::new(ScriptedProvider::generated(devices, 20, 7));
    let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
    let tenant = TenantId::new_random();
    let spec = provider.integration_spec("demo");
    let integration = spec.integration_id;
    store.upsert_integration(tenant, &spec).await?;
    let orchestrator = SyncOrchestrator::new(Arc::clone(&store));

    // Map every scope but the last to a client; the last stays unmapped (its devices are skipped).
    orchestrator
        .sync_scopes(tenant, integration, provider.as_ref())
        .await?;
    let scopes = store.list_scopes(tenant, integration).await?;
    for s in scopes.iter().take(scopes.len() - 1) {
        let client = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name(s.external_id.as_str()))),
            ..Default::default()
        };
        store
            .assign_scope(tenant, integration, &s.external_id, &client)
            .await?;
    }

    let t = Instant::now();
    let first = orchestrator
        .run(
            tenant,
            integration,
            Arc::clone(&provider) as _,
            RunRequest::full(),
        )
        .await?;
    print_report("full sync", &first, t.elapsed().as_secs_f64());

    // The fleet changes between runs.
    provider.update_device("dev-1", |d| d.display_name = "renamed-by-provider".into());
    provider.update_device("dev-2", |d| {
        d.details.cpu_model = Reported::Value("AMD EPYC".into())
    });
    provider.move_device("dev-3", "scope-5");
    provider.remove_device("dev-4");
    provider.remove_device("dev-5");
    provider.rekey_device("dev-6", "dev-6-reimaged", chrono::Utc::now());

    let t = Instant::now();
    let second = orchestrator
        .run(
            tenant,
            integration,
            Arc::clone(&provider) as _,
            RunRequest::full(),
        )
        .await?;
    print_report("change sync", &second, t.elapsed().as_secs_f64());

    let status = store
        .get_integration(tenant, integration)
        .await?
        .expect("integration exists");
    println!(
        "== integration: sync_status {:?}, last_full_sync_at {:?}",
        status.sync_status, status.last_full_sync_at
    );
    Ok(())
}
