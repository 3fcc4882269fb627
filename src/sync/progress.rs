//! Progress events and cancellation.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::{RunMode, RunReport};
use crate::model::{ExternalScopeId, OutcomeCounts};

/// Something that happened during a run. The CLI draws its progress bar from these.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SyncEvent {
    /// A run started.
    RunStarted {
        /// Mode.
        mode: RunMode,
        /// Scopes to list (`None` when the provider lists the whole integration at once).
        scopes: Option<usize>,
    },
    /// A scope listing started (`scope` is `None` for a whole-integration listing).
    ScopeStarted {
        /// The scope.
        scope: Option<ExternalScopeId>,
    },
    /// A page was ingested.
    PageIngested {
        /// The scope.
        scope: Option<ExternalScopeId>,
        /// Devices on the page.
        devices: usize,
        /// The provider's total for the listing, when known.
        total: Option<u64>,
        /// Counts of this page.
        counts: OutcomeCounts,
    },
    /// A scope listing ended.
    ScopeFinished {
        /// The scope.
        scope: Option<ExternalScopeId>,
        /// Whether it reached the last page.
        complete: bool,
    },
    /// The run finished.
    RunFinished {
        /// The report.
        report: Box<RunReport>,
    },
}

/// Receives progress events. Must be cheap: it is called inline.
pub type ProgressFn = Arc<dyn Fn(&SyncEvent) + Send + Sync>;

/// Cooperative cancellation: checked between pages; a cancelled run writes nothing more,
/// sweeps nothing, and reports `cancelled`.
#[derive(Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A fresh token.
    pub fn new() -> Self {
        Self::default()
    }
    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CancelToken")
            .field(&self.is_cancelled())
            .finish()
    }
}
