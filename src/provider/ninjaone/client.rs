//! The HTTP side of the adapter: authenticated GETs with the client-side budget, retries that
//! honour `Retry-After`, and one re-authentication on 401.

use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use url::Url;

use super::auth::TokenManager;
use super::config::{NinjaOneConfig, join};
use crate::error::{ErrorKind, Result};
use crate::provider::http::{
    HttpResponse, Idempotency, RateLimiter, RetryConfig, redact_url, retry, send,
};

pub(crate) const SERVICE: &str = "NinjaOne";

/// An authenticated NinjaOne API client.
#[derive(Debug)]
pub(crate) struct Api {
    http: reqwest::Client,
    api_root: Url,
    pub(crate) auth: TokenManager,
    retry: RetryConfig,
    limiter: RateLimiter,
    max_bytes: usize,
}

impl Api {
    pub(crate) fn new(config: &NinjaOneConfig, base: &Url) -> Result<Self> {
        let http = config.http.build_client()?;
        Ok(Self {
            auth: TokenManager::new(config, base, http.clone()),
            http,
            api_root: join(base, &config.api_prefix),
            retry: config.retry.clone(),
            limiter: RateLimiter::new(config.rate_limit),
            max_bytes: config.http.max_response_bytes,
        })
    }

    /// The URL of an API path (`/devices-detailed`) with query parameters.
    pub(crate) fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = join(&self.api_root, path);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        url
    }

    /// GETs JSON.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, url: &Url) -> Result<T> {
        self.get(url).await?.json(SERVICE)
    }

    /// GETs a successful response, body unread.
    pub(crate) async fn get(&self, url: &Url) -> Result<HttpResponse> {
        self.call(reqwest::Method::GET, url, None).await
    }

    /// PUTs JSON (idempotent by HTTP semantics), expecting no body back.
    pub(crate) async fn put_json(&self, url: &Url, body: &serde_json::Value) -> Result<()> {
        self.call(reqwest::Method::PUT, url, Some(body)).await?;
        Ok(())
    }

    /// DELETEs (idempotent).
    pub(crate) async fn delete(&self, url: &Url) -> Result<()> {
        self.call(reqwest::Method::DELETE, url, None).await?;
        Ok(())
    }

    /// One call: a token, the budget, retries on throttling and 5xx, and — once — a fresh
    /// token when NinjaOne answers 401 (the token expired or was revoked early).
    async fn call(
        &self,
        method: reqwest::Method,
        url: &Url,
        body: Option<&serde_json::Value>,
    ) -> Result<HttpResponse> {
        let mut reauthenticated = false;
        loop {
            let token = self.auth.access_token().await?;
            let outcome = retry(&self.retry, Idempotency::Idempotent, || async {
                self.limiter.acquire().await;
                let mut request = self
                    .http
                    .request(method.clone(), url.clone())
                    .bearer_auth(token.secret.expose_secret())
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(body) = body {
                    request = request.json(body);
                }
                let response = send(request, self.max_bytes, SERVICE).await?;
                if response.status == reqwest::StatusCode::TOO_MANY_REQUESTS
                    && let Some(wait) = response.retry_after()
                {
                    // Every other request of this adapter waits too — as long as this one
                    // would; a longer pause is reported to the caller instead of slept through.
                    self.limiter.defer(wait.min(self.retry.max_retry_after));
                }
                response.error_for_status(SERVICE)
            })
            .await;
            match outcome {
                Err(e) if e.kind() == ErrorKind::Unauthorized && !reauthenticated => {
                    tracing::debug!(url = %redact_url(url), "NinjaOne refused the access token; refreshing once");
                    self.auth.refused(&token);
                    reauthenticated = true;
                }
                Err(e) => {
                    let e = if reauthenticated && e.kind() == ErrorKind::Unauthorized {
                        e.with_context("after", "a token refresh")
                    } else {
                        e
                    };
                    return Err(e.with_context("url", redact_url(url)));
                }
                Ok(response) => return Ok(response),
            }
        }
    }
}
