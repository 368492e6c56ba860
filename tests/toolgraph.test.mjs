// Toolgraph connectors end to end: the real Worker in workerd (D1, RateLimiter DO) registers an
// external MCP server, discovers its tools into the registry and proxies calls to it, over HTTP
// and through our own /mcp. The external server is a loopback HTTP server built in this test
// with the official MCP TypeScript SDK (McpServer + StreamableHTTPServerTransport, stateful
// sessions, SSE answers): it stands in for an external service such as a stock-footage API.
import assert from "node:assert/strict";
import { createDecipheriv, randomBytes } from "node:crypto";
import { after, before, test } from "node:test";
import { signup, startApp } from "./harness.mjs";
import { allTools, sdkClient, startExternalMcpServer, toolError } from "./support/mcp-client.mjs";

const ENCRYPTION_KEY = randomBytes(32);
const CREDENTIAL = `stock-${randomBytes(12).toString("hex")}`;
const HEADER_CREDENTIAL = `hdr-${randomBytes(12).toString("hex")}`;

let app;
let owner;
let orgId;
let external; // {port, url, received, close}

before(async () => {
  external = await startExternalMcpServer();
  app = await startApp({
    vars: {
      CONNECTOR_ENCRYPTION_KEY: ENCRYPTION_KEY.toString("base64"),
      // The local-development allowance: exactly the stand-in server, nothing else on loopback.
      CONNECTORS_DEV_ALLOW: `127.0.0.1:${external.port}`,
    },
  });
  owner = await signup(app, "toolgraph-owner");
  orgId = owner.org.id;
});
after(async () => {
  await app?.dispose();
  await external?.close();
});

async function apiKey(name, role, client = owner.client, org = orgId) {
  const res = await client.post(`/v1/orgs/${org}/api-keys`, { name, role });
  assert.equal(res.status, 201, res.text);
  return res.body.api_key.key;
}

function decrypt(stored, connectorId) {
  const bytes = Buffer.from(stored, "base64");
  const decipher = createDecipheriv("aes-256-gcm", ENCRYPTION_KEY, bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(connectorId));
  decipher.setAuthTag(bytes.subarray(bytes.length - 16));
  return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString();
}

let connector; // the bearer-authenticated stock footage connector

test("a connector is registered with a write-only credential, stored AES-GCM encrypted", async () => {
  const res = await owner.client.post(`/v1/orgs/${orgId}/connectors`, {
    name: "Stock Footage",
    description: "Licensed stock clips",
    url: external.url,
    auth_method: "bearer",
    credential: CREDENTIAL,
  });
  assert.equal(res.status, 201, res.text);
  connector = res.body.connector;
  assert.match(connector.id, /^con_/);
  assert.equal(connector.slug, "stock-footage");
  assert.equal(connector.status, "new");
  assert.equal(connector.has_credential, true);
  assert.equal(connector.rate_per_minute, 60);
  assert.ok(!res.text.includes(CREDENTIAL), "the credential is never returned");
  const got = await owner.client.get(`/v1/orgs/${orgId}/connectors/${connector.id}`);
  assert.equal(got.status, 200);
  assert.ok(!got.text.includes(CREDENTIAL));
  const listed = await owner.client.get(`/v1/orgs/${orgId}/connectors`);
  assert.deepEqual(listed.body.items.map((c) => c.id), [connector.id]);

  const [row] = await app.query("SELECT credential_ciphertext FROM connectors WHERE id = ?", connector.id);
  assert.ok(row.credential_ciphertext);
  assert.ok(!row.credential_ciphertext.includes(CREDENTIAL));
  assert.ok(!Buffer.from(row.credential_ciphertext, "base64").includes(Buffer.from(CREDENTIAL)));
  assert.equal(Buffer.from(row.credential_ciphertext, "base64").length, 12 + CREDENTIAL.length + 16);
  // Real AES-256-GCM under the configured key, bound to this connector's id.
  assert.equal(decrypt(row.credential_ciphertext, connector.id), CREDENTIAL);
  assert.throws(() => decrypt(row.credential_ciphertext, "con_other"));
  // Neither the audit trail nor the events hold it.
  const audit = await app.query("SELECT action, details FROM audit_log WHERE org_id = ? AND action LIKE 'connector.%'", orgId);
  assert.deepEqual(audit.map((a) => a.action), ["connector.create"]);
  assert.ok(!JSON.stringify(await app.snapshot()).replace(row.credential_ciphertext, "").includes(CREDENTIAL), "the plaintext is nowhere in D1");

  // Bad input: clear errors, nothing stored.
  for (const [body, status, code] of [
    [{ name: "X", url: external.url, auth_method: "bearer" }, 422, "invalid_auth"],
    [{ name: "X", url: external.url, auth_method: "header", credential: "k" }, 422, "invalid_auth"],
    [{ name: "X", url: external.url, auth_method: "header", auth_header: "host", credential: "k" }, 422, "invalid_auth_header"],
    [{ name: "X", url: external.url, credential: "k" }, 422, "invalid_auth"],
    [{ name: "Stock Footage", url: external.url }, 409, "slug_taken"],
    [{ name: "X", url: "not a url" }, 422, "invalid_url"],
    [{ name: "X", url: external.url, timeout_ms: 10 }, 422, "invalid_timeout"],
    [{ name: "X", url: external.url, surprise: true }, 422, "invalid_request"],
  ]) {
    const refused = await owner.client.post(`/v1/orgs/${orgId}/connectors`, body);
    assert.equal(refused.status, status, `${JSON.stringify(body)}: ${refused.text}`);
    assert.equal(refused.body.error.code, code, JSON.stringify(body));
  }
  assert.equal((await app.query("SELECT COUNT(*) AS n FROM connectors"))[0].n, 1);
});

test("discovery fills the registry with the server's tools and schemas; the server received the credential", async () => {
  const before = external.received.length;
  const res = await owner.client.post(`/v1/orgs/${orgId}/connectors/${connector.id}/discover`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.connector.status, "ready");
  assert.equal(res.body.connector.server_name, "stock-footage");
  assert.equal(res.body.connector.protocol_version, "2025-11-25");
  assert.deepEqual(res.body.tools.map((t) => t.name), ["fail", "huge", "search_clips", "slow"]);
  const search = res.body.tools.find((t) => t.name === "search_clips");
  assert.equal(search.qualified_name, "stock-footage__search_clips");
  assert.equal(search.title, "Search stock clips");
  assert.deepEqual(search.input_schema.required, ["query"]);
  assert.equal(search.input_schema.properties.query.type, "string");
  assert.equal(search.output_schema.properties.clips.type, "array");
  assert.equal(search.annotations.readOnlyHint, true);

  // The server saw initialize, initialized and tools/list, each with the bearer credential, and
  // the session it issued was carried after initialize.
  const seen = external.received.slice(before);
  assert.ok(seen.length >= 3);
  for (const request of seen) assert.equal(request.authorization, `Bearer ${CREDENTIAL}`);
  assert.equal(seen[0].session, undefined);
  assert.ok(seen.slice(1).every((r) => r.session && r.session === seen[1].session), JSON.stringify(seen));
  assert.ok(seen.slice(1).every((r) => r.version === "2025-11-25"));
  // The proxy ends the session it was issued once done.
  assert.deepEqual(seen.map((r) => r.method), ["POST", "POST", "POST", "DELETE"]);

  const registry = await owner.client.get(`/v1/orgs/${orgId}/connector-tools`);
  assert.equal(registry.status, 200);
  assert.deepEqual(registry.body.items.map((t) => t.qualified_name), ["stock-footage__fail", "stock-footage__huge", "stock-footage__search_clips", "stock-footage__slow"]);
  const filtered = await owner.client.get(`/v1/orgs/${orgId}/connector-tools?q=stock%20footage%20clips`);
  assert.deepEqual(filtered.body.items.map((t) => t.name), ["search_clips"]);
  const paged = await owner.client.get(`/v1/orgs/${orgId}/connector-tools?limit=3`);
  assert.equal(paged.body.items.length, 3);
  const rest = await owner.client.get(`/v1/orgs/${orgId}/connector-tools?limit=3&cursor=${paged.body.next_cursor}`);
  assert.deepEqual(rest.body.items.map((t) => t.name), ["slow"]);
  assert.equal(rest.body.next_cursor, null);
  const rows = await app.query("SELECT name, input_schema FROM connector_tools WHERE connector_id = ? ORDER BY name", connector.id);
  assert.equal(rows.length, 4);
  assert.equal(JSON.parse(rows[2].input_schema).properties.query.type, "string");
  const audit = await app.query("SELECT result, details FROM audit_log WHERE action = 'connector.discover' AND target_id = ?", connector.id);
  assert.equal(audit.length, 1);
  assert.equal(JSON.parse(audit[0].details).tools, 4);
});

test("a proxied call works over HTTP and is audited without arguments or credentials", async () => {
  const editorKey = await apiKey("proxy-editor", "editor");
  const res = await app.fetch(`/v1/orgs/${orgId}/connectors/${connector.id}/tools/search_clips/call`, {
    method: "POST",
    headers: { authorization: `Bearer ${editorKey}`, "content-type": "application/json" },
    body: JSON.stringify({ arguments: { query: "sunset beach", limit: 2 } }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  assert.equal(body.tool, "search_clips");
  assert.deepEqual(body.result.structuredContent, { clips: [{ id: "clip-1", title: "sunset beach #1" }, { id: "clip-2", title: "sunset beach #2" }] });
  assert.equal(body.result.content[0].text, "sunset beach #1, sunset beach #2");
  assert.equal(external.received.at(-1).authorization, `Bearer ${CREDENTIAL}`);

  // A tool error of the external server is its result, passed through.
  const failed = await owner.client.post(`/v1/orgs/${orgId}/connectors/${connector.id}/tools/fail/call`, {});
  assert.equal(failed.status, 200, failed.text);
  assert.equal(failed.body.result.isError, true);

  const calls = await app.query("SELECT actor_type, result, details FROM audit_log WHERE action = 'connector.tool_call' AND org_id = ? ORDER BY rowid", orgId);
  assert.equal(calls.length, 2);
  const details = JSON.parse(calls[0].details);
  assert.equal(calls[0].actor_type, "api_key");
  assert.equal(details.tool, "search_clips");
  assert.deepEqual(details.arguments.sort(), ["limit", "query"]);
  assert.equal(typeof details.duration_ms, "number");
  assert.equal(JSON.parse(calls[1].details).is_error, true);
  const everything = JSON.stringify(await app.query("SELECT * FROM audit_log")) + JSON.stringify(await app.query("SELECT * FROM events"));
  assert.ok(!everything.includes("sunset beach"), "argument values are not recorded");
  assert.ok(!everything.includes(CREDENTIAL), "credentials are not recorded");

  // Unknown tools and bad bodies are refused before any call.
  const unknown = await owner.client.post(`/v1/orgs/${orgId}/connectors/${connector.id}/tools/nope/call`, { arguments: {} });
  assert.equal(unknown.status, 404);
  const bad = await owner.client.post(`/v1/orgs/${orgId}/connectors/${connector.id}/tools/search_clips/call`, { arguments: [] });
  assert.equal(bad.status, 422);
});

test("connector tools through our /mcp: listed, searchable, called via the proxy with the SDK", async () => {
  const key = await apiKey("mcp-agent", "editor");
  const client = await sdkClient(app, key);
  await allTools(client);
  const found = await client.callTool({ name: "search_tools", arguments: { query: "external connector tools", limit: 3 } });
  assert.ok(found.structuredContent.tools.some((t) => t.name === "call_connector_tool"));
  // Progressive discovery reaches into the registry: the external tools match by their words.
  const clips = await client.callTool({ name: "search_tools", arguments: { query: "stock footage clips", limit: 2 } });
  const matches = clips.structuredContent.connector_tools;
  assert.equal(matches[0].qualified_name, "stock-footage__search_clips", JSON.stringify(matches));
  assert.equal(matches[0].connector_id, connector.id);
  assert.equal(matches[0].call_with, "call_connector_tool");
  assert.deepEqual(matches[0].input_schema.required, ["query"]);
  const listed = await client.callTool({ name: "list_connector_tools", arguments: { q: "clips" } });
  assert.ok(!listed.isError, JSON.stringify(listed));
  assert.deepEqual(listed.structuredContent.items.map((t) => t.qualified_name), ["stock-footage__search_clips"]);
  const called = await client.callTool({ name: "call_connector_tool", arguments: { connector_id: connector.id, tool_name: "search_clips", arguments: { query: "forest" } } });
  assert.ok(!called.isError, JSON.stringify(called));
  assert.deepEqual(called.content, [{ type: "text", text: "forest #1, forest #2, forest #3" }]);
  assert.equal(called.structuredContent.result.structuredContent.clips.length, 3);
  const failed = await client.callTool({ name: "call_connector_tool", arguments: { connector_id: connector.id, tool_name: "fail", arguments: {} } });
  assert.equal(failed.isError, true);
  assert.equal(failed.content[0].text, "quota exceeded");
  await client.close();

  // A viewer sees the registry but may not call through the proxy.
  const viewer = await sdkClient(app, await apiKey("mcp-viewer", "viewer"));
  const names = (await allTools(viewer)).map((t) => t.name);
  assert.ok(names.includes("list_connector_tools"));
  assert.ok(!names.includes("call_connector_tool"));
  const refused = await viewer.callTool({ name: "call_connector_tool", arguments: { connector_id: connector.id, tool_name: "search_clips", arguments: { query: "x" } } });
  assert.equal(toolError(refused).code, "forbidden");
  await viewer.close();
});

test("header auth, redirects within the allowed server, timeout and response size cap", async () => {
  const created = await owner.client.post(`/v1/orgs/${orgId}/connectors`, {
    name: "Moved Stock",
    url: `${external.base}/moved`,
    auth_method: "header",
    auth_header: "X-Api-Key",
    credential: HEADER_CREDENTIAL,
    timeout_ms: 1500,
  });
  assert.equal(created.status, 201, created.text);
  const moved = created.body.connector;
  assert.equal(moved.auth_header, "x-api-key");
  const before = external.received.length;
  const discovered = await owner.client.post(`/v1/orgs/${orgId}/connectors/${moved.id}/discover`);
  assert.equal(discovered.status, 200, discovered.text);
  assert.equal(discovered.body.tools.length, 4);
  for (const request of external.received.slice(before)) {
    assert.equal(request.apiKey, HEADER_CREDENTIAL);
    assert.equal(request.authorization, undefined);
  }

  const slow = await owner.client.post(`/v1/orgs/${orgId}/connectors/${moved.id}/tools/slow/call`, { arguments: { ms: 4000 } });
  assert.equal(slow.status, 504, slow.text);
  assert.equal(slow.body.error.code, "connector_timeout");
  const huge = await owner.client.post(`/v1/orgs/${orgId}/connectors/${moved.id}/tools/huge/call`, {});
  assert.equal(huge.status, 502, huge.text);
  assert.equal(huge.body.error.code, "connector_response_too_large");
  const failures = await app.query("SELECT result, details FROM audit_log WHERE action = 'connector.tool_call' AND target_id = ? ORDER BY rowid", moved.id);
  assert.deepEqual(failures.map((f) => [f.result, JSON.parse(f.details).error]), [["failure", "connector_timeout"], ["failure", "connector_response_too_large"]]);
});

test("per-connector rate limit", async () => {
  const patched = await owner.client.patch(`/v1/orgs/${orgId}/connectors/${connector.id}`, { rate_per_minute: 2 });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.connector.rate_per_minute, 2);
  assert.equal(patched.body.connector.status, "ready", "limits do not reset discovery");
  const statuses = [];
  for (let i = 0; i < 4; i++) {
    const res = await owner.client.post(`/v1/orgs/${orgId}/connectors/${connector.id}/tools/search_clips/call`, { arguments: { query: "q" } });
    statuses.push(res.status);
    if (res.status === 429) {
      assert.equal(res.body.error.code, "rate_limited");
      assert.ok(Number(res.headers.get("retry-after")) >= 1);
    }
  }
  assert.ok(statuses.filter((s) => s === 200).length <= 2, JSON.stringify(statuses));
  assert.ok(statuses.includes(429), JSON.stringify(statuses));
});

test("SSRF: private, loopback, link-local, metadata and non-allowed addresses are refused, also behind redirects", async () => {
  const count = async () => (await app.query("SELECT (SELECT COUNT(*) FROM connectors) AS c, (SELECT COUNT(*) FROM connector_tools) AS t"))[0];
  const before = await count();
  for (const url of [
    "https://10.0.0.5/mcp",
    "http://10.0.0.5/mcp",
    "https://169.254.169.254/latest/meta-data/",
    "https://192.168.1.20/mcp",
    "https://172.16.0.1/mcp",
    "https://100.64.1.1/mcp",
    "https://[::1]/mcp",
    `http://[::1]:${external.port}/mcp`,
    "https://[fd12:3456::1]/mcp",
    "https://[::ffff:10.0.0.1]/mcp",
    "https://127.0.0.1/mcp",
    `http://127.0.0.1:${external.port + 1}/mcp`,
    `http://localhost:${external.port}/mcp`,
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://2130706433/mcp",
    "http://mcp.example.com/mcp",
    `http://user:pw@127.0.0.1:${external.port}/mcp`,
  ]) {
    const res = await owner.client.post(`/v1/orgs/${orgId}/connectors`, { name: `Probe ${url.length}`, url });
    assert.equal(res.status, 422, `${url}: ${res.text}`);
    assert.equal(res.body.error.code, "connector_address_refused", url);
    assert.match(res.body.error.message, /refused/);
  }
  assert.deepEqual(await count(), before, "nothing stored");
  // Changing an existing connector's URL is checked the same way.
  const patch = await owner.client.patch(`/v1/orgs/${orgId}/connectors/${connector.id}`, { url: "https://10.1.2.3/mcp" });
  assert.equal(patch.status, 422);
  assert.equal(patch.body.error.code, "connector_address_refused");

  // The allowed server redirects to a private address and to cloud metadata: the hop is refused.
  for (const path of ["/redirect-private", "/redirect-metadata"]) {
    const created = await owner.client.post(`/v1/orgs/${orgId}/connectors`, { name: `Redirect ${path}`, url: `${external.base}${path}` });
    assert.equal(created.status, 201, created.text);
    const id = created.body.connector.id;
    const discovered = await owner.client.post(`/v1/orgs/${orgId}/connectors/${id}/discover`);
    assert.equal(discovered.status, 422, discovered.text);
    assert.equal(discovered.body.error.code, "connector_address_refused");
    assert.deepEqual(await app.query("SELECT name FROM connector_tools WHERE connector_id = ?", id), []);
    const [row] = await app.query("SELECT status FROM connectors WHERE id = ?", id);
    assert.equal(row.status, "new");
    const [failure] = await app.query("SELECT result, details FROM audit_log WHERE action = 'connector.discover' AND target_id = ?", id);
    assert.equal(failure.result, "failure");
    assert.equal(JSON.parse(failure.details).error, "connector_address_refused");
  }
});

test("another organisation: every connector route answers 404; viewers cannot manage", async () => {
  const stranger = await signup(app, "toolgraph-stranger");
  const key = await apiKey("theirs", "admin", stranger.client, stranger.org.id);
  const call = (method, path, body) => app.fetch(path, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  for (const [method, path, body] of [
    ["GET", `/v1/orgs/${orgId}/connectors`],
    ["GET", `/v1/orgs/${orgId}/connector-tools`],
    ["GET", `/v1/orgs/${orgId}/connectors/${connector.id}`],
    ["PATCH", `/v1/orgs/${orgId}/connectors/${connector.id}`, { name: "Mine now" }],
    ["DELETE", `/v1/orgs/${orgId}/connectors/${connector.id}`],
    ["POST", `/v1/orgs/${orgId}/connectors/${connector.id}/discover`],
    ["POST", `/v1/orgs/${orgId}/connectors/${connector.id}/tools/search_clips/call`, { arguments: { query: "x" } }],
    ["POST", `/v1/orgs/${orgId}/connectors`, { name: "Sneaky", url: external.url }],
    // Their own org, our connector's id: still absent.
    ["GET", `/v1/orgs/${stranger.org.id}/connectors/${connector.id}`],
    ["POST", `/v1/orgs/${stranger.org.id}/connectors/${connector.id}/tools/search_clips/call`, { arguments: { query: "x" } }],
  ]) {
    const res = await call(method, path, body);
    assert.equal(res.status, 404, `${method} ${path}: ${await res.clone().text()}`);
    assert.equal((await res.json()).error.code, "not_found");
  }
  const theirs = await call("GET", `/v1/orgs/${stranger.org.id}/connector-tools`);
  assert.deepEqual((await theirs.json()).items, []);
  // Through /mcp too: the registry of another org is not found.
  const client = await sdkClient(app, key);
  await allTools(client);
  const listed = await client.callTool({ name: "list_connector_tools", arguments: { org_id: orgId } });
  assert.equal(toolError(listed).code, "not_found");
  await client.close();

  const viewerKey = await apiKey("connector-viewer", "viewer");
  const viewer = (method, path, body) => app.fetch(path, { method, headers: { authorization: `Bearer ${viewerKey}`, "content-type": "application/json" }, body: body && JSON.stringify(body) });
  assert.equal((await viewer("GET", `/v1/orgs/${orgId}/connectors/${connector.id}`)).status, 200);
  assert.equal((await viewer("POST", `/v1/orgs/${orgId}/connectors`, { name: "V", url: external.url })).status, 403);
  assert.equal((await viewer("POST", `/v1/orgs/${orgId}/connectors/${connector.id}/discover`)).status, 403);
  assert.equal((await viewer("POST", `/v1/orgs/${orgId}/connectors/${connector.id}/tools/search_clips/call`, { arguments: {} })).status, 403);
  assert.equal((await app.query("SELECT name FROM connectors WHERE id = ?", connector.id))[0].name, "Stock Footage");
});

test("a new URL empties the registry; deleting removes the connector, its credential and its tools", async () => {
  const patched = await owner.client.patch(`/v1/orgs/${orgId}/connectors/${connector.id}`, { url: `${external.base}/moved` });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.connector.status, "new");
  assert.deepEqual(await app.query("SELECT name FROM connector_tools WHERE connector_id = ?", connector.id), []);
  const rediscovered = await owner.client.post(`/v1/orgs/${orgId}/connectors/${connector.id}/discover`);
  assert.equal(rediscovered.status, 200, rediscovered.text);
  const removed = await owner.client.delete(`/v1/orgs/${orgId}/connectors/${connector.id}`);
  assert.equal(removed.status, 204, removed.text);
  assert.deepEqual(await app.query("SELECT id FROM connectors WHERE id = ?", connector.id), []);
  assert.deepEqual(await app.query("SELECT name FROM connector_tools WHERE connector_id = ?", connector.id), []);
  assert.equal((await owner.client.get(`/v1/orgs/${orgId}/connectors/${connector.id}`)).status, 404);
  const actions = (await app.query("SELECT action FROM audit_log WHERE target_id = ? ORDER BY rowid", connector.id)).map((r) => r.action);
  assert.deepEqual(actions.filter((a) => a !== "connector.tool_call"), ["connector.create", "connector.discover", "connector.update", "connector.update", "connector.discover", "connector.delete"]);
});
