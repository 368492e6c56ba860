//! Licences: the one check used wherever a purchased thing is used ([`require`]), the
//! holder's list, verification of licence keys for external use, and consuming a use.
//!
//! A licence is valid when its status is `active` and, by type:
//! - `one_time`: always (unless an `expires_at` has passed);
//! - `subscription`: while `expires_at` is in the future (each paid period moves it);
//! - `usage`: while `units_used < units_granted`; each use consumes one unit atomically.
//!
//! Refused use answers in the one error shape with a code saying why: `licence_required`
//! (402, no licence), `licence_expired` (402), `licence_exhausted` (402), `licence_revoked`
//! (403: refunded or disputed).
//!
//! Agents and workflows (built in their own modules) call [`require`] with the product being
//! run and the holder (the acting user and/or the org it runs for) before a run starts, then
//! [`record_use`] with purpose `agent` or `workflow` in the batch that records the run.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{D1PreparedStatement, Request, Response};

use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{decode_cursor, page};
use crate::identity::throttle::{self, Budget};
use crate::identity::{authenticate, authorize, Permission, Principal};
use crate::util;

/// Prefix of licence keys (the key itself is shown once, at purchase).
pub const LICENCE_KEY_PREFIX: &str = "cos_lic_";

/// A licence row.
#[derive(Debug, Clone, Deserialize)]
pub struct LicenceRow {
    /// `lic_…`
    pub id: String,
    /// The licensed product.
    pub product_id: String,
    /// The seller.
    pub seller_org_id: String,
    /// The buyer.
    pub holder_user_id: String,
    /// The org the purchase was for.
    pub holder_org_id: Option<String>,
    /// `one_time`, `subscription` or `usage`.
    #[serde(rename = "type")]
    pub licence_type: String,
    /// `active`, `expired` or `revoked`.
    pub status: String,
    /// First characters of the key.
    pub key_prefix: Option<String>,
    /// End of the paid period (subscriptions).
    pub expires_at: Option<i64>,
    /// Units bought (usage).
    pub units_granted: Option<i64>,
    /// Units consumed (usage).
    pub units_used: i64,
    /// Grant time.
    pub created_at: i64,
}

const LICENCE_COLUMNS: &str =
    "id, product_id, seller_org_id, holder_user_id, holder_org_id, type, status, key_prefix,
     expires_at, units_granted, units_used, created_at";

/// Why a licence does not allow use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No licence for the product.
    Required,
    /// The subscription period (or the licence) has ended.
    Expired,
    /// Refunded or lost in a dispute.
    Revoked,
    /// Every unit of a usage licence is used.
    Exhausted,
}

impl Refusal {
    /// The error code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Required => "licence_required",
            Refusal::Expired => "licence_expired",
            Refusal::Revoked => "licence_revoked",
            Refusal::Exhausted => "licence_exhausted",
        }
    }

    /// The error the API answers.
    pub fn error(self) -> AppError {
        let (status, message) = match self {
            Refusal::Required => (402, "this needs a licence for the product: buy it first"),
            Refusal::Expired => (402, "the licence has expired: renew the subscription"),
            Refusal::Revoked => (403, "the licence was revoked (refunded or disputed)"),
            Refusal::Exhausted => (402, "every unit of the usage licence is used: buy more"),
        };
        AppError::new(status, self.code(), message)
    }
}

/// Whether `licence` allows use at `now` (ms), and why not.
pub fn evaluate(licence: &LicenceRow, now: i64) -> Result<(), Refusal> {
    match licence.status.as_str() {
        "revoked" => return Err(Refusal::Revoked),
        "expired" => return Err(Refusal::Expired),
        _ => {}
    }
    if licence.licence_type == "subscription" && licence.expires_at.is_none_or(|at| at <= now) {
        return Err(Refusal::Expired);
    }
    if licence.expires_at.is_some_and(|at| at <= now) {
        return Err(Refusal::Expired);
    }
    if licence.licence_type == "usage" && licence.units_used >= licence.units_granted.unwrap_or(0) {
        return Err(Refusal::Exhausted);
    }
    Ok(())
}

/// The licence to use among a holder's licences for a product: a valid one (preferring those
/// that do not consume units), else the most telling refusal.
pub fn choose(licences: &[LicenceRow], now: i64) -> Result<&LicenceRow, Refusal> {
    let valid = || licences.iter().filter(|l| evaluate(l, now).is_ok());
    if let Some(licence) = valid()
        .find(|l| l.licence_type != "usage")
        .or_else(|| valid().next())
    {
        return Ok(licence);
    }
    let refusals: Vec<Refusal> = licences
        .iter()
        .filter_map(|l| evaluate(l, now).err())
        .collect();
    for refusal in [Refusal::Exhausted, Refusal::Expired, Refusal::Revoked] {
        if refusals.contains(&refusal) {
            return Err(refusal);
        }
    }
    Err(Refusal::Required)
}

/// Who wants to use a product: the person (if a person is acting) and the org it is for.
#[derive(Debug, Clone)]
pub struct Holder {
    /// The acting user; their own licences count in any org.
    pub user_id: Option<String>,
    /// The org the use is for; licences bought for it count for all its members and keys.
    pub org_id: Option<String>,
}

impl Holder {
    /// The request's principal acting for `org_id`.
    pub fn of(principal: &Principal, org_id: &str) -> Holder {
        Holder {
            user_id: match principal {
                Principal::User { user_id, .. } => Some(user_id.clone()),
                Principal::ApiKey { .. } | Principal::Agent { .. } => None,
            },
            org_id: Some(org_id.to_string()),
        }
    }
}

/// The one licence check: a valid licence of `holder` for `product_id`, or the refusal as an
/// API error (`licence_required`, `licence_expired`, `licence_revoked`, `licence_exhausted`).
pub async fn require(ctx: &Ctx, holder: &Holder, product_id: &str) -> AppResult<LicenceRow> {
    let licences: Vec<LicenceRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {LICENCE_COLUMNS} FROM licences
                 WHERE product_id = ?1 AND ((?2 IS NOT NULL AND holder_user_id = ?2) OR (?3 IS NOT NULL AND holder_org_id = ?3))
                 ORDER BY created_at DESC, id DESC LIMIT 50"
            ),
            args![product_id, holder.user_id.clone(), holder.org_id.clone()],
        )
        .await?;
    choose(&licences, ctx.now).cloned().map_err(Refusal::error)
}

/// Statements that record one use of `licence` for `purpose` on `target_id`: a usage licence
/// consumes a unit, guarded so that the batch fails when none is left (the use row's CHECK
/// sees `changes() = 0`). Put them in the batch of the change the use makes.
pub fn record_use(
    ctx: &Ctx,
    db: &Db,
    licence: &LicenceRow,
    purpose: &str,
    target_id: Option<&str>,
) -> AppResult<Vec<D1PreparedStatement>> {
    let actor = ctx.principal.as_ref().map(|p| p.actor_id().to_string());
    let use_id = util::new_id("use", ctx.now);
    if licence.licence_type == "usage" {
        let consume = db.stmt(
            "UPDATE licences SET units_used = units_used + 1, updated_at = ?1
             WHERE id = ?2 AND status = 'active' AND units_used < COALESCE(units_granted, 0)",
            args![ctx.now, licence.id.as_str()],
        )?;
        let row = db.stmt(
            "INSERT INTO licence_uses (id, licence_id, purpose, target_id, units, counted, actor_id, created_at)
             VALUES (?1, ?2, ?3, ?4, 1, changes(), ?5, ?6)",
            args![use_id, licence.id.as_str(), purpose, target_id, actor, ctx.now],
        )?;
        Ok(vec![consume, row])
    } else {
        let row = db.stmt(
            "INSERT INTO licence_uses (id, licence_id, purpose, target_id, units, counted, actor_id, created_at)
             VALUES (?1, ?2, ?3, ?4, 0, 1, ?5, ?6)",
            args![use_id, licence.id.as_str(), purpose, target_id, actor, ctx.now],
        )?;
        Ok(vec![row])
    }
}

/// Commits a use recorded by [`record_use`] with its audit record; when the batch fails because
/// the last unit went to a concurrent use, answers `licence_exhausted`.
pub async fn commit_use(
    ctx: &Ctx,
    db: &Db,
    licence: &LicenceRow,
    statements: Vec<D1PreparedStatement>,
    record: Record<'_>,
) -> AppResult<()> {
    match audit::commit(ctx, db, statements, record, None).await {
        Ok(_) => Ok(()),
        Err(error) if licence.licence_type == "usage" => {
            let now: Option<LicenceRow> = db
                .first(
                    &format!("SELECT {LICENCE_COLUMNS} FROM licences WHERE id = ?1"),
                    args![licence.id.as_str()],
                )
                .await?;
            match now.map(|l| evaluate(&l, ctx.now)) {
                Some(Err(refusal)) => Err(refusal.error()),
                _ => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// A licence as its holder (or a verifier) sees it: never the key, never personal data.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LicenceView {
    /// `lic_…`
    pub id: String,
    /// The licensed product.
    pub product: LicensedProduct,
    /// The seller organisation.
    pub seller_org_id: String,
    /// The organisation the purchase was for.
    pub holder_org_id: Option<String>,
    /// `one_time`, `subscription` or `usage`.
    #[serde(rename = "type")]
    pub licence_type: String,
    /// `active`, `expired` (also once a subscription's period has ended) or `revoked`.
    pub status: String,
    /// Whether it allows use now.
    pub valid: bool,
    /// Why not, when not valid: `licence_expired`, `licence_revoked` or `licence_exhausted`.
    pub reason: Option<String>,
    /// First characters of the key, to recognise it.
    pub key_prefix: Option<String>,
    /// End of the paid period (subscriptions).
    pub expires_at: Option<String>,
    /// Units bought (usage).
    pub units_granted: Option<i64>,
    /// Units consumed (usage).
    pub units_used: i64,
    /// Grant time.
    pub created_at: String,
}

/// The product a licence is for.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LicensedProduct {
    /// `prd_…`
    pub id: String,
    /// Title.
    pub title: String,
    /// Kind: `template`, `effect_preset`, `agent`, …
    pub kind: String,
}

#[derive(Debug, Deserialize)]
struct LicenceListRow {
    id: String,
    product_id: String,
    seller_org_id: String,
    holder_user_id: String,
    holder_org_id: Option<String>,
    #[serde(rename = "type")]
    licence_type: String,
    status: String,
    key_prefix: Option<String>,
    expires_at: Option<i64>,
    units_granted: Option<i64>,
    units_used: i64,
    created_at: i64,
    title: String,
    kind: String,
}

impl LicenceListRow {
    fn licence(&self) -> LicenceRow {
        LicenceRow {
            id: self.id.clone(),
            product_id: self.product_id.clone(),
            seller_org_id: self.seller_org_id.clone(),
            holder_user_id: self.holder_user_id.clone(),
            holder_org_id: self.holder_org_id.clone(),
            licence_type: self.licence_type.clone(),
            status: self.status.clone(),
            key_prefix: self.key_prefix.clone(),
            expires_at: self.expires_at,
            units_granted: self.units_granted,
            units_used: self.units_used,
            created_at: self.created_at,
        }
    }

    fn view(&self, now: i64) -> LicenceView {
        let l = &self.licence();
        let verdict = evaluate(l, now);
        let status = match verdict {
            Err(Refusal::Expired) if l.status == "active" => "expired".to_string(),
            _ => l.status.clone(),
        };
        LicenceView {
            id: l.id.clone(),
            product: LicensedProduct {
                id: l.product_id.clone(),
                title: self.title.clone(),
                kind: self.kind.clone(),
            },
            seller_org_id: l.seller_org_id.clone(),
            holder_org_id: l.holder_org_id.clone(),
            licence_type: l.licence_type.clone(),
            status,
            valid: verdict.is_ok(),
            reason: verdict.err().map(|r| r.code().to_string()),
            key_prefix: l.key_prefix.clone(),
            expires_at: l.expires_at.map(util::rfc3339),
            units_granted: l.units_granted,
            units_used: l.units_used,
            created_at: util::rfc3339(l.created_at),
        }
    }
}

const LICENCE_LIST_SELECT: &str = "SELECT l.id, l.product_id, l.seller_org_id, l.holder_user_id, l.holder_org_id, l.type, l.status,
        l.key_prefix, l.expires_at, l.units_granted, l.units_used, l.created_at, p.title, p.kind
     FROM licences l JOIN products p ON p.id = l.product_id";

/// A page of licences.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LicencePage {
    /// Newest first.
    pub items: Vec<LicenceView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `GET /v1/licences?cursor=&limit=`: the caller's licences (a person's own; an API key's
/// organisation's), newest first.
pub async fn list_mine(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let (user_id, org_id) = match &principal {
        Principal::User { user_id, .. } => (Some(user_id.clone()), None),
        Principal::ApiKey { org_id, .. } | Principal::Agent { org_id, .. } => {
            (None, Some(org_id.clone()))
        }
    };
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<LicenceListRow> = ctx
        .db()?
        .all(
            &format!(
                "{LICENCE_LIST_SELECT}
                 WHERE ((?1 IS NOT NULL AND l.holder_user_id = ?1) OR (?2 IS NOT NULL AND l.holder_org_id = ?2))
                   AND (?3 IS NULL OR l.id < ?3)
                 ORDER BY l.id DESC LIMIT ?4"
            ),
            args![user_id, org_id, before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(|row| row.view(ctx.now)).collect();
    http::json(200, &LicencePage { items, next_cursor })
}

/// `GET /v1/orgs/{org_id}/sold-licences?product_id=&status=&cursor=&limit=`: the licences the
/// organisation's buyers hold for its products, newest first (members of the seller org only;
/// others get 404). Holders appear as organisations, never as people.
pub async fn list_sold(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let product_id = ctx.query("product_id");
    let status = ctx.query("status");
    if let Some(status) = &status {
        if !["active", "expired", "revoked"].contains(&status.as_str()) {
            return Err(AppError::invalid(
                "invalid_status",
                "status is active, expired or revoked",
            ));
        }
    }
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<LicenceListRow> = ctx
        .db()?
        .all(
            &format!(
                "{LICENCE_LIST_SELECT}
                 WHERE l.seller_org_id = ?1 AND (?2 IS NULL OR l.product_id = ?2) AND (?3 IS NULL OR l.status = ?3)
                   AND (?4 IS NULL OR l.id < ?4)
                 ORDER BY l.id DESC LIMIT ?5"
            ),
            args![org_id.as_str(), product_id, status, before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(|row| row.view(ctx.now)).collect();
    http::json(200, &LicencePage { items, next_cursor })
}

/// `POST /v1/licences/verify`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    /// The licence key (`cos_lic_…`) the buyer received.
    pub key: String,
}

/// The verdict on a licence key.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VerifyResponse {
    /// The licence (no personal data of its holder).
    pub licence: LicenceView,
}

/// `POST /v1/licences/verify`: checks a licence key, like a purchase-code check. The caller must
/// be the seller (any member or API key of the seller org), the holder, or a member of the
/// holder org; any other key answers 404 exactly like an unknown one. Rate-limited per caller.
pub async fn verify(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let budget = Budget {
        capacity: ctx.var_f64("LICENCE_VERIFY_BURST", 30.0),
        refill_per_second: ctx.var_f64("LICENCE_VERIFY_PER_MINUTE", 30.0) / 60.0,
    };
    throttle::take(
        ctx,
        &format!("licence-verify:{}", principal.actor_id()),
        budget,
    )
    .await?;
    let body: VerifyBody = ctx.json(&mut req).await?;
    let key = body.key.trim();
    if !key.starts_with(LICENCE_KEY_PREFIX)
        || key.len() > 200
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(AppError::invalid(
            "invalid_licence_key",
            "a licence key starts with cos_lic_",
        ));
    }
    let hash = util::sha256_hex(key.as_bytes());
    let row: Option<LicenceListRow> = ctx
        .db()?
        .first(
            &format!("{LICENCE_LIST_SELECT} WHERE l.key_hash = ?1"),
            args![hash],
        )
        .await?;
    let unknown = || AppError::not_found("licence");
    let row = row.ok_or_else(unknown)?;
    let licence = &row.licence();
    let allowed = match &principal {
        Principal::User { user_id, .. } if *user_id == licence.holder_user_id => true,
        _ => {
            let seller = authorize(ctx, &licence.seller_org_id, Permission::Read)
                .await
                .is_ok();
            let holder_org = match &licence.holder_org_id {
                Some(org) if !seller => authorize(ctx, org, Permission::Read).await.is_ok(),
                _ => false,
            };
            seller || holder_org
        }
    };
    if !allowed {
        return Err(unknown());
    }
    let view = row.view(ctx.now);
    let db = ctx.db()?;
    let record = Record::success(
        Some(&licence.seller_org_id),
        "licence.verify",
        Some(("licence", &licence.id)),
    )
    .with_details(json!({ "valid": view.valid, "reason": view.reason }));
    audit::commit(ctx, &db, Vec::new(), record, None).await?;
    http::json(200, &VerifyResponse { licence: view })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn licence(kind: &str, status: &str) -> LicenceRow {
        LicenceRow {
            id: format!("lic_{kind}_{status}"),
            product_id: "prd_1".into(),
            seller_org_id: "org_s".into(),
            holder_user_id: "usr_b".into(),
            holder_org_id: Some("org_b".into()),
            licence_type: kind.into(),
            status: status.into(),
            key_prefix: None,
            expires_at: None,
            units_granted: None,
            units_used: 0,
            created_at: 0,
        }
    }

    fn arbitrary_licence() -> impl proptest::strategy::Strategy<Value = LicenceRow> {
        use proptest::prelude::*;
        (
            prop::sample::select(vec!["one_time", "subscription", "usage"]),
            prop::sample::select(vec!["active", "expired", "revoked"]),
            prop::option::of(-5i64..5),
            prop::option::of(0i64..4),
            0i64..5,
        )
            .prop_map(|(kind, status, expires, granted, used)| {
                let mut licence = licence(kind, status);
                licence.expires_at = expires.map(|delta| 100 + delta);
                licence.units_granted = granted;
                licence.units_used = used;
                licence
            })
    }

    proptest::proptest! {
        /// A licence is chosen exactly when one is valid; usage units are spent only when no
        /// other valid licence exists; refusals name a reason some licence really has.
        #[test]
        fn choice_is_valid_iff_some_licence_is(licences in proptest::collection::vec(arbitrary_licence(), 0..6)) {
            let now = 100;
            let any_valid = licences.iter().any(|l| evaluate(l, now).is_ok());
            match choose(&licences, now) {
                Ok(chosen) => {
                    proptest::prop_assert!(evaluate(chosen, now).is_ok());
                    let free = licences.iter().any(|l| l.licence_type != "usage" && evaluate(l, now).is_ok());
                    proptest::prop_assert!(!free || chosen.licence_type != "usage");
                }
                Err(refusal) => {
                    proptest::prop_assert!(!any_valid);
                    if licences.is_empty() {
                        proptest::prop_assert_eq!(refusal, Refusal::Required);
                    } else {
                        proptest::prop_assert!(licences.iter().any(|l| evaluate(l, now) == Err(refusal)));
                    }
                }
            }
        }
    }

    #[test]
    fn validity_by_type() {
        let now = 1_000_000;
        assert_eq!(evaluate(&licence("one_time", "active"), now), Ok(()));
        assert_eq!(
            evaluate(&licence("one_time", "revoked"), now),
            Err(Refusal::Revoked)
        );
        let mut subscription = licence("subscription", "active");
        assert_eq!(evaluate(&subscription, now), Err(Refusal::Expired));
        subscription.expires_at = Some(now + 1);
        assert_eq!(evaluate(&subscription, now), Ok(()));
        subscription.expires_at = Some(now);
        assert_eq!(evaluate(&subscription, now), Err(Refusal::Expired));
        let mut usage = licence("usage", "active");
        usage.units_granted = Some(2);
        usage.units_used = 1;
        assert_eq!(evaluate(&usage, now), Ok(()));
        usage.units_used = 2;
        assert_eq!(evaluate(&usage, now), Err(Refusal::Exhausted));
    }

    #[test]
    fn choice_prefers_licences_that_consume_nothing_and_explains_refusals() {
        let now = 10;
        let mut usage = licence("usage", "active");
        usage.units_granted = Some(5);
        let one_time = licence("one_time", "active");
        let both = [usage.clone(), one_time.clone()];
        assert_eq!(choose(&both, now).unwrap().licence_type, "one_time");
        assert_eq!(
            choose(std::slice::from_ref(&usage), now)
                .unwrap()
                .licence_type,
            "usage"
        );
        assert_eq!(choose(&[], now).unwrap_err(), Refusal::Required);
        let revoked = licence("one_time", "revoked");
        let expired = licence("subscription", "active");
        assert_eq!(
            choose(&[revoked.clone(), expired], now).unwrap_err(),
            Refusal::Expired
        );
        assert_eq!(choose(&[revoked], now).unwrap_err(), Refusal::Revoked);
        assert_eq!(Refusal::Revoked.error().status, 403);
        assert_eq!(Refusal::Required.error().status, 402);
    }
}
