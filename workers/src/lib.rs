//! The Creator OS Worker: the edge application of the platform.
//!
//! Layers, in the order a request meets them (see ARCHITECTURE.md):
//! request → [`http`] pipeline (request id, routing, limits, errors, log line) →
//! [`identity`] authentication and the one authorisation check → a module's handler →
//! D1 / R2 / Queues / a Durable Object, with an [`audit`] record and an analytics event
//! written in the same batch as every change.

pub mod agents;
pub mod analytics;
pub mod assets;
pub mod audit;
pub mod automation;
pub mod collab;
pub mod commerce;
pub mod db;
pub mod health;
pub mod housekeeping;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod marketplace;
pub mod mcp;
pub mod openapi;
pub mod projects;
pub mod routes;
pub mod toolgraph;
pub mod util;

pub use durable_objects::{AgentRun, JobScheduler, ProjectRoom, RateLimiter};

use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    analytics::errors::install_panic_hook();
    Ok(http::handle(req, env).await)
}

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    analytics::errors::install_panic_hook();
    // Batch timings join the latency report under "QUEUE <name>".
    let started = util::now_ms();
    let queue = batch.queue();
    if queue.starts_with("creator-os-analytics") {
        analytics::capture::consume(batch, &env).await;
    } else {
        jobs::consumer::consume(batch, &env).await;
    }
    let elapsed = (util::now_ms() - started) as f64;
    analytics::tracing::record(&format!("QUEUE {queue}"), started, elapsed);
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let line = match housekeeping::purge_expired(&env).await {
        Ok((sessions, logins)) => serde_json::json!({
            "level": "info", "msg": "housekeeping", "cron": event.cron(),
            "sessions_purged": sessions, "oidc_logins_purged": logins,
        }),
        Err(error) => serde_json::json!({
            "level": "error", "msg": "housekeeping failed", "cron": event.cron(),
            "error": error.internal.unwrap_or(error.message),
        }),
    };
    worker::console_log!("{}", line);
    let line = match commerce::payouts::run(&env).await {
        Ok(summary) => serde_json::json!({
            "level": "info", "msg": "payouts", "cron": event.cron(), "summary": summary,
        }),
        Err(error) => serde_json::json!({
            "level": "error", "msg": "payouts failed", "cron": event.cron(),
            "error": error.internal.unwrap_or(error.message),
        }),
    };
    worker::console_log!("{}", line);
    let line = match analytics::purge(&env).await {
        Ok((events, errors)) => serde_json::json!({
            "level": "info", "msg": "analytics retention", "cron": event.cron(),
            "events_purged": events, "error_events_purged": errors,
        }),
        Err(error) => serde_json::json!({
            "level": "error", "msg": "analytics retention failed", "cron": event.cron(),
            "error": error.internal.unwrap_or(error.message),
        }),
    };
    worker::console_log!("{}", line);
    // Workflows: due cron triggers (at the tick's scheduled time), wait timeouts, queued runs.
    let line = match automation::tick(&env, event.schedule() as i64).await {
        Ok(report) => serde_json::json!({
            "level": "info", "msg": "automation tick", "cron": event.cron(),
            "cron_runs": report.cron_runs, "timeouts": report.timeouts,
        }),
        Err(error) => serde_json::json!({
            "level": "error", "msg": "automation tick failed", "cron": event.cron(),
            "error": error.internal.unwrap_or(error.message),
        }),
    };
    worker::console_log!("{}", line);
}
