//! `IntegrationSyncWorkflow`: one run of one integration as Temporal activities — begin, pages
//! in groups, finish — with the run's tally in workflow state, continue-as-new before the
//! history grows large, and cancellation that still finishes the run (status `cancelled`,
//! lease released).
//!
//! Workflow code must be deterministic: it only merges tallies and decides which activity runs
//! next. Time and the run id come from the workflow's own (replayed) values.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use temporalio_common::error::IncomingError;
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{
    ActivityCancellationType, ActivityCloseTimeouts, ActivityExecutionError, ActivityOptions,
    ContinueAsNewOptions, WorkflowCancellationToken, WorkflowContext, WorkflowResult,
};

use temporalio_workflow::common::WorkflowDefinition;
use temporalio_workflow::workflows::WorkflowImplementation;

use super::activities::{BeginOutcome, FinishInput, PagesInput, PagesOutcome, SyncActivities};
use super::input::SyncWorkflowInput;
use super::retry::{default_retry_policy, finish_retry_policy};
use crate::error::{Error, ErrorKind};
use crate::model::RunId;
use crate::provider::Cursor;
use crate::sync::{Listing, PageTask, RunReport, RunTally, RunTicket, StepsEnded};

/// Pages one `list_pages` activity takes, across as many listings as they span, before
/// returning to the workflow. Each activity costs a few history events and two round trips to
/// the server (tens of milliseconds), so fewer is faster; a lost worker costs only the pages
/// since the activity's last heartbeat (it heartbeats its progress after each page, and the
/// SDK sends heartbeats at least every 16 s), not the whole group.
pub const PAGES_PER_ACTIVITY: u32 = 50;

/// Pages after which the workflow continues as new, carrying its state: keeps the history of
/// one execution small (about 6 events per activity, 50 activities) whatever the fleet size.
/// [`SyncWorkflowInput::pages_per_execution`] overrides it.
pub const PAGES_PER_EXECUTION: u64 = 500;

/// Errors a report keeps when a continuation from an older worker does not say.
const DEFAULT_MAX_REPORT_ERRORS: usize = 100;

fn default_max_report_errors() -> usize {
    DEFAULT_MAX_REPORT_ERRORS
}

/// Where a run stands between two executions (continue-as-new) of its workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Continuation {
    /// The run.
    pub ticket: RunTicket,
    /// Its findings so far.
    pub tally: RunTally,
    /// Listings still to run (the first is the current one).
    pub listings: Vec<Listing>,
    /// The current listing's cursor (`None`: its first page).
    pub cursor: Option<Cursor>,
    /// The next page's chunk number.
    pub chunk: u64,
    /// Errors the report keeps (from the worker that began the run).
    #[serde(default = "default_max_report_errors")]
    pub max_report_errors: usize,
}

/// The result of a sync workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum SyncWorkflowOutcome {
    /// The run ran (completed, with errors, failed or cancelled: see the report's status).
    Finished(Box<RunReport>),
    /// The run did not start (lease held by another run, unknown or inactive integration).
    Refused {
        /// The error class.
        kind: ErrorKind,
        /// What was wrong.
        message: String,
    },
}

/// One run of one integration (see the module docs). Its workflow id is
/// [`super::ids::sync_workflow_id`], so at most one runs per integration in a namespace.
#[workflow]
#[derive(Debug, Default)]
pub struct IntegrationSyncWorkflow;

#[workflow_methods]
impl IntegrationSyncWorkflow {
    /// Runs the steps.
    // Workflow code runs on the SDK's single-threaded workflow executor: its context is not
    // `Send`, by design.
    #[allow(clippy::future_not_send)]
    #[run]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: SyncWorkflowInput,
    ) -> WorkflowResult<SyncWorkflowOutcome> {
        execute_steps(ctx, input, Steps::CAN_CONTINUE).await
    }
}

/// How [`execute_steps`] runs in its workflow.
#[derive(Clone, Copy, Debug)]
pub(super) struct Steps {
    /// Which run of the workflow execution this is (0 for the first): part of the run id, so
    /// each run a workflow execution makes is recorded as its own.
    pub(super) seq: u32,
    /// Whether the steps may continue the workflow as new (only where the workflow's run
    /// resumes from [`SyncWorkflowInput::resume`]).
    pub(super) continue_as_new: bool,
}

impl Steps {
    const CAN_CONTINUE: Steps = Steps {
        seq: 0,
        continue_as_new: true,
    };
}

/// The steps of one run, in the workflow `W` (the integration run, or a device refresh: both
/// take a [`SyncWorkflowInput`], so both can continue as new with it).
#[allow(clippy::future_not_send)] // workflow code: single-threaded by design
pub(super) async fn execute_steps<W>(
    ctx: &mut WorkflowContext<W>,
    input: SyncWorkflowInput,
    how: Steps,
) -> WorkflowResult<SyncWorkflowOutcome>
where
    W: WorkflowImplementation,
    W::Run: WorkflowDefinition<Input = SyncWorkflowInput>,
{
    {
        let mut state = match input.resume.clone() {
            Some(c) => *c,
            None => {
                let ticket = ticket_for(ctx, &input, how.seq);
                // Not cancellable: a begin cut short could hold the lease with nobody left to
                // release it. A cancellation that arrives meanwhile is seen right after.
                let begun = ctx
                    .execute_activity(SyncActivities::begin, ticket.clone(), shielded_options())
                    .await;
                match begun {
                    Ok(BeginOutcome::Begun {
                        run,
                        max_report_errors,
                    }) => {
                        if let Some(report) = run.finished {
                            return Ok(SyncWorkflowOutcome::Finished(report));
                        }
                        Continuation {
                            ticket,
                            tally: run.tally,
                            listings: run.listings,
                            cursor: None,
                            chunk: 0,
                            max_report_errors,
                        }
                    }
                    Ok(BeginOutcome::Refused { kind, message }) => {
                        return Ok(SyncWorkflowOutcome::Refused { kind, message });
                    }
                    Err(e) => {
                        // Retries ran out before the lease was (surely) taken: nothing to
                        // finish beyond what the lease TTL frees.
                        let (kind, message) = failure_of(&e);
                        return Ok(SyncWorkflowOutcome::Refused { kind, message });
                    }
                }
            }
        };
        let mut pages_here = 0u64;
        let pages_per_execution = input
            .pages_per_execution
            .unwrap_or(PAGES_PER_EXECUTION)
            .max(1);
        let max_errors = state.max_report_errors;
        let ended = loop {
            let Some(listing) = state.listings.first().cloned() else {
                break StepsEnded::Listed;
            };
            if ctx.cancellation_token().is_cancelled() {
                break StepsEnded::Cancelled;
            }
            if how.continue_as_new
                && (pages_here >= pages_per_execution || ctx.continue_as_new_suggested())
            {
                let next = SyncWorkflowInput {
                    resume: Some(Box::new(state)),
                    ..input
                };
                ctx.continue_as_new(next, ContinueAsNewOptions::default())?;
                unreachable!("continue_as_new always returns Err");
            }
            // Never past this execution's page budget (when the steps may continue as new).
            let max_pages = if how.continue_as_new {
                let left = pages_per_execution.saturating_sub(pages_here).max(1);
                u32::try_from(left).map_or(PAGES_PER_ACTIVITY, |l| l.min(PAGES_PER_ACTIVITY))
            } else {
                PAGES_PER_ACTIVITY
            };
            let pages = PagesInput {
                ticket: state.ticket.clone(),
                task: PageTask {
                    listing: listing.clone(),
                    cursor: state.cursor.clone(),
                    chunk: state.chunk,
                },
                // Each listing takes a page at least: more than the budget cannot be reached.
                then: state.listings[1..]
                    .iter()
                    .take(max_pages as usize)
                    .cloned()
                    .collect(),
                max_pages,
            };
            let outcome = ctx
                .execute_activity(SyncActivities::list_pages, pages, pages_options())
                .await;
            match outcome {
                Ok(PagesOutcome::Pages {
                    delta,
                    listings_done,
                    next,
                    next_chunk,
                }) => {
                    pages_here += next_chunk.saturating_sub(state.chunk);
                    merge(&mut state.tally, delta, max_errors);
                    state.chunk = next_chunk;
                    skip_listings(&mut state, listings_done);
                    state.cursor = next;
                }
                Ok(PagesOutcome::GaveUp {
                    delta,
                    listings_done,
                    next_chunk,
                    kind,
                    message,
                }) => {
                    pages_here += next_chunk.saturating_sub(state.chunk);
                    merge(&mut state.tally, delta, max_errors);
                    skip_listings(&mut state, listings_done);
                    let Some(stopped) = state.listings.first().cloned() else {
                        break StepsEnded::Listed;
                    };
                    let failed = state
                        .tally
                        .listing_failed(&stopped, &Error::new(kind, message));
                    state.tally.merge(failed, max_errors);
                    state.chunk = next_chunk;
                    next_listing(&mut state);
                }
                Ok(PagesOutcome::UnusableWindow { delta, next_chunk }) => {
                    merge(&mut state.tally, delta, max_errors);
                    state.chunk = next_chunk;
                    // Short, and its plan is needed to finish consistently: not cancellable.
                    let replanned = ctx
                        .execute_activity(
                            SyncActivities::replan,
                            state.ticket.clone(),
                            shielded_options(),
                        )
                        .await;
                    match replanned {
                        Ok(replanned) => {
                            state.tally.merge(replanned.tally, max_errors);
                            state.listings = replanned.listings;
                            state.cursor = None;
                        }
                        Err(e) => break failed_with(&e),
                    }
                }
                Ok(PagesOutcome::Fatal { delta, ended }) => {
                    merge(&mut state.tally, delta, max_errors);
                    break ended;
                }
                Err(ActivityExecutionError::Cancelled(_)) => break StepsEnded::Cancelled,
                Err(e) => {
                    // The activity's retries ran out on an error it returned as retryable.
                    let (kind, message) = failure_of(&e);
                    let failed = state
                        .tally
                        .listing_failed(&listing, &Error::new(kind, message));
                    state.tally.merge(failed, max_errors);
                    // Its attempts may have written seen chunks up to its page budget: the
                    // next listing starts after them rather than replacing them.
                    state.chunk += u64::from(max_pages);
                    next_listing(&mut state);
                }
            }
        };
        // Finishing must happen even when the workflow is being cancelled: it records the
        // status and releases the lease.
        let finish = FinishInput {
            ticket: state.ticket.clone(),
            tally: state.tally,
            ended,
        };
        let report = ctx
            .execute_activity(SyncActivities::finish, finish, finish_options())
            .await?;
        Ok(SyncWorkflowOutcome::Finished(Box::new(report)))
    }
}

/// The run's ticket, from the workflow's own replayed values: Temporal's run id (a UUID) as our
/// run id, the workflow's clock as the start, the workflow id as the lease holder (stable
/// across retries and workers).
fn ticket_for<W>(ctx: &WorkflowContext<W>, input: &SyncWorkflowInput, seq: u32) -> RunTicket {
    let info = ctx.info();
    let temporal_run = info.run_id().parse::<uuid::Uuid>().unwrap_or_else(|_| {
        uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, info.run_id().as_bytes())
    });
    // Later runs of one execution (device refreshes): derived, so a replay derives the same.
    let run_id = match seq {
        0 => temporal_run,
        n => uuid::Uuid::new_v5(&temporal_run, &n.to_be_bytes()),
    };
    let started = ctx
        .workflow_time()
        .map(chrono::DateTime::<chrono::Utc>::from)
        .unwrap_or_default();
    let started =
        chrono::DateTime::from_timestamp_micros(started.timestamp_micros()).unwrap_or(started);
    RunTicket {
        tenant: input.tenant,
        integration: input.integration,
        run_id: RunId::from_uuid(run_id),
        mode: input.mode,
        device: input.device.clone(),
        dry_run: input.dry_run,
        started_at: started,
        holder: info.workflow_id().to_owned(),
    }
}

// Every step is retried per `default_retry_policy` (errors our kinds say are permanent are not
// retried) and heartbeats (a lost worker is noticed within the heartbeat timeout and the step
// retried elsewhere). Steps differ in how a cancellation of the workflow reaches them.

/// `list_pages`: a cancellation waits for the activity's answer (it stops after its current
/// page and hands back what it found), so `finish` never runs while a page is still being
/// written and the report counts every page that was.
fn pages_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(STEP_TIMEOUT)
        .heartbeat_timeout(super::activities::HEARTBEAT_EVERY * 4)
        .retry_policy(default_retry_policy())
        .cancellation_type(ActivityCancellationType::WaitCancellationCompleted)
        .build()
}

/// `begin`, `replan` (and `finish`, see [`finish_options`]): with a token of their own instead
/// of the workflow's, so a cancellation never cuts them short: a cancelled workflow still takes or
/// releases the lease consistently and records its run's status.
fn shielded_options() -> ActivityOptions {
    ActivityOptions::with_start_to_close_timeout(STEP_TIMEOUT)
        .heartbeat_timeout(super::activities::HEARTBEAT_EVERY * 4)
        .retry_policy(default_retry_policy())
        .cancellation_token(WorkflowCancellationToken::new())
        .build()
}

/// `finish`: shielded as [`shielded_options`], and retried for up to [`FINISH_BUDGET`] rather
/// than 8 attempts (about 2 minutes): through a long store outage the run still gets recorded
/// and its lease released once the store is back.
fn finish_options() -> ActivityOptions {
    ActivityOptions::with_close_timeouts(ActivityCloseTimeouts::ScheduleAndStartToClose {
        schedule_to_close: FINISH_BUDGET,
        start_to_close: STEP_TIMEOUT,
    })
    .heartbeat_timeout(super::activities::HEARTBEAT_EVERY * 4)
    .retry_policy(finish_retry_policy())
    .cancellation_token(WorkflowCancellationToken::new())
    .build()
}

/// How long `finish` is retried before the workflow fails without recording the run.
const FINISH_BUDGET: Duration = Duration::from_secs(60 * 60);

/// The longest one step may take: a page group on a slow provider, a sweep of a big fleet.
const STEP_TIMEOUT: Duration = Duration::from_secs(30 * 60);

fn merge(tally: &mut RunTally, delta: Option<RunTally>, max_errors: usize) {
    if let Some(d) = delta {
        tally.merge(d, max_errors);
    }
}

fn next_listing(state: &mut Continuation) {
    skip_listings(state, 1);
}

/// Drops the first `n` listings (those an activity completed); the next starts from its
/// first page.
fn skip_listings(state: &mut Continuation, n: u32) {
    let n = (n as usize).min(state.listings.len());
    state.listings.drain(..n);
    state.cursor = None;
}

/// The kind and message of the error an activity failed with: the application failure's type
/// is our kind's name ([`super::retry::activity_failure`]); a timeout is `timeout`; anything
/// else (a worker-side panic, a payload that did not convert) is `other`.
fn failure_of(e: &ActivityExecutionError) -> (ErrorKind, String) {
    let message = match e.failure() {
        Some(f) => match f.cause.as_deref() {
            Some(cause) if !cause.message.is_empty() => cause.message.clone(),
            _ => f.message.clone(),
        },
        None => e.to_string(),
    };
    let kind = match e.cause() {
        Some(IncomingError::Application(app)) => app
            .type_name()
            .and_then(kind_named)
            .unwrap_or(ErrorKind::Other),
        Some(IncomingError::Timeout(_)) => ErrorKind::Timeout,
        Some(IncomingError::Cancelled(_)) => ErrorKind::Cancelled,
        _ => ErrorKind::Other,
    };
    (kind, message)
}

fn kind_named(name: &str) -> Option<ErrorKind> {
    use serde::de::IntoDeserializer;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        name.into_deserializer();
    ErrorKind::deserialize(de).ok()
}

fn failed_with(e: &ActivityExecutionError) -> StepsEnded {
    let (kind, message) = failure_of(e);
    StepsEnded::Failed { kind, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_type_names_our_kind_back() {
        for kind in [
            ErrorKind::RateLimited,
            ErrorKind::Unavailable,
            ErrorKind::Store,
            ErrorKind::ReconnectRequired,
        ] {
            assert_eq!(kind_named(kind.as_str()), Some(kind));
        }
        assert_eq!(kind_named("PanicError"), None);
        assert_eq!(kind_named(""), None);
    }
}
