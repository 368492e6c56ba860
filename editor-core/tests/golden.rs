//! Golden-image tests of the renderer.
//!
//! Each case renders a display list (hand-built, or made by the evaluator from a small timeline)
//! and compares it exactly with `tests/images/<area>/<case>.png`. On a mismatch the test writes
//! `<case>.actual.png` and `<case>.diff.png` (differing pixels in red, scaled by how much they
//! differ, over a dimmed copy of the reference) beside the reference and fails.
//! `EDITOR_CORE_ACCEPT=1 cargo test -p editor-core --test golden` writes new references.
//!
//! R1 at full and half size is checked by frame hash against `tests/images/r1/hashes.json`
//! (same acceptance rule), to keep the repository small; R1 at quarter size has PNG references.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use editor_core::command::{apply, Command};
use editor_core::display::{
    Affine, BlendMode, Color, Content, DisplayItem, DisplayList, Effect, GradientStop, Mask,
    PathCommand, Point, Rect, Shadow, ShapeKind, Stroke, TextAlign, TextContent,
};
use editor_core::easing::Easing;
use editor_core::eval::frame_at;
use editor_core::fixtures::{r1, R1_LOGO, R1_PHOTO_A, R1_PHOTO_B};
use editor_core::ids::{ClipId, KeyframeId, TrackId};
use editor_core::image::RgbaImage;
use editor_core::model::{
    Clip, Direction, Fit, Keyframe, ProjectSettings, Property, Rational, Source, Timeline, Track,
    TrackKind, Transition, TransitionKind,
};
use editor_core::render::export::{self, PngCompression};
use editor_core::render::{ImageSource, MemoryImageSource, Renderer};
use ulid::Ulid;

fn images_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/images")
}

fn accepting() -> bool {
    std::env::var("EDITOR_CORE_ACCEPT").is_ok_and(|v| v == "1")
}

/// Compares an image with its reference; returns a failure description.
fn check_image(area: &str, case: &str, actual: &RgbaImage) -> Option<String> {
    let dir = images_dir().join(area);
    let reference_path = dir.join(format!("{case}.png"));
    let actual_path = dir.join(format!("{case}.actual.png"));
    let diff_path = dir.join(format!("{case}.diff.png"));
    let png = export::encode_png_image(actual, PngCompression::High).expect("encode png");
    if accepting() {
        std::fs::create_dir_all(&dir).expect("create images dir");
        std::fs::write(&reference_path, &png).expect("write reference");
        let _ = std::fs::remove_file(&actual_path);
        let _ = std::fs::remove_file(&diff_path);
        return None;
    }
    let Ok(bytes) = std::fs::read(&reference_path) else {
        std::fs::create_dir_all(&dir).expect("create images dir");
        std::fs::write(&actual_path, &png).expect("write actual");
        return Some(format!(
            "{area}/{case}: no reference (run with EDITOR_CORE_ACCEPT=1 to create it)"
        ));
    };
    let reference = RgbaImage::decode(&bytes).expect("decode reference");
    if reference.width() == actual.width()
        && reference.height() == actual.height()
        && reference.pixels() == actual.pixels()
    {
        let _ = std::fs::remove_file(&actual_path);
        let _ = std::fs::remove_file(&diff_path);
        return None;
    }
    std::fs::write(&actual_path, &png).expect("write actual");
    if reference.width() != actual.width() || reference.height() != actual.height() {
        return Some(format!(
            "{area}/{case}: size {}x{} differs from reference {}x{}",
            actual.width(),
            actual.height(),
            reference.width(),
            reference.height()
        ));
    }
    let mut differing = 0usize;
    let mut max_delta = 0u8;
    let diff: Vec<[u8; 4]> = reference
        .pixels()
        .iter()
        .zip(actual.pixels())
        .map(|(r, a)| {
            let delta = (0..4).map(|c| r[c].abs_diff(a[c])).max().unwrap_or(0);
            if delta == 0 {
                let grey = (u16::from(r[0]) + u16::from(r[1]) + u16::from(r[2])) / 12;
                [grey as u8, grey as u8, grey as u8, 255]
            } else {
                differing += 1;
                max_delta = max_delta.max(delta);
                [128u8.saturating_add(delta.saturating_mul(4)), 0, 0, 255]
            }
        })
        .collect();
    let diff =
        RgbaImage::from_premultiplied(actual.width(), actual.height(), diff).expect("diff image");
    std::fs::write(
        &diff_path,
        export::encode_png_image(&diff, PngCompression::Fast).expect("png"),
    )
    .expect("write diff");
    Some(format!(
        "{area}/{case}: {differing} pixels differ (max channel delta {max_delta}); see {}",
        diff_path.display()
    ))
}

fn render(list: &DisplayList, images: &dyn ImageSource) -> RgbaImage {
    let (frame, stats) = Renderer::new().render_frame(list, images).expect("render");
    assert!(
        stats.missing_images.is_empty(),
        "missing images: {:?}",
        stats.missing_images
    );
    frame.to_image()
}

/// Runs every case of an area, then fails once listing all mismatches.
fn run_area(area: &str, cases: Vec<(String, RgbaImage)>) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(case, image)| check_image(area, case, image))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn item(content: Content, transform: Affine) -> DisplayItem {
    let mut item = DisplayItem::new("item", content);
    item.transform = transform;
    item
}

fn list(width: u32, height: u32, background: Color, items: Vec<DisplayItem>) -> DisplayList {
    DisplayList {
        width,
        height,
        background,
        items,
    }
}

fn image_content(asset: &str, width: u32, height: u32) -> Content {
    Content::Image {
        asset_id: asset.into(),
        frame: None,
        width,
        height,
    }
}

fn stops(a: Color, b: Color) -> Vec<GradientStop> {
    vec![
        GradientStop {
            offset: 0.0,
            color: a,
        },
        GradientStop {
            offset: 1.0,
            color: b,
        },
    ]
}

/// A small checkerboard with a transparent corner, for filtering and edge cases.
fn checker() -> RgbaImage {
    let mut px = Vec::new();
    for y in 0..8u32 {
        for x in 0..8u32 {
            let c = if (x + y) % 2 == 0 {
                [230, 60, 40, 255]
            } else {
                [30, 90, 200, 255]
            };
            px.push(if x >= 6 && y >= 6 { [0, 0, 0, 0] } else { c });
        }
    }
    RgbaImage::from_premultiplied(8, 8, px).expect("checker")
}

fn test_images() -> MemoryImageSource {
    let mut images = support::r1_images();
    images.insert("ast_checker", checker());
    // A three-frame "sequence": the same checker tinted differently per frame.
    for frame in 0..3u32 {
        let tinted: Vec<[u8; 4]> = checker()
            .pixels()
            .iter()
            .map(|p| {
                let mut q = *p;
                q[frame as usize] = q[3];
                q
            })
            .collect();
        images.insert_frame(
            "ast_sequence",
            frame,
            RgbaImage::from_premultiplied(8, 8, tinted).expect("frame"),
        );
    }
    images
}

const SMALL_BG: Color = Color::rgb(40, 44, 52);

fn photo_quarter(asset: &str) -> DisplayItem {
    item(
        image_content(asset, 1920, 1080),
        Affine::scale(0.125, 0.125),
    )
}

#[test]
fn sources() {
    let images = test_images();
    let mut cases = Vec::new();
    let mut add = |name: &str, l: DisplayList| cases.push((name.to_owned(), render(&l, &images)));

    add(
        "image_photo_eighth",
        list(240, 135, SMALL_BG, vec![photo_quarter(R1_PHOTO_A)]),
    );
    let mut cropped = item(
        image_content(R1_PHOTO_B, 1920, 1080),
        Affine::scale(0.25, 0.25),
    );
    cropped.crop = Some(Rect::new(480.0, 200.0, 960.0, 400.0));
    cropped.transform.tx = -100.0;
    cropped.transform.ty = -30.0;
    add("image_crop", list(240, 135, SMALL_BG, vec![cropped]));
    add(
        "image_logo_alpha",
        list(
            128,
            128,
            Color::rgb(200, 60, 60),
            vec![item(
                image_content(R1_LOGO, 512, 512),
                Affine::scale(0.25, 0.25),
            )],
        ),
    );
    let seq = (0..3u32)
        .map(|f| {
            let mut i = item(
                Content::Image {
                    asset_id: "ast_sequence".into(),
                    frame: Some(f),
                    width: 8,
                    height: 8,
                },
                Affine::translate(4.0 + 40.0 * f as f32, 4.0).concat(Affine::scale(4.0, 4.0)),
            );
            i.id = format!("seq{f}");
            i
        })
        .collect();
    add("image_sequence_frames", list(124, 40, SMALL_BG, seq));
    add(
        "solid",
        list(
            64,
            48,
            SMALL_BG,
            vec![item(
                Content::Solid {
                    color: Color::rgba(255, 200, 0, 200),
                },
                Affine::IDENTITY,
            )],
        ),
    );
    add(
        "linear_gradient",
        list(
            160,
            90,
            SMALL_BG,
            vec![item(
                Content::LinearGradient {
                    width: 140.0,
                    height: 70.0,
                    start: Point::new(0.0, 0.0),
                    end: Point::new(140.0, 70.0),
                    stops: vec![
                        GradientStop {
                            offset: 0.0,
                            color: Color::rgb(255, 0, 80),
                        },
                        GradientStop {
                            offset: 0.5,
                            color: Color::rgba(255, 220, 0, 128),
                        },
                        GradientStop {
                            offset: 1.0,
                            color: Color::rgb(0, 160, 255),
                        },
                    ],
                },
                Affine::translate(10.5, 10.25),
            )],
        ),
    );
    add(
        "radial_gradient_rotated",
        list(
            160,
            90,
            SMALL_BG,
            vec![item(
                Content::RadialGradient {
                    width: 100.0,
                    height: 60.0,
                    center: Point::new(50.0, 30.0),
                    radius: 50.0,
                    stops: stops(Color::WHITE, Color::rgba(0, 80, 200, 0)),
                },
                Affine::translate(80.0, 45.0)
                    .concat(Affine::rotate(20.0))
                    .concat(Affine::translate(-50.0, -30.0)),
            )],
        ),
    );
    let shape = |kind: ShapeKind, fill: Option<Color>, stroke: Option<Stroke>, t: Affine| {
        item(Content::Shape { kind, fill, stroke }, t)
    };
    add(
        "shapes",
        list(
            200,
            100,
            SMALL_BG,
            vec![
                shape(
                    ShapeKind::Rect {
                        width: 40.0,
                        height: 30.0,
                    },
                    Some(Color::rgb(230, 80, 60)),
                    None,
                    Affine::translate(8.0, 8.0),
                ),
                shape(
                    ShapeKind::RoundedRect {
                        width: 60.0,
                        height: 36.0,
                        radius: 12.0,
                    },
                    Some(Color::rgba(60, 200, 120, 180)),
                    Some(Stroke {
                        color: Color::WHITE,
                        width: 3.0,
                    }),
                    Affine::translate(60.5, 10.5),
                ),
                shape(
                    ShapeKind::Ellipse {
                        width: 50.0,
                        height: 30.0,
                    },
                    None,
                    Some(Stroke {
                        color: Color::rgb(250, 200, 40),
                        width: 4.0,
                    }),
                    Affine::translate(135.0, 12.0),
                ),
                shape(
                    ShapeKind::Path {
                        commands: vec![
                            PathCommand::MoveTo { x: 0.0, y: 40.0 },
                            PathCommand::QuadTo {
                                x1: 30.0,
                                y1: -20.0,
                                x: 60.0,
                                y: 40.0,
                            },
                            PathCommand::CubicTo {
                                x1: 80.0,
                                y1: 0.0,
                                x2: 100.0,
                                y2: 60.0,
                                x: 130.0,
                                y: 20.0,
                            },
                            PathCommand::LineTo { x: 130.0, y: 45.0 },
                            PathCommand::Close,
                        ],
                    },
                    Some(Color::rgba(120, 140, 255, 220)),
                    Some(Stroke {
                        color: Color::BLACK,
                        width: 1.5,
                    }),
                    Affine::translate(30.0, 50.0),
                ),
            ],
        ),
    );
    let text = |t: &str, size: f32, align: TextAlign, box_width: Option<f32>| TextContent {
        text: t.into(),
        font_size: size,
        color: Color::WHITE,
        bold: false,
        align,
        box_width,
        line_height: 1.2,
        stroke: None,
        shadow: None,
    };
    let aligned = [TextAlign::Left, TextAlign::Center, TextAlign::Right]
        .into_iter()
        .enumerate()
        .map(|(i, a)| {
            item(
                Content::Text(text("Align Ag", 20.0, a, Some(220.0))),
                Affine::translate(10.0, 6.0 + 28.0 * i as f32),
            )
        })
        .collect();
    add("text_alignment", list(240, 96, SMALL_BG, aligned));
    add(
        "text_wrap_box",
        list(
            240,
            120,
            SMALL_BG,
            vec![item(
                Content::Text(text(
                    "Wrapped text breaks at spaces to fit the box: AVATAR, Wolf, “quotes” — façade.",
                    16.0,
                    TextAlign::Left,
                    Some(220.0),
                )),
                Affine::translate(10.0, 6.0),
            )],
        ),
    );
    let mut title = text("Title\nSecond line", 40.0, TextAlign::Center, None);
    title.bold = true;
    title.color = Color::rgb(255, 230, 120);
    title.stroke = Some(Stroke {
        color: Color::rgb(20, 20, 40),
        width: 3.0,
    });
    title.shadow = Some(Shadow {
        dx: 3.0,
        dy: 4.0,
        blur: 3.0,
        color: Color::rgba(0, 0, 0, 200),
    });
    add(
        "text_bold_stroke_shadow",
        list(
            260,
            120,
            Color::rgb(70, 110, 160),
            vec![item(Content::Text(title), Affine::translate(130.0, 8.0))],
        ),
    );
    run_area("sources", cases);
}

#[test]
fn transforms() {
    let images = test_images();
    let mut cases = Vec::new();
    let mut add = |name: &str, l: DisplayList| cases.push((name.to_owned(), render(&l, &images)));
    let checker = |t: Affine| item(image_content("ast_checker", 8, 8), t);
    add(
        "bilinear_upscale",
        list(
            100,
            100,
            SMALL_BG,
            vec![checker(
                Affine::translate(5.3, 4.7).concat(Affine::scale(11.0, 11.0)),
            )],
        ),
    );
    add(
        "rotate",
        list(
            100,
            100,
            SMALL_BG,
            vec![checker(
                Affine::translate(50.0, 50.0)
                    .concat(Affine::rotate(30.0))
                    .concat(Affine::scale(8.0, 8.0))
                    .concat(Affine::translate(-4.0, -4.0)),
            )],
        ),
    );
    add(
        "flip_and_shear",
        list(
            100,
            60,
            SMALL_BG,
            vec![
                checker(Affine::translate(45.0, 5.0).concat(Affine::scale(-5.0, 5.0))),
                checker(Affine {
                    sx: 5.0,
                    ky: 0.0,
                    kx: 2.0,
                    sy: 5.0,
                    tx: 50.0,
                    ty: 5.0,
                }),
            ],
        ),
    );
    add(
        "fractional_offsets",
        list(
            60,
            20,
            SMALL_BG,
            (0..4)
                .map(|i| {
                    checker(Affine::translate(
                        2.0 + 14.0 * i as f32 + 0.25 * i as f32,
                        6.0,
                    ))
                })
                .collect(),
        ),
    );
    // Minification through the mip chain: the photo at 1/16 and the logo at 1/8.
    add(
        "minify_mip",
        list(
            184,
            68,
            SMALL_BG,
            vec![
                item(
                    image_content(R1_PHOTO_A, 1920, 1080),
                    Affine::scale(0.0625, 0.0625),
                ),
                item(
                    image_content(R1_LOGO, 512, 512),
                    Affine::translate(120.0, 2.0).concat(Affine::scale(0.125, 0.125)),
                ),
            ],
        ),
    );
    run_area("transforms", cases);
}

#[test]
fn blend_modes() {
    let images = test_images();
    let mut cases = Vec::new();
    for mode in BlendMode::ALL {
        let backdrop = item(
            Content::LinearGradient {
                width: 96.0,
                height: 64.0,
                start: Point::new(0.0, 0.0),
                end: Point::new(96.0, 0.0),
                stops: vec![
                    GradientStop {
                        offset: 0.0,
                        color: Color::rgb(20, 30, 200),
                    },
                    GradientStop {
                        offset: 0.5,
                        color: Color::rgb(240, 240, 240),
                    },
                    GradientStop {
                        offset: 1.0,
                        color: Color::rgba(200, 40, 30, 128),
                    },
                ],
            },
            Affine::IDENTITY,
        );
        let mut source = item(
            Content::LinearGradient {
                width: 80.0,
                height: 48.0,
                start: Point::new(0.0, 0.0),
                end: Point::new(0.0, 48.0),
                stops: vec![
                    GradientStop {
                        offset: 0.0,
                        color: Color::rgb(250, 200, 40),
                    },
                    GradientStop {
                        offset: 0.5,
                        color: Color::rgb(40, 200, 120),
                    },
                    GradientStop {
                        offset: 1.0,
                        color: Color::rgba(40, 40, 40, 160),
                    },
                ],
            },
            Affine::translate(8.0, 8.0),
        );
        source.blend = mode;
        let mut photo = item(
            image_content(R1_PHOTO_B, 1920, 1080),
            Affine::scale(0.025, 0.025),
        );
        photo.transform.tx = 56.0;
        photo.transform.ty = 36.0;
        photo.blend = mode;
        photo.opacity = 0.8;
        let l = list(96, 64, Color::TRANSPARENT, vec![backdrop, source, photo]);
        let name = serde_json::to_value(mode).expect("mode name");
        cases.push((
            name.as_str().unwrap_or("mode").to_owned(),
            render(&l, &images),
        ));
    }
    run_area("blend", cases);
}

#[test]
fn opacity_and_clip() {
    let images = test_images();
    let mut faded = photo_quarter(R1_PHOTO_A);
    faded.opacity = 0.5;
    let mut wiped = photo_quarter(R1_PHOTO_B);
    wiped.clip = Some(Rect::new(0.0, 0.0, 100.4, 135.0));
    let mut solid = item(
        Content::Solid {
            color: Color::rgb(255, 255, 255),
        },
        Affine::IDENTITY,
    );
    solid.opacity = 0.25;
    solid.clip = Some(Rect::new(150.0, 20.0, 60.0, 60.0));
    let cases = vec![
        (
            "opacity_half".to_owned(),
            render(&list(240, 135, Color::BLACK, vec![faded]), &images),
        ),
        (
            "clip_wipe".to_owned(),
            render(
                &list(
                    240,
                    135,
                    Color::BLACK,
                    vec![photo_quarter(R1_PHOTO_A), wiped, solid],
                ),
                &images,
            ),
        ),
    ];
    run_area("opacity_clip", cases);
}

#[test]
fn effects() {
    let images = test_images();
    let base = || {
        let mut it = item(
            image_content(R1_LOGO, 512, 512),
            Affine::translate(16.0, 16.0),
        );
        it.transform = it.transform.concat(Affine::scale(0.1875, 0.1875));
        it
    };
    let photo = || photo_quarter(R1_PHOTO_A);
    let with = |mut it: DisplayItem, effects: Vec<Effect>| {
        it.effects = effects;
        it
    };
    let on_bg = |it: DisplayItem| list(128, 128, Color::rgb(230, 225, 210), vec![it]);
    let on_photo = |it: DisplayItem| list(240, 135, SMALL_BG, vec![it]);
    let shape_mask = |invert: bool, feather: f32| {
        Effect::Mask(Mask::Shape {
            kind: ShapeKind::Ellipse {
                width: 1200.0,
                height: 800.0,
            },
            transform: Affine::translate(360.0, 140.0),
            feather,
            invert,
        })
    };
    let lists = vec![
        (
            "gaussian_blur_small",
            on_bg(with(base(), vec![Effect::GaussianBlur { radius: 1.2 }])),
        ),
        (
            "gaussian_blur_large",
            on_bg(with(base(), vec![Effect::GaussianBlur { radius: 6.0 }])),
        ),
        (
            "box_blur",
            on_bg(with(base(), vec![Effect::BoxBlur { radius: 4.0 }])),
        ),
        (
            "color_adjust",
            on_photo(with(
                photo(),
                vec![Effect::ColorAdjust {
                    brightness: 0.1,
                    contrast: 1.3,
                    saturation: 1.5,
                    hue: 40.0,
                }],
            )),
        ),
        (
            "greyscale",
            on_photo(with(
                photo(),
                vec![Effect::ColorAdjust {
                    brightness: 0.0,
                    contrast: 1.0,
                    saturation: 0.0,
                    hue: 0.0,
                }],
            )),
        ),
        (
            "tint",
            on_photo(with(
                photo(),
                vec![Effect::Tint {
                    color: Color::rgb(255, 120, 0),
                    amount: 0.5,
                }],
            )),
        ),
        (
            "drop_shadow",
            on_bg(with(
                base(),
                vec![Effect::DropShadow(Shadow {
                    dx: 4.0,
                    dy: 6.0,
                    blur: 5.0,
                    color: Color::rgba(0, 0, 0, 180),
                })],
            )),
        ),
        (
            "mask_shape_feathered",
            on_photo(with(photo(), vec![shape_mask(false, 6.0)])),
        ),
        (
            "mask_shape_inverted",
            on_photo(with(photo(), vec![shape_mask(true, 0.0)])),
        ),
        (
            "mask_luma",
            on_photo(with(
                photo(),
                vec![Effect::Mask(Mask::Luma {
                    asset_id: R1_LOGO.into(),
                    frame: None,
                    transform: Affine::translate(700.0, 40.0).concat(Affine::scale(2.0, 2.0)),
                    invert: false,
                })],
            )),
        ),
        (
            "effect_chain",
            on_photo(with(
                photo(),
                vec![
                    Effect::ColorAdjust {
                        brightness: -0.1,
                        contrast: 1.1,
                        saturation: 0.6,
                        hue: 0.0,
                    },
                    Effect::GaussianBlur { radius: 2.5 },
                    Effect::Tint {
                        color: Color::rgb(0, 60, 255),
                        amount: 0.2,
                    },
                ],
            )),
        ),
    ];
    let cases = lists
        .into_iter()
        .map(|(name, l)| (name.to_owned(), render(&l, &images)))
        .collect();
    run_area("effects", cases);
}

// Small timelines through the evaluator: transitions and easing curves.

fn ulid(n: u128) -> Ulid {
    Ulid::from_parts(1_795_132_800_000, n)
}

fn timeline(width: u32, height: u32) -> Timeline {
    Timeline::new(ProjectSettings::new(width, height, Rational::new(30, 1)))
}

fn run(timeline: &mut Timeline, command: Command) {
    apply(timeline, command).expect("command applies");
}

/// Renders frames side by side (or top to bottom) into one image.
fn strip(
    timeline: &Timeline,
    frames: &[u64],
    images: &dyn ImageSource,
    vertical: bool,
) -> RgbaImage {
    let mut renderer = Renderer::new();
    let rendered: Vec<_> = frames
        .iter()
        .map(|f| {
            let (frame, _) = renderer
                .render_frame(&frame_at(timeline, *f, 1.0), images)
                .expect("render");
            frame
        })
        .collect();
    let (w, h) = (rendered[0].width() as usize, rendered[0].height() as usize);
    let n = rendered.len();
    let (sw, sh) = if vertical { (w, h * n) } else { (w * n, h) };
    let mut px = vec![[0u8; 4]; sw * sh];
    for (i, frame) in rendered.iter().enumerate() {
        for y in 0..h {
            let (ox, oy) = if vertical { (0, i * h) } else { (i * w, 0) };
            let dst = (oy + y) * sw + ox;
            px[dst..dst + w].copy_from_slice(&frame.pixels()[y * w..(y + 1) * w]);
        }
    }
    RgbaImage::from_premultiplied(sw as u32, sh as u32, px).expect("strip")
}

#[test]
fn transitions() {
    let images = test_images();
    let kinds = vec![
        ("crossfade", TransitionKind::Crossfade),
        (
            "dip_to_black",
            TransitionKind::DipToColor {
                color: Color::BLACK,
            },
        ),
        (
            "wipe_left",
            TransitionKind::Wipe {
                direction: Direction::Left,
            },
        ),
        (
            "wipe_right",
            TransitionKind::Wipe {
                direction: Direction::Right,
            },
        ),
        (
            "wipe_up",
            TransitionKind::Wipe {
                direction: Direction::Up,
            },
        ),
        (
            "wipe_down",
            TransitionKind::Wipe {
                direction: Direction::Down,
            },
        ),
        (
            "slide_left",
            TransitionKind::Slide {
                direction: Direction::Left,
            },
        ),
        (
            "slide_right",
            TransitionKind::Slide {
                direction: Direction::Right,
            },
        ),
        (
            "slide_up",
            TransitionKind::Slide {
                direction: Direction::Up,
            },
        ),
        (
            "slide_down",
            TransitionKind::Slide {
                direction: Direction::Down,
            },
        ),
        (
            "push_left",
            TransitionKind::Push {
                direction: Direction::Left,
            },
        ),
        (
            "push_right",
            TransitionKind::Push {
                direction: Direction::Right,
            },
        ),
        (
            "push_up",
            TransitionKind::Push {
                direction: Direction::Up,
            },
        ),
        (
            "push_down",
            TransitionKind::Push {
                direction: Direction::Down,
            },
        ),
    ];
    let mut cases = Vec::new();
    for (name, kind) in kinds {
        let mut t = timeline(96, 54);
        let track = TrackId::from_ulid(ulid(1));
        run(
            &mut t,
            Command::AddTrack {
                track: Track::new(track.clone(), TrackKind::Video),
                index: None,
            },
        );
        for (i, asset) in [R1_PHOTO_A, R1_PHOTO_B].into_iter().enumerate() {
            run(
                &mut t,
                Command::AddClip {
                    track_id: track.clone(),
                    clip: Clip::new(
                        ClipId::from_ulid(ulid(10 + i as u128)),
                        30 * i as u64,
                        30,
                        Source::Image {
                            asset_id: asset.into(),
                            width: 1920,
                            height: 1080,
                            fit: Fit::Cover,
                        },
                    ),
                },
            );
        }
        run(
            &mut t,
            Command::SetTransition {
                clip_id: ClipId::from_ulid(ulid(10)),
                transition: Transition {
                    kind,
                    duration: 20,
                    easing: Easing::Linear,
                },
            },
        );
        // Just before, at the start, a quarter, the cut, three quarters, the end, just after.
        cases.push((
            name.to_owned(),
            strip(&t, &[19, 20, 25, 30, 35, 39, 40], &images, false),
        ));
    }
    run_area("transitions", cases);
}

#[test]
fn easing() {
    let images = MemoryImageSource::new();
    let curves = vec![
        ("linear", Easing::Linear),
        ("hold", Easing::Hold),
        ("ease", Easing::Ease),
        ("ease_in", Easing::EaseIn),
        ("ease_out", Easing::EaseOut),
        ("ease_in_out", Easing::EaseInOut),
        (
            "cubic_bezier_back",
            Easing::CubicBezier {
                x1: 0.68,
                y1: -0.55,
                x2: 0.27,
                y2: 1.55,
            },
        ),
        (
            "spring",
            Easing::Spring {
                stiffness: 170.0,
                damping: 12.0,
                mass: 1.0,
            },
        ),
    ];
    let mut cases = Vec::new();
    for (name, easing) in curves {
        let mut t = timeline(160, 16);
        let track = TrackId::from_ulid(ulid(1));
        run(
            &mut t,
            Command::AddTrack {
                track: Track::new(track.clone(), TrackKind::Overlay),
                index: None,
            },
        );
        let clip_id = ClipId::from_ulid(ulid(2));
        run(
            &mut t,
            Command::AddClip {
                track_id: track,
                clip: Clip::new(
                    clip_id.clone(),
                    0,
                    40,
                    Source::Shape {
                        shape: ShapeKind::RoundedRect {
                            width: 10.0,
                            height: 10.0,
                            radius: 3.0,
                        },
                        fill: Some(Color::rgb(250, 200, 60)),
                        stroke: None,
                    },
                ),
            },
        );
        for (i, (frame, value, e)) in [(0, 20.0, easing), (30, 130.0, Easing::Linear)]
            .into_iter()
            .enumerate()
        {
            run(
                &mut t,
                Command::AddKeyframe {
                    clip_id: clip_id.clone(),
                    property: Property::PositionX,
                    keyframe: Keyframe {
                        id: KeyframeId::from_ulid(ulid(100 + i as u128)),
                        frame,
                        value,
                        easing: e,
                    },
                },
            );
        }
        let frames: Vec<u64> = (0..=32).step_by(2).collect();
        cases.push((name.to_owned(), strip(&t, &frames, &images, true)));
    }
    run_area("easing", cases);
}

/// R1 at quarter size (PNG references) at its key moments.
#[test]
fn r1_quarter() {
    let images = support::r1_images();
    let timeline = r1();
    let mut renderer = Renderer::new();
    let cases = [0u64, 42, 65, 135, 150, 165, 255, 299]
        .into_iter()
        .map(|f| {
            let (frame, _) = renderer
                .render_frame(&frame_at(&timeline, f, 0.25), &images)
                .expect("render");
            (format!("r1_quarter_{f:03}"), frame.to_image())
        })
        .collect();
    run_area("r1", cases);
}

/// Frames at and around every clip, keyframe and transition boundary of R1.
const R1_BOUNDARY_FRAMES: [u64; 20] = [
    0, 29, 30, 42, 54, 55, 65, 75, 134, 135, 149, 150, 164, 165, 235, 254, 255, 269, 270, 299,
];

/// R1 at full and half size, by frame hash (see the module docs).
#[test]
fn r1_boundary_hashes() {
    let images = support::r1_images();
    let timeline = r1();
    let path = images_dir().join("r1/hashes.json");
    let mut actual: BTreeMap<String, String> = BTreeMap::new();
    let mut renderer = Renderer::new();
    let mut frames = BTreeMap::new();
    for scale in [1.0f32, 0.5] {
        for f in R1_BOUNDARY_FRAMES {
            let (frame, _) = renderer
                .render_frame(&frame_at(&timeline, f, scale), &images)
                .expect("render");
            let key = format!("scale_{scale}_frame_{f:03}");
            actual.insert(key.clone(), format!("{:016x}", frame.hash()));
            frames.insert(key, frame);
        }
    }
    // Caches must not change pixels: a fresh renderer gives the same hash.
    let (fresh, _) = Renderer::new()
        .render_frame(&frame_at(&timeline, 150, 1.0), &images)
        .expect("render");
    assert_eq!(
        format!("{:016x}", fresh.hash()),
        actual["scale_1_frame_150"],
        "a warm renderer must match a cold one"
    );
    let json = serde_json::to_string_pretty(&actual).expect("json") + "\n";
    if accepting() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("dir");
        std::fs::write(&path, json).expect("write hashes");
        for key in actual.keys() {
            let _ = std::fs::remove_file(images_dir().join(format!("r1/{key}.actual.png")));
        }
        return;
    }
    let expected: BTreeMap<String, String> = match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).expect("hashes.json parses"),
        Err(_) => panic!("no {} (run with EDITOR_CORE_ACCEPT=1)", path.display()),
    };
    let mut failures = Vec::new();
    for (key, hash) in &actual {
        if expected.get(key) != Some(hash) {
            let png = export::encode_png(&frames[key]).expect("png");
            let out = images_dir().join(format!("r1/{key}.actual.png"));
            std::fs::write(&out, png).expect("write actual");
            failures.push(format!(
                "{key}: hash {hash}, expected {:?}; see {}",
                expected.get(key),
                out.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
