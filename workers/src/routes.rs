//! The route table: one entry per operation, feeding both the dispatcher and `/openapi.json`.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use worker::{Method, Request, Response};

use crate::assets::{api as assets, uploads};
use crate::automation::api as automation;
use crate::collab;
use crate::health;
use crate::http::{AppResult, Ctx};
use crate::identity::{api as identity, oidc};
use crate::jobs::api as jobs;
use crate::openapi;
use crate::projects;

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
