//! [`NinjaOneProvider`]: the trait implementations.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::activity::{DeviceEffect, device_effect};
use super::client::{Api, SERVICE};
use super::config::{DEFAULT_PAGE_SIZE, NinjaOneConfig, ScopeLevel};
use super::map::{device_snapshot, location_scope, organization_scope};
use super::webhook::WebhookVerifier;
use super::wire::{ActivitiesResponse, Activity, Device, Id, Location, Organization, decode_each};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    AgentStatusThresholds, DeviceSnapshot, ExternalDeviceId, ExternalScopeId, ProviderId,
    ScopeSnapshot,
};
use crate::provider::http::redact_url;
use crate::provider::{
    Capabilities, ChangesPage, ChangesRequest, ConnectionReport, Cursor, DevicePage,
    DevicePageRequest, DeviceSnapshotSource, ProviderInfo, RmmProvider, ScopeSource,
};

/// The NinjaOne (API v2) adapter.
///
/// - Scopes: organizations and locations (kind `site`, parent = organization); metadata
///   `receives_devices` marks the configured [`ScopeLevel`].
/// - Devices: the tenant-wide detailed listing (`GET /v2/devices-detailed`), paged by `after`
///   at [`NinjaOneConfig::page_size`]; no per-device calls in bulk paths.
/// - Deltas: the activity log (`GET /v2/activities`) after the last seen activity id; devices
///   the activities name are fetched in batches (`df=id in (…)`), `NODE_DELETED` tombstones.
///   A checkpoint older than the retained log fails with [`ErrorKind::CursorExpired`] (the
///   orchestrator then walks everything).
/// - Single device: the same listing filtered to one id (webhooks).
#[derive(Debug)]
pub struct NinjaOneProvider {
    api: Api,
    base: Url,
    config: NinjaOneConfig,
}

impl NinjaOneProvider {
    /// Builds the adapter; checks the configuration (no network call).
    pub fn new(config: NinjaOneConfig) -> Result<Self> {
        let base = config.validate()?;
        Ok(Self {
            api: Api::new(&config, &base)?,
            base,
            config,
        })
    }

    /// Builds the adapter from JSON settings (client credentials only), as the
    /// [`ProviderRegistry`](crate::provider::ProviderRegistry) factory of
    /// [`register`](super::register) does; see there for the keys.
    pub fn from_json(settings: &Value) -> Result<Self> {
        Self::new(super::settings::config_from_json(settings)?)
    }

    /// What instances can do with the default page size and no client-side budget (for
    /// registries, before an instance is configured).
    pub fn default_capabilities() -> Capabilities {
        capabilities_for(DEFAULT_PAGE_SIZE, None)
    }

    /// The configuration.
    pub fn config(&self) -> &NinjaOneConfig {
        &self.config
    }

    /// Makes sure the access token is not about to expire, refreshing it when it is due (and,
    /// for authorization-code grants, persisting the rotated refresh token). Hosts may call
    /// this on a timer so idle integrations keep their grant alive; returns when the token
    /// expires.
    pub async fn refresh_token_if_due(&self) -> Result<DateTime<Utc>> {
        self.api.auth.refresh_if_due().await
    }

    /// Registers `url` as the account's webhook (`PUT /v2/webhook`; one per API application),
    /// with the verifier's secret header. Needs a NinjaOne system administrator's grant.
    pub async fn register_webhook(&self, verifier: &WebhookVerifier, url: &Url) -> Result<()> {
        let target = self.api.url("/webhook", &[]);
        self.api
            .put_json(&target, &verifier.registration(url))
            .await
            .map_err(|e| e.with_context("operation", "register_webhook"))
    }

    /// Removes the account's webhook (`DELETE /v2/webhook`).
    pub async fn remove_webhook(&self) -> Result<()> {
        let target = self.api.url("/webhook", &[]);
        self.api
            .delete(&target)
            .await
            .map_err(|e| e.with_context("operation", "remove_webhook"))
    }

    /// Decodes a JSON array page. Fields are lenient, so only elements that are not objects
    /// can fail; then the page is decoded element by element and those are skipped. `what`
    /// names the records in messages.
    async fn get_array<T: DeserializeOwned>(&self, url: &Url, what: &str) -> Result<Vec<T>> {
        let response = self.api.get(url).await?;
        if let Ok(all) = response.json::<Vec<T>>(SERVICE) {
            return Ok(all);
        }
        let items: Vec<Value> = response
            .json(SERVICE)
            .map_err(|e| e.with_context("url", redact_url(url)))?;
        let (good, bad) = decode_each::<T>(items);
        if let Some(first) = bad.first() {
            tracing::warn!(
                url = %redact_url(url),
                skipped = bad.len(),
                error = %first,
                "NinjaOne returned {what} that are not objects; skipped"
            );
        }
        Ok(good)
    }

    /// Walks a list endpoint paged by `after` until an empty page. A short page does not end
    /// the walk: a server that caps the page size below ours would otherwise truncate it.
    async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
        id_of: impl Fn(&T) -> Option<i64>,
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        let mut after: Option<i64> = None;
        loop {
            let mut query = vec![("pageSize", self.config.page_size.to_string())];
            if let Some(a) = after {
                query.push(("after", a.to_string()));
            }
            let page: Vec<T> = self.get_array(&self.api.url(path, &query), what).await?;
            if page.is_empty() {
                return Ok(all);
            }
            let Some(last) = page.iter().filter_map(&id_of).max() else {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "NinjaOne returned {what} without usable ids; paging {path} cannot continue"
                    ),
                ));
            };
            if after.is_some_and(|a| last <= a) {
                return Err(stuck_paging(path, last));
            }
            after = Some(last);
            all.extend(page);
        }
    }

    /// One page of the detailed device listing: the snapshots and the largest id seen.
    async fn devices_page(
        &self,
        df: Option<&str>,
        page_size: u32,
        after: Option<i64>,
    ) -> Result<(Vec<DeviceSnapshot>, Option<i64>)> {
        let mut query = vec![("pageSize", page_size.to_string())];
        if let Some(a) = after {
            query.push(("after", a.to_string()));
        }
        if let Some(df) = df {
            query.push(("df", df.to_owned()));
        }
        let url = self.api.url("/devices-detailed", &query);
        let devices: Vec<Device> = self.get_array(&url, "devices").await?;
        let last = devices
            .iter()
            .filter_map(|d| d.id.value().map(|i| i.0))
            .max();
        let snapshots: Vec<DeviceSnapshot> = devices
            .iter()
            .filter_map(|d| device_snapshot(d, self.config.scope_level))
            .collect();
        if snapshots.len() < devices.len() {
            tracing::warn!(
                skipped = devices.len() - snapshots.len(),
                "NinjaOne devices without a usable id skipped"
            );
        }
        if !devices.is_empty() && last.is_none() {
            return Err(Error::new(
                ErrorKind::Decode,
                "NinjaOne returned a device page where no device has a usable id; paging cannot continue",
            ));
        }
        Ok((snapshots, last))
    }

    /// The current state of the given devices, fetched `id_batch_size` at a time with the
    /// detailed listing (never one call per device). Devices NinjaOne no longer has are
    /// simply absent from the result.
    pub(crate) async fn devices_by_id(&self, ids: &[i64]) -> Result<Vec<DeviceSnapshot>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(self.config.id_batch_size) {
            let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
            let df = if chunk.len() == 1 {
                format!("id = {}", list[0])
            } else {
                format!("id in ({})", list.join(","))
            };
            let size = u32::try_from(chunk.len())
                .unwrap_or(u32::MAX)
                .min(self.config.page_size);
            let mut after = None;
            let mut found = 0;
            loop {
                let (page, last) = self.devices_page(Some(&df), size, after).await?;
                found += page.len();
                out.extend(page);
                match last {
                    Some(l) if found < chunk.len() && after.is_none_or(|a| l > a) => {
                        after = Some(l)
                    }
                    _ => break,
                }
            }
        }
        Ok(out)
    }

    async fn activities(&self, query: Vec<(&str, String)>) -> Result<(Option<i64>, Vec<Activity>)> {
        let url = self.api.url("/activities", &query);
        let response: ActivitiesResponse = self.api.get_json(&url).await?;
        let (activities, bad) = decode_each::<Activity>(response.activities);
        if !bad.is_empty() {
            tracing::warn!(
                skipped = bad.len(),
                "NinjaOne activities that are not objects skipped"
            );
        }
        Ok((response.last_activity_id.value().map(|i| i.0), activities))
    }

    /// The newest activity id (the head of the log); 0 when the log is empty.
    async fn activity_head(&self) -> Result<i64> {
        let (head, activities) = self.activities(vec![("pageSize", "10".into())]).await?;
        let newest = activities
            .iter()
            .filter_map(|a| a.id.value().map(|i| i.0))
            .max();
        Ok(head.into_iter().chain(newest).max().unwrap_or(0))
    }

    /// Whether the log still reaches back to `checkpoint` (retention deletes the oldest
    /// activities first, so if anything at or before the checkpoint is left, nothing after it
    /// is gone). A checkpoint of 0 was taken on an empty log and is always intact.
    async fn window_intact(&self, checkpoint: i64) -> Result<bool> {
        if checkpoint <= 0 {
            return Ok(true);
        }
        let (_, older) = self
            .activities(vec![
                ("olderThan", (checkpoint + 1).to_string()),
                ("pageSize", "10".into()),
            ])
            .await?;
        Ok(older
            .iter()
            .any(|a| a.id.value().is_some_and(|i| i.0 <= checkpoint)))
    }

    fn activity_page_size(&self, wanted: Option<u32>) -> u32 {
        wanted
            .unwrap_or(self.config.activity_page_size)
            .min(self.config.activity_page_size)
            .clamp(10, 1000)
    }
}

/// Marks whether devices land in this scope (the configured level), so a host's mapping
/// screen can offer only those.
fn receives_devices(mut scope: ScopeSnapshot, receives: bool) -> ScopeSnapshot {
    scope
        .metadata
        .insert("receives_devices".into(), Value::Bool(receives));
    scope
}

/// What an instance with this page size and client-side budget can do.
fn capabilities_for(page_size: u32, requests_per_minute: Option<u32>) -> Capabilities {
    Capabilities {
        test_connection: true,
        list_scopes: true,
        list_devices: true,
        // One tenant-wide walk is cheaper than one per organization.
        list_devices_per_scope: false,
        list_changes: true,
        get_device: true,
        deletion_detection: true,
        webhooks: true,
        device_has_last_seen: true,
        device_has_serial: true,
        list_devices_max_page_size: Some(page_size),
        requests_per_minute,
        ..Capabilities::default()
    }
}

fn stuck_paging(path: &str, last: i64) -> Error {
    Error::new(
        ErrorKind::Decode,
        format!("NinjaOne paging of {path} did not advance past id {last}"),
    )
}

fn lost_window(checkpoint: i64) -> Error {
    Error::new(
        ErrorKind::CursorExpired,
        format!(
            "the NinjaOne activity log no longer reaches back to activity {checkpoint}; changes since then may be lost, a full walk is needed"
        ),
    )
}

/// The position inside one activity window: the window's top (the checkpoint it ends at) and
/// the smallest activity id read so far.
fn encode_cursor(top: i64, older_than: i64) -> Cursor {
    Cursor::new(format!("{top}:{older_than}"))
}

fn decode_cursor(cursor: &Cursor) -> Result<(i64, i64)> {
    cursor
        .as_str()
        .split_once(':')
        .and_then(|(t, o)| Some((t.parse().ok()?, o.parse().ok()?)))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::CursorExpired,
                format!("{:?} is not a NinjaOne activity cursor", cursor.as_str()),
            )
        })
}

fn parse_id(id: &ExternalDeviceId) -> Result<i64> {
    id.as_str().trim().parse().map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{:?} is not a NinjaOne device id (NinjaOne ids are integers)",
                id.as_str()
            ),
        )
    })
}

#[async_trait]
impl RmmProvider for NinjaOneProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            provider: ProviderId::NINJAONE,
            title: "NinjaOne".into(),
            base_url: Some(redact_url(&self.base)),
        }
    }

    fn capabilities(&self) -> Capabilities {
        capabilities_for(
            self.config.page_size,
            self.config.rate_limit.map(|l| l.requests_per_minute),
        )
    }

    fn agent_status_thresholds(&self) -> AgentStatusThresholds {
        self.config.thresholds
    }

    async fn test_connection(&self) -> Result<ConnectionReport> {
        let mut report = ConnectionReport::default();
        let url = self.api.url("/organizations", &[("pageSize", "1".into())]);
        let orgs: Vec<Organization> = self
            .get_array(&url, "organizations")
            .await
            .map_err(|e| e.with_context("operation", "test_connection"))?;
        report.details.push(format!(
            "authenticated with {} as client {}",
            redact_url(&self.base),
            self.config.credentials.client_id()
        ));
        report.details.push(if orgs.is_empty() {
            "no organizations visible".to_owned()
        } else {
            "organizations are readable".to_owned()
        });
        if orgs.is_empty() {
            report
                .warnings
                .push("the account shows no organizations: nothing will sync".into());
        }
        match self.activity_head().await {
            Ok(head) => report
                .details
                .push(format!("activity log readable (newest activity {head})")),
            Err(e) if e.kind() == ErrorKind::Forbidden => report.warnings.push(format!(
                "the activity log is not readable ({e}); incremental runs will walk everything"
            )),
            Err(e) => return Err(e.with_context("operation", "test_connection")),
        }
        Ok(report)
    }
}

#[async_trait]
impl ScopeSource for NinjaOneProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        let orgs: Vec<Organization> = self
            .list_all("/organizations", "organizations", |o: &Organization| {
                o.id.value().map(|i| i.0)
            })
            .await
            .map_err(|e| e.with_context("operation", "list_scopes"))?;
        let locations: Vec<Location> = self
            .list_all("/locations", "locations", |l: &Location| {
                l.id.value().map(|i| i.0)
            })
            .await
            .map_err(|e| e.with_context("operation", "list_scopes"))?;
        let level = self.config.scope_level;
        let scopes: Vec<ScopeSnapshot> = orgs
            .iter()
            .filter_map(organization_scope)
            .map(|s| receives_devices(s, level == ScopeLevel::Organization))
            .chain(
                locations
                    .iter()
                    .filter_map(location_scope)
                    .map(|s| receives_devices(s, level == ScopeLevel::Location)),
            )
            .collect();
        Ok(scopes)
    }
}

#[async_trait]
impl DeviceSnapshotSource for NinjaOneProvider {
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        let after = match &request.cursor {
            None => None,
            Some(c) => Some(c.as_str().parse::<i64>().map_err(|_| {
                Error::new(
                    ErrorKind::CursorExpired,
                    format!("{:?} is not a NinjaOne device cursor", c.as_str()),
                )
            })?),
        };
        // Not claimed as a capability (one tenant-wide walk is cheaper), but honoured.
        let df = request
            .scope
            .as_ref()
            .map(|s| match s.as_str().strip_prefix("loc-") {
                Some(location) => format!("loc = {location}"),
                None => format!("org = {}", s.as_str()),
            });
        let size = request
            .page_size
            .unwrap_or(self.config.page_size)
            .clamp(1, self.config.page_size);
        let (devices, last) = self
            .devices_page(df.as_deref(), size, after)
            .await
            .map_err(|e| e.with_context("operation", "list_devices"))?;
        if let (Some(a), Some(l)) = (after, last)
            && l <= a
        {
            return Err(stuck_paging("/devices-detailed", l));
        }
        Ok(DevicePage {
            devices,
            // An empty page ends the walk; a short one may be a server-side cap.
            next_cursor: last.map(|l| Cursor::new(l.to_string())),
            total: None,
        })
    }

    async fn list_changes_page(&self, request: &ChangesRequest) -> Result<ChangesPage> {
        let Some(raw) = request.checkpoint.as_deref() else {
            // "Start now": the head of the log, nothing to replay.
            let head = self
                .activity_head()
                .await
                .map_err(|e| e.with_context("operation", "list_changes"))?;
            return Ok(ChangesPage {
                checkpoint: Some(head.to_string()),
                ..ChangesPage::default()
            });
        };
        let checkpoint: i64 = raw.trim().parse().map_err(|_| {
            Error::new(
                ErrorKind::CursorExpired,
                format!("{raw:?} is not a NinjaOne activity id"),
            )
        })?;
        let position = request.cursor.as_ref().map(decode_cursor).transpose()?;
        let size = self.activity_page_size(request.page_size);
        let mut query = vec![
            ("newerThan", checkpoint.to_string()),
            ("pageSize", size.to_string()),
        ];
        if let Some((_, older_than)) = position {
            query.push(("olderThan", older_than.to_string()));
        }
        let (head, activities) = self
            .activities(query)
            .await
            .map_err(|e| e.with_context("operation", "list_changes"))?;
        if position.is_none()
            && let Some(head) = head
            && head < checkpoint
        {
            return Err(Error::new(
                ErrorKind::CursorExpired,
                format!(
                    "checkpoint {checkpoint} is newer than the NinjaOne activity log ({head}); it belongs to another account or the log was reset"
                ),
            ));
        }
        let upper = position.map(|(_, o)| o);
        let window: Vec<&Activity> = activities
            .iter()
            .filter(|a| {
                a.id.value()
                    .is_some_and(|i| i.0 > checkpoint && upper.is_none_or(|u| i.0 < u))
            })
            .collect();
        let ids = window.iter().filter_map(|a| a.id.value().map(|i| i.0));
        let oldest = ids.clone().min();
        let top = match position {
            Some((top, _)) => top,
            None => head
                .into_iter()
                .chain(ids)
                .max()
                .unwrap_or(checkpoint)
                .max(checkpoint),
        };

        let mut deleted: BTreeSet<i64> = BTreeSet::new();
        let mut changed: BTreeSet<i64> = BTreeSet::new();
        for a in &window {
            let Some(Id(device)) = a.device_id.value().copied() else {
                continue;
            };
            match a.status_code.value().and_then(|c| device_effect(c)) {
                Some(DeviceEffect::Tombstone) => {
                    deleted.insert(device);
                }
                Some(DeviceEffect::Refresh) => {
                    changed.insert(device);
                }
                None => {}
            }
        }
        // A deleted device is not fetched (NinjaOne ids are never reused).
        let to_fetch: Vec<i64> = changed.difference(&deleted).copied().collect();
        let devices = self
            .devices_by_id(&to_fetch)
            .await
            .map_err(|e| e.with_context("operation", "list_changes"))?;

        let last_page = (activities.len() as u64) < u64::from(size) || oldest.is_none();
        // Checked after the pages it vouches for were read (retention only moves forward): on
        // the first page to fail fast, on the last so the whole window is known complete.
        if (position.is_none() || last_page) && !self.window_intact(checkpoint).await? {
            return Err(lost_window(checkpoint));
        }
        let (next_cursor, new_checkpoint) = if last_page {
            (None, Some(top.to_string()))
        } else {
            (oldest.map(|o| encode_cursor(top, o)), None)
        };
        Ok(ChangesPage {
            devices,
            deleted: deleted
                .into_iter()
                .map(|id| {
                    (
                        ExternalDeviceId::new(id.to_string()),
                        None::<ExternalScopeId>,
                    )
                })
                .collect(),
            identity_changes: Vec::new(),
            next_cursor,
            checkpoint: new_checkpoint,
        })
    }

    async fn get_device(&self, id: &ExternalDeviceId) -> Result<Option<DeviceSnapshot>> {
        let numeric = parse_id(id)?;
        let mut found = self.devices_by_id(&[numeric]).await.map_err(|e| {
            e.with_context("operation", "get_device")
                .with_context("device", id)
        })?;
        Ok(found
            .iter()
            .position(|d| d.external_id == *id)
            .map(|i| found.swap_remove(i)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor(900, 450);
        assert_eq!(decode_cursor(&c).unwrap(), (900, 450));
        assert_eq!(
            decode_cursor(&Cursor::new("x")).unwrap_err().kind(),
            ErrorKind::CursorExpired
        );
        assert_eq!(
            parse_id(&"abc".into()).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(parse_id(&" 42".into()).unwrap(), 42);
    }

    #[test]
    fn debug_output_never_shows_the_client_secret() {
        use super::super::config::{Credentials, Instance, Region};
        let p = NinjaOneProvider::new(NinjaOneConfig::new(
            Instance::Region(Region::Oc),
            Credentials::client_credentials("cid", "top-secret-value".to_owned().into()),
        ))
        .unwrap();
        let shown = format!("{p:?}");
        assert!(!shown.contains("top-secret-value"), "{shown}");
        assert_eq!(
            p.info().base_url.as_deref(),
            Some("https://oc.ninjarmm.com/")
        );
        assert!(p.capabilities().list_changes);
        assert!(!p.capabilities().list_devices_per_scope);
    }
}
