//! HTTP handlers of the Agent Runtime: agent profiles and tokens (admin), runs (editors start,
//! approve, reject and cancel them; everyone in the org reads them).

use durable_objects::agent_run::{PlannedCall, RunOp, RunState};
use editor_core::format;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{json, Value};
use worker::{Method, Request, Response};

use super::planner::{self, Planner};
use super::recipes::{self, ImageInfo, LowerThirdsInputs, MarkerInfo, SlideshowInputs};
use super::runner;
use super::{load_agent, AgentRow, Budgets, StoredPolicy, AGENT_COLUMNS, AGENT_TOKEN_PREFIX};
use crate::args;
use crate::audit::{self, Record};
use crate::http::{self, AppError, AppResult, Ctx};
use crate::identity::api::{clean_name, decode_cursor, page};
use crate::identity::{authenticate, authorize, Permission, Principal};
use crate::mcp::catalog::TOOLS;
use crate::util;

/// Most tools named in a capability or approval list, and projects in a policy.
const MAX_LIST: usize = 100;
/// Longest description.
const MAX_DESCRIPTION: usize = 1000;
/// Longest goal.
const MAX_GOAL: usize = 2000;
/// Largest `inputs` object, in bytes of JSON.
const MAX_INPUTS: usize = 16 * 1024;

/// Absent stays `None`; present (even `null`) becomes `Some`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `POST /v1/orgs/{org_id}/agents`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAgentBody {
    /// Display name, 1–100 characters.
    pub name: String,
    /// What the agent is for, up to 1,000 characters.
    #[serde(default)]
    pub description: Option<String>,
    /// Tool names it may see and call (`tools/list` of `/mcp`); every tool when absent or null.
    #[serde(default)]
    pub capabilities: Option<Vec<String>>,
    /// Which projects, read or write, which tools need a person's approval.
    pub policy: StoredPolicy,
    /// Calls per minute and renders per day.
    #[serde(default)]
    pub budgets: Option<Budgets>,
}

/// `PATCH /v1/orgs/{org_id}/agents/{agent_id}`: fields present are replaced.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAgentBody {
    /// New name.
    #[serde(default)]
    pub name: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New capabilities; null allows every tool.
    #[serde(default, deserialize_with = "present")]
    #[schemars(with = "Option<Vec<String>>")]
    pub capabilities: Option<Option<Vec<String>>>,
    /// New policy.
    #[serde(default)]
    pub policy: Option<StoredPolicy>,
    /// New budgets.
    #[serde(default)]
    pub budgets: Option<Budgets>,
}

/// An agent profile.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentView {
    /// `agt_…`
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Tools it may use; null: every tool.
    pub capabilities: Option<Vec<String>>,
    /// Access policy.
    pub policy: StoredPolicy,
    /// Budgets.
    pub budgets: Budgets,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// One agent.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentResponse {
    /// The agent.
    pub agent: AgentView,
}

/// A page of agents.
#[derive(Debug, Serialize, JsonSchema)]
pub struct AgentPage {
    /// Newest first.
    pub items: Vec<AgentView>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

/// `POST /v1/orgs/{org_id}/agents/{agent_id}/tokens`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    /// A label, 1–100 characters.
    pub name: String,
}

/// A token as listed (never its secret).
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenView {
    /// `atk_…`
    pub id: String,
    /// The agent.
    pub agent_id: String,
    /// The visible part of the token.
    pub prefix: String,
    /// Label.
    pub name: String,
    /// Creation time.
    pub created_at: String,
    /// Last use.
    pub last_used_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// A newly issued token: the secret is shown this once.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenCreated {
    /// `atk_…`
    pub id: String,
    /// The agent.
    pub agent_id: String,
    /// The visible part.
    pub prefix: String,
    /// The bearer token (`cos_agt_…`); store it now, it cannot be shown again.
    pub token: String,
    /// Label.
    pub name: String,
    /// Creation time.
    pub created_at: String,
}

/// Answer of issuing a token.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenResponse {
    /// The token.
    pub token: TokenCreated,
}

/// Tokens of an agent.
#[derive(Debug, Serialize, JsonSchema)]
pub struct TokenList {
    /// Newest first.
    pub items: Vec<TokenView>,
}

/// Which planner a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlannerChoice {
    /// A built-in recipe (`recipe` names it): deterministic, offline.
    Recipe,
    /// The configured OpenAI-compatible chat-completions model, with tool calling.
    Llm,
}

/// `POST /v1/orgs/{org_id}/agents/{agent_id}/runs`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRunBody {
    /// What the run should achieve, 1–2,000 characters.
    pub goal: String,
    /// `recipe` or `llm`.
    pub planner: PlannerChoice,
    /// With `planner: recipe`: `slideshow` (inputs: asset_ids, seconds_per_image?,
    /// crossfade_frames?, title?) or `lower_thirds` (inputs: text?, seconds?).
    #[serde(default)]
    pub recipe: Option<String>,
    /// The project the run works on (required by recipes).
    #[serde(default)]
    pub project_id: Option<String>,
    /// Planner inputs (an object, at most 16 KiB).
    #[serde(default)]
    pub inputs: Option<Value>,
}

/// `POST /v1/agent-runs/{run_id}/approve` and `/reject`
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// The gated step (`awaiting_approval.step` of the run).
    pub step: usize,
}

/// A run with its plan, trace and approvals.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunView {
    /// `run_…`
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// The agent.
    pub agent_id: String,
    /// The project, if any.
    pub project_id: Option<String>,
    /// The goal.
    pub goal: String,
    /// `recipe:<name>` or `llm`.
    pub planner: String,
    /// `running`, `awaiting_approval`, `succeeded`, `failed`, `cancelled` or `rejected`.
    pub status: String,
    /// `{steps_done, steps_planned, plan_complete}`.
    pub progress: Value,
    /// The gated step waiting for a person: `{step, tool, arguments, summary}`.
    pub awaiting_approval: Option<Value>,
    /// Planned calls: `{index, tool, summary}`.
    pub plan: Vec<Value>,
    /// Executed steps: `{index, tool, arguments, output, is_error, started_at, finished_at,
    /// duration_ms, approved_by}` (arguments and output capped at 4 KiB).
    pub steps: Vec<Value>,
    /// Approvals and rejections: `{step, approved, by, at}`.
    pub decisions: Vec<Value>,
    /// Why it failed, was rejected or cancelled: `{code, message}`.
    pub error: Option<Value>,
    /// The planner's final answer.
    pub answer: Option<String>,
    /// Who started it.
    pub created_by: Value,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// End.
    pub finished_at: Option<String>,
}

/// One run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunResponse {
    /// The run.
    pub run: RunView,
}

/// A run in a list.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct RunSummary {
    /// `run_…`
    pub id: String,
    /// The agent.
    pub agent_id: String,
    /// The project, if any.
    pub project_id: Option<String>,
    /// The goal.
    pub goal: String,
    /// Planner.
    pub planner: String,
    /// Status.
    pub status: String,
    /// Steps executed.
    pub steps_done: i64,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
}

/// A page of runs.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunPage {
    /// Newest first.
    pub items: Vec<RunSummary>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next_cursor: Option<String>,
}

// ---------------------------------------------------------------- helpers

fn view(row: &AgentRow) -> AppResult<AgentView> {
    Ok(AgentView {
        id: row.id.clone(),
        org_id: row.org_id.clone(),
        name: row.name.clone(),
        description: row.description.clone(),
        capabilities: match &row.capabilities {
            Some(text) => Some(serde_json::from_str(text).map_err(AppError::internal)?),
            None => None,
        },
        policy: serde_json::from_str(&row.policy).map_err(AppError::internal)?,
        budgets: serde_json::from_str(&row.budgets).map_err(AppError::internal)?,
        created_at: util::rfc3339(row.created_at),
        updated_at: util::rfc3339(row.updated_at),
    })
}

/// The org's live agent named in the path, or 404 (also for another org's).
async fn agent_in_org(ctx: &Ctx, org_id: &str) -> AppResult<AgentRow> {
    let agent_id = ctx.param("agent_id").to_string();
    load_agent(ctx, &agent_id)
        .await?
        .filter(|agent| agent.org_id == org_id)
        .ok_or_else(|| AppError::not_found("agent"))
}

fn check_tools(names: &[String], field: &str) -> AppResult<()> {
    if names.len() > MAX_LIST {
        return Err(AppError::invalid(
            "invalid_policy",
            format!("{field} names at most {MAX_LIST} tools"),
        ));
    }
    for name in names {
        if !TOOLS.iter().any(|tool| tool.name == name) {
            return Err(AppError::invalid(
                "unknown_tool",
                format!("{field}: there is no tool named {name:?}"),
            ));
        }
    }
    Ok(())
}

async fn check_policy(ctx: &Ctx, org_id: &str, policy: &StoredPolicy) -> AppResult<()> {
    check_tools(&policy.approval_required, "policy.approval_required")?;
    if let Some(projects) = &policy.projects {
        if projects.len() > MAX_LIST {
            return Err(AppError::invalid(
                "invalid_policy",
                format!("policy.projects names at most {MAX_LIST} projects"),
            ));
        }
        for project_id in projects {
            if project_org(ctx, project_id).await?.as_deref() != Some(org_id) {
                return Err(AppError::invalid(
                    "unknown_project",
                    format!("policy.projects: no project {project_id:?} in this organisation"),
                ));
            }
        }
    }
    Ok(())
}

fn check_budgets(budgets: &Budgets) -> AppResult<()> {
    if !(1..=10_000).contains(&budgets.calls_per_minute) || budgets.renders_per_day > 100_000 {
        return Err(AppError::invalid(
            "invalid_budgets",
            "calls_per_minute must be 1 to 10,000 and renders_per_day 0 to 100,000",
        ));
    }
    Ok(())
}

fn check_description(description: &str) -> AppResult<String> {
    let description = description.trim().to_string();
    if description.chars().count() > MAX_DESCRIPTION || description.chars().any(|c| c == '\0') {
        return Err(AppError::invalid(
            "invalid_description",
            format!("the description has at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(description)
}

async fn project_org(ctx: &Ctx, project_id: &str) -> AppResult<Option<String>> {
    #[derive(Deserialize)]
    struct Row {
        org_id: String,
    }
    Ok(ctx
        .db()?
        .first::<Row>(
            "SELECT org_id FROM projects WHERE id = ?1 AND deleted_at IS NULL",
            args![project_id],
        )
        .await?
        .map(|row| row.org_id))
}

fn no_agents(principal: &Principal) -> AppResult<()> {
    if matches!(principal, Principal::Agent { .. }) {
        return Err(AppError::forbidden(
            "agents cannot manage agents, start runs or decide on them",
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------- profiles

/// `POST /v1/orgs/{org_id}/agents` (admin)
pub async fn create(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let body: CreateAgentBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "agent name")?;
    let description = check_description(body.description.as_deref().unwrap_or(""))?;
    if let Some(capabilities) = &body.capabilities {
        check_tools(capabilities, "capabilities")?;
    }
    check_policy(ctx, &org_id, &body.policy).await?;
    let budgets = body.budgets.unwrap_or_default();
    check_budgets(&budgets)?;
    let principal = authenticate(ctx).await?;
    let db = ctx.db()?;
    let id = util::new_id("agt", ctx.now);
    let capabilities = match &body.capabilities {
        Some(list) => Some(serde_json::to_string(list)?),
        None => None,
    };
    let insert = db.stmt(
        "INSERT INTO agents (id, org_id, name, description, capabilities, policy, budgets, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
        args![
            id.as_str(),
            org_id.as_str(),
            name.as_str(),
            description.as_str(),
            capabilities.clone(),
            serde_json::to_string(&body.policy)?,
            serde_json::to_string(&budgets)?,
            principal.actor_type(),
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    let record = Record::success(Some(&org_id), "agent.create", Some(("agent", &id))).with_details(
        json!({"name": name, "access": body.policy.access, "capabilities": body.capabilities}),
    );
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    let row = load_agent(ctx, &id)
        .await?
        .ok_or_else(|| AppError::internal("agent just created"))?;
    http::json(201, &AgentResponse { agent: view(&row)? })
}

/// `GET /v1/orgs/{org_id}/agents`
pub async fn list(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let limit = ctx.query_limit(50, 200)?;
    let before = match ctx.query("cursor") {
        Some(cursor) => decode_cursor(&cursor)?,
        None => "~".to_string(),
    };
    let mut rows: Vec<AgentRow> = ctx
        .db()?
        .all(
            &format!(
                "SELECT {AGENT_COLUMNS} FROM agents WHERE org_id = ?1 AND deleted_at IS NULL AND id < ?2
                 ORDER BY id DESC LIMIT ?3"
            ),
            args![org_id.as_str(), before, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows.iter().map(view).collect::<AppResult<_>>()?;
    http::json(200, &AgentPage { items, next_cursor })
}

/// `GET /v1/orgs/{org_id}/agents/{agent_id}`
pub async fn get(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let row = agent_in_org(ctx, &org_id).await?;
    http::json(200, &AgentResponse { agent: view(&row)? })
}

/// `PATCH /v1/orgs/{org_id}/agents/{agent_id}` (admin)
pub async fn update(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let row = agent_in_org(ctx, &org_id).await?;
    let body: UpdateAgentBody = ctx.json(&mut req).await?;
    let name = match &body.name {
        Some(name) => clean_name(name, "agent name")?,
        None => row.name.clone(),
    };
    let description = match &body.description {
        Some(description) => check_description(description)?,
        None => row.description.clone(),
    };
    let capabilities = match &body.capabilities {
        Some(Some(list)) => {
            check_tools(list, "capabilities")?;
            Some(serde_json::to_string(list)?)
        }
        Some(None) => None,
        None => row.capabilities.clone(),
    };
    let policy = match &body.policy {
        Some(policy) => {
            check_policy(ctx, &org_id, policy).await?;
            serde_json::to_string(policy)?
        }
        None => row.policy.clone(),
    };
    let budgets = match &body.budgets {
        Some(budgets) => {
            check_budgets(budgets)?;
            serde_json::to_string(budgets)?
        }
        None => row.budgets.clone(),
    };
    let db = ctx.db()?;
    let statement = db.stmt(
        "UPDATE agents SET name = ?1, description = ?2, capabilities = ?3, policy = ?4, budgets = ?5, updated_at = ?6
         WHERE id = ?7 AND deleted_at IS NULL",
        args![
            name.as_str(),
            description.as_str(),
            capabilities,
            policy,
            budgets,
            ctx.now,
            row.id.as_str(),
        ],
    )?;
    let changed: Vec<&str> = [
        ("name", body.name.is_some()),
        ("description", body.description.is_some()),
        ("capabilities", body.capabilities.is_some()),
        ("policy", body.policy.is_some()),
        ("budgets", body.budgets.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, set)| set.then_some(field))
    .collect();
    let record = Record::success(Some(&org_id), "agent.update", Some(("agent", &row.id)))
        .with_details(json!({ "changed": changed }));
    audit::commit(ctx, &db, vec![statement], record, None).await?;
    if body.policy.is_some() {
        // Its sockets in rooms take the new access at once.
        crate::projects::revalidate_org_rooms(ctx, &org_id, &row.id).await?;
    }
    let row = load_agent(ctx, &row.id)
        .await?
        .ok_or_else(|| AppError::not_found("agent"))?;
    http::json(200, &AgentResponse { agent: view(&row)? })
}

/// `DELETE /v1/orgs/{org_id}/agents/{agent_id}` (admin): its tokens stop working; its runs
/// stop at their next step.
pub async fn delete(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let row = agent_in_org(ctx, &org_id).await?;
    let db = ctx.db()?;
    let statements = vec![
        db.stmt(
            "UPDATE agents SET deleted_at = ?1, updated_at = ?1 WHERE id = ?2",
            args![ctx.now, row.id.as_str()],
        )?,
        db.stmt(
            "UPDATE agent_tokens SET revoked_at = ?1 WHERE agent_id = ?2 AND revoked_at IS NULL",
            args![ctx.now, row.id.as_str()],
        )?,
    ];
    let record = Record::success(Some(&org_id), "agent.delete", Some(("agent", &row.id)))
        .with_details(json!({ "name": row.name }));
    audit::commit(ctx, &db, statements, record, None).await?;
    crate::projects::revalidate_org_rooms(ctx, &org_id, &row.id).await?;
    http::no_content()
}

// ---------------------------------------------------------------- tokens

/// `POST /v1/orgs/{org_id}/agents/{agent_id}/tokens` (admin): the token is shown once.
pub async fn create_token(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let agent = agent_in_org(ctx, &org_id).await?;
    let body: TokenBody = ctx.json(&mut req).await?;
    let name = clean_name(&body.name, "token name")?;
    let principal = authenticate(ctx).await?;
    no_agents(&principal)?;
    let id = util::new_id("atk", ctx.now);
    let prefix = format!(
        "{AGENT_TOKEN_PREFIX}{}",
        util::b64url(&util::random_bytes::<6>()).replace(['-', '_'], "x")
    );
    let token = format!("{prefix}_{}", util::new_secret());
    let db = ctx.db()?;
    let insert = db.stmt(
        "INSERT INTO agent_tokens (id, agent_id, org_id, name, prefix, token_hash, created_by_type, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        args![
            id.as_str(),
            agent.id.as_str(),
            org_id.as_str(),
            name.as_str(),
            prefix.as_str(),
            util::sha256_hex(token.as_bytes()),
            principal.actor_type(),
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    let record = Record::success(
        Some(&org_id),
        "agent.token.create",
        Some(("agent_token", &id)),
    )
    .with_details(json!({"agent_id": agent.id, "name": name, "prefix": prefix}));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    http::json(
        201,
        &TokenResponse {
            token: TokenCreated {
                id,
                agent_id: agent.id,
                prefix,
                token,
                name,
                created_at: util::rfc3339(ctx.now),
            },
        },
    )
}

/// `GET /v1/orgs/{org_id}/agents/{agent_id}/tokens` (admin)
pub async fn list_tokens(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let agent = agent_in_org(ctx, &org_id).await?;
    #[derive(Deserialize)]
    struct Row {
        id: String,
        prefix: String,
        name: String,
        created_at: i64,
        last_used_at: Option<i64>,
        revoked_at: Option<i64>,
    }
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, prefix, name, created_at, last_used_at, revoked_at FROM agent_tokens
             WHERE agent_id = ?1 ORDER BY id DESC LIMIT 500",
            args![agent.id.as_str()],
        )
        .await?;
    let items = rows
        .into_iter()
        .map(|row| TokenView {
            id: row.id,
            agent_id: agent.id.clone(),
            prefix: row.prefix,
            name: row.name,
            created_at: util::rfc3339(row.created_at),
            last_used_at: row.last_used_at.map(util::rfc3339),
            revoked_at: row.revoked_at.map(util::rfc3339),
        })
        .collect();
    http::json(200, &TokenList { items })
}

/// `DELETE /v1/orgs/{org_id}/agents/{agent_id}/tokens/{token_id}` (admin)
pub async fn revoke_token(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Manage).await?;
    let agent = agent_in_org(ctx, &org_id).await?;
    let token_id = ctx.param("token_id").to_string();
    let db = ctx.db()?;
    #[derive(Deserialize)]
    struct Row {
        revoked_at: Option<i64>,
    }
    let row: Option<Row> = db
        .first(
            "SELECT revoked_at FROM agent_tokens WHERE id = ?1 AND agent_id = ?2",
            args![token_id.as_str(), agent.id.as_str()],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("agent token"))?;
    if row.revoked_at.is_some() {
        return http::no_content();
    }
    let statement = db.stmt(
        "UPDATE agent_tokens SET revoked_at = ?1 WHERE id = ?2",
        args![ctx.now, token_id.as_str()],
    )?;
    let record = Record::success(
        Some(&org_id),
        "agent.token.revoke",
        Some(("agent_token", &token_id)),
    )
    .with_details(json!({"agent_id": agent.id}));
    audit::commit(ctx, &db, vec![statement], record, None).await?;
    http::no_content()
}

// ---------------------------------------------------------------- runs

/// Plans a recipe in full: the facts it needs are read here, so bad inputs are refused
/// before the run exists.
async fn plan_recipe(
    ctx: &Ctx,
    org_id: &str,
    recipe: &str,
    project_id: &str,
    inputs: &Value,
    run_id: &str,
) -> AppResult<Vec<PlannedCall>> {
    let (status, room_state) =
        crate::projects::room(ctx, project_id, Method::Get, "/state", None).await?;
    if status != 200 {
        return Err(crate::projects::room_error(status, &room_state));
    }
    let timeline = format::from_value(room_state["timeline"].clone())
        .map_err(|e| AppError::internal(format!("stored timeline: {e}")))?;
    let now = ctx.now;
    let mut new_id = |prefix: &str| util::new_id(prefix, now);
    let invalid = |e: serde_json::Error| AppError::invalid("invalid_inputs", e.to_string());
    match recipe {
        "slideshow" => {
            let inputs: SlideshowInputs =
                serde_json::from_value(inputs.clone()).map_err(invalid)?;
            if inputs.asset_ids.is_empty() || inputs.asset_ids.len() > recipes::MAX_SLIDES {
                return Err(AppError::invalid(
                    "invalid_inputs",
                    format!("asset_ids must name 1 to {} images", recipes::MAX_SLIDES),
                ));
            }
            #[derive(Deserialize)]
            struct Row {
                kind: String,
                width: Option<i64>,
                height: Option<i64>,
            }
            let db = ctx.db()?;
            let mut images = Vec::new();
            for asset_id in &inputs.asset_ids {
                let row: Option<Row> = db
                    .first(
                        "SELECT kind, width, height FROM assets WHERE id = ?1 AND org_id = ?2 AND status = 'ready' AND deleted_at IS NULL",
                        args![asset_id.as_str(), org_id],
                    )
                    .await?;
                match row {
                    Some(Row {
                        kind,
                        width: Some(width),
                        height: Some(height),
                    }) if kind == "image" && width > 0 && height > 0 => images.push(ImageInfo {
                        asset_id: asset_id.clone(),
                        width: width as u32,
                        height: height as u32,
                    }),
                    _ => {
                        return Err(AppError::invalid(
                            "invalid_asset",
                            format!("{asset_id:?} is not a ready image of this organisation"),
                        ))
                    }
                }
            }
            recipes::slideshow(
                project_id,
                &timeline.settings,
                &inputs,
                &images,
                run_id,
                &mut new_id,
            )
        }
        "lower_thirds" => {
            let inputs: LowerThirdsInputs =
                serde_json::from_value(inputs.clone()).map_err(invalid)?;
            let markers: Vec<MarkerInfo> = timeline
                .markers
                .iter()
                .map(|m| MarkerInfo {
                    frame: m.frame,
                    label: m.label.clone(),
                })
                .collect();
            recipes::lower_thirds(
                project_id,
                &timeline.settings,
                &inputs,
                &markers,
                run_id,
                &mut new_id,
            )
        }
        other => Err(AppError::invalid(
            "unknown_recipe",
            format!("no recipe named {other:?}; use slideshow or lower_thirds"),
        )),
    }
}

/// `POST /v1/orgs/{org_id}/agents/{agent_id}/runs` (editor): starts a run.
pub async fn create_run(ctx: &mut Ctx, mut req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Write).await?;
    // An agent starting another's run could borrow capabilities it was not given.
    no_agents(&authenticate(ctx).await?)?;
    let agent = agent_in_org(ctx, &org_id).await?;
    let body: CreateRunBody = ctx.json(&mut req).await?;
    let goal = body.goal.trim().to_string();
    if goal.is_empty() || goal.chars().count() > MAX_GOAL {
        return Err(AppError::invalid(
            "invalid_goal",
            format!("the goal must have 1 to {MAX_GOAL} characters"),
        ));
    }
    let inputs = body.inputs.clone().unwrap_or_else(|| json!({}));
    if !inputs.is_object() || inputs.to_string().len() > MAX_INPUTS {
        return Err(AppError::invalid(
            "invalid_inputs",
            format!("inputs must be an object of at most {MAX_INPUTS} bytes"),
        ));
    }
    let policy = agent.policy()?;
    if let Some(project_id) = &body.project_id {
        if project_org(ctx, project_id).await?.as_deref() != Some(org_id.as_str()) {
            return Err(AppError::not_found("project"));
        }
        if !policy.allows_project(project_id) {
            return Err(AppError::invalid(
                "project_outside_policy",
                "the agent's policy does not let it see this project",
            ));
        }
    }
    let run_id = util::new_id("run", ctx.now);
    let (planner, plan) = match (body.planner, &body.recipe) {
        (PlannerChoice::Recipe, Some(recipe)) => {
            let project_id = body.project_id.as_deref().ok_or_else(|| {
                AppError::invalid(
                    "project_required",
                    "a recipe works on a project: send project_id",
                )
            })?;
            let plan = plan_recipe(ctx, &org_id, recipe, project_id, &inputs, &run_id).await?;
            (Planner::Recipe(recipe.clone()), plan)
        }
        (PlannerChoice::Recipe, None) => {
            return Err(AppError::invalid(
                "recipe_required",
                "planner recipe needs recipe: slideshow or lower_thirds",
            ))
        }
        (PlannerChoice::Llm, Some(_)) => {
            return Err(AppError::invalid(
                "invalid_request",
                "recipe is only for planner recipe",
            ))
        }
        (PlannerChoice::Llm, None) => {
            planner::endpoint(ctx)?;
            (Planner::ChatCompletions, Vec::new())
        }
    };
    let principal = authenticate(ctx).await?;
    let created_by = json!({"type": principal.actor_type(), "id": principal.actor_id()});
    let plan_complete = planner.plans_upfront();
    let state = RunState {
        run_id: run_id.clone(),
        org_id: org_id.clone(),
        agent_id: agent.id.clone(),
        project_id: body.project_id.clone(),
        planner: planner.name(),
        goal: goal.clone(),
        inputs,
        status: "running".into(),
        plan,
        plan_complete,
        rounds: Vec::new(),
        steps: Vec::new(),
        decisions: Vec::new(),
        awaiting: None,
        error: None,
        answer: None,
        created_by: created_by.clone(),
        created_at: ctx.now,
        updated_at: ctx.now,
        finished_at: None,
    };
    let db = ctx.db()?;
    let insert = db.stmt(
        "INSERT INTO agent_runs (id, org_id, agent_id, project_id, goal, planner, status, created_by_type, created_by, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'running', ?7, ?8, ?9, ?9)",
        args![
            run_id.as_str(),
            org_id.as_str(),
            agent.id.as_str(),
            body.project_id.clone(),
            goal.as_str(),
            state.planner.as_str(),
            principal.actor_type(),
            principal.actor_id(),
            ctx.now,
        ],
    )?;
    // The checkpoint first: a run listed in D1 always has its state.
    let (accepted, _) = runner::apply(
        ctx,
        &run_id,
        &RunOp::Init {
            state: Box::new(state.clone()),
        },
    )
    .await?;
    if !accepted {
        return Err(AppError::internal("run id collision"));
    }
    let record = Record::success(
        Some(&org_id),
        "agent.run.create",
        Some(("agent_run", &run_id)),
    )
    .with_details(json!({
        "agent_id": agent.id,
        "planner": state.planner,
        "project_id": body.project_id,
        "goal": goal,
        "planned_steps": state.plan.len(),
    }));
    audit::commit(ctx, &db, vec![insert], record, None).await?;
    runner::drive(&ctx.env, &run_id, "start", 0).await?;
    http::json(
        202,
        &RunResponse {
            run: run_view(&state),
        },
    )
}

/// The D1 row of a run in an org the caller can see with `permission`, else 404.
async fn run_row(ctx: &mut Ctx, permission: Permission) -> AppResult<(String, String)> {
    let run_id = ctx.param("run_id").to_string();
    #[derive(Deserialize)]
    struct Row {
        id: String,
        org_id: String,
    }
    let row: Option<Row> = ctx
        .db()?
        .first(
            "SELECT id, org_id FROM agent_runs WHERE id = ?1",
            args![run_id.as_str()],
        )
        .await?;
    let row = row.ok_or_else(|| AppError::not_found("run"))?;
    authorize(ctx, &row.org_id, permission)
        .await
        .map_err(|error| {
            if error.status == 404 {
                AppError::not_found("run")
            } else {
                error
            }
        })?;
    Ok((row.id, row.org_id))
}

/// A run as the API shows it.
pub fn run_view(state: &RunState) -> RunView {
    let awaiting_approval = state.awaiting.and_then(|index| {
        state.plan.get(index).map(|call| {
            json!({"step": index, "tool": call.tool, "arguments": runner::cap(&call.arguments), "summary": call.summary})
        })
    });
    RunView {
        id: state.run_id.clone(),
        org_id: state.org_id.clone(),
        agent_id: state.agent_id.clone(),
        project_id: state.project_id.clone(),
        goal: state.goal.clone(),
        planner: state.planner.clone(),
        status: state.status.clone(),
        progress: json!({
            "steps_done": state.steps.len(),
            "steps_planned": state.plan.len(),
            "plan_complete": state.plan_complete,
        }),
        awaiting_approval,
        plan: state
            .plan
            .iter()
            .enumerate()
            .map(|(index, call)| json!({"index": index, "tool": call.tool, "summary": call.summary}))
            .collect(),
        steps: state
            .steps
            .iter()
            .map(|step| {
                json!({
                    "index": step.index,
                    "tool": step.tool,
                    "arguments": step.arguments,
                    "output": step.output,
                    "is_error": step.is_error,
                    "started_at": util::rfc3339(step.started_at),
                    "finished_at": util::rfc3339(step.finished_at),
                    "duration_ms": step.finished_at - step.started_at,
                    "approved_by": step.approved_by,
                })
            })
            .collect(),
        decisions: state
            .decisions
            .iter()
            .map(|d| json!({"step": d.index, "approved": d.approved, "by": d.by, "at": util::rfc3339(d.at)}))
            .collect(),
        error: state.error.clone(),
        answer: state.answer.clone(),
        created_by: state.created_by.clone(),
        created_at: util::rfc3339(state.created_at),
        updated_at: util::rfc3339(state.updated_at),
        finished_at: state.finished_at.map(util::rfc3339),
    }
}

/// `GET /v1/agent-runs/{run_id}`: the run with its plan, trace and approvals.
pub async fn get_run(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let (run_id, _) = run_row(ctx, Permission::Read).await?;
    let state = runner::load_state(ctx, &run_id)
        .await?
        .ok_or_else(|| AppError::not_found("run"))?;
    http::json(
        200,
        &RunResponse {
            run: run_view(&state),
        },
    )
}

/// `GET /v1/orgs/{org_id}/agents/{agent_id}/runs`
pub async fn list_runs(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let org_id = ctx.param("org_id").to_string();
    authorize(ctx, &org_id, Permission::Read).await?;
    let agent = agent_in_org(ctx, &org_id).await?;
    let limit = ctx.query_limit(50, 200)?;
    let before = match ctx.query("cursor") {
        Some(cursor) => decode_cursor(&cursor)?,
        None => "~".to_string(),
    };
    let status = ctx.query("status");
    if let Some(status) = &status {
        if !matches!(
            status.as_str(),
            "running" | "awaiting_approval" | "succeeded" | "failed" | "cancelled" | "rejected"
        ) {
            return Err(AppError::invalid(
                "invalid_status",
                "status must be running, awaiting_approval, succeeded, failed, cancelled or rejected",
            ));
        }
    }
    #[derive(Deserialize)]
    struct Row {
        id: String,
        agent_id: String,
        project_id: Option<String>,
        goal: String,
        planner: String,
        status: String,
        steps_done: i64,
        created_at: i64,
        updated_at: i64,
    }
    let mut rows: Vec<Row> = ctx
        .db()?
        .all(
            "SELECT id, agent_id, project_id, goal, planner, status, steps_done, created_at, updated_at FROM agent_runs
             WHERE agent_id = ?1 AND id < ?2 AND (?3 IS NULL OR status = ?3) ORDER BY id DESC LIMIT ?4",
            args![agent.id.as_str(), before, status, limit + 1],
        )
        .await?;
    let next_cursor = page(&mut rows, limit, |row| &row.id);
    let items = rows
        .into_iter()
        .map(|row| RunSummary {
            id: row.id,
            agent_id: row.agent_id,
            project_id: row.project_id,
            goal: row.goal,
            planner: row.planner,
            status: row.status,
            steps_done: row.steps_done,
            created_at: util::rfc3339(row.created_at),
            updated_at: util::rfc3339(row.updated_at),
        })
        .collect();
    http::json(200, &RunPage { items, next_cursor })
}

async fn decide(ctx: &mut Ctx, mut req: Request, approved: bool) -> AppResult<Response> {
    let (run_id, org_id) = run_row(ctx, Permission::Write).await?;
    let principal = authenticate(ctx).await?;
    no_agents(&principal)?;
    let body: DecisionBody = ctx.json(&mut req).await?;
    let by = json!({"type": principal.actor_type(), "id": principal.actor_id()});
    let op = RunOp::Decide {
        index: body.step,
        approved,
        by: by.clone(),
    };
    let (accepted, state) = runner::apply(ctx, &run_id, &op).await?;
    let state = state.ok_or_else(|| AppError::not_found("run"))?;
    if !accepted {
        return Err(AppError::conflict(
            "not_awaiting_approval",
            format!(
                "the run is {} and does not wait for a decision on step {}",
                state.status, body.step
            ),
        ));
    }
    let tool = state.plan.get(body.step).map(|c| c.tool.clone());
    let action = if approved {
        "agent.run.approve"
    } else {
        "agent.run.reject"
    };
    let record = Record::success(Some(&org_id), action, Some(("agent_run", &run_id)))
        .with_details(json!({"step": body.step, "tool": tool, "agent_id": state.agent_id}));
    runner::mirror(ctx, &state, Some(record)).await?;
    if approved {
        runner::drive(&ctx.env, &run_id, "approved", 0).await?;
    } else {
        runner::leave_room(ctx, &state).await;
    }
    http::json(
        200,
        &RunResponse {
            run: run_view(&state),
        },
    )
}

/// `POST /v1/agent-runs/{run_id}/approve` (editor): the gated step runs.
pub async fn approve(ctx: &mut Ctx, req: Request) -> AppResult<Response> {
    decide(ctx, req, true).await
}

/// `POST /v1/agent-runs/{run_id}/reject` (editor): the run ends `rejected`.
pub async fn reject(ctx: &mut Ctx, req: Request) -> AppResult<Response> {
    decide(ctx, req, false).await
}

/// `POST /v1/agent-runs/{run_id}/cancel` (editor): the run stops before its next step.
pub async fn cancel(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let (run_id, org_id) = run_row(ctx, Permission::Write).await?;
    let principal = authenticate(ctx).await?;
    let by = json!({"type": principal.actor_type(), "id": principal.actor_id()});
    let (accepted, state) = runner::apply(ctx, &run_id, &RunOp::Cancel { by }).await?;
    let state = state.ok_or_else(|| AppError::not_found("run"))?;
    if !accepted {
        return Err(AppError::conflict(
            "run_ended",
            format!("the run has already ended ({})", state.status),
        ));
    }
    let record = Record::success(
        Some(&org_id),
        "agent.run.cancel",
        Some(("agent_run", &run_id)),
    )
    .with_details(json!({"agent_id": state.agent_id, "steps": state.steps.len()}));
    runner::mirror(ctx, &state, Some(record)).await?;
    runner::leave_room(ctx, &state).await;
    http::json(
        200,
        &RunResponse {
            run: run_view(&state),
        },
    )
}

/// How often the event stream looks at the run.
const EVENTS_POLL_MS: u64 = 500;
/// Longest life of one event stream; clients reconnect for more.
const EVENTS_MAX_MS: i64 = 10 * 60 * 1000;
/// A comment line at least this often keeps proxies from closing an idle stream.
const EVENTS_KEEPALIVE_MS: i64 = 15_000;

struct EventCursor {
    env: worker::Env,
    run_id: String,
    last: Option<(i64, String)>,
    started: i64,
    last_sent: i64,
    first: bool,
    done: bool,
}

async fn next_event(
    mut cursor: EventCursor,
) -> Option<(Result<Vec<u8>, worker::Error>, EventCursor)> {
    if cursor.done {
        return None;
    }
    loop {
        if !std::mem::take(&mut cursor.first) {
            worker::Delay::from(std::time::Duration::from_millis(EVENTS_POLL_MS)).await;
        }
        let now = util::now_ms();
        let state = match crate::jobs::system_ctx(&cursor.env) {
            Ok(ctx) => runner::load_state(&ctx, &cursor.run_id)
                .await
                .ok()
                .flatten(),
            Err(_) => None,
        };
        let Some(state) = state else {
            cursor.done = true;
            let error = json!({"code": "run_unavailable", "message": "the run could not be read"});
            return Some((
                Ok(format!("event: error\ndata: {error}\n\n").into_bytes()),
                cursor,
            ));
        };
        let key = (state.updated_at, state.status.clone());
        if cursor.last.as_ref() != Some(&key) {
            cursor.last = Some(key);
            cursor.last_sent = now;
            let view = serde_json::to_string(&run_view(&state)).unwrap_or_default();
            let mut chunk = format!("event: run\ndata: {view}\n\n");
            if state.is_terminal() {
                cursor.done = true;
                chunk.push_str(&format!(
                    "event: end\ndata: {}\n\n",
                    json!({"status": state.status})
                ));
            }
            return Some((Ok(chunk.into_bytes()), cursor));
        }
        if now - cursor.started > EVENTS_MAX_MS {
            cursor.done = true;
            return Some((Ok(b"event: timeout\ndata: {}\n\n".to_vec()), cursor));
        }
        if now - cursor.last_sent > EVENTS_KEEPALIVE_MS {
            cursor.last_sent = now;
            return Some((Ok(b": keep-alive\n\n".to_vec()), cursor));
        }
    }
}

/// `GET /v1/agent-runs/{run_id}/events`: the run's progress as Server-Sent Events: a `run`
/// event (the run, as `GET` shows it) at every change, then `end` when it is over.
pub async fn run_events(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let (run_id, _) = run_row(ctx, Permission::Read).await?;
    let cursor = EventCursor {
        env: ctx.env.clone(),
        run_id,
        last: None,
        started: ctx.now,
        last_sent: ctx.now,
        first: true,
        done: false,
    };
    let stream = futures_util::stream::unfold(cursor, next_event);
    let mut response = Response::from_stream(stream)?;
    response
        .headers_mut()
        .set("content-type", "text/event-stream; charset=utf-8")?;
    response.headers_mut().set("cache-control", "no-cache")?;
    Ok(response)
}
