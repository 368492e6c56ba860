//! The frame renderer: [`DisplayList`] → premultiplied RGBA8 pixels.
//!
//! # Quick start
//! ```
//! use editor_core::display::{Affine, Color, Content, DisplayItem, DisplayList};
//! use editor_core::image::RgbaImage;
//! use editor_core::render::{Frame, MemoryImageSource, Renderer};
//!
//! let mut images = MemoryImageSource::new();
//! let red = RgbaImage::from_straight_rgba(2, 2, &[255, 0, 0, 255].repeat(4)).unwrap();
//! images.insert("ast_red", red);
//!
//! let mut list = DisplayList::new(8, 8, Color::BLACK);
//! let mut item = DisplayItem::new(
//!     "clip_1",
//!     Content::Image { asset_id: "ast_red".into(), frame: None, width: 2, height: 2 },
//! );
//! item.transform = Affine::scale(4.0, 4.0);
//! list.items.push(item);
//!
//! let mut renderer = Renderer::new(); // keep it: its caches serve the next frames
//! let mut frame = Frame::new(8, 8).unwrap();
//! renderer.render(&list, &images, &mut frame).unwrap();
//! assert_eq!(frame.pixels()[0], [255, 0, 0, 255]);
//! ```
//!
//! # Design
//! A [`Renderer`] is kept for the life of a preview or export and reused for every frame: it
//! owns the caches, draw plans and scratch rows, so a warm frame allocates next to nothing.
//! A frame is rendered in two phases: every visible item is first *prepared* (images resolved,
//! layers rasterised or found in the cache, per-column sampling plans computed), then the frame
//! is *drawn band by band* (32 rows at a time, every item's rows for a band before the next
//! band), so the destination stays in cache while all layers are composited onto it.
//!
//! 1. **Occlusion.** Items are scanned top-down for the highest one that paints every pixel
//!    opaquely (an opaque full-frame photo, an opaque solid); the background and everything
//!    beneath it are skipped.
//! 2. **Images** without effects are drawn straight from the source with a fixed-point
//!    bilinear sampler that composites as it goes (see `sample`), using a 2×-box mip chain when
//!    minifying below ½ so previews do not alias.
//! 3. **Everything else** (shapes, gradients, text, images with effects) is rasterised into a
//!    layer, effects are applied to the layer, and the layer is cached keyed by everything that
//!    shaped its pixels: content, the transform's linear part, its sub-pixel phase (snapped to
//!    ¼ px, so a sliding layer needs at most 16 rasterisations whatever its path),
//!    crop, effects. Opacity, blend mode, clip and whole-pixel translation are applied when the
//!    layer is composited, so fades and whole-pixel moves reuse it.
//! 4. Only integer arithmetic (or scalar IEEE `f32`/`f64` set-up maths, which is exact and
//!    identical across targets) touches pixels; tiny-skia is used for path coverage and solid
//!    fills only, which run on its integer pipeline. Native and wasm32 output is bit-identical.

mod composite;
mod effects;
pub mod export;
mod raster;
mod sample;
mod text;

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;

use crate::display::{
    Affine, BlendMode, Color, Content, DisplayItem, DisplayList, Effect, Mask, ShapeKind,
};
use crate::image::{premultiply, RgbaImage};
use composite::composite_const;
use raster::GradientKind;
use sample::{draw_image, Canvas, DrawParams, DrawPlan, IRect, SampleScratch};

/// Largest accepted output width or height.
pub const MAX_OUTPUT_DIMENSION: u32 = 8192;

/// Supplies decoded images to the renderer, by asset id and optional frame index.
pub trait ImageSource {
    /// The image for `asset_id` (and `frame`, for sequences and video), or `None` if unknown.
    fn image(&self, asset_id: &str, frame: Option<u32>) -> Option<&RgbaImage>;
}

/// An [`ImageSource`] holding decoded images in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryImageSource {
    images: HashMap<(String, Option<u32>), RgbaImage>,
}

impl MemoryImageSource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) a still image; it answers every frame index of its asset that
    /// has no frame-specific image.
    pub fn insert(&mut self, asset_id: impl Into<String>, image: RgbaImage) {
        self.images.insert((asset_id.into(), None), image);
    }

    /// Registers (or replaces) one frame of a sequence or video.
    pub fn insert_frame(&mut self, asset_id: impl Into<String>, frame: u32, image: RgbaImage) {
        self.images.insert((asset_id.into(), Some(frame)), image);
    }

    /// Removes every image of an asset.
    pub fn remove(&mut self, asset_id: &str) {
        self.images.retain(|(id, _), _| id != asset_id);
    }

    /// Number of images held.
    pub fn len(&self) -> usize {
        self.images.len()
    }

    /// True when no image is held.
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
}

impl ImageSource for MemoryImageSource {
    fn image(&self, asset_id: &str, frame: Option<u32>) -> Option<&RgbaImage> {
        let key = (asset_id.to_owned(), frame);
        self.images
            .get(&key)
            .or_else(|| frame.and_then(|_| self.images.get(&(asset_id.to_owned(), None))))
    }
}

/// Why a frame could not be rendered.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// The display list's size is zero or above [`MAX_OUTPUT_DIMENSION`].
    #[error("output size {width}x{height} is out of range")]
    InvalidSize {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// A caller-provided buffer does not hold `width × height` pixels.
    #[error("target buffer has {actual} pixels, expected {expected}")]
    BufferSize {
        /// Pixels needed.
        expected: usize,
        /// Pixels given.
        actual: usize,
    },
}

/// What happened while rendering one frame (for diagnostics and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderStats {
    /// Items in the list.
    pub items: usize,
    /// Items skipped because an opaque item above them covers the frame.
    pub occluded: usize,
    /// Layers reused from the cache.
    pub layer_hits: usize,
    /// Layers rasterised this frame.
    pub layer_misses: usize,
    /// Image references the source could not resolve (those items are not drawn).
    pub missing_images: Vec<String>,
}

/// An owned output frame: premultiplied RGBA8, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 4]>,
}

impl Frame {
    /// A transparent frame.
    pub fn new(width: u32, height: u32) -> Result<Self, RenderError> {
        check_size(width, height)?;
        Ok(Frame {
            width,
            height,
            pixels: vec![[0; 4]; width as usize * height as usize],
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Premultiplied pixels.
    pub fn pixels(&self) -> &[[u8; 4]] {
        &self.pixels
    }

    /// Resizes in place, reallocating only when the pixel count grows.
    fn resize(&mut self, width: u32, height: u32) {
        self.width = width;
        self.height = height;
        self.pixels.resize(width as usize * height as usize, [0; 4]);
    }

    /// Non-premultiplied RGBA bytes, as canvas `ImageData` and encoders expect.
    pub fn to_straight_rgba(&self) -> Vec<u8> {
        let mut out = vec![0; self.pixels.len() * 4];
        crate::image::unpremultiply_into(&self.pixels, &mut out);
        out
    }

    /// Writes non-premultiplied RGBA bytes into `out` (4 bytes per pixel) without allocating.
    pub fn write_straight_rgba(&self, out: &mut [u8]) -> Result<(), RenderError> {
        if out.len() != self.pixels.len() * 4 {
            return Err(RenderError::BufferSize {
                expected: self.pixels.len(),
                actual: out.len() / 4,
            });
        }
        crate::image::unpremultiply_into(&self.pixels, out);
        Ok(())
    }

    /// A stable 64-bit hash of the size and premultiplied pixels ([`frame_hash`]), identical on
    /// every platform: used to compare native and wasm renders.
    pub fn hash(&self) -> u64 {
        frame_hash(self.width, self.height, &self.pixels)
    }

    /// The frame as an image (for use as a source or for encoding).
    pub fn to_image(&self) -> RgbaImage {
        RgbaImage::from_trusted(self.width, self.height, self.pixels.clone())
    }
}

/// A 64-bit FNV-1a-style hash over `width`, `height` and the pixels taken as little-endian
/// 64-bit words (two pixels per step; a trailing odd pixel is zero-padded). Platform-independent.
pub fn frame_hash(width: u32, height: u32, pixels: &[[u8; 4]]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01B3;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |word: u64| {
        h ^= word;
        h = h.wrapping_mul(PRIME);
        h ^= h >> 29;
    };
    eat(u64::from(width) | (u64::from(height) << 32));
    let mut pairs = pixels.chunks_exact(2);
    for pair in &mut pairs {
        eat(u64::from(u32::from_le_bytes(pair[0])) | (u64::from(u32::from_le_bytes(pair[1])) << 32));
    }
    if let [last] = pairs.remainder() {
        eat(u64::from(u32::from_le_bytes(*last)));
    }
    h
}

fn check_size(width: u32, height: u32) -> Result<(), RenderError> {
    if width == 0 || height == 0 || width > MAX_OUTPUT_DIMENSION || height > MAX_OUTPUT_DIMENSION {
        return Err(RenderError::InvalidSize { width, height });
    }
    Ok(())
}

struct CachedLayer {
    key: Vec<u8>,
    image: RgbaImage,
    last_used: u64,
}

struct MipChain {
    levels: Vec<RgbaImage>,
    last_used: u64,
}

/// Renders display lists; keep one per output stream and reuse it for every frame.
pub struct Renderer {
    layers: HashMap<u64, CachedLayer>,
    mips: HashMap<u64, MipChain>,
    scratch: SampleScratch,
    /// Pool of draw plans; the first `plans_used` belong to the frame being drawn.
    plans: Vec<DrawPlan>,
    plans_used: usize,
    frame_counter: u64,
    cache_budget: usize,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

/// Everything that determines a cached layer's pixels.
#[derive(Serialize)]
struct LayerKey<'a> {
    content: &'a Content,
    linear: [f32; 4],
    /// Sub-pixel phase in ¼ px, or the full transform and window for unbounded layers.
    placement: Placement,
    crop: Option<&'a crate::display::Rect>,
    effects: &'a [Effect],
    /// Generations of the images the layer samples, so replaced images miss.
    images: Vec<u64>,
}

#[derive(Serialize, Clone, Copy)]
enum Placement {
    Phase(i32, i32),
    Window([f32; 6], [i32; 4]),
}

/// How an item's layer is rasterised and where it lands.
struct LayerPlan {
    /// Content → layer pixels.
    raster: Affine,
    width: u32,
    height: u32,
    /// Output position of layer pixel (0, 0).
    offset: (i32, i32),
    placement: Placement,
}

/// Rows drawn per band: all items are composited into one band before the next, so the
/// destination rows stay in cache across items.
const BAND_ROWS: i32 = 32;

/// Where a draw's pixels come from.
enum ImgRef<'a> {
    /// An image from the caller's source.
    External(&'a RgbaImage),
    /// A level of a cached mip chain: (image generation, level index).
    Mip(u64, usize),
    /// A cached layer, by key hash.
    Layer(u64),
}

/// One step of drawing a frame, replayed for every band.
enum Job<'a> {
    /// A constant colour over a rectangle (background, solid items).
    Fill {
        color: [u8; 4],
        blend: BlendMode,
        clip: IRect,
        /// Overwrite instead of compositing (the background).
        replace: bool,
    },
    /// An image or layer through a prepared plan.
    Draw { image: ImgRef<'a>, plan: usize },
}

/// Sub-pixel positions per pixel at which layers are rasterised.
const PHASES: f64 = 4.0;

/// Most pixels one layer may have before it is clipped to the visible window.
const MAX_LAYER_PIXELS: u64 = 16 * 1024 * 1024;

impl Renderer {
    /// A renderer with empty caches and a 256 MiB cache budget.
    pub fn new() -> Self {
        Renderer {
            layers: HashMap::new(),
            mips: HashMap::new(),
            scratch: SampleScratch::default(),
            plans: Vec::new(),
            plans_used: 0,
            frame_counter: 0,
            cache_budget: 256 * 1024 * 1024,
        }
    }

    /// Sets how many bytes of cached layers and mip levels are kept between frames.
    pub fn set_cache_budget(&mut self, bytes: usize) {
        self.cache_budget = bytes;
    }

    /// Drops every cached layer and mip level.
    pub fn clear_caches(&mut self) {
        self.layers.clear();
        self.mips.clear();
    }

    /// Renders into `frame`, resizing it to the list's size if needed.
    pub fn render(
        &mut self,
        list: &DisplayList,
        images: &dyn ImageSource,
        frame: &mut Frame,
    ) -> Result<RenderStats, RenderError> {
        check_size(list.width, list.height)?;
        frame.resize(list.width, list.height);
        self.render_into(list, images, &mut frame.pixels)
    }

    /// Renders into a caller-provided premultiplied buffer of `width × height` pixels.
    pub fn render_into(
        &mut self,
        list: &DisplayList,
        images: &dyn ImageSource,
        pixels: &mut [[u8; 4]],
    ) -> Result<RenderStats, RenderError> {
        check_size(list.width, list.height)?;
        let expected = list.width as usize * list.height as usize;
        if pixels.len() != expected {
            return Err(RenderError::BufferSize {
                expected,
                actual: pixels.len(),
            });
        }
        self.frame_counter += 1;
        let mut stats = RenderStats {
            items: list.items.len(),
            ..RenderStats::default()
        };
        let mut canvas = Canvas {
            width: list.width as usize,
            height: list.height as usize,
            pixels,
        };
        let bounds = canvas.bounds();
        let first = list
            .items
            .iter()
            .rposition(|item| covers_frame(item, images, list.width, list.height));
        let mut jobs: Vec<Job<'_>> = Vec::with_capacity(list.items.len() + 1);
        match first {
            Some(i) => stats.occluded = i,
            None => jobs.push(Job::Fill {
                color: premultiply(color_bytes(list.background)),
                blend: BlendMode::Normal,
                clip: bounds,
                replace: true,
            }),
        }
        self.plans_used = 0;
        for item in &list.items[first.unwrap_or(0)..] {
            self.prepare_item(item, images, bounds, &mut stats, &mut jobs);
        }

        // Draw band by band: every item's rows for one band while the band is in cache.
        let (layers, mips, plans, scratch) =
            (&self.layers, &self.mips, &self.plans, &mut self.scratch);
        let height = canvas.height as i32;
        let mut y0 = 0;
        while y0 < height {
            let y1 = (y0 + BAND_ROWS).min(height);
            for job in &jobs {
                match job {
                    Job::Fill {
                        color,
                        blend,
                        clip,
                        replace,
                    } => {
                        for y in y0.max(clip.y0)..y1.min(clip.y1) {
                            let row =
                                canvas.row_mut(y as usize, clip.x0 as usize, clip.x1 as usize);
                            if *replace {
                                row.fill(*color);
                            } else {
                                composite_const(row, *color, *blend);
                            }
                        }
                    }
                    Job::Draw { image, plan } => {
                        let img = match image {
                            ImgRef::External(img) => Some(*img),
                            ImgRef::Mip(generation, level) => mips
                                .get(generation)
                                .and_then(|chain| chain.levels.get(*level)),
                            ImgRef::Layer(hash) => layers.get(hash).map(|l| &l.image),
                        };
                        if let (Some(img), Some(plan)) = (img, plans.get(*plan)) {
                            plan.draw_rows(&mut canvas, img, y0, y1, scratch);
                        }
                    }
                }
            }
            y0 = y1;
        }
        self.evict();
        Ok(stats)
    }

    /// Renders into caller-provided premultiplied RGBA bytes (`width × height × 4`).
    pub fn render_into_bytes(
        &mut self,
        list: &DisplayList,
        images: &dyn ImageSource,
        bytes: &mut [u8],
    ) -> Result<RenderStats, RenderError> {
        let (pixels, rest) = bytes.as_chunks_mut::<4>();
        if !rest.is_empty() {
            return Err(RenderError::BufferSize {
                expected: list.width as usize * list.height as usize,
                actual: pixels.len(),
            });
        }
        self.render_into(list, images, pixels)
    }

    /// Convenience: renders into a new frame.
    pub fn render_frame(
        &mut self,
        list: &DisplayList,
        images: &dyn ImageSource,
    ) -> Result<(Frame, RenderStats), RenderError> {
        let mut frame = Frame::new(list.width, list.height)?;
        let stats = self.render(list, images, &mut frame)?;
        Ok((frame, stats))
    }

    /// Reserves a draw plan from the pool.
    fn next_plan(&mut self) -> usize {
        if self.plans_used == self.plans.len() {
            self.plans.push(DrawPlan::default());
        }
        self.plans_used += 1;
        self.plans_used - 1
    }

    /// Resolves, caches and plans one item; pushes what to draw.
    fn prepare_item<'a>(
        &mut self,
        item: &DisplayItem,
        images: &'a dyn ImageSource,
        bounds: IRect,
        stats: &mut RenderStats,
        jobs: &mut Vec<Job<'a>>,
    ) {
        let opacity = opacity_byte(item.opacity);
        if opacity == 0 {
            return;
        }
        let clip = clip_rect(item.clip.as_ref(), bounds);
        if clip.is_empty() {
            return;
        }
        match &item.content {
            Content::Solid { color } if item.effects.is_empty() => {
                let c =
                    composite::scale_px(composite::pack(premultiply(color_bytes(*color))), opacity);
                jobs.push(Job::Fill {
                    color: composite::unpack(c),
                    blend: item.blend,
                    clip,
                    replace: false,
                });
            }
            Content::Image {
                asset_id, frame, ..
            } if item.effects.is_empty() => {
                let Some(img) = images.image(asset_id, *frame) else {
                    stats.missing_images.push(asset_id.clone());
                    return;
                };
                let params = DrawParams {
                    transform: item.transform,
                    src: crop_rect(item.crop.as_ref(), img),
                    opacity,
                    blend: item.blend,
                    clip,
                };
                let plan = self.next_plan();
                let image = match self.select_mip(img, &params) {
                    Some((generation, level, mip_params)) => {
                        if let Some(mip) =
                            self.mips.get(&generation).and_then(|c| c.levels.get(level))
                        {
                            self.plans[plan].prepare(bounds, mip, &mip_params);
                        }
                        ImgRef::Mip(generation, level)
                    }
                    None => {
                        self.plans[plan].prepare(bounds, img, &params);
                        ImgRef::External(img)
                    }
                };
                jobs.push(Job::Draw { image, plan });
            }
            _ => self.prepare_layer(item, images, opacity, clip, bounds, stats, jobs),
        }
    }

    /// Picks the mip level for a minified draw (building it if needed): `None` for the image
    /// itself, else the chain key, level index and the parameters rescaled to that level.
    fn select_mip(
        &mut self,
        img: &RgbaImage,
        params: &DrawParams,
    ) -> Option<(u64, usize, DrawParams)> {
        let t = params.transform;
        let scale = if t.is_axis_aligned() {
            t.sx.abs().min(t.sy.abs())
        } else {
            libm::sqrtf((t.sx * t.sy - t.kx * t.ky).abs())
        };
        if !scale.is_finite() || scale <= 0.0 {
            return None;
        }
        let mut level = 0u32;
        while level < 12 && scale * (1u32 << level) as f32 <= 0.5 {
            level += 1;
        }
        if level == 0 {
            return None;
        }
        let counter = self.frame_counter;
        let chain = self
            .mips
            .entry(img.generation())
            .or_insert_with(|| MipChain {
                levels: Vec::new(),
                last_used: counter,
            });
        chain.last_used = counter;
        while (chain.levels.len() as u32) < level {
            let prev = chain.levels.last().unwrap_or(img);
            if prev.width() == 1 && prev.height() == 1 {
                break;
            }
            let next = downsample(prev);
            chain.levels.push(next);
        }
        let level = (chain.levels.len() as u32).min(level);
        if level == 0 {
            return None;
        }
        let f = (1u32 << level) as f32;
        let div = 1i32 << level;
        let src = params.src;
        Some((
            img.generation(),
            level as usize - 1,
            DrawParams {
                transform: t.concat(Affine::scale(f, f)),
                src: IRect::new(
                    src.x0.div_euclid(div),
                    src.y0.div_euclid(div),
                    (src.x1 + div - 1).div_euclid(div),
                    (src.y1 + div - 1).div_euclid(div),
                ),
                ..*params
            },
        ))
    }

    /// Draws an image right away (through its mip chain when minified).
    fn draw_image_now(&mut self, canvas: &mut Canvas<'_>, img: &RgbaImage, params: DrawParams) {
        match self.select_mip(img, &params) {
            Some((generation, level, mip_params)) => {
                if let Some(mip) = self.mips.get(&generation).and_then(|c| c.levels.get(level)) {
                    draw_image(canvas, mip, &mip_params, &mut self.scratch);
                }
            }
            None => draw_image(canvas, img, &params, &mut self.scratch),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn prepare_layer<'a>(
        &mut self,
        item: &DisplayItem,
        images: &'a dyn ImageSource,
        opacity: u32,
        clip: IRect,
        bounds: IRect,
        stats: &mut RenderStats,
        jobs: &mut Vec<Job<'a>>,
    ) {
        // Resolve the images the layer samples first, so a missing one skips the item.
        let mut generations = Vec::new();
        let mut source: Option<&RgbaImage> = None;
        if let Content::Image {
            asset_id, frame, ..
        } = &item.content
        {
            match images.image(asset_id, *frame) {
                Some(img) => {
                    generations.push(img.generation());
                    source = Some(img);
                }
                None => {
                    stats.missing_images.push(asset_id.clone());
                    return;
                }
            }
        }
        for effect in &item.effects {
            if let Effect::Mask(Mask::Luma {
                asset_id, frame, ..
            }) = effect
            {
                match images.image(asset_id, *frame) {
                    Some(img) => generations.push(img.generation()),
                    None => stats.missing_images.push(asset_id.clone()),
                }
            }
        }
        let text_layout = match &item.content {
            Content::Text(t) => Some(text::layout(t)),
            _ => None,
        };
        let content_box = match content_bounds(item, source, text_layout.as_ref()) {
            Some(b) => b,
            None => return,
        };
        let Some(layout) = plan_layer(item, content_box, bounds) else {
            return;
        };
        let key = LayerKey {
            content: &item.content,
            linear: [
                item.transform.sx,
                item.transform.ky,
                item.transform.kx,
                item.transform.sy,
            ],
            placement: layout.placement,
            crop: item.crop.as_ref(),
            effects: &item.effects,
            images: generations,
        };
        let key_bytes = serde_json::to_vec(&key).unwrap_or_default();
        let mut hasher = DefaultHasher::new();
        key_bytes.hash(&mut hasher);
        let hash = hasher.finish();
        let hit = self
            .layers
            .get(&hash)
            .is_some_and(|entry| entry.key == key_bytes);
        if hit {
            stats.layer_hits += 1;
        } else {
            stats.layer_misses += 1;
            let image = self.rasterise_layer(item, &layout, source, text_layout.as_ref(), images);
            self.layers.insert(
                hash,
                CachedLayer {
                    key: key_bytes,
                    image,
                    last_used: self.frame_counter,
                },
            );
        }
        let Some(entry) = self.layers.get_mut(&hash) else {
            return;
        };
        entry.last_used = self.frame_counter;
        let params = DrawParams {
            transform: Affine::translate(layout.offset.0 as f32, layout.offset.1 as f32),
            src: IRect::new(0, 0, layout.width as i32, layout.height as i32),
            opacity,
            blend: item.blend,
            clip,
        };
        let plan = self.next_plan();
        if let Some(entry) = self.layers.get(&hash) {
            self.plans[plan].prepare(bounds, &entry.image, &params);
        }
        jobs.push(Job::Draw {
            image: ImgRef::Layer(hash),
            plan,
        });
    }

    fn rasterise_layer(
        &mut self,
        item: &DisplayItem,
        plan: &LayerPlan,
        source: Option<&RgbaImage>,
        text_layout: Option<&text::TextLayout>,
        images: &dyn ImageSource,
    ) -> RgbaImage {
        let (w, h) = (plan.width as usize, plan.height as usize);
        let mut data = vec![[0u8; 4]; w * h];
        let bounds = IRect::new(0, 0, w as i32, h as i32);
        match &item.content {
            Content::Image { .. } => {
                if let Some(img) = source {
                    let mut canvas = Canvas {
                        width: w,
                        height: h,
                        pixels: &mut data,
                    };
                    let params = DrawParams {
                        transform: plan.raster,
                        src: crop_rect(item.crop.as_ref(), img),
                        opacity: 255,
                        blend: BlendMode::Normal,
                        clip: bounds,
                    };
                    self.draw_image_now(&mut canvas, img, params);
                }
            }
            Content::Solid { color } => data.fill(premultiply(color_bytes(*color))),
            Content::LinearGradient {
                width,
                height,
                start,
                end,
                stops,
            } => raster::fill_gradient(
                &mut data,
                plan.width,
                plan.height,
                *width,
                *height,
                &GradientKind::Linear {
                    start: *start,
                    end: *end,
                },
                stops,
                plan.raster,
            ),
            Content::RadialGradient {
                width,
                height,
                center,
                radius,
                stops,
            } => raster::fill_gradient(
                &mut data,
                plan.width,
                plan.height,
                *width,
                *height,
                &GradientKind::Radial {
                    center: *center,
                    radius: *radius,
                },
                stops,
                plan.raster,
            ),
            Content::Shape { kind, fill, stroke } => {
                if let Some(mut pixmap) = tiny_skia::PixmapMut::from_bytes(
                    data.as_flattened_mut(),
                    plan.width,
                    plan.height,
                ) {
                    raster::draw_shape(&mut pixmap, kind, *fill, stroke.as_ref(), plan.raster);
                }
            }
            Content::Text(t) => {
                if let (Some(layout), Some(mut pixmap)) = (
                    text_layout,
                    tiny_skia::PixmapMut::from_bytes(
                        data.as_flattened_mut(),
                        plan.width,
                        plan.height,
                    ),
                ) {
                    if let Some(path) = &layout.path {
                        raster::draw_text(&mut pixmap, t, path, plan.raster);
                    }
                }
            }
        }
        // Crop of non-image content: keep only the cropped content rectangle.
        if let (Some(crop), false) = (item.crop, matches!(item.content, Content::Image { .. })) {
            let mask = raster::shape_mask(
                &ShapeKind::Rect {
                    width: crop.width,
                    height: crop.height,
                },
                plan.raster.concat(Affine::translate(crop.x, crop.y)),
                plan.width,
                plan.height,
                0.0,
            );
            effects::apply_mask(&mut data, &mask, false);
        }
        for effect in &item.effects {
            self.apply_effect(&mut data, plan, effect, images);
        }
        RgbaImage::from_trusted(plan.width, plan.height, data)
    }

    fn apply_effect(
        &mut self,
        data: &mut [[u8; 4]],
        plan: &LayerPlan,
        effect: &Effect,
        images: &dyn ImageSource,
    ) {
        let (w, h) = (plan.width as usize, plan.height as usize);
        match effect {
            Effect::GaussianBlur { radius } => {
                effects::gaussian_blur(
                    &mut effects::Plane {
                        width: w,
                        height: h,
                        data,
                    },
                    *radius,
                );
                effects::fix_premultiplied(data);
            }
            Effect::BoxBlur { radius } => {
                effects::box_blur(
                    &mut effects::Plane {
                        width: w,
                        height: h,
                        data,
                    },
                    *radius,
                );
                effects::fix_premultiplied(data);
            }
            Effect::ColorAdjust {
                brightness,
                contrast,
                saturation,
                hue,
            } => effects::color_adjust(data, *brightness, *contrast, *saturation, *hue),
            Effect::Tint { color, amount } => effects::tint(data, *color, *amount),
            Effect::DropShadow(shadow) => effects::drop_shadow(data, w, h, shadow),
            Effect::Mask(Mask::Shape {
                kind,
                transform,
                feather,
                invert,
            }) => {
                let mask = raster::shape_mask(
                    kind,
                    plan.raster.concat(*transform),
                    plan.width,
                    plan.height,
                    if feather.is_finite() { *feather } else { 0.0 },
                );
                effects::apply_mask(data, &mask, *invert);
            }
            Effect::Mask(Mask::Luma {
                asset_id,
                frame,
                transform,
                invert,
            }) => {
                let mut sampled = vec![[0u8; 4]; w * h];
                if let Some(img) = images.image(asset_id, *frame) {
                    let mut canvas = Canvas {
                        width: w,
                        height: h,
                        pixels: &mut sampled,
                    };
                    let params = DrawParams {
                        transform: plan.raster.concat(*transform),
                        src: IRect::new(0, 0, img.width() as i32, img.height() as i32),
                        opacity: 255,
                        blend: BlendMode::Normal,
                        clip: IRect::new(0, 0, w as i32, h as i32),
                    };
                    self.draw_image_now(&mut canvas, img, params);
                }
                // Rec. 709 luma of premultiplied colour = luma × alpha.
                let mask: Vec<u8> = sampled
                    .iter()
                    .map(|p| {
                        ((54 * u32::from(p[0])
                            + 183 * u32::from(p[1])
                            + 19 * u32::from(p[2])
                            + 128)
                            >> 8) as u8
                    })
                    .collect();
                effects::apply_mask(data, &mask, *invert);
            }
        }
    }

    /// Keeps the caches within budget, dropping the least recently used entries first.
    fn evict(&mut self) {
        let layer_bytes = |l: &CachedLayer| l.image.pixels().len() * 4 + l.key.len();
        let mip_bytes = |m: &MipChain| m.levels.iter().map(|l| l.pixels().len() * 4).sum::<usize>();
        let mut total: usize = self.layers.values().map(layer_bytes).sum::<usize>()
            + self.mips.values().map(mip_bytes).sum::<usize>();
        if total <= self.cache_budget {
            return;
        }
        let mut ages: Vec<(u64, bool, u64, usize)> = self
            .layers
            .iter()
            .map(|(k, l)| (l.last_used, true, *k, layer_bytes(l)))
            .chain(
                self.mips
                    .iter()
                    .map(|(k, m)| (m.last_used, false, *k, mip_bytes(m))),
            )
            .collect();
        ages.sort_unstable();
        for (last_used, is_layer, key, bytes) in ages {
            if total <= self.cache_budget || last_used == self.frame_counter {
                break;
            }
            if is_layer {
                self.layers.remove(&key);
            } else {
                self.mips.remove(&key);
            }
            total -= bytes;
        }
    }
}

fn color_bytes(c: Color) -> [u8; 4] {
    [c.r, c.g, c.b, c.a]
}

fn opacity_byte(opacity: f32) -> u32 {
    if opacity.is_nan() {
        return 0;
    }
    (opacity.clamp(0.0, 1.0) * 255.0 + 0.5) as u32
}

fn clip_rect(clip: Option<&crate::display::Rect>, frame: IRect) -> IRect {
    let Some(c) = clip else {
        return frame;
    };
    let v = |f: f32| {
        if f.is_finite() {
            f64::from(f).round().clamp(-1e9, 1e9) as i32
        } else if f > 0.0 {
            i32::MAX / 2
        } else {
            i32::MIN / 2
        }
    };
    let (x0, y0) = (v(c.x), v(c.y));
    let (x1, y1) = (v(c.x + c.width), v(c.y + c.height));
    IRect::new(x0, y0, x1, y1).intersect(&frame)
}

fn crop_rect(crop: Option<&crate::display::Rect>, img: &RgbaImage) -> IRect {
    let full = IRect::new(0, 0, img.width() as i32, img.height() as i32);
    let Some(c) = crop else {
        return full;
    };
    if !(c.x.is_finite() && c.y.is_finite() && c.width.is_finite() && c.height.is_finite()) {
        return full;
    }
    let snap = |v: f32, up: bool| {
        let v = f64::from(v).clamp(-1e9, 1e9);
        (if up { v.ceil() } else { v.floor() }) as i32
    };
    IRect::new(
        snap(c.x, false),
        snap(c.y, false),
        snap(c.x + c.width, true),
        snap(c.y + c.height, true),
    )
    .intersect(&full)
}

/// Content-space bounds of what an item paints before effects, or `None` if nothing.
fn content_bounds(
    item: &DisplayItem,
    source: Option<&RgbaImage>,
    text_layout: Option<&text::TextLayout>,
) -> Option<(f32, f32, f32, f32)> {
    let stroke_pad = |s: Option<&crate::display::Stroke>| {
        s.map_or(0.0, |s| {
            if s.width.is_finite() {
                s.width.abs()
            } else {
                0.0
            }
        })
    };
    let b = match &item.content {
        Content::Image { .. } => {
            let img = source?;
            let r = crop_rect(item.crop.as_ref(), img);
            (r.x0 as f32, r.y0 as f32, r.x1 as f32, r.y1 as f32)
        }
        Content::Solid { .. } => return Some((f32::NEG_INFINITY, 0.0, 0.0, 0.0)),
        Content::LinearGradient { width, height, .. }
        | Content::RadialGradient { width, height, .. } => (0.0, 0.0, *width, *height),
        Content::Shape { kind, stroke, .. } => {
            let (x0, y0, x1, y1) = raster::shape_bounds(kind);
            let p = stroke_pad(stroke.as_ref());
            (x0 - p, y0 - p, x1 + p, y1 + p)
        }
        Content::Text(t) => {
            let layout = text_layout?;
            layout.path.as_ref()?;
            let (x0, y0, x1, y1) = layout.bounds;
            let mut p = stroke_pad(t.stroke.as_ref());
            if let Some(s) = &t.shadow {
                let reach = |v: f32| if v.is_finite() { v.abs() } else { 0.0 };
                p += reach(s.dx).max(reach(s.dy)) + 3.0 * reach(s.blur) + 2.0;
            }
            (x0 - p, y0 - p, x1 + p, y1 + p)
        }
    };
    // Images applied their crop in `crop_rect`; other content is cut to the crop rectangle.
    let b = match (&item.crop, &item.content) {
        (Some(_), Content::Image { .. }) | (None, _) => b,
        (Some(c), _) => (
            b.0.max(c.x),
            b.1.max(c.y),
            b.2.min(c.x + c.width),
            b.3.min(c.y + c.height),
        ),
    };
    if [b.0, b.1, b.2, b.3].iter().all(|v| v.is_finite()) && b.2 > b.0 && b.3 > b.1 {
        Some(b)
    } else {
        None
    }
}

/// Decides the layer's raster transform, size and output offset.
fn plan_layer(item: &DisplayItem, bounds: (f32, f32, f32, f32), frame: IRect) -> Option<LayerPlan> {
    let t = item.transform;
    if !t.is_finite() {
        return None;
    }
    let margin = f64::from(
        item.effects
            .iter()
            .map(effects::margin)
            .sum::<f32>()
            .min(2.0 * effects::MAX_BLUR_MARGIN),
    ) + 1.0;

    // Solid colour with effects fills the frame.
    if bounds.0 == f32::NEG_INFINITY {
        return Some(window_plan(Affine::IDENTITY, frame, frame, margin));
    }
    let linear = Affine {
        tx: 0.0,
        ty: 0.0,
        ..t
    };
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in [
        (bounds.0, bounds.1),
        (bounds.2, bounds.1),
        (bounds.0, bounds.3),
        (bounds.2, bounds.3),
    ] {
        let p = linear.apply(crate::display::Point::new(x, y));
        min_x = min_x.min(f64::from(p.x));
        max_x = max_x.max(f64::from(p.x));
        min_y = min_y.min(f64::from(p.y));
        max_y = max_y.max(f64::from(p.y));
    }
    // Sub-pixel placement is snapped to quarter pixels (an eighth of a pixel off at most,
    // invisible) so moving layers cycle through a few cached phases instead of missing.
    let snap = |v: f32| {
        let q = (f64::from(v) * PHASES).round().clamp(-1e12, 1e12);
        (q.div_euclid(PHASES), q.rem_euclid(PHASES))
    };
    let ((base_x, phase_x), (base_y, phase_y)) = (snap(t.tx), snap(t.ty));
    let (px, py) = (phase_x as i32, phase_y as i32);
    let (fx, fy) = (phase_x / PHASES, phase_y / PHASES);
    let x0 = (min_x + fx - margin).floor();
    let y0 = (min_y + fy - margin).floor();
    let x1 = (max_x + fx + margin).ceil();
    let y1 = (max_y + fy + margin).ceil();
    let (w, h) = (x1 - x0, y1 - y0);
    let fits = w > 0.0
        && h > 0.0
        && w <= 16384.0
        && h <= 16384.0
        && w * h <= MAX_LAYER_PIXELS as f64
        && min_x.is_finite()
        && max_y.is_finite();
    if !fits {
        // Too big to cache whole (a huge zoom): rasterise only the visible window.
        let out_bounds = IRect::new(
            (min_x + f64::from(t.tx)).floor().clamp(-1e9, 1e9) as i32,
            (min_y + f64::from(t.ty)).floor().clamp(-1e9, 1e9) as i32,
            (max_x + f64::from(t.tx)).ceil().clamp(-1e9, 1e9) as i32,
            (max_y + f64::from(t.ty)).ceil().clamp(-1e9, 1e9) as i32,
        );
        return Some(window_plan(t, out_bounds, frame, margin));
    }
    Some(LayerPlan {
        raster: Affine {
            tx: (fx - x0) as f32,
            ty: (fy - y0) as f32,
            ..linear
        },
        width: w as u32,
        height: h as u32,
        offset: (
            (base_x + x0).clamp(-1e9, 1e9) as i32,
            (base_y + y0).clamp(-1e9, 1e9) as i32,
        ),
        placement: Placement::Phase(px, py),
    })
}

/// A layer covering only the visible part of the item (plus effect margin), in output space.
fn window_plan(t: Affine, out_bounds: IRect, frame: IRect, margin: f64) -> LayerPlan {
    let m = margin.ceil() as i32;
    let grown = IRect::new(frame.x0 - m, frame.y0 - m, frame.x1 + m, frame.y1 + m);
    let mut window = out_bounds.intersect(&grown);
    if window.is_empty() {
        window = IRect::new(0, 0, 1, 1);
    }
    LayerPlan {
        raster: Affine::translate(-window.x0 as f32, -window.y0 as f32).concat(t),
        width: window.width() as u32,
        height: window.height() as u32,
        offset: (window.x0, window.y0),
        placement: Placement::Window(
            [t.sx, t.ky, t.kx, t.sy, t.tx, t.ty],
            [window.x0, window.y0, window.x1, window.y1],
        ),
    }
}

/// True when `item` alone paints every pixel of the frame opaquely, hiding all beneath it.
fn covers_frame(item: &DisplayItem, images: &dyn ImageSource, width: u32, height: u32) -> bool {
    if opacity_byte(item.opacity) != 255 || item.blend != BlendMode::Normal {
        return false;
    }
    if !item.effects.is_empty() {
        return false;
    }
    let frame = IRect::new(0, 0, width as i32, height as i32);
    if clip_rect(item.clip.as_ref(), frame) != frame {
        return false;
    }
    let t = item.transform;
    let rect_covers = |x0: f32, y0: f32, x1: f32, y1: f32| {
        if !(t.is_axis_aligned() && t.sx > 0.0 && t.sy > 0.0 && t.is_finite()) {
            return false;
        }
        let (l, r) = (
            f64::from(x0) * f64::from(t.sx) + f64::from(t.tx),
            f64::from(x1) * f64::from(t.sx) + f64::from(t.tx),
        );
        let (top, bottom) = (
            f64::from(y0) * f64::from(t.sy) + f64::from(t.ty),
            f64::from(y1) * f64::from(t.sy) + f64::from(t.ty),
        );
        l <= 0.0 && top <= 0.0 && r >= f64::from(width) && bottom >= f64::from(height)
    };
    match &item.content {
        Content::Solid { color } => color.a == 255,
        Content::Image {
            asset_id, frame, ..
        } => {
            let Some(img) = images.image(asset_id, *frame) else {
                return false;
            };
            let r = crop_rect(item.crop.as_ref(), img);
            img.is_opaque() && rect_covers(r.x0 as f32, r.y0 as f32, r.x1 as f32, r.y1 as f32)
        }
        Content::LinearGradient {
            width,
            height,
            stops,
            ..
        }
        | Content::RadialGradient {
            width,
            height,
            stops,
            ..
        } => {
            item.crop.is_none()
                && !stops.is_empty()
                && stops.iter().all(|s| s.color.a == 255)
                && rect_covers(0.0, 0.0, *width, *height)
        }
        Content::Shape {
            kind: ShapeKind::Rect { width, height },
            fill: Some(fill),
            stroke: None,
        } => item.crop.is_none() && fill.a == 255 && rect_covers(0.0, 0.0, *width, *height),
        _ => false,
    }
}

/// 2× box downsample of premultiplied pixels (edge pixels repeat for odd sizes).
fn downsample(img: &RgbaImage) -> RgbaImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = (w.div_ceil(2), h.div_ceil(2));
    let src = img.pixels();
    let mut out = Vec::with_capacity(nw * nh);
    for y in 0..nh {
        let r0 = &src[(2 * y) * w..(2 * y + 1) * w];
        let y1 = (2 * y + 1).min(h - 1);
        let r1 = &src[y1 * w..(y1 + 1) * w];
        for x in 0..nw {
            let x1 = (2 * x + 1).min(w - 1);
            let mut p = [0u8; 4];
            for c in 0..4 {
                let sum = u32::from(r0[2 * x][c])
                    + u32::from(r0[x1][c])
                    + u32::from(r1[2 * x][c])
                    + u32::from(r1[x1][c]);
                p[c] = ((sum + 2) >> 2) as u8;
            }
            out.push(p);
        }
    }
    RgbaImage::from_trusted(nw as u32, nh as u32, out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::display::{GradientStop, Point, Rect, Shadow, Stroke, TextAlign, TextContent};

    /// Seeded generator of hostile values: NaN, infinities, huge, tiny, negative, ordinary.
    struct Chaos(u64);

    impl Chaos {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        fn float(&mut self) -> f32 {
            match self.next() % 10 {
                0 => f32::NAN,
                1 => f32::INFINITY,
                2 => -1e30,
                3 => 1e9,
                4 => -3.5,
                5 => 0.0,
                6 => 1e-7,
                _ => (self.next() % 400) as f32 / 4.0 - 20.0,
            }
        }

        fn color(&mut self) -> Color {
            let v = self.next();
            Color::rgba(v as u8, (v >> 8) as u8, (v >> 16) as u8, (v >> 24) as u8)
        }

        fn affine(&mut self) -> Affine {
            if self.next().is_multiple_of(3) {
                return Affine::translate(self.float(), self.float());
            }
            Affine {
                sx: self.float(),
                ky: self.float(),
                kx: self.float(),
                sy: self.float(),
                tx: self.float(),
                ty: self.float(),
            }
        }

        fn content(&mut self) -> Content {
            let (w, h) = (self.float(), self.float());
            let stops = vec![
                GradientStop {
                    offset: self.float(),
                    color: self.color(),
                },
                GradientStop {
                    offset: self.float(),
                    color: self.color(),
                },
            ];
            match self.next() % 7 {
                0 => Content::Image {
                    asset_id: "img".into(),
                    frame: None,
                    width: 16,
                    height: 8,
                },
                1 => Content::Solid {
                    color: self.color(),
                },
                2 => Content::LinearGradient {
                    width: w,
                    height: h,
                    start: Point::new(self.float(), self.float()),
                    end: Point::new(self.float(), self.float()),
                    stops,
                },
                3 => Content::RadialGradient {
                    width: w,
                    height: h,
                    center: Point::new(self.float(), self.float()),
                    radius: self.float(),
                    stops,
                },
                4 => Content::Shape {
                    kind: ShapeKind::RoundedRect {
                        width: w,
                        height: h,
                        radius: self.float(),
                    },
                    fill: Some(self.color()),
                    stroke: Some(Stroke {
                        color: self.color(),
                        width: self.float().min(50.0),
                    }),
                },
                5 => Content::Text(TextContent {
                    text: "Wrap me, Ünïcødé ✓ \u{0}\n\nend".into(),
                    font_size: self.float().min(200.0),
                    color: self.color(),
                    bold: self.next().is_multiple_of(2),
                    align: TextAlign::Center,
                    box_width: Some(self.float()),
                    line_height: self.float(),
                    stroke: None,
                    shadow: Some(Shadow {
                        dx: self.float(),
                        dy: self.float(),
                        blur: self.float().min(20.0),
                        color: self.color(),
                    }),
                }),
                _ => Content::Image {
                    asset_id: "missing".into(),
                    frame: Some(3),
                    width: 1,
                    height: 1,
                },
            }
        }

        fn effect(&mut self) -> Effect {
            match self.next() % 7 {
                0 => Effect::GaussianBlur {
                    radius: self.float().min(30.0),
                },
                1 => Effect::BoxBlur {
                    radius: self.float().min(30.0),
                },
                2 => Effect::ColorAdjust {
                    brightness: self.float(),
                    contrast: self.float(),
                    saturation: self.float(),
                    hue: self.float(),
                },
                3 => Effect::Tint {
                    color: self.color(),
                    amount: self.float(),
                },
                4 => Effect::DropShadow(Shadow {
                    dx: self.float(),
                    dy: self.float(),
                    blur: self.float().min(30.0),
                    color: self.color(),
                }),
                5 => Effect::Mask(Mask::Shape {
                    kind: ShapeKind::Ellipse {
                        width: self.float(),
                        height: self.float(),
                    },
                    transform: self.affine(),
                    feather: self.float().min(10.0),
                    invert: self.next().is_multiple_of(2),
                }),
                _ => Effect::Mask(Mask::Luma {
                    asset_id: "img".into(),
                    frame: None,
                    transform: self.affine(),
                    invert: true,
                }),
            }
        }
    }

    #[test]
    fn hostile_display_lists_render_without_panicking() {
        let mut images = MemoryImageSource::new();
        let px: Vec<[u8; 4]> = (0..128u32)
            .map(|i| [i as u8, 0, 255 - i as u8, 200])
            .collect();
        let px = px
            .into_iter()
            .map(|p| [p[0].min(200), 0, p[2].min(200), 200]);
        images.insert(
            "img",
            RgbaImage::from_premultiplied(16, 8, px.collect()).expect("image"),
        );
        let mut renderer = Renderer::new();
        for seed in 0..200u64 {
            let mut chaos = Chaos(seed);
            let mut list = DisplayList::new(
                1 + (chaos.next() % 48) as u32,
                1 + (chaos.next() % 32) as u32,
                chaos.color(),
            );
            for _ in 0..(chaos.next() % 4 + 1) {
                let mut item = DisplayItem::new("chaos", chaos.content());
                item.transform = chaos.affine();
                item.opacity = chaos.float();
                item.blend = BlendMode::ALL[(chaos.next() % 17) as usize];
                if chaos.next().is_multiple_of(3) {
                    item.clip = Some(Rect::new(
                        chaos.float(),
                        chaos.float(),
                        chaos.float(),
                        chaos.float(),
                    ));
                }
                if chaos.next().is_multiple_of(3) {
                    item.crop = Some(Rect::new(
                        chaos.float(),
                        chaos.float(),
                        chaos.float(),
                        chaos.float(),
                    ));
                }
                for _ in 0..(chaos.next() % 3) {
                    item.effects.push(chaos.effect());
                }
                list.items.push(item);
            }
            let (frame, _) = renderer
                .render_frame(&list, &images)
                .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            for p in frame.pixels() {
                assert!(
                    p[0] <= p[3] && p[1] <= p[3] && p[2] <= p[3],
                    "seed {seed}: {p:?}"
                );
            }
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let mut renderer = Renderer::new();
        let images = MemoryImageSource::new();
        let list = DisplayList::new(0, 10, Color::BLACK);
        assert!(renderer.render_frame(&list, &images).is_err());
        let list = DisplayList::new(4, 4, Color::BLACK);
        let mut small = vec![[0u8; 4]; 3];
        assert!(renderer.render_into(&list, &images, &mut small).is_err());
        let mut bytes = vec![0u8; 63];
        assert!(renderer
            .render_into_bytes(&list, &images, &mut bytes)
            .is_err());
    }
}
