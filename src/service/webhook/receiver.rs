//! `POST /webhooks/{name}`: checks in the order that costs the sender least and tells the
//! least — unknown integration 404, shutting down 503, content type 415, size 413, secret 401
//! (no detail), body 400 (with the reason) — then queues and answers 202 before any provider
//! call.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;

use super::queue::Enqueued;
use super::source::DeviceAction;
use crate::ErrorKind;
use crate::service::host::Shared;

pub(crate) fn webhook_routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/webhooks/{name}", post(receive))
        // The handler reads the body itself with the configured limit (and counts refusals).
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn retry_after(mut r: Response, secs: u32) -> Response {
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    r
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        })
        .unwrap_or(false)
}

async fn receive(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // Unknown names are not counted: a label per probed path would let anyone grow the metrics.
    let Some(slot) = shared.slot(&name) else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "no such integration"}),
        );
    };
    let Some(source) = &slot.spec.webhook else {
        return answer(
            StatusCode::NOT_FOUND,
            json!({"error": "this integration receives no webhooks"}),
        );
    };
    let metrics = &shared.metrics;
    if shared.draining() {
        metrics.webhook_event(&name, "shutting_down");
        return retry_after(
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "shutting down"}),
            ),
            30,
        );
    }
    if !is_json(&headers) {
        metrics.webhook_event(&name, "unsupported_media_type");
        return answer(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            json!({"error": "expected Content-Type: application/json"}),
        );
    }
    let limit = shared.options.webhook_body_limit;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        metrics.webhook_event(&name, "too_large");
        answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("body larger than {limit} bytes")}),
        )
    };
    if declared.is_some_and(|n| n > limit as u64) {
        return too_large();
    }
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return too_large();
    };
    let delivery = match source.parse(&headers, &bytes) {
        Ok(d) => d,
        Err(e) if e.kind() == ErrorKind::Unauthorized => {
            metrics.webhook_event(&name, "unauthorized");
            tracing::debug!(integration = %name, "webhook refused: wrong or missing secret");
            return StatusCode::UNAUTHORIZED.into_response();
        }
        Err(e) => {
            metrics.webhook_event(&name, "malformed");
            return answer(StatusCode::BAD_REQUEST, json!({"error": e.message()}));
        }
    };
    if delivery.action == DeviceAction::Ignore {
        metrics.webhook_event(&name, "ignored");
        return answer(StatusCode::ACCEPTED, json!({"status": "ignored"}));
    }
    let result = slot.queue.push(delivery);
    metrics.webhook_event(&name, result.as_str());
    match result {
        Enqueued::Accepted | Enqueued::Coalesced => {
            answer(StatusCode::ACCEPTED, json!({"status": result.as_str()}))
        }
        Enqueued::Duplicate => answer(StatusCode::OK, json!({"status": "duplicate"})),
        Enqueued::Full => retry_after(
            answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "too many events waiting; retry later"}),
            ),
            5,
        ),
    }
}
