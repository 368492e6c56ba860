//! `make_thumbnail` jobs: an uploaded image's ≤256 px thumbnail and perceptual hash, made by
//! the assets module ([`crate::assets::derive::make_thumbnail`], idempotent: however often the
//! job runs, an image has one thumbnail) on the interactive queue.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{JobMessage, JobRow};
use super::render::start;
use super::{guard_status, Config, JobError, SYSTEM_ACTOR};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{AppResult, Ctx};
use crate::util;

/// What a `make_thumbnail` job works on.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThumbnailParams {
    /// The source image (`ast_…`).
    pub asset_id: String,
}

/// Records a `make_thumbnail` job for an image of `org_id` and queues it; returns the job id.
pub async fn queue(ctx: &Ctx, org_id: &str, asset_id: &str) -> AppResult<String> {
    let config = Config::from_env(&ctx.env);
    let job_id = util::new_id("job", ctx.now);
    let params = ThumbnailParams {
        asset_id: asset_id.to_string(),
    };
    let db = ctx.db()?;
    let insert = db.stmt(
        "INSERT INTO jobs (id, org_id, project_id, kind, priority, params, status, attempts, max_attempts, progress,
                           result_asset_ids, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, NULL, 'make_thumbnail', 'interactive', ?3, 'queued', 0, ?4, 0, '[]', 'system', 'jobs', ?5, ?5)",
        args![
            job_id.as_str(),
            org_id,
            serde_json::to_string(&params)?,
            i64::from(config.max_attempts),
            ctx.now
        ],
    )?;
    let record = Record::success(Some(org_id), "job.create", Some(("job", &job_id)))
        .with_details(json!({ "kind": "make_thumbnail", "asset_id": asset_id }));
    audit::commit(ctx, &db, vec![insert], record, Some(SYSTEM_ACTOR)).await?;
    super::api::enqueue(
        &ctx.env,
        "interactive",
        vec![JobMessage::MakeThumbnail {
            job_id: job_id.clone(),
        }],
        None,
    )
    .await?;
    Ok(job_id)
}

/// Runs a `make_thumbnail` job.
pub async fn run(ctx: &Ctx, db: &Db, job: &JobRow) -> Result<(), JobError> {
    let params: ThumbnailParams = serde_json::from_str(&job.params)
        .map_err(|e| JobError::permanent("invalid_params", format!("job parameters: {e}")))?;
    if start(ctx, db, job).await?.is_none() {
        return Ok(());
    }
    let thumbnail_id = match crate::assets::derive::make_thumbnail(
        &ctx.env,
        &job.org_id,
        &params.asset_id,
    )
    .await
    {
        Ok(id) => id,
        // The image is gone, not decodable or too large: trying again changes nothing.
        Err(error) if error.status < 500 => {
            return Err(JobError::permanent(&error.code, error.message))
        }
        Err(error) => return Err(JobError::transient(&error.code, error.message)),
    };
    let now = util::now_ms();
    let update = db.stmt(
        "UPDATE jobs SET status = 'succeeded', progress = 100, result_asset_ids = ?1, error = NULL,
                         finished_at = ?2, updated_at = ?2
         WHERE id = ?3 AND status = 'running'",
        args![
            json!([thumbnail_id.as_str()]).to_string(),
            now,
            job.id.as_str()
        ],
    )?;
    let record = Record::success(Some(&job.org_id), "job.succeed", Some(("job", &job.id)))
        .with_details(json!({ "kind": job.kind, "asset_id": params.asset_id, "thumbnail_asset_id": thumbnail_id }));
    let guard = guard_status(db, &job.id, &["running"])?;
    // A cancel that raced the work leaves the job cancelled; the thumbnail stands either way.
    let _ = audit::commit(ctx, db, vec![guard, update], record, Some(SYSTEM_ACTOR)).await;
    Ok(())
}
