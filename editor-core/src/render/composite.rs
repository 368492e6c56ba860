//! Integer compositing of premultiplied RGBA8 rows: source over and the W3C blend modes.
//!
//! Everything is exact integer arithmetic (or, for the few modes that need division or square
//! roots, scalar `f32` with only correctly rounded operations), so native and wasm32 builds
//! produce identical bytes whatever SIMD the compiler picks.

use crate::display::BlendMode;
use crate::image::mul255;

/// Packs a pixel so two channels share one `u32` with 8 bits of headroom each.
#[inline(always)]
pub(crate) fn pack(p: [u8; 4]) -> u32 {
    u32::from_le_bytes(p)
}

#[inline(always)]
pub(crate) fn unpack(v: u32) -> [u8; 4] {
    v.to_le_bytes()
}

/// Every channel times `m / 255`, rounded exactly like [`mul255`].
#[inline(always)]
pub(crate) fn scale_px(v: u32, m: u32) -> u32 {
    let rb = (v & 0x00FF_00FF) * m + 0x0080_0080;
    let rb = ((rb + ((rb >> 8) & 0x00FF_00FF)) >> 8) & 0x00FF_00FF;
    let ag = ((v >> 8) & 0x00FF_00FF) * m + 0x0080_0080;
    let ag = (ag + ((ag >> 8) & 0x00FF_00FF)) & 0xFF00_FF00;
    rb | ag
}

/// `a · (256 − w) + b · w`, divided by 256 with rounding, per channel; `w` in `0..=256`.
#[inline(always)]
pub(crate) fn lerp_px(a: u32, b: u32, w: u32) -> u32 {
    let iw = 256 - w;
    let rb = (((a & 0x00FF_00FF) * iw + (b & 0x00FF_00FF) * w + 0x0080_0080) >> 8) & 0x00FF_00FF;
    let ag =
        (((a >> 8) & 0x00FF_00FF) * iw + ((b >> 8) & 0x00FF_00FF) * w + 0x0080_0080) & 0xFF00_FF00;
    rb | ag
}

/// Source over: `s + d · (1 − αs)`.
#[inline(always)]
pub(crate) fn over_px(s: u32, d: u32) -> u32 {
    let sa = s >> 24;
    if sa == 255 {
        return s;
    }
    if sa == 0 {
        return d;
    }
    s + scale_px(d, 255 - sa)
}

/// Composites `src` onto `dst` pixel by pixel with `opacity` (0..=255) and a blend mode.
pub(crate) fn composite_row(dst: &mut [[u8; 4]], src: &[[u8; 4]], opacity: u32, mode: BlendMode) {
    match mode {
        BlendMode::Normal => {
            if opacity == 255 {
                over_row(dst, src);
            } else {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d = unpack(over_px(scale_px(pack(*s), opacity), pack(*d)));
                }
            }
        }
        _ => {
            for (d, s) in dst.iter_mut().zip(src) {
                let s = unpack(scale_px(pack(*s), opacity));
                if s[3] != 0 || matches!(mode, BlendMode::Add) {
                    *d = blend_px(mode, s, *d);
                }
            }
        }
    }
}

/// Source over at full opacity; transparent and opaque source pixels (most of a text or
/// shape layer) take the short paths.
fn over_row(dst: &mut [[u8; 4]], src: &[[u8; 4]]) {
    for (d, s) in dst.iter_mut().zip(src) {
        let sa = s[3];
        if sa == 255 {
            *d = *s;
        } else if sa != 0 {
            *d = unpack(pack(*s) + scale_px(pack(*d), 255 - u32::from(sa)));
        }
    }
}

/// Composites one constant (already opacity-scaled) colour onto a row.
pub(crate) fn composite_const(dst: &mut [[u8; 4]], src: [u8; 4], mode: BlendMode) {
    if src[3] == 0 {
        return;
    }
    match mode {
        BlendMode::Normal if src[3] == 255 => dst.fill(src),
        BlendMode::Normal => {
            let s = pack(src);
            let inv = 255 - u32::from(src[3]);
            for d in dst.iter_mut() {
                *d = unpack(s + scale_px(pack(*d), inv));
            }
        }
        _ => {
            for d in dst.iter_mut() {
                *d = blend_px(mode, src, *d);
            }
        }
    }
}

#[inline]
fn div255_round(x: i32) -> i32 {
    (x.max(0) + 127) / 255
}

/// One pixel of any blend mode, premultiplied in and out (W3C Compositing and Blending Level 1,
/// source-over compositing of the blended colour).
pub(crate) fn blend_px(mode: BlendMode, s: [u8; 4], d: [u8; 4]) -> [u8; 4] {
    let sa = i32::from(s[3]);
    let da = i32::from(d[3]);
    if mode == BlendMode::Add {
        return [
            s[0].saturating_add(d[0]),
            s[1].saturating_add(d[1]),
            s[2].saturating_add(d[2]),
            s[3].saturating_add(d[3]),
        ];
    }
    let out_a = sa + da - mul255(sa as u32, da as u32) as i32;
    let mut out = [0u8; 4];
    out[3] = out_a as u8;
    if matches!(
        mode,
        BlendMode::Hue | BlendMode::Saturation | BlendMode::Color | BlendMode::Luminosity
    ) {
        let mixed = non_separable(mode, s, d);
        for c in 0..3 {
            let sc = i32::from(s[c]);
            let dc = i32::from(d[c]);
            let v = sc * (255 - da) + dc * (255 - sa) + mixed[c];
            out[c] = div255_round(v).min(out_a) as u8;
        }
        return out;
    }
    for c in 0..3 {
        let sc = i32::from(s[c]);
        let dc = i32::from(d[c]);
        // `part` is αs·αb·B(cb, cs) in units of 255² (premultiplied form of each mode).
        let part = match mode {
            BlendMode::Normal | BlendMode::Add => sc * da,
            BlendMode::Multiply => sc * dc,
            BlendMode::Screen => sc * da + dc * sa - sc * dc,
            BlendMode::Overlay => hard_light(dc, da, sc, sa),
            BlendMode::HardLight => hard_light(sc, sa, dc, da),
            BlendMode::Darken => (sc * da).min(dc * sa),
            BlendMode::Lighten => (sc * da).max(dc * sa),
            BlendMode::Difference => (sc * da - dc * sa).abs(),
            BlendMode::Exclusion => sc * da + dc * sa - 2 * sc * dc,
            BlendMode::ColorDodge | BlendMode::ColorBurn | BlendMode::SoftLight => {
                float_part(mode, sc, sa, dc, da)
            }
            BlendMode::Hue | BlendMode::Saturation | BlendMode::Color | BlendMode::Luminosity => 0,
        };
        let v = sc * (255 - da) + dc * (255 - sa) + part;
        out[c] = div255_round(v).min(out_a) as u8;
    }
    out
}

/// Hard light of source `(sc, sa)` over backdrop `(dc, da)`, premultiplied, units of 255².
#[inline]
fn hard_light(sc: i32, sa: i32, dc: i32, da: i32) -> i32 {
    if 2 * sc <= sa {
        2 * sc * dc
    } else {
        sa * da - 2 * (da - dc) * (sa - sc)
    }
}

/// The modes whose formulas divide or take roots, evaluated on unpremultiplied values.
fn float_part(mode: BlendMode, sc: i32, sa: i32, dc: i32, da: i32) -> i32 {
    if sa == 0 || da == 0 {
        return 0;
    }
    let cs = sc as f32 / sa as f32;
    let cb = dc as f32 / da as f32;
    let b = match mode {
        BlendMode::ColorDodge => {
            if cb <= 0.0 {
                0.0
            } else if cs >= 1.0 {
                1.0
            } else {
                (cb / (1.0 - cs)).min(1.0)
            }
        }
        BlendMode::ColorBurn => {
            if cb >= 1.0 {
                1.0
            } else if cs <= 0.0 {
                0.0
            } else {
                1.0 - ((1.0 - cb) / cs).min(1.0)
            }
        }
        _ => {
            if cs <= 0.5 {
                cb - (1.0 - 2.0 * cs) * cb * (1.0 - cb)
            } else {
                let dcb = if cb <= 0.25 {
                    ((16.0 * cb - 12.0) * cb + 4.0) * cb
                } else {
                    cb.sqrt()
                };
                cb + (2.0 * cs - 1.0) * (dcb - cb)
            }
        }
    };
    ((sa * da) as f32 * b + 0.5) as i32
}

fn lum(c: [f32; 3]) -> f32 {
    0.3 * c[0] + 0.59 * c[1] + 0.11 * c[2]
}

fn clip_color(c: [f32; 3]) -> [f32; 3] {
    let l = lum(c);
    let n = c[0].min(c[1]).min(c[2]);
    let x = c[0].max(c[1]).max(c[2]);
    let mut out = c;
    if n < 0.0 && l - n > 0.0 {
        for v in &mut out {
            *v = l + (*v - l) * l / (l - n);
        }
    }
    if x > 1.0 && x - l > 0.0 {
        for v in &mut out {
            *v = l + (*v - l) * (1.0 - l) / (x - l);
        }
    }
    out
}

fn set_lum(c: [f32; 3], l: f32) -> [f32; 3] {
    let d = l - lum(c);
    clip_color([c[0] + d, c[1] + d, c[2] + d])
}

fn sat(c: [f32; 3]) -> f32 {
    c[0].max(c[1]).max(c[2]) - c[0].min(c[1]).min(c[2])
}

fn set_sat(c: [f32; 3], s: f32) -> [f32; 3] {
    let max = c[0].max(c[1]).max(c[2]);
    let min = c[0].min(c[1]).min(c[2]);
    let range = max - min;
    let mut out = [0.0; 3];
    if range > 0.0 {
        for i in 0..3 {
            out[i] = (c[i] - min) * s / range;
        }
    }
    out
}

/// αs·αb·B(cb, cs) for the non-separable modes, units of 255², per channel.
fn non_separable(mode: BlendMode, s: [u8; 4], d: [u8; 4]) -> [i32; 3] {
    let sa = i32::from(s[3]);
    let da = i32::from(d[3]);
    if sa == 0 || da == 0 {
        return [0; 3];
    }
    let un = |p: [u8; 4], a: i32| {
        [
            f32::from(p[0]) / a as f32,
            f32::from(p[1]) / a as f32,
            f32::from(p[2]) / a as f32,
        ]
    };
    let cs = un(s, sa);
    let cb = un(d, da);
    let b = match mode {
        BlendMode::Hue => set_lum(set_sat(cs, sat(cb)), lum(cb)),
        BlendMode::Saturation => set_lum(set_sat(cb, sat(cs)), lum(cb)),
        BlendMode::Color => set_lum(cs, lum(cb)),
        _ => set_lum(cb, lum(cs)),
    };
    let k = (sa * da) as f32;
    [
        (k * b[0].clamp(0.0, 1.0) + 0.5) as i32,
        (k * b[1].clamp(0.0, 1.0) + 0.5) as i32,
        (k * b[2].clamp(0.0, 1.0) + 0.5) as i32,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_and_lerp_match_scalar_maths() {
        let p = [200, 100, 50, 220];
        for m in [0u32, 1, 77, 128, 254, 255] {
            let got = unpack(scale_px(pack(p), m));
            for c in 0..4 {
                assert_eq!(u32::from(got[c]), mul255(u32::from(p[c]), m));
            }
        }
        let a = [10, 20, 30, 40];
        let b = [250, 240, 230, 255];
        assert_eq!(unpack(lerp_px(pack(a), pack(b), 0)), a);
        assert_eq!(unpack(lerp_px(pack(a), pack(b), 256)), b);
        assert_eq!(unpack(lerp_px(pack(a), pack(b), 128)), [130, 130, 130, 148]);
    }

    #[test]
    fn blend_modes_keep_premultiplied_invariant() {
        let samples = [
            [0, 0, 0, 0],
            [10, 200, 30, 200],
            [255, 255, 255, 255],
            [0, 0, 0, 255],
            [60, 60, 10, 64],
            [128, 0, 255, 255],
        ];
        for mode in BlendMode::ALL {
            for s in samples {
                for d in samples {
                    let o = blend_px(mode, s, d);
                    assert!(
                        o[0] <= o[3] && o[1] <= o[3] && o[2] <= o[3],
                        "{mode:?} {o:?}"
                    );
                }
            }
        }
        // Normal through the general formula equals the fast path.
        let s = [60, 60, 10, 64];
        let d = [128, 0, 255, 255];
        assert_eq!(
            blend_px(BlendMode::Normal, s, d),
            unpack(over_px(pack(s), pack(d)))
        );
        // Multiply by white is identity on an opaque backdrop.
        assert_eq!(blend_px(BlendMode::Multiply, [255, 255, 255, 255], d), d);
    }
}
