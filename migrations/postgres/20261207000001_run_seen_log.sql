-- The seen log of a run: the external device ids each step ("chunk", e.g. "t3/p17") of a run
-- saw, so a run whose steps execute in different processes (Temporal activities; a worker may
-- die between pages) can still mark-and-sweep from the union of its complete listing.
--
-- One row per chunk, the ids as one text[] (a chunk holds up to a few thousand ids; one array
-- parameter per call, no statement per id). A retried step re-records its chunk: the primary
-- key makes that an upsert that replaces the ids. The rows are transient: cleared when a run of
-- the integration starts and when it ends, so there is no foreign key or index beyond the key
-- (whose (tenant, integration_id) prefix serves the clear).
CREATE TABLE IF NOT EXISTS rmm_sync_run_seen (
    tenant uuid NOT NULL,
    integration_id uuid NOT NULL,
    run_id uuid NOT NULL,
    chunk text NOT NULL,
    ids text[] NOT NULL,
    PRIMARY KEY (tenant, integration_id, run_id, chunk)
);
