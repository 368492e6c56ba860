//! Analytics & Observability (module 05): the feedback loop of the platform.
//!
//! - [`capture`]: PostHog-compatible event capture (`/batch/`, `/e/`, `/i/v0/e/`, `/capture/`)
//!   keyed by public ingestion keys, large batches through the ANALYTICS queue; the audit trail
//!   ([`crate::audit`]) and rooms' queue events feed the same `events` table.
//! - [`query`]: trends, funnels, retention, top properties and the creator dashboard, in SQL.
//! - [`errors`]: errors grouped into issues by fingerprint (Worker, queue, browser), optional
//!   forwarding to Sentry.
//! - [`tracing`]: `Server-Timing` and per-route latency percentiles.
//! - [`rollout`] and [`stats`]: pure flag evaluation and experiment statistics; [`flags`]: their
//!   API, PostHog's `/flags/` endpoint and experiment results.
//!
//! Other modules read recent events through [`recent`] (e.g. automation triggers).

pub mod capture;
pub mod errors;
pub mod flags;
pub mod query;
pub mod rollout;
pub mod stats;
pub mod tracing;

use serde::{Deserialize, Serialize};
use worker::Env;

use crate::args;
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::util;

/// An event of the stream, as [`recent`] returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredEvent {
    /// `evt_…`
    pub id: String,
    /// Organisation, if any.
    pub org_id: Option<String>,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Dotted name (`asset.upload`, `job.succeed`…) or a client's event name.
    pub name: String,
    /// `user`, `api_key`, `system`, `person`…
    pub actor_type: String,
    /// The actor's id.
    pub actor_id: Option<String>,
    /// The request that caused it.
    pub request_id: Option<String>,
    /// JSON properties (audit events carry `result`, `target_type`, `target_id`, `details`).
    pub properties: String,
}

/// Events of `org_id` after the event id `after` (exclusive; `None` from `since_ms`), oldest
/// first, at most `limit` (1 to 500), optionally only those named `name`. Event ids are
/// time-ordered, so a caller can page through new events by passing the last id it saw.
pub async fn recent(
    env: &Env,
    org_id: &str,
    since_ms: i64,
    after: Option<&str>,
    name: Option<&str>,
    limit: i64,
) -> AppResult<Vec<StoredEvent>> {
    let db = Db(env.d1("DB")?);
    db.all(
        "SELECT id, org_id, at, name, actor_type, actor_id, request_id, properties FROM events
         WHERE org_id = ?1 AND at >= ?2 AND (?3 IS NULL OR id > ?3) AND (?4 IS NULL OR name = ?4)
         ORDER BY at, id LIMIT ?5",
        args![org_id, since_ms, after, name, limit.clamp(1, 500)],
    )
    .await
}

/// Cron: deletes events and error occurrences older than the retention
/// (`ANALYTICS_RETENTION_DAYS`, default 400), a bounded number per run so that one run stays
/// short; returns (events, error occurrences) deleted.
pub async fn purge(env: &Env) -> AppResult<(usize, usize)> {
    let db = Db(env.d1("DB")?);
    let cutoff = capture::oldest_kept(env, util::now_ms());
    let events = db
        .run(
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE at < ?1 LIMIT 5000)",
            args![cutoff],
        )
        .await?;
    let errors = db
        .run(
            "DELETE FROM error_events WHERE id IN (SELECT id FROM error_events WHERE at < ?1 LIMIT 5000)",
            args![cutoff],
        )
        .await?;
    Ok((events, errors))
}

/// Platform operators: the platform admins of [`crate::marketplace::is_platform_admin`] (a
/// `platform_admins` row, or an email listed in `PLATFORM_ADMIN_EMAILS`). Everyone else gets
/// 404, as if the operations routes did not exist.
pub async fn require_platform_admin(ctx: &mut Ctx) -> AppResult<()> {
    if crate::marketplace::is_platform_admin(ctx).await? {
        Ok(())
    } else {
        Err(AppError::not_found("route"))
    }
}
