//! The ingestion engine: correlate a batch (a narrow digest that settles unchanged devices, then
//! one full correlation for the rest), decide every device, and write the batch in one
//! transaction, isolating devices that fail.
//!
//! The decisions follow the ingestion contract in `docs/architecture.md`:
//! identity by mapping whatever the scope (moves stay one asset), adoption of unmapped assets,
//! identity changes, optional cross-provider matching with ambiguity reported, dangling mappings
//! repaired; `unchanged` devices (equal fingerprint) cost no write at all; absent fields are
//! left alone and null fields cleared; host edits win over provider values.

mod fingerprint;
pub mod identity;
mod plan;
mod settle;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

pub use fingerprint::fingerprint;

use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, DeviceOutcome, DeviceSnapshot, ExternalDeviceId, ExternalScopeId,
    IdentityChange, IntegrationId, OutcomeCounts, ProviderId, TenantId,
};
use crate::store::{AssetStore, Correlation, CorrelationQuery, DeviceWrite};
use plan::{Decision, Index};

/// Who a batch belongs to and when it is applied.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestContext {
    /// Tenant.
    pub tenant: TenantId,
    /// Provider of every snapshot in the batch.
    pub provider: ProviderId,
    /// Integration of every snapshot in the batch.
    pub integration_id: IntegrationId,
    /// How last-seen age maps to agent status.
    pub thresholds: AgentStatusThresholds,
    /// Try cross-provider matching (serial, MAC, system UUID) before creating an asset.
    pub cross_provider_matching: bool,
    /// Plan only: decide every outcome, write nothing.
    pub dry_run: bool,
    /// The time written into `last_rmm_sync_at` / `updated_at` (microsecond precision, so it
    /// survives every store's timestamp type).
    pub now: DateTime<Utc>,
}

impl IngestContext {
    /// A context stamped with the current time.
    pub fn new(tenant: TenantId, provider: ProviderId, integration_id: IntegrationId) -> Self {
        Self {
            tenant,
            provider,
            integration_id,
            thresholds: AgentStatusThresholds::default(),
            cross_provider_matching: false,
            dry_run: false,
            now: now_micros(),
        }
    }

    /// Sets the agent-status thresholds.
    pub fn with_thresholds(mut self, thresholds: AgentStatusThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }

    /// Turns cross-provider matching on or off.
    pub fn with_cross_provider_matching(mut self, on: bool) -> Self {
        self.cross_provider_matching = on;
        self
    }

    /// Plan only (outcomes are what a real run would do; nothing is written).
    pub fn with_dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }

    /// Sets the clock (tests, replays).
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.now = truncate_micros(now);
        self
    }
}

/// The current time, truncated to microseconds.
pub fn now_micros() -> DateTime<Utc> {
    truncate_micros(Utc::now())
}

fn truncate_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(t)
}

/// Engine tuning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineOptions {
    /// Devices per store transaction. Default 1000: large enough to amortise round trips,
    /// small enough to keep transactions short and memory flat.
    pub batch_size: usize,
    /// Attempts for a batch whose store call fails with a retryable error. Default 3.
    pub store_attempts: u32,
    /// First backoff between those attempts (doubled each time). Default 200 ms.
    #[serde(with = "millis")]
    pub store_backoff: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            store_attempts: 3,
            store_backoff: Duration::from_millis(200),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The outcome of one batch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchResult {
    /// One outcome per distinct device, in input order.
    pub outcomes: Vec<DeviceOutcome>,
    /// Their counts.
    pub counts: OutcomeCounts,
}

impl BatchResult {
    fn push(&mut self, d: Decision) {
        self.counts.record(&d.outcome);
        self.outcomes.push(DeviceOutcome {
            external_id: d.external_id,
            asset_id: d.asset_id,
            outcome: d.outcome,
        });
    }

    /// Appends another result.
    pub fn extend(&mut self, other: BatchResult) {
        self.counts.add(&other.counts);
        self.outcomes.extend(other.outcomes);
    }
}

/// The engine. Cheap to clone; holds the store.
#[derive(Clone, Debug)]
pub struct IngestionEngine {
    store: Arc<dyn AssetStore>,
    options: EngineOptions,
}

impl IngestionEngine {
    /// An engine over a store with default options.
    pub fn new(store: Arc<dyn AssetStore>) -> Self {
        Self::with_options(store, EngineOptions::default())
    }

    /// An engine with explicit options.
    pub fn with_options(store: Arc<dyn AssetStore>, options: EngineOptions) -> Self {
        let mut options = options;
        if let Some(max) = store.capabilities().max_batch_size {
            options.batch_size = options.batch_size.min(max);
        }
        options.batch_size = options.batch_size.max(1);
        options.store_attempts = options.store_attempts.max(1);
        Self { store, options }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn AssetStore> {
        &self.store
    }

    /// The options in force.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Ingests snapshots. A device listed twice counts once (the last snapshot wins). Returns
    /// `Err` only when the store is unusable for the whole batch; device problems are
    /// `failed` outcomes.
    pub async fn ingest(
        &self,
        ctx: &IngestContext,
        snapshots: Vec<DeviceSnapshot>,
    ) -> Result<BatchResult> {
        let snapshots = dedupe_last_wins(snapshots);
        let mut result = BatchResult::default();
        let mut rest = snapshots;
        while !rest.is_empty() {
            let tail = rest.split_off(rest.len().min(self.options.batch_size));
            let chunk = std::mem::replace(&mut rest, tail);
            result.extend(self.ingest_chunk(ctx, &chunk).await?);
        }
        Ok(result)
    }

    /// Tombstones devices the provider deleted or a complete listing no longer contains.
    pub async fn tombstone(
        &self,
        ctx: &IngestContext,
        devices: Vec<(ExternalDeviceId, Option<ExternalScopeId>)>,
    ) -> Result<BatchResult> {
        let snapshots = devices
            .into_iter()
            .map(|(id, scope)| DeviceSnapshot::deleted(id, scope.unwrap_or_else(|| "".into())))
            .collect();
        self.ingest(ctx, snapshots).await
    }

    /// Re-keys devices whose provider id changed. Changes are applied in order, so a chain
    /// (A→B, then B→C) ends on C.
    pub async fn apply_identity_changes(
        &self,
        ctx: &IngestContext,
        changes: &[IdentityChange],
    ) -> Result<BatchResult> {
        let mut result = BatchResult::default();
        for change in changes {
            if change.previous == change.current {
                continue;
            }
            let query = CorrelationQuery {
                provider: ctx.provider.clone(),
                integration_id: ctx.integration_id,
                external_ids: vec![change.previous.clone(), change.current.clone()],
                scope_ids: Vec::new(),
                identity: None,
            };
            let correlation = self.correlate(ctx, &query).await?;
            let index = Index::new(ctx, &correlation);
            if let Some(decision) = plan::plan_identity_change(ctx, &index, change) {
                let decisions = self.apply_decisions(ctx, vec![decision]).await?;
                for d in decisions {
                    result.push(d);
                }
            }
        }
        Ok(result)
    }

    async fn ingest_chunk(
        &self,
        ctx: &IngestContext,
        chunk: &[DeviceSnapshot],
    ) -> Result<BatchResult> {
        let decisions = self.plan_chunk(ctx, chunk).await?;
        let decisions = self.apply_decisions(ctx, decisions).await?;
        // Devices that hit a concurrent host edit are re-planned once against fresh rows.
        let (conflicted, mut done): (Vec<Decision>, Vec<Decision>) =
            decisions.into_iter().partition(|d| is_conflict(&d.outcome));
        if !conflicted.is_empty() {
            let retry: Vec<DeviceSnapshot> = chunk
                .iter()
                .filter(|s| conflicted.iter().any(|d| d.external_id == s.external_id))
                .cloned()
                .collect();
            let again = self.plan_chunk(ctx, &retry).await?;
            done.extend(self.apply_decisions(ctx, again).await?);
            // Keep input order in the report.
            let order: HashMap<&ExternalDeviceId, usize> = chunk
                .iter()
                .enumerate()
                .map(|(i, s)| (&s.external_id, i))
                .collect();
            done.sort_by_key(|d| order.get(&d.external_id).copied().unwrap_or(usize::MAX));
        }
        let mut result = BatchResult::default();
        for d in done {
            result.push(d);
        }
        Ok(result)
    }

    async fn plan_chunk(
        &self,
        ctx: &IngestContext,
        chunk: &[DeviceSnapshot],
    ) -> Result<Vec<Decision>> {
        if !self.store.capabilities().correlation_digest {
            return self.plan_full(ctx, chunk).await;
        }
        // Phase 1: narrow rows settle the unchanged (in a re-sync: nearly all) devices.
        let digest_query = query(ctx, chunk);
        let digest = self
            .with_store_retry(|| self.store.correlate_digest(ctx.tenant, &digest_query))
            .await?;
        let index = settle::DigestIndex::new(&digest);
        let mut settled: Vec<Option<Decision>> =
            chunk.iter().map(|s| settle::settle(&index, s)).collect();
        let rest: Vec<DeviceSnapshot> = chunk
            .iter()
            .zip(&settled)
            .filter(|(_, d)| d.is_none())
            .map(|(s, _)| s.clone())
            .collect();
        if rest.is_empty() {
            return Ok(settled.into_iter().flatten().collect());
        }
        // Phase 2: the full correlation for the others only, merged back in input order.
        let mut planned = self.plan_full(ctx, &rest).await?.into_iter();
        for slot in settled.iter_mut().filter(|d| d.is_none()) {
            *slot = planned.next();
        }
        Ok(settled.into_iter().flatten().collect())
    }

    /// Plans a chunk from the full correlation.
    async fn plan_full(
        &self,
        ctx: &IngestContext,
        chunk: &[DeviceSnapshot],
    ) -> Result<Vec<Decision>> {
        let mut query = query(ctx, chunk);
        query.identity = ctx.cross_provider_matching.then(|| {
            let mut q = crate::store::IdentityQuery::default();
            for s in chunk {
                let k = identity::identity_keys(
                    &s.identity,
                    s.serial_number.value().map(String::as_str),
                );
                q.serial_numbers.extend(k.serial_numbers);
                q.mac_addresses.extend(k.mac_addresses);
                q.system_uuids.extend(k.system_uuids);
            }
            q
        });
        let correlation = self.correlate(ctx, &query).await?;
        let index = Index::new(ctx, &correlation);
        Ok(chunk
            .iter()
            .map(|s| plan::plan_device(ctx, &index, s))
            .collect())
    }

    async fn correlate(
        &self,
        ctx: &IngestContext,
        query: &CorrelationQuery,
    ) -> Result<Correlation> {
        self.with_store_retry(|| self.store.correlate(ctx.tenant, query))
            .await
    }

    /// Runs a store call, retrying retryable failures with backoff.
    async fn with_store_retry<T, F, Fut>(&self, mut call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match call().await {
                Err(e) if e.is_retryable() && attempt < self.options.store_attempts => {
                    self.backoff(attempt, &e).await;
                }
                other => return other,
            }
        }
    }

    /// Writes the decisions' writes in one transaction; on failure, device by device so one
    /// bad device cannot sink its batch.
    async fn apply_decisions(
        &self,
        ctx: &IngestContext,
        mut decisions: Vec<Decision>,
    ) -> Result<Vec<Decision>> {
        // Moved out, not cloned: nothing reads a decision's write once it is applied.
        let (owners, writes): (Vec<usize>, Vec<DeviceWrite>) = decisions
            .iter_mut()
            .enumerate()
            .filter_map(|(i, d)| d.write.take().map(|w| (i, *w)))
            .unzip();
        if writes.is_empty() || ctx.dry_run {
            return Ok(decisions);
        }
        match self.apply_with_retry(ctx, &writes).await {
            Ok(()) => return Ok(decisions),
            Err(e) if e.kind() == ErrorKind::Unavailable || e.kind() == ErrorKind::Timeout => {
                // The store itself is down: the batch (and the run) fails as a whole.
                return Err(e);
            }
            Err(e) => {
                tracing::debug!(error = %e, "batch write failed; isolating devices");
            }
        }
        for (i, write) in owners.into_iter().zip(writes) {
            if let Err(e) = self
                .apply_with_retry(ctx, std::slice::from_ref(&write))
                .await
            {
                if e.kind() == ErrorKind::Unavailable || e.kind() == ErrorKind::Timeout {
                    return Err(e);
                }
                let d = &mut decisions[i];
                *d = Decision::failed(d.external_id.clone(), d.asset_id, &e);
            }
        }
        Ok(decisions)
    }

    async fn apply_with_retry(&self, ctx: &IngestContext, writes: &[DeviceWrite]) -> Result<()> {
        self.with_store_retry(|| self.store.apply(ctx.tenant, writes))
            .await
    }

    async fn backoff(&self, attempt: u32, e: &Error) {
        let wait = e
            .retry_after()
            .unwrap_or(self.options.store_backoff * 2u32.saturating_pow(attempt - 1));
        tracing::warn!(attempt, error = %e, wait_ms = wait.as_millis() as u64, "store call failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

/// The batch's device and scope ids (no identity keys: only the full phase needs them).
fn query(ctx: &IngestContext, chunk: &[DeviceSnapshot]) -> CorrelationQuery {
    let mut scope_ids: Vec<ExternalScopeId> = chunk.iter().map(|s| s.scope_id.clone()).collect();
    scope_ids.sort();
    scope_ids.dedup();
    CorrelationQuery {
        provider: ctx.provider.clone(),
        integration_id: ctx.integration_id,
        external_ids: chunk.iter().map(|s| s.external_id.clone()).collect(),
        scope_ids,
        identity: None,
    }
}

fn is_conflict(outcome: &crate::model::Outcome) -> bool {
    matches!(outcome, crate::model::Outcome::Failed { error } if error.kind == ErrorKind::Conflict)
}

fn dedupe_last_wins(snapshots: Vec<DeviceSnapshot>) -> Vec<DeviceSnapshot> {
    // Borrowed keys: no allocation in the common case of a batch without duplicates.
    let keep: Vec<bool> = {
        let mut last: HashMap<&str, usize> = HashMap::with_capacity(snapshots.len());
        for (i, s) in snapshots.iter().enumerate() {
            last.insert(s.external_id.as_str(), i);
        }
        if last.len() == snapshots.len() {
            return snapshots;
        }
        (0..snapshots.len())
            .map(|i| last.get(snapshots[i].external_id.as_str()) == Some(&i))
            .collect()
    };
    snapshots
        .into_iter()
        .zip(keep)
        .filter_map(|(s, k)| k.then_some(s))
        .collect()
}
