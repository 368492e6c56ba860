//! Image exports: PNG stills, PNG sequences, animated PNG and GIF.
//!
//! Each export renders frames one at a time through a caller's [`Renderer`] (so its caches are
//! reused across the range) from a caller-supplied function that produces the display list of
//! a frame, usually `|f| eval::frame_at(&timeline, f, scale)`.

use std::ops::Range;

use super::{Frame, ImageSource, RenderError, Renderer};
use crate::display::DisplayList;
use crate::image::RgbaImage;

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Rendering a frame failed.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// The PNG encoder failed.
    #[error("PNG encoding failed: {0}")]
    Png(String),
    /// The GIF encoder failed.
    #[error("GIF encoding failed: {0}")]
    Gif(String),
    /// The frame range is empty, or frames changed size mid-animation.
    #[error("invalid frame range or size: {0}")]
    Invalid(String),
}

/// Playback rate of an animation as a fraction, e.g. 30/1 or 30000/1001.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    /// Frames…
    pub numerator: u32,
    /// …per this many seconds.
    pub denominator: u32,
}

impl FrameRate {
    /// `numerator / denominator` frames per second.
    pub fn new(numerator: u32, denominator: u32) -> Self {
        FrameRate {
            numerator: numerator.max(1),
            denominator: denominator.max(1),
        }
    }
}

/// PNG compression effort: `Fast` suits previews and exports (encoding time dominates a frame),
/// `High` suits files kept around (reference images).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PngCompression {
    /// Quick deflate.
    #[default]
    Fast,
    /// Slower, smaller files.
    High,
}

impl PngCompression {
    fn to_png(self) -> png::Compression {
        match self {
            PngCompression::Fast => png::Compression::Fast,
            PngCompression::High => png::Compression::High,
        }
    }
}

fn png_err(e: impl std::fmt::Display) -> ExportError {
    ExportError::Png(e.to_string())
}

/// Encodes straight-alpha RGBA (or RGB when every pixel is opaque) as PNG.
fn encode_png_raw(
    width: u32,
    height: u32,
    pixels: &[[u8; 4]],
    compression: PngCompression,
) -> Result<Vec<u8>, ExportError> {
    let opaque = pixels.iter().all(|p| p[3] == 255);
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(compression.to_png());
        let data: Vec<u8> = if opaque {
            encoder.set_color(png::ColorType::Rgb);
            pixels.iter().flat_map(|p| [p[0], p[1], p[2]]).collect()
        } else {
            encoder.set_color(png::ColorType::Rgba);
            let mut v = vec![0; pixels.len() * 4];
            crate::image::unpremultiply_into(pixels, &mut v);
            v
        };
        let mut writer = encoder.write_header().map_err(png_err)?;
        writer.write_image_data(&data).map_err(png_err)?;
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

/// Encodes a rendered frame as a PNG file.
pub fn encode_png(frame: &Frame) -> Result<Vec<u8>, ExportError> {
    encode_png_raw(
        frame.width(),
        frame.height(),
        frame.pixels(),
        PngCompression::Fast,
    )
}

/// Encodes an image as a PNG file.
pub fn encode_png_image(
    image: &RgbaImage,
    compression: PngCompression,
) -> Result<Vec<u8>, ExportError> {
    encode_png_raw(image.width(), image.height(), image.pixels(), compression)
}

/// Renders one display list and encodes it as PNG.
pub fn export_png(
    renderer: &mut Renderer,
    images: &dyn ImageSource,
    list: &DisplayList,
) -> Result<Vec<u8>, ExportError> {
    let (frame, _) = renderer.render_frame(list, images)?;
    encode_png(&frame)
}

/// Renders every frame of `frames` and encodes each as a PNG, returning `(frame, bytes)` pairs.
pub fn export_png_sequence(
    renderer: &mut Renderer,
    images: &dyn ImageSource,
    frames: Range<u32>,
    mut list_at: impl FnMut(u32) -> DisplayList,
) -> Result<Vec<(u32, Vec<u8>)>, ExportError> {
    let mut out = Vec::new();
    let mut frame: Option<Frame> = None;
    for index in frames {
        let list = list_at(index);
        let target = match &mut frame {
            Some(f) => f,
            None => frame.insert(Frame::new(list.width, list.height)?),
        };
        renderer.render(&list, images, target)?;
        out.push((index, encode_png(target)?));
    }
    Ok(out)
}

/// Renders `frames` into an animated PNG that loops forever at `rate`.
pub fn export_apng(
    renderer: &mut Renderer,
    images: &dyn ImageSource,
    frames: Range<u32>,
    rate: FrameRate,
    mut list_at: impl FnMut(u32) -> DisplayList,
) -> Result<Vec<u8>, ExportError> {
    let count = frames.len() as u32;
    if count == 0 {
        return Err(ExportError::Invalid("empty frame range".into()));
    }
    let first = list_at(frames.start);
    let (width, height) = (first.width, first.height);
    let mut frame = Frame::new(width, height)?;
    let delay_num = u16::try_from(rate.denominator).map_err(png_err)?;
    let delay_den = u16::try_from(rate.numerator).map_err(png_err)?;
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        encoder.set_animated(count, 0).map_err(png_err)?;
        encoder
            .set_frame_delay(delay_num, delay_den)
            .map_err(png_err)?;
        let mut writer = encoder.write_header().map_err(png_err)?;
        let mut bytes = vec![0u8; width as usize * height as usize * 4];
        for (n, index) in frames.enumerate() {
            let list = if n == 0 {
                first.clone()
            } else {
                list_at(index)
            };
            if (list.width, list.height) != (width, height) {
                return Err(ExportError::Invalid("frame size changed".into()));
            }
            renderer.render(&list, images, &mut frame)?;
            frame.write_straight_rgba(&mut bytes)?;
            writer.write_image_data(&bytes).map_err(png_err)?;
        }
        writer.finish().map_err(png_err)?;
    }
    Ok(out)
}

/// Renders `frames` into a looping GIF at `rate` (palette per frame, NeuQuant quantisation).
pub fn export_gif(
    renderer: &mut Renderer,
    images: &dyn ImageSource,
    frames: Range<u32>,
    rate: FrameRate,
    mut list_at: impl FnMut(u32) -> DisplayList,
) -> Result<Vec<u8>, ExportError> {
    if frames.is_empty() {
        return Err(ExportError::Invalid("empty frame range".into()));
    }
    let first = list_at(frames.start);
    let (width, height) = (first.width, first.height);
    let gif_err = |e: gif::EncodingError| ExportError::Gif(e.to_string());
    let (w16, h16) = (
        u16::try_from(width).map_err(|_| ExportError::Invalid("GIF width over 65535".into()))?,
        u16::try_from(height).map_err(|_| ExportError::Invalid("GIF height over 65535".into()))?,
    );
    let mut frame = Frame::new(width, height)?;
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, w16, h16, &[]).map_err(gif_err)?;
        encoder.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
        // GIF delays are whole centiseconds; accumulate the rounding error so the total
        // duration stays right.
        let mut elapsed_cs = 0u64;
        let mut bytes = vec![0u8; width as usize * height as usize * 4];
        for (n, index) in frames.clone().enumerate() {
            let list = if n == 0 {
                first.clone()
            } else {
                list_at(index)
            };
            if (list.width, list.height) != (width, height) {
                return Err(ExportError::Invalid("frame size changed".into()));
            }
            renderer.render(&list, images, &mut frame)?;
            frame.write_straight_rgba(&mut bytes)?;
            let end_cs =
                (n as u64 + 1) * 100 * u64::from(rate.denominator) / u64::from(rate.numerator);
            let delay = (end_cs - elapsed_cs).min(u64::from(u16::MAX)) as u16;
            elapsed_cs = end_cs;
            let mut gif_frame = gif::Frame::from_rgba_speed(w16, h16, &mut bytes, 10);
            gif_frame.delay = delay;
            encoder.write_frame(&gif_frame).map_err(gif_err)?;
        }
    }
    Ok(out)
}
