//! `rmm-sync temporal …` (built with the `temporal` feature): a worker executing the sync
//! workflows of the config's integrations, and Temporal Schedules from their `schedule` tables
//! (which need the Temporal server, not the store).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use async_trait::async_trait;
use clap::{Args, Subcommand};
use rmm_sync::model::{IntegrationId, TenantId};
use rmm_sync::provider::RmmProvider;
use rmm_sync::sync::SyncOrchestrator;
use rmm_sync::transport::temporal::{
    self, ProviderSource, ScheduledIntegration, SyncActivities, TemporalConfig, apply_schedules,
    list_schedules,
};
use rmm_sync::{Error, ErrorKind};

use crate::Cli;
use crate::config::{Config, IntegrationConfig};
use crate::{output, process, wiring};

#[derive(Debug, Args)]
pub(crate) struct TemporalArgs {
    /// The Temporal frontend, `host:port` or `http://host:port` (overrides `[temporal] address`;
    /// default 127.0.0.1:7233).
    #[arg(long, global = true)]
    pub(crate) address: Option<String>,
    /// The namespace (overrides `[temporal] namespace`; default `default`).
    #[arg(long, global = true)]
    pub(crate) namespace: Option<String>,
    /// The task queue (overrides `[temporal] task_queue`; default `rmm-sync`).
    #[arg(long, global = true)]
    pub(crate) task_queue: Option<String>,
    #[command(subcommand)]
    pub(crate) command: TemporalCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemporalCommand {
    /// Temporal Schedules made from each integration's `schedule`.
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Execute sync workflows and their activities for every integration in the config, until
    /// SIGINT/SIGTERM. Many workers (on many machines) may share a task queue.
    Worker,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SchedulesCommand {
    /// Create or update one schedule per integration and mode; delete those of modes no
    /// longer configured. Idempotent.
    Apply,
    /// Show the schedules of the configured integrations and their next runs.
    List,
}

/// The `[temporal]` settings with the flags applied over them.
fn settings(config: &Config, args: &TemporalArgs) -> TemporalConfig {
    let mut t = config.temporal.clone();
    if let Some(a) = &args.address {
        t.address.clone_from(a);
    }
    if let Some(n) = &args.namespace {
        t.namespace.clone_from(n);
    }
    if let Some(q) = &args.task_queue {
        t.task_queue.clone_from(q);
    }
    t
}

/// The worker's providers: built from the config file on first use, then kept (one HTTP client
/// and token cache per integration for the life of the worker).
struct ConfigProviders {
    tenant: TenantId,
    integrations: Vec<IntegrationConfig>,
    built: Mutex<HashMap<IntegrationId, Arc<dyn RmmProvider>>>,
}

impl std::fmt::Debug for ConfigProviders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Integration names only: their tables hold token locations.
        let names: Vec<&str> = self.integrations.iter().map(|i| i.id.as_str()).collect();
        f.debug_struct("ConfigProviders")
            .field("integrations", &names)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ProviderSource for ConfigProviders {
    async fn provider(
        &self,
        tenant: TenantId,
        integration: IntegrationId,
    ) -> rmm_sync::Result<Arc<dyn RmmProvider>> {
        if let Some(p) = self.built.lock().expect("poisoned").get(&integration) {
            return Ok(Arc::clone(p));
        }
        let Some(cfg) = self
            .integrations
            .iter()
            .find(|i| tenant == self.tenant && i.integration_id() == integration)
        else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "integration {integration} of tenant {tenant} is not in this worker's config"
                ),
            ));
        };
        let provider = wiring::build_provider(cfg).map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("integration {:?}: {e:#}", cfg.id),
            )
        })?;
        self.built
            .lock()
            .expect("poisoned")
            .insert(integration, Arc::clone(&provider));
        Ok(provider)
    }
}

// Not `Send`: the SDK's worker loop is not (it runs on `main`'s `block_on`).
#[allow(clippy::future_not_send)]
async fn worker(cli: &Cli, config: &Config, settings: &TemporalConfig) -> anyhow::Result<u8> {
    let tenant = config.tenant()?;
    let store = wiring::open_store(&config.store)
        .await
        .with_context(|| format!("opening store {}", wiring::redact(&config.store)))?;
    let integrations: Vec<IntegrationConfig> = config.select(None)?.into_iter().cloned().collect();
    for cfg in &integrations {
        store
            .upsert_integration(tenant, &wiring::integration_spec(cfg))
            .await?;
    }
    let orch = SyncOrchestrator::with_options(store, config.sync_options());
    let providers = Arc::new(ConfigProviders {
        tenant,
        integrations,
        built: Mutex::new(HashMap::new()),
    });
    let client = temporal::connect(settings).await?;
    if !cli.quiet && !cli.json {
        println!(
            "worker polling task queue {:?} on {} (namespace {:?}); SIGINT/SIGTERM to stop",
            settings.task_queue, settings.address, settings.namespace
        );
    }
    let stop = async {
        if let Err(e) = process::wait_for_stop().await {
            tracing::warn!(error = %e, "cannot wait for signals; stopping the worker");
        }
    };
    temporal::run_worker(client, settings, SyncActivities::new(orch, providers), stop).await?;
    Ok(0)
}

fn scheduled(config: &Config) -> anyhow::Result<Vec<ScheduledIntegration>> {
    let tenant = config.tenant()?;
    config
        .select(None)?
        .into_iter()
        .map(|i| {
            Ok(ScheduledIntegration {
                name: i.id.clone(),
                tenant,
                integration: i.integration_id(),
                schedule: i.sync_schedule()?,
            })
        })
        .collect()
}

#[allow(clippy::future_not_send)] // `worker`
pub(crate) async fn run(cli: &Cli, config: &Config, args: &TemporalArgs) -> anyhow::Result<u8> {
    let settings = settings(config, args);
    if let TemporalCommand::Worker = &args.command {
        return worker(cli, config, &settings).await;
    }
    let integrations = scheduled(config)?;
    let client = temporal::connect(&settings).await?;
    let say = !cli.quiet && !cli.json;
    match &args.command {
        TemporalCommand::Schedules(SchedulesCommand::Apply) => {
            let report = apply_schedules(&client, &settings, &integrations).await?;
            if cli.json {
                output::json(&report)?;
            } else if say {
                let mut rows = Vec::new();
                for (what, ids) in [
                    ("created", &report.created),
                    ("updated", &report.updated),
                    ("unchanged", &report.unchanged),
                    ("deleted", &report.deleted),
                ] {
                    rows.extend(ids.iter().map(|id| vec![what.to_owned(), id.clone()]));
                }
                if rows.is_empty() {
                    println!("no integration has a `schedule`; nothing to apply");
                } else {
                    output::table(&["RESULT", "SCHEDULE"], &rows);
                }
            }
        }
        TemporalCommand::Schedules(SchedulesCommand::List) => {
            let listed = list_schedules(&client, &settings, &integrations).await?;
            if cli.json {
                output::json(&listed)?;
            } else if say {
                let rows: Vec<Vec<String>> = listed
                    .iter()
                    .map(|s| {
                        vec![
                            s.integration.clone(),
                            s.mode.as_str().to_owned(),
                            s.spec.clone().unwrap_or_else(|| "?".to_owned()),
                            match (s.paused, s.in_sync) {
                                (true, _) => "paused".to_owned(),
                                (false, true) => "active".to_owned(),
                                (false, false) => "differs from config (apply)".to_owned(),
                            },
                            s.next_action_times
                                .first()
                                .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                                .unwrap_or_else(|| "-".to_owned()),
                            s.schedule_id.clone(),
                        ]
                    })
                    .collect();
                if rows.is_empty() {
                    println!(
                        "no schedules for the configured integrations (run `rmm-sync temporal schedules apply`)"
                    );
                } else {
                    output::table(
                        &[
                            "INTEGRATION",
                            "MODE",
                            "SPEC",
                            "STATE",
                            "NEXT RUN",
                            "SCHEDULE",
                        ],
                        &rows,
                    );
                }
            }
        }
        TemporalCommand::Worker => unreachable!("handled above"),
    }
    Ok(0)
}
