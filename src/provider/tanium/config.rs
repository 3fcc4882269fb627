//! [`TaniumConfig`] (serde) and [`TaniumBuilder`] (code), and the URL rules both share.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

use super::TaniumProvider;
use crate::error::{Error, Result};
use crate::model::AgentStatusThresholds;
use crate::provider::http::{ClientOptions, RetryConfig};

/// Endpoints per Gateway page unless configured: Tanium suggests starting around 100 and
/// tuning up; 500 keeps pages near 1–2 MB and round trips few.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Largest page size accepted in configuration.
pub const MAX_PAGE_SIZE: u32 = 5000;
/// The Gateway path under the server's address.
const GATEWAY_PATH: &str = "/plugin/products/gateway";

/// Tanium's default agent-status thresholds: online when TDS saw the endpoint within the last
/// hour, overdue after 7 days of silence (TDS keeps silent endpoints for 30 days by default).
pub fn default_thresholds() -> AgentStatusThresholds {
    AgentStatusThresholds {
        online_within: Duration::from_secs(3600),
        overdue_after: Some(Duration::from_secs(7 * 24 * 3600)),
    }
}

fn default_page_size() -> u32 {
    DEFAULT_PAGE_SIZE
}

fn default_lookback_days() -> u32 {
    30
}

/// The adapter's configuration, as it appears in a host's config file (JSON, TOML …).
///
/// ```
/// use rmm_sync::provider::tanium::TaniumConfig;
/// let config: TaniumConfig = serde_json::from_value(serde_json::json!({
///     "gateway_url": "acme-api.cloud.tanium.com",
///     "api_token": "token-0123456789abcdef",
///     "page_size": 250,
///     "http": { "request_timeout_ms": 45000 },
///     "retry": { "max_attempts": 5 }
/// })).unwrap();
/// assert_eq!(config.page_size, 250);
/// // The token never shows in Debug output.
/// assert!(!format!("{config:?}").contains("0123456789abcdef"));
/// ```
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaniumConfig {
    /// The Gateway: a host (`acme-api.cloud.tanium.com`), the Gateway base
    /// (`https://host/plugin/products/gateway`) or the full GraphQL URL
    /// (`https://host/plugin/products/gateway/graphql`). A missing scheme means `https://`.
    pub gateway_url: String,
    /// The API token, sent verbatim (surrounding whitespace removed) in the `session` header.
    /// Tanium tokens start with `token-`; keep the prefix.
    pub api_token: SecretString,
    /// Base URL of the Asset API (`GET <url>/v2/assets?computerGroupId=…`), for endpoints aged
    /// out of TDS.
    #[serde(default)]
    pub asset_api_url: Option<String>,
    /// Ask the Asset API for a computer group whose Gateway listing is empty.
    #[serde(default)]
    pub use_asset_api_fallback: bool,
    /// Endpoints per page (1–5000). Default 500.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Timeouts, user agent, plain-HTTP opt-in.
    #[serde(default)]
    pub http: ClientOptions,
    /// Retries of queries (429, 5xx, timeouts).
    #[serde(default)]
    pub retry: RetryConfig,
    /// How `eidLastSeen` age maps to agent status. Default: online within 1 hour, overdue after
    /// 7 days.
    #[serde(default = "default_thresholds")]
    pub agent_status: AgentStatusThresholds,
    /// How far back the first run looks for endpoint id changes. Default 30 days.
    #[serde(default = "default_lookback_days")]
    pub identity_change_lookback_days: u32,
}

impl TaniumConfig {
    /// A configuration with defaults for everything but the Gateway and the token.
    pub fn new(gateway_url: impl Into<String>, api_token: SecretString) -> Self {
        Self {
            gateway_url: gateway_url.into(),
            api_token,
            asset_api_url: None,
            use_asset_api_fallback: false,
            page_size: DEFAULT_PAGE_SIZE,
            http: ClientOptions::default(),
            retry: RetryConfig::default(),
            agent_status: default_thresholds(),
            identity_change_lookback_days: default_lookback_days(),
        }
    }
}

/// Builds a [`TaniumProvider`] in code.
///
/// ```
/// use rmm_sync::provider::tanium::TaniumProvider;
/// let provider = TaniumProvider::builder()
///     .gateway_url("https://acme-api.cloud.tanium.com/plugin/products/gateway")
///     .api_token("token-0123456789abcdef")
///     .page_size(250)
///     .build()
///     .unwrap();
/// assert_eq!(
///     provider.graphql_url().as_str(),
///     "https://acme-api.cloud.tanium.com/plugin/products/gateway/graphql"
/// );
/// ```
#[derive(Debug, Default)]
pub struct TaniumBuilder {
    gateway_url: Option<String>,
    api_token: Option<SecretString>,
    asset_api_url: Option<String>,
    use_asset_api_fallback: bool,
    page_size: Option<u32>,
    http: ClientOptions,
    retry: Option<RetryConfig>,
    agent_status: Option<AgentStatusThresholds>,
    identity_change_lookback_days: Option<u32>,
}

impl TaniumBuilder {
    /// The Gateway (host, Gateway base or GraphQL URL).
    pub fn gateway_url(mut self, url: impl Into<String>) -> Self {
        self.gateway_url = Some(url.into());
        self
    }
    /// The API token.
    pub fn api_token(mut self, token: impl Into<SecretString>) -> Self {
        self.api_token = Some(token.into());
        self
    }
    /// The Asset API base URL.
    pub fn asset_api_url(mut self, url: impl Into<String>) -> Self {
        self.asset_api_url = Some(url.into());
        self
    }
    /// Use the Asset API for groups the Gateway lists empty.
    pub fn use_asset_api_fallback(mut self, on: bool) -> Self {
        self.use_asset_api_fallback = on;
        self
    }
    /// Endpoints per page.
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }
    /// Time allowed per request.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.http.request_timeout = t;
        self
    }
    /// Time allowed to connect.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.http.connect_timeout = t;
        self
    }
    /// All HTTP options at once.
    pub fn http_options(mut self, options: ClientOptions) -> Self {
        self.http = options;
        self
    }
    /// Allow `http://` to non-loopback hosts.
    pub fn allow_http(mut self, on: bool) -> Self {
        self.http.allow_http = on;
        self
    }
    /// Retry policy.
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.retry = Some(retry);
        self
    }
    /// Agent-status thresholds.
    pub fn agent_status_thresholds(mut self, t: AgentStatusThresholds) -> Self {
        self.agent_status = Some(t);
        self
    }
    /// First-run look-back for endpoint id changes.
    pub fn identity_change_lookback_days(mut self, days: u32) -> Self {
        self.identity_change_lookback_days = Some(days);
        self
    }

    /// The configuration this builder describes.
    pub fn into_config(self) -> Result<TaniumConfig> {
        let gateway_url = self.gateway_url.ok_or_else(|| {
            Error::invalid_config("gateway_url", "the Tanium Gateway URL is required")
        })?;
        let api_token = self.api_token.ok_or_else(|| {
            Error::invalid_config("api_token", "the Tanium API token is required")
        })?;
        let mut c = TaniumConfig::new(gateway_url, api_token);
        c.asset_api_url = self.asset_api_url;
        c.use_asset_api_fallback = self.use_asset_api_fallback;
        c.page_size = self.page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        c.http = self.http;
        c.retry = self.retry.unwrap_or_default();
        c.agent_status = self.agent_status.unwrap_or_else(default_thresholds);
        c.identity_change_lookback_days = self
            .identity_change_lookback_days
            .unwrap_or_else(default_lookback_days);
        Ok(c)
    }

    /// Validates and builds the provider.
    pub fn build(self) -> Result<TaniumProvider> {
        TaniumProvider::new(self.into_config()?)
    }
}

/// The Gateway base (`…/plugin/products/gateway`) and GraphQL URL for any accepted form of
/// `gateway_url`.
pub(crate) fn normalize_gateway_url(raw: &str, http: &ClientOptions) -> Result<(Url, Url)> {
    let url = parse_service_url(
        raw,
        "gateway_url",
        http,
        "https://acme-api.cloud.tanium.com",
    )?;
    let path = url.path().trim_end_matches('/');
    let (base_path, graphql_path) = if let Some(base) = path.strip_suffix("/graphql") {
        (base.to_owned(), path.to_owned())
    } else if path.ends_with(GATEWAY_PATH) {
        (path.to_owned(), format!("{path}/graphql"))
    } else {
        (
            format!("{path}{GATEWAY_PATH}"),
            format!("{path}{GATEWAY_PATH}/graphql"),
        )
    };
    let mut base = url.clone();
    base.set_path(&base_path);
    let mut graphql = url;
    graphql.set_path(&graphql_path);
    Ok((base, graphql))
}

/// The Asset API's assets URL (`…/v2/assets`) for a configured base.
pub(crate) fn normalize_asset_api_url(raw: &str, http: &ClientOptions) -> Result<Url> {
    let mut url = parse_service_url(
        raw,
        "asset_api_url",
        http,
        "https://tanium.example.com/plugin/products/asset",
    )?;
    let path = url.path().trim_end_matches('/').to_owned();
    if !path.ends_with("/v2/assets") {
        url.set_path(&format!("{path}/v2/assets"));
    }
    Ok(url)
}

fn parse_service_url(raw: &str, key: &str, http: &ClientOptions, example: &str) -> Result<Url> {
    let t = raw.trim();
    if t.is_empty() {
        return Err(Error::invalid_config(
            key,
            format!("{key} is empty; give the address, e.g. {example}"),
        ));
    }
    let with_scheme = if t.contains("://") {
        t.to_owned()
    } else {
        format!("https://{t}")
    };
    let url = Url::parse(&with_scheme).map_err(|e| {
        Error::invalid_config(
            key,
            format!("{key} is not a valid URL ({e}); e.g. {example}"),
        )
    })?;
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::invalid_config(
            key,
            format!("{key} has no host; e.g. {example}"),
        ));
    }
    http.check_url(&url, key)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_config(
            key,
            format!("{key} must not carry a query string or fragment"),
        ));
    }
    Ok(url)
}

/// The token with surrounding whitespace removed, or why it is unusable.
pub(crate) fn validate_token(token: &SecretString) -> Result<SecretString> {
    let t = token.expose_secret().trim();
    if t.is_empty() {
        return Err(Error::invalid_config(
            "api_token",
            "the Tanium API token is empty",
        ));
    }
    if t.chars()
        .any(|c| c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(Error::invalid_config(
            "api_token",
            "the Tanium API token contains spaces or characters a token never has; paste it exactly as Tanium showed it",
        ));
    }
    Ok(SecretString::from(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn norm(raw: &str) -> Result<(String, String)> {
        normalize_gateway_url(raw, &ClientOptions::default())
            .map(|(b, g)| (b.to_string(), g.to_string()))
    }

    #[test]
    fn gateway_url_forms_normalise_to_one_endpoint() {
        let want = (
            "https://acme-api.cloud.tanium.com/plugin/products/gateway".to_owned(),
            "https://acme-api.cloud.tanium.com/plugin/products/gateway/graphql".to_owned(),
        );
        for raw in [
            "acme-api.cloud.tanium.com",
            " https://acme-api.cloud.tanium.com/ ",
            "https://acme-api.cloud.tanium.com/plugin/products/gateway",
            "https://acme-api.cloud.tanium.com/plugin/products/gateway/",
            "https://acme-api.cloud.tanium.com/plugin/products/gateway/graphql",
        ] {
            assert_eq!(norm(raw).unwrap(), want, "{raw}");
        }
        assert_eq!(
            norm("tanium.corp:8443/tanium").unwrap().1,
            "https://tanium.corp:8443/tanium/plugin/products/gateway/graphql"
        );
    }

    #[test]
    fn bad_gateway_urls_are_invalid_config() {
        for raw in [
            "",
            "http://tanium.corp",
            "https://h/x?session=abc",
            "https://",
        ] {
            let e = norm(raw).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{raw}");
            assert_eq!(e.context("key"), Some("gateway_url"));
            assert!(!e.to_string().contains("abc"), "{e}");
        }
        assert!(norm("http://127.0.0.1:9000").is_ok());
        let opt_in = ClientOptions {
            allow_http: true,
            ..ClientOptions::default()
        };
        assert!(normalize_gateway_url("http://tanium.corp", &opt_in).is_ok());
    }

    #[test]
    fn asset_api_url_gets_its_path() {
        let o = ClientOptions::default();
        assert_eq!(
            normalize_asset_api_url("https://h/plugin/products/asset/", &o)
                .unwrap()
                .as_str(),
            "https://h/plugin/products/asset/v2/assets"
        );
        assert_eq!(
            normalize_asset_api_url("https://h/v2/assets", &o)
                .unwrap()
                .as_str(),
            "https://h/v2/assets"
        );
    }

    #[test]
    fn tokens_are_trimmed_and_checked() {
        let t = validate_token(&SecretString::from("  token-abc\n")).unwrap();
        assert_eq!(t.expose_secret(), "token-abc");
        assert!(validate_token(&SecretString::from("   ")).is_err());
        let e = validate_token(&SecretString::from("token-a b")).unwrap_err();
        assert!(!e.to_string().contains("token-a"), "{e}");
    }

    #[test]
    fn config_rejects_unknown_keys_and_builder_requires_essentials() {
        let bad = serde_json::json!({"gateway_url": "h", "api_token": "t", "pagesize": 1});
        assert!(serde_json::from_value::<TaniumConfig>(bad).is_err());
        let e = TaniumBuilder::default()
            .api_token("t")
            .into_config()
            .unwrap_err();
        assert_eq!(e.context("key"), Some("gateway_url"));
    }
}
