//! Feature flags and experiments over the HTTP API: definitions (audited changes), evaluation
//! at the edge from a per-isolate cache, PostHog's `/flags/` endpoint, and experiment results.
//!
//! The cache keeps each organisation's flag set for `FLAGS_CACHE_SECONDS` (default 10) per
//! isolate; a change made through this isolate drops its entry at once, other isolates see it
//! within that time. Every cached set carries the versions it was read at.

use std::cell::RefCell;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Request, Response};

use super::rollout::{Context, Evaluation, FlagDefinition};
use super::stats;
use crate::args;
use crate::audit::{self, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::{authorize, Permission};
use crate::util;

/// A stored flag.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Flag {
    /// `flg_…`
    pub id: String,
    /// Key clients ask for.
    pub key: String,
    /// What it is for.
    pub description: String,
    /// Off for everyone when false.
    pub enabled: bool,
    /// Variants, rules and payloads.
    pub definition: FlagDefinition,
    /// Grows with every change.
    pub version: i64,
    /// RFC 3339.
    pub updated_at: String,
}

#[derive(Deserialize)]
struct FlagRow {
    id: String,
    key: String,
    description: String,
    enabled: i64,
    definition: String,
    version: i64,
    updated_at: i64,
}

impl FlagRow {
    fn into_flag(self) -> Option<Flag> {
        Some(Flag {
            definition: serde_json::from_str(&self.definition).ok()?,
            id: self.id,
            key: self.key,
            description: self.description,
            enabled: self.enabled != 0,
            version: self.version,
            updated_at: util::rfc3339(self.updated_at),
        })
    }
}

thread_local! {
    static CACHE: RefCell<BTreeMap<String, (i64, Vec<Flag>)>> = const { RefCell::new(BTreeMap::new()) };
}

fn forget(org_id: &str) {
    CACHE.with(|cache| cache.borrow_mut().remove(org_id));
}

/// The organisation's flags, from the isolate's cache when fresh.
pub async fn flags_of(ctx: &Ctx, org_id: &str) -> AppResult<Vec<Flag>> {
    let ttl = (ctx.var_f64("FLAGS_CACHE_SECONDS", 10.0) * 1000.0) as i64;
    let cached = CACHE.with(|cache| {
        cache
            .borrow()
            .get(org_id)
            .filter(|(at, _)| ctx.now - at < ttl)
            .map(|(_, flags)| flags.clone())
    });
    if let Some(flags) = cached {
        return Ok(flags);
    }
    let rows: Vec<FlagRow> = ctx
        .db()?
        .all(
            "SELECT id, key, description, enabled, definition, version, updated_at FROM feature_flags
             WHERE org_id = ?1 ORDER BY key LIMIT 1000",
            args![org_id],
        )
        .await?;
    let flags: Vec<Flag> = rows.into_iter().filter_map(FlagRow::into_flag).collect();
    CACHE.with(|cache| {
        cache
            .borrow_mut()
            .insert(org_id.to_string(), (ctx.now, flags.clone()))
    });
    Ok(flags)
}

fn clean_key(raw: &str) -> AppResult<String> {
    let key = raw.trim();
    let ok = !key.is_empty()
        && key.len() <= 100
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(AppError::invalid(
            "invalid_key",
            "keys are 1 to 100 letters, digits, - or _",
        ));
    }
    Ok(key.to_string())
}

fn check_definition(definition: &FlagDefinition) -> AppResult<String> {
    definition
        .validate()
        .map_err(|message| AppError::invalid("invalid_flag", message))?;
    let text = serde_json::to_string(definition)?;
    if text.len() > 32 * 1024 {
        return Err(AppError::new(
            413,
            "flag_too_large",
            "a flag definition is at most 32 KiB",
        ));
    }
    Ok(text)
}

/// `POST /v1/orgs/{org_id}/flags`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateFlagBody {
    /// Key clients ask for: letters, digits, `-`, `_`.
    pub key: String,
    /// What it is for.
    #[serde(default)]
    pub description: String,
    /// Default true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Variants of a multivariate flag (weights sum to 100); none for a boolean flag.
    #[serde(default)]
    pub variants: Vec<super::rollout::Variant>,
    /// Targeting rules, first match decides (none: everyone).
    #[serde(default)]
    pub rules: Vec<super::rollout::Rule>,
    /// JSON payloads by variant key (`"true"` for a boolean flag).
    #[serde(default)]
    pub payloads: BTreeMap<String, Value>,
}

fn yes() -> bool {
    true
}

/// `PATCH /v1/orgs/{org_id}/flags/{key}`: fields to change.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateFlagBody {
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// Turn on or off.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// New variants.
    #[serde(default)]
    pub variants: Option<Vec<super::rollout::Variant>>,
    /// New rules.
    #[serde(default)]
    pub rules: Option<Vec<super::rollout::Rule>>,
    /// New payloads.
    #[serde(default)]
    pub payloads: Option<BTreeMap<String, Value>>,
}

/// One flag.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FlagResponse {
    /// The flag.
    pub flag: Flag,
}

/// Flags of an organisation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct FlagList {
    /// By key.
    pub items: Vec<Flag>,
}

async fn load(ctx: &Ctx, org_id: &str, key: &str) -> AppResult<Flag> {
    let row: Option<FlagRow> = ctx
        .db()?
        .first(
            "SELECT id, key, description, enabled, definition, version, updated_at FROM feature_flags
             WHERE org_id = ?1 AND key = ?2",
            args![org_id, key],
        )
        .await?;
    row.and_then(FlagRow::into_flag)
        .ok_or_else(|| AppError::not_found("flag"))
}

/// `POST /v1/orgs/{org_id}/flags` (admin)
pub async fn create_flag(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: CreateFlagBody = ctx.json(&mut req).await?;
    let key = clean_key(&body.key)?;
    let parsed = FlagDefinition {
        variants: body.variants,
        rules: body.rules,
        payloads: body.payloads,
    };
    let definition = check_definition(&parsed)?;
    if body.description.len() > 1_000 {
        return Err(AppError::invalid(
            "invalid_description",
            "description is at most 1,000 characters",
        ));
    }
    let db = ctx.db()?;
    let id = util::new_id("flg", ctx.now);
    let insert = db.stmt(
        "INSERT INTO feature_flags (id, org_id, key, description, enabled, definition, version, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?7)",
        args![
            id.as_str(),
            org_id.as_str(),
            key.as_str(),
            body.description.as_str(),
            i64::from(body.enabled),
            definition.as_str(),
            ctx.now
        ],
    )?;
    let record = Record::success(Some(&org_id), "flag.create", Some(("flag", &id)))
        .with_details(json!({ "key": key, "enabled": body.enabled, "definition": parsed }));
    audit::commit(ctx, &db, vec![insert], record, None)
        .await
        .map_err(|error| match &error.internal {
            Some(detail) if detail.contains("UNIQUE") => {
                AppError::conflict("flag_exists", format!("a flag {key:?} exists"))
            }
            _ => error,
        })?;
    forget(&org_id);
    let flag = load(ctx, &org_id, &key).await?;
    http::json(201, &FlagResponse { flag })
}

/// `GET /v1/orgs/{org_id}/flags`
pub async fn list_flags(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    forget(&org_id);
    let items = flags_of(ctx, &org_id).await?;
    http::json(200, &FlagList { items })
}

/// `PATCH /v1/orgs/{org_id}/flags/{key}` (admin)
pub async fn update_flag(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let key = ctx.param("key").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: UpdateFlagBody = ctx.json(&mut req).await?;
    let current = load(ctx, &org_id, &key).await?;
    let mut definition = current.definition.clone();
    if let Some(variants) = body.variants {
        definition.variants = variants;
    }
    if let Some(rules) = body.rules {
        definition.rules = rules;
    }
    if let Some(payloads) = body.payloads {
        definition.payloads = payloads;
    }
    let text = check_definition(&definition)?;
    let description = body.description.unwrap_or(current.description.clone());
    if description.len() > 1_000 {
        return Err(AppError::invalid(
            "invalid_description",
            "description is at most 1,000 characters",
        ));
    }
    let enabled = body.enabled.unwrap_or(current.enabled);
    let db = ctx.db()?;
    let update = db.stmt(
        "UPDATE feature_flags SET description = ?1, enabled = ?2, definition = ?3, version = version + 1, updated_at = ?4
         WHERE id = ?5 AND version = ?6",
        args![
            description.as_str(),
            i64::from(enabled),
            text.as_str(),
            ctx.now,
            current.id.as_str(),
            current.version
        ],
    )?;
    let record = Record::success(Some(&org_id), "flag.update", Some(("flag", &current.id)))
        .with_details(json!({
            "key": key, "from_version": current.version, "enabled": enabled, "definition": definition,
        }));
    let changed = audit::commit(ctx, &db, vec![update], record, None).await?;
    if changed.first() == Some(&0) {
        return Err(AppError::conflict(
            "flag_changed",
            "the flag changed meanwhile; read it and try again",
        ));
    }
    forget(&org_id);
    let flag = load(ctx, &org_id, &key).await?;
    http::json(200, &FlagResponse { flag })
}

/// `DELETE /v1/orgs/{org_id}/flags/{key}` (admin)
pub async fn delete_flag(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let key = ctx.param("key").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let current = load(ctx, &org_id, &key).await?;
    let db = ctx.db()?;
    let delete = db.stmt(
        "DELETE FROM feature_flags WHERE id = ?1",
        args![current.id.as_str()],
    )?;
    let record = Record::success(Some(&org_id), "flag.delete", Some(("flag", &current.id)))
        .with_details(json!({ "key": key, "version": current.version }));
    audit::commit(ctx, &db, vec![delete], record, None).await?;
    forget(&org_id);
    http::no_content()
}

async fn person_properties(
    ctx: &Ctx,
    org_id: &str,
    distinct_id: &str,
) -> AppResult<serde_json::Map<String, Value>> {
    #[derive(Deserialize)]
    struct Row {
        properties: String,
    }
    let row: Option<Row> = ctx
        .db()?
        .first(
            "SELECT properties FROM persons WHERE org_id = ?1 AND person_id =
               COALESCE((SELECT person_id FROM person_aliases WHERE org_id = ?1 AND distinct_id = ?2), ?2)",
            args![org_id, distinct_id],
        )
        .await?;
    Ok(row
        .and_then(|r| serde_json::from_str::<Value>(&r.properties).ok())
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default())
}

/// Evaluates every flag (or those named) for an actor: stored person properties, overridden
/// by the ones sent.
pub async fn evaluate_all(
    ctx: &Ctx,
    org_id: &str,
    distinct_id: &str,
    sent: serde_json::Map<String, Value>,
    only: Option<&[String]>,
) -> AppResult<Vec<(Flag, Evaluation)>> {
    let flags = flags_of(ctx, org_id).await?;
    let mut properties = person_properties(ctx, org_id, distinct_id).await?;
    properties.extend(sent);
    let context = Context {
        distinct_id: distinct_id.to_string(),
        org_id: org_id.to_string(),
        properties,
    };
    Ok(flags
        .into_iter()
        .filter(|flag| only.is_none_or(|keys| keys.contains(&flag.key)))
        .map(|flag| {
            let answer = flag.definition.evaluate(&flag.key, flag.enabled, &context);
            (flag, answer)
        })
        .collect())
}

/// `POST /v1/orgs/{org_id}/flag-evaluations`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    /// The actor (person or user id).
    pub distinct_id: String,
    /// Properties to evaluate with (over the stored person properties).
    #[serde(default)]
    pub properties: serde_json::Map<String, Value>,
    /// Only these flags (default: all).
    #[serde(default)]
    pub flag_keys: Option<Vec<String>>,
}

/// Flag answers for one actor.
#[derive(Debug, Serialize, JsonSchema)]
pub struct EvaluateResponse {
    /// One per flag.
    pub flags: Vec<Evaluation>,
}

fn check_distinct_id(raw: &str) -> AppResult<String> {
    let id = raw.trim();
    if id.is_empty() || id.len() > 200 {
        return Err(AppError::invalid(
            "invalid_distinct_id",
            "distinct_id is 1 to 200 characters",
        ));
    }
    Ok(id.to_string())
}

/// `POST /v1/orgs/{org_id}/flag-evaluations` (viewer)
pub async fn evaluate(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let body: EvaluateBody = ctx.json(&mut req).await?;
    let distinct_id = check_distinct_id(&body.distinct_id)?;
    let answers = evaluate_all(
        ctx,
        &org_id,
        &distinct_id,
        body.properties,
        body.flag_keys.as_deref(),
    )
    .await?;
    http::json(
        200,
        &EvaluateResponse {
            flags: answers.into_iter().map(|(_, a)| a).collect(),
        },
    )
}

/// `POST /flags/?v=2` and `/decide/`: PostHog's flags endpoint, keyed by the ingestion key.
pub async fn posthog_flags(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let bytes = req.bytes().await.map_err(|_| {
        AppError::bad_request("malformed_body", "the request body could not be read")
    })?;
    let gzip = ctx
        .header("content-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let body = super::capture::decode_body(&bytes, gzip)?;
    if body.len() > http::MAX_JSON_BODY {
        return Err(AppError::new(
            413,
            "payload_too_large",
            "the body is too large",
        ));
    }
    let value: Value = serde_json::from_slice(&body).map_err(|error| {
        AppError::bad_request("malformed_json", format!("malformed JSON: {error}"))
    })?;
    let key = value["token"]
        .as_str()
        .or_else(|| value["api_key"].as_str())
        .ok_or_else(|| {
            AppError::new(401, "invalid_api_key", "send the project API key as token")
        })?;
    let org_id = super::capture::org_of_key(&ctx.db()?, key).await?;
    let distinct_id = check_distinct_id(value["distinct_id"].as_str().unwrap_or(""))?;
    let sent = value["person_properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let answers = evaluate_all(ctx, &org_id, &distinct_id, sent, None).await?;
    let mut flags = serde_json::Map::new();
    for (flag, answer) in answers {
        flags.insert(
            flag.key.clone(),
            json!({
                "key": flag.key,
                "enabled": answer.enabled,
                "variant": answer.variant,
                "reason": { "code": answer.reason, "condition_index": answer.rule },
                "metadata": {
                    "id": flag.id,
                    "version": flag.version,
                    "payload": answer.payload.map(|p| p.to_string()),
                },
            }),
        );
    }
    http::json(
        200,
        &json!({ "flags": flags, "errorsWhileComputingFlags": false, "requestId": ctx.request_id }),
    )
}

// ---------------------------------------------------------------- experiments

/// `POST /v1/orgs/{org_id}/experiments`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateExperimentBody {
    /// Experiment key.
    pub key: String,
    /// The multivariate flag that assigns variants (its first variant is the control).
    pub flag_key: String,
    /// The conversion event.
    pub metric_event: String,
    /// What it tests.
    #[serde(default)]
    pub description: String,
}

/// An experiment.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct Experiment {
    /// `exp_…`
    pub id: String,
    /// Key.
    pub key: String,
    /// Assigning flag.
    pub flag_key: String,
    /// Conversion event.
    pub metric_event: String,
    /// What it tests.
    pub description: String,
    /// `running` or `stopped`.
    pub status: String,
    /// Exposures are counted from this instant, RFC 3339.
    pub started_at: String,
}

/// One experiment.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExperimentResponse {
    /// The experiment.
    pub experiment: Experiment,
}

/// Experiments of an organisation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExperimentList {
    /// Newest first.
    pub items: Vec<Experiment>,
}

#[derive(Deserialize)]
struct ExperimentRow {
    id: String,
    key: String,
    flag_key: String,
    metric_event: String,
    description: String,
    status: String,
    started_at: i64,
}

impl From<ExperimentRow> for Experiment {
    fn from(row: ExperimentRow) -> Self {
        Experiment {
            id: row.id,
            key: row.key,
            flag_key: row.flag_key,
            metric_event: row.metric_event,
            description: row.description,
            status: row.status,
            started_at: util::rfc3339(row.started_at),
        }
    }
}

/// `POST /v1/orgs/{org_id}/experiments` (admin)
pub async fn create_experiment(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: CreateExperimentBody = ctx.json(&mut req).await?;
    let key = clean_key(&body.key)?;
    let flag = load(ctx, &org_id, &clean_key(&body.flag_key)?)
        .await
        .map_err(|_| {
            AppError::invalid(
                "unknown_flag",
                "flag_key names no flag of this organisation",
            )
        })?;
    if flag.definition.variants.len() < 2 {
        return Err(AppError::invalid(
            "flag_not_multivariate",
            "an experiment needs a flag with at least two variants",
        ));
    }
    let metric = body.metric_event.trim();
    if metric.is_empty() || metric.len() > 200 || body.description.len() > 1_000 {
        return Err(AppError::invalid(
            "invalid_experiment",
            "metric_event is 1 to 200 characters, description at most 1,000",
        ));
    }
    let db = ctx.db()?;
    let id = util::new_id("exp", ctx.now);
    let insert = db.stmt(
        "INSERT INTO experiments (id, org_id, key, flag_key, metric_event, description, status, started_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?7)",
        args![
            id.as_str(),
            org_id.as_str(),
            key.as_str(),
            flag.key.as_str(),
            metric,
            body.description.as_str(),
            ctx.now
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "experiment.create",
        Some(("experiment", &id)),
    )
    .with_details(json!({ "key": key, "flag_key": flag.key, "metric_event": metric }));
    audit::commit(ctx, &db, vec![insert], record, None)
        .await
        .map_err(|error| match &error.internal {
            Some(detail) if detail.contains("UNIQUE") => {
                AppError::conflict("experiment_exists", format!("an experiment {key:?} exists"))
            }
            _ => error,
        })?;
    let experiment = load_experiment(ctx, &org_id, &id).await?;
    http::json(201, &ExperimentResponse { experiment })
}

async fn load_experiment(ctx: &Ctx, org_id: &str, id: &str) -> AppResult<Experiment> {
    let row: Option<ExperimentRow> = ctx
        .db()?
        .first(
            "SELECT id, key, flag_key, metric_event, description, status, started_at FROM experiments
             WHERE org_id = ?1 AND id = ?2",
            args![org_id, id],
        )
        .await?;
    row.map(Experiment::from)
        .ok_or_else(|| AppError::not_found("experiment"))
}

/// `GET /v1/orgs/{org_id}/experiments`
pub async fn list_experiments(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let rows: Vec<ExperimentRow> = ctx
        .db()?
        .all(
            "SELECT id, key, flag_key, metric_event, description, status, started_at FROM experiments
             WHERE org_id = ?1 ORDER BY id DESC LIMIT 200",
            args![org_id.as_str()],
        )
        .await?;
    http::json(
        200,
        &ExperimentList {
            items: rows.into_iter().map(Experiment::from).collect(),
        },
    )
}

/// Results of one variant.
#[derive(Debug, Serialize, JsonSchema)]
pub struct VariantResult {
    /// Variant key.
    pub variant: String,
    /// The flag's intended share, percent.
    pub weight: f64,
    /// People exposed (first exposure decides their variant).
    pub exposures: i64,
    /// Of them, people who did the metric event after their exposure.
    pub conversions: i64,
    /// conversions / exposures.
    pub rate: f64,
    /// Wilson 95 % interval of the rate.
    pub rate_interval: [f64; 2],
    /// 95 % interval of (rate − control rate); null for the control.
    pub difference_interval: Option<[f64; 2]>,
}

/// Sample-ratio-mismatch check of the exposures against the flag's weights.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SrmCheck {
    /// Pearson's chi-square.
    pub chi_square: f64,
    /// p-value.
    pub p_value: f64,
    /// True when p < 0.001: the assignment is broken and results should not be trusted.
    pub mismatch: bool,
}

/// `GET …/experiments/{experiment_id}/results`
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExperimentResults {
    /// The experiment.
    pub experiment: Experiment,
    /// Per variant, in the flag's order (the first is the control).
    pub variants: Vec<VariantResult>,
    /// Null until at least two variants have exposures.
    pub srm: Option<SrmCheck>,
}

/// `GET /v1/orgs/{org_id}/experiments/{experiment_id}/results`: exposures are
/// `$feature_flag_called` events for the flag (`$feature_flag_response` = the variant), as
/// posthog-js / posthog-node send them; conversions are the metric event after exposure.
pub async fn experiment_results(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    let experiment_id = ctx.param("experiment_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let experiment = load_experiment(ctx, &org_id, &experiment_id).await?;
    let flag = load(ctx, &org_id, &experiment.flag_key).await?;
    let started = super::capture::parse_rfc3339(&experiment.started_at).unwrap_or(0);
    // Look back a day before the start: clients may have sent exposures slightly earlier
    // than the experiment record (clock skew, set-up order).
    let since = started - 86_400_000;
    let rows: Vec<Value> = ctx
        .db()?
        .all(
            "WITH exposed AS (
               SELECT COALESCE(pa.person_id, e.actor_id) AS actor, MIN(e.at) AS at
               FROM events e LEFT JOIN person_aliases pa ON pa.org_id = e.org_id AND pa.distinct_id = e.actor_id
               WHERE e.org_id = ?1 AND e.name = '$feature_flag_called' AND e.at >= ?3
                 AND json_extract(e.properties, '$.\"$feature_flag\"') = ?2
               GROUP BY actor),
             assigned AS (
               SELECT x.actor AS actor, x.at AS at,
                 (SELECT json_extract(e.properties, '$.\"$feature_flag_response\"')
                  FROM events e LEFT JOIN person_aliases pa ON pa.org_id = e.org_id AND pa.distinct_id = e.actor_id
                  WHERE e.org_id = ?1 AND e.name = '$feature_flag_called' AND e.at = x.at
                    AND COALESCE(pa.person_id, e.actor_id) = x.actor
                    AND json_extract(e.properties, '$.\"$feature_flag\"') = ?2 LIMIT 1) AS variant
               FROM exposed x),
             converted AS (
               SELECT DISTINCT a.actor AS actor FROM assigned a
               JOIN events e ON e.org_id = ?1 AND e.name = ?4 AND e.at >= a.at
               LEFT JOIN person_aliases pa ON pa.org_id = e.org_id AND pa.distinct_id = e.actor_id
               WHERE COALESCE(pa.person_id, e.actor_id) = a.actor)
             SELECT a.variant AS variant, COUNT(*) AS exposures,
               SUM(CASE WHEN c.actor IS NULL THEN 0 ELSE 1 END) AS conversions
             FROM assigned a LEFT JOIN converted c ON c.actor = a.actor
             GROUP BY a.variant",
            args![
                org_id.as_str(),
                flag.key.as_str(),
                since,
                experiment.metric_event.as_str()
            ],
        )
        .await?;
    let count = |variant: &str, field: &str| -> i64 {
        rows.iter()
            .find(|r| r["variant"].as_str() == Some(variant))
            .and_then(|r| {
                r[field]
                    .as_i64()
                    .or_else(|| r[field].as_f64().map(|f| f as i64))
            })
            .unwrap_or(0)
    };
    let variants = &flag.definition.variants;
    let control = variants
        .first()
        .map(|v| (count(&v.key, "conversions"), count(&v.key, "exposures")));
    let results: Vec<VariantResult> = variants
        .iter()
        .enumerate()
        .map(|(index, variant)| {
            let exposures = count(&variant.key, "exposures");
            let conversions = count(&variant.key, "conversions");
            let (low, high) = stats::wilson(conversions as u64, exposures as u64, stats::Z_95);
            let difference = match (index, control) {
                (0, _) | (_, None) => None,
                (_, Some((c_conv, c_exp))) => stats::difference_interval(
                    c_conv as u64,
                    c_exp as u64,
                    conversions as u64,
                    exposures as u64,
                    stats::Z_95,
                )
                .map(|(l, h)| [l, h]),
            };
            VariantResult {
                variant: variant.key.clone(),
                weight: variant.weight,
                exposures,
                conversions,
                rate: if exposures > 0 {
                    conversions as f64 / exposures as f64
                } else {
                    0.0
                },
                rate_interval: [low, high],
                difference_interval: difference,
            }
        })
        .collect();
    let observed: Vec<u64> = results.iter().map(|r| r.exposures as u64).collect();
    let weights: Vec<f64> = results.iter().map(|r| r.weight).collect();
    let srm = (observed.iter().filter(|o| **o > 0).count() >= 2)
        .then(|| stats::srm(&observed, &weights))
        .flatten()
        .map(|s| SrmCheck {
            chi_square: s.chi_square,
            p_value: s.p_value,
            mismatch: s.mismatch,
        });
    http::json(
        200,
        &ExperimentResults {
            experiment,
            variants: results,
            srm,
        },
    )
}
