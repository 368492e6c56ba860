//! HTTP handlers of jobs: submit a render, read, list and cancel jobs.

use editor_core::format;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Method, Request, Response};

use super::model::{Fault, JobMessage, JobRow, JobView, RenderKind, RenderParams, JOB_COLUMNS};
use super::{broadcast, guard_status, load_job, work_prefix, Config};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{decode_cursor, page};
use crate::identity::{authenticate, authorize, Permission};
use crate::projects;
use crate::util;

/// Most frames in one render.
pub const MAX_RENDER_FRAMES: u64 = 3600;
/// Most output pixels (frames × width × height) of an image range render: the join holds the
/// output in memory.
pub const MAX_RENDER_PIXELS: u64 = 1920 * 1080 * 120;
/// Longest audio mixdown, in seconds.
pub const MAX_MIX_SECONDS: u64 = 300;
/// Most chunks of one render; longer ranges get longer chunks.
pub const MAX_CHUNKS: u64 = 200;
/// Output pixels per chunk at most (four 1080p frames): a chunk holds its encoded frames in
/// memory until it stores them, and two chunks may share an isolate's 128 MB.
pub const CHUNK_PIXEL_BUDGET: u64 = 4 * 1920 * 1080;

/// `POST /v1/projects/{project_id}/renders`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRenderBody {
    /// `still`, `png_sequence` (zip), `apng`, `gif` or `wav`.
    pub kind: RenderKind,
    /// First frame (default 0).
    #[serde(default)]
    pub from_frame: u64,
    /// Last frame, inclusive; for a still it may be omitted (= `from_frame`); for ranges the
    /// last frame of the timeline when absent.
    #[serde(default)]
    pub to_frame: Option<u64>,
    /// Output scale in (0, 1], default 1 (not for `wav`).
    #[serde(default)]
    pub scale: Option<f64>,
    /// An https URL that receives a signed `job.succeeded` / `job.failed` / `job.dead` /
    /// `job.cancelled` event (the job as JSON) when the render ends.
    #[serde(default)]
    pub notify_url: Option<String>,
    /// Test-only forced failure; refused unless the deployment enables fault injection.
    #[serde(default)]
    pub fault: Option<Fault>,
}

/// One job.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobResponse {
    /// The job.
    pub job: JobView,
}

/// A page of jobs.
#[derive(Debug, Serialize, JsonSchema)]
pub struct JobPage {
    /// Newest first.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

fn invalid_range(message: impl Into<String>) -> AppError {
    AppError::invalid("invalid_range", message)
}

/// Checks a render request against the timeline; returns the parameters to store.
pub fn validate(
    body: &CreateRenderBody,
    timeline: &editor_core::Timeline,
    seq: u64,
    config: &Config,
) -> AppResult<RenderParams> {
    if body.fault.is_some() && !config.fault_injection {
        return Err(AppError::invalid(
            "invalid_request",
            "unknown field `fault`",
        ));
    }
    let scale = match (body.kind, body.scale) {
        (RenderKind::Wav, Some(_)) => {
            return Err(AppError::invalid(
                "invalid_scale",
                "scale does not apply to audio",
            ))
        }
        (RenderKind::Wav, None) => 1.0,
        (_, None) => 1.0,
        (_, Some(scale)) if scale.is_finite() && scale > 0.0 && scale <= 1.0 => scale,
        (_, Some(_)) => {
            return Err(AppError::invalid(
                "invalid_scale",
                "scale must be in (0, 1]",
            ))
        }
    };
    let duration = timeline.duration();
    if duration == 0 {
        return Err(AppError::invalid(
            "empty_timeline",
            "the timeline has no clips to render",
        ));
    }
    let from = body.from_frame;
    let to = match (body.kind, body.to_frame) {
        (RenderKind::Still, None) => from,
        (RenderKind::Still, Some(to)) if to != from => {
            return Err(invalid_range(
                "a still renders one frame: to_frame must equal from_frame",
            ))
        }
        (_, Some(to)) => to,
        (_, None) => duration - 1,
    };
    if from >= duration || to >= duration {
        return Err(invalid_range(format!(
            "frames must lie within the timeline: 0 to {}",
            duration - 1
        )));
    }
    if to < from {
        return Err(invalid_range("to_frame must not be before from_frame"));
    }
    let frames = to - from + 1;
    if frames > MAX_RENDER_FRAMES {
        return Err(AppError::invalid(
            "range_too_long",
            format!("render at most {MAX_RENDER_FRAMES} frames at once"),
        ));
    }
    let (width, height) = if body.kind == RenderKind::Wav {
        let rate = timeline.settings.frame_rate;
        if frames * u64::from(rate.den) > MAX_MIX_SECONDS * u64::from(rate.num) {
            return Err(AppError::invalid(
                "range_too_long",
                format!("mix at most {MAX_MIX_SECONDS} seconds at once"),
            ));
        }
        (0, 0)
    } else {
        let list = editor_core::frame_at(timeline, from, scale as f32);
        (list.width, list.height)
    };
    if body.kind != RenderKind::Wav && body.kind != RenderKind::Still {
        let pixels = frames * u64::from(width) * u64::from(height);
        if pixels > MAX_RENDER_PIXELS {
            return Err(AppError::invalid(
                "range_too_large",
                format!(
                    "frames × width × height may be at most {MAX_RENDER_PIXELS}: render fewer frames or a smaller scale"
                ),
            ));
        }
        if body.kind == RenderKind::Gif && (width > 65_535 || height > 65_535) {
            return Err(AppError::invalid(
                "invalid_scale",
                "GIF frames are at most 65535 pixels wide",
            ));
        }
    }
    if let Some(url) = &body.notify_url {
        if url.len() > 2000 {
            return Err(AppError::invalid(
                "invalid_webhook_url",
                "the webhook URL is too long",
            ));
        }
        super::webhook::check_url(url, config)?;
    }
    let frame_pixels = (u64::from(width) * u64::from(height)).max(1);
    let chunk_frames = u64::from(config.chunk_frames)
        .min((CHUNK_PIXEL_BUDGET / frame_pixels).max(1))
        .max(frames.div_ceil(MAX_CHUNKS))
        .min(frames) as u32;
    Ok(RenderParams {
        kind: body.kind,
        from_frame: from,
        to_frame: to,
        scale,
        width,
        height,
        chunk_frames,
        seq,
        notify_url: body.notify_url.clone(),
        fault: body.fault,
    })
}

/// The messages that run a job.
pub fn messages_for(job_id: &str, params: &RenderParams) -> Vec<JobMessage> {
    match params.kind {
        RenderKind::Still => vec![JobMessage::RenderStill {
            job_id: job_id.to_string(),
        }],
        RenderKind::Wav => vec![JobMessage::AudioMixdown {
            job_id: job_id.to_string(),
        }],
        _ => {
            let chunks = params
                .frame_count()
                .div_ceil(u64::from(params.chunk_frames));
            (0..chunks as u32)
                .map(|chunk| JobMessage::RenderChunk {
                    job_id: job_id.to_string(),
                    chunk,
                })
                .collect()
        }
    }
}

/// Sends messages to the queue of their priority (at most 100 per call, the queues' limit).
pub async fn enqueue(
    env: &worker::Env,
    priority: &str,
    messages: Vec<JobMessage>,
    delay_seconds: Option<u32>,
) -> AppResult<()> {
    let binding = if priority == "interactive" {
        "JOBS_INTERACTIVE"
    } else {
        "JOBS"
    };
    let queue = env.queue(binding)?;
    for group in messages.chunks(100) {
        let mut builder = worker::BatchMessageBuilder::new().messages(group.to_vec());
        if let Some(delay) = delay_seconds {
            builder = builder.delay_seconds(delay);
        }
        queue.send_batch(builder.build()).await?;
    }
    Ok(())
}

/// `POST /v1/projects/{project_id}/renders`: queues a render of the project's current timeline.
pub async fn create_render(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let project = projects::load(ctx, Permission::Write).await?;
    let body: CreateRenderBody = ctx.json(&mut req).await?;
    let config = Config::from_env(&ctx.env);
    let (status, state) = projects::room(ctx, &project.id, Method::Get, "/state", None).await?;
    if status != 200 {
        return Err(projects::room_error(status, &state));
    }
    let timeline = format::from_value(state["timeline"].clone()).map_err(AppError::internal)?;
    let seq = state["seq"].as_u64().unwrap_or(0);
    let params = validate(&body, &timeline, seq, &config)?;
    let principal = authenticate(ctx).await?;
    // Every asset the timeline uses must be one of this organisation's: an id of another
    // tenant's (or a deleted) asset is refused by name rather than rendered as a gap.
    let referenced = super::render::referenced_assets(&timeline);
    let visible = super::render::visible_assets(&ctx.db()?, &project.org_id, &referenced)
        .await
        .map_err(|e| AppError::internal(e.message))?;
    let missing: Vec<&str> = referenced
        .iter()
        .filter(|id| !visible.iter().any(|a| &a.id == *id))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(AppError::invalid(
            "missing_assets",
            format!(
                "the timeline uses assets that are not in this organisation or no longer exist: {}",
                missing.join(", ")
            ),
        ));
    }

    let job_id = util::new_id("job", ctx.now);
    let org_id = project.org_id.clone();
    let kind = params.kind.job_kind();
    let priority = params.kind.priority();
    let params_json = serde_json::to_string(&params)?;

    // The render works from this snapshot, so every chunk sees the same timeline whatever is
    // edited meanwhile.
    let bucket = ctx.env.bucket("ASSETS")?;
    let snapshot_key = format!("{}timeline.json", work_prefix(&org_id, &job_id));
    bucket
        .put(&snapshot_key, state["timeline"].to_string().into_bytes())
        .execute()
        .await?;

    let db = ctx.db()?;
    let mut changes = vec![db.stmt(
        "INSERT INTO jobs (id, org_id, project_id, kind, priority, params, status, attempts, max_attempts, progress,
                           result_asset_ids, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'queued', 0, ?7, 0, '[]', ?8, ?9, ?10, ?10)",
        args![
            job_id.as_str(),
            org_id.as_str(),
            project.id.as_str(),
            kind,
            priority,
            params_json.as_str(),
            i64::from(config.max_attempts),
            principal.actor_type(),
            principal.actor_id(),
            ctx.now,
        ],
    )?];
    if matches!(
        params.kind,
        RenderKind::PngSequence | RenderKind::Apng | RenderKind::Gif
    ) {
        let size = u64::from(params.chunk_frames);
        let chunks = params.frame_count().div_ceil(size);
        for idx in 0..chunks {
            let from = params.from_frame + idx * size;
            let to = (from + size - 1).min(params.to_frame);
            changes.push(db.stmt(
                "INSERT INTO job_chunks (job_id, idx, from_frame, to_frame, status, attempts, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'queued', 0, ?5)",
                args![job_id.as_str(), idx as i64, from as i64, to as i64, ctx.now],
            )?);
        }
    }
    let record = Record::success(Some(&org_id), "job.create", Some(("job", &job_id)))
        .with_details(json!({ "kind": kind, "project_id": project.id, "render": params.kind, "from_frame": params.from_frame, "to_frame": params.to_frame }));
    if let Err(error) = audit::commit(ctx, &db, changes, record, None).await {
        let _ = bucket.delete(&snapshot_key).await;
        return Err(error);
    }

    if let Err(error) = enqueue(&ctx.env, priority, messages_for(&job_id, &params), None).await {
        // Nothing will run it: say so on the job rather than leave it queued for ever.
        if let Some(job) = load_job(&db, &job_id).await? {
            let failure =
                super::JobError::transient("enqueue_failed", "the job could not be queued");
            super::finish_unsuccessfully(ctx, &db, &job, "failed", &failure).await?;
        }
        return Err(error);
    }
    let job = load_job(&db, &job_id)
        .await?
        .ok_or_else(|| AppError::internal("job vanished after insert"))?;
    broadcast(ctx, &job, true).await;
    http::json(202, &JobResponse { job: job.view() })
}

/// Loads a job the caller may see with `permission`; other organisations' jobs are 404.
async fn load_visible(ctx: &mut Ctx, permission: Permission) -> AppResult<(Db, JobRow)> {
    let job_id = ctx.param("job_id").to_string();
    authenticate(ctx).await?;
    let db = ctx.db()?;
    let job = load_job(&db, &job_id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))?;
    authorize(ctx, &job.org_id, permission)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("job")
            } else {
                error
            }
        })?;
    Ok((db, job))
}

/// `GET /v1/jobs/{job_id}`
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let (_, job) = load_visible(ctx, Permission::Read).await?;
    http::json(200, &JobResponse { job: job.view() })
}

/// `GET /v1/orgs/{org_id}/jobs?status=&cursor=&limit=`
pub async fn list(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let status = ctx.query("status");
    if let Some(status) = &status {
        if !matches!(
            status.as_str(),
            "queued" | "running" | "succeeded" | "failed" | "cancelled" | "dead"
        ) {
            return Err(AppError::invalid(
                "invalid_status",
                "status is queued, running, succeeded, failed, cancelled or dead",
            ));
        }
    }
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<JobRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {JOB_COLUMNS} FROM jobs
                 WHERE org_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ),
            args![org_id.as_str(), status, before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(JobRow::view).collect();
    http::json(200, &JobPage { items, next_cursor })
}

/// `POST /v1/jobs/{job_id}/cancel`: stops a queued or running job; running chunks stop at
/// their next frame and no output is kept. Cancelling a cancelled job answers it again; a job
/// that already ended otherwise is a 409.
pub async fn cancel(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let (db, job) = load_visible(ctx, Permission::Write).await?;
    if job.status == "cancelled" {
        return http::json(200, &JobResponse { job: job.view() });
    }
    let finished = || {
        AppError::conflict(
            "job_finished",
            "the job has already ended and cannot be cancelled",
        )
    };
    if super::model::is_terminal(&job.status) {
        return Err(finished());
    }
    let guard = guard_status(&db, &job.id, &["queued", "running"])?;
    let update = db.stmt(
        "UPDATE jobs SET status = 'cancelled', finished_at = ?1, updated_at = ?1
         WHERE id = ?2 AND status IN ('queued', 'running')",
        args![ctx.now, job.id.as_str()],
    )?;
    let chunks = db.stmt(
        "UPDATE job_chunks SET status = 'cancelled', updated_at = ?1
         WHERE job_id = ?2 AND status IN ('queued', 'running')",
        args![ctx.now, job.id.as_str()],
    )?;
    let record = Record::success(Some(&job.org_id), "job.cancel", Some(("job", &job.id)))
        .with_details(json!({ "kind": job.kind, "was": job.status, "progress": job.progress }));
    if let Err(error) = audit::commit(ctx, &db, vec![guard, update, chunks], record, None).await {
        // The guard refused: the job ended between the read and the batch.
        return match load_job(&db, &job.id).await? {
            Some(now) if now.status == "cancelled" => {
                http::json(200, &JobResponse { job: now.view() })
            }
            Some(now) if super::model::is_terminal(&now.status) => Err(finished()),
            _ => Err(error),
        };
    }
    super::delete_work_files(&ctx.env, &job.org_id, &job.id).await;
    let job = load_job(&db, &job.id)
        .await?
        .ok_or_else(|| AppError::not_found("job"))?;
    broadcast(ctx, &job, true).await;
    super::notify(ctx, &job).await;
    http::json(200, &JobResponse { job: job.view() })
}

/// `POST /v1/jobs/{job_id}/redeliver`: sends the job's queue messages again, as a queue's
/// at-least-once delivery may. Only where `FAULT_INJECTION` is set (tests); 404 elsewhere.
pub async fn redeliver(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    if !Config::from_env(&ctx.env).fault_injection {
        return Err(AppError::new(
            404,
            "route_not_found",
            format!("no route for POST {}", ctx.url.path()),
        ));
    }
    let (db, job) = load_visible(ctx, Permission::Write).await?;
    let params: RenderParams = serde_json::from_str(&job.params)
        .map_err(|_| AppError::invalid("not_redeliverable", "only renders can be redelivered"))?;
    let messages = messages_for(&job.id, &params);
    let count = messages.len();
    enqueue(&ctx.env, &job.priority, messages, None).await?;
    let record = Record::success(Some(&job.org_id), "job.redeliver", Some(("job", &job.id)))
        .with_details(json!({ "messages": count }));
    audit::commit(ctx, &db, Vec::new(), record, None).await?;
    http::json(200, &JobResponse { job: job.view() })
}
