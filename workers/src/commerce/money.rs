//! Money as integers: ISO 4217 currencies with their minor-unit exponents, basis points, and the
//! largest-remainder split that never creates or loses a minor unit.

/// The ISO 4217 currencies the platform sells in, with the number of digits of their minor unit
/// (USD 2: cents; JPY 0; KWD 3). A fixed list: an unknown code is refused, never guessed.
pub const CURRENCIES: &[(&str, u8)] = &[
    ("AED", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EGP", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("MXN", 2),
    ("MYR", 2),
    ("NGN", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PHP", 2),
    ("PLN", 2),
    ("QAR", 2),
    ("RON", 2),
    ("SAR", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TND", 3),
    ("TRY", 2),
    ("TWD", 2),
    ("UAH", 2),
    ("USD", 2),
    ("VND", 0),
    ("ZAR", 2),
];

/// Basis points in a whole: 10 000 bps = 100 %.
pub const WHOLE_BPS: u32 = 10_000;

/// The minor-unit exponent of an upper-case ISO 4217 code, if the platform knows it.
pub fn currency_exponent(code: &str) -> Option<u8> {
    CURRENCIES
        .iter()
        .find(|(known, _)| *known == code)
        .map(|(_, exponent)| *exponent)
}

/// `amount × bps / 10 000`, rounded down (towards zero for positive amounts).
pub fn bps_of(amount: i64, bps: u32) -> i64 {
    ((amount as i128 * bps as i128) / WHOLE_BPS as i128) as i64
}

/// Splits `total` minor units in proportion to `weights` by the largest-remainder method: each
/// part gets the floor of its exact share, and the units left over go one each to the parts
/// with the largest fractional remainders (ties to the earlier part). The parts always sum to
/// `total` exactly; a negative total splits as the negation of its absolute value. `None` when
/// every weight is zero (there is nothing to split by) unless the total is zero too.
pub fn split_largest_remainder(total: i64, weights: &[u64]) -> Option<Vec<i64>> {
    let weight_sum: u128 = weights.iter().map(|w| *w as u128).sum();
    if weight_sum == 0 {
        return (total == 0).then(|| vec![0; weights.len()]);
    }
    let sign = if total < 0 { -1 } else { 1 };
    let magnitude = total.unsigned_abs() as u128;
    let mut parts: Vec<i64> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    let mut assigned: u128 = 0;
    for (index, weight) in weights.iter().enumerate() {
        let exact = magnitude * *weight as u128;
        let floor = exact / weight_sum;
        assigned += floor;
        parts.push(floor as i64);
        remainders.push((exact % weight_sum, index));
    }
    let mut left = (magnitude - assigned) as usize;
    // Largest remainder first; the earlier part wins a tie, so the split is deterministic.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (remainder, index) in remainders {
        if left == 0 {
            break;
        }
        if remainder == 0 && weights[index] == 0 {
            continue;
        }
        parts[index] += 1;
        left -= 1;
    }
    Some(parts.into_iter().map(|part| part * sign).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_currencies_and_exponents() {
        assert_eq!(currency_exponent("USD"), Some(2));
        assert_eq!(currency_exponent("JPY"), Some(0));
        assert_eq!(currency_exponent("KWD"), Some(3));
        assert_eq!(currency_exponent("usd"), None);
        assert_eq!(currency_exponent("XYZ"), None);
    }

    #[test]
    fn largest_remainder_gives_leftover_units_to_the_largest_fractions() {
        // 3469 by 10 % / 60 % / 30 %: exact 346.9 / 2081.4 / 1040.7 → 347 / 2081 / 1041.
        assert_eq!(
            split_largest_remainder(3469, &[1000, 6000, 3000]),
            Some(vec![347, 2081, 1041])
        );
        // Thirds of 100: the tie goes to the first part.
        assert_eq!(
            split_largest_remainder(100, &[1, 1, 1]),
            Some(vec![34, 33, 33])
        );
        assert_eq!(
            split_largest_remainder(-100, &[1, 1, 1]),
            Some(vec![-34, -33, -33])
        );
        assert_eq!(split_largest_remainder(5, &[0, 0]), None);
        assert_eq!(split_largest_remainder(0, &[0, 0]), Some(vec![0, 0]));
        assert_eq!(split_largest_remainder(7, &[0, 3]), Some(vec![0, 7]));
    }

    proptest! {
        /// A split never creates or loses a minor unit, and no part strays more than one unit
        /// from its exact share.
        #[test]
        fn splits_never_lose_a_minor_unit(
            total in -1_000_000_000_000i64..1_000_000_000_000i64,
            weights in proptest::collection::vec(0u64..1_000_000, 1..12),
        ) {
            let weight_sum: u128 = weights.iter().map(|w| *w as u128).sum();
            prop_assume!(weight_sum > 0);
            let parts = split_largest_remainder(total, &weights).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), total);
            for (part, weight) in parts.iter().zip(&weights) {
                let exact = total as f64 * *weight as f64 / weight_sum as f64;
                prop_assert!((*part as f64 - exact).abs() < 1.0 + 1e-6 * exact.abs());
                if *weight == 0 {
                    prop_assert_eq!(*part, 0);
                }
            }
        }
    }
}
