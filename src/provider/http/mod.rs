//! Shared HTTP plumbing for provider adapters (feature `http`). Work in progress (issue 4).
