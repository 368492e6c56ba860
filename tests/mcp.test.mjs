// The MCP server (POST /mcp) against the real Worker in workerd, with real D1, the ProjectRoom
// and RateLimiter Durable Objects. The official SDK (@modelcontextprotocol/sdk) is not
// installable offline here, so the client is raw fetch JSON-RPC written to the specification
// (tests/support/mcp-client.mjs): Streamable HTTP with JSON responses, revisions 2025-11-25
// and 2025-06-18.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, signup, startApp } from "./harness.mjs";
import { McpClient } from "./support/mcp-client.mjs";
import { connect, includes } from "./support/room-client.mjs";

let app;
let owner;
let orgId;
let editorKey; // {id, key}
let viewerKey;
let project;
before(async () => {
  // A small per-principal budget, so that the rate-limit test can spend it.
  app = await startApp({ vars: { MCP_RATE_BURST: 60, MCP_RATE_PER_MINUTE: 120 } });
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

const WRITE_TOOLS = ["apply_commands", "comment", "create_project", "resolve_thread"];

test("unauthenticated: 401 with WWW-Authenticate naming the protected-resource metadata", async () => {
  const anon = new McpClient(app, undefined);
  const res = await anon.raw({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } });
  assert.equal(res.status, 401, res.text);
  assert.equal(res.body.error.code, "unauthenticated");
  const challenge = res.headers.get("www-authenticate");
  assert.match(challenge, /^Bearer /);
  const link = challenge.match(/resource_metadata="([^"]+)"/)?.[1];
  assert.equal(link, `${app.origin}/.well-known/oauth-protected-resource`);

  const bad = new McpClient(app, "cos_key_nothere_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
  const refused = await bad.raw({ jsonrpc: "2.0", id: 1, method: "ping" });
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

test("transport: origin, protocol version header, GET, content type", async () => {
  const foreign = new McpClient(app, editorKey.key, { origin: "https://evil.example" });
  const res = await foreign.raw({ jsonrpc: "2.0", id: 1, method: "ping" });
  assert.equal(res.status, 403, res.text);
  assert.equal(res.body.error.code, "csrf_origin_mismatch");

  const own = new McpClient(app, editorKey.key, { origin: app.origin });
  const ok = await own.raw({ jsonrpc: "2.0", id: 1, method: "ping" });
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.body, { jsonrpc: "2.0", id: 1, result: {} });

  const client = new McpClient(app, editorKey.key);
  const version = await client.raw({ jsonrpc: "2.0", id: 2, method: "ping" }, { "mcp-protocol-version": "2024-01-01" });
  assert.equal(version.status, 400, version.text);
  assert.equal(version.body.error.code, "unsupported_protocol_version");
  // Absent header: 2025-06-18 is assumed and the request is served.
  const absent = await client.raw({ jsonrpc: "2.0", id: 3, method: "ping" });
  assert.equal(absent.status, 200);
  assert.equal(absent.headers.get("mcp-protocol-version"), "2025-06-18");

  const get = await app.fetch("/mcp", { headers: { authorization: `Bearer ${editorKey.key}` } });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get("allow"), "POST");

  const text = await client.raw("{}", { "content-type": "text/plain" });
  assert.equal(text.status, 415, text.text);
});

test("malformed JSON-RPC: parse error, invalid request, batches, unknown method, invalid params", async () => {
  const client = new McpClient(app, editorKey.key);
  const parse = await client.raw("{\"jsonrpc\": \"2.0\", ");
  assert.equal(parse.status, 400);
  assert.equal(parse.body.error.code, -32700);
  assert.equal(parse.body.id, null);

  for (const body of [{ id: 1, method: "ping" }, { jsonrpc: "1.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: { a: 1 }, method: "ping" }, "3", { jsonrpc: "2.0", id: 7 }]) {
    const res = await client.raw(body);
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.text}`);
    assert.equal(res.body.error.code, -32600, JSON.stringify(body));
  }
  const batch = await client.raw([{ jsonrpc: "2.0", id: 1, method: "ping" }, { jsonrpc: "2.0", id: 2, method: "ping" }]);
  assert.equal(batch.status, 400);
  assert.equal(batch.body.error.code, -32600);
  assert.match(batch.body.error.message, /batch/);

  const unknown = await client.request("tools/frobnicate");
  assert.equal(unknown.error.code, -32601);
  const noName = await client.request("tools/call", { arguments: {} });
  assert.equal(noName.error.code, -32602);
  const unknownTool = await client.request("tools/call", { name: "drop_database" });
  assert.equal(unknownTool.error.code, -32602);
  const badCursor = await client.request("tools/list", { cursor: "not-a-cursor" });
  assert.equal(badCursor.error.code, -32602);
  const badParams = await client.raw({ jsonrpc: "2.0", id: 9, method: "tools/list", params: [1] });
  assert.equal(badParams.body.error.code, -32602);

  const note = await client.raw({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } });
  assert.equal(note.status, 202);
  assert.equal(note.text, "");
});

test("initialize negotiates 2025-11-25 and 2025-06-18, and answers the latest otherwise", async () => {
  for (const version of ["2025-11-25", "2025-06-18"]) {
    const client = new McpClient(app, editorKey.key, { version });
    const result = await client.connect();
    assert.equal(result.protocolVersion, version);
    assert.ok(result.capabilities.tools && result.capabilities.resources && result.capabilities.prompts);
    assert.equal(result.serverInfo.name, "creator-os");
    // Later requests carry the negotiated version.
    const res = await client.raw({ jsonrpc: "2.0", id: 99, method: "ping" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("mcp-protocol-version"), version);
  }
  const old = new McpClient(app, editorKey.key, { version: "2024-11-05" });
  const result = await old.connect();
  assert.equal(result.protocolVersion, "2025-11-25");
});

test("tools/list: paginated, every tool with input/output schemas and annotations", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  const first = await client.call("tools/list", {});
  assert.ok(first.nextCursor, "the catalog spans more than one page");
  const tools = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  assert.deepEqual(names, ["apply_commands", "comment", "create_project", "get_timeline", "list_projects", "list_threads", "render_frame", "resolve_thread", "search_assets", "search_tools"]);
  for (const tool of tools) {
    assert.equal(tool.inputSchema.type, "object", tool.name);
    assert.equal(tool.outputSchema.type, "object", tool.name);
    assert.equal(typeof tool.description, "string");
    assert.equal(typeof tool.annotations.readOnlyHint, "boolean", tool.name);
    assert.equal(typeof tool.annotations.destructiveHint, "boolean", tool.name);
    assert.equal(typeof tool.annotations.idempotentHint, "boolean", tool.name);
    assert.equal(tool.annotations.readOnlyHint, !WRITE_TOOLS.includes(tool.name), tool.name);
  }
  // Only standard JSON Schema formats (strict client validators reject others).
  assert.doesNotMatch(JSON.stringify(tools), /"format":"(u?int\d*|float|double)"/);
  const apply = tools.find((t) => t.name === "apply_commands");
  assert.deepEqual(apply.inputSchema.required.sort(), ["commands", "project_id"]);
  // The command schema is editor-core's, embedded: every command type is there.
  const schemaText = JSON.stringify(apply.inputSchema);
  for (const command of ["add_track", "add_clip", "move_clip", "remove_clip"]) {
    assert.ok(schemaText.includes(`"${command}"`), `input schema lists ${command}`);
  }
  // The same types as the OpenAPI document: the body fields and the response fields agree.
  const doc = await (await app.fetch("/openapi.json")).json();
  const body = doc.components.schemas.CommandsBody;
  for (const field of Object.keys(body.properties)) assert.ok(apply.inputSchema.properties[field], field);
  const out = doc.components.schemas.CommandsResponse;
  assert.deepEqual(Object.keys(apply.outputSchema.properties).sort(), Object.keys(out.properties).sort());
  const render = tools.find((t) => t.name === "render_frame");
  assert.equal(render.inputSchema.properties.frame.type, "integer");
});

test("apply_commands edits the timeline through the command path: HTTP, the room and the history see it", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  // A person watching in the room.
  const room = await connect(app, project.id, { token: owner.session.token, label: "watcher", replicate: false });
  const trackId = id("trk");
  const clipId = id("clp");
  const commands = [
    { type: "add_track", track: { id: trackId, kind: "video" } },
    { type: "add_clip", track_id: trackId, clip: { id: clipId, start: 0, duration: 50, source: { type: "solid", color: { r: 200, g: 30, b: 30, a: 255 } } } },
  ];
  const result = await client.callTool("apply_commands", { project_id: project.id, commands });
  assert.ok(!result.isError, JSON.stringify(result));
  assert.equal(result.structuredContent.seq, 2);
  assert.equal(result.structuredContent.results.length, 2);
  assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);

  const state = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(state.status, 200);
  assert.equal(state.body.seq, 2);
  assert.ok(JSON.stringify(state.body.timeline).includes(clipId), "the clip is on the timeline");

  // The room broadcast the agent's commands to the person, whose replica matches.
  try {
    await room.waitFor((f) => f.type === "applied" && f.seq === 2);
    const applied = room.frames((f) => f.type === "applied");
    assert.deepEqual(applied.map((f) => f.seq), [1, 2]);
    commands.forEach((command, i) => assert.ok(includes(command, applied[i].command), JSON.stringify(applied[i])));
  } finally {
    await room.close().catch(() => {});
  }

  const history = await owner.client.get(`/v1/projects/${project.id}/history`);
  assert.equal(history.body.items.length, 2);
  for (const item of history.body.items) assert.equal(item.actor.id, editorKey.id);

  const timeline = await client.callTool("get_timeline", { project_id: project.id });
  assert.ok(!timeline.isError);
  assert.equal(timeline.structuredContent.seq, 2);
  assert.deepEqual(timeline.structuredContent.timeline, state.body.timeline);

  // An invalid command is a tool error carrying the API's code, and changes nothing.
  const invalid = await client.callTool("apply_commands", { project_id: project.id, commands: [{ type: "remove_clip", clip_id: id("clp") }] });
  assert.equal(invalid.isError, true);
  assert.equal(typeof invalid.structuredContent.error.code, "string");
  const again = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(again.body.seq, 2);

  // Audit: the call and the change, both by the key.
  const audit = await app.query("SELECT action, actor_id, org_id FROM audit_log WHERE actor_id = ? ORDER BY rowid", editorKey.id);
  for (const row of audit) assert.equal(row.org_id, orgId);
  const actions = audit.map((a) => a.action);
  assert.ok(actions.includes("mcp.tool_call"), JSON.stringify(actions));
  assert.ok(actions.some((a) => a !== "mcp.tool_call"), JSON.stringify(actions));
});

test("render_frame returns a PNG image block equal to GET frame.png", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  const result = await client.callTool("render_frame", { project_id: project.id, frame: 10 });
  assert.ok(!result.isError, JSON.stringify(result));
  const image = result.content.find((c) => c.type === "image");
  assert.equal(image.mimeType, "image/png");
  const bytes = Buffer.from(image.data, "base64");
  const http = await app.fetch(`/v1/projects/${project.id}/frame.png?frame=10`, { headers: { authorization: `Bearer ${editorKey.key}` } });
  assert.equal(http.status, 200);
  const expected = Buffer.from(await http.arrayBuffer());
  assert.ok(bytes.equals(expected), "same PNG bytes");
  assert.equal(result.structuredContent.size_bytes, expected.length);
  assert.equal(result.structuredContent.frame, 10);

  const bad = await client.callTool("render_frame", { project_id: project.id, scale: 3 });
  assert.equal(bad.isError, true);
  assert.equal(bad.structuredContent.error.code, "invalid_scale");
});

test("create, list, comment, list threads and resolve through tools", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  const created = await client.callTool("create_project", { name: "From an agent", width: 320, height: 180, fps: 30 });
  assert.ok(!created.isError, JSON.stringify(created));
  const newId = created.structuredContent.project.id;
  const listed = await client.callTool("list_projects", { limit: 50 });
  assert.ok(listed.structuredContent.items.some((p) => p.id === newId));
  const rows = await app.query("SELECT org_id FROM projects WHERE id = ?", newId);
  assert.equal(rows[0].org_id, orgId);

  const invalid = await client.callTool("create_project", { name: "", width: 1, height: 180, fps: 30 });
  assert.equal(invalid.isError, true);

  const thread = await client.callTool("comment", { project_id: project.id, anchor: { from_frame: 0, to_frame: 10 }, body: "Make the red warmer" });
  assert.ok(!thread.isError, JSON.stringify(thread));
  const threadId = thread.structuredContent.thread.id;
  const open = await client.callTool("list_threads", { project_id: project.id, resolved: false });
  assert.ok(open.structuredContent.items.some((t) => t.id === threadId));
  const resolved = await client.callTool("resolve_thread", { project_id: project.id, thread_id: threadId, resolved: true });
  assert.ok(!resolved.isError, JSON.stringify(resolved));
  const http = await owner.client.get(`/v1/projects/${project.id}/threads?resolved=true`);
  assert.ok(http.body.items.some((t) => t.id === threadId), "resolved over HTTP too");

  const assets = await client.callTool("search_assets", { q: "nothing-like-this" });
  assert.ok(!assets.isError, JSON.stringify(assets));
  assert.deepEqual(assets.structuredContent.items, []);
});

test("a viewer key neither sees nor may call the writing tools", async () => {
  const client = new McpClient(app, viewerKey.key);
  await client.connect();
  const names = (await client.listTools()).map((t) => t.name);
  for (const name of WRITE_TOOLS) assert.ok(!names.includes(name), `${name} hidden`);
  assert.ok(names.includes("get_timeline"));
  const before = await owner.client.get(`/v1/projects/${project.id}`);
  const refused = await client.callTool("apply_commands", { project_id: project.id, commands: [{ type: "add_track", track: { id: id("trk"), kind: "video" } }] });
  assert.equal(refused.isError, true);
  assert.equal(refused.structuredContent.error.code, "forbidden");
  const after = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(after.body.seq, before.body.seq);
  const search = await client.callTool("search_tools", { query: "edit timeline" });
  assert.ok(!search.structuredContent.tools.some((t) => t.name === "apply_commands"));
  const read = await client.callTool("get_timeline", { project_id: project.id });
  assert.ok(!read.isError);
});

test("another organisation's project is a not_found tool error and resource", async () => {
  const stranger = await signup(app, "mcp-stranger");
  const key = await apiKey("theirs", "admin", stranger.client, stranger.org.id);
  const client = new McpClient(app, key.key);
  await client.connect();
  for (const [name, args] of [["get_timeline", { project_id: project.id }], ["render_frame", { project_id: project.id }], ["apply_commands", { project_id: project.id, commands: [{ type: "add_track", track: { id: id("trk"), kind: "video" } }] }], ["list_projects", { org_id: orgId }]]) {
    const result = await client.callTool(name, args);
    assert.equal(result.isError, true, name);
    assert.equal(result.structuredContent.error.code, "not_found", `${name}: ${JSON.stringify(result)}`);
  }
  const read = await client.request("resources/read", { uri: `creator-os://projects/${project.id}/timeline` });
  assert.equal(read.error.code, -32002);
  // A person's session token works too, and sees their own org only.
  const person = new McpClient(app, stranger.session.token);
  await person.connect();
  const mine = await person.callTool("list_projects", {});
  assert.ok(!mine.isError, JSON.stringify(mine));
  assert.deepEqual(mine.structuredContent.items, []);
  const theirs = await person.callTool("create_project", { name: "Mine", width: 320, height: 180, fps: 24 });
  assert.ok(!theirs.isError, JSON.stringify(theirs));
  const edit = await person.callTool("apply_commands", { project_id: theirs.structuredContent.project.id, commands: [{ type: "add_track", track: { id: id("trk"), kind: "video" } }] });
  assert.ok(!edit.isError, JSON.stringify(edit));
  const calls = await app.query("SELECT org_id, target_id FROM audit_log WHERE actor_id = ? AND action = 'mcp.tool_call' ORDER BY rowid", stranger.user.id);
  assert.deepEqual(calls, [{ org_id: stranger.org.id, target_id: "create_project" }, { org_id: stranger.org.id, target_id: "apply_commands" }]);
});

test("refused and invalid tool calls are tool errors and change nothing", async () => {
  const editor = new McpClient(app, editorKey.key);
  const viewer = new McpClient(app, viewerKey.key);
  await editor.connect();
  await viewer.connect();
  // Keys record when they were last used (at most once a minute): not a change of content.
  const snapshot = async () => {
    const all = await app.snapshot();
    all.api_keys = all.api_keys.map(({ last_used_at, ...rest }) => rest);
    return all;
  };
  // Earlier tests' analytics events arrive through the queue: let it drain first.
  let last = -1;
  for (let stable = 0; stable < 3; ) {
    const [{ n }] = await app.query("SELECT COUNT(*) AS n FROM events");
    stable = n === last ? stable + 1 : 0;
    last = n;
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
    [viewer, "create_project", { name: "Nope", width: 320, height: 180, fps: 30 }, "forbidden"],
    [viewer, "comment", { project_id: project.id, anchor: {}, body: "hi" }, "forbidden"],
  ];
  for (const [client, name, args, code] of cases) {
    const result = await client.callTool(name, args);
    assert.equal(result.isError, true, `${name} ${JSON.stringify(args)}: ${JSON.stringify(result)}`);
    assert.equal(typeof result.structuredContent.error.message, "string");
    if (code) assert.equal(result.structuredContent.error.code, code, `${name} ${JSON.stringify(args)}`);
    assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent);
  }
  assert.deepEqual(await snapshot(), before);
});

test("search_tools finds apply_commands by \"edit timeline\"", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  const result = await client.callTool("search_tools", { query: "edit timeline" });
  assert.ok(!result.isError);
  assert.equal(result.structuredContent.tools[0].name, "apply_commands");
  assert.ok(result.structuredContent.tools[0].inputSchema.properties.commands);
  const frame = await client.callTool("search_tools", { query: "render an image", limit: 1 });
  assert.deepEqual(frame.structuredContent.tools.map((t) => t.name), ["render_frame"]);
  const none = await client.callTool("search_tools", { query: "zzzz" });
  assert.deepEqual(none.structuredContent.tools, []);
});

test("resources: list, templates, read a timeline, an asset and a frame", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  const { resources } = await client.call("resources/list", {});
  const uri = `creator-os://projects/${project.id}/timeline`;
  assert.ok(resources.some((r) => r.uri === uri), JSON.stringify(resources));
  const { resourceTemplates } = await client.call("resources/templates/list", {});
  assert.deepEqual(resourceTemplates.map((t) => t.name).sort(), ["asset", "frame", "timeline"]);

  const timeline = await client.call("resources/read", { uri });
  assert.equal(timeline.contents[0].mimeType, "application/json");
  const state = JSON.parse(timeline.contents[0].text);
  assert.equal(state.project.id, project.id);
  assert.equal(state.seq, 2);

  const frame = await client.call("resources/read", { uri: `creator-os://projects/${project.id}/frames/3` });
  const bytes = Buffer.from(frame.contents[0].blob, "base64");
  const http = await app.fetch(`/v1/projects/${project.id}/frame.png?frame=3`, { headers: { authorization: `Bearer ${editorKey.key}` } });
  assert.ok(bytes.equals(Buffer.from(await http.arrayBuffer())));

  // An asset's metadata: upload a small PNG first.
  const png = Buffer.from(await (await app.fetch(`/v1/projects/${project.id}/frame.png`, { headers: { authorization: `Bearer ${editorKey.key}` } })).arrayBuffer());
  const upload = await app.fetch(`/v1/orgs/${orgId}/assets?name=red-frame`, { method: "POST", headers: { authorization: `Bearer ${editorKey.key}`, "content-type": "image/png" }, body: png });
  assert.equal(upload.status, 201, await upload.clone().text());
  const asset = (await upload.json()).asset;
  const meta = await client.call("resources/read", { uri: `creator-os://assets/${asset.id}` });
  assert.equal(JSON.parse(meta.contents[0].text).asset.id, asset.id);
  const found = await client.callTool("search_assets", { q: "red" });
  assert.ok(found.structuredContent.items.some((a) => a.id === asset.id));

  for (const bad of ["creator-os://projects/prj_nope/timeline", "https://example.com/x", "creator-os://projects/x/frames/-1"]) {
    const res = await client.request("resources/read", { uri: bad });
    assert.equal(res.error.code, -32002, bad);
  }
});

test("prompts: list and get with arguments", async () => {
  const client = new McpClient(app, editorKey.key);
  await client.connect();
  const { prompts } = await client.call("prompts/list", {});
  assert.ok(prompts.length >= 2);
  const roughCut = prompts.find((p) => p.name === "rough_cut_from_assets");
  assert.ok(roughCut.arguments.some((a) => a.name === "project_id" && a.required));
  const got = await client.call("prompts/get", { name: "rough_cut_from_assets", arguments: { project_id: project.id, query: "beach" } });
  assert.equal(got.messages[0].role, "user");
  assert.ok(got.messages[0].content.text.includes(project.id));
  assert.ok(got.messages[0].content.text.includes("beach"));
  const missing = await client.request("prompts/get", { name: "add_captions", arguments: { project_id: project.id } });
  assert.equal(missing.error.code, -32602);
  const unknown = await client.request("prompts/get", { name: "nope" });
  assert.equal(unknown.error.code, -32602);
});

test("rate limit per principal: a JSON-RPC error with retry_after", async () => {
  const key = await apiKey("hasty", "viewer");
  const client = new McpClient(app, key.key);
  const results = await Promise.all(Array.from({ length: 150 }, (_, i) => client.raw({ jsonrpc: "2.0", id: i + 1, method: "ping" })));
  for (const res of results) assert.equal(res.status, 200, res.text);
  const limited = results.filter((r) => r.body.error);
  assert.ok(limited.length > 0, "some requests are over budget");
  for (const res of limited) {
    assert.equal(res.body.error.code, -32029);
    assert.equal(res.body.error.message, "rate limited");
    assert.ok(res.body.error.data.retry_after >= 1);
  }
  // Another principal keeps its own budget.
  const other = new McpClient(app, editorKey.key);
  const ok = await other.raw({ jsonrpc: "2.0", id: 1, method: "ping" });
  assert.deepEqual(ok.body.result, {});
});
