//! Sessions (OWASP ASVS 5, V7).
//!
//! A session token is 256 bits from the CSPRNG; only its SHA-256 is stored. Each login makes a
//! new token; sessions end after an idle period and after an absolute lifetime, and logout
//! revokes server side. Browsers carry the token in a `__Host-` cookie (HttpOnly, Secure,
//! SameSite=Lax); other clients send it as `Authorization: Bearer`.

use serde::{Deserialize, Serialize};
use worker::D1PreparedStatement;

use super::{Principal, SESSION_TOKEN_PREFIX};
use crate::args;
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::util;

/// Name of the session cookie; `__Host-` pins it to our host, path `/`, and Secure.
pub const COOKIE_NAME: &str = "__Host-cos_session";

/// Default idle timeout: a session unused this long ends.
const DEFAULT_IDLE_SECONDS: f64 = 12.0 * 3600.0;
/// Default absolute lifetime, however active the session.
const DEFAULT_ABSOLUTE_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// Last-seen updates (which push the idle expiry back) are written at most this often, and at
/// least four times per idle period, so that a session in use never idles out.
const TOUCH_INTERVAL_MS: i64 = 60_000;

/// A newly issued session, returned once.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct IssuedSession {
    /// The bearer token (also set as the cookie). Shown once, never stored.
    pub token: String,
    /// When the session ends at the latest (idle expiry is earlier if unused).
    pub expires_at: String,
}

fn timeouts(ctx: &Ctx) -> (i64, i64) {
    let idle = ctx.var_f64("SESSION_IDLE_TIMEOUT_SECONDS", DEFAULT_IDLE_SECONDS);
    let absolute = ctx.var_f64("SESSION_ABSOLUTE_TIMEOUT_SECONDS", DEFAULT_ABSOLUTE_SECONDS);
    ((idle * 1000.0) as i64, (absolute * 1000.0) as i64)
}

/// Prepares a new session for `user_id`: the insert statement, and what to give the client.
/// The caller runs the statement in its batch, then calls [`set_cookie`].
pub fn issue(
    ctx: &Ctx,
    db: &Db,
    user_id: &str,
    auth_method: &str,
) -> AppResult<(String, IssuedSession, D1PreparedStatement)> {
    let token = format!("{SESSION_TOKEN_PREFIX}{}", util::new_secret());
    let session_id = util::new_id("ses", ctx.now);
    let (idle, absolute) = timeouts(ctx);
    let absolute_expires = ctx.now + absolute;
    let statement = db.stmt(
        "INSERT INTO sessions (id, user_id, token_hash, created_at, last_seen_at, idle_expires_at, absolute_expires_at, ip, user_agent, auth_method)
         VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![
            session_id.as_str(),
            user_id,
            util::sha256_hex(token.as_bytes()),
            ctx.now,
            ctx.now + idle,
            absolute_expires,
            ctx.ip.clone(),
            ctx.header("user-agent").map(|ua| ua.chars().take(256).collect::<String>()),
            auth_method,
        ],
    )?;
    Ok((
        session_id,
        IssuedSession {
            token,
            expires_at: util::rfc3339(absolute_expires),
        },
        statement,
    ))
}

/// Attaches the session cookie to the response.
pub fn set_cookie(ctx: &mut Ctx, session: &IssuedSession) {
    let (_, absolute) = timeouts(ctx);
    ctx.set_cookies.push(format!(
        "{COOKIE_NAME}={}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
        session.token,
        absolute / 1000
    ));
}

/// Clears the session cookie.
pub fn clear_cookie(ctx: &mut Ctx) {
    ctx.set_cookies.push(format!(
        "{COOKIE_NAME}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Lax"
    ));
}

/// The session token from the cookie header, if any.
pub fn cookie_token(ctx: &Ctx) -> Option<String> {
    let header = ctx.header("cookie")?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE_NAME && !value.is_empty()).then(|| value.to_string())
    })
}

#[derive(Deserialize)]
struct SessionRow {
    id: String,
    user_id: String,
    last_seen_at: i64,
    idle_expires_at: i64,
    absolute_expires_at: i64,
    revoked_at: Option<i64>,
}

/// Resolves a session token to its principal, or 401.
pub async fn validate(ctx: &Ctx, token: &str, via_cookie: bool) -> AppResult<Principal> {
    if !token.starts_with(SESSION_TOKEN_PREFIX) {
        // (The pipeline adds the invalid_token challenge to every such 401.)
        return Err(AppError::unauthenticated("the session token is not valid"));
    }
    let db = ctx.db()?;
    let row: Option<SessionRow> = db
        .first(
            "SELECT id, user_id, last_seen_at, idle_expires_at, absolute_expires_at, revoked_at
             FROM sessions WHERE token_hash = ?1",
            args![util::sha256_hex(token.as_bytes())],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::unauthenticated("the session is not valid"))?;
    if row.revoked_at.is_some() {
        return Err(AppError::new(
            401,
            "session_revoked",
            "the session has ended; sign in again",
        ));
    }
    if ctx.now >= row.idle_expires_at || ctx.now >= row.absolute_expires_at {
        return Err(AppError::new(
            401,
            "session_expired",
            "the session has expired; sign in again",
        ));
    }
    let (idle, _) = timeouts(ctx);
    if ctx.now - row.last_seen_at >= TOUCH_INTERVAL_MS.min(idle / 4) {
        db.run(
            "UPDATE sessions SET last_seen_at = ?1, idle_expires_at = ?2 WHERE id = ?3",
            args![ctx.now, ctx.now + idle, row.id.as_str()],
        )
        .await?;
    }
    Ok(Principal::User {
        user_id: row.user_id,
        session_id: row.id,
        via_cookie,
    })
}
