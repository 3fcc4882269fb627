//! The control API ([`crate::testkit::control`]) of the Tactical RMM simulator: mutations of
//! agents (primary-key order), faults as [`SimFault`]s with a canned answer for the path
//! prefix the request names.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::Utc;

use super::fleet;
use super::state::{SimFault, SimState};
use crate::testkit::control::{
    FaultRequest, MutateRequest, MutateResponse, SimControl, SimStatsResponse, spread,
};

pub(crate) struct TacticalControl {
    pub(crate) state: Arc<Mutex<SimState>>,
    pub(crate) seed: u64,
}

impl TacticalControl {
    fn state(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl SimControl for TacticalControl {
    fn mutate(&self, request: &MutateRequest) -> MutateResponse {
        let mut s = self.state();
        s.mutation_round += 1;
        let round = s.mutation_round;
        let now = Utc::now();
        let mut out = MutateResponse::default();
        let sites: Vec<i64> = s.sites.keys().copied().collect();

        // Each agent is touched by one step at most, so the counts of a sync add up.
        let mut touched: HashSet<i64> = HashSet::new();
        let pks: Vec<i64> = s.agents.keys().copied().collect();
        for i in spread(pks.len(), request.change, round) {
            touched.insert(pks[i]);
            let Some(mut a) = s.agents.get(&pks[i]).cloned() else {
                continue;
            };
            // The base name stays recognisable; the suffix makes every round a real change.
            let base = a.hostname.split('~').next().unwrap_or_default().to_owned();
            a.hostname = format!("{base}~{round}");
            // Seen now, so an incremental (`last_seen_range_after`) listing picks it up.
            a.last_seen = Some(now);
            out.changed.push(a.agent_id.clone());
            s.insert_agent(a);
        }

        for i in 0..request.add {
            if sites.is_empty() {
                break;
            }
            let pk = s.next_agent_pk;
            let site = sites[(i as usize) % sites.len()];
            let mut agent = fleet::generate_agent((pk - 1) as u64, site, self.seed ^ 0xA5A5, now);
            agent.id = pk;
            agent.last_seen = Some(now);
            touched.insert(pk);
            out.added.push(agent.agent_id.clone());
            s.insert_agent(agent);
        }

        let pks: Vec<i64> = untouched(&s, &touched);
        for i in spread(pks.len(), request.remove, round) {
            touched.insert(pks[i]);
            if let Some(a) = s.agents.remove(&pks[i]) {
                s.by_agent_id.remove(&a.agent_id);
                s.row_cache.remove(&a.id);
                s.generation += 1;
                out.removed.push(a.agent_id);
            }
        }

        let pks: Vec<i64> = untouched(&s, &touched);
        for i in spread(pks.len(), request.move_, round) {
            let Some(mut a) = s.agents.get(&pks[i]).cloned() else {
                continue;
            };
            let Some(p) = sites.iter().position(|id| *id == a.site) else {
                continue;
            };
            // The next site usually belongs to the same client; skip to one of another client
            // so the move shows at the default `client` scope level too.
            let client = s.sites[&a.site].client;
            let target = (1..sites.len())
                .map(|k| sites[(p + k) % sites.len()])
                .find(|id| s.sites[id].client != client)
                .unwrap_or(sites[(p + 1) % sites.len()]);
            a.site = target;
            a.last_seen = Some(now);
            out.moved.push(a.agent_id.clone());
            s.insert_agent(a);
        }
        out.devices = s.agents.len() as u64;
        out
    }

    fn fault(&self, request: &FaultRequest) -> Result<(), String> {
        let prefix = request
            .path
            .as_deref()
            .unwrap_or("")
            .trim_start_matches('/');
        self.state().faults.push(SimFault {
            path_prefix: prefix.to_owned(),
            status: request.status,
            remaining: request.times,
            retry_after: None,
            canned: Some(request.canned()),
        });
        Ok(())
    }

    fn stats(&self) -> SimStatsResponse {
        let s = self.state();
        SimStatsResponse {
            provider: "tacticalrmm".into(),
            requests: s.requests.len() as u64,
            devices: s.agents.len() as u64,
            scopes: s.clients.len() as u64,
            faults_pending: s.faults.iter().map(|f| u64::from(f.remaining)).sum(),
        }
    }
}

/// Agent primary keys in order, without those in `touched`.
fn untouched(s: &SimState, touched: &HashSet<i64>) -> Vec<i64> {
    s.agents
        .keys()
        .copied()
        .filter(|pk| !touched.contains(pk))
        .collect()
}
