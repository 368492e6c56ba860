//! Durable execution of runs: starting a run, deciding which steps are ready, running one step
//! as an `automation_step` job, and ending the run.
//!
//! # Durability
//! A run's state is its rows: `workflow_runs` and one `workflow_steps` row per step (and per
//! `for_each` item). Every step that does work runs as an `automation_step` job on the JOBS
//! queue, so it gets the jobs' admission (per-organisation concurrency in the JobScheduler),
//! attempts counted in D1, retries with exponential backoff and the dead-letter queue. When a
//! step ends, [`advance`] reads the rows again and queues whatever became ready; a step is
//! claimed (`pending` → `queued`) by a guarded update, so two consumers finishing steps at
//! once never queue the same step twice. A redelivered job finds its step already ended and
//! does nothing; side effects are keyed on `run_id:step_key` (webhook delivery id, timeline
//! idempotency key) or idempotent by nature (tags are a set, an image has one thumbnail).
//!
//! # Waiting
//! `delay` steps are queue messages sent with a delay (at most 12 h). `wait_event` and
//! `approval` steps park in `waiting`: the audit hook ([`super::on_event`]) or the approval
//! API end them, and the cron tick ([`super::tick`]) fails those past their timeout.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Fetch, Headers, Method, Request, RequestInit};

use super::model::{Condition, Definition, Step, StepType, COMMANDS, MAX_ITEMS};
use super::template;
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::identity::{Principal, Role};
use crate::jobs::model::{JobMessage, JobRow};
use crate::jobs::{self, Config, JobError};
use crate::util;

/// Largest stored step input or output, and trigger payload, as JSON text.
pub const MAX_STORED_BYTES: usize = 8 * 1024;

/// A workflow as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct WorkflowRow {
    /// `wfl_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// `active` or `paused`.
    pub status: String,
    /// Current version.
    pub version: i64,
    /// `event`, `cron`, `webhook` or `manual`.
    pub trigger_kind: String,
    /// Event name of event triggers.
    pub trigger_event: Option<String>,
    /// Cron expression of cron triggers.
    pub cron: Option<String>,
    /// Next due time of a cron trigger, ms.
    pub next_run_at: Option<i64>,
    /// Salt of the inbound webhook secret.
    pub hook_salt: Option<String>,
    /// Creation, ms.
    pub created_at: i64,
    /// Last change, ms.
    pub updated_at: i64,
}

/// Columns of [`WorkflowRow`].
pub const WORKFLOW_COLUMNS: &str = "id, org_id, name, status, version, trigger_kind, trigger_event, cron, next_run_at, hook_salt, created_at, updated_at";

/// A run as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct RunRow {
    /// `run_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// `wfl_…`
    pub workflow_id: String,
    /// Pinned definition version.
    pub version: i64,
    /// `queued`, `running`, `paused`, `succeeded`, `failed` or `cancelled`.
    pub status: String,
    /// What started it.
    pub trigger_kind: String,
    /// The trigger payload, JSON.
    pub trigger: String,
    /// JSON `{code, message, step}` of a failure.
    pub error: Option<String>,
    /// Creation, ms.
    pub created_at: i64,
    /// Start, ms.
    pub started_at: Option<i64>,
    /// End, ms.
    pub finished_at: Option<i64>,
    /// Last change, ms.
    pub updated_at: i64,
}

/// Columns of [`RunRow`].
pub const RUN_COLUMNS: &str = "id, org_id, workflow_id, version, status, trigger_kind, trigger, error, created_at, started_at, finished_at, updated_at";

/// A step (or a `for_each` item) of a run as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct StepRow {
    /// Its run.
    pub run_id: String,
    /// The step id; `id[i]` for item `i` of a `for_each`.
    pub step_key: String,
    /// Step type.
    #[serde(rename = "type")]
    pub kind: String,
    /// `pending`, `queued`, `running`, `waiting`, `succeeded`, `failed`, `skipped` or `cancelled`.
    pub status: String,
    /// The job running it.
    pub job_id: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// Resolved input, JSON.
    pub input: Option<String>,
    /// Output, JSON.
    pub output: Option<String>,
    /// JSON `{code, message}` of the last failure.
    pub error: Option<String>,
    /// Event waited for.
    pub wait_event: Option<String>,
    /// Timeout of a wait, ms.
    pub wait_until: Option<i64>,
    /// First start, ms.
    pub started_at: Option<i64>,
    /// End, ms.
    pub finished_at: Option<i64>,
    /// Last change, ms.
    pub updated_at: i64,
}

/// Columns of [`StepRow`].
pub const STEP_COLUMNS: &str = "run_id, step_key, type, status, job_id, attempts, input, output, error, wait_event, wait_until, started_at, finished_at, updated_at";

/// Parameters of an `automation_step` job.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepJobParams {
    /// `run_…`
    pub run_id: String,
    /// The step (or item) key.
    pub step_key: String,
}

/// Whether a step status is final.
pub fn step_ended(status: &str) -> bool {
    matches!(status, "succeeded" | "failed" | "skipped" | "cancelled")
}

/// The audit actor of everything a workflow does: the system, on behalf of the workflow.
pub fn actor(workflow_id: &str) -> (&'static str, &str) {
    ("system", workflow_id)
}

/// The principal steps act as: the workflow itself, with the editor role in its organisation
/// (recorded in the audit trail with the workflow's id).
pub fn principal(workflow_id: &str, org_id: &str) -> Principal {
    Principal::ApiKey {
        key_id: workflow_id.to_string(),
        org_id: org_id.to_string(),
        role: Role::Editor,
    }
}

/// JSON text of `value`, replaced by a summary when over [`MAX_STORED_BYTES`].
pub fn capped(value: &Value) -> String {
    let text = value.to_string();
    if text.len() <= MAX_STORED_BYTES {
        return text;
    }
    let mut end = 1024;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({ "truncated": true, "bytes": text.len(), "preview": &text[..end] }).to_string()
}

/// Writes `changes` with the audit record of a workflow's action, in one batch, without
/// running triggers (a workflow's own actions never start workflows).
pub async fn record(
    ctx: &Ctx,
    db: &Db,
    mut changes: Vec<worker::D1PreparedStatement>,
    record: Record<'_>,
    workflow_id: &str,
) -> AppResult<Vec<usize>> {
    changes.extend(audit::statements(
        ctx,
        db,
        &record,
        Some(actor(workflow_id)),
    )?);
    db.batch(changes).await
}

/// Loads a workflow of `org_id` (any org when `None`).
pub async fn load_workflow(
    db: &Db,
    org_id: Option<&str>,
    workflow_id: &str,
) -> AppResult<Option<WorkflowRow>> {
    let row: Option<WorkflowRow> = db
        .first(
            &format!("SELECT {WORKFLOW_COLUMNS} FROM workflows WHERE id = ?1"),
            args![workflow_id],
        )
        .await?;
    Ok(row.filter(|w| org_id.is_none_or(|org| w.org_id == org)))
}

/// The definition of a workflow's version.
pub async fn load_definition(db: &Db, workflow_id: &str, version: i64) -> AppResult<Definition> {
    #[derive(Deserialize)]
    struct Row {
        definition: String,
    }
    let row: Row = db
        .first(
            "SELECT definition FROM workflow_versions WHERE workflow_id = ?1 AND version = ?2",
            args![workflow_id, version],
        )
        .await?
        .ok_or_else(|| AppError::internal("a workflow version is missing"))?;
    Ok(serde_json::from_str(&row.definition)?)
}

/// Loads a run.
pub async fn load_run(db: &Db, run_id: &str) -> AppResult<Option<RunRow>> {
    db.first(
        &format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = ?1"),
        args![run_id],
    )
    .await
}

/// The steps of a run, in key order.
pub async fn load_steps(db: &Db, run_id: &str) -> AppResult<Vec<StepRow>> {
    db.all(
        &format!("SELECT {STEP_COLUMNS} FROM workflow_steps WHERE run_id = ?1 ORDER BY rowid"),
        args![run_id],
    )
    .await
}

/// Runs of one organisation allowed to be running at once (`AUTOMATION_ORG_MAX_RUNS`, 10);
/// more wait in `queued`.
pub fn max_running(ctx: &Ctx) -> i64 {
    ctx.var_f64("AUTOMATION_ORG_MAX_RUNS", 10.0)
        .clamp(1.0, 1000.0) as i64
}

/// Starts a run of the workflow's current version with `trigger` as its payload; it waits in
/// `queued` while the organisation is at its limit of running runs.
pub async fn start_run(
    ctx: &Ctx,
    db: &Db,
    workflow: &WorkflowRow,
    trigger_kind: &str,
    trigger: &Value,
) -> AppResult<RunRow> {
    let definition = load_definition(db, &workflow.id, workflow.version).await?;
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let running = db
        .first::<Count>(
            "SELECT COUNT(*) AS n FROM workflow_runs WHERE org_id = ?1 AND status = 'running'",
            args![workflow.org_id.as_str()],
        )
        .await?
        .map(|c| c.n)
        .unwrap_or(0);
    let status = if running >= max_running(ctx) {
        "queued"
    } else {
        "running"
    };
    let now = util::now_ms();
    let run_id = util::new_id("run", now);
    let mut changes = vec![db.stmt(
        "INSERT INTO workflow_runs (id, org_id, workflow_id, version, status, trigger_kind, trigger, created_at, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8)",
        args![
            run_id.as_str(),
            workflow.org_id.as_str(),
            workflow.id.as_str(),
            workflow.version,
            status,
            trigger_kind,
            capped(trigger),
            now,
            (status == "running").then_some(now),
        ],
    )?];
    for step in &definition.steps {
        changes.push(db.stmt(
            "INSERT INTO workflow_steps (run_id, step_key, org_id, type, status, updated_at) VALUES (?1, ?2, ?3, ?4, 'pending', ?5)",
            args![run_id.as_str(), step.id.as_str(), workflow.org_id.as_str(), step.kind.as_str(), now],
        )?);
    }
    let audit = Record::success(
        Some(&workflow.org_id),
        "workflow.run.start",
        Some(("workflow_run", &run_id)),
    )
    .with_details(json!({
        "workflow_id": workflow.id, "version": workflow.version,
        "trigger_kind": trigger_kind, "status": status,
    }));
    record(ctx, db, changes, audit, &workflow.id).await?;
    if status == "running" {
        advance(ctx, db, &run_id).await?;
    }
    load_run(db, &run_id)
        .await?
        .ok_or_else(|| AppError::internal("the new run was not found"))
}

/// The scope templates read: the trigger, the run, succeeded steps' outputs and the item.
fn scope(run: &RunRow, steps: &[StepRow], item: Option<&Value>) -> Value {
    let mut outputs = serde_json::Map::new();
    for step in steps {
        if step.status == "succeeded" && !step.step_key.contains('[') {
            let output = step
                .output
                .as_deref()
                .and_then(|o| serde_json::from_str(o).ok())
                .unwrap_or(Value::Null);
            outputs.insert(step.step_key.clone(), json!({ "output": output }));
        }
    }
    json!({
        "trigger": serde_json::from_str::<Value>(&run.trigger).unwrap_or(Value::Null),
        "run": { "id": run.id, "workflow_id": run.workflow_id, "version": run.version },
        "steps": outputs,
        "item": item.cloned().unwrap_or(Value::Null),
    })
}

fn item_key(step_id: &str, index: usize) -> String {
    format!("{step_id}[{index}]")
}

/// Splits `id[i]` into the `for_each` step id and the item index.
fn parse_item_key(key: &str) -> Option<(&str, usize)> {
    let (id, rest) = key.split_once('[')?;
    Some((id, rest.strip_suffix(']')?.parse().ok()?))
}

/// Queues whatever became ready in a running run, skips what a branch or a skipped
/// dependency rules out, drives `for_each` items and ends the run when every step has ended.
pub async fn advance(ctx: &Ctx, db: &Db, run_id: &str) -> AppResult<()> {
    // A pass may end a for_each (or skip a branch) and so make more steps ready: pass again
    // until a pass changes nothing that could unblock another step.
    for _ in 0..(2 * super::model::MAX_STEPS + 2) {
        if !advance_once(ctx, db, run_id).await? {
            break;
        }
    }
    Ok(())
}

/// One pass of [`advance`]; true when another pass may find more to do.
async fn advance_once(ctx: &Ctx, db: &Db, run_id: &str) -> AppResult<bool> {
    let Some(run) = load_run(db, run_id).await? else {
        return Ok(false);
    };
    if run.status != "running" {
        return Ok(false);
    }
    let definition = load_definition(db, &run.workflow_id, run.version).await?;
    let rows = load_steps(db, run_id).await?;
    let mut status: HashMap<String, String> = rows
        .iter()
        .map(|r| (r.step_key.clone(), r.status.clone()))
        .collect();
    let outputs: HashMap<&str, Value> = rows
        .iter()
        .filter_map(|r| {
            let output = serde_json::from_str(r.output.as_deref()?).ok()?;
            Some((r.step_key.as_str(), output))
        })
        .collect();
    if let Some(failed) = definition
        .steps
        .iter()
        .find(|s| status.get(&s.id).map(String::as_str) == Some("failed"))
    {
        let error = json!({"code": "step_failed", "message": format!("step {} failed", failed.id), "step": failed.id});
        finish_run(ctx, db, &run, "failed", Some(error)).await?;
        return Ok(false);
    }
    let now = util::now_ms();
    let mut ready: Vec<&Step> = Vec::new();
    // Skips propagate down the graph: repeat until nothing changes.
    loop {
        let mut changed = false;
        for step in &definition.steps {
            if status.get(&step.id).map(String::as_str) != Some("pending") {
                continue;
            }
            let deps: Vec<&str> = step
                .after
                .iter()
                .map(|d| status.get(d).map(String::as_str).unwrap_or("pending"))
                .collect();
            if !deps.iter().all(|s| matches!(*s, "succeeded" | "skipped")) {
                continue;
            }
            let branch_excluded = step.after.iter().any(|dependency| {
                let Some(condition) = definition.step(dependency) else {
                    return false;
                };
                if condition.kind != StepType::Condition {
                    return false;
                }
                let result = outputs
                    .get(dependency.as_str())
                    .and_then(|o| o["result"].as_bool())
                    .unwrap_or(false);
                (condition.then.contains(&step.id) && !result)
                    || (condition.otherwise.contains(&step.id) && result)
            });
            if branch_excluded || deps.contains(&"skipped") {
                db.run(
                    "UPDATE workflow_steps SET status = 'skipped', finished_at = ?1, updated_at = ?1
                     WHERE run_id = ?2 AND step_key = ?3 AND status = 'pending'",
                    args![now, run_id, step.id.as_str()],
                )
                .await?;
                status.insert(step.id.clone(), "skipped".into());
                changed = true;
            } else if !ready.iter().any(|r| r.id == step.id) {
                ready.push(step);
            }
        }
        if !changed {
            break;
        }
    }
    for step in ready {
        if step.kind == StepType::ForEach {
            start_for_each(ctx, db, &run, &rows, step).await?;
        } else {
            let delay = (step.kind == StepType::Delay).then(|| step.seconds.unwrap_or(1) as u32);
            queue_step(ctx, db, &run, &step.id, step.max_attempts, delay).await?;
        }
    }
    for step in &definition.steps {
        if step.kind == StepType::ForEach
            && status.get(&step.id).map(String::as_str) == Some("running")
        {
            drive_for_each(ctx, db, &run, step).await?;
        }
    }
    // Read again: queued work may already have ended, and this call may be the last word.
    let rows = load_steps(db, run_id).await?;
    let top: Vec<&StepRow> = rows.iter().filter(|r| !r.step_key.contains('[')).collect();
    let ended_well = |key: &str| {
        top.iter()
            .any(|r| r.step_key == key && matches!(r.status.as_str(), "succeeded" | "skipped"))
    };
    let newly_ready = definition.steps.iter().any(|step| {
        top.iter()
            .any(|r| r.step_key == step.id && r.status == "pending")
            && step.after.iter().all(|d| ended_well(d))
    });
    if top
        .iter()
        .all(|r| matches!(r.status.as_str(), "succeeded" | "skipped"))
    {
        finish_run(ctx, db, &run, "succeeded", None).await?;
    } else if let Some(failed) = top.iter().find(|r| r.status == "failed") {
        let error = failed
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .unwrap_or(json!({}));
        let error = json!({"code": error["code"].as_str().unwrap_or("step_failed"),
            "message": error["message"].as_str().unwrap_or("a step failed"), "step": failed.step_key});
        finish_run(ctx, db, &run, "failed", Some(error)).await?;
    } else {
        return Ok(newly_ready);
    }
    Ok(false)
}

/// Claims a pending step and queues its job (after `delay` seconds for `delay` steps).
async fn queue_step(
    ctx: &Ctx,
    db: &Db,
    run: &RunRow,
    step_key: &str,
    max_attempts: Option<u32>,
    delay: Option<u32>,
) -> AppResult<()> {
    let now = util::now_ms();
    let claimed = db
        .run(
            "UPDATE workflow_steps SET status = 'queued', updated_at = ?1
             WHERE run_id = ?2 AND step_key = ?3 AND status = 'pending'",
            args![now, run.id.as_str(), step_key],
        )
        .await?;
    if claimed == 0 {
        return Ok(());
    }
    let config = Config::from_env(&ctx.env);
    let job_id = util::new_id("job", now);
    let params = StepJobParams {
        run_id: run.id.clone(),
        step_key: step_key.to_string(),
    };
    let insert = db.stmt(
        "INSERT INTO jobs (id, org_id, project_id, kind, priority, params, status, attempts, max_attempts, progress,
                           result_asset_ids, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, NULL, 'automation_step', 'batch', ?3, 'queued', 0, ?4, 0, '[]', 'system', ?5, ?6, ?6)",
        args![
            job_id.as_str(),
            run.org_id.as_str(),
            serde_json::to_string(&params)?,
            i64::from(max_attempts.unwrap_or(config.max_attempts)),
            run.workflow_id.as_str(),
            now
        ],
    )?;
    let link = db.stmt(
        "UPDATE workflow_steps SET job_id = ?1 WHERE run_id = ?2 AND step_key = ?3",
        args![job_id.as_str(), run.id.as_str(), step_key],
    )?;
    let audit = Record::success(Some(&run.org_id), "job.create", Some(("job", &job_id)))
        .with_details(json!({ "kind": "automation_step", "run_id": run.id, "step": step_key }));
    record(ctx, db, vec![insert, link], audit, &run.workflow_id).await?;
    jobs::api::enqueue(
        &ctx.env,
        "batch",
        vec![JobMessage::AutomationStep { job_id }],
        delay,
    )
    .await
}

/// Resolves a `for_each` step's items, records one row per item and queues the first ones.
async fn start_for_each(
    ctx: &Ctx,
    db: &Db,
    run: &RunRow,
    rows: &[StepRow],
    step: &Step,
) -> AppResult<()> {
    let now = util::now_ms();
    let items = template::render(
        step.items.as_ref().unwrap_or(&Value::Null),
        &scope(run, rows, None),
    );
    let items = match items {
        Value::Array(items) if items.len() <= MAX_ITEMS => items,
        Value::Array(items) => {
            let error = json!({"code": "too_many_items", "message": format!("{} items; at most {MAX_ITEMS}", items.len())});
            return fail_step(ctx, db, run, &step.id, error).await;
        }
        other => {
            let error = json!({"code": "invalid_items", "message": format!("items must be a list, not {other}")});
            return fail_step(ctx, db, run, &step.id, error).await;
        }
    };
    let claimed = db
        .run(
            "UPDATE workflow_steps SET status = 'running', input = ?1, started_at = ?2, updated_at = ?2
             WHERE run_id = ?3 AND step_key = ?4 AND status = 'pending'",
            args![capped(&json!({ "items": items })), now, run.id.as_str(), step.id.as_str()],
        )
        .await?;
    if claimed == 0 {
        return Ok(());
    }
    let each = step
        .each
        .as_deref()
        .map(|e| e.kind)
        .unwrap_or(StepType::Command);
    let mut inserts = Vec::new();
    for (index, item) in items.iter().enumerate() {
        inserts.push(db.stmt(
            "INSERT OR IGNORE INTO workflow_steps (run_id, step_key, org_id, type, status, input, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6)",
            args![run.id.as_str(), item_key(&step.id, index), run.org_id.as_str(), each.as_str(), capped(&json!({ "item": item })), now],
        )?);
    }
    if !inserts.is_empty() {
        db.batch(inserts).await?;
    }
    drive_for_each(ctx, db, run, step).await
}

/// Queues a `for_each` step's items up to its concurrency, and ends it when they have.
async fn drive_for_each(ctx: &Ctx, db: &Db, run: &RunRow, step: &Step) -> AppResult<()> {
    let prefix = format!("{}[", step.id);
    let rows: Vec<StepRow> = load_steps(db, &run.id)
        .await?
        .into_iter()
        .filter(|r| r.step_key.starts_with(&prefix))
        .collect();
    if let Some(failed) = rows.iter().find(|r| r.status == "failed") {
        let error = failed
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .unwrap_or(json!({}));
        let error = json!({"code": error["code"].as_str().unwrap_or("item_failed"),
            "message": format!("item {}: {}", failed.step_key, error["message"].as_str().unwrap_or("failed"))});
        return fail_step(ctx, db, run, &step.id, error).await;
    }
    if rows.iter().all(|r| r.status == "succeeded") {
        let mut outputs: Vec<(usize, Value)> = rows
            .iter()
            .map(|r| {
                let index = parse_item_key(&r.step_key).map(|(_, i)| i).unwrap_or(0);
                let output = r
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(Value::Null);
                (index, output)
            })
            .collect();
        outputs.sort_by_key(|(index, _)| *index);
        let output = json!({ "count": outputs.len(), "outputs": outputs.into_iter().map(|(_, o)| o).collect::<Vec<_>>() });
        let now = util::now_ms();
        db.run(
            "UPDATE workflow_steps SET status = 'succeeded', output = ?1, finished_at = ?2, updated_at = ?2
             WHERE run_id = ?3 AND step_key = ?4 AND status = 'running'",
            args![capped(&output), now, run.id.as_str(), step.id.as_str()],
        )
        .await?;
        return Ok(());
    }
    let in_flight = rows
        .iter()
        .filter(|r| matches!(r.status.as_str(), "queued" | "running" | "waiting"))
        .count();
    let room = (step.concurrency.unwrap_or(1) as usize).saturating_sub(in_flight);
    let each = step.each.as_deref();
    let delay = each
        .filter(|e| e.kind == StepType::Delay)
        .map(|e| e.seconds.unwrap_or(1) as u32);
    for row in rows.iter().filter(|r| r.status == "pending").take(room) {
        queue_step(
            ctx,
            db,
            run,
            &row.step_key,
            each.and_then(|e| e.max_attempts),
            delay,
        )
        .await?;
    }
    Ok(())
}

/// Fails a step (and, for an item, its `for_each`), then the run.
pub async fn fail_step(
    ctx: &Ctx,
    db: &Db,
    run: &RunRow,
    step_key: &str,
    error: Value,
) -> AppResult<()> {
    let now = util::now_ms();
    db.run(
        "UPDATE workflow_steps SET status = 'failed', error = ?1, finished_at = ?2, updated_at = ?2
         WHERE run_id = ?3 AND step_key = ?4 AND status NOT IN ('succeeded', 'failed', 'skipped', 'cancelled')",
        args![error.to_string(), now, run.id.as_str(), step_key],
    )
    .await?;
    let (step, error) = match parse_item_key(step_key) {
        Some((parent, _)) => {
            let message = format!(
                "item {step_key}: {}",
                error["message"].as_str().unwrap_or("failed")
            );
            let error = json!({ "code": error["code"], "message": message });
            db.run(
                "UPDATE workflow_steps SET status = 'failed', error = ?1, finished_at = ?2, updated_at = ?2
                 WHERE run_id = ?3 AND step_key = ?4 AND status NOT IN ('succeeded', 'failed', 'skipped', 'cancelled')",
                args![error.to_string(), now, run.id.as_str(), parent],
            )
            .await?;
            (parent.to_string(), error)
        }
        None => (step_key.to_string(), error),
    };
    let run_error = json!({ "code": error["code"], "message": error["message"], "step": step });
    finish_run(ctx, db, run, "failed", Some(run_error)).await
}

/// Ends a run that has not ended: its unfinished steps are cancelled, their queued jobs too,
/// and the next queued run of the organisation may start.
pub async fn finish_run(
    ctx: &Ctx,
    db: &Db,
    run: &RunRow,
    status: &str,
    error: Option<Value>,
) -> AppResult<()> {
    let now = util::now_ms();
    // Fails the batch (the status CHECK refuses '-') unless the run is still unfinished, so
    // that the end and its audit record are written once.
    let guard = db.stmt(
        "UPDATE workflow_runs SET status = '-' WHERE id = ?1 AND status NOT IN ('queued', 'running', 'paused')",
        args![run.id.as_str()],
    )?;
    let update = db.stmt(
        "UPDATE workflow_runs SET status = ?1, error = ?2, finished_at = ?3, updated_at = ?3 WHERE id = ?4",
        args![status, error.as_ref().map(Value::to_string), now, run.id.as_str()],
    )?;
    let steps = db.stmt(
        "UPDATE workflow_steps SET status = 'cancelled', finished_at = ?1, updated_at = ?1
         WHERE run_id = ?2 AND status IN ('pending', 'queued', 'waiting')",
        args![now, run.id.as_str()],
    )?;
    let jobs = db.stmt(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?1, updated_at = ?1
         WHERE kind = 'automation_step' AND status = 'queued' AND org_id = ?2
           AND id IN (SELECT job_id FROM workflow_steps WHERE run_id = ?3 AND job_id IS NOT NULL)",
        args![now, run.org_id.as_str(), run.id.as_str()],
    )?;
    let action = match status {
        "succeeded" => "workflow.run.succeed",
        "cancelled" => "workflow.run.cancel",
        _ => "workflow.run.fail",
    };
    let mut audit = Record::success(Some(&run.org_id), action, Some(("workflow_run", &run.id)))
        .with_details(
            json!({ "workflow_id": run.workflow_id, "version": run.version, "error": error }),
        );
    if status == "failed" {
        audit.outcome = audit::Outcome::Failure;
    }
    if record(
        ctx,
        db,
        vec![guard, update, steps, jobs],
        audit,
        &run.workflow_id,
    )
    .await
    .is_err()
    {
        // Already ended (a concurrent finisher won), or D1 failed: either way nothing to add.
        return Ok(());
    }
    start_queued_runs(ctx, db, &run.org_id).await
}

/// Starts queued runs of an organisation while it is under its limit of running runs.
pub async fn start_queued_runs(ctx: &Ctx, db: &Db, org_id: &str) -> AppResult<()> {
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let running = db
        .first::<Count>(
            "SELECT COUNT(*) AS n FROM workflow_runs WHERE org_id = ?1 AND status = 'running'",
            args![org_id],
        )
        .await?
        .map(|c| c.n)
        .unwrap_or(0);
    let room = max_running(ctx) - running;
    if room <= 0 {
        return Ok(());
    }
    let queued: Vec<RunRow> = db
        .all(
            &format!("SELECT {RUN_COLUMNS} FROM workflow_runs WHERE org_id = ?1 AND status = 'queued' ORDER BY id LIMIT ?2"),
            args![org_id, room],
        )
        .await?;
    for run in queued {
        let now = util::now_ms();
        let started = db
            .run(
                "UPDATE workflow_runs SET status = 'running', started_at = ?1, updated_at = ?1 WHERE id = ?2 AND status = 'queued'",
                args![now, run.id.as_str()],
            )
            .await?;
        if started == 1 {
            // Boxed: advancing a run may end it, which starts queued runs again.
            Box::pin(advance(ctx, db, &run.id)).await?;
        }
    }
    Ok(())
}

/// What a step's work ended with.
enum Done {
    /// Finished with this output.
    Output(Value),
    /// Parked until an event (if named) or an approval, at most until `until`.
    Waiting {
        /// Event name for `wait_event`.
        event: Option<String>,
        /// Timeout, ms.
        until: i64,
    },
}

/// Ends an `automation_step` job successfully (it did its part, or had nothing to do).
async fn complete_job(
    ctx: &Ctx,
    db: &Db,
    job: &JobRow,
    workflow_id: &str,
    details: Value,
) -> Result<(), JobError> {
    let now = util::now_ms();
    let update = db.stmt(
        "UPDATE jobs SET status = 'succeeded', progress = 100, error = NULL, finished_at = ?1, updated_at = ?1
         WHERE id = ?2 AND status = 'running'",
        args![now, job.id.as_str()],
    )?;
    let guard = jobs::guard_status(db, &job.id, &["running"])?;
    let audit = Record::success(Some(&job.org_id), "job.succeed", Some(("job", &job.id)))
        .with_details(details);
    // A cancel that raced the work leaves the job cancelled.
    let _ = record(ctx, db, vec![guard, update], audit, workflow_id).await;
    Ok(())
}

/// Runs an `automation_step` job: one step (or item) of a run.
pub async fn run_job(ctx: &Ctx, db: &Db, config: &Config, job: &JobRow) -> Result<(), JobError> {
    let params: StepJobParams = serde_json::from_str(&job.params)
        .map_err(|e| JobError::permanent("invalid_params", format!("job parameters: {e}")))?;
    let Some(attempt) = jobs::render::start(ctx, db, job).await? else {
        return Ok(());
    };
    let Some(run) = load_run(db, &params.run_id).await? else {
        return Err(JobError::permanent(
            "run_not_found",
            "the run no longer exists",
        ));
    };
    let steps = load_steps(db, &run.id).await?;
    let Some(row) = steps
        .iter()
        .find(|s| s.step_key == params.step_key)
        .cloned()
    else {
        return Err(JobError::permanent(
            "step_not_found",
            "the step no longer exists",
        ));
    };
    if step_ended(&row.status) || row.status == "waiting" || run.status != "running" {
        // Redelivered after the step ended, or the run is paused (resume queues it again),
        // cancelled or over.
        if run.status == "paused" && row.status == "queued" {
            db.run(
                "UPDATE workflow_steps SET job_id = NULL WHERE run_id = ?1 AND step_key = ?2 AND status = 'queued'",
                args![run.id.as_str(), row.step_key.as_str()],
            )
            .await?;
        }
        return complete_job(
            ctx,
            db,
            job,
            &run.workflow_id,
            json!({"kind": job.kind, "run_id": run.id, "step": row.step_key, "noop": true}),
        )
        .await;
    }
    let definition = load_definition(db, &run.workflow_id, run.version).await?;
    let (step, item) = match parse_item_key(&row.step_key) {
        Some((parent, _)) => {
            let each = definition
                .step(parent)
                .and_then(|p| p.each.as_deref())
                .ok_or_else(|| {
                    JobError::permanent("step_not_found", "the for_each step has no `each`")
                })?;
            let item = row
                .input
                .as_deref()
                .and_then(|i| serde_json::from_str::<Value>(i).ok())
                .map(|i| i["item"].clone());
            (each, item)
        }
        None => (
            definition.step(&row.step_key).ok_or_else(|| {
                JobError::permanent("step_not_found", "the definition has no such step")
            })?,
            None,
        ),
    };
    let now = util::now_ms();
    db.run(
        "UPDATE workflow_steps SET status = 'running', attempts = ?1, started_at = COALESCE(started_at, ?2), updated_at = ?2
         WHERE run_id = ?3 AND step_key = ?4 AND status IN ('queued', 'running')",
        args![attempt, now, run.id.as_str(), row.step_key.as_str()],
    )
    .await?;
    let scope = scope(&run, &steps, item.as_ref());
    let key = format!("{}:{}", run.id, row.step_key);
    let (input, result) = execute(ctx, config, &run, step, &scope, &key).await;
    let now = util::now_ms();
    let input_text = input.as_ref().map(capped);
    match result {
        Ok(Done::Output(output)) => {
            let update = db.stmt(
                "UPDATE workflow_steps SET status = 'succeeded', input = COALESCE(?1, input), output = ?2, error = NULL,
                        finished_at = ?3, updated_at = ?3
                 WHERE run_id = ?4 AND step_key = ?5 AND status = 'running'",
                args![input_text, capped(&output), now, run.id.as_str(), row.step_key.as_str()],
            )?;
            let job_update = db.stmt(
                "UPDATE jobs SET status = 'succeeded', progress = 100, error = NULL, finished_at = ?1, updated_at = ?1
                 WHERE id = ?2 AND status = 'running'",
                args![now, job.id.as_str()],
            )?;
            let audit = Record::success(Some(&run.org_id), "workflow.step.succeed", Some(("workflow_run", &run.id)))
                .with_details(json!({ "step": row.step_key, "type": step.kind.as_str(), "attempts": attempt, "job_id": job.id }));
            record(ctx, db, vec![update, job_update], audit, &run.workflow_id).await?;
            advance(ctx, db, &run.id).await?;
            Ok(())
        }
        Ok(Done::Waiting { event, until }) => {
            db.run(
                "UPDATE workflow_steps SET status = 'waiting', input = COALESCE(?1, input), wait_event = ?2, wait_until = ?3, updated_at = ?4
                 WHERE run_id = ?5 AND step_key = ?6 AND status = 'running'",
                args![input_text, event, until, now, run.id.as_str(), row.step_key.as_str()],
            )
            .await?;
            complete_job(
                ctx,
                db,
                job,
                &run.workflow_id,
                json!({"kind": job.kind, "run_id": run.id, "step": row.step_key, "waiting": true}),
            )
            .await
        }
        Err(error) => {
            db.run(
                "UPDATE workflow_steps SET input = COALESCE(?1, input), error = ?2, updated_at = ?3
                 WHERE run_id = ?4 AND step_key = ?5 AND status = 'running'",
                args![
                    input_text,
                    error.to_json(),
                    now,
                    run.id.as_str(),
                    row.step_key.as_str()
                ],
            )
            .await?;
            Err(error)
        }
    }
}

/// After an `automation_step` job ended without success (failed for good, or out of
/// attempts): its step fails with the job's error, and so does the run.
pub async fn job_ended(ctx: &Ctx, db: &Db, job: &JobRow) {
    if job.kind != "automation_step" || !matches!(job.status.as_str(), "failed" | "dead") {
        return;
    }
    let result: AppResult<()> = async {
        let params: StepJobParams = serde_json::from_str(&job.params)?;
        let Some(run) = load_run(db, &params.run_id).await? else {
            return Ok(());
        };
        let error = job
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .unwrap_or(json!({"code": "failed", "message": "the step failed"}));
        let error =
            json!({ "code": error["code"], "message": error["message"], "attempts": job.attempts });
        db.run(
            "UPDATE workflow_steps SET attempts = ?1 WHERE run_id = ?2 AND step_key = ?3",
            args![job.attempts, run.id.as_str(), params.step_key.as_str()],
        )
        .await?;
        fail_step(ctx, db, &run, &params.step_key, error).await
    }
    .await;
    if let Err(error) = result {
        jobs::log(
            "error",
            "workflow step failure not recorded",
            &job.id,
            &error.internal.unwrap_or(error.message),
        );
    }
}

fn permanent_or_transient(error: AppError) -> JobError {
    if error.status < 500 {
        JobError::permanent(&error.code, error.message)
    } else {
        JobError::transient(&error.code, error.internal.unwrap_or(error.message))
    }
}

fn string_input<'a>(input: &'a Value, field: &str) -> Result<&'a str, JobError> {
    input[field]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            JobError::permanent(
                "invalid_input",
                format!("input.{field} must be a non-empty string"),
            )
        })
}

/// Runs a route of the API as the workflow (same handler, checks and audit as over HTTP).
async fn call(
    ctx: &Ctx,
    run: &RunRow,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, JobError> {
    let principal = principal(&run.workflow_id, &run.org_id);
    let mut response = crate::mcp::call_route(ctx, &principal, method, path, &[], body)
        .await
        .map_err(permanent_or_transient)?;
    let status = response.status_code();
    let value: Value = response.json().await.unwrap_or(Value::Null);
    match status {
        200..=299 => Ok(value),
        500..=599 => Err(JobError::transient(
            "internal_error",
            format!("the operation answered {status}"),
        )),
        _ => Err(JobError::permanent(
            value["error"]["code"].as_str().unwrap_or("refused"),
            value["error"]["message"]
                .as_str()
                .unwrap_or("the operation was refused")
                .to_string(),
        )),
    }
}

fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

/// Does a step's work. Returns the resolved input (for the run history) and the outcome.
async fn execute(
    ctx: &Ctx,
    config: &Config,
    run: &RunRow,
    step: &Step,
    scope: &Value,
    key: &str,
) -> (Option<Value>, Result<Done, JobError>) {
    let input = match (step.kind, &step.filter) {
        // A wait's filter may read the trigger and earlier outputs: it is resolved now and
        // kept as the step's input, which the audit hook matches events against.
        (StepType::WaitEvent, filter) => Some(json!({
            "event": step.event,
            "match": template::render(&Value::Object(filter.clone().unwrap_or_default()), scope),
        })),
        _ => step.input.as_ref().map(|i| template::render(i, scope)),
    };
    let result = match step.kind {
        StepType::Command => {
            command(ctx, run, step, input.as_ref().unwrap_or(&Value::Null), key).await
        }
        StepType::McpTool => mcp_tool(ctx, run, step, input.clone()).await,
        StepType::Webhook => webhook(ctx, config, run, step, scope, input.clone(), key).await,
        StepType::Delay => Ok(Done::Output(json!({ "seconds": step.seconds }))),
        StepType::WaitEvent => Ok(Done::Waiting {
            event: step.event.clone(),
            until: util::now_ms() + step.timeout_seconds.unwrap_or(3600) as i64 * 1000,
        }),
        StepType::Approval => Ok(Done::Waiting {
            event: None,
            until: util::now_ms()
                + step
                    .timeout_seconds
                    .unwrap_or(super::model::DEFAULT_APPROVAL_SECONDS) as i64
                    * 1000,
        }),
        StepType::Condition => match &step.condition {
            Some(condition) => {
                let left = template::render(&condition.left, scope);
                let right = template::render(&condition.right, scope);
                let result = Condition::evaluate(condition.op, &left, &right);
                Ok(Done::Output(
                    json!({ "result": result, "left": left, "right": right }),
                ))
            }
            None => Err(JobError::permanent(
                "invalid_definition",
                "the condition has no `if`",
            )),
        },
        StepType::ForEach => Err(JobError::permanent(
            "invalid_definition",
            "for_each steps run as their items",
        )),
    };
    (input, result)
}

async fn command(
    ctx: &Ctx,
    run: &RunRow,
    step: &Step,
    input: &Value,
    key: &str,
) -> Result<Done, JobError> {
    let name = step.command.as_deref().unwrap_or("");
    if !COMMANDS.iter().any(|(known, _, _)| *known == name) {
        return Err(JobError::permanent(
            "unknown_command",
            format!("unknown command {name:?}"),
        ));
    }
    let without = |field: &str| {
        let mut body = input.clone();
        if let Some(map) = body.as_object_mut() {
            map.remove(field);
        }
        body
    };
    let output = match name {
        "make_thumbnail" => {
            let asset_id = string_input(input, "asset_id")?;
            let thumbnail = crate::assets::derive::make_thumbnail(&ctx.env, &run.org_id, asset_id)
                .await
                .map_err(permanent_or_transient)?;
            json!({ "asset_id": asset_id, "thumbnail_asset_id": thumbnail })
        }
        "tag_asset" => {
            let asset_id = string_input(input, "asset_id")?;
            let wanted: Vec<String> = match &input["tags"] {
                Value::String(tag) => vec![tag.clone()],
                Value::Array(tags) => tags
                    .iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
                _ => {
                    return Err(JobError::permanent(
                        "invalid_input",
                        "input.tags must be a list of strings",
                    ))
                }
            };
            let path = format!("/v1/assets/{}", encode(asset_id));
            let current = call(ctx, run, Method::Get, &path, None).await?;
            let mut tags: Vec<String> = current["asset"]["tags"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            for tag in wanted {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
            let updated = call(
                ctx,
                run,
                Method::Patch,
                &path,
                Some(&json!({ "tags": tags })),
            )
            .await?;
            json!({ "asset_id": asset_id, "tags": updated["asset"]["tags"] })
        }
        "apply_commands" => {
            let project_id = string_input(input, "project_id")?;
            let mut body = without("project_id");
            body["idempotency_key"] = Value::String(key.chars().take(64).collect());
            call(
                ctx,
                run,
                Method::Post,
                &format!("/v1/projects/{}/commands", encode(project_id)),
                Some(&body),
            )
            .await?
        }
        "post_comment" => {
            let project_id = string_input(input, "project_id")?;
            let mut body = without("project_id");
            if body.get("anchor").is_none() {
                body["anchor"] = json!({});
            }
            call(
                ctx,
                run,
                Method::Post,
                &format!("/v1/projects/{}/threads", encode(project_id)),
                Some(&body),
            )
            .await?
        }
        _ => {
            let project_id = string_input(input, "project_id")?;
            let body = without("project_id");
            call(
                ctx,
                run,
                Method::Post,
                &format!("/v1/projects/{}/renders", encode(project_id)),
                Some(&body),
            )
            .await?
        }
    };
    Ok(Done::Output(output))
}

async fn mcp_tool(
    ctx: &Ctx,
    run: &RunRow,
    step: &Step,
    input: Option<Value>,
) -> Result<Done, JobError> {
    let caller = crate::mcp::Caller {
        principal: principal(&run.workflow_id, &run.org_id),
        memberships: vec![(run.org_id.clone(), Role::Editor)],
    };
    let mut inner = jobs::system_ctx(&ctx.env)?;
    inner.principal = Some(caller.principal.clone());
    let params = json!({ "name": step.tool, "arguments": input.unwrap_or(json!({})) });
    let result = crate::mcp::catalog::call(&mut inner, &caller, &params)
        .await
        .map_err(|e| JobError::transient("tool_failed", e.message))?;
    if result["isError"].as_bool() == Some(true) {
        let error = &result["structuredContent"]["error"];
        return Err(JobError::permanent(
            error["code"].as_str().unwrap_or("tool_error"),
            error["message"]
                .as_str()
                .unwrap_or("the tool reported an error")
                .to_string(),
        ));
    }
    Ok(Done::Output(
        result.get("structuredContent").cloned().unwrap_or(result),
    ))
}

/// `webhook`: a signed POST (the jobs' signature scheme and secret), retried with backoff on
/// 408, 429, 5xx and network errors. The delivery id `run_id:step` is the same on every retry.
async fn webhook(
    ctx: &Ctx,
    config: &Config,
    run: &RunRow,
    step: &Step,
    scope: &Value,
    input: Option<Value>,
    key: &str,
) -> Result<Done, JobError> {
    let url = match template::render(&Value::String(step.url.clone().unwrap_or_default()), scope) {
        Value::String(url) => url,
        other => other.to_string(),
    };
    let url = jobs::webhook::check_url(&url, config)
        .map_err(|e| JobError::permanent("invalid_webhook_url", e.message))?;
    let event = step
        .event
        .clone()
        .unwrap_or_else(|| "workflow.step".to_string());
    let body = json!({
        "type": event,
        "workflow_id": run.workflow_id,
        "run_id": run.id,
        "step": step.id,
        "data": input.unwrap_or_else(|| scope["trigger"].clone()),
    })
    .to_string();
    let secret = ctx.var("WEBHOOK_SIGNING_SECRET").ok_or_else(|| {
        JobError::transient(
            "webhook_secret_missing",
            "WEBHOOK_SIGNING_SECRET is not configured",
        )
    })?;
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("user-agent", "creator-os-webhooks/1")?;
    headers.set("x-creator-os-event", &event)?;
    headers.set("x-creator-os-delivery", key)?;
    headers.set(
        "x-creator-os-signature",
        &jobs::webhook::signature(secret.as_bytes(), util::now_ms() / 1000, &body),
    )?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let request = Request::new_with_init(url.as_str(), &init)?;
    let status = match Fetch::Request(request).send().await {
        Ok(response) => response.status_code(),
        Err(error) => {
            return Err(JobError::transient(
                "webhook_unreachable",
                format!("the receiver could not be reached: {error}"),
            ))
        }
    };
    match status {
        200..=299 => Ok(Done::Output(
            json!({ "status": status, "url": url.as_str(), "event": event }),
        )),
        408 | 429 | 500..=599 => Err(JobError::transient(
            "webhook_refused",
            format!("the receiver answered {status}"),
        )),
        _ => Err(JobError::permanent(
            "webhook_rejected",
            format!("the receiver answered {status}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_keys_round_trip_and_outputs_are_capped() {
        assert_eq!(
            parse_item_key(&item_key("each_asset", 12)),
            Some(("each_asset", 12))
        );
        assert_eq!(parse_item_key("plain"), None);
        let big = json!({ "text": "x".repeat(MAX_STORED_BYTES * 2) });
        let stored: Value = serde_json::from_str(&capped(&big)).unwrap_or(Value::Null);
        assert_eq!(stored["truncated"], json!(true));
        assert!(capped(&big).len() < MAX_STORED_BYTES);
        assert_eq!(capped(&json!({"a": 1})), "{\"a\":1}");
    }
}
