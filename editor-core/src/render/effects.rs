//! Layer effects on premultiplied RGBA8 buffers: blurs, colour matrix, tint, drop shadow, masks.
//!
//! All per-pixel work is integer. Blur kernels and colour matrices are derived once per effect
//! with `libm`, so the same parameters give the same integers on every platform.

use super::composite::{over_px, pack, scale_px, unpack};
use crate::display::{Color, Effect, Shadow};
use crate::image::{mul255, premultiply};

/// A plane of `width × height` values with `N` interleaved channels.
pub(crate) struct Plane<'a, const N: usize> {
    pub width: usize,
    pub height: usize,
    pub data: &'a mut [[u8; N]],
}

/// Extra pixels an effect needs around the content so nothing is cut off.
pub(crate) fn margin(effect: &Effect) -> f32 {
    let blur_reach = |sigma: f32| (sigma.max(0.0) * 3.0).ceil() + 2.0;
    match effect {
        Effect::GaussianBlur { radius } => blur_reach(*radius),
        Effect::BoxBlur { radius } => radius.max(0.0).round() + 1.0,
        Effect::DropShadow(s) => blur_reach(s.blur) + s.dx.abs().max(s.dy.abs()).ceil(),
        Effect::Mask(crate::display::Mask::Shape { feather, .. }) => blur_reach(*feather),
        _ => 0.0,
    }
    .min(MAX_BLUR_MARGIN)
}

/// Bounds the blur work and layer growth for absurd parameters.
pub(crate) const MAX_BLUR_MARGIN: f32 = 512.0;

/// Box windows (size, leftward shift) whose triple convolution approximates a Gaussian of
/// standard deviation `sigma` (the construction browsers use for `feGaussianBlur`).
fn gaussian_boxes(sigma: f32) -> [(usize, usize); 3] {
    let d = (f64::from(sigma) * 3.0 * libm::sqrt(2.0 * std::f64::consts::PI) / 4.0 + 0.5).floor()
        as usize;
    let d = d.max(1);
    if d % 2 == 1 {
        [(d, d / 2), (d, d / 2), (d, d / 2)]
    } else {
        [(d, d / 2), (d, d / 2 - 1), (d + 1, d / 2)]
    }
}

/// Integer weights (summing to 2^16) of a sampled Gaussian, for small sigmas where three boxes
/// are a poor fit.
fn gaussian_kernel(sigma: f32) -> Vec<u32> {
    let sigma = f64::from(sigma);
    let r = (sigma * 3.0).ceil().max(1.0) as i32;
    let raw: Vec<f64> = (-r..=r)
        .map(|i| libm::exp(-f64::from(i * i) / (2.0 * sigma * sigma)))
        .collect();
    let total: f64 = raw.iter().sum();
    let mut weights: Vec<u32> = raw
        .iter()
        .map(|w| (w / total * 65536.0).round() as u32)
        .collect();
    // Put the rounding remainder on the centre tap so the kernel preserves flat areas exactly.
    let sum: u32 = weights.iter().sum();
    let centre = r as usize;
    weights[centre] = (weights[centre] + 65536).saturating_sub(sum);
    weights
}

/// Gaussian blur of standard deviation `sigma` pixels.
pub(crate) fn gaussian_blur<const N: usize>(plane: &mut Plane<'_, N>, sigma: f32) {
    let sigma = sigma.min(MAX_BLUR_MARGIN / 3.0);
    if sigma.is_nan() || sigma < 0.05 {
        return;
    }
    let mut tmp = vec![[0u8; N]; plane.data.len()];
    if sigma < 2.0 {
        let k = gaussian_kernel(sigma);
        convolve_rows(plane, &mut tmp, &k);
        convolve_columns(plane, &tmp, &k);
    } else {
        // Ping-pong between the plane and `tmp` so the sixth pass lands back in the plane.
        let [b0, b1, b2] = gaussian_boxes(sigma);
        let w = plane.width;
        box_rows(plane.data, &mut tmp, w, b0.0, b0.1);
        box_rows(&tmp, plane.data, w, b1.0, b1.1);
        box_rows(plane.data, &mut tmp, w, b2.0, b2.1);
        box_columns(&tmp, plane.data, w, b0.0, b0.1);
        box_columns(plane.data, &mut tmp, w, b1.0, b1.1);
        box_columns(&tmp, plane.data, w, b2.0, b2.1);
    }
}

/// Uniform blur over a `(2·radius + 1)²` window.
pub(crate) fn box_blur<const N: usize>(plane: &mut Plane<'_, N>, radius: f32) {
    let r = radius.max(0.0).round().min(MAX_BLUR_MARGIN) as usize;
    if r == 0 {
        return;
    }
    let mut tmp = vec![[0u8; N]; plane.data.len()];
    box_rows(plane.data, &mut tmp, plane.width, 2 * r + 1, r);
    box_columns(&tmp, plane.data, plane.width, 2 * r + 1, r);
}

/// `2^24 / size`, so `sum · recip >> 24` divides by the window size.
fn reciprocal(size: usize) -> u64 {
    ((1u64 << 24) + size as u64 / 2) / size as u64
}

/// Horizontal moving average: `out[x] = mean(in[x − shift ..= x − shift + size − 1])`, zero
/// outside the row.
fn box_rows<const N: usize>(
    input: &[[u8; N]],
    out: &mut [[u8; N]],
    width: usize,
    size: usize,
    shift: usize,
) {
    let recip = reciprocal(size);
    for (row_in, row_out) in input.chunks_exact(width).zip(out.chunks_exact_mut(width)) {
        let mut sum = [0u32; N];
        // Window for x = 0 covers [-shift, size - shift).
        for px in &row_in[..size.saturating_sub(shift).min(width)] {
            for (s, v) in sum.iter_mut().zip(px) {
                *s += u32::from(*v);
            }
        }
        for (x, out_px) in row_out.iter_mut().enumerate() {
            for (o, s) in out_px.iter_mut().zip(&sum) {
                *o = ((u64::from(*s) * recip + (1 << 23)) >> 24) as u8;
            }
            let add = x + size - shift;
            if add < width {
                for c in 0..N {
                    sum[c] += u32::from(row_in[add][c]);
                }
            }
            if x >= shift {
                let sub = x - shift;
                for c in 0..N {
                    sum[c] -= u32::from(row_in[sub][c]);
                }
            }
        }
    }
}

/// Vertical moving average, processed a row at a time so memory is walked in order.
fn box_columns<const N: usize>(
    input: &[[u8; N]],
    out: &mut [[u8; N]],
    width: usize,
    size: usize,
    shift: usize,
) {
    if width == 0 {
        return;
    }
    let height = input.len() / width;
    let recip = reciprocal(size);
    let mut sums = vec![0u32; width * N];
    for y in 0..size.saturating_sub(shift).min(height) {
        add_row(&mut sums, input[y * width..(y + 1) * width].as_flattened());
    }
    for y in 0..height {
        let out_row = out[y * width..(y + 1) * width].as_flattened_mut();
        for (o, s) in out_row.iter_mut().zip(&sums) {
            *o = ((u64::from(*s) * recip + (1 << 23)) >> 24) as u8;
        }
        let add = y + size - shift;
        if add < height {
            add_row(
                &mut sums,
                input[add * width..(add + 1) * width].as_flattened(),
            );
        }
        if y >= shift {
            let sub = y - shift;
            for (s, v) in sums
                .iter_mut()
                .zip(input[sub * width..(sub + 1) * width].as_flattened())
            {
                *s -= u32::from(*v);
            }
        }
    }
}

fn add_row(sums: &mut [u32], row: &[u8]) {
    for (s, v) in sums.iter_mut().zip(row) {
        *s += u32::from(*v);
    }
}

fn convolve_rows<const N: usize>(plane: &Plane<'_, N>, out: &mut [[u8; N]], k: &[u32]) {
    let r = k.len() / 2;
    let w = plane.width;
    for (row_in, row_out) in plane.data.chunks_exact(w).zip(out.chunks_exact_mut(w)) {
        for (x, out_px) in row_out.iter_mut().enumerate() {
            let mut acc = [0u32; N];
            for (j, kw) in k.iter().enumerate() {
                let sx = x as isize + j as isize - r as isize;
                if sx >= 0 && (sx as usize) < w {
                    for c in 0..N {
                        acc[c] += u32::from(row_in[sx as usize][c]) * kw;
                    }
                }
            }
            for (o, a) in out_px.iter_mut().zip(&acc) {
                *o = ((a + 32768) >> 16).min(255) as u8;
            }
        }
    }
}

fn convolve_columns<const N: usize>(plane: &mut Plane<'_, N>, input: &[[u8; N]], k: &[u32]) {
    let r = k.len() / 2;
    let w = plane.width;
    let h = plane.height;
    let mut acc = vec![0u32; w * N];
    for y in 0..h {
        acc.fill(0);
        for (j, kw) in k.iter().enumerate() {
            let sy = y as isize + j as isize - r as isize;
            if sy >= 0 && (sy as usize) < h {
                let row = input[sy as usize * w..(sy as usize + 1) * w].as_flattened();
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += u32::from(*v) * kw;
                }
            }
        }
        let out = plane.data[y * w..(y + 1) * w].as_flattened_mut();
        for (o, a) in out.iter_mut().zip(&acc) {
            *o = ((a + 32768) >> 16).min(255) as u8;
        }
    }
}

/// Re-establishes `colour ≤ alpha` after a blur's independent per-channel rounding.
pub(crate) fn fix_premultiplied(data: &mut [[u8; 4]]) {
    for p in data {
        p[0] = p[0].min(p[3]);
        p[1] = p[1].min(p[3]);
        p[2] = p[2].min(p[3]);
    }
}

/// The colour matrix of brightness → contrast → saturation → hue, rows of
/// `[r, g, b, alpha-offset]` in 1/4096 units, applied to premultiplied colour.
fn color_matrix(brightness: f32, contrast: f32, saturation: f32, hue: f32) -> [[i32; 4]; 3] {
    let (b, k, s) = (
        f64::from(brightness),
        f64::from(contrast),
        f64::from(saturation),
    );
    // Start with brightness then contrast: c' = k·(c + b) + 0.5·(1 − k).
    let mut m = [[0.0f64; 4]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        row[i] = k;
        row[3] = k * b + 0.5 * (1.0 - k);
    }
    // Saturation (Rec. 709 luma, as CSS `saturate()`).
    let (lr, lg, lb) = (0.2126, 0.7152, 0.0722);
    let sat = [
        [lr + (1.0 - lr) * s, lg - lg * s, lb - lb * s],
        [lr - lr * s, lg + (1.0 - lg) * s, lb - lb * s],
        [lr - lr * s, lg - lg * s, lb + (1.0 - lb) * s],
    ];
    // Hue rotation (CSS `hue-rotate()`).
    let rad = f64::from(hue).to_radians();
    let (cos, sin) = (libm::cos(rad), libm::sin(rad));
    let hue_m = [
        [
            0.213 + cos * 0.787 - sin * 0.213,
            0.715 - cos * 0.715 - sin * 0.715,
            0.072 - cos * 0.072 + sin * 0.928,
        ],
        [
            0.213 - cos * 0.213 + sin * 0.143,
            0.715 + cos * 0.285 + sin * 0.140,
            0.072 - cos * 0.072 - sin * 0.283,
        ],
        [
            0.213 - cos * 0.213 - sin * 0.787,
            0.715 - cos * 0.715 + sin * 0.715,
            0.072 + cos * 0.928 + sin * 0.072,
        ],
    ];
    let mul = |a: &[[f64; 3]; 3], m: &[[f64; 4]; 3]| {
        let mut out = [[0.0f64; 4]; 3];
        for i in 0..3 {
            for j in 0..4 {
                out[i][j] = (0..3).map(|k| a[i][k] * m[k][j]).sum();
            }
        }
        out
    };
    let m = mul(&hue_m, &mul(&sat, &m));
    let mut fixed = [[0i32; 4]; 3];
    for i in 0..3 {
        for j in 0..4 {
            fixed[i][j] = (m[i][j].clamp(-64.0, 64.0) * 4096.0).round() as i32;
        }
    }
    fixed
}

/// Brightness, contrast, saturation and hue as one integer colour matrix.
pub(crate) fn color_adjust(
    data: &mut [[u8; 4]],
    brightness: f32,
    contrast: f32,
    saturation: f32,
    hue: f32,
) {
    let finite = |v: f32, d: f32| if v.is_finite() { v } else { d };
    let m = color_matrix(
        finite(brightness, 0.0).clamp(-1.0, 1.0),
        finite(contrast, 1.0).clamp(0.0, 16.0),
        finite(saturation, 1.0).clamp(0.0, 16.0),
        finite(hue, 0.0) % 360.0,
    );
    for p in data {
        let a = i32::from(p[3]);
        if a == 0 {
            continue;
        }
        let (r, g, b) = (i32::from(p[0]), i32::from(p[1]), i32::from(p[2]));
        for (c, row) in m.iter().enumerate() {
            let v = (row[0] * r + row[1] * g + row[2] * b + row[3] * a + 2048) >> 12;
            p[c] = v.clamp(0, a) as u8;
        }
    }
}

/// Mixes colour towards `color` by `amount`, keeping alpha.
pub(crate) fn tint(data: &mut [[u8; 4]], color: Color, amount: f32) {
    let amount = if amount.is_finite() {
        amount.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let w = (amount * 256.0).round() as u32;
    if w == 0 {
        return;
    }
    let iw = 256 - w;
    let target = [u32::from(color.r), u32::from(color.g), u32::from(color.b)];
    for p in data {
        let a = u32::from(p[3]);
        for c in 0..3 {
            let t = mul255(target[c], a);
            p[c] = ((u32::from(p[c]) * iw + t * w + 128) >> 8) as u8;
        }
    }
}

/// Draws a blurred, offset, coloured copy of the layer's silhouette beneath it.
pub(crate) fn drop_shadow(data: &mut [[u8; 4]], width: usize, height: usize, shadow: &Shadow) {
    let mut alpha = vec![[0u8; 1]; data.len()];
    // Offsets beyond the layer move the silhouette out of it entirely; clamp so the index
    // arithmetic cannot overflow.
    let offset = |v: f32| {
        if v.is_finite() {
            v.round().clamp(-1e6, 1e6) as isize
        } else {
            0
        }
    };
    let (dx, dy) = (offset(shadow.dx), offset(shadow.dy));
    for y in 0..height as isize {
        let sy = y - dy;
        if sy < 0 || sy >= height as isize {
            continue;
        }
        for x in 0..width as isize {
            let sx = x - dx;
            if sx >= 0 && sx < width as isize {
                alpha[(y as usize) * width + x as usize][0] =
                    data[sy as usize * width + sx as usize][3];
            }
        }
    }
    let mut plane = Plane {
        width,
        height,
        data: &mut alpha,
    };
    if shadow.blur.is_finite() {
        gaussian_blur(&mut plane, shadow.blur);
    }
    let color = pack(premultiply([
        shadow.color.r,
        shadow.color.g,
        shadow.color.b,
        shadow.color.a,
    ]));
    for (p, a) in data.iter_mut().zip(alpha.iter()) {
        if a[0] == 0 {
            continue;
        }
        let s = scale_px(color, u32::from(a[0]));
        *p = unpack(over_px(pack(*p), s));
    }
}

/// Multiplies every pixel by a coverage value (0..=255).
pub(crate) fn apply_mask(data: &mut [[u8; 4]], mask: &[u8], invert: bool) {
    for (p, m) in data.iter_mut().zip(mask) {
        let m = if invert { 255 - *m } else { *m };
        if m != 255 {
            *p = unpack(scale_px(pack(*p), u32::from(m)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blurs_preserve_flat_areas_and_spread_points() {
        for sigma in [0.7f32, 1.5, 3.0, 8.0] {
            let (w, h) = (64, 64);
            let mut data = vec![[200u8, 100, 50, 255]; w * h];
            {
                let mut plane = Plane {
                    width: w,
                    height: h,
                    data: &mut data,
                };
                gaussian_blur(&mut plane, sigma);
            }
            // Centre is far from the transparent outside: unchanged.
            assert_eq!(data[32 * w + 32], [200, 100, 50, 255], "sigma {sigma}");

            let mut point = vec![[0u8; 1]; w * h];
            point[32 * w + 32] = [255];
            let mut plane = Plane {
                width: w,
                height: h,
                data: &mut point,
            };
            gaussian_blur(&mut plane, sigma);
            assert!(point[32 * w + 32][0] < 255);
            assert!(point[32 * w + 33][0] > 0);
        }
    }

    #[test]
    fn identity_colour_adjust_is_identity() {
        let mut data = vec![[10, 200, 30, 255], [5, 6, 7, 8], [0, 0, 0, 0]];
        let before = data.clone();
        color_adjust(&mut data, 0.0, 1.0, 1.0, 0.0);
        assert_eq!(data, before);
        color_adjust(&mut data, 0.0, 1.0, 0.0, 0.0);
        assert_eq!(data[0][0], data[0][1]);
    }
}
