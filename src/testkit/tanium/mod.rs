//! [`TaniumGatewaySim`]: a local Tanium API Gateway (features `testkit` + `tanium`).
//!
//! An HTTP server on `127.0.0.1` serving the part of the Gateway the adapter uses — `now`,
//! `computerGroups`, `endpoints` (with `memberOf` and `eidLastSeen` filters, `first`/`after`
//! paging, `totalRecords`, collections whose cursors expire), `endpointIdChanges` — and the
//! Asset API's `GET …/v2/assets`, over a deterministic generated fleet. The test changes the
//! fleet through the control methods and injects faults ([`SimFault`]).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use rmm_sync::provider::{DevicePageRequest, DeviceSnapshotSource, ScopeSource};
//! use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};
//!
//! let sim = TaniumGatewaySim::start(SimConfig::new(50, 3, 7)).await.unwrap();
//! let provider = sim.provider_builder().build().unwrap();
//! let groups = provider.list_scopes().await.unwrap();
//! assert_eq!(groups.len(), 3);
//! let page = provider
//!     .list_devices_page(&DevicePageRequest::new(Some(groups[0].id.clone())))
//!     .await
//!     .unwrap();
//! assert_eq!(page.devices.len(), sim.endpoints_in_group(groups[0].id.as_str()).len());
//! # });
//! ```

mod control;
mod faults;
mod filter;
mod fleet;
mod generate;
mod graphql;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use faults::{FaultTarget, SimFault};
pub use fleet::{SimApp, SimDisk, SimEndpoint, SimGroup};

use crate::provider::tanium::{TaniumBuilder, TaniumProvider};
use server::{ASSET_PATH, GRAPHQL_PATH, Shared, lock};
use state::SimState;

/// What fleet to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimConfig {
    /// Endpoints.
    pub endpoints: u64,
    /// Computer groups (each endpoint starts in one of them).
    pub groups: u64,
    /// Seed of the generator: the same seed gives the same fleet.
    pub seed: u64,
    /// The API token the simulator accepts in the `session` header.
    pub token: String,
}

impl SimConfig {
    /// `endpoints` across `groups`, seeded, with the token `token-sim-0123456789`.
    pub fn new(endpoints: u64, groups: u64, seed: u64) -> Self {
        Self {
            endpoints,
            groups,
            seed,
            token: "token-sim-0123456789".into(),
        }
    }
}

/// One request the simulator received.
#[derive(Clone, Debug, PartialEq)]
pub struct SimRequest {
    /// The GraphQL operation name (`"AssetApi"` for Asset API calls).
    pub operation: Option<String>,
    /// Root fields selected.
    pub root_fields: Vec<String>,
    /// The variables (the query parameters for Asset API calls).
    pub variables: Value,
}

/// A running simulated Gateway. Dropping it stops the server.
#[derive(Debug)]
pub struct TaniumGatewaySim {
    addr: SocketAddr,
    state: Shared,
    token: String,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("groups", &self.groups.len())
            .field("endpoints", &self.endpoint_count())
            .finish_non_exhaustive()
    }
}

impl Drop for TaniumGatewaySim {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl TaniumGatewaySim {
    /// Generates the fleet and starts serving on `127.0.0.1:<free port>`. Needs a tokio
    /// runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Like [`start`](Self::start), on `addr` (port 0: a free one). The control API
    /// ([`crate::testkit::control`]) is served on the same listener, without authentication:
    /// bind a non-loopback address only on a network you trust.
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> std::io::Result<Self> {
        let state: Shared = Arc::new(Mutex::new(SimState::generate(
            config.endpoints,
            config.groups,
            config.seed,
            config.token.clone(),
            Utc::now(),
        )));
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let router = server::router(Arc::clone(&state)).merge(crate::testkit::control::router(
            control::TaniumControl(Arc::clone(&state)),
        ));
        // Without TCP_NODELAY, split writes meet delayed ACKs: ~40 ms per response.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "Tanium Gateway simulator stopped");
            }
        });
        Ok(Self {
            addr,
            state,
            token: config.token,
            server,
        })
    }

    /// The server's base URL (`http://127.0.0.1:<port>`): what an admin would type as the
    /// Gateway host.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The GraphQL endpoint.
    pub fn graphql_url(&self) -> String {
        format!("{}{GRAPHQL_PATH}", self.url())
    }

    /// The Asset API base (the adapter appends `/v2/assets`).
    pub fn asset_api_url(&self) -> String {
        format!(
            "{}{}",
            self.url(),
            ASSET_PATH.trim_end_matches("/v2/assets")
        )
    }

    /// The token the simulator accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// A provider builder pointed at this simulator, with test-friendly retries (three
    /// attempts, millisecond backoff).
    pub fn provider_builder(&self) -> TaniumBuilder {
        TaniumProvider::builder()
            .gateway_url(self.url())
            .api_token(self.token.clone())
            .retry(crate::provider::http::RetryConfig {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(5),
                max_backoff: Duration::from_millis(20),
                max_retry_after: Duration::from_secs(5),
            })
    }

    // ---- fleet ---------------------------------------------------------------------------

    /// The computer groups, in id order.
    pub fn groups(&self) -> Vec<SimGroup> {
        lock(&self.state).groups.clone()
    }

    /// Adds a group; returns its id.
    pub fn add_group(&self, name: &str) -> String {
        let mut s = lock(&self.state);
        let next = s
            .groups
            .iter()
            .filter_map(|g| g.id.parse::<u64>().ok())
            .max()
            .map_or(100, |m| m + 1);
        let group = SimGroup {
            id: next.to_string(),
            name: name.to_owned(),
            group_type: "MANUAL".into(),
            expression: String::new(),
            content_set: None,
        };
        s.groups.push(group);
        next.to_string()
    }

    /// Removes a group (its endpoints stay, outside it).
    pub fn remove_group(&self, id: &str) {
        let mut s = lock(&self.state);
        s.groups.retain(|g| g.id != id);
        let members: Vec<SimEndpoint> = s
            .all_endpoints()
            .filter(|e| e.groups.iter().any(|g| g == id))
            .map(|e| (**e).clone())
            .collect();
        for mut e in members {
            e.groups.retain(|g| g != id);
            let eid = e.id.parse().expect("EIDs are numeric");
            s.insert_endpoint(eid, Arc::new(e));
        }
    }

    /// Every endpoint id (TDS only; aged-out endpoints excluded), in id order.
    pub fn endpoint_ids(&self) -> Vec<String> {
        lock(&self.state)
            .all_endpoints()
            .map(|e| e.id.clone())
            .collect()
    }

    /// Endpoint ids that are members of a group, in id order.
    pub fn endpoints_in_group(&self, group: &str) -> Vec<String> {
        lock(&self.state)
            .all_endpoints()
            .filter(|e| e.groups.iter().any(|g| g == group))
            .map(|e| e.id.clone())
            .collect()
    }

    /// One endpoint as the Gateway would serve it.
    pub fn endpoint(&self, id: &str) -> Option<SimEndpoint> {
        let key = id.parse::<u64>().ok()?;
        lock(&self.state).endpoint(key).map(|e| (**e).clone())
    }

    /// Generates a new endpoint in `group`; returns its EID.
    pub fn add_endpoint(&self, group: &str) -> String {
        lock(&self.state).generate_endpoint(group, Utc::now())
    }

    /// Inserts or replaces an endpoint (its `id` must be numeric, as EIDs are).
    ///
    /// # Panics
    /// When the id is not a number.
    pub fn put_endpoint(&self, endpoint: SimEndpoint) {
        let key: u64 = endpoint
            .id
            .parse()
            .expect("simulated endpoint ids (EIDs) are numeric");
        let mut s = lock(&self.state);
        s.next_eid = s.next_eid.max(key + 1);
        s.insert_endpoint(key, Arc::new(endpoint));
    }

    /// Changes an endpoint in place; `false` when it does not exist.
    pub fn update_endpoint(&self, id: &str, change: impl FnOnce(&mut SimEndpoint)) -> bool {
        let Ok(key) = id.parse::<u64>() else {
            return false;
        };
        let mut s = lock(&self.state);
        let Some(current) = s.endpoint(key) else {
            return false;
        };
        let mut e = (**current).clone();
        change(&mut e);
        e.id = key.to_string();
        s.insert_endpoint(key, Arc::new(e));
        true
    }

    /// Moves an endpoint into exactly one group.
    pub fn move_endpoint(&self, id: &str, group: &str) -> bool {
        self.update_endpoint(id, |e| e.groups = vec![group.to_owned()])
    }

    /// Adds an endpoint to one more group.
    pub fn add_to_group(&self, id: &str, group: &str) -> bool {
        self.update_endpoint(id, |e| {
            if !e.groups.iter().any(|g| g == group) {
                e.groups.push(group.to_owned());
            }
        })
    }

    /// Marks an endpoint as just seen (or seen at `at`).
    pub fn touch(&self, id: &str, at: DateTime<Utc>) -> bool {
        self.update_endpoint(id, |e| e.eid_last_seen = Some(at))
    }

    /// Removes an endpoint from the Gateway.
    pub fn remove_endpoint(&self, id: &str) -> bool {
        let Ok(key) = id.parse::<u64>() else {
            return false;
        };
        lock(&self.state).remove_endpoint(key).is_some()
    }

    /// Re-keys an endpoint (as a re-image or re-registration does): it gets a new EID and the
    /// change is reported by `endpointIdChanges`. Returns the new EID.
    pub fn rekey_endpoint(&self, id: &str) -> Option<String> {
        let key = id.parse::<u64>().ok()?;
        let mut s = lock(&self.state);
        let current = s.remove_endpoint(key)?;
        let new_key = s.next_eid;
        s.next_eid += 1;
        let mut e = (*current).clone();
        e.id = new_key.to_string();
        s.insert_endpoint(new_key, Arc::new(e));
        s.id_changes
            .push((id.to_owned(), new_key.to_string(), Utc::now()));
        Some(new_key.to_string())
    }

    /// Moves an endpoint out of TDS: the Gateway no longer lists it, the Asset API does.
    pub fn age_out(&self, id: &str) -> bool {
        let Ok(key) = id.parse::<u64>() else {
            return false;
        };
        let mut s = lock(&self.state);
        match s.remove_endpoint(key) {
            Some(e) => {
                s.aged_out.insert(key, e);
                true
            }
            None => false,
        }
    }

    // ---- behaviour and faults ------------------------------------------------------------

    /// Queues a fault for the next `times` requests matching `target`.
    pub fn inject(&self, target: FaultTarget, fault: SimFault, times: u32) {
        if times > 0 {
            lock(&self.state).faults.push((target, fault, times));
        }
    }

    /// Queues a fault for the next GraphQL request.
    pub fn inject_next(&self, fault: SimFault) {
        self.inject(FaultTarget::Any, fault, 1);
    }

    /// How many fault answers are still queued (a served fault counts down its `times`).
    pub fn faults_pending(&self) -> u64 {
        lock(&self.state)
            .faults
            .iter()
            .map(|(_, _, n)| u64::from(*n))
            .sum()
    }

    /// Drops every queued fault.
    pub fn clear_faults(&self) {
        lock(&self.state).faults.clear();
    }

    /// Expires every open cursor now.
    pub fn expire_cursors(&self) {
        lock(&self.state).expire_cursors();
    }

    /// How long a collection's cursors live after their last use (default 5 minutes).
    pub fn set_cursor_ttl(&self, ttl: Duration) {
        lock(&self.state).cursor_ttl = ttl;
    }

    /// Behave like a tenant that refuses the `eidLastSeen` filter.
    pub fn set_reject_eid_last_seen_filter(&self, reject: bool) {
        lock(&self.state).reject_eid_last_seen = reject;
    }

    /// Requests received so far (the most recent 20,000).
    pub fn requests(&self) -> Vec<SimRequest> {
        lock(&self.state).requests.clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.state).requests.clear();
    }
}
