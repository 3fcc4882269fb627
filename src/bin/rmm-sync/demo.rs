//! `rmm-sync demo`: simulators → SQLite, a full sync, a changed fleet, a second sync.

use crate::{Cli, DemoArgs};

/// Runs the demo.
pub(crate) async fn run(cli: &Cli, args: &DemoArgs) -> anyhow::Result<u8> {
    let _ = (cli, args);
    anyhow::bail!("the demo needs the Tanium simulator and the SQLite store, which land with issues 3 and 4")
}
