//! OAuth: client credentials, the authorization-code connect flow, and single-flight,
//! proactive token refresh that never spends a refresh token twice (see [`super::token`]).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::config::{Credentials, NinjaOneConfig, join};
use super::token::{OAuthTokens, RefreshClaim, TokenRecord, TokenStore, VersionedTokenRecord};
use super::wire::{OAuthError, TokenResponse};
use crate::error::{Error, ErrorKind, Result};
use crate::provider::http::{
    HttpResponse, Idempotency, RetryConfig, constant_time_eq, retry, send,
};

const SERVICE: &str = "NinjaOne OAuth";
/// How often a worker waiting for another worker's refresh looks at the store again.
const CLAIM_POLL: Duration = Duration::from_millis(100);

/// An access token and the generation it belongs to (to tell which token a 401 refused).
#[derive(Clone)]
pub(crate) struct AccessToken {
    pub(crate) secret: SecretString,
    pub(crate) generation: u64,
    pub(crate) expires_at: DateTime<Utc>,
}

struct Cached {
    token: SecretString,
    expires_at: DateTime<Utc>,
    generation: u64,
}

enum Grant {
    ClientCredentials,
    Stored {
        store: Arc<dyn TokenStore>,
        key: String,
    },
}

/// Hands out access tokens; refreshes them before they expire, one refresh at a time.
pub(crate) struct TokenManager {
    http: reqwest::Client,
    token_url: Url,
    client_id: String,
    client_secret: SecretString,
    grant: Grant,
    oauth_scope: String,
    refresh_before: chrono::Duration,
    claim_ttl: chrono::Duration,
    retry: RetryConfig,
    max_bytes: usize,
    /// Identifies this instance's claims in the token store.
    holder: String,
    cache: Mutex<Option<Cached>>,
    /// The token the API last refused: not reused even if the store still calls it fresh.
    refused: Mutex<Option<SecretString>>,
    /// Single flight: one refresh per instance at a time.
    flight: tokio::sync::Mutex<()>,
    generation: AtomicU64,
}

impl std::fmt::Debug for TokenManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenManager")
            .field("token_url", &self.token_url.as_str())
            .field("client_id", &self.client_id)
            .field(
                "grant",
                &match self.grant {
                    Grant::ClientCredentials => "client_credentials",
                    Grant::Stored { .. } => "authorization_code",
                },
            )
            .finish_non_exhaustive()
    }
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl TokenManager {
    pub(crate) fn new(config: &NinjaOneConfig, base: &Url, http: reqwest::Client) -> Self {
        let (client_id, client_secret, grant) = match &config.credentials {
            Credentials::ClientCredentials {
                client_id,
                client_secret,
            } => (
                client_id.clone(),
                client_secret.clone(),
                Grant::ClientCredentials,
            ),
            Credentials::AuthorizationCode {
                client_id,
                client_secret,
                store,
                token_key,
            } => (
                client_id.clone(),
                client_secret.clone(),
                Grant::Stored {
                    store: Arc::clone(store),
                    key: token_key.clone(),
                },
            ),
        };
        Self {
            http,
            token_url: join(base, &config.token_path),
            client_id,
            client_secret,
            grant,
            oauth_scope: config.oauth_scope.clone(),
            refresh_before: chrono_duration(config.refresh_before_expiry),
            claim_ttl: chrono_duration(config.refresh_claim_ttl),
            retry: config.retry.clone(),
            max_bytes: config.http.max_response_bytes,
            holder: uuid::Uuid::new_v4().to_string(),
            cache: Mutex::new(None),
            refused: Mutex::new(None),
            flight: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
        }
    }

    /// A usable access token: the cached one while it is more than `refresh_before` from
    /// expiry, else a refreshed one (single flight: concurrent callers wait for one refresh).
    pub(crate) async fn access_token(&self) -> Result<AccessToken> {
        if let Some(t) = self.cached_fresh() {
            return Ok(t);
        }
        let _flight = self.flight.lock().await;
        if let Some(t) = self.cached_fresh() {
            return Ok(t);
        }
        let tokens = match &self.grant {
            Grant::ClientCredentials => self.client_credentials().await?,
            Grant::Stored { store, key } => self.refresh_stored(store.as_ref(), key).await?,
        };
        Ok(self.remember(&tokens))
    }

    /// Refreshes now if the token is due (hosts may call this on a timer, so an idle
    /// integration's grant is kept alive before it expires).
    pub(crate) async fn refresh_if_due(&self) -> Result<DateTime<Utc>> {
        Ok(self.access_token().await?.expires_at)
    }

    /// The API refused `token` (HTTP 401): forget it so the next call refreshes. A refusal of
    /// an older generation is ignored (another caller already replaced it).
    pub(crate) fn refused(&self, token: &AccessToken) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache
            .as_ref()
            .is_some_and(|c| c.generation == token.generation)
        {
            *cache = None;
            *self.refused.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.secret.clone());
        }
    }

    fn is_fresh(&self, expires_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now + self.refresh_before < expires_at
    }

    fn cached_fresh(&self) -> Option<AccessToken> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let c = cache.as_ref()?;
        self.is_fresh(c.expires_at, Utc::now())
            .then(|| AccessToken {
                secret: c.token.clone(),
                generation: c.generation,
                expires_at: c.expires_at,
            })
    }

    fn remember(&self, tokens: &OAuthTokens) -> AccessToken {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(Cached {
            token: tokens.access_token.clone(),
            expires_at: tokens.expires_at,
            generation,
        });
        AccessToken {
            secret: tokens.access_token.clone(),
            generation,
            expires_at: tokens.expires_at,
        }
    }

    fn was_refused(&self, token: &SecretString) -> bool {
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        refused.as_ref().is_some_and(|r| {
            constant_time_eq(
                r.expose_secret().as_bytes(),
                token.expose_secret().as_bytes(),
            )
        })
    }

    async fn client_credentials(&self) -> Result<OAuthTokens> {
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("scope", self.oauth_scope.as_str()),
        ];
        retry(&self.retry, Idempotency::Idempotent, || {
            self.post_token(&form, GrantKind::ClientCredentials)
        })
        .await
    }

    /// Spends a refresh token. Only a throttled request (which the server did not process) is
    /// retried: repeating a refresh the server may have processed would spend the token twice.
    async fn spend_refresh_token(&self, refresh_token: &SecretString) -> Result<OAuthTokens> {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.expose_secret()),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
        ];
        retry(&self.retry, Idempotency::Idempotent, || async {
            match self.post_token(&form, GrantKind::Refresh).await {
                Err(e) if e.kind() != ErrorKind::RateLimited => Err(e.set_persistent()),
                other => other,
            }
        })
        .await
    }

    async fn post_token(&self, form: &[(&str, &str)], grant: GrantKind) -> Result<OAuthTokens> {
        let request = self.http.post(self.token_url.clone()).form(form);
        let response = send(request, self.max_bytes, SERVICE).await?;
        parse_token_response(&response, grant, Utc::now())
    }

    /// The authorization-code path: fresh tokens from the store, else claim, refresh, persist.
    async fn refresh_stored(&self, store: &dyn TokenStore, key: &str) -> Result<OAuthTokens> {
        // Waiting for another worker's claim never takes longer than the claim itself.
        let give_up = tokio::time::Instant::now()
            + self.claim_ttl.to_std().unwrap_or(Duration::from_secs(120))
            + Duration::from_secs(5);
        loop {
            let Some(current) = store.load(key).await? else {
                return Err(reconnect(
                    "no NinjaOne tokens are stored for this connection; connect it first",
                ));
            };
            if let Some(reason) = &current.record.reconnect_required {
                return Err(reconnect(&format!(
                    "the NinjaOne connection must be re-authorized: {reason}"
                )));
            }
            let now = Utc::now();
            let tokens = &current.record.tokens;
            if self.is_fresh(tokens.expires_at, now) && !self.was_refused(&tokens.access_token) {
                // Another worker refreshed already (or the tokens are simply still good).
                return Ok(tokens.clone());
            }
            if let Some(claim) = &current.record.refresh_claim
                && claim.expires_at > now
                && claim.holder != self.holder
            {
                if tokio::time::Instant::now() >= give_up {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        "another worker has been refreshing the NinjaOne token for longer than its claim allows",
                    ));
                }
                tokio::time::sleep(CLAIM_POLL).await;
                continue;
            }
            let Some(refresh_token) = tokens.refresh_token.clone() else {
                return Err(reconnect(
                    "the stored NinjaOne grant has no refresh token (was offline_access granted?)",
                ));
            };
            let mut claimed = current.record.clone();
            claimed.refresh_claim = Some(RefreshClaim {
                holder: self.holder.clone(),
                expires_at: now + self.claim_ttl,
            });
            let Some(claimed_version) = store
                .compare_and_swap(key, Some(current.version), &claimed)
                .await?
            else {
                continue; // another worker wrote first: look again
            };
            return match self.spend_refresh_token(&refresh_token).await {
                Ok(mut fresh) => {
                    // NinjaOne rotates refresh tokens; keep the old one only if none came back.
                    if fresh.refresh_token.is_none() {
                        fresh.refresh_token = Some(refresh_token);
                    }
                    self.persist(store, key, claimed_version, &fresh).await?;
                    tracing::info!(expires_at = %fresh.expires_at, "NinjaOne token refreshed");
                    Ok(fresh)
                }
                Err(e) => {
                    let mut after = current.record.clone();
                    after.refresh_claim = None;
                    if e.kind() == ErrorKind::ReconnectRequired {
                        after.reconnect_required = Some(e.message().to_owned());
                    }
                    // Best effort: a lost write only delays the others until the claim lapses.
                    if let Err(write) = store
                        .compare_and_swap(key, Some(claimed_version), &after)
                        .await
                    {
                        tracing::warn!(error = %write, "could not release the NinjaOne refresh claim");
                    }
                    Err(e)
                }
            };
        }
    }

    /// Writes rotated tokens. They are the newest by construction (the old refresh token is
    /// spent), so a version conflict (our claim lapsed and someone else wrote) is overwritten.
    async fn persist(
        &self,
        store: &dyn TokenStore,
        key: &str,
        claimed_version: u64,
        tokens: &OAuthTokens,
    ) -> Result<()> {
        let record = TokenRecord::new(tokens.clone());
        let mut expected = Some(claimed_version);
        for _ in 0..5 {
            let written = store.compare_and_swap(key, expected, &record).await;
            match written {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => {
                    tracing::warn!(
                        "NinjaOne refresh claim lapsed before the rotated tokens were saved; overwriting"
                    );
                    expected = store
                        .load(key)
                        .await?
                        .map(|r: VersionedTokenRecord| r.version);
                }
                Err(e) => {
                    // Keep the tokens usable in this process; the error says what is at stake.
                    self.remember(tokens);
                    return Err(Error::new(
                        e.kind(),
                        "the rotated NinjaOne tokens could not be saved in the token store; other workers will need a reconnect",
                    )
                    .with_source(e));
                }
            }
        }
        self.remember(tokens);
        Err(Error::new(
            ErrorKind::Conflict,
            "the rotated NinjaOne tokens could not be saved: the token store kept changing",
        ))
    }
}

/// Which grant a token request was for (decides what a rejection means).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GrantKind {
    ClientCredentials,
    Refresh,
    AuthorizationCode,
}

fn reconnect(message: &str) -> Error {
    Error::new(ErrorKind::ReconnectRequired, message.to_owned())
}

/// Judges a token endpoint response: tokens, or an error whose kind says what to do.
pub(crate) fn parse_token_response(
    response: &HttpResponse,
    grant: GrantKind,
    now: DateTime<Utc>,
) -> Result<OAuthTokens> {
    if response.status.is_success() {
        let body: TokenResponse = response.json(SERVICE)?;
        if body.access_token.trim().is_empty() {
            return Err(Error::new(
                ErrorKind::Decode,
                "NinjaOne OAuth returned an empty access token",
            ));
        }
        let lifetime = body
            .expires_in
            .filter(|s| s.is_finite() && *s > 0.0)
            .unwrap_or(3600.0);
        return Ok(OAuthTokens {
            access_token: body.access_token.into(),
            refresh_token: body
                .refresh_token
                .filter(|t| !t.trim().is_empty())
                .map(SecretString::from),
            expires_at: now + chrono::Duration::milliseconds((lifetime * 1000.0) as i64),
        });
    }
    let code = response.status.as_u16();
    if !matches!(code, 400 | 401 | 403) {
        return Err(response.status_error(SERVICE));
    }
    let oauth: OAuthError = serde_json::from_slice(&response.body).unwrap_or_default();
    let error = oauth.error.unwrap_or_default();
    let description = oauth.error_description.unwrap_or_default();
    let said = if error.is_empty() {
        format!("HTTP {code}")
    } else if description.is_empty() {
        error.clone()
    } else {
        format!("{error}: {description}")
    };
    let lower = description.to_ascii_lowercase();
    let grant_gone = matches!(error.as_str(), "invalid_grant" | "invalid_token")
        || lower.contains("invalid token")
        || lower.contains("invalid refresh");
    let (kind, message) = match grant {
        GrantKind::Refresh if grant_gone => (
            ErrorKind::ReconnectRequired,
            format!(
                "NinjaOne rejected the refresh token ({said}); an administrator must connect the integration again"
            ),
        ),
        GrantKind::AuthorizationCode if grant_gone => (
            ErrorKind::Unauthorized,
            format!(
                "NinjaOne rejected the authorization code ({said}); codes are single-use and short-lived, start the connect flow again"
            ),
        ),
        _ if error == "invalid_client" || error == "unauthorized_client" => (
            ErrorKind::Unauthorized,
            format!("NinjaOne rejected the client id or secret ({said})"),
        ),
        _ if error == "invalid_scope" || code == 403 => (
            ErrorKind::Forbidden,
            format!("NinjaOne refused the requested OAuth scope ({said})"),
        ),
        _ => (
            ErrorKind::Unauthorized,
            format!("NinjaOne refused the token request ({said})"),
        ),
    };
    Err(Error::new(kind, message).with_context("status", code))
}

/// The URL an administrator opens to connect a NinjaOne "Web" application (authorization-code
/// flow). `state` must be an unguessable value the host checks in its callback. The scope adds
/// `offline_access` so NinjaOne issues a refresh token.
///
/// ```
/// use rmm_sync::provider::ninjaone::{authorization_url, Credentials, Instance, InMemoryTokenStore, NinjaOneConfig, Region};
/// use std::sync::Arc;
/// let config = NinjaOneConfig::new(
///     Instance::Region(Region::Eu),
///     Credentials::authorization_code("web-app", "secret".to_owned().into(), Arc::new(InMemoryTokenStore::new()), "integration-1"),
/// );
/// let url = authorization_url(&config, "https://psa.example/ninjaone/callback", "st4te").unwrap();
/// assert!(url.as_str().starts_with("https://eu.ninjarmm.com/ws/oauth/authorize?"));
/// assert!(url.query().unwrap().contains("offline_access"));
/// ```
pub fn authorization_url(config: &NinjaOneConfig, redirect_uri: &str, state: &str) -> Result<Url> {
    let base = config.validate()?;
    let mut url = join(&base, &config.authorize_path);
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", config.credentials.client_id())
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &code_flow_scope(&config.oauth_scope))
        .append_pair("state", state);
    Ok(url)
}

fn code_flow_scope(scope: &str) -> String {
    if scope.split_whitespace().any(|s| s == "offline_access") {
        scope.to_owned()
    } else {
        format!("{scope} offline_access")
    }
}

/// Exchanges the code NinjaOne sent to the host's callback for tokens. Store them with
/// [`TokenStore::compare_and_swap`] (as a [`TokenRecord::new`]) under the grant's key.
pub async fn exchange_authorization_code(
    config: &NinjaOneConfig,
    code: &str,
    redirect_uri: &str,
) -> Result<OAuthTokens> {
    let base = config.validate()?;
    let http = config.http.build_client()?;
    let (client_id, client_secret) = match &config.credentials {
        Credentials::ClientCredentials {
            client_id,
            client_secret,
        }
        | Credentials::AuthorizationCode {
            client_id,
            client_secret,
            ..
        } => (client_id, client_secret),
    };
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("client_id", client_id.as_str()),
        ("client_secret", client_secret.expose_secret()),
    ];
    let request = http.post(join(&base, &config.token_path)).form(&form);
    let response = send(request, config.http.max_response_bytes, SERVICE).await?;
    let tokens = parse_token_response(&response, GrantKind::AuthorizationCode, Utc::now())?;
    if tokens.refresh_token.is_none() {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "NinjaOne issued no refresh token: the application needs the offline_access scope and the refresh_token grant",
        ));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};

    fn response(status: u16, body: &str) -> HttpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn a_spent_or_revoked_refresh_token_means_reconnect() {
        let now = Utc::now();
        for body in [
            r#"{"error":"invalid_grant","error_description":"Refresh token already used"}"#,
            r#"{"error":"invalid_token"}"#,
            r#"{"error":"unauthorized","error_description":"Invalid refresh token"}"#,
        ] {
            let e =
                parse_token_response(&response(400, body), GrantKind::Refresh, now).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::ReconnectRequired, "{body}");
        }
        let e = parse_token_response(
            &response(401, r#"{"error":"invalid_client"}"#),
            GrantKind::ClientCredentials,
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.message().contains("client id or secret"), "{e}");
        let e = parse_token_response(&response(503, "{}"), GrantKind::Refresh, now).unwrap_err();
        assert!(e.is_retryable());
    }

    #[test]
    fn token_lifetimes_come_from_expires_in() {
        let now = Utc::now();
        let t = parse_token_response(
            &response(
                200,
                r#"{"access_token":"a","refresh_token":"r","expires_in":60,"token_type":"Bearer"}"#,
            ),
            GrantKind::Refresh,
            now,
        )
        .unwrap();
        assert_eq!(t.expires_at, now + chrono::Duration::seconds(60));
        assert!(t.refresh_token.is_some());
        let t = parse_token_response(
            &response(200, r#"{"access_token":"a"}"#),
            GrantKind::ClientCredentials,
            now,
        )
        .unwrap();
        assert_eq!(t.expires_at, now + chrono::Duration::seconds(3600));
        assert!(t.refresh_token.is_none());
        let e = parse_token_response(
            &response(200, r#"{"access_token":""}"#),
            GrantKind::ClientCredentials,
            now,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
    }

    #[test]
    fn the_code_flow_asks_for_offline_access_once() {
        assert_eq!(code_flow_scope("monitoring"), "monitoring offline_access");
        assert_eq!(
            code_flow_scope("monitoring offline_access"),
            "monitoring offline_access"
        );
    }
}
