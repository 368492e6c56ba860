-- Analytics & Observability (module 05): ingestion keys, people and groups for PostHog-style
-- capture, feature flags and experiments, and error issues grouped by fingerprint. Product events
-- themselves live in `events` (0001), fed by the audit trail, the queue and the capture API.

-- Queries are per organisation over a time range (trends, dashboards), per actor (funnels,
-- retention) and by age (the retention purge).
CREATE INDEX events_by_org_at ON events(org_id, at);
CREATE INDEX events_by_org_actor ON events(org_id, actor_id, at);
CREATE INDEX events_by_at ON events(at);

-- Public, write-only ingestion keys (`cos_pub_…`) that PostHog clients send as their project
-- key. Only the SHA-256 of the key is kept; `prefix` identifies it in lists.
CREATE TABLE analytics_keys (
  id          TEXT PRIMARY KEY,                -- apk_<ULID>
  org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  prefix      TEXT NOT NULL,
  key_hash    TEXT NOT NULL UNIQUE,
  created_by  TEXT,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER
);
CREATE INDEX analytics_keys_by_org ON analytics_keys(org_id, id);

-- `$identify` / `$create_alias`: another distinct id of the same person. Queries count a
-- person once whichever of their ids an event carries.
CREATE TABLE person_aliases (
  org_id       TEXT NOT NULL,
  distinct_id  TEXT NOT NULL,
  person_id    TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  PRIMARY KEY (org_id, distinct_id)
);

-- `$set` / `$set_once` person properties, used by flag targeting and breakdowns.
CREATE TABLE persons (
  org_id      TEXT NOT NULL,
  person_id   TEXT NOT NULL,
  properties  TEXT NOT NULL DEFAULT '{}',
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (org_id, person_id)
);

-- `$groupidentify`: group analytics (groups are organisations and their sub-units).
CREATE TABLE analytics_groups (
  org_id      TEXT NOT NULL,
  group_type  TEXT NOT NULL,
  group_key   TEXT NOT NULL,
  properties  TEXT NOT NULL DEFAULT '{}',
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (org_id, group_type, group_key)
);

-- Feature flags: `definition` is the JSON of variants, targeting rules and payloads
-- (workers/src/analytics/flags.rs). `version` grows with every change.
CREATE TABLE feature_flags (
  id           TEXT PRIMARY KEY,               -- flg_<ULID>
  org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  key          TEXT NOT NULL,
  description  TEXT NOT NULL DEFAULT '',
  enabled      INTEGER NOT NULL DEFAULT 1,
  definition   TEXT NOT NULL,
  version      INTEGER NOT NULL DEFAULT 1,
  created_at   INTEGER NOT NULL,
  updated_at   INTEGER NOT NULL,
  UNIQUE (org_id, key)
);

-- An experiment reads a multivariate flag's exposures (`$feature_flag_called` events) and a
-- conversion event from `events`.
CREATE TABLE experiments (
  id            TEXT PRIMARY KEY,              -- exp_<ULID>
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  key           TEXT NOT NULL,
  flag_key      TEXT NOT NULL,
  metric_event  TEXT NOT NULL,
  description   TEXT NOT NULL DEFAULT '',
  status        TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'stopped')),
  started_at    INTEGER NOT NULL,
  created_at    INTEGER NOT NULL,
  UNIQUE (org_id, key)
);

-- Errors grouped into issues by fingerprint (normalised message + top frame). `scope` is the
-- organisation the error belongs to, or 'platform' for the Worker's own crashes.
CREATE TABLE error_issues (
  id           TEXT PRIMARY KEY,               -- iss_<ULID>
  scope        TEXT NOT NULL,
  fingerprint  TEXT NOT NULL,
  source       TEXT NOT NULL,                  -- worker, durable_object, queue, browser
  message      TEXT NOT NULL,
  location     TEXT,
  release      TEXT,
  count        INTEGER NOT NULL DEFAULT 0,
  first_seen   INTEGER NOT NULL,
  last_seen    INTEGER NOT NULL,
  UNIQUE (scope, fingerprint)
);
CREATE INDEX error_issues_by_scope ON error_issues(scope, last_seen);

-- Occurrences of an issue (the newest are kept; the cron trims old ones with the events).
CREATE TABLE error_events (
  id          TEXT PRIMARY KEY,                -- err_<ULID>
  issue_id    TEXT NOT NULL REFERENCES error_issues(id) ON DELETE CASCADE,
  at          INTEGER NOT NULL,
  request_id  TEXT,
  message     TEXT NOT NULL,
  stack       TEXT,
  release     TEXT,
  url         TEXT,
  user_agent  TEXT
);
CREATE INDEX error_events_by_issue ON error_events(issue_id, at);
CREATE INDEX error_events_by_at ON error_events(at);
