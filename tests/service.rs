//! The service layer in process: ticks that fall during a run are skipped and counted (not
//! piled up), a custom webhook source feeds single-device refreshes, and shutdown refuses
//! webhooks with 503.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use common::hooked_provider::HookedProvider;
use common::{Harness, fleet};
use rmm_sync::model::ExternalDeviceId;
use rmm_sync::provider::RmmProvider;
use rmm_sync::service::{
    DeviceAction, ServiceIntegration, ServiceMetrics, ServiceOptions, SyncSchedule, SyncService,
    WebhookDelivery, WebhookParser, WebhookSource,
};
use rmm_sync::{Error, ErrorKind, Result};

fn sample(m: &ServiceMetrics, name: &str, labels: &[(&str, &str)]) -> f64 {
    m.render()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .filter(|(series, _)| {
            series.split('{').next() == Some(name)
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, v)| v.parse::<f64>().unwrap())
        .sum()
}

async fn until(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_during_a_run_are_skipped_and_counted_not_piled_up() {
    let h = Harness::new(fleet(&[("s1", 30)])).await;
    h.map_scope("s1").await;
    let hooked = Arc::new(HookedProvider::new(Arc::clone(&h.provider)));
    hooked.arm_gate();
    let provider: Arc<dyn RmmProvider> = Arc::clone(&hooked) as Arc<dyn RmmProvider>;
    let integration = ServiceIntegration::new("main", h.tenant, h.integration, provider)
        .with_schedule(SyncSchedule {
            full: Some("1h".parse().unwrap()),
            incremental: Some("1s".parse().unwrap()),
            jitter: Some(Duration::ZERO),
        });
    let service =
        SyncService::new(h.orch.clone(), vec![integration], ServiceOptions::default()).unwrap();
    let running = service.start();
    // The full run (due at once, first) is parked on its first page for 3.5 s: the incremental
    // ticks of that time must not start runs of their own.
    tokio::time::timeout(Duration::from_secs(10), hooked.gate.entered.notified())
        .await
        .expect("the full run started");
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let m = service.metrics();
    assert_eq!(
        sample(m, "rmm_sync_runs_total", &[]),
        0.0,
        "nothing ran beside the full run"
    );
    hooked.gate.release.notify_one();
    until("the full run finished", Duration::from_secs(10), || {
        sample(m, "rmm_sync_runs_total", &[("mode", "full")]) == 1.0
    })
    .await;
    let skipped = sample(
        m,
        "rmm_sync_scheduled_runs_skipped_total",
        &[("reason", "overlap")],
    );
    assert!(
        skipped >= 3.0,
        "incremental ticks during the run: {skipped}\n{}",
        m.render()
    );
    // Afterwards the schedule goes on from the end of the run, one run per tick.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        sample(m, "rmm_sync_runs_total", &[("mode", "incremental")]),
        0.0,
        "no catch-up burst right after the run"
    );
    until(
        "the next incremental tick ran",
        Duration::from_secs(5),
        || sample(m, "rmm_sync_runs_total", &[("mode", "incremental")]) >= 1.0,
    )
    .await;
    let report = running.shutdown().await;
    assert!(report.clean, "{report:?}");
}

/// A provider of the host's own: the device id is the body.
#[derive(Debug)]
struct PlainText;

impl WebhookParser for PlainText {
    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookDelivery> {
        if headers.get("x-secret").map(|v| v.as_bytes()) != Some(b"s") {
            return Err(Error::new(ErrorKind::Unauthorized, "bad secret"));
        }
        let v: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| Error::new(ErrorKind::Decode, "not JSON").with_source(e))?;
        let id = v["device"]
            .as_str()
            .ok_or_else(|| Error::new(ErrorKind::InvalidInput, "no device"))?;
        Ok(WebhookDelivery {
            event_id: v["id"].as_str().map(str::to_owned),
            action: DeviceAction::Refresh(ExternalDeviceId::new(id)),
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_webhook_source_refreshes_devices_and_shutdown_answers_503() {
    let h = Harness::new(fleet(&[("s1", 5)])).await;
    h.map_scope("s1").await;
    h.orch
        .run(
            h.tenant,
            h.integration,
            Arc::clone(&h.provider) as Arc<dyn RmmProvider>,
            rmm_sync::sync::RunRequest::full(),
        )
        .await
        .unwrap();
    let device = h.provider.device_ids()[0].clone();
    h.provider
        .update_device(device.as_str(), |d| d.display_name = "renamed".into());
    let provider: Arc<dyn RmmProvider> = Arc::clone(&h.provider) as Arc<dyn RmmProvider>;
    let integration = ServiceIntegration::new("main", h.tenant, h.integration, provider)
        .with_webhook(WebhookSource::Custom(Arc::new(PlainText)));
    let options = ServiceOptions {
        coalesce_window: Duration::from_millis(100),
        ..ServiceOptions::default()
    };
    let service = SyncService::new(h.orch.clone(), vec![integration], options).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/main", listener.local_addr().unwrap());
    let app = service.router();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let running = service.start();
    let http = reqwest::Client::new();
    let post = |secret: &'static str, body: String| {
        http.post(&url)
            .header("x-secret", secret)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let body = format!(r#"{{"device":"{}","id":"e1"}}"#, device.as_str());
    assert_eq!(
        post("s", body.clone()).await.unwrap().status().as_u16(),
        202
    );
    assert_eq!(
        post("s", body).await.unwrap().status().as_u16(),
        200,
        "replay"
    );
    assert_eq!(post("x", "{}".into()).await.unwrap().status().as_u16(), 401);
    let r = post("s", "{}".into()).await.unwrap();
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.text().await.unwrap().contains("no device"));
    let m = service.metrics();
    until("the refresh ran", Duration::from_secs(5), || {
        sample(m, "rmm_sync_devices_total", &[("outcome", "updated")]) == 1.0
    })
    .await;
    let assets = h.assets().await;
    assert!(
        assets.iter().any(|a| a.name == "renamed"),
        "the refresh landed"
    );

    let report = running.shutdown().await;
    assert!(report.clean);
    let r = post("s", r#"{"device":"x"}"#.into()).await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
}
