//! Decoded raster images: premultiplied RGBA8 in memory, decoded from PNG or JPEG.
//!
//! Decoding uses pure-Rust codecs with their platform SIMD paths turned off where they have a
//! switch, so a file decodes to the same pixels natively and in wasm32.

use std::io::Cursor;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest accepted width or height, in pixels: bounds memory for hostile input.
pub const MAX_DIMENSION: u32 = 16_384;
/// Largest accepted pixel count (64 megapixels).
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// Why an image could not be made or decoded.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ImageError {
    /// The bytes are neither PNG nor JPEG.
    #[error("unsupported image format (expected PNG or JPEG)")]
    UnsupportedFormat,
    /// The PNG decoder rejected the file.
    #[error("invalid PNG: {0}")]
    Png(String),
    /// The JPEG decoder rejected the file.
    #[error("invalid JPEG: {0}")]
    Jpeg(String),
    /// Width or height is zero, too large, or the pixel count is over the limit.
    #[error("image dimensions {width}x{height} are out of range")]
    Dimensions {
        /// Offending width.
        width: u32,
        /// Offending height.
        height: u32,
    },
    /// The pixel buffer length does not match the stated dimensions.
    #[error("pixel buffer has {actual} bytes, expected {expected}")]
    BufferSize {
        /// Expected byte count.
        expected: usize,
        /// Given byte count.
        actual: usize,
    },
}

static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

/// A premultiplied RGBA8 raster (each pixel `[r, g, b, a]`, colour already multiplied by alpha).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaImage {
    width: u32,
    height: u32,
    pixels: Vec<[u8; 4]>,
    opaque: bool,
    /// Distinguishes images for the renderer's caches; fresh for every constructed image.
    generation: u64,
}

fn check_dimensions(width: u32, height: u32) -> Result<usize, ImageError> {
    let count = u64::from(width) * u64::from(height);
    if width == 0
        || height == 0
        || width > MAX_DIMENSION
        || height > MAX_DIMENSION
        || count > MAX_PIXELS
    {
        return Err(ImageError::Dimensions { width, height });
    }
    Ok(count as usize)
}

/// `c · a / 255`, rounded, exact for every pair of bytes.
#[inline]
pub(crate) fn mul255(c: u32, a: u32) -> u32 {
    let t = c * a + 128;
    (t + (t >> 8)) >> 8
}

impl RgbaImage {
    /// An image from premultiplied pixels (row-major, top row first).
    pub fn from_premultiplied(
        width: u32,
        height: u32,
        pixels: Vec<[u8; 4]>,
    ) -> Result<Self, ImageError> {
        let count = check_dimensions(width, height)?;
        if pixels.len() != count {
            return Err(ImageError::BufferSize {
                expected: count * 4,
                actual: pixels.len() * 4,
            });
        }
        // Premultiplied colour can never exceed alpha; clamp so later integer maths cannot
        // overflow on hostile buffers.
        let mut pixels = pixels;
        for p in &mut pixels {
            p[0] = p[0].min(p[3]);
            p[1] = p[1].min(p[3]);
            p[2] = p[2].min(p[3]);
        }
        Ok(Self::from_trusted(width, height, pixels))
    }

    /// Wraps pixels known to be valid premultiplied data of the right length.
    pub(crate) fn from_trusted(width: u32, height: u32, pixels: Vec<[u8; 4]>) -> Self {
        debug_assert_eq!(pixels.len(), width as usize * height as usize);
        let opaque = pixels.iter().all(|p| p[3] == 255);
        RgbaImage {
            width,
            height,
            pixels,
            opaque,
            generation: NEXT_GENERATION.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// An image from non-premultiplied RGBA bytes (as canvas `ImageData` holds them).
    pub fn from_straight_rgba(width: u32, height: u32, bytes: &[u8]) -> Result<Self, ImageError> {
        let count = check_dimensions(width, height)?;
        if bytes.len() != count * 4 {
            return Err(ImageError::BufferSize {
                expected: count * 4,
                actual: bytes.len(),
            });
        }
        let pixels = bytes
            .chunks_exact(4)
            .map(|p| premultiply([p[0], p[1], p[2], p[3]]))
            .collect();
        Ok(Self::from_trusted(width, height, pixels))
    }

    /// Decodes a PNG or JPEG file (detected from its signature).
    pub fn decode(bytes: &[u8]) -> Result<Self, ImageError> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            decode_png(bytes)
        } else if bytes.starts_with(&[0xFF, 0xD8]) {
            decode_jpeg(bytes)
        } else {
            Err(ImageError::UnsupportedFormat)
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Premultiplied pixels, row-major.
    pub fn pixels(&self) -> &[[u8; 4]] {
        &self.pixels
    }

    /// True when every pixel has alpha 255.
    pub fn is_opaque(&self) -> bool {
        self.opaque
    }

    /// A process-unique number identifying this image's pixels, for caches.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Non-premultiplied RGBA bytes (for encoders and canvas `putImageData`).
    pub fn to_straight_rgba(&self) -> Vec<u8> {
        let mut out = vec![0; self.pixels.len() * 4];
        unpremultiply_into(&self.pixels, &mut out);
        out
    }
}

/// Premultiplies one non-premultiplied pixel.
#[inline]
pub fn premultiply(p: [u8; 4]) -> [u8; 4] {
    let a = u32::from(p[3]);
    if a == 255 {
        return p;
    }
    [
        mul255(u32::from(p[0]), a) as u8,
        mul255(u32::from(p[1]), a) as u8,
        mul255(u32::from(p[2]), a) as u8,
        p[3],
    ]
}

/// Undoes premultiplication of one pixel (rounded to nearest).
#[inline]
pub fn unpremultiply(p: [u8; 4]) -> [u8; 4] {
    let a = u32::from(p[3]);
    match a {
        255 => p,
        0 => [0, 0, 0, 0],
        _ => {
            let un = |c: u8| ((u32::from(c) * 255 + a / 2) / a).min(255) as u8;
            [un(p[0]), un(p[1]), un(p[2]), p[3]]
        }
    }
}

/// Writes non-premultiplied RGBA bytes for premultiplied pixels; `out` holds 4 bytes per pixel.
pub fn unpremultiply_into(pixels: &[[u8; 4]], out: &mut [u8]) {
    // Frames are mostly opaque: copy opaque runs wholesale, divide only where alpha < 255.
    const RUN: usize = 64;
    for (run, out) in pixels.chunks(RUN).zip(out.chunks_mut(RUN * 4)) {
        if run.iter().all(|p| p[3] == 255) {
            out.copy_from_slice(run.as_flattened());
        } else {
            for (p, o) in run.iter().zip(out.chunks_exact_mut(4)) {
                o.copy_from_slice(&unpremultiply(*p));
            }
        }
    }
}

fn decode_png(bytes: &[u8]) -> Result<RgbaImage, ImageError> {
    let mut decoder = png::Decoder::new_with_limits(
        Cursor::new(bytes),
        png::Limits {
            bytes: (MAX_PIXELS * 8) as usize,
        },
    );
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| ImageError::Png(e.to_string()))?;
    let (width, height) = {
        let info = reader.info();
        (info.width, info.height)
    };
    let count = check_dimensions(width, height)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| ImageError::Png("image too large".into()))?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| ImageError::Png(e.to_string()))?;
    let line = frame.line_size;
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => {
            return Err(ImageError::Png("palette was not expanded".into()));
        }
    };
    let mut pixels = Vec::with_capacity(count);
    for row in buf.chunks(line).take(height as usize) {
        for px in row.chunks_exact(channels).take(width as usize) {
            let straight = match channels {
                1 => [px[0], px[0], px[0], 255],
                2 => [px[0], px[0], px[0], px[1]],
                3 => [px[0], px[1], px[2], 255],
                _ => [px[0], px[1], px[2], px[3]],
            };
            pixels.push(premultiply(straight));
        }
    }
    if pixels.len() != count {
        return Err(ImageError::Png("truncated image data".into()));
    }
    Ok(RgbaImage::from_trusted(width, height, pixels))
}

fn decode_jpeg(bytes: &[u8]) -> Result<RgbaImage, ImageError> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let options = DecoderOptions::default()
        .set_use_unsafe(false)
        .set_max_width(MAX_DIMENSION as usize)
        .set_max_height(MAX_DIMENSION as usize)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder
        .decode_headers()
        .map_err(|e| ImageError::Jpeg(format!("{e:?}")))?;
    let info = decoder
        .info()
        .ok_or_else(|| ImageError::Jpeg("missing headers".into()))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    let count = check_dimensions(width, height)?;
    let colorspace = decoder.output_colorspace().unwrap_or(ColorSpace::RGB);
    let data = decoder
        .decode()
        .map_err(|e| ImageError::Jpeg(format!("{e:?}")))?;
    let channels = colorspace.num_components();
    if channels == 0 || data.len() < count * channels {
        return Err(ImageError::Jpeg("truncated image data".into()));
    }
    let pixels = data
        .chunks_exact(channels)
        .take(count)
        .map(|px| match channels {
            1 => [px[0], px[0], px[0], 255],
            2 => [px[0], px[0], px[0], 255],
            _ => [px[0], px[1], px[2], 255],
        })
        .collect();
    Ok(RgbaImage::from_trusted(width, height, pixels))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mul255_is_exact_rounding() {
        for c in 0..=255u32 {
            for a in 0..=255u32 {
                let exact = ((c * a) as f64 / 255.0).round() as u32;
                assert_eq!(mul255(c, a), exact, "{c} {a}");
            }
        }
    }

    #[test]
    fn garbage_is_a_typed_error() {
        assert_eq!(
            RgbaImage::decode(b"hello"),
            Err(ImageError::UnsupportedFormat)
        );
        assert!(matches!(
            RgbaImage::decode(b"\x89PNG\r\n\x1a\n\0\0\0"),
            Err(ImageError::Png(_))
        ));
        assert!(matches!(
            RgbaImage::decode(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]),
            Err(ImageError::Jpeg(_))
        ));
        assert!(RgbaImage::from_straight_rgba(2, 2, &[0; 15]).is_err());
        assert!(RgbaImage::from_straight_rgba(0, 2, &[]).is_err());
    }

    #[test]
    fn premultiply_round_trips_opaque_and_clears_transparent() {
        assert_eq!(premultiply([10, 20, 30, 255]), [10, 20, 30, 255]);
        assert_eq!(premultiply([255, 128, 0, 128]), [128, 64, 0, 128]);
        assert_eq!(unpremultiply([128, 64, 0, 128]), [255, 128, 0, 128]);
        assert_eq!(unpremultiply([5, 5, 5, 0]), [0, 0, 0, 0]);
    }
}
