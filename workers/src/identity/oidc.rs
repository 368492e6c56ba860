//! Social and SSO login with OpenID Connect (authorization code + PKCE).

use schemars::JsonSchema;
use serde::Serialize;
use worker::{Request, Response};

use crate::http::{self, AppError, AppResult, Ctx};

/// A configured provider.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderView {
    /// Provider id used in the login URL.
    pub id: String,
    /// Display name.
    pub name: String,
}

/// Configured providers.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProviderList {
    /// In configuration order.
    pub providers: Vec<ProviderView>,
}

/// `GET /v1/auth/oidc/providers`
pub async fn providers(_ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    http::json(200, &ProviderList { providers: Vec::new() })
}

/// `GET /v1/auth/oidc/{provider}/start`
pub async fn start(_ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    Err(AppError::not_found("provider"))
}

/// `GET /v1/auth/oidc/{provider}/callback`
pub async fn callback(_ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    Err(AppError::not_found("provider"))
}
