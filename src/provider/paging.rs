//! Pages, cursors and the one generic paging stream.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt};
use serde::{Deserialize, Serialize};

use super::DeviceSnapshotSource;
use crate::error::Result;
use crate::model::{DeviceSnapshot, ExternalDeviceId, ExternalScopeId, IdentityChange};

/// An opaque, resumable position in a listing (a GraphQL `endCursor`, a NinjaOne `after` id,
/// a page number …).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Cursor(pub String);

impl Cursor {
    /// Wraps a provider cursor.
    pub fn new(c: impl Into<String>) -> Self {
        Self(c.into())
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What page to fetch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DevicePageRequest {
    /// The scope to list (only with `Capabilities::list_devices_per_scope`); `None` = all.
    pub scope: Option<ExternalScopeId>,
    /// Resume position; `None` = first page.
    pub cursor: Option<Cursor>,
    /// Wanted page size; adapters clamp it to their maximum.
    pub page_size: Option<u32>,
    /// Only devices seen after this instant (only with `Capabilities::list_devices_since`).
    pub since: Option<DateTime<Utc>>,
    /// Include installed software (expensive on most providers).
    pub include_software: bool,
}

impl DevicePageRequest {
    /// A first-page request for a scope (or the whole integration).
    pub fn new(scope: Option<ExternalScopeId>) -> Self {
        Self {
            scope,
            ..Self::default()
        }
    }
    /// Sets the cursor.
    pub fn with_cursor(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
    /// Sets the page size.
    pub fn with_page_size(mut self, size: Option<u32>) -> Self {
        self.page_size = size;
        self
    }
    /// Sets the lower bound on last seen.
    pub fn with_since(mut self, since: Option<DateTime<Utc>>) -> Self {
        self.since = since;
        self
    }
    /// Asks for installed software.
    pub fn with_software(mut self, include: bool) -> Self {
        self.include_software = include;
        self
    }
}

/// One page of devices.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DevicePage {
    /// The devices.
    pub devices: Vec<DeviceSnapshot>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<Cursor>,
    /// The provider's total for the listing, when it says.
    pub total: Option<u64>,
}

/// What changes to fetch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangesRequest {
    /// The checkpoint the last successful window ended at; `None` = start now.
    pub checkpoint: Option<String>,
    /// Resume position within this window.
    pub cursor: Option<Cursor>,
    /// Wanted page size.
    pub page_size: Option<u32>,
}

impl ChangesRequest {
    /// A first-page request from a checkpoint.
    pub fn new(checkpoint: Option<String>) -> Self {
        Self {
            checkpoint,
            ..Self::default()
        }
    }
    /// Sets the cursor.
    pub fn with_cursor(mut self, cursor: Option<Cursor>) -> Self {
        self.cursor = cursor;
        self
    }
}

/// One page of changes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChangesPage {
    /// Changed or new devices, as full snapshots.
    pub devices: Vec<DeviceSnapshot>,
    /// Devices the provider says were deleted, with their last scope when known.
    pub deleted: Vec<(ExternalDeviceId, Option<ExternalScopeId>)>,
    /// Re-keyed devices.
    pub identity_changes: Vec<IdentityChange>,
    /// Next page of this window; `None` on the last.
    pub next_cursor: Option<Cursor>,
    /// The checkpoint to persist once the whole window succeeded (set on the last page).
    pub checkpoint: Option<String>,
}

/// Streams every page of a listing by following cursors: the one paging helper all adapters
/// share. The stream owns an `Arc` of the source, so it borrows nothing.
pub fn device_pages(
    source: Arc<dyn DeviceSnapshotSource>,
    request: DevicePageRequest,
) -> BoxStream<'static, Result<DevicePage>> {
    // State: Some(request) while there is a page to fetch, None once done or failed.
    stream::try_unfold(Some(request), move |state| {
        let source = Arc::clone(&source);
        async move {
            let Some(request) = state else {
                return Ok(None);
            };
            let page = source.list_devices_page(&request).await?;
            let next = page
                .next_cursor
                .clone()
                .map(|c| request.clone().with_cursor(Some(c)));
            Ok(Some((page, next)))
        }
    })
    .boxed()
}
