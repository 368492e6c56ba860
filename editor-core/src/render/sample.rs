//! Drawing a (sub-rectangle of a) premultiplied image through an affine transform, with
//! fixed-point bilinear filtering fused with compositing.
//!
//! Two paths:
//! - axis-aligned scale + translate (photos, Ken Burns moves, cached layers): per-column source
//!   indices and weights are computed once per draw, each output row blends two source rows
//!   vertically (a pass LLVM vectorises to 16-bit lanes) and then horizontally, and the result
//!   is composited straight into the destination row. Edges get exact analytic coverage.
//! - general affine (rotation, shear, flips): per-pixel 16.16 fixed-point stepping, taps outside
//!   the source read as transparent, which anti-aliases the edges.
//!
//! Coordinates are mapped once per row or column in `f64`; everything per pixel is integer,
//! so the output is bit-identical on every platform.

use super::composite::{composite_row, lerp_px, over_px, pack, scale_px, unpack};
use crate::display::{Affine, BlendMode};
use crate::image::{mul255, RgbaImage};

/// An integer pixel rectangle `[x0, x1) × [y0, y1)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub(crate) struct IRect {
    pub x0: i32,
    pub y0: i32,
    pub x1: i32,
    pub y1: i32,
}

impl IRect {
    pub fn new(x0: i32, y0: i32, x1: i32, y1: i32) -> Self {
        IRect { x0, y0, x1, y1 }
    }

    pub fn is_empty(&self) -> bool {
        self.x1 <= self.x0 || self.y1 <= self.y0
    }

    pub fn intersect(&self, o: &IRect) -> IRect {
        IRect {
            x0: self.x0.max(o.x0),
            y0: self.y0.max(o.y0),
            x1: self.x1.min(o.x1),
            y1: self.y1.min(o.y1),
        }
    }

    pub fn width(&self) -> usize {
        (self.x1 - self.x0).max(0) as usize
    }

    pub fn height(&self) -> usize {
        (self.y1 - self.y0).max(0) as usize
    }
}

/// A mutable premultiplied RGBA8 pixel buffer.
pub(crate) struct Canvas<'a> {
    pub width: usize,
    pub height: usize,
    pub pixels: &'a mut [[u8; 4]],
}

impl Canvas<'_> {
    pub fn bounds(&self) -> IRect {
        IRect::new(0, 0, self.width as i32, self.height as i32)
    }

    pub fn row_mut(&mut self, y: usize, x0: usize, x1: usize) -> &mut [[u8; 4]] {
        let start = y * self.width;
        &mut self.pixels[start + x0..start + x1]
    }
}

/// Row buffers reused across draws so a frame allocates nothing once warm.
#[derive(Default)]
pub(crate) struct SampleScratch {
    /// Vertically filtered source span.
    vrow: Vec<[u8; 4]>,
    /// Gathered left and right taps of one output row.
    left: Vec<[u8; 4]>,
    right: Vec<[u8; 4]>,
    /// One output row of filtered source.
    srow: Vec<[u8; 4]>,
}

/// How an image is drawn.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DrawParams {
    /// Content (source pixel) space → output space.
    pub transform: Affine,
    /// Part of the source drawn, in source pixels (already intersected with the image).
    pub src: IRect,
    /// 0..=255.
    pub opacity: u32,
    pub blend: BlendMode,
    /// Output pixels that may be touched (frame ∩ clip).
    pub clip: IRect,
}

/// Source-space position of an output pixel centre for one axis of a scale + translate.
#[inline]
fn axis_map(out: i32, scale: f64, offset: f64) -> f64 {
    (f64::from(out) + 0.5 - offset) / scale - 0.5
}

/// Fraction of output pixel `[p, p+1)` inside `[lo, hi)`, as 0..=255.
#[inline]
fn coverage(p: i32, lo: f64, hi: f64) -> u32 {
    let a = f64::from(p).max(lo);
    let b = f64::from(p + 1).min(hi);
    ((b - a).clamp(0.0, 1.0) * 255.0 + 0.5) as u32
}

/// Draws `img`'s `params.src` part onto `canvas`.
pub(crate) fn draw_image(
    canvas: &mut Canvas<'_>,
    img: &RgbaImage,
    params: &DrawParams,
    scratch: &mut SampleScratch,
) {
    let mut plan = DrawPlan::default();
    plan.prepare(canvas.bounds(), img, params);
    plan.draw_rows(canvas, img, 0, canvas.height as i32, scratch);
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum PlanKind {
    /// Nothing visible.
    #[default]
    Empty,
    /// Unscaled at whole-pixel offsets: plain row compositing (cached layers, 1:1 images).
    Integral,
    /// Scale + translate: filtered with precomputed columns.
    Axis,
    /// Anything else: per-pixel fixed-point stepping.
    Affine,
}

/// A prepared image draw: everything that does not depend on which rows are drawn, so a frame
/// is drawn band by band (keeping the destination in cache across all items) without redoing
/// the per-column set-up.
#[derive(Default)]
pub(crate) struct DrawPlan {
    kind: PlanKind,
    params: Option<DrawParams>,
    /// Output pixels touched.
    dest: IRect,
    /// Source rectangle, clipped to the image.
    src: IRect,
    opaque_source: bool,
    // Scale + translate plan.
    sy: f64,
    ty: f64,
    top: f64,
    bottom: f64,
    /// Left tap of each output column, relative to `span_lo` (the right tap follows it).
    tap0: Vec<u32>,
    /// Horizontal coverage of each output column, 0..=255.
    cov: Vec<u32>,
    /// Per output byte: weight of the left tap (256 − w) and of the right tap (w).
    weight0: Vec<u16>,
    weight1: Vec<u16>,
    span_lo: usize,
    span: usize,
    /// Columns fully inside the image (the vectorised compositing paths cover these).
    inner_lo: usize,
    inner_hi: usize,
}

impl DrawPlan {
    /// Sets the plan up for drawing `img` with `params` onto a canvas of `bounds`.
    pub fn prepare(&mut self, bounds: IRect, img: &RgbaImage, params: &DrawParams) {
        self.kind = PlanKind::Empty;
        self.params = Some(*params);
        let t = params.transform;
        let img_rect = IRect::new(0, 0, img.width() as i32, img.height() as i32);
        let src = params.src.intersect(&img_rect);
        if src.is_empty() || params.opacity == 0 || !t.is_finite() {
            return;
        }
        self.src = src;
        self.opaque_source = img.is_opaque() && params.blend == BlendMode::Normal;
        if !(t.is_axis_aligned() && t.sx > 0.0 && t.sy > 0.0) {
            self.dest = affine_dest(t, src)
                .intersect(&params.clip)
                .intersect(&bounds);
            if !self.dest.is_empty() {
                self.kind = PlanKind::Affine;
            }
            return;
        }
        let (sx, sy, tx, ty) = (
            f64::from(t.sx),
            f64::from(t.sy),
            f64::from(t.tx),
            f64::from(t.ty),
        );
        let left = f64::from(src.x0) * sx + tx;
        let right = f64::from(src.x1) * sx + tx;
        let top = f64::from(src.y0) * sy + ty;
        let bottom = f64::from(src.y1) * sy + ty;
        let dest = IRect::new(
            left.floor().max(-1e9) as i32,
            top.floor().max(-1e9) as i32,
            right.ceil().min(1e9) as i32,
            bottom.ceil().min(1e9) as i32,
        )
        .intersect(&params.clip)
        .intersect(&bounds);
        if dest.is_empty() {
            return;
        }
        self.dest = dest;
        (self.sy, self.ty, self.top, self.bottom) = (sy, ty, top, bottom);
        if sx == 1.0 && sy == 1.0 && tx.fract() == 0.0 && ty.fract() == 0.0 {
            self.kind = PlanKind::Integral;
            return;
        }
        self.kind = PlanKind::Axis;

        // Column plan: taps, weights (expanded per byte so the filter runs on flat bytes) and
        // coverage of the partially covered edge columns.
        let cols = dest.width();
        self.tap0.clear();
        self.cov.clear();
        self.weight0.clear();
        self.weight1.clear();
        let mut span_lo = i32::MAX;
        let mut span_hi = i32::MIN;
        for x in dest.x0..dest.x1 {
            let u = clamp_src(axis_map(x, sx, tx), src.x0, src.x1);
            let pos = (u * 256.0).round() as i64;
            let i0 = (pos >> 8) as i32;
            let w = (pos & 255) as u16;
            // The right tap is `i0 + 1`; where that leaves the source, `w` is 0.
            span_lo = span_lo.min(i0);
            span_hi = span_hi.max(i0);
            self.tap0.push(i0 as u32);
            self.cov.push(coverage(x, left, right));
            self.weight0.extend_from_slice(&[256 - w; 4]);
            self.weight1.extend_from_slice(&[w; 4]);
        }
        for a in self.tap0.iter_mut() {
            *a -= span_lo as u32;
        }
        self.inner_lo = self.cov.iter().position(|c| *c == 255).unwrap_or(cols);
        self.inner_hi = self
            .cov
            .iter()
            .rposition(|c| *c == 255)
            .map_or(self.inner_lo, |i| i + 1);
        self.span_lo = span_lo as usize;
        self.span = (span_hi - span_lo + 1) as usize;
    }

    /// Draws the rows `y0..y1` of the plan (clipped to its destination).
    pub fn draw_rows(
        &self,
        canvas: &mut Canvas<'_>,
        img: &RgbaImage,
        y0: i32,
        y1: i32,
        scratch: &mut SampleScratch,
    ) {
        let Some(params) = &self.params else {
            return;
        };
        let rows = (y0.max(self.dest.y0), y1.min(self.dest.y1));
        if rows.0 >= rows.1 {
            return;
        }
        match self.kind {
            PlanKind::Empty => {}
            PlanKind::Integral => self.draw_integral(canvas, img, params, rows),
            PlanKind::Axis => self.draw_axis(canvas, img, params, rows, scratch),
            PlanKind::Affine => {
                draw_affine(canvas, img, self.src, self.dest, params, rows, scratch);
            }
        }
    }

    fn draw_integral(
        &self,
        canvas: &mut Canvas<'_>,
        img: &RgbaImage,
        params: &DrawParams,
        rows: (i32, i32),
    ) {
        let dest = self.dest;
        let (off_x, off_y) = (params.transform.tx as i32, params.transform.ty as i32);
        let img_w = img.width() as usize;
        let pixels = img.pixels();
        for y in rows.0..rows.1 {
            let start = (y - off_y) as usize * img_w + (dest.x0 - off_x) as usize;
            let src_row = &pixels[start..start + dest.width()];
            let dst_row = canvas.row_mut(y as usize, dest.x0 as usize, dest.x1 as usize);
            // Cached layers carry a transparent margin, so the image as a whole is rarely
            // opaque; the visible part of a row often is (a full-frame gradient).
            let opaque = self.opaque_source
                || (params.blend == BlendMode::Normal && src_row.iter().all(|p| p[3] == 255));
            if opaque {
                if params.opacity == 255 {
                    dst_row.copy_from_slice(src_row);
                } else {
                    mix_const(dst_row, src_row, params.opacity as u16);
                }
            } else {
                composite_row(dst_row, src_row, params.opacity, params.blend);
            }
        }
    }

    fn draw_axis(
        &self,
        canvas: &mut Canvas<'_>,
        img: &RgbaImage,
        params: &DrawParams,
        rows: (i32, i32),
        scratch: &mut SampleScratch,
    ) {
        let dest = self.dest;
        let cols = dest.width();
        let img_w = img.width() as usize;
        let pixels = img.pixels();
        let (span_lo, span) = (self.span_lo, self.span);
        // Each column reads its tap and the pixel after it with one slice access; a span that
        // ends at the image's right edge is padded by repeating its last pixel (its weight is
        // zero there).
        let direct = span_lo + span < img_w;
        scratch.vrow.resize(span + 1, [0; 4]);
        scratch.left.resize(cols, [0; 4]);
        scratch.right.resize(cols, [0; 4]);
        scratch.srow.resize(cols, [0; 4]);
        let (inner_lo, inner_hi) = (self.inner_lo, self.inner_hi);
        for y in rows.0..rows.1 {
            let v = clamp_src(axis_map(y, self.sy, self.ty), self.src.y0, self.src.y1);
            let pos = (v * 256.0).round() as i64;
            let j0 = (pos >> 8) as usize;
            let wy = (pos & 255) as u16;
            let j1 = if wy == 0 {
                j0
            } else {
                (j0 + 1).min(self.src.y1 as usize - 1)
            };
            let cov_y = coverage(y, self.top, self.bottom);
            let base0 = j0 * img_w + span_lo;
            let base1 = j1 * img_w + span_lo;
            let row: &[[u8; 4]] = if direct {
                let r0 = &pixels[base0..base0 + span + 1];
                if wy == 0 {
                    r0
                } else {
                    vertical_lerp(&mut scratch.vrow, r0, &pixels[base1..base1 + span + 1], wy);
                    &scratch.vrow
                }
            } else {
                let r0 = &pixels[base0..base0 + span];
                if wy == 0 {
                    scratch.vrow[..span].copy_from_slice(r0);
                } else {
                    let r1 = &pixels[base1..base1 + span];
                    vertical_lerp(&mut scratch.vrow[..span], r0, r1, wy);
                }
                scratch.vrow[span] = scratch.vrow[span - 1];
                &scratch.vrow
            };
            for ((l, r), t) in scratch
                .left
                .iter_mut()
                .zip(scratch.right.iter_mut())
                .zip(&self.tap0)
            {
                let pair = &row[*t as usize..*t as usize + 2];
                *l = pair[0];
                *r = pair[1];
            }
            let row_opacity = mul255(params.opacity, cov_y);
            let dst_row = canvas.row_mut(y as usize, dest.x0 as usize, dest.x1 as usize);
            // Edge columns: scalar, with their partial coverage.
            for x in (0..inner_lo).chain(inner_hi..cols) {
                let w = u32::from(self.weight1[4 * x]);
                let p = lerp_px(pack(scratch.left[x]), pack(scratch.right[x]), w);
                let m = mul255(row_opacity, self.cov[x]);
                let p = unpack(scale_px(p, m));
                dst_row[x] = if params.blend == BlendMode::Normal {
                    unpack(over_px(pack(p), pack(dst_row[x])))
                } else {
                    super::composite::blend_px(params.blend, p, dst_row[x])
                };
            }
            let inner_dst = &mut dst_row[inner_lo..inner_hi];
            let (l, r) = (
                &scratch.left[inner_lo..inner_hi],
                &scratch.right[inner_lo..inner_hi],
            );
            let (w0, w1) = (
                &self.weight0[4 * inner_lo..4 * inner_hi],
                &self.weight1[4 * inner_lo..4 * inner_hi],
            );
            // Opaque sources filter straight into the destination (fused with the constant
            // opacity mix when fading); others go through a row buffer and the compositor.
            if self.opaque_source && row_opacity == 255 {
                horizontal_lerp(inner_dst, l, r, w0, w1);
            } else if self.opaque_source {
                lerp_mix_const(inner_dst, l, r, w0, w1, row_opacity as u16);
            } else {
                let inner_src = &mut scratch.srow[inner_lo..inner_hi];
                horizontal_lerp(inner_src, l, r, w0, w1);
                composite_row(inner_dst, inner_src, row_opacity, params.blend);
            }
        }
    }
}

/// [`horizontal_lerp`] then [`mix_const`] in one pass over the bytes.
fn lerp_mix_const(
    dst: &mut [[u8; 4]],
    left: &[[u8; 4]],
    right: &[[u8; 4]],
    weight0: &[u16],
    weight1: &[u16],
    m: u16,
) {
    let im = 255 - m;
    let div255 = |x: u16| {
        let t = x + 128;
        (t + (t >> 8)) >> 8
    };
    for (((d, &a), &b), (&w0, &w1)) in dst
        .as_flattened_mut()
        .iter_mut()
        .zip(left.as_flattened())
        .zip(right.as_flattened())
        .zip(weight0.iter().zip(weight1))
    {
        let s = (u16::from(a) * w0 + u16::from(b) * w1 + 128) >> 8;
        *d = (div255(s * m) + div255(u16::from(*d) * im)) as u8;
    }
}

fn clamp_src(v: f64, lo: i32, hi: i32) -> f64 {
    v.clamp(f64::from(lo), f64::from(hi - 1))
}

/// Output bounds of a transformed source rectangle, one pixel wider for the filter's reach.
fn affine_dest(t: Affine, src: IRect) -> IRect {
    let corners = [
        (src.x0, src.y0),
        (src.x1, src.y0),
        (src.x0, src.y1),
        (src.x1, src.y1),
    ];
    let (mut min_x, mut min_y, mut max_x, mut max_y) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (cx, cy) in corners {
        let (cx, cy) = (f64::from(cx), f64::from(cy));
        let ox = f64::from(t.sx) * cx + f64::from(t.kx) * cy + f64::from(t.tx);
        let oy = f64::from(t.ky) * cx + f64::from(t.sy) * cy + f64::from(t.ty);
        min_x = min_x.min(ox);
        max_x = max_x.max(ox);
        min_y = min_y.min(oy);
        max_y = max_y.max(oy);
    }
    IRect::new(
        (min_x.floor() - 1.0).max(-1e9) as i32,
        (min_y.floor() - 1.0).max(-1e9) as i32,
        (max_x.ceil() + 1.0).min(1e9) as i32,
        (max_y.ceil() + 1.0).min(1e9) as i32,
    )
}

/// `out = left · weight0 + right · weight1`, divided by 256 with rounding, per byte.
fn horizontal_lerp(
    out: &mut [[u8; 4]],
    left: &[[u8; 4]],
    right: &[[u8; 4]],
    weight0: &[u16],
    weight1: &[u16],
) {
    let out = out.as_flattened_mut();
    let left = left.as_flattened();
    let right = right.as_flattened();
    for (((o, &a), &b), (&w0, &w1)) in out
        .iter_mut()
        .zip(left)
        .zip(right)
        .zip(weight0.iter().zip(weight1))
    {
        *o = ((u16::from(a) * w0 + u16::from(b) * w1 + 128) >> 8) as u8;
    }
}

/// Source over for an opaque source at constant opacity `m`: per byte
/// `s·m/255 + d·(255 − m)/255`, each product rounded exactly like `mul255`.
fn mix_const(dst: &mut [[u8; 4]], src: &[[u8; 4]], m: u16) {
    let im = 255 - m;
    let div255 = |x: u16| {
        let t = x + 128;
        (t + (t >> 8)) >> 8
    };
    for (d, &s) in dst.as_flattened_mut().iter_mut().zip(src.as_flattened()) {
        *d = (div255(u16::from(s) * m) + div255(u16::from(*d) * im)) as u8;
    }
}

/// `out = r0 · (256 − w) + r1 · w`, rounded, per byte: written over flat bytes so it
/// vectorises to 16-bit lanes.
fn vertical_lerp(out: &mut [[u8; 4]], r0: &[[u8; 4]], r1: &[[u8; 4]], w: u16) {
    let iw = 256 - w;
    let out = out.as_flattened_mut();
    let r0 = r0.as_flattened();
    let r1 = r1.as_flattened();
    for ((o, &a), &b) in out.iter_mut().zip(r0).zip(r1) {
        *o = ((u16::from(a) * iw + u16::from(b) * w + 128) >> 8) as u8;
    }
}

fn draw_affine(
    canvas: &mut Canvas<'_>,
    img: &RgbaImage,
    src: IRect,
    dest: IRect,
    params: &DrawParams,
    rows: (i32, i32),
    scratch: &mut SampleScratch,
) {
    let Some(inv) = params.transform.invert() else {
        return;
    };
    let (a, b, c) = (f64::from(inv.sx), f64::from(inv.kx), f64::from(inv.tx));
    let (d, e, f) = (f64::from(inv.ky), f64::from(inv.sy), f64::from(inv.ty));
    const ONE: f64 = 65536.0;
    let du = (a * ONE).round() as i64;
    let dv = (d * ONE).round() as i64;
    let img_w = img.width() as i64;
    let pixels = img.pixels();
    let (sx0, sy0, sx1, sy1) = (
        i64::from(src.x0),
        i64::from(src.y0),
        i64::from(src.x1),
        i64::from(src.y1),
    );
    let fetch = |x: i64, y: i64| -> u32 {
        if x < sx0 || y < sy0 || x >= sx1 || y >= sy1 {
            0
        } else {
            pack(pixels[(y * img_w + x) as usize])
        }
    };
    let width = dest.width();
    scratch.srow.resize(width, [0; 4]);
    // Fixed-point bounds where a sample can touch the source at all.
    let (lo_u, hi_u) = ((sx0 - 1) << 16, sx1 << 16);
    let (lo_v, hi_v) = ((sy0 - 1) << 16, sy1 << 16);
    for y in rows.0..rows.1 {
        let py = f64::from(y) + 0.5;
        let px = f64::from(dest.x0) + 0.5;
        // Index space: pixel (i, j) has its centre at content (i + 0.5, j + 0.5).
        let u0 = a * px + b * py + c - 0.5;
        let v0 = d * px + e * py + f - 0.5;
        let u_start = (u0 * ONE).round() as i64;
        let v_start = (v0 * ONE).round() as i64;
        // Columns whose sample lies inside the (one pixel grown) source, conservatively.
        let (mut x_lo, mut x_hi) = (0i64, width as i64);
        for (start, step, lo, hi) in [(u_start, du, lo_u, hi_u), (v_start, dv, lo_v, hi_v)] {
            if step == 0 {
                if start < lo || start >= hi {
                    x_hi = 0;
                }
            } else {
                let (t0, t1) = (
                    (lo - start) as f64 / step as f64,
                    (hi - start) as f64 / step as f64,
                );
                let (t_min, t_max) = if t0 < t1 { (t0, t1) } else { (t1, t0) };
                x_lo = x_lo.max(t_min.floor() as i64 - 1);
                x_hi = x_hi.min(t_max.ceil() as i64 + 1);
            }
        }
        if x_hi <= x_lo {
            continue;
        }
        let (x_lo, x_hi) = (x_lo as usize, x_hi as usize);
        let mut u = u_start + du * x_lo as i64;
        let mut v = v_start + dv * x_lo as i64;
        let mut any = false;
        for s in scratch.srow[x_lo..x_hi].iter_mut() {
            let xi = u >> 16;
            let yi = v >> 16;
            let fx = ((u >> 8) & 255) as u32;
            let fy = ((v >> 8) & 255) as u32;
            let p = if xi >= sx0 && yi >= sy0 && xi + 1 < sx1 && yi + 1 < sy1 {
                // All four taps inside: index directly.
                let base = (yi * img_w + xi) as usize;
                let row0 = &pixels[base..base + 2];
                let row1 = &pixels[base + img_w as usize..base + img_w as usize + 2];
                let top = lerp_px(pack(row0[0]), pack(row0[1]), fx);
                let bot = lerp_px(pack(row1[0]), pack(row1[1]), fx);
                lerp_px(top, bot, fy)
            } else if xi < sx0 - 1 || yi < sy0 - 1 || xi >= sx1 || yi >= sy1 {
                0
            } else {
                let top = lerp_px(fetch(xi, yi), fetch(xi + 1, yi), fx);
                let bot = lerp_px(fetch(xi, yi + 1), fetch(xi + 1, yi + 1), fx);
                lerp_px(top, bot, fy)
            };
            any |= p != 0;
            *s = unpack(p);
            u += du;
            v += dv;
        }
        if any {
            let dst_row =
                canvas.row_mut(y as usize, dest.x0 as usize + x_lo, dest.x0 as usize + x_hi);
            composite_row(
                dst_row,
                &scratch.srow[x_lo..x_hi],
                params.opacity,
                params.blend,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32) -> RgbaImage {
        let mut px = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = if (x + y) % 2 == 0 { 255 } else { 0 };
                px.push([v, v, v, 255]);
            }
        }
        RgbaImage::from_premultiplied(w, h, px).unwrap()
    }

    fn draw(img: &RgbaImage, t: Affine, w: usize, h: usize) -> Vec<[u8; 4]> {
        let mut buf = vec![[0, 0, 0, 0]; w * h];
        let mut canvas = Canvas {
            width: w,
            height: h,
            pixels: &mut buf,
        };
        let params = DrawParams {
            transform: t,
            src: IRect::new(0, 0, img.width() as i32, img.height() as i32),
            opacity: 255,
            blend: BlendMode::Normal,
            clip: IRect::new(0, 0, w as i32, h as i32),
        };
        draw_image(&mut canvas, img, &params, &mut SampleScratch::default());
        buf
    }

    #[test]
    fn identity_is_exact_copy_on_both_paths() {
        let img = checker(8, 6);
        let out = draw(&img, Affine::IDENTITY, 8, 6);
        assert_eq!(out, img.pixels());
        // Whole-pixel translation.
        let out = draw(&img, Affine::translate(2.0, 1.0), 12, 8);
        assert_eq!(out[12 + 2], img.pixels()[0]);
        assert_eq!(out[12 + 3], img.pixels()[1]);
        // Exact 2× upscale through the filtered path: every source pixel's block keeps its
        // colour at the block's centre-most samples.
        let out = draw(&img, Affine::scale(2.0, 2.0), 16, 12);
        assert_eq!(out[0], img.pixels()[0]);
        assert_eq!(out[16 * 11 + 15], img.pixels()[47]);
        // A 90° rotation maps pixel centres onto pixel centres: exact copy, transposed.
        let rot = Affine::translate(6.0, 0.0).concat(Affine {
            sx: 0.0,
            ky: 1.0,
            kx: -1.0,
            sy: 0.0,
            tx: 0.0,
            ty: 0.0,
        });
        let out = draw(&img, rot, 6, 8);
        for y in 0..8 {
            for x in 0..6 {
                assert_eq!(out[y * 6 + x], img.pixels()[(5 - x) * 8 + y], "{x} {y}");
            }
        }
    }

    #[test]
    fn half_pixel_offset_has_partial_edge_coverage() {
        let img = RgbaImage::from_premultiplied(2, 1, vec![[255, 255, 255, 255]; 2]).unwrap();
        let out = draw(&img, Affine::translate(0.5, 0.0), 4, 1);
        assert_eq!(out[0][3], 128);
        assert_eq!(out[1][3], 255);
        assert_eq!(out[2][3], 128);
        assert_eq!(out[3][3], 0);
    }
}
