//! Discounts, as pure functions: whether a code may be used on an order, and how much it takes
//! off each line (largest remainder, so the lines' discounts add up to the order's exactly).

use super::money::{bps_of, split_largest_remainder, WHOLE_BPS};

/// What a discount takes off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscountValue {
    /// A percentage of the eligible lines, in basis points (1–10 000).
    Percent(u32),
    /// A fixed amount in the order's currency, at most the eligible lines' total.
    Fixed(i64),
}

/// A discount code's rules.
#[derive(Debug, Clone)]
pub struct Discount {
    /// Percentage or fixed amount.
    pub value: DiscountValue,
    /// Currency of a fixed amount.
    pub currency: Option<String>,
    /// Products it applies to; `None` for every product of the seller.
    pub product_ids: Option<Vec<String>>,
    /// Valid from (ms since the epoch), inclusive.
    pub starts_at: Option<i64>,
    /// Valid until (ms since the epoch), exclusive.
    pub ends_at: Option<i64>,
    /// Redemptions allowed in total.
    pub max_redemptions: Option<i64>,
    /// Redemptions allowed per buyer.
    pub max_per_buyer: Option<i64>,
    /// Switched on by the seller.
    pub active: bool,
}

/// One order line a discount may apply to.
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// The line's product.
    pub product_id: &'a str,
    /// Its amount before discount.
    pub amount: i64,
    /// Whether discounts may apply (bundle lines already carry the bundle's price: no).
    pub discountable: bool,
}

/// Why a code cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscountError {
    /// The seller switched it off.
    #[error("this discount code is not active")]
    Inactive,
    /// Before its start.
    #[error("this discount code is not valid yet")]
    NotStarted,
    /// After its end.
    #[error("this discount code has expired")]
    Expired,
    /// Every redemption is used.
    #[error("this discount code has been used up")]
    Exhausted,
    /// This buyer used it as often as allowed.
    #[error("you have already used this discount code as often as allowed")]
    BuyerLimit,
    /// A fixed amount in another currency.
    #[error("this discount code is for another currency")]
    CurrencyMismatch,
    /// No line of the order is in its scope.
    #[error("this discount code does not apply to anything in this order")]
    NotApplicable,
}

impl DiscountError {
    /// The API error code.
    pub fn code(&self) -> &'static str {
        match self {
            DiscountError::Inactive => "discount_inactive",
            DiscountError::NotStarted => "discount_not_started",
            DiscountError::Expired => "discount_expired",
            DiscountError::Exhausted => "discount_exhausted",
            DiscountError::BuyerLimit => "discount_limit_reached",
            DiscountError::CurrencyMismatch => "discount_currency_mismatch",
            DiscountError::NotApplicable => "discount_not_applicable",
        }
    }
}

/// Redemptions so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// By everyone.
    pub total: i64,
    /// By this buyer.
    pub by_buyer: i64,
}

/// The discount of each line of an order in `currency` at `now`, or why the code cannot be used.
pub fn apply(
    discount: &Discount,
    lines: &[Line<'_>],
    currency: &str,
    now: i64,
    usage: Usage,
) -> Result<Vec<i64>, DiscountError> {
    if !discount.active {
        return Err(DiscountError::Inactive);
    }
    if discount.starts_at.is_some_and(|start| now < start) {
        return Err(DiscountError::NotStarted);
    }
    if discount.ends_at.is_some_and(|end| now >= end) {
        return Err(DiscountError::Expired);
    }
    if discount
        .max_redemptions
        .is_some_and(|max| usage.total >= max)
    {
        return Err(DiscountError::Exhausted);
    }
    if discount
        .max_per_buyer
        .is_some_and(|max| usage.by_buyer >= max)
    {
        return Err(DiscountError::BuyerLimit);
    }
    if let DiscountValue::Fixed(_) = discount.value {
        if discount.currency.as_deref() != Some(currency) {
            return Err(DiscountError::CurrencyMismatch);
        }
    }
    let eligible: Vec<bool> = lines
        .iter()
        .map(|line| {
            line.discountable
                && line.amount > 0
                && discount
                    .product_ids
                    .as_ref()
                    .is_none_or(|ids| ids.iter().any(|id| id == line.product_id))
        })
        .collect();
    let weights: Vec<u64> = lines
        .iter()
        .zip(&eligible)
        .map(|(line, ok)| if *ok { line.amount as u64 } else { 0 })
        .collect();
    let eligible_total: i64 = weights.iter().map(|w| *w as i64).sum();
    if eligible_total == 0 {
        return Err(DiscountError::NotApplicable);
    }
    let off = match discount.value {
        DiscountValue::Percent(bps) => bps_of(eligible_total, bps.min(WHOLE_BPS)),
        DiscountValue::Fixed(amount) => amount.clamp(0, eligible_total),
    };
    Ok(split_largest_remainder(off, &weights).unwrap_or_else(|| vec![0; lines.len()]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn percent(bps: u32) -> Discount {
        Discount {
            value: DiscountValue::Percent(bps),
            currency: None,
            product_ids: None,
            starts_at: Some(1_000),
            ends_at: Some(2_000),
            max_redemptions: Some(10),
            max_per_buyer: Some(1),
            active: true,
        }
    }

    fn line(product_id: &str, amount: i64) -> Line<'_> {
        Line {
            product_id,
            amount,
            discountable: true,
        }
    }

    #[test]
    fn percent_and_fixed_discounts_split_over_lines() {
        let lines = [line("prd_a", 5000), line("prd_b", 1000)];
        assert_eq!(
            apply(&percent(2000), &lines, "USD", 1500, Usage::default()),
            Ok(vec![1000, 200])
        );
        let mut fixed = percent(0);
        fixed.value = DiscountValue::Fixed(700);
        fixed.currency = Some("USD".into());
        // 700 in proportion 5:1 → 583.3 / 116.7 → 583 / 117.
        assert_eq!(
            apply(&fixed, &lines, "USD", 1500, Usage::default()),
            Ok(vec![583, 117])
        );
        assert_eq!(
            apply(&fixed, &lines, "EUR", 1500, Usage::default()),
            Err(DiscountError::CurrencyMismatch)
        );
        fixed.value = DiscountValue::Fixed(1_000_000);
        assert_eq!(
            apply(&fixed, &lines, "USD", 1500, Usage::default()),
            Ok(vec![5000, 1000]),
            "never more than the lines"
        );
    }

    #[test]
    fn abuse_is_refused() {
        let lines = [line("prd_a", 5000)];
        let code = percent(2000);
        let at = |now| apply(&code, &lines, "USD", now, Usage::default());
        assert_eq!(at(999), Err(DiscountError::NotStarted));
        assert_eq!(at(2000), Err(DiscountError::Expired));
        let used = |total, by_buyer| apply(&code, &lines, "USD", 1500, Usage { total, by_buyer });
        assert_eq!(used(10, 0), Err(DiscountError::Exhausted));
        assert_eq!(used(3, 1), Err(DiscountError::BuyerLimit));
        let mut scoped = percent(2000);
        scoped.product_ids = Some(vec!["prd_other".into()]);
        assert_eq!(
            apply(&scoped, &lines, "USD", 1500, Usage::default()),
            Err(DiscountError::NotApplicable)
        );
        let bundle_line = [Line {
            product_id: "prd_a",
            amount: 5000,
            discountable: false,
        }];
        assert_eq!(
            apply(&percent(2000), &bundle_line, "USD", 1500, Usage::default()),
            Err(DiscountError::NotApplicable)
        );
        let mut off = percent(2000);
        off.active = false;
        assert_eq!(
            apply(&off, &lines, "USD", 1500, Usage::default()),
            Err(DiscountError::Inactive)
        );
    }

    proptest! {
        /// A discount never exceeds a line, and the lines' discounts add up to the order's.
        #[test]
        fn discounts_never_exceed_lines(
            amounts in proptest::collection::vec(0i64..1_000_000, 1..6),
            bps in 1u32..=10_000,
            fixed in 1i64..2_000_000,
        ) {
            let ids: Vec<String> = (0..amounts.len()).map(|i| format!("prd_{i}")).collect();
            let lines: Vec<Line> = ids.iter().zip(&amounts).map(|(id, a)| line(id, *a)).collect();
            let total: i64 = amounts.iter().sum();
            prop_assume!(total > 0);
            let mut code = percent(bps);
            let parts = apply(&code, &lines, "USD", 1500, Usage::default()).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), bps_of(total, bps));
            code.value = DiscountValue::Fixed(fixed);
            code.currency = Some("USD".into());
            let parts = apply(&code, &lines, "USD", 1500, Usage::default()).unwrap();
            prop_assert_eq!(parts.iter().sum::<i64>(), fixed.min(total));
            for (part, amount) in parts.iter().zip(&amounts) {
                prop_assert!(*part >= 0 && part <= amount);
            }
        }
    }
}
