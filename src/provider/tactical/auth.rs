//! Credentials: the API key header, or a Knox session obtained through Tactical's login flow
//! and reused until it expires.
//!
//! The login flow (as the dashboard does it): `POST /v2/checkcreds/ {username, password}`
//! answers with a token straight away for accounts without two-factor authentication, or
//! `{"totp": true}`; only then is `POST /v2/login/ {username, password, twofactor}` called
//! (without `twofactor` that endpoint fails with HTTP 500). An account with 2FA cannot log in
//! unattended: [`TotpRequired`] tells the admin to supply a code.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use super::client::{Call, SERVICE, Transport, decode, error_detail, status_error};
use super::config::{KnoxToken, TacticalAuth};
use super::dto::{CheckCredsDto, LoginDto};
use crate::error::{Error, ErrorKind, Result};

const CHECKCREDS: &str = "v2/checkcreds/";
const LOGIN: &str = "v2/login/";
/// Knox extends a token on use only when that moves its expiry by more than this
/// (`MIN_REFRESH_INTERVAL`).
const KNOX_MIN_REFRESH: Duration = Duration::from_secs(600);
/// A token this close to its expiry is replaced before use rather than risk a 401 mid-run.
const EXPIRY_MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// The typed cause of a [`crate::ErrorKind::ReconnectRequired`] error: the Knox session is
/// gone (never established, expired or revoked) and the account has two-factor
/// authentication, so a new session needs a current TOTP code.
///
/// ```
/// # use rmm_sync::provider::tactical::TotpRequired;
/// fn needs_code(e: &rmm_sync::Error) -> bool {
///     TotpRequired::is(e)
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TotpRequired {
    /// The account that needs the code.
    pub username: String,
}

impl TotpRequired {
    /// Whether `error` was caused by a missing TOTP code.
    pub fn is(error: &Error) -> bool {
        std::error::Error::source(error)
            .and_then(|s| s.downcast_ref::<TotpRequired>())
            .is_some()
    }

    fn into_error(self) -> Error {
        let message = format!(
            "{SERVICE} user {:?} has two-factor authentication and its session is gone: a new TOTP code is needed. \
             Call TacticalProvider::login_with_totp with the current code from the authenticator app \
             (the session then lasts as long as syncs keep using it), or switch the integration to an API key, which bypasses 2FA",
            self.username
        );
        Error::new(ErrorKind::ReconnectRequired, message)
            .with_context("auth", "totp_required")
            .with_source(self)
    }
}

impl fmt::Display for TotpRequired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a TOTP code is required for user {:?}", self.username)
    }
}

impl std::error::Error for TotpRequired {}

/// The credential attached to one request; for Knox, the token it carried (to tell a stale
/// session from a fresh one after a 401).
#[derive(Clone)]
pub(crate) struct Credential {
    header: (HeaderName, HeaderValue),
    knox_token: Option<SecretString>,
}

impl Credential {
    pub(crate) fn header(&self) -> (HeaderName, HeaderValue) {
        self.header.clone()
    }

    pub(crate) fn is_knox(&self) -> bool {
        self.knox_token.is_some()
    }
}

/// How requests authenticate.
pub(crate) enum Auth {
    ApiKey(SecretString),
    Knox(KnoxSession),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::ApiKey(_) => f.write_str("ApiKey(<redacted>)"),
            Auth::Knox(k) => f
                .debug_struct("Knox")
                .field("username", &k.username)
                .finish_non_exhaustive(),
        }
    }
}

impl Auth {
    pub(crate) fn new(config: &TacticalAuth, ttl: Duration) -> Self {
        match config {
            TacticalAuth::ApiKey { api_key } => Auth::ApiKey(api_key.clone()),
            TacticalAuth::Knox {
                username,
                password,
                token,
            } => Auth::Knox(KnoxSession {
                username: username.clone(),
                password: password.clone(),
                ttl,
                token: Mutex::new(token.clone()),
            }),
        }
    }

    /// The credential for the next request (logging in first when the Knox session is gone).
    pub(crate) async fn credential(&self, transport: &Transport) -> Result<Credential> {
        match self {
            Auth::ApiKey(key) => Ok(Credential {
                header: (
                    HeaderName::from_static("x-api-key"),
                    sensitive(key.expose_secret())?,
                ),
                knox_token: None,
            }),
            Auth::Knox(session) => session.credential(transport, None).await,
        }
    }

    /// The server accepted `used`: a Knox token was just extended.
    pub(crate) async fn accepted(&self, used: &Credential) {
        if let (Auth::Knox(session), Some(token)) = (self, &used.knox_token) {
            session.extend(token).await;
        }
    }

    /// The server rejected `used` (401): forget that Knox session so the next credential
    /// logs in again. Returns whether a fresh login can be tried.
    pub(crate) async fn rejected(&self, used: &Credential) -> bool {
        match (self, &used.knox_token) {
            (Auth::Knox(session), Some(token)) => {
                session.forget(token).await;
                true
            }
            _ => false,
        }
    }
}

/// A Knox session: credentials, and the current token behind a lock, so concurrent requests
/// that find it missing log in once (single flight).
pub(crate) struct KnoxSession {
    pub(crate) username: String,
    password: SecretString,
    ttl: Duration,
    token: Mutex<Option<KnoxToken>>,
}

impl KnoxSession {
    /// The current session's credential, logging in (with `totp` when given) when there is no
    /// usable session or when a code is given.
    pub(crate) async fn credential(
        &self,
        transport: &Transport,
        totp: Option<&str>,
    ) -> Result<Credential> {
        let mut slot = self.token.lock().await;
        let usable = slot
            .as_ref()
            .filter(|t| Utc::now() + EXPIRY_MARGIN < t.expires_at)
            .cloned();
        let token = match (usable, totp) {
            (Some(t), None) => t,
            _ => {
                let fresh = self.login(transport, totp).await?;
                *slot = Some(fresh.clone());
                fresh
            }
        };
        let value = format!("Token {}", token.token.expose_secret());
        Ok(Credential {
            header: (AUTHORIZATION, sensitive(&value)?),
            knox_token: Some(token.token),
        })
    }

    /// The saved session, for hosts that persist it.
    pub(crate) async fn current(&self) -> Option<KnoxToken> {
        self.token.lock().await.clone()
    }

    async fn extend(&self, used: &SecretString) {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_mut().filter(|t| same(&t.token, used)) {
            let ttl = chrono::Duration::from_std(self.ttl.saturating_sub(KNOX_MIN_REFRESH))
                .unwrap_or(chrono::TimeDelta::zero());
            t.expires_at = t.expires_at.max(Utc::now() + ttl);
        }
    }

    async fn forget(&self, used: &SecretString) {
        let mut slot = self.token.lock().await;
        if slot.as_ref().is_some_and(|t| same(&t.token, used)) {
            *slot = None;
        }
    }

    async fn login(&self, transport: &Transport, totp: Option<&str>) -> Result<KnoxToken> {
        let creds = serde_json::json!({
            "username": self.username,
            "password": self.password.expose_secret(),
        });
        let response = transport.send(&Call::post(CHECKCREDS, &creds)).await?;
        if response.status.as_u16() == 400 {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "{SERVICE} rejected the user name or password of user {:?} ({})",
                    self.username,
                    error_detail(&response)
                ),
            ));
        }
        if !response.status.is_success() {
            return Err(status_error(&response, &reqwest::Method::POST, CHECKCREDS));
        }
        let checked: CheckCredsDto = decode(&response, CHECKCREDS)?;
        if !checked.totp {
            let token = checked.token.filter(|t| !t.is_empty()).ok_or_else(|| {
                Error::new(
                    ErrorKind::Decode,
                    format!("{SERVICE} accepted the credentials but returned no token"),
                )
            })?;
            return Ok(knox_token(token, checked.expiry));
        }
        let Some(code) = totp.map(str::trim).filter(|c| !c.is_empty()) else {
            return Err(TotpRequired {
                username: self.username.clone(),
            }
            .into_error());
        };
        let body = serde_json::json!({
            "username": self.username,
            "password": self.password.expose_secret(),
            "twofactor": code,
        });
        let response = transport.send(&Call::post(LOGIN, &body)).await?;
        if response.status.as_u16() == 400 {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "{SERVICE} did not accept the TOTP code for user {:?} ({}); codes change every 30 seconds, use the current one",
                    self.username,
                    error_detail(&response)
                ),
            )
            .with_context("auth", "totp_rejected"));
        }
        if !response.status.is_success() {
            return Err(status_error(&response, &reqwest::Method::POST, LOGIN));
        }
        let login: LoginDto = decode(&response, LOGIN)?;
        Ok(knox_token(login.token, login.expiry))
    }
}

/// A token from a login answer. Without an expiry, assume the short-lived checkcreds token
/// (3 minutes); the first use extends it anyway.
fn knox_token(token: String, expiry: Option<DateTime<Utc>>) -> KnoxToken {
    KnoxToken {
        token: SecretString::from(token),
        expires_at: expiry.unwrap_or_else(|| Utc::now() + chrono::TimeDelta::seconds(180)),
    }
}

fn same(a: &SecretString, b: &SecretString) -> bool {
    a.expose_secret() == b.expose_secret()
}

/// A header value marked sensitive (kept out of reqwest's debug output and HTTP/2 indexing).
fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_config(
            "auth",
            "the credential contains characters that cannot be sent in an HTTP header",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_required_is_typed_actionable_and_secret_free() {
        let e = TotpRequired {
            username: "admin".into(),
        }
        .into_error();
        assert_eq!(e.kind(), ErrorKind::ReconnectRequired);
        assert!(TotpRequired::is(&e));
        assert!(e.message().contains("login_with_totp"), "{e}");
        assert!(e.message().contains("API key"), "{e}");
        assert!(!TotpRequired::is(&Error::new(
            ErrorKind::ReconnectRequired,
            "x"
        )));
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let auth = Auth::new(
            &TacticalAuth::knox("admin", "hunter2"),
            Duration::from_secs(60),
        );
        assert!(!format!("{auth:?}").contains("hunter2"));
        let auth = Auth::new(&TacticalAuth::api_key("K3YSECRET"), Duration::from_secs(60));
        assert!(!format!("{auth:?}").contains("K3YSECRET"));
    }

    #[test]
    fn bad_header_characters_are_a_config_error() {
        let e = sensitive("line\nbreak").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(!e.to_string().contains("break"));
    }
}
