//! Workflow definitions: the JSON a creator saves, its validation, and the views the API shows.
//!
//! A definition is a trigger and a list of steps forming a graph: a step runs once every step
//! in its `after` list has ended well. Validation refuses, with a 422 naming the problem,
//! cycles (the cycle is spelled out), unknown step types, unknown commands and MCP tools,
//! missing parameters, template expressions that read what cannot exist yet, and limits.

use std::collections::{BTreeMap, HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::cron::Schedule;
use super::template;
use crate::http::{AppError, AppResult};

/// Largest definition, as JSON text.
pub const MAX_DEFINITION_BYTES: usize = 32 * 1024;
/// Most steps in a definition.
pub const MAX_STEPS: usize = 50;
/// Most items a `for_each` step takes.
pub const MAX_ITEMS: usize = 100;
/// Longest `delay` (queues hold a delayed message at most 12 hours).
pub const MAX_DELAY_SECONDS: u64 = 12 * 3600;
/// Longest wait for an event or an approval.
pub const MAX_WAIT_SECONDS: u64 = 30 * 24 * 3600;
/// Default wait for an approval.
pub const DEFAULT_APPROVAL_SECONDS: u64 = 7 * 24 * 3600;
/// Most attempts a step may ask for.
pub const MAX_STEP_ATTEMPTS: u32 = 10;

/// Typed commands a `command` step runs, with their required input fields.
pub const COMMANDS: &[(&str, &[&str], &str)] = &[
    (
        "make_thumbnail",
        &["asset_id"],
        "make (or find) an image asset's thumbnail; output {asset_id, thumbnail_asset_id}",
    ),
    (
        "tag_asset",
        &["asset_id", "tags"],
        "add tags to an asset; output {asset_id, tags}",
    ),
    (
        "apply_commands",
        &["project_id", "commands"],
        "apply timeline commands to a project (e.g. a template's); output {seq}",
    ),
    (
        "post_comment",
        &["project_id", "body"],
        "start a comment thread on a project; output the thread",
    ),
    (
        "render",
        &["project_id", "kind"],
        "queue a render of a project; output the render job",
    ),
];

/// Audited action names that triggers may also be written as (the vocabulary).
pub const EVENT_ALIASES: &[(&str, &str)] = &[
    ("asset.uploaded", "asset.upload"),
    ("asset.updated", "asset.update"),
    ("project.edited", "project.commands"),
    ("render.finished", "job.succeed"),
    ("job.succeeded", "job.succeed"),
    ("job.failed", "job.fail"),
    ("comment.created", "comment.create"),
    ("comment.mention", "comment.create"),
];

/// The audited action an event name stands for.
pub fn canonical_event(name: &str) -> &str {
    EVENT_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map(|(_, actual)| *actual)
        .unwrap_or(name)
}

/// What starts a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Trigger {
    /// An audited event of the organisation (`asset.upload`, `job.succeed`, `project.commands`,
    /// `comment.create`, `order.paid` …; aliases such as `asset.uploaded` are accepted).
    Event {
        /// Event name.
        event: String,
        /// Only events whose payload has these values at these dotted paths.
        #[serde(default, rename = "match", skip_serializing_if = "Map::is_empty")]
        filter: Map<String, Value>,
    },
    /// A five-field cron schedule (UTC), checked by the Worker's cron trigger.
    Cron {
        /// e.g. `0 9 * * 1-5`.
        cron: String,
    },
    /// `POST /v1/hooks/{workflow_id}` signed with the workflow's secret (shown once).
    Webhook,
    /// Only `POST …/runs`.
    Manual,
}

/// Kinds of step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepType {
    /// Run a typed command (see [`COMMANDS`]).
    Command,
    /// Call a tool of our MCP catalog.
    McpTool,
    /// POST a signed event to a URL (retried with backoff).
    Webhook,
    /// Wait a number of seconds.
    Delay,
    /// Wait for an event of the organisation, with a timeout.
    WaitEvent,
    /// Wait for a person's approval, with a timeout.
    Approval,
    /// Evaluate a comparison; steps listed in `then` / `else` run only on their branch.
    Condition,
    /// Run the `each` step once per item of a list, at most `concurrency` at a time.
    ForEach,
}

impl StepType {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            StepType::Command => "command",
            StepType::McpTool => "mcp_tool",
            StepType::Webhook => "webhook",
            StepType::Delay => "delay",
            StepType::WaitEvent => "wait_event",
            StepType::Approval => "approval",
            StepType::Condition => "condition",
            StepType::ForEach => "for_each",
        }
    }
}

/// Comparison operators of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    /// Equal JSON values.
    Eq,
    /// Different JSON values.
    Ne,
    /// Numbers: greater than.
    Gt,
    /// Numbers: at least.
    Gte,
    /// Numbers: less than.
    Lt,
    /// Numbers: at most.
    Lte,
    /// A string contains `right`, or an array holds it.
    Contains,
    /// `left` is present and not null.
    Exists,
}

/// A comparison of two (templated) values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    /// Left side, usually a template (`{{trigger.kind}}`).
    pub left: Value,
    /// Operator.
    pub op: Operator,
    /// Right side (not needed for `exists`).
    #[serde(default)]
    pub right: Value,
}

impl Condition {
    /// Evaluates the condition on rendered values.
    pub fn evaluate(op: Operator, left: &Value, right: &Value) -> bool {
        let numbers = left.as_f64().zip(right.as_f64());
        match op {
            Operator::Eq => left == right,
            Operator::Ne => left != right,
            Operator::Gt => numbers.is_some_and(|(a, b)| a > b),
            Operator::Gte => numbers.is_some_and(|(a, b)| a >= b),
            Operator::Lt => numbers.is_some_and(|(a, b)| a < b),
            Operator::Lte => numbers.is_some_and(|(a, b)| a <= b),
            Operator::Contains => match (left, right) {
                (Value::String(haystack), Value::String(needle)) => haystack.contains(needle),
                (Value::Array(items), needle) => items.contains(needle),
                _ => false,
            },
            Operator::Exists => !left.is_null(),
        }
    }
}

/// One step of a workflow. Which fields apply depends on `type`; validation says which are
/// missing or out of place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Unique in the workflow: lower-case letters, digits and `_`, at most 40.
    pub id: String,
    /// Kind of step.
    #[serde(rename = "type")]
    pub kind: StepType,
    /// Steps that must end well before this one runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// `command`: the command's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// `mcp_tool`: the tool's name in our catalog.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// `command` / `mcp_tool` arguments, `webhook` body: JSON with templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// `webhook`: the receiver (https; http to loopback in test deployments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// `webhook`: the event name sent; `wait_event`: the event waited for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `wait_event`: only events whose payload has these values at these dotted paths (values
    /// may be templates, resolved when the wait begins).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub filter: Option<Map<String, Value>>,
    /// `delay`: seconds to wait.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// `wait_event` / `approval`: seconds before the step fails with `timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<u64>,
    /// `condition`: the comparison.
    #[serde(default, rename = "if", skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// `condition`: steps that run only when it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub then: Vec<String>,
    /// `condition`: steps that run only when it does not.
    #[serde(default, rename = "else", skip_serializing_if = "Vec::is_empty")]
    pub otherwise: Vec<String>,
    /// `for_each`: the list (a template such as `{{trigger.asset_ids}}`, or a JSON array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Value>,
    /// `for_each`: items running at once (1–10, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// `for_each`: the step run per item (`command`, `mcp_tool`, `webhook` or `delay`); it
    /// reads the item as `{{item}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub each: Option<Box<Step>>,
    /// Attempts before the step fails (1–10; default the jobs' `JOBS_MAX_ATTEMPTS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// A workflow definition: what a creator saves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    /// Display name, 1 to 100 characters.
    pub name: String,
    /// What it is for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// What starts a run.
    pub trigger: Trigger,
    /// The steps, a graph through their `after` lists.
    pub steps: Vec<Step>,
}

fn invalid(code: &str, message: impl Into<String>) -> AppError {
    AppError::invalid(code, message)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 40
        && id.starts_with(|c: char| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn valid_event_name(name: &str) -> bool {
    name.len() <= 64
        && name.contains('.')
        && name.split('.').all(|part| {
            part.starts_with(|c: char| c.is_ascii_lowercase())
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        })
}

impl Definition {
    /// Parses and validates a definition given as JSON: 413 over [`MAX_DEFINITION_BYTES`],
    /// 422 for anything invalid. `known_tool` says whether an MCP tool name exists.
    pub fn parse(value: &Value, known_tool: impl Fn(&str) -> bool) -> AppResult<Definition> {
        let size = value.to_string().len();
        if size > MAX_DEFINITION_BYTES {
            return Err(AppError::new(
                413,
                "definition_too_large",
                format!(
                    "the definition is {size} bytes; at most {MAX_DEFINITION_BYTES} are allowed"
                ),
            ));
        }
        let mut definition: Definition = serde_json::from_value(value.clone())
            .map_err(|e| invalid("invalid_definition", format!("definition: {e}")))?;
        definition.validate(&known_tool)?;
        if let Trigger::Event { event, .. } = &mut definition.trigger {
            *event = canonical_event(event).to_string();
        }
        for step in &mut definition.steps {
            if let (StepType::WaitEvent, Some(event)) = (step.kind, &mut step.event) {
                *event = canonical_event(event).to_string();
            }
        }
        Ok(definition)
    }

    /// The step with this id.
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|step| step.id == id)
    }

    fn validate(&self, known_tool: &impl Fn(&str) -> bool) -> AppResult<()> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("invalid_name", "name must be 1 to 100 characters"));
        }
        match &self.trigger {
            Trigger::Event { event, .. } if !valid_event_name(event) => {
                return Err(invalid(
                    "invalid_trigger",
                    format!(
                    "{event:?} is not an event name (dotted lower-case words, e.g. asset.upload)"
                ),
                ))
            }
            Trigger::Cron { cron } => {
                let schedule = Schedule::parse(cron)
                    .map_err(|e| invalid("invalid_cron", format!("trigger cron {cron:?}: {e}")))?;
                if schedule.next_after(0).is_none() {
                    return Err(invalid("invalid_cron", format!("{cron:?} never comes due")));
                }
            }
            _ => {}
        }
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(invalid(
                "invalid_steps",
                format!("a workflow has 1 to {MAX_STEPS} steps"),
            ));
        }
        let mut ids = HashSet::new();
        for step in &self.steps {
            if !valid_id(&step.id) {
                return Err(invalid(
                    "invalid_step_id",
                    format!("step id {:?}: use lower-case letters, digits and _ (at most 40), starting with a letter", step.id),
                ));
            }
            if !ids.insert(step.id.as_str()) {
                return Err(invalid(
                    "duplicate_step_id",
                    format!("two steps are called {:?}", step.id),
                ));
            }
        }
        for step in &self.steps {
            for dependency in &step.after {
                if !ids.contains(dependency.as_str()) {
                    return Err(invalid(
                        "unknown_step",
                        format!(
                            "step {:?} runs after {dependency:?}, which does not exist",
                            step.id
                        ),
                    ));
                }
            }
        }
        if let Some(cycle) = self.find_cycle() {
            return Err(invalid(
                "cyclic_graph",
                format!("the steps form a cycle: {}", cycle.join(" → ")),
            ));
        }
        let ancestors = self.ancestors();
        for step in &self.steps {
            self.validate_step(step, &ancestors[step.id.as_str()], false, known_tool)?;
        }
        Ok(())
    }

    /// A cycle of the `after` graph, as step ids with the first repeated at the end.
    fn find_cycle(&self) -> Option<Vec<String>> {
        let index: HashMap<&str, usize> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        // 0 = unvisited, 1 = on the current path, 2 = done.
        let mut state = vec![0u8; self.steps.len()];
        let mut path: Vec<usize> = Vec::new();
        fn visit(
            node: usize,
            steps: &[Step],
            index: &HashMap<&str, usize>,
            state: &mut [u8],
            path: &mut Vec<usize>,
        ) -> Option<Vec<String>> {
            state[node] = 1;
            path.push(node);
            for dependency in &steps[node].after {
                let Some(&next) = index.get(dependency.as_str()) else {
                    continue;
                };
                if state[next] == 1 {
                    let start = path.iter().position(|&n| n == next).unwrap_or(0);
                    // `after` points backwards in time: report the cycle in running order.
                    let mut cycle: Vec<String> = path[start..]
                        .iter()
                        .rev()
                        .map(|&n| steps[n].id.clone())
                        .collect();
                    cycle.push(steps[path[path.len() - 1]].id.clone());
                    return Some(cycle);
                }
                if state[next] == 0 {
                    if let Some(cycle) = visit(next, steps, index, state, path) {
                        return Some(cycle);
                    }
                }
            }
            path.pop();
            state[node] = 2;
            None
        }
        for node in 0..self.steps.len() {
            if state[node] == 0 {
                if let Some(cycle) = visit(node, &self.steps, &index, &mut state, &mut path) {
                    return Some(cycle);
                }
            }
        }
        None
    }

    /// Every step's transitive `after` set (the graph is acyclic).
    fn ancestors(&self) -> BTreeMap<&str, HashSet<String>> {
        let mut out: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        for step in &self.steps {
            let mut seen = HashSet::new();
            let mut stack: Vec<&str> = step.after.iter().map(String::as_str).collect();
            while let Some(id) = stack.pop() {
                if seen.insert(id.to_string()) {
                    if let Some(parent) = self.step(id) {
                        stack.extend(parent.after.iter().map(String::as_str));
                    }
                }
            }
            out.insert(step.id.as_str(), seen);
        }
        out
    }

    fn validate_step(
        &self,
        step: &Step,
        ancestors: &HashSet<String>,
        in_each: bool,
        known_tool: &impl Fn(&str) -> bool,
    ) -> AppResult<()> {
        let id = &step.id;
        let missing = |field: &str| {
            invalid(
                "missing_parameter",
                format!("step {id:?} ({}) needs `{field}`", step.kind.as_str()),
            )
        };
        let misplaced = |field: &str| {
            invalid(
                "invalid_parameter",
                format!(
                    "step {id:?}: `{field}` does not apply to a {} step",
                    step.kind.as_str()
                ),
            )
        };
        let checks: [(&str, bool, &[StepType]); 11] = [
            ("command", step.command.is_some(), &[StepType::Command]),
            ("tool", step.tool.is_some(), &[StepType::McpTool]),
            (
                "input",
                step.input.is_some(),
                &[StepType::Command, StepType::McpTool, StepType::Webhook],
            ),
            ("url", step.url.is_some(), &[StepType::Webhook]),
            (
                "event",
                step.event.is_some(),
                &[StepType::Webhook, StepType::WaitEvent],
            ),
            ("match", step.filter.is_some(), &[StepType::WaitEvent]),
            ("seconds", step.seconds.is_some(), &[StepType::Delay]),
            (
                "timeout_seconds",
                step.timeout_seconds.is_some(),
                &[StepType::WaitEvent, StepType::Approval],
            ),
            (
                "if",
                step.condition.is_some() || !step.then.is_empty() || !step.otherwise.is_empty(),
                &[StepType::Condition],
            ),
            (
                "items",
                step.items.is_some() || step.concurrency.is_some(),
                &[StepType::ForEach],
            ),
            ("each", step.each.is_some(), &[StepType::ForEach]),
        ];
        for (field, present, allowed) in checks {
            if present && !allowed.contains(&step.kind) {
                return Err(misplaced(field));
            }
        }
        if let Some(attempts) = step.max_attempts {
            if !(1..=MAX_STEP_ATTEMPTS).contains(&attempts) {
                return Err(invalid(
                    "invalid_parameter",
                    format!("step {id:?}: max_attempts must be 1 to {MAX_STEP_ATTEMPTS}"),
                ));
            }
        }
        match step.kind {
            StepType::Command => {
                let command = step.command.as_deref().ok_or_else(|| missing("command"))?;
                let Some((_, required, _)) = COMMANDS.iter().find(|(name, _, _)| *name == command)
                else {
                    let known: Vec<&str> = COMMANDS.iter().map(|(name, _, _)| *name).collect();
                    return Err(invalid(
                        "unknown_command",
                        format!(
                            "step {id:?}: unknown command {command:?} (known: {})",
                            known.join(", ")
                        ),
                    ));
                };
                let input = step.input.as_ref().and_then(Value::as_object);
                for field in *required {
                    if input.and_then(|map| map.get(*field)).is_none() {
                        return Err(invalid(
                            "missing_parameter",
                            format!("step {id:?}: command {command} needs input.{field}"),
                        ));
                    }
                }
            }
            StepType::McpTool => {
                let tool = step.tool.as_deref().ok_or_else(|| missing("tool"))?;
                if !known_tool(tool) {
                    return Err(invalid(
                        "unknown_tool",
                        format!("step {id:?}: our MCP catalog has no tool {tool:?}"),
                    ));
                }
                if step.input.as_ref().is_some_and(|input| !input.is_object()) {
                    return Err(invalid(
                        "invalid_parameter",
                        format!("step {id:?}: input must be an object"),
                    ));
                }
            }
            StepType::Webhook => {
                let url = step.url.as_deref().ok_or_else(|| missing("url"))?;
                if url::Url::parse(url).is_err() {
                    return Err(invalid(
                        "invalid_webhook_url",
                        format!("step {id:?}: {url:?} is not a URL"),
                    ));
                }
                if let Some(event) = &step.event {
                    if !valid_event_name(event) {
                        return Err(invalid(
                            "invalid_parameter",
                            format!("step {id:?}: {event:?} is not an event name"),
                        ));
                    }
                }
            }
            StepType::Delay => {
                let seconds = step.seconds.ok_or_else(|| missing("seconds"))?;
                if !(1..=MAX_DELAY_SECONDS).contains(&seconds) {
                    return Err(invalid(
                        "invalid_parameter",
                        format!("step {id:?}: seconds must be 1 to {MAX_DELAY_SECONDS}"),
                    ));
                }
            }
            StepType::WaitEvent | StepType::Approval => {
                if step.kind == StepType::WaitEvent {
                    let event = step.event.as_deref().ok_or_else(|| missing("event"))?;
                    if !valid_event_name(event) {
                        return Err(invalid(
                            "invalid_parameter",
                            format!("step {id:?}: {event:?} is not an event name"),
                        ));
                    }
                    if step.timeout_seconds.is_none() {
                        return Err(missing("timeout_seconds"));
                    }
                }
                if let Some(timeout) = step.timeout_seconds {
                    if !(1..=MAX_WAIT_SECONDS).contains(&timeout) {
                        return Err(invalid(
                            "invalid_parameter",
                            format!("step {id:?}: timeout_seconds must be 1 to {MAX_WAIT_SECONDS}"),
                        ));
                    }
                }
                if in_each {
                    return Err(misplaced("each"));
                }
            }
            StepType::Condition => {
                if in_each {
                    return Err(misplaced("each"));
                }
                step.condition.as_ref().ok_or_else(|| missing("if"))?;
                for target in step.then.iter().chain(&step.otherwise) {
                    let Some(branch) = self.step(target) else {
                        return Err(invalid(
                            "unknown_step",
                            format!("step {id:?} branches to {target:?}, which does not exist"),
                        ));
                    };
                    if !branch.after.contains(id) {
                        return Err(invalid(
                            "invalid_branch",
                            format!("step {target:?} is on a branch of {id:?}, so it must list {id:?} in `after`"),
                        ));
                    }
                }
            }
            StepType::ForEach => {
                if in_each {
                    return Err(misplaced("each"));
                }
                step.items.as_ref().ok_or_else(|| missing("items"))?;
                if let Some(concurrency) = step.concurrency {
                    if !(1..=10).contains(&concurrency) {
                        return Err(invalid(
                            "invalid_parameter",
                            format!("step {id:?}: concurrency must be 1 to 10"),
                        ));
                    }
                }
                let each = step.each.as_deref().ok_or_else(|| missing("each"))?;
                if !matches!(
                    each.kind,
                    StepType::Command | StepType::McpTool | StepType::Webhook | StepType::Delay
                ) {
                    return Err(invalid(
                        "invalid_parameter",
                        format!(
                            "step {id:?}: each must be a command, mcp_tool, webhook or delay step"
                        ),
                    ));
                }
                if !each.after.is_empty() {
                    return Err(invalid(
                        "invalid_parameter",
                        format!("step {id:?}: each takes no `after`"),
                    ));
                }
                self.validate_step(each, ancestors, true, known_tool)?;
            }
        }
        // Templates may read the trigger, the run, earlier steps' outputs and (per item) the item.
        let mut texts: Vec<&str> = Vec::new();
        for value in [&step.input, &step.items].into_iter().flatten() {
            texts.extend(template::strings(value));
        }
        for value in step.filter.iter().flat_map(|filter| filter.values()) {
            texts.extend(template::strings(value));
        }
        if let Some(condition) = &step.condition {
            texts.extend(template::strings(&condition.left));
            texts.extend(template::strings(&condition.right));
        }
        if let Some(url) = &step.url {
            texts.push(url);
        }
        for text in texts {
            if template::unbalanced(text) {
                return Err(invalid(
                    "invalid_template",
                    format!("step {id:?}: {text:?} opens {{{{ without closing it"),
                ));
            }
            for expression in template::expressions(text) {
                let mut parts = expression.split('.');
                let ok = match parts.next() {
                    Some("trigger") | Some("run") => true,
                    Some("item") => in_each,
                    Some("steps") => match (parts.next(), parts.next()) {
                        (Some(source), Some("output")) => ancestors.contains(source),
                        _ => false,
                    },
                    _ => false,
                };
                if !ok || expression.is_empty() || expression.split('.').any(str::is_empty) {
                    return Err(invalid(
                        "invalid_template",
                        format!(
                            "step {id:?}: {{{{{expression}}}}} reads nothing it can see (use trigger.…, run.…, steps.<an earlier step>.output.…{})",
                            if in_each { " or item" } else { "" }
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Whether `payload` has every `filter` value at its dotted path.
pub fn matches(filter: &Map<String, Value>, payload: &Value) -> bool {
    filter
        .iter()
        .all(|(path, expected)| template::lookup(payload, path) == Some(expected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: Value) -> AppResult<Definition> {
        Definition::parse(&value, |tool| tool == "apply_commands")
    }

    fn refusal(value: Value) -> (u16, String, String) {
        match parse(value) {
            Ok(_) => (200, String::new(), String::new()),
            Err(error) => (error.status, error.code, error.message),
        }
    }

    fn pipeline() -> Value {
        json!({
            "name": "Uploads",
            "trigger": {"type": "event", "event": "asset.uploaded", "match": {"kind": "image"}},
            "steps": [
                {"id": "thumb", "type": "command", "command": "make_thumbnail", "input": {"asset_id": "{{trigger.asset_id}}"}},
                {"id": "tag", "type": "command", "command": "tag_asset", "after": ["thumb"],
                 "input": {"asset_id": "{{trigger.asset_id}}", "tags": ["auto"]}},
                {"id": "notify", "type": "webhook", "after": ["tag"], "url": "https://example.com/hook",
                 "input": {"thumbnail": "{{steps.thumb.output.thumbnail_asset_id}}"}},
            ],
        })
    }

    #[test]
    fn a_valid_pipeline_parses_with_its_alias_resolved() {
        let definition = parse(pipeline()).unwrap_or_else(|e| panic!("{}", e.message));
        assert_eq!(
            definition.trigger,
            Trigger::Event {
                event: "asset.upload".into(),
                filter: json!({"kind": "image"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
            }
        );
    }

    #[test]
    fn cycles_are_refused_and_named() {
        let (status, code, message) = refusal(json!({
            "name": "Loop", "trigger": {"type": "manual"},
            "steps": [
                {"id": "a", "type": "delay", "seconds": 1, "after": ["c"]},
                {"id": "b", "type": "delay", "seconds": 1, "after": ["a"]},
                {"id": "c", "type": "delay", "seconds": 1, "after": ["b"]},
            ],
        }));
        assert_eq!((status, code.as_str()), (422, "cyclic_graph"));
        assert!(
            message.contains("a → b → c → a")
                || message.contains("b → c → a → b")
                || message.contains("c → a → b → c"),
            "{message}"
        );
        let (_, code, message) = refusal(json!({
            "name": "Self", "trigger": {"type": "manual"},
            "steps": [{"id": "a", "type": "delay", "seconds": 1, "after": ["a"]}],
        }));
        assert_eq!(code, "cyclic_graph");
        assert!(message.contains("a → a"), "{message}");
    }

    #[test]
    fn invalid_definitions_are_refused_with_their_reason() {
        let mut unknown = pipeline();
        unknown["steps"][0]["command"] = json!("launch_rockets");
        assert_eq!(refusal(unknown).1, "unknown_command");
        let mut missing = pipeline();
        missing["steps"][1]["input"] = json!({"asset_id": "x"});
        assert_eq!(refusal(missing).1, "missing_parameter");
        let mut future = pipeline();
        future["steps"][0]["input"]["asset_id"] = json!("{{steps.tag.output.asset_id}}");
        assert_eq!(refusal(future).1, "invalid_template");
        let mut root = pipeline();
        root["steps"][0]["input"]["asset_id"] = json!("{{env.SECRET}}");
        assert_eq!(refusal(root).1, "invalid_template");
        let mut kind = pipeline();
        kind["steps"][0]["type"] = json!("teleport");
        assert_eq!(refusal(kind).1, "invalid_definition");
        let mut tool = pipeline();
        tool["steps"][0] = json!({"id": "thumb", "type": "mcp_tool", "tool": "nope"});
        assert_eq!(refusal(tool).1, "unknown_tool");
        let mut cron = pipeline();
        cron["trigger"] = json!({"type": "cron", "cron": "61 * * * *"});
        assert_eq!(refusal(cron).1, "invalid_cron");
        let mut big = pipeline();
        big["description"] = json!("x".repeat(MAX_DEFINITION_BYTES));
        assert_eq!(refusal(big).0, 413);
        let mut branch = pipeline();
        branch["steps"][0] = json!({"id": "thumb", "type": "condition", "if": {"left": "{{trigger.kind}}", "op": "eq", "right": "image"}, "then": ["notify"]});
        assert_eq!(refusal(branch).1, "invalid_branch");
    }

    #[test]
    fn conditions_compare_json_values() {
        assert!(Condition::evaluate(Operator::Eq, &json!("a"), &json!("a")));
        assert!(Condition::evaluate(Operator::Gt, &json!(3), &json!(2.5)));
        assert!(!Condition::evaluate(Operator::Gt, &json!("3"), &json!(2)));
        assert!(Condition::evaluate(
            Operator::Contains,
            &json!(["x", "y"]),
            &json!("y")
        ));
        assert!(Condition::evaluate(
            Operator::Exists,
            &json!(0),
            &Value::Null
        ));
        assert!(!Condition::evaluate(
            Operator::Exists,
            &Value::Null,
            &Value::Null
        ));
        assert!(matches(
            json!({"details.kind": "image"})
                .as_object()
                .unwrap_or(&Map::new()),
            &json!({"details": {"kind": "image"}})
        ));
    }
}
