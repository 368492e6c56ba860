//! Renders frames of the reference timeline R1 natively: writes PNGs and/or prints frame hashes
//! as JSON (the native side of the wasm parity check).
//!
//! Run: `cargo run --release -p editor-core --example render_r1 -- [--scale 0.5] [--png DIR]
//! [--hashes FILE] FRAME...`

#[path = "../tests/support/mod.rs"]
mod support;

use editor_core::fixtures::r1;
use editor_core::render::{export, Frame, Renderer};
use editor_core::eval::frame_at;

fn main() {
    let mut scale = 1.0f32;
    let mut png_dir: Option<String> = None;
    let mut hashes: Option<String> = None;
    let mut frames: Vec<u64> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scale" => scale = args.next().and_then(|v| v.parse().ok()).expect("--scale N"),
            "--png" => png_dir = args.next(),
            "--hashes" => hashes = args.next(),
            f => frames.push(f.parse().expect("frame number")),
        }
    }
    if frames.is_empty() {
        frames = vec![0, 75, 135, 150, 164, 165, 225, 299];
    }
    let timeline = r1();
    let images = support::r1_images();
    let mut renderer = Renderer::new();
    let mut frame: Option<Frame> = None;
    let mut out = Vec::new();
    for f in frames {
        let list = frame_at(&timeline, f, scale);
        let target = frame.get_or_insert_with(|| Frame::new(list.width, list.height).expect("size"));
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
    let json = format!("{{\"scale\": {scale}, \"hashes\": {{{}}}}}\n", out.join(", "));
    match hashes {
        Some(path) => std::fs::write(path, json).expect("write hashes"),
        None => print!("{json}"),
    }
}
