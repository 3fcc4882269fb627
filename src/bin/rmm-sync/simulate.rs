//! `rmm-sync simulate <provider>`: one provider simulator as its own process, until SIGINT or
//! SIGTERM. It prints its URL and a config snippet to sync it, and serves the control API
//! (`/_sim/mutate`, `/_sim/fault`, `/_sim/stats`) for tests and benchmarks that run the real CLI
//! against it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rmm_sync::testkit::tanium::{SimConfig, TaniumGatewaySim};
use rmm_sync::testkit::{NinjaOneSim, SimFleet, TacticalSim, ninjaone::SIM_CLIENT_ID};

use crate::Cli;
use crate::exit::UsageError;

/// The variable the printed config snippet reads the simulator's token from.
pub(crate) const TOKEN_VAR: &str = "RMM_SYNC_SIM_TOKEN";

/// Which simulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum SimProvider {
    /// The Tanium API Gateway (GraphQL).
    Tanium,
    /// NinjaOne v2 (OAuth client credentials).
    Ninjaone,
    /// Tactical RMM (API key).
    Tacticalrmm,
}

impl SimProvider {
    fn slug(self) -> &'static str {
        match self {
            SimProvider::Tanium => "tanium",
            SimProvider::Ninjaone => "ninjaone",
            SimProvider::Tacticalrmm => "tacticalrmm",
        }
    }
}

/// A token given on the command line: never shown by `Debug`.
#[derive(Clone)]
pub(crate) struct SimToken(String);

impl std::fmt::Debug for SimToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimToken(<redacted>)")
    }
}

impl std::str::FromStr for SimToken {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim().is_empty() {
            return Err("the token is empty".into());
        }
        Ok(SimToken(s.to_owned()))
    }
}

/// `rmm-sync simulate` arguments.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The provider to simulate.
    #[arg(value_enum)]
    pub(crate) provider: SimProvider,
    /// Devices in the generated fleet.
    #[arg(long, default_value_t = 1000)]
    pub(crate) devices: u64,
    /// Scopes (Tanium groups, Tactical clients, NinjaOne organizations); default grows with
    /// --devices.
    #[arg(long)]
    pub(crate) scopes: Option<u64>,
    /// Address to listen on. Loopback by default; the simulator (and its control API) has no
    /// protection worth the name, so give another address only on a network you trust.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub(crate) listen: SocketAddr,
    /// Write the bound port to this file (atomically, once listening): start with the default
    /// port 0 and read the file, with no race for a free port.
    #[arg(long)]
    pub(crate) port_file: Option<PathBuf>,
    /// The token the simulator accepts (Tanium API token, Tactical API key, NinjaOne client
    /// secret). Default: a random one, printed. Also read from RMM_SYNC_SIM_TOKEN.
    #[arg(long, env = TOKEN_VAR, hide_env_values = true)]
    pub(crate) token: Option<SimToken>,
    /// Seed of the generated fleet: the same seed gives the same fleet.
    #[arg(long, default_value_t = 2026)]
    pub(crate) seed: u64,
}

/// A running simulator of any provider, kept alive until the process is told to stop.
enum Running {
    Tanium(TaniumGatewaySim),
    Ninjaone(NinjaOneSim),
    Tactical(TacticalSim),
}

impl Running {
    fn url(&self) -> String {
        match self {
            Running::Tanium(s) => s.url(),
            Running::Ninjaone(s) => s.url(),
            Running::Tactical(s) => s.url().trim_end_matches('/').to_owned(),
        }
    }
}

/// Runs a simulator until SIGINT or SIGTERM; exit code 0 then.
pub(crate) async fn run(cli: &Cli, args: &SimulateArgs) -> anyhow::Result<u8> {
    let (token, generated) = match &args.token {
        Some(t) => (t.0.clone(), false),
        None => (format!("sim-{}", uuid::Uuid::new_v4().simple()), true),
    };
    if !args.listen.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, not loopback: anyone who can reach it can read the fleet and drive the control API",
            args.listen
        );
    }
    let scopes = args.scopes.unwrap_or(match args.provider {
        SimProvider::Tanium => (args.devices / 200).clamp(4, 50),
        SimProvider::Ninjaone | SimProvider::Tacticalrmm => (args.devices / 250).clamp(3, 40),
    });
    // Every way of failing to start (address in use, not allowed) is the caller's to fix.
    let running = start(args, scopes, &token).await.map_err(|e| {
        UsageError(format!(
            "cannot start the {} simulator on {}: {e:#}",
            args.provider.slug(),
            args.listen
        ))
    })?;
    let url = running.url();
    let port = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    if let Some(path) = &args.port_file {
        crate::process::write_port_file(path, port).map_err(|e| {
            UsageError(format!(
                "cannot write the port file {}: {e}",
                path.display()
            ))
        })?;
    }
    let snippet = config_snippet(args.provider, &url);
    if cli.json {
        let doc = serde_json::json!({
            "provider": args.provider.slug(),
            "url": url,
            "port": port,
            "devices": args.devices,
            "scopes": scopes,
            "token_env": TOKEN_VAR,
            "config": snippet,
        });
        println!("{doc}");
    } else if !cli.quiet {
        println!(
            "{} simulator: {} devices in {scopes} scopes at {url}\ncontrol API (no authentication): {url}/_sim/mutate, {url}/_sim/fault, {url}/_sim/stats\n\n# config snippet (append to your rmm-sync.toml, or use as one)\n{snippet}",
            args.provider.slug(),
            args.devices,
        );
        if generated {
            println!("# the simulator's generated token:\nexport {TOKEN_VAR}={token}\n");
        } else {
            println!("# set {TOKEN_VAR} to the token given with --token\n");
        }
        println!(
            "# then: rmm-sync scopes sync && rmm-sync scopes map --integration {id} --auto && rmm-sync sync\n# stop with Ctrl-C or SIGTERM",
            id = integration_id(args.provider)
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    crate::process::wait_for_stop().await?;
    drop(running);
    if let Some(path) = &args.port_file {
        let _ = std::fs::remove_file(path);
    }
    if !cli.quiet && !cli.json {
        eprintln!("simulator stopped");
    }
    Ok(0)
}

async fn start(args: &SimulateArgs, scopes: u64, token: &str) -> anyhow::Result<Running> {
    Ok(match args.provider {
        SimProvider::Tanium => {
            let mut config = SimConfig::new(args.devices, scopes, args.seed);
            config.token = token.to_owned();
            Running::Tanium(TaniumGatewaySim::start_on(config, args.listen).await?)
        }
        SimProvider::Tacticalrmm => Running::Tactical(
            TacticalSim::builder()
                .agents(args.devices)
                .clients(scopes)
                .seed(args.seed)
                .api_key(token)
                .listen(args.listen)
                .try_start()
                .await?,
        ),
        SimProvider::Ninjaone => {
            let devices = u32::try_from(args.devices)
                .map_err(|_| UsageError("--devices: at most 4294967295 for NinjaOne".into()))?;
            let organizations = u32::try_from(scopes)
                .map_err(|_| UsageError("--scopes: too many for NinjaOne".into()))?;
            let sim = NinjaOneSim::with_fleet_on(
                SimFleet::new(devices, organizations, args.seed),
                args.listen,
            )
            .await?;
            sim.set_client_secret(token);
            Running::Ninjaone(sim)
        }
    })
}

fn integration_id(provider: SimProvider) -> String {
    format!("{}-sim", provider.slug())
}

/// The `[[integrations]]` table (with a store line) that syncs this simulator; the token is
/// read from [`TOKEN_VAR`], never written.
fn config_snippet(provider: SimProvider, url: &str) -> String {
    let extra = match provider {
        SimProvider::Ninjaone => format!("client_id = {SIM_CLIENT_ID:?}\n"),
        SimProvider::Tanium | SimProvider::Tacticalrmm => String::new(),
    };
    format!(
        "store = \"sqlite://./rmm-sync-sim.db\"\n\n[[integrations]]\nid = {id:?}\nprovider = {slug:?}\nurl = {url:?}\ntoken_env = {TOKEN_VAR:?}\n{extra}",
        id = integration_id(provider),
        slug = provider.slug(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_names_the_variable_not_the_token() {
        let text = config_snippet(SimProvider::Ninjaone, "http://127.0.0.1:4000");
        assert!(
            text.contains("token_env = \"RMM_SYNC_SIM_TOKEN\""),
            "{text}"
        );
        assert!(text.contains("client_id = \"sim-client\""), "{text}");
        assert!(text.contains("provider = \"ninjaone\""), "{text}");
        crate::config::Config::parse(&text).expect("the snippet is a valid config");
    }

    #[test]
    fn token_debug_is_redacted() {
        let t: SimToken = "s3cret-value".parse().unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
        assert!("  ".parse::<SimToken>().is_err());
    }
}
