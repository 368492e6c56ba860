//! Resources (a project's timeline, an asset's metadata, a rendered frame) and prompts
//! (editing recipes) of the MCP server. Reads go through the same routes as the HTTP API.

use base64::Engine;
use serde_json::{json, Value};
use worker::Method;

use super::{call_route, Caller, RpcError, RESOURCE_NOT_FOUND};
use crate::http::{AppError, Ctx};

/// URI scheme of the server's resources.
pub const SCHEME: &str = "creator-os://";

/// `resources/templates/list`.
pub fn templates() -> Value {
    json!({"resourceTemplates": [
        {
            "uriTemplate": "creator-os://projects/{project_id}/timeline",
            "name": "timeline",
            "title": "Project timeline",
            "description": "A project with its timeline (editor-core JSON) and sequence number",
            "mimeType": "application/json",
        },
        {
            "uriTemplate": "creator-os://assets/{asset_id}",
            "name": "asset",
            "title": "Asset metadata",
            "description": "An asset's metadata: kind, size, dimensions, tags, checksums",
            "mimeType": "application/json",
        },
        {
            "uriTemplate": "creator-os://projects/{project_id}/frames/{frame}",
            "name": "frame",
            "title": "Rendered frame",
            "description": "One frame of a project's timeline rendered as PNG",
            "mimeType": "image/png",
        },
    ]})
}

/// `resources/list`: the timelines of the caller's projects (the newest 200 per organisation).
pub async fn list(ctx: &mut Ctx, caller: &Caller, _params: &Value) -> Result<Value, RpcError> {
    let mut resources = Vec::new();
    for (org_id, _) in &caller.memberships {
        let mut response = call_route(
            ctx,
            &caller.principal,
            Method::Get,
            &format!("/v1/orgs/{org_id}/projects"),
            &[("limit".into(), "200".into())],
            None,
        )
        .await?;
        let page: Value = response.json().await.map_err(AppError::from)?;
        for project in page["items"].as_array().into_iter().flatten() {
            let id = project["id"].as_str().unwrap_or_default();
            resources.push(json!({
                "uri": format!("{SCHEME}projects/{id}/timeline"),
                "name": format!("{id}/timeline"),
                "title": format!("Timeline of {}", project["name"].as_str().unwrap_or(id)),
                "mimeType": "application/json",
            }));
        }
    }
    Ok(json!({"resources": resources}))
}

enum Target {
    Timeline(String),
    Asset(String),
    Frame(String, u64),
}

fn parse(uri: &str) -> Option<Target> {
    let rest = uri.strip_prefix(SCHEME)?;
    let parts: Vec<&str> = rest.split('/').collect();
    let id_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match parts.as_slice() {
        ["projects", id, "timeline"] if id_ok(id) => Some(Target::Timeline(id.to_string())),
        ["assets", id] if id_ok(id) => Some(Target::Asset(id.to_string())),
        ["projects", id, "frames", n] if id_ok(id) => {
            Some(Target::Frame(id.to_string(), n.parse().ok()?))
        }
        _ => None,
    }
}

fn not_found(uri: &str) -> RpcError {
    let mut error = RpcError::new(RESOURCE_NOT_FOUND, "resource not found");
    error.data = Some(json!({"uri": uri}));
    error
}

/// `resources/read`.
pub async fn read(ctx: &mut Ctx, caller: &Caller, params: &Value) -> Result<Value, RpcError> {
    let uri = params["uri"]
        .as_str()
        .ok_or_else(|| RpcError::params("uri is required"))?;
    let target = parse(uri).ok_or_else(|| not_found(uri))?;
    let (path, query) = match &target {
        Target::Timeline(id) => (format!("/v1/projects/{id}"), vec![]),
        Target::Asset(id) => (format!("/v1/assets/{id}"), vec![]),
        Target::Frame(id, n) => (
            format!("/v1/projects/{id}/frame.png"),
            vec![("frame".to_string(), n.to_string())],
        ),
    };
    let result = call_route(ctx, &caller.principal, Method::Get, &path, &query, None).await;
    let mut response = match result {
        Ok(response) => response,
        Err(error) if error.status == 404 => return Err(not_found(uri)),
        Err(error) => return Err(error.into()),
    };
    let content = match target {
        Target::Frame(..) => {
            let png = response.bytes().await.map_err(AppError::from)?;
            json!({
                "uri": uri,
                "mimeType": "image/png",
                "blob": base64::engine::general_purpose::STANDARD.encode(png),
            })
        }
        _ => {
            let text = response.text().await.map_err(AppError::from)?;
            json!({"uri": uri, "mimeType": "application/json", "text": text})
        }
    };
    Ok(json!({"contents": [content]}))
}

struct Prompt {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    arguments: &'static [(&'static str, &'static str, bool)],
    template: &'static str,
}

static PROMPTS: &[Prompt] = &[
    Prompt {
        name: "rough_cut_from_assets",
        title: "Rough cut from assets",
        description: "Assemble a first cut of a project from the media library",
        arguments: &[
            ("project_id", "project to edit (prj_…)", true),
            ("query", "words to find the assets to use, e.g. \"beach sunset\"", false),
            ("seconds_per_clip", "how long each clip stays on screen, default 3", false),
        ],
        template: "Make a rough cut in project {project_id}. 1) Call get_timeline to read its frame rate, tracks and sequence number. 2) Call search_assets with q=\"{query}\" (kind image or video) and pick the best matches in a sensible order. 3) With one apply_commands call (base_seq = the sequence number you read), add a video track if there is none and add one clip per asset back to back, each about {seconds_per_clip} seconds long, with short crossfades between them. 4) Call render_frame on a few frames to check the result and describe it.",
    },
    Prompt {
        name: "add_captions",
        title: "Add captions",
        description: "Add timed text captions to a project from a transcript",
        arguments: &[
            ("project_id", "project to edit (prj_…)", true),
            ("transcript", "the lines to show, one per line, optionally prefixed with a start time in seconds", true),
        ],
        template: "Add captions to project {project_id}. Read it with get_timeline. Add a text track above the others, then add one text clip per line of the transcript below, centred near the bottom of the frame, readable (white with a dark outline or background), each lasting until the next line starts. Use a single apply_commands call with base_seq, then render_frame at a caption's first frame to check its placement.\n\nTranscript:\n{transcript}",
    },
    Prompt {
        name: "review_feedback",
        title: "Work through review feedback",
        description: "Address a project's open comment threads and resolve them",
        arguments: &[("project_id", "project to review (prj_…)", true)],
        template: "Work through the open feedback on project {project_id}. Call list_threads with resolved=false. For each thread, read the clip or frame range it is pinned to (get_timeline, render_frame), make the change asked for with apply_commands, then resolve the thread with resolve_thread. If a request is unclear, reply with the comment tool instead of guessing.",
    },
];

/// `prompts/list`.
pub fn prompts() -> Value {
    let prompts: Vec<Value> = PROMPTS
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "title": p.title,
                "description": p.description,
                "arguments": p.arguments.iter().map(|(name, description, required)| json!({
                    "name": name, "description": description, "required": required,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({"prompts": prompts})
}

/// `prompts/get`: the recipe with its arguments filled in.
pub fn prompt(params: &Value) -> Result<Value, RpcError> {
    let name = params["name"]
        .as_str()
        .ok_or_else(|| RpcError::params("name is required"))?;
    let prompt = PROMPTS
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| RpcError::params(format!("unknown prompt: {name}")))?;
    let arguments = &params["arguments"];
    if !(arguments.is_null() || arguments.is_object()) {
        return Err(RpcError::params("arguments must be an object"));
    }
    let mut text = prompt.template.to_string();
    for (arg, _, required) in prompt.arguments {
        let value = match &arguments[*arg] {
            Value::String(s) if !s.is_empty() => s.clone(),
            Value::Null if !required => match *arg {
                "seconds_per_clip" => "3".into(),
                _ => String::new(),
            },
            _ => {
                return Err(RpcError::params(format!(
                    "argument {arg} must be a non-empty string"
                )))
            }
        };
        text = text.replace(&format!("{{{arg}}}"), &value);
    }
    Ok(json!({
        "description": prompt.description,
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
    }))
}
