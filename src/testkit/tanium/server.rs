//! The HTTP side: the Gateway's GraphQL route and the Asset API route, with authentication and
//! fault injection, answering like the envoy front door of a real Gateway.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::SimRequest;
use super::faults::{FaultTarget, SimFault};
use super::graphql;
use super::state::SimState;

pub(crate) const GRAPHQL_PATH: &str = "/plugin/products/gateway/graphql";
pub(crate) const ASSET_PATH: &str = "/plugin/products/asset/v2/assets";

pub(crate) type Shared = Arc<Mutex<SimState>>;

pub(crate) fn lock(state: &Shared) -> std::sync::MutexGuard<'_, SimState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route(GRAPHQL_PATH, post(graphql_route))
        .route(ASSET_PATH, get(asset_route))
        .with_state(state)
}

#[derive(Deserialize)]
struct GraphqlBody {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    json_bytes_response(status, body.to_string().into_bytes())
}

fn json_bytes_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    h.insert(
        "tanium-gateway-version",
        HeaderValue::from_static("1.9.72.0000-sim"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::SERVER, HeaderValue::from_static("envoy"));
    r
}

fn text_response(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(header::SERVER, HeaderValue::from_static("envoy"));
    r
}

const LOGIN_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Tanium - Sign In</title></head><body><form method=\"post\" action=\"/auth/login\"><input name=\"username\"><input type=\"password\" name=\"password\"></form></body></html>";

/// The response a fault stands for; `None` for faults that only delay or alter state.
async fn apply_fault(state: &Shared, fault: SimFault) -> Option<Response> {
    Some(match fault {
        SimFault::Unauthorized => {
            text_response(StatusCode::UNAUTHORIZED, "text/plain", "Unauthorized")
        }
        SimFault::Forbidden => text_response(StatusCode::FORBIDDEN, "text/plain", "Forbidden"),
        SimFault::HtmlLoginPage => {
            text_response(StatusCode::OK, "text/html; charset=utf-8", LOGIN_PAGE)
        }
        SimFault::RedirectToLogin => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_static(
                    "/auth/realms/tanium/protocol/openid-connect/auth?client_id=console&state=xyz",
                ),
            );
            r
        }
        SimFault::RateLimited { retry_after } => {
            let mut r = text_response(
                StatusCode::TOO_MANY_REQUESTS,
                "text/plain",
                "rate limit exceeded",
            );
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        SimFault::BadGateway => text_response(
            StatusCode::BAD_GATEWAY,
            "text/plain",
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
        ),
        SimFault::GatewayTimeout => text_response(
            StatusCode::GATEWAY_TIMEOUT,
            "text/plain",
            "upstream request timeout",
        ),
        SimFault::GraphqlError(message) => json_response(
            StatusCode::OK,
            &json!({"errors": [{"message": message}], "data": null}),
        ),
        SimFault::NotJson => text_response(StatusCode::OK, "text/plain", "OK"),
        SimFault::Canned(canned) => canned.into_response(),
        SimFault::Slow(delay) => {
            tokio::time::sleep(delay).await;
            return None;
        }
        SimFault::ExpireCursors => {
            lock(state).expire_cursors();
            return None;
        }
    })
}

/// `None` when the `session` header carries the token; otherwise the Gateway's refusal.
fn refuse_auth(state: &Shared, headers: &HeaderMap) -> Option<Response> {
    let token = lock(state).token.clone();
    match headers.get("session").and_then(|v| v.to_str().ok()) {
        Some(t) if t == token => None,
        Some(_) => Some(text_response(
            StatusCode::FORBIDDEN,
            "text/plain",
            "Forbidden",
        )),
        None => Some(text_response(
            StatusCode::UNAUTHORIZED,
            "text/plain",
            "Unauthorized",
        )),
    }
}

async fn graphql_route(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let request: GraphqlBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"errors": [{"message": format!("invalid request body: {e}")}]}),
            );
        }
    };
    let variables = request.variables.clone().unwrap_or_default();
    let parsed = graphql::parse(
        &request.query,
        request.operation_name.as_deref(),
        &variables,
    );
    let root_fields: Vec<String> = match &parsed {
        Ok(op) => op.fields.iter().map(|f| f.name.clone()).collect(),
        Err(_) => Vec::new(),
    };
    let continues_listing = parsed.as_ref().is_ok_and(|op| {
        op.fields
            .iter()
            .any(|f| f.name == "endpoints" && f.args.get("after").is_some_and(|a| !a.is_null()))
    });
    let fault = {
        let mut s = lock(&state);
        s.log(SimRequest {
            operation: request
                .operation_name
                .clone()
                .or_else(|| parsed.as_ref().ok().and_then(|op| op.name.clone())),
            root_fields: root_fields.clone(),
            variables: Value::Object(variables.clone()),
        });
        s.take_fault(|t| match t {
            FaultTarget::Any => true,
            FaultTarget::Field(name) => root_fields.iter().any(|f| f == name),
            FaultTarget::CursorPage => continues_listing,
            FaultTarget::AssetApi => false,
        })
    };
    if let Some(fault) = fault
        && let Some(response) = apply_fault(&state, fault).await
    {
        return response;
    }
    if let Some(refusal) = refuse_auth(&state, &headers) {
        return refusal;
    }
    match parsed {
        Ok(op) => {
            let body = lock(&state).execute(&op);
            json_bytes_response(StatusCode::OK, body)
        }
        Err(message) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": [{"message": message}]}),
        ),
    }
}

async fn asset_route(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let fault = {
        let mut s = lock(&state);
        s.log(SimRequest {
            operation: Some("AssetApi".into()),
            root_fields: Vec::new(),
            variables: json!(query),
        });
        s.take_fault(|t| *t == FaultTarget::AssetApi)
    };
    if let Some(fault) = fault
        && let Some(response) = apply_fault(&state, fault).await
    {
        return response;
    }
    if let Some(refusal) = refuse_auth(&state, &headers) {
        return refusal;
    }
    let body = lock(&state).asset_rows(query.get("computerGroupId").map(String::as_str));
    json_response(StatusCode::OK, &body)
}
