//! Rasterising vector content (gradients, shapes, text) into a layer buffer.
//!
//! Shapes and glyphs go through tiny-skia with solid paints only: its anti-aliased coverage is
//! computed in fixed point and solid fills run on its integer ("lowp") pipeline, so they are
//! the same bytes natively and in wasm32. Gradients are evaluated here (tiny-skia's gradient
//! shaders run on its float pipeline, whose SIMD differs between targets): one `f64` set-up per
//! row, then integer stepping into a 1024-entry premultiplied colour table.

use tiny_skia::{FillRule, Mask, Paint, Path, PathBuilder, PixmapMut, Transform};

use super::composite::{pack, scale_px, unpack};
use super::effects::{gaussian_blur, Plane};
use crate::display::{
    Affine, Color, GradientStop, PathCommand, Point, ShapeKind, Stroke, TextContent,
};
use crate::image::premultiply;

pub(crate) fn to_ts(t: Affine) -> Transform {
    Transform::from_row(t.sx, t.ky, t.kx, t.sy, t.tx, t.ty)
}

fn ts_color(c: Color) -> tiny_skia::Color {
    tiny_skia::Color::from_rgba8(c.r, c.g, c.b, c.a)
}

fn finite_or(v: f32, d: f32) -> f32 {
    if v.is_finite() {
        v
    } else {
        d
    }
}

/// The outline of a shape in content space; `None` when it is empty or degenerate.
pub(crate) fn shape_path(kind: &ShapeKind) -> Option<Path> {
    match kind {
        ShapeKind::Rect { width, height } => {
            tiny_skia::Rect::from_xywh(0.0, 0.0, finite_or(*width, 0.0), finite_or(*height, 0.0))
                .map(PathBuilder::from_rect)
        }
        ShapeKind::RoundedRect {
            width,
            height,
            radius,
        } => {
            let (w, h) = (finite_or(*width, 0.0), finite_or(*height, 0.0));
            if w <= 0.0 || h <= 0.0 {
                return None;
            }
            let r = finite_or(*radius, 0.0).clamp(0.0, w.min(h) / 2.0);
            if r == 0.0 {
                return tiny_skia::Rect::from_xywh(0.0, 0.0, w, h).map(PathBuilder::from_rect);
            }
            // Cubic approximation of a quarter circle.
            let k = r * 0.552_284_8;
            let mut pb = PathBuilder::new();
            pb.move_to(r, 0.0);
            pb.line_to(w - r, 0.0);
            pb.cubic_to(w - r + k, 0.0, w, r - k, w, r);
            pb.line_to(w, h - r);
            pb.cubic_to(w, h - r + k, w - r + k, h, w - r, h);
            pb.line_to(r, h);
            pb.cubic_to(r - k, h, 0.0, h - r + k, 0.0, h - r);
            pb.line_to(0.0, r);
            pb.cubic_to(0.0, r - k, r - k, 0.0, r, 0.0);
            pb.close();
            pb.finish()
        }
        ShapeKind::Ellipse { width, height } => {
            tiny_skia::Rect::from_xywh(0.0, 0.0, finite_or(*width, 0.0), finite_or(*height, 0.0))
                .and_then(PathBuilder::from_oval)
        }
        ShapeKind::Path { commands } => {
            let mut pb = PathBuilder::new();
            for c in commands {
                match *c {
                    PathCommand::MoveTo { x, y } => pb.move_to(x, y),
                    PathCommand::LineTo { x, y } => pb.line_to(x, y),
                    PathCommand::QuadTo { x1, y1, x, y } => pb.quad_to(x1, y1, x, y),
                    PathCommand::CubicTo {
                        x1,
                        y1,
                        x2,
                        y2,
                        x,
                        y,
                    } => pb.cubic_to(x1, y1, x2, y2, x, y),
                    PathCommand::Close => pb.close(),
                }
            }
            pb.finish()
        }
    }
}

/// Content-space bounds `(x0, y0, x1, y1)` of a shape.
pub(crate) fn shape_bounds(kind: &ShapeKind) -> (f32, f32, f32, f32) {
    match kind {
        ShapeKind::Rect { width, height }
        | ShapeKind::RoundedRect { width, height, .. }
        | ShapeKind::Ellipse { width, height } => (
            0.0,
            0.0,
            finite_or(*width, 0.0).max(0.0),
            finite_or(*height, 0.0).max(0.0),
        ),
        ShapeKind::Path { .. } => shape_path(kind)
            .map(|p| {
                let b = p.bounds();
                (b.left(), b.top(), b.right(), b.bottom())
            })
            .unwrap_or((0.0, 0.0, 0.0, 0.0)),
    }
}

fn stroke_style(stroke: &Stroke) -> Option<tiny_skia::Stroke> {
    let width = finite_or(stroke.width, 0.0);
    if width <= 0.0 {
        return None;
    }
    Some(tiny_skia::Stroke {
        width,
        line_join: tiny_skia::LineJoin::Round,
        line_cap: tiny_skia::LineCap::Round,
        ..Default::default()
    })
}

fn solid_paint(c: Color) -> Paint<'static> {
    let mut paint = Paint::default();
    paint.set_color(ts_color(c));
    paint.anti_alias = true;
    paint
}

/// Fills and strokes a shape onto the layer.
pub(crate) fn draw_shape(
    pixmap: &mut PixmapMut<'_>,
    kind: &ShapeKind,
    fill: Option<Color>,
    stroke: Option<&Stroke>,
    transform: Affine,
) {
    let Some(path) = shape_path(kind) else {
        return;
    };
    let ts = to_ts(transform);
    if let Some(fill) = fill {
        pixmap.fill_path(&path, &solid_paint(fill), FillRule::Winding, ts, None);
    }
    if let Some(stroke) = stroke {
        if let Some(style) = stroke_style(stroke) {
            pixmap.stroke_path(&path, &solid_paint(stroke.color), &style, ts, None);
        }
    }
}

/// Shadow, stroke and fill of laid-out text onto the layer.
pub(crate) fn draw_text(
    pixmap: &mut PixmapMut<'_>,
    text: &TextContent,
    path: &Path,
    transform: Affine,
) {
    let ts = to_ts(transform);
    let stroke = text
        .stroke
        .as_ref()
        .and_then(|s| Some((s, stroke_style(s)?)));
    if let Some(shadow) = &text.shadow {
        let (w, h) = (pixmap.width(), pixmap.height());
        if let Some(mut mask) = Mask::new(w, h) {
            // The silhouette is placed at the shadow offset (content units through the
            // transform's linear part) and blurred in layer pixels.
            let dx = finite_or(shadow.dx, 0.0);
            let dy = finite_or(shadow.dy, 0.0);
            let shifted = ts.post_translate(
                transform.sx * dx + transform.kx * dy,
                transform.ky * dx + transform.sy * dy,
            );
            mask.fill_path(path, FillRule::Winding, true, shifted);
            if let Some((_, style)) = &stroke {
                if let Some(outline) = path.stroke(style, 1.0) {
                    mask.fill_path(&outline, FillRule::Winding, true, shifted);
                }
            }
            let scale =
                libm::sqrtf((transform.sx * transform.sy - transform.kx * transform.ky).abs());
            let sigma = finite_or(shadow.blur, 0.0).max(0.0) * scale;
            let mut alpha: Vec<[u8; 1]> = mask.data().iter().map(|a| [*a]).collect();
            gaussian_blur(
                &mut Plane {
                    width: w as usize,
                    height: h as usize,
                    data: &mut alpha,
                },
                sigma,
            );
            let color = pack(premultiply([
                shadow.color.r,
                shadow.color.g,
                shadow.color.b,
                shadow.color.a,
            ]));
            let data = pixmap.data_mut();
            for (px, a) in data.chunks_exact_mut(4).zip(&alpha) {
                if a[0] != 0 {
                    px.copy_from_slice(&unpack(scale_px(color, u32::from(a[0]))));
                }
            }
        }
    }
    if let Some((s, style)) = &stroke {
        pixmap.stroke_path(path, &solid_paint(s.color), style, ts, None);
    }
    pixmap.fill_path(path, &solid_paint(text.color), FillRule::Winding, ts, None);
}

/// 1024 premultiplied colours sampled along the stops (interpolated premultiplied, like CSS).
fn gradient_table(stops: &[GradientStop]) -> Vec<u32> {
    const N: usize = 1024;
    let mut table = vec![0u32; N];
    if stops.is_empty() {
        return table;
    }
    let premul = |c: Color| {
        let a = f32::from(c.a) / 255.0;
        [
            f32::from(c.r) * a,
            f32::from(c.g) * a,
            f32::from(c.b) * a,
            f32::from(c.a),
        ]
    };
    for (i, slot) in table.iter_mut().enumerate() {
        let t = i as f32 / (N - 1) as f32;
        let mut color = premul(stops[0].color);
        if t > finite_or(stops[0].offset, 0.0) {
            color = premul(stops[stops.len() - 1].color);
            for pair in stops.windows(2) {
                let (a, b) = (
                    finite_or(pair[0].offset, 0.0),
                    finite_or(pair[1].offset, 1.0),
                );
                if t >= a && t <= b {
                    let f = if b > a { (t - a) / (b - a) } else { 1.0 };
                    let (ca, cb) = (premul(pair[0].color), premul(pair[1].color));
                    for c in 0..4 {
                        color[c] = ca[c] + (cb[c] - ca[c]) * f;
                    }
                    break;
                }
            }
        }
        let alpha = (color[3] + 0.5) as u32;
        let ch = |v: f32| ((v + 0.5) as u32).min(alpha);
        *slot = u32::from_le_bytes([
            ch(color[0]) as u8,
            ch(color[1]) as u8,
            ch(color[2]) as u8,
            alpha.min(255) as u8,
        ]);
    }
    table
}

/// The shape a gradient fills.
pub(crate) enum GradientKind {
    Linear { start: Point, end: Point },
    Radial { center: Point, radius: f32 },
}

/// Fills `0..width × 0..height` of content space with a gradient onto a cleared layer.
#[allow(clippy::too_many_arguments)]
pub(crate) fn fill_gradient(
    data: &mut [[u8; 4]],
    layer_w: u32,
    layer_h: u32,
    rect_w: f32,
    rect_h: f32,
    kind: &GradientKind,
    stops: &[GradientStop],
    transform: Affine,
) {
    let Some(inv) = transform.invert() else {
        return;
    };
    let Some(rect) =
        tiny_skia::Rect::from_xywh(0.0, 0.0, finite_or(rect_w, 0.0), finite_or(rect_h, 0.0))
    else {
        return;
    };
    let Some(mut mask) = Mask::new(layer_w, layer_h) else {
        return;
    };
    mask.fill_path(
        &PathBuilder::from_rect(rect),
        FillRule::Winding,
        true,
        to_ts(transform),
    );
    let table = gradient_table(stops);
    let (ia, ib, ic) = (f64::from(inv.sx), f64::from(inv.kx), f64::from(inv.tx));
    let (id, ie, if_) = (f64::from(inv.ky), f64::from(inv.sy), f64::from(inv.ty));
    let w = layer_w as usize;
    const SCALE: f64 = 1023.0 * 65536.0;
    for (y, (row, mrow)) in data
        .chunks_exact_mut(w)
        .zip(mask.data().chunks_exact(w))
        .enumerate()
    {
        let py = y as f64 + 0.5;
        match kind {
            GradientKind::Linear { start, end } => {
                let (sx, sy) = (f64::from(start.x), f64::from(start.y));
                let (dx, dy) = (f64::from(end.x) - sx, f64::from(end.y) - sy);
                let len2 = dx * dx + dy * dy;
                let (gx, gy) = if len2 > 1e-12 {
                    (dx / len2, dy / len2)
                } else {
                    (0.0, 0.0)
                };
                let t_at = |px: f64| {
                    let cx = ia * px + ib * py + ic;
                    let cy = id * px + ie * py + if_;
                    if len2 > 1e-12 {
                        gx * (cx - sx) + gy * (cy - sy)
                    } else {
                        1.0
                    }
                };
                let t0 = t_at(0.5);
                let step = t_at(1.5) - t0;
                let mut t = (t0 * SCALE + 32768.0).clamp(-1e15, 1e15) as i64;
                let dt = (step * SCALE).clamp(-1e12, 1e12) as i64;
                for (px, m) in row.iter_mut().zip(mrow) {
                    if *m != 0 {
                        let idx = (t >> 16).clamp(0, 1023) as usize;
                        let c = table[idx];
                        *px = unpack(if *m == 255 {
                            c
                        } else {
                            scale_px(c, u32::from(*m))
                        });
                    }
                    t += dt;
                }
            }
            GradientKind::Radial { center, radius } => {
                let r = f64::from(finite_or(*radius, 0.0));
                let (cx0, cy0) = (f64::from(center.x), f64::from(center.y));
                for (x, (px, m)) in row.iter_mut().zip(mrow).enumerate() {
                    if *m == 0 {
                        continue;
                    }
                    let fx = x as f64 + 0.5;
                    let cx = ia * fx + ib * py + ic - cx0;
                    let cy = id * fx + ie * py + if_ - cy0;
                    let t = if r > 1e-9 {
                        (cx * cx + cy * cy).sqrt() / r
                    } else {
                        1.0
                    };
                    let idx = (t * 1023.0 + 0.5).clamp(0.0, 1023.0) as usize;
                    let c = table[idx];
                    *px = unpack(if *m == 255 {
                        c
                    } else {
                        scale_px(c, u32::from(*m))
                    });
                }
            }
        }
    }
}

/// Coverage (0..=255 per layer pixel) of a shape, optionally feathered.
pub(crate) fn shape_mask(
    kind: &ShapeKind,
    transform: Affine,
    width: u32,
    height: u32,
    feather: f32,
) -> Vec<u8> {
    let mut out = vec![0u8; width as usize * height as usize];
    let (Some(path), Some(mut mask)) = (shape_path(kind), Mask::new(width, height)) else {
        return out;
    };
    mask.fill_path(&path, FillRule::Winding, true, to_ts(transform));
    out.copy_from_slice(mask.data());
    if feather > 0.0 {
        let mut plane: Vec<[u8; 1]> = out.iter().map(|v| [*v]).collect();
        gaussian_blur(
            &mut Plane {
                width: width as usize,
                height: height as usize,
                data: &mut plane,
            },
            feather,
        );
        for (o, p) in out.iter_mut().zip(plane) {
            *o = p[0];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gradient_table_hits_end_colours() {
        let stops = [
            GradientStop {
                offset: 0.0,
                color: Color::rgb(255, 0, 0),
            },
            GradientStop {
                offset: 1.0,
                color: Color::rgb(0, 0, 255),
            },
        ];
        let t = gradient_table(&stops);
        assert_eq!(t[0].to_le_bytes(), [255, 0, 0, 255]);
        assert_eq!(t[1023].to_le_bytes(), [0, 0, 255, 255]);
    }
}
