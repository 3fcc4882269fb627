//! Temporal Schedules from each integration's [`SyncSchedule`] — the same `schedule` table
//! `serve` reads — applied idempotently.
//!
//! Per integration and per configured mode (full, incremental) one schedule,
//! id [`ids::schedule_id`]:
//!
//! - **spec**: an interval becomes an interval spec (Temporal counts intervals from the Unix
//!   epoch, not from the end of the last run as `serve` does); a cron expression becomes a
//!   cron string in UTC; the jitter is the spec's jitter ([`SyncSchedule::jitter_for`]).
//! - **action**: start [`INTEGRATION_SYNC_WORKFLOW`] by name on the configured task queue,
//!   workflow id [`ids::sync_workflow_id`], input [`SyncWorkflowInput`].
//! - **overlap**: skip — a tick while the integration's run is still going starts nothing
//!   (and the full and incremental schedules share one workflow id, so Temporal refuses to
//!   start one while the other runs).
//!
//! [`apply_schedules`] describes each schedule and compares a fingerprint of everything above
//! (kept in the schedule's note) with the desired one: absent → created, different → updated,
//! equal → unchanged; a mode no longer configured for a listed integration → deleted.

use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde::Serialize;
use temporalio_client::Client;
use temporalio_client::schedules::{
    CreateScheduleOptions, ScheduleAction, ScheduleDescription, ScheduleDescriptionAction,
    ScheduleError, ScheduleOverlapPolicy, ScheduleSpec,
};
use temporalio_client::tonic::Code;
use temporalio_common::data_converters::RawValue;
use temporalio_common::{HasWorkflowDefinition, WorkflowDefinition};

use super::ids::{self, ScheduleKind};
use super::{INTEGRATION_SYNC_WORKFLOW, SyncWorkflowInput, TemporalConfig};
use crate::error::{Error, ErrorKind, Result};
use crate::model::{IntegrationId, TenantId};
use crate::schedule::{Schedule, SyncSchedule};

/// One integration's schedules, as [`apply_schedules`] takes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledIntegration {
    /// The integration's name (the config's `id`), shown in listings and schedule notes.
    pub name: String,
    /// The tenant.
    pub tenant: TenantId,
    /// The integration.
    pub integration: IntegrationId,
    /// When its runs are due.
    pub schedule: SyncSchedule,
}

#[cfg(feature = "service")]
impl From<&crate::service::ServiceIntegration> for ScheduledIntegration {
    fn from(s: &crate::service::ServiceIntegration) -> Self {
        Self {
            name: s.name.clone(),
            tenant: s.tenant,
            integration: s.integration,
            schedule: s.schedule.clone(),
        }
    }
}

impl ScheduledIntegration {
    fn schedule_of(&self, kind: ScheduleKind) -> Option<&Schedule> {
        match kind {
            ScheduleKind::Full => self.schedule.full.as_ref(),
            ScheduleKind::Incremental => self.schedule.incremental.as_ref(),
        }
    }
}

/// What [`apply_schedules`] did, by schedule id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// Schedules that did not exist.
    pub created: Vec<String>,
    /// Schedules that existed with a different spec, action or policy.
    pub updated: Vec<String>,
    /// Schedules already as configured.
    pub unchanged: Vec<String>,
    /// Schedules of a mode the integration no longer schedules.
    pub deleted: Vec<String>,
}

/// One schedule as [`list_schedules`] found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScheduleInfo {
    /// The schedule id.
    pub schedule_id: String,
    /// The integration's name.
    pub integration: String,
    /// Full or incremental.
    pub mode: crate::sync::RunMode,
    /// The spec as applied (`every 10m, jitter 30s`), from the schedule's note; `None` for a
    /// schedule this crate did not write.
    pub spec: Option<String>,
    /// Whether it matches the configuration given (a re-apply would leave it unchanged).
    pub in_sync: bool,
    /// Paused (in the Temporal UI or CLI).
    pub paused: bool,
    /// The next times it will start a run (the server computes a handful).
    pub next_action_times: Vec<DateTime<Utc>>,
    /// Ticks skipped because a run was still going.
    pub overlap_skipped: i64,
    /// Runs started so far.
    pub action_count: i64,
}

/// Starts the integration run workflow by type name (the worker registers the real one).
struct IntegrationSyncByName;

impl WorkflowDefinition for IntegrationSyncByName {
    type Input = SyncWorkflowInput;
    type Output = RawValue;
    fn name(&self) -> &str {
        INTEGRATION_SYNC_WORKFLOW
    }
}

impl HasWorkflowDefinition for IntegrationSyncByName {
    type Run = Self;
}

/// Everything one schedule should be.
struct Desired {
    id: String,
    spec: ScheduleSpec,
    input: SyncWorkflowInput,
    workflow_id: String,
    task_queue: String,
    note: String,
}

impl Desired {
    fn new(
        config: &TemporalConfig,
        i: &ScheduledIntegration,
        kind: ScheduleKind,
        schedule: &Schedule,
    ) -> Self {
        let jitter = i.schedule.jitter_for(schedule);
        let mut spec = match schedule {
            Schedule::Every(every) => ScheduleSpec::from_interval(*every),
            Schedule::Cron(_) => ScheduleSpec::builder()
                .cron_strings(schedule.cron_pattern().into_iter().collect())
                .timezone_name("UTC")
                .build(),
        };
        spec.jitter = (jitter > Duration::ZERO).then_some(jitter);
        let input = SyncWorkflowInput::new(i.tenant, i.integration, kind.run_mode());
        let workflow_id = ids::sync_workflow_id(i.tenant, i.integration);
        let description = describe_spec(schedule, jitter);
        let fingerprint = xxhash_rust::xxh3::xxh3_64(
            format!(
                "v1|{spec:?}|{}|{workflow_id}|{}|{}|skip",
                INTEGRATION_SYNC_WORKFLOW,
                config.task_queue,
                serde_json::to_string(&input).unwrap_or_default()
            )
            .as_bytes(),
        );
        Self {
            id: ids::schedule_id(i.tenant, i.integration, kind),
            note: format!(
                "rmm-sync {} {}: {description} [config {fingerprint:016x}]",
                i.name,
                kind.as_str()
            ),
            spec,
            input,
            workflow_id,
            task_queue: config.task_queue.clone(),
        }
    }

    fn action(&self) -> ScheduleAction {
        ScheduleAction::start_workflow(
            IntegrationSyncByName,
            self.input.clone(),
            self.task_queue.clone(),
            self.workflow_id.clone(),
        )
    }

    fn matches(&self, d: &ScheduleDescription) -> bool {
        let ScheduleDescriptionAction::StartWorkflow(a) = d.action() else {
            return false;
        };
        d.note() == Some(self.note.as_str())
            && a.workflow_type() == INTEGRATION_SYNC_WORKFLOW
            && a.task_queue() == self.task_queue
            && a.workflow_id() == self.workflow_id
            && overlap_policy(d) == Some(ScheduleOverlapPolicy::Skip)
    }
}

/// `every 10m, jitter 30s` / `cron "0 3 * * *" (UTC), jitter 30s`.
fn describe_spec(schedule: &Schedule, jitter: Duration) -> String {
    format!(
        "{schedule}, jitter {}",
        humantime::format_duration(Duration::from_millis(
            u64::try_from(jitter.as_millis()).unwrap_or(u64::MAX)
        ))
    )
}

fn overlap_policy(d: &ScheduleDescription) -> Option<ScheduleOverlapPolicy> {
    let raw = d.raw().schedule.as_ref()?.policies.as_ref()?.overlap_policy;
    // 0 is "unspecified", which the server treats as skip.
    matches!(raw, 0 | 1).then_some(ScheduleOverlapPolicy::Skip)
}

/// Creates, updates or deletes the schedules of `integrations` so that each configured mode
/// has exactly one schedule as configured. Applying the same configuration twice reports
/// everything unchanged the second time.
pub async fn apply_schedules(
    client: &Client,
    config: &TemporalConfig,
    integrations: &[ScheduledIntegration],
) -> Result<ApplyReport> {
    let mut report = ApplyReport::default();
    for i in integrations {
        for kind in ScheduleKind::ALL {
            match i.schedule_of(kind) {
                Some(schedule) => {
                    let desired = Desired::new(config, i, kind, schedule);
                    apply_one(client, &desired, &mut report).await?;
                }
                None => {
                    let id = ids::schedule_id(i.tenant, i.integration, kind);
                    if delete_one(client, &id).await? {
                        report.deleted.push(id);
                    }
                }
            }
        }
    }
    Ok(report)
}

async fn apply_one(client: &Client, desired: &Desired, report: &mut ApplyReport) -> Result<()> {
    let handle = client.get_schedule_handle(desired.id.clone());
    // Twice at most: a concurrent apply may create the schedule between describe and create.
    for _ in 0..2 {
        match handle.describe(Default::default()).await {
            Ok(current) if desired.matches(&current) => {
                report.unchanged.push(desired.id.clone());
                return Ok(());
            }
            Ok(current) => {
                let mut update = current.into_update();
                update
                    .set_spec(desired.spec.clone())
                    .set_action(desired.action())
                    .set_overlap_policy(ScheduleOverlapPolicy::Skip)
                    .set_note(desired.note.clone());
                handle
                    .send_update(update, Default::default())
                    .await
                    .map_err(|e| schedule_error(e, &desired.id, "update"))?;
                report.updated.push(desired.id.clone());
                return Ok(());
            }
            Err(ScheduleError::Rpc(s)) if s.code() == Code::NotFound => {
                let options = CreateScheduleOptions::builder()
                    .action(desired.action())
                    .spec(desired.spec.clone())
                    .overlap_policy(ScheduleOverlapPolicy::Skip)
                    .note(desired.note.clone())
                    .build();
                match client.create_schedule(desired.id.clone(), options).await {
                    Ok(_) => {
                        report.created.push(desired.id.clone());
                        return Ok(());
                    }
                    Err(ScheduleError::Rpc(s)) if s.code() == Code::AlreadyExists => continue,
                    Err(e) => return Err(schedule_error(e, &desired.id, "create")),
                }
            }
            Err(e) => return Err(schedule_error(e, &desired.id, "describe")),
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        "the schedule was created and changed concurrently; apply again",
    )
    .with_context("schedule", &desired.id))
}

/// Deletes one schedule; `false` when it did not exist.
async fn delete_one(client: &Client, id: &str) -> Result<bool> {
    match client
        .get_schedule_handle(id)
        .delete(Default::default())
        .await
    {
        Ok(()) => Ok(true),
        Err(ScheduleError::Rpc(s)) if s.code() == Code::NotFound => Ok(false),
        Err(e) => Err(schedule_error(e, id, "delete")),
    }
}

/// Deletes every schedule of `integrations` (both modes); returns the ids that existed.
pub async fn delete_schedules(
    client: &Client,
    integrations: &[ScheduledIntegration],
) -> Result<Vec<String>> {
    let mut deleted = Vec::new();
    for i in integrations {
        for kind in ScheduleKind::ALL {
            let id = ids::schedule_id(i.tenant, i.integration, kind);
            if delete_one(client, &id).await? {
                deleted.push(id);
            }
        }
    }
    Ok(deleted)
}

/// The schedules of `integrations` that exist on the server (read by id, so a schedule just
/// created is listed at once), with their spec, state and next start times, compared with the
/// configuration given.
pub async fn list_schedules(
    client: &Client,
    config: &TemporalConfig,
    integrations: &[ScheduledIntegration],
) -> Result<Vec<ScheduleInfo>> {
    let mut out = Vec::new();
    for i in integrations {
        for kind in ScheduleKind::ALL {
            let id = ids::schedule_id(i.tenant, i.integration, kind);
            let d = match client
                .get_schedule_handle(id.clone())
                .describe(Default::default())
                .await
            {
                Ok(d) => d,
                Err(ScheduleError::Rpc(s)) if s.code() == Code::NotFound => continue,
                Err(e) => return Err(schedule_error(e, &id, "describe")),
            };
            let in_sync = i
                .schedule_of(kind)
                .is_some_and(|s| Desired::new(config, i, kind, s).matches(&d));
            let spec = d
                .note()
                .and_then(|n| n.split_once(": "))
                .and_then(|(_, rest)| rest.rsplit_once(" [config "))
                .map(|(spec, _)| spec.to_owned());
            out.push(ScheduleInfo {
                schedule_id: id,
                integration: i.name.clone(),
                mode: kind.run_mode(),
                spec,
                in_sync,
                paused: d.paused(),
                next_action_times: d.future_action_times().into_iter().map(utc).collect(),
                overlap_skipped: d.overlap_skipped(),
                action_count: d.action_count(),
            });
        }
    }
    Ok(out)
}

fn utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// Our error for a failed schedule call, by gRPC status.
fn schedule_error(e: ScheduleError, id: &str, operation: &'static str) -> Error {
    let kind = match &e {
        ScheduleError::Rpc(s) => match s.code() {
            Code::Unavailable => ErrorKind::Unavailable,
            Code::DeadlineExceeded => ErrorKind::Timeout,
            Code::NotFound => ErrorKind::NotFound,
            Code::InvalidArgument => ErrorKind::InvalidConfig,
            Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => ErrorKind::Conflict,
            Code::Unauthenticated => ErrorKind::Unauthorized,
            Code::PermissionDenied => ErrorKind::Forbidden,
            Code::ResourceExhausted => ErrorKind::RateLimited,
            _ => ErrorKind::Other,
        },
        ScheduleError::PayloadConversion(_) => ErrorKind::Decode,
        _ => ErrorKind::Other,
    };
    let message = match &e {
        ScheduleError::Rpc(s) => format!(
            "Temporal refused to {operation} the schedule: {}",
            s.message()
        ),
        other => format!("cannot {operation} the schedule: {other}"),
    };
    Error::new(kind, message)
        .with_context("schedule", id)
        .with_context("operation", operation)
}
