//! Content typing from the bytes themselves.
//!
//! The client's `Content-Type` and the file name's extension are never trusted: an upload is
//! typed by its leading bytes (magic numbers), and a requested `kind` the bytes contradict is
//! refused by the caller.

/// Bytes of the head that [`sniff`] needs to recognise every format it knows.
pub const SNIFF_BYTES: usize = 512;

/// What an asset is, as stored in `assets.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A still image (PNG, JPEG, GIF, WebP, …).
    Image,
    /// A video container (MP4/QuickTime, WebM/Matroska, AVI).
    Video,
    /// Audio (WAV, MP3, FLAC, Ogg, M4A).
    Audio,
    /// A font file (TrueType, OpenType, WOFF).
    Font,
    /// A render produced by the editor.
    Render,
    /// A thumbnail derived from another asset.
    Thumbnail,
    /// A project template (JSON or an archive).
    Template,
    /// An archive (ZIP, gzip).
    Archive,
    /// A document (PDF or text).
    Document,
    /// Anything else.
    Other,
}

impl Kind {
    /// Every kind, in the order of the schema's CHECK constraint.
    pub const ALL: [Kind; 10] = [
        Kind::Image,
        Kind::Video,
        Kind::Audio,
        Kind::Font,
        Kind::Render,
        Kind::Thumbnail,
        Kind::Template,
        Kind::Archive,
        Kind::Document,
        Kind::Other,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Image => "image",
            Kind::Video => "video",
            Kind::Audio => "audio",
            Kind::Font => "font",
            Kind::Render => "render",
            Kind::Thumbnail => "thumbnail",
            Kind::Template => "template",
            Kind::Archive => "archive",
            Kind::Document => "document",
            Kind::Other => "other",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(value: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// Kinds a client may ask for on upload; `render` and `thumbnail` are made by jobs only.
    pub fn uploadable(self) -> bool {
        !matches!(self, Kind::Render | Kind::Thumbnail)
    }

    /// Whether bytes typed as `sniffed` may be stored as this (requested) kind. Media kinds
    /// must match the bytes exactly; containers of other things accept what they can hold.
    pub fn accepts(self, sniffed: &Sniffed) -> bool {
        match self {
            Kind::Image | Kind::Video | Kind::Audio | Kind::Font | Kind::Archive => {
                sniffed.kind == self
            }
            Kind::Template => {
                sniffed.kind == Kind::Archive
                    || matches!(sniffed.mime, "application/json" | "text/plain")
            }
            Kind::Document => sniffed.kind == Kind::Document,
            Kind::Other => true,
            Kind::Render | Kind::Thumbnail => false,
        }
    }
}

/// The type read from the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sniffed {
    /// MIME type, e.g. `image/png`.
    pub mime: &'static str,
    /// The kind the bytes make the asset by default.
    pub kind: Kind,
}

const fn typed(mime: &'static str, kind: Kind) -> Sniffed {
    Sniffed { mime, kind }
}

/// Types a file from its first bytes (at least [`SNIFF_BYTES`] of them when the file is that
/// long). Unknown binary data is `application/octet-stream` of kind `other`.
pub fn sniff(head: &[u8]) -> Sniffed {
    let at = |offset: usize, magic: &[u8]| head.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"\x89PNG\r\n\x1a\n") {
        return typed("image/png", Kind::Image);
    }
    if at(0, &[0xFF, 0xD8, 0xFF]) {
        return typed("image/jpeg", Kind::Image);
    }
    if at(0, b"GIF87a") || at(0, b"GIF89a") {
        return typed("image/gif", Kind::Image);
    }
    if at(0, b"RIFF") && at(8, b"WEBP") {
        return typed("image/webp", Kind::Image);
    }
    if at(0, b"BM") && head.len() >= 26 && at(6, &[0, 0, 0, 0]) {
        return typed("image/bmp", Kind::Image);
    }
    if at(0, b"RIFF") && at(8, b"WAVE") {
        return typed("audio/wav", Kind::Audio);
    }
    if at(0, b"RIFF") && at(8, b"AVI ") {
        return typed("video/x-msvideo", Kind::Video);
    }
    if at(4, b"ftyp") {
        let brand = head.get(8..12).unwrap_or_default();
        return match brand {
            b"qt  " => typed("video/quicktime", Kind::Video),
            b"M4A " | b"M4B " => typed("audio/mp4", Kind::Audio),
            b"avif" | b"avis" => typed("image/avif", Kind::Image),
            b"heic" | b"heix" | b"mif1" | b"msf1" => typed("image/heic", Kind::Image),
            _ => typed("video/mp4", Kind::Video),
        };
    }
    if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        // EBML: WebM declares its doctype in the header; anything else is Matroska.
        let webm = head.windows(4).take(64).any(|w| w == b"webm");
        return if webm {
            typed("video/webm", Kind::Video)
        } else {
            typed("video/x-matroska", Kind::Video)
        };
    }
    if at(0, b"fLaC") {
        return typed("audio/flac", Kind::Audio);
    }
    if at(0, b"OggS") {
        return typed("audio/ogg", Kind::Audio);
    }
    if at(0, b"ID3") || (head.len() >= 2 && head[0] == 0xFF && head[1] & 0xE0 == 0xE0) {
        return typed("audio/mpeg", Kind::Audio);
    }
    if at(0, &[0x00, 0x01, 0x00, 0x00]) {
        return typed("font/ttf", Kind::Font);
    }
    if at(0, b"OTTO") {
        return typed("font/otf", Kind::Font);
    }
    if at(0, b"wOFF") {
        return typed("font/woff", Kind::Font);
    }
    if at(0, b"wOF2") {
        return typed("font/woff2", Kind::Font);
    }
    if at(0, b"%PDF-") {
        return typed("application/pdf", Kind::Document);
    }
    if at(0, b"PK\x03\x04") || at(0, b"PK\x05\x06") {
        return typed("application/zip", Kind::Archive);
    }
    if at(0, &[0x1F, 0x8B]) {
        return typed("application/gzip", Kind::Archive);
    }
    if looks_like_text(head) {
        let first = head
            .iter()
            .copied()
            .find(|b| !b.is_ascii_whitespace() && *b != 0xEF && *b != 0xBB && *b != 0xBF);
        return match first {
            Some(b'{') | Some(b'[') => typed("application/json", Kind::Document),
            _ => typed("text/plain", Kind::Document),
        };
    }
    typed("application/octet-stream", Kind::Other)
}

/// UTF-8 (a character cut at the end of the head allowed) without NUL or other C0 controls
/// than tab, line feed, carriage return and form feed.
fn looks_like_text(head: &[u8]) -> bool {
    if head.is_empty() {
        return false;
    }
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // Only an incomplete sequence at the very end is acceptable.
        Err(error) => error.error_len().is_none() && head.len() - error.valid_up_to() < 4,
    };
    valid
        && head
            .iter()
            .all(|&b| b >= 0x20 || matches!(b, b'\t' | b'\n' | b'\r' | 0x0C) || b == 0x1B)
        && !head.contains(&0x7F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats_by_their_bytes() {
        let cases: &[(&[u8], &str, Kind)] = &[
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "image/png", Kind::Image),
            (&[0xFF, 0xD8, 0xFF, 0xE0, 0, 16], "image/jpeg", Kind::Image),
            (b"GIF89a\x01\0\x01\0", "image/gif", Kind::Image),
            (b"RIFF\0\0\0\0WEBPVP8 ", "image/webp", Kind::Image),
            (b"RIFF$\0\0\0WAVEfmt ", "audio/wav", Kind::Audio),
            (b"\0\0\0\x18ftypmp42\0\0\0\0", "video/mp4", Kind::Video),
            (
                b"\0\0\0\x14ftypqt  \0\0\0\0",
                "video/quicktime",
                Kind::Video,
            ),
            (b"\0\0\0\x1cftypM4A \0\0\0\0", "audio/mp4", Kind::Audio),
            (
                b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01webm",
                "video/webm",
                Kind::Video,
            ),
            (b"fLaC\0\0\0\x22", "audio/flac", Kind::Audio),
            (b"ID3\x04\0\0", "audio/mpeg", Kind::Audio),
            (b"OTTO\0\x0a", "font/otf", Kind::Font),
            (b"%PDF-1.7\n", "application/pdf", Kind::Document),
            (b"PK\x03\x04\x14\0", "application/zip", Kind::Archive),
            (b"{\"tracks\": []}", "application/json", Kind::Document),
            (b"hello world\n", "text/plain", Kind::Document),
            (
                b"\0\x01\x02\x03binary",
                "application/octet-stream",
                Kind::Other,
            ),
            (b"", "application/octet-stream", Kind::Other),
        ];
        for (bytes, mime, kind) in cases {
            let sniffed = sniff(bytes);
            assert_eq!((sniffed.mime, sniffed.kind), (*mime, *kind), "{bytes:?}");
        }
    }

    #[test]
    fn a_requested_kind_must_agree_with_the_bytes() {
        let png = sniff(b"\x89PNG\r\n\x1a\n");
        let text = sniff(b"just some words");
        assert!(Kind::Image.accepts(&png));
        assert!(!Kind::Image.accepts(&text), "text claimed to be an image");
        assert!(!Kind::Audio.accepts(&png));
        assert!(Kind::Other.accepts(&png));
        assert!(Kind::Template.accepts(&sniff(b"{\"a\": 1}")));
        assert!(!Kind::Thumbnail.uploadable());
        assert_eq!(Kind::parse("video"), Some(Kind::Video));
        assert_eq!(Kind::parse("movie"), None);
    }

    #[test]
    fn text_allows_a_cut_character_at_the_end_only() {
        let mut head = "café".as_bytes().to_vec();
        head.pop();
        assert!(looks_like_text(&head));
        assert!(!looks_like_text(b"caf\xff\xfe more"));
    }
}
