//! `rmm-sync simulate` as its own process, driven over its control API while the real CLI syncs
//! it into SQLite: a first load, a mutation that must land as exactly those changes, a sync
//! through an injected 429, and SIGTERM ending the simulator with exit status 0.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Setup, TOKEN_VAR, TempDir};

pub(crate) const DEVICES: u64 = 150;
/// Passed with `--token`: must never be printed back by the simulator.
pub(crate) const SIM_TOKEN: &str = "sim-token-from-the-command-line-4f2a9c";

/// A `rmm-sync simulate` child process.
pub(crate) struct Simulator {
    child: tokio::process::Child,
    pub(crate) url: String,
    http: reqwest::Client,
}

impl Simulator {
    pub(crate) async fn start(provider: &str, dir: &TempDir) -> Self {
        let port_file: PathBuf = dir.join("sim.port");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmm-sync"))
            .args(["simulate", provider, "--devices", &DEVICES.to_string()])
            .args(["--seed", "7", "--token", SIM_TOKEN, "--port-file"])
            .arg(&port_file)
            .env_remove("RMM_SYNC_LOG")
            .env_remove("RMM_SYNC_SIM_TOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn rmm-sync simulate");
        let port = crate::support::wait_for_port_file(&port_file, "the simulator").await;
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("control request");
        assert!(response.status().is_success(), "{path}: {response:?}");
        response.json().await.expect("control JSON")
    }

    async fn stats(&self) -> Value {
        self.http
            .get(format!("{}/_sim/stats", self.url))
            .send()
            .await
            .expect("stats request")
            .json()
            .await
            .expect("stats JSON")
    }

    /// SIGTERM, then the exit status and stdout.
    pub(crate) async fn stop(self) -> (std::process::ExitStatus, String) {
        let pid = self.child.id().expect("still running") as libc::pid_t;
        // SAFETY: `pid` is our own child, which has not been waited for, so the id is still
        // its own; SIGTERM is a valid signal number.
        let sent = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(sent, 0, "kill(SIGTERM)");
        let out = tokio::time::timeout(Duration::from_secs(20), self.child.wait_with_output())
            .await
            .expect("the simulator stops on SIGTERM")
            .expect("wait for the simulator");
        (
            out.status,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

fn counts(doc: &Value) -> &Value {
    let reports = doc.as_array().expect("array of reports");
    assert_eq!(reports.len(), 1, "{doc:#}");
    assert_eq!(reports[0]["status"], "completed", "{doc:#}");
    &reports[0]["counts"]
}

fn n(v: &Value) -> u64 {
    v.as_u64().expect("a count")
}

async fn active_devices(setup: &Setup) -> u64 {
    let doc = setup.json(&["devices", "list"]).await;
    doc.as_array()
        .expect("array")
        .iter()
        .filter(|row| row["asset"]["status"] == "active")
        .count() as u64
}

/// The whole round trip against one provider's simulator; `extra` goes into the integration
/// table, `fault_path` names the requests the injected 429 hits.
async fn round_trip(provider: &str, extra: &str, fault_path: &str) {
    let dir = TempDir::new();
    let sim = Simulator::start(provider, &dir).await;
    let db = dir.join("sim.db");
    let text = format!(
        "store = \"sqlite://{db}\"\n\n[[integrations]]\nid = \"sim\"\nprovider = \"{provider}\"\nurl = \"{url}\"\ntoken_env = \"{TOKEN_VAR}\"\nretry = {{ max_attempts = 3, initial_backoff_ms = 5, max_backoff_ms = 20 }}\n{extra}\n",
        db = db.display(),
        url = sim.url,
    );
    let setup = Setup::with_text(TempDir::new(), &text, Some(SIM_TOKEN));
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "sim", "--auto"])
        .await;

    let first = setup.json(&["sync"]).await;
    assert_eq!(n(&counts(&first)["created"]), DEVICES, "{first:#}");
    assert_eq!(active_devices(&setup).await, DEVICES);

    let did = sim
        .post(
            "/_sim/mutate",
            json!({"change": 7, "add": 3, "remove": 2, "move": 1}),
        )
        .await;
    for (key, len) in [("changed", 7), ("added", 3), ("removed", 2), ("moved", 1)] {
        assert_eq!(did[key].as_array().map(Vec::len), Some(len), "{did:#}");
    }
    assert_eq!(did["devices"], DEVICES + 1);
    let second = setup.json(&["sync", "--full"]).await;
    let c = counts(&second);
    assert_eq!(
        (
            n(&c["updated"]),
            n(&c["created"]),
            n(&c["tombstoned"]),
            n(&c["moved"])
        ),
        (7, 3, 2, 1),
        "{second:#}"
    );
    assert_eq!(n(&c["unchanged"]), DEVICES - 7 - 2 - 1, "{second:#}");
    assert_eq!(active_devices(&setup).await, DEVICES + 1);

    // A front door's 429 with a JSON body: retried, the run still completes.
    let before = sim.stats().await;
    let queued = sim
        .post(
            "/_sim/fault",
            json!({
                "status": 429,
                "body": "{\"errors\":[{\"message\":\"Too Many Requests\"}]}",
                "retry_after": "0",
                "times": 1,
                "path": fault_path,
            }),
        )
        .await;
    assert_eq!(queued["faults_pending"], 1, "{queued:#}");
    let third = setup.json(&["sync"]).await;
    assert_eq!(n(&counts(&third)["unchanged"]), DEVICES + 1, "{third:#}");
    let after = sim.stats().await;
    assert_eq!(
        after["faults_pending"], 0,
        "the fault was served: {after:#}"
    );
    assert!(
        n(&after["requests"]) > n(&before["requests"]),
        "{before:#} → {after:#}"
    );
    assert_eq!(after["devices"], DEVICES + 1);

    let (status, stdout) = sim.stop().await;
    assert_eq!(status.code(), Some(0), "SIGTERM is a clean stop: {stdout}");
    assert!(
        stdout.contains("token_env = \"RMM_SYNC_SIM_TOKEN\""),
        "{stdout}"
    );
    assert!(stdout.contains("/_sim/mutate"), "{stdout}");
    assert!(
        !stdout.contains(SIM_TOKEN),
        "the --token value was printed back:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_tanium_process_syncs_mutates_and_survives_a_429() {
    round_trip("tanium", "page_size = 40", "endpoints").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_tactical_process_syncs_mutates_and_survives_a_429() {
    round_trip("tacticalrmm", "", "beta/v1/agent/").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_ninjaone_process_syncs_mutates_and_survives_a_429() {
    round_trip(
        "ninjaone",
        "client_id = \"sim-client\"\npage_size = 40",
        "/v2/devices-detailed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn simulate_rejects_bad_control_requests_and_unknown_providers() {
    let dir = TempDir::new();
    let sim = Simulator::start("tanium", &dir).await;
    let response = sim
        .http
        .post(format!("{}/_sim/fault", sim.url))
        .json(&json!({"status": 503, "path": "nowhere"}))
        .send()
        .await
        .expect("fault request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("JSON error");
    assert!(
        body["error"].as_str().unwrap_or("").contains("nowhere"),
        "{body}"
    );
    let typo = sim
        .http
        .post(format!("{}/_sim/mutate", sim.url))
        .json(&json!({"chnage": 5}))
        .send()
        .await
        .expect("mutate request");
    assert!(typo.status().is_client_error(), "{typo:?}");
    assert_eq!(sim.stats().await["devices"], DEVICES);
    let (status, _) = sim.stop().await;
    assert_eq!(status.code(), Some(0));

    let out = crate::support::run_binary(&["simulate", "kaseya"], None).await;
    assert_eq!(out.code, 2, "{}", out.stderr);
}
