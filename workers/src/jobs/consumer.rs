//! The queue consumer of `creator-os-jobs`, `creator-os-jobs-interactive` and the dead-letter
//! queue `creator-os-jobs-dlq`.
//!
//! Per message: parse ([`JobMessage`], or a room's `event`), load the job (ended → ack), ask
//! the organisation's `JobScheduler` for admission (refused → the message is sent again with a
//! short delay and acked, so waiting costs no attempt), run the handler, release the slot, and
//! settle the message from the outcome:
//! - success → ack;
//! - permanent failure → the job `failed`, ack;
//! - transient failure with attempts left (counted in D1) → retry after an exponential
//!   backoff with jitter;
//! - transient failure on the last attempt → the message goes to the dead-letter queue, whose
//!   consumer marks the job `dead` with the reason and raises a `job.dead` event.
//!
//! The messages of one batch run concurrently.

use futures_util::future::join_all;
use serde_json::{json, Value};
use worker::{
    Env, Message, MessageBatch, MessageExt, Method, QueueRetryOptionsBuilder, RequestInit,
};

use super::model::{is_terminal, JobMessage, JobRow};
use super::{
    api, audio, backoff, finish_unsuccessfully, load_job, log, render, system_ctx, thumbnail,
    webhook, Config, JobError,
};
use crate::db::Db;
use crate::housekeeping;
use crate::http::Ctx;

/// How a message ends.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Settle {
    /// Done (or nothing to do).
    Ack,
    /// Not admitted yet: send again after this many seconds, then ack.
    Defer(u32),
    /// Failed transiently: retry after this many seconds.
    Retry(u32),
    /// Out of attempts: to the dead-letter queue.
    DeadLetter,
}

/// Runs a batch from any of the jobs queues.
pub async fn consume(batch: MessageBatch<Value>, env: &Env) {
    let queue = batch.queue();
    let dead = queue.ends_with("-dlq");
    let messages = match batch.messages() {
        Ok(messages) => messages,
        Err(error) => {
            log("error", "unreadable batch", "", &error.to_string());
            batch.retry_all();
            return;
        }
    };
    join_all(
        messages
            .into_iter()
            .map(|message| handle(env, &queue, dead, message)),
    )
    .await;
}

async fn handle(env: &Env, queue: &str, dead: bool, message: Message<Value>) {
    let body = message.body().clone();
    let kind = body
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or("unknown")
        .to_string();
    if kind == "event" {
        if dead {
            queue_log("error", "event dead-lettered", queue, &kind, "");
            message.ack();
            return;
        }
        match housekeeping::record_event(env, &message.id(), &body).await {
            Ok(()) => message.ack(),
            Err(error) => {
                queue_log(
                    "warn",
                    "event not recorded, retrying",
                    queue,
                    &kind,
                    &error.message,
                );
                message.retry();
            }
        }
        return;
    }
    if kind == "agent_step" {
        // An agent run's next step (crate::agents::runner); the run's watchdog re-drives a
        // message that is lost, so a dead-lettered one is only logged.
        if dead {
            queue_log("error", "agent step dead-lettered", queue, &kind, "");
            message.ack();
            return;
        }
        match crate::agents::runner::on_message(env, &body).await {
            Ok(()) => message.ack(),
            Err(error) => {
                queue_log(
                    "warn",
                    "agent step failed, retrying",
                    queue,
                    &kind,
                    &error.internal.unwrap_or(error.message),
                );
                message.retry();
            }
        }
        return;
    }
    let job_message: JobMessage = match serde_json::from_value(body) {
        Ok(parsed) => parsed,
        Err(error) => {
            // A newer deployment may know this kind: retry, then the dead-letter queue keeps it.
            if dead {
                queue_log(
                    "error",
                    "unknown message dead-lettered",
                    queue,
                    &kind,
                    &error.to_string(),
                );
                message.ack();
            } else {
                queue_log(
                    "warn",
                    "no handler for message kind",
                    queue,
                    &kind,
                    &error.to_string(),
                );
                message.retry();
            }
            return;
        }
    };
    let ctx = match system_ctx(env) {
        Ok(ctx) => ctx,
        Err(_) => {
            message.retry();
            return;
        }
    };
    if dead {
        match dead_letter(&ctx, &job_message).await {
            Ok(()) => message.ack(),
            Err(error) => {
                log(
                    "error",
                    "dead letter not recorded, retrying",
                    job_message.job_id(),
                    &error.message,
                );
                message.retry();
            }
        }
        return;
    }
    let settle = match run(&ctx, &job_message).await {
        Ok(settle) => settle,
        Err(error) => {
            // The job's own bookkeeping failed (D1 unreachable): let the queue try again.
            log(
                "warn",
                "job bookkeeping failed",
                job_message.job_id(),
                &error.message,
            );
            capture(
                &ctx,
                crate::analytics::errors::PLATFORM,
                &kind,
                job_message.job_id(),
                &error.code,
                &error.message,
            )
            .await;
            Settle::Retry(backoff::delay_seconds(
                2,
                Config::from_env(env).backoff_base_seconds,
                60.0,
                backoff::random_unit(),
            ))
        }
    };
    match settle {
        Settle::Ack => message.ack(),
        Settle::Retry(delay) => message.retry_with_options(
            &QueueRetryOptionsBuilder::new()
                .with_delay_seconds(delay)
                .build(),
        ),
        Settle::Defer(delay) => {
            let priority = if queue.ends_with("-interactive") {
                "interactive"
            } else {
                "batch"
            };
            match api::enqueue(env, priority, vec![job_message.clone()], Some(delay)).await {
                Ok(()) => message.ack(),
                Err(_) => message.retry_with_options(
                    &QueueRetryOptionsBuilder::new()
                        .with_delay_seconds(delay)
                        .build(),
                ),
            }
        }
        Settle::DeadLetter => {
            let sent = match env.queue("JOBS_DLQ") {
                Ok(dlq) => dlq.send(job_message.clone()).await,
                Err(error) => Err(error),
            };
            match sent {
                Ok(()) => message.ack(),
                // The queue's own retry limit still ends in the dead-letter queue.
                Err(_) => message.retry(),
            }
        }
    }
}

/// Records a job that failed for good (or whose bookkeeping failed) in the error tracker, as a
/// `queue` error of the job's organisation (or the platform), grouped by kind and error code;
/// the occurrence names the job.
async fn capture(ctx: &Ctx, scope: &str, kind: &str, job_id: &str, code: &str, message: &str) {
    crate::analytics::errors::capture_quietly(
        &ctx.env,
        crate::analytics::errors::Captured {
            scope: scope.to_string(),
            source: "queue".into(),
            message: format!("{kind} job failed: {code}: {message}"),
            location: Some(format!("queue {kind} ({code})")),
            release: ctx.var("RELEASE"),
            // The job is what the failure happened in, as a request is for HTTP errors.
            request_id: Some(job_id.to_string()),
            ..Default::default()
        },
    )
    .await;
}

fn queue_log(level: &str, msg: &str, queue: &str, kind: &str, error: &str) {
    let line = json!({ "level": level, "msg": msg, "queue": queue, "kind": kind, "error": error });
    worker::console_log!("{}", line);
}

/// Admission by the organisation's scheduler: `Ok(None)` when admitted, else the delay.
async fn admit(
    ctx: &Ctx,
    config: &Config,
    job: &JobRow,
    lease: &str,
) -> Result<Option<u32>, JobError> {
    let request = durable_objects::scheduler::AdmitRequest {
        lease: lease.to_string(),
        priority: if job.priority == "interactive" {
            durable_objects::scheduler::Priority::Interactive
        } else {
            durable_objects::scheduler::Priority::Batch
        },
        max_running: config.org_concurrency,
        max_batch_running: config.org_batch_concurrency,
        rate_per_second: config.org_rate_per_second,
        burst: config.org_rate_burst,
        lease_ms: 5.0 * 60_000.0,
        now_ms: crate::util::now_ms() as f64,
    };
    let answer: durable_objects::scheduler::AdmitResponse = scheduler_call(
        ctx,
        &job.org_id,
        "/admit",
        serde_json::to_string(&request)
            .map_err(|e| JobError::transient("internal_error", e.to_string()))?,
    )
    .await?;
    if answer.admitted {
        return Ok(None);
    }
    // Jitter spreads the re-queued burst over the next seconds.
    let wait_s = answer.retry_after_ms / 1000.0;
    let delay = (wait_s + backoff::random_unit() * wait_s.max(1.0)).ceil();
    Ok(Some(delay.clamp(1.0, 60.0) as u32))
}

async fn release(ctx: &Ctx, org_id: &str, lease: &str) {
    let body = json!({ "lease": lease }).to_string();
    if let Err(error) = scheduler_call::<Value>(ctx, org_id, "/release", body).await {
        // The lease expires on its own.
        log("warn", "scheduler release failed", lease, &error.message);
    }
}

async fn scheduler_call<T: serde::de::DeserializeOwned>(
    ctx: &Ctx,
    org_id: &str,
    path: &str,
    body: String,
) -> Result<T, JobError> {
    let namespace = ctx.env.durable_object("JOB_SCHEDULER")?;
    let stub = namespace.id_from_name(org_id)?.get_stub()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let request = worker::Request::new_with_init(&format!("https://job-scheduler{path}"), &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    if response.status_code() != 200 {
        return Err(JobError::transient(
            "scheduler_error",
            format!("the scheduler answered {}", response.status_code()),
        ));
    }
    Ok(response.json().await?)
}

async fn run(ctx: &Ctx, message: &JobMessage) -> Result<Settle, JobError> {
    let config = Config::from_env(&ctx.env);
    let db = ctx.db()?;
    let Some(job) = load_job(&db, message.job_id()).await? else {
        log(
            "warn",
            "message for an unknown job dropped",
            message.job_id(),
            "",
        );
        return Ok(Settle::Ack);
    };
    if is_terminal(&job.status) {
        return Ok(Settle::Ack);
    }
    let lease = message.lease_key();
    if let Some(delay) = admit(ctx, &config, &job, &lease).await? {
        return Ok(Settle::Defer(delay));
    }
    let result = match message {
        JobMessage::RenderStill { .. } => render::still(ctx, &db, &config, &job).await,
        JobMessage::RenderChunk { chunk, .. } => {
            render::chunk(ctx, &db, &config, &job, *chunk).await
        }
        JobMessage::AudioMixdown { .. } => audio::mixdown(ctx, &db, &config, &job).await,
        JobMessage::DeliverWebhook { .. } => webhook::deliver(ctx, &db, &config, &job).await,
        JobMessage::MakeThumbnail { .. } => thumbnail::run(ctx, &db, &job).await,
        JobMessage::AutomationStep { .. } => {
            crate::automation::engine::run_job(ctx, &db, &config, &job).await
        }
        JobMessage::ProbeAsset { .. } => Err(JobError::permanent(
            "unsupported",
            format!("{} jobs are not supported by this deployment yet", job.kind),
        )),
    };
    release(ctx, &job.org_id, &lease).await;
    let error = match result {
        Ok(()) => return Ok(Settle::Ack),
        Err(error) => error,
    };
    log(
        if error.transient { "warn" } else { "error" },
        "job attempt failed",
        &job.id,
        &format!("{}: {}", error.code, error.message),
    );
    if !error.transient {
        finish_unsuccessfully(ctx, &db, &job, "failed", &error).await?;
        capture(
            ctx,
            &job.org_id,
            &job.kind,
            &job.id,
            &error.code,
            &error.message,
        )
        .await;
        return Ok(Settle::Ack);
    }
    let attempts = attempts_of(&db, message).await?;
    let now = crate::util::now_ms();
    // Keep the reason; a chunk goes back to the queue for its retry.
    db.batch(vec![
        db.stmt(
            "UPDATE jobs SET error = ?1, updated_at = ?2 WHERE id = ?3 AND status IN ('queued', 'running')",
            crate::args![error.to_json(), now, job.id.as_str()],
        )?,
        db.stmt(
            "UPDATE job_chunks SET status = 'queued', error = ?1, updated_at = ?2
             WHERE job_id = ?3 AND idx = ?4 AND status = 'running'",
            crate::args![
                error.to_json(),
                now,
                job.id.as_str(),
                match message {
                    JobMessage::RenderChunk { chunk, .. } => i64::from(*chunk),
                    _ => -1,
                }
            ],
        )?,
    ])
    .await?;
    super::broadcast_current(ctx, &db, &job.id, true).await;
    if attempts >= job.max_attempts {
        return Ok(Settle::DeadLetter);
    }
    Ok(Settle::Retry(backoff::delay_seconds(
        attempts.max(1) as u32,
        config.backoff_base_seconds,
        config.backoff_max_seconds,
        backoff::random_unit(),
    )))
}

/// Attempts made so far by the message's unit of work (the chunk's, or the job's).
async fn attempts_of(db: &Db, message: &JobMessage) -> Result<i64, JobError> {
    #[derive(serde::Deserialize)]
    struct Attempts {
        attempts: i64,
    }
    let row: Option<Attempts> = match message {
        JobMessage::RenderChunk { job_id, chunk } => {
            db.first(
                "SELECT attempts FROM job_chunks WHERE job_id = ?1 AND idx = ?2",
                crate::args![job_id.as_str(), i64::from(*chunk)],
            )
            .await?
        }
        other => {
            db.first(
                "SELECT attempts FROM jobs WHERE id = ?1",
                crate::args![other.job_id()],
            )
            .await?
        }
    };
    Ok(row.map(|r| r.attempts).unwrap_or(0))
}

/// A message that ran out of attempts: the job is `dead`, with the last error as the reason.
async fn dead_letter(ctx: &Ctx, message: &JobMessage) -> Result<(), JobError> {
    let db = ctx.db()?;
    let Some(job) = load_job(&db, message.job_id()).await? else {
        return Ok(());
    };
    if is_terminal(&job.status) {
        return Ok(());
    }
    let last = job
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .and_then(|e| e["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "the consumer kept failing".to_string());
    let error = JobError::transient(
        "dead_lettered",
        format!("gave up after {} attempts: {last}", job.attempts),
    );
    finish_unsuccessfully(ctx, &db, &job, "dead", &error).await?;
    capture(ctx, &job.org_id, &job.kind, &job.id, &error.code, &last).await;
    Ok(())
}
