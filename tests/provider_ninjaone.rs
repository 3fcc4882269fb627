//! The NinjaOne adapter against its simulator: listing, paging, faults, OAuth, deltas.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::future::join_all;
use rmm_sync::ErrorKind;
use rmm_sync::model::{AgentStatus, DeviceKind, ExternalDeviceId, Reported, ScopeKind};
use rmm_sync::provider::http::RateLimit;
use rmm_sync::provider::ninjaone::{
    Credentials, InMemoryTokenStore, NinjaOneConfig, NinjaOneProvider, OAuthTokens, ScopeLevel,
    TokenRecord, TokenStore, WebhookVerifier, exchange_authorization_code,
};
use rmm_sync::provider::{
    ChangesRequest, Cursor, DevicePageRequest, DeviceSnapshotSource, RmmProvider, ScopeSource,
};
use rmm_sync::testkit::{NinjaOneSim, SimFault, SimFleet};
use secrecy::ExposeSecret;

async fn list_all(p: &NinjaOneProvider) -> Vec<rmm_sync::model::DeviceSnapshot> {
    let mut all = Vec::new();
    let mut request = DevicePageRequest::new(None);
    loop {
        let page = p.list_devices_page(&request).await.unwrap();
        all.extend(page.devices);
        match page.next_cursor {
            Some(c) => request = request.with_cursor(Some(c)),
            None => return all,
        }
    }
}

fn provider(config: NinjaOneConfig) -> NinjaOneProvider {
    NinjaOneProvider::new(config).unwrap()
}

#[tokio::test]
async fn lists_scopes_and_devices() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(120, 4, 1))
        .await
        .unwrap();
    let p = provider(sim.config());
    let scopes = p.list_scopes().await.unwrap();
    assert_eq!(scopes.len(), 12, "4 organizations and their 8 locations");
    for s in &scopes {
        let receives = s.kind == ScopeKind::Organization;
        assert_eq!(s.metadata["receives_devices"], receives, "{s:?}");
    }

    let devices = list_all(&p).await;
    assert_eq!(devices.len(), 120);
    let d1 = sim.device(1).unwrap();
    let s1 = devices
        .iter()
        .find(|d| d.external_id.as_str() == "1")
        .unwrap();
    assert_eq!(s1.scope_id.as_str(), d1.organization_id.to_string());
    assert_eq!(s1.display_name, d1.display_name);
    let agent = d1.agent.as_ref().unwrap();
    assert_eq!(
        s1.serial_number,
        Reported::Value(agent.serial_number.clone())
    );
    let want = if d1.offline {
        AgentStatus::Offline
    } else {
        AgentStatus::Online
    };
    assert_eq!(s1.agent_status, Reported::Value(want));
    let seen = s1.last_seen_at.value().unwrap().timestamp_micros() as f64 / 1e6;
    assert!((seen - d1.last_contact).abs() < 1e-3);
    assert_eq!(s1.details.cpu_cores, Reported::Value(agent.cpu_cores));
    assert_eq!(
        s1.details.ram_gb,
        Reported::Value((agent.ram_bytes >> 30) as f64)
    );
    assert_eq!(s1.details.disk_usage.value().unwrap().len(), 1);
}

#[tokio::test]
async fn every_node_class_becomes_its_kind() {
    use rmm_sync::testkit::ninjaone::SIM_NODE_CLASSES;
    // Every 50th generated device tours the node classes.
    let sim = NinjaOneSim::with_fleet(SimFleet::new(50 * SIM_NODE_CLASSES.len() as u32, 3, 5))
        .await
        .unwrap();
    let expected = |class: &str| match class {
        "WINDOWS_WORKSTATION" | "LINUX_WORKSTATION" | "MAC" | "NMS_COMPUTER" => {
            DeviceKind::Workstation
        }
        "WINDOWS_SERVER"
        | "LINUX_SERVER"
        | "MAC_SERVER"
        | "VMWARE_VM_HOST"
        | "VMWARE_VM_GUEST"
        | "HYPERV_VMM_HOST"
        | "HYPERV_VMM_GUEST"
        | "NMS_SERVER"
        | "NMS_VM_HOST"
        | "NMS_VIRTUAL_MACHINE" => DeviceKind::Server,
        "ANDROID" | "APPLE_IOS" | "APPLE_IPADOS" => DeviceKind::MobileDevice,
        "UNMANAGED_DEVICE" | "MANAGED_DEVICE" => DeviceKind::Unknown,
        _ => DeviceKind::NetworkDevice,
    };
    let devices = list_all(&provider(sim.config())).await;
    let mut covered = std::collections::BTreeSet::new();
    for d in &devices {
        let class = sim
            .device(d.external_id.as_str().parse().unwrap())
            .unwrap()
            .node_class;
        assert_eq!(d.kind, expected(&class), "{class}");
        assert_eq!(d.metadata.value().unwrap()["nodeClass"], class.as_str());
        covered.insert(class);
    }
    assert_eq!(covered.len(), SIM_NODE_CLASSES.len());
}

#[tokio::test]
async fn location_level_lists_sites_under_their_organizations() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(10, 2, 1))
        .await
        .unwrap();
    let p = provider(sim.config().with_scope_level(ScopeLevel::Location));
    let scopes = p.list_scopes().await.unwrap();
    let sites: Vec<_> = scopes
        .iter()
        .filter(|s| s.kind == ScopeKind::Site)
        .collect();
    assert_eq!(sites.len(), 4);
    assert_eq!(scopes.len(), 6, "organizations are listed as the parents");
    for site in sites {
        assert_eq!(site.metadata["receives_devices"], true);
        let id: i64 = site
            .id
            .as_str()
            .strip_prefix("loc-")
            .unwrap()
            .parse()
            .unwrap();
        let org = sim.locations()[&id].organization_id;
        assert_eq!(site.parent.as_ref().unwrap().as_str(), org.to_string());
    }
    for d in list_all(&p).await {
        let sim_device = sim.device(d.external_id.as_str().parse().unwrap()).unwrap();
        assert_eq!(
            d.scope_id.as_str(),
            format!("loc-{}", sim_device.location_id)
        );
    }
}

#[tokio::test]
async fn a_server_side_page_cap_does_not_truncate_the_listing() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(1_000, 3, 2))
        .await
        .unwrap();
    sim.set_max_page_size(300);
    let p = provider(sim.config());
    assert_eq!(p.capabilities().list_devices_max_page_size, Some(1000));
    let devices = list_all(&p).await;
    assert_eq!(
        devices.len(),
        1_000,
        "short pages do not end the walk; an empty one does"
    );
    assert_eq!(sim.stats().requests_to("/v2/devices-detailed"), 5);
    assert_eq!(sim.stats().per_device_requests(), 0);
}

#[tokio::test]
async fn throttling_honours_retry_after_and_5xx_is_retried() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(20, 2, 3))
        .await
        .unwrap();
    let p = provider(sim.config());
    sim.inject(
        "/v2/devices-detailed",
        SimFault::RateLimited {
            retry_after_secs: Some(1),
        },
        1,
    );
    sim.inject("/v2/organizations", SimFault::ServerError(503), 2);
    assert_eq!(list_all(&p).await.len(), 20);
    assert_eq!(p.list_scopes().await.unwrap().len(), 6);
    assert_eq!(sim.stats().faults_served, 3);

    // A Retry-After beyond what the retry policy waits for is reported, not slept through.
    sim.inject(
        "/v2/devices-detailed",
        SimFault::RateLimited {
            retry_after_secs: Some(3600),
        },
        1,
    );
    let e = p
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));

    sim.inject("/v2/devices-detailed", SimFault::ServerError(500), 10);
    let e = p
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(
        !e.is_retryable(),
        "retries were spent; no outer layer retries again"
    );
    assert!(e.to_string().contains("500"), "{e}");
}

#[tokio::test]
async fn malformed_json_is_a_clear_decode_error() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    let p = provider(sim.config());
    sim.inject("/v2/devices-detailed", SimFault::MalformedJson, 1);
    let e = p
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert!(e.to_string().contains("NinjaOne"), "{e}");
}

#[tokio::test]
async fn one_odd_device_does_not_cost_the_page() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(3, 1, 3))
        .await
        .unwrap();
    sim.update_device_silently(2, |d| {
        d.overrides.insert("offline".into(), "maybe".into());
        d.overrides.insert("os".into(), "n/a".into());
        d.overrides
            .insert("lastContact".into(), serde_json::Value::Null);
    });
    let devices = list_all(&provider(sim.config())).await;
    assert_eq!(devices.len(), 3);
    let odd = devices
        .iter()
        .find(|d| d.external_id.as_str() == "2")
        .unwrap();
    assert_eq!(
        odd.agent_status,
        Reported::Absent,
        "unreadable: left as stored"
    );
    assert_eq!(odd.details.os_type, Reported::Absent);
    assert_eq!(odd.last_seen_at, Reported::Null, "null: cleared");
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_on_401() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    let p = provider(sim.config());
    assert_eq!(list_all(&p).await.len(), 5);
    sim.expire_access_tokens();
    assert_eq!(list_all(&p).await.len(), 5);
    let stats = sim.stats();
    assert_eq!(stats.token_grants["client_credentials"], 2);
    assert_eq!(stats.unauthorized, 1);
    // A server that keeps refusing fresh tokens is an error, not a loop.
    sim.inject("/v2/devices-detailed", SimFault::Unauthorized, 2);
    let e = p
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert_eq!(e.context("after"), Some("a token refresh"));
}

#[tokio::test]
async fn tokens_are_refreshed_before_they_expire() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    // Tokens live 100 s; the adapter renews 300 s before expiry, so each call renews first.
    sim.set_token_lifetime(Duration::from_secs(100));
    let p = provider(sim.config());
    for _ in 0..3 {
        p.list_devices_page(&DevicePageRequest::new(None))
            .await
            .unwrap();
    }
    let stats = sim.stats();
    assert_eq!(stats.token_grants["client_credentials"], 3);
    assert_eq!(
        stats.unauthorized, 0,
        "never used a token NinjaOne had expired"
    );
    // With renewal only at expiry, one token serves every call.
    let mut relaxed = sim.config();
    relaxed.refresh_before_expiry = Duration::ZERO;
    let p = provider(relaxed);
    sim.reset_stats();
    for _ in 0..3 {
        p.list_devices_page(&DevicePageRequest::new(None))
            .await
            .unwrap();
    }
    assert_eq!(sim.stats().token_grants["client_credentials"], 1);
    let expires = p.refresh_token_if_due().await.unwrap();
    assert!(expires > Utc::now());
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    sim.set_token_latency(Duration::from_millis(100));
    let p = provider(sim.config());
    let request = DevicePageRequest::new(None);
    let calls = (0..8).map(|_| p.list_devices_page(&request));
    for r in join_all(calls).await {
        r.unwrap();
    }
    assert_eq!(sim.stats().token_grants["client_credentials"], 1);
}

#[tokio::test]
async fn wrong_client_secrets_are_reported_without_leaking() {
    let sim = NinjaOneSim::start().await.unwrap();
    let mut config = sim.config();
    config.credentials =
        Credentials::client_credentials("sim-client", "wrong-secret-42".to_owned().into());
    let p = provider(config);
    let e = p.test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("client id or secret"), "{e}");
    for shown in [e.to_string(), format!("{e:?}"), format!("{p:?}")] {
        assert!(!shown.contains("wrong-secret-42"), "{shown}");
    }
}

fn expired(tokens: OAuthTokens) -> TokenRecord {
    TokenRecord::new(OAuthTokens {
        expires_at: Utc::now() - chrono::Duration::seconds(1),
        ..tokens
    })
}

#[tokio::test]
async fn authorization_code_grants_rotate_refresh_tokens_through_the_store() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(InMemoryTokenStore::new());
    let seeded = sim.issue_tokens();
    let first_refresh = seeded.refresh_token.clone().unwrap();
    store
        .compare_and_swap("acme", None, &expired(seeded))
        .await
        .unwrap();

    let worker1 = provider(sim.authorization_code_config(Arc::clone(&store), "acme"));
    assert_eq!(list_all(&worker1).await.len(), 5);
    let stored = store.load("acme").await.unwrap().unwrap();
    assert_eq!(stored.version, 3, "seed, claim, rotated tokens");
    assert!(stored.record.refresh_claim.is_none());
    let rotated = stored.record.tokens.refresh_token.clone().unwrap();
    assert_ne!(rotated.expose_secret(), first_refresh.expose_secret());

    // Another worker finds the fresh tokens in the store and spends nothing.
    let worker2 = provider(sim.authorization_code_config(Arc::clone(&store), "acme"));
    assert_eq!(list_all(&worker2).await.len(), 5);
    let stats = sim.stats();
    assert_eq!(stats.token_grants["refresh_token"], 1);
    assert_eq!(stats.refresh_token_reuse, 0);
    let tokens_shown = format!("{stored:?}");
    assert!(
        !tokens_shown.contains(rotated.expose_secret()),
        "{tokens_shown}"
    );
}

#[tokio::test]
async fn two_workers_never_spend_the_same_refresh_token() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    sim.set_token_latency(Duration::from_millis(150));
    let store: Arc<dyn TokenStore> = Arc::new(InMemoryTokenStore::new());
    store
        .compare_and_swap("acme", None, &expired(sim.issue_tokens()))
        .await
        .unwrap();
    let workers: Vec<NinjaOneProvider> = (0..3)
        .map(|_| provider(sim.authorization_code_config(Arc::clone(&store), "acme")))
        .collect();
    let calls = workers.iter().flat_map(|w| {
        (0..3).map(move |_| async move { w.list_devices_page(&DevicePageRequest::new(None)).await })
    });
    for r in join_all(calls).await {
        r.unwrap();
    }
    let stats = sim.stats();
    assert_eq!(
        stats.token_grants["refresh_token"], 1,
        "one worker refreshed for all"
    );
    assert_eq!(stats.refresh_token_reuse, 0);
}

#[tokio::test]
async fn a_revoked_grant_requires_reconnecting() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(InMemoryTokenStore::new());
    store
        .compare_and_swap("acme", None, &expired(sim.issue_tokens()))
        .await
        .unwrap();
    sim.revoke_grants();
    let p = provider(sim.authorization_code_config(Arc::clone(&store), "acme"));
    let e = p
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReconnectRequired);
    let record = store.load("acme").await.unwrap().unwrap().record;
    assert!(record.reconnect_required.is_some());
    assert!(record.refresh_claim.is_none());

    // Other workers learn it from the store without asking NinjaOne again.
    sim.reset_stats();
    let other = provider(sim.authorization_code_config(Arc::clone(&store), "acme"));
    let e = other.test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReconnectRequired);
    assert_eq!(sim.stats().requests_to("/ws/oauth/token"), 0);

    // A grant that was never connected says so.
    let empty = provider(sim.authorization_code_config(store, "never-connected"));
    let e = empty.test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReconnectRequired);
}

#[tokio::test]
async fn the_connect_flow_exchanges_a_code_once() {
    let sim = NinjaOneSim::start().await.unwrap();
    let store: Arc<dyn TokenStore> = Arc::new(InMemoryTokenStore::new());
    let config = sim.authorization_code_config(Arc::clone(&store), "acme");
    let code = sim.issue_authorization_code();
    let tokens = exchange_authorization_code(&config, &code, "https://psa.example/cb")
        .await
        .unwrap();
    assert!(tokens.refresh_token.is_some());
    assert_eq!(
        store
            .compare_and_swap("acme", None, &TokenRecord::new(tokens))
            .await
            .unwrap(),
        Some(1)
    );
    provider(config.clone()).test_connection().await.unwrap();
    let e = exchange_authorization_code(&config, &code, "https://psa.example/cb")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("authorization code"), "{e}");
}

#[tokio::test]
async fn single_devices_are_fetched_through_the_filtered_listing() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(30, 2, 3))
        .await
        .unwrap();
    let p = provider(sim.config());
    let d = p
        .get_device(&ExternalDeviceId::new("17"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.external_id.as_str(), "17");
    sim.delete_device(17);
    assert!(
        p.get_device(&ExternalDeviceId::new("17"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        p.get_device(&ExternalDeviceId::new("x17"))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(sim.stats().per_device_requests(), 0);
}

#[tokio::test]
async fn activity_windows_page_and_batch_their_devices() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(300, 3, 4))
        .await
        .unwrap();
    let mut config = sim.config();
    config.activity_page_size = 10;
    config.id_batch_size = 7;
    let p = provider(config);

    let start = p
        .list_changes_page(&ChangesRequest::new(None))
        .await
        .unwrap();
    assert_eq!(
        start.checkpoint.as_deref(),
        Some("0"),
        "an account without activities"
    );
    // 25 devices change, 3 are deleted, and alerts add noise.
    for id in 1..=25 {
        sim.update_device(id, |d| d.display_name = format!("changed-{id}"));
    }
    for id in 100..103 {
        sim.delete_device(id);
    }
    for id in 200..210 {
        sim.record_activity(Some(id), "CONDITION", "TRIGGERED");
    }
    let head = sim.last_activity_id();
    sim.reset_stats();

    let mut request = ChangesRequest::new(start.checkpoint.clone());
    let (mut changed, mut deleted, mut pages) = (Vec::new(), Vec::new(), 0);
    let checkpoint = loop {
        let page = p.list_changes_page(&request).await.unwrap();
        pages += 1;
        changed.extend(page.devices);
        deleted.extend(page.deleted);
        match page.next_cursor {
            Some(c) => {
                assert!(
                    page.checkpoint.is_none(),
                    "the checkpoint comes with the last page"
                );
                request = request.with_cursor(Some(c));
            }
            None => break page.checkpoint.unwrap(),
        }
    };
    assert_eq!(checkpoint, head.to_string());
    assert_eq!(pages, 4, "38 activities at 10 per page");
    let mut ids: Vec<i64> = changed
        .iter()
        .map(|d| d.external_id.as_str().parse().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=25).collect::<Vec<_>>());
    assert!(
        changed
            .iter()
            .all(|d| d.display_name.starts_with("changed-"))
    );
    let mut gone: Vec<&str> = deleted.iter().map(|(id, _)| id.as_str()).collect();
    gone.sort_unstable();
    assert_eq!(gone, ["100", "101", "102"]);
    let stats = sim.stats();
    assert_eq!(stats.per_device_requests(), 0);
    // 25 devices in batches of 7 spread over the pages: a handful of filtered listings.
    assert!(stats.requests_to("/v2/devices-detailed") <= 8, "{stats:?}");

    // Nothing since: an empty window that keeps its checkpoint.
    let quiet = p
        .list_changes_page(&ChangesRequest::new(Some(checkpoint.clone())))
        .await
        .unwrap();
    assert!(quiet.devices.is_empty() && quiet.deleted.is_empty());
    assert_eq!(quiet.checkpoint, Some(checkpoint.clone()));

    // Retention passed the checkpoint: the window is lost.
    sim.update_device(1, |d| d.display_name = "again".into());
    sim.purge_activities_through(sim.last_activity_id() - 1);
    let e = p
        .list_changes_page(&ChangesRequest::new(Some(checkpoint)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CursorExpired);
    let future = (sim.last_activity_id() + 1_000).to_string();
    let e = p
        .list_changes_page(&ChangesRequest::new(Some(future)))
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::CursorExpired,
        "a checkpoint from another account"
    );
    let e = p
        .list_changes_page(&ChangesRequest::new(Some("yesterday".into())))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CursorExpired);
    let e = p
        .list_changes_page(
            &ChangesRequest::new(Some("5".into())).with_cursor(Some(Cursor::new("junk"))),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CursorExpired);
}

#[tokio::test]
async fn webhooks_are_registered_with_the_secret_header() {
    let sim = NinjaOneSim::start().await.unwrap();
    let p = provider(sim.config());
    let verifier = WebhookVerifier::new(
        rmm_sync::model::IntegrationId::from_name("acme"),
        "0123456789abcdef0123456789abcdef".to_owned().into(),
    )
    .unwrap();
    let url = url::Url::parse("https://psa.example/hooks/ninjaone/acme").unwrap();
    p.register_webhook(&verifier, &url).await.unwrap();
    let config = sim.webhook_config().unwrap();
    assert_eq!(config["url"], url.as_str());
    assert_eq!(
        config["headers"][0]["value"],
        "0123456789abcdef0123456789abcdef"
    );
    p.remove_webhook().await.unwrap();
    assert!(sim.webhook_config().is_none());
}

#[tokio::test]
async fn connection_tests_and_capabilities() {
    let sim = NinjaOneSim::with_fleet(SimFleet::new(5, 1, 3))
        .await
        .unwrap();
    let p = provider(
        sim.config()
            .with_rate_limit(Some(RateLimit::per_minute(6000).with_burst(10))),
    );
    let report = p.test_connection().await.unwrap();
    assert!(report.warnings.is_empty(), "{report:?}");
    assert!(
        report.details.iter().any(|d| d.contains("activity log")),
        "{report:?}"
    );
    let caps = p.capabilities();
    assert_eq!(caps.requests_per_minute, Some(6000));
    assert!(caps.list_changes && caps.get_device && caps.deletion_detection && caps.webhooks);
    assert!(!caps.list_devices_per_scope && !caps.list_devices_since);

    let empty = NinjaOneSim::start().await.unwrap();
    let report = provider(empty.config()).test_connection().await.unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("no organizations")),
        "{report:?}"
    );
}
