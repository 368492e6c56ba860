//! Monetization & Commerce (module 04): the catalog (products, prices, discounts, bundles),
//! orders and checkout through a payment provider (Stripe), Stripe webhooks, fulfilment into
//! licences, the double-entry ledger with revenue shares and affiliate commissions, refunds and
//! disputes, and payouts.
//!
//! # Layers
//! - Pure, natively tested: [`money`] (ISO 4217 currencies, largest-remainder splits),
//!   [`discount`] (code rules and per-line discounts), [`ledger`] (transactions that sum to
//!   zero, derived balances) and [`signature`] (Stripe's `Stripe-Signature` scheme).
//! - Over the bindings: [`catalog`], [`orders`], [`affiliates`], [`webhooks`], [`fulfil`],
//!   [`payouts`] (balances, payout accounts, the cron payout run) and [`provider`] (the
//!   [`provider::PaymentProvider`] trait and its Stripe REST implementation).
//!
//! # The purchase flow
//! 1. `POST /v1/orders` turns a cart (prices × quantities, bundles, at most one discount code,
//!    an optional affiliate click) into a `pending` order whose lines snapshot the prices.
//!    Attribution: the buyer's last affiliate click within `AFFILIATE_WINDOW_DAYS` (default
//!    30) on an approved affiliate of the seller; self-referral earns nothing.
//! 2. `POST /v1/orders/{id}/checkout` creates a Stripe Checkout Session (form-encoded
//!    `POST {STRIPE_API_BASE}/v1/checkout/sessions`, `Idempotency-Key: checkout_<order id>`,
//!    secret key from the secret `STRIPE_SECRET_KEY`) and returns its URL.
//! 3. Stripe calls `POST /v1/webhooks/stripe`. Signatures are checked against every secret in
//!    `STRIPE_WEBHOOK_SECRET` (comma-separated, for rotation) with a 300 s tolerance; events are
//!    deduplicated by id (`stripe_events`). `checkout.session.completed` (paid) fulfils the
//!    order once: ledger sale, one licence per line, `order.paid` and `licence.granted` events.
//!    `charge.refunded` (cumulative `amount_refunded`) and `charge.dispute.*` reverse ledger
//!    entries in proportion and revoke licences on a full refund or a lost dispute; one that
//!    overtakes its payment is answered 409 unrecorded, so Stripe delivers it again later.
//!    `invoice.paid` renews subscription licences (and books the renewal as a sale).
//! 4. The cron (every 5 minutes; on demand at `POST /v1/ops/payouts/run` with the secret
//!    `OPS_TOKEN`) expires long-unpaid orders and lapsed subscription licences and pays out
//!    balances past `PAYOUT_HOLD_SECONDS` above `PAYOUT_MINIMUM` to Stripe Connect accounts.
//!
//! # For the marketplace (pub API)
//! - [`fulfil::grant_licences`]: the statements that grant one licence per order line (type
//!   from the price: one-time; subscription with `expires_at` = end of the first period; usage
//!   with `units_granted` = quantity), each with a licence key. Used by the webhook; callable
//!   for other grants (e.g. free claims) inside the caller's own `audit::commit` batch.
//! - [`fulfil::revoke_licences`]: statements that revoke an order's licences with a reason.
//! - [`fulfil::fulfil_order`]: the whole fulfilment of a paid order in one batch, exactly once.
//! - [`fulfil::licence_key`] / [`fulfil::key_hash`]: a licence's key and the SHA-256 hex that
//!   `licences.key_hash` stores; verify a presented key by looking up `key_hash(key)`.
//!
//! Licence keys (`cos_lic_…`) are derived at fulfilment as HMAC-SHA256 of the licence id under
//! the secret `LICENCE_KEY_SECRET`; only their SHA-256 (`key_hash`) and first 12 characters
//! (`key_prefix`) are stored. The holder reads the key once with
//! `POST /v1/licences/{id}/reveal-key` (a second call answers 409 `key_already_revealed`).
//!
//! # Money rules
//! Amounts are integer minor units with an ISO 4217 code from [`money::CURRENCIES`]. The
//! processor's fee is the configured rate `STRIPE_FEE_BPS` (default 290) + `STRIPE_FEE_FIXED`
//! (default 30 minor units), at most the total. Products without a revenue-share rule pay the
//! platform `PLATFORM_FEE_BPS` (default 1000 = 10 %) and the rest to the seller. Refunds reverse
//! every movement of the sale in proportion, the processor's fee included.
//!
//! # Limits
//! - Refunds and disputes are mapped to orders by their PaymentIntent; charges of subscription
//!   invoices (renewals) are recorded and not reversed automatically.
//! - Tax is not computed: `tax_inclusive` is recorded on prices for the provider's tax settings.
//! - The processor's fee is booked at the configured rate, not read from Stripe's balance
//!   transactions.
//!
//! # Events
//! Every mutation is written with [`crate::audit::commit`] (or its statements in the same
//! batch): `product.create`, `price.create`, `discount.create`, `order.create`,
//! `order.checkout`, `order.paid`, `licence.granted`, `refund.created`, `licence.revoked`,
//! `dispute.created`, `dispute.closed`, `subscription.renewed`, `order.expired`,
//! `payout.created`, `payout.paid`, `payout.failed`, `affiliate.*` — the analytics `events`
//! rows (with the org of the seller) that the automation engine triggers on.

pub mod affiliates;
pub mod catalog;
pub mod discount;
pub mod fulfil;
pub mod ledger;
pub mod money;
pub mod orders;
pub mod payouts;
pub mod provider;
pub mod signature;
pub mod webhooks;

use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};

/// The audit actor of changes made on Stripe's word (webhooks, and fulfilment of free orders).
pub const STRIPE_ACTOR: (&str, &str) = ("system", "stripe");

/// The audit actor of the scheduled commerce run (payouts, expiries).
pub const PAYOUT_ACTOR: (&str, &str) = ("system", "payouts");

/// A statement that fails its whole D1 batch when `violation` (an SQL condition over `args`)
/// holds: it inserts into `commerce_guard`, whose CHECK refuses every row.
pub fn guard(
    db: &Db,
    violation: &str,
    args: Vec<crate::db::Arg>,
) -> AppResult<worker::D1PreparedStatement> {
    db.stmt(
        &format!("INSERT INTO commerce_guard (ok) SELECT 0 WHERE {violation}"),
        args,
    )
}

/// Whether a failed batch was refused by a [`guard`] or a uniqueness constraint (a concurrent
/// request won the race), rather than failing for another reason.
pub fn lost_race(error: &AppError) -> bool {
    error.internal.as_deref().is_some_and(|detail| {
        detail.contains("commerce_guard")
            || detail.contains("CHECK constraint")
            || detail.contains("UNIQUE constraint")
    })
}

/// A numeric variable, clamped to `0..=max`.
pub fn var_i64(ctx: &Ctx, name: &str, default: i64, max: i64) -> i64 {
    ctx.var(name)
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(default)
        .clamp(0, max)
}

/// Normalises and checks a currency code: 422 `unknown_currency` unless ISO 4217 and known.
pub fn check_currency(raw: &str) -> AppResult<String> {
    let code = raw.trim().to_ascii_uppercase();
    if money::currency_exponent(&code).is_none() {
        return Err(AppError::invalid(
            "unknown_currency",
            format!("{raw:?} is not an ISO 4217 currency the platform supports"),
        ));
    }
    Ok(code)
}

/// Largest amount of a price or order, in minor units (Stripe's own limit is 99 999 999).
pub const MAX_AMOUNT: i64 = 99_999_999;

/// Checks a non-negative amount in minor units: 422 `invalid_amount` otherwise.
pub fn check_amount(amount: i64, what: &str) -> AppResult<i64> {
    if !(0..=MAX_AMOUNT).contains(&amount) {
        return Err(AppError::invalid(
            "invalid_amount",
            format!("{what} must be 0 to {MAX_AMOUNT} minor units"),
        ));
    }
    Ok(amount)
}

/// Reads an id-like path or body value: 404 for anything that cannot be an id of `prefix`.
pub fn check_id(raw: &str, prefix: &str, what: &str) -> AppResult<String> {
    let ok = raw.len() <= 64
        && raw.starts_with(prefix)
        && raw[prefix.len()..].starts_with('_')
        && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(AppError::not_found(what))
    }
}
