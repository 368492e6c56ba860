//! Cart → order → checkout. An order snapshots the prices of its lines; a discount code and an
//! affiliate attribution are fixed when it is created; checkout opens a Stripe Checkout Session.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Response};

use super::catalog::{clean_code, DiscountRow, DISCOUNT_COLUMNS};
use super::discount::{self, Usage};
use super::money::split_largest_remainder;
use super::provider::{CheckoutLine, CheckoutRequest, PaymentProvider, Stripe};
use super::{check_id, guard, lost_race};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{decode_cursor, page};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

const MAX_ITEMS: usize = 20;

/// One item of a cart: a price (with a quantity) or a bundle.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CartItem {
    /// A price of a product on sale.
    #[serde(default)]
    pub price_id: Option<String>,
    /// Or a bundle.
    #[serde(default)]
    pub bundle_id: Option<String>,
    /// One-time: 1–100 (default 1); recurring: 1; usage: units, 1–1 000 000.
    #[serde(default)]
    pub quantity: Option<i64>,
}

/// `POST /v1/orders`: a cart to turn into an order.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrderBody {
    /// 1–20 items, all of one seller and one currency.
    pub items: Vec<CartItem>,
    /// At most one discount code (codes do not stack).
    #[serde(default)]
    pub discount_codes: Option<Vec<String>>,
    /// A click recorded while signed out (`POST /v1/affiliate-links/{code}/click`).
    #[serde(default)]
    pub affiliate_click_id: Option<String>,
    /// The organisation the licences are for (the buyer must be an editor there).
    #[serde(default)]
    pub buyer_org_id: Option<String>,
}

/// `POST /v1/orders/{order_id}/checkout`
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutBody {
    /// Where the buyer lands after paying (http or https).
    #[serde(default)]
    pub success_url: Option<String>,
    /// Where the buyer lands after giving up.
    #[serde(default)]
    pub cancel_url: Option<String>,
}

/// A line of an order.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct OrderLineView {
    /// Position, from 1.
    pub line: i64,
    /// The product.
    pub product_id: String,
    /// The price.
    pub price_id: Option<String>,
    /// The bundle the line came from.
    pub bundle_id: Option<String>,
    /// Title when ordered.
    pub title: String,
    /// Quantity (units for usage prices).
    pub quantity: i64,
    /// Unit amount when ordered.
    pub unit_amount: i64,
    /// This line's share of the discount.
    pub discount: i64,
    /// What the line costs.
    pub amount: i64,
}

/// A licence as its holder sees it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LicenceView {
    /// `lic_…`
    pub id: String,
    /// The product.
    pub product_id: String,
    /// The order and its line.
    pub order_id: Option<String>,
    /// The line.
    pub order_line: Option<i64>,
    /// one_time, subscription or usage.
    #[serde(rename = "type")]
    pub licence_type: String,
    /// active, expired or revoked.
    pub status: String,
    /// The key's first characters.
    pub key_prefix: Option<String>,
    /// Subscriptions: end of the paid period.
    pub expires_at: Option<String>,
    /// Usage: units bought.
    pub units_granted: Option<i64>,
    /// Usage: units used.
    pub units_used: i64,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
}

/// An order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderView {
    /// `ord_…`
    pub id: String,
    /// The seller.
    pub seller_org_id: String,
    /// The buyer.
    pub buyer_user_id: String,
    /// The org the licences are for.
    pub buyer_org_id: Option<String>,
    /// ISO 4217.
    pub currency: String,
    /// Before discounts.
    pub subtotal: i64,
    /// Discounts.
    pub discount_total: i64,
    /// What the buyer pays.
    pub total: i64,
    /// The discount code used.
    pub discount_code: Option<String>,
    /// The attributed affiliate (`aff_…`).
    pub affiliate_id: Option<String>,
    /// pending, paid, fulfilled, refunded, partially_refunded, disputed, canceled or expired.
    pub status: String,
    /// Refunded so far.
    pub refunded_total: i64,
    /// Creation time.
    pub created_at: String,
    /// When it was paid.
    pub paid_at: Option<String>,
    /// Its lines.
    pub lines: Vec<OrderLineView>,
    /// Licences granted (to the buyer's and the seller's eyes).
    pub licences: Vec<LicenceView>,
}

/// One order.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderResponse {
    /// The order.
    pub order: OrderView,
}

/// An order with its checkout.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckoutResponse {
    /// The order.
    pub order: OrderView,
    /// The payment page (null when nothing was left to pay).
    pub checkout_url: Option<String>,
    /// The provider's session (`cs_…`).
    pub session_id: Option<String>,
}

/// A page of orders.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderPage {
    /// Newest first.
    pub items: Vec<OrderView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------- rows

/// An `orders` row.
#[derive(Debug, Clone, Deserialize)]
pub struct OrderRow {
    /// `ord_…`
    pub id: String,
    /// The seller.
    pub seller_org_id: String,
    /// The buyer.
    pub buyer_user_id: String,
    /// The org the licences are for.
    pub buyer_org_id: Option<String>,
    /// Currency.
    pub currency: String,
    /// Before discounts.
    pub subtotal: i64,
    /// Discounts.
    pub discount_total: i64,
    /// To pay.
    pub total: i64,
    /// Code used.
    pub discount_code: Option<String>,
    /// Affiliate.
    pub affiliate_id: Option<String>,
    /// Status.
    pub status: String,
    /// Refunded so far.
    pub refunded_total: i64,
    /// Checkout Session.
    pub provider_session: Option<String>,
    /// PaymentIntent.
    pub provider_payment: Option<String>,
    /// Created.
    pub created_at: i64,
    /// Paid.
    pub paid_at: Option<i64>,
}

/// Columns of [`OrderRow`].
pub const ORDER_COLUMNS: &str = "id, seller_org_id, buyer_user_id, buyer_org_id, currency, subtotal, discount_total, total, discount_code, affiliate_id, status, refunded_total, provider_session, provider_payment, created_at, paid_at";

/// An `order_items` row with its price's terms.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemRow {
    /// Position.
    pub line: i64,
    /// Product.
    pub product_id: String,
    /// Price.
    pub price_id: Option<String>,
    /// Bundle.
    pub bundle_id: Option<String>,
    /// Title.
    pub title: String,
    /// Quantity.
    pub quantity: i64,
    /// Unit amount.
    pub unit_amount: i64,
    /// Discount.
    pub discount: i64,
    /// Amount.
    pub amount: i64,
    /// The price's type.
    pub price_type: Option<String>,
    /// Recurring interval.
    pub interval: Option<String>,
    /// Recurring interval count.
    pub interval_count: Option<i64>,
}

impl ItemRow {
    fn view(&self) -> OrderLineView {
        OrderLineView {
            line: self.line,
            product_id: self.product_id.clone(),
            price_id: self.price_id.clone(),
            bundle_id: self.bundle_id.clone(),
            title: self.title.clone(),
            quantity: self.quantity,
            unit_amount: self.unit_amount,
            discount: self.discount,
            amount: self.amount,
        }
    }
}

/// A `licences` row.
#[derive(Debug, Clone, Deserialize)]
pub struct LicenceRow {
    /// `lic_…`
    pub id: String,
    /// Product.
    pub product_id: String,
    /// Seller.
    pub seller_org_id: String,
    /// Holder.
    pub holder_user_id: String,
    /// Order.
    pub order_id: Option<String>,
    /// Line.
    pub order_line: Option<i64>,
    /// Type.
    #[serde(rename = "type")]
    pub licence_type: String,
    /// Status.
    pub status: String,
    /// Key prefix.
    pub key_prefix: Option<String>,
    /// Expiry.
    pub expires_at: Option<i64>,
    /// Units bought.
    pub units_granted: Option<i64>,
    /// Units used.
    pub units_used: i64,
    /// Revocation reason.
    pub revoked_reason: Option<String>,
}

/// Columns of [`LicenceRow`].
pub const LICENCE_COLUMNS: &str = "id, product_id, seller_org_id, holder_user_id, order_id, order_line, type, status, key_prefix, expires_at, units_granted, units_used, revoked_reason";

impl LicenceRow {
    /// The API view.
    pub fn view(&self) -> LicenceView {
        LicenceView {
            id: self.id.clone(),
            product_id: self.product_id.clone(),
            order_id: self.order_id.clone(),
            order_line: self.order_line,
            licence_type: self.licence_type.clone(),
            status: self.status.clone(),
            key_prefix: self.key_prefix.clone(),
            expires_at: self.expires_at.map(util::rfc3339),
            units_granted: self.units_granted,
            units_used: self.units_used,
            revoked_reason: self.revoked_reason.clone(),
        }
    }
}

/// An order by id.
pub async fn load_order(db: &Db, order_id: &str) -> AppResult<Option<OrderRow>> {
    db.first(
        &format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1"),
        args![order_id],
    )
    .await
}

/// The lines of an order, in order.
pub async fn load_items(db: &Db, order_id: &str) -> AppResult<Vec<ItemRow>> {
    db.all(
        "SELECT i.line, i.product_id, i.price_id, i.bundle_id, i.title, i.quantity, i.unit_amount, i.discount, i.amount,
                p.type AS price_type, p.interval, p.interval_count
         FROM order_items i LEFT JOIN prices p ON p.id = i.price_id
         WHERE i.order_id = ?1 ORDER BY i.line",
        args![order_id],
    )
    .await
}

/// The order as the API shows it.
pub async fn order_view(db: &Db, order: &OrderRow) -> AppResult<OrderView> {
    let lines = load_items(db, &order.id).await?;
    let licences: Vec<LicenceRow> = db
        .all(
            &format!(
                "SELECT {LICENCE_COLUMNS} FROM licences WHERE order_id = ?1 ORDER BY order_line"
            ),
            args![order.id.as_str()],
        )
        .await?;
    Ok(OrderView {
        id: order.id.clone(),
        seller_org_id: order.seller_org_id.clone(),
        buyer_user_id: order.buyer_user_id.clone(),
        buyer_org_id: order.buyer_org_id.clone(),
        currency: order.currency.clone(),
        subtotal: order.subtotal,
        discount_total: order.discount_total,
        total: order.total,
        discount_code: order.discount_code.clone(),
        affiliate_id: order.affiliate_id.clone(),
        status: order.status.clone(),
        refunded_total: order.refunded_total,
        created_at: util::rfc3339(order.created_at),
        paid_at: order.paid_at.map(util::rfc3339),
        lines: lines.iter().map(ItemRow::view).collect(),
        licences: licences.iter().map(LicenceRow::view).collect(),
    })
}

/// Loads an order the caller may see: its buyer, or a member of the seller; else 404.
async fn visible_order(ctx: &mut Ctx, buyer_only: bool) -> AppResult<OrderRow> {
    let principal = authenticate(ctx).await?;
    let order_id = check_id(ctx.param("order_id"), "ord", "order")?;
    let order = load_order(&ctx.db()?, &order_id)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    if principal.actor_id() == order.buyer_user_id {
        return Ok(order);
    }
    if buyer_only {
        return Err(AppError::not_found("order"));
    }
    authorize(ctx, &order.seller_org_id, Permission::Read)
        .await
        .map_err(|e| {
            if e.status == 403 {
                e
            } else {
                AppError::not_found("order")
            }
        })?;
    Ok(order)
}

// ---------------------------------------------------------------- cart → order

struct DraftLine {
    seller: String,
    currency: String,
    product_id: String,
    price_id: String,
    bundle_id: Option<String>,
    title: String,
    quantity: i64,
    unit_amount: i64,
    gross: i64,
    discountable: bool,
}

#[derive(Deserialize)]
struct PriceProduct {
    id: String,
    org_id: String,
    product_id: String,
    #[serde(rename = "type")]
    price_type: String,
    currency: String,
    unit_amount: i64,
    active: i64,
    title: String,
    status: String,
}

const PRICE_PRODUCT: &str = "SELECT p.id, p.org_id, p.product_id, p.type, p.currency, p.unit_amount, p.active, pr.title, pr.status
  FROM prices p JOIN products pr ON pr.id = p.product_id";

fn unavailable(what: &str) -> AppError {
    AppError::invalid(
        "price_unavailable",
        format!("{what} is not on sale (unknown, inactive or its product is not active)"),
    )
}

async fn price_line(db: &Db, item: &CartItem, price_id: &str) -> AppResult<DraftLine> {
    let price: Option<PriceProduct> = match check_id(price_id, "pri", "price") {
        Ok(id) => {
            db.first(
                &format!("{PRICE_PRODUCT} WHERE p.id = ?1"),
                args![id.as_str()],
            )
            .await?
        }
        Err(_) => None,
    };
    let price = price
        .filter(|p| p.active != 0 && p.status == "active")
        .ok_or_else(|| unavailable(price_id))?;
    let quantity = item.quantity.unwrap_or(1);
    let range = match price.price_type.as_str() {
        "recurring" => 1..=1,
        "usage" => 1..=1_000_000,
        _ => 1..=100,
    };
    if !range.contains(&quantity) {
        return Err(AppError::invalid(
            "invalid_quantity",
            format!(
                "quantity of a {} price is {} to {}",
                price.price_type,
                range.start(),
                range.end()
            ),
        ));
    }
    let gross = price
        .unit_amount
        .checked_mul(quantity)
        .filter(|g| *g <= super::MAX_AMOUNT);
    let gross = gross
        .ok_or_else(|| AppError::invalid("invalid_amount", "the line's amount is too large"))?;
    Ok(DraftLine {
        seller: price.org_id,
        currency: price.currency,
        product_id: price.product_id,
        price_id: price.id,
        bundle_id: None,
        title: price.title,
        quantity,
        unit_amount: price.unit_amount,
        gross,
        discountable: true,
    })
}

async fn bundle_lines(db: &Db, item: &CartItem, bundle_id: &str) -> AppResult<Vec<DraftLine>> {
    #[derive(Deserialize)]
    struct Bundle {
        id: String,
        org_id: String,
        currency: String,
        amount: i64,
        status: String,
    }
    if item.quantity.is_some_and(|q| q != 1) {
        return Err(AppError::invalid(
            "invalid_quantity",
            "a bundle is bought once per order",
        ));
    }
    let bundle: Option<Bundle> = match check_id(bundle_id, "bnd", "bundle") {
        Ok(id) => {
            db.first(
                "SELECT id, org_id, currency, amount, status FROM bundles WHERE id = ?1",
                args![id.as_str()],
            )
            .await?
        }
        Err(_) => None,
    };
    let bundle = bundle
        .filter(|b| b.status == "active")
        .ok_or_else(|| unavailable(bundle_id))?;
    let prices: Vec<PriceProduct> = db
        .all(
            &format!("{PRICE_PRODUCT} JOIN bundle_items i ON i.price_id = p.id WHERE i.bundle_id = ?1 ORDER BY i.position"),
            args![bundle.id.as_str()],
        )
        .await?;
    if prices.is_empty() || prices.iter().any(|p| p.active == 0 || p.status != "active") {
        return Err(unavailable(bundle_id));
    }
    // The bundle's price, shared over its products in proportion to their own prices.
    let weights: Vec<u64> = prices.iter().map(|p| p.unit_amount.max(0) as u64).collect();
    let shares = split_largest_remainder(bundle.amount, &weights).unwrap_or_else(|| {
        let mut even = vec![0; prices.len()];
        even[0] = bundle.amount;
        even
    });
    Ok(prices
        .into_iter()
        .zip(shares)
        .map(|(price, share)| DraftLine {
            seller: bundle.org_id.clone(),
            currency: bundle.currency.clone(),
            product_id: price.product_id,
            price_id: price.id,
            bundle_id: Some(bundle.id.clone()),
            title: price.title,
            quantity: 1,
            unit_amount: share,
            gross: share,
            discountable: false,
        })
        .collect())
}

#[derive(Deserialize)]
struct Attribution {
    click_id: String,
    affiliate_id: String,
    user_id: String,
    product_id: Option<String>,
    commission_bps: i64,
}

/// The buyer's last click within the window on an approved affiliate of the seller (not the
/// buyer's own link; for a product-scoped affiliate, only when that product is in the order).
async fn attribution(
    ctx: &Ctx,
    db: &Db,
    buyer: &str,
    seller: &str,
    click_id: Option<&str>,
    products: &[&str],
) -> AppResult<Option<Attribution>> {
    let days = super::var_i64(ctx, "AFFILIATE_WINDOW_DAYS", 30, 3650);
    let since = ctx.now - days * 86_400_000;
    let candidates: Vec<Attribution> = db
        .all(
            "SELECT c.id AS click_id, a.id AS affiliate_id, a.user_id, a.product_id, a.commission_bps
             FROM affiliate_clicks c JOIN affiliates a ON a.id = c.affiliate_id
             WHERE (c.user_id = ?1 OR c.id = ?2) AND c.created_at >= ?3 AND a.seller_org_id = ?4
               AND a.status = 'approved' AND a.user_id != ?1
             ORDER BY c.created_at DESC, c.id DESC LIMIT 20",
            args![buyer, click_id, since, seller],
        )
        .await?;
    Ok(candidates.into_iter().find(|c| {
        c.product_id
            .as_deref()
            .is_none_or(|p| products.contains(&p))
    }))
}

/// `POST /v1/orders`
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let buyer = principal.user_id()?.to_string();
    let body: CreateOrderBody = ctx.json(&mut req).await?;
    if body.items.is_empty() || body.items.len() > MAX_ITEMS {
        return Err(AppError::invalid(
            "invalid_cart",
            format!("a cart has 1 to {MAX_ITEMS} items"),
        ));
    }
    if let Some(org) = &body.buyer_org_id {
        authorize(ctx, org, Permission::Write).await?;
    }
    let db = ctx.db()?;
    let mut lines: Vec<DraftLine> = Vec::new();
    for item in &body.items {
        match (&item.price_id, &item.bundle_id) {
            (Some(price_id), None) => lines.push(price_line(&db, item, price_id).await?),
            (None, Some(bundle_id)) => lines.extend(bundle_lines(&db, item, bundle_id).await?),
            _ => {
                return Err(AppError::invalid(
                    "invalid_cart",
                    "each item names a price_id or a bundle_id",
                ))
            }
        }
    }
    for (index, line) in lines.iter().enumerate() {
        if lines[..index].iter().any(|l| l.price_id == line.price_id) {
            return Err(AppError::invalid(
                "duplicate_item",
                "each price appears once in a cart (use quantity)",
            ));
        }
    }
    let seller = lines[0].seller.clone();
    let currency = lines[0].currency.clone();
    if lines.iter().any(|l| l.seller != seller) {
        return Err(AppError::invalid(
            "mixed_sellers",
            "an order buys from one seller; split the cart",
        ));
    }
    if lines.iter().any(|l| l.currency != currency) {
        return Err(AppError::invalid(
            "currency_mismatch",
            "an order is in one currency",
        ));
    }

    // The discount code: at most one; checked against its rules and redemptions.
    let codes = body.discount_codes.clone().unwrap_or_default();
    if codes.len() > 1 {
        return Err(AppError::invalid(
            "discount_not_stackable",
            "discount codes do not stack: use one code per order",
        ));
    }
    let mut discount: Option<DiscountRow> = None;
    let mut line_discounts = vec![0i64; lines.len()];
    if let Some(raw) = codes.first() {
        let code = clean_code(raw).ok_or_else(|| {
            AppError::invalid("invalid_discount_code", "this discount code does not exist")
        })?;
        let row: DiscountRow = db
            .first(
                &format!("SELECT {DISCOUNT_COLUMNS} FROM discounts d WHERE d.org_id = ?1 AND d.code = ?2"),
                args![seller.as_str(), code.as_str()],
            )
            .await?
            .ok_or_else(|| {
                AppError::invalid("invalid_discount_code", "this discount code does not exist")
            })?;
        #[derive(Deserialize)]
        struct Used {
            total: i64,
            mine: i64,
        }
        let used: Used = db
            .first(
                "SELECT COUNT(*) AS total, COALESCE(SUM(buyer_user_id = ?2), 0) AS mine
                 FROM discount_redemptions WHERE discount_id = ?1 AND released_at IS NULL",
                args![row.id.as_str(), buyer.as_str()],
            )
            .await?
            .unwrap_or(Used { total: 0, mine: 0 });
        let discount_lines: Vec<discount::Line> = lines
            .iter()
            .map(|l| discount::Line {
                product_id: &l.product_id,
                amount: l.gross,
                discountable: l.discountable,
            })
            .collect();
        line_discounts = discount::apply(
            &row.rules(),
            &discount_lines,
            &currency,
            ctx.now,
            Usage {
                total: used.total,
                by_buyer: used.mine,
            },
        )
        .map_err(|error| AppError::invalid(error.code(), error.to_string()))?;
        discount = Some(row);
    }

    let products: Vec<&str> = lines.iter().map(|l| l.product_id.as_str()).collect();
    let click_id = body
        .affiliate_click_id
        .as_deref()
        .filter(|c| c.starts_with("clk_") && c.len() <= 64);
    let attributed = attribution(ctx, &db, &buyer, &seller, click_id, &products).await?;

    let subtotal: i64 = lines.iter().map(|l| l.gross).sum();
    let discount_total: i64 = line_discounts.iter().sum();
    let total = subtotal - discount_total;
    if total > super::MAX_AMOUNT {
        return Err(AppError::invalid(
            "invalid_amount",
            "the order's total is too large",
        ));
    }
    let order_id = util::new_id("ord", ctx.now);
    let mut changes = vec![db.stmt(
        "INSERT INTO orders (id, seller_org_id, buyer_user_id, buyer_org_id, currency, subtotal, discount_total, total, discount_code, affiliate_id, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11, ?11)",
        args![
            order_id.as_str(),
            seller.as_str(),
            buyer.as_str(),
            body.buyer_org_id.clone(),
            currency.as_str(),
            subtotal,
            discount_total,
            total,
            discount.as_ref().map(|d| d.code.clone()),
            attributed.as_ref().map(|a| a.affiliate_id.clone()),
            ctx.now
        ],
    )?];
    for (index, (line, off)) in lines.iter().zip(&line_discounts).enumerate() {
        changes.push(db.stmt(
            "INSERT INTO order_items (order_id, line, product_id, price_id, bundle_id, title, quantity, unit_amount, discount, amount)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            args![
                order_id.as_str(),
                index as i64 + 1,
                line.product_id.as_str(),
                line.price_id.as_str(),
                line.bundle_id.clone(),
                line.title.as_str(),
                line.quantity,
                line.unit_amount,
                *off,
                line.gross - off
            ],
        )?);
    }
    changes.push(db.stmt(
        "INSERT INTO order_commerce (order_id, affiliate_user_id, affiliate_bps, affiliate_product, click_id)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        args![
            order_id.as_str(),
            attributed.as_ref().map(|a| a.user_id.clone()),
            attributed.as_ref().map(|a| a.commission_bps).unwrap_or(0),
            attributed.as_ref().and_then(|a| a.product_id.clone()),
            attributed.as_ref().map(|a| a.click_id.clone())
        ],
    )?);
    if let Some(row) = &discount {
        changes.push(db.stmt(
            "INSERT INTO discount_redemptions (order_id, discount_id, buyer_user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
            args![order_id.as_str(), row.id.as_str(), buyer.as_str(), ctx.now],
        )?);
        // Concurrent orders with the same code: the limits hold whatever the interleaving.
        changes.push(guard(
            &db,
            "(?2 IS NOT NULL AND (SELECT COUNT(*) FROM discount_redemptions WHERE discount_id = ?1 AND released_at IS NULL) > ?2)
             OR (?3 IS NOT NULL AND (SELECT COUNT(*) FROM discount_redemptions WHERE discount_id = ?1 AND buyer_user_id = ?4 AND released_at IS NULL) > ?3)",
            args![row.id.as_str(), row.max_redemptions, row.max_per_buyer, buyer.as_str()],
        )?);
    }
    let record = Record::success(Some(&seller), "order.create", Some(("order", &order_id)))
        .with_details(json!({
            "buyer_user_id": buyer, "currency": currency, "subtotal": subtotal,
            "discount_total": discount_total, "total": total,
            "discount_code": discount.as_ref().map(|d| d.code.clone()),
            "affiliate_id": attributed.as_ref().map(|a| a.affiliate_id.clone()),
        }));
    match audit::commit(ctx, &db, changes, record, None).await {
        Ok(_) => {}
        Err(error) if lost_race(&error) => {
            return Err(AppError::invalid(
                "discount_exhausted",
                "this discount code has just been used up",
            ))
        }
        Err(error) => return Err(error),
    }
    let order = load_order(&db, &order_id)
        .await?
        .ok_or_else(|| AppError::internal("order vanished after insert"))?;
    http::json(
        201,
        &OrderResponse {
            order: order_view(&db, &order).await?,
        },
    )
}

/// `GET /v1/orders/{order_id}` (its buyer, or members of the seller)
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let order = visible_order(ctx, false).await?;
    http::json(
        200,
        &OrderResponse {
            order: order_view(&ctx.db()?, &order).await?,
        },
    )
}

async fn order_page(ctx: &mut Ctx, column: &str, owner: &str) -> AppResult<Response> {
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let db = ctx.db()?;
    let mut rows: Vec<OrderRow> = db
        .all(
            &format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE {column} = ?1 AND (?2 IS NULL OR id < ?2)
                 ORDER BY id DESC LIMIT ?3"
            ),
            args![owner, before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        items.push(order_view(&db, row).await?);
    }
    http::json(200, &OrderPage { items, next_cursor })
}

/// `GET /v1/me/orders`
pub async fn list_mine(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let buyer = principal.user_id()?.to_string();
    order_page(ctx, "buyer_user_id", &buyer).await
}

/// `GET /v1/orgs/{org_id}/orders` (the seller's sales)
pub async fn list_sales(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    order_page(ctx, "seller_org_id", &org_id).await
}

fn check_return_url(raw: Option<String>, default: String) -> AppResult<String> {
    let Some(raw) = raw else {
        return Ok(default);
    };
    let ok = raw.len() <= 2048
        && url::Url::parse(&raw).is_ok_and(|u| ["http", "https"].contains(&u.scheme()));
    if !ok {
        return Err(AppError::invalid(
            "invalid_url",
            "return URLs are absolute http(s) URLs of at most 2048 characters",
        ));
    }
    Ok(raw)
}

/// `POST /v1/orders/{order_id}/checkout` (the buyer): opens the provider's checkout, once.
pub async fn checkout(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let order = visible_order(ctx, true).await?;
    let body: CheckoutBody = if ctx.header("content-type").is_some() {
        ctx.json(&mut req).await?
    } else {
        CheckoutBody::default()
    };
    let origin = ctx.url.origin().ascii_serialization();
    let success_url = check_return_url(
        body.success_url,
        format!("{origin}/app/orders/{}?checkout=success", order.id),
    )?;
    let cancel_url = check_return_url(
        body.cancel_url,
        format!("{origin}/app/orders/{}?checkout=cancel", order.id),
    )?;
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Existing {
        checkout_url: Option<String>,
    }
    if order.status != "pending" {
        return Err(AppError::conflict(
            "order_not_pending",
            format!("the order is {}", order.status),
        ));
    }
    if let Some(session) = &order.provider_session {
        let existing: Option<Existing> = db
            .first(
                "SELECT checkout_url FROM order_commerce WHERE order_id = ?1",
                args![order.id.as_str()],
            )
            .await?;
        return http::json(
            200,
            &CheckoutResponse {
                order: order_view(&db, &order).await?,
                checkout_url: existing.and_then(|e| e.checkout_url),
                session_id: Some(session.clone()),
            },
        );
    }
    if order.total == 0 {
        // Nothing to pay (a 100 % discount): fulfilled at once, without the provider.
        super::fulfil::fulfil_order(ctx, &db, &order, None, None, Vec::new()).await?;
        let order = load_order(&db, &order.id)
            .await?
            .ok_or_else(|| AppError::not_found("order"))?;
        return http::json(
            200,
            &CheckoutResponse {
                order: order_view(&db, &order).await?,
                checkout_url: None,
                session_id: None,
            },
        );
    }
    let items = load_items(&db, &order.id).await?;
    let request = CheckoutRequest {
        order_id: order.id.clone(),
        currency: order.currency.to_ascii_lowercase(),
        lines: items
            .iter()
            .map(|item| CheckoutLine {
                name: if item.quantity > 1 {
                    format!("{} × {}", item.title, item.quantity)
                } else {
                    item.title.clone()
                },
                amount: item.amount,
                recurring: (item.price_type.as_deref() == Some("recurring")).then(|| {
                    (
                        item.interval.clone().unwrap_or_else(|| "month".into()),
                        item.interval_count.unwrap_or(1),
                    )
                }),
            })
            .collect(),
        success_url,
        cancel_url,
    };
    let stripe = Stripe::from_ctx(ctx)?;
    let session = stripe
        .create_checkout_session(&request)
        .await
        .map_err(|error| {
            let mut app = AppError::new(
                502,
                "payment_provider_error",
                "the payment provider refused to open a checkout; try again",
            );
            app.internal = Some(format!("Stripe {}: {}", error.status, error.message));
            app
        })?;
    let changes = vec![
        db.stmt(
            "UPDATE orders SET provider_session = ?1, updated_at = ?2 WHERE id = ?3 AND status = 'pending' AND provider_session IS NULL",
            args![session.id.as_str(), ctx.now, order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE order_commerce SET checkout_url = ?1 WHERE order_id = ?2",
            args![session.url.clone(), order.id.as_str()],
        )?,
    ];
    let record = Record::success(
        Some(&order.seller_org_id),
        "order.checkout",
        Some(("order", &order.id)),
    )
    .with_details(json!({ "session_id": session.id, "total": order.total }));
    audit::commit(ctx, &db, changes, record, None).await?;
    let order = load_order(&db, &order.id)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    http::json(
        200,
        &CheckoutResponse {
            order: order_view(&db, &order).await?,
            checkout_url: session.url,
            session_id: Some(session.id),
        },
    )
}

/// `POST /v1/orders/{order_id}/cancel` (the buyer): a pending order is dropped and its discount
/// redemption released.
pub async fn cancel(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let order = visible_order(ctx, true).await?;
    if order.status != "pending" {
        return Err(AppError::conflict(
            "order_not_pending",
            format!("the order is {}", order.status),
        ));
    }
    let db = ctx.db()?;
    let changes = vec![
        guard(
            &db,
            "(SELECT status FROM orders WHERE id = ?1) != 'pending'",
            args![order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE orders SET status = 'canceled', updated_at = ?1 WHERE id = ?2",
            args![ctx.now, order.id.as_str()],
        )?,
        db.stmt(
            "UPDATE discount_redemptions SET released_at = ?1 WHERE order_id = ?2 AND released_at IS NULL",
            args![ctx.now, order.id.as_str()],
        )?,
    ];
    let record = Record::success(
        Some(&order.seller_org_id),
        "order.cancel",
        Some(("order", &order.id)),
    );
    match audit::commit(ctx, &db, changes, record, None).await {
        Ok(_) => {}
        Err(error) if lost_race(&error) => {
            return Err(AppError::conflict(
                "order_not_pending",
                "the order changed meanwhile",
            ))
        }
        Err(error) => return Err(error),
    }
    let order = load_order(&db, &order.id)
        .await?
        .ok_or_else(|| AppError::not_found("order"))?;
    http::json(
        200,
        &OrderResponse {
            order: order_view(&db, &order).await?,
        },
    )
}
