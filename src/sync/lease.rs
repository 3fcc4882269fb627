//! The run lease while a run lives: taken at the start, renewed on a timer (not only between
//! pages, so a long provider wait cannot let it lapse), checked before every write, released at
//! the end.
//!
//! The TTL is short (default 2 minutes) so that a run killed without a chance to release (OOM
//! killer, SIGKILL, a lost node) frees its integration within minutes. Two live runs still never
//! overlap: a renewal is due every quarter of the TTL, and a run whose renewals keep failing
//! stops writing once less than a quarter of the TTL is left on its last granted lease — before
//! anyone else could take it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, ErrorKind, Result};
use crate::ingest::now_micros;
use crate::model::{IntegrationId, TenantId};
use crate::store::{AssetStore, LeaseRequest};

/// The run lease of one integration, held by one run.
#[derive(Debug, Clone)]
pub(crate) struct HeldLease {
    store: Arc<dyn AssetStore>,
    tenant: TenantId,
    integration: IntegrationId,
    holder: String,
    ttl: Duration,
    state: Arc<LeaseState>,
}

#[derive(Debug)]
struct LeaseState {
    /// Expiry of the last granted lease, as microseconds since the epoch.
    valid_until: AtomicI64,
    /// Another holder took the lease over: this run must stop.
    lost: AtomicBool,
}

impl HeldLease {
    /// Takes the lease for `holder`, or fails with [`ErrorKind::LeaseHeld`].
    pub(crate) async fn acquire(
        store: Arc<dyn AssetStore>,
        tenant: TenantId,
        integration: IntegrationId,
        holder: String,
        ttl: Duration,
    ) -> Result<Self> {
        let lease = Self {
            store,
            tenant,
            integration,
            holder,
            ttl,
            state: Arc::new(LeaseState {
                valid_until: AtomicI64::new(i64::MIN),
                lost: AtomicBool::new(false),
            }),
        };
        if !lease.extend().await? {
            return Err(Error::new(
                ErrorKind::LeaseHeld,
                format!(
                    "integration {integration} is already syncing (another run holds its lease); try again later"
                ),
            ));
        }
        Ok(lease)
    }

    /// How often the lease is renewed: a quarter of the TTL, so three renewals in a row may
    /// fail (a store restart) before the run has to stop.
    pub(crate) fn renew_every(&self) -> Duration {
        (self.ttl / 4).max(Duration::from_millis(10))
    }

    /// Asks the store to extend the lease to `now + ttl`; `Ok(false)` when another holder has
    /// it.
    async fn extend(&self) -> Result<bool> {
        let now = now_micros();
        let expires_at = now + ttl_as_chrono(self.ttl);
        let request = LeaseRequest {
            holder: self.holder.clone(),
            expires_at,
            now,
        };
        let granted = self
            .store
            .try_acquire_lease(self.tenant, self.integration, &request)
            .await?;
        if granted {
            self.state
                .valid_until
                .store(expires_at.timestamp_micros(), Ordering::SeqCst);
        }
        Ok(granted)
    }

    /// Renews the lease every [`HeldLease::renew_every`] until it is lost; resolves only then,
    /// with the error that stops the run. A failed renewal (store unreachable) is logged and
    /// tried again at the next tick: [`HeldLease::ensure_held`] stops writes in time if it keeps
    /// failing.
    pub(crate) async fn keep_renewed(&self) -> Error {
        loop {
            tokio::time::sleep(self.renew_every()).await;
            match self.extend().await {
                Ok(true) => {}
                Ok(false) => {
                    self.state.lost.store(true, Ordering::SeqCst);
                    return lost_error();
                }
                Err(e) => {
                    tracing::warn!(integration = %self.integration, error = %e, "could not renew the run lease; trying again");
                }
            }
        }
    }

    /// `Ok` while this run may still write: the lease was not taken over and more than a quarter
    /// of the TTL is left on it (time enough for one batch to commit). Renews first when a
    /// renewal is due: the timer of [`HeldLease::keep_renewed`] only fires while the run waits,
    /// and a run that never waits (a fast store, a provider answering from memory) must keep
    /// its lease too.
    pub(crate) async fn ensure_held(&self) -> Result<()> {
        if self.state.lost.load(Ordering::SeqCst) {
            return Err(lost_error());
        }
        let renewed_at = self.valid_until() - ttl_as_chrono(self.ttl);
        if now_micros() >= renewed_at + ttl_as_chrono(self.renew_every()) {
            match self.extend().await {
                Ok(true) => {}
                Ok(false) => {
                    self.state.lost.store(true, Ordering::SeqCst);
                    return Err(lost_error());
                }
                Err(e) => {
                    tracing::warn!(integration = %self.integration, error = %e, "could not renew the run lease");
                }
            }
        }
        self.check_margin()
    }

    /// The synchronous half of [`HeldLease::ensure_held`]: no renewal, only the verdict.
    pub(crate) fn still_held(&self) -> bool {
        !self.state.lost.load(Ordering::SeqCst) && self.check_margin().is_ok()
    }

    fn check_margin(&self) -> Result<()> {
        let margin = ttl_as_chrono(self.ttl / 4);
        if now_micros() + margin >= self.valid_until() {
            return Err(Error::new(
                ErrorKind::LeaseHeld,
                "the run lease could not be renewed in time (is the store reachable?); this run stopped before another could take it over",
            ));
        }
        Ok(())
    }

    fn valid_until(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.state.valid_until.load(Ordering::SeqCst))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Gives the lease back (a no-op if another holder has it by now).
    pub(crate) async fn release(&self) -> Result<()> {
        self.store
            .release_lease(self.tenant, self.integration, &self.holder)
            .await
    }
}

fn lost_error() -> Error {
    Error::new(
        ErrorKind::LeaseHeld,
        "the run lease lapsed and another run took it; this run stopped",
    )
}

fn ttl_as_chrono(ttl: Duration) -> chrono::Duration {
    chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(2))
}
