//! Turning configuration into a store and providers.

use std::sync::Arc;

use anyhow::bail;
use rmm_sync::ErrorKind;
use rmm_sync::model::ProviderId;
use rmm_sync::provider::{ProviderRegistry, RmmProvider};
use rmm_sync::store::{AssetStore, IntegrationSpec};

use crate::config::IntegrationConfig;
use crate::exit::UsageError;

/// Opens the store named by a URL (`sqlite://…`, `postgres://…`); migrations run on open.
pub(crate) async fn open_store(url: &str) -> anyhow::Result<Arc<dyn AssetStore>> {
    if url.starts_with("sqlite:") {
        let store = rmm_sync::store::sqlite::SqliteStore::connect(url).await?;
        return Ok(Arc::new(store));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = rmm_sync::store::postgres::PostgresStore::connect(url).await?;
        return Ok(Arc::new(store));
    }
    bail!(UsageError(format!(
        "key `store`: {:?} is not a store URL (expected sqlite://PATH or postgres://USER@HOST/DB)",
        redact(url)
    )))
}

/// A URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Builds the provider of an integration. The adapter validates its own keys.
pub(crate) fn build_provider(cfg: &IntegrationConfig) -> anyhow::Result<Arc<dyn RmmProvider>> {
    let token = cfg.token()?;
    let mut settings = serde_json::Map::new();
    for (k, v) in &cfg.extra {
        settings.insert(k.clone(), serde_json::to_value(v)?);
    }
    match cfg.provider.as_str() {
        "tanium" => build_tanium(cfg, token, settings),
        "tacticalrmm" => build_tactical(cfg, token, settings),
        "ninjaone" => build_ninjaone(cfg, token, settings),
        other => bail!(UsageError(format!(
            "integration {:?}: provider {other:?} is not available in this build",
            cfg.id
        ))),
    }
}

fn build_tanium(
    cfg: &IntegrationConfig,
    token: String,
    mut settings: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Arc<dyn RmmProvider>> {
    // The config file's common keys under the adapter's own names; the adapter rejects keys it
    // does not know, naming them.
    settings.insert("gateway_url".into(), cfg.url.clone().into());
    settings.insert("api_token".into(), token.into());
    let mut registry = ProviderRegistry::new();
    rmm_sync::provider::tanium::register(&mut registry);
    registry
        .build(&ProviderId::TANIUM, &serde_json::Value::Object(settings))
        .map_err(|e| usage_if_config(cfg, e))
}

fn build_tactical(
    cfg: &IntegrationConfig,
    token: String,
    mut settings: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Arc<dyn RmmProvider>> {
    // `url` is the API host; the token is an API key (`X-API-KEY`), the mode for unattended runs.
    settings.insert("base_url".into(), cfg.url.clone().into());
    settings.insert(
        "auth".into(),
        serde_json::json!({ "mode": "api_key", "api_key": token }),
    );
    let mut registry = ProviderRegistry::new();
    rmm_sync::provider::tactical::TacticalProvider::register(&mut registry);
    registry
        .build(
            &ProviderId::TACTICALRMM,
            &serde_json::Value::Object(settings),
        )
        .map_err(|e| usage_if_config(cfg, e))
}

fn build_ninjaone(
    cfg: &IntegrationConfig,
    token: String,
    mut settings: serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Arc<dyn RmmProvider>> {
    // `url` is the instance; the token is the client secret of an "API Services" application
    // (client credentials). `client_id` is not secret and comes from the table as it is.
    settings.insert("base_url".into(), cfg.url.clone().into());
    settings.insert("client_secret".into(), token.into());
    let mut registry = ProviderRegistry::new();
    rmm_sync::provider::ninjaone::register(&mut registry);
    registry
        .build(&ProviderId::NINJAONE, &serde_json::Value::Object(settings))
        .map_err(|e| usage_if_config(cfg, e))
}

/// An adapter's configuration error is a usage error (exit 2) naming the integration; anything
/// else keeps its kind.
fn usage_if_config(cfg: &IntegrationConfig, e: rmm_sync::Error) -> anyhow::Error {
    match e.kind() {
        ErrorKind::InvalidConfig => {
            anyhow::Error::new(UsageError(format!("integration {:?}: {e}", cfg.id)))
        }
        _ => anyhow::Error::new(e),
    }
}

/// The store row of a configured integration.
pub(crate) fn integration_spec(cfg: &IntegrationConfig) -> IntegrationSpec {
    let mut spec = IntegrationSpec::new(cfg.integration_id(), cfg.provider_id());
    spec.instance_url = Some(redact(&cfg.url));
    spec.settings.insert("name".into(), cfg.id.clone().into());
    spec
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("sqlite://./x.db"), "sqlite://./x.db");
    }
}
