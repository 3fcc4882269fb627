//! What Temporal should do when an activity fails: our [`ErrorKind`] decides.
//!
//! | kind | Temporal | why |
//! |---|---|---|
//! | `rate_limited` | retry, after the provider's `Retry-After` when it sent one | throttled |
//! | `unavailable`, `timeout` | retry (backoff) | 5xx, connect errors, pool exhausted |
//! | `conflict`, `store`, `other` | retry (backoff, bounded by the attempts) | may be transient |
//! | `unauthorized`, `forbidden`, `reconnect_required` | fail, no retry | an admin must fix credentials |
//! | `invalid_config`, `not_found`, `unsupported` | fail, no retry | retrying cannot help |
//! | `decode`, `invalid_input` | fail, no retry | the same response decodes the same way |
//! | `cursor_expired` | fail, no retry | the workflow restarts the listing |
//! | `lease_held` | fail, no retry (benign) | another run owns the integration |
//! | `cancelled` | activity cancelled | |
//!
//! An error marked persistent ([`Error::set_persistent`]: an inner retry layer already gave up)
//! is never retried again. The failure's type is the kind's name (`"rate_limited"`), which is
//! what [`default_retry_policy`]'s non-retryable list matches on; its message is the error's
//! `Display`, which never holds a secret (see [`Error`]) — and nothing else from the error (no
//! source chain, no context values beyond what `Display` shows) reaches the server.

use std::time::Duration;

use temporalio_common::RetryPolicy;
use temporalio_common::error::{ApplicationErrorCategory, ApplicationFailure};
use temporalio_sdk::activities::ActivityError;

use crate::error::{Error, ErrorKind};

/// The kinds Temporal must not retry (as failure type names in [`default_retry_policy`]).
pub const NON_RETRYABLE_KINDS: [ErrorKind; 11] = [
    ErrorKind::Unauthorized,
    ErrorKind::Forbidden,
    ErrorKind::ReconnectRequired,
    ErrorKind::InvalidConfig,
    ErrorKind::NotFound,
    ErrorKind::Unsupported,
    ErrorKind::Decode,
    ErrorKind::InvalidInput,
    ErrorKind::CursorExpired,
    ErrorKind::LeaseHeld,
    ErrorKind::Cancelled,
];

/// Whether Temporal may retry an activity that failed with `kind`.
pub fn kind_is_retryable(kind: ErrorKind) -> bool {
    !NON_RETRYABLE_KINDS.contains(&kind)
}

/// The activity failure for one of our errors: retryable or not by its kind (and persistence),
/// with the provider's `Retry-After` as the next retry delay, typed by the kind's name.
pub fn activity_failure(e: &Error) -> ActivityError {
    failure(e, kind_is_retryable(e.kind()) && !e.is_persistent())
}

/// As [`activity_failure`], but retried by Temporal whenever the error's kind is retryable,
/// even when an in-process retry layer already gave up on it ([`Error::is_persistent`]): the
/// provider clients' own budget is seconds; the activity's durable retry policy rides out an
/// outage of minutes, and its last attempt gives the listing up instead.
pub fn durable_retry(e: &Error) -> ActivityError {
    failure(e, kind_is_retryable(e.kind()))
}

fn failure(e: &Error, retryable: bool) -> ActivityError {
    if e.kind() == ErrorKind::Cancelled {
        return ActivityError::cancelled();
    }
    let category = if e.kind() == ErrorKind::LeaseHeld {
        ApplicationErrorCategory::Benign
    } else {
        ApplicationErrorCategory::Unspecified
    };
    let failure = ApplicationFailure::builder(FailureMessage(e.to_string()))
        .type_name(e.kind().as_str().to_owned())
        .non_retryable(!retryable)
        .maybe_next_retry_delay(retryable.then(|| e.retry_after()).flatten())
        .category(category)
        .build();
    ActivityError::application(failure)
}

/// The retry policy for our activities: 1 s, doubling, at most 60 s apart, 8 attempts; the
/// non-retryable kinds listed by name (so a failure typed by one is final even where
/// [`activity_failure`] was bypassed).
pub fn default_retry_policy() -> RetryPolicy {
    backoff_policy(8)
}

/// The retry policy of `finish`: as [`default_retry_policy`], but with no attempt limit — the
/// workflow bounds it by time instead (an hour). A run whose `finish` gives up is not recorded
/// and holds its lease until the TTL, so it is worth riding out a long store outage for.
pub fn finish_retry_policy() -> RetryPolicy {
    backoff_policy(0)
}

/// 1 s, doubling, at most 60 s apart, `max_attempts` attempts (0: no limit), the
/// non-retryable kinds listed by name.
fn backoff_policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy::builder()
        .initial_interval(Duration::from_secs(1))
        .backoff_coefficient(2.0)
        .maximum_interval(Duration::from_secs(60))
        .maximum_attempts(max_attempts)
        .non_retryable_error_types(NON_RETRYABLE_KINDS.map(ErrorKind::as_str))
        .build()
}

/// The redacted message alone, so no source chain reaches the failure.
#[derive(Debug)]
struct FailureMessage(String);

impl std::fmt::Display for FailureMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FailureMessage {}

#[cfg(test)]
mod tests {
    use super::*;

    fn application(e: &Error) -> Box<ApplicationFailure> {
        match activity_failure(e) {
            ActivityError::Application(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn every_kind_maps_as_the_table_says() {
        use ErrorKind::*;
        let retryable = [RateLimited, Unavailable, Timeout, Conflict, Store, Other];
        let final_ = [
            Unauthorized,
            Forbidden,
            ReconnectRequired,
            InvalidConfig,
            NotFound,
            Unsupported,
            Decode,
            InvalidInput,
            CursorExpired,
            LeaseHeld,
        ];
        for kind in retryable {
            let a = application(&Error::new(kind, "x"));
            assert!(!a.is_non_retryable(), "{kind}");
            assert_eq!(a.type_name(), Some(kind.as_str()));
            assert!(kind_is_retryable(kind));
        }
        for kind in final_ {
            let a = application(&Error::new(kind, "x"));
            assert!(a.is_non_retryable(), "{kind}");
            assert_eq!(a.type_name(), Some(kind.as_str()));
            assert!(!kind_is_retryable(kind));
        }
        assert!(matches!(
            activity_failure(&Error::new(Cancelled, "stop")),
            ActivityError::Cancelled { .. }
        ));
        assert_eq!(
            application(&Error::new(LeaseHeld, "busy")).category(),
            ApplicationErrorCategory::Benign
        );
    }

    #[test]
    fn retry_after_becomes_the_next_retry_delay_only_when_retrying() {
        let throttled =
            Error::new(ErrorKind::RateLimited, "429").with_retry_after(Duration::from_secs(17));
        assert_eq!(
            application(&throttled).next_retry_delay(),
            Some(Duration::from_secs(17))
        );
        assert_eq!(
            application(&Error::new(ErrorKind::Unavailable, "503")).next_retry_delay(),
            None
        );
        let given_up = throttled.set_persistent();
        let a = application(&given_up);
        assert!(a.is_non_retryable());
        assert_eq!(a.next_retry_delay(), None);
    }

    #[test]
    fn the_message_is_the_redacted_display_without_the_source_chain() {
        let e = Error::new(ErrorKind::Unauthorized, "token rejected (HTTP 401)")
            .with_context("provider", "ninjaone")
            .with_source(std::io::Error::other("inner"));
        let a = application(&e);
        assert_eq!(a.source_error().to_string(), e.to_string());
        assert!(std::error::Error::source(a.source_error()).is_none());
    }

    #[test]
    fn the_default_policy_backs_off_and_lists_the_final_kinds() {
        let p = default_retry_policy();
        assert_eq!(p.initial_interval(), Duration::from_secs(1));
        assert_eq!(p.backoff_coefficient(), 2.0);
        assert_eq!(p.maximum_interval(), Some(Duration::from_secs(60)));
        assert_eq!(p.maximum_attempts(), 8);
        let listed = p.non_retryable_error_types();
        for kind in NON_RETRYABLE_KINDS {
            assert!(listed.iter().any(|t| t == kind.as_str()), "{kind}");
        }
        assert!(!listed.iter().any(|t| t == "rate_limited"));
    }

    #[test]
    fn finish_is_retried_without_an_attempt_limit_but_never_for_final_kinds() {
        let p = finish_retry_policy();
        assert_eq!(
            p.maximum_attempts(),
            0,
            "unlimited: the workflow bounds it by time"
        );
        assert_eq!(p.maximum_interval(), Some(Duration::from_secs(60)));
        assert_eq!(
            p.non_retryable_error_types(),
            default_retry_policy().non_retryable_error_types()
        );
    }
}
