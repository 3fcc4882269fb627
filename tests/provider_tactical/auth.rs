//! API keys, Knox sessions (with and without two-factor authentication), throttled logins and
//! secret hygiene.

use std::time::Duration;

use secrecy::ExposeSecret;

use rmm_sync::ErrorKind;
use rmm_sync::provider::http::RetryConfig;
use rmm_sync::provider::tactical::{TacticalAuth, TacticalConfig, TacticalProvider, TotpRequired};
use rmm_sync::provider::{DevicePageRequest, DeviceSnapshotSource, RmmProvider, ScopeSource};
use rmm_sync::sync::{RunRequest, RunStatus};
use rmm_sync::testkit::TacticalSim;
use rmm_sync::testkit::tactical::{SimAuth, SimFault};

use crate::support::{Harness, api_key_provider, config, knox_provider};

#[tokio::test]
async fn api_key_is_sent_as_x_api_key_and_a_wrong_key_is_unauthorized() {
    let sim = TacticalSim::builder().agents(5).start().await;
    let provider = api_key_provider(&sim);
    assert!(!provider.list_scopes().await.unwrap().is_empty());
    assert!(sim.requests().iter().all(|r| r.auth == SimAuth::ApiKey));

    let wrong =
        TacticalProvider::new(config(&sim, TacticalAuth::api_key("WRONG-KEY-123"))).unwrap();
    let e = wrong.list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("Invalid token."), "{e}");
    assert!(!e.to_string().contains("WRONG-KEY-123"), "{e}");
    assert!(!format!("{e:?}").contains("WRONG-KEY-123"));
}

#[tokio::test]
async fn an_expired_api_key_says_so() {
    let sim = TacticalSim::builder().agents(1).start().await;
    sim.add_expired_api_key("OLDKEY", chrono::Utc::now() - chrono::Duration::days(1));
    let provider = TacticalProvider::new(config(&sim, TacticalAuth::api_key("OLDKEY"))).unwrap();
    let e = provider.test_connection().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(e.message().contains("The token has expired."), "{e}");
}

#[tokio::test]
async fn knox_without_2fa_takes_the_checkcreds_token_and_reuses_it() {
    let sim = TacticalSim::builder().agents(30).start().await;
    let provider = knox_provider(&sim, "admin", "password");
    provider.test_connection().await.unwrap();
    provider.list_scopes().await.unwrap();
    let page = provider
        .list_devices_page(&DevicePageRequest::new(None))
        .await
        .unwrap();
    assert_eq!(page.devices.len(), 30);

    assert_eq!(
        sim.requests_to("v2/checkcreds/").len(),
        1,
        "one login for all calls"
    );
    assert!(
        sim.requests_to("v2/login/").is_empty(),
        "login is only for 2FA accounts (it answers 500 without a code)"
    );
    assert_eq!(sim.knox_tokens_issued(), 1);
    let authed: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/v2/"))
        .collect();
    assert!(
        authed
            .iter()
            .all(|r| r.auth == SimAuth::Knox("admin".into())),
        "{authed:?}"
    );
    let token = provider.knox_token().await.expect("session kept");
    assert!(
        token.expires_at > chrono::Utc::now() + chrono::Duration::hours(4),
        "extended on use"
    );
    let secret = token.token.expose_secret().to_owned();
    assert_eq!(secret.len(), 64);
    for shown in [format!("{token:?}"), format!("{provider:?}")] {
        assert!(
            !shown.contains(&secret) && !shown.contains("password"),
            "{shown}"
        );
    }
}

#[tokio::test]
async fn an_expired_knox_session_logs_in_again_once() {
    let sim = TacticalSim::builder().agents(3).start().await;
    let provider = knox_provider(&sim, "admin", "password");
    provider.list_scopes().await.unwrap();
    sim.expire_knox_tokens();
    sim.clear_requests();
    provider.list_scopes().await.unwrap();
    let paths: Vec<String> = sim.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(paths, vec!["/clients/", "/v2/checkcreds/", "/clients/"]);
    assert_eq!(sim.requests()[0].auth, SimAuth::Rejected);
    assert_eq!(sim.knox_tokens_issued(), 2);
}

#[tokio::test]
async fn a_saved_knox_session_is_reused_by_a_new_provider() {
    let sim = TacticalSim::builder().agents(3).start().await;
    let first = knox_provider(&sim, "admin", "password");
    first.list_scopes().await.unwrap();
    let token = first.knox_token().await.unwrap();
    let second = TacticalProvider::new(config(
        &sim,
        TacticalAuth::Knox {
            username: "admin".into(),
            password: "password".to_owned().into(),
            token: Some(token),
        },
    ))
    .unwrap();
    second.list_scopes().await.unwrap();
    assert_eq!(sim.requests_to("v2/checkcreds/").len(), 1);
}

#[tokio::test]
async fn a_wrong_password_is_unauthorized_without_echoing_it() {
    let sim = TacticalSim::builder().agents(1).start().await;
    let provider = knox_provider(&sim, "admin", "not-the-password");
    let e = provider.list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized);
    assert!(
        e.message().contains("admin") && e.message().contains("Bad credentials"),
        "{e}"
    );
    assert!(!e.to_string().contains("not-the-password"), "{e}");
}

#[tokio::test]
async fn two_factor_accounts_need_a_code_for_every_new_session() {
    let sim = TacticalSim::builder()
        .agents(4)
        .totp_user("tech", "pw-tech", "123456")
        .start()
        .await;
    let provider = knox_provider(&sim, "tech", "pw-tech");

    let e = provider.list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReconnectRequired);
    assert!(TotpRequired::is(&e), "{e}");
    assert!(e.message().contains("login_with_totp"), "{e}");
    assert!(
        sim.requests_to("v2/login/").is_empty(),
        "never calls login without a code"
    );

    let wrong = provider.login_with_totp("654321").await.unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Unauthorized);
    assert!(wrong.message().contains("TOTP"), "{wrong}");

    provider.login_with_totp(" 123456 ").await.unwrap();
    assert_eq!(provider.list_scopes().await.unwrap().len(), 6);
    assert_eq!(sim.requests_to("v2/login/").len(), 2);

    // The session is gone: unattended syncs stop with the typed error, they do not loop.
    sim.expire_knox_tokens();
    sim.set_totp_code("tech", "777777");
    let e = provider.list_scopes().await.unwrap_err();
    assert!(TotpRequired::is(&e), "{e}");
    provider.login_with_totp("777777").await.unwrap();
    provider.list_scopes().await.unwrap();
}

#[tokio::test]
async fn a_run_that_needs_a_totp_code_fails_with_an_actionable_sync_error() {
    let sim = TacticalSim::builder()
        .agents(4)
        .totp_user("tech", "pw-tech", "123456")
        .start()
        .await;
    let provider = knox_provider(&sim, "tech", "pw-tech");
    provider.login_with_totp("123456").await.unwrap();
    let h = Harness::new(provider).await;
    sim.expire_knox_tokens();
    let report = h.run(RunRequest::full()).await;
    assert_eq!(report.status, RunStatus::Failed);
    let state = h
        .store
        .get_integration(h.tenant, h.integration)
        .await
        .unwrap()
        .unwrap();
    let error = state.sync_error.unwrap_or_default();
    assert!(
        error.contains("TOTP") && error.contains("login_with_totp"),
        "{error}"
    );
}

#[tokio::test]
async fn totp_codes_do_not_apply_to_api_keys() {
    let sim = TacticalSim::builder().agents(1).start().await;
    let e = api_key_provider(&sim)
        .login_with_totp("123456")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidConfig);
}

#[tokio::test]
async fn login_throttling_is_rate_limited_with_the_servers_wait() {
    let sim = TacticalSim::builder()
        .agents(1)
        .login_limit_per_minute(1)
        .start()
        .await;
    knox_provider(&sim, "admin", "password")
        .list_scopes()
        .await
        .unwrap();
    // A second session within the minute: the server wants ~60 s, more than the client waits.
    let e = knox_provider(&sim, "admin", "password")
        .list_scopes()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert!(e.message().contains("throttled"), "{e}");
    let wait = e.retry_after().expect("Retry-After kept");
    assert!(
        wait > Duration::from_secs(2) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
    assert_eq!(
        sim.requests_to("v2/checkcreds/").len(),
        2,
        "not retried: wait too long"
    );
}

#[tokio::test]
async fn a_short_login_throttle_is_waited_out() {
    let sim = TacticalSim::builder().agents(1).start().await;
    sim.inject(SimFault {
        path_prefix: "v2/checkcreds/".into(),
        status: 429,
        remaining: 1,
        retry_after: Some(1),
        canned: None,
    });
    let provider = knox_provider(&sim, "admin", "password");
    provider.list_scopes().await.unwrap();
    assert_eq!(sim.requests_to("v2/checkcreds/").len(), 2);
}

#[tokio::test]
async fn without_retries_a_throttled_login_surfaces_at_once() {
    let sim = TacticalSim::builder().agents(1).start().await;
    sim.inject(SimFault {
        path_prefix: "v2/checkcreds/".into(),
        status: 429,
        remaining: 1,
        retry_after: Some(1),
        canned: None,
    });
    let provider = TacticalProvider::new(
        TacticalConfig::new(sim.url(), TacticalAuth::knox("admin", "password"))
            .with_retry(RetryConfig::none()),
    )
    .unwrap();
    let e = provider.list_scopes().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RateLimited);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_login() {
    let sim = TacticalSim::builder().agents(5).start().await;
    let provider = std::sync::Arc::new(knox_provider(&sim, "admin", "password"));
    let calls = (0..6).map(|_| {
        let p = std::sync::Arc::clone(&provider);
        tokio::spawn(async move { p.list_scopes().await.map(|s| s.len()) })
    });
    for result in futures::future::join_all(calls).await {
        assert_eq!(result.unwrap().unwrap(), 6);
    }
    assert_eq!(sim.requests_to("v2/checkcreds/").len(), 1, "single flight");
}
