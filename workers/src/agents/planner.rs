//! Planners decide a run's tool calls. Two are built in, behind one trait ([`PlanRounds`]):
//!
//! - [`Planner::Recipe`]: the deterministic [`recipes`](super::recipes), planned in full when
//!   the run is created (so bad inputs are refused before anything happens).
//! - [`Planner::ChatCompletions`]: an OpenAI-compatible chat-completions model with tool
//!   calling. Each planning round sends the goal, the tools the agent may see (their MCP
//!   input schemas as function parameters) and the conversation so far, in which every executed
//!   step's result comes back as a `tool` message; the model answers with `tool_calls` (the
//!   next steps) or a final message. Endpoint and model come from the variables
//!   `AGENT_LLM_ENDPOINT` (base URL; `/chat/completions` is appended) and `AGENT_LLM_MODEL`,
//!   the key from the secret `AGENT_LLM_API_KEY` (sent as a bearer token, never logged or
//!   stored).

use durable_objects::agent_run::{PlannedCall, RunState};
use serde_json::{json, Value};
use worker::{Fetch, Method, Request, RequestInit};

use crate::http::{AppError, AppResult, Ctx};
use crate::mcp::{catalog, Caller};

/// Largest model answer accepted.
pub const MAX_COMPLETION_BYTES: usize = 1024 * 1024;
/// Most tool calls taken from one model answer.
pub const MAX_CALLS_PER_ROUND: usize = 10;

/// A way of deciding a run's steps. A planner either plans everything when the run starts
/// (recipes: the run is created with its whole plan) or is asked for one round of calls at a
/// time, seeing the results of the calls before.
#[expect(
    async_fn_in_trait,
    reason = "implemented and awaited inside this single-threaded crate only"
)]
pub trait PlanRounds {
    /// Whether the whole plan is known when the run starts (then `round` is never asked).
    fn plans_upfront(&self) -> bool;

    /// The next round of calls for `state`, as the agent `caller` named `agent_name`.
    async fn round(
        &self,
        ctx: &Ctx,
        state: &RunState,
        caller: &Caller,
        agent_name: &str,
    ) -> AppResult<Round>;
}

/// The built-in recipes: planned in full by [`super::recipes`] when the run is created.
pub struct RecipePlanner;

impl PlanRounds for RecipePlanner {
    fn plans_upfront(&self) -> bool {
        true
    }

    async fn round(&self, _: &Ctx, _: &RunState, _: &Caller, _: &str) -> AppResult<Round> {
        Ok(Round {
            calls: Vec::new(),
            message: Value::Null,
            answer: None,
        })
    }
}

/// An OpenAI-compatible chat-completions model with tool calling.
pub struct ChatCompletionsPlanner;

impl PlanRounds for ChatCompletionsPlanner {
    fn plans_upfront(&self) -> bool {
        false
    }

    async fn round(
        &self,
        ctx: &Ctx,
        state: &RunState,
        caller: &Caller,
        agent_name: &str,
    ) -> AppResult<Round> {
        chat_round(ctx, state, caller, agent_name).await
    }
}

/// How a run decides its steps: the stored choice, dispatching to its [`PlanRounds`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planner {
    /// A built-in recipe, by name.
    Recipe(String),
    /// An OpenAI-compatible chat-completions model.
    ChatCompletions,
}

impl Planner {
    /// Parses the stored name (`recipe:<name>` or `llm`).
    pub fn parse(stored: &str) -> Option<Planner> {
        match stored.strip_prefix("recipe:") {
            Some(name) => Some(Planner::Recipe(name.to_string())),
            None if stored == "llm" => Some(Planner::ChatCompletions),
            None => None,
        }
    }

    /// The stored name.
    pub fn name(&self) -> String {
        match self {
            Planner::Recipe(name) => format!("recipe:{name}"),
            Planner::ChatCompletions => "llm".into(),
        }
    }

    /// Whether the whole plan is known when the run starts.
    pub fn plans_upfront(&self) -> bool {
        match self {
            Planner::Recipe(_) => RecipePlanner.plans_upfront(),
            Planner::ChatCompletions => ChatCompletionsPlanner.plans_upfront(),
        }
    }

    /// The next round of calls.
    pub async fn round(
        &self,
        ctx: &Ctx,
        state: &RunState,
        caller: &Caller,
        agent_name: &str,
    ) -> AppResult<Round> {
        match self {
            Planner::Recipe(_) => RecipePlanner.round(ctx, state, caller, agent_name).await,
            Planner::ChatCompletions => {
                ChatCompletionsPlanner
                    .round(ctx, state, caller, agent_name)
                    .await
            }
        }
    }
}

/// What one planning round decided.
#[derive(Debug, Clone)]
pub struct Round {
    /// The next steps (none: the model is done).
    pub calls: Vec<PlannedCall>,
    /// The model's message, kept for the next rounds.
    pub message: Value,
    /// The final answer, when the model made no calls.
    pub answer: Option<String>,
}

/// Where the chat-completions planner is, if configured.
pub struct Endpoint {
    /// `…/chat/completions`
    pub url: String,
    /// Model name.
    pub model: String,
    /// Bearer key, if any.
    pub key: Option<String>,
}

/// The configured chat-completions endpoint, or 422 `planner_unavailable`.
pub fn endpoint(ctx: &Ctx) -> AppResult<Endpoint> {
    let unavailable = || {
        AppError::invalid(
            "planner_unavailable",
            "no chat-completions endpoint is configured (AGENT_LLM_ENDPOINT, AGENT_LLM_MODEL)",
        )
    };
    let base = ctx.var("AGENT_LLM_ENDPOINT").ok_or_else(unavailable)?;
    let model = ctx.var("AGENT_LLM_MODEL").ok_or_else(unavailable)?;
    let url = url::Url::parse(&format!("{}/chat/completions", base.trim_end_matches('/')))
        .map_err(|_| unavailable())?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(unavailable());
    }
    Ok(Endpoint {
        url: url.to_string(),
        model,
        key: ctx.var("AGENT_LLM_API_KEY"),
    })
}

/// The tools `caller` may see, as chat-completions function definitions.
pub fn function_tools(caller: &Caller) -> AppResult<Vec<Value>> {
    let mut tools = Vec::new();
    let mut params = json!({});
    loop {
        let page = catalog::list(caller, &params)
            .map_err(|e| AppError::internal(format!("tool list: {}", e.message)))?;
        for tool in page["tools"].as_array().into_iter().flatten() {
            tools.push(json!({
                "type": "function",
                "function": {
                    "name": tool["name"],
                    "description": tool["description"],
                    "parameters": tool["inputSchema"],
                },
            }));
        }
        match page.get("nextCursor") {
            Some(cursor) => params = json!({ "cursor": cursor }),
            None => break,
        }
    }
    Ok(tools)
}

/// The conversation so far: system and user messages, then each round's model message
/// followed by the results of its calls as `tool` messages.
pub fn messages(state: &RunState, agent_name: &str) -> Vec<Value> {
    let mut user = format!("Goal: {}", state.goal);
    if let Some(project_id) = &state.project_id {
        user.push_str(&format!("\nProject: {project_id}"));
    }
    if !state.inputs.is_null() && state.inputs != json!({}) {
        user.push_str(&format!("\nInputs: {}", state.inputs));
    }
    let mut out = vec![
        json!({"role": "system", "content": format!(
            "You are {agent_name}, an agent editing ProEditor video timelines in Creator OS. \
             Reach the goal with the tools; call get_timeline before editing. \
             When the goal is reached, answer with a short summary and no tool calls."
        )}),
        json!({"role": "user", "content": user}),
    ];
    for (round, message) in state.rounds.iter().enumerate() {
        out.push(message.clone());
        for (index, call) in state.plan.iter().enumerate() {
            if call.round != Some(round) {
                continue;
            }
            let content = match state.steps.get(index) {
                Some(step) => step.output.to_string(),
                None => continue,
            };
            out.push(json!({
                "role": "tool",
                "tool_call_id": call.call_id,
                "content": content,
            }));
        }
    }
    out
}

/// Reads the model's answer: its tool calls become planned calls of round `round`.
pub fn parse_completion(body: &Value, round: usize) -> AppResult<Round> {
    let invalid = |what: &str| {
        AppError::new(
            502,
            "planner_failed",
            format!("the model's answer is not a chat completion: {what}"),
        )
    };
    let message = body["choices"][0]["message"].clone();
    if !message.is_object() {
        return Err(invalid("no choices[0].message"));
    }
    let mut calls = Vec::new();
    for call in message["tool_calls"].as_array().into_iter().flatten() {
        if calls.len() == MAX_CALLS_PER_ROUND {
            break;
        }
        let name = call["function"]["name"]
            .as_str()
            .ok_or_else(|| invalid("a tool call without a function name"))?;
        let arguments = match &call["function"]["arguments"] {
            Value::String(text) if text.trim().is_empty() => json!({}),
            // A malformed argument string reaches the tool as it is, and the tool's error goes
            // back to the model.
            Value::String(text) => serde_json::from_str(text)
                .unwrap_or_else(|_| json!({ "unparsable_arguments": text })),
            Value::Object(map) => Value::Object(map.clone()),
            _ => json!({}),
        };
        calls.push(PlannedCall {
            tool: name.to_string(),
            playhead: arguments["frame"].as_u64(),
            arguments,
            call_id: Some(
                call["id"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("call_{round}_{}", calls.len())),
            ),
            round: Some(round),
            summary: format!("{name} (chosen by the model)"),
        });
    }
    let answer = if calls.is_empty() {
        Some(message["content"].as_str().unwrap_or_default().to_string())
    } else {
        None
    };
    let kept = json!({
        "role": "assistant",
        "content": message["content"],
        "tool_calls": message["tool_calls"],
    });
    Ok(Round {
        calls,
        message: kept,
        answer,
    })
}

/// Asks the model for the next round.
pub async fn chat_round(
    ctx: &Ctx,
    state: &RunState,
    caller: &Caller,
    agent_name: &str,
) -> AppResult<Round> {
    let endpoint = endpoint(ctx)?;
    let body = json!({
        "model": endpoint.model,
        "messages": messages(state, agent_name),
        "tools": function_tools(caller)?,
        "tool_choice": "auto",
    });
    let headers = worker::Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("accept", "application/json")?;
    if let Some(key) = &endpoint.key {
        headers.set("authorization", &format!("Bearer {key}"))?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.to_string().into()));
    let request = Request::new_with_init(&endpoint.url, &init)?;
    let failed = |message: String| AppError::new(502, "planner_failed", message);
    let mut response = Fetch::Request(request)
        .send()
        .await
        .map_err(|e| failed(format!("the model could not be reached: {e}")))?;
    let status = response.status_code();
    let bytes = response.bytes().await?;
    if bytes.len() > MAX_COMPLETION_BYTES {
        return Err(failed("the model's answer is too large".into()));
    }
    if !(200..300).contains(&status) {
        return Err(failed(format!("the model answered HTTP {status}")));
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| failed("the model's answer is not JSON".into()))?;
    parse_completion(&value, state.rounds.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_calls_become_planned_calls() {
        let body = json!({"choices": [{"message": {"role": "assistant", "content": null, "tool_calls": [
            {"id": "call_a", "type": "function", "function": {"name": "get_timeline", "arguments": "{\"project_id\":\"prj_1\"}"}},
            {"id": "call_b", "type": "function", "function": {"name": "render_frame", "arguments": "{\"project_id\":\"prj_1\",\"frame\":5}"}},
        ]}}]});
        let round = parse_completion(&body, 2).unwrap();
        assert_eq!(round.calls.len(), 2);
        assert_eq!(round.calls[0].call_id.as_deref(), Some("call_a"));
        assert_eq!(round.calls[1].playhead, Some(5));
        assert_eq!(round.calls[1].round, Some(2));
        assert!(round.answer.is_none());
        let done = json!({"choices": [{"message": {"role": "assistant", "content": "Done."}}]});
        assert_eq!(
            parse_completion(&done, 0).unwrap().answer.as_deref(),
            Some("Done.")
        );
        assert!(parse_completion(&json!({"error": "x"}), 0).is_err());
    }
}
