//! The simulator answers like the recorded real server (provider-apis.md §C.2, §C.3, §C.6,
//! §D.3), independently of the adapter.

use reqwest::StatusCode;
use rmm_sync::testkit::TacticalSim;
use serde_json::{Value, json};

async fn call(
    sim: &TacticalSim,
    method: reqwest::Method,
    path: &str,
    key: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let mut request = reqwest::Client::new().request(method, format!("{}{path}", sim.url()));
    if let Some(k) = key {
        request = request.header("X-API-KEY", k);
    }
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

#[tokio::test]
async fn unauthenticated_and_bad_credentials_get_drf_401s() {
    let sim = TacticalSim::builder().agents(1).start().await;
    let (status, headers, body) = call(&sim, reqwest::Method::GET, "agents/", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers["www-authenticate"], "Token");
    assert_eq!(
        body,
        r#"{"detail":"Authentication credentials were not provided."}"#
    );
    let (status, _, body) = call(&sim, reqwest::Method::GET, "agents/", Some("nope"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, r#"{"detail":"Invalid token."}"#);
}

#[tokio::test]
async fn wrong_verbs_get_405_and_unknown_paths_an_html_404() {
    let sim = TacticalSim::builder().agents(1).start().await;
    let key = sim.api_key();
    let (status, _, body) = call(
        &sim,
        reqwest::Method::POST,
        "agents/",
        Some(&key),
        Some(json!({})),
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body, r#"{"detail":"Method \"POST\" not allowed."}"#);
    let (status, _, _) = call(&sim, reqwest::Method::GET, "v2/login/", None, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, headers, body) = call(
        &sim,
        reqwest::Method::GET,
        "nothing/here/",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body.contains("Not Found"));
    let (status, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "agents/unknown-agent/",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, r#"{"detail":"No Agent matches the given query."}"#);
    sim.set_beta_enabled(false);
    let (status, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "beta/v1/agent/",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("<h1>Not Found</h1>"));
}

#[tokio::test]
async fn the_login_flow_matches_the_recorded_server() {
    let sim = TacticalSim::builder()
        .agents(1)
        .totp_user("tech", "pw", "123456")
        .start()
        .await;
    let post = |path: &'static str, body: Value| {
        let sim = &sim;
        async move { call(sim, reqwest::Method::POST, path, None, Some(body)).await }
    };
    let (status, _, body) = post(
        "v2/checkcreds/",
        json!({"username": "admin", "password": "password"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["totp"], false);
    assert_eq!(v["token"].as_str().unwrap().len(), 64);
    assert!(v["expiry"].is_string());

    let (status, _, body) = post(
        "v2/checkcreds/",
        json!({"username": "admin", "password": "x"}),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, r#""Bad credentials""#)
    );

    let (_, _, body) = post(
        "v2/checkcreds/",
        json!({"username": "tech", "password": "pw"}),
    )
    .await;
    assert_eq!(body, r#"{"totp":true}"#);
    let (status, _, _) = post("v2/login/", json!({"username": "tech", "password": "pw"})).await;
    assert_eq!(
        status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "login without twofactor"
    );
    let (status, _, body) = post(
        "v2/login/",
        json!({"username": "tech", "password": "pw", "twofactor": "000000"}),
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::BAD_REQUEST, r#""Bad credentials""#)
    );
    let (status, _, body) = post(
        "v2/login/",
        json!({"username": "tech", "password": "bad", "twofactor": "123456"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("non_field_errors"));
    let (status, _, body) = post(
        "v2/login/",
        json!({"username": "tech", "password": "pw", "twofactor": "123456"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["username"], "tech");
    assert!(v["name"].is_null());
    let token = v["token"].as_str().unwrap();
    let response = reqwest::Client::new()
        .get(format!("{}clients/", sim.url()))
        .header("Authorization", format!("Token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn logins_are_throttled_per_minute() {
    let sim = TacticalSim::builder()
        .agents(1)
        .login_limit_per_minute(2)
        .start()
        .await;
    let body = json!({"username": "admin", "password": "password"});
    for _ in 0..2 {
        let (status, _, _) = call(
            &sim,
            reqwest::Method::POST,
            "v2/checkcreds/",
            None,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, headers, text) = call(
        &sim,
        reqwest::Method::POST,
        "v2/checkcreds/",
        None,
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(
        text,
        format!(r#"{{"detail":"Request was throttled. Expected available in {wait} seconds."}}"#)
    );
    let (status, _, _) = call(
        &sim,
        reqwest::Method::GET,
        "clients/",
        Some(&sim.api_key()),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "authenticated endpoints are not throttled"
    );
}

#[tokio::test]
async fn beta_paging_follows_drf() {
    let sim = TacticalSim::builder().agents(5).start().await;
    let key = sim.api_key();
    let (_, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "beta/v1/agent/?page_size=2",
        Some(&key),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["count"], 5);
    assert!(v["previous"].is_null());
    assert!(
        v["next"]
            .as_str()
            .unwrap()
            .ends_with("/beta/v1/agent/?page=2&page_size=2")
    );
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    assert_eq!(v["results"][0]["id"], 1);
    assert!(v["results"][0]["site"].is_i64());
    let (status, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "beta/v1/agent/?page=4&page_size=2",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::NOT_FOUND, r#"{"detail":"Invalid page."}"#)
    );
    let (_, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "beta/v1/agent/?page_size=5000",
        Some(&key),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert!(v["next"].is_null(), "page size capped at 1000 covers all");
    let (_, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "beta/v1/client/",
        Some(&key),
        None,
    )
    .await;
    assert!(
        serde_json::from_str::<Value>(&body).unwrap().is_array(),
        "clients unpaginated"
    );
    let (_, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "beta/v1/site/",
        Some(&key),
        None,
    )
    .await;
    assert!(
        serde_json::from_str::<Value>(&body).unwrap()["results"].is_array(),
        "sites paginated"
    );
}

#[tokio::test]
async fn classic_listing_validates_and_omits_missing_policy() {
    let sim = TacticalSim::builder().agents(3).start().await;
    let key = sim.api_key();
    let (status, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "agents/?monitoring_type=laptop",
        Some(&key),
        None,
    )
    .await;
    assert_eq!(
        (status, body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#""monitoring type does not exist""#
        )
    );
    let (_, _, body) = call(&sim, reqwest::Method::GET, "agents/", Some(&key), None).await;
    let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].get("policy").is_none());
    assert!(rows[0]["cpu_model"].is_array() && rows[0]["local_ips"].is_string());
    let (_, _, body) = call(
        &sim,
        reqwest::Method::GET,
        "agents/?detail=false",
        Some(&key),
        None,
    )
    .await;
    let rows: Vec<Value> = serde_json::from_str(&body).unwrap();
    let keys: Vec<&String> = rows[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["agent_id", "client", "hostname", "id", "site"]);
}
