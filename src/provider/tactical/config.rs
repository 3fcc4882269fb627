//! [`TacticalConfig`]: where the API is, how to authenticate, and how agents map to scopes.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::webhook::TacticalWebhookConfig;
use crate::error::{Error, Result};
use crate::model::AgentStatusThresholds;
use crate::provider::http::{ClientOptions, RetryConfig, check_url};

/// Configuration of one Tactical RMM instance. Deserializable, so the registry and the CLI build
/// it from JSON or TOML; secrets are [`SecretString`]s and never printed.
///
/// ```
/// use rmm_sync::provider::tactical::{TacticalAuth, TacticalConfig};
/// let config = TacticalConfig::new("api.example.com/api/", TacticalAuth::api_key("K3Y"));
/// assert_eq!(config.api_url().unwrap().as_str(), "https://api.example.com/");
/// assert!(!format!("{config:?}").contains("K3Y"));
/// ```
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TacticalConfig {
    /// The **API host** (`https://api.example.com`), not the dashboard (`rmm.`). A missing
    /// scheme means `https://`; a trailing `/` or `/api` is dropped (the API is served at the
    /// host's root); any other path is kept as a reverse-proxy prefix.
    pub base_url: String,
    /// How requests authenticate.
    pub auth: TacticalAuth,
    /// Whether devices belong to their client (default) or their site.
    #[serde(default)]
    pub device_scope: DeviceScope,
    /// Which agent listing to use; `auto` (default) prefers the paged beta API and falls back
    /// to the classic listing when the server has the beta API disabled.
    #[serde(default)]
    pub api: ApiMode,
    /// Status thresholds for agents whose own thresholds are unknown, and for the
    /// re-evaluation of every stored device after a run. Default: Tactical's defaults, online
    /// within 4 minutes (`offline_time`), overdue after 30 minutes (`overdue_time`).
    #[serde(default = "default_thresholds")]
    pub status_thresholds: AgentStatusThresholds,
    /// The server's Knox token lifetime (`REST_KNOX.TOKEN_TTL`, default 5 hours). Each use of
    /// a token extends it to this long from now, so the session lives while a sync runs at least
    /// this often.
    #[serde(
        default = "default_knox_ttl",
        rename = "knox_token_ttl_secs",
        with = "secs"
    )]
    pub knox_token_ttl: Duration,
    /// HTTP client settings.
    #[serde(default)]
    pub http: ClientOptions,
    /// Retry policy for reads (and throttled logins).
    #[serde(default)]
    pub retry: RetryConfig,
    /// Shared secret and header name for incoming webhooks (alert-template REST actions).
    #[serde(default)]
    pub webhook: Option<TacticalWebhookConfig>,
}

impl fmt::Debug for TacticalConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TacticalConfig")
            .field("base_url", &self.base_url)
            .field("auth", &self.auth)
            .field("device_scope", &self.device_scope)
            .field("api", &self.api)
            .field("status_thresholds", &self.status_thresholds)
            .field("knox_token_ttl", &self.knox_token_ttl)
            .field("http", &self.http)
            .field("retry", &self.retry)
            .field("webhook", &self.webhook)
            .finish()
    }
}

impl TacticalConfig {
    /// A configuration with every optional setting at its default.
    pub fn new(base_url: impl Into<String>, auth: TacticalAuth) -> Self {
        Self {
            base_url: base_url.into(),
            auth,
            device_scope: DeviceScope::default(),
            api: ApiMode::default(),
            status_thresholds: default_thresholds(),
            knox_token_ttl: default_knox_ttl(),
            http: ClientOptions::default(),
            retry: RetryConfig::default(),
            webhook: None,
        }
    }

    /// Sets where devices belong.
    pub fn with_device_scope(mut self, scope: DeviceScope) -> Self {
        self.device_scope = scope;
        self
    }

    /// Sets the listing API.
    pub fn with_api(mut self, api: ApiMode) -> Self {
        self.api = api;
        self
    }

    /// Sets the HTTP client options.
    pub fn with_http(mut self, http: ClientOptions) -> Self {
        self.http = http;
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the webhook secret (and header).
    pub fn with_webhook(mut self, webhook: TacticalWebhookConfig) -> Self {
        self.webhook = Some(webhook);
        self
    }

    /// Sets the fallback status thresholds.
    pub fn with_status_thresholds(mut self, thresholds: AgentStatusThresholds) -> Self {
        self.status_thresholds = thresholds;
        self
    }

    /// The normalised API root (always ending in `/`), checked against the HTTP options.
    pub fn api_url(&self) -> Result<Url> {
        let url = normalize_base_url(&self.base_url)?;
        check_url(&url, self.http.allow_http, "base_url")?;
        Ok(url)
    }
}

fn default_thresholds() -> AgentStatusThresholds {
    AgentStatusThresholds {
        online_within: Duration::from_secs(4 * 60),
        overdue_after: Some(Duration::from_secs(30 * 60)),
    }
}

fn default_knox_ttl() -> Duration {
    Duration::from_secs(5 * 3600)
}

mod secs {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// Normalises an instance URL to the API root: trims, adds `https://` when no scheme is given,
/// drops query and fragment, strips trailing slashes and a final `/api` segment (the API is
/// served at the host's root), and keeps any other path as a proxy prefix. The result always
/// ends in `/`, so relative paths join below it.
///
/// ```
/// use rmm_sync::provider::tactical::normalize_base_url;
/// let n = |s| normalize_base_url(s).unwrap().to_string();
/// assert_eq!(n("api.example.com"), "https://api.example.com/");
/// assert_eq!(n("https://api.example.com/api/"), "https://api.example.com/");
/// assert_eq!(n("http://127.0.0.1:8000////"), "http://127.0.0.1:8000/");
/// assert_eq!(n("https://example.com/tactical/"), "https://example.com/tactical/");
/// assert_eq!(n("https://example.com/api/v2"), "https://example.com/api/v2/");
/// ```
pub fn normalize_base_url(input: &str) -> Result<Url> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(Error::invalid_config(
            "base_url",
            "base_url is empty; set it to the Tactical RMM API host, e.g. https://api.example.com",
        ));
    }
    let with_scheme = if trimmed.contains("://") {
        trimmed.to_owned()
    } else {
        format!("https://{trimmed}")
    };
    let mut url = Url::parse(&with_scheme).map_err(|e| {
        Error::invalid_config(
            "base_url",
            format!("base_url is not a valid URL ({e}); expected e.g. https://api.example.com"),
        )
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::invalid_config(
            "base_url",
            "base_url has no host; expected e.g. https://api.example.com",
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    let mut path = url.path().trim_end_matches('/').to_owned();
    if path == "/api" {
        path.clear();
    }
    url.set_path(&format!("{path}/"));
    Ok(url)
}

/// How requests authenticate.
#[derive(Clone, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum TacticalAuth {
    /// An API key (Settings › Global Settings › API Keys), sent as `X-API-KEY`. Tied to a user
    /// whose role sets the permissions; bypasses two-factor authentication. The recommended
    /// mode for unattended syncs.
    ApiKey {
        /// The key.
        api_key: SecretString,
    },
    /// A user's Knox session (`Authorization: Token …`), obtained through the dashboard's login
    /// flow. Accounts with two-factor authentication need a current TOTP code whenever a new
    /// session is needed (see [`super::TacticalProvider::login_with_totp`]).
    Knox {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
        /// A session saved from an earlier login ([`super::TacticalProvider::knox_token`]),
        /// reused until it expires.
        #[serde(default)]
        token: Option<KnoxToken>,
    },
}

impl TacticalAuth {
    /// API-key authentication.
    pub fn api_key(key: impl Into<String>) -> Self {
        TacticalAuth::ApiKey {
            api_key: SecretString::from(key.into()),
        }
    }

    /// Knox (user name + password) authentication.
    pub fn knox(username: impl Into<String>, password: impl Into<String>) -> Self {
        TacticalAuth::Knox {
            username: username.into(),
            password: SecretString::from(password.into()),
            token: None,
        }
    }

    /// The mode's name (`api_key` or `knox`).
    pub fn mode(&self) -> &'static str {
        match self {
            TacticalAuth::ApiKey { .. } => "api_key",
            TacticalAuth::Knox { .. } => "knox",
        }
    }
}

impl fmt::Debug for TacticalAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TacticalAuth::ApiKey { .. } => f
                .debug_struct("ApiKey")
                .field("api_key", &"<redacted>")
                .finish(),
            TacticalAuth::Knox {
                username, token, ..
            } => f
                .debug_struct("Knox")
                .field("username", username)
                .field("password", &"<redacted>")
                .field("token", token)
                .finish(),
        }
    }
}

/// A Knox session token and when the server will stop accepting it.
#[derive(Clone, Deserialize)]
pub struct KnoxToken {
    /// The token (64 hex characters).
    pub token: SecretString,
    /// Its expiry, as last known (the server extends it on use).
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for KnoxToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnoxToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Which scope a device belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceScope {
    /// The agent's client (scope id = client id). An agent moved to another site of the same
    /// client stays in its scope.
    #[default]
    Client,
    /// The agent's site (scope id = `site:<site id>`), for hosts that map sites to clients.
    Site,
}

/// Which agent listing to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiMode {
    /// Try the beta API; when the server answers 404 (`BETA_API_ENABLED = False`), use the
    /// classic listing from then on.
    #[default]
    Auto,
    /// Only the paged beta API (`/beta/v1/agent/`): pages of up to 1000 agents, server-side
    /// `last_seen` filtering.
    Beta,
    /// Only the classic listing (`/agents/?client=…`, one client per page, unpaginated):
    /// no server-side `last_seen` filter, so incremental runs diff full listings.
    Classic,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn base_urls_are_normalised_to_the_api_root() {
        let n = |s: &str| normalize_base_url(s).map(|u| u.to_string());
        assert_eq!(n("https://example.com/").unwrap(), "https://example.com/");
        assert_eq!(n("http://example.com////").unwrap(), "http://example.com/");
        assert_eq!(n("  example.com ").unwrap(), "https://example.com/");
        assert_eq!(
            n("https://example.com/api").unwrap(),
            "https://example.com/"
        );
        assert_eq!(
            n("https://example.com/api/").unwrap(),
            "https://example.com/"
        );
        assert_eq!(
            n("https://example.com/api/v2").unwrap(),
            "https://example.com/api/v2/"
        );
        assert_eq!(
            n("https://example.com/tactical/").unwrap(),
            "https://example.com/tactical/"
        );
        assert_eq!(
            n("https://example.com:8443/?x=1#f").unwrap(),
            "https://example.com:8443/"
        );
        assert_eq!(n("").unwrap_err().kind(), ErrorKind::InvalidConfig);
        assert_eq!(n("https://").unwrap_err().kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn the_documented_example_configuration_is_valid() {
        let doc = include_str!("../../../docs/providers/tactical.md");
        let start = doc
            .find("```json\n{\n  \"base_url\"")
            .expect("example in the docs")
            + 8;
        let end = start + doc[start..].find("```").unwrap();
        let c: TacticalConfig = serde_json::from_str(&doc[start..end]).unwrap();
        assert_eq!(c.status_thresholds, default_thresholds());
        assert_eq!(c.auth.mode(), "api_key");
        assert!(c.webhook.is_some());
    }

    #[test]
    fn plain_http_is_refused_for_remote_hosts() {
        let c = TacticalConfig::new("http://api.example.com", TacticalAuth::api_key("k"));
        assert_eq!(c.api_url().unwrap_err().kind(), ErrorKind::InvalidConfig);
        let c = TacticalConfig::new("http://127.0.0.1:9", TacticalAuth::api_key("k"));
        assert!(c.api_url().is_ok());
    }

    #[test]
    fn config_deserializes_with_defaults_and_never_prints_secrets() {
        let c: TacticalConfig = serde_json::from_value(serde_json::json!({
            "base_url": "api.example.com",
            "auth": {"mode": "knox", "username": "admin", "password": "hunter2"},
            "device_scope": "site",
        }))
        .unwrap();
        assert_eq!(c.device_scope, DeviceScope::Site);
        assert_eq!(c.api, ApiMode::Auto);
        assert_eq!(c.knox_token_ttl, Duration::from_secs(5 * 3600));
        assert_eq!(c.status_thresholds.online_within, Duration::from_secs(240));
        let debug = format!("{c:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("admin"));

        let k: TacticalConfig = serde_json::from_value(serde_json::json!({
            "base_url": "api.example.com",
            "auth": {"mode": "api_key", "api_key": "SECRETKEY"},
            "webhook": {"secret": "WHSECRET"},
        }))
        .unwrap();
        let debug = format!("{k:?}");
        assert!(
            !debug.contains("SECRETKEY") && !debug.contains("WHSECRET"),
            "{debug}"
        );
        assert!(
            serde_json::from_value::<TacticalConfig>(serde_json::json!({
                "base_url": "x", "auth": {"mode": "api_key", "api_key": "k"}, "typo": 1
            }))
            .is_err()
        );
    }
}
