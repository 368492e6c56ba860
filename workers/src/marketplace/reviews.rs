//! Ratings and reviews: only verified buyers, one per buyer per product, editable by their
//! author, one reply by the seller, reports for moderation; platform admins hide and restore.
//!
//! The listing's rating aggregate (`rating_count`, `rating_sum` over visible reviews) changes in
//! the same D1 batch as the review, and each delta is computed in SQL from the stored review
//! inside that batch, so the aggregate always equals a recount.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{Request, Response};

use super::clean_text;
use super::listings;
use super::require_platform_admin;
use crate::args;
use crate::audit::{self, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{decode_cursor, page};
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// A review as the API shows it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReviewView {
    /// `rev_…`
    pub id: String,
    /// The listing reviewed.
    pub listing_id: String,
    /// Its product.
    pub product_id: String,
    /// 1 to 5.
    pub rating: i64,
    /// The text (may be empty).
    pub body: String,
    /// The author's display name.
    pub author_name: String,
    /// `visible` or `hidden` (by a moderator).
    pub status: String,
    /// The seller's answer, if any.
    pub seller_reply: Option<String>,
    /// When the seller answered.
    pub seller_reply_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last edit.
    pub updated_at: String,
}

/// One review.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReviewResponse {
    /// The review.
    pub review: ReviewView,
}

/// A page of reviews.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReviewPage {
    /// Newest first.
    pub items: Vec<ReviewView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `POST /v1/market/listings/{listing_id}/reviews`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateReviewBody {
    /// 1 to 5 stars.
    pub rating: i64,
    /// Up to 5,000 characters.
    #[serde(default)]
    pub body: String,
}

/// `PATCH /v1/reviews/{review_id}` (the author).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateReviewBody {
    /// 1 to 5 stars.
    #[serde(default)]
    pub rating: Option<i64>,
    /// Up to 5,000 characters.
    #[serde(default)]
    pub body: Option<String>,
}

/// `POST /v1/reviews/{review_id}/reply` (the seller; replaces an earlier reply).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplyBody {
    /// 1 to 5,000 characters.
    pub body: String,
}

/// `POST /v1/reviews/{review_id}/report`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportBody {
    /// What is wrong with the review: 1 to 1,000 characters.
    pub reason: String,
}

/// A report, answered to the reporter.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ReportView {
    /// `rpt_…`
    pub id: String,
    /// The reported review.
    pub review_id: String,
    /// The reporter's reason.
    pub reason: String,
    /// `open` or `resolved`.
    pub status: String,
}

/// One report.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReportResponse {
    /// The report.
    pub report: ReportView,
}

/// An open report with the review it is about (moderation queue).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModerationItem {
    /// The report.
    pub report: ReportView,
    /// The review.
    pub review: ReviewView,
}

/// The moderation queue.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ModerationPage {
    /// Oldest first.
    pub items: Vec<ModerationItem>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `POST /v1/admin/market/reviews/{review_id}/moderate`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModerateBody {
    /// Hide (true) or restore (false); the review's open reports are resolved either way.
    pub hidden: bool,
}

#[derive(Debug, Deserialize)]
struct ReviewRow {
    id: String,
    listing_id: String,
    product_id: String,
    seller_org_id: String,
    author_user_id: String,
    author_name: String,
    rating: i64,
    body: String,
    status: String,
    seller_reply: Option<String>,
    seller_reply_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl ReviewRow {
    fn view(&self) -> ReviewView {
        ReviewView {
            id: self.id.clone(),
            listing_id: self.listing_id.clone(),
            product_id: self.product_id.clone(),
            rating: self.rating,
            body: self.body.clone(),
            author_name: self.author_name.clone(),
            status: self.status.clone(),
            seller_reply: self.seller_reply.clone(),
            seller_reply_at: self.seller_reply_at.map(util::rfc3339),
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
        }
    }
}

const REVIEW_SELECT: &str = "SELECT r.id, r.listing_id, r.product_id, r.seller_org_id, r.author_user_id, u.name AS author_name,
        r.rating, r.body, r.status, r.seller_reply, r.seller_reply_at, r.created_at, r.updated_at
     FROM reviews r JOIN users u ON u.id = r.author_user_id";

async fn find(ctx: &Ctx, review_id: &str) -> AppResult<Option<ReviewRow>> {
    ctx.db()?
        .first(
            &format!("{REVIEW_SELECT} WHERE r.id = ?1"),
            args![review_id],
        )
        .await
}

async fn respond(ctx: &Ctx, review_id: &str, status: u16) -> AppResult<Response> {
    let row = find(ctx, review_id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))?;
    http::json(status, &ReviewResponse { review: row.view() })
}

fn check_rating(rating: i64) -> AppResult<()> {
    if (1..=5).contains(&rating) {
        Ok(())
    } else {
        Err(AppError::invalid(
            "invalid_rating",
            "rating is a whole number from 1 to 5",
        ))
    }
}

/// `GET /v1/market/listings/{listing_id}/reviews?cursor=&limit=`: visible reviews of a
/// published listing, newest first; readable without signing in.
pub async fn list_public(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let listing_id = ctx.param("listing_id").to_string();
    listings::find(ctx, &listing_id)
        .await?
        .filter(|row| row.is_public())
        .ok_or_else(|| AppError::not_found("listing"))?;
    let limit = ctx.query_limit(20, 100)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<ReviewRow> = ctx
        .db()?
        .all(
            &format!(
                "{REVIEW_SELECT} WHERE r.listing_id = ?1 AND r.status = 'visible' AND (?2 IS NULL OR r.id < ?2)
                 ORDER BY r.id DESC LIMIT ?3"
            ),
            args![listing_id.as_str(), before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(ReviewRow::view).collect();
    http::json(200, &ReviewPage { items, next_cursor })
}

/// `POST /v1/market/listings/{listing_id}/reviews`: a verified buyer (a licence for the product
/// that was not revoked, or a paid order of it) rates a published listing, once.
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let listing_id = ctx.param("listing_id").to_string();
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let listing = listings::find(ctx, &listing_id)
        .await?
        .filter(|row| row.is_public())
        .ok_or_else(|| AppError::not_found("listing"))?;
    let body: CreateReviewBody = ctx.json(&mut req).await?;
    check_rating(body.rating)?;
    let text = clean_text(&body.body, "review", 0, 5000)?;
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Standing {
        buyer: i64,
        seller: i64,
        reviewed: i64,
    }
    let standing: Standing = db
        .first(
            "SELECT
               (EXISTS (SELECT 1 FROM licences WHERE product_id = ?1 AND holder_user_id = ?2 AND status != 'revoked')
                OR EXISTS (SELECT 1 FROM orders o JOIN order_items i ON i.order_id = o.id
                           WHERE o.buyer_user_id = ?2 AND i.product_id = ?1
                             AND o.status IN ('paid', 'fulfilled', 'partially_refunded'))) AS buyer,
               EXISTS (SELECT 1 FROM memberships WHERE org_id = ?3 AND user_id = ?2) AS seller,
               EXISTS (SELECT 1 FROM reviews WHERE product_id = ?1 AND author_user_id = ?2) AS reviewed",
            args![listing.product_id.as_str(), user_id.as_str(), listing.org_id.as_str()],
        )
        .await?
        .ok_or_else(|| AppError::internal("standing query returned nothing"))?;
    if standing.seller == 1 {
        return Err(AppError::new(
            403,
            "own_product",
            "sellers cannot review their own products",
        ));
    }
    if standing.buyer == 0 {
        return Err(AppError::new(
            403,
            "not_a_verified_buyer",
            "only buyers of the product can review it",
        ));
    }
    if standing.reviewed == 1 {
        return Err(AppError::conflict(
            "review_exists",
            "you have reviewed this product already; edit your review instead",
        ));
    }
    let review_id = util::new_id("rev", ctx.now);
    let insert = db.stmt(
        "INSERT INTO reviews (id, listing_id, product_id, seller_org_id, author_user_id, rating, body, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'visible', ?8, ?8)",
        args![
            review_id.as_str(),
            listing.id.as_str(),
            listing.product_id.as_str(),
            listing.org_id.as_str(),
            user_id.as_str(),
            body.rating,
            text.as_str(),
            ctx.now,
        ],
    )?;
    let aggregate = db.stmt(
        "UPDATE listings SET rating_count = rating_count + 1, rating_sum = rating_sum + ?1 WHERE id = ?2",
        args![body.rating, listing.id.as_str()],
    )?;
    let record = Record::success(
        Some(&listing.org_id),
        "review.create",
        Some(("review", &review_id)),
    )
    .with_details(json!({ "listing_id": listing.id, "rating": body.rating }));
    audit::commit(ctx, &db, vec![insert, aggregate], record, None).await?;
    respond(ctx, &review_id, 201).await
}

/// `PATCH /v1/reviews/{review_id}`: the author changes the rating and/or text. Others' reviews
/// are 404.
pub async fn update(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let review_id = ctx.param("review_id").to_string();
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let row = find(ctx, &review_id)
        .await?
        .filter(|row| row.author_user_id == user_id)
        .ok_or_else(|| AppError::not_found("review"))?;
    let body: UpdateReviewBody = ctx.json(&mut req).await?;
    if body.rating.is_none() && body.body.is_none() {
        return Err(AppError::invalid(
            "nothing_to_change",
            "send rating and/or body",
        ));
    }
    if let Some(rating) = body.rating {
        check_rating(rating)?;
    }
    let text = body
        .body
        .as_deref()
        .map(|b| clean_text(b, "review", 0, 5000))
        .transpose()?;
    let db = ctx.db()?;
    // The delta is read from the stored review inside the batch, before it changes.
    let aggregate = db.stmt(
        "UPDATE listings SET rating_sum = rating_sum + (COALESCE(?1, (SELECT rating FROM reviews WHERE id = ?2))
                                                        - (SELECT rating FROM reviews WHERE id = ?2))
         WHERE id = ?3 AND (SELECT status FROM reviews WHERE id = ?2) = 'visible'",
        args![body.rating, review_id.as_str(), row.listing_id.as_str()],
    )?;
    let update = db.stmt(
        "UPDATE reviews SET rating = COALESCE(?1, rating), body = COALESCE(?2, body), updated_at = ?3 WHERE id = ?4",
        args![body.rating, text, ctx.now, review_id.as_str()],
    )?;
    let record = Record::success(
        Some(&row.seller_org_id),
        "review.update",
        Some(("review", &review_id)),
    )
    .with_details(json!({ "from": row.rating, "to": body.rating }));
    audit::commit(ctx, &db, vec![aggregate, update], record, None).await?;
    respond(ctx, &review_id, 200).await
}

/// `POST /v1/reviews/{review_id}/reply`: the seller (editor of the seller org) answers.
pub async fn reply(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let review_id = ctx.param("review_id").to_string();
    authenticate(ctx).await?;
    let row = find(ctx, &review_id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))?;
    authorize(ctx, &row.seller_org_id, Permission::Write)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("review")
            } else {
                error
            }
        })?;
    let body: ReplyBody = ctx.json(&mut req).await?;
    let text = clean_text(&body.body, "reply", 1, 5000)?;
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE reviews SET seller_reply = ?1, seller_reply_at = ?2 WHERE id = ?3",
        args![text.as_str(), ctx.now, review_id.as_str()],
    )?;
    let record = Record::success(
        Some(&row.seller_org_id),
        "review.reply",
        Some(("review", &review_id)),
    );
    audit::commit(ctx, &db, vec![update], record, None).await?;
    respond(ctx, &review_id, 200).await
}

/// `POST /v1/reviews/{review_id}/report`: any signed-in person flags a visible review for
/// moderation, once.
pub async fn report(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let review_id = ctx.param("review_id").to_string();
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let row = find(ctx, &review_id)
        .await?
        .filter(|row| row.status == "visible")
        .ok_or_else(|| AppError::not_found("review"))?;
    let body: ReportBody = ctx.json(&mut req).await?;
    let reason = clean_text(&body.reason, "reason", 1, 1000)?;
    let db = ctx.db()?;
    let existing: Option<serde_json::Value> = db
        .first(
            "SELECT id FROM review_reports WHERE review_id = ?1 AND reporter_user_id = ?2",
            args![review_id.as_str(), user_id.as_str()],
        )
        .await?;
    if existing.is_some() {
        return Err(AppError::conflict(
            "already_reported",
            "you have reported this review already",
        ));
    }
    let report_id = util::new_id("rpt", ctx.now);
    let insert = db.stmt(
        "INSERT INTO review_reports (id, review_id, reporter_user_id, reason, status, created_at)
         VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
        args![
            report_id.as_str(),
            review_id.as_str(),
            user_id.as_str(),
            reason.as_str(),
            ctx.now
        ],
    )?;
    let record = Record::success(
        Some(&row.seller_org_id),
        "review.report",
        Some(("review", &review_id)),
    )
    .with_details(json!({ "report_id": report_id }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &ReportResponse {
            report: ReportView {
                id: report_id,
                review_id,
                reason,
                status: "open".into(),
            },
        },
    )
}

/// `GET /v1/admin/market/reports?cursor=&limit=` (platform admin): open reports, oldest first.
pub async fn moderation_queue(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    require_platform_admin(ctx).await?;
    let limit = ctx.query_limit(50, 200)?;
    let after = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let db = ctx.db()?;
    let mut reports: Vec<ReportView> = db
        .all(
            "SELECT id, review_id, reason, status FROM review_reports
             WHERE status = 'open' AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2",
            args![after, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut reports, limit, |report| &report.id);
    let mut items = Vec::with_capacity(reports.len());
    for report in reports {
        if let Some(review) = find(ctx, &report.review_id).await? {
            items.push(ModerationItem {
                report,
                review: review.view(),
            });
        }
    }
    http::json(200, &ModerationPage { items, next_cursor })
}

/// `POST /v1/admin/market/reviews/{review_id}/moderate` (platform admin): hide or restore a
/// review; its open reports are resolved.
pub async fn moderate(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    require_platform_admin(ctx).await?;
    let review_id = ctx.param("review_id").to_string();
    let row = find(ctx, &review_id)
        .await?
        .ok_or_else(|| AppError::not_found("review"))?;
    let body: ModerateBody = ctx.json(&mut req).await?;
    let (from, to, sign) = if body.hidden {
        ("visible", "hidden", -1)
    } else {
        ("hidden", "visible", 1)
    };
    let db = ctx.db()?;
    let aggregate = db.stmt(
        "UPDATE listings SET rating_count = rating_count + ?1,
                rating_sum = rating_sum + ?1 * (SELECT rating FROM reviews WHERE id = ?2)
         WHERE id = ?3 AND (SELECT status FROM reviews WHERE id = ?2) = ?4",
        args![sign, review_id.as_str(), row.listing_id.as_str(), from],
    )?;
    let update = db.stmt(
        "UPDATE reviews SET status = ?1 WHERE id = ?2",
        args![to, review_id.as_str()],
    )?;
    let resolve = db.stmt(
        "UPDATE review_reports SET status = 'resolved', resolved_at = ?1 WHERE review_id = ?2 AND status = 'open'",
        args![ctx.now, review_id.as_str()],
    )?;
    let action = if body.hidden {
        "review.hide"
    } else {
        "review.restore"
    };
    let record = Record::success(
        Some(&row.seller_org_id),
        action,
        Some(("review", &review_id)),
    );
    audit::commit(ctx, &db, vec![aggregate, update, resolve], record, None).await?;
    respond(ctx, &review_id, 200).await
}
