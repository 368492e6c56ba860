//! Error capture: the Worker's internal errors and panics, queue consumer failures and
//! browser errors posted by the editor, grouped into issues by fingerprint, with counts and
//! first/last seen, and forwarded to Sentry when `SENTRY_DSN` is set.
//!
//! The fingerprint is the SHA-256 of the source, the normalised message (numbers, ids and hex
//! runs replaced by placeholders, so `job_01J… failed after 3 attempts` and `job_01K… failed
//! after 5 attempts` are one issue) and the top stack frame with its origin stripped.
//! `workers/entry.mjs` applies the same rules to crashes it records itself.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use worker::{Env, Request, Response};

use crate::args;
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::{self, authorize, Permission};
use crate::util;

/// Longest message kept.
pub const MAX_MESSAGE: usize = 2_000;
/// Longest stack kept.
pub const MAX_STACK: usize = 16_000;
/// Scope of the platform's own errors (those of no organisation).
pub const PLATFORM: &str = "platform";

/// Replaces the variable parts of a message: runs of digits → `<n>`, prefixed ids
/// (`job_01J…`) → `job_<id>`, long hex or mixed alphanumeric runs → `<id>`; collapses spaces.
pub fn normalise_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut token = String::new();
    let mut last_space = false;
    let flush = |token: &mut String, out: &mut String| {
        if !token.is_empty() {
            out.push_str(&normalise_token(token));
            token.clear();
        }
    };
    for ch in message.chars() {
        if ch.is_ascii_alphanumeric() || ch == '_' {
            token.push(ch);
            last_space = false;
        } else {
            flush(&mut token, &mut out);
            if ch.is_whitespace() {
                if !last_space {
                    out.push(' ');
                }
                last_space = true;
            } else {
                out.push(ch);
                last_space = false;
            }
        }
    }
    flush(&mut token, &mut out);
    out.trim().to_string()
}

fn normalise_token(token: &str) -> String {
    if token.chars().all(|c| c.is_ascii_digit()) {
        return "<n>".to_string();
    }
    if let Some((prefix, rest)) = token.rsplit_once('_') {
        if rest.len() >= 16 && rest.chars().all(|c| c.is_ascii_alphanumeric()) {
            return format!("{prefix}_<id>");
        }
    }
    let has_digit = token.chars().any(|c| c.is_ascii_digit());
    let hex = token.strip_prefix("0x").unwrap_or(token);
    if has_digit && hex.len() >= 8 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return "<id>".to_string();
    }
    if has_digit && token.len() >= 16 {
        return "<id>".to_string();
    }
    token.to_string()
}

/// The top frame of a stack (the first line that names a location), without the origin of
/// URLs (`https://host/js/app.js:10:5` → `/js/app.js:10:5`).
pub fn top_frame(stack: &str) -> Option<String> {
    let line = stack
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("at ") || line.contains('@') || line.contains(".rs:"))?;
    let mut frame = line.to_string();
    for scheme in ["https://", "http://"] {
        while let Some(start) = frame.find(scheme) {
            let after = &frame[start + scheme.len()..];
            let end = after.find('/').unwrap_or(after.len());
            frame.replace_range(start..start + scheme.len() + end, "");
        }
    }
    Some(frame)
}

/// The issue fingerprint: hex SHA-256 of source, normalised message and location.
pub fn fingerprint(source: &str, message: &str, location: Option<&str>) -> String {
    let text = format!(
        "{source}\n{}\n{}",
        normalise_message(message),
        location.unwrap_or("")
    );
    util::sha256_hex(text.as_bytes())[..32].to_string()
}

/// One captured error.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// Organisation it belongs to, or [`PLATFORM`].
    pub scope: String,
    /// `worker`, `durable_object`, `queue` or `browser`.
    pub source: String,
    /// The message (truncated to [`MAX_MESSAGE`]).
    pub message: String,
    /// Stack trace, if any.
    pub stack: Option<String>,
    /// Where it happened (top frame, or file:line of a panic); derived from the stack if absent.
    pub location: Option<String>,
    /// Release (version) of the code that failed.
    pub release: Option<String>,
    /// The request it happened in.
    pub request_id: Option<String>,
    /// Page URL (browser errors).
    pub url: Option<String>,
    /// Browser user agent.
    pub user_agent: Option<String>,
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

/// Records an error: the issue (created, or its count and last seen bumped) and the occurrence,
/// in one batch. Returns the issue id and fingerprint.
pub async fn capture(env: &Env, error: Captured) -> AppResult<(String, String)> {
    let db = Db(env.d1("DB")?);
    let now = util::now_ms();
    let message = truncate(&error.message, MAX_MESSAGE);
    let stack = error.stack.as_deref().map(|s| truncate(s, MAX_STACK));
    let location = error
        .location
        .clone()
        .or_else(|| stack.as_deref().and_then(top_frame))
        .map(|l| truncate(&l, 500));
    let fingerprint = fingerprint(&error.source, &message, location.as_deref());
    let issue = db.stmt(
        "INSERT INTO error_issues (id, scope, fingerprint, source, message, location, release, count, first_seen, last_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8)
         ON CONFLICT (scope, fingerprint) DO UPDATE SET count = count + 1, last_seen = excluded.last_seen,
           release = COALESCE(excluded.release, release)",
        args![
            util::new_id("iss", now),
            error.scope.as_str(),
            fingerprint.as_str(),
            error.source.as_str(),
            message.as_str(),
            location.clone(),
            error.release.clone(),
            now,
        ],
    )?;
    let occurrence = db.stmt(
        "INSERT INTO error_events (id, issue_id, at, request_id, message, stack, release, url, user_agent)
         SELECT ?1, id, ?2, ?3, ?4, ?5, ?6, ?7, ?8 FROM error_issues WHERE scope = ?9 AND fingerprint = ?10",
        args![
            util::new_id("err", now),
            now,
            error.request_id.clone(),
            message.as_str(),
            stack.clone(),
            error.release.clone(),
            error.url.as_deref().map(|u| truncate(u, 2_000)),
            error.user_agent.as_deref().map(|u| truncate(u, 500)),
            error.scope.as_str(),
            fingerprint.as_str(),
        ],
    )?;
    db.batch(vec![issue, occurrence]).await?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
    }
    let row: Option<Row> = db
        .first(
            "SELECT id FROM error_issues WHERE scope = ?1 AND fingerprint = ?2",
            args![error.scope.as_str(), fingerprint.as_str()],
        )
        .await?;
    let issue_id = row.map(|r| r.id).unwrap_or_default();
    forward_to_sentry(env, &error, &message, &fingerprint).await;
    Ok((issue_id, fingerprint))
}

/// Records an error and logs (never raises) a failure to record it: used on paths that are
/// already failing.
pub async fn capture_quietly(env: &Env, error: Captured) {
    if let Err(failure) = capture(env, error).await {
        let line = serde_json::json!({
            "level": "warn", "msg": "error not captured",
            "error": failure.internal.unwrap_or(failure.message),
        });
        worker::console_log!("{}", line);
    }
}

/// Parts of a Sentry DSN: `https://<public key>@<host>/<project id>`.
#[derive(Debug, PartialEq, Eq)]
pub struct SentryDsn {
    /// The envelope endpoint.
    pub envelope_url: String,
    /// The public key for `X-Sentry-Auth`.
    pub public_key: String,
}

/// Parses a DSN; `None` if it is not one.
pub fn parse_dsn(dsn: &str) -> Option<SentryDsn> {
    let url = url::Url::parse(dsn).ok()?;
    let public_key = url.username().to_string();
    let project = url.path().trim_matches('/').rsplit('/').next()?.to_string();
    if public_key.is_empty() || project.is_empty() {
        return None;
    }
    let mut base = format!("{}://{}", url.scheme(), url.host_str()?);
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    Some(SentryDsn {
        envelope_url: format!("{base}/api/{project}/envelope/"),
        public_key,
    })
}

/// A Sentry envelope (header line, item header, event) for one error.
pub fn sentry_envelope(error: &Captured, message: &str, fingerprint: &str, now_ms: i64) -> String {
    let event_id =
        util::sha256_hex(format!("{fingerprint}{now_ms}{message}").as_bytes())[..32].to_string();
    let event = serde_json::json!({
        "event_id": event_id,
        "timestamp": now_ms as f64 / 1000.0,
        "platform": if error.source == "browser" { "javascript" } else { "native" },
        "level": "error",
        "release": error.release,
        "fingerprint": [fingerprint],
        "tags": { "source": error.source, "scope": error.scope, "request_id": error.request_id },
        "exception": { "values": [{ "type": "Error", "value": message }] },
        "request": error.url.as_ref().map(|url| serde_json::json!({ "url": url })),
    });
    let event = event.to_string();
    format!(
        "{}\n{}\n{}\n",
        serde_json::json!({ "event_id": event_id, "sent_at": util::rfc3339(now_ms) }),
        serde_json::json!({ "type": "event", "length": event.len() }),
        event
    )
}

async fn forward_to_sentry(env: &Env, error: &Captured, message: &str, fingerprint: &str) {
    let Some(dsn) = env
        .var("SENTRY_DSN")
        .ok()
        .map(|v| v.to_string())
        .filter(|v| !v.is_empty())
        .and_then(|v| parse_dsn(&v))
    else {
        return;
    };
    let body = sentry_envelope(error, message, fingerprint, util::now_ms());
    let headers = worker::Headers::new();
    let _ = headers.set("content-type", "application/x-sentry-envelope");
    let _ = headers.set(
        "x-sentry-auth",
        &format!(
            "Sentry sentry_version=7, sentry_client=creator-os/0.1, sentry_key={}",
            dsn.public_key
        ),
    );
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()));
    let sent = match Request::new_with_init(&dsn.envelope_url, &init) {
        Ok(request) => worker::Fetch::Request(request).send().await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(failure) = sent {
        let line = serde_json::json!({ "level": "warn", "msg": "sentry forwarding failed", "error": failure.to_string() });
        worker::console_log!("{}", line);
    }
}

/// Installs (once per instance) a panic hook that leaves the panic's message and location in
/// `globalThis.__creatorOsPanic`, where `workers/entry.mjs` reads them when the instance traps,
/// to record the crash as an issue; the message is also logged.
pub fn install_panic_hook() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            let location = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let record = js_sys::Object::new();
            let _ = js_sys::Reflect::set(&record, &"message".into(), &message.as_str().into());
            let _ = js_sys::Reflect::set(&record, &"location".into(), &location.as_str().into());
            let _ = js_sys::Reflect::set(&js_sys::global(), &"__creatorOsPanic".into(), &record);
            let line = serde_json::json!({ "level": "error", "msg": "panic", "error": message, "location": location });
            worker::console_error!("{}", line);
        }));
    });
}

// ---------------------------------------------------------------- HTTP

/// `POST /v1/errors`: an error seen by the browser editor.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BrowserErrorBody {
    /// The error message (1 to 2,000 characters).
    pub message: String,
    /// The stack, if the browser gave one.
    #[serde(default)]
    pub stack: Option<String>,
    /// Where: `file:line:column`.
    #[serde(default)]
    pub location: Option<String>,
    /// The page's URL.
    #[serde(default)]
    pub url: Option<String>,
    /// The editor's release.
    #[serde(default)]
    pub release: Option<String>,
    /// The organisation the page was working in (the caller must belong to it).
    #[serde(default)]
    pub org_id: Option<String>,
}

/// The issue an error was grouped into.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CapturedResponse {
    /// `iss_…`
    pub issue_id: String,
    /// The grouping fingerprint.
    pub fingerprint: String,
}

/// `POST /v1/errors`
pub async fn post_browser_error(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let body: BrowserErrorBody = ctx.json(&mut req).await?;
    let message = body.message.trim();
    if message.is_empty() || message.len() > MAX_MESSAGE {
        return Err(AppError::invalid(
            "invalid_message",
            format!("message must be 1 to {MAX_MESSAGE} characters"),
        ));
    }
    if body.stack.as_ref().is_some_and(|s| s.len() > MAX_STACK) {
        return Err(AppError::invalid(
            "invalid_stack",
            format!("stack must be at most {MAX_STACK} characters"),
        ));
    }
    // Anyone may report (errors happen before sign-in too), within a per-client budget.
    let ip = ctx.ip.clone().unwrap_or_else(|| "unknown".to_string());
    identity::throttle::take(
        ctx,
        &format!("errors:ip:{ip}"),
        identity::throttle::Budget {
            capacity: ctx.var_f64("ERRORS_IP_BURST", 60.0),
            refill_per_second: ctx.var_f64("ERRORS_IP_PER_MINUTE", 60.0) / 60.0,
        },
    )
    .await?;
    let scope = match &body.org_id {
        Some(org_id) => {
            authorize(ctx, org_id, Permission::Read).await?;
            org_id.clone()
        }
        None => PLATFORM.to_string(),
    };
    let (issue_id, fingerprint) = capture(
        &ctx.env,
        Captured {
            scope,
            source: "browser".into(),
            message: message.to_string(),
            stack: body.stack,
            location: body.location,
            release: body.release,
            request_id: Some(ctx.request_id.clone()),
            url: body.url,
            user_agent: ctx.header("user-agent"),
        },
    )
    .await?;
    http::json(
        202,
        &CapturedResponse {
            issue_id,
            fingerprint,
        },
    )
}

/// An issue: errors of one fingerprint.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct IssueView {
    /// `iss_…`
    pub id: String,
    /// The grouping fingerprint.
    pub fingerprint: String,
    /// `worker`, `durable_object`, `queue` or `browser`.
    pub source: String,
    /// The first occurrence's message.
    pub message: String,
    /// Top frame or file:line.
    pub location: Option<String>,
    /// The latest release seen.
    pub release: Option<String>,
    /// Occurrences.
    pub count: i64,
    /// First occurrence, RFC 3339.
    pub first_seen: String,
    /// Latest occurrence, RFC 3339.
    pub last_seen: String,
    /// Request id of the latest occurrence.
    pub last_request_id: Option<String>,
}

/// Issues, most recently seen first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct IssueList {
    /// The issues.
    pub items: Vec<IssueView>,
}

async fn list_scope(ctx: &Ctx, scope: &str) -> AppResult<Response> {
    let limit = ctx.query_limit(50, 200)?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        fingerprint: String,
        source: String,
        message: String,
        location: Option<String>,
        release: Option<String>,
        count: i64,
        first_seen: i64,
        last_seen: i64,
        last_request_id: Option<String>,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT i.id, i.fingerprint, i.source, i.message, i.location, i.release, i.count, i.first_seen, i.last_seen,
               (SELECT request_id FROM error_events e WHERE e.issue_id = i.id ORDER BY e.at DESC, e.id DESC LIMIT 1) AS last_request_id
             FROM error_issues i WHERE i.scope = ?1 ORDER BY i.last_seen DESC, i.id DESC LIMIT ?2",
            args![scope, limit],
        )
        .await?;
    let items = rows
        .into_iter()
        .map(|row| IssueView {
            id: row.id,
            fingerprint: row.fingerprint,
            source: row.source,
            message: row.message,
            location: row.location,
            release: row.release,
            count: row.count,
            first_seen: util::rfc3339(row.first_seen),
            last_seen: util::rfc3339(row.last_seen),
            last_request_id: row.last_request_id,
        })
        .collect();
    http::json(200, &IssueList { items })
}

/// `GET /v1/orgs/{org_id}/errors`: the organisation's issues (browser errors reported in it).
pub async fn list_org_issues(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    list_scope(ctx, &org_id).await
}

/// `GET /v1/ops/errors`: the platform's issues (Worker errors and crashes; platform admins).
pub async fn list_platform_issues(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    super::require_platform_admin(ctx).await?;
    list_scope(ctx, PLATFORM).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_that_differ_only_in_ids_and_numbers_share_a_fingerprint() {
        let a = fingerprint(
            "worker",
            "job job_01JD3K8ZX4W5V6T7S8R9Q0P1N2 failed after 3 attempts (0xdeadbeef01)",
            Some("src/jobs.rs:10"),
        );
        let b = fingerprint(
            "worker",
            "job   job_01JD3K8ZX4W5V6T7S8R9Q0ZZZZ failed after 5 attempts (0xabcdef0123)",
            Some("src/jobs.rs:10"),
        );
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint(
                "worker",
                "job job_01JD3K8ZX4W5V6T7S8R9Q0P1N2 failed after 3 attempts (0xdeadbeef01)",
                Some("src/jobs.rs:11"),
            )
        );
        assert_ne!(
            a,
            fingerprint("browser", "job failed", Some("src/jobs.rs:10"))
        );
        assert_eq!(
            normalise_message("fault injected by request req_01JD3K8ZX4W5V6T7S8R9Q0P1N2"),
            "fault injected by request req_<id>"
        );
    }

    #[test]
    fn the_top_frame_drops_the_origin() {
        let stack = "TypeError: x is undefined\n    at render (https://app.example:8787/js/app.js:10:5)\n    at main (https://app.example/js/main.js:1:1)";
        assert_eq!(
            top_frame(stack).as_deref(),
            Some("at render (/js/app.js:10:5)")
        );
        assert_eq!(
            top_frame("render@http://localhost:1234/js/app.js:3:9").as_deref(),
            Some("render@/js/app.js:3:9")
        );
        assert_eq!(top_frame("no frames here"), None);
    }

    #[test]
    fn sentry_dsns_parse_into_envelope_endpoints() {
        assert_eq!(
            parse_dsn("http://abc123@127.0.0.1:9000/42"),
            Some(SentryDsn {
                envelope_url: "http://127.0.0.1:9000/api/42/envelope/".into(),
                public_key: "abc123".into(),
            })
        );
        assert_eq!(parse_dsn("not a dsn"), None);
        assert_eq!(parse_dsn("https://o1.ingest.sentry.io/42"), None);
        let envelope = sentry_envelope(
            &Captured {
                source: "browser".into(),
                ..Default::default()
            },
            "boom",
            "f00",
            1_700_000_000_000,
        );
        let lines: Vec<&str> = envelope.lines().collect();
        assert_eq!(lines.len(), 3);
        let item: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
        assert_eq!(item["length"].as_u64().unwrap() as usize, lines[2].len());
    }
}
