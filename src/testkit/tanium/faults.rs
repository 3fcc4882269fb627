//! Injectable faults: what a Gateway (or the envoy front door before it) does on a bad day.

use std::time::Duration;

use crate::testkit::CannedResponse;

/// One fault, answered instead of (or before) the normal response.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimFault {
    /// HTTP 401 with a text body.
    Unauthorized,
    /// HTTP 403 with a text body.
    Forbidden,
    /// HTTP 200 with an HTML sign-in page, as some cloud front doors answer a bad token.
    HtmlLoginPage,
    /// HTTP 302 to an OpenID Connect sign-in URL.
    RedirectToLogin,
    /// HTTP 429 with this `Retry-After` value (seconds or HTTP date), or none.
    RateLimited {
        /// The header value, verbatim.
        retry_after: Option<String>,
    },
    /// HTTP 502 from envoy.
    BadGateway,
    /// HTTP 504 from envoy.
    GatewayTimeout,
    /// The normal answer, after this delay.
    Slow(Duration),
    /// HTTP 200 with `{"errors":[{"message": …}], "data": null}`.
    GraphqlError(String),
    /// Every open cursor expires now; the request is then answered normally (so a request
    /// carrying a cursor fails with the Gateway's cursor error).
    ExpireCursors,
    /// HTTP 200 with a plain-text body.
    NotJson,
    /// This exact answer (status, content type, body, `Retry-After`), e.g. a front door's
    /// 429 with `{"errors":[{"message":"Too Many Requests"}]}`.
    Canned(CannedResponse),
}

/// Which requests a fault applies to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultTarget {
    /// Any GraphQL request.
    Any,
    /// GraphQL requests selecting this root field (`now`, `computerGroups`, `endpoints`,
    /// `endpointIdChanges`).
    Field(String),
    /// `endpoints` requests that continue a listing (carry an `after` cursor).
    CursorPage,
    /// Asset API requests.
    AssetApi,
}

impl FaultTarget {
    /// A target for one root field.
    pub fn field(name: &str) -> Self {
        FaultTarget::Field(name.to_owned())
    }
}
