//! [`RateLimiter`]: a client-side request budget (GCRA, i.e. a token bucket without a refill
//! task) that also lets one throttled response pause every request of the adapter.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// A request budget: on average `requests_per_minute`, with up to `burst` requests at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained rate.
    pub requests_per_minute: u32,
    /// Requests allowed back to back before the rate applies (at least 1).
    #[serde(default = "one")]
    pub burst: u32,
}

fn one() -> u32 {
    1
}

impl RateLimit {
    /// `requests_per_minute` with a burst of 1.
    pub fn per_minute(requests_per_minute: u32) -> Self {
        Self {
            requests_per_minute,
            burst: 1,
        }
    }

    /// Sets the burst.
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = burst;
        self
    }
}

/// Spaces requests to a [`RateLimit`] and honours server-side throttling for all callers.
///
/// Shared by every request of one adapter instance. [`RateLimiter::acquire`] waits until the
/// next request fits the budget; [`RateLimiter::defer`] (called with a 429's `Retry-After`)
/// holds every later request back until the server is ready again, so concurrent calls do not
/// hammer a throttled API.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// use rmm_sync::provider::http::{RateLimit, RateLimiter};
/// let limiter = RateLimiter::new(Some(RateLimit::per_minute(600).with_burst(5)));
/// for _ in 0..5 {
///     limiter.acquire().await; // the burst passes at once
/// }
/// # });
/// ```
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between requests at the sustained rate; `None`: no client-side budget.
    interval: Option<Duration>,
    /// How far the schedule may run ahead of now (burst − 1 intervals).
    tolerance: Duration,
    /// The theoretical arrival time of the next request (GCRA state), and the end of any pause
    /// requested by the server.
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    next: Option<Instant>,
    paused_until: Option<Instant>,
}

impl RateLimiter {
    /// A limiter for `limit`; `None` only honours [`RateLimiter::defer`].
    pub fn new(limit: Option<RateLimit>) -> Self {
        let interval = limit
            .filter(|l| l.requests_per_minute > 0)
            .map(|l| Duration::from_secs(60) / l.requests_per_minute);
        let burst = limit.map_or(1, |l| l.burst.max(1));
        Self {
            interval,
            tolerance: interval.unwrap_or_default() * (burst - 1),
            state: Mutex::new(State {
                next: None,
                paused_until: None,
            }),
        }
    }

    /// Waits until one more request fits the budget and any server-requested pause is over.
    pub async fn acquire(&self) {
        let wait_until = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let paused = state.paused_until.filter(|p| *p > now);
            let start = paused.unwrap_or(now);
            match self.interval {
                None => paused,
                Some(interval) => {
                    let tat = state.next.map_or(start, |t| t.max(start));
                    // GCRA: the request may go once the schedule is at most `tolerance` ahead.
                    let allowed_at = tat.checked_sub(self.tolerance).unwrap_or(start).max(start);
                    state.next = Some(tat + interval);
                    (allowed_at > now).then_some(allowed_at)
                }
            }
        };
        if let Some(at) = wait_until {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Holds every request back for `wait` from now (a 429's `Retry-After`). A shorter pause
    /// never shortens a longer one already in force.
    pub fn defer(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.paused_until = Some(state.paused_until.map_or(until, |p| p.max(until)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn spaces_requests_after_the_burst() {
        let limiter = RateLimiter::new(Some(RateLimit::per_minute(60).with_burst(3)));
        let start = Instant::now();
        for _ in 0..3 {
            limiter.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO, "the burst passes at once");
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn server_pauses_hold_every_request_back() {
        let limiter = RateLimiter::new(None);
        let start = Instant::now();
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        limiter.defer(Duration::from_secs(5));
        limiter.defer(Duration::from_secs(2));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        limiter.acquire().await;
        assert_eq!(start.elapsed(), Duration::from_secs(5), "the pause is over");
    }

    #[test]
    fn limits_deserialize_with_a_default_burst() {
        let l: RateLimit = serde_json::from_str(r#"{"requests_per_minute": 120}"#).unwrap();
        assert_eq!(l, RateLimit::per_minute(120));
    }
}
