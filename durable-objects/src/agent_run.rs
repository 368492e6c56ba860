//! The state of one agent run: one [`AgentRun`] Durable Object per run (addressed by run id).
//!
//! The object is the run's single owner and its checkpoint: the plan (tool calls decided so
//! far), every executed step with its trace, approvals and the status. Every change is written
//! to the object's SQLite storage before it answers, so the run survives eviction and a restart
//! of the runtime. Steps themselves execute in the Worker (a queue message drives one step at
//! a time) and report back here; a report is accepted only for the step the run expects next,
//! so a step re-driven after a crash cannot be recorded twice.
//!
//! An alarm is the watchdog: while the run is `running`, a run that made no progress for the
//! step timeout is driven again (a new `agent_step` message on the interactive jobs queue).
//!
//! Internal HTTP protocol (the Worker has already authenticated and authorised the caller):
//! - `GET /state` → `{state}` (and re-drives an overdue run)
//! - `POST /op {op: init | plan | step | gate | decide | cancel | finish, …}` →
//!   `{accepted, state}`; see [`RunOp`].

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// Default seconds without progress before the watchdog drives a running run again.
pub const DEFAULT_STEP_TIMEOUT_SECONDS: i64 = 30;

/// A tool call the planner decided on; its position in the plan is its step index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedCall {
    /// Tool name (of the MCP catalog).
    pub tool: String,
    /// Tool arguments.
    pub arguments: Value,
    /// The model's id for the call (chat-completions planner), echoed in the tool message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call_id: Option<String>,
    /// Planning round that produced it (chat-completions planner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<usize>,
    /// Where the agent's playhead goes while it runs this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playhead: Option<u64>,
    /// One line for people watching the run.
    #[serde(default)]
    pub summary: String,
}

/// An executed step and its trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// Position in the run, from 0.
    pub index: usize,
    /// Tool name.
    pub tool: String,
    /// Arguments (size-capped).
    pub arguments: Value,
    /// The tool's result (size-capped).
    pub output: Value,
    /// Whether the tool reported an error.
    pub is_error: bool,
    /// Start, ms since the epoch.
    pub started_at: i64,
    /// End, ms since the epoch.
    pub finished_at: i64,
    /// Who approved it, for a gated step: `{type, id}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<Value>,
}

/// A person's answer to a gated step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The gated step.
    pub index: usize,
    /// Approved (else rejected).
    pub approved: bool,
    /// Who: `{type, id}`.
    pub by: Value,
    /// When, ms since the epoch.
    pub at: i64,
}

/// Everything known about a run: its checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// `run_…`
    pub run_id: String,
    /// Organisation.
    pub org_id: String,
    /// `agt_…`
    pub agent_id: String,
    /// Project the run edits, if any.
    #[serde(default)]
    pub project_id: Option<String>,
    /// `recipe:<name>` or `llm`.
    pub planner: String,
    /// What the run is for.
    pub goal: String,
    /// Planner inputs.
    #[serde(default)]
    pub inputs: Value,
    /// `running`, `awaiting_approval`, `succeeded`, `failed`, `cancelled` or `rejected`.
    pub status: String,
    /// Tool calls decided so far.
    #[serde(default)]
    pub plan: Vec<PlannedCall>,
    /// Whether the planner has nothing more to add (recipes plan everything at once).
    #[serde(default)]
    pub plan_complete: bool,
    /// The model's messages, one per planning round (chat-completions planner).
    #[serde(default)]
    pub rounds: Vec<Value>,
    /// Executed steps, in order.
    #[serde(default)]
    pub steps: Vec<StepRecord>,
    /// Answers to gated steps.
    #[serde(default)]
    pub decisions: Vec<Decision>,
    /// The gated step waiting for a person.
    #[serde(default)]
    pub awaiting: Option<usize>,
    /// Why it failed, was rejected or cancelled: `{code, message}`.
    #[serde(default)]
    pub error: Option<Value>,
    /// The planner's final answer.
    #[serde(default)]
    pub answer: Option<String>,
    /// Who started it: `{type, id}`.
    pub created_by: Value,
    /// Creation, ms since the epoch.
    pub created_at: i64,
    /// Last change, ms since the epoch.
    pub updated_at: i64,
    /// End, ms since the epoch.
    #[serde(default)]
    pub finished_at: Option<i64>,
}

impl RunState {
    /// Whether the run has ended.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self.status.as_str(),
            "succeeded" | "failed" | "cancelled" | "rejected"
        )
    }

    /// The approval of step `index`, if a person approved it.
    pub fn approval_of(&self, index: usize) -> Option<&Decision> {
        self.decisions
            .iter()
            .find(|d| d.index == index && d.approved)
    }
}

/// A change to a run, applied only when it fits the run's current state (so repeated or late
/// reports change nothing).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RunOp {
    /// Creates the run (ignored when it exists).
    Init {
        /// The initial state.
        state: Box<RunState>,
    },
    /// Appends the calls of planning round `round`.
    Plan {
        /// Expected number of rounds so far.
        round: usize,
        /// The calls.
        calls: Vec<PlannedCall>,
        /// The model's message of that round.
        #[serde(default)]
        message: Value,
        /// Whether the plan is now complete.
        #[serde(default)]
        complete: bool,
    },
    /// Records step `record.index`, which must be the next one.
    Step {
        /// The step.
        record: StepRecord,
    },
    /// Pauses before step `index` for a person's approval.
    Gate {
        /// The step.
        index: usize,
    },
    /// A person approves or rejects the gated step.
    Decide {
        /// The step.
        index: usize,
        /// Approve (else reject: the run ends `rejected`).
        approved: bool,
        /// Who.
        by: Value,
    },
    /// Stops the run.
    Cancel {
        /// Who.
        by: Value,
    },
    /// Ends a running run.
    Finish {
        /// Succeeded (else failed).
        succeeded: bool,
        /// Why it failed.
        #[serde(default)]
        error: Option<Value>,
        /// The final answer.
        #[serde(default)]
        answer: Option<String>,
    },
}

/// The queue message that drives a run's next step (consumed by the Worker).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DriveMessage {
    /// Always `agent_step`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The run.
    pub run_id: String,
    /// Why: `start`, `next`, `approved`, `watchdog`.
    pub reason: String,
}

impl DriveMessage {
    /// A message for `run_id`.
    pub fn new(run_id: &str, reason: &str) -> Self {
        Self {
            kind: "agent_step".into(),
            run_id: run_id.into(),
            reason: reason.into(),
        }
    }
}

/// Applies `op` to `state` at `now`; returns whether it was accepted. Pure: the object persists
/// the result.
pub fn apply_op(state: &mut Option<RunState>, op: RunOp, now: i64) -> bool {
    let accepted = match (state.as_mut(), op) {
        (None, RunOp::Init { state: initial }) => {
            *state = Some(*initial);
            return true;
        }
        (_, RunOp::Init { .. }) | (None, _) => false,
        (
            Some(run),
            RunOp::Plan {
                round,
                calls,
                message,
                complete,
            },
        ) => {
            let fits = run.status == "running" && run.rounds.len() == round && !run.plan_complete;
            if fits {
                run.rounds.push(message);
                run.plan.extend(calls);
                run.plan_complete = complete;
            }
            fits
        }
        (Some(run), RunOp::Step { record }) => {
            let fits = run.status == "running" && record.index == run.steps.len();
            if fits {
                run.steps.push(record);
            }
            fits
        }
        (Some(run), RunOp::Gate { index }) => {
            let fits = run.status == "running" && index == run.steps.len();
            if fits {
                run.status = "awaiting_approval".into();
                run.awaiting = Some(index);
            }
            fits
        }
        (
            Some(run),
            RunOp::Decide {
                index,
                approved,
                by,
            },
        ) => {
            let fits = run.status == "awaiting_approval" && run.awaiting == Some(index);
            if fits {
                run.decisions.push(Decision {
                    index,
                    approved,
                    by,
                    at: now,
                });
                run.awaiting = None;
                if approved {
                    run.status = "running".into();
                } else {
                    run.status = "rejected".into();
                    run.error = Some(
                        json!({"code": "step_rejected", "message": format!("step {index} was rejected")}),
                    );
                    run.finished_at = Some(now);
                }
            }
            fits
        }
        (Some(run), RunOp::Cancel { by }) => {
            let fits = !run.is_terminal();
            if fits {
                run.status = "cancelled".into();
                run.awaiting = None;
                run.error = Some(
                    json!({"code": "cancelled", "message": "the run was cancelled", "by": by}),
                );
                run.finished_at = Some(now);
            }
            fits
        }
        (
            Some(run),
            RunOp::Finish {
                succeeded,
                error,
                answer,
            },
        ) => {
            let fits = run.status == "running";
            if fits {
                run.status = if succeeded { "succeeded" } else { "failed" }.into();
                run.error = error;
                run.answer = answer;
                run.finished_at = Some(now);
            }
            fits
        }
    };
    if accepted {
        if let Some(run) = state.as_mut() {
            run.updated_at = now;
        }
    }
    accepted
}

/// One Durable Object per agent run.
#[durable_object]
pub struct AgentRun {
    state: State,
    env: Env,
}

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

impl AgentRun {
    fn ensure_schema(&self) -> Result<()> {
        self.state.storage().sql().exec(
            "CREATE TABLE IF NOT EXISTS run (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL)",
            None,
        )?;
        Ok(())
    }

    fn load(&self) -> Result<Option<RunState>> {
        self.ensure_schema()?;
        #[derive(Deserialize)]
        struct Row {
            state: String,
        }
        let rows: Vec<Row> = self
            .state
            .storage()
            .sql()
            .exec("SELECT state FROM run WHERE id = 1", None)?
            .to_array()?;
        match rows.into_iter().next() {
            Some(row) => Ok(Some(serde_json::from_str(&row.state)?)),
            None => Ok(None),
        }
    }

    fn save(&self, run: &RunState) -> Result<()> {
        self.state.storage().sql().exec(
            "INSERT OR REPLACE INTO run (id, state) VALUES (1, ?)",
            vec![serde_json::to_string(run)?.into()],
        )?;
        Ok(())
    }

    fn timeout_ms(&self) -> i64 {
        self.env
            .var("AGENT_STEP_TIMEOUT_SECONDS")
            .ok()
            .and_then(|v| v.to_string().parse::<i64>().ok())
            .filter(|s| *s > 0)
            .unwrap_or(DEFAULT_STEP_TIMEOUT_SECONDS)
            * 1000
    }

    /// Keeps the watchdog armed while the run is running, and off otherwise.
    async fn arm(&self, run: &RunState) -> Result<()> {
        if run.status == "running" {
            self.state.storage().set_alarm(self.timeout_ms()).await?;
        } else {
            self.state.storage().delete_alarm().await?;
        }
        Ok(())
    }

    async fn drive(&self, run_id: &str, reason: &str) {
        let sent = match self.env.queue("JOBS_INTERACTIVE") {
            Ok(queue) => queue.send(DriveMessage::new(run_id, reason)).await,
            Err(e) => Err(e),
        };
        if let Err(e) = sent {
            worker::console_error!(
                "{}",
                json!({"level": "error", "msg": "agent run not driven", "run_id": run_id, "error": e.to_string()})
            );
        }
    }

    /// Drives a running run that made no progress for the step timeout.
    async fn watchdog(&self, run: &RunState) -> Result<()> {
        if run.status == "running" && now_ms() - run.updated_at >= self.timeout_ms() - 50 {
            self.drive(&run.run_id, "watchdog").await;
            self.state.storage().set_alarm(self.timeout_ms()).await?;
        }
        Ok(())
    }
}

impl DurableObject for AgentRun {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Get, "/state") => match self.load()? {
                Some(run) => {
                    self.watchdog(&run).await?;
                    Response::from_json(&json!({ "state": run }))
                }
                None => Response::error("run not found", 404),
            },
            (Method::Post, "/op") => {
                let op: RunOp = match req.json().await {
                    Ok(op) => op,
                    Err(e) => return Response::error(format!("malformed op: {e}"), 400),
                };
                let mut run = self.load()?;
                let accepted = apply_op(&mut run, op, now_ms());
                if accepted {
                    if let Some(run) = &run {
                        self.save(run)?;
                        self.arm(run).await?;
                    }
                }
                Response::from_json(&json!({ "accepted": accepted, "state": run }))
            }
            _ => Response::error("unknown agent run route", 404),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        if let Some(run) = self.load()? {
            self.watchdog(&run).await?;
        }
        Response::ok("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunState {
        RunState {
            run_id: "run_1".into(),
            org_id: "org_1".into(),
            agent_id: "agt_1".into(),
            project_id: None,
            planner: "recipe:slideshow".into(),
            goal: "g".into(),
            inputs: Value::Null,
            status: "running".into(),
            plan: vec![],
            plan_complete: false,
            rounds: vec![],
            steps: vec![],
            decisions: vec![],
            awaiting: None,
            error: None,
            answer: None,
            created_by: json!({"type": "user", "id": "usr_1"}),
            created_at: 0,
            updated_at: 0,
            finished_at: None,
        }
    }

    fn step(index: usize) -> StepRecord {
        StepRecord {
            index,
            tool: "get_timeline".into(),
            arguments: json!({}),
            output: json!({}),
            is_error: false,
            started_at: 1,
            finished_at: 2,
            approved_by: None,
        }
    }

    #[test]
    fn a_step_is_recorded_once_and_in_order() {
        let mut state = None;
        assert!(apply_op(
            &mut state,
            RunOp::Init {
                state: Box::new(run())
            },
            1
        ));
        assert!(!apply_op(
            &mut state,
            RunOp::Init {
                state: Box::new(run())
            },
            1
        ));
        assert!(!apply_op(&mut state, RunOp::Step { record: step(1) }, 2));
        assert!(apply_op(&mut state, RunOp::Step { record: step(0) }, 2));
        assert!(!apply_op(&mut state, RunOp::Step { record: step(0) }, 3));
        assert_eq!(state.as_ref().unwrap().steps.len(), 1);
    }

    #[test]
    fn a_gate_waits_for_a_decision() {
        let mut state = Some(run());
        assert!(apply_op(&mut state, RunOp::Gate { index: 0 }, 1));
        assert!(!apply_op(&mut state, RunOp::Step { record: step(0) }, 2));
        let by = json!({"type": "user", "id": "usr_2"});
        assert!(!apply_op(
            &mut state,
            RunOp::Decide {
                index: 1,
                approved: true,
                by: by.clone()
            },
            3
        ));
        assert!(apply_op(
            &mut state,
            RunOp::Decide {
                index: 0,
                approved: true,
                by: by.clone()
            },
            3
        ));
        let run = state.as_ref().unwrap();
        assert_eq!(run.status, "running");
        assert_eq!(run.approval_of(0).unwrap().by, by);
        assert!(apply_op(&mut state, RunOp::Gate { index: 0 }, 4));
        assert!(apply_op(
            &mut state,
            RunOp::Decide {
                index: 0,
                approved: false,
                by
            },
            5
        ));
        assert_eq!(state.as_ref().unwrap().status, "rejected");
        assert!(!apply_op(&mut state, RunOp::Cancel { by: Value::Null }, 6));
    }
}
