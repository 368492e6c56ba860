//! The tool catalog: each tool is one operation of the route table, its input schema built
//! from the route's path/query parameters and request body type, its output schema from the
//! route's response type (the same schemars sources as `/openapi.json`).

use base64::Engine;
use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};

use super::{call_route, Caller, RpcError};
use crate::audit::{self, Record};
use crate::http::{AppError, AppResult, Ctx};
use crate::routes::{Op, Route, ROUTES};

/// Tools per `tools/list` page.
pub const PAGE_SIZE: usize = 8;

/// One tool of the catalog.
pub struct Tool {
    /// Tool name.
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// What it does (searched by `search_tools`).
    pub description: &'static str,
    /// The HTTP operation it runs; `None` for `search_tools`.
    pub op: Option<Op>,
    /// Whether it changes anything (hidden from and refused to read-only roles).
    pub writes: bool,
    /// Whether it may remove or overwrite content.
    pub destructive: bool,
    /// Whether repeating it with the same arguments changes nothing more.
    pub idempotent: bool,
    /// Extra words for `search_tools`.
    pub keywords: &'static str,
}

/// Every tool, in `tools/list` order.
pub static TOOLS: &[Tool] = &[
    Tool {
        name: "list_projects",
        title: "List projects",
        description: "Projects of an organisation, newest first (cursor pagination).",
        op: Some(Op::ListProjects),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "projects browse find videos",
    },
    Tool {
        name: "create_project",
        title: "Create a project",
        description: "Create an empty ProEditor project with a frame size and frame rate.",
        op: Some(Op::CreateProject),
        writes: true,
        destructive: false,
        idempotent: false,
        keywords: "new project video start",
    },
    Tool {
        name: "get_timeline",
        title: "Read a timeline",
        description: "A project with its timeline (tracks, clips, effects) and its sequence number.",
        op: Some(Op::GetProject),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "timeline read tracks clips project state",
    },
    Tool {
        name: "apply_commands",
        title: "Edit the timeline",
        description: "Apply timeline commands (add/move/trim/remove clips and tracks, effects, text, transitions, keyframes…) atomically, in the project's order; everyone in the room sees the edit.",
        op: Some(Op::ApplyCommands),
        writes: true,
        destructive: true,
        idempotent: false,
        keywords: "edit timeline change modify cut trim add clip track command",
    },
    Tool {
        name: "render_frame",
        title: "Render a frame",
        description: "Render one frame of the timeline as a PNG image.",
        op: Some(Op::RenderFrame),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "render frame image preview picture png still look",
    },
    Tool {
        name: "search_assets",
        title: "Search assets",
        description: "Search the organisation's media library: full text over names, tags and metadata, with filters.",
        op: Some(Op::SearchAssets),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "assets media library images video audio find search files",
    },
    Tool {
        name: "list_threads",
        title: "List comment threads",
        description: "Comment threads of a project with their comments, resolved or open.",
        op: Some(Op::ListThreads),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "comments threads review feedback notes",
    },
    Tool {
        name: "comment",
        title: "Comment",
        description: "Start a comment thread pinned to a clip and/or a frame range of a project.",
        op: Some(Op::CreateThread),
        writes: true,
        destructive: false,
        idempotent: false,
        keywords: "comment note feedback review thread",
    },
    Tool {
        name: "resolve_thread",
        title: "Resolve a thread",
        description: "Resolve (or reopen) a comment thread.",
        op: Some(Op::ResolveThread),
        writes: true,
        destructive: false,
        idempotent: true,
        keywords: "resolve close reopen thread comment review done",
    },
    Tool {
        name: "start_render",
        title: "Start a render",
        description: "Queue a render job of the project (a still PNG, a PNG sequence, an animated PNG or GIF, or a WAV mixdown); follow it with watch_render_job.",
        op: Some(Op::CreateRender),
        writes: true,
        destructive: false,
        idempotent: false,
        keywords: "render export job queue video gif apng png sequence wav audio output",
    },
    Tool {
        name: "watch_render_job",
        title: "Watch a render job",
        description: "Wait for a render job to finish (or for timeout_seconds) and return it with its outputs; with a progressToken in _meta the answer streams progress notifications over SSE.",
        op: Some(Op::GetJob),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "render job progress status wait watch export result",
    },
    Tool {
        name: "list_connector_tools",
        title: "List external tools",
        description: "Tools of the organisation's external MCP connectors (the registry filled by discovery), with their schemas; call one with call_connector_tool.",
        op: Some(Op::ListConnectorTools),
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "external connector integration toolgraph third party service registry",
    },
    Tool {
        name: "call_connector_tool",
        title: "Call an external tool",
        description: "Call a tool of an external MCP connector through the Creator OS proxy (rate-limited, audited, with the connector's stored credential).",
        op: Some(Op::CallConnectorTool),
        writes: true,
        destructive: true,
        idempotent: false,
        keywords: "external connector integration toolgraph third party service call proxy",
    },
    Tool {
        name: "search_tools",
        title: "Search tools",
        description: "Find tools by keywords (e.g. \"edit timeline\"); returns the matching tool definitions, so the full catalog need not be loaded.",
        op: None,
        writes: false,
        destructive: false,
        idempotent: true,
        keywords: "discover tools help catalog",
    },
];

fn route_of(op: Op) -> &'static Route {
    ROUTES
        .iter()
        .find(|route| route.op == op)
        .expect("every tool names a route of the table")
}

fn path_params(route: &Route) -> impl Iterator<Item = &'static str> {
    route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

/// JSON type of a query parameter in tool arguments.
fn query_type(name: &str) -> Value {
    match name {
        "frame" | "limit" | "max_distance" => json!({"type": "integer", "minimum": 0}),
        "scale" => json!({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
        "resolved" => json!({"type": "boolean"}),
        _ => json!({"type": "string"}),
    }
}

/// A self-contained JSON Schema (`$defs` inlined) from a route's schema function.
fn root_schema(schema_fn: crate::routes::SchemaFn) -> Map<String, Value> {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let schema = schema_fn(&mut generator).to_value();
    let defs = generator.take_definitions(true);
    let mut root = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            defs.get(name).cloned().unwrap_or(schema.clone())
        }
        None => schema,
    };
    if let Value::Object(object) = &mut root {
        if !defs.is_empty() {
            object.insert("$defs".into(), Value::Object(defs));
        }
        strip_numeric_formats(&mut root);
        root.as_object().cloned().unwrap_or_default()
    } else {
        Map::new()
    }
}

/// Removes schemars' numeric `format`s (`uint32`, `double`…): they are not JSON Schema
/// formats, and strict validators in MCP clients reject schemas that use unknown ones. The
/// bounds they imply stay as `minimum`/`maximum`.
fn strip_numeric_formats(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let numeric = object
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| {
                    matches!(
                        f,
                        "int8"
                            | "int16"
                            | "int32"
                            | "int64"
                            | "uint"
                            | "uint8"
                            | "uint16"
                            | "uint32"
                            | "uint64"
                            | "float"
                            | "double"
                    )
                });
            if numeric {
                object.remove("format");
            }
            object.values_mut().for_each(strip_numeric_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_numeric_formats),
        _ => {}
    }
}

fn input_schema(tool: &Tool) -> Value {
    let Some(op) = tool.op else {
        return json!({
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "keywords, e.g. \"edit timeline\""},
                "limit": {"type": "integer", "minimum": 1, "maximum": 20, "description": "at most this many tools, default 5"},
            },
            "required": ["query"],
            "additionalProperties": false,
        });
    };
    if tool.name == super::progress::WATCH_TOOL {
        return super::progress::input_schema();
    }
    let route = route_of(op);
    let mut schema = match route.body {
        Some(body) => root_schema(body),
        None => {
            let mut object = Map::new();
            object.insert("additionalProperties".into(), json!(false));
            object
        }
    };
    schema.insert("type".into(), json!("object"));
    let mut properties = schema
        .remove("properties")
        .and_then(|p| p.as_object().cloned())
        .unwrap_or_default();
    let mut required: Vec<Value> = schema
        .remove("required")
        .and_then(|r| r.as_array().cloned())
        .unwrap_or_default();
    for name in path_params(route) {
        let description = if name == "org_id" {
            "organisation (`org_…`); defaults to the API key's organisation"
        } else {
            "id of the object"
        };
        properties.insert(
            name.into(),
            json!({"type": "string", "description": description}),
        );
        if name != "org_id" {
            required.push(json!(name));
        }
    }
    for (name, description) in route.query {
        let mut property = query_type(name);
        property["description"] = json!(description);
        properties.insert((*name).into(), property);
    }
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    Value::Object(schema)
}

fn output_schema(tool: &Tool) -> Value {
    match tool.op {
        None => json!({
            "type": "object",
            "properties": {
                "tools": {"type": "array", "items": {"type": "object"}},
                "connector_tools": {
                    "type": "array",
                    "items": {"type": "object"},
                    "description": "matching tools of external connectors; call them with call_connector_tool",
                },
            },
            "required": ["tools"],
        }),
        Some(Op::RenderFrame) => json!({
            "type": "object",
            "properties": {
                "project_id": {"type": "string"},
                "frame": {"type": "integer"},
                "mime_type": {"type": "string"},
                "size_bytes": {"type": "integer"},
            },
            "required": ["project_id", "frame", "mime_type", "size_bytes"],
        }),
        Some(op) => match route_of(op).ok.1 {
            Some(schema_fn) => {
                let mut schema = root_schema(schema_fn);
                schema.insert("type".into(), json!("object"));
                Value::Object(schema)
            }
            None => json!({"type": "object"}),
        },
    }
}

/// The tool's definition as `tools/list` shows it.
pub fn definition(tool: &Tool) -> Value {
    json!({
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": input_schema(tool),
        "outputSchema": output_schema(tool),
        "annotations": {
            "title": tool.title,
            "readOnlyHint": !tool.writes,
            "destructiveHint": tool.destructive,
            "idempotentHint": tool.idempotent,
            "openWorldHint": false,
        },
    })
}

fn visible<'a>(caller: &'a Caller) -> impl Iterator<Item = &'static Tool> + 'a {
    TOOLS.iter().filter(move |tool| {
        (!tool.writes || caller.can_write())
            && crate::agents::policy::tool_visible(&caller.principal, tool.name)
    })
}

/// Whether the caller may see (and so call) the tool named `name`.
pub fn is_visible(caller: &Caller, name: &str) -> bool {
    visible(caller).any(|tool| tool.name == name)
}

/// `tools/list`, in pages of [`PAGE_SIZE`]; the cursor is opaque.
pub fn list(caller: &Caller, params: &Value) -> Result<Value, RpcError> {
    let start = match params.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(cursor)) => crate::identity::api::decode_cursor(cursor)
            .ok()
            .and_then(|s| s.strip_prefix("tools:").and_then(|n| n.parse().ok()))
            .ok_or_else(|| RpcError::params("invalid cursor"))?,
        Some(_) => return Err(RpcError::params("cursor must be a string")),
    };
    let tools: Vec<&Tool> = visible(caller).collect();
    if start > tools.len() {
        return Err(RpcError::params("invalid cursor"));
    }
    let end = (start + PAGE_SIZE).min(tools.len());
    let page: Vec<Value> = tools[start..end].iter().map(|t| definition(t)).collect();
    let mut result = json!({"tools": page});
    if end < tools.len() {
        result["nextCursor"] = json!(crate::identity::api::encode_cursor(&format!("tools:{end}")));
    }
    Ok(result)
}

/// A tool result that reports an error to the model (not a protocol error). The error travels
/// as JSON text only: `structuredContent` must match the tool's output schema, which
/// describes success.
pub fn tool_error(code: &str, message: &str) -> Value {
    let error = json!({"error": {"code": code, "message": message}});
    json!({
        "content": [{"type": "text", "text": error.to_string()}],
        "isError": true,
    })
}

/// A successful tool result: the value as text and as `structuredContent`.
pub fn tool_ok(value: Value) -> Value {
    json!({
        "content": [{"type": "text", "text": value.to_string()}],
        "structuredContent": value,
    })
}

/// `tools/call`.
pub async fn call(ctx: &mut Ctx, caller: &Caller, params: &Value) -> Result<Value, RpcError> {
    let name = params["name"]
        .as_str()
        .ok_or_else(|| RpcError::params("name is required"))?;
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map.clone(),
        Some(_) => return Err(RpcError::params("arguments must be an object")),
    };
    let Some(tool) = TOOLS.iter().find(|tool| tool.name == name) else {
        return Err(RpcError::params(format!("unknown tool: {name}")));
    };
    if tool.writes && !caller.can_write() {
        return Ok(tool_error(
            "forbidden",
            "your role does not allow this tool (it changes content)",
        ));
    }
    // An agent's capabilities, approval gates and budgets.
    if let Err(error) = crate::agents::policy::check_call(ctx, &caller.principal, tool.name).await {
        if error.status >= 500 {
            return Err(RpcError::from(error));
        }
        return Ok(tool_error(&error.code, &error.message));
    }
    let Some(op) = tool.op else {
        return Ok(search(ctx, caller, &arguments).await);
    };
    match run(ctx, caller, tool, op, arguments).await {
        Ok(result) => Ok(result),
        Err(error) if error.status >= 500 => Err(RpcError::from(error)),
        Err(error) => Ok(tool_error(&error.code, &error.message)),
    }
}

async fn run(
    ctx: &mut Ctx,
    caller: &Caller,
    tool: &Tool,
    op: Op,
    mut arguments: Map<String, Value>,
) -> AppResult<Value> {
    if tool.name == super::progress::WATCH_TOOL {
        let watch = super::progress::parse(&arguments)?;
        let job = super::progress::wait(ctx, &caller.principal, &watch).await?;
        return Ok(tool_ok(job));
    }
    let route = route_of(op);
    let invalid = |message: String| AppError::invalid("invalid_arguments", message);
    let mut path = route.path.to_string();
    let mut org_id = None;
    let mut project_id = None;
    for name in path_params(route) {
        let value = match arguments.remove(name) {
            Some(Value::String(value)) if !value.is_empty() => value,
            None if name == "org_id" => caller
                .default_org()
                .map(str::to_string)
                .ok_or_else(|| invalid("org_id is required".into()))?,
            _ => return Err(invalid(format!("{name} must be a non-empty string"))),
        };
        match name {
            "org_id" => org_id = Some(value.clone()),
            "project_id" => project_id = Some(value.clone()),
            _ => {}
        }
        let encoded: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        path = path.replace(&format!("{{{name}}}"), &encoded);
    }
    let mut query = Vec::new();
    for (name, _) in route.query {
        match arguments.remove(*name) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => query.push((name.to_string(), s)),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => {
                query.push((name.to_string(), v.to_string()))
            }
            Some(_) => return Err(invalid(format!("{name} must be a string or number"))),
        }
    }
    let body = match route.body {
        Some(_) => Some(Value::Object(arguments)),
        None if arguments.is_empty() => None,
        None => {
            let names: Vec<&String> = arguments.keys().collect();
            return Err(invalid(format!("unknown arguments: {names:?}")));
        }
    };
    let mut response = call_route(
        ctx,
        &caller.principal,
        route.method.clone(),
        &path,
        &query,
        body.as_ref(),
    )
    .await?;
    let status = response.status_code();
    let result = if op == Op::RenderFrame {
        let png = response.bytes().await?;
        let frame = query
            .iter()
            .find(|(k, _)| k == "frame")
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0);
        let project_id = path.rsplit('/').nth(1).unwrap_or_default().to_string();
        let summary = json!({
            "project_id": project_id,
            "frame": frame,
            "mime_type": "image/png",
            "size_bytes": png.len(),
        });
        json!({
            "content": [
                {"type": "image", "data": base64::engine::general_purpose::STANDARD.encode(&png), "mimeType": "image/png"},
                {"type": "text", "text": summary.to_string()},
            ],
            "structuredContent": summary,
        })
    } else if op == Op::CallConnectorTool {
        // The external tool's own content blocks reach the model; the envelope (which
        // connector, which tool, the raw result) is the structured content.
        let value = response.json::<Value>().await?;
        let upstream = &value["result"];
        let content = match upstream["content"].as_array() {
            Some(blocks) if !blocks.is_empty() => Value::Array(blocks.clone()),
            _ => json!([{"type": "text", "text": upstream.to_string()}]),
        };
        let mut result = json!({"content": content, "structuredContent": value.clone()});
        if upstream["isError"] == json!(true) {
            result["isError"] = json!(true);
        }
        result
    } else if status == 204 {
        tool_ok(json!({}))
    } else {
        tool_ok(response.json::<Value>().await?)
    };
    record_call(ctx, tool, org_id, project_id.as_deref()).await;
    Ok(result)
}

/// Records a write tool call in the audit trail (`mcp.tool_call`), next to the audit record
/// of the change itself, in the organisation it acted in; reads are in the request log only.
async fn record_call(ctx: &Ctx, tool: &Tool, org_id: Option<String>, project_id: Option<&str>) {
    if !tool.writes {
        return;
    }
    let Ok(db) = ctx.db() else { return };
    let org = match (org_id, project_id) {
        (Some(org), _) => Some(org),
        (None, Some(project)) => {
            #[derive(serde::Deserialize)]
            struct Row {
                org_id: String,
            }
            db.first::<Row>(
                "SELECT org_id FROM projects WHERE id = ?1",
                crate::args![project],
            )
            .await
            .ok()
            .flatten()
            .map(|row| row.org_id)
        }
        (None, None) => None,
    };
    let org = org.as_deref();
    let record = Record::success(org, "mcp.tool_call", Some(("tool", tool.name)))
        .with_details(json!({"tool": tool.name, "transport": "mcp"}));
    if let Err(error) = audit::commit(ctx, &db, Vec::new(), record, None).await {
        worker::console_log!(
            "{}",
            json!({"level": "error", "msg": "mcp audit failed", "error": error.internal.unwrap_or(error.message)})
        );
    }
}

/// How well `haystack` (lower case) matches the query's words: words matched first, then how
/// strongly (hits in the name count double); 0 for no match.
fn score(words: &[String], haystack: &str, name: &str) -> usize {
    words
        .iter()
        .map(|w| match haystack.matches(w.as_str()).count() {
            0 => 0,
            hits => 10 + hits.min(3) + name.contains(w.as_str()) as usize * 2,
        })
        .sum()
}

/// `search_tools`: tools whose name, title, description or keywords contain the query's
/// words (of three letters or more), those matching the most words first; and, under
/// `connector_tools`, the matching tools of the caller's external connectors (called through
/// `call_connector_tool`).
async fn search(ctx: &Ctx, caller: &Caller, arguments: &Map<String, Value>) -> Value {
    let Some(query) = arguments.get("query").and_then(Value::as_str) else {
        return tool_error("invalid_arguments", "query must be a string");
    };
    let limit = arguments
        .get("limit")
        .and_then(Value::as_u64)
        .unwrap_or(5)
        .clamp(1, 20) as usize;
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| w.len() >= 3)
        .map(str::to_lowercase)
        .collect();
    let mut scored: Vec<(usize, &Tool)> = visible(caller)
        .filter(|tool| tool.op.is_some())
        .filter_map(|tool| {
            let haystack = format!(
                "{} {} {} {}",
                tool.name.replace('_', " "),
                tool.title,
                tool.description,
                tool.keywords
            )
            .to_lowercase();
            let score = score(&words, &haystack, tool.name);
            (score > 0).then_some((score, tool))
        })
        .collect();
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    let tools: Vec<Value> = scored
        .into_iter()
        .take(limit)
        .map(|(_, tool)| definition(tool))
        .collect();
    let connector_tools = match search_connectors(ctx, caller, &words, limit).await {
        Ok(found) => found,
        Err(error) => {
            worker::console_log!(
                "{}",
                json!({"level": "error", "msg": "connector tool search failed", "error": error.internal.unwrap_or(error.message)})
            );
            Vec::new()
        }
    };
    tool_ok(json!({"tools": tools, "connector_tools": connector_tools}))
}

/// Registry tools of the caller's organisations matching `words`, best first.
async fn search_connectors(
    ctx: &Ctx,
    caller: &Caller,
    words: &[String],
    limit: usize,
) -> AppResult<Vec<Value>> {
    if words.is_empty() || caller.memberships.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(serde::Deserialize)]
    struct Row {
        org_id: String,
        connector_id: String,
        slug: String,
        name: String,
        title: Option<String>,
        description: String,
        input_schema: String,
    }
    let orgs: Vec<&str> = caller
        .memberships
        .iter()
        .take(50)
        .map(|(org, _)| org.as_str())
        .collect();
    let placeholders: Vec<String> = (1..=orgs.len()).map(|n| format!("?{n}")).collect();
    let rows: Vec<Row> = ctx
        .db()?
        .all(
            &format!(
                "SELECT t.org_id, t.connector_id, c.slug, t.name, t.title, t.description, t.input_schema
                 FROM connector_tools t JOIN connectors c ON c.id = t.connector_id AND c.org_id = t.org_id
                 WHERE t.org_id IN ({}) ORDER BY t.connector_id, t.name LIMIT 2000",
                placeholders.join(", ")
            ),
            orgs.iter().map(|org| crate::db::Arg::from(*org)).collect(),
        )
        .await?;
    let mut scored: Vec<(usize, Row)> = rows
        .into_iter()
        .filter_map(|row| {
            let haystack = format!(
                "{} {} {} {}",
                row.slug.replace('-', " "),
                row.name.replace('_', " "),
                row.title.as_deref().unwrap_or(""),
                row.description
            )
            .to_lowercase();
            let score = score(words, &haystack, &row.name);
            (score > 0).then_some((score, row))
        })
        .collect();
    scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    Ok(scored
        .into_iter()
        .take(limit)
        .map(|(_, row)| {
            json!({
                "qualified_name": format!("{}__{}", row.slug, row.name),
                "org_id": row.org_id,
                "connector_id": row.connector_id,
                "tool_name": row.name,
                "title": row.title,
                "description": row.description,
                "input_schema": serde_json::from_str::<Value>(&row.input_schema).unwrap_or(Value::Null),
                "call_with": "call_connector_tool",
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_object_schemas_and_annotations() {
        for tool in TOOLS {
            let definition = definition(tool);
            assert_eq!(definition["inputSchema"]["type"], "object", "{}", tool.name);
            assert_eq!(
                definition["outputSchema"]["type"], "object",
                "{}",
                tool.name
            );
            assert_eq!(
                definition["annotations"]["readOnlyHint"],
                json!(!tool.writes),
                "{}",
                tool.name
            );
        }
    }

    #[test]
    fn apply_commands_embeds_the_command_schema() {
        let tool = TOOLS.iter().find(|t| t.name == "apply_commands").unwrap();
        let schema = input_schema(tool);
        assert_eq!(schema["required"], json!(["commands", "project_id"]));
        assert!(schema["$defs"]["Command"].is_object());
        assert_eq!(schema["additionalProperties"], json!(false));
        assert!(schema["properties"]["project_id"].is_object());
        assert!(
            !schema.to_string().contains("\"uint"),
            "no schemars-only formats"
        );
    }
}
