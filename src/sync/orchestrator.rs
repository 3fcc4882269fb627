//! [`SyncOrchestrator`]: the entry point hosts call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::progress::{CancelToken, ProgressFn, SyncEvent};
use super::report::{RunMode, RunReport};
use super::run::Run;
use super::seen::SeenCache;
use crate::error::{Error, ErrorKind, Result};
use crate::ingest::{EngineOptions, IngestionEngine, now_micros};
use crate::model::{ExternalDeviceId, IntegrationId, TenantId};
use crate::provider::RmmProvider;
use crate::store::{AssetStore, IntegrationRecord, ScopeSyncCounts};

/// Orchestration settings. Every default is chosen for a fleet of 100k devices on one machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncOptions {
    /// Devices per provider page (clamped to the provider's maximum). `None`: the provider's
    /// maximum, because providers, not stores, are the bottleneck.
    pub page_size: Option<u32>,
    /// Engine settings (batch size, store retries).
    pub engine: EngineOptions,
    /// Scope listings fetched at once (providers that list per scope). Pages are ingested one
    /// at a time whatever this is; it only hides provider latency. Default 4; 1 lists scope
    /// after scope. Each adapter's rate limiter still caps its request rate.
    pub scope_concurrency: usize,
    /// Circuit breaker: a sweep that would tombstone more than this share of a scope's live
    /// devices is held back and reported. Default 0.5.
    pub sweep_max_share: f64,
    /// The breaker only applies to scopes with at least this many live devices. Default 10.
    pub sweep_min_scope_size: u64,
    /// How long a run lease lives without renewal. A live run renews it every quarter of this
    /// (on a timer, whatever the provider is doing) and stops writing when renewals have failed
    /// for three quarters of it; a killed run blocks its integration at most this long.
    /// Default 2 minutes.
    #[serde(with = "secs")]
    pub lease_ttl: Duration,
    /// Errors kept in a report. Default 100.
    pub max_report_errors: usize,
    /// Causes kept in `sync_error`. Default 5.
    pub sync_error_causes: usize,
    /// Ask providers for installed software. Default off (expensive on every provider).
    pub include_software: bool,
    /// Cross-provider matching by serial, MAC and system UUID. Default off.
    pub cross_provider_matching: bool,
    /// Overlap subtracted from a `since` checkpoint, against clock skew between the provider's
    /// clock and ours. Default 10 minutes.
    #[serde(with = "secs")]
    pub incremental_overlap: Duration,
    /// Failed devices retried one by one in incremental runs (providers with `get_device`).
    /// Default 200.
    pub max_failed_retries: usize,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            page_size: None,
            engine: EngineOptions::default(),
            scope_concurrency: 4,
            sweep_max_share: 0.5,
            sweep_min_scope_size: 10,
            lease_ttl: Duration::from_secs(120),
            max_report_errors: 100,
            sync_error_causes: 5,
            include_software: false,
            cross_provider_matching: false,
            incremental_overlap: Duration::from_secs(600),
            max_failed_retries: 200,
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// Mode.
    pub mode: RunMode,
    /// The device, for [`RunMode::Device`].
    pub device: Option<ExternalDeviceId>,
    /// Plan only: correlate and decide, write nothing (the report's counts are the plan).
    pub dry_run: bool,
    /// Cancellation.
    pub cancel: CancelToken,
}

impl RunRequest {
    /// A full run.
    pub fn full() -> Self {
        Self::new(RunMode::Full)
    }
    /// An incremental run.
    pub fn incremental() -> Self {
        Self::new(RunMode::Incremental)
    }
    /// A single-device refresh.
    pub fn device(id: impl Into<ExternalDeviceId>) -> Self {
        Self {
            device: Some(id.into()),
            ..Self::new(RunMode::Device)
        }
    }
    fn new(mode: RunMode) -> Self {
        Self {
            mode,
            device: None,
            dry_run: false,
            cancel: CancelToken::new(),
        }
    }
    /// Sets the cancellation token.
    pub fn with_cancel(mut self, cancel: CancelToken) -> Self {
        self.cancel = cancel;
        self
    }
    /// Plan only.
    pub fn dry_run(mut self, on: bool) -> Self {
        self.dry_run = on;
        self
    }
}

/// Drives providers and the engine. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct SyncOrchestrator {
    pub(super) store: Arc<dyn AssetStore>,
    pub(super) engine: IngestionEngine,
    pub(super) options: SyncOptions,
    pub(super) progress: Option<ProgressFn>,
    /// Seen sets of durable runs between their page steps in this process.
    pub(super) seen_cache: Arc<SeenCache>,
}

impl fmt::Debug for SyncOrchestrator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncOrchestrator")
            .field("store", &self.store)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl SyncOrchestrator {
    /// An orchestrator over a store with default options.
    pub fn new(store: Arc<dyn AssetStore>) -> Self {
        Self::with_options(store, SyncOptions::default())
    }

    /// An orchestrator with explicit options.
    pub fn with_options(store: Arc<dyn AssetStore>, options: SyncOptions) -> Self {
        let engine = IngestionEngine::with_options(Arc::clone(&store), options.engine.clone());
        Self {
            store,
            engine,
            options,
            progress: None,
            seen_cache: Arc::default(),
        }
    }

    /// Receives progress events.
    pub fn with_progress(mut self, progress: ProgressFn) -> Self {
        self.progress = Some(progress);
        self
    }

    /// The options in force.
    pub fn options(&self) -> &SyncOptions {
        &self.options
    }

    /// The engine (for hosts that ingest snapshots they obtained themselves, e.g. webhooks).
    pub fn engine(&self) -> &IngestionEngine {
        &self.engine
    }

    pub(super) fn emit(&self, event: SyncEvent) {
        if let Some(p) = &self.progress {
            p(&event);
        }
    }

    /// Lists the provider's scopes into the store (names and metadata refreshed; host
    /// assignments never touched; vanished scopes flagged).
    pub async fn sync_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        provider: &dyn RmmProvider,
    ) -> Result<ScopeSyncCounts> {
        if !provider.capabilities().list_scopes {
            return Err(Error::unsupported("list_scopes"));
        }
        let scopes = provider.list_scopes().await?;
        self.store
            .sync_scopes(tenant, integration, &scopes, true, now_micros())
            .await
    }

    /// Runs one sync of an integration. Returns the report, also for runs that failed as a
    /// whole (status `failed`, cause in `errors` and in the integration's `sync_error`).
    /// `Err` is reserved for misuse and for an unusable store: an unknown integration, a
    /// provider of another kind, a lease held by another run.
    pub async fn run(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        provider: Arc<dyn RmmProvider>,
        request: RunRequest,
    ) -> Result<RunReport> {
        let record = self
            .checked_integration(
                tenant,
                integration,
                &*provider,
                request.mode,
                request.device.as_ref(),
            )
            .await?;
        Run::start(self, tenant, record, provider, request).await
    }

    /// The integration a run is for, checked: it exists, is active, is of the provider's kind,
    /// and a device run names its device.
    pub(super) async fn checked_integration(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        provider: &dyn RmmProvider,
        mode: RunMode,
        device: Option<&ExternalDeviceId>,
    ) -> Result<IntegrationRecord> {
        let record = self
            .store
            .get_integration(tenant, integration)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("integration {integration} does not exist; create it with upsert_integration first"),
                )
            })?;
        let info = provider.info();
        if info.provider != record.provider {
            return Err(Error::invalid_config(
                "provider",
                format!(
                    "integration {integration} is a {} integration but the provider given is {}",
                    record.provider, info.provider
                ),
            ));
        }
        if !record.is_active {
            return Err(Error::invalid_config(
                "is_active",
                format!("integration {integration} is not active; activate it before syncing"),
            ));
        }
        if mode == RunMode::Device && device.is_none() {
            return Err(Error::invalid_config(
                "device",
                "a device run needs a device id",
            ));
        }
        Ok(record)
    }
}
