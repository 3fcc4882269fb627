//! Scopes, the paged beta listing, the classic fallback, single-agent fetch and error mapping.

use std::collections::HashSet;

use futures::TryStreamExt;
use rmm_sync::ErrorKind;
use rmm_sync::model::{AgentStatus, DeviceKind, ExternalDeviceId, Reported, ScopeKind};
use rmm_sync::provider::tactical::{ApiMode, DeviceScope, TacticalAuth, TacticalProvider};
use rmm_sync::provider::{
    Cursor, DevicePage, DevicePageRequest, DeviceSnapshotSource, RmmProvider, ScopeSource,
    device_pages,
};
use rmm_sync::testkit::TacticalSim;

use crate::support::{api_key_provider, config};

async fn all_pages(provider: TacticalProvider, request: DevicePageRequest) -> Vec<DevicePage> {
    let source: std::sync::Arc<dyn DeviceSnapshotSource> = std::sync::Arc::new(provider);
    device_pages(source, request).try_collect().await.unwrap()
}

#[tokio::test]
async fn scopes_are_clients_and_sites_with_parents() {
    let sim = TacticalSim::builder()
        .agents(10)
        .clients(3)
        .sites_per_client(2)
        .start()
        .await;
    let scopes = api_key_provider(&sim).list_scopes().await.unwrap();
    let clients: Vec<_> = scopes
        .iter()
        .filter(|s| s.kind == ScopeKind::Organization)
        .collect();
    let sites: Vec<_> = scopes
        .iter()
        .filter(|s| s.kind == ScopeKind::Site)
        .collect();
    assert_eq!((clients.len(), sites.len()), (3, 6));
    assert_eq!(clients[0].id.as_str(), "1");
    assert_eq!(clients[0].name, "Client 000");
    for site in sim.sites() {
        let scope = sites
            .iter()
            .find(|s| s.id.as_str() == format!("site:{}", site.id))
            .unwrap();
        assert_eq!(
            scope.parent.as_ref().unwrap().as_str(),
            site.client.to_string()
        );
        assert_eq!(scope.name, site.name);
    }
}

#[tokio::test]
async fn the_beta_listing_pages_by_1000_in_id_order() {
    let sim = TacticalSim::builder().agents(2500).clients(5).start().await;
    let pages = all_pages(api_key_provider(&sim), DevicePageRequest::new(None)).await;
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|p| p.total == Some(2500)));
    let ids: Vec<ExternalDeviceId> = pages
        .iter()
        .flat_map(|p| p.devices.iter().map(|d| d.external_id.clone()))
        .collect();
    let distinct: HashSet<_> = ids.iter().collect();
    assert_eq!((ids.len(), distinct.len()), (2500, 2500));
    let expected: Vec<String> = sim.agents().into_iter().map(|a| a.agent_id).collect();
    let got: Vec<String> = ids.iter().map(|i| i.as_str().to_owned()).collect();
    assert_eq!(got, expected, "id order, nothing skipped");

    let requests = sim.requests_to("beta/v1/agent/");
    let pages_asked: Vec<String> = requests
        .iter()
        .map(|r| r.query_param("page").unwrap())
        .collect();
    assert_eq!(pages_asked, vec!["1", "2", "3"]);
    assert!(
        requests
            .iter()
            .all(|r| r.query_param("page_size").as_deref() == Some("1000"))
    );
    assert!(
        requests
            .iter()
            .all(|r| r.query_param("ordering").as_deref() == Some("id"))
    );
    assert!(
        sim.requests_to("agents/").is_empty(),
        "no per-agent or classic calls"
    );
}

#[tokio::test]
async fn page_sizes_are_capped_at_the_api_maximum() {
    let sim = TacticalSim::builder().agents(3).start().await;
    let request = DevicePageRequest::new(None).with_page_size(Some(50_000));
    api_key_provider(&sim)
        .list_devices_page(&request)
        .await
        .unwrap();
    let asked = &sim.requests_to("beta/v1/agent/")[0];
    assert_eq!(asked.query_param("page_size").as_deref(), Some("1000"));
}

#[tokio::test]
async fn since_is_filtered_by_the_server() {
    let sim = TacticalSim::builder().agents(300).start().await;
    let since = sim.epoch() - chrono::Duration::minutes(30);
    let pages = all_pages(
        api_key_provider(&sim),
        DevicePageRequest::new(None).with_since(Some(since)),
    )
    .await;
    let got: HashSet<String> = pages
        .iter()
        .flat_map(|p| p.devices.iter().map(|d| d.external_id.as_str().to_owned()))
        .collect();
    let want: HashSet<String> = sim
        .agents()
        .into_iter()
        .filter(|a| a.last_seen.is_some_and(|t| t >= since))
        .map(|a| a.agent_id)
        .collect();
    assert!(!want.is_empty() && want.len() < 300);
    assert_eq!(got, want);
    let asked = sim.requests_to("beta/v1/agent/")[0]
        .query_param("last_seen_range_after")
        .unwrap();
    assert_eq!(chrono::DateTime::parse_from_rfc3339(&asked).unwrap(), since);
}

#[tokio::test]
async fn model_rows_carry_the_agent_fields() {
    let sim = TacticalSim::builder().agents(60).start().await;
    let page = api_key_provider(&sim)
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap();
    let now = chrono::Utc::now();
    for agent in sim.agents() {
        let d = page
            .devices
            .iter()
            .find(|d| d.external_id.as_str() == agent.agent_id)
            .unwrap();
        let client = sim.client_of(&agent.agent_id).unwrap();
        assert_eq!(d.scope_id.as_str(), client.to_string());
        assert_eq!(d.display_name, agent.hostname);
        let kind = if agent.monitoring_type == "server" {
            DeviceKind::Server
        } else {
            DeviceKind::Workstation
        };
        assert_eq!(d.kind, kind);
        assert_eq!(d.last_seen_at, agent.last_seen.into());
        let seen_minutes = agent.last_seen.map(|t| (now - t).num_minutes());
        let status = match seen_minutes {
            None => AgentStatus::Offline,
            Some(m) if m < 4 => AgentStatus::Online,
            Some(m) if m < 30 => AgentStatus::Offline,
            Some(_) => AgentStatus::Overdue,
        };
        assert_eq!(d.agent_status, Reported::Value(status), "{agent:?}");
        assert_eq!(
            d.details.ram_gb,
            Reported::Value(agent.total_ram.unwrap() as f64)
        );
        assert_eq!(
            d.details.os_version,
            Reported::Value(agent.operating_system.clone())
        );
        assert_eq!(d.details.wan_ip, agent.public_ip.clone().into());
        assert!(d.details.cpu_model.value().is_some_and(|c| !c.is_empty()));
        assert!(
            d.details
                .lan_ip
                .value()
                .is_some_and(|ip| ip.starts_with("10."))
        );
        assert!(d.serial_number.value().is_some_and(|s| s.starts_with("SN")));
        assert_eq!(d.details.disk_usage.value().map(Vec::len), Some(1));
        let user = (agent.logged_in_username != "None").then(|| agent.logged_in_username.clone());
        assert_eq!(d.details.current_user, user.into());
        let site = sim
            .sites()
            .into_iter()
            .find(|s| s.id == agent.site)
            .unwrap();
        assert_eq!(d.location, Reported::Value(site.name));
        let info = d.details.system_info.value().unwrap();
        assert_eq!(info["needs_reboot"], agent.needs_reboot);
        assert_eq!(info["platform"], agent.plat.as_str());
    }
}

#[tokio::test]
async fn devices_can_belong_to_sites() {
    let sim = TacticalSim::builder().agents(20).start().await;
    let provider = TacticalProvider::new(
        config(&sim, TacticalAuth::api_key(sim.api_key())).with_device_scope(DeviceScope::Site),
    )
    .unwrap();
    let page = provider
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap();
    for d in &page.devices {
        let agent = sim.agent(d.external_id.as_str()).unwrap();
        assert_eq!(d.scope_id.as_str(), format!("site:{}", agent.site));
    }
}

#[tokio::test]
async fn servers_without_the_beta_api_fall_back_to_the_classic_listing() {
    let sim = TacticalSim::builder()
        .agents(40)
        .clients(3)
        .beta_enabled(false)
        .start()
        .await;
    let provider = api_key_provider(&sim);
    assert!(
        provider.capabilities().list_devices_since,
        "unknown until detected"
    );
    let report = provider.test_connection().await.unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("BETA_API_ENABLED")),
        "{report:?}"
    );
    assert_eq!(provider.effective_api(), ApiMode::Classic);
    assert!(
        !provider.capabilities().list_devices_since,
        "no server-side filter to claim"
    );

    sim.clear_requests();
    let pages = all_pages(provider, DevicePageRequest::new(None)).await;
    assert_eq!(pages.len(), 3, "one page per client");
    let devices: Vec<_> = pages.iter().flat_map(|p| p.devices.iter()).collect();
    assert_eq!(devices.len(), 40);
    for d in &devices {
        let agent = sim.agent(d.external_id.as_str()).unwrap();
        assert_eq!(
            d.scope_id.as_str(),
            sim.client_of(&agent.agent_id).unwrap().to_string()
        );
        assert_eq!(
            d.details.pending_patches,
            Reported::Value(i32::from(agent.has_patches_pending))
        );
        assert_eq!(d.details.ram_gb, Reported::Absent, "the table has no RAM");
        assert!(d.agent_status.value().is_some());
        assert_eq!(d.metadata.value().unwrap()["site_id"], agent.site);
    }
    let clients: Vec<String> = sim
        .requests_to("agents/")
        .iter()
        .map(|r| r.query_param("client").unwrap())
        .collect();
    assert_eq!(clients, vec!["1", "2", "3"]);
    assert!(
        sim.requests_to("beta/").is_empty(),
        "detected once, not probed again"
    );
}

#[tokio::test]
async fn a_first_listing_detects_a_missing_beta_api_by_itself() {
    let sim = TacticalSim::builder()
        .agents(12)
        .beta_enabled(false)
        .start()
        .await;
    let since = sim.epoch() - chrono::Duration::minutes(30);
    let pages = all_pages(
        api_key_provider(&sim),
        DevicePageRequest::new(None).with_since(Some(since)),
    )
    .await;
    let got: HashSet<String> = pages
        .iter()
        .flat_map(|p| p.devices.iter().map(|d| d.external_id.as_str().to_owned()))
        .collect();
    let want: HashSet<String> = sim
        .agents()
        .into_iter()
        .filter(|a| a.last_seen.is_some_and(|t| t >= since))
        .map(|a| a.agent_id)
        .collect();
    assert_eq!(got, want, "the since contract holds on the fallback too");
}

#[tokio::test]
async fn beta_only_configuration_fails_clearly_without_the_beta_api() {
    let sim = TacticalSim::builder()
        .agents(2)
        .beta_enabled(false)
        .start()
        .await;
    let provider = TacticalProvider::new(
        config(&sim, TacticalAuth::api_key(sim.api_key())).with_api(ApiMode::Beta),
    )
    .unwrap();
    let e = provider
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(e.message().contains("BETA_API_ENABLED"), "{e}");
}

#[tokio::test]
async fn a_shrinking_agent_set_expires_the_listing_instead_of_skipping_agents() {
    let sim = TacticalSim::builder().agents(30).start().await;
    let provider = api_key_provider(&sim);
    let first = provider
        .list_devices_page(&DevicePageRequest::new(None).with_page_size(Some(10)))
        .await
        .unwrap();
    let next = first.next_cursor.clone().unwrap();
    let victim = sim.agents()[0].agent_id.clone();
    sim.remove_agent(&victim);
    let request = DevicePageRequest::new(None)
        .with_page_size(Some(10))
        .with_cursor(Some(next));
    let e = provider.list_devices_page(&request).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CursorExpired);
    assert!(e.message().contains("shrank"), "{e}");

    let bogus = DevicePageRequest::new(None).with_cursor(Some(Cursor::new("page-two")));
    assert_eq!(
        provider.list_devices_page(&bogus).await.unwrap_err().kind(),
        ErrorKind::CursorExpired
    );
}

#[tokio::test]
async fn pages_past_the_end_expire_the_listing() {
    let sim = TacticalSim::builder().agents(5).start().await;
    let request = DevicePageRequest::new(None).with_cursor(Some(Cursor::new("beta:9:5")));
    let e = api_key_provider(&sim)
        .list_devices_page(&request)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CursorExpired);
    assert!(e.message().contains("Invalid page."), "{e}");
}

#[tokio::test]
async fn per_scope_requests_are_refused_not_misanswered() {
    let sim = TacticalSim::builder().agents(2).start().await;
    let request = DevicePageRequest::new(Some("1".into()));
    let e = api_key_provider(&sim)
        .list_devices_page(&request)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
}

#[tokio::test]
async fn agents_of_clients_the_role_cannot_see_are_skipped() {
    let sim = TacticalSim::builder().agents(40).clients(2).start().await;
    sim.set_visible_clients(Some(vec![1]));
    let pages = all_pages(api_key_provider(&sim), DevicePageRequest::new(None)).await;
    let listed: Vec<_> = pages.iter().flat_map(|p| p.devices.iter()).collect();
    let visible = sim
        .agents()
        .iter()
        .filter(|a| sim.client_of(&a.agent_id) == Some(1))
        .count();
    assert!(visible > 0 && visible < 40);
    assert_eq!(listed.len(), visible);
    assert!(listed.iter().all(|d| d.scope_id.as_str() == "1"));
}

#[tokio::test]
async fn get_device_matches_the_listing_and_knows_deleted_agents() {
    let sim = TacticalSim::builder().agents(25).start().await;
    let provider = api_key_provider(&sim);
    let page = provider
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap();
    for listed in page.devices.iter().take(5) {
        let single = provider
            .get_device(&listed.external_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&single, listed, "detail and listing give the same snapshot");
    }
    let gone = sim.agents()[7].agent_id.clone();
    sim.remove_agent(&gone);
    assert_eq!(
        provider.get_device(&gone.as_str().into()).await.unwrap(),
        None
    );
    let path = format!("/agents/{gone}/");
    assert!(sim.requests().iter().any(|r| r.path == path));
}

#[tokio::test]
async fn transient_failures_are_retried_and_persistent_ones_classified() {
    let sim = TacticalSim::builder().agents(5).start().await;
    let provider = api_key_provider(&sim);
    sim.fail_next("clients/", 503, 2);
    assert!(!provider.list_scopes().await.unwrap().is_empty());
    assert_eq!(sim.requests_to("clients/").len(), 3);

    sim.fail_next("clients/", 502, 3);
    let e = provider.list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(!e.is_retryable(), "retries exhausted");
    assert!(e.message().contains("502"), "{e}");

    sim.fail_next("beta/v1/agent/", 403, 1);
    let e = provider
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert!(e.message().contains("permission"), "{e}");
}

#[tokio::test]
async fn the_dashboard_url_is_named_as_the_mistake() {
    let sim = TacticalSim::builder().agents(2).start().await;
    sim.set_dashboard_mode(true);
    let e = api_key_provider(&sim).test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert!(e.message().contains("dashboard"), "{e}");
}

#[tokio::test]
async fn a_wrong_path_prefix_is_not_found_with_a_hint() {
    let sim = TacticalSim::builder().agents(2).start().await;
    let wrong = TacticalProvider::new({
        let mut c = config(&sim, TacticalAuth::api_key(sim.api_key()));
        c.base_url = format!("{}tactical/", sim.url());
        c
    })
    .unwrap();
    let e = wrong.list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains("base_url"), "{e}");
    let api_suffix = TacticalProvider::new({
        let mut c = config(&sim, TacticalAuth::api_key(sim.api_key()));
        c.base_url = format!("{}api/", sim.url());
        c
    })
    .unwrap();
    assert!(
        api_suffix.list_scopes().await.is_ok(),
        "a trailing /api is dropped"
    );
}
