// Automation & workflows end to end: workflows saved over HTTP, triggered by real module events
// (an upload), by the local cron handler, by signed inbound webhooks and by hand; their steps run
// as automation_step jobs through the real local queues (retries, backoff, dead-letter queue)
// in workerd, with D1 and R2. Outbound webhooks go to a loopback receiver that verifies the
// signature; it stands in for an n8n / Zapier webhook node.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, signup, startApp } from "./harness.mjs";
import { picture } from "./support/assets-fixtures.mjs";
import { sign, startReceiver } from "./support/automation-receiver.mjs";

const WEBHOOK_SECRET = "whsec_automation_test_only_42";
let app;
let receiver;
let owner;
let orgId;
let stranger;

before(async () => {
  receiver = await startReceiver(WEBHOOK_SECRET);
  app = await startApp({
    vars: {
      // Quick, few retries so that a failing step ends within seconds.
      JOBS_MAX_ATTEMPTS: "3",
      JOBS_BACKOFF_BASE_SECONDS: "1",
      JOBS_BACKOFF_MAX_SECONDS: "2",
      WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
      AUTOMATION_HOOK_SECRET: "automation-hook-master-test-only",
      // Small, so that the limit is reached in a test.
      AUTOMATION_ORG_MAX_RUNS: "3",
    },
    testScheduled: true,
  });
  owner = await signup(app, "automator");
  orgId = owner.org.id;
  stranger = await signup(app, "stranger");
});

after(async () => {
  await app?.dispose();
  await receiver?.close();
});

async function waitFor(what, check, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function workflowsPath(id = "") {
  return `/v1/orgs/${orgId}/workflows${id ? `/${id}` : ""}`;
}

async function createWorkflow(definition, client = owner.client) {
  const res = await client.post(workflowsPath(), { definition });
  assert.equal(res.status, 201, res.text);
  return res.body;
}

async function getRun(workflowId, runId) {
  const res = await owner.client.get(`${workflowsPath(workflowId)}/runs/${runId}`);
  assert.equal(res.status, 200, res.text);
  return res.body.run;
}

async function runEnded(workflowId, runId, timeoutMs) {
  return waitFor(`run ${runId} to end`, async () => {
    const run = await getRun(workflowId, runId);
    return ["succeeded", "failed", "cancelled"].includes(run.status) ? run : null;
  }, timeoutMs);
}

function stepOf(run, key) {
  const step = run.steps.find((s) => s.key === key);
  assert.ok(step, `step ${key} in ${JSON.stringify(run.steps.map((s) => s.key))}`);
  return step;
}

function deliveriesOf(runId) {
  return receiver.deliveries.filter((d) => d.body?.run_id === runId);
}

test("bad definitions and unsigned inbound webhooks are refused with clear errors, and nothing runs", async () => {
  const before = await app.snapshot();
  const base = {
    name: "Refused",
    trigger: { type: "manual" },
    steps: [{ id: "wait", type: "delay", seconds: 1 }],
  };
  const refuse = async (definition, status, code) => {
    const res = await owner.client.post(workflowsPath(), { definition });
    return expectError(assert, res, status, code);
  };
  const cycle = await refuse({
    ...base,
    steps: [
      { id: "render", type: "delay", seconds: 1, after: ["publish"] },
      { id: "review", type: "delay", seconds: 1, after: ["render"] },
      { id: "publish", type: "delay", seconds: 1, after: ["review"] },
    ],
  }, 422, "cyclic_graph");
  assert.match(cycle.message, /render → review → publish → render|review → publish → render → review|publish → render → review → publish/);
  const unknown = await refuse({
    ...base,
    steps: [{ id: "launch", type: "command", command: "launch_rockets", input: {} }],
  }, 422, "unknown_command");
  assert.match(unknown.message, /launch_rockets/);
  assert.match(unknown.message, /tag_asset/);
  const big = await refuse({ ...base, description: "x".repeat(40 * 1024) }, 413, "definition_too_large");
  assert.match(big.message, /32768/);
  await refuse({ ...base, description: "x".repeat(70 * 1024) }, 413, "payload_too_large");
  await refuse({ ...base, steps: [{ id: "x", type: "teleport" }] }, 422, "invalid_definition");
  await refuse({
    ...base,
    steps: [{ id: "tag", type: "command", command: "tag_asset", input: { asset_id: "{{trigger.asset_id}}" } }],
  }, 422, "missing_parameter");
  await refuse({
    ...base,
    steps: [
      { id: "early", type: "command", command: "tag_asset", input: { asset_id: "{{steps.late.output.asset_id}}", tags: ["x"] } },
      { id: "late", type: "delay", seconds: 1 },
    ],
  }, 422, "invalid_template");
  await refuse({ ...base, steps: [{ id: "hook", type: "webhook", url: "http://example.com/hook" }] }, 422, "invalid_webhook_url");
  await refuse({ ...base, trigger: { type: "cron", cron: "0 25 * * *" } }, 422, "invalid_cron");
  await refuse({ ...base, steps: [{ id: "ask", type: "mcp_tool", tool: "drop_database" }] }, 422, "unknown_tool");
  assert.deepEqual(await app.snapshot(), before, "refused definitions changed nothing");

  // A webhook-triggered workflow: its secret is shown once.
  const created = await createWorkflow({
    name: "From n8n",
    trigger: { type: "webhook" },
    steps: [{ id: "echo", type: "webhook", url: `${receiver.url}/ok`, event: "hook.echo", input: { order: "{{trigger.order_id}}" } }],
  });
  const secret = created.webhook_secret;
  assert.match(secret, /^whsec_/);
  const workflowId = created.workflow.id;
  assert.equal(created.workflow.webhook_path, `/v1/hooks/${workflowId}`);
  const shown = await owner.client.get(workflowsPath(workflowId));
  assert.equal(shown.body.webhook_secret, undefined, "the secret is not shown again");
  const [stored] = await app.query("SELECT hook_salt FROM workflows WHERE id = ?", workflowId);
  assert.ok(stored.hook_salt && !JSON.stringify(await app.query("SELECT * FROM workflows")).includes(secret), "the secret is not stored");

  const body = JSON.stringify({ order_id: "ord_42" });
  const hook = (headers, payload = body) =>
    app.fetch(`/v1/hooks/${workflowId}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: payload });
  const asJson = async (res) => ({ status: res.status, headers: res.headers, text: await res.clone().text(), body: await res.json() });
  const quiet = await app.snapshot();
  expectError(assert, await asJson(await hook({})), 401, "unauthenticated");
  expectError(assert, await asJson(await hook({ "x-creator-os-signature": "sha256=abc" })), 400, "malformed_signature");
  expectError(assert, await asJson(await hook({ "x-creator-os-signature": sign("whsec_wrong", body) })), 401, "invalid_signature");
  expectError(assert, await asJson(await hook({ "x-creator-os-signature": sign(secret, body) }, JSON.stringify({ order_id: "ord_forged" }))), 401, "invalid_signature");
  const stale = Math.floor(Date.now() / 1000) - 3600;
  expectError(assert, await asJson(await hook({ "x-creator-os-signature": sign(secret, body, stale) })), 401, "stale_signature");
  expectError(assert, await asJson(await app.fetch(`/v1/hooks/wfl_01NOSUCHWORKFLOW0000000000`, {
    method: "POST", headers: { "content-type": "application/json", "x-creator-os-signature": sign(secret, body) }, body,
  })), 404, "not_found");
  assert.deepEqual(await app.snapshot(), quiet, "refused hooks started nothing");

  // Signed properly, it runs; the receiver gets the payload.
  const accepted = await hook({ "x-creator-os-signature": sign(secret, body) });
  assert.equal(accepted.status, 202);
  const { run_id: runId } = await accepted.json();
  const run = await runEnded(workflowId, runId);
  assert.equal(run.status, "succeeded", JSON.stringify(run));
  assert.equal(run.trigger_kind, "webhook");
  const [delivery] = deliveriesOf(runId);
  assert.ok(delivery?.verified);
  assert.equal(delivery.body.data.order, "ord_42");

  // Other tenants see nothing.
  expectError(assert, await stranger.client.get(workflowsPath(workflowId)), 404, "not_found");
  expectError(assert, await stranger.client.post(`${workflowsPath(workflowId)}/runs`, { input: {} }), 404, "not_found");
  expectError(assert, await stranger.client.get(`${workflowsPath(workflowId)}/runs/${runId}`), 404, "not_found");
});

test("asset uploaded → make thumbnail → tag → signed webhook runs end to end through the queues", async () => {
  const created = await createWorkflow({
    name: "Process uploads",
    description: "Thumbnail, tag and tell the publishing flow",
    trigger: { type: "event", event: "asset.uploaded", match: { kind: "image" } },
    steps: [
      { id: "thumb", type: "command", command: "make_thumbnail", input: { asset_id: "{{trigger.asset_id}}" } },
      { id: "tag", type: "command", command: "tag_asset", after: ["thumb"], input: { asset_id: "{{trigger.asset_id}}", tags: ["auto-processed"] } },
      {
        id: "notify", type: "webhook", after: ["tag"], url: `${receiver.url}/ok`, event: "asset.processed",
        input: { asset_id: "{{trigger.asset_id}}", thumbnail_asset_id: "{{steps.thumb.output.thumbnail_asset_id}}", tags: "{{steps.tag.output.tags}}", name: "{{trigger.name}}" },
      },
    ],
  });
  const workflow = created.workflow;
  assert.equal(workflow.version, 1);
  assert.deepEqual(workflow.trigger, { type: "event", event: "asset.upload", match: { kind: "image" } });
  // The definition is an asset of the graph.
  const [definitionAsset] = await app.query("SELECT kind, mime, tags, metadata FROM assets WHERE id = ?", workflow.definition_asset_id);
  assert.equal(definitionAsset.kind, "document");
  assert.deepEqual(JSON.parse(definitionAsset.tags), ["workflow"]);
  assert.equal(JSON.parse(definitionAsset.metadata).workflow_id, workflow.id);

  const upload = (bytes, name) =>
    app.fetch(`/v1/orgs/${orgId}/assets?name=${encodeURIComponent(name)}`, {
      method: "POST", headers: { authorization: `Bearer ${owner.session.token}`, "content-type": "application/octet-stream" }, body: bytes,
    });
  // A document does not match the trigger's filter; the image does.
  assert.equal((await upload(Buffer.from("notes for the launch\n"), "notes.txt")).status, 201);
  const res = await upload(picture(48, 32, { seed: 3 }), "cover.png");
  assert.equal(res.status, 201);
  const asset = (await res.json()).asset;

  const listed = await waitFor("a run of the upload workflow", async () => {
    const page = await owner.client.get(`${workflowsPath(workflow.id)}/runs`);
    return page.body.runs.length ? page.body.runs : null;
  });
  const run = await runEnded(workflow.id, listed[0].id);
  assert.equal(run.status, "succeeded", JSON.stringify(run, null, 1));
  assert.equal(run.trigger_kind, "event");
  assert.equal(run.trigger.asset_id, asset.id);
  assert.equal(run.version, 1);
  assert.deepEqual(run.steps.map((s) => [s.key, s.status]), [["thumb", "succeeded"], ["tag", "succeeded"], ["notify", "succeeded"]]);
  for (const step of run.steps) {
    assert.equal(step.attempts, 1);
    assert.match(step.job_id, /^job_/);
    assert.ok(step.started_at && step.finished_at && step.duration_ms >= 0);
  }

  // Each step really happened: the thumbnail exists, the tag is on the asset.
  const after = (await owner.client.get(`/v1/assets/${asset.id}`)).body.asset;
  const thumb = stepOf(run, "thumb");
  assert.equal(thumb.input.asset_id, asset.id);
  assert.match(thumb.output.thumbnail_asset_id, /^ast_/);
  assert.equal(after.thumbnail_asset_id, thumb.output.thumbnail_asset_id);
  assert.ok(after.tags.includes("auto-processed"), JSON.stringify(after.tags));
  const thumbnail = await app.fetch(`/v1/assets/${asset.id}/thumbnail`, { headers: { authorization: `Bearer ${owner.session.token}` } });
  assert.equal(thumbnail.status, 200);
  assert.equal(thumbnail.headers.get("content-type"), "image/png");

  // The receiver got one signed delivery with the outputs of earlier steps.
  const deliveries = deliveriesOf(run.id);
  assert.equal(deliveries.length, 1);
  const [delivery] = deliveries;
  assert.ok(delivery.verified, "the signature verifies with the shared secret");
  assert.equal(delivery.event, "asset.processed");
  assert.equal(delivery.delivery, `${run.id}:notify`);
  assert.deepEqual(delivery.body.data, {
    asset_id: asset.id, thumbnail_asset_id: thumb.output.thumbnail_asset_id, tags: after.tags, name: "cover.png",
  });

  // The steps ran as jobs of the queue, and the audit trail names the workflow as the actor.
  const jobs = await app.query("SELECT status, kind FROM jobs WHERE id IN (?, ?, ?)", ...run.steps.map((s) => s.job_id));
  assert.deepEqual(jobs.map((j) => [j.kind, j.status]), Array(3).fill(["automation_step", "succeeded"]));
  const tagged = await app.query("SELECT actor_type, actor_id FROM audit_log WHERE action = 'asset.update' AND target_id = ?", asset.id);
  assert.deepEqual(tagged.map((a) => a.actor_id), [workflow.id]);
  const started = await app.query("SELECT actor_type, actor_id FROM audit_log WHERE action = 'workflow.run.start' AND target_id = ?", run.id);
  assert.deepEqual(started, [{ actor_type: "system", actor_id: workflow.id }]);
  const events = await app.query("SELECT name FROM events WHERE properties LIKE ? ORDER BY at", `%${run.id}%`);
  assert.ok(events.some((e) => e.name === "workflow.run.succeed"), JSON.stringify(events));

  // The workflow's own change (asset.update) starts nothing, and only the image ran.
  const runs = (await owner.client.get(`${workflowsPath(workflow.id)}/runs`)).body.runs;
  assert.equal(runs.length, 1);
});

test("a failing step retries with backoff, then fails the run visibly", async () => {
  const { workflow } = await createWorkflow({
    name: "Publish to a receiver that is down",
    trigger: { type: "manual" },
    steps: [
      { id: "publish", type: "webhook", url: `${receiver.url}/fail`, event: "post.publish", max_attempts: 3 },
      { id: "celebrate", type: "webhook", url: `${receiver.url}/ok`, after: ["publish"] },
    ],
  });
  const started = await owner.client.post(`${workflowsPath(workflow.id)}/runs`, { input: { post: "launch" } });
  assert.equal(started.status, 202, started.text);
  const run = await runEnded(workflow.id, started.body.run.id, 90_000);
  assert.equal(run.status, "failed");
  assert.equal(run.error.step, "publish");
  assert.match(run.error.message, /3 attempts.*answered 500/);
  const publish = stepOf(run, "publish");
  assert.equal(publish.status, "failed");
  assert.equal(publish.attempts, 3);
  assert.equal(publish.error.attempts, 3);
  assert.equal(stepOf(run, "celebrate").status, "cancelled");

  // Three deliveries with one delivery id, each retry after a backoff delay.
  const tries = deliveriesOf(run.id);
  assert.equal(tries.length, 3);
  assert.ok(tries.every((t) => t.verified && t.delivery === `${run.id}:publish` && t.path === "/fail"));
  for (let i = 1; i < tries.length; i++) {
    assert.ok(tries[i].at - tries[i - 1].at >= 900, `retry ${i} came ${tries[i].at - tries[i - 1].at} ms after the previous attempt`);
  }
  const [job] = await app.query("SELECT status, attempts FROM jobs WHERE id = ?", publish.job_id);
  assert.deepEqual(job, { status: "dead", attempts: 3 });
  // The dead job is an issue in the organisation's error tracker, naming the job.
  const errors = await owner.client.get(`/v1/orgs/${owner.org.id}/errors`);
  assert.equal(errors.status, 200, errors.text);
  const issue = errors.body.items.find((i) => i.source === "queue" && i.location === "queue automation_step (dead_lettered)");
  assert.ok(issue, errors.text);
  assert.match(issue.message, /^automation_step job failed: dead_lettered: .*answered 500/);
  assert.equal(issue.last_request_id, publish.job_id);
  const failed = await owner.client.get(`${workflowsPath(workflow.id)}/runs?status=failed`);
  assert.deepEqual(failed.body.runs.map((r) => r.id), [run.id]);
});

test("a cron-triggered workflow runs from the local scheduled handler, once per due time", async () => {
  const { workflow } = await createWorkflow({
    name: "Minute digest",
    trigger: { type: "cron", cron: "* * * * *" },
    steps: [{ id: "digest", type: "webhook", url: `${receiver.url}/ok`, event: "digest.ready", input: { due: "{{trigger.scheduled_at}}" } }],
  });
  const due = Date.parse(workflow.next_run_at);
  assert.ok(due > Date.now() - 1000 && due <= Date.now() + 60_000, workflow.next_run_at);
  assert.equal(new Date(due).getUTCSeconds(), 0);
  // wrangler's --test-scheduled: the Worker's real cron handler, at the current time.
  const tick = async () => {
    const res = await app.fetch(`/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
    assert.equal(res.status, 200, await res.text());
  };
  const runs = async () => (await owner.client.get(`${workflowsPath(workflow.id)}/runs`)).body.runs;

  if (Date.now() < due - 1500) {
    await tick();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await runs()).length, 0, "not due yet");
  }
  await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now() + 500)));
  await tick();
  const [listed] = await waitFor("the cron run", async () => ((await runs()).length ? runs() : null));
  const run = await runEnded(workflow.id, listed.id);
  assert.equal(run.status, "succeeded");
  assert.equal(run.trigger_kind, "cron");
  assert.equal(Date.parse(run.trigger.scheduled_at), due);
  const [delivery] = deliveriesOf(run.id);
  assert.ok(delivery.verified);
  assert.equal(delivery.body.data.due, run.trigger.scheduled_at);

  // Another tick within the minute starts nothing more; the next due time moved on a minute.
  await tick();
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await runs()).length, 1);
  const moved = (await owner.client.get(workflowsPath(workflow.id))).body.workflow;
  assert.equal(Date.parse(moved.next_run_at), due + 60_000);
});

test("an approval step waits, the run keeps its version, and it continues once approved", async () => {
  const definition = (event) => ({
    name: "Review before publishing",
    trigger: { type: "manual" },
    steps: [
      { id: "review", type: "approval", timeout_seconds: 3600 },
      { id: "publish", type: "webhook", after: ["review"], url: `${receiver.url}/ok`, event, input: { approved_by: "{{steps.review.output.by.id}}", note: "{{steps.review.output.comment}}" } },
    ],
  });
  const { workflow } = await createWorkflow(definition("video.publish"));
  const runsPath = `${workflowsPath(workflow.id)}/runs`;
  const started = await owner.client.post(runsPath, { input: { video: "launch" } });
  assert.equal(started.status, 202, started.text);
  const runId = started.body.run.id;
  await waitFor("the approval to wait", async () => stepOf(await getRun(workflow.id, runId), "review").status === "waiting");
  await new Promise((r) => setTimeout(r, 1500));
  let run = await getRun(workflow.id, runId);
  assert.equal(run.status, "running");
  assert.equal(stepOf(run, "publish").status, "pending");
  assert.ok(stepOf(run, "review").wait_until);
  assert.equal(deliveriesOf(runId).length, 0, "nothing published before the approval");

  // A new version meanwhile: this run keeps version 1.
  const saved = await owner.client.request("PUT", workflowsPath(workflow.id), { definition: definition("video.publish.v2") });
  assert.equal(saved.status, 200, saved.text);
  assert.equal(saved.body.workflow.version, 2);
  const [lineage] = await app.query("SELECT parent_id FROM asset_lineage WHERE child_id = ?", saved.body.workflow.definition_asset_id);
  assert.equal(lineage.parent_id, workflow.definition_asset_id);

  expectError(assert, await owner.client.post(`${runsPath}/${runId}/steps/publish/approve`, { approved: true }), 409, "not_an_approval");
  const approved = await owner.client.post(`${runsPath}/${runId}/steps/review/approve`, { approved: true, comment: "ship it" });
  assert.equal(approved.status, 200, approved.text);
  run = await runEnded(workflow.id, runId);
  assert.equal(run.status, "succeeded");
  assert.equal(run.version, 1);
  assert.deepEqual(stepOf(run, "review").output, { approved: true, by: { type: "user", id: owner.user.id }, comment: "ship it" });
  const [delivery] = deliveriesOf(runId);
  assert.equal(delivery.event, "video.publish");
  assert.deepEqual(delivery.body.data, { approved_by: owner.user.id, note: "ship it" });
  expectError(assert, await owner.client.post(`${runsPath}/${runId}/steps/review/approve`, { approved: true }), 409, "not_waiting");

  // Rejected, the run fails and publishes nothing; new runs use version 2.
  const second = await owner.client.post(runsPath, {});
  assert.equal(second.body.run.version, 2);
  const secondId = second.body.run.id;
  await waitFor("the second approval", async () => stepOf(await getRun(workflow.id, secondId), "review").status === "waiting");
  const rejected = await owner.client.post(`${runsPath}/${secondId}/steps/review/approve`, { approved: false, comment: "not yet" });
  assert.equal(rejected.status, 200, rejected.text);
  run = await runEnded(workflow.id, secondId);
  assert.equal(run.status, "failed");
  assert.equal(run.error.code, "rejected");
  assert.equal(stepOf(run, "publish").status, "cancelled");
  assert.equal(deliveriesOf(secondId).length, 0);
});

test("conditions branch, for_each fans out within its concurrency, MCP tools run through our catalog", async () => {
  const { workflow } = await createWorkflow({
    name: "Fan out",
    trigger: { type: "manual" },
    steps: [
      { id: "check", type: "condition", if: { left: "{{trigger.count}}", op: "gt", right: 2 }, then: ["big"], else: ["small"] },
      { id: "big", type: "webhook", after: ["check"], url: `${receiver.url}/ok`, event: "batch.big" },
      { id: "small", type: "webhook", after: ["check"], url: `${receiver.url}/ok`, event: "batch.small" },
      { id: "after_small", type: "delay", seconds: 1, after: ["small"] },
      {
        id: "each", type: "for_each", after: ["big"], items: "{{trigger.names}}", concurrency: 2,
        each: { id: "send", type: "webhook", url: `${receiver.url}/ok`, event: "batch.item", input: { name: "{{item}}" } },
      },
      { id: "find", type: "mcp_tool", tool: "search_assets", after: ["each"], input: { q: "Fan", tag: "workflow", limit: 5 } },
    ],
  });
  const started = await owner.client.post(`${workflowsPath(workflow.id)}/runs`, { input: { count: 3, names: ["ada", "grace", "linus"] } });
  const run = await runEnded(workflow.id, started.body.run.id);
  assert.equal(run.status, "succeeded", JSON.stringify(run, null, 1));
  assert.deepEqual(stepOf(run, "check").output.result, true);
  assert.equal(stepOf(run, "big").status, "succeeded");
  assert.equal(stepOf(run, "small").status, "skipped");
  assert.equal(stepOf(run, "after_small").status, "skipped");
  assert.equal(stepOf(run, "each").output.count, 3);
  assert.deepEqual(run.steps.filter((s) => s.key.startsWith("each[")).map((s) => s.status), ["succeeded", "succeeded", "succeeded"]);
  const items = deliveriesOf(run.id).filter((d) => d.event === "batch.item").map((d) => d.body.data.name).sort();
  assert.deepEqual(items, ["ada", "grace", "linus"]);
  assert.equal(deliveriesOf(run.id).filter((d) => d.event === "batch.small").length, 0);
  // The MCP tool saw the organisation's workflow definitions in the asset graph.
  const found = stepOf(run, "find").output;
  assert.ok(Array.isArray(found.items), JSON.stringify(found).slice(0, 500));
  assert.ok(found.items.some((a) => a.id === workflow.definition_asset_id), JSON.stringify(found).slice(0, 500));
});

test("runs can be paused, resumed and cancelled; workflows can be paused", async () => {
  const { workflow } = await createWorkflow({
    name: "Slow pipeline",
    trigger: { type: "manual" },
    steps: [
      { id: "review", type: "approval" },
      { id: "wait", type: "delay", seconds: 1, after: ["review"] },
      { id: "publish", type: "webhook", after: ["wait"], url: `${receiver.url}/ok` },
    ],
  });
  const runsPath = `${workflowsPath(workflow.id)}/runs`;
  const runId = (await owner.client.post(runsPath, {})).body.run.id;
  await waitFor("the approval", async () => stepOf(await getRun(workflow.id, runId), "review").status === "waiting");
  const paused = await owner.client.post(`${runsPath}/${runId}/pause`);
  assert.equal(paused.status, 200, paused.text);
  assert.equal(paused.body.run.status, "paused");
  await owner.client.post(`${runsPath}/${runId}/steps/review/approve`, { approved: true });
  await new Promise((r) => setTimeout(r, 2500));
  let run = await getRun(workflow.id, runId);
  assert.equal(run.status, "paused");
  assert.equal(stepOf(run, "wait").status, "pending", "nothing starts while paused");
  const resumed = await owner.client.post(`${runsPath}/${runId}/resume`);
  assert.equal(resumed.status, 200, resumed.text);
  run = await runEnded(workflow.id, runId);
  assert.equal(run.status, "succeeded");
  assert.equal(deliveriesOf(runId).length, 1);

  const cancelledId = (await owner.client.post(runsPath, {})).body.run.id;
  await waitFor("the approval", async () => stepOf(await getRun(workflow.id, cancelledId), "review").status === "waiting");
  const cancelled = await owner.client.post(`${runsPath}/${cancelledId}/cancel`);
  assert.equal(cancelled.status, 200, cancelled.text);
  assert.equal(cancelled.body.run.status, "cancelled");
  assert.deepEqual(cancelled.body.run.steps.map((s) => s.status), ["cancelled", "cancelled", "cancelled"]);
  expectError(assert, await owner.client.post(`${runsPath}/${cancelledId}/cancel`), 409, "run_ended");
  expectError(assert, await owner.client.post(`${runsPath}/${cancelledId}/steps/review/approve`, { approved: true }), 409, "not_waiting");

  const off = await owner.client.patch(workflowsPath(workflow.id), { status: "paused" });
  assert.equal(off.body.workflow.status, "paused");
  expectError(assert, await owner.client.post(runsPath, {}), 409, "workflow_paused");
  expectError(assert, await owner.client.patch(workflowsPath(workflow.id), { status: "sleeping" }), 422, "invalid_status");
});

test("a wait_event step waits for the matching event of the organisation, then continues", async () => {
  const upload = async (text, name) => {
    const res = await app.fetch(`/v1/orgs/${orgId}/assets?name=${encodeURIComponent(name)}`, {
      method: "POST", headers: { authorization: `Bearer ${owner.session.token}`, "content-type": "application/octet-stream" }, body: Buffer.from(text),
    });
    assert.equal(res.status, 201);
    return (await res.json()).asset;
  };
  const brief = await upload("the brief, to be reviewed\n", "brief.txt");
  const other = await upload("some other notes\n", "other.txt");
  const { workflow } = await createWorkflow({
    name: "Wait for the brief to be tagged",
    trigger: { type: "manual" },
    steps: [
      { id: "wait", type: "wait_event", event: "asset.updated", match: { asset_id: "{{trigger.asset_id}}" }, timeout_seconds: 600 },
      { id: "notify", type: "webhook", after: ["wait"], url: `${receiver.url}/ok`, input: { changed: "{{steps.wait.output.changed}}", by: "{{steps.wait.output.actor.id}}" } },
    ],
  });
  const started = await owner.client.post(`${workflowsPath(workflow.id)}/runs`, { input: { asset_id: brief.id } });
  const runId = started.body.run.id;
  const waiting = await waitFor("the wait", async () => {
    const run = await getRun(workflow.id, runId);
    return stepOf(run, "wait").status === "waiting" ? run : null;
  });
  assert.deepEqual(stepOf(waiting, "wait").input, { event: "asset.update", match: { asset_id: brief.id } });
  assert.equal(stepOf(waiting, "wait").wait_event, "asset.update");

  // Another asset's change is not the awaited event.
  assert.equal((await owner.client.patch(`/v1/assets/${other.id}`, { tags: ["other"] })).status, 200);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(stepOf(await getRun(workflow.id, runId), "wait").status, "waiting");

  assert.equal((await owner.client.patch(`/v1/assets/${brief.id}`, { tags: ["reviewed"] })).status, 200);
  const run = await runEnded(workflow.id, runId);
  assert.equal(run.status, "succeeded");
  assert.equal(stepOf(run, "wait").output.asset_id, brief.id);
  const [delivery] = deliveriesOf(runId);
  assert.deepEqual(delivery.body.data, { changed: ["tags"], by: owner.user.id });
});

test("an approval past its timeout fails the run at the next cron tick", async () => {
  const { workflow } = await createWorkflow({
    name: "Quick review",
    trigger: { type: "manual" },
    steps: [
      { id: "review", type: "approval", timeout_seconds: 1 },
      { id: "publish", type: "webhook", after: ["review"], url: `${receiver.url}/ok` },
    ],
  });
  const runId = (await owner.client.post(`${workflowsPath(workflow.id)}/runs`, {})).body.run.id;
  await waitFor("the approval", async () => stepOf(await getRun(workflow.id, runId), "review").status === "waiting");
  await new Promise((r) => setTimeout(r, 1200));
  const res = await app.fetch(`/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
  assert.equal(res.status, 200);
  const run = await runEnded(workflow.id, runId);
  assert.equal(run.status, "failed");
  assert.deepEqual([run.error.code, run.error.step], ["timeout", "review"]);
  assert.equal(stepOf(run, "publish").status, "cancelled");
  assert.equal(deliveriesOf(runId).length, 0);
});

test("runs beyond the organisation's limit wait queued, and start as others end", async () => {
  const { workflow } = await createWorkflow({
    name: "Held for review",
    trigger: { type: "manual" },
    steps: [{ id: "review", type: "approval" }],
  });
  const runsPath = `${workflowsPath(workflow.id)}/runs`;
  const ids = [];
  const statuses = [];
  for (let i = 0; i < 4; i++) {
    const res = await owner.client.post(runsPath, { input: { n: i } });
    assert.equal(res.status, 202, res.text);
    ids.push(res.body.run.id);
    statuses.push(res.body.run.status);
  }
  assert.deepEqual(statuses, ["running", "running", "running", "queued"]);
  await new Promise((r) => setTimeout(r, 1000));
  const held = await getRun(workflow.id, ids[3]);
  assert.equal(held.status, "queued");
  assert.deepEqual(held.steps.map((s) => s.status), ["pending"]);

  assert.equal((await owner.client.post(`${runsPath}/${ids[0]}/cancel`)).status, 200);
  await waitFor("the queued run to start", async () => stepOf(await getRun(workflow.id, ids[3]), "review").status === "waiting");
  assert.equal((await getRun(workflow.id, ids[3])).status, "running");
  for (const id of ids.slice(1)) assert.equal((await owner.client.post(`${runsPath}/${id}/cancel`)).status, 200);
});

test("the run history page and its script are served as static assets", async () => {
  const page = await app.fetch("/automation/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type") ?? "", /text\/html/);
  const html = await page.text();
  assert.match(html, /<title>Workflow runs/);
  assert.match(html, /runs\.js/);
  const script = await app.fetch("/automation/runs.js");
  assert.equal(script.status, 200);
  assert.match(await script.text(), /\/runs\/\$\{state\.run\}/);
});

test("a step claimed but never queued (the Worker stopped in between) is queued again by the cron tick", async () => {
  const { workflow } = await createWorkflow({
    name: "Recovering pipeline",
    trigger: { type: "manual" },
    steps: [
      { id: "review", type: "approval" },
      { id: "publish", type: "webhook", after: ["review"], url: `${receiver.url}/ok`, event: "recovered.publish" },
    ],
  });
  const runId = (await owner.client.post(`${workflowsPath(workflow.id)}/runs`, {})).body.run.id;
  await waitFor("the approval", async () => stepOf(await getRun(workflow.id, runId), "review").status === "waiting");
  // The state a crash leaves between claiming `publish` and writing its job: review ended, publish
  // claimed (queued) with no job, long enough ago.
  await app.query("UPDATE workflow_steps SET status = 'succeeded', output = '{}', finished_at = 1 WHERE run_id = ? AND step_key = 'review'", runId);
  await app.query("UPDATE workflow_steps SET status = 'queued', job_id = NULL, updated_at = 1 WHERE run_id = ? AND step_key = 'publish'", runId);
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await getRun(workflow.id, runId)).status, "running", "nothing moves on its own");
  const res = await app.fetch(`/__scheduled?cron=${encodeURIComponent("*/5 * * * *")}`);
  assert.equal(res.status, 200);
  const run = await runEnded(workflow.id, runId);
  assert.equal(run.status, "succeeded");
  assert.equal(stepOf(run, "publish").attempts, 1);
  assert.equal(deliveriesOf(runId).filter((d) => d.event === "recovered.publish").length, 1);
});
