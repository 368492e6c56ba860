//! `POST /v1/webhooks/stripe`: Stripe's events, verified, deduplicated and applied in an
//! order-independent way.
//!
//! - The signature is checked before anything else ([`super::signature`]); a bad one is a 400
//!   and changes nothing.
//! - Each event id is handled once: `stripe_events` gets its row in the same batch as the
//!   event's effects, so a redelivery (or a concurrent duplicate) finds it and does nothing.
//! - Effects are guarded by state, not by arrival order: fulfilment only from an unpaid order,
//!   refunds by their cumulative `amount_refunded` (an older, smaller figure arriving late does
//!   nothing), and events that carry no obligation (`checkout.session.created`,
//!   `payment_intent.created`, anything unknown) are recorded and ignored. A refund or dispute
//!   that overtakes its payment's completion is answered 409 and not recorded, so Stripe
//!   delivers it again once the payment is known.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{D1PreparedStatement, Request, Response};

use super::fulfil::{self, Fulfilment};
use super::money::split_largest_remainder;
use super::orders::{load_items, load_order, ItemRow, OrderRow, ORDER_COLUMNS};
use super::signature::{self, SignatureError, TOLERANCE_SECONDS};
use super::{lost_race, STRIPE_ACTOR};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};

/// Largest webhook payload accepted.
const MAX_PAYLOAD: usize = 512 * 1024;

/// The answer to Stripe.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct WebhookAck {
    /// Always true: the event is recorded.
    pub received: bool,
    /// What it did: fulfilled, refunded, duplicate, ignored, …
    pub outcome: String,
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: Value,
}

fn bad_signature(error: SignatureError) -> AppError {
    AppError::bad_request("invalid_signature", error.to_string())
}

/// `POST /v1/webhooks/stripe`
pub async fn stripe(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    if ctx
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > MAX_PAYLOAD)
    {
        return Err(AppError::new(
            413,
            "payload_too_large",
            "the event is too large",
        ));
    }
    let payload = req
        .bytes()
        .await
        .map_err(|_| AppError::bad_request("malformed_body", "the body could not be read"))?;
    if payload.len() > MAX_PAYLOAD {
        return Err(AppError::new(
            413,
            "payload_too_large",
            "the event is too large",
        ));
    }
    let secrets: Vec<String> = ctx
        .var("STRIPE_WEBHOOK_SECRET")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(AppError::new(
            503,
            "payments_unavailable",
            "webhooks are not configured on this deployment",
        ));
    }
    signature::verify(
        ctx.header("stripe-signature").as_deref(),
        &payload,
        &secrets,
        ctx.now / 1000,
        TOLERANCE_SECONDS,
    )
    .map_err(bad_signature)?;
    let event: Event = serde_json::from_slice(&payload).map_err(|e| {
        AppError::bad_request("malformed_event", format!("not a Stripe event: {e}"))
    })?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(AppError::bad_request(
            "malformed_event",
            "the event has no id",
        ));
    }
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Seen {
        outcome: String,
    }
    if let Some(seen) = db
        .first::<Seen>(
            "SELECT outcome FROM stripe_events WHERE id = ?1",
            args![event.id.as_str()],
        )
        .await?
    {
        return ack(&format!("duplicate ({})", seen.outcome));
    }
    let outcome = match event.event_type.as_str() {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            session_paid(ctx, &db, &event).await?
        }
        "checkout.session.expired" => session_expired(ctx, &db, &event).await?,
        "charge.refunded" => charge_refunded(ctx, &db, &event).await?,
        "charge.dispute.created" => dispute_created(ctx, &db, &event).await?,
        "charge.dispute.closed" => dispute_closed(ctx, &db, &event).await?,
        "invoice.paid" => invoice_paid(ctx, &db, &event).await?,
        _ => record_only(&db, &event, "ignored", None, Vec::new()).await?,
    };
    ack(&outcome)
}

fn ack(outcome: &str) -> AppResult<Response> {
    http::json(
        200,
        &WebhookAck {
            received: true,
            outcome: outcome.to_string(),
        },
    )
}

fn seen_statement(
    db: &Db,
    event: &Event,
    outcome: &str,
    order_id: Option<&str>,
) -> AppResult<D1PreparedStatement> {
    db.stmt(
        "INSERT INTO stripe_events (id, type, outcome, order_id, received_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![
            event.id.as_str(),
            event.event_type.as_str(),
            outcome,
            order_id,
            crate::util::now_ms()
        ],
    )
}

/// Records the event (and `changes`) in one batch; a concurrent duplicate loses on the
/// event id and changes nothing.
async fn record_only(
    db: &Db,
    event: &Event,
    outcome: &str,
    order_id: Option<&str>,
    mut changes: Vec<D1PreparedStatement>,
) -> AppResult<String> {
    changes.push(seen_statement(db, event, outcome, order_id)?);
    match db.batch(changes).await {
        Ok(_) => Ok(outcome.to_string()),
        Err(error) if lost_race(&error) => Ok("duplicate".to_string()),
        Err(error) => Err(error),
    }
}

/// An event about a payment this deployment does not know yet: the payment's own event
/// (`checkout.session.completed`) has not arrived. Answered 409 without recording it, so that
/// Stripe delivers it again later (it retries for days), when it applies: a refund or dispute
/// that overtakes the payment is delayed, never lost.
fn not_known_yet(event: &Event) -> AppResult<String> {
    Err(AppError::conflict(
        "payment_not_known_yet",
        format!(
            "{} refers to a payment not recorded yet; deliver it again later",
            event.event_type
        ),
    ))
}

/// A charge or dispute event for a payment intent no order holds. Subscription charges (they
/// carry an `invoice`) are not mapped to orders: recorded and ignored. Anything else waits for
/// its payment's completion ([`not_known_yet`]).
async fn unknown_payment(db: &Db, event: &Event) -> AppResult<String> {
    if event.data.object["invoice"].as_str().is_some() {
        return record_only(db, event, "invoice_charge_not_mapped", None, Vec::new()).await;
    }
    not_known_yet(event)
}

/// A session event for a session id no order holds: when it names one of our orders (the
/// checkout's answer has not been stored yet), Stripe should deliver it again; otherwise it
/// is someone else's session, recorded and ignored.
async fn unknown_session(db: &Db, event: &Event, session: &Value) -> AppResult<String> {
    let named = session["metadata"]["order_id"]
        .as_str()
        .or_else(|| session["client_reference_id"].as_str());
    if order_by(db, "id", named).await?.is_some() {
        return not_known_yet(event);
    }
    record_only(db, event, "unknown_order", None, Vec::new()).await
}

async fn order_by(db: &Db, column: &str, value: Option<&str>) -> AppResult<Option<OrderRow>> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    db.first(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE {column} = ?1"),
        args![value],
    )
    .await
}

async fn session_paid(ctx: &Ctx, db: &Db, event: &Event) -> AppResult<String> {
    let session = &event.data.object;
    let Some(order) = order_by(db, "provider_session", session["id"].as_str()).await? else {
        return unknown_session(db, event, session).await;
    };
    if session["payment_status"].as_str() != Some("paid")
        && session["payment_status"].as_str() != Some("no_payment_required")
    {
        // Delayed payment methods: fulfilment waits for async_payment_succeeded.
        return record_only(db, event, "awaiting_payment", Some(&order.id), Vec::new()).await;
    }
    let currency_ok = session["currency"]
        .as_str()
        .is_some_and(|c| c.eq_ignore_ascii_case(&order.currency));
    if session["amount_total"].as_i64() != Some(order.total) || !currency_ok {
        return record_only(db, event, "amount_mismatch", Some(&order.id), Vec::new()).await;
    }
    let seen = seen_statement(db, event, "fulfilled", Some(&order.id))?;
    let outcome = fulfil::fulfil_order(
        ctx,
        db,
        &order,
        session["payment_intent"].as_str(),
        session["subscription"].as_str(),
        vec![seen],
    )
    .await?;
    match outcome {
        Fulfilment::Fulfilled => Ok("fulfilled".to_string()),
        Fulfilment::AlreadyDone => {
            record_only(db, event, "already_fulfilled", Some(&order.id), Vec::new()).await
        }
    }
}

async fn session_expired(ctx: &Ctx, db: &Db, event: &Event) -> AppResult<String> {
    let session = &event.data.object;
    let Some(order) = order_by(db, "provider_session", session["id"].as_str()).await? else {
        return unknown_session(db, event, session).await;
    };
    if order.status != "pending" {
        return record_only(db, event, "no_change", Some(&order.id), Vec::new()).await;
    }
    let mut changes = vec![
        db.stmt(
            "UPDATE orders SET status = 'expired', updated_at = ?1 WHERE id = ?2 AND status = 'pending'",
            args![ctx.now, order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE discount_redemptions SET released_at = ?1 WHERE order_id = ?2 AND released_at IS NULL
               AND (SELECT status FROM orders WHERE id = ?2) = 'expired'",
            args![ctx.now, order.id.as_str()],
        )?,
    ];
    let record = Record::success(
        Some(&order.seller_org_id),
        "order.expired",
        Some(("order", &order.id)),
    );
    changes.extend(audit::statements(ctx, db, &record, Some(STRIPE_ACTOR))?);
    record_only(db, event, "expired", Some(&order.id), changes).await
}

#[derive(Deserialize, Default)]
struct Disputed {
    disputed_amount: i64,
}

async fn disputed_amount(db: &Db, order_id: &str) -> AppResult<i64> {
    Ok(db
        .first::<Disputed>(
            "SELECT disputed_amount FROM order_commerce WHERE order_id = ?1",
            args![order_id],
        )
        .await?
        .unwrap_or_default()
        .disputed_amount)
}

/// The statements that move an order's reversed amount (refunds + disputes) from `before` to
/// `after`, proportionally over its sale.
async fn reversal(
    ctx: &Ctx,
    db: &Db,
    order: &OrderRow,
    reference: &str,
    kind: &str,
    before: i64,
    after: i64,
) -> AppResult<Vec<D1PreparedStatement>> {
    let Some(sale) = fulfil::load_sale(db, &order.id).await? else {
        return Ok(Vec::new());
    };
    let txn = super::ledger::refund(&sale, before, after);
    fulfil::ledger_statements(
        db,
        &txn,
        reference,
        kind,
        Some(&order.id),
        None,
        &order.currency,
        ctx.now,
    )
}

async fn charge_refunded(ctx: &Ctx, db: &Db, event: &Event) -> AppResult<String> {
    let charge = &event.data.object;
    let Some(order) = order_by(db, "provider_payment", charge["payment_intent"].as_str()).await?
    else {
        return unknown_payment(db, event).await;
    };
    let refunded = charge["amount_refunded"]
        .as_i64()
        .unwrap_or(0)
        .clamp(0, order.total);
    let disputed = disputed_amount(db, &order.id).await?;
    if refunded <= order.refunded_total || order.paid_at.is_none() {
        // A replay or an older figure delivered late: nothing more was refunded.
        return record_only(db, event, "no_change", Some(&order.id), Vec::new()).await;
    }
    let full = refunded >= order.total;
    let reversed_before = (order.refunded_total + disputed).min(order.total);
    let reversed_after = (refunded + disputed).min(order.total);
    let mut changes = vec![super::guard(
        db,
        "(SELECT refunded_total FROM orders WHERE id = ?1) != ?2",
        args![order.id.as_str(), order.refunded_total],
    )?];
    changes.push(db.stmt(
        "UPDATE orders SET refunded_total = ?1, status = CASE WHEN status = 'disputed' THEN status ELSE ?2 END, updated_at = ?3 WHERE id = ?4",
        args![
            refunded,
            if full { "refunded" } else { "partially_refunded" },
            ctx.now,
            order.id.as_str()
        ],
    )?);
    changes.extend(
        reversal(
            ctx,
            db,
            &order,
            &format!("refund:{}:{refunded}", order.id),
            "refund",
            reversed_before,
            reversed_after,
        )
        .await?,
    );
    let record = Record::success(
        Some(&order.seller_org_id),
        "refund.created",
        Some(("order", &order.id)),
    )
    .with_details(json!({
        "amount": refunded - order.refunded_total, "refunded_total": refunded,
        "full": full, "currency": order.currency,
    }));
    changes.extend(audit::statements(ctx, db, &record, Some(STRIPE_ACTOR))?);
    if full {
        changes.push(fulfil::revoke_licences(db, &order.id, "refunded", ctx.now)?);
        let revoked = Record::success(
            Some(&order.seller_org_id),
            "licence.revoked",
            Some(("order", &order.id)),
        )
        .with_details(json!({ "reason": "refunded" }));
        changes.extend(audit::statements(ctx, db, &revoked, Some(STRIPE_ACTOR))?);
    }
    record_only(
        db,
        event,
        if full {
            "refunded"
        } else {
            "partially_refunded"
        },
        Some(&order.id),
        changes,
    )
    .await
}

async fn dispute_created(ctx: &Ctx, db: &Db, event: &Event) -> AppResult<String> {
    let dispute = &event.data.object;
    let Some(order) = order_by(db, "provider_payment", dispute["payment_intent"].as_str()).await?
    else {
        return unknown_payment(db, event).await;
    };
    let disputed = disputed_amount(db, &order.id).await?;
    if disputed > 0 || order.paid_at.is_none() {
        return record_only(db, event, "no_change", Some(&order.id), Vec::new()).await;
    }
    // The disputed amount is withdrawn at once: its share of every movement is held back.
    let amount = dispute["amount"]
        .as_i64()
        .unwrap_or(0)
        .clamp(0, order.total - order.refunded_total);
    let mut changes = vec![
        super::guard(
            db,
            "(SELECT disputed_amount FROM order_commerce WHERE order_id = ?1) != 0",
            args![order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE order_commerce SET disputed_amount = ?1 WHERE order_id = ?2",
            args![amount, order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE orders SET status = 'disputed', updated_at = ?1 WHERE id = ?2",
            args![ctx.now, order.id.as_str()],
        )?,
    ];
    let dispute_id = dispute["id"].as_str().unwrap_or(&event.id);
    changes.extend(
        reversal(
            ctx,
            db,
            &order,
            &format!("dispute:{dispute_id}"),
            "dispute",
            order.refunded_total,
            order.refunded_total + amount,
        )
        .await?,
    );
    let record = Record::success(
        Some(&order.seller_org_id),
        "dispute.created",
        Some(("order", &order.id)),
    )
    .with_details(json!({ "amount": amount, "dispute_id": dispute_id }));
    changes.extend(audit::statements(ctx, db, &record, Some(STRIPE_ACTOR))?);
    record_only(db, event, "disputed", Some(&order.id), changes).await
}

async fn dispute_closed(ctx: &Ctx, db: &Db, event: &Event) -> AppResult<String> {
    let dispute = &event.data.object;
    let Some(order) = order_by(db, "provider_payment", dispute["payment_intent"].as_str()).await?
    else {
        return unknown_payment(db, event).await;
    };
    let disputed = disputed_amount(db, &order.id).await?;
    if order.status != "disputed" || disputed == 0 {
        return record_only(db, event, "no_change", Some(&order.id), Vec::new()).await;
    }
    let won = dispute["status"].as_str() == Some("won");
    let dispute_id = dispute["id"].as_str().unwrap_or(&event.id);
    let mut changes = vec![super::guard(
        db,
        "(SELECT status FROM orders WHERE id = ?1) != 'disputed'",
        args![order.id.as_str()],
    )?];
    if won {
        // The money comes back: the held-back shares are credited again.
        let restored = if order.refunded_total > 0 {
            "partially_refunded"
        } else {
            "fulfilled"
        };
        changes.push(db.stmt(
            "UPDATE order_commerce SET disputed_amount = 0 WHERE order_id = ?1",
            args![order.id.as_str()],
        )?);
        changes.push(db.stmt(
            "UPDATE orders SET status = ?1, updated_at = ?2 WHERE id = ?3",
            args![restored, ctx.now, order.id.as_str()],
        )?);
        changes.extend(
            reversal(
                ctx,
                db,
                &order,
                &format!("dispute_won:{dispute_id}"),
                "dispute",
                order.refunded_total + disputed,
                order.refunded_total,
            )
            .await?,
        );
    } else {
        changes.push(db.stmt(
            "UPDATE orders SET status = 'refunded', updated_at = ?1 WHERE id = ?2",
            args![ctx.now, order.id.as_str()],
        )?);
        changes.push(fulfil::revoke_licences(
            db,
            &order.id,
            "dispute_lost",
            ctx.now,
        )?);
        let revoked = Record::success(
            Some(&order.seller_org_id),
            "licence.revoked",
            Some(("order", &order.id)),
        )
        .with_details(json!({ "reason": "dispute_lost" }));
        changes.extend(audit::statements(ctx, db, &revoked, Some(STRIPE_ACTOR))?);
    }
    let record = Record::success(
        Some(&order.seller_org_id),
        "dispute.closed",
        Some(("order", &order.id)),
    )
    .with_details(json!({ "won": won, "amount": disputed, "dispute_id": dispute_id }));
    changes.extend(audit::statements(ctx, db, &record, Some(STRIPE_ACTOR))?);
    record_only(
        db,
        event,
        if won { "dispute_won" } else { "dispute_lost" },
        Some(&order.id),
        changes,
    )
    .await
}

/// A subscription's renewal: its licences run to the end of the newly paid period.
async fn invoice_paid(ctx: &Ctx, db: &Db, event: &Event) -> AppResult<String> {
    let invoice = &event.data.object;
    #[derive(Deserialize)]
    struct Found {
        order_id: String,
    }
    let found: Option<Found> = match invoice["subscription"].as_str() {
        Some(subscription) => {
            db.first(
                "SELECT order_id FROM order_commerce WHERE subscription_id = ?1",
                args![subscription],
            )
            .await?
        }
        None => None,
    };
    let Some(order) = (match found {
        Some(found) => load_order(db, &found.order_id).await?,
        None => None,
    }) else {
        if invoice["billing_reason"].as_str() == Some("subscription_create") {
            // The first invoice can come before the checkout's completion; that fulfilment
            // sets the first period itself.
            return record_only(db, event, "unknown_subscription", None, Vec::new()).await;
        }
        return not_known_yet(event);
    };
    let period_end = invoice["lines"]["data"][0]["period"]["end"]
        .as_i64()
        .or_else(|| invoice["period_end"].as_i64());
    let Some(period_end) = period_end.map(|s| s * 1000) else {
        return record_only(db, event, "no_period", Some(&order.id), Vec::new()).await;
    };
    let mut changes = vec![db.stmt(
        "UPDATE licences SET expires_at = MAX(COALESCE(expires_at, 0), ?1), status = 'active', updated_at = ?2
         WHERE order_id = ?3 AND type = 'subscription' AND status != 'revoked'",
        args![period_end, ctx.now, order.id.as_str()],
    )?];
    // A renewal is a sale of the recurring lines (the first invoice's sale is the checkout's).
    let paid = invoice["amount_paid"]
        .as_i64()
        .unwrap_or(0)
        .clamp(0, super::MAX_AMOUNT);
    let first = invoice["billing_reason"].as_str() == Some("subscription_create");
    if !first && paid > 0 {
        let recurring: Vec<ItemRow> = load_items(db, &order.id)
            .await?
            .into_iter()
            .filter(|item| item.price_type.as_deref() == Some("recurring"))
            .collect();
        let weights: Vec<u64> = recurring.iter().map(|i| i.amount.max(0) as u64).collect();
        if let Some(shares) = split_largest_remainder(paid, &weights) {
            let lines: Vec<ItemRow> = recurring
                .into_iter()
                .zip(shares)
                .map(|(item, amount)| ItemRow { amount, ..item })
                .collect();
            let sale = fulfil::sale_of(ctx, db, &order, &lines).await?;
            let invoice_id = invoice["id"].as_str().unwrap_or(&event.id);
            changes.extend(fulfil::ledger_statements(
                db,
                &sale,
                &format!("renewal:{invoice_id}"),
                "sale",
                Some(&order.id),
                None,
                &order.currency,
                ctx.now,
            )?);
        }
    }
    let record = Record::success(
        Some(&order.seller_org_id),
        "subscription.renewed",
        Some(("order", &order.id)),
    )
    .with_details(json!({ "period_end": crate::util::rfc3339(period_end), "amount_paid": paid }));
    changes.extend(audit::statements(ctx, db, &record, Some(STRIPE_ACTOR))?);
    record_only(db, event, "renewed", Some(&order.id), changes).await
}
