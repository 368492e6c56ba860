//! Statistics for experiments, free of I/O: confidence intervals of conversion rates and of
//! their differences, and the sample-ratio-mismatch (SRM) check.

/// z for a two-sided 95 % interval.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// p-value below which an assignment is called broken (a sample ratio mismatch).
pub const SRM_P_THRESHOLD: f64 = 0.001;

/// Wilson score interval of `successes` out of `trials` at `z`; `(0, 0)` for no trials.
pub fn wilson(successes: u64, trials: u64, z: f64) -> (f64, f64) {
    if trials == 0 {
        return (0.0, 0.0);
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z * ((p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt()) / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Normal-approximation interval of the difference of two rates, `b − a`.
pub fn difference_interval(
    successes_a: u64,
    trials_a: u64,
    successes_b: u64,
    trials_b: u64,
    z: f64,
) -> Option<(f64, f64)> {
    if trials_a == 0 || trials_b == 0 {
        return None;
    }
    let pa = successes_a as f64 / trials_a as f64;
    let pb = successes_b as f64 / trials_b as f64;
    let se = (pa * (1.0 - pa) / trials_a as f64 + pb * (1.0 - pb) / trials_b as f64).sqrt();
    let difference = pb - pa;
    Some((difference - z * se, difference + z * se))
}

/// The outcome of a sample-ratio-mismatch check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Srm {
    /// Pearson's chi-square statistic.
    pub chi_square: f64,
    /// Degrees of freedom (variants − 1).
    pub degrees_of_freedom: u32,
    /// Probability of a split at least this uneven under the intended weights.
    pub p_value: f64,
    /// Whether `p_value` is below [`SRM_P_THRESHOLD`]: the assignment is broken.
    pub mismatch: bool,
}

/// Chi-square goodness of fit of `observed` counts against intended `weights` (any scale).
/// `None` with fewer than two variants, no observations or a non-positive weight.
pub fn srm(observed: &[u64], weights: &[f64]) -> Option<Srm> {
    if observed.len() < 2 || observed.len() != weights.len() {
        return None;
    }
    let total: u64 = observed.iter().sum();
    let weight_sum: f64 = weights.iter().sum();
    if total == 0 || weights.iter().any(|w| w.is_nan() || *w <= 0.0) || weight_sum <= 0.0 {
        return None;
    }
    let chi_square: f64 = observed
        .iter()
        .zip(weights)
        .map(|(&o, &w)| {
            let expected = total as f64 * w / weight_sum;
            let delta = o as f64 - expected;
            delta * delta / expected
        })
        .sum();
    let degrees_of_freedom = (observed.len() - 1) as u32;
    let p_value = chi_square_survival(chi_square, degrees_of_freedom as f64);
    Some(Srm {
        chi_square,
        degrees_of_freedom,
        p_value,
        mismatch: p_value < SRM_P_THRESHOLD,
    })
}

/// P(X ≥ x) for X ~ χ²(k): the regularised upper incomplete gamma Q(k/2, x/2).
pub fn chi_square_survival(x: f64, k: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    upper_regularised_gamma(k / 2.0, x / 2.0)
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos approximation (g = 7, n = 9): ~15 significant digits for x > 0.
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEFFICIENTS[0];
    for (i, c) in COEFFICIENTS.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + 7.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

fn upper_regularised_gamma(a: f64, x: f64) -> f64 {
    if x < a + 1.0 {
        // Series for the lower function, then its complement.
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut n = a;
        for _ in 0..500 {
            n += 1.0;
            term *= x / n;
            sum += term;
            if term.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        let lower = sum * (-x + a * x.ln() - ln_gamma(a)).exp();
        (1.0 - lower).clamp(0.0, 1.0)
    } else {
        // Continued fraction (modified Lentz) for the upper function.
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..500 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-15 {
                break;
            }
        }
        ((-x + a * x.ln() - ln_gamma(a)).exp() * h).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn wilson_matches_published_values() {
        // 81 of 263: Wilson 95 % interval (0.2553, 0.3662), as tabulated by Newcombe (1998).
        let (low, high) = wilson(81, 263, Z_95);
        assert!(close(low, 0.2553, 5e-4), "{low}");
        assert!(close(high, 0.3662, 5e-4), "{high}");
        assert_eq!(wilson(0, 0, Z_95), (0.0, 0.0));
        let (low, high) = wilson(0, 10, Z_95);
        assert_eq!(low, 0.0);
        assert!(close(high, 0.2775, 5e-4), "{high}");
    }

    #[test]
    fn chi_square_survival_matches_tables() {
        // Critical values: χ²(1) = 3.841 at 0.05, 10.828 at 0.001; χ²(2) = 5.991 at 0.05.
        assert!(close(chi_square_survival(3.841, 1.0), 0.05, 1e-4));
        assert!(close(chi_square_survival(10.828, 1.0), 0.001, 1e-5));
        assert!(close(chi_square_survival(5.991, 2.0), 0.05, 1e-4));
        assert!(close(chi_square_survival(0.0, 3.0), 1.0, 0.0));
        // χ²(2) has survival exp(−x/2) exactly.
        assert!(close(
            chi_square_survival(20.0, 2.0),
            (-10.0f64).exp(),
            1e-12
        ));
    }

    #[test]
    fn srm_fires_on_a_skewed_split_only() {
        let skewed = srm(&[600, 400], &[50.0, 50.0]).unwrap();
        assert!(close(skewed.chi_square, 40.0, 1e-9));
        assert!(skewed.mismatch, "{skewed:?}");
        let fair = srm(&[5_050, 4_950], &[50.0, 50.0]).unwrap();
        assert!(!fair.mismatch, "{fair:?}");
        // Uneven intended weights are honoured: 70/30 observed for a 70/30 flag is fine.
        let uneven = srm(&[7_030, 2_970], &[70.0, 30.0]).unwrap();
        assert!(!uneven.mismatch, "{uneven:?}");
        assert!(srm(&[7_030, 2_970], &[50.0, 50.0]).unwrap().mismatch);
        assert!(srm(&[10], &[1.0]).is_none());
        assert!(srm(&[0, 0], &[1.0, 1.0]).is_none());
    }

    #[test]
    fn difference_interval_brackets_the_difference() {
        let (low, high) = difference_interval(100, 1_000, 150, 1_000, Z_95).unwrap();
        assert!(low > 0.0 && high < 0.1 && low < 0.05 && high > 0.05);
        assert!(difference_interval(0, 0, 1, 2, Z_95).is_none());
    }
}
