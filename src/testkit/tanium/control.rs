//! The control API ([`crate::testkit::control`]) of the Tanium Gateway simulator: mutations
//! through the same state changes as the Rust control methods, faults as
//! [`SimFault::Canned`] with a [`FaultTarget`] taken from the request's `path`.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::Utc;

use super::faults::{FaultTarget, SimFault};
use super::server::{Shared, lock};
use crate::testkit::control::{
    FaultRequest, MutateRequest, MutateResponse, SimControl, SimStatsResponse, spread,
};

pub(crate) struct TaniumControl(pub(crate) Shared);

impl SimControl for TaniumControl {
    fn mutate(&self, request: &MutateRequest) -> MutateResponse {
        let mut s = lock(&self.0);
        s.mutation_round += 1;
        let round = s.mutation_round;
        let now = Utc::now();
        let mut out = MutateResponse::default();

        // Each device is touched by one step at most, so the counts of a sync add up.
        let mut touched: HashSet<u64> = HashSet::new();
        let ids: Vec<u64> = s
            .all_endpoints()
            .filter_map(|e| e.id.parse().ok())
            .collect();
        for i in spread(ids.len(), request.change, round) {
            touched.insert(ids[i]);
            let Some(current) = s.endpoint(ids[i]) else {
                continue;
            };
            let mut e = (**current).clone();
            // The base name stays recognisable; the suffix makes every round a real change.
            let base = e.name.split('~').next().unwrap_or_default().to_owned();
            e.name = format!("{base}~{round}");
            // Seen now, so an incremental (`eidLastSeen`) listing picks it up.
            e.eid_last_seen = Some(now);
            s.insert_endpoint(ids[i], Arc::new(e));
            out.changed.push(ids[i].to_string());
        }

        let groups: Vec<String> = s.groups.iter().map(|g| g.id.clone()).collect();
        for i in 0..request.add {
            if groups.is_empty() {
                break;
            }
            let group = &groups[(i as usize) % groups.len()];
            let id = s.generate_endpoint(group, now);
            touched.extend(id.parse::<u64>().ok());
            out.added.push(id);
        }

        let ids: Vec<u64> = untouched(&s, &touched);
        for i in spread(ids.len(), request.remove, round) {
            touched.insert(ids[i]);
            if s.remove_endpoint(ids[i]).is_some() {
                out.removed.push(ids[i].to_string());
            }
        }

        let ids: Vec<u64> = untouched(&s, &touched);
        for i in spread(ids.len(), request.move_, round) {
            let Some(current) = s.endpoint(ids[i]) else {
                continue;
            };
            let mut e = (**current).clone();
            let from = e.groups.first().cloned().unwrap_or_default();
            let next = groups
                .iter()
                .position(|g| *g == from)
                .map_or(0, |p| (p + 1) % groups.len().max(1));
            let Some(target) = groups.get(next) else {
                continue;
            };
            e.groups = vec![target.clone()];
            e.eid_last_seen = Some(now);
            s.insert_endpoint(ids[i], Arc::new(e));
            out.moved.push(ids[i].to_string());
        }
        out.devices = s.endpoint_count() as u64;
        out
    }

    fn fault(&self, request: &FaultRequest) -> Result<(), String> {
        let target = match request.path.as_deref() {
            None | Some("" | "graphql" | "any") => FaultTarget::Any,
            Some("cursor") => FaultTarget::CursorPage,
            Some("asset") => FaultTarget::AssetApi,
            Some(field @ ("now" | "computerGroups" | "endpoints" | "endpointIdChanges")) => {
                FaultTarget::field(field)
            }
            Some(other) => {
                return Err(format!(
                    "unknown Tanium fault target {other:?}: use a root field (now, computerGroups, endpoints, endpointIdChanges), cursor, asset or any"
                ));
            }
        };
        lock(&self.0)
            .faults
            .push((target, SimFault::Canned(request.canned()), request.times));
        Ok(())
    }

    fn stats(&self) -> SimStatsResponse {
        let s = lock(&self.0);
        SimStatsResponse {
            provider: "tanium".into(),
            requests: s.served,
            devices: s.endpoint_count() as u64,
            scopes: s.groups.len() as u64,
            faults_pending: s.faults.iter().map(|(_, _, n)| u64::from(*n)).sum(),
        }
    }
}

/// Endpoint ids in id order, without those in `touched`.
fn untouched(s: &super::state::SimState, touched: &HashSet<u64>) -> Vec<u64> {
    s.all_endpoints()
        .filter_map(|e| e.id.parse().ok())
        .filter(|id| !touched.contains(id))
        .collect()
}
