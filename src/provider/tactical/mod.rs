//! The Tactical RMM adapter (feature `tactical`).
//!
//! - **Where**: the API host's root (`https://api.example.com/`), not the dashboard;
//!   [`normalize_base_url`] accepts a trailing `/` or `/api` and keeps reverse-proxy prefixes.
//! - **Auth** ([`TacticalAuth`]): an API key (`X-API-KEY`), or a user's Knox session obtained
//!   through the dashboard's login flow, reused until it expires and renewed on a 401. Accounts
//!   with two-factor authentication need a TOTP code for each new session: without one the
//!   adapter fails with [`crate::ErrorKind::ReconnectRequired`] caused by [`TotpRequired`], and
//!   [`TacticalProvider::login_with_totp`] takes the code.
//! - **Scopes**: clients (`organization`, id = client id) and sites (`site`, id =
//!   `site:<id>`, parent = client). Devices belong to their client, or to their site with
//!   [`DeviceScope::Site`].
//! - **Devices**: the whole integration is listed once — the beta listing could be filtered
//!   per client, but ⌈agents / 1000⌉ requests beat at least one per client — through the paged
//!   beta API or, where the server has it disabled, the classic per-client listing. Each
//!   snapshot carries its scope; a device moved to another client is the same asset, `moved`.
//! - **Status**: per agent from its own `offline_time` / `overdue_time`; the integration-wide
//!   thresholds ([`TacticalConfig::status_thresholds`]) age stored devices between runs.
//! - **Webhooks**: [`TacticalWebhookVerifier`] checks a shared secret in constant time and
//!   parses alert and agent payloads into [`TacticalWebhookEvent`]s, each naming the agent to
//!   refresh with a single-device run.
//!
//! The field mapping, the webhook template and the limits are in `docs/providers/tactical.md`.

mod auth;
mod client;
mod config;
mod dto;
mod hardware;
mod listing;
mod mapping;
mod sites;
mod webhook;

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

pub use auth::TotpRequired;
pub use config::{
    ApiMode, DeviceScope, KnoxToken, TacticalAuth, TacticalConfig, normalize_base_url,
};
pub use webhook::{
    ALERT_WEBHOOK_TEMPLATE, AgentEvent, AlertAction, AlertEvent, AlertSeverity,
    DEFAULT_WEBHOOK_HEADER, MAX_WEBHOOK_BODY, RESOLVED_WEBHOOK_TEMPLATE, TacticalWebhookConfig,
    TacticalWebhookEvent, TacticalWebhookVerifier, parse_event,
};

#[cfg(feature = "testkit")]
pub(crate) use dto::parse_time;

use auth::Auth;
use client::{Call, Transport, check, decode};
use dto::{AgentModelDto, BetaPage, ClientDto};
use listing::{BETA_AGENTS, ListCursor, MAX_PAGE_SIZE, PageArgs};
use mapping::{MapContext, map_model};
use sites::SiteIndex;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, ProviderId, ScopeSnapshot,
};
use crate::provider::http::HttpResponse;
use crate::provider::{
    Capabilities, ConnectionReport, DevicePage, DevicePageRequest, DeviceSnapshotSource,
    ProviderInfo, ProviderRegistry, RmmProvider, ScopeSource,
};

const CLIENTS: &str = "clients/";
const API_UNKNOWN: u8 = 0;
const API_BETA: u8 = 1;
const API_CLASSIC: u8 = 2;

/// A Tactical RMM instance.
///
/// ```no_run
/// # async fn demo() -> rmm_sync::Result<()> {
/// use rmm_sync::provider::RmmProvider;
/// use rmm_sync::provider::tactical::{TacticalAuth, TacticalConfig, TacticalProvider};
/// let provider = TacticalProvider::new(TacticalConfig::new(
///     "https://api.example.com",
///     TacticalAuth::api_key("…"),
/// ))?;
/// let report = provider.test_connection().await?;
/// println!("{:?}", report.details);
/// # Ok(()) }
/// ```
pub struct TacticalProvider {
    config: TacticalConfig,
    transport: Transport,
    auth: Auth,
    sites: RwLock<Option<Arc<SiteIndex>>>,
    /// The listing API found on the server (`API_*`), for `ApiMode::Auto`.
    detected_api: AtomicU8,
    webhook: Option<TacticalWebhookVerifier>,
}

impl fmt::Debug for TacticalProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TacticalProvider")
            .field("base_url", &self.transport.base().as_str())
            .field("auth", &self.auth)
            .field("device_scope", &self.config.device_scope)
            .field("api", &self.effective_api())
            .finish_non_exhaustive()
    }
}

impl TacticalProvider {
    /// Builds the provider: normalises and checks the URL, builds the HTTP client, and
    /// validates the webhook settings. No request is made.
    pub fn new(config: TacticalConfig) -> Result<Self> {
        let base = config.api_url()?;
        let transport = Transport::new(base, &config.http, config.retry.clone())?;
        let auth = Auth::new(&config.auth, config.knox_token_ttl);
        let webhook = config
            .webhook
            .as_ref()
            .map(TacticalWebhookVerifier::new)
            .transpose()?;
        Ok(Self {
            config,
            transport,
            auth,
            sites: RwLock::new(None),
            detected_api: AtomicU8::new(API_UNKNOWN),
            webhook,
        })
    }

    /// Registers the `tacticalrmm` provider; the factory takes a [`TacticalConfig`] as JSON.
    pub fn register(registry: &mut ProviderRegistry) {
        registry.register(
            ProviderId::TACTICALRMM,
            "Tactical RMM",
            capabilities_for(ApiMode::Auto),
            Arc::new(|value| {
                let config: TacticalConfig =
                    serde_json::from_value(value.clone()).map_err(|e| {
                        Error::invalid_config(
                            "tacticalrmm",
                            format!("invalid Tactical RMM configuration: {e}"),
                        )
                    })?;
                Ok(Arc::new(TacticalProvider::new(config)?) as Arc<dyn RmmProvider>)
            }),
        );
    }

    /// The normalised API root.
    pub fn base_url(&self) -> &Url {
        self.transport.base()
    }

    /// The listing API in use: the configured one, or for [`ApiMode::Auto`] the one detected
    /// (still `Auto` until the first listing or connection test).
    pub fn effective_api(&self) -> ApiMode {
        match (self.config.api, self.detected_api.load(Ordering::Relaxed)) {
            (ApiMode::Auto, API_BETA) => ApiMode::Beta,
            (ApiMode::Auto, API_CLASSIC) => ApiMode::Classic,
            (mode, _) => mode,
        }
    }

    fn mark_api(&self, mode: ApiMode) {
        let v = match mode {
            ApiMode::Beta => API_BETA,
            ApiMode::Classic => API_CLASSIC,
            ApiMode::Auto => API_UNKNOWN,
        };
        self.detected_api.store(v, Ordering::Relaxed);
    }

    /// Starts a Knox session with a TOTP code from the account's authenticator app (accounts
    /// without 2FA ignore the code). Call it when an operation failed with [`TotpRequired`]; the
    /// session is then reused, and extended by each use, until it expires.
    pub async fn login_with_totp(&self, code: &str) -> Result<()> {
        match &self.auth {
            Auth::Knox(session) => session
                .credential(&self.transport, Some(code))
                .await
                .map(|_| ()),
            Auth::ApiKey(_) => Err(Error::invalid_config(
                "auth",
                "this integration authenticates with an API key; TOTP codes only apply to Knox (user name + password) authentication",
            )),
        }
    }

    /// The current Knox session, for hosts that persist it across restarts (feed it back as
    /// [`TacticalAuth::Knox`]'s `token`). `None` for API keys or before the first login.
    pub async fn knox_token(&self) -> Option<KnoxToken> {
        match &self.auth {
            Auth::Knox(session) => session.current().await,
            Auth::ApiKey(_) => None,
        }
    }

    /// The webhook verifier, when a webhook secret is configured.
    pub fn webhook_verifier(&self) -> Option<&TacticalWebhookVerifier> {
        self.webhook.as_ref()
    }

    /// Verifies a webhook delivery against the configured secret and parses it; see
    /// [`TacticalWebhookVerifier::verify_and_parse`].
    pub fn verify_and_parse(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<TacticalWebhookEvent> {
        self.webhook
            .as_ref()
            .ok_or_else(|| {
                Error::invalid_config(
                    "webhook",
                    "no webhook secret is configured for this Tactical RMM integration",
                )
            })?
            .verify_and_parse(headers, body)
    }

    /// An authenticated GET. A Knox 401 forgets the session, logs in again and replays once;
    /// other statuses are returned for the caller to judge.
    async fn authed_get(&self, path: &str, query: &[(&str, String)]) -> Result<HttpResponse> {
        let mut replayed = false;
        loop {
            let credential = self.auth.credential(&self.transport).await?;
            let mut call = Call::get(path, query);
            call.auth = Some(credential.header());
            let response = self.transport.send(&call).await?;
            if response.status == StatusCode::UNAUTHORIZED
                && !replayed
                && credential.is_knox()
                && self.auth.rejected(&credential).await
            {
                tracing::info!(
                    path,
                    "Tactical RMM rejected the Knox session; logging in again"
                );
                replayed = true;
                continue;
            }
            if response.status.is_success() {
                self.auth.accepted(&credential).await;
            }
            return Ok(response);
        }
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T> {
        let response = self.authed_get(path, query).await?;
        let response = check(response, &reqwest::Method::GET, path)?;
        decode(&response, path)
    }

    /// The client/site index, refreshed when older than `max_age`.
    async fn sites(&self, max_age: Duration) -> Result<Arc<SiteIndex>> {
        let cached = self.sites.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(index) = cached.filter(|i| i.loaded_at.elapsed() <= max_age) {
            return Ok(index);
        }
        let clients: Vec<ClientDto> = self.get_json(CLIENTS, &[]).await?;
        let index = Arc::new(SiteIndex::from_clients(clients));
        *self.sites.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&index));
        Ok(index)
    }

    fn map_context<'a>(&self, index: &'a SiteIndex, now: DateTime<Utc>) -> MapContext<'a> {
        MapContext {
            index,
            device_scope: self.config.device_scope,
            now,
            thresholds: self.config.status_thresholds,
        }
    }
}

/// The capabilities for a listing API (`list_devices_since` needs the beta API's filter).
fn capabilities_for(api: ApiMode) -> Capabilities {
    Capabilities {
        test_connection: true,
        list_scopes: true,
        list_devices: true,
        list_devices_per_scope: false,
        list_devices_since: api != ApiMode::Classic,
        get_device: true,
        deletion_detection: true,
        webhooks: true,
        device_has_last_seen: true,
        device_has_serial: true,
        list_devices_max_page_size: Some(MAX_PAGE_SIZE),
        ..Capabilities::default()
    }
}

#[async_trait]
impl RmmProvider for TacticalProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            provider: ProviderId::TACTICALRMM,
            title: "Tactical RMM".into(),
            base_url: Some(self.transport.base().to_string()),
        }
    }

    fn capabilities(&self) -> Capabilities {
        capabilities_for(self.effective_api())
    }

    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        self.config.status_thresholds
    }

    async fn test_connection(&self) -> Result<ConnectionReport> {
        let mut report = ConnectionReport::default();
        let index = self.sites(Duration::ZERO).await?;
        let scopes = index.scopes(self.config.device_scope);
        let clients = scopes.iter().filter(|s| s.parent.is_none()).count();
        report.details.push(format!(
            "authenticated with {} at {}; {clients} clients, {} sites",
            match &self.auth {
                Auth::ApiKey(_) => "an API key".to_owned(),
                Auth::Knox(k) => format!("the Knox session of user {:?}", k.username),
            },
            self.transport.base(),
            scopes.len() - clients
        ));
        if self.config.api == ApiMode::Classic {
            report
                .details
                .push("agents are listed per client through /agents/ (configured)".into());
            return Ok(report);
        }
        let query = [("page", "1".to_owned()), ("page_size", "1".to_owned())];
        let response = self.authed_get(BETA_AGENTS, &query).await?;
        if response.status == StatusCode::NOT_FOUND {
            if self.config.api == ApiMode::Beta {
                return Err(Error::invalid_config(
                    "api",
                    "the Tactical RMM beta API is not enabled on this server: set BETA_API_ENABLED = True in local_settings.py, or use api = \"auto\"",
                ));
            }
            self.mark_api(ApiMode::Classic);
            report.warnings.push(
                "the beta API is disabled (BETA_API_ENABLED = False): agents are listed per client through /agents/, without RAM and volume details and without server-side last_seen filtering, so incremental runs diff full listings".into(),
            );
            return Ok(report);
        }
        let response = check(response, &reqwest::Method::GET, BETA_AGENTS)?;
        let page: BetaPage<serde_json::Value> = decode(&response, BETA_AGENTS)?;
        self.mark_api(ApiMode::Beta);
        report.details.push(format!(
            "beta API enabled: {} agents, listed in pages of up to {MAX_PAGE_SIZE}",
            page.count
        ));
        Ok(report)
    }
}

#[async_trait]
impl ScopeSource for TacticalProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        let index = self.sites(Duration::ZERO).await?;
        Ok(index.scopes(self.config.device_scope))
    }
}

#[async_trait]
impl DeviceSnapshotSource for TacticalProvider {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        if request.scope.is_some() {
            return Err(Error::new(
                ErrorKind::Unsupported,
                "the Tactical RMM adapter lists the whole integration at once (list_devices_per_scope is not claimed); pass no scope",
            ));
        }
        let args = PageArgs {
            page_size: request
                .page_size
                .unwrap_or(MAX_PAGE_SIZE)
                .clamp(1, MAX_PAGE_SIZE),
            since: request.since,
        };
        match request
            .cursor
            .as_ref()
            .map(ListCursor::decode)
            .transpose()?
        {
            None => self.first_page(args).await,
            Some(ListCursor::Beta { page, first_count }) => {
                self.beta_page(page, Some(first_count), args).await
            }
            Some(ListCursor::Classic { client }) => self.classic_page(Some(client), args).await,
        }
    }

    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        let path = format!("agents/{}/", encode_segment(id.as_str()));
        let response = self.authed_get(&path, &[]).await?;
        if response.status == StatusCode::NOT_FOUND && !response.is_html() {
            return Ok(None);
        }
        let response = check(response, &reqwest::Method::GET, &path)?;
        let row: AgentModelDto = decode(&response, &path)?;
        let now = Utc::now();
        let mut index = self.sites(Duration::MAX).await?;
        if row.site.is_some_and(|s| index.site(s).is_none()) {
            index = self.sites(Duration::ZERO).await?;
        }
        map_model(&row, &self.map_context(&index, now))
            .map(Some)
            .map_err(|u| {
                Error::new(
                    ErrorKind::InvalidInput,
                    format!(
                        "agent {} is in site {}, which GET /clients/ does not list (is the API user's role limited to some clients?)",
                        u.agent_id, u.site
                    ),
                )
            })
    }
}

/// Percent-encodes one path segment (agent ids are URL-safe in practice; this makes sure).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_follow_the_listing_api() {
        let auto = capabilities_for(ApiMode::Auto);
        assert!(auto.list_devices_since && auto.get_device && auto.webhooks);
        assert!(auto.deletion_detection && !auto.list_devices_per_scope);
        assert_eq!(auto.list_devices_max_page_size, Some(1000));
        assert!(!capabilities_for(ApiMode::Classic).list_devices_since);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(encode_segment("AbC-12_x.y~"), "AbC-12_x.y~");
        assert_eq!(encode_segment("a/b c+="), "a%2Fb%20c%2B%3D");
    }

    #[test]
    fn provider_debug_has_no_secrets() {
        let p = TacticalProvider::new(TacticalConfig::new(
            "https://api.example.com/api/",
            TacticalAuth::api_key("SUPERSECRETKEY"),
        ))
        .unwrap();
        let d = format!("{p:?}");
        assert!(!d.contains("SUPERSECRETKEY"), "{d}");
        assert!(d.contains("https://api.example.com/"), "{d}");
        assert_eq!(
            p.info().base_url.as_deref(),
            Some("https://api.example.com/")
        );
    }
}
