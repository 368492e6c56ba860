// MCP clients for the tests: the official TypeScript SDK (@modelcontextprotocol/sdk) over its
// Streamable HTTP transport, as a real agent connects, plus a raw JSON-RPC poster for the
// transport-level checks the SDK never lets one make (malformed messages, wrong headers).
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

/**
 * Connects the SDK client to the app's /mcp with a bearer token.
 * `version` makes the initialize request offer that revision instead of the SDK's latest (the
 * SDK always offers its latest; the server answers the offered one when it supports it).
 * Every HTTP exchange is recorded in `client.exchanges` ({method, headers, status, contentType}).
 */
export async function sdkClient(app, token, { version, origin, name = "creator-os-tests" } = {}) {
  const exchanges = [];
  const fetchRecorded = async (url, init = {}) => {
    let body = init.body;
    if (version && typeof body === "string" && body.includes('"method":"initialize"')) {
      const message = JSON.parse(body);
      message.params.protocolVersion = version;
      body = JSON.stringify(message);
    }
    const headers = new Headers(init.headers);
    if (origin) headers.set("origin", origin);
    const res = await fetch(url, { ...init, headers, body });
    exchanges.push({ method: init.method ?? "GET", headers: Object.fromEntries(headers), status: res.status, contentType: res.headers.get("content-type"), body: typeof body === "string" ? body : undefined });
    return res;
  };
  const transport = new StreamableHTTPClientTransport(new URL(`${app.base}/mcp`), {
    requestInit: token ? { headers: { Authorization: `Bearer ${token}` } } : {},
    fetch: fetchRecorded,
  });
  const client = new Client({ name, version: "1.0.0" });
  client.exchanges = exchanges;
  await client.connect(transport);
  return client;
}

/** Every tool, following nextCursor (the SDK returns one page per call). */
export async function allTools(client) {
  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor);
  // The SDK validates results against the output schemas of the last listed page only.
  client.cacheToolMetadata(tools);
  return tools;
}

/** The JSON error a tool reported in its text content ({error: {code, message}}). */
export function toolError(result) {
  if (!result.isError) throw new Error(`not an error result: ${JSON.stringify(result)}`);
  return JSON.parse(result.content[0].text).error;
}

/** Posts a raw body to /mcp; returns {status, headers, body, text}. */
export async function rawPost(app, token, body, headers = {}) {
  const res = await app.fetch("/mcp", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, body: json, text };
}
