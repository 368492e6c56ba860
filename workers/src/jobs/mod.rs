//! Distributed jobs (module 09): renders, audio mixdowns and webhook deliveries run by queue
//! consumers, with tenant-aware admission, retries with backoff, a dead-letter queue,
//! chunked range renders and progress streamed to the project's room.
//!
//! # Data flow
//! `POST /v1/projects/{id}/renders` validates, snapshots the timeline to R2, writes the job
//! (and its chunks) with its audit record in one D1 batch, and sends typed [`JobMessage`]s:
//! stills to `creator-os-jobs-interactive`, everything else to `creator-os-jobs`. The
//! [`consumer`] loads the job, asks the organisation's `JobScheduler` Durable Object for
//! admission (a refusal re-queues the message with a short delay and costs no attempt), runs
//! the handler and releases the slot. Render outputs become assets (R2 + an `assets` row and
//! lineage rows) in the same D1 batch as the job's success.
//!
//! # Delivery guarantees
//! Queues deliver at least once; every step is idempotent on the job id: status changes are
//! guarded by `WHERE status = …`, outputs have ids derived from the job id and are inserted
//! with `ON CONFLICT DO NOTHING`, chunks are claimed in D1 and a scheduler lease keeps one unit
//! from running twice at once. Attempts are counted in D1: a transient failure retries with
//! exponential backoff and jitter until `max_attempts`, then the message goes to the
//! dead-letter queue, whose consumer marks the job `dead`. Permanent failures fail at once.

pub mod api;
pub mod audio;
pub mod backoff;
pub mod consumer;
pub mod container;
pub mod model;
pub mod render;
pub mod thumbnail;
pub mod webhook;

use std::cell::RefCell;
use std::collections::HashMap;

use serde_json::json;
use worker::{Env, Headers, Method};

pub use model::{JobMessage, JobRow, JobView, RenderKind, RenderParams};

use crate::args;
use crate::audit::{self, Outcome, Record};
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::util;

/// Why a unit of work failed, and whether trying again may help.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobError {
    /// Transient failures retry with backoff; permanent ones fail the job at once.
    pub transient: bool,
    /// Stable snake_case code.
    pub code: String,
    /// Explanation, safe to show to the job's owner.
    pub message: String,
}

impl JobError {
    /// A failure that may pass on a later attempt (storage hiccup, receiver down).
    pub fn transient(code: &str, message: impl Into<String>) -> Self {
        Self {
            transient: true,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A failure that would repeat (bad input, unsupported kind).
    pub fn permanent(code: &str, message: impl Into<String>) -> Self {
        Self {
            transient: false,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `{code, message}` as stored in `jobs.error`.
    pub fn to_json(&self) -> String {
        json!({ "code": self.code, "message": self.message }).to_string()
    }
}

impl From<AppError> for JobError {
    fn from(error: AppError) -> Self {
        // Infrastructure errors (D1, R2, a Durable Object) are worth another attempt.
        JobError::transient("internal_error", error.internal.unwrap_or(error.message))
    }
}

impl From<worker::Error> for JobError {
    fn from(error: worker::Error) -> Self {
        JobError::transient("internal_error", error.to_string())
    }
}

/// Limits and budgets, from the Worker's variables (see wrangler.toml).
#[derive(Debug, Clone)]
pub struct Config {
    /// Frames per chunk of a range render (`JOBS_CHUNK_FRAMES`, 30).
    pub chunk_frames: u32,
    /// Attempts before the dead-letter queue (`JOBS_MAX_ATTEMPTS`, 5).
    pub max_attempts: u32,
    /// First retry delay in seconds, doubled each attempt (`JOBS_BACKOFF_BASE_SECONDS`, 2).
    pub backoff_base_seconds: f64,
    /// Longest retry delay (`JOBS_BACKOFF_MAX_SECONDS`, 300).
    pub backoff_max_seconds: f64,
    /// Units of one organisation running at once (`JOBS_ORG_CONCURRENCY`, 4).
    pub org_concurrency: u32,
    /// Of those, batch units (`JOBS_ORG_BATCH_CONCURRENCY`, 2).
    pub org_batch_concurrency: u32,
    /// Starts per second per organisation (`JOBS_ORG_RATE_PER_SECOND`, 10).
    pub org_rate_per_second: f64,
    /// Burst of starts per organisation (`JOBS_ORG_RATE_BURST`, 40).
    pub org_rate_burst: f64,
    /// Whether test-only faults are honoured (`FAULT_INJECTION` = "1").
    pub fault_injection: bool,
}

fn var(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .map(|v| v.to_string())
        .ok()
        .filter(|v| !v.is_empty())
}

impl Config {
    /// Reads the configuration; absent or unreadable values take their defaults.
    pub fn from_env(env: &Env) -> Self {
        let number = |name: &str, default: f64| {
            var(env, name)
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 0.0)
                .unwrap_or(default)
        };
        Config {
            chunk_frames: number("JOBS_CHUNK_FRAMES", 30.0).clamp(1.0, 1000.0) as u32,
            max_attempts: number("JOBS_MAX_ATTEMPTS", 5.0).clamp(1.0, 20.0) as u32,
            backoff_base_seconds: number("JOBS_BACKOFF_BASE_SECONDS", 2.0),
            backoff_max_seconds: number("JOBS_BACKOFF_MAX_SECONDS", 300.0),
            org_concurrency: number("JOBS_ORG_CONCURRENCY", 4.0).max(1.0) as u32,
            org_batch_concurrency: number("JOBS_ORG_BATCH_CONCURRENCY", 2.0).max(1.0) as u32,
            org_rate_per_second: number("JOBS_ORG_RATE_PER_SECOND", 10.0),
            org_rate_burst: number("JOBS_ORG_RATE_BURST", 40.0).max(1.0),
            fault_injection: var(env, "FAULT_INJECTION").as_deref() == Some("1"),
        }
    }
}

/// A request context for work that no HTTP request carries (queue consumers): the audit
/// trail records such changes as made by the `system`.
pub fn system_ctx(env: &Env) -> AppResult<Ctx> {
    let now = util::now_ms();
    Ok(Ctx {
        env: env.clone(),
        request_id: util::new_id("req", now),
        method: Method::Post,
        url: url::Url::parse("https://jobs.internal/").map_err(AppError::internal)?,
        headers: Headers::new(),
        ip: None,
        now,
        params: Vec::new(),
        principal: None,
        set_cookies: Vec::new(),
    })
}

/// The actor of changes made by consumers.
pub const SYSTEM_ACTOR: (&str, &str) = ("system", "jobs");

/// R2 prefix of a job's working files (timeline snapshot, chunk outputs).
pub fn work_prefix(org_id: &str, job_id: &str) -> String {
    format!("orgs/{org_id}/jobs/{job_id}/")
}

/// R2 key of an asset's bytes.
pub fn asset_key(org_id: &str, asset_id: &str) -> String {
    format!("orgs/{org_id}/assets/{asset_id}")
}

/// Loads a job.
pub async fn load_job(db: &Db, job_id: &str) -> AppResult<Option<JobRow>> {
    db.first(
        &format!("SELECT {} FROM jobs WHERE id = ?1", model::JOB_COLUMNS),
        args![job_id],
    )
    .await
}

/// A statement that fails (rolling back its whole D1 batch) unless the job's status is one of
/// `allowed`: the `progress` CHECK constraint refuses 101. It makes a batch's audit record
/// as conditional as its change.
pub fn guard_status(
    db: &Db,
    job_id: &str,
    allowed: &[&str],
) -> AppResult<worker::D1PreparedStatement> {
    let list = allowed
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    db.stmt(
        &format!("UPDATE jobs SET progress = 101 WHERE id = ?1 AND status NOT IN ({list})"),
        args![job_id],
    )
}

thread_local! {
    /// When each job was last broadcast to its room, to keep progress frames at ≤ 4/s.
    static LAST_BROADCAST: RefCell<HashMap<String, i64>> = RefCell::new(HashMap::new());
}

/// Least time between two progress broadcasts of one job.
const BROADCAST_INTERVAL_MS: i64 = 250;

/// Sends the job's current state to its project's room as `{"type":"job","job":{…}}`.
/// Progress-only changes are throttled (`force` = false); state changes always go out.
/// Losing a frame is better than failing the work, so failures are only logged.
pub async fn broadcast(ctx: &Ctx, job: &JobRow, force: bool) {
    let Some(project_id) = job.project_id.clone() else {
        return;
    };
    let now = util::now_ms();
    let due = LAST_BROADCAST.with(|map| {
        let mut map = map.borrow_mut();
        if model::is_terminal(&job.status) {
            map.remove(&job.id);
            return true;
        }
        let last = map.get(&job.id).copied().unwrap_or(i64::MIN / 2);
        if force || now - last >= BROADCAST_INTERVAL_MS {
            map.insert(job.id.clone(), now);
            true
        } else {
            false
        }
    });
    if !due {
        return;
    }
    let body = match serde_json::to_string(&job.view()) {
        Ok(body) => body,
        Err(_) => return,
    };
    if let Err(error) =
        crate::projects::room(ctx, &project_id, Method::Post, "/job", Some(body)).await
    {
        log(
            "warn",
            "job not broadcast to its room",
            &job.id,
            &error.internal.unwrap_or(error.message),
        );
    }
}

/// Reloads a job and broadcasts it.
pub async fn broadcast_current(ctx: &Ctx, db: &Db, job_id: &str, force: bool) {
    if let Ok(Some(job)) = load_job(db, job_id).await {
        broadcast(ctx, &job, force).await;
    }
}

/// One structured log line about a job.
pub fn log(level: &str, msg: &str, job_id: &str, detail: &str) {
    let line = json!({ "level": level, "msg": msg, "job_id": job_id, "detail": detail });
    worker::console_log!("{}", line);
}

/// Deletes a job's working files (best effort: leftovers are only storage).
pub async fn delete_work_files(env: &Env, org_id: &str, job_id: &str) {
    let Ok(bucket) = env.bucket("ASSETS") else {
        return;
    };
    let prefix = work_prefix(org_id, job_id);
    let Ok(listed) = bucket.list().prefix(prefix).execute().await else {
        return;
    };
    for object in listed.objects() {
        let _ = bucket.delete(object.key()).await;
    }
}

/// Ends a job that is still queued or running with `status` (`failed` or `dead`), recording
/// why, with its audit record and event in the same batch. Returns false when the job had
/// already ended.
pub async fn finish_unsuccessfully(
    ctx: &Ctx,
    db: &Db,
    job: &JobRow,
    status: &str,
    error: &JobError,
) -> AppResult<bool> {
    let now = util::now_ms();
    let update = db.stmt(
        "UPDATE jobs SET status = ?1, error = ?2, finished_at = ?3, updated_at = ?3
         WHERE id = ?4 AND status IN ('queued', 'running')",
        args![status, error.to_json(), now, job.id.as_str()],
    )?;
    let chunks = db.stmt(
        "UPDATE job_chunks SET status = ?1, updated_at = ?2 WHERE job_id = ?3 AND status IN ('queued', 'running')",
        args![status, now, job.id.as_str()],
    )?;
    let action = if status == "dead" {
        "job.dead"
    } else {
        "job.fail"
    };
    let mut record = Record::success(Some(&job.org_id), action, Some(("job", &job.id)))
        .with_details(json!({ "kind": job.kind, "code": error.code, "message": error.message }));
    record.outcome = Outcome::Failure;
    let guard = guard_status(db, &job.id, &["queued", "running"])?;
    match audit::commit(
        ctx,
        db,
        vec![guard, update, chunks],
        record,
        Some(SYSTEM_ACTOR),
    )
    .await
    {
        Ok(_) => {}
        Err(_)
            if load_job(db, &job.id)
                .await?
                .is_some_and(|j| model::is_terminal(&j.status)) =>
        {
            return Ok(false)
        }
        Err(error) => return Err(error),
    }
    delete_work_files(&ctx.env, &job.org_id, &job.id).await;
    finished(ctx, db, &job.id).await;
    Ok(true)
}

/// After a job ended: its room and its webhook hear of it.
pub async fn finished(ctx: &Ctx, db: &Db, job_id: &str) {
    if let Ok(Some(job)) = load_job(db, job_id).await {
        broadcast(ctx, &job, true).await;
        notify(ctx, &job).await;
        // A workflow step that failed for good fails its run.
        crate::automation::engine::job_ended(ctx, db, &job).await;
    }
}

/// Queues the signed `job.<status>` event to the job's `notify_url`, if it has one and has
/// ended. Best effort: a failure to queue is logged, never fails the job.
pub async fn notify(ctx: &Ctx, job: &JobRow) {
    if !model::is_terminal(&job.status) {
        return;
    }
    let url = serde_json::from_str::<serde_json::Value>(&job.params)
        .ok()
        .and_then(|params| params["notify_url"].as_str().map(str::to_string));
    let Some(url) = url else {
        return;
    };
    let event = format!("job.{}", job.status);
    let body = json!({ "type": event, "job": job.view() }).to_string();
    if let Err(error) = webhook::enqueue(ctx, &job.org_id, None, &url, &event, &body).await {
        log(
            "warn",
            "job webhook not queued",
            &job.id,
            &error.internal.unwrap_or(error.message),
        );
    }
}
