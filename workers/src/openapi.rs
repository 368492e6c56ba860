//! `GET /openapi.json`: the OpenAPI 3.1 document, generated from the route table and the
//! request/response types, so it cannot disagree with what the router serves.

use schemars::generate::SchemaSettings;
use serde_json::{json, Map, Value};
use worker::{Request, Response};

use crate::http::{self, AppResult, Ctx};
use crate::routes::ROUTES;

/// Builds the document.
pub fn document() -> Value {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    let mut generator = settings.into_generator();

    let error_schema = json!({
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["code", "message", "request_id"],
            "properties": {
                "code": {"type": "string", "description": "stable snake_case code"},
                "message": {"type": "string"},
                "request_id": {"type": "string"}
            }
        }}
    });

    let mut paths = Map::new();
    for route in ROUTES {
        let mut operation = Map::new();
        operation.insert("operationId".into(), json!(format!("{:?}", route.op)));
        operation.insert("summary".into(), json!(route.summary));
        operation.insert("tags".into(), json!([route.tag]));
        let mut parameters: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        parameters.extend(route.query.iter().map(|(name, description)| {
            json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": "string"}})
        }));
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }
        if let Some(body) = route.body {
            let schema = body(&mut generator);
            operation.insert(
                "requestBody".into(),
                json!({"required": true, "content": {"application/json": {"schema": schema}}}),
            );
        }
        let mut responses = Map::new();
        let (status, response) = route.ok;
        let success = match response {
            Some(schema_fn) => {
                let schema = schema_fn(&mut generator);
                json!({"description": "success", "content": {"application/json": {"schema": schema}}})
            }
            None => json!({"description": "success"}),
        };
        responses.insert(status.to_string(), success);
        responses.insert(
            "default".into(),
            json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}),
        );
        operation.insert("responses".into(), Value::Object(responses));
        if route.auth {
            operation.insert(
                "security".into(),
                json!([{"bearer": []}, {"session_cookie": []}]),
            );
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(methods) = entry {
            methods.insert(
                route.method.to_string().to_lowercase(),
                Value::Object(operation),
            );
        }
    }

    let mut schemas = generator.take_definitions(true);
    schemas.insert("Error".into(), error_schema);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Creator OS API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "ProEditor and the Creator OS platform. JSON under /v1; every error has the shape {\"error\": {code, message, request_id}}."
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a session token (cos_sess_…) or an API key (cos_key_…)"},
                "session_cookie": {"type": "apiKey", "in": "cookie", "name": crate::identity::sessions::COOKIE_NAME}
            }
        }
    })
}

/// `GET /openapi.json`
pub async fn serve(_ctx: &mut Ctx, _req: Request) -> AppResult<Response> {
    http::json(200, &document())
}
