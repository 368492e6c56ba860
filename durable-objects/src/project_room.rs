//! The per-project room: owner of a project's timeline. It orders every command (one total
//! order, consecutive sequence numbers), persists it in the object's SQLite storage before
//! answering (so an acknowledged command survives a crash), and keeps snapshots so that loading
//! is a snapshot plus a short replay.
//!
//! The Worker talks to it over an internal JSON protocol (the Worker has already authenticated
//! and authorised the caller):
//! - `POST /init {timeline}`: create the project's state (idempotent)
//! - `GET /state` → `{seq, timeline}`
//! - `POST /commands {actor, commands, base_seq?, idempotency_key?}` → `{seq, results}`
//! - `POST /undo {actor}`, `POST /redo {actor}` → `{seq, command}`
//! - `GET /history?after_seq=&limit=` → `{items, next_after_seq}`
//! - `DELETE /` : forget everything (project deleted)

use std::cell::RefCell;

use editor_core::{format, Command, Timeline};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

use crate::room::{Actor, HistoryError, LogEntry, Room};

/// A snapshot is written after this many commands.
const SNAPSHOT_EVERY: u64 = 100;
/// Snapshot JSON is stored in rows of at most this many bytes (values are capped at 2 MB).
const CHUNK_BYTES: usize = 512 * 1024;
/// Log entries older than the latest snapshot by more than this are compacted away.
const HISTORY_KEEP: u64 = 10_000;
/// Idempotency keys are remembered this long.
const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;
/// Most commands in one request.
pub const MAX_COMMANDS_PER_REQUEST: usize = 500;

/// Body of `POST /commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandsRequest {
    /// Who is editing.
    pub actor: Actor,
    /// Applied atomically, in order.
    pub commands: Vec<Command>,
    /// The sequence number the client's view was based on.
    #[serde(default)]
    pub base_seq: Option<u64>,
    /// A repeated key returns the first answer without applying anything again.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InitRequest {
    timeline: Value,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActorRequest {
    actor: Actor,
}

#[derive(Debug, Serialize, Deserialize)]
struct LogRow {
    seq: i64,
    at: i64,
    actor_type: String,
    actor_id: String,
    command: String,
    inverse: String,
}

#[derive(Debug, Deserialize)]
struct ChunkRow {
    seq: i64,
    data: String,
}

/// One Durable Object per project (addressed by project id).
#[durable_object]
pub struct ProjectRoom {
    state: State,
    room: RefCell<Option<Room>>,
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Result<Response> {
    let body = json!({"error": {"code": code, "message": message.into()}});
    Ok(Response::from_json(&body)?.with_status(status))
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

impl ProjectRoom {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<()> {
        let sql = self.sql();
        sql.exec(
            "CREATE TABLE IF NOT EXISTS log (seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, command TEXT NOT NULL, inverse TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS snapshot (seq INTEGER NOT NULL, idx INTEGER NOT NULL, data TEXT NOT NULL, PRIMARY KEY (seq, idx))",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS idempotency (key TEXT PRIMARY KEY, response TEXT NOT NULL, at INTEGER NOT NULL)",
            None,
        )?;
        Ok(())
    }

    /// Loads the room from the latest snapshot and the log after it; `None` before `/init`.
    fn load(&self) -> Result<bool> {
        if self.room.borrow().is_some() {
            return Ok(true);
        }
        self.ensure_schema()?;
        let chunks: Vec<ChunkRow> = self
            .sql()
            .exec(
                "SELECT seq, data FROM snapshot WHERE seq = (SELECT MAX(seq) FROM snapshot) ORDER BY idx",
                None,
            )?
            .to_array()?;
        let Some(first) = chunks.first() else {
            return Ok(false);
        };
        let snapshot_seq = first.seq;
        let text: String = chunks.iter().map(|c| c.data.as_str()).collect();
        let timeline = format::from_json(&text)
            .map_err(|e| worker::Error::RustError(format!("stored snapshot: {e}")))?;
        let mut room = Room::new(timeline, snapshot_seq as u64);
        let rows: Vec<LogRow> = self
            .sql()
            .exec(
                "SELECT seq, at, actor_type, actor_id, command, inverse FROM log WHERE seq > ? ORDER BY seq",
                vec![SqlStorageValue::Integer(snapshot_seq)],
            )?
            .to_array()?;
        for row in rows {
            let entry = entry_of(row)?;
            room.replay(&entry)
                .map_err(|e| worker::Error::RustError(format!("replaying {}: {e}", entry.seq)))?;
        }
        *self.room.borrow_mut() = Some(room);
        Ok(true)
    }

    fn write_snapshot(&self, seq: u64, timeline: &Timeline) -> Result<()> {
        let sql = self.sql();
        let text = format::to_json(timeline);
        let mut index = 0i64;
        let mut rest = text.as_str();
        while !rest.is_empty() || index == 0 {
            let mut cut = rest.len().min(CHUNK_BYTES);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            sql.exec(
                "INSERT OR REPLACE INTO snapshot (seq, idx, data) VALUES (?, ?, ?)",
                vec![
                    SqlStorageValue::Integer(seq as i64),
                    SqlStorageValue::Integer(index),
                    SqlStorageValue::String(chunk.to_string()),
                ],
            )?;
            rest = tail;
            index += 1;
        }
        sql.exec(
            "DELETE FROM snapshot WHERE seq < ?",
            vec![SqlStorageValue::Integer(seq as i64)],
        )?;
        sql.exec(
            "DELETE FROM log WHERE seq <= ?",
            vec![SqlStorageValue::Integer(seq as i64 - HISTORY_KEEP as i64)],
        )?;
        Ok(())
    }

    fn persist(&self, entries: &[LogEntry]) -> Result<()> {
        let sql = self.sql();
        for entry in entries {
            sql.exec(
                "INSERT INTO log (seq, at, actor_type, actor_id, command, inverse) VALUES (?, ?, ?, ?, ?, ?)",
                vec![
                    SqlStorageValue::Integer(entry.seq as i64),
                    SqlStorageValue::Integer(entry.at),
                    SqlStorageValue::String(entry.actor.kind.clone()),
                    SqlStorageValue::String(entry.actor.id.clone()),
                    SqlStorageValue::String(serde_json::to_string(&entry.command)?),
                    SqlStorageValue::String(serde_json::to_string(&entry.inverse)?),
                ],
            )?;
        }
        let crossed = entries.iter().any(|entry| entry.seq % SNAPSHOT_EVERY == 0);
        if crossed {
            let room = self.room.borrow();
            if let Some(room) = room.as_ref() {
                self.write_snapshot(room.seq(), room.timeline())?;
            }
        }
        Ok(())
    }

    fn init(&self, body: InitRequest) -> Result<Response> {
        if self.load()? {
            let seq = self.room.borrow().as_ref().map(Room::seq).unwrap_or(0);
            return Response::from_json(&json!({ "seq": seq, "created": false }));
        }
        let timeline = match format::from_value(body.timeline) {
            Ok(timeline) => timeline,
            Err(e) => return error(422, "invalid_timeline", e.to_string()),
        };
        self.write_snapshot(0, &timeline)?;
        *self.room.borrow_mut() = Some(Room::new(timeline, 0));
        Response::from_json(&json!({ "seq": 0, "created": true }))
    }

    fn state_response(&self) -> Result<Response> {
        let room = self.room.borrow();
        let Some(room) = room.as_ref() else {
            return error(404, "not_found", "project not found");
        };
        Response::from_json(&json!({
            "seq": room.seq(),
            "timeline": format::to_value(room.timeline()),
        }))
    }

    fn commands(&self, body: CommandsRequest) -> Result<Response> {
        if body.commands.is_empty() || body.commands.len() > MAX_COMMANDS_PER_REQUEST {
            return error(
                422,
                "invalid_commands",
                format!("send 1 to {MAX_COMMANDS_PER_REQUEST} commands"),
            );
        }
        let now = now_ms();
        if let Some(key) = &body.idempotency_key {
            self.sql().exec(
                "DELETE FROM idempotency WHERE at < ?",
                vec![SqlStorageValue::Integer(now - IDEMPOTENCY_TTL_MS)],
            )?;
            #[derive(Deserialize)]
            struct Stored {
                response: String,
            }
            let stored: Vec<Stored> = self
                .sql()
                .exec(
                    "SELECT response FROM idempotency WHERE key = ?",
                    vec![SqlStorageValue::String(key.clone())],
                )?
                .to_array()?;
            if let Some(stored) = stored.first() {
                let value: Value = serde_json::from_str(&stored.response)?;
                let mut response = Response::from_json(&value)?;
                response.headers_mut().set("x-idempotent-replay", "true")?;
                return Ok(response);
            }
        }
        let mut room_slot = self.room.borrow_mut();
        let Some(room) = room_slot.as_mut() else {
            return error(404, "not_found", "project not found");
        };
        if body.base_seq.is_some_and(|base| base > room.seq()) {
            return error(
                422,
                "invalid_base_seq",
                format!("base_seq is ahead of the project (at {})", room.seq()),
            );
        }
        let entries = match room.submit(&body.actor, body.commands, body.base_seq, now) {
            Ok(entries) => entries,
            Err(refusal) => {
                let (status, code) = if refusal.stale {
                    (409, "conflict")
                } else {
                    (422, refusal.error.code())
                };
                let message = format!("command {}: {}", refusal.index, refusal.error);
                let body = json!({"error": {
                    "code": code,
                    "message": message,
                    "index": refusal.index,
                    "reason": refusal.error.code(),
                }});
                return Ok(Response::from_json(&body)?.with_status(status));
            }
        };
        drop(room_slot);
        let seq = entries.last().map(|e| e.seq).unwrap_or(0);
        let response = json!({
            "seq": seq,
            "results": entries.iter().map(|e| json!({"seq": e.seq, "inverse": e.inverse})).collect::<Vec<_>>(),
        });
        // Written before the response leaves: the output gate holds the answer until the
        // writes are durable, so an acknowledged command is never lost.
        self.persist(&entries)?;
        if let Some(key) = &body.idempotency_key {
            self.sql().exec(
                "INSERT OR REPLACE INTO idempotency (key, response, at) VALUES (?, ?, ?)",
                vec![
                    SqlStorageValue::String(key.clone()),
                    SqlStorageValue::String(response.to_string()),
                    SqlStorageValue::Integer(now),
                ],
            )?;
        }
        Response::from_json(&response)
    }

    fn history_step(&self, body: ActorRequest, undo: bool) -> Result<Response> {
        let mut room_slot = self.room.borrow_mut();
        let Some(room) = room_slot.as_mut() else {
            return error(404, "not_found", "project not found");
        };
        let now = now_ms();
        let result = if undo {
            room.undo(&body.actor, now)
        } else {
            room.redo(&body.actor, now)
        };
        drop(room_slot);
        match result {
            Ok(entry) => {
                self.persist(std::slice::from_ref(&entry))?;
                Response::from_json(&json!({"seq": entry.seq, "command": entry.command}))
            }
            Err(HistoryError::Empty) => error(
                409,
                "nothing_to_undo",
                if undo {
                    "nothing to undo"
                } else {
                    "nothing to redo"
                },
            ),
            Err(HistoryError::Conflict(e)) => error(
                409,
                "undo_conflict",
                format!("later edits by others prevent this step: {e}"),
            ),
        }
    }

    fn history(&self, after_seq: i64, limit: i64) -> Result<Response> {
        let rows: Vec<LogRow> = self
            .sql()
            .exec(
                "SELECT seq, at, actor_type, actor_id, command, inverse FROM log WHERE seq > ? ORDER BY seq LIMIT ?",
                vec![
                    SqlStorageValue::Integer(after_seq),
                    SqlStorageValue::Integer(limit + 1),
                ],
            )?
            .to_array()?;
        let more = rows.len() as i64 > limit;
        let items: Vec<Value> = rows
            .into_iter()
            .take(limit as usize)
            .map(|row| {
                let command: Value = serde_json::from_str(&row.command).unwrap_or(Value::Null);
                json!({
                    "seq": row.seq,
                    "at": row.at,
                    "actor": {"type": row.actor_type, "id": row.actor_id},
                    "command": command,
                })
            })
            .collect();
        let next_after = if more {
            items.last().and_then(|item| item["seq"].as_i64())
        } else {
            None
        };
        Response::from_json(&json!({"items": items, "next_after_seq": next_after}))
    }

    async fn route(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let path = url.path().to_string();
        let method = req.method();
        if method == Method::Delete && path == "/" {
            self.state.storage().delete_all().await?;
            *self.room.borrow_mut() = None;
            return Ok(Response::empty()?.with_status(204));
        }
        if method == Method::Post && path == "/init" {
            let body: InitRequest = match req.json().await {
                Ok(body) => body,
                Err(e) => return error(400, "malformed_request", e.to_string()),
            };
            return self.init(body);
        }
        if !self.load()? {
            return error(404, "not_found", "project not found");
        }
        match (method, path.as_str()) {
            (Method::Get, "/state") => self.state_response(),
            (Method::Post, "/commands") => {
                let text = req.text().await?;
                match serde_json::from_str::<CommandsRequest>(&text) {
                    Ok(body) => self.commands(body),
                    Err(e) => error(422, "invalid_commands", e.to_string()),
                }
            }
            (Method::Post, "/undo") | (Method::Post, "/redo") => {
                let body: ActorRequest = match req.json().await {
                    Ok(body) => body,
                    Err(e) => return error(400, "malformed_request", e.to_string()),
                };
                self.history_step(body, path == "/undo")
            }
            (Method::Get, "/history") => {
                let query = |name: &str| {
                    url.query_pairs()
                        .find(|(k, _)| k == name)
                        .and_then(|(_, v)| v.parse::<i64>().ok())
                };
                let after = query("after_seq").unwrap_or(0).max(0);
                let limit = query("limit").unwrap_or(100).clamp(1, 1000);
                self.history(after, limit)
            }
            _ => error(404, "not_found", "unknown room route"),
        }
    }
}

fn entry_of(row: LogRow) -> Result<LogEntry> {
    Ok(LogEntry {
        seq: row.seq as u64,
        at: row.at,
        actor: Actor {
            kind: row.actor_type,
            id: row.actor_id,
        },
        command: serde_json::from_str(&row.command)?,
        inverse: serde_json::from_str(&row.inverse)?,
    })
}

impl DurableObject for ProjectRoom {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            room: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.route(req).await
    }
}
