//! [`InMemoryStore`]: the reference semantics in a few hash maps. Always compiled; used by test
//! harnesses, benchmarks and the examples.

mod state;

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::settings::merge_settings;
use super::{
    AssetFilter, AssetRecord, AssetStore, Correlation, CorrelationDigest, CorrelationQuery,
    DeviceWrite, FailedDevice, HostAssetUpdate, IntegrationRecord, IntegrationSpec, LeaseInfo,
    LeaseRequest, MappingRecord, MappingStatus, ScopeAssignment, ScopeRecord, ScopeSyncCounts,
    StoreCapabilities, SyncStateUpdate, SyncStatus,
};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, RunId, ScopeSnapshot, TenantId,
};
use crate::sync::RunReport;
use state::TenantState;

/// An in-process store. Thread-safe; each `apply` is atomic (validated completely before any
/// row changes).
#[derive(Debug, Default)]
pub struct InMemoryStore {
    tenants: Mutex<std::collections::HashMap<TenantId, TenantState>>,
}

impl InMemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, tenant: TenantId, f: impl FnOnce(&mut TenantState) -> R) -> R {
        let mut guard = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        f(guard.entry(tenant).or_default())
    }
}

fn not_found(what: &str, id: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::NotFound, format!("{what} {id} does not exist"))
}

#[async_trait]
impl AssetStore for InMemoryStore {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities {
            transactions: true,
            concurrent_writers: false,
            max_batch_size: None,
            // A native digest: no row clones for unchanged devices, and the engine's
            // two-phase path runs under every test on this store.
            correlation_digest: true,
            run_seen_log: true,
        }
    }

    async fn upsert_integration(
        &self,
        tenant: TenantId,
        spec: &IntegrationSpec,
    ) -> Result<IntegrationRecord> {
        let now = crate::ingest::now_micros();
        Ok(self.with(tenant, |t| {
            let rec = t
                .integrations
                .entry(spec.integration_id)
                .or_insert_with(|| IntegrationRecord {
                    integration_id: spec.integration_id,
                    provider: spec.provider.clone(),
                    instance_url: None,
                    is_active: false,
                    connected_at: None,
                    last_sync_at: None,
                    last_full_sync_at: None,
                    last_incremental_sync_at: None,
                    sync_status: SyncStatus::Pending,
                    sync_error: None,
                    settings: Default::default(),
                    cursor: None,
                    lease: None,
                    created_at: now,
                    updated_at: now,
                });
            rec.provider = spec.provider.clone();
            rec.instance_url = spec.instance_url.clone();
            rec.is_active = spec.is_active;
            merge_settings(&mut rec.settings, &spec.settings);
            rec.updated_at = now;
            let rec = rec.clone();
            t.with_lease(rec)
        }))
    }

    async fn get_integration(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Option<IntegrationRecord>> {
        Ok(self.with(tenant, |t| {
            let rec = t.integrations.get(&integration).cloned()?;
            Some(t.with_lease(rec))
        }))
    }

    async fn list_integrations(&self, tenant: TenantId) -> Result<Vec<IntegrationRecord>> {
        Ok(self.with(tenant, |t| {
            let records: Vec<IntegrationRecord> = t.integrations.values().cloned().collect();
            records.into_iter().map(|r| t.with_lease(r)).collect()
        }))
    }

    async fn update_sync_state(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        u: &SyncStateUpdate,
    ) -> Result<()> {
        self.with(tenant, |t| {
            let rec = t
                .integrations
                .get_mut(&integration)
                .ok_or_else(|| not_found("integration", integration))?;
            if let Some(v) = u.sync_status {
                rec.sync_status = v;
            }
            if let Some(v) = &u.sync_error {
                rec.sync_error = v.clone();
            }
            if let Some(v) = u.connected_at {
                rec.connected_at = Some(v);
            }
            if let Some(v) = u.last_sync_at {
                rec.last_sync_at = Some(v);
            }
            if let Some(v) = u.last_full_sync_at {
                rec.last_full_sync_at = Some(v);
            }
            if let Some(v) = u.last_incremental_sync_at {
                rec.last_incremental_sync_at = Some(v);
            }
            if let Some(v) = &u.cursor {
                rec.cursor = v.clone();
            }
            rec.updated_at = crate::ingest::now_micros();
            Ok(())
        })
    }

    async fn merge_settings(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Map<String, serde_json::Value>> {
        self.with(tenant, |t| {
            let rec = t
                .integrations
                .get_mut(&integration)
                .ok_or_else(|| not_found("integration", integration))?;
            merge_settings(&mut rec.settings, patch);
            rec.updated_at = crate::ingest::now_micros();
            Ok(rec.settings.clone())
        })
    }

    async fn try_acquire_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        req: &LeaseRequest,
    ) -> Result<bool> {
        Ok(self.with(tenant, |t| {
            let free = match t.leases.get(&integration) {
                None => true,
                Some(l) => l.holder == req.holder || l.expires_at <= req.now,
            };
            if free {
                t.leases.insert(
                    integration,
                    LeaseInfo {
                        holder: req.holder.clone(),
                        expires_at: req.expires_at,
                    },
                );
            }
            free
        }))
    }

    async fn release_lease(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        holder: &str,
    ) -> Result<()> {
        self.with(tenant, |t| {
            if t.leases
                .get(&integration)
                .is_some_and(|l| l.holder == holder)
            {
                t.leases.remove(&integration);
            }
        });
        Ok(())
    }

    async fn sync_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> Result<ScopeSyncCounts> {
        Ok(self.with(tenant, |t| {
            t.sync_scopes(integration, scopes, complete, now)
        }))
    }

    async fn list_scopes(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<ScopeRecord>> {
        Ok(self.with(tenant, |t| {
            t.scopes
                .range((integration, ExternalScopeId::new(""))..)
                .take_while(|((i, _), _)| *i == integration)
                .map(|(_, s)| s.clone())
                .collect()
        }))
    }

    async fn assign_scope(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
        a: &ScopeAssignment,
    ) -> Result<ScopeRecord> {
        self.with(tenant, |t| {
            let rec = t
                .scopes
                .get_mut(&(integration, scope.clone()))
                .ok_or_else(|| not_found("scope", scope))?;
            if let Some(c) = a.client_id {
                rec.client_id = c;
            }
            if let Some(on) = a.auto_sync_assets {
                rec.auto_sync_assets = on;
            }
            Ok(rec.clone())
        })
    }

    async fn correlate(&self, tenant: TenantId, query: &CorrelationQuery) -> Result<Correlation> {
        Ok(self.with(tenant, |t| t.correlate(query)))
    }

    async fn correlate_digest(
        &self,
        tenant: TenantId,
        query: &CorrelationQuery,
    ) -> Result<CorrelationDigest> {
        Ok(self.with(tenant, |t| t.correlate_digest(query)))
    }

    async fn apply(&self, tenant: TenantId, writes: &[DeviceWrite]) -> Result<()> {
        self.with(tenant, |t| {
            t.validate(writes)?;
            for w in writes {
                t.apply_one(w);
            }
            Ok(())
        })
    }

    async fn live_device_ids(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        scope: &ExternalScopeId,
    ) -> Result<Vec<ExternalDeviceId>> {
        Ok(self.with(tenant, |t| {
            let mut ids: Vec<ExternalDeviceId> = t
                .by_scope
                .get(&(integration, scope.clone()))
                .into_iter()
                .flatten()
                .filter_map(|mid| t.mappings.get(mid))
                .filter(|m| m.status == MappingStatus::Synced)
                .map(|m| m.external_id.clone())
                .collect();
            ids.sort();
            ids
        }))
    }

    async fn reevaluate_agent_status(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        thresholds: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(self.with(tenant, |t| {
            t.reevaluate_agent_status(integration, thresholds, now)
        }))
    }

    async fn update_failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        failed: &[(ExternalDeviceId, String)],
        succeeded: &[ExternalDeviceId],
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(tenant, |t| {
            for id in succeeded {
                t.failed.remove(&(integration, id.clone()));
            }
            for (id, error) in failed {
                let entry = t
                    .failed
                    .entry((integration, id.clone()))
                    .or_insert_with(|| FailedDevice {
                        external_id: id.clone(),
                        error: String::new(),
                        attempts: 0,
                        failed_at: now,
                    });
                entry.error = error.clone();
                entry.attempts += 1;
                entry.failed_at = now;
            }
        });
        Ok(())
    }

    async fn failed_devices(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> Result<Vec<FailedDevice>> {
        Ok(self.with(tenant, |t| {
            t.failed
                .range((integration, ExternalDeviceId::new(""))..)
                .take_while(|((i, _), _)| *i == integration)
                .map(|(_, f)| f.clone())
                .collect()
        }))
    }

    async fn set_suppressed(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
        suppressed: bool,
    ) -> Result<()> {
        self.with(tenant, |t| {
            let key = (integration, device.clone());
            if suppressed {
                t.suppressed.insert(key);
            } else {
                t.suppressed.remove(&key);
            }
        });
        Ok(())
    }

    async fn get_asset(&self, tenant: TenantId, asset: AssetId) -> Result<Option<AssetRecord>> {
        Ok(self.with(tenant, |t| t.asset_with_extension(asset)))
    }

    async fn list_assets(
        &self,
        tenant: TenantId,
        filter: &AssetFilter,
    ) -> Result<Vec<AssetRecord>> {
        Ok(self.with(tenant, |t| {
            let allowed: Option<HashSet<AssetId>> = filter.integration_id.map(|i| {
                t.mappings
                    .values()
                    .filter(|m| m.integration_id == i)
                    .map(|m| m.asset_id)
                    .collect()
            });
            t.assets
                .keys()
                .filter(|id| allowed.as_ref().is_none_or(|a| a.contains(id)))
                .take(filter.limit.unwrap_or(usize::MAX))
                .filter_map(|id| t.asset_with_extension(*id))
                .collect()
        }))
    }

    async fn extension_rows(
        &self,
        tenant: TenantId,
        asset: AssetId,
    ) -> Result<Vec<(ExtensionKind, ExtensionRow)>> {
        Ok(self.with(tenant, |t| {
            [ExtensionKind::Workstation, ExtensionKind::Server]
                .into_iter()
                .filter_map(|k| t.extensions.get(&(asset, k)).map(|r| (k, r.clone())))
                .collect()
        }))
    }

    async fn get_mapping(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        device: &ExternalDeviceId,
    ) -> Result<Option<MappingRecord>> {
        Ok(self.with(tenant, |t| {
            t.by_device
                .get(&(integration, device.clone()))
                .and_then(|id| t.mappings.get(id))
                .cloned()
        }))
    }

    async fn update_asset(
        &self,
        tenant: TenantId,
        asset: AssetId,
        u: &HostAssetUpdate,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.with(tenant, |t| {
            let a = t
                .assets
                .get_mut(&asset)
                .ok_or_else(|| not_found("asset", asset))?;
            if let Some(v) = &u.name {
                a.name = v.clone();
            }
            if let Some(v) = &u.status {
                a.status = v.clone();
            }
            if let Some(v) = &u.location {
                a.location = v.clone();
            }
            let before = u.serial_number.as_ref().map(|_| a.clone());
            if let Some(v) = &u.serial_number {
                a.serial_number = v.clone();
            }
            if let Some(v) = u.client_id {
                a.client_id = v;
            }
            a.updated_at = now;
            if let Some(before) = before {
                // The serial is a matching identifier: re-index it, as the SQL stores do.
                let after = a.clone();
                t.unindex_asset(&before);
                t.index_asset(&after);
            }
            Ok(())
        })
    }

    async fn delete_asset(&self, tenant: TenantId, asset: AssetId) -> Result<()> {
        self.with(tenant, |t| {
            if let Some(old) = t.assets.remove(&asset) {
                t.unindex_asset(&old);
            }
            t.extensions.remove(&(asset, ExtensionKind::Workstation));
            t.extensions.remove(&(asset, ExtensionKind::Server));
        });
        Ok(())
    }

    async fn record_run(&self, tenant: TenantId, report: &RunReport) -> Result<()> {
        // Keyed by run id, as the SQL stores: a finish step retried after a crash records the
        // same run again and must not leave two entries.
        self.with(tenant, |t| {
            t.runs.retain(|r| r.run_id != report.run_id);
            t.runs.push(report.clone());
        });
        Ok(())
    }

    async fn recent_runs(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        limit: usize,
    ) -> Result<Vec<RunReport>> {
        Ok(self.with(tenant, |t| {
            t.runs
                .iter()
                .rev()
                .filter(|r| r.integration == integration)
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    async fn record_seen(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        chunk: &str,
        ids: &[ExternalDeviceId],
    ) -> Result<()> {
        self.with(tenant, |t| {
            t.seen
                .insert((integration, run, chunk.to_owned()), ids.to_vec());
        });
        Ok(())
    }

    async fn seen_devices<'a>(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
        run: RunId,
        before_chunk: Option<&'a str>,
    ) -> Result<Vec<ExternalDeviceId>> {
        Ok(self.with(tenant, |t| {
            let ids: BTreeSet<&ExternalDeviceId> = t
                .seen
                .range((integration, run, String::new())..)
                .take_while(|((i, r, _), _)| *i == integration && *r == run)
                // `String` orders by bytes, as the trait says.
                .filter(|((_, _, chunk), _)| before_chunk.is_none_or(|b| chunk.as_str() < b))
                .flat_map(|(_, ids)| ids)
                .collect();
            ids.into_iter().cloned().collect()
        }))
    }

    async fn clear_seen(&self, tenant: TenantId, integration: IntegrationId) -> Result<u64> {
        Ok(self.with(tenant, |t| {
            let before = t.seen.len();
            t.seen.retain(|(i, _, _), _| *i != integration);
            (before - t.seen.len()) as u64
        }))
    }
}
