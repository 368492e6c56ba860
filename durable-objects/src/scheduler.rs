//! Tenant-aware admission of queued work: one [`JobScheduler`] per organisation.
//!
//! Every queue consumer asks the scheduler of the job's organisation before it starts a unit of
//! work (a still, a chunk of frames, a webhook delivery) and tells it when the unit ends. The
//! scheduler holds two budgets per organisation:
//! - **concurrency**: at most `max_running` units at once, of which at most `max_batch_running`
//!   may be batch work, so interactive work (stills, thumbnails) always finds a free slot even
//!   while the organisation's exports fill their share;
//! - **rate**: a token bucket of `burst` starts refilled at `rate_per_second`.
//!
//! A refused consumer re-queues its message with a short delay, so a burst from one
//! organisation waits in the queue behind its own budget while other organisations' work goes
//! through. One object per organisation (addressed by `id_from_name(org_id)`) rather than one
//! global object: budgets are independent, so a hot organisation never makes another one's
//! admission slower, and admission scales with the number of tenants.
//!
//! Units are held as leases that expire (`lease_ms`), so a consumer that dies mid-unit cannot
//! hold a slot for ever. A lease key is the unit's identity (`job_…` or `job_…#chunk`): a second
//! admission of a held key (a duplicated or redelivered message while the first still runs) is
//! refused with `held`, which keeps one unit from running twice at once.
//!
//! Internal HTTP protocol (the Worker is the only caller):
//! - `POST /admit` [`AdmitRequest`] → [`AdmitResponse`]
//! - `POST /release {lease}` → `{released}`
//! - `GET /state` → the leases and the bucket, for operators

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Method, Request, Response, Result, State};

/// How urgent a unit of work is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    /// Someone is waiting for it (stills, thumbnails).
    Interactive,
    /// Exports and other background work.
    Batch,
}

/// Body of `POST /admit`. Limits travel with each request so that they live in the Worker's
/// configuration, like the [`crate::RateLimiter`]'s.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmitRequest {
    /// The unit's identity.
    pub lease: String,
    /// Its priority.
    pub priority: Priority,
    /// Units of the organisation running at once, all priorities.
    pub max_running: u32,
    /// Of those, batch units at most.
    pub max_batch_running: u32,
    /// Starts added to the bucket per second.
    pub rate_per_second: f64,
    /// Bucket size: the largest burst of starts.
    pub burst: f64,
    /// How long a lease lasts unless released.
    pub lease_ms: f64,
    /// The caller's clock, ms since the epoch.
    pub now_ms: f64,
}

/// Answer of `POST /admit`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdmitResponse {
    /// Whether the unit may start now (its lease is held until released or expired).
    pub admitted: bool,
    /// When refused: `concurrency`, `rate` or `held`.
    pub reason: Option<String>,
    /// When refused: a suggested wait before asking again.
    pub retry_after_ms: f64,
    /// Units of the organisation running after this decision.
    pub running: u32,
}

/// Body of `POST /release`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseRequest {
    /// The lease to end.
    pub lease: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Lease {
    key: String,
    priority: Priority,
    expires_ms: f64,
}

/// The organisation's budgets, as persisted.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Budget {
    leases: Vec<Lease>,
    tokens: Option<f64>,
    updated_ms: f64,
}

/// When a slot is full, ask again after about this long (consumers add jitter).
const BUSY_RETRY_MS: f64 = 1000.0;
const STORAGE_KEY: &str = "budget";

impl Budget {
    /// Decides one admission; pure, so it is tested natively.
    pub fn admit(&mut self, request: &AdmitRequest) -> AdmitResponse {
        let now = request.now_ms;
        self.leases.retain(|lease| lease.expires_ms > now);
        let burst = request.burst.max(1.0);
        let elapsed_s = ((now - self.updated_ms) / 1000.0).max(0.0);
        let tokens = match self.tokens {
            Some(tokens) => (tokens + elapsed_s * request.rate_per_second.max(0.0)).min(burst),
            None => burst,
        };
        self.tokens = Some(tokens);
        self.updated_ms = now.max(self.updated_ms);
        let running = self.leases.len() as u32;
        let refuse = |reason: &str, retry_after_ms: f64| AdmitResponse {
            admitted: false,
            reason: Some(reason.to_string()),
            retry_after_ms,
            running,
        };
        if let Some(held) = self.leases.iter().find(|l| l.key == request.lease) {
            return refuse("held", (held.expires_ms - now).clamp(1000.0, 30_000.0));
        }
        let batch_running = self
            .leases
            .iter()
            .filter(|l| l.priority == Priority::Batch)
            .count() as u32;
        if running >= request.max_running.max(1)
            || (request.priority == Priority::Batch
                && batch_running >= request.max_batch_running.max(1))
        {
            return refuse("concurrency", BUSY_RETRY_MS);
        }
        if tokens < 1.0 {
            let rate = request.rate_per_second.max(0.001);
            return refuse("rate", ((1.0 - tokens) / rate * 1000.0).ceil());
        }
        self.tokens = Some(tokens - 1.0);
        self.leases.push(Lease {
            key: request.lease.clone(),
            priority: request.priority,
            expires_ms: now + request.lease_ms.max(1000.0),
        });
        AdmitResponse {
            admitted: true,
            reason: None,
            retry_after_ms: 0.0,
            running: running + 1,
        }
    }

    /// Ends a lease; false when it was not held (expired or never granted).
    pub fn release(&mut self, key: &str) -> bool {
        let before = self.leases.len();
        self.leases.retain(|lease| lease.key != key);
        self.leases.len() != before
    }
}

/// Per-organisation admission control for queued jobs.
#[durable_object]
pub struct JobScheduler {
    state: State,
    budget: RefCell<Option<Budget>>,
}

impl JobScheduler {
    async fn load(&self) -> Result<Budget> {
        let cached = self.budget.borrow().clone();
        match cached {
            Some(budget) => Ok(budget),
            None => Ok(self
                .state
                .storage()
                .get::<Budget>(STORAGE_KEY)
                .await?
                .unwrap_or_default()),
        }
    }

    async fn store(&self, budget: Budget) -> Result<()> {
        self.state.storage().put(STORAGE_KEY, &budget).await?;
        *self.budget.borrow_mut() = Some(budget);
        Ok(())
    }
}

impl DurableObject for JobScheduler {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            budget: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match (req.method(), path.as_str()) {
            (Method::Post, "/admit") => {
                let request: AdmitRequest = match req.json().await {
                    Ok(request) => request,
                    Err(_) => return Response::error("malformed admit request", 400),
                };
                let mut budget = self.load().await?;
                let answer = budget.admit(&request);
                self.store(budget).await?;
                Response::from_json(&answer)
            }
            (Method::Post, "/release") => {
                let request: ReleaseRequest = match req.json().await {
                    Ok(request) => request,
                    Err(_) => return Response::error("malformed release request", 400),
                };
                let mut budget = self.load().await?;
                let released = budget.release(&request.lease);
                self.store(budget).await?;
                Response::from_json(&serde_json::json!({ "released": released }))
            }
            (Method::Get, "/state") => Response::from_json(&self.load().await?),
            _ => Response::error("unknown scheduler route", 404),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lease: &str, priority: Priority, now_ms: f64) -> AdmitRequest {
        AdmitRequest {
            lease: lease.into(),
            priority,
            max_running: 3,
            max_batch_running: 2,
            rate_per_second: 1.0,
            burst: 10.0,
            lease_ms: 60_000.0,
            now_ms,
        }
    }

    #[test]
    fn batch_work_leaves_room_for_interactive_work() {
        let mut budget = Budget::default();
        assert!(budget.admit(&request("a", Priority::Batch, 0.0)).admitted);
        assert!(budget.admit(&request("b", Priority::Batch, 0.0)).admitted);
        let third = budget.admit(&request("c", Priority::Batch, 0.0));
        assert_eq!(third.reason.as_deref(), Some("concurrency"));
        assert!(
            budget
                .admit(&request("still", Priority::Interactive, 0.0))
                .admitted
        );
        let full = budget.admit(&request("still2", Priority::Interactive, 0.0));
        assert_eq!(full.reason.as_deref(), Some("concurrency"));
        assert!(budget.release("a"));
        assert!(budget.admit(&request("c", Priority::Batch, 0.0)).admitted);
    }

    #[test]
    fn a_held_lease_is_not_granted_twice_until_it_expires() {
        let mut budget = Budget::default();
        assert!(
            budget
                .admit(&request("job#0", Priority::Batch, 0.0))
                .admitted
        );
        let again = budget.admit(&request("job#0", Priority::Batch, 1000.0));
        assert_eq!(again.reason.as_deref(), Some("held"));
        assert!(
            budget
                .admit(&request("job#0", Priority::Batch, 61_000.0))
                .admitted
        );
        assert!(!budget.release("unknown"));
    }

    #[test]
    fn the_rate_budget_refills_over_time() {
        let mut budget = Budget::default();
        let mut req = request("x", Priority::Interactive, 0.0);
        req.max_running = 100;
        req.burst = 2.0;
        for n in 0..2 {
            req.lease = format!("x{n}");
            assert!(budget.admit(&req).admitted);
        }
        req.lease = "x2".into();
        let refused = budget.admit(&req);
        assert_eq!(refused.reason.as_deref(), Some("rate"));
        assert_eq!(refused.retry_after_ms, 1000.0);
        req.now_ms = 1000.0;
        assert!(budget.admit(&req).admitted);
    }
}
