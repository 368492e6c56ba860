// The Agent Runtime (module 08) against the real Worker in local workerd: agent profiles and
// tokens in D1, runs checkpointed in the AgentRun Durable Object and driven through the real
// jobs queue, edits applied through the ProjectRoom (watched over a room WebSocket), budgets in
// the RateLimiter DO. The official MCP TypeScript SDK client talks to /mcp with an agent token.
// The OpenAI-compatible planner talks to a loopback HTTP server in this file that speaks the
// chat-completions wire format: it stands in for an external model provider.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { Client as McpSdkClient } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { Client, expectError, signup } from "./harness.mjs";
import { startRestartableApp } from "./support/agents-runtime.mjs";
import { png } from "./support/png.mjs";
import { connect, idMaker } from "./support/room-client.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LLM_KEY = "sk-loopback-test-key-7d1f";

let app;
let owner;
let orgId;
let other; // a second organisation
let llm; // the loopback chat-completions server
const open = [];
const newId = idMaker(7);

// ------------------------------------------------------------------ loopback model provider

/**
 * A chat-completions endpoint (POST /v1/chat/completions) that plays a scripted model: it
 * records every request and answers from `script(request, round)`, where `round` is the number
 * of assistant messages already in the conversation.
 */
async function startModel() {
  const requests = [];
  let script = () => ({ content: "nothing to do" });
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const parsed = JSON.parse(body);
      requests.push({ path: req.url, headers: req.headers, body: parsed });
      const round = parsed.messages.filter((m) => m.role === "assistant").length;
      const { content = null, tool_calls } = script(parsed, round);
      const message = { role: "assistant", content };
      if (tool_calls) message.tool_calls = tool_calls.map((call, i) => ({
        id: `call_${round}_${i}`,
        type: "function",
        function: { name: call.name, arguments: JSON.stringify(call.arguments) },
      }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({
        id: `chatcmpl-${requests.length}`,
        object: "chat.completion",
        created: Math.floor(Date.now() / 1000),
        model: parsed.model,
        choices: [{ index: 0, message, finish_reason: tool_calls ? "tool_calls" : "stop" }],
        usage: { prompt_tokens: 10, completion_tokens: 10, total_tokens: 20 },
      }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/v1`,
    requests,
    setScript(fn) { script = fn; requests.length = 0; },
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

before(async () => {
  llm = await startModel();
  app = await startRestartableApp({
    vars: {
      AGENT_LLM_ENDPOINT: llm.url,
      AGENT_LLM_MODEL: "loopback-model",
      AGENT_LLM_API_KEY: LLM_KEY,
      // Steps one second apart, so that a restart lands mid-run; a run without progress for
      // eight seconds is driven again by its watchdog.
      AGENT_STEP_DELAY_SECONDS: 1,
      AGENT_STEP_TIMEOUT_SECONDS: 8,
      // A model's run stops after six steps (recipes plan their own length).
      AGENT_MAX_STEPS: 6,
    },
  });
  owner = await signup(app, "agents-owner");
  orgId = owner.org.id;
  other = await signup(app, "agents-other");
});
after(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => {})));
  await app?.dispose();
  await llm?.close();
});

// ------------------------------------------------------------------ helpers

async function createProject(name, client = owner.client, org = orgId) {
  const res = await client.post(`/v1/orgs/${org}/projects`, { name, width: 320, height: 180, fps: 24 });
  assert.equal(res.status, 201, res.text);
  return res.body.project.id;
}

async function createAgent(body, client = owner.client, org = orgId) {
  const res = await client.post(`/v1/orgs/${org}/agents`, { description: "test agent", ...body });
  assert.equal(res.status, 201, res.text);
  return res.body.agent;
}

async function tokenFor(agent, client = owner.client, org = orgId) {
  const res = await client.post(`/v1/orgs/${org}/agents/${agent.id}/tokens`, { name: "ci" });
  assert.equal(res.status, 201, res.text);
  assert.match(res.body.token.token, /^cos_agt_/);
  return res.body.token;
}

async function uploadImage(width, height, rgb, name) {
  const bytes = png(width, height, () => [...rgb, 255]);
  const res = await app.fetch(`/v1/orgs/${orgId}/assets?name=${encodeURIComponent(name)}`, {
    method: "POST",
    headers: { authorization: `Bearer ${owner.session.token}`, "content-type": "image/png" },
    body: bytes,
  });
  const body = await res.json();
  assert.equal(res.status, 201, JSON.stringify(body));
  return body.asset;
}

async function startRun(agent, body, client = owner.client) {
  const res = await client.post(`/v1/orgs/${orgId}/agents/${agent.id}/runs`, body);
  assert.equal(res.status, 202, res.text);
  assert.equal(res.body.run.status, "running");
  return res.body.run;
}

async function getRun(runId, client = owner.client) {
  const res = await client.get(`/v1/agent-runs/${runId}`);
  assert.equal(res.status, 200, res.text);
  return res.body.run;
}

/** Polls the run until `predicate(run)` holds. */
async function waitRun(runId, predicate, timeout = 45000) {
  const deadline = Date.now() + timeout;
  let run;
  while (Date.now() < deadline) {
    run = await getRun(runId);
    if (predicate(run)) return run;
    await sleep(250);
  }
  throw new Error(`run ${runId} did not reach the state in time: ${JSON.stringify(run, null, 1).slice(0, 3000)}`);
}

const ended = (run) => ["succeeded", "failed", "cancelled", "rejected"].includes(run.status);

async function timelineOf(projectId) {
  const res = await owner.client.get(`/v1/projects/${projectId}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

async function mcpClient(token) {
  const transport = new StreamableHTTPClientTransport(new URL(`${app.base}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  const client = new McpSdkClient({ name: "agents-test", version: "1.0.0" });
  await client.connect(transport);
  return client;
}

async function allTools(client) {
  const names = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : undefined);
    names.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  return names.sort();
}

/**
 * A tool call expected to fail, sent with the SDK's plain request (its `callTool` checks
 * structured content against the tool's output schema, which an error result does not follow);
 * returns the error the tool reported.
 */
async function refusal(client, name, args) {
  const result = await client.request({ method: "tools/call", params: { name, arguments: args } }, CallToolResultSchema);
  assert.equal(result.isError, true, JSON.stringify(result));
  return result.structuredContent?.error ?? JSON.parse(result.content[0].text).error;
}

// ------------------------------------------------------------------ profiles and tokens

test("agent profiles and tokens: CRUD, validation in the one error shape, other orgs' agents are 404", async () => {
  const projectId = await createProject("Profiles");
  const agent = await createAgent({
    name: "Cutter",
    capabilities: ["get_timeline", "apply_commands"],
    policy: { projects: [projectId], access: "write", approval_required: ["apply_commands"] },
    budgets: { calls_per_minute: 30, renders_per_day: 5 },
  });
  assert.match(agent.id, /^agt_/);
  assert.deepEqual(agent.capabilities, ["get_timeline", "apply_commands"]);
  assert.deepEqual(agent.policy, { projects: [projectId], access: "write", approval_required: ["apply_commands"] });
  assert.deepEqual(agent.budgets, { calls_per_minute: 30, renders_per_day: 5 });

  const listed = await owner.client.get(`/v1/orgs/${orgId}/agents`);
  assert.equal(listed.status, 200);
  assert.ok(listed.body.items.some((a) => a.id === agent.id));

  const patched = await owner.client.patch(`/v1/orgs/${orgId}/agents/${agent.id}`, { capabilities: null, description: "any tool" });
  assert.equal(patched.status, 200, patched.text);
  assert.equal(patched.body.agent.capabilities, null);
  assert.equal(patched.body.agent.description, "any tool");
  assert.equal(patched.body.agent.name, "Cutter");

  // Tokens: shown once, stored hashed, revocable.
  const token = await tokenFor(agent);
  const [row] = await app.query("SELECT token_hash, prefix FROM agent_tokens WHERE id = ?", token.id);
  assert.notEqual(row.token_hash, token.token);
  assert.ok(!JSON.stringify(await app.query("SELECT * FROM audit_log WHERE target_id = ?", token.id)).includes(token.token));
  const tokens = await owner.client.get(`/v1/orgs/${orgId}/agents/${agent.id}/tokens`);
  assert.equal(tokens.body.items.length, 1);
  assert.equal(tokens.body.items[0].token, undefined);
  assert.equal(tokens.body.items[0].prefix, row.prefix);

  // The agent is a principal of its own: `agent` in the audit trail, never a user.
  const asAgent = new Client(app, { token: token.token });
  const me = await asAgent.get("/v1/orgs");
  assert.equal(me.status, 200, me.text);
  assert.equal(me.body.items[0].role, "editor");
  expectError(assert, await asAgent.get("/v1/auth/sessions"), 403, "forbidden");
  expectError(assert, await asAgent.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read" } }), 403, "forbidden");
  expectError(assert, await asAgent.post(`/v1/orgs/${orgId}/agents/${agent.id}/runs`, { goal: "x", planner: "llm" }), 403, "forbidden");
  const created = await asAgent.post(`/v1/orgs/${orgId}/projects`, { name: "By the agent", width: 64, height: 64, fps: 24 });
  assert.equal(created.status, 201, created.text);
  const [audit] = await app.query("SELECT actor_type, actor_id FROM audit_log WHERE action = 'project.create' AND target_id = ?", created.body.project.id);
  assert.deepEqual(audit, { actor_type: "agent", actor_id: agent.id });

  // Its policy hides other projects: 404, as another org's.
  expectError(assert, await asAgent.get(`/v1/projects/${await createProject("Outside the policy")}`), 404, "not_found");
  assert.equal((await asAgent.get(`/v1/projects/${projectId}`)).status, 200);

  // Bad input: the one error shape, and nothing changes.
  const before = await app.query("SELECT COUNT(*) AS n FROM agents");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, "{not json"), 400, "malformed_json");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x" }), 422, "invalid_request");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "root" } }), 422, "invalid_request");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read" }, extra: 1 }), 422, "invalid_request");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", capabilities: ["format_disk"], policy: { access: "read" } }), 422, "unknown_tool");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read", approval_required: ["nope"] } }), 422, "unknown_tool");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read", projects: ["prj_nope"] } }), 422, "unknown_project");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read" }, budgets: { calls_per_minute: 0 } }), 422, "invalid_budgets");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "", policy: { access: "read" } }), 422, "invalid_name");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read" } }, { "content-type": "text/plain" }), 415);
  assert.deepEqual(await app.query("SELECT COUNT(*) AS n FROM agents"), before);

  // Another organisation sees nothing of it.
  const otherOrg = other.org.id;
  expectError(assert, await other.client.get(`/v1/orgs/${orgId}/agents/${agent.id}`), 404);
  expectError(assert, await other.client.get(`/v1/orgs/${otherOrg}/agents/${agent.id}`), 404, "not_found");
  expectError(assert, await other.client.patch(`/v1/orgs/${otherOrg}/agents/${agent.id}`, { name: "mine" }), 404, "not_found");
  expectError(assert, await other.client.post(`/v1/orgs/${otherOrg}/agents/${agent.id}/tokens`, { name: "steal" }), 404, "not_found");
  expectError(assert, await other.client.delete(`/v1/orgs/${otherOrg}/agents/${agent.id}`), 404, "not_found");
  // A policy cannot name another org's project.
  const foreignProject = await createProject("Foreign", other.client, otherOrg);
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/agents`, { name: "x", policy: { access: "read", projects: [foreignProject] } }), 422, "unknown_project");

  // Revoking the token ends it; deleting the agent hides it.
  assert.equal((await owner.client.delete(`/v1/orgs/${orgId}/agents/${agent.id}/tokens/${token.id}`)).status, 204);
  expectError(assert, await asAgent.get("/v1/orgs"), 401, "agent_token_revoked");
  assert.equal((await owner.client.delete(`/v1/orgs/${orgId}/agents/${agent.id}`)).status, 204);
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/agents/${agent.id}`), 404, "not_found");
  const actions = (await app.query("SELECT action FROM audit_log WHERE org_id = ? AND action LIKE 'agent.%' ORDER BY id", orgId)).map((r) => r.action);
  assert.deepEqual(actions, ["agent.create", "agent.update", "agent.token.create", "agent.token.revoke", "agent.delete"]);
});

// ------------------------------------------------------------------ policy over /mcp

test("over /mcp (official SDK client) an agent token sees and calls only what its policy allows", async () => {
  const allowed = await createProject("Allowed");
  const hidden = await createProject("Hidden");
  const limited = await createAgent({
    name: "Limited",
    capabilities: ["get_timeline", "apply_commands", "render_frame", "search_tools"],
    policy: { projects: [allowed], access: "write", approval_required: ["apply_commands"] },
  });
  const client = await mcpClient((await tokenFor(limited)).token);
  assert.deepEqual(await allTools(client), ["apply_commands", "get_timeline", "render_frame", "search_tools"]);
  const found = await client.callTool({ name: "search_tools", arguments: { query: "list projects comment" } });
  assert.ok(!found.structuredContent.tools.some((t) => ["list_projects", "comment"].includes(t.name)), JSON.stringify(found.structuredContent));

  // A tool outside its capabilities is refused; so is a project outside its policy.
  assert.equal((await refusal(client, "list_projects", {})).code, "tool_forbidden");
  assert.equal((await refusal(client, "get_timeline", { project_id: hidden })).code, "not_found");
  const read = await client.callTool({ name: "get_timeline", arguments: { project_id: allowed } });
  assert.equal(read.isError, undefined, JSON.stringify(read));
  assert.equal(read.structuredContent.project.id, allowed);
  // A gated tool needs a person's approval: only a run can get it.
  const trackId = newId("trk");
  const gated = await refusal(client, "apply_commands", { project_id: allowed, commands: [{ type: "add_track", track: { id: trackId, kind: "video" } }] });
  assert.equal(gated.code, "approval_required");
  assert.equal((await timelineOf(allowed)).seq, 0, "nothing was applied");
  await client.close();

  // Read-only: writing tools are hidden and refused.
  const reader = await createAgent({ name: "Reader", policy: { access: "read" } });
  const readerClient = await mcpClient((await tokenFor(reader)).token);
  const names = await allTools(readerClient);
  assert.ok(names.includes("get_timeline") && !names.includes("apply_commands") && !names.includes("create_project"), names.join());
  const refused = await refusal(readerClient, "apply_commands", { project_id: allowed, commands: [{ type: "add_track", track: { id: trackId, kind: "video" } }] });
  assert.equal(refused.code, "forbidden");
  expectError(assert, await new Client(app, { token: (await tokenFor(reader)).token }).post(`/v1/projects/${allowed}/commands`, { commands: [{ type: "add_track", track: { id: trackId, kind: "video" } }] }), 403, "forbidden");
  assert.equal((await timelineOf(allowed)).seq, 0, "a read-only agent changed nothing");
  await readerClient.close();

  // Budgets: calls per minute (RateLimiter DO) and renders per day.
  const thrifty = await createAgent({ name: "Thrifty", policy: { access: "read" }, budgets: { calls_per_minute: 3, renders_per_day: 1 } });
  const thriftyClient = await mcpClient((await tokenFor(thrifty)).token);
  const frame = await thriftyClient.callTool({ name: "render_frame", arguments: { project_id: allowed, frame: 0 } });
  assert.equal(frame.content[0].type, "image", JSON.stringify(frame).slice(0, 300));
  const secondRender = await refusal(thriftyClient, "render_frame", { project_id: allowed, frame: 0 });
  assert.equal(secondRender.code, "budget_exceeded");
  assert.match(secondRender.message, /1 renders per day/);
  await thriftyClient.callTool({ name: "get_timeline", arguments: { project_id: allowed } });
  const spent = await refusal(thriftyClient, "get_timeline", { project_id: allowed });
  assert.equal(spent.code, "budget_exceeded");
  assert.match(spent.message, /3 calls per minute/);
  await thriftyClient.close();
});

// ------------------------------------------------------------------ a gated recipe run

test("slideshow run: pauses for approval, is approved over the API, finishes; the room sees the agent and its edits", async () => {
  const projectId = await createProject("Holiday slideshow");
  const colors = [[220, 30, 40], [30, 200, 60], [40, 60, 230]];
  const images = [];
  for (const [i, rgb] of colors.entries()) images.push(await uploadImage(64 + i * 16, 48, rgb, `slide-${i}.png`));
  const agent = await createAgent({
    name: "Slideshow agent",
    policy: { projects: [projectId], access: "write", approval_required: ["apply_commands"] },
  });

  // A person in the room watches.
  const viewer = await connect(app, projectId, { token: owner.session.token, label: "owner" });
  open.push(viewer);

  const run = await startRun(agent, {
    goal: "Assemble the holiday pictures into a slideshow with crossfades and a title",
    planner: "recipe",
    recipe: "slideshow",
    project_id: projectId,
    inputs: { asset_ids: images.map((a) => a.id), seconds_per_image: 1, crossfade_frames: 6, title: "Summer 2026" },
  });
  assert.deepEqual(run.plan.map((s) => s.tool), ["get_timeline", "apply_commands", "apply_commands", "apply_commands", "render_frame"]);

  // The first edit waits for a person; nothing is applied meanwhile.
  let paused = await waitRun(run.id, (r) => r.status === "awaiting_approval" || ended(r));
  assert.equal(paused.status, "awaiting_approval", JSON.stringify(paused.error));
  assert.equal(paused.awaiting_approval.step, 1);
  assert.equal(paused.awaiting_approval.tool, "apply_commands");
  assert.equal(paused.steps.length, 1);
  assert.equal((await timelineOf(projectId)).seq, 0);
  const [row] = await app.query("SELECT status FROM agent_runs WHERE id = ?", run.id);
  assert.equal(row.status, "awaiting_approval");

  // The agent is a member of the room: presence typed agent, with a playhead; people can follow it.
  const joined = await viewer.waitFor((f) => f.type === "joined" && f.member.kind === "agent");
  assert.deepEqual(joined.member.actor, { type: "agent", id: agent.id });
  assert.equal(joined.member.name, "Slideshow agent");
  const presence = await viewer.waitFor((f) => f.type === "presence" && f.actor?.type === "agent" && typeof f.presence.playhead === "number");
  assert.equal(presence.connection_id, joined.member.connection_id);
  viewer.send({ type: "follow", actor: agent.id });
  const follow = await viewer.waitFor((f) => f.type === "follow" && f.target === agent.id);
  assert.equal(follow.actor.type, "user");
  // A late joiner sees the agent among the members.
  const late = await connect(app, projectId, { token: owner.session.token, label: "late" });
  open.push(late);
  const welcome = late.events.find((e) => e.type === "welcome") ?? (await late.waitFor((f) => f.type === "welcome"));
  assert.ok(welcome.members.some((m) => m.member.kind === "agent" && m.member.actor.id === agent.id), JSON.stringify(welcome.members));
  await late.close();

  // Wrong step → 409; agents cannot approve; another org cannot see the run.
  expectError(assert, await owner.client.post(`/v1/agent-runs/${run.id}/approve`, { step: 3 }), 409, "not_awaiting_approval");
  const agentClient = new Client(app, { token: (await tokenFor(agent)).token });
  expectError(assert, await agentClient.post(`/v1/agent-runs/${run.id}/approve`, { step: 1 }), 403, "forbidden");
  expectError(assert, await other.client.get(`/v1/agent-runs/${run.id}`), 404, "not_found");
  expectError(assert, await other.client.post(`/v1/agent-runs/${run.id}/approve`, { step: 1 }), 404, "not_found");
  expectError(assert, await owner.client.post(`/v1/agent-runs/${run.id}/approve`, { step: "one" }), 422, "invalid_request");

  // Approve every gated step as it comes.
  const approved = [];
  for (;;) {
    paused = await waitRun(run.id, (r) => r.status === "awaiting_approval" && !approved.includes(r.awaiting_approval.step) || ended(r));
    if (ended(paused)) break;
    const res = await owner.client.post(`/v1/agent-runs/${run.id}/approve`, { step: paused.awaiting_approval.step });
    assert.equal(res.status, 200, res.text);
    approved.push(paused.awaiting_approval.step);
  }
  assert.equal(paused.status, "succeeded", JSON.stringify(paused.error));
  assert.deepEqual(approved, [1, 2, 3]);
  assert.equal(paused.steps.length, 5);
  for (const step of paused.steps.filter((s) => s.tool === "apply_commands")) {
    assert.deepEqual(step.approved_by, { type: "user", id: owner.user.id });
    assert.equal(step.is_error, false, JSON.stringify(step.output));
  }
  assert.equal(paused.steps[4].output.mime_type, "image/png");
  assert.ok(paused.steps[4].output.size_bytes > 0);

  // The timeline over HTTP: three image clips with two crossfades, and the title.
  const state = await timelineOf(projectId);
  const [slides, titles] = state.timeline.tracks;
  assert.equal(slides.kind, "video");
  assert.deepEqual(slides.clips.map((c) => [c.start, c.duration, c.source.asset_id]), images.map((a, i) => [i * 24, 24, a.id]));
  assert.deepEqual(slides.clips.map((c) => c.transition?.kind?.type ?? null), ["crossfade", "crossfade", null]);
  assert.deepEqual(slides.clips.slice(0, 2).map((c) => c.transition.duration), [6, 6]);
  assert.deepEqual(slides.clips.map((c) => [c.source.width, c.source.height]), images.map((a) => [a.width, a.height]));
  assert.equal(titles.kind, "text");
  assert.equal(titles.clips.length, 1);
  assert.equal(titles.clips[0].source.text, "Summer 2026");

  // The room saw the agent's edits as ordinary `applied` frames with the agent as actor.
  // (4 commands place the slides, 2 set the crossfades, 2 add the title.)
  const applied = viewer.frames((f) => f.type === "applied");
  assert.equal(applied.length, 8);
  assert.ok(applied.every((f) => f.actor.type === "agent" && f.actor.id === agent.id), JSON.stringify(applied.map((f) => f.actor)));
  await viewer.waitFor((f) => f.type === "left" && f.connection_id === joined.member.connection_id);

  // The audit trail: every step once, by the agent; the approvals by the person.
  const steps = await app.query("SELECT actor_type, actor_id, details, result FROM audit_log WHERE action = 'agent.run.step' AND target_id = ? ORDER BY id", run.id);
  assert.deepEqual(steps.map((s) => JSON.parse(s.details).step), [0, 1, 2, 3, 4]);
  assert.ok(steps.every((s) => s.actor_type === "agent" && s.actor_id === agent.id && s.result === "success"));
  const details = JSON.parse(steps[1].details);
  assert.equal(details.tool, "apply_commands");
  assert.deepEqual(details.approved_by, { type: "user", id: owner.user.id });
  assert.equal(typeof details.duration_ms, "number");
  const approvals = await app.query("SELECT actor_type, actor_id FROM audit_log WHERE action = 'agent.run.approve' AND target_id = ?", run.id);
  assert.equal(approvals.length, 3);
  assert.ok(approvals.every((a) => a.actor_type === "user" && a.actor_id === owner.user.id));
  // (A step driven again by the watchdog on a loaded machine repeats its request, which the
  // idempotency key answers without applying anything: at least three requests, all the agent's.)
  const edits = await app.query("SELECT actor_type FROM audit_log WHERE action = 'project.commands' AND target_id = ?", projectId);
  assert.ok(edits.length >= 3 && edits.every((e) => e.actor_type === "agent"), JSON.stringify(edits));
  const history = await owner.client.get(`/v1/projects/${projectId}/history`);
  assert.equal(history.body.items.length, 8, "each command applied once");
  const listed = await owner.client.get(`/v1/orgs/${orgId}/agents/${agent.id}/runs?status=succeeded`);
  assert.deepEqual(listed.body.items.map((r) => [r.id, r.steps_done]), [[run.id, 5]]);
});

// ------------------------------------------------------------------ refusals inside runs

test("in a run: a forbidden tool fails the run with the reason, a read-only agent cannot edit, reject and cancel stop it", async () => {
  const projectId = await createProject("Refusals");
  const image = await uploadImage(32, 32, [10, 10, 10], "dark.png");
  const inputs = { asset_ids: [image.id], title: "Nope" };
  const slideshow = { goal: "slideshow", planner: "recipe", recipe: "slideshow", project_id: projectId, inputs };

  const noEdits = await createAgent({ name: "No edits", capabilities: ["get_timeline"], policy: { access: "write" } });
  let run = await waitRun((await startRun(noEdits, slideshow)).id, ended);
  assert.equal(run.status, "failed");
  assert.equal(run.error.code, "tool_forbidden");
  assert.match(run.error.message, /step 1 \(apply_commands\)/);
  assert.equal(run.steps.length, 2);
  assert.equal(run.steps[1].is_error, true);

  const reader = await createAgent({ name: "Read only", policy: { access: "read" } });
  run = await waitRun((await startRun(reader, slideshow)).id, ended);
  assert.equal(run.status, "failed");
  assert.equal(run.error.code, "forbidden");
  assert.equal((await timelineOf(projectId)).seq, 0, "no edit from either run");

  const gated = await createAgent({ name: "Gated", policy: { access: "write", approval_required: ["apply_commands"] } });
  run = await waitRun((await startRun(gated, slideshow)).id, (r) => r.status === "awaiting_approval");
  const rejected = await owner.client.post(`/v1/agent-runs/${run.id}/reject`, { step: 1 });
  assert.equal(rejected.status, 200, rejected.text);
  assert.equal(rejected.body.run.status, "rejected");
  assert.deepEqual(rejected.body.run.decisions.map((d) => [d.step, d.approved, d.by.id]), [[1, false, owner.user.id]]);
  expectError(assert, await owner.client.post(`/v1/agent-runs/${run.id}/cancel`), 409, "run_ended");

  run = await waitRun((await startRun(gated, slideshow)).id, (r) => r.status === "awaiting_approval");
  const cancelled = await owner.client.post(`/v1/agent-runs/${run.id}/cancel`);
  assert.equal(cancelled.status, 200, cancelled.text);
  assert.equal(cancelled.body.run.status, "cancelled");
  expectError(assert, await owner.client.post(`/v1/agent-runs/${run.id}/approve`, { step: 1 }), 409, "not_awaiting_approval");
  await sleep(1500);
  assert.equal((await getRun(run.id)).steps.length, 1, "a cancelled run takes no further step");
  assert.equal((await timelineOf(projectId)).seq, 0);
  const audited = await app.query("SELECT action FROM audit_log WHERE target_id = ? ORDER BY id", run.id);
  assert.deepEqual(audited.map((a) => a.action), ["agent.run.create", "agent.run.step", "agent.run.await_approval", "agent.run.cancel"]);

  // Bad run requests: the one error shape, nothing created.
  const before = await app.query("SELECT COUNT(*) AS n FROM agent_runs");
  const url = `/v1/orgs/${orgId}/agents/${gated.id}/runs`;
  expectError(assert, await owner.client.post(url, "{"), 400, "malformed_json");
  expectError(assert, await owner.client.post(url, { goal: "x", planner: "magic" }), 422, "invalid_request");
  expectError(assert, await owner.client.post(url, { ...slideshow, goal: "" }), 422, "invalid_goal");
  expectError(assert, await owner.client.post(url, { ...slideshow, recipe: "montage" }), 422, "unknown_recipe");
  expectError(assert, await owner.client.post(url, { ...slideshow, recipe: undefined }), 422, "recipe_required");
  expectError(assert, await owner.client.post(url, { ...slideshow, inputs: { asset_ids: ["ast_nope"] } }), 422, "invalid_asset");
  expectError(assert, await owner.client.post(url, { ...slideshow, inputs: { asset_ids: [image.id], seconds_per_image: 0 } }), 422, "invalid_inputs");
  expectError(assert, await owner.client.post(url, { ...slideshow, inputs: { asset_ids: [image.id], colour: "red" } }), 422, "invalid_inputs");
  expectError(assert, await owner.client.post(url, { ...slideshow, recipe: "lower_thirds", inputs: {} }), 422, "no_markers");
  expectError(assert, await owner.client.post(url, { ...slideshow, project_id: await createProject("Foreign", other.client, other.org.id) }), 404, "not_found");
  expectError(assert, await other.client.post(`/v1/orgs/${other.org.id}/agents/${gated.id}/runs`, slideshow), 404, "not_found");
  assert.deepEqual(await app.query("SELECT COUNT(*) AS n FROM agent_runs"), before);
});

// ------------------------------------------------------------------ the chat-completions planner

test("OpenAI-compatible planner (loopback stand-in for a provider): tool calls run, results go back as tool messages", async () => {
  const projectId = await createProject("Model edits");
  const agent = await createAgent({
    name: "Model agent",
    capabilities: ["get_timeline", "apply_commands", "render_frame"],
    policy: { projects: [projectId], access: "write" },
  });
  const trackId = newId("trk");
  const clipId = newId("clp");
  llm.setScript((request, round) => {
    if (round === 0) {
      return {
        content: null,
        tool_calls: [
          { name: "get_timeline", arguments: { project_id: projectId } },
          {
            name: "apply_commands",
            arguments: {
              project_id: projectId,
              commands: [
                { type: "add_track", track: { id: trackId, kind: "video" } },
                { type: "add_clip", track_id: trackId, clip: { id: clipId, start: 0, duration: 48, source: { type: "solid", color: { r: 200, g: 20, b: 20, a: 255 } } } },
              ],
            },
          },
        ],
      };
    }
    if (round === 1) {
      return { content: "Checking the result.", tool_calls: [{ name: "render_frame", arguments: { project_id: projectId, frame: 12 } }, { name: "list_projects", arguments: {} }] };
    }
    return { content: "Added a red opening card of two seconds." };
  });
  const run = await waitRun((await startRun(agent, { goal: "Open with a red card", planner: "llm", project_id: projectId })).id, ended);
  assert.equal(run.status, "succeeded", JSON.stringify(run.error));
  assert.equal(run.answer, "Added a red opening card of two seconds.");
  assert.deepEqual(run.steps.map((s) => [s.tool, s.is_error]), [["get_timeline", false], ["apply_commands", false], ["render_frame", false], ["list_projects", true]]);

  // What the provider received: the key as a bearer token, the model, only the agent's tools,
  // and each executed call's result as a `tool` message with its call id.
  assert.equal(llm.requests.length, 3);
  const [first, second, third] = llm.requests;
  assert.equal(first.path, "/v1/chat/completions");
  assert.equal(first.headers.authorization, `Bearer ${LLM_KEY}`);
  assert.equal(first.body.model, "loopback-model");
  assert.deepEqual(first.body.tools.map((t) => t.function.name).sort(), ["apply_commands", "get_timeline", "render_frame"]);
  assert.equal(first.body.tools.find((t) => t.function.name === "apply_commands").function.parameters.type, "object");
  assert.match(first.body.messages.find((m) => m.role === "user").content, /Open with a red card/);
  const tools = second.body.messages.filter((m) => m.role === "tool");
  assert.deepEqual(tools.map((m) => m.tool_call_id), ["call_0_0", "call_0_1"]);
  assert.equal(JSON.parse(tools[0].content).project.id, projectId);
  const applied = JSON.parse(tools[1].content);
  assert.equal(applied.seq, 2);
  assert.equal(applied.results.length, 2);
  const thirdTools = third.body.messages.filter((m) => m.role === "tool");
  assert.equal(thirdTools.length, 4);
  assert.equal(JSON.parse(thirdTools[2].content).mime_type, "image/png");
  assert.equal(JSON.parse(thirdTools[3].content).error.code, "tool_forbidden", "a refused call is reported to the model");
  assert.ok(!JSON.stringify(await app.query("SELECT details FROM audit_log WHERE target_id = ?", run.id)).includes(LLM_KEY), "the key is never recorded");

  const state = await timelineOf(projectId);
  assert.deepEqual(state.timeline.tracks.map((t) => t.clips.map((c) => c.id)), [[clipId]]);
  const history = await owner.client.get(`/v1/projects/${projectId}/history`);
  assert.ok(history.body.items.every((i) => i.actor.type === "agent" && i.actor.id === agent.id));
});

test("a model that never stops is stopped at the step limit", async () => {
  const projectId = await createProject("Endless");
  const agent = await createAgent({ name: "Looper", capabilities: ["get_timeline"], policy: { projects: [projectId], access: "read" } });
  llm.setScript(() => ({ content: null, tool_calls: [{ name: "get_timeline", arguments: { project_id: projectId } }, { name: "get_timeline", arguments: { project_id: projectId } }] }));
  const run = await waitRun((await startRun(agent, { goal: "look forever", planner: "llm", project_id: projectId })).id, ended);
  assert.equal(run.status, "failed");
  assert.equal(run.error.code, "step_limit");
  assert.equal(run.steps.length, 6);
  assert.equal(llm.requests.length, 3);
});

// ------------------------------------------------------------------ progress as Server-Sent Events

test("a run's progress streams as Server-Sent Events until it ends", async () => {
  const projectId = await createProject("Streamed");
  const image = await uploadImage(40, 30, [250, 200, 10], "sun.png");
  const agent = await createAgent({ name: "Streamer", policy: { access: "write" } });
  const run = await startRun(agent, { goal: "one slide", planner: "recipe", recipe: "slideshow", project_id: projectId, inputs: { asset_ids: [image.id] } });
  const res = await app.fetch(`/v1/agent-runs/${run.id}/events`, { headers: { authorization: `Bearer ${owner.session.token}` } });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type"), /^text\/event-stream/);
  const text = await res.text(); // the stream closes after `end`
  const events = text.split("\n\n").filter((block) => block.startsWith("event:")).map((block) => {
    const [, name] = block.match(/^event: (.*)$/m);
    const [, data] = block.match(/^data: (.*)$/m);
    return { name, data: JSON.parse(data) };
  });
  const runs = events.filter((e) => e.name === "run").map((e) => e.data);
  assert.ok(runs.length >= 2, text);
  assert.equal(runs[0].id, run.id);
  const done = runs.map((r) => r.progress.steps_done);
  assert.deepEqual([...done].sort((a, b) => a - b), done, "progress only grows");
  assert.equal(runs.at(-1).status, "succeeded");
  assert.equal(runs.at(-1).progress.steps_done, 3);
  assert.deepEqual(events.at(-1), { name: "end", data: { status: "succeeded" } });
  expectError(assert, await other.client.get(`/v1/agent-runs/${run.id}/events`), 404, "not_found");
});

// ------------------------------------------------------------------ durability (last: restarts the runtime)

test("after a runtime restart mid-run, runs resume from their checkpoints without repeating steps", async () => {
  const projectId = await createProject("Interview");
  const markers = [12, 60, 120].map((frame, i) => ({ type: "add_marker", marker: { id: newId("mrk"), frame, label: `Speaker ${i + 1}` } }));
  const res = await owner.client.post(`/v1/projects/${projectId}/commands`, { commands: markers });
  assert.equal(res.status, 200, res.text);
  const writer = await createAgent({ name: "Captions", policy: { access: "write" } });
  const gatedAgent = await createAgent({ name: "Careful captions", policy: { access: "write", approval_required: ["render_frame"] } });
  const secondProject = await createProject("Interview, careful");
  await owner.client.post(`/v1/projects/${secondProject}/commands`, { commands: markers.map((m) => ({ ...m, marker: { ...m.marker, id: newId("mrk") } })) });

  const careful = await startRun(gatedAgent, { goal: "lower thirds, then look", planner: "recipe", recipe: "lower_thirds", project_id: secondProject, inputs: { text: "Guest" } });
  await waitRun(careful.id, (r) => r.status === "awaiting_approval");
  const flowing = await startRun(writer, { goal: "lower thirds", planner: "recipe", recipe: "lower_thirds", project_id: projectId, inputs: {} });
  assert.equal(flowing.plan.length, 6);
  const mid = await waitRun(flowing.id, (r) => r.steps.length >= 2 || ended(r));
  assert.equal(mid.status, "running", "the restart lands mid-run");

  await app.restart();

  // The gated run waits on after the restart, from its checkpoint; approval finishes it.
  const waiting = await getRun(careful.id);
  assert.equal(waiting.status, "awaiting_approval");
  assert.equal(waiting.awaiting_approval.step, 5);
  const approved = await owner.client.post(`/v1/agent-runs/${careful.id}/approve`, { step: 5 });
  assert.equal(approved.status, 200, approved.text);
  const done = await waitRun(flowing.id, ended, 60000);
  assert.equal(done.status, "succeeded", JSON.stringify(done.error));
  const doneCareful = await waitRun(careful.id, ended, 60000);
  assert.equal(doneCareful.status, "succeeded", JSON.stringify(doneCareful.error));

  for (const [run, project, texts] of [[done, projectId, ["Speaker 1", "Speaker 2", "Speaker 3"]], [doneCareful, secondProject, ["Guest", "Guest", "Guest"]]]) {
    assert.deepEqual(run.steps.map((s) => s.index), [0, 1, 2, 3, 4, 5]);
    const { timeline } = await timelineOf(project);
    const captions = timeline.tracks.find((t) => t.kind === "text");
    assert.equal(timeline.tracks.length, 1, "one caption track, not two");
    assert.deepEqual(captions.clips.map((c) => [c.start, c.source.text]), [[12, texts[0]], [60, texts[1]], [120, texts[2]]]);
    const stepRows = await app.query("SELECT step_index FROM agent_run_steps WHERE run_id = ? ORDER BY step_index", run.id);
    assert.deepEqual(stepRows.map((r) => r.step_index), [0, 1, 2, 3, 4, 5]);
    const audited = await app.query("SELECT details FROM audit_log WHERE action = 'agent.run.step' AND target_id = ?", run.id);
    assert.deepEqual(audited.map((a) => JSON.parse(a.details).step).sort(), [0, 1, 2, 3, 4, 5], "every step audited exactly once");
    const history = await owner.client.get(`/v1/projects/${project}/history`);
    const byAgent = history.body.items.filter((i) => i.actor.type === "agent");
    assert.deepEqual(byAgent.map((i) => i.command.type), ["add_track", "add_clip", "add_clip", "add_clip"], "each edit applied once");
  }
  assert.deepEqual(doneCareful.steps[5].approved_by, { type: "user", id: owner.user.id });
});
