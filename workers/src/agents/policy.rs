//! Enforcement of an agent's profile where its tool calls arrive: the MCP catalog asks
//! [`tool_visible`] when it lists or searches tools and [`check_call`] before it runs one, for
//! calls over `/mcp` and for the steps of runs alike. Other principals pass through unchanged
//! (their role already decides).

use crate::http::{AppError, AppResult, Ctx};
use crate::identity::throttle::{self, Budget};
use crate::identity::Principal;

/// Whether a tool counts against the renders-per-day budget.
pub fn is_render(tool: &str) -> bool {
    tool.contains("render")
}

/// Whether `principal` may see `tool` in the catalog: an agent sees its capabilities only.
pub fn tool_visible(principal: &Principal, tool: &str) -> bool {
    match principal {
        Principal::Agent { policy, .. } => policy.allows_tool(tool),
        _ => true,
    }
}

/// Whether `principal` may call `tool` now: capabilities (403 `tool_forbidden`), approval gates
/// (403 `approval_required` outside a run, whose steps are approved by a person first), and
/// budgets (429 `budget_exceeded`: calls per minute, renders per day).
pub async fn check_call(ctx: &Ctx, principal: &Principal, tool: &str) -> AppResult<()> {
    let Principal::Agent {
        agent_id,
        policy,
        run_id,
        ..
    } = principal
    else {
        return Ok(());
    };
    if !policy.allows_tool(tool) {
        return Err(AppError::new(
            403,
            "tool_forbidden",
            format!("the agent's policy does not allow the tool {tool}"),
        ));
    }
    if policy.needs_approval(tool) && run_id.is_none() {
        return Err(AppError::new(
            403,
            "approval_required",
            format!("{tool} needs a person's approval: use it in an agent run"),
        ));
    }
    let per_minute = policy.calls_per_minute.max(1) as f64;
    let calls = Budget {
        capacity: per_minute,
        refill_per_second: per_minute / 60.0,
    };
    throttle::take(ctx, &format!("agent:calls:{agent_id}"), calls)
        .await
        .map_err(|error| {
            budget_error(
                error,
                format!(
                    "the agent's budget of {} calls per minute is spent",
                    policy.calls_per_minute
                ),
            )
        })?;
    if is_render(tool) {
        let per_day = policy.renders_per_day as f64;
        let renders = Budget {
            capacity: per_day,
            refill_per_second: per_day / 86_400.0,
        };
        throttle::take(ctx, &format!("agent:renders:{agent_id}"), renders)
            .await
            .map_err(|error| {
                budget_error(
                    error,
                    format!(
                        "the agent's budget of {} renders per day is spent",
                        policy.renders_per_day
                    ),
                )
            })?;
    }
    Ok(())
}

fn budget_error(error: AppError, message: String) -> AppError {
    if error.status != 429 {
        return error;
    }
    let mut budget = AppError::new(429, "budget_exceeded", message);
    budget.retry_after = error.retry_after;
    budget
}
