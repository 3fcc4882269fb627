//! The Tanium API Gateway adapter (feature `tanium`).
//!
//! Talks GraphQL to `…/plugin/products/gateway/graphql` with typed cynic queries, lists
//! computer groups as scopes (kind [`crate::model::ScopeKind::Group`]) and streams each group's
//! endpoints page by page. See `docs/providers/tanium.md` for setup, the field mapping and
//! limits.
//!
//! ```no_run
//! # async fn demo() -> rmm_sync::Result<()> {
//! use std::sync::Arc;
//! use rmm_sync::provider::RmmProvider;
//! use rmm_sync::provider::tanium::TaniumProvider;
//!
//! let tanium = TaniumProvider::builder()
//!     .gateway_url("acme-api.cloud.tanium.com")
//!     .api_token(std::env::var("TANIUM_TOKEN").unwrap_or_default())
//!     .build()?;
//! let report = tanium.test_connection().await?;
//! println!("{:?}", report.details);
//! let provider: Arc<dyn RmmProvider> = Arc::new(tanium);
//! # drop(provider); Ok(()) }
//! ```
//!
//! Behaviour worth knowing:
//! - **Cursor expiry.** Gateway cursors expire about five minutes after their last use. A
//!   listing whose cursor expired restarts its computer group once, transparently (devices
//!   already ingested are not ingested twice: the orchestrator skips ids it has seen in the
//!   run); a second expiry fails the page with [`crate::ErrorKind::CursorExpired`], so the
//!   scope counts as incomplete and nothing in it is swept.
//! - **Short listings.** A listing that ends before `totalRecords` endpoints, or says more
//!   pages follow without a cursor, is an error, never a silently truncated (and then swept)
//!   scope.
//! - **Incremental runs** filter `eidLastSeen > since` on the Gateway. A Gateway that refuses
//!   that filter is detected on the first page (and by the connection test); the adapter then
//!   lists every endpoint for the rest of its life and logs a warning
//!   ([`TaniumProvider::since_filter_rejected`]).
//! - **Identity changes** come from `endpointIdChanges`: the engine re-keys the asset.

mod client;
mod config;
mod kind;
mod listing;
mod mapping;
mod provider;
mod queries;
mod values;

use std::sync::Arc;

pub use client::GatewayErrors;
pub use config::{
    DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, TaniumBuilder, TaniumConfig, default_thresholds,
};
pub use provider::TaniumProvider;

use crate::model::ProviderId;
use crate::provider::ProviderRegistry;

/// Registers the Tanium adapter under [`ProviderId::TANIUM`]; the factory takes a
/// [`TaniumConfig`] as JSON.
///
/// ```
/// use rmm_sync::model::ProviderId;
/// use rmm_sync::provider::ProviderRegistry;
/// let mut registry = ProviderRegistry::new();
/// rmm_sync::provider::tanium::register(&mut registry);
/// let provider = registry.build(&ProviderId::TANIUM, &serde_json::json!({
///     "gateway_url": "acme-api.cloud.tanium.com",
///     "api_token": "token-0123456789abcdef"
/// })).unwrap();
/// assert_eq!(provider.info().title, "Tanium");
/// ```
pub fn register(registry: &mut ProviderRegistry) {
    registry.register(
        ProviderId::TANIUM,
        "Tanium",
        TaniumProvider::default_capabilities(),
        Arc::new(|config| Ok(Arc::new(TaniumProvider::from_json(config)?))),
    );
}

/// One request this adapter sends: for validating the adapter against a Gateway's
/// introspected schema (see `tests/tanium_schema.rs`).
#[derive(Clone, Debug, PartialEq)]
pub struct OperationSample {
    /// The operation name.
    pub name: &'static str,
    /// The GraphQL document.
    pub query: String,
    /// Representative variables (every filter shape the adapter builds).
    pub variables: serde_json::Value,
}

/// A representative request of every operation this adapter sends.
pub fn operation_samples() -> Vec<OperationSample> {
    queries::samples()
        .into_iter()
        .map(|(name, query, variables)| OperationSample {
            name,
            query,
            variables,
        })
        .collect()
}
