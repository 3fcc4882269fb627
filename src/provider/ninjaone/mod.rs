//! The NinjaOne adapter (feature `ninjaone`). Work in progress (issue 6).
