-- Agent Runtime (module 08): agent profiles, their credentials, and their runs.
-- An agent is never a user: it acts through its own tokens (actor_type 'agent' in the audit
-- trail), within the capabilities, access policy and budgets of its profile.
-- Times are integer milliseconds since the Unix epoch (UTC).

CREATE TABLE agents (
  id               TEXT PRIMARY KEY,            -- agt_<ULID>
  org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name             TEXT NOT NULL,
  description      TEXT NOT NULL DEFAULT '',
  capabilities     TEXT,                        -- JSON array of tool names; NULL = every tool
  policy           TEXT NOT NULL,               -- JSON {projects, access, approval_required}
  budgets          TEXT NOT NULL,               -- JSON {calls_per_minute, renders_per_day}
  created_by_type  TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  deleted_at       INTEGER
);
CREATE INDEX agents_by_org ON agents(org_id, id);

-- Only the SHA-256 of a token is stored; the token is shown once, when issued.
CREATE TABLE agent_tokens (
  id               TEXT PRIMARY KEY,            -- atk_<ULID>
  agent_id         TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name             TEXT NOT NULL,
  prefix           TEXT NOT NULL UNIQUE,        -- the visible part, e.g. cos_agt_k3j9x2ab
  token_hash       TEXT NOT NULL,
  created_by_type  TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  last_used_at     INTEGER,
  revoked_at       INTEGER
);
CREATE INDEX agent_tokens_by_agent ON agent_tokens(agent_id);

-- A run's state and checkpoints live in its AgentRun Durable Object; this row lists it and
-- mirrors its status for queries.
CREATE TABLE agent_runs (
  id               TEXT PRIMARY KEY,            -- run_<ULID>
  org_id           TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  agent_id         TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
  project_id       TEXT,
  goal             TEXT NOT NULL,
  planner          TEXT NOT NULL,               -- recipe:<name> | llm
  status           TEXT NOT NULL CHECK (status IN ('running', 'awaiting_approval', 'succeeded', 'failed', 'cancelled', 'rejected')),
  steps_done       INTEGER NOT NULL DEFAULT 0,
  error            TEXT,
  created_by_type  TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  finished_at      INTEGER
);
CREATE INDEX agent_runs_by_org ON agent_runs(org_id, id);
CREATE INDEX agent_runs_by_agent ON agent_runs(agent_id, id);

-- One row per executed step: written in the same batch as the step's audit record, so a step
-- re-driven after an eviction is recorded (and audited) exactly once.
CREATE TABLE agent_run_steps (
  run_id           TEXT NOT NULL REFERENCES agent_runs(id) ON DELETE CASCADE,
  step_index       INTEGER NOT NULL,
  tool             TEXT NOT NULL,
  is_error         INTEGER NOT NULL DEFAULT 0,
  started_at       INTEGER NOT NULL,
  finished_at      INTEGER NOT NULL,
  approved_by      TEXT,
  PRIMARY KEY (run_id, step_index)
);
