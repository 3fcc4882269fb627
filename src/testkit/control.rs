//! The control API every simulator serves next to the provider's own routes, so a simulator
//! running as its own process (`rmm-sync simulate`) can be driven by a test or a benchmark over
//! HTTP: `POST /_sim/mutate`, `POST /_sim/fault`, `GET /_sim/stats`.
//!
//! These paths take no provider credentials: a simulator is a test tool and listens on
//! loopback unless told otherwise. Each simulator implements the `SimControl` trait in its own
//! `control.rs`; the request and response shapes are shared here.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::CannedResponse;

/// `POST /_sim/mutate`: how many devices to change, add, remove and move (all optional, zero
/// by default), applied in that order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MutateRequest {
    /// Devices whose data changes (a new name, seen now), spread evenly over the fleet.
    #[serde(default)]
    pub change: u64,
    /// New devices, spread over the scopes.
    #[serde(default)]
    pub add: u64,
    /// Devices removed, spread evenly over the fleet.
    #[serde(default)]
    pub remove: u64,
    /// Devices moved to the next scope (group, site, organization), spread evenly.
    #[serde(default, rename = "move")]
    pub move_: u64,
}

/// What a mutation did: the device ids each step touched.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutateResponse {
    /// Changed devices.
    pub changed: Vec<String>,
    /// Added devices.
    pub added: Vec<String>,
    /// Removed devices.
    pub removed: Vec<String>,
    /// Moved devices.
    pub moved: Vec<String>,
    /// Devices in the fleet afterwards.
    pub devices: u64,
}

/// `POST /_sim/fault`: answer the next `times` matching requests with this status and body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRequest {
    /// The HTTP status.
    pub status: u16,
    /// The body (default `{"error":"simulated fault"}`).
    #[serde(default)]
    pub body: Option<String>,
    /// Its content type (default `application/json`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// A `Retry-After` header value, verbatim.
    #[serde(default)]
    pub retry_after: Option<String>,
    /// How many requests it answers (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// Which requests: a path prefix (Tactical RMM, NinjaOne) or a target (Tanium: a GraphQL
    /// root field such as `endpoints`, `cursor` for pages after the first, `asset` for the
    /// Asset API). Default: any provider request.
    #[serde(default)]
    pub path: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultRequest {
    /// The answer it asks for.
    pub fn canned(&self) -> CannedResponse {
        let body = self
            .body
            .as_deref()
            .unwrap_or(r#"{"error":"simulated fault"}"#);
        let mut canned = CannedResponse::with_type(
            self.status,
            self.content_type.as_deref().unwrap_or("application/json"),
            body,
        );
        canned.retry_after = self.retry_after.clone();
        canned
    }
}

/// `POST /_sim/fault`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultResponse {
    /// Fault answers now queued, this one included.
    pub faults_pending: u64,
}

/// `GET /_sim/stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimStatsResponse {
    /// `tanium`, `ninjaone` or `tacticalrmm`.
    pub provider: String,
    /// Provider requests served since the start (control requests not counted).
    pub requests: u64,
    /// Devices in the fleet.
    pub devices: u64,
    /// Scopes (groups, clients, organizations).
    pub scopes: u64,
    /// Fault answers still queued.
    pub faults_pending: u64,
}

/// What a simulator does for its control routes.
pub(crate) trait SimControl: Send + Sync + 'static {
    fn mutate(&self, request: &MutateRequest) -> MutateResponse;
    /// Queues a fault; `Err` names what is wrong with the request.
    fn fault(&self, request: &FaultRequest) -> Result<(), String>;
    fn stats(&self) -> SimStatsResponse;
}

/// The control routes, to merge into a simulator's router.
pub(crate) fn router<C: SimControl>(control: C) -> Router {
    Router::new()
        .route("/_sim/mutate", post(mutate::<C>))
        .route("/_sim/fault", post(fault::<C>))
        .route("/_sim/stats", get(stats::<C>))
        .with_state(Arc::new(control))
}

async fn mutate<C: SimControl>(
    State(c): State<Arc<C>>,
    Json(request): Json<MutateRequest>,
) -> Json<MutateResponse> {
    Json(c.mutate(&request))
}

async fn fault<C: SimControl>(
    State(c): State<Arc<C>>,
    Json(request): Json<FaultRequest>,
) -> Response {
    if StatusCode::from_u16(request.status).is_err() {
        return bad_request(format!("status {} is not an HTTP status", request.status));
    }
    if request.times == 0 {
        return bad_request("times must be at least 1".into());
    }
    match c.fault(&request) {
        Ok(()) => Json(FaultResponse {
            faults_pending: c.stats().faults_pending,
        })
        .into_response(),
        Err(message) => bad_request(message),
    }
}

fn bad_request(message: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message })),
    )
        .into_response()
}

async fn stats<C: SimControl>(State(c): State<Arc<C>>) -> Json<SimStatsResponse> {
    Json(c.stats())
}

/// `n` indices spread evenly over `0..len` (every `len / n`-th, starting at `round` within the
/// stride, so repeated calls touch other devices); all of them when `n >= len`.
pub(crate) fn spread(len: usize, n: u64, round: u64) -> Vec<usize> {
    let n = usize::try_from(n).unwrap_or(usize::MAX).min(len);
    if n == 0 {
        return Vec::new();
    }
    let stride = len / n;
    let start = usize::try_from(round).unwrap_or(0) % stride;
    (0..n).map(|i| start + i * stride).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_even_distinct_and_bounded() {
        let picks = spread(100, 10, 3);
        assert_eq!(picks.len(), 10);
        assert_eq!(picks[0], 3);
        assert_eq!(picks[9], 93);
        assert_eq!(spread(5, 10, 7), vec![0, 1, 2, 3, 4]);
        assert!(spread(0, 3, 0).is_empty());
        assert!(spread(10, 0, 0).is_empty());
    }

    #[test]
    fn fault_request_defaults() {
        let r: FaultRequest = serde_json::from_str(r#"{"status": 429}"#).unwrap();
        assert_eq!(r.times, 1);
        let c = r.canned();
        assert_eq!(c.status, 429);
        assert_eq!(c.content_type, "application/json");
        assert!(serde_json::from_str::<MutateRequest>(r#"{"chnage": 1}"#).is_err());
    }
}
