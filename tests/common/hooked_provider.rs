//! A provider wrapper with hooks the `ScriptedProvider` lacks: a gate that parks the first page
//! request until the test releases it (to hold a run mid-flight), extra devices served in another
//! scope's listing (a device that is a member of two Tanium computer groups), and scripted delta
//! pages (`list_changes`, as NinjaOne activities).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use rmm_sync::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, ExternalScopeId, IdentityChange,
    ScopeSnapshot,
};
use rmm_sync::provider::{
    Capabilities, ChangesPage, ChangesRequest, ConnectionReport, DevicePage, DevicePageRequest,
    DeviceSnapshotSource, ProviderInfo, RmmProvider, ScopeSource,
};
use rmm_sync::testkit::ScriptedProvider;
use rmm_sync::{Error, ErrorKind, Result};
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(crate) struct Gate {
    armed: AtomicBool,
    /// Notified when a request reached the gate.
    pub(crate) entered: Notify,
    /// Notify to let the parked request through.
    pub(crate) release: Notify,
}

#[derive(Debug)]
pub(crate) struct HookedProvider {
    inner: Arc<ScriptedProvider>,
    pub(crate) gate: Gate,
    extra: Mutex<HashMap<ExternalScopeId, Vec<DeviceSnapshot>>>,
    /// Answers of `list_changes_page`, in order; set, it turns `list_changes` on.
    changes: Mutex<Option<VecDeque<std::result::Result<ChangesPage, ErrorKind>>>>,
    /// The (checkpoint, cursor) of every `list_changes_page` call.
    change_requests: Mutex<Vec<(Option<String>, Option<String>)>>,
}

impl HookedProvider {
    pub(crate) fn new(inner: Arc<ScriptedProvider>) -> Self {
        Self {
            inner,
            gate: Gate::default(),
            extra: Mutex::new(HashMap::new()),
            changes: Mutex::new(None),
            change_requests: Mutex::new(Vec::new()),
        }
    }

    /// Claims `list_changes` and answers its calls with `answers`, in order.
    pub(crate) fn script_changes(&self, answers: Vec<std::result::Result<ChangesPage, ErrorKind>>) {
        *self.changes.lock().unwrap() = Some(answers.into());
    }

    /// The (checkpoint, cursor) of every `list_changes_page` call so far.
    pub(crate) fn change_requests(&self) -> Vec<(Option<String>, Option<String>)> {
        self.change_requests.lock().unwrap().clone()
    }

    /// Parks the next page request until `gate.release` is notified.
    pub(crate) fn arm_gate(&self) {
        self.gate.armed.store(true, Ordering::SeqCst);
    }

    /// Serves `device` on the first page of `scope`'s listing as well.
    pub(crate) fn also_list_in(&self, scope: &str, device: DeviceSnapshot) {
        self.extra
            .lock()
            .unwrap()
            .entry(ExternalScopeId::new(scope))
            .or_default()
            .push(device);
    }
}

#[async_trait]
impl RmmProvider for HookedProvider {
    fn info(&self) -> ProviderInfo {
        self.inner.info()
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            list_changes: self.changes.lock().unwrap().is_some(),
            ..self.inner.capabilities()
        }
    }
    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        self.inner.agent_status_thresholds()
    }
    async fn test_connection(&self) -> Result<ConnectionReport> {
        self.inner.test_connection().await
    }
}

#[async_trait]
impl ScopeSource for HookedProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        self.inner.list_scopes().await
    }
}

#[async_trait]
impl DeviceSnapshotSource for HookedProvider {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        if self.gate.armed.swap(false, Ordering::SeqCst) {
            self.gate.entered.notify_one();
            self.gate.release.notified().await;
        }
        let mut page = self.inner.list_devices_page(request).await?;
        if request.cursor.is_none()
            && let Some(scope) = &request.scope
            && let Some(extra) = self.extra.lock().unwrap().get(scope)
        {
            page.devices.extend(extra.iter().cloned());
        }
        Ok(page)
    }

    async fn list_changes_page(&self, request: &ChangesRequest) -> Result<ChangesPage> {
        self.change_requests.lock().unwrap().push((
            request.checkpoint.clone(),
            request.cursor.as_ref().map(|c| c.as_str().to_owned()),
        ));
        let answer = self
            .changes
            .lock()
            .unwrap()
            .as_mut()
            .and_then(VecDeque::pop_front);
        match answer {
            Some(Ok(page)) => Ok(page),
            Some(Err(kind)) => Err(Error::new(kind, format!("scripted change fault: {kind}"))),
            None => Err(Error::new(ErrorKind::Other, "no scripted change page left")),
        }
    }

    async fn identity_changes(
        &self,
        since: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Vec<IdentityChange>> {
        self.inner.identity_changes(since).await
    }

    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        self.inner.get_device(id).await
    }
}
