//! The Model Context Protocol server (module 08): `POST /mcp`, Streamable HTTP transport with
//! JSON responses, stateless (no `Mcp-Session-Id`), JSON-RPC 2.0 without batches.
//!
//! Agents authenticate with the same bearer tokens as the HTTP API (API keys or session
//! tokens, never forwarded anywhere) and act through the same routes: every tool call runs the
//! equivalent HTTP operation through the route table's dispatcher with the caller's principal,
//! so authorisation, validation, audit records, analytics events and room broadcasts are the
//! HTTP API's own. The tool schemas come from the route table's request/response types.
//!
//! - `GET /mcp` answers 405: the server opens no server-initiated stream.
//! - `GET /.well-known/oauth-protected-resource` publishes the RFC 9728 metadata every 401
//!   points at.
//! - Rate limit: one token bucket per principal (RateLimiter DO); over budget the request gets
//!   HTTP 200 with the JSON-RPC error -32029 `rate limited` and `data.retry_after` (seconds),
//!   following the JSON-RPC convention that protocol-level failures travel in the envelope.

pub mod catalog;
pub mod progress;
pub mod resources;

use serde_json::{json, Value};
use worker::{Method, Request, Response};

use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::{self, throttle, Principal, Role};

/// Protocol revisions the server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18"];
/// The revision assumed when a request carries no `MCP-Protocol-Version` header.
pub const DEFAULT_PROTOCOL_VERSION: &str = "2025-06-18";
/// Largest JSON-RPC message accepted (a batch of timeline commands can be long).
pub const MAX_MESSAGE: usize = 1024 * 1024;
/// Path of the protected-resource metadata document.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// JSON-RPC: the body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON-RPC: not a valid request object.
pub const INVALID_REQUEST: i64 = -32600;
/// JSON-RPC: unknown method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// JSON-RPC: wrong parameters.
pub const INVALID_PARAMS: i64 = -32602;
/// JSON-RPC: internal error.
pub const INTERNAL_ERROR: i64 = -32603;
/// MCP: the resource does not exist (or is not the caller's).
pub const RESOURCE_NOT_FOUND: i64 = -32002;
/// The principal's request budget is spent.
pub const RATE_LIMITED: i64 = -32029;

/// Whether `path` is served here rather than by the route table; the template for the log.
pub fn special_path(path: &str) -> Option<&'static str> {
    match path {
        "/mcp" => Some("/mcp"),
        METADATA_PATH => Some(METADATA_PATH),
        _ => None,
    }
}

/// Serves `/mcp` and the metadata document.
pub async fn serve(ctx: &mut Ctx, req: Request) -> AppResult<Response> {
    if ctx.url.path() == METADATA_PATH {
        return match ctx.method {
            Method::Get | Method::Head => metadata(ctx),
            _ => method_not_allowed(ctx, "GET"),
        };
    }
    match ctx.method {
        Method::Post => post(ctx, req).await,
        _ => method_not_allowed(ctx, "POST"),
    }
}

fn method_not_allowed(ctx: &Ctx, allow: &str) -> AppResult<Response> {
    let error = AppError::new(405, "method_not_allowed", format!("use one of: {allow}"));
    let mut response = http::json(405, &http::error_body(&error, &ctx.request_id))?;
    response.headers_mut().set("allow", allow)?;
    Ok(response)
}

/// RFC 9728 protected-resource metadata: this server is its own authorisation server, and
/// tokens travel in the `Authorization` header only.
fn metadata(ctx: &Ctx) -> AppResult<Response> {
    let origin = ctx.url.origin().ascii_serialization();
    let mut response = http::json(
        200,
        &json!({
            "resource": format!("{origin}/mcp"),
            "authorization_servers": [origin],
            "bearer_methods_supported": ["header"],
            "scopes_supported": ["projects:read", "projects:write", "assets:read", "comments:write"],
            "resource_name": "Creator OS MCP server",
            "resource_documentation": format!("{origin}/openapi.json"),
        }),
    )?;
    // Public metadata: browser-based clients read it from other origins.
    response
        .headers_mut()
        .set("access-control-allow-origin", "*")?;
    Ok(response)
}

/// What a principal may do through the server.
pub struct Caller {
    /// Who.
    pub principal: Principal,
    /// Organisations and the role there (an API key: its one org).
    pub memberships: Vec<(String, Role)>,
}

impl Caller {
    /// Whether any of the caller's roles allows writing.
    pub fn can_write(&self) -> bool {
        self.memberships
            .iter()
            .any(|(_, role)| role.allows(identity::Permission::Write))
    }

    /// The org a tool acts in when none is named: the API key's, or a person's only one.
    pub fn default_org(&self) -> Option<&str> {
        match self.memberships.as_slice() {
            [(org, _)] => Some(org),
            _ => None,
        }
    }
}

async fn caller(ctx: &mut Ctx) -> AppResult<Caller> {
    let principal = identity::authenticate(ctx).await?;
    let memberships = match &principal {
        Principal::ApiKey { org_id, role, .. } | Principal::Agent { org_id, role, .. } => {
            vec![(org_id.clone(), *role)]
        }
        Principal::User { user_id, .. } => {
            #[derive(serde::Deserialize)]
            struct Row {
                org_id: String,
                role: String,
            }
            let rows: Vec<Row> = ctx
                .db()?
                .all(
                    "SELECT org_id, role FROM memberships WHERE user_id = ?1 ORDER BY org_id",
                    crate::args![user_id.as_str()],
                )
                .await?;
            rows.into_iter()
                .filter_map(|r| Role::parse(&r.role).map(|role| (r.org_id, role)))
                .collect()
        }
    };
    Ok(Caller {
        principal,
        memberships,
    })
}

/// A JSON-RPC error object.
#[derive(Debug)]
pub struct RpcError {
    /// Error code.
    pub code: i64,
    /// Message.
    pub message: String,
    /// Extra data.
    pub data: Option<Value>,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }

    /// Invalid params.
    pub fn params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    fn to_value(&self, id: &Value) -> Value {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(data) = &self.data {
            error["data"] = data.clone();
        }
        json!({"jsonrpc": "2.0", "id": id, "error": error})
    }
}

impl From<AppError> for RpcError {
    fn from(error: AppError) -> Self {
        if error.status == 429 {
            let mut rpc = RpcError::new(RATE_LIMITED, "rate limited");
            rpc.data = Some(json!({"retry_after": error.retry_after.unwrap_or(1)}));
            return rpc;
        }
        let code = if error.status >= 500 {
            INTERNAL_ERROR
        } else {
            INVALID_PARAMS
        };
        let mut rpc = RpcError::new(code, error.message.clone());
        rpc.data = Some(json!({"code": error.code, "status": error.status}));
        rpc
    }
}

fn rpc_response(status: u16, body: &Value) -> AppResult<Response> {
    http::json(status, body)
}

async fn post(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    // DNS-rebinding defence: a browser page elsewhere may not drive the server.
    if ctx.header("origin").is_some() {
        identity::check_origin(ctx)?;
    }
    let caller = caller(ctx).await?;
    let version = match ctx.header("mcp-protocol-version") {
        None => DEFAULT_PROTOCOL_VERSION.to_string(),
        Some(v) if PROTOCOL_VERSIONS.contains(&v.as_str()) => v,
        Some(v) => {
            return Err(AppError::bad_request(
                "unsupported_protocol_version",
                format!(
                    "MCP-Protocol-Version {v} is not supported; use one of: {}",
                    PROTOCOL_VERSIONS.join(", ")
                ),
            ))
        }
    };
    let content_type = ctx.header("content-type").unwrap_or_default();
    if !content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(AppError::new(
            415,
            "unsupported_media_type",
            "send JSON-RPC messages as application/json",
        ));
    }
    let bytes = req.bytes().await.map_err(|_| {
        AppError::bad_request("malformed_body", "the request body could not be read")
    })?;
    if bytes.len() > MAX_MESSAGE {
        return Err(AppError::new(
            413,
            "payload_too_large",
            format!("the message exceeds {MAX_MESSAGE} bytes"),
        ));
    }
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(error) => {
            let rpc = RpcError::new(PARSE_ERROR, format!("parse error: {error}"));
            return rpc_response(400, &rpc.to_value(&Value::Null));
        }
    };
    let Value::Object(object) = &message else {
        let text = if message.is_array() {
            "batches are not supported; send one message per request"
        } else {
            "a JSON-RPC message must be an object"
        };
        return rpc_response(
            400,
            &RpcError::new(INVALID_REQUEST, text).to_value(&Value::Null),
        );
    };
    let id = object.get("id").cloned();
    let valid_id = matches!(id, None | Some(Value::String(_)) | Some(Value::Number(_)));
    if object.get("jsonrpc") != Some(&json!("2.0")) || !valid_id {
        let id = id.filter(|_| valid_id).unwrap_or(Value::Null);
        return rpc_response(
            400,
            &RpcError::new(INVALID_REQUEST, "not a JSON-RPC 2.0 message").to_value(&id),
        );
    }
    let method = object.get("method").and_then(Value::as_str);
    let Some(id) = id else {
        // A notification (or a stray response): accepted, nothing to answer.
        if method.is_none() && !object.contains_key("result") && !object.contains_key("error") {
            return rpc_response(
                400,
                &RpcError::new(INVALID_REQUEST, "a message needs a method").to_value(&Value::Null),
            );
        }
        return Ok(Response::empty()?.with_status(202));
    };
    let Some(method) = method else {
        if object.contains_key("result") || object.contains_key("error") {
            return Ok(Response::empty()?.with_status(202));
        }
        return rpc_response(
            400,
            &RpcError::new(INVALID_REQUEST, "a request needs a method").to_value(&id),
        );
    };
    let params = match object.get("params") {
        None | Some(Value::Null) => json!({}),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return rpc_response(
                200,
                &RpcError::params("params must be an object").to_value(&id),
            )
        }
    };

    let budget = throttle::Budget {
        capacity: ctx.var_f64("MCP_RATE_BURST", 120.0),
        refill_per_second: ctx.var_f64("MCP_RATE_PER_MINUTE", 600.0) / 60.0,
    };
    let key = format!("mcp:{}", caller.principal.actor_id());
    if let Err(error) = throttle::take(ctx, &key, budget).await {
        if error.status != 429 {
            return Err(error);
        }
        return rpc_response(200, &RpcError::from(error).to_value(&id));
    }

    // A watch that asked for progress (and may be answered with a stream) streams it.
    if method == "tools/call"
        && params["name"] == progress::WATCH_TOOL
        && catalog::is_visible(&caller, progress::WATCH_TOOL)
    {
        let token = params["_meta"]["progressToken"].clone();
        let accepts_stream = ctx
            .header("accept")
            .is_some_and(|accept| accept.contains("text/event-stream"));
        if accepts_stream && (token.is_string() || token.is_number()) {
            let arguments = params["arguments"].as_object().cloned().unwrap_or_default();
            if let Ok(watch) = progress::parse(&arguments) {
                return progress::stream(ctx, &caller.principal, watch, id, token, &version);
            }
        }
    }

    let outcome = match method {
        "initialize" => Ok(initialize(&params)),
        "ping" => Ok(json!({})),
        "tools/list" => catalog::list(&caller, &params),
        "tools/call" => catalog::call(ctx, &caller, &params).await,
        "resources/list" => resources::list(ctx, &caller, &params).await,
        "resources/templates/list" => Ok(resources::templates()),
        "resources/read" => resources::read(ctx, &caller, &params).await,
        "prompts/list" => Ok(resources::prompts()),
        "prompts/get" => resources::prompt(&params),
        other => Err(RpcError::new(
            METHOD_NOT_FOUND,
            format!("method not found: {other}"),
        )),
    };
    let body = match outcome {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(error) => error.to_value(&id),
    };
    let mut response = rpc_response(200, &body)?;
    response
        .headers_mut()
        .set("mcp-protocol-version", &version)?;
    Ok(response)
}

fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or("");
    let version = if PROTOCOL_VERSIONS.contains(&asked) {
        asked
    } else {
        PROTOCOL_VERSIONS[0]
    };
    json!({
        "protocolVersion": version,
        "capabilities": {
            "tools": {"listChanged": false},
            "resources": {"listChanged": false, "subscribe": false},
            "prompts": {"listChanged": false},
        },
        "serverInfo": {
            "name": "creator-os",
            "title": "Creator OS",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "instructions": "Creator OS: edit ProEditor timelines with typed commands. Find tools with search_tools, read a project with get_timeline, change it with apply_commands, check the result with render_frame.",
    })
}

/// Runs the HTTP operation `method path?query` with `body` through the route table, as the
/// caller: the same handler, authorisation, validation and audit as over HTTP.
pub async fn call_route(
    ctx: &Ctx,
    principal: &Principal,
    method: Method,
    path: &str,
    query: &[(String, String)],
    body: Option<&Value>,
) -> AppResult<Response> {
    use crate::http::router::{self, Match};
    use crate::routes::{self, ROUTES};
    let mut url = ctx.url.clone();
    url.set_path(path);
    url.set_query(None);
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query.iter());
    }
    let headers = worker::Headers::new();
    let mut init = worker::RequestInit::new();
    init.with_method(method.clone());
    if let Some(body) = body {
        headers.set("content-type", "application/json")?;
        init.with_body(Some(serde_json::to_string(body)?.into()));
    }
    init.with_headers(headers.clone());
    let req = Request::new_with_init(url.as_str(), &init)?;
    let Match::Found(route, params) = router::find(ROUTES, &method, url.path()) else {
        return Err(AppError::not_found("resource"));
    };
    let mut inner = Ctx {
        env: ctx.env.clone(),
        request_id: ctx.request_id.clone(),
        method,
        url,
        headers,
        ip: ctx.ip.clone(),
        now: ctx.now,
        params,
        principal: Some(principal.clone()),
        set_cookies: Vec::new(),
    };
    routes::dispatch(route.op, &mut inner, req).await
}
