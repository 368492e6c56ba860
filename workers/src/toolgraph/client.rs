//! A small MCP client for the Streamable HTTP transport, as the proxy speaks it to external
//! servers: JSON-RPC requests by POST, answered with JSON or with an SSE stream (the response
//! is the event carrying the request's id), an `Mcp-Session-Id` kept when the server issues
//! one, `MCP-Protocol-Version` on every request after `initialize`.
//!
//! Every exchange is bounded: the URL and every redirect hop pass the SSRF policy (redirects
//! are followed by hand, at most [`MAX_REDIRECTS`]), the whole exchange must finish within
//! the connector's timeout, and the response body may not exceed [`MAX_RESPONSE_BYTES`].

use std::time::Duration;

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use serde_json::{json, Value};
use url::Url;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use super::ssrf::Policy;
use crate::http::{AppError, AppResult};

/// Protocol revision offered in `initialize`.
pub const PROTOCOL_VERSION: &str = "2025-11-25";
/// Largest response body accepted from an external server.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Redirect hops followed at most (each re-checked).
pub const MAX_REDIRECTS: usize = 3;

/// Where and how to reach one external server.
pub struct Endpoint {
    /// The server's MCP endpoint.
    pub url: Url,
    /// The authentication header (name, value), already decrypted; never logged.
    pub auth: Option<(String, String)>,
    /// Bound on each exchange.
    pub timeout_ms: u64,
    /// Which addresses may be reached.
    pub policy: Policy,
}

/// The address refusal error shared by the API (registration) and the proxy (every hop).
pub fn address_refused(reason: impl std::fmt::Display) -> AppError {
    AppError::invalid(
        "connector_address_refused",
        format!("the connector address is refused: {reason}"),
    )
}

fn upstream(code: &str, message: impl Into<String>) -> AppError {
    AppError::new(502, code, message)
}

/// A conversation with one server: `initialize` done, session id and version remembered.
pub struct Session<'a> {
    endpoint: &'a Endpoint,
    session_id: Option<String>,
    protocol_version: Option<String>,
    next_id: i64,
    /// The server's `initialize` result.
    pub server: Value,
}

struct Answer {
    status: u16,
    content_type: String,
    session_id: Option<String>,
    body: Vec<u8>,
}

impl<'a> Session<'a> {
    /// Runs `initialize` and `notifications/initialized`.
    pub async fn open(endpoint: &'a Endpoint) -> AppResult<Session<'a>> {
        let mut session = Session {
            endpoint,
            session_id: None,
            protocol_version: None,
            next_id: 1,
            server: Value::Null,
        };
        let result = session
            .request(
                "initialize",
                json!({
                    "protocolVersion": PROTOCOL_VERSION,
                    "capabilities": {},
                    "clientInfo": {"name": "creator-os-toolgraph", "version": env!("CARGO_PKG_VERSION")},
                }),
            )
            .await?;
        let version = result["protocolVersion"]
            .as_str()
            .ok_or_else(|| {
                upstream(
                    "connector_protocol_error",
                    "the server's initialize result has no protocolVersion",
                )
            })?
            .to_string();
        session.protocol_version = Some(version);
        session.server = result;
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let answer = session.post(&note).await?;
        if !(200..300).contains(&answer.status) {
            return Err(upstream(
                "connector_http_error",
                format!(
                    "the server answered {} to notifications/initialized",
                    answer.status
                ),
            ));
        }
        Ok(session)
    }

    /// The negotiated protocol revision.
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }

    /// Sends a request; the result, or the server's JSON-RPC error as a 502.
    pub async fn request(&mut self, method: &str, params: Value) -> AppResult<Value> {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(&message).await?;
        if let Some(session_id) = &answer.session_id {
            self.session_id.get_or_insert_with(|| session_id.clone());
        }
        match answer.status {
            200..=299 => {}
            401 | 403 => {
                return Err(upstream(
                    "connector_auth_failed",
                    format!(
                        "the server refused the connector's credentials ({})",
                        answer.status
                    ),
                ))
            }
            status => {
                return Err(upstream(
                    "connector_http_error",
                    format!("the server answered {status} to {method}"),
                ))
            }
        }
        let response = if answer.content_type.starts_with("text/event-stream") {
            find_in_sse(&answer.body, id)
        } else {
            serde_json::from_slice::<Value>(&answer.body)
                .ok()
                .filter(|r| r["id"] == json!(id))
        }
        .ok_or_else(|| {
            upstream(
                "connector_protocol_error",
                format!("the server sent no JSON-RPC response to {method}"),
            )
        })?;
        if let Some(error) = response.get("error") {
            let text: String = error["message"]
                .as_str()
                .unwrap_or("error")
                .chars()
                .take(300)
                .collect();
            return Err(upstream(
                "connector_rpc_error",
                format!(
                    "the server answered {method} with error {}: {text}",
                    error["code"]
                ),
            ));
        }
        response
            .get("result")
            .filter(|r| r.is_object())
            .cloned()
            .ok_or_else(|| {
                upstream(
                    "connector_protocol_error",
                    format!("the server's answer to {method} has no result object"),
                )
            })
    }

    /// Ends the session the server issued, if any (`DELETE` with its id), as the transport
    /// asks of clients that are done; a failure changes nothing for the caller.
    pub async fn close(self) {
        if self.session_id.is_some() {
            let _ = self.send(None).await;
        }
    }

    async fn post(&self, message: &Value) -> AppResult<Answer> {
        self.send(Some(message)).await
    }

    /// One exchange: `message` by POST, or a session-ending DELETE when `None`.
    async fn send(&self, message: Option<&Value>) -> AppResult<Answer> {
        let controller = AbortController::default();
        let signal = controller.signal();
        let exchange = Box::pin(self.exchange(message, &signal));
        let timeout = Box::pin(Delay::from(Duration::from_millis(self.endpoint.timeout_ms)));
        let outcome = select(exchange, timeout).await;
        let answer = match outcome {
            Either::Left((answer, _)) => answer,
            Either::Right((_, pending)) => {
                drop(pending);
                controller.abort();
                Err(AppError::new(
                    504,
                    "connector_timeout",
                    format!(
                        "the server did not answer within {} ms",
                        self.endpoint.timeout_ms
                    ),
                ))
            }
        };
        answer
    }

    async fn exchange(
        &self,
        message: Option<&Value>,
        signal: &worker::AbortSignal,
    ) -> AppResult<Answer> {
        let body = message.map(Value::to_string);
        let answer_id = message.and_then(|m| m["id"].as_i64());
        let mut url = self.endpoint.url.clone();
        for _ in 0..=MAX_REDIRECTS {
            self.endpoint.policy.check(&url).map_err(address_refused)?;
            let headers = Headers::new();
            headers.set("content-type", "application/json")?;
            headers.set("accept", "application/json, text/event-stream")?;
            headers.set("user-agent", "creator-os-toolgraph/1")?;
            if let Some(version) = &self.protocol_version {
                headers.set("mcp-protocol-version", version)?;
            }
            if let Some(session_id) = &self.session_id {
                headers.set("mcp-session-id", session_id)?;
            }
            // The credential goes to the registered origin only, never to a redirect target
            // elsewhere.
            if let Some((name, value)) = &self.endpoint.auth {
                if url.origin() == self.endpoint.url.origin() {
                    headers.set(name, value)?;
                }
            }
            let mut init = RequestInit::new();
            init.with_method(if body.is_some() {
                Method::Post
            } else {
                Method::Delete
            })
            .with_headers(headers)
            .with_redirect(RequestRedirect::Manual)
            .with_body(body.clone().map(Into::into));
            let request = Request::new_with_init(url.as_str(), &init)?;
            let mut response = Fetch::Request(request)
                .send_with_signal(signal)
                .await
                .map_err(|_| {
                    upstream(
                        "connector_unreachable",
                        format!(
                            "the server at {} could not be reached",
                            url.origin().ascii_serialization()
                        ),
                    )
                })?;
            let status = response.status_code();
            if (300..400).contains(&status) {
                let location = response
                    .headers()
                    .get("location")
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        upstream(
                            "connector_http_error",
                            format!("redirect {status} without a location"),
                        )
                    })?;
                url = url.join(&location).map_err(|_| {
                    upstream("connector_http_error", "the redirect location is not a URL")
                })?;
                continue;
            }
            let header = |name: &str| response.headers().get(name).ok().flatten();
            let content_type = header("content-type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            let session_id = header("mcp-session-id");
            if header("content-length")
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n > MAX_RESPONSE_BYTES)
            {
                return Err(too_large());
            }
            let mut body = Vec::new();
            if status != 202 && status != 204 {
                let mut stream = response.stream()?;
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|_| {
                        upstream("connector_unreachable", "the server's answer broke off")
                    })?;
                    body.extend_from_slice(&chunk);
                    if body.len() > MAX_RESPONSE_BYTES {
                        return Err(too_large());
                    }
                    // An SSE answer may stay open after the response: stop at the response.
                    if content_type.starts_with("text/event-stream")
                        && answer_id.is_some_and(|id| find_in_sse(&body, id).is_some())
                    {
                        break;
                    }
                }
            }
            return Ok(Answer {
                status,
                content_type,
                session_id,
                body,
            });
        }
        Err(upstream(
            "connector_too_many_redirects",
            format!("more than {MAX_REDIRECTS} redirects"),
        ))
    }
}

fn too_large() -> AppError {
    upstream(
        "connector_response_too_large",
        format!("the server's answer exceeds {MAX_RESPONSE_BYTES} bytes"),
    )
}

/// The JSON-RPC response with `id` among complete SSE events in `body`.
pub fn find_in_sse(body: &[u8], id: i64) -> Option<Value> {
    let text = String::from_utf8_lossy(body).replace("\r\n", "\n");
    // Only complete events (ended by a blank line) count.
    let complete = match text.rfind("\n\n") {
        Some(end) => &text[..end],
        None => return None,
    };
    complete.split("\n\n").find_map(|event| {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            return None;
        }
        serde_json::from_str::<Value>(&data.join("\n"))
            .ok()
            .filter(|m| {
                m["id"] == json!(id) && (m.get("result").is_some() || m.get("error").is_some())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_answers_are_found_by_id() {
        let body = b"event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"ok\":true}}\n\n";
        assert_eq!(find_in_sse(body, 2).unwrap()["result"]["ok"], json!(true));
        assert!(find_in_sse(body, 3).is_none());
        // An event not yet ended by a blank line is not complete.
        assert!(find_in_sse(b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n", 1).is_none());
        assert!(find_in_sse(
            b"data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\r\n\r\n",
            1
        )
        .is_some());
    }
}
