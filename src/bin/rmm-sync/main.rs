//! `rmm-sync`: run device syncs from a config file, map scopes, show status, or try it all with
//! `rmm-sync demo` (simulators and an embedded SQLite database, no setup).

mod commands;
mod config;
mod demo;
mod exit;
mod output;
mod process;
mod progress;
mod serve;
mod simulate;
#[cfg(feature = "temporal")]
mod temporal;
mod wiring;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Sync device inventory from RMM products into an asset store.
#[derive(Debug, Parser)]
#[command(name = "rmm-sync", version, about)]
pub(crate) struct Cli {
    /// Config file (TOML).
    #[arg(long, global = true, default_value = "rmm-sync.toml")]
    pub(crate) config: PathBuf,
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logs (-v info, -vv debug), on stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Print nothing but errors (and JSON when asked for).
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Start the simulators, sync them into SQLite, change the fleets, sync again.
    Demo(DemoArgs),
    /// Test the connection and credentials of each integration.
    Check(IntegrationArg),
    /// Scope (organization, site, group) commands.
    #[command(subcommand)]
    Scopes(ScopesCommand),
    /// Sync devices.
    Sync(SyncArgs),
    /// Show each integration's sync status.
    Status,
    /// Device commands.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Run continuously: scheduled syncs, webhooks, /healthz, /readyz, /metrics.
    Serve(serve::ServeArgs),
    /// Run one provider simulator as its own process (for tests and benchmarks).
    Simulate(simulate::SimulateArgs),
    /// Temporal transport: schedules (built with the `temporal` feature).
    #[cfg(feature = "temporal")]
    Temporal(temporal::TemporalArgs),
    /// Present without the `temporal` feature only to say so.
    #[cfg(not(feature = "temporal"))]
    #[command(hide = true)]
    Temporal {
        /// Ignored.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct IntegrationArg {
    /// Only this integration (its `id` in the config).
    #[arg(long)]
    pub(crate) integration: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Devices per simulated provider.
    #[arg(long, default_value_t = 2000)]
    pub(crate) devices: u64,
    /// SQLite database file (replaced if it exists).
    #[arg(long, default_value = "rmm-sync-demo.db")]
    pub(crate) db: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScopesCommand {
    /// Fetch scopes from the providers into the store.
    Sync(IntegrationArg),
    /// List scopes and their client mappings.
    List(IntegrationArg),
    /// Map a scope to a client, unmap it, or map every scope automatically.
    Map(MapArgs),
}

#[derive(Debug, Args)]
pub(crate) struct MapArgs {
    /// The integration.
    #[arg(long)]
    pub(crate) integration: String,
    /// The scope's external id (required unless --auto).
    #[arg(long)]
    pub(crate) scope: Option<String>,
    /// The client UUID to map to.
    #[arg(long, conflicts_with_all = ["unmap", "auto"])]
    pub(crate) client: Option<String>,
    /// Remove the mapping.
    #[arg(long, conflicts_with = "auto")]
    pub(crate) unmap: bool,
    /// Map to a deterministic client UUID per scope (all scopes unless --scope).
    #[arg(long)]
    pub(crate) auto: bool,
}

#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// Only this integration.
    #[arg(long)]
    pub(crate) integration: Option<String>,
    /// Full run: list everything, sweep devices that are gone (default).
    #[arg(long, conflicts_with = "incremental")]
    pub(crate) full: bool,
    /// Incremental run: provider deltas where the API has them.
    #[arg(long)]
    pub(crate) incremental: bool,
    /// Show what would change; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Where the run executes: in this process (default), or as a Temporal workflow on the
    /// workers of the `[temporal]` task queue (needs the `temporal` feature); either way this
    /// command waits and prints the same report and exit code.
    #[arg(long, value_enum, default_value_t = Via::Direct)]
    pub(crate) via: Via,
}

/// Where `sync` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Via {
    /// In this process.
    Direct,
    /// As a Temporal workflow (`rmm-sync temporal worker` executes it).
    Temporal,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DevicesCommand {
    /// List synced devices.
    List(IntegrationArg),
}

fn main() -> ExitCode {
    restore_sigpipe();
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::USAGE);
        }
    };
    match runtime.block_on(commands::dispatch(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            let code = exit::code_for(&err);
            if cli.json {
                let body = serde_json::json!({
                    "error": format!("{err:#}"),
                    "kind": exit::kind_of(&err).map(|k| k.as_str()),
                    "exit_code": code,
                });
                println!("{body}");
            }
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}

/// `rmm-sync devices list | head` ends quietly, like any Unix tool, instead of panicking on a
/// closed pipe: Rust ignores SIGPIPE by default, which turns every later print into a panic.
fn restore_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any thread exists; SIG_DFL is a valid
    // disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn init_logging(cli: &Cli) {
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        _ => "debug",
    };
    // A service logs one line per run by default (the service layer's info lines).
    let service = match (&cli.command, cli.quiet, cli.verbose) {
        (Command::Serve(_), false, 0) => ",rmm_sync::service=info,rmm_sync::serve=info",
        _ => "",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("RMM_SYNC_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!(
            "rmm_sync={level},rmm_sync_cli={level}{service}"
        ))
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
