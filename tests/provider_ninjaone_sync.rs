//! NinjaOne end to end: simulator → adapter → orchestrator → `InMemoryStore`.

use std::sync::Arc;

use rmm_sync::ingest::{IngestContext, now_micros};
use rmm_sync::model::{
    AgentStatus, ClientId, ExternalDeviceId, IntegrationId, OutcomeCounts, ProviderId, TenantId,
};
use rmm_sync::provider::RmmProvider;
use rmm_sync::provider::ninjaone::{
    NinjaOneConfig, NinjaOneProvider, ScopeLevel, WebhookAction, WebhookEvent, WebhookVerifier,
};
use rmm_sync::store::{
    AssetFilter, AssetRecord, AssetStore, InMemoryStore, IntegrationSpec, MappingStatus,
    ScopeAssignment,
};
use rmm_sync::sync::{RunReport, RunRequest, RunStatus, SyncOrchestrator};
use rmm_sync::testkit::{CannedResponse, NinjaOneSim, SimFault, SimFleet};

struct Harness {
    store: Arc<dyn AssetStore>,
    tenant: TenantId,
    integration: IntegrationId,
    provider: Arc<dyn RmmProvider>,
    orchestrator: SyncOrchestrator,
}

impl Harness {
    /// An integration over the simulator with every scope mapped to a client named after it.
    async fn new(config: NinjaOneConfig) -> Self {
        let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
        let tenant = TenantId::new_random();
        let integration = IntegrationId::from_name("ninjaone-test");
        store
            .upsert_integration(
                tenant,
                &IntegrationSpec::new(integration, ProviderId::NINJAONE),
            )
            .await
            .unwrap();
        let provider: Arc<dyn RmmProvider> = Arc::new(NinjaOneProvider::new(config).unwrap());
        let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
        let h = Self {
            store,
            tenant,
            integration,
            provider,
            orchestrator,
        };
        h.map_all_scopes().await;
        h
    }

    async fn map_all_scopes(&self) {
        self.orchestrator
            .sync_scopes(self.tenant, self.integration, self.provider.as_ref())
            .await
            .unwrap();
        for scope in self
            .store
            .list_scopes(self.tenant, self.integration)
            .await
            .unwrap()
        {
            if scope.client_id.is_some() {
                continue;
            }
            let assignment = ScopeAssignment {
                client_id: Some(Some(client_for(scope.external_id.as_str()))),
                ..Default::default()
            };
            self.store
                .assign_scope(
                    self.tenant,
                    self.integration,
                    &scope.external_id,
                    &assignment,
                )
                .await
                .unwrap();
        }
    }

    async fn run(&self, request: RunRequest) -> RunReport {
        self.orchestrator
            .run(
                self.tenant,
                self.integration,
                Arc::clone(&self.provider),
                request,
            )
            .await
            .unwrap()
    }

    async fn asset_of(&self, device: i64) -> AssetRecord {
        let mapping = self
            .store
            .get_mapping(
                self.tenant,
                self.integration,
                &ExternalDeviceId::new(device.to_string()),
            )
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("device {device} has no mapping"));
        self.store
            .get_asset(self.tenant, mapping.asset_id)
            .await
            .unwrap()
            .unwrap()
    }

    async fn assets(&self) -> Vec<AssetRecord> {
        self.store
            .list_assets(
                self.tenant,
                &AssetFilter {
                    integration_id: Some(self.integration),
                    limit: None,
                },
            )
            .await
            .unwrap()
    }

    async fn cursor(&self) -> Option<String> {
        self.store
            .get_integration(self.tenant, self.integration)
            .await
            .unwrap()
            .unwrap()
            .cursor
    }
}

fn client_for(scope: &str) -> ClientId {
    ClientId::from_name(&format!("client-{scope}"))
}

fn assert_clean(report: &RunReport) {
    assert_eq!(report.status, RunStatus::Completed, "{:#?}", report.errors);
    assert!(report.errors.is_empty(), "{:#?}", report.errors);
}

/// The acceptance scenario: a full and an incremental sync of a 20k-device tenant, with a
/// device moving between organizations staying one asset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_and_incremental_sync_of_a_20k_device_tenant() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(20_000, 40, 11))
        .await
        .unwrap();
    let h = Harness::new(sim.config()).await;

    // ---- full ----
    let full = h.run(RunRequest::full()).await;
    assert_clean(&full);
    assert_eq!(full.counts.created, 20_000);
    assert_eq!(full.counts.seen, 20_000);
    let stats = sim.stats();
    assert_eq!(
        stats.per_device_requests(),
        0,
        "no per-device calls in the bulk path"
    );
    // 20 pages of 1000 and the empty page that ends the walk.
    assert_eq!(stats.requests_to("/v2/devices-detailed"), 21);
    assert_eq!(h.assets().await.len(), 20_000);
    assert!(
        h.cursor().await.is_some(),
        "a full run starts the activity window"
    );

    // Spot checks of the mapping through the store.
    let first = sim.device(1).unwrap();
    let asset = h.asset_of(1).await;
    assert_eq!(asset.name, first.display_name);
    assert_eq!(
        asset.client_id,
        client_for(&first.organization_id.to_string())
    );
    assert_eq!(
        asset.rmm_organization_id.as_deref(),
        Some(first.organization_id.to_string().as_str())
    );
    let seen = asset.last_seen_at.unwrap().timestamp_micros() as f64 / 1e6;
    assert!(
        (seen - first.last_contact).abs() < 1e-3,
        "epoch seconds, not milliseconds"
    );
    let expected_status = if first.offline {
        AgentStatus::Offline
    } else {
        AgentStatus::Online
    };
    assert_eq!(asset.agent_status, Some(expected_status));

    // ---- changes in NinjaOne ----
    let moved = 77;
    let before_move = h.asset_of(moved).await;
    let old_org = sim.device(moved).unwrap().organization_id;
    let new_org = if old_org == 40 { 1 } else { old_org + 1 };
    let new_location = sim
        .locations()
        .values()
        .find(|l| l.organization_id == new_org)
        .unwrap()
        .id;
    assert!(sim.move_device(moved, new_org, new_location));
    for id in [5, 6, 7] {
        sim.update_device(id, |d| d.display_name = format!("renamed-{id}"));
    }
    for id in [10, 11] {
        assert!(sim.delete_device(id));
    }
    let template = sim.device(12).unwrap();
    let added = sim.add_device(template);
    // Noise the adapter ignores: alerts and scripts name devices but change no inventory.
    sim.record_activity(Some(20), "CONDITION", "TRIGGERED");
    sim.reset_stats();

    // ---- incremental ----
    let inc = h.run(RunRequest::incremental()).await;
    assert_clean(&inc);
    assert!(!inc.fell_back_to_full, "the activity window was intact");
    assert_eq!(inc.counts.moved, 1);
    assert_eq!(inc.counts.updated, 3);
    assert_eq!(inc.counts.tombstoned, 2);
    assert_eq!(inc.counts.created, 1);
    assert_eq!(inc.counts.seen, 7, "only devices named by activities");
    let stats = sim.stats();
    assert_eq!(stats.per_device_requests(), 0);
    assert_eq!(
        stats.requests_to("/v2/devices-detailed"),
        1,
        "changed devices in one batch"
    );

    // The moved device is the same asset, now under the new organization's client.
    let after_move = h.asset_of(moved).await;
    assert_eq!(after_move.asset_id, before_move.asset_id);
    assert_eq!(after_move.client_id, client_for(&new_org.to_string()));
    assert_eq!(
        after_move.rmm_organization_id.as_deref(),
        Some(new_org.to_string().as_str())
    );
    let mapping = h
        .store
        .get_mapping(
            h.tenant,
            h.integration,
            &ExternalDeviceId::new(moved.to_string()),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mapping.scope_id.as_str(), new_org.to_string());
    assert_eq!(h.asset_of(5).await.name, "renamed-5");
    for id in [10, 11] {
        let m = h
            .store
            .get_mapping(
                h.tenant,
                h.integration,
                &ExternalDeviceId::new(id.to_string()),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(m.status, MappingStatus::Deleted);
        assert_eq!(h.asset_of(id).await.status, "inactive");
    }
    assert_eq!(
        h.asset_of(added).await.asset_type,
        h.asset_of(12).await.asset_type
    );
    assert_eq!(
        h.assets().await.len(),
        20_001,
        "no duplicate for the moved device"
    );

    // Nothing new: an incremental run reads the log and fetches nothing.
    sim.reset_stats();
    let quiet = h.run(RunRequest::incremental()).await;
    assert_clean(&quiet);
    assert_eq!(quiet.counts.seen, 0);
    assert_eq!(sim.stats().requests_to("/v2/devices-detailed"), 0);

    // A later full run agrees with the incremental state: nothing to create, move or sweep.
    let again = h.run(RunRequest::full()).await;
    assert_clean(&again);
    assert_eq!(again.counts.created, 0);
    assert_eq!(again.counts.moved, 0);
    assert_eq!(
        again.counts.tombstoned, 0,
        "deleted devices are not swept twice"
    );
    assert_eq!(again.counts.unchanged, 19_999);
    assert_eq!(h.assets().await.len(), 20_001);
}

/// Changes made between a full run and the first incremental run are not lost: the full run
/// stores the head of the activity log it started from.
#[tokio::test]
async fn the_first_incremental_after_a_full_run_sees_changes_made_in_between() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(40, 2, 5))
        .await
        .unwrap();
    sim.record_activity(None, "SYSTEM", "CLIENT_UPDATED"); // some history
    let h = Harness::new(sim.config()).await;
    assert_clean(&h.run(RunRequest::full()).await);
    assert_eq!(h.cursor().await, Some(sim.last_activity_id().to_string()));

    sim.update_device(3, |d| d.display_name = "renamed-after-full".into());
    let inc = h.run(RunRequest::incremental()).await;
    assert_clean(&inc);
    assert!(!inc.fell_back_to_full);
    assert_eq!(inc.counts.updated, 1);
    assert_eq!(h.asset_of(3).await.name, "renamed-after-full");
}

/// An incremental run with no checkpoint yet walks everything and starts the window.
#[tokio::test]
async fn an_incremental_run_without_a_checkpoint_walks_fully_first() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(25, 2, 5))
        .await
        .unwrap();
    let h = Harness::new(sim.config()).await;
    let first = h.run(RunRequest::incremental()).await;
    assert_clean(&first);
    assert!(first.fell_back_to_full);
    assert_eq!(first.counts.created, 25);
    assert!(h.cursor().await.is_some());
    sim.delete_device(4);
    let second = h.run(RunRequest::incremental()).await;
    assert!(!second.fell_back_to_full);
    assert_eq!(second.counts.tombstoned, 1);
    assert_eq!(second.counts.seen, 1);
}

/// A checkpoint older than the retained activity log: the run walks everything instead, which
/// also sweeps a device whose deletion activity is gone.
#[tokio::test]
async fn a_lost_activity_window_falls_back_to_a_full_walk() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(60, 3, 6))
        .await
        .unwrap();
    sim.record_activity(None, "SYSTEM", "CLIENT_UPDATED");
    let h = Harness::new(sim.config()).await;
    assert_clean(&h.run(RunRequest::full()).await);
    sim.update_device(8, |d| d.display_name = "renamed".into());
    sim.remove_device_silently(9);
    sim.purge_activities_through(sim.last_activity_id());
    sim.record_activity(Some(8), "SYSTEM", "NODE_UPDATED");

    let inc = h.run(RunRequest::incremental()).await;
    assert_clean(&inc);
    assert!(
        inc.fell_back_to_full,
        "the window since the checkpoint is gone"
    );
    assert_eq!(inc.counts.updated, 1);
    assert_eq!(
        inc.counts.tombstoned, 1,
        "set difference after a complete listing"
    );
    assert_eq!(inc.counts.seen, 60);
    assert_eq!(h.cursor().await, Some(sim.last_activity_id().to_string()));
    let next = h.run(RunRequest::incremental()).await;
    assert!(!next.fell_back_to_full, "a new window started");
}

/// Deletions: explicit ones at once, silent ones only after a complete listing, and never on
/// a listing that broke off.
#[tokio::test]
async fn deletions_are_explicit_or_swept_after_complete_listings_only() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(2_500, 3, 7))
        .await
        .unwrap();
    let h = Harness::new(sim.config()).await;
    assert_clean(&h.run(RunRequest::full()).await);

    sim.remove_device_silently(2_400);
    // The listing breaks off (a 502 with retries off): incomplete, so nothing is swept.
    sim.inject("/v2/devices-detailed", SimFault::ServerError(502), 1);
    let mut config = sim.config();
    config.retry.max_attempts = 1;
    let broken = Harness {
        provider: Arc::new(NinjaOneProvider::new(config).unwrap()),
        ..h
    };
    let report = broken.run(RunRequest::full()).await;
    assert_eq!(report.status, RunStatus::CompletedWithErrors);
    assert_eq!(report.counts.tombstoned, 0);
    assert!(!report.scopes_incomplete.is_empty());
    let h = Harness {
        provider: Arc::new(NinjaOneProvider::new(sim.config()).unwrap()),
        ..broken
    };
    let report = h.run(RunRequest::full()).await;
    assert_clean(&report);
    assert_eq!(report.counts.tombstoned, 1);
    assert_eq!(h.asset_of(2_400).await.status, "inactive");
}

/// Organization moves found by full runs keep the asset too.
#[tokio::test]
async fn a_device_moving_between_organizations_stays_one_asset() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(30, 3, 8))
        .await
        .unwrap();
    let h = Harness::new(sim.config()).await;
    assert_clean(&h.run(RunRequest::full()).await);
    let before = h.asset_of(4).await;
    let from = sim.device(4).unwrap().organization_id;
    let to = from % 3 + 1;
    let location = sim
        .locations()
        .values()
        .find(|l| l.organization_id == to)
        .unwrap()
        .id;
    // Moved without an activity: only the full listing can tell.
    sim.update_device_silently(4, |d| {
        d.organization_id = to;
        d.location_id = location;
    });
    let report = h.run(RunRequest::full()).await;
    assert_clean(&report);
    assert_eq!(report.counts.moved, 1);
    assert_eq!(
        report.counts.tombstoned, 0,
        "the old organization does not sweep it"
    );
    let after = h.asset_of(4).await;
    assert_eq!(after.asset_id, before.asset_id);
    assert_eq!(after.client_id, client_for(&to.to_string()));
    // And back again, through the activity log.
    sim.move_device(4, from, before_location(&sim, from));
    let report = h.run(RunRequest::incremental()).await;
    assert_eq!(report.counts.moved, 1);
    assert_eq!(h.asset_of(4).await.client_id, client_for(&from.to_string()));
    assert_eq!(h.assets().await.len(), 30);
}

fn before_location(sim: &NinjaOneSim, org: i64) -> i64 {
    sim.locations()
        .values()
        .find(|l| l.organization_id == org)
        .unwrap()
        .id
}

/// With locations as the client level, devices follow their location.
#[tokio::test]
async fn locations_can_be_the_client_level() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(40, 2, 9))
        .await
        .unwrap();
    let h = Harness::new(sim.config().with_scope_level(ScopeLevel::Location)).await;
    let report = h.run(RunRequest::full()).await;
    assert_clean(&report);
    assert_eq!(report.counts.created, 40);
    let d = sim.device(6).unwrap();
    let asset = h.asset_of(6).await;
    assert_eq!(
        asset.client_id,
        client_for(&format!("loc-{}", d.location_id))
    );
    let other = sim
        .locations()
        .values()
        .find(|l| l.organization_id == d.organization_id && l.id != d.location_id)
        .unwrap()
        .id;
    sim.move_device(6, d.organization_id, other);
    let report = h.run(RunRequest::incremental()).await;
    assert_eq!(report.counts.moved, 1);
    assert_eq!(
        h.asset_of(6).await.client_id,
        client_for(&format!("loc-{other}"))
    );
}

const SECRET_A: &str = "aaaaaaaaaaaaaaaa0123456789abcdef";
const SECRET_B: &str = "bbbbbbbbbbbbbbbb0123456789abcdef";

/// Webhooks: verified per integration, turned into refreshes and tombstones; two NinjaOne
/// accounts with the same organization ids never see each other's events.
#[tokio::test]
async fn webhooks_refresh_and_tombstone_the_integration_they_were_registered_for() {
    // Two MSPs on NinjaOne: both have organizations 1 and 2 and devices 1..=20.
    let sim_a = NinjaOneSim::with_fleet(SimFleet::new(20, 2, 1))
        .await
        .unwrap();
    let sim_b = NinjaOneSim::with_fleet(SimFleet::new(20, 2, 2))
        .await
        .unwrap();
    let a = Harness::new(sim_a.config()).await;
    let mut b = Harness::new(sim_b.config()).await;
    b.integration = IntegrationId::from_name("ninjaone-other");
    b.store
        .upsert_integration(
            b.tenant,
            &IntegrationSpec::new(b.integration, ProviderId::NINJAONE),
        )
        .await
        .unwrap();
    b.map_all_scopes().await;
    assert_clean(&a.run(RunRequest::full()).await);
    assert_clean(&b.run(RunRequest::full()).await);

    let verifier_a = WebhookVerifier::new(a.integration, SECRET_A.to_owned().into()).unwrap();
    let verifier_b = WebhookVerifier::new(b.integration, SECRET_B.to_owned().into()).unwrap();
    let ninja_a = NinjaOneProvider::new(sim_a.config()).unwrap();
    let ninja_b = NinjaOneProvider::new(sim_b.config()).unwrap();
    let url_a = url::Url::parse(&format!(
        "https://psa.example/hooks/ninjaone/{}",
        a.integration
    ))
    .unwrap();
    let url_b = url::Url::parse(&format!(
        "https://psa.example/hooks/ninjaone/{}",
        b.integration
    ))
    .unwrap();
    ninja_a.register_webhook(&verifier_a, &url_a).await.unwrap();
    ninja_b.register_webhook(&verifier_b, &url_b).await.unwrap();

    // Account A deletes device 5 and renames device 6.
    sim_a.delete_device(5);
    let deleted = sim_a.last_activity_id();
    sim_a.update_device(6, |d| d.display_name = "renamed-by-webhook".into());
    let renamed = sim_a.last_activity_id();

    // The host routes by the URL it registered (integration A), never by organization id.
    let delivery = sim_a.webhook_delivery(deleted).unwrap();
    assert_eq!(delivery.url, url_a.as_str());
    assert_eq!(
        verifier_b
            .verify_and_parse(&delivery.headers, &delivery.body)
            .unwrap_err()
            .kind(),
        rmm_sync::ErrorKind::Unauthorized,
        "B's endpoint refuses A's deliveries"
    );
    let event = verifier_a
        .verify_and_parse(&delivery.headers, &delivery.body)
        .unwrap();
    assert_eq!(event.integration_id, a.integration);
    assert!(
        matches!(&event.action, WebhookAction::TombstoneDevice { device, .. } if device.as_str() == "5")
    );
    assert_eq!(carry_out(&a, &event).await.tombstoned, 1);
    assert_eq!(a.asset_of(5).await.status, "inactive");
    assert_eq!(
        b.asset_of(5).await.status,
        "active",
        "B's device 5 is another device"
    );

    let delivery = sim_a.webhook_delivery(renamed).unwrap();
    let event = verifier_a
        .verify_and_parse(&delivery.headers, &delivery.body)
        .unwrap();
    assert_eq!(event.action, WebhookAction::RefreshDevice("6".into()));
    assert_eq!(carry_out(&a, &event).await.updated, 1);
    assert_eq!(a.asset_of(6).await.name, "renamed-by-webhook");
    assert_ne!(b.asset_of(6).await.name, "renamed-by-webhook");

    // Alerts and other events are ignored.
    let alert = sim_a.record_activity(Some(7), "CONDITION", "TRIGGERED");
    let delivery = sim_a.webhook_delivery(alert).unwrap();
    let event = verifier_a
        .verify_and_parse(&delivery.headers, &delivery.body)
        .unwrap();
    assert_eq!(event.action, WebhookAction::Ignore);
}

/// What a host without the service layer does with a verified event (the service layer's
/// queue does the same, coalesced): a refresh is a single-device run, a deletion a tombstone
/// through the engine.
async fn carry_out(h: &Harness, event: &WebhookEvent) -> OutcomeCounts {
    match &event.action {
        WebhookAction::RefreshDevice(device) => {
            h.orchestrator
                .run(
                    h.tenant,
                    event.integration_id,
                    Arc::clone(&h.provider),
                    RunRequest::device(device.clone()),
                )
                .await
                .unwrap()
                .counts
        }
        WebhookAction::TombstoneDevice { device, scope } => {
            let ctx = IngestContext::new(h.tenant, ProviderId::NINJAONE, event.integration_id)
                .with_thresholds(h.provider.agent_status_thresholds())
                .at(now_micros());
            h.orchestrator
                .engine()
                .tombstone(&ctx, vec![(device.clone(), scope.clone())])
                .await
                .unwrap()
                .counts
        }
        WebhookAction::Ignore => OutcomeCounts::default(),
    }
}

/// The simulator delivers over HTTP to any framework; here a bare axum route.
#[tokio::test]
async fn webhooks_arrive_over_http() {
    use axum::http::{HeaderMap, StatusCode};
    use tokio::sync::mpsc;

    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 1))
        .await
        .unwrap();
    let integration = IntegrationId::from_name("acme");
    let verifier = WebhookVerifier::new(integration, SECRET_A.to_owned().into()).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let route_verifier = verifier.clone();
    let app = axum::Router::new().route(
        "/hooks/ninjaone/acme",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let verifier = route_verifier.clone();
            let tx = tx.clone();
            async move {
                match verifier.verify_and_parse(&headers, &body) {
                    Ok(event) => {
                        let _ = tx.send(event);
                        StatusCode::NO_CONTENT
                    }
                    Err(e) if e.kind() == rmm_sync::ErrorKind::Unauthorized => {
                        StatusCode::UNAUTHORIZED
                    }
                    Err(_) => StatusCode::BAD_REQUEST,
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let url = url::Url::parse(&format!("http://{addr}/hooks/ninjaone/acme")).unwrap();
    NinjaOneProvider::new(sim.config())
        .unwrap()
        .register_webhook(&verifier, &url)
        .await
        .unwrap();
    sim.delete_device(2);
    assert_eq!(
        sim.deliver_webhook(sim.last_activity_id()).await.unwrap(),
        204
    );
    let event = rx.recv().await.unwrap();
    assert_eq!(event.integration_id, integration);
    assert!(
        matches!(event.action, WebhookAction::TombstoneDevice { ref device, .. } if device.as_str() == "2")
    );

    // A forged delivery without the secret is refused.
    let forged = reqwest::Client::new()
        .post(url.as_str())
        .body(r#"{"deviceId":3,"statusCode":"NODE_DELETED"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 401);
    assert!(rx.try_recv().is_err());
}

/// A 429 or 503 with a body (JSON or an HTML page from the load balancer) is judged by its
/// status: retried, and the run completes.
#[tokio::test]
async fn throttling_and_outages_with_a_body_are_retried_and_the_run_completes() {
    let answers = [
        CannedResponse::json(
            429,
            r#"{"resultCode":"TOO_MANY_REQUESTS","errorMessage":"slow down"}"#,
        )
        .retry_after("0"),
        CannedResponse::html(
            429,
            "<html><head><title>429 Too Many Requests</title></head><body>nginx</body></html>",
        )
        .retry_after("0"),
        CannedResponse::json(503, r#"{"errors":[{"message":"Service Unavailable"}]}"#),
    ];
    for answer in answers {
        let sim = NinjaOneSim::with_fleet(SimFleet::new(40, 2, 9))
            .await
            .unwrap();
        let h = Harness::new(sim.config()).await;
        sim.inject("/v2/devices-detailed", SimFault::Canned(answer.clone()), 2);
        let report = h.run(RunRequest::full()).await;
        assert_clean(&report);
        assert_eq!(report.counts.created, 40, "{answer:?}");
        assert_eq!(sim.stats().faults_served, 2, "{answer:?}");
    }
}
