//! The Gateway transport: POST a cynic operation with the `session` header, retry what may be
//! retried, and turn every unhappy answer into an actionable [`Error`].

use std::fmt;

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use crate::error::{Error, ErrorKind, Result};
use crate::provider::http::{
    HttpResponse, Idempotency, RetryConfig, is_login_location, retry, send,
};

const GATEWAY: &str = "Tanium Gateway";
const ASSET_API: &str = "Tanium Asset API";

/// What to check when the Gateway refuses the token.
const TOKEN_HINT: &str = "check that the API token is current and pasted whole (including its token- prefix), that this host's address is in the token's trusted IP list, and that its user has the \"API Gateway User\" role";
/// What to check when the token works but a permission is missing.
const PERMISSION_HINT: &str = "the token authenticated but its user lacks a permission: grant the \"API Gateway User\" role and read access to the content sets holding the sensors queried (Computer Groups, Endpoints)";

/// The GraphQL `errors` a Gateway returned for one operation: the typed source of the
/// [`Error`] (downcast it from [`std::error::Error::source`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewayErrors {
    /// Each error's message, as the Gateway wrote it.
    pub messages: Vec<String>,
    /// Each error's response path (`["endpoints"]`), empty when the Gateway sent none.
    pub paths: Vec<Vec<String>>,
}

impl fmt::Display for GatewayErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.messages.len();
        write!(f, "{n} GraphQL error{}", if n == 1 { "" } else { "s" })?;
        if let Some(path) = self.paths.iter().find(|p| !p.is_empty()) {
            write!(f, " at {}", path.join("."))?;
        }
        Ok(())
    }
}

impl std::error::Error for GatewayErrors {}

impl GatewayErrors {
    /// The error kind these messages amount to.
    pub fn kind(&self) -> ErrorKind {
        let all = self.messages.join(" ").to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| all.contains(n));
        if has(&["cursor"]) {
            ErrorKind::CursorExpired
        } else if has(&[
            "permission",
            "not authorized",
            "unauthorized",
            "forbidden",
            "access denied",
            "content set",
        ]) {
            ErrorKind::Forbidden
        } else if has(&["cannot query field", "unknown argument", "unknown type"]) {
            ErrorKind::Unsupported
        } else if has(&["timed out", "timeout"]) {
            ErrorKind::Timeout
        } else {
            ErrorKind::Decode
        }
    }

    fn into_error(self) -> Error {
        let kind = self.kind();
        let mut message = format!("{GATEWAY} returned an error: {}", self.messages.join("; "));
        if kind == ErrorKind::Forbidden {
            message.push_str(&format!(" ({PERMISSION_HINT})"));
        }
        Error::new(kind, message).with_source(self)
    }
}

#[derive(Deserialize)]
struct RawError {
    message: Option<String>,
    #[serde(default)]
    path: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct ErrorsOnly {
    errors: Option<Vec<RawError>>,
}

#[derive(Deserialize)]
struct Response<T> {
    data: Option<T>,
    errors: Option<Vec<RawError>>,
}

fn gateway_errors(raw: Vec<RawError>) -> GatewayErrors {
    let mut messages = Vec::with_capacity(raw.len());
    let mut paths = Vec::with_capacity(raw.len());
    for e in raw {
        messages.push(
            e.message
                .filter(|m| !m.trim().is_empty())
                .unwrap_or_else(|| "(no message)".into()),
        );
        paths.push(
            e.path
                .unwrap_or_default()
                .into_iter()
                .map(|p| match p {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect(),
        );
    }
    GatewayErrors { messages, paths }
}

/// The errors of a GraphQL-shaped body, if it has any.
fn errors_in(body: &[u8]) -> Option<GatewayErrors> {
    let parsed: ErrorsOnly = serde_json::from_slice(body).ok()?;
    parsed.errors.filter(|e| !e.is_empty()).map(gateway_errors)
}

/// Judges a Gateway (or Asset API) response: the status decides first (transient statuses
/// are retried whatever their body, auth statuses are auth errors), then HTML pages, GraphQL
/// errors of a 400/422, then JSON.
fn check_response(resp: HttpResponse, service: &str) -> Result<HttpResponse> {
    let code = resp.status.as_u16();
    if let Some(e) = resp.transient_error(service) {
        // A 429 from the front door with `{"errors":[{"message":"Too Many Requests"}]}` is
        // throttling, not a GraphQL error: retried honouring Retry-After.
        return Err(e);
    }
    if resp.status.is_redirection() {
        let location = resp.location().unwrap_or_else(|| "nowhere".into());
        return Err(if is_login_location(&location) {
            Error::new(
                ErrorKind::Unauthorized,
                format!("{service} redirected ({code}) to a sign-in page ({location}) instead of answering: the token was not accepted; {TOKEN_HINT}"),
            )
        } else {
            Error::new(
                ErrorKind::InvalidConfig,
                format!("{service} redirected ({code}) to {location}; redirects are not followed: configure the final Gateway URL"),
            )
        }
        .with_context("status", code));
    }
    match code {
        401 => {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!("{service} answered 401 Unauthorized: {TOKEN_HINT}; if it did, {PERMISSION_HINT}"),
            )
            .with_context("status", code));
        }
        403 => {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("{service} answered 403 Forbidden: the token was rejected or lacks permission; {TOKEN_HINT}"),
            )
            .with_context("status", code));
        }
        _ => {}
    }
    if resp.is_html() {
        return Err(Error::new(
            ErrorKind::Unauthorized,
            format!("{service} returned an HTML page (HTTP {code}) instead of GraphQL JSON, usually a sign-in page of the front door: the token was not accepted, or the URL is not the Gateway's (…/plugin/products/gateway/graphql); {TOKEN_HINT}"),
        )
        .with_context("status", code));
    }
    if resp.status.is_client_error() && resp.is_json() {
        // Some Gateways answer schema validation failures with 400 and GraphQL errors.
        if let Some(errors) = errors_in(&resp.body) {
            return Err(errors.into_error().with_context("status", code));
        }
    }
    let resp = resp.error_for_status(service)?;
    if !resp.is_json() {
        return Err(Error::new(
            ErrorKind::Decode,
            format!(
                "{service} returned {} instead of JSON: {:?}",
                resp.content_type().unwrap_or("a body without content type"),
                resp.snippet()
            ),
        ));
    }
    Ok(resp)
}

/// Decodes a GraphQL response body into the operation's data.
pub(crate) fn decode_graphql<Q: DeserializeOwned>(body: &[u8]) -> Result<Q> {
    match serde_json::from_slice::<Response<Q>>(body) {
        Ok(Response {
            errors: Some(errors),
            ..
        }) if !errors.is_empty() => Err(gateway_errors(errors).into_error()),
        Ok(Response { data: Some(d), .. }) => Ok(d),
        Ok(Response { data: None, .. }) => Err(Error::new(
            ErrorKind::Decode,
            format!("{GATEWAY} returned a GraphQL response without data or errors"),
        )),
        Err(e) => match errors_in(body) {
            // Partial data that does not fit the selection: the errors are what matter.
            Some(errors) => Err(errors.into_error()),
            None => Err(Error::new(
                ErrorKind::Decode,
                format!("{GATEWAY} returned JSON that is not a GraphQL response for this query"),
            )
            .with_source(e)),
        },
    }
}

/// The HTTP side of the adapter.
pub(crate) struct GatewayClient {
    http: reqwest::Client,
    graphql_url: Url,
    token: SecretString,
    retry: RetryConfig,
    max_response_bytes: usize,
}

impl fmt::Debug for GatewayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayClient")
            .field("graphql_url", &self.graphql_url.as_str())
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl GatewayClient {
    pub(crate) fn new(
        http: reqwest::Client,
        graphql_url: Url,
        token: SecretString,
        retry: RetryConfig,
        max_response_bytes: usize,
    ) -> Self {
        Self {
            http,
            graphql_url,
            token,
            retry,
            max_response_bytes,
        }
    }

    fn session_header(&self) -> Result<HeaderValue> {
        let mut v = HeaderValue::from_str(self.token.expose_secret()).map_err(|_| {
            Error::invalid_config(
                "api_token",
                "the API token contains characters that cannot be sent in an HTTP header",
            )
        })?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// Runs one query operation (queries are idempotent, so they are retried).
    pub(crate) async fn query<Q, V>(&self, op: &cynic::Operation<Q, V>) -> Result<Q>
    where
        Q: DeserializeOwned + Send,
        V: serde::Serialize + Sync,
    {
        let name = op.operation_name.as_deref().unwrap_or("query").to_owned();
        let body = serde_json::to_vec(op)?;
        retry(&self.retry, Idempotency::Idempotent, || {
            self.post::<Q>(&body)
        })
        .await
        .map_err(|e| e.with_context("operation", &name))
    }

    /// Runs a query document built at run time (one whose shape depends on the data, like the
    /// aliased membership check), retried like every query.
    pub(crate) async fn query_document<Q>(
        &self,
        name: &str,
        document: &str,
        variables: serde_json::Value,
    ) -> Result<Q>
    where
        Q: DeserializeOwned + Send,
    {
        let body = serde_json::to_vec(&serde_json::json!({
            "operationName": name,
            "query": document,
            "variables": variables,
        }))?;
        retry(&self.retry, Idempotency::Idempotent, || {
            self.post::<Q>(&body)
        })
        .await
        .map_err(|e| e.with_context("operation", name))
    }

    async fn post<Q: DeserializeOwned>(&self, body: &[u8]) -> Result<Q> {
        let request = self
            .http
            .post(self.graphql_url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, "application/json")
            .header("session", self.session_header()?)
            .body(body.to_vec());
        let resp = check_response(
            send(request, self.max_response_bytes, GATEWAY).await?,
            GATEWAY,
        )?;
        decode_graphql(&resp.body)
    }

    /// Rows of the Asset API (`GET <url>`, body `{"data": [...]}`), retried like queries.
    pub(crate) async fn asset_rows(&self, url: &Url) -> Result<Vec<serde_json::Value>> {
        #[derive(Deserialize)]
        struct Rows {
            data: Option<Vec<serde_json::Value>>,
        }
        let rows = retry(&self.retry, Idempotency::Idempotent, || async {
            let request = self
                .http
                .get(url.clone())
                .header(ACCEPT, "application/json")
                .header("session", self.session_header()?);
            let resp = check_response(
                send(request, self.max_response_bytes, ASSET_API).await?,
                ASSET_API,
            )?;
            resp.json::<Rows>(ASSET_API)
        })
        .await?;
        rows.data.ok_or_else(|| {
            Error::new(
                ErrorKind::Decode,
                format!("{ASSET_API} answered without a data array"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;
    use reqwest::header::{HeaderMap, LOCATION};

    fn resp(status: u16, ct: &str, body: &str) -> HttpResponse {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        HttpResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn graphql_errors_keep_the_gateway_message_and_get_a_kind() {
        let e = decode_graphql::<serde_json::Value>(
            br#"{"errors":[{"message":"invalid cursor","path":["endpoints"]}],"data":{"endpoints":null}}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CursorExpired);
        assert!(e.message().contains("invalid cursor"), "{e}");
        let typed = std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<GatewayErrors>())
            .unwrap();
        assert_eq!(typed.paths, vec![vec!["endpoints".to_owned()]]);

        let e = decode_graphql::<serde_json::Value>(
            br#"{"errors":[{"message":"Cannot query field \"x\" on type \"Endpoint\"."}],"data":null}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        let e = decode_graphql::<serde_json::Value>(
            br#"{"errors":[{"message":"missing required permissions"}]}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(e.message().contains("missing required permissions"));
        assert!(decode_graphql::<serde_json::Value>(br#"{"data":null}"#).is_err());
        assert!(decode_graphql::<serde_json::Value>(br#"[1]"#).is_err());
    }

    #[test]
    fn auth_answers_are_actionable() {
        let e = check_response(resp(401, "text/plain", ""), GATEWAY).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.message().contains("token- prefix"), "{e}");
        let e = check_response(resp(403, "text/plain", ""), GATEWAY).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        let e =
            check_response(resp(200, "text/html", "<html>sign in</html>"), GATEWAY).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(e.message().contains("HTML"), "{e}");
        let mut r = resp(302, "text/plain", "");
        r.headers.insert(
            LOCATION,
            HeaderValue::from_static("/auth/realms/t/protocol/openid-connect/auth"),
        );
        assert_eq!(
            check_response(r, GATEWAY).unwrap_err().kind(),
            ErrorKind::Unauthorized
        );
        let e = check_response(resp(200, "text/plain", "hello"), GATEWAY).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Decode);
        let e = check_response(
            resp(
                400,
                "application/json",
                r#"{"errors":[{"message":"Unknown argument \"zzz\""}]}"#,
            ),
            GATEWAY,
        )
        .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(
            check_response(resp(502, "text/plain", "upstream"), GATEWAY)
                .unwrap_err()
                .kind(),
            ErrorKind::Unavailable
        );
    }
}
