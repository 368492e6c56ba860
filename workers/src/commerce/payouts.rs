//! Balances (derived from the ledger), payout accounts, and the scheduled payout run.
//!
//! A party's `available` balance is what it is owed from entries older than the holding period
//! (`PAYOUT_HOLD_SECONDS`, default 7 days) plus every debit, however recent; `pending` is the
//! rest. The cron run ([`run`]) pays each user or org whose available balance in a currency is
//! at least `PAYOUT_MINIMUM` minor units (default 1000) and who has a payout account: it writes
//! the payout and its ledger transaction first, then asks Stripe for a Connect transfer; a
//! refused transfer marks the payout failed and writes the reversing transaction, and that
//! party is not tried again for `PAYOUT_RETRY_SECONDS` (default a day).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Env, Request, Response};

use super::fulfil::ledger_statements;
use super::ledger::{self, Party, PartyKind};
use super::provider::{PaymentProvider, Stripe, TransferRequest};
use super::{guard, lost_race, var_i64, PAYOUT_ACTOR};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{decode_cursor, encode_cursor};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// A balance in one currency.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Balance {
    /// ISO 4217.
    pub currency: String,
    /// Everything owed (sum of the party's ledger entries).
    pub balance: i64,
    /// Owed and past the holding period: what the next payout run may pay.
    pub available: i64,
    /// Still in the holding period.
    pub pending: i64,
}

/// A party's balances.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BalanceList {
    /// `user` or `org`.
    pub party_type: String,
    /// Its id.
    pub party_id: String,
    /// One per currency.
    pub balances: Vec<Balance>,
}

/// A ledger entry.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct LedgerEntryView {
    /// Entry number.
    pub id: i64,
    /// Its transaction.
    pub txn_id: String,
    /// sale, refund, dispute, payout or payout_reversal.
    pub txn_kind: String,
    /// The order, for sales and refunds.
    pub order_id: Option<String>,
    /// The payout, for payouts.
    pub payout_id: Option<String>,
    /// What it records: revenue_share, platform_fee, affiliate_commission, refund, payout, …
    pub kind: String,
    /// ISO 4217.
    pub currency: String,
    /// Minor units; positive credits the party.
    pub amount: i64,
    /// When.
    pub created_at: String,
}

/// A page of ledger entries.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LedgerPage {
    /// Newest first.
    pub items: Vec<LedgerEntryView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `PUT …/payout-account`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutAccountBody {
    /// The Stripe Connect account (`acct_…`) payouts go to.
    pub provider_account: String,
}

/// A payout account.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PayoutAccountResponse {
    /// `user` or `org`.
    pub party_type: String,
    /// Its id.
    pub party_id: String,
    /// `acct_…`
    pub provider_account: String,
}

/// A payout.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct PayoutView {
    /// `pay_…`
    pub id: String,
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub amount: i64,
    /// pending, paid or failed.
    pub status: String,
    /// The Stripe transfer (`tr_…`).
    pub provider_transfer: Option<String>,
    /// Why it failed.
    pub failure: Option<String>,
    /// When.
    pub created_at: String,
}

/// A party's payouts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PayoutList {
    /// Newest first.
    pub items: Vec<PayoutView>,
}

fn hold_cutoff(ctx: &Ctx) -> i64 {
    ctx.now - var_i64(ctx, "PAYOUT_HOLD_SECONDS", 7 * 86_400, 365 * 86_400) * 1000
}

/// The balances of a party, per currency, from its ledger entries.
pub async fn balances_of(ctx: &Ctx, db: &Db, kind: PartyKind, id: &str) -> AppResult<Vec<Balance>> {
    #[derive(Deserialize)]
    struct Row {
        currency: String,
        balance: i64,
        available: i64,
    }
    let rows: Vec<Row> = db
        .all(
            "SELECT currency, SUM(amount) AS balance,
                    SUM(CASE WHEN amount < 0 OR created_at <= ?3 THEN amount ELSE 0 END) AS available
             FROM ledger_entries WHERE party_type = ?1 AND party_id = ?2
             GROUP BY currency ORDER BY currency",
            args![kind.as_str(), id, hold_cutoff(ctx)],
        )
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Balance {
            pending: row.balance - row.available,
            currency: row.currency,
            balance: row.balance,
            available: row.available,
        })
        .collect())
}

/// `GET /v1/orgs/{org_id}/balances` (admin)
pub async fn org_balances(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let balances = balances_of(ctx, &ctx.db()?, PartyKind::Org, &org_id).await?;
    http::json(
        200,
        &BalanceList {
            party_type: "org".into(),
            party_id: org_id,
            balances,
        },
    )
}

/// `GET /v1/me/balances`: the caller's own (collaborator shares, affiliate commissions).
pub async fn my_balances(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    let balances = balances_of(ctx, &ctx.db()?, PartyKind::User, &user).await?;
    http::json(
        200,
        &BalanceList {
            party_type: "user".into(),
            party_id: user,
            balances,
        },
    )
}

async fn ledger_page(ctx: &Ctx, kind: PartyKind, id: &str) -> AppResult<Response> {
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx
        .query("cursor")
        .map(|c| {
            decode_cursor(&c)?
                .parse::<i64>()
                .map_err(|_| AppError::bad_request("invalid_cursor", "the cursor is not valid"))
        })
        .transpose()?;
    #[derive(Deserialize)]
    struct Row {
        id: i64,
        txn_id: String,
        txn_kind: String,
        order_id: Option<String>,
        payout_id: Option<String>,
        kind: String,
        currency: String,
        amount: i64,
        created_at: i64,
    }
    let mut rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT e.id, e.txn_id, t.kind AS txn_kind, t.order_id, t.payout_id, e.kind, e.currency, e.amount, e.created_at
             FROM ledger_entries e JOIN ledger_transactions t ON t.id = e.txn_id
             WHERE e.party_type = ?1 AND e.party_id = ?2 AND (?3 IS NULL OR e.id < ?3)
             ORDER BY e.id DESC LIMIT ?4",
            args![kind.as_str(), id, before, limit + 1],
        )
        .await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(&r.id.to_string()))
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| LedgerEntryView {
            id: r.id,
            txn_id: r.txn_id,
            txn_kind: r.txn_kind,
            order_id: r.order_id,
            payout_id: r.payout_id,
            kind: r.kind,
            currency: r.currency,
            amount: r.amount,
            created_at: util::rfc3339(r.created_at),
        })
        .collect();
    http::json(200, &LedgerPage { items, next_cursor })
}

/// `GET /v1/orgs/{org_id}/ledger` (admin)
pub async fn org_ledger(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    ledger_page(ctx, PartyKind::Org, &org_id).await
}

/// `GET /v1/me/ledger`
pub async fn my_ledger(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    ledger_page(ctx, PartyKind::User, &user).await
}

async fn put_account(
    ctx: &mut Ctx,
    req: &mut Request,
    kind: PartyKind,
    id: &str,
) -> AppResult<Response> {
    let body: PayoutAccountBody = ctx.json(req).await?;
    let account = body.provider_account.trim().to_string();
    let ok = account.starts_with("acct_")
        && (6..=64).contains(&account.len())
        && account
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(AppError::invalid(
            "invalid_account",
            "provider_account is a Stripe Connect account id (acct_…)",
        ));
    }
    let db = ctx.db()?;
    let upsert = db.stmt(
        "INSERT INTO payout_accounts (party_type, party_id, provider_account, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?4)
         ON CONFLICT (party_type, party_id) DO UPDATE SET provider_account = ?3, updated_at = ?4",
        args![kind.as_str(), id, account.as_str(), ctx.now],
    )?;
    let org = (kind == PartyKind::Org).then_some(id);
    let record = Record::success(org, "payout_account.update", Some((kind.as_str(), id)))
        .with_details(json!({ "provider_account": account }));
    audit::commit(ctx, &db, vec![upsert], record, None).await?;
    http::json(
        200,
        &PayoutAccountResponse {
            party_type: kind.as_str().into(),
            party_id: id.into(),
            provider_account: account,
        },
    )
}

/// `PUT /v1/orgs/{org_id}/payout-account` (admin)
pub async fn put_org_account(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    put_account(ctx, &mut req, PartyKind::Org, &org_id).await
}

/// `PUT /v1/me/payout-account`
pub async fn put_my_account(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    put_account(ctx, &mut req, PartyKind::User, &user).await
}

async fn payouts_of(ctx: &Ctx, kind: PartyKind, id: &str) -> AppResult<Response> {
    #[derive(Deserialize)]
    struct Row {
        id: String,
        currency: String,
        amount: i64,
        status: String,
        provider_transfer: Option<String>,
        failure: Option<String>,
        created_at: i64,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, currency, amount, status, provider_transfer, failure, created_at FROM payouts
             WHERE party_type = ?1 AND party_id = ?2 ORDER BY id DESC LIMIT 200",
            args![kind.as_str(), id],
        )
        .await?;
    http::json(
        200,
        &PayoutList {
            items: rows
                .into_iter()
                .map(|r| PayoutView {
                    id: r.id,
                    currency: r.currency,
                    amount: r.amount,
                    status: r.status,
                    provider_transfer: r.provider_transfer,
                    failure: r.failure,
                    created_at: util::rfc3339(r.created_at),
                })
                .collect(),
        },
    )
}

/// `GET /v1/orgs/{org_id}/payouts` (admin)
pub async fn org_payouts(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    payouts_of(ctx, PartyKind::Org, &org_id).await
}

/// `GET /v1/me/payouts`
pub async fn my_payouts(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    payouts_of(ctx, PartyKind::User, &user).await
}

// ---------------------------------------------------------------- the cron run

/// What a payout run did.
#[derive(Debug, Default, Serialize, JsonSchema)]
pub struct RunSummary {
    /// Payouts sent.
    pub paid: usize,
    /// Payouts refused by the provider (and reversed).
    pub failed: usize,
    /// Subscription licences past their period marked expired.
    pub licences_expired: usize,
    /// Unpaid orders past `PENDING_ORDER_TTL_SECONDS` expired (their discount codes released).
    pub orders_expired: usize,
}

/// Expires orders left unpaid for `PENDING_ORDER_TTL_SECONDS` (default 2 days, beyond the
/// 24 h a Stripe Checkout Session stays open), releasing their discount redemptions. A payment
/// that still arrives fulfils an expired order all the same.
async fn expire_stale_orders(ctx: &Ctx, db: &Db) -> AppResult<usize> {
    let ttl = var_i64(ctx, "PENDING_ORDER_TTL_SECONDS", 2 * 86_400, 365 * 86_400) * 1000;
    #[derive(Deserialize)]
    struct Stale {
        id: String,
        seller_org_id: String,
    }
    let stale: Vec<Stale> = db
        .all(
            "SELECT id, seller_org_id FROM orders WHERE status = 'pending' AND created_at < ?1 ORDER BY id LIMIT 100",
            args![ctx.now - ttl],
        )
        .await?;
    let mut expired = 0;
    for order in stale {
        let changes = vec![
            guard(
                db,
                "(SELECT status FROM orders WHERE id = ?1) != 'pending'",
                args![order.id.as_str()],
            )?,
            db.stmt(
                "UPDATE orders SET status = 'expired', updated_at = ?1 WHERE id = ?2",
                args![ctx.now, order.id.as_str()],
            )?,
            db.stmt(
                "UPDATE discount_redemptions SET released_at = ?1 WHERE order_id = ?2 AND released_at IS NULL",
                args![ctx.now, order.id.as_str()],
            )?,
        ];
        let record = Record::success(
            Some(&order.seller_org_id),
            "order.expired",
            Some(("order", &order.id)),
        );
        match audit::commit(ctx, db, changes, record, Some(PAYOUT_ACTOR)).await {
            Ok(_) => expired += 1,
            Err(error) if lost_race(&error) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(expired)
}

/// Cron: pays what is owed above the threshold after the holding period; marks lapsed
/// subscription licences and long-unpaid orders expired.
pub async fn run(env: &Env) -> AppResult<RunSummary> {
    let ctx = crate::jobs::system_ctx(env)?;
    let db = ctx.db()?;
    let mut summary = RunSummary {
        licences_expired: db
            .run(
                "UPDATE licences SET status = 'expired', updated_at = ?1
                 WHERE type = 'subscription' AND status = 'active' AND expires_at < ?1",
                args![ctx.now],
            )
            .await?,
        ..RunSummary::default()
    };
    #[derive(Deserialize)]
    struct Owed {
        party_type: String,
        party_id: String,
        currency: String,
        available: i64,
        provider_account: String,
    }
    summary.orders_expired = expire_stale_orders(&ctx, &db).await?;
    let cutoff = hold_cutoff(&ctx);
    let minimum = var_i64(&ctx, "PAYOUT_MINIMUM", 1000, i64::MAX).max(1);
    // A refused transfer is not retried at every run: the account needs fixing first.
    let retry_after = var_i64(&ctx, "PAYOUT_RETRY_SECONDS", 86_400, 30 * 86_400) * 1000;
    let owed: Vec<Owed> = db
        .all(
            "SELECT e.party_type, e.party_id, e.currency, a.provider_account,
                    SUM(CASE WHEN e.amount < 0 OR e.created_at <= ?1 THEN e.amount ELSE 0 END) AS available
             FROM ledger_entries e
             JOIN payout_accounts a ON a.party_type = e.party_type AND a.party_id = e.party_id
             WHERE e.party_type IN ('user', 'org')
               AND NOT EXISTS (SELECT 1 FROM payouts p WHERE p.party_type = e.party_type AND p.party_id = e.party_id
                                 AND p.currency = e.currency AND p.status = 'failed' AND p.updated_at > ?3)
             GROUP BY e.party_type, e.party_id, e.currency
             HAVING available >= ?2
             LIMIT 100",
            args![cutoff, minimum, ctx.now - retry_after],
        )
        .await?;
    if owed.is_empty() {
        return Ok(summary);
    }
    let stripe = Stripe::from_ctx(&ctx)?;
    for item in owed {
        let Some(kind) = PartyKind::parse(&item.party_type) else {
            continue;
        };
        let party = Party {
            kind,
            id: item.party_id.clone(),
        };
        let payout_id = util::new_id("pay", ctx.now);
        let org = (kind == PartyKind::Org).then_some(item.party_id.as_str());
        let mut changes = vec![
            // Another run paid meanwhile: the balance no longer covers this payout.
            guard(
                &db,
                "(SELECT COALESCE(SUM(CASE WHEN amount < 0 OR created_at <= ?3 THEN amount ELSE 0 END), 0)
                  FROM ledger_entries WHERE party_type = ?1 AND party_id = ?2 AND currency = ?4) < ?5",
                args![
                    kind.as_str(),
                    item.party_id.as_str(),
                    cutoff,
                    item.currency.as_str(),
                    item.available
                ],
            )?,
            db.stmt(
                "INSERT INTO payouts (id, party_type, party_id, currency, amount, status, provider_account, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6, ?7, ?7)",
                args![
                    payout_id.as_str(),
                    kind.as_str(),
                    item.party_id.as_str(),
                    item.currency.as_str(),
                    item.available,
                    item.provider_account.as_str(),
                    ctx.now
                ],
            )?,
        ];
        changes.extend(ledger_statements(
            &db,
            &ledger::payout(&party, item.available),
            &format!("payout:{payout_id}"),
            "payout",
            None,
            Some(&payout_id),
            &item.currency,
            ctx.now,
        )?);
        let record = Record::success(org, "payout.created", Some(("payout", &payout_id)))
            .with_details(json!({
                "party_type": kind.as_str(), "party_id": item.party_id,
                "currency": item.currency, "amount": item.available,
            }));
        match audit::commit(&ctx, &db, changes, record, Some(PAYOUT_ACTOR)).await {
            Ok(_) => {}
            Err(error) if lost_race(&error) => continue,
            Err(error) => return Err(error),
        }
        let transfer = stripe
            .create_transfer(&TransferRequest {
                payout_id: payout_id.clone(),
                amount: item.available,
                currency: item.currency.to_ascii_lowercase(),
                destination: item.provider_account.clone(),
            })
            .await;
        let now = util::now_ms();
        match transfer {
            Ok(transfer) => {
                let update = db.stmt(
                    "UPDATE payouts SET status = 'paid', provider_transfer = ?1, updated_at = ?2 WHERE id = ?3",
                    args![transfer.id.as_str(), now, payout_id.as_str()],
                )?;
                let record = Record::success(org, "payout.paid", Some(("payout", &payout_id)))
                    .with_details(json!({ "transfer": transfer.id }));
                audit::commit(&ctx, &db, vec![update], record, Some(PAYOUT_ACTOR)).await?;
                summary.paid += 1;
            }
            Err(error) => {
                let mut changes = vec![db.stmt(
                    "UPDATE payouts SET status = 'failed', failure = ?1, updated_at = ?2 WHERE id = ?3",
                    args![error.message.as_str(), now, payout_id.as_str()],
                )?];
                changes.extend(ledger_statements(
                    &db,
                    &ledger::payout_reversal(&party, item.available),
                    &format!("payout_reversal:{payout_id}"),
                    "payout_reversal",
                    None,
                    Some(&payout_id),
                    &item.currency,
                    now,
                )?);
                let record = Record::success(org, "payout.failed", Some(("payout", &payout_id)))
                    .with_details(json!({ "status": error.status, "reason": error.message }));
                audit::commit(&ctx, &db, changes, record, Some(PAYOUT_ACTOR)).await?;
                summary.failed += 1;
            }
        }
    }
    Ok(summary)
}

/// `POST /v1/ops/payouts/run`: runs the cron's payout run now, for operators (and the tests:
/// the local runtime cannot fire the cron under the test harness). Authorised by the secret
/// `OPS_TOKEN` as a bearer token; without that secret every call is refused.
pub async fn run_now(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let presented = ctx
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer ").map(str::to_string));
    let allowed = match (ctx.var("OPS_TOKEN"), presented) {
        (Some(expected), Some(presented)) => {
            util::constant_time_eq(expected.as_bytes(), presented.as_bytes())
        }
        _ => false,
    };
    if !allowed {
        return Err(AppError::unauthenticated(
            "send the operators' token (OPS_TOKEN) as a bearer token",
        ));
    }
    let summary = run(&ctx.env).await?;
    http::json(200, &summary)
}
