//! Test support (feature `testkit`): a scripted in-memory provider with a deterministic
//! generated fleet, mutations and fault injection; with a provider feature, that provider's
//! HTTP simulator.

mod fleet;
#[cfg(all(feature = "ninjaone", feature = "testkit"))]
pub mod ninjaone;
mod scripted;

pub use fleet::{fleet_epoch, generate_device, generate_fleet};
#[cfg(all(feature = "ninjaone", feature = "testkit"))]
pub use ninjaone::{NinjaOneSim, SimFault, SimFleet};
pub use scripted::{ScriptedFault, ScriptedProvider};
