//! Media facts read from a file's header: image dimensions (PNG, JPEG, GIF) and audio format
//! and duration (WAV). Only the head of the file is needed ([`PROBE_BYTES`]), so large uploads
//! are probed while they stream to storage.

use serde_json::{json, Value};

/// Bytes of the head kept for probing: enough for a JPEG whose frame header follows large
/// EXIF/ICC segments, and for a WAV whose `data` chunk follows long metadata chunks.
pub const PROBE_BYTES: usize = 1024 * 1024;

/// What a header tells.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Probe {
    /// Pixel width.
    pub width: Option<u32>,
    /// Pixel height.
    pub height: Option<u32>,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Format details for the asset's `metadata.media` (e.g. channels, sample rate).
    pub media: Option<Value>,
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The header is cut short or inconsistent.
    #[error("the {0} header is damaged or incomplete")]
    Malformed(&'static str),
}

/// Probes `head` (the first bytes of a file of `total_bytes` bytes typed as `mime`).
/// Formats it does not know give an empty [`Probe`].
pub fn probe(mime: &str, head: &[u8], total_bytes: u64) -> Result<Probe, ProbeError> {
    match mime {
        "image/png" => png(head),
        "image/gif" => gif(head),
        "image/jpeg" => jpeg(head),
        "audio/wav" => wav(head, total_bytes),
        _ => Ok(Probe::default()),
    }
}

fn be16(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 2)
        .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]])))
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn le16(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 2)
        .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    bytes
        .get(at..at + 4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

fn dimensions(width: u32, height: u32, format: &'static str) -> Result<Probe, ProbeError> {
    if width == 0 || height == 0 {
        return Err(ProbeError::Malformed(format));
    }
    Ok(Probe {
        width: Some(width),
        height: Some(height),
        ..Probe::default()
    })
}

/// PNG: the first chunk is IHDR, width and height big-endian.
fn png(head: &[u8]) -> Result<Probe, ProbeError> {
    if head.get(12..16) != Some(b"IHDR") {
        return Err(ProbeError::Malformed("PNG"));
    }
    let width = be32(head, 16).ok_or(ProbeError::Malformed("PNG"))?;
    let height = be32(head, 20).ok_or(ProbeError::Malformed("PNG"))?;
    if width > i32::MAX as u32 || height > i32::MAX as u32 {
        return Err(ProbeError::Malformed("PNG"));
    }
    dimensions(width, height, "PNG")
}

/// GIF: the logical screen size, little-endian, after the signature.
fn gif(head: &[u8]) -> Result<Probe, ProbeError> {
    let width = le16(head, 6).ok_or(ProbeError::Malformed("GIF"))?;
    let height = le16(head, 8).ok_or(ProbeError::Malformed("GIF"))?;
    dimensions(width, height, "GIF")
}

/// JPEG: walks the marker segments to the first start-of-frame.
fn jpeg(head: &[u8]) -> Result<Probe, ProbeError> {
    let malformed = ProbeError::Malformed("JPEG");
    let mut at = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while head.get(at) == Some(&0xFF) && head.get(at + 1) == Some(&0xFF) {
            at += 1;
        }
        if head.get(at) != Some(&0xFF) {
            return Err(malformed);
        }
        let marker = *head.get(at + 1).ok_or(malformed.clone())?;
        at += 2;
        match marker {
            // Standalone markers carry no length.
            0x01 | 0xD0..=0xD7 => continue,
            0xD9 | 0xDA => return Err(malformed),
            _ => {}
        }
        let length = be16(head, at).ok_or(malformed.clone())? as usize;
        if length < 2 {
            return Err(malformed);
        }
        let is_frame = matches!(marker, 0xC0..=0xCF) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if is_frame {
            let height = be16(head, at + 3).ok_or(malformed.clone())?;
            let width = be16(head, at + 5).ok_or(malformed)?;
            return dimensions(width, height, "JPEG");
        }
        at += length;
    }
}

/// WAV: the `fmt ` chunk (channels, rate, bits) and the `data` chunk's size give the duration.
fn wav(head: &[u8], total_bytes: u64) -> Result<Probe, ProbeError> {
    let malformed = ProbeError::Malformed("WAV");
    let mut at = 12;
    let mut format: Option<(u32, u32, u32, u32)> = None;
    while let (Some(id), Some(size)) = (head.get(at..at + 4), le32(head, at + 4)) {
        let body = at + 8;
        if id == b"fmt " {
            let channels = le16(head, body + 2).ok_or(malformed.clone())?;
            let sample_rate = le32(head, body + 4).ok_or(malformed.clone())?;
            let byte_rate = le32(head, body + 8).ok_or(malformed.clone())?;
            let bits = le16(head, body + 14).ok_or(malformed.clone())?;
            if channels == 0 || sample_rate == 0 || byte_rate == 0 {
                return Err(malformed);
            }
            format = Some((channels, sample_rate, byte_rate, bits));
        } else if id == b"data" {
            let (channels, sample_rate, byte_rate, bits) = format.ok_or(malformed)?;
            // A streaming writer leaves the size at its maximum; the file's length tells.
            let available = total_bytes.saturating_sub(body as u64);
            let data_bytes = if size == u32::MAX {
                available
            } else {
                u64::from(size).min(available)
            };
            let duration_ms = (u128::from(data_bytes) * 1000 / u128::from(byte_rate)) as i64;
            return Ok(Probe {
                duration_ms: Some(duration_ms),
                media: Some(json!({
                    "format": "wav",
                    "channels": channels,
                    "sample_rate": sample_rate,
                    "bits_per_sample": bits,
                })),
                ..Probe::default()
            });
        }
        // Chunks are padded to an even size.
        at = body + size as usize + (size as usize & 1);
    }
    Err(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png_head(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 6, 0, 0, 0]);
        bytes
    }

    /// A WAV file header: 16-bit PCM with an optional extra chunk before `data`.
    pub(crate) fn wav_file(channels: u16, rate: u32, frames: u32, extra: bool) -> Vec<u8> {
        let block = u32::from(channels) * 2;
        let data_len = frames * block;
        let mut out = b"RIFF\0\0\0\0WAVE".to_vec();
        out.extend(b"fmt ");
        out.extend(16u32.to_le_bytes());
        out.extend(1u16.to_le_bytes());
        out.extend(channels.to_le_bytes());
        out.extend(rate.to_le_bytes());
        out.extend((rate * block).to_le_bytes());
        out.extend((block as u16).to_le_bytes());
        out.extend(16u16.to_le_bytes());
        if extra {
            out.extend(b"LIST");
            out.extend(5u32.to_le_bytes());
            out.extend(b"hello\0");
        }
        out.extend(b"data");
        out.extend(data_len.to_le_bytes());
        out.extend(vec![0u8; data_len as usize]);
        out
    }

    #[test]
    fn png_dimensions() {
        let probed = probe("image/png", &png_head(640, 360), 1000).unwrap();
        assert_eq!((probed.width, probed.height), (Some(640), Some(360)));
        assert!(probe("image/png", &png_head(0, 10), 100).is_err());
        assert!(probe("image/png", &png_head(10, 10)[..18], 100).is_err());
    }

    #[test]
    fn gif_dimensions() {
        let head = b"GIF89a\x40\x01\xf0\x00\xf7\0\0";
        let probed = probe("image/gif", head, 100).unwrap();
        assert_eq!((probed.width, probed.height), (Some(320), Some(240)));
    }

    #[test]
    fn jpeg_dimensions_after_other_segments() {
        // A real encoder's output: APP0, quantisation and Huffman tables before SOF0.
        let mut pixels = Vec::new();
        for i in 0..(33 * 17) {
            pixels.extend([(i % 251) as u8, 40, 200]);
        }
        let mut file = Vec::new();
        jpeg_encoder::Encoder::new(&mut file, 80)
            .encode(&pixels, 33, 17, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        let probed = probe("image/jpeg", &file, file.len() as u64).unwrap();
        assert_eq!((probed.width, probed.height), (Some(33), Some(17)));
        // Cut before the frame header.
        assert!(super::jpeg(&file[..20]).is_err());
    }

    #[test]
    fn wav_duration_channels_and_rate() {
        let file = wav_file(2, 48_000, 24_000, true);
        let probed = probe("audio/wav", &file, file.len() as u64).unwrap();
        assert_eq!(probed.duration_ms, Some(500));
        let media = probed.media.unwrap();
        assert_eq!(media["channels"], 2);
        assert_eq!(media["sample_rate"], 48_000);
        assert_eq!(media["bits_per_sample"], 16);
        // Only the header is needed when the total length is known.
        let head = &file[..80];
        let again = super::wav(head, file.len() as u64).unwrap();
        assert_eq!(again.duration_ms, Some(500));
        assert!(super::wav(&file[..30], file.len() as u64).is_err());
    }

    #[test]
    fn unknown_formats_probe_empty() {
        assert_eq!(
            probe("video/mp4", b"whatever", 8).unwrap(),
            Probe::default()
        );
    }
}
