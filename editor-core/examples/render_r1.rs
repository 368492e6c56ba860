//! Renders frames of the reference timeline R1 natively: writes PNGs and/or prints frame hashes
//! as JSON (the native side of the wasm parity check).
//!
//! Run: `cargo run --release -p editor-core --example render_r1 -- [--scale 0.5] [--png DIR]
//! [--hashes FILE] FRAME...`

#[path = "../tests/support/mod.rs"]
mod support;

use editor_core::eval::frame_at;
use editor_core::fixtures::{r1, R1_LOGO, R1_PHOTO_A, R1_PHOTO_B};
use editor_core::render::{export, frame_hash, Frame, ImageSource, Renderer};

/// Frames at and around every clip, keyframe and transition boundary of R1.
const PARITY_FRAMES: [u64; 20] = [
    0, 29, 30, 42, 54, 55, 65, 75, 134, 135, 149, 150, 164, 165, 235, 254, 255, 269, 270, 299,
];

fn main() {
    let mut scale = 1.0f32;
    let mut png_dir: Option<String> = None;
    let mut hashes: Option<String> = None;
    let mut frames: Vec<u64> = Vec::new();
    let mut per_item = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scale" => scale = args.next().and_then(|v| v.parse().ok()).expect("--scale N"),
            "--png" => png_dir = args.next(),
            "--hashes" => hashes = args.next(),
            "--per-item" => per_item = true,
            f => frames.push(f.parse().expect("frame number")),
        }
    }
    if frames.is_empty() {
        frames = PARITY_FRAMES.to_vec();
    }
    let timeline = r1();
    let images = support::r1_images();
    let mut renderer = Renderer::new();
    let mut frame: Option<Frame> = None;
    let mut out = Vec::new();
    for f in frames {
        let list = frame_at(&timeline, f, scale);
        let target =
            frame.get_or_insert_with(|| Frame::new(list.width, list.height).expect("size"));
        if per_item {
            // Cumulative cost of the first k items, warm caches, best of 5.
            let mut previous = 0.0;
            for k in 1..=list.items.len() {
                let mut partial = list.clone();
                partial.items.truncate(k);
                let mut best = f64::MAX;
                for _ in 0..5 {
                    let t = std::time::Instant::now();
                    renderer.render(&partial, &images, target).expect("render");
                    best = best.min(t.elapsed().as_secs_f64() * 1e3);
                }
                let item = &partial.items[k - 1];
                let kind = serde_json::to_value(&item.content).expect("json")["type"].clone();
                eprintln!(
                    "  item {k} {kind}: +{:.2} ms (total {best:.2})",
                    best - previous
                );
                previous = best;
            }
        }
        let start = std::time::Instant::now();
        let stats = renderer.render(&list, &images, target).expect("render");
        let ms = start.elapsed().as_secs_f64() * 1e3;
        let hash = format!("{:016x}", target.hash());
        eprintln!("frame {f}: {ms:.2} ms hash {hash} {stats:?}");
        if let Some(dir) = &png_dir {
            std::fs::create_dir_all(dir).expect("png dir");
            let png = export::encode_png(target).expect("png");
            std::fs::write(format!("{dir}/r1_{f:03}.png"), png).expect("write png");
        }
        out.push(format!("\"{f}\": \"{hash}\""));
    }
    let image_hashes: Vec<String> = [R1_PHOTO_A, R1_PHOTO_B, R1_LOGO]
        .iter()
        .filter_map(|id| {
            let img = images.image(id, None)?;
            let hash = frame_hash(img.width(), img.height(), img.pixels());
            Some(format!("\"{id}\": \"{hash:016x}\""))
        })
        .collect();
    let json = format!(
        "{{\"scale\": {scale}, \"images\": {{{}}}, \"hashes\": {{{}}}}}\n",
        image_hashes.join(", "),
        out.join(", ")
    );
    match hashes {
        Some(path) => std::fs::write(path, json).expect("write hashes"),
        None => print!("{json}"),
    }
}
