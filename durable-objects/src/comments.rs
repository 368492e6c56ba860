//! Comment threads of a project, stored in the room's SQLite storage: threads pinned to a clip
//! and/or a frame range, replies, mentions, resolve/reopen, edit/delete of one's own comments.
//! The same operations serve the WebSocket protocol and the HTTP API.

use serde::Deserialize;
use serde_json::{json, Value};
use worker::{SqlStorage, SqlStorageValue};

use crate::protocol::{Anchor, Member};

/// Longest comment body, in characters.
pub const MAX_BODY_CHARS: usize = 10_000;
/// Most mentions in one comment.
pub const MAX_MENTIONS: usize = 50;

/// Why a comment operation was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct CommentError {
    /// HTTP-like status.
    pub status: u16,
    /// Stable code.
    pub code: &'static str,
    /// Explanation.
    pub message: String,
}

impl CommentError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        CommentError {
            status,
            code,
            message: message.into(),
        }
    }
}

/// Result of an operation: the thread as it is now, and mentions to notify.
pub struct Outcome {
    /// The whole thread.
    pub thread: Value,
    /// User ids mentioned by this operation.
    pub mentioned: Vec<String>,
    /// Whether this operation resolved the thread.
    pub resolved: bool,
}

/// Creates the tables if missing.
pub fn ensure_schema(sql: &SqlStorage) -> worker::Result<()> {
    sql.exec(
        "CREATE TABLE IF NOT EXISTS threads (id TEXT PRIMARY KEY, anchor TEXT NOT NULL, created_at INTEGER NOT NULL, created_by TEXT NOT NULL, resolved_at INTEGER, resolved_by TEXT)",
        None,
    )?;
    sql.exec(
        "CREATE TABLE IF NOT EXISTS comments (id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL, mentions TEXT NOT NULL, created_at INTEGER NOT NULL, edited_at INTEGER, deleted_at INTEGER)",
        None,
    )?;
    Ok(())
}

fn clean_body(body: &str) -> Result<String, CommentError> {
    let body = body.trim().to_string();
    let length = body.chars().count();
    if length == 0 || length > MAX_BODY_CHARS {
        return Err(CommentError::new(
            422,
            "invalid_comment",
            format!("a comment has 1 to {MAX_BODY_CHARS} characters"),
        ));
    }
    Ok(body)
}

fn check_mentions(mentions: &[String]) -> Result<(), CommentError> {
    if mentions.len() > MAX_MENTIONS || mentions.iter().any(|m| m.is_empty() || m.len() > 64) {
        return Err(CommentError::new(
            422,
            "invalid_mentions",
            "mentions are up to 50 user ids",
        ));
    }
    Ok(())
}

fn author_json(member: &Member) -> String {
    json!({"type": member.actor.kind, "id": member.actor.id, "name": member.name}).to_string()
}

fn internal(error: worker::Error) -> CommentError {
    CommentError::new(500, "internal_error", error.to_string())
}

#[derive(Deserialize)]
struct ThreadRow {
    id: String,
    anchor: String,
    created_at: i64,
    created_by: String,
    resolved_at: Option<i64>,
    resolved_by: Option<String>,
}

#[derive(Deserialize)]
struct CommentRow {
    id: String,
    thread_id: String,
    author: String,
    body: String,
    mentions: String,
    created_at: i64,
    edited_at: Option<i64>,
    deleted_at: Option<i64>,
}

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn comment_json(row: &CommentRow) -> Value {
    let deleted = row.deleted_at.is_some();
    json!({
        "id": row.id,
        "author": parse(&row.author),
        "body": if deleted { Value::Null } else { Value::String(row.body.clone()) },
        "mentions": if deleted { json!([]) } else { parse(&row.mentions) },
        "created_at": row.created_at,
        "edited_at": row.edited_at,
        "deleted": deleted,
    })
}

fn thread_json(thread: &ThreadRow, comments: &[CommentRow]) -> Value {
    json!({
        "id": thread.id,
        "anchor": parse(&thread.anchor),
        "created_at": thread.created_at,
        "created_by": parse(&thread.created_by),
        "resolved": thread.resolved_at.is_some(),
        "resolved_at": thread.resolved_at,
        "resolved_by": thread.resolved_by.as_deref().map(parse),
        "comments": comments.iter().filter(|c| c.thread_id == thread.id).map(comment_json).collect::<Vec<_>>(),
    })
}

/// One thread with its comments.
pub fn thread(sql: &SqlStorage, thread_id: &str) -> Result<Value, CommentError> {
    let threads: Vec<ThreadRow> = sql
        .exec(
            "SELECT id, anchor, created_at, created_by, resolved_at, resolved_by FROM threads WHERE id = ?",
            vec![SqlStorageValue::String(thread_id.to_string())],
        )
        .and_then(|c| c.to_array())
        .map_err(internal)?;
    let thread = threads
        .first()
        .ok_or_else(|| CommentError::new(404, "not_found", "thread not found"))?;
    let comments: Vec<CommentRow> = sql
        .exec(
            "SELECT id, thread_id, author, body, mentions, created_at, edited_at, deleted_at FROM comments WHERE thread_id = ? ORDER BY created_at, id",
            vec![SqlStorageValue::String(thread_id.to_string())],
        )
        .and_then(|c| c.to_array())
        .map_err(internal)?;
    Ok(thread_json(thread, &comments))
}

/// Every thread, oldest first; `resolved` filters.
pub fn list(sql: &SqlStorage, resolved: Option<bool>) -> Result<Vec<Value>, CommentError> {
    let threads: Vec<ThreadRow> = sql
        .exec(
            "SELECT id, anchor, created_at, created_by, resolved_at, resolved_by FROM threads ORDER BY created_at, id LIMIT 1000",
            None,
        )
        .and_then(|c| c.to_array())
        .map_err(internal)?;
    let comments: Vec<CommentRow> = sql
        .exec(
            "SELECT id, thread_id, author, body, mentions, created_at, edited_at, deleted_at FROM comments ORDER BY created_at, id",
            None,
        )
        .and_then(|c| c.to_array())
        .map_err(internal)?;
    Ok(threads
        .iter()
        .filter(|t| resolved.is_none_or(|r| t.resolved_at.is_some() == r))
        .map(|t| thread_json(t, &comments))
        .collect())
}

/// Starts a thread. `clip_exists` checks the anchor's clip against the timeline.
#[expect(
    clippy::too_many_arguments,
    reason = "each argument is one field of the new thread"
)]
pub fn create(
    sql: &SqlStorage,
    member: &Member,
    thread_id: &str,
    comment_id: &str,
    anchor: &Anchor,
    body: &str,
    mentions: &[String],
    clip_exists: impl Fn(&str) -> bool,
    now: i64,
) -> Result<Outcome, CommentError> {
    let body = clean_body(body)?;
    check_mentions(mentions)?;
    if anchor.clip_id.is_none() && anchor.from_frame.is_none() {
        return Err(CommentError::new(
            422,
            "invalid_anchor",
            "pin the thread to a clip and/or a frame range",
        ));
    }
    if let Some(clip_id) = &anchor.clip_id {
        if !clip_exists(clip_id) {
            return Err(CommentError::new(
                422,
                "invalid_anchor",
                "the anchor's clip is not in the timeline",
            ));
        }
    }
    match (anchor.from_frame, anchor.to_frame) {
        (Some(from), Some(to)) if to < from => {
            return Err(CommentError::new(
                422,
                "invalid_anchor",
                "to_frame is before from_frame",
            ));
        }
        (None, Some(_)) => {
            return Err(CommentError::new(
                422,
                "invalid_anchor",
                "to_frame needs from_frame",
            ));
        }
        _ => {}
    }
    let anchor_json = serde_json::to_string(anchor)
        .map_err(|e| CommentError::new(500, "internal_error", e.to_string()))?;
    sql.exec(
        "INSERT INTO threads (id, anchor, created_at, created_by) VALUES (?, ?, ?, ?)",
        vec![
            thread_id.into(),
            anchor_json.into(),
            SqlStorageValue::Integer(now),
            author_json(member).into(),
        ],
    )
    .map_err(internal)?;
    insert_comment(sql, member, thread_id, comment_id, &body, mentions, now)?;
    Ok(Outcome {
        thread: thread(sql, thread_id)?,
        mentioned: mentions.to_vec(),
        resolved: false,
    })
}

fn insert_comment(
    sql: &SqlStorage,
    member: &Member,
    thread_id: &str,
    comment_id: &str,
    body: &str,
    mentions: &[String],
    now: i64,
) -> Result<(), CommentError> {
    sql.exec(
        "INSERT INTO comments (id, thread_id, author, body, mentions, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            comment_id.into(),
            thread_id.into(),
            author_json(member).into(),
            body.into(),
            json!(mentions).to_string().into(),
            SqlStorageValue::Integer(now),
        ],
    )
    .map_err(internal)?;
    Ok(())
}

/// Replies in a thread.
pub fn reply(
    sql: &SqlStorage,
    member: &Member,
    thread_id: &str,
    comment_id: &str,
    body: &str,
    mentions: &[String],
    now: i64,
) -> Result<Outcome, CommentError> {
    let body = clean_body(body)?;
    check_mentions(mentions)?;
    thread(sql, thread_id)?;
    insert_comment(sql, member, thread_id, comment_id, &body, mentions, now)?;
    Ok(Outcome {
        thread: thread(sql, thread_id)?,
        mentioned: mentions.to_vec(),
        resolved: false,
    })
}

fn own_comment(
    sql: &SqlStorage,
    member: &Member,
    comment_id: &str,
    admin_may: bool,
) -> Result<CommentRow, CommentError> {
    let rows: Vec<CommentRow> = sql
        .exec(
            "SELECT id, thread_id, author, body, mentions, created_at, edited_at, deleted_at FROM comments WHERE id = ?",
            vec![SqlStorageValue::String(comment_id.to_string())],
        )
        .and_then(|c| c.to_array())
        .map_err(internal)?;
    let row = rows
        .into_iter()
        .next()
        .filter(|row| row.deleted_at.is_none())
        .ok_or_else(|| CommentError::new(404, "not_found", "comment not found"))?;
    let author = parse(&row.author);
    let is_author = author["type"] == member.actor.kind && author["id"] == member.actor.id;
    let is_admin = matches!(member.role.as_str(), "owner" | "admin");
    if !(is_author || (admin_may && is_admin)) {
        return Err(CommentError::new(
            403,
            "forbidden",
            "only the author can change this comment",
        ));
    }
    Ok(row)
}

/// Edits one's own comment.
pub fn edit(
    sql: &SqlStorage,
    member: &Member,
    comment_id: &str,
    body: &str,
    now: i64,
) -> Result<Outcome, CommentError> {
    let body = clean_body(body)?;
    let row = own_comment(sql, member, comment_id, false)?;
    sql.exec(
        "UPDATE comments SET body = ?, edited_at = ? WHERE id = ?",
        vec![
            body.into(),
            SqlStorageValue::Integer(now),
            comment_id.into(),
        ],
    )
    .map_err(internal)?;
    Ok(Outcome {
        thread: thread(sql, &row.thread_id)?,
        mentioned: Vec::new(),
        resolved: false,
    })
}

/// Deletes one's own comment (owners and admins may delete any).
pub fn delete(
    sql: &SqlStorage,
    member: &Member,
    comment_id: &str,
    now: i64,
) -> Result<Outcome, CommentError> {
    let row = own_comment(sql, member, comment_id, true)?;
    sql.exec(
        "UPDATE comments SET deleted_at = ? WHERE id = ?",
        vec![SqlStorageValue::Integer(now), comment_id.into()],
    )
    .map_err(internal)?;
    Ok(Outcome {
        thread: thread(sql, &row.thread_id)?,
        mentioned: Vec::new(),
        resolved: false,
    })
}

/// Resolves or reopens a thread.
pub fn resolve(
    sql: &SqlStorage,
    member: &Member,
    thread_id: &str,
    resolved: bool,
    now: i64,
) -> Result<Outcome, CommentError> {
    thread(sql, thread_id)?;
    if resolved {
        sql.exec(
            "UPDATE threads SET resolved_at = ?, resolved_by = ? WHERE id = ?",
            vec![
                SqlStorageValue::Integer(now),
                author_json(member).into(),
                thread_id.into(),
            ],
        )
    } else {
        sql.exec(
            "UPDATE threads SET resolved_at = NULL, resolved_by = NULL WHERE id = ?",
            vec![thread_id.into()],
        )
    }
    .map_err(internal)?;
    Ok(Outcome {
        thread: thread(sql, thread_id)?,
        mentioned: Vec::new(),
        resolved,
    })
}
