//! Throttling through the `RateLimiter` Durable Object: one token bucket per key.

use durable_objects::{TakeRequest, TakeResponse};
use worker::{Method, Request, RequestInit};

use crate::http::{AppError, AppResult, Ctx};

/// A bucket's shape.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Largest burst.
    pub capacity: f64,
    /// Tokens regained per second.
    pub refill_per_second: f64,
}

/// Takes one token from the bucket `key`; 429 with `Retry-After` when it is empty.
pub async fn take(ctx: &Ctx, key: &str, budget: Budget) -> AppResult<()> {
    let namespace = ctx.env.durable_object("RATE_LIMITER")?;
    let stub = namespace.id_from_name(key)?.get_stub()?;
    let body = TakeRequest {
        capacity: budget.capacity,
        refill_per_second: budget.refill_per_second,
        cost: 1.0,
        now_ms: ctx.now as f64,
    };
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(&body)?.into()));
    let request = Request::new_with_init("https://rate-limiter/take", &init)?;
    let mut response = stub.fetch_with_request(request).await?;
    let answer: TakeResponse = response.json().await?;
    if answer.allowed {
        Ok(())
    } else {
        let seconds = if answer.retry_after_ms.is_finite() {
            (answer.retry_after_ms / 1000.0).ceil() as u64
        } else {
            3600
        };
        Err(AppError::rate_limited(seconds))
    }
}

/// Login attempts: per account and per client IP, both must have budget.
pub async fn login_attempt(ctx: &Ctx, email: &str) -> AppResult<()> {
    let account = Budget {
        capacity: ctx.var_f64("LOGIN_ACCOUNT_BURST", 8.0),
        refill_per_second: ctx.var_f64("LOGIN_ACCOUNT_PER_MINUTE", 4.0) / 60.0,
    };
    let per_ip = Budget {
        capacity: ctx.var_f64("LOGIN_IP_BURST", 60.0),
        refill_per_second: ctx.var_f64("LOGIN_IP_PER_MINUTE", 60.0) / 60.0,
    };
    let ip = ctx.ip.clone().unwrap_or_else(|| "unknown".to_string());
    take(ctx, &format!("login:ip:{ip}"), per_ip).await?;
    take(ctx, &format!("login:account:{email}"), account).await
}
