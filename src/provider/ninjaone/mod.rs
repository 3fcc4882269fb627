//! The NinjaOne adapter (feature `ninjaone`), for the NinjaOne public API v2.
//!
//! ```no_run
//! # async fn demo() -> rmm_sync::Result<()> {
//! use std::sync::Arc;
//! use rmm_sync::provider::ninjaone::{Credentials, Instance, NinjaOneConfig, NinjaOneProvider, Region};
//! use rmm_sync::provider::RmmProvider;
//!
//! let config = NinjaOneConfig::new(
//!     Instance::Region(Region::Eu),
//!     Credentials::client_credentials("client-id", std::env::var("NINJA_SECRET").unwrap().into()),
//! );
//! let provider: Arc<dyn RmmProvider> = Arc::new(NinjaOneProvider::new(config)?);
//! provider.test_connection().await?;
//! # Ok(()) }
//! ```
//!
//! - [`NinjaOneConfig`]: region or base URL, [`Credentials`] (client credentials, or an
//!   authorization-code grant whose rotating tokens live in a host [`TokenStore`]), the
//!   [`ScopeLevel`] that maps to clients, page sizes, retries and a client-side rate limit.
//! - [`NinjaOneProvider`]: scopes, the tenant-wide device listing, activity-log deltas,
//!   single-device fetch, webhook registration, proactive token refresh.
//! - [`WebhookVerifier`]: constant-time secret check and typed [`WebhookEvent`]s, routed by the
//!   integration the webhook was registered for.
//! - [`authorization_url`] and [`exchange_authorization_code`]: the connect flow of a "Web"
//!   NinjaOne application.
//! - [`register`]: the [`ProviderRegistry`] factory (client credentials from JSON settings), which
//!   the `rmm-sync` CLI uses.
//!
//! `docs/providers/ninjaone.md` has the setup steps, the field mapping and the limits.

mod activity;
mod auth;
mod client;
mod config;
mod map;
mod provider;
mod settings;
mod token;
mod webhook;
mod wire;

pub use activity::{DELETION_STATUS_CODES, DeviceEffect, REFRESH_STATUS_CODES, device_effect};
pub use auth::{authorization_url, exchange_authorization_code};
pub use config::{Credentials, Instance, NinjaOneConfig, Region, ScopeLevel};
pub use provider::NinjaOneProvider;
pub use token::{
    InMemoryTokenStore, OAuthTokens, RefreshClaim, TokenRecord, TokenStore, VersionedTokenRecord,
};
pub use webhook::{
    DEFAULT_SECRET_HEADER, WebhookAction, WebhookEvent, WebhookHeaders, WebhookVerifier,
};

use std::sync::Arc;

use crate::model::ProviderId;
use crate::provider::{ProviderRegistry, RmmProvider};

/// Registers the NinjaOne adapter under [`ProviderId::NINJAONE`]. The factory takes JSON
/// settings for a **client-credentials** grant ("API Services" application):
///
/// | key | required | meaning (the [`NinjaOneConfig`] field) |
/// |---|---|---|
/// | `base_url` or `region` | one of | the instance: a URL ([`Instance::url`]; `http://` only for loopback unless `http.allow_http`) or a region name (`app`/`us`, `us2`, `eu`, `oc`, `ca`) |
/// | `client_id` | yes | the application's client id |
/// | `client_secret` | yes | its secret (a [`secrecy::SecretString`], never shown) |
/// | `grant_type` | no | `client_credentials`, the only one accepted here |
/// | `oauth_scope` | no | `oauth_scope` (default `monitoring`) |
/// | `scope_level` | no | `organization` (default) or `location` |
/// | `page_size`, `activity_page_size`, `id_batch_size` | no | paging (1000, 1000, 100) |
/// | `api_prefix`, `token_path` | no | paths (`/v2`, `/ws/oauth/token`) |
/// | `refresh_before_expiry_secs` | no | `refresh_before_expiry` (300) |
/// | `http`, `retry`, `rate_limit` | no | [`ClientOptions`](crate::provider::http::ClientOptions), [`RetryConfig`](crate::provider::http::RetryConfig), [`RateLimit`](crate::provider::http::RateLimit) |
/// | `thresholds` | no | agent-status thresholds in seconds (`online_within`, `overdue_after`) |
///
/// Any other key is an [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig) error
/// naming it. Authorization-code grants (`grant_type = "authorization_code"`, or a
/// `refresh_token` / `token_key` / `token_store` key) are refused the same way: their rotating
/// refresh tokens need a host [`TokenStore`], so build those with
/// [`Credentials::authorization_code`] and [`NinjaOneProvider::new`].
///
/// ```
/// use rmm_sync::model::ProviderId;
/// use rmm_sync::provider::ProviderRegistry;
/// let mut registry = ProviderRegistry::new();
/// rmm_sync::provider::ninjaone::register(&mut registry);
/// let provider = registry.build(&ProviderId::NINJAONE, &serde_json::json!({
///     "region": "eu",
///     "client_id": "my-client",
///     "client_secret": "my-secret",
///     "scope_level": "location"
/// })).unwrap();
/// assert_eq!(provider.info().base_url.as_deref(), Some("https://eu.ninjarmm.com/"));
/// assert!(!format!("{provider:?}").contains("my-secret"));
/// ```
pub fn register(registry: &mut ProviderRegistry) {
    registry.register(
        ProviderId::NINJAONE,
        "NinjaOne",
        NinjaOneProvider::default_capabilities(),
        Arc::new(|settings| {
            Ok(Arc::new(NinjaOneProvider::from_json(settings)?) as Arc<dyn RmmProvider>)
        }),
    );
}
