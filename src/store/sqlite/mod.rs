//! [`SqliteStore`]: the embedded default store (feature `sqlite`). One file, zero setup.
//!
//! ```no_run
//! # async fn demo() -> rmm_sync::Result<()> {
//! use rmm_sync::store::sqlite::SqliteStore;
//! // Creates the file when missing and applies the embedded migrations.
//! let store = SqliteStore::connect("sqlite://./rmm-sync.db").await?;
//! # Ok(()) }
//! ```
//!
//! - Schema: the reference PSA's table and column names (`migrations/sqlite`), uuids and
//!   timestamps stored as text (timestamps fixed-width RFC 3339 with microseconds, so they
//!   round-trip exactly and compare in time order), JSON as text.
//! - Connections: WAL journal (readers never wait for the writer), `synchronous = NORMAL`
//!   (a committed transaction survives a process crash; in WAL mode only an OS crash or power
//!   loss can drop the last commits), a `busy_timeout` so writers from several pools or
//!   processes queue instead of failing, and foreign keys on.
//! - Writes: `apply` is one `BEGIN IMMEDIATE` transaction per batch with one multi-row
//!   statement per table; `correlate` reads one consistent snapshot with one statement per
//!   kind of row, each taking its ids as a single JSON array (`json_each`).

/// Page cache per connection: negative is KiB (8 MiB).
const CACHE_SIZE_PRAGMA: &str = "-8192";
/// WAL pages (4 KiB) after which a commit checkpoints: 64 MiB.
const WAL_AUTOCHECKPOINT_PAGES: &str = "16384";

mod assets;
mod bulk;
mod codec;
mod correlate;
mod devices;
mod digest;
mod errors;
mod identifiers;
mod integrations;
mod rows;
mod scopes;
mod seen;
mod write;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{
    AssetFilter, AssetRecord, AssetStore, Correlation, CorrelationDigest, CorrelationQuery,
    DeviceWrite, FailedDevice, HostAssetUpdate, IntegrationRecord, IntegrationSpec, LeaseRequest,
    MappingRecord, ScopeAssignment, ScopeRecord, ScopeSyncCounts, StoreCapabilities,
    SyncStateUpdate,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use crate::sync::RunReport;

/// The embedded migrations (`migrations/sqlite`).
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// Connection settings for [`SqliteStore::connect_with`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteStoreOptions {
    /// Pool size. Writers take turns (SQLite has one writer at a time); in WAL mode readers
    /// proceed alongside. Default 4. In-memory databases always use one connection.
    pub max_connections: u32,
    /// How long a statement waits for another connection's write lock before failing with
    /// [`ErrorKind::Unavailable`]. Default 10 s.
    pub busy_timeout: Duration,
    /// How long a call waits for a free pooled connection before failing with
    /// [`ErrorKind::Unavailable`]. Default 30 s.
    pub acquire_timeout: Duration,
}

impl Default for SqliteStoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 4,
            busy_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// An [`AssetStore`] in one SQLite file (or in memory). Cheap to clone (clones share the pool).
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Set for [`SqliteStore::temporary`]: removes the files when the last clone is dropped.
    temporary: Option<Arc<TemporaryFile>>,
}

/// A database file (with its `-wal` and `-shm` companions) deleted on drop.
struct TemporaryFile(PathBuf);

impl Drop for TemporaryFile {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            // Best effort: a file that is already gone is fine.
            let _ = std::fs::remove_file(path);
        }
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SQLite URLs carry no credentials; the file name is all that identifies the store.
        f.debug_struct("SqliteStore")
            .field("database", &self.pool.connect_options().get_filename())
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl SqliteStore {
    /// Opens (creating the file when missing) and migrates the database at `url`
    /// (`sqlite://./rmm-sync.db`, `sqlite:///var/lib/rmm.db`, `sqlite::memory:`), with
    /// default [`SqliteStoreOptions`].
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &SqliteStoreOptions::default()).await
    }

    /// [`SqliteStore::connect`] with explicit options.
    pub async fn connect_with(url: &str, options: &SqliteStoreOptions) -> Result<Self> {
        if !url.starts_with("sqlite:") {
            // Name only the scheme: a URL meant for another database may carry a password.
            let scheme = url.split_once(':').map_or("", |(s, _)| s);
            return Err(Error::invalid_config(
                "url",
                format!(
                    "expected a sqlite: URL (sqlite://PATH or sqlite::memory:), got {scheme:?}"
                ),
            ));
        }
        let connect = SqliteConnectOptions::from_str(url).map_err(|e| {
            Error::invalid_config(
                "url",
                format!("not a SQLite URL (expected sqlite://PATH or sqlite::memory:): {e}"),
            )
        })?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        Self::open(connect, in_memory, options).await
    }

    /// A store in a new file in the system temp directory, deleted (with its WAL files) when
    /// the last clone of the store is dropped: an isolated throwaway database for tests and
    /// demos.
    pub async fn temporary() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("rmm-sync-{}.db", uuid::Uuid::new_v4()));
        let guard = Arc::new(TemporaryFile(path.clone()));
        let connect = SqliteConnectOptions::new().filename(&path);
        let mut store = Self::open(connect, false, &SqliteStoreOptions::default()).await?;
        store.temporary = Some(guard);
        Ok(store)
    }

    async fn open(
        connect: SqliteConnectOptions,
        in_memory: bool,
        options: &SqliteStoreOptions,
    ) -> Result<Self> {
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            // A batch dirties thousands of pages (random keys into the identifier lookup and
            // device-id indexes), and each commit appends them all to the WAL; with the default
            // 1000-page auto-checkpoint nearly every commit is followed by a checkpoint that
            // copies them into the database again, so a 50k first load wrote 3 GB for a
            // 174 MB database. Checkpointing after 64 MiB of WAL instead copies a page once for
            // many commits. The WAL file grows to that size on disk, not in memory.
            .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
            // More than the default 2 MiB so a batch's dirty pages are not spilled to the WAL
            // mid-transaction and re-read; well under the CLI's memory budget (a 64 MiB cache
            // put its peak RSS at 196 MiB on a 50k first load). A ceiling, not an allocation.
            .pragma("cache_size", CACHE_SIZE_PRAGMA)
            .optimize_on_close(true, None);
        let mut pool = SqlitePoolOptions::new().acquire_timeout(options.acquire_timeout);
        pool = if in_memory {
            // An in-memory database lives as long as a connection to it: keep exactly one,
            // forever (several would also contend on shared-cache table locks).
            pool.max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            pool.max_connections(options.max_connections.max(1))
        };
        let pool = pool
            .connect_with(connect)
            .await
            .map_err(|e| errors::map_err("connect", e))?;
        let store = Self::from_pool(pool);
        store.migrate().await?;
        Ok(store)
    }

    /// A store over a pool the host owns (no migrations run; see [`SqliteStore::migrate`]).
    /// The pool should enable foreign keys and set a `busy_timeout`, as
    /// [`SqliteStore::connect`] does.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self {
            pool,
            temporary: None,
        }
    }

    /// Applies the embedded migrations that are not applied yet. Safe to call on every start
    /// and from several processes at once.
    pub async fn migrate(&self) -> Result<()> {
        // Two processes opening a fresh file together can race to apply the same migration;
        // the loser fails, and a second pass then finds it applied.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match MIGRATOR.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(_) if attempt < 3 => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::Store,
                        format!("sqlite store: applying migrations failed: {e}"),
                    ));
                }
            }
        }
    }

    /// The pool, for hosts that run their own queries on the same database.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool, waiting for checked-out connections (and running `PRAGMA optimize`).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl AssetStore for SqliteStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            transactions: true,
            concurrent_writers: true,
            max_batch_size: None,
            correlation_digest: true,
            run_seen_log: true,
        }
    }

    async fn upsert_integration(
        &self,
        tenant: TenantId,
        spec: &IntegrationSpec,
    ) -> Result<IntegrationRecord> {
        integrations::upsert(&self.pool, tenant, spec).await
    }

    async fn get_integration(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Option<IntegrationRecord>> {
        integrations::get_one(&self.pool, tenant, integration).await
    }

    async fn list_integrations(&self, tenant: TenantId) -> Result<Vec<IntegrationRecord>> {
        integrations::list(&self.pool, tenant).await
    }

    async fn update_sync_state(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        update: &SyncStateUpdate,
    ) -> Result<()> {
        integrations::update_sync_state(&self.pool, tenant, integration, update).await
    }

    async fn merge_settings(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        integrations::merge_settings_patch(&self.pool, tenant, integration, patch).await
    }

    async fn try_acquire_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        request: &LeaseRequest,
    ) -> Result<bool> {
        integrations::try_acquire_lease(&self.pool, tenant, integration, request).await
    }

    async fn release_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        holder: &str,
    ) -> Result<()> {
        integrations::release_lease(&self.pool, tenant, integration, holder).await
    }

    async fn sync_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts> {
        scopes::sync_scopes(&self.pool, tenant, integration, scopes, complete, now).await
    }

    async fn list_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<ScopeRecord>> {
        scopes::list_scopes(&self.pool, tenant, integration).await
    }

    async fn assign_scope(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
        assignment: &ScopeAssignment,
    ) -> Result<ScopeRecord> {
        scopes::assign_scope(&self.pool, tenant, integration, scope, assignment).await
    }

    async fn correlate(&self, tenant: TenantId, query: &CorrelationQuery) -> Result<Correlation> {
        correlate::correlate(&self.pool, tenant, query).await
    }

    async fn correlate_digest(
        &self,
        tenant: TenantId,
        query: &CorrelationQuery,
    ) -> Result<CorrelationDigest> {
        digest::correlate_digest(&self.pool, tenant, query).await
    }

    async fn apply(&self, tenant: TenantId, writes: &[DeviceWrite]) -> Result<()> {
        write::apply(&self.pool, tenant, writes).await
    }

    async fn live_device_ids(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>> {
        assets::live_device_ids(&self.pool, tenant, integration, scope).await
    }

    async fn reevaluate_agent_status(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        thresholds: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        assets::reevaluate_agent_status(&self.pool, tenant, integration, thresholds, now).await
    }

    async fn update_failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        succeeded: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        devices::update_failed_devices(&self.pool, tenant, integration, failed, succeeded, now)
            .await
    }

    async fn failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<FailedDevice>> {
        devices::failed_devices(&self.pool, tenant, integration).await
    }

    async fn set_suppressed(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
        suppressed: bool,
    ) -> Result<()> {
        devices::set_suppressed(&self.pool, tenant, integration, device, suppressed).await
    }

    async fn get_asset(&self, tenant: TenantId, asset: AssetId) -> Result<Option<AssetRecord>> {
        assets::get_asset(&self.pool, tenant, asset).await
    }

    async fn list_assets(
        &self,
        tenant: TenantId,
        filter: &AssetFilter,
    ) -> Result<Vec<AssetRecord>> {
        assets::list_assets(&self.pool, tenant, filter).await
    }

    async fn extension_rows(
        &self,
        tenant: TenantId,
        asset: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
        assets::extension_rows(&self.pool, tenant, asset).await
    }

    async fn get_mapping(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>> {
        assets::get_mapping(&self.pool, tenant, integration, device).await
    }

    async fn update_asset(
        &self,
        tenant: TenantId,
        asset: AssetId,
        update: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        assets::update_asset(&self.pool, tenant, asset, update, now).await
    }

    async fn delete_asset(&self, tenant: TenantId, asset: AssetId) -> Result<()> {
        assets::delete_asset(&self.pool, tenant, asset).await
    }

    async fn record_run(&self, tenant: TenantId, report: &RunReport) -> Result<()> {
        devices::record_run(&self.pool, tenant, report).await
    }

    async fn recent_runs(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>> {
        devices::recent_runs(&self.pool, tenant, integration, limit).await
    }

    async fn record_seen(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        seen::record_seen(&self.pool, tenant, integration, run, chunk, ids).await
    }

    async fn seen_devices<'a>(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        seen::seen_devices(&self.pool, tenant, integration, run, before_chunk).await
    }

    async fn clear_seen(&self, tenant: TenantId, integration: IntegrationId) -> Result<u64> {
        seen::clear_seen(&self.pool, tenant, integration).await
    }
}
