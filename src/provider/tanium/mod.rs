//! The Tanium Gateway adapter (feature `tanium`).
mod queries;
#[doc(hidden)]
pub fn operation_documents() -> Vec<(&'static str, String)> { queries::documents() }
