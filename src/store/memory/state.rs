//! The rows of one tenant and the operations on them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind, Result};
use crate::ingest::identity::identity_keys;
use crate::model::{
    AgentStatusThresholds, AssetId, ExtensionKind, ExtensionRow, ExternalDeviceId, ExternalScopeId,
    IntegrationId, MappingId, ProviderId, RunId, ScopeSnapshot,
};
use crate::store::{
    AssetRecord, AssetWrite, Correlation, CorrelationDigest, CorrelationQuery, DeviceWrite,
    IntegrationRecord, LeaseInfo, MappingDigest, MappingRecord, MappingStatus, ScopeRecord,
    ScopeSyncCounts,
};
use crate::sync::RunReport;

/// All rows of one tenant, with the indexes a database would have.
#[derive(Debug, Default)]
pub(super) struct TenantState {
    pub(super) integrations: BTreeMap<IntegrationId, IntegrationRecord>,
    pub(super) leases: HashMap<IntegrationId, LeaseInfo>,
    pub(super) scopes: BTreeMap<(IntegrationId, ExternalScopeId), ScopeRecord>,
    /// Assets without their extension rows (those live in `extensions`).
    pub(super) assets: BTreeMap<AssetId, AssetRecord>,
    pub(super) extensions: HashMap<(AssetId, ExtensionKind), ExtensionRow>,
    pub(super) mappings: HashMap<MappingId, MappingRecord>,
    /// Unique (integration, external id) → mapping.
    pub(super) by_device: BTreeMap<(IntegrationId, ExternalDeviceId), MappingId>,
    /// Mappings per asset.
    pub(super) by_asset: HashMap<AssetId, BTreeSet<MappingId>>,
    /// Mappings per (integration, scope): sweep candidates without scanning every mapping.
    pub(super) by_scope: HashMap<(IntegrationId, ExternalScopeId), BTreeSet<MappingId>>,
    /// (provider, rmm_device_id) → assets.
    pub(super) by_rmm_id: HashMap<(ProviderId, String), BTreeSet<AssetId>>,
    /// Normalized identity key → assets.
    pub(super) by_identity: HashMap<String, BTreeSet<AssetId>>,
    pub(super) failed: BTreeMap<(IntegrationId, ExternalDeviceId), crate::store::FailedDevice>,
    pub(super) suppressed: HashSet<(IntegrationId, ExternalDeviceId)>,
    pub(super) runs: Vec<RunReport>,
    /// The seen log: (integration, run, chunk) → the ids that step saw.
    pub(super) seen: BTreeMap<(IntegrationId, RunId, String), Vec<ExternalDeviceId>>,
}

fn identity_index_keys(a: &AssetRecord) -> Vec<String> {
    let q = identity_keys(&a.identity, a.serial_number.as_deref());
    q.serial_numbers
        .into_iter()
        .map(|s| format!("s:{s}"))
        .chain(q.mac_addresses.into_iter().map(|m| format!("m:{m}")))
        .chain(q.system_uuids.into_iter().map(|u| format!("u:{u}")))
        .collect()
}

impl TenantState {
    /// The record as a reader sees it: with the lease, which this store keeps beside it.
    pub(super) fn with_lease(&self, mut rec: IntegrationRecord) -> IntegrationRecord {
        rec.lease = self.leases.get(&rec.integration_id).cloned();
        rec
    }

    pub(super) fn sync_scopes(
        &mut self,
        integration: IntegrationId,
        scopes: &[ScopeSnapshot],
        complete: bool,
        now: DateTime<Utc>,
    ) -> ScopeSyncCounts {
        let mut counts = ScopeSyncCounts::default();
        let mut present = HashSet::new();
        for s in scopes {
            present.insert(s.id.clone());
            match self.scopes.get_mut(&(integration, s.id.clone())) {
                Some(rec) => {
                    rec.name = s.name.clone();
                    rec.parent = s.parent.clone();
                    rec.kind = s.kind;
                    rec.metadata = s.metadata.clone();
                    rec.last_synced_at = Some(now);
                    if rec.vanished_at.take().is_some() {
                        counts.reappeared += 1;
                    }
                    counts.updated += 1;
                }
                None => {
                    self.scopes.insert(
                        (integration, s.id.clone()),
                        ScopeRecord {
                            mapping_id: MappingId::from_uuid(uuid::Uuid::now_v7()),
                            integration_id: integration,
                            external_id: s.id.clone(),
                            name: s.name.clone(),
                            parent: s.parent.clone(),
                            kind: s.kind,
                            client_id: None,
                            auto_sync_assets: true,
                            metadata: s.metadata.clone(),
                            last_synced_at: Some(now),
                            vanished_at: None,
                        },
                    );
                    counts.created += 1;
                }
            }
        }
        if complete {
            for ((i, id), rec) in self.scopes.iter_mut() {
                if *i == integration && !present.contains(id) && rec.vanished_at.is_none() {
                    rec.vanished_at = Some(now);
                    counts.vanished += 1;
                }
            }
        }
        counts
    }

    pub(super) fn asset_with_extension(&self, id: AssetId) -> Option<AssetRecord> {
        let mut a = self.assets.get(&id)?.clone();
        a.extension = a
            .asset_type
            .extension()
            .and_then(|k| self.extensions.get(&(id, k)).cloned());
        Some(a)
    }

    pub(super) fn correlate(&self, q: &CorrelationQuery) -> Correlation {
        let mut c = Correlation::default();
        let mut asset_ids = BTreeSet::new();
        let mut candidate_ids = BTreeSet::new();
        for id in &q.external_ids {
            if let Some(m) = self.mapping_of(q.integration_id, id) {
                asset_ids.insert(m.asset_id);
                c.mappings.push(m.clone());
            }
            if let Some(ids) = self
                .by_rmm_id
                .get(&(q.provider.clone(), id.as_str().to_owned()))
            {
                candidate_ids.extend(ids.iter().copied());
            }
            if self.suppressed.contains(&(q.integration_id, id.clone())) {
                c.suppressed.push(id.clone());
            }
        }
        if let Some(iq) = &q.identity {
            let keys = iq
                .serial_numbers
                .iter()
                .map(|s| format!("s:{s}"))
                .chain(iq.mac_addresses.iter().map(|m| format!("m:{m}")))
                .chain(iq.system_uuids.iter().map(|u| format!("u:{u}")));
            for k in keys {
                if let Some(ids) = self.by_identity.get(&k) {
                    candidate_ids.extend(ids.iter().copied());
                }
            }
        }
        for id in &candidate_ids {
            for mid in self.by_asset.get(id).into_iter().flatten() {
                if let Some(m) = self.mappings.get(mid)
                    && m.provider == q.provider
                {
                    c.candidate_mappings.push(m.clone());
                }
            }
        }
        asset_ids.extend(candidate_ids);
        c.assets = asset_ids
            .into_iter()
            .filter_map(|id| self.asset_with_extension(id))
            .collect();
        c.scopes = self.queried_scopes(q);
        c
    }

    fn mapping_of(
        &self,
        integration: IntegrationId,
        id: &ExternalDeviceId,
    ) -> Option<&MappingRecord> {
        self.by_device
            .get(&(integration, id.clone()))
            .and_then(|mid| self.mappings.get(mid))
    }

    /// The stored records of the query's scopes, in the query's order.
    fn queried_scopes(&self, q: &CorrelationQuery) -> Vec<ScopeRecord> {
        q.scope_ids
            .iter()
            .filter_map(|s| self.scopes.get(&(q.integration_id, s.clone())).cloned())
            .collect()
    }

    /// The narrow rows of [`Self::correlate`]: no asset, extension or candidate row is
    /// cloned, which is what keeps an unchanged re-sync cheap on this store too.
    pub(super) fn correlate_digest(&self, q: &CorrelationQuery) -> CorrelationDigest {
        let mut d = CorrelationDigest::default();
        for id in &q.external_ids {
            if let Some(m) = self
                .mapping_of(q.integration_id, id)
                .filter(|m| m.provider == q.provider)
            {
                let asset_type = self.assets.get(&m.asset_id).map(|a| a.asset_type);
                d.mappings.push(MappingDigest::of(m, asset_type));
            }
            if self.suppressed.contains(&(q.integration_id, id.clone())) {
                d.suppressed.push(id.clone());
            }
        }
        d.scopes = self.queried_scopes(q);
        d
    }

    /// Checks every constraint before anything changes, so `apply` is all-or-nothing.
    pub(super) fn validate(&self, writes: &[DeviceWrite]) -> Result<()> {
        let conflict = |msg: String| Err(Error::new(ErrorKind::Conflict, msg));
        let mut new_assets = HashSet::new();
        let mut device_keys: HashMap<(IntegrationId, &ExternalDeviceId), MappingId> =
            HashMap::new();
        let mut asset_keys: HashMap<(IntegrationId, AssetId), MappingId> = HashMap::new();
        for w in writes {
            match &w.asset {
                AssetWrite::Keep => {}
                AssetWrite::Insert(a) => {
                    if self.assets.contains_key(&a.asset_id) || !new_assets.insert(a.asset_id) {
                        return conflict(format!("asset {} already exists", a.asset_id));
                    }
                }
                AssetWrite::Update {
                    asset,
                    expected_updated_at,
                } => match self.assets.get(&asset.asset_id) {
                    None => {
                        return Err(Error::new(
                            ErrorKind::NotFound,
                            format!("asset {} does not exist", asset.asset_id),
                        ));
                    }
                    Some(cur) if cur.updated_at != *expected_updated_at => {
                        return conflict(format!(
                            "asset {} was changed concurrently",
                            asset.asset_id
                        ));
                    }
                    Some(_) => {}
                },
            }
            if w.extension.upsert.is_some()
                && !self.assets.contains_key(&w.asset_id)
                && !new_assets.contains(&w.asset_id)
            {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("asset {} does not exist", w.asset_id),
                ));
            }
            let m = &w.mapping;
            // Unique (integration, external id) and (integration, asset), ignoring the row itself.
            let other = |mid: Option<&MappingId>| mid.is_some_and(|x| *x != m.id);
            if other(
                self.by_device
                    .get(&(m.integration_id, m.external_id.clone())),
            ) || other(device_keys.get(&(m.integration_id, &m.external_id)))
            {
                return conflict(format!(
                    "duplicate mapping for device {} in integration {}",
                    m.external_id, m.integration_id
                ));
            }
            let asset_taken = self
                .by_asset
                .get(&m.asset_id)
                .into_iter()
                .flatten()
                .filter_map(|mid| self.mappings.get(mid))
                .any(|x| x.id != m.id && x.integration_id == m.integration_id);
            if asset_taken || other(asset_keys.get(&(m.integration_id, m.asset_id))) {
                return conflict(format!(
                    "asset {} is already mapped in integration {}",
                    m.asset_id, m.integration_id
                ));
            }
            device_keys.insert((m.integration_id, &m.external_id), m.id);
            asset_keys.insert((m.integration_id, m.asset_id), m.id);
        }
        Ok(())
    }

    pub(super) fn apply_one(&mut self, w: &DeviceWrite) {
        match &w.asset {
            AssetWrite::Keep => {}
            AssetWrite::Insert(a) | AssetWrite::Update { asset: a, .. } => {
                let mut row = a.clone();
                row.extension = None;
                if let Some(old) = self.assets.remove(&row.asset_id) {
                    self.unindex_asset(&old);
                }
                self.index_asset(&row);
                self.assets.insert(row.asset_id, row);
            }
        }
        for k in &w.extension.delete {
            self.extensions.remove(&(w.asset_id, *k));
        }
        if let Some((k, row)) = &w.extension.upsert {
            self.extensions.insert((w.asset_id, *k), row.clone());
        }
        if let Some(old) = self.mappings.remove(&w.mapping.id) {
            self.unindex_mapping(&old);
        }
        self.index_mapping(&w.mapping);
        self.mappings.insert(w.mapping.id, w.mapping.clone());
    }

    fn index_mapping(&mut self, m: &MappingRecord) {
        self.by_device
            .insert((m.integration_id, m.external_id.clone()), m.id);
        self.by_asset.entry(m.asset_id).or_default().insert(m.id);
        self.by_scope
            .entry((m.integration_id, m.scope_id.clone()))
            .or_default()
            .insert(m.id);
    }

    fn unindex_mapping(&mut self, m: &MappingRecord) {
        self.by_device
            .remove(&(m.integration_id, m.external_id.clone()));
        if let Some(set) = self.by_asset.get_mut(&m.asset_id) {
            set.remove(&m.id);
        }
        if let Some(set) = self
            .by_scope
            .get_mut(&(m.integration_id, m.scope_id.clone()))
        {
            set.remove(&m.id);
        }
    }

    pub(super) fn index_asset(&mut self, a: &AssetRecord) {
        if let (Some(p), Some(d)) = (&a.rmm_provider, &a.rmm_device_id) {
            self.by_rmm_id
                .entry((p.clone(), d.clone()))
                .or_default()
                .insert(a.asset_id);
        }
        for k in identity_index_keys(a) {
            self.by_identity.entry(k).or_default().insert(a.asset_id);
        }
    }

    pub(super) fn unindex_asset(&mut self, a: &AssetRecord) {
        if let (Some(p), Some(d)) = (&a.rmm_provider, &a.rmm_device_id)
            && let Some(set) = self.by_rmm_id.get_mut(&(p.clone(), d.clone()))
        {
            set.remove(&a.asset_id);
        }
        for k in identity_index_keys(a) {
            if let Some(set) = self.by_identity.get_mut(&k) {
                set.remove(&a.asset_id);
            }
        }
    }

    pub(super) fn reevaluate_agent_status(
        &mut self,
        integration: IntegrationId,
        thresholds: &AgentStatusThresholds,
        now: DateTime<Utc>,
    ) -> u64 {
        let live: Vec<AssetId> = self
            .mappings
            .values()
            .filter(|m| m.integration_id == integration && m.status == MappingStatus::Synced)
            .map(|m| m.asset_id)
            .collect();
        let mut changed = 0;
        for id in live {
            let Some(a) = self.assets.get_mut(&id) else {
                continue;
            };
            if a.last_seen_at.is_none() {
                continue;
            }
            let derived = thresholds.evaluate(a.last_seen_at, now);
            let current = a.agent_status.unwrap_or_default();
            if derived.staleness() > current.staleness() {
                a.agent_status = Some(derived);
                a.updated_at = now;
                changed += 1;
            }
        }
        changed
    }
}
