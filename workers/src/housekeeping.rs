//! Work run by the cron trigger and the queue consumers.

use worker::{Env, MessageBatch, MessageExt};

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

/// Queue consumer. Messages of the jobs queue name a job kind; a kind this build does not know
/// is retried (a newer deployment may know it) and ends in the dead-letter queue after the
/// configured retries. Dead letters are logged for the operator.
pub async fn consume(batch: MessageBatch<serde_json::Value>) {
    let dead = batch.queue().ends_with("-dlq");
    for message in batch.messages().into_iter().flatten() {
        let kind = message
            .body()
            .get("type")
            .and_then(|t| t.as_str())
            .unwrap_or("unknown")
            .to_string();
        let line = serde_json::json!({
            "level": if dead { "error" } else { "warn" },
            "msg": if dead { "job dead-lettered" } else { "no handler for job kind" },
            "queue": batch.queue(),
            "kind": kind,
            "message_id": message.id(),
        });
        worker::console_log!("{}", line);
        if dead {
            message.ack();
        } else {
            message.retry();
        }
    }
}
