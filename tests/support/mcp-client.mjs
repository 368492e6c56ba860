// MCP clients for the tests: the official TypeScript SDK (@modelcontextprotocol/sdk) over its
// Streamable HTTP transport, as a real agent connects, plus a raw JSON-RPC poster for the
// transport-level checks the SDK never lets one make (malformed messages, wrong headers), and an
// external MCP server built with the SDK for the connector tests.
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

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

/**
 * A stand-in for an external service: an MCP server on loopback built with the SDK (McpServer +
 * StreamableHTTPServerTransport, stateful sessions, SSE answers). Tools: search_clips (with an
 * output schema), slow (answers after `ms`), huge (answers with more than 1 MB), fail (a tool
 * error). Paths besides /mcp: /moved (308 to /mcp), /redirect-private (307 to 10.0.0.1) and
 * /redirect-metadata (307 to 169.254.169.254). Every /mcp request's auth, session and version
 * headers are recorded in `received`.
 */
export async function startExternalMcpServer() {
  const received = [];
  const sessions = new Map();
  const makeServer = () => {
    const server = new McpServer({ name: "stock-footage", version: "2.1.0" });
    server.registerTool(
      "search_clips",
      {
        title: "Search stock clips",
        description: "Find stock footage clips by keywords",
        inputSchema: { query: z.string(), limit: z.number().int().optional() },
        outputSchema: { clips: z.array(z.object({ id: z.string(), title: z.string() })) },
        annotations: { readOnlyHint: true },
      },
      async ({ query, limit }) => {
        const clips = [1, 2, 3].slice(0, limit ?? 3).map((n) => ({ id: `clip-${n}`, title: `${query} #${n}` }));
        return { content: [{ type: "text", text: clips.map((c) => c.title).join(", ") }], structuredContent: { clips } };
      },
    );
    server.registerTool("slow", { description: "Answers after a pause", inputSchema: { ms: z.number() } }, async ({ ms }) => {
      await new Promise((r) => setTimeout(r, ms));
      return { content: [{ type: "text", text: "done" }] };
    });
    server.registerTool("huge", { description: "Answers with more than a megabyte" }, async () => ({
      content: [{ type: "text", text: "x".repeat(1_300_000) }],
    }));
    server.registerTool("fail", { description: "Reports a tool error" }, async () => ({
      content: [{ type: "text", text: "quota exceeded" }],
      isError: true,
    }));
    return server;
  };
  const http = createServer(async (req, res) => {
    const path = new URL(req.url, "http://loopback").pathname;
    if (path === "/redirect-private") {
      res.writeHead(307, { location: "http://10.0.0.1/mcp" }).end();
      return;
    }
    if (path === "/redirect-metadata") {
      res.writeHead(307, { location: "http://169.254.169.254/latest/meta-data/" }).end();
      return;
    }
    if (path === "/moved") {
      res.writeHead(308, { location: "/mcp" }).end();
      return;
    }
    if (path !== "/mcp") {
      res.writeHead(404).end();
      return;
    }
    received.push({ method: req.method, authorization: req.headers.authorization, apiKey: req.headers["x-api-key"], session: req.headers["mcp-session-id"], version: req.headers["mcp-protocol-version"] });
    const sid = req.headers["mcp-session-id"];
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport) {
      transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (id) => sessions.set(id, transport) });
      await makeServer().connect(transport);
    }
    await transport.handleRequest(req, res);
  });
  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address();
  return {
    port,
    url: `http://127.0.0.1:${port}/mcp`,
    base: `http://127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => { http.closeAllConnections(); http.close(resolve); }),
  };
}
