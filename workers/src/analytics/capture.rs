//! Event capture that PostHog's clients can talk to, and the public ingestion keys they send.
//!
//! Endpoints (as posthog-js / posthog-node call them): `POST /batch/` (`{api_key, batch: […]}`),
//! `POST /e/`, `/i/v0/e/`, `/capture/` (one event, or `{batch}`), and `POST /flags/?v=2` for flags
//! (in [`super::flags`]). Bodies may be gzip-compressed (`Content-Encoding: gzip`, or
//! `?compression=gzip-js`); any content type is accepted, as posthog-js sends `text/plain`.
//!
//! The project key is an organisation's ingestion key (`cos_pub_…`): write-only, and public by
//! design (it ships in web pages). Events are stored in `events` with `actor_type = 'person'` and
//! the distinct id as actor; the event's `uuid` makes a retried batch idempotent. `$identify`,
//! `$create_alias` and `$groupidentify` also maintain people, aliases and groups. A batch of more
//! than [`INLINE_EVENTS`] events is split into chunks sent through the ANALYTICS queue and
//! written by its consumer ([`consume`]).

use std::io::Read;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use worker::{D1PreparedStatement, Env, MessageBatch, MessageExt, Request, Response};

use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::clean_name;
use crate::identity::{authenticate, authorize, Permission};
use crate::util;

/// Ingestion key prefix.
pub const PUBLIC_KEY_PREFIX: &str = "cos_pub_";
/// Largest capture body, after decompression.
pub const MAX_CAPTURE_BODY: usize = 4 * 1024 * 1024;
/// Most events in one capture request.
pub const MAX_BATCH_EVENTS: usize = 2_000;
/// Batches up to this size are written during the request; larger ones go through the queue.
pub const INLINE_EVENTS: usize = 100;
/// Events per queue message (and per D1 batch in the consumer).
pub const QUEUE_CHUNK_EVENTS: usize = 50;
/// Target size of one queue message.
pub const QUEUE_CHUNK_BYTES: usize = 96 * 1024;
/// Largest serialized properties of one event.
pub const MAX_PROPERTIES_BYTES: usize = 16 * 1024;
/// How far in the future an event's timestamp may be (clock skew).
const MAX_FUTURE_MS: i64 = 3_600_000;

/// One event, validated and ready to store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IngestEvent {
    /// `evt_…` (from the client's uuid when it sent one).
    pub id: String,
    /// Event name.
    pub name: String,
    /// Distinct id of the person.
    pub distinct_id: String,
    /// Milliseconds since the epoch.
    pub at: i64,
    /// Properties (JSON object).
    pub properties: Value,
}

/// A chunk of events on the ANALYTICS queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestMessage {
    /// Always `analytics_events`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The organisation.
    pub org_id: String,
    /// The events.
    pub events: Vec<IngestEvent>,
}

/// Reads a capture body: gzip when the client says so (or the bytes start with gzip's magic),
/// with the size checked after decompression.
pub fn decode_body(bytes: &[u8], gzip: bool) -> AppResult<Vec<u8>> {
    let too_large = || {
        AppError::new(
            413,
            "payload_too_large",
            format!("the body exceeds {MAX_CAPTURE_BODY} bytes"),
        )
    };
    let compressed = gzip || bytes.starts_with(&[0x1f, 0x8b]);
    if !compressed {
        if bytes.len() > MAX_CAPTURE_BODY {
            return Err(too_large());
        }
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_CAPTURE_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|_| AppError::bad_request("malformed_body", "the gzip body could not be read"))?;
    if out.len() > MAX_CAPTURE_BODY {
        return Err(too_large());
    }
    Ok(out)
}

fn invalid(index: usize, message: impl std::fmt::Display) -> AppError {
    AppError::invalid("invalid_event", format!("event {index}: {message}"))
}

/// Parses an RFC 3339 timestamp to ms.
pub fn parse_rfc3339(raw: &str) -> Option<i64> {
    let at =
        time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Validates one PostHog event (`{event, distinct_id, properties, timestamp, uuid}`).
pub fn parse_event(
    index: usize,
    raw: &Value,
    now_ms: i64,
    oldest_ms: i64,
) -> AppResult<IngestEvent> {
    let object = raw
        .as_object()
        .ok_or_else(|| invalid(index, "must be an object"))?;
    let name = object
        .get("event")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty() && n.len() <= 200)
        .ok_or_else(|| invalid(index, "event must be a name of 1 to 200 characters"))?;
    let mut properties = match object.get("properties") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(invalid(index, "properties must be an object")),
    };
    let distinct_id = object
        .get("distinct_id")
        .or_else(|| properties.get("distinct_id"))
        .and_then(|d| match d {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .filter(|d| !d.is_empty() && d.len() <= 200)
        .ok_or_else(|| invalid(index, "distinct_id must be 1 to 200 characters"))?;
    let at = match object.get("timestamp").or_else(|| properties.get("$time")) {
        None | Some(Value::Null) => now_ms,
        Some(Value::String(text)) => {
            parse_rfc3339(text).ok_or_else(|| invalid(index, "timestamp must be RFC 3339"))?
        }
        Some(Value::Number(seconds)) => seconds
            .as_f64()
            .map(|s| (s * 1000.0) as i64)
            .ok_or_else(|| invalid(index, "timestamp must be RFC 3339"))?,
        Some(_) => return Err(invalid(index, "timestamp must be RFC 3339")),
    };
    if at > now_ms + MAX_FUTURE_MS || at < oldest_ms {
        return Err(invalid(
            index,
            "timestamp is outside the retention window or in the future",
        ));
    }
    // `$set` at the top level (posthog-js identify) belongs with the properties.
    for key in ["$set", "$set_once"] {
        if let Some(value) = object.get(key) {
            properties.entry(key.to_string()).or_insert(value.clone());
        }
    }
    properties.remove("token");
    let properties = Value::Object(properties);
    if properties.to_string().len() > MAX_PROPERTIES_BYTES {
        return Err(invalid(
            index,
            format!("properties exceed {MAX_PROPERTIES_BYTES} bytes"),
        ));
    }
    let id = match object.get("uuid").and_then(Value::as_str) {
        Some(uuid)
            if (8..=64).contains(&uuid.len())
                && uuid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
        {
            format!("evt_ph_{uuid}")
        }
        _ => util::new_id("evt", now_ms),
    };
    Ok(IngestEvent {
        id,
        name: name.to_string(),
        distinct_id,
        at,
        properties,
    })
}

/// The events of a capture body and the key it carries (`api_key`, `token`, or the first
/// event's `properties.token`).
pub fn parse_capture(
    body: &Value,
    now_ms: i64,
    oldest_ms: i64,
) -> AppResult<(Option<String>, Vec<IngestEvent>)> {
    let object = body.as_object().ok_or_else(|| {
        AppError::invalid("invalid_request", "the body must be a JSON object or array")
    });
    let (raw_events, key): (Vec<&Value>, Option<String>) = match body {
        Value::Array(list) => (list.iter().collect(), None),
        _ => {
            let object = object?;
            let key = object
                .get("api_key")
                .or_else(|| object.get("token"))
                .and_then(Value::as_str)
                .map(str::to_string);
            match object.get("batch") {
                Some(Value::Array(list)) => (list.iter().collect(), key),
                Some(_) => {
                    return Err(AppError::invalid(
                        "invalid_request",
                        "batch must be a list of events",
                    ))
                }
                None => (vec![body], key),
            }
        }
    };
    if raw_events.is_empty() {
        return Err(AppError::invalid("invalid_request", "no events to capture"));
    }
    if raw_events.len() > MAX_BATCH_EVENTS {
        return Err(AppError::new(
            413,
            "too_many_events",
            format!("at most {MAX_BATCH_EVENTS} events per request"),
        ));
    }
    let key = key.or_else(|| {
        raw_events
            .first()
            .and_then(|e| e["properties"]["token"].as_str())
            .map(str::to_string)
    });
    let events = raw_events
        .iter()
        .enumerate()
        .map(|(index, raw)| parse_event(index, raw, now_ms, oldest_ms))
        .collect::<AppResult<Vec<_>>>()?;
    Ok((key, events))
}

/// The organisation of a live ingestion key.
pub async fn org_of_key(db: &Db, key: &str) -> AppResult<String> {
    let refused = || AppError::new(401, "invalid_api_key", "the project API key is not valid");
    if !key.starts_with(PUBLIC_KEY_PREFIX) || key.len() > 100 {
        return Err(refused());
    }
    #[derive(Deserialize)]
    struct Row {
        org_id: String,
    }
    let row: Option<Row> = db
        .first(
            "SELECT org_id FROM analytics_keys WHERE key_hash = ?1 AND revoked_at IS NULL",
            args![util::sha256_hex(key.as_bytes())],
        )
        .await?;
    row.map(|r| r.org_id).ok_or_else(refused)
}

/// Statements that store `events` for `org_id`, with their effect on people and groups.
pub fn statements(
    db: &Db,
    org_id: &str,
    events: &[IngestEvent],
) -> AppResult<Vec<D1PreparedStatement>> {
    let mut out = Vec::with_capacity(events.len() * 2);
    for event in events {
        out.push(db.stmt(
            "INSERT OR IGNORE INTO events (id, org_id, at, name, actor_type, actor_id, request_id, properties)
             VALUES (?1, ?2, ?3, ?4, 'person', ?5, NULL, ?6)",
            args![
                event.id.as_str(),
                org_id,
                event.at,
                event.name.as_str(),
                event.distinct_id.as_str(),
                event.properties.to_string(),
            ],
        )?);
        let props = &event.properties;
        let alias = match event.name.as_str() {
            // identify(new id) after anonymous use: the anonymous id is an alias of the person.
            "$identify" => props["$anon_distinct_id"].as_str(),
            // alias(alias): `alias` is another id of distinct_id's person.
            "$create_alias" => props["alias"].as_str(),
            _ => None,
        };
        if let Some(alias) =
            alias.filter(|a| !a.is_empty() && *a != event.distinct_id && a.len() <= 200)
        {
            out.push(db.stmt(
                "INSERT INTO person_aliases (org_id, distinct_id, person_id, created_at)
                 VALUES (?1, ?2, COALESCE((SELECT person_id FROM person_aliases WHERE org_id = ?1 AND distinct_id = ?3), ?3), ?4)
                 ON CONFLICT (org_id, distinct_id) DO NOTHING",
                args![org_id, alias, event.distinct_id.as_str(), event.at],
            )?);
        }
        let set = props.get("$set").filter(|s| s.is_object());
        let set_once = props.get("$set_once").filter(|s| s.is_object());
        if set.is_some() || set_once.is_some() {
            out.push(db.stmt(
                "INSERT INTO persons (org_id, person_id, properties, updated_at)
                 VALUES (?1, COALESCE((SELECT person_id FROM person_aliases WHERE org_id = ?1 AND distinct_id = ?2), ?2),
                         json_patch(?4, ?3), ?5)
                 ON CONFLICT (org_id, person_id) DO UPDATE SET
                   properties = json_patch(json_patch(?4, persons.properties), ?3), updated_at = ?5",
                args![
                    org_id,
                    event.distinct_id.as_str(),
                    set.cloned().unwrap_or(json!({})).to_string(),
                    set_once.cloned().unwrap_or(json!({})).to_string(),
                    event.at,
                ],
            )?);
        }
        if event.name == "$groupidentify" {
            if let (Some(group_type), Some(group_key)) =
                (props["$group_type"].as_str(), props["$group_key"].as_str())
            {
                let group_set = props
                    .get("$group_set")
                    .filter(|s| s.is_object())
                    .cloned()
                    .unwrap_or(json!({}));
                out.push(db.stmt(
                    "INSERT INTO analytics_groups (org_id, group_type, group_key, properties, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (org_id, group_type, group_key) DO UPDATE SET
                       properties = json_patch(analytics_groups.properties, ?4), updated_at = ?5",
                    args![org_id, group_type, group_key, group_set.to_string(), event.at],
                )?);
            }
        }
    }
    Ok(out)
}

/// Oldest timestamp accepted and kept: `ANALYTICS_RETENTION_DAYS` (default 400) before now.
pub fn oldest_kept(env: &Env, now_ms: i64) -> i64 {
    let days = env
        .var("ANALYTICS_RETENTION_DAYS")
        .ok()
        .and_then(|v| v.to_string().parse::<i64>().ok())
        .filter(|d| *d > 0)
        .unwrap_or(400);
    now_ms - days * 86_400_000
}

/// What a capture endpoint answers (PostHog's clients read `status`).
#[derive(Debug, Serialize, JsonSchema)]
pub struct CaptureResponse {
    /// Always 1.
    pub status: i64,
    /// Events accepted.
    pub accepted: usize,
    /// Whether they were queued for writing rather than written already.
    pub queued: bool,
}

/// `POST /batch/`, `/e/`, `/i/v0/e/`, `/capture/`: PostHog-compatible capture.
pub async fn capture(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let declared = ctx
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > MAX_CAPTURE_BODY) {
        return Err(AppError::new(
            413,
            "payload_too_large",
            format!("the body exceeds {MAX_CAPTURE_BODY} bytes"),
        ));
    }
    let bytes = req.bytes().await.map_err(|_| {
        AppError::bad_request("malformed_body", "the request body could not be read")
    })?;
    let gzip = ctx
        .header("content-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"))
        || ctx
            .query("compression")
            .is_some_and(|c| c == "gzip-js" || c == "gzip");
    let body = decode_body(&bytes, gzip)?;
    let value: Value = serde_json::from_slice(&body).map_err(|error| {
        AppError::bad_request("malformed_json", format!("malformed JSON: {error}"))
    })?;
    let oldest = oldest_kept(&ctx.env, ctx.now);
    let (key, events) = parse_capture(&value, ctx.now, oldest)?;
    let key = key.or_else(|| ctx.query("token")).ok_or_else(|| {
        AppError::new(
            401,
            "invalid_api_key",
            "send the project API key as api_key",
        )
    })?;
    let db = ctx.db()?;
    let org_id = org_of_key(&db, &key).await?;
    let accepted = events.len();
    let queued = accepted > INLINE_EVENTS;
    if queued {
        let queue = ctx.env.queue("ANALYTICS")?;
        for chunk in chunks(&events) {
            queue
                .send(IngestMessage {
                    kind: "analytics_events".into(),
                    org_id: org_id.clone(),
                    events: chunk,
                })
                .await?;
        }
    } else {
        db.batch(statements(&db, &org_id, &events)?).await?;
    }
    http::json(
        200,
        &CaptureResponse {
            status: 1,
            accepted,
            queued,
        },
    )
}

/// Splits events into queue messages of at most [`QUEUE_CHUNK_EVENTS`] events and about
/// [`QUEUE_CHUNK_BYTES`] bytes (a queue message holds at most 128 KB).
pub fn chunks(events: &[IngestEvent]) -> Vec<Vec<IngestEvent>> {
    let mut out: Vec<Vec<IngestEvent>> = Vec::new();
    let mut size = 0;
    for event in events {
        let event_size = event.properties.to_string().len() + event.name.len() + 200;
        let full = out
            .last()
            .is_none_or(|c| c.len() >= QUEUE_CHUNK_EVENTS || size + event_size > QUEUE_CHUNK_BYTES);
        if full {
            out.push(Vec::new());
            size = 0;
        }
        size += event_size;
        if let Some(chunk) = out.last_mut() {
            chunk.push(event.clone());
        }
    }
    out
}

/// The PostHog client paths this Worker serves: capture (`/batch/`, `/e/`, `/i/v0/e/`,
/// `/capture/`, `/track/`) and flags (`/flags/`, `/decide/`). They live outside the `/v1` route
/// table, as PostHog's clients fix them; the trailing slash is optional.
pub fn posthog_path(path: &str) -> Option<&'static str> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    match trimmed {
        "/batch" => Some("/batch/"),
        "/e" => Some("/e/"),
        "/i/v0/e" => Some("/i/v0/e/"),
        "/capture" => Some("/capture/"),
        "/track" => Some("/track/"),
        "/flags" => Some("/flags/"),
        "/decide" => Some("/decide/"),
        _ => None,
    }
}

/// Serves a [`posthog_path`]: POST only (OPTIONS answers CORS preflights), readable from any
/// origin, as PostHog's endpoints are (the ingestion key is public and write-only).
pub async fn serve_posthog(ctx: &mut Ctx, req: Request) -> AppResult<Response> {
    let path = posthog_path(ctx.url.path()).unwrap_or("");
    let mut response = match ctx.method {
        worker::Method::Options => Response::empty().map(|r| r.with_status(204))?,
        worker::Method::Post if path == "/flags/" || path == "/decide/" => {
            super::flags::posthog_flags(ctx, req).await?
        }
        worker::Method::Post => capture(ctx, req).await?,
        _ => return Err(AppError::new(405, "method_not_allowed", "use one of: POST")),
    };
    let headers = response.headers_mut();
    headers.set("access-control-allow-origin", "*")?;
    headers.set("access-control-allow-methods", "POST, OPTIONS")?;
    headers.set(
        "access-control-allow-headers",
        "content-type, content-encoding",
    )?;
    Ok(response)
}

/// The consumer of the ANALYTICS queue: writes each chunk in one D1 batch (idempotent: event
/// ids come from the clients' uuids or were fixed before queueing).
pub async fn consume(batch: MessageBatch<Value>, env: &Env) {
    let messages = match batch.messages() {
        Ok(messages) => messages,
        Err(_) => {
            batch.retry_all();
            return;
        }
    };
    let db = match env.d1("DB") {
        Ok(db) => Db(db),
        Err(_) => {
            batch.retry_all();
            return;
        }
    };
    for message in messages {
        let parsed: Result<IngestMessage, _> = serde_json::from_value(message.body().clone());
        let outcome = match parsed {
            Ok(chunk) => match statements(&db, &chunk.org_id, &chunk.events) {
                Ok(statements) => db.batch(statements).await.map(|_| ()),
                Err(error) => Err(error),
            },
            Err(error) => Err(AppError::internal(error)),
        };
        match outcome {
            Ok(()) => message.ack(),
            Err(error) => {
                let detail = error.internal.clone().unwrap_or(error.message.clone());
                super::errors::capture_quietly(
                    env,
                    super::errors::Captured {
                        scope: super::errors::PLATFORM.into(),
                        source: "queue".into(),
                        message: format!("analytics chunk not written: {detail}"),
                        location: Some("analytics::capture::consume".into()),
                        ..Default::default()
                    },
                )
                .await;
                message.retry();
            }
        }
    }
}

// ---------------------------------------------------------------- ingestion keys

/// `POST /v1/orgs/{org_id}/analytics/keys`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyBody {
    /// A name to recognise the key by (e.g. the site it is used on).
    pub name: String,
}

/// An ingestion key as listed (the key itself is shown only once).
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyView {
    /// `apk_…`
    pub id: String,
    /// Name.
    pub name: String,
    /// The first characters of the key.
    pub prefix: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339, once revoked.
    pub revoked_at: Option<String>,
}

/// A new ingestion key.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyCreated {
    /// The key's record.
    #[serde(flatten)]
    pub view: KeyView,
    /// The key: give it to posthog-js / posthog-node as the project API key. Shown once.
    pub key: String,
}

/// Ingestion keys of an organisation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct KeyList {
    /// Newest first.
    pub items: Vec<KeyView>,
}

/// `POST /v1/orgs/{org_id}/analytics/keys` (admin)
pub async fn create_key(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: CreateKeyBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "key name")?;
    let principal = authenticate(ctx).await?;
    let db = ctx.db()?;
    let id = util::new_id("apk", ctx.now);
    let key = format!(
        "{PUBLIC_KEY_PREFIX}{}",
        util::new_secret().replace(['-', '_'], "x")
    );
    let prefix: String = key.chars().take(PUBLIC_KEY_PREFIX.len() + 6).collect();
    let insert = db.stmt(
        "INSERT INTO analytics_keys (id, org_id, name, prefix, key_hash, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        args![
            id.as_str(),
            org_id.as_str(),
            name.as_str(),
            prefix.as_str(),
            util::sha256_hex(key.as_bytes()),
            principal.actor_id(),
            ctx.now
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "analytics_key.create",
        Some(("analytics_key", &id)),
    )
    .with_details(json!({ "name": name, "prefix": prefix }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &KeyCreated {
            view: KeyView {
                id,
                name,
                prefix,
                created_at: util::rfc3339(ctx.now),
                revoked_at: None,
            },
            key,
        },
    )
}

/// `GET /v1/orgs/{org_id}/analytics/keys` (admin)
pub async fn list_keys(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        name: String,
        prefix: String,
        created_at: i64,
        revoked_at: Option<i64>,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, name, prefix, created_at, revoked_at FROM analytics_keys WHERE org_id = ?1 ORDER BY id DESC LIMIT 200",
            args![org_id.as_str()],
        )
        .await?;
    let items = rows
        .into_iter()
        .map(|r| KeyView {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_at: util::rfc3339(r.created_at),
            revoked_at: r.revoked_at.map(util::rfc3339),
        })
        .collect();
    http::json(200, &KeyList { items })
}

/// `DELETE /v1/orgs/{org_id}/analytics/keys/{key_id}` (admin)
pub async fn revoke_key(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let key_id = ctx.param("key_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let db = ctx.db()?;
    let exists: Option<Value> = db
        .first(
            "SELECT id FROM analytics_keys WHERE id = ?1 AND org_id = ?2 AND revoked_at IS NULL",
            args![key_id.as_str(), org_id.as_str()],
        )
        .await?;
    if exists.is_none() {
        return Err(AppError::not_found("analytics key"));
    }
    let update = db.stmt(
        "UPDATE analytics_keys SET revoked_at = ?1 WHERE id = ?2 AND revoked_at IS NULL",
        args![ctx.now, key_id.as_str()],
    )?;
    let record = Record::success(
        Some(&org_id),
        "analytics_key.revoke",
        Some(("analytics_key", &key_id)),
    );
    audit::commit(ctx, &db, vec![update], record, None).await?;
    http::no_content()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn posthog_batches_parse_with_their_key() {
        let body = json!({
            "api_key": "cos_pub_x",
            "batch": [
                {"event": "video_viewed", "distinct_id": "u1", "properties": {"plan": "pro"},
                 "timestamp": "2026-05-28T20:26:40Z", "uuid": "0190e4a5-0000-7000-8000-000000000001"},
                {"event": "$identify", "distinct_id": "u1", "properties": {"$anon_distinct_id": "anon-1"}, "$set": {"email": "a@b.co"}}
            ]
        });
        let (key, events) = parse_capture(&body, NOW, 0).unwrap();
        assert_eq!(key.as_deref(), Some("cos_pub_x"));
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].id, "evt_ph_0190e4a5-0000-7000-8000-000000000001");
        assert_eq!(events[0].at, 1_780_000_000_000);
        assert_eq!(events[1].at, NOW);
        assert_eq!(events[1].properties["$set"]["email"], "a@b.co");
    }

    #[test]
    fn bad_events_are_refused_with_their_index() {
        for (body, index) in [
            (
                json!({"batch": [{"event": "ok", "distinct_id": "a"}, {"distinct_id": "a"}]}),
                1,
            ),
            (json!({"batch": [{"event": "ok"}]}), 0),
            (
                json!({"event": "x", "distinct_id": "a", "timestamp": "yesterday"}),
                0,
            ),
            (
                json!({"event": "x", "distinct_id": "a", "timestamp": "2100-01-01T00:00:00Z"}),
                0,
            ),
            (
                json!({"event": "x", "distinct_id": "a", "properties": [1]}),
                0,
            ),
        ] {
            let error = parse_capture(&body, NOW, NOW - 86_400_000).unwrap_err();
            assert_eq!(error.status, 422, "{body}");
            assert!(
                error.message.starts_with(&format!("event {index}:")),
                "{}",
                error.message
            );
        }
        assert_eq!(
            parse_capture(&json!({"batch": []}), NOW, 0)
                .unwrap_err()
                .status,
            422
        );
    }

    #[test]
    fn queue_chunks_respect_count_and_size() {
        let small = IngestEvent {
            id: "evt_1".into(),
            name: "e".into(),
            distinct_id: "a".into(),
            at: NOW,
            properties: json!({}),
        };
        let sizes: Vec<usize> = chunks(&vec![small.clone(); 120])
            .iter()
            .map(Vec::len)
            .collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        let big = IngestEvent {
            properties: json!({ "blob": "x".repeat(15_000) }),
            ..small
        };
        for chunk in chunks(&vec![big; 20]) {
            assert!(chunk.len() <= 6, "{}", chunk.len());
        }
    }

    #[test]
    fn gzip_bodies_are_inflated_and_capped() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"{\"a\":1}").unwrap();
        let gz = encoder.finish().unwrap();
        assert_eq!(decode_body(&gz, true).unwrap(), b"{\"a\":1}");
        assert_eq!(decode_body(&gz, false).unwrap(), b"{\"a\":1}");
        assert_eq!(decode_body(b"not gzip", true).unwrap_err().status, 400);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder
            .write_all(&vec![b' '; MAX_CAPTURE_BODY + 10])
            .unwrap();
        let bomb = encoder.finish().unwrap();
        assert_eq!(decode_body(&bomb, true).unwrap_err().status, 413);
    }
}
