//! Marketplace (module 11): listings, discovery, ratings and reviews, licences and their
//! enforcement where purchased things are used.
//!
//! # Data model
//! - The catalog (`products`, `prices`), `orders` and `licences` are shared with Commerce
//!   (`d1-migrations/0009_commerce_catalog.sql`); Commerce sells and grants licences, the
//!   marketplace shows products and checks licences. Nothing here depends on how a licence came
//!   to exist.
//! - A [`listings`] row is a product's shop window, owned by the seller org. Its lifecycle:
//!   `draft` → `in_review` (submit) → `published` | `rejected` (with a reason); `published` ⇄
//!   `unlisted`. Editing a listing that is `published` or `unlisted` sends it back to
//!   `in_review`: what the public sees has always been approved by a reviewer. Drafts and
//!   rejected listings are edited freely and then (re)submitted.
//! - Reviewers and moderators are platform admins ([`require_platform_admin`]).
//! - [`reviews`]: one per verified buyer per product, rating aggregate on the listing kept in
//!   the same D1 batch as every review change.
//! - [`licences`]: the one check [`licences::require`] used wherever a purchased thing is used
//!   ([`usage`]: "use template", applying an effect preset), the holder's list and the key
//!   verification endpoint.
//!
//! Every mutation goes through [`crate::audit::commit`]: an audit record and an analytics event
//! (`listing.create`, `listing.submit`, `listing.publish`, `review.create`, `template.use`, …)
//! in the same batch as the change.

pub mod licences;
pub mod listings;
pub mod reviews;
pub mod usage;

use serde::Deserialize;

use crate::args;
use crate::http::{AppError, AppResult, Ctx};
use crate::identity::{authenticate, Principal};

/// Whether the request's principal is a platform admin: a person (never an API key) with a row
/// in `platform_admins`, or whose email is listed in the `PLATFORM_ADMIN_EMAILS` variable.
pub async fn is_platform_admin(ctx: &mut Ctx) -> AppResult<bool> {
    let principal = authenticate(ctx).await?;
    let Principal::User { user_id, .. } = &principal else {
        return Ok(false);
    };
    #[derive(Deserialize)]
    struct AdminRow {
        email: String,
        admin: i64,
    }
    let row: Option<AdminRow> = ctx
        .db()?
        .first(
            "SELECT u.email, EXISTS (SELECT 1 FROM platform_admins a WHERE a.user_id = u.id) AS admin
             FROM users u WHERE u.id = ?1",
            args![user_id.as_str()],
        )
        .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    if row.admin == 1 {
        return Ok(true);
    }
    let listed = ctx.var("PLATFORM_ADMIN_EMAILS").unwrap_or_default();
    Ok(listed
        .split(',')
        .map(str::trim)
        .any(|email| !email.is_empty() && email.eq_ignore_ascii_case(&row.email)))
}

/// 403 `platform_admin_required` unless the principal is a platform admin.
pub async fn require_platform_admin(ctx: &mut Ctx) -> AppResult<()> {
    if is_platform_admin(ctx).await? {
        Ok(())
    } else {
        Err(AppError::new(
            403,
            "platform_admin_required",
            "only platform admins review listings and moderate reviews",
        ))
    }
}

/// Trims a free text and checks its length in characters (`min..=max`); no control characters
/// other than line breaks.
pub fn clean_text(raw: &str, what: &str, min: usize, max: usize) -> AppResult<String> {
    let text = raw.trim().to_string();
    let length = text.chars().count();
    if length < min
        || length > max
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(AppError::invalid(
            "invalid_text",
            format!("the {what} must have {min} to {max} characters"),
        ));
    }
    Ok(text)
}

/// A category or tag slug: 1 to 40 of `a-z`, `0-9` and `-`, lower-cased.
pub fn clean_slug(raw: &str, what: &str) -> AppResult<String> {
    let slug = raw.trim().to_ascii_lowercase();
    if slug.is_empty()
        || slug.len() > 40
        || !slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(AppError::invalid(
            "invalid_slug",
            format!("the {what} must have 1 to 40 characters of a-z, 0-9 and -"),
        ));
    }
    Ok(slug)
}

/// Tags: at most 10 distinct slugs, in the order given.
pub fn clean_tags(raw: &[String]) -> AppResult<Vec<String>> {
    if raw.len() > 10 {
        return Err(AppError::invalid("invalid_tags", "at most 10 tags"));
    }
    let mut tags: Vec<String> = Vec::with_capacity(raw.len());
    for tag in raw {
        let tag = clean_slug(tag, "tag")?;
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    Ok(tags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_tags_are_normalised_or_refused() {
        assert_eq!(
            clean_slug(" Motion-Graphics ", "category").unwrap(),
            "motion-graphics"
        );
        for bad in ["", "with space", "ünï", "a_b", &"x".repeat(41)] {
            assert_eq!(clean_slug(bad, "tag").unwrap_err().status, 422, "{bad}");
        }
        let tags = clean_tags(&["Intro".into(), "intro".into(), "titles".into()]).unwrap();
        assert_eq!(tags, vec!["intro", "titles"]);
        let many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        assert_eq!(clean_tags(&many).unwrap_err().code, "invalid_tags");
    }

    #[test]
    fn texts_keep_line_breaks_and_refuse_other_controls() {
        assert_eq!(clean_text(" a\nb ", "body", 1, 10).unwrap(), "a\nb");
        assert!(clean_text("a\u{0}b", "body", 1, 10).is_err());
        assert!(clean_text("   ", "title", 1, 10).is_err());
        assert!(clean_text("abcdefghijk", "title", 1, 10).is_err());
        assert_eq!(clean_text("", "body", 0, 10).unwrap(), "");
    }
}
