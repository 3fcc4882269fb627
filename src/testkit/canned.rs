//! A canned HTTP answer any simulator can serve as a fault: a status with the exact body,
//! content type and `Retry-After` a real front door sends (a 429 with a JSON `errors` body, a
//! 503 with an HTML maintenance page), so adapters are tested against the status *and* the body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// One answer, served verbatim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CannedResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: String,
    /// The body.
    pub body: String,
    /// A `Retry-After` header value (seconds or HTTP date), verbatim.
    pub retry_after: Option<String>,
}

impl CannedResponse {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &str) -> Self {
        Self::with_type(status, "application/json", body)
    }

    /// `status` with an HTML page.
    pub fn html(status: u16, body: &str) -> Self {
        Self::with_type(status, "text/html; charset=utf-8", body)
    }

    /// `status` with any content type.
    pub fn with_type(status: u16, content_type: &str, body: &str) -> Self {
        CannedResponse {
            status,
            content_type: content_type.to_owned(),
            body: body.to_owned(),
            retry_after: None,
        }
    }

    /// Adds a `Retry-After` header.
    #[must_use]
    pub fn retry_after(mut self, value: &str) -> Self {
        self.retry_after = Some(value.to_owned());
        self
    }
}

impl IntoResponse for CannedResponse {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (status, self.body).into_response();
        let headers = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        if let Some(v) = self
            .retry_after
            .and_then(|v| HeaderValue::from_str(&v).ok())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        r
    }
}
