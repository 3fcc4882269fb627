//! The simulator's mutable state: data, users and sessions, throttles, faults and the request
//! log.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::fleet::{SimAgent, SimClient, SimSite};
use crate::testkit::CannedResponse;

/// How a recorded request authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimAuth {
    /// No credentials.
    None,
    /// A valid API key.
    ApiKey,
    /// A valid Knox token of this user.
    Knox(String),
    /// Credentials that were rejected.
    Rejected,
}

/// One request the simulator received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimRequest {
    /// HTTP method.
    pub method: String,
    /// Path, with its leading `/`.
    pub path: String,
    /// Raw query string (empty without one).
    pub query: String,
    /// How it authenticated (requests to the login endpoints count as `None`).
    pub auth: SimAuth,
}

impl SimRequest {
    /// The value of a query parameter.
    pub fn query_param(&self, key: &str) -> Option<String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    }
}

/// A fault served instead of the real answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimFault {
    /// Requests whose path (without the leading `/`) starts with this are affected.
    pub path_prefix: String,
    /// The status to answer with (429 gets the throttle body, 5xx an HTML error page).
    pub status: u16,
    /// How many more requests it affects.
    pub remaining: u32,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// When set, this exact answer is served instead of the status's usual page (its own
    /// status, body and `Retry-After` win over the fields above).
    pub canned: Option<CannedResponse>,
}

#[derive(Clone, Debug)]
pub(crate) struct SimUser {
    pub(crate) password: String,
    pub(crate) totp_code: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct SimToken {
    pub(crate) username: String,
    pub(crate) expiry: DateTime<Utc>,
}

/// Tactical's login throttle: `limit` requests per 60 s per endpoint (per client IP on the real
/// server; everything is one IP here).
#[derive(Clone, Debug)]
pub(crate) struct Throttle {
    pub(crate) limit: usize,
    hits: VecDeque<Instant>,
}

impl Throttle {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            hits: VecDeque::new(),
        }
    }

    /// Records a hit; `Err(wait_seconds)` when over the limit.
    pub(crate) fn hit(&mut self) -> Result<(), u64> {
        let window = Duration::from_secs(60);
        let now = Instant::now();
        while self
            .hits
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.hits.pop_front();
        }
        if self.hits.len() >= self.limit {
            let oldest = self.hits.front().copied().unwrap_or(now);
            let wait = window.saturating_sub(now.duration_since(oldest));
            return Err(wait.as_secs() + u64::from(wait.subsec_nanos() > 0));
        }
        self.hits.push_back(now);
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct SimState {
    pub(crate) clients: BTreeMap<i64, SimClient>,
    pub(crate) sites: BTreeMap<i64, SimSite>,
    /// Agents by primary key (the beta API's order).
    pub(crate) agents: BTreeMap<i64, SimAgent>,
    pub(crate) by_agent_id: HashMap<String, i64>,
    pub(crate) next_agent_pk: i64,
    pub(crate) api_keys: HashMap<String, Option<DateTime<Utc>>>,
    pub(crate) users: HashMap<String, SimUser>,
    pub(crate) tokens: HashMap<String, SimToken>,
    pub(crate) tokens_issued: u64,
    pub(crate) knox_ttl: chrono::Duration,
    pub(crate) checkcreds_throttle: Throttle,
    pub(crate) login_throttle: Throttle,
    pub(crate) beta_enabled: bool,
    pub(crate) dashboard_mode: bool,
    /// Clients the API user's role may see (`None`: all). Filters `/clients/` and `/agents/`
    /// but, as on the real server, not the beta agent listing.
    pub(crate) visible_clients: Option<Vec<i64>>,
    pub(crate) faults: Vec<SimFault>,
    pub(crate) requests: Vec<SimRequest>,
    pub(crate) token_counter: u64,
    /// Rendered beta rows by primary key; an entry is dropped whenever its agent changes.
    pub(crate) row_cache: HashMap<i64, Vec<u8>>,
    /// Bumped by every change to agents or sites: cached listings of an older generation are
    /// stale.
    pub(crate) generation: u64,
    /// The primary keys a beta listing's filters select, by the query without its paging
    /// parameters, with the generation they were computed at: the pages of one listing filter
    /// the fleet once instead of once per page (which made a full listing quadratic).
    pub(crate) listings: HashMap<String, (u64, std::sync::Arc<Vec<i64>>)>,
    /// Control-API mutations so far: makes each round's changes distinct.
    pub(crate) mutation_round: u64,
}

impl SimState {
    pub(crate) fn agent_by_id(&self, agent_id: &str) -> Option<&SimAgent> {
        self.by_agent_id
            .get(agent_id)
            .and_then(|pk| self.agents.get(pk))
    }

    pub(crate) fn client_visible(&self, client: i64) -> bool {
        self.visible_clients
            .as_ref()
            .is_none_or(|v| v.contains(&client))
    }

    pub(crate) fn insert_agent(&mut self, agent: SimAgent) {
        self.next_agent_pk = self.next_agent_pk.max(agent.id + 1);
        self.row_cache.remove(&agent.id);
        self.generation += 1;
        if let Some(old) = self.agents.get(&agent.id) {
            self.by_agent_id.remove(&old.agent_id);
        }
        self.by_agent_id.insert(agent.agent_id.clone(), agent.id);
        self.agents.insert(agent.id, agent);
    }

    /// A fresh 64-hex-digit token.
    pub(crate) fn new_token(
        &mut self,
        username: &str,
        ttl: chrono::Duration,
    ) -> (String, DateTime<Utc>) {
        self.token_counter += 1;
        self.tokens_issued += 1;
        let mut x = self.token_counter.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD6E8_FEB8_6659_FD93;
        let token: String = (0..4)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                format!("{x:016x}")
            })
            .collect();
        let expiry = Utc::now() + ttl;
        self.tokens.insert(
            token.clone(),
            SimToken {
                username: username.to_owned(),
                expiry,
            },
        );
        (token, expiry)
    }

    /// Takes one use of a matching fault.
    pub(crate) fn take_fault(&mut self, path: &str) -> Option<SimFault> {
        let pos = self
            .faults
            .iter()
            .position(|f| f.remaining > 0 && path.starts_with(&f.path_prefix))?;
        let fault = &mut self.faults[pos];
        fault.remaining -= 1;
        let taken = fault.clone();
        if fault.remaining == 0 {
            self.faults.remove(pos);
        }
        Some(taken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_allows_the_limit_then_names_the_wait() {
        let mut t = Throttle::new(2);
        assert!(t.hit().is_ok());
        assert!(t.hit().is_ok());
        let wait = t.hit().unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
    }
}
