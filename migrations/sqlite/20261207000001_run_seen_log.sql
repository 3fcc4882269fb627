-- The seen log of a run: the external device ids each step ("chunk", e.g. "t3/p17") of a run
-- saw, so a run whose steps execute in different processes (Temporal activities; a worker may
-- die between pages) can still mark-and-sweep from the union of its complete listing.
--
-- One row per chunk, the ids as one JSON array of strings (a chunk holds up to a few thousand
-- ids; ids are arbitrary strings, and JSON escapes commas, quotes and newlines unambiguously).
-- A retried step re-records its chunk: the primary key makes that an upsert that replaces the
-- ids. The rows are transient: cleared when a run of the integration starts and when it ends.
-- A rowid table (not WITHOUT ROWID): rows are large, and large rows belong in rowid tables.
CREATE TABLE IF NOT EXISTS rmm_sync_run_seen (
    tenant TEXT NOT NULL,
    integration_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    chunk TEXT NOT NULL,
    ids TEXT NOT NULL,
    PRIMARY KEY (tenant, integration_id, run_id, chunk)
);
