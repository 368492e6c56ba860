// Bad input on every mutating identity route: malformed JSON, wrong types, missing and unknown
// fields, oversized bodies, wrong media types, and every kind of bad credentials (none, forged,
// revoked session, expired session, revoked key). Each gets its status in the one error shape,
// and D1 is exactly as it was.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, GOOD_PASSWORD, signup, startApp, uniqueEmail } from "./harness.mjs";
import { addMember, createKey, login, NoChange } from "./identity-support.mjs";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let app; // normal lifetimes
let briefStarting; // an app whose sessions idle out after 2 s, starting while the others run
let main; // fixtures in `app`
const unchanged = new Map(); // app → NoChange

/** Owner, a member, a pending invitation (plus one addressed to `invitee`), and an admin key. */
async function fixtures(target) {
  const owner = await signup(target, "owner");
  const org = owner.org.id;
  const member = await addMember(target, owner.client, org, "editor", "member");
  const invitee = await signup(target, "invitee");
  const forInvitee = await owner.client.post(`/v1/orgs/${org}/invitations`, { email: invitee.email, role: "viewer" });
  assert.equal(forInvitee.status, 201, forInvitee.text);
  const pending = await owner.client.post(`/v1/orgs/${org}/invitations`, { email: uniqueEmail("pending"), role: "viewer" });
  assert.equal(pending.status, 201, pending.text);
  const key = await createKey(target, owner.client, org, "admin");
  return { owner, org, member, invitee, inviteeToken: forInvitee.body.invitation.token, invitation: pending.body.invitation, key };
}

/**
 * Every mutating identity route. `auth`: "none", "user" (people only) or "org" (people or keys);
 * `valid` is a body that would succeed; `wrong` has wrong types; `required` lists the fields.
 */
function mutatingRoutes(f) {
  return [
    {
      name: "signup",
      method: "POST",
      path: "/v1/auth/signup",
      auth: "none",
      valid: { email: uniqueEmail("new"), password: GOOD_PASSWORD, name: "New" },
      wrong: { email: ["x@y.co"], password: 12345678, name: { first: "N" } },
    },
    {
      name: "login",
      method: "POST",
      path: "/v1/auth/login",
      auth: "none",
      valid: { email: f.owner.email, password: GOOD_PASSWORD },
      wrong: { email: true, password: null },
    },
    { name: "logout", method: "POST", path: "/v1/auth/logout", auth: "user" },
    { name: "logout-all", method: "POST", path: "/v1/auth/logout-all", auth: "user" },
    {
      name: "change password",
      method: "POST",
      path: "/v1/auth/password",
      auth: "user",
      valid: { current_password: GOOD_PASSWORD, new_password: "tangerine-heron-lattice-47" },
      wrong: { current_password: 1, new_password: false },
    },
    { name: "create org", method: "POST", path: "/v1/orgs", auth: "user", valid: { name: "Side project" }, wrong: { name: 42 } },
    { name: "rename org", method: "PATCH", path: `/v1/orgs/${f.org}`, auth: "org", valid: { name: "Renamed" }, wrong: { name: ["Renamed"] } },
    {
      name: "change role",
      method: "PATCH",
      path: `/v1/orgs/${f.org}/members/${f.member.user.id}`,
      auth: "org",
      valid: { role: "viewer" },
      wrong: { role: 3 },
    },
    { name: "remove member", method: "DELETE", path: `/v1/orgs/${f.org}/members/${f.member.user.id}`, auth: "org" },
    {
      name: "invite",
      method: "POST",
      path: `/v1/orgs/${f.org}/invitations`,
      auth: "org",
      valid: { email: uniqueEmail("guest"), role: "editor" },
      wrong: { email: 7, role: "editor" },
    },
    { name: "revoke invitation", method: "DELETE", path: `/v1/orgs/${f.org}/invitations/${f.invitation.id}`, auth: "org" },
    { name: "accept invitation", method: "POST", path: `/v1/invitations/${f.inviteeToken}/accept`, auth: "user", as: "invitee" },
    {
      name: "create API key",
      method: "POST",
      path: `/v1/orgs/${f.org}/api-keys`,
      auth: "org",
      valid: { name: "deploys", role: "viewer" },
      wrong: { name: "deploys", role: { name: "viewer" } },
    },
    { name: "revoke API key", method: "DELETE", path: `/v1/orgs/${f.org}/api-keys/${f.key.id}`, auth: "org" },
  ];
}

before(async () => {
  // One after the other: two workers starting at once in one process do not both come up.
  app = await startApp();
  briefStarting = startApp({ vars: { SESSION_IDLE_TIMEOUT_SECONDS: "2" } });
  briefStarting.catch(() => {}); // a failure is reported by the test that awaits it
  main = await fixtures(app);
  unchanged.set(app, new NoChange(app));
});
after(async () => {
  await app?.dispose();
  const brief = await briefStarting?.catch(() => null);
  await brief?.dispose();
});

/**
 * Sends a request and asserts the error and that D1 did not change. With `strict`, the
 * snapshots must be identical; otherwise the authentication touch columns (last seen / last
 * used, refreshed at most once a minute by any authenticated request) are left out.
 */
async function refused(target, { method, path, body, headers, client }, status, code, label, strict = true) {
  return unchanged.get(target).around(label, strict, async () => {
    const res = await (client ?? new Client(target)).request(method, path, body, headers);
    expectError(assert, res, status, code);
    return res;
  });
}

/** After changing D1 on purpose: the next check takes a fresh "before". */
function changedOnPurpose() {
  for (const tracker of unchanged.values()) tracker.reset();
}

/** The client a route is called with when credentials are valid. */
function principal(f, route) {
  return route.as === "invitee" ? f.invitee.client : f.owner.client;
}

test("malformed JSON is 400 on every route that takes a body", async () => {
  for (const route of mutatingRoutes(main).filter((r) => r.valid)) {
    for (const body of ['{"name": ', "{'name': 'x'}", "name=x", '{"a":1} {"b":2}', ""]) {
      await refused(app, { ...route, client: principal(main, route), body }, 400, "malformed_json", `${route.name} ${JSON.stringify(body)}`, false);
    }
  }
});

test("wrong types, missing fields, unknown fields and non-objects are 422 on every route that takes a body", async () => {
  for (const route of mutatingRoutes(main).filter((r) => r.valid)) {
    const client = principal(main, route);
    const label = (what) => `${route.name}: ${what}`;
    await refused(app, { ...route, client, body: route.wrong }, 422, "invalid_request", label("wrong types"), false);
    await refused(app, { ...route, client, body: {} }, 422, "invalid_request", label("no fields"), false);
    for (const field of Object.keys(route.valid)) {
      const missing = { ...route.valid };
      delete missing[field];
      await refused(app, { ...route, client, body: missing }, 422, "invalid_request", label(`missing ${field}`), false);
      const nulled = { ...route.valid, [field]: null };
      await refused(app, { ...route, client, body: nulled }, 422, "invalid_request", label(`null ${field}`), false);
    }
    const res = await refused(app, { ...route, client, body: { ...route.valid, is_admin: true } }, 422, "invalid_request", label("unknown field"), false);
    assert.match(res.body.error.message, /is_admin/);
    for (const body of [Object.values(route.valid), "a string", 1, true, null]) {
      await refused(app, { ...route, client, body: JSON.stringify(body) }, 422, "invalid_request", label(`body ${JSON.stringify(body)}`), false);
    }
  }
});

test("invalid values are 422 on every route that takes a body", async () => {
  const cases = {
    signup: [{ email: "not-an-email", password: GOOD_PASSWORD, name: "N" }, { email: uniqueEmail(), password: "short", name: "N" }, { email: uniqueEmail(), password: GOOD_PASSWORD, name: "" }],
    "change password": [{ current_password: GOOD_PASSWORD, new_password: "password123" }],
    "create org": [{ name: "" }, { name: "x".repeat(101) }],
    "rename org": [{ name: "   " }],
    "change role": [{ role: "superuser" }, { role: "Owner" }],
    invite: [{ email: "nobody", role: "viewer" }, { email: uniqueEmail(), role: "root" }],
    "create API key": [{ name: "", role: "viewer" }, { name: "k", role: "owner" }, { name: "k", role: "god" }],
  };
  for (const route of mutatingRoutes(main).filter((r) => cases[r.name])) {
    for (const body of cases[route.name]) {
      await refused(app, { ...route, client: principal(main, route), body }, 422, undefined, `${route.name} ${JSON.stringify(body)}`, false);
    }
  }
});

test("a body over 64 KiB is 413 on every route that takes a body", async () => {
  for (const route of mutatingRoutes(main).filter((r) => r.valid)) {
    const field = Object.keys(route.valid)[0];
    const body = { ...route.valid, [field]: "x".repeat(65 * 1024) };
    await refused(app, { ...route, client: principal(main, route), body }, 413, "payload_too_large", route.name, false);
  }
});

test("a body not sent as application/json is 415 on every route that takes a body", async () => {
  for (const route of mutatingRoutes(main).filter((r) => r.valid)) {
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "text/json"]) {
      await refused(
        app,
        { ...route, client: principal(main, route), body: JSON.stringify(route.valid), headers: { "content-type": type } },
        415,
        "unsupported_media_type",
        `${route.name} as ${type}`,
        false,
      );
    }
  }
});

test("no credentials, forged ones, and a bad body together: 401 on every authenticated route", async () => {
  const forged = [
    ["none", {}],
    ["forged session", { authorization: "Bearer cos_sess_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
    ["forged key", { authorization: `Bearer ${main.key.prefix}_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA` }],
    ["unknown key", { authorization: "Bearer cos_key_zzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" }],
    ["other scheme", { authorization: "Basic b3duZXI6cGFzc3dvcmQ=" }],
    ["forged cookie", { cookie: "__Host-cos_session=cos_sess_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", origin: app.origin }],
  ];
  for (const route of mutatingRoutes(main).filter((r) => r.auth !== "none")) {
    for (const [label, headers] of forged) {
      const res = await refused(app, { ...route, body: route.valid, headers }, 401, undefined, `${route.name} with ${label}`);
      assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /, `${route.name} with ${label}`);
      // Authentication comes first: a bad body does not reveal how it would be validated.
      if (route.valid) {
        await refused(app, { ...route, body: "{not json", headers }, 401, undefined, `${route.name} with ${label} and bad JSON`);
        await refused(app, { ...route, body: { ...route.valid, extra: 1 }, headers }, 401, undefined, `${route.name} with ${label} and an unknown field`);
      }
    }
  }
});

test("a revoked session is 401 session_revoked on every authenticated route", async () => {
  const owner = await login(app, main.owner.email);
  const invitee = await login(app, main.invitee.email);
  for (const session of [owner, invitee]) {
    const out = await session.client.post("/v1/auth/logout");
    assert.equal(out.status, 204, out.text);
  }
  changedOnPurpose();
  for (const route of mutatingRoutes(main).filter((r) => r.auth !== "none")) {
    const client = route.as === "invitee" ? invitee.client : owner.client;
    await refused(app, { ...route, body: route.valid, client }, 401, "session_revoked", `${route.name} with a revoked session`);
  }
});

test("a revoked API key is 401 api_key_revoked on every route keys may use", async () => {
  const key = await createKey(app, main.owner.client, main.org, "admin", "short-lived");
  const revoke = await main.owner.client.delete(`/v1/orgs/${main.org}/api-keys/${key.id}`);
  assert.equal(revoke.status, 204, revoke.text);
  changedOnPurpose();
  for (const route of mutatingRoutes(main).filter((r) => r.auth === "org")) {
    await refused(app, { ...route, body: route.valid, client: key.client }, 401, "api_key_revoked", `${route.name} with a revoked key`);
  }
  // Routes for people only: a revoked key is refused as revoked there too.
  for (const route of mutatingRoutes(main).filter((r) => r.auth === "user")) {
    await refused(app, { ...route, body: route.valid, client: key.client }, 401, "api_key_revoked", `${route.name} with a revoked key`);
  }
});

test("an expired session is 401 session_expired on every authenticated route", async () => {
  const brief = await briefStarting;
  const expired = await fixtures(brief);
  unchanged.set(brief, new NoChange(brief));
  await sleep(2500); // idle for over 2 s: every session of `expired` has ended
  for (const route of mutatingRoutes(expired).filter((r) => r.auth !== "none")) {
    const client = route.as === "invitee" ? expired.invitee.client : expired.owner.client;
    const res = await refused(brief, { ...route, body: route.valid, client }, 401, "session_expired", `${route.name} with an expired session`);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer /);
    // The member's session has expired too.
    await refused(brief, { ...route, body: route.valid, client: expired.member.client }, 401, "session_expired", `${route.name} as the member`);
  }
  // The key is not bound to a session: it still works.
  const viaKey = await expired.key.client.get(`/v1/orgs/${expired.org}`);
  assert.equal(viaKey.status, 200, viaKey.text);
});

test("the same requests with good input succeed (the refusals were about the input)", async () => {
  // Every route above, well-formed and properly authenticated, in an order where each still applies.
  const routes = mutatingRoutes(main);
  const order = [
    "signup", "login", "create org", "rename org", "change role", "invite", "create API key",
    "revoke invitation", "revoke API key", "accept invitation", "remove member", "change password", "logout", "logout-all",
  ];
  const owner = await login(app, main.owner.email);
  for (const name of order) {
    const route = routes.find((r) => r.name === name);
    let client = route.auth === "none" ? new Client(app) : route.as === "invitee" ? main.invitee.client : owner.client;
    // After logout, logout-all needs a session of its own (signed in with the new password).
    if (name === "logout-all") client = (await login(app, main.owner.email, routes.find((r) => r.name === "change password").valid.new_password)).client;
    const res = await client.request(route.method, route.path, route.valid);
    assert.ok(res.status >= 200 && res.status < 300, `${name}: ${res.status} ${res.text}`);
  }
});
