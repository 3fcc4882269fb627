//! `rmm-sync demo`: the simulators on 127.0.0.1 → an embedded SQLite database. A full sync, then
//! the fleets change (edits, a scope move, removals, an identity change) and a second sync shows
//! what the engine made of it. Uses only the library's public API.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rmm_sync::model::ProviderId;
use rmm_sync::model::{ClientId, IntegrationId, TenantId};
use rmm_sync::provider::tactical::TacticalProvider;
use rmm_sync::provider::{ProviderRegistry, RmmProvider};
use rmm_sync::store::{AssetFilter, AssetStore, IntegrationSpec, ScopeAssignment};
use rmm_sync::sync::{RunReport, RunRequest, RunStatus, SyncOrchestrator};
use rmm_sync::testkit::TacticalSim;
use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};

use crate::output::{self, SyncReportJson};
use crate::{Cli, DemoArgs, exit};

/// One simulated provider wired to an integration.
struct Simulated {
    name: &'static str,
    integration: IntegrationId,
    provider: Arc<dyn RmmProvider>,
    /// Applies the scripted changes between the two runs; returns what it did, in words.
    change: Box<dyn Fn() -> Vec<String> + Send + Sync>,
}

/// Runs the demo.
pub(crate) async fn run(cli: &Cli, args: &DemoArgs) -> anyhow::Result<u8> {
    let say = |line: String| {
        if !cli.quiet && !cli.json {
            println!("{line}");
        }
    };
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", args.db.display());
        let _ = std::fs::remove_file(path);
    }
    let url = format!("sqlite://{}", args.db.display());
    let store: Arc<dyn AssetStore> = Arc::new(
        rmm_sync::store::sqlite::SqliteStore::connect(&url)
            .await
            .with_context(|| format!("opening {url}"))?,
    );
    let tenant: TenantId = crate::config::DEFAULT_TENANT.parse().expect("valid UUID");

    let sims = start_simulators(args.devices).await?;
    say(format!(
        "demo: {} simulated provider(s), {} devices each, store {url}",
        sims.len(),
        args.devices
    ));

    let orchestrator = SyncOrchestrator::new(Arc::clone(&store));
    let mut reports = Vec::new();
    for sim in &sims {
        let mut spec = IntegrationSpec::new(sim.integration, sim.provider.info().provider);
        spec.instance_url = sim.provider.info().base_url;
        spec.settings.insert("name".into(), sim.name.into());
        store.upsert_integration(tenant, &spec).await?;
        let connection = sim
            .provider
            .test_connection()
            .await
            .context("connection test")?;
        say(format!(
            "{}: connected ({})",
            sim.name,
            connection.details.join("; ")
        ));
        let scopes = orchestrator
            .sync_scopes(tenant, sim.integration, sim.provider.as_ref())
            .await?;
        // Every scope but one is mapped to a demo client; the last stays unmapped to show the
        // `unmapped_scope` skip reason.
        let list = store.list_scopes(tenant, sim.integration).await?;
        for s in list.iter().take(list.len().saturating_sub(1)) {
            let client = ClientId::from_name(&format!("{}/{}", sim.name, s.external_id));
            let a = ScopeAssignment {
                client_id: Some(Some(client)),
                ..Default::default()
            };
            store
                .assign_scope(tenant, sim.integration, &s.external_id, &a)
                .await?;
        }
        say(format!(
            "{}: {} scopes ({} mapped to demo clients, 1 left unmapped)",
            sim.name,
            scopes.created + scopes.updated,
            list.len().saturating_sub(1)
        ));
    }

    let mut code = 0;
    for (round, title) in [(1, "full sync"), (2, "change sync")] {
        if round == 2 {
            for sim in &sims {
                for line in (sim.change)() {
                    say(format!("{}: {line}", sim.name));
                }
            }
        }
        for sim in &sims {
            let started = Instant::now();
            let report = orchestrator
                .run(
                    tenant,
                    sim.integration,
                    Arc::clone(&sim.provider),
                    RunRequest::full(),
                )
                .await?;
            if report.status != RunStatus::Completed {
                code = code.max(exit::DEVICES_FAILED);
            }
            say(format!(
                "\n== {title} ({:.2}s)",
                started.elapsed().as_secs_f64()
            ));
            if !cli.quiet && !cli.json {
                output::print_report(sim.name, &report);
            }
            reports.push((sim.name, report));
        }
    }

    let config = write_config(&args.db, &sims).context("writing the demo's config file")?;
    if cli.json {
        let out: Vec<_> = reports
            .iter()
            .map(|(n, r)| SyncReportJson::new(n, r, false))
            .collect();
        output::json(&out)?;
    } else if !cli.quiet {
        print_changes(&store, tenant, &sims, &reports).await?;
        println!(
            "\nThe database is {}. The config the demo used is {} (the simulators are gone, so\nit serves the read-only commands). Try:\n  rmm-sync --config {} status\n  rmm-sync --config {} devices list\n  rmm-sync --config {} scopes list\n(from a checkout: cargo run --release --features cli -- --config {} status)",
            args.db.display(),
            config.display(),
            config.display(),
            config.display(),
            config.display(),
            config.display(),
        );
    }
    Ok(code)
}

/// Writes the config the demo ran with next to the database (`rmm-sync-demo.db` →
/// `rmm-sync-demo.toml`), so `status`, `devices list` and `scopes list` work against it. The
/// simulators' tokens were throwaway values and are not written: `token_env` names a variable
/// that only a real sync would need.
fn write_config(db: &Path, sims: &[Simulated]) -> anyhow::Result<PathBuf> {
    let path = db.with_extension("toml");
    let db = std::fs::canonicalize(db).unwrap_or_else(|_| db.to_owned());
    let mut text = format!(
        "# Written by `rmm-sync demo`. The simulators it synced are gone, so only the read-only\n\
         # commands work against this file: status, devices list, scopes list.\n\
         store = {store:?}\n\
         tenant = {tenant:?}\n",
        store = format!("sqlite://{}", db.display()),
        tenant = crate::config::DEFAULT_TENANT,
    );
    for sim in sims {
        let info = sim.provider.info();
        text.push_str(&format!(
            "\n[[integrations]]\nid = {:?}\nprovider = {:?}\nurl = {:?}\ntoken_env = \"RMM_SYNC_DEMO_TOKEN\"\n",
            sim.name,
            info.provider.as_str(),
            info.base_url.unwrap_or_default(),
        ));
    }
    std::fs::write(&path, text)?;
    Ok(path)
}

async fn start_simulators(devices: u64) -> anyhow::Result<Vec<Simulated>> {
    let groups = (devices / 200).clamp(4, 50);
    let sim = Arc::new(TaniumGatewaySim::start(SimConfig::new(devices, groups, 2026)).await?);
    let provider: Arc<dyn RmmProvider> = Arc::new(sim.provider_builder().build()?);
    let control = Arc::clone(&sim);
    let change = Box::new(move || {
        let groups = control.groups();
        // Change endpoints of the first group: only the last scope stays unmapped, so every
        // change below shows in the second run's report instead of being skipped.
        let ids = groups
            .first()
            .map(|g| control.endpoints_in_group(&g.id))
            .unwrap_or_default();
        let mut did = Vec::new();
        if let Some(id) = ids.first() {
            control.update_endpoint(id, |e| e.name = format!("{}-renamed", e.name));
            did.push(format!("renamed endpoint {id}"));
        }
        if let (Some(id), Some(target)) = (ids.get(1), groups.get(1)) {
            control.move_endpoint(id, &target.id);
            did.push(format!("moved endpoint {id} to group {}", target.id));
        }
        for id in ids.iter().skip(2).take(2) {
            control.remove_endpoint(id);
            did.push(format!("removed endpoint {id}"));
        }
        if let Some(id) = ids.get(4)
            && let Some(new) = control.rekey_endpoint(id)
        {
            did.push(format!(
                "re-registered endpoint {id} as {new} (identity change)"
            ));
        }
        did
    });
    let tanium = Simulated {
        name: "tanium-sim",
        integration: IntegrationId::from_name("tanium-sim"),
        provider,
        change,
    };
    Ok(vec![tanium, start_tactical(devices).await?])
}

async fn start_tactical(devices: u64) -> anyhow::Result<Simulated> {
    let clients = (devices / 250).clamp(3, 40);
    let sim = Arc::new(
        TacticalSim::builder()
            .agents(devices)
            .clients(clients)
            .seed(2026)
            .start()
            .await,
    );
    let mut registry = ProviderRegistry::new();
    TacticalProvider::register(&mut registry);
    let config = serde_json::json!({
        "base_url": sim.url(),
        "auth": { "mode": "api_key", "api_key": sim.api_key() },
    });
    let provider = registry.build(&ProviderId::TACTICALRMM, &config)?;
    let control = Arc::clone(&sim);
    let change = Box::new(move || {
        let agents = control.agents();
        let mut did = Vec::new();
        if let Some(a) = agents.first() {
            control.update_agent(&a.agent_id, |a| {
                a.hostname = format!("{}-renamed", a.hostname)
            });
            did.push(format!("renamed agent {}", a.agent_id));
        }
        // Move an agent to a site of another client: a client move, still one asset.
        if let Some(a) = agents.get(1) {
            let from = control.client_of(&a.agent_id);
            if let Some(site) = control.sites().into_iter().find(|s| Some(s.client) != from) {
                control.move_agent(&a.agent_id, site.id);
                did.push(format!(
                    "moved agent {} to client {}",
                    a.agent_id, site.client
                ));
            }
        }
        for a in agents.iter().skip(2).take(2) {
            control.remove_agent(&a.agent_id);
            did.push(format!("removed agent {}", a.agent_id));
        }
        did
    });
    Ok(Simulated {
        name: "tactical-sim",
        integration: IntegrationId::from_name("tactical-sim"),
        provider,
        change,
    })
}

/// A short table of what changed in the second run.
async fn print_changes(
    store: &Arc<dyn AssetStore>,
    tenant: TenantId,
    sims: &[Simulated],
    reports: &[(&str, RunReport)],
) -> anyhow::Result<()> {
    println!("\n== what changed");
    let mut rows = Vec::new();
    for (name, r) in reports.iter().skip(sims.len()) {
        let c = &r.counts;
        rows.push(vec![
            (*name).to_owned(),
            c.created.to_string(),
            c.updated.to_string(),
            c.moved.to_string(),
            c.tombstoned.to_string(),
            r.rekeyed.to_string(),
            c.unchanged.to_string(),
        ]);
    }
    output::table(
        &[
            "INTEGRATION",
            "CREATED",
            "UPDATED",
            "MOVED",
            "TOMBSTONED",
            "RE-KEYED",
            "UNCHANGED",
        ],
        &rows,
    );
    for sim in sims {
        let filter = AssetFilter {
            integration_id: Some(sim.integration),
            limit: None,
        };
        let assets = store.list_assets(tenant, &filter).await?;
        let active = assets.iter().filter(|a| a.status == "active").count();
        println!(
            "{}: {} assets in the store ({active} active), one per device — no duplicates",
            sim.name,
            assets.len()
        );
    }
    Ok(())
}
