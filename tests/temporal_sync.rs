//! Syncs through Temporal, end to end: the `rmm-sync` binary as worker processes and as
//! `sync --via temporal`, a Tanium simulator in the test, SQLite stores in temp dirs, the
//! Temporal dev server that `.ci/run` starts (skipped with a message without one, except under
//! `CI=true`).
//!
//! Each test has its own tenant (so its own workflow ids) and its own task queue (so only its
//! own workers execute its workflows), and the tests can run in parallel.

#[path = "support/mod.rs"]
mod servers;
#[path = "cli/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use rmm_sync::model::{IntegrationId, TenantId};
use rmm_sync::testkit::tanium::{FaultTarget, SimConfig, SimFault, TaniumGatewaySim};
use rmm_sync::transport::temporal::{self, IntegrationSyncWorkflow, TemporalConfig};
use serde_json::Value;
use support::{Output, Setup, TOKEN_VAR, TempDir};
use temporalio_client::WorkflowFetchHistoryOptions;
use temporalio_sdk::workflow_replayer::{WorkflowReplayer, WorkflowReplayerOptions};
use tokio::process::{Child, Command};

/// A test's own corner of the server and its config files.
struct Scenario {
    address: String,
    tenant: TenantId,
    task_queue: String,
}

impl Scenario {
    fn new() -> Option<Self> {
        let address = servers::temporal::temporal_address_or_skip()?;
        Some(Self {
            address,
            tenant: TenantId::from_uuid(uuid::Uuid::new_v4()),
            task_queue: format!("rmm-sync-test-{}", uuid::Uuid::new_v4()),
        })
    }

    /// A config with one Tanium integration (`tanium`, 40 devices a page) and a SQLite store.
    fn setup(&self, gateway: &str, token: &str) -> Setup {
        let dir = TempDir::new();
        let db = dir.join("x.db");
        let text = format!(
            r#"store = "sqlite://{db}"
tenant = "{tenant}"

[temporal]
address = "{address}"
task_queue = "{queue}"

[[integrations]]
id = "tanium"
provider = "tanium"
url = "{gateway}"
token_env = "{TOKEN_VAR}"
page_size = 40
retry = {{ max_attempts = 2, initial_backoff_ms = 5, max_backoff_ms = 20 }}
"#,
            db = db.display(),
            tenant = self.tenant,
            address = self.address,
            queue = self.task_queue,
        );
        Setup::with_text(dir, &text, Some(token))
    }

    fn workflow_id(&self) -> String {
        temporal::ids::sync_workflow_id(self.tenant, IntegrationId::from_name("tanium"))
    }

    fn temporal_config(&self) -> TemporalConfig {
        let mut c = TemporalConfig::default();
        c.address.clone_from(&self.address);
        c.task_queue.clone_from(&self.task_queue);
        c
    }
}

/// `rmm-sync … args` as a child process (killed when dropped).
fn spawn(setup: &Setup, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rmm-sync"))
        .arg("--config")
        .arg(setup.config_path())
        .args(args)
        .env(TOKEN_VAR, setup.token.as_deref().expect("token"))
        .env_remove("RMM_SYNC_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn rmm-sync")
}

fn worker(setup: &Setup) -> Child {
    spawn(setup, &["temporal", "worker"])
}

/// Waits (at most `limit`) for a child to exit and returns what it printed.
async fn finish(child: Child, limit: Duration) -> Output {
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("the child did not exit within {limit:?}"))
        .expect("wait for child");
    Output {
        code: out.status.code().expect("exited normally"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The stored assets by device id, without what differs between two stores by nature (row
/// ids, timestamps of the write): what a sync decided, comparable across stores.
async fn stored_assets(setup: &Setup) -> BTreeMap<String, Value> {
    let doc = setup.json(&["devices", "list"]).await;
    let mut out = BTreeMap::new();
    for d in doc.as_array().expect("an array") {
        let mut asset = d["asset"].clone();
        let obj = asset.as_object_mut().expect("asset object");
        for volatile in ["asset_id", "created_at", "updated_at", "last_rmm_sync_at"] {
            obj.remove(volatile);
        }
        let id = obj["rmm_device_id"].as_str().expect("device id").to_owned();
        assert!(
            out.insert(id.clone(), asset).is_none(),
            "device {id} is stored twice"
        );
    }
    out
}

async fn stored_count(setup: &Setup) -> usize {
    setup
        .json(&["devices", "list"])
        .await
        .as_array()
        .map_or(0, Vec::len)
}

async fn map_scopes(setup: &Setup) {
    setup.json(&["scopes", "sync"]).await;
    setup
        .json(&["scopes", "map", "--integration", "tanium", "--auto"])
        .await;
}

/// A Tanium fleet of `devices` whose pages each take `page_delay`, with its scopes mapped in
/// `scenario`'s config: a run that is still listing when the test acts on it.
async fn slow_fleet(
    scenario: &Scenario,
    devices: u64,
    seed: u64,
    page_delay: Duration,
) -> (TaniumGatewaySim, Setup) {
    let sim = TaniumGatewaySim::start(SimConfig::new(devices, 4, seed))
        .await
        .expect("simulator");
    let setup = scenario.setup(&sim.url(), sim.token());
    map_scopes(&setup).await;
    sim.inject(
        FaultTarget::field("endpoints"),
        SimFault::Slow(page_delay),
        u32::MAX,
    );
    (sim, setup)
}

/// Waits (at most 60 s) until at least `n` devices are stored; returns how many are.
async fn wait_for_stored(setup: &Setup, n: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let stored = stored_count(setup).await;
        if stored >= n {
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} devices stored after 60 s, waiting for {n}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Replays the recorded history of the scenario's latest sync execution against today's
/// workflow code: it must be deterministic.
#[allow(clippy::future_not_send)] // the replayer runs a worker, which is not `Send`
async fn replay_latest(client: &temporalio_client::Client, scenario: &Scenario) {
    let history = client
        .get_workflow_handle::<IntegrationSyncWorkflow>(scenario.workflow_id())
        .fetch_history(WorkflowFetchHistoryOptions::default());
    let replayer = WorkflowReplayer::new(
        WorkflowReplayerOptions::new()
            .register_workflow::<IntegrationSyncWorkflow>()
            .expect("register")
            .build(),
    )
    .expect("replayer");
    replayer
        .replay_workflow(history)
        .await
        .expect("the history replays deterministically");
}

/// Asserts the store holds exactly the simulator's devices, each once ([`stored_assets`] fails
/// on a device stored twice).
async fn assert_stored_fleet(setup: &Setup, sim: &TaniumGatewaySim) {
    let stored = stored_assets(setup).await;
    let expected: HashSet<String> = sim.endpoint_ids().into_iter().collect();
    assert_eq!(stored.len(), expected.len(), "one asset per device");
    assert_eq!(stored.keys().cloned().collect::<HashSet<_>>(), expected);
}

/// Asserts a run disrupted mid-listing (a worker or the server lost) completed with each of
/// the `devices` counted once and stored once, and released the lease: a direct run right
/// after goes ahead and finds every device unchanged. Returns the disrupted run's report.
async fn assert_ridden_out(
    out: &Output,
    setup: &Setup,
    sim: &TaniumGatewaySim,
    devices: u64,
) -> Value {
    let r = report(out);
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(count(&r, "seen"), devices, "{r}");
    assert_eq!(
        count(&r, "created") + count(&r, "unchanged"),
        devices,
        "every device created once or found unchanged: {r}"
    );
    assert_stored_fleet(setup, sim).await;
    sim.clear_faults();
    let again = report(&setup.run(&["--json", "sync"]).await.expect_code(0));
    assert_eq!(count(&again, "unchanged"), devices, "{again}");
    r
}

fn report(out: &Output) -> Value {
    let doc = out.json();
    let reports = doc.as_array().expect("an array of reports");
    assert_eq!(reports.len(), 1, "{doc}");
    reports[0].clone()
}

fn count(report: &Value, what: &str) -> u64 {
    report["counts"][what]
        .as_u64()
        .unwrap_or_else(|| panic!("counts.{what} in {report}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_through_temporal_stores_exactly_what_a_direct_sync_stores() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    let sim = TaniumGatewaySim::start(SimConfig::new(300, 4, 11))
        .await
        .expect("simulator");
    let direct = scenario.setup(&sim.url(), sim.token());
    let via = scenario.setup(&sim.url(), sim.token());
    map_scopes(&direct).await;
    map_scopes(&via).await;
    let _worker = worker(&via);

    let direct_report = report(&direct.run(&["--json", "sync"]).await.expect_code(0));
    let via_report = report(
        &via.run(&["--json", "sync", "--via", "temporal"])
            .await
            .expect_code(0),
    );
    assert_eq!(via_report["status"], "completed", "{via_report}");
    assert_eq!(direct_report["counts"], via_report["counts"]);
    assert_eq!(count(&via_report, "created"), 300);
    assert_eq!(direct_report["mode"], via_report["mode"]);
    assert_eq!(stored_assets(&direct).await, stored_assets(&via).await);

    // A change, then an incremental and a full run both ways: still the same.
    for id in sim.endpoint_ids().iter().take(7) {
        assert!(sim.update_endpoint(id, |ep| ep.name = format!("{}-renamed", ep.name)));
    }
    for args in [
        ["--json", "sync", "--incremental"],
        ["--json", "sync", "--full"],
    ] {
        let d = report(&direct.run(&args).await.expect_code(0));
        let mut with_via = args.to_vec();
        with_via.extend(["--via", "temporal"]);
        let v = report(&via.run(&with_via).await.expect_code(0));
        assert_eq!(d["mode"], v["mode"], "{args:?}");
        assert_eq!(d["counts"], v["counts"], "{args:?}");
    }
    assert_eq!(stored_assets(&direct).await, stored_assets(&via).await);

    // The last run's recorded history replays against today's workflow code (determinism).
    let client = temporal::connect(&scenario.temporal_config())
        .await
        .expect("connect");
    replay_latest(&client, &scenario).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_run_is_replaced_and_the_run_completes_with_each_device_once() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    const DEVICES: u64 = 1200;
    // Slow pages (30 of them): the run is mid-listing when its worker dies.
    let (sim, setup) = slow_fleet(&scenario, DEVICES, 12, Duration::from_millis(250)).await;

    let mut first = worker(&setup);
    let sync = spawn(&setup, &["--json", "sync", "--via", "temporal"]);
    let at_kill = wait_for_stored(&setup, 200).await;
    first.start_kill().expect("SIGKILL the worker");
    first.wait().await.expect("reap the worker");
    assert!(
        at_kill < DEVICES as usize,
        "the worker was killed after the run ({at_kill} stored)"
    );
    // Nothing runs the workflow now; a second worker takes it over once the server sees the
    // first one's activity time out (missed heartbeats).
    let _second = worker(&setup);
    let out = finish(sync, Duration::from_secs(180)).await.expect_code(0);
    // Pages the lost worker stored but did not report are listed again: unchanged, not new.
    let r = assert_ridden_out(&out, &setup, &sim, DEVICES).await;
    assert_eq!(count(&r, "failed"), 0, "{r}");
    assert_eq!(stored_count(&setup).await, DEVICES as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_sync_of_one_integration_is_refused_while_the_first_runs() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    const DEVICES: u64 = 400;
    let (_sim, setup) = slow_fleet(&scenario, DEVICES, 13, Duration::from_millis(300)).await;
    let _worker = worker(&setup);
    let first = spawn(&setup, &["--json", "sync", "--via", "temporal"]);
    wait_for_stored(&setup, 1).await;

    // Through Temporal: the workflow id is taken.
    let second = setup.run(&["--json", "sync", "--via", "temporal"]).await;
    let busy = second.expect_code(4).json();
    assert_eq!(busy[0]["status"], "busy", "{busy}");
    assert_eq!(busy[0]["error"]["kind"], "lease_held", "{busy}");
    assert!(
        busy[0]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already in progress")),
        "{busy}"
    );
    // In process: the store lease, held on the workflow's behalf.
    let direct = setup.run(&["--json", "sync"]).await.expect_code(4).json();
    assert_eq!(direct[0]["error"]["kind"], "lease_held", "{direct}");

    let done = report(&finish(first, Duration::from_secs(120)).await.expect_code(0));
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(count(&done, "created"), DEVICES);
    assert_eq!(stored_count(&setup).await, DEVICES as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn device_events_signalled_together_become_one_refresh_through_temporal() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    let sim = TaniumGatewaySim::start(SimConfig::new(120, 3, 14))
        .await
        .expect("simulator");
    let setup = scenario.setup(&sim.url(), sim.token());
    map_scopes(&setup).await;
    let _worker = worker(&setup);
    report(
        &setup
            .run(&["--json", "sync", "--via", "temporal"])
            .await
            .expect_code(0),
    );
    let device = sim.endpoint_ids()[17].clone();
    assert!(sim.update_endpoint(&device, |ep| ep.name = "renamed-by-event".to_owned()));

    let client = temporal::connect(&scenario.temporal_config())
        .await
        .expect("connect");
    let integration = IntegrationId::from_name("tanium");
    let external = rmm_sync::model::ExternalDeviceId::new(device.clone());
    let mut ids = HashSet::new();
    for n in 0..5 {
        let event = temporal::DeviceEvent {
            what: Some(format!("event {n}")),
        };
        ids.insert(
            temporal::request_device_refresh(
                &client,
                &scenario.temporal_config(),
                scenario.tenant,
                integration,
                &external,
                event,
            )
            .await
            .expect("signal-with-start"),
        );
    }
    assert_eq!(ids.len(), 1, "one workflow per device: {ids:?}");
    let workflow_id = ids.into_iter().next().expect("one id");
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        client
            .get_workflow_handle::<temporal::DeviceRefreshWorkflow>(workflow_id)
            .get_result(Default::default()),
    )
    .await
    .expect("the refresh finished within 60 s")
    .expect("workflow result");
    assert_eq!(outcome.events, 5, "{outcome:?}");
    assert_eq!(
        outcome.refreshes, 1,
        "five events, one refresh: {outcome:?}"
    );
    match &outcome.last {
        temporal::SyncWorkflowOutcome::Finished(r) => {
            assert_eq!(r.mode, rmm_sync::sync::RunMode::Device, "{r:?}");
            assert_eq!(r.counts.updated, 1, "{r:?}");
        }
        other => panic!("the refresh did not run: {other:?}"),
    }
    let stored = stored_assets(&setup).await;
    assert_eq!(stored[&device]["name"], "renamed-by-event");
    assert_eq!(stored.len(), 120);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_outage_longer_than_the_clients_retries_is_ridden_out_by_temporal_retries() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    const DEVICES: u64 = 300;
    let sim = TaniumGatewaySim::start(SimConfig::new(DEVICES, 3, 15))
        .await
        .expect("simulator");
    let setup = scenario.setup(&sim.url(), sim.token());
    map_scopes(&setup).await;
    let _worker = worker(&setup);
    // Five 502s in a row: the client's own retries (2 attempts) give up twice over, and the
    // activity's durable retries (1 s, then 2 s …) carry the listing through.
    sim.inject(FaultTarget::field("endpoints"), SimFault::BadGateway, 5);
    let r = report(
        &setup
            .run(&["--json", "sync", "--via", "temporal"])
            .await
            .expect_code(0),
    );
    assert_eq!(r["status"], "completed", "{r}");
    assert_eq!(count(&r, "created"), DEVICES, "{r}");
    assert_eq!(sim.faults_pending(), 0, "every injected fault was served");
    assert_eq!(stored_count(&setup).await, DEVICES as usize);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_sync_workflow_finishes_its_run_as_cancelled_and_releases_the_lease() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    const DEVICES: u64 = 1000;
    let (sim, setup) = slow_fleet(&scenario, DEVICES, 16, Duration::from_millis(250)).await;
    let _worker = worker(&setup);
    let sync = spawn(&setup, &["--json", "sync", "--via", "temporal"]);
    wait_for_stored(&setup, 80).await;

    let client = temporal::connect(&scenario.temporal_config())
        .await
        .expect("connect");
    client
        .get_workflow_handle::<IntegrationSyncWorkflow>(scenario.workflow_id())
        .cancel(Default::default())
        .await
        .expect("request cancellation");

    // The run ends as cancelled (exit 1, as a cancelled direct run), not failed or lost.
    let out = finish(sync, Duration::from_secs(60)).await.expect_code(1);
    let r = report(&out);
    assert_eq!(r["status"], "cancelled", "{r}");
    let stored = stored_count(&setup).await;
    assert!(
        stored < DEVICES as usize,
        "cancelled after the listing ended"
    );
    // The page being written when the cancellation came was waited for and counted: the report
    // accounts for every stored asset.
    assert_eq!(count(&r, "created"), stored as u64, "{r}");

    // The lease was released at once (no TTL wait): a direct run goes ahead and completes the
    // fleet, each device once.
    sim.clear_faults();
    let again = report(&setup.run(&["--json", "sync"]).await.expect_code(0));
    assert_eq!(
        count(&again, "created") + count(&again, "unchanged"),
        DEVICES,
        "{again}"
    );
    assert_eq!(count(&again, "created"), DEVICES - stored as u64, "{again}");
    assert_stored_fleet(&setup, &sim).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_longer_than_one_execution_continues_as_new_and_reports_once() {
    use futures::StreamExt;
    let Some(scenario) = Scenario::new() else {
        return;
    };
    const DEVICES: u64 = 300; // 8 pages of 40
    let sim = TaniumGatewaySim::start(SimConfig::new(DEVICES, 3, 17))
        .await
        .expect("simulator");
    let setup = scenario.setup(&sim.url(), sim.token());
    map_scopes(&setup).await;
    let _worker = worker(&setup);
    let config = scenario.temporal_config();
    let client = temporal::connect(&config).await.expect("connect");

    let mut input = temporal::SyncWorkflowInput::new(
        scenario.tenant,
        IntegrationId::from_name("tanium"),
        rmm_sync::sync::RunMode::Full,
    );
    input.pages_per_execution = Some(2);
    let outcome = tokio::time::timeout(
        Duration::from_secs(120),
        temporal::run_via_temporal(&client, &config, input),
    )
    .await
    .expect("the run finished within 120 s")
    .expect("the run");
    let temporal::SyncWorkflowOutcome::Finished(r) = outcome else {
        panic!("refused: {outcome:?}");
    };
    assert_eq!(r.status, rmm_sync::sync::RunStatus::Completed, "{r:?}");
    assert_eq!(r.counts.created, DEVICES, "{r:?}");
    assert_eq!(r.counts.seen, DEVICES, "{r:?}");
    assert_eq!(stored_count(&setup).await, DEVICES as usize);

    // Two pages per execution: at least four executions, all one run (the first's run id).
    let query = format!("WorkflowId = '{}'", scenario.workflow_id());
    let deadline = Instant::now() + Duration::from_secs(20);
    let runs: Vec<String> = loop {
        let listed: Vec<String> = client
            .list_workflows(query.clone(), Default::default())
            .filter_map(|w| async move { w.ok().map(|w| w.run_id().to_owned()) })
            .collect()
            .await;
        if listed.len() >= 4 || Instant::now() > deadline {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(runs.len() >= 4, "executions: {runs:?}");
    assert!(
        runs.contains(&r.run_id.to_string()),
        "the report's run id {} is the first execution's: {runs:?}",
        r.run_id
    );

    // The last execution (resumed from a continuation) replays deterministically.
    replay_latest(&client, &scenario).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_listing_that_gives_up_inside_a_multi_listing_activity_is_the_only_incomplete_one() {
    let Some(scenario) = Scenario::new() else {
        return;
    };
    const DEVICES: u64 = 300; // 4 scopes of about 75: two pages of 40 each
    let sim = TaniumGatewaySim::start(SimConfig::new(DEVICES, 4, 18))
        .await
        .expect("simulator");
    let setup = scenario.setup(&sim.url(), sim.token());
    map_scopes(&setup).await;
    let _worker = worker(&setup);
    // One activity lists every scope in turn. The first scope's second page is answered
    // normally, the second scope's second page is not JSON (not retryable): that listing gives
    // up after its first page, and the activity's report must pin it on that listing.
    sim.inject(
        FaultTarget::CursorPage,
        SimFault::Slow(Duration::from_millis(1)),
        1,
    );
    sim.inject(FaultTarget::CursorPage, SimFault::NotJson, 1);
    let out = setup.run(&["--json", "sync", "--via", "temporal"]).await;
    let r = report(&out.expect_code(1));
    assert_eq!(r["status"], "completed_with_errors", "{r}");
    let incomplete = r["scopes_incomplete"]
        .as_array()
        .expect("scopes_incomplete");
    assert_eq!(incomplete.len(), 1, "{r}");
    let scope = incomplete[0].as_str().expect("a scope id");
    let errors = r["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{r}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains(&format!("(scope: {scope})"))),
        "the error names the incomplete scope: {r}"
    );
    let stored = stored_count(&setup).await as u64;
    assert!(stored < DEVICES, "{stored} stored");
    assert_eq!(count(&r, "created"), stored, "{r}");
    assert_eq!(sim.faults_pending(), 0);
    // What is missing is the incomplete scope's second page: every other scope is whole.
    let have = stored_assets(&setup).await;
    for id in sim.endpoint_ids() {
        if !have.contains_key(&id) {
            let groups = sim.endpoint(&id).expect("endpoint").groups;
            assert!(
                groups.iter().any(|g| g == scope),
                "device {id} of {groups:?} is missing, but only {scope} is incomplete"
            );
        }
    }

    // The next run lists the rest: each device once.
    let again = report(
        &setup
            .run(&["--json", "sync", "--via", "temporal"])
            .await
            .expect_code(0),
    );
    assert_eq!(count(&again, "created"), DEVICES - stored, "{again}");
    assert_eq!(count(&again, "unchanged"), stored, "{again}");
    assert_stored_fleet(&setup, &sim).await;
}

/// A Temporal dev server of the test's own, its state in a SQLite file, that the test kills and
/// starts again on the same port (the shared server must not be restarted under other tests).
struct OwnServer {
    cli: std::path::PathBuf,
    port: u16,
    db: std::path::PathBuf,
    child: Option<Child>,
}

impl OwnServer {
    async fn start(cli: std::path::PathBuf, dir: &TempDir) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = Self {
            cli,
            port,
            db: dir.join("temporal.db"),
            child: None,
        };
        server.spawn().await;
        server
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the server (on its port, with its file) and waits until it answers.
    async fn spawn(&mut self) {
        let port = self.port.to_string();
        let child = Command::new(&self.cli)
            .args(["server", "start-dev", "--ip", "127.0.0.1", "--port", &port])
            .args(["--headless", "--log-level", "error", "--db-filename"])
            .arg(&self.db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the Temporal dev server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(&self.cli)
                .args([
                    "operator",
                    "namespace",
                    "describe",
                    "-n",
                    "default",
                    "--address",
                ])
                .arg(self.address())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .await
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the dev server is not ready after 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// SIGKILL: nothing is flushed beyond what the server already committed to its file.
    async fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.start_kill().expect("SIGKILL the server");
        child.wait().await.expect("reap the server");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_temporal_server_killed_and_restarted_mid_run_is_ridden_out_with_each_device_once() {
    // Needs the shared server only to decide whether Temporal tests run here at all.
    if servers::temporal::temporal_address_or_skip().is_none() {
        return;
    }
    let Some(cli) = servers::temporal::temporal_cli_or_skip() else {
        return;
    };
    let dir = TempDir::new();
    let mut server = OwnServer::start(cli, &dir).await;
    let scenario = Scenario {
        address: server.address(),
        tenant: TenantId::from_uuid(uuid::Uuid::new_v4()),
        task_queue: format!("rmm-sync-test-{}", uuid::Uuid::new_v4()),
    };
    const DEVICES: u64 = 800;
    let (sim, setup) = slow_fleet(&scenario, DEVICES, 19, Duration::from_millis(250)).await;
    // Its output is not read: keep the worker's complaints about the outage from filling a pipe.
    let _worker = Command::new(env!("CARGO_BIN_EXE_rmm-sync"))
        .arg("--config")
        .arg(setup.config_path())
        .args(["temporal", "worker"])
        .env(TOKEN_VAR, setup.token.as_deref().expect("token"))
        .env_remove("RMM_SYNC_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the worker");
    let sync = spawn(&setup, &["--json", "sync", "--via", "temporal"]);
    let at_kill = wait_for_stored(&setup, 120).await;
    server.kill().await;
    assert!(
        at_kill < DEVICES as usize,
        "the server was killed after the run ({at_kill} stored)"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    server.spawn().await;

    // The workflow, its history and the activity's heartbeats were in the file: the run goes
    // on where it was, the worker and the waiting `sync` reconnect.
    let out = finish(sync, Duration::from_secs(180)).await.expect_code(0);
    assert_ridden_out(&out, &setup, &sim, DEVICES).await;
}
