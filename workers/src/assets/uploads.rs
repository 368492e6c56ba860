//! Multipart uploads for large files: create, upload parts (in any order, in parallel),
//! complete, abort. Parts go straight from the request body into the R2 multipart upload
//! without passing through the Worker's memory.
//!
//! The whole object's SHA-256 is computed at completion by reading the assembled object back
//! from R2 as a stream: parts may arrive in any order and concurrently, so a running hash
//! chained across parts would force them into sequence, and one sequential read of the object
//! costs less than that constraint. The same read gives the head for sniffing and probing.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Data, Request, Response, UploadedPart};

use super::api::{check_kind, record_new_asset, requested_kind, AssetResponse, NewAsset};
use super::sniff::{sniff, Kind, SNIFF_BYTES};
use super::store;
use super::{bucket, clean_tags, plan_limits, r2_key};
use crate::args;
use crate::audit::{self, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::clean_name;
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// Smallest part R2 accepts, except for the last one.
pub const MIN_PART_BYTES: u64 = 5 * 1024 * 1024;
/// Largest part: one request body at the edge.
pub const MAX_PART_BYTES: u64 = super::MAX_SINGLE_UPLOAD_BYTES;
/// Part size we suggest.
pub const PART_SIZE: u64 = 8 * 1024 * 1024;
/// Highest part number.
pub const MAX_PARTS: u16 = 10_000;
/// How long an upload stays open.
pub const UPLOAD_TTL_MS: i64 = 24 * 3600 * 1000;

/// `POST /v1/orgs/{org_id}/uploads`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUploadBody {
    /// Display name of the asset, 1–100 characters.
    pub name: String,
    /// Expected total size, if known: checked against the plan now and against the parts at
    /// completion.
    #[serde(default)]
    pub bytes: Option<u64>,
    /// Kind the file must be (checked against its bytes at completion).
    #[serde(default)]
    pub kind: Option<String>,
    /// Tags of the asset.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
}

/// A received part.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PartView {
    /// 1 to 10000.
    pub part_number: u16,
    /// R2's tag of the part.
    pub etag: String,
    /// Its size.
    pub bytes: u64,
}

/// A multipart upload.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UploadView {
    /// `upl_…`
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Id the asset gets on completion.
    pub asset_id: String,
    /// Display name.
    pub name: String,
    /// Suggested part size in bytes.
    pub part_size: u64,
    /// Smallest part (except the last).
    pub min_part_size: u64,
    /// Largest part.
    pub max_part_size: u64,
    /// Largest total size on the organisation's plan.
    pub max_bytes: u64,
    /// Parts received, by part number.
    pub parts: Vec<PartView>,
    /// `open`, `completed` or `aborted`.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// After this the upload can no longer be used.
    pub expires_at: String,
}

/// One upload.
#[derive(Debug, Serialize, JsonSchema)]
pub struct UploadResponse {
    /// The upload.
    pub upload: UploadView,
}

/// One stored part.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PartResponse {
    /// The part.
    pub part: PartView,
}

#[derive(Debug, Deserialize)]
struct UploadRow {
    id: String,
    org_id: String,
    asset_id: String,
    r2_key: String,
    r2_upload_id: String,
    name: String,
    declared_bytes: Option<i64>,
    parts: String,
    status: String,
    created_at: i64,
    expires_at: i64,
    kind: Option<String>,
    tags: String,
}

const UPLOAD_COLUMNS: &str = "id, org_id, asset_id, r2_key, r2_upload_id, name, declared_bytes, parts, status, created_at, expires_at, kind, tags";

impl UploadRow {
    fn parts(&self) -> Vec<PartView> {
        let mut parts: Vec<PartView> = serde_json::from_str(&self.parts).unwrap_or_default();
        parts.sort_by_key(|p| p.part_number);
        parts
    }

    fn view(&self, max_bytes: u64) -> UploadView {
        UploadView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            asset_id: self.asset_id.clone(),
            name: self.name.clone(),
            part_size: PART_SIZE,
            min_part_size: MIN_PART_BYTES,
            max_part_size: MAX_PART_BYTES,
            max_bytes,
            parts: self.parts(),
            status: self.status.clone(),
            created_at: util::rfc3339(self.created_at),
            expires_at: util::rfc3339(self.expires_at),
        }
    }
}

/// `POST /v1/orgs/{org_id}/uploads {name, bytes?, kind?, tags?}`
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: CreateUploadBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "asset name")?;
    let kind = requested_kind(body.kind.clone())?;
    let tags = clean_tags(body.tags.clone().unwrap_or_default())?;
    let limits = plan_limits(ctx, &org_id);
    match body.bytes {
        Some(0) => return Err(AppError::invalid("empty_body", "the file is empty")),
        Some(bytes) if bytes > limits.max_asset_bytes => {
            return Err(store::too_large(limits.max_asset_bytes))
        }
        _ => {}
    }
    let principal = authenticate(ctx).await?;
    let upload_id = util::new_id("upl", ctx.now);
    let asset_id = util::new_id("ast", ctx.now);
    let key = r2_key(&org_id, &asset_id);
    let bucket = bucket(&ctx.env)?;
    let multipart = bucket
        .create_multipart_upload(key.clone())
        .execute()
        .await?;
    let r2_upload_id = multipart.upload_id().await;
    let db = ctx.db()?;
    let row = UploadRow {
        id: upload_id,
        org_id: org_id.clone(),
        asset_id,
        r2_key: key,
        r2_upload_id,
        name,
        declared_bytes: body.bytes.map(|b| b as i64),
        parts: "[]".into(),
        status: "open".into(),
        created_at: ctx.now,
        expires_at: ctx.now + UPLOAD_TTL_MS,
        kind: kind.map(|k| k.as_str().to_string()),
        tags: Value::from(tags).to_string(),
    };
    let insert = db.stmt(
        "INSERT INTO asset_uploads (id, org_id, asset_id, r2_key, r2_upload_id, name, declared_bytes, parts,
           created_by_type, created_by, status, created_at, expires_at, kind, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, '[]', ?8, ?9, 'open', ?10, ?11, ?12, ?13)",
        args![
            row.id.as_str(),
            row.org_id.as_str(),
            row.asset_id.as_str(),
            row.r2_key.as_str(),
            row.r2_upload_id.as_str(),
            row.name.as_str(),
            row.declared_bytes,
            principal.actor_type(),
            principal.actor_id(),
            row.created_at,
            row.expires_at,
            row.kind.clone(),
            row.tags.as_str(),
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "asset.upload.create",
        Some(("upload", &row.id)),
    )
    .with_details(json!({ "name": row.name, "bytes": body.bytes }));
    if let Err(error) = audit::commit(ctx, &db, vec![insert], record, None).await {
        let _ = multipart.abort().await;
        return Err(error);
    }
    http::json(
        201,
        &UploadResponse {
            upload: row.view(limits.max_asset_bytes),
        },
    )
}

/// Loads the upload of the `{upload_id}` path parameter with write permission in its
/// organisation (another organisation's upload is 404).
async fn load(ctx: &mut Ctx) -> AppResult<UploadRow> {
    let upload_id = ctx.param("upload_id").to_string();
    authenticate(ctx).await?;
    let row: Option<UploadRow> = ctx
        .db()?
        .first(
            &format!("SELECT {UPLOAD_COLUMNS} FROM asset_uploads WHERE id = ?1"),
            args![upload_id.as_str()],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("upload"))?;
    authorize(ctx, &row.org_id, Permission::Write)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("upload")
            } else {
                error
            }
        })?;
    Ok(row)
}

fn check_open(ctx: &Ctx, row: &UploadRow) -> AppResult<()> {
    if row.status != "open" {
        return Err(AppError::conflict(
            "upload_closed",
            format!("the upload is {}", row.status),
        ));
    }
    if row.expires_at <= ctx.now {
        return Err(AppError::conflict(
            "upload_closed",
            "the upload has expired",
        ));
    }
    Ok(())
}

/// `PUT /v1/uploads/{upload_id}/parts/{part_number}`: the raw body is the part. Sending a
/// part number again replaces that part.
pub async fn put_part(ctx: &mut Ctx, req: Request) -> AppResult<Response> {
    let row = load(ctx).await?;
    check_open(ctx, &row)?;
    let part_number = ctx
        .param("part_number")
        .parse::<u16>()
        .ok()
        .filter(|n| (1..=MAX_PARTS).contains(n))
        .ok_or_else(|| {
            AppError::invalid(
                "invalid_part_number",
                format!("part numbers are 1 to {MAX_PARTS}"),
            )
        })?;
    let length = store::content_length(ctx, MAX_PART_BYTES)?;
    let limits = plan_limits(ctx, &row.org_id);
    let others: u64 = row
        .parts()
        .iter()
        .filter(|p| p.part_number != part_number)
        .map(|p| p.bytes)
        .sum();
    if others + length > limits.max_asset_bytes {
        return Err(store::too_large(limits.max_asset_bytes));
    }
    let body = req
        .inner()
        .body()
        .ok_or_else(|| AppError::invalid("empty_body", "the part is empty"))?;
    let bucket = bucket(&ctx.env)?;
    let multipart = bucket.resume_multipart_upload(row.r2_key.clone(), row.r2_upload_id.clone())?;
    let uploaded = multipart
        .upload_part(part_number, Data::ReadableStream(body))
        .await
        .map_err(|error| {
            let mut refused = AppError::bad_request(
                "upload_interrupted",
                "the part did not arrive whole; send it again",
            );
            refused.internal = Some(error.to_string());
            refused
        })?;
    let part = PartView {
        part_number,
        etag: uploaded.etag(),
        bytes: length,
    };
    let db = ctx.db()?;
    // One statement, so parts arriving in parallel cannot overwrite each other's entries.
    let update = db.stmt(
        "UPDATE asset_uploads SET parts = (
           SELECT json_group_array(json(value)) FROM (
             SELECT value FROM json_each(asset_uploads.parts)
              WHERE json_extract(value, '$.part_number') != ?2
             UNION ALL SELECT ?3
           )
         ) WHERE id = ?1 AND status = 'open'",
        args![
            row.id.as_str(),
            i64::from(part_number),
            serde_json::to_string(&part)?
        ],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "asset.upload.part",
        Some(("upload", &row.id)),
    )
    .with_details(json!({ "part_number": part_number, "bytes": length }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    http::json(200, &PartResponse { part })
}

/// `POST /v1/uploads/{upload_id}/complete`: assembles the parts into the asset. Every part but
/// the last must be at least 5 MiB. The assembled object is read back to compute its SHA-256
/// and to type it; a duplicate of an existing asset answers 200 with that asset.
pub async fn complete(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx).await?;
    check_open(ctx, &row)?;
    let parts = row.parts();
    if parts.is_empty() {
        return Err(AppError::invalid("no_parts", "no part has been uploaded"));
    }
    let small: Vec<u16> = parts[..parts.len() - 1]
        .iter()
        .filter(|p| p.bytes < MIN_PART_BYTES)
        .map(|p| p.part_number)
        .collect();
    if !small.is_empty() {
        return Err(AppError::invalid(
            "part_too_small",
            format!("every part but the last must be at least {MIN_PART_BYTES} bytes; too small: {small:?}"),
        ));
    }
    let total: u64 = parts.iter().map(|p| p.bytes).sum();
    let limits = plan_limits(ctx, &row.org_id);
    if total > limits.max_asset_bytes {
        return Err(store::too_large(limits.max_asset_bytes));
    }
    if let Some(declared) = row.declared_bytes {
        if declared as u64 != total {
            return Err(AppError::invalid(
                "size_mismatch",
                format!("the parts hold {total} bytes, {declared} were announced"),
            ));
        }
    }
    let bucket = bucket(&ctx.env)?;
    let multipart = bucket.resume_multipart_upload(row.r2_key.clone(), row.r2_upload_id.clone())?;
    multipart
        .complete(
            parts
                .iter()
                .map(|p| UploadedPart::new(p.part_number, p.etag.clone())),
        )
        .await
        .map_err(|error| {
            let mut refused = AppError::invalid(
                "upload_incomplete",
                "the parts could not be assembled; upload them again",
            );
            refused.internal = Some(error.to_string());
            refused
        })?;
    let outcome = finish(ctx, &row).await;
    if outcome.is_err() {
        // The object was deleted by `finish`; the upload cannot be completed again.
        let _ = ctx
            .db()?
            .run(
                "UPDATE asset_uploads SET status = 'aborted' WHERE id = ?1 AND status = 'open'",
                args![row.id.as_str()],
            )
            .await;
    }
    let (asset, duplicate) = outcome?;
    http::json(
        if duplicate { 200 } else { 201 },
        &AssetResponse {
            asset: asset.view(),
            duplicate,
        },
    )
}

async fn finish(ctx: &Ctx, row: &UploadRow) -> AppResult<(super::AssetRow, bool)> {
    let bucket = bucket(&ctx.env)?;
    let Some((sha256, bytes, head)) = store::read_back(&bucket, &row.r2_key).await? else {
        return Err(AppError::internal("the assembled object is missing"));
    };
    let sniffed = sniff(&head[..head.len().min(SNIFF_BYTES)]);
    let requested = row.kind.as_deref().and_then(Kind::parse);
    if let Err(error) = check_kind(requested, &sniffed) {
        let _ = bucket.delete(&row.r2_key).await;
        return Err(error);
    }
    let db = ctx.db()?;
    let close = db.stmt(
        "UPDATE asset_uploads SET status = 'completed' WHERE id = ?1",
        args![row.id.as_str()],
    )?;
    let new = NewAsset {
        org_id: row.org_id.clone(),
        asset_id: row.asset_id.clone(),
        key: row.r2_key.clone(),
        name: row.name.clone(),
        requested,
        tags: serde_json::from_str(&row.tags).unwrap_or_default(),
        sniffed,
        sha256,
        bytes,
        head,
    };
    record_new_asset(ctx, new, vec![close], "asset.upload.complete").await
}

/// `DELETE /v1/uploads/{upload_id}`: aborts the upload; R2 discards the parts.
pub async fn abort(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load(ctx).await?;
    match row.status.as_str() {
        "aborted" => return http::no_content(),
        "completed" => {
            return Err(AppError::conflict(
                "upload_closed",
                "the upload is completed; delete the asset instead",
            ))
        }
        _ => {}
    }
    let bucket = bucket(&ctx.env)?;
    let multipart = bucket.resume_multipart_upload(row.r2_key.clone(), row.r2_upload_id.clone())?;
    if let Err(error) = multipart.abort().await {
        // Already gone (expired at R2) is what we wanted; anything else is logged.
        let line = json!({"level": "warn", "msg": "multipart abort failed", "upload_id": row.id, "error": error.to_string()});
        worker::console_warn!("{}", line);
    }
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE asset_uploads SET status = 'aborted' WHERE id = ?1 AND status = 'open'",
        args![row.id.as_str()],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "asset.upload.abort",
        Some(("upload", &row.id)),
    );
    audit::commit(ctx, &db, vec![update], record, None).await?;
    http::no_content()
}
