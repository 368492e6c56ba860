//! Shared by the golden tests, benches and examples: loading the committed fixture images.

#![allow(dead_code)]

use std::path::PathBuf;

use editor_core::fixtures::{R1_LOGO, R1_PHOTO_A, R1_PHOTO_B};
use editor_core::image::RgbaImage;
use editor_core::render::MemoryImageSource;

/// `editor-core/tests/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Decodes one committed fixture image.
pub fn load_fixture(name: &str) -> RgbaImage {
    let path = fixtures_dir().join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    RgbaImage::decode(&bytes).unwrap_or_else(|e| panic!("decode {}: {e}", path.display()))
}

/// The images R1 refers to, under their asset ids.
pub fn r1_images() -> MemoryImageSource {
    let mut images = MemoryImageSource::new();
    images.insert(R1_PHOTO_A, load_fixture("r1_photo_a.jpg"));
    images.insert(R1_PHOTO_B, load_fixture("r1_photo_b.jpg"));
    images.insert(R1_LOGO, load_fixture("r1_logo.png"));
    images
}
