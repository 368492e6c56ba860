//! Identity & Accounts (module 01): who is calling, and may they?
//!
//! - [`authenticate`] turns a session cookie or a bearer token into a [`Principal`].
//! - [`authorize`] is the one permission check every route uses: principal + org + permission
//!   → the principal's role, 404 when the org is not theirs, 403 when the role is too low.

pub mod api;
pub mod oidc;
pub mod password;
pub mod sessions;
pub mod throttle;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::args;
use crate::http::{AppError, AppResult, Ctx};
use crate::util;

/// A role inside an organisation, from most to least powerful.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read everything.
    Viewer,
    /// Create and edit projects and assets.
    Editor,
    /// Manage members, invitations, API keys; read the audit trail.
    Admin,
    /// Everything, including granting ownership.
    Owner,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    /// Parses a stored name.
    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Whether this role grants `permission`.
    pub fn allows(self, permission: Permission) -> bool {
        self >= permission.minimum_role()
    }
}

/// What a route needs to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// See the organisation, its members and its content.
    Read,
    /// Create and change content (projects, assets, comments).
    Write,
    /// Rename the organisation; manage members, invitations and API keys.
    Manage,
    /// Read the audit trail.
    ReadAudit,
    /// Grant or take away ownership.
    Own,
}

impl Permission {
    fn minimum_role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::Write => Role::Editor,
            Permission::Manage | Permission::ReadAudit => Role::Admin,
            Permission::Own => Role::Owner,
        }
    }
}

/// Who is making a request.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A person, through a session.
    User {
        /// `usr_…`
        user_id: String,
        /// `ses_…`
        session_id: String,
        /// Whether the session came in a cookie (CSRF rules apply) rather than a bearer header.
        via_cookie: bool,
    },
    /// An integration or agent, through an API key bound to one org with one role.
    ApiKey {
        /// `key_…`
        key_id: String,
        /// The only org it can see.
        org_id: String,
        /// Its role there.
        role: Role,
    },
    /// An AI agent, through one of its agent tokens (never a user): bound to one org, with the
    /// capabilities, access policy and budgets of its profile.
    Agent {
        /// `agt_…`
        agent_id: String,
        /// The only org it can see.
        org_id: String,
        /// Editor when its policy allows writing, else viewer.
        role: Role,
        /// What it may do.
        policy: Box<crate::agents::AgentPolicy>,
        /// The run it acts for, when a run's step executes (gated tools are approved there).
        run_id: Option<String>,
    },
}

impl Principal {
    /// `user` or `api_key`, as recorded in the audit trail.
    pub fn actor_type(&self) -> &'static str {
        match self {
            Principal::User { .. } => "user",
            Principal::ApiKey { .. } => "api_key",
            Principal::Agent { .. } => "agent",
        }
    }

    /// The actor's id.
    pub fn actor_id(&self) -> &str {
        match self {
            Principal::User { user_id, .. } => user_id,
            Principal::ApiKey { key_id, .. } => key_id,
            Principal::Agent { agent_id, .. } => agent_id,
        }
    }

    /// The user id, for routes only people may use.
    pub fn user_id(&self) -> AppResult<&str> {
        match self {
            Principal::User { user_id, .. } => Ok(user_id),
            Principal::ApiKey { .. } | Principal::Agent { .. } => Err(AppError::forbidden(
                "this route is for people signed in with a session, not API keys or agents",
            )),
        }
    }
}

/// Session token prefix (bearer form).
pub const SESSION_TOKEN_PREFIX: &str = "cos_sess_";
/// API key prefix.
pub const API_KEY_PREFIX: &str = "cos_key_";

/// Resolves the request's principal, or 401. Cookie-authenticated mutations must come from
/// our own origin (CSRF).
pub async fn authenticate(ctx: &mut Ctx) -> AppResult<Principal> {
    if let Some(principal) = &ctx.principal {
        return Ok(principal.clone());
    }
    let bearer = ctx.header("authorization").and_then(|value| {
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    });
    let principal = if let Some(token) = bearer {
        if token.starts_with(API_KEY_PREFIX) {
            api_key_principal(ctx, &token).await?
        } else if token.starts_with(crate::agents::AGENT_TOKEN_PREFIX) {
            crate::agents::token_principal(ctx, &token).await?
        } else {
            sessions::validate(ctx, &token, false).await?
        }
    } else if let Some(token) = sessions::cookie_token(ctx) {
        check_same_origin(ctx)?;
        sessions::validate(ctx, &token, true).await?
    } else {
        return Err(unauthenticated(
            ctx,
            "sign in, or send an API key as a bearer token",
        ));
    };
    ctx.principal = Some(principal.clone());
    Ok(principal)
}

/// 401 with the challenge that tells clients how to authenticate.
pub fn unauthenticated(ctx: &Ctx, message: &str) -> AppError {
    let mut error = AppError::unauthenticated(message);
    error.www_authenticate = Some(challenge(&ctx.url, false));
    error
}

/// The `WWW-Authenticate` challenge every 401 carries (RFC 9110 §11.6.1); `invalid_token` when
/// credentials were presented but are no longer (or never were) good (RFC 6750 §3.1).
pub fn challenge(url: &url::Url, invalid_token: bool) -> String {
    let origin = url.origin().ascii_serialization();
    let error = if invalid_token {
        ", error=\"invalid_token\""
    } else {
        ""
    };
    format!(
        "Bearer realm=\"creator-os\"{error}, resource_metadata=\"{origin}/.well-known/oauth-protected-resource\""
    )
}

fn is_safe_method(ctx: &Ctx) -> bool {
    matches!(
        ctx.method,
        worker::Method::Get | worker::Method::Head | worker::Method::Options
    )
}

/// CSRF defence for cookie-authenticated requests: the `Origin` of a state-changing request
/// must be our own (or one listed in `ALLOWED_ORIGINS`).
pub fn check_same_origin(ctx: &Ctx) -> AppResult<()> {
    if is_safe_method(ctx) {
        return Ok(());
    }
    check_origin(ctx)
}

/// The request's `Origin` must be ours (or listed in `ALLOWED_ORIGINS`), whatever the method:
/// used for WebSocket upgrades, which are GETs a cross-site page could otherwise make with the
/// visitor's cookie.
pub fn check_origin(ctx: &Ctx) -> AppResult<()> {
    let own = ctx.url.origin().ascii_serialization();
    let allowed = ctx.var("ALLOWED_ORIGINS").unwrap_or_default();
    match ctx.header("origin") {
        Some(origin)
            if origin == own
                || allowed
                    .split(',')
                    .map(str::trim)
                    .any(|o| !o.is_empty() && o == origin) =>
        {
            Ok(())
        }
        Some(_) => Err(AppError::new(
            403,
            "csrf_origin_mismatch",
            "cross-site request refused",
        )),
        None => Err(AppError::new(
            403,
            "csrf_origin_missing",
            "requests authenticated by cookie must send an Origin header",
        )),
    }
}

#[derive(Deserialize)]
struct ApiKeyRow {
    id: String,
    org_id: String,
    role: String,
    key_hash: String,
    revoked_at: Option<i64>,
    last_used_at: Option<i64>,
}

async fn api_key_principal(ctx: &mut Ctx, token: &str) -> AppResult<Principal> {
    let invalid = || AppError::new(401, "invalid_api_key", "the API key is not valid");
    let rest = token.strip_prefix(API_KEY_PREFIX).ok_or_else(invalid)?;
    let (prefix_part, _) = rest.split_once('_').ok_or_else(invalid)?;
    let prefix = format!("{API_KEY_PREFIX}{prefix_part}");
    let db = ctx.db()?;
    let row: Option<ApiKeyRow> = db
        .first(
            "SELECT id, org_id, role, key_hash, revoked_at, last_used_at FROM api_keys WHERE prefix = ?1",
            args![prefix],
        )
        .await?;
    let row = row.ok_or_else(invalid)?;
    let presented = util::sha256_hex(token.as_bytes());
    if !util::constant_time_eq(presented.as_bytes(), row.key_hash.as_bytes()) {
        return Err(invalid());
    }
    if row.revoked_at.is_some() {
        return Err(AppError::new(
            401,
            "api_key_revoked",
            "the API key was revoked",
        ));
    }
    let role = Role::parse(&row.role).ok_or_else(|| AppError::internal("stored role"))?;
    // Keep "last used" fresh without a write on every call.
    if row.last_used_at.is_none_or(|at| ctx.now - at > 60_000) {
        db.run(
            "UPDATE api_keys SET last_used_at = ?1 WHERE id = ?2",
            args![ctx.now, row.id.as_str()],
        )
        .await?;
    }
    Ok(Principal::ApiKey {
        key_id: row.id,
        org_id: row.org_id,
        role,
    })
}

/// The one permission check: the principal's role in `org_id`, if it grants `permission`.
/// Organisations the principal does not belong to answer 404, exactly like absent ones.
pub async fn authorize(ctx: &mut Ctx, org_id: &str, permission: Permission) -> AppResult<Role> {
    let principal = authenticate(ctx).await?;
    let role = match &principal {
        Principal::User { user_id, .. } => {
            #[derive(Deserialize)]
            struct RoleRow {
                role: String,
            }
            let row: Option<RoleRow> = ctx
                .db()?
                .first(
                    "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
                    args![org_id, user_id.as_str()],
                )
                .await?;
            row.and_then(|r| Role::parse(&r.role))
        }
        Principal::ApiKey {
            org_id: key_org,
            role,
            ..
        } => (key_org == org_id).then_some(*role),
        // An agent sees only the projects its policy names: others are as absent as another
        // org's.
        Principal::Agent {
            org_id: agent_org,
            role,
            policy,
            ..
        } => {
            (agent_org == org_id && policy.allows_project(ctx.param("project_id"))).then_some(*role)
        }
    };
    let role = role.ok_or_else(|| AppError::not_found("organisation"))?;
    if !role.allows(permission) {
        return Err(AppError::forbidden(format!(
            "your role ({}) does not allow this",
            role.as_str()
        )));
    }
    Ok(role)
}
