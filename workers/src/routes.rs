//! The route table: one entry per operation, feeding both the dispatcher and `/openapi.json`.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use worker::{Method, Request, Response};

use crate::agents::api as agents;
use crate::analytics::{
    capture as analytics_capture, errors as analytics_errors, flags as analytics_flags,
    query as analytics_query, tracing as analytics_tracing,
};
use crate::assets::{api as assets, uploads};
use crate::automation::api as automation;
use crate::collab;
use crate::commerce::{affiliates, catalog, fulfil, orders, payouts, webhooks};
use crate::health;
use crate::http::{AppResult, Ctx};
use crate::identity::{api as identity, oidc};
use crate::jobs::api as jobs;
use crate::marketplace::{licences, listings, reviews, usage as market_use};
use crate::openapi;
use crate::projects;
use crate::toolgraph::api as connectors;

/// Produces the JSON Schema of a body type inside the OpenAPI document.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, registered in the document's components.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One operation of the API.
pub struct Route {
    /// Dispatch key.
    pub op: Op,
    /// HTTP method.
    pub method: Method,
    /// Path template.
    pub path: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// Module it belongs to.
    pub tag: &'static str,
    /// Whether a principal is required.
    pub auth: bool,
    /// JSON request body, if any.
    pub body: Option<SchemaFn>,
    /// Success status and JSON body, if any.
    pub ok: (u16, Option<SchemaFn>),
    /// Query parameters: name and description.
    pub query: &'static [(&'static str, &'static str)],
}

impl crate::http::router::RouteShape for Route {
    fn method(&self) -> &Method {
        &self.method
    }
    fn template(&self) -> &'static str {
        self.path
    }
}

macro_rules! routes {
    ($(
        $op:ident: $method:ident $path:literal => $handler:path {
            summary: $summary:literal, tag: $tag:literal, auth: $auth:literal,
            body: $body:expr, ok: ($status:literal, $response:expr) $(, query: $query:expr)? $(,)?
        }
    )*) => {
        /// Operations of the API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Op { $(
            #[doc = $summary]
            $op
        ),* }

        /// Every route the Worker serves.
        pub static ROUTES: &[Route] = &[$(
            Route {
                op: Op::$op,
                method: Method::$method,
                path: $path,
                summary: $summary,
                tag: $tag,
                auth: $auth,
                body: $body,
                ok: ($status, $response),
                query: routes!(@query $($query)?),
            }
        ),*];

        /// Runs the handler of `op`.
        pub async fn dispatch(op: Op, ctx: &mut Ctx, req: Request) -> AppResult<Response> {
            match op { $( Op::$op => $handler(ctx, req).await ),* }
        }
    };
    (@query) => { &[] };
    (@query $query:expr) => { $query };
}

routes! {
    Health: Get "/v1/health" => health::health {
        summary: "Liveness, with the database reachable", tag: "platform", auth: false,
        body: None, ok: (200, Some(schema::<health::Health>)),
    }
    OpenApi: Get "/openapi.json" => openapi::serve {
        summary: "This OpenAPI 3.1 document", tag: "platform", auth: false,
        body: None, ok: (200, None),
    }
    Signup: Post "/v1/auth/signup" => identity::signup {
        summary: "Create an account, its personal organisation and a session", tag: "identity", auth: false,
        body: Some(schema::<identity::SignupBody>), ok: (201, Some(schema::<identity::AuthResponse>)),
    }
    Login: Post "/v1/auth/login" => identity::login {
        summary: "Sign in with email and password (throttled per account and per IP)", tag: "identity", auth: false,
        body: Some(schema::<identity::LoginBody>), ok: (200, Some(schema::<identity::AuthResponse>)),
    }
    Logout: Post "/v1/auth/logout" => identity::logout {
        summary: "End the current session", tag: "identity", auth: true,
        body: None, ok: (204, None),
    }
    LogoutAll: Post "/v1/auth/logout-all" => identity::logout_all {
        summary: "End every session of the signed-in user", tag: "identity", auth: true,
        body: None, ok: (204, None),
    }
    ChangePassword: Post "/v1/auth/password" => identity::change_password {
        summary: "Change the password; every other session ends", tag: "identity", auth: true,
        body: Some(schema::<identity::ChangePasswordBody>), ok: (204, None),
    }
    ListSessions: Get "/v1/auth/sessions" => identity::list_sessions {
        summary: "Active sessions of the signed-in user", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::SessionList>)),
    }
    OidcProviders: Get "/v1/auth/oidc/providers" => oidc::providers {
        summary: "OpenID Connect providers configured for sign-in", tag: "identity", auth: false,
        body: None, ok: (200, Some(schema::<oidc::ProviderList>)),
    }
    OidcStart: Get "/v1/auth/oidc/{provider}/start" => oidc::start {
        summary: "Begin an OpenID Connect login (redirects to the provider)", tag: "identity", auth: false,
        body: None, ok: (302, None), query: &[("return_to", "same-site path to return to after login")],
    }
    OidcCallback: Get "/v1/auth/oidc/{provider}/callback" => oidc::callback {
        summary: "Finish an OpenID Connect login (the provider redirects here)", tag: "identity", auth: false,
        body: None, ok: (302, None), query: &[("code", "authorization code"), ("state", "state issued at start"), ("error", "error reported by the provider")],
    }
    Me: Get "/v1/me" => identity::me {
        summary: "The signed-in user and their memberships", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::MeResponse>)),
    }
    CreateOrg: Post "/v1/orgs" => identity::create_org {
        summary: "Create an organisation owned by the caller", tag: "identity", auth: true,
        body: Some(schema::<identity::OrgBody>), ok: (201, Some(schema::<identity::OrgResponse>)),
    }
    ListOrgs: Get "/v1/orgs" => identity::list_orgs {
        summary: "Organisations of the caller", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::OrgList>)),
    }
    GetOrg: Get "/v1/orgs/{org_id}" => identity::get_org {
        summary: "One organisation", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::OrgResponse>)),
    }
    RenameOrg: Patch "/v1/orgs/{org_id}" => identity::rename_org {
        summary: "Rename an organisation (admin)", tag: "identity", auth: true,
        body: Some(schema::<identity::OrgBody>), ok: (200, Some(schema::<identity::OrgResponse>)),
    }
    ListMembers: Get "/v1/orgs/{org_id}/members" => identity::list_members {
        summary: "Members and their roles", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::MemberList>)),
    }
    ChangeRole: Patch "/v1/orgs/{org_id}/members/{user_id}" => identity::change_role {
        summary: "Change a member's role (admin; ownership by owners)", tag: "identity", auth: true,
        body: Some(schema::<identity::RoleBody>), ok: (200, Some(schema::<identity::MembershipResponse>)),
    }
    RemoveMember: Delete "/v1/orgs/{org_id}/members/{user_id}" => identity::remove_member {
        summary: "Remove a member, or leave (own id); the last owner cannot leave", tag: "identity", auth: true,
        body: None, ok: (204, None),
    }
    CreateInvitation: Post "/v1/orgs/{org_id}/invitations" => identity::create_invitation {
        summary: "Invite someone by email (admin); the token expires and works once", tag: "identity", auth: true,
        body: Some(schema::<identity::InvitationBody>), ok: (201, Some(schema::<identity::InvitationResponse>)),
    }
    ListInvitations: Get "/v1/orgs/{org_id}/invitations" => identity::list_invitations {
        summary: "Pending invitations (admin)", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::InvitationList>)),
    }
    RevokeInvitation: Delete "/v1/orgs/{org_id}/invitations/{invitation_id}" => identity::revoke_invitation {
        summary: "Withdraw an invitation (admin)", tag: "identity", auth: true,
        body: None, ok: (204, None),
    }
    AcceptInvitation: Post "/v1/invitations/{token}/accept" => identity::accept_invitation {
        summary: "Accept an invitation addressed to the signed-in user", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::MembershipResponse>)),
    }
    CreateApiKey: Post "/v1/orgs/{org_id}/api-keys" => identity::create_api_key {
        summary: "Create an API key (admin); the key is shown once", tag: "identity", auth: true,
        body: Some(schema::<identity::ApiKeyBody>), ok: (201, Some(schema::<identity::ApiKeyResponse>)),
    }
    ListApiKeys: Get "/v1/orgs/{org_id}/api-keys" => identity::list_api_keys {
        summary: "API keys of the organisation, without secrets (admin)", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::ApiKeyList>)),
    }
    RevokeApiKey: Delete "/v1/orgs/{org_id}/api-keys/{key_id}" => identity::revoke_api_key {
        summary: "Revoke an API key (admin)", tag: "identity", auth: true,
        body: None, ok: (204, None),
    }
    ListAudit: Get "/v1/orgs/{org_id}/audit" => identity::list_audit {
        summary: "The audit trail, newest first (admin)", tag: "identity", auth: true,
        body: None, ok: (200, Some(schema::<identity::AuditPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50"), ("actor", "only this actor id"), ("action", "only this action, e.g. org.rename")],
    }
    CreateProject: Post "/v1/orgs/{org_id}/projects" => projects::create {
        summary: "Create a project (editor)", tag: "projects", auth: true,
        body: Some(schema::<projects::CreateProjectBody>), ok: (201, Some(schema::<projects::ProjectResponse>)),
    }
    ListProjects: Get "/v1/orgs/{org_id}/projects" => projects::list {
        summary: "Projects of an organisation, newest first", tag: "projects", auth: true,
        body: None, ok: (200, Some(schema::<projects::ProjectPage>)),
        query: &[("status", "active (default), archived or all"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetProject: Get "/v1/projects/{project_id}" => projects::get {
        summary: "A project with its timeline and sequence number", tag: "projects", auth: true,
        body: None, ok: (200, Some(schema::<projects::ProjectStateResponse>)),
    }
    UpdateProject: Patch "/v1/projects/{project_id}" => projects::update {
        summary: "Rename, archive or restore a project (editor)", tag: "projects", auth: true,
        body: Some(schema::<projects::UpdateProjectBody>), ok: (200, Some(schema::<projects::ProjectResponse>)),
    }
    DeleteProject: Delete "/v1/projects/{project_id}" => projects::delete {
        summary: "Delete a project (owner or admin)", tag: "projects", auth: true,
        body: None, ok: (204, None),
    }
    DuplicateProject: Post "/v1/projects/{project_id}/duplicate" => projects::duplicate {
        summary: "Copy a project with its current timeline (editor)", tag: "projects", auth: true,
        body: None, ok: (201, Some(schema::<projects::ProjectResponse>)),
    }
    ApplyCommands: Post "/v1/projects/{project_id}/commands" => projects::commands {
        summary: "Apply timeline commands atomically, in the project's total order (editor)", tag: "projects", auth: true,
        body: Some(schema::<projects::CommandsBody>), ok: (200, Some(schema::<projects::CommandsResponse>)),
    }
    ProjectHistory: Get "/v1/projects/{project_id}/history" => projects::history {
        summary: "Applied commands in order", tag: "projects", auth: true,
        body: None, ok: (200, Some(schema::<projects::HistoryPage>)),
        query: &[("after_seq", "only commands after this sequence number"), ("limit", "1 to 1000, default 100")],
    }
    RenderFrame: Get "/v1/projects/{project_id}/frame.png" => projects::frame_png {
        summary: "A frame of the timeline rendered at the edge as PNG", tag: "projects", auth: true,
        body: None, ok: (200, None),
        query: &[("frame", "frame number, default 0"), ("scale", "output scale in (0, 1], default 1")],
    }
    JoinRoom: Get "/v1/projects/{project_id}/room" => collab::connect {
        summary: "Join the project's real-time room (WebSocket upgrade; protocol in durable-objects/src/protocol.rs)", tag: "collaboration", auth: true,
        body: None, ok: (101, None),
        query: &[("since", "resume after this sequence number"), ("ticket", "single-use room ticket instead of a cookie or bearer token")],
    }
    RoomTicket: Post "/v1/projects/{project_id}/room-ticket" => collab::ticket {
        summary: "A single-use, one-minute ticket to open the room's WebSocket", tag: "collaboration", auth: true,
        body: None, ok: (201, Some(schema::<collab::TicketResponse>)),
    }
    ListThreads: Get "/v1/projects/{project_id}/threads" => collab::list_threads {
        summary: "Comment threads of a project", tag: "collaboration", auth: true,
        body: None, ok: (200, Some(schema::<collab::ThreadList>)),
        query: &[("resolved", "true or false; both when absent")],
    }
    CreateThread: Post "/v1/projects/{project_id}/threads" => collab::create_thread {
        summary: "Start a comment thread pinned to a clip and/or frame range", tag: "collaboration", auth: true,
        body: Some(schema::<collab::CreateThreadBody>), ok: (201, Some(schema::<collab::ThreadResponse>)),
    }
    ReplyThread: Post "/v1/projects/{project_id}/threads/{thread_id}/comments" => collab::reply {
        summary: "Reply in a thread", tag: "collaboration", auth: true,
        body: Some(schema::<collab::ReplyBody>), ok: (201, Some(schema::<collab::ThreadResponse>)),
    }
    ResolveThread: Patch "/v1/projects/{project_id}/threads/{thread_id}" => collab::resolve {
        summary: "Resolve or reopen a thread", tag: "collaboration", auth: true,
        body: Some(schema::<collab::ResolveBody>), ok: (200, Some(schema::<collab::ThreadResponse>)),
    }
    EditComment: Patch "/v1/projects/{project_id}/comments/{comment_id}" => collab::edit_comment {
        summary: "Edit one's own comment", tag: "collaboration", auth: true,
        body: Some(schema::<collab::EditBody>), ok: (200, Some(schema::<collab::ThreadResponse>)),
    }
    DeleteComment: Delete "/v1/projects/{project_id}/comments/{comment_id}" => collab::delete_comment {
        summary: "Delete one's own comment (owners and admins: any)", tag: "collaboration", auth: true,
        body: None, ok: (204, None),
    }
    UploadAsset: Post "/v1/orgs/{org_id}/assets" => assets::upload {
        summary: "Upload a file in one request (raw body, typed by its bytes; editor); the same bytes again answer 200 with the existing asset", tag: "assets", auth: true,
        body: None, ok: (201, Some(schema::<assets::AssetResponse>)),
        query: &[("name", "display name, 1 to 100 characters"), ("kind", "kind the bytes must be: image, video, audio, font, template, archive, document or other"), ("tags", "comma-separated tags")],
    }
    SearchAssets: Get "/v1/orgs/{org_id}/assets" => assets::search {
        summary: "Search assets: full text over name, tags and metadata (prefix), filters, newest first", tag: "assets", auth: true,
        body: None, ok: (200, Some(schema::<assets::AssetPage>)),
        query: &[("q", "words to find (each matches as a prefix)"), ("kind", "only this kind (thumbnails only when asked for)"), ("tag", "only assets with this tag"), ("created_after", "RFC 3339 or ms since the epoch, inclusive"), ("created_before", "RFC 3339 or ms since the epoch, exclusive"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    CreateUpload: Post "/v1/orgs/{org_id}/uploads" => uploads::create {
        summary: "Start a multipart upload for a large file (editor)", tag: "assets", auth: true,
        body: Some(schema::<uploads::CreateUploadBody>), ok: (201, Some(schema::<uploads::UploadResponse>)),
    }
    UploadPart: Put "/v1/uploads/{upload_id}/parts/{part_number}" => uploads::put_part {
        summary: "Upload one part (raw body; at least 5 MiB except the last)", tag: "assets", auth: true,
        body: None, ok: (200, Some(schema::<uploads::PartResponse>)),
    }
    CompleteUpload: Post "/v1/uploads/{upload_id}/complete" => uploads::complete {
        summary: "Assemble the parts into an asset (checksummed and typed by its bytes)", tag: "assets", auth: true,
        body: None, ok: (201, Some(schema::<assets::AssetResponse>)),
    }
    AbortUpload: Delete "/v1/uploads/{upload_id}" => uploads::abort {
        summary: "Abort a multipart upload; its parts are discarded", tag: "assets", auth: true,
        body: None, ok: (204, None),
    }
    GetAsset: Get "/v1/assets/{asset_id}" => assets::get {
        summary: "One asset", tag: "assets", auth: true,
        body: None, ok: (200, Some(schema::<assets::AssetResponse>)),
    }
    UpdateAsset: Patch "/v1/assets/{asset_id}" => assets::patch {
        summary: "Rename, retag or change the custom metadata of an asset (editor)", tag: "assets", auth: true,
        body: Some(schema::<assets::PatchAssetBody>), ok: (200, Some(schema::<assets::AssetResponse>)),
    }
    DeleteAsset: Delete "/v1/assets/{asset_id}" => assets::delete {
        summary: "Delete an asset and its bytes; with derivatives, choose keep (detach) or cascade (409 derivatives_exist otherwise)", tag: "assets", auth: true,
        body: None, ok: (204, None),
        query: &[("derivatives", "keep or cascade")],
    }
    AssetContent: Get "/v1/assets/{asset_id}/content" => assets::content {
        summary: "The asset's bytes (Range, ETag / If-None-Match)", tag: "assets", auth: true,
        body: None, ok: (200, None),
    }
    AssetThumbnail: Get "/v1/assets/{asset_id}/thumbnail" => assets::thumbnail {
        summary: "The image's thumbnail (404 not_ready until the job has made it)", tag: "assets", auth: true,
        body: None, ok: (200, None),
    }
    RequestThumbnail: Post "/v1/assets/{asset_id}/thumbnail" => assets::request_thumbnail {
        summary: "Ask for the image's thumbnail again (202 queued; 200 when it exists); idempotent", tag: "assets", auth: true,
        body: None, ok: (202, Some(schema::<assets::ThumbnailRequested>)),
    }
    AssetSignedUrl: Post "/v1/assets/{asset_id}/signed-url" => assets::signed_url {
        summary: "A short-lived link that serves the asset without credentials (at most 7 days)", tag: "assets", auth: true,
        body: Some(schema::<assets::SignedUrlBody>), ok: (200, Some(schema::<assets::SignedUrlResponse>)),
    }
    SharedAsset: Get "/v1/shared/{org_id}/{asset_id}" => assets::shared {
        summary: "Serve a shared asset by signed link (403 tampered, 410 expired)", tag: "assets", auth: false,
        body: None, ok: (200, None),
        query: &[("exp", "expiry, Unix seconds"), ("type", "content type"), ("sig", "HMAC-SHA256 signature")],
    }
    AssetLineage: Get "/v1/assets/{asset_id}/lineage" => assets::lineage {
        summary: "The asset's ancestors and/or descendants as a graph {nodes, edges}", tag: "assets", auth: true,
        body: None, ok: (200, Some(schema::<assets::LineageGraph>)),
        query: &[("direction", "ancestors, descendants or both (default)")],
    }
    SimilarAssets: Get "/v1/assets/{asset_id}/similar" => assets::similar {
        summary: "Visually similar images of the organisation, by perceptual hash distance", tag: "assets", auth: true,
        body: None, ok: (200, Some(schema::<assets::SimilarList>)),
        query: &[("max_distance", "0 to 64, default 10"), ("limit", "1 to 100, default 20")],
    }
    VerifyAsset: Post "/v1/assets/{asset_id}/verify" => assets::verify {
        summary: "Re-read the stored bytes and recompute their SHA-256", tag: "assets", auth: true,
        body: None, ok: (200, Some(schema::<assets::VerifyResponse>)),
    }
    CreateRender: Post "/v1/projects/{project_id}/renders" => jobs::create_render {
        summary: "Queue a render of the project: still, png_sequence (zip), apng, gif or wav (editor)", tag: "jobs", auth: true,
        body: Some(schema::<jobs::CreateRenderBody>), ok: (202, Some(schema::<jobs::JobResponse>)),
    }
    GetJob: Get "/v1/jobs/{job_id}" => jobs::get {
        summary: "A job with its status, progress and outputs", tag: "jobs", auth: true,
        body: None, ok: (200, Some(schema::<jobs::JobResponse>)),
    }
    CancelJob: Post "/v1/jobs/{job_id}/cancel" => jobs::cancel {
        summary: "Cancel a queued or running job; it produces no output (editor)", tag: "jobs", auth: true,
        body: None, ok: (200, Some(schema::<jobs::JobResponse>)),
    }
    RedeliverJob: Post "/v1/jobs/{job_id}/redeliver" => jobs::redeliver {
        summary: "Test deployments only (FAULT_INJECTION): send a job's queue messages again", tag: "jobs", auth: true,
        body: None, ok: (200, Some(schema::<jobs::JobResponse>)),
    }
    ListJobs: Get "/v1/orgs/{org_id}/jobs" => jobs::list {
        summary: "Jobs of an organisation, newest first", tag: "jobs", auth: true,
        body: None, ok: (200, Some(schema::<jobs::JobPage>)),
        query: &[("status", "queued, running, succeeded, failed, cancelled or dead"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    CreateAgent: Post "/v1/orgs/{org_id}/agents" => agents::create {
        summary: "Create an agent profile: capabilities, access policy, budgets (admin)", tag: "agents", auth: true,
        body: Some(schema::<agents::CreateAgentBody>), ok: (201, Some(schema::<agents::AgentResponse>)),
    }
    ListAgents: Get "/v1/orgs/{org_id}/agents" => agents::list {
        summary: "Agents of an organisation, newest first", tag: "agents", auth: true,
        body: None, ok: (200, Some(schema::<agents::AgentPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetAgent: Get "/v1/orgs/{org_id}/agents/{agent_id}" => agents::get {
        summary: "One agent profile", tag: "agents", auth: true,
        body: None, ok: (200, Some(schema::<agents::AgentResponse>)),
    }
    UpdateAgent: Patch "/v1/orgs/{org_id}/agents/{agent_id}" => agents::update {
        summary: "Change an agent's name, description, capabilities, policy or budgets (admin)", tag: "agents", auth: true,
        body: Some(schema::<agents::UpdateAgentBody>), ok: (200, Some(schema::<agents::AgentResponse>)),
    }
    DeleteAgent: Delete "/v1/orgs/{org_id}/agents/{agent_id}" => agents::delete {
        summary: "Delete an agent; its tokens stop working (admin)", tag: "agents", auth: true,
        body: None, ok: (204, None),
    }
    CreateAgentToken: Post "/v1/orgs/{org_id}/agents/{agent_id}/tokens" => agents::create_token {
        summary: "Issue an agent token (cos_agt_…), shown once (admin)", tag: "agents", auth: true,
        body: Some(schema::<agents::TokenBody>), ok: (201, Some(schema::<agents::TokenResponse>)),
    }
    ListAgentTokens: Get "/v1/orgs/{org_id}/agents/{agent_id}/tokens" => agents::list_tokens {
        summary: "An agent's tokens, without secrets (admin)", tag: "agents", auth: true,
        body: None, ok: (200, Some(schema::<agents::TokenList>)),
    }
    RevokeAgentToken: Delete "/v1/orgs/{org_id}/agents/{agent_id}/tokens/{token_id}" => agents::revoke_token {
        summary: "Revoke an agent token (admin)", tag: "agents", auth: true,
        body: None, ok: (204, None),
    }
    CreateAgentRun: Post "/v1/orgs/{org_id}/agents/{agent_id}/runs" => agents::create_run {
        summary: "Start an agent run: a goal, a planner (recipe or llm) and inputs (editor)", tag: "agents", auth: true,
        body: Some(schema::<agents::CreateRunBody>), ok: (202, Some(schema::<agents::RunResponse>)),
    }
    ListAgentRuns: Get "/v1/orgs/{org_id}/agents/{agent_id}/runs" => agents::list_runs {
        summary: "Runs of an agent, newest first", tag: "agents", auth: true,
        body: None, ok: (200, Some(schema::<agents::RunPage>)),
        query: &[("status", "running, awaiting_approval, succeeded, failed, cancelled or rejected"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetAgentRun: Get "/v1/agent-runs/{run_id}" => agents::get_run {
        summary: "A run with its progress, plan, step trace and approvals", tag: "agents", auth: true,
        body: None, ok: (200, Some(schema::<agents::RunResponse>)),
    }
    AgentRunEvents: Get "/v1/agent-runs/{run_id}/events" => agents::run_events {
        summary: "The run's progress as Server-Sent Events: `run` at every change, `end` when it is over", tag: "agents", auth: true,
        body: None, ok: (200, None),
    }
    ApproveAgentRun: Post "/v1/agent-runs/{run_id}/approve" => agents::approve {
        summary: "Approve the run's gated step; it runs (editor; people only)", tag: "agents", auth: true,
        body: Some(schema::<agents::DecisionBody>), ok: (200, Some(schema::<agents::RunResponse>)),
    }
    RejectAgentRun: Post "/v1/agent-runs/{run_id}/reject" => agents::reject {
        summary: "Reject the run's gated step; the run ends rejected (editor; people only)", tag: "agents", auth: true,
        body: Some(schema::<agents::DecisionBody>), ok: (200, Some(schema::<agents::RunResponse>)),
    }
    CancelAgentRun: Post "/v1/agent-runs/{run_id}/cancel" => agents::cancel {
        summary: "Cancel a run; it stops before its next step (editor)", tag: "agents", auth: true,
        body: None, ok: (200, Some(schema::<agents::RunResponse>)),
    }
    ListConnectorTools: Get "/v1/orgs/{org_id}/connector-tools" => connectors::list_tools {
        summary: "The registry: tools discovered on the organisation's connectors", tag: "toolgraph", auth: true,
        body: None, ok: (200, Some(schema::<connectors::ConnectorToolPage>)),
        query: &[("connector", "only this connector's tools"), ("q", "words every listed tool contains (name, title, description)"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    CreateConnector: Post "/v1/orgs/{org_id}/connectors" => connectors::create {
        summary: "Register an external MCP server (admin); its credential is stored encrypted and never returned", tag: "toolgraph", auth: true,
        body: Some(schema::<connectors::CreateConnectorBody>), ok: (201, Some(schema::<connectors::ConnectorResponse>)),
    }
    ListConnectors: Get "/v1/orgs/{org_id}/connectors" => connectors::list {
        summary: "Connectors of an organisation, newest first", tag: "toolgraph", auth: true,
        body: None, ok: (200, Some(schema::<connectors::ConnectorPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetConnector: Get "/v1/orgs/{org_id}/connectors/{connector_id}" => connectors::get {
        summary: "One connector (without its credential)", tag: "toolgraph", auth: true,
        body: None, ok: (200, Some(schema::<connectors::ConnectorResponse>)),
    }
    UpdateConnector: Patch "/v1/orgs/{org_id}/connectors/{connector_id}" => connectors::update {
        summary: "Change a connector (admin); a new URL empties its registry until discovered again", tag: "toolgraph", auth: true,
        body: Some(schema::<connectors::UpdateConnectorBody>), ok: (200, Some(schema::<connectors::ConnectorResponse>)),
    }
    DeleteConnector: Delete "/v1/orgs/{org_id}/connectors/{connector_id}" => connectors::delete {
        summary: "Remove a connector, its credential and its tools (admin)", tag: "toolgraph", auth: true,
        body: None, ok: (204, None),
    }
    DiscoverConnector: Post "/v1/orgs/{org_id}/connectors/{connector_id}/discover" => connectors::discover {
        summary: "Run initialize and tools/list against the server; replace its tools in the registry (admin)", tag: "toolgraph", auth: true,
        body: None, ok: (200, Some(schema::<connectors::DiscoverResponse>)),
    }
    CallConnectorTool: Post "/v1/orgs/{org_id}/connectors/{connector_id}/tools/{tool_name}/call" => connectors::call_tool {
        summary: "Call a registered tool through the proxy: rate limit, timeout, size cap, audit (editor)", tag: "toolgraph", auth: true,
        body: Some(schema::<connectors::CallConnectorToolBody>), ok: (200, Some(schema::<connectors::CallConnectorToolResponse>)),
    }
    CreateProduct: Post "/v1/orgs/{org_id}/products" => catalog::create_product {
        summary: "Create a product to sell (editor)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::CreateProductBody>), ok: (201, Some(schema::<catalog::ProductResponse>)),
    }
    ListProducts: Get "/v1/orgs/{org_id}/products" => catalog::list_products {
        summary: "The seller's products, newest first", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<catalog::ProductPage>)),
        query: &[("status", "draft, active or archived"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetProduct: Get "/v1/products/{product_id}" => catalog::get_product {
        summary: "A product with its prices (active products: any signed-in user)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<catalog::ProductResponse>)),
    }
    UpdateProduct: Patch "/v1/products/{product_id}" => catalog::update_product {
        summary: "Change a product's title, description, media or status (editor)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::UpdateProductBody>), ok: (200, Some(schema::<catalog::ProductResponse>)),
    }
    CreatePrice: Post "/v1/products/{product_id}/prices" => catalog::create_price {
        summary: "Add a one-time, recurring or usage price (editor)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::CreatePriceBody>), ok: (201, Some(schema::<catalog::PriceResponse>)),
    }
    UpdatePrice: Patch "/v1/prices/{price_id}" => catalog::update_price {
        summary: "Put a price on or off sale (editor)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::UpdatePriceBody>), ok: (200, Some(schema::<catalog::PriceResponse>)),
    }
    GetRevenueShare: Get "/v1/products/{product_id}/revenue-share" => catalog::get_revenue_share {
        summary: "The product's revenue-share rule (admin)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<catalog::RevenueShareResponse>)),
    }
    PutRevenueShare: Put "/v1/products/{product_id}/revenue-share" => catalog::put_revenue_share {
        summary: "Set the product's revenue-share rule: platform, creator, collaborators; 100 % in total (admin)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::RevenueShareBody>), ok: (200, Some(schema::<catalog::RevenueShareResponse>)),
    }
    CreateDiscount: Post "/v1/orgs/{org_id}/discounts" => catalog::create_discount {
        summary: "Create a discount code (admin)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::CreateDiscountBody>), ok: (201, Some(schema::<catalog::DiscountResponse>)),
    }
    ListDiscounts: Get "/v1/orgs/{org_id}/discounts" => catalog::list_discounts {
        summary: "The seller's discount codes with their redemptions (admin)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<catalog::DiscountList>)),
    }
    UpdateDiscount: Patch "/v1/discounts/{discount_id}" => catalog::update_discount {
        summary: "Switch a discount code on or off (admin)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::UpdateDiscountBody>), ok: (200, Some(schema::<catalog::DiscountResponse>)),
    }
    CreateBundle: Post "/v1/orgs/{org_id}/bundles" => catalog::create_bundle {
        summary: "Sell several products together at one price (editor)", tag: "commerce", auth: true,
        body: Some(schema::<catalog::CreateBundleBody>), ok: (201, Some(schema::<catalog::BundleResponse>)),
    }
    ListBundles: Get "/v1/orgs/{org_id}/bundles" => catalog::list_bundles {
        summary: "The seller's bundles", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<catalog::BundleList>)),
    }
    CreateOrder: Post "/v1/orders" => orders::create {
        summary: "Turn a cart into an order: prices snapshotted, one discount code, affiliate attribution", tag: "commerce", auth: true,
        body: Some(schema::<orders::CreateOrderBody>), ok: (201, Some(schema::<orders::OrderResponse>)),
    }
    GetOrder: Get "/v1/orders/{order_id}" => orders::get {
        summary: "An order with its lines and licences (its buyer, or members of the seller)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<orders::OrderResponse>)),
    }
    CheckoutOrder: Post "/v1/orders/{order_id}/checkout" => orders::checkout {
        summary: "Open the payment provider's checkout for a pending order (the buyer); idempotent", tag: "commerce", auth: true,
        body: Some(schema::<orders::CheckoutBody>), ok: (200, Some(schema::<orders::CheckoutResponse>)),
    }
    CancelOrder: Post "/v1/orders/{order_id}/cancel" => orders::cancel {
        summary: "Cancel a pending order (the buyer); its discount redemption is released", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<orders::OrderResponse>)),
    }
    MyOrders: Get "/v1/me/orders" => orders::list_mine {
        summary: "The caller's purchases, newest first", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<orders::OrderPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    ListSales: Get "/v1/orgs/{org_id}/orders" => orders::list_sales {
        summary: "The seller's orders, newest first", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<orders::OrderPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    StripeWebhook: Post "/v1/webhooks/stripe" => webhooks::stripe {
        summary: "Stripe events (Stripe-Signature verified, deduplicated by event id)", tag: "commerce", auth: false,
        body: None, ok: (200, Some(schema::<webhooks::WebhookAck>)),
    }
    MyLicences: Get "/v1/me/licences" => fulfil::list_mine {
        summary: "The caller's licences", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<fulfil::LicenceList>)),
    }
    RevealLicenceKey: Post "/v1/licences/{licence_id}/reveal-key" => fulfil::reveal_key {
        summary: "Show a licence's key to its holder, once (409 key_already_revealed after)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<fulfil::LicenceKeyResponse>)),
    }
    OrgBalances: Get "/v1/orgs/{org_id}/balances" => payouts::org_balances {
        summary: "The seller's balances per currency, derived from the ledger (admin)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<payouts::BalanceList>)),
    }
    MyBalances: Get "/v1/me/balances" => payouts::my_balances {
        summary: "The caller's balances (collaborator shares, affiliate commissions)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<payouts::BalanceList>)),
    }
    OrgLedger: Get "/v1/orgs/{org_id}/ledger" => payouts::org_ledger {
        summary: "The seller's ledger entries, newest first (admin)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<payouts::LedgerPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    MyLedger: Get "/v1/me/ledger" => payouts::my_ledger {
        summary: "The caller's ledger entries, newest first", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<payouts::LedgerPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    PutOrgPayoutAccount: Put "/v1/orgs/{org_id}/payout-account" => payouts::put_org_account {
        summary: "Set the Stripe Connect account the seller is paid to (admin)", tag: "commerce", auth: true,
        body: Some(schema::<payouts::PayoutAccountBody>), ok: (200, Some(schema::<payouts::PayoutAccountResponse>)),
    }
    PutMyPayoutAccount: Put "/v1/me/payout-account" => payouts::put_my_account {
        summary: "Set the Stripe Connect account the caller is paid to", tag: "commerce", auth: true,
        body: Some(schema::<payouts::PayoutAccountBody>), ok: (200, Some(schema::<payouts::PayoutAccountResponse>)),
    }
    OrgPayouts: Get "/v1/orgs/{org_id}/payouts" => payouts::org_payouts {
        summary: "The seller's payouts (admin)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<payouts::PayoutList>)),
    }
    MyPayouts: Get "/v1/me/payouts" => payouts::my_payouts {
        summary: "The caller's payouts", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<payouts::PayoutList>)),
    }
    RunPayouts: Post "/v1/ops/payouts/run" => payouts::run_now {
        summary: "Run the scheduled payout run now (operators: bearer OPS_TOKEN)", tag: "commerce", auth: false,
        body: None, ok: (200, Some(schema::<payouts::RunSummary>)),
    }
    JoinAffiliates: Post "/v1/orgs/{org_id}/affiliates" => affiliates::join {
        summary: "Ask to become an affiliate of a seller (or one product); pending until approved", tag: "commerce", auth: true,
        body: Some(schema::<affiliates::JoinBody>), ok: (201, Some(schema::<affiliates::AffiliateResponse>)),
    }
    ListAffiliates: Get "/v1/orgs/{org_id}/affiliates" => affiliates::list {
        summary: "The seller's affiliates (admin)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<affiliates::AffiliateList>)),
    }
    MyAffiliations: Get "/v1/me/affiliates" => affiliates::list_mine {
        summary: "The caller's affiliations", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<affiliates::AffiliateList>)),
    }
    ApproveAffiliate: Post "/v1/affiliates/{affiliate_id}/approve" => affiliates::approve {
        summary: "Approve an affiliate with a commission rate, or change it (admin of the seller)", tag: "commerce", auth: true,
        body: Some(schema::<affiliates::ApproveBody>), ok: (200, Some(schema::<affiliates::AffiliateResponse>)),
    }
    RejectAffiliate: Post "/v1/affiliates/{affiliate_id}/reject" => affiliates::reject {
        summary: "Reject an affiliate request (admin of the seller)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<affiliates::AffiliateResponse>)),
    }
    LeaveAffiliate: Post "/v1/affiliates/{affiliate_id}/leave" => affiliates::leave {
        summary: "Stop being an affiliate (the affiliate)", tag: "commerce", auth: true,
        body: None, ok: (200, Some(schema::<affiliates::AffiliateResponse>)),
    }
    AffiliateClick: Post "/v1/affiliate-links/{code}/click" => affiliates::click {
        summary: "Record a click on an affiliate link (signed in or not); the last click within 30 days is attributed", tag: "commerce", auth: false,
        body: None, ok: (201, Some(schema::<affiliates::ClickResponse>)),
    }
    CreateListing: Post "/v1/orgs/{org_id}/listings" => listings::create {
        summary: "List one of the organisation's products: a draft listing (editor)", tag: "marketplace", auth: true,
        body: Some(schema::<listings::CreateListingBody>), ok: (201, Some(schema::<listings::ListingResponse>)),
    }
    ListOwnListings: Get "/v1/orgs/{org_id}/listings" => listings::list_own {
        summary: "The organisation's listings in every status, newest first", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingPage>)),
        query: &[("status", "draft, in_review, published, rejected or unlisted"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetOwnListing: Get "/v1/listings/{listing_id}" => listings::get_own {
        summary: "A listing of the caller's organisation, whatever its status (platform admins: any)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    UpdateListing: Patch "/v1/listings/{listing_id}" => listings::update {
        summary: "Edit a listing (editor); a published or unlisted listing goes back to review", tag: "marketplace", auth: true,
        body: Some(schema::<listings::UpdateListingBody>), ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    SubmitListing: Post "/v1/listings/{listing_id}/submit" => listings::submit {
        summary: "Submit a draft or rejected listing for review (editor)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    UnlistListing: Post "/v1/listings/{listing_id}/unlist" => listings::unlist {
        summary: "Take a published listing off the market (editor); licences stay valid", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    RelistListing: Post "/v1/listings/{listing_id}/relist" => listings::relist {
        summary: "Put an unlisted listing back on the market (editor)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    ReviewQueue: Get "/v1/admin/market/listings" => listings::review_queue {
        summary: "Listings by status for reviewers, oldest first (platform admin)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingPage>)),
        query: &[("status", "in_review (default), draft, published, rejected or unlisted"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    ApproveListing: Post "/v1/admin/market/listings/{listing_id}/approve" => listings::approve {
        summary: "Publish a listing in review (platform admin)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    RejectListing: Post "/v1/admin/market/listings/{listing_id}/reject" => listings::reject {
        summary: "Reject a listing in review with a reason for the seller (platform admin)", tag: "marketplace", auth: true,
        body: Some(schema::<listings::RejectBody>), ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    SearchListings: Get "/v1/market/listings" => listings::search {
        summary: "Search published listings: full text, category, tags, price range; sorted by rating, sales or newest", tag: "marketplace", auth: false,
        body: None, ok: (200, Some(schema::<listings::ListingPage>)),
        query: &[("q", "words to find in title, summary, tags and category (each a prefix)"), ("category", "only this category"), ("tags", "comma-separated tags; listings with all of them"), ("min_price", "lowest price at least this, minor units"), ("max_price", "lowest price at most this, minor units"), ("currency", "only prices in this ISO 4217 currency"), ("sort", "rating, sales or newest (default)"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 100, default 20")],
    }
    GetListing: Get "/v1/market/listings/{listing_id}" => listings::get_public {
        summary: "A published listing (others are 404)", tag: "marketplace", auth: false,
        body: None, ok: (200, Some(schema::<listings::ListingResponse>)),
    }
    ListingCover: Get "/v1/market/listings/{listing_id}/cover" => listings::cover {
        summary: "The cover image of a published listing (ETag, Range)", tag: "marketplace", auth: false,
        body: None, ok: (200, None),
    }
    ListReviews: Get "/v1/market/listings/{listing_id}/reviews" => reviews::list_public {
        summary: "Visible reviews of a published listing, newest first", tag: "marketplace", auth: false,
        body: None, ok: (200, Some(schema::<reviews::ReviewPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 100, default 20")],
    }
    CreateReview: Post "/v1/market/listings/{listing_id}/reviews" => reviews::create {
        summary: "Rate and review a product you bought (once per product)", tag: "marketplace", auth: true,
        body: Some(schema::<reviews::CreateReviewBody>), ok: (201, Some(schema::<reviews::ReviewResponse>)),
    }
    UseTemplate: Post "/v1/market/listings/{listing_id}/use" => market_use::use_template {
        summary: "Create a project from a purchased template (licence checked; editor of org_id)", tag: "marketplace", auth: true,
        body: Some(schema::<market_use::UseTemplateBody>), ok: (201, Some(schema::<projects::ProjectResponse>)),
    }
    UpdateReview: Patch "/v1/reviews/{review_id}" => reviews::update {
        summary: "Edit your review", tag: "marketplace", auth: true,
        body: Some(schema::<reviews::UpdateReviewBody>), ok: (200, Some(schema::<reviews::ReviewResponse>)),
    }
    ReplyReview: Post "/v1/reviews/{review_id}/reply" => reviews::reply {
        summary: "Answer a review of your product (seller editor)", tag: "marketplace", auth: true,
        body: Some(schema::<reviews::ReplyBody>), ok: (200, Some(schema::<reviews::ReviewResponse>)),
    }
    ReportReview: Post "/v1/reviews/{review_id}/report" => reviews::report {
        summary: "Report a review for moderation (once per person)", tag: "marketplace", auth: true,
        body: Some(schema::<reviews::ReportBody>), ok: (201, Some(schema::<reviews::ReportResponse>)),
    }
    ModerationQueue: Get "/v1/admin/market/reports" => reviews::moderation_queue {
        summary: "Open review reports, oldest first (platform admin)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<reviews::ModerationPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    ModerateReview: Post "/v1/admin/market/reviews/{review_id}/moderate" => reviews::moderate {
        summary: "Hide or restore a review; its open reports are resolved (platform admin)", tag: "marketplace", auth: true,
        body: Some(schema::<reviews::ModerateBody>), ok: (200, Some(schema::<reviews::ReviewResponse>)),
    }
    ListLicences: Get "/v1/licences" => licences::list_mine {
        summary: "Your licences (an API key: its organisation's), with their validity", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<licences::LicencePage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    ListSoldLicences: Get "/v1/orgs/{org_id}/sold-licences" => licences::list_sold {
        summary: "Licences held for the organisation's products (seller members; holders shown as organisations)", tag: "marketplace", auth: true,
        body: None, ok: (200, Some(schema::<licences::LicencePage>)),
        query: &[("product_id", "only this product"), ("status", "active, expired or revoked"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    VerifyLicence: Post "/v1/licences/verify" => licences::verify {
        summary: "Check a licence key (seller, holder or holder org; rate-limited); unknown keys are 404", tag: "marketplace", auth: true,
        body: Some(schema::<licences::VerifyBody>), ok: (200, Some(schema::<licences::VerifyResponse>)),
    }
    ApplyEffectPreset: Post "/v1/projects/{project_id}/effect-presets" => market_use::apply_preset {
        summary: "Apply a purchased effect preset to a clip (licence checked; editor)", tag: "marketplace", auth: true,
        body: Some(schema::<market_use::ApplyPresetBody>), ok: (200, Some(schema::<projects::CommandsResponse>)),
    }
    CreateAnalyticsKey: Post "/v1/orgs/{org_id}/analytics/keys" => analytics_capture::create_key {
        summary: "Create a public ingestion key for PostHog clients (admin); shown once", tag: "analytics", auth: true,
        body: Some(schema::<analytics_capture::CreateKeyBody>), ok: (201, Some(schema::<analytics_capture::KeyCreated>)),
    }
    ListAnalyticsKeys: Get "/v1/orgs/{org_id}/analytics/keys" => analytics_capture::list_keys {
        summary: "Ingestion keys of the organisation (admin)", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_capture::KeyList>)),
    }
    RevokeAnalyticsKey: Delete "/v1/orgs/{org_id}/analytics/keys/{key_id}" => analytics_capture::revoke_key {
        summary: "Revoke an ingestion key (admin)", tag: "analytics", auth: true,
        body: None, ok: (204, None),
    }
    AnalyticsTrends: Get "/v1/orgs/{org_id}/analytics/trends" => analytics_query::trends {
        summary: "Event counts or unique people per hour/day/week, optionally broken down by a property", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_query::TrendResponse>)),
        query: &[("event", "event name"), ("measure", "count (default) or unique"), ("interval", "hour, day (default) or week"), ("from", "RFC 3339 or ms, default 7 days before to"), ("to", "RFC 3339 or ms, default now"), ("breakdown", "property name"), ("project_id", "only events of this project")],
    }
    AnalyticsFunnel: Get "/v1/orgs/{org_id}/analytics/funnel" => analytics_query::funnel {
        summary: "Ordered steps per person within a window", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_query::FunnelResponse>)),
        query: &[("steps", "2 to 10 comma-separated event names"), ("window_seconds", "from the first step, default 7 days"), ("from", "RFC 3339 or ms"), ("to", "RFC 3339 or ms"), ("project_id", "only events of this project")],
    }
    AnalyticsRetention: Get "/v1/orgs/{org_id}/analytics/retention" => analytics_query::retention {
        summary: "Cohorts by first event, with the people returning in each later period", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_query::RetentionResponse>)),
        query: &[("start_event", "event that puts a person in a cohort (first time)"), ("return_event", "event that counts as a return (default start_event)"), ("period", "day (default) or week"), ("periods", "1 to 52, default 7"), ("from", "RFC 3339 or ms"), ("to", "RFC 3339 or ms"), ("project_id", "only events of this project")],
    }
    AnalyticsProperties: Get "/v1/orgs/{org_id}/analytics/properties" => analytics_query::top_properties {
        summary: "Most frequent property names, or values of one property", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_query::PropertiesResponse>)),
        query: &[("event", "only this event"), ("property", "count this property's values"), ("from", "RFC 3339 or ms"), ("to", "RFC 3339 or ms"), ("limit", "1 to 100, default 20"), ("project_id", "only events of this project")],
    }
    AnalyticsDashboard: Get "/v1/orgs/{org_id}/analytics/dashboard" => analytics_query::dashboard {
        summary: "Creator dashboard: views, renders, sales, revenue, top products and events per day", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_query::Dashboard>)),
        query: &[("days", "1 to 366, default 30"), ("project_id", "only events of this project")],
    }
    CreateFlag: Post "/v1/orgs/{org_id}/flags" => analytics_flags::create_flag {
        summary: "Create a feature flag: boolean or multivariate, targeting rules, rollouts, payloads (admin)", tag: "analytics", auth: true,
        body: Some(schema::<analytics_flags::CreateFlagBody>), ok: (201, Some(schema::<analytics_flags::FlagResponse>)),
    }
    ListFlags: Get "/v1/orgs/{org_id}/flags" => analytics_flags::list_flags {
        summary: "Feature flags of the organisation", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_flags::FlagList>)),
    }
    UpdateFlag: Patch "/v1/orgs/{org_id}/flags/{key}" => analytics_flags::update_flag {
        summary: "Change a feature flag (admin); its version grows", tag: "analytics", auth: true,
        body: Some(schema::<analytics_flags::UpdateFlagBody>), ok: (200, Some(schema::<analytics_flags::FlagResponse>)),
    }
    DeleteFlag: Delete "/v1/orgs/{org_id}/flags/{key}" => analytics_flags::delete_flag {
        summary: "Delete a feature flag (admin)", tag: "analytics", auth: true,
        body: None, ok: (204, None),
    }
    EvaluateFlags: Post "/v1/orgs/{org_id}/flag-evaluations" => analytics_flags::evaluate {
        summary: "Evaluate the flags for an actor at the edge", tag: "analytics", auth: true,
        body: Some(schema::<analytics_flags::EvaluateBody>), ok: (200, Some(schema::<analytics_flags::EvaluateResponse>)),
    }
    CreateExperiment: Post "/v1/orgs/{org_id}/experiments" => analytics_flags::create_experiment {
        summary: "Start an experiment on a multivariate flag with a conversion event (admin)", tag: "analytics", auth: true,
        body: Some(schema::<analytics_flags::CreateExperimentBody>), ok: (201, Some(schema::<analytics_flags::ExperimentResponse>)),
    }
    ListExperiments: Get "/v1/orgs/{org_id}/experiments" => analytics_flags::list_experiments {
        summary: "Experiments of the organisation", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_flags::ExperimentList>)),
    }
    ExperimentResults: Get "/v1/orgs/{org_id}/experiments/{experiment_id}/results" => analytics_flags::experiment_results {
        summary: "Exposures, conversions and 95 % intervals per variant, with the sample-ratio-mismatch check", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_flags::ExperimentResults>)),
    }
    ReportError: Post "/v1/errors" => analytics_errors::post_browser_error {
        summary: "Report a browser error (grouped into an issue by fingerprint); sign-in optional", tag: "analytics", auth: false,
        body: Some(schema::<analytics_errors::BrowserErrorBody>), ok: (202, Some(schema::<analytics_errors::CapturedResponse>)),
    }
    ListOrgErrors: Get "/v1/orgs/{org_id}/errors" => analytics_errors::list_org_issues {
        summary: "Error issues reported in the organisation, most recent first", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_errors::IssueList>)), query: &[("limit", "1 to 200, default 50")],
    }
    ListPlatformErrors: Get "/v1/ops/errors" => analytics_errors::list_platform_issues {
        summary: "The platform's error issues: Worker errors and crashes, queue failures (platform admins)", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_errors::IssueList>)), query: &[("limit", "1 to 200, default 50")],
    }
    OpsLatency: Get "/v1/ops/latency" => analytics_tracing::latency {
        summary: "p50/p95/p99 latency per route over the last 15 minutes, per isolate (platform admins)", tag: "analytics", auth: true,
        body: None, ok: (200, Some(schema::<analytics_tracing::LatencyReport>)),
    }
    CreateWorkflow: Post "/v1/orgs/{org_id}/workflows" => automation::create {
        summary: "Create a workflow from a definition (editor); a webhook trigger's secret is shown once", tag: "automation", auth: true,
        body: Some(schema::<automation::SaveWorkflowBody>), ok: (201, Some(schema::<automation::WorkflowResponse>)),
    }
    ListWorkflows: Get "/v1/orgs/{org_id}/workflows" => automation::list {
        summary: "Workflows of an organisation, newest first", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::WorkflowPage>)),
        query: &[("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetWorkflow: Get "/v1/orgs/{org_id}/workflows/{workflow_id}" => automation::get {
        summary: "A workflow with its current definition", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::WorkflowResponse>)),
    }
    UpdateWorkflow: Put "/v1/orgs/{org_id}/workflows/{workflow_id}" => automation::update {
        summary: "Save a new version of a workflow (editor); running runs keep theirs", tag: "automation", auth: true,
        body: Some(schema::<automation::SaveWorkflowBody>), ok: (200, Some(schema::<automation::WorkflowResponse>)),
    }
    SetWorkflowStatus: Patch "/v1/orgs/{org_id}/workflows/{workflow_id}" => automation::set_status {
        summary: "Pause or activate a workflow's trigger (editor)", tag: "automation", auth: true,
        body: Some(schema::<automation::WorkflowStatusBody>), ok: (200, Some(schema::<automation::WorkflowResponse>)),
    }
    StartRun: Post "/v1/orgs/{org_id}/workflows/{workflow_id}/runs" => automation::start {
        summary: "Run a workflow now with an input (editor)", tag: "automation", auth: true,
        body: Some(schema::<automation::StartRunBody>), ok: (202, Some(schema::<automation::RunResponse>)),
    }
    ListRuns: Get "/v1/orgs/{org_id}/workflows/{workflow_id}/runs" => automation::list_runs {
        summary: "Run history of a workflow, newest first", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::RunPage>)),
        query: &[("status", "queued, running, paused, succeeded, failed or cancelled"), ("cursor", "next_cursor of the previous page"), ("limit", "1 to 200, default 50")],
    }
    GetRun: Get "/v1/orgs/{org_id}/workflows/{workflow_id}/runs/{run_id}" => automation::get_run {
        summary: "A run with every step: status, inputs, outputs, errors, attempts, timing", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::RunResponse>)),
    }
    CancelRun: Post "/v1/orgs/{org_id}/workflows/{workflow_id}/runs/{run_id}/cancel" => automation::cancel_run {
        summary: "Cancel a run; queued steps do not run (editor)", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::RunResponse>)),
    }
    PauseRun: Post "/v1/orgs/{org_id}/workflows/{workflow_id}/runs/{run_id}/pause" => automation::pause_run {
        summary: "Pause a running run; nothing new starts until it is resumed (editor)", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::RunResponse>)),
    }
    ResumeRun: Post "/v1/orgs/{org_id}/workflows/{workflow_id}/runs/{run_id}/resume" => automation::resume_run {
        summary: "Resume a paused run (editor)", tag: "automation", auth: true,
        body: None, ok: (200, Some(schema::<automation::RunResponse>)),
    }
    ApproveStep: Post "/v1/orgs/{org_id}/workflows/{workflow_id}/runs/{run_id}/steps/{step_key}/approve" => automation::approve {
        summary: "Approve (the run continues) or reject (it fails) a waiting approval step (editor)", tag: "automation", auth: true,
        body: Some(schema::<automation::ApproveBody>), ok: (200, Some(schema::<automation::RunResponse>)),
    }
    WorkflowHook: Post "/v1/hooks/{workflow_id}" => automation::inbound {
        summary: "Start a webhook-triggered workflow: JSON body signed with x-creator-os-signature t=<unix s>,v1=<HMAC-SHA256 of \"<t>.<body>\">", tag: "automation", auth: false,
        body: None, ok: (202, None),
    }
}
