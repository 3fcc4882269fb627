//! The public store conformance suite (feature `conformance`). Placeholder until filled.
