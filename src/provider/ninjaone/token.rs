//! The host-provided token store: where the tokens of an authorization-code grant live, shared
//! by every worker, updated only by compare-and-swap.
//!
//! NinjaOne rotates refresh tokens: spending one returns a new one and invalidates the old. Two
//! workers that both spend the same refresh token lose the grant (the second gets
//! `invalid_grant`). The adapter prevents that with the store:
//!
//! 1. it reads the record; fresh tokens written by another worker are simply used;
//! 2. otherwise it *claims* the refresh by writing a [`RefreshClaim`] with compare-and-swap on the
//!    record's version — only one worker can win that write;
//! 3. the winner spends the refresh token and writes the rotated tokens (again by version);
//!    the others wait for the new tokens instead of spending the old refresh token;
//! 4. a claim expires, so a worker that crashed mid-refresh blocks the others only briefly.
//!
//! A grant NinjaOne rejects (`invalid_grant`, `invalid_token`) is recorded as
//! [`TokenRecord::reconnect_required`], so other workers fail fast with
//! [`crate::ErrorKind::ReconnectRequired`] instead of trying again.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::error::Result;

/// The tokens of one OAuth grant.
#[derive(Clone)]
pub struct OAuthTokens {
    /// The bearer token.
    pub access_token: SecretString,
    /// The refresh token (authorization-code grants with `offline_access`).
    pub refresh_token: Option<SecretString>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("access_token", &"[redacted]")
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "[redacted]"),
            )
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A worker's claim on the next refresh.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshClaim {
    /// Who claimed (a random id per adapter instance).
    pub holder: String,
    /// When the claim lapses if the holder never finishes.
    pub expires_at: DateTime<Utc>,
}

/// What a [`TokenStore`] keeps for one grant. Store it as one unit (encrypted: it holds
/// secrets) next to a version number.
#[derive(Clone, Debug)]
pub struct TokenRecord {
    /// The current tokens.
    pub tokens: OAuthTokens,
    /// A refresh in progress, if any.
    pub refresh_claim: Option<RefreshClaim>,
    /// Set when NinjaOne rejected the grant: an administrator must connect again (the host then
    /// writes a fresh record).
    pub reconnect_required: Option<String>,
}

impl TokenRecord {
    /// A record for freshly obtained tokens (after the authorization-code exchange).
    pub fn new(tokens: OAuthTokens) -> Self {
        Self {
            tokens,
            refresh_claim: None,
            reconnect_required: None,
        }
    }
}

/// A record with the version it was read at.
#[derive(Clone, Debug)]
pub struct VersionedTokenRecord {
    /// Bumped by every successful [`TokenStore::compare_and_swap`].
    pub version: u64,
    /// The record.
    pub record: TokenRecord,
}

/// Where a host keeps OAuth tokens, shared by all its workers (a database row with a version
/// column, a secrets manager with check-and-set …).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use rmm_sync::provider::ninjaone::{InMemoryTokenStore, OAuthTokens, TokenRecord, TokenStore};
/// let store = InMemoryTokenStore::new();
/// let tokens = OAuthTokens {
///     access_token: "at".to_owned().into(),
///     refresh_token: Some("rt".to_owned().into()),
///     expires_at: chrono::Utc::now(),
/// };
/// let v1 = store.compare_and_swap("grant", None, &TokenRecord::new(tokens.clone())).await?;
/// assert_eq!(v1, Some(1));
/// // A writer that read no record (version None) loses against the first writer.
/// assert_eq!(store.compare_and_swap("grant", None, &TokenRecord::new(tokens)).await?, None);
/// # Ok::<(), rmm_sync::Error>(())
/// # }).unwrap();
/// ```
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug + 'static {
    /// The record of `key`, with its version; `None` when nothing was stored.
    async fn load(&self, key: &str) -> Result<Option<VersionedTokenRecord>>;

    /// Replaces the record of `key` with `record` only if its version is still
    /// `expected_version` (`None`: only if there is no record). Returns the new version, or
    /// `None` when another writer got there first (nothing written).
    async fn compare_and_swap(
        &self,
        key: &str,
        expected_version: Option<u64>,
        record: &TokenRecord,
    ) -> Result<Option<u64>>;
}

/// A [`TokenStore`] in process memory: for tests, examples, and single-process hosts that
/// re-connect after a restart.
#[derive(Default)]
pub struct InMemoryTokenStore {
    records: Mutex<HashMap<String, VersionedTokenRecord>>,
}

impl InMemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for InMemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = self
            .records
            .lock()
            .map(|r| r.len())
            .unwrap_or_else(|p| p.into_inner().len());
        f.debug_struct("InMemoryTokenStore")
            .field("grants", &keys)
            .finish()
    }
}

#[async_trait]
impl TokenStore for InMemoryTokenStore {
    async fn load(&self, key: &str) -> Result<Option<VersionedTokenRecord>> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        Ok(records.get(key).cloned())
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected_version: Option<u64>,
        record: &TokenRecord,
    ) -> Result<Option<u64>> {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        let current = records.get(key).map(|r| r.version);
        if current != expected_version {
            return Ok(None);
        }
        let version = current.unwrap_or(0) + 1;
        records.insert(
            key.to_owned(),
            VersionedTokenRecord {
                version,
                record: record.clone(),
            },
        );
        Ok(Some(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(access: &str) -> TokenRecord {
        TokenRecord::new(OAuthTokens {
            access_token: access.to_owned().into(),
            refresh_token: Some("refresh-secret".to_owned().into()),
            expires_at: Utc::now(),
        })
    }

    #[tokio::test]
    async fn swaps_only_from_the_expected_version() {
        let store = InMemoryTokenStore::new();
        assert!(store.load("k").await.unwrap().is_none());
        assert_eq!(
            store
                .compare_and_swap("k", None, &record("a"))
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            store
                .compare_and_swap("k", Some(7), &record("b"))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            store
                .compare_and_swap("k", Some(1), &record("c"))
                .await
                .unwrap(),
            Some(2)
        );
        let loaded = store.load("k").await.unwrap().unwrap();
        assert_eq!(loaded.version, 2);
        use secrecy::ExposeSecret;
        assert_eq!(loaded.record.tokens.access_token.expose_secret(), "c");
        assert!(store.load("other").await.unwrap().is_none());
    }

    #[test]
    fn debug_output_hides_tokens() {
        let shown = format!("{:?}", record("access-secret"));
        assert!(!shown.contains("secret"), "{shown}");
    }
}
