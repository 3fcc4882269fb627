//! Configuration: instance (region or URL), credentials, scope level, paging and limits.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use url::Url;

use super::token::TokenStore;
use crate::error::{Error, Result};
use crate::model::AgentStatusThresholds;
use crate::provider::http::{ClientOptions, RateLimit, RetryConfig};

/// Devices (and organizations, locations) per page unless configured.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 1000;

/// A NinjaOne region (the instance an account lives on).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    /// `app.ninjarmm.com` (United States).
    #[default]
    #[serde(alias = "us")]
    App,
    /// `us2.ninjarmm.com` (United States, second instance).
    Us2,
    /// `eu.ninjarmm.com` (Europe).
    Eu,
    /// `oc.ninjarmm.com` (Oceania).
    Oc,
    /// `ca.ninjarmm.com` (Canada).
    Ca,
}

impl Region {
    /// The instance's base URL.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::App => "https://app.ninjarmm.com",
            Region::Us2 => "https://us2.ninjarmm.com",
            Region::Eu => "https://eu.ninjarmm.com",
            Region::Oc => "https://oc.ninjarmm.com",
            Region::Ca => "https://ca.ninjarmm.com",
        }
    }

    /// Parses a region name (`app`/`us`, `us2`, `eu`, `oc`, `ca`; any case).
    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "app" | "us" => Ok(Region::App),
            "us2" => Ok(Region::Us2),
            "eu" => Ok(Region::Eu),
            "oc" => Ok(Region::Oc),
            "ca" => Ok(Region::Ca),
            other => Err(Error::invalid_config(
                "region",
                format!("unknown NinjaOne region {other:?}; use app (us), us2, eu, oc or ca"),
            )),
        }
    }
}

/// Where the NinjaOne instance is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instance {
    /// A standard region.
    Region(Region),
    /// Any other base URL (a `*.ninjaone.com` or `*.rmmservice.com` host, a proxy, a
    /// simulator). A trailing `/v2` or `/api/v2` is stripped: API and OAuth paths are appended
    /// from [`NinjaOneConfig::api_prefix`] and [`NinjaOneConfig::token_path`].
    Url(Url),
}

impl Instance {
    /// A custom base URL from text.
    pub fn url(raw: &str) -> Result<Self> {
        let url = Url::parse(raw.trim()).map_err(|e| {
            Error::invalid_config("base_url", format!("base_url is not a URL: {e}"))
        })?;
        Ok(Instance::Url(url))
    }

    /// The base URL, normalised: no trailing slash, no API path.
    pub(crate) fn base(&self) -> Result<Url> {
        let mut url = match self {
            Instance::Region(r) => Url::parse(r.base_url()).expect("static URLs parse"),
            Instance::Url(u) => u.clone(),
        };
        if url.cannot_be_a_base() {
            return Err(Error::invalid_config(
                "base_url",
                "base_url must be an http(s) URL with a host",
            ));
        }
        url.set_query(None);
        url.set_fragment(None);
        let mut path = url.path().trim_end_matches('/').to_owned();
        for suffix in ["/api/v2", "/v2", "/api"] {
            if let Some(stripped) = path.strip_suffix(suffix) {
                path = stripped.to_owned();
                break;
            }
        }
        url.set_path(&path);
        Ok(url)
    }
}

/// Which NinjaOne level becomes the scope a host maps to a client. Both levels are always
/// listed as scopes (metadata `receives_devices` says which one devices carry).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeLevel {
    /// Organizations (scope id = the organization id, e.g. `"12"`).
    #[default]
    Organization,
    /// Locations (scope id = `"loc-<location id>"`, kind `site`, parent = the organization).
    Location,
}

impl ScopeLevel {
    /// The scope id of a location (prefixed: location and organization ids share no space in
    /// NinjaOne, so `1` could be either).
    pub fn location_scope_id(location_id: i64) -> String {
        format!("loc-{location_id}")
    }
}

/// The OAuth grant the adapter authenticates with.
#[derive(Clone)]
pub enum Credentials {
    /// An "API Services (machine-to-machine)" application: client credentials, no refresh
    /// tokens, nothing to persist.
    ClientCredentials {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretString,
    },
    /// A "Web" application connected by an administrator (authorization code with
    /// `offline_access`): the access and rotating refresh tokens live in a host-provided
    /// [`TokenStore`] under `token_key`, so every worker of the host shares them.
    AuthorizationCode {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: SecretString,
        /// Where the tokens are kept (compare-and-swap).
        store: Arc<dyn TokenStore>,
        /// The key of this grant in the store (e.g. the integration id).
        token_key: String,
    },
}

impl Credentials {
    /// Client credentials.
    pub fn client_credentials(client_id: impl Into<String>, client_secret: SecretString) -> Self {
        Credentials::ClientCredentials {
            client_id: client_id.into(),
            client_secret,
        }
    }

    /// An authorization-code grant whose tokens are in `store` under `token_key`.
    pub fn authorization_code(
        client_id: impl Into<String>,
        client_secret: SecretString,
        store: Arc<dyn TokenStore>,
        token_key: impl Into<String>,
    ) -> Self {
        Credentials::AuthorizationCode {
            client_id: client_id.into(),
            client_secret,
            store,
            token_key: token_key.into(),
        }
    }

    pub(crate) fn client_id(&self) -> &str {
        match self {
            Credentials::ClientCredentials { client_id, .. }
            | Credentials::AuthorizationCode { client_id, .. } => client_id,
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .finish(),
            Credentials::AuthorizationCode {
                client_id,
                store,
                token_key,
                ..
            } => f
                .debug_struct("AuthorizationCode")
                .field("client_id", client_id)
                .field("client_secret", &"[redacted]")
                .field("store", store)
                .field("token_key", token_key)
                .finish(),
        }
    }
}

/// Everything the adapter needs. Build with [`NinjaOneConfig::new`] and adjust the public fields
/// or the `with_*` helpers.
///
/// ```
/// use rmm_sync::provider::ninjaone::{Credentials, Instance, NinjaOneConfig, Region, ScopeLevel};
/// let config = NinjaOneConfig::new(
///     Instance::Region(Region::Eu),
///     Credentials::client_credentials("my-client", "my-secret".to_owned().into()),
/// )
/// .with_scope_level(ScopeLevel::Location);
/// assert_eq!(config.page_size, 1000);
/// assert!(!format!("{config:?}").contains("my-secret"));
/// ```
#[derive(Clone, Debug)]
pub struct NinjaOneConfig {
    /// The instance.
    pub instance: Instance,
    /// The OAuth grant.
    pub credentials: Credentials,
    /// OAuth scopes requested (space separated). Default `monitoring`: read-only. Never add
    /// `offline_access` for client credentials (some regions reject it).
    pub oauth_scope: String,
    /// Which level maps to clients. Default organization.
    pub scope_level: ScopeLevel,
    /// Devices per page of the detailed listing (also organizations and locations per page).
    /// Default 1000.
    pub page_size: u32,
    /// Device ids per filtered fetch (`df=id in (…)`) when refreshing changed devices.
    /// Default 100 (keeps URLs short).
    pub id_batch_size: usize,
    /// Activities per page (NinjaOne allows 10–1000). Default 1000.
    pub activity_page_size: u32,
    /// API path prefix. Default `/v2` (`/api/v2` also works on NinjaOne).
    pub api_prefix: String,
    /// OAuth token path. Default `/ws/oauth/token`.
    pub token_path: String,
    /// OAuth authorize path (for connect links). Default `/ws/oauth/authorize`.
    pub authorize_path: String,
    /// Refresh the access token this long before it expires. Default 5 minutes.
    pub refresh_before_expiry: Duration,
    /// How long a worker may hold the refresh claim in the [`TokenStore`] (longer than a
    /// token request can take). Default 2 minutes.
    pub refresh_claim_ttl: Duration,
    /// HTTP client settings.
    pub http: ClientOptions,
    /// Retries of idempotent calls (429 honours `Retry-After`).
    pub retry: RetryConfig,
    /// Client-side request budget. Default none (NinjaOne documents no limit; the adapter still
    /// pauses on 429).
    pub rate_limit: Option<RateLimit>,
    /// How last-contact age becomes agent status for devices a run did not list (see the
    /// provider docs). Default: online within 1 hour, overdue after 7 days.
    pub thresholds: AgentStatusThresholds,
}

impl NinjaOneConfig {
    /// A configuration with defaults.
    pub fn new(instance: Instance, credentials: Credentials) -> Self {
        Self {
            instance,
            credentials,
            oauth_scope: "monitoring".into(),
            scope_level: ScopeLevel::Organization,
            page_size: DEFAULT_PAGE_SIZE,
            id_batch_size: 100,
            activity_page_size: 1000,
            api_prefix: "/v2".into(),
            token_path: "/ws/oauth/token".into(),
            authorize_path: "/ws/oauth/authorize".into(),
            refresh_before_expiry: Duration::from_secs(300),
            refresh_claim_ttl: Duration::from_secs(120),
            http: ClientOptions::default(),
            retry: RetryConfig::default(),
            rate_limit: None,
            thresholds: AgentStatusThresholds {
                online_within: Duration::from_secs(3600),
                overdue_after: Some(Duration::from_secs(7 * 24 * 3600)),
            },
        }
    }

    /// Sets the scope level.
    pub fn with_scope_level(mut self, level: ScopeLevel) -> Self {
        self.scope_level = level;
        self
    }

    /// Sets the client-side rate limit.
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Sets the retry policy.
    pub fn with_retry(mut self, retry: RetryConfig) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the HTTP client options.
    pub fn with_http(mut self, http: ClientOptions) -> Self {
        self.http = http;
        self
    }

    /// Sets the page sizes of the device listing and of the activity log.
    pub fn with_page_sizes(mut self, devices: u32, activities: u32) -> Self {
        self.page_size = devices;
        self.activity_page_size = activities;
        self
    }

    /// Checks the values and returns the normalised base URL.
    pub(crate) fn validate(&self) -> Result<Url> {
        let base = self.instance.base()?;
        self.http.check_url(&base, "base_url")?;
        if self.credentials.client_id().trim().is_empty() {
            return Err(Error::invalid_config("client_id", "client_id is empty"));
        }
        if self.page_size == 0 {
            return Err(Error::invalid_config(
                "page_size",
                "page_size must be at least 1",
            ));
        }
        if self.id_batch_size == 0 {
            return Err(Error::invalid_config(
                "id_batch_size",
                "id_batch_size must be at least 1",
            ));
        }
        for (key, path) in [
            ("api_prefix", &self.api_prefix),
            ("token_path", &self.token_path),
            ("authorize_path", &self.authorize_path),
        ] {
            if !path.starts_with('/') {
                return Err(Error::invalid_config(
                    key,
                    format!("{key} must start with '/' (got {path:?})"),
                ));
            }
        }
        Ok(base)
    }
}

/// Joins a base URL and an absolute path (`/v2/devices`), keeping any path the base has.
pub(crate) fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn regions_have_their_hosts() {
        assert_eq!(
            Instance::Region(Region::Eu).base().unwrap().as_str(),
            "https://eu.ninjarmm.com/"
        );
        assert_eq!(Region::parse("US").unwrap(), Region::App);
        assert_eq!(Region::parse("us2").unwrap(), Region::Us2);
        assert_eq!(Region::parse(" oc ").unwrap(), Region::Oc);
        assert_eq!(Region::parse("ca").unwrap(), Region::Ca);
        let e = Region::parse("mars").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert_eq!(
            serde_json::from_str::<Region>("\"us\"").unwrap(),
            Region::App
        );
    }

    #[test]
    fn custom_urls_lose_api_suffixes_but_keep_prefixes() {
        for (raw, want) in [
            (
                "https://acme.rmmservice.com/",
                "https://acme.rmmservice.com/",
            ),
            (
                "https://app.ninjarmm.com/api/v2",
                "https://app.ninjarmm.com/",
            ),
            ("https://app.ninjarmm.com/v2/", "https://app.ninjarmm.com/"),
            (
                "https://proxy.example/ninja/v2?x=1",
                "https://proxy.example/ninja",
            ),
        ] {
            assert_eq!(
                Instance::url(raw).unwrap().base().unwrap().as_str(),
                want,
                "{raw}"
            );
        }
        let base = Instance::url("https://proxy.example/ninja")
            .unwrap()
            .base()
            .unwrap();
        assert_eq!(
            join(&base, "/v2/devices").as_str(),
            "https://proxy.example/ninja/v2/devices"
        );
        let root = Instance::Region(Region::App).base().unwrap();
        assert_eq!(
            join(&root, "/ws/oauth/token").as_str(),
            "https://app.ninjarmm.com/ws/oauth/token"
        );
    }

    #[test]
    fn validation_names_the_key() {
        let creds = Credentials::client_credentials("id", "s".to_owned().into());
        let plain = NinjaOneConfig::new(Instance::url("http://10.1.2.3").unwrap(), creds.clone());
        assert_eq!(
            plain.validate().unwrap_err().context("key"),
            Some("base_url")
        );
        let mut c = NinjaOneConfig::new(Instance::Region(Region::App), creds);
        c.page_size = 0;
        assert_eq!(c.validate().unwrap_err().context("key"), Some("page_size"));
        c.page_size = 10;
        c.api_prefix = "v2".into();
        assert_eq!(c.validate().unwrap_err().context("key"), Some("api_prefix"));
    }
}
