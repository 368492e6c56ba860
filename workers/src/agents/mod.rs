//! Agent Runtime (module 08): agents as first-class principals that are never users.
//!
//! - Profiles per organisation ([`api`]): name, description, capabilities (which tools), an
//!   access policy (which projects, read-only or write, which tools need a person's approval)
//!   and budgets (calls per minute, renders per day).
//! - Credentials: agent tokens (`cos_agt_…`), shown once and stored as SHA-256 like API keys;
//!   they authenticate as [`Principal::Agent`], `agent` in the audit trail.
//! - Enforcement ([`policy`]): the MCP catalog asks it which tools an agent sees and whether a
//!   call may run (capabilities, approval gates, budgets through the RateLimiter); the one
//!   authorisation check hides projects outside the policy (404, as for another org's).
//! - Runs ([`runner`]): a goal and a planner ([`planner`]: the offline [`recipes`] or an
//!   OpenAI-compatible chat-completions model) produce tool calls; each executes as a step
//!   through the MCP catalog with the agent's principal, checkpointed in the run's `AgentRun`
//!   Durable Object, audited once, with approval gates, cancel and a watchdog that resumes a
//!   run after eviction or restart. While a run edits a project the agent is a member of its
//!   room, with presence typed `agent` and a playhead.

pub mod api;
pub mod planner;
pub mod policy;
pub mod recipes;
pub mod runner;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::args;
use crate::http::{AppError, AppResult, Ctx};
use crate::identity::{Principal, Role};
use crate::util;

/// Agent token prefix.
pub const AGENT_TOKEN_PREFIX: &str = "cos_agt_";

/// Whether an agent may change content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Read only: tools that change content are hidden and refused.
    Read,
    /// Read and write (an editor's rights).
    Write,
}

/// What an agent may do: its capabilities, access policy and budgets, as enforced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentPolicy {
    /// Tools it may see and call; every tool when `None`.
    pub capabilities: Option<Vec<String>>,
    /// Projects it may see; every project of its org when `None`.
    pub projects: Option<Vec<String>>,
    /// Read only or read and write.
    pub access: Access,
    /// Tools that wait for a person's approval (in a run; refused outside one).
    pub approval_required: Vec<String>,
    /// Tool calls per minute.
    pub calls_per_minute: u32,
    /// Renders (frame or job) per rolling day.
    pub renders_per_day: u32,
}

impl AgentPolicy {
    /// Whether the policy lets it see `project_id` (an empty id: no project is involved).
    pub fn allows_project(&self, project_id: &str) -> bool {
        project_id.is_empty()
            || self
                .projects
                .as_ref()
                .is_none_or(|projects| projects.iter().any(|p| p == project_id))
    }

    /// Whether `tool` is among its capabilities.
    pub fn allows_tool(&self, tool: &str) -> bool {
        self.capabilities
            .as_ref()
            .is_none_or(|tools| tools.iter().any(|t| t == tool))
    }

    /// Whether `tool` waits for a person's approval.
    pub fn needs_approval(&self, tool: &str) -> bool {
        self.approval_required.iter().any(|t| t == tool)
    }

    /// The org role its access amounts to.
    pub fn role(&self) -> Role {
        match self.access {
            Access::Write => Role::Editor,
            Access::Read => Role::Viewer,
        }
    }
}

/// An agent profile as stored.
#[derive(Debug, Clone, Deserialize)]
pub struct AgentRow {
    /// `agt_…`
    pub id: String,
    /// Organisation.
    pub org_id: String,
    /// Display name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// JSON array or NULL.
    pub capabilities: Option<String>,
    /// JSON object.
    pub policy: String,
    /// JSON object.
    pub budgets: String,
    /// Creation time.
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// Columns of [`AgentRow`].
pub const AGENT_COLUMNS: &str =
    "id, org_id, name, description, capabilities, policy, budgets, created_at, updated_at";

/// The stored `policy` column.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoredPolicy {
    /// Project ids it may see; all of the org's when null.
    #[serde(default)]
    pub projects: Option<Vec<String>>,
    /// `read` or `write`.
    pub access: Access,
    /// Tools that need a person's approval.
    #[serde(default)]
    pub approval_required: Vec<String>,
}

/// The stored `budgets` column.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    /// Tool calls per minute, 1–10,000 (default 60).
    #[serde(default = "default_calls_per_minute")]
    pub calls_per_minute: u32,
    /// Renders per rolling day, 0–100,000 (default 100).
    #[serde(default = "default_renders_per_day")]
    pub renders_per_day: u32,
}

fn default_calls_per_minute() -> u32 {
    60
}

fn default_renders_per_day() -> u32 {
    100
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            calls_per_minute: default_calls_per_minute(),
            renders_per_day: default_renders_per_day(),
        }
    }
}

impl AgentRow {
    /// The enforced policy of the profile.
    pub fn policy(&self) -> AppResult<AgentPolicy> {
        let stored: StoredPolicy =
            serde_json::from_str(&self.policy).map_err(AppError::internal)?;
        let budgets: Budgets = serde_json::from_str(&self.budgets).map_err(AppError::internal)?;
        let capabilities = match &self.capabilities {
            Some(text) => Some(serde_json::from_str(text).map_err(AppError::internal)?),
            None => None,
        };
        Ok(AgentPolicy {
            capabilities,
            projects: stored.projects,
            access: stored.access,
            approval_required: stored.approval_required,
            calls_per_minute: budgets.calls_per_minute,
            renders_per_day: budgets.renders_per_day,
        })
    }

    /// The principal the agent acts as, within `run_id` when a run's step executes.
    pub fn principal(&self, run_id: Option<String>) -> AppResult<Principal> {
        let policy = self.policy()?;
        Ok(Principal::Agent {
            agent_id: self.id.clone(),
            org_id: self.org_id.clone(),
            role: policy.role(),
            policy: Box::new(policy),
            run_id,
        })
    }
}

/// A live (not deleted) agent by id.
pub async fn load_agent(ctx: &Ctx, agent_id: &str) -> AppResult<Option<AgentRow>> {
    ctx.db()?
        .first(
            &format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1 AND deleted_at IS NULL"),
            args![agent_id],
        )
        .await
}

/// Resolves an agent token (`cos_agt_<prefix>_<secret>`) to its agent's principal, or 401.
pub async fn token_principal(ctx: &mut Ctx, token: &str) -> AppResult<Principal> {
    let invalid = || AppError::new(401, "invalid_agent_token", "the agent token is not valid");
    let rest = token.strip_prefix(AGENT_TOKEN_PREFIX).ok_or_else(invalid)?;
    let (prefix_part, _) = rest.split_once('_').ok_or_else(invalid)?;
    let prefix = format!("{AGENT_TOKEN_PREFIX}{prefix_part}");
    #[derive(Deserialize)]
    struct Row {
        id: String,
        agent_id: String,
        token_hash: String,
        revoked_at: Option<i64>,
        last_used_at: Option<i64>,
    }
    let db = ctx.db()?;
    let row: Option<Row> = db
        .first(
            "SELECT id, agent_id, token_hash, revoked_at, last_used_at FROM agent_tokens WHERE prefix = ?1",
            args![prefix],
        )
        .await?;
    let row = row.ok_or_else(invalid)?;
    let presented = util::sha256_hex(token.as_bytes());
    if !util::constant_time_eq(presented.as_bytes(), row.token_hash.as_bytes()) {
        return Err(invalid());
    }
    if row.revoked_at.is_some() {
        return Err(AppError::new(
            401,
            "agent_token_revoked",
            "the agent token was revoked",
        ));
    }
    let agent = load_agent(ctx, &row.agent_id).await?.ok_or_else(invalid)?;
    if row.last_used_at.is_none_or(|at| ctx.now - at > 60_000) {
        db.run(
            "UPDATE agent_tokens SET last_used_at = ?1 WHERE id = ?2",
            args![ctx.now, row.id.as_str()],
        )
        .await?;
    }
    agent.principal(None)
}
