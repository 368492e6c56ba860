//! A token bucket per Durable Object instance.
//!
//! The bucket refills continuously at `refill_per_second` up to `capacity`; a request costs
//! `cost` tokens. The state is persisted so that an evicted object does not hand out a fresh
//! burst, which would let a credential-stuffing client reset its budget by waiting for eviction.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// Body of `POST /take` on a [`RateLimiter`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeRequest {
    /// Bucket size: the largest burst allowed.
    pub capacity: f64,
    /// Tokens added per second.
    pub refill_per_second: f64,
    /// Tokens this request costs.
    pub cost: f64,
    /// The caller's clock, in milliseconds since the epoch.
    pub now_ms: f64,
}

/// Answer of `POST /take`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TakeResponse {
    /// Whether the tokens were granted (and deducted).
    pub allowed: bool,
    /// Tokens left after this request.
    pub remaining: f64,
    /// When `allowed` is false: how long until enough tokens are back.
    pub retry_after_ms: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Bucket {
    tokens: f64,
    updated_ms: f64,
}

const STORAGE_KEY: &str = "bucket";

/// Per-key token bucket (login throttling, API budgets).
#[durable_object]
pub struct RateLimiter {
    state: State,
    bucket: RefCell<Option<Bucket>>,
}

impl RateLimiter {
    fn decide(bucket: Option<Bucket>, take: &TakeRequest) -> (Bucket, TakeResponse) {
        let capacity = take.capacity.max(0.0);
        let refill = take.refill_per_second.max(0.0);
        let mut current = bucket.unwrap_or(Bucket {
            tokens: capacity,
            updated_ms: take.now_ms,
        });
        let elapsed_s = ((take.now_ms - current.updated_ms) / 1000.0).max(0.0);
        current.tokens = (current.tokens + elapsed_s * refill).min(capacity);
        current.updated_ms = take.now_ms.max(current.updated_ms);
        if current.tokens >= take.cost {
            current.tokens -= take.cost;
            (
                current,
                TakeResponse {
                    allowed: true,
                    remaining: current.tokens,
                    retry_after_ms: 0.0,
                },
            )
        } else {
            let missing = take.cost - current.tokens;
            let retry_after_ms = if refill > 0.0 {
                (missing / refill * 1000.0).ceil()
            } else {
                f64::INFINITY
            };
            (
                current,
                TakeResponse {
                    allowed: false,
                    remaining: current.tokens,
                    retry_after_ms,
                },
            )
        }
    }
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            bucket: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let take: TakeRequest = match req.json().await {
            Ok(take) => take,
            Err(_) => return Response::error("malformed take request", 400),
        };
        let loaded = *self.bucket.borrow();
        let bucket = match loaded {
            Some(bucket) => Some(bucket),
            None => self.state.storage().get::<Bucket>(STORAGE_KEY).await?,
        };
        let (bucket, answer) = Self::decide(bucket, &take);
        self.state.storage().put(STORAGE_KEY, bucket).await?;
        *self.bucket.borrow_mut() = Some(bucket);
        Response::from_json(&answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(now_ms: f64) -> TakeRequest {
        TakeRequest {
            capacity: 3.0,
            refill_per_second: 0.5,
            cost: 1.0,
            now_ms,
        }
    }

    #[test]
    fn bucket_allows_a_burst_then_refuses_until_refilled() {
        let mut bucket = None;
        for _ in 0..3 {
            let (next, answer) = RateLimiter::decide(bucket, &take(1000.0));
            assert!(answer.allowed);
            bucket = Some(next);
        }
        let (next, answer) = RateLimiter::decide(bucket, &take(1000.0));
        assert!(!answer.allowed);
        assert_eq!(answer.retry_after_ms, 2000.0);
        let (_, answer) = RateLimiter::decide(Some(next), &take(3000.0));
        assert!(answer.allowed);
    }
}
