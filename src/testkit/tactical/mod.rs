//! [`TacticalSim`]: a local Tactical RMM API server for tests, reproducing the real server's
//! shapes and behaviours recorded in `provider-apis.md` §C/§D.3: the login flow with and without
//! two-factor authentication (checkcreds → token, or `{"totp": true}` → login with a code;
//! login without a code answers 500), Knox tokens that expire and extend on use, API keys, the
//! login throttle (429 + `Retry-After`), DRF paging of the beta API (`count/next/previous/
//! results`, 404 `Invalid page.`), the classic unpaginated listings, 401/404/405 bodies, an HTML
//! 404 for unknown paths and for the beta API when it is disabled, and a dashboard mode that
//! answers every path with the single-page app's HTML.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use rmm_sync::testkit::TacticalSim;
//! let sim = TacticalSim::builder().agents(50).clients(3).start().await;
//! assert_eq!(sim.agents().len(), 50);
//! let body = reqwest::Client::new()
//!     .get(format!("{}clients/", sim.url()))
//!     .header("X-API-KEY", sim.api_key())
//!     .send().await.unwrap().text().await.unwrap();
//! assert!(body.contains("Client 000"));
//! # }
//! ```

mod control;
mod fleet;
mod render;
mod server;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

pub use fleet::{SimAgent, SimClient, SimSite};
pub use state::{SimAuth, SimFault, SimRequest};

use state::{SimState, SimUser, Throttle};

/// Builds a [`TacticalSim`].
#[derive(Clone, Debug)]
pub struct TacticalSimBuilder {
    agents: u64,
    clients: u64,
    sites_per_client: u64,
    seed: u64,
    api_key: String,
    users: Vec<(String, String, Option<String>)>,
    beta_enabled: bool,
    knox_ttl: chrono::Duration,
    login_limit: usize,
    listen: SocketAddr,
}

impl Default for TacticalSimBuilder {
    fn default() -> Self {
        Self {
            agents: 20,
            clients: 2,
            sites_per_client: 2,
            seed: 1,
            api_key: "SIMULATEDAPIKEY0000000000000000000".into(),
            users: vec![("admin".into(), "password".into(), None)],
            beta_enabled: true,
            knox_ttl: chrono::Duration::hours(5),
            login_limit: 10,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        }
    }
}

impl TacticalSimBuilder {
    /// Number of generated agents (default 20).
    pub fn agents(mut self, n: u64) -> Self {
        self.agents = n;
        self
    }
    /// Number of clients (default 2).
    pub fn clients(mut self, n: u64) -> Self {
        self.clients = n.max(1);
        self
    }
    /// Sites per client (default 2).
    pub fn sites_per_client(mut self, n: u64) -> Self {
        self.sites_per_client = n.max(1);
        self
    }
    /// Seed of the generated fleet (default 1).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The accepted API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }
    /// Adds a user without two-factor authentication (default: `admin` / `password`).
    pub fn user(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.users.push((username.into(), password.into(), None));
        self
    }
    /// Adds a user with two-factor authentication; `code` is the TOTP code the simulator
    /// accepts (change it with [`TacticalSim::set_totp_code`]).
    pub fn totp_user(
        mut self,
        username: impl Into<String>,
        password: impl Into<String>,
        code: impl Into<String>,
    ) -> Self {
        self.users
            .push((username.into(), password.into(), Some(code.into())));
        self
    }
    /// Whether the beta API is enabled (`BETA_API_ENABLED`, default true).
    pub fn beta_enabled(mut self, on: bool) -> Self {
        self.beta_enabled = on;
        self
    }
    /// Knox token lifetime (default 5 hours).
    pub fn knox_ttl(mut self, ttl: chrono::Duration) -> Self {
        self.knox_ttl = ttl;
        self
    }
    /// Login requests allowed per endpoint per minute (default 10, as the real server).
    pub fn login_limit_per_minute(mut self, n: usize) -> Self {
        self.login_limit = n;
        self
    }

    /// The address to listen on (default `127.0.0.1:0`, a free loopback port). The control
    /// API ([`crate::testkit::control`]) is served there too, without authentication: bind a
    /// non-loopback address only on a network you trust.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Generates the fleet and starts serving on `127.0.0.1:<random port>` (or the
    /// [`listen`](Self::listen) address). Needs a Tokio runtime; the server stops when the
    /// simulator is dropped.
    ///
    /// # Panics
    /// When the address cannot be bound; [`try_start`](Self::try_start) returns the error.
    pub async fn start(self) -> TacticalSim {
        self.try_start()
            .await
            .expect("bind the simulator's address")
    }

    /// Like [`start`](Self::start), returning a bind failure.
    pub async fn try_start(self) -> std::io::Result<TacticalSim> {
        let listen = self.listen;
        let epoch = whole_seconds(Utc::now());
        let (clients, sites) = fleet::generate_clients(self.clients, self.sites_per_client);
        let mut state = SimState {
            clients: clients.into_iter().map(|c| (c.id, c)).collect(),
            sites: BTreeMap::new(),
            agents: BTreeMap::new(),
            by_agent_id: HashMap::new(),
            next_agent_pk: 1,
            api_keys: HashMap::from([(self.api_key.clone(), None)]),
            users: self
                .users
                .into_iter()
                .map(|(u, p, totp)| {
                    (
                        u,
                        SimUser {
                            password: p,
                            totp_code: totp,
                        },
                    )
                })
                .collect(),
            tokens: HashMap::new(),
            tokens_issued: 0,
            knox_ttl: self.knox_ttl,
            checkcreds_throttle: Throttle::new(self.login_limit),
            login_throttle: Throttle::new(self.login_limit),
            beta_enabled: self.beta_enabled,
            dashboard_mode: false,
            visible_clients: None,
            faults: Vec::new(),
            requests: Vec::new(),
            token_counter: self.seed,
            row_cache: HashMap::new(),
            generation: 0,
            listings: HashMap::new(),
            mutation_round: 0,
        };
        let site_ids: Vec<i64> = sites.iter().map(|s| s.id).collect();
        state.sites = sites.into_iter().map(|s| (s.id, s)).collect();
        for i in 0..self.agents {
            // Spread agents over sites without a regular stride.
            let site = site_ids[((i.wrapping_mul(2_654_435_761)) >> 7) as usize % site_ids.len()];
            state.insert_agent(fleet::generate_agent(i, site, self.seed, epoch));
        }
        TacticalSim::serve(state, self.seed, epoch, listen).await
    }
}

fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

type Shared = Arc<Mutex<SimState>>;

/// A running simulated Tactical RMM API. Control it through its methods; every change is
/// visible to the next request.
#[derive(Debug)]
pub struct TacticalSim {
    addr: SocketAddr,
    state: Shared,
    seed: u64,
    epoch: DateTime<Utc>,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Drop for TacticalSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn dispatch(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = {
        let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
        server::handle(
            &mut s,
            &method,
            uri.path(),
            uri.query().unwrap_or(""),
            &headers,
            &body,
        )
    };
    let mut response = (reply.status, reply.body).into_response();
    let h = response.headers_mut();
    h.insert("content-type", HeaderValue::from_static(reply.content_type));
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    response
}

impl TacticalSim {
    /// A builder with defaults (20 agents, 2 clients × 2 sites, API key, user `admin`).
    pub fn builder() -> TacticalSimBuilder {
        TacticalSimBuilder::default()
    }

    async fn serve(
        state: SimState,
        seed: u64,
        epoch: DateTime<Utc>,
        listen: SocketAddr,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared: Shared = Arc::new(Mutex::new(state));
        let control = control::TacticalControl {
            state: Arc::clone(&shared),
            seed,
        };
        let app = axum::Router::new()
            .fallback(dispatch)
            .with_state(Arc::clone(&shared))
            .merge(crate::testkit::control::router(control));
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(TacticalSim {
            addr,
            state: shared,
            seed,
            epoch,
            shutdown: Some(tx),
        })
    }

    fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The API root, `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The accepted API key.
    pub fn api_key(&self) -> String {
        self.state()
            .api_keys
            .keys()
            .next()
            .cloned()
            .unwrap_or_default()
    }

    /// The instant generated last-seen times are relative to.
    pub fn epoch(&self) -> DateTime<Utc> {
        self.epoch
    }

    // ---- data -------------------------------------------------------------------------------

    /// Every agent, in primary-key order.
    pub fn agents(&self) -> Vec<SimAgent> {
        self.state().agents.values().cloned().collect()
    }

    /// One agent by its agent id.
    pub fn agent(&self, agent_id: &str) -> Option<SimAgent> {
        self.state().agent_by_id(agent_id).cloned()
    }

    /// Every client.
    pub fn clients(&self) -> Vec<SimClient> {
        self.state().clients.values().cloned().collect()
    }

    /// Every site.
    pub fn sites(&self) -> Vec<SimSite> {
        self.state().sites.values().cloned().collect()
    }

    /// The client an agent belongs to (through its site).
    pub fn client_of(&self, agent_id: &str) -> Option<i64> {
        let s = self.state();
        let site = s.agent_by_id(agent_id)?.site;
        s.sites.get(&site).map(|site| site.client)
    }

    /// Adds a client; returns its id.
    pub fn add_client(&self, name: &str) -> i64 {
        let mut s = self.state();
        let id = s.clients.keys().next_back().copied().unwrap_or(0) + 1;
        s.clients.insert(
            id,
            SimClient {
                id,
                name: name.to_owned(),
            },
        );
        id
    }

    /// Adds a site to a client; returns its id.
    pub fn add_site(&self, client: i64, name: &str) -> i64 {
        let mut s = self.state();
        // The client filter of listings goes through sites.
        s.generation += 1;
        let id = s.sites.keys().next_back().copied().unwrap_or(0) + 1;
        s.sites.insert(
            id,
            SimSite {
                id,
                client,
                name: name.to_owned(),
            },
        );
        id
    }

    /// Adds a generated agent to a site (seen a minute ago); returns it.
    pub fn add_agent(&self, site: i64) -> SimAgent {
        let mut s = self.state();
        let pk = s.next_agent_pk;
        let mut agent = fleet::generate_agent(
            (pk - 1) as u64,
            site,
            self.seed ^ 0xA5A5,
            whole_seconds(Utc::now()),
        );
        agent.id = pk;
        agent.last_seen = Some(Utc::now() - chrono::Duration::minutes(1));
        s.insert_agent(agent.clone());
        agent
    }

    /// Adds or replaces an agent as given.
    pub fn put_agent(&self, agent: SimAgent) {
        self.state().insert_agent(agent);
    }

    /// Changes an agent in place; `false` when it does not exist. Changing `agent_id` is not
    /// supported (Tactical never re-keys agents).
    pub fn update_agent(&self, agent_id: &str, f: impl FnOnce(&mut SimAgent)) -> bool {
        let mut s = self.state();
        let Some(pk) = s.by_agent_id.get(agent_id).copied() else {
            return false;
        };
        s.row_cache.remove(&pk);
        s.generation += 1;
        match s.agents.get_mut(&pk) {
            Some(a) => {
                f(a);
                true
            }
            None => false,
        }
    }

    /// Moves an agent to another existing site (possibly of another client); `false` when the
    /// agent or the site does not exist.
    pub fn move_agent(&self, agent_id: &str, site: i64) -> bool {
        if !self.state().sites.contains_key(&site) {
            return false;
        }
        self.update_agent(agent_id, |a| a.site = site)
    }

    /// Deletes an agent (Tactical hard-deletes: it just disappears from listings).
    pub fn remove_agent(&self, agent_id: &str) -> Option<SimAgent> {
        let mut s = self.state();
        let pk = s.by_agent_id.remove(agent_id)?;
        s.row_cache.remove(&pk);
        s.generation += 1;
        s.agents.remove(&pk)
    }

    // ---- behaviour and faults ---------------------------------------------------------------

    /// Turns the beta API on or off (off: `/beta/…` answers an HTML 404).
    pub fn set_beta_enabled(&self, on: bool) {
        self.state().beta_enabled = on;
    }

    /// Answers every path with the dashboard's HTML (a base URL pointing at `rmm.` instead of
    /// `api.`).
    pub fn set_dashboard_mode(&self, on: bool) {
        self.state().dashboard_mode = on;
    }

    /// Limits the API user's role to some clients (`None`: all): `/clients/` and `/agents/`
    /// hide the others, the beta agent listing does not (as on the real server, whose beta
    /// viewset is not role-filtered).
    pub fn set_visible_clients(&self, clients: Option<Vec<i64>>) {
        self.state().visible_clients = clients;
    }

    /// Sets the TOTP code a 2FA user must send.
    pub fn set_totp_code(&self, username: &str, code: &str) {
        if let Some(u) = self.state().users.get_mut(username) {
            u.totp_code = Some(code.to_owned());
        }
    }

    /// Expires every Knox token (as if their TTL passed or an admin logged the user out).
    pub fn expire_knox_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Knox tokens issued so far (by checkcreds and login).
    pub fn knox_tokens_issued(&self) -> u64 {
        self.state().tokens_issued
    }

    /// Adds an API key that expired at `expired_at`.
    pub fn add_expired_api_key(&self, key: &str, expired_at: DateTime<Utc>) {
        self.state()
            .api_keys
            .insert(key.to_owned(), Some(expired_at));
    }

    /// Answers the next `times` requests whose path starts with `path_prefix` (no leading
    /// `/`) with `status`.
    pub fn fail_next(&self, path_prefix: &str, status: u16, times: u32) {
        self.inject(SimFault {
            path_prefix: path_prefix.to_owned(),
            status,
            remaining: times,
            retry_after: None,
            canned: None,
        });
    }

    /// Queues a fault.
    pub fn inject(&self, fault: SimFault) {
        self.state().faults.push(fault);
    }

    /// The body an alert template's REST action would post for an alert on `agent_id`:
    /// `template` with Tactical's `{{agent.…}}`, `{{client.…}}`, `{{site.…}}` and `{{alert.…}}`
    /// placeholders filled in as text (Python's `str()` of each value).
    pub fn render_alert_webhook(
        &self,
        template: &str,
        agent_id: &str,
        alert_id: i64,
        severity: &str,
    ) -> Option<Vec<u8>> {
        let s = self.state();
        let agent = s.agent_by_id(agent_id)?;
        let site = s.sites.get(&agent.site)?;
        let client = s.clients.get(&site.client)?;
        let alert_time = Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
        let values: [(&str, String); 12] = [
            ("agent.agent_id", agent.agent_id.clone()),
            ("agent.hostname", agent.hostname.clone()),
            ("agent.plat", agent.plat.clone()),
            ("client.id", client.id.to_string()),
            ("client.name", client.name.clone()),
            ("site.id", site.id.to_string()),
            ("site.name", site.name.clone()),
            ("alert.id", alert_id.to_string()),
            ("alert.alert_type", "availability".to_owned()),
            ("alert.severity", severity.to_owned()),
            ("alert.message", format!("{} is overdue", agent.hostname)),
            ("alert.alert_time", alert_time),
        ];
        let mut body = template.to_owned();
        for (key, value) in values {
            body = body.replace(&format!("{{{{{key}}}}}"), &value);
        }
        Some(body.into_bytes())
    }

    // ---- observation ------------------------------------------------------------------------

    /// Every request received so far.
    pub fn requests(&self) -> Vec<SimRequest> {
        self.state().requests.clone()
    }

    /// Requests whose path (without the leading `/`) starts with `prefix`.
    pub fn requests_to(&self, prefix: &str) -> Vec<SimRequest> {
        self.state()
            .requests
            .iter()
            .filter(|r| r.path.trim_start_matches('/').starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        self.state().requests.clear();
    }
}
