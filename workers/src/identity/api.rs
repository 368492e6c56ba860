//! HTTP handlers of Identity & Accounts. Each parses and authorises, does its work through the
//! shared helpers, and maps the outcome to a response.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use worker::{Request, Response};

use super::sessions::{self, IssuedSession};
use super::{
    authenticate, authorize, password, throttle, Permission, Principal, Role, API_KEY_PREFIX,
};
use crate::args;
use crate::audit::{self, Outcome, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::util;

// ---------------------------------------------------------------- wire types

/// A user as others see them.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct UserView {
    /// `usr_…`
    pub id: String,
    /// Lower-cased email address.
    pub email: String,
    /// Display name.
    pub name: String,
}

/// An organisation (team).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct OrgView {
    /// `org_…`
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Answer of signup and login.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuthResponse {
    /// The signed-in user.
    pub user: UserView,
    /// The user's first organisation (the personal one made at signup), if any.
    pub org: Option<OrgView>,
    /// The new session.
    pub session: IssuedSession,
}

/// `POST /v1/auth/signup`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupBody {
    /// Email address (case-insensitive).
    pub email: String,
    /// 8–128 characters, not a common password.
    pub password: String,
    /// Display name, 1–100 characters.
    pub name: String,
}

/// `POST /v1/auth/login`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Email address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// `POST /v1/auth/password`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordBody {
    /// The password in use now.
    pub current_password: String,
    /// The new password (same policy as signup).
    pub new_password: String,
}

/// One of the caller's memberships.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MembershipView {
    /// The organisation.
    pub org: OrgView,
    /// The caller's role in it.
    pub role: Role,
}

/// `GET /v1/me`
#[derive(Debug, Serialize, JsonSchema)]
pub struct MeResponse {
    /// The signed-in user.
    pub user: UserView,
    /// Every organisation the user belongs to.
    pub memberships: Vec<MembershipView>,
}

/// A session of the caller's, as listed.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct SessionView {
    /// `ses_…`
    pub id: String,
    /// When it started.
    pub created_at: String,
    /// Last activity (to the minute).
    pub last_seen_at: String,
    /// Client address at sign-in.
    pub ip: Option<String>,
    /// Client software at sign-in.
    pub user_agent: Option<String>,
    /// `password` or `oidc:<provider>`.
    pub auth_method: String,
    /// Whether this is the session making the request.
    pub current: bool,
}

/// A list of sessions.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SessionList {
    /// Active sessions, newest first.
    pub items: Vec<SessionView>,
}

/// `POST /v1/orgs`, `PATCH /v1/orgs/{org_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgBody {
    /// Display name, 1–100 characters.
    pub name: String,
}

/// One organisation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgResponse {
    /// The organisation.
    pub org: OrgView,
    /// The caller's role in it.
    pub role: Role,
}

/// Organisations of the caller.
#[derive(Debug, Serialize, JsonSchema)]
pub struct OrgList {
    /// Each with the caller's role.
    pub items: Vec<MembershipView>,
}

/// A member of an organisation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemberView {
    /// The person.
    pub user: UserView,
    /// Their role.
    pub role: Role,
    /// When they joined.
    pub joined_at: String,
}

/// Members of an organisation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MemberList {
    /// Oldest member first.
    pub items: Vec<MemberView>,
}

/// `PATCH /v1/orgs/{org_id}/members/{user_id}`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    /// The new role.
    pub role: Role,
}

/// A membership after a change.
#[derive(Debug, Serialize, JsonSchema)]
pub struct MembershipResponse {
    /// The membership.
    pub membership: MembershipView,
}

/// `POST /v1/orgs/{org_id}/invitations`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationBody {
    /// Who is invited; only a user with this email can accept.
    pub email: String,
    /// The role they get.
    pub role: Role,
}

/// An invitation as created (the token is shown once).
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvitationCreated {
    /// `inv_…`
    pub id: String,
    /// Single-use secret for the accept link.
    pub token: String,
    /// Invitee email.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// After this the token no longer works.
    pub expires_at: String,
}

/// Answer of invitation creation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvitationResponse {
    /// The new invitation.
    pub invitation: InvitationCreated,
}

/// A pending invitation, as listed.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct InvitationView {
    /// `inv_…`
    pub id: String,
    /// Invitee email.
    pub email: String,
    /// Role granted on acceptance.
    pub role: Role,
    /// When it was made.
    pub created_at: String,
    /// When it lapses.
    pub expires_at: String,
}

/// Pending invitations.
#[derive(Debug, Serialize, JsonSchema)]
pub struct InvitationList {
    /// Newest first.
    pub items: Vec<InvitationView>,
}

/// `POST /v1/orgs/{org_id}/api-keys`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    /// What the key is for, 1–100 characters.
    pub name: String,
    /// Its role in the org: admin, editor or viewer (never owner).
    pub role: Role,
}

/// An API key as created: the only time the secret is shown.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyCreated {
    /// `key_…`
    pub id: String,
    /// Visible, non-secret prefix that identifies the key in lists and logs.
    pub prefix: String,
    /// The whole key. Store it now: it cannot be shown again.
    pub key: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: String,
}

/// Answer of API key creation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyResponse {
    /// The new key.
    pub api_key: ApiKeyCreated,
}

/// An API key as listed (no secret).
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyView {
    /// `key_…`
    pub id: String,
    /// Visible prefix.
    pub prefix: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Creation time.
    pub created_at: String,
    /// Last authenticated use (to the minute), if ever.
    pub last_used_at: Option<String>,
    /// Revocation time, if revoked.
    pub revoked_at: Option<String>,
}

/// API keys of an org.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ApiKeyList {
    /// Newest first.
    pub items: Vec<ApiKeyView>,
}

/// The actor of an audit record.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ActorView {
    /// `user`, `api_key`, `agent`, `system` or `anonymous`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The actor's id, if known.
    pub id: Option<String>,
}

/// The target of an audit record.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TargetView {
    /// Kind of object.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its id.
    pub id: String,
}

/// One audit record.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditItem {
    /// `aud_…`
    pub id: String,
    /// When.
    pub at: String,
    /// Who.
    pub actor: ActorView,
    /// What, e.g. `org.rename`.
    pub action: String,
    /// On what.
    pub target: Option<TargetView>,
    /// `success`, `failure` or `denied`.
    pub result: String,
    /// The request that did it.
    pub request_id: String,
    /// Client address.
    pub ip: Option<String>,
    /// Extra detail.
    pub details: Option<serde_json::Value>,
}

/// A page of the audit trail.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditItem>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------- validation

const MAX_NAME: usize = 100;

/// Normalises and checks an email address.
pub fn normalize_email(raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let invalid = || AppError::invalid("invalid_email", "enter a valid email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(invalid());
    }
    Ok(email)
}

/// Trims and checks a display name.
pub fn clean_name(raw: &str, what: &str) -> AppResult<String> {
    let name = raw.trim().to_string();
    let length = name.chars().count();
    if length == 0 || length > MAX_NAME || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "invalid_name",
            format!("the {what} must have 1 to {MAX_NAME} characters"),
        ));
    }
    Ok(name)
}

// ---------------------------------------------------------------- rows

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email: String,
    name: String,
    password_hash: Option<String>,
}

impl UserRow {
    fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            name: self.name.clone(),
        }
    }
}

#[derive(Deserialize)]
struct MembershipRow {
    org_id: String,
    org_name: String,
    role: String,
}

impl MembershipRow {
    fn view(self) -> Option<MembershipView> {
        Some(MembershipView {
            role: Role::parse(&self.role)?,
            org: OrgView {
                id: self.org_id,
                name: self.org_name,
            },
        })
    }
}

async fn load_user(db: &Db, user_id: &str) -> AppResult<UserRow> {
    db.first(
        "SELECT id, email, name, password_hash FROM users WHERE id = ?1",
        args![user_id],
    )
    .await?
    .ok_or_else(|| AppError::not_found("user"))
}

async fn memberships_of(db: &Db, user_id: &str) -> AppResult<Vec<MembershipView>> {
    let rows: Vec<MembershipRow> = db
        .all(
            "SELECT m.org_id AS org_id, o.name AS org_name, m.role AS role
             FROM memberships m JOIN orgs o ON o.id = m.org_id
             WHERE m.user_id = ?1 ORDER BY m.created_at, m.org_id",
            args![user_id],
        )
        .await?;
    Ok(rows.into_iter().filter_map(MembershipRow::view).collect())
}

async fn org_view(db: &Db, org_id: &str) -> AppResult<OrgView> {
    db.first("SELECT id, name FROM orgs WHERE id = ?1", args![org_id])
        .await?
        .ok_or_else(|| AppError::not_found("organisation"))
}

// ---------------------------------------------------------------- auth

/// Creates the user, a personal organisation they own, and a session; in one batch.
pub async fn create_account(
    ctx: &mut Ctx,
    email: &str,
    name: &str,
    password_hash: Option<String>,
    email_verified: bool,
    auth_method: &str,
    extra: Vec<worker::D1PreparedStatement>,
) -> AppResult<AuthResponse> {
    let db = ctx.db()?;
    let user_id = util::new_id("usr", ctx.now);
    let org_id = util::new_id("org", ctx.now);
    let org_name = format!("{name}'s workspace")
        .chars()
        .take(MAX_NAME)
        .collect::<String>();
    let mut statements = vec![
        db.stmt(
            "INSERT INTO users (id, email, name, password_hash, email_verified, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            args![user_id.as_str(), email, name, password_hash, email_verified as i64, ctx.now],
        )?,
        db.stmt(
            "INSERT INTO orgs (id, name, created_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            args![org_id.as_str(), org_name.as_str(), user_id.as_str(), ctx.now],
        )?,
        db.stmt(
            "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at) VALUES (?1, ?2, 'owner', ?3, ?3)",
            args![org_id.as_str(), user_id.as_str(), ctx.now],
        )?,
    ];
    statements.extend(extra);
    let (_, session, session_statement) = sessions::issue(ctx, &db, &user_id, auth_method)?;
    statements.push(session_statement);
    let record = Record::success(Some(&org_id), "auth.signup", Some(("user", &user_id)))
        .with_details(serde_json::json!({ "method": auth_method }));
    audit::commit(ctx, &db, statements, record, Some(("user", &user_id)))
        .await
        .map_err(|error| {
            // The unique index on email is the arbiter when two signups race.
            if error
                .internal
                .as_deref()
                .is_some_and(|d| d.contains("UNIQUE"))
            {
                AppError::conflict("email_taken", "an account with this email already exists")
            } else {
                error
            }
        })?;
    sessions::set_cookie(ctx, &session);
    Ok(AuthResponse {
        user: UserView {
            id: user_id,
            email: email.to_string(),
            name: name.to_string(),
        },
        org: Some(OrgView {
            id: org_id,
            name: org_name,
        }),
        session,
    })
}

/// `POST /v1/auth/signup`
pub async fn signup(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let body: SignupBody = ctx.json(&mut req).await?;
    let email = normalize_email(&body.email)?;
    let name = clean_name(&body.name, "name")?;
    password::check_policy(&body.password, &email)?;
    let db = ctx.db()?;
    let existing: Option<serde_json::Value> = db
        .first(
            "SELECT id FROM users WHERE email = ?1",
            args![email.as_str()],
        )
        .await?;
    if existing.is_some() {
        return Err(AppError::conflict(
            "email_taken",
            "an account with this email already exists",
        ));
    }
    let hash = password::hash(&body.password)?;
    let answer = create_account(
        ctx,
        &email,
        &name,
        Some(hash),
        false,
        "password",
        Vec::new(),
    )
    .await?;
    http::json(201, &answer)
}

/// Issues a session for an existing user and records the login.
pub async fn sign_in(ctx: &mut Ctx, user_id: &str, auth_method: &str) -> AppResult<AuthResponse> {
    let db = ctx.db()?;
    let user = load_user(&db, user_id).await?;
    let (_, session, statement) = sessions::issue(ctx, &db, user_id, auth_method)?;
    let record = Record::success(None, "auth.login", Some(("user", user_id)))
        .with_details(serde_json::json!({ "method": auth_method }));
    audit::commit(ctx, &db, vec![statement], record, Some(("user", user_id))).await?;
    sessions::set_cookie(ctx, &session);
    let org = memberships_of(&db, user_id)
        .await?
        .into_iter()
        .next()
        .map(|m| m.org);
    Ok(AuthResponse {
        user: user.view(),
        org,
        session,
    })
}

/// `POST /v1/auth/login`
pub async fn login(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let body: LoginBody = ctx.json(&mut req).await?;
    let email = body.email.trim().to_lowercase();
    throttle::login_attempt(ctx, &email).await?;
    let db = ctx.db()?;
    let user: Option<UserRow> = db
        .first(
            "SELECT id, email, name, password_hash FROM users WHERE email = ?1",
            args![email.as_str()],
        )
        .await?;
    // Unknown accounts cost a full hash too, so timing does not reveal which emails exist.
    let stored = user
        .as_ref()
        .and_then(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_string());
    let matches = password::verify(&body.password, &stored);
    match user {
        Some(user) if matches && user.password_hash.is_some() => {
            let answer = sign_in(ctx, &user.id, "password").await?;
            http::json(200, &answer)
        }
        other => {
            let target = other.as_ref().map(|u| ("user", u.id.as_str()));
            let record = Record {
                org_id: None,
                action: "auth.login",
                target,
                outcome: Outcome::Failure,
                details: serde_json::json!({ "reason": "invalid_credentials" }),
            };
            audit::record_attempt(ctx, &db, record, None).await?;
            Err(AppError::new(
                401,
                "invalid_credentials",
                "the email or password is wrong",
            ))
        }
    }
}

fn session_of(principal: &Principal) -> AppResult<(&str, &str)> {
    match principal {
        Principal::User {
            user_id,
            session_id,
            ..
        } => Ok((user_id, session_id)),
        Principal::ApiKey { .. } | Principal::Agent { .. } => Err(AppError::forbidden(
            "this route is for people signed in with a session, not API keys or agents",
        )),
    }
}

/// `POST /v1/auth/logout`: ends the current session.
pub async fn logout(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let (user_id, session_id) = session_of(&principal)?;
    let db = ctx.db()?;
    let revoke = db.stmt(
        "UPDATE sessions SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
        args![ctx.now, session_id],
    )?;
    let record = Record::success(None, "auth.logout", Some(("session", session_id)));
    audit::commit(ctx, &db, vec![revoke], record, Some(("user", user_id))).await?;
    crate::projects::revalidate_user_rooms(ctx, user_id).await?;
    sessions::clear_cookie(ctx);
    http::no_content()
}

/// `POST /v1/auth/logout-all`: ends every session of the user, this one included.
pub async fn logout_all(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let (user_id, _) = session_of(&principal)?;
    let db = ctx.db()?;
    let revoke = db.stmt(
        "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
        args![ctx.now, user_id],
    )?;
    let record = Record::success(None, "auth.logout_all", Some(("user", user_id)));
    audit::commit(ctx, &db, vec![revoke], record, Some(("user", user_id))).await?;
    crate::projects::revalidate_user_rooms(ctx, user_id).await?;
    sessions::clear_cookie(ctx);
    http::no_content()
}

/// `POST /v1/auth/password`: changes the password and ends every other session.
pub async fn change_password(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let (user_id, session_id) = session_of(&principal)?;
    let body: ChangePasswordBody = ctx.json(&mut req).await?;
    let db = ctx.db()?;
    let user = load_user(&db, user_id).await?;
    throttle::login_attempt(ctx, &user.email).await?;
    let current_ok = user
        .password_hash
        .as_deref()
        .is_some_and(|stored| password::verify(&body.current_password, stored));
    if !current_ok {
        let record = Record {
            org_id: None,
            action: "auth.password_change",
            target: Some(("user", user_id)),
            outcome: Outcome::Failure,
            details: serde_json::json!({ "reason": "invalid_credentials" }),
        };
        audit::record_attempt(ctx, &db, record, None).await?;
        return Err(AppError::new(
            401,
            "invalid_credentials",
            "the current password is wrong",
        ));
    }
    password::check_policy(&body.new_password, &user.email)?;
    let hash = password::hash(&body.new_password)?;
    let statements = vec![
        db.stmt(
            "UPDATE users SET password_hash = ?1, updated_at = ?2 WHERE id = ?3",
            args![hash, ctx.now, user_id],
        )?,
        db.stmt(
            "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND id != ?3 AND revoked_at IS NULL",
            args![ctx.now, user_id, session_id],
        )?,
    ];
    let record = Record::success(None, "auth.password_change", Some(("user", user_id)));
    audit::commit(ctx, &db, statements, record, None).await?;
    crate::projects::revalidate_user_rooms(ctx, user_id).await?;
    http::no_content()
}

/// `GET /v1/auth/sessions`
pub async fn list_sessions(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let (user_id, session_id) = session_of(&principal)?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        created_at: i64,
        last_seen_at: i64,
        ip: Option<String>,
        user_agent: Option<String>,
        auth_method: String,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, created_at, last_seen_at, ip, user_agent, auth_method FROM sessions
             WHERE user_id = ?1 AND revoked_at IS NULL AND idle_expires_at > ?2 AND absolute_expires_at > ?2
             ORDER BY id DESC LIMIT 100",
            args![user_id, ctx.now],
        )
        .await?;
    let items = rows
        .into_iter()
        .map(|row| SessionView {
            current: row.id == session_id,
            id: row.id,
            created_at: util::rfc3339(row.created_at),
            last_seen_at: util::rfc3339(row.last_seen_at),
            ip: row.ip,
            user_agent: row.user_agent,
            auth_method: row.auth_method,
        })
        .collect();
    http::json(200, &SessionList { items })
}

/// `GET /v1/me`
pub async fn me(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let db = ctx.db()?;
    let user = load_user(&db, &user_id).await?;
    let memberships = memberships_of(&db, &user_id).await?;
    http::json(
        200,
        &MeResponse {
            user: user.view(),
            memberships,
        },
    )
}

// ---------------------------------------------------------------- orgs

/// `POST /v1/orgs`
pub async fn create_org(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let body: OrgBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "organisation name")?;
    let db = ctx.db()?;
    let org_id = util::new_id("org", ctx.now);
    let statements = vec![
        db.stmt(
            "INSERT INTO orgs (id, name, created_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
            args![org_id.as_str(), name.as_str(), user_id.as_str(), ctx.now],
        )?,
        db.stmt(
            "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at) VALUES (?1, ?2, 'owner', ?3, ?3)",
            args![org_id.as_str(), user_id.as_str(), ctx.now],
        )?,
    ];
    let record = Record::success(Some(&org_id), "org.create", Some(("org", &org_id)));
    audit::commit(ctx, &db, statements, record, None).await?;
    http::json(
        201,
        &OrgResponse {
            org: OrgView { id: org_id, name },
            role: Role::Owner,
        },
    )
}

/// `GET /v1/orgs`
pub async fn list_orgs(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let principal = authenticate(ctx).await?;
    let db = ctx.db()?;
    let items = match &principal {
        Principal::User { user_id, .. } => memberships_of(&db, user_id).await?,
        Principal::ApiKey { org_id, role, .. } | Principal::Agent { org_id, role, .. } => {
            vec![MembershipView {
                org: org_view(&db, org_id).await?,
                role: *role,
            }]
        }
    };
    http::json(200, &OrgList { items })
}

/// `GET /v1/orgs/{org_id}`
pub async fn get_org(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let role = authorize(ctx, &org_id, Permission::Read).await?;
    let org = org_view(&ctx.db()?, &org_id).await?;
    http::json(200, &OrgResponse { org, role })
}

/// `PATCH /v1/orgs/{org_id}`
pub async fn rename_org(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let role = authorize(ctx, &org_id, Permission::Manage).await?;
    let body: OrgBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "organisation name")?;
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE orgs SET name = ?1, updated_at = ?2 WHERE id = ?3",
        args![name.as_str(), ctx.now, org_id.as_str()],
    )?;
    let record = Record::success(Some(&org_id), "org.rename", Some(("org", &org_id)))
        .with_details(serde_json::json!({ "name": name }));
    audit::commit(ctx, &db, vec![update], record, None).await?;
    http::json(
        200,
        &OrgResponse {
            org: OrgView { id: org_id, name },
            role,
        },
    )
}

// ---------------------------------------------------------------- members

/// `GET /v1/orgs/{org_id}/members`
pub async fn list_members(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        email: String,
        name: String,
        role: String,
        created_at: i64,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT u.id AS id, u.email AS email, u.name AS name, m.role AS role, m.created_at AS created_at
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.org_id = ?1 ORDER BY m.created_at, u.id LIMIT 1000",
            args![org_id.as_str()],
        )
        .await?;
    let items = rows
        .into_iter()
        .filter_map(|row| {
            Some(MemberView {
                role: Role::parse(&row.role)?,
                joined_at: util::rfc3339(row.created_at),
                user: UserView {
                    id: row.id,
                    email: row.email,
                    name: row.name,
                },
            })
        })
        .collect();
    http::json(200, &MemberList { items })
}

async fn member_role(db: &Db, org_id: &str, user_id: &str) -> AppResult<Option<Role>> {
    #[derive(Deserialize)]
    struct Row {
        role: String,
    }
    let row: Option<Row> = db
        .first(
            "SELECT role FROM memberships WHERE org_id = ?1 AND user_id = ?2",
            args![org_id, user_id],
        )
        .await?;
    Ok(row.and_then(|r| Role::parse(&r.role)))
}

/// A statement that succeeds only while the org keeps another owner besides `user_id`;
/// inside a batch it makes "never remove the last owner" hold even under races.
fn keep_an_owner(db: &Db, org_id: &str, user_id: &str) -> AppResult<worker::D1PreparedStatement> {
    // SQLite's raise() works only in triggers, so the rule rides on an insert that violates
    // NOT NULL exactly when no other owner would remain, which rolls the whole batch back.
    db.stmt(
        "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at)
         SELECT ?1, NULL, 'owner', 0, 0
         WHERE NOT EXISTS (SELECT 1 FROM memberships WHERE org_id = ?1 AND role = 'owner' AND user_id != ?2)",
        args![org_id, user_id],
    )
}

/// A statement that fails the batch unless the statement before it changed a row. Handlers
/// check state, then change it; two requests racing can both pass the check, and this makes
/// the loser's whole batch (its audit record included) roll back instead of recording a change
/// that did not happen. Like [`keep_an_owner`], it fails through a NOT NULL violation.
fn require_change(db: &Db) -> AppResult<worker::D1PreparedStatement> {
    db.stmt(
        "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at)
         SELECT NULL, NULL, 'viewer', 0, 0 WHERE changes() = 0",
        args![],
    )
}

/// Whether a batch failed on [`require_change`] (or [`keep_an_owner`]).
fn is_not_null_violation(error: &AppError) -> bool {
    error
        .internal
        .as_deref()
        .is_some_and(|d| d.contains("NOT NULL"))
}

/// Maps a batch that lost a race (see [`require_change`]) to `lost`.
fn lost_race(lost: AppError) -> impl FnOnce(AppError) -> AppError {
    move |error| {
        if is_not_null_violation(&error) {
            lost
        } else {
            error
        }
    }
}

fn last_owner_error() -> AppError {
    AppError::conflict(
        "last_owner",
        "an organisation needs at least one owner; make someone else owner first",
    )
}

fn map_last_owner(error: AppError) -> AppError {
    if error
        .internal
        .as_deref()
        .is_some_and(|d| d.contains("NOT NULL"))
    {
        last_owner_error()
    } else {
        error
    }
}

/// `PATCH /v1/orgs/{org_id}/members/{user_id}`
pub async fn change_role(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let member_id = ctx.param("user_id").to_string();
    let caller_role = authorize(ctx, &org_id, Permission::Manage).await?;
    let body: RoleBody = ctx.json(&mut req).await?;
    let db = ctx.db()?;
    let current = member_role(&db, &org_id, &member_id)
        .await?
        .ok_or_else(|| AppError::not_found("member"))?;
    // Ownership is granted and taken only by owners.
    if (current == Role::Owner || body.role == Role::Owner) && !caller_role.allows(Permission::Own)
    {
        return Err(AppError::forbidden(
            "only owners can grant or take away ownership",
        ));
    }
    let mut statements = Vec::new();
    if current == Role::Owner && body.role != Role::Owner {
        statements.push(keep_an_owner(&db, &org_id, &member_id)?);
    }
    statements.push(db.stmt(
        "UPDATE memberships SET role = ?1, updated_at = ?2 WHERE org_id = ?3 AND user_id = ?4",
        args![
            body.role.as_str(),
            ctx.now,
            org_id.as_str(),
            member_id.as_str()
        ],
    )?);
    let record = Record::success(
        Some(&org_id),
        "member.role_change",
        Some(("user", &member_id)),
    )
    .with_details(serde_json::json!({ "from": current.as_str(), "to": body.role.as_str() }));
    audit::commit(ctx, &db, statements, record, None)
        .await
        .map_err(map_last_owner)?;
    crate::projects::revalidate_org_rooms(ctx, &org_id, &member_id).await?;
    let org = org_view(&db, &org_id).await?;
    http::json(
        200,
        &MembershipResponse {
            membership: MembershipView {
                org,
                role: body.role,
            },
        },
    )
}

/// `DELETE /v1/orgs/{org_id}/members/{user_id}`: remove a member, or leave (own id).
pub async fn remove_member(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let member_id = ctx.param("user_id").to_string();
    let principal = authenticate(ctx).await?;
    let leaving = matches!(&principal, Principal::User { user_id, .. } if *user_id == member_id);
    let caller_role = if leaving {
        authorize(ctx, &org_id, Permission::Read).await?
    } else {
        authorize(ctx, &org_id, Permission::Manage).await?
    };
    let db = ctx.db()?;
    let current = member_role(&db, &org_id, &member_id)
        .await?
        .ok_or_else(|| AppError::not_found("member"))?;
    if current == Role::Owner && !leaving && !caller_role.allows(Permission::Own) {
        return Err(AppError::forbidden("only owners can remove an owner"));
    }
    let mut statements = Vec::new();
    if current == Role::Owner {
        statements.push(keep_an_owner(&db, &org_id, &member_id)?);
    }
    statements.push(db.stmt(
        "DELETE FROM memberships WHERE org_id = ?1 AND user_id = ?2",
        args![org_id.as_str(), member_id.as_str()],
    )?);
    let action = if leaving {
        "member.leave"
    } else {
        "member.remove"
    };
    let record = Record::success(Some(&org_id), action, Some(("user", &member_id)));
    audit::commit(ctx, &db, statements, record, None)
        .await
        .map_err(map_last_owner)?;
    crate::projects::revalidate_org_rooms(ctx, &org_id, &member_id).await?;
    http::no_content()
}

// ---------------------------------------------------------------- invitations

/// How long an invitation stays valid.
const DEFAULT_INVITATION_TTL_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// How long a new invitation stays valid: `INVITATION_TTL_SECONDS`, else 7 days.
fn invitation_ttl_ms(ctx: &Ctx) -> i64 {
    (ctx.var_f64("INVITATION_TTL_SECONDS", DEFAULT_INVITATION_TTL_SECONDS) * 1000.0) as i64
}

/// `POST /v1/orgs/{org_id}/invitations`
pub async fn create_invitation(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let caller_role = authorize(ctx, &org_id, Permission::Manage).await?;
    let body: InvitationBody = ctx.json(&mut req).await?;
    let email = normalize_email(&body.email)?;
    if body.role == Role::Owner && !caller_role.allows(Permission::Own) {
        return Err(AppError::forbidden("only owners can invite owners"));
    }
    let db = ctx.db()?;
    let already: Option<serde_json::Value> = db
        .first(
            "SELECT 1 AS one FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = ?1 AND u.email = ?2",
            args![org_id.as_str(), email.as_str()],
        )
        .await?;
    if already.is_some() {
        return Err(AppError::conflict(
            "already_member",
            "this person is already a member",
        ));
    }
    let id = util::new_id("inv", ctx.now);
    let token = format!("cos_inv_{}", util::new_secret());
    let expires_at = ctx.now + invitation_ttl_ms(ctx);
    let principal = authenticate(ctx).await?;
    let insert = db.stmt(
        "INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        args![
            id.as_str(),
            org_id.as_str(),
            email.as_str(),
            body.role.as_str(),
            util::sha256_hex(token.as_bytes()),
            principal.actor_id(),
            ctx.now,
            expires_at,
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "invitation.create",
        Some(("invitation", &id)),
    )
    .with_details(serde_json::json!({ "email": email, "role": body.role.as_str() }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &InvitationResponse {
            invitation: InvitationCreated {
                id,
                token,
                email,
                role: body.role,
                expires_at: util::rfc3339(expires_at),
            },
        },
    )
}

/// `GET /v1/orgs/{org_id}/invitations`: pending ones.
pub async fn list_invitations(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        email: String,
        role: String,
        created_at: i64,
        expires_at: i64,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, email, role, created_at, expires_at FROM invitations
             WHERE org_id = ?1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
             ORDER BY id DESC LIMIT 500",
            args![org_id.as_str(), ctx.now],
        )
        .await?;
    let items = rows
        .into_iter()
        .filter_map(|row| {
            Some(InvitationView {
                role: Role::parse(&row.role)?,
                id: row.id,
                email: row.email,
                created_at: util::rfc3339(row.created_at),
                expires_at: util::rfc3339(row.expires_at),
            })
        })
        .collect();
    http::json(200, &InvitationList { items })
}

/// `DELETE /v1/orgs/{org_id}/invitations/{invitation_id}`
pub async fn revoke_invitation(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let invitation_id = ctx.param("invitation_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let db = ctx.db()?;
    let exists: Option<serde_json::Value> = db
        .first(
            "SELECT id FROM invitations WHERE id = ?1 AND org_id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
            args![invitation_id.as_str(), org_id.as_str()],
        )
        .await?;
    if exists.is_none() {
        return Err(AppError::not_found("invitation"));
    }
    let update = db.stmt(
        "UPDATE invitations SET revoked_at = ?1
         WHERE id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
        args![ctx.now, invitation_id.as_str()],
    )?;
    let record = Record::success(
        Some(&org_id),
        "invitation.revoke",
        Some(("invitation", &invitation_id)),
    );
    // Accepted or withdrawn by a concurrent request since the check above: nothing to revoke.
    audit::commit(ctx, &db, vec![update, require_change(&db)?], record, None)
        .await
        .map_err(lost_race(AppError::not_found("invitation")))?;
    http::no_content()
}

/// `POST /v1/invitations/{token}/accept`: the signed-in invitee joins.
pub async fn accept_invitation(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let token = ctx.param("token").to_string();
    let principal = authenticate(ctx).await?;
    let user_id = principal.user_id()?.to_string();
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        org_id: String,
        email: String,
        role: String,
        expires_at: i64,
        accepted_at: Option<i64>,
        revoked_at: Option<i64>,
    }
    let row: Option<Row> = db
        .first(
            "SELECT id, org_id, email, role, expires_at, accepted_at, revoked_at FROM invitations WHERE token_hash = ?1",
            args![util::sha256_hex(token.as_bytes())],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("invitation"))?;
    if row.accepted_at.is_some() || row.revoked_at.is_some() {
        return Err(AppError::new(
            410,
            "invitation_used",
            "this invitation was already used or withdrawn",
        ));
    }
    if ctx.now >= row.expires_at {
        return Err(AppError::new(
            410,
            "invitation_expired",
            "this invitation has expired",
        ));
    }
    let user = load_user(&db, &user_id).await?;
    if user.email != row.email {
        // Someone else's invitation: indistinguishable from a wrong token.
        return Err(AppError::not_found("invitation"));
    }
    if member_role(&db, &row.org_id, &user_id).await?.is_some() {
        return Err(AppError::conflict(
            "already_member",
            "you are already a member",
        ));
    }
    let role = Role::parse(&row.role).ok_or_else(|| AppError::internal("stored role"))?;
    let statements = vec![
        // Guarded so that of concurrent accepts (or an accept racing a revoke) one succeeds
        // and the others roll back whole, audit record included.
        db.stmt(
            "UPDATE invitations SET accepted_at = ?1, accepted_by = ?2
             WHERE id = ?3 AND accepted_at IS NULL AND revoked_at IS NULL",
            args![ctx.now, user_id.as_str(), row.id.as_str()],
        )?,
        require_change(&db)?,
        // Fails on the primary key if the user joined meanwhile (another invitation).
        db.stmt(
            "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            args![
                row.org_id.as_str(),
                user_id.as_str(),
                role.as_str(),
                ctx.now
            ],
        )?,
    ];
    let record = Record::success(
        Some(&row.org_id),
        "invitation.accept",
        Some(("invitation", &row.id)),
    );
    audit::commit(ctx, &db, statements, record, None)
        .await
        .map_err(|error| {
            let detail = error.internal.as_deref().unwrap_or("");
            if is_not_null_violation(&error) {
                AppError::new(
                    410,
                    "invitation_used",
                    "this invitation was already used or withdrawn",
                )
            } else if detail.contains("UNIQUE") || detail.contains("PRIMARY KEY") {
                AppError::conflict("already_member", "you are already a member")
            } else {
                error
            }
        })?;
    let org = org_view(&db, &row.org_id).await?;
    http::json(
        200,
        &MembershipResponse {
            membership: MembershipView { org, role },
        },
    )
}

// ---------------------------------------------------------------- API keys

/// `POST /v1/orgs/{org_id}/api-keys`
pub async fn create_api_key(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let caller_role = authorize(ctx, &org_id, Permission::Manage).await?;
    let body: ApiKeyBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "key name")?;
    if body.role == Role::Owner {
        return Err(AppError::invalid(
            "invalid_role",
            "API keys can be admin, editor or viewer",
        ));
    }
    if body.role > caller_role {
        return Err(AppError::forbidden(
            "a key cannot have more power than its creator",
        ));
    }
    let db = ctx.db()?;
    let id = util::new_id("key", ctx.now);
    let prefix_bytes = util::random_bytes::<6>();
    let prefix = format!(
        "{API_KEY_PREFIX}{}",
        util::b64url(&prefix_bytes).replace(['-', '_'], "x")
    );
    let key = format!("{prefix}_{}", util::new_secret());
    let principal = authenticate(ctx).await?;
    let insert = db.stmt(
        "INSERT INTO api_keys (id, org_id, name, role, prefix, key_hash, created_by_type, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![
            id.as_str(),
            org_id.as_str(),
            name.as_str(),
            body.role.as_str(),
            prefix.as_str(),
            util::sha256_hex(key.as_bytes()),
            principal.actor_type(),
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    let record = Record::success(Some(&org_id), "api_key.create", Some(("api_key", &id)))
        .with_details(
            serde_json::json!({ "name": name, "role": body.role.as_str(), "prefix": prefix }),
        );
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &ApiKeyResponse {
            api_key: ApiKeyCreated {
                id,
                prefix,
                key,
                name,
                role: body.role,
                created_at: util::rfc3339(ctx.now),
            },
        },
    )
}

/// `GET /v1/orgs/{org_id}/api-keys`
pub async fn list_api_keys(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        prefix: String,
        name: String,
        role: String,
        created_at: i64,
        last_used_at: Option<i64>,
        revoked_at: Option<i64>,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, prefix, name, role, created_at, last_used_at, revoked_at FROM api_keys
             WHERE org_id = ?1 ORDER BY id DESC LIMIT 500",
            args![org_id.as_str()],
        )
        .await?;
    let items = rows
        .into_iter()
        .filter_map(|row| {
            Some(ApiKeyView {
                role: Role::parse(&row.role)?,
                id: row.id,
                prefix: row.prefix,
                name: row.name,
                created_at: util::rfc3339(row.created_at),
                last_used_at: row.last_used_at.map(util::rfc3339),
                revoked_at: row.revoked_at.map(util::rfc3339),
            })
        })
        .collect();
    http::json(200, &ApiKeyList { items })
}

/// `DELETE /v1/orgs/{org_id}/api-keys/{key_id}`
pub async fn revoke_api_key(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let key_id = ctx.param("key_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let db = ctx.db()?;
    let exists: Option<serde_json::Value> = db
        .first(
            "SELECT id FROM api_keys WHERE id = ?1 AND org_id = ?2 AND revoked_at IS NULL",
            args![key_id.as_str(), org_id.as_str()],
        )
        .await?;
    if exists.is_none() {
        return Err(AppError::not_found("API key"));
    }
    let update = db.stmt(
        "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
        args![ctx.now, key_id.as_str()],
    )?;
    let record = Record::success(Some(&org_id), "api_key.revoke", Some(("api_key", &key_id)));
    // Revoked by a concurrent request since the check above: nothing left to revoke.
    audit::commit(ctx, &db, vec![update, require_change(&db)?], record, None)
        .await
        .map_err(lost_race(AppError::not_found("API key")))?;
    crate::projects::revalidate_org_rooms(ctx, &org_id, &key_id).await?;
    http::no_content()
}

// ---------------------------------------------------------------- audit

/// `GET /v1/orgs/{org_id}/audit?cursor=&limit=&actor=&action=`
pub async fn list_audit(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::ReadAudit).await?;
    let limit = ctx.query_limit(50, 200)?;
    let before = match ctx.query("cursor") {
        None => None,
        Some(cursor) => Some(decode_cursor(&cursor)?),
    };
    let actor = ctx.query("actor");
    let action = ctx.query("action");
    #[derive(Deserialize)]
    struct Row {
        id: String,
        at: i64,
        actor_type: String,
        actor_id: Option<String>,
        action: String,
        target_type: Option<String>,
        target_id: Option<String>,
        result: String,
        request_id: String,
        ip: Option<String>,
        details: Option<String>,
    }
    let mut rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, at, actor_type, actor_id, action, target_type, target_id, result, request_id, ip, details
             FROM audit_log
             WHERE org_id = ?1 AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR actor_id = ?3) AND (?4 IS NULL OR action = ?4)
             ORDER BY id DESC LIMIT ?5",
            args![org_id.as_str(), before, actor, action, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows
        .into_iter()
        .map(|row| AuditItem {
            id: row.id,
            at: util::rfc3339(row.at),
            actor: ActorView {
                kind: row.actor_type,
                id: row.actor_id,
            },
            action: row.action,
            target: match (row.target_type, row.target_id) {
                (Some(kind), Some(id)) => Some(TargetView { kind, id }),
                _ => None,
            },
            result: row.result,
            request_id: row.request_id,
            ip: row.ip,
            details: row.details.and_then(|d| serde_json::from_str(&d).ok()),
        })
        .collect();
    http::json(200, &AuditPage { items, next_cursor })
}

/// Trims a page fetched with `LIMIT limit + 1` to `limit` rows; the cursor of the next page
/// (the last row's id) when there is one.
pub fn page<T>(rows: &mut Vec<T>, limit: i64, id_of: impl Fn(&T) -> &str) -> Option<String> {
    if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|row| encode_cursor(id_of(row)))
    } else {
        None
    }
}

/// Opaque cursor: the last id seen, base64url-encoded.
pub fn encode_cursor(id: &str) -> String {
    util::b64url(id.as_bytes())
}

/// Reverses [`encode_cursor`]; 400 for anything else.
pub fn decode_cursor(cursor: &str) -> AppResult<String> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|id| id.len() < 64 && id.is_ascii())
        .ok_or_else(|| AppError::bad_request("invalid_cursor", "the cursor is not valid"))
}
