//! Request handling: Django's URL resolution (HTML 404 for unknown paths), DRF's order of
//! checks (authentication, then method, then the view), login throttling, paging and filters.

use axum::http::{HeaderMap, Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::render;
use super::state::{SimAuth, SimRequest, SimState};
use crate::provider::http::constant_time_eq;
use crate::testkit::CannedResponse;

/// A response before it becomes an axum response.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Vec<u8>,
}

impl Reply {
    fn json(status: StatusCode, value: &Value) -> Self {
        Reply {
            status,
            content_type: "application/json",
            headers: Vec::new(),
            body: serde_json::to_vec(value).expect("JSON values serialize"),
        }
    }

    fn ok(value: &Value) -> Self {
        Self::json(StatusCode::OK, value)
    }

    fn detail(status: StatusCode, detail: &str) -> Self {
        Self::json(status, &json!({ "detail": detail }))
    }

    fn html(status: StatusCode, body: &str) -> Self {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn canned(canned: CannedResponse) -> Self {
        let content_type: &'static str = match canned.content_type.as_str() {
            ct if ct.contains("json") => "application/json",
            ct if ct.contains("html") => "text/html; charset=utf-8",
            _ => "text/plain",
        };
        let mut reply = Reply {
            status: StatusCode::from_u16(canned.status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            content_type,
            headers: Vec::new(),
            body: canned.body.into_bytes(),
        };
        if let Some(wait) = canned.retry_after {
            reply = reply.with_header("retry-after", wait);
        }
        reply
    }

    fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

const DJANGO_404: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n";
const DJANGO_500: &str = "<!doctype html>\n<html lang=\"en\">\n<head>\n  <title>Server Error (500)</title>\n</head>\n<body>\n  <h1>Server Error (500)</h1><p></p>\n</body>\n</html>\n";
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const DASHBOARD: &str = "<!DOCTYPE html><html><head><title>Tactical RMM</title></head><body><div id=q-app></div><script src=/js/app.js></script></body></html>";

/// The view a path resolves to.
enum Route {
    CheckCreds,
    Login,
    Clients,
    AgentList,
    Agent(String),
    BetaAgents,
    BetaAgent(String),
    BetaClients,
    BetaSites,
}

fn resolve(path: &str, beta: bool) -> Option<Route> {
    let p = path.trim_start_matches('/');
    let segments: Vec<&str> = p.split('/').collect();
    // Every route ends with a slash, so the last segment is empty.
    match segments.as_slice() {
        ["v2", "checkcreds", ""] => Some(Route::CheckCreds),
        ["v2", "login", ""] => Some(Route::Login),
        ["clients", ""] => Some(Route::Clients),
        ["agents", ""] => Some(Route::AgentList),
        ["agents", id, ""] if !id.is_empty() => Some(Route::Agent(percent_decode(id))),
        ["beta", "v1", rest @ ..] if beta => match rest {
            ["agent", ""] => Some(Route::BetaAgents),
            ["agent", pk, ""] if !pk.is_empty() => Some(Route::BetaAgent((*pk).to_owned())),
            ["client", ""] => Some(Route::BetaClients),
            ["site", ""] => Some(Route::BetaSites),
            _ => None,
        },
        _ => None,
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Handles one request against the state.
pub(crate) fn handle(
    state: &mut SimState,
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let now = Utc::now();
    let auth = authenticate(state, headers, now);
    state.requests.push(SimRequest {
        method: method.to_string(),
        path: path.to_owned(),
        query: query.to_owned(),
        auth: match &auth {
            Ok(Some(a)) => a.clone(),
            Ok(None) => SimAuth::None,
            Err(_) => SimAuth::Rejected,
        },
    });
    if state.dashboard_mode {
        return Reply::html(StatusCode::OK, DASHBOARD);
    }
    if let Some(fault) = state.take_fault(path.trim_start_matches('/')) {
        return match fault.canned {
            Some(canned) => Reply::canned(canned),
            None => fault_reply(fault.status, fault.retry_after),
        };
    }
    let Some(route) = resolve(path, state.beta_enabled) else {
        return Reply::html(StatusCode::NOT_FOUND, DJANGO_404);
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    match route {
        Route::CheckCreds | Route::Login => {
            if method != Method::POST {
                return not_allowed(method);
            }
            let login = matches!(route, Route::Login);
            let throttle = if login {
                &mut state.login_throttle
            } else {
                &mut state.checkcreds_throttle
            };
            if let Err(wait) = throttle.hit() {
                return throttled(wait);
            }
            let body: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => {
                    return Reply::detail(
                        StatusCode::BAD_REQUEST,
                        &format!("JSON parse error - {e}"),
                    );
                }
            };
            if login {
                login_view(state, &body)
            } else {
                checkcreds_view(state, &body)
            }
        }
        _ => {
            match auth {
                Err(detail) => {
                    return Reply::detail(StatusCode::UNAUTHORIZED, detail)
                        .with_header("www-authenticate", "Token".into());
                }
                Ok(None) => {
                    return Reply::detail(
                        StatusCode::UNAUTHORIZED,
                        "Authentication credentials were not provided.",
                    )
                    .with_header("www-authenticate", "Token".into());
                }
                Ok(Some(_)) => {}
            }
            if method != Method::GET {
                return not_allowed(method);
            }
            match route {
                Route::Clients => clients_view(state),
                Route::AgentList => agent_list_view(state, &param, now),
                Route::Agent(id) => match state.agent_by_id(&id) {
                    Some(a) => {
                        let site = &state.sites[&a.site];
                        Reply::ok(&render::detail(a, &state.clients[&site.client], site, now))
                    }
                    None => {
                        Reply::detail(StatusCode::NOT_FOUND, "No Agent matches the given query.")
                    }
                },
                Route::BetaAgents => beta_agents_view(state, &params, headers, path),
                Route::BetaAgent(pk) => {
                    match pk.parse::<i64>().ok().and_then(|pk| state.agents.get(&pk)) {
                        Some(a) => {
                            let mut row = render::beta_row(a);
                            row["status"] = render::status(a, now).into();
                            Reply::ok(&row)
                        }
                        None => Reply::detail(
                            StatusCode::NOT_FOUND,
                            "No Agent matches the given query.",
                        ),
                    }
                }
                Route::BetaClients => Reply::ok(&Value::Array(
                    state.clients.values().map(render::beta_client).collect(),
                )),
                Route::BetaSites => {
                    let rows: Vec<&super::fleet::SimSite> = state.sites.values().collect();
                    let render = |s: &&super::fleet::SimSite, out: &mut Vec<u8>| {
                        out.extend(serde_json::to_vec(&render::beta_site(s)).expect("JSON"));
                    };
                    paginate(&rows, render, &params, headers, path)
                }
                Route::CheckCreds | Route::Login => unreachable!("handled above"),
            }
        }
    }
}

/// DRF authentication: Knox `Authorization: Token …` first, then `X-API-KEY`. `Ok(None)`:
/// no credentials; `Err`: the detail of a 401.
fn authenticate(
    state: &mut SimState,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> Result<Option<SimAuth>, &'static str> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let mut parts = value.split_whitespace();
        if parts
            .next()
            .is_some_and(|k| k.eq_ignore_ascii_case("token"))
        {
            let token = parts.next().unwrap_or("");
            let ttl = state.knox_ttl;
            return match state.tokens.get_mut(token) {
                Some(t) if t.expiry > now => {
                    // Knox AUTO_REFRESH with MIN_REFRESH_INTERVAL = 600 s.
                    let renewed = now + ttl;
                    if (renewed - t.expiry).num_seconds() > 600 {
                        t.expiry = renewed;
                    }
                    Ok(Some(SimAuth::Knox(t.username.clone())))
                }
                Some(_) => {
                    state.tokens.remove(token);
                    Err("Invalid token.")
                }
                None => Err("Invalid token."),
            };
        }
    }
    if let Some(key) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        let found = state
            .api_keys
            .iter()
            .find(|(k, _)| constant_time_eq(key.as_bytes(), k.as_bytes()))
            .map(|(_, expiry)| *expiry);
        return match found {
            Some(Some(expiry)) if expiry <= now => Err("The token has expired."),
            Some(_) => Ok(Some(SimAuth::ApiKey)),
            None => Err("Invalid token."),
        };
    }
    Ok(None)
}

fn not_allowed(method: &Method) -> Reply {
    Reply::detail(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("Method \"{method}\" not allowed."),
    )
}

fn throttled(wait: u64) -> Reply {
    Reply::detail(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("Request was throttled. Expected available in {wait} seconds."),
    )
    .with_header("retry-after", wait.to_string())
}

fn fault_reply(status: u16, retry_after: Option<u64>) -> Reply {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut reply = match status {
        429 => throttled(retry_after.unwrap_or(1)),
        401 => {
            Reply::detail(code, "Invalid token.").with_header("www-authenticate", "Token".into())
        }
        403 => Reply::detail(code, "You do not have permission to perform this action."),
        502..=504 => Reply::html(code, NGINX_502),
        500..=599 => Reply::html(code, DJANGO_500),
        _ => Reply::detail(code, "Simulated failure."),
    };
    if status != 429
        && let Some(wait) = retry_after
    {
        reply = reply.with_header("retry-after", wait.to_string());
    }
    reply
}

fn bad_credentials() -> Reply {
    Reply::json(StatusCode::BAD_REQUEST, &json!("Bad credentials"))
}

fn credentials<'a>(
    state: &'a SimState,
    body: &Value,
) -> Option<(&'a str, &'a super::state::SimUser)> {
    let username = body.get("username")?.as_str()?;
    let password = body.get("password")?.as_str()?;
    let (name, user) = state.users.get_key_value(username)?;
    constant_time_eq(password.as_bytes(), user.password.as_bytes()).then_some((name.as_str(), user))
}

/// `POST /v2/checkcreds/`: a short-lived token for users without TOTP, `{"totp": true}` for the
/// others.
fn checkcreds_view(state: &mut SimState, body: &Value) -> Reply {
    let Some((name, user)) = credentials(state, body) else {
        return bad_credentials();
    };
    if user.totp_code.is_some() {
        return Reply::ok(&json!({"totp": true}));
    }
    let name = name.to_owned();
    let (token, expiry) = state.new_token(&name, chrono::Duration::seconds(180));
    Reply::ok(&json!({"expiry": render::drf_time(expiry), "token": token, "totp": false}))
}

/// `POST /v2/login/`: needs `twofactor` (HTTP 500 without it, as the real server).
fn login_view(state: &mut SimState, body: &Value) -> Reply {
    let Some(code) = body.get("twofactor").and_then(Value::as_str) else {
        return Reply::html(StatusCode::INTERNAL_SERVER_ERROR, DJANGO_500);
    };
    let Some((name, user)) = credentials(state, body) else {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({"non_field_errors": ["Unable to log in with provided credentials."]}),
        );
    };
    let Some(expected) = &user.totp_code else {
        return Reply::html(StatusCode::INTERNAL_SERVER_ERROR, DJANGO_500);
    };
    if code.trim() != expected {
        return bad_credentials();
    }
    let name = name.to_owned();
    let ttl = state.knox_ttl;
    let (token, expiry) = state.new_token(&name, ttl);
    Reply::ok(
        &json!({"expiry": render::drf_time(expiry), "token": token, "username": name, "name": null}),
    )
}

fn clients_view(state: &SimState) -> Reply {
    let mut counts: std::collections::HashMap<i64, usize> = std::collections::HashMap::new();
    for a in state.agents.values() {
        *counts.entry(a.site).or_default() += 1;
    }
    let rows: Vec<Value> = state
        .clients
        .values()
        .filter(|c| state.client_visible(c.id))
        .map(|c| {
            let sites: Vec<(&super::fleet::SimSite, usize)> = state
                .sites
                .values()
                .filter(|s| s.client == c.id)
                .map(|s| (s, counts.get(&s.id).copied().unwrap_or(0)))
                .collect();
            render::client(c, &sites)
        })
        .collect();
    Reply::ok(&Value::Array(rows))
}

fn agent_list_view<'a>(
    state: &SimState,
    param: &dyn Fn(&str) -> Option<&'a str>,
    now: DateTime<Utc>,
) -> Reply {
    let monitoring = param("monitoring_type");
    if monitoring.is_some_and(|m| m != "server" && m != "workstation") {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!("monitoring type does not exist"),
        );
    }
    let client = param("client").and_then(|c| c.parse::<i64>().ok());
    let site = param("site").and_then(|s| s.parse::<i64>().ok());
    let brief = param("detail") == Some("false");
    let rows: Vec<Value> = state
        .agents
        .values()
        .filter(|a| monitoring.is_none_or(|m| a.monitoring_type == m))
        .filter(|a| site.is_none_or(|s| a.site == s))
        .filter(|a| client.is_none_or(|c| state.sites[&a.site].client == c))
        .filter(|a| state.client_visible(state.sites[&a.site].client))
        .map(|a| {
            let s = &state.sites[&a.site];
            let c = &state.clients[&s.client];
            if brief {
                render::hostname_row(a, c, s)
            } else {
                render::table_row(a, c, s, now)
            }
        })
        .collect();
    Reply::ok(&Value::Array(rows))
}

fn beta_agents_view(
    state: &mut SimState,
    params: &[(String, String)],
    headers: &HeaderMap,
    path: &str,
) -> Reply {
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut after = None;
    let mut before = None;
    for (key, slot) in [
        ("last_seen_range_after", &mut after),
        ("last_seen_range_before", &mut before),
    ] {
        if let Some(raw) = param(key) {
            match crate::provider::tactical::parse_time(raw) {
                Some(t) => *slot = Some(t),
                None => {
                    return Reply::json(
                        StatusCode::BAD_REQUEST,
                        &json!({"last_seen_range": ["Enter a valid date/time."]}),
                    );
                }
            }
        }
    }
    let key = listing_key(params);
    let generation = state.generation;
    let rows = match state.listings.get(&key) {
        Some((g, rows)) if *g == generation => std::sync::Arc::clone(rows),
        _ => {
            let rows = std::sync::Arc::new(filter_agents(state, &param, after, before));
            if state.listings.len() >= MAX_CACHED_LISTINGS {
                state.listings.clear();
            }
            state
                .listings
                .insert(key, (generation, std::sync::Arc::clone(&rows)));
            rows
        }
    };
    // Raw rows do not depend on the clock, so each is rendered once until the agent changes.
    let render = |pk: &i64, out: &mut Vec<u8>| {
        let cached = state.row_cache.entry(*pk).or_insert_with(|| {
            serde_json::to_vec(&render::beta_row(&state.agents[pk])).expect("JSON")
        });
        out.extend_from_slice(cached);
    };
    paginate(&rows, render, params, headers, path)
}

/// Listings kept at once (one per scope being listed is plenty).
const MAX_CACHED_LISTINGS: usize = 256;

/// A beta listing's identity: its query without the paging parameters, in a fixed order.
fn listing_key(params: &[(String, String)]) -> String {
    let mut kept: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "page" && k != "page_size")
        .collect();
    kept.sort();
    kept.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The primary keys the beta listing's filters select, in the requested order.
fn filter_agents<'a>(
    state: &SimState,
    param: &dyn Fn(&str) -> Option<&'a str>,
    after: Option<DateTime<Utc>>,
    before: Option<DateTime<Utc>>,
) -> Vec<i64> {
    let int = |k: &str| param(k).and_then(|v| v.parse::<i64>().ok());
    let (site, client) = (int("site"), int("client_id"));
    let (agent_id, hostname) = (param("agent_id"), param("hostname"));
    let (monitoring, plat) = (param("monitoring_type"), param("plat"));
    let mut rows: Vec<i64> = state
        .agents
        .values()
        .filter(|a| agent_id.is_none_or(|id| a.agent_id == id))
        .filter(|a| hostname.is_none_or(|h| a.hostname == h))
        .filter(|a| monitoring.is_none_or(|m| a.monitoring_type == m))
        .filter(|a| plat.is_none_or(|p| a.plat == p))
        .filter(|a| site.is_none_or(|s| a.site == s))
        .filter(|a| client.is_none_or(|c| state.sites[&a.site].client == c))
        .filter(|a| after.is_none_or(|t| a.last_seen.is_some_and(|s| s >= t)))
        .filter(|a| before.is_none_or(|t| a.last_seen.is_some_and(|s| s <= t)))
        .map(|a| a.id)
        .collect();
    if param("ordering") == Some("-id") {
        rows.reverse();
    }
    rows
}

/// DRF `PageNumberPagination` (page size 100 by default, at most 1000; past the end 404).
/// Only the requested page is rendered, each row appended as JSON by `render`.
fn paginate<T>(
    rows: &[T],
    mut render: impl FnMut(&T, &mut Vec<u8>),
    params: &[(String, String)],
    headers: &HeaderMap,
    path: &str,
) -> Reply {
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let size = param("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(100)
        .min(1000);
    let page = match param("page") {
        None => 1,
        Some(p) => match p.parse::<usize>() {
            Ok(p) if p >= 1 => p,
            _ => return Reply::detail(StatusCode::NOT_FOUND, "Invalid page."),
        },
    };
    let count = rows.len();
    let pages = count.div_ceil(size).max(1);
    if page > pages {
        return Reply::detail(StatusCode::NOT_FOUND, "Invalid page.");
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let link = |p: usize| {
        let mut query: Vec<(String, String)> = params
            .iter()
            .filter(|(k, _)| k != "page")
            .cloned()
            .collect();
        if p > 1 {
            query.push(("page".into(), p.to_string()));
        }
        // DRF's replace_query_param re-encodes the query with sorted keys.
        query.sort();
        let q = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(query)
            .finish();
        let sep = if q.is_empty() { "" } else { "?" };
        Value::String(format!("http://{host}{path}{sep}{q}"))
    };
    let next = if page < pages {
        link(page + 1)
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    // The envelope is written by hand so cached row bytes can be spliced in.
    let mut body = format!(r#"{{"count":{count},"next":{next},"previous":{previous},"results":["#)
        .into_bytes();
    for (i, row) in rows.iter().skip((page - 1) * size).take(size).enumerate() {
        if i > 0 {
            body.push(b',');
        }
        render(row, &mut body);
    }
    body.extend_from_slice(b"]}");
    Reply {
        status: StatusCode::OK,
        content_type: "application/json",
        headers: Vec::new(),
        body,
    }
}
