//! `SqliteStore`: the embedded default store (feature `sqlite`). Work in progress (issue 3).
