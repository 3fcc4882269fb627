//! The activities: one per step of [`crate::sync`]'s step seam, executed by any worker that
//! has the store and can build the integration's provider.
//!
//! Activities return `Ok` for every outcome the workflow must decide on (a page, a listing that
//! gave up, a window to replan, a run refused) and `Err` only for what Temporal should retry:
//! rate limits, outages, timeouts, store hiccups — with the provider's `Retry-After` as the next
//! retry delay ([`super::retry::activity_failure`]).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use temporalio_macros::activities;
use temporalio_sdk::activities::{ActivityContext, ActivityError};

use super::retry::{activity_failure, durable_retry, kind_is_retryable};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{IntegrationId, TenantId};
use crate::provider::{Cursor, RmmProvider};
use crate::sync::{
    BegunRun, CancelToken, Listing, PageTask, RunReport, RunTally, RunTicket, StepsEnded,
    SyncOrchestrator, is_unusable_window,
};

/// How often a running activity heartbeats (the heartbeat timeout is a few times this).
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Builds the provider of an integration in a worker process: the worker's only link to
/// credentials. The CLI builds them from its config file; a host program from wherever it
/// keeps its integrations.
#[async_trait]
pub trait ProviderSource: Send + Sync + fmt::Debug + 'static {
    /// The provider for this tenant's integration, or a `not_found` / `invalid_config` error.
    async fn provider(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Arc<dyn RmmProvider>>;
}

/// The activities of the sync workflows (register them on a worker with
/// [`super::worker::worker_options`]).
#[derive(Debug)]
pub struct SyncActivities {
    orch: SyncOrchestrator,
    providers: Arc<dyn ProviderSource>,
}

impl SyncActivities {
    /// Activities over one store (through `orch`) and the integrations `providers` knows.
    pub fn new(orch: SyncOrchestrator, providers: Arc<dyn ProviderSource>) -> Self {
        Self { orch, providers }
    }
}

/// What `begin` decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BeginOutcome {
    /// The run began (or ended at once: see [`BegunRun::finished`]).
    Begun {
        /// The run's plan and first findings.
        run: Box<BegunRun>,
        /// Errors the run's report keeps (the worker's
        /// [`crate::sync::SyncOptions::max_report_errors`]): the workflow merges tallies
        /// with it.
        max_report_errors: usize,
    },
    /// The run did not start: the lease is held by another run, or the integration is
    /// unknown, inactive or of another provider. Nothing was written.
    Refused {
        /// The error class (`lease_held`, `not_found`, `invalid_config`).
        kind: ErrorKind,
        /// What was wrong.
        message: String,
    },
}

/// The input of `list_pages`: a run, where its listing stands, the listings after it, and how
/// many pages to take.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PagesInput {
    /// The run.
    pub ticket: RunTicket,
    /// The listing, its cursor, and the chunk number of its next page.
    pub task: PageTask,
    /// Listings to go on with, in order, once `task`'s ends within the page budget (many
    /// small scopes then cost one activity, not one each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<Listing>,
    /// Pages to list in this activity before returning (at least one).
    pub max_pages: u32,
}

/// Where a `list_pages` activity stands: its heartbeat details, so a retried attempt resumes
/// after the last page the lost one completed instead of from the start.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PagesProgress {
    delta: Option<RunTally>,
    /// Listings of the input (`task`'s, then `then`'s) that reached their last page.
    listings_done: u32,
    /// The cursor of the listing in progress (`None`: its first page).
    next: Option<Cursor>,
    chunk: u64,
    pages: u32,
}

/// What `list_pages` did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum PagesOutcome {
    /// Pages were listed and ingested.
    Pages {
        /// Their findings, to merge into the run's tally (`None`: no page completed).
        delta: Option<RunTally>,
        /// Listings of the input (`task`'s, then `then`'s) that reached their last page.
        listings_done: u32,
        /// Where the listing after those continues (`None`: from its first page).
        next: Option<Cursor>,
        /// The chunk number of the next page.
        next_chunk: u64,
    },
    /// A listing stopped on an error that retrying does not fix (a page that cannot be
    /// decoded, an error a retry budget ran out on); its findings so far are in `delta`.
    GaveUp {
        /// Findings of the pages before the failure.
        delta: Option<RunTally>,
        /// Listings that reached their last page before the one that stopped.
        listings_done: u32,
        /// The chunk number the next listing starts at.
        next_chunk: u64,
        /// The error class.
        kind: ErrorKind,
        /// The error.
        message: String,
    },
    /// The delta window is unusable (expired checkpoint): replan as a full walk.
    UnusableWindow {
        /// Findings before the window turned out unusable.
        delta: Option<RunTally>,
        /// The chunk number to continue at.
        next_chunk: u64,
    },
    /// The run cannot go on (credentials refused, the lease taken over, configuration): finish
    /// it as failed.
    Fatal {
        /// Findings before the failure.
        delta: Option<RunTally>,
        /// How the run ended.
        ended: StepsEnded,
    },
}

/// The input of `finish`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinishInput {
    /// The run.
    pub ticket: RunTicket,
    /// Everything the steps found.
    pub tally: RunTally,
    /// How the steps ended.
    pub ended: StepsEnded,
}

/// Errors a step meets that no retry can fix and that end the run.
fn ends_the_run(kind: ErrorKind) -> bool {
    kind.is_auth()
        || matches!(
            kind,
            ErrorKind::LeaseHeld
                | ErrorKind::InvalidConfig
                | ErrorKind::NotFound
                | ErrorKind::Unsupported
                | ErrorKind::Cancelled
        )
}

#[activities]
impl SyncActivities {
    /// Step 1 ([`SyncOrchestrator::begin_run`]).
    #[activity]
    pub async fn begin(
        self: Arc<Self>,
        ctx: ActivityContext,
        ticket: RunTicket,
    ) -> std::result::Result<BeginOutcome, ActivityError> {
        let provider = match self
            .providers
            .provider(ticket.tenant, ticket.integration)
            .await
        {
            Ok(p) => p,
            Err(e) => return refused_or_retry(e),
        };
        let step = self.orch.begin_run(provider, &ticket);
        match with_heartbeats(&ctx, step, &()).await {
            Ok(begun) => Ok(BeginOutcome::Begun {
                run: Box::new(begun),
                max_report_errors: self.orch.options().max_report_errors,
            }),
            Err(e) => refused_or_retry(e),
        }
    }

    /// Step 2: up to `max_pages` pages of one listing ([`SyncOrchestrator::run_page`]),
    /// heartbeating after each page with the cursor and the findings so far.
    #[activity]
    pub async fn list_pages(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: PagesInput,
    ) -> std::result::Result<PagesOutcome, ActivityError> {
        let ticket = &input.ticket;
        let resumed: Option<PagesProgress> = ctx.heartbeat_details().deserialize().ok().flatten();
        let mut progress = resumed.unwrap_or(PagesProgress {
            delta: None,
            listings_done: 0,
            next: input.task.cursor.clone(),
            chunk: input.task.chunk,
            pages: 0,
        });
        let listings: Vec<&Listing> = std::iter::once(&input.task.listing)
            .chain(&input.then)
            .collect();
        let provider = match self
            .providers
            .provider(ticket.tenant, ticket.integration)
            .await
        {
            Ok(p) => p,
            Err(e) if ends_the_run(e.kind()) => {
                return Ok(PagesOutcome::Fatal {
                    delta: progress.delta,
                    ended: StepsEnded::failed(&e),
                });
            }
            Err(e) => return Err(activity_failure(&e)),
        };
        let max_errors = self.orch.options().max_report_errors;
        let cancel = CancelToken::new();
        let max_pages = input.max_pages.max(1);
        // The listing's next page, fetched while the current one is ingested.
        let mut ahead = None;
        while progress.pages < max_pages {
            let Some(&listing) = listings.get(progress.listings_done as usize) else {
                break;
            };
            if ctx.is_cancelled() {
                // Hand back what the pages so far found: the workflow, which asked for the
                // cancellation and waits for this answer, finishes the run with them.
                break;
            }
            let task = PageTask {
                listing: listing.clone(),
                cursor: progress.next.clone(),
                chunk: progress.chunk,
            };
            let fetch_next = progress.pages + 1 < max_pages;
            let step = self.orch.run_page_ahead(
                Arc::clone(&provider),
                ticket,
                &task,
                ahead.take(),
                fetch_next,
                &cancel,
            );
            match with_heartbeats(&ctx, step, &progress).await {
                Ok((page, next_ahead)) => {
                    ahead = next_ahead;
                    match &mut progress.delta {
                        Some(delta) => delta.merge(page.delta, max_errors),
                        None => progress.delta = Some(page.delta),
                    }
                    if page.next.is_none() {
                        progress.listings_done += 1;
                    }
                    progress.next = page.next;
                    progress.chunk += 1;
                    progress.pages += 1;
                    // Best effort: a lost heartbeat only means a retry redoes this page.
                    let _ = ctx.record_heartbeat(progress.clone()).await;
                }
                // The failed page's chunk may hold part of its seen devices: the next listing
                // starts after it rather than replacing it.
                Err(e) if is_unusable_window(listing, &e) => {
                    return Ok(PagesOutcome::UnusableWindow {
                        delta: progress.delta,
                        next_chunk: progress.chunk + 1,
                    });
                }
                Err(e) if ends_the_run(e.kind()) => {
                    return Ok(PagesOutcome::Fatal {
                        delta: progress.delta,
                        ended: StepsEnded::failed(&e),
                    });
                }
                Err(e) if kind_is_retryable(e.kind()) && !last_attempt(&ctx) => {
                    // The pages done so far are in the last heartbeat: the retry resumes there.
                    return Err(durable_retry(&e));
                }
                Err(e) => {
                    return Ok(PagesOutcome::GaveUp {
                        delta: progress.delta,
                        listings_done: progress.listings_done,
                        next_chunk: progress.chunk + 1,
                        kind: e.kind(),
                        message: e.to_string(),
                    });
                }
            }
        }
        Ok(PagesOutcome::Pages {
            delta: progress.delta,
            listings_done: progress.listings_done,
            next: progress.next,
            next_chunk: progress.chunk,
        })
    }

    /// Step 1b ([`SyncOrchestrator::replan_full_walk`]).
    #[activity]
    pub async fn replan(
        self: Arc<Self>,
        ctx: ActivityContext,
        ticket: RunTicket,
    ) -> std::result::Result<BegunRun, ActivityError> {
        let provider = self
            .providers
            .provider(ticket.tenant, ticket.integration)
            .await
            .map_err(|e| activity_failure(&e))?;
        let step = self.orch.replan_full_walk(provider, &ticket);
        with_heartbeats(&ctx, step, &())
            .await
            .map_err(|e| activity_failure(&e))
    }

    /// Step 3 ([`SyncOrchestrator::finish_run`]): the run's report.
    #[activity]
    pub async fn finish(
        self: Arc<Self>,
        ctx: ActivityContext,
        input: FinishInput,
    ) -> std::result::Result<RunReport, ActivityError> {
        let provider = self
            .providers
            .provider(input.ticket.tenant, input.ticket.integration)
            .await
            .map_err(|e| activity_failure(&e))?;
        let step = self
            .orch
            .finish_run(provider, &input.ticket, input.tally, input.ended);
        with_heartbeats(&ctx, step, &())
            .await
            .map_err(|e| activity_failure(&e))
    }
}

/// A begin that failed: refused for good (the workflow reports it), or retried.
fn refused_or_retry(e: Error) -> std::result::Result<BeginOutcome, ActivityError> {
    if ends_the_run(e.kind()) {
        Ok(BeginOutcome::Refused {
            kind: e.kind(),
            message: e.to_string(),
        })
    } else {
        Err(activity_failure(&e))
    }
}

/// Whether this is the last attempt the activity's retry policy allows: then a retryable
/// error gives the listing up instead of failing the activity (which would fail the run).
fn last_attempt(ctx: &ActivityContext) -> bool {
    let info = ctx.info();
    info.retry_policy
        .as_ref()
        .map(|p| p.maximum_attempts() > 0 && info.attempt >= p.maximum_attempts())
        .unwrap_or(false)
}

/// Runs a step while heartbeating `details` every [`HEARTBEAT_EVERY`], so a long page (a slow
/// provider, a big store write) does not look like a dead worker, and a cancellation reaches
/// the activity.
async fn with_heartbeats<T, D>(
    ctx: &ActivityContext,
    step: impl std::future::Future<Output = Result<T>>,
    details: &D,
) -> Result<T>
where
    D: Serialize + Clone + Send + Sync + 'static,
{
    let beat = async {
        loop {
            tokio::time::sleep(HEARTBEAT_EVERY).await;
            let _ = ctx.record_heartbeat(details.clone()).await;
        }
    };
    futures::pin_mut!(step, beat);
    match futures::future::select(step, beat).await {
        futures::future::Either::Left((result, _)) => result,
        futures::future::Either::Right(((), _)) => unreachable!("the heartbeat loop never ends"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_unfixable_errors_end_a_run() {
        for kind in [
            ErrorKind::Unauthorized,
            ErrorKind::Forbidden,
            ErrorKind::ReconnectRequired,
            ErrorKind::LeaseHeld,
            ErrorKind::InvalidConfig,
        ] {
            assert!(ends_the_run(kind), "{kind}");
        }
        for kind in [
            ErrorKind::RateLimited,
            ErrorKind::Unavailable,
            ErrorKind::Timeout,
            ErrorKind::Store,
            ErrorKind::Decode,
        ] {
            assert!(!ends_the_run(kind), "{kind}");
        }
    }
}
