//! The provider side: the traits every adapter implements, capabilities, paging and the
//! registry.
//!
//! An adapter implements three small traits:
//! - [`RmmProvider`]: identity ([`ProviderInfo`]), [`Capabilities`], agent-status thresholds and a
//!   connection test;
//! - [`ScopeSource`]: the scopes (organizations, sites, groups) the host maps to clients;
//! - [`DeviceSnapshotSource`]: one page of devices at a time, each page carrying the cursor of the
//!   next. [`device_pages`] turns that into a stream; the orchestrator persists nothing but
//!   cursors and checkpoints.
//!
//! Optional operations (deltas, identity changes, single-device fetch) have default bodies that
//! return [`crate::ErrorKind::Unsupported`]; set the matching capability flag when you implement
//! one.

mod capability;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "ninjaone")]
pub mod ninjaone;
mod paging;
mod registry;
#[cfg(feature = "tactical")]
pub mod tactical;
#[cfg(feature = "tanium")]
pub mod tanium;

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, ExternalScopeId, IdentityChange,
    ProviderId, ScopeSnapshot,
};

pub use capability::Capabilities;
pub use paging::{
    ChangesPage, ChangesRequest, Cursor, DevicePage, DevicePageRequest, device_pages,
};
pub use registry::{ProviderFactory, ProviderRegistry, RegisteredProvider};

/// Who a provider instance is, for logs, reports and the CLI. Never holds secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    /// The provider slug.
    pub provider: ProviderId,
    /// Human name of the product ("Tanium", "NinjaOne" …).
    pub title: String,
    /// Base URL without credentials, query or userinfo.
    pub base_url: Option<String>,
}

/// The result of a connection test.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionReport {
    /// Facts learned (server time, version, permission probes …), one line each.
    pub details: Vec<String>,
    /// Problems that do not prevent syncing (a missing optional permission …).
    pub warnings: Vec<String>,
}

/// A provider instance: identity, capabilities and a connection test, plus the two listing
/// traits. Object-safe; hosts hold `Arc<dyn RmmProvider>`.
#[async_trait]
pub trait RmmProvider: ScopeSource + DeviceSnapshotSource + Send + Sync + Debug + 'static {
    /// Who this is.
    fn info(&self) -> ProviderInfo;

    /// What it can do.
    fn capabilities(&self) -> Capabilities;

    /// How last-seen age maps to agent status for this provider.
    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        AgentStatusThresholds::default()
    }

    /// Checks URL, credentials and permissions with the cheapest real calls. Errors are
    /// actionable: 401 says the token is wrong, 403 names the missing permission.
    async fn test_connection(&self) -> Result<ConnectionReport>;
}

/// Lists the scopes of a provider instance.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait ScopeSource: Send + Sync + Debug + 'static {
    /// Every scope. Returning `Ok` promises the list is complete (vanished scopes get flagged).
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>>;
}

/// Lists devices, one page at a time.
#[cfg_attr(any(test, feature = "mock"), mockall::automock)]
#[async_trait]
pub trait DeviceSnapshotSource: Send + Sync + Debug + 'static {
    /// One page of devices. `request.cursor` is `None` for the first page; a page whose
    /// `next_cursor` is `None` is the last. A listing is complete only when it reached that
    /// last page without error.
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage>;

    /// One page of changes since a checkpoint (requires [`Capabilities::list_changes`]).
    /// Fail with [`crate::ErrorKind::CursorExpired`] when the provider no longer has the
    /// window; the orchestrator then falls back to a full listing.
    async fn list_changes_page(&self, request: &ChangesRequest) -> Result<ChangesPage> {
        let _ = request;
        Err(Error::unsupported("list_changes_page"))
    }

    /// Devices whose id changed since `since` (requires [`Capabilities::identity_changes`]).
    async fn identity_changes(&self, since: Option<DateTime<Utc>>) -> Result<Vec<IdentityChange>> {
        let _ = since;
        Err(Error::unsupported("identity_changes"))
    }

    /// One device, or `None` when the provider no longer has it (requires
    /// [`Capabilities::get_device`]).
    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        let _ = id;
        Err(Error::unsupported("get_device"))
    }
}

/// The scope argument most adapters need: `None` lists the whole integration.
pub type ScopeFilter = Option<ExternalScopeId>;
