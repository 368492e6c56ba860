//! Collaboration (module 07): joining a project's room over WebSocket, room tickets, and the
//! HTTP side of comment threads. The room itself is the `ProjectRoom` Durable Object; this
//! module authenticates, authorises and forwards.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Headers, Method, Request, RequestInit, Response};

use crate::args;
use crate::audit::{self, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::{authenticate, authorize, check_origin, Permission, Principal};
use crate::projects::{load, room, room_error, ProjectRow};
use crate::util;

/// How long a room ticket stays valid.
const TICKET_TTL_MS: i64 = 60_000;

/// Answer of `POST /v1/projects/{project_id}/room-ticket`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketResponse {
    /// Pass as `?ticket=` when opening the room's WebSocket; works once.
    pub ticket: String,
    /// It stops working after this.
    pub expires_at: String,
}

/// Where a thread is pinned: a clip and/or a frame range.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnchorBody {
    /// A clip of the timeline.
    #[serde(default)]
    pub clip_id: Option<String>,
    /// First frame of the range.
    #[serde(default)]
    pub from_frame: Option<u64>,
    /// Last frame of the range (inclusive).
    #[serde(default)]
    pub to_frame: Option<u64>,
}

/// `POST /v1/projects/{project_id}/threads`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateThreadBody {
    /// Where the thread is pinned.
    pub anchor: AnchorBody,
    /// The first comment, 1–10,000 characters.
    pub body: String,
    /// Mentioned user ids (they are notified).
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// `POST /v1/projects/{project_id}/threads/{thread_id}/comments`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// Text, 1–10,000 characters.
    pub body: String,
    /// Mentioned user ids.
    #[serde(default)]
    pub mentions: Vec<String>,
}

/// `PATCH /v1/projects/{project_id}/threads/{thread_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// true resolves, false reopens.
    pub resolved: bool,
}

/// `PATCH /v1/projects/{project_id}/comments/{comment_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    /// New text.
    pub body: String,
}

/// A thread with its comments.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ThreadResponse {
    /// `{id, anchor, created_at, created_by, resolved, resolved_at, resolved_by, comments:[…]}`
    pub thread: Value,
}

/// Threads of a project.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ThreadList {
    /// Oldest first.
    pub items: Vec<Value>,
}

/// The room member the caller becomes: identity, display name, role.
async fn member_of(ctx: &mut Ctx, row: &ProjectRow) -> AppResult<Value> {
    let principal = authenticate(ctx).await?;
    let role = authorize(ctx, &row.org_id, Permission::Read).await?;
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct NameRow {
        name: String,
    }
    let (sql, kind) = match &principal {
        Principal::User { .. } => ("SELECT name FROM users WHERE id = ?1", "human"),
        Principal::ApiKey { .. } => ("SELECT name FROM api_keys WHERE id = ?1", "agent"),
        Principal::Agent { .. } => ("SELECT name FROM agents WHERE id = ?1", "agent"),
    };
    let name = db
        .first::<NameRow>(sql, args![principal.actor_id()])
        .await?
        .map(|r| r.name)
        .unwrap_or_default();
    Ok(json!({
        "connection_id": "",
        "actor": {"type": principal.actor_type(), "id": principal.actor_id()},
        "name": name,
        "kind": kind,
        "role": role.as_str(),
        "can_write": role.allows(Permission::Write),
    }))
}

/// `GET /v1/projects/{project_id}/room`: upgrades to the room's WebSocket.
pub async fn connect(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let upgrade = ctx.header("upgrade").unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(AppError::new(
            426,
            "upgrade_required",
            "open this URL as a WebSocket",
        ));
    }
    if let Some(ticket) = ctx.query("ticket") {
        let user_id = redeem_ticket(ctx, &ticket).await?;
        ctx.principal = Some(Principal::User {
            user_id,
            session_id: "room_ticket".into(),
            via_cookie: false,
        });
    } else {
        let principal = authenticate(ctx).await?;
        // A cross-site page must not open a socket with the visitor's cookie.
        if matches!(
            principal,
            Principal::User {
                via_cookie: true,
                ..
            }
        ) {
            check_origin(ctx)?;
        }
    }
    let row = load(ctx, Permission::Read).await?;
    let member = member_of(ctx, &row).await?;
    let since = ctx
        .query("since")
        .map(|s| {
            s.parse::<u64>()
                .map_err(|_| AppError::invalid("invalid_since", "since must be a sequence number"))
        })
        .transpose()?;
    let headers = Headers::new();
    headers.set("upgrade", "websocket")?;
    headers.set("x-room-member", &member.to_string())?;
    // The room re-checks this session when it ends (not shown to other members).
    if let Some(Principal::User { session_id, .. }) = &ctx.principal {
        if session_id.starts_with("ses_") {
            headers.set("x-room-session", session_id)?;
        }
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let url = match since {
        Some(since) => format!("https://project-room/connect?since={since}"),
        None => "https://project-room/connect".to_string(),
    };
    let namespace = ctx.env.durable_object("PROJECT_ROOM")?;
    let stub = namespace.id_from_name(&row.id)?.get_stub()?;
    let mut response = stub
        .fetch_with_request(Request::new_with_init(&url, &init)?)
        .await?;
    if response.status_code() != 101 {
        let status = response.status_code();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        return Err(room_error(status, &value));
    }
    Ok(response)
}

async fn redeem_ticket(ctx: &Ctx, ticket: &str) -> AppResult<String> {
    let project_id = ctx.param("project_id").to_string();
    let db = ctx.db()?;
    let hash = util::sha256_hex(ticket.as_bytes());
    let changed = db
        .run(
            "UPDATE room_tickets SET used_at = ?1 WHERE ticket_hash = ?2 AND project_id = ?3 AND used_at IS NULL AND expires_at > ?1",
            args![ctx.now, hash.as_str(), project_id.as_str()],
        )
        .await?;
    if changed != 1 {
        return Err(AppError::new(
            401,
            "invalid_ticket",
            "the room ticket is not valid (expired or used)",
        ));
    }
    #[derive(Deserialize)]
    struct Row {
        user_id: String,
    }
    let row: Row = db
        .first(
            "SELECT user_id FROM room_tickets WHERE ticket_hash = ?1",
            args![hash.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::internal("ticket vanished"))?;
    Ok(row.user_id)
}

/// `POST /v1/projects/{project_id}/room-ticket`: a single-use ticket to open the room.
pub async fn ticket(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let ticket = format!("cos_tkt_{}", util::new_secret());
    let expires_at = ctx.now + TICKET_TTL_MS;
    let db = ctx.db()?;
    let insert = db.stmt(
        "INSERT INTO room_tickets (ticket_hash, project_id, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![util::sha256_hex(ticket.as_bytes()), row.id.as_str(), user_id.as_str(), ctx.now, expires_at],
    )?;
    let record = Record::success(Some(&row.org_id), "room.ticket", Some(("project", &row.id)));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &TicketResponse {
            ticket,
            expires_at: util::rfc3339(expires_at),
        },
    )
}

/// `GET /v1/projects/{project_id}/threads?resolved=`
pub async fn list_threads(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let path = match ctx.query("resolved").as_deref() {
        None => "/threads".to_string(),
        Some(value @ ("true" | "false")) => format!("/threads?resolved={value}"),
        Some(_) => {
            return Err(AppError::invalid(
                "invalid_resolved",
                "resolved is true or false",
            ))
        }
    };
    let (status, value) = room(ctx, &row.id, Method::Get, &path, None).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    http::json(200, &value)
}

async fn comment_op(ctx: &mut Ctx, op: Value, action: &str, status_ok: u16) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let member = member_of(ctx, &row).await?;
    let body = json!({ "member": member, "op": op }).to_string();
    let (status, value) = room(ctx, &row.id, Method::Post, "/comment", Some(body)).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    let thread_id = value["thread"]["id"].as_str().unwrap_or("").to_string();
    let db = ctx.db()?;
    let record = Record::success(Some(&row.org_id), action, Some(("thread", &thread_id)))
        .with_details(json!({ "project_id": row.id }));
    audit::commit(ctx, &db, Vec::new(), record, None).await?;
    if status_ok == 204 {
        return http::no_content();
    }
    http::json(
        status_ok,
        &ThreadResponse {
            thread: value["thread"].clone(),
        },
    )
}

/// `POST /v1/projects/{project_id}/threads`
pub async fn create_thread(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    // Who is asking comes before what they send: anonymous bodies are never parsed.
    authenticate(ctx).await?;
    let body: CreateThreadBody = ctx.json(&mut req).await?;
    let op = json!({"type": "comment_create", "client_seq": 0, "anchor": body.anchor, "body": body.body, "mentions": body.mentions});
    comment_op(ctx, op, "comment.create", 201).await
}

/// `POST /v1/projects/{project_id}/threads/{thread_id}/comments`
pub async fn reply(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    // Who is asking comes before what they send: anonymous bodies are never parsed.
    authenticate(ctx).await?;
    let body: ReplyBody = ctx.json(&mut req).await?;
    let op = json!({"type": "comment_reply", "client_seq": 0, "thread_id": ctx.param("thread_id"), "body": body.body, "mentions": body.mentions});
    comment_op(ctx, op, "comment.reply", 201).await
}

/// `PATCH /v1/projects/{project_id}/threads/{thread_id}`
pub async fn resolve(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    // Who is asking comes before what they send: anonymous bodies are never parsed.
    authenticate(ctx).await?;
    let body: ResolveBody = ctx.json(&mut req).await?;
    let op = json!({"type": "thread_resolve", "client_seq": 0, "thread_id": ctx.param("thread_id"), "resolved": body.resolved});
    let action = if body.resolved {
        "thread.resolve"
    } else {
        "thread.reopen"
    };
    comment_op(ctx, op, action, 200).await
}

/// `PATCH /v1/projects/{project_id}/comments/{comment_id}`
pub async fn edit_comment(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    // Who is asking comes before what they send: anonymous bodies are never parsed.
    authenticate(ctx).await?;
    let body: EditBody = ctx.json(&mut req).await?;
    let op = json!({"type": "comment_edit", "client_seq": 0, "comment_id": ctx.param("comment_id"), "body": body.body});
    comment_op(ctx, op, "comment.edit", 200).await
}

/// `DELETE /v1/projects/{project_id}/comments/{comment_id}`
pub async fn delete_comment(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let op =
        json!({"type": "comment_delete", "client_seq": 0, "comment_id": ctx.param("comment_id")});
    comment_op(ctx, op, "comment.delete", 204).await
}
