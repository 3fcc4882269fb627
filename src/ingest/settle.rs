//! The digest phase: settle the devices whose outcome narrow rows already decide (unchanged,
//! suppressed, already tombstoned, sync disabled, invalid) so the full correlation is fetched
//! only for the rest. In a re-sync that is almost every device, and the digest is a few
//! columns per device instead of whole asset and extension rows.
//!
//! Every answer here must be the one [`super::plan::plan_device`] gives on the full
//! correlation; `None` means "ask the full correlation". The exhaustive test below holds the
//! two to that.

use std::collections::{HashMap, HashSet};

use super::fingerprint::fingerprint;
use super::plan::{Decision, StoredState, pick_mapping, validate};
use crate::model::{DeviceSnapshot, Lifecycle, Outcome, SkipReason};
use crate::store::{CorrelationDigest, MappingDigest, MappingStatus, ScopeRecord};

/// A digest indexed for the batch.
pub(crate) struct DigestIndex<'a> {
    mappings: HashMap<&'a str, Vec<&'a MappingDigest>>,
    scopes: HashMap<&'a str, &'a ScopeRecord>,
    suppressed: HashSet<&'a str>,
}

impl<'a> DigestIndex<'a> {
    pub(crate) fn new(d: &'a CorrelationDigest) -> Self {
        let mut mappings: HashMap<&str, Vec<&MappingDigest>> = HashMap::new();
        for m in &d.mappings {
            mappings.entry(m.external_id.as_str()).or_default().push(m);
        }
        Self {
            mappings,
            scopes: d
                .scopes
                .iter()
                .map(|s| (s.external_id.as_str(), s))
                .collect(),
            suppressed: d.suppressed.iter().map(|x| x.as_str()).collect(),
        }
    }

    fn mapping_for(&self, id: &str, scope: &str) -> Option<&'a MappingDigest> {
        pick_mapping(self.mappings.get(id)?, scope, |m| {
            (m.scope_id.as_str(), m.last_synced_at, m.id)
        })
    }
}

/// The device's decision if the digest settles it; `None` when it needs the full correlation.
pub(crate) fn settle(index: &DigestIndex<'_>, s: &DeviceSnapshot) -> Option<Decision> {
    let id = &s.external_id;
    if let Err(e) = validate(s) {
        return Some(Decision::failed(id.clone(), None, &e));
    }
    if index.suppressed.contains(id.as_str()) {
        let skipped = Outcome::Skipped {
            reason: SkipReason::Suppressed,
        };
        return Some(Decision::no_write(id.clone(), None, skipped));
    }
    let mapping = index.mapping_for(id.as_str(), s.scope_id.as_str());
    // The asset the mapping points to, if it still exists.
    let mapped_asset = mapping
        .filter(|m| m.asset_type.is_some())
        .map(|m| m.asset_id);

    if s.lifecycle == Lifecycle::Deleted {
        return match mapping {
            None => Some(Decision::no_write(
                id.clone(),
                None,
                Outcome::Skipped {
                    reason: SkipReason::NoMappingToTombstone,
                },
            )),
            Some(m) if m.status == MappingStatus::Deleted => Some(Decision::no_write(
                id.clone(),
                Some(m.asset_id),
                Outcome::Unchanged,
            )),
            Some(_) => None,
        };
    }

    let scope = index.scopes.get(s.scope_id.as_str()).copied();
    if scope.is_some_and(|sc| !sc.auto_sync_assets) {
        let skipped = Outcome::Skipped {
            reason: SkipReason::ScopeSyncDisabled,
        };
        return Some(Decision::no_write(id.clone(), mapped_asset, skipped));
    }
    let m = mapping?;
    let stored = StoredState {
        status: m.status,
        fingerprint: m.fingerprint.as_deref(),
        scope_id: m.scope_id.as_str(),
        asset_type: m.asset_type?,
    };
    // Cheap tests first: most changed devices fail on status or scope before hashing.
    if m.status != MappingStatus::Synced || m.fingerprint.is_none() {
        return None;
    }
    let fp = fingerprint(s, scope.and_then(|sc| sc.client_id));
    stored
        .is_unchanged(s, &fp)
        .then(|| Decision::no_write(id.clone(), Some(m.asset_id), Outcome::Unchanged))
}

#[cfg(test)]
mod tests {
    //! Exhaustive agreement with `plan_device`: every combination of mapping state, asset
    //! presence, kind, scope, suppression and lifecycle.

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::ingest::IngestContext;
    use crate::ingest::plan::{Index, plan_device};
    use crate::model::{
        AgentStatus, AssetId, ClientId, DeviceKind, ExternalScopeId, IntegrationId, MappingId,
        ProviderId, Reported, ScopeKind, TenantId,
    };
    use crate::store::{AssetRecord, Correlation, MappingRecord};

    const SCOPE: &str = "scope-a";

    fn ctx() -> IngestContext {
        IngestContext::new(
            TenantId::from_uuid(uuid::Uuid::from_u128(1)),
            ProviderId::TANIUM,
            IntegrationId::from_uuid(uuid::Uuid::from_u128(2)),
        )
        .at(Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap())
    }

    fn scope(auto_sync: bool, client: Option<ClientId>) -> ScopeRecord {
        ScopeRecord {
            mapping_id: MappingId::from_uuid(uuid::Uuid::from_u128(3)),
            integration_id: ctx().integration_id,
            external_id: ExternalScopeId::new(SCOPE),
            name: "A".into(),
            parent: None,
            kind: ScopeKind::Organization,
            client_id: client,
            auto_sync_assets: auto_sync,
            metadata: Default::default(),
            last_synced_at: None,
            vanished_at: None,
        }
    }

    fn asset(kind: DeviceKind) -> AssetRecord {
        let t = ctx().now;
        AssetRecord {
            asset_id: AssetId::from_uuid(uuid::Uuid::from_u128(10)),
            client_id: ClientId::from_uuid(uuid::Uuid::from_u128(20)),
            asset_type: kind,
            asset_tag: "tag".into(),
            name: "pc".into(),
            serial_number: None,
            status: "active".into(),
            location: None,
            rmm_provider: Some(ctx().provider),
            rmm_device_id: Some("dev".into()),
            rmm_organization_id: Some(SCOPE.into()),
            agent_status: Some(AgentStatus::Online),
            last_seen_at: None,
            last_rmm_sync_at: Some(t),
            identity: Default::default(),
            created_at: t,
            updated_at: t,
            extension: None,
        }
    }

    #[test]
    fn settles_exactly_what_the_full_plan_decides() {
        let client = ClientId::from_uuid(uuid::Uuid::from_u128(20));
        let ctx = ctx();
        let mut settled = 0;
        let mut deferred = 0;
        for lifecycle in [Lifecycle::Active, Lifecycle::Deleted] {
            for snapshot_kind in [DeviceKind::Workstation, DeviceKind::Unknown] {
                for valid in [true, false] {
                    let mut s = DeviceSnapshot::new("dev", SCOPE, DeviceKind::Workstation, "pc");
                    s.lifecycle = lifecycle;
                    s.kind = snapshot_kind;
                    if !valid {
                        s.details.cpu_cores = Reported::Value(-1);
                    }
                    for mapping_state in 0..4 {
                        // none, synced, deleted, synced without fingerprint
                        for same_fp in [true, false] {
                            for same_scope in [true, false] {
                                for asset_kind in [
                                    None,
                                    Some(DeviceKind::Workstation),
                                    Some(DeviceKind::Server),
                                ] {
                                    for suppressed in [false, true] {
                                        for sc in [
                                            None,
                                            Some(scope(true, Some(client))),
                                            Some(scope(true, None)),
                                            Some(scope(false, Some(client))),
                                        ] {
                                            let c = correlation(
                                                &ctx,
                                                &s,
                                                mapping_state,
                                                same_fp,
                                                same_scope,
                                                asset_kind,
                                                suppressed,
                                                sc,
                                            );
                                            let full = Index::new(&ctx, &c);
                                            let expected = plan_device(&ctx, &full, &s);
                                            let digest = c.digest(&query(&ctx));
                                            let quick = DigestIndex::new(&digest);
                                            match settle(&quick, &s) {
                                                Some(d) => {
                                                    settled += 1;
                                                    assert_eq!(
                                                        d, expected,
                                                        "state {mapping_state} fp {same_fp} \
                                                         scope {same_scope} asset {asset_kind:?} \
                                                         suppressed {suppressed} {s:?}"
                                                    );
                                                }
                                                None => deferred += 1,
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        // Both paths are exercised: the test would pass vacuously otherwise.
        assert!(settled > 500 && deferred > 100, "{settled} {deferred}");
    }

    fn query(ctx: &IngestContext) -> crate::store::CorrelationQuery {
        crate::store::CorrelationQuery {
            provider: ctx.provider.clone(),
            integration_id: ctx.integration_id,
            external_ids: Vec::new(),
            scope_ids: Vec::new(),
            identity: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn correlation(
        ctx: &IngestContext,
        s: &DeviceSnapshot,
        mapping_state: u8,
        same_fp: bool,
        same_scope: bool,
        asset_kind: Option<DeviceKind>,
        suppressed: bool,
        sc: Option<ScopeRecord>,
    ) -> Correlation {
        let mut c = Correlation::default();
        if let Some(kind) = asset_kind {
            c.assets.push(asset(kind));
        }
        if mapping_state > 0 {
            let client = sc.as_ref().and_then(|x| x.client_id);
            let fp = if same_fp {
                fingerprint(s, client)
            } else {
                "0".repeat(32)
            };
            c.mappings.push(MappingRecord {
                id: MappingId::from_uuid(uuid::Uuid::from_u128(30)),
                provider: ctx.provider.clone(),
                integration_id: ctx.integration_id,
                asset_id: AssetId::from_uuid(uuid::Uuid::from_u128(10)),
                external_id: s.external_id.clone(),
                scope_id: ExternalScopeId::new(if same_scope { SCOPE } else { "other" }),
                status: if mapping_state == 2 {
                    MappingStatus::Deleted
                } else {
                    MappingStatus::Synced
                },
                last_synced_at: ctx.now,
                deleted_at: None,
                metadata: Default::default(),
                fingerprint: (mapping_state != 3).then_some(fp),
                written: None,
                created_at: ctx.now,
            });
        }
        if suppressed {
            c.suppressed.push(s.external_id.clone());
        }
        c.scopes.extend(sc);
        c
    }
}
