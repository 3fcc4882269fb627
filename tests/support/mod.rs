//! Helpers shared by integration tests that need an external server.

#[cfg(feature = "temporal")]
pub(crate) mod temporal;
