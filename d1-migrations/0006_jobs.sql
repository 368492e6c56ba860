-- Distributed jobs (module 09): one record per job, whatever queue carries it.
CREATE TABLE jobs (
  id            TEXT PRIMARY KEY,               -- job_<ULID>
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  project_id    TEXT,                           -- set for renders and project-scoped work
  kind          TEXT NOT NULL,                  -- make_thumbnail | render_still | render_range | audio_mixdown | probe_asset | deliver_webhook | automation_step
  priority      TEXT NOT NULL DEFAULT 'batch' CHECK (priority IN ('interactive', 'batch')),
  params        TEXT NOT NULL,                  -- JSON, the typed job's parameters
  status        TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead')),
  attempts      INTEGER NOT NULL DEFAULT 0,
  max_attempts  INTEGER NOT NULL DEFAULT 5,
  progress      INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
  result_asset_ids TEXT NOT NULL DEFAULT '[]',  -- JSON array of ast_ ids
  error         TEXT,                           -- JSON {code, message} of the last failure
  created_by_type TEXT NOT NULL,
  created_by    TEXT,
  created_at    INTEGER NOT NULL,
  started_at    INTEGER,
  finished_at   INTEGER,
  updated_at    INTEGER NOT NULL
);
CREATE INDEX jobs_by_org_status ON jobs(org_id, status, id);
CREATE INDEX jobs_by_org ON jobs(org_id, id);
CREATE INDEX jobs_by_project ON jobs(project_id, id);

-- Chunks of a long render: each runs as its own queue message and retries alone.
CREATE TABLE job_chunks (
  job_id      TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
  idx         INTEGER NOT NULL,
  from_frame  INTEGER NOT NULL,
  to_frame    INTEGER NOT NULL,                 -- inclusive
  status      TEXT NOT NULL DEFAULT 'queued'
              CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'dead')),
  attempts    INTEGER NOT NULL DEFAULT 0,
  r2_key      TEXT,                             -- the chunk's output, joined at the end
  error       TEXT,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (job_id, idx)
);
