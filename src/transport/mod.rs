//! Executors for sync runs other than the in-process default.
//!
//! A run is a sequence of idempotent steps with serializable inputs (see [`crate::sync`]); the
//! in-process orchestrator runs them on tokio. The modules here run the same steps elsewhere:
//!
//! - `temporal` (feature `temporal`): Temporal — connection settings, workflow and schedule
//!   ids, the mapping of [`crate::ErrorKind`] to activity retries, and Temporal Schedules built
//!   from each integration's `schedule`. See `docs/temporal.md`.

#[cfg(feature = "temporal")]
pub mod temporal;
