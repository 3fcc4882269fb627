//! What long-running commands (`serve`, `simulate`) share: the port file tests wait for, and
//! stopping on SIGINT/SIGTERM.

use std::path::Path;

use anyhow::Context;

/// Writes `port` to a temporary file next to `path`, then renames it into place, so a reader
/// never sees a half-written number.
pub(crate) fn write_port_file(path: &Path, port: u16) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, format!("{port}\n"))?;
    std::fs::rename(&tmp, path)
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn wait_for_stop() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for SIGINT")?,
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    Ok(())
}
