//! Service settings.

use std::time::Duration;

/// How the service receives webhooks and shuts down. Defaults suit a few hundred integrations
/// on one machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Largest webhook body accepted; larger ones get 413 before any parsing. Default 1 MiB.
    pub webhook_body_limit: usize,
    /// Events for one device within this window become one refresh. Default 1 s.
    pub coalesce_window: Duration,
    /// Devices waiting per integration; beyond it deliveries get 503 + `Retry-After`. Default
    /// 10,000.
    pub queue_capacity: usize,
    /// Event ids remembered per integration to recognise replays. Default 10,000.
    pub replay_memory: usize,
    /// A refresh that found the integration busy in another process (its lease held) is tried
    /// again after this. Default 5 s.
    pub busy_retry_delay: Duration,
    /// … at most this many times, then dropped with a warning (the next full run covers the
    /// device). Default 60 (5 minutes at the default delay).
    pub max_busy_retries: u32,
    /// A scheduled run that found the lease held elsewhere is tried again after this (or at
    /// its next tick, if sooner). Default 30 s.
    pub lease_held_retry: Duration,
    /// On shutdown, how long running syncs get to finish their current batch and release their
    /// lease. Default 30 s.
    pub shutdown_timeout: Duration,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            webhook_body_limit: 1024 * 1024,
            coalesce_window: Duration::from_secs(1),
            queue_capacity: 10_000,
            replay_memory: 10_000,
            busy_retry_delay: Duration::from_secs(5),
            max_busy_retries: 60,
            lease_held_retry: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}
