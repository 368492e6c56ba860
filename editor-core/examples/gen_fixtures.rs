//! Regenerates the procedural test images under `editor-core/tests/fixtures/`:
//! two photo-like 1920×1080 landscapes (JPEG) and a logo with transparency (PNG, drawn with
//! the renderer itself).
//!
//! Run: `cargo run -p editor-core --example gen_fixtures`

use std::path::PathBuf;

use editor_core::display::{
    Affine, Color, Content, DisplayItem, DisplayList, GradientStop, PathCommand, Point, ShapeKind,
    Stroke,
};
use editor_core::render::{export, MemoryImageSource, Renderer};

/// Deterministic hash of lattice coordinates to `0.0..1.0`.
fn lattice(seed: u64, x: i64, y: i64) -> f64 {
    let mut z = seed
        ^ (x as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (y as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

fn smooth(t: f64) -> f64 {
    t * t * (3.0 - 2.0 * t)
}

fn value_noise(seed: u64, x: f64, y: f64) -> f64 {
    let (xi, yi) = (x.floor() as i64, y.floor() as i64);
    let (fx, fy) = (smooth(x - x.floor()), smooth(y - y.floor()));
    let a = lattice(seed, xi, yi);
    let b = lattice(seed, xi + 1, yi);
    let c = lattice(seed, xi, yi + 1);
    let d = lattice(seed, xi + 1, yi + 1);
    let top = a + (b - a) * fx;
    let bottom = c + (d - c) * fx;
    top + (bottom - top) * fy
}

fn fbm(seed: u64, x: f64, y: f64, octaves: u32) -> f64 {
    let (mut sum, mut amp, mut freq, mut norm) = (0.0, 0.5, 1.0, 0.0);
    for o in 0..octaves {
        sum += amp * value_noise(seed + u64::from(o) * 131, x * freq, y * freq);
        norm += amp;
        amp *= 0.5;
        freq *= 2.0;
    }
    sum / norm
}

fn mix(a: [f64; 3], b: [f64; 3], t: f64) -> [f64; 3] {
    let t = t.clamp(0.0, 1.0);
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

struct Palette {
    sky_top: [f64; 3],
    sky_horizon: [f64; 3],
    sun: [f64; 3],
    sun_pos: (f64, f64),
    ridges: [[f64; 3]; 3],
    ground: [f64; 3],
    water: bool,
    seed: u64,
}

fn landscape(w: usize, h: usize, p: &Palette) -> Vec<u8> {
    let mut out = vec![0u8; w * h * 3];
    let horizon = h as f64 * 0.62;
    // Ridge heights per layer and column.
    let ridges: Vec<Vec<f64>> = (0..3)
        .map(|layer| {
            let base = horizon - [210.0, 120.0, 40.0][layer];
            let amp = [260.0, 190.0, 120.0][layer];
            (0..w)
                .map(|x| {
                    let n = fbm(p.seed + 7 + layer as u64, x as f64 / 380.0, layer as f64, 6);
                    base - (n - 0.35) * amp
                })
                .collect()
        })
        .collect();
    for y in 0..h {
        for x in 0..w {
            let (fx, fy) = (x as f64, y as f64);
            let grain = (lattice(p.seed ^ 0xABCD, x as i64, y as i64) - 0.5) * 7.0;
            let mut c;
            if fy < horizon || !p.water {
                // Sky with sun glow and clouds.
                let t = (fy / horizon).powf(1.4);
                c = mix(p.sky_top, p.sky_horizon, t);
                let (sx, sy) = p.sun_pos;
                let d = ((fx - sx).powi(2) + (fy - sy).powi(2)).sqrt();
                let glow = (-d / 260.0).exp();
                c = mix(c, p.sun, glow * 0.8);
                if d < 46.0 {
                    c = mix(c, [255.0, 250.0, 235.0], ((46.0 - d) / 3.0).min(1.0));
                }
                let cloud = fbm(p.seed + 3, fx / 300.0, fy / 90.0, 6);
                let cloud = ((cloud - 0.52) * 4.0).clamp(0.0, 1.0) * (1.0 - t * 0.6);
                c = mix(c, mix([250.0, 245.0, 240.0], p.sun, 0.25), cloud * 0.85);
                // Ridges, far to near, hazier when far.
                for (layer, ridge) in ridges.iter().enumerate() {
                    if fy >= ridge[x] {
                        let depth = (fy - ridge[x]) / (horizon - ridge[x] + 1.0);
                        let texture = fbm(p.seed + 20 + layer as u64, fx / 60.0, fy / 60.0, 5);
                        let shade = 0.75 + 0.45 * texture - 0.25 * depth.min(1.0);
                        let base = p.ridges[layer];
                        c = [base[0] * shade, base[1] * shade, base[2] * shade];
                        let haze = [0.55, 0.3, 0.08][layer];
                        c = mix(c, p.sky_horizon, haze);
                    }
                }
                if !p.water && fy >= horizon {
                    // Field with rows converging to the horizon.
                    let depth = (fy - horizon) / (h as f64 - horizon);
                    let row = ((fx - w as f64 / 2.0) / (depth * 40.0 + 1.0)).sin() * 0.5 + 0.5;
                    let texture = fbm(p.seed + 40, fx / 25.0, fy / 12.0, 5);
                    let shade = 0.6 + 0.3 * row * depth + 0.4 * texture;
                    c = [
                        p.ground[0] * shade,
                        p.ground[1] * shade,
                        p.ground[2] * shade,
                    ];
                    c = mix(c, p.sky_horizon, (1.0 - depth).powi(6) * 0.5);
                }
            } else {
                // Water mirroring the sky and ridges with horizontal ripples.
                let mirror_y = 2.0 * horizon - fy;
                let ripple = fbm(p.seed + 50, fx / 400.0, fy / 6.0, 4) - 0.5;
                let mx = (fx + ripple * 30.0).clamp(0.0, w as f64 - 1.0) as usize;
                let my = mirror_y.clamp(0.0, h as f64 - 1.0) as usize;
                let idx = (my * w + mx) * 3;
                let reflected = [
                    f64::from(out[idx]),
                    f64::from(out[idx + 1]),
                    f64::from(out[idx + 2]),
                ];
                c = mix(
                    reflected,
                    [20.0, 40.0, 60.0],
                    0.35 + 0.3 * (fy - horizon) / h as f64,
                );
                let sparkle = fbm(p.seed + 60, fx / 8.0, fy / 2.0, 3);
                if sparkle > 0.72 {
                    c = mix(c, [255.0, 245.0, 220.0], (sparkle - 0.72) * 2.0);
                }
            }
            let o = (y * w + x) * 3;
            for k in 0..3 {
                out[o + k] = (c[k] + grain).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

fn logo() -> Vec<u8> {
    let size = 512u32;
    let mut list = DisplayList::new(size, size, Color::TRANSPARENT);
    let mut disc = DisplayItem::new(
        "disc",
        Content::RadialGradient {
            width: 440.0,
            height: 440.0,
            center: Point::new(170.0, 150.0),
            radius: 330.0,
            stops: vec![
                GradientStop {
                    offset: 0.0,
                    color: Color::rgb(64, 220, 200),
                },
                GradientStop {
                    offset: 1.0,
                    color: Color::rgb(10, 90, 140),
                },
            ],
        },
    );
    disc.transform = Affine::translate(36.0, 36.0);
    disc.effects.push(editor_core::display::Effect::Mask(
        editor_core::display::Mask::Shape {
            kind: ShapeKind::Ellipse {
                width: 440.0,
                height: 440.0,
            },
            transform: Affine::IDENTITY,
            feather: 0.0,
            invert: false,
        },
    ));
    list.items.push(disc);
    let mut ring = DisplayItem::new(
        "ring",
        Content::Shape {
            kind: ShapeKind::Ellipse {
                width: 400.0,
                height: 400.0,
            },
            fill: None,
            stroke: Some(Stroke {
                color: Color::rgba(255, 255, 255, 230),
                width: 14.0,
            }),
        },
    );
    ring.transform = Affine::translate(56.0, 56.0);
    list.items.push(ring);
    let mut play = DisplayItem::new(
        "play",
        Content::Shape {
            kind: ShapeKind::Path {
                commands: vec![
                    PathCommand::MoveTo { x: 0.0, y: 0.0 },
                    PathCommand::LineTo { x: 170.0, y: 100.0 },
                    PathCommand::LineTo { x: 0.0, y: 200.0 },
                    PathCommand::Close,
                ],
            },
            fill: Some(Color::WHITE),
            stroke: Some(Stroke {
                color: Color::WHITE,
                width: 24.0,
            }),
        },
    );
    play.transform = Affine::translate(200.0, 156.0);
    list.items.push(play);
    let mut renderer = Renderer::new();
    export::export_png(&mut renderer, &MemoryImageSource::new(), &list).expect("logo renders")
}

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::create_dir_all(&dir).expect("fixtures dir");
    let (w, h) = (1920usize, 1080usize);
    let photos = [
        (
            "r1_photo_a.jpg",
            Palette {
                sky_top: [40.0, 90.0, 170.0],
                sky_horizon: [235.0, 200.0, 160.0],
                sun: [255.0, 210.0, 140.0],
                sun_pos: (1350.0, 420.0),
                ridges: [[90.0, 110.0, 150.0], [60.0, 85.0, 95.0], [35.0, 60.0, 45.0]],
                ground: [60.0, 90.0, 50.0],
                water: true,
                seed: 11,
            },
        ),
        (
            "r1_photo_b.jpg",
            Palette {
                sky_top: [70.0, 40.0, 110.0],
                sky_horizon: [250.0, 150.0, 90.0],
                sun: [255.0, 120.0, 60.0],
                sun_pos: (520.0, 560.0),
                ridges: [[110.0, 70.0, 110.0], [70.0, 60.0, 80.0], [40.0, 55.0, 40.0]],
                ground: [150.0, 130.0, 50.0],
                water: false,
                seed: 29,
            },
        ),
    ];
    for (name, palette) in &photos {
        let rgb = landscape(w, h, palette);
        let mut bytes = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut bytes, 80);
        encoder
            .encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb)
            .expect("jpeg encodes");
        std::fs::write(dir.join(name), &bytes).expect("write photo");
        println!("{name}: {} KB", bytes.len() / 1024);
    }
    let logo = logo();
    std::fs::write(dir.join("r1_logo.png"), &logo).expect("write logo");
    println!("r1_logo.png: {} KB", logo.len() / 1024);
}
