//! The request pipeline every route shares: request id, routing, body parsing with limits,
//! the one error shape, security headers and one structured log line per request.

pub mod error;
pub mod router;

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Headers, Method, Request, Response};

pub use error::{AppError, AppResult};

use crate::identity::{self, Principal};
use crate::routes::{self, ROUTES};
use crate::util;

/// Largest JSON body accepted by default.
pub const MAX_JSON_BODY: usize = 64 * 1024;

/// Everything a handler knows about the request besides its body.
pub struct Ctx {
    /// Bindings and variables.
    pub env: Env,
    /// `req_<ULID>`, returned in `x-request-id` and in every error.
    pub request_id: String,
    /// HTTP method.
    pub method: Method,
    /// The full request URL.
    pub url: url::Url,
    /// Request headers.
    pub headers: Headers,
    /// Client address as the edge saw it.
    pub ip: Option<String>,
    /// Request start, ms since epoch: one clock reading per request.
    pub now: i64,
    /// Path parameters of the matched route.
    pub params: Vec<(&'static str, String)>,
    /// Set once the request is authenticated.
    pub principal: Option<Principal>,
    /// `Set-Cookie` values to attach to the response.
    pub set_cookies: Vec<String>,
}

impl Ctx {
    /// A path parameter of the matched route.
    pub fn param(&self, name: &str) -> &str {
        self.params
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
            .unwrap_or("")
    }

    /// A query-string parameter.
    pub fn query(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }

    /// The `limit` query parameter: `default` when absent, 422 unless it is 1 to `max`.
    pub fn query_limit(&self, default: i64, max: i64) -> AppResult<i64> {
        match self.query("limit") {
            None => Ok(default),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| {
                    AppError::invalid("invalid_limit", format!("limit must be 1 to {max}"))
                }),
        }
    }

    /// A header, if present and readable.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).ok().flatten()
    }

    /// The D1 database.
    pub fn db(&self) -> AppResult<crate::db::Db> {
        Ok(crate::db::Db(self.env.d1("DB")?))
    }

    /// A string variable from the environment (vars or secrets).
    pub fn var(&self, name: &str) -> Option<String> {
        self.env
            .var(name)
            .map(|v| v.to_string())
            .or_else(|_| self.env.secret(name).map(|v| v.to_string()))
            .ok()
            .filter(|v| !v.is_empty())
    }

    /// A numeric variable, or the default.
    pub fn var_f64(&self, name: &str, default: f64) -> f64 {
        self.var(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    /// Parses a JSON body: 415 if not JSON, 413 if over the limit, 400 if malformed,
    /// 422 for wrong types, missing or unknown fields.
    pub async fn json<T: DeserializeOwned>(&self, req: &mut Request) -> AppResult<T> {
        let content_type = self.header("content-type").unwrap_or_default();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" {
            return Err(AppError::new(
                415,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        let declared = self
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_JSON_BODY) {
            return Err(too_large());
        }
        let bytes = req.bytes().await.map_err(|_| {
            AppError::bad_request("malformed_body", "the request body could not be read")
        })?;
        if bytes.len() > MAX_JSON_BODY {
            return Err(too_large());
        }
        parse_json(&bytes)
    }
}

fn too_large() -> AppError {
    AppError::new(
        413,
        "payload_too_large",
        format!("the body exceeds {MAX_JSON_BODY} bytes"),
    )
}

/// Parses JSON bytes with the API's error mapping: 400 unless the whole body is well-formed
/// JSON, then 422 unless it is an object of the expected shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> AppResult<T> {
    // Syntax first, over the whole body: a typed parse stops at the first field it rejects,
    // and would call `{"unknown": 1} garbage` invalid rather than malformed.
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes).map_err(|error| {
        AppError::bad_request("malformed_json", format!("malformed JSON: {error}"))
    })?;
    // Derived struct parsers also accept an array of the fields in order (`["a@b.co", "pw"]`);
    // request bodies are objects, with named fields.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(AppError::invalid(
            "invalid_request",
            "the body must be a JSON object",
        ));
    }
    // The JSON is well-formed, so whatever the typed parse refuses is a wrong value. (serde_json
    // reports a wrong type for an enum, e.g. `{"role": 3}`, as a syntax error: "expected value".)
    serde_json::from_slice(bytes).map_err(|error| {
        let message = match error.classify() {
            serde_json::error::Category::Data => error.to_string(),
            _ => format!(
                "invalid value at line {} column {}",
                error.line(),
                error.column()
            ),
        };
        AppError::invalid("invalid_request", message)
    })
}

/// A JSON response with a status.
pub fn json<T: Serialize>(status: u16, body: &T) -> AppResult<Response> {
    Ok(Response::from_json(body)?.with_status(status))
}

/// 204 No Content.
pub fn no_content() -> AppResult<Response> {
    Ok(Response::empty()?.with_status(204))
}

/// The body of an error response.
pub fn error_body(error: &AppError, request_id: &str) -> serde_json::Value {
    serde_json::json!({
        "error": {
            "code": error.code,
            "message": error.message,
            "request_id": request_id,
        }
    })
}

fn error_response(error: &AppError, request_id: &str) -> Response {
    let body = error_body(error, request_id);
    let mut response = Response::from_json(&body)
        .unwrap_or_else(|_| Response::error("internal error", 500).expect("static response"))
        .with_status(error.status);
    if let Some(seconds) = error.retry_after {
        let _ = response
            .headers_mut()
            .set("retry-after", &seconds.to_string());
    }
    if let Some(challenge) = &error.www_authenticate {
        let _ = response.headers_mut().set("www-authenticate", challenge);
    }
    response
}

/// Runs one request through the pipeline. Never fails: every error becomes a response.
pub async fn handle(req: Request, env: Env) -> Response {
    let now = util::now_ms();
    // The entry point (workers/entry.mjs) assigns the id so that even a crash reports it.
    let request_id = req
        .headers()
        .get("x-request-id")
        .ok()
        .flatten()
        .filter(|id| id.starts_with("req_") && id.len() <= 40)
        .unwrap_or_else(|| util::new_id("req", now));
    let method = req.method();
    let url = match req.url() {
        Ok(url) => url,
        Err(error) => {
            let error = AppError::internal(error);
            return error_response(&error, &request_id);
        }
    };
    let headers = req.headers().clone();
    let ip = headers.get("cf-connecting-ip").ok().flatten();
    let mut ctx = Ctx {
        env,
        request_id: request_id.clone(),
        method: method.clone(),
        url: url.clone(),
        headers,
        ip,
        now,
        params: Vec::new(),
        principal: None,
        set_cookies: Vec::new(),
    };

    // Lets the end-to-end tests prove that a crash becomes a clean 500; only honoured where
    // the FAULT_INJECTION variable is set (never in the deployed configuration).
    if ctx.var("FAULT_INJECTION").as_deref() == Some("1")
        && ctx.header("x-fault-injection").as_deref() == Some("panic")
    {
        panic!("fault injected by request {request_id}");
    }

    // Benchmark hook (`npm run bench`): hashes a password N times so that the Argon2id cost
    // inside workerd can be measured from outside (the runtime's clock does not advance during
    // computation). Only where BENCH_HOOKS is set; never in the deployed configuration.
    if ctx.var("BENCH_HOOKS").as_deref() == Some("1") {
        if let Some(rounds) = ctx
            .header("x-bench-argon2-rounds")
            .and_then(|n| n.parse::<u32>().ok())
        {
            return bench_argon2(&request_id, rounds.min(50));
        }
    }

    let mut allow = None;
    // The MCP endpoint and its metadata document live outside the /v1 route table.
    let special = crate::mcp::special_path(url.path());
    // PostHog's clients call fixed paths outside /v1 (capture and flags).
    let posthog = crate::analytics::capture::posthog_path(url.path());
    let (route_template, result) = match router::find(ROUTES, &method, url.path()) {
        _ if special.is_some() => (special, crate::mcp::serve(&mut ctx, req).await),
        _ if posthog.is_some() => (
            posthog,
            crate::analytics::capture::serve_posthog(&mut ctx, req).await,
        ),
        router::Match::Found(route, params) => {
            ctx.params = params;
            (
                Some(route.path),
                routes::dispatch(route.op, &mut ctx, req).await,
            )
        }
        router::Match::MethodNotAllowed(allowed) => {
            let names: Vec<String> = allowed.iter().map(|m| m.to_string()).collect();
            let names = names.join(", ");
            let error = AppError::new(405, "method_not_allowed", format!("use one of: {names}"));
            // RFC 9110 §15.5.6: a 405 names the methods the resource supports.
            allow = Some(names);
            (None, Err(error))
        }
        router::Match::NotFound => (
            None,
            Err(AppError::new(
                404,
                "route_not_found",
                format!("no route for {} {}", method, url.path()),
            )),
        ),
    };

    let (mut response, internal) = match result {
        Ok(response) => (response, None),
        Err(mut error) => {
            // Every 401 tells the client how to authenticate (RFC 9110 §11.6.1), whichever
            // check refused it; a login refused for its password did present no token.
            if error.status == 401 && error.www_authenticate.is_none() {
                let invalid_token = error.code != "invalid_credentials";
                error.www_authenticate = Some(identity::challenge(&url, invalid_token));
            }
            (error_response(&error, &request_id), error.internal.clone())
        }
    };
    let status = response.status_code();
    let response_headers = response.headers_mut();
    let _ = response_headers.set("x-request-id", &request_id);
    if let Some(allow) = &allow {
        let _ = response_headers.set("allow", allow);
    }
    if response_headers
        .get("cache-control")
        .ok()
        .flatten()
        .is_none()
    {
        let _ = response_headers.set("cache-control", "no-store");
    }
    let _ = response_headers.set("x-content-type-options", "nosniff");
    for cookie in &ctx.set_cookies {
        let _ = response_headers.append("set-cookie", cookie);
    }

    let duration_ms = util::now_ms() - now;
    let _ = response_headers.set(
        "server-timing",
        &crate::analytics::tracing::server_timing(duration_ms),
    );
    let route_name = format!("{} {}", method, route_template.unwrap_or("unmatched"));
    crate::analytics::tracing::record(&route_name, now, duration_ms as f64);
    if status >= 500 {
        if let Some(detail) = &internal {
            crate::analytics::errors::capture_quietly(
                &ctx.env,
                crate::analytics::errors::Captured {
                    scope: crate::analytics::errors::PLATFORM.into(),
                    source: "worker".into(),
                    message: detail.clone(),
                    location: Some(route_name.clone()),
                    release: ctx.var("RELEASE"),
                    request_id: Some(request_id.clone()),
                    ..Default::default()
                },
            )
            .await;
        }
    }
    let (actor_type, actor_id) = ctx
        .principal
        .as_ref()
        .map(|p| (p.actor_type(), Some(p.actor_id().to_string())))
        .unwrap_or(("anonymous", None));
    let line = serde_json::json!({
        "level": if status >= 500 { "error" } else { "info" },
        "msg": "request",
        "request_id": request_id,
        "method": method.to_string(),
        "path": url.path(),
        "route": route_template,
        "status": status,
        "duration_ms": duration_ms,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "error": internal,
    });
    worker::console_log!("{}", line);
    response
}

fn bench_argon2(request_id: &str, rounds: u32) -> Response {
    let mut last = String::new();
    for _ in 0..rounds {
        match crate::identity::password::hash("bench-password-for-timing") {
            Ok(hash) => last = hash,
            Err(error) => return error_response(&error, request_id),
        }
    }
    Response::from_json(&serde_json::json!({ "rounds": rounds, "hash_length": last.len() }))
        .unwrap_or_else(|_| error_response(&AppError::internal("bench response"), request_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Role;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed, to see which bodies are accepted")]
    struct Body {
        name: String,
        role: Role,
    }

    fn status(json: &str) -> (u16, String) {
        match parse_json::<Body>(json.as_bytes()) {
            Ok(_) => (200, String::new()),
            Err(error) => (error.status, error.code),
        }
    }

    #[test]
    fn malformed_json_is_400_whatever_the_fields() {
        for json in [
            "",
            "{",
            "{\"name\": }",
            "{'name': 'a'}",
            "{\"unknown\": 1} trailing",
            "{\"a\":1,}",
        ] {
            assert_eq!(status(json), (400, "malformed_json".into()), "{json}");
        }
    }

    #[test]
    fn well_formed_but_wrong_is_422() {
        for json in [
            "{}",
            "{\"name\": \"a\"}",
            "{\"name\": 1, \"role\": \"viewer\"}",
            "{\"name\": \"a\", \"role\": 3}",
            "{\"name\": \"a\", \"role\": null}",
            "{\"name\": \"a\", \"role\": \"root\"}",
            "{\"name\": \"a\", \"role\": \"viewer\", \"extra\": true}",
            "[\"a\", \"viewer\"]",
            "\"a\"",
            "null",
        ] {
            assert_eq!(status(json), (422, "invalid_request".into()), "{json}");
        }
        assert_eq!(
            status(" {\"name\": \"a\", \"role\": \"viewer\"} "),
            (200, String::new())
        );
    }
}
