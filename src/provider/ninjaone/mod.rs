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
//!
//! `docs/providers/ninjaone.md` has the setup steps, the field mapping and the limits.

mod activity;
mod auth;
mod client;
mod config;
mod map;
mod provider;
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
    DEFAULT_SECRET_HEADER, WebhookAction, WebhookEvent, WebhookHeaders, WebhookOutcome,
    WebhookVerifier,
};
