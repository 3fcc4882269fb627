//! `rmm-sync serve` as its own process: schedules that run and show in `status`, webhooks
//! (202 then the change in the store, 401 changing nothing, 413, coalescing 100 events into one
//! refresh, replays), `/metrics` that parses and counts them, SIGTERM mid-run (exit 0, lease
//! released, the next run completes) and SIGKILL (the next `serve` takes over within the lease
//! TTL) — every device one asset, counted.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmm_sync::testkit::tanium::{FaultTarget, SimConfig, SimFault, TaniumGatewaySim};
use serde_json::{Value, json};

use super::simulate::{DEVICES, SIM_TOKEN, Simulator};
use super::support::{Setup, TOKEN_VAR, TempDir};

const HOOK_VAR: &str = "RMM_SYNC_CLI_TEST_WEBHOOK_SECRET";
const HOOK_SECRET: &str = "a-webhook-secret-of-32-characters!";
const HOOK_HEADER: &str = "X-RMM-Sync-Secret";

/// A `rmm-sync serve` child process.
struct Serve {
    child: tokio::process::Child,
    url: String,
    http: reqwest::Client,
    ready_at: Instant,
}

impl Serve {
    async fn start(setup: &Setup, token: &str, dir: &TempDir) -> Self {
        let port_file: PathBuf = dir.join(&format!("serve-{}.port", uuid::Uuid::new_v4()));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmm-sync"))
            .args(["--config", setup.config_path().to_str().unwrap()])
            .args(["serve", "--listen", "127.0.0.1:0", "--port-file"])
            .arg(&port_file)
            .env(TOKEN_VAR, token)
            .env(HOOK_VAR, HOOK_SECRET)
            .env_remove("RMM_SYNC_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn rmm-sync serve");
        let port = crate::support::wait_for_port_file(&port_file, "serve").await;
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
            ready_at: Instant::now(),
        }
    }

    async fn metrics(&self) -> String {
        let r = self
            .http
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .expect("GET /metrics");
        assert!(r.status().is_success());
        r.text().await.unwrap()
    }

    /// The sum of the samples of `name` whose labels include all of `labels`.
    async fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        sample(&self.metrics().await, name, labels)
    }

    async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        name: &str,
        labels: &[(&str, &str)],
        at_least: f64,
    ) {
        let deadline = Instant::now() + within;
        loop {
            if self.metric(name, labels).await >= at_least {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}:\n{}",
                self.metrics().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn webhook(&self, name: &str, secret: &str, content_type: &str, body: Vec<u8>) -> u16 {
        self.http
            .post(format!("{}/webhooks/{name}", self.url))
            .header(HOOK_HEADER, secret)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("POST webhook")
            .status()
            .as_u16()
    }

    /// Declares a body of `len` bytes and sends none of it, then reads the status line. A real
    /// oversized body would race the server's early 413 against its own write (the server closes
    /// without reading it, and the sender may see a broken pipe instead of the answer).
    async fn webhook_declaring(&self, name: &str, secret: &str, len: usize) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let host = self.url.trim_start_matches("http://");
        let mut conn = tokio::net::TcpStream::connect(host)
            .await
            .expect("connect to serve");
        let head = format!(
            "POST /webhooks/{name} HTTP/1.1\r\nhost: {host}\r\n{HOOK_HEADER}: {secret}\r\n\
             content-type: application/json\r\ncontent-length: {len}\r\n\r\n"
        );
        conn.write_all(head.as_bytes()).await.expect("write head");
        let mut answer = Vec::new();
        let mut buf = [0u8; 1024];
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(10), conn.read(&mut buf))
                .await
                .expect("an answer before the body")
                .expect("read answer");
            assert!(n > 0, "connection closed before a status line");
            answer.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&answer);
        line.split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP status line: {line}"))
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.id().expect("still running") as libc::pid_t;
        // SAFETY: our own child, not yet waited for; a valid signal number.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({sig})");
    }

    /// SIGTERM; the exit status and stderr.
    async fn terminate(self) -> (std::process::ExitStatus, String) {
        self.signal(libc::SIGTERM);
        let out = tokio::time::timeout(Duration::from_secs(40), self.child.wait_with_output())
            .await
            .expect("serve stops on SIGTERM within the shutdown timeout")
            .expect("wait for serve");
        (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// Checks the exposition format line by line (a comment, or `name{labels} value`) and returns
/// the sum of the matching samples.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        if line.starts_with("# ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("not a sample: {line:?}"));
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        let (metric, label_text) = match series.split_once('{') {
            Some((m, rest)) => (
                m,
                rest.strip_suffix('}')
                    .unwrap_or_else(|| panic!("unclosed labels: {line:?}")),
            ),
            None => (series, ""),
        };
        assert!(
            !metric.is_empty()
                && metric
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name in {line:?}"
        );
        for pair in label_text.split(',').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .unwrap_or_else(|| panic!("bad label in {line:?}"));
            assert!(
                !k.is_empty() && v.starts_with('"') && v.ends_with('"'),
                "bad label in {line:?}"
            );
        }
        if metric == name
            && labels
                .iter()
                .all(|(k, v)| label_text.split(',').any(|p| p == format!("{k}=\"{v}\"")))
        {
            sum += value;
        }
    }
    sum
}

fn tactical_config(db: &std::path::Path, url: &str, extra: &str) -> String {
    format!(
        "store = \"sqlite://{db}\"\n\n[[integrations]]\nid = \"tac\"\nprovider = \"tacticalrmm\"\nurl = \"{url}\"\ntoken_env = \"{TOKEN_VAR}\"\nretry = {{ max_attempts = 3, initial_backoff_ms = 5, max_backoff_ms = 20 }}\n{extra}\n",
        db = db.display(),
    )
}

async fn host_names(setup: &Setup) -> Vec<(String, String)> {
    let doc = setup.json(&["devices", "list"]).await;
    doc.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["asset"]["rmm_device_id"].as_str().unwrap().to_owned(),
                d["asset"]["name"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn name_of(setup: &Setup, agent: &str) -> String {
    host_names(setup)
        .await
        .into_iter()
        .find(|(id, _)| id == agent)
        .map(|(_, n)| n)
        .unwrap_or_else(|| panic!("no asset for {agent}"))
}

fn alert(agent: &str, alert_id: usize) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": "trigger",
        "agent_id": agent,
        "alert_id": alert_id.to_string(),
        "severity": "error",
        "alert_time": "2026-12-06T10:00:00Z",
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_runs_incremental_schedules_and_status_shows_them() {
    let dir = TempDir::new();
    let sim = Simulator::start("tacticalrmm", &dir).await;
    let text = tactical_config(
        &dir.join("s.db"),
        &sim.url,
        "schedule = { incremental = \"2s\", jitter = \"0s\" }",
    );
    let setup = Setup::with_text(TempDir::new(), &text, Some(SIM_TOKEN));
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "tac", "--auto"])
        .await;

    let serve = Serve::start(&setup, SIM_TOKEN, &dir).await;
    let incremental = [
        ("integration", "tac"),
        ("mode", "incremental"),
        ("status", "completed"),
    ];
    serve
        .wait_for(
            "two incremental runs within 6 s",
            Duration::from_secs(6).saturating_sub(serve.ready_at.elapsed()),
            "rmm_sync_runs_total",
            &incremental,
            2.0,
        )
        .await;
    let status = setup.json(&["status"]).await;
    let row = &status[0];
    assert!(row["last_incremental_sync_at"].is_string(), "{status:#}");
    assert_eq!(row["next_runs"][0]["mode"], "incremental", "{status:#}");
    assert!(row["next_runs"][0]["at"].is_string(), "{status:#}");
    let table = setup.run(&["status"]).await.expect_code(0);
    assert!(
        table.stdout.contains("NEXT SCHEDULED RUN"),
        "{}",
        table.stdout
    );
    assert_eq!(host_names(&setup).await.len() as u64, DEVICES);
    assert!(
        serve
            .metric(
                "rmm_sync_run_duration_seconds_count",
                &[("mode", "incremental")]
            )
            .await
            >= 2.0
    );

    let (code, stderr) = serve.terminate().await;
    assert_eq!(code.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("run finished"),
        "one line per run:\n{stderr}"
    );
    assert!(!stderr.contains(SIM_TOKEN), "{stderr}");
    let status = setup.json(&["status"]).await;
    assert_ne!(status[0]["sync_status"], "syncing", "{status:#}");
    assert!(status[0]["lease"].is_null(), "{status:#}");
    sim.stop().await;
}

/// A config's Tactical integration `tac` with its scopes mapped and a first sync done.
async fn synced_tactical(text: &str) -> Setup {
    let setup = Setup::with_text(TempDir::new(), text, Some(SIM_TOKEN));
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "tac", "--auto"])
        .await;
    setup.json(&["sync"]).await;
    setup
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_webhooks_refresh_coalesce_refuse_and_count() {
    let dir = TempDir::new();
    let sim = Simulator::start("tacticalrmm", &dir).await;
    let text = tactical_config(
        &dir.join("w.db"),
        &sim.url,
        &format!("webhook = {{ secret_env = \"{HOOK_VAR}\" }}"),
    );
    let setup = synced_tactical(&text).await;
    let serve = Serve::start(&setup, SIM_TOKEN, &dir).await;
    let device_runs = [("integration", "tac"), ("mode", "device")];

    // The wrong secret: 401, and nothing changes.
    let did = sim.post("/_sim/mutate", json!({"change": 1})).await;
    let agent = did["changed"][0].as_str().unwrap().to_owned();
    let before = name_of(&setup, &agent).await;
    assert_eq!(
        serve
            .webhook("tac", "wrong", "application/json", alert(&agent, 1))
            .await,
        401
    );
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        name_of(&setup, &agent).await,
        before,
        "a refused webhook changed the store"
    );
    assert_eq!(serve.metric("rmm_sync_runs_total", &device_runs).await, 0.0);

    // The right one: 202, and the change is in the store within 5 s.
    assert_eq!(
        serve
            .webhook("tac", HOOK_SECRET, "application/json", alert(&agent, 1))
            .await,
        202
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while name_of(&setup, &agent).await == before {
        assert!(
            Instant::now() < deadline,
            "the webhook's refresh did not land within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    serve
        .wait_for(
            "one device run",
            Duration::from_secs(5),
            "rmm_sync_runs_total",
            &device_runs,
            1.0,
        )
        .await;
    // The same delivery again is a replay.
    assert_eq!(
        serve
            .webhook("tac", HOOK_SECRET, "application/json", alert(&agent, 1))
            .await,
        200
    );

    // Refusals that never reach a provider.
    assert_eq!(
        serve
            .webhook_declaring("tac", HOOK_SECRET, 2 * 1024 * 1024)
            .await,
        413
    );
    assert_eq!(
        serve
            .webhook("tac", HOOK_SECRET, "text/plain", alert(&agent, 2))
            .await,
        415
    );
    assert_eq!(
        serve
            .webhook(
                "tac",
                HOOK_SECRET,
                "application/json",
                b"{not json".to_vec()
            )
            .await,
        400
    );
    assert_eq!(
        serve
            .webhook("nope", HOOK_SECRET, "application/json", alert(&agent, 2))
            .await,
        404
    );

    // 100 events for one device: one refresh.
    let did = sim.post("/_sim/mutate", json!({"change": 1})).await;
    let agent = did["changed"][0].as_str().unwrap().to_owned();
    let before = name_of(&setup, &agent).await;
    for i in 0..100 {
        assert_eq!(
            serve
                .webhook(
                    "tac",
                    HOOK_SECRET,
                    "application/json",
                    alert(&agent, 1_000 + i)
                )
                .await,
            202
        );
    }
    serve
        .wait_for(
            "the coalesced refresh",
            Duration::from_secs(5),
            "rmm_sync_runs_total",
            &device_runs,
            2.0,
        )
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        serve.metric("rmm_sync_runs_total", &device_runs).await,
        2.0,
        "100 events, one refresh"
    );
    assert_ne!(name_of(&setup, &agent).await, before);

    let text = serve.metrics().await;
    let events = |result: &str| {
        sample(
            &text,
            "rmm_sync_webhook_events_total",
            &[("integration", "tac"), ("result", result)],
        )
    };
    assert_eq!(events("accepted"), 2.0, "{text}");
    assert_eq!(events("coalesced"), 99.0, "{text}");
    assert_eq!(events("unauthorized"), 1.0, "{text}");
    assert_eq!(events("duplicate"), 1.0, "{text}");
    assert_eq!(events("too_large"), 1.0, "{text}");
    assert_eq!(events("malformed"), 1.0, "{text}");
    assert!(
        sample(&text, "rmm_sync_devices_total", &[("outcome", "updated")]) >= 2.0,
        "{text}"
    );
    assert!(!text.contains(HOOK_SECRET) && !text.contains(SIM_TOKEN));
    for path in ["/healthz", "/readyz"] {
        let r = serve
            .http
            .get(format!("{}{path}", serve.url))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }

    let (code, stderr) = serve.terminate().await;
    assert_eq!(code.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(HOOK_SECRET), "{stderr}");
    assert_eq!(host_names(&setup).await.len() as u64, DEVICES);
    sim.stop().await;
}

const SLOW_DEVICES: u64 = 400;
const LEASE_TTL_SECS: u64 = 3;

/// A Tanium integration whose full run is due at once and slow (every page waits), so a
/// signal lands mid-run.
async fn slow_tanium() -> (TaniumGatewaySim, Setup, TempDir) {
    let sim = TaniumGatewaySim::start(SimConfig::new(SLOW_DEVICES, 4, 9))
        .await
        .unwrap();
    let dir = TempDir::new();
    let text = format!(
        "store = \"sqlite://{db}\"\nlease_ttl = \"{LEASE_TTL_SECS}s\"\n\n[[integrations]]\nid = \"tanium\"\nprovider = \"tanium\"\nurl = \"{url}\"\ntoken_env = \"{TOKEN_VAR}\"\npage_size = 40\nschedule = {{ full = \"1h\", jitter = \"0s\" }}\n",
        db = dir.join("k.db").display(),
        url = sim.url(),
    );
    let setup = Setup::with_text(TempDir::new(), &text, Some(sim.token()));
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await;
    sim.inject(
        FaultTarget::field("endpoints"),
        SimFault::Slow(Duration::from_millis(500)),
        u32::MAX,
    );
    (sim, setup, dir)
}

async fn wait_mid_run(setup: &Setup) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let n = host_names(setup).await.len();
        if n > 0 {
            assert!(
                (n as u64) < SLOW_DEVICES,
                "the run finished before the signal"
            );
            return n;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled run stored nothing"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_each_device_once(ids: &[(String, String)]) {
    let distinct: HashSet<&String> = ids.iter().map(|(id, _)| id).collect();
    assert_eq!(distinct.len(), ids.len(), "a device stored twice");
    assert_eq!(ids.len() as u64, SLOW_DEVICES, "devices lost");
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sigterm_mid_run_exits_0_releases_the_lease_and_the_next_run_completes() {
    let (sim, setup, dir) = slow_tanium().await;
    let serve = Serve::start(&setup, sim.token(), &dir).await;
    wait_mid_run(&setup).await;
    let (code, stderr) = serve.terminate().await;
    assert_eq!(code.code(), Some(0), "{stderr}");
    let status: Value = setup.json(&["status"]).await;
    assert_ne!(status[0]["sync_status"], "syncing", "{status:#}");
    assert!(
        status[0]["lease"].is_null(),
        "the lease was released: {status:#}"
    );

    sim.clear_faults();
    setup.run(&["sync"]).await.expect_code(0);
    assert_each_device_once(&host_names(&setup).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_serve_is_taken_over_by_the_next_within_the_lease_ttl() {
    let (sim, setup, dir) = slow_tanium().await;
    let first = Serve::start(&setup, sim.token(), &dir).await;
    wait_mid_run(&setup).await;
    first.signal(libc::SIGKILL);
    let killed_at = Instant::now();
    drop(first);
    sim.clear_faults();

    let second = Serve::start(&setup, sim.token(), &dir).await;
    second
        .wait_for(
            "the next serve completes the full run within the TTL + 5 s (+ the run)",
            Duration::from_secs(LEASE_TTL_SECS + 5 + 10).saturating_sub(killed_at.elapsed()),
            "rmm_sync_runs_total",
            &[("mode", "full"), ("status", "completed")],
            1.0,
        )
        .await;
    assert_each_device_once(&host_names(&setup).await);
    let (code, stderr) = second.terminate().await;
    assert_eq!(code.code(), Some(0), "{stderr}");
}

/// `[serve] transport = "temporal"`: a webhook's refresh is signalled to a
/// `DeviceRefreshWorkflow` and run by a `temporal worker` process, not by `serve` itself.
#[cfg(feature = "temporal")]
#[tokio::test(flavor = "multi_thread")]
async fn serve_with_the_temporal_transport_refreshes_through_a_worker() {
    let Some(address) = crate::servers::temporal::temporal_address_or_skip() else {
        return;
    };
    let dir = TempDir::new();
    let sim = Simulator::start("tacticalrmm", &dir).await;
    let text = format!(
        "tenant = \"{tenant}\"\n{rest}\n[serve]\ntransport = \"temporal\"\n\n[temporal]\naddress = \"{address}\"\ntask_queue = \"rmm-sync-test-{queue}\"\n",
        tenant = uuid::Uuid::new_v4(),
        queue = uuid::Uuid::new_v4(),
        rest = tactical_config(
            &dir.join("t.db"),
            &sim.url,
            &format!("webhook = {{ secret_env = \"{HOOK_VAR}\" }}"),
        ),
    );
    let setup = synced_tactical(&text).await;
    let _worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_rmm-sync"))
        .args(["--config", setup.config_path().to_str().unwrap()])
        .args(["--quiet", "temporal", "worker"])
        .env(TOKEN_VAR, SIM_TOKEN)
        .env_remove("RMM_SYNC_LOG")
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the worker");
    let serve = Serve::start(&setup, SIM_TOKEN, &dir).await;

    let did = sim.post("/_sim/mutate", json!({"change": 1})).await;
    let agent = did["changed"][0].as_str().unwrap().to_owned();
    let before = name_of(&setup, &agent).await;
    for i in 0..3 {
        assert_eq!(
            serve
                .webhook(
                    "tac",
                    HOOK_SECRET,
                    "application/json",
                    alert(&agent, 10 + i)
                )
                .await,
            202
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while name_of(&setup, &agent).await == before {
        assert!(
            Instant::now() < deadline,
            "the refresh did not land within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The worker ran it: serve itself ran no device run.
    let device_runs = [("integration", "tac"), ("mode", "device")];
    assert_eq!(serve.metric("rmm_sync_runs_total", &device_runs).await, 0.0);
    assert_eq!(host_names(&setup).await.len() as u64, DEVICES);
    let (code, stderr) = serve.terminate().await;
    assert_eq!(code.code(), Some(0), "{stderr}");
    sim.stop().await;
}
