//! The Tanium adapter against the simulated Gateway, through the orchestrator into
//! `InMemoryStore`: a full sync checked field by field, moves, EID changes, sweeps, incremental
//! runs, the eidLastSeen fallback, cursor expiry, agent status, single-device refresh and the
//! Asset API fallback.

mod tanium_support;

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rmm_sync::model::{AgentStatus, DeviceKind, ExternalDeviceId};
use rmm_sync::provider::tanium::default_thresholds;
use rmm_sync::provider::{DeviceSnapshotSource, RmmProvider};
use rmm_sync::store::{AssetRecord, MappingStatus};
use rmm_sync::sync::{RunRequest, RunStatus, SyncOptions};
use rmm_sync::testkit::tanium::{FaultTarget, SimEndpoint, SimFault};
use tanium_support::{Harness, client_of};

/// Whether a Tanium text value is usable (what the docs promise: empty strings and sensor
/// error values never become data).
fn usable(s: &str) -> Option<&str> {
    let t = s.trim();
    let l = t.to_ascii_lowercase();
    let junk = t.is_empty()
        || l.starts_with("error:")
        || l.starts_with("tse-error")
        || (l.starts_with('[') && l.ends_with(']'));
    (!junk).then_some(t)
}

/// The kind the docs' mapping table gives for a simulated endpoint.
fn expected_kind(e: &SimEndpoint) -> DeviceKind {
    match e.os_platform.as_str() {
        "Windows" => match e.windows.as_ref().map(|w| w.0.as_str()) {
            Some("Workstation") => DeviceKind::Workstation,
            _ => DeviceKind::Server,
        },
        "Mac" => DeviceKind::Workstation,
        "Linux" if e.chassis_type == "Notebook" => DeviceKind::Workstation,
        "Linux" | "AIX" | "Solaris" => DeviceKind::Server,
        _ => DeviceKind::Unknown,
    }
}

/// RAM as the simulator's sensors phrase it, in GB.
fn expected_ram(e: &SimEndpoint) -> Option<f64> {
    let table = [
        ("8 GB", 8.0),
        ("7.7 GB", 7.7),
        ("16 GB", 16.0),
        ("15.7 GB", 15.7),
        ("32 GB", 32.0),
        ("64 GB", 64.0),
        ("8192 MB", 8.0),
        ("7884 MB", 7.7),
        ("16384 MB", 16.0),
        ("16077 MB", 15.7),
        ("32768 MB", 32.0),
        ("65536 MB", 64.0),
    ];
    let lookup = |s: &str| table.iter().find(|(k, _)| *k == s).map(|(_, v)| *v);
    lookup(&e.memory_ram).or_else(|| lookup(&e.memory_total))
}

fn gb(s: &Option<String>) -> f64 {
    s.as_deref()
        .unwrap()
        .trim_end_matches(" GB")
        .parse()
        .unwrap()
}

fn assert_matches_endpoint(
    asset: &AssetRecord,
    e: &SimEndpoint,
    group: &str,
    run_at: DateTime<Utc>,
) {
    let ctx = format!("endpoint {} ({})", e.id, e.name);
    assert_eq!(asset.name, e.name, "{ctx}");
    assert_eq!(asset.rmm_device_id.as_deref(), Some(e.id.as_str()), "{ctx}");
    assert_eq!(asset.rmm_organization_id.as_deref(), Some(group), "{ctx}");
    assert_eq!(asset.client_id, client_of(group), "{ctx}");
    assert_eq!(asset.asset_type, expected_kind(e), "{ctx}");
    assert_eq!(
        asset.serial_number.as_deref(),
        usable(&e.serial_number),
        "{ctx}"
    );
    assert_eq!(asset.last_seen_at, e.eid_last_seen, "{ctx}");
    assert_eq!(
        asset.agent_status,
        Some(default_thresholds().evaluate(e.eid_last_seen, run_at)),
        "{ctx}"
    );
    assert_eq!(
        asset.identity.system_uuid.as_deref(),
        usable(&e.system_uuid),
        "{ctx}"
    );
    assert_eq!(
        asset.identity.manufacturer.as_deref(),
        usable(&e.manufacturer),
        "{ctx}"
    );
    assert_eq!(asset.identity.model.as_deref(), usable(&e.model), "{ctx}");
    assert_eq!(asset.identity.mac_addresses, e.mac_addresses, "{ctx}");
    let Some(x) = &asset.extension else {
        assert!(
            matches!(asset.asset_type, DeviceKind::Unknown),
            "{ctx}: no extension row"
        );
        return;
    };
    assert_eq!(x.os_type.as_deref(), usable(&e.os_name), "{ctx}");
    assert_eq!(x.cpu_model.as_deref(), usable(&e.cpu), "{ctx}");
    assert_eq!(
        x.cpu_cores,
        (e.logical_processors > 0).then_some(e.logical_processors),
        "{ctx}"
    );
    assert_eq!(x.ram_gb, expected_ram(e), "{ctx}");
    assert_eq!(x.lan_ip.as_deref(), usable(&e.ip_address), "{ctx}");
    let user = usable(&e.primary_user).or_else(|| usable(&e.last_logged_in_user));
    if user.is_some()
        || (e.primary_user.trim().is_empty() && e.last_logged_in_user.trim().is_empty())
    {
        assert_eq!(x.current_user.as_deref(), user, "{ctx}");
    }
    let disks = x.disk_usage.clone().unwrap_or_default();
    let sim_disks = e.disks.clone().unwrap_or_default();
    assert_eq!(disks.len(), sim_disks.len(), "{ctx}");
    for (d, s) in disks.iter().zip(&sim_disks) {
        assert_eq!(d.name, s.name, "{ctx}");
        assert_eq!(d.total_gb, gb(&s.total), "{ctx}");
        assert_eq!(d.free_gb, gb(&s.free), "{ctx}");
        let pct = s
            .used_percentage
            .as_deref()
            .map(|p| p.trim_end_matches(" %").parse::<f64>().unwrap());
        let computed = ((gb(&s.total) - gb(&s.free)) / gb(&s.total) * 10_000.0).round() / 100.0;
        assert_eq!(d.utilization_percent, pct.unwrap_or(computed), "{ctx}");
    }
    assert_eq!(
        x.installed_software, None,
        "{ctx}: software only when asked for"
    );
    let info = x.system_info.as_ref().expect("system info");
    assert_eq!(info["os_platform"], e.os_platform.as_str(), "{ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_of_5000_endpoints_is_correct_field_by_field() {
    let h = Harness::new(5000, 12, 42).await;
    let report = h.full().await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert_eq!(report.counts.created, 5000);
    assert_eq!(report.counts.seen, 5000);
    assert!(report.scopes_incomplete.is_empty());
    assert_eq!(h.assets().await.len(), 5000);

    let ids = h.sim.endpoint_ids();
    let mut kinds = HashSet::new();
    for eid in ids.iter().step_by(37) {
        let e = h.sim.endpoint(eid).unwrap();
        let asset = h.asset(eid).await.expect("every endpoint has an asset");
        kinds.insert(asset.asset_type);
        assert_matches_endpoint(&asset, &e, &e.groups[0], report.started_at);
    }
    assert!(
        kinds.len() >= 3,
        "the sample covers several kinds: {kinds:?}"
    );

    let again = h.full().await;
    assert_eq!(
        again.counts.unchanged, 5000,
        "an unchanged fleet writes nothing"
    );
    assert_eq!(again.counts.tombstoned, 0);
}

#[tokio::test]
async fn installed_applications_only_when_asked_for() {
    let options = SyncOptions {
        include_software: true,
        ..SyncOptions::default()
    };
    let h = Harness::with(30, 2, 5, |b| b, options).await;
    h.full().await;
    let eid = h
        .sim
        .endpoint_ids()
        .into_iter()
        .find(|id| {
            !h.sim
                .endpoint(id)
                .unwrap()
                .installed_applications
                .is_empty()
        })
        .unwrap();
    let e = h.sim.endpoint(&eid).unwrap();
    let software = h
        .asset(&eid)
        .await
        .unwrap()
        .extension
        .unwrap()
        .installed_software
        .unwrap();
    let names: Vec<&str> = software
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = e
        .installed_applications
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(names, want);
    assert!(
        h.sim
            .requests()
            .iter()
            .any(|r| r.operation.as_deref() == Some("EndpointsWithSoftwareQuery"))
    );
}

#[tokio::test]
async fn a_device_moving_groups_stays_one_asset() {
    let h = Harness::new(60, 3, 11).await;
    h.full().await;
    let eid = h.sim.endpoints_in_group("100")[0].clone();
    let before = h.asset(&eid).await.unwrap();
    assert!(h.sim.move_endpoint(&eid, "102"));

    let report = h.full().await;
    assert_eq!(report.counts.moved, 1);
    assert_eq!((report.counts.created, report.counts.tombstoned), (0, 0));
    let after = h.asset(&eid).await.unwrap();
    assert_eq!(after.asset_id, before.asset_id);
    assert_eq!(after.rmm_organization_id.as_deref(), Some("102"));
    assert_eq!(after.client_id, client_of("102"));
    assert_eq!(h.mapping(&eid).await.unwrap().scope_id.as_str(), "102");
    assert_eq!(h.assets().await.len(), 60);
}

#[tokio::test]
async fn an_eid_change_rekeys_the_asset() {
    let h = Harness::new(40, 2, 12).await;
    h.full().await;
    let old = h.sim.endpoint_ids()[3].clone();
    let asset_before = h.asset(&old).await.unwrap();
    let new = h.sim.rekey_endpoint(&old).unwrap();

    let report = h.full().await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert_eq!((report.counts.created, report.counts.tombstoned), (0, 0));
    let asset = h
        .asset(&new)
        .await
        .expect("the new EID maps to the old asset");
    assert_eq!(asset.asset_id, asset_before.asset_id);
    assert_eq!(asset.rmm_device_id.as_deref(), Some(new.as_str()));
    assert!(
        h.mapping(&old).await.is_none(),
        "the old EID's mapping was re-keyed"
    );
    assert_eq!(h.assets().await.len(), 40);
    assert!(
        h.sim
            .requests()
            .iter()
            .any(|r| r.root_fields == ["endpointIdChanges"])
    );
}

#[tokio::test]
async fn removed_endpoints_are_tombstoned_only_after_a_complete_listing() {
    // One listing at a time, so the injected fault hits the first group's second page.
    let one_at_a_time = SyncOptions {
        scope_concurrency: 1,
        ..SyncOptions::default()
    };
    let h = Harness::with(120, 2, 13, |b| b.page_size(20), one_at_a_time).await;
    h.full().await;
    let gone: Vec<String> = h
        .sim
        .endpoints_in_group("100")
        .into_iter()
        .take(2)
        .collect();
    for eid in &gone {
        assert!(h.sim.remove_endpoint(eid));
    }
    // Group 100 is listed first; its second page fails on every attempt.
    h.sim
        .inject(FaultTarget::CursorPage, SimFault::BadGateway, 3);
    let partial = h.full().await;
    assert_eq!(
        partial
            .scopes_incomplete
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["100"]
    );
    assert_eq!(
        partial.counts.tombstoned, 0,
        "an incomplete listing sweeps nothing"
    );
    assert!(
        partial.errors.iter().any(|e| e.message.contains("502")),
        "{:?}",
        partial.errors
    );
    for eid in &gone {
        assert_eq!(h.mapping(eid).await.unwrap().status, MappingStatus::Synced);
    }

    let complete = h.full().await;
    assert!(complete.scopes_incomplete.is_empty());
    assert_eq!(complete.counts.tombstoned, 2);
    for eid in &gone {
        assert_eq!(h.mapping(eid).await.unwrap().status, MappingStatus::Deleted);
        assert_eq!(h.asset(eid).await.unwrap().status, "inactive");
    }
}

#[tokio::test]
async fn an_expired_cursor_restarts_the_scope_once_and_the_listing_stays_complete() {
    let h = Harness::with(100, 1, 14, |b| b.page_size(10), SyncOptions::default()).await;
    h.full().await;
    h.sim.clear_requests();
    h.sim
        .inject(FaultTarget::CursorPage, SimFault::ExpireCursors, 1);
    let report = h.full().await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert!(report.scopes_incomplete.is_empty());
    assert_eq!(
        report.counts.unchanged, 100,
        "each device once despite the restart"
    );
    let first_pages = h
        .sim
        .requests()
        .iter()
        .filter(|r| r.root_fields == ["endpoints"] && r.variables.get("after").is_none())
        .count();
    assert_eq!(first_pages, 2, "the scope was listed from the start twice");
}

#[tokio::test]
async fn cursors_that_keep_expiring_leave_the_scope_incomplete_and_unswept() {
    let h = Harness::with(60, 1, 15, |b| b.page_size(10), SyncOptions::default()).await;
    h.full().await;
    let gone = h.sim.endpoint_ids()[0].clone();
    h.sim.remove_endpoint(&gone);
    h.sim.set_cursor_ttl(Duration::ZERO);
    let report = h.full().await;
    assert_eq!(report.scopes_incomplete.len(), 1);
    assert_eq!(report.counts.tombstoned, 0);
    let e = &report.errors[0];
    assert_eq!(e.kind, rmm_sync::ErrorKind::CursorExpired);
    assert!(e.message.contains("restarted"), "{}", e.message);
    assert_eq!(
        h.mapping(&gone).await.unwrap().status,
        MappingStatus::Synced
    );
}

#[tokio::test]
async fn incremental_runs_filter_on_eid_last_seen_and_never_sweep() {
    let h = Harness::new(80, 2, 16).await;
    // A complete full walk leaves the checkpoint the next incremental run starts from.
    h.full().await;
    let ids = h.sim.endpoint_ids();
    let later = Utc::now() + chrono::Duration::hours(2);
    h.sim.update_endpoint(&ids[0], |e| {
        e.eid_last_seen = Some(later);
        e.cpu = "Intel(R) Core(TM) Ultra 7 165U".into();
    });
    h.sim.remove_endpoint(&ids[1]);
    h.sim.clear_requests();

    let report = h.run(RunRequest::incremental()).await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert!(!report.fell_back_to_full);
    assert_eq!(
        report.counts.tombstoned, 0,
        "incremental listings never sweep"
    );
    assert!(
        report.counts.seen < 79,
        "only recently seen endpoints were listed ({})",
        report.counts.seen
    );
    let asset = h.asset(&ids[0]).await.unwrap();
    assert_eq!(
        asset.extension.unwrap().cpu_model.as_deref(),
        Some("Intel(R) Core(TM) Ultra 7 165U")
    );
    let filtered = h.sim.requests().iter().any(|r| {
        r.variables.to_string().contains("\"eidLastSeen\"")
            && r.variables.to_string().contains("\"GT\"")
    });
    assert!(
        filtered,
        "the Gateway was asked for eidLastSeen > checkpoint"
    );
}

#[tokio::test]
async fn a_tenant_rejecting_the_eid_last_seen_filter_gets_a_full_walk() {
    let h = Harness::new(50, 2, 17).await;
    h.sim.set_reject_eid_last_seen_filter(true);
    let connection = h.provider.test_connection().await.unwrap();
    assert!(
        connection
            .warnings
            .iter()
            .any(|w| w.contains("eidLastSeen")),
        "{connection:?}"
    );
    assert!(h.provider.since_filter_rejected());
    h.sim.clear_requests();
    h.run(RunRequest::incremental()).await; // sets the checkpoint
    let report = h.run(RunRequest::incremental()).await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert!(
        !report.fell_back_to_full,
        "the orchestrator ran an incremental window"
    );
    assert_eq!(report.counts.seen, 50, "every endpoint was listed");
    assert_eq!(report.counts.unchanged, 50);
    assert!(
        !h.sim
            .requests()
            .iter()
            .any(|r| r.variables.to_string().contains("eidLastSeen")),
        "once refused, the filter is not sent again"
    );
}

#[tokio::test]
async fn the_eid_last_seen_fallback_is_detected_on_the_first_page_too() {
    let h = Harness::new(30, 1, 18).await;
    h.run(RunRequest::incremental()).await; // sets the checkpoint
    h.sim.set_reject_eid_last_seen_filter(true);
    let report = h.run(RunRequest::incremental()).await;
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert!(h.provider.since_filter_rejected());
    assert_eq!(report.counts.seen, 30);
}

#[tokio::test]
async fn agent_status_follows_eid_last_seen_thresholds() {
    let h = Harness::new(3, 1, 19).await;
    let ids = h.sim.endpoint_ids();
    let now = Utc::now();
    let seen = [
        now - chrono::Duration::minutes(5),
        now - chrono::Duration::hours(5),
        now - chrono::Duration::days(10),
    ];
    for (id, at) in ids.iter().zip(seen) {
        h.sim.touch(id, at);
    }
    h.full().await;
    let statuses: Vec<Option<AgentStatus>> =
        futures::future::join_all(ids.iter().map(|id| h.asset(id)))
            .await
            .into_iter()
            .map(|a| a.unwrap().agent_status)
            .collect();
    assert_eq!(
        statuses,
        [
            Some(AgentStatus::Online),
            Some(AgentStatus::Offline),
            Some(AgentStatus::Overdue)
        ]
    );
}

#[tokio::test]
async fn a_device_in_two_groups_is_ingested_once_in_the_first() {
    let h = Harness::new(20, 2, 20).await;
    let eid = h.sim.endpoints_in_group("101")[0].clone();
    h.sim.add_to_group(&eid, "100");
    let report = h.full().await;
    assert_eq!(report.counts.created, 20);
    assert_eq!(
        h.asset(&eid).await.unwrap().rmm_organization_id.as_deref(),
        Some("100")
    );
    let snapshot = h
        .provider
        .get_device(&ExternalDeviceId::new(&eid))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        snapshot.scope_id.as_str(),
        "100",
        "single-device refresh agrees"
    );
}

/// A single-device refresh costs two requests whatever the number of groups: the endpoint by
/// id (with the group ids), then one aliased membership check — not one query per group.
#[tokio::test]
async fn get_device_costs_two_requests_regardless_of_group_count() {
    for groups in [3, 40] {
        let h = Harness::new(groups * 3, groups, 24).await;
        let last = h.sim.groups().last().unwrap().id.clone();
        let eid = h.sim.endpoints_in_group(&last)[0].clone();
        h.sim.clear_requests();
        let snapshot = h
            .provider
            .get_device(&ExternalDeviceId::new(&eid))
            .await
            .unwrap()
            .expect("the endpoint exists");
        let mut ids: Vec<String> = h.sim.groups().into_iter().map(|g| g.id).collect();
        ids.sort();
        let expected = ids
            .into_iter()
            .find(|g| h.sim.endpoints_in_group(g).contains(&eid))
            .unwrap();
        assert_eq!(snapshot.scope_id.as_str(), expected, "{groups} groups");
        assert_eq!(h.sim.requests().len(), 2, "{groups} groups");

        h.sim.clear_requests();
        assert!(
            h.provider
                .get_device(&ExternalDeviceId::new("no-such-eid"))
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            h.sim.requests().len(),
            1,
            "an unknown id stops after the lookup"
        );
    }
}

#[tokio::test]
async fn get_device_refreshes_one_endpoint_and_reports_missing_ones() {
    let h = Harness::new(20, 3, 21).await;
    h.full().await;
    let eid = h.sim.endpoints_in_group("102")[0].clone();
    h.sim
        .update_endpoint(&eid, |e| e.name = "RENAMED-01".into());
    let report = h.run(RunRequest::device(eid.as_str())).await;
    assert_eq!(report.counts.updated, 1, "{:?}", report.errors);
    assert_eq!(h.asset(&eid).await.unwrap().name, "RENAMED-01");

    h.sim.remove_endpoint(&eid);
    assert!(
        h.provider
            .get_device(&ExternalDeviceId::new(&eid))
            .await
            .unwrap()
            .is_none()
    );
    let report = h.run(RunRequest::device(eid.as_str())).await;
    assert_eq!(report.counts.tombstoned, 1);
}

#[tokio::test]
async fn the_asset_api_fallback_keeps_aged_out_endpoints_on_their_assets() {
    let h = Harness::new(12, 2, 22).await;
    let group = "101";
    let members = h.sim.endpoints_in_group(group);
    h.full().await;
    for eid in &members {
        h.sim.age_out(eid);
    }
    let fallback = h
        .sim
        .provider_builder()
        .asset_api_url(h.sim.asset_api_url())
        .use_asset_api_fallback(true)
        .build()
        .unwrap();
    let report = h
        .orchestrator
        .run(
            h.tenant,
            h.integration,
            std::sync::Arc::new(fallback),
            RunRequest::full(),
        )
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Completed, "{:?}", report.errors);
    assert_eq!(
        report.counts.tombstoned, 0,
        "aged-out endpoints are still listed"
    );
    for eid in &members {
        let asset = h.asset(eid).await.unwrap();
        assert_eq!(h.mapping(eid).await.unwrap().status, MappingStatus::Synced);
        assert_eq!(
            asset.status, "inactive",
            "the Asset API says they are offline"
        );
    }
    assert!(
        h.sim
            .requests()
            .iter()
            .any(|r| r.operation.as_deref() == Some("AssetApi"))
    );
}

#[tokio::test]
async fn the_connection_test_reports_what_the_token_sees() {
    let h = Harness::new(25, 4, 23).await;
    let report = h.provider.test_connection().await.unwrap();
    assert!(
        report
            .details
            .iter()
            .any(|d| d == "computer groups visible: 4"),
        "{report:?}"
    );
    assert!(
        report.details.iter().any(|d| d == "endpoints visible: 25"),
        "{report:?}"
    );
    assert!(
        report
            .details
            .iter()
            .any(|d| d.starts_with("eidLastSeen filter supported"))
    );
    assert!(report.warnings.is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_garbled_answer_does_not_switch_the_eid_last_seen_filter_off() {
    let h = Harness::new(30, 1, 24).await;
    h.run(RunRequest::incremental()).await; // sets the checkpoint
    h.sim
        .inject(FaultTarget::field("endpoints"), SimFault::NotJson, 1);
    let report = h.run(RunRequest::incremental()).await;
    assert!(!h.provider.since_filter_rejected());
    assert_eq!(report.scopes_incomplete.len(), 1, "the page failed instead");
    assert_eq!(report.errors[0].kind, rmm_sync::ErrorKind::Decode);
}
