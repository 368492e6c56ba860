//! Affiliates: people who promote a seller (or one of its products) for a commission. A user
//! asks to join; the seller approves with a commission rate (or rejects); the affiliate can
//! leave. Clicks on an affiliate's link are recorded; an order is attributed to the buyer's
//! last click within the attribution window (see [`super::orders`]), never to the buyer's own
//! link, and a refunded order's commission is reversed with the rest of the sale.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Response};

use super::{check_id, guard, lost_race};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// `POST /v1/orgs/{org_id}/affiliates`: ask to become an affiliate of a seller.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    /// Promote only this product of the seller (default: everything it sells).
    #[serde(default)]
    pub product_id: Option<String>,
}

/// `POST /v1/affiliates/{affiliate_id}/approve`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Commission in basis points of what the seller's lines bring after the processor's fee
    /// (1–5000).
    pub commission_bps: u32,
}

/// An affiliate.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AffiliateView {
    /// `aff_…`
    pub id: String,
    /// The seller.
    pub seller_org_id: String,
    /// The affiliate.
    pub user_id: String,
    /// Product scope (null: the whole seller).
    pub product_id: Option<String>,
    /// The code in links.
    pub code: String,
    /// Commission, basis points.
    pub commission_bps: i64,
    /// pending, approved, rejected or left.
    pub status: String,
    /// When they asked.
    pub created_at: String,
}

/// One affiliate.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AffiliateResponse {
    /// The affiliate.
    pub affiliate: AffiliateView,
}

/// Affiliates.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AffiliateList {
    /// Newest first.
    pub items: Vec<AffiliateView>,
}

/// A recorded click.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ClickResponse {
    /// `clk_…`: pass as `affiliate_click_id` when ordering signed out at click time.
    pub click_id: String,
    /// The seller promoted.
    pub seller_org_id: String,
    /// The product promoted, if the link is for one.
    pub product_id: Option<String>,
}

#[derive(Deserialize)]
struct Row {
    id: String,
    seller_org_id: String,
    user_id: String,
    product_id: Option<String>,
    code: String,
    commission_bps: i64,
    status: String,
    created_at: i64,
}

impl Row {
    fn view(self) -> AffiliateView {
        AffiliateView {
            id: self.id,
            seller_org_id: self.seller_org_id,
            user_id: self.user_id,
            product_id: self.product_id,
            code: self.code,
            commission_bps: self.commission_bps,
            status: self.status,
            created_at: util::rfc3339(self.created_at),
        }
    }
}

const COLUMNS: &str =
    "id, seller_org_id, user_id, product_id, code, commission_bps, status, created_at";

async fn load(db: &Db, id: &str) -> AppResult<Option<Row>> {
    db.first(
        &format!("SELECT {COLUMNS} FROM affiliates WHERE id = ?1"),
        args![id],
    )
    .await
}

async fn respond(db: &Db, id: &str, status: u16) -> AppResult<Response> {
    let row = load(db, id)
        .await?
        .ok_or_else(|| AppError::not_found("affiliate"))?;
    http::json(
        status,
        &AffiliateResponse {
            affiliate: row.view(),
        },
    )
}

/// `POST /v1/orgs/{org_id}/affiliates`: any signed-in user asks to join (pending until the
/// seller approves). The seller must have something active on sale.
pub async fn join(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    let org_id = ctx.param("org_id").to_string();
    let body: JoinBody = ctx.json(&mut req).await?;
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Found {
        id: String,
    }
    let on_sale: Option<Found> = match &body.product_id {
        Some(product) => {
            let product = check_id(product, "prd", "product")?;
            db.first(
                "SELECT id FROM products WHERE id = ?1 AND org_id = ?2 AND status = 'active'",
                args![product.as_str(), org_id.as_str()],
            )
            .await?
        }
        None => {
            db.first(
                "SELECT id FROM products WHERE org_id = ?1 AND status = 'active' LIMIT 1",
                args![org_id.as_str()],
            )
            .await?
        }
    };
    if on_sale.is_none() {
        return Err(AppError::not_found(if body.product_id.is_some() {
            "product"
        } else {
            "seller"
        }));
    }
    let id = util::new_id("aff", ctx.now);
    let code = format!(
        "AF{}",
        &util::b64url(&util::random_bytes::<9>())
            .to_ascii_uppercase()
            .replace(['-', '_'], "X")
    );
    let insert = db.stmt(
        "INSERT INTO affiliates (id, seller_org_id, user_id, product_id, code, commission_bps, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 0, 'pending', ?6, ?6)",
        args![
            id.as_str(),
            org_id.as_str(),
            user.as_str(),
            body.product_id.as_ref().and(on_sale.as_ref().map(|f| f.id.clone())),
            code.as_str(),
            ctx.now
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "affiliate.requested",
        Some(("affiliate", &id)),
    )
    .with_details(json!({ "user_id": user, "product_id": body.product_id }));
    match audit::commit(ctx, &db, vec![insert], record, None).await {
        Ok(_) => {}
        Err(error) if lost_race(&error) => {
            return Err(AppError::conflict(
                "already_affiliate",
                "you already are (or asked to be) an affiliate here",
            ))
        }
        Err(error) => return Err(error),
    }
    respond(&db, &id, 201).await
}

/// `GET /v1/orgs/{org_id}/affiliates` (admin of the seller)
pub async fn list(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            &format!("SELECT {COLUMNS} FROM affiliates WHERE seller_org_id = ?1 ORDER BY id DESC LIMIT 500"),
            args![org_id.as_str()],
        )
        .await?;
    http::json(
        200,
        &AffiliateList {
            items: rows.into_iter().map(Row::view).collect(),
        },
    )
}

/// `GET /v1/me/affiliates`
pub async fn list_mine(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {COLUMNS} FROM affiliates WHERE user_id = ?1 ORDER BY id DESC LIMIT 500"
            ),
            args![user.as_str()],
        )
        .await?;
    http::json(
        200,
        &AffiliateList {
            items: rows.into_iter().map(Row::view).collect(),
        },
    )
}

async fn decide(ctx: &mut Ctx, approve: Option<u32>) -> AppResult<Response> {
    authenticate(ctx).await?;
    let id = check_id(ctx.param("affiliate_id"), "aff", "affiliate")?;
    let db = ctx.db()?;
    let row = load(&db, &id)
        .await?
        .ok_or_else(|| AppError::not_found("affiliate"))?;
    authorize(ctx, &row.seller_org_id, Permission::Manage).await?;
    if let Some(bps) = approve {
        if !(1..=5000).contains(&bps) {
            return Err(AppError::invalid(
                "invalid_commission",
                "commission_bps is 1 to 5000",
            ));
        }
    }
    let allowed = if approve.is_some() {
        // Approve a request, or change the rate of an approved affiliate.
        "('pending', 'approved')"
    } else {
        "('pending')"
    };
    let (status, action) = match approve {
        Some(_) => ("approved", "affiliate.approved"),
        None => ("rejected", "affiliate.rejected"),
    };
    let changes = vec![
        guard(
            &db,
            &format!("(SELECT status FROM affiliates WHERE id = ?1) NOT IN {allowed}"),
            args![id.as_str()],
        )?,
        db.stmt(
            "UPDATE affiliates SET status = ?1, commission_bps = COALESCE(?2, commission_bps), updated_at = ?3 WHERE id = ?4",
            args![status, approve.map(|b| b as i64), ctx.now, id.as_str()],
        )?,
    ];
    let record = Record::success(Some(&row.seller_org_id), action, Some(("affiliate", &id)))
        .with_details(json!({ "user_id": row.user_id, "commission_bps": approve }));
    match audit::commit(ctx, &db, changes, record, None).await {
        Ok(_) => {}
        Err(error) if lost_race(&error) => {
            return Err(AppError::conflict(
                "invalid_affiliate_state",
                format!("the affiliate is {}", row.status),
            ))
        }
        Err(error) => return Err(error),
    }
    respond(&db, &id, 200).await
}

/// `POST /v1/affiliates/{affiliate_id}/approve` (admin of the seller)
pub async fn approve(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    authenticate(ctx).await?;
    let body: ApproveBody = ctx.json(&mut req).await?;
    decide(ctx, Some(body.commission_bps)).await
}

/// `POST /v1/affiliates/{affiliate_id}/reject` (admin of the seller)
pub async fn reject(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    decide(ctx, None).await
}

/// `POST /v1/affiliates/{affiliate_id}/leave` (the affiliate): no further attribution.
pub async fn leave(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user = principal.user_id()?.to_string();
    let id = check_id(ctx.param("affiliate_id"), "aff", "affiliate")?;
    let db = ctx.db()?;
    let row = load(&db, &id)
        .await?
        .filter(|row| row.user_id == user)
        .ok_or_else(|| AppError::not_found("affiliate"))?;
    let changes = vec![
        guard(
            &db,
            "(SELECT status FROM affiliates WHERE id = ?1) NOT IN ('pending', 'approved')",
            args![id.as_str()],
        )?,
        db.stmt(
            "UPDATE affiliates SET status = 'left', updated_at = ?1 WHERE id = ?2",
            args![ctx.now, id.as_str()],
        )?,
    ];
    let record = Record::success(
        Some(&row.seller_org_id),
        "affiliate.left",
        Some(("affiliate", &id)),
    );
    match audit::commit(ctx, &db, changes, record, None).await {
        Ok(_) => {}
        Err(error) if lost_race(&error) => {
            return Err(AppError::conflict(
                "invalid_affiliate_state",
                format!("the affiliate is {}", row.status),
            ))
        }
        Err(error) => return Err(error),
    }
    respond(&db, &id, 200).await
}

/// `POST /v1/affiliate-links/{code}/click`: records a click on an approved affiliate's link
/// (signed in or not). Unknown, pending or departed codes are 404.
pub async fn click(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    // Signed-in visitors are attributed by user; a bad credential is still an error.
    let has_credentials = ctx.header("authorization").is_some() || ctx.header("cookie").is_some();
    let visitor = if has_credentials {
        Some(authenticate(ctx).await?.user_id()?.to_string())
    } else {
        None
    };
    let code = ctx.param("code").trim().to_ascii_uppercase();
    if code.len() > 40 || !code.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(AppError::not_found("affiliate link"));
    }
    let db = ctx.db()?;
    let row: Row = db
        .first(
            &format!("SELECT {COLUMNS} FROM affiliates WHERE code = ?1 AND status = 'approved'"),
            args![code.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::not_found("affiliate link"))?;
    let click_id = util::new_id("clk", ctx.now);
    let insert = db.stmt(
        "INSERT INTO affiliate_clicks (id, affiliate_id, user_id, created_at) VALUES (?1, ?2, ?3, ?4)",
        args![click_id.as_str(), row.id.as_str(), visitor.clone(), ctx.now],
    )?;
    let record = Record::success(
        Some(&row.seller_org_id),
        "affiliate.click",
        Some(("affiliate", &row.id)),
    )
    .with_details(json!({ "click_id": click_id, "signed_in": visitor.is_some() }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &ClickResponse {
            click_id,
            seller_org_id: row.seller_org_id,
            product_id: row.product_id,
        },
    )
}
