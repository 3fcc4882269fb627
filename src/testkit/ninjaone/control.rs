//! The control API ([`crate::testkit::control`]) of the NinjaOne simulator: mutations write
//! the activities NinjaOne would (so `sync --incremental` sees them), faults are
//! [`SimFault::Canned`] for the path prefix the request names.

use std::collections::HashSet;

use chrono::Utc;

use super::model::{SimOrganization, generate_device};
use super::server::{FaultRule, Shared, SimFault, lock};
use crate::testkit::control::{
    FaultRequest, MutateRequest, MutateResponse, SimControl, SimStatsResponse, spread,
};

pub(crate) struct NinjaOneControl(pub(crate) Shared);

impl SimControl for NinjaOneControl {
    fn mutate(&self, request: &MutateRequest) -> MutateResponse {
        let mut s = lock(&self.0);
        s.mutation_round += 1;
        let round = s.mutation_round;
        let now = Utc::now().timestamp_micros() as f64 / 1e6;
        let mut out = MutateResponse::default();

        // Each device is touched by one step at most, so the counts of a sync add up.
        let mut touched: HashSet<i64> = HashSet::new();
        let ids: Vec<i64> = s.devices.keys().copied().collect();
        for i in spread(ids.len(), request.change, round) {
            let id = ids[i];
            touched.insert(id);
            if let Some(d) = s.devices.get_mut(&id) {
                // The base name stays recognisable; the suffix makes every round a real change.
                let base = d
                    .system_name
                    .split('~')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                d.system_name = format!("{base}~{round}");
                d.last_contact = now;
            }
            s.rendered.remove(&id);
            super::record(&mut s, Some(id), "SYSTEM", "NODE_UPDATED");
            out.changed.push(id.to_string());
        }

        let orgs: Vec<SimOrganization> = s.organizations.values().cloned().collect();
        let per_org = (s.locations.len() / orgs.len().max(1)).max(1) as i64;
        for _ in 0..request.add {
            if orgs.is_empty() {
                break;
            }
            let id = s.devices.keys().next_back().copied().unwrap_or(0) + 1;
            let device = generate_device(id, &orgs, per_org, round ^ 0x5EED, now);
            s.devices.insert(id, device);
            s.rendered.remove(&id);
            super::record(&mut s, Some(id), "SYSTEM", "NODE_CREATED");
            touched.insert(id);
            out.added.push(id.to_string());
        }

        let ids = untouched(&s.devices, &touched);
        for i in spread(ids.len(), request.remove, round) {
            let id = ids[i];
            touched.insert(id);
            super::record(&mut s, Some(id), "SYSTEM", "NODE_DELETED");
            s.devices.remove(&id);
            s.rendered.remove(&id);
            out.removed.push(id.to_string());
        }

        let ids = untouched(&s.devices, &touched);
        let locations: Vec<(i64, i64)> = s
            .locations
            .values()
            .map(|l| (l.organization_id, l.id))
            .collect();
        for i in spread(ids.len(), request.move_, round) {
            let id = ids[i];
            let Some(d) = s.devices.get_mut(&id) else {
                continue;
            };
            // The first location of another organization: a move at either scope level.
            let Some(&(org, location)) = locations.iter().find(|(o, _)| *o != d.organization_id)
            else {
                continue;
            };
            d.organization_id = org;
            d.location_id = location;
            s.rendered.remove(&id);
            super::record(&mut s, Some(id), "SYSTEM", "NODE_UPDATED");
            out.moved.push(id.to_string());
        }
        out.devices = s.devices.len() as u64;
        out
    }

    fn fault(&self, request: &FaultRequest) -> Result<(), String> {
        let path = request.path.as_deref().unwrap_or("/");
        let prefix = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        lock(&self.0).faults.push(FaultRule {
            path_prefix: prefix,
            fault: SimFault::Canned(request.canned()),
            remaining: request.times,
        });
        Ok(())
    }

    fn stats(&self) -> SimStatsResponse {
        let s = lock(&self.0);
        SimStatsResponse {
            provider: "ninjaone".into(),
            requests: s.stats.requests.values().sum(),
            devices: s.devices.len() as u64,
            scopes: s.organizations.len() as u64,
            faults_pending: s.faults.iter().map(|f| u64::from(f.remaining)).sum(),
        }
    }
}

/// Device ids in order, without those in `touched`.
fn untouched<V>(devices: &std::collections::BTreeMap<i64, V>, touched: &HashSet<i64>) -> Vec<i64> {
    devices
        .keys()
        .copied()
        .filter(|id| !touched.contains(id))
        .collect()
}
