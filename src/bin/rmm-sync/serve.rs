//! `rmm-sync serve`: the service layer on the config's integrations — schedules, webhooks,
//! `/healthz`, `/readyz`, `/metrics` — until SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use rmm_sync::provider::ninjaone::{ScopeLevel, WebhookVerifier};
use rmm_sync::provider::tactical::{
    DEFAULT_WEBHOOK_HEADER, TacticalWebhookConfig, TacticalWebhookVerifier,
};
use rmm_sync::service::{ServiceIntegration, ServiceOptions, SyncService, WebhookSource};
use rmm_sync::sync::SyncOrchestrator;
use secrecy::SecretString;

use crate::commands::Ctx;
use crate::config::{IntegrationConfig, ServeTransport};
use crate::exit::UsageError;
use crate::wiring;

/// The address `serve` listens on unless told otherwise.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on (overrides `[serve] listen`; default 127.0.0.1:8080). Port 0 picks
    /// a free port.
    #[arg(long)]
    pub(crate) listen: Option<String>,
    /// Write the bound port to this file once listening (for scripts and tests).
    #[arg(long)]
    pub(crate) port_file: Option<PathBuf>,
}

pub(crate) async fn run(ctx: &Ctx<'_>, args: &ServeArgs) -> anyhow::Result<u8> {
    let config = &ctx.config;
    let raw = args
        .listen
        .clone()
        .or_else(|| config.serve.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    let addr: SocketAddr = raw.parse().map_err(|_| {
        UsageError(format!(
            "listen address {raw:?} is not an address:port (e.g. 127.0.0.1:8080)"
        ))
    })?;
    let mut integrations = Vec::new();
    let mut summary = Vec::new();
    for cfg in config.select(None)? {
        ctx.store
            .upsert_integration(ctx.tenant, &wiring::integration_spec(cfg))
            .await?;
        let provider = wiring::build_provider(cfg)
            .map_err(|e| e.context(format!("integration {:?}", cfg.id)))?;
        let mut integration =
            ServiceIntegration::new(&cfg.id, ctx.tenant, cfg.integration_id(), provider)
                .with_schedule(cfg.sync_schedule()?);
        if let Some(source) = webhook_source(cfg)? {
            integration = integration.with_webhook(source);
        }
        if integration.schedule.full.is_none()
            && integration.schedule.incremental.is_none()
            && integration.webhook.is_none()
        {
            tracing::warn!(integration = %cfg.id, "no `schedule` and no `webhook`: serve will not sync it");
        }
        let show = |o: &Option<rmm_sync::service::Schedule>| {
            o.as_ref().map_or("-".to_owned(), ToString::to_string)
        };
        summary.push(format!(
            "  {}: full {}, incremental {}, webhooks {}",
            cfg.id,
            show(&integration.schedule.full),
            show(&integration.schedule.incremental),
            if integration.webhook.is_some() {
                "on"
            } else {
                "off"
            }
        ));
        integrations.push(integration);
    }
    let defaults = ServiceOptions::default();
    let options = ServiceOptions {
        shutdown_timeout: config
            .serve
            .shutdown_timeout
            .unwrap_or(defaults.shutdown_timeout),
        coalesce_window: config
            .serve
            .coalesce_window
            .unwrap_or(defaults.coalesce_window),
        webhook_body_limit: config
            .serve
            .webhook_body_limit
            .unwrap_or(defaults.webhook_body_limit),
        // A dead holder's lease lapses within its TTL: look again at that pace.
        lease_held_retry: (config.sync_options().lease_ttl / 4)
            .clamp(Duration::from_secs(1), defaults.lease_held_retry),
        ..defaults
    };
    let orchestrator =
        SyncOrchestrator::with_options(Arc::clone(&ctx.store), config.sync_options());
    let service = SyncService::new(orchestrator, integrations, options)
        .map_err(|e| UsageError(e.to_string()))?;
    let service = match config.serve.transport {
        ServeTransport::Direct => service,
        ServeTransport::Temporal => service.with_refresh_route(temporal_route(config).await?),
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    if !bound.ip().is_loopback() {
        tracing::warn!(address = %bound, "listening beyond loopback: webhooks are protected by their secrets, /metrics and /readyz are open to anyone who can reach this address");
    }
    if let Some(path) = &args.port_file {
        crate::process::write_port_file(path, bound.port())
            .with_context(|| format!("writing the port file {}", path.display()))?;
    }
    if !ctx.cli.quiet {
        eprintln!(
            "rmm-sync serve: listening on http://{bound} (POST /webhooks/<integration id>, GET /healthz, /readyz, /metrics)"
        );
        for line in &summary {
            eprintln!("{line}");
        }
    }
    let running = service.start();
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let app = service.router();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await
    });
    crate::process::wait_for_stop().await?;
    tracing::info!("stopping: webhooks refused, running syncs finish their batch");
    let report = running.shutdown().await;
    let _ = stop_http.send(());
    // Open keep-alive connections must not hold the exit up.
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    if let Some(path) = &args.port_file {
        let _ = std::fs::remove_file(path);
    }
    if report.clean {
        tracing::info!(took_ms = report.took.as_millis() as u64, "stopped cleanly");
        Ok(0)
    } else {
        eprintln!(
            "error: shutdown timed out after {:?}; runs still going were abandoned (their leases expire by TTL)",
            report.took
        );
        // Like a run with failures: it stopped, but not cleanly.
        Ok(crate::exit::DEVICES_FAILED)
    }
}

fn webhook_source(cfg: &IntegrationConfig) -> anyhow::Result<Option<WebhookSource>> {
    let Some(secret) = cfg.webhook_secret()? else {
        return Ok(None);
    };
    let header = cfg.webhook.as_ref().and_then(|w| w.header.clone());
    let usage = |e: rmm_sync::Error| {
        anyhow::Error::new(UsageError(format!(
            "integration {:?}: key `webhook`: {}",
            cfg.id,
            e.message()
        )))
    };
    Ok(Some(match cfg.provider.as_str() {
        "ninjaone" => {
            let mut v = WebhookVerifier::new(cfg.integration_id(), SecretString::from(secret))
                .map_err(usage)?;
            if let Some(h) = header {
                v = v.with_header(h).map_err(usage)?;
            }
            // The scope a deleted device's payload names must match the listing's.
            let level = match cfg.extra.get("scope_level").and_then(|v| v.as_str()) {
                Some("location") => ScopeLevel::Location,
                _ => ScopeLevel::Organization,
            };
            WebhookSource::NinjaOne(v.with_scope_level(level))
        }
        "tacticalrmm" => {
            let mut c = TacticalWebhookConfig::new(secret);
            c.header = header.unwrap_or_else(|| DEFAULT_WEBHOOK_HEADER.to_owned());
            WebhookSource::Tactical(TacticalWebhookVerifier::new(&c).map_err(usage)?)
        }
        other => bail!(UsageError(format!(
            "integration {:?}: provider {other} sends no webhooks",
            cfg.id
        ))),
    }))
}

/// The route of `transport = "temporal"`: refreshes as signals to `DeviceRefreshWorkflow`s.
#[cfg(feature = "temporal")]
async fn temporal_route(
    config: &crate::config::Config,
) -> anyhow::Result<Arc<dyn rmm_sync::service::DeviceRefreshRoute>> {
    use rmm_sync::transport::temporal::{self, TemporalRefreshRoute};
    let settings = config.temporal.clone();
    let client = temporal::connect(&settings).await?;
    Ok(Arc::new(TemporalRefreshRoute::new(client, settings)))
}

#[cfg(not(feature = "temporal"))]
async fn temporal_route(
    _config: &crate::config::Config,
) -> anyhow::Result<Arc<dyn rmm_sync::service::DeviceRefreshRoute>> {
    Err(UsageError(
        "key `serve.transport`: \"temporal\" needs a binary built with the `temporal` feature (cargo build --features cli,temporal)".to_owned(),
    )
    .into())
}
