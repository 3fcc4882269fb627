//! A sync killed with SIGKILL mid-run: the next sync is told "busy" (exit 4) while the dead
//! run's lease could still be live, `status` shows the lease as stale once it lapsed, and a new
//! sync then takes over within the TTL plus a few seconds — with every device one asset,
//! nothing lost, nothing duplicated. On SQLite and on PostgreSQL.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use rmm_sync::testkit::tanium::{FaultTarget, SimConfig, SimFault, TaniumGatewaySim};
use serde_json::Value;

use super::harness::TestDb;
use super::support::{Setup, TOKEN_VAR, TempDir};

const DEVICES: u64 = 400;
const LEASE_TTL_SECS: u64 = 3;

fn config(store: &str, gateway: &str) -> String {
    format!(
        r#"store = "{store}"
lease_ttl = "{LEASE_TTL_SECS}s"

[[integrations]]
id = "tanium"
provider = "tanium"
url = "{gateway}"
token_env = "{TOKEN_VAR}"
page_size = 40
retry = {{ max_attempts = 2, initial_backoff_ms = 5, max_backoff_ms = 20 }}
"#
    )
}

/// External ids of the devices stored for the integration, with duplicates kept.
async fn stored_device_ids(setup: &Setup) -> Vec<String> {
    let doc = setup.json(&["devices", "list"]).await;
    doc.as_array()
        .expect("an array")
        .iter()
        .map(|d| {
            d["asset"]["rmm_device_id"]
                .as_str()
                .expect("rmm_device_id")
                .to_owned()
        })
        .collect()
}

async fn killed_sync_is_taken_over(store_url: &str, dir: TempDir) {
    let sim = TaniumGatewaySim::start(SimConfig::new(DEVICES, 4, 5))
        .await
        .expect("simulator");
    let setup = Setup::with_text(dir, &config(store_url, &sim.url()), Some(sim.token()));
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await;
    // Every page is slow, so the run is still going when it is killed.
    sim.inject(
        FaultTarget::field("endpoints"),
        SimFault::Slow(Duration::from_millis(700)),
        u32::MAX,
    );

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmm-sync"))
        .args(["--config", setup.config_path().to_str().unwrap(), "--quiet"])
        .arg("sync")
        .env(TOKEN_VAR, sim.token())
        .env_remove("RMM_SYNC_LOG")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sync");
    let deadline = Instant::now() + Duration::from_secs(30);
    let committed = loop {
        let n = stored_device_ids(&setup).await.len();
        if n > 0 {
            break n;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no page was ever committed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.start_kill().expect("SIGKILL");
    let status = child.wait().await.unwrap();
    assert!(!status.success(), "killed, not finished: {status:?}");
    let killed_at = Instant::now();
    assert!(
        (committed as u64) < DEVICES,
        "killed mid-run ({committed} of {DEVICES} stored)"
    );

    // The dead run's lease is still live: "busy", exit 4, with its own JSON error kind.
    let busy = setup.run(&["--json", "sync"]).await;
    if busy.code == 4 {
        let doc = busy.json();
        let entry = &doc[0];
        assert_eq!(entry["integration"], "tanium", "{doc:#}");
        assert_eq!(entry["status"], "busy", "{doc:#}");
        assert_eq!(entry["error"]["kind"], "lease_held", "{doc:#}");
        assert_eq!(entry["exit_code"], 4, "{doc:#}");
        let status = setup.json(&["status"]).await;
        assert_eq!(status[0]["sync_status"], "syncing", "{status:#}");
    } else {
        // Only if this machine took longer than the TTL between the kill and the command.
        assert!(
            killed_at.elapsed() >= Duration::from_secs(LEASE_TTL_SECS),
            "a live lease must refuse the second run with exit 4\n{}",
            busy.all()
        );
    }

    // Once the lease lapsed, `status` says the run is gone instead of "syncing".
    let stale_by = killed_at + Duration::from_secs(LEASE_TTL_SECS + 5);
    loop {
        let status = setup.json(&["status"]).await;
        let lease = &status[0]["lease"];
        if lease["stale"] == Value::Bool(true) {
            let text = status[0]["status_text"].as_str().unwrap_or_default();
            assert!(text.starts_with("syncing (stale"), "{status:#}");
            break;
        }
        assert!(
            Instant::now() < stale_by,
            "the killed run's lease never lapsed: {status:#}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let human = setup.run(&["status"]).await.expect_code(0);
    assert!(human.stdout.contains("stale"), "{}", human.stdout);

    // A new run takes over and finishes the job.
    sim.clear_faults();
    let doc = setup.json(&["sync"]).await;
    assert!(
        killed_at.elapsed() < Duration::from_secs(LEASE_TTL_SECS + 10),
        "taken over within the TTL plus a few seconds"
    );
    let report = &doc[0];
    assert_eq!(report["status"], "completed", "{report:#}");
    let counts = &report["counts"];
    assert_eq!(counts["seen"], DEVICES, "{report:#}");
    assert_eq!(
        counts["created"].as_u64().unwrap() + counts["unchanged"].as_u64().unwrap(),
        DEVICES,
        "what the killed run committed is unchanged, the rest created: {report:#}"
    );
    assert!(
        counts["unchanged"].as_u64().unwrap() >= committed as u64,
        "{report:#}"
    );

    let ids = stored_device_ids(&setup).await;
    let distinct: HashSet<&String> = ids.iter().collect();
    assert_eq!(ids.len() as u64, DEVICES, "one asset per device");
    assert_eq!(distinct.len(), ids.len(), "no duplicate asset");
    let expected: HashSet<String> = sim.endpoint_ids().into_iter().collect();
    assert_eq!(
        distinct.into_iter().cloned().collect::<HashSet<_>>(),
        expected,
        "nothing lost"
    );
    let status = setup.json(&["status"]).await;
    assert_eq!(status[0]["sync_status"], "completed", "{status:#}");
    assert_eq!(status[0]["lease"], Value::Null, "released: {status:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_sync_frees_its_integration_within_the_lease_ttl_on_sqlite() {
    let dir = TempDir::new();
    let url = format!("sqlite://{}", dir.join("x.db").display());
    killed_sync_is_taken_over(&url, dir).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_sync_frees_its_integration_within_the_lease_ttl_on_postgres() {
    let Some(db) = TestDb::create().await else {
        return;
    };
    killed_sync_is_taken_over(&db.url, TempDir::new()).await;
}
