//! The HTTP side: one reqwest client, paths joined under the API root (keeping a proxy
//! prefix), retries for throttling and server errors, and Tactical's error bodies turned into
//! messages (`{"detail": …}`, a bare JSON string, `{"non_field_errors": […]}`).

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::provider::http::{
    ClientOptions, HttpResponse, Idempotency, RetryConfig, is_transient_status, kind_for_status,
    retry, send,
};

/// The name used in messages.
pub(crate) const SERVICE: &str = "Tactical RMM";

/// Sends requests below the API root. Knows nothing about credentials: callers add the header.
#[derive(Clone, Debug)]
pub(crate) struct Transport {
    base: Url,
    client: reqwest::Client,
    retry: RetryConfig,
    max_bytes: usize,
}

/// One request: method, path below the API root, query, optional JSON body and auth header.
pub(crate) struct Call<'a> {
    pub(crate) method: Method,
    pub(crate) path: &'a str,
    pub(crate) query: &'a [(&'a str, String)],
    pub(crate) body: Option<&'a serde_json::Value>,
    pub(crate) auth: Option<(HeaderName, HeaderValue)>,
}

impl<'a> Call<'a> {
    pub(crate) fn get(path: &'a str, query: &'a [(&'a str, String)]) -> Self {
        Call {
            method: Method::GET,
            path,
            query,
            body: None,
            auth: None,
        }
    }

    pub(crate) fn post(path: &'a str, body: &'a serde_json::Value) -> Self {
        Call {
            method: Method::POST,
            path,
            query: &[],
            body: Some(body),
            auth: None,
        }
    }
}

impl Transport {
    pub(crate) fn new(base: Url, options: &ClientOptions, retry: RetryConfig) -> Result<Self> {
        Ok(Self {
            base,
            client: options.build_client()?,
            retry,
            max_bytes: options.max_response_bytes,
        })
    }

    /// The API root.
    pub(crate) fn base(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url> {
        let mut url = self.base.join(path.trim_start_matches('/')).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("bad request path {path:?}: {e}"),
            )
        })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends a call. Throttling (429) and server errors are retried per the retry policy —
    /// every call this adapter makes is safe to repeat (reads, and logins that only mint a
    /// token) — and come back as errors; every other status is returned for the caller to
    /// judge.
    pub(crate) async fn send(&self, call: &Call<'_>) -> Result<HttpResponse> {
        let url = self.url(call.path, call.query)?;
        retry(&self.retry, Idempotency::Idempotent, || {
            let mut request = self.client.request(call.method.clone(), url.clone());
            if let Some((name, value)) = &call.auth {
                request = request.header(name.clone(), value.clone());
            }
            if let Some(body) = call.body {
                request = request.json(body);
            }
            async move {
                let response = send(request, self.max_bytes, SERVICE).await?;
                if is_transient_status(response.status) {
                    return Err(status_error(&response, &call.method, call.path));
                }
                Ok(response)
            }
        })
        .await
        .map_err(|e| e.with_context("request", format!("{} {}", call.method, call.path)))
    }
}

/// `Ok` for 2xx, else the error for the status.
pub(crate) fn check(response: HttpResponse, method: &Method, path: &str) -> Result<HttpResponse> {
    if response.status.is_success() {
        Ok(response)
    } else {
        Err(status_error(&response, method, path))
    }
}

/// Decodes a JSON body; an HTML page means the URL is the dashboard (or a proxy), not the API.
pub(crate) fn decode<T: DeserializeOwned>(response: &HttpResponse, path: &str) -> Result<T> {
    if response.is_html() {
        return Err(Error::new(
            ErrorKind::InvalidConfig,
            format!(
                "{SERVICE} returned an HTML page for {path} instead of JSON: base_url must be the API host (e.g. https://api.example.com), not the dashboard (https://rmm.example.com)"
            ),
        )
        .with_context("key", "base_url"));
    }
    response
        .json(SERVICE)
        .map_err(|e| e.with_context("path", path))
}

/// What Tactical said in an error body, as one line.
pub(crate) fn error_detail(response: &HttpResponse) -> String {
    if response.is_html() {
        return "an HTML page".to_owned();
    }
    if response.body.is_empty() {
        return "an empty body".to_owned();
    }
    match serde_json::from_slice::<serde_json::Value>(&response.body) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(serde_json::Value::Object(o)) => {
            if let Some(d) = o.get("detail").and_then(|d| d.as_str()) {
                return d.to_owned();
            }
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| match v {
                    serde_json::Value::Array(items) => {
                        let texts: Vec<String> = items
                            .iter()
                            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                            .collect();
                        format!("{k}: {}", texts.join(" "))
                    }
                    other => format!("{k}: {other}"),
                })
                .collect();
            parts.join("; ")
        }
        _ => response.snippet(),
    }
}

/// The error for a non-success response, with Tactical's own words and a hint.
pub(crate) fn status_error(response: &HttpResponse, method: &Method, path: &str) -> Error {
    let status = response.status;
    if status.is_redirection() {
        // Login-page detection and redaction live in the shared plumbing.
        return response
            .status_error(SERVICE)
            .with_context("request", format!("{method} {path}"));
    }
    let kind = kind_for_status(status);
    let detail = error_detail(response);
    let hint = match status.as_u16() {
        401 => " (the API key or Knox session was not accepted)",
        403 => " (the API user's role lacks this permission)",
        404 if response.is_html() => {
            " (no such endpoint: check that base_url is the API host and that the beta API is enabled where needed)"
        }
        _ => "",
    };
    let mut e = Error::new(
        kind,
        format!(
            "{SERVICE} answered {method} {path} with HTTP {}: {detail}{hint}",
            status.as_u16()
        ),
    )
    .with_context("status", status.as_u16());
    if let Some(wait) = response.retry_after() {
        e = e.with_retry_after(wait);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};

    fn response(status: u16, body: &str, content_type: &str) -> HttpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn tactical_error_bodies_become_messages() {
        let e = status_error(
            &response(401, r#"{"detail":"Invalid token."}"#, "application/json"),
            &Method::GET,
            "agents/",
        );
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.message().contains("Invalid token."), "{e}");
        assert!(e.message().contains("GET agents/"), "{e}");

        let bare = response(400, r#""Bad credentials""#, "application/json");
        assert_eq!(error_detail(&bare), "Bad credentials");
        let fields = response(
            400,
            r#"{"non_field_errors":["Unable to log in with provided credentials."]}"#,
            "application/json",
        );
        assert_eq!(
            error_detail(&fields),
            "non_field_errors: Unable to log in with provided credentials."
        );
        let html = response(404, "<!doctype html><title>Not Found</title>", "text/html");
        let e = status_error(&html, &Method::GET, "beta/v1/agent/");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.message().contains("base_url"), "{e}");
    }

    #[test]
    fn throttling_carries_retry_after() {
        let mut r = response(
            429,
            r#"{"detail":"Request was throttled. Expected available in 52 seconds."}"#,
            "application/json",
        );
        r.headers
            .insert(RETRY_AFTER, HeaderValue::from_static("52"));
        let e = status_error(&r, &Method::POST, "v2/checkcreds/");
        assert_eq!(e.kind(), ErrorKind::RateLimited);
        assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(52)));
        assert!(e.message().contains("throttled"), "{e}");
    }

    #[test]
    fn dashboard_html_is_a_configuration_error() {
        let spa = response(200, "<!DOCTYPE html><html><div id=q-app>", "text/html");
        let e = decode::<serde_json::Value>(&spa, "clients/").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidConfig);
        assert!(e.message().contains("dashboard"), "{e}");
    }

    #[test]
    fn paths_join_below_a_proxy_prefix() {
        let t = Transport::new(
            Url::parse("https://example.com/tactical/").unwrap(),
            &ClientOptions::default(),
            RetryConfig::none(),
        )
        .unwrap();
        let u = t
            .url(
                "/agents/",
                &[("client", "3".into()), ("since", "a+b".into())],
            )
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://example.com/tactical/agents/?client=3&since=a%2Bb"
        );
    }
}
