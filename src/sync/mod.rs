//! The orchestrator: scope sync, full / incremental / single-device runs, the status
//! lifecycle, mark-and-sweep with a circuit breaker, agent-status re-evaluation, leases,
//! progress and cancellation.

mod lease;
mod orchestrator;
mod page_ahead;
mod progress;
mod read_ahead;
mod report;
mod run;
mod seen;
mod steps;
mod tally;

pub use orchestrator::{RunRequest, SyncOptions, SyncOrchestrator};
pub use page_ahead::PageAhead;
pub use progress::{CancelToken, ProgressFn, SyncEvent};
pub use report::{HeldBackSweep, RunMode, RunPlan, RunReport, RunStatus};
pub use steps::{BegunRun, Listing, PageStep, PageTask, RunTicket, StepsEnded, is_unusable_window};
pub use tally::{Conclusion, RunTally};
