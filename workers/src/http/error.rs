//! The one error shape of the API.
//!
//! Every failure leaves as `{"error": {"code", "message", "request_id"}}` with the status that
//! fits it. Internal details are logged once (in the request's log line) and never returned.

use std::fmt::Display;

/// An error that ends a request.
#[derive(Debug, Clone)]
pub struct AppError {
    /// HTTP status.
    pub status: u16,
    /// Stable, snake_case machine code.
    pub code: String,
    /// Human-readable explanation, safe to show.
    pub message: String,
    /// Seconds the client should wait (429).
    pub retry_after: Option<u64>,
    /// `WWW-Authenticate` challenge (401).
    pub www_authenticate: Option<String>,
    /// Detail for the log only.
    pub internal: Option<String>,
}

impl AppError {
    /// An error with a status, code and message.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
            retry_after: None,
            www_authenticate: None,
            internal: None,
        }
    }

    /// 400: the request could not be parsed.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 401: no valid credentials.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(401, "unauthenticated", message)
    }

    /// 403: known principal, not allowed.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }

    /// 404: absent, or belonging to another tenant (never told apart).
    pub fn not_found(what: &str) -> Self {
        Self::new(404, "not_found", format!("{what} not found"))
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(code: &str, message: impl Into<String>) -> Self {
        Self::new(409, code, message)
    }

    /// 422: well-formed but invalid.
    pub fn invalid(code: &str, message: impl Into<String>) -> Self {
        Self::new(422, code, message)
    }

    /// 429 with a `Retry-After`.
    pub fn rate_limited(retry_after_seconds: u64) -> Self {
        let mut error = Self::new(429, "rate_limited", "too many attempts; try again later");
        error.retry_after = Some(retry_after_seconds.max(1));
        error
    }

    /// 500 with the detail kept for the log.
    pub fn internal(detail: impl Display) -> Self {
        let mut error = Self::new(500, "internal_error", "something went wrong on our side");
        error.internal = Some(detail.to_string());
        error
    }
}

impl From<worker::Error> for AppError {
    fn from(error: worker::Error) -> Self {
        AppError::internal(error)
    }
}

impl From<serde_json::Error> for AppError {
    fn from(error: serde_json::Error) -> Self {
        AppError::internal(error)
    }
}

/// Result of a handler.
pub type AppResult<T> = Result<T, AppError>;
