//! Incoming webhooks. Tactical RMM has no fixed webhook format: an alert template's REST
//! action posts whatever JSON body and headers the admin writes, with `{{agent.…}}`,
//! `{{alert.…}}`, `{{client.…}}` and `{{site.…}}` placeholders filled in. This module defines
//! the contract (see `docs/providers/tactical.md` for the template to paste): a shared secret
//! in a header, compared in constant time, and a JSON body naming at least the agent.
//!
//! Routing a webhook to a tenant is the host's job (by the URL it gave each integration);
//! nothing in the body is trusted for that.

use std::fmt;

use chrono::{DateTime, Utc};
use reqwest::header::{HeaderMap, HeaderName};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::dto::parse_time;
use crate::error::{Error, ErrorKind, Result};
use crate::model::ExternalDeviceId;
use crate::provider::http::constant_time_eq;

/// The header carrying the shared secret unless configured otherwise.
pub const DEFAULT_WEBHOOK_HEADER: &str = "X-RMM-Sync-Secret";
/// The body to give an alert template's REST action (method POST) for alerts: Tactical fills
/// the placeholders when the alert fires. Add `"message": "{{alert.message}}"` if alert texts
/// never contain double quotes (Tactical does not escape them).
pub const ALERT_WEBHOOK_TEMPLATE: &str = r#"{"event": "trigger", "agent_id": "{{agent.agent_id}}", "hostname": "{{agent.hostname}}", "alert_id": "{{alert.id}}", "alert_type": "{{alert.alert_type}}", "severity": "{{alert.severity}}", "alert_time": "{{alert.alert_time}}", "client_id": "{{client.id}}", "site_id": "{{site.id}}"}"#;
/// The body for the template's resolved action.
pub const RESOLVED_WEBHOOK_TEMPLATE: &str = r#"{"event": "resolve", "agent_id": "{{agent.agent_id}}", "hostname": "{{agent.hostname}}", "alert_id": "{{alert.id}}", "alert_type": "{{alert.alert_type}}", "severity": "{{alert.severity}}", "alert_time": "{{alert.alert_time}}", "client_id": "{{client.id}}", "site_id": "{{site.id}}"}"#;
/// Bodies larger than this are refused before parsing (a real payload is well under 4 KiB).
pub const MAX_WEBHOOK_BODY: usize = 64 * 1024;

/// The webhook secret and the header it travels in.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TacticalWebhookConfig {
    /// The shared secret (generate 32 random bytes, hex-encode them).
    pub secret: SecretString,
    /// The header name; default [`DEFAULT_WEBHOOK_HEADER`].
    #[serde(default = "default_header")]
    pub header: String,
}

fn default_header() -> String {
    DEFAULT_WEBHOOK_HEADER.to_owned()
}

impl TacticalWebhookConfig {
    /// A secret sent in the default header.
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: SecretString::from(secret.into()),
            header: default_header(),
        }
    }
}

impl fmt::Debug for TacticalWebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TacticalWebhookConfig")
            .field("secret", &"<redacted>")
            .field("header", &self.header)
            .finish()
    }
}

/// Verifies and parses webhook deliveries for one integration.
///
/// ```
/// use reqwest::header::{HeaderMap, HeaderValue};
/// use rmm_sync::provider::tactical::{TacticalWebhookConfig, TacticalWebhookEvent, TacticalWebhookVerifier};
///
/// let verifier = TacticalWebhookVerifier::new(&TacticalWebhookConfig::new("s3cret")).unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert("x-rmm-sync-secret", HeaderValue::from_static("s3cret"));
/// let body = br#"{"event":"trigger","agent_id":"abc","alert_id":"17","severity":"error"}"#;
/// let event = verifier.verify_and_parse(&headers, body).unwrap();
/// assert_eq!(event.agent_id().as_str(), "abc");
/// assert!(matches!(event, TacticalWebhookEvent::Alert(_)));
/// ```
#[derive(Clone)]
pub struct TacticalWebhookVerifier {
    header: HeaderName,
    secret: SecretString,
}

impl fmt::Debug for TacticalWebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TacticalWebhookVerifier")
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl TacticalWebhookVerifier {
    /// A verifier for a configured secret; an empty secret or an invalid header name is a
    /// configuration error.
    pub fn new(config: &TacticalWebhookConfig) -> Result<Self> {
        if config.secret.expose_secret().trim().is_empty() {
            return Err(Error::invalid_config(
                "webhook.secret",
                "the webhook secret is empty; every request would have to be refused",
            ));
        }
        let header = HeaderName::from_bytes(config.header.trim().as_bytes()).map_err(|_| {
            Error::invalid_config(
                "webhook.header",
                format!("{:?} is not a valid HTTP header name", config.header),
            )
        })?;
        Ok(Self {
            header,
            secret: config.secret.clone(),
        })
    }

    /// Checks the shared secret (constant-time), then parses the body. Errors:
    /// [`ErrorKind::Unauthorized`] for a missing or wrong secret (answer 401),
    /// [`ErrorKind::InvalidInput`] for a body that is not a usable payload (answer 400).
    pub fn verify_and_parse(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<TacticalWebhookEvent> {
        self.verify(headers)?;
        parse_event(body)
    }

    /// Only checks the shared secret.
    pub fn verify(&self, headers: &HeaderMap) -> Result<()> {
        let mut presented = headers.get_all(&self.header).iter();
        let (Some(value), None) = (presented.next(), presented.next()) else {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "webhook request has no single {} header carrying the shared secret",
                    self.header
                ),
            ));
        };
        if constant_time_eq(value.as_bytes(), self.secret.expose_secret().as_bytes()) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "webhook request has a wrong shared secret in {}",
                    self.header
                ),
            ))
        }
    }
}

/// What a webhook said happened.
#[derive(Clone, Debug, PartialEq)]
pub enum TacticalWebhookEvent {
    /// An alert was raised or resolved on an agent.
    Alert(AlertEvent),
    /// Something about an agent changed (a payload naming an agent but no alert).
    Agent(AgentEvent),
}

impl TacticalWebhookEvent {
    /// The agent the event is about.
    pub fn agent_id(&self) -> &ExternalDeviceId {
        match self {
            TacticalWebhookEvent::Alert(a) => &a.agent_id,
            TacticalWebhookEvent::Agent(a) => &a.agent_id,
        }
    }
}

/// Whether an alert started or ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertAction {
    /// The alert template's action ran (`event: "trigger"`).
    Triggered,
    /// The resolved action ran (`event: "resolve"`, or `resolved: true`).
    Resolved,
}

/// Tactical alert severities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertSeverity {
    /// `info`
    Info,
    /// `warning`
    Warning,
    /// `error`
    Error,
}

/// An alert on an agent.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertEvent {
    /// The agent (`{{agent.agent_id}}`).
    pub agent_id: ExternalDeviceId,
    /// Raised or resolved.
    pub action: AlertAction,
    /// Tactical's alert id (`{{alert.id}}`), stable across trigger and resolve.
    pub alert_id: Option<String>,
    /// `availability`, `check`, `task` or `custom` (`{{alert.alert_type}}`).
    pub alert_type: Option<String>,
    /// Severity, when recognisable.
    pub severity: Option<AlertSeverity>,
    /// The alert text.
    pub message: Option<String>,
    /// When the alert was raised (`{{alert.alert_time}}`).
    pub alert_time: Option<DateTime<Utc>>,
    /// Tactical client id (informational; never used for routing).
    pub client_id: Option<String>,
    /// Tactical site id (informational).
    pub site_id: Option<String>,
    /// The agent's host name.
    pub hostname: Option<String>,
}

/// A change on an agent that is not an alert.
#[derive(Clone, Debug, PartialEq)]
pub struct AgentEvent {
    /// The agent.
    pub agent_id: ExternalDeviceId,
    /// The sender's event name, if any (`"agent"`, `"agent_changed"` …).
    pub event: Option<String>,
    /// Tactical client id (informational).
    pub client_id: Option<String>,
    /// Tactical site id (informational).
    pub site_id: Option<String>,
    /// The agent's host name.
    pub hostname: Option<String>,
}

fn invalid(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

/// Parses a payload (after verification). Values may be strings or numbers: Tactical fills
/// placeholders as text, and Python's `None` arrives as `"None"`, which counts as missing.
pub fn parse_event(body: &[u8]) -> Result<TacticalWebhookEvent> {
    if body.len() > MAX_WEBHOOK_BODY {
        return Err(invalid(format!(
            "webhook body is {} bytes; at most {MAX_WEBHOOK_BODY} are accepted",
            body.len()
        )));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("webhook body is not JSON: {e}")))?;
    let Value::Object(obj) = value else {
        return Err(invalid("webhook body must be a JSON object"));
    };
    let field = |keys: &[&str]| keys.iter().find_map(|k| scalar(&obj, k));
    let agent_id = field(&["agent_id"]).ok_or_else(|| {
        invalid("webhook body has no agent_id; put \"agent_id\": \"{{agent.agent_id}}\" in the template")
    })?;
    let event = field(&["event"]).map(|e| e.to_ascii_lowercase());
    let resolved_flag = field(&["resolved"]).is_some_and(|r| r.eq_ignore_ascii_case("true"));
    let alert_id = field(&["alert_id"]);
    let alert_type = field(&["alert_type"]);
    let severity_text = field(&["severity"]);
    let is_alert_event = event
        .as_deref()
        .is_some_and(|e| e.contains("trigger") || e.contains("resolve") || e == "alert");
    let hostname = field(&["hostname", "agent_hostname"]);
    let client_id = field(&["client_id"]);
    let site_id = field(&["site_id"]);
    let agent_id = ExternalDeviceId::new(agent_id);

    if is_alert_event || alert_id.is_some() || alert_type.is_some() || severity_text.is_some() {
        let resolved = resolved_flag || event.as_deref().is_some_and(|e| e.contains("resolve"));
        let alert_time = match obj.get("alert_time") {
            Some(Value::Number(n)) => n.as_f64().and_then(epoch_any),
            Some(Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(epoch_any)
                .or_else(|| parse_time(s)),
            _ => None,
        };
        return Ok(TacticalWebhookEvent::Alert(AlertEvent {
            agent_id,
            action: if resolved {
                AlertAction::Resolved
            } else {
                AlertAction::Triggered
            },
            alert_id,
            alert_type: alert_type.map(|t| t.to_ascii_lowercase()),
            severity: severity_text.as_deref().and_then(severity),
            message: field(&["message", "alert_message"]),
            alert_time,
            client_id,
            site_id,
            hostname,
        }));
    }
    Ok(TacticalWebhookEvent::Agent(AgentEvent {
        agent_id,
        event,
        client_id,
        site_id,
        hostname,
    }))
}

/// A string, number or bool field as trimmed text; empty, `null`, `"None"` and `"null"` are
/// missing.
fn scalar(obj: &Map<String, Value>, key: &str) -> Option<String> {
    let text = match obj.get(key)? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return None,
    };
    let missing = text.is_empty() || text == "None" || text.eq_ignore_ascii_case("null");
    (!missing).then_some(text)
}

fn severity(s: &str) -> Option<AlertSeverity> {
    match s.to_ascii_lowercase().as_str() {
        "info" | "informational" => Some(AlertSeverity::Info),
        "warning" | "warn" => Some(AlertSeverity::Warning),
        "error" | "critical" => Some(AlertSeverity::Error),
        _ => None,
    }
}

/// Epoch seconds, or milliseconds when the number is that large.
fn epoch_any(v: f64) -> Option<DateTime<Utc>> {
    if !v.is_finite() || v <= 1e9 {
        return None;
    }
    let millis = if v > 1e12 { v } else { v * 1000.0 };
    DateTime::from_timestamp_millis(millis as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn verifier() -> TacticalWebhookVerifier {
        TacticalWebhookVerifier::new(&TacticalWebhookConfig::new("s3cret-value")).unwrap()
    }

    fn headers(secret: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(s) = secret {
            h.insert("x-rmm-sync-secret", HeaderValue::from_str(s).unwrap());
        }
        h
    }

    #[test]
    fn secrets_are_checked_before_the_body_is_read() {
        let v = verifier();
        let body = br#"{"agent_id":"a1"}"#;
        let missing = v.verify_and_parse(&headers(None), body).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::Unauthorized);
        let wrong = v
            .verify_and_parse(&headers(Some("s3cret-valuf")), body)
            .unwrap_err();
        assert_eq!(wrong.kind(), ErrorKind::Unauthorized);
        assert!(!wrong.to_string().contains("s3cret"), "{wrong}");
        let prefix = v
            .verify_and_parse(&headers(Some("s3cret")), body)
            .unwrap_err();
        assert_eq!(prefix.kind(), ErrorKind::Unauthorized);
        // Garbage bodies with a wrong secret are still 401, not 400.
        let e = v
            .verify_and_parse(&headers(Some("nope")), b"{{{")
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        let mut twice = headers(Some("s3cret-value"));
        twice.append(
            "x-rmm-sync-secret",
            HeaderValue::from_static("s3cret-value"),
        );
        assert_eq!(
            v.verify(&twice).unwrap_err().kind(),
            ErrorKind::Unauthorized
        );
    }

    #[test]
    fn alert_payloads_become_alert_events() {
        let body = br#"{"event":"trigger","agent_id":" a1 ","alert_id":42,"alert_type":"availability",
            "severity":"error","message":"Agent acme-ws01 is overdue","alert_time":"2026-11-27 21:43:08.662803+00:00",
            "client_id":"1","site_id":"None","hostname":"acme-ws01"}"#;
        let e = verifier()
            .verify_and_parse(&headers(Some("s3cret-value")), body)
            .unwrap();
        let TacticalWebhookEvent::Alert(a) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(a.agent_id.as_str(), "a1");
        assert_eq!(a.action, AlertAction::Triggered);
        assert_eq!(a.alert_id.as_deref(), Some("42"));
        assert_eq!(a.severity, Some(AlertSeverity::Error));
        assert_eq!(a.site_id, None);
        assert_eq!(a.alert_time.unwrap().timestamp(), 1_795_815_788);
        assert_eq!(e.agent_id().as_str(), "a1");

        let resolved =
            parse_event(br#"{"event":"resolve","agent_id":"a1","alert_time":1795815788}"#).unwrap();
        let TacticalWebhookEvent::Alert(r) = resolved else {
            panic!()
        };
        assert_eq!(r.action, AlertAction::Resolved);
        assert_eq!(r.alert_time.unwrap().timestamp(), 1_795_815_788);
        let flagged =
            parse_event(br#"{"agent_id":"a1","alert_id":"9","resolved":"True"}"#).unwrap();
        assert!(matches!(
            flagged,
            TacticalWebhookEvent::Alert(AlertEvent {
                action: AlertAction::Resolved,
                ..
            })
        ));
    }

    #[test]
    fn agent_payloads_become_agent_events() {
        let e =
            parse_event(br#"{"event":"agent_changed","agent_id":"a2","hostname":"srv"}"#).unwrap();
        assert_eq!(
            e,
            TacticalWebhookEvent::Agent(AgentEvent {
                agent_id: ExternalDeviceId::new("a2"),
                event: Some("agent_changed".into()),
                client_id: None,
                site_id: None,
                hostname: Some("srv".into()),
            })
        );
    }

    #[test]
    fn unusable_bodies_are_invalid_input() {
        for body in [
            &b"not json"[..],
            br#"["agent_id"]"#,
            br#"{"agent_id":"None"}"#,
            br#"{"agent_id":""}"#,
            br#"{"alert_id":"1"}"#,
        ] {
            assert_eq!(
                parse_event(body).unwrap_err().kind(),
                ErrorKind::InvalidInput
            );
        }
        let huge = vec![b' '; MAX_WEBHOOK_BODY + 1];
        assert_eq!(
            parse_event(&huge).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
    }

    #[test]
    fn configuration_is_checked() {
        assert!(TacticalWebhookVerifier::new(&TacticalWebhookConfig::new("  ")).is_err());
        let mut c = TacticalWebhookConfig::new("x");
        c.header = "bad header".into();
        assert!(TacticalWebhookVerifier::new(&c).is_err());
        c.header = "X-Alga-Webhook-Secret".into();
        assert!(TacticalWebhookVerifier::new(&c).is_ok());
        assert!(!format!("{c:?}").contains("\"x\""));
    }
}
