//! The Tanium Gateway adapter (feature `tanium`). Work in progress (issue 4).
