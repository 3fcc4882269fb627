//! The fixture every scenario starts from: a fresh tenant with one integration, an engine, a
//! clock, and helpers that turn store errors into scenario failures.

use std::fmt::Display;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::error::{ErrorKind, Result};
use crate::ingest::{BatchResult, IngestContext, IngestionEngine, now_micros};
use crate::model::{
    AssetId, ClientId, DeviceKind, DeviceOutcome, DeviceSnapshot, ExternalDeviceId,
    ExternalScopeId, IntegrationId, MappingId, Outcome, ProviderId, Reported, ScopeKind,
    ScopeSnapshot, TenantId,
};
use crate::store::{
    AssetFilter, AssetRecord, AssetStore, AssetWrite, DeviceWrite, ExtensionWrite, IntegrationSpec,
    MappingRecord, MappingStatus, ScopeAssignment,
};

/// Turns a store result or a missing row into a scenario failure that says what was attempted.
pub(super) trait OrFail<T> {
    fn or_fail(self, what: impl Display) -> std::result::Result<T, String>;
}

impl<T> OrFail<T> for Result<T> {
    fn or_fail(self, what: impl Display) -> std::result::Result<T, String> {
        self.map_err(|e| format!("{what}: the store failed: {e}"))
    }
}

impl<T> OrFail<T> for Option<T> {
    fn or_fail(self, what: impl Display) -> std::result::Result<T, String> {
        self.ok_or_else(|| format!("{what}: not found"))
    }
}

/// Fails unless `result` is an error of `kind`.
pub(super) fn expect_kind<T: std::fmt::Debug>(
    result: Result<T>,
    kind: ErrorKind,
    what: &str,
) -> std::result::Result<(), String> {
    match result {
        Err(e) if e.kind() == kind => Ok(()),
        Err(e) => Err(format!("{what}: expected a {kind} error, got {e}")),
        Ok(v) => Err(format!("{what}: expected a {kind} error, got Ok({v:?})")),
    }
}

/// A fresh tenant with one integration.
#[derive(Clone, Debug)]
pub(super) struct Fixture {
    pub(super) store: Arc<dyn AssetStore>,
    pub(super) tenant: TenantId,
    pub(super) integration: IntegrationId,
    pub(super) provider: ProviderId,
    pub(super) engine: IngestionEngine,
    /// The scenario's "now"; [`Fixture::at`] offsets from it.
    pub(super) t0: DateTime<Utc>,
}

/// The provider slug scenarios use by default.
pub(super) const PROVIDER_A: &str = "conformance-a";
/// A second provider, for cross-provider scenarios.
pub(super) const PROVIDER_B: &str = "conformance-b";

pub(super) fn provider(slug: &str) -> ProviderId {
    ProviderId::new(slug).expect("conformance provider slugs are valid")
}

impl Fixture {
    /// A fresh random tenant with an integration of [`PROVIDER_A`].
    pub(super) async fn new(store: &Arc<dyn AssetStore>) -> std::result::Result<Self, String> {
        Self::in_tenant(store, TenantId::new_random(), PROVIDER_A).await
    }

    /// A new integration of `provider` in `tenant`.
    pub(super) async fn in_tenant(
        store: &Arc<dyn AssetStore>,
        tenant: TenantId,
        provider_slug: &str,
    ) -> std::result::Result<Self, String> {
        let fx = Self {
            store: Arc::clone(store),
            tenant,
            integration: IntegrationId::new_random(),
            provider: provider(provider_slug),
            engine: IngestionEngine::new(Arc::clone(store)),
            t0: now_micros(),
        };
        fx.upsert_integration().await?;
        Ok(fx)
    }

    /// Another integration (of `provider_slug`) in the same tenant, on the same clock.
    pub(super) async fn sibling(&self, provider_slug: &str) -> std::result::Result<Self, String> {
        let mut fx = Self::in_tenant(&self.store, self.tenant, provider_slug).await?;
        fx.t0 = self.t0;
        Ok(fx)
    }

    /// The same integration id and provider in another fresh tenant.
    pub(super) async fn other_tenant(&self) -> std::result::Result<Self, String> {
        let fx = Self {
            tenant: TenantId::new_random(),
            ..self.clone()
        };
        fx.upsert_integration().await?;
        Ok(fx)
    }

    pub(super) fn spec(&self) -> IntegrationSpec {
        IntegrationSpec {
            integration_id: self.integration,
            provider: self.provider.clone(),
            instance_url: Some("https://rmm.example.test".into()),
            is_active: true,
            settings: Default::default(),
        }
    }

    async fn upsert_integration(&self) -> std::result::Result<(), String> {
        self.store
            .upsert_integration(self.tenant, &self.spec())
            .await
            .or_fail("upsert_integration")?;
        Ok(())
    }

    /// `t0` plus `minutes`.
    pub(super) fn at(&self, minutes: i64) -> DateTime<Utc> {
        self.t0 + Duration::minutes(minutes)
    }

    /// An ingestion context at `t0 + minutes`.
    pub(super) fn ctx(&self, minutes: i64) -> IngestContext {
        IngestContext::new(self.tenant, self.provider.clone(), self.integration)
            .at(self.at(minutes))
    }

    /// Upserts a scope (an incomplete listing, so nothing else is flagged) and maps it to a new
    /// client, which it returns.
    pub(super) async fn mapped_scope(&self, id: &str) -> std::result::Result<ClientId, String> {
        let client = ClientId::new_random();
        self.scope(id, Some(client), true).await?;
        Ok(client)
    }

    /// Upserts a scope and sets its host fields.
    pub(super) async fn scope(
        &self,
        id: &str,
        client: Option<ClientId>,
        auto_sync: bool,
    ) -> std::result::Result<(), String> {
        let snapshot = ScopeSnapshot::new(id, format!("Scope {id}"), ScopeKind::Organization);
        self.store
            .sync_scopes(self.tenant, self.integration, &[snapshot], false, self.t0)
            .await
            .or_fail(format_args!("sync_scopes({id})"))?;
        self.assign(id, client, auto_sync).await
    }

    /// Sets the host fields of an existing scope.
    pub(super) async fn assign(
        &self,
        id: &str,
        client: Option<ClientId>,
        auto_sync: bool,
    ) -> std::result::Result<(), String> {
        let assignment = ScopeAssignment {
            client_id: Some(client),
            auto_sync_assets: Some(auto_sync),
        };
        self.store
            .assign_scope(
                self.tenant,
                self.integration,
                &ExternalScopeId::new(id),
                &assignment,
            )
            .await
            .or_fail(format_args!("assign_scope({id})"))?;
        Ok(())
    }

    /// Ingests a batch at `t0 + minutes`.
    pub(super) async fn ingest(
        &self,
        minutes: i64,
        snapshots: Vec<DeviceSnapshot>,
    ) -> std::result::Result<BatchResult, String> {
        self.ingest_with(self.ctx(minutes), snapshots).await
    }

    /// Ingests a batch with an explicit context.
    pub(super) async fn ingest_with(
        &self,
        ctx: IngestContext,
        snapshots: Vec<DeviceSnapshot>,
    ) -> std::result::Result<BatchResult, String> {
        self.engine
            .ingest(&ctx, snapshots)
            .await
            .map_err(|e| format!("the engine could not ingest a batch: {e}"))
    }

    /// Ingests one device at `t0 + minutes` and returns its outcome.
    pub(super) async fn ingest_one(
        &self,
        minutes: i64,
        snapshot: DeviceSnapshot,
    ) -> std::result::Result<DeviceOutcome, String> {
        let id = snapshot.external_id.clone();
        let mut result = self.ingest(minutes, vec![snapshot]).await?;
        match result.outcomes.pop() {
            Some(o) if result.outcomes.is_empty() => Ok(o),
            _ => Err(format!(
                "ingesting {id} alone did not give exactly one outcome"
            )),
        }
    }

    /// Ingests one device that must be created; returns its asset id.
    pub(super) async fn create(
        &self,
        minutes: i64,
        snapshot: DeviceSnapshot,
    ) -> std::result::Result<AssetId, String> {
        let id = snapshot.external_id.clone();
        let o = self.ingest_one(minutes, snapshot).await?;
        ensure_eq!(o.outcome, Outcome::Created, "setup: creating {id}");
        o.asset_id
            .ok_or_else(|| format!("setup: created {id} without an asset id"))
    }

    pub(super) async fn asset(&self, id: AssetId) -> std::result::Result<AssetRecord, String> {
        self.store
            .get_asset(self.tenant, id)
            .await
            .or_fail(format_args!("get_asset({id})"))?
            .or_fail(format_args!("asset {id}"))
    }

    pub(super) async fn maybe_mapping(
        &self,
        device: &str,
    ) -> std::result::Result<Option<MappingRecord>, String> {
        self.store
            .get_mapping(
                self.tenant,
                self.integration,
                &ExternalDeviceId::new(device),
            )
            .await
            .or_fail(format_args!("get_mapping({device})"))
    }

    pub(super) async fn mapping(&self, device: &str) -> std::result::Result<MappingRecord, String> {
        self.maybe_mapping(device)
            .await?
            .or_fail(format_args!("the mapping of {device}"))
    }

    /// Assets mapped by this integration.
    pub(super) async fn assets(&self) -> std::result::Result<Vec<AssetRecord>, String> {
        let filter = AssetFilter {
            integration_id: Some(self.integration),
            limit: None,
        };
        self.store
            .list_assets(self.tenant, &filter)
            .await
            .or_fail("list_assets(integration)")
    }

    /// Every asset of the tenant.
    pub(super) async fn all_assets(&self) -> std::result::Result<Vec<AssetRecord>, String> {
        self.store
            .list_assets(self.tenant, &AssetFilter::default())
            .await
            .or_fail("list_assets(all)")
    }
}

/// A workstation with the usual facts and a few extension fields.
pub(super) fn workstation(id: &str, scope: &str) -> DeviceSnapshot {
    let mut s = DeviceSnapshot::new(id, scope, DeviceKind::Workstation, format!("pc-{id}"));
    s.serial_number = Reported::Value(format!("SN-{id}").to_uppercase());
    s.details.os_type = Reported::Value("Windows".into());
    s.details.os_version = Reported::Value("11 23H2".into());
    s.details.cpu_model = Reported::Value("Intel Core i7-1365U".into());
    s.details.cpu_cores = Reported::Value(10);
    s.details.ram_gb = Reported::Value(16.0);
    s
}

/// `n` workstations `"{prefix}-{i}"` in one scope.
pub(super) fn fleet(prefix: &str, scope: &str, n: usize) -> Vec<DeviceSnapshot> {
    (0..n)
        .map(|i| workstation(&format!("{prefix}-{i:03}"), scope))
        .collect()
}

/// Fails unless every outcome of the batch is `expected`.
pub(super) fn all_outcomes(
    result: &BatchResult,
    expected: &Outcome,
    what: &str,
) -> std::result::Result<(), String> {
    for o in &result.outcomes {
        ensure_eq!(&o.outcome, expected, "{what}: device {}", o.external_id);
    }
    Ok(())
}

/// An asset row as a host or another tool would insert it (no provider columns).
pub(super) fn blank_asset(
    client: ClientId,
    kind: DeviceKind,
    name: &str,
    at: DateTime<Utc>,
) -> AssetRecord {
    AssetRecord {
        asset_id: AssetId::from_uuid(uuid::Uuid::now_v7()),
        client_id: client,
        asset_type: kind,
        asset_tag: format!("TAG-{name}"),
        name: name.into(),
        serial_number: None,
        status: "active".into(),
        location: None,
        rmm_provider: None,
        rmm_device_id: None,
        rmm_organization_id: None,
        agent_status: None,
        last_seen_at: None,
        last_rmm_sync_at: None,
        identity: Default::default(),
        created_at: at,
        updated_at: at,
        extension: None,
    }
}

impl Fixture {
    /// A live mapping of `device` in this integration onto `asset`.
    pub(super) fn new_mapping(&self, device: &str, scope: &str, asset: AssetId) -> MappingRecord {
        MappingRecord {
            id: MappingId::from_uuid(uuid::Uuid::now_v7()),
            provider: self.provider.clone(),
            integration_id: self.integration,
            asset_id: asset,
            external_id: ExternalDeviceId::new(device),
            scope_id: ExternalScopeId::new(scope),
            status: MappingStatus::Synced,
            last_synced_at: self.t0,
            deleted_at: None,
            metadata: Default::default(),
            fingerprint: None,
            written: None,
            created_at: self.t0,
        }
    }

    /// The write that inserts `asset` mapped as `device` in this integration.
    pub(super) fn insert_write(
        &self,
        asset: AssetRecord,
        device: &str,
        scope: &str,
    ) -> DeviceWrite {
        DeviceWrite {
            external_id: ExternalDeviceId::new(device),
            asset_id: asset.asset_id,
            mapping: self.new_mapping(device, scope, asset.asset_id),
            asset: AssetWrite::Insert(asset),
            extension: ExtensionWrite::default(),
        }
    }

    /// Applies writes directly (no engine).
    pub(super) async fn apply(&self, writes: &[DeviceWrite]) -> std::result::Result<(), String> {
        self.store.apply(self.tenant, writes).await.or_fail("apply")
    }
}
