//! `GET /healthz` (the process answers), `GET /readyz` (the store answers and the service is
//! not shutting down) and `GET /metrics` (Prometheus text).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::host::Shared;

pub(crate) fn service_routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(shared): State<Arc<Shared>>) -> Response {
    if shared.draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    let store = shared.orchestrator.engine().store();
    // One cheap read per integration's tenant would be redundant: one read proves the store.
    let probe = match shared.slots.values().next() {
        Some(slot) => store
            .get_integration(slot.spec.tenant, slot.spec.integration)
            .await
            .map(|_| ()),
        None => Ok(()),
    };
    match probe {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("store unreachable: {}\n", e.kind().as_str()),
        )
            .into_response(),
    }
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response()
}
