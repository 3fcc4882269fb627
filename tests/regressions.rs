//! One test per defect of the reference implementation (reference-implementation-behaviour.md
//! §13) that the core can show, driven end to end through `SyncOrchestrator` +
//! `InMemoryStore` + `ScriptedProvider`. Each test is named after its defect number.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::flaky_store::FlakyStore;
use common::{Harness, client_of, device, fleet, minutes_ago, thresholds};
use rmm_sync::ErrorKind;
use rmm_sync::model::{
    AgentStatus, ClientId, DeviceKind, ExtensionKind, Lifecycle, MappingId, Reported, StorageInfo,
    TenantId,
};
use rmm_sync::provider::{Capabilities, RmmProvider};
use rmm_sync::store::{AssetStore, HostAssetUpdate, MappingStatus};
use rmm_sync::sync::{RunRequest, RunStatus, SyncOptions};
use rmm_sync::testkit::{ScriptedFault, ScriptedProvider};
use serde_json::json;

fn count(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// A harness over a [`FlakyStore`], returned alongside it.
async fn flaky(provider: ScriptedProvider) -> (Harness, Arc<FlakyStore>) {
    let store = Arc::new(FlakyStore::default());
    let dyn_store: Arc<dyn AssetStore> = Arc::clone(&store) as _;
    let h = Harness::in_store(dyn_store, TenantId::new_random(), provider, "main").await;
    h.map_all().await;
    (h, store)
}

#[tokio::test]
async fn defect_11_device_moved_between_orgs_stays_one_asset() {
    // A device moved to another organization ended as a tombstoned original plus a duplicate.
    let h = Harness::new(fleet(&[("org-1", 2), ("org-2", 2)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let original = h.asset("org-1-0").await.unwrap().asset_id;
    h.provider.move_device("org-1-0", "org-2");

    let r = h.run(RunRequest::full()).await;

    assert_eq!(
        (r.counts.moved, r.counts.created, r.counts.tombstoned),
        (1, 0, 0)
    );
    let asset = h.asset("org-1-0").await.unwrap();
    assert_eq!(asset.asset_id, original);
    assert_eq!(asset.client_id, client_of("org-2"));
    assert_eq!(asset.rmm_organization_id.as_deref(), Some("org-2"));
    assert_eq!(asset.status, "active");
    assert_eq!(h.assets().await.len(), 4);
    assert_eq!(h.live("org-1").await, vec!["org-1-1"]);
    assert!(h.live("org-2").await.contains(&"org-1-0".to_owned()));
    // Deletion detection follows the new realm: the next run tombstones nothing.
    let again = h.run(RunRequest::full()).await;
    assert_eq!(again.counts.tombstoned, 0);
    assert_eq!(again.counts.unchanged, 4);
}

#[tokio::test]
async fn defect_12_reappearing_or_manually_inactive_device_keeps_its_asset() {
    // Lookups required an active asset, so a returning or user-inactivated device tried to
    // create a new asset and failed on the unique mapping index on every run.
    let h = Harness::new(fleet(&[("org", 3)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let returning = h.asset("org-0").await.unwrap().asset_id;
    let parked = h.asset("org-1").await.unwrap().asset_id;
    let gone = h.provider.remove_device("org-0").unwrap();
    assert_eq!(h.run(RunRequest::full()).await.counts.tombstoned, 1);
    h.provider.put_device(gone);
    let update = HostAssetUpdate {
        status: Some("inactive".into()),
        ..Default::default()
    };
    h.store
        .update_asset(h.tenant, parked, &update, minutes_ago(0))
        .await
        .unwrap();
    h.provider.update_device("org-1", |d| {
        d.details.lan_ip = Reported::Value("10.7.7.7".into())
    });

    let r = h.run(RunRequest::full()).await;

    assert_eq!((r.counts.restored, r.counts.updated), (1, 1));
    assert_eq!((r.counts.created, r.counts.failed), (0, 0));
    let back = h.asset("org-0").await.unwrap();
    assert_eq!(back.asset_id, returning);
    assert_eq!(back.status, "active");
    assert_eq!(
        h.mapping("org-0").await.unwrap().status,
        MappingStatus::Synced
    );
    let kept = h.asset("org-1").await.unwrap();
    assert_eq!(kept.asset_id, parked);
    assert_eq!(kept.status, "inactive", "the host's status stands");
    assert_eq!(h.assets().await.len(), 3);
}

#[tokio::test]
async fn defect_13_agent_moved_between_clients_follows_in_full_and_single_device_runs() {
    // A moved agent got a duplicate asset (exact-realm lookup), and the single-agent path
    // moved the realm but left the asset with the old client.
    let h = Harness::new(fleet(&[("client-a", 2), ("client-b", 1)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.move_device("client-a-0", "client-b");
    h.provider.move_device("client-a-1", "client-b");

    let full = h.run(RunRequest::full()).await;
    let single = h.run(RunRequest::device("client-a-1")).await;

    assert_eq!(full.counts.moved, 2);
    assert_eq!(single.counts.unchanged, 1, "already moved by the full run");
    for id in ["client-a-0", "client-a-1"] {
        let asset = h.asset(id).await.unwrap();
        assert_eq!(asset.client_id, client_of("client-b"), "{id}");
        assert_eq!(asset.rmm_organization_id.as_deref(), Some("client-b"));
    }
    assert_eq!(h.assets().await.len(), 3);

    // The single-device path on its own moves realm and client alike.
    h.provider.move_device("client-a-1", "client-a");
    let single = h.run(RunRequest::device("client-a-1")).await;
    assert_eq!(single.counts.moved, 1);
    let asset = h.asset("client-a-1").await.unwrap();
    assert_eq!(asset.client_id, client_of("client-a"));
    assert_eq!(asset.rmm_organization_id.as_deref(), Some("client-a"));
    assert_eq!(
        h.mapping("client-a-1").await.unwrap().scope_id.as_str(),
        "client-a"
    );
    assert_eq!(h.assets().await.len(), 3);
}

#[tokio::test]
async fn defect_14_failed_create_leaves_no_orphan_and_no_duplicate() {
    // Asset, extension and mapping were separate statements: a failure midway orphaned the
    // asset and the next run created a duplicate.
    let (h, store) = flaky(fleet(&[("a", 4)])).await;
    store.fail_writes_of("a-2");

    let r = h.run(RunRequest::full()).await;

    assert_eq!((r.counts.created, r.counts.failed), (3, 1));
    assert!(
        r.errors
            .iter()
            .any(|e| e.kind == ErrorKind::Store && e.message.contains("a-2"))
    );
    assert!(h.mapping("a-2").await.is_none());
    let holding_a2 = |assets: &[rmm_sync::store::AssetRecord]| {
        assets
            .iter()
            .filter(|a| a.rmm_device_id.as_deref() == Some("a-2"))
            .count()
    };
    assert_eq!(holding_a2(&h.assets().await), 0, "no orphaned asset");

    store.heal();
    let retry = h.run(RunRequest::full()).await;
    assert_eq!(retry.counts.created, 1);
    assert_eq!(holding_a2(&h.assets().await), 1, "exactly one asset");
    assert_eq!(h.assets().await.len(), 4);
}

#[tokio::test]
async fn defect_15_dangling_mapping_is_repaired_not_a_permanent_failure() {
    // With the mapping present but its asset gone, the create path re-inserted the mapping and
    // hit the unique index on every run.
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let before = h.mapping("a-0").await.unwrap();
    h.store
        .delete_asset(h.tenant, before.asset_id)
        .await
        .unwrap();

    let r = h.run(RunRequest::full()).await;

    assert_eq!((r.counts.created, r.counts.failed), (1, 0));
    let after = h.mapping("a-0").await.unwrap();
    assert_eq!(
        after.id, before.id,
        "the mapping is re-pointed, not duplicated"
    );
    assert_ne!(after.asset_id, before.asset_id);
    assert!(
        h.store
            .get_asset(h.tenant, after.asset_id)
            .await
            .unwrap()
            .is_some()
    );
    let again = h.run(RunRequest::full()).await;
    assert_eq!((again.counts.unchanged, again.counts.failed), (2, 0));
}

#[tokio::test]
async fn defect_16_several_mapping_rows_resolve_deterministically() {
    // The any-realm lookup had no ORDER BY: with one mapping row per realm, any row could win.
    let (h, store) = flaky(fleet(&[("a", 1), ("b", 0)])).await;
    h.run(RunRequest::full()).await;
    let current = h.mapping("a-0").await.unwrap();
    let asset = current.asset_id;
    // A legacy row for the same device in another realm, synced more recently and served
    // first: the row of the device's own scope must still win.
    let mut legacy = current.clone();
    legacy.id = MappingId::new_random();
    legacy.scope_id = "b".into();
    legacy.asset_id = rmm_sync::model::AssetId::new_random();
    legacy.last_synced_at = current.last_synced_at + chrono::Duration::hours(1);
    store.add_correlated_mapping(legacy);
    h.provider.update_device("a-0", |d| {
        d.details.lan_ip = Reported::Value("10.8.8.8".into())
    });

    for _ in 0..3 {
        let r = h.run(RunRequest::full()).await;
        assert_eq!(
            (r.counts.moved, r.counts.created, r.counts.failed),
            (0, 0, 0)
        );
        let m = h.mapping("a-0").await.unwrap();
        assert_eq!((m.id, m.asset_id), (current.id, asset));
        assert_eq!(m.scope_id.as_str(), "a");
    }
    let lan = h.asset("a-0").await.unwrap().extension.unwrap().lan_ip;
    assert_eq!(lan.as_deref(), Some("10.8.8.8"));
}

#[tokio::test]
async fn defect_20_agent_status_of_devices_that_stopped_reporting_is_reevaluated() {
    // Incremental runs filtered on last_seen, so a device that stopped checking in dropped
    // out of every run and stayed online forever.
    let seen = minutes_ago(5);
    let provider = |online_min| {
        let p = ScriptedProvider::new()
            .with_capabilities(Capabilities {
                list_devices_since: true,
                ..ScriptedProvider::new().capabilities()
            })
            .with_thresholds(thresholds(online_min, None));
        p.put_scope(common::scope("a"));
        let mut d = device("a-0", "a");
        d.last_seen_at = Reported::Value(seen);
        p.put_device(d);
        p
    };
    let options = SyncOptions {
        incremental_overlap: Duration::ZERO,
        ..SyncOptions::default()
    };
    let h = Harness::new(provider(15)).await.with_options(options);
    h.map_all().await;
    h.run(RunRequest::incremental()).await;
    assert_eq!(
        h.asset("a-0").await.unwrap().agent_status,
        Some(AgentStatus::Online)
    );

    // Later: the device has not checked in since; a one-minute window makes five minutes old.
    let r = h
        .run_with(Arc::new(provider(1)), RunRequest::incremental())
        .await;

    assert_eq!(r.counts.seen, 0, "the incremental listing no longer has it");
    assert_eq!(
        h.asset("a-0").await.unwrap().agent_status,
        Some(AgentStatus::Offline)
    );
}

#[tokio::test]
async fn defect_21_endpoints_without_fresh_last_seen_are_not_online() {
    // Every endpoint was marked online because no freshness was ever looked at.
    let p = ScriptedProvider::new().with_thresholds(thresholds(15, Some(7 * 24 * 60)));
    p.put_scope(common::scope("a"));
    for (id, last_seen) in [
        ("fresh", Reported::Value(minutes_ago(1))),
        ("quiet", Reported::Value(minutes_ago(3 * 60))),
        ("lost", Reported::Value(minutes_ago(30 * 24 * 60))),
        ("never", Reported::Absent),
    ] {
        let mut d = device(id, "a");
        d.last_seen_at = last_seen;
        p.put_device(d);
    }
    let h = Harness::new(p).await;
    h.map_all().await;

    h.run(RunRequest::full()).await;

    for (id, status) in [
        ("fresh", AgentStatus::Online),
        ("quiet", AgentStatus::Offline),
        ("lost", AgentStatus::Overdue),
        ("never", AgentStatus::Unknown),
    ] {
        assert_eq!(
            h.asset(id).await.unwrap().agent_status,
            Some(status),
            "{id}"
        );
    }
}

#[tokio::test]
async fn defect_23_vitals_of_otherwise_unchanged_devices_are_refreshed() {
    // Change detection looked only at name, agent status and serial, so IPs, user, uptime,
    // OS and disks were never refreshed.
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.update_device("a-0", |d| {
        d.details.lan_ip = Reported::Value("10.9.9.9".into());
        d.details.current_user = Reported::Value("bob".into());
        d.details.uptime_seconds = Reported::Value(3600);
        d.details.os_version = Reported::Value("10.0.22631".into());
        d.details.disk_usage =
            Reported::Value(vec![StorageInfo::from_total_free("C:", 512.0, 128.0)]);
    });

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.updated, 1);
    let ext = h.asset("a-0").await.unwrap().extension.unwrap();
    assert_eq!(ext.lan_ip.as_deref(), Some("10.9.9.9"));
    assert_eq!(ext.current_user.as_deref(), Some("bob"));
    assert_eq!(ext.uptime_seconds, Some(3600));
    assert_eq!(ext.os_version.as_deref(), Some("10.0.22631"));
    assert_eq!(ext.disk_usage.unwrap()[0].utilization_percent, 75.0);
}

#[tokio::test]
async fn defect_24_deletions_are_detected_once_and_explicit_deletions_at_once() {
    // Most providers never detected deletions; NinjaOne re-marked and re-counted deleted
    // assets every run, and its explicit delete path always rolled back.
    let h = Harness::new(fleet(&[("a", 4)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider
        .update_device("a-0", |d| d.lifecycle = Lifecycle::Deleted);
    h.provider.remove_device("a-1");

    let r = h.run(RunRequest::full()).await;

    assert_eq!((r.counts.tombstoned, r.counts.failed), (2, 0));
    for id in ["a-0", "a-1"] {
        let m = h.mapping(id).await.unwrap();
        assert_eq!(m.status, MappingStatus::Deleted, "{id}");
        assert_eq!(h.asset(id).await.unwrap().status, "inactive");
    }
    let again = h.run(RunRequest::full()).await;
    assert_eq!(again.counts.tombstoned, 0, "not re-marked, not re-counted");
    assert_eq!(again.counts.written(), 0);
    let single = h.run(RunRequest::device("a-1")).await;
    assert_eq!(single.counts.tombstoned, 0);
}

#[tokio::test]
async fn defect_25_suppressed_device_is_not_recreated_after_the_host_deletes_it() {
    // A device the user deleted came back on the next sync: there was no "ignore" state.
    let h = Harness::new(fleet(&[("a", 2)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let asset = h.asset("a-0").await.unwrap().asset_id;
    let id = "a-0".into();
    h.store.delete_asset(h.tenant, asset).await.unwrap();
    h.store
        .set_suppressed(h.tenant, h.integration, &id, true)
        .await
        .unwrap();

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.created, 0);
    assert_eq!(r.skipped_reasons, count(&[("suppressed", 1)]));
    assert_eq!(h.assets().await.len(), 1);

    h.store
        .set_suppressed(h.tenant, h.integration, &id, false)
        .await
        .unwrap();
    let r = h.run(RunRequest::full()).await;
    assert_eq!(r.counts.created, 1, "un-suppressing brings it back");
}

#[tokio::test]
async fn defect_26_host_edits_survive_provider_updates() {
    // Every ingest rewrote name, serial (null became ''), location, status (re-activating
    // retired assets) and client.
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    let asset = h.asset("a-0").await.unwrap().asset_id;
    let elsewhere = ClientId::from_name("another-customer");
    let edit = HostAssetUpdate {
        name: Some("Reception PC".into()),
        status: Some("retired".into()),
        location: Some(Some("Front desk".into())),
        client_id: Some(elsewhere),
        ..Default::default()
    };
    h.store
        .update_asset(h.tenant, asset, &edit, minutes_ago(0))
        .await
        .unwrap();
    h.provider.update_device("a-0", |d| {
        d.display_name = "DESKTOP-42".into();
        d.location = Reported::Value("Rack 3".into());
        d.serial_number = Reported::Null;
        d.details.lan_ip = Reported::Value("10.6.6.6".into());
    });

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.updated, 1);
    let a = h.asset("a-0").await.unwrap();
    assert_eq!(a.name, "Reception PC");
    assert_eq!(a.status, "retired");
    assert_eq!(a.location.as_deref(), Some("Front desk"));
    assert_eq!(a.client_id, elsewhere);
    assert_eq!(a.serial_number, None, "a null serial is cleared, never ''");
    assert_eq!(a.extension.unwrap().lan_ip.as_deref(), Some("10.6.6.6"));
}

#[tokio::test]
async fn defect_27_extension_fields_a_provider_does_not_supply_are_kept() {
    // Fields a provider did not supply (agent version, antivirus, patch counts) were nulled
    // on every ingest.
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    h.provider.update_device("a-0", |d| {
        d.details.antivirus_product = Reported::Value("Defender".into());
        d.details.pending_patches = Reported::Value(4);
    });
    h.run(RunRequest::full()).await;
    h.provider.update_device("a-0", |d| {
        d.details.agent_version = Reported::Absent;
        d.details.antivirus_product = Reported::Absent;
        d.details.pending_patches = Reported::Absent;
        d.details.current_user = Reported::Null;
        d.details.lan_ip = Reported::Value("10.5.5.5".into());
    });

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.updated, 1);
    let ext = h.asset("a-0").await.unwrap().extension.unwrap();
    assert_eq!(ext.agent_version.as_deref(), Some("2.4.1"));
    assert_eq!(ext.antivirus_product.as_deref(), Some("Defender"));
    assert_eq!(ext.pending_patches, Some(4));
    assert_eq!(ext.current_user, None, "a reported null clears");
    assert_eq!(ext.lan_ip.as_deref(), Some("10.5.5.5"));
}

#[tokio::test]
async fn defect_28_reclassification_leaves_no_stale_extension_row() {
    // A type change left the old extension row behind.
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.update_device("a-0", |d| {
        d.kind = DeviceKind::Server;
        d.details.os_type = Reported::Value("Windows Server".into());
    });

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.counts.updated, 1);
    let asset = h.asset("a-0").await.unwrap();
    assert_eq!(asset.asset_type, DeviceKind::Server);
    let rows = h
        .store
        .extension_rows(h.tenant, asset.asset_id)
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (kind, row) = &rows[0];
    assert_eq!(*kind, ExtensionKind::Server);
    assert_eq!(row.os_type.as_deref(), Some("Windows Server"));
    assert_eq!(
        row.agent_version.as_deref(),
        Some("2.4.1"),
        "details move along"
    );
}

#[tokio::test]
async fn defect_29_fractional_ram_is_stored_exactly() {
    // Tanium's fractional RAM (15.7 GB) went into an integer column and failed the device.
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    h.provider
        .update_device("a-0", |d| d.details.ram_gb = Reported::Value(15.7));

    let r = h.run(RunRequest::full()).await;

    assert_eq!((r.counts.created, r.counts.failed), (1, 0));
    let ext = h.asset("a-0").await.unwrap().extension.unwrap();
    assert_eq!(ext.ram_gb, Some(15.7));
}

#[tokio::test]
async fn defect_33_settings_are_merged_never_replaced() {
    // Saving or testing an integration replaced its settings wholesale, wiping other keys.
    let h = Harness::new(fleet(&[("a", 1)])).await;
    h.map_all().await;
    let with = |settings: serde_json::Value| {
        let mut spec = h.provider.integration_spec("main");
        spec.settings = settings.as_object().unwrap().clone();
        spec
    };
    let first = with(json!({
        "deviceSync": {"enabled": true, "intervalMinutes": 60},
        "alertPolling": {"enabled": true},
        "use_asset_api_fallback": true,
    }));
    h.store.upsert_integration(h.tenant, &first).await.unwrap();
    let second = with(json!({"deviceSync": {"intervalMinutes": 30}}));
    h.store.upsert_integration(h.tenant, &second).await.unwrap();
    h.run(RunRequest::full()).await;

    let settings = h.integration_record().await.settings;

    assert_eq!(
        serde_json::Value::Object(settings),
        json!({
            "deviceSync": {"enabled": true, "intervalMinutes": 30},
            "alertPolling": {"enabled": true},
            "use_asset_api_fallback": true,
        })
    );
}

#[tokio::test]
async fn defect_35_vanished_scopes_are_flagged_and_scope_errors_are_reported() {
    // Scope sync never flagged vanished scopes, and per-scope errors still ended in a plain
    // `completed`.
    let h = Harness::new(fleet(&[("a", 1), ("b", 1), ("c", 1)])).await;
    h.map_all().await;
    h.run(RunRequest::full()).await;
    h.provider.remove_scope("c");
    h.provider.remove_device("c-0");
    h.provider.inject(ScriptedFault::ListPage {
        scope: Some("b".into()),
        page: 0,
        kind: ErrorKind::Unavailable,
    });

    let r = h.run(RunRequest::full()).await;

    let scopes = h.store.list_scopes(h.tenant, h.integration).await.unwrap();
    let vanished: Vec<&str> = scopes
        .iter()
        .filter(|s| s.vanished_at.is_some())
        .map(|s| s.external_id.as_str())
        .collect();
    assert_eq!(vanished, vec!["c"]);
    assert_eq!(scopes.len(), 3, "flagged, not deleted");
    assert_eq!(r.status, RunStatus::CompletedWithErrors);
    assert_eq!(r.scopes_incomplete, vec!["b".into()]);
    let cause = h.integration_record().await.sync_error.expect("reported");
    assert!(cause.contains("scope: b"), "{cause}");

    h.provider.put_scope(common::scope("c"));
    h.run(RunRequest::full()).await;
    let scopes = h.store.list_scopes(h.tenant, h.integration).await.unwrap();
    assert!(
        scopes.iter().all(|s| s.vanished_at.is_none()),
        "un-flagged on return"
    );
}

#[tokio::test]
async fn defect_37_counts_show_skips_and_failures_and_exclude_tombstones() {
    // Device counts included tombstoned assets, skipped devices were invisible, and runs with
    // failures reported plain success.
    let h = Harness::new(fleet(&[("a", 3), ("unmapped", 2)])).await;
    h.map_scope("a").await;
    h.provider
        .update_device("a-2", |d| d.details.ram_gb = Reported::Value(f64::NAN));

    let r = h.run(RunRequest::full()).await;

    assert_eq!(r.status, RunStatus::CompletedWithErrors);
    assert_eq!(
        (r.counts.created, r.counts.skipped, r.counts.failed),
        (2, 2, 1)
    );
    assert_eq!(r.counts.seen, 5);
    assert_eq!(r.skipped_reasons, count(&[("unmapped_scope", 2)]));

    h.provider.remove_device("a-0");
    let r = h.run(RunRequest::full()).await;
    assert_eq!(r.counts.tombstoned, 1);
    assert_eq!(
        h.live("a").await,
        vec!["a-1"],
        "tombstones are not live devices"
    );
}
