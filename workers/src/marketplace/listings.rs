//! Listings: a seller's shop window for a product, its review by platform admins, and public
//! discovery (full text, category, tags, price range; sorted by rating, sales or newest).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Response};

use super::{clean_slug, clean_tags, clean_text, is_platform_admin, require_platform_admin};
use crate::args;
use crate::assets::api::fts_query;
use crate::assets::store::{self, Download};
use crate::audit::{self, Record};
use crate::db::Arg;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{decode_cursor, encode_cursor};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// The lowest active price of a listed product.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ListingPrice {
    /// `pri_…`
    pub price_id: String,
    /// `one_time`, `recurring` or `usage`.
    #[serde(rename = "type")]
    pub price_type: String,
    /// ISO 4217, upper case.
    pub currency: String,
    /// Minor units (cents, yen…).
    pub unit_amount: i64,
    /// For recurring prices: `day`, `week`, `month` or `year`.
    pub interval: Option<String>,
}

/// The rating aggregate of a listing (visible reviews only).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Rating {
    /// Number of visible reviews.
    pub count: i64,
    /// Sum of their ratings (1 to 5 each).
    pub sum: i64,
    /// `sum / count` to two decimals; null without reviews.
    pub average: Option<f64>,
}

/// A listing as the API shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ListingView {
    /// `lst_…`
    pub id: String,
    /// The listed product, `prd_…`.
    pub product_id: String,
    /// The product's kind: `template`, `effect_preset`, `agent`, `workflow`, …
    pub kind: String,
    /// The seller organisation.
    pub seller_org_id: String,
    /// Title.
    pub title: String,
    /// Short description.
    pub summary: String,
    /// Category slug.
    pub category: String,
    /// Tag slugs.
    pub tags: Vec<String>,
    /// Cover image asset, if any.
    pub cover_asset_id: Option<String>,
    /// `draft`, `in_review`, `published`, `rejected` or `unlisted`.
    pub status: String,
    /// Why a reviewer rejected it (seller and admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
    /// Rating aggregate.
    pub rating: Rating,
    /// Licences granted for the product and not revoked.
    pub sales: i64,
    /// The lowest active price, if the product has one.
    pub price: Option<ListingPrice>,
    /// First publication.
    pub published_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// One listing.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListingResponse {
    /// The listing.
    pub listing: ListingView,
}

/// A page of listings.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ListingPage {
    /// In the order asked for.
    pub items: Vec<ListingView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `POST /v1/orgs/{org_id}/listings`: list one of the organisation's products.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateListingBody {
    /// The product (of this organisation) to list; one listing per product.
    pub product_id: String,
    /// 1 to 120 characters.
    pub title: String,
    /// Up to 2,000 characters.
    #[serde(default)]
    pub summary: String,
    /// Category slug: 1 to 40 of a-z, 0-9 and -.
    pub category: String,
    /// Up to 10 tag slugs.
    #[serde(default)]
    pub tags: Vec<String>,
    /// An image asset of the organisation to show as the cover.
    #[serde(default)]
    pub cover_asset_id: Option<String>,
}

/// `PATCH /v1/listings/{listing_id}`: change what the listing shows. A published or unlisted
/// listing goes back to review.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateListingBody {
    /// 1 to 120 characters.
    #[serde(default)]
    pub title: Option<String>,
    /// Up to 2,000 characters.
    #[serde(default)]
    pub summary: Option<String>,
    /// Category slug.
    #[serde(default)]
    pub category: Option<String>,
    /// Replaces the tags.
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Replaces the cover image.
    #[serde(default)]
    pub cover_asset_id: Option<String>,
}

/// `POST /v1/admin/market/listings/{listing_id}/reject`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    /// Why, shown to the seller: 1 to 1,000 characters.
    pub reason: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ListingRow {
    pub(crate) id: String,
    pub(crate) org_id: String,
    pub(crate) product_id: String,
    pub(crate) kind: String,
    title: String,
    summary: String,
    category: String,
    tags: String,
    cover_asset_id: Option<String>,
    pub(crate) status: String,
    pub(crate) product_status: String,
    rejection_reason: Option<String>,
    rating_count: i64,
    rating_sum: i64,
    sales: i64,
    price_id: Option<String>,
    price_type: Option<String>,
    currency: Option<String>,
    unit_amount: Option<i64>,
    interval: Option<String>,
    published_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
    #[serde(default)]
    score: i64,
}

impl ListingRow {
    fn view(&self, show_reason: bool) -> ListingView {
        let price = match (&self.price_id, &self.price_type, &self.currency) {
            (Some(id), Some(price_type), Some(currency)) => Some(ListingPrice {
                price_id: id.clone(),
                price_type: price_type.clone(),
                currency: currency.clone(),
                unit_amount: self.unit_amount.unwrap_or(0),
                interval: self.interval.clone(),
            }),
            _ => None,
        };
        ListingView {
            id: self.id.clone(),
            product_id: self.product_id.clone(),
            kind: self.kind.clone(),
            seller_org_id: self.org_id.clone(),
            title: self.title.clone(),
            summary: self.summary.clone(),
            category: self.category.clone(),
            tags: serde_json::from_str(&self.tags).unwrap_or_default(),
            cover_asset_id: self.cover_asset_id.clone(),
            status: self.status.clone(),
            rejection_reason: if show_reason {
                self.rejection_reason.clone()
            } else {
                None
            },
            rating: Rating {
                count: self.rating_count,
                sum: self.rating_sum,
                average: (self.rating_count > 0).then(|| {
                    (self.rating_sum as f64 * 100.0 / self.rating_count as f64).round() / 100.0
                }),
            },
            sales: self.sales,
            price,
            published_at: self.published_at.map(util::rfc3339),
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
        }
    }
}

/// The listing rows with their product kind, sales, lowest active price and rating score
/// (average × 1000, an integer, for sorting), as one sub-query that filters can wrap.
pub(crate) const LISTING_SELECT: &str = "SELECT l.id, l.org_id, l.product_id, p.kind, l.title, l.summary, l.category, l.tags,
        l.cover_asset_id, l.status, p.status AS product_status, l.rejection_reason, l.rating_count, l.rating_sum,
        (SELECT COUNT(*) FROM licences c WHERE c.product_id = l.product_id AND c.status != 'revoked') AS sales,
        pr.id AS price_id, pr.type AS price_type, pr.currency, pr.unit_amount, pr.interval,
        l.published_at, l.created_at, l.updated_at, l.rowid AS listing_rowid,
        CASE WHEN l.rating_count = 0 THEN 0 ELSE (l.rating_sum * 1000) / l.rating_count END AS score
     FROM listings l
     JOIN products p ON p.id = l.product_id
     LEFT JOIN prices pr ON pr.id = (SELECT x.id FROM prices x WHERE x.product_id = l.product_id AND x.active = 1
                                     ORDER BY x.unit_amount, x.id LIMIT 1)";

/// A listing by id, whatever its status or owner (callers check visibility).
pub(crate) async fn find(ctx: &Ctx, listing_id: &str) -> AppResult<Option<ListingRow>> {
    ctx.db()?
        .first(
            &format!("SELECT * FROM ({LISTING_SELECT}) WHERE id = ?1"),
            args![listing_id],
        )
        .await
}

impl ListingRow {
    /// Whether the public sees it: published, and its product still on sale (not archived).
    pub(crate) fn is_public(&self) -> bool {
        self.status == "published" && self.product_status != "archived"
    }
}

/// A listing the principal may manage (`permission` in the seller org); others' are 404.
async fn load_own(ctx: &mut Ctx, permission: Permission) -> AppResult<ListingRow> {
    let listing_id = ctx.param("listing_id").to_string();
    authenticate(ctx).await?;
    let row = find(ctx, &listing_id)
        .await?
        .ok_or_else(|| AppError::not_found("listing"))?;
    authorize(ctx, &row.org_id, permission)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("listing")
            } else {
                error
            }
        })?;
    Ok(row)
}

async fn check_cover(ctx: &Ctx, org_id: &str, cover: Option<&str>) -> AppResult<()> {
    let Some(asset_id) = cover else {
        return Ok(());
    };
    #[derive(Deserialize)]
    struct Found {
        #[expect(dead_code, reason = "only its presence matters")]
        id: String,
    }
    let found: Option<Found> = ctx
        .db()?
        .first(
            "SELECT id FROM assets WHERE id = ?1 AND org_id = ?2 AND kind = 'image' AND status = 'ready'",
            args![asset_id, org_id],
        )
        .await?;
    found.map(|_| ()).ok_or_else(|| {
        AppError::invalid(
            "invalid_cover",
            "cover_asset_id must be an image asset of the seller organisation",
        )
    })
}

/// `POST /v1/orgs/{org_id}/listings` (editor): a draft listing of one of the org's products.
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: CreateListingBody = ctx.json(&mut req).await?;
    let title = clean_text(&body.title, "title", 1, 120)?;
    let summary = clean_text(&body.summary, "summary", 0, 2000)?;
    let category = clean_slug(&body.category, "category")?;
    let tags = clean_tags(&body.tags)?;
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct ProductRow {
        status: String,
    }
    let product: Option<ProductRow> = db
        .first(
            "SELECT status FROM products WHERE id = ?1 AND org_id = ?2",
            args![body.product_id.as_str(), org_id.as_str()],
        )
        .await?;
    let product = product.ok_or_else(|| AppError::not_found("product"))?;
    if product.status == "archived" {
        return Err(AppError::conflict(
            "product_archived",
            "an archived product cannot be listed",
        ));
    }
    check_cover(ctx, &org_id, body.cover_asset_id.as_deref()).await?;
    let existing: Option<serde_json::Value> = db
        .first(
            "SELECT id FROM listings WHERE product_id = ?1",
            args![body.product_id.as_str()],
        )
        .await?;
    if existing.is_some() {
        return Err(AppError::conflict(
            "listing_exists",
            "the product already has a listing",
        ));
    }
    let principal = authenticate(ctx).await?;
    let listing_id = util::new_id("lst", ctx.now);
    let tags_json = serde_json::to_string(&tags)?;
    let insert = db.stmt(
        "INSERT INTO listings (id, org_id, product_id, title, summary, category, tags, tags_text, cover_asset_id,
                               status, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'draft', ?10, ?11, ?11)",
        args![
            listing_id.as_str(),
            org_id.as_str(),
            body.product_id.as_str(),
            title.as_str(),
            summary.as_str(),
            category.as_str(),
            tags_json,
            tags.join(" "),
            body.cover_asset_id.clone(),
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "listing.create",
        Some(("listing", &listing_id)),
    )
    .with_details(json!({ "product_id": body.product_id, "title": title }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    let row = find(ctx, &listing_id)
        .await?
        .ok_or_else(|| AppError::internal("listing vanished after insert"))?;
    http::json(
        201,
        &ListingResponse {
            listing: row.view(true),
        },
    )
}

/// `GET /v1/orgs/{org_id}/listings?status=&cursor=&limit=`: the org's listings, newest first.
pub async fn list_own(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let status = ctx.query("status");
    if let Some(status) = &status {
        if !["draft", "in_review", "published", "rejected", "unlisted"].contains(&status.as_str()) {
            return Err(AppError::invalid(
                "invalid_status",
                "status is draft, in_review, published, rejected or unlisted",
            ));
        }
    }
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<ListingRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT * FROM ({LISTING_SELECT}) WHERE org_id = ?1 AND (?2 IS NULL OR status = ?2)
                 AND (?3 IS NULL OR id < ?3) ORDER BY id DESC LIMIT ?4"
            ),
            args![org_id.as_str(), status, before, limit + 1],
        )
        .await?;
    let next_cursor = crate::identity::api::page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(|row| row.view(true)).collect();
    http::json(200, &ListingPage { items, next_cursor })
}

/// `GET /v1/listings/{listing_id}`: a listing of the caller's org (any status); platform admins
/// see every listing.
pub async fn get_own(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let listing_id = ctx.param("listing_id").to_string();
    authenticate(ctx).await?;
    if is_platform_admin(ctx).await? {
        let row = find(ctx, &listing_id)
            .await?
            .ok_or_else(|| AppError::not_found("listing"))?;
        return http::json(
            200,
            &ListingResponse {
                listing: row.view(true),
            },
        );
    }
    let row = load_own(ctx, Permission::Read).await?;
    http::json(
        200,
        &ListingResponse {
            listing: row.view(true),
        },
    )
}

/// `PATCH /v1/listings/{listing_id}` (editor).
pub async fn update(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let row = load_own(ctx, Permission::Write).await?;
    let body: UpdateListingBody = ctx.json(&mut req).await?;
    if body.title.is_none()
        && body.summary.is_none()
        && body.category.is_none()
        && body.tags.is_none()
        && body.cover_asset_id.is_none()
    {
        return Err(AppError::invalid(
            "nothing_to_change",
            "send title, summary, category, tags and/or cover_asset_id",
        ));
    }
    if row.status == "in_review" {
        return Err(AppError::conflict(
            "listing_in_review",
            "a listing cannot change while it is being reviewed",
        ));
    }
    let title = body
        .title
        .as_deref()
        .map(|t| clean_text(t, "title", 1, 120))
        .transpose()?;
    let summary = body
        .summary
        .as_deref()
        .map(|s| clean_text(s, "summary", 0, 2000))
        .transpose()?;
    let category = body
        .category
        .as_deref()
        .map(|c| clean_slug(c, "category"))
        .transpose()?;
    let tags = body.tags.as_deref().map(clean_tags).transpose()?;
    check_cover(ctx, &row.org_id, body.cover_asset_id.as_deref()).await?;
    // What the public sees has always been approved: changes to a live listing are reviewed.
    let back_to_review = matches!(row.status.as_str(), "published" | "unlisted");
    let status = if back_to_review {
        "in_review"
    } else {
        row.status.as_str()
    };
    let db = ctx.db()?;
    let tags_json = tags.as_ref().map(serde_json::to_string).transpose()?;
    let update = db.stmt(
        "UPDATE listings SET title = COALESCE(?1, title), summary = COALESCE(?2, summary),
                category = COALESCE(?3, category), tags = COALESCE(?4, tags), tags_text = COALESCE(?5, tags_text),
                cover_asset_id = COALESCE(?6, cover_asset_id), status = ?7,
                submitted_at = CASE WHEN ?8 = 1 THEN ?9 ELSE submitted_at END, updated_at = ?9
         WHERE id = ?10",
        args![
            title.clone(),
            summary,
            category,
            tags_json,
            tags.as_ref().map(|t| t.join(" ")),
            body.cover_asset_id.clone(),
            status,
            back_to_review as i64,
            ctx.now,
            row.id.as_str(),
        ],
    )?;
    let record = Record::success(
        Some(&row.org_id),
        "listing.update",
        Some(("listing", &row.id)),
    )
    .with_details(json!({ "title": title, "back_to_review": back_to_review }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    respond(ctx, &row.id, 200).await
}

async fn respond(ctx: &Ctx, listing_id: &str, status: u16) -> AppResult<Response> {
    let row = find(ctx, listing_id)
        .await?
        .ok_or_else(|| AppError::not_found("listing"))?;
    http::json(
        status,
        &ListingResponse {
            listing: row.view(true),
        },
    )
}

/// Moves a listing from one of `from` to `to`, guarded in SQL so a concurrent change cannot be
/// overwritten; 409 `invalid_transition` otherwise.
async fn transition(
    ctx: &Ctx,
    row: &ListingRow,
    from: &[&str],
    to: &str,
    action: &str,
    reason: Option<&str>,
) -> AppResult<()> {
    if !from.contains(&row.status.as_str()) {
        return Err(AppError::conflict(
            "invalid_transition",
            format!("a {} listing cannot become {to}", row.status),
        ));
    }
    let db = ctx.db()?;
    let actor = ctx.principal.as_ref().map(|p| p.actor_id().to_string());
    let update = db.stmt(
        "UPDATE listings SET status = ?1, updated_at = ?2,
                rejection_reason = CASE WHEN ?1 = 'rejected' THEN ?3 WHEN ?1 = 'published' THEN NULL ELSE rejection_reason END,
                submitted_at = CASE WHEN ?1 = 'in_review' THEN ?2 ELSE submitted_at END,
                reviewed_by = CASE WHEN ?1 IN ('published', 'rejected') AND status = 'in_review' THEN ?4 ELSE reviewed_by END,
                published_at = CASE WHEN ?1 = 'published' THEN COALESCE(published_at, ?2) ELSE published_at END
         WHERE id = ?5 AND status = ?6",
        args![
            to,
            ctx.now,
            reason,
            actor,
            row.id.as_str(),
            row.status.as_str()
        ],
    )?;
    let record = Record::success(Some(&row.org_id), action, Some(("listing", &row.id)))
        .with_details(json!({ "from": row.status, "to": to, "reason": reason }));
    let changed = audit::commit(ctx, &db, vec![update], record, None).await?;
    if changed.first() != Some(&1) {
        // Lost a race with another transition; the audit row says what was attempted.
        return Err(AppError::conflict(
            "invalid_transition",
            "the listing changed meanwhile; reload it",
        ));
    }
    Ok(())
}

/// `POST /v1/listings/{listing_id}/submit` (editor): draft or rejected → in_review.
pub async fn submit(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load_own(ctx, Permission::Write).await?;
    transition(
        ctx,
        &row,
        &["draft", "rejected"],
        "in_review",
        "listing.submit",
        None,
    )
    .await?;
    respond(ctx, &row.id, 200).await
}

/// `POST /v1/listings/{listing_id}/unlist` (editor): published → unlisted.
pub async fn unlist(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load_own(ctx, Permission::Write).await?;
    transition(
        ctx,
        &row,
        &["published"],
        "unlisted",
        "listing.unlist",
        None,
    )
    .await?;
    respond(ctx, &row.id, 200).await
}

/// `POST /v1/listings/{listing_id}/relist` (editor): unlisted → published (unchanged since
/// its approval: edits send a listing back to review).
pub async fn relist(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load_own(ctx, Permission::Write).await?;
    transition(
        ctx,
        &row,
        &["unlisted"],
        "published",
        "listing.relist",
        None,
    )
    .await?;
    respond(ctx, &row.id, 200).await
}

async fn load_for_review(ctx: &mut Ctx) -> AppResult<ListingRow> {
    require_platform_admin(ctx).await?;
    let listing_id = ctx.param("listing_id").to_string();
    find(ctx, &listing_id)
        .await?
        .ok_or_else(|| AppError::not_found("listing"))
}

/// `POST /v1/admin/market/listings/{listing_id}/approve` (platform admin): in_review → published.
pub async fn approve(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let row = load_for_review(ctx).await?;
    transition(
        ctx,
        &row,
        &["in_review"],
        "published",
        "listing.publish",
        None,
    )
    .await?;
    respond(ctx, &row.id, 200).await
}

/// `POST /v1/admin/market/listings/{listing_id}/reject` (platform admin): in_review → rejected.
pub async fn reject(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let row = load_for_review(ctx).await?;
    let body: RejectBody = ctx.json(&mut req).await?;
    let reason = clean_text(&body.reason, "reason", 1, 1000)?;
    transition(
        ctx,
        &row,
        &["in_review"],
        "rejected",
        "listing.reject",
        Some(&reason),
    )
    .await?;
    respond(ctx, &row.id, 200).await
}

/// `GET /v1/admin/market/listings?status=in_review&cursor=&limit=` (platform admin): the review
/// queue, oldest submission first.
pub async fn review_queue(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    require_platform_admin(ctx).await?;
    let status = ctx.query("status").unwrap_or_else(|| "in_review".into());
    if !["draft", "in_review", "published", "rejected", "unlisted"].contains(&status.as_str()) {
        return Err(AppError::invalid(
            "invalid_status",
            "status is draft, in_review, published, rejected or unlisted",
        ));
    }
    let limit = ctx.query_limit(50, 200)?;
    let after = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<ListingRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT * FROM ({LISTING_SELECT}) WHERE status = ?1 AND (?2 IS NULL OR id > ?2)
                 ORDER BY id LIMIT ?3"
            ),
            args![status, after, limit + 1],
        )
        .await?;
    let next_cursor = crate::identity::api::page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(|row| row.view(true)).collect();
    http::json(200, &ListingPage { items, next_cursor })
}

/// How public search results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    /// Highest average rating first.
    Rating,
    /// Most licences sold first.
    Sales,
    /// Most recently (first) published first.
    Newest,
}

impl Sort {
    fn parse(raw: Option<&str>) -> AppResult<Sort> {
        match raw {
            None | Some("newest") => Ok(Sort::Newest),
            Some("rating") => Ok(Sort::Rating),
            Some("sales") => Ok(Sort::Sales),
            Some(_) => Err(AppError::invalid(
                "invalid_sort",
                "sort is rating, sales or newest",
            )),
        }
    }

    /// The sort key column and the cursor's tag.
    fn key(self) -> (&'static str, char) {
        match self {
            Sort::Rating => ("score", 'r'),
            Sort::Sales => ("sales", 's'),
            Sort::Newest => ("published_at", 'n'),
        }
    }

    fn value(self, row: &ListingRow) -> i64 {
        match self {
            Sort::Rating => row.score,
            Sort::Sales => row.sales,
            Sort::Newest => row.published_at.unwrap_or(0),
        }
    }
}

/// A keyset cursor of the public search: the sort it belongs to, the last key and id.
pub fn encode_search_cursor(sort: Sort, value: i64, id: &str) -> String {
    encode_cursor(&format!("{}:{value}:{id}", sort.key().1))
}

/// Reverses [`encode_search_cursor`]; 400 for a cursor of another sort or anything else.
pub fn decode_search_cursor(sort: Sort, cursor: &str) -> AppResult<(i64, String)> {
    let raw = decode_cursor(cursor)?;
    let invalid = || AppError::bad_request("invalid_cursor", "the cursor is not valid");
    let mut parts = raw.splitn(3, ':');
    let tag = parts.next().ok_or_else(invalid)?;
    let value = parts
        .next()
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or_else(invalid)?;
    let id = parts.next().ok_or_else(invalid)?;
    if tag.len() != 1 || !tag.starts_with(sort.key().1) || !id.starts_with("lst_") {
        return Err(invalid());
    }
    Ok((value, id.to_string()))
}

fn parse_amount(raw: Option<String>, name: &str) -> AppResult<Option<i64>> {
    raw.map(|raw| {
        raw.parse::<i64>()
            .ok()
            .filter(|n| (0..=1_000_000_000_000).contains(n))
            .ok_or_else(|| {
                AppError::invalid(
                    "invalid_price_range",
                    format!("{name} must be a whole number of minor units, 0 or more"),
                )
            })
    })
    .transpose()
}

/// `GET /v1/market/listings?q=&category=&tags=&min_price=&max_price=&currency=&sort=&cursor=&limit=`:
/// published listings, readable without signing in.
pub async fn search(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let sort = Sort::parse(ctx.query("sort").as_deref())?;
    let limit = ctx.query_limit(20, 100)?;
    let mut conditions: Vec<String> =
        vec!["status = 'published' AND product_status != 'archived'".into()];
    let mut values: Vec<Arg> = Vec::new();
    fn bind(values: &mut Vec<Arg>, value: Arg) -> String {
        values.push(value);
        format!("?{}", values.len())
    }
    if let Some(q) = ctx.query("q") {
        if q.chars().count() > 200 {
            return Err(AppError::invalid(
                "invalid_query",
                "q has at most 200 characters",
            ));
        }
        if let Some(fts) = fts_query(&q) {
            let slot = bind(&mut values, fts.into());
            conditions.push(format!(
                "listing_rowid IN (SELECT rowid FROM listings_fts WHERE listings_fts MATCH {slot})"
            ));
        }
    }
    if let Some(category) = ctx.query("category") {
        let category = clean_slug(&category, "category")?;
        let slot = bind(&mut values, category.into());
        conditions.push(format!("category = {slot}"));
    }
    if let Some(tags) = ctx.query("tags") {
        let tags: Vec<String> = tags
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(str::to_string)
            .collect();
        for tag in clean_tags(&tags)? {
            let slot = bind(&mut values, tag.into());
            conditions.push(format!(
                "EXISTS (SELECT 1 FROM json_each(tags) WHERE json_each.value = {slot})"
            ));
        }
    }
    let min_price = parse_amount(ctx.query("min_price"), "min_price")?;
    let max_price = parse_amount(ctx.query("max_price"), "max_price")?;
    if let (Some(min), Some(max)) = (min_price, max_price) {
        if min > max {
            return Err(AppError::invalid(
                "invalid_price_range",
                "min_price must not exceed max_price",
            ));
        }
    }
    if let Some(min) = min_price {
        let slot = bind(&mut values, min.into());
        conditions.push(format!("unit_amount >= {slot}"));
    }
    if let Some(max) = max_price {
        let slot = bind(&mut values, max.into());
        conditions.push(format!("unit_amount <= {slot}"));
    }
    if let Some(currency) = ctx.query("currency") {
        let currency = currency.to_ascii_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(AppError::invalid(
                "invalid_currency",
                "currency is an ISO 4217 code such as EUR",
            ));
        }
        let slot = bind(&mut values, currency.into());
        conditions.push(format!("currency = {slot}"));
    }
    let (key, _) = sort.key();
    if let Some(cursor) = ctx.query("cursor") {
        let (value, id) = decode_search_cursor(sort, &cursor)?;
        let value_slot = bind(&mut values, value.into());
        let id_slot = bind(&mut values, id.into());
        conditions.push(format!(
            "(COALESCE({key}, 0) < {value_slot} OR (COALESCE({key}, 0) = {value_slot} AND id < {id_slot}))"
        ));
    }
    let limit_slot = bind(&mut values, (limit + 1).into());
    let sql = format!(
        "SELECT * FROM ({LISTING_SELECT}) WHERE {} ORDER BY COALESCE({key}, 0) DESC, id DESC LIMIT {limit_slot}",
        conditions.join(" AND ")
    );
    let mut rows: Vec<ListingRow> = ctx.db()?.all(&sql, values).await?;
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|row| encode_search_cursor(sort, sort.value(row), &row.id))
    } else {
        None
    };
    let items = rows.iter().map(|row| row.view(false)).collect();
    http::json(200, &ListingPage { items, next_cursor })
}

/// `GET /v1/market/listings/{listing_id}`: a published listing, readable without signing in;
/// any other status is 404.
pub async fn get_public(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let listing_id = ctx.param("listing_id").to_string();
    let row = find(ctx, &listing_id)
        .await?
        .filter(ListingRow::is_public)
        .ok_or_else(|| AppError::not_found("listing"))?;
    http::json(
        200,
        &ListingResponse {
            listing: row.view(false),
        },
    )
}

/// `GET /v1/market/listings/{listing_id}/cover`: the cover image of a published listing,
/// readable without signing in (the seller's asset is served only through its listing).
pub async fn cover(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let listing_id = ctx.param("listing_id").to_string();
    let row = find(ctx, &listing_id)
        .await?
        .filter(ListingRow::is_public)
        .ok_or_else(|| AppError::not_found("listing"))?;
    let asset_id = row
        .cover_asset_id
        .clone()
        .ok_or_else(|| AppError::not_found("cover"))?;
    #[derive(Deserialize)]
    struct CoverRow {
        r2_key: String,
        mime: String,
        sha256: String,
        name: String,
    }
    let asset: CoverRow = ctx
        .db()?
        .first(
            "SELECT r2_key, mime, sha256, name FROM assets
             WHERE id = ?1 AND org_id = ?2 AND kind = 'image' AND status = 'ready'",
            args![asset_id.as_str(), row.org_id.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::not_found("cover"))?;
    store::serve(
        ctx,
        &crate::assets::bucket(&ctx.env)?,
        Download {
            key: &asset.r2_key,
            mime: &asset.mime,
            etag: Some(format!("\"{}\"", asset.sha256)),
            disposition: store::disposition(&asset.name),
            cache_control: "public, max-age=300",
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_cursors_round_trip_and_belong_to_their_sort() {
        let cursor = encode_search_cursor(Sort::Rating, 4500, "lst_01ABC");
        assert_eq!(
            decode_search_cursor(Sort::Rating, &cursor).unwrap(),
            (4500, "lst_01ABC".to_string())
        );
        assert_eq!(
            decode_search_cursor(Sort::Sales, &cursor).unwrap_err().code,
            "invalid_cursor"
        );
        let forged = encode_cursor("r:x:lst_1");
        assert!(decode_search_cursor(Sort::Rating, &forged).is_err());
        let other = encode_cursor("r:1:prj_1");
        assert!(decode_search_cursor(Sort::Rating, &other).is_err());
    }

    #[test]
    fn sorts_parse_or_are_refused() {
        assert_eq!(Sort::parse(None).unwrap(), Sort::Newest);
        assert_eq!(Sort::parse(Some("sales")).unwrap(), Sort::Sales);
        assert_eq!(Sort::parse(Some("price")).unwrap_err().status, 422);
    }
}
