//! Test support (feature `testkit`): a scripted in-memory provider with a deterministic
//! generated fleet, mutations and fault injection; with `tanium`, a Tanium Gateway simulator.

mod fleet;
mod scripted;
#[cfg(all(feature = "tanium", feature = "testkit"))]
pub mod tanium;

pub use fleet::{fleet_epoch, generate_device, generate_fleet};
pub use scripted::{ScriptedFault, ScriptedProvider};
