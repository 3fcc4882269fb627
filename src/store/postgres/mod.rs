//! `PostgresStore` (feature `postgres`). Work in progress (issue 3).
