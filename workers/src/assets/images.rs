//! Decoded images for the renderer: timeline clips name assets by id, and
//! [`image_source_for`] resolves those of one organisation from R2 into pixels, through a
//! small per-isolate cache so that consecutive frames of a project decode each image once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Cursor;
use std::rc::Rc;

use editor_core::image::{RgbaImage, MAX_DIMENSION, MAX_PIXELS};
use editor_core::render::ImageSource;
use serde::Deserialize;
use serde_json::{json, Value};

use super::bucket;
use crate::args;
use crate::db::Db;
use crate::http::AppResult;

/// Byte budget of the isolate's decoded-image cache.
pub const CACHE_BUDGET_BYTES: usize = 64 * 1024 * 1024;
/// Most images resolved for one frame.
pub const MAX_IMAGES_PER_FRAME: usize = 64;

/// Decodes a PNG, JPEG (editor-core's decoders) or GIF (first frame, composed on its
/// logical screen) into premultiplied pixels.
pub fn decode(mime: &str, bytes: &[u8]) -> Result<RgbaImage, String> {
    if mime == "image/gif" {
        return decode_gif(bytes);
    }
    RgbaImage::decode(bytes).map_err(|error| error.to_string())
}

fn decode_gif(bytes: &[u8]) -> Result<RgbaImage, String> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(Cursor::new(bytes))
        .map_err(|e| format!("invalid GIF: {e}"))?;
    let width = u32::from(decoder.width());
    let height = u32::from(decoder.height());
    if width == 0
        || height == 0
        || width > MAX_DIMENSION
        || height > MAX_DIMENSION
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(format!("GIF dimensions {width}x{height} are out of range"));
    }
    let mut canvas = vec![0u8; width as usize * height as usize * 4];
    let frame = decoder
        .read_next_frame()
        .map_err(|e| format!("invalid GIF: {e}"))?
        .ok_or("the GIF has no frame")?;
    let (left, top) = (usize::from(frame.left), usize::from(frame.top));
    let frame_width = usize::from(frame.width);
    for (row, line) in frame.buffer.chunks_exact(frame_width * 4).enumerate() {
        let y = top + row;
        if y >= height as usize {
            break;
        }
        for (column, pixel) in line.chunks_exact(4).enumerate() {
            let x = left + column;
            if x >= width as usize || pixel[3] == 0 {
                continue;
            }
            let at = (y * width as usize + x) * 4;
            canvas[at..at + 4].copy_from_slice(pixel);
        }
    }
    RgbaImage::from_straight_rgba(width, height, &canvas).map_err(|e| e.to_string())
}

struct Entry {
    sha256: String,
    image: Rc<RgbaImage>,
    bytes: usize,
    last_used: u64,
}

/// Least-recently-used cache of decoded images, keyed by asset id and checked against the
/// asset's SHA-256 (so changed bytes are never served from the cache), bounded in bytes.
struct Cache {
    budget: usize,
    used: usize,
    clock: u64,
    entries: HashMap<String, Entry>,
}

impl Cache {
    fn new(budget: usize) -> Self {
        Self {
            budget,
            used: 0,
            clock: 0,
            entries: HashMap::new(),
        }
    }

    fn get(&mut self, asset_id: &str, sha256: &str) -> Option<Rc<RgbaImage>> {
        self.clock += 1;
        let clock = self.clock;
        match self.entries.get_mut(asset_id) {
            Some(entry) if entry.sha256 == sha256 => {
                entry.last_used = clock;
                Some(entry.image.clone())
            }
            Some(_) => {
                self.remove(asset_id);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, asset_id: &str, sha256: &str, image: Rc<RgbaImage>) {
        let bytes = image.pixels().len() * 4;
        self.remove(asset_id);
        if bytes > self.budget {
            return;
        }
        while self.used + bytes > self.budget {
            let Some(oldest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(id, _)| id.clone())
            else {
                break;
            };
            self.remove(&oldest);
        }
        self.clock += 1;
        self.used += bytes;
        self.entries.insert(
            asset_id.to_string(),
            Entry {
                sha256: sha256.to_string(),
                image,
                bytes,
                last_used: self.clock,
            },
        );
    }

    fn remove(&mut self, asset_id: &str) {
        if let Some(entry) = self.entries.remove(asset_id) {
            self.used -= entry.bytes;
        }
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = RefCell::new(Cache::new(CACHE_BUDGET_BYTES));
}

/// Drops deleted assets from this isolate's cache.
pub fn forget(asset_ids: &[String]) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        for id in asset_ids {
            cache.remove(id);
        }
    });
}

/// Decoded images of one organisation's assets, for [`editor_core::render`]. Shares pixels
/// with the isolate's cache instead of copying them.
#[derive(Default)]
pub struct AssetImages {
    images: HashMap<String, Rc<RgbaImage>>,
}

impl AssetImages {
    /// Number of images resolved.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True when no image was resolved.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

impl ImageSource for AssetImages {
    fn image(&self, asset_id: &str, _frame: Option<u32>) -> Option<&RgbaImage> {
        self.images.get(asset_id).map(Rc::as_ref)
    }
}

#[derive(Deserialize)]
struct ImageRow {
    id: String,
    sha256: String,
    r2_key: String,
    mime: String,
    width: Option<i64>,
    height: Option<i64>,
}

/// Resolves `asset_ids` (as a timeline's display list names them) to decoded images.
/// Only image and thumbnail assets of `org_id` are loaded: an id of another organisation,
/// a missing asset, undecodable bytes or an image over [`super::MAX_DECODED_PIXELS`] is simply
/// absent, and renders as a missing image — nothing of another tenant can leak into a frame.
pub async fn image_source_for(
    env: &worker::Env,
    org_id: &str,
    asset_ids: &[String],
) -> AppResult<AssetImages> {
    let mut wanted: Vec<&str> = asset_ids.iter().map(String::as_str).collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted.truncate(MAX_IMAGES_PER_FRAME);
    let mut images = AssetImages::default();
    if wanted.is_empty() {
        return Ok(images);
    }
    let db = Db(env.d1("DB")?);
    let rows: Vec<ImageRow> = db
        .all(
            "SELECT id, sha256, r2_key, mime, width, height FROM assets
             WHERE org_id = ?1 AND id IN (SELECT value FROM json_each(?2))
               AND status = 'ready' AND kind IN ('image', 'thumbnail')",
            args![org_id, Value::from(wanted).to_string()],
        )
        .await?;
    let bucket = bucket(env)?;
    for row in rows {
        if !super::decodable_size(row.width, row.height) {
            continue;
        }
        if let Some(image) = CACHE.with(|c| c.borrow_mut().get(&row.id, &row.sha256)) {
            images.images.insert(row.id, image);
            continue;
        }
        let bytes = match bucket.get(&row.r2_key).execute().await? {
            Some(object) => match object.body() {
                Some(body) => body.bytes().await?,
                None => continue,
            },
            None => continue,
        };
        match decode(&row.mime, &bytes) {
            Ok(image) => {
                let image = Rc::new(image);
                CACHE.with(|c| c.borrow_mut().insert(&row.id, &row.sha256, image.clone()));
                images.images.insert(row.id, image);
            }
            Err(error) => {
                let line = json!({"level": "warn", "msg": "image asset not decodable", "asset_id": row.id, "error": error});
                worker::console_warn!("{}", line);
            }
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(side: u32) -> Rc<RgbaImage> {
        let bytes = vec![200u8; side as usize * side as usize * 4];
        Rc::new(RgbaImage::from_straight_rgba(side, side, &bytes).unwrap())
    }

    #[test]
    fn cache_evicts_least_recently_used_within_budget() {
        // Each 16x16 image is 1 KiB; the budget holds two.
        let mut cache = Cache::new(2048);
        cache.insert("a", "1", image(16));
        cache.insert("b", "1", image(16));
        assert!(cache.get("a", "1").is_some());
        cache.insert("c", "1", image(16));
        assert!(cache.get("b", "1").is_none(), "b was least recently used");
        assert!(cache.get("a", "1").is_some());
        assert!(cache.get("c", "1").is_some());
        assert_eq!(cache.used, 2048);
        // Changed bytes (another checksum) miss and drop the stale entry.
        assert!(cache.get("a", "2").is_none());
        assert_eq!(cache.used, 1024);
        // Larger than the whole budget: not cached.
        cache.insert("big", "1", image(64));
        assert!(cache.get("big", "1").is_none());
    }

    #[test]
    fn gif_first_frame_decodes() {
        let mut file = Vec::new();
        {
            let mut encoder = gif::Encoder::new(&mut file, 4, 2, &[255, 0, 0, 0, 0, 255]).unwrap();
            let frame = gif::Frame {
                width: 4,
                height: 2,
                buffer: std::borrow::Cow::Borrowed(&[0, 0, 1, 1, 1, 1, 0, 0]),
                ..gif::Frame::default()
            };
            encoder.write_frame(&frame).unwrap();
        }
        let image = decode("image/gif", &file).unwrap();
        assert_eq!((image.width(), image.height()), (4, 2));
        assert_eq!(image.pixels()[0], [255, 0, 0, 255]);
        assert_eq!(image.pixels()[2], [0, 0, 255, 255]);
        assert!(decode("image/gif", b"GIF89a").is_err());
    }
}
