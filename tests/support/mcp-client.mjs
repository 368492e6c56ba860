// A minimal MCP client over the Streamable HTTP transport (JSON responses), written to the
// specification (revisions 2025-11-25 and 2025-06-18) with plain fetch: the official SDK
// (@modelcontextprotocol/sdk) is not installable offline in this environment.

/** One MCP client bound to a bearer token. */
export class McpClient {
  constructor(app, token, { version = "2025-11-25", origin } = {}) {
    this.app = app;
    this.token = token;
    this.version = version;
    this.origin = origin;
    this.nextId = 1;
    this.negotiated = undefined;
  }

  headers(extra = {}) {
    const headers = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...extra,
    };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.negotiated) headers["mcp-protocol-version"] = this.negotiated;
    if (this.origin) headers.origin = this.origin;
    return headers;
  }

  /** Posts a raw body; returns {status, headers, body, text}. */
  async raw(body, extraHeaders = {}) {
    const res = await this.app.fetch("/mcp", {
      method: "POST",
      headers: this.headers(extraHeaders),
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    return { status: res.status, headers: res.headers, body: json, text };
  }

  /** Sends a request; returns the JSON-RPC response object. */
  async request(method, params) {
    const id = this.nextId++;
    const res = await this.raw({ jsonrpc: "2.0", id, method, ...(params ? { params } : {}) });
    if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status} ${res.text}`);
    if (res.body.id !== id) throw new Error(`${method}: response id ${res.body.id} for request ${id}`);
    return res.body;
  }

  /** The result of a request, or throws with its JSON-RPC error. */
  async call(method, params) {
    const response = await this.request(method, params);
    if (response.error) throw new Error(`${method}: ${JSON.stringify(response.error)}`);
    return response.result;
  }

  /** initialize + notifications/initialized, as the lifecycle requires. */
  async connect() {
    const result = await this.call("initialize", {
      protocolVersion: this.version,
      capabilities: {},
      clientInfo: { name: "creator-os-tests", version: "1.0.0" },
    });
    this.negotiated = result.protocolVersion;
    const note = await this.raw({ jsonrpc: "2.0", method: "notifications/initialized" });
    if (note.status !== 202) throw new Error(`initialized: HTTP ${note.status}`);
    return result;
  }

  /** Every tool, following nextCursor. */
  async listTools() {
    const tools = [];
    let cursor;
    do {
      const page = await this.call("tools/list", cursor ? { cursor } : {});
      tools.push(...page.tools);
      cursor = page.nextCursor;
    } while (cursor);
    return tools;
  }

  callTool(name, args = {}) {
    return this.call("tools/call", { name, arguments: args });
  }
}
