//! Fulfilment: a paid order becomes a ledger sale and one licence per line, exactly once; a
//! refund or a lost dispute reverses both. Also the licence-key scheme and the holder's routes
//! to their licences. The pub functions here are the API the marketplace builds on (see the
//! module documentation of [`crate::commerce`]).

use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use worker::{D1PreparedStatement, Request, Response};

use super::ledger::{self, Entry, EntryKind, Party, PartyKind, Sale, SaleLine, Transaction};
use super::orders::{load_items, ItemRow, LicenceRow, LicenceView, OrderRow, LICENCE_COLUMNS};
use super::{catalog, check_id, lost_race, var_i64, STRIPE_ACTOR};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::authenticate;
use crate::util;

/// Prefix of licence keys.
pub const LICENCE_KEY_PREFIX: &str = "cos_lic_";

/// The key of a licence: `cos_lic_` + base64url(HMAC-SHA256(secret, licence id)). Derived,
/// so it is never stored; only [`key_hash`] is.
pub fn licence_key(secret: &str, licence_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"creator-os licence key\0");
    mac.update(licence_id.as_bytes());
    format!(
        "{LICENCE_KEY_PREFIX}{}",
        util::b64url(&mac.finalize().into_bytes())
    )
}

/// What `licences.key_hash` stores for a key: its SHA-256, lower-case hex.
pub fn key_hash(key: &str) -> String {
    util::sha256_hex(key.as_bytes())
}

/// What `licences.key_prefix` stores: the key's first 12 characters.
pub fn key_prefix(key: &str) -> String {
    key.chars().take(12).collect()
}

/// The secret licence keys derive from: 503 `licensing_unavailable` when not configured.
pub fn key_secret(ctx: &Ctx) -> AppResult<String> {
    ctx.var("LICENCE_KEY_SECRET").ok_or_else(|| {
        AppError::new(
            503,
            "licensing_unavailable",
            "licence keys are not configured on this deployment",
        )
    })
}

/// End of a subscription period that starts at `start_ms`: calendar days, weeks, months or
/// years (a month from 31 January ends on the last day of February).
pub fn period_end(start_ms: i64, interval: &str, count: i64) -> i64 {
    let count = count.clamp(1, 120);
    let day = 86_400_000;
    let months = match interval {
        "day" => return start_ms + count * day,
        "week" => return start_ms + count * 7 * day,
        "year" => count * 12,
        _ => count,
    };
    let Ok(start) = time::OffsetDateTime::from_unix_timestamp_nanos(start_ms as i128 * 1_000_000)
    else {
        return start_ms + months * 30 * day;
    };
    let total = start.year() as i64 * 12 + (start.month() as i64 - 1) + months;
    let (year, month) = ((total / 12) as i32, (total % 12) as u8 + 1);
    let Ok(month) = time::Month::try_from(month) else {
        return start_ms + months * 30 * day;
    };
    let last_day = time::util::days_in_month(month, year);
    let date = time::Date::from_calendar_date(year, month, start.day().min(last_day));
    match date {
        Ok(date) => {
            let end = start.replace_date(date);
            (end.unix_timestamp_nanos() / 1_000_000) as i64
        }
        Err(_) => start_ms + months * 30 * day,
    }
}

/// Statements that grant one licence per line of a paid `order` (type from the line's price:
/// one_time → `one_time`; recurring → `subscription` until the end of the first period; usage →
/// `usage` with `units_granted` = quantity), each with a key derived from `key_secret`. The
/// unique index on (order, line) makes a second grant fail the caller's batch, so a grant
/// happens exactly once. Returns the statements and the new licence ids.
pub fn grant_licences(
    db: &Db,
    order: &OrderRow,
    items: &[ItemRow],
    key_secret: &str,
    now: i64,
) -> AppResult<(Vec<D1PreparedStatement>, Vec<String>)> {
    let mut statements = Vec::with_capacity(items.len());
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        let id = util::new_id("lic", now);
        let key = licence_key(key_secret, &id);
        let (licence_type, expires_at, units) = match item.price_type.as_deref() {
            Some("recurring") => (
                "subscription",
                Some(period_end(
                    now,
                    item.interval.as_deref().unwrap_or("month"),
                    item.interval_count.unwrap_or(1),
                )),
                None,
            ),
            Some("usage") => ("usage", None, Some(item.quantity)),
            _ => ("one_time", None, None),
        };
        statements.push(db.stmt(
            "INSERT INTO licences (id, product_id, seller_org_id, holder_user_id, holder_org_id, order_id, order_line, type, status, key_hash, key_prefix, expires_at, units_granted, units_used, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'active', ?9, ?10, ?11, ?12, 0, ?13, ?13)",
            args![
                id.as_str(),
                item.product_id.as_str(),
                order.seller_org_id.as_str(),
                order.buyer_user_id.as_str(),
                order.buyer_org_id.clone(),
                order.id.as_str(),
                item.line,
                licence_type,
                key_hash(&key),
                key_prefix(&key),
                expires_at,
                units,
                now
            ],
        )?);
        ids.push(id);
    }
    Ok((statements, ids))
}

/// A statement that revokes every active licence of an order with `reason`.
pub fn revoke_licences(
    db: &Db,
    order_id: &str,
    reason: &str,
    now: i64,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "UPDATE licences SET status = 'revoked', revoked_reason = ?1, updated_at = ?2
         WHERE order_id = ?3 AND status != 'revoked'",
        args![reason, now, order_id],
    )
}

/// Statements that write a ledger transaction. `reference` is unique: writing the same
/// movement twice fails the batch.
#[expect(clippy::too_many_arguments, reason = "one row's columns")]
pub fn ledger_statements(
    db: &Db,
    txn: &Transaction,
    reference: &str,
    kind: &str,
    order_id: Option<&str>,
    payout_id: Option<&str>,
    currency: &str,
    now: i64,
) -> AppResult<Vec<D1PreparedStatement>> {
    if !txn.is_balanced() {
        return Err(AppError::internal(format!(
            "refusing an unbalanced ledger transaction {reference}: sums to {}",
            txn.sum()
        )));
    }
    let id = util::new_id("txn", now);
    let mut out =
        vec![db.stmt(
        "INSERT INTO ledger_transactions (id, ref, kind, order_id, payout_id, currency, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![id.as_str(), reference, kind, order_id, payout_id, currency, now],
    )?];
    for entry in &txn.entries {
        out.push(db.stmt(
            "INSERT INTO ledger_entries (txn_id, party_type, party_id, kind, currency, amount, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            args![
                id.as_str(),
                entry.party.kind.as_str(),
                entry.party.id.as_str(),
                entry.kind.as_str(),
                currency,
                entry.amount,
                now
            ],
        )?);
    }
    Ok(out)
}

/// The sale transaction of an order, as written.
pub async fn load_sale(db: &Db, order_id: &str) -> AppResult<Option<Transaction>> {
    #[derive(Deserialize)]
    struct Row {
        party_type: String,
        party_id: String,
        kind: String,
        amount: i64,
    }
    let rows: Vec<Row> = db
        .all(
            "SELECT e.party_type, e.party_id, e.kind, e.amount FROM ledger_entries e
             JOIN ledger_transactions t ON t.id = e.txn_id
             WHERE t.ref = ?1 ORDER BY e.id",
            args![format!("sale:{order_id}")],
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let kind_of = |name: &str| match name {
        "sale" => EntryKind::Sale,
        "processor_fee" => EntryKind::ProcessorFee,
        "platform_fee" => EntryKind::PlatformFee,
        "revenue_share" => EntryKind::RevenueShare,
        "affiliate_commission" => EntryKind::AffiliateCommission,
        _ => EntryKind::Refund,
    };
    let entries = rows
        .into_iter()
        .map(|row| Entry {
            party: Party {
                kind: PartyKind::parse(&row.party_type).unwrap_or(PartyKind::Processor),
                id: row.party_id,
            },
            kind: kind_of(&row.kind),
            amount: row.amount,
        })
        .collect();
    Ok(Some(Transaction { entries }))
}

/// The ledger sale of `items` of an order (their `amount`s are what was paid), with the
/// products' rules and the order's affiliate attribution.
pub async fn sale_of(
    ctx: &Ctx,
    db: &Db,
    order: &OrderRow,
    items: &[ItemRow],
) -> AppResult<Transaction> {
    #[derive(Deserialize)]
    struct Attribution {
        affiliate_user_id: Option<String>,
        affiliate_bps: i64,
        affiliate_product: Option<String>,
    }
    let attribution: Option<Attribution> = db
        .first(
            "SELECT affiliate_user_id, affiliate_bps, affiliate_product FROM order_commerce WHERE order_id = ?1",
            args![order.id.as_str()],
        )
        .await?;
    let (affiliate_user, affiliate_bps, affiliate_product) = match attribution {
        Some(a) => (a.affiliate_user_id, a.affiliate_bps, a.affiliate_product),
        None => (None, 0, None),
    };
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let (_, rule) = catalog::split_rule(ctx, db, &item.product_id).await?;
        let in_scope = affiliate_product
            .as_deref()
            .is_none_or(|p| p == item.product_id);
        lines.push(SaleLine {
            amount: item.amount,
            rule,
            affiliate_bps: if in_scope { affiliate_bps as u32 } else { 0 },
        });
    }
    let fee = ledger::processor_fee(
        items.iter().map(|item| item.amount.max(0)).sum(),
        var_i64(ctx, "STRIPE_FEE_BPS", 290, 10_000) as u32,
        var_i64(ctx, "STRIPE_FEE_FIXED", 30, 1_000_000),
    );
    Ok(ledger::sale(&Sale {
        seller_org: order.seller_org_id.clone(),
        lines,
        processor_fee: fee,
        affiliate_user,
    }))
}

/// What fulfilling did.
#[derive(Debug, PartialEq, Eq)]
pub enum Fulfilment {
    /// The order is now fulfilled.
    Fulfilled,
    /// It already was (or is past that): nothing changed.
    AlreadyDone,
}

/// Fulfils a paid order exactly once, in one D1 batch: status `fulfilled`, the ledger sale,
/// one licence per line, `order.paid` and `licence.granted` events, plus `extra` statements
/// (e.g. the webhook's dedupe row). Concurrent deliveries race on unique constraints; the
/// loser changes nothing and reports [`Fulfilment::AlreadyDone`].
pub async fn fulfil_order(
    ctx: &Ctx,
    db: &Db,
    order: &OrderRow,
    provider_payment: Option<&str>,
    subscription_id: Option<&str>,
    extra: Vec<D1PreparedStatement>,
) -> AppResult<Fulfilment> {
    if !["pending", "canceled", "expired"].contains(&order.status.as_str()) {
        return Ok(Fulfilment::AlreadyDone);
    }
    let secret = key_secret(ctx)?;
    let items = load_items(db, &order.id).await?;
    let sale = sale_of(ctx, db, order, &items).await?;
    let now = ctx.now;
    let mut changes = vec![
        super::guard(
            db,
            "(SELECT status FROM orders WHERE id = ?1) NOT IN ('pending', 'canceled', 'expired')",
            args![order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE orders SET status = 'fulfilled', paid_at = ?1, provider_payment = COALESCE(?2, provider_payment), updated_at = ?1 WHERE id = ?3",
            args![now, provider_payment, order.id.as_str()],
        )?,
        // A code used by an order that was cancelled and then paid anyway counts again.
        db.stmt(
            "UPDATE discount_redemptions SET released_at = NULL WHERE order_id = ?1",
            args![order.id.as_str()],
        )?,
    ];
    if let Some(subscription) = subscription_id {
        changes.push(db.stmt(
            "UPDATE order_commerce SET subscription_id = ?1 WHERE order_id = ?2",
            args![subscription, order.id.as_str()],
        )?);
    }
    changes.extend(ledger_statements(
        db,
        &sale,
        &format!("sale:{}", order.id),
        "sale",
        Some(&order.id),
        None,
        &order.currency,
        now,
    )?);
    let (grants, licence_ids) = grant_licences(db, order, &items, &secret, now)?;
    changes.extend(grants);
    changes.extend(extra);
    let paid = Record::success(
        Some(&order.seller_org_id),
        "order.paid",
        Some(("order", &order.id)),
    )
    .with_details(json!({
        "buyer_user_id": order.buyer_user_id, "currency": order.currency, "total": order.total,
        "affiliate_id": order.affiliate_id,
    }));
    changes.extend(audit::statements(ctx, db, &paid, Some(STRIPE_ACTOR))?);
    for (id, item) in licence_ids.iter().zip(&items) {
        let granted = Record::success(
            Some(&order.seller_org_id),
            "licence.granted",
            Some(("licence", id)),
        )
        .with_details(json!({
            "order_id": order.id, "line": item.line, "product_id": item.product_id,
            "holder_user_id": order.buyer_user_id,
        }));
        changes.extend(audit::statements(ctx, db, &granted, Some(STRIPE_ACTOR))?);
    }
    match db.batch(changes).await {
        Ok(_) => Ok(Fulfilment::Fulfilled),
        Err(error) if lost_race(&error) => Ok(Fulfilment::AlreadyDone),
        Err(error) => Err(error),
    }
}

// ---------------------------------------------------------------- the holder's licences

/// The holder's licences.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LicenceList {
    /// Newest first.
    pub items: Vec<LicenceView>,
}

/// A licence key, shown once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LicenceKeyResponse {
    /// The licence.
    pub licence: LicenceView,
    /// The key (`cos_lic_…`); store it now: it is not shown again.
    pub key: String,
}

/// `GET /v1/me/licences`
pub async fn list_mine(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    let rows: Vec<LicenceRow> = ctx
        .db()?
        .all(
            &format!("SELECT {LICENCE_COLUMNS} FROM licences WHERE holder_user_id = ?1 ORDER BY id DESC LIMIT 500"),
            args![user.as_str()],
        )
        .await?;
    http::json(
        200,
        &LicenceList {
            items: rows.iter().map(LicenceRow::view).collect(),
        },
    )
}

/// `POST /v1/licences/{licence_id}/reveal-key` (the holder, once)
pub async fn reveal_key(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    let id = check_id(ctx.param("licence_id"), "lic", "licence")?;
    let db = ctx.db()?;
    let row: LicenceRow = db
        .first(
            &format!("SELECT {LICENCE_COLUMNS} FROM licences WHERE id = ?1"),
            args![id.as_str()],
        )
        .await?
        .filter(|row: &LicenceRow| row.holder_user_id == user)
        .ok_or_else(|| AppError::not_found("licence"))?;
    let secret = key_secret(ctx)?;
    let changes = vec![db.stmt(
        "INSERT INTO licence_key_reveals (licence_id, revealed_at) VALUES (?1, ?2)",
        args![id.as_str(), ctx.now],
    )?];
    let record = Record::success(
        Some(&row.seller_org_id),
        "licence.key_revealed",
        Some(("licence", &id)),
    );
    match audit::commit(ctx, &db, changes, record, None).await {
        Ok(_) => {}
        Err(error) if lost_race(&error) => {
            return Err(AppError::conflict(
                "key_already_revealed",
                "the licence key was shown once already",
            ))
        }
        Err(error) => return Err(error),
    }
    http::json(
        200,
        &LicenceKeyResponse {
            licence: row.view(),
            key: licence_key(&secret, &id),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_derived_and_only_their_hash_is_kept() {
        let key = licence_key("secret", "lic_1");
        assert!(key.starts_with("cos_lic_"));
        assert_eq!(key, licence_key("secret", "lic_1"));
        assert_ne!(key, licence_key("secret", "lic_2"));
        assert_ne!(key, licence_key("other", "lic_1"));
        assert_eq!(key_hash(&key).len(), 64);
        assert_eq!(key_prefix(&key).len(), 12);
    }

    #[test]
    fn periods_follow_the_calendar() {
        // 2026-01-31T12:00:00Z + 1 month → 2026-02-28T12:00:00Z.
        let start = 1_769_860_800_000;
        assert_eq!(period_end(start, "month", 1), 1_772_280_000_000);
        assert_eq!(period_end(start, "day", 2), start + 2 * 86_400_000);
        assert_eq!(period_end(start, "week", 1), start + 7 * 86_400_000);
        // + 1 year → 2027-01-31T12:00:00Z.
        assert_eq!(period_end(start, "year", 1), 1_801_396_800_000);
    }
}
