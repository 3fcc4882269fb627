//! A progress bar on a terminal, nothing on pipes.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use rmm_sync::sync::{ProgressFn, SyncEvent};

/// A progress callback drawing a bar for one integration, or `None` when output is not a
/// terminal (or `--quiet` / `--json`).
pub(crate) fn bar(label: &str, enabled: bool) -> Option<(ProgressFn, ProgressBar)> {
    if !enabled || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new(0);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} devices {per_sec} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(label.to_owned());
    let totals = Arc::new(Mutex::new(std::collections::HashMap::new()));
    let bar = pb.clone();
    let f: ProgressFn = Arc::new(move |event: &SyncEvent| match event {
        SyncEvent::PageIngested {
            scope,
            devices,
            total,
            ..
        } => {
            if let Some(t) = total {
                let mut totals = totals.lock().unwrap_or_else(|p| p.into_inner());
                if totals.insert(scope.clone(), *t).is_none() {
                    bar.inc_length(*t);
                }
            }
            bar.inc(*devices as u64);
        }
        SyncEvent::ScopeStarted { scope: Some(s) } => bar.set_message(s.to_string()),
        SyncEvent::RunFinished { .. } => bar.finish_and_clear(),
        _ => {}
    });
    Some((f, pb))
}
