//! The simulator's HTTP side: OAuth token endpoint, the v2 endpoints the adapter uses, bearer
//! checks, and fault injection.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::testkit::CannedResponse;

use super::model::{SimActivity, SimDevice, SimLocation, SimOrganization};

/// A fault the simulator returns instead of the real answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SimFault {
    /// HTTP 429, with `Retry-After: <seconds>` when given.
    RateLimited {
        /// The `Retry-After` seconds.
        retry_after_secs: Option<u64>,
    },
    /// HTTP 401 `invalid_token`, as if the access token had expired on the server.
    Unauthorized,
    /// A 5xx status.
    ServerError(u16),
    /// HTTP 200 with a body that is not valid JSON.
    MalformedJson,
    /// This exact answer (status, content type, body, `Retry-After`), e.g. a 503 with a
    /// load balancer's HTML page.
    Canned(CannedResponse),
}

#[derive(Debug)]
pub(crate) struct FaultRule {
    pub(crate) path_prefix: String,
    pub(crate) fault: SimFault,
    pub(crate) remaining: u32,
}

/// Counters a test can assert on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Requests per `METHOD /path` (query excluded).
    pub requests: BTreeMap<String, u64>,
    /// Successful token grants per `grant_type`.
    pub token_grants: BTreeMap<String, u64>,
    /// Refresh tokens presented again after they were spent (must stay 0).
    pub refresh_token_reuse: u64,
    /// API requests refused with 401 because of a missing, unknown or expired token.
    pub unauthorized: u64,
    /// Faults served.
    pub faults_served: u64,
}

impl SimStats {
    /// Requests to `path` (any method).
    pub fn requests_to(&self, path: &str) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.split_once(' ').is_some_and(|(_, p)| p == path))
            .map(|(_, n)| n)
            .sum()
    }

    /// Requests to single-device paths (`/v2/device/{id}…`), which bulk paths must never use.
    pub fn per_device_requests(&self) -> u64 {
        self.requests
            .iter()
            .filter(|(k, _)| k.contains(" /v2/device/"))
            .map(|(_, n)| n)
            .sum()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshState {
    Valid,
    Spent,
    Revoked,
}

#[derive(Debug)]
pub(crate) struct SimState {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) token_lifetime: Duration,
    pub(crate) token_latency: Duration,
    pub(crate) access_tokens: HashMap<String, Instant>,
    pub(crate) refresh_tokens: HashMap<String, RefreshState>,
    pub(crate) auth_codes: HashSet<String>,
    pub(crate) token_counter: u64,
    pub(crate) organizations: BTreeMap<i64, SimOrganization>,
    pub(crate) locations: BTreeMap<i64, SimLocation>,
    pub(crate) devices: BTreeMap<i64, SimDevice>,
    pub(crate) activities: VecDeque<SimActivity>,
    pub(crate) next_activity_id: i64,
    pub(crate) max_page_size: usize,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) stats: SimStats,
    pub(crate) webhook: Option<Value>,
    pub(crate) now: f64,
    /// Rendered device JSON; an entry is dropped whenever its device changes.
    pub(crate) rendered: HashMap<i64, Arc<[u8]>>,
    /// Control-API mutations so far: makes each round's changes distinct.
    pub(crate) mutation_round: u64,
}

impl SimState {
    /// The JSON of a device, rendered at most once per version.
    fn rendered(&mut self, id: i64) -> Arc<[u8]> {
        if let Some(r) = self.rendered.get(&id) {
            return Arc::clone(r);
        }
        let bytes: Arc<[u8]> = self
            .devices
            .get(&id)
            .map(SimDevice::to_bytes)
            .unwrap_or_default()
            .into();
        self.rendered.insert(id, Arc::clone(&bytes));
        bytes
    }
}

pub(crate) type Shared = Arc<Mutex<SimState>>;

pub(crate) fn lock(state: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(body).unwrap_or_default(),
    )
        .into_response()
}

fn api_error(status: StatusCode, message: &str) -> Response {
    json_response(
        status,
        &json!({"resultCode": "FAILURE", "errorMessage": message, "incidentId": "00000000-0000-4000-8000-00000000beef"}),
    )
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": error, "error_description": description}),
    )
}

/// The one handler: routes by method and path.
pub(crate) async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query: HashMap<String, String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    {
        let mut s = lock(&state);
        *s.stats
            .requests
            .entry(format!("{method} {path}"))
            .or_default() += 1;
        if let Some(fault) = take_fault(&mut s, &path) {
            s.stats.faults_served += 1;
            return fault_response(&fault);
        }
    }
    if path == "/ws/oauth/token" || path == "/oauth/token" {
        if method != Method::POST {
            return api_error(StatusCode::METHOD_NOT_ALLOWED, "use POST");
        }
        return token(&state, &body).await;
    }
    let Some(api_path) = path.strip_prefix("/v2") else {
        return api_error(StatusCode::NOT_FOUND, "no such path");
    };
    let mut s = lock(&state);
    if !authorized(&s, &headers) {
        s.stats.unauthorized += 1;
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Access token expired or unknown",
        );
    }
    match (method, api_path) {
        (Method::GET, "/organizations") => {
            let (size, after) = match paging(&s, &query) {
                Ok(p) => p,
                Err(message) => return api_error(StatusCode::BAD_REQUEST, message),
            };
            let page: Vec<Value> = s
                .organizations
                .range((Bound::Excluded(after), Bound::Unbounded))
                .take(size)
                .map(|(_, o)| json!({"id": o.id, "name": o.name, "description": "", "nodeApprovalMode": "AUTOMATIC", "tags": [], "fields": {}, "userData": {}}))
                .collect();
            json_response(StatusCode::OK, &Value::Array(page))
        }
        (Method::GET, "/locations") => {
            let (size, after) = match paging(&s, &query) {
                Ok(p) => p,
                Err(message) => return api_error(StatusCode::BAD_REQUEST, message),
            };
            let page: Vec<Value> = s
                .locations
                .range((Bound::Excluded(after), Bound::Unbounded))
                .take(size)
                .map(|(_, l)| json!({"id": l.id, "name": l.name, "organizationId": l.organization_id, "address": "", "description": "", "tags": [], "fields": {}, "userData": {}}))
                .collect();
            json_response(StatusCode::OK, &Value::Array(page))
        }
        (Method::GET, "/devices-detailed") => {
            let (size, after) = match paging(&s, &query) {
                Ok(p) => p,
                Err(message) => return api_error(StatusCode::BAD_REQUEST, message),
            };
            let filter = match query.get("df").map(|d| DeviceFilter::parse(d)) {
                None => DeviceFilter::All,
                Some(Ok(f)) => f,
                Some(Err(())) => {
                    return api_error(StatusCode::BAD_REQUEST, "Invalid device filter");
                }
            };
            let ids: Vec<i64> = s
                .devices
                .range((Bound::Excluded(after), Bound::Unbounded))
                .filter(|(_, d)| filter.matches(d))
                .take(size)
                .map(|(id, _)| *id)
                .collect();
            // Devices are rendered once and kept until they change, so big tenants page fast.
            let mut body = Vec::with_capacity(ids.len() * 1600 + 2);
            body.push(b'[');
            for (i, id) in ids.iter().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(&s.rendered(*id));
            }
            body.push(b']');
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response()
        }
        (Method::GET, p) if p.starts_with("/device/") => {
            let id = p.trim_start_matches("/device/").parse::<i64>().ok();
            match id.and_then(|id| s.devices.get(&id)) {
                Some(d) => json_response(StatusCode::OK, &d.to_json()),
                None => api_error(StatusCode::NOT_FOUND, "Device not found"),
            }
        }
        (Method::GET, "/activities") => activities(&s, &query),
        (Method::PUT, "/webhook") => match serde_json::from_slice::<Value>(&body) {
            Ok(config) if config.get("url").and_then(Value::as_str).is_some() => {
                s.webhook = Some(config);
                StatusCode::NO_CONTENT.into_response()
            }
            _ => api_error(StatusCode::BAD_REQUEST, "Invalid webhook configuration"),
        },
        (Method::DELETE, "/webhook") => {
            s.webhook = None;
            StatusCode::NO_CONTENT.into_response()
        }
        _ => api_error(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

fn take_fault(s: &mut SimState, path: &str) -> Option<SimFault> {
    let i = s
        .faults
        .iter()
        .position(|r| r.remaining > 0 && path.starts_with(&r.path_prefix))?;
    let rule = &mut s.faults[i];
    rule.remaining -= 1;
    let fault = rule.fault.clone();
    if rule.remaining == 0 {
        s.faults.remove(i);
    }
    Some(fault)
}

fn fault_response(fault: &SimFault) -> Response {
    match fault {
        SimFault::RateLimited { retry_after_secs } => {
            let mut r = json_response(
                StatusCode::TOO_MANY_REQUESTS,
                &json!({"resultCode": "TOO_MANY_REQUESTS"}),
            );
            if let Some(secs) = retry_after_secs {
                r.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_str(&secs.to_string()).expect("digits"),
                );
            }
            r
        }
        SimFault::Unauthorized => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Access token expired",
        ),
        SimFault::ServerError(code) => api_error(
            StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "Internal error",
        ),
        SimFault::MalformedJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "[{\"id\": 1, \"name\": ",
        )
            .into_response(),
        SimFault::Canned(canned) => canned.clone().into_response(),
    }
}

fn authorized(s: &SimState, headers: &HeaderMap) -> bool {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    s.access_tokens
        .get(token)
        .is_some_and(|expires| *expires > Instant::now())
}

/// `pageSize` (silently capped at the simulator's maximum, as a real server may) and `after`.
fn paging(s: &SimState, query: &HashMap<String, String>) -> Result<(usize, i64), &'static str> {
    let size = match query.get("pageSize").map(|p| p.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => return Err("Invalid pageSize"),
    };
    let after = match query.get("after").map(|a| a.parse::<i64>()) {
        None => 0,
        Some(Ok(a)) => a,
        Some(Err(_)) => return Err("Invalid after"),
    };
    Ok((size.min(s.max_page_size), after))
}

/// The `df` forms the simulator understands.
enum DeviceFilter {
    All,
    Ids(HashSet<i64>),
    Organization(i64),
    Location(i64),
}

impl DeviceFilter {
    fn parse(df: &str) -> Result<Self, ()> {
        let df = df.trim();
        let (field, rest) = df.split_once([' ', '=']).ok_or(())?;
        let rest = rest.trim_start_matches([' ', '=']).trim();
        let number = |s: &str| s.trim().parse::<i64>().map_err(|_| ());
        match field {
            "id" => {
                if let Some(list) = rest.strip_prefix("in") {
                    let list = list
                        .trim()
                        .strip_prefix('(')
                        .and_then(|l| l.strip_suffix(')'))
                        .ok_or(())?;
                    list.split(',')
                        .map(number)
                        .collect::<Result<_, _>>()
                        .map(DeviceFilter::Ids)
                } else {
                    Ok(DeviceFilter::Ids(HashSet::from([number(rest)?])))
                }
            }
            "org" => Ok(DeviceFilter::Organization(number(rest)?)),
            "loc" => Ok(DeviceFilter::Location(number(rest)?)),
            _ => Err(()),
        }
    }

    fn matches(&self, d: &SimDevice) -> bool {
        match self {
            DeviceFilter::All => true,
            DeviceFilter::Ids(ids) => ids.contains(&d.id),
            DeviceFilter::Organization(o) => d.organization_id == *o,
            DeviceFilter::Location(l) => d.location_id == *l,
        }
    }
}

/// `GET /v2/activities`: newest first, `newerThan` / `olderThan` by id, `pageSize` 10–1000.
fn activities(s: &SimState, query: &HashMap<String, String>) -> Response {
    let size = match query.get("pageSize").map(|p| p.parse::<usize>()) {
        None => 200,
        Some(Ok(n)) if (10..=1000).contains(&n) => n,
        Some(_) => {
            return api_error(
                StatusCode::BAD_REQUEST,
                "pageSize must be between 10 and 1000",
            );
        }
    };
    let bound = |key: &str| match query.get(key).map(|v| v.parse::<i64>()) {
        None => Ok(None),
        Some(Ok(v)) => Ok(Some(v)),
        Some(Err(_)) => Err(key.to_owned()),
    };
    let (newer, older) = match (bound("newerThan"), bound("olderThan")) {
        (Ok(n), Ok(o)) => (n, o),
        (Err(key), _) | (_, Err(key)) => {
            return api_error(StatusCode::BAD_REQUEST, &format!("Invalid {key}"));
        }
    };
    let page: Vec<Value> = s
        .activities
        .iter()
        .rev()
        .filter(|a| newer.is_none_or(|n| a.id > n) && older.is_none_or(|o| a.id < o))
        .take(size)
        .map(|a| a.to_json(false))
        .collect();
    // The account's newest activity id; 0 for an account that never had one.
    let last = if s.next_activity_id == super::FIRST_ACTIVITY_ID {
        0
    } else {
        s.next_activity_id - 1
    };
    json_response(
        StatusCode::OK,
        &json!({"lastActivityId": last, "activities": page}),
    )
}

/// `POST /ws/oauth/token`.
async fn token(state: &Shared, body: &Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body).into_owned().collect();
    let latency = lock(state).token_latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut s = lock(state);
    let client_ok = form.get("client_id") == Some(&s.client_id)
        && form.get("client_secret") == Some(&s.client_secret);
    if !client_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "Client authentication failed",
        );
    }
    let grant = form.get("grant_type").cloned().unwrap_or_default();
    let with_refresh = match grant.as_str() {
        "client_credentials" => {
            if form
                .get("scope")
                .is_some_and(|sc| sc.split_whitespace().any(|x| x == "offline_access"))
            {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    "offline_access is not allowed for client credentials",
                );
            }
            false
        }
        "authorization_code" => {
            let code = form.get("code").cloned().unwrap_or_default();
            if !s.auth_codes.remove(&code) {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Authorization code invalid or used",
                );
            }
            true
        }
        "refresh_token" => {
            let presented = form.get("refresh_token").cloned().unwrap_or_default();
            match s.refresh_tokens.get(&presented).copied() {
                Some(RefreshState::Valid) => {
                    s.refresh_tokens.insert(presented, RefreshState::Spent);
                }
                Some(RefreshState::Spent) => {
                    s.stats.refresh_token_reuse += 1;
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Refresh token already used",
                    );
                }
                Some(RefreshState::Revoked) | None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "Refresh token revoked",
                    );
                }
            }
            true
        }
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "Unsupported grant type",
            );
        }
    };
    *s.stats.token_grants.entry(grant).or_default() += 1;
    let (access, refresh) = issue(&mut s, with_refresh);
    let mut out = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": s.token_lifetime.as_secs(),
        "scope": "monitoring",
    });
    if let Some(r) = refresh {
        out["refresh_token"] = json!(r);
    }
    json_response(StatusCode::OK, &out)
}

/// Issues an access token (and a refresh token).
pub(crate) fn issue(s: &mut SimState, with_refresh: bool) -> (String, Option<String>) {
    s.token_counter += 1;
    let n = s.token_counter;
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let access = format!("sim-at-{n}-{nonce}");
    s.access_tokens
        .insert(access.clone(), Instant::now() + s.token_lifetime);
    let refresh = with_refresh.then(|| {
        let r = format!("sim-rt-{n}-{nonce}");
        s.refresh_tokens.insert(r.clone(), RefreshState::Valid);
        r
    });
    (access, refresh)
}
