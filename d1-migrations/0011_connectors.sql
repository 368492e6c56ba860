-- Toolgraph (module 10): the per-organisation catalog of external MCP servers ("connectors")
-- and the registry of the tools discovered on them. Agents and people call those tools through
-- the Worker's proxy only (rate limit, timeout, size cap, SSRF checks, audit), never directly.

CREATE TABLE connectors (
  id                    TEXT PRIMARY KEY,                 -- con_<ULID>
  org_id                TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  slug                  TEXT NOT NULL,                    -- [a-z0-9-], unique per org; prefixes tool names
  name                  TEXT NOT NULL,
  description           TEXT NOT NULL DEFAULT '',
  url                   TEXT NOT NULL,                    -- the server's Streamable HTTP endpoint
  auth_method           TEXT NOT NULL CHECK (auth_method IN ('none', 'bearer', 'header')),
  auth_header           TEXT,                             -- header name, for auth_method = 'header'
  -- base64(nonce || AES-256-GCM ciphertext) of the credential, key from the Worker secret
  -- CONNECTOR_ENCRYPTION_KEY, the connector id as associated data. Never returned by the API.
  credential_ciphertext TEXT,
  rate_per_minute       INTEGER NOT NULL,                 -- proxied calls per minute (burst: the same)
  timeout_ms            INTEGER NOT NULL,                 -- per upstream exchange
  status                TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'ready')),
  server_name           TEXT,                             -- serverInfo.name from the last discovery
  protocol_version      TEXT,                             -- negotiated at the last discovery
  discovered_at         INTEGER,
  created_by_type       TEXT NOT NULL,
  created_by            TEXT NOT NULL,
  created_at            INTEGER NOT NULL,
  updated_at            INTEGER NOT NULL,
  UNIQUE (org_id, slug)
);

CREATE TABLE connector_tools (
  connector_id   TEXT NOT NULL REFERENCES connectors(id) ON DELETE CASCADE,
  org_id         TEXT NOT NULL,
  name           TEXT NOT NULL,                           -- the tool's name on its server
  title          TEXT,
  description    TEXT NOT NULL DEFAULT '',
  input_schema   TEXT NOT NULL,                           -- JSON Schema, as the server published it
  output_schema  TEXT,
  annotations    TEXT,
  discovered_at  INTEGER NOT NULL,
  PRIMARY KEY (connector_id, name)
);

CREATE INDEX connector_tools_by_org ON connector_tools (org_id, connector_id, name);
