//! Explicit provider registration: id → factory, no global statics.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::{Capabilities, RmmProvider};
use crate::error::{Error, ErrorKind, Result};
use crate::model::ProviderId;

/// Builds a provider from its configuration (the adapter's own serde config, as JSON).
pub type ProviderFactory =
    Arc<dyn Fn(&serde_json::Value) -> Result<Arc<dyn RmmProvider>> + Send + Sync>;

/// One registered provider.
#[derive(Clone)]
pub struct RegisteredProvider {
    /// Slug.
    pub id: ProviderId,
    /// Human name.
    pub title: String,
    /// What instances of it can do (before configuration).
    pub capabilities: Capabilities,
    factory: ProviderFactory,
}

impl fmt::Debug for RegisteredProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegisteredProvider")
            .field("id", &self.id)
            .field("title", &self.title)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

/// Maps provider ids to factories. Hosts build one, register what they link, and pass it on.
///
/// ```
/// use std::sync::Arc;
/// use rmm_sync::provider::{Capabilities, ProviderRegistry};
/// use rmm_sync::model::ProviderId;
///
/// let mut registry = ProviderRegistry::new();
/// let acme = ProviderId::new("acme-rmm").unwrap();
/// registry.register(acme.clone(), "Acme RMM", Capabilities::default(), Arc::new(|_config| {
///     Err(rmm_sync::Error::unsupported("build"))
/// }));
/// assert!(registry.get(&acme).is_some());
/// assert!(registry.build(&ProviderId::TANIUM, &serde_json::json!({})).is_err());
/// ```
#[derive(Clone, Debug, Default)]
pub struct ProviderRegistry {
    entries: BTreeMap<ProviderId, RegisteredProvider>,
}

impl ProviderRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a provider.
    pub fn register(
        &mut self,
        id: ProviderId,
        title: impl Into<String>,
        capabilities: Capabilities,
        factory: ProviderFactory,
    ) -> &mut Self {
        self.entries.insert(
            id.clone(),
            RegisteredProvider {
                id,
                title: title.into(),
                capabilities,
                factory,
            },
        );
        self
    }

    /// A registered provider.
    pub fn get(&self, id: &ProviderId) -> Option<&RegisteredProvider> {
        self.entries.get(id)
    }

    /// The capabilities of a registered provider.
    pub fn capabilities(&self, id: &ProviderId) -> Option<Capabilities> {
        self.entries.get(id).map(|e| e.capabilities)
    }

    /// All registered providers, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &RegisteredProvider> {
        self.entries.values()
    }

    /// Builds a provider instance; an unknown id is an `InvalidConfig` error naming the known
    /// ones.
    pub fn build(
        &self,
        id: &ProviderId,
        config: &serde_json::Value,
    ) -> Result<Arc<dyn RmmProvider>> {
        match self.entries.get(id) {
            Some(entry) => (entry.factory)(config),
            None => {
                let known: Vec<&str> = self.entries.keys().map(ProviderId::as_str).collect();
                Err(Error::new(
                    ErrorKind::InvalidConfig,
                    format!(
                        "unknown provider {id:?}; registered providers: {}",
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
                .with_context("key", "provider"))
            }
        }
    }
}
