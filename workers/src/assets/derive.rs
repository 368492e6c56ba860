//! Derived assets made by jobs. [`make_thumbnail`] turns an image into a ≤256 px PNG
//! thumbnail (a new asset of kind `thumbnail`, linked to its source in `asset_lineage`) and
//! stores the source's perceptual hash for near-duplicate search.
//!
//! Uploads record a `make_thumbnail` job ([`crate::jobs::thumbnail`]), which runs it on the
//! interactive queue.

use editor_core::image::RgbaImage;
use editor_core::render::export::{encode_png_image, PngCompression};
use serde_json::{json, Value};
use worker::{Env, HttpMetadata};

use super::api::thumbnailable;
use super::{bucket, decodable_size, find, images, phash, r2_key};
use crate::args;
use crate::db::Db;
use crate::http::{AppError, AppResult};
use crate::util;

/// Longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 256;

/// The editor-core release whose decoders and encoder made a derivative (its crate version;
/// a unit test keeps the two in step).
pub const EDITOR_CORE_VERSION: &str = "0.1.0";

/// Downscales so that the longer side is at most `max_side`, averaging each target pixel's
/// source area (premultiplied, so transparent edges do not darken). Smaller images are kept.
pub fn downscale(image: &RgbaImage, max_side: u32) -> RgbaImage {
    let (width, height) = (image.width(), image.height());
    let longest = width.max(height);
    if longest <= max_side {
        return image.clone();
    }
    let scaled = |side: u32| {
        ((u64::from(side) * u64::from(max_side) + u64::from(longest) / 2) / u64::from(longest))
            .max(1) as u32
    };
    let (out_width, out_height) = (scaled(width), scaled(height));
    let pixels = image.pixels();
    let mut out = Vec::with_capacity(out_width as usize * out_height as usize);
    for ty in 0..out_height as u64 {
        let y0 = ty * u64::from(height) / u64::from(out_height);
        let y1 = ((ty + 1) * u64::from(height) / u64::from(out_height)).max(y0 + 1);
        for tx in 0..out_width as u64 {
            let x0 = tx * u64::from(width) / u64::from(out_width);
            let x1 = ((tx + 1) * u64::from(width) / u64::from(out_width)).max(x0 + 1);
            let mut sum = [0u64; 4];
            for y in y0..y1 {
                let row = &pixels[(y * u64::from(width)) as usize..];
                for pixel in &row[x0 as usize..x1 as usize] {
                    for channel in 0..4 {
                        sum[channel] += u64::from(pixel[channel]);
                    }
                }
            }
            let count = (y1 - y0) * (x1 - x0);
            out.push(sum.map(|s| ((s + count / 2) / count) as u8));
        }
    }
    RgbaImage::from_premultiplied(out_width, out_height, out)
        .expect("dimensions are within the source's")
}

fn recipe() -> Value {
    json!({
        "job_kind": "make_thumbnail",
        "params": {"max_side": THUMBNAIL_MAX_SIDE},
        "editor_core_version": EDITOR_CORE_VERSION,
    })
}

/// Statements recording a job's action in the audit trail and the analytics stream.
fn job_audit(
    db: &Db,
    org_id: &str,
    action: &str,
    target_id: &str,
    details: &Value,
    now: i64,
) -> AppResult<Vec<worker::D1PreparedStatement>> {
    let request_id = util::new_id("req", now);
    let audit = db.stmt(
        "INSERT INTO audit_log (id, org_id, at, actor_type, actor_id, action, target_type, target_id, result, request_id, ip, details)
         VALUES (?1, ?2, ?3, 'system', 'job:make_thumbnail', ?4, 'asset', ?5, 'success', ?6, NULL, ?7)",
        args![
            util::new_id("aud", now),
            org_id,
            now,
            action,
            target_id,
            request_id.as_str(),
            details.to_string(),
        ],
    )?;
    let properties = json!({"result": "success", "target_type": "asset", "target_id": target_id});
    let event = db.stmt(
        "INSERT INTO events (id, org_id, at, name, actor_type, actor_id, request_id, properties)
         VALUES (?1, ?2, ?3, ?4, 'system', 'job:make_thumbnail', ?5, ?6)",
        args![
            util::new_id("evt", now),
            org_id,
            now,
            action,
            request_id.as_str(),
            properties.to_string(),
        ],
    )?;
    Ok(vec![audit, event])
}

/// Makes (once) the thumbnail of image asset `asset_id` of `org_id` and stores the source's
/// perceptual hash; returns the thumbnail's asset id. Idempotent: a second call, or two
/// concurrent ones, leave exactly one thumbnail. Errors with a 4xx status are permanent (the
/// source is gone or is not a decodable image); 5xx ones are worth retrying.
pub async fn make_thumbnail(env: &Env, org_id: &str, asset_id: &str) -> Result<String, AppError> {
    let db = Db(env.d1("DB")?);
    let source = find(&db, Some(org_id), asset_id)
        .await?
        .ok_or_else(|| AppError::not_found("asset"))?;
    if let (Some(thumbnail), Some(_)) = (&source.thumbnail_asset_id, &source.phash) {
        return Ok(thumbnail.clone());
    }
    if source.kind != "image" || !thumbnailable(&source.mime) {
        return Err(AppError::invalid(
            "not_an_image",
            "thumbnails are made of PNG, JPEG and GIF images",
        ));
    }
    if !decodable_size(source.width, source.height) {
        return Err(AppError::invalid(
            "image_too_large",
            "images over 24 megapixels get no thumbnail",
        ));
    }
    let bucket = bucket(env)?;
    let object = bucket
        .get(&source.r2_key)
        .execute()
        .await?
        .ok_or_else(|| AppError::not_found("asset bytes"))?;
    let bytes = object
        .body()
        .ok_or_else(|| AppError::internal("object without body"))?
        .bytes()
        .await?;
    let image = images::decode(&source.mime, &bytes)
        .map_err(|error| AppError::invalid("invalid_image", error))?;
    drop(bytes);
    let hash = phash::to_hex(phash::dhash(&image));
    let now = util::now_ms();

    if let Some(thumbnail) = source.thumbnail_asset_id {
        // A thumbnail exists (made before hashes were kept): only the hash is missing.
        let mut statements = vec![db.stmt(
            "UPDATE assets SET phash = ?1 WHERE id = ?2",
            args![hash.as_str(), source.id.as_str()],
        )?];
        statements.extend(job_audit(
            &db,
            org_id,
            "asset.phash",
            &source.id,
            &json!({"phash": hash}),
            now,
        )?);
        db.batch(statements).await?;
        return Ok(thumbnail);
    }

    let small = downscale(&image, THUMBNAIL_MAX_SIDE);
    drop(image);
    let png = encode_png_image(&small, PngCompression::High).map_err(AppError::internal)?;
    let thumbnail_id = util::new_id("ast", now);
    let key = r2_key(org_id, &thumbnail_id);
    let sha256 = util::sha256_hex(&png);
    let length = png.len() as i64;
    bucket
        .put(&key, png)
        .http_metadata(HttpMetadata {
            content_type: Some("image/png".into()),
            ..HttpMetadata::default()
        })
        .execute()
        .await?;
    let name: String = format!("{} (thumbnail)", source.name)
        .chars()
        .take(100)
        .collect();
    // Inserted only while the source exists and has no thumbnail yet, so concurrent runs
    // make one; the lineage row and the audit rows follow the insert.
    let insert = db.stmt(
        "INSERT INTO assets (id, org_id, owner_type, owner_id, kind, mime, bytes, sha256, r2_key, width, height,
           name, tags, metadata, status, created_at, updated_at)
         SELECT ?1, ?2, 'job', NULL, 'thumbnail', 'image/png', ?3, ?4, ?5, ?6, ?7, ?8, '[]', '{}', 'ready', ?9, ?9
         WHERE EXISTS (SELECT 1 FROM assets WHERE id = ?10 AND org_id = ?2 AND status = 'ready')
           AND NOT EXISTS (SELECT 1 FROM asset_lineage l JOIN assets t ON t.id = l.child_id
                           WHERE l.parent_id = ?10 AND t.kind = 'thumbnail')",
        args![
            thumbnail_id.as_str(),
            org_id,
            length,
            sha256.as_str(),
            key.as_str(),
            i64::from(small.width()),
            i64::from(small.height()),
            name.as_str(),
            now,
            source.id.as_str(),
        ],
    )?;
    let lineage = db.stmt(
        "INSERT INTO asset_lineage (child_id, parent_id, org_id, recipe, created_at)
         SELECT ?1, ?2, ?3, ?4, ?5 WHERE EXISTS (SELECT 1 FROM assets WHERE id = ?1)",
        args![
            thumbnail_id.as_str(),
            source.id.as_str(),
            org_id,
            recipe().to_string(),
            now,
        ],
    )?;
    let hashed = db.stmt(
        "UPDATE assets SET phash = ?1 WHERE id = ?2",
        args![hash.as_str(), source.id.as_str()],
    )?;
    let mut statements = vec![insert, lineage, hashed];
    statements.extend(job_audit(
        &db,
        org_id,
        "asset.thumbnail",
        &source.id,
        &json!({"thumbnail_asset_id": thumbnail_id, "phash": hash}),
        now,
    )?);
    if let Err(error) = db.batch(statements).await {
        let _ = bucket.delete(&key).await;
        return Err(error);
    }
    // Whose thumbnail stands: ours, or one another run made first (then ours is dropped).
    let standing = find(&db, Some(org_id), asset_id)
        .await?
        .and_then(|source| source.thumbnail_asset_id);
    if standing.as_deref() != Some(thumbnail_id.as_str()) {
        let _ = bucket.delete(&key).await;
    }
    standing.ok_or_else(|| AppError::not_found("asset"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn downscale_bounds_the_longer_side_and_averages() {
        let mut bytes = Vec::new();
        for y in 0..300u32 {
            for x in 0..600u32 {
                let v = if x < 300 { 0 } else { 255 };
                bytes.extend([v, v, v, 255]);
                let _ = y;
            }
        }
        let image = RgbaImage::from_straight_rgba(600, 300, &bytes).unwrap();
        let small = downscale(&image, 256);
        assert_eq!((small.width(), small.height()), (256, 128));
        assert_eq!(small.pixels()[0], [0, 0, 0, 255]);
        assert_eq!(small.pixels()[255], [255, 255, 255, 255]);
        let tiny = RgbaImage::from_straight_rgba(2, 1, &[1, 2, 3, 255, 4, 5, 6, 255]).unwrap();
        assert_eq!(downscale(&tiny, 256), tiny);
        let tall = RgbaImage::from_straight_rgba(1, 1000, &vec![9; 4000]).unwrap();
        assert_eq!(downscale(&tall, 256).width(), 1);
    }

    #[test]
    fn recorded_editor_core_version_matches_the_crate() {
        let manifest = include_str!("../../../editor-core/Cargo.toml");
        assert!(
            manifest.contains(&format!("version = \"{EDITOR_CORE_VERSION}\"")),
            "update EDITOR_CORE_VERSION"
        );
    }
}
