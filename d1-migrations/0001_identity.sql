-- Identity & Accounts (module 01): users, organisations, memberships, sessions,
-- invitations, API keys, OpenID Connect, plus the audit trail and the analytics
-- event stream every module writes to.
-- Times are integer milliseconds since the Unix epoch (UTC); the API renders them as RFC 3339.

CREATE TABLE users (
  id              TEXT PRIMARY KEY,            -- usr_<ULID>
  email           TEXT NOT NULL UNIQUE,        -- lower-cased
  name            TEXT NOT NULL,
  password_hash   TEXT,                        -- Argon2id PHC string; NULL for accounts created by OIDC only
  email_verified  INTEGER NOT NULL DEFAULT 0,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);

CREATE TABLE orgs (
  id          TEXT PRIMARY KEY,                -- org_<ULID>
  name        TEXT NOT NULL,
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL
);

CREATE TABLE memberships (
  org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role        TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships(user_id);

-- Only the SHA-256 of a session token is stored; the token itself lives in the client.
CREATE TABLE sessions (
  id                   TEXT PRIMARY KEY,       -- ses_<ULID>
  user_id              TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  token_hash           TEXT NOT NULL UNIQUE,
  created_at           INTEGER NOT NULL,
  last_seen_at         INTEGER NOT NULL,
  idle_expires_at      INTEGER NOT NULL,
  absolute_expires_at  INTEGER NOT NULL,
  revoked_at           INTEGER,
  ip                   TEXT,
  user_agent           TEXT,
  auth_method          TEXT NOT NULL           -- password | oidc:<provider>
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE invitations (
  id           TEXT PRIMARY KEY,               -- inv_<ULID>
  org_id       TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  email        TEXT NOT NULL,
  role         TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
  token_hash   TEXT NOT NULL UNIQUE,
  invited_by   TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  accepted_at  INTEGER,
  accepted_by  TEXT,
  revoked_at   INTEGER
);
CREATE INDEX invitations_by_org ON invitations(org_id);

CREATE TABLE api_keys (
  id            TEXT PRIMARY KEY,              -- key_<ULID>
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  role          TEXT NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
  prefix        TEXT NOT NULL UNIQUE,          -- the visible part, e.g. cos_k3j9x2ab
  key_hash      TEXT NOT NULL,                 -- SHA-256 of the whole key
  created_by_type TEXT NOT NULL,
  created_by    TEXT NOT NULL,
  created_at    INTEGER NOT NULL,
  last_used_at  INTEGER,
  revoked_at    INTEGER
);
CREATE INDEX api_keys_by_org ON api_keys(org_id);

-- Accounts at external OpenID providers linked to users.
CREATE TABLE identities (
  provider    TEXT NOT NULL,
  subject     TEXT NOT NULL,
  user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  email       TEXT,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (provider, subject)
);

-- Pending OpenID Connect logins: state, nonce and PKCE verifier, single-use and short-lived.
CREATE TABLE oidc_logins (
  state_hash     TEXT PRIMARY KEY,
  provider       TEXT NOT NULL,
  nonce          TEXT NOT NULL,
  code_verifier  TEXT NOT NULL,
  return_to      TEXT NOT NULL,
  created_at     INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  used_at        INTEGER
);

-- Who did what, where and when: written in the same batch as the change it records.
CREATE TABLE audit_log (
  id           TEXT PRIMARY KEY,               -- aud_<ULID>, time-ordered
  org_id       TEXT,
  at           INTEGER NOT NULL,
  actor_type   TEXT NOT NULL,                  -- user | api_key | agent | system | anonymous
  actor_id     TEXT,
  action       TEXT NOT NULL,                  -- e.g. org.create, auth.login
  target_type  TEXT,
  target_id    TEXT,
  result       TEXT NOT NULL,                  -- success | failure | denied
  request_id   TEXT NOT NULL,
  ip           TEXT,
  details      TEXT                            -- JSON, never secrets
);
CREATE INDEX audit_by_org ON audit_log(org_id, id);
CREATE INDEX audit_by_org_actor ON audit_log(org_id, actor_id, id);
CREATE INDEX audit_by_org_action ON audit_log(org_id, action, id);

-- Structured product events (module 05 consumes and queries these).
CREATE TABLE events (
  id          TEXT PRIMARY KEY,                -- evt_<ULID>
  org_id      TEXT,
  at          INTEGER NOT NULL,
  name        TEXT NOT NULL,
  actor_type  TEXT NOT NULL,
  actor_id    TEXT,
  request_id  TEXT,
  properties  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_org_name ON events(org_id, name, at);
