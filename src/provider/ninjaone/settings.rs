//! JSON settings → [`NinjaOneConfig`], for the registry factory (and so the CLI).
//!
//! Client credentials only: an authorization-code grant keeps rotating refresh tokens in a host
//! [`TokenStore`](super::TokenStore), which JSON cannot carry, so settings asking for one are
//! refused with directions to the library API instead of failing later at the first refresh.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::{Credentials, Instance, NinjaOneConfig, Region, ScopeLevel};
use crate::error::{Error, Result};
use crate::model::AgentStatusThresholds;
use crate::provider::http::{ClientOptions, RateLimit, RetryConfig};

/// Keys that only an authorization-code grant has; present, they mean the caller wants one.
const AUTHORIZATION_CODE_KEYS: [&str; 3] = ["refresh_token", "token_key", "token_store"];

/// The accepted keys. Optional tunables left out keep [`NinjaOneConfig::new`]'s defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    base_url: Option<String>,
    #[serde(default)]
    region: Option<String>,
    client_id: String,
    client_secret: SecretString,
    #[serde(default)]
    oauth_scope: Option<String>,
    #[serde(default)]
    scope_level: Option<ScopeLevel>,
    #[serde(default)]
    page_size: Option<u32>,
    #[serde(default)]
    id_batch_size: Option<usize>,
    #[serde(default)]
    activity_page_size: Option<u32>,
    #[serde(default)]
    api_prefix: Option<String>,
    #[serde(default)]
    token_path: Option<String>,
    #[serde(default)]
    refresh_before_expiry_secs: Option<u64>,
    #[serde(default)]
    http: Option<ClientOptions>,
    #[serde(default)]
    retry: Option<RetryConfig>,
    #[serde(default)]
    rate_limit: Option<RateLimit>,
    #[serde(default)]
    thresholds: Option<AgentStatusThresholds>,
}

/// Parses registry settings; the checks of [`NinjaOneConfig`] itself run when the provider is
/// built.
pub(crate) fn config_from_json(value: &Value) -> Result<NinjaOneConfig> {
    let mut value = value.clone();
    if let Some(map) = value.as_object_mut() {
        take_grant_type(map)?;
    }
    let s: Settings = serde_json::from_value(value).map_err(|e| {
        // serde names the key. It quotes a value only when its type is wrong, which the check
        // above rules out for client_secret.
        Error::invalid_config("ninjaone", format!("invalid NinjaOne configuration: {e}"))
    })?;
    if s.client_secret.expose_secret().trim().is_empty() {
        return Err(Error::invalid_config(
            "client_secret",
            "client_secret is empty",
        ));
    }
    let instance = match (s.base_url, s.region) {
        (Some(url), None) => Instance::url(&url)?,
        (None, Some(region)) => Instance::Region(Region::parse(&region)?),
        (Some(_), Some(_)) => {
            return Err(Error::invalid_config(
                "region",
                "set either base_url or region, not both",
            ));
        }
        (None, None) => {
            return Err(Error::invalid_config(
                "base_url",
                "the NinjaOne instance is missing: set base_url (e.g. https://eu.ninjarmm.com) or region (app, us2, eu, oc or ca)",
            ));
        }
    };
    let mut c = NinjaOneConfig::new(
        instance,
        Credentials::client_credentials(s.client_id, s.client_secret),
    );
    c.oauth_scope = s.oauth_scope.unwrap_or(c.oauth_scope);
    c.scope_level = s.scope_level.unwrap_or(c.scope_level);
    c.page_size = s.page_size.unwrap_or(c.page_size);
    c.id_batch_size = s.id_batch_size.unwrap_or(c.id_batch_size);
    c.activity_page_size = s.activity_page_size.unwrap_or(c.activity_page_size);
    c.api_prefix = s.api_prefix.unwrap_or(c.api_prefix);
    c.token_path = s.token_path.unwrap_or(c.token_path);
    c.refresh_before_expiry = s
        .refresh_before_expiry_secs
        .map_or(c.refresh_before_expiry, Duration::from_secs);
    c.http = s.http.unwrap_or(c.http);
    c.retry = s.retry.unwrap_or(c.retry);
    c.rate_limit = s.rate_limit;
    c.thresholds = s.thresholds.unwrap_or(c.thresholds);
    Ok(c)
}

/// Refuses authorization-code settings, and removes `grant_type` (only client credentials is
/// left, which is the default).
fn take_grant_type(map: &mut Map<String, Value>) -> Result<()> {
    if let Some(key) = AUTHORIZATION_CODE_KEYS
        .iter()
        .find(|k| map.contains_key(**k))
    {
        return Err(authorization_code_refused(key));
    }
    // serde quotes a value whose type is wrong: never let it quote a secret.
    if map.get("client_secret").is_some_and(|v| !v.is_string()) {
        return Err(Error::invalid_config(
            "client_secret",
            "client_secret must be a string",
        ));
    }
    let Some(grant) = map.remove("grant_type") else {
        return Ok(());
    };
    let normalized = grant
        .as_str()
        .map(|g| g.trim().to_ascii_lowercase().replace(['-', ' '], "_"));
    match normalized.as_deref() {
        Some("client_credentials") => Ok(()),
        Some("authorization_code") => Err(authorization_code_refused("grant_type")),
        _ => Err(Error::invalid_config(
            "grant_type",
            format!("grant_type {grant} is not supported; use \"client_credentials\""),
        )),
    }
}

fn authorization_code_refused(key: &str) -> Error {
    Error::invalid_config(
        key,
        format!(
            "`{key}` asks for a NinjaOne authorization-code grant, which JSON settings cannot configure: its refresh tokens rotate and must live in a host-provided TokenStore. Build the provider in code with Credentials::authorization_code(client_id, client_secret, store, token_key) and NinjaOneProvider::new (see docs/providers/ninjaone.md), or use an \"API Services (machine-to-machine)\" application with client credentials"
        ),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ErrorKind;
    use crate::model::ProviderId;
    use crate::provider::ProviderRegistry;

    const SECRET: &str = "n1nja-secret-4f2a9c";

    fn registry() -> ProviderRegistry {
        let mut registry = ProviderRegistry::new();
        super::super::register(&mut registry);
        registry
    }

    fn build(settings: Value) -> Result<std::sync::Arc<dyn crate::provider::RmmProvider>> {
        registry().build(&ProviderId::NINJAONE, &settings)
    }

    fn base() -> Value {
        json!({ "base_url": "https://eu.ninjarmm.com", "client_id": "cid", "client_secret": SECRET })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    fn without(key: &str) -> Value {
        let mut v = base();
        v.as_object_mut().unwrap().remove(key);
        v
    }

    /// An `InvalidConfig` error whose text names `needle` and never the secret.
    fn refused(settings: Value, needle: &str) -> Error {
        let e = build(settings).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{shown}");
        assert!(shown.contains(needle), "{needle:?} not in {shown}");
        assert!(!shown.contains(SECRET), "the secret leaked: {shown}");
        e
    }

    #[test]
    fn good_settings_build_with_their_tunables() {
        let registry = registry();
        let entry = registry.get(&ProviderId::NINJAONE).expect("registered");
        assert_eq!(entry.title, "NinjaOne");
        assert!(entry.capabilities.list_changes);

        let p = build(json!({
            "base_url": "https://acme.rmmservice.com/api/v2",
            "client_id": "cid",
            "client_secret": SECRET,
            "grant_type": "client_credentials",
            "scope_level": "location",
            "page_size": 250,
            "activity_page_size": 100,
            "id_batch_size": 50,
            "oauth_scope": "monitoring",
            "api_prefix": "/api/v2",
            "token_path": "/oauth/token",
            "refresh_before_expiry_secs": 60,
            "http": { "request_timeout_ms": 5000 },
            "retry": { "max_attempts": 2 },
            "rate_limit": { "requests_per_minute": 300, "burst": 10 },
            "thresholds": { "online_within": 600, "overdue_after": 86400 }
        }))
        .unwrap();
        assert_eq!(p.info().provider, ProviderId::NINJAONE);
        assert_eq!(
            p.info().base_url.as_deref(),
            Some("https://acme.rmmservice.com/")
        );
        let caps = p.capabilities();
        assert_eq!(caps.list_devices_max_page_size, Some(250));
        assert_eq!(caps.requests_per_minute, Some(300));
        assert_eq!(
            p.agent_status_thresholds().online_within,
            Duration::from_secs(600)
        );
        assert!(!format!("{p:?}").contains(SECRET), "{p:?}");

        // The same keys give the same config through the public constructor.
        let c = config_from_json(&json!({
            "region": "EU", "client_id": "cid", "client_secret": SECRET,
            "scope_level": "location", "id_batch_size": 50, "token_path": "/oauth/token",
            "refresh_before_expiry_secs": 60
        }))
        .unwrap();
        assert_eq!(c.instance, Instance::Region(Region::Eu));
        assert_eq!(c.scope_level, ScopeLevel::Location);
        assert_eq!(c.id_batch_size, 50);
        assert_eq!(c.token_path, "/oauth/token");
        assert_eq!(c.refresh_before_expiry, Duration::from_secs(60));
        assert_eq!(c.page_size, 1000, "defaults stay");
        assert!(!format!("{c:?}").contains(SECRET));
    }

    #[test]
    fn unknown_and_missing_keys_are_named() {
        refused(with("page_sise", json!(10)), "page_sise");
        refused(without("client_id"), "client_id");
        refused(without("client_secret"), "client_secret");
        refused(with("client_secret", json!("  ")), "client_secret");
        // A secret of the wrong type is refused without serde quoting it.
        let e = refused(with("client_secret", json!(8_675_309)), "must be a string");
        assert!(!e.to_string().contains("8675309"), "{e}");
        refused(with("client_secret", json!([SECRET])), "must be a string");
        refused(without("base_url"), "region");
        refused(with("region", json!("eu")), "not both");
        let mut mars = without("base_url");
        mars["region"] = json!("mars");
        refused(mars, "mars");
        // serde names the bad value and the choices (not the key) for a wrong value.
        refused(
            with("scope_level", json!("planet")),
            "`planet`, expected `organization`",
        );
    }

    #[test]
    fn the_adapter_rules_apply() {
        // Plain http only to loopback; user info never.
        let e = refused(with("base_url", json!("http://10.0.0.5")), "https://");
        assert_eq!(e.context("key"), Some("base_url"));
        build(with("base_url", json!("http://127.0.0.1:9"))).unwrap();
        refused(with("page_size", json!(0)), "page_size");
        refused(
            with("base_url", json!(format!("https://u:{SECRET}@x.example"))),
            "base_url",
        );
    }

    #[test]
    fn authorization_code_grants_point_at_the_library_api() {
        for settings in [
            with("grant_type", json!("authorization_code")),
            with("grant_type", json!("Authorization-Code")),
            with("refresh_token", json!("rt-secret")),
            with("token_key", json!("integration-1")),
        ] {
            let e = refused(settings, "Credentials::authorization_code");
            assert!(e.message().contains("TokenStore"), "{e}");
            assert!(!e.to_string().contains("rt-secret"), "{e}");
        }
        refused(with("grant_type", json!("password")), "client_credentials");
    }
}
