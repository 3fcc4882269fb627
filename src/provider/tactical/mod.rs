//! The Tactical RMM adapter (feature `tactical`). Work in progress (issue 7).
