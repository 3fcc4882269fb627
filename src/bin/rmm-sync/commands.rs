//! One function per command.

use std::sync::Arc;

use anyhow::{Context, bail};
use rmm_sync::ErrorKind;
use rmm_sync::model::ClientId;
use rmm_sync::store::{AssetFilter, AssetStore, ScopeAssignment};
use rmm_sync::sync::{RunRequest, RunStatus, SyncOrchestrator};
use serde_json::json;

use crate::config::{Config, IntegrationConfig};
use crate::exit::{self, UsageError};
use crate::output::{self, SyncReportJson};
use crate::{Cli, Command, DevicesCommand, MapArgs, ScopesCommand, SyncArgs, Via, wiring};

/// Runs the command and returns the exit code.
// Not `Send` with the `temporal` feature (its worker loop is not); `main` blocks on it.
#[allow(clippy::future_not_send)]
pub(crate) async fn dispatch(cli: &Cli) -> anyhow::Result<u8> {
    if let Command::Demo(args) = &cli.command {
        return crate::demo::run(cli, args).await;
    }
    if let Command::Simulate(args) = &cli.command {
        return crate::simulate::run(cli, args).await;
    }
    #[cfg(not(feature = "temporal"))]
    if let Command::Temporal { .. } = &cli.command {
        bail!(UsageError(
            "`rmm-sync temporal` needs a binary built with the `temporal` feature (cargo build --features cli,temporal)".to_owned()
        ));
    }
    let config = Config::load(&cli.config)?;
    #[cfg(feature = "temporal")]
    if let Command::Temporal(args) = &cli.command {
        return crate::temporal::run(cli, &config, args).await;
    }
    let ctx = Ctx::open(cli, config).await?;
    match &cli.command {
        Command::Demo(_) | Command::Simulate(_) | Command::Temporal { .. } => {
            unreachable!("handled above")
        }
        Command::Check(a) => ctx.check(a.integration.as_deref()).await,
        Command::Scopes(ScopesCommand::Sync(a)) => ctx.scopes_sync(a.integration.as_deref()).await,
        Command::Scopes(ScopesCommand::List(a)) => ctx.scopes_list(a.integration.as_deref()).await,
        Command::Scopes(ScopesCommand::Map(a)) => ctx.scopes_map(a).await,
        Command::Sync(a) => ctx.sync(a).await,
        Command::Status => ctx.status().await,
        Command::Serve(a) => crate::serve::run(&ctx, a).await,
        Command::Devices(DevicesCommand::List(a)) => {
            ctx.devices_list(a.integration.as_deref()).await
        }
    }
}

/// Everything a command needs.
pub(crate) struct Ctx<'a> {
    pub(crate) cli: &'a Cli,
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn AssetStore>,
    pub(crate) tenant: rmm_sync::model::TenantId,
}

impl<'a> Ctx<'a> {
    pub(crate) async fn open(cli: &'a Cli, config: Config) -> anyhow::Result<Self> {
        let tenant = config.tenant()?;
        let store = wiring::open_store(&config.store)
            .await
            .with_context(|| format!("opening store {}", wiring::redact(&config.store)))?;
        Ok(Self {
            cli,
            config,
            store,
            tenant,
        })
    }

    fn say(&self, line: impl AsRef<str>) {
        if !self.cli.quiet && !self.cli.json {
            println!("{}", line.as_ref());
        }
    }

    async fn ensure_integration(&self, cfg: &IntegrationConfig) -> anyhow::Result<()> {
        self.store
            .upsert_integration(self.tenant, &wiring::integration_spec(cfg))
            .await?;
        Ok(())
    }

    async fn check(&self, only: Option<&str>) -> anyhow::Result<u8> {
        let mut results = Vec::new();
        let mut code = 0;
        for cfg in self.config.select(only)? {
            let outcome = async {
                let provider = wiring::build_provider(cfg)?;
                let report = provider.test_connection().await?;
                anyhow::Ok(report)
            }
            .await;
            match outcome {
                Ok(report) => {
                    self.ensure_integration(cfg).await?;
                    let now = rmm_sync::ingest::now_micros();
                    let update = rmm_sync::store::SyncStateUpdate {
                        connected_at: Some(now),
                        ..Default::default()
                    };
                    self.store
                        .update_sync_state(self.tenant, cfg.integration_id(), &update)
                        .await?;
                    self.say(format!("{}: ok", cfg.id));
                    for d in &report.details {
                        self.say(format!("  {d}"));
                    }
                    for w in &report.warnings {
                        self.say(format!("  warning: {w}"));
                    }
                    results.push(json!({"integration": cfg.id, "ok": true, "details": report.details, "warnings": report.warnings}));
                }
                Err(e) => {
                    code = code.max(exit::code_for(&e));
                    if !self.cli.json {
                        eprintln!("{}: FAILED: {e:#}", cfg.id);
                    }
                    results.push(json!({"integration": cfg.id, "ok": false, "error": format!("{e:#}"), "exit_code": exit::code_for(&e)}));
                }
            }
        }
        if self.cli.json {
            output::json(&results)?;
        }
        Ok(code)
    }

    async fn scopes_sync(&self, only: Option<&str>) -> anyhow::Result<u8> {
        let orchestrator = SyncOrchestrator::new(Arc::clone(&self.store));
        let mut out = Vec::new();
        for cfg in self.config.select(only)? {
            self.ensure_integration(cfg).await?;
            let provider = wiring::build_provider(cfg)?;
            let counts = orchestrator
                .sync_scopes(self.tenant, cfg.integration_id(), provider.as_ref())
                .await
                .with_context(|| format!("integration {:?}", cfg.id))?;
            self.say(format!(
                "{}: {} new, {} refreshed, {} vanished, {} back",
                cfg.id, counts.created, counts.updated, counts.vanished, counts.reappeared
            ));
            out.push(json!({"integration": cfg.id, "counts": counts}));
        }
        if self.cli.json {
            output::json(&out)?;
        }
        Ok(0)
    }

    async fn scopes_list(&self, only: Option<&str>) -> anyhow::Result<u8> {
        let mut rows = Vec::new();
        let mut out = Vec::new();
        for cfg in self.config.select(only)? {
            for s in self
                .store
                .list_scopes(self.tenant, cfg.integration_id())
                .await?
            {
                rows.push(vec![
                    cfg.id.clone(),
                    s.external_id.to_string(),
                    s.name.clone(),
                    s.kind.as_str().to_owned(),
                    s.client_id.map_or("(unmapped)".into(), |c| c.to_string()),
                    if s.auto_sync_assets {
                        "yes".into()
                    } else {
                        "no".into()
                    },
                    s.vanished_at.map_or(String::new(), |t| {
                        format!("vanished {}", t.format("%Y-%m-%d"))
                    }),
                ]);
                out.push(json!({"integration": cfg.id, "scope": s}));
            }
        }
        if self.cli.json {
            output::json(&out)?;
        } else if !self.cli.quiet {
            output::table(
                &[
                    "INTEGRATION",
                    "SCOPE",
                    "NAME",
                    "KIND",
                    "CLIENT",
                    "SYNC",
                    "NOTE",
                ],
                &rows,
            );
        }
        Ok(0)
    }

    async fn scopes_map(&self, a: &MapArgs) -> anyhow::Result<u8> {
        let cfg = self.config.select(Some(&a.integration))?[0];
        self.ensure_integration(cfg).await?;
        let integration = cfg.integration_id();
        let scopes = self.store.list_scopes(self.tenant, integration).await?;
        if scopes.is_empty() {
            bail!(UsageError(format!(
                "integration {:?} has no scopes yet; run `rmm-sync scopes sync` first",
                cfg.id
            )));
        }
        let targets: Vec<&rmm_sync::store::ScopeRecord> = match &a.scope {
            Some(id) => match scopes.iter().find(|s| s.external_id.as_str() == id) {
                Some(s) => vec![s],
                None => bail!(UsageError(format!(
                    "integration {:?} has no scope {id:?}",
                    cfg.id
                ))),
            },
            None if a.auto => scopes.iter().collect(),
            None => bail!(UsageError("--scope is required unless --auto".into())),
        };
        let mut out = Vec::new();
        for s in targets {
            let client = if a.unmap {
                None
            } else if a.auto {
                Some(ClientId::from_name(&format!(
                    "{}/{}",
                    cfg.id, s.external_id
                )))
            } else {
                let raw = a
                    .client
                    .as_deref()
                    .ok_or_else(|| UsageError("give --client UUID, --unmap or --auto".into()))?;
                Some(
                    raw.parse()
                        .map_err(|_| UsageError(format!("--client {raw:?} is not a UUID")))?,
                )
            };
            let assignment = ScopeAssignment {
                client_id: Some(client),
                ..Default::default()
            };
            let rec = self
                .store
                .assign_scope(self.tenant, integration, &s.external_id, &assignment)
                .await?;
            self.say(format!(
                "{} {} → {}",
                cfg.id,
                rec.external_id,
                rec.client_id.map_or("(unmapped)".into(), |c| c.to_string())
            ));
            out.push(json!({"integration": cfg.id, "scope": rec.external_id, "client_id": rec.client_id}));
        }
        if self.cli.json {
            output::json(&out)?;
        }
        Ok(0)
    }

    async fn sync(&self, a: &SyncArgs) -> anyhow::Result<u8> {
        let mut code = 0;
        let mut out = Vec::new();
        for cfg in self.config.select(a.integration.as_deref())? {
            self.ensure_integration(cfg).await?;
            let bar = match a.via {
                // The workers report progress in their own logs.
                Via::Temporal => None,
                Via::Direct => crate::progress::bar(&cfg.id, !self.cli.quiet && !self.cli.json),
            };
            let outcome = match a.via {
                Via::Direct => {
                    let provider = match wiring::build_provider(cfg) {
                        Ok(p) => p,
                        Err(e) => bail!(e.context(format!("integration {:?}", cfg.id))),
                    };
                    let mut orchestrator = SyncOrchestrator::with_options(
                        Arc::clone(&self.store),
                        self.config.sync_options(),
                    );
                    if let Some((f, _)) = &bar {
                        orchestrator = orchestrator.with_progress(Arc::clone(f));
                    }
                    let request = if a.incremental {
                        RunRequest::incremental()
                    } else {
                        RunRequest::full()
                    }
                    .dry_run(a.dry_run);
                    orchestrator
                        .run(self.tenant, cfg.integration_id(), provider, request)
                        .await
                }
                Via::Temporal => self.sync_via_temporal(cfg, a).await,
            };
            let report = match outcome {
                Ok(report) => report,
                Err(e) if e.kind() == ErrorKind::LeaseHeld => {
                    // Busy, not broken: say so, go on with the other integrations.
                    if let Some((_, pb)) = bar {
                        pb.finish_and_clear();
                    }
                    code = exit::worst(code, exit::LEASE_HELD);
                    if self.cli.json {
                        out.push(json!({
                            "integration": cfg.id,
                            "status": "busy",
                            "error": {"kind": e.kind().as_str(), "message": e.to_string()},
                            "exit_code": exit::LEASE_HELD,
                        }));
                    } else {
                        eprintln!("{}: busy: {e}", cfg.id);
                    }
                    continue;
                }
                Err(e) => {
                    return Err(anyhow::Error::new(e).context(format!("integration {:?}", cfg.id)));
                }
            };
            if let Some((_, pb)) = bar {
                pb.finish_and_clear();
            }
            code = exit::worst(
                code,
                match report.status {
                    RunStatus::Completed => 0,
                    RunStatus::CompletedWithErrors => exit::DEVICES_FAILED,
                    RunStatus::Cancelled => exit::DEVICES_FAILED,
                    RunStatus::Failed => report
                        .errors
                        .last()
                        .map_or(exit::PROVIDER, |e| exit::code_for_kind(e.kind)),
                },
            );
            if self.cli.json {
                out.push(serde_json::to_value(SyncReportJson::new(
                    &cfg.id, &report, a.dry_run,
                ))?);
            } else if !self.cli.quiet {
                output::print_report(&cfg.id, &report);
            }
        }
        if self.cli.json {
            output::json(&out)?;
        }
        Ok(code)
    }

    /// One integration's run as a Temporal workflow; its outcome as a direct run's would be.
    #[cfg(feature = "temporal")]
    async fn sync_via_temporal(
        &self,
        cfg: &IntegrationConfig,
        a: &SyncArgs,
    ) -> rmm_sync::Result<rmm_sync::sync::RunReport> {
        use rmm_sync::sync::RunMode;
        use rmm_sync::transport::temporal::{self, SyncWorkflowInput, SyncWorkflowOutcome};
        // `[temporal]` as configured: `sync` has no Temporal flags.
        let settings = self.config.temporal.clone();
        let client = temporal::connect(&settings).await?;
        let mode = if a.incremental {
            RunMode::Incremental
        } else {
            RunMode::Full
        };
        let mut input = SyncWorkflowInput::new(self.tenant, cfg.integration_id(), mode);
        input.dry_run = a.dry_run;
        match temporal::run_via_temporal(&client, &settings, input).await? {
            SyncWorkflowOutcome::Finished(report) => Ok(*report),
            SyncWorkflowOutcome::Refused { kind, message } => {
                Err(rmm_sync::Error::new(kind, message))
            }
        }
    }

    #[cfg(not(feature = "temporal"))]
    async fn sync_via_temporal(
        &self,
        _cfg: &IntegrationConfig,
        _a: &SyncArgs,
    ) -> rmm_sync::Result<rmm_sync::sync::RunReport> {
        Err(rmm_sync::Error::new(
            ErrorKind::InvalidConfig,
            "`sync --via temporal` needs a binary built with the `temporal` feature (cargo build --features cli,temporal)",
        ))
    }

    async fn status(&self) -> anyhow::Result<u8> {
        let mut rows = Vec::new();
        let mut out = Vec::new();
        for cfg in self.config.select(None)? {
            let rec = self
                .store
                .get_integration(self.tenant, cfg.integration_id())
                .await?;
            let filter = AssetFilter {
                integration_id: Some(cfg.integration_id()),
                limit: None,
            };
            let assets = self.store.list_assets(self.tenant, &filter).await?;
            let active = assets.iter().filter(|a| a.status == "active").count();
            let fmt = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or("never".to_owned(), |t| t.to_rfc3339())
            };
            let now = rmm_sync::ingest::now_micros();
            let status = rec
                .as_ref()
                .map_or("never synced".to_owned(), |r| status_text(r, now));
            // What `serve` would run next, from the config's schedules and the last runs.
            let next = rmm_sync::service::next_runs(&cfg.sync_schedule()?, rec.as_ref(), now);
            let next_text = next
                .iter()
                .map(|n| {
                    let when = if n.at <= now {
                        "due now".to_owned()
                    } else {
                        n.at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
                    };
                    format!("{} {when}", n.mode.as_str())
                })
                .collect::<Vec<_>>()
                .join(", ");
            rows.push(vec![
                cfg.id.clone(),
                cfg.provider.clone(),
                status.clone(),
                fmt(rec.as_ref().and_then(|r| r.last_sync_at)),
                fmt(rec.as_ref().and_then(|r| r.last_full_sync_at)),
                format!("{active} active / {} total", assets.len()),
                if next_text.is_empty() {
                    "-".to_owned()
                } else {
                    next_text
                },
                rec.as_ref()
                    .and_then(|r| r.sync_error.clone())
                    .unwrap_or_default(),
            ]);
            out.push(json!({
                "integration": cfg.id,
                "provider": cfg.provider,
                "sync_status": rec.as_ref().map_or("never synced", |r| r.sync_status.as_str()),
                "status_text": status,
                "sync_error": rec.as_ref().and_then(|r| r.sync_error.clone()),
                "last_sync_at": rec.as_ref().and_then(|r| r.last_sync_at),
                "last_full_sync_at": rec.as_ref().and_then(|r| r.last_full_sync_at),
                "last_incremental_sync_at": rec.as_ref().and_then(|r| r.last_incremental_sync_at),
                "connected_at": rec.as_ref().and_then(|r| r.connected_at),
                "lease": rec.as_ref().and_then(|r| r.lease.as_ref()).map(|l| json!({
                    "holder": l.holder,
                    "expires_at": l.expires_at,
                    "stale": l.is_stale(now),
                })),
                "devices": {"active": active, "total": assets.len()},
                "next_runs": next.iter().map(|n| json!({
                    "mode": n.mode.as_str(),
                    "at": n.at,
                    "schedule": n.schedule,
                })).collect::<Vec<_>>(),
            }));
        }
        if self.cli.json {
            output::json(&out)?;
        } else if !self.cli.quiet {
            output::table(
                &[
                    "INTEGRATION",
                    "PROVIDER",
                    "STATUS",
                    "LAST SYNC",
                    "LAST FULL SYNC",
                    "DEVICES",
                    "NEXT SCHEDULED RUN",
                    "ERROR",
                ],
                &rows,
            );
        }
        Ok(0)
    }

    async fn devices_list(&self, only: Option<&str>) -> anyhow::Result<u8> {
        let mut rows = Vec::new();
        let mut out = Vec::new();
        for cfg in self.config.select(only)? {
            let filter = AssetFilter {
                integration_id: Some(cfg.integration_id()),
                limit: None,
            };
            for a in self.store.list_assets(self.tenant, &filter).await? {
                rows.push(vec![
                    cfg.id.clone(),
                    a.rmm_device_id.clone().unwrap_or_default(),
                    a.name.clone(),
                    a.asset_type.to_string(),
                    a.status.clone(),
                    a.agent_status.map_or("unknown".into(), |s| s.to_string()),
                    a.last_seen_at
                        .map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
                    a.rmm_organization_id.clone().unwrap_or_default(),
                ]);
                out.push(json!({"integration": cfg.id, "asset": a}));
            }
        }
        if self.cli.json {
            output::json(&out)?;
        } else if !self.cli.quiet {
            output::table(
                &[
                    "INTEGRATION",
                    "DEVICE",
                    "NAME",
                    "TYPE",
                    "STATUS",
                    "AGENT",
                    "LAST SEEN",
                    "SCOPE",
                ],
                &rows,
            );
        }
        Ok(0)
    }
}

/// The status column: `syncing` is qualified by the lease, so a run that was killed (its lease
/// lapsed, nobody renews it) does not look like one that is still going.
fn status_text(
    rec: &rmm_sync::store::IntegrationRecord,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let status = rec.sync_status.as_str();
    if rec.sync_status != rmm_sync::store::SyncStatus::Syncing {
        return status.to_owned();
    }
    match &rec.lease {
        Some(l) if !l.is_stale(now) => format!(
            "{status} (lease renewed until {})",
            l.expires_at.format("%H:%M:%S")
        ),
        Some(l) => format!(
            "{status} (stale: holder gone since its lease expired at {}; the next run takes over)",
            l.expires_at.to_rfc3339()
        ),
        None => format!("{status} (stale: no run holds the lease; the next run takes over)"),
    }
}
