//! The room's WebSocket protocol: JSON text frames tagged on `type`.
//!
//! Client → server ([`ClientMessage`]):
//! - `command {client_seq, base_seq?, command}`: one timeline command (a `batch` for several).
//!   Answered by `ack {client_seq, seq}` to the sender (after the command is durable) and
//!   `applied {seq, actor, command}` to everyone else; or `reject {client_seq, error}`.
//! - `undo {client_seq}` / `redo {client_seq}`: the sender's own history, across others' edits.
//!   Answered by `ack {client_seq, seq, command}` (the command that was applied) and `applied`
//!   to the others.
//! - `presence {cursor?, playhead?, selection?, viewport?}`: ephemeral, coalesced to at most
//!   20 broadcasts a second per connection; others receive `presence {connection_id, actor, …}`.
//! - `follow {actor}`: follow a member (by actor id; `null` stops). Everyone receives
//!   `follow {connection_id, target}`; followers mirror the target's presence.
//! - comment operations: `comment_create {client_seq, anchor, body, mentions?}`,
//!   `comment_reply {client_seq, thread_id, body, mentions?}`,
//!   `comment_edit {client_seq, comment_id, body}`, `comment_delete {client_seq, comment_id}`,
//!   `thread_resolve {client_seq, thread_id, resolved}`. Answered by `ack {client_seq, thread}`
//!   and broadcast as `thread {thread}` to everyone (the sender included).
//! - `ping {id?}` → `pong {id?}`.
//!
//! Server → client: `welcome {seq, you, members: [{member, presence, following}], timeline?, missed?}` on connect
//! (`timeline` for a fresh join; `missed: [applied…]` when the client resumes with
//! `?since=<seq>` and the log still holds the gap), then `ack`, `reject`, `applied`,
//! `presence`, `joined {member}`, `left {connection_id}`, `follow`, `thread`, `error {error}`
//! (malformed frames; repeated abuse closes the socket with 1008), `pong`.
//! Acknowledgements and `applied` frames made while the room handles a burst of events leave
//! together as `batch {frames: [...]}`: the frames in order, each exactly as it would have
//! been sent alone (see `crate::outbox`).
//!
//! Close codes: 1008 policy (too many malformed frames), 1009 frame too large,
//! 4401 the member's access was revoked (removed from the org, key revoked, session ended),
//! 4404 the project was deleted. A member whose role changes stays connected and receives
//! `access {role, can_write}`.
//!
//! Access is re-checked against the database before a change when the last check is older than
//! [`VERIFY_INTERVAL_MS`], and at once when the Worker reports a membership, role or key change
//! (`POST /revalidate`).

use editor_core::Command;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest accepted frame, in bytes.
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Malformed or refused frames tolerated per connection before it is closed.
pub const MAX_BAD_FRAMES: u32 = 20;
/// Most connections in one room.
pub const MAX_CONNECTIONS: usize = 128;
/// Minimum interval between two presence broadcasts of one connection.
pub const PRESENCE_INTERVAL_MS: i64 = 50;

/// Where a comment thread is pinned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Anchor {
    /// A clip of the timeline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip_id: Option<String>,
    /// First frame of the range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_frame: Option<u64>,
    /// Last frame of the range (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_frame: Option<u64>,
}

/// A frame from a client.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[expect(
    clippy::large_enum_variant,
    reason = "a frame is parsed, handled and dropped; boxing the command would only add an allocation"
)]
pub enum ClientMessage {
    /// Apply one timeline command.
    Command {
        /// Client-chosen id echoed in the answer.
        client_seq: u64,
        /// The room sequence number the client's view was based on.
        #[serde(default)]
        base_seq: Option<u64>,
        /// The command.
        command: Command,
    },
    /// Undo the sender's most recent change.
    Undo {
        /// Echoed in the answer.
        client_seq: u64,
    },
    /// Redo the sender's most recent undo.
    Redo {
        /// Echoed in the answer.
        client_seq: u64,
    },
    /// Ephemeral awareness state; absent fields keep their value.
    Presence {
        /// Pointer over the preview, e.g. `{"x": 0.4, "y": 0.7}` in preview coordinates.
        #[serde(default)]
        cursor: Option<Value>,
        /// Playhead frame.
        #[serde(default)]
        playhead: Option<u64>,
        /// Selected clip ids.
        #[serde(default)]
        selection: Option<Vec<String>>,
        /// Visible timeline range and zoom, e.g. `{"from_frame": 0, "to_frame": 300}`.
        #[serde(default)]
        viewport: Option<Value>,
    },
    /// Follow a member's playhead and viewport (`null` stops following).
    Follow {
        /// Actor id of the member to follow.
        actor: Option<String>,
    },
    /// Start a comment thread.
    CommentCreate {
        /// Echoed in the answer.
        client_seq: u64,
        /// Where it is pinned.
        anchor: Anchor,
        /// Text, 1–10,000 characters.
        body: String,
        /// Mentioned user ids.
        #[serde(default)]
        mentions: Vec<String>,
    },
    /// Reply in a thread.
    CommentReply {
        /// Echoed in the answer.
        client_seq: u64,
        /// The thread.
        thread_id: String,
        /// Text.
        body: String,
        /// Mentioned user ids.
        #[serde(default)]
        mentions: Vec<String>,
    },
    /// Edit one's own comment.
    CommentEdit {
        /// Echoed in the answer.
        client_seq: u64,
        /// The comment.
        comment_id: String,
        /// New text.
        body: String,
    },
    /// Delete one's own comment.
    CommentDelete {
        /// Echoed in the answer.
        client_seq: u64,
        /// The comment.
        comment_id: String,
    },
    /// Resolve or reopen a thread.
    ThreadResolve {
        /// Echoed in the answer.
        client_seq: u64,
        /// The thread.
        thread_id: String,
        /// true resolves, false reopens.
        resolved: bool,
    },
    /// Keep-alive.
    Ping {
        /// Echoed.
        #[serde(default)]
        id: Option<Value>,
    },
}

impl ClientMessage {
    /// The client's id for answers, where the frame has one.
    pub fn client_seq(&self) -> Option<u64> {
        match self {
            ClientMessage::Command { client_seq, .. }
            | ClientMessage::Undo { client_seq }
            | ClientMessage::Redo { client_seq }
            | ClientMessage::CommentCreate { client_seq, .. }
            | ClientMessage::CommentReply { client_seq, .. }
            | ClientMessage::CommentEdit { client_seq, .. }
            | ClientMessage::CommentDelete { client_seq, .. }
            | ClientMessage::ThreadResolve { client_seq, .. } => Some(*client_seq),
            ClientMessage::Presence { .. }
            | ClientMessage::Follow { .. }
            | ClientMessage::Ping { .. } => None,
        }
    }
}

/// Who a connection is: set by the Worker after authentication, kept in the socket's
/// attachment so that it survives hibernation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Unique per connection.
    pub connection_id: String,
    /// The principal.
    pub actor: crate::room::Actor,
    /// Display name.
    pub name: String,
    /// `human` or `agent`.
    pub kind: String,
    /// Org role: owner, admin, editor, viewer.
    pub role: String,
    /// Whether it may edit.
    pub can_write: bool,
}

/// Per-connection state kept in the socket attachment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attachment {
    /// Who.
    pub member: Member,
    /// Latest presence (cursor, playhead, selection, viewport).
    #[serde(default)]
    pub presence: Value,
    /// Actor id being followed.
    #[serde(default)]
    pub following: Option<String>,
    /// Malformed or refused frames so far.
    #[serde(default)]
    pub bad_frames: u32,
    /// The session the socket was opened with (never shown to other members); its revocation
    /// ends the socket.
    #[serde(default)]
    pub session_id: Option<String>,
    /// When access was last checked against the database (ms since the epoch).
    #[serde(default)]
    pub verified_at: i64,
}

/// How often a connection's access is re-checked before a change it sends.
pub const VERIFY_INTERVAL_MS: i64 = 10_000;

/// Close code when the room could not commit changes: reconnect and resynchronise.
pub const CLOSE_STORAGE_FAILED: u16 = 1011;
/// Close code for a connection whose access was revoked.
pub const CLOSE_ACCESS_REVOKED: u16 = 4401;
