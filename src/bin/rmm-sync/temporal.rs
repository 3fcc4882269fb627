//! `rmm-sync temporal …` (built with the `temporal` feature): Temporal Schedules from the
//! config's `schedule` tables. Needs the Temporal server, not the store.

use clap::{Args, Subcommand};
use rmm_sync::transport::temporal::{
    self, ScheduledIntegration, TemporalConfig, apply_schedules, list_schedules,
};

use crate::Cli;
use crate::config::Config;
use crate::output;

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
    // `Worker(WorkerArgs)` comes here.
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

pub(crate) async fn run(cli: &Cli, config: &Config, args: &TemporalArgs) -> anyhow::Result<u8> {
    let settings = settings(config, args);
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
    }
    Ok(0)
}
