//! Social and SSO login with OpenID Connect (authorization code flow + PKCE).
//!
//! The flow, and what guards each step:
//! 1. **start** (`/v1/auth/oidc/{provider}/start?return_to=`): the provider must be configured
//!    (`OIDC_PROVIDERS` + its client secret). `return_to` must be a path on this site. We make a
//!    `state`, a `nonce` and a PKCE verifier (256 bits each) and store the state's *hash* with the
//!    nonce, verifier, `return_to` and the hash of a browser-binding cookie, for ten minutes,
//!    then send the browser to the provider's authorization endpoint (from discovery).
//! 2. **callback**: the state is consumed atomically (unknown, expired or already-used states
//!    fail), and must come back to the browser that started it (the binding cookie: no login
//!    CSRF), and an `iss` in the answer must be the provider's (RFC 9207). A provider error
//!    ends the login. The code is exchanged with the PKCE verifier (client_secret_basic, or
//!    client_secret_post if that is all the provider offers), and the ID token is verified:
//!    signature against the provider's JWKS, then `iss`, `aud`, `azp`, `exp`, `iat`, `nbf` and
//!    `nonce`. Email claims missing from the ID token are read from userinfo (same `sub`).
//! 3. **account**: a known (provider, subject) signs its user in. Otherwise the email must be
//!    verified by the provider: an existing user with that email gets the identity linked, or a
//!    new user and personal organisation are made. An unverified email never links or creates.
//!    Linking into an account whose email was never verified also ends its sessions and removes
//!    its password: whoever registered it without proving the address (an account
//!    pre-hijacking attempt) loses access, the owner of the address keeps it.
//! 4. A new session cookie, an audit record, and a 302 to `return_to`.
//!
//! Every refusal is an [`AppError`] in the API's one shape; nothing here logs a token, code,
//! state or secret.

mod id_token;
mod provider;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use worker::{Request, Response};

use self::id_token::{Expected, Subject, TokenError};
use self::provider::{CodeExchange, Metadata};
use super::{api, sessions, throttle};
use crate::args;
use crate::audit::{self, Outcome, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::util;

/// The variable listing the providers, as JSON: `[{"id","name","issuer","client_id"}]`.
const PROVIDERS_VAR: &str = "OIDC_PROVIDERS";
/// How long a started login may take, unless `OIDC_LOGIN_TTL_SECONDS` says otherwise.
const DEFAULT_LOGIN_TTL_SECONDS: f64 = 600.0;
/// Ties a pending login to the browser that started it. Holds no authority on its own.
const BINDING_COOKIE: &str = "__Host-cos_oidc";
/// What we ask the provider for.
const SCOPES: &str = "openid email profile";
/// Longest accepted `return_to`.
const MAX_RETURN_TO: usize = 512;

/// A configured provider.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderView {
    /// Provider id used in the login URL.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Where to send the browser to sign in (add `?return_to=/path`).
    pub start_url: String,
}

/// Configured providers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderList {
    /// In configuration order.
    pub providers: Vec<ProviderView>,
}

// ---------------------------------------------------------------- configuration

/// One entry of `OIDC_PROVIDERS`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// Short id used in URLs: 1–32 of `a-z 0-9 _ -`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The issuer identifier, exactly as the provider's ID tokens state it.
    pub issuer: String,
    /// Our client id at the provider.
    pub client_id: String,
}

/// Parses and checks `OIDC_PROVIDERS`.
pub fn parse_providers(raw: &str) -> Result<Vec<ProviderConfig>, String> {
    let configs: Vec<ProviderConfig> = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    for (index, config) in configs.iter().enumerate() {
        let id_ok = (1..=32).contains(&config.id.len())
            && config
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !id_ok {
            return Err(format!(
                "provider {index}: id must be 1-32 of a-z, 0-9, '-', '_'"
            ));
        }
        if config.name.trim().is_empty() || config.name.chars().count() > 100 {
            return Err(format!(
                "provider {}: name must have 1-100 characters",
                config.id
            ));
        }
        if !provider::allowed_url(&config.issuer) || config.issuer.contains('?') {
            return Err(format!(
                "provider {}: issuer must be an https URL without query (http only on loopback)",
                config.id
            ));
        }
        if config.client_id.is_empty() || config.client_id.len() > 256 {
            return Err(format!(
                "provider {}: client_id must have 1-256 characters",
                config.id
            ));
        }
        if configs[..index].iter().any(|other| other.id == config.id) {
            return Err(format!("provider {}: duplicate id", config.id));
        }
    }
    Ok(configs)
}

/// The name of the variable (or secret) holding a provider's client secret.
pub fn secret_name(provider_id: &str) -> String {
    format!(
        "OIDC_{}_CLIENT_SECRET",
        provider_id.to_ascii_uppercase().replace('-', "_")
    )
}

fn configured(ctx: &Ctx) -> AppResult<Vec<ProviderConfig>> {
    match ctx.var(PROVIDERS_VAR) {
        None => Ok(Vec::new()),
        Some(raw) => {
            parse_providers(&raw).map_err(|e| AppError::internal(format!("{PROVIDERS_VAR}: {e}")))
        }
    }
}

/// A usable provider: its configuration and client secret.
struct Provider {
    config: ProviderConfig,
    client_secret: String,
}

fn find_provider(ctx: &Ctx, id: &str) -> AppResult<Provider> {
    let config = configured(ctx)?
        .into_iter()
        .find(|config| config.id == id)
        .ok_or_else(|| AppError::not_found("sign-in provider"))?;
    let name = secret_name(&config.id);
    let client_secret = ctx
        .var(&name)
        .ok_or_else(|| AppError::internal(format!("{name} is not set")))?;
    Ok(Provider {
        config,
        client_secret,
    })
}

fn login_ttl_ms(ctx: &Ctx) -> i64 {
    let seconds = ctx.var_f64("OIDC_LOGIN_TTL_SECONDS", DEFAULT_LOGIN_TTL_SECONDS);
    (seconds.clamp(1.0, 3600.0) * 1000.0) as i64
}

fn redirect_uri(ctx: &Ctx, provider_id: &str) -> String {
    format!(
        "{}/v1/auth/oidc/{provider_id}/callback",
        ctx.url.origin().ascii_serialization()
    )
}

// ---------------------------------------------------------------- small pieces

/// `return_to` if it is a path on this site: one leading `/`, no scheme, no host, nothing a
/// browser could read as another origin (`//host`, `/\host`, control characters).
pub fn safe_return_to(raw: &str) -> Option<String> {
    if raw.len() > MAX_RETURN_TO
        || !raw.starts_with('/')
        || raw.starts_with("//")
        || raw.contains('\\')
        || raw.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return None;
    }
    // Belt and braces: resolved against any origin, it must stay on that origin.
    let base = url::Url::parse("https://creator-os.invalid/").ok()?;
    let resolved = base.join(raw).ok()?;
    (resolved.origin() == base.origin()).then(|| raw.to_string())
}

fn binding_from_cookie(ctx: &Ctx) -> Option<String> {
    let header = ctx.header("cookie")?;
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        let well_formed = value.len() == 43
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        (name == BINDING_COOKIE && well_formed).then(|| value.to_string())
    })
}

fn redirect(location: &str) -> AppResult<Response> {
    let mut response = Response::empty()?.with_status(302);
    response.headers_mut().set("location", location)?;
    // The URLs around a login carry codes and states: keep them out of Referer headers.
    response
        .headers_mut()
        .set("referrer-policy", "no-referrer")?;
    Ok(response)
}

/// A provider-sent error code, if it is a plain one safe to echo.
fn plain_code(code: &str) -> Option<&str> {
    (!code.is_empty()
        && code.len() <= 64
        && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    .then_some(code)
}

fn invalid_state() -> AppError {
    AppError::bad_request(
        "oidc_invalid_state",
        "this sign-in link is not valid (unknown state); start the sign-in again",
    )
}

fn rejected_token(error: TokenError) -> AppError {
    let mut app_error = AppError::new(401, "oidc_invalid_id_token", error.message());
    app_error.internal = Some(format!("id token refused: {}", error.reason()));
    app_error
}

// ---------------------------------------------------------------- handlers

/// `GET /v1/auth/oidc/providers`
pub async fn providers(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let providers = configured(ctx)?
        .into_iter()
        .filter(|config| ctx.var(&secret_name(&config.id)).is_some())
        .map(|config| ProviderView {
            start_url: format!("/v1/auth/oidc/{}/start", config.id),
            id: config.id,
            name: config.name,
        })
        .collect();
    http::json(200, &ProviderList { providers })
}

/// `GET /v1/auth/oidc/{provider}/start`
pub async fn start(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let provider = find_provider(ctx, ctx.param("provider"))?;
    let return_to = match ctx.query("return_to").filter(|raw| !raw.is_empty()) {
        None => "/".to_string(),
        Some(raw) => safe_return_to(&raw).ok_or_else(|| {
            AppError::invalid(
                "invalid_return_to",
                "return_to must be a path on this site starting with a single '/'",
            )
        })?,
    };
    // Each start writes a row: bound it per client address.
    let budget = throttle::Budget {
        capacity: ctx.var_f64("OIDC_START_IP_BURST", 30.0),
        refill_per_second: ctx.var_f64("OIDC_START_IP_PER_MINUTE", 30.0) / 60.0,
    };
    let ip = ctx.ip.clone().unwrap_or_else(|| "unknown".to_string());
    throttle::take(ctx, &format!("oidc:start:ip:{ip}"), budget).await?;

    let metadata = provider::metadata(ctx.now, &provider.config.issuer).await?;
    let mut authorize = url::Url::parse(&metadata.authorization_endpoint)
        .map_err(|e| provider::unavailable(format!("authorization_endpoint: {e}")))?;
    let state = util::new_secret();
    let nonce = util::new_secret();
    let code_verifier = util::new_secret();
    let binding = binding_from_cookie(ctx).unwrap_or_else(util::new_secret);
    let ttl = login_ttl_ms(ctx);
    ctx.db()?
        .run(
            "INSERT INTO oidc_logins (state_hash, provider, nonce, code_verifier, return_to, browser_hash, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            args![
                util::sha256_hex(state.as_bytes()),
                provider.config.id.as_str(),
                nonce.as_str(),
                code_verifier.as_str(),
                return_to,
                util::sha256_hex(binding.as_bytes()),
                ctx.now,
                ctx.now + ttl,
            ],
        )
        .await?;
    ctx.set_cookies.push(format!(
        "{BINDING_COOKIE}={binding}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Lax",
        ttl / 1000
    ));
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.config.client_id)
        .append_pair("redirect_uri", &redirect_uri(ctx, &provider.config.id))
        .append_pair("scope", SCOPES)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &provider::pkce_challenge(&code_verifier))
        .append_pair("code_challenge_method", "S256");
    redirect(authorize.as_str())
}

/// A pending login, as stored at start.
#[derive(Deserialize)]
struct Login {
    nonce: String,
    code_verifier: String,
    return_to: String,
    browser_hash: String,
    created_at: i64,
}

/// Marks the login of `state` used, in one statement, so that two callbacks racing with the
/// same state cannot both proceed; explains why when it cannot be used.
async fn consume_login(ctx: &Ctx, db: &Db, provider_id: &str, state: &str) -> AppResult<Login> {
    let state_hash = util::sha256_hex(state.as_bytes());
    let login: Option<Login> = db
        .first(
            "UPDATE oidc_logins SET used_at = ?1
             WHERE state_hash = ?2 AND provider = ?3 AND used_at IS NULL AND expires_at > ?1
             RETURNING nonce, code_verifier, return_to, browser_hash, created_at",
            args![ctx.now, state_hash.as_str(), provider_id],
        )
        .await?;
    if let Some(login) = login {
        return Ok(login);
    }
    #[derive(Deserialize)]
    struct Seen {
        provider: String,
        used_at: Option<i64>,
    }
    let seen: Option<Seen> = db
        .first(
            "SELECT provider, used_at FROM oidc_logins WHERE state_hash = ?1",
            args![state_hash.as_str()],
        )
        .await?;
    Err(match seen {
        Some(seen) if seen.provider == provider_id && seen.used_at.is_some() => {
            AppError::bad_request(
                "oidc_state_used",
                "this sign-in link was already used; start the sign-in again",
            )
        }
        Some(seen) if seen.provider == provider_id => AppError::bad_request(
            "oidc_state_expired",
            "this sign-in took too long and expired; start the sign-in again",
        ),
        _ => invalid_state(),
    })
}

/// `GET /v1/auth/oidc/{provider}/callback`
pub async fn callback(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let provider = find_provider(ctx, ctx.param("provider"))?;
    let state = ctx
        .query("state")
        .filter(|state| !state.is_empty() && state.len() <= 256)
        .ok_or_else(invalid_state)?;
    let db = ctx.db()?;
    let login = consume_login(ctx, &db, &provider.config.id, &state).await?;
    let method = format!("oidc:{}", provider.config.id);
    let result = finish(ctx, &db, &provider, &login, &method).await;
    if let Err(error) = &result {
        let record = Record {
            org_id: None,
            action: "auth.login",
            target: None,
            outcome: Outcome::Failure,
            details: serde_json::json!({ "method": method, "reason": error.code }),
        };
        // The refusal stands even if it cannot be recorded.
        let _ = audit::record_attempt(ctx, &db, record, None).await;
    }
    result
}

/// Everything after the state is consumed: browser, provider answer, tokens, account, session.
async fn finish(
    ctx: &mut Ctx,
    db: &Db,
    provider: &Provider,
    login: &Login,
    method: &str,
) -> AppResult<Response> {
    let presented = binding_from_cookie(ctx).map(|binding| util::sha256_hex(binding.as_bytes()));
    if !presented
        .is_some_and(|hash| util::constant_time_eq(hash.as_bytes(), login.browser_hash.as_bytes()))
    {
        return Err(AppError::bad_request(
            "oidc_browser_mismatch",
            "this sign-in was started in another browser (or its cookie was lost); start the sign-in again",
        ));
    }
    // RFC 9207: a provider that names itself in the response must be the one we sent the
    // person to (a defence against mix-up attacks, checked before anything else is believed).
    if ctx
        .query("iss")
        .is_some_and(|iss| iss != provider.config.issuer)
    {
        return Err(AppError::bad_request(
            "oidc_issuer_mismatch",
            "the answer comes from another sign-in provider than the one this sign-in was started with",
        ));
    }
    if let Some(code) = ctx.query("error") {
        let message = match plain_code(&code) {
            Some("access_denied") => {
                "the sign-in was cancelled or refused at the provider (access_denied)".to_string()
            }
            Some(code) => format!("the sign-in provider reported an error ({code})"),
            None => "the sign-in provider reported an error".to_string(),
        };
        return Err(AppError::bad_request("oidc_provider_error", message));
    }
    let code = ctx
        .query("code")
        .filter(|code| !code.is_empty() && code.len() <= 4096)
        .ok_or_else(|| {
            AppError::bad_request(
                "oidc_missing_code",
                "the provider's answer carries no authorization code; start the sign-in again",
            )
        })?;

    let metadata = provider::metadata(ctx.now, &provider.config.issuer).await?;
    let redirect_uri = redirect_uri(ctx, &provider.config.id);
    let tokens = provider::exchange_code(
        &metadata,
        &CodeExchange {
            client_id: &provider.config.client_id,
            client_secret: &provider.client_secret,
            code: &code,
            code_verifier: &login.code_verifier,
            redirect_uri: &redirect_uri,
        },
    )
    .await?;
    let id_token = tokens.id_token.as_deref().unwrap_or_default();
    let mut subject = verify_id_token(ctx, provider, &metadata, id_token, login).await?;
    if subject.email.is_none() {
        if let Some(access_token) = tokens.access_token.as_deref().filter(|t| !t.is_empty()) {
            add_userinfo(&metadata, access_token, &mut subject).await?;
        }
    }

    sign_in_subject(ctx, db, provider, subject, method).await?;
    let target = ctx
        .url
        .join(&login.return_to)
        .ok()
        .filter(|url| url.origin() == ctx.url.origin())
        .map(|url| url.to_string())
        .unwrap_or_else(|| format!("{}/", ctx.url.origin().ascii_serialization()));
    redirect(&target)
}

/// Verifies the ID token's signature against the provider's keys, then its claims.
async fn verify_id_token(
    ctx: &Ctx,
    provider: &Provider,
    metadata: &Metadata,
    token: &str,
    login: &Login,
) -> AppResult<Subject> {
    let jws = id_token::parse(token).map_err(rejected_token)?;
    let mut keys = provider::keys(ctx.now, &metadata.jwks_uri, false).await?;
    if id_token::candidate_keys(&jws, &keys).is_empty() {
        // Perhaps the provider rotated its keys since we cached them.
        keys = provider::keys(ctx.now, &metadata.jwks_uri, true).await?;
    }
    let candidates = id_token::candidate_keys(&jws, &keys);
    if candidates.is_empty() {
        return Err(rejected_token(TokenError::UnknownKey));
    }
    let mut verified = false;
    for key in candidates {
        if id_token::verify_signature(&jws, key).await {
            verified = true;
            break;
        }
    }
    if !verified {
        return Err(rejected_token(TokenError::BadSignature));
    }
    let expected = Expected {
        issuer: &provider.config.issuer,
        client_id: &provider.config.client_id,
        nonce: &login.nonce,
        now_s: ctx.now.div_euclid(1000),
        started_s: login.created_at.div_euclid(1000),
    };
    id_token::check_claims(&jws.claims, &expected).map_err(rejected_token)
}

/// Fills the email (and name) from the userinfo endpoint when the ID token leaves them out,
/// as providers may for the code flow (OIDC Core §5.4).
async fn add_userinfo(
    metadata: &Metadata,
    access_token: &str,
    subject: &mut Subject,
) -> AppResult<()> {
    let info = provider::userinfo(metadata, access_token).await?;
    if info.is_empty() {
        return Ok(());
    }
    // OIDC Core §5.3.2: userinfo about anyone but the ID token's subject must not be used.
    if info.get("sub").and_then(Value::as_str) != Some(subject.subject.as_str()) {
        let mut error = AppError::new(
            401,
            "oidc_invalid_userinfo",
            "the provider's user information is about someone other than the ID token's subject",
        );
        error.internal = Some("userinfo sub mismatch".into());
        return Err(error);
    }
    if let Some(email) = info.get("email").and_then(Value::as_str) {
        subject.email = Some(email.to_string());
        subject.email_verified = id_token::truthy(info.get("email_verified"));
    }
    if subject.name.is_none() {
        subject.name = id_token::display_name(&info);
    }
    Ok(())
}

/// Finds or makes the account of `subject` and starts a session for it.
async fn sign_in_subject(
    ctx: &mut Ctx,
    db: &Db,
    provider: &Provider,
    subject: Subject,
    method: &str,
) -> AppResult<()> {
    let provider_id = provider.config.id.as_str();
    #[derive(Deserialize)]
    struct Linked {
        user_id: String,
    }
    let linked: Option<Linked> = db
        .first(
            "SELECT user_id FROM identities WHERE provider = ?1 AND subject = ?2",
            args![provider_id, subject.subject.as_str()],
        )
        .await?;
    if let Some(linked) = linked {
        api::sign_in(ctx, &linked.user_id, method).await?;
        return Ok(());
    }

    let raw_email = subject.email.as_deref().ok_or_else(|| {
        AppError::new(
            403,
            "oidc_email_missing",
            "the sign-in provider did not share an email address; allow access to it and try again",
        )
    })?;
    let email = api::normalize_email(raw_email).map_err(|_| {
        AppError::invalid(
            "oidc_email_invalid",
            "the email address shared by the sign-in provider is not usable",
        )
    })?;
    if !subject.email_verified {
        return Err(AppError::new(
            403,
            "oidc_email_unverified",
            "the sign-in provider has not verified this email address, so it cannot be used to sign in here; verify it with the provider first",
        ));
    }

    #[derive(Deserialize)]
    struct Existing {
        id: String,
        email_verified: i64,
    }
    let existing: Option<Existing> = db
        .first(
            "SELECT id, email_verified FROM users WHERE email = ?1",
            args![email.as_str()],
        )
        .await?;
    match existing {
        Some(user) => {
            link_and_sign_in(
                ctx,
                db,
                provider_id,
                &subject,
                &email,
                &user.id,
                user.email_verified != 0,
                method,
            )
            .await
        }
        None => {
            let name = subject
                .name
                .as_deref()
                .and_then(|name| api::clean_name(name, "name").ok())
                .or_else(|| api::clean_name(email.split('@').next().unwrap_or(""), "name").ok())
                .unwrap_or_else(|| "New user".to_string());
            // The user row is the first statement of the batch; the identity finds it by email.
            let identity = db.stmt(
                "INSERT INTO identities (provider, subject, user_id, email, created_at)
                 SELECT ?1, ?2, id, ?3, ?4 FROM users WHERE email = ?3",
                args![
                    provider_id,
                    subject.subject.as_str(),
                    email.as_str(),
                    ctx.now
                ],
            )?;
            api::create_account(ctx, &email, &name, None, true, method, vec![identity]).await?;
            Ok(())
        }
    }
}

/// Links the identity to the existing user with the same (verified) email and signs them in,
/// in one batch with the audit records.
#[allow(clippy::too_many_arguments)]
async fn link_and_sign_in(
    ctx: &mut Ctx,
    db: &Db,
    provider_id: &str,
    subject: &Subject,
    email: &str,
    user_id: &str,
    email_was_verified: bool,
    method: &str,
) -> AppResult<()> {
    let mut statements = vec![db.stmt(
        "INSERT INTO identities (provider, subject, user_id, email, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        args![provider_id, subject.subject.as_str(), user_id, email, ctx.now],
    )?];
    let secured = !email_was_verified;
    if secured {
        // Nobody had proven this address before: whoever set the password (and holds the
        // sessions) may not be its owner. The provider just proved the owner is signing in.
        statements.push(db.stmt(
            "UPDATE users SET email_verified = 1, password_hash = NULL, updated_at = ?1 WHERE id = ?2",
            args![ctx.now, user_id],
        )?);
        statements.push(db.stmt(
            "UPDATE sessions SET revoked_at = ?1 WHERE user_id = ?2 AND revoked_at IS NULL",
            args![ctx.now, user_id],
        )?);
    }
    let (_, session, session_statement) = sessions::issue(ctx, db, user_id, method)?;
    statements.push(session_statement);
    let actor = Some(("user", user_id));
    let link = Record::success(None, "identity.link", Some(("user", user_id))).with_details(
        serde_json::json!({
            "provider": provider_id,
            "email": email,
            "unverified_account_secured": secured,
        }),
    );
    statements.extend(audit::statements(ctx, db, &link, actor)?);
    let login = Record::success(None, "auth.login", Some(("user", user_id)))
        .with_details(serde_json::json!({ "method": method, "linked": true }));
    audit::commit(ctx, db, statements, login, actor)
        .await
        .map_err(|error| {
            if error
                .internal
                .as_deref()
                .is_some_and(|d| d.contains("UNIQUE"))
            {
                AppError::conflict(
                    "oidc_identity_conflict",
                    "this account was linked by a concurrent sign-in; try again",
                )
            } else {
                error
            }
        })?;
    sessions::set_cookie(ctx, &session);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_must_be_a_local_path() {
        for good in [
            "/",
            "/dashboard",
            "/projects/p1?tab=2#top",
            "/a/b/../c",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(safe_return_to(good).as_deref(), Some(good), "{good}");
        }
        for bad in [
            "",
            "https://evil.example",
            "//evil.example",
            "///evil.example",
            "/\\evil.example",
            "\\/evil.example",
            "/\t/evil.example",
            "/ /evil",
            "javascript:alert(1)",
            "dashboard",
            "http:/evil.example",
        ] {
            assert_eq!(safe_return_to(bad), None, "{bad:?}");
        }
        assert_eq!(
            safe_return_to(&format!("/{}", "a".repeat(MAX_RETURN_TO))),
            None
        );
    }

    #[test]
    fn provider_configuration_is_checked() {
        let ok = parse_providers(
            r#"[{"id":"google","name":"Google","issuer":"https://accounts.google.com","client_id":"c"},
                {"id":"test-1","name":"Test","issuer":"http://127.0.0.1:9000","client_id":"c"}]"#,
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(parse_providers("[]").unwrap(), Vec::new());
        for bad in [
            "{}",
            r#"[{"id":"Google","name":"G","issuer":"https://a.example","client_id":"c"}]"#,
            r#"[{"id":"g","name":"","issuer":"https://a.example","client_id":"c"}]"#,
            r#"[{"id":"g","name":"G","issuer":"http://a.example","client_id":"c"}]"#,
            r#"[{"id":"g","name":"G","issuer":"https://a.example","client_id":""}]"#,
            r#"[{"id":"g","name":"G","issuer":"https://a.example","client_id":"c","secret":"x"}]"#,
            r#"[{"id":"g","name":"G","issuer":"https://a.example","client_id":"c"},
                {"id":"g","name":"H","issuer":"https://b.example","client_id":"d"}]"#,
        ] {
            assert!(parse_providers(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secret_names_follow_the_provider_id() {
        assert_eq!(secret_name("test"), "OIDC_TEST_CLIENT_SECRET");
        assert_eq!(secret_name("my-idp"), "OIDC_MY_IDP_CLIENT_SECRET");
    }

    #[test]
    fn only_plain_provider_error_codes_are_echoed() {
        assert_eq!(plain_code("access_denied"), Some("access_denied"));
        assert_eq!(plain_code("<b>hi</b>"), None);
        assert_eq!(plain_code(""), None);
    }
}
