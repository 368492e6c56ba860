-- Asset graph & storage (module 02). Bytes live in R2 under `orgs/{org_id}/assets/{asset_id}`;
-- this is the record, the lineage graph and the search index.
CREATE TABLE assets (
  id          TEXT PRIMARY KEY,                 -- ast_<ULID>
  org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  owner_type  TEXT NOT NULL,                    -- 'user' | 'api_key' | 'job'
  owner_id    TEXT,
  kind        TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio', 'font', 'render',
                'thumbnail', 'template', 'archive', 'document', 'other')),
  mime        TEXT NOT NULL,                    -- sniffed from the bytes, never the client's word
  bytes       INTEGER NOT NULL,
  sha256      TEXT NOT NULL,                    -- lowercase hex of the stored bytes
  r2_key      TEXT NOT NULL,
  width       INTEGER,
  height      INTEGER,
  duration_ms INTEGER,
  name        TEXT NOT NULL,
  tags        TEXT NOT NULL DEFAULT '[]',       -- JSON array of strings
  metadata    TEXT NOT NULL DEFAULT '{}',       -- JSON object, custom key/values
  phash       TEXT,                             -- 64-bit dHash of the decoded image, 16 hex digits
  status      TEXT NOT NULL DEFAULT 'ready' CHECK (status IN ('uploading', 'ready', 'deleted')),
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);
CREATE INDEX assets_by_org ON assets(org_id, id);
CREATE INDEX assets_by_org_kind ON assets(org_id, kind, created_at);
CREATE INDEX assets_by_checksum ON assets(org_id, sha256);
CREATE INDEX assets_by_phash ON assets(org_id, phash) WHERE phash IS NOT NULL;

-- Lineage: `child_id` was derived from `parent_id` by `recipe`
-- ({"job_kind", "params", "editor_core_version"} as JSON).
CREATE TABLE asset_lineage (
  child_id    TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
  parent_id   TEXT NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
  org_id      TEXT NOT NULL,
  recipe      TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX asset_lineage_by_parent ON asset_lineage(parent_id, child_id);

-- Full-text search over name, tags and metadata values; kept in step by triggers so every
-- writer (upload, render output, edits) is indexed alike.
CREATE VIRTUAL TABLE assets_fts USING fts5(
  name, tags, metadata, content='assets', content_rowid='rowid', tokenize='unicode61'
);
CREATE TRIGGER assets_fts_insert AFTER INSERT ON assets BEGIN
  INSERT INTO assets_fts(rowid, name, tags, metadata) VALUES (new.rowid, new.name, new.tags, new.metadata);
END;
CREATE TRIGGER assets_fts_delete AFTER DELETE ON assets BEGIN
  INSERT INTO assets_fts(assets_fts, rowid, name, tags, metadata) VALUES ('delete', old.rowid, old.name, old.tags, old.metadata);
END;
CREATE TRIGGER assets_fts_update AFTER UPDATE OF name, tags, metadata ON assets BEGIN
  INSERT INTO assets_fts(assets_fts, rowid, name, tags, metadata) VALUES ('delete', old.rowid, old.name, old.tags, old.metadata);
  INSERT INTO assets_fts(rowid, name, tags, metadata) VALUES (new.rowid, new.name, new.tags, new.metadata);
END;

-- Multipart uploads in flight (R2 multipart upload id + parts received so far).
CREATE TABLE asset_uploads (
  id            TEXT PRIMARY KEY,               -- upl_<ULID>
  org_id        TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  asset_id      TEXT NOT NULL,                  -- id the asset will get
  r2_key        TEXT NOT NULL,
  r2_upload_id  TEXT NOT NULL,
  name          TEXT NOT NULL,
  declared_bytes INTEGER,
  parts         TEXT NOT NULL DEFAULT '[]',     -- JSON [{part_number, etag, bytes}]
  created_by_type TEXT NOT NULL,
  created_by    TEXT,
  status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed', 'aborted')),
  created_at    INTEGER NOT NULL,
  expires_at    INTEGER NOT NULL
);
CREATE INDEX asset_uploads_by_org ON asset_uploads(org_id, id);
