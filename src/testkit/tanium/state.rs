//! The simulator's mutable state and the resolvers of the root fields it serves.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::SimRequest;
use super::faults::{FaultTarget, SimFault};
use super::filter::{Filter, FilterContext};
use super::fleet::{SimEndpoint, SimGroup};
use super::generate::generate_group;
use super::graphql::{Field, Operation, Rendered, selects, write_with_refs};

/// Requests kept in the log (the oldest are dropped beyond this).
const MAX_LOGGED_REQUESTS: usize = 20_000;

/// Selection shapes whose rendered endpoints are kept; a client sends one or two (full and
/// incremental listing), so more than this means something is generating queries and the cache
/// would only grow.
const MAX_RENDERED_SHAPES: usize = 4;

/// A paged result set: a snapshot of the matching endpoints when the first page was asked for.
struct Collection {
    items: Vec<Arc<SimEndpoint>>,
    last_used: Instant,
    expired: bool,
}

pub(crate) struct SimState {
    pub(crate) token: String,
    pub(crate) seed: u64,
    pub(crate) groups: Vec<SimGroup>,
    /// Endpoints by EID; change it only through the methods below, which keep the group index
    /// in step.
    endpoints: BTreeMap<u64, Arc<SimEndpoint>>,
    /// Group id → member EIDs, rebuilt lazily after any change.
    group_index: Option<HashMap<String, Vec<u64>>>,
    pub(crate) aged_out: BTreeMap<u64, Arc<SimEndpoint>>,
    pub(crate) id_changes: Vec<(String, String, DateTime<Utc>)>,
    collections: HashMap<u64, Collection>,
    next_collection: u64,
    pub(crate) next_eid: u64,
    pub(crate) next_index: u64,
    pub(crate) cursor_ttl: Duration,
    pub(crate) reject_eid_last_seen: bool,
    pub(crate) faults: Vec<(FaultTarget, SimFault, u32)>,
    pub(crate) requests: Vec<SimRequest>,
    /// Requests served since the start (the log above keeps only the latest).
    pub(crate) served: u64,
    /// Control-API mutations so far: makes each round's changes distinct.
    pub(crate) mutation_round: u64,
    /// Endpoints as already rendered, per `endpoints` selection shape (its `Debug` text).
    /// Re-rendering every endpoint on every page made the simulator, not the client, the
    /// bottleneck of an unchanged sync (~17 µs per endpoint).
    rendered: HashMap<String, Rendered>,
}

impl SimState {
    pub(crate) fn generate(
        endpoints: u64,
        groups: u64,
        seed: u64,
        token: String,
        now: DateTime<Utc>,
    ) -> Self {
        let groups: Vec<SimGroup> = (0..groups.max(1)).map(generate_group).collect();
        let mut state = Self {
            token,
            seed,
            groups,
            endpoints: BTreeMap::new(),
            group_index: None,
            aged_out: BTreeMap::new(),
            id_changes: Vec::new(),
            collections: HashMap::new(),
            next_collection: 1,
            next_eid: 40_000,
            next_index: 0,
            cursor_ttl: Duration::from_secs(300),
            reject_eid_last_seen: false,
            faults: Vec::new(),
            requests: Vec::new(),
            served: 0,
            mutation_round: 0,
            rendered: HashMap::new(),
        };
        let mut r = crate::testkit::fleet::XorShift::new(seed ^ 0x5EED);
        for _ in 0..endpoints {
            let group = state.groups[r.below(state.groups.len() as u64) as usize]
                .id
                .clone();
            state.generate_endpoint(&group, now);
        }
        state
    }

    pub(crate) fn generate_endpoint(&mut self, group: &str, now: DateTime<Utc>) -> String {
        let (index, eid) = (self.next_index, self.next_eid);
        self.next_index += 1;
        self.next_eid += 1;
        let e = SimEndpoint::generate(index, eid, group, self.seed, now);
        self.insert_endpoint(eid, Arc::new(e));
        eid.to_string()
    }

    pub(crate) fn endpoint(&self, eid: u64) -> Option<&Arc<SimEndpoint>> {
        self.endpoints.get(&eid)
    }

    pub(crate) fn all_endpoints(&self) -> impl Iterator<Item = &Arc<SimEndpoint>> {
        self.endpoints.values()
    }

    pub(crate) fn endpoint_count(&self) -> usize {
        self.endpoints.len()
    }

    pub(crate) fn insert_endpoint(&mut self, eid: u64, e: Arc<SimEndpoint>) {
        self.group_index = None;
        if let Some(old) = self.endpoints.insert(eid, e) {
            self.forget_rendered(&old);
        }
    }

    pub(crate) fn remove_endpoint(&mut self, eid: u64) -> Option<Arc<SimEndpoint>> {
        self.group_index = None;
        let old = self.endpoints.remove(&eid);
        if let Some(old) = &old {
            self.forget_rendered(old);
        }
        old
    }

    /// Drops a replaced record's renderings: not needed for correctness (a new record is a
    /// new key), but the cache would otherwise keep every old version alive.
    fn forget_rendered(&mut self, old: &Arc<SimEndpoint>) {
        let key = Arc::as_ptr(old) as usize;
        for shape in self.rendered.values_mut() {
            shape.remove(&key);
        }
    }

    fn build_group_index(&mut self) {
        if self.group_index.is_none() {
            let mut index: HashMap<String, Vec<u64>> = HashMap::new();
            for (eid, e) in &self.endpoints {
                for g in &e.groups {
                    index.entry(g.clone()).or_default().push(*eid);
                }
            }
            self.group_index = Some(index);
        }
    }

    pub(crate) fn log(&mut self, request: SimRequest) {
        self.served += 1;
        if self.requests.len() >= MAX_LOGGED_REQUESTS {
            self.requests.drain(..MAX_LOGGED_REQUESTS / 10);
        }
        self.requests.push(request);
    }

    /// The first queued fault matching `target`, consumed.
    pub(crate) fn take_fault(
        &mut self,
        matches: impl Fn(&FaultTarget) -> bool,
    ) -> Option<SimFault> {
        let i = self.faults.iter().position(|(t, _, _)| matches(t))?;
        let fault = self.faults[i].1.clone();
        self.faults[i].2 -= 1;
        if self.faults[i].2 == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    pub(crate) fn expire_cursors(&mut self) {
        for c in self.collections.values_mut() {
            c.expired = true;
        }
    }

    /// Executes an operation: the response body `{"data": …, "errors": […]}`.
    pub(crate) fn execute(&mut self, op: &Operation) -> Vec<u8> {
        let ttl = self.cursor_ttl;
        self.collections
            .retain(|_, c| c.last_used.elapsed() <= ttl.max(Duration::from_secs(60)) * 2);
        let mut body = b"{\"data\":{".to_vec();
        let mut errors = Vec::new();
        for (i, field) in op.fields.iter().enumerate() {
            let plain = |v: Result<Value, String>| v.map(|v| (v, Vec::new()));
            let resolved = match field.name.as_str() {
                "__typename" => Ok((Value::String("Query".into()), Vec::new())),
                "now" => Ok((Value::String(gateway_time(Utc::now())), Vec::new())),
                "computerGroups" => plain(self.computer_groups(field)),
                "endpoints" => self.endpoints(field),
                "endpointIdChanges" => plain(self.endpoint_id_changes(field)),
                other => Err(format!("Cannot query field \"{other}\" on type \"Query\".")),
            };
            let mut value = Vec::new();
            let cache = if field.name == "endpoints" {
                let shape = format!("{:?}", field.children);
                if !self.rendered.contains_key(&shape) && self.rendered.len() >= MAX_RENDERED_SHAPES
                {
                    self.rendered.clear();
                }
                Some(self.rendered.entry(shape).or_default())
            } else {
                None
            };
            let written = resolved.and_then(|(v, refs)| {
                write_with_refs(&v, &field.children, &mut value, &refs, cache)
            });
            if i > 0 {
                body.push(b',');
            }
            body.extend_from_slice(Value::String(field.key().to_owned()).to_string().as_bytes());
            body.push(b':');
            match written {
                Ok(()) => body.extend_from_slice(&value),
                Err(message) => {
                    body.extend_from_slice(b"null");
                    errors.push(json!({"message": message, "path": [field.key()]}));
                }
            }
        }
        body.push(b'}');
        if !errors.is_empty() {
            body.extend_from_slice(b",\"errors\":");
            body.extend_from_slice(Value::Array(errors).to_string().as_bytes());
        }
        body.push(b'}');
        body
    }

    fn computer_groups(&mut self, field: &Field) -> Result<Value, String> {
        let (first, offset) = paging(field, "cg")?;
        let mut groups: Vec<&SimGroup> = self.groups.iter().collect();
        groups.sort_by_key(|g| (g.id.len(), g.id.clone()));
        let total = groups.len();
        let page: Vec<Value> = groups
            .iter()
            .enumerate()
            .skip(offset)
            .take(first)
            .map(|(i, g)| json!({"__typename": "ComputerGroupEdge", "cursor": format!("cg:{i}"), "node": g.to_json()}))
            .collect();
        let end = offset + page.len();
        let connection = json!({
            "__typename": "ComputerGroupConnection",
            "totalRecords": total,
            "pageInfo": page_info(offset, end, total, "cg".into()),
            "edges": page,
        });
        Ok(connection)
    }

    /// The connection, its edges' nodes as `{"__ref": i}` into the returned page.
    fn endpoints(&mut self, field: &Field) -> Result<(Value, Vec<Arc<SimEndpoint>>), String> {
        if !field.args.get("last").is_none_or(Value::is_null)
            || !field.args.get("before").is_none_or(Value::is_null)
        {
            return Err("backward paging (last/before) is not supported by the simulator".into());
        }
        let first = match field.args.get("first") {
            None | Some(Value::Null) => 20,
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("invalid value for first: {v}"))?
                as usize,
        };
        let ttl = self.cursor_ttl;
        let (collection_id, offset) = match field.args.get("after").and_then(Value::as_str) {
            Some(after) => {
                let (id, offset) = parse_cursor(after).ok_or_else(|| {
                    format!("invalid cursor: {after:?} is not a cursor of this Gateway")
                })?;
                let c = self.collections.get_mut(&id).ok_or_else(|| {
                    "invalid cursor: the collection has expired or does not exist".to_owned()
                })?;
                if c.expired || c.last_used.elapsed() > ttl {
                    c.expired = true;
                    return Err(
                        "invalid cursor: the collection has expired or does not exist".into(),
                    );
                }
                c.last_used = Instant::now();
                (id, offset + 1)
            }
            None => {
                let filter: Option<Filter> = match field.args.get("filter") {
                    None | Some(Value::Null) => None,
                    Some(f) => Some(
                        serde_json::from_value(f.clone())
                            .map_err(|e| format!("invalid filter: {e}"))?,
                    ),
                };
                self.build_group_index();
                let ctx = FilterContext {
                    groups: &self.groups,
                    reject_eid_last_seen: self.reject_eid_last_seen,
                };
                if let Some(f) = &filter {
                    f.validate(&ctx)?;
                }
                let matches =
                    |e: &&Arc<SimEndpoint>| filter.as_ref().is_none_or(|f| f.matches(e, &ctx));
                let items: Vec<Arc<SimEndpoint>> = match (
                    filter.as_ref().and_then(Filter::required_group),
                    &self.group_index,
                ) {
                    (Some(group), Some(index)) => index
                        .get(group)
                        .into_iter()
                        .flatten()
                        .filter_map(|eid| self.endpoints.get(eid))
                        .filter(matches)
                        .cloned()
                        .collect(),
                    _ => self.endpoints.values().filter(matches).cloned().collect(),
                };
                let id = self.next_collection;
                self.next_collection += 1;
                self.collections.insert(
                    id,
                    Collection {
                        items,
                        last_used: Instant::now(),
                        expired: false,
                    },
                );
                (id, 0)
            }
        };
        let wants_edges = selects(&field.children, "edges") || selects(&field.children, "pageInfo");
        let c = &self.collections[&collection_id];
        let total = c.items.len();
        let page: Vec<Arc<SimEndpoint>> =
            c.items.iter().skip(offset).take(first).cloned().collect();
        let edges: Vec<Value> = (0..page.len())
            .map(|i| {
                json!({
                    "__typename": "EndpointEdge",
                    "cursor": cursor(collection_id, offset + i),
                    "node": { "__ref": i },
                })
            })
            .collect();
        let end = offset + edges.len();
        if !wants_edges {
            // A count probe: nobody will page through this collection.
            self.collections.remove(&collection_id);
        }
        let connection = json!({
            "__typename": "EndpointConnection",
            "totalRecords": total,
            "collectionInfo": {
                "__typename": "EndpointCollectionInfo",
                "active": false, "success": true, "expectedTotal": null, "respondedTotal": null,
                "contributedTotal": total, "respondedPercentage": null, "startCursor": null
            },
            "pageInfo": {
                "__typename": "PageInfo",
                "hasNextPage": end < total,
                "hasPreviousPage": offset > 0,
                "startCursor": (end > offset).then(|| cursor(collection_id, offset)),
                "endCursor": (end > offset).then(|| cursor(collection_id, end - 1)),
            },
            "edges": edges,
        });
        Ok((connection, page))
    }

    fn endpoint_id_changes(&mut self, field: &Field) -> Result<Value, String> {
        let after = field
            .args
            .get("after")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or("endpointIdChanges needs an \"after\" time (RFC 3339)")?;
        let changes: Vec<Value> = self
            .id_changes
            .iter()
            .filter(|(_, _, at)| *at > after)
            .map(|(old, new, _)| json!({"__typename": "EndpointIdChange", "oldId": old, "newId": new}))
            .collect();
        let payload = json!({
            "__typename": "EndpointIdChangesPayload",
            "changes": changes,
            "before": gateway_time(Utc::now()),
        });
        Ok(payload)
    }

    /// Asset API rows (endpoints aged out of TDS) of one group, or of all.
    pub(crate) fn asset_rows(&self, group: Option<&str>) -> Value {
        let rows: Vec<Value> = self
            .aged_out
            .values()
            .filter(|e| group.is_none_or(|g| e.groups.iter().any(|x| x == g)))
            .map(|e| {
                json!({
                    "id": format!("asset-{}", e.id),
                    "eid": e.id,
                    "name": e.name,
                    "computerGroupId": e.groups.first(),
                    "serialNumber": e.serial_number,
                    "lastSeen": e.eid_last_seen.map(gateway_time),
                    "online": false,
                    "osName": e.os_name,
                    "osVersion": e.os_generation,
                    "currentUser": e.last_logged_in_user,
                    "ipAddress": e.ip_address,
                })
            })
            .collect();
        json!({ "data": rows })
    }
}

fn gateway_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn cursor(collection: u64, index: usize) -> String {
    format!("c{collection:x}-{index:x}")
}

fn parse_cursor(s: &str) -> Option<(u64, usize)> {
    let (c, i) = s.strip_prefix('c')?.split_once('-')?;
    Some((
        u64::from_str_radix(c, 16).ok()?,
        usize::from_str_radix(i, 16).ok()?,
    ))
}

/// `first` and the offset after `after` for simple offset-cursor connections.
fn paging(field: &Field, prefix: &str) -> Result<(usize, usize), String> {
    let first = field
        .args
        .get("first")
        .and_then(Value::as_u64)
        .unwrap_or(20) as usize;
    let offset = match field.args.get("after").and_then(Value::as_str) {
        None => 0,
        Some(a) => {
            a.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix(':'))
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| format!("invalid cursor: {a:?}"))?
                + 1
        }
    };
    Ok((first, offset))
}

fn page_info(offset: usize, end: usize, total: usize, prefix: String) -> Value {
    json!({
        "__typename": "PageInfo",
        "hasNextPage": end < total,
        "hasPreviousPage": offset > 0,
        "startCursor": (end > offset).then(|| format!("{prefix}:{offset}")),
        "endCursor": (end > offset).then(|| format!("{prefix}:{}", end - 1)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::tanium::graphql::parse;

    fn run(state: &mut SimState, query: &str) -> Value {
        let op = parse(query, None, &serde_json::Map::new()).unwrap();
        serde_json::from_slice(&state.execute(&op)).unwrap()
    }

    #[test]
    fn endpoints_are_projected_straight_from_the_records() {
        let mut s = SimState::generate(5, 2, 3, "t".into(), Utc::now());
        let body = run(
            &mut s,
            r#"{ endpoints(first: 2) { totalRecords edges { node { __typename ... on Endpoint { id } os { platform } id } } pageInfo { hasNextPage endCursor } } }"#,
        );
        let conn = &body["data"]["endpoints"];
        assert_eq!(conn["totalRecords"], 5);
        assert_eq!(conn["pageInfo"]["hasNextPage"], true);
        let node = &conn["edges"][0]["node"];
        assert_eq!(node["__typename"], "Endpoint");
        assert_eq!(node["id"], "40000");
        assert!(node["os"]["platform"].is_string());
        assert_eq!(node.as_object().unwrap().len(), 3, "{node}");
        assert!(body.get("errors").is_none());
    }

    #[test]
    fn unknown_fields_fail_their_root_field() {
        let mut s = SimState::generate(2, 1, 3, "t".into(), Utc::now());
        let body = run(
            &mut s,
            "{ now endpoints { edges { node { reportingConsoleURL } } } }",
        );
        assert!(body["data"]["now"].is_string());
        assert!(body["data"]["endpoints"].is_null());
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert_eq!(
            message,
            "Cannot query field \"reportingConsoleURL\" on type \"Endpoint\"."
        );
    }

    #[test]
    fn rendered_endpoints_are_reused_until_they_change() {
        let mut s = SimState::generate(3, 1, 3, "t".into(), Utc::now());
        let q = "{ endpoints(first: 10) { edges { node { id name serialNumber } } } }";
        let first = run(&mut s, q);
        assert_eq!(s.rendered.len(), 1);
        assert_eq!(s.rendered.values().next().unwrap().len(), 3);
        assert_eq!(
            run(&mut s, q),
            first,
            "a cached page is byte-for-byte the same JSON"
        );

        // A change replaces the record: its old rendering is dropped and the next page shows
        // the new value; the others are still served from the cache.
        let mut e = (**s.endpoint(40_001).unwrap()).clone();
        e.name = "renamed".into();
        s.insert_endpoint(40_001, Arc::new(e));
        assert_eq!(s.rendered.values().next().unwrap().len(), 2);
        let after = run(&mut s, q);
        assert_eq!(
            after["data"]["endpoints"]["edges"][1]["node"]["name"],
            "renamed"
        );
        assert_eq!(
            after["data"]["endpoints"]["edges"][0],
            first["data"]["endpoints"]["edges"][0]
        );

        // Another selection is another shape, rendered on its own.
        let other = run(&mut s, "{ endpoints(first: 10) { edges { node { id } } } }");
        assert_eq!(
            other["data"]["endpoints"]["edges"][1]["node"],
            json!({"id": "40001"})
        );
        assert_eq!(s.rendered.len(), 2);

        s.remove_endpoint(40_000);
        assert!(s.rendered.values().all(|shape| shape.len() == 2));
    }
}
