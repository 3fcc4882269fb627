//! The Tactical RMM adapter against `testkit::TacticalSim`: authentication, listings, errors,
//! webhooks, and whole syncs into `InMemoryStore` (including a 10k-agent instance).

#[path = "provider_tactical/support.rs"]
mod support;

#[path = "provider_tactical/auth.rs"]
mod auth;
#[path = "provider_tactical/listing.rs"]
mod listing;
#[path = "provider_tactical/simulator.rs"]
mod simulator;
#[path = "provider_tactical/sync.rs"]
mod sync;
