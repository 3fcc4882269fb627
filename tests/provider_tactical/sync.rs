//! Whole runs through `SyncOrchestrator` into `InMemoryStore`: the 10k-agent full sync, moves
//! between clients, tombstones, incremental runs and webhook-driven refreshes.

use std::collections::HashMap;

use rmm_sync::model::{AgentStatus, DeviceKind, ExternalDeviceId};
use rmm_sync::provider::RmmProvider;
use rmm_sync::provider::tactical::{
    ALERT_WEBHOOK_TEMPLATE, AlertAction, DeviceScope, TacticalAuth, TacticalProvider,
    TacticalWebhookConfig, TacticalWebhookEvent,
};
use rmm_sync::store::{MappingStatus, ScopeAssignment};
use rmm_sync::sync::{RunRequest, RunStatus};
use rmm_sync::testkit::CannedResponse;
use rmm_sync::testkit::TacticalSim;
use rmm_sync::testkit::tactical::SimFault;

use crate::support::{Harness, api_key_provider, config, host_client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sync_of_10k_agents_is_correct_and_a_rerun_writes_nothing() {
    let sim = TacticalSim::builder()
        .agents(10_000)
        .clients(50)
        .sites_per_client(4)
        .seed(2026)
        .start()
        .await;
    let h = Harness::new(api_key_provider(&sim)).await;
    sim.clear_requests();

    let report = h.run(RunRequest::full()).await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert_eq!(report.counts.created, 10_000);
    assert_eq!(report.counts.failed + report.counts.skipped, 0);
    let pages = sim.requests_to("beta/v1/agent/");
    assert_eq!(pages.len(), 10, "pages of 1000");
    assert!(sim.requests_to("agents/").is_empty(), "no per-agent calls");

    let assets = h.assets().await;
    assert_eq!(assets.len(), 10_000);
    let by_agent: HashMap<&str, &rmm_sync::store::AssetRecord> = assets
        .iter()
        .map(|a| (a.rmm_device_id.as_deref().unwrap(), a))
        .collect();
    let now = chrono::Utc::now();
    let sites: HashMap<i64, (i64, String)> = sim
        .sites()
        .into_iter()
        .map(|s| (s.id, (s.client, s.name)))
        .collect();
    for agent in sim.agents() {
        let asset = by_agent[agent.agent_id.as_str()];
        let (client, site_name) = &sites[&agent.site];
        assert_eq!(asset.client_id, host_client(*client));
        assert_eq!(
            asset.rmm_organization_id.as_deref(),
            Some(client.to_string().as_str())
        );
        assert_eq!(asset.name, agent.hostname);
        assert_eq!(asset.location.as_deref(), Some(site_name.as_str()));
        let kind = if agent.monitoring_type == "server" {
            DeviceKind::Server
        } else {
            DeviceKind::Workstation
        };
        assert_eq!(asset.asset_type, kind);
        assert_eq!(asset.last_seen_at, agent.last_seen);
        assert_eq!(asset.status, "active");
        let expected_status = match agent.last_seen.map(|t| (now - t).num_minutes()) {
            None => AgentStatus::Offline,
            Some(m) if m < 4 => AgentStatus::Online,
            Some(m) if m < 30 => AgentStatus::Offline,
            Some(_) => AgentStatus::Overdue,
        };
        assert_eq!(
            asset.agent_status,
            Some(expected_status),
            "{}",
            agent.agent_id
        );
        let ext = asset.extension.as_ref().expect("extension row");
        assert_eq!(ext.ram_gb, agent.total_ram.map(|r| r as f64));
        assert_eq!(ext.agent_version.as_deref(), Some(agent.version.as_str()));
        assert_eq!(ext.wan_ip, agent.public_ip);
        assert!(
            asset
                .serial_number
                .as_deref()
                .is_some_and(|s| s.starts_with("SN"))
        );
    }

    // Nothing changed on the server: the second run writes nothing.
    let again = h.run(RunRequest::full()).await;
    assert_eq!(again.counts.unchanged, 10_000, "{:?}", again.counts);
    assert_eq!(again.counts.tombstoned, 0);
}

/// Sites of a client other than `client`.
fn site_of_other_client(sim: &TacticalSim, client: i64) -> (i64, i64) {
    let site = sim
        .sites()
        .into_iter()
        .find(|s| s.client != client)
        .unwrap();
    (site.id, site.client)
}

#[tokio::test]
async fn an_agent_moving_between_clients_stays_one_asset() {
    let sim = TacticalSim::builder().agents(300).clients(3).start().await;
    let h = Harness::new(api_key_provider(&sim)).await;
    h.run(RunRequest::full()).await;
    let agent = sim.agents()[17].clone();
    let from = sim.client_of(&agent.agent_id).unwrap();
    let before = h.assets().await;
    let asset_id = before
        .iter()
        .find(|a| a.rmm_device_id.as_deref() == Some(agent.agent_id.as_str()))
        .unwrap()
        .asset_id;

    let (site, to) = site_of_other_client(&sim, from);
    assert!(sim.move_agent(&agent.agent_id, site));
    let report = h.run(RunRequest::full()).await;
    assert_eq!(report.counts.moved, 1, "{:?}", report.counts);
    assert_eq!(report.counts.created + report.counts.tombstoned, 0);

    let after = h.assets().await;
    assert_eq!(after.len(), before.len(), "no second asset");
    let moved: Vec<_> = after
        .iter()
        .filter(|a| a.rmm_device_id.as_deref() == Some(agent.agent_id.as_str()))
        .collect();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].asset_id, asset_id);
    assert_eq!(
        moved[0].client_id,
        host_client(to),
        "the client follows the scope"
    );
    assert_eq!(
        moved[0].rmm_organization_id.as_deref(),
        Some(to.to_string().as_str())
    );
    let mapping = h
        .store
        .get_mapping(
            h.tenant,
            h.integration,
            &ExternalDeviceId::new(&agent.agent_id),
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mapping.scope_id.as_str(), to.to_string());
    assert_eq!(mapping.status, MappingStatus::Synced);
    assert_eq!(mapping.metadata["site_id"], site);
}

#[tokio::test]
async fn with_site_scopes_a_move_between_sites_is_a_move() {
    let sim = TacticalSim::builder()
        .agents(40)
        .clients(2)
        .sites_per_client(2)
        .start()
        .await;
    let provider = TacticalProvider::new(
        config(&sim, TacticalAuth::api_key(sim.api_key())).with_device_scope(DeviceScope::Site),
    )
    .unwrap();
    let h = Harness::new(provider).await;
    for s in sim.sites() {
        let assignment = ScopeAssignment {
            client_id: Some(Some(host_client(s.client))),
            ..Default::default()
        };
        h.store
            .assign_scope(
                h.tenant,
                h.integration,
                &format!("site:{}", s.id).into(),
                &assignment,
            )
            .await
            .unwrap();
    }
    assert_eq!(h.run(RunRequest::full()).await.counts.created, 40);
    let agent = sim.agents()[3].clone();
    let other = sim
        .sites()
        .into_iter()
        .find(|s| s.id != agent.site)
        .unwrap();
    sim.move_agent(&agent.agent_id, other.id);
    let report = h.run(RunRequest::full()).await;
    assert_eq!(report.counts.moved, 1);
    assert_eq!(h.assets().await.len(), 40);
}

#[tokio::test]
async fn agents_that_vanish_from_a_complete_listing_are_tombstoned_and_restored() {
    let sim = TacticalSim::builder().agents(120).clients(2).start().await;
    let h = Harness::new(api_key_provider(&sim)).await;
    h.run(RunRequest::full()).await;
    let gone: Vec<_> = sim.agents().into_iter().take(3).collect();
    for a in &gone {
        sim.remove_agent(&a.agent_id);
    }
    let report = h.run(RunRequest::full()).await;
    assert_eq!(report.counts.tombstoned, 3, "{:?}", report.counts);
    for a in &gone {
        let mapping = h
            .store
            .get_mapping(h.tenant, h.integration, &ExternalDeviceId::new(&a.agent_id))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(mapping.status, MappingStatus::Deleted);
        let asset = h
            .store
            .get_asset(h.tenant, mapping.asset_id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(asset.status, "inactive");
    }
    assert_eq!(h.assets().await.len(), 120, "never hard-deleted");

    // A listing that fails midway tombstones nothing.
    sim.remove_agent(&sim.agents()[0].agent_id);
    sim.fail_next("beta/v1/agent/", 500, 3);
    let failed = h.run(RunRequest::full()).await;
    assert_eq!(failed.counts.tombstoned, 0);
    assert!(!failed.scopes_incomplete.is_empty());

    sim.put_agent(gone[0].clone());
    let back = h.run(RunRequest::full()).await;
    assert_eq!(back.counts.restored, 1, "{:?}", back.counts);
    assert_eq!(
        back.counts.tombstoned, 1,
        "the agent removed before the failed run"
    );
}

#[tokio::test]
async fn incremental_runs_filter_by_last_seen_on_the_server() {
    let sim = TacticalSim::builder().agents(200).clients(2).start().await;
    let h = Harness::new(api_key_provider(&sim)).await;
    // Without a checkpoint an incremental run walks everything and records the last-seen clock.
    let first = h.run(RunRequest::incremental()).await;
    assert!(first.fell_back_to_full);
    assert_eq!(first.counts.created, 200);
    let quiet = sim
        .agents()
        .into_iter()
        .find(|a| {
            a.last_seen
                .is_some_and(|t| t < sim.epoch() - chrono::Duration::hours(3))
        })
        .unwrap();
    let now = chrono::Utc::now();
    sim.update_agent(&quiet.agent_id, |a| {
        a.last_seen = Some(now);
        a.hostname = "RENAMED-01".into();
    });
    let stale = sim
        .agents()
        .into_iter()
        .find(|a| {
            a.agent_id != quiet.agent_id
                && a.last_seen
                    .is_some_and(|t| t < sim.epoch() - chrono::Duration::hours(3))
        })
        .unwrap();
    sim.remove_agent(&stale.agent_id);
    sim.clear_requests();

    let report = h.run(RunRequest::incremental()).await;
    assert_eq!(report.status, RunStatus::Completed);
    assert!(!report.fell_back_to_full);
    let asked = sim.requests_to("beta/v1/agent/");
    assert!(
        asked
            .iter()
            .all(|r| r.query_param("last_seen_range_after").is_some())
    );
    assert!(
        report.counts.seen < 200,
        "only recently seen agents: {:?}",
        report.counts
    );
    assert_eq!(
        report.counts.tombstoned, 0,
        "incremental listings never sweep"
    );
    let renamed = h
        .assets()
        .await
        .into_iter()
        .find(|a| a.rmm_device_id.as_deref() == Some(quiet.agent_id.as_str()))
        .unwrap();
    assert_eq!(renamed.name, "RENAMED-01");
    assert_eq!(renamed.agent_status, Some(AgentStatus::Online));

    let full = h.run(RunRequest::full()).await;
    assert_eq!(full.counts.tombstoned, 1, "the next full run sweeps");
}

#[tokio::test]
async fn incremental_runs_on_servers_without_the_beta_api_diff_full_listings() {
    let sim = TacticalSim::builder()
        .agents(50)
        .clients(2)
        .beta_enabled(false)
        .start()
        .await;
    let h = Harness::new(api_key_provider(&sim)).await;
    h.provider.test_connection().await.unwrap();
    assert_eq!(h.run(RunRequest::full()).await.counts.created, 50);
    sim.remove_agent(&sim.agents()[0].agent_id);
    let report = h.run(RunRequest::incremental()).await;
    assert!(report.fell_back_to_full);
    assert_eq!(report.counts.tombstoned, 1);
}

#[tokio::test]
async fn unmapped_clients_create_nothing() {
    let sim = TacticalSim::builder().agents(60).clients(2).start().await;
    let h = Harness::new(api_key_provider(&sim)).await;
    h.store
        .assign_scope(
            h.tenant,
            h.integration,
            &"2".into(),
            &ScopeAssignment {
                client_id: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let report = h.run(RunRequest::full()).await;
    let in_client_2 = sim
        .agents()
        .iter()
        .filter(|a| sim.client_of(&a.agent_id) == Some(2))
        .count() as u64;
    assert_eq!(
        report.skipped_reasons.get("unmapped_scope").copied(),
        Some(in_client_2)
    );
    assert_eq!(report.counts.created, 60 - in_client_2);
}

#[tokio::test]
async fn a_webhook_refreshes_one_agent_and_tombstones_a_deleted_one() {
    let sim = TacticalSim::builder().agents(30).start().await;
    let provider = TacticalProvider::new(
        config(&sim, TacticalAuth::api_key(sim.api_key()))
            .with_webhook(TacticalWebhookConfig::new("hook-secret-0123456789")),
    )
    .unwrap();
    let h = Harness::new(provider).await;
    h.run(RunRequest::full()).await;

    let agent = sim.agents()[4].clone();
    sim.update_agent(&agent.agent_id, |a| {
        a.hostname = "NEW-NAME".into();
        a.last_seen = Some(chrono::Utc::now());
    });
    let body = sim
        .render_alert_webhook(ALERT_WEBHOOK_TEMPLATE, &agent.agent_id, 901, "error")
        .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "X-RMM-Sync-Secret",
        "hook-secret-0123456789".parse().unwrap(),
    );
    let event = h.provider.verify_and_parse(&headers, &body).unwrap();
    let TacticalWebhookEvent::Alert(alert) = &event else {
        panic!("{event:?}")
    };
    assert_eq!(alert.action, AlertAction::Triggered);
    assert_eq!(alert.alert_id.as_deref(), Some("901"));
    assert_eq!(
        alert.client_id,
        sim.client_of(&agent.agent_id).map(|c| c.to_string())
    );

    sim.clear_requests();
    let report = h.run(RunRequest::device(event.agent_id().clone())).await;
    assert_eq!(report.counts.updated, 1, "{:?}", report.counts);
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![format!("/agents/{}/", agent.agent_id)],
        "one call, no listing"
    );
    let asset = h
        .assets()
        .await
        .into_iter()
        .find(|a| a.rmm_device_id.as_deref() == Some(agent.agent_id.as_str()))
        .unwrap();
    assert_eq!(asset.name, "NEW-NAME");

    let wrong = {
        let mut w = reqwest::header::HeaderMap::new();
        w.insert(
            "X-RMM-Sync-Secret",
            "hook-secret-0123456788".parse().unwrap(),
        );
        w
    };
    assert_eq!(
        h.provider
            .verify_and_parse(&wrong, &body)
            .unwrap_err()
            .kind(),
        rmm_sync::ErrorKind::Unauthorized
    );

    let body = sim
        .render_alert_webhook(
            ALERT_WEBHOOK_TEMPLATE,
            &sim.agents()[9].agent_id,
            902,
            "warning",
        )
        .unwrap();
    let event = h.provider.verify_and_parse(&headers, &body).unwrap();
    sim.remove_agent(event.agent_id().as_str());
    let report = h.run(RunRequest::device(event.agent_id().clone())).await;
    assert_eq!(report.counts.tombstoned, 1);
}

#[tokio::test]
async fn providers_without_a_webhook_secret_refuse_deliveries() {
    let sim = TacticalSim::builder().agents(1).start().await;
    let e = api_key_provider(&sim)
        .verify_and_parse(&reqwest::header::HeaderMap::new(), b"{}")
        .unwrap_err();
    assert_eq!(e.kind(), rmm_sync::ErrorKind::InvalidConfig);
}

/// A 429 or 503 with a body (DRF's JSON, an nginx HTML page) is judged by its status: retried,
/// and the run completes.
#[tokio::test]
async fn throttling_and_outages_with_a_body_are_retried_and_the_run_completes() {
    let answers = [
        CannedResponse::json(
            429,
            r#"{"detail":"Request was throttled. Expected available in 0 seconds."}"#,
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
        let sim = TacticalSim::builder().agents(40).clients(2).start().await;
        let h = Harness::new(api_key_provider(&sim)).await;
        sim.clear_requests();
        sim.inject(SimFault {
            path_prefix: "beta/v1/agent/".into(),
            status: answer.status,
            remaining: 2,
            retry_after: None,
            canned: Some(answer.clone()),
        });
        let report = h.run(RunRequest::full()).await;
        assert_eq!(
            report.status,
            RunStatus::Completed,
            "{answer:?}: {:?}",
            report.errors
        );
        assert_eq!(report.counts.created, 40, "{answer:?}");
        assert_eq!(
            sim.requests_to("beta/v1/agent/").len(),
            3,
            "{answer:?}: two refused, then the page"
        );
    }
}
