// API conventions shared by every route: the one error shape with the request id, routing
// (404/405), body limits and parsing (413/415/400/422), the OpenAPI document matching what the
// router serves in both directions, panics turned into clean 500s, and health.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, startApp, uniqueEmail } from "./harness.mjs";
import { GOOD_PASSWORD } from "./identity-support.mjs";

let app;
let anon;
let doc;
before(async () => {
  app = await startApp();
  anon = new Client(app);
});
after(async () => {
  await app?.dispose();
});

const METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/** Fills `{param}` placeholders of a template with plausible-looking ids. */
function fill(template) {
  return template.replace(/\{([^}]+)\}/g, (_, name) => `${name.replace(/_id$/, "")}_01PLACEHOLDER0000000000000`);
}

/** Asserts common response headers of every API answer. */
function assertApiHeaders(res) {
  assert.match(res.headers.get("x-request-id") ?? "", /^req_[0-9A-HJKMNP-TV-Z]{26}$/, "x-request-id");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
  assert.equal(res.headers.get("cache-control"), "no-store");
}

test("health answers {status: ok} with a request id", async () => {
  const res = await anon.get("/v1/health");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: "ok" });
  assert.match(res.headers.get("content-type"), /^application\/json/);
  assertApiHeaders(res);
});

test("every request gets its own server-assigned request id; a client-sent one is ignored", async () => {
  const a = await anon.get("/v1/health", { "x-request-id": "req_CHOSEN_BY_THE_CLIENT" });
  const b = await anon.get("/v1/health", { "x-request-id": "req_CHOSEN_BY_THE_CLIENT" });
  assertApiHeaders(a);
  assertApiHeaders(b);
  assert.notEqual(a.headers.get("x-request-id"), "req_CHOSEN_BY_THE_CLIENT");
  assert.notEqual(a.headers.get("x-request-id"), b.headers.get("x-request-id"));
});

test("an unknown route is 404 route_not_found in the one error shape", async () => {
  // ("/" and the other browser pages are static assets, served before the Worker runs.)
  for (const p of ["/v1", "/v1/", "/v1/nope", "/v2/health", "/api/v1/health", "/v1/orgs/x/y/z/w"]) {
    const res = await anon.get(p);
    const error = expectError(assert, res, 404, "route_not_found");
    assert.deepEqual(Object.keys(res.body), ["error"]);
    assert.deepEqual(Object.keys(error).sort(), ["code", "message", "request_id"]);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    assertApiHeaders(res);
  }
});

test("a wrong method on a known path is 405 with an Allow header", async () => {
  const cases = [
    ["POST", "/v1/health", ["GET"]],
    ["DELETE", "/v1/me", ["GET"]],
    ["PUT", "/v1/orgs", ["GET", "POST"]],
    ["GET", "/v1/auth/login", ["POST"]],
    ["POST", "/v1/orgs/org_1/members/usr_1", ["DELETE", "PATCH"]],
  ];
  for (const [method, p, allowed] of cases) {
    const res = await anon.request(method, p);
    expectError(assert, res, 405, "method_not_allowed");
    const allow = (res.headers.get("allow") ?? "").split(",").map((m) => m.trim()).filter(Boolean).sort();
    assert.deepEqual(allow, allowed, `Allow for ${method} ${p}`);
  }
});

test("a body over 64 KiB is refused with 413, declared or streamed", async () => {
  const big = JSON.stringify({ email: uniqueEmail("big"), password: GOOD_PASSWORD, name: "x".repeat(70 * 1024) });
  const declared = await anon.post("/v1/auth/signup", big);
  expectError(assert, declared, 413, "payload_too_large");

  // Without a Content-Length (chunked): the limit is enforced on the bytes read.
  const bytes = new TextEncoder().encode(big);
  const stream = new ReadableStream({
    start(controller) {
      for (let i = 0; i < bytes.length; i += 8192) controller.enqueue(bytes.slice(i, i + 8192));
      controller.close();
    },
  });
  const raw = await app.fetch("/v1/auth/signup", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: stream,
    duplex: "half",
  });
  const text = await raw.text();
  const res = { status: raw.status, headers: raw.headers, body: JSON.parse(text), text };
  expectError(assert, res, 413, "payload_too_large");

  const users = await app.query("SELECT count(*) AS n FROM users");
  assert.equal(users[0].n, 0, "nothing was created");
});

test("a body of exactly 64 KiB is accepted for parsing", async () => {
  const email = uniqueEmail("edge");
  const json = JSON.stringify({ email, password: GOOD_PASSWORD, name: "Edge" });
  const padded = json + " ".repeat(64 * 1024 - json.length);
  assert.equal(new TextEncoder().encode(padded).length, 64 * 1024);
  const res = await anon.post("/v1/auth/signup", padded);
  assert.equal(res.status, 201, res.text);
  const over = await anon.post("/v1/auth/signup", padded + " ");
  expectError(assert, over, 413, "payload_too_large");
});

test("a body that is not declared as JSON is 415", async () => {
  const body = JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD, name: "X" });
  for (const type of ["text/plain", "application/x-www-form-urlencoded", "application/jsonp", "multipart/form-data; boundary=x"]) {
    const res = await anon.post("/v1/auth/signup", body, { "content-type": type });
    expectError(assert, res, 415, "unsupported_media_type");
  }
  const raw = await app.fetch("/v1/auth/signup", { method: "POST", body: new Blob([body]) });
  const text = await raw.text();
  expectError(assert, { status: raw.status, headers: raw.headers, body: JSON.parse(text), text }, 415, "unsupported_media_type");
  // Parameters and case of the media type do not matter.
  const ok = await anon.post(
    "/v1/auth/signup",
    JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD, name: "X" }),
    { "content-type": "Application/JSON; charset=utf-8" },
  );
  assert.equal(ok.status, 201, ok.text);
});

test("malformed JSON is 400 malformed_json", async () => {
  for (const body of ["{", "not json", '{"email": }', '{"email":"a@b.co"} trailing', "", "{'email': 'a@b.co'}", '{"a":1,}']) {
    const res = await anon.post("/v1/auth/login", body);
    expectError(assert, res, 400, "malformed_json");
  }
});

test("wrong types, missing fields and unknown fields are 422", async () => {
  const email = uniqueEmail();
  const cases = [
    { email: 5, password: GOOD_PASSWORD, name: "X" },
    { email, password: ["x"], name: "X" },
    { email, password: GOOD_PASSWORD, name: null },
    { email, password: GOOD_PASSWORD },
    {},
    { email, password: GOOD_PASSWORD, name: "X", admin: true },
    [email, GOOD_PASSWORD, "X"],
    "just a string",
    42,
    null,
  ];
  for (const body of cases) {
    const res = await anon.post("/v1/auth/signup", JSON.stringify(body));
    const error = expectError(assert, res, 422);
    assert.equal(error.code, "invalid_request", `${JSON.stringify(body)} → ${res.text}`);
  }
  const unknown = await anon.post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "X", role: "owner" });
  assert.match(expectError(assert, unknown, 422, "invalid_request").message, /role/);
  const users = await app.query("SELECT count(*) AS n FROM users WHERE email = ?", email);
  assert.equal(users[0].n, 0);
});

test("GET /openapi.json is an OpenAPI 3.1 document whose references resolve", async () => {
  const res = await anon.get("/openapi.json");
  assert.equal(res.status, 200);
  doc = res.body;
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  assert.equal(typeof doc.info.title, "string");
  assert.equal(typeof doc.info.version, "string");
  assert.ok(Object.keys(doc.paths).length >= 20, "documents the identity routes");
  assert.ok(doc.components.schemas.Error, "the error schema");

  const operationIds = new Set();
  const refs = [];
  (function walk(node) {
    if (Array.isArray(node)) return node.forEach(walk);
    if (node && typeof node === "object") {
      if (typeof node.$ref === "string") refs.push(node.$ref);
      Object.values(node).forEach(walk);
    }
  })(doc);
  for (const ref of refs) {
    assert.match(ref, /^#\//, ref);
    let target = doc;
    for (const part of ref.slice(2).split("/")) target = target?.[part.replace(/~1/g, "/").replace(/~0/g, "~")];
    assert.ok(target, `unresolved $ref ${ref}`);
  }
  for (const [p, item] of Object.entries(doc.paths)) {
    assert.match(p, /^\/(v1\/|openapi\.json$)/, p);
    for (const [method, op] of Object.entries(item)) {
      assert.ok(METHODS.includes(method.toUpperCase()), `${method} ${p}`);
      assert.ok(!operationIds.has(op.operationId), `duplicate operationId ${op.operationId}`);
      operationIds.add(op.operationId);
      const statuses = Object.keys(op.responses);
      assert.ok(statuses.some((s) => /^[123]\d\d$/.test(s)), `${method} ${p} documents its success`);
      assert.ok(op.responses.default, `${method} ${p} documents errors`);
      const params = (p.match(/\{[^}]+\}/g) ?? []).map((s) => s.slice(1, -1));
      const documented = (op.parameters ?? []).filter((q) => q.in === "path").map((q) => q.name);
      assert.deepEqual(documented, params, `path parameters of ${method} ${p}`);
      if (op.requestBody) {
        const schema = op.requestBody.content["application/json"].schema;
        const resolved = schema.$ref ? doc.components.schemas[schema.$ref.split("/").pop()] : schema;
        assert.equal(resolved.additionalProperties, false, `${method} ${p} rejects unknown fields`);
      }
    }
  }
});

// The edge skeleton's own modules; other modules' specs check their routes' authentication.
const OWN_TAGS = ["platform", "identity"];

test("every documented operation is served, and its documented security matches", async () => {
  assert.ok(doc, "the document was fetched");
  const missing = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const p = fill(template);
      const res = await anon.request(method.toUpperCase(), p, op.requestBody ? {} : undefined);
      assertApiHeaders(res);
      if (res.status === 405 || res.body?.error?.code === "route_not_found") {
        missing.push(`${method.toUpperCase()} ${template} → ${res.status} ${res.text}`);
        continue;
      }
      if (!op.tags.some((tag) => OWN_TAGS.includes(tag))) continue;
      if (op.security) {
        expectError(assert, res, 401);
        assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /, `${method} ${template}`);
      } else {
        assert.notEqual(res.status, 401, `${method} ${template} is documented as public: ${res.text}`);
      }
    }
  }
  assert.deepEqual(missing, [], "documented but not served");
});

test("what is not documented is not served", async () => {
  assert.ok(doc, "the document was fetched");
  // Other methods on documented paths: 405, with Allow naming exactly the documented methods.
  for (const [template, item] of Object.entries(doc.paths)) {
    const documented = Object.keys(item).map((m) => m.toUpperCase()).sort();
    for (const method of METHODS.filter((m) => !documented.includes(m))) {
      const res = await anon.request(method, fill(template), method === "GET" ? undefined : {});
      expectError(assert, res, 405, "method_not_allowed");
      const allow = (res.headers.get("allow") ?? "").split(",").map((m) => m.trim()).filter(Boolean).sort();
      assert.deepEqual(allow, documented, `Allow for ${template}`);
    }
  }
  // Near misses of documented paths.
  const nearMisses = [
    "/v1/health/",
    "//v1/health",
    "/v1//health",
    "/V1/health",
    "/v1/Health",
    "/v1/healthz",
    "/health",
    "/openapi.yaml",
    "/openapi.json/",
    "/v1/openapi.json",
    "/v1/me/",
    "/v1/me/x",
    "/v1/org",
    "/v1/orgs/",
    "/v1/orgs//members",
    "/v1/orgs/org_1/member",
    "/v1/orgs/org_1/members/usr_1/role",
    "/v1/orgs/org_1/api-keys/key_1/revoke",
    "/v1/orgs/org_1/apikeys",
    "/v1/orgs/org_1/audit/",
    "/v1/orgs/org_1/audits",
    "/v1/invitations/tok/accept/",
    "/v1/invitations/tok",
    "/v1/invitations//accept",
    "/v1/auth/signin",
    "/v1/auth/logout/",
    "/v1/auth/oidc/x",
    "/v1/auth/oidc/x/start/extra",
  ];
  for (const p of nearMisses) {
    for (const method of ["GET", "POST"]) {
      const res = await anon.request(method, p, method === "POST" ? {} : undefined);
      expectError(assert, res, 404, "route_not_found");
    }
  }
});

test("a panic becomes a clean 500 with the request id, and the next request is served", async () => {
  const res = await anon.get("/v1/health", { "x-fault-injection": "panic" });
  const error = expectError(assert, res, 500, "internal_error");
  assert.deepEqual(Object.keys(res.body), ["error"]);
  assert.deepEqual(Object.keys(error).sort(), ["code", "message", "request_id"]);
  assert.match(res.headers.get("content-type"), /^application\/json/);
  for (const leak of ["panic", "fault", "wasm", "rust", ".rs", "stack", "at ", "worker"]) {
    assert.ok(!res.text.toLowerCase().includes(leak), `the body leaks "${leak}": ${res.text}`);
  }
  assertApiHeaders(res);

  const next = await anon.get("/v1/health");
  assert.equal(next.status, 200, next.text);
  assert.deepEqual(next.body, { status: "ok" });

  // A panic on a route that touches D1 mid-request leaves the app serving normally too.
  const signup = await anon.post(
    "/v1/auth/signup",
    { email: uniqueEmail("afterpanic"), password: GOOD_PASSWORD, name: "After" },
  );
  assert.equal(signup.status, 201, signup.text);
  const again = await anon.get("/v1/me", { "x-fault-injection": "panic" });
  expectError(assert, again, 500, "internal_error");
  const me = await new Client(app, { token: signup.body.session.token }).get("/v1/me");
  assert.equal(me.status, 200, me.text);
});

test("only the exact fault-injection value crashes a request", async () => {
  const res = await anon.get("/v1/health", { "x-fault-injection": "something-else" });
  assert.equal(res.status, 200);
});
