-- Single-use, short-lived tickets that let a browser open a project room's WebSocket where
-- sending the session cookie is not an option. Only the SHA-256 of a ticket is stored.
CREATE TABLE room_tickets (
  ticket_hash  TEXT PRIMARY KEY,
  project_id   TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  used_at      INTEGER
);
