// The MCP server (POST /mcp) driven by the official MCP TypeScript SDK client
// (@modelcontextprotocol/sdk: Client + StreamableHTTPClientTransport, bearer API keys) against
// the real Worker in workerd, with real D1, the ProjectRoom, RateLimiter and JobScheduler
// Durable Objects and the job queues. Transport-level refusals the SDK cannot produce
// (malformed JSON-RPC, foreign origins, bad headers) are posted raw.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { signup, startApp } from "./harness.mjs";
import { allTools, rawPost, sdkClient, toolError } from "./support/mcp-client.mjs";
import { decodePng } from "./support/png.mjs";
import { connect, includes } from "./support/room-client.mjs";

let app;
let owner;
let orgId;
let editorKey; // {id, key}
let viewerKey;
let project;
before(async () => {
  // A small per-principal budget, so that the rate-limit test can spend it.
  app = await startApp({ vars: { MCP_RATE_BURST: 100, MCP_RATE_PER_MINUTE: 600 } });
  owner = await signup(app, "mcp-owner");
  orgId = owner.org.id;
  editorKey = await apiKey("agent", "editor");
  viewerKey = await apiKey("watcher", "viewer");
  const res = await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "Agent cut", width: 64, height: 36, fps: 25 });
  assert.equal(res.status, 201, res.text);
  project = res.body.project;
});
after(async () => { await app?.dispose(); });

async function apiKey(name, role, client = owner.client, org = orgId) {
  const res = await client.post(`/v1/orgs/${org}/api-keys`, { name, role });
  assert.equal(res.status, 201, res.text);
  return { id: res.body.api_key.id, key: res.body.api_key.key };
}

let counter = 0;
function id(prefix) {
  counter += 1;
  return `${prefix}_01JM${String(counter).padStart(22, "0")}`;
}

const WRITE_TOOLS = ["apply_commands", "call_connector_tool", "comment", "create_project", "resolve_thread", "start_render"];
const ALL_TOOLS = ["apply_commands", "call_connector_tool", "comment", "create_project", "get_timeline", "list_connector_tools", "list_projects", "list_threads", "render_frame", "resolve_thread", "search_assets", "search_tools", "start_render", "watch_render_job"];

test("unauthenticated: the SDK is refused with 401, WWW-Authenticate names the protected-resource metadata", async () => {
  await assert.rejects(sdkClient(app, undefined), (error) => error.code === 401 && /unauthenticated/.test(error.message));
  const res = await rawPost(app, undefined, { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
  assert.equal(res.status, 401, res.text);
  assert.equal(res.body.error.code, "unauthenticated");
  const challenge = res.headers.get("www-authenticate");
  assert.match(challenge, /^Bearer /);
  const link = challenge.match(/resource_metadata="([^"]+)"/)?.[1];
  assert.equal(link, `${app.origin}/.well-known/oauth-protected-resource`);

  await assert.rejects(sdkClient(app, "cos_key_nothere_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"), (e) => e.code === 401 && /invalid_api_key/.test(e.message));
  const refused = await rawPost(app, "cos_key_nothere_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", { jsonrpc: "2.0", id: 1, method: "ping" });
  assert.equal(refused.status, 401, refused.text);
  assert.match(refused.headers.get("www-authenticate"), /resource_metadata=/);

  const doc = await fetch(link);
  assert.equal(doc.status, 200);
  assert.equal(doc.headers.get("access-control-allow-origin"), "*");
  const metadata = await doc.json();
  assert.equal(metadata.resource, `${app.origin}/mcp`);
  assert.deepEqual(metadata.authorization_servers, [app.origin]);
  assert.deepEqual(metadata.bearer_methods_supported, ["header"]);
  assert.ok(Array.isArray(metadata.scopes_supported) && metadata.scopes_supported.length > 0);
});

test("the SDK initialises on 2025-11-25 and on 2025-06-18, and sends the negotiated version afterwards", async () => {
  for (const version of [undefined, "2025-06-18"]) {
    const client = await sdkClient(app, editorKey.key, { version });
    const expected = version ?? "2025-11-25";
    assert.equal(client.getServerVersion().name, "creator-os");
    const caps = client.getServerCapabilities();
    assert.ok(caps.tools && caps.resources && caps.prompts);
    assert.match(client.getInstructions(), /search_tools/);
    await client.ping();
    const init = client.exchanges[0];
    assert.equal(init.status, 200);
    assert.equal(init.contentType, "application/json");
    // notifications/initialized is accepted with 202; later requests carry the version.
    const note = client.exchanges.find((e) => e.body?.includes("notifications/initialized"));
    assert.equal(note.status, 202);
    const ping = client.exchanges.findLast((e) => e.body?.includes('"ping"'));
    assert.equal(ping.headers["mcp-protocol-version"], expected);
    assert.equal(ping.status, 200);
    // The SDK's GET for a server stream is answered 405 (the server opens none), which it accepts.
    for (let i = 0; i < 40 && !client.exchanges.some((e) => e.method === "GET"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(client.exchanges.some((e) => e.method === "GET" && e.status === 405), JSON.stringify(client.exchanges.map((e) => [e.method, e.status])));
    await client.close();
  }
  // An unknown revision offered: the server answers its latest.
  const offered = await rawPost(app, editorKey.key, { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2024-01-01", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
  assert.equal(offered.body.result.protocolVersion, "2025-11-25");
});

test("transport: origin, protocol version header, GET, DELETE, content type", async () => {
  await assert.rejects(sdkClient(app, editorKey.key, { origin: "https://evil.example" }), (e) => e.code === 403 && /csrf_origin_mismatch/.test(e.message));
  const foreign = await rawPost(app, editorKey.key, { jsonrpc: "2.0", id: 1, method: "ping" }, { origin: "https://evil.example" });
  assert.equal(foreign.status, 403, foreign.text);
  assert.equal(foreign.body.error.code, "csrf_origin_mismatch");
  const own = await sdkClient(app, editorKey.key, { origin: app.origin });
  await own.ping();
  await own.close();

  const version = await rawPost(app, editorKey.key, { jsonrpc: "2.0", id: 2, method: "ping" }, { "mcp-protocol-version": "2024-01-01" });
  assert.equal(version.status, 400, version.text);
  assert.equal(version.body.error.code, "unsupported_protocol_version");
  // Absent header: 2025-06-18 is assumed and the request is served.
  const absent = await rawPost(app, editorKey.key, { jsonrpc: "2.0", id: 3, method: "ping" });
  assert.equal(absent.status, 200);
  assert.equal(absent.headers.get("mcp-protocol-version"), "2025-06-18");

  for (const method of ["GET", "DELETE"]) {
    const res = await app.fetch("/mcp", { method, headers: { authorization: `Bearer ${editorKey.key}`, accept: "text/event-stream" } });
    assert.equal(res.status, 405, method);
    assert.equal(res.headers.get("allow"), "POST");
  }
  const text = await rawPost(app, editorKey.key, "{}", { "content-type": "text/plain" });
  assert.equal(text.status, 415, text.text);
});

test("malformed JSON-RPC: parse error, invalid request, batches, unknown method, invalid params", async () => {
  const post = (body, headers) => rawPost(app, editorKey.key, body, headers);
  const parse = await post("{\"jsonrpc\": \"2.0\", ");
  assert.equal(parse.status, 400);
  assert.equal(parse.body.error.code, -32700);
  assert.equal(parse.body.id, null);
  for (const body of [{ id: 1, method: "ping" }, { jsonrpc: "1.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: { a: 1 }, method: "ping" }, "3", { jsonrpc: "2.0", id: 7 }]) {
    const res = await post(body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.body.error.code, -32600, JSON.stringify(body));
  }
  const batch = await post([{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 2, method: "ping" }]);
  assert.equal(batch.status, 400);
  assert.equal(batch.body.error.code, -32600);
  assert.match(batch.body.error.message, /batch/);

  // Through the SDK: protocol errors arrive as McpError with the JSON-RPC code.
  const client = await sdkClient(app, editorKey.key);
  const code = async (promise) => { try { await promise; return undefined; } catch (error) { assert.ok(error instanceof McpError, String(error)); return error.code; } };
  assert.equal(await code(client.request({ method: "tools/frobnicate", params: {} }, (await import("@modelcontextprotocol/sdk/types.js")).EmptyResultSchema)), -32601);
  assert.equal(await code(client.callTool({ name: "drop_database", arguments: {} })), -32602);
  assert.equal(await code(client.listTools({ cursor: "not-a-cursor" })), -32602);
  await client.close();
  const badParams = await post({ jsonrpc: "2.0", id: 9, method: "tools/list", params: [1] });
  assert.equal(badParams.body.error.code, -32602);
  const note = await post({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } });
  assert.equal(note.status, 202);
  assert.equal(note.text, "");
});

test("tools/list through the SDK: paginated, every tool with input/output schemas and annotations", async () => {
  const client = await sdkClient(app, editorKey.key);
  const first = await client.listTools();
  assert.ok(first.nextCursor, "the catalog spans more than one page");
  const tools = await allTools(client);
  assert.deepEqual(tools.map((t) => t.name).sort(), ALL_TOOLS);
  for (const tool of tools) {
    assert.equal(tool.inputSchema.type, "object", tool.name);
    assert.equal(tool.outputSchema?.type, "object", tool.name);
    assert.equal(typeof tool.description, "string");
    assert.equal(typeof tool.annotations.readOnlyHint, "boolean", tool.name);
    assert.equal(typeof tool.annotations.destructiveHint, "boolean", tool.name);
    assert.equal(typeof tool.annotations.idempotentHint, "boolean", tool.name);
    assert.equal(tool.annotations.readOnlyHint, !WRITE_TOOLS.includes(tool.name), tool.name);
  }
  assert.doesNotMatch(JSON.stringify(tools), /"format":"(u?int\d*|float|double)"/);
  const apply = tools.find((t) => t.name === "apply_commands");
  assert.deepEqual(apply.inputSchema.required.sort(), ["commands", "project_id"]);
  const schemaText = JSON.stringify(apply.inputSchema);
  for (const command of ["add_track", "add_clip", "move_clip", "remove_clip"]) {
    assert.ok(schemaText.includes(`"${command}"`), `input schema lists ${command}`);
  }
  // One source of truth: the OpenAPI document's body and response types are the tool's.
  const doc = await (await app.fetch("/openapi.json")).json();
  for (const field of Object.keys(doc.components.schemas.CommandsBody.properties)) assert.ok(apply.inputSchema.properties[field], field);
  assert.deepEqual(Object.keys(apply.outputSchema.properties).sort(), Object.keys(doc.components.schemas.CommandsResponse.properties).sort());
  const render = tools.find((t) => t.name === "render_frame");
  assert.equal(render.inputSchema.properties.frame.type, "integer");
  assert.deepEqual(tools.find((t) => t.name === "watch_render_job").inputSchema.required, ["job_id"]);
  await client.close();
});

test("apply_commands through the SDK edits the timeline: HTTP, the room and the history see it", async () => {
  const client = await sdkClient(app, editorKey.key);
  await allTools(client); // the SDK then checks every structured result against its output schema
  const room = await connect(app, project.id, { token: owner.session.token, label: "watcher", replicate: false });
  const trackId = id("trk");
  const clipId = id("clp");
  const commands = [
    { type: "add_track", track: { id: trackId, kind: "video" } },
    { type: "add_clip", track_id: trackId, clip: { id: clipId, start: 0, duration: 50, source: { type: "solid", color: { r: 200, g: 30, b: 30, a: 255 } } } },
  ];
  let result;
  try {
    result = await client.callTool({ name: "apply_commands", arguments: { project_id: project.id, commands } });
    assert.ok(!result.isError, JSON.stringify(result));
    assert.equal(result.structuredContent.seq, 2);
    assert.equal(result.structuredContent.results.length, 2);
    assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
    // The person in the room received the agent's commands, in order.
    await room.waitFor((f) => f.type === "applied" && f.seq === 2);
    const applied = room.frames((f) => f.type === "applied");
    assert.deepEqual(applied.map((f) => f.seq), [1, 2]);
    commands.forEach((command, i) => assert.ok(includes(command, applied[i].command), JSON.stringify(applied[i])));
  } finally {
    await room.close().catch(() => {});
  }

  const state = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(state.status, 200);
  assert.equal(state.body.seq, 2);
  assert.ok(JSON.stringify(state.body.timeline).includes(clipId), "the clip is on the timeline");
  const history = await owner.client.get(`/v1/projects/${project.id}/history`);
  assert.equal(history.body.items.length, 2);
  for (const item of history.body.items) assert.equal(item.actor.id, editorKey.id);

  const timeline = await client.callTool({ name: "get_timeline", arguments: { project_id: project.id } });
  assert.ok(!timeline.isError);
  assert.equal(timeline.structuredContent.seq, 2);
  assert.deepEqual(timeline.structuredContent.timeline, state.body.timeline);

  // An invalid command is a tool error carrying the API's code, and changes nothing.
  const invalid = await client.callTool({ name: "apply_commands", arguments: { project_id: project.id, commands: [{ type: "remove_clip", clip_id: id("clp") }] } });
  assert.equal(typeof toolError(invalid).code, "string");
  assert.equal((await owner.client.get(`/v1/projects/${project.id}`)).body.seq, 2);

  const audit = await app.query("SELECT action, actor_id, org_id FROM audit_log WHERE actor_id = ? ORDER BY rowid", editorKey.id);
  for (const row of audit) assert.equal(row.org_id, orgId);
  const actions = audit.map((a) => a.action);
  assert.ok(actions.includes("mcp.tool_call"), JSON.stringify(actions));
  assert.ok(actions.some((a) => a !== "mcp.tool_call"), JSON.stringify(actions));
  await client.close();
});

test("render_frame through the SDK returns a PNG image block of the edited timeline", async () => {
  const client = await sdkClient(app, editorKey.key);
  await allTools(client);
  const result = await client.callTool({ name: "render_frame", arguments: { project_id: project.id, frame: 10 } });
  assert.ok(!result.isError, JSON.stringify(result));
  const image = result.content.find((c) => c.type === "image");
  assert.equal(image.mimeType, "image/png");
  const bytes = Buffer.from(image.data, "base64");
  const png = decodePng(bytes);
  assert.equal(png.width, 64);
  assert.equal(png.height, 36);
  // The red solid clip added by the agent fills the frame.
  assert.deepEqual(Array.from(png.pixel(32, 18)), [200, 30, 30, 255]);
  const http = await app.fetch(`/v1/projects/${project.id}/frame.png?frame=10`, { headers: { authorization: `Bearer ${editorKey.key}` } });
  const expected = Buffer.from(await http.arrayBuffer());
  assert.ok(bytes.equals(expected), "same PNG bytes as over HTTP");
  assert.equal(result.structuredContent.size_bytes, expected.length);
  assert.equal(result.structuredContent.frame, 10);
  const bad = await client.callTool({ name: "render_frame", arguments: { project_id: project.id, scale: 3 } });
  assert.equal(toolError(bad).code, "invalid_scale");
  await client.close();
});

test("start_render and watch_render_job: progress notifications stream over SSE, then the finished job", async () => {
  const client = await sdkClient(app, editorKey.key);
  await allTools(client);
  const started = await client.callTool({ name: "start_render", arguments: { project_id: project.id, kind: "png_sequence", from_frame: 0, to_frame: 49 } });
  assert.ok(!started.isError, JSON.stringify(started));
  const jobId = started.structuredContent.job.id;
  assert.match(jobId, /^job_/);
  const progress = [];
  const watched = await client.callTool(
    { name: "watch_render_job", arguments: { job_id: jobId, timeout_seconds: 120 } },
    undefined,
    { onprogress: (p) => progress.push(p), timeout: 150_000, resetTimeoutOnProgress: true },
  );
  assert.ok(!watched.isError, JSON.stringify(watched));
  assert.equal(watched.structuredContent.job.id, jobId);
  assert.equal(watched.structuredContent.job.status, "succeeded", JSON.stringify(watched.structuredContent));
  assert.equal(watched.structuredContent.job.result_asset_ids.length, 1);
  // The answer was an event stream carrying progress notifications before the result.
  const exchange = client.exchanges.findLast((e) => e.body?.includes("watch_render_job"));
  assert.equal(exchange.contentType, "text/event-stream");
  assert.ok(progress.length >= 1, "at least one progress notification");
  for (const p of progress) assert.equal(p.total, 100);
  for (let i = 1; i < progress.length; i++) assert.ok(progress[i].progress > progress[i - 1].progress, JSON.stringify(progress));
  assert.equal(progress.at(-1).progress, 100);

  // Without a progress token the tool answers with JSON once the job is over.
  const plain = await client.callTool({ name: "watch_render_job", arguments: { job_id: jobId } });
  assert.equal(plain.structuredContent.job.status, "succeeded");
  assert.equal(client.exchanges.at(-1).contentType, "application/json");
  // Bad arguments and unknown jobs are tool errors, with or without streaming.
  assert.equal(toolError(await client.callTool({ name: "watch_render_job", arguments: { job_id: jobId, timeout_seconds: 0 } })).code, "invalid_arguments");
  const missing = await client.callTool({ name: "watch_render_job", arguments: { job_id: "job_01JMNOTTHERE0000000000000000" } }, undefined, { onprogress: () => {} });
  assert.equal(toolError(missing).code, "not_found");
  await client.close();
});

test("create, list, comment, list threads and resolve through the SDK", async () => {
  const client = await sdkClient(app, editorKey.key);
  await allTools(client);
  const created = await client.callTool({ name: "create_project", arguments: { name: "From an agent", width: 320, height: 180, fps: 30 } });
  assert.ok(!created.isError, JSON.stringify(created));
  const newId = created.structuredContent.project.id;
  const listed = await client.callTool({ name: "list_projects", arguments: { limit: 50 } });
  assert.ok(listed.structuredContent.items.some((p) => p.id === newId));
  assert.equal((await app.query("SELECT org_id FROM projects WHERE id = ?", newId))[0].org_id, orgId);
  assert.ok((await client.callTool({ name: "create_project", arguments: { name: "", width: 1, height: 180, fps: 30 } })).isError);

  const thread = await client.callTool({ name: "comment", arguments: { project_id: project.id, anchor: { from_frame: 0, to_frame: 10 }, body: "Make the red warmer" } });
  assert.ok(!thread.isError, JSON.stringify(thread));
  const threadId = thread.structuredContent.thread.id;
  const open = await client.callTool({ name: "list_threads", arguments: { project_id: project.id, resolved: false } });
  assert.ok(open.structuredContent.items.some((t) => t.id === threadId));
  const resolved = await client.callTool({ name: "resolve_thread", arguments: { project_id: project.id, thread_id: threadId, resolved: true } });
  assert.ok(!resolved.isError, JSON.stringify(resolved));
  const http = await owner.client.get(`/v1/projects/${project.id}/threads?resolved=true`);
  assert.ok(http.body.items.some((t) => t.id === threadId), "resolved over HTTP too");

  const assets = await client.callTool({ name: "search_assets", arguments: { q: "nothing-like-this" } });
  assert.ok(!assets.isError, JSON.stringify(assets));
  assert.deepEqual(assets.structuredContent.items, []);
  await client.close();
});

test("a viewer key neither sees nor may call the writing tools", async () => {
  const client = await sdkClient(app, viewerKey.key);
  const names = (await allTools(client)).map((t) => t.name);
  for (const name of WRITE_TOOLS) assert.ok(!names.includes(name), `${name} hidden`);
  assert.ok(names.includes("get_timeline"));
  const before = await owner.client.get(`/v1/projects/${project.id}`);
  const refused = await client.callTool({ name: "apply_commands", arguments: { project_id: project.id, commands: [{ type: "add_track", track: { id: id("trk"), kind: "video" } }] } });
  assert.equal(toolError(refused).code, "forbidden");
  const afterState = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(afterState.body.seq, before.body.seq);
  const search = await client.callTool({ name: "search_tools", arguments: { query: "edit timeline" } });
  assert.ok(!search.structuredContent.tools.some((t) => t.name === "apply_commands"));
  assert.ok(!(await client.callTool({ name: "get_timeline", arguments: { project_id: project.id } })).isError);
  await client.close();
});

test("another organisation's project is a not_found tool error and resource", async () => {
  const stranger = await signup(app, "mcp-stranger");
  const key = await apiKey("theirs", "admin", stranger.client, stranger.org.id);
  const client = await sdkClient(app, key.key);
  for (const [name, args] of [["get_timeline", { project_id: project.id }], ["render_frame", { project_id: project.id }], ["apply_commands", { project_id: project.id, commands: [{ type: "add_track", track: { id: id("trk"), kind: "video" } }] }], ["list_projects", { org_id: orgId }]]) {
    const result = await client.callTool({ name, arguments: args });
    assert.equal(toolError(result).code, "not_found", `${name}: ${JSON.stringify(result)}`);
  }
  await assert.rejects(client.readResource({ uri: `creator-os://projects/${project.id}/timeline` }), (e) => e.code === -32002);
  await client.close();
  // A person's session token works too, and sees their own org only.
  const person = await sdkClient(app, stranger.session.token);
  await allTools(person);
  const mine = await person.callTool({ name: "list_projects", arguments: {} });
  assert.ok(!mine.isError, JSON.stringify(mine));
  assert.deepEqual(mine.structuredContent.items, []);
  const theirs = await person.callTool({ name: "create_project", arguments: { name: "Mine", width: 320, height: 180, fps: 24 } });
  assert.ok(!theirs.isError, JSON.stringify(theirs));
  const edit = await person.callTool({ name: "apply_commands", arguments: { project_id: theirs.structuredContent.project.id, commands: [{ type: "add_track", track: { id: id("trk"), kind: "video" } }] } });
  assert.ok(!edit.isError, JSON.stringify(edit));
  const calls = await app.query("SELECT org_id, target_id FROM audit_log WHERE actor_id = ? AND action = 'mcp.tool_call' ORDER BY rowid", stranger.user.id);
  assert.deepEqual(calls, [{ org_id: stranger.org.id, target_id: "create_project" }, { org_id: stranger.org.id, target_id: "apply_commands" }]);
  await person.close();
});

test("refused and invalid tool calls are tool errors and change nothing", async () => {
  const editor = await sdkClient(app, editorKey.key);
  const viewer = await sdkClient(app, viewerKey.key);
  await allTools(editor);
  await allTools(viewer);
  const snapshot = async () => {
    const all = await app.snapshot();
    all.api_keys = all.api_keys.map(({ last_used_at, ...rest }) => rest);
    return all;
  };
  // Earlier tests' analytics events and job work arrive through the queues: let them drain.
  let last = "";
  for (let stable = 0; stable < 3; ) {
    const [{ n }] = await app.query("SELECT COUNT(*) AS n FROM events");
    const [{ j }] = await app.query("SELECT group_concat(status || progress) AS j FROM jobs");
    const now = `${n}/${j}`;
    stable = now === last ? stable + 1 : 0;
    last = now;
    await new Promise((r) => setTimeout(r, 300));
  }
  const before = await snapshot();
  const cases = [
    [editor, "get_timeline", {}, "invalid_arguments"],
    [editor, "get_timeline", { project_id: 42 }, "invalid_arguments"],
    [editor, "get_timeline", { project_id: project.id, extra: true }, "invalid_arguments"],
    [editor, "render_frame", { project_id: project.id, frame: -3 }, "invalid_frame"],
    [editor, "apply_commands", { project_id: project.id, commands: [{ type: "no_such_command" }] }, "invalid_request"],
    [editor, "apply_commands", { project_id: project.id, commands: [], surprise: 1 }, "invalid_request"],
    [editor, "create_project", { name: "x", width: 99999, height: 10, fps: 30 }, undefined],
    [editor, "comment", { project_id: project.id, anchor: {}, body: "" }, undefined],
    [editor, "resolve_thread", { project_id: project.id, thread_id: "thr_nope", resolved: true }, "not_found"],
    [editor, "start_render", { project_id: project.id, kind: "mp4" }, "invalid_request"],
    [editor, "call_connector_tool", { connector_id: "con_nope", tool_name: "x", arguments: {} }, "not_found"],
    [viewer, "create_project", { name: "Nope", width: 320, height: 180, fps: 30 }, "forbidden"],
    [viewer, "comment", { project_id: project.id, anchor: {}, body: "hi" }, "forbidden"],
    [viewer, "start_render", { project_id: project.id, kind: "still" }, "forbidden"],
  ];
  for (const [client, name, args, code] of cases) {
    const result = await client.callTool({ name, arguments: args });
    const error = toolError(result);
    assert.equal(typeof error.message, "string", `${name} ${JSON.stringify(args)}`);
    if (code) assert.equal(error.code, code, `${name} ${JSON.stringify(args)}: ${JSON.stringify(error)}`);
    assert.equal(result.structuredContent, undefined, "errors carry no structured content (it would not match the output schema)");
  }
  assert.deepEqual(await snapshot(), before);
  await editor.close();
  await viewer.close();
});

test("search_tools finds tools by words; the catalog need not be loaded", async () => {
  const client = await sdkClient(app, editorKey.key);
  const result = await client.callTool({ name: "search_tools", arguments: { query: "edit timeline" } });
  assert.ok(!result.isError);
  assert.equal(result.structuredContent.tools[0].name, "apply_commands");
  assert.ok(result.structuredContent.tools[0].inputSchema.properties.commands);
  const frame = await client.callTool({ name: "search_tools", arguments: { query: "render an image", limit: 1 } });
  assert.deepEqual(frame.structuredContent.tools.map((t) => t.name), ["render_frame"]);
  const progress = await client.callTool({ name: "search_tools", arguments: { query: "render job progress", limit: 1 } });
  assert.deepEqual(progress.structuredContent.tools.map((t) => t.name), ["watch_render_job"]);
  const external = await client.callTool({ name: "search_tools", arguments: { query: "external connector", limit: 2 } });
  assert.deepEqual(external.structuredContent.tools.map((t) => t.name).sort(), ["call_connector_tool", "list_connector_tools"]);
  const none = await client.callTool({ name: "search_tools", arguments: { query: "zzzz" } });
  assert.deepEqual(none.structuredContent.tools, []);
  await client.close();
});

test("resources through the SDK: list, templates, read a timeline, an asset and a frame", async () => {
  const client = await sdkClient(app, editorKey.key);
  const { resources } = await client.listResources();
  const uri = `creator-os://projects/${project.id}/timeline`;
  assert.ok(resources.some((r) => r.uri === uri), JSON.stringify(resources));
  const { resourceTemplates } = await client.listResourceTemplates();
  assert.deepEqual(resourceTemplates.map((t) => t.name).sort(), ["asset", "frame", "timeline"]);

  const timeline = await client.readResource({ uri });
  assert.equal(timeline.contents[0].mimeType, "application/json");
  const state = JSON.parse(timeline.contents[0].text);
  assert.equal(state.project.id, project.id);
  assert.equal(state.seq, 2);

  const frame = await client.readResource({ uri: `creator-os://projects/${project.id}/frames/3` });
  const bytes = Buffer.from(frame.contents[0].blob, "base64");
  const http = await app.fetch(`/v1/projects/${project.id}/frame.png?frame=3`, { headers: { authorization: `Bearer ${editorKey.key}` } });
  assert.ok(bytes.equals(Buffer.from(await http.arrayBuffer())));

  const png = Buffer.from(await (await app.fetch(`/v1/projects/${project.id}/frame.png`, { headers: { authorization: `Bearer ${editorKey.key}` } })).arrayBuffer());
  const upload = await app.fetch(`/v1/orgs/${orgId}/assets?name=red-frame`, { method: "POST", headers: { authorization: `Bearer ${editorKey.key}`, "content-type": "image/png" }, body: png });
  assert.equal(upload.status, 201, await upload.clone().text());
  const asset = (await upload.json()).asset;
  const meta = await client.readResource({ uri: `creator-os://assets/${asset.id}` });
  assert.equal(JSON.parse(meta.contents[0].text).asset.id, asset.id);
  const found = await client.callTool({ name: "search_assets", arguments: { q: "red" } });
  assert.ok(found.structuredContent.items.some((a) => a.id === asset.id));

  for (const bad of ["creator-os://projects/prj_nope/timeline", "https://example.com/x", "creator-os://projects/x/frames/-1"]) {
    await assert.rejects(client.readResource({ uri: bad }), (e) => e.code === -32002, bad);
  }
  await client.close();
});

test("prompts through the SDK: list and get with arguments", async () => {
  const client = await sdkClient(app, editorKey.key);
  const { prompts } = await client.listPrompts();
  assert.ok(prompts.length >= 2);
  const roughCut = prompts.find((p) => p.name === "rough_cut_from_assets");
  assert.ok(roughCut.arguments.some((a) => a.name === "project_id" && a.required));
  const got = await client.getPrompt({ name: "rough_cut_from_assets", arguments: { project_id: project.id, query: "beach" } });
  assert.equal(got.messages[0].role, "user");
  assert.ok(got.messages[0].content.text.includes(project.id));
  assert.ok(got.messages[0].content.text.includes("beach"));
  await assert.rejects(client.getPrompt({ name: "add_captions", arguments: { project_id: project.id } }), (e) => e.code === -32602);
  await assert.rejects(client.getPrompt({ name: "nope" }), (e) => e.code === -32602);
  await client.close();
});

test("rate limit per principal: a JSON-RPC error -32029 with retry_after reaches the SDK", async () => {
  const key = await apiKey("hasty", "viewer");
  const client = await sdkClient(app, key.key);
  const results = await Promise.allSettled(Array.from({ length: 150 }, () => client.ping()));
  const limited = results.filter((r) => r.status === "rejected");
  assert.ok(limited.length > 0, "some requests are over budget");
  assert.ok(results.some((r) => r.status === "fulfilled"), "the budget allowed some");
  for (const { reason } of limited) {
    assert.ok(reason instanceof McpError, String(reason));
    assert.equal(reason.code, -32029);
    assert.match(reason.message, /rate limited/);
    assert.ok(reason.data.retry_after >= 1);
  }
  await client.close();
  // Another principal keeps its own budget.
  const other = await sdkClient(app, editorKey.key);
  await other.ping();
  await other.close();
});
