//! A walk's next page, fetched while the current one is ingested: what the in-process run gets
//! from [`super::read_ahead`], for an executor that runs one page step at a time (a Temporal
//! activity taking several pages). The fetch runs on its own task, so the HTTP request and the
//! decoding overlap the store writes of the page before; a page fetched ahead and never used
//! (the executor stopped, the attempt died) is dropped, and its request aborted, with nothing
//! written.

use std::sync::Arc;

use super::steps::{Listing, PageTask};
use crate::error::Result;
use crate::provider::{Cursor, DevicePage, DevicePageRequest, RmmProvider};

/// The next page of a walk, being fetched. Hand it to the next
/// [`super::SyncOrchestrator::run_page_ahead`] of the same listing; for any other page it is
/// ignored.
#[derive(Debug)]
pub struct PageAhead {
    listing: Listing,
    cursor: Cursor,
    fetch: AbortOnDrop,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<Result<DevicePage>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PageAhead {
    /// Starts fetching `request` (the page at `cursor` of `listing`) on its own task; `None`
    /// outside a Tokio runtime, where the page is fetched when its step runs.
    pub(super) fn start(
        provider: Arc<dyn RmmProvider>,
        listing: Listing,
        cursor: Cursor,
        request: DevicePageRequest,
    ) -> Option<Self> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let task = runtime.spawn(async move { provider.list_devices_page(&request).await });
        Some(Self {
            listing,
            cursor,
            fetch: AbortOnDrop(task),
        })
    }

    /// Whether this is the page `task` asks for.
    pub(super) fn is_for(&self, task: &PageTask) -> bool {
        task.listing == self.listing && task.cursor.as_ref() == Some(&self.cursor)
    }

    /// The fetched page (or the provider's error), waiting for the fetch if it is still
    /// running; `None` if the fetch task itself was lost (it panicked), so the caller
    /// fetches again.
    pub(super) async fn page(self) -> Option<Result<DevicePage>> {
        let mut fetch = self.fetch;
        (&mut fetch.0).await.ok()
    }
}
