//! The seller's catalog: products, prices, revenue-share rules, discount codes and bundles.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Response};

use super::discount::DiscountValue;
use super::ledger::{SplitError, SplitRule};
use super::{check_amount, check_currency, check_id};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{clean_name, decode_cursor, page};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

const PRODUCT_KINDS: &[&str] = &[
    "template",
    "effect_preset",
    "agent",
    "workflow",
    "asset_pack",
    "membership",
    "service",
    "physical",
];
const SUBJECT_TYPES: &[&str] = &["project", "asset", "agent", "workflow"];
const MAX_DESCRIPTION: usize = 5000;
const MAX_MEDIA: usize = 10;

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ProductView {
    /// `prd_…`
    pub id: String,
    /// The seller.
    pub org_id: String,
    /// template, effect_preset, agent, workflow, asset_pack, membership, service or physical.
    pub kind: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Asset ids of the cover and previews.
    pub media: Vec<String>,
    /// What the buyer gets the right to use: project, asset, agent or workflow.
    pub subject_type: Option<String>,
    /// Its id.
    pub subject_id: Option<String>,
    /// draft, active or archived.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A price as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PriceView {
    /// `pri_…`
    pub id: String,
    /// The product.
    pub product_id: String,
    /// one_time, recurring or usage.
    #[serde(rename = "type")]
    pub price_type: String,
    /// ISO 4217, upper case.
    pub currency: String,
    /// Minor units per item, period or unit.
    pub unit_amount: i64,
    /// Whether the amount includes tax.
    pub tax_inclusive: bool,
    /// Recurring: day, week, month or year.
    pub interval: Option<String>,
    /// Recurring: periods per billing cycle.
    pub interval_count: Option<i64>,
    /// Usage: what one unit is.
    pub usage_unit: Option<String>,
    /// Whether it can be bought.
    pub active: bool,
    /// Creation time.
    pub created_at: String,
}

/// `POST /v1/orgs/{org_id}/products`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProductBody {
    /// template, effect_preset, agent, workflow, asset_pack, membership, service or physical.
    pub kind: String,
    /// 1–100 characters.
    pub title: String,
    /// Up to 5000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Up to 10 asset ids of the seller (cover, previews).
    #[serde(default)]
    pub media: Option<Vec<String>>,
    /// project, asset, agent or workflow: what a licence lets the buyer use.
    #[serde(default)]
    pub subject_type: Option<String>,
    /// Its id; projects and assets must belong to the seller.
    #[serde(default)]
    pub subject_id: Option<String>,
    /// draft (default) or active.
    #[serde(default)]
    pub status: Option<String>,
}

/// `PATCH /v1/products/{product_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductBody {
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New media list.
    #[serde(default)]
    pub media: Option<Vec<String>>,
    /// draft, active or archived.
    #[serde(default)]
    pub status: Option<String>,
}

/// One product with its prices.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductResponse {
    /// The product.
    pub product: ProductView,
    /// Its prices, oldest first.
    pub prices: Vec<PriceView>,
}

/// A page of products.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductPage {
    /// Newest first.
    pub items: Vec<ProductView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `POST /v1/products/{product_id}/prices`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePriceBody {
    /// one_time, recurring or usage.
    #[serde(rename = "type")]
    pub price_type: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Minor units (0 to 99 999 999) per item, per period (recurring) or per unit (usage).
    pub unit_amount: i64,
    /// Whether the amount includes tax (default false).
    #[serde(default)]
    pub tax_inclusive: Option<bool>,
    /// Recurring: day, week, month or year.
    #[serde(default)]
    pub interval: Option<String>,
    /// Recurring: 1–12 (default 1).
    #[serde(default)]
    pub interval_count: Option<i64>,
    /// Usage: what one unit is, e.g. `render_minute`.
    #[serde(default)]
    pub usage_unit: Option<String>,
}

/// `PATCH /v1/prices/{price_id}`: prices are immutable snapshots except for being on sale.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePriceBody {
    /// Whether it can be bought.
    pub active: bool,
}

/// One price.
#[derive(Debug, Serialize, JsonSchema)]
pub struct PriceResponse {
    /// The price.
    pub price: PriceView,
}

/// A collaborator's share.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CollaboratorShare {
    /// `usr_…`
    pub user_id: String,
    /// Basis points (1 % = 100).
    pub bps: u32,
}

/// `PUT /v1/products/{product_id}/revenue-share`, and its answer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RevenueShareBody {
    /// The platform's fee, basis points.
    pub platform_bps: u32,
    /// The seller org's share, basis points.
    pub creator_bps: u32,
    /// Collaborators' shares (at most 20). All shares add up to exactly 10000.
    #[serde(default)]
    pub collaborators: Vec<CollaboratorShare>,
}

/// A product's revenue-share rule.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RevenueShareResponse {
    /// The product.
    pub product_id: String,
    /// Whether the product has its own rule (else the platform default applies).
    pub custom: bool,
    /// The rule in force.
    pub rule: RevenueShareBody,
}

/// `POST /v1/orgs/{org_id}/discounts`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDiscountBody {
    /// 3–32 letters, digits, `-` or `_` (stored upper case; unique per seller).
    pub code: String,
    /// Percentage off in basis points (1–10000); or give `amount_off` + `currency`.
    #[serde(default)]
    pub percent_off_bps: Option<u32>,
    /// Fixed amount off, minor units.
    #[serde(default)]
    pub amount_off: Option<i64>,
    /// Currency of `amount_off`.
    #[serde(default)]
    pub currency: Option<String>,
    /// Only these products of the seller (default: all).
    #[serde(default)]
    pub product_ids: Option<Vec<String>>,
    /// Valid from (RFC 3339), inclusive.
    #[serde(default)]
    pub starts_at: Option<String>,
    /// Valid until (RFC 3339), exclusive.
    #[serde(default)]
    pub ends_at: Option<String>,
    /// Redemptions in total.
    #[serde(default)]
    pub max_redemptions: Option<i64>,
    /// Redemptions per buyer.
    #[serde(default)]
    pub max_per_buyer: Option<i64>,
}

/// `PATCH /v1/discounts/{discount_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateDiscountBody {
    /// Switch the code on or off.
    pub active: bool,
}

/// A discount code.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiscountView {
    /// `dsc_…`
    pub id: String,
    /// The seller.
    pub org_id: String,
    /// The code.
    pub code: String,
    /// percent or fixed.
    pub kind: String,
    /// Percentage off, basis points.
    pub percent_off_bps: Option<i64>,
    /// Fixed amount off.
    pub amount_off: Option<i64>,
    /// Currency of the fixed amount.
    pub currency: Option<String>,
    /// Product scope (null: all).
    pub product_ids: Option<Vec<String>>,
    /// Valid from.
    pub starts_at: Option<String>,
    /// Valid until.
    pub ends_at: Option<String>,
    /// Total redemptions allowed.
    pub max_redemptions: Option<i64>,
    /// Per-buyer redemptions allowed.
    pub max_per_buyer: Option<i64>,
    /// Redemptions so far (orders not expired or cancelled).
    pub redemptions: i64,
    /// Switched on.
    pub active: bool,
}

/// One discount.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiscountResponse {
    /// The discount.
    pub discount: DiscountView,
}

/// The seller's discounts.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiscountList {
    /// Newest first.
    pub items: Vec<DiscountView>,
}

/// `POST /v1/orgs/{org_id}/bundles`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBundleBody {
    /// 1–100 characters.
    pub title: String,
    /// Prices (one-time, one currency) of 2–10 distinct products of the seller.
    pub price_ids: Vec<String>,
    /// The bundle's price in minor units.
    pub amount: i64,
}

/// A bundle.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BundleView {
    /// `bnd_…`
    pub id: String,
    /// The seller.
    pub org_id: String,
    /// Title.
    pub title: String,
    /// Currency.
    pub currency: String,
    /// Bundle price, minor units.
    pub amount: i64,
    /// Prices bundled, in order.
    pub price_ids: Vec<String>,
    /// active or archived.
    pub status: String,
}

/// One bundle.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BundleResponse {
    /// The bundle.
    pub bundle: BundleView,
}

/// The seller's bundles.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BundleList {
    /// Newest first.
    pub items: Vec<BundleView>,
}

// ---------------------------------------------------------------- rows

/// A `products` row.
#[derive(Debug, Clone, Deserialize)]
pub struct ProductRow {
    /// `prd_…`
    pub id: String,
    /// The seller.
    pub org_id: String,
    /// Kind.
    pub kind: String,
    /// Title.
    pub title: String,
    description: String,
    media: String,
    /// Subject type.
    pub subject_type: Option<String>,
    /// Subject id.
    pub subject_id: Option<String>,
    /// Status.
    pub status: String,
    created_at: i64,
    updated_at: i64,
}

const PRODUCT_COLUMNS: &str = "id, org_id, kind, title, description, media, subject_type, subject_id, status, created_at, updated_at";

impl ProductRow {
    /// The API view.
    pub fn view(&self) -> ProductView {
        ProductView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            kind: self.kind.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            media: serde_json::from_str(&self.media).unwrap_or_default(),
            subject_type: self.subject_type.clone(),
            subject_id: self.subject_id.clone(),
            status: self.status.clone(),
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
        }
    }
}

/// A `prices` row.
#[derive(Debug, Clone, Deserialize)]
pub struct PriceRow {
    /// `pri_…`
    pub id: String,
    /// The seller.
    pub org_id: String,
    /// The product.
    pub product_id: String,
    /// one_time, recurring or usage.
    #[serde(rename = "type")]
    pub price_type: String,
    /// Currency.
    pub currency: String,
    /// Minor units.
    pub unit_amount: i64,
    tax_inclusive: i64,
    /// Recurring interval.
    pub interval: Option<String>,
    /// Recurring interval count.
    pub interval_count: Option<i64>,
    /// Usage unit.
    pub usage_unit: Option<String>,
    /// 1 when on sale.
    pub active: i64,
    created_at: i64,
}

/// Columns of [`PriceRow`].
pub const PRICE_COLUMNS: &str = "id, org_id, product_id, type, currency, unit_amount, tax_inclusive, interval, interval_count, usage_unit, active, created_at";

impl PriceRow {
    /// The API view.
    pub fn view(&self) -> PriceView {
        PriceView {
            id: self.id.clone(),
            product_id: self.product_id.clone(),
            price_type: self.price_type.clone(),
            currency: self.currency.clone(),
            unit_amount: self.unit_amount,
            tax_inclusive: self.tax_inclusive != 0,
            interval: self.interval.clone(),
            interval_count: self.interval_count,
            usage_unit: self.usage_unit.clone(),
            active: self.active != 0,
            created_at: util::rfc3339(self.created_at),
        }
    }
}

// ---------------------------------------------------------------- products

fn check_kind(kind: &str) -> AppResult<()> {
    if PRODUCT_KINDS.contains(&kind) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "invalid_kind",
            format!("kind is one of: {}", PRODUCT_KINDS.join(", ")),
        ))
    }
}

fn check_description(raw: Option<&str>) -> AppResult<String> {
    let text = raw.unwrap_or("").trim().to_string();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(AppError::invalid(
            "invalid_description",
            format!("the description has at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(text)
}

async fn check_media(db: &Db, org_id: &str, media: &[String]) -> AppResult<String> {
    if media.len() > MAX_MEDIA {
        return Err(AppError::invalid(
            "invalid_media",
            format!("at most {MAX_MEDIA} media assets"),
        ));
    }
    #[derive(Deserialize)]
    struct Count {
        n: i64,
    }
    let list = serde_json::to_string(media)?;
    let found: Option<Count> = db
        .first(
            "SELECT COUNT(DISTINCT id) AS n FROM assets WHERE org_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
            args![org_id, list.as_str()],
        )
        .await?;
    let distinct: std::collections::BTreeSet<&String> = media.iter().collect();
    if found.map(|c| c.n).unwrap_or(0) != distinct.len() as i64 {
        return Err(AppError::invalid(
            "invalid_media",
            "media must be assets of the selling organisation",
        ));
    }
    Ok(list)
}

async fn check_subject(
    db: &Db,
    org_id: &str,
    subject_type: Option<&str>,
    subject_id: Option<&str>,
) -> AppResult<()> {
    let (kind, id) = match (subject_type, subject_id) {
        (None, None) => return Ok(()),
        (Some(kind), Some(id)) => (kind, id),
        _ => {
            return Err(AppError::invalid(
                "invalid_subject",
                "give subject_type and subject_id together",
            ))
        }
    };
    if !SUBJECT_TYPES.contains(&kind) || id.is_empty() || id.len() > 64 {
        return Err(AppError::invalid(
            "invalid_subject",
            format!("subject_type is one of: {}", SUBJECT_TYPES.join(", ")),
        ));
    }
    let sql = match kind {
        "project" => "SELECT id FROM projects WHERE id = ?1 AND org_id = ?2 AND deleted_at IS NULL",
        "asset" => "SELECT id FROM assets WHERE id = ?1 AND org_id = ?2",
        _ => return Ok(()),
    };
    #[derive(Deserialize)]
    struct Found {
        #[expect(dead_code, reason = "only its presence matters")]
        id: String,
    }
    if db.first::<Found>(sql, args![id, org_id]).await?.is_none() {
        return Err(AppError::invalid(
            "invalid_subject",
            format!("the {kind} must belong to the selling organisation"),
        ));
    }
    Ok(())
}

/// Loads a product visible to the caller: members of the seller see every product, other
/// signed-in users only active ones; everything else is 404.
pub async fn load_product(
    ctx: &mut Ctx,
    product_id: &str,
    permission: Permission,
) -> AppResult<ProductRow> {
    authenticate(ctx).await?;
    let product_id = check_id(product_id, "prd", "product")?;
    let row: Option<ProductRow> = ctx
        .db()?
        .first(
            &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"),
            args![product_id.as_str()],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("product"))?;
    match authorize(ctx, &row.org_id, permission).await {
        Ok(_) => Ok(row),
        Err(error) if error.status == 404 => {
            if permission == Permission::Read && row.status == "active" {
                Ok(row)
            } else {
                Err(AppError::not_found("product"))
            }
        }
        Err(error) => Err(error),
    }
}

async fn prices_of(db: &Db, product_id: &str) -> AppResult<Vec<PriceView>> {
    let rows: Vec<PriceRow> = db
        .all(
            &format!("SELECT {PRICE_COLUMNS} FROM prices WHERE product_id = ?1 ORDER BY id"),
            args![product_id],
        )
        .await?;
    Ok(rows.iter().map(PriceRow::view).collect())
}

/// `POST /v1/orgs/{org_id}/products`
pub async fn create_product(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: CreateProductBody = ctx.json(&mut req).await?;
    check_kind(&body.kind)?;
    let title = clean_name(&body.title, "product title")?;
    let description = check_description(body.description.as_deref())?;
    let status = body.status.as_deref().unwrap_or("draft");
    if !["draft", "active"].contains(&status) {
        return Err(AppError::invalid(
            "invalid_status",
            "a new product is draft or active",
        ));
    }
    let db = ctx.db()?;
    let media = check_media(&db, &org_id, body.media.as_deref().unwrap_or(&[])).await?;
    check_subject(
        &db,
        &org_id,
        body.subject_type.as_deref(),
        body.subject_id.as_deref(),
    )
    .await?;
    let id = util::new_id("prd", ctx.now);
    let created_by = ctx.principal.as_ref().map(|p| p.actor_id().to_string());
    let insert = db.stmt(
        "INSERT INTO products (id, org_id, kind, title, description, media, subject_type, subject_id, status, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
        args![
            id.as_str(),
            org_id.as_str(),
            body.kind.as_str(),
            title.as_str(),
            description.as_str(),
            media.as_str(),
            body.subject_type.clone(),
            body.subject_id.clone(),
            status,
            created_by,
            ctx.now
        ],
    )?;
    let record = Record::success(Some(&org_id), "product.create", Some(("product", &id)))
        .with_details(json!({ "kind": body.kind, "status": status }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    let product: ProductRow = db
        .first(
            &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"),
            args![id.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::internal("product vanished after insert"))?;
    http::json(
        201,
        &ProductResponse {
            product: product.view(),
            prices: Vec::new(),
        },
    )
}

/// `GET /v1/orgs/{org_id}/products?status=&cursor=&limit=`
pub async fn list_products(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let status = ctx.query("status");
    if let Some(status) = &status {
        if !["draft", "active", "archived"].contains(&status.as_str()) {
            return Err(AppError::invalid(
                "invalid_status",
                "status is draft, active or archived",
            ));
        }
    }
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<ProductRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {PRODUCT_COLUMNS} FROM products
                 WHERE org_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
                 ORDER BY id DESC LIMIT ?4"
            ),
            args![org_id.as_str(), status, before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(ProductRow::view).collect();
    http::json(200, &ProductPage { items, next_cursor })
}

/// `GET /v1/products/{product_id}`
pub async fn get_product(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let id = ctx.param("product_id").to_string();
    let row = load_product(ctx, &id, Permission::Read).await?;
    let prices = prices_of(&ctx.db()?, &row.id).await?;
    http::json(
        200,
        &ProductResponse {
            product: row.view(),
            prices,
        },
    )
}

/// `PATCH /v1/products/{product_id}`
pub async fn update_product(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let id = ctx.param("product_id").to_string();
    let row = load_product(ctx, &id, Permission::Write).await?;
    let body: UpdateProductBody = ctx.json(&mut req).await?;
    let db = ctx.db()?;
    let title = body
        .title
        .as_deref()
        .map(|t| clean_name(t, "product title"))
        .transpose()?;
    let description = body
        .description
        .as_deref()
        .map(|d| check_description(Some(d)))
        .transpose()?;
    let media = match &body.media {
        Some(media) => Some(check_media(&db, &row.org_id, media).await?),
        None => None,
    };
    if let Some(status) = &body.status {
        if !["draft", "active", "archived"].contains(&status.as_str()) {
            return Err(AppError::invalid(
                "invalid_status",
                "status is draft, active or archived",
            ));
        }
    }
    let update = db.stmt(
        "UPDATE products SET title = COALESCE(?1, title), description = COALESCE(?2, description),
           media = COALESCE(?3, media), status = COALESCE(?4, status), updated_at = ?5 WHERE id = ?6",
        args![title, description, media, body.status.clone(), ctx.now, row.id.as_str()],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "product.update",
        Some(("product", &row.id)),
    )
    .with_details(json!({ "status": body.status }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    let row: ProductRow = db
        .first(
            &format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = ?1"),
            args![row.id.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::not_found("product"))?;
    let prices = prices_of(&db, &row.id).await?;
    http::json(
        200,
        &ProductResponse {
            product: row.view(),
            prices,
        },
    )
}

// ---------------------------------------------------------------- prices

/// `POST /v1/products/{product_id}/prices`
pub async fn create_price(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let id = ctx.param("product_id").to_string();
    let product = load_product(ctx, &id, Permission::Write).await?;
    let body: CreatePriceBody = ctx.json(&mut req).await?;
    let currency = check_currency(&body.currency)?;
    let unit_amount = check_amount(body.unit_amount, "unit_amount")?;
    let (interval, interval_count, usage_unit) = match body.price_type.as_str() {
        "one_time" => {
            if body.interval.is_some() || body.interval_count.is_some() || body.usage_unit.is_some()
            {
                return Err(AppError::invalid(
                    "invalid_price",
                    "a one-time price has no interval or usage unit",
                ));
            }
            (None, None, None)
        }
        "recurring" => {
            let interval = body.interval.clone().unwrap_or_default();
            if !["day", "week", "month", "year"].contains(&interval.as_str()) {
                return Err(AppError::invalid(
                    "invalid_interval",
                    "a recurring price's interval is day, week, month or year",
                ));
            }
            let count = body.interval_count.unwrap_or(1);
            if !(1..=12).contains(&count) {
                return Err(AppError::invalid(
                    "invalid_interval",
                    "interval_count is 1 to 12",
                ));
            }
            if body.usage_unit.is_some() {
                return Err(AppError::invalid(
                    "invalid_price",
                    "a recurring price has no usage unit",
                ));
            }
            (Some(interval), Some(count), None)
        }
        "usage" => {
            let unit = body.usage_unit.clone().unwrap_or_default();
            let ok = (1..=40).contains(&unit.len())
                && unit
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok || body.interval.is_some() {
                return Err(AppError::invalid(
                    "invalid_usage_unit",
                    "a usage price names its unit: 1–40 of a-z, 0-9, _",
                ));
            }
            (None, None, Some(unit))
        }
        _ => {
            return Err(AppError::invalid(
                "invalid_price_type",
                "type is one_time, recurring or usage",
            ))
        }
    };
    let db = ctx.db()?;
    let price_id = util::new_id("pri", ctx.now);
    let insert = db.stmt(
        "INSERT INTO prices (id, org_id, product_id, type, currency, unit_amount, tax_inclusive, interval, interval_count, usage_unit, active, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, ?11)",
        args![
            price_id.as_str(),
            product.org_id.as_str(),
            product.id.as_str(),
            body.price_type.as_str(),
            currency.as_str(),
            unit_amount,
            body.tax_inclusive.unwrap_or(false) as i64,
            interval,
            interval_count,
            usage_unit,
            ctx.now
        ],
    )?;
    let record = Record::success(Some(&product.org_id), "price.create", Some(("price", &price_id)))
        .with_details(json!({ "product_id": product.id, "type": body.price_type, "currency": currency, "unit_amount": unit_amount }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    let price = load_price(&db, &price_id)
        .await?
        .ok_or_else(|| AppError::internal("price vanished after insert"))?;
    http::json(
        201,
        &PriceResponse {
            price: price.view(),
        },
    )
}

/// A price by id.
pub async fn load_price(db: &Db, price_id: &str) -> AppResult<Option<PriceRow>> {
    db.first(
        &format!("SELECT {PRICE_COLUMNS} FROM prices WHERE id = ?1"),
        args![price_id],
    )
    .await
}

/// `PATCH /v1/prices/{price_id}`
pub async fn update_price(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    authenticate(ctx).await?;
    let price_id = check_id(ctx.param("price_id"), "pri", "price")?;
    let db = ctx.db()?;
    let price = load_price(&db, &price_id)
        .await?
        .ok_or_else(|| AppError::not_found("price"))?;
    authorize(ctx, &price.org_id, Permission::Write).await?;
    let body: UpdatePriceBody = ctx.json(&mut req).await?;
    let update = db.stmt(
        "UPDATE prices SET active = ?1 WHERE id = ?2",
        args![body.active as i64, price.id.as_str()],
    )?;
    let record = Record::success(
        Some(&price.org_id),
        "price.update",
        Some(("price", &price.id)),
    )
    .with_details(json!({ "active": body.active }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    let price = load_price(&db, &price_id)
        .await?
        .ok_or_else(|| AppError::not_found("price"))?;
    http::json(
        200,
        &PriceResponse {
            price: price.view(),
        },
    )
}

// ---------------------------------------------------------------- revenue shares

/// The rule in force for a product: its own, or the platform default.
pub async fn split_rule(ctx: &Ctx, db: &Db, product_id: &str) -> AppResult<(bool, SplitRule)> {
    #[derive(Deserialize)]
    struct Row {
        platform_bps: i64,
        creator_bps: i64,
        collaborators: String,
    }
    let row: Option<Row> = db
        .first(
            "SELECT platform_bps, creator_bps, collaborators FROM revenue_shares WHERE product_id = ?1",
            args![product_id],
        )
        .await?;
    Ok(match row {
        Some(row) => {
            let collaborators: Vec<CollaboratorShare> =
                serde_json::from_str(&row.collaborators).unwrap_or_default();
            (
                true,
                SplitRule {
                    platform_bps: row.platform_bps as u32,
                    creator_bps: row.creator_bps as u32,
                    collaborators: collaborators
                        .into_iter()
                        .map(|c| (c.user_id, c.bps))
                        .collect(),
                },
            )
        }
        None => (
            false,
            SplitRule::default_with_platform_fee(super::var_i64(
                ctx,
                "PLATFORM_FEE_BPS",
                1000,
                10_000,
            ) as u32),
        ),
    })
}

fn rule_body(rule: &SplitRule) -> RevenueShareBody {
    RevenueShareBody {
        platform_bps: rule.platform_bps,
        creator_bps: rule.creator_bps,
        collaborators: rule
            .collaborators
            .iter()
            .map(|(user_id, bps)| CollaboratorShare {
                user_id: user_id.clone(),
                bps: *bps,
            })
            .collect(),
    }
}

/// `GET /v1/products/{product_id}/revenue-share`
pub async fn get_revenue_share(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let id = ctx.param("product_id").to_string();
    let product = load_product(ctx, &id, Permission::Manage).await?;
    let (custom, rule) = split_rule(ctx, &ctx.db()?, &product.id).await?;
    http::json(
        200,
        &RevenueShareResponse {
            product_id: product.id,
            custom,
            rule: rule_body(&rule),
        },
    )
}

/// `PUT /v1/products/{product_id}/revenue-share` (admin of the seller)
pub async fn put_revenue_share(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let id = ctx.param("product_id").to_string();
    let product = load_product(ctx, &id, Permission::Manage).await?;
    let body: RevenueShareBody = ctx.json(&mut req).await?;
    let rule = SplitRule {
        platform_bps: body.platform_bps,
        creator_bps: body.creator_bps,
        collaborators: body
            .collaborators
            .iter()
            .map(|c| (c.user_id.clone(), c.bps))
            .collect(),
    };
    rule.validate().map_err(|error| {
        let code = match error {
            SplitError::NotWhole(_) => "shares_not_whole",
            SplitError::DuplicateCollaborator(_) => "duplicate_collaborator",
            SplitError::TooManyCollaborators => "too_many_collaborators",
        };
        AppError::invalid(code, error.to_string())
    })?;
    let db = ctx.db()?;
    if !rule.collaborators.is_empty() {
        #[derive(Deserialize)]
        struct Count {
            n: i64,
        }
        let ids: Vec<&String> = rule.collaborators.iter().map(|(u, _)| u).collect();
        let found: Option<Count> = db
            .first(
                "SELECT COUNT(*) AS n FROM users WHERE id IN (SELECT value FROM json_each(?1))",
                args![serde_json::to_string(&ids)?],
            )
            .await?;
        if found.map(|c| c.n).unwrap_or(0) != ids.len() as i64 {
            return Err(AppError::invalid(
                "unknown_collaborator",
                "every collaborator must be a user of the platform",
            ));
        }
    }
    let collaborators = serde_json::to_string(&body.collaborators)?;
    let upsert = db.stmt(
        "INSERT INTO revenue_shares (product_id, org_id, platform_bps, creator_bps, collaborators, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (product_id) DO UPDATE SET platform_bps = ?3, creator_bps = ?4, collaborators = ?5, updated_at = ?6",
        args![
            product.id.as_str(),
            product.org_id.as_str(),
            rule.platform_bps as i64,
            rule.creator_bps as i64,
            collaborators.as_str(),
            ctx.now
        ],
    )?;
    let record = Record::success(
        Some(&product.org_id),
        "revenue_share.update",
        Some(("product", &product.id)),
    )
    .with_details(json!({ "platform_bps": rule.platform_bps, "creator_bps": rule.creator_bps, "collaborators": body.collaborators.len() }));
    audit::commit(ctx, &db, vec![upsert], record, None).await?;
    http::json(
        200,
        &RevenueShareResponse {
            product_id: product.id,
            custom: true,
            rule: rule_body(&rule),
        },
    )
}

// ---------------------------------------------------------------- discounts

/// A `discounts` row.
#[derive(Debug, Clone, Deserialize)]
pub struct DiscountRow {
    /// `dsc_…`
    pub id: String,
    /// The seller.
    pub org_id: String,
    /// Code.
    pub code: String,
    /// percent or fixed.
    pub kind: String,
    /// Percentage off.
    pub percent_bps: Option<i64>,
    /// Amount off.
    pub amount: Option<i64>,
    /// Currency of the amount.
    pub currency: Option<String>,
    /// JSON product scope.
    pub product_ids: Option<String>,
    /// Start.
    pub starts_at: Option<i64>,
    /// End.
    pub ends_at: Option<i64>,
    /// Total limit.
    pub max_redemptions: Option<i64>,
    /// Per-buyer limit.
    pub max_per_buyer: Option<i64>,
    /// Switched on.
    pub active: i64,
    #[serde(default)]
    redemptions: Option<i64>,
}

/// Columns of [`DiscountRow`] (with the live redemption count).
pub const DISCOUNT_COLUMNS: &str = "d.id, d.org_id, d.code, d.kind, d.percent_bps, d.amount, d.currency, d.product_ids, d.starts_at, d.ends_at, d.max_redemptions, d.max_per_buyer, d.active,
  (SELECT COUNT(*) FROM discount_redemptions r WHERE r.discount_id = d.id AND r.released_at IS NULL) AS redemptions";

impl DiscountRow {
    /// The rules, for [`super::discount::apply`].
    pub fn rules(&self) -> super::discount::Discount {
        super::discount::Discount {
            value: if self.kind == "percent" {
                DiscountValue::Percent(self.percent_bps.unwrap_or(0) as u32)
            } else {
                DiscountValue::Fixed(self.amount.unwrap_or(0))
            },
            currency: self.currency.clone(),
            product_ids: self
                .product_ids
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            max_redemptions: self.max_redemptions,
            max_per_buyer: self.max_per_buyer,
            active: self.active != 0,
        }
    }

    fn view(&self) -> DiscountView {
        DiscountView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            code: self.code.clone(),
            kind: self.kind.clone(),
            percent_off_bps: self.percent_bps,
            amount_off: self.amount,
            currency: self.currency.clone(),
            product_ids: self
                .product_ids
                .as_deref()
                .and_then(|p| serde_json::from_str(p).ok()),
            starts_at: self.starts_at.map(util::rfc3339),
            ends_at: self.ends_at.map(util::rfc3339),
            max_redemptions: self.max_redemptions,
            max_per_buyer: self.max_per_buyer,
            redemptions: self.redemptions.unwrap_or(0),
            active: self.active != 0,
        }
    }
}

/// Normalises a discount code: 3–32 of A-Z, 0-9, `-`, `_` (case-insensitive).
pub fn clean_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    let ok = (3..=32).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    ok.then_some(code)
}

fn parse_time(raw: Option<&str>, field: &str) -> AppResult<Option<i64>> {
    raw.map(|text| {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .map(|at| (at.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|_| AppError::invalid("invalid_time", format!("{field} must be RFC 3339")))
    })
    .transpose()
}

async fn load_discount(db: &Db, id: &str) -> AppResult<Option<DiscountRow>> {
    db.first(
        &format!("SELECT {DISCOUNT_COLUMNS} FROM discounts d WHERE d.id = ?1"),
        args![id],
    )
    .await
}

/// `POST /v1/orgs/{org_id}/discounts`
pub async fn create_discount(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: CreateDiscountBody = ctx.json(&mut req).await?;
    let code = clean_code(&body.code).ok_or_else(|| {
        AppError::invalid(
            "invalid_code",
            "a code has 3 to 32 letters, digits, '-' or '_'",
        )
    })?;
    let (kind, percent, amount, currency) = match (
        body.percent_off_bps,
        body.amount_off,
        body.currency.as_deref(),
    ) {
        (Some(bps), None, None) if (1..=10_000).contains(&bps) => {
            ("percent", Some(bps as i64), None, None)
        }
        (Some(_), None, None) => {
            return Err(AppError::invalid(
                "invalid_discount",
                "percent_off_bps is 1 to 10000",
            ))
        }
        (None, Some(amount), Some(currency)) => {
            let currency = check_currency(currency)?;
            if amount <= 0 || amount > super::MAX_AMOUNT {
                return Err(AppError::invalid(
                    "invalid_amount",
                    "amount_off must be a positive amount in minor units",
                ));
            }
            ("fixed", None, Some(amount), Some(currency))
        }
        _ => {
            return Err(AppError::invalid(
                "invalid_discount",
                "give either percent_off_bps, or amount_off with currency",
            ))
        }
    };
    let starts_at = parse_time(body.starts_at.as_deref(), "starts_at")?;
    let ends_at = parse_time(body.ends_at.as_deref(), "ends_at")?;
    if let (Some(start), Some(end)) = (starts_at, ends_at) {
        if end <= start {
            return Err(AppError::invalid(
                "invalid_time",
                "ends_at must be after starts_at",
            ));
        }
    }
    for (limit, field) in [
        (body.max_redemptions, "max_redemptions"),
        (body.max_per_buyer, "max_per_buyer"),
    ] {
        if limit.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            return Err(AppError::invalid(
                "invalid_limit",
                format!("{field} is 1 to 1000000"),
            ));
        }
    }
    let db = ctx.db()?;
    let product_ids = match &body.product_ids {
        None => None,
        Some(ids) => {
            if ids.is_empty() || ids.len() > 100 {
                return Err(AppError::invalid(
                    "invalid_products",
                    "product_ids lists 1 to 100 products",
                ));
            }
            #[derive(Deserialize)]
            struct Count {
                n: i64,
            }
            let list = serde_json::to_string(ids)?;
            let found: Option<Count> = db
                .first(
                    "SELECT COUNT(DISTINCT id) AS n FROM products WHERE org_id = ?1 AND id IN (SELECT value FROM json_each(?2))",
                    args![org_id.as_str(), list.as_str()],
                )
                .await?;
            let distinct: std::collections::BTreeSet<&String> = ids.iter().collect();
            if found.map(|c| c.n).unwrap_or(0) != distinct.len() as i64 {
                return Err(AppError::invalid(
                    "invalid_products",
                    "product_ids must be products of this organisation",
                ));
            }
            Some(list)
        }
    };
    let id = util::new_id("dsc", ctx.now);
    let insert = db.stmt(
        "INSERT INTO discounts (id, org_id, code, kind, percent_bps, amount, currency, product_ids, starts_at, ends_at, max_redemptions, max_per_buyer, active, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13, ?13)",
        args![
            id.as_str(),
            org_id.as_str(),
            code.as_str(),
            kind,
            percent,
            amount,
            currency,
            product_ids,
            starts_at,
            ends_at,
            body.max_redemptions,
            body.max_per_buyer,
            ctx.now
        ],
    )?;
    let duplicate = super::guard(
        &db,
        "EXISTS (SELECT 1 FROM discounts WHERE org_id = ?1 AND code = ?2)",
        args![org_id.as_str(), code.as_str()],
    )?;
    let record = Record::success(Some(&org_id), "discount.create", Some(("discount", &id)))
        .with_details(json!({ "code": code, "kind": kind }));
    match audit::commit(ctx, &db, vec![duplicate, insert], record, None).await {
        Ok(_) => {}
        Err(error) if super::lost_race(&error) => {
            return Err(AppError::conflict(
                "discount_code_taken",
                "this organisation already has a discount with this code",
            ))
        }
        Err(error) => return Err(error),
    }
    let discount = load_discount(&db, &id)
        .await?
        .ok_or_else(|| AppError::internal("discount vanished after insert"))?;
    http::json(
        201,
        &DiscountResponse {
            discount: discount.view(),
        },
    )
}

/// `GET /v1/orgs/{org_id}/discounts`
pub async fn list_discounts(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let rows: Vec<DiscountRow> = ctx
        .db()?
        .all(
            &format!("SELECT {DISCOUNT_COLUMNS} FROM discounts d WHERE d.org_id = ?1 ORDER BY d.id DESC LIMIT 500"),
            args![org_id.as_str()],
        )
        .await?;
    http::json(
        200,
        &DiscountList {
            items: rows.iter().map(DiscountRow::view).collect(),
        },
    )
}

/// `PATCH /v1/discounts/{discount_id}`
pub async fn update_discount(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    authenticate(ctx).await?;
    let id = check_id(ctx.param("discount_id"), "dsc", "discount")?;
    let db = ctx.db()?;
    let row = load_discount(&db, &id)
        .await?
        .ok_or_else(|| AppError::not_found("discount"))?;
    authorize(ctx, &row.org_id, Permission::Manage).await?;
    let body: UpdateDiscountBody = ctx.json(&mut req).await?;
    let update = db.stmt(
        "UPDATE discounts SET active = ?1, updated_at = ?2 WHERE id = ?3",
        args![body.active as i64, ctx.now, id.as_str()],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "discount.update",
        Some(("discount", &id)),
    )
    .with_details(json!({ "active": body.active }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    let row = load_discount(&db, &id)
        .await?
        .ok_or_else(|| AppError::not_found("discount"))?;
    http::json(
        200,
        &DiscountResponse {
            discount: row.view(),
        },
    )
}

// ---------------------------------------------------------------- bundles

#[derive(Deserialize)]
struct BundleRow {
    id: String,
    org_id: String,
    title: String,
    currency: String,
    amount: i64,
    status: String,
    price_ids: Option<String>,
}

impl BundleRow {
    fn view(&self) -> BundleView {
        BundleView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            title: self.title.clone(),
            currency: self.currency.clone(),
            amount: self.amount,
            price_ids: self
                .price_ids
                .as_deref()
                .map(|list| list.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            status: self.status.clone(),
        }
    }
}

const BUNDLE_SELECT: &str = "SELECT b.id, b.org_id, b.title, b.currency, b.amount, b.status,
  (SELECT group_concat(price_id, ',') FROM (SELECT price_id FROM bundle_items i WHERE i.bundle_id = b.id ORDER BY position)) AS price_ids
  FROM bundles b";

/// `POST /v1/orgs/{org_id}/bundles`
pub async fn create_bundle(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: CreateBundleBody = ctx.json(&mut req).await?;
    let title = clean_name(&body.title, "bundle title")?;
    let amount = check_amount(body.amount, "amount")?;
    if !(2..=10).contains(&body.price_ids.len()) {
        return Err(AppError::invalid(
            "invalid_bundle",
            "a bundle has 2 to 10 prices",
        ));
    }
    let db = ctx.db()?;
    let mut prices = Vec::new();
    for price_id in &body.price_ids {
        let price = match check_id(price_id, "pri", "price") {
            Ok(id) => load_price(&db, &id).await?,
            Err(_) => None,
        };
        let price = price
            .filter(|p| p.org_id == org_id && p.active != 0 && p.price_type == "one_time")
            .ok_or_else(|| {
                AppError::invalid(
                    "invalid_bundle",
                    format!("{price_id} is not an active one-time price of this organisation"),
                )
            })?;
        if prices
            .iter()
            .any(|p: &PriceRow| p.product_id == price.product_id)
        {
            return Err(AppError::invalid(
                "invalid_bundle",
                "a bundle holds each product once",
            ));
        }
        prices.push(price);
    }
    let currency = prices[0].currency.clone();
    if prices.iter().any(|p| p.currency != currency) {
        return Err(AppError::invalid(
            "currency_mismatch",
            "a bundle's prices share one currency",
        ));
    }
    let id = util::new_id("bnd", ctx.now);
    let mut changes =
        vec![db.stmt(
        "INSERT INTO bundles (id, org_id, title, currency, amount, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'active', ?6, ?6)",
        args![id.as_str(), org_id.as_str(), title.as_str(), currency.as_str(), amount, ctx.now],
    )?];
    for (position, price) in prices.iter().enumerate() {
        changes.push(db.stmt(
            "INSERT INTO bundle_items (bundle_id, position, product_id, price_id) VALUES (?1, ?2, ?3, ?4)",
            args![id.as_str(), position as i64, price.product_id.as_str(), price.id.as_str()],
        )?);
    }
    let record = Record::success(Some(&org_id), "bundle.create", Some(("bundle", &id)))
        .with_details(
            json!({ "amount": amount, "currency": currency, "prices": body.price_ids.len() }),
        );
    audit::commit(ctx, &db, changes, record, None).await?;
    let row: BundleRow = db
        .first(
            &format!("{BUNDLE_SELECT} WHERE b.id = ?1"),
            args![id.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::internal("bundle vanished after insert"))?;
    http::json(201, &BundleResponse { bundle: row.view() })
}

/// `GET /v1/orgs/{org_id}/bundles`
pub async fn list_bundles(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let rows: Vec<BundleRow> = ctx
        .db()?
        .all(
            &format!("{BUNDLE_SELECT} WHERE b.org_id = ?1 ORDER BY b.id DESC LIMIT 500"),
            args![org_id.as_str()],
        )
        .await?;
    http::json(
        200,
        &BundleList {
            items: rows.iter().map(BundleRow::view).collect(),
        },
    )
}
