//! From a verified delivery to what the service does: the provider modules verify and parse
//! (their `webhook.rs`); this layer decides which device to refresh or tombstone.

use std::fmt;
use std::sync::Arc;

use axum::http::HeaderMap;

use crate::error::Result;
use crate::model::{ExternalDeviceId, ExternalScopeId};

/// What one delivery asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceAction {
    /// Fetch the device again (a single-device run; a device the provider no longer has is
    /// tombstoned by it).
    Refresh(ExternalDeviceId),
    /// The provider deleted the device: tombstone it at once.
    Tombstone {
        /// The device.
        device: ExternalDeviceId,
        /// Its last scope, when the payload says.
        scope: Option<ExternalScopeId>,
    },
    /// Nothing inventory-related (answered 202 so the provider does not retry).
    Ignore,
}

impl DeviceAction {
    /// The device the action is about.
    pub fn device(&self) -> Option<&ExternalDeviceId> {
        match self {
            DeviceAction::Refresh(d) | DeviceAction::Tombstone { device: d, .. } => Some(d),
            DeviceAction::Ignore => None,
        }
    }
}

/// One verified, parsed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// The provider's id of the event, when it sends one: a repeated id is a replay and is
    /// ignored.
    pub event_id: Option<String>,
    /// What to do.
    pub action: DeviceAction,
}

/// Verification and parsing for a provider this crate has no built-in support for.
pub trait WebhookParser: Send + Sync + fmt::Debug {
    /// Verifies the delivery (constant-time secret comparison:
    /// [`crate::provider::http::constant_time_eq`]) and parses it. Errors:
    /// [`crate::ErrorKind::Unauthorized`] → 401, [`crate::ErrorKind::Decode`] or
    /// [`crate::ErrorKind::InvalidInput`] → 400 with the message as the reason.
    fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookDelivery>;
}

/// How an integration's webhooks are verified and parsed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum WebhookSource {
    /// NinjaOne webhooks (activity JSON, shared-secret header).
    #[cfg(feature = "ninjaone")]
    NinjaOne(crate::provider::ninjaone::WebhookVerifier),
    /// Tactical RMM alert-template webhooks (shared-secret header).
    #[cfg(feature = "tactical")]
    Tactical(crate::provider::tactical::TacticalWebhookVerifier),
    /// Your own.
    Custom(Arc<dyn WebhookParser>),
}

impl WebhookSource {
    /// Verifies and parses one delivery.
    pub fn parse(&self, headers: &HeaderMap, body: &[u8]) -> Result<WebhookDelivery> {
        match self {
            #[cfg(feature = "ninjaone")]
            WebhookSource::NinjaOne(v) => {
                use crate::provider::ninjaone::WebhookAction;
                let event = v.verify_and_parse(headers, body)?;
                let action = match event.action {
                    WebhookAction::RefreshDevice(d) => DeviceAction::Refresh(d),
                    WebhookAction::TombstoneDevice { device, scope } => {
                        DeviceAction::Tombstone { device, scope }
                    }
                    WebhookAction::Ignore => DeviceAction::Ignore,
                };
                Ok(WebhookDelivery {
                    event_id: event.activity_id.map(|id| id.to_string()),
                    action,
                })
            }
            #[cfg(feature = "tactical")]
            WebhookSource::Tactical(v) => {
                use crate::provider::tactical::{AlertAction, TacticalWebhookEvent};
                let event = v.verify_and_parse(headers, body)?;
                // Tactical sends no delivery id; an alert's id with its action and time names
                // one occurrence (the same alert firing again later has a new time).
                let event_id = match &event {
                    TacticalWebhookEvent::Alert(a) => a.alert_id.as_ref().map(|id| {
                        let action = match a.action {
                            AlertAction::Triggered => "trigger",
                            AlertAction::Resolved => "resolve",
                        };
                        let time = a.alert_time.map(|t| t.to_rfc3339()).unwrap_or_default();
                        format!("{id}:{action}:{time}")
                    }),
                    TacticalWebhookEvent::Agent(_) => None,
                };
                Ok(WebhookDelivery {
                    event_id,
                    action: DeviceAction::Refresh(event.agent_id().clone()),
                })
            }
            WebhookSource::Custom(p) => p.parse(headers, body),
        }
    }
}
