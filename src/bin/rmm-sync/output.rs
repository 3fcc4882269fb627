//! What the commands print: one JSON document with `--json`, aligned text otherwise.

use rmm_sync::model::OutcomeCounts;
use rmm_sync::sync::{RunPlan, RunReport, RunStatus};
use serde::Serialize;

/// The JSON shape of one sync report.
#[derive(Debug, Serialize)]
pub(crate) struct SyncReportJson<'a> {
    pub(crate) integration: &'a str,
    pub(crate) provider: String,
    pub(crate) mode: &'static str,
    pub(crate) status: &'static str,
    pub(crate) dry_run: bool,
    pub(crate) started_at: chrono::DateTime<chrono::Utc>,
    pub(crate) finished_at: chrono::DateTime<chrono::Utc>,
    pub(crate) counts: &'a OutcomeCounts,
    pub(crate) skipped_reasons: &'a std::collections::BTreeMap<String, u64>,
    pub(crate) errors: Vec<ErrorJson>,
    pub(crate) errors_truncated: u64,
    pub(crate) held_back_sweeps: &'a [rmm_sync::sync::HeldBackSweep],
    pub(crate) scopes_incomplete: Vec<String>,
    pub(crate) agent_status_changes: u64,
    pub(crate) rekeyed: u64,
    pub(crate) fell_back_to_full: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) plan: Option<&'a RunPlan>,
}

/// One error in a report.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorJson {
    pub(crate) device: Option<String>,
    pub(crate) kind: String,
    pub(crate) message: String,
}

pub(crate) fn status_name(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Completed => "completed",
        RunStatus::CompletedWithErrors => "completed_with_errors",
        RunStatus::Failed => "failed",
        RunStatus::Cancelled => "cancelled",
    }
}

impl<'a> SyncReportJson<'a> {
    pub(crate) fn new(name: &'a str, r: &'a RunReport, dry_run: bool) -> Self {
        Self {
            integration: name,
            provider: r.provider.to_string(),
            mode: r.mode.as_str(),
            status: status_name(r.status),
            dry_run,
            started_at: r.started_at,
            finished_at: r.finished_at,
            counts: &r.counts,
            skipped_reasons: &r.skipped_reasons,
            errors: r
                .errors
                .iter()
                .map(|e| ErrorJson {
                    device: e.device.as_ref().map(ToString::to_string),
                    kind: e.kind.to_string(),
                    message: e.message.clone(),
                })
                .collect(),
            errors_truncated: r.errors_truncated,
            held_back_sweeps: &r.held_back_sweeps,
            scopes_incomplete: r
                .scopes_incomplete
                .iter()
                .map(ToString::to_string)
                .collect(),
            agent_status_changes: r.agent_status_changes,
            rekeyed: r.rekeyed,
            fell_back_to_full: r.fell_back_to_full,
            plan: r.plan.as_ref(),
        }
    }
}

/// Prints a report as text.
pub(crate) fn print_report(name: &str, r: &RunReport) {
    let c = &r.counts;
    let secs = (r.finished_at - r.started_at).num_milliseconds().max(1) as f64 / 1000.0;
    let dry = if r.plan.is_some() {
        " (dry run: nothing written)"
    } else {
        ""
    };
    println!(
        "{name}: {} sync {}{dry} in {secs:.2}s — {} devices ({:.0}/s)",
        r.mode.as_str(),
        status_name(r.status),
        c.seen,
        c.seen as f64 / secs
    );
    println!(
        "  created {}  updated {}  unchanged {}  moved {}  tombstoned {}  restored {}  skipped {}  ambiguous {}  failed {}",
        c.created,
        c.updated,
        c.unchanged,
        c.moved,
        c.tombstoned,
        c.restored,
        c.skipped,
        c.ambiguous,
        c.failed
    );
    for (reason, n) in &r.skipped_reasons {
        let hint = match reason.as_str() {
            "unmapped_scope" => " (map scopes with `rmm-sync scopes map`)",
            "scope_sync_disabled" => " (asset sync is off for those scopes)",
            _ => "",
        };
        println!("  skipped {n} × {reason}{hint}");
    }
    if r.rekeyed > 0 {
        println!("  re-keyed by identity change: {}", r.rekeyed);
    }
    if r.agent_status_changes > 0 {
        println!("  agent status aged: {}", r.agent_status_changes);
    }
    for h in &r.held_back_sweeps {
        println!(
            "  sweep held back in scope {}: would tombstone {} of {} devices (circuit breaker)",
            h.scope, h.would_tombstone, h.known
        );
    }
    for s in &r.scopes_incomplete {
        println!("  scope {s}: listing incomplete, nothing swept");
    }
    for e in &r.errors {
        println!("  error: {e}");
    }
    if r.errors_truncated > 0 {
        println!("  … {} more errors", r.errors_truncated);
    }
    if let Some(plan) = &r.plan {
        for (what, ids) in [
            ("create", &plan.created),
            ("update", &plan.updated),
            ("move", &plan.moved),
            ("tombstone", &plan.tombstoned),
        ] {
            if !ids.is_empty() {
                let shown: Vec<&str> = ids.iter().take(10).map(|i| i.as_str()).collect();
                let more = if ids.len() > 10 {
                    format!(" … (+{})", ids.len() - 10)
                } else {
                    String::new()
                };
                println!("  would {what}: {}{more}", shown.join(", "));
            }
        }
    }
}

/// Prints rows as an aligned table.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row.clone());
    }
}

/// Prints a JSON document.
pub(crate) fn json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
