//! Durable Object classes of Creator OS.
//!
//! Each class is a single-threaded owner of some state that must not be raced:
//! - [`RateLimiter`]: one token bucket per key (login attempts per account and per client IP,
//!   later per-principal API budgets). The Worker addresses it by name (`id_from_name(key)`).
//! - [`ProjectRoom`]: one per project; owns the timeline and the collaboration room.
//! - [`JobScheduler`]: one per organisation; admits queued work within its concurrency and
//!   rate budgets, interactive work ahead of batch work.
//! - [`AgentRun`]: one per agent run; its checkpointed state, approvals and watchdog.

pub mod agent_run;
pub mod comments;
mod outbox;
mod project_room;
pub mod protocol;
mod rate_limiter;
pub mod room;
pub mod scheduler;

pub use agent_run::AgentRun;
pub use project_room::{CommandsRequest, CommentRequest, ProjectRoom, MAX_COMMANDS_PER_REQUEST};
pub use rate_limiter::{RateLimiter, TakeRequest, TakeResponse};
pub use scheduler::JobScheduler;
