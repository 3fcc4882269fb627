//! A third-party provider adapter in well under 200 lines: "Acme RMM", whose API serves sites
//! and pages of agents as JSON. The "API" here is an in-process JSON document so the example
//! runs offline; a real adapter makes its HTTP calls in the same three methods.
//!
//! Run: `cargo run --example custom_provider`

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rmm_sync::model::{ClientId, DeviceKind, DeviceSnapshot, IntegrationId, ProviderId};
use rmm_sync::model::{Reported, ScopeKind, ScopeSnapshot, TenantId};
use rmm_sync::provider::ScopeSource;
use rmm_sync::provider::{Capabilities, ConnectionReport, Cursor, DevicePage, DevicePageRequest};
use rmm_sync::provider::{DeviceSnapshotSource, ProviderInfo, ProviderRegistry, RmmProvider};
use rmm_sync::store::{AssetStore, InMemoryStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::sync::{RunRequest, SyncOrchestrator};
use rmm_sync::{Error, ErrorKind, Result};
use serde::Deserialize;

const ACME_DATA: &str = r#"{
  "sites": [["s1", "Head office"], ["s2", "Warehouse"]],
  "agents": [
    {"id": "a1", "site": "s1", "hostname": "hq-pc-01", "role": "workstation",
     "serial": "C02XK1", "last_checkin": "2026-11-28T10:00:00Z"},
    {"id": "a2", "site": "s1", "hostname": "hq-dc-01", "role": "server", "serial": null},
    {"id": "a3", "site": "s2", "hostname": "wh-pc-01", "role": "kiosk"}
  ]
}"#;

/// Acme's wire format (not ours).
#[derive(Debug, Deserialize)]
struct AcmeDoc {
    sites: Vec<(String, String)>, // (id, name)
    agents: Vec<AcmeAgent>,
}

#[derive(Debug, Deserialize)]
struct AcmeAgent {
    id: String,
    site: String,
    hostname: String,
    role: String,
    #[serde(default)]
    serial: Option<Option<String>>, // missing key vs null matters: absent ≠ null
    last_checkin: Option<DateTime<Utc>>,
}

/// The adapter holds its "connection" (here, the parsed document).
#[derive(Debug)]
struct AcmeProvider(AcmeDoc);

fn acme() -> ProviderId {
    ProviderId::new("acme-rmm").expect("valid slug")
}

/// Wire → normalized snapshot. Fields Acme does not report stay `Absent` and never wipe data.
fn to_snapshot(agent: &AcmeAgent) -> DeviceSnapshot {
    let kind = match agent.role.as_str() {
        "server" => DeviceKind::Server,
        "workstation" => DeviceKind::Workstation,
        _ => DeviceKind::Unknown,
    };
    let mut s = DeviceSnapshot::new(
        agent.id.as_str(),
        agent.site.as_str(),
        kind,
        &*agent.hostname,
    );
    s.serial_number = agent
        .serial
        .clone()
        .map_or(Reported::Absent, Reported::from);
    s.last_seen_at = agent.last_checkin.map_or(Reported::Absent, Reported::Value);
    s.identity.hostname = Some(agent.hostname.clone());
    s
}

#[async_trait]
impl RmmProvider for AcmeProvider {
    fn info(&self) -> ProviderInfo {
        ProviderInfo {
            provider: acme(),
            title: "Acme RMM".into(),
            base_url: None,
        }
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            test_connection: true,
            list_scopes: true,
            list_devices: true,
            list_devices_per_scope: true,
            deletion_detection: true, // a complete listing really lists every agent
            list_devices_max_page_size: Some(2),
            ..Default::default() // always: flags added in later releases stay off
        }
    }

    async fn test_connection(&self) -> Result<ConnectionReport> {
        Ok(ConnectionReport::default()) // a real adapter makes its cheapest authenticated call
    }
}

#[async_trait]
impl ScopeSource for AcmeProvider {
    async fn list_scopes(&self) -> Result<Vec<ScopeSnapshot>> {
        let site =
            |(id, name): &(String, String)| ScopeSnapshot::new(&**id, &**name, ScopeKind::Site);
        Ok(self.0.sites.iter().map(site).collect())
    }
}

#[async_trait]
impl DeviceSnapshotSource for AcmeProvider {
    /// Offset paging: the cursor is the index of the next agent in the scope.
    async fn list_devices_page(&self, request: &DevicePageRequest) -> Result<DevicePage> {
        let size = request.page_size.unwrap_or(2).clamp(1, 2) as usize;
        let start: usize = match &request.cursor {
            None => 0,
            Some(c) => c.as_str().parse().map_err(|_| expired())?,
        };
        let agents = self.0.agents.iter();
        let in_scope: Vec<&AcmeAgent> = agents
            .filter(|a| request.scope.as_ref().is_none_or(|s| s.as_str() == a.site))
            .collect();
        let next = start + size;
        Ok(DevicePage {
            devices: in_scope[start.min(in_scope.len())..]
                .iter()
                .take(size)
                .map(|a| to_snapshot(a))
                .collect(),
            next_cursor: (next < in_scope.len()).then(|| Cursor::new(next.to_string())),
            total: Some(in_scope.len() as u64),
        })
    }
}

fn expired() -> Error {
    Error::new(
        ErrorKind::CursorExpired,
        "Acme: unknown cursor; restart the listing",
    )
}

#[tokio::main]
async fn main() -> Result<()> {
    // Register the adapter next to whatever built-ins the host links, then build an instance.
    let mut registry = ProviderRegistry::new();
    let factory = |_config: &serde_json::Value| {
        Ok(Arc::new(AcmeProvider(serde_json::from_str(ACME_DATA)?)) as Arc<dyn RmmProvider>)
    };
    let caps = Capabilities::default();
    registry.register(acme(), "Acme", caps, Arc::new(factory));
    let provider = registry.build(&acme(), &serde_json::json!({}))?;

    let store: Arc<dyn AssetStore> = Arc::new(InMemoryStore::new());
    let tenant = TenantId::new_random();
    let integration = IntegrationId::from_name("acme-main");
    store
        .upsert_integration(tenant, &IntegrationSpec::new(integration, acme()))
        .await?;

    let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
    orchestrator
        .sync_scopes(tenant, integration, provider.as_ref())
        .await?;
    // The host maps the head office to a client and leaves the warehouse unmapped.
    let contoso = ScopeAssignment {
        client_id: Some(Some(ClientId::from_name("Contoso"))),
        ..Default::default()
    };
    store
        .assign_scope(tenant, integration, &"s1".into(), &contoso)
        .await?;

    let report = orchestrator
        .run(tenant, integration, provider, RunRequest::full())
        .await?;
    println!("{}", serde_json::to_string_pretty(&report.counts)?);
    println!("skipped: {:?}", report.skipped_reasons);
    assert_eq!(report.counts.created, 2);
    assert_eq!(report.skipped_reasons["unmapped_scope"], 1);
    Ok(())
}
