//! Render handlers: stills, chunks of range renders and the join, and writing outputs as
//! assets with their lineage.

use std::collections::BTreeSet;

use editor_core::model::{Source, Timeline};
use editor_core::render::{export, Frame, Renderer};
use serde::Deserialize;
use serde_json::json;

use super::container::{self, GifBlocks};
use super::model::{output_asset_id, Fault, JobRow, RenderKind, RenderParams};
use super::{
    asset_key, broadcast_current, delete_work_files, guard_status, load_job, work_prefix, Config,
    JobError, SYSTEM_ACTOR,
};
use crate::args;
use crate::assets::images::AssetImages;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::Ctx;
use crate::util;

/// Version of the renderer recorded in lineage recipes (the `editor-core` crate's version).
pub const EDITOR_CORE_VERSION: &str = "0.1.0";

/// A job's parameters.
pub fn params(job: &JobRow) -> Result<RenderParams, JobError> {
    serde_json::from_str(&job.params)
        .map_err(|e| JobError::permanent("invalid_params", format!("job parameters: {e}")))
}

/// The timeline the job renders: the snapshot taken when it was submitted.
pub async fn load_snapshot(ctx: &Ctx, job: &JobRow) -> Result<Timeline, JobError> {
    let bucket = ctx.env.bucket("ASSETS")?;
    let key = format!("{}timeline.json", work_prefix(&job.org_id, &job.id));
    let object = bucket.get(&key).execute().await?.ok_or_else(|| {
        JobError::permanent("snapshot_missing", "the job's timeline snapshot is gone")
    })?;
    let bytes = object
        .body()
        .ok_or_else(|| JobError::transient("snapshot_unreadable", "empty snapshot"))?
        .bytes()
        .await?;
    let text = String::from_utf8(bytes)
        .map_err(|_| JobError::permanent("snapshot_invalid", "the snapshot is not UTF-8"))?;
    editor_core::format::from_json(&text)
        .map_err(|e| JobError::permanent("snapshot_invalid", e.to_string()))
}

/// Asset ids a timeline references (images, image sequences, audio), in order.
pub fn referenced_assets(timeline: &Timeline) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for track in &timeline.tracks {
        for clip in &track.clips {
            match &clip.source {
                Source::Image { asset_id, .. }
                | Source::ImageSequence { asset_id, .. }
                | Source::Audio { asset_id } => {
                    ids.insert(asset_id.clone());
                }
                _ => {}
            }
        }
    }
    ids
}

/// An asset of the job's organisation, as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct AssetRef {
    /// `ast_…`
    pub id: String,
    /// Asset kind.
    pub kind: String,
    /// Where the bytes are.
    pub r2_key: String,
}

/// The referenced assets that exist in `org_id` (others are invisible: another tenant's id in a
/// timeline resolves to nothing).
pub async fn visible_assets(
    db: &Db,
    org_id: &str,
    ids: &BTreeSet<String>,
) -> Result<Vec<AssetRef>, JobError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    // One query for all of them, in id order like `ids`.
    let wanted = serde_json::to_string(ids)
        .map_err(|e| JobError::permanent("invalid_params", e.to_string()))?;
    Ok(db
        .all(
            "SELECT id, kind, r2_key FROM assets
             WHERE org_id = ?1 AND status = 'ready' AND id IN (SELECT value FROM json_each(?2))
             ORDER BY id",
            args![org_id, wanted.as_str()],
        )
        .await?)
}

/// Reads an asset's bytes from R2.
pub async fn read_asset(ctx: &Ctx, asset: &AssetRef) -> Result<Vec<u8>, JobError> {
    let object = ctx
        .env
        .bucket("ASSETS")?
        .get(&asset.r2_key)
        .execute()
        .await?
        .ok_or_else(|| {
            JobError::transient(
                "asset_unavailable",
                format!("asset {} has no bytes", asset.id),
            )
        })?;
    Ok(object
        .body()
        .ok_or_else(|| JobError::transient("asset_unavailable", "empty asset body"))?
        .bytes()
        .await?)
}

/// Decoded images of the timeline's image clips, from the organisation's assets through the
/// assets module's decoded-image cache (shared with `frame.png` and the other chunks this
/// isolate renders). Image sequences are not decoded here.
pub async fn load_images(
    ctx: &Ctx,
    org_id: &str,
    assets: &[AssetRef],
    timeline: &Timeline,
) -> Result<AssetImages, JobError> {
    let mut still_images = BTreeSet::new();
    for track in &timeline.tracks {
        for clip in &track.clips {
            if let Source::Image { asset_id, .. } = &clip.source {
                still_images.insert(asset_id.as_str());
            }
        }
    }
    let ids: Vec<String> = assets
        .iter()
        .filter(|a| still_images.contains(a.id.as_str()))
        .map(|a| a.id.clone())
        .collect();
    crate::assets::images::image_source_for(&ctx.env, org_id, &ids)
        .await
        .map_err(|error| {
            if error.status < 500 {
                JobError::permanent(&error.code, error.message)
            } else {
                JobError::transient(&error.code, error.message)
            }
        })
}

/// Fails as a test asked (only where fault injection is on).
pub fn injected_fault(config: &Config, fault: Option<Fault>, attempt: i64) -> Result<(), JobError> {
    if !config.fault_injection {
        return Ok(());
    }
    match fault {
        Some(Fault::Transient) => Err(JobError::transient(
            "injected_transient",
            "a transient failure was injected",
        )),
        Some(Fault::TransientOnce) if attempt <= 1 => Err(JobError::transient(
            "injected_transient",
            "a transient failure was injected on the first attempt",
        )),
        Some(Fault::Permanent) => Err(JobError::permanent(
            "injected_permanent",
            "a permanent failure was injected",
        )),
        _ => Ok(()),
    }
}

/// Bytes already stored in R2 under the output asset's key.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Size.
    pub bytes: i64,
    /// SHA-256, lowercase hex.
    pub sha256: String,
}

/// Size of the parts of a multipart output (R2 wants equal parts, all but the last ≥ 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Writes an output to R2 as a stream of multipart parts, hashing as it goes, so that a join
/// never holds the whole file.
pub struct OutputSink {
    upload: worker::MultipartUpload,
    parts: Vec<worker::UploadedPart>,
    buffer: Vec<u8>,
    hasher: sha2::Sha256,
    total: u64,
}

impl OutputSink {
    /// Starts the upload of `key`.
    pub async fn create(ctx: &Ctx, key: &str) -> Result<Self, JobError> {
        let upload = ctx
            .env
            .bucket("ASSETS")?
            .create_multipart_upload(key)
            .execute()
            .await?;
        Ok(Self {
            upload,
            parts: Vec::new(),
            buffer: Vec::with_capacity(PART_BYTES),
            hasher: sha2::Digest::new(),
            total: 0,
        })
    }

    /// Appends bytes; full parts are uploaded.
    pub async fn write(&mut self, bytes: &[u8]) -> Result<(), JobError> {
        sha2::Digest::update(&mut self.hasher, bytes);
        self.total += bytes.len() as u64;
        self.buffer.extend_from_slice(bytes);
        while self.buffer.len() >= PART_BYTES {
            let rest = self.buffer.split_off(PART_BYTES);
            let part = std::mem::replace(&mut self.buffer, rest);
            self.upload_part(part).await?;
        }
        Ok(())
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> Result<(), JobError> {
        let number = u16::try_from(self.parts.len() + 1)
            .map_err(|_| JobError::permanent("output_too_large", "too many parts"))?;
        let uploaded = self.upload.upload_part(number, part).await?;
        self.parts.push(uploaded);
        Ok(())
    }

    /// Uploads the rest and completes the object.
    pub async fn finish(mut self) -> Result<Stored, JobError> {
        if !self.buffer.is_empty() || self.parts.is_empty() {
            let last = std::mem::take(&mut self.buffer);
            self.upload_part(last).await?;
        }
        let digest = sha2::Digest::finalize(self.hasher.clone());
        let sha256 = digest.iter().map(|b| format!("{b:02x}")).collect();
        let total = self.total as i64;
        self.upload.complete(self.parts).await?;
        Ok(Stored {
            bytes: total,
            sha256,
        })
    }

    /// Gives the upload up (nothing is stored).
    pub async fn abort(self) {
        let _ = self.upload.abort().await;
    }
}

/// Stores a whole output held in memory (stills, audio).
pub async fn store_bytes(ctx: &Ctx, job: &JobRow, bytes: Vec<u8>) -> Result<Stored, JobError> {
    let key = asset_key(&job.org_id, &output_asset_id(&job.id));
    let stored = Stored {
        bytes: bytes.len() as i64,
        sha256: util::sha256_hex(&bytes),
    };
    ctx.env.bucket("ASSETS")?.put(&key, bytes).execute().await?;
    Ok(stored)
}

/// An output to record as an asset.
pub struct Output {
    /// The stored file.
    pub stored: Stored,
    /// `render` or `audio`.
    pub kind: &'static str,
    /// MIME type.
    pub mime: &'static str,
    /// Pixel size, for images.
    pub size: Option<(u32, u32)>,
    /// Length, for animations and audio.
    pub duration_ms: Option<i64>,
    /// Display name.
    pub name: String,
}

#[derive(Deserialize)]
struct NameRow {
    name: String,
}

/// "<project name> frames 0–24.gif" and the like.
pub async fn output_name(db: &Db, job: &JobRow, params: &RenderParams) -> String {
    let project = match &job.project_id {
        Some(id) => db
            .first::<NameRow>(
                "SELECT name FROM projects WHERE id = ?1",
                args![id.as_str()],
            )
            .await
            .ok()
            .flatten()
            .map(|row| row.name),
        None => None,
    }
    .unwrap_or_else(|| "Render".to_string());
    let (from, to) = (params.from_frame, params.to_frame);
    match params.kind {
        RenderKind::Still => format!("{project} frame {from}.png"),
        RenderKind::PngSequence => format!("{project} frames {from}–{to}.zip"),
        RenderKind::Apng => format!("{project} frames {from}–{to}.png"),
        RenderKind::Gif => format!("{project} frames {from}–{to}.gif"),
        RenderKind::Wav => format!("{project} audio {from}–{to}.wav"),
    }
}

/// Records a stored output: in one D1 batch, its asset row, its lineage and the job's success
/// with the audit record. If the job was cancelled meanwhile the batch changes nothing
/// and the stored bytes are deleted. Idempotent: a second finish meets the same asset id.
pub async fn finish_with_output(
    ctx: &Ctx,
    db: &Db,
    job: &JobRow,
    params: &RenderParams,
    parents: &[AssetRef],
    output: Output,
) -> Result<(), JobError> {
    let asset_id = output_asset_id(&job.id);
    let key = asset_key(&job.org_id, &asset_id);
    let bucket = ctx.env.bucket("ASSETS")?;
    let sha256 = output.stored.sha256.clone();
    let bytes = output.stored.bytes;

    let now = util::now_ms();
    let recipe = json!({
        "job_kind": job.kind,
        "params": serde_json::to_value(params).unwrap_or_default(),
        "editor_core_version": EDITOR_CORE_VERSION,
    })
    .to_string();
    let metadata = json!({ "job_id": job.id, "project_id": job.project_id }).to_string();
    let mut changes = vec![
        guard_status(db, &job.id, &["running"])?,
        db.stmt(
            "INSERT INTO assets (id, org_id, owner_type, owner_id, kind, mime, bytes, sha256, r2_key, width, height,
                                 duration_ms, name, tags, metadata, status, created_at, updated_at)
             VALUES (?1, ?2, 'job', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, '[]', ?13, 'ready', ?14, ?14)
             ON CONFLICT(id) DO NOTHING",
            args![
                asset_id.as_str(),
                job.org_id.as_str(),
                job.id.as_str(),
                output.kind,
                output.mime,
                bytes,
                sha256.as_str(),
                key.as_str(),
                output.size.map(|s| i64::from(s.0)),
                output.size.map(|s| i64::from(s.1)),
                output.duration_ms,
                output.name.as_str(),
                metadata.as_str(),
                now,
            ],
        )?,
    ];
    for parent in parents {
        changes.push(db.stmt(
            "INSERT INTO asset_lineage (child_id, parent_id, org_id, recipe, created_at)
             SELECT ?1, id, ?2, ?3, ?4 FROM assets WHERE id = ?5 AND org_id = ?2
             ON CONFLICT DO NOTHING",
            args![
                asset_id.as_str(),
                job.org_id.as_str(),
                recipe.as_str(),
                now,
                parent.id.as_str()
            ],
        )?);
    }
    changes.push(db.stmt(
        "UPDATE jobs SET status = 'succeeded', progress = 100, result_asset_ids = ?1, error = NULL,
                         finished_at = ?2, updated_at = ?2
         WHERE id = ?3 AND status = 'running'",
        args![json!([asset_id]).to_string(), now, job.id.as_str()],
    )?);
    changes.push(db.stmt(
        "UPDATE job_chunks SET status = 'succeeded', updated_at = ?1 WHERE job_id = ?2",
        args![now, job.id.as_str()],
    )?);
    let record = Record::success(Some(&job.org_id), "job.succeed", Some(("job", &job.id)))
        .with_details(json!({ "kind": job.kind, "asset_id": asset_id, "bytes": bytes }));
    if let Err(error) = audit::commit(ctx, db, changes, record, Some(SYSTEM_ACTOR)).await {
        let current = load_job(db, &job.id).await?;
        if current.as_ref().is_some_and(|j| j.status != "running") {
            // Cancelled (or finished by a duplicate) meanwhile. A duplicate's asset is the same
            // object under the same key, so only a job without that asset loses the bytes.
            let finished_here = current.as_ref().is_some_and(|j| j.status == "succeeded");
            if !finished_here {
                let _ = bucket.delete(&key).await;
            }
            return Ok(());
        }
        return Err(error.into());
    }
    delete_work_files(&ctx.env, &job.org_id, &job.id).await;
    super::finished(ctx, db, &job.id).await;
    Ok(())
}

/// Marks a single-message job running and counts the attempt. `None` when it should not run
/// (cancelled or ended meanwhile).
pub async fn start(ctx: &Ctx, db: &Db, job: &JobRow) -> Result<Option<i64>, JobError> {
    #[derive(Deserialize)]
    struct Attempts {
        attempts: i64,
    }
    let now = util::now_ms();
    let row: Option<Attempts> = db
        .first(
            "UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = COALESCE(started_at, ?1),
                             updated_at = ?1
             WHERE id = ?2 AND status IN ('queued', 'running') RETURNING attempts",
            args![now, job.id.as_str()],
        )
        .await?;
    if row.is_some() && job.status == "queued" {
        broadcast_current(ctx, db, &job.id, true).await;
    }
    Ok(row.map(|r| r.attempts))
}

/// `render_still`: one frame, rendered exactly as `GET /v1/projects/{id}/frame.png` does.
pub async fn still(ctx: &Ctx, db: &Db, config: &Config, job: &JobRow) -> Result<(), JobError> {
    let params = params(job)?;
    let Some(attempt) = start(ctx, db, job).await? else {
        return Ok(());
    };
    injected_fault(config, params.fault, attempt)?;
    let timeline = load_snapshot(ctx, job).await?;
    let parents = visible_assets(db, &job.org_id, &referenced_assets(&timeline)).await?;
    let images = load_images(ctx, &job.org_id, &parents, &timeline).await?;
    let list = editor_core::frame_at(&timeline, params.from_frame, params.scale as f32);
    let mut renderer = job_renderer();
    let png = export::export_png(&mut renderer, &images, &list)
        .map_err(|e| JobError::permanent("render_failed", e.to_string()))?;
    let output = Output {
        stored: store_bytes(ctx, job, png).await?,
        kind: "render",
        mime: "image/png",
        size: Some((list.width, list.height)),
        duration_ms: None,
        name: output_name(db, job, &params).await,
    };
    finish_with_output(ctx, db, job, &params, &parents, output).await
}

#[derive(Debug, Deserialize)]
struct ChunkRow {
    from_frame: i64,
    to_frame: i64,
    status: String,
}

/// `render_chunk`: renders one chunk of a range render into `…/chunks/{idx}` and, if it is the
/// last chunk to finish, joins them all into the output.
pub async fn chunk(
    ctx: &Ctx,
    db: &Db,
    config: &Config,
    job: &JobRow,
    idx: u32,
) -> Result<(), JobError> {
    let params = params(job)?;
    let now = util::now_ms();
    let chunk: ChunkRow = db
        .first(
            "SELECT from_frame, to_frame, status FROM job_chunks WHERE job_id = ?1 AND idx = ?2",
            args![job.id.as_str(), i64::from(idx)],
        )
        .await?
        .ok_or_else(|| {
            JobError::permanent("unknown_chunk", format!("chunk {idx} does not exist"))
        })?;
    if chunk.status == "succeeded" {
        // A redelivery after this chunk was done: only the join may be left to do.
        return try_join(ctx, db, job, &params, now).await;
    }
    let claimed = db
        .batch(vec![
            db.stmt(
                "UPDATE job_chunks SET status = 'running', attempts = attempts + 1, frames_done = 0, error = NULL,
                                       updated_at = ?1
                 WHERE job_id = ?2 AND idx = ?3 AND status IN ('queued', 'running')",
                args![now, job.id.as_str(), i64::from(idx)],
            )?,
            db.stmt(
                "UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, ?1), updated_at = ?1,
                                 attempts = MAX(attempts, (SELECT attempts FROM job_chunks WHERE job_id = ?2 AND idx = ?3))
                 WHERE id = ?2 AND status IN ('queued', 'running')",
                args![now, job.id.as_str(), i64::from(idx)],
            )?,
        ])
        .await?;
    if claimed.first() != Some(&1) || claimed.get(1) != Some(&1) {
        return Ok(());
    }
    if job.status == "queued" {
        broadcast_current(ctx, db, &job.id, true).await;
    }
    #[derive(Deserialize)]
    struct Attempts {
        attempts: i64,
    }
    let attempt = db
        .first::<Attempts>(
            "SELECT attempts FROM job_chunks WHERE job_id = ?1 AND idx = ?2",
            args![job.id.as_str(), i64::from(idx)],
        )
        .await?
        .map(|a| a.attempts)
        .unwrap_or(1);
    injected_fault(config, params.fault, attempt)?;

    let timeline = load_snapshot(ctx, job).await?;
    let parents = visible_assets(db, &job.org_id, &referenced_assets(&timeline)).await?;
    let images = load_images(ctx, &job.org_id, &parents, &timeline).await?;
    let from = chunk.from_frame.max(0) as u64;
    let to = chunk.to_frame.max(0) as u64;
    let total = params.frame_count() as i64;
    let mut renderer = job_renderer();
    let mut frame: Option<Frame> = None;
    let mut file = Vec::new();
    let mut gif = match params.kind {
        RenderKind::Gif => Some(GifBlocks::new(params.width as u16, params.height as u16)?),
        _ => None,
    };
    let mut straight = Vec::new();
    let rate = timeline.settings.frame_rate;
    for (done, index) in (from..=to).enumerate() {
        if config.fault_injection && params.fault == Some(Fault::Slow) {
            worker::Delay::from(std::time::Duration::from_millis(100)).await;
        }
        let list = editor_core::frame_at(&timeline, index, params.scale as f32);
        let target = match &mut frame {
            Some(f) => f,
            None => frame.insert(
                Frame::new(list.width, list.height)
                    .map_err(|e| JobError::permanent("render_failed", e.to_string()))?,
            ),
        };
        renderer
            .render(&list, &images, target)
            .map_err(|e| JobError::permanent("render_failed", e.to_string()))?;
        match params.kind {
            RenderKind::PngSequence => {
                let png = export::encode_png(target)
                    .map_err(|e| JobError::permanent("encode_failed", e.to_string()))?;
                container::push_record(&mut file, &png);
            }
            RenderKind::Apng => {
                straight.resize(target.pixels().len() * 4, 0);
                target
                    .write_straight_rgba(&mut straight)
                    .map_err(|e| JobError::permanent("encode_failed", e.to_string()))?;
                let png = rgba_png(target.width(), target.height(), &straight)?;
                container::push_record(&mut file, &png);
            }
            RenderKind::Gif => {
                straight.resize(target.pixels().len() * 4, 0);
                target
                    .write_straight_rgba(&mut straight)
                    .map_err(|e| JobError::permanent("encode_failed", e.to_string()))?;
                let delay = container::gif_delay(index - params.from_frame, rate.num, rate.den);
                if let Some(gif) = gif.as_mut() {
                    gif.push(&mut straight, delay)?;
                }
            }
            RenderKind::Still | RenderKind::Wav => {
                return Err(JobError::permanent("invalid_params", "not a range render"))
            }
        }
        // Progress, and the cancel check between frames: the job update only applies while
        // the job runs.
        let now = util::now_ms();
        let changed = db
            .batch(vec![
                db.stmt(
                    "UPDATE job_chunks SET frames_done = ?1, updated_at = ?2 WHERE job_id = ?3 AND idx = ?4 AND status = 'running'",
                    args![done as i64 + 1, now, job.id.as_str(), i64::from(idx)],
                )?,
                db.stmt(
                    "UPDATE jobs SET progress = MAX(progress, MIN(99, CAST((SELECT COALESCE(SUM(frames_done), 0) FROM job_chunks WHERE job_id = ?1) * 100 / ?2 AS INTEGER))),
                                     updated_at = ?3
                     WHERE id = ?1 AND status = 'running'",
                    args![job.id.as_str(), total, now],
                )?,
            ])
            .await?;
        if changed.get(1) != Some(&1) {
            super::log(
                "info",
                "chunk stopped: the job is no longer running",
                &job.id,
                &format!("chunk {idx} at frame {index}"),
            );
            return Ok(());
        }
        broadcast_current(ctx, db, &job.id, false).await;
    }
    if let Some(gif) = gif {
        file = gif.finish()?;
    }

    let key = format!("{}chunks/{idx:05}", work_prefix(&job.org_id, &job.id));
    let bucket = ctx.env.bucket("ASSETS")?;
    bucket.put(&key, file).execute().await?;
    let now = util::now_ms();
    let done = db
        .batch(vec![
            db.stmt(
                "UPDATE job_chunks SET status = 'succeeded', r2_key = ?1, updated_at = ?2
                 WHERE job_id = ?3 AND idx = ?4 AND status = 'running'",
                args![key.as_str(), now, job.id.as_str(), i64::from(idx)],
            )?,
            claim_join(db, &job.id, now)?,
        ])
        .await?;
    if done.first() != Some(&1) {
        // Cancelled meanwhile: this chunk's output is not needed.
        let _ = bucket.delete(&key).await;
        return Ok(());
    }
    if done.get(1) == Some(&1) {
        return join(ctx, db, job, &params).await;
    }
    Ok(())
}

/// Claims the join for the caller: succeeds (one row changed) for exactly one consumer, once
/// every chunk has succeeded. A claim older than two minutes (its consumer died) can be taken.
fn claim_join(db: &Db, job_id: &str, now: i64) -> Result<worker::D1PreparedStatement, JobError> {
    Ok(db.stmt(
        "UPDATE jobs SET join_claimed_at = ?1
         WHERE id = ?2 AND status = 'running' AND (join_claimed_at IS NULL OR join_claimed_at < ?1 - 120000)
           AND NOT EXISTS (SELECT 1 FROM job_chunks WHERE job_id = ?2 AND status <> 'succeeded')",
        args![now, job_id],
    )?)
}

async fn try_join(
    ctx: &Ctx,
    db: &Db,
    job: &JobRow,
    params: &RenderParams,
    now: i64,
) -> Result<(), JobError> {
    let claimed = db.batch(vec![claim_join(db, &job.id, now)?]).await?;
    if claimed.first() == Some(&1) {
        return join(ctx, db, job, params).await;
    }
    Ok(())
}

/// Joins the chunks into the output and finishes the job. On failure the claim is given up so
/// that the retried message can join again.
async fn join(ctx: &Ctx, db: &Db, job: &JobRow, params: &RenderParams) -> Result<(), JobError> {
    let result = join_inner(ctx, db, job, params).await;
    if result.is_err() {
        let _ = db
            .run(
                "UPDATE jobs SET join_claimed_at = NULL WHERE id = ?1",
                args![job.id.as_str()],
            )
            .await;
    }
    result
}

#[derive(Deserialize)]
struct ChunkOutput {
    from_frame: i64,
    r2_key: Option<String>,
}

/// Streams the chunks, in order, into the output format; returns its MIME type.
async fn write_output(
    bucket: &worker::Bucket,
    sink: &mut OutputSink,
    chunks: &[ChunkOutput],
    params: &RenderParams,
    rate: editor_core::model::Rational,
) -> Result<&'static str, JobError> {
    let mut zip = container::ZipWriter::new();
    let mut apng: Option<container::ApngWriter> = None;
    if params.kind == RenderKind::Gif {
        sink.write(&container::gif_header(
            params.width as u16,
            params.height as u16,
        )?)
        .await?;
    }
    for chunk in chunks {
        let key = chunk
            .r2_key
            .as_deref()
            .ok_or_else(|| JobError::transient("chunk_missing", "a chunk has no output yet"))?;
        let object = bucket
            .get(key)
            .execute()
            .await?
            .ok_or_else(|| JobError::transient("chunk_missing", "a chunk's output is gone"))?;
        let file = object
            .body()
            .ok_or_else(|| JobError::transient("chunk_missing", "empty chunk output"))?
            .bytes()
            .await?;
        match params.kind {
            RenderKind::PngSequence => {
                let from = chunk.from_frame.max(0) as u64;
                for (n, png) in container::records(&file)?.into_iter().enumerate() {
                    let name = format!("frame_{:06}.png", from + n as u64);
                    sink.write(&zip.add(&name, png)?).await?;
                    sink.write(png).await?;
                }
            }
            RenderKind::Apng => {
                for png in container::records(&file)? {
                    let writer = match &mut apng {
                        Some(writer) => writer,
                        None => {
                            let num = u16::try_from(rate.den).map_err(|_| {
                                JobError::permanent("encode_failed", "frame rate out of range")
                            })?;
                            let den = u16::try_from(rate.num).map_err(|_| {
                                JobError::permanent("encode_failed", "frame rate out of range")
                            })?;
                            let count = params.frame_count() as u32;
                            let (writer, head) = container::ApngWriter::new(png, count, num, den)?;
                            sink.write(&head).await?;
                            apng.insert(writer)
                        }
                    };
                    sink.write(&writer.frame(png)?).await?;
                }
            }
            RenderKind::Gif => sink.write(&file).await?,
            RenderKind::Still | RenderKind::Wav => {
                return Err(JobError::permanent("invalid_params", "not a range render"))
            }
        }
    }
    Ok(match params.kind {
        RenderKind::PngSequence => {
            sink.write(&zip.finish()?).await?;
            "application/zip"
        }
        RenderKind::Apng => {
            let writer = apng.ok_or_else(|| corrupt_output("no frames"))?;
            sink.write(&writer.end()).await?;
            "image/png"
        }
        _ => {
            sink.write(&[container::GIF_TRAILER]).await?;
            "image/gif"
        }
    })
}

fn corrupt_output(what: &str) -> JobError {
    JobError::transient(
        "chunk_corrupt",
        format!("the chunks are incomplete: {what}"),
    )
}

async fn join_inner(
    ctx: &Ctx,
    db: &Db,
    job: &JobRow,
    params: &RenderParams,
) -> Result<(), JobError> {
    let chunks: Vec<ChunkOutput> = db
        .all(
            "SELECT from_frame, r2_key FROM job_chunks WHERE job_id = ?1 ORDER BY idx",
            args![job.id.as_str()],
        )
        .await?;
    let bucket = ctx.env.bucket("ASSETS")?;
    let timeline = load_snapshot(ctx, job).await?;
    let rate = timeline.settings.frame_rate;
    let key = asset_key(&job.org_id, &output_asset_id(&job.id));
    let mut sink = OutputSink::create(ctx, &key).await?;
    let written = write_output(&bucket, &mut sink, &chunks, params, rate).await;
    let mime = match written {
        Ok(mime) => mime,
        Err(error) => {
            sink.abort().await;
            return Err(error);
        }
    };
    let stored = sink.finish().await?;
    let parents = visible_assets(db, &job.org_id, &referenced_assets(&timeline)).await?;
    let duration_ms =
        (params.frame_count() * 1000 * u64::from(rate.den) / u64::from(rate.num.max(1))) as i64;
    let output = Output {
        stored,
        kind: "render",
        mime,
        size: Some((params.width, params.height)),
        duration_ms: Some(duration_ms),
        name: output_name(db, job, params).await,
    };
    // Re-read: the job may have been cancelled while the chunks were fetched.
    let current = load_job(db, &job.id).await?;
    match current {
        Some(current) if current.status == "running" => {
            finish_with_output(ctx, db, &current, params, &parents, output).await
        }
        // A duplicate finished it: the object under the key is that output.
        Some(current) if current.status == "succeeded" => Ok(()),
        _ => {
            let _ = bucket.delete(&key).await;
            Ok(())
        }
    }
}

/// Layer and mip-level cache of a job's renderer. The default (256 MiB) suits the browser; a
/// consumer shares its isolate's 128 MB with the decoded images, the frame, the encoded chunk
/// and other chunks rendering at the same time.
const RENDER_CACHE_BYTES: usize = 24 * 1024 * 1024;

fn job_renderer() -> Renderer {
    let mut renderer = Renderer::new();
    renderer.set_cache_budget(RENDER_CACHE_BYTES);
    renderer
}

/// An RGBA PNG (every frame of an animated PNG shares one colour type).
fn rgba_png(width: u32, height: u32, straight: &[u8]) -> Result<Vec<u8>, JobError> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder
            .write_header()
            .map_err(|e| JobError::permanent("encode_failed", e.to_string()))?;
        writer
            .write_image_data(straight)
            .map_err(|e| JobError::permanent("encode_failed", e.to_string()))?;
        writer
            .finish()
            .map_err(|e| JobError::permanent("encode_failed", e.to_string()))?;
    }
    Ok(out)
}
