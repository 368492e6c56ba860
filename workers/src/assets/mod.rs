//! Asset graph & storage (module 02): uploads into R2 through the Worker, the asset record in
//! D1, lineage between assets, search, downloads and signed sharing links, and derived
//! thumbnails made by a queue job.
//!
//! # Data model
//!
//! - Bytes live in R2 under `orgs/{org_id}/assets/{asset_id}`; the record is a row of `assets`
//!   (d1-migrations/0005_assets.sql) with the SHA-256 of the stored bytes, the MIME type sniffed
//!   from them ([`sniff`]) and what their header tells ([`probe`]).
//! - `asset_lineage` says which asset was derived from which, by what recipe; a thumbnail is
//!   the child of its source ([`derive`]).
//! - `assets_fts` indexes name, tags and metadata for search; triggers keep it in step.
//! - `asset_uploads` tracks multipart uploads in flight ([`uploads`]).
//!
//! # Layers
//!
//! [`api`] and [`uploads`] are the HTTP handlers; [`store`] streams bytes to and from R2 while
//! hashing them; [`derive`] and [`images`] are used by jobs and the renderer. [`sniff`],
//! [`probe`], [`phash`], [`range`] and [`signed`] are pure and unit-tested natively.

pub mod api;
pub mod derive;
pub mod images;
pub mod phash;
pub mod probe;
pub mod range;
pub mod signed;
pub mod sniff;
pub mod store;
pub mod uploads;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::args;
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::identity::{authorize, Permission};
use crate::util;

/// Largest body of a single-request upload: the edge's request body limit (100 MB) with room
/// for headers. Larger files use multipart uploads.
pub const MAX_SINGLE_UPLOAD_BYTES: u64 = 96 * 1024 * 1024;

/// Size limits of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    /// Plan name.
    pub plan: &'static str,
    /// Largest asset, in bytes.
    pub max_asset_bytes: u64,
}

/// Asset size limits by plan. Organisations carry no plan yet (commerce will record one);
/// until then every organisation is on [`DEFAULT_PLAN`].
pub const PLANS: [PlanLimits; 3] = [
    PlanLimits {
        plan: "free",
        max_asset_bytes: 1024 * 1024 * 1024,
    },
    PlanLimits {
        plan: "creator",
        max_asset_bytes: 10 * 1024 * 1024 * 1024,
    },
    PlanLimits {
        plan: "studio",
        max_asset_bytes: 50 * 1024 * 1024 * 1024,
    },
];

/// The plan of organisations that have none recorded.
pub const DEFAULT_PLAN: &str = "free";

/// The limits that apply to uploads into `org_id`. The variable `ASSET_MAX_BYTES`, when set,
/// caps every plan (for operators, and for tests that exercise the limit cheaply).
pub fn plan_limits(ctx: &Ctx, _org_id: &str) -> PlanLimits {
    let mut limits = PLANS
        .into_iter()
        .find(|plan| plan.plan == DEFAULT_PLAN)
        .unwrap_or(PLANS[0]);
    if let Some(cap) = ctx
        .var("ASSET_MAX_BYTES")
        .and_then(|v| v.parse::<u64>().ok())
    {
        limits.max_asset_bytes = limits.max_asset_bytes.min(cap.max(1));
    }
    limits
}

/// Largest image (in pixels) decoded inside the Worker, for thumbnails and rendering: 24
/// megapixels decode to 96 MiB, within an isolate's 128 MB with room for the encoded file.
pub const MAX_DECODED_PIXELS: i64 = 24 * 1024 * 1024;

/// Whether an image of these recorded dimensions may be decoded in the Worker.
pub fn decodable_size(width: Option<i64>, height: Option<i64>) -> bool {
    matches!((width, height), (Some(w), Some(h)) if w > 0 && h > 0 && w.saturating_mul(h) <= MAX_DECODED_PIXELS)
}

/// Where an asset's bytes live in R2.
pub fn r2_key(org_id: &str, asset_id: &str) -> String {
    format!("orgs/{org_id}/assets/{asset_id}")
}

/// The R2 bucket of assets.
pub fn bucket(env: &worker::Env) -> AppResult<worker::Bucket> {
    Ok(env.bucket("ASSETS")?)
}

/// Who created an asset.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OwnerView {
    /// `user`, `api_key` or `job`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The user or key id; null for jobs.
    pub id: Option<String>,
}

/// An asset as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AssetView {
    /// `ast_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// image, video, audio, font, render, thumbnail, template, archive, document or other.
    pub kind: String,
    /// MIME type sniffed from the bytes.
    pub mime: String,
    /// Size in bytes.
    pub bytes: i64,
    /// SHA-256 of the stored bytes, lower-case hex (also the download's ETag).
    pub sha256: String,
    /// Pixel width, where known.
    pub width: Option<i64>,
    /// Pixel height, where known.
    pub height: Option<i64>,
    /// Duration in milliseconds, where known.
    pub duration_ms: Option<i64>,
    /// Display name.
    pub name: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Custom key/values; `media` (probed format details) and `detached_from` (where a
    /// derivative came from, once its source was deleted) are set by the platform.
    pub metadata: Value,
    /// 64-bit perceptual hash (dHash) of images, 16 hex digits; null until computed.
    pub phash: Option<String>,
    /// `ready`.
    pub status: String,
    /// The thumbnail asset, once made.
    pub thumbnail_asset_id: Option<String>,
    /// Who created it.
    pub owner: OwnerView,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// An asset row with its thumbnail.
#[derive(Debug, Clone, Deserialize)]
pub struct AssetRow {
    /// `ast_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    owner_type: String,
    owner_id: Option<String>,
    /// Stored kind.
    pub kind: String,
    /// Sniffed MIME type.
    pub mime: String,
    /// Size in bytes.
    pub bytes: i64,
    /// SHA-256 hex.
    pub sha256: String,
    /// R2 key.
    pub r2_key: String,
    /// Pixel width, where known.
    pub width: Option<i64>,
    /// Pixel height, where known.
    pub height: Option<i64>,
    duration_ms: Option<i64>,
    /// Display name.
    pub name: String,
    tags: String,
    metadata: String,
    /// dHash hex.
    pub phash: Option<String>,
    status: String,
    created_at: i64,
    updated_at: i64,
    /// The thumbnail child, if any.
    pub thumbnail_asset_id: Option<String>,
}

/// Columns of [`AssetRow`], over `assets a`.
pub const ASSET_COLUMNS: &str = "a.id, a.org_id, a.owner_type, a.owner_id, a.kind, a.mime, a.bytes, a.sha256, a.r2_key,
    a.width, a.height, a.duration_ms, a.name, a.tags, a.metadata, a.phash, a.status, a.created_at, a.updated_at,
    (SELECT l.child_id FROM asset_lineage l JOIN assets t ON t.id = l.child_id
      WHERE l.parent_id = a.id AND t.kind = 'thumbnail' ORDER BY l.child_id LIMIT 1) AS thumbnail_asset_id";

impl AssetRow {
    /// The API view.
    pub fn view(&self) -> AssetView {
        AssetView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            kind: self.kind.clone(),
            mime: self.mime.clone(),
            bytes: self.bytes,
            sha256: self.sha256.clone(),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            name: self.name.clone(),
            tags: self.tags(),
            metadata: self.metadata(),
            phash: self.phash.clone(),
            status: self.status.clone(),
            thumbnail_asset_id: self.thumbnail_asset_id.clone(),
            owner: OwnerView {
                kind: self.owner_type.clone(),
                id: self.owner_id.clone(),
            },
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
        }
    }

    /// Tags as a list.
    pub fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }

    /// Metadata as an object.
    pub fn metadata(&self) -> Value {
        serde_json::from_str::<Map<String, Value>>(&self.metadata)
            .map(Value::Object)
            .unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// One asset of an organisation, if it exists.
pub async fn find(db: &Db, org_id: Option<&str>, asset_id: &str) -> AppResult<Option<AssetRow>> {
    db.first(
        &format!(
            "SELECT {ASSET_COLUMNS} FROM assets a
             WHERE a.id = ?1 AND (?2 IS NULL OR a.org_id = ?2) AND a.status = 'ready'"
        ),
        args![asset_id, org_id],
    )
    .await
}

/// Loads the asset named by the `{asset_id}` path parameter and checks `permission` in its
/// organisation. Another organisation's asset is 404, exactly like an absent one.
pub async fn load(ctx: &mut Ctx, permission: Permission) -> AppResult<AssetRow> {
    let asset_id = ctx.param("asset_id").to_string();
    crate::identity::authenticate(ctx).await?;
    let row = find(&ctx.db()?, None, &asset_id)
        .await?
        .ok_or_else(|| AppError::not_found("asset"))?;
    authorize(ctx, &row.org_id, permission)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("asset")
            } else {
                error
            }
        })?;
    Ok(row)
}

/// Largest number of tags on an asset.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Largest custom metadata object, serialised.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Metadata keys the platform sets; clients cannot.
pub const RESERVED_METADATA_KEYS: [&str; 2] = ["media", "detached_from"];

/// Trims, de-duplicates and checks tags (1–64 characters each, no control characters,
/// no commas, at most 32).
pub fn clean_tags<I: IntoIterator<Item = String>>(raw: I) -> AppResult<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    for tag in raw {
        let tag = tag.trim().to_string();
        let chars = tag.chars().count();
        if chars == 0 || chars > MAX_TAG_CHARS || tag.chars().any(|c| c.is_control() || c == ',') {
            return Err(AppError::invalid(
                "invalid_tags",
                format!("each tag must have 1 to {MAX_TAG_CHARS} characters and no commas"),
            ));
        }
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(AppError::invalid(
            "invalid_tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    Ok(tags)
}

/// Checks client-supplied metadata: an object, at most 16 KiB, without reserved keys.
pub fn clean_metadata(value: &Value) -> AppResult<Map<String, Value>> {
    let Value::Object(map) = value else {
        return Err(AppError::invalid(
            "invalid_metadata",
            "metadata must be a JSON object",
        ));
    };
    if let Some(key) = map
        .keys()
        .find(|k| RESERVED_METADATA_KEYS.contains(&k.as_str()))
    {
        return Err(AppError::invalid(
            "invalid_metadata",
            format!("metadata.{key} is set by the platform"),
        ));
    }
    if map.keys().any(|k| k.is_empty() || k.chars().count() > 64) {
        return Err(AppError::invalid(
            "invalid_metadata",
            "metadata keys must have 1 to 64 characters",
        ));
    }
    if value.to_string().len() > MAX_METADATA_BYTES {
        return Err(AppError::invalid(
            "invalid_metadata",
            format!("metadata is limited to {MAX_METADATA_BYTES} bytes"),
        ));
    }
    Ok(map.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodable_sizes() {
        assert!(decodable_size(Some(6000), Some(4000)));
        assert!(!decodable_size(Some(8000), Some(6000)));
        assert!(!decodable_size(None, Some(10)));
        assert!(!decodable_size(Some(0), Some(10)));
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_checked() {
        let tags = clean_tags(["  beach ".into(), "summer".into(), "beach".into()]).unwrap();
        assert_eq!(tags, ["beach", "summer"]);
        assert!(clean_tags(["".to_string()]).is_err());
        assert!(clean_tags(["x".repeat(65)]).is_err());
        assert!(clean_tags((0..33).map(|i| format!("t{i}"))).is_err());
    }

    #[test]
    fn metadata_must_be_a_small_object_without_reserved_keys() {
        assert!(clean_metadata(&serde_json::json!({"client": "acme"})).is_ok());
        assert!(clean_metadata(&serde_json::json!([1])).is_err());
        assert!(clean_metadata(&serde_json::json!({"media": {}})).is_err());
        assert!(clean_metadata(&serde_json::json!({"k": "x".repeat(17 * 1024)})).is_err());
    }
}
