//! HTTP handlers of workflows and their runs, and the inbound webhook endpoint.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Request, Response};

use super::engine::{self, RunRow, StepRow, RUN_COLUMNS, STEP_COLUMNS};
use super::model::{Definition, Trigger};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx, MAX_JSON_BODY};
use crate::identity::api::{decode_cursor, page};
use crate::identity::{authorize, Permission};
use crate::util;

/// Largest clock difference accepted on a signed inbound webhook.
const HOOK_TOLERANCE_SECONDS: i64 = 300;

/// `POST /v1/orgs/{org_id}/workflows` and `PUT …/{workflow_id}`: a definition to save.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveWorkflowBody {
    /// The definition: `{name, description?, trigger, steps}` (at most 32 KiB).
    #[schemars(with = "Definition")]
    pub definition: Value,
}

/// `PATCH /v1/orgs/{org_id}/workflows/{workflow_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowStatusBody {
    /// `active` (triggers start runs) or `paused` (they do not).
    pub status: String,
}

/// A workflow as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowView {
    /// `wfl_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// `active` or `paused`.
    pub status: String,
    /// Current version (runs keep the version they started with).
    pub version: i64,
    /// What starts a run.
    pub trigger: Trigger,
    /// Next due time of a cron trigger.
    pub next_run_at: Option<String>,
    /// Where a webhook trigger is called.
    pub webhook_path: Option<String>,
    /// The current definition.
    pub definition: Definition,
    /// The current definition as an asset (`ast_…`, kind `document`).
    pub definition_asset_id: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// One workflow; `webhook_secret` only when it was just made (shown once).
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowResponse {
    /// The workflow.
    pub workflow: WorkflowView,
    /// The inbound webhook signing secret (HMAC-SHA256 key), shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// A page of workflows.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkflowPage {
    /// Newest first.
    pub workflows: Vec<WorkflowView>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// `POST …/runs`: a manual run.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRunBody {
    /// The payload the steps read as `{{trigger.…}}`.
    #[serde(default)]
    pub input: Option<Value>,
}

/// `POST …/steps/{step_key}/approve`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// true approves (the run continues), false rejects (the run fails).
    pub approved: bool,
    /// A note kept in the step's output.
    #[serde(default)]
    pub comment: Option<String>,
}

/// A step of a run, as the run history shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StepView {
    /// Step id (`id[i]` for item i of a for_each).
    pub key: String,
    /// Step type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `queued`, `running`, `waiting`, `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    /// Attempts made.
    pub attempts: i64,
    /// The job of its last attempt.
    pub job_id: Option<String>,
    /// Resolved input (size-capped).
    pub input: Option<Value>,
    /// Output (size-capped).
    pub output: Option<Value>,
    /// `{code, message}` of the last failure.
    pub error: Option<Value>,
    /// Event a wait_event step waits for.
    pub wait_event: Option<String>,
    /// When a wait or approval times out.
    pub wait_until: Option<String>,
    /// First start.
    pub started_at: Option<String>,
    /// End.
    pub finished_at: Option<String>,
    /// End minus first start, ms.
    pub duration_ms: Option<i64>,
}

/// A run as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunView {
    /// `run_…`
    pub id: String,
    /// `wfl_…`
    pub workflow_id: String,
    /// The definition version it runs.
    pub version: i64,
    /// `queued`, `running`, `paused`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// `event`, `cron`, `webhook` or `manual`.
    pub trigger_kind: String,
    /// The trigger payload (size-capped).
    pub trigger: Value,
    /// `{code, message, step}` of a failure.
    pub error: Option<Value>,
    /// Creation time.
    pub created_at: String,
    /// Start.
    pub started_at: Option<String>,
    /// End.
    pub finished_at: Option<String>,
    /// End minus start, ms.
    pub duration_ms: Option<i64>,
    /// Steps, in definition order (with the run, not in lists).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepView>>,
}

/// One run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunResponse {
    /// The run.
    pub run: RunView,
}

/// A page of runs.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunPage {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

fn parse_json_text(text: Option<&str>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

fn step_view(row: StepRow) -> StepView {
    StepView {
        duration_ms: row.started_at.zip(row.finished_at).map(|(a, b)| b - a),
        input: parse_json_text(row.input.as_deref()),
        output: parse_json_text(row.output.as_deref()),
        error: parse_json_text(row.error.as_deref()),
        wait_until: row.wait_until.map(util::rfc3339),
        started_at: row.started_at.map(util::rfc3339),
        finished_at: row.finished_at.map(util::rfc3339),
        key: row.step_key,
        kind: row.kind,
        status: row.status,
        attempts: row.attempts,
        job_id: row.job_id,
        wait_event: row.wait_event,
    }
}

fn run_view(row: RunRow, steps: Option<Vec<StepRow>>) -> RunView {
    RunView {
        duration_ms: row.started_at.zip(row.finished_at).map(|(a, b)| b - a),
        trigger: serde_json::from_str(&row.trigger).unwrap_or(Value::Null),
        error: parse_json_text(row.error.as_deref()),
        created_at: util::rfc3339(row.created_at),
        started_at: row.started_at.map(util::rfc3339),
        finished_at: row.finished_at.map(util::rfc3339),
        id: row.id,
        workflow_id: row.workflow_id,
        version: row.version,
        status: row.status,
        trigger_kind: row.trigger_kind,
        steps: steps.map(|s| s.into_iter().map(step_view).collect()),
    }
}

#[derive(Debug, Deserialize)]
struct WorkflowWithDefinition {
    id: String,
    org_id: String,
    name: String,
    status: String,
    version: i64,
    trigger_kind: String,
    next_run_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    definition: String,
    asset_id: Option<String>,
}

const VIEW_SELECT: &str = "SELECT w.id, w.org_id, w.name, w.status, w.version, w.trigger_kind, w.next_run_at, w.created_at, w.updated_at,
        v.definition, v.asset_id
   FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id AND v.version = w.version";

impl WorkflowWithDefinition {
    fn view(self) -> AppResult<WorkflowView> {
        let definition: Definition = serde_json::from_str(&self.definition)?;
        Ok(WorkflowView {
            webhook_path: (self.trigger_kind == "webhook")
                .then(|| format!("/v1/hooks/{}", self.id)),
            trigger: definition.trigger.clone(),
            definition,
            definition_asset_id: self.asset_id,
            next_run_at: self.next_run_at.map(util::rfc3339),
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            status: self.status,
            version: self.version,
        })
    }
}

async fn find_view(db: &Db, org_id: &str, workflow_id: &str) -> AppResult<WorkflowView> {
    let row: WorkflowWithDefinition = db
        .first(
            &format!("{VIEW_SELECT} WHERE w.id = ?1 AND w.org_id = ?2"),
            args![workflow_id, org_id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("workflow"))?;
    row.view()
}

fn known_tool(name: &str) -> bool {
    name != "search_tools" && crate::mcp::catalog::TOOLS.iter().any(|t| t.name == name)
}

/// Parses and validates a definition, including what needs the configuration (webhook URLs).
fn parse_definition(ctx: &Ctx, value: &Value) -> AppResult<Definition> {
    let definition = Definition::parse(value, known_tool)?;
    let config = crate::jobs::Config::from_env(&ctx.env);
    let steps = definition
        .steps
        .iter()
        .chain(definition.steps.iter().filter_map(|s| s.each.as_deref()));
    for step in steps {
        if let Some(url) = &step.url {
            if !url.contains("{{") {
                crate::jobs::webhook::check_url(url, &config).map_err(|e| {
                    AppError::invalid(
                        "invalid_webhook_url",
                        format!("step {:?}: {}", step.id, e.message),
                    )
                })?;
            }
        }
    }
    Ok(definition)
}

/// Saves a version of a workflow (a new workflow when `existing` is `None`): the workflow
/// row, the version, and the definition as a `document` asset derived from the previous one.
async fn save(
    ctx: &Ctx,
    org_id: &str,
    existing: Option<&engine::WorkflowRow>,
    definition: &Definition,
) -> AppResult<(String, Option<String>)> {
    let db = ctx.db()?;
    let now = ctx.now;
    let workflow_id = existing
        .map(|w| w.id.clone())
        .unwrap_or_else(|| util::new_id("wfl", now));
    let version = existing.map(|w| w.version + 1).unwrap_or(1);
    let (kind, event, cron, next_run_at) = match &definition.trigger {
        Trigger::Event { event, .. } => ("event", Some(event.clone()), None, None),
        Trigger::Cron { cron } => {
            let next = super::cron::Schedule::parse(cron)
                .ok()
                .and_then(|s| s.next_after(now));
            ("cron", None, Some(cron.clone()), next)
        }
        Trigger::Webhook => ("webhook", None, None, None),
        Trigger::Manual => ("manual", None, None, None),
    };
    // The inbound secret is made once per workflow (kept across versions).
    let (salt, secret) = match (kind, existing.and_then(|w| w.hook_salt.clone())) {
        ("webhook", Some(salt)) => (Some(salt), None),
        ("webhook", None) => {
            let salt = util::new_secret();
            let secret = super::hook_secret(ctx, &workflow_id, &salt)?;
            (Some(salt), Some(secret))
        }
        (_, salt) => (salt, None),
    };
    let principal = ctx
        .principal
        .as_ref()
        .ok_or_else(|| AppError::internal("no principal"))?;
    let text = serde_json::to_string_pretty(definition)?;
    let asset_id = util::new_id("ast", now);
    let key = crate::jobs::asset_key(org_id, &asset_id);
    let bucket = ctx.env.bucket("ASSETS")?;
    bucket
        .put(&key, text.clone().into_bytes())
        .execute()
        .await?;
    let mut changes = Vec::new();
    match existing {
        None => changes.push(db.stmt(
            "INSERT INTO workflows (id, org_id, name, status, version, trigger_kind, trigger_event, cron, next_run_at, hook_salt,
                                    created_by_type, created_by, created_at, updated_at)
             VALUES (?1, ?2, ?3, 'active', 1, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
            args![workflow_id.as_str(), org_id, definition.name.trim(), kind, event, cron, next_run_at, salt.clone(),
                  principal.actor_type(), principal.actor_id(), now],
        )?),
        Some(current) => changes.push(db.stmt(
            "UPDATE workflows SET name = ?1, version = ?2, trigger_kind = ?3, trigger_event = ?4, cron = ?5, next_run_at = ?6,
                                  hook_salt = ?7, updated_at = ?8
             WHERE id = ?9 AND version = ?10",
            args![definition.name.trim(), version, kind, event, cron, next_run_at, salt.clone(), now,
                  workflow_id.as_str(), current.version],
        )?),
    }
    changes.push(db.stmt(
        "INSERT INTO workflow_versions (workflow_id, version, definition, asset_id, created_by_type, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![workflow_id.as_str(), version, serde_json::to_string(definition)?, asset_id.as_str(),
              principal.actor_type(), principal.actor_id(), now],
    )?);
    changes.push(db.stmt(
        "INSERT INTO assets (id, org_id, owner_type, owner_id, kind, mime, bytes, sha256, r2_key, name, tags, metadata,
                             status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'document', 'application/json', ?5, ?6, ?7, ?8, '[\"workflow\"]', ?9, 'ready', ?10, ?10)",
        args![asset_id.as_str(), org_id, principal.actor_type(), principal.actor_id(), text.len() as i64,
              util::sha256_hex(text.as_bytes()), key.as_str(),
              format!("{} (workflow v{version}).json", definition.name.trim()).chars().take(100).collect::<String>(),
              json!({"workflow_id": workflow_id, "version": version}).to_string(), now],
    )?);
    if let Some(current) = existing {
        changes.push(db.stmt(
            "INSERT INTO asset_lineage (child_id, parent_id, org_id, recipe, created_at)
             SELECT ?1, asset_id, ?2, ?3, ?4 FROM workflow_versions
              WHERE workflow_id = ?5 AND version = ?6 AND asset_id IS NOT NULL
                AND asset_id IN (SELECT id FROM assets WHERE status = 'ready')",
            args![asset_id.as_str(), org_id,
                  json!({"job_kind": "workflow_version", "params": {"workflow_id": workflow_id, "version": version}}).to_string(),
                  now, workflow_id.as_str(), current.version],
        )?);
    }
    let action = if existing.is_some() {
        "workflow.update"
    } else {
        "workflow.create"
    };
    let audit = Record::success(Some(org_id), action, Some(("workflow", &workflow_id)))
        .with_details(json!({"version": version, "trigger": kind, "steps": definition.steps.len(), "asset_id": asset_id}));
    match audit::commit(ctx, &db, changes, audit, None).await {
        Ok(_) => Ok((workflow_id, secret)),
        Err(error) => {
            let _ = bucket.delete(&key).await;
            if let Some(current) = existing {
                let now_version = engine::load_workflow(&db, Some(org_id), &current.id)
                    .await?
                    .map(|w| w.version);
                if now_version != Some(current.version) {
                    return Err(AppError::conflict(
                        "version_conflict",
                        "the workflow changed meanwhile; load it and save again",
                    ));
                }
            }
            Err(error)
        }
    }
}

/// `POST /v1/orgs/{org_id}/workflows`
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: SaveWorkflowBody = ctx.json(&mut req).await?;
    let definition = parse_definition(ctx, &body.definition)?;
    let (workflow_id, secret) = save(ctx, &org_id, None, &definition).await?;
    let workflow = find_view(&ctx.db()?, &org_id, &workflow_id).await?;
    http::json(
        201,
        &WorkflowResponse {
            workflow,
            webhook_secret: secret,
        },
    )
}

/// `GET /v1/orgs/{org_id}/workflows`
pub async fn list(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let limit = ctx.query_limit(50, 200)?;
    let cursor = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<WorkflowWithDefinition> = ctx
        .db()?
        .all(
            &format!("{VIEW_SELECT} WHERE w.org_id = ?1 AND (?2 IS NULL OR w.id < ?2) ORDER BY w.id DESC LIMIT ?3"),
            args![org_id.as_str(), cursor, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |r| &r.id);
    let workflows = rows
        .into_iter()
        .map(WorkflowWithDefinition::view)
        .collect::<AppResult<Vec<_>>>()?;
    http::json(
        200,
        &WorkflowPage {
            workflows,
            next_cursor,
        },
    )
}

async fn load_workflow(ctx: &mut Ctx, permission: Permission) -> AppResult<engine::WorkflowRow> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, permission).await?;
    engine::load_workflow(&ctx.db()?, Some(&org_id), ctx.param("workflow_id"))
        .await?
        .ok_or_else(|| AppError::not_found("workflow"))
}

/// `GET /v1/orgs/{org_id}/workflows/{workflow_id}`
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let workflow = load_workflow(ctx, Permission::Read).await?;
    let view = find_view(&ctx.db()?, &workflow.org_id, &workflow.id).await?;
    http::json(
        200,
        &WorkflowResponse {
            workflow: view,
            webhook_secret: None,
        },
    )
}

/// `PUT /v1/orgs/{org_id}/workflows/{workflow_id}`: saves a new version.
pub async fn update(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let workflow = load_workflow(ctx, Permission::Write).await?;
    let body: SaveWorkflowBody = ctx.json(&mut req).await?;
    let definition = parse_definition(ctx, &body.definition)?;
    let (_, secret) = save(ctx, &workflow.org_id, Some(&workflow), &definition).await?;
    let view = find_view(&ctx.db()?, &workflow.org_id, &workflow.id).await?;
    http::json(
        200,
        &WorkflowResponse {
            workflow: view,
            webhook_secret: secret,
        },
    )
}

/// `PATCH /v1/orgs/{org_id}/workflows/{workflow_id}`: pause or reactivate its trigger.
pub async fn set_status(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let workflow = load_workflow(ctx, Permission::Write).await?;
    let body: WorkflowStatusBody = ctx.json(&mut req).await?;
    if !matches!(body.status.as_str(), "active" | "paused") {
        return Err(AppError::invalid(
            "invalid_status",
            "status must be active or paused",
        ));
    }
    let db = ctx.db()?;
    // A cron workflow made active again is due at its next time from now, not at a missed one.
    let next_run_at = workflow
        .cron
        .as_deref()
        .and_then(|c| super::cron::Schedule::parse(c).ok())
        .and_then(|s| s.next_after(ctx.now));
    let change = db.stmt(
        "UPDATE workflows SET status = ?1, next_run_at = ?2, updated_at = ?3 WHERE id = ?4",
        args![
            body.status.as_str(),
            next_run_at,
            ctx.now,
            workflow.id.as_str()
        ],
    )?;
    let action = if body.status == "paused" {
        "workflow.pause"
    } else {
        "workflow.activate"
    };
    let audit = Record::success(
        Some(&workflow.org_id),
        action,
        Some(("workflow", &workflow.id)),
    );
    audit::commit(ctx, &db, vec![change], audit, None).await?;
    let view = find_view(&db, &workflow.org_id, &workflow.id).await?;
    http::json(
        200,
        &WorkflowResponse {
            workflow: view,
            webhook_secret: None,
        },
    )
}

/// `POST /v1/orgs/{org_id}/workflows/{workflow_id}/runs`: a manual run.
pub async fn start(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let workflow = load_workflow(ctx, Permission::Write).await?;
    let has_body = ctx.header("content-length").is_some_and(|l| l != "0")
        || ctx.header("content-type").is_some();
    let body: StartRunBody = if has_body {
        ctx.json(&mut req).await?
    } else {
        StartRunBody::default()
    };
    if workflow.status != "active" {
        return Err(AppError::conflict(
            "workflow_paused",
            "the workflow is paused; activate it first",
        ));
    }
    let (actor_type, actor_id) = audit::actor_of(ctx, None);
    let mut input = body.input.unwrap_or(json!({}));
    if let Value::Object(map) = &mut input {
        map.entry("started_by")
            .or_insert(json!({"type": actor_type, "id": actor_id}));
    }
    let db = ctx.db()?;
    let run = engine::start_run(ctx, &db, &workflow, "manual", &input).await?;
    http::json(
        202,
        &RunResponse {
            run: run_view(run, None),
        },
    )
}

/// `GET /v1/orgs/{org_id}/workflows/{workflow_id}/runs`
pub async fn list_runs(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let workflow = load_workflow(ctx, Permission::Read).await?;
    let limit = ctx.query_limit(50, 200)?;
    let cursor = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let status = ctx.query("status");
    if let Some(status) = &status {
        if !matches!(
            status.as_str(),
            "queued" | "running" | "paused" | "succeeded" | "failed" | "cancelled"
        ) {
            return Err(AppError::invalid(
                "invalid_status",
                "status must be queued, running, paused, succeeded, failed or cancelled",
            ));
        }
    }
    let mut rows: Vec<RunRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE workflow_id = ?1 AND (?2 IS NULL OR id < ?2)
                   AND (?3 IS NULL OR status = ?3) ORDER BY id DESC LIMIT ?4"
            ),
            args![workflow.id.as_str(), cursor, status, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |r| &r.id);
    let runs = rows.into_iter().map(|r| run_view(r, None)).collect();
    http::json(200, &RunPage { runs, next_cursor })
}

async fn load_run(ctx: &mut Ctx, permission: Permission) -> AppResult<RunRow> {
    let workflow = load_workflow(ctx, permission).await?;
    engine::load_run(&ctx.db()?, ctx.param("run_id"))
        .await?
        .filter(|r| r.workflow_id == workflow.id && r.org_id == workflow.org_id)
        .ok_or_else(|| AppError::not_found("run"))
}

async fn respond_with_run(ctx: &Ctx, run_id: &str, status: u16) -> AppResult<Response> {
    let db = ctx.db()?;
    let run = engine::load_run(&db, run_id)
        .await?
        .ok_or_else(|| AppError::not_found("run"))?;
    let steps: Vec<StepRow> = db
        .all(
            &format!("SELECT {STEP_COLUMNS} FROM workflow_steps WHERE run_id = ?1 ORDER BY rowid"),
            args![run_id],
        )
        .await?;
    http::json(
        status,
        &RunResponse {
            run: run_view(run, Some(steps)),
        },
    )
}

/// `GET …/runs/{run_id}`: the run with every step.
pub async fn get_run(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let run = load_run(ctx, Permission::Read).await?;
    respond_with_run(ctx, &run.id, 200).await
}

/// `POST …/runs/{run_id}/cancel`
pub async fn cancel_run(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let run = load_run(ctx, Permission::Write).await?;
    if !matches!(run.status.as_str(), "queued" | "running" | "paused") {
        return Err(AppError::conflict(
            "run_ended",
            format!("the run has already {}", run.status),
        ));
    }
    let (actor_type, actor_id) = audit::actor_of(ctx, None);
    let error = json!({"code": "cancelled", "message": "the run was cancelled",
        "by": {"type": actor_type, "id": actor_id}});
    engine::finish_run(ctx, &ctx.db()?, &run, "cancelled", Some(error)).await?;
    respond_with_run(ctx, &run.id, 200).await
}

/// `POST …/runs/{run_id}/pause`: steps in flight finish; nothing new starts until resumed.
pub async fn pause_run(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let run = load_run(ctx, Permission::Write).await?;
    if run.status != "running" {
        return Err(AppError::conflict(
            "not_running",
            format!("the run is {}", run.status),
        ));
    }
    let db = ctx.db()?;
    let guard = db.stmt(
        "UPDATE workflow_runs SET status = '-' WHERE id = ?1 AND status != 'running'",
        args![run.id.as_str()],
    )?;
    let change = db.stmt(
        "UPDATE workflow_runs SET status = 'paused', updated_at = ?1 WHERE id = ?2",
        args![ctx.now, run.id.as_str()],
    )?;
    let audit = Record::success(
        Some(&run.org_id),
        "workflow.run.pause",
        Some(("workflow_run", &run.id)),
    );
    audit::commit(ctx, &db, vec![guard, change], audit, None)
        .await
        .map_err(|_| AppError::conflict("not_running", "the run is no longer running"))?;
    respond_with_run(ctx, &run.id, 200).await
}

/// `POST …/runs/{run_id}/resume`: queues again what the pause held back.
pub async fn resume_run(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let run = load_run(ctx, Permission::Write).await?;
    if run.status != "paused" {
        return Err(AppError::conflict(
            "not_paused",
            format!("the run is {}", run.status),
        ));
    }
    let db = ctx.db()?;
    let guard = db.stmt(
        "UPDATE workflow_runs SET status = '-' WHERE id = ?1 AND status != 'paused'",
        args![run.id.as_str()],
    )?;
    let change = db.stmt(
        "UPDATE workflow_runs SET status = 'running', updated_at = ?1 WHERE id = ?2",
        args![ctx.now, run.id.as_str()],
    )?;
    // Steps whose job ran (and stood down) during the pause are queued afresh.
    let requeue = db.stmt(
        "UPDATE workflow_steps SET status = 'pending', job_id = NULL, updated_at = ?1
         WHERE run_id = ?2 AND status = 'queued'
           AND (job_id IS NULL OR job_id IN (SELECT id FROM jobs WHERE status IN ('succeeded', 'failed', 'cancelled', 'dead')))",
        args![ctx.now, run.id.as_str()],
    )?;
    let audit = Record::success(
        Some(&run.org_id),
        "workflow.run.resume",
        Some(("workflow_run", &run.id)),
    );
    audit::commit(ctx, &db, vec![guard, change, requeue], audit, None)
        .await
        .map_err(|_| AppError::conflict("not_paused", "the run is no longer paused"))?;
    engine::advance(ctx, &db, &run.id).await?;
    respond_with_run(ctx, &run.id, 200).await
}

/// `POST …/runs/{run_id}/steps/{step_key}/approve`: approves or rejects a waiting approval.
pub async fn approve(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let run = load_run(ctx, Permission::Write).await?;
    let body: ApproveBody = ctx.json(&mut req).await?;
    if body
        .comment
        .as_ref()
        .is_some_and(|c| c.chars().count() > 1000)
    {
        return Err(AppError::invalid(
            "invalid_comment",
            "comment is at most 1000 characters",
        ));
    }
    let db = ctx.db()?;
    let step_key = ctx.param("step_key").to_string();
    let step = engine::load_steps(&db, &run.id)
        .await?
        .into_iter()
        .find(|s| s.step_key == step_key)
        .ok_or_else(|| AppError::not_found("step"))?;
    if step.kind != "approval" {
        return Err(AppError::conflict(
            "not_an_approval",
            "this step is not an approval",
        ));
    }
    if step.status != "waiting" || !matches!(run.status.as_str(), "running" | "paused") {
        return Err(AppError::conflict(
            "not_waiting",
            format!("the approval is {}", step.status),
        ));
    }
    let (actor_type, actor_id) = audit::actor_of(ctx, None);
    let by = json!({"type": actor_type, "id": actor_id});
    let (status, output, error, action) = if body.approved {
        (
            "succeeded",
            Some(json!({"approved": true, "by": by, "comment": body.comment}).to_string()),
            None,
            "workflow.step.approve",
        )
    } else {
        let error = json!({"code": "rejected", "message": "the approval was rejected", "by": by, "comment": body.comment});
        (
            "failed",
            None,
            Some(error.to_string()),
            "workflow.step.reject",
        )
    };
    let guard = db.stmt(
        "UPDATE workflow_steps SET status = '-' WHERE run_id = ?1 AND step_key = ?2 AND status != 'waiting'",
        args![run.id.as_str(), step_key.as_str()],
    )?;
    let change = db.stmt(
        "UPDATE workflow_steps SET status = ?1, output = ?2, error = ?3, finished_at = ?4, updated_at = ?4
         WHERE run_id = ?5 AND step_key = ?6",
        args![status, output, error.clone(), ctx.now, run.id.as_str(), step_key.as_str()],
    )?;
    let audit = Record::success(Some(&run.org_id), action, Some(("workflow_run", &run.id)))
        .with_details(json!({"step": step_key}));
    audit::commit(ctx, &db, vec![guard, change], audit, None)
        .await
        .map_err(|_| AppError::conflict("not_waiting", "the approval is no longer waiting"))?;
    if body.approved {
        engine::advance(ctx, &db, &run.id).await?;
    } else {
        let error: Value = error
            .and_then(|e| serde_json::from_str(&e).ok())
            .unwrap_or(Value::Null);
        engine::fail_step(ctx, &db, &run, &step_key, error).await?;
    }
    respond_with_run(ctx, &run.id, 200).await
}

/// The parts of `t=<unix seconds>,v1=<hex>`.
fn parse_signature(header: &str) -> Option<(i64, String)> {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value))
                if value.len() == 64 && value.chars().all(|c| c.is_ascii_hexdigit()) =>
            {
                signature = Some(value.to_ascii_lowercase())
            }
            _ => {}
        }
    }
    Some((timestamp?, signature?))
}

/// `POST /v1/hooks/{workflow_id}`: starts a run of a webhook-triggered workflow. The body is
/// JSON (the trigger payload); `x-creator-os-signature: t=<unix seconds>,v1=<hex>` is the
/// HMAC-SHA256 of `<t>.<body>` under the workflow's secret, within five minutes of now.
/// Unsigned → 401, malformed signature → 400, wrong or stale signature → 401; nothing runs.
pub async fn inbound(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let header = ctx
        .header("x-creator-os-signature")
        .ok_or_else(|| AppError::unauthenticated("sign the request: x-creator-os-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">"))?;
    let (timestamp, signature) = parse_signature(&header).ok_or_else(|| {
        AppError::bad_request(
            "malformed_signature",
            "x-creator-os-signature must be t=<unix seconds>,v1=<64 hex digits>",
        )
    })?;
    let declared = ctx
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_JSON_BODY) {
        return Err(AppError::new(
            413,
            "payload_too_large",
            format!("the body exceeds {MAX_JSON_BODY} bytes"),
        ));
    }
    let bytes = req.bytes().await.map_err(|_| {
        AppError::bad_request("malformed_body", "the request body could not be read")
    })?;
    if bytes.len() > MAX_JSON_BODY {
        return Err(AppError::new(
            413,
            "payload_too_large",
            format!("the body exceeds {MAX_JSON_BODY} bytes"),
        ));
    }
    let db = ctx.db()?;
    let workflow = engine::load_workflow(&db, None, ctx.param("workflow_id"))
        .await?
        .filter(|w| w.trigger_kind == "webhook")
        .ok_or_else(|| AppError::not_found("workflow"))?;
    let salt = workflow
        .hook_salt
        .clone()
        .ok_or_else(|| AppError::not_found("workflow"))?;
    let secret = super::hook_secret(ctx, &workflow.id, &salt)?;
    let body = String::from_utf8(bytes.to_vec())
        .map_err(|_| AppError::bad_request("malformed_body", "the body must be UTF-8 JSON"))?;
    let expected = crate::jobs::webhook::signature(secret.as_bytes(), timestamp, &body);
    let expected_hex = expected.rsplit("v1=").next().unwrap_or("");
    if !util::constant_time_eq(expected_hex.as_bytes(), signature.as_bytes()) {
        return Err(AppError::new(
            401,
            "invalid_signature",
            "the signature does not match the body",
        ));
    }
    if (ctx.now / 1000 - timestamp).abs() > HOOK_TOLERANCE_SECONDS {
        return Err(AppError::new(
            401,
            "stale_signature",
            "the signature's timestamp is more than five minutes from now",
        ));
    }
    let payload: Value = if body.trim().is_empty() {
        json!({})
    } else {
        http::parse_json::<Value>(body.as_bytes())?
    };
    if workflow.status != "active" {
        return Err(AppError::conflict(
            "workflow_paused",
            "the workflow is paused",
        ));
    }
    let run = engine::start_run(ctx, &db, &workflow, "webhook", &payload).await?;
    http::json(202, &json!({ "run_id": run.id, "status": run.status }))
}
