//! Exit codes: 0 success, 1 devices failed, 2 bad config or usage, 3 provider unreachable or
//! credentials rejected.

use std::fmt;

use rmm_sync::{Error, ErrorKind};

/// The run finished but some devices failed.
pub(crate) const DEVICES_FAILED: u8 = 1;
/// Bad configuration or usage.
pub(crate) const USAGE: u8 = 2;
/// The provider is unreachable or rejected the credentials.
pub(crate) const PROVIDER: u8 = 3;

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
        k if k.is_auth() => PROVIDER,
        ErrorKind::Unavailable
        | ErrorKind::Timeout
        | ErrorKind::RateLimited
        | ErrorKind::Decode => PROVIDER,
        _ => DEVICES_FAILED,
    }
}
