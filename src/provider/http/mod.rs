//! Shared HTTP plumbing for provider adapters (feature `http`).
//!
//! - [`ClientOptions`] builds the one `reqwest` client an adapter uses: rustls, connect and
//!   request timeouts, a user agent, **no redirects**, and plain `http://` only for loopback
//!   hosts unless explicitly allowed ([`check_url`]).
//! - [`RetryConfig`] + [`retry`]: exponential backoff with full jitter, honouring
//!   `Retry-After` (seconds or HTTP date), for [`Idempotency::Idempotent`] calls only.
//! - [`send`] + [`HttpResponse`]: transport errors and statuses become [`crate::ErrorKind`]s
//!   (401 `Unauthorized`, 403 `Forbidden`, 429 `RateLimited`, 5xx `Unavailable`, 504 and
//!   timeouts `Timeout`), bodies are read with a size limit, and JSON is decoded only from JSON
//!   bodies: an HTML login page is reported as such.
//! - [`redact_url`]: URLs as they may appear in errors and traces.
//! - [`constant_time_eq`]: comparing shared secrets without a timing side channel.
//! - [`RateLimiter`]: a client-side request budget that a 429's `Retry-After` can pause.
//!
//! Secrets never reach this layer's messages: adapters put them in headers marked sensitive,
//! and errors carry statuses, redacted URLs and short body snippets only.

mod compare;
mod limit;
mod options;
mod redact;
mod response;
mod retry;

pub use compare::constant_time_eq;
pub use limit::{RateLimit, RateLimiter};
pub use options::{ClientOptions, check_url, is_loopback};
pub use redact::{redact_url, redact_url_str};
pub use response::{
    HttpResponse, is_login_location, is_transient_status, kind_for_status, send, transport_error,
};
pub use retry::{Idempotency, Jitter, RetryConfig, parse_retry_after, retry};
