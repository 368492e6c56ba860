//! Image exports: PNG stills, PNG sequences, animated PNG and GIF, decoded back and checked.

mod support;

use editor_core::eval::frame_at;
use editor_core::fixtures::r1;
use editor_core::image::RgbaImage;
use editor_core::render::export::{self, FrameRate};
use editor_core::render::Renderer;

#[test]
fn png_still_round_trips_exactly() {
    let images = support::r1_images();
    let list = frame_at(&r1(), 150, 0.25);
    let mut renderer = Renderer::new();
    let (frame, _) = renderer.render_frame(&list, &images).expect("render");
    let png = export::export_png(&mut renderer, &images, &list).expect("png");
    let decoded = RgbaImage::decode(&png).expect("decode");
    assert_eq!((decoded.width(), decoded.height()), (480, 270));
    assert_eq!(decoded.pixels(), frame.pixels());
}

#[test]
fn png_sequence_has_one_file_per_frame() {
    let images = support::r1_images();
    let timeline = r1();
    let mut renderer = Renderer::new();
    let files = export::export_png_sequence(&mut renderer, &images, 148..152, |f| {
        frame_at(&timeline, u64::from(f), 0.125)
    })
    .expect("sequence");
    assert_eq!(
        files.iter().map(|(f, _)| *f).collect::<Vec<_>>(),
        vec![148, 149, 150, 151]
    );
    for (_, bytes) in &files {
        assert_eq!(RgbaImage::decode(bytes).expect("decode").width(), 240);
    }
}

#[test]
fn animated_png_has_every_frame_and_the_delay() {
    let images = support::r1_images();
    let timeline = r1();
    let mut renderer = Renderer::new();
    let apng = export::export_apng(
        &mut renderer,
        &images,
        140..146,
        FrameRate::new(30, 1),
        |f| frame_at(&timeline, u64::from(f), 0.125),
    )
    .expect("apng");
    let decoder = png::Decoder::new(std::io::Cursor::new(&apng));
    let mut reader = decoder.read_info().expect("apng header");
    let control = reader.info().animation_control().expect("animated");
    assert_eq!(control.num_frames, 6);
    assert_eq!(control.num_plays, 0);
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let mut frames = 0;
    while reader.next_frame(&mut buf).is_ok() {
        let fc = reader.info().frame_control().expect("frame control");
        assert_eq!((fc.delay_num, fc.delay_den), (1, 30));
        frames += 1;
    }
    assert_eq!(frames, 6);
}

#[test]
fn gif_has_every_frame_and_keeps_total_duration() {
    let images = support::r1_images();
    let timeline = r1();
    let mut renderer = Renderer::new();
    let gif_bytes = export::export_gif(&mut renderer, &images, 0..9, FrameRate::new(30, 1), |f| {
        frame_at(&timeline, u64::from(f) * 30, 0.0625)
    })
    .expect("gif");
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    let mut decoder = options
        .read_info(std::io::Cursor::new(&gif_bytes))
        .expect("gif header");
    assert_eq!((decoder.width(), decoder.height()), (120, 68));
    let mut delays = Vec::new();
    while let Some(frame) = decoder.read_next_frame().expect("gif frame") {
        delays.push(frame.delay);
    }
    assert_eq!(delays.len(), 9);
    // 9 frames at 30 fps = 30 centiseconds, spread as 3/3/4… without drift.
    assert_eq!(delays.iter().map(|d| u32::from(*d)).sum::<u32>(), 30);
}

#[test]
fn empty_range_is_an_error_not_a_panic() {
    let images = support::r1_images();
    let timeline = r1();
    let mut renderer = Renderer::new();
    let list_at = |f: u32| frame_at(&timeline, u64::from(f), 0.1);
    assert!(
        export::export_apng(&mut renderer, &images, 5..5, FrameRate::new(30, 1), list_at).is_err()
    );
    assert!(
        export::export_gif(&mut renderer, &images, 5..5, FrameRate::new(30, 1), list_at).is_err()
    );
}
