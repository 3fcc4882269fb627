//! Test support (feature `testkit`): a scripted in-memory provider with a deterministic
//! generated fleet, mutations and fault injection, and (with a provider feature) local
//! simulators of the providers' HTTP APIs.

#[cfg(feature = "testkit")]
mod canned;
#[cfg(all(
    feature = "testkit",
    any(feature = "tanium", feature = "ninjaone", feature = "tactical")
))]
pub mod control;
mod fleet;
#[cfg(all(feature = "ninjaone", feature = "testkit"))]
pub mod ninjaone;
mod scripted;
#[cfg(all(feature = "tactical", feature = "testkit"))]
pub mod tactical;
#[cfg(all(feature = "tanium", feature = "testkit"))]
pub mod tanium;

#[cfg(feature = "testkit")]
pub use canned::CannedResponse;
pub use fleet::{fleet_epoch, generate_device, generate_fleet};
#[cfg(all(feature = "ninjaone", feature = "testkit"))]
pub use ninjaone::{NinjaOneSim, SimFault, SimFleet};
pub use scripted::{ScriptedFault, ScriptedProvider};
#[cfg(all(feature = "tactical", feature = "testkit"))]
pub use tactical::{TacticalSim, TacticalSimBuilder};
#[cfg(all(feature = "tanium", feature = "testkit"))]
pub use tanium::TaniumGatewaySim;
