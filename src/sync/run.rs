//! One run of one integration, start to finish.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::{self, Either};
use futures::stream::BoxStream;

use super::lease::HeldLease;
use super::orchestrator::{RunRequest, SyncOrchestrator};
use super::progress::SyncEvent;
use super::read_ahead::read_ahead;
use super::report::{HeldBackSweep, RunMode, RunReport, RunStatus};
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::{BatchResult, IngestContext, now_micros};
use crate::model::{
    DeviceError, DeviceSnapshot, ExternalDeviceId, ExternalScopeId, Outcome, RunId, TenantId,
};
use crate::provider::{ChangesRequest, DevicePage, DevicePageRequest, RmmProvider, device_pages};
use crate::store::{IntegrationRecord, SyncStateUpdate, SyncStatus};

/// Decoded pages that may wait for the engine while the listing task fetches on: enough to
/// keep both cores busy, few enough that memory stays a few pages' worth.
const LISTING_READ_AHEAD: usize = 2;

/// Why a run stopped early.
enum Abort {
    Failed(Error),
    Cancelled,
}

/// The state of one run.
pub(super) struct Run<'a> {
    orch: &'a SyncOrchestrator,
    tenant: TenantId,
    record: IntegrationRecord,
    provider: Arc<dyn RmmProvider>,
    request: RunRequest,
    ctx: IngestContext,
    report: RunReport,
    /// Devices seen in this run: a device listed in two scopes is ingested once, and sweeps
    /// never tombstone a device seen anywhere.
    seen: HashSet<ExternalDeviceId>,
    failed: Vec<(ExternalDeviceId, String)>,
    /// Scopes whose listing reached its last page.
    complete_scopes: Vec<ExternalScopeId>,
    whole_listing_complete: bool,
    max_last_seen: Option<DateTime<Utc>>,
    /// The checkpoint to store if the run succeeds.
    pending_cursor: Option<String>,
    total_errors: u64,
    /// `RunStarted` was emitted (exactly once per run, with the scope count when known).
    run_started: bool,
    /// The run lease, renewed while the run executes.
    lease: HeldLease,
    /// Why this run must not sweep even complete scopes (a failed listing elsewhere may hide a
    /// device that moved there; a failed identity-change fetch may hide a re-key).
    no_sweep: Option<String>,
}

impl<'a> Run<'a> {
    pub(super) async fn start(
        orch: &'a SyncOrchestrator,
        tenant: TenantId,
        record: IntegrationRecord,
        provider: Arc<dyn RmmProvider>,
        request: RunRequest,
    ) -> Result<RunReport> {
        let run_id = RunId::new_v7();
        let started = now_micros();
        let integration = record.integration_id;
        let lease = HeldLease::acquire(
            Arc::clone(&orch.store),
            tenant,
            integration,
            run_id.to_string(),
            orch.options.lease_ttl,
        )
        .await?;
        let ctx = IngestContext::new(tenant, record.provider.clone(), integration)
            .with_thresholds(provider.agent_status_thresholds())
            .with_cross_provider_matching(orch.options.cross_provider_matching)
            .with_dry_run(request.dry_run)
            .at(started);
        let report = RunReport {
            run_id,
            started_at: started,
            finished_at: started,
            plan: request.dry_run.then(Default::default),
            ..RunReport::new(integration, record.provider.clone(), request.mode)
        };
        let mut run = Run {
            orch,
            tenant,
            record,
            provider,
            request,
            ctx,
            report,
            seen: HashSet::new(),
            failed: Vec::new(),
            complete_scopes: Vec::new(),
            whole_listing_complete: false,
            max_last_seen: None,
            pending_cursor: None,
            lease,
            no_sweep: None,
            total_errors: 0,
            run_started: false,
        };
        let result = {
            // The lease is renewed on its own timer for as long as the run executes; a lease
            // taken over by another run ends this one at once.
            let lease = run.lease.clone();
            let renewals = lease.keep_renewed();
            let execute = run.execute();
            futures::pin_mut!(renewals, execute);
            match future::select(execute, renewals).await {
                Either::Left((result, _)) => result,
                Either::Right((lost, _)) => Err(Abort::Failed(lost)),
            }
        };
        let finished = run.finish(result).await;
        // Release even when finishing failed; a lost release only delays the next run by the TTL.
        let released = run.lease.release().await;
        let report = finished?;
        released?;
        Ok(report)
    }

    async fn execute(&mut self) -> std::result::Result<(), Abort> {
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
                self.device_run().await
            }
            RunMode::Scopes => {
                self.emit_run_started(None);
                self.scope_sync().await
            }
            RunMode::Full => {
                self.scope_sync().await?;
                self.identity_changes(self.rekeys_since()).await?;
                self.capture_checkpoint().await?;
                self.walk(None).await?;
                self.set_since_cursor_after_full_walk();
                self.sweep().await
            }
            RunMode::Incremental => self.incremental().await,
        }
    }

    async fn incremental(&mut self) -> std::result::Result<(), Abort> {
        let caps = self.provider.capabilities();
        self.scope_sync().await?;
        // Without a usable checkpoint there is no window to read: walk fully; the walk captures
        // the change log's head first, so the next incremental run reads from there.
        if caps.list_changes
            && let Some(checkpoint) = self.record.cursor.clone()
        {
            match self.changes(Some(checkpoint)).await {
                Ok(()) => return self.retry_failed().await,
                Err(Abort::Failed(e))
                    if matches!(e.kind(), ErrorKind::CursorExpired | ErrorKind::Unsupported) =>
                {
                    tracing::info!(error = %e, "delta window unusable; falling back to a full walk");
                }
                Err(other) => return Err(other),
            }
        } else if caps.list_devices_since
            && let Some(checkpoint) = self.stored_checkpoint()
        {
            let since = self.with_overlap(checkpoint);
            self.identity_changes(Some(since)).await?;
            self.walk(Some(since)).await?;
            if self.report.scopes_incomplete.is_empty() {
                // Never behind the stored checkpoint: an empty window would otherwise walk it
                // back by the overlap on every run.
                let next = self.max_last_seen.map_or(checkpoint, |m| m.max(checkpoint));
                self.new_cursor(Some(next.to_rfc3339()));
            }
            return self.retry_failed().await;
        }
        // No deltas (or no checkpoint yet): a full walk with diffing, which may sweep.
        self.report.fell_back_to_full = true;
        self.identity_changes(self.rekeys_since()).await?;
        self.capture_checkpoint().await?;
        self.walk(None).await?;
        self.set_since_cursor_after_full_walk();
        self.sweep().await
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
        if caps.list_devices_since && !caps.list_changes && self.report.scopes_incomplete.is_empty()
        {
            let next = self.max_last_seen.unwrap_or(self.ctx.now);
            let next = self.stored_checkpoint().map_or(next, |c| c.max(next));
            self.new_cursor(Some(next.to_rfc3339()));
        }
    }

    fn new_cursor(&mut self, cursor: Option<String>) {
        self.pending_cursor = cursor;
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
                self.no_sweep = Some(format!("identity changes could not be fetched: {e}"));
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

    /// Re-keys are not devices seen: count them apart, report only their problems.
    fn absorb_rekeys(&mut self, result: BatchResult) {
        for o in result.outcomes {
            match o.outcome {
                Outcome::Updated => self.report.rekeyed += 1,
                Outcome::Failed { error } => self.push_error(error),
                Outcome::Ambiguous { candidates } => self.push_error(DeviceError {
                    device: Some(o.external_id),
                    kind: ErrorKind::Conflict,
                    message: format!(
                        "identity change onto an id that already has its own asset; assets {candidates:?} need a manual merge"
                    ),
                }),
                _ => {}
            }
        }
    }

    /// Lists devices (per scope, or the whole integration) and ingests page by page.
    async fn walk(&mut self, since: Option<DateTime<Utc>>) -> std::result::Result<(), Abort> {
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
        self.list_targets(targets, since).await
    }

    /// Lists the targets, up to `scope_concurrency` at a time, and ingests their pages one by
    /// one as they arrive (fetching goes on while a page is ingested). A listing is complete
    /// when it reached its last page without an error.
    async fn list_targets(
        &mut self,
        targets: Vec<Option<ExternalScopeId>>,
        since: Option<DateTime<Utc>>,
    ) -> std::result::Result<(), Abort> {
        let page_size = self
            .orch
            .options
            .page_size
            .or(self.provider.capabilities().list_devices_max_page_size);
        let source = self.provider_as_source();
        let requests: Vec<DevicePageRequest> = targets
            .iter()
            .map(|scope| {
                DevicePageRequest::new(scope.clone())
                    .with_page_size(page_size)
                    .with_since(since)
                    .with_software(self.orch.options.include_software)
            })
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
                self.report.scopes_listed += 1;
                self.orch.emit(SyncEvent::ScopeStarted {
                    scope: scope.clone(),
                });
            }
            match event {
                ListingEvent::Page(_, Ok(page)) => {
                    let total = page.total;
                    let (result, following) = self
                        .ingest_while_fetching(page.devices, &mut events)
                        .await?;
                    next = following;
                    self.orch.emit(SyncEvent::PageIngested {
                        scope,
                        devices: result.outcomes.len(),
                        total,
                        counts: result.counts.clone(),
                    });
                    self.absorb(result);
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
                    let e = match &scope {
                        Some(s) => e.with_context("scope", s),
                        None => e,
                    };
                    self.error(None, &e);
                    failed[i] = true;
                }
                ListingEvent::End(_) => self.finish_listing(scope, !failed[i]),
            }
            next = events.next().await;
        }
        Ok(())
    }

    fn finish_listing(&mut self, scope: Option<ExternalScopeId>, complete: bool) {
        self.orch.emit(SyncEvent::ScopeFinished {
            scope: scope.clone(),
            complete,
        });
        match (complete, scope) {
            (true, Some(s)) => self.complete_scopes.push(s),
            (true, None) => self.whole_listing_complete = true,
            (false, Some(s)) => self.report.scopes_incomplete.push(s),
            (false, None) => self
                .report
                .scopes_incomplete
                .push(ExternalScopeId::new("*")),
        }
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
    async fn ingest(
        &mut self,
        devices: Vec<DeviceSnapshot>,
    ) -> std::result::Result<BatchResult, Abort> {
        let mut fresh = Vec::with_capacity(devices.len());
        for d in devices {
            if self.seen.insert(d.external_id.clone()) {
                if let Some(t) = d.last_seen_at.value() {
                    self.max_last_seen = Some(self.max_last_seen.map_or(*t, |m| m.max(*t)));
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

    /// One delta window from `checkpoint` (`None`: a window that starts now).
    async fn changes(&mut self, checkpoint: Option<String>) -> std::result::Result<(), Abort> {
        self.emit_run_started(None);
        let mut request = ChangesRequest::new(checkpoint);
        request.page_size = self.orch.options.page_size;
        let mut window_end = None;
        loop {
            self.check_cancel()?;
            let page = self
                .provider
                .list_changes_page(&request)
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
                window_end = page.checkpoint;
            }
            match page.next_cursor {
                Some(c) => request = request.with_cursor(Some(c)),
                None => break,
            }
        }
        if window_end.is_some() {
            self.new_cursor(window_end);
        }
        Ok(())
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

    async fn device_run(&mut self) -> std::result::Result<(), Abort> {
        let id = self.request.device.clone().expect("checked by run()");
        if !self.provider.capabilities().get_device {
            return Err(Abort::Failed(Error::unsupported("get_device")));
        }
        self.refresh_one(&id).await
    }

    async fn refresh_one(&mut self, id: &ExternalDeviceId) -> std::result::Result<(), Abort> {
        match self.provider.get_device(id).await {
            Ok(Some(snapshot)) => {
                let r = self.ingest(vec![snapshot]).await?;
                self.absorb(r);
            }
            Ok(None) => {
                self.seen.insert(id.clone());
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
                self.failed.push((id.clone(), e.to_string()));
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
        if self.no_sweep.is_none() && !self.report.scopes_incomplete.is_empty() {
            // A device that moved into a scope whose listing failed was not seen anywhere; its
            // old scope must not tombstone it. Complete scopes are swept on the next good run.
            self.no_sweep = Some(format!(
                "{} scope listing(s) did not complete",
                self.report.scopes_incomplete.len()
            ));
        }
        if let Some(reason) = &self.no_sweep {
            tracing::warn!(reason = %reason, "no devices swept in this run");
            self.report.sweep_skipped = Some(reason.clone());
            return Ok(());
        }
        let sweepable: Vec<ExternalScopeId> = if self.whole_listing_complete {
            self.orch
                .store
                .list_scopes(self.tenant, self.record.integration_id)
                .await
                .map_err(Abort::Failed)?
                .into_iter()
                .map(|s| s.external_id)
                .collect()
        } else {
            self.complete_scopes.clone()
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
                .filter(|id| !self.seen.contains(*id))
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
                self.report.held_back_sweeps.push(HeldBackSweep {
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
        self.report.counts.add(&result.counts);
        let cap = self.orch.options.max_report_errors * 10;
        for o in result.outcomes {
            if let Some(plan) = &mut self.report.plan {
                let list = match &o.outcome {
                    Outcome::Created => Some(&mut plan.created),
                    Outcome::Updated | Outcome::Restored => Some(&mut plan.updated),
                    Outcome::Moved { .. } => Some(&mut plan.moved),
                    Outcome::Tombstoned => Some(&mut plan.tombstoned),
                    _ => None,
                };
                if let Some(list) = list.filter(|l| l.len() < cap) {
                    list.push(o.external_id.clone());
                }
            }
            match o.outcome {
                Outcome::Skipped { reason } => {
                    *self
                        .report
                        .skipped_reasons
                        .entry(reason.as_str().to_owned())
                        .or_default() += 1;
                }
                Outcome::Failed { error } => {
                    self.failed
                        .push((o.external_id.clone(), error.message.clone()));
                    self.push_error(error);
                }
                _ => {}
            }
        }
    }

    fn error(&mut self, device: Option<ExternalDeviceId>, e: &Error) {
        tracing::warn!(device = ?device, error = %e, "sync error");
        self.push_error(DeviceError {
            device,
            kind: e.kind(),
            message: e.to_string(),
        });
    }

    fn push_error(&mut self, error: DeviceError) {
        self.total_errors += 1;
        if self.report.errors.len() < self.orch.options.max_report_errors {
            self.report.errors.push(error);
        } else {
            self.report.errors_truncated += 1;
        }
    }

    fn check_cancel(&self) -> std::result::Result<(), Abort> {
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

    /// Status lifecycle, agent-status re-evaluation, failed-device bookkeeping, history.
    async fn finish(&mut self, result: std::result::Result<(), Abort>) -> Result<RunReport> {
        let store = &self.orch.store;
        let integration = self.record.integration_id;
        match result {
            Ok(()) => {
                self.report.status = if self.total_errors > 0 || self.report.counts.failed > 0 {
                    RunStatus::CompletedWithErrors
                } else {
                    RunStatus::Completed
                };
            }
            Err(Abort::Cancelled) => self.report.status = RunStatus::Cancelled,
            Err(Abort::Failed(e)) => {
                self.report.status = RunStatus::Failed;
                self.error(None, &e);
            }
        }
        // A run whose lease was taken over leaves the integration's state to the new holder.
        let dry = self.request.dry_run || !self.lease.still_held();
        let finished_ok = matches!(
            self.report.status,
            RunStatus::Completed | RunStatus::CompletedWithErrors
        );
        // Every scope was listed to its last page: a device not seen is gone from the provider.
        let complete_full_listing = finished_ok
            && (self.request.mode == RunMode::Full || self.report.fell_back_to_full)
            && self.report.scopes_incomplete.is_empty();
        if !dry && self.report.status != RunStatus::Failed {
            // Time alone makes devices stale; every known device is re-evaluated every run.
            self.report.agent_status_changes = store
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
                self.failed.iter().map(|(id, _)| id).collect();
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
                    &self.failed,
                    &succeeded,
                    self.ctx.now,
                )
                .await?;
        }
        self.report.finished_at = now_micros();
        if !dry {
            let mut update = SyncStateUpdate {
                last_sync_at: Some(self.report.started_at),
                ..Default::default()
            };
            match self.report.status {
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
                        (self.report.status == RunStatus::CompletedWithErrors)
                            .then(|| self.sync_error_text()),
                    );
                    if complete_full_listing {
                        update.last_full_sync_at = Some(self.report.started_at);
                    }
                    if self.request.mode == RunMode::Incremental {
                        update.last_incremental_sync_at = Some(self.report.started_at);
                    }
                    // The cursor only advances when the whole window succeeded.
                    if self.report.scopes_incomplete.is_empty() && self.pending_cursor.is_some() {
                        update.cursor = Some(self.pending_cursor.clone());
                    }
                }
            }
            store
                .update_sync_state(self.tenant, integration, &update)
                .await?;
            store.record_run(self.tenant, &self.report).await?;
        }
        tracing::info!(
            integration = %integration,
            mode = self.report.mode.as_str(),
            status = ?self.report.status,
            seen = self.report.counts.seen,
            created = self.report.counts.created,
            updated = self.report.counts.updated,
            unchanged = self.report.counts.unchanged,
            failed = self.report.counts.failed,
            "sync run finished"
        );
        // A run that failed before it listed anything still opens with `RunStarted`.
        self.emit_run_started(None);
        self.orch.emit(SyncEvent::RunFinished {
            report: Box::new(self.report.clone()),
        });
        Ok(self.report.clone())
    }

    fn sync_error_text(&self) -> String {
        let n = self.orch.options.sync_error_causes;
        let mut parts: Vec<String> = self
            .report
            .errors
            .iter()
            .take(n)
            .map(|e| e.to_string())
            .collect();
        let more = self.total_errors.saturating_sub(parts.len() as u64);
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
    async fn list_devices_page(
        &self,
        request: &DevicePageRequest,
    ) -> Result<crate::provider::DevicePage> {
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
