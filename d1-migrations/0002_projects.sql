-- Projects (ProEditor, module 06): the relational record of each project. The timeline itself
-- lives in the project's ProjectRoom Durable Object (command log + snapshots).
CREATE TABLE projects (
  id          TEXT PRIMARY KEY,                -- prj_<ULID>
  org_id      TEXT NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  width       INTEGER NOT NULL,
  height      INTEGER NOT NULL,
  fps_num     INTEGER NOT NULL,
  fps_den     INTEGER NOT NULL,
  status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'archived')),
  duplicated_from TEXT,
  created_by  TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  deleted_at  INTEGER
);
CREATE INDEX projects_by_org ON projects(org_id, id);
