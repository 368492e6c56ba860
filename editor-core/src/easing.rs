//! Easing curves for keyframes and transitions.
//!
//! Curves map progress `t ∈ [0, 1]` (time through a segment) to eased progress. Cubic Bézier
//! curves are solved the way browsers solve CSS `cubic-bezier()` (Newton's method with a
//! bisection fallback), so an editor preview written with CSS transitions and our frames agree.
//! Springs are physical rather than normalised: they run in seconds from the segment start, may
//! overshoot, and jump to the target at the next keyframe if they have not settled by then.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a value travels from one keyframe to the next (set on the earlier keyframe).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Easing {
    /// Constant speed.
    #[default]
    Linear,
    /// Keeps the earlier value until the next keyframe, then jumps.
    Hold,
    /// CSS `ease`: `cubic-bezier(0.25, 0.1, 0.25, 1)`.
    Ease,
    /// CSS `ease-in`: `cubic-bezier(0.42, 0, 1, 1)`.
    EaseIn,
    /// CSS `ease-out`: `cubic-bezier(0, 0, 0.58, 1)`.
    EaseOut,
    /// CSS `ease-in-out`: `cubic-bezier(0.42, 0, 0.58, 1)`.
    EaseInOut,
    /// CSS `cubic-bezier(x1, y1, x2, y2)`: a curve from (0, 0) to (1, 1) with two control points.
    CubicBezier {
        /// First control point, time axis, `0.0..=1.0`.
        x1: f64,
        /// First control point, progress axis (may leave `0..1` to overshoot).
        y1: f64,
        /// Second control point, time axis, `0.0..=1.0`.
        x2: f64,
        /// Second control point, progress axis (may leave `0..1` to overshoot).
        y2: f64,
    },
    /// A damped harmonic oscillator released from the earlier value towards the later one.
    Spring {
        /// Spring stiffness `k` (> 0), e.g. 100.
        stiffness: f64,
        /// Damping coefficient `c` (> 0), e.g. 10. Critical damping is `2·√(k·m)`.
        damping: f64,
        /// Mass `m` (> 0), e.g. 1.
        mass: f64,
    },
}

impl Easing {
    /// Eased progress for `t ∈ [0, 1]` through a segment lasting `segment_seconds`.
    ///
    /// Only springs use the duration (they run in real time). `t` outside `0..=1` is clamped.
    pub fn apply(&self, t: f64, segment_seconds: f64) -> f64 {
        let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
        match *self {
            Easing::Linear => t,
            Easing::Hold => {
                if t >= 1.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Easing::Ease => cubic_bezier(0.25, 0.1, 0.25, 1.0, t),
            Easing::EaseIn => cubic_bezier(0.42, 0.0, 1.0, 1.0, t),
            Easing::EaseOut => cubic_bezier(0.0, 0.0, 0.58, 1.0, t),
            Easing::EaseInOut => cubic_bezier(0.42, 0.0, 0.58, 1.0, t),
            Easing::CubicBezier { x1, y1, x2, y2 } => cubic_bezier(x1, y1, x2, y2, t),
            Easing::Spring {
                stiffness,
                damping,
                mass,
            } => {
                if t >= 1.0 {
                    1.0
                } else {
                    spring(stiffness, damping, mass, t * segment_seconds)
                }
            }
        }
    }

    /// Why the parameters are unusable, if they are.
    pub fn problem(&self) -> Option<String> {
        match *self {
            Easing::CubicBezier { x1, y1, x2, y2 } => {
                if ![x1, y1, x2, y2].iter().all(|v| v.is_finite()) {
                    Some("cubic bezier control points must be finite".into())
                } else if !(0.0..=1.0).contains(&x1) || !(0.0..=1.0).contains(&x2) {
                    Some("cubic bezier x1 and x2 must lie in 0..=1".into())
                } else if y1.abs() > 100.0 || y2.abs() > 100.0 {
                    Some("cubic bezier y1 and y2 must lie in -100..=100".into())
                } else {
                    None
                }
            }
            Easing::Spring {
                stiffness,
                damping,
                mass,
            } => {
                let ok = |v: f64| v.is_finite() && v > 0.0 && v <= 1e6;
                if ok(stiffness) && ok(damping) && ok(mass) {
                    None
                } else {
                    Some("spring stiffness, damping and mass must be in (0, 1e6]".into())
                }
            }
            _ => None,
        }
    }
}

/// Solves a CSS `cubic-bezier(x1, y1, x2, y2)` at time `x`, like WebKit's `UnitBezier`.
pub fn cubic_bezier(x1: f64, y1: f64, x2: f64, y2: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    // Polynomial coefficients of B(s) = a·s³ + b·s² + c·s for each axis.
    let cx = 3.0 * x1;
    let bx = 3.0 * (x2 - x1) - cx;
    let ax = 1.0 - cx - bx;
    let cy = 3.0 * y1;
    let by = 3.0 * (y2 - y1) - cy;
    let ay = 1.0 - cy - by;
    let sample_x = |s: f64| ((ax * s + bx) * s + cx) * s;
    let sample_y = |s: f64| ((ay * s + by) * s + cy) * s;
    let slope_x = |s: f64| (3.0 * ax * s + 2.0 * bx) * s + cx;

    const EPSILON: f64 = 1e-9;
    let mut s = x;
    for _ in 0..8 {
        let error = sample_x(s) - x;
        if error.abs() < EPSILON {
            return sample_y(s);
        }
        let slope = slope_x(s);
        if slope.abs() < 1e-6 {
            break;
        }
        s -= error / slope;
    }
    // Newton stalled (flat slope) or wandered: bisection always converges because x(s) is
    // monotonic when x1, x2 ∈ [0, 1].
    let (mut low, mut high) = (0.0, 1.0);
    s = x;
    for _ in 0..64 {
        let value = sample_x(s);
        if (value - x).abs() < EPSILON {
            break;
        }
        if x > value {
            low = s;
        } else {
            high = s;
        }
        s = (low + high) / 2.0;
    }
    sample_y(s)
}

/// Progress of a unit spring released at rest from 0 towards 1, after `seconds`.
///
/// Uses `libm` rather than the platform's maths library so native and wasm32 builds produce the
/// same bits (and so the same rendered frames).
pub fn spring(stiffness: f64, damping: f64, mass: f64, seconds: f64) -> f64 {
    if seconds <= 0.0 {
        return 0.0;
    }
    let omega = (stiffness / mass).sqrt();
    let zeta = damping / (2.0 * (stiffness * mass).sqrt());
    // Displacement from the target, starting at -1 with zero velocity.
    let displacement = if zeta < 1.0 {
        let omega_d = omega * (1.0 - zeta * zeta).sqrt();
        let envelope = libm::exp(-zeta * omega * seconds);
        -envelope
            * (libm::cos(omega_d * seconds)
                + (zeta * omega / omega_d) * libm::sin(omega_d * seconds))
    } else if zeta == 1.0 {
        -(1.0 + omega * seconds) * libm::exp(-omega * seconds)
    } else {
        let root = (zeta * zeta - 1.0).sqrt();
        let r1 = -omega * (zeta - root);
        let r2 = -omega * (zeta + root);
        let a = r2 / (r1 - r2);
        let b = -1.0 - a;
        a * libm::exp(r1 * seconds) + b * libm::exp(r2 * seconds)
    };
    let progress = 1.0 + displacement;
    if progress.is_finite() {
        progress
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn css_ease_matches_browser_values() {
        // Reference values: the exact curve solved by bisection to machine precision.
        let ease = Easing::Ease;
        assert!(close(ease.apply(0.5, 1.0), 0.802_403_387_584_857, 1e-6));
        assert!(close(ease.apply(0.25, 1.0), 0.408_510_591_355_395_86, 1e-6));
        assert!(close(
            Easing::EaseIn.apply(0.5, 1.0),
            0.315_356_812_572_539_45,
            1e-6
        ));
        assert_eq!(ease.apply(0.0, 1.0), 0.0);
        assert_eq!(ease.apply(1.0, 1.0), 1.0);
    }

    #[test]
    fn symmetric_curves_pass_through_the_midpoint() {
        assert!(close(Easing::EaseInOut.apply(0.5, 1.0), 0.5, 1e-9));
        let linear_bezier = Easing::CubicBezier {
            x1: 0.0,
            y1: 0.0,
            x2: 1.0,
            y2: 1.0,
        };
        for i in 0..=10 {
            let t = f64::from(i) / 10.0;
            assert!(close(linear_bezier.apply(t, 1.0), t, 1e-9));
        }
        // ease-in and ease-out are mirror images: in(t) = 1 - out(1 - t).
        for i in 1..10 {
            let t = f64::from(i) / 10.0;
            let mirrored = 1.0 - Easing::EaseOut.apply(1.0 - t, 1.0);
            assert!(close(Easing::EaseIn.apply(t, 1.0), mirrored, 1e-6));
        }
    }

    #[test]
    fn ease_in_is_slow_then_fast_and_ease_out_the_reverse() {
        assert!(Easing::EaseIn.apply(0.5, 1.0) < 0.5);
        assert!(Easing::EaseOut.apply(0.5, 1.0) > 0.5);
        assert!(close(
            Easing::EaseOut.apply(0.5, 1.0),
            0.684_643_187_427_460_6,
            1e-6
        ));
    }

    #[test]
    fn overshooting_bezier_leaves_the_unit_range() {
        let back_out = Easing::CubicBezier {
            x1: 0.34,
            y1: 1.56,
            x2: 0.64,
            y2: 1.0,
        };
        assert!(back_out.apply(0.6, 1.0) > 1.0);
    }

    #[test]
    fn hold_keeps_the_start_value() {
        assert_eq!(Easing::Hold.apply(0.0, 1.0), 0.0);
        assert_eq!(Easing::Hold.apply(0.999, 1.0), 0.0);
        assert_eq!(Easing::Hold.apply(1.0, 1.0), 1.0);
    }

    #[test]
    fn springs_settle_on_the_target() {
        for (stiffness, damping) in [(100.0, 10.0), (100.0, 20.0), (100.0, 40.0)] {
            let settled = spring(stiffness, damping, 1.0, 10.0);
            assert!(
                close(settled, 1.0, 1e-4),
                "{stiffness}/{damping}: {settled}"
            );
            assert_eq!(spring(stiffness, damping, 1.0, 0.0), 0.0);
        }
        // An underdamped spring overshoots; a critically damped one never does.
        let peak = (1..200)
            .map(|i| spring(100.0, 5.0, 1.0, f64::from(i) / 100.0))
            .fold(0.0, f64::max);
        assert!(peak > 1.0);
        let critical = (1..400)
            .map(|i| spring(100.0, 20.0, 1.0, f64::from(i) / 100.0))
            .fold(0.0, f64::max);
        assert!(critical <= 1.0 + 1e-12);
        // Through `apply`, the segment end always lands exactly on the target.
        let easing = Easing::Spring {
            stiffness: 100.0,
            damping: 10.0,
            mass: 1.0,
        };
        assert_eq!(easing.apply(1.0, 0.1), 1.0);
        assert!(close(easing.apply(0.999, 100.0), 1.0, 1e-6));
    }

    #[test]
    fn invalid_parameters_are_reported() {
        let bad = Easing::CubicBezier {
            x1: 1.5,
            y1: 0.0,
            x2: 0.5,
            y2: 1.0,
        };
        assert!(bad.problem().is_some());
        let bad_spring = Easing::Spring {
            stiffness: 0.0,
            damping: 1.0,
            mass: 1.0,
        };
        assert!(bad_spring.problem().is_some());
        assert!(Easing::Ease.problem().is_none());
    }
}
