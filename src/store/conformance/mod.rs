//! The public store conformance suite (feature `conformance`): one set of scenarios that every
//! [`AssetStore`] runs — [`InMemoryStore`](crate::store::InMemoryStore), the SQL stores, and
//! yours.
//!
//! **Not semver-stable.** Scenarios are added and tightened in minor releases; a store that
//! passed yesterday may fail a new scenario tomorrow, which is the point.
//!
//! # What it checks
//!
//! Every rule of the ingestion contract that depends on the store: the scenarios drive the real
//! [`IngestionEngine`](crate::ingest::IngestionEngine) and
//! [`SyncOrchestrator`](crate::sync::SyncOrchestrator) against the store and then read the rows
//! back through the trait, plus direct checks of `apply` (atomicity, unique keys, optimistic
//! concurrency), scopes, leases, settings, run state, the seen log of a run and tenant isolation. [`SCENARIOS`] lists
//! them with the rule each one proves.
//!
//! # Ground rules
//!
//! - Each scenario works in a **fresh random tenant** ([`TenantId::new_random`]), so a shared
//!   database works and the suite never assumes an empty store. It never deletes anything but
//!   the rows it created.
//! - A scenario is a `pub async fn name(store: &Arc<dyn AssetStore>) -> ScenarioResult`: `Ok(())`
//!   or `Err(message)` naming the rule that was broken and what was found. Scenarios do not
//!   panic on a broken rule (a panicking *store* is reported as a failure by [`run_all`]).
//! - Scenarios must run inside a tokio runtime (some spawn tasks to write concurrently); a
//!   multi-threaded runtime makes the concurrency scenarios meaningful.
//! - A scenario whose [`Requirement`] the store's [`StoreCapabilities`] do not meet is skipped by
//!   [`run_all`] and [`conformance_tests!`](crate::conformance_tests); calling it directly runs it
//!   anyway.
//!
//! # Running it on your store
//!
//! Add `rmm-sync = { version = "…", features = ["conformance"] }` and `tokio` (with `macros`
//! and `rt-multi-thread`) to your dev-dependencies, then one `#[tokio::test]` per scenario is one
//! line:
//!
//! ```no_run
//! use std::sync::Arc;
//! use rmm_sync::store::InMemoryStore;
//!
//! // The expression is evaluated inside each async test, so it may `.await`
//! // (`MyStore::connect(&url).await.unwrap()`).
//! rmm_sync::conformance_tests!(Arc::new(InMemoryStore::new()));
//! # fn main() {}
//! ```
//!
//! Or run everything at once and look at the report:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use rmm_sync::store::{conformance, InMemoryStore};
//!
//! let report = conformance::run_all(Arc::new(InMemoryStore::new())).await;
//! assert!(report.is_success(), "{report}");
//! # });
//! ```

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::store::{AssetStore, StoreCapabilities};

#[cfg(doc)]
use crate::model::TenantId;

/// `return Err(..)` from a scenario unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// `return Err(..)` from a scenario unless both sides are equal; the message shows both.
macro_rules! ensure_eq {
    ($left:expr, $right:expr, $($msg:tt)+) => {
        match (&$left, &$right) {
            (left, right) => {
                if left != right {
                    return Err(format!(
                        "{}\n  found:    {:?}\n  expected: {:?}",
                        format!($($msg)+),
                        left,
                        right
                    ));
                }
            }
        }
    };
}

mod apply;
mod bookkeeping;
mod create;
mod digest;
mod host;
mod identity;
mod integrations;
mod isolation;
mod lifecycle;
mod matching;
mod provider;
mod reads;
mod runs;
mod scopes;
mod seen;
mod support;
mod update;

pub use apply::{
    apply_enforces_unique_keys, apply_is_atomic, apply_rejects_stale_update, apply_round_trips_rows,
};
pub use bookkeeping::{failed_device_bookkeeping, lease_rules, run_history_newest_first};
pub use create::{
    create_in_mapped_scope, scope_sync_disabled_skips, suppressed_device_skipped,
    unmapped_scope_skips_without_writing,
};
pub use digest::correlate_digest_matches_correlate;
pub use host::{host_client_move_kept, host_rename_kept, host_retired_status_kept};
pub use identity::{
    adopts_unmapped_asset, dangling_mapping_repaired, identity_change_rekeys_mapping,
    move_to_unmapped_scope_keeps_client, no_adoption_across_integrations, scope_move_keeps_asset,
};
pub use integrations::{integration_upsert_merges_settings, sync_state_partial_updates};
pub use isolation::{
    concurrent_disjoint_batches, concurrent_same_devices_one_asset_each, failing_device_isolated,
    tenant_isolation,
};
pub use lifecycle::{
    reclassify_moves_extension, reclassify_to_network_device_drops_extension,
    repeated_tombstone_unchanged, restore_after_tombstone, tombstone_marks_inactive,
    tombstone_without_mapping_skips,
};
pub use matching::{
    concurrent_writes_while_matching_starts, cross_provider_ambiguous_match_reported,
    cross_provider_single_match_links, identifiers_kept_once_per_asset,
    junk_identifiers_never_match, matching_sees_changes_made_while_it_was_off,
    matching_turned_on_finds_assets_written_with_it_off,
};
pub use reads::{
    list_assets_filters_by_integration, live_device_ids_per_scope,
    reevaluate_agent_status_only_staler,
};
pub use runs::full_runs_end_to_end;
pub use scopes::{
    assign_scope_rules, new_scopes_start_unmapped, scope_refresh_keeps_host_fields,
    vanished_scopes_flagged,
};
pub use seen::{
    seen_log_clear_removes_every_run, seen_log_empty_chunk, seen_log_ids_round_trip_exactly,
    seen_log_integration_isolation, seen_log_large_chunk_round_trips,
    seen_log_reads_chunks_before_one, seen_log_rerecord_replaces_chunk, seen_log_runs_are_separate,
    seen_log_tenant_isolation, seen_log_union_of_chunks,
};
pub use update::{
    absent_keeps_null_clears_asset_fields, absent_keeps_null_clears_extension_fields,
    changed_field_updates, fractional_ram_exact, mapping_metadata_rules,
    reingest_identical_writes_nothing,
};

/// What a scenario returns: `Err` carries a message naming the broken rule and the evidence.
pub type ScenarioResult = Result<(), String>;

/// A scenario as a function pointer, for tables and harnesses.
pub type ScenarioFn = fn(Arc<dyn AssetStore>) -> BoxFuture<'static, ScenarioResult>;

/// What a store must support for a scenario to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Every store.
    None,
    /// `apply` is all-or-nothing ([`StoreCapabilities::transactions`]) and takes batches of at
    /// least a few writes.
    Transactions,
    /// The seen log of a run is implemented ([`StoreCapabilities::run_seen_log`]).
    RunSeenLog,
}

impl Requirement {
    /// Whether a store with these capabilities must pass the scenario.
    pub fn is_met(self, caps: &StoreCapabilities) -> bool {
        match self {
            Requirement::None => true,
            Requirement::Transactions => {
                caps.transactions && caps.max_batch_size.is_none_or(|max| max >= 3)
            }
            Requirement::RunSeenLog => caps.run_seen_log,
        }
    }
}

/// One scenario of the suite.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    /// The function name (also the generated test's name).
    pub name: &'static str,
    /// The rule it proves (DESIGN.md section and the rule in a few words).
    pub rule: &'static str,
    /// When it applies.
    pub requires: Requirement,
    /// Runs it.
    pub run: ScenarioFn,
}

/// A scenario that failed, with the rule it proves and what went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScenarioFailure {
    /// Scenario name.
    pub name: &'static str,
    /// The rule.
    pub rule: &'static str,
    /// What was found instead.
    pub message: String,
}

impl fmt::Display for ScenarioFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]: {}", self.name, self.rule, self.message)
    }
}

/// The result of [`run_all`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SuiteReport {
    /// Scenarios that passed.
    pub passed: Vec<&'static str>,
    /// Scenarios not run because the store lacks a capability.
    pub skipped: Vec<&'static str>,
    /// Scenarios that failed.
    pub failed: Vec<ScenarioFailure>,
}

impl SuiteReport {
    /// `true` when nothing failed.
    pub fn is_success(&self) -> bool {
        self.failed.is_empty()
    }
}

impl fmt::Display for SuiteReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed.len(),
            self.failed.len(),
            self.skipped.len()
        )?;
        if !self.skipped.is_empty() {
            write!(f, "\nskipped: {}", self.skipped.join(", "))?;
        }
        for failure in &self.failed {
            write!(f, "\nFAILED {failure}")?;
        }
        Ok(())
    }
}

/// Every scenario, with the rule it proves.
pub static SCENARIOS: &[Scenario] =
    crate::__conformance_scenarios!(__conformance_scenario_table! {});

/// The scenario called `name`.
pub fn scenario(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// Runs one scenario, turning a panic (of the store or the scenario) into a failure.
pub async fn run_scenario(scenario: &Scenario, store: Arc<dyn AssetStore>) -> ScenarioResult {
    match AssertUnwindSafe((scenario.run)(store)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(format!("panicked: {}", panic_message(&*panic))),
    }
}

/// Runs every applicable scenario one after the other and reports which failed.
pub async fn run_all(store: Arc<dyn AssetStore>) -> SuiteReport {
    let caps = store.capabilities();
    let mut report = SuiteReport::default();
    for s in SCENARIOS {
        if !s.requires.is_met(&caps) {
            report.skipped.push(s.name);
            continue;
        }
        match run_scenario(s, Arc::clone(&store)).await {
            Ok(()) => report.passed.push(s.name),
            Err(message) => report.failed.push(ScenarioFailure {
                name: s.name,
                rule: s.rule,
                message,
            }),
        }
    }
    report
}

/// Runs the scenario `name` and panics with the rule and the evidence if it fails: the body of
/// every test [`conformance_tests!`](crate::conformance_tests) generates. Skips (with a note on
/// stderr) when the store lacks a capability the scenario needs.
pub async fn expect_pass(name: &str, store: Arc<dyn AssetStore>) {
    let s = scenario(name).unwrap_or_else(|| panic!("no conformance scenario named {name}"));
    if !s.requires.is_met(&store.capabilities()) {
        eprintln!(
            "skipped {name}: the store does not support {:?}",
            s.requires
        );
        return;
    }
    if let Err(message) = run_scenario(s, store).await {
        panic!(
            "conformance scenario {name} failed\nrule: {}\n{message}",
            s.rule
        );
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string panic payload".into())
}

/// The scenario list, handed to `$callback` (the one place scenarios are registered).
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_scenarios {
    ($callback:ident ! { $($pre:tt)* }) => {
        $crate::$callback! {
            { $($pre)* }
            // §2 writing rules: creation and skips
            create_in_mapped_scope [None]
                "§2 create only when the scope maps to a client; the asset takes that client",
            unmapped_scope_skips_without_writing [None]
                "§2 unmapped scope: skipped `unmapped_scope`, no orphan rows",
            scope_sync_disabled_skips [None]
                "§2 auto_sync_assets = false: skipped `scope_sync_disabled`, nothing written",
            suppressed_device_skipped [None]
                "§2 a device the host suppressed is skipped `suppressed`",
            // §2 diffing
            reingest_identical_writes_nothing [None]
                "§2 equal fingerprint: `unchanged` and no write at all",
            changed_field_updates [None] "§2 a changed provider field: `updated`, same asset",
            absent_keeps_null_clears_asset_fields [None] "§2 absent ≠ null on asset columns",
            absent_keeps_null_clears_extension_fields [None]
                "§2 absent ≠ null on extension columns",
            fractional_ram_exact [None]
                "§2 numbers coerced to column types: RAM 15.7 GB stays 15.7",
            mapping_metadata_rules [None]
                "§2 mapping metadata: absent keeps, reported replaces wholesale",
            // §2 host-owned fields
            host_rename_kept [None] "§2 a host rename is never overwritten",
            host_retired_status_kept [None]
                "§2 a host status (retired) survives updates, tombstones and restores",
            host_client_move_kept [None] "§2 a host client move is never overwritten",
            // §2 lifecycle
            reclassify_moves_extension [None]
                "§2 reclassification moves the extension row, none left behind",
            reclassify_to_network_device_drops_extension [None]
                "§2 reclassification to a kind without extension table leaves no row",
            tombstone_marks_inactive [None]
                "§2 tombstone: inactive/offline, mapping `deleted` with a time, never hard-deleted",
            tombstone_without_mapping_skips [None]
                "§2 deletion of an unknown device: skipped `no_mapping_to_tombstone`",
            repeated_tombstone_unchanged [None]
                "§2 a second tombstone is `unchanged`, not re-counted or re-stamped",
            restore_after_tombstone [None]
                "§2 a tombstoned device that comes back is `restored` onto the same asset",
            // §2 identity and correlation
            scope_move_keeps_asset [None]
                "§2 rule 1: a scope move is `moved`, same asset, one mapping",
            move_to_unmapped_scope_keeps_client [None]
                "§2 client follows the scope only when the scope is mapped",
            adopts_unmapped_asset [None]
                "§2 rule 2: an unmapped asset with the same (provider, device id) is adopted",
            no_adoption_across_integrations [None]
                "§2 rule 2: an asset another integration maps is never adopted",
            identity_change_rekeys_mapping [None]
                "§2 rule 3: an identity change re-keys the mapping",
            cross_provider_single_match_links [None]
                "§2 rule 4: one identity match links without overwriting the other provider",
            cross_provider_ambiguous_match_reported [None]
                "§2 rule 4: several identity matches are `ambiguous`, nothing written",
            junk_identifiers_never_match [None]
                "§2 rule 4: junk serials and placeholder UUIDs never match",
            matching_turned_on_finds_assets_written_with_it_off [None]
                "§2 rule 4: matching finds assets written while it was off (serial, MAC, UUID)",
            matching_sees_changes_made_while_it_was_off [None]
                "§2 rule 4: identifiers follow changes made with matching off; old ones never match",
            identifiers_kept_once_per_asset [None]
                "§2 rule 4: rewrites with matching off and on leave one candidate per asset",
            concurrent_writes_while_matching_starts [None]
                "§2 rule 4: writes racing the first matching run are matched later",
            dangling_mapping_repaired [None]
                "§2 rule 5: a mapping whose asset is gone is repaired, same mapping id",
            // §2 transactions, isolation, concurrency
            tenant_isolation [None] "§2 every store operation is tenant-scoped",
            failing_device_isolated [None]
                "§2 a failing device is isolated; the rest of the batch commits",
            concurrent_disjoint_batches [None]
                "§2 concurrent batches of different devices all land",
            concurrent_same_devices_one_asset_each [None]
                "§2 concurrent ingestion of the same devices: one asset each",
            correlate_digest_matches_correlate [None]
                "store: correlate_digest equals the digest of correlate, state by state",
            apply_round_trips_rows [None]
                "store: every column of assets, extensions and mappings reads back exactly",
            apply_enforces_unique_keys [None]
                "store: unique asset ids and mapping keys, violations are `Conflict`",
            apply_rejects_stale_update [None]
                "store: a stale `expected_updated_at` is `Conflict` and writes nothing",
            apply_is_atomic [Transactions] "§2 everything one batch writes is one transaction",
            // §3 scopes
            new_scopes_start_unmapped [None]
                "§3 new scopes start unmapped with auto_sync_assets = true",
            scope_refresh_keeps_host_fields [None]
                "§3 scope sync never touches client or auto_sync_assets",
            vanished_scopes_flagged [None]
                "§3 vanished scopes flagged (complete listings only), un-flagged on return",
            assign_scope_rules [None]
                "§3 assign_scope maps, unmaps and toggles; unknown scope is NotFound",
            // §3 integration state
            integration_upsert_merges_settings [None]
                "§3 integrations upsert; settings merged, never replaced wholesale",
            sync_state_partial_updates [None] "§3 sync state updates touch only the given fields",
            lease_rules [None] "§3 one lease holder per integration, with expiry",
            failed_device_bookkeeping [None]
                "§3 failed devices: attempts counted, cleared on success",
            run_history_newest_first [None] "§3 run history reads back newest first",
            // reads the orchestrator relies on
            live_device_ids_per_scope [None]
                "§2 sweep candidates: live mappings of one scope, tombstones excluded",
            reevaluate_agent_status_only_staler [None]
                "§2 agent status re-evaluated by age, only ever staler, tombstones skipped",
            list_assets_filters_by_integration [None]
                "store: list_assets filters by integration, ordered by asset id",
            full_runs_end_to_end [None]
                "§3 orchestrated full runs: create, unchanged, sweep, status, history, lease",
            // the seen log of a run (runs whose steps execute in different processes)
            seen_log_union_of_chunks [RunSeenLog]
                "store: a run's seen ids are the union of its chunks, each id once",
            seen_log_rerecord_replaces_chunk [RunSeenLog]
                "store: recording a chunk again replaces its ids (idempotent retries)",
            seen_log_empty_chunk [RunSeenLog] "store: an empty chunk is recorded and replaces",
            seen_log_reads_chunks_before_one [RunSeenLog]
                "store: seen_devices with before_chunk reads only chunks sorting before it (bytes)",
            seen_log_large_chunk_round_trips [RunSeenLog]
                "store: a 5,000-id chunk round-trips completely",
            seen_log_ids_round_trip_exactly [RunSeenLog]
                "store: seen ids with separators, quotes, newlines and unicode round-trip exactly",
            seen_log_runs_are_separate [RunSeenLog]
                "store: seen_devices reads one run, never another run of the integration",
            seen_log_tenant_isolation [RunSeenLog]
                "store: the seen log is tenant-scoped (reads and clear)",
            seen_log_integration_isolation [RunSeenLog]
                "store: the seen log is integration-scoped (reads and clear)",
            seen_log_clear_removes_every_run [RunSeenLog]
                "store: clear_seen removes every run of the integration and counts the chunks",
        }
    };
}

/// Builds [`SCENARIOS`] from the list.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_scenario_table {
    ({} $($name:ident [$req:ident] $rule:literal,)*) => {
        &[$(
            $crate::store::conformance::Scenario {
                name: stringify!($name),
                rule: $rule,
                requires: $crate::store::conformance::Requirement::$req,
                run: |store| {
                    ::std::boxed::Box::pin(async move {
                        $crate::store::conformance::$name(&store).await
                    })
                },
            },
        )*]
    };
}

/// Expands to one test per scenario.
#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_scenario_tests {
    ({ $make:expr } $($name:ident [$req:ident] $rule:literal,)*) => {
        $(
            #[doc = $rule]
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let store: ::std::sync::Arc<dyn $crate::store::AssetStore> = $make;
                $crate::store::conformance::expect_pass(stringify!($name), store).await;
            }
        )*
    };
}

/// Generates one `#[tokio::test]` per conformance scenario, each running on the store the
/// expression builds (evaluated inside the async test, so it may `.await`). Needs `tokio` with
/// the `macros` and `rt-multi-thread` features in the calling crate.
///
/// ```no_run
/// use std::sync::Arc;
/// rmm_sync::conformance_tests!(Arc::new(rmm_sync::store::InMemoryStore::new()));
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    ($make:expr $(,)?) => {
        $crate::__conformance_scenarios!(__conformance_scenario_tests! { $make });
    };
}
