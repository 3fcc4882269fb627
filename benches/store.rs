//! Criterion benchmarks of the PostgreSQL store through the ingestion engine, on a small fleet
//! (5k devices in batches of 1000) so a run takes a minute or two. The end-to-end 100k figures
//! come from `examples/store_bench` (see docs/performance.md).
//!
//! Needs a server: `RMM_SYNC_BENCH_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); a throwaway database is created and dropped.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rmm_sync::ingest::{IngestContext, IngestionEngine};
use rmm_sync::model::{ClientId, IntegrationId, ProviderId, TenantId};
use rmm_sync::store::postgres::PostgresStore;
use rmm_sync::store::{AssetStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::testkit::generate_fleet;
use sqlx::{Connection, Executor, PgConnection};

const DEVICES: u64 = 5_000;
const SCOPES: u64 = 10;

fn admin_url() -> String {
    std::env::var("RMM_SYNC_BENCH_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

fn with_database(url: &str, db: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL with a scheme");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    format!("{scheme}://{}/{db}", &rest[..end])
}

/// A fresh tenant with the integration and mapped scopes: a clean slate in the same database.
async fn fresh_tenant(store: &PostgresStore) -> (TenantId, IngestContext) {
    let tenant = TenantId::new_random();
    let spec = IntegrationSpec {
        integration_id: IntegrationId::from_name("bench"),
        provider: ProviderId::new("bench").unwrap(),
        instance_url: None,
        is_active: true,
        settings: Default::default(),
    };
    store.upsert_integration(tenant, &spec).await.unwrap();
    let (scopes, _) = generate_fleet(0, SCOPES, 1);
    store
        .sync_scopes(
            tenant,
            spec.integration_id,
            &scopes,
            true,
            rmm_sync::ingest::now_micros(),
        )
        .await
        .unwrap();
    for s in &scopes {
        let a = ScopeAssignment {
            client_id: Some(Some(ClientId::from_name("bench"))),
            auto_sync_assets: None,
        };
        store
            .assign_scope(tenant, spec.integration_id, &s.id, &a)
            .await
            .unwrap();
    }
    let ctx = IngestContext::new(tenant, spec.provider, spec.integration_id);
    (tenant, ctx)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let admin = admin_url();
    let name = format!("rmm_sync_bench_{}", uuid::Uuid::new_v4().simple());
    let url = with_database(&admin, &name);
    let store = rt.block_on(async {
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("PostgreSQL admin URL");
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        Arc::new(PostgresStore::connect(&url).await.unwrap())
    });
    let engine = IngestionEngine::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let (_, devices) = generate_fleet(DEVICES, SCOPES, 1);

    let mut group = c.benchmark_group("postgres");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(DEVICES));
    group.bench_function("first_load_5k", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (store, engine, devices) = (Arc::clone(&store), engine.clone(), devices.clone());
            async move {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let (_, ctx) = fresh_tenant(&store).await;
                    let t = Instant::now();
                    let r = engine.ingest(&ctx, devices.clone()).await.unwrap();
                    spent += t.elapsed();
                    assert_eq!(r.counts.created, DEVICES);
                }
                spent
            }
        })
    });
    let ctx = rt.block_on(async {
        let (_, ctx) = fresh_tenant(&store).await;
        engine.ingest(&ctx, devices.clone()).await.unwrap();
        ctx
    });
    group.bench_function("unchanged_resync_5k", |b| {
        b.to_async(&rt).iter(|| async {
            let r = engine.ingest(&ctx, devices.clone()).await.unwrap();
            assert_eq!(r.counts.unchanged, DEVICES);
        })
    });
    group.finish();

    rt.block_on(async {
        store.pool().close().await;
        let mut conn = PgConnection::connect(&admin).await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await
            .unwrap();
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
