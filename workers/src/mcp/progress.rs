//! Long-running tools: `watch_render_job` waits for a job to end, and when the request carries
//! a `progressToken` (and accepts `text/event-stream`) the answer is an SSE stream of
//! `notifications/progress` messages followed by the JSON-RPC response, as the Streamable
//! HTTP transport allows for a request that streams.

use futures_util::stream;
use serde_json::{json, Map, Value};
use worker::{Method, Response};

use super::call_route;
use super::catalog::{tool_error, tool_ok};
use crate::http::{AppError, AppResult, Ctx};
use crate::identity::Principal;
use crate::util;

/// The tool that waits for a job.
pub const WATCH_TOOL: &str = "watch_render_job";
/// Default wait before the tool answers with the job as it stands.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 60;
/// Longest wait a call may ask for.
pub const MAX_TIMEOUT_SECONDS: u64 = 300;
/// Pause between two reads of the job.
const POLL_MS: u64 = 250;

/// What to watch and for how long.
pub struct Watch {
    /// `/v1/jobs/{job_id}`
    pub job_path: String,
    /// Give up waiting at this time (ms since epoch) and answer with the job as it stands.
    pub deadline_ms: i64,
}

/// Reads the tool's arguments: `job_id` and optional `timeout_seconds` (1 to 300).
pub fn parse(arguments: &Map<String, Value>) -> AppResult<Watch> {
    let invalid = |message: &str| AppError::invalid("invalid_arguments", message);
    if let Some(unknown) = arguments
        .keys()
        .find(|k| !matches!(k.as_str(), "job_id" | "timeout_seconds"))
    {
        return Err(invalid(&format!("unknown argument: {unknown}")));
    }
    let job_id = arguments
        .get("job_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid("job_id must be a non-empty string"))?;
    let timeout = match arguments.get("timeout_seconds") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT_SECONDS,
        Some(value) => value
            .as_u64()
            .filter(|s| (1..=MAX_TIMEOUT_SECONDS).contains(s))
            .ok_or_else(|| {
                invalid(&format!(
                    "timeout_seconds must be 1 to {MAX_TIMEOUT_SECONDS}"
                ))
            })?,
    };
    let encoded: String = url::form_urlencoded::byte_serialize(job_id.as_bytes()).collect();
    Ok(Watch {
        job_path: format!("/v1/jobs/{encoded}"),
        deadline_ms: util::now_ms() + (timeout * 1000) as i64,
    })
}

/// The input schema of [`WATCH_TOOL`].
pub fn input_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "job_id": {"type": "string", "description": "the job (`job_…`) start_render returned"},
            "timeout_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_TIMEOUT_SECONDS, "description": "answer with the job as it stands after this long; default 60"},
        },
        "required": ["job_id"],
        "additionalProperties": false,
    })
}

fn terminal(job: &Value) -> bool {
    matches!(
        job["job"]["status"].as_str(),
        Some("succeeded" | "failed" | "cancelled" | "dead")
    )
}

async fn read_job(ctx: &Ctx, principal: &Principal, path: &str) -> AppResult<Value> {
    let mut response = call_route(ctx, principal, Method::Get, path, &[], None).await?;
    Ok(response.json::<Value>().await?)
}

async fn pause() {
    worker::Delay::from(std::time::Duration::from_millis(POLL_MS)).await;
}

/// Waits until the job ends or the deadline passes; returns the job (`{"job": …}`).
pub async fn wait(ctx: &Ctx, principal: &Principal, watch: &Watch) -> AppResult<Value> {
    loop {
        let job = read_job(ctx, principal, &watch.job_path).await?;
        if terminal(&job) || util::now_ms() >= watch.deadline_ms {
            return Ok(job);
        }
        pause().await;
    }
}

/// A copy of the request context that can outlive the handler (the body of a streamed
/// response is produced after the handler has returned).
fn detached(ctx: &Ctx) -> Ctx {
    Ctx {
        env: ctx.env.clone(),
        request_id: ctx.request_id.clone(),
        method: ctx.method.clone(),
        url: ctx.url.clone(),
        headers: ctx.headers.clone(),
        ip: ctx.ip.clone(),
        now: ctx.now,
        params: ctx.params.clone(),
        principal: ctx.principal.clone(),
        set_cookies: Vec::new(),
    }
}

fn event(message: &Value) -> Vec<u8> {
    format!("event: message\ndata: {message}\n\n").into_bytes()
}

struct Stream {
    ctx: Ctx,
    principal: Principal,
    watch: Watch,
    id: Value,
    token: Value,
    last_progress: Option<i64>,
    first: bool,
    done: bool,
}

impl Stream {
    /// The next events to send; `None` once the response has been sent.
    async fn next(mut self) -> Option<(Result<Vec<u8>, worker::Error>, Self)> {
        if self.done {
            return None;
        }
        loop {
            if !self.first {
                pause().await;
            }
            self.first = false;
            let job = match read_job(&self.ctx, &self.principal, &self.watch.job_path).await {
                Ok(job) => job,
                Err(error) => {
                    self.done = true;
                    let result = if error.status >= 500 {
                        tool_error("internal_error", "the job could not be read")
                    } else {
                        tool_error(&error.code, &error.message)
                    };
                    let body = json!({"jsonrpc": "2.0", "id": self.id, "result": result});
                    return Some((Ok(event(&body)), self));
                }
            };
            let mut out = Vec::new();
            let progress = job["job"]["progress"].as_i64().unwrap_or(0);
            if self.last_progress != Some(progress) {
                self.last_progress = Some(progress);
                let status = job["job"]["status"].as_str().unwrap_or("unknown");
                out.extend(event(&json!({
                    "jsonrpc": "2.0",
                    "method": "notifications/progress",
                    "params": {
                        "progressToken": self.token,
                        "progress": progress,
                        "total": 100,
                        "message": format!("render {status}: {progress}%"),
                    },
                })));
            }
            if terminal(&job) || util::now_ms() >= self.watch.deadline_ms {
                self.done = true;
                let body = json!({"jsonrpc": "2.0", "id": self.id, "result": tool_ok(job)});
                out.extend(event(&body));
            }
            if !out.is_empty() {
                return Some((Ok(out), self));
            }
        }
    }
}

/// Answers a `watch_render_job` call that carries `progressToken` with an SSE stream.
pub fn stream(
    ctx: &Ctx,
    principal: &Principal,
    watch: Watch,
    id: Value,
    token: Value,
    version: &str,
) -> AppResult<Response> {
    let state = Stream {
        ctx: detached(ctx),
        principal: principal.clone(),
        watch,
        id,
        token,
        last_progress: None,
        first: true,
        done: false,
    };
    let body = stream::unfold(state, Stream::next);
    let mut response = Response::from_stream(body)?;
    let headers = response.headers_mut();
    headers.set("content-type", "text/event-stream")?;
    headers.set("cache-control", "no-cache")?;
    headers.set("mcp-protocol-version", version)?;
    Ok(response)
}
