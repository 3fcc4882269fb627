//! [`ClientOptions`]: one reqwest client per adapter, with timeouts, no redirects, a user agent,
//! and plain HTTP only where it cannot leak credentials.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::redact::redact_url;
use crate::error::{Error, Result};

/// How an adapter's HTTP client behaves. Durations are milliseconds in serde.
///
/// ```
/// use rmm_sync::provider::http::ClientOptions;
/// let options = ClientOptions::default();
/// assert!(!options.allow_http);
/// let client = options.build_client().unwrap();
/// # drop(client);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientOptions {
    /// Time allowed to open a connection (TCP + TLS). Default 10 s.
    #[serde(rename = "connect_timeout_ms", with = "millis")]
    pub connect_timeout: Duration,
    /// Time allowed for a whole request, body included. Default 60 s.
    #[serde(rename = "request_timeout_ms", with = "millis")]
    pub request_timeout: Duration,
    /// The `User-Agent` header. Default `rmm-sync/<version>`.
    pub user_agent: String,
    /// Allow `http://` URLs to hosts other than loopback addresses. Default off: credentials
    /// would cross the network in clear text.
    pub allow_http: bool,
    /// Largest response body read into memory; bigger bodies fail with a decode error instead
    /// of exhausting memory. Default 64 MiB.
    pub max_response_bytes: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            user_agent: concat!("rmm-sync/", env!("CARGO_PKG_VERSION")).to_owned(),
            allow_http: false,
            max_response_bytes: 64 * 1024 * 1024,
        }
    }
}

impl ClientOptions {
    /// Builds the client: rustls, the timeouts, the user agent, and **no redirects** (a
    /// redirect from an API usually means a login page or a wrong URL; following it would send
    /// credentials somewhere else).
    pub fn build_client(&self) -> Result<reqwest::Client> {
        reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .user_agent(self.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::invalid_config("http", "could not build the HTTP client")
                    .with_source(e.without_url())
            })
    }

    /// Checks that `url` may carry credentials under these options; see [`check_url`].
    pub fn check_url(&self, url: &Url, key: &str) -> Result<()> {
        check_url(url, self.allow_http, key)
    }
}

/// Accepts `https://` URLs, and `http://` URLs only for loopback hosts (`localhost`,
/// `127.0.0.0/8`, `::1`) unless `allow_http` is set. URLs with user info are refused: secrets
/// belong in the adapter's secret fields, not in URLs that end up in logs.
pub fn check_url(url: &Url, allow_http: bool, key: &str) -> Result<()> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_config(
            key,
            format!(
                "{key} must not contain a user name or password ({}); configure credentials separately",
                redact_url(url)
            ),
        ));
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_http || is_loopback(url) => Ok(()),
        "http" => Err(Error::invalid_config(
            key,
            format!(
                "{key} uses plain http:// for {}, which would send credentials unencrypted; use https:// (plain http is only accepted for loopback addresses unless allow_http is set)",
                redact_url(url)
            ),
        )),
        other => Err(Error::invalid_config(
            key,
            format!("{key} has unsupported scheme {other:?}; use https://"),
        )),
    }
}

/// Whether the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

pub(crate) mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn https_always_passes_http_only_for_loopback() {
        assert!(check_url(&url("https://tanium.example.com"), false, "u").is_ok());
        assert!(check_url(&url("http://127.0.0.1:8080"), false, "u").is_ok());
        assert!(check_url(&url("http://127.8.9.1"), false, "u").is_ok());
        assert!(check_url(&url("http://[::1]:9"), false, "u").is_ok());
        assert!(check_url(&url("http://LOCALHOST"), false, "u").is_ok());
        let e = check_url(&url("http://10.0.0.5"), false, "gateway_url").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("https://"), "{e}");
        assert_eq!(e.context("key"), Some("gateway_url"));
        assert!(check_url(&url("http://10.0.0.5"), true, "u").is_ok());
    }

    #[test]
    fn user_info_and_other_schemes_are_refused_without_echoing_secrets() {
        let e = check_url(&url("https://user:hunter2@example.com"), false, "u").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(check_url(&url("ftp://example.com"), true, "u").is_err());
    }

    #[test]
    fn options_round_trip_in_milliseconds() {
        let o: ClientOptions =
            serde_json::from_value(serde_json::json!({"request_timeout_ms": 250})).unwrap();
        assert_eq!(o.request_timeout, Duration::from_millis(250));
        assert_eq!(o.connect_timeout, Duration::from_secs(10));
        assert!(
            serde_json::from_value::<ClientOptions>(serde_json::json!({"timeout": 1})).is_err()
        );
    }
}
