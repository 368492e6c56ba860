//! File formats of chunked renders: how a chunk stores its frames, and how the chunks of a
//! range are joined into one zip of PNGs, one animated PNG or one GIF. Pure, so it is tested
//! natively.
//!
//! - PNG sequence: a chunk holds its frames' PNG files; the join writes them into a zip
//!   (stored, since PNG is already compressed) as `frame_000042.png`.
//! - Animated PNG: a chunk holds RGBA PNG files; the join keeps the first header and turns each
//!   frame's image data into `fcTL` + `IDAT`/`fdAT` chunks, numbered across the whole file.
//!
//! Joins are streams (a chunk at a time), so the output never has to fit in memory.
//! - GIF: a chunk holds GIF frame blocks (control extension + image) whose delays are computed
//!   from the frame's place in the whole range; the join writes one header, every chunk's
//!   blocks in order and the trailer, which gives the same file as encoding the range at once.

use crate::jobs::JobError;

/// Appends a length-prefixed record (a frame's bytes) to a chunk file.
pub fn push_record(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// The records of a chunk file, in order.
pub fn records(mut data: &[u8]) -> Result<Vec<&[u8]>, JobError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 4 {
            return Err(corrupt("truncated record header"));
        }
        let len = u32::from_le_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if data.len() < 4 + len {
            return Err(corrupt("truncated record"));
        }
        out.push(&data[4..4 + len]);
        data = &data[4 + len..];
    }
    Ok(out)
}

fn corrupt(what: &str) -> JobError {
    JobError::transient("chunk_corrupt", format!("a chunk file is damaged: {what}"))
}

/// Writes a zip archive (stored entries) as a stream: each file's header is returned to be
/// written before its bytes, and the central directory at the end.
#[derive(Default)]
pub struct ZipWriter {
    offset: u64,
    central: Vec<u8>,
    entries: u16,
}

impl ZipWriter {
    /// An empty archive.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file; returns the local header to write, followed by `bytes` themselves.
    pub fn add(&mut self, name: &str, bytes: &[u8]) -> Result<Vec<u8>, JobError> {
        let too_large = || JobError::permanent("output_too_large", "the zip exceeds 4 GiB");
        let offset = u32::try_from(self.offset).map_err(|_| too_large())?;
        let size = u32::try_from(bytes.len()).map_err(|_| too_large())?;
        self.entries = self
            .entries
            .checked_add(1)
            .ok_or_else(|| JobError::permanent("output_too_large", "too many files"))?;
        let crc = crc32fast::hash(bytes);
        let name = name.as_bytes();
        // Local file header: version 2.0, no flags, stored, DOS time 1980-01-01 00:00.
        let mut header = Vec::with_capacity(30 + name.len());
        header.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        header.extend_from_slice(&20u16.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(&0x0021u16.to_le_bytes());
        header.extend_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(&size.to_le_bytes());
        header.extend_from_slice(&size.to_le_bytes());
        header.extend_from_slice(&(name.len() as u16).to_le_bytes());
        header.extend_from_slice(&0u16.to_le_bytes());
        header.extend_from_slice(name);
        self.offset += header.len() as u64 + bytes.len() as u64;
        // Central directory entry.
        let c = &mut self.central;
        c.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&20u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0u16.to_le_bytes());
        c.extend_from_slice(&0x0021u16.to_le_bytes());
        c.extend_from_slice(&crc.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&size.to_le_bytes());
        c.extend_from_slice(&(name.len() as u16).to_le_bytes());
        c.extend_from_slice(&[0; 8]); // extra, comment, disk, internal attributes
        c.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name);
        Ok(header)
    }

    /// The central directory and end record that finish the archive.
    pub fn finish(self) -> Result<Vec<u8>, JobError> {
        let offset = u32::try_from(self.offset)
            .map_err(|_| JobError::permanent("output_too_large", "the zip exceeds 4 GiB"))?;
        let mut out = self.central;
        let size = out.len() as u32;
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0; 4]); // disk numbers
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&self.entries.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        Ok(out)
    }
}

const PNG_SIGNATURE: [u8; 8] = [137, 80, 78, 71, 13, 10, 26, 10];

/// A PNG chunk: its type and data.
type PngChunk<'a> = ([u8; 4], &'a [u8]);

/// The chunks of a PNG file.
fn png_chunks(png: &[u8]) -> Result<Vec<PngChunk<'_>>, JobError> {
    if png.len() < 8 || png[..8] != PNG_SIGNATURE {
        return Err(corrupt("not a PNG frame"));
    }
    let mut out = Vec::new();
    let mut rest = &png[8..];
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if rest.len() < 12 + len {
            return Err(corrupt("truncated PNG chunk"));
        }
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        out.push((kind, &rest[8..8 + len]));
        rest = &rest[12 + len..];
    }
    Ok(out)
}

fn write_png_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Writes an animated PNG that loops for ever as a stream, from RGBA PNG frames (all the same
/// size and colour type), each shown for `delay_num / delay_den` seconds.
pub struct ApngWriter {
    header: Vec<u8>,
    sequence: u32,
    frames: u32,
    delay_num: u16,
    delay_den: u16,
}

impl ApngWriter {
    /// Starts an animation of `frame_count` frames shaped like `first`; returns the writer and
    /// the bytes that open the file.
    pub fn new(
        first: &[u8],
        frame_count: u32,
        delay_num: u16,
        delay_den: u16,
    ) -> Result<(Self, Vec<u8>), JobError> {
        let header = png_chunks(first)?
            .into_iter()
            .find(|(kind, _)| kind == b"IHDR")
            .map(|(_, data)| data.to_vec())
            .ok_or_else(|| corrupt("PNG frame without IHDR"))?;
        if header.len() != 13 {
            return Err(corrupt("bad IHDR"));
        }
        let mut out = PNG_SIGNATURE.to_vec();
        write_png_chunk(&mut out, b"IHDR", &header);
        let mut actl = Vec::with_capacity(8);
        actl.extend_from_slice(&frame_count.to_be_bytes());
        actl.extend_from_slice(&0u32.to_be_bytes());
        write_png_chunk(&mut out, b"acTL", &actl);
        let writer = Self {
            header,
            sequence: 0,
            frames: 0,
            delay_num,
            delay_den,
        };
        Ok((writer, out))
    }

    /// The bytes of the next frame: its control chunk and image data.
    pub fn frame(&mut self, png: &[u8]) -> Result<Vec<u8>, JobError> {
        let chunks = png_chunks(png)?;
        let frame_header = chunks
            .iter()
            .find(|(kind, _)| kind == b"IHDR")
            .map(|(_, data)| *data)
            .ok_or_else(|| corrupt("PNG frame without IHDR"))?;
        if frame_header != self.header.as_slice() {
            return Err(corrupt("frames differ in size or colour type"));
        }
        let mut out = Vec::with_capacity(png.len() + 64);
        let mut fctl = Vec::with_capacity(26);
        fctl.extend_from_slice(&self.sequence.to_be_bytes());
        fctl.extend_from_slice(&self.header[0..8]); // width, height
        fctl.extend_from_slice(&[0; 8]); // x, y offsets
        fctl.extend_from_slice(&self.delay_num.to_be_bytes());
        fctl.extend_from_slice(&self.delay_den.to_be_bytes());
        fctl.extend_from_slice(&[0, 0]); // dispose none, blend source
        write_png_chunk(&mut out, b"fcTL", &fctl);
        self.sequence += 1;
        for (kind, data) in chunks.iter().filter(|(kind, _)| kind == b"IDAT") {
            if self.frames == 0 {
                write_png_chunk(&mut out, kind, data);
            } else {
                let mut fdat = Vec::with_capacity(4 + data.len());
                fdat.extend_from_slice(&self.sequence.to_be_bytes());
                fdat.extend_from_slice(data);
                write_png_chunk(&mut out, b"fdAT", &fdat);
                self.sequence += 1;
            }
        }
        self.frames += 1;
        Ok(out)
    }

    /// The bytes that close the file.
    pub fn end(self) -> Vec<u8> {
        let mut out = Vec::new();
        write_png_chunk(&mut out, b"IEND", &[]);
        out
    }
}

/// The header a looping GIF of this size starts with (no global palette).
pub fn gif_header(width: u16, height: u16) -> Result<Vec<u8>, JobError> {
    let mut encoder = gif::Encoder::new(Vec::new(), width, height, &[]).map_err(gif_error)?;
    encoder
        .set_repeat(gif::Repeat::Infinite)
        .map_err(gif_error)?;
    Ok(encoder.get_ref().clone())
}

/// GIF delay of the frame at `index` within a range, in centiseconds: the running total is
/// rounded, not each delay, so the whole animation keeps the project's duration.
pub fn gif_delay(index: u64, rate_num: u32, rate_den: u32) -> u16 {
    let end = |n: u64| n * 100 * u64::from(rate_den.max(1)) / u64::from(rate_num.max(1));
    (end(index + 1) - end(index)).min(u64::from(u16::MAX)) as u16
}

/// Encodes frames (straight RGBA) as GIF frame blocks: what lies between the header and the
/// trailer of a GIF holding them. `first_index` is the first frame's place in the range.
pub struct GifBlocks {
    encoder: gif::Encoder<Vec<u8>>,
    header_len: usize,
    width: u16,
    height: u16,
}

impl GifBlocks {
    /// An empty run of blocks for frames of this size.
    pub fn new(width: u16, height: u16) -> Result<Self, JobError> {
        let mut encoder = gif::Encoder::new(Vec::new(), width, height, &[]).map_err(gif_error)?;
        encoder
            .set_repeat(gif::Repeat::Infinite)
            .map_err(gif_error)?;
        let header_len = encoder.get_ref().len();
        Ok(Self {
            encoder,
            header_len,
            width,
            height,
        })
    }

    /// Quantises and appends one frame (NeuQuant, as editor-core's GIF export).
    pub fn push(&mut self, rgba: &mut [u8], delay: u16) -> Result<(), JobError> {
        let mut frame = gif::Frame::from_rgba_speed(self.width, self.height, rgba, 10);
        frame.delay = delay;
        self.encoder.write_frame(&frame).map_err(gif_error)
    }

    /// The blocks written.
    pub fn finish(self) -> Result<Vec<u8>, JobError> {
        let header_len = self.header_len;
        let bytes = self.encoder.into_inner().map_err(gif_error)?;
        // Drop the header and the one-byte trailer.
        Ok(bytes[header_len..bytes.len().saturating_sub(1)].to_vec())
    }
}

fn gif_error(error: gif::EncodingError) -> JobError {
    JobError::permanent("gif_encoding_failed", error.to_string())
}

/// The GIF trailer byte.
pub const GIF_TRAILER: u8 = 0x3B;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_truncation_is_detected() {
        let mut file = Vec::new();
        push_record(&mut file, b"abc");
        push_record(&mut file, b"");
        push_record(&mut file, b"defg");
        let parsed = records(&file).unwrap_or_default();
        assert_eq!(parsed, vec![&b"abc"[..], &b""[..], &b"defg"[..]]);
        assert!(records(&file[..file.len() - 1]).is_err());
    }

    #[test]
    fn zip_has_readable_structure() {
        let mut zip = ZipWriter::new();
        let mut bytes = Vec::new();
        for (name, data) in [("a.png", &b"hello"[..]), ("b.png", &b"world!"[..])] {
            bytes.extend(zip.add(name, data).unwrap_or_default());
            bytes.extend_from_slice(data);
        }
        bytes.extend(zip.finish().unwrap_or_default());
        assert_eq!(&bytes[..4], &[0x50, 0x4b, 0x03, 0x04]);
        let end = &bytes[bytes.len() - 22..];
        assert_eq!(&end[..4], &[0x50, 0x4b, 0x05, 0x06]);
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 2);
        let directory = u32::from_le_bytes([end[16], end[17], end[18], end[19]]) as usize;
        assert_eq!(&bytes[directory..directory + 4], &[0x50, 0x4b, 0x01, 0x02]);
        assert_eq!(&bytes[30..35], b"a.png");
        assert_eq!(&bytes[35..40], b"hello");
    }

    #[test]
    fn gif_delays_keep_the_total_duration() {
        let total: u64 = (0..30).map(|n| u64::from(gif_delay(n, 30, 1))).sum();
        assert_eq!(total, 100);
        let ntsc: u64 = (0..30000)
            .map(|n| u64::from(gif_delay(n, 30000, 1001)))
            .sum();
        assert_eq!(ntsc, 100_100);
    }
}
