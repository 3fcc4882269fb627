//! Exit codes: 0 success, 1 devices failed, 2 bad config or usage, 3 provider unreachable or
//! credentials rejected, 4 another run holds the integration's lease (busy: try again later).

use std::fmt;

use rmm_sync::{Error, ErrorKind};

/// The run finished but some devices failed.
pub(crate) const DEVICES_FAILED: u8 = 1;
/// Bad configuration or usage.
pub(crate) const USAGE: u8 = 2;
/// The provider is unreachable or rejected the credentials.
pub(crate) const PROVIDER: u8 = 3;

/// Another run of the integration holds its lease: nothing ran, try again later.
pub(crate) const LEASE_HELD: u8 = 4;

/// The code to exit with when integrations ended differently: the most serious wins (usage,
/// then provider, then failed devices), and "busy" only when nothing worse happened, so a
/// wrapper that retries on 4 never hides a real failure.
pub(crate) fn worst(a: u8, b: u8) -> u8 {
    let rank = |c: u8| match c {
        0 => 0,
        LEASE_HELD => 1,
        DEVICES_FAILED => 2,
        PROVIDER => 3,
        _ => 4,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The library error kind behind an error, if any (for JSON output).
pub(crate) fn kind_of(err: &anyhow::Error) -> Option<ErrorKind> {
    err.chain()
        .find_map(|c| c.downcast_ref::<Error>())
        .map(Error::kind)
}

/// A configuration or usage problem (exit code 2).
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// The exit code for an error that ended a command.
pub(crate) fn code_for(err: &anyhow::Error) -> u8 {
    for cause in err.chain() {
        if cause.downcast_ref::<UsageError>().is_some() {
            return USAGE;
        }
        if let Some(e) = cause.downcast_ref::<Error>() {
            return code_for_kind(e.kind());
        }
    }
    USAGE
}

/// The exit code for an error kind.
pub(crate) fn code_for_kind(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::InvalidConfig | ErrorKind::NotFound => USAGE,
        ErrorKind::LeaseHeld => LEASE_HELD,
        k if k.is_auth() => PROVIDER,
        ErrorKind::Unavailable
        | ErrorKind::Timeout
        | ErrorKind::RateLimited
        | ErrorKind::Decode => PROVIDER,
        _ => DEVICES_FAILED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_its_own_code_and_never_hides_a_failure() {
        assert_eq!(code_for_kind(ErrorKind::LeaseHeld), LEASE_HELD);
        assert_eq!(worst(0, LEASE_HELD), LEASE_HELD);
        assert_eq!(worst(LEASE_HELD, DEVICES_FAILED), DEVICES_FAILED);
        assert_eq!(worst(PROVIDER, LEASE_HELD), PROVIDER);
        assert_eq!(worst(USAGE, PROVIDER), USAGE);
        assert_eq!(worst(DEVICES_FAILED, 0), DEVICES_FAILED);
    }
}
