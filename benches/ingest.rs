//! Engine throughput on `InMemoryStore`: first load and unchanged re-sync of a scripted fleet.
//!
//! `cargo bench --bench ingest --features testkit` (set `RMM_BENCH_DEVICES` to change the fleet
//! size; default 100 000).
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::{ClientId, DeviceSnapshot, IntegrationId, ProviderId, TenantId};
use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::testkit::generate_fleet;

const SCOPES: u64 = 50;

fn devices() -> u64 {
    std::env::var("RMM_BENCH_DEVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

struct Setup {
    engine: IngestionEngine,
    ctx: IngestContext,
}

/// A store with the fleet's scopes synced and mapped, and an engine over it.
async fn setup(scopes: &[rmm_sync::model::ScopeSnapshot]) -> Setup {
    let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
    let tenant = TenantId::new_random();
    let provider = ProviderId::new("bench").unwrap();
    let integration = IntegrationId::from_name("bench");
    store
        .upsert_integration(tenant, &IntegrationSpec::new(integration, provider.clone()))
        .await
        .unwrap();
    store
        .sync_scopes(tenant, integration, scopes, true, chrono::Utc::now())
        .await
        .unwrap();
    for s in scopes {
        let a = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name(s.id.as_str()))),
            ..Default::default()
        };
        store
            .assign_scope(tenant, integration, &s.id, &a)
            .await
            .unwrap();
    }
    Setup {
        engine: IngestionEngine::new(store),
        ctx: IngestContext::new(tenant, provider, integration),
    }
}

/// Ingests in pages of 1000, as the orchestrator does.
async fn ingest_all(s: &Setup, fleet: &[DeviceSnapshot]) -> u64 {
    let mut written = 0;
    for page in fleet.chunks(1000) {
        let r = s.engine.ingest(&s.ctx, page.to_vec()).await.unwrap();
        written += r.counts.written();
    }
    written
}

fn bench(c: &mut Criterion) {
    let n = devices();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (scopes, fleet) = generate_fleet(n, SCOPES, 42);
    let mut group = c.benchmark_group("engine_in_memory");
    group.throughput(Throughput::Elements(n));
    group.sample_size(10);

    group.bench_function(format!("first_load_{n}"), |b| {
        b.iter_batched(
            || rt.block_on(setup(&scopes)),
            |s| assert_eq!(rt.block_on(ingest_all(&s, &fleet)), n),
            BatchSize::PerIteration,
        )
    });

    group.bench_function(format!("unchanged_resync_{n}"), |b| {
        b.iter_batched(
            || {
                let s = rt.block_on(setup(&scopes));
                rt.block_on(ingest_all(&s, &fleet));
                s
            },
            |s| assert_eq!(rt.block_on(ingest_all(&s, &fleet)), 0),
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
