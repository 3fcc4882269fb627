//! The error type: one struct with a [`ErrorKind`] to match on, a message that keeps the real
//! cause, and classification helpers.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The class of an error: what a caller matches on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// Credentials missing, wrong or expired (HTTP 401).
    Unauthorized,
    /// Credentials valid but lacking a permission (HTTP 403).
    Forbidden,
    /// The OAuth grant is gone (revoked, refresh token spent); an admin must reconnect.
    ReconnectRequired,
    /// The thing asked for does not exist.
    NotFound,
    /// The provider throttled us (HTTP 429); see [`Error::retry_after`].
    RateLimited,
    /// The provider or store is unreachable or failing (5xx, connect error, pool exhausted).
    Unavailable,
    /// A request took too long.
    Timeout,
    /// Configuration is wrong; the message names the key.
    InvalidConfig,
    /// The provider or store cannot do this operation.
    Unsupported,
    /// A paging cursor or delta checkpoint is no longer valid on the provider; the listing
    /// must restart (and is not complete).
    CursorExpired,
    /// A response or record could not be decoded (non-JSON body, wrong shape, GraphQL errors).
    Decode,
    /// A snapshot's content is unacceptable (empty id, absurd value).
    InvalidInput,
    /// A write collided with another (unique violation, concurrent edit).
    Conflict,
    /// Another run of the same integration holds the lease.
    LeaseHeld,
    /// The run was cancelled.
    Cancelled,
    /// The store failed in a way not covered above.
    Store,
    /// Anything else.
    Other,
}

impl ErrorKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::ReconnectRequired => "reconnect_required",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::InvalidConfig => "invalid_config",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::CursorExpired => "cursor_expired",
            ErrorKind::Decode => "decode",
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::LeaseHeld => "lease_held",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Store => "store",
            ErrorKind::Other => "other",
        }
    }

    /// Whether an error of this kind may succeed when simply tried again.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimited | ErrorKind::Unavailable | ErrorKind::Timeout
        )
    }

    /// Whether this kind means the credentials are the problem (CLI exit code 3).
    pub fn is_auth(self) -> bool {
        matches!(
            self,
            ErrorKind::Unauthorized | ErrorKind::Forbidden | ErrorKind::ReconnectRequired
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every fallible operation in this crate.
///
/// Messages never contain secrets: adapters build them from status codes, provider messages and
/// redacted URLs only.
pub struct Error {
    kind: ErrorKind,
    message: String,
    context: Vec<(&'static str, String)>,
    retry_after: Option<Duration>,
    persistent: bool,
    source: Option<BoxError>,
}

impl Error {
    /// A new error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            context: Vec::new(),
            retry_after: None,
            persistent: false,
            source: None,
        }
    }

    /// Invalid configuration; the message should say what is wrong with `key`.
    pub fn invalid_config(key: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, message).with_context("key", key)
    }

    /// An unsupported operation.
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("operation {operation} is not supported"),
        )
        .with_context("operation", operation)
    }

    /// A store failure.
    pub fn store(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Store, message)
    }

    /// Adds a piece of context (provider, operation, scope, device …), shown in `Display`.
    pub fn with_context(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        self.context.push((key, value.to_string()));
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the provider's `Retry-After`.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        self.retry_after = Some(after);
        self
    }

    /// Marks the error as final: retries were exhausted, no outer layer should retry again.
    pub fn set_persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    /// The class.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message without context.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A context value by key.
    pub fn context(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The provider's requested wait, for [`ErrorKind::RateLimited`].
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// Whether a retry layer already gave up on this error ([`Error::set_persistent`]).
    pub fn is_persistent(&self) -> bool {
        self.persistent
    }

    /// Whether trying again may help (and no retry layer has given up on it yet).
    pub fn is_retryable(&self) -> bool {
        !self.persistent && self.kind.is_retryable()
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Error");
        d.field("kind", &self.kind).field("message", &self.message);
        if !self.context.is_empty() {
            d.field("context", &self.context);
        }
        if let Some(r) = self.retry_after {
            d.field("retry_after", &r);
        }
        if let Some(s) = &self.source {
            d.field("source", s);
        }
        d.finish()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)?;
        if !self.context.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.context.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{k}: {v}")?;
            }
            f.write_str(")")?;
        }
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::new(ErrorKind::Decode, "invalid JSON").with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_kinds_and_persistence() {
        let e = Error::new(ErrorKind::RateLimited, "slow down")
            .with_retry_after(Duration::from_secs(3));
        assert!(e.is_retryable());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        assert!(!e.set_persistent().is_retryable());
        assert!(!Error::new(ErrorKind::Unauthorized, "no").is_retryable());
    }

    #[test]
    fn display_keeps_message_context_and_source() {
        let e =
            Error::invalid_config("url", "not a URL").with_source(std::io::Error::other("boom"));
        let s = e.to_string();
        assert!(s.contains("invalid_config: not a URL"), "{s}");
        assert!(s.contains("key: url"), "{s}");
        assert!(s.contains("boom"), "{s}");
    }
}
