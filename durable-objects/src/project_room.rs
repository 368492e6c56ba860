//! The per-project room: owner of a project's timeline and its collaboration session.
//!
//! The binding and its SQLite storage class are declared now so that deployed state never
//! needs a class rename; the room protocol (ordered commands, presence, comments) is built on
//! `editor-core`'s `apply` in this object.

use worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

/// One Durable Object per project (addressed by project id).
#[durable_object]
pub struct ProjectRoom {
    _state: State,
}

impl DurableObject for ProjectRoom {
    fn new(state: State, _env: Env) -> Self {
        Self { _state: state }
    }

    async fn fetch(&self, _req: Request) -> Result<Response> {
        let body = serde_json::json!({
            "error": {"code": "not_available", "message": "project rooms are not open yet"}
        });
        Ok(Response::from_json(&body)?.with_status(503))
    }
}
