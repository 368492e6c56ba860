//! Executes agent runs, one step per `agent_step` queue message.
//!
//! A message names a run; the driver reads the run's checkpoint from its `AgentRun` Durable
//! Object and does the one thing due next:
//! - no planned call left: ask the planner for a round (chat-completions), or finish;
//! - the next call needs approval and has none: pause the run (`awaiting_approval`);
//! - else execute it through the MCP catalog as the agent (same authorisation, validation,
//!   audit and room broadcasts as any tool call), record the step in D1 with its audit record
//!   (one batch, keyed by run and step index: recorded once however often it is driven), report
//!   it to the object (accepted only as the next step), and send the message for the step after.
//!
//! A step driven twice (a redelivered message, the watchdog after a crash) does not change
//! twice: timeline edits carry an idempotency key per run and step, and the record and the
//! report are keyed by step index.

use durable_objects::agent_run::{DriveMessage, PlannedCall, RunOp, RunState, StepRecord};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Method, Request, RequestInit};

use super::planner::Planner;
use super::{load_agent, AgentRow};
use crate::args;
use crate::audit::{self, Record};
use crate::http::{AppError, AppResult, Ctx};
use crate::identity::Principal;
use crate::mcp::{catalog, Caller, INTERNAL_ERROR};
use crate::projects;
use crate::util;

/// Largest trace of a step's arguments or output kept, in bytes of JSON.
pub const MAX_TRACE_BYTES: usize = 4096;
/// Default most steps of one run (`AGENT_MAX_STEPS`).
pub const DEFAULT_MAX_STEPS: usize = 50;

/// Calls the run's Durable Object.
pub async fn call_run(
    ctx: &Ctx,
    run_id: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> AppResult<(u16, Value)> {
    let namespace = ctx.env.durable_object("AGENT_RUN")?;
    let stub = namespace.id_from_name(run_id)?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(method);
    if let Some(body) = body {
        init.with_body(Some(body.to_string().into()));
    }
    let request = Request::new_with_init(&format!("https://agent-run{path}"), &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    let status = response.status_code();
    let value = if status == 200 {
        response.json().await?
    } else {
        Value::Null
    };
    Ok((status, value))
}

/// The run's checkpoint, if it exists.
pub async fn load_state(ctx: &Ctx, run_id: &str) -> AppResult<Option<RunState>> {
    let (status, value) = call_run(ctx, run_id, Method::Get, "/state", None).await?;
    match status {
        200 => Ok(Some(serde_json::from_value(value["state"].clone())?)),
        404 => Ok(None),
        other => Err(AppError::internal(format!("agent run answered {other}"))),
    }
}

/// Applies `op` to the run; whether it was accepted, and the state after.
pub async fn apply(ctx: &Ctx, run_id: &str, op: &RunOp) -> AppResult<(bool, Option<RunState>)> {
    let (status, value) = call_run(
        ctx,
        run_id,
        Method::Post,
        "/op",
        Some(serde_json::to_value(op)?),
    )
    .await?;
    if status != 200 {
        return Err(AppError::internal(format!("agent run answered {status}")));
    }
    let state = match &value["state"] {
        Value::Null => None,
        state => Some(serde_json::from_value(state.clone())?),
    };
    Ok((value["accepted"].as_bool().unwrap_or(false), state))
}

/// Sends the message that drives the run's next step.
pub async fn drive(env: &Env, run_id: &str, reason: &str, delay_seconds: u32) -> AppResult<()> {
    let queue = env.queue("JOBS_INTERACTIVE")?;
    let mut message = worker::MessageBuilder::new(DriveMessage::new(run_id, reason));
    if delay_seconds > 0 {
        message = message.delay_seconds(delay_seconds);
    }
    queue.send(message.build()).await?;
    Ok(())
}

/// Mirrors the run's status into its D1 row (for lists), with `record` audited in the batch.
pub async fn mirror(ctx: &Ctx, state: &RunState, record: Option<Record<'_>>) -> AppResult<()> {
    let db = ctx.db()?;
    let error = state.error.as_ref().map(|e| e.to_string());
    let update = db.stmt(
        "UPDATE agent_runs SET status = ?1, steps_done = ?2, error = ?3, updated_at = ?4, finished_at = ?5 WHERE id = ?6",
        args![
            state.status.as_str(),
            state.steps.len() as i64,
            error,
            ctx.now,
            state.finished_at,
            state.run_id.as_str(),
        ],
    )?;
    match record {
        Some(record) => {
            audit::commit(ctx, &db, vec![update], record, None).await?;
        }
        None => {
            db.batch(vec![update]).await?;
        }
    }
    Ok(())
}

/// Caps a trace value at [`MAX_TRACE_BYTES`] of JSON.
pub fn cap(value: &Value) -> Value {
    let text = value.to_string();
    if text.len() <= MAX_TRACE_BYTES {
        return value.clone();
    }
    let mut end = MAX_TRACE_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    json!({"truncated": true, "bytes": text.len(), "preview": &text[..end]})
}

/// The trace of a tool result: the structured content (images are summarised, not kept). An
/// error result carries its `{"error": {code, message}}` as JSON text only (clients check
/// structured content against the tool's output schema), so that text is read back.
fn output_of(result: &Value) -> Value {
    if let Some(structured) = result.get("structuredContent") {
        return cap(structured);
    }
    if result["isError"].as_bool().unwrap_or(false) {
        let error = result["content"][0]["text"]
            .as_str()
            .and_then(|text| serde_json::from_str::<Value>(text).ok())
            .filter(|value| value["error"].is_object());
        if let Some(error) = error {
            return cap(&error);
        }
    }
    cap(&json!({"content": result.get("content")}))
}

/// The room member an agent is while a run edits a project.
fn member(agent: &AgentRow, state: &RunState, role: &str, can_write: bool) -> Value {
    json!({
        "connection_id": format!("agent_{}", state.run_id),
        "actor": {"type": "agent", "id": agent.id},
        "name": agent.name,
        "kind": "agent",
        "role": role,
        "can_write": can_write,
    })
}

/// Shows the agent in the project's room (joining it first), at `playhead`, doing `activity`.
pub async fn show_presence(
    ctx: &Ctx,
    agent: &AgentRow,
    state: &RunState,
    playhead: Option<u64>,
    activity: &str,
) {
    let Some(project_id) = &state.project_id else {
        return;
    };
    let Ok(policy) = agent.policy() else { return };
    let role = policy.role();
    let mut presence =
        json!({"activity": activity, "run_id": state.run_id, "step": state.steps.len()});
    if let Some(playhead) = playhead {
        presence["playhead"] = json!(playhead);
    }
    let body = json!({
        "member": member(agent, state, role.as_str(), role.allows(crate::identity::Permission::Write)),
        "presence": presence,
    });
    let result = projects::room(
        ctx,
        project_id,
        Method::Post,
        "/agent-presence",
        Some(body.to_string()),
    )
    .await;
    if let Err(error) = result {
        log("warn", "agent presence not shown", &state.run_id, &error);
    }
}

/// Takes the agent out of the project's room.
pub async fn leave_room(ctx: &Ctx, state: &RunState) {
    let Some(project_id) = &state.project_id else {
        return;
    };
    let path = format!("/agent-presence?connection_id=agent_{}", state.run_id);
    if let Err(error) = projects::room(ctx, project_id, Method::Delete, &path, None).await {
        log("warn", "agent presence not removed", &state.run_id, &error);
    }
}

fn log(level: &str, msg: &str, run_id: &str, error: &AppError) {
    worker::console_log!(
        "{}",
        json!({"level": level, "msg": msg, "run_id": run_id, "error": error.internal.clone().unwrap_or_else(|| error.message.clone())})
    );
}

fn step_delay(ctx: &Ctx) -> u32 {
    ctx.var_f64("AGENT_STEP_DELAY_SECONDS", 0.0)
        .clamp(0.0, 60.0) as u32
}

/// Ends a running run (success or failure), mirrored, audited and out of the room.
pub async fn finish(
    ctx: &Ctx,
    state: &RunState,
    succeeded: bool,
    error: Option<Value>,
    answer: Option<String>,
) -> AppResult<()> {
    let op = RunOp::Finish {
        succeeded,
        error: error.clone(),
        answer,
    };
    let (accepted, after) = apply(ctx, &state.run_id, &op).await?;
    if let (true, Some(after)) = (accepted, after) {
        let record = Record::success(
            Some(&state.org_id),
            if succeeded {
                "agent.run.succeed"
            } else {
                "agent.run.fail"
            },
            Some(("agent_run", &state.run_id)),
        )
        .with_details(
            json!({"agent_id": state.agent_id, "steps": after.steps.len(), "error": error}),
        );
        mirror(ctx, &after, Some(record)).await?;
        leave_room(ctx, &after).await;
    }
    Ok(())
}

/// Handles one `agent_step` message. An `Err` asks the queue to deliver it again.
pub async fn on_message(env: &Env, body: &Value) -> AppResult<()> {
    let Some(run_id) = body["run_id"].as_str() else {
        return Ok(());
    };
    let mut ctx = crate::jobs::system_ctx(env)?;
    let Some(state) = load_state(&ctx, run_id).await? else {
        return Ok(());
    };
    if state.status != "running" {
        return Ok(());
    }
    let Some(agent) = load_agent(&ctx, &state.agent_id).await? else {
        let error = json!({"code": "agent_deleted", "message": "the agent was deleted"});
        return finish(&ctx, &state, false, Some(error), None).await;
    };
    let principal = agent.principal(Some(state.run_id.clone()))?;
    ctx.principal = Some(principal.clone());
    let caller = Caller {
        principal: principal.clone(),
        memberships: match &principal {
            Principal::Agent { org_id, role, .. } => vec![(org_id.clone(), *role)],
            _ => Vec::new(),
        },
    };
    let index = state.steps.len();
    let max_steps = ctx
        .var_f64("AGENT_MAX_STEPS", DEFAULT_MAX_STEPS as f64)
        .max(1.0) as usize;

    // A model decides how long its run is: the limit bounds it (a recipe's plan is fixed).
    let planner = Planner::parse(&state.planner)
        .ok_or_else(|| AppError::internal(format!("stored planner {}", state.planner)))?;
    let recipe = planner.plans_upfront();
    if !recipe && index >= max_steps {
        let error = json!({"code": "step_limit", "message": format!("the run reached its limit of {max_steps} steps")});
        return finish(&ctx, &state, false, Some(error), None).await;
    }
    if index >= state.plan.len() {
        if state.plan_complete {
            return finish(&ctx, &state, true, None, None).await;
        }
        show_presence(&ctx, &agent, &state, None, "planning").await;
        let round = match planner.round(&ctx, &state, &caller, &agent.name).await {
            Ok(round) => round,
            Err(error) if error.status < 500 || error.code == "planner_failed" => {
                let error = json!({"code": error.code, "message": error.message});
                return finish(&ctx, &state, false, Some(error), None).await;
            }
            Err(error) => return Err(error),
        };
        let done = round.calls.is_empty();
        let op = RunOp::Plan {
            round: state.rounds.len(),
            calls: round.calls,
            message: round.message,
            complete: done,
        };
        let (accepted, after) = apply(&ctx, &state.run_id, &op).await?;
        if accepted && done {
            if let Some(after) = after {
                return finish(&ctx, &after, true, None, round.answer).await;
            }
        }
        if accepted {
            drive(env, &state.run_id, "next", 0).await?;
        }
        return Ok(());
    }

    let call: PlannedCall = state.plan[index].clone();
    let Principal::Agent { policy, .. } = &principal else {
        return Err(AppError::internal("not an agent"));
    };
    let approval = state.approval_of(index).cloned();
    if policy.needs_approval(&call.tool) && approval.is_none() {
        let (accepted, after) = apply(&ctx, &state.run_id, &RunOp::Gate { index }).await?;
        if let (true, Some(after)) = (accepted, after) {
            show_presence(
                &ctx,
                &agent,
                &after,
                call.playhead,
                &format!("waiting for approval: {}", call.summary),
            )
            .await;
            let record = Record::success(
                Some(&state.org_id),
                "agent.run.await_approval",
                Some(("agent_run", &state.run_id)),
            )
            .with_details(
                json!({"step": index, "tool": call.tool, "arguments": cap(&call.arguments)}),
            );
            mirror(&ctx, &after, Some(record)).await?;
        }
        return Ok(());
    }

    show_presence(&ctx, &agent, &state, call.playhead, &call.summary).await;
    let started_at = util::now_ms();
    let params = json!({"name": call.tool, "arguments": call.arguments});
    let (output, is_error) = match catalog::call(&mut ctx, &caller, &params).await {
        Ok(result) => {
            let is_error = result["isError"].as_bool().unwrap_or(false);
            (output_of(&result), is_error)
        }
        Err(error) if error.code == INTERNAL_ERROR => {
            return Err(AppError::internal(format!(
                "step {index}: {}",
                error.message
            )));
        }
        Err(error) => (
            json!({"error": {"code": "invalid_call", "message": error.message}}),
            true,
        ),
    };
    let finished_at = util::now_ms();
    let approved_by = approval.as_ref().map(|a| a.by.clone());
    let record = StepRecord {
        index,
        tool: call.tool.clone(),
        arguments: cap(&call.arguments),
        output,
        is_error,
        started_at,
        finished_at,
        approved_by: approved_by.clone(),
    };
    record_step(&ctx, &state, &record, approval.as_ref().map(|a| a.at)).await?;
    let (accepted, after) = apply(
        &ctx,
        &state.run_id,
        &RunOp::Step {
            record: record.clone(),
        },
    )
    .await?;
    let Some(after) = after.filter(|_| accepted) else {
        return Ok(());
    };
    mirror(&ctx, &after, None).await?;
    if is_error {
        let code = record.output["error"]["code"]
            .as_str()
            .unwrap_or("tool_error")
            .to_string();
        // A recipe cannot go on without a step; a model is told and may recover, except from
        // a spent budget.
        let fatal = recipe || code == "budget_exceeded";
        if fatal {
            let message = record.output["error"]["message"]
                .as_str()
                .unwrap_or("the tool failed")
                .to_string();
            let error = json!({"code": code, "message": format!("step {index} ({}): {message}", call.tool), "step": index});
            return finish(&ctx, &after, false, Some(error), None).await;
        }
    }
    drive(env, &state.run_id, "next", step_delay(&ctx)).await
}

/// Records a step and its audit record in one batch; a step already recorded (driven twice)
/// is left as it is, and audited once.
async fn record_step(
    ctx: &Ctx,
    state: &RunState,
    step: &StepRecord,
    approved_at: Option<i64>,
) -> AppResult<()> {
    let db = ctx.db()?;
    let approved_by = step.approved_by.as_ref().map(|by| by.to_string());
    let insert = db.stmt(
        "INSERT INTO agent_run_steps (run_id, step_index, tool, is_error, started_at, finished_at, approved_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            state.run_id.as_str(),
            step.index as i64,
            step.tool.as_str(),
            step.is_error as i64,
            step.started_at,
            step.finished_at,
            approved_by,
        ],
    )?;
    let record = Record {
        org_id: Some(&state.org_id),
        action: "agent.run.step",
        target: Some(("agent_run", &state.run_id)),
        outcome: if step.is_error {
            audit::Outcome::Failure
        } else {
            audit::Outcome::Success
        },
        details: json!({
            "step": step.index,
            "tool": step.tool,
            "arguments": step.arguments,
            "output": step.output,
            "started_at": util::rfc3339(step.started_at),
            "duration_ms": step.finished_at - step.started_at,
            "approved_by": step.approved_by,
            "approved_at": approved_at.map(util::rfc3339),
            "project_id": state.project_id,
        }),
    };
    if let Err(error) = audit::commit(ctx, &db, vec![insert], record, None).await {
        #[derive(Deserialize)]
        struct Row {
            #[expect(dead_code, reason = "only its presence is read")]
            step_index: i64,
        }
        let existing: Option<Row> = db
            .first(
                "SELECT step_index FROM agent_run_steps WHERE run_id = ?1 AND step_index = ?2",
                args![state.run_id.as_str(), step.index as i64],
            )
            .await?;
        if existing.is_none() {
            return Err(error);
        }
    }
    Ok(())
}
