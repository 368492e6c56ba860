-- Automation & workflow engine (module 03).
--
-- A workflow is a trigger and a graph of steps. Its definition is versioned: every save adds a
-- row to workflow_versions and stores the same JSON as an asset of kind 'document' (tagged
-- 'workflow') in the asset graph, each version derived from the one before (asset_lineage).
-- A run pins the version it started with; its steps are rows of workflow_steps, each run by
-- `automation_step` jobs on the JOBS queue.
CREATE TABLE workflows (
  id              TEXT PRIMARY KEY,               -- wfl_<ULID>
  org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name            TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused')),
  version         INTEGER NOT NULL,               -- current version
  trigger_kind    TEXT NOT NULL CHECK (trigger_kind IN ('event', 'cron', 'webhook', 'manual')),
  trigger_event   TEXT,                           -- audited action name, for event triggers
  cron            TEXT,                           -- 5-field expression, for cron triggers
  next_run_at     INTEGER,                        -- next due time of a cron trigger, ms
  hook_salt       TEXT,                           -- inbound webhook secret = HMAC(master, id:salt); the secret itself is never stored
  created_by_type TEXT NOT NULL,
  created_by      TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX workflows_by_org ON workflows(org_id, id);
CREATE INDEX workflows_by_event ON workflows(org_id, trigger_event) WHERE trigger_kind = 'event' AND status = 'active';
CREATE INDEX workflows_due ON workflows(next_run_at) WHERE trigger_kind = 'cron' AND status = 'active';

CREATE TABLE workflow_versions (
  workflow_id     TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  version         INTEGER NOT NULL,
  definition      TEXT NOT NULL,                  -- validated JSON, at most 32 KiB
  asset_id        TEXT,                           -- the same JSON as a 'document' asset
  created_by_type TEXT NOT NULL,
  created_by      TEXT,
  created_at      INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, version)
);

CREATE TABLE workflow_runs (
  id              TEXT PRIMARY KEY,               -- run_<ULID>
  org_id          TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  workflow_id     TEXT NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
  version         INTEGER NOT NULL,               -- pinned definition version
  status          TEXT NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'paused', 'succeeded', 'failed', 'cancelled')),
  trigger_kind    TEXT NOT NULL,                  -- event | cron | webhook | manual
  trigger         TEXT NOT NULL,                  -- JSON payload the templates read as {{trigger.…}}
  error           TEXT,                           -- JSON {code, message, step}
  created_at      INTEGER NOT NULL,
  started_at      INTEGER,
  finished_at     INTEGER,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX workflow_runs_by_workflow ON workflow_runs(workflow_id, id);
CREATE INDEX workflow_runs_by_org_status ON workflow_runs(org_id, status, id);

CREATE TABLE workflow_steps (
  run_id          TEXT NOT NULL REFERENCES workflow_runs(id) ON DELETE CASCADE,
  step_key        TEXT NOT NULL,                  -- the step's id; `id[i]` for a for_each item
  org_id          TEXT NOT NULL,
  type            TEXT NOT NULL,
  status          TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'queued', 'running', 'waiting', 'succeeded', 'failed', 'skipped', 'cancelled')),
  job_id          TEXT,                           -- the automation_step job running it
  attempts        INTEGER NOT NULL DEFAULT 0,
  input           TEXT,                           -- JSON, resolved input (size-capped)
  output          TEXT,                           -- JSON (size-capped)
  error           TEXT,                           -- JSON {code, message}
  wait_event      TEXT,                           -- event a wait_event step waits for
  wait_until      INTEGER,                        -- timeout of a wait / approval, ms
  started_at      INTEGER,
  finished_at     INTEGER,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (run_id, step_key)
);
CREATE INDEX workflow_steps_waiting ON workflow_steps(org_id, wait_event) WHERE status = 'waiting';
CREATE INDEX workflow_steps_timeouts ON workflow_steps(wait_until) WHERE status = 'waiting';
