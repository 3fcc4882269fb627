//! Connection options, the pool, and a password-free rendering of the URL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::errors::map_err;
use crate::error::{Error, Result};

/// Connections in the pool: enough for concurrent runs of several integrations on one host.
const MAX_CONNECTIONS: u32 = 10;
/// How long a caller waits for a pooled connection before the store reports `Unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The pool options `connect` uses.
pub(super) fn pool_options() -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(MAX_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
}

/// Parses the URL and marks our sessions, so the `updated_at` trigger knows rmm-sync sets
/// `updated_at` itself.
pub(super) fn connect_options(url: &str) -> Result<PgConnectOptions> {
    // The parse error is dropped on purpose: it may quote the URL, password included.
    let options = PgConnectOptions::from_str(url).map_err(|_| {
        Error::invalid_config(
            "url",
            format!("{} is not a valid PostgreSQL URL", redact_url(url)),
        )
    })?;
    Ok(options
        .application_name("rmm-sync")
        .options([("rmm_sync.writer", "on")]))
}

/// Opens a pool (connecting once, so a bad URL or an unreachable server fails here).
pub(super) async fn open_pool(url: &str) -> Result<PgPool> {
    let options = connect_options(url)?;
    pool_options()
        .connect_with(options)
        .await
        .map_err(|e| map_err("connect", e).with_context("url", redact_url(url)))
}

/// The URL with any password replaced by `***`.
pub(super) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparseable url>".into();
    };
    // userinfo ends at the last '@' before the first '/', '?' or '#'.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            let query_free = strip_password_param(&rest[authority_end..]);
            format!("{scheme}://{masked}@{}{query_free}", &authority[at + 1..])
        }
        None => format!(
            "{scheme}://{authority}{}",
            strip_password_param(&rest[authority_end..])
        ),
    }
}

/// Drops a `password=` query parameter.
fn strip_password_param(tail: &str) -> String {
    let Some((path, query)) = tail.split_once('?') else {
        return tail.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
        .collect();
    if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_survive_redaction() {
        let r = redact_url("postgres://app:s3cr3t@db.example:5432/psa?sslmode=require");
        assert_eq!(r, "postgres://app:***@db.example:5432/psa?sslmode=require");
        let r = redact_url("postgres://db/psa?user=app&password=s3cr3t");
        assert_eq!(r, "postgres://db/psa?user=app");
        assert_eq!(
            redact_url("postgres://a:p@ss@h/db"),
            "postgres://a:***@h/db"
        );
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
    }

    #[test]
    fn invalid_urls_name_the_key_without_the_password() {
        let e = connect_options("postgres://u:topsecret@h:notaport/db").unwrap_err();
        assert_eq!(e.context("key"), Some("url"));
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }
}
