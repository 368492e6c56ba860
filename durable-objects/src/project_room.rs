//! The per-project room: owner of a project's timeline and its collaboration session.
//!
//! It orders every command (one total order, consecutive sequence numbers), persists it in the
//! object's SQLite storage before answering (the output gate holds every reply until the write
//! is durable, so an acknowledged command survives a crash), broadcasts it to the room, and
//! keeps snapshots so that loading is a snapshot plus a short replay. Sockets use the
//! hibernation API: who a socket is lives in its attachment, so the room survives eviction.
//!
//! Internal HTTP protocol (the Worker has already authenticated and authorised the caller):
//! - `POST /init {project_id, org_id, timeline}`: create the project's state (idempotent)
//! - `GET /state` → `{seq, timeline}`
//! - `POST /commands {actor, commands, base_seq?, idempotency_key?}` → `{seq, results}`
//! - `GET /history?after_seq=&limit=` → `{items, next_after_seq}`
//! - `GET /threads?resolved=` → `{items}`; `POST /comment {member, op}` → `{thread}`
//! - `GET /connect?since=` with `Upgrade: websocket` and `x-room-member`: join the room
//! - `DELETE /`: forget everything (project deleted)
//! - `POST /agent-presence {member, presence}`: an agent run working on the project is a
//!   member without a socket: it joins (`joined` to everyone) and moves (`presence`);
//!   `DELETE /agent-presence?connection_id=` takes it out (`left`)
//!
//! The WebSocket protocol is described in [`crate::protocol`].

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use editor_core::{format, Command, Timeline};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage,
    SqlStorageValue, State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use crate::comments::{self, CommentError, Outcome};
use crate::outbox::Outbox;
use crate::protocol::{
    Attachment, ClientMessage, Member, CLOSE_ACCESS_REVOKED, MAX_BAD_FRAMES, MAX_CONNECTIONS,
    MAX_FRAME_BYTES, PRESENCE_INTERVAL_MS, VERIFY_INTERVAL_MS,
};
use crate::room::{Actor, HistoryError, LogEntry, Refusal, Room, StackOp};

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
/// A resuming client gets at most this many missed commands; beyond, the whole timeline.
const MAX_MISSED: u64 = 5_000;
/// `project.edited` events are emitted at most this often per project.
const EDIT_EVENT_INTERVAL_MS: i64 = 10_000;

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
    project_id: String,
    org_id: String,
    timeline: Value,
}

/// Body of `POST /comment`: a comment operation from the HTTP API.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// Who.
    pub member: Member,
    /// A comment frame of the socket protocol (`comment_create`, `comment_reply`, …).
    pub op: Value,
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

/// An event for the jobs queue (see the Worker's queue consumer).
#[derive(Debug, Serialize)]
struct QueueEvent {
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    org_id: Option<String>,
    project_id: Option<String>,
    at: i64,
    /// JSON text.
    details: String,
}

#[derive(Default, Clone, Copy)]
struct PresenceClock {
    last_sent: i64,
    pending: bool,
}

/// Body of `POST /agent-presence`.
#[derive(Debug, Deserialize)]
struct AgentPresence {
    member: Member,
    presence: Value,
}

/// One Durable Object per project (addressed by project id).
#[durable_object]
pub struct ProjectRoom {
    state: State,
    env: Env,
    room: Rc<RefCell<Option<Room>>>,
    /// Open sockets by connection id; rebuilt from the runtime after hibernation.
    outbox: Outbox,
    presence: RefCell<HashMap<String, PresenceClock>>,
    last_edit_event: Cell<i64>,
    /// Recent access checks per principal and session.
    checks: RefCell<HashMap<String, Check>>,
}

fn error(status: u16, code: &str, message: impl Into<String>) -> Result<Response> {
    let body = json!({"error": {"code": code, "message": message.into()}});
    Ok(Response::from_json(&body)?.with_status(status))
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 10];
    // Ids only need uniqueness; on the (theoretical) failure the clock part still orders them.
    let _ = getrandom::fill(&mut bytes);
    let random = bytes.iter().fold(0u128, |acc, b| (acc << 8) | *b as u128);
    format!(
        "{prefix}_{}",
        ulid::Ulid::from_parts(now_ms().max(0) as u64, random)
    )
}

/// The `applied` frame of a log entry.
pub(crate) fn entry_json(entry: &LogEntry) -> Value {
    json!({"type": "applied", "seq": entry.seq, "actor": entry.actor, "command": entry.command})
}

/// Writes a snapshot of `timeline` at `seq` in chunks, then compacts older snapshots and the
/// log behind it.
fn write_snapshot(sql: &SqlStorage, seq: u64, timeline: &Timeline) -> Result<()> {
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

/// Writes accepted commands (and a snapshot when one is due). Called without an intervening
/// await, the writes form one implicit transaction.
pub(crate) fn persist_entries(
    sql: &SqlStorage,
    room: &RefCell<Option<Room>>,
    entries: &[&LogEntry],
    ops: &[StackOp],
) -> Result<()> {
    for op in ops {
        persist_stack_op(sql, op)?;
    }
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
    if entries.iter().any(|entry| entry.seq % SNAPSHOT_EVERY == 0) {
        let room = room.borrow();
        if let Some(room) = room.as_ref() {
            write_snapshot(sql, room.seq(), room.timeline())?;
        }
    }
    Ok(())
}

/// Applies one undo/redo stack change to the `stacks` table (positions grow from 1 per stack).
fn persist_stack_op(sql: &SqlStorage, op: &StackOp) -> Result<()> {
    let key = |actor: &Actor, redo: bool| -> Vec<SqlStorageValue> {
        vec![
            SqlStorageValue::String(actor.kind.clone()),
            SqlStorageValue::String(actor.id.clone()),
            SqlStorageValue::Integer(i64::from(redo)),
        ]
    };
    const WHERE: &str = "actor_type = ? AND actor_id = ? AND redo = ?";
    match op {
        StackOp::Push {
            actor,
            redo,
            command,
        } => {
            let mut args = key(actor, *redo);
            args.extend(key(actor, *redo));
            args.push(SqlStorageValue::String(serde_json::to_string(command)?));
            sql.exec(
                &format!("INSERT INTO stacks (actor_type, actor_id, redo, pos, command) VALUES (?, ?, ?, (SELECT COALESCE(MAX(pos), 0) + 1 FROM stacks WHERE {WHERE}), ?)"),
                args,
            )?;
        }
        StackOp::Pop { actor, redo } | StackOp::DropOldest { actor, redo } => {
            let extreme = if matches!(op, StackOp::Pop { .. }) {
                "MAX"
            } else {
                "MIN"
            };
            let mut args = key(actor, *redo);
            args.extend(key(actor, *redo));
            sql.exec(
                &format!("DELETE FROM stacks WHERE {WHERE} AND pos = (SELECT {extreme}(pos) FROM stacks WHERE {WHERE})"),
                args,
            )?;
        }
        StackOp::Clear { actor, redo } => {
            sql.exec(
                &format!("DELETE FROM stacks WHERE {WHERE}"),
                key(actor, *redo),
            )?;
        }
    }
    Ok(())
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
        sql.exec(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS stacks (actor_type TEXT NOT NULL, actor_id TEXT NOT NULL, redo INTEGER NOT NULL, pos INTEGER NOT NULL, command TEXT NOT NULL, PRIMARY KEY (actor_type, actor_id, redo, pos))",
            None,
        )?;
        sql.exec(
            "CREATE TABLE IF NOT EXISTS agent_members (connection_id TEXT PRIMARY KEY, member TEXT NOT NULL, presence TEXT NOT NULL)",
            None,
        )?;
        comments::ensure_schema(&sql)?;
        Ok(())
    }

    fn meta(&self, key: &str) -> Result<Option<String>> {
        #[derive(Deserialize)]
        struct Row {
            value: String,
        }
        let rows: Vec<Row> = self
            .sql()
            .exec("SELECT value FROM meta WHERE key = ?", vec![key.into()])?
            .to_array()?;
        Ok(rows.into_iter().next().map(|r| r.value))
    }

    /// Loads the room from the latest snapshot and the log after it; false before `/init`.
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
        // Undo history, per actor, oldest first.
        #[derive(Deserialize)]
        struct StackRow {
            actor_type: String,
            actor_id: String,
            redo: i64,
            command: String,
        }
        let rows: Vec<StackRow> = self
            .sql()
            .exec(
                "SELECT actor_type, actor_id, redo, command FROM stacks ORDER BY actor_type, actor_id, redo, pos",
                None,
            )?
            .to_array()?;
        let mut stacks: HashMap<Actor, (Vec<Command>, Vec<Command>)> = HashMap::new();
        for row in rows {
            let command: Command = serde_json::from_str(&row.command)?;
            let actor = Actor {
                kind: row.actor_type,
                id: row.actor_id,
            };
            let (undo, redo) = stacks.entry(actor).or_default();
            if row.redo == 0 { undo } else { redo }.push(command);
        }
        for (actor, (undo, redo)) in stacks {
            room.restore_stacks(actor, undo, redo);
        }
        *self.room.borrow_mut() = Some(room);
        Ok(true)
    }

    // ------------------------------------------------------------------ sockets

    fn sockets(&self) -> Vec<(String, WebSocket)> {
        self.outbox.sockets(&self.state)
    }

    /// Sends a frame to every socket but `except`, after everything queued in the outbox.
    fn broadcast(&self, message: &Value, except: Option<&str>) {
        let _ = self.outbox.flush();
        let text = message.to_string();
        for (connection_id, ws) in self.sockets() {
            if Some(connection_id.as_str()) != except {
                // A socket that is closing cannot take frames; it leaves on its own.
                let _ = ws.send_with_str(&text);
            }
        }
    }

    /// Queues a timeline change: the sender's `ack` (if any) and `applied` for everyone else.
    fn publish(&self, entry: LogEntry, sender: Option<&str>, ack: Option<Value>) {
        self.outbox
            .push(&self.state, entry, sender, ack.map(|ack| ack.to_string()));
    }

    fn members(&self) -> Vec<Value> {
        let mut members: Vec<Value> = self
            .state
            .get_websockets()
            .into_iter()
            .filter_map(|ws| ws.deserialize_attachment::<Attachment>().ok().flatten())
            .map(|a| json!({"member": a.member, "presence": a.presence, "following": a.following}))
            .collect();
        members.extend(self.agent_members().into_iter().map(
            |(member, presence)| json!({"member": member, "presence": presence, "following": null}),
        ));
        members
    }

    /// Agents working on the project through runs: members without a socket.
    fn agent_members(&self) -> Vec<(Value, Value)> {
        #[derive(Deserialize)]
        struct Row {
            member: String,
            presence: String,
        }
        let rows: Vec<Row> = self
            .sql()
            .exec(
                "SELECT member, presence FROM agent_members ORDER BY connection_id",
                None,
            )
            .and_then(|cursor| cursor.to_array())
            .unwrap_or_default();
        rows.into_iter()
            .filter_map(|row| {
                Some((
                    serde_json::from_str(&row.member).ok()?,
                    serde_json::from_str(&row.presence).ok()?,
                ))
            })
            .collect()
    }

    /// `POST /agent-presence`: an agent joins (once) and shows where it works.
    fn agent_presence(&self, body: AgentPresence) -> Result<Response> {
        let connection_id = body.member.connection_id.clone();
        let known = self
            .agent_members()
            .into_iter()
            .any(|(member, _)| member["connection_id"] == json!(connection_id));
        self.sql().exec(
            "INSERT OR REPLACE INTO agent_members (connection_id, member, presence) VALUES (?, ?, ?)",
            vec![
                connection_id.clone().into(),
                serde_json::to_string(&body.member)?.into(),
                body.presence.to_string().into(),
            ],
        )?;
        if !known {
            self.broadcast(&json!({"type": "joined", "member": body.member}), None);
        }
        self.broadcast(
            &json!({
                "type": "presence",
                "connection_id": connection_id,
                "actor": body.member.actor,
                "presence": body.presence,
            }),
            None,
        );
        Ok(Response::empty()?.with_status(204))
    }

    /// `DELETE /agent-presence?connection_id=`: the agent leaves.
    fn agent_left(&self, connection_id: &str) -> Result<Response> {
        let known = self
            .agent_members()
            .into_iter()
            .any(|(member, _)| member["connection_id"] == json!(connection_id));
        if known {
            self.sql().exec(
                "DELETE FROM agent_members WHERE connection_id = ?",
                vec![connection_id.into()],
            )?;
            self.broadcast(
                &json!({"type": "left", "connection_id": connection_id}),
                None,
            );
        }
        Ok(Response::empty()?.with_status(204))
    }

    fn join(&self, req: &Request, url: &url::Url) -> Result<Response> {
        let header = req.headers().get("x-room-member")?.unwrap_or_default();
        let Ok(mut member) = serde_json::from_str::<Member>(&header) else {
            return error(400, "malformed_request", "missing member");
        };
        if self.state.get_websockets().len() >= MAX_CONNECTIONS {
            return error(
                429,
                "room_full",
                format!("a room holds at most {MAX_CONNECTIONS} connections"),
            );
        }
        member.connection_id = new_id("con");
        let since = url
            .query_pairs()
            .find(|(k, _)| k == "since")
            .and_then(|(_, v)| v.parse::<u64>().ok());

        // Frames queued before this socket joined belong to the room it did not see yet.
        let _ = self.outbox.flush();
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        self.state.accept_web_socket(&server);
        server.serialize_attachment(Attachment {
            member: member.clone(),
            presence: json!({}),
            following: None,
            bad_frames: 0,
            session_id: req.headers().get("x-room-session")?,
            verified_at: now_ms(),
        })?;

        let (seq, timeline) = {
            let room = self.room.borrow();
            let room = room
                .as_ref()
                .ok_or_else(|| worker::Error::RustError("room not loaded".into()))?;
            (room.seq(), format::to_value(room.timeline()))
        };
        let mut welcome = json!({
            "type": "welcome",
            "seq": seq,
            "you": member,
            "members": self.members(),
        });
        let missed = match since {
            Some(since) if since <= seq && seq - since <= MAX_MISSED => {
                let rows: Vec<LogRow> = self
                    .sql()
                    .exec(
                        "SELECT seq, at, actor_type, actor_id, command, inverse FROM log WHERE seq > ? ORDER BY seq",
                        vec![SqlStorageValue::Integer(since as i64)],
                    )?
                    .to_array()?;
                // Only a gap-free tail can be replayed by the client.
                (rows.len() as u64 == seq - since).then_some(rows)
            }
            _ => None,
        };
        match missed {
            Some(rows) => {
                let entries: Vec<Value> = rows
                    .into_iter()
                    .filter_map(|row| entry_of(row).ok())
                    .map(|entry| entry_json(&entry))
                    .collect();
                welcome["missed"] = Value::Array(entries);
            }
            None => welcome["timeline"] = timeline,
        }
        server.send_with_str(welcome.to_string())?;
        // Rebuilt from the runtime on next use, now including the new socket.
        self.outbox.refresh();
        self.broadcast(
            &json!({"type": "joined", "member": member}),
            Some(&member.connection_id),
        );
        Response::from_websocket(pair.client)
    }

    /// Sends one frame to one socket, after everything queued for it.
    fn send(&self, ws: &WebSocket, message: &Value) {
        let _ = self.outbox.flush();
        let _ = ws.send_with_str(message.to_string());
    }

    fn reject(&self, ws: &WebSocket, client_seq: Option<u64>, code: &str, message: &str) {
        self.send(
            ws,
            &json!({"type": "reject", "client_seq": client_seq, "error": {"code": code, "message": message}}),
        );
    }

    fn refusal_json(refusal: &Refusal) -> (u16, Value) {
        let (status, code) = if refusal.stale {
            (409, "conflict")
        } else {
            (422, refusal.error.code())
        };
        (
            status,
            json!({
                "code": code,
                "message": format!("command {}: {}", refusal.index, refusal.error),
                "index": refusal.index,
                "reason": refusal.error.code(),
            }),
        )
    }

    async fn on_frame(&self, ws: WebSocket, text: String) -> Result<()> {
        let Some(mut attachment) = ws.deserialize_attachment::<Attachment>()? else {
            let _ = ws.close(Some(1011), Some("unknown connection"));
            return Ok(());
        };
        if text.len() > MAX_FRAME_BYTES {
            let _ = ws.close(Some(1009), Some("frame too large"));
            return Ok(());
        }
        let message = match serde_json::from_str::<ClientMessage>(&text) {
            Ok(message) => message,
            Err(e) => {
                attachment.bad_frames += 1;
                self.send(
                    &ws,
                    &json!({"type": "error", "error": {"code": "malformed_frame", "message": e.to_string()}}),
                );
                if attachment.bad_frames >= MAX_BAD_FRAMES {
                    let _ = ws.close(Some(1008), Some("too many malformed frames"));
                } else {
                    ws.serialize_attachment(&attachment)?;
                }
                return Ok(());
            }
        };
        if !self.load()? {
            let _ = ws.close(Some(1011), Some("project is gone"));
            return Ok(());
        }
        let now = now_ms();
        let changes = !matches!(
            message,
            ClientMessage::Presence { .. }
                | ClientMessage::Follow { .. }
                | ClientMessage::Ping { .. }
        );
        if changes
            && now - attachment.verified_at >= VERIFY_INTERVAL_MS
            && !self.verify(&ws, &mut attachment, now).await?
        {
            return Ok(());
        }
        let member = attachment.member.clone();
        let edits_timeline = matches!(
            message,
            ClientMessage::Command { .. } | ClientMessage::Undo { .. } | ClientMessage::Redo { .. }
        );
        if edits_timeline && !member.can_write {
            self.reject(
                &ws,
                message.client_seq(),
                "forbidden",
                "your role can view but not edit",
            );
            return Ok(());
        }
        match message {
            ClientMessage::Command {
                client_seq,
                base_seq,
                command,
            } => {
                let result = {
                    let mut room = self.room.borrow_mut();
                    let room = room
                        .as_mut()
                        .ok_or_else(|| worker::Error::RustError("room not loaded".into()))?;
                    if base_seq.is_some_and(|base| base > room.seq()) {
                        Err(None)
                    } else {
                        let result = room
                            .submit(&member.actor, vec![command], base_seq, now)
                            .map_err(Some);
                        self.outbox.stack_ops(room.take_stack_ops());
                        result
                    }
                };
                match result {
                    Ok(entries) => {
                        let last = entries.len().saturating_sub(1);
                        for (i, entry) in entries.into_iter().enumerate() {
                            let ack = (i == last).then(|| {
                                json!({"type": "ack", "client_seq": client_seq, "seq": entry.seq})
                            });
                            self.publish(entry, Some(&member.connection_id), ack);
                        }
                        self.edited(now).await;
                    }
                    Err(Some(refusal)) => {
                        let (_, error) = Self::refusal_json(&refusal);
                        self.send(
                            &ws,
                            &json!({"type": "reject", "client_seq": client_seq, "error": error}),
                        );
                    }
                    Err(None) => self.reject(
                        &ws,
                        Some(client_seq),
                        "invalid_base_seq",
                        "base_seq is ahead of the room",
                    ),
                }
            }
            ClientMessage::Undo { client_seq } | ClientMessage::Redo { client_seq } => {
                let undo = matches!(message, ClientMessage::Undo { .. });
                let result = {
                    let mut room = self.room.borrow_mut();
                    let room = room
                        .as_mut()
                        .ok_or_else(|| worker::Error::RustError("room not loaded".into()))?;
                    let result = if undo {
                        room.undo(&member.actor, now)
                    } else {
                        room.redo(&member.actor, now)
                    };
                    self.outbox.stack_ops(room.take_stack_ops());
                    result
                };
                match result {
                    Ok(entry) => {
                        let ack = json!({"type": "ack", "client_seq": client_seq, "seq": entry.seq, "command": entry.command});
                        self.publish(entry, Some(&member.connection_id), Some(ack));
                        self.edited(now).await;
                    }
                    Err(HistoryError::Empty) => self.reject(
                        &ws,
                        Some(client_seq),
                        "nothing_to_undo",
                        if undo {
                            "nothing to undo"
                        } else {
                            "nothing to redo"
                        },
                    ),
                    Err(HistoryError::Conflict(e)) => self.reject(
                        &ws,
                        Some(client_seq),
                        "undo_conflict",
                        &format!("later edits by others prevent this step: {e}"),
                    ),
                }
            }
            ClientMessage::Presence {
                cursor,
                playhead,
                selection,
                viewport,
            } => {
                if !attachment.presence.is_object() {
                    attachment.presence = json!({});
                }
                let presence = &mut attachment.presence;
                if let Some(cursor) = cursor {
                    presence["cursor"] = cursor;
                }
                if let Some(playhead) = playhead {
                    presence["playhead"] = json!(playhead);
                }
                if let Some(selection) = selection {
                    presence["selection"] = json!(selection);
                }
                if let Some(viewport) = viewport {
                    presence["viewport"] = viewport;
                }
                ws.serialize_attachment(&attachment)?;
                self.presence_changed(&attachment, now).await?;
            }
            ClientMessage::Follow { actor } => {
                attachment.following = actor.clone();
                ws.serialize_attachment(&attachment)?;
                self.broadcast(
                    &json!({"type": "follow", "connection_id": member.connection_id, "actor": member.actor, "target": actor}),
                    None,
                );
            }
            ClientMessage::Ping { id } => self.send(&ws, &json!({"type": "pong", "id": id})),
            op => {
                let client_seq = op.client_seq();
                match self.comment_op(&member, op, now).await {
                    Ok(thread) => {
                        self.send(
                            &ws,
                            &json!({"type": "ack", "client_seq": client_seq, "thread": thread}),
                        );
                        self.broadcast(&json!({"type": "thread", "thread": thread}), None);
                    }
                    Err(e) => self.reject(&ws, client_seq, e.code, &e.message),
                }
            }
        }
        Ok(())
    }

    /// Broadcasts a connection's presence now, or marks it pending and lets the alarm send it,
    /// so that each connection yields at most 1000 / PRESENCE_INTERVAL_MS broadcasts a second.
    async fn presence_changed(&self, attachment: &Attachment, now: i64) -> Result<()> {
        let connection_id = attachment.member.connection_id.clone();
        let clock = self
            .presence
            .borrow()
            .get(&connection_id)
            .copied()
            .unwrap_or_default();
        if now - clock.last_sent >= PRESENCE_INTERVAL_MS {
            self.presence.borrow_mut().insert(
                connection_id,
                PresenceClock {
                    last_sent: now,
                    pending: false,
                },
            );
            self.send_presence(attachment);
        } else if !clock.pending {
            self.presence.borrow_mut().insert(
                connection_id,
                PresenceClock {
                    last_sent: clock.last_sent,
                    pending: true,
                },
            );
            let due = clock.last_sent + PRESENCE_INTERVAL_MS;
            let current = self.state.storage().get_alarm().await?;
            if current.is_none_or(|at| at > due) {
                // workers-rs reads an i64 as an offset from now, not as a timestamp.
                self.state.storage().set_alarm((due - now).max(1)).await?;
            }
        }
        Ok(())
    }

    fn send_presence(&self, attachment: &Attachment) {
        self.broadcast(
            &json!({
                "type": "presence",
                "connection_id": attachment.member.connection_id,
                "actor": attachment.member.actor,
                "presence": attachment.presence,
            }),
            Some(&attachment.member.connection_id),
        );
    }

    async fn flush_presence(&self) -> Result<()> {
        let now = now_ms();
        let pending: Vec<String> = self
            .presence
            .borrow()
            .iter()
            .filter(|(_, clock)| clock.pending)
            .map(|(id, _)| id.clone())
            .collect();
        for (connection_id, ws) in self.sockets() {
            if !pending.contains(&connection_id) {
                continue;
            }
            if let Some(attachment) = ws.deserialize_attachment::<Attachment>()? {
                self.send_presence(&attachment);
            }
            self.presence.borrow_mut().insert(
                connection_id,
                PresenceClock {
                    last_sent: now,
                    pending: false,
                },
            );
        }
        Ok(())
    }

    // ------------------------------------------------------------------ comments

    async fn comment_op(
        &self,
        member: &Member,
        op: ClientMessage,
        now: i64,
    ) -> std::result::Result<Value, CommentError> {
        let sql = self.sql();
        let outcome: Outcome = match op {
            ClientMessage::CommentCreate {
                anchor,
                body,
                mentions,
                ..
            } => {
                let room = self.room.borrow();
                let timeline = room.as_ref().map(Room::timeline);
                let clip_exists = |clip_id: &str| {
                    timeline.is_some_and(|t| {
                        t.tracks
                            .iter()
                            .any(|track| track.clips.iter().any(|c| c.id.to_string() == clip_id))
                    })
                };
                comments::create(
                    &sql,
                    member,
                    &new_id("thr"),
                    &new_id("cmt"),
                    &anchor,
                    &body,
                    &mentions,
                    clip_exists,
                    now,
                )?
            }
            ClientMessage::CommentReply {
                thread_id,
                body,
                mentions,
                ..
            } => comments::reply(
                &sql,
                member,
                &thread_id,
                &new_id("cmt"),
                &body,
                &mentions,
                now,
            )?,
            ClientMessage::CommentEdit {
                comment_id, body, ..
            } => comments::edit(&sql, member, &comment_id, &body, now)?,
            ClientMessage::CommentDelete { comment_id, .. } => {
                comments::delete(&sql, member, &comment_id, now)?
            }
            ClientMessage::ThreadResolve {
                thread_id,
                resolved,
                ..
            } => comments::resolve(&sql, member, &thread_id, resolved, now)?,
            _ => {
                return Err(CommentError {
                    status: 422,
                    code: "invalid_operation",
                    message: "not a comment operation".into(),
                })
            }
        };
        if !outcome.mentioned.is_empty() {
            self.emit(
                "comment.mention",
                json!({"thread_id": outcome.thread["id"], "mentioned": outcome.mentioned, "by": member.actor}),
            )
            .await;
        }
        if outcome.resolved {
            self.emit(
                "thread.resolved",
                json!({"thread_id": outcome.thread["id"], "by": member.actor}),
            )
            .await;
        }
        Ok(outcome.thread)
    }

    // ------------------------------------------------------------------ events

    /// Puts an event on the jobs queue for notifications and automations. Losing one is
    /// better than failing the edit that caused it, so failures are only logged.
    async fn emit(&self, name: &str, details: Value) {
        let project_id = self.meta("project_id").ok().flatten();
        let org_id = self.meta("org_id").ok().flatten();
        // A struct, not a JSON value: serde-wasm-bindgen would turn a map into a JS Map, which
        // does not read back as an object on the consumer's side.
        let message = QueueEvent {
            kind: "event",
            name: name.to_string(),
            org_id,
            project_id,
            at: now_ms(),
            details: details.to_string(),
        };
        let sent = match self.env.queue("JOBS") {
            Ok(queue) => queue.send(message).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            worker::console_error!(
                "{}",
                json!({"level": "error", "msg": "event not queued", "event": name, "error": e.to_string()})
            );
        }
    }

    async fn edited(&self, now: i64) {
        if now - self.last_edit_event.get() >= EDIT_EVENT_INTERVAL_MS {
            self.last_edit_event.set(now);
            let seq = self.room.borrow().as_ref().map(Room::seq).unwrap_or(0);
            self.emit("project.edited", json!({"seq": seq})).await;
        }
    }

    // ------------------------------------------------------------------ HTTP

    fn init(&self, body: InitRequest) -> Result<Response> {
        if self.load()? {
            let seq = self.room.borrow().as_ref().map(Room::seq).unwrap_or(0);
            return Response::from_json(&json!({ "seq": seq, "created": false }));
        }
        let timeline = match format::from_value(body.timeline) {
            Ok(timeline) => timeline,
            Err(e) => return error(422, "invalid_timeline", e.to_string()),
        };
        let sql = self.sql();
        sql.exec(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('project_id', ?), ('org_id', ?)",
            vec![body.project_id.into(), body.org_id.into()],
        )?;
        write_snapshot(&self.sql(), 0, &timeline)?;
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

    async fn commands(&self, body: CommandsRequest) -> Result<Response> {
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
        let result = {
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
            let result = room.submit(&body.actor, body.commands, body.base_seq, now);
            self.outbox.stack_ops(room.take_stack_ops());
            result
        };
        let entries = match result {
            Ok(entries) => entries,
            Err(refusal) => {
                let (status, error) = Self::refusal_json(&refusal);
                return Ok(Response::from_json(&json!({ "error": error }))?.with_status(status));
            }
        };
        let seq = entries.last().map(|e| e.seq).unwrap_or(0);
        let response = json!({
            "seq": seq,
            "results": entries.iter().map(|e| json!({"seq": e.seq, "inverse": e.inverse})).collect::<Vec<_>>(),
        });
        for entry in entries {
            self.publish(entry, None, None);
        }
        // Committed now, before the answer (and the idempotency record) is written.
        self.outbox.flush()?;
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
        self.edited(now).await;
        Response::from_json(&response)
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

    async fn http_comment(&self, body: CommentRequest) -> Result<Response> {
        let op = match serde_json::from_value::<ClientMessage>(body.op) {
            Ok(op) => op,
            Err(e) => return error(422, "invalid_request", e.to_string()),
        };
        match self.comment_op(&body.member, op, now_ms()).await {
            Ok(thread) => {
                self.broadcast(&json!({"type": "thread", "thread": thread}), None);
                Response::from_json(&json!({ "thread": thread }))
            }
            Err(e) => error(e.status, e.code, e.message),
        }
    }

    async fn route(&self, mut req: Request) -> Result<Response> {
        // Every HTTP answer reflects the changes already announced.
        let _ = self.outbox.flush();
        let url = req.url()?;
        let path = url.path().to_string();
        let method = req.method();
        if method == Method::Delete && path == "/" {
            let _ = self.outbox.flush();
            for (_, ws) in self.sockets() {
                let _ = ws.close(Some(4404), Some("project deleted"));
            }
            self.state.storage().delete_all().await?;
            *self.room.borrow_mut() = None;
            self.outbox.refresh();
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
        let query = |name: &str| {
            url.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        match (method, path.as_str()) {
            (Method::Get, "/connect") => self.join(&req, &url),
            (Method::Get, "/state") => self.state_response(),
            (Method::Post, "/commands") => {
                let text = req.text().await?;
                match serde_json::from_str::<CommandsRequest>(&text) {
                    Ok(body) => self.commands(body).await,
                    Err(e) => error(422, "invalid_commands", e.to_string()),
                }
            }
            (Method::Get, "/history") => {
                let after = query("after_seq")
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0)
                    .max(0);
                let limit = query("limit")
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(100)
                    .clamp(1, 1000);
                self.history(after, limit)
            }
            (Method::Get, "/threads") => {
                let resolved = match query("resolved").as_deref() {
                    Some("true") => Some(true),
                    Some("false") => Some(false),
                    _ => None,
                };
                match comments::list(&self.sql(), resolved) {
                    Ok(items) => Response::from_json(&json!({ "items": items })),
                    Err(e) => error(e.status, e.code, e.message),
                }
            }
            (Method::Post, "/revalidate") => {
                #[derive(Deserialize)]
                struct Body {
                    actor_id: String,
                }
                let body: Body = match req.json().await {
                    Ok(body) => body,
                    Err(e) => return error(400, "malformed_request", e.to_string()),
                };
                self.revalidate(&body.actor_id).await
            }
            (Method::Post, "/comment") => {
                let body: CommentRequest = match req.json().await {
                    Ok(body) => body,
                    Err(e) => return error(400, "malformed_request", e.to_string()),
                };
                self.http_comment(body).await
            }
            (Method::Post, "/agent-presence") => {
                let body: AgentPresence = match req.json().await {
                    Ok(body) => body,
                    Err(e) => return error(400, "malformed_request", e.to_string()),
                };
                self.agent_presence(body)
            }
            (Method::Delete, "/agent-presence") => {
                let connection_id = query("connection_id").unwrap_or_default();
                self.agent_left(&connection_id)
            }
            // A job of this project changed (state or progress): tell every socket.
            (Method::Post, "/job") => {
                let job: Value = match req.json().await {
                    Ok(job) => job,
                    Err(e) => return error(400, "malformed_request", e.to_string()),
                };
                self.broadcast(&json!({ "type": "job", "job": job }), None);
                Ok(Response::empty()?.with_status(204))
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
    fn new(state: State, env: Env) -> Self {
        let room = Rc::new(RefCell::new(None));
        let outbox = Outbox::new(state.storage().sql(), Rc::clone(&room));
        Self {
            state,
            env,
            room,
            outbox,
            presence: RefCell::new(HashMap::new()),
            last_edit_event: Cell::new(0),
            checks: RefCell::new(HashMap::new()),
        }
    }

    async fn fetch(&self, req: Request) -> Result<Response> {
        self.route(req).await
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        match message {
            WebSocketIncomingMessage::String(text) => self.on_frame(ws, text).await,
            WebSocketIncomingMessage::Binary(bytes) => {
                if bytes.len() > MAX_FRAME_BYTES {
                    let _ = ws.close(Some(1009), Some("frame too large"));
                } else {
                    self.send(
                        &ws,
                        &json!({"type": "error", "error": {"code": "malformed_frame", "message": "frames are JSON text"}}),
                    );
                }
                Ok(())
            }
        }
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> Result<()> {
        self.left(&ws);
        // Complete the closing handshake: the runtime does not answer a client's close frame
        // itself here, and the client would wait and end with 1006. 1005/1006/1015 are never
        // sent on the wire.
        let code = match code {
            1000..=1004 | 1007..=1014 | 3000..=4999 => code as u16,
            _ => 1000,
        };
        let _ = ws.close(Some(code), Some("bye"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.left(&ws);
        Ok(())
    }

    async fn alarm(&self) -> Result<Response> {
        self.flush_presence().await?;
        Response::ok("")
    }
}

/// The state of a principal's access check (see [`ProjectRoom::verify`]).
#[derive(Clone)]
enum Check {
    /// A query is out since then.
    Running { since: i64 },
    /// Answered at `at`.
    Done { at: i64, access: Access },
}

/// Who a check is about: actor type, actor id and session, separated by U+001F.
fn check_key(attachment: &Attachment) -> String {
    let actor = &attachment.member.actor;
    format!(
        "{}\u{1f}{}\u{1f}{}",
        actor.kind,
        actor.id,
        attachment.session_id.as_deref().unwrap_or("")
    )
}

/// What the database says about a connection's principal now.
#[derive(Clone)]
enum Access {
    /// Gone: removed from the org, key revoked, session ended.
    Revoked,
    /// Still a member, with this role.
    Role(String),
}

impl ProjectRoom {
    async fn access(&self, attachment: &Attachment) -> Result<Access> {
        let Some(org_id) = self.meta("org_id")? else {
            return Ok(Access::Revoked);
        };
        let db = self.env.d1("DB")?;
        #[derive(Deserialize)]
        struct RoleRow {
            role: String,
            revoked_at: Option<i64>,
        }
        let actor = &attachment.member.actor;
        let row: Option<RoleRow> = if actor.kind == "agent" {
            // An agent's access is its policy's: editor when it may write, else viewer.
            db.prepare("SELECT CASE WHEN json_extract(policy, '$.access') = 'write' THEN 'editor' ELSE 'viewer' END AS role, deleted_at AS revoked_at FROM agents WHERE id = ?1 AND org_id = ?2")
                .bind(&[actor.id.as_str().into(), org_id.as_str().into()])?
                .first(None)
                .await?
        } else if actor.kind == "api_key" {
            db.prepare("SELECT role, revoked_at FROM api_keys WHERE id = ?1 AND org_id = ?2")
                .bind(&[actor.id.as_str().into(), org_id.as_str().into()])?
                .first(None)
                .await?
        } else {
            if let Some(session_id) = &attachment.session_id {
                #[derive(Deserialize)]
                struct SessionRow {
                    revoked_at: Option<i64>,
                    absolute_expires_at: i64,
                }
                let session: Option<SessionRow> = db
                    .prepare("SELECT revoked_at, absolute_expires_at FROM sessions WHERE id = ?1")
                    .bind(&[session_id.as_str().into()])?
                    .first(None)
                    .await?;
                // Idle expiry is not applied: editing over the socket is activity.
                if session
                    .is_none_or(|s| s.revoked_at.is_some() || s.absolute_expires_at <= now_ms())
                {
                    return Ok(Access::Revoked);
                }
            }
            db.prepare("SELECT role, NULL AS revoked_at FROM memberships WHERE org_id = ?1 AND user_id = ?2")
                .bind(&[org_id.as_str().into(), actor.id.as_str().into()])?
                .first(None)
                .await?
        };
        Ok(match row {
            Some(row) if row.revoked_at.is_none() => Access::Role(row.role),
            _ => Access::Revoked,
        })
    }

    /// Re-checks a connection's access; closes it (4401) when revoked and returns false, or
    /// updates its role. The attachment is saved either way.
    ///
    /// One check answers for every socket of the same principal and session for
    /// [`VERIFY_INTERVAL_MS`]; while one is running, that principal's other changes go on
    /// (their access was confirmed less than an interval and a query ago).
    async fn verify(&self, ws: &WebSocket, attachment: &mut Attachment, now: i64) -> Result<bool> {
        let key = check_key(attachment);
        let known = self.checks.borrow().get(&key).cloned();
        let access = match known {
            Some(Check::Done { at, access }) if now - at < VERIFY_INTERVAL_MS => access,
            Some(Check::Running { since }) if now - since < VERIFY_INTERVAL_MS => return Ok(true),
            _ => {
                self.checks
                    .borrow_mut()
                    .insert(key.clone(), Check::Running { since: now });
                match self.access(attachment).await {
                    Ok(access) => {
                        self.checks.borrow_mut().insert(
                            key,
                            Check::Done {
                                at: now,
                                access: access.clone(),
                            },
                        );
                        access
                    }
                    Err(e) => {
                        self.checks.borrow_mut().remove(&key);
                        return Err(e);
                    }
                }
            }
        };
        match access {
            Access::Revoked => {
                let _ = ws.close(Some(CLOSE_ACCESS_REVOKED), Some("access revoked"));
                Ok(false)
            }
            Access::Role(role) => {
                let can_write = matches!(role.as_str(), "owner" | "admin" | "editor");
                let changed =
                    role != attachment.member.role || can_write != attachment.member.can_write;
                attachment.member.role = role;
                attachment.member.can_write = can_write;
                attachment.verified_at = now;
                ws.serialize_attachment(&*attachment)?;
                if changed {
                    self.send(
                        ws,
                        &json!({"type": "access", "role": attachment.member.role, "can_write": can_write}),
                    );
                }
                Ok(true)
            }
        }
    }

    /// `POST /revalidate {actor_id}`: the Worker reports a membership, role, key or session
    /// change; that actor's sockets are re-checked now.
    async fn revalidate(&self, actor_id: &str) -> Result<Response> {
        let now = now_ms();
        let mut closed = 0;
        // What was known about this actor is stale now.
        self.checks
            .borrow_mut()
            .retain(|key, _| key.split('\u{1f}').nth(1) != Some(actor_id));
        for ws in self.state.get_websockets() {
            let Some(mut attachment) = ws.deserialize_attachment::<Attachment>()? else {
                continue;
            };
            if attachment.member.actor.id == actor_id
                && !self.verify(&ws, &mut attachment, now).await?
            {
                closed += 1;
            }
        }
        Response::from_json(&json!({ "closed": closed }))
    }

    fn left(&self, ws: &WebSocket) {
        let Ok(Some(attachment)) = ws.deserialize_attachment::<Attachment>() else {
            return;
        };
        let connection_id = attachment.member.connection_id;
        self.outbox.remove(&connection_id);
        self.presence.borrow_mut().remove(&connection_id);
        self.broadcast(
            &json!({"type": "left", "connection_id": connection_id}),
            None,
        );
    }
}
