//! Sending a request and judging the answer: transport errors and HTTP statuses become
//! [`ErrorKind`]s, bodies are read with a size limit, and JSON is only decoded from bodies that
//! are JSON (an HTML login page is named as such).

use std::time::Instant;

use chrono::Utc;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderMap, LOCATION, RETRY_AFTER};
use serde::de::DeserializeOwned;

use super::redact::{redact_url, redact_url_str};
use super::retry::parse_retry_after;
use crate::error::{Error, ErrorKind, Result};

/// A fully read HTTP response.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// Status code.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

/// Sends `request` and reads the whole body (at most `max_bytes`). Fails only on transport
/// problems: every HTTP status is returned for the caller to judge (see
/// [`HttpResponse::error_for_status`]). `service` names the remote side in messages
/// ("Tanium Gateway").
pub async fn send(
    request: reqwest::RequestBuilder,
    max_bytes: usize,
    service: &str,
) -> Result<HttpResponse> {
    let started = Instant::now();
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(e, service))?;
    let status = response.status();
    let url = redact_url(response.url());
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(e, service))?
    {
        if body.len() + chunk.len() > max_bytes {
            return Err(Error::new(
                ErrorKind::Decode,
                format!("{service} sent a response larger than {max_bytes} bytes"),
            )
            .with_context("url", url));
        }
        body.extend_from_slice(&chunk);
    }
    tracing::debug!(
        url = %url,
        status = status.as_u16(),
        bytes = body.len(),
        elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "provider response"
    );
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

/// Classifies a transport error; the URL is stripped from the source (it may carry a query
/// token) — callers add a redacted one as context when useful.
pub fn transport_error(e: reqwest::Error, service: &str) -> Error {
    let (kind, what) = if e.is_timeout() {
        (ErrorKind::Timeout, "did not answer in time")
    } else if e.is_connect() {
        (ErrorKind::Unavailable, "could not be reached")
    } else if e.is_redirect() {
        (ErrorKind::InvalidConfig, "redirected the request")
    } else if e.is_body() || e.is_decode() {
        (ErrorKind::Unavailable, "broke off the response")
    } else {
        (ErrorKind::Unavailable, "request failed")
    };
    Error::new(kind, format!("{service} {what}")).with_source(e.without_url())
}

/// The error kind for a non-success HTTP status.
pub fn kind_for_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        408 => ErrorKind::Timeout,
        409 => ErrorKind::Conflict,
        429 => ErrorKind::RateLimited,
        405 | 501 => ErrorKind::Unsupported,
        504 => ErrorKind::Timeout,
        500..=599 => ErrorKind::Unavailable,
        300..=399 => ErrorKind::InvalidConfig,
        _ => ErrorKind::Other,
    }
}

/// Whether a status is transient whatever the body says: 429 (throttled), 408 and every 5xx.
/// Adapters judge these before looking at the body — a front door's HTML page or a JSON
/// `{"errors": [...]}` on a 429 says nothing about the request, only "try again later".
pub fn is_transient_status(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// Whether a redirect target looks like a sign-in page (SSO, OpenID Connect, SAML).
pub fn is_login_location(location: &str) -> bool {
    let l = location.to_ascii_lowercase();
    [
        "login",
        "signin",
        "sign-in",
        "openid-connect",
        "/auth",
        "oauth",
        "saml",
        "sso",
    ]
    .iter()
    .any(|needle| l.contains(needle))
}

impl HttpResponse {
    /// The `Content-Type` header, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    /// The redirect target, redacted, if any.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(redact_url_str)
    }

    /// The provider's `Retry-After`, if it sent a usable one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        self.headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()))
    }

    /// Whether the body is an HTML page (by content type or by its first bytes).
    pub fn is_html(&self) -> bool {
        if self
            .content_type()
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("text/html"))
        {
            return true;
        }
        let start: Vec<u8> = self
            .body
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .take(15)
            .map(u8::to_ascii_lowercase)
            .collect();
        start.starts_with(b"<!doctype html") || start.starts_with(b"<html")
    }

    /// Whether the body plausibly is JSON: a JSON content type, or (without one) a body that
    /// starts like a JSON document.
    pub fn is_json(&self) -> bool {
        match self.content_type().map(str::to_ascii_lowercase) {
            Some(ct) => ct.contains("application/json") || ct.contains("+json"),
            None => self
                .body
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| matches!(b, b'{' | b'[')),
        }
    }

    /// The first characters of the body as one printable line (for error messages).
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let mut out: String = text
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(160)
            .collect();
        if text.chars().count() > 160 {
            out.push('…');
        }
        out.trim().to_owned()
    }

    /// The retryable error for a transient status ([`is_transient_status`]) — rate limited
    /// with the provider's `Retry-After`, unavailable or timed out — or `None` when the status
    /// is not transient and the body may be judged.
    pub fn transient_error(&self, service: &str) -> Option<Error> {
        is_transient_status(self.status).then(|| self.status_error(service))
    }

    /// `Ok(self)` for 2xx; otherwise the error for the status: 401 `Unauthorized`, 403
    /// `Forbidden`, 429 `RateLimited` with `Retry-After`, 5xx `Unavailable` (504 `Timeout`),
    /// a redirect `InvalidConfig` — or `Unauthorized` when it points at a login page.
    pub fn error_for_status(self, service: &str) -> Result<Self> {
        if self.status.is_success() {
            return Ok(self);
        }
        Err(self.status_error(service))
    }

    /// The error for this (non-success) response.
    pub fn status_error(&self, service: &str) -> Error {
        let status = self.status;
        let code = status.as_u16();
        if status.is_redirection() {
            let location = self.location().unwrap_or_else(|| "nowhere".into());
            let (kind, hint) = if is_login_location(&location) {
                (
                    ErrorKind::Unauthorized,
                    "a sign-in page: the credentials were not accepted",
                )
            } else {
                (
                    ErrorKind::InvalidConfig,
                    "another address: configure the final URL (redirects are not followed)",
                )
            };
            return Error::new(
                kind,
                format!("{service} redirected ({code}) to {location}, {hint}"),
            )
            .with_context("status", code);
        }
        let kind = kind_for_status(status);
        let detail = if self.is_html() {
            "an HTML page".to_owned()
        } else if self.body.is_empty() {
            "an empty body".to_owned()
        } else {
            format!("{:?}", self.snippet())
        };
        let mut e = Error::new(
            kind,
            format!(
                "{service} answered HTTP {code} {} with {detail}",
                status.canonical_reason().unwrap_or("")
            ),
        )
        .with_context("status", code);
        if let Some(wait) = self.retry_after() {
            e = e.with_retry_after(wait);
        }
        e
    }

    /// Decodes the body as JSON; a non-JSON body (an HTML login page, a proxy's text error) is
    /// a [`ErrorKind::Decode`] error that says what came instead.
    pub fn json<T: DeserializeOwned>(&self, service: &str) -> Result<T> {
        if self.is_html() {
            return Err(Error::new(
                ErrorKind::Decode,
                format!(
                    "{service} returned an HTML page instead of JSON (a login page or a proxy error page?)"
                ),
            ));
        }
        if !self.is_json() {
            return Err(Error::new(
                ErrorKind::Decode,
                format!(
                    "{service} returned {} instead of JSON: {:?}",
                    self.content_type().unwrap_or("a body without content type"),
                    self.snippet()
                ),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::new(
                ErrorKind::Decode,
                format!("{service} returned JSON of an unexpected shape"),
            )
            .with_source(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;
    use std::time::Duration;

    fn response(status: u16, content_type: Option<&str>, body: &str) -> HttpResponse {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        for (code, kind) in [
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Forbidden),
            (404, ErrorKind::NotFound),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::Unavailable),
            (502, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
            (504, ErrorKind::Timeout),
            (400, ErrorKind::Other),
        ] {
            let e = response(code, Some("text/plain"), "x").status_error("Svc");
            assert_eq!(e.kind(), kind, "{code}");
            assert!(e.message().contains(&code.to_string()), "{e}");
        }
        assert!(response(200, None, "{}").error_for_status("Svc").is_ok());
    }

    #[test]
    fn transient_statuses_win_over_any_body() {
        for (code, ct, body) in [
            (
                429,
                "application/json",
                r#"{"errors":[{"message":"Too Many Requests"}]}"#,
            ),
            (429, "text/html", "<html><body>slow down</body></html>"),
            (
                503,
                "application/json",
                r#"{"errors":[{"message":"maintenance"}]}"#,
            ),
            (408, "text/plain", "timeout"),
        ] {
            let e = response(code, Some(ct), body)
                .transient_error("Svc")
                .unwrap_or_else(|| panic!("{code} is transient"));
            assert!(e.is_retryable(), "{code}: {e}");
        }
        for code in [200, 400, 401, 403, 404, 422] {
            assert!(
                response(code, None, "{}").transient_error("Svc").is_none(),
                "{code}"
            );
        }
    }

    #[test]
    fn throttling_keeps_retry_after() {
        let mut r = response(429, None, "");
        r.headers
            .insert(RETRY_AFTER, HeaderValue::from_static("12"));
        let e = r.status_error("Svc");
        assert_eq!(e.retry_after(), Some(Duration::from_secs(12)));
        assert!(e.is_retryable());
    }

    #[test]
    fn redirects_to_login_pages_are_auth_errors_with_redacted_targets() {
        let mut r = response(302, None, "");
        r.headers.insert(
            LOCATION,
            HeaderValue::from_static(
                "https://idp.example/realms/x/protocol/openid-connect/auth?state=s3",
            ),
        );
        let e = r.status_error("Svc");
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.to_string().contains("s3"), "{e}");
        let mut r = response(301, None, "");
        r.headers.insert(
            LOCATION,
            HeaderValue::from_static("https://new.example/api"),
        );
        assert_eq!(r.status_error("Svc").kind(), ErrorKind::InvalidConfig);
    }

    #[test]
    fn html_and_text_bodies_are_not_decoded_as_json() {
        let html = response(200, Some("text/html; charset=utf-8"), "<html>login</html>");
        assert!(html.is_html());
        let e = html.json::<serde_json::Value>("Svc").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        assert!(e.message().contains("HTML"), "{e}");
        let sniffed = response(200, None, "  <!DOCTYPE html><html>");
        assert!(sniffed.is_html());
        let text = response(200, Some("text/plain"), "upstream connect error");
        let e = text.json::<serde_json::Value>("Svc").unwrap_err();
        assert!(e.message().contains("upstream connect error"), "{e}");
        let ok = response(200, Some("application/json; charset=utf-8"), r#"{"a":1}"#);
        assert_eq!(ok.json::<serde_json::Value>("Svc").unwrap()["a"], 1);
        let untyped = response(200, None, r#" {"a":1}"#);
        assert!(untyped.is_json());
    }
}
