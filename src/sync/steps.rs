//! The step seam: one run as steps a durable executor (Temporal, feature `temporal`) can
//! execute, retry and resume independently, in any process that has the provider and the store.
//!
//! ```text
//! begin_run ──► run_page (listing 0, cursor None) ──► run_page (listing 0, cursor c1) ─► … ──►
//!               run_page (listing 1, …) ─► …  ──► finish_run
//!               (replan_full_walk when a delta window turns out unusable)
//! ```
//!
//! Inputs and outputs are serializable and small: a [`RunTicket`] names the run, a
//! [`RunTally`] carries counts, errors and listing progress, a [`PageStep`] returns the page's
//! delta and the next cursor — never the devices. The devices a run has seen (the sweep needs
//! them, across processes) go to the store's seen log ([`crate::store::AssetStore::record_seen`]),
//! one chunk per page step.
//!
//! Every step is idempotent: re-executing one after a crash changes nothing the first
//! execution already did. A page re-ingested finds its devices unchanged (fingerprints) and
//! replaces its own seen chunk; `begin_run` re-takes the lease under the same holder and
//! upserts scopes; `finish_run` records the run under its id (a second record replaces the
//! first), and a sweep already applied finds nothing left to tombstone.
//!
//! The in-process executor ([`SyncOrchestrator::run`]) runs the same phases back to back in
//! one process, keeping the seen set in memory and listing scopes concurrently.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::orchestrator::{RunRequest, SyncOrchestrator};
use super::page_ahead::PageAhead;
use super::progress::CancelToken;
use super::report::{RunMode, RunReport};
use super::run::{Abort, PageEnd, Run, falls_back_to_full, renewing};
use super::seen::SeenSet;
use super::tally::RunTally;
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::now_micros;
use crate::model::{ExternalDeviceId, ExternalScopeId, IntegrationId, RunId, TenantId};
use crate::provider::{Cursor, DevicePage, RmmProvider};

/// How many of an integration's latest runs a retried finish step looks through for its own:
/// a durable executor retries a step within minutes, long before that many runs followed.
const FINISHED_LOOKBACK: usize = 20;

/// Names one run through all its steps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunTicket {
    /// Tenant.
    pub tenant: TenantId,
    /// Integration.
    pub integration: IntegrationId,
    /// The run's id (its history entry, its seen log).
    pub run_id: RunId,
    /// Mode.
    pub mode: RunMode,
    /// The device, for [`RunMode::Device`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<ExternalDeviceId>,
    /// Plan only.
    #[serde(default)]
    pub dry_run: bool,
    /// The run's start: the time every step judges agent status and writes timestamps with.
    pub started_at: DateTime<Utc>,
    /// The lease holder every step takes (or renews) the integration's lease as; a durable
    /// executor passes something stable across retries, e.g. its workflow id.
    pub holder: String,
}

impl RunTicket {
    /// A ticket for a new run now, held as `holder`.
    pub fn new(
        tenant: TenantId,
        integration: IntegrationId,
        mode: RunMode,
        holder: impl Into<String>,
    ) -> Self {
        Self {
            tenant,
            integration,
            run_id: RunId::new_v7(),
            mode,
            device: None,
            dry_run: false,
            started_at: now_micros(),
            holder: holder.into(),
        }
    }

    /// For a device run: the device.
    pub fn with_device(mut self, device: impl Into<ExternalDeviceId>) -> Self {
        self.device = Some(device.into());
        self
    }

    /// Plan only.
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    fn request(&self, cancel: &CancelToken) -> RunRequest {
        RunRequest {
            mode: self.mode,
            device: self.device.clone(),
            dry_run: self.dry_run,
            cancel: cancel.clone(),
        }
    }
}

/// One listing of a run's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Listing {
    /// A walk of one scope (or, with `scope: None`, of the whole integration), optionally only
    /// devices seen since an instant.
    Walk {
        /// The scope.
        scope: Option<ExternalScopeId>,
        /// Only devices seen after this instant.
        since: Option<DateTime<Utc>>,
    },
    /// A provider delta window from a stored checkpoint.
    Changes {
        /// The checkpoint the window starts at.
        checkpoint: String,
    },
    /// One device fetched and ingested (or tombstoned when the provider no longer has it).
    Device {
        /// The device.
        id: ExternalDeviceId,
    },
}

impl Listing {
    /// The scope a walk lists.
    pub fn scope(&self) -> Option<&ExternalScopeId> {
        match self {
            Listing::Walk { scope, .. } => scope.as_ref(),
            _ => None,
        }
    }
}

/// What [`SyncOrchestrator::begin_run`] (and [`SyncOrchestrator::replan_full_walk`]) decided.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BegunRun {
    /// The run's tally so far (for a replan: the delta to merge).
    pub tally: RunTally,
    /// The listings to run, each from its first page.
    pub listings: Vec<Listing>,
    /// The run ended in this step: it failed after taking the lease (a provider that refused
    /// the scope listing, a store error). Its report, already recorded with status `failed`
    /// and the lease released, as an in-process run reports it; no further step runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<Box<RunReport>>,
}

/// One page step's work: which listing, from where, and its number in the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageTask {
    /// The listing.
    pub listing: Listing,
    /// Where it continues; `None` for its first page.
    pub cursor: Option<Cursor>,
    /// The page's number within the run (0, 1, 2, … across all listings, in the order the
    /// executor runs them). It names the page's entry in the seen log; devices recorded by
    /// lower chunks are not ingested again.
    pub chunk: u64,
}

/// What one page step found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageStep {
    /// The page's findings, to merge into the run's tally with [`RunTally::merge`].
    pub delta: RunTally,
    /// Where the listing continues; `None` when this was its last page.
    pub next: Option<Cursor>,
}

/// How a run's steps ended, for [`SyncOrchestrator::finish_run`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "end", rename_all = "snake_case")]
pub enum StepsEnded {
    /// Every listing ran (some may have ended early; the tally says which).
    Listed,
    /// The run was cancelled: nothing is swept, status `cancelled`.
    Cancelled,
    /// A step failed for good (auth, configuration, a lost lease, retries exhausted).
    Failed {
        /// The error class.
        kind: ErrorKind,
        /// The error's message (already redacted).
        message: String,
    },
}

impl StepsEnded {
    /// The failure of a step's error.
    pub fn failed(e: &Error) -> Self {
        StepsEnded::Failed {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl RunTally {
    /// Records that `listing` stopped on `error` (after the executor's retries): it is
    /// incomplete, so nothing in its scope is swept; the others go on. Returns the delta to
    /// merge, like a page step.
    pub fn listing_failed(&self, listing: &Listing, error: &Error) -> RunTally {
        let mut delta = self.delta_of();
        let e = Error::new(error.kind(), error.to_string());
        let e = match listing.scope() {
            Some(s) => e.with_context("scope", s),
            None => e,
        };
        delta.error(None, &e, usize::MAX);
        delta.finish_listing(listing.scope().cloned(), false);
        delta
    }
}

impl SyncOrchestrator {
    /// Step 1: checks the integration, takes the lease as `ticket.holder`, sets status
    /// `syncing`, syncs scopes, applies identity changes, captures the change-log head, and
    /// plans the listings. Clears seen logs left by earlier runs of the integration.
    ///
    /// `Err` only before the lease is taken (unknown or inactive integration, wrong provider,
    /// the lease held by another run) and for a store that cannot record the failure; a run
    /// that fails after taking the lease is finished here and returned in
    /// [`BegunRun::finished`].
    pub async fn begin_run(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
    ) -> Result<BegunRun> {
        let record = self
            .checked_integration(
                ticket.tenant,
                ticket.integration,
                &*provider,
                ticket.mode,
                ticket.device.as_ref(),
            )
            .await?;
        let request = ticket.request(&CancelToken::new());
        let tally = Run::fresh_tally(&record, &request, ticket.run_id, ticket.started_at);
        let mut run = Run::open(
            self,
            ticket.tenant,
            record,
            provider,
            request,
            ticket.holder.clone(),
            tally,
        )
        .await?;
        if !ticket.dry_run {
            self.store
                .clear_seen(ticket.tenant, ticket.integration)
                .await?;
        }
        let lease = run.lease.clone();
        match renewing(lease, run.begin()).await {
            Ok(listings) => Ok(BegunRun {
                tally: run.tally,
                listings,
                finished: None,
            }),
            Err(abort) => {
                let report = run.finish_and_release(Err(abort)).await?;
                Ok(BegunRun {
                    tally: run.tally,
                    listings: Vec::new(),
                    finished: Some(Box::new(report)),
                })
            }
        }
    }

    /// Step 1b: an incremental run whose delta window the provider can no longer serve (its
    /// page step failed with `cursor_expired` or `unsupported`) walks fully instead: identity
    /// changes, change-log head, one listing per scope. Returns the delta to merge and the new
    /// listings.
    pub async fn replan_full_walk(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
    ) -> Result<BegunRun> {
        let mut run = self
            .resume(provider, ticket, None, &CancelToken::new())
            .await?;
        let lease = run.lease.clone();
        let listings = renewing(lease, run.plan_fallback_walk())
            .await
            .map_err(abort_error)?;
        Ok(BegunRun {
            tally: run.tally,
            listings,
            finished: None,
        })
    }

    /// Step 2: one page of `task.listing` from `task.cursor` (its first page when `None`),
    /// ingested. Devices recorded in the seen log by lower chunks are not ingested again; the
    /// page's first-seen devices are recorded as chunk `task.chunk` (re-running a chunk
    /// replaces its entry).
    ///
    /// Errors are returned as they are (a provider outage, a rate limit, an expired delta
    /// window, a lost lease): the executor retries the step, or gives up on the listing with
    /// [`RunTally::listing_failed`], or replans with [`SyncOrchestrator::replan_full_walk`]
    /// (see [`is_unusable_window`]).
    pub async fn run_page(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
        task: &PageTask,
        cancel: &CancelToken,
    ) -> Result<PageStep> {
        self.page_step(provider, ticket, task, None, None, cancel)
            .await
    }

    /// As [`Self::run_page`], for an executor that runs a listing's pages one after another:
    /// `ahead` is what the previous step of the same listing returned (the page already being
    /// fetched; ignored when it is not `task`'s page). With `fetch_next`, the step returns the
    /// fetch of the walk's following page, started before this page is ingested — so fetching
    /// overlaps ingesting, as in process. Drop what it returns to stop (the request is
    /// aborted); nothing is written for a page before its own step runs.
    pub async fn run_page_ahead(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
        task: &PageTask,
        ahead: Option<PageAhead>,
        fetch_next: bool,
        cancel: &CancelToken,
    ) -> Result<(PageStep, Option<PageAhead>)> {
        let fetched = match ahead.filter(|a| a.is_for(task)) {
            Some(a) => a.page().await,
            None => None,
        };
        let mut next = None;
        let step = self
            .page_step(
                provider,
                ticket,
                task,
                fetched,
                fetch_next.then_some(&mut next),
                cancel,
            )
            .await?;
        Ok((step, next))
    }

    async fn page_step(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
        task: &PageTask,
        fetched: Option<Result<DevicePage>>,
        ahead: Option<&mut Option<PageAhead>>,
        cancel: &CancelToken,
    ) -> Result<PageStep> {
        let mut run = self.resume(provider, ticket, None, cancel).await?;
        run.newly_seen = Some(Vec::new());
        let chunk_name = chunk_name(task.chunk);
        run.seen = match self.seen_cache.take(ticket.run_id, task.chunk) {
            Some(set) => set,
            // Another process ran earlier steps (or this one restarted): read the log.
            None if !ticket.dry_run => SeenSet::loaded(
                self.store
                    .seen_devices(
                        ticket.tenant,
                        ticket.integration,
                        ticket.run_id,
                        Some(&chunk_name),
                    )
                    .await?,
                task.chunk,
            ),
            None => SeenSet::loaded(Vec::new(), task.chunk),
        };
        let lease = run.lease.clone();
        let end = renewing(lease, async {
            run.check_cancel()?;
            run.list_one_page(&task.listing, task.cursor.clone(), fetched, ahead)
                .await
        })
        .await;
        let end = match end {
            Ok(end) => end,
            Err(abort) => {
                // What this attempt inserted is tagged with its chunk and forgotten on retry.
                self.seen_cache
                    .put(ticket.run_id, std::mem::take(&mut run.seen), task.chunk);
                return Err(abort_error(abort));
            }
        };
        if !ticket.dry_run {
            let fresh = run.newly_seen.take().unwrap_or_default();
            self.store
                .record_seen(
                    ticket.tenant,
                    ticket.integration,
                    ticket.run_id,
                    &chunk_name,
                    &fresh,
                )
                .await?;
        }
        self.seen_cache
            .put(ticket.run_id, std::mem::take(&mut run.seen), task.chunk + 1);
        Ok(PageStep {
            delta: run.tally,
            next: match end {
                PageEnd::Next(c) => Some(c),
                PageEnd::Done => None,
            },
        })
    }

    /// Step 3: concludes (the `since` cursor, then the sweep after a full walk, or the
    /// failed-device retries after an incremental window), re-evaluates agent status, updates
    /// the failed-device set, the status and the history, clears the seen log and releases
    /// the lease. Returns the run's report, as [`SyncOrchestrator::run`] does. A finish step
    /// executed again after it completed returns the recorded report and changes nothing.
    pub async fn finish_run(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
        tally: RunTally,
        ended: StepsEnded,
    ) -> Result<RunReport> {
        if !ticket.dry_run
            && let Some(done) = self.finished_report(ticket).await?
        {
            // A retried finish whose first execution completed (the run is in the history):
            // nothing to do again — and the seen log it cleared must not drive a second sweep.
            return Ok(done);
        }
        let cancel = CancelToken::new();
        let mut run = self.resume(provider, ticket, Some(tally), &cancel).await?;
        self.seen_cache.forget(ticket.run_id);
        if !ticket.dry_run {
            run.seen = self
                .store
                .seen_devices(ticket.tenant, ticket.integration, ticket.run_id, None)
                .await?
                .into_iter()
                .collect();
        }
        let result = match ended {
            StepsEnded::Listed => {
                let lease = run.lease.clone();
                renewing(lease, run.conclude()).await
            }
            StepsEnded::Cancelled => Err(Abort::Cancelled),
            StepsEnded::Failed { kind, message } => Err(Abort::Failed(Error::new(kind, message))),
        };
        let report = run.finish(result).await?;
        if !ticket.dry_run && run.lease.still_held() {
            self.store
                .clear_seen(ticket.tenant, ticket.integration)
                .await?;
        }
        run.lease.release().await?;
        Ok(report)
    }

    /// The run's report if the history has it, i.e. if its finish step completed before.
    async fn finished_report(&self, ticket: &RunTicket) -> Result<Option<RunReport>> {
        let recent = self
            .store
            .recent_runs(ticket.tenant, ticket.integration, FINISHED_LOOKBACK)
            .await?;
        Ok(recent.into_iter().find(|r| r.run_id == ticket.run_id))
    }

    /// Re-opens a run for one step around `tally` (`None`: an empty one, for a step that
    /// returns a delta): the integration re-read, the lease re-taken as the ticket's holder (a
    /// lapsed lease is taken again; one another run holds fails with `lease_held`).
    async fn resume(
        &self,
        provider: Arc<dyn RmmProvider>,
        ticket: &RunTicket,
        tally: Option<RunTally>,
        cancel: &CancelToken,
    ) -> Result<Run<'_>> {
        let record = self
            .checked_integration(
                ticket.tenant,
                ticket.integration,
                &*provider,
                ticket.mode,
                ticket.device.as_ref(),
            )
            .await?;
        let request = ticket.request(cancel);
        let tally = tally.unwrap_or_else(|| {
            Run::fresh_tally(&record, &request, ticket.run_id, ticket.started_at)
        });
        Run::open(
            self,
            ticket.tenant,
            record,
            provider,
            request,
            ticket.holder.clone(),
            tally,
        )
        .await
    }
}

/// Whether a page step's error means the delta window is unusable and the run should
/// [replan](SyncOrchestrator::replan_full_walk) as a full walk.
pub fn is_unusable_window(listing: &Listing, e: &Error) -> bool {
    matches!(listing, Listing::Changes { .. }) && falls_back_to_full(e)
}

/// A chunk's name in the seen log: zero-padded, so names sort as the numbers do.
fn chunk_name(chunk: u64) -> String {
    format!("{chunk:020}")
}

fn abort_error(abort: Abort) -> Error {
    match abort {
        Abort::Failed(e) => e,
        Abort::Cancelled => Error::new(ErrorKind::Cancelled, "the run was cancelled"),
    }
}
