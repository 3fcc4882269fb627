//! One run of one integration, as phases that the in-process executor ([`Run::start`]) runs
//! back to back and the step seam ([`super::steps`]) executes one by one, possibly in different
//! processes: *begin* (status, scope sync, identity changes, checkpoint, the listing plan),
//! *listings* (pages ingested), *conclude* (cursor, then sweep or failed-device retries) and
//! *finish* (agent status, failed-device set, status, history, lease).

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::{self, Either};
use futures::stream::BoxStream;

use super::lease::HeldLease;
use super::orchestrator::{RunRequest, SyncOrchestrator};
use super::page_ahead::PageAhead;
use super::progress::SyncEvent;
use super::read_ahead::read_ahead;
use super::report::{HeldBackSweep, RunMode, RunReport, RunStatus};
use super::seen::SeenSet;
use super::steps::Listing;
use super::tally::{Conclusion, RunTally};
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::{BatchResult, IngestContext, now_micros};
use crate::model::{DeviceSnapshot, ExternalDeviceId, ExternalScopeId, RunId, TenantId};
use crate::provider::{
    ChangesRequest, Cursor, DevicePage, DevicePageRequest, RmmProvider, device_pages,
};
use crate::store::{IntegrationRecord, SyncStateUpdate, SyncStatus};

/// Decoded pages that may wait for the engine while the listing task fetches on: enough to
/// keep both cores busy, few enough that memory stays a few pages' worth.
const LISTING_READ_AHEAD: usize = 2;

/// Why a run stopped early.
pub(super) enum Abort {
    Failed(Error),
    Cancelled,
}

/// Where one page of a listing left it.
pub(super) enum PageEnd {
    /// More pages follow from this cursor.
    Next(Cursor),
    /// The listing is done.
    Done,
}

/// The state of one run (or, for a durable executor, of one step of it).
pub(super) struct Run<'a> {
    pub(super) orch: &'a SyncOrchestrator,
    pub(super) tenant: TenantId,
    pub(super) record: IntegrationRecord,
    pub(super) provider: Arc<dyn RmmProvider>,
    pub(super) request: RunRequest,
    pub(super) ctx: IngestContext,
    /// Counts, errors, listing progress: everything the run carries from step to step.
    pub(super) tally: RunTally,
    /// Devices seen in this run: a device listed in two scopes is ingested once, and sweeps
    /// never tombstone a device seen anywhere. A durable step loads it from the store's seen
    /// log first.
    pub(super) seen: SeenSet,
    /// Devices first seen by this step, when a durable step records them in the seen log.
    pub(super) newly_seen: Option<Vec<ExternalDeviceId>>,
    /// `RunStarted` was emitted (exactly once per run, with the scope count when known).
    run_started: bool,
    /// The run lease, renewed while the run (or step) executes.
    pub(super) lease: HeldLease,
}

/// Runs `phase` while `lease` is renewed on its own timer; a lease taken over by another run
/// ends the phase at once.
pub(super) async fn renewing<T>(
    lease: HeldLease,
    phase: impl Future<Output = std::result::Result<T, Abort>>,
) -> std::result::Result<T, Abort> {
    let renewals = lease.keep_renewed();
    futures::pin_mut!(renewals, phase);
    match future::select(phase, renewals).await {
        Either::Left((result, _)) => result,
        Either::Right((lost, _)) => Err(Abort::Failed(lost)),
    }
}

/// A delta window the provider cannot serve any more: the run walks fully instead.
pub(super) fn falls_back_to_full(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::CursorExpired | ErrorKind::Unsupported)
}

impl<'a> Run<'a> {
    /// Runs everything in this process: the default executor.
    pub(super) async fn start(
        orch: &'a SyncOrchestrator,
        tenant: TenantId,
        record: IntegrationRecord,
        provider: Arc<dyn RmmProvider>,
        request: RunRequest,
    ) -> Result<RunReport> {
        let run_id = RunId::new_v7();
        let tally = Run::fresh_tally(&record, &request, run_id, now_micros());
        let holder = run_id.to_string();
        let mut run = Run::open(orch, tenant, record, provider, request, holder, tally).await?;
        let lease = run.lease.clone();
        let result = renewing(lease, run.execute()).await;
        run.finish_and_release(result).await
    }

    /// A new run's empty tally.
    pub(super) fn fresh_tally(
        record: &IntegrationRecord,
        request: &RunRequest,
        run_id: RunId,
        started: DateTime<Utc>,
    ) -> RunTally {
        RunTally::new(RunReport {
            run_id,
            started_at: started,
            finished_at: started,
            plan: request.dry_run.then(Default::default),
            ..RunReport::new(record.integration_id, record.provider.clone(), request.mode)
        })
    }

    /// Takes (or, for the same holder, renews) the lease and sets the run up around `tally`.
    pub(super) async fn open(
        orch: &'a SyncOrchestrator,
        tenant: TenantId,
        record: IntegrationRecord,
        provider: Arc<dyn RmmProvider>,
        request: RunRequest,
        holder: String,
        tally: RunTally,
    ) -> Result<Run<'a>> {
        let integration = record.integration_id;
        let lease = HeldLease::acquire(
            Arc::clone(&orch.store),
            tenant,
            integration,
            holder,
            orch.options.lease_ttl,
        )
        .await?;
        let ctx = IngestContext::new(tenant, record.provider.clone(), integration)
            .with_thresholds(provider.agent_status_thresholds())
            .with_cross_provider_matching(orch.options.cross_provider_matching)
            .with_dry_run(request.dry_run)
            .at(tally.report.started_at);
        Ok(Run {
            orch,
            tenant,
            record,
            provider,
            request,
            ctx,
            tally,
            seen: SeenSet::default(),
            newly_seen: None,
            run_started: false,
            lease,
        })
    }

    /// Finishes the run, then gives the lease back (also when finishing failed; a lost
    /// release only delays the next run by the TTL).
    pub(super) async fn finish_and_release(
        &mut self,
        result: std::result::Result<(), Abort>,
    ) -> Result<RunReport> {
        let finished = self.finish(result).await;
        let released = self.lease.release().await;
        let report = finished?;
        released?;
        Ok(report)
    }

    async fn execute(&mut self) -> std::result::Result<(), Abort> {
        let listings = self.begin().await?;
        self.run_listings(listings).await?;
        self.conclude().await
    }

    /// Phase 1: status `syncing`, then the mode's preparation; returns the listings to run.
    pub(super) async fn begin(&mut self) -> std::result::Result<Vec<Listing>, Abort> {
        if !self.request.dry_run {
            self.state(SyncStateUpdate {
                sync_status: Some(SyncStatus::Syncing),
                ..Default::default()
            })
            .await?;
        }
        match self.request.mode {
            RunMode::Device => {
                self.emit_run_started(None);
                if !self.provider.capabilities().get_device {
                    return Err(Abort::Failed(Error::unsupported("get_device")));
                }
                let id = self.request.device.clone().expect("checked by run()");
                Ok(vec![Listing::Device { id }])
            }
            RunMode::Scopes => {
                self.emit_run_started(None);
                self.scope_sync().await?;
                Ok(Vec::new())
            }
            RunMode::Full => {
                self.scope_sync().await?;
                self.plan_full_walk().await
            }
            RunMode::Incremental => self.plan_incremental().await,
        }
    }

    /// The in-process executor of the listings: a walk lists its targets concurrently (pages
    /// ingested one at a time while the next is fetched); a delta window that turns out
    /// unusable falls back to a full walk.
    async fn run_listings(&mut self, listings: Vec<Listing>) -> std::result::Result<(), Abort> {
        let mut walk = Vec::new();
        let mut walk_since = None;
        for listing in listings {
            match listing {
                Listing::Walk { scope, since } => {
                    walk.push(scope);
                    walk_since = since;
                }
                Listing::Changes { checkpoint } => match self.changes(checkpoint).await {
                    Ok(()) => {}
                    Err(Abort::Failed(e)) if falls_back_to_full(&e) => {
                        tracing::info!(error = %e, "delta window unusable; falling back to a full walk");
                        let replanned = self.plan_fallback_walk().await?;
                        return Box::pin(self.run_listings(replanned)).await;
                    }
                    Err(other) => return Err(other),
                },
                Listing::Device { id } => self.refresh_one(&id).await?,
            }
        }
        if walk.is_empty() {
            return Ok(());
        }
        self.list_targets(walk, walk_since).await
    }

    /// Phase 3, after the listings: the cursor, then the sweep (full walks) or the
    /// failed-device retries (incremental windows).
    pub(super) async fn conclude(&mut self) -> std::result::Result<(), Abort> {
        match self.tally.conclusion.clone() {
            Conclusion::Nothing => Ok(()),
            Conclusion::FullWalk => {
                self.set_since_cursor_after_full_walk();
                self.sweep().await
            }
            Conclusion::SinceWindow { checkpoint } => {
                if self.tally.report.scopes_incomplete.is_empty() {
                    // Never behind the stored checkpoint: an empty window would otherwise walk
                    // it back by the overlap on every run.
                    let next = self
                        .tally
                        .max_last_seen
                        .map_or(checkpoint, |m| m.max(checkpoint));
                    self.new_cursor(Some(next.to_rfc3339()));
                }
                self.retry_failed().await
            }
            Conclusion::Changes => {
                if let Some(end) = self.tally.window_end.clone() {
                    self.new_cursor(Some(end));
                }
                self.retry_failed().await
            }
        }
    }

    /// A full walk's preparation: identity changes since the last complete full walk, the
    /// change log's head, one listing per target.
    async fn plan_full_walk(&mut self) -> std::result::Result<Vec<Listing>, Abort> {
        self.identity_changes(self.rekeys_since()).await?;
        self.capture_checkpoint().await?;
        self.tally.conclusion = Conclusion::FullWalk;
        self.walk_plan(None).await
    }

    /// An incremental run whose delta window is unusable (expired cursor) walks fully instead.
    pub(super) async fn plan_fallback_walk(&mut self) -> std::result::Result<Vec<Listing>, Abort> {
        self.tally.report.fell_back_to_full = true;
        self.plan_full_walk().await
    }

    async fn plan_incremental(&mut self) -> std::result::Result<Vec<Listing>, Abort> {
        let caps = self.provider.capabilities();
        self.scope_sync().await?;
        // Without a usable checkpoint there is no window to read: walk fully; the walk captures
        // the change log's head first, so the next incremental run reads from there.
        if caps.list_changes
            && let Some(checkpoint) = self.record.cursor.clone()
        {
            self.emit_run_started(None);
            self.tally.conclusion = Conclusion::Changes;
            return Ok(vec![Listing::Changes { checkpoint }]);
        }
        if caps.list_devices_since
            && let Some(checkpoint) = self.stored_checkpoint()
        {
            let since = self.with_overlap(checkpoint);
            self.identity_changes(Some(since)).await?;
            self.tally.conclusion = Conclusion::SinceWindow { checkpoint };
            return self.walk_plan(Some(since)).await;
        }
        // No deltas (or no checkpoint yet): a full walk with diffing, which may sweep.
        self.plan_fallback_walk().await
    }

    /// Before a full walk of a provider with deltas: asks for the current head of its change
    /// log (`ChangesRequest` without a checkpoint = "start now"), to be stored as the cursor once
    /// the walk completes. Taken before the walk, so changes made during it are read again by
    /// the next incremental run rather than lost.
    async fn capture_checkpoint(&mut self) -> std::result::Result<(), Abort> {
        if !self.provider.capabilities().list_changes {
            return Ok(());
        }
        match self
            .provider
            .list_changes_page(&ChangesRequest::new(None))
            .await
        {
            Ok(page) => self.new_cursor(page.checkpoint),
            Err(e) if e.kind().is_auth() => return Err(Abort::Failed(e)),
            // Not fatal: the walk is still worth doing; the next incremental walks again.
            Err(e) => self.error(None, &e),
        }
        Ok(())
    }

    /// The stored `since` checkpoint (the newest last-seen time of the last complete window).
    fn stored_checkpoint(&self) -> Option<DateTime<Utc>> {
        let raw = self.record.cursor.as_deref()?;
        Some(DateTime::parse_from_rfc3339(raw).ok()?.with_timezone(&Utc))
    }

    /// A checkpoint minus the overlap that absorbs clock skew between provider and us.
    fn with_overlap(&self, checkpoint: DateTime<Utc>) -> DateTime<Utc> {
        chrono::Duration::from_std(self.orch.options.incremental_overlap)
            .ok()
            .and_then(|overlap| checkpoint.checked_sub_signed(overlap))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Where a full walk starts asking for identity changes: the start of the last complete
    /// full walk, which applied every change before it. Not `last_sync_at`: that also moves on
    /// runs that failed before applying any, and a change older than it would then be lost
    /// (the re-keyed device created anew and its old asset swept).
    fn rekeys_since(&self) -> Option<DateTime<Utc>> {
        self.record.last_full_sync_at
    }

    /// After a complete full walk, a `since` provider's next incremental run starts from the
    /// newest last-seen time the walk saw (the provider's clock, not ours).
    fn set_since_cursor_after_full_walk(&mut self) {
        let caps = self.provider.capabilities();
        if caps.list_devices_since
            && !caps.list_changes
            && self.tally.report.scopes_incomplete.is_empty()
        {
            let next = self.tally.max_last_seen.unwrap_or(self.ctx.now);
            let next = self.stored_checkpoint().map_or(next, |c| c.max(next));
            self.new_cursor(Some(next.to_rfc3339()));
        }
    }

    fn new_cursor(&mut self, cursor: Option<String>) {
        self.tally.pending_cursor = cursor;
    }

    async fn scope_sync(&mut self) -> std::result::Result<(), Abort> {
        if !self.provider.capabilities().list_scopes {
            return Ok(());
        }
        let scopes = self.provider.list_scopes().await.map_err(Abort::Failed)?;
        if !self.request.dry_run {
            self.orch
                .store
                .sync_scopes(
                    self.tenant,
                    self.record.integration_id,
                    &scopes,
                    true,
                    self.ctx.now,
                )
                .await
                .map_err(Abort::Failed)?;
        }
        Ok(())
    }

    async fn identity_changes(
        &mut self,
        since: Option<DateTime<Utc>>,
    ) -> std::result::Result<(), Abort> {
        if !self.provider.capabilities().identity_changes {
            return Ok(());
        }
        let changes = match self.provider.identity_changes(since).await {
            Ok(c) => c,
            Err(e) if e.kind().is_auth() => return Err(Abort::Failed(e)),
            Err(e) => {
                // Not fatal: without the re-keys, the listing still updates everything else.
                // But a re-keyed device would now look new and its old id gone: no sweep.
                self.error(None, &e);
                self.tally.no_sweep = Some(format!("identity changes could not be fetched: {e}"));
                return Ok(());
            }
        };
        let result = self
            .orch
            .engine
            .apply_identity_changes(&self.ctx, &changes)
            .await
            .map_err(Abort::Failed)?;
        self.absorb_rekeys(result);
        Ok(())
    }

    fn absorb_rekeys(&mut self, result: BatchResult) {
        let max = self.orch.options.max_report_errors;
        self.tally.absorb_rekeys(result, max);
    }

    /// The listings of a walk: one per scope that syncs assets (providers that list per scope),
    /// else one for the whole integration.
    async fn walk_plan(
        &mut self,
        since: Option<DateTime<Utc>>,
    ) -> std::result::Result<Vec<Listing>, Abort> {
        let caps = self.provider.capabilities();
        if !caps.list_devices {
            return Err(Abort::Failed(Error::unsupported("list_devices")));
        }
        let targets: Vec<Option<ExternalScopeId>> = if caps.list_devices_per_scope {
            let scopes = self
                .orch
                .store
                .list_scopes(self.tenant, self.record.integration_id)
                .await
                .map_err(Abort::Failed)?;
            scopes
                .into_iter()
                .filter(|s| s.vanished_at.is_none() && s.auto_sync_assets)
                .map(|s| Some(s.external_id))
                .collect()
        } else {
            vec![None]
        };
        self.emit_run_started(caps.list_devices_per_scope.then_some(targets.len()));
        Ok(targets
            .into_iter()
            .map(|scope| Listing::Walk { scope, since })
            .collect())
    }

    /// The request for a page of a walk (the first when `cursor` is `None`).
    fn page_request(
        &self,
        scope: Option<ExternalScopeId>,
        since: Option<DateTime<Utc>>,
        cursor: Option<Cursor>,
    ) -> DevicePageRequest {
        let page_size = self
            .orch
            .options
            .page_size
            .or(self.provider.capabilities().list_devices_max_page_size);
        DevicePageRequest::new(scope)
            .with_page_size(page_size)
            .with_since(since)
            .with_software(self.orch.options.include_software)
            .with_cursor(cursor)
    }

    /// Lists the targets, up to `scope_concurrency` at a time, and ingests their pages one by
    /// one as they arrive (fetching goes on while a page is ingested). A listing is complete
    /// when it reached its last page without an error.
    async fn list_targets(
        &mut self,
        targets: Vec<Option<ExternalScopeId>>,
        since: Option<DateTime<Utc>>,
    ) -> std::result::Result<(), Abort> {
        let source = self.provider_as_source();
        let requests: Vec<DevicePageRequest> = targets
            .iter()
            .map(|scope| self.page_request(scope.clone(), since, None))
            .collect();
        let mut events = read_ahead(
            listing_events(source, requests, self.orch.options.scope_concurrency),
            LISTING_READ_AHEAD,
        );
        let mut started = vec![false; targets.len()];
        let mut failed = vec![false; targets.len()];
        let mut next = events.next().await;
        while let Some(event) = next {
            self.check_cancel()?;
            let i = event.target();
            let scope = targets[i].clone();
            if !std::mem::replace(&mut started[i], true) {
                self.listing_started(&scope);
            }
            match event {
                ListingEvent::Page(_, Ok(page)) => {
                    let total = page.total;
                    let (result, following) = self
                        .ingest_while_fetching(page.devices, &mut events)
                        .await?;
                    next = following;
                    self.page_ingested(scope, total, result);
                    if self.request.cancel.is_cancelled() {
                        return Err(Abort::Cancelled);
                    }
                    continue;
                }
                ListingEvent::Page(_, Err(e)) if e.kind().is_auth() => {
                    return Err(Abort::Failed(e));
                }
                ListingEvent::Page(_, Err(e)) => {
                    // The listing stops here; the others go on.
                    self.listing_failed(scope.as_ref(), e);
                    failed[i] = true;
                }
                ListingEvent::End(_) => self.finish_listing(scope, !failed[i]),
            }
            next = events.next().await;
        }
        Ok(())
    }

    /// One page of `listing` from `cursor` (the first page when `None`), ingested: the unit of
    /// work of a durable page step. Errors are returned as they are; the executor decides
    /// whether to retry the page or to call [`Run::listing_failed`].
    ///
    /// `fetched` is the page, already fetched (a walk's page fetched ahead); `ahead` receives
    /// the fetch of the walk's following page, started before this one is ingested, when the
    /// caller asks for one.
    pub(super) async fn list_one_page(
        &mut self,
        listing: &Listing,
        cursor: Option<Cursor>,
        fetched: Option<Result<DevicePage>>,
        ahead: Option<&mut Option<PageAhead>>,
    ) -> std::result::Result<PageEnd, Abort> {
        match listing {
            Listing::Walk { scope, since } => {
                if cursor.is_none() {
                    self.listing_started(scope);
                }
                let page = match fetched {
                    Some(page) => page,
                    None => {
                        let request = self.page_request(scope.clone(), *since, cursor);
                        self.provider.list_devices_page(&request).await
                    }
                }
                .map_err(Abort::Failed)?;
                if let (Some(ahead), Some(next)) = (ahead, &page.next_cursor) {
                    let request = self.page_request(scope.clone(), *since, Some(next.clone()));
                    *ahead = PageAhead::start(
                        Arc::clone(&self.provider),
                        listing.clone(),
                        next.clone(),
                        request,
                    );
                }
                let result = self.ingest(page.devices).await?;
                self.page_ingested(scope.clone(), page.total, result);
                match page.next_cursor {
                    Some(c) => Ok(PageEnd::Next(c)),
                    None => {
                        self.finish_listing(scope.clone(), true);
                        Ok(PageEnd::Done)
                    }
                }
            }
            Listing::Changes { checkpoint } => {
                let mut request = ChangesRequest::new(Some(checkpoint.clone())).with_cursor(cursor);
                request.page_size = self.orch.options.page_size;
                self.changes_page(&request).await
            }
            Listing::Device { id } => {
                self.refresh_one(id).await?;
                Ok(PageEnd::Done)
            }
        }
    }

    fn listing_started(&mut self, scope: &Option<ExternalScopeId>) {
        self.tally.report.scopes_listed += 1;
        self.orch.emit(SyncEvent::ScopeStarted {
            scope: scope.clone(),
        });
    }

    fn page_ingested(
        &mut self,
        scope: Option<ExternalScopeId>,
        total: Option<u64>,
        result: BatchResult,
    ) {
        self.orch.emit(SyncEvent::PageIngested {
            scope,
            devices: result.outcomes.len(),
            total,
            counts: result.counts.clone(),
        });
        self.absorb(result);
    }

    /// A listing stopped on an error (after the executor's retries): it is incomplete, so
    /// nothing in its scope is swept; the other listings go on.
    pub(super) fn listing_failed(&mut self, scope: Option<&ExternalScopeId>, e: Error) {
        let e = match scope {
            Some(s) => e.with_context("scope", s),
            None => e,
        };
        self.error(None, &e);
    }

    pub(super) fn finish_listing(&mut self, scope: Option<ExternalScopeId>, complete: bool) {
        self.orch.emit(SyncEvent::ScopeFinished {
            scope: scope.clone(),
            complete,
        });
        self.tally.finish_listing(scope, complete);
    }

    /// Emits `RunStarted` unless it was emitted already: a walk knows its scope count only
    /// after the scope sync, and an incremental run may fall back from deltas to a walk.
    fn emit_run_started(&mut self, scopes: Option<usize>) {
        if !self.run_started {
            self.run_started = true;
            self.orch.emit(SyncEvent::RunStarted {
                mode: self.request.mode,
                scopes,
            });
        }
    }

    fn provider_as_source(&self) -> Arc<dyn crate::provider::DeviceSnapshotSource> {
        Arc::new(SourceOf(Arc::clone(&self.provider)))
    }

    /// Ingests devices not yet seen in this run.
    pub(super) async fn ingest(
        &mut self,
        devices: Vec<DeviceSnapshot>,
    ) -> std::result::Result<BatchResult, Abort> {
        let mut fresh = Vec::with_capacity(devices.len());
        for d in devices {
            if self.seen.insert(d.external_id.clone()) {
                if let Some(log) = &mut self.newly_seen {
                    log.push(d.external_id.clone());
                }
                if let Some(t) = d.last_seen_at.value() {
                    self.tally.saw_last_seen(*t);
                }
                fresh.push(d);
            }
        }
        self.lease.ensure_held().await.map_err(Abort::Failed)?;
        self.orch
            .engine
            .ingest(&self.ctx, fresh)
            .await
            .map_err(Abort::Failed)
    }

    /// Ingests a page while the next listing event is fetched, so provider latency and store
    /// work overlap. Pages are still ingested one at a time. When ingestion fails, the fetch in
    /// flight is dropped at once.
    async fn ingest_while_fetching(
        &mut self,
        devices: Vec<DeviceSnapshot>,
        events: &mut BoxStream<'static, ListingEvent>,
    ) -> std::result::Result<(BatchResult, Option<ListingEvent>), Abort> {
        let fetch = events.next();
        let ingest = self.ingest(devices);
        futures::pin_mut!(fetch, ingest);
        match future::select(ingest, fetch).await {
            Either::Left((result, fetch)) => Ok((result?, fetch.await)),
            Either::Right((following, ingest)) => Ok((ingest.await?, following)),
        }
    }

    /// One delta window from `checkpoint`, page after page.
    async fn changes(&mut self, checkpoint: String) -> std::result::Result<(), Abort> {
        let mut request = ChangesRequest::new(Some(checkpoint));
        request.page_size = self.orch.options.page_size;
        loop {
            self.check_cancel()?;
            match self.changes_page(&request).await? {
                PageEnd::Next(c) => request = request.with_cursor(Some(c)),
                PageEnd::Done => return Ok(()),
            }
        }
    }

    /// One page of a delta window: re-keys, then devices, then explicit deletions.
    async fn changes_page(
        &mut self,
        request: &ChangesRequest,
    ) -> std::result::Result<PageEnd, Abort> {
        let page = self
            .provider
            .list_changes_page(request)
            .await
            .map_err(Abort::Failed)?;
        if !page.identity_changes.is_empty() {
            let r = self
                .orch
                .engine
                .apply_identity_changes(&self.ctx, &page.identity_changes)
                .await
                .map_err(Abort::Failed)?;
            self.absorb_rekeys(r);
        }
        let r = self.ingest(page.devices).await?;
        self.absorb(r);
        if !page.deleted.is_empty() {
            let r = self
                .orch
                .engine
                .tombstone(&self.ctx, page.deleted)
                .await
                .map_err(Abort::Failed)?;
            self.absorb(r);
        }
        if page.checkpoint.is_some() {
            self.tally.window_end = page.checkpoint;
        }
        Ok(match page.next_cursor {
            Some(c) => PageEnd::Next(c),
            None => PageEnd::Done,
        })
    }

    /// Re-fetches devices that failed in earlier runs (incremental runs only: a full listing
    /// retries them anyway).
    async fn retry_failed(&mut self) -> std::result::Result<(), Abort> {
        if !self.provider.capabilities().get_device {
            return Ok(());
        }
        let failed = self
            .orch
            .store
            .failed_devices(self.tenant, self.record.integration_id)
            .await
            .map_err(Abort::Failed)?;
        for f in failed
            .into_iter()
            .take(self.orch.options.max_failed_retries)
        {
            self.check_cancel()?;
            if self.seen.contains(&f.external_id) {
                continue;
            }
            self.refresh_one(&f.external_id).await?;
        }
        Ok(())
    }

    async fn refresh_one(&mut self, id: &ExternalDeviceId) -> std::result::Result<(), Abort> {
        match self.provider.get_device(id).await {
            Ok(Some(snapshot)) => {
                let r = self.ingest(vec![snapshot]).await?;
                self.absorb(r);
            }
            Ok(None) => {
                if self.seen.insert(id.clone())
                    && let Some(log) = &mut self.newly_seen
                {
                    log.push(id.clone());
                }
                let r = self
                    .orch
                    .engine
                    .tombstone(&self.ctx, vec![(id.clone(), None)])
                    .await
                    .map_err(Abort::Failed)?;
                self.absorb(r);
            }
            Err(e) if e.kind().is_auth() => return Err(Abort::Failed(e)),
            Err(e) => {
                self.tally.push_failed(id.clone(), e.to_string());
                self.error(Some(id.clone()), &e);
            }
        }
        Ok(())
    }

    /// Mark-and-sweep: devices the store has live in a completely listed scope but nobody saw
    /// in this run are tombstoned, unless the circuit breaker holds the sweep back.
    async fn sweep(&mut self) -> std::result::Result<(), Abort> {
        if !self.provider.capabilities().deletion_detection {
            return Ok(());
        }
        if self.tally.no_sweep.is_none() && !self.tally.report.scopes_incomplete.is_empty() {
            // A device that moved into a scope whose listing failed was not seen anywhere; its
            // old scope must not tombstone it. Complete scopes are swept on the next good run.
            self.tally.no_sweep = Some(format!(
                "{} scope listing(s) did not complete",
                self.tally.report.scopes_incomplete.len()
            ));
        }
        if let Some(reason) = &self.tally.no_sweep {
            tracing::warn!(reason = %reason, "no devices swept in this run");
            self.tally.report.sweep_skipped = Some(reason.clone());
            return Ok(());
        }
        let sweepable: Vec<ExternalScopeId> = if self.tally.whole_listing_complete {
            self.orch
                .store
                .list_scopes(self.tenant, self.record.integration_id)
                .await
                .map_err(Abort::Failed)?
                .into_iter()
                .map(|s| s.external_id)
                .collect()
        } else {
            self.tally.complete_scopes.clone()
        };
        for scope in sweepable {
            self.check_cancel()?;
            let live = self
                .orch
                .store
                .live_device_ids(self.tenant, self.record.integration_id, &scope)
                .await
                .map_err(Abort::Failed)?;
            let missing: Vec<ExternalDeviceId> = live
                .iter()
                .filter(|id| !self.seen.contains(id))
                .cloned()
                .collect();
            if missing.is_empty() {
                continue;
            }
            let known = live.len() as u64;
            let share = missing.len() as f64 / known as f64;
            if known >= self.orch.options.sweep_min_scope_size
                && share > self.orch.options.sweep_max_share
            {
                tracing::warn!(scope = %scope, known, would_tombstone = missing.len(), "sweep held back by the circuit breaker");
                self.tally.report.held_back_sweeps.push(HeldBackSweep {
                    scope,
                    known,
                    would_tombstone: missing.len() as u64,
                });
                continue;
            }
            let devices = missing
                .into_iter()
                .map(|id| (id, Some(scope.clone())))
                .collect();
            self.lease.ensure_held().await.map_err(Abort::Failed)?;
            let r = self
                .orch
                .engine
                .tombstone(&self.ctx, devices)
                .await
                .map_err(Abort::Failed)?;
            self.absorb(r);
        }
        Ok(())
    }

    fn absorb(&mut self, result: BatchResult) {
        let max = self.orch.options.max_report_errors;
        self.tally.absorb(result, max);
    }

    pub(super) fn error(&mut self, device: Option<ExternalDeviceId>, e: &Error) {
        let max = self.orch.options.max_report_errors;
        self.tally.error(device, e, max);
    }

    pub(super) fn check_cancel(&self) -> std::result::Result<(), Abort> {
        if self.request.cancel.is_cancelled() {
            Err(Abort::Cancelled)
        } else {
            Ok(())
        }
    }

    async fn state(&self, update: SyncStateUpdate) -> std::result::Result<(), Abort> {
        self.orch
            .store
            .update_sync_state(self.tenant, self.record.integration_id, &update)
            .await
            .map_err(Abort::Failed)
    }

    /// Phase 4: status lifecycle, agent-status re-evaluation, failed-device bookkeeping,
    /// history.
    pub(super) async fn finish(
        &mut self,
        result: std::result::Result<(), Abort>,
    ) -> Result<RunReport> {
        let store = &self.orch.store;
        let integration = self.record.integration_id;
        match result {
            Ok(()) => {
                self.tally.report.status =
                    if self.tally.total_errors > 0 || self.tally.report.counts.failed > 0 {
                        RunStatus::CompletedWithErrors
                    } else {
                        RunStatus::Completed
                    };
            }
            Err(Abort::Cancelled) => self.tally.report.status = RunStatus::Cancelled,
            Err(Abort::Failed(e)) => {
                self.tally.report.status = RunStatus::Failed;
                self.error(None, &e);
            }
        }
        let report = &self.tally.report;
        // A run whose lease was taken over leaves the integration's state to the new holder.
        let dry = self.request.dry_run || !self.lease.still_held();
        let finished_ok = matches!(
            report.status,
            RunStatus::Completed | RunStatus::CompletedWithErrors
        );
        // Every scope was listed to its last page: a device not seen is gone from the provider.
        let complete_full_listing = finished_ok
            && (report.mode == RunMode::Full || report.fell_back_to_full)
            && report.scopes_incomplete.is_empty();
        if !dry && report.status != RunStatus::Failed {
            // Time alone makes devices stale; every known device is re-evaluated every run.
            self.tally.report.agent_status_changes = store
                .reevaluate_agent_status(
                    self.tenant,
                    integration,
                    &self.ctx.thresholds,
                    self.ctx.now,
                )
                .await?;
        }
        if !dry {
            let previously: Vec<ExternalDeviceId> = store
                .failed_devices(self.tenant, integration)
                .await?
                .into_iter()
                .map(|f| f.external_id)
                .collect();
            let failed_ids: HashSet<&ExternalDeviceId> =
                self.tally.failed.iter().map(|(id, _)| id).collect();
            // Retried successfully, or gone from a complete listing: nothing left to retry.
            let succeeded: Vec<ExternalDeviceId> = previously
                .into_iter()
                .filter(|id| {
                    !failed_ids.contains(id) && (complete_full_listing || self.seen.contains(id))
                })
                .collect();
            store
                .update_failed_devices(
                    self.tenant,
                    integration,
                    &self.tally.failed,
                    &succeeded,
                    self.ctx.now,
                )
                .await?;
        }
        self.tally.report.finished_at = now_micros();
        let report = &self.tally.report;
        if !dry {
            let mut update = SyncStateUpdate {
                last_sync_at: Some(report.started_at),
                ..Default::default()
            };
            match report.status {
                RunStatus::Failed => {
                    update.sync_status = Some(SyncStatus::Error);
                    update.sync_error = Some(Some(self.sync_error_text()));
                }
                RunStatus::Cancelled => {
                    update.sync_status = Some(SyncStatus::Error);
                    update.sync_error = Some(Some("the run was cancelled".into()));
                }
                RunStatus::Completed | RunStatus::CompletedWithErrors => {
                    update.sync_status = Some(SyncStatus::Completed);
                    update.sync_error = Some(
                        (report.status == RunStatus::CompletedWithErrors)
                            .then(|| self.sync_error_text()),
                    );
                    if complete_full_listing {
                        update.last_full_sync_at = Some(report.started_at);
                    }
                    if report.mode == RunMode::Incremental {
                        update.last_incremental_sync_at = Some(report.started_at);
                    }
                    // The cursor only advances when the whole window succeeded.
                    if report.scopes_incomplete.is_empty() && self.tally.pending_cursor.is_some() {
                        update.cursor = Some(self.tally.pending_cursor.clone());
                    }
                }
            }
            store
                .update_sync_state(self.tenant, integration, &update)
                .await?;
            store.record_run(self.tenant, report).await?;
        }
        tracing::info!(
            integration = %integration,
            mode = report.mode.as_str(),
            status = ?report.status,
            seen = report.counts.seen,
            created = report.counts.created,
            updated = report.counts.updated,
            unchanged = report.counts.unchanged,
            failed = report.counts.failed,
            "sync run finished"
        );
        // A run that failed before it listed anything still opens with `RunStarted`.
        self.emit_run_started(None);
        self.orch.emit(SyncEvent::RunFinished {
            report: Box::new(self.tally.report.clone()),
        });
        Ok(self.tally.report.clone())
    }

    fn sync_error_text(&self) -> String {
        let n = self.orch.options.sync_error_causes;
        let mut parts: Vec<String> = self
            .tally
            .report
            .errors
            .iter()
            .take(n)
            .map(|e| e.to_string())
            .collect();
        let more = self.tally.total_errors.saturating_sub(parts.len() as u64);
        if more > 0 {
            parts.push(format!("… and {more} more"));
        }
        parts.join("; ")
    }
}

/// Adapts an `Arc<dyn RmmProvider>` to the listing trait object the paging helper takes.
#[derive(Debug)]
struct SourceOf(Arc<dyn RmmProvider>);

#[async_trait::async_trait]
impl crate::provider::DeviceSnapshotSource for SourceOf {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        self.0.list_devices_page(request).await
    }
}

/// What the merged listings yield: a page (or the error that ended a listing) of target `i`,
/// then the end of target `i`'s listing.
enum ListingEvent {
    Page(usize, Result<DevicePage>),
    End(usize),
}

impl ListingEvent {
    fn target(&self) -> usize {
        match self {
            ListingEvent::Page(i, _) | ListingEvent::End(i) => *i,
        }
    }
}

/// Every target's pages, up to `concurrency` listings in flight at once (at least one), each
/// followed by its `End`. Memory stays bounded: each listing holds at most one fetched page.
fn listing_events(
    source: Arc<dyn crate::provider::DeviceSnapshotSource>,
    requests: Vec<DevicePageRequest>,
    concurrency: usize,
) -> BoxStream<'static, ListingEvent> {
    futures::stream::iter(requests.into_iter().enumerate())
        .map(move |(i, request)| {
            device_pages(Arc::clone(&source), request)
                .map(move |page| ListingEvent::Page(i, page))
                .chain(futures::stream::iter([ListingEvent::End(i)]))
        })
        .flatten_unordered(concurrency.max(1))
        .boxed()
}
