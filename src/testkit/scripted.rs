//! [`ScriptedProvider`]: a provider whose fleet lives in memory and is changed by the test.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::fleet::generate_fleet;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, ExternalScopeId, IdentityChange,
    IntegrationId, ProviderId, ScopeSnapshot,
};
use crate::provider::{
    Capabilities, ConnectionReport, Cursor, DevicePage, DevicePageRequest, DeviceSnapshotSource,
    ProviderInfo, RmmProvider, ScopeSource,
};
use crate::store::IntegrationSpec;

/// A fault the next matching call returns.
#[derive(Clone, Debug, PartialEq)]
pub enum ScriptedFault {
    /// `list_devices_page` fails with this error kind when asked for page `page` (0-based) of
    /// `scope` (`None`: any scope).
    ListPage {
        /// Scope filter.
        scope: Option<ExternalScopeId>,
        /// Page index.
        page: usize,
        /// Error kind.
        kind: ErrorKind,
    },
    /// `list_scopes` fails.
    ListScopes(ErrorKind),
    /// `test_connection` fails.
    Connection(ErrorKind),
}

#[derive(Debug, Default)]
struct Fleet {
    scopes: BTreeMap<ExternalScopeId, ScopeSnapshot>,
    devices: BTreeMap<ExternalDeviceId, DeviceSnapshot>,
    identity_changes: Vec<IdentityChange>,
    faults: VecDeque<ScriptedFault>,
    page_calls: u64,
}

/// A provider over an in-memory fleet: deterministic, mutable, with fault injection.
/// Capabilities are configurable; by default it lists per scope, supports identity changes,
/// single-device fetch and deletion detection.
#[derive(Debug)]
pub struct ScriptedProvider {
    id: ProviderId,
    caps: Capabilities,
    thresholds: AgentStatusThresholds,
    page_size: usize,
    fleet: Mutex<Fleet>,
}

impl ScriptedProvider {
    /// An empty provider with the slug `scripted`.
    pub fn new() -> Self {
        Self {
            id: ProviderId::new("scripted").expect("valid slug"),
            caps: Capabilities {
                test_connection: true,
                list_scopes: true,
                list_devices: true,
                list_devices_per_scope: true,
                identity_changes: true,
                get_device: true,
                deletion_detection: true,
                device_has_last_seen: true,
                device_has_serial: true,
                list_devices_max_page_size: Some(500),
                ..Capabilities::default()
            },
            thresholds: AgentStatusThresholds::default(),
            page_size: 500,
            fleet: Mutex::new(Fleet::default()),
        }
    }

    /// A provider with a generated fleet (`devices` across `scopes`, seeded).
    pub fn generated(devices: u64, scopes: u64, seed: u64) -> Self {
        let p = Self::new();
        let (s, d) = generate_fleet(devices, scopes, seed);
        for scope in s {
            p.put_scope(scope);
        }
        for dev in d {
            p.put_device(dev);
        }
        p
    }

    /// Uses another provider slug.
    pub fn with_provider_id(mut self, id: ProviderId) -> Self {
        self.id = id;
        self
    }

    /// Replaces the capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// Sets the agent-status thresholds.
    pub fn with_thresholds(mut self, t: AgentStatusThresholds) -> Self {
        self.thresholds = t;
        self
    }

    /// Sets the page size.
    pub fn with_page_size(mut self, n: usize) -> Self {
        self.page_size = n.max(1);
        self
    }

    /// An integration spec for this provider, with an id derived from `name`.
    pub fn integration_spec(&self, name: &str) -> IntegrationSpec {
        IntegrationSpec {
            integration_id: IntegrationId::from_name(name),
            provider: self.id.clone(),
            instance_url: Some("scripted://local".into()),
            is_active: true,
            settings: Default::default(),
        }
    }

    fn fleet(&self) -> std::sync::MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds or replaces a scope.
    pub fn put_scope(&self, scope: ScopeSnapshot) {
        self.fleet().scopes.insert(scope.id.clone(), scope);
    }

    /// Removes a scope.
    pub fn remove_scope(&self, id: &str) {
        self.fleet().scopes.remove(id);
    }

    /// Adds or replaces a device.
    pub fn put_device(&self, device: DeviceSnapshot) {
        self.fleet()
            .devices
            .insert(device.external_id.clone(), device);
    }

    /// Changes a device in place; `false` when it does not exist.
    pub fn update_device(&self, id: &str, f: impl FnOnce(&mut DeviceSnapshot)) -> bool {
        match self.fleet().devices.get_mut(id) {
            Some(d) => {
                f(d);
                true
            }
            None => false,
        }
    }

    /// Moves a device to another scope.
    pub fn move_device(&self, id: &str, scope: &str) -> bool {
        self.update_device(id, |d| d.scope_id = ExternalScopeId::new(scope))
    }

    /// Removes a device.
    pub fn remove_device(&self, id: &str) -> Option<DeviceSnapshot> {
        self.fleet().devices.remove(id)
    }

    /// Re-keys a device (as Tanium does on re-registration) and records the identity change.
    pub fn rekey_device(&self, old: &str, new: &str, at: DateTime<Utc>) -> bool {
        let mut f = self.fleet();
        let Some(mut d) = f.devices.remove(old) else {
            return false;
        };
        d.external_id = ExternalDeviceId::new(new);
        f.devices.insert(d.external_id.clone(), d);
        f.identity_changes.push(IdentityChange {
            previous: ExternalDeviceId::new(old),
            current: ExternalDeviceId::new(new),
            changed_at: Some(at),
        });
        true
    }

    /// Queues a fault.
    pub fn inject(&self, fault: ScriptedFault) {
        self.fleet().faults.push_back(fault);
    }

    /// Current device count.
    pub fn device_count(&self) -> usize {
        self.fleet().devices.len()
    }

    /// Device ids, sorted.
    pub fn device_ids(&self) -> Vec<ExternalDeviceId> {
        self.fleet().devices.keys().cloned().collect()
    }

    /// A copy of one device.
    pub fn device(&self, id: &str) -> Option<DeviceSnapshot> {
        self.fleet().devices.get(id).cloned()
    }

    /// How many pages were served.
    pub fn page_calls(&self) -> u64 {
        self.fleet().page_calls
    }

    fn take_fault(&self, matches: impl Fn(&ScriptedFault) -> bool) -> Option<ScriptedFault> {
        let mut f = self.fleet();
        let pos = f.faults.iter().position(matches)?;
        f.faults.remove(pos)
    }
}

impl Default for ScriptedProvider {
    fn default() -> Self {
        Self::new()
    }
}

fn fault_error(kind: ErrorKind) -> Error {
    Error::new(kind, format!("scripted fault: {kind}"))
}

#[async_trait]
impl RmmProvider for ScriptedProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            provider: self.id.clone(),
            title: "Scripted".into(),
            base_url: None,
        }
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        self.thresholds
    }

    async fn test_connection(&self) -> Result<ConnectionReport> {
        if let Some(ScriptedFault::Connection(kind)) =
            self.take_fault(|f| matches!(f, ScriptedFault::Connection(_)))
        {
            return Err(fault_error(kind));
        }
        Ok(ConnectionReport {
            details: vec![format!("{} devices", self.device_count())],
            warnings: Vec::new(),
        })
    }
}

#[async_trait]
impl ScopeSource for ScriptedProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        if let Some(ScriptedFault::ListScopes(kind)) =
            self.take_fault(|f| matches!(f, ScriptedFault::ListScopes(_)))
        {
            return Err(fault_error(kind));
        }
        Ok(self.fleet().scopes.values().cloned().collect())
    }
}

#[async_trait]
impl DeviceSnapshotSource for ScriptedProvider {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        let page_size = request
            .page_size
            .map(|p| p as usize)
            .unwrap_or(self.page_size)
            .min(self.page_size)
            .max(1);
        let offset: usize = match &request.cursor {
            None => 0,
            Some(c) => c.as_str().parse().map_err(|_| {
                Error::new(
                    ErrorKind::CursorExpired,
                    format!("unknown cursor {:?}", c.as_str()),
                )
            })?,
        };
        let page_index = offset / page_size;
        if let Some(ScriptedFault::ListPage { kind, .. }) = self.take_fault(|f| match f {
            ScriptedFault::ListPage { scope, page, .. } => {
                *page == page_index && (scope.is_none() || *scope == request.scope)
            }
            _ => false,
        }) {
            return Err(fault_error(kind));
        }
        let mut f = self.fleet();
        f.page_calls += 1;
        let matching: Vec<&DeviceSnapshot> = f
            .devices
            .values()
            .filter(|d| request.scope.as_ref().is_none_or(|s| &d.scope_id == s))
            .filter(|d| {
                request
                    .since
                    .is_none_or(|since| d.last_seen_at.value().is_some_and(|t| *t > since))
            })
            .collect();
        let total = matching.len();
        let devices: Vec<DeviceSnapshot> = matching
            .into_iter()
            .skip(offset)
            .take(page_size)
            .cloned()
            .collect();
        let next = offset + devices.len();
        Ok(DevicePage {
            devices,
            next_cursor: (next < total).then(|| Cursor::new(next.to_string())),
            total: Some(total as u64),
        })
    }

    async fn identity_changes(&self, since: Option<DateTime<Utc>>) -> Result<Vec<IdentityChange>> {
        Ok(self
            .fleet()
            .identity_changes
            .iter()
            .filter(|c| since.is_none_or(|s| c.changed_at.is_none_or(|t| t > s)))
            .cloned()
            .collect())
    }

    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        Ok(self.fleet().devices.get(id).cloned())
    }
}
