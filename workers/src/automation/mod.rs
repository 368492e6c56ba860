//! Automation & workflow engine (module 03): no-code workflows that react to the platform's
//! events, schedules, signed inbound webhooks and manual runs, and run their steps durably on
//! the jobs queues.
//!
//! # Data model
//! - `workflows`: one row per workflow (trigger columns for fast matching, current version).
//! - `workflow_versions`: every saved definition ([`model::Definition`]); each is also an
//!   asset of kind `document` tagged `workflow` (the JSON in R2), derived from the previous
//!   version's asset in the lineage graph, so definitions live in the asset graph.
//! - `workflow_runs` / `workflow_steps`: a run pins the version it started with; each step (and
//!   each `for_each` item) has its status, resolved input, output (both size-capped), error,
//!   attempts and timing.
//!
//! # Flow
//! A trigger starts a run ([`engine::start_run`]): from [`on_event`] (called by
//! [`crate::audit::commit`] after every successful audited change of an organisation), from
//! [`tick`] (the Worker's cron trigger: due cron workflows, timeouts of waits and approvals),
//! from `POST /v1/hooks/{workflow_id}` (HMAC-signed) or `POST …/runs`. [`engine::advance`]
//! queues the ready steps as `automation_step` jobs; the jobs consumer runs them through
//! [`engine::run_job`] with the jobs' admission, retries, backoff and dead-letter queue.
//!
//! # Actors
//! A workflow's own changes are audited as the `system` actor with the workflow's id, and never
//! trigger workflows (so a workflow that tags assets on `asset.update` cannot loop).

pub mod api;
pub mod cron;
pub mod engine;
pub mod model;
pub mod template;

use futures_util::future::LocalBoxFuture;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::Sha256;
use worker::Env;

use crate::args;
use crate::audit::{Outcome, Record};
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::util;

/// The inbound webhook secret of a workflow: HMAC-SHA256 of `workflow_id:salt` under the
/// Worker secret `AUTOMATION_HOOK_SECRET`. Only the salt is stored; the secret is shown once.
pub fn hook_secret(ctx: &Ctx, workflow_id: &str, salt: &str) -> AppResult<String> {
    let master = ctx.var("AUTOMATION_HOOK_SECRET").ok_or_else(|| {
        AppError::new(
            503,
            "hooks_not_configured",
            "inbound webhooks need the AUTOMATION_HOOK_SECRET secret",
        )
    })?;
    let mut mac = Hmac::<Sha256>::new_from_slice(master.as_bytes()).map_err(AppError::internal)?;
    mac.update(format!("{workflow_id}:{salt}").as_bytes());
    Ok(format!(
        "whsec_{}",
        util::b64url(&mac.finalize().into_bytes())
    ))
}

/// The payload templates see as `{{trigger.…}}` for an audited event: its name, actor,
/// target (also as `<type>_id`, e.g. `asset_id`) and its details.
pub fn event_payload(ctx: &Ctx, record: &Record<'_>, actor: Option<(&str, &str)>) -> Value {
    let (actor_type, actor_id) = crate::audit::actor_of(ctx, actor);
    let mut payload = Map::new();
    if let Value::Object(details) = &record.details {
        for (key, value) in details {
            payload.insert(key.clone(), value.clone());
        }
    }
    payload.insert("event".into(), json!(record.action));
    payload.insert("org_id".into(), json!(record.org_id));
    payload.insert("at".into(), json!(util::rfc3339(ctx.now)));
    payload.insert("request_id".into(), json!(ctx.request_id));
    payload.insert("actor".into(), json!({"type": actor_type, "id": actor_id}));
    if let Some((kind, id)) = record.target {
        payload.insert("target_type".into(), json!(kind));
        payload.insert("target_id".into(), json!(id));
        payload.insert(format!("{kind}_id"), json!(id));
    }
    Value::Object(payload)
}

/// The hook of the audit trail: an audited, successful change of an organisation starts the
/// active workflows triggered by its event and ends the `wait_event` steps waiting for it.
/// Never fails the change it follows: problems are logged.
pub fn on_event<'a>(
    ctx: &'a Ctx,
    db: &'a Db,
    record: &'a Record<'a>,
    actor: Option<(&'a str, &'a str)>,
) -> LocalBoxFuture<'a, ()> {
    Box::pin(async move {
        let Some(org_id) = record.org_id else {
            return;
        };
        let by_workflow = actor.is_some_and(|(_, id)| id.starts_with("wfl_"))
            || ctx
                .principal
                .as_ref()
                .is_some_and(|p| p.actor_id().starts_with("wfl_"));
        if record.outcome != Outcome::Success
            || record.action.starts_with("workflow.")
            || by_workflow
        {
            return;
        }
        if let Err(error) = dispatch_event(ctx, db, org_id, record, actor).await {
            let line = json!({"level": "error", "msg": "workflow trigger failed", "event": record.action,
                "org_id": org_id, "error": error.internal.unwrap_or(error.message)});
            worker::console_error!("{}", line);
        }
    })
}

async fn dispatch_event(
    ctx: &Ctx,
    db: &Db,
    org_id: &str,
    record: &Record<'_>,
    actor: Option<(&str, &str)>,
) -> AppResult<()> {
    #[derive(Deserialize)]
    struct Hit {
        kind: String,
        a: String,
        b: Option<String>,
    }
    let hits: Vec<Hit> = db
        .all(
            "SELECT 'workflow' AS kind, id AS a, NULL AS b FROM workflows
               WHERE org_id = ?1 AND trigger_kind = 'event' AND status = 'active' AND trigger_event = ?2
             UNION ALL
             SELECT 'step' AS kind, run_id AS a, step_key AS b FROM workflow_steps
               WHERE org_id = ?1 AND status = 'waiting' AND wait_event = ?2
             LIMIT 50",
            args![org_id, record.action],
        )
        .await?;
    if hits.is_empty() {
        return Ok(());
    }
    let payload = event_payload(ctx, record, actor);
    for hit in hits {
        if hit.kind == "workflow" {
            let Some(workflow) = engine::load_workflow(db, Some(org_id), &hit.a).await? else {
                continue;
            };
            let definition = engine::load_definition(db, &workflow.id, workflow.version).await?;
            if let model::Trigger::Event { filter, .. } = &definition.trigger {
                if !model::matches(filter, &payload) {
                    continue;
                }
            }
            engine::start_run(ctx, db, &workflow, "event", &payload).await?;
        } else if let Some(step_key) = hit.b {
            resume_waiting(ctx, db, &hit.a, &step_key, &payload).await?;
        }
    }
    Ok(())
}

/// Ends a `wait_event` step with the event as its output, if the event matches its filter.
async fn resume_waiting(
    ctx: &Ctx,
    db: &Db,
    run_id: &str,
    step_key: &str,
    payload: &Value,
) -> AppResult<()> {
    let Some(run) = engine::load_run(db, run_id).await? else {
        return Ok(());
    };
    // The step's input holds its filter, resolved when the wait began.
    let step = engine::load_steps(db, run_id)
        .await?
        .into_iter()
        .find(|s| s.step_key == step_key);
    let filter = step
        .and_then(|s| s.input)
        .and_then(|input| serde_json::from_str::<Value>(&input).ok())
        .and_then(|input| input["match"].as_object().cloned())
        .unwrap_or_default();
    if !model::matches(&filter, payload) {
        return Ok(());
    }
    let now = util::now_ms();
    let update = db.stmt(
        "UPDATE workflow_steps SET status = 'succeeded', output = ?1, error = NULL, finished_at = ?2, updated_at = ?2
         WHERE run_id = ?3 AND step_key = ?4 AND status = 'waiting'",
        args![engine::capped(payload), now, run_id, step_key],
    )?;
    let audit = Record::success(
        Some(&run.org_id),
        "workflow.step.succeed",
        Some(("workflow_run", run_id)),
    )
    .with_details(json!({ "step": step_key, "type": "wait_event", "event": payload["event"] }));
    let changed = engine::record(ctx, db, vec![update], audit, &run.workflow_id).await?;
    if changed.first().copied().unwrap_or(0) > 0 {
        engine::advance(ctx, db, run_id).await?;
    }
    Ok(())
}

/// Repairs what a Worker stopped mid-way can leave behind in running runs: a step claimed but
/// never handed to a job (over a minute ago) is claimed again, and a step whose job ended
/// without success, unrecorded, fails its run.
async fn recover(ctx: &Ctx, db: &Db, now: i64) -> AppResult<()> {
    #[derive(Deserialize)]
    struct Stranded {
        run_id: String,
    }
    let stranded: Vec<Stranded> = db
        .all(
            "SELECT DISTINCT s.run_id FROM workflow_steps s JOIN workflow_runs r ON r.id = s.run_id
             WHERE r.status = 'running' AND s.status = 'queued' AND s.job_id IS NULL AND s.updated_at < ?1
             LIMIT 50",
            args![now - 60_000],
        )
        .await?;
    for run in stranded {
        db.run(
            "UPDATE workflow_steps SET status = 'pending', updated_at = ?1
             WHERE run_id = ?2 AND status = 'queued' AND job_id IS NULL AND updated_at < ?3",
            args![now, run.run_id.as_str(), now - 60_000],
        )
        .await?;
        engine::advance(ctx, db, &run.run_id).await?;
    }
    #[derive(Deserialize)]
    struct Lost {
        run_id: String,
        step_key: String,
        error: Option<String>,
        attempts: i64,
    }
    let lost: Vec<Lost> = db
        .all(
            "SELECT s.run_id, s.step_key, j.error, j.attempts FROM workflow_steps s
               JOIN workflow_runs r ON r.id = s.run_id JOIN jobs j ON j.id = s.job_id
             WHERE r.status = 'running' AND s.status IN ('queued', 'running') AND j.status IN ('failed', 'dead')
             LIMIT 50",
            args![],
        )
        .await?;
    for step in lost {
        let Some(run) = engine::load_run(db, &step.run_id).await? else {
            continue;
        };
        let error = step
            .error
            .as_deref()
            .and_then(|e| serde_json::from_str::<Value>(e).ok())
            .unwrap_or(json!({}));
        let error = json!({ "code": error["code"], "message": error["message"], "attempts": step.attempts });
        engine::fail_step(ctx, db, &run, &step.step_key, error).await?;
    }
    Ok(())
}

/// What one cron tick did.
#[derive(Debug, Default, Clone, Copy)]
pub struct TickReport {
    /// Runs started by cron triggers.
    pub cron_runs: usize,
    /// Waits and approvals failed for their timeout.
    pub timeouts: usize,
}

/// The cron trigger's work, at `scheduled_ms` (the tick's scheduled time): starts the runs of
/// due cron workflows (each claimed by moving its next due time, so a tick run twice starts
/// one run), fails waits past their timeout and starts queued runs where there is room.
pub async fn tick(env: &Env, scheduled_ms: i64) -> AppResult<TickReport> {
    let ctx = crate::jobs::system_ctx(env)?;
    let db = ctx.db()?;
    let mut report = TickReport::default();
    let due: Vec<engine::WorkflowRow> = db
        .all(
            &format!(
                "SELECT {} FROM workflows WHERE trigger_kind = 'cron' AND status = 'active' AND next_run_at <= ?1
                 ORDER BY next_run_at LIMIT 100",
                engine::WORKFLOW_COLUMNS
            ),
            args![scheduled_ms],
        )
        .await?;
    for workflow in due {
        let Some(schedule) = workflow
            .cron
            .as_deref()
            .and_then(|c| cron::Schedule::parse(c).ok())
        else {
            continue;
        };
        let next = schedule.next_after(scheduled_ms);
        let claimed = db
            .run(
                "UPDATE workflows SET next_run_at = ?1 WHERE id = ?2 AND next_run_at = ?3",
                args![next, workflow.id.as_str(), workflow.next_run_at],
            )
            .await?;
        if claimed == 0 {
            continue;
        }
        let payload = json!({
            "cron": workflow.cron,
            "scheduled_at": util::rfc3339(workflow.next_run_at.unwrap_or(scheduled_ms)),
            "tick_at": util::rfc3339(scheduled_ms),
        });
        engine::start_run(&ctx, &db, &workflow, "cron", &payload).await?;
        report.cron_runs += 1;
    }
    #[derive(Deserialize)]
    struct Waiting {
        run_id: String,
        step_key: String,
        #[serde(rename = "type")]
        kind: String,
    }
    let expired: Vec<Waiting> = db
        .all(
            "SELECT run_id, step_key, type FROM workflow_steps WHERE status = 'waiting' AND wait_until <= ?1 LIMIT 100",
            args![scheduled_ms.max(util::now_ms())],
        )
        .await?;
    for waiting in expired {
        if let Some(run) = engine::load_run(&db, &waiting.run_id).await? {
            let what = if waiting.kind == "approval" {
                "approval"
            } else {
                "event"
            };
            let error =
                json!({"code": "timeout", "message": format!("no {what} before the timeout")});
            engine::fail_step(&ctx, &db, &run, &waiting.step_key, error).await?;
            report.timeouts += 1;
        }
    }
    recover(&ctx, &db, util::now_ms()).await?;
    #[derive(Deserialize)]
    struct Org {
        org_id: String,
    }
    let waiting_orgs: Vec<Org> = db
        .all(
            "SELECT DISTINCT org_id FROM workflow_runs WHERE status = 'queued' LIMIT 100",
            args![],
        )
        .await?;
    for org in waiting_orgs {
        engine::start_queued_runs(&ctx, &db, &org.org_id).await?;
    }
    Ok(report)
}
