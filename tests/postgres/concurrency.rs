//! Runs of different integrations in one database do not block each other; runs of the same
//! integration are refused by the lease.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rmm_sync::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, IdentityChange, ProviderId,
    ScopeSnapshot,
};
use rmm_sync::provider::{
    Capabilities, ConnectionReport, DevicePage, DevicePageRequest, DeviceSnapshotSource,
    ProviderInfo, RmmProvider, ScopeSource,
};
use rmm_sync::store::{AssetStore, LeaseRequest};
use rmm_sync::sync::{RunRequest, RunStatus, SyncOrchestrator};
use rmm_sync::testkit::ScriptedProvider;
use rmm_sync::{Error, ErrorKind, Result};
use tokio::sync::Barrier;

use super::common::{connect, count, prepare, tenant};
use super::harness::TestDb;

/// A scripted provider whose second device page waits until the other run also asks for its
/// second page: both runs are provably in flight at the same time.
#[derive(Debug)]
struct Rendezvous {
    inner: ScriptedProvider,
    barrier: Arc<Barrier>,
    pages: AtomicUsize,
}

#[async_trait]
impl RmmProvider for Rendezvous {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        self.inner.agent_status_thresholds()
    }
    async fn test_connection(&self) -> Result<ConnectionReport> {
        self.inner.test_connection().await
    }
}

#[async_trait]
impl ScopeSource for Rendezvous {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        self.inner.list_scopes().await
    }
}

#[async_trait]
impl DeviceSnapshotSource for Rendezvous {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        if self.pages.fetch_add(1, Ordering::SeqCst) == 1 {
            self.barrier.wait().await;
        }
        self.inner.list_devices_page(request).await
    }
    async fn identity_changes(&self, since: Option<DateTime<Utc>>) -> Result<Vec<IdentityChange>> {
        self.inner.identity_changes(since).await
    }
    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        self.inner.get_device(id).await
    }
}

fn provider(slug: &str, barrier: &Arc<Barrier>) -> Rendezvous {
    let inner = ScriptedProvider::generated(400, 2, 11)
        .with_provider_id(ProviderId::new(slug).unwrap())
        .with_page_size(50);
    Rendezvous {
        inner,
        barrier: Arc::clone(barrier),
        pages: AtomicUsize::new(0),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_of_different_integrations_overlap_without_blocking() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = connect(&db.url).await;
    let barrier = Arc::new(Barrier::new(2));
    let a = Arc::new(provider("scripted-a", &barrier));
    let b = Arc::new(provider("scripted-b", &barrier));
    let ia = prepare(
        &store,
        &a.inner.integration_spec("a"),
        &a.inner.list_scopes().await.unwrap(),
    )
    .await;
    let ib = prepare(
        &store,
        &b.inner.integration_spec("b"),
        &b.inner.list_scopes().await.unwrap(),
    )
    .await;
    let orch = SyncOrchestrator::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let runs = async {
        tokio::join!(
            orch.run(
                tenant(),
                ia,
                Arc::clone(&a) as Arc<dyn RmmProvider>,
                RunRequest::full()
            ),
            orch.run(
                tenant(),
                ib,
                Arc::clone(&b) as Arc<dyn RmmProvider>,
                RunRequest::full()
            ),
        )
    };
    // A deadlock between the two runs would hang here; fail instead.
    let (ra, rb) = tokio::time::timeout(Duration::from_secs(120), runs)
        .await
        .expect("the two runs blocked each other");
    for r in [ra.expect("run a"), rb.expect("run b")] {
        assert_eq!(r.status, RunStatus::Completed, "{:?}", r.errors);
        assert_eq!(r.counts.created, 400);
    }
    let mut c = db.conn().await;
    assert_eq!(count(&mut c, "SELECT count(*) FROM assets").await, 800);
}

#[tokio::test]
async fn a_second_run_of_the_same_integration_is_refused_by_the_lease() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let store = connect(&db.url).await;
    let p = Arc::new(ScriptedProvider::generated(20, 1, 3));
    let spec = p.integration_spec("leased");
    let id = prepare(&store, &spec, &p.list_scopes().await.unwrap()).await;
    let now = rmm_sync::ingest::now_micros();
    let held = LeaseRequest {
        holder: "another-worker".into(),
        expires_at: now + chrono::Duration::hours(1),
        now,
    };
    assert!(store.try_acquire_lease(tenant(), id, &held).await.unwrap());

    let orch = SyncOrchestrator::new(Arc::clone(&store) as Arc<dyn AssetStore>);
    let err: Error = orch
        .run(
            tenant(),
            id,
            Arc::clone(&p) as Arc<dyn RmmProvider>,
            RunRequest::full(),
        )
        .await
        .expect_err("the lease is held");
    assert_eq!(err.kind(), ErrorKind::LeaseHeld, "{err}");

    store
        .release_lease(tenant(), id, "another-worker")
        .await
        .unwrap();
    let report = orch.run(tenant(), id, p, RunRequest::full()).await.unwrap();
    assert_eq!(report.counts.created, 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_lease_requests_from_two_pools_grant_exactly_one() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    let s1 = connect(&db.url).await;
    let s2 = connect(&db.url).await;
    let p = ScriptedProvider::new();
    let spec = p.integration_spec("race");
    let id = prepare(&s1, &spec, &[]).await;
    for round in 0..20 {
        let now = rmm_sync::ingest::now_micros();
        let req = |h: &str| LeaseRequest {
            holder: format!("{h}-{round}"),
            expires_at: now + chrono::Duration::minutes(5),
            now,
        };
        let (r1, r2) = (req("one"), req("two"));
        let (g1, g2) = tokio::join!(
            s1.try_acquire_lease(tenant(), id, &r1),
            s2.try_acquire_lease(tenant(), id, &r2)
        );
        let (g1, g2) = (g1.unwrap(), g2.unwrap());
        assert!(g1 ^ g2, "round {round}: exactly one holder ({g1}, {g2})");
        let winner = if g1 { &r1.holder } else { &r2.holder };
        s1.release_lease(tenant(), id, winner).await.unwrap();
    }
}
