//! A minimal in-memory provider for the orchestrated scenarios (the suite does not depend on
//! the `testkit` feature).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{DeviceSnapshot, ExternalDeviceId, ProviderId, ScopeSnapshot};
use crate::provider::{
    Capabilities, ConnectionReport, DevicePage, DevicePageRequest, DeviceSnapshotSource,
    ProviderInfo, RmmProvider, ScopeSource,
};

/// Scopes and devices held in memory, listed per scope in one page.
#[derive(Debug)]
pub(super) struct ListProvider {
    id: ProviderId,
    scopes: Vec<ScopeSnapshot>,
    devices: Mutex<BTreeMap<ExternalDeviceId, DeviceSnapshot>>,
}

impl ListProvider {
    pub(super) fn new(id: ProviderId, scopes: Vec<ScopeSnapshot>) -> Self {
        Self {
            id,
            scopes,
            devices: Mutex::new(BTreeMap::new()),
        }
    }

    fn devices(&self) -> std::sync::MutexGuard<'_, BTreeMap<ExternalDeviceId, DeviceSnapshot>> {
        self.devices.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn put(&self, device: DeviceSnapshot) {
        self.devices().insert(device.external_id.clone(), device);
    }

    pub(super) fn remove(&self, id: &str) {
        self.devices().remove(id);
    }
}

#[async_trait]
impl RmmProvider for ListProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            provider: self.id.clone(),
            title: "Conformance list provider".into(),
            base_url: None,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            test_connection: true,
            list_scopes: true,
            list_devices: true,
            list_devices_per_scope: true,
            get_device: true,
            deletion_detection: true,
            device_has_last_seen: true,
            ..Default::default()
        }
    }

    async fn test_connection(&self) -> Result<ConnectionReport> {
        Ok(ConnectionReport::default())
    }
}

#[async_trait]
impl ScopeSource for ListProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        Ok(self.scopes.clone())
    }
}

#[async_trait]
impl DeviceSnapshotSource for ListProvider {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        let devices: Vec<DeviceSnapshot> = self
            .devices()
            .values()
            .filter(|d| request.scope.as_ref().is_none_or(|s| &d.scope_id == s))
            .cloned()
            .collect();
        Ok(DevicePage {
            total: Some(devices.len() as u64),
            devices,
            next_cursor: None,
        })
    }

    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        Ok(self.devices().get(id).cloned())
    }
}
