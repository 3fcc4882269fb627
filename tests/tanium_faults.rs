//! Every fault the simulator can inject, and the behaviour `docs/providers/tanium.md`
//! documents for it.

mod tanium_support;

use std::time::Duration;

use rmm_sync::ErrorKind;
use rmm_sync::provider::http::RetryConfig;
use rmm_sync::provider::tanium::{GatewayErrors, TaniumProvider};
use rmm_sync::provider::{DevicePageRequest, DeviceSnapshotSource, RmmProvider, ScopeSource};
use rmm_sync::sync::{RunStatus, SyncOptions};
use rmm_sync::testkit::CannedResponse;
use rmm_sync::testkit::tanium::{FaultTarget, SimConfig, SimFault, TaniumGatewaySim};
use rmm_sync::{Error, Result};
use tanium_support::Harness;

async fn sim() -> TaniumGatewaySim {
    TaniumGatewaySim::start(SimConfig::new(30, 2, 1))
        .await
        .unwrap()
}

fn provider(sim: &TaniumGatewaySim) -> TaniumProvider {
    sim.provider_builder().build().unwrap()
}

/// How many GraphQL requests the simulator has seen.
fn requests(sim: &TaniumGatewaySim) -> usize {
    sim.requests().len()
}

async fn scopes_with(sim: &TaniumGatewaySim, fault: SimFault, times: u32) -> Result<usize> {
    sim.clear_requests();
    sim.inject(FaultTarget::Any, fault, times);
    provider(sim).list_scopes().await.map(|s| s.len())
}

fn assert_no_secret(e: &Error, sim: &TaniumGatewaySim) {
    assert!(!e.to_string().contains(sim.token()), "{e}");
    assert!(!format!("{e:?}").contains(sim.token()), "{e:?}");
}

#[tokio::test]
async fn http_401_is_unauthorized_with_a_token_hint_and_not_retried() {
    let sim = sim().await;
    let e = scopes_with(&sim, SimFault::Unauthorized, 1)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("401"), "{e}");
    assert!(e.message().contains("token- prefix"), "{e}");
    assert!(e.message().contains("API Gateway User"), "{e}");
    assert_eq!(requests(&sim), 1);
    assert_no_secret(&e, &sim);
}

#[tokio::test]
async fn http_403_is_forbidden_with_a_token_hint() {
    let sim = sim().await;
    let e = scopes_with(&sim, SimFault::Forbidden, 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
    assert!(e.message().contains("403"), "{e}");
    assert!(e.message().contains("trusted IP"), "{e}");
    assert_eq!(requests(&sim), 1);
}

#[tokio::test]
async fn a_wrong_token_is_refused_by_the_gateway() {
    let sim = sim().await;
    let wrong = sim
        .provider_builder()
        .api_token("token-wrong")
        .build()
        .unwrap();
    let e = wrong.test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn an_html_login_page_is_an_auth_error_not_a_decode_panic() {
    let sim = sim().await;
    let e = scopes_with(&sim, SimFault::HtmlLoginPage, 1)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("HTML page"), "{e}");
    assert!(
        e.message().contains("/plugin/products/gateway/graphql"),
        "{e}"
    );
}

#[tokio::test]
async fn a_redirect_to_a_login_page_is_not_followed() {
    let sim = sim().await;
    let e = scopes_with(&sim, SimFault::RedirectToLogin, 1)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("sign-in page"), "{e}");
    assert!(
        !e.to_string().contains("state=xyz"),
        "the redirect target is redacted: {e}"
    );
    assert_eq!(requests(&sim), 1, "the redirect was not followed");
}

#[tokio::test]
async fn a_429_is_retried_after_the_retry_after_delay() {
    let sim = sim().await;
    let n = scopes_with(
        &sim,
        SimFault::RateLimited {
            retry_after: Some("0".into()),
        },
        2,
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
    assert_eq!(requests(&sim), 3, "two throttled attempts, then success");
    // An HTTP date in the past means "now".
    let n = scopes_with(
        &sim,
        SimFault::RateLimited {
            retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        },
        1,
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_429_asking_for_too_long_a_wait_fails_at_once_with_the_wait() {
    let sim = sim().await;
    let e = scopes_with(
        &sim,
        SimFault::RateLimited {
            retry_after: Some("3600".into()),
        },
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
    assert_eq!(requests(&sim), 1);
}

#[tokio::test]
async fn bad_gateway_and_gateway_timeout_are_retried_then_reported() {
    let sim = sim().await;
    assert_eq!(scopes_with(&sim, SimFault::BadGateway, 2).await.unwrap(), 2);
    assert_eq!(requests(&sim), 3);

    let e = scopes_with(&sim, SimFault::BadGateway, 5)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(!e.is_retryable(), "retries are exhausted: {e}");
    assert_eq!(e.context("attempts"), Some("3"));
    assert!(e.message().contains("upstream connect error"), "{e}");
    sim.clear_faults();

    let e = scopes_with(&sim, SimFault::GatewayTimeout, 3)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert_eq!(requests(&sim), 3);
}

#[tokio::test]
async fn slow_responses_time_out_and_are_retried() {
    let sim = sim().await;
    let quick = |sim: &TaniumGatewaySim| {
        sim.provider_builder()
            .request_timeout(Duration::from_millis(150))
            .build()
            .unwrap()
    };
    sim.inject(
        FaultTarget::Any,
        SimFault::Slow(Duration::from_millis(600)),
        1,
    );
    assert_eq!(
        quick(&sim).list_scopes().await.unwrap().len(),
        2,
        "the retry succeeds"
    );

    sim.inject(
        FaultTarget::Any,
        SimFault::Slow(Duration::from_millis(600)),
        3,
    );
    let e = quick(&sim).list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.message().contains("did not answer in time"), "{e}");
}

#[tokio::test]
async fn graphql_errors_on_200_keep_the_gateways_message_and_are_not_retried() {
    let sim = sim().await;
    let e = scopes_with(
        &sim,
        SimFault::GraphqlError("Sensor \"X\" must refer to an existing sensor".into()),
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert!(
        e.message().contains("must refer to an existing sensor"),
        "{e}"
    );
    let typed = std::error::Error::source(&e)
        .and_then(|s| s.downcast_ref::<GatewayErrors>())
        .expect("the typed GraphQL errors are the source");
    assert_eq!(
        typed.messages,
        ["Sensor \"X\" must refer to an existing sensor"]
    );
    assert_eq!(requests(&sim), 1);

    let e = scopes_with(
        &sim,
        SimFault::GraphqlError("missing required permissions for content set Base".into()),
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Forbidden);
}

#[tokio::test]
async fn a_non_json_body_is_rejected_clearly() {
    let sim = sim().await;
    let e = scopes_with(&sim, SimFault::NotJson, 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Decode);
    assert!(e.message().contains("instead of JSON"), "{e}");
    assert!(e.message().contains("text/plain"), "{e}");
}

#[tokio::test]
async fn an_expired_cursor_restarts_once_then_fails_with_cursor_expired() {
    let sim = TaniumGatewaySim::start(SimConfig::new(40, 1, 2))
        .await
        .unwrap();
    let p = sim.provider_builder().page_size(10).build().unwrap();
    let scope = p.list_scopes().await.unwrap()[0].id.clone();
    let first = p
        .list_devices_page(&DevicePageRequest::new(Some(scope.clone())))
        .await
        .unwrap();
    sim.expire_cursors();
    let request =
        DevicePageRequest::new(Some(scope.clone())).with_cursor(first.next_cursor.clone());
    let restarted = p.list_devices_page(&request).await.unwrap();
    assert_eq!(
        restarted.devices[0].external_id, first.devices[0].external_id,
        "back at the start"
    );
    sim.expire_cursors();
    let again = DevicePageRequest::new(Some(scope)).with_cursor(restarted.next_cursor.clone());
    let e = p.list_devices_page(&again).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CursorExpired);
    assert!(e.message().contains("nothing in it is swept"), "{e}");
}

#[tokio::test]
async fn auth_failures_fail_the_whole_run_with_the_cause_in_sync_error() {
    let h = Harness::new(20, 2, 3).await;
    h.sim
        .inject(FaultTarget::field("endpoints"), SimFault::Forbidden, 1);
    let report = h.full().await;
    assert_eq!(report.status, RunStatus::Failed);
    let record = h
        .store
        .get_integration(h.tenant, h.integration)
        .await
        .unwrap()
        .unwrap();
    let sync_error = record.sync_error.unwrap();
    assert!(sync_error.contains("403 Forbidden"), "{sync_error}");
}

#[tokio::test]
async fn asset_api_errors_are_reported_not_swallowed() {
    let h = Harness::with(
        10,
        2,
        4,
        |b| b, // the fallback provider is built below
        SyncOptions::default(),
    )
    .await;
    for eid in h.sim.endpoints_in_group("101") {
        h.sim.age_out(&eid);
    }
    h.sim.inject(FaultTarget::AssetApi, SimFault::BadGateway, 3);
    let fallback = h
        .sim
        .provider_builder()
        .asset_api_url(h.sim.asset_api_url())
        .use_asset_api_fallback(true)
        .build()
        .unwrap();
    let e = fallback
        .list_devices_page(&DevicePageRequest::new(Some("101".into())))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert_eq!(e.context("fallback"), Some("asset_api"));
    assert!(e.message().contains("Tanium Asset API"), "{e}");

    h.sim.inject(FaultTarget::AssetApi, SimFault::Forbidden, 1);
    let report = h
        .orchestrator
        .run(
            h.tenant,
            h.integration,
            std::sync::Arc::new(fallback),
            rmm_sync::sync::RunRequest::full(),
        )
        .await
        .unwrap();
    assert_eq!(
        report.status,
        RunStatus::Failed,
        "an auth error from the Asset API stops the run"
    );
}

#[tokio::test]
async fn configuration_mistakes_are_caught_before_any_request() {
    let e = TaniumProvider::builder()
        .gateway_url("http://10.20.30.40")
        .api_token("token-x")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
    assert_eq!(e.context("key"), Some("gateway_url"));
    assert!(
        TaniumProvider::builder()
            .gateway_url("http://10.20.30.40")
            .api_token("token-x")
            .allow_http(true)
            .build()
            .is_ok()
    );
    let e = TaniumProvider::builder()
        .gateway_url("tanium.example.com")
        .api_token("token-x")
        .use_asset_api_fallback(true)
        .build()
        .unwrap_err();
    assert_eq!(e.context("key"), Some("asset_api_url"));
    let e = TaniumProvider::builder()
        .gateway_url("tanium.example.com")
        .api_token("token-x")
        .page_size(0)
        .build()
        .unwrap_err();
    assert_eq!(e.context("key"), Some("page_size"));
}

#[tokio::test]
async fn the_token_never_shows_in_debug_output() {
    let sim = sim().await;
    let p = provider(&sim);
    assert!(!format!("{p:?}").contains(sim.token()));
    let no_retry = sim
        .provider_builder()
        .retry(RetryConfig::none())
        .build()
        .unwrap();
    sim.inject_next(SimFault::BadGateway);
    let e = no_retry.test_connection().await.unwrap_err();
    assert_no_secret(&e, &sim);
}

/// The answers a front door gives when it throttles or is down, with a body: the status
/// decides, not the body (a JSON `errors` body on a 429 is not a GraphQL error).
fn transient_answers() -> Vec<(&'static str, CannedResponse)> {
    vec![
        (
            "429 + JSON errors",
            CannedResponse::json(429, r#"{"errors":[{"message":"Too Many Requests"}]}"#)
                .retry_after("0"),
        ),
        (
            "429 + HTML",
            CannedResponse::html(
                429,
                "<html><head><title>429 Too Many Requests</title></head><body>slow down</body></html>",
            )
            .retry_after("0"),
        ),
        (
            "503 + JSON errors",
            CannedResponse::json(503, r#"{"errors":[{"message":"Service Unavailable"}]}"#),
        ),
    ]
}

#[tokio::test]
async fn throttling_and_outages_with_a_body_are_retried_and_the_run_completes() {
    for (what, answer) in transient_answers() {
        let h = Harness::new(30, 2, 5).await;
        h.sim.inject(
            FaultTarget::field("computerGroups"),
            SimFault::Canned(answer.clone()),
            1,
        );
        h.sim.inject(
            FaultTarget::field("endpoints"),
            SimFault::Canned(answer.clone()),
            2,
        );
        let report = h.full().await;
        assert_eq!(report.status, RunStatus::Completed, "{what}: {report:?}");
        assert_eq!(h.assets().await.len(), 30, "{what}");
        assert_eq!(h.sim.faults_pending(), 0, "{what}: every fault was served");
    }
}

#[tokio::test]
async fn a_throttled_answer_with_a_json_body_keeps_its_kind_and_wait() {
    let sim = sim().await;
    let e = scopes_with(
        &sim,
        SimFault::Canned(
            CannedResponse::json(429, r#"{"errors":[{"message":"Too Many Requests"}]}"#)
                .retry_after("3600"),
        ),
        1,
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited, "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3600)));
}
