//! Toolgraph (module 10): a per-organisation catalog of external MCP servers ("connectors"),
//! the registry of their tools, and the proxy through which agents and people call them.
//!
//! - `api`: the HTTP routes under `/v1/orgs/{org_id}/connectors` (catalog CRUD, discovery,
//!   registry, proxied calls). Our MCP server exposes the registry and the proxy as the tools
//!   `list_connector_tools` and `call_connector_tool`.
//! - `client`: the Streamable HTTP MCP client the proxy speaks (JSON or SSE answers, session
//!   ids, manual redirects, timeout, size cap).
//! - `crypto`: credentials at rest (AES-256-GCM, key from the Worker secret
//!   `CONNECTOR_ENCRYPTION_KEY`); write-only through the API.
//! - `ssrf`: which addresses the proxy may reach (https to public hosts; an exact `host:port`
//!   allowance for local development in `CONNECTORS_DEV_ALLOW`).
//!
//! External servers are never called from the browser or by agents directly: every call goes
//! through [`api::call_tool`], which applies the connector's rate limit (RateLimiter DO),
//! timeout and response size cap, and writes an audit record of the call.

pub mod api;
pub mod client;
pub mod crypto;
pub mod ssrf;
