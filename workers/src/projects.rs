//! Projects (ProEditor): the relational record in D1 and the timeline in the project's
//! `ProjectRoom` Durable Object. Commands from people, integrations and agents all arrive at
//! `POST /v1/projects/{id}/commands` (and later the room's WebSocket) and are ordered there.

use editor_core::model::{ProjectSettings, Rational};
use editor_core::{format, Timeline};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Method, Request, RequestInit, Response};

use crate::args;
use crate::audit::{self, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{clean_name, decode_cursor, page};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// Largest body of a commands request (timelines can carry long texts and paths).
const MAX_COMMANDS_BODY: usize = 1024 * 1024;

/// A project as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProjectView {
    /// `prj_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Frame rate as a rational.
    pub frame_rate: FrameRate,
    /// `active` or `archived`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Last change of the record (name, status).
    pub updated_at: String,
}

/// A frame rate `num / den`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct FrameRate {
    /// Numerator.
    pub num: u32,
    /// Denominator.
    pub den: u32,
}

/// `POST /v1/orgs/{org_id}/projects`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectBody {
    /// Display name, 1–100 characters.
    pub name: String,
    /// Frame width, 16–8192 pixels.
    pub width: u32,
    /// Frame height, 16–8192 pixels.
    pub height: u32,
    /// Frames per second: 1–240; 23.976, 29.97 and 59.94 become 24000/1001, 30000/1001 and 60000/1001.
    pub fps: f64,
}

/// `PATCH /v1/projects/{project_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectBody {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// Archive (true) or restore (false).
    #[serde(default)]
    pub archived: Option<bool>,
}

/// One project.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectResponse {
    /// The project.
    pub project: ProjectView,
}

/// A project with its timeline.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectStateResponse {
    /// The project.
    pub project: ProjectView,
    /// Sequence number of the last applied command.
    pub seq: u64,
    /// The timeline (editor-core's versioned JSON format).
    pub timeline: Value,
}

/// A page of projects.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProjectPage {
    /// Newest first.
    pub items: Vec<ProjectView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `POST /v1/projects/{project_id}/commands`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandsBody {
    /// Timeline commands (editor-core `Command`, tagged on `type`), applied atomically in order.
    pub commands: Vec<editor_core::Command>,
    /// The sequence number the client's view is based on; commands on an older state are
    /// rebased (they name ids, so most apply as they are) or refused with 409 `conflict`.
    #[serde(default)]
    pub base_seq: Option<u64>,
    /// A repeated key returns the first answer and applies nothing again (24 h).
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// Result of one applied command.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct CommandResult {
    /// Its sequence number.
    pub seq: u64,
    /// The command that undoes it.
    pub inverse: Value,
}

/// Answer of a commands request.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct CommandsResponse {
    /// Sequence number of the last command applied.
    pub seq: u64,
    /// One per command, in order.
    pub results: Vec<CommandResult>,
}

/// A command in the project's history.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct HistoryItem {
    /// Position in the project's order.
    pub seq: u64,
    /// When it was applied.
    pub at: String,
    /// Who applied it.
    pub actor: Value,
    /// The command.
    pub command: Value,
}

/// A page of history.
#[derive(Debug, Serialize, JsonSchema)]
pub struct HistoryPage {
    /// Oldest first.
    pub items: Vec<HistoryItem>,
    /// Pass as `after_seq` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ProjectRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    name: String,
    width: i64,
    height: i64,
    fps_num: i64,
    fps_den: i64,
    status: String,
    created_at: i64,
    updated_at: i64,
}

impl ProjectRow {
    fn view(&self) -> ProjectView {
        ProjectView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            name: self.name.clone(),
            width: self.width as u32,
            height: self.height as u32,
            frame_rate: FrameRate {
                num: self.fps_num as u32,
                den: self.fps_den as u32,
            },
            status: self.status.clone(),
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
        }
    }
}

const PROJECT_COLUMNS: &str =
    "id, org_id, name, width, height, fps_num, fps_den, status, created_at, updated_at";

/// The frame rate as a rational; NTSC rates map to their exact fractions.
pub fn frame_rate(fps: f64) -> AppResult<Rational> {
    if !fps.is_finite() || !(1.0..=240.0).contains(&fps) {
        return Err(AppError::invalid(
            "invalid_fps",
            "fps must be between 1 and 240",
        ));
    }
    for (ntsc, num) in [
        (23.976, 24000),
        (29.97, 30000),
        (47.952, 48000),
        (59.94, 60000),
    ] {
        if (fps - ntsc).abs() < 0.01 {
            return Ok(Rational::new(num, 1001));
        }
    }
    if fps.fract() == 0.0 {
        Ok(Rational::new(fps as u32, 1))
    } else {
        Ok(Rational::new((fps * 1000.0).round() as u32, 1000))
    }
}

fn check_dimension(value: u32, what: &str) -> AppResult<()> {
    if (16..=8192).contains(&value) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "invalid_size",
            format!("{what} must be 16 to 8192 pixels"),
        ))
    }
}

/// Calls the project's room.
pub(crate) async fn room(
    ctx: &Ctx,
    project_id: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> AppResult<(u16, Value)> {
    let namespace = ctx.env.durable_object("PROJECT_ROOM")?;
    let stub = namespace.id_from_name(project_id)?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(body.into()));
    }
    let request = Request::new_with_init(&format!("https://project-room{path}"), &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    let status = response.status_code();
    let value = if status == 204 {
        Value::Null
    } else {
        response.json().await?
    };
    Ok((status, value))
}

/// Turns a room error answer into the API's error.
pub(crate) fn room_error(status: u16, value: &Value) -> AppError {
    let code = value["error"]["code"].as_str().unwrap_or("room_error");
    let message = value["error"]["message"]
        .as_str()
        .unwrap_or("the project refused the request");
    if status >= 500 {
        AppError::internal(format!("room answered {status}: {value}"))
    } else {
        AppError::new(status, code, message)
    }
}

/// Loads a live project and checks `permission` in its org. Other orgs' projects are 404.
pub(crate) async fn load(ctx: &mut Ctx, permission: Permission) -> AppResult<ProjectRow> {
    let project_id = ctx.param("project_id").to_string();
    authenticate(ctx).await?;
    let row: Option<ProjectRow> = ctx
        .db()?
        .first(
            &format!("SELECT {PROJECT_COLUMNS} FROM projects WHERE id = ?1 AND deleted_at IS NULL"),
            args![project_id.as_str()],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("project"))?;
    authorize(ctx, &row.org_id, permission)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("project")
            } else {
                error
            }
        })?;
    Ok(row)
}

pub(crate) async fn insert_project(
    ctx: &Ctx,
    org_id: &str,
    name: &str,
    settings: &ProjectSettings,
    timeline: &Timeline,
    duplicated_from: Option<&str>,
) -> AppResult<ProjectView> {
    let project_id = util::new_id("prj", ctx.now);
    let init = json!({ "project_id": project_id, "org_id": org_id, "timeline": format::to_value(timeline) }).to_string();
    let (status, value) = room(ctx, &project_id, Method::Post, "/init", Some(init)).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    let principal = ctx
        .principal
        .as_ref()
        .ok_or_else(|| AppError::internal("no principal"))?;
    let db = ctx.db()?;
    let insert = db.stmt(
        "INSERT INTO projects (id, org_id, name, width, height, fps_num, fps_den, status, duplicated_from, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'active', ?8, ?9, ?10, ?10)",
        args![
            project_id.as_str(),
            org_id,
            name,
            settings.width as i64,
            settings.height as i64,
            settings.frame_rate.num as i64,
            settings.frame_rate.den as i64,
            duplicated_from,
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    let action = if duplicated_from.is_some() {
        "project.duplicate"
    } else {
        "project.create"
    };
    let record = Record::success(Some(org_id), action, Some(("project", &project_id)))
        .with_details(json!({ "name": name, "duplicated_from": duplicated_from }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    Ok(ProjectView {
        id: project_id,
        org_id: org_id.to_string(),
        name: name.to_string(),
        width: settings.width,
        height: settings.height,
        frame_rate: FrameRate {
            num: settings.frame_rate.num,
            den: settings.frame_rate.den,
        },
        status: "active".into(),
        created_at: util::rfc3339(ctx.now),
        updated_at: util::rfc3339(ctx.now),
    })
}

/// `POST /v1/orgs/{org_id}/projects`
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: CreateProjectBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "project name")?;
    check_dimension(body.width, "width")?;
    check_dimension(body.height, "height")?;
    let settings = ProjectSettings::new(body.width, body.height, frame_rate(body.fps)?);
    let timeline = Timeline::new(settings.clone());
    let project = insert_project(ctx, &org_id, &name, &settings, &timeline, None).await?;
    http::json(201, &ProjectResponse { project })
}

/// `GET /v1/orgs/{org_id}/projects?status=&cursor=&limit=`
pub async fn list(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let status = match ctx.query("status").as_deref() {
        None | Some("active") => Some("active"),
        Some("archived") => Some("archived"),
        Some("all") => None,
        Some(_) => {
            return Err(AppError::invalid(
                "invalid_status",
                "status is active, archived or all",
            ))
        }
    };
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<ProjectRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {PROJECT_COLUMNS} FROM projects
                 WHERE org_id = ?1 AND deleted_at IS NULL AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ),
            args![org_id.as_str(), status, before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(ProjectRow::view).collect();
    http::json(200, &ProjectPage { items, next_cursor })
}

/// `GET /v1/projects/{project_id}`
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let (status, value) = room(ctx, &row.id, Method::Get, "/state", None).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    http::json(
        200,
        &ProjectStateResponse {
            project: row.view(),
            seq: value["seq"].as_u64().unwrap_or(0),
            timeline: value["timeline"].clone(),
        },
    )
}

/// `PATCH /v1/projects/{project_id}`: rename, archive, restore.
pub async fn update(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let mut row = load(ctx, Permission::Write).await?;
    let body: UpdateProjectBody = ctx.json(&mut req).await?;
    if body.name.is_none() && body.archived.is_none() {
        return Err(AppError::invalid(
            "nothing_to_change",
            "send name and/or archived",
        ));
    }
    if let Some(name) = &body.name {
        row.name = clean_name(name, "project name")?;
    }
    if let Some(archived) = body.archived {
        row.status = if archived { "archived" } else { "active" }.to_string();
    }
    row.updated_at = ctx.now;
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE projects SET name = ?1, status = ?2, updated_at = ?3 WHERE id = ?4",
        args![
            row.name.as_str(),
            row.status.as_str(),
            ctx.now,
            row.id.as_str()
        ],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "project.update",
        Some(("project", &row.id)),
    )
    .with_details(json!({ "name": body.name, "archived": body.archived }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    http::json(
        200,
        &ProjectResponse {
            project: row.view(),
        },
    )
}

/// `DELETE /v1/projects/{project_id}` (owners and admins).
pub async fn delete(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Manage).await?;
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE projects SET deleted_at = ?1, updated_at = ?1 WHERE id = ?2",
        args![ctx.now, row.id.as_str()],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "project.delete",
        Some(("project", &row.id)),
    );
    audit::commit(ctx, &db, vec![update], record, None).await?;
    let (status, value) = room(ctx, &row.id, Method::Delete, "/", None).await?;
    if status != 204 {
        return Err(room_error(status, &value));
    }
    http::no_content()
}

/// `POST /v1/projects/{project_id}/duplicate`
pub async fn duplicate(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    authorize(ctx, &row.org_id, Permission::Write).await?;
    let (status, value) = room(ctx, &row.id, Method::Get, "/state", None).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    let timeline = format::from_value(value["timeline"].clone()).map_err(AppError::internal)?;
    let name: String = format!("{} (copy)", row.name).chars().take(100).collect();
    let settings = timeline.settings.clone();
    let project =
        insert_project(ctx, &row.org_id, &name, &settings, &timeline, Some(&row.id)).await?;
    http::json(201, &ProjectResponse { project })
}

/// `POST /v1/projects/{project_id}/commands`
pub async fn commands(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Write).await?;
    let content_type = ctx.header("content-type").unwrap_or_default();
    if !content_type
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(AppError::new(
            415,
            "unsupported_media_type",
            "send the body as application/json",
        ));
    }
    let bytes = req.bytes().await.map_err(|_| {
        AppError::bad_request("malformed_body", "the request body could not be read")
    })?;
    if bytes.len() > MAX_COMMANDS_BODY {
        return Err(AppError::new(
            413,
            "payload_too_large",
            format!("the body exceeds {MAX_COMMANDS_BODY} bytes"),
        ));
    }
    let body: CommandsBody = http::parse_json(&bytes)?;
    if body.commands.is_empty() || body.commands.len() > durable_objects::MAX_COMMANDS_PER_REQUEST {
        return Err(AppError::invalid(
            "invalid_commands",
            format!(
                "send 1 to {} commands",
                durable_objects::MAX_COMMANDS_PER_REQUEST
            ),
        ));
    }
    if body
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.is_empty() || k.len() > 200)
    {
        return Err(AppError::invalid(
            "invalid_idempotency_key",
            "idempotency_key must have 1 to 200 characters",
        ));
    }
    let principal = authenticate(ctx).await?;
    let count = body.commands.len();
    let room_body = json!({
        "actor": {"type": principal.actor_type(), "id": principal.actor_id()},
        "commands": body.commands,
        "base_seq": body.base_seq,
        // Keys are per project and per principal, so two clients cannot collide.
        "idempotency_key": body.idempotency_key.as_ref().map(|k| format!("{}:{k}", principal.actor_id())),
    });
    let (status, value) = room(
        ctx,
        &row.id,
        Method::Post,
        "/commands",
        Some(room_body.to_string()),
    )
    .await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    let answer: CommandsResponse = serde_json::from_value(value).map_err(AppError::internal)?;
    let db = ctx.db()?;
    let record = Record::success(
        Some(&row.org_id),
        "project.commands",
        Some(("project", &row.id)),
    )
    .with_details(json!({ "count": count, "seq": answer.seq }));
    audit::commit(ctx, &db, Vec::new(), record, None).await?;
    http::json(200, &answer)
}

/// `GET /v1/projects/{project_id}/history?after_seq=&limit=`
pub async fn history(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let after = match ctx.query("after_seq") {
        None => 0,
        Some(raw) => raw.parse::<u64>().map_err(|_| {
            AppError::invalid("invalid_after_seq", "after_seq must be a whole number")
        })?,
    };
    let limit = ctx.query_limit(100, 1000)?;
    let path = format!("/history?after_seq={after}&limit={limit}");
    let (status, value) = room(ctx, &row.id, Method::Get, &path, None).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    let items = value["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|item| HistoryItem {
            seq: item["seq"].as_u64().unwrap_or(0),
            at: util::rfc3339(item["at"].as_i64().unwrap_or(0)),
            actor: item["actor"].clone(),
            command: item["command"].clone(),
        })
        .collect();
    let next_cursor = value["next_after_seq"].as_u64().map(|seq| seq.to_string());
    http::json(200, &HistoryPage { items, next_cursor })
}

/// `GET /v1/projects/{project_id}/frame.png?frame=N&scale=0.5`: a still rendered at the edge.
pub async fn frame_png(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let frame = match ctx.query("frame") {
        None => 0,
        Some(raw) => raw
            .parse::<u64>()
            .map_err(|_| AppError::invalid("invalid_frame", "frame must be a whole number ≥ 0"))?,
    };
    let scale = match ctx.query("scale") {
        None => 1.0,
        Some(raw) => raw
            .parse::<f32>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0 && *s <= 1.0)
            .ok_or_else(|| AppError::invalid("invalid_scale", "scale must be in (0, 1]"))?,
    };
    let (status, value) = room(ctx, &row.id, Method::Get, "/state", None).await?;
    if status != 200 {
        return Err(room_error(status, &value));
    }
    let timeline = format::from_value(value["timeline"].clone()).map_err(AppError::internal)?;
    let list = editor_core::frame_at(&timeline, frame, scale);
    let mut renderer = editor_core::render::Renderer::new();
    // Image clips name assets by id: load those of this project's organisation (others, and
    // missing ones, render as missing images).
    let asset_ids: Vec<String> = list
        .image_refs()
        .into_iter()
        .map(|(asset_id, _)| asset_id.to_string())
        .collect();
    let images = crate::assets::images::image_source_for(&ctx.env, &row.org_id, &asset_ids).await?;
    let png = editor_core::render::export::export_png(&mut renderer, &images, &list)
        .map_err(AppError::internal)?;
    let mut response = Response::from_bytes(png)?;
    response.headers_mut().set("content-type", "image/png")?;
    response.headers_mut().set(
        "x-project-seq",
        &value["seq"].as_u64().unwrap_or(0).to_string(),
    )?;
    Ok(response)
}

/// Tells the rooms of the given projects that `actor_id`'s access changed, so that its open
/// sockets are re-checked now (closed with 4401 when access is gone). The change itself is
/// already committed; a room that cannot be reached re-checks on its own within seconds.
async fn revalidate_rooms(ctx: &Ctx, project_ids: Vec<String>, actor_id: &str) {
    let body = json!({ "actor_id": actor_id }).to_string();
    for project_id in project_ids {
        if let Err(error) = room(
            ctx,
            &project_id,
            Method::Post,
            "/revalidate",
            Some(body.clone()),
        )
        .await
        {
            let line = json!({"level": "warn", "msg": "room revalidation failed", "project_id": project_id, "error": error.internal.unwrap_or(error.message)});
            worker::console_log!("{}", line);
        }
    }
}

#[derive(Deserialize)]
struct IdRow {
    id: String,
}

/// Rooms of one organisation: after a member is removed or changes role, or a key is revoked.
pub(crate) async fn revalidate_org_rooms(ctx: &Ctx, org_id: &str, actor_id: &str) -> AppResult<()> {
    let rows: Vec<IdRow> = ctx
        .db()?
        .all(
            "SELECT id FROM projects WHERE org_id = ?1 AND deleted_at IS NULL ORDER BY id DESC LIMIT 500",
            args![org_id],
        )
        .await?;
    revalidate_rooms(ctx, rows.into_iter().map(|r| r.id).collect(), actor_id).await;
    Ok(())
}

/// Rooms of every organisation of a user: after their sessions end.
pub(crate) async fn revalidate_user_rooms(ctx: &Ctx, user_id: &str) -> AppResult<()> {
    let rows: Vec<IdRow> = ctx
        .db()?
        .all(
            "SELECT p.id AS id FROM projects p JOIN memberships m ON m.org_id = p.org_id
             WHERE m.user_id = ?1 AND p.deleted_at IS NULL ORDER BY p.id DESC LIMIT 500",
            args![user_id],
        )
        .await?;
    revalidate_rooms(ctx, rows.into_iter().map(|r| r.id).collect(), user_id).await;
    Ok(())
}
