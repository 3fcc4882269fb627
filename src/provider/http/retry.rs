//! [`RetryConfig`] and [`retry`]: exponential backoff with full jitter, honouring the provider's
//! `Retry-After`, for idempotent requests only.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::options::millis;
use crate::error::{Error, Result};

/// Whether a request may be sent twice without changing the outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    /// Reads (GET, GraphQL queries): retried on throttling, 5xx and timeouts.
    Idempotent,
    /// Writes (GraphQL mutations, POST actions): never retried, a second send could repeat the
    /// effect.
    NonIdempotent,
}

/// Retry policy for provider calls. Durations are milliseconds in serde.
///
/// Attempt `n` (0-based) that failed with a retryable error waits a uniformly random time in
/// `[0, min(max_backoff, initial_backoff · 2ⁿ)]` ("full jitter"), or exactly the provider's
/// `Retry-After` when it sent one. A `Retry-After` longer than `max_retry_after` is not waited
/// for: the call fails at once with [`crate::ErrorKind::RateLimited`] and the requested wait.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts in total, the first included (1 = no retries). Default 4.
    pub max_attempts: u32,
    /// Backoff ceiling of the first retry. Default 500 ms.
    #[serde(rename = "initial_backoff_ms", with = "millis")]
    pub initial_backoff: Duration,
    /// Largest backoff ceiling. Default 30 s.
    #[serde(rename = "max_backoff_ms", with = "millis")]
    pub max_backoff: Duration,
    /// Longest `Retry-After` honoured by waiting. Default 120 s.
    #[serde(rename = "max_retry_after_ms", with = "millis")]
    pub max_retry_after: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryConfig {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The ceiling of the backoff after failed attempt `attempt` (0-based).
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// How long to wait before retrying after failed attempt `attempt` (0-based), or `None`
    /// when the error must not be retried (not retryable, attempts exhausted, or a
    /// `Retry-After` beyond [`RetryConfig::max_retry_after`]).
    pub fn delay_for(&self, error: &Error, attempt: u32, jitter: &mut Jitter) -> Option<Duration> {
        if !error.is_retryable() || attempt + 1 >= self.max_attempts {
            return None;
        }
        match error.retry_after() {
            Some(wait) if wait > self.max_retry_after => None,
            Some(wait) => Some(wait),
            None => Some(jitter.below(self.backoff_ceiling(attempt))),
        }
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or the attempts run out.
///
/// Non-idempotent calls run exactly once. The final error is marked persistent (no outer layer
/// retries it again) and carries the number of attempts as context.
pub async fn retry<T, F, Fut>(
    config: &RetryConfig,
    idempotency: Idempotency,
    mut op: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut jitter = Jitter::new();
    let mut attempt = 0u32;
    loop {
        let error = match op().await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let delay = match idempotency {
            Idempotency::Idempotent => config.delay_for(&error, attempt, &mut jitter),
            Idempotency::NonIdempotent => None,
        };
        let Some(delay) = delay else {
            let error = if attempt > 0 {
                error.with_context("attempts", attempt + 1)
            } else {
                error
            };
            return Err(if error.kind().is_retryable() {
                error.set_persistent()
            } else {
                error
            });
        };
        tracing::warn!(
            attempt = attempt + 1,
            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %error,
            "retrying provider request"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Parses a `Retry-After` value: delay seconds (`"120"`) or an HTTP date
/// (`"Wed, 21 Oct 2026 07:28:00 GMT"`, measured from `now`; a date in the past means "now").
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// A small xorshift generator seeded from the clock and a process-wide counter: enough to
/// spread retries of many clients apart, no crate needed.
#[derive(Clone, Debug)]
pub struct Jitter(u64);

impl Jitter {
    /// A generator with a fresh seed.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        Self::seeded(nanos ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// A deterministic generator (tests).
    pub fn seeded(seed: u64) -> Self {
        Self(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A uniformly random duration in `[0, max]`.
    pub fn below(&mut self, max: Duration) -> Duration {
        let nanos = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.next() % nanos.saturating_add(1))
    }
}

impl Default for Jitter {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use chrono::TimeZone;
    use std::sync::atomic::AtomicU32;

    fn fast() -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
            max_retry_after: Duration::from_secs(5),
        }
    }

    #[test]
    fn retry_after_accepts_seconds_and_http_dates() {
        let now = Utc.with_ymd_and_hms(2026, 10, 21, 7, 27, 0).unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_exponentially_to_the_cap_and_jitter_stays_below_it() {
        let c = RetryConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(750),
            ..RetryConfig::default()
        };
        assert_eq!(c.backoff_ceiling(0), Duration::from_millis(100));
        assert_eq!(c.backoff_ceiling(2), Duration::from_millis(400));
        assert_eq!(c.backoff_ceiling(3), Duration::from_millis(750));
        assert_eq!(c.backoff_ceiling(200), Duration::from_millis(750));
        let mut j = Jitter::seeded(42);
        let e = Error::new(ErrorKind::Unavailable, "502");
        let delays: Vec<Duration> = (0..50)
            .map(|_| c.delay_for(&e, 1, &mut j).unwrap())
            .collect();
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(200)));
        assert!(delays.iter().any(|d| *d != delays[0]), "jitter varies");
    }

    #[test]
    fn delay_honours_retry_after_within_the_cap_only() {
        let c = fast();
        let mut j = Jitter::seeded(1);
        let limited =
            Error::new(ErrorKind::RateLimited, "429").with_retry_after(Duration::from_secs(3));
        assert_eq!(
            c.delay_for(&limited, 0, &mut j),
            Some(Duration::from_secs(3))
        );
        let too_long =
            Error::new(ErrorKind::RateLimited, "429").with_retry_after(Duration::from_secs(60));
        assert_eq!(c.delay_for(&too_long, 0, &mut j), None);
        assert_eq!(
            c.delay_for(&Error::new(ErrorKind::Forbidden, "no"), 0, &mut j),
            None
        );
        let e = Error::new(ErrorKind::Timeout, "slow");
        assert!(c.delay_for(&e, 1, &mut j).is_some());
        assert_eq!(
            c.delay_for(&e, 2, &mut j),
            None,
            "third attempt was the last"
        );
    }

    #[tokio::test]
    async fn retries_idempotent_calls_until_success() {
        let calls = AtomicU32::new(0);
        let out = retry(&fast(), Idempotency::Idempotent, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Error::new(ErrorKind::Unavailable, "502 Bad Gateway"))
            } else {
                Ok(7)
            }
        })
        .await
        .unwrap();
        assert_eq!((out, calls.load(Ordering::SeqCst)), (7, 3));
    }

    #[tokio::test]
    async fn gives_up_with_a_persistent_error_and_never_retries_writes() {
        let calls = AtomicU32::new(0);
        let e = retry(&fast(), Idempotency::Idempotent, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::new(ErrorKind::Timeout, "slow"))
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(!e.is_retryable());
        assert_eq!(e.context("attempts"), Some("3"));

        let writes = AtomicU32::new(0);
        let e = retry(&fast(), Idempotency::NonIdempotent, || async {
            writes.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(Error::new(ErrorKind::Unavailable, "503"))
        })
        .await
        .unwrap_err();
        assert_eq!(writes.load(Ordering::SeqCst), 1);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
    }
}
