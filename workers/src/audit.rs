//! The audit trail and the analytics event stream.
//!
//! Every mutation records who did what, where and when: the audit row and the analytics event
//! are written in the same D1 batch as the change itself, so a change without its record (or a
//! record of a change that did not happen) cannot exist. Refused attempts that matter for
//! security (failed logins, denied actions) are recorded on their own.

use serde_json::Value;
use worker::D1PreparedStatement;

use crate::args;
use crate::db::Db;
use crate::http::{AppResult, Ctx};
use crate::util;

/// How an audited action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The change was made.
    Success,
    /// The attempt failed (bad credentials, invalid state).
    Failure,
    /// The principal was not allowed.
    Denied,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Denied => "denied",
        }
    }
}

/// One audited action.
pub struct Record<'a> {
    /// Organisation the action belongs to, if any.
    pub org_id: Option<&'a str>,
    /// Dotted action name, e.g. `org.create`.
    pub action: &'a str,
    /// Target type and id, e.g. `("org", "org_…")`.
    pub target: Option<(&'a str, &'a str)>,
    /// How it ended.
    pub outcome: Outcome,
    /// Extra structured detail; never secrets.
    pub details: Value,
}

impl<'a> Record<'a> {
    /// A successful action.
    pub fn success(
        org_id: Option<&'a str>,
        action: &'a str,
        target: Option<(&'a str, &'a str)>,
    ) -> Self {
        Self {
            org_id,
            action,
            target,
            outcome: Outcome::Success,
            details: Value::Null,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }
}

/// The actor of the current request: explicit when the request authenticates as part of
/// the action (signup, login), else the request's principal.
pub fn actor_of(ctx: &Ctx, explicit: Option<(&str, &str)>) -> (String, Option<String>) {
    if let Some((kind, id)) = explicit {
        return (kind.to_string(), Some(id.to_string()));
    }
    match &ctx.principal {
        Some(principal) => (
            principal.actor_type().to_string(),
            Some(principal.actor_id().to_string()),
        ),
        None => ("anonymous".to_string(), None),
    }
}

/// Statements that write the audit row and the analytics event for `record`.
pub fn statements(
    ctx: &Ctx,
    db: &Db,
    record: &Record<'_>,
    actor: Option<(&str, &str)>,
) -> AppResult<Vec<D1PreparedStatement>> {
    let (actor_type, actor_id) = actor_of(ctx, actor);
    let details = if record.details.is_null() {
        None
    } else {
        Some(record.details.to_string())
    };
    let audit = db.stmt(
        "INSERT INTO audit_log (id, org_id, at, actor_type, actor_id, action, target_type, target_id, result, request_id, ip, details)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        args![
            util::new_id("aud", ctx.now),
            record.org_id,
            ctx.now,
            actor_type.as_str(),
            actor_id.clone(),
            record.action,
            record.target.map(|t| t.0),
            record.target.map(|t| t.1),
            record.outcome.as_str(),
            ctx.request_id.as_str(),
            ctx.ip.clone(),
            details,
        ],
    )?;
    let mut properties = serde_json::json!({
        "result": record.outcome.as_str(),
        "target_type": record.target.map(|t| t.0),
        "target_id": record.target.map(|t| t.1),
    });
    // The details let analytics break events down (render kinds, project ids…).
    if !record.details.is_null() {
        properties["details"] = record.details.clone();
    }
    let event = db.stmt(
        "INSERT INTO events (id, org_id, at, name, actor_type, actor_id, request_id, properties)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        args![
            util::new_id("evt", ctx.now),
            record.org_id,
            ctx.now,
            record.action,
            actor_type.as_str(),
            actor_id,
            ctx.request_id.as_str(),
            properties.to_string(),
        ],
    )?;
    Ok(vec![audit, event])
}

/// Applies `changes` and their audit record atomically.
pub async fn commit(
    ctx: &Ctx,
    db: &Db,
    mut changes: Vec<D1PreparedStatement>,
    record: Record<'_>,
    actor: Option<(&str, &str)>,
) -> AppResult<Vec<usize>> {
    changes.extend(statements(ctx, db, &record, actor)?);
    let changed = db.batch(changes).await?;
    // Module events trigger workflows (module 03); never fails the change.
    crate::automation::on_event(ctx, db, &record, actor).await;
    Ok(changed)
}

/// Records an attempt that changed nothing else (failed login, denied action).
pub async fn record_attempt(
    ctx: &Ctx,
    db: &Db,
    record: Record<'_>,
    actor: Option<(&str, &str)>,
) -> AppResult<()> {
    db.batch(statements(ctx, db, &record, actor)?).await?;
    Ok(())
}
