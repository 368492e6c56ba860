// Analytics & Observability (module 05) through the real Worker: PostHog-compatible capture with
// the real posthog-node client, trends / funnels / retention on a seeded dataset against
// hand-computed values, large batches through the ANALYTICS queue, feature flags (also through
// posthog-node), experiments with the sample-ratio-mismatch check, error issues grouped by
// fingerprint (browser reports and Worker crashes), Server-Timing and latency percentiles.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { PostHog } from "posthog-node";
import { Client, GOOD_PASSWORD, expectError, signup, startApp, uniqueEmail } from "./harness.mjs";
import { startSentryReceiver } from "./support/analytics-sentry.mjs";
import { launchBrowser, signUpInPage } from "./support/browser.mjs";

const ADMIN_EMAIL = `ops.analytics.${Date.now().toString(36)}@example.com`;
const DAY = 86_400_000;
const HOUR = 3_600_000;

let app;
let owner;
let orgId;
let key;
let ops;
let sentry;
before(async () => {
  sentry = await startSentryReceiver();
  app = await startApp({ vars: { PLATFORM_ADMIN_EMAILS: ADMIN_EMAIL, SENTRY_DSN: sentry.dsn, RELEASE: "worker-test-1" } });
  owner = await signup(app, "owner");
  orgId = owner.org.id;
  const created = await owner.client.post(`/v1/orgs/${orgId}/analytics/keys`, { name: "website" });
  assert.equal(created.status, 201, created.text);
  key = created.body.key;
  const res = await new Client(app).post("/v1/auth/signup", { email: ADMIN_EMAIL, password: GOOD_PASSWORD, name: "ops" });
  assert.equal(res.status, 201, res.text);
  ops = new Client(app, { token: res.body.session.token });
});
after(async () => {
  await app?.dispose();
  await sentry?.close();
});

const iso = (ms) => new Date(ms).toISOString().replace(".000Z", "Z");
let uuidCounter = 0;
/** A PostHog event as the clients send it. */
function event(name, distinctId, at, properties = {}) {
  uuidCounter += 1;
  return {
    event: name,
    distinct_id: distinctId,
    properties,
    timestamp: iso(at),
    uuid: `01900000-0000-7000-8000-${String(uuidCounter).padStart(12, "0")}`,
    type: "capture",
  };
}

async function capture(events, path = "/batch/") {
  const res = await app.fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ api_key: key, batch: events }),
  });
  const body = await res.json();
  assert.equal(res.status, 200, JSON.stringify(body));
  return body;
}

async function eventually(read, check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await read();
    if (check(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what}: last seen ${JSON.stringify(last?.body ?? last)}`);
}

test("posthog-node captures into the API (gzip batches) and the events appear in a trend", async () => {
  // The client's own requests, observed on their way (posthog-node's `fetch` option).
  const sent = [];
  const observe = (url, options) => {
    sent.push({ path: new URL(url).pathname, encoding: options.headers?.["Content-Encoding"] });
    return fetch(url, options);
  };
  const client = new PostHog(key, { host: app.base, flushAt: 1, flushInterval: 0, fetch: observe });
  client.capture({ distinctId: "ph-user-1", event: "editor_opened", properties: { plan: "pro" } });
  client.capture({ distinctId: "ph-user-2", event: "editor_opened", properties: { plan: "free" } });
  client.capture({ distinctId: "ph-user-1", event: "editor_opened", properties: { plan: "pro" } });
  client.groupIdentify({ groupType: "organisation", groupKey: orgId, properties: { name: "Owner's org" } });
  await client.shutdown();
  assert.ok(sent.length >= 1 && sent.every((r) => r.path === "/batch/"), JSON.stringify(sent));
  assert.ok(sent.some((r) => r.encoding === "gzip"), "posthog-node sent gzip bodies");

  const count = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=editor_opened&interval=day&from=${Date.now() - DAY}`);
  assert.equal(count.status, 200, count.text);
  assert.equal(count.body.series[0].total, 3);
  const unique = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=editor_opened&measure=unique&breakdown=plan&from=${Date.now() - DAY}`);
  const byPlan = Object.fromEntries(unique.body.series.map((s) => [s.breakdown, s.total]));
  assert.deepEqual(byPlan, { pro: 1, free: 1 });
  const groups = await app.query("SELECT group_type, group_key, properties FROM analytics_groups WHERE org_id = ?", orgId);
  assert.equal(groups.length, 1);
  assert.equal(JSON.parse(groups[0].properties).name, "Owner's org");
  // Capture needs a live ingestion key, and changes nothing otherwise.
  const before = await app.query("SELECT COUNT(*) AS n FROM events WHERE org_id = ?", orgId);
  const refused = await app.fetch("/batch/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ api_key: "cos_pub_not-a-key", batch: [event("x", "a", Date.now())] }),
  });
  assert.equal(refused.status, 401);
  const invalid = await app.fetch("/batch/", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ api_key: key, batch: [event("ok", "a", Date.now()), { distinct_id: "a" }] }),
  });
  const invalidBody = await invalid.json();
  assert.equal(invalid.status, 422);
  assert.equal(invalidBody.error.code, "invalid_event");
  assert.match(invalidBody.error.message, /^event 1:/);
  const malformed = await app.fetch("/e/", { method: "POST", body: "{nope" });
  assert.equal(malformed.status, 400);
  const afterCount = await app.query("SELECT COUNT(*) AS n FROM events WHERE org_id = ?", orgId);
  assert.equal(afterCount[0].n, before[0].n, "refused batches write nothing");
});

test("trends, funnels and retention equal hand-computed values on a seeded dataset", async () => {
  const t0 = Math.floor(Date.now() / DAY) * DAY - 3 * DAY;
  const h = (hours) => t0 + hours * HOUR;
  await capture([
    // Funnel signup → upload → publish within a day.
    event("signup", "p1", h(1)), event("upload", "p1", h(2)), event("publish", "p1", h(3)),
    event("signup", "p2", h(1)), event("upload", "p2", h(5)), event("publish", "p2", h(26)),
    event("signup", "p3", h(2)), event("publish", "p3", h(3)), event("upload", "p3", h(4)),
    event("upload", "p4", h(1)), event("signup", "p4", h(2)),
    event("publish", "p5", h(3)),
    event("signup", "p6", h(25)),
    // Views: day 0, day 1, day 2.
    event("video_viewed", "p1", h(4), { plan: "pro" }), event("video_viewed", "p1", h(5), { plan: "pro" }),
    event("video_viewed", "p1", h(6), { plan: "pro" }), event("video_viewed", "p2", h(7), { plan: "free" }),
    event("video_viewed", "anon-7", h(8), { plan: "pro" }),
    event("video_viewed", "p1", h(30), { plan: "pro" }), event("video_viewed", "p3", h(31), { plan: "free" }),
    event("video_viewed", "p3", h(32), { plan: "free" }),
    event("video_viewed", "p6", h(49)),
    // The anonymous viewer was p1 all along.
    { ...event("$identify", "p1", h(9), { $anon_distinct_id: "anon-7" }), $set: { email: "p1@example.com" } },
  ]);
  const range = `from=${t0}&to=${t0 + 3 * DAY}`;
  const trend = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=video_viewed&interval=day&${range}`);
  assert.equal(trend.status, 200, trend.text);
  assert.deepEqual(trend.body.buckets, [iso(t0), iso(t0 + DAY), iso(t0 + 2 * DAY)]);
  assert.deepEqual(trend.body.series[0].values, [5, 3, 1]);
  const unique = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=video_viewed&measure=unique&${range}`);
  assert.deepEqual(unique.body.series[0].values, [2, 2, 1], "anon-7 counts as p1");
  const byPlan = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=video_viewed&breakdown=plan&${range}`);
  const lines = Object.fromEntries(byPlan.body.series.map((s) => [String(s.breakdown), s.values]));
  assert.deepEqual(lines, { pro: [4, 1, 0], free: [1, 2, 0], null: [0, 0, 1] });
  const hourly = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=video_viewed&interval=hour&from=${h(4)}&to=${h(9)}`);
  assert.deepEqual(hourly.body.series[0].values, [1, 1, 1, 1, 1]);

  const funnel = await owner.client.get(`/v1/orgs/${orgId}/analytics/funnel?steps=signup,upload,publish&window_seconds=86400&${range}`);
  assert.equal(funnel.status, 200, funnel.text);
  assert.deepEqual(funnel.body.steps.map((s) => s.count), [5, 3, 1]);
  assert.equal(funnel.body.steps[2].conversion, 0.2);
  // Mean time signup → upload: p1 1 h, p2 4 h, p3 2 h.
  assert.equal(funnel.body.steps[1].avg_seconds_from_previous, (1 + 4 + 2) * 3600 / 3);
  const wide = await owner.client.get(`/v1/orgs/${orgId}/analytics/funnel?steps=signup,upload,publish&window_seconds=172800&${range}`);
  assert.deepEqual(wide.body.steps.map((s) => s.count), [5, 3, 2], "p2 publishes within two days");

  const retention = await owner.client.get(
    `/v1/orgs/${orgId}/analytics/retention?start_event=signup&return_event=video_viewed&period=day&periods=2&from=${t0}&to=${t0 + 2 * DAY}`,
  );
  assert.equal(retention.status, 200, retention.text);
  assert.deepEqual(retention.body.cohorts, [
    { cohort: iso(t0), size: 4, values: [4, 2, 0] },
    { cohort: iso(t0 + DAY), size: 1, values: [1, 1, 0] },
  ]);

  const props = await owner.client.get(`/v1/orgs/${orgId}/analytics/properties?event=video_viewed&property=plan&${range}`);
  assert.deepEqual(props.body.items, [{ value: "pro", count: 5 }, { value: "free", count: 3 }, { value: null, count: 1 }]);
  const person = await app.query("SELECT properties FROM persons WHERE org_id = ? AND person_id = 'p1'", orgId);
  assert.equal(JSON.parse(person[0].properties).email, "p1@example.com");

  // Bad queries are refused in the one error shape; other organisations see nothing.
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=x&interval=month`), 422, "invalid_interval");
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?${range}`), 422, "missing_parameter");
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/analytics/funnel?steps=signup`), 422, "invalid_steps");
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=x&breakdown=a"b`), 422, "invalid_property");
  const stranger = await signup(app, "stranger");
  expectError(assert, await stranger.client.get(`/v1/orgs/${orgId}/analytics/trends?event=video_viewed`), 404, "not_found");
});

test("a large batch goes through the ANALYTICS queue and every event lands once", async () => {
  const at = Date.now() - 60_000;
  const events = Array.from({ length: 230 }, (_, i) => event("bulk_import", `bulk-${i % 23}`, at));
  const answer = await capture(events);
  assert.equal(answer.queued, true);
  assert.equal(answer.accepted, 230);
  // The same batch again (a client's retry) adds nothing: event ids come from the uuids.
  await capture(events);
  const res = await eventually(
    () => owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=bulk_import&from=${at - HOUR}`),
    (r) => r.body?.series?.[0]?.total === 230,
    "230 queued events written",
  );
  assert.equal(res.body.series[0].total, 230);
  await new Promise((r) => setTimeout(r, 1500));
  const rows = await app.query("SELECT COUNT(*) AS n FROM events WHERE org_id = ? AND name = 'bulk_import'", orgId);
  assert.equal(rows[0].n, 230);
});

test("feature flags: targeting, stable rollouts, payloads, audited changes, and posthog-node", async () => {
  const created = await owner.client.post(`/v1/orgs/${orgId}/flags`, {
    key: "new-timeline",
    description: "the new timeline UI",
    variants: [{ key: "control", weight: 50 }, { key: "compact", weight: 50 }],
    rules: [
      { conditions: [{ property: "email", operator: "contains", value: "@example.com" }], variant: "compact" },
      { conditions: [], rollout_percentage: 50 },
    ],
    payloads: { compact: { density: 0.8 } },
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.body.flag.version, 1);

  // p1 has email p1@example.com (from $identify's $set): the first rule forces "compact".
  const p1 = await owner.client.post(`/v1/orgs/${orgId}/flag-evaluations`, { distinct_id: "p1" });
  assert.equal(p1.status, 200, p1.text);
  assert.deepEqual(p1.body.flags[0], { key: "new-timeline", enabled: true, variant: "compact", payload: { density: 0.8 }, reason: "rule_match", rule: 0 });
  // Everyone else: 50 % rollout, stable per actor, about half of 400.
  let on = 0;
  for (let i = 0; i < 400; i += 1) {
    const first = await owner.client.post(`/v1/orgs/${orgId}/flag-evaluations`, { distinct_id: `visitor-${i}` });
    if (i < 20) {
      const again = await owner.client.post(`/v1/orgs/${orgId}/flag-evaluations`, { distinct_id: `visitor-${i}` });
      assert.deepEqual(again.body, first.body, "stable per actor");
    }
    if (first.body.flags[0].enabled) on += 1;
  }
  assert.ok(on > 140 && on < 260, `${on} of 400 in a 50 % rollout`);

  // posthog-node reads the same answers from /flags/.
  const client = new PostHog(key, { host: app.base, flushAt: 1, flushInterval: 0 });
  const p1Flags = await client.evaluateFlags("p1");
  assert.equal(p1Flags.getFlag("new-timeline"), "compact");
  assert.deepEqual(p1Flags.getFlagPayload("new-timeline"), { density: 0.8 });
  const visitor = (await owner.client.post(`/v1/orgs/${orgId}/flag-evaluations`, { distinct_id: "visitor-3" })).body.flags[0];
  const visitorFlags = await client.evaluateFlags("visitor-3");
  assert.equal(visitorFlags.getFlag("new-timeline"), visitor.enabled ? visitor.variant : false);
  await client.shutdown();
  // getFlag() sent an exposure ($feature_flag_called), which experiments count.
  const exposures = await app.query(
    "SELECT properties FROM events WHERE org_id = ? AND name = '$feature_flag_called' AND actor_id = 'p1'",
    orgId,
  );
  assert.ok(exposures.some((row) => JSON.parse(row.properties).$feature_flag_response === "compact"), JSON.stringify(exposures));

  // Changes are versioned and audited; bad definitions change nothing.
  const off = await owner.client.patch(`/v1/orgs/${orgId}/flags/new-timeline`, { enabled: false });
  assert.equal(off.status, 200, off.text);
  assert.equal(off.body.flag.version, 2);
  const p1Off = await owner.client.post(`/v1/orgs/${orgId}/flag-evaluations`, { distinct_id: "p1" });
  assert.equal(p1Off.body.flags[0].enabled, false, "the change is seen at once by this isolate");
  const bad = await owner.client.patch(`/v1/orgs/${orgId}/flags/new-timeline`, { variants: [{ key: "a", weight: 60 }, { key: "b", weight: 30 }] });
  expectError(assert, bad, 422, "invalid_flag");
  const still = await owner.client.get(`/v1/orgs/${orgId}/flags`);
  assert.equal(still.body.items[0].version, 2);
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/flags`, { key: "new-timeline" }), 409, "flag_exists");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/flags`, { key: "bad key!" }), 422, "invalid_key");
  const audit = await owner.client.get(`/v1/orgs/${orgId}/audit?limit=200`);
  const actions = audit.body.items.map((item) => item.action);
  assert.ok(actions.includes("flag.create") && actions.includes("flag.update"), actions.join(","));
});

/** Wilson 95 % interval, computed independently of the server. */
function wilson(successes, trials) {
  const z = 1.959963984540054;
  const p = successes / trials;
  const denominator = 1 + (z * z) / trials;
  const centre = (p + (z * z) / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + (z * z) / (4 * trials * trials))) / denominator;
  return [centre - half, centre + half];
}

async function experimentOn(flagKey, control, test, conversions) {
  const flag = await owner.client.post(`/v1/orgs/${orgId}/flags`, {
    key: flagKey,
    variants: [{ key: "control", weight: 50 }, { key: "test", weight: 50 }],
  });
  assert.equal(flag.status, 201, flag.text);
  const experiment = await owner.client.post(`/v1/orgs/${orgId}/experiments`, { key: `${flagKey}-exp`, flag_key: flagKey, metric_event: "purchase" });
  assert.equal(experiment.status, 201, experiment.text);
  const at = Date.now() - 10 * 60_000;
  const events = [];
  const exposure = (actor, variant) => event("$feature_flag_called", actor, at, { $feature_flag: flagKey, $feature_flag_response: variant });
  for (let i = 0; i < control; i += 1) events.push(exposure(`${flagKey}-c${i}`, "control"));
  for (let i = 0; i < test; i += 1) events.push(exposure(`${flagKey}-t${i}`, "test"));
  for (let i = 0; i < conversions.control; i += 1) events.push(event("purchase", `${flagKey}-c${i}`, at + 60_000));
  for (let i = 0; i < conversions.test; i += 1) events.push(event("purchase", `${flagKey}-t${i}`, at + 60_000));
  // A purchase before exposure is no conversion.
  events.push(event("purchase", `${flagKey}-c${control - 1}`, at - 60_000));
  for (let i = 0; i < events.length; i += 100) await capture(events.slice(i, i + 100));
  const results = await owner.client.get(`/v1/orgs/${orgId}/experiments/${experiment.body.experiment.id}/results`);
  assert.equal(results.status, 200, results.text);
  return results.body;
}

test("experiment results have Wilson intervals, and the SRM check fires on a skewed assignment only", async () => {
  const skewed = await experimentOn("cta-color", 300, 200, { control: 30, test: 40 });
  assert.deepEqual(skewed.variants.map((v) => [v.variant, v.exposures, v.conversions]), [["control", 300, 30], ["test", 200, 40]]);
  const [low, high] = wilson(40, 200);
  assert.ok(Math.abs(skewed.variants[1].rate_interval[0] - low) < 1e-9 && Math.abs(skewed.variants[1].rate_interval[1] - high) < 1e-9);
  assert.equal(skewed.variants[0].difference_interval, null);
  assert.ok(skewed.variants[1].difference_interval[0] > 0, "test converts better than control (0.2 vs 0.1)");
  // χ² = (300−250)²/250 + (200−250)²/250 = 20 → p ≈ 7.7e-6.
  assert.ok(Math.abs(skewed.srm.chi_square - 20) < 1e-9, JSON.stringify(skewed.srm));
  assert.ok(skewed.srm.p_value < 0.001);
  assert.equal(skewed.srm.mismatch, true);

  const fair = await experimentOn("cta-copy", 252, 248, { control: 25, test: 25 });
  assert.equal(fair.srm.mismatch, false, JSON.stringify(fair.srm));
  assert.ok(fair.srm.p_value > 0.5);

  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/experiments`, { key: "x", flag_key: "missing", metric_event: "purchase" }), 422, "unknown_flag");
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/experiments/exp_01JD0000000000000000000000/results`), 404, "not_found");
});

test("errors group by fingerprint: browser reports and Worker crashes, with counts and first/last seen", async () => {
  const report = (message, line) => owner.client.post("/v1/errors", {
    message,
    stack: `TypeError: ${message}\n    at drawClip (https://app.example/js/editor/timeline.js:${line}:7)`,
    url: "https://app.example/app/projects/prj_1",
    release: "web-2026.11.27",
    org_id: orgId,
  });
  const first = await report("clip clp_01JD3K8ZX4W5V6T7S8R9Q0P1N2 has no track 12", 88);
  assert.equal(first.status, 202, first.text);
  const second = await report("clip clp_01JD3K8ZX4W5V6T7S8R9Q0ZZZZ has no track 7", 88);
  assert.equal(second.body.issue_id, first.body.issue_id, "ids and numbers do not split an issue");
  const elsewhere = await report("clip clp_01JD3K8ZX4W5V6T7S8R9Q0P1N2 has no track 12", 120);
  assert.notEqual(elsewhere.body.issue_id, first.body.issue_id, "another location is another issue");
  const issues = await owner.client.get(`/v1/orgs/${orgId}/errors`);
  assert.equal(issues.status, 200, issues.text);
  const grouped = issues.body.items.find((i) => i.id === first.body.issue_id);
  assert.equal(grouped.count, 2);
  assert.equal(grouped.source, "browser");
  assert.equal(grouped.location, "at drawClip (/js/editor/timeline.js:88:7)");
  assert.ok(grouped.first_seen <= grouped.last_seen);
  assert.equal(issues.body.items.length, 2);
  // Each report was forwarded to Sentry (a loopback receiver) with its fingerprint.
  const forwarded = sentry.events.filter((e) => e.fingerprint[0] === first.body.fingerprint);
  assert.equal(forwarded.length, 2, JSON.stringify(sentry.rejected));
  assert.equal(forwarded[0].release, "web-2026.11.27");
  assert.equal(forwarded[0].platform, "javascript");
  assert.match(forwarded[0].exception.values[0].value, /^clip clp_/);
  assert.deepEqual(sentry.rejected, []);

  const before = await app.query("SELECT COUNT(*) AS n FROM error_events");
  expectError(assert, await owner.client.post("/v1/errors", { message: "" }), 422, "invalid_message");
  expectError(assert, await owner.client.post("/v1/errors", { message: "x", extra: 1 }), 422, "invalid_request");
  const stranger = await signup(app, "stranger2");
  expectError(assert, await stranger.client.post("/v1/errors", { message: "x", org_id: orgId }), 404, "not_found");
  assert.deepEqual(await app.query("SELECT COUNT(*) AS n FROM error_events"), before);

  // Two crashes of the Worker (a panic in Rust) with different request ids: one issue, count 2.
  for (let i = 0; i < 2; i += 1) {
    const crash = await app.fetch("/v1/health", { headers: { "x-fault-injection": "panic" } });
    assert.equal(crash.status, 500);
    const body = await crash.json();
    assert.equal(body.error.code, "internal_error");
  }
  const platform = await ops.get("/v1/ops/errors");
  assert.equal(platform.status, 200, platform.text);
  const crashes = platform.body.items.filter((i) => i.message.startsWith("fault injected by request"));
  assert.equal(crashes.length, 1, JSON.stringify(platform.body.items));
  assert.equal(crashes[0].count, 2);
  assert.equal(crashes[0].source, "worker");
  assert.match(crashes[0].location, /http\/mod\.rs:\d+$/);
  assert.match(crashes[0].last_request_id, /^req_/);
  // Only platform admins see the platform's issues.
  expectError(assert, await owner.client.get("/v1/ops/errors"), 404, "not_found");
});

test("responses carry Server-Timing, and latency percentiles per route are served to platform admins", async () => {
  for (let i = 0; i < 5; i += 1) {
    const res = await owner.client.get(`/v1/orgs/${orgId}/analytics/dashboard?days=7`);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers.get("server-timing"), /^total;dur=\d+/);
  }
  const latency = await ops.get("/v1/ops/latency");
  assert.equal(latency.status, 200, latency.text);
  const route = latency.body.routes.find((r) => r.route === "GET /v1/orgs/{org_id}/analytics/dashboard");
  assert.ok(route && route.count >= 5, JSON.stringify(latency.body));
  assert.ok(route.p50_ms <= route.p95_ms && route.p95_ms <= route.p99_ms && route.p99_ms <= route.max_ms);
  expectError(assert, await owner.client.get("/v1/ops/latency"), 404, "not_found");
});

test("the creator dashboard counts views and the audit trail's events", async () => {
  const now = Date.now();
  await capture([
    event("$pageview", "fan-1", now - 1000), event("$pageview", "fan-2", now - 2000),
    event("$pageview", "fan-1", now - 3000), event("product.view", "fan-3", now - 4000),
  ]);
  const res = await owner.client.get(`/v1/orgs/${orgId}/analytics/dashboard?days=7`);
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.days.length, 7);
  assert.equal(res.body.views.values.at(-1), 4);
  assert.equal(res.body.unique_viewers, 3);
  assert.equal(res.body.sales.total, 0);
  assert.equal(res.body.currency, null);
  assert.equal(res.body.top_events[0].value, "$feature_flag_called", JSON.stringify(res.body.top_events));
  // Audited actions are events too.
  const audited = await owner.client.get(`/v1/orgs/${orgId}/analytics/trends?event=flag.update&from=${now - DAY}`);
  assert.equal(audited.body.series[0].total, 1);
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/analytics/dashboard?days=0`), 422, "invalid_days");
  // The page that draws it is served as a static asset.
  const page = await app.fetch("/analytics/");
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>Analytics · Creator OS<\/title>/);
  const script = await app.fetch("/analytics/dashboard.js");
  assert.equal(script.status, 200);
  assert.match(await script.text(), /analytics\/dashboard\?days=/);
});

test("in the browser, the editor reports an uncaught error and the dashboard page draws the figures", async () => {
  const browser = await launchBrowser();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await signUpInPage(page, app.base, { name: "Casey Creator", email: uniqueEmail("casey"), password: GOOD_PASSWORD });
    const me = await (await context.request.get(`${app.base}/v1/me`)).json();
    const caseyOrg = me.memberships[0].org.id;
    // An error nobody catches, as a bug in the page would raise it.
    await page.evaluate(() => setTimeout(() => { throw new Error("timeline lane 42 has no clips"); }, 0));
    const issues = await eventually(
      async () => (await context.request.get(`${app.base}/v1/orgs/${caseyOrg}/errors`)).json(),
      (body) => body.items?.length === 1,
      "the browser error was reported",
    );
    assert.equal(issues.items[0].source, "browser");
    assert.match(issues.items[0].message, /timeline lane 42 has no clips/);
    assert.equal(issues.items[0].count, 1);

    // The dashboard page, with the session cookie, draws the organisation's figures.
    await page.goto(`${app.base}/analytics/`);
    await page.getByRole("heading", { name: "Views" }).waitFor();
    const figures = await page.locator(".card .figure").allTextContents();
    assert.equal(figures.length, 5, figures.join(" | "));
    assert.equal(await page.locator("svg[aria-label='views per day'] rect").count(), 30);
  } finally {
    await browser.close();
  }
});
