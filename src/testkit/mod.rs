//! Test support (feature `testkit`): a scripted in-memory provider with a deterministic
//! generated fleet, mutations and fault injection.

mod fleet;
mod scripted;

pub use fleet::{fleet_epoch, generate_device, generate_fleet};
pub use scripted::{ScriptedFault, ScriptedProvider};
