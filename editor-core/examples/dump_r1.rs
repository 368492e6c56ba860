//! Prints R1's display list at a frame as JSON (debugging aid).
//!
//! Run: `cargo run -p editor-core --example dump_r1 -- FRAME [SCALE]`
fn main() {
    let mut args = std::env::args().skip(1);
    let frame: u64 = args.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let scale: f32 = args.next().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    let list = editor_core::eval::frame_at(&editor_core::fixtures::r1(), frame, scale);
    println!(
        "{}",
        serde_json::to_string_pretty(&list).expect("serialise")
    );
}
