//! HTTP handlers of the asset routes: upload, read, edit, delete, download, share, search,
//! lineage, near-duplicates and integrity checks. Multipart uploads are in [`super::uploads`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use worker::{D1PreparedStatement, Request, Response};

use super::probe::probe;
use super::sniff::{Kind, Sniffed};
use super::store::{self, Download};
use super::{
    bucket, clean_metadata, clean_tags, find, load, phash, plan_limits, r2_key, signed, AssetRow,
    AssetView, ASSET_COLUMNS, MAX_SINGLE_UPLOAD_BYTES, RESERVED_METADATA_KEYS,
};
use crate::args;
use crate::audit::{self, Outcome, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{clean_name, decode_cursor, page};
use crate::identity::{authorize, Permission};
use crate::util;

/// One asset; `duplicate` is true when an upload matched an asset already stored in the
/// organisation (same SHA-256), which is returned instead of a copy.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssetResponse {
    /// The asset.
    pub asset: AssetView,
    /// Whether the upload was a duplicate of this existing asset.
    pub duplicate: bool,
}

/// A page of assets.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AssetPage {
    /// Newest first.
    pub items: Vec<AssetView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `PATCH /v1/assets/{asset_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchAssetBody {
    /// New display name, 1–100 characters.
    #[serde(default)]
    pub name: Option<String>,
    /// Replaces the tags (at most 32, 1–64 characters each).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Replaces the custom metadata (a JSON object up to 16 KiB); the platform's keys
    /// `media` and `detached_from` are kept.
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// `POST /v1/assets/{asset_id}/signed-url`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignedUrlBody {
    /// Lifetime in seconds, 1 to 604800 (7 days); default 3600.
    #[serde(default)]
    pub expires_in: Option<i64>,
}

/// A sharing link.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SignedUrlResponse {
    /// Absolute URL that serves the asset without credentials until it expires.
    pub url: String,
    /// When it stops working.
    pub expires_at: String,
}

/// One derivation in a lineage graph: `to` was derived from `from` by `recipe`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LineageEdge {
    /// The source asset.
    pub from: String,
    /// The derived asset.
    pub to: String,
    /// `{job_kind, params, editor_core_version}`.
    pub recipe: Value,
}

/// Ancestors and/or descendants of an asset, with the asset itself.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LineageGraph {
    /// Assets of the graph.
    pub nodes: Vec<AssetView>,
    /// Derivations between them.
    pub edges: Vec<LineageEdge>,
}

/// A visually similar image.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SimilarItem {
    /// The image.
    pub asset: AssetView,
    /// Hamming distance of the perceptual hashes (0 = same picture, 64 = opposite).
    pub distance: u32,
}

/// Near-duplicates, closest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SimilarList {
    /// Closest first.
    pub items: Vec<SimilarItem>,
}

/// Result of re-reading an asset's bytes.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResponse {
    /// The asset.
    pub asset_id: String,
    /// Whether the stored bytes still have the recorded checksum and length.
    pub ok: bool,
    /// The recorded SHA-256.
    pub expected_sha256: String,
    /// The SHA-256 of the bytes read now; null if the object is missing.
    pub actual_sha256: Option<String>,
    /// The recorded length.
    pub expected_bytes: i64,
    /// The length read now; null if the object is missing.
    pub actual_bytes: Option<i64>,
}

// ------------------------------------------------------------------ creating assets

/// The requested `kind`, if any: 422 for unknown kinds and those only jobs make.
pub fn requested_kind(raw: Option<String>) -> AppResult<Option<Kind>> {
    match raw.filter(|k| !k.is_empty()) {
        None => Ok(None),
        Some(raw) => Kind::parse(&raw)
            .filter(|kind| kind.uploadable())
            .map(Some)
            .ok_or_else(|| {
                AppError::invalid(
                    "invalid_kind",
                    "kind is one of image, video, audio, font, template, archive, document, other",
                )
            }),
    }
}

/// 422 when the bytes contradict the requested kind.
pub fn check_kind(requested: Option<Kind>, sniffed: &Sniffed) -> AppResult<()> {
    match requested {
        Some(kind) if !kind.accepts(sniffed) => Err(AppError::invalid(
            "content_mismatch",
            format!(
                "the file's bytes are {} ({}), not {}",
                sniffed.mime,
                sniffed.kind.as_str(),
                kind.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

/// A stored object about to become an asset.
pub struct NewAsset {
    /// Organisation.
    pub org_id: String,
    /// Id reserved for it.
    pub asset_id: String,
    /// Where it was stored.
    pub key: String,
    /// Display name.
    pub name: String,
    /// Kind asked for, if any.
    pub requested: Option<Kind>,
    /// Tags.
    pub tags: Vec<String>,
    /// What its first bytes are.
    pub sniffed: Sniffed,
    /// SHA-256 hex of the stored bytes.
    pub sha256: String,
    /// Stored length.
    pub bytes: u64,
    /// First bytes, for probing.
    pub head: Vec<u8>,
}

/// Records a stored object as an asset: probes it, detects a duplicate in the organisation
/// (then the new object is deleted and the existing asset returned), inserts the record with
/// its audit entry (plus `extra` statements, in the same batch) and queues its thumbnail.
/// On any failure the new object is deleted, so nothing is left behind.
pub async fn record_new_asset(
    ctx: &Ctx,
    new: NewAsset,
    extra: Vec<D1PreparedStatement>,
    action: &str,
) -> AppResult<(AssetRow, bool)> {
    let bucket = bucket(&ctx.env)?;
    match record(ctx, &new, extra, action).await {
        Ok((row, duplicate)) => {
            if duplicate {
                bucket.delete(&new.key).await?;
            } else {
                queue_thumbnail(ctx, &row).await;
            }
            Ok((row, duplicate))
        }
        Err(error) => {
            let _ = bucket.delete(&new.key).await;
            Err(error)
        }
    }
}

async fn record(
    ctx: &Ctx,
    new: &NewAsset,
    mut extra: Vec<D1PreparedStatement>,
    action: &str,
) -> AppResult<(AssetRow, bool)> {
    let probed = probe(new.sniffed.mime, &new.head, new.bytes)
        .map_err(|error| AppError::invalid("invalid_media", error.to_string()))?;
    let db = ctx.db()?;
    let existing: Option<AssetRow> = db
        .first(
            &format!(
                "SELECT {ASSET_COLUMNS} FROM assets a
                 WHERE a.org_id = ?1 AND a.sha256 = ?2 AND a.status = 'ready' AND a.kind != 'thumbnail'
                 ORDER BY a.id LIMIT 1"
            ),
            args![new.org_id.as_str(), new.sha256.as_str()],
        )
        .await?;
    if let Some(existing) = existing {
        if !extra.is_empty() {
            let record = Record::success(
                Some(&new.org_id),
                action,
                Some(("asset", existing.id.as_str())),
            )
            .with_details(json!({ "duplicate": true, "sha256": new.sha256 }));
            audit::commit(ctx, &db, extra, record, None).await?;
        }
        return Ok((existing, true));
    }
    let principal = authenticate_ref(ctx)?;
    let kind = new.requested.unwrap_or(new.sniffed.kind);
    let mut metadata = Map::new();
    if let Some(media) = probed.media {
        metadata.insert("media".into(), media);
    }
    let insert = db.stmt(
        "INSERT INTO assets (id, org_id, owner_type, owner_id, kind, mime, bytes, sha256, r2_key, width, height,
           duration_ms, name, tags, metadata, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 'ready', ?16, ?16)",
        args![
            new.asset_id.as_str(),
            new.org_id.as_str(),
            principal.0,
            principal.1,
            kind.as_str(),
            new.sniffed.mime,
            new.bytes as i64,
            new.sha256.as_str(),
            new.key.as_str(),
            probed.width.map(i64::from),
            probed.height.map(i64::from),
            probed.duration_ms,
            new.name.as_str(),
            Value::from(new.tags.clone()).to_string(),
            Value::Object(metadata).to_string(),
            ctx.now,
        ],
    )?;
    extra.insert(0, insert);
    let record = Record::success(
        Some(&new.org_id),
        action,
        Some(("asset", new.asset_id.as_str())),
    )
    .with_details(json!({
        "name": new.name, "kind": kind.as_str(), "mime": new.sniffed.mime,
        "bytes": new.bytes, "sha256": new.sha256,
    }));
    audit::commit(ctx, &db, extra, record, None).await?;
    let row = find(&db, Some(&new.org_id), &new.asset_id)
        .await?
        .ok_or_else(|| AppError::internal("the new asset was not found"))?;
    Ok((row, false))
}

fn authenticate_ref(ctx: &Ctx) -> AppResult<(&'static str, String)> {
    let principal = ctx
        .principal
        .as_ref()
        .ok_or_else(|| AppError::internal("no principal"))?;
    Ok((principal.actor_type(), principal.actor_id().to_string()))
}

/// Image formats the thumbnail job decodes.
pub fn thumbnailable(mime: &str) -> bool {
    matches!(mime, "image/png" | "image/jpeg" | "image/gif")
}

/// Queues the thumbnail of a new image. A failure is logged, not raised: the upload stands,
/// the asset shows `thumbnail_asset_id: null`, and `POST /v1/assets/{id}/thumbnail` asks again.
async fn queue_thumbnail(ctx: &Ctx, row: &AssetRow) {
    if row.kind != "image" || !thumbnailable(&row.mime) {
        return;
    }
    if let Err(error) = crate::jobs::thumbnail::queue(ctx, &row.org_id, &row.id).await {
        let line = json!({"level": "error", "msg": "thumbnail not queued", "asset_id": row.id, "error": error.message});
        worker::console_error!("{}", line);
    }
}

/// `POST /v1/orgs/{org_id}/assets?name=&kind=&tags=`: the raw body is the file.
pub async fn upload(ctx: &mut Ctx, req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let name = clean_name(&ctx.query("name").unwrap_or_default(), "asset name")?;
    let requested = requested_kind(ctx.query("kind"))?;
    let tags = match ctx.query("tags") {
        Some(raw) if !raw.is_empty() => clean_tags(raw.split(',').map(str::to_string))?,
        _ => Vec::new(),
    };
    let limits = plan_limits(ctx, &org_id);
    let length = store::content_length(ctx, limits.max_asset_bytes.min(MAX_SINGLE_UPLOAD_BYTES))?;
    let asset_id = util::new_id("ast", ctx.now);
    let key = r2_key(&org_id, &asset_id);
    let stored = store::put_request_body(&bucket(&ctx.env)?, &key, &req, length, |sniffed| {
        check_kind(requested, sniffed)
    })
    .await?;
    let new = NewAsset {
        org_id,
        asset_id,
        key,
        name,
        requested,
        tags,
        sniffed: stored.sniffed,
        sha256: stored.sha256,
        bytes: stored.bytes,
        head: stored.head,
    };
    let (row, duplicate) = record_new_asset(ctx, new, Vec::new(), "asset.upload").await?;
    http::json(
        if duplicate { 200 } else { 201 },
        &AssetResponse {
            asset: row.view(),
            duplicate,
        },
    )
}

// ------------------------------------------------------------------ one asset

/// `GET /v1/assets/{asset_id}`
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    http::json(
        200,
        &AssetResponse {
            asset: row.view(),
            duplicate: false,
        },
    )
}

/// `PATCH /v1/assets/{asset_id}`: name, tags, custom metadata.
pub async fn patch(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Write).await?;
    let body: PatchAssetBody = ctx.json(&mut req).await?;
    if body.name.is_none() && body.tags.is_none() && body.metadata.is_none() {
        return Err(AppError::invalid(
            "nothing_to_change",
            "send name, tags and/or metadata",
        ));
    }
    let name = match &body.name {
        Some(name) => clean_name(name, "asset name")?,
        None => row.name.clone(),
    };
    let tags = match &body.tags {
        Some(tags) => clean_tags(tags.iter().cloned())?,
        None => row.tags(),
    };
    let metadata = match &body.metadata {
        Some(value) => {
            let mut map = clean_metadata(value)?;
            if let Value::Object(current) = row.metadata() {
                for key in RESERVED_METADATA_KEYS {
                    if let Some(kept) = current.get(key) {
                        map.insert(key.to_string(), kept.clone());
                    }
                }
            }
            Value::Object(map)
        }
        None => row.metadata(),
    };
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE assets SET name = ?1, tags = ?2, metadata = ?3, updated_at = ?4 WHERE id = ?5",
        args![
            name.as_str(),
            Value::from(tags).to_string(),
            metadata.to_string(),
            ctx.now,
            row.id.as_str(),
        ],
    )?;
    let changed: Vec<&str> = [
        body.name.as_ref().map(|_| "name"),
        body.tags.as_ref().map(|_| "tags"),
        body.metadata.as_ref().map(|_| "metadata"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let record = Record::success(Some(&row.org_id), "asset.update", Some(("asset", &row.id)))
        .with_details(json!({ "changed": changed }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    let row = find(&db, Some(&row.org_id), &row.id)
        .await?
        .ok_or_else(|| AppError::not_found("asset"))?;
    http::json(
        200,
        &AssetResponse {
            asset: row.view(),
            duplicate: false,
        },
    )
}

#[derive(Debug, Deserialize)]
struct DescendantRow {
    id: String,
    name: String,
    kind: String,
    r2_key: String,
}

#[derive(Debug, Deserialize)]
struct ChildRow {
    child_id: String,
    recipe: String,
}

/// Every asset derived, directly or not, from `asset_id` (recursive over `asset_lineage`).
async fn descendants(ctx: &Ctx, org_id: &str, asset_id: &str) -> AppResult<Vec<DescendantRow>> {
    ctx.db()?
        .all(
            "WITH RECURSIVE down(id) AS (
               SELECT ?1
               UNION
               SELECT l.child_id FROM asset_lineage l JOIN down ON l.parent_id = down.id
             )
             SELECT a.id, a.name, a.kind, a.r2_key FROM assets a JOIN down ON a.id = down.id
             WHERE a.id != ?1 AND a.org_id = ?2 ORDER BY a.id LIMIT 10000",
            args![asset_id, org_id],
        )
        .await
}

/// `DELETE /v1/assets/{asset_id}?derivatives=keep|cascade`: an asset with derivatives needs
/// the choice (409 `derivatives_exist` lists them). `keep` detaches the derivatives (they
/// remember their source in `metadata.detached_from`); `cascade` deletes them all.
/// The stored bytes of every deleted asset are deleted too.
pub async fn delete(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Write).await?;
    let mode = match ctx.query("derivatives").as_deref() {
        None => None,
        Some("keep") => Some("keep"),
        Some("cascade") => Some("cascade"),
        Some(_) => {
            return Err(AppError::invalid(
                "invalid_derivatives",
                "derivatives is keep or cascade",
            ))
        }
    };
    let below = descendants(ctx, &row.org_id, &row.id).await?;
    if !below.is_empty() && mode.is_none() {
        let error = AppError::conflict(
            "derivatives_exist",
            format!(
                "{} asset(s) were derived from this one: repeat with ?derivatives=keep to detach them or ?derivatives=cascade to delete them too",
                below.len()
            ),
        );
        let listed: Vec<Value> = below
            .iter()
            .map(|d| json!({"id": d.id, "name": d.name, "kind": d.kind}))
            .collect();
        return store::error_with_details(ctx, &error, json!({ "derivatives": listed }));
    }
    let db = ctx.db()?;
    let mut statements = Vec::new();
    let mut keys = vec![row.r2_key.clone()];
    let mut deleted = vec![row.id.clone()];
    let mut detached = Vec::new();
    if mode == Some("cascade") {
        for d in &below {
            keys.push(d.r2_key.clone());
            deleted.push(d.id.clone());
        }
    } else if !below.is_empty() {
        let children: Vec<ChildRow> = db
            .all(
                "SELECT child_id, recipe FROM asset_lineage WHERE parent_id = ?1 ORDER BY child_id",
                args![row.id.as_str()],
            )
            .await?;
        for child in children {
            let recipe: Value = serde_json::from_str(&child.recipe).unwrap_or(Value::Null);
            let origin = json!({
                "asset_id": row.id, "name": row.name, "sha256": row.sha256,
                "recipe": recipe, "detached_at": util::rfc3339(ctx.now),
            });
            statements.push(db.stmt(
                "UPDATE assets SET metadata = json_set(metadata, '$.detached_from', json(?1)), updated_at = ?2 WHERE id = ?3",
                args![origin.to_string(), ctx.now, child.child_id.as_str()],
            )?);
            detached.push(child.child_id);
        }
    }
    let ids = Value::from(deleted.clone()).to_string();
    statements.push(db.stmt(
        "DELETE FROM asset_lineage WHERE child_id IN (SELECT value FROM json_each(?1))
            OR parent_id IN (SELECT value FROM json_each(?1))",
        args![ids.as_str()],
    )?);
    statements.push(db.stmt(
        "DELETE FROM assets WHERE org_id = ?2 AND id IN (SELECT value FROM json_each(?1))",
        args![ids.as_str(), row.org_id.as_str()],
    )?);
    let record = Record::success(Some(&row.org_id), "asset.delete", Some(("asset", &row.id)))
        .with_details(json!({
            "derivatives": mode, "deleted": deleted, "detached": detached,
        }));
    audit::commit(ctx, &db, statements, record, None).await?;
    super::images::forget(&deleted);
    store::delete_objects(&bucket(&ctx.env)?, keys).await;
    http::no_content()
}

// ------------------------------------------------------------------ bytes

/// `GET /v1/assets/{asset_id}/content`: the bytes, with ranges and ETag.
pub async fn content(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    serve_row(ctx, &row).await
}

async fn serve_row(ctx: &Ctx, row: &AssetRow) -> AppResult<Response> {
    store::serve(
        ctx,
        &bucket(&ctx.env)?,
        Download {
            key: &row.r2_key,
            mime: &row.mime,
            etag: Some(format!("\"{}\"", row.sha256)),
            disposition: store::disposition(&row.name),
            cache_control: "private, no-cache",
        },
    )
    .await
}

/// `GET /v1/assets/{asset_id}/thumbnail`: the thumbnail's bytes; 404 `not_ready` until made.
pub async fn thumbnail(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let thumbnail = match &row.thumbnail_asset_id {
        Some(id) => find(&ctx.db()?, Some(&row.org_id), id).await?,
        None => None,
    };
    let Some(thumbnail) = thumbnail else {
        return Err(AppError::new(
            404,
            "not_ready",
            "the thumbnail has not been made yet",
        ));
    };
    serve_row(ctx, &thumbnail).await
}

/// Answer to a thumbnail request.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ThumbnailRequested {
    /// The source image.
    pub asset_id: String,
    /// The thumbnail, when it already exists (then nothing is queued).
    pub thumbnail_asset_id: Option<String>,
    /// Whether a job was queued.
    pub queued: bool,
}

/// `POST /v1/assets/{asset_id}/thumbnail`: asks for the image's thumbnail (and perceptual
/// hash) again, e.g. after a failed job. The job is idempotent: however often it runs, an image
/// has one thumbnail.
pub async fn request_thumbnail(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Write).await?;
    if row.kind != "image" || !thumbnailable(&row.mime) {
        return Err(AppError::invalid(
            "not_an_image",
            "thumbnails are made of PNG, JPEG and GIF images",
        ));
    }
    let done = row.thumbnail_asset_id.is_some() && row.phash.is_some();
    if !done {
        crate::jobs::thumbnail::queue(ctx, &row.org_id, &row.id).await?;
        let record = Record::success(
            Some(&row.org_id),
            "asset.thumbnail_request",
            Some(("asset", &row.id)),
        );
        audit::commit(ctx, &ctx.db()?, Vec::new(), record, None).await?;
    }
    http::json(
        if done { 200 } else { 202 },
        &ThumbnailRequested {
            asset_id: row.id.clone(),
            thumbnail_asset_id: row.thumbnail_asset_id.clone(),
            queued: !done,
        },
    )
}

/// `POST /v1/assets/{asset_id}/verify`: re-reads the bytes from storage and recomputes the
/// checksum. A mismatch is recorded in the audit trail as a failure.
pub async fn verify(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let found = store::read_back(&bucket(&ctx.env)?, &row.r2_key).await?;
    let (actual_sha256, actual_bytes) = match found {
        Some((sha, bytes, _)) => (Some(sha), Some(bytes as i64)),
        None => (None, None),
    };
    let ok =
        actual_sha256.as_deref() == Some(row.sha256.as_str()) && actual_bytes == Some(row.bytes);
    let mut record = Record::success(Some(&row.org_id), "asset.verify", Some(("asset", &row.id)))
        .with_details(json!({ "ok": ok, "actual_sha256": actual_sha256 }));
    if !ok {
        record.outcome = Outcome::Failure;
    }
    audit::record_attempt(ctx, &ctx.db()?, record, None).await?;
    http::json(
        200,
        &VerifyResponse {
            asset_id: row.id.clone(),
            ok,
            expected_sha256: row.sha256.clone(),
            actual_sha256,
            expected_bytes: row.bytes,
            actual_bytes,
        },
    )
}

// ------------------------------------------------------------------ sharing

fn signing_key(ctx: &Ctx) -> AppResult<Vec<u8>> {
    ctx.var("ASSET_SIGNING_KEY")
        .filter(|key| key.len() >= 16)
        .map(String::into_bytes)
        .ok_or_else(|| {
            AppError::new(
                503,
                "signing_unavailable",
                "sharing links are not configured on this deployment (ASSET_SIGNING_KEY)",
            )
        })
}

/// `POST /v1/assets/{asset_id}/signed-url {expires_in}`: a link that serves the asset without
/// credentials until it expires (at most 7 days).
pub async fn signed_url(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let no_body = ctx.header("content-type").is_none()
        && ctx
            .header("content-length")
            .is_none_or(|length| length.trim() == "0");
    let body: SignedUrlBody = if no_body {
        SignedUrlBody { expires_in: None }
    } else {
        ctx.json(&mut req).await?
    };
    let expires_in = body.expires_in.unwrap_or(3600);
    if !(1..=signed::MAX_EXPIRES_IN).contains(&expires_in) {
        return Err(AppError::invalid(
            "invalid_expires_in",
            format!(
                "expires_in must be 1 to {} seconds (7 days)",
                signed::MAX_EXPIRES_IN
            ),
        ));
    }
    let key = signing_key(ctx)?;
    let expires = ctx.now / 1000 + expires_in;
    let path = signed::shared_path(&row.org_id, &row.id);
    let signature = signed::sign(&key, &path, expires, &row.mime);
    let mut url = ctx.url.clone();
    url.set_path(&path);
    url.set_fragment(None);
    url.query_pairs_mut()
        .clear()
        .append_pair("exp", &expires.to_string())
        .append_pair("type", &row.mime)
        .append_pair("sig", &signature);
    let expires_at = util::rfc3339(expires * 1000);
    let record = Record::success(Some(&row.org_id), "asset.share", Some(("asset", &row.id)))
        .with_details(json!({ "expires_at": expires_at }));
    audit::commit(ctx, &ctx.db()?, Vec::new(), record, None).await?;
    http::json(
        200,
        &SignedUrlResponse {
            url: url.to_string(),
            expires_at,
        },
    )
}

fn plausible_id(value: &str, prefix: &str) -> bool {
    value.len() <= 64
        && value.strip_prefix(prefix).is_some_and(|rest| {
            !rest.is_empty()
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
}

/// `GET /v1/shared/{org_id}/{asset_id}?exp=&type=&sig=`: serves a shared asset. Checked by
/// signature alone (no database): tampered → 403 `invalid_signature`, expired → 410
/// `link_expired`; ranges and conditional requests work as for the private download.
pub async fn shared(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let asset_id = ctx.param("asset_id").to_string();
    let invalid = || AppError::new(403, "invalid_signature", "the link is not valid");
    let key = signing_key(ctx)?;
    let expires = ctx
        .query("exp")
        .and_then(|e| e.parse::<i64>().ok())
        .ok_or_else(invalid)?;
    let mime = ctx.query("type").unwrap_or_default();
    let signature = ctx.query("sig").unwrap_or_default();
    if !plausible_id(&org_id, "org_") || !plausible_id(&asset_id, "ast_") {
        return Err(invalid());
    }
    let path = signed::shared_path(&org_id, &asset_id);
    match signed::verify(&key, &path, expires, &mime, &signature, ctx.now / 1000) {
        Ok(()) => {}
        Err(signed::Refusal::Invalid) => return Err(invalid()),
        Err(signed::Refusal::Expired) => {
            return Err(AppError::new(410, "link_expired", "the link has expired"))
        }
    }
    if !signed::plausible_mime(&mime) {
        return Err(invalid());
    }
    let key = r2_key(&org_id, &asset_id);
    store::serve(
        ctx,
        &bucket(&ctx.env)?,
        Download {
            key: &key,
            mime: &mime,
            etag: None,
            disposition: "inline".to_string(),
            cache_control: "private, no-cache",
        },
    )
    .await
}

// ------------------------------------------------------------------ graph and search

#[derive(Debug, Deserialize)]
struct EdgeRow {
    parent_id: String,
    child_id: String,
    recipe: String,
}

/// `GET /v1/assets/{asset_id}/lineage?direction=ancestors|descendants|both`
pub async fn lineage(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let (up, down) = match ctx.query("direction").as_deref() {
        None | Some("both") => (true, true),
        Some("ancestors") => (true, false),
        Some("descendants") => (false, true),
        Some(_) => {
            return Err(AppError::invalid(
                "invalid_direction",
                "direction is ancestors, descendants or both",
            ))
        }
    };
    let db = ctx.db()?;
    // Recursive in both directions; UNION (not UNION ALL) stops at nodes already reached.
    let nodes: Vec<AssetRow> = db
        .all(
            &format!(
                "WITH RECURSIVE
                   up(id) AS (SELECT ?1 UNION SELECT l.parent_id FROM asset_lineage l JOIN up ON l.child_id = up.id WHERE ?3),
                   down(id) AS (SELECT ?1 UNION SELECT l.child_id FROM asset_lineage l JOIN down ON l.parent_id = down.id WHERE ?4),
                   reached(id) AS (SELECT id FROM up UNION SELECT id FROM down)
                 SELECT {ASSET_COLUMNS} FROM assets a JOIN reached r ON r.id = a.id
                 WHERE a.org_id = ?2 ORDER BY a.id LIMIT 1000"
            ),
            args![row.id.as_str(), row.org_id.as_str(), i64::from(up), i64::from(down)],
        )
        .await?;
    let ids: Vec<&str> = nodes.iter().map(|n| n.id.as_str()).collect();
    let ids = Value::from(ids).to_string();
    let edges: Vec<EdgeRow> = db
        .all(
            "SELECT parent_id, child_id, recipe FROM asset_lineage
             WHERE child_id IN (SELECT value FROM json_each(?1)) AND parent_id IN (SELECT value FROM json_each(?1))
             ORDER BY parent_id, child_id",
            args![ids.as_str()],
        )
        .await?;
    let graph = LineageGraph {
        nodes: nodes.iter().map(AssetRow::view).collect(),
        edges: edges
            .into_iter()
            .map(|e| LineageEdge {
                from: e.parent_id,
                to: e.child_id,
                recipe: serde_json::from_str(&e.recipe).unwrap_or(Value::Null),
            })
            .collect(),
    };
    http::json(200, &graph)
}

#[derive(Debug, Deserialize)]
struct HashRow {
    id: String,
    phash: String,
}

/// `GET /v1/assets/{asset_id}/similar?max_distance=&limit=`: the organisation's images ranked
/// by Hamming distance of their perceptual hashes; 409 `not_ready` until this image's hash is
/// computed (with its thumbnail).
pub async fn similar(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx, Permission::Read).await?;
    let max_distance = match ctx.query("max_distance") {
        None => 10,
        Some(raw) => raw
            .parse::<u32>()
            .ok()
            .filter(|d| *d <= 64)
            .ok_or_else(|| {
                AppError::invalid("invalid_max_distance", "max_distance must be 0 to 64")
            })?,
    };
    let limit = ctx.query_limit(20, 100)? as usize;
    let Some(own) = row.phash.as_deref().and_then(phash::from_hex) else {
        return Err(AppError::conflict(
            "not_ready",
            "this asset has no perceptual hash yet (images get one with their thumbnail)",
        ));
    };
    let db = ctx.db()?;
    let candidates: Vec<HashRow> = db
        .all(
            "SELECT id, phash FROM assets
             WHERE org_id = ?1 AND phash IS NOT NULL AND id != ?2 AND status = 'ready' AND kind != 'thumbnail'
             ORDER BY id DESC LIMIT 50000",
            args![row.org_id.as_str(), row.id.as_str()],
        )
        .await?;
    let mut ranked: Vec<(u32, String)> = candidates
        .into_iter()
        .filter_map(|c| {
            let distance = phash::distance(own, phash::from_hex(&c.phash)?);
            (distance <= max_distance).then_some((distance, c.id))
        })
        .collect();
    ranked.sort();
    ranked.truncate(limit);
    let ids: Vec<&str> = ranked.iter().map(|(_, id)| id.as_str()).collect();
    let rows: Vec<AssetRow> = db
        .all(
            &format!(
                "SELECT {ASSET_COLUMNS} FROM assets a
                 WHERE a.org_id = ?1 AND a.id IN (SELECT value FROM json_each(?2))"
            ),
            args![row.org_id.as_str(), Value::from(ids).to_string()],
        )
        .await?;
    let items = ranked
        .iter()
        .filter_map(|(distance, id)| {
            rows.iter().find(|r| &r.id == id).map(|r| SimilarItem {
                asset: r.view(),
                distance: *distance,
            })
        })
        .collect();
    http::json(200, &SimilarList { items })
}

/// Turns free text into an FTS5 query that cannot be a syntax error: every word becomes a
/// quoted prefix term (`"word"*`), all of which must match. `None` when there is no word.
pub fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .take(16)
        .map(|word| {
            let word: String = word.chars().take(64).collect();
            format!("\"{}\"*", word.replace('"', "\"\""))
        })
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// A time filter: RFC 3339 or milliseconds since the epoch.
fn parse_time(raw: &str, what: &str) -> AppResult<i64> {
    if let Ok(ms) = raw.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            AppError::invalid(
                "invalid_date",
                format!("{what} must be an RFC 3339 time or milliseconds since the epoch"),
            )
        })
}

/// `GET /v1/orgs/{org_id}/assets?q=&kind=&tag=&created_after=&created_before=&cursor=&limit=`:
/// full-text search over name, tags and metadata (prefix matching), filters, newest first.
/// Thumbnails are listed only when `kind=thumbnail` is asked for.
pub async fn search(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let q = ctx.query("q").and_then(|q| fts_query(&q));
    let kind = match ctx.query("kind").filter(|k| !k.is_empty()) {
        None => None,
        Some(raw) => Some(
            Kind::parse(&raw)
                .ok_or_else(|| AppError::invalid("invalid_kind", "unknown kind"))?
                .as_str(),
        ),
    };
    let tag = ctx.query("tag").filter(|t| !t.is_empty());
    let after = ctx
        .query("created_after")
        .map(|t| parse_time(&t, "created_after"))
        .transpose()?;
    let before = ctx
        .query("created_before")
        .map(|t| parse_time(&t, "created_before"))
        .transpose()?;
    let limit = ctx.query_limit(50, 200)?;
    let cursor = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<AssetRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {ASSET_COLUMNS} FROM assets a
                 WHERE a.org_id = ?1 AND a.status = 'ready'
                   AND (?2 IS NULL OR a.rowid IN (SELECT rowid FROM assets_fts WHERE assets_fts MATCH ?2))
                   AND (CASE WHEN ?3 IS NULL THEN a.kind != 'thumbnail' ELSE a.kind = ?3 END)
                   AND (?4 IS NULL OR EXISTS (SELECT 1 FROM json_each(a.tags) WHERE json_each.value = ?4))
                   AND (?5 IS NULL OR a.created_at >= ?5)
                   AND (?6 IS NULL OR a.created_at < ?6)
                   AND (?7 IS NULL OR a.id < ?7)
                 ORDER BY a.id DESC LIMIT ?8"
            ),
            args![org_id.as_str(), q, kind, tag, after, before, cursor, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(AssetRow::view).collect();
    http::json(200, &AssetPage { items, next_cursor })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_safe_prefix_terms() {
        assert_eq!(
            fts_query("beach sun").as_deref(),
            Some("\"beach\"* \"sun\"*")
        );
        assert_eq!(
            fts_query("\"unterminated OR NEAR( col:x *").as_deref(),
            Some("\"unterminated\"* \"OR\"* \"NEAR\"* \"col\"* \"x\"*")
        );
        assert_eq!(fts_query("  ** ()  "), None);
        assert_eq!(
            fts_query("café-crème").as_deref(),
            Some("\"café\"* \"crème\"*")
        );
    }

    #[test]
    fn requested_kinds() {
        assert_eq!(requested_kind(None).unwrap(), None);
        assert_eq!(
            requested_kind(Some("image".into())).unwrap(),
            Some(Kind::Image)
        );
        assert!(requested_kind(Some("thumbnail".into())).is_err());
        assert!(requested_kind(Some("picture".into())).is_err());
    }

    #[test]
    fn shared_ids_are_checked_for_shape() {
        assert!(plausible_id("ast_01JD", "ast_"));
        assert!(!plausible_id("ast_../x", "ast_"));
        assert!(!plausible_id("org_1", "ast_"));
    }
}
