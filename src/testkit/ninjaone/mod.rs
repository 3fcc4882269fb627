//! [`NinjaOneSim`]: a local NinjaOne v2 API (feature `ninjaone` + `testkit`).
//!
//! It serves the OAuth token endpoint (client credentials, authorization code, refresh with
//! rotation), organizations, locations, the detailed device listing (paged by `after`, page
//! size capped like a real server may, `df` filters by id, organization and location), single
//! devices, the activity log (newest first, `newerThan` / `olderThan`, retention you control)
//! and webhook configuration — over a deterministic generated tenant that a test mutates. Every
//! mutation writes the activity NinjaOne would (`NODE_CREATED`, `NODE_UPDATED`,
//! `NODE_DELETED`), and [`NinjaOneSim::deliver_webhook`] posts it to the registered webhook.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use rmm_sync::provider::{DevicePageRequest, DeviceSnapshotSource};
//! use rmm_sync::provider::ninjaone::NinjaOneProvider;
//! use rmm_sync::testkit::{NinjaOneSim, SimFleet};
//!
//! let sim = NinjaOneSim::with_fleet(SimFleet::new(30, 3, 7)).await?;
//! let provider = NinjaOneProvider::new(sim.config())?;
//! let page = provider.list_devices_page(&DevicePageRequest::new(None)).await?;
//! assert_eq!(page.devices.len(), 30);
//! # Ok::<(), rmm_sync::Error>(())
//! # }).unwrap();
//! ```

mod control;
mod model;
mod server;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use secrecy::SecretString;
use serde_json::Value;

pub use model::{
    SIM_NODE_CLASSES, SimActivity, SimAgent, SimDevice, SimFleet, SimLocation, SimOrganization,
    SimVolume,
};
pub use server::{SimFault, SimStats};

use server::{FaultRule, RefreshState, Shared, SimState, lock};

use crate::error::{Error, ErrorKind, Result};
use crate::provider::http::RetryConfig;
use crate::provider::ninjaone::{Credentials, Instance, NinjaOneConfig, OAuthTokens, TokenStore};

/// Activity ids of a real account are large; the log starts far from device ids.
const FIRST_ACTIVITY_ID: i64 = 1_000_001;

/// The client id the simulator accepts.
pub const SIM_CLIENT_ID: &str = "sim-client";
const SIM_CLIENT_SECRET: &str = "sim-client-secret-0123456789";

/// A webhook delivery as NinjaOne would send it: where, with which headers, what body.
#[derive(Clone, Debug, PartialEq)]
pub struct WebhookDelivery {
    /// The registered URL.
    pub url: String,
    /// The registered custom headers plus `Content-Type`.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// A running NinjaOne simulator on `127.0.0.1` (a random port). Stops when dropped.
#[derive(Debug)]
pub struct NinjaOneSim {
    addr: SocketAddr,
    state: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for NinjaOneSim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl NinjaOneSim {
    /// A simulator with an empty tenant.
    pub async fn start() -> Result<Self> {
        Self::with_fleet(SimFleet {
            organizations: 0,
            locations_per_organization: 0,
            devices: 0,
            seed: 0,
        })
        .await
    }

    /// A simulator with a generated tenant. `organizations: 0` makes an empty one.
    pub async fn with_fleet(fleet: SimFleet) -> Result<Self> {
        Self::with_fleet_on(fleet, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`with_fleet`](Self::with_fleet), on `addr` (port 0: a free one). The control API
    /// ([`crate::testkit::control`]) is served on the same listener, without authentication:
    /// bind a non-loopback address only on a network you trust.
    pub async fn with_fleet_on(fleet: SimFleet, addr: SocketAddr) -> Result<Self> {
        let now = Utc::now().timestamp_micros() as f64 / 1e6;
        let (orgs, locations, devices) = if fleet.organizations == 0 {
            (Vec::new(), Vec::new(), Vec::new())
        } else {
            model::generate(fleet, now)
        };
        let state = SimState {
            client_id: SIM_CLIENT_ID.into(),
            client_secret: SIM_CLIENT_SECRET.into(),
            token_lifetime: Duration::from_secs(3600),
            token_latency: Duration::ZERO,
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            auth_codes: HashSet::new(),
            token_counter: 0,
            organizations: orgs.into_iter().map(|o| (o.id, o)).collect(),
            locations: locations.into_iter().map(|l| (l.id, l)).collect(),
            devices: devices.into_iter().map(|d| (d.id, d)).collect(),
            activities: VecDeque::new(),
            next_activity_id: FIRST_ACTIVITY_ID,
            max_page_size: 1000,
            faults: Vec::new(),
            stats: SimStats::default(),
            webhook: None,
            now,
            rendered: HashMap::new(),
            mutation_round: 0,
        };
        let state: Shared = Arc::new(Mutex::new(state));
        let app = axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&state))
            .merge(crate::testkit::control::router(control::NinjaOneControl(
                Arc::clone(&state),
            )));
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::new(ErrorKind::Unavailable, "simulator could not bind").with_source(e)
        })?;
        let addr = listener.local_addr().map_err(|e| {
            Error::new(ErrorKind::Unavailable, "simulator has no address").with_source(e)
        })?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, state, task })
    }

    /// The base URL (`http://127.0.0.1:<port>`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The client secret the simulator accepts.
    pub fn client_secret(&self) -> SecretString {
        self.state().client_secret.clone().into()
    }

    /// Accepts `secret` as the client secret from now on (instead of the built-in one).
    pub fn set_client_secret(&self, secret: &str) {
        self.state().client_secret = secret.to_owned();
    }

    /// An adapter configuration for this simulator: client credentials, quick retries.
    pub fn config(&self) -> NinjaOneConfig {
        self.config_with(Credentials::client_credentials(
            SIM_CLIENT_ID,
            self.client_secret(),
        ))
    }

    /// An adapter configuration using an authorization-code grant kept in `store` under `key`
    /// (seed it with [`NinjaOneSim::issue_tokens`]).
    pub fn authorization_code_config(
        &self,
        store: Arc<dyn TokenStore>,
        key: &str,
    ) -> NinjaOneConfig {
        self.config_with(Credentials::authorization_code(
            SIM_CLIENT_ID,
            self.client_secret(),
            store,
            key,
        ))
    }

    fn config_with(&self, credentials: Credentials) -> NinjaOneConfig {
        let instance = Instance::url(&self.url()).expect("the simulator URL parses");
        NinjaOneConfig::new(instance, credentials).with_retry(RetryConfig {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
            max_retry_after: Duration::from_secs(5),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SimState> {
        lock(&self.state)
    }

    // --- OAuth control ---------------------------------------------------------------------

    /// Issues an access + refresh token pair directly (as an authorization-code exchange
    /// would), for seeding a token store.
    pub fn issue_tokens(&self) -> OAuthTokens {
        let mut s = self.state();
        let (access, refresh) = server::issue(&mut s, true);
        OAuthTokens {
            access_token: access.into(),
            refresh_token: refresh.map(SecretString::from),
            expires_at: Utc::now()
                + chrono::Duration::from_std(s.token_lifetime).unwrap_or(chrono::Duration::MAX),
        }
    }

    /// A single-use authorization code for `grant_type=authorization_code`.
    pub fn issue_authorization_code(&self) -> String {
        let code = format!("sim-code-{}", uuid::Uuid::new_v4().simple());
        self.state().auth_codes.insert(code.clone());
        code
    }

    /// The `expires_in` of tokens issued from now on.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.state().token_lifetime = lifetime;
    }

    /// Delays every token response (widens refresh races in tests).
    pub fn set_token_latency(&self, latency: Duration) {
        self.state().token_latency = latency;
    }

    /// Expires every access token issued so far (the next API call gets 401).
    pub fn expire_access_tokens(&self) {
        let now = Instant::now();
        for expiry in self.state().access_tokens.values_mut() {
            *expiry = now;
        }
    }

    /// Revokes every refresh token and access token (an administrator removed the app's
    /// access): refreshing fails with `invalid_grant`.
    pub fn revoke_grants(&self) {
        let mut s = self.state();
        for state in s.refresh_tokens.values_mut() {
            *state = RefreshState::Revoked;
        }
        s.access_tokens.clear();
    }

    // --- tenant control --------------------------------------------------------------------

    /// Adds an organization; returns its id.
    pub fn add_organization(&self, name: &str) -> i64 {
        let mut s = self.state();
        let id = s.organizations.keys().next_back().copied().unwrap_or(0) + 1;
        s.organizations.insert(
            id,
            SimOrganization {
                id,
                name: name.into(),
            },
        );
        id
    }

    /// Adds a location to an organization; returns its id.
    pub fn add_location(&self, organization_id: i64, name: &str) -> i64 {
        let mut s = self.state();
        let id = s.locations.keys().next_back().copied().unwrap_or(0) + 1;
        s.locations.insert(
            id,
            SimLocation {
                id,
                organization_id,
                name: name.into(),
            },
        );
        id
    }

    /// Adds a device (`NODE_CREATED`); its id is one past the largest so far.
    pub fn add_device(&self, mut device: SimDevice) -> i64 {
        let mut s = self.state();
        device.id = s.devices.keys().next_back().copied().unwrap_or(0) + 1;
        let id = device.id;
        s.devices.insert(id, device);
        s.rendered.remove(&id);
        record(&mut s, Some(id), "SYSTEM", "NODE_CREATED");
        id
    }

    /// A copy of a device.
    pub fn device(&self, id: i64) -> Option<SimDevice> {
        self.state().devices.get(&id).cloned()
    }

    /// All device ids, ascending.
    pub fn device_ids(&self) -> Vec<i64> {
        self.state().devices.keys().copied().collect()
    }

    /// How many devices there are.
    pub fn device_count(&self) -> usize {
        self.state().devices.len()
    }

    /// Changes a device (`NODE_UPDATED`); `false` when it does not exist.
    pub fn update_device(&self, id: i64, change: impl FnOnce(&mut SimDevice)) -> bool {
        let mut s = self.state();
        let Some(d) = s.devices.get_mut(&id) else {
            return false;
        };
        change(d);
        s.rendered.remove(&id);
        record(&mut s, Some(id), "SYSTEM", "NODE_UPDATED");
        true
    }

    /// Changes a device without writing an activity (what a check-in does).
    pub fn update_device_silently(&self, id: i64, change: impl FnOnce(&mut SimDevice)) -> bool {
        let mut s = self.state();
        let Some(d) = s.devices.get_mut(&id) else {
            return false;
        };
        change(d);
        s.rendered.remove(&id);
        true
    }

    /// Moves a device to another organization and location (`NODE_UPDATED`).
    pub fn move_device(&self, id: i64, organization_id: i64, location_id: i64) -> bool {
        self.update_device(id, |d| {
            d.organization_id = organization_id;
            d.location_id = location_id;
        })
    }

    /// Deletes a device (`NODE_DELETED`); `false` when it does not exist.
    pub fn delete_device(&self, id: i64) -> bool {
        let mut s = self.state();
        if !s.devices.contains_key(&id) {
            return false;
        }
        record(&mut s, Some(id), "SYSTEM", "NODE_DELETED");
        s.devices.remove(&id);
        s.rendered.remove(&id);
        true
    }

    /// Removes a device without any activity (as if the deletion's activity was lost).
    pub fn remove_device_silently(&self, id: i64) -> bool {
        let mut s = self.state();
        s.rendered.remove(&id);
        s.devices.remove(&id).is_some()
    }

    /// Writes an activity; returns its id.
    pub fn record_activity(
        &self,
        device_id: Option<i64>,
        activity_type: &str,
        status_code: &str,
    ) -> i64 {
        record(&mut self.state(), device_id, activity_type, status_code)
    }

    /// The newest activity id (0 when there never was one).
    pub fn last_activity_id(&self) -> i64 {
        let next = self.state().next_activity_id;
        if next == FIRST_ACTIVITY_ID {
            0
        } else {
            next - 1
        }
    }

    /// Drops every activity up to and including `id` (retention): a checkpoint at or before it
    /// can no longer be continued.
    pub fn purge_activities_through(&self, id: i64) {
        self.state().activities.retain(|a| a.id > id);
    }

    /// The largest page the simulator serves (larger `pageSize`s are silently capped).
    pub fn set_max_page_size(&self, max: usize) {
        self.state().max_page_size = max.max(1);
    }

    // --- faults and counters ---------------------------------------------------------------

    /// Serves `fault` for the next `times` requests whose path starts with `path_prefix`
    /// (`"/v2/devices-detailed"`, `"/ws/oauth/token"`, `"/"` for any).
    pub fn inject(&self, path_prefix: &str, fault: SimFault, times: u32) {
        self.state().faults.push(FaultRule {
            path_prefix: path_prefix.into(),
            fault,
            remaining: times,
        });
    }

    /// A copy of the counters.
    pub fn stats(&self) -> SimStats {
        self.state().stats.clone()
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.state().stats = SimStats::default();
    }

    // --- webhooks --------------------------------------------------------------------------

    /// The configuration last `PUT` to `/v2/webhook`.
    pub fn webhook_config(&self) -> Option<Value> {
        self.state().webhook.clone()
    }

    /// The delivery NinjaOne would make for activity `activity_id` to the registered webhook;
    /// `None` without a registration or such an activity.
    pub fn webhook_delivery(&self, activity_id: i64) -> Option<WebhookDelivery> {
        let s = self.state();
        let config = s.webhook.as_ref()?;
        let activity = s.activities.iter().find(|a| a.id == activity_id)?;
        let expand = config["expand"]
            .as_array()
            .is_some_and(|e| e.iter().any(|x| x == "device"));
        let mut headers = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        for h in config["headers"].as_array().into_iter().flatten() {
            if let (Some(n), Some(v)) = (h["name"].as_str(), h["value"].as_str()) {
                headers.push((n.to_owned(), v.to_owned()));
            }
        }
        Some(WebhookDelivery {
            url: config["url"].as_str()?.to_owned(),
            headers,
            body: serde_json::to_vec(&activity.to_json(expand)).unwrap_or_default(),
        })
    }

    /// POSTs the delivery for `activity_id` to the registered webhook URL; returns the HTTP
    /// status the receiver answered.
    pub async fn deliver_webhook(&self, activity_id: i64) -> Result<u16> {
        let delivery = self.webhook_delivery(activity_id).ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("no webhook registered, or no activity {activity_id}"),
            )
        })?;
        let mut request = reqwest::Client::new()
            .post(&delivery.url)
            .body(delivery.body);
        for (name, value) in &delivery.headers {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| {
            Error::new(ErrorKind::Unavailable, "webhook delivery failed")
                .with_source(e.without_url())
        })?;
        Ok(response.status().as_u16())
    }

    /// The simulator's "now" at start (epoch seconds): generated devices were seen before it.
    pub fn started_at(&self) -> f64 {
        self.state().now
    }

    /// Organizations, by id.
    pub fn organizations(&self) -> BTreeMap<i64, SimOrganization> {
        self.state().organizations.clone()
    }

    /// Locations, by id.
    pub fn locations(&self) -> BTreeMap<i64, SimLocation> {
        self.state().locations.clone()
    }
}

pub(crate) fn record(
    s: &mut SimState,
    device_id: Option<i64>,
    activity_type: &str,
    status_code: &str,
) -> i64 {
    let id = s.next_activity_id;
    s.next_activity_id += 1;
    let device_ref = device_id
        .and_then(|d| s.devices.get(&d))
        .map(|d| (d.organization_id, d.location_id, d.node_class.clone()));
    s.activities.push_back(SimActivity {
        id,
        activity_time: Utc::now().timestamp_micros() as f64 / 1e6,
        device_id,
        activity_type: activity_type.into(),
        status_code: status_code.into(),
        device_ref,
    });
    id
}
