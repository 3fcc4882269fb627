//! The client/site index from `GET /clients/`: the scopes, and the site → client lookup that
//! places beta rows (which only carry a site id) and table rows (which only carry names).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::config::DeviceScope;
use super::dto::ClientDto;
use crate::model::{ExternalScopeId, ScopeKind, ScopeSnapshot};

/// Scope id of a client: its id, as the reference schema stores it.
pub(crate) fn client_scope_id(client: i64) -> ExternalScopeId {
    ExternalScopeId::new(client.to_string())
}

/// Scope id of a site: `site:<id>` (client and site ids are separate sequences).
pub(crate) fn site_scope_id(site: i64) -> ExternalScopeId {
    ExternalScopeId::new(format!("site:{site}"))
}

#[derive(Clone, Debug)]
pub(crate) struct ClientEntry {
    pub(crate) name: String,
    pub(crate) agent_count: Option<u64>,
}

#[derive(Clone, Debug)]
pub(crate) struct SiteEntry {
    pub(crate) client_id: i64,
    pub(crate) name: String,
}

/// Clients and sites as one `/clients/` call returned them.
#[derive(Clone, Debug)]
pub(crate) struct SiteIndex {
    clients: BTreeMap<i64, ClientEntry>,
    sites: HashMap<i64, SiteEntry>,
    by_name: HashMap<(i64, String), i64>,
    pub(crate) loaded_at: Instant,
}

impl SiteIndex {
    pub(crate) fn from_clients(clients: Vec<ClientDto>) -> Self {
        let mut index = SiteIndex {
            clients: BTreeMap::new(),
            sites: HashMap::new(),
            by_name: HashMap::new(),
            loaded_at: Instant::now(),
        };
        for c in clients {
            for s in c.sites {
                index.by_name.insert((c.id, s.name.clone()), s.id);
                index.sites.insert(
                    s.id,
                    SiteEntry {
                        client_id: c.id,
                        name: s.name,
                    },
                );
            }
            index.clients.insert(
                c.id,
                ClientEntry {
                    name: c.name,
                    agent_count: c.agent_count,
                },
            );
        }
        index
    }

    pub(crate) fn site(&self, id: i64) -> Option<&SiteEntry> {
        self.sites.get(&id)
    }

    /// A site of a client by its name (site names are unique within a client).
    pub(crate) fn site_by_name(&self, client: i64, name: &str) -> Option<i64> {
        self.by_name.get(&(client, name.to_owned())).copied()
    }

    /// The first client whose id is greater than `after` (all of them in id order).
    pub(crate) fn client_after(&self, after: Option<i64>) -> Option<i64> {
        match after {
            None => self.clients.keys().next().copied(),
            Some(a) => self.clients.range(a + 1..).next().map(|(id, _)| *id),
        }
    }

    /// The sum of the clients' agent counts, when the server sent them.
    pub(crate) fn agent_total(&self) -> Option<u64> {
        self.clients.values().map(|c| c.agent_count).sum()
    }

    /// The scopes: every client (`organization`) and every site (`site`, parent = client).
    /// Metadata says which kind receives devices, so a host can hide the other in its mapping
    /// screen.
    pub(crate) fn scopes(&self, device_scope: DeviceScope) -> Vec<ScopeSnapshot> {
        let mut out = Vec::with_capacity(self.clients.len() + self.sites.len());
        for (id, c) in &self.clients {
            let mut s = ScopeSnapshot::new(client_scope_id(*id), &c.name, ScopeKind::Organization);
            s.metadata.insert("client_id".into(), (*id).into());
            s.metadata.insert(
                "receives_devices".into(),
                (device_scope == DeviceScope::Client).into(),
            );
            out.push(s);
        }
        let mut sites: Vec<(&i64, &SiteEntry)> = self.sites.iter().collect();
        sites.sort_by_key(|(id, _)| **id);
        for (id, site) in sites {
            let mut s = ScopeSnapshot::new(site_scope_id(*id), &site.name, ScopeKind::Site);
            s.parent = Some(client_scope_id(site.client_id));
            s.metadata.insert("site_id".into(), (*id).into());
            s.metadata.insert("client_id".into(), site.client_id.into());
            s.metadata.insert(
                "receives_devices".into(),
                (device_scope == DeviceScope::Site).into(),
            );
            out.push(s);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> SiteIndex {
        let clients: Vec<ClientDto> = serde_json::from_value(serde_json::json!([
            {"id": 4, "name": "Globex", "agent_count": 1, "sites": [{"id": 9, "name": "Main"}]},
            {"id": 1, "name": "Acme", "agent_count": 2, "sites": [{"id": 1, "name": "HQ"}, {"id": 2, "name": "Branch"}]},
        ]))
        .unwrap();
        SiteIndex::from_clients(clients)
    }

    #[test]
    fn sites_resolve_to_clients_by_id_and_by_name() {
        let i = index();
        assert_eq!(i.site(2).unwrap().client_id, 1);
        assert_eq!(i.site_by_name(4, "Main"), Some(9));
        assert_eq!(i.site_by_name(1, "Main"), None);
        assert!(i.site(77).is_none());
        assert_eq!(i.agent_total(), Some(3));
    }

    #[test]
    fn clients_are_walked_in_id_order() {
        let i = index();
        assert_eq!(i.client_after(None), Some(1));
        assert_eq!(i.client_after(Some(1)), Some(4));
        assert_eq!(i.client_after(Some(4)), None);
    }

    #[test]
    fn scopes_are_clients_and_sites_with_parents() {
        let scopes = index().scopes(DeviceScope::Client);
        let ids: Vec<&str> = scopes.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, vec!["1", "4", "site:1", "site:2", "site:9"]);
        assert_eq!(scopes[0].kind, ScopeKind::Organization);
        assert_eq!(scopes[4].kind, ScopeKind::Site);
        assert_eq!(scopes[4].parent.as_ref().unwrap().as_str(), "4");
        assert_eq!(scopes[0].metadata["receives_devices"], true);
        assert_eq!(scopes[4].metadata["receives_devices"], false);
    }
}
