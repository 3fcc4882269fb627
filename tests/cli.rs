//! End-to-end tests of the `rmm-sync` binary against the Tanium Gateway and NinjaOne
//! simulators, with a temp-file SQLite store. The simulators serve from the test's multi-thread
//! runtime while the binary runs as a child process.

#[path = "cli/support.rs"]
mod support;

// Shared with the PostgreSQL test crate, which uses all of it.
#[path = "cli/cross_provider.rs"]
mod cross_provider;
#[allow(dead_code)]
#[path = "postgres/harness.rs"]
mod harness;
#[path = "cli/lease.rs"]
mod lease;
#[path = "cli/serve.rs"]
mod serve;
#[cfg(feature = "temporal")]
#[path = "support/mod.rs"]
mod servers;
#[path = "cli/simulate.rs"]
mod simulate;

use rmm_sync::testkit::ninjaone::SIM_CLIENT_ID;
use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};
use rmm_sync::testkit::{NinjaOneSim, SimFleet};
use secrecy::ExposeSecret;
use serde_json::Value;
use support::{Setup, TOKEN_VAR, closed_port};

const DEVICES: u64 = 120;
const GROUPS: u64 = 6;

const COUNT_KEYS: [&str; 10] = [
    "seen",
    "created",
    "updated",
    "unchanged",
    "moved",
    "tombstoned",
    "restored",
    "skipped",
    "ambiguous",
    "failed",
];

async fn simulator() -> TaniumGatewaySim {
    TaniumGatewaySim::start(SimConfig::new(DEVICES, GROUPS, 11))
        .await
        .expect("start simulator")
}

/// Asserts the documented keys of one sync report and returns it.
fn assert_report_shape(report: &Value) -> &Value {
    for key in [
        "integration",
        "mode",
        "status",
        "started_at",
        "finished_at",
        "counts",
        "skipped_reasons",
        "errors",
    ] {
        assert!(
            report.get(key).is_some(),
            "report lacks `{key}`: {report:#}"
        );
    }
    for key in COUNT_KEYS {
        assert!(
            report["counts"][key].is_u64(),
            "counts.{key} missing or not a number: {report:#}"
        );
    }
    assert!(report["skipped_reasons"].is_object(), "{report:#}");
    for e in report["errors"].as_array().expect("errors is an array") {
        for key in ["device", "kind", "message"] {
            assert!(e.get(key).is_some(), "error lacks `{key}`: {e:#}");
        }
    }
    for key in ["started_at", "finished_at"] {
        let raw = report[key].as_str().expect("timestamp string");
        chrono::DateTime::parse_from_rfc3339(raw).expect("RFC 3339 timestamp");
    }
    report
}

/// The only report of a one-integration sync of the `tanium` integration.
fn single_report(doc: &Value) -> &Value {
    single_report_of(doc, "tanium")
}

/// The only report of a one-integration sync, of `integration`.
fn single_report_of<'a>(doc: &'a Value, integration: &str) -> &'a Value {
    let reports = doc.as_array().expect("a JSON array of reports");
    assert_eq!(reports.len(), 1, "{doc:#}");
    assert_eq!(reports[0]["integration"], integration);
    assert_report_shape(&reports[0])
}

fn count(report: &Value, key: &str) -> u64 {
    report["counts"][key].as_u64().expect("count")
}

/// The device ids `devices list --json` prints, sorted.
async fn device_ids(setup: &Setup) -> Vec<String> {
    let doc = setup.json(&["devices", "list"]).await;
    let mut ids: Vec<String> = doc
        .as_array()
        .expect("array")
        .iter()
        .map(|row| {
            assert_eq!(row["integration"], "tanium");
            row["asset"]["rmm_device_id"]
                .as_str()
                .expect("device id")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_ok_in_text_and_json() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), Some(sim.token()), "");

    let text = setup.run(&["check"]).await.expect_code(0);
    assert!(text.stdout.contains("tanium: ok"), "{}", text.stdout);

    let doc = setup.json(&["check", "--integration", "tanium"]).await;
    let rows = doc.as_array().expect("array");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["integration"], "tanium");
    assert_eq!(rows[0]["ok"], true);
    assert!(rows[0]["details"].is_array());

    let status = setup.json(&["status"]).await;
    assert!(
        status[0]["connected_at"].is_string(),
        "check records the connection: {status:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unmapped_scopes_are_skipped_then_auto_mapping_creates_assets() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), Some(sim.token()), "");

    let synced = setup.json(&["scopes", "sync"]).await;
    assert_eq!(synced[0]["integration"], "tanium");
    assert_eq!(synced[0]["counts"]["created"], GROUPS);

    let scopes = setup
        .json(&["scopes", "list", "--integration", "tanium"])
        .await;
    let scopes = scopes.as_array().expect("array");
    assert_eq!(scopes.len() as u64, GROUPS);
    assert!(scopes.iter().all(|s| s["scope"]["client_id"].is_null()));

    // Nothing mapped: every device is skipped as `unmapped_scope`, nothing is written.
    let doc = setup.json(&["sync"]).await;
    let report = single_report(&doc);
    assert_eq!(report["status"], "completed");
    assert_eq!(count(report, "created"), 0);
    assert!(count(report, "skipped") > 0, "{report:#}");
    assert_eq!(
        report["skipped_reasons"]["unmapped_scope"].as_u64(),
        Some(count(report, "skipped")),
        "{report:#}"
    );
    assert!(device_ids(&setup).await.is_empty());

    let mapped = setup
        .json(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await;
    assert_eq!(mapped.as_array().expect("array").len() as u64, GROUPS);
    assert!(
        mapped
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["client_id"].is_string())
    );

    let doc = setup.json(&["sync", "--full"]).await;
    let report = single_report(&doc);
    assert_eq!(report["mode"], "full");
    assert_eq!(report["status"], "completed");
    assert_eq!(count(report, "created"), DEVICES, "{report:#}");
    assert_eq!(count(report, "skipped"), 0, "{report:#}");
    assert_eq!(device_ids(&setup).await.len() as u64, DEVICES);

    // A second full run finds nothing new.
    let doc = setup.json(&["sync", "--integration", "tanium"]).await;
    let report = single_report(&doc);
    assert_eq!(count(report, "unchanged"), DEVICES, "{report:#}");
    assert_eq!(count(report, "created"), 0);

    let status = setup.json(&["status"]).await;
    assert_eq!(status[0]["integration"], "tanium");
    assert_eq!(status[0]["provider"], "tanium");
    assert_eq!(status[0]["devices"]["total"], DEVICES);
    assert!(status[0]["last_full_sync_at"].is_string(), "{status:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_returns_the_plan_and_writes_nothing() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), Some(sim.token()), "");
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await;

    // Before anything is stored: the plan creates every device, the store stays empty.
    let before = device_ids(&setup).await;
    assert!(before.is_empty());
    let doc = setup.json(&["sync", "--dry-run"]).await;
    let report = single_report(&doc);
    assert_eq!(report["dry_run"], true);
    assert_eq!(count(report, "created"), DEVICES);
    assert_eq!(
        report["plan"]["created"].as_array().map(Vec::len),
        Some(DEVICES as usize),
        "{report:#}"
    );
    assert_eq!(device_ids(&setup).await, before);

    // With a stored fleet: removals are planned as tombstones but nothing changes.
    setup.json(&["sync"]).await;
    let stored = device_ids(&setup).await;
    let gone = sim.endpoint_ids()[0].clone();
    assert!(sim.remove_endpoint(&gone));
    let status_before = setup.json(&["status"]).await;
    let doc = setup.json(&["sync", "--dry-run", "--full"]).await;
    let report = single_report(&doc);
    assert_eq!(count(report, "tombstoned"), 1, "{report:#}");
    assert_eq!(report["plan"]["tombstoned"][0], gone.as_str());
    let after = setup.json(&["devices", "list"]).await;
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|row| row["asset"]["status"] == "active"),
        "a dry run tombstoned something"
    );
    assert_eq!(device_ids(&setup).await, stored);
    assert_eq!(
        setup.json(&["status"]).await,
        status_before,
        "a dry run changed the sync state"
    );

    // Text output says so too.
    let text = setup.run(&["sync", "--dry-run"]).await.expect_code(0);
    assert!(text.stdout.contains("dry run"), "{}", text.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn scopes_map_and_unmap_one_scope() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), Some(sim.token()), "");

    // Mapping before `scopes sync` is a usage error that says what to do.
    let early = setup
        .run(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await
        .expect_code(2);
    assert!(early.stderr.contains("scopes sync"), "{}", early.stderr);

    setup.json(&["scopes", "sync"]).await;
    let group = sim.groups()[0].id.clone();
    let client = "0b7c2a4e-5f1d-4c3b-9a8e-1d2c3b4a5f60";
    let mapped = setup
        .json(&[
            "scopes",
            "map",
            "--integration",
            "tanium",
            "--scope",
            &group,
            "--client",
            client,
        ])
        .await;
    assert_eq!(mapped[0]["scope"], group.as_str());
    assert_eq!(mapped[0]["client_id"], client);

    let listed = setup.json(&["scopes", "list"]).await;
    let row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scope"]["external_id"] == group.as_str())
        .expect("mapped scope listed");
    assert_eq!(row["scope"]["client_id"], client);

    // Only that group's devices are synced, all to that client.
    let doc = setup.json(&["sync"]).await;
    let report = single_report(&doc);
    let in_group = sim.endpoints_in_group(&group).len() as u64;
    assert_eq!(count(report, "created"), in_group, "{report:#}");
    let devices = setup.json(&["devices", "list"]).await;
    assert!(
        devices
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["asset"]["client_id"] == client)
    );

    let text = setup
        .run(&[
            "scopes",
            "map",
            "--integration",
            "tanium",
            "--scope",
            &group,
            "--unmap",
        ])
        .await
        .expect_code(0);
    assert!(text.stdout.contains("(unmapped)"), "{}", text.stdout);
    let listed = setup.json(&["scopes", "list"]).await;
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["scope"]["client_id"].is_null())
    );

    // Bad arguments: an unknown scope, a client that is not a UUID.
    let unknown = setup
        .run(&[
            "scopes",
            "map",
            "--integration",
            "tanium",
            "--scope",
            "nope",
            "--client",
            client,
        ])
        .await
        .expect_code(2);
    assert!(unknown.stderr.contains("nope"), "{}", unknown.stderr);
    let bad_client = setup
        .run(&[
            "scopes",
            "map",
            "--integration",
            "tanium",
            "--scope",
            &group,
            "--client",
            "acme",
        ])
        .await
        .expect_code(2);
    assert!(bad_client.stderr.contains("acme"), "{}", bad_client.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn incremental_sync_and_text_listings() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), Some(sim.token()), "");
    setup.run(&["scopes", "sync"]).await.expect_code(0);
    setup
        .run(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await
        .expect_code(0);
    let text = setup.run(&["sync"]).await.expect_code(0);
    assert!(
        text.stdout.contains(&format!("created {DEVICES}")),
        "{}",
        text.stdout
    );

    let renamed = sim.endpoint_ids()[3].clone();
    sim.update_endpoint(&renamed, |e| e.name = "renamed-by-test".into());
    sim.touch(&renamed, chrono::Utc::now());
    let doc = setup.json(&["sync", "--incremental"]).await;
    let report = single_report(&doc);
    assert_eq!(report["mode"], "incremental");
    assert_eq!(count(report, "updated"), 1, "{report:#}");
    assert_eq!(count(report, "tombstoned"), 0);

    let devices = setup
        .run(&["devices", "list", "--integration", "tanium"])
        .await;
    let devices = devices.expect_code(0);
    assert!(
        devices.stdout.starts_with("INTEGRATION"),
        "{}",
        devices.stdout
    );
    assert!(devices.stdout.contains("renamed-by-test"));
    assert_eq!(devices.stdout.lines().count() as u64, DEVICES + 1);

    let scopes = setup.run(&["scopes", "list"]).await.expect_code(0);
    assert_eq!(scopes.stdout.lines().count() as u64, GROUPS + 1);
    let status = setup.run(&["status"]).await.expect_code(0);
    assert!(
        status
            .stdout
            .contains(&format!("{DEVICES} active / {DEVICES} total")),
        "{}",
        status.stdout
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_with_zero_setup() {
    let dir = support::TempDir::new();
    let db = dir.join("demo.db");
    let db = db.to_str().unwrap();
    let out = support::run_binary(&["demo", "--devices", "200", "--db", db], None)
        .await
        .expect_code(0);
    for needle in [
        "== full sync",
        "== change sync",
        "== what changed",
        "unmapped_scope",
        "no duplicates",
    ] {
        assert!(
            out.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            out.stdout
        );
    }
    assert!(std::path::Path::new(db).exists());

    // The demo leaves the config it used, and says how to use it.
    let config = dir.join("demo.toml");
    let config = config.to_str().unwrap();
    assert!(
        out.stdout
            .contains(&format!("rmm-sync --config {config} status")),
        "{}",
        out.stdout
    );
    let text = std::fs::read_to_string(config).expect("the demo wrote its config");
    for secret in ["token-sim", "api_key", "api_token"] {
        assert!(!text.contains(secret), "no secret in the config:\n{text}");
    }
    let status = support::run_binary(&["--config", config, "--json", "status"], None)
        .await
        .expect_code(0)
        .json();
    let names: Vec<&str> = status
        .as_array()
        .expect("array")
        .iter()
        .map(|s| s["integration"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["tanium-sim", "tactical-sim"], "{status:#}");
    for s in status.as_array().unwrap() {
        assert_eq!(s["sync_status"], "completed", "{s:#}");
        assert!(s["devices"]["total"].as_u64().unwrap() > 0, "{s:#}");
    }
    for args in [&["devices", "list"][..], &["scopes", "list"][..]] {
        let mut all = vec!["--config", config];
        all.extend_from_slice(args);
        let out = support::run_binary(&all, None).await.expect_code(0);
        assert!(out.stdout.contains("tactical-sim"), "{}", out.stdout);
    }

    let out = support::run_binary(&["--json", "demo", "--devices", "200", "--db", db], None)
        .await
        .expect_code(0);
    let doc = out.json();
    let reports = doc.as_array().expect("array");
    // Two simulated providers (Tanium, Tactical RMM), two runs each: first the full syncs, then
    // the change syncs.
    assert_eq!(reports.len(), 4, "one report per provider and run: {doc:#}");
    reports.iter().for_each(|r| {
        assert_report_shape(r);
    });
    for (first, second) in [(&reports[0], &reports[2]), (&reports[1], &reports[3])] {
        assert_eq!(first["integration"], second["integration"]);
        assert!(count(first, "created") > 0, "{first:#}");
        assert_eq!(count(second, "created"), 0, "no duplicates: {second:#}");
        assert!(count(second, "updated") >= 1, "{second:#}");
        assert!(count(second, "moved") >= 1, "{second:#}");
        assert!(count(second, "tombstoned") >= 2, "{second:#}");
    }
    assert_eq!(reports[2]["integration"], "tanium-sim");
    assert_eq!(reports[2]["rekeyed"], 1, "{:#}", reports[2]);
}

// ---- NinjaOne --------------------------------------------------------------------------------

const NINJA_DEVICES: u64 = 90;
const NINJA_ORGANIZATIONS: u32 = 3;

async fn ninjaone_simulator() -> NinjaOneSim {
    NinjaOneSim::with_fleet(SimFleet::new(NINJA_DEVICES as u32, NINJA_ORGANIZATIONS, 17))
        .await
        .expect("start simulator")
}

/// The `ninjaone` integration against `sim`, with the secret the simulator accepts.
fn ninjaone_setup(sim: &NinjaOneSim) -> Setup {
    let secret = sim.client_secret();
    Setup::ninjaone(
        &sim.url(),
        Some(SIM_CLIENT_ID),
        Some(secret.expose_secret()),
        "",
    )
}

/// The ids of the simulator's devices in organization `org`, sorted as strings.
fn ninjaone_devices_in(sim: &NinjaOneSim, org: i64) -> Vec<String> {
    let mut ids: Vec<String> = sim
        .device_ids()
        .into_iter()
        .filter(|id| sim.device(*id).is_some_and(|d| d.organization_id == org))
        .map(|id| id.to_string())
        .collect();
    ids.sort();
    ids
}

/// `devices list --json` rows of the `ninjaone` integration, sorted by device id.
async fn ninjaone_rows(setup: &Setup) -> Vec<Value> {
    let doc = setup.json(&["devices", "list"]).await;
    let mut rows = doc.as_array().expect("array").clone();
    for row in &rows {
        assert_eq!(row["integration"], "ninjaone", "{row:#}");
        assert_eq!(row["asset"]["rmm_provider"], "ninjaone", "{row:#}");
    }
    rows.sort_by_key(|r| {
        r["asset"]["rmm_device_id"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    });
    rows
}

#[tokio::test(flavor = "multi_thread")]
async fn ninjaone_check_reports_ok() {
    let sim = ninjaone_simulator().await;
    let setup = ninjaone_setup(&sim);

    let text = setup.run(&["check"]).await.expect_code(0);
    assert!(text.stdout.contains("ninjaone: ok"), "{}", text.stdout);

    let doc = setup.json(&["check", "--integration", "ninjaone"]).await;
    assert_eq!(doc[0]["integration"], "ninjaone");
    assert_eq!(doc[0]["ok"], true, "{doc:#}");
    let details = doc[0]["details"].as_array().expect("details");
    assert!(
        details
            .iter()
            .any(|d| d.as_str().is_some_and(|d| d.contains(SIM_CLIENT_ID))),
        "the report names the client it authenticated as: {doc:#}"
    );
    assert!(sim.stats().requests_to("/ws/oauth/token") >= 1);

    let status = setup.json(&["status"]).await;
    assert_eq!(status[0]["provider"], "ninjaone");
    assert!(status[0]["connected_at"].is_string(), "{status:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn ninjaone_mapped_organization_syncs_then_stays_unchanged() {
    let sim = ninjaone_simulator().await;
    let setup = ninjaone_setup(&sim);

    // Organizations and their locations are both scopes.
    let synced = setup.json(&["scopes", "sync"]).await;
    let scopes = (sim.organizations().len() + sim.locations().len()) as u64;
    assert_eq!(synced[0]["integration"], "ninjaone");
    assert_eq!(synced[0]["counts"]["created"], scopes, "{synced:#}");

    // Map one organization: its devices are created, the others skipped as unmapped.
    let org = *sim.organizations().keys().next().expect("an organization");
    let in_org = ninjaone_devices_in(&sim, org);
    let elsewhere = NINJA_DEVICES - in_org.len() as u64;
    assert!(
        !in_org.is_empty() && elsewhere > 0,
        "the fleet spans organizations"
    );
    let client = "5d0c9a3e-2b1f-4e6a-8c7d-9f0e1a2b3c4d";
    let org_scope = org.to_string();
    setup
        .json(&[
            "scopes",
            "map",
            "--integration",
            "ninjaone",
            "--scope",
            &org_scope,
            "--client",
            client,
        ])
        .await;

    let doc = setup.json(&["sync"]).await;
    let report = single_report_of(&doc, "ninjaone");
    assert_eq!(report["mode"], "full");
    assert_eq!(report["status"], "completed", "{report:#}");
    assert_eq!(count(report, "seen"), NINJA_DEVICES, "{report:#}");
    assert_eq!(count(report, "created"), in_org.len() as u64, "{report:#}");
    assert_eq!(count(report, "skipped"), elsewhere, "{report:#}");
    assert_eq!(
        report["skipped_reasons"]["unmapped_scope"].as_u64(),
        Some(elsewhere),
        "{report:#}"
    );

    let rows = ninjaone_rows(&setup).await;
    let ids: Vec<&str> = rows
        .iter()
        .map(|r| r["asset"]["rmm_device_id"].as_str().expect("device id"))
        .collect();
    assert_eq!(ids, in_org);
    for row in &rows {
        let asset = &row["asset"];
        let id: i64 = asset["rmm_device_id"].as_str().unwrap().parse().unwrap();
        let device = sim.device(id).expect("simulated device");
        assert_eq!(asset["client_id"], client, "{asset:#}");
        assert_eq!(
            asset["rmm_organization_id"],
            org_scope.as_str(),
            "{asset:#}"
        );
        assert_eq!(asset["name"], device.display_name.as_str(), "{asset:#}");
    }

    // A second full run finds nothing new.
    let doc = setup.json(&["sync", "--integration", "ninjaone"]).await;
    let report = single_report_of(&doc, "ninjaone");
    assert_eq!(
        count(report, "unchanged"),
        in_org.len() as u64,
        "{report:#}"
    );
    assert_eq!(count(report, "created"), 0, "{report:#}");
    assert_eq!(count(report, "updated"), 0, "{report:#}");
    assert_eq!(ninjaone_rows(&setup).await.len(), in_org.len());

    // An incremental run reads the activity log: the renamed device, and nothing else.
    let renamed: i64 = in_org[0].parse().unwrap();
    assert!(sim.update_device(renamed, |d| d.display_name = "renamed-by-cli-test".into()));
    let doc = setup.json(&["sync", "--incremental"]).await;
    let report = single_report_of(&doc, "ninjaone");
    assert_eq!(report["mode"], "incremental", "{report:#}");
    assert_eq!(report["fell_back_to_full"], false, "{report:#}");
    assert_eq!(count(report, "updated"), 1, "{report:#}");
    assert_eq!(count(report, "seen"), 1, "{report:#}");
    let rows = ninjaone_rows(&setup).await;
    let row = rows
        .iter()
        .find(|r| r["asset"]["rmm_device_id"] == in_org[0].as_str())
        .expect("renamed device listed");
    assert_eq!(row["asset"]["name"], "renamed-by-cli-test");

    let status = setup.json(&["status"]).await;
    assert_eq!(status[0]["provider"], "ninjaone");
    assert_eq!(
        status[0]["devices"]["total"],
        in_org.len() as u64,
        "{status:#}"
    );
    assert!(status[0]["last_full_sync_at"].is_string(), "{status:#}");
    assert!(
        status[0]["last_incremental_sync_at"].is_string(),
        "{status:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ninjaone_wrong_client_secret_exits_3_without_echoing_it() {
    let sim = ninjaone_simulator().await;
    let wrong = "ninja-wrong-secret-3b9e71";
    let setup = Setup::ninjaone(&sim.url(), Some(SIM_CLIENT_ID), Some(wrong), "");
    for args in [&["check"][..], &["scopes", "sync"][..], &["sync"][..]] {
        let out = setup.run(args).await.expect_code(3);
        assert!(
            out.all().contains("client id or secret"),
            "{args:?}: {}",
            out.all()
        );
        assert!(!out.all().contains(wrong), "{args:?} echoed the secret");
    }
    let doc = setup.run(&["--json", "check"]).await.expect_code(3).json();
    assert_eq!(doc[0]["ok"], false, "{doc:#}");
    assert_eq!(doc[0]["exit_code"], 3);
    let error = doc[0]["error"].as_str().expect("error message");
    assert!(error.contains("client id or secret"), "{error}");
    assert!(!error.contains(wrong));
    assert!(ninjaone_rows(&setup).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ninjaone_config_errors_exit_2_naming_the_key() {
    // Nothing listens there: each of these fails before any request.
    let url = format!("http://127.0.0.1:{}", closed_port());
    let secret = "ninja-secret-never-shown-51c0";
    for (client_id, extra, needle) in [
        (None, String::new(), "client_id"),
        (Some("cid"), "page_sise = 10".to_owned(), "page_sise"),
        (Some("cid"), "region = \"eu\"".to_owned(), "not both"),
        (
            Some("cid"),
            format!("client_secret = \"{secret}\""),
            "token_env",
        ),
        (
            Some("cid"),
            "grant_type = \"authorization_code\"".to_owned(),
            "Credentials::authorization_code",
        ),
        (
            Some("cid"),
            format!("refresh_token = \"{secret}\""),
            "TokenStore",
        ),
    ] {
        let setup = Setup::ninjaone(&url, client_id, Some(secret), &extra);
        let out = setup.run(&["check"]).await.expect_code(2);
        assert!(out.stderr.contains(needle), "{extra:?}: {}", out.stderr);
        assert!(!out.all().contains(secret), "{extra:?} echoed the secret");
    }

    // The adapter's transport rule: plain http only to loopback addresses.
    let setup = Setup::ninjaone("http://10.1.2.3", Some("cid"), Some(secret), "");
    let out = setup.run(&["check"]).await.expect_code(2);
    assert!(out.stderr.contains("https://"), "{}", out.stderr);
}

// ---- bad input -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn unknown_config_key_is_named_with_exit_2() {
    let setup = Setup::raw("store = \"sqlite::memory:\"\nstoer = \"x\"\n");
    let out = setup.run(&["status"]).await.expect_code(2);
    assert!(out.stderr.contains("stoer"), "{}", out.stderr);

    // An adapter's own keys are checked by the adapter, with the same exit code.
    let setup = Setup::tanium("http://127.0.0.1:9", Some("token-x"), "page_sise = 10");
    let out = setup.run(&["check"]).await.expect_code(2);
    assert!(out.stderr.contains("page_sise"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_provider_is_named_with_exit_2() {
    let setup = Setup::raw(
        "store = \"sqlite::memory:\"\n[[integrations]]\nid = \"k\"\nprovider = \"kaseya\"\nurl = \"https://kaseya.example\"\ntoken_env = \"X\"\n",
    );
    let out = setup.run(&["status"]).await.expect_code(2);
    assert!(out.stderr.contains("kaseya"), "{}", out.stderr);

    // With --json the error is a JSON document too.
    let out = setup.run(&["--json", "check"]).await.expect_code(2);
    let doc = out.json();
    assert_eq!(doc["exit_code"], 2);
    assert!(doc["error"].as_str().unwrap().contains("kaseya"));
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_token_variable_is_named_with_exit_2() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), None, "");
    for args in [&["check"][..], &["sync"][..], &["scopes", "sync"][..]] {
        let out = setup.run(args).await.expect_code(2);
        assert!(out.stderr.contains(TOKEN_VAR), "{args:?}: {}", out.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_provider_exits_3() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let setup = Setup::tanium(&url, Some("token-sim-0123456789"), "");
    let out = setup.run(&["check"]).await.expect_code(3);
    assert!(out.stderr.contains("tanium: FAILED"), "{}", out.stderr);
    let doc = setup.run(&["--json", "check"]).await.expect_code(3).json();
    assert_eq!(doc[0]["ok"], false);
    assert_eq!(doc[0]["exit_code"], 3);
    setup.run(&["sync"]).await.expect_code(3);
    setup.run(&["scopes", "sync"]).await.expect_code(3);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_token_exits_3_without_echoing_it() {
    let sim = simulator().await;
    let wrong = "token-wrong-77a1c9e4";
    let setup = Setup::tanium(&sim.url(), Some(wrong), "");
    for args in [&["check"][..], &["scopes", "sync"][..], &["sync"][..]] {
        let out = setup.run(args).await.expect_code(3);
        assert!(!out.all().contains(wrong), "{args:?} echoed the token");
    }
    let out = setup.run(&["--json", "sync"]).await.expect_code(3);
    assert!(!out.all().contains(wrong));
}

#[tokio::test(flavor = "multi_thread")]
async fn inline_token_is_refused_without_echoing_it() {
    let secret = "token-inline-5ec12e7";
    let setup = Setup::tanium(
        "http://127.0.0.1:9",
        Some("token-x"),
        &format!("token = \"{secret}\""),
    );
    for args in [&["status"][..], &["--json", "check"][..]] {
        let out = setup.run(args).await.expect_code(2);
        assert!(out.all().contains("token_env"), "{}", out.all());
        assert!(
            !out.all().contains(secret),
            "the secret was echoed: {}",
            out.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn adapter_secret_keys_are_refused_inline_too() {
    // `api_token` is the Tanium adapter's own name for the token; inline it is just as secret.
    let secret = "token-adapter-key-0c4f1d";
    let setup = Setup::tanium(
        "http://127.0.0.1:9",
        Some("token-x"),
        &format!("api_token = \"{secret}\""),
    );
    for args in [&["status"][..], &["check"][..]] {
        let out = setup.run(args).await.expect_code(2);
        assert!(out.all().contains("api_token"), "{}", out.all());
        assert!(
            !out.all().contains(secret),
            "the secret was echoed: {}",
            out.all()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_errors_exit_2() {
    let sim = simulator().await;
    let setup = Setup::tanium(&sim.url(), Some(sim.token()), "");
    for args in [
        &["sync", "--full", "--incremental"][..],
        &["scopes", "map", "--integration", "tanium"][..],
        &[
            "scopes",
            "map",
            "--integration",
            "tanium",
            "--auto",
            "--unmap",
        ][..],
        &["frobnicate"][..],
    ] {
        setup.run(args).await.expect_code(2);
    }
    let out = setup
        .run(&["sync", "--integration", "nope"])
        .await
        .expect_code(2);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);

    let missing = setup.config_path().with_file_name("absent.toml");
    let out = support::run_binary(&["--config", missing.to_str().unwrap(), "status"], None)
        .await
        .expect_code(2);
    assert!(out.stderr.contains("absent.toml"), "{}", out.stderr);

    let bad_store = Setup::raw("store = \"mysql://x\"\n");
    let out = bad_store.run(&["status"]).await.expect_code(2);
    assert!(out.stderr.contains("`store`"), "{}", out.stderr);
}
