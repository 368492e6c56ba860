//! HTTP handlers of the connector catalog, the tool registry and the proxy.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use worker::{Request, Response};

use super::client::{address_refused, Endpoint, Session};
use super::crypto;
use super::ssrf::Policy;
use crate::args;
use crate::audit::{self, Outcome, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{clean_name, decode_cursor, page};
use crate::identity::{authenticate, authorize, throttle, Permission};
use crate::util;

/// Default proxied calls per minute of a connector.
pub const DEFAULT_RATE_PER_MINUTE: i64 = 60;
/// Default bound on one exchange with the server.
pub const DEFAULT_TIMEOUT_MS: i64 = 10_000;
/// Longest timeout a connector may have.
pub const MAX_TIMEOUT_MS: i64 = 30_000;
/// Tools kept per connector at most.
pub const MAX_TOOLS: usize = 200;
/// `tools/list` pages read at most during discovery.
const MAX_LIST_PAGES: usize = 10;
/// Longest credential accepted.
const MAX_CREDENTIAL: usize = 4096;
/// Connectors per organisation.
const MAX_CONNECTORS: i64 = 100;

/// How the proxy authenticates to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// No credential.
    None,
    /// `Authorization: Bearer <credential>`.
    Bearer,
    /// `<auth_header>: <credential>`.
    Header,
}

impl AuthMethod {
    fn as_str(self) -> &'static str {
        match self {
            AuthMethod::None => "none",
            AuthMethod::Bearer => "bearer",
            AuthMethod::Header => "header",
        }
    }

    fn parse(value: &str) -> Option<Self> {
        match value {
            "none" => Some(AuthMethod::None),
            "bearer" => Some(AuthMethod::Bearer),
            "header" => Some(AuthMethod::Header),
            _ => None,
        }
    }
}

/// `POST /v1/orgs/{org_id}/connectors`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectorBody {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// Short handle (`a-z`, `0-9`, `-`; 2 to 32, starting with a letter), unique in the
    /// organisation; prefixes the tool names (`<slug>__<tool>`). Derived from the name when absent.
    #[serde(default)]
    pub slug: Option<String>,
    /// What the server offers, up to 500 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// The server's Streamable HTTP endpoint: https, public host.
    pub url: String,
    /// `none` (default), `bearer` or `header`.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// Header name for `header` auth, e.g. `x-api-key`.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// The credential (write-only: stored encrypted, never returned).
    #[serde(default)]
    pub credential: Option<String>,
    /// Proxied calls per minute, 1 to 6000 (default 60).
    #[serde(default)]
    pub rate_per_minute: Option<i64>,
    /// Bound on one exchange with the server, 100 to 30000 ms (default 10000).
    #[serde(default)]
    pub timeout_ms: Option<i64>,
}

/// `PATCH /v1/orgs/{org_id}/connectors/{connector_id}`: the fields to change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectorBody {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New endpoint; the registry is emptied until the next discovery.
    #[serde(default)]
    pub url: Option<String>,
    /// New auth method (with a credential unless `none`).
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// New header name for `header` auth.
    #[serde(default)]
    pub auth_header: Option<String>,
    /// New credential (replaces the stored one).
    #[serde(default)]
    pub credential: Option<String>,
    /// New rate limit.
    #[serde(default)]
    pub rate_per_minute: Option<i64>,
    /// New timeout.
    #[serde(default)]
    pub timeout_ms: Option<i64>,
}

/// A connector as the API shows it: never its credential.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectorView {
    /// `con_…`
    pub id: String,
    /// Owning organisation.
    pub org_id: String,
    /// Short handle.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Endpoint.
    pub url: String,
    /// `none`, `bearer` or `header`.
    pub auth_method: AuthMethod,
    /// Header name for `header` auth.
    pub auth_header: Option<String>,
    /// Whether a credential is stored.
    pub has_credential: bool,
    /// Proxied calls per minute.
    pub rate_per_minute: i64,
    /// Bound on one exchange, ms.
    pub timeout_ms: i64,
    /// `new` (not discovered yet) or `ready`.
    pub status: String,
    /// The server's name from the last discovery.
    pub server_name: Option<String>,
    /// Protocol revision negotiated at the last discovery.
    pub protocol_version: Option<String>,
    /// Last discovery.
    pub discovered_at: Option<String>,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// One connector.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectorResponse {
    /// The connector.
    pub connector: ConnectorView,
}

/// A page of connectors.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectorPage {
    /// Newest first.
    pub items: Vec<ConnectorView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// A tool of the registry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectorToolView {
    /// Its connector.
    pub connector_id: String,
    /// The connector's slug.
    pub connector_slug: String,
    /// The tool's name on its server.
    pub name: String,
    /// `<slug>__<name>`: unique in the organisation.
    pub qualified_name: String,
    /// Human title, if the server gave one.
    pub title: Option<String>,
    /// Description.
    pub description: String,
    /// JSON Schema of the arguments, as published by the server.
    pub input_schema: Value,
    /// JSON Schema of the structured result, if published.
    pub output_schema: Option<Value>,
    /// The server's annotations (read-only / destructive hints), if any.
    pub annotations: Option<Value>,
    /// When it was discovered.
    pub discovered_at: String,
}

/// A page of the registry.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ConnectorToolPage {
    /// By connector, then name.
    pub items: Vec<ConnectorToolView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// The outcome of a discovery.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DiscoverResponse {
    /// The connector, now `ready`.
    pub connector: ConnectorView,
    /// Every tool found (the registry's rows for this connector).
    pub tools: Vec<ConnectorToolView>,
}

/// `POST /v1/orgs/{org_id}/connectors/{connector_id}/tools/{tool_name}/call`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallConnectorToolBody {
    /// The tool's arguments (checked by the external server against its schema).
    #[serde(default)]
    pub arguments: Map<String, Value>,
}

/// A proxied call's answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CallConnectorToolResponse {
    /// The connector called.
    pub connector_id: String,
    /// The tool called.
    pub tool: String,
    /// Time spent, ms.
    pub duration_ms: i64,
    /// The server's `CallToolResult` (`content`, `structuredContent`, `isError`) as it came.
    pub result: Value,
}

#[derive(Deserialize)]
struct ConnectorRow {
    id: String,
    org_id: String,
    slug: String,
    name: String,
    description: String,
    url: String,
    auth_method: String,
    auth_header: Option<String>,
    credential_ciphertext: Option<String>,
    rate_per_minute: i64,
    timeout_ms: i64,
    status: String,
    server_name: Option<String>,
    protocol_version: Option<String>,
    discovered_at: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const CONNECTOR_COLUMNS: &str = "id, org_id, slug, name, description, url, auth_method, auth_header, credential_ciphertext,
     rate_per_minute, timeout_ms, status, server_name, protocol_version, discovered_at, created_at, updated_at";

impl ConnectorRow {
    fn auth(&self) -> AuthMethod {
        AuthMethod::parse(&self.auth_method).unwrap_or(AuthMethod::None)
    }

    fn view(&self) -> ConnectorView {
        ConnectorView {
            id: self.id.clone(),
            org_id: self.org_id.clone(),
            slug: self.slug.clone(),
            name: self.name.clone(),
            description: self.description.clone(),
            url: self.url.clone(),
            auth_method: self.auth(),
            auth_header: self.auth_header.clone(),
            has_credential: self.credential_ciphertext.is_some(),
            rate_per_minute: self.rate_per_minute,
            timeout_ms: self.timeout_ms,
            status: self.status.clone(),
            server_name: self.server_name.clone(),
            protocol_version: self.protocol_version.clone(),
            discovered_at: self.discovered_at.map(util::rfc3339),
            created_at: util::rfc3339(self.created_at),
            updated_at: util::rfc3339(self.updated_at),
        }
    }
}

#[derive(Deserialize)]
struct ToolRow {
    connector_id: String,
    slug: String,
    name: String,
    title: Option<String>,
    description: String,
    input_schema: String,
    output_schema: Option<String>,
    annotations: Option<String>,
    discovered_at: i64,
}

impl ToolRow {
    fn view(&self) -> ConnectorToolView {
        let parse = |text: &str| serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
        ConnectorToolView {
            connector_id: self.connector_id.clone(),
            connector_slug: self.slug.clone(),
            name: self.name.clone(),
            qualified_name: format!("{}__{}", self.slug, self.name),
            title: self.title.clone(),
            description: self.description.clone(),
            input_schema: parse(&self.input_schema),
            output_schema: self.output_schema.as_deref().map(parse),
            annotations: self.annotations.as_deref().map(parse),
            discovered_at: util::rfc3339(self.discovered_at),
        }
    }
}

fn policy(ctx: &Ctx) -> Policy {
    Policy::from_allowance(ctx.var("CONNECTORS_DEV_ALLOW").as_deref())
}

/// Parses and checks an endpoint URL against the SSRF policy.
fn checked_url(ctx: &Ctx, raw: &str) -> AppResult<url::Url> {
    if raw.len() > 2048 {
        return Err(AppError::invalid(
            "invalid_url",
            "the URL is longer than 2048 characters",
        ));
    }
    let url = url::Url::parse(raw.trim())
        .map_err(|_| AppError::invalid("invalid_url", "url is not an absolute URL"))?;
    policy(ctx).check(&url).map_err(address_refused)?;
    Ok(url)
}

fn check_slug(slug: &str) -> AppResult<()> {
    let ok = (2..=32).contains(&slug.len())
        && slug.starts_with(|c: char| c.is_ascii_lowercase())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !slug.ends_with('-')
        && !slug.contains("--");
    if ok {
        Ok(())
    } else {
        Err(AppError::invalid(
            "invalid_slug",
            "slug: 2 to 32 of a-z, 0-9 and single dashes, starting with a letter",
        ))
    }
}

fn slug_from(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(32).collect();
    let slug = slug.trim_end_matches('-').to_string();
    if slug.starts_with(|c: char| c.is_ascii_lowercase()) && slug.len() >= 2 {
        slug
    } else {
        format!("c-{slug}").trim_end_matches('-').to_string()
    }
}

fn check_description(raw: Option<&str>) -> AppResult<String> {
    let text = raw.unwrap_or("").trim().to_string();
    if text.chars().count() > 500 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            "invalid_description",
            "description: at most 500 characters, no control characters",
        ));
    }
    Ok(text)
}

fn check_limits(rate: Option<i64>, timeout: Option<i64>) -> AppResult<()> {
    if rate.is_some_and(|r| !(1..=6000).contains(&r)) {
        return Err(AppError::invalid(
            "invalid_rate",
            "rate_per_minute must be 1 to 6000",
        ));
    }
    if timeout.is_some_and(|t| !(100..=MAX_TIMEOUT_MS).contains(&t)) {
        return Err(AppError::invalid(
            "invalid_timeout",
            format!("timeout_ms must be 100 to {MAX_TIMEOUT_MS}"),
        ));
    }
    Ok(())
}

/// Headers the connector's `header` auth may not set: the transport's own.
const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "accept",
    "connection",
    "transfer-encoding",
    "user-agent",
    "mcp-session-id",
    "mcp-protocol-version",
    "cookie",
];

/// The auth settings after a change: method, header name, and whether a credential is needed.
fn check_auth(
    method: AuthMethod,
    header: Option<&str>,
    credential: Option<&str>,
) -> AppResult<Option<String>> {
    let invalid = |code: &str, message: &str| Err(AppError::invalid(code, message));
    if let Some(credential) = credential {
        if credential.is_empty()
            || credential.len() > MAX_CREDENTIAL
            || !credential.chars().all(|c| (' '..='~').contains(&c))
        {
            return invalid(
                "invalid_credential",
                "credential: 1 to 4096 printable ASCII characters",
            );
        }
    }
    match method {
        AuthMethod::None => {
            if credential.is_some() || header.is_some() {
                return invalid(
                    "invalid_auth",
                    "auth_method none takes neither credential nor auth_header",
                );
            }
            Ok(None)
        }
        AuthMethod::Bearer => {
            if header.is_some() {
                return invalid("invalid_auth", "auth_header is for auth_method header");
            }
            Ok(None)
        }
        AuthMethod::Header => {
            let Some(name) = header.map(|h| h.trim().to_ascii_lowercase()) else {
                return invalid("invalid_auth", "auth_method header needs auth_header");
            };
            let token = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_!#$%&'*+.^`|~".contains(c));
            if !token || RESERVED_HEADERS.contains(&name.as_str()) {
                return invalid(
                    "invalid_auth_header",
                    "auth_header must be an HTTP header name the transport does not use itself",
                );
            }
            Ok(Some(name))
        }
    }
}

async fn load(ctx: &Ctx, org_id: &str, connector_id: &str) -> AppResult<ConnectorRow> {
    ctx.db()?
        .first::<ConnectorRow>(
            &format!("SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE id = ?1 AND org_id = ?2"),
            args![connector_id, org_id],
        )
        .await?
        .ok_or_else(|| AppError::not_found("connector"))
}

fn sealed_credential(ctx: &Ctx, connector_id: &str, credential: &str) -> AppResult<String> {
    let cipher = crypto::cipher(ctx.var(crypto::KEY_VAR).as_deref())?;
    crypto::seal(
        &cipher,
        connector_id,
        credential,
        util::random_bytes::<12>(),
    )
}

/// `POST /v1/orgs/{org_id}/connectors` (admin)
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: CreateConnectorBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "connector name")?;
    let slug = match &body.slug {
        Some(slug) => slug.clone(),
        None => slug_from(&name),
    };
    check_slug(&slug)?;
    let description = check_description(body.description.as_deref())?;
    let url = checked_url(ctx, &body.url)?;
    check_limits(body.rate_per_minute, body.timeout_ms)?;
    let method = body.auth_method.unwrap_or(AuthMethod::None);
    let header = check_auth(
        method,
        body.auth_header.as_deref(),
        body.credential.as_deref(),
    )?;
    if method != AuthMethod::None && body.credential.is_none() {
        return Err(AppError::invalid(
            "invalid_auth",
            "this auth_method needs a credential",
        ));
    }
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Count {
        n: i64,
        taken: i64,
    }
    let count: Option<Count> = db
        .first(
            "SELECT COUNT(*) AS n, COALESCE(SUM(slug = ?2), 0) AS taken FROM connectors WHERE org_id = ?1",
            args![org_id.as_str(), slug.as_str()],
        )
        .await?;
    let count = count.unwrap_or(Count { n: 0, taken: 0 });
    if count.taken > 0 {
        return Err(AppError::conflict(
            "slug_taken",
            format!("a connector with slug {slug} exists"),
        ));
    }
    if count.n >= MAX_CONNECTORS {
        return Err(AppError::conflict(
            "too_many_connectors",
            format!("an organisation has at most {MAX_CONNECTORS} connectors"),
        ));
    }
    let id = util::new_id("con", ctx.now);
    let ciphertext = body
        .credential
        .as_deref()
        .map(|credential| sealed_credential(ctx, &id, credential))
        .transpose()?;
    let principal = authenticate(ctx).await?;
    let insert = db.stmt(
        "INSERT INTO connectors (id, org_id, slug, name, description, url, auth_method, auth_header, credential_ciphertext,
                                 rate_per_minute, timeout_ms, status, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'new', ?12, ?13, ?14, ?14)",
        args![
            id.as_str(),
            org_id.as_str(),
            slug.as_str(),
            name.as_str(),
            description.as_str(),
            url.as_str(),
            method.as_str(),
            header.clone(),
            ciphertext,
            body.rate_per_minute.unwrap_or(DEFAULT_RATE_PER_MINUTE),
            body.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
            principal.actor_type(),
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    let record = Record::success(Some(&org_id), "connector.create", Some(("connector", &id)))
        .with_details(json!({
            "slug": slug,
            "origin": url.origin().ascii_serialization(),
            "auth_method": method.as_str(),
        }));
    audit::commit(ctx, &db, vec![insert], record, None)
        .await
        .map_err(|error| {
            if error
                .internal
                .as_deref()
                .is_some_and(|e| e.contains("UNIQUE"))
            {
                AppError::conflict("slug_taken", format!("a connector with slug {slug} exists"))
            } else {
                error
            }
        })?;
    let row = load(ctx, &org_id, &id).await?;
    http::json(
        201,
        &ConnectorResponse {
            connector: row.view(),
        },
    )
}

/// `GET /v1/orgs/{org_id}/connectors?cursor=&limit=`
pub async fn list(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let limit = ctx.query_limit(50, 200)?;
    let before = ctx.query("cursor").map(|c| decode_cursor(&c)).transpose()?;
    let mut rows: Vec<ConnectorRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {CONNECTOR_COLUMNS} FROM connectors WHERE org_id = ?1 AND (?2 IS NULL OR id < ?2)
                 ORDER BY id DESC LIMIT ?3"
            ),
            args![org_id.as_str(), before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(ConnectorRow::view).collect();
    http::json(200, &ConnectorPage { items, next_cursor })
}

/// `GET /v1/orgs/{org_id}/connectors/{connector_id}`
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let row = load(ctx, &org_id, ctx.param("connector_id")).await?;
    http::json(
        200,
        &ConnectorResponse {
            connector: row.view(),
        },
    )
}

/// `PATCH /v1/orgs/{org_id}/connectors/{connector_id}` (admin)
pub async fn update(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let connector_id = ctx.param("connector_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: UpdateConnectorBody = ctx.json(&mut req).await?;
    let row = load(ctx, &org_id, &connector_id).await?;
    let name = match &body.name {
        Some(name) => clean_name(name, "connector name")?,
        None => row.name.clone(),
    };
    let description = match &body.description {
        Some(text) => check_description(Some(text))?,
        None => row.description.clone(),
    };
    let url = match &body.url {
        Some(raw) => checked_url(ctx, raw)?.to_string(),
        None => row.url.clone(),
    };
    check_limits(body.rate_per_minute, body.timeout_ms)?;
    let method = body.auth_method.unwrap_or(row.auth());
    let method_changed = method != row.auth();
    let header_given = body.auth_header.as_deref().or(if method_changed {
        None
    } else {
        row.auth_header.as_deref()
    });
    let header = check_auth(method, header_given, body.credential.as_deref())?;
    let ciphertext = match (&body.credential, method) {
        (_, AuthMethod::None) => None,
        (Some(credential), _) => Some(sealed_credential(ctx, &connector_id, credential)?),
        (None, _) if !method_changed && row.credential_ciphertext.is_some() => {
            row.credential_ciphertext.clone()
        }
        (None, _) => {
            return Err(AppError::invalid(
                "invalid_auth",
                "this auth_method needs a credential",
            ))
        }
    };
    let url_changed = url != row.url;
    let db = ctx.db()?;
    let mut changes = vec![db.stmt(
        "UPDATE connectors SET name = ?1, description = ?2, url = ?3, auth_method = ?4, auth_header = ?5,
                credential_ciphertext = ?6, rate_per_minute = ?7, timeout_ms = ?8, updated_at = ?9,
                status = CASE WHEN ?10 = 1 THEN 'new' ELSE status END
         WHERE id = ?11 AND org_id = ?12",
        args![
            name.as_str(),
            description.as_str(),
            url.as_str(),
            method.as_str(),
            header,
            ciphertext,
            body.rate_per_minute.unwrap_or(row.rate_per_minute),
            body.timeout_ms.unwrap_or(row.timeout_ms),
            ctx.now,
            url_changed as i64,
            connector_id.as_str(),
            org_id.as_str(),
        ],
    )?];
    if url_changed {
        // Another server: its tools are unknown until discovered again.
        changes.push(db.stmt(
            "DELETE FROM connector_tools WHERE connector_id = ?1",
            args![connector_id.as_str()],
        )?);
    }
    let mut fields: Vec<&str> = Vec::new();
    for (given, field) in [
        (body.name.is_some(), "name"),
        (body.description.is_some(), "description"),
        (body.url.is_some(), "url"),
        (body.auth_method.is_some(), "auth_method"),
        (body.auth_header.is_some(), "auth_header"),
        (body.credential.is_some(), "credential"),
        (body.rate_per_minute.is_some(), "rate_per_minute"),
        (body.timeout_ms.is_some(), "timeout_ms"),
    ] {
        if given {
            fields.push(field);
        }
    }
    let record = Record::success(
        Some(&org_id),
        "connector.update",
        Some(("connector", &connector_id)),
    )
    .with_details(json!({ "fields": fields }));
    audit::commit(ctx, &db, changes, record, None).await?;
    let row = load(ctx, &org_id, &connector_id).await?;
    http::json(
        200,
        &ConnectorResponse {
            connector: row.view(),
        },
    )
}

/// `DELETE /v1/orgs/{org_id}/connectors/{connector_id}` (admin): the connector, its credential
/// and its tools.
pub async fn delete(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let connector_id = ctx.param("connector_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let row = load(ctx, &org_id, &connector_id).await?;
    let db = ctx.db()?;
    let changes = vec![
        db.stmt(
            "DELETE FROM connector_tools WHERE connector_id = ?1",
            args![connector_id.as_str()],
        )?,
        db.stmt(
            "DELETE FROM connectors WHERE id = ?1 AND org_id = ?2",
            args![connector_id.as_str(), org_id.as_str()],
        )?,
    ];
    let record = Record::success(
        Some(&org_id),
        "connector.delete",
        Some(("connector", &connector_id)),
    )
    .with_details(json!({ "slug": row.slug }));
    audit::commit(ctx, &db, changes, record, None).await?;
    http::no_content()
}

fn endpoint(ctx: &Ctx, row: &ConnectorRow) -> AppResult<Endpoint> {
    let url = url::Url::parse(&row.url).map_err(AppError::internal)?;
    let auth = match (row.auth(), &row.credential_ciphertext) {
        (AuthMethod::None, _) => None,
        (method, Some(stored)) => {
            let cipher = crypto::cipher(ctx.var(crypto::KEY_VAR).as_deref())?;
            let credential = crypto::open(&cipher, &row.id, stored)?;
            match method {
                AuthMethod::Bearer => {
                    Some(("authorization".to_string(), format!("Bearer {credential}")))
                }
                _ => Some((row.auth_header.clone().unwrap_or_default(), credential)),
            }
        }
        (_, None) => return Err(AppError::internal("connector credential missing")),
    };
    Ok(Endpoint {
        url,
        auth,
        timeout_ms: row.timeout_ms.clamp(100, MAX_TIMEOUT_MS) as u64,
        policy: policy(ctx),
    })
}

/// Records a failed exchange with an external server (no credentials, no arguments).
async fn record_failure(
    ctx: &Ctx,
    row: &ConnectorRow,
    action: &str,
    error: &AppError,
    extra: Value,
) {
    let Ok(db) = ctx.db() else { return };
    let mut details = json!({"slug": row.slug, "error": error.code, "status": error.status});
    if let (Value::Object(details), Value::Object(extra)) = (&mut details, extra) {
        details.extend(extra);
    }
    let record = Record {
        org_id: Some(&row.org_id),
        action,
        target: Some(("connector", &row.id)),
        outcome: Outcome::Failure,
        details,
    };
    let _ = audit::record_attempt(ctx, &db, record, None).await;
}

fn schema_text(value: Option<&Value>) -> Option<String> {
    value.filter(|v| v.is_object()).map(Value::to_string)
}

/// `POST /v1/orgs/{org_id}/connectors/{connector_id}/discover` (admin): `initialize` and
/// `tools/list` against the server; the registry's rows for the connector are replaced.
pub async fn discover(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let connector_id = ctx.param("connector_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let row = load(ctx, &org_id, &connector_id).await?;
    let endpoint = endpoint(ctx, &row)?;
    let found = match list_remote_tools(&endpoint).await {
        Ok(found) => found,
        Err(error) => {
            record_failure(ctx, &row, "connector.discover", &error, json!({})).await;
            return Err(error);
        }
    };
    let (server, version, tools) = found;
    let db = ctx.db()?;
    let mut changes = vec![db.stmt(
        "DELETE FROM connector_tools WHERE connector_id = ?1",
        args![connector_id.as_str()],
    )?];
    for tool in &tools {
        changes.push(db.stmt(
            "INSERT INTO connector_tools (connector_id, org_id, name, title, description, input_schema, output_schema, annotations, discovered_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            args![
                connector_id.as_str(),
                org_id.as_str(),
                tool["name"].as_str().unwrap_or_default(),
                tool["title"].as_str(),
                tool["description"].as_str().unwrap_or(""),
                schema_text(tool.get("inputSchema")).unwrap_or_else(|| "{\"type\":\"object\"}".into()),
                schema_text(tool.get("outputSchema")),
                schema_text(tool.get("annotations")),
                ctx.now,
            ],
        )?);
    }
    let server_name = server["serverInfo"]["name"]
        .as_str()
        .map(|n| n.chars().take(100).collect::<String>());
    changes.push(db.stmt(
        "UPDATE connectors SET status = 'ready', server_name = ?1, protocol_version = ?2, discovered_at = ?3, updated_at = ?3
         WHERE id = ?4",
        args![server_name, version, ctx.now, connector_id.as_str()],
    )?);
    let record = Record::success(
        Some(&org_id),
        "connector.discover",
        Some(("connector", &connector_id)),
    )
    .with_details(json!({ "slug": row.slug, "tools": tools.len() }));
    audit::commit(ctx, &db, changes, record, None).await?;
    let row = load(ctx, &org_id, &connector_id).await?;
    let tools = tool_rows(
        ctx,
        &org_id,
        Some(&connector_id),
        None,
        None,
        MAX_TOOLS as i64,
    )
    .await?;
    http::json(
        200,
        &DiscoverResponse {
            connector: row.view(),
            tools: tools.iter().map(ToolRow::view).collect(),
        },
    )
}

/// `initialize`, then every page of `tools/list`: the server's info, the negotiated version
/// and the well-formed tools (at most [`MAX_TOOLS`]).
async fn list_remote_tools(endpoint: &Endpoint) -> AppResult<(Value, Option<String>, Vec<Value>)> {
    let mut session = Session::open(endpoint).await?;
    let mut tools = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_LIST_PAGES {
        let params = match &cursor {
            Some(cursor) => json!({"cursor": cursor}),
            None => json!({}),
        };
        let page = session.request("tools/list", params).await?;
        for tool in page["tools"].as_array().into_iter().flatten() {
            let name_ok = tool["name"].as_str().is_some_and(|name| {
                (1..=128).contains(&name.len())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
            });
            if name_ok && tools.len() < MAX_TOOLS {
                tools.push(tool.clone());
            }
        }
        cursor = page["nextCursor"].as_str().map(str::to_string);
        if cursor.is_none() || tools.len() >= MAX_TOOLS {
            break;
        }
    }
    tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    tools.dedup_by(|a, b| a["name"] == b["name"]);
    let version = session.protocol_version().map(str::to_string);
    let server = session.server.clone();
    session.close().await;
    Ok((server, version, tools))
}

async fn tool_rows(
    ctx: &Ctx,
    org_id: &str,
    connector_id: Option<&str>,
    name: Option<&str>,
    after: Option<(String, String)>,
    limit: i64,
) -> AppResult<Vec<ToolRow>> {
    let (after_connector, after_name) = after.unzip();
    ctx.db()?
        .all(
            "SELECT t.connector_id, c.slug, t.name, t.title, t.description, t.input_schema, t.output_schema,
                    t.annotations, t.discovered_at
             FROM connector_tools t JOIN connectors c ON c.id = t.connector_id
             WHERE t.org_id = ?1 AND c.org_id = ?1
               AND (?2 IS NULL OR t.connector_id = ?2)
               AND (?3 IS NULL OR t.name = ?3)
               AND (?4 IS NULL OR t.connector_id > ?4 OR (t.connector_id = ?4 AND t.name > ?5))
             ORDER BY t.connector_id, t.name LIMIT ?6",
            args![org_id, connector_id, name, after_connector, after_name, limit],
        )
        .await
}

/// `GET /v1/orgs/{org_id}/connector-tools?connector=&q=&cursor=&limit=`: the registry.
pub async fn list_tools(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let limit = ctx.query_limit(50, 200)?;
    let after = match ctx.query("cursor") {
        None => None,
        Some(cursor) => {
            let raw = decode_cursor(&cursor)?;
            let (connector, name) = raw.split_once('/').ok_or_else(|| {
                AppError::bad_request("invalid_cursor", "the cursor is not valid")
            })?;
            Some((connector.to_string(), name.to_string()))
        }
    };
    let connector = ctx.query("connector");
    let words: Vec<String> = ctx
        .query("q")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_lowercase)
        .collect();
    // Word filtering happens here (the registry is small: at most 200 tools per connector).
    let mut rows = Vec::new();
    let mut cursor = after;
    loop {
        let batch = tool_rows(
            ctx,
            &org_id,
            connector.as_deref(),
            None,
            cursor.clone(),
            200,
        )
        .await?;
        let exhausted = batch.len() < 200;
        cursor = batch
            .last()
            .map(|r| (r.connector_id.clone(), r.name.clone()));
        rows.extend(batch.into_iter().filter(|row| {
            let haystack = format!(
                "{} {} {} {}",
                row.slug,
                row.name,
                row.title.as_deref().unwrap_or(""),
                row.description
            )
            .to_lowercase();
            words.iter().all(|w| haystack.contains(w.as_str()))
        }));
        if exhausted || rows.len() as i64 > limit {
            break;
        }
    }
    let next_cursor = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last()
            .map(|r| crate::identity::api::encode_cursor(&format!("{}/{}", r.connector_id, r.name)))
    } else {
        None
    };
    http::json(
        200,
        &ConnectorToolPage {
            items: rows.iter().map(ToolRow::view).collect(),
            next_cursor,
        },
    )
}

/// `POST /v1/orgs/{org_id}/connectors/{connector_id}/tools/{tool_name}/call` (editor): proxies a
/// `tools/call` to the server, within the connector's rate limit, timeout and size cap; every
/// call is audited (tool, duration, outcome, argument names; never values or credentials).
pub async fn call_tool(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let connector_id = ctx.param("connector_id").to_string();
    let tool_name = ctx.param("tool_name").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    let body: CallConnectorToolBody = ctx.json(&mut req).await?;
    let row = load(ctx, &org_id, &connector_id).await?;
    let known = tool_rows(ctx, &org_id, Some(&connector_id), Some(&tool_name), None, 1).await?;
    if known.is_empty() {
        return Err(AppError::not_found("connector tool"));
    }
    let budget = throttle::Budget {
        capacity: row.rate_per_minute as f64,
        refill_per_second: row.rate_per_minute as f64 / 60.0,
    };
    throttle::take(ctx, &format!("connector:{connector_id}"), budget).await?;
    let endpoint = endpoint(ctx, &row)?;
    let argument_names: Vec<&String> = body.arguments.keys().collect();
    let started = util::now_ms();
    let outcome = async {
        let mut session = Session::open(&endpoint).await?;
        let result = session
            .request(
                "tools/call",
                json!({"name": tool_name, "arguments": Value::Object(body.arguments.clone())}),
            )
            .await;
        session.close().await;
        result
    }
    .await;
    let duration_ms = util::now_ms() - started;
    let result = match outcome {
        Ok(result) => result,
        Err(error) => {
            let extra =
                json!({"tool": tool_name, "duration_ms": duration_ms, "arguments": argument_names});
            record_failure(ctx, &row, "connector.tool_call", &error, extra).await;
            return Err(error);
        }
    };
    let db = ctx.db()?;
    let record = Record::success(
        Some(&org_id),
        "connector.tool_call",
        Some(("connector", &connector_id)),
    )
    .with_details(json!({
        "slug": row.slug,
        "tool": tool_name,
        "duration_ms": duration_ms,
        "is_error": result["isError"] == json!(true),
        "arguments": argument_names,
    }));
    audit::record_attempt(ctx, &db, record, None).await?;
    http::json(
        200,
        &CallConnectorToolResponse {
            connector_id,
            tool: tool_name,
            duration_ms,
            result,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slug_from("Stock Footage API"), "stock-footage-api");
        assert_eq!(slug_from("  Notion!! "), "notion");
        assert_eq!(slug_from("123"), "c-123");
        assert!(check_slug(&slug_from("Ünïcode ☃ tools")).is_ok());
        assert!(check_slug("a--b").is_err());
        assert!(check_slug("Upper").is_err());
    }

    #[test]
    fn auth_settings_are_checked() {
        assert!(check_auth(AuthMethod::None, None, None).is_ok());
        assert!(check_auth(AuthMethod::None, None, Some("x")).is_err());
        assert!(check_auth(AuthMethod::Bearer, None, Some("tok")).is_ok());
        assert_eq!(
            check_auth(AuthMethod::Header, Some("X-Api-Key"), Some("k")).unwrap(),
            Some("x-api-key".into())
        );
        assert!(check_auth(AuthMethod::Header, Some("host"), Some("k")).is_err());
        assert!(check_auth(AuthMethod::Header, Some("bad header"), Some("k")).is_err());
        assert!(check_auth(AuthMethod::Bearer, None, Some("line\nbreak")).is_err());
    }
}
