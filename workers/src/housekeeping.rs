//! Work run by the cron trigger, and the recording of rooms' events (whose queue messages the
//! jobs consumer, [`crate::jobs::consumer`], hands over).

use worker::Env;

use crate::args;
use crate::db::Db;
use crate::http::AppResult;
use crate::util;

/// Sessions and login states are kept this long after they end, for the audit of incidents.
const RETENTION_MS: i64 = 30 * 24 * 3600 * 1000;

/// Cron: purges ended sessions past retention and stale OpenID login states.
pub async fn purge_expired(env: &Env) -> AppResult<(usize, usize)> {
    let db = Db(env.d1("DB")?);
    let now = util::now_ms();
    let sessions = db
        .run(
            "DELETE FROM sessions WHERE absolute_expires_at < ?1 OR idle_expires_at < ?1 OR revoked_at < ?1",
            args![now - RETENTION_MS],
        )
        .await?;
    let logins = db
        .run("DELETE FROM oidc_logins WHERE expires_at < ?1", args![now])
        .await?;
    Ok((sessions, logins))
}

/// Records a room's `event` queue message in the analytics event stream, keyed by its message
/// id so that a redelivery records nothing twice. Called by the jobs consumer.
pub async fn record_event(env: &Env, message_id: &str, body: &serde_json::Value) -> AppResult<()> {
    let db = Db(env.d1("DB")?);
    let name = body["name"].as_str().unwrap_or("unknown");
    let at = body["at"].as_i64().unwrap_or_else(util::now_ms);
    let details: serde_json::Value = body["details"]
        .as_str()
        .and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or(serde_json::Value::Null);
    let properties = serde_json::json!({
        "project_id": body["project_id"],
        "details": details,
    });
    db.run(
        "INSERT OR IGNORE INTO events (id, org_id, at, name, actor_type, actor_id, request_id, properties)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
        args![
            format!("evt_q_{message_id}"),
            body["org_id"].as_str(),
            at,
            name,
            details["by"]["type"].as_str().unwrap_or("system"),
            details["by"]["id"].as_str(),
            properties.to_string(),
        ],
    )
    .await?;
    Ok(())
}
