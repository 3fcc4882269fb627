//! The webhook side of the service: provider deliveries → verified, parsed actions → the
//! integration's bounded, coalescing queue.

mod queue;
mod receiver;
mod source;

pub(crate) use queue::{EventQueue, Taken};
pub(crate) use receiver::webhook_routes;
pub use source::{DeviceAction, WebhookDelivery, WebhookParser, WebhookSource};
