//! Placeholder: a custom store running the conformance suite (being written).
fn main() {}
