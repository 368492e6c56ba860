-- Jobs (module 09): frames done per chunk, so a range render's progress is the sum over its
-- chunks whatever order they run in; and the claim of the final join, taken by the one consumer
-- that finishes the last chunk (a stale claim, older than two minutes, can be taken over).
ALTER TABLE job_chunks ADD COLUMN frames_done INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN join_claimed_at INTEGER;
