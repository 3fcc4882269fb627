//! The pure half of the engine: from a batch of snapshots and the store's correlation, decide
//! every device's outcome and the writes that realise it. No I/O here, so every rule of the
//! ingestion contract is testable without a store.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use super::IngestContext;
use super::fingerprint::fingerprint;
use super::identity::{identity_keys, keys_overlap};
use crate::error::{Error, ErrorKind};
use crate::model::{
    AgentStatus, AssetId, ClientId, DeviceError, DeviceKind, DeviceSnapshot, ExtensionRow,
    ExternalDeviceId, IdentityChange, Lifecycle, MappingId, Outcome, Reported, SkipReason,
};
use crate::store::{
    AssetRecord, AssetWrite, Correlation, DeviceWrite, ExtensionWrite, MappingRecord,
    MappingStatus, ScopeRecord, WrittenValues,
};

/// The asset statuses the engine manages; any other value was set by the host and is kept.
const ENGINE_STATUSES: &[&str] = &["active", "inactive", ""];

/// One device's decision.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    pub(crate) external_id: ExternalDeviceId,
    pub(crate) asset_id: Option<AssetId>,
    pub(crate) outcome: Outcome,
    /// Boxed: a decision without a write (every unchanged device) stays small to move.
    pub(crate) write: Option<Box<DeviceWrite>>,
}

impl Decision {
    pub(super) fn no_write(
        external_id: ExternalDeviceId,
        asset_id: Option<AssetId>,
        outcome: Outcome,
    ) -> Self {
        Self {
            external_id,
            asset_id,
            outcome,
            write: None,
        }
    }

    pub(crate) fn failed(
        external_id: ExternalDeviceId,
        asset_id: Option<AssetId>,
        error: &Error,
    ) -> Self {
        let outcome = Outcome::Failed {
            error: DeviceError {
                device: Some(external_id.clone()),
                kind: error.kind(),
                message: error.to_string(),
            },
        };
        Self::no_write(external_id, asset_id, outcome)
    }
}

/// The correlation, indexed for the batch.
pub(crate) struct Index<'a> {
    mappings: HashMap<&'a str, Vec<&'a MappingRecord>>,
    assets: HashMap<AssetId, &'a AssetRecord>,
    adoptable: HashMap<&'a str, Vec<&'a AssetRecord>>,
    mapped_assets: HashSet<AssetId>,
    scopes: HashMap<&'a str, &'a ScopeRecord>,
    suppressed: HashSet<&'a str>,
    all_assets: &'a [AssetRecord],
}

impl<'a> Index<'a> {
    pub(crate) fn new(ctx: &IngestContext, c: &'a Correlation) -> Self {
        let mut mappings: HashMap<&str, Vec<&MappingRecord>> = HashMap::new();
        let mut mapped_assets = HashSet::new();
        for m in &c.mappings {
            if m.integration_id == ctx.integration_id && m.provider == ctx.provider {
                mappings.entry(m.external_id.as_str()).or_default().push(m);
                mapped_assets.insert(m.asset_id);
            }
        }
        for m in &c.candidate_mappings {
            if m.provider == ctx.provider {
                mapped_assets.insert(m.asset_id);
            }
        }
        let mut adoptable: HashMap<&str, Vec<&AssetRecord>> = HashMap::new();
        for a in &c.assets {
            if a.rmm_provider.as_ref() == Some(&ctx.provider)
                && let Some(id) = a.rmm_device_id.as_deref()
            {
                adoptable.entry(id).or_default().push(a);
            }
        }
        Self {
            mappings,
            assets: c.assets.iter().map(|a| (a.asset_id, a)).collect(),
            adoptable,
            mapped_assets,
            scopes: c
                .scopes
                .iter()
                .map(|s| (s.external_id.as_str(), s))
                .collect(),
            suppressed: c.suppressed.iter().map(|d| d.as_str()).collect(),
            all_assets: &c.assets,
        }
    }

    /// Rule 1: the device's mapping in this integration, whatever its scope. Deterministic when
    /// several exist (legacy schemas allow one per scope): exact scope first, then the most
    /// recently synced, then the lowest id.
    fn mapping_for(&self, id: &str, scope: &str) -> Option<&'a MappingRecord> {
        pick_mapping(self.mappings.get(id)?, scope, |m| {
            (m.scope_id.as_str(), m.last_synced_at, m.id)
        })
    }

    /// Rule 2: an unmapped asset carrying this provider's device id (oldest first).
    fn adoptable_for(&self, id: &str) -> Option<&'a AssetRecord> {
        self.adoptable
            .get(id)?
            .iter()
            .copied()
            .filter(|a| !self.mapped_assets.contains(&a.asset_id))
            .min_by(|a, b| {
                a.created_at
                    .cmp(&b.created_at)
                    .then(a.asset_id.cmp(&b.asset_id))
            })
    }

    /// Rule 4: assets sharing a normalized hardware identifier, not yet mapped by this provider.
    fn identity_candidates(&self, snapshot: &DeviceSnapshot) -> Vec<&'a AssetRecord> {
        let keys = identity_keys(
            &snapshot.identity,
            snapshot.serial_number.value().map(String::as_str),
        );
        if keys.is_empty() {
            return Vec::new();
        }
        let mut found: Vec<&AssetRecord> = self
            .all_assets
            .iter()
            .filter(|a| !self.mapped_assets.contains(&a.asset_id))
            .filter(|a| {
                let theirs = identity_keys(&a.identity, a.serial_number.as_deref());
                keys_overlap(&keys, &theirs)
            })
            .collect();
        found.sort_by_key(|a| a.asset_id);
        found.dedup_by_key(|a| a.asset_id);
        found
    }
}

/// The mapping rule 1 picks among several rows of one device: exact scope first, then the most
/// recently synced, then the lowest id. Shared with the digest phase so both pick the same row.
pub(super) fn pick_mapping<'a, M>(
    rows: &[&'a M],
    scope: &str,
    key: impl Fn(&M) -> (&str, DateTime<Utc>, MappingId),
) -> Option<&'a M> {
    rows.iter().copied().min_by(|a, b| {
        let (a_scope, a_synced, a_id) = key(a);
        let (b_scope, b_synced, b_id) = key(b);
        (a_scope != scope)
            .cmp(&(b_scope != scope))
            .then(b_synced.cmp(&a_synced))
            .then(a_id.cmp(&b_id))
    })
}

/// What the unchanged test reads of a device's mapping and asset.
pub(super) struct StoredState<'a> {
    pub(super) status: MappingStatus,
    pub(super) fingerprint: Option<&'a str>,
    pub(super) scope_id: &'a str,
    pub(super) asset_type: DeviceKind,
}

impl StoredState<'_> {
    /// A live mapping in the same scope with the same fingerprint, and no reclassification:
    /// nothing to write.
    pub(super) fn is_unchanged(&self, s: &DeviceSnapshot, fingerprint: &str) -> bool {
        self.status == MappingStatus::Synced
            && self.fingerprint == Some(fingerprint)
            && self.scope_id == s.scope_id.as_str()
            && (s.kind == self.asset_type || s.kind == DeviceKind::Unknown)
    }
}

/// Checks a snapshot for values no real device has. Returns the first problem.
pub(crate) fn validate(s: &DeviceSnapshot) -> Result<(), Error> {
    let bad = |what: String| Err(Error::new(ErrorKind::InvalidInput, what));
    if s.external_id.as_str().trim().is_empty() {
        return bad("device has an empty external id".into());
    }
    if s.lifecycle != Lifecycle::Deleted && s.scope_id.as_str().trim().is_empty() {
        return bad(format!("device {} has an empty scope id", s.external_id));
    }
    let d = &s.details;
    if let Some(r) = d.ram_gb.value()
        && (!r.is_finite() || *r < 0.0 || *r > 1_048_576.0)
    {
        return bad(format!("ram_gb {r} is not a plausible amount of memory"));
    }
    if let Some(c) = d.cpu_cores.value()
        && (*c < 0 || *c > 65_536)
    {
        return bad(format!("cpu_cores {c} is not a plausible core count"));
    }
    if let Some(u) = d.uptime_seconds.value()
        && *u < 0
    {
        return bad(format!("uptime_seconds {u} is negative"));
    }
    for (name, v) in [
        ("pending_patches", &d.pending_patches),
        ("pending_os_patches", &d.pending_os_patches),
        ("pending_software_patches", &d.pending_software_patches),
        ("failed_patches", &d.failed_patches),
    ] {
        if let Some(v) = v.value()
            && *v < 0
        {
            return bad(format!("{name} {v} is negative"));
        }
    }
    if let Some(disks) = d.disk_usage.value() {
        for disk in disks {
            let ok = [disk.total_gb, disk.free_gb, disk.utilization_percent]
                .iter()
                .all(|v| v.is_finite() && *v >= 0.0)
                && disk.utilization_percent <= 100.0;
            if !ok {
                return bad(format!("disk {:?} has impossible sizes", disk.name));
            }
        }
    }
    Ok(())
}

/// Plans one device.
pub(crate) fn plan_device(
    ctx: &IngestContext,
    index: &Index<'_>,
    snapshot: &DeviceSnapshot,
) -> Decision {
    let id = snapshot.external_id.clone();
    if let Err(e) = validate(snapshot) {
        return Decision::failed(id, None, &e);
    }
    if index.suppressed.contains(id.as_str()) {
        return Decision::no_write(
            id,
            None,
            Outcome::Skipped {
                reason: SkipReason::Suppressed,
            },
        );
    }
    let mapping = index.mapping_for(id.as_str(), snapshot.scope_id.as_str());
    let mapped_asset = mapping.and_then(|m| index.assets.get(&m.asset_id).copied());

    if snapshot.lifecycle == Lifecycle::Deleted {
        return plan_tombstone(ctx, id, mapping, mapped_asset);
    }

    let scope = index.scopes.get(snapshot.scope_id.as_str()).copied();
    if scope.is_some_and(|s| !s.auto_sync_assets) {
        return Decision::no_write(
            id,
            mapped_asset.map(|a| a.asset_id),
            Outcome::Skipped {
                reason: SkipReason::ScopeSyncDisabled,
            },
        );
    }
    let scope_client = scope.and_then(|s| s.client_id);

    // Rules 1, 2 and 4, in order.
    let asset = match mapped_asset {
        Some(a) => Some(a),
        None if mapping.is_none() => match index.adoptable_for(id.as_str()) {
            Some(a) => Some(a),
            None if ctx.cross_provider_matching => {
                let candidates = index.identity_candidates(snapshot);
                match candidates.len() {
                    0 => None,
                    1 => Some(candidates[0]),
                    _ => {
                        return Decision::no_write(
                            id,
                            None,
                            Outcome::Ambiguous {
                                candidates: candidates.iter().map(|a| a.asset_id).collect(),
                            },
                        );
                    }
                }
            }
            None => None,
        },
        None => None, // rule 5: dangling mapping, the asset is re-created below
    };

    match asset {
        None => plan_create(ctx, snapshot, mapping, scope_client),
        Some(asset) => plan_update(ctx, snapshot, mapping, asset, scope_client),
    }
}

fn plan_tombstone(
    ctx: &IngestContext,
    id: ExternalDeviceId,
    mapping: Option<&MappingRecord>,
    asset: Option<&AssetRecord>,
) -> Decision {
    let Some(mapping) = mapping else {
        return Decision::no_write(
            id,
            None,
            Outcome::Skipped {
                reason: SkipReason::NoMappingToTombstone,
            },
        );
    };
    if mapping.status == MappingStatus::Deleted {
        // Already tombstoned: re-marking (and re-counting) every run is what we avoid.
        return Decision::no_write(id, Some(mapping.asset_id), Outcome::Unchanged);
    }
    let mut written = mapping.written.clone().unwrap_or_default();
    let asset_write = match asset {
        Some(a) if is_primary(ctx, a, Some(mapping), &id) => {
            let mut next = a.clone();
            if !status_is_host_owned(a, mapping.written.as_ref()) {
                next.status = "inactive".into();
                written.status = Some("inactive".into());
            }
            next.agent_status = Some(AgentStatus::Offline);
            next.last_rmm_sync_at = Some(ctx.now);
            next.updated_at = ctx.now;
            next.extension = None;
            AssetWrite::Update {
                asset: next,
                expected_updated_at: a.updated_at,
            }
        }
        _ => AssetWrite::Keep,
    };
    let mut m = mapping.clone();
    m.status = MappingStatus::Deleted;
    m.deleted_at = Some(ctx.now);
    m.last_synced_at = ctx.now;
    m.fingerprint = None;
    m.written = Some(written);
    Decision {
        external_id: id.clone(),
        asset_id: Some(mapping.asset_id),
        outcome: Outcome::Tombstoned,
        write: Some(Box::new(DeviceWrite {
            external_id: id,
            asset_id: mapping.asset_id,
            asset: asset_write,
            extension: ExtensionWrite::default(),
            mapping: m,
        })),
    }
}

fn plan_create(
    ctx: &IngestContext,
    s: &DeviceSnapshot,
    dangling: Option<&MappingRecord>,
    client: Option<ClientId>,
) -> Decision {
    let Some(client) = client else {
        return Decision::no_write(
            s.external_id.clone(),
            None,
            Outcome::Skipped {
                reason: SkipReason::UnmappedScope,
            },
        );
    };
    let asset_id = AssetId::from_uuid(uuid::Uuid::now_v7());
    let last_seen = s.last_seen_at.value().copied();
    let status = provider_status(s);
    let asset = AssetRecord {
        asset_id,
        client_id: client,
        asset_type: s.kind,
        asset_tag: s
            .asset_tag
            .value()
            .cloned()
            .unwrap_or_else(|| format!("{}:{}", ctx.provider, s.external_id)),
        name: display_name(s),
        serial_number: s.serial_number.value().cloned(),
        status: status.clone(),
        location: s.location.value().cloned(),
        rmm_provider: Some(ctx.provider.clone()),
        rmm_device_id: Some(s.external_id.as_str().to_owned()),
        rmm_organization_id: Some(s.scope_id.as_str().to_owned()),
        agent_status: Some(agent_status(ctx, s, last_seen)),
        last_seen_at: last_seen,
        last_rmm_sync_at: Some(ctx.now),
        identity: s.identity.clone(),
        created_at: ctx.now,
        updated_at: ctx.now,
        extension: None,
    };
    let extension = ExtensionWrite {
        upsert: s
            .kind
            .extension()
            .map(|k| (k, s.details.apply_to(&ExtensionRow::default()))),
        delete: Vec::new(),
    };
    let written = written_from(&asset);
    let mapping = MappingRecord {
        id: dangling
            .map(|m| m.id)
            .unwrap_or_else(|| MappingId::from_uuid(uuid::Uuid::now_v7())),
        provider: ctx.provider.clone(),
        integration_id: ctx.integration_id,
        asset_id,
        external_id: s.external_id.clone(),
        scope_id: s.scope_id.clone(),
        status: MappingStatus::Synced,
        last_synced_at: ctx.now,
        deleted_at: None,
        metadata: s.metadata.value().cloned().unwrap_or_default(),
        fingerprint: Some(fingerprint(s, Some(client))),
        written: Some(written),
        created_at: dangling.map(|m| m.created_at).unwrap_or(ctx.now),
    };
    Decision {
        external_id: s.external_id.clone(),
        asset_id: Some(asset_id),
        outcome: Outcome::Created,
        write: Some(Box::new(DeviceWrite {
            external_id: s.external_id.clone(),
            asset_id,
            asset: AssetWrite::Insert(asset),
            extension,
            mapping,
        })),
    }
}

fn plan_update(
    ctx: &IngestContext,
    s: &DeviceSnapshot,
    mapping: Option<&MappingRecord>,
    current: &AssetRecord,
    scope_client: Option<ClientId>,
) -> Decision {
    let fp = fingerprint(s, scope_client);
    if let Some(m) = mapping {
        let stored = StoredState {
            status: m.status,
            fingerprint: m.fingerprint.as_deref(),
            scope_id: m.scope_id.as_str(),
            asset_type: current.asset_type,
        };
        if stored.is_unchanged(s, &fp) {
            return Decision::no_write(
                s.external_id.clone(),
                Some(current.asset_id),
                Outcome::Unchanged,
            );
        }
    }

    let primary = is_primary(ctx, current, mapping, &s.external_id);
    let prior_written = mapping.and_then(|m| m.written.clone());
    let mut written = prior_written.clone().unwrap_or_default();
    let asset_write;
    let mut extension = ExtensionWrite::default();

    if primary {
        let mut next = current.clone();
        next.extension = None;
        // Host-ownable fields: the provider's value wins unless the host edited the field
        // since the engine last wrote it.
        let w = prior_written.as_ref();
        let edited =
            |cur: &Option<String>, was: Option<&Option<String>>| w.is_some() && Some(cur) != was;
        let name = display_name(s);
        if !edited(&Some(current.name.clone()), w.map(|w| &w.name)) {
            next.name = name.clone();
        }
        written.name = Some(name);
        // An absent field merges onto what the engine last wrote, not onto the stored value:
        // merging onto a host edit would record the host's value as ours and let the next
        // provider value overwrite it.
        let serial = s
            .serial_number
            .merged(w.map_or(current.serial_number.as_ref(), |w| w.serial_number.as_ref()));
        if !edited(&current.serial_number, w.map(|w| &w.serial_number)) {
            next.serial_number = serial.clone();
        }
        written.serial_number = serial;
        let location = s
            .location
            .merged(w.map_or(current.location.as_ref(), |w| w.location.as_ref()));
        if !edited(&current.location, w.map(|w| &w.location)) {
            next.location = location.clone();
        }
        written.location = location;
        let status = provider_status(s);
        if !status_is_host_owned(current, w) {
            next.status = status.clone();
        }
        written.status = Some(status);
        if let Some(client) = scope_client {
            let host_moved =
                w.is_some_and(|w| w.client_id.is_some() && w.client_id != Some(current.client_id));
            if !host_moved {
                next.client_id = client;
            }
            written.client_id = Some(client);
        } else if written.client_id.is_none() {
            written.client_id = Some(current.client_id);
        }

        // Provider-owned fields: always refreshed.
        let old_kind = current.asset_type;
        if s.kind != DeviceKind::Unknown {
            next.asset_type = s.kind;
        }
        next.rmm_provider = Some(ctx.provider.clone());
        next.rmm_device_id = Some(s.external_id.as_str().to_owned());
        next.rmm_organization_id = Some(s.scope_id.as_str().to_owned());
        next.last_seen_at = s.last_seen_at.merged(current.last_seen_at.as_ref());
        next.agent_status = Some(agent_status(ctx, s, next.last_seen_at));
        next.last_rmm_sync_at = Some(ctx.now);
        next.updated_at = ctx.now;
        if s.identity != Default::default() {
            next.identity = s.identity.clone();
        }

        // Extension: merge onto the current row (moving it on reclassification).
        let base = current.extension.clone().unwrap_or_default();
        if let Some(kind) = next.asset_type.extension() {
            extension.upsert = Some((kind, s.details.apply_to(&base)));
        }
        if let Some(old) = old_kind.extension()
            && next.asset_type.extension() != Some(old)
        {
            extension.delete.push(old);
        }
        asset_write = AssetWrite::Update {
            asset: next,
            expected_updated_at: current.updated_at,
        };
    } else {
        // A secondary provider (cross-provider match) links without rewriting another
        // provider's asset.
        asset_write = AssetWrite::Keep;
    }

    let mapping_record = MappingRecord {
        id: mapping
            .map(|m| m.id)
            .unwrap_or_else(|| MappingId::from_uuid(uuid::Uuid::now_v7())),
        provider: ctx.provider.clone(),
        integration_id: ctx.integration_id,
        asset_id: current.asset_id,
        external_id: s.external_id.clone(),
        scope_id: s.scope_id.clone(),
        status: MappingStatus::Synced,
        last_synced_at: ctx.now,
        deleted_at: None,
        metadata: s
            .metadata
            .merged(mapping.map(|m| &m.metadata))
            .unwrap_or_default(),
        fingerprint: Some(fp),
        written: Some(written),
        created_at: mapping.map(|m| m.created_at).unwrap_or(ctx.now),
    };

    let outcome = match mapping {
        Some(m) if m.status == MappingStatus::Deleted => Outcome::Restored,
        Some(m) if m.scope_id != s.scope_id => Outcome::Moved {
            from: m.scope_id.to_string(),
        },
        Some(_) | None => Outcome::Updated,
    };
    Decision {
        external_id: s.external_id.clone(),
        asset_id: Some(current.asset_id),
        outcome,
        write: Some(Box::new(DeviceWrite {
            external_id: s.external_id.clone(),
            asset_id: current.asset_id,
            asset: asset_write,
            extension,
            mapping: mapping_record,
        })),
    }
}

/// Plans the re-key of one device: the mapping (and the asset's `rmm_device_id`) move to the
/// new id; nothing is created or deleted.
pub(crate) fn plan_identity_change(
    ctx: &IngestContext,
    index: &Index<'_>,
    change: &IdentityChange,
) -> Option<Decision> {
    let old = index.mapping_for(change.previous.as_str(), "")?;
    if let Some(new) = index.mapping_for(change.current.as_str(), "") {
        if new.asset_id != old.asset_id {
            // Both ids already have assets: merging is a human decision.
            return Some(Decision::no_write(
                change.current.clone(),
                Some(new.asset_id),
                Outcome::Ambiguous {
                    candidates: vec![old.asset_id, new.asset_id],
                },
            ));
        }
        return None;
    }
    let asset = index.assets.get(&old.asset_id).copied();
    let asset_write = match asset {
        Some(a) if is_primary(ctx, a, Some(old), &change.previous) => {
            let mut next = a.clone();
            next.extension = None;
            next.rmm_device_id = Some(change.current.as_str().to_owned());
            next.last_rmm_sync_at = Some(ctx.now);
            next.updated_at = ctx.now;
            AssetWrite::Update {
                asset: next,
                expected_updated_at: a.updated_at,
            }
        }
        _ => AssetWrite::Keep,
    };
    let mut m = old.clone();
    m.external_id = change.current.clone();
    m.last_synced_at = ctx.now;
    m.fingerprint = None; // the next listing refreshes everything under the new id
    m.metadata.insert(
        "previous_external_id".into(),
        change.previous.as_str().into(),
    );
    Some(Decision {
        external_id: change.current.clone(),
        asset_id: Some(old.asset_id),
        outcome: Outcome::Updated,
        write: Some(Box::new(DeviceWrite {
            external_id: change.current.clone(),
            asset_id: old.asset_id,
            asset: asset_write,
            extension: ExtensionWrite::default(),
            mapping: m,
        })),
    })
}

/// Whether this integration owns the asset's provider columns. A cross-provider match onto an
/// asset another provider created is secondary and only links.
fn is_primary(
    ctx: &IngestContext,
    asset: &AssetRecord,
    mapping: Option<&MappingRecord>,
    device: &ExternalDeviceId,
) -> bool {
    match &asset.rmm_provider {
        None => true,
        Some(p) if *p == ctx.provider => {
            mapping.is_some()
                || asset.rmm_device_id.is_none()
                || asset.rmm_device_id.as_deref() == Some(device.as_str())
        }
        Some(_) => false,
    }
}

fn status_is_host_owned(asset: &AssetRecord, written: Option<&WrittenValues>) -> bool {
    if !ENGINE_STATUSES.contains(&asset.status.as_str()) {
        return true; // retired, in repair, … : never ours to change
    }
    written.is_some_and(|w| w.status.as_deref().is_some_and(|s| s != asset.status))
}

fn provider_status(s: &DeviceSnapshot) -> String {
    match s.status.value() {
        Some(v) if !v.is_empty() => v.clone(),
        _ => match s.lifecycle {
            Lifecycle::Offline | Lifecycle::Deleted => "inactive".into(),
            Lifecycle::Active => "active".into(),
        },
    }
}

fn display_name(s: &DeviceSnapshot) -> String {
    let name = s.display_name.trim();
    if !name.is_empty() {
        return name.to_owned();
    }
    s.identity
        .hostname
        .clone()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| s.external_id.as_str().to_owned())
}

fn agent_status(
    ctx: &IngestContext,
    s: &DeviceSnapshot,
    last_seen: Option<DateTime<Utc>>,
) -> AgentStatus {
    let derived = match &s.agent_status {
        Reported::Value(v) => *v,
        _ => ctx.thresholds.evaluate(last_seen, ctx.now),
    };
    if s.lifecycle == Lifecycle::Offline && derived == AgentStatus::Online {
        AgentStatus::Offline
    } else {
        derived
    }
}

fn written_from(a: &AssetRecord) -> WrittenValues {
    WrittenValues {
        name: Some(a.name.clone()),
        serial_number: a.serial_number.clone(),
        location: a.location.clone(),
        status: Some(a.status.clone()),
        client_id: Some(a.client_id),
    }
}
