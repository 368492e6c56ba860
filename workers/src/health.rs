//! Liveness with a real dependency check.

use serde::Serialize;
use worker::{Request, Response};

use crate::http::{self, AppResult, Ctx};

/// `GET /v1/health`
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Health {
    /// `ok` when the database answered.
    pub status: String,
}

/// 200 `{"status":"ok"}` once D1 answers a query.
pub async fn health(ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    let db = ctx.db()?;
    let _: Option<serde_json::Value> = db.first("SELECT 1 AS ok", Vec::new()).await?;
    http::json(
        200,
        &Health {
            status: "ok".into(),
        },
    )
}
