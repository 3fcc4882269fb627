//! Webhooks: verification (a secret header compared in constant time) and parsing into typed
//! events for the integration the webhook was registered for. What to do with an event
//! (queueing, coalescing, the single-device run) is the service layer's job
//! (`rmm_sync::service`, feature `service`).
//!
//! NinjaOne signs nothing; it sends back the custom headers configured with `PUT /v2/webhook`.
//! The host therefore registers one URL per integration (e.g.
//! `https://psa.example/hooks/ninjaone/<integration id>`) with a per-integration secret header
//! ([`WebhookVerifier::registration`]). Its HTTP handler finds the integration by the URL it was
//! called on, never by the organization id inside the payload (organization ids are small
//! integers that repeat across NinjaOne accounts), and calls
//! [`WebhookVerifier::verify_and_parse`]. Any web framework works: headers are read through
//! [`WebhookHeaders`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::activity::{DeviceEffect, device_effect};
use super::config::ScopeLevel;
use super::map::{epoch_seconds, scope_of};
use super::wire::Activity;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{ExternalDeviceId, ExternalScopeId, IntegrationId};
use crate::provider::http::constant_time_eq;

/// The default header that carries the webhook secret.
pub const DEFAULT_SECRET_HEADER: &str = "X-RmmSync-Webhook-Secret";

/// Read access to request headers, whatever the web framework. Names are matched without
/// regard to case.
pub trait WebhookHeaders {
    /// The value of the first header called `name`.
    fn header(&self, name: &str) -> Option<&[u8]>;
}

impl WebhookHeaders for reqwest::header::HeaderMap {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.get(name).map(|v| v.as_bytes())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> WebhookHeaders for [(K, V)] {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> WebhookHeaders for Vec<(K, V)> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.as_slice().header(name)
    }
}

impl<V: AsRef<[u8]>, S> WebhookHeaders for HashMap<String, V, S> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<V: AsRef<[u8]>> WebhookHeaders for BTreeMap<String, V> {
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// What a webhook asks the host to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookAction {
    /// Fetch the device again ([`crate::sync::RunRequest::device`]).
    RefreshDevice(ExternalDeviceId),
    /// NinjaOne deleted the device: tombstone it ([`crate::ingest::IngestionEngine::tombstone`]).
    TombstoneDevice {
        /// The device.
        device: ExternalDeviceId,
        /// Its last scope, when the payload says.
        scope: Option<ExternalScopeId>,
    },
    /// Nothing this adapter maps changed (alerts, scripts, events without a device …).
    Ignore,
}

/// One verified webhook delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookEvent {
    /// The integration the webhook was registered for (from the verifier, never the payload).
    pub integration_id: IntegrationId,
    /// NinjaOne's activity id (deliveries may repeat; use it to de-duplicate).
    pub activity_id: Option<i64>,
    /// The event (`NODE_DELETED` …).
    pub status_code: Option<String>,
    /// The coarse class (`SYSTEM`, `CONDITION` …).
    pub activity_type: Option<String>,
    /// When it happened.
    pub occurred_at: Option<DateTime<Utc>>,
    /// What to do.
    pub action: WebhookAction,
}

/// Verifies and parses the webhooks of one integration.
#[derive(Clone)]
pub struct WebhookVerifier {
    integration_id: IntegrationId,
    header: String,
    secret: SecretString,
    scope_level: ScopeLevel,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("integration_id", &self.integration_id)
            .field("header", &self.header)
            .field("secret", &"[redacted]")
            .field("scope_level", &self.scope_level)
            .finish()
    }
}

impl WebhookVerifier {
    /// A verifier for `integration_id`'s webhooks, which carry `secret` in
    /// [`DEFAULT_SECRET_HEADER`]. The secret must be at least 16 characters (generate 32 random
    /// bytes, hex-encoded).
    pub fn new(integration_id: IntegrationId, secret: SecretString) -> Result<Self> {
        if secret.expose_secret().trim().len() < 16 {
            return Err(Error::invalid_config(
                "webhook_secret",
                "the webhook secret must be at least 16 characters (use 32 random bytes, hex-encoded)",
            ));
        }
        Ok(Self {
            integration_id,
            header: DEFAULT_SECRET_HEADER.to_owned(),
            secret,
            scope_level: ScopeLevel::Organization,
        })
    }

    /// Uses another header name for the secret.
    pub fn with_header(mut self, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(Error::invalid_config(
                "webhook_header",
                format!("{name:?} is not a valid header name"),
            ));
        }
        self.header = name;
        Ok(self)
    }

    /// Matches the provider's scope level, so tombstones carry the right scope hint.
    pub fn with_scope_level(mut self, level: ScopeLevel) -> Self {
        self.scope_level = level;
        self
    }

    /// The integration this verifier belongs to.
    pub fn integration_id(&self) -> IntegrationId {
        self.integration_id
    }

    /// The `PUT /v2/webhook` body that makes NinjaOne call `url` with the secret header
    /// ([`super::NinjaOneProvider::register_webhook`] sends it). The device is expanded so
    /// deletions carry their organization.
    pub fn registration(&self, url: &url::Url) -> Value {
        json!({
            "url": url.as_str(),
            "expand": ["device"],
            "headers": [{"name": self.header, "value": self.secret.expose_secret()}],
        })
    }

    /// Checks the secret header (constant time) and parses the body.
    ///
    /// Errors: [`ErrorKind::Unauthorized`] when the header is missing or wrong (answer 401 and
    /// do nothing), [`ErrorKind::Decode`] when the body is not a JSON object (answer 400).
    /// Events the adapter does not act on come back as [`WebhookAction::Ignore`] (answer 2xx
    /// so NinjaOne does not retry).
    pub fn verify_and_parse<H: WebhookHeaders + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
    ) -> Result<WebhookEvent> {
        let presented = headers.header(&self.header).ok_or_else(|| {
            Error::new(
                ErrorKind::Unauthorized,
                format!("webhook without the {} header", self.header),
            )
            .with_context("integration", self.integration_id)
        })?;
        if !constant_time_eq(presented, self.secret.expose_secret().as_bytes()) {
            return Err(Error::new(
                ErrorKind::Unauthorized,
                format!(
                    "webhook {} header does not match this integration's secret",
                    self.header
                ),
            )
            .with_context("integration", self.integration_id));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            Error::new(ErrorKind::Decode, "webhook body is not JSON").with_source(e)
        })?;
        if !value.is_object() {
            return Err(Error::new(
                ErrorKind::Decode,
                "webhook body is not a JSON object",
            ));
        }
        let activity: Activity = serde_json::from_value(value).map_err(|e| {
            Error::new(ErrorKind::Decode, "webhook body is not a NinjaOne activity").with_source(e)
        })?;
        Ok(self.event(&activity))
    }

    fn event(&self, a: &Activity) -> WebhookEvent {
        let status_code = a.status_code.value().cloned();
        let device = a
            .device_id
            .value()
            .or_else(|| a.device.value().and_then(|d| d.id.value()))
            .map(|id| ExternalDeviceId::new(id.0.to_string()));
        let effect = status_code.as_deref().and_then(device_effect);
        let action = match (device, effect) {
            (Some(device), Some(DeviceEffect::Refresh)) => WebhookAction::RefreshDevice(device),
            (Some(device), Some(DeviceEffect::Tombstone)) => WebhookAction::TombstoneDevice {
                device,
                scope: a
                    .device
                    .value()
                    .and_then(|d| scope_of(self.scope_level, &d.organization_id, &d.location_id)),
            },
            (device, _) => {
                tracing::debug!(
                    integration = %self.integration_id,
                    status_code = status_code.as_deref().unwrap_or(""),
                    activity_type = a.activity_type.value().map_or("", String::as_str),
                    has_device = device.is_some(),
                    "NinjaOne webhook ignored: no inventory effect"
                );
                WebhookAction::Ignore
            }
        };
        WebhookEvent {
            integration_id: self.integration_id,
            activity_id: a.id.value().map(|i| i.0),
            status_code,
            activity_type: a.activity_type.value().cloned(),
            occurred_at: a.activity_time.value().and_then(|t| epoch_seconds(*t)),
            action,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn verifier() -> WebhookVerifier {
        WebhookVerifier::new(IntegrationId::from_name("acme"), SECRET.to_owned().into()).unwrap()
    }

    fn headers(secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("content-type", "application/json".into()),
            ("x-rmmsync-webhook-secret", secret.to_owned()),
        ]
    }

    #[test]
    fn deletion_events_carry_device_and_scope() {
        let body = br#"{"id":9123456,"activityTime":1795878300.0,"deviceId":107,"activityType":"SYSTEM",
            "statusCode":"NODE_DELETED","status":"Node deleted","device":{"id":107,"organizationId":1,"locationId":4}}"#;
        let e = verifier().verify_and_parse(&headers(SECRET), body).unwrap();
        assert_eq!(e.integration_id, IntegrationId::from_name("acme"));
        assert_eq!(e.activity_id, Some(9_123_456));
        assert_eq!(e.status_code.as_deref(), Some("NODE_DELETED"));
        assert_eq!(e.occurred_at.map(|t| t.timestamp()), Some(1_795_878_300));
        assert_eq!(
            e.action,
            WebhookAction::TombstoneDevice {
                device: "107".into(),
                scope: Some("1".into())
            }
        );
        let by_location = verifier().with_scope_level(ScopeLevel::Location);
        let e = by_location
            .verify_and_parse(&headers(SECRET), body)
            .unwrap();
        assert!(
            matches!(e.action, WebhookAction::TombstoneDevice { scope: Some(s), .. } if s.as_str() == "loc-4")
        );
    }

    #[test]
    fn wrong_or_missing_secrets_are_refused_without_echoing_them() {
        let body = br#"{"deviceId":1,"statusCode":"NODE_UPDATED"}"#;
        let e = verifier()
            .verify_and_parse(&headers("0123456789abcdef0123456789abcdeX"), body)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unauthorized);
        assert!(!e.to_string().contains(SECRET), "{e}");
        let none: Vec<(&str, &str)> = vec![];
        assert_eq!(
            verifier().verify_and_parse(&none, body).unwrap_err().kind(),
            ErrorKind::Unauthorized
        );
        assert!(!format!("{:?}", verifier()).contains(SECRET));
    }

    #[test]
    fn unknown_events_and_bad_bodies() {
        let v = verifier();
        let e = v
            .verify_and_parse(
                &headers(SECRET),
                br#"{"id":5,"deviceId":3,"statusCode":"TRIGGERED","activityType":"CONDITION"}"#,
            )
            .unwrap();
        assert_eq!(e.action, WebhookAction::Ignore);
        let e = v
            .verify_and_parse(&headers(SECRET), br#"{"statusCode":"NODE_UPDATED"}"#)
            .unwrap();
        assert_eq!(e.action, WebhookAction::Ignore, "no device named");
        let e = v
            .verify_and_parse(
                &headers(SECRET),
                br#"{"statusCode":"SYSTEM_REBOOTED","device":{"id":"8"}}"#,
            )
            .unwrap();
        assert_eq!(e.action, WebhookAction::RefreshDevice("8".into()));
        for bad in [&b"not json"[..], b"[1,2]", b""] {
            assert_eq!(
                v.verify_and_parse(&headers(SECRET), bad)
                    .unwrap_err()
                    .kind(),
                ErrorKind::Decode
            );
        }
    }

    #[test]
    fn header_maps_of_any_framework_work() {
        let mut map = reqwest::header::HeaderMap::new();
        map.insert("X-RmmSync-Webhook-Secret", SECRET.parse().unwrap());
        let body = br#"{"deviceId":2,"statusCode":"NODE_CREATED"}"#;
        assert!(verifier().verify_and_parse(&map, body).is_ok());
        let mut hash = HashMap::new();
        hash.insert("X-RMMSYNC-WEBHOOK-SECRET".to_owned(), SECRET.to_owned());
        assert!(verifier().verify_and_parse(&hash, body).is_ok());
        let custom = verifier().with_header("Authorization").unwrap();
        let auth = vec![("authorization", SECRET)];
        assert!(custom.verify_and_parse(&auth, body).is_ok());
        assert!(verifier().with_header("bad header").is_err());
        assert!(
            WebhookVerifier::new(IntegrationId::from_name("x"), "short".to_owned().into()).is_err()
        );
    }

    #[test]
    fn registration_sends_the_secret_header() {
        let url = url::Url::parse("https://psa.example/hooks/ninjaone/acme").unwrap();
        let body = verifier().registration(&url);
        assert_eq!(body["url"], "https://psa.example/hooks/ninjaone/acme");
        assert_eq!(body["headers"][0]["name"], DEFAULT_SECRET_HEADER);
        assert_eq!(body["headers"][0]["value"], SECRET);
    }
}
