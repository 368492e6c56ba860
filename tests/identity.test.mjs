// Identity & Accounts end to end: signup, login, sessions and cookies (CSRF), passwords,
// organisations, invitations, members and roles, API keys, and the audit trail that records
// every change above. A second app with short lifetimes covers session and invitation expiry.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, test } from "node:test";
import { Client, expectError, GOOD_PASSWORD, signup, startApp, uniqueEmail } from "./harness.mjs";
import { addMember, createKey, login, parseSessionCookie, sessionCookie } from "./identity-support.mjs";

const ULID = "[0-9A-HJKMNP-TV-Z]{26}";
const id = (prefix) => new RegExp(`^${prefix}_${ULID}$`);
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let app;
let shortStarting; // the short-lived app, starting while the main app's tests run
before(async () => {
  // One after the other: two workers starting at once in one process do not both come up.
  app = await startApp();
  shortStarting = startApp({
    vars: { SESSION_IDLE_TIMEOUT_SECONDS: "2", SESSION_ABSOLUTE_TIMEOUT_SECONDS: "4", INVITATION_TTL_SECONDS: "2" },
  });
  shortStarting.catch(() => {}); // a failure is reported by the test that awaits it
});
after(async () => {
  await app?.dispose();
  const short = await shortStarting?.catch(() => null);
  await short?.dispose();
});

// ------------------------------------------------------------------------------------------
// What the audit trail must show at the end: one entry per change made below.

/** {org, request_id, action, actor: {type, id}, target, result} */
const expectedAudit = [];
/** Who can read each org's audit trail at the end. */
const auditReaders = new Map();
/** Every secret handed out (session tokens, API keys, invitation tokens). */
const secrets = new Set();

function audited(res, org, action, actor, target, result = "success") {
  const request_id = res.headers.get("x-request-id");
  assert.match(request_id, /^req_/);
  expectedAudit.push({ org, request_id, action, actor, target, result });
}
const user = (u) => ({ type: "user", id: u.user.id });

function remember(body) {
  if (body?.session?.token) secrets.add(body.session.token);
  if (body?.api_key?.key) secrets.add(body.api_key.key);
  if (body?.invitation?.token) secrets.add(body.invitation.token);
  return body;
}

/** Signs up and records the signup's audit entry. */
async function member(label) {
  const u = await signup(app, label);
  remember(u);
  return u;
}

// ------------------------------------------------------------------------------------------ signup

let ada; // signs up first; owns "Ada's workspace"

test("signup creates the user, a personal organisation they own, and a session", async () => {
  const email = uniqueEmail("ada");
  const res = await new Client(app).post("/v1/auth/signup", {
    email: `  ${email.toUpperCase()} `,
    password: GOOD_PASSWORD,
    name: "  Ada Lovelace ",
  });
  assert.equal(res.status, 201, res.text);
  remember(res.body);
  assert.deepEqual(Object.keys(res.body).sort(), ["org", "session", "user"]);
  assert.deepEqual(Object.keys(res.body.user).sort(), ["email", "id", "name"]);
  assert.deepEqual(Object.keys(res.body.org).sort(), ["id", "name"]);
  assert.deepEqual(Object.keys(res.body.session).sort(), ["expires_at", "token"]);
  assert.match(res.body.user.id, id("usr"));
  assert.equal(res.body.user.email, email, "stored lower-cased and trimmed");
  assert.equal(res.body.user.name, "Ada Lovelace");
  assert.match(res.body.org.id, id("org"));
  assert.equal(res.body.org.name, "Ada Lovelace's workspace");
  assert.match(res.body.session.token, /^cos_sess_[A-Za-z0-9_-]{43}$/);
  assert.match(res.body.session.expires_at, RFC3339);
  const expires = Date.parse(res.body.session.expires_at);
  assert.ok(expires > Date.now() + 6 * 86400e3 && expires <= Date.now() + 7 * 86400e3 + 60e3, "7-day lifetime");

  const cookie = parseSessionCookie(res);
  assert.equal(cookie.value, res.body.session.token);
  assert.equal(cookie.attrs.httponly, true, "HttpOnly");
  assert.equal(cookie.attrs.secure, true, "Secure");
  assert.equal(String(cookie.attrs.samesite).toLowerCase(), "lax", "SameSite=Lax");
  assert.equal(cookie.attrs.path, "/", "Path=/");
  assert.equal(cookie.attrs.domain, undefined, "__Host- cookies carry no Domain");
  assert.equal(Number(cookie.attrs["max-age"]), 7 * 86400);

  ada = { ...res.body, email, client: new Client(app, { token: res.body.session.token }) };
  auditReaders.set(ada.org.id, ada.client);
  audited(res, ada.org.id, "auth.signup", user(ada), { type: "user", id: ada.user.id });

  const [row] = await app.query("SELECT password_hash, email_verified FROM users WHERE id = ?", ada.user.id);
  assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  assert.ok(!row.password_hash.includes(GOOD_PASSWORD));
  const memberships = await app.query("SELECT org_id, role FROM memberships WHERE user_id = ?", ada.user.id);
  assert.deepEqual(memberships, [{ org_id: ada.org.id, role: "owner" }]);
});

test("GET /v1/me returns the user and their memberships; 401 without a session", async () => {
  const me = await ada.client.get("/v1/me");
  assert.equal(me.status, 200, me.text);
  assert.deepEqual(me.body, {
    user: ada.user,
    memberships: [{ org: ada.org, role: "owner" }],
  });

  for (const headers of [
    {},
    { authorization: "Bearer cos_sess_not-a-real-token" },
    { authorization: "Bearer something-else" },
    { authorization: "Basic YWRhOnB3" },
    { cookie: "__Host-cos_session=cos_sess_forged" },
  ]) {
    const res = await new Client(app).get("/v1/me", headers);
    expectError(assert, res, 401);
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="creator-os"/, JSON.stringify(headers));
  }
});

test("the password policy refuses short, long and common passwords (422 weak_password)", async () => {
  const before = await app.query("SELECT count(*) AS n FROM users");
  const weak = [
    "Zq7#vXm", // 7 characters
    "x".repeat(60) + "Zq7#" + "y".repeat(65), // 129 characters
    "password123",
    "12345678",
    "PassWord123", // the list is matched case-insensitively
    "qwertyuiop",
  ];
  for (const password of weak) {
    const res = await new Client(app).post("/v1/auth/signup", { email: uniqueEmail("weak"), password, name: "W" });
    expectError(assert, res, 422, "weak_password");
  }
  const email = uniqueEmail("mirror");
  const same = await new Client(app).post("/v1/auth/signup", { email, password: email.split("@")[0], name: "M" });
  expectError(assert, same, 422, "weak_password");
  const after = await app.query("SELECT count(*) AS n FROM users");
  assert.equal(after[0].n, before[0].n, "no account was created");

  // The limits themselves are allowed: 8 and 128 characters.
  for (const password of ["Zq7#vXmp", "x".repeat(60) + "Zq7#" + "y".repeat(64)]) {
    const res = await new Client(app).post("/v1/auth/signup", { email: uniqueEmail("edge"), password, name: "E" });
    assert.equal(res.status, 201, `${password.length} characters: ${res.text}`);
    remember(res.body);
  }
});

test("signup validates email and name (422)", async () => {
  for (const email of ["no-at-sign", "a@b", "@example.com", "a@@example.com", "a b@example.com", "a@.com", `${"x".repeat(250)}@ex.com`]) {
    const res = await new Client(app).post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "N" });
    expectError(assert, res, 422, "invalid_email");
  }
  for (const name of ["", "   ", "x".repeat(101), "tab\tname"]) {
    const res = await new Client(app).post("/v1/auth/signup", { email: uniqueEmail(), password: GOOD_PASSWORD, name });
    expectError(assert, res, 422, "invalid_name");
  }
});

test("a second signup with the same email is 409 email_taken, whatever its case", async () => {
  for (const email of [ada.email, ada.email.toUpperCase()]) {
    const res = await new Client(app).post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "Again" });
    expectError(assert, res, 409, "email_taken");
  }
  const rows = await app.query("SELECT count(*) AS n FROM users WHERE email = ?", ada.email);
  assert.equal(rows[0].n, 1);
});

// ------------------------------------------------------------------------------------------ login

test("login answers like signup, with a new token every time", async () => {
  const first = await new Client(app).post("/v1/auth/login", { email: ada.email, password: GOOD_PASSWORD });
  assert.equal(first.status, 200, first.text);
  remember(first.body);
  assert.deepEqual(Object.keys(first.body).sort(), ["org", "session", "user"]);
  assert.deepEqual(first.body.user, ada.user);
  assert.deepEqual(first.body.org, ada.org);
  assert.match(first.body.session.expires_at, RFC3339);
  assert.equal(parseSessionCookie(first).value, first.body.session.token);
  audited(first, null, "auth.login", user(ada), { type: "user", id: ada.user.id });

  const second = await new Client(app).post("/v1/auth/login", { email: ` ${ada.email.toUpperCase()}`, password: GOOD_PASSWORD });
  assert.equal(second.status, 200, second.text);
  remember(second.body);
  audited(second, null, "auth.login", user(ada), { type: "user", id: ada.user.id });

  const tokens = new Set([ada.session.token, first.body.session.token, second.body.session.token]);
  assert.equal(tokens.size, 3, "every login issues a new token");
  for (const token of tokens) {
    const me = await new Client(app, { token }).get("/v1/me");
    assert.equal(me.status, 200, "every session is valid");
  }
});

test("a wrong password and an unknown email get the same 401 invalid_credentials", async () => {
  const wrong = await new Client(app).post("/v1/auth/login", { email: ada.email, password: "not-the-password-1" });
  const unknown = await new Client(app).post("/v1/auth/login", { email: uniqueEmail("ghost"), password: GOOD_PASSWORD });
  const a = expectError(assert, wrong, 401, "invalid_credentials");
  const b = expectError(assert, unknown, 401, "invalid_credentials");
  assert.equal(a.message, b.message, "the answers cannot be told apart");
  assert.deepEqual(wrong.headers.getSetCookie(), []);
  assert.deepEqual(unknown.headers.getSetCookie(), []);
  // Failed attempts are recorded (with the account when it exists), not as changes to any org.
  audited(wrong, null, "auth.login", { type: "anonymous", id: null }, { type: "user", id: ada.user.id }, "failure");
  audited(unknown, null, "auth.login", { type: "anonymous", id: null }, null, "failure");
});

// ------------------------------------------------------------------------------------------ cookies and CSRF

test("a cookie session reads without Origin but changes only from our own origin (CSRF)", async () => {
  const session = await login(app, ada.email);
  remember(session);
  const cookie = sessionCookie(session.res);
  const orgsBefore = await app.query("SELECT id, name FROM orgs ORDER BY id");

  const read = await new Client(app, { cookie }).get("/v1/me");
  assert.equal(read.status, 200, read.text);

  const noOrigin = await new Client(app, { cookie }).post("/v1/orgs", { name: "CSRF one" });
  expectError(assert, noOrigin, 403, "csrf_origin_missing");
  for (const origin of ["https://evil.example", "null", app.origin.replace("127.0.0.1", "localhost"), `${app.origin}.evil.example`]) {
    const foreign = await new Client(app, { cookie, origin }).post("/v1/orgs", { name: "CSRF two" });
    expectError(assert, foreign, 403, "csrf_origin_mismatch");
  }
  const empty = await new Client(app, { cookie }).post("/v1/orgs", { name: "CSRF three" }, { origin: "" });
  expectError(assert, empty, 403);
  const rename = await new Client(app, { cookie, origin: "https://evil.example" }).patch(`/v1/orgs/${ada.org.id}`, { name: "Pwned" });
  expectError(assert, rename, 403, "csrf_origin_mismatch");
  const logout = await new Client(app, { cookie }).post("/v1/auth/logout");
  expectError(assert, logout, 403, "csrf_origin_missing");
  assert.deepEqual(await app.query("SELECT id, name FROM orgs ORDER BY id"), orgsBefore, "nothing changed");
  assert.equal((await new Client(app, { cookie }).get("/v1/me")).status, 200, "the session survived");

  const sameOrigin = await new Client(app, { cookie, origin: app.origin }).post("/v1/orgs", { name: "Cookie Studio" });
  assert.equal(sameOrigin.status, 201, sameOrigin.text);
  audited(sameOrigin, sameOrigin.body.org.id, "org.create", user(ada), { type: "org", id: sameOrigin.body.org.id });
  auditReaders.set(sameOrigin.body.org.id, ada.client);

  // A bearer token is not sent by browsers on their own: no Origin needed.
  const bearer = await ada.client.post("/v1/orgs", { name: "Bearer Studio" });
  assert.equal(bearer.status, 201, bearer.text);
  audited(bearer, bearer.body.org.id, "org.create", user(ada), { type: "org", id: bearer.body.org.id });
  auditReaders.set(bearer.body.org.id, ada.client);
});

// ------------------------------------------------------------------------------------------ sessions

test("logout ends the session server side and clears the cookie", async () => {
  const a = await login(app, ada.email);
  const b = await login(app, ada.email);
  remember(a);
  remember(b);
  const list = await a.client.get("/v1/auth/sessions");
  assert.equal(list.status, 200, list.text);
  const current = list.body.items.filter((s) => s.current);
  assert.equal(current.length, 1);
  const sessionId = current[0].id;
  assert.match(sessionId, id("ses"));

  const res = await a.client.post("/v1/auth/logout");
  assert.equal(res.status, 204, res.text);
  assert.equal(res.text, "");
  const cleared = parseSessionCookie(res);
  assert.equal(cleared.value, "");
  assert.equal(cleared.attrs["max-age"], "0");
  audited(res, null, "auth.logout", user(ada), { type: "session", id: sessionId });

  const after = await a.client.get("/v1/me");
  expectError(assert, after, 401, "session_revoked");
  assert.match(after.headers.get("www-authenticate") ?? "", /^Bearer /);
  assert.equal((await b.client.get("/v1/me")).status, 200, "other sessions live on");
  const [row] = await app.query("SELECT revoked_at FROM sessions WHERE id = ?", sessionId);
  assert.ok(row.revoked_at > 0);

  // The same through the cookie, from our own origin.
  const c = await login(app, ada.email);
  remember(c);
  const cookie = sessionCookie(c.res);
  const out = await new Client(app, { cookie, origin: app.origin }).post("/v1/auth/logout");
  assert.equal(out.status, 204, out.text);
  expectError(assert, await new Client(app, { cookie }).get("/v1/me"), 401, "session_revoked");
});

test("the session list shows the user's live sessions and marks the current one", async () => {
  const bob = await member("bob");
  const other = await login(app, bob.email);
  remember(other);
  const res = await bob.client.get("/v1/auth/sessions");
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.items.length, 2);
  assert.deepEqual(res.body.items.map((s) => s.current).sort(), [false, true]);
  for (const s of res.body.items) {
    assert.deepEqual(Object.keys(s).sort(), ["auth_method", "created_at", "current", "id", "ip", "last_seen_at", "user_agent"]);
    assert.equal(s.auth_method, "password");
    assert.match(s.created_at, RFC3339);
  }
  assert.ok(!res.text.includes(other.session.token) && !res.text.includes(bob.session.token), "no tokens listed");
  // Another user's sessions are not listed.
  const adaList = await ada.client.get("/v1/auth/sessions");
  assert.ok(!adaList.body.items.some((s) => res.body.items.some((b) => b.id === s.id)));
});

test("logout-all ends every session of the user", async () => {
  const carol = await member("carol");
  const others = [await login(app, carol.email), await login(app, carol.email)];
  others.forEach(remember);
  const res = await others[0].client.post("/v1/auth/logout-all");
  assert.equal(res.status, 204, res.text);
  audited(res, null, "auth.logout_all", user(carol), { type: "user", id: carol.user.id });
  for (const client of [carol.client, ...others.map((o) => o.client)]) {
    expectError(assert, await client.get("/v1/me"), 401, "session_revoked");
  }
  // Ada is untouched.
  assert.equal((await ada.client.get("/v1/me")).status, 200);
  const fresh = await login(app, carol.email);
  assert.equal((await fresh.client.get("/v1/me")).status, 200, "signing in again works");
});

test("changing the password ends every other session and keeps the current one", async () => {
  const dan = await member("dan");
  const other = await login(app, dan.email);
  remember(other);
  const newPassword = "tangerine-heron-lattice-47";

  const wrong = await dan.client.post("/v1/auth/password", { current_password: "not-my-password-9", new_password: newPassword });
  expectError(assert, wrong, 401, "invalid_credentials");
  audited(wrong, null, "auth.password_change", user(dan), { type: "user", id: dan.user.id }, "failure");
  const weak = await dan.client.post("/v1/auth/password", { current_password: GOOD_PASSWORD, new_password: "password123" });
  expectError(assert, weak, 422, "weak_password");
  assert.equal((await other.client.get("/v1/me")).status, 200, "refused changes end nothing");

  const res = await dan.client.post("/v1/auth/password", { current_password: GOOD_PASSWORD, new_password: newPassword });
  assert.equal(res.status, 204, res.text);
  audited(res, null, "auth.password_change", user(dan), { type: "user", id: dan.user.id });
  assert.equal((await dan.client.get("/v1/me")).status, 200, "the current session stays");
  expectError(assert, await other.client.get("/v1/me"), 401, "session_revoked");

  const old = await new Client(app).post("/v1/auth/login", { email: dan.email, password: GOOD_PASSWORD });
  expectError(assert, old, 401, "invalid_credentials");
  const fresh = await new Client(app).post("/v1/auth/login", { email: dan.email, password: newPassword });
  assert.equal(fresh.status, 200, fresh.text);
  remember(fresh.body);
});

// ------------------------------------------------------------------------------------------ orgs

let studio; // {id, name}: Ada's team organisation

test("organisations: create, list, get, rename", async () => {
  const res = await ada.client.post("/v1/orgs", { name: "  Studio North " });
  assert.equal(res.status, 201, res.text);
  assert.deepEqual(Object.keys(res.body).sort(), ["org", "role"]);
  assert.match(res.body.org.id, id("org"));
  assert.equal(res.body.org.name, "Studio North");
  assert.equal(res.body.role, "owner");
  studio = res.body.org;
  auditReaders.set(studio.id, ada.client);
  audited(res, studio.id, "org.create", user(ada), { type: "org", id: studio.id });

  const list = await ada.client.get("/v1/orgs");
  assert.equal(list.status, 200, list.text);
  const ids = list.body.items.map((m) => m.org.id);
  assert.ok(ids.includes(ada.org.id) && ids.includes(studio.id));
  assert.ok(list.body.items.every((m) => m.role === "owner"));

  const get = await ada.client.get(`/v1/orgs/${studio.id}`);
  assert.equal(get.status, 200, get.text);
  assert.deepEqual(get.body, { org: studio, role: "owner" });

  const rename = await ada.client.patch(`/v1/orgs/${studio.id}`, { name: "Studio South" });
  assert.equal(rename.status, 200, rename.text);
  assert.deepEqual(rename.body, { org: { id: studio.id, name: "Studio South" }, role: "owner" });
  audited(rename, studio.id, "org.rename", user(ada), { type: "org", id: studio.id });
  studio = rename.body.org;
  assert.deepEqual((await ada.client.get(`/v1/orgs/${studio.id}`)).body.org, studio);

  for (const name of ["", "  ", "x".repeat(101)]) {
    expectError(assert, await ada.client.post("/v1/orgs", { name }), 422, "invalid_name");
    expectError(assert, await ada.client.patch(`/v1/orgs/${studio.id}`, { name }), 422, "invalid_name");
  }
  assert.deepEqual((await ada.client.get(`/v1/orgs/${studio.id}`)).body.org, studio);

  const stranger = await member("stranger");
  expectError(assert, await stranger.client.get(`/v1/orgs/${studio.id}`), 404, "not_found");
  const strangerList = await stranger.client.get("/v1/orgs");
  assert.deepEqual(strangerList.body.items.map((m) => m.org.id), [stranger.org.id]);
});

// ------------------------------------------------------------------------------------------ invitations

let erin; // editor of the studio (through an invitation)
let alex; // admin of the studio

test("invitations: created by admins, accepted once by the invited email only", async () => {
  erin = await member("erin");
  const res = await ada.client.post(`/v1/orgs/${studio.id}/invitations`, { email: erin.email.toUpperCase(), role: "editor" });
  assert.equal(res.status, 201, res.text);
  remember(res.body);
  const invitation = res.body.invitation;
  assert.match(invitation.id, id("inv"));
  assert.equal(typeof invitation.token, "string");
  assert.ok(invitation.token.length >= 40);
  assert.equal(invitation.email, erin.email);
  assert.equal(invitation.role, "editor");
  assert.match(invitation.expires_at, RFC3339);
  const expires = Date.parse(invitation.expires_at);
  assert.ok(expires > Date.now() + 6 * 86400e3 && expires <= Date.now() + 7 * 86400e3 + 60e3, "valid for 7 days");
  audited(res, studio.id, "invitation.create", user(ada), { type: "invitation", id: invitation.id });

  const pending = await ada.client.get(`/v1/orgs/${studio.id}/invitations`);
  assert.equal(pending.status, 200, pending.text);
  const listed = pending.body.items.find((i) => i.id === invitation.id);
  assert.deepEqual(Object.keys(listed).sort(), ["created_at", "email", "expires_at", "id", "role"]);
  assert.ok(!pending.text.includes(invitation.token), "the token is shown once");

  // Someone else holding the link cannot use it.
  const mallory = await member("mallory");
  const stolen = await mallory.client.post(`/v1/invitations/${invitation.token}/accept`);
  expectError(assert, stolen, 404, "not_found");
  expectError(assert, await mallory.client.get(`/v1/orgs/${studio.id}`), 404, "not_found");

  const accept = await erin.client.post(`/v1/invitations/${invitation.token}/accept`);
  assert.equal(accept.status, 200, accept.text);
  assert.deepEqual(accept.body, { membership: { org: studio, role: "editor" } });
  audited(accept, studio.id, "invitation.accept", user(erin), { type: "invitation", id: invitation.id });
  const me = await erin.client.get("/v1/me");
  assert.ok(me.body.memberships.some((m) => m.org.id === studio.id && m.role === "editor"));

  const again = await erin.client.post(`/v1/invitations/${invitation.token}/accept`);
  expectError(assert, again, 410, "invitation_used");
  expectError(assert, await erin.client.post("/v1/invitations/cos_inv_unknown/accept"), 404, "not_found");
  const listedAfter = await ada.client.get(`/v1/orgs/${studio.id}/invitations`);
  assert.ok(!listedAfter.body.items.some((i) => i.id === invitation.id), "accepted invitations are not pending");

  const dup = await ada.client.post(`/v1/orgs/${studio.id}/invitations`, { email: erin.email, role: "viewer" });
  expectError(assert, dup, 409, "already_member");

  // Editors cannot invite.
  const byEditor = await erin.client.post(`/v1/orgs/${studio.id}/invitations`, { email: uniqueEmail(), role: "viewer" });
  expectError(assert, byEditor, 403, "forbidden");
  expectError(assert, await erin.client.get(`/v1/orgs/${studio.id}/invitations`), 403, "forbidden");
});

test("admins invite and revoke, but only owners invite owners", async () => {
  alex = await member("alex");
  const inv = await ada.client.post(`/v1/orgs/${studio.id}/invitations`, { email: alex.email, role: "admin" });
  assert.equal(inv.status, 201, inv.text);
  remember(inv.body);
  audited(inv, studio.id, "invitation.create", user(ada), { type: "invitation", id: inv.body.invitation.id });
  const accepted = await alex.client.post(`/v1/invitations/${inv.body.invitation.token}/accept`);
  assert.equal(accepted.status, 200, accepted.text);
  audited(accepted, studio.id, "invitation.accept", user(alex), { type: "invitation", id: inv.body.invitation.id });

  const owner = await alex.client.post(`/v1/orgs/${studio.id}/invitations`, { email: uniqueEmail(), role: "owner" });
  expectError(assert, owner, 403, "forbidden");
  const byOwner = await ada.client.post(`/v1/orgs/${studio.id}/invitations`, { email: uniqueEmail("co-owner"), role: "owner" });
  assert.equal(byOwner.status, 201, byOwner.text);
  remember(byOwner.body);
  audited(byOwner, studio.id, "invitation.create", user(ada), { type: "invitation", id: byOwner.body.invitation.id });

  const xavier = await member("xavier");
  const viewer = await alex.client.post(`/v1/orgs/${studio.id}/invitations`, { email: xavier.email, role: "viewer" });
  assert.equal(viewer.status, 201, viewer.text);
  remember(viewer.body);
  audited(viewer, studio.id, "invitation.create", user(alex), { type: "invitation", id: viewer.body.invitation.id });

  const revoke = await alex.client.delete(`/v1/orgs/${studio.id}/invitations/${viewer.body.invitation.id}`);
  assert.equal(revoke.status, 204, revoke.text);
  audited(revoke, studio.id, "invitation.revoke", user(alex), { type: "invitation", id: viewer.body.invitation.id });
  const late = await xavier.client.post(`/v1/invitations/${viewer.body.invitation.token}/accept`);
  expectError(assert, late, 410);
  expectError(assert, await xavier.client.get(`/v1/orgs/${studio.id}`), 404, "not_found");
  const twice = await alex.client.delete(`/v1/orgs/${studio.id}/invitations/${viewer.body.invitation.id}`);
  expectError(assert, twice, 404, "not_found");
  const pending = await alex.client.get(`/v1/orgs/${studio.id}/invitations`);
  assert.ok(!pending.body.items.some((i) => i.id === viewer.body.invitation.id));
  expectError(assert, await erin.client.delete(`/v1/orgs/${studio.id}/invitations/${byOwner.body.invitation.id}`), 403, "forbidden");
});

// ------------------------------------------------------------------------------------------ members

test("members and roles: admins manage, owners own, the last owner stays", async () => {
  const list = await erin.client.get(`/v1/orgs/${studio.id}/members`);
  assert.equal(list.status, 200, list.text);
  const roles = Object.fromEntries(list.body.items.map((m) => [m.user.id, m.role]));
  assert.deepEqual(roles, { [ada.user.id]: "owner", [erin.user.id]: "editor", [alex.user.id]: "admin" });
  assert.equal(list.body.items[0].user.id, ada.user.id, "oldest member first");
  for (const m of list.body.items) {
    assert.deepEqual(Object.keys(m).sort(), ["joined_at", "role", "user"]);
    assert.deepEqual(Object.keys(m.user).sort(), ["email", "id", "name"]);
    assert.match(m.joined_at, RFC3339);
  }

  // An admin changes an editor's role.
  const demote = await alex.client.patch(`/v1/orgs/${studio.id}/members/${erin.user.id}`, { role: "viewer" });
  assert.equal(demote.status, 200, demote.text);
  assert.deepEqual(demote.body, { membership: { org: studio, role: "viewer" } });
  audited(demote, studio.id, "member.role_change", user(alex), { type: "user", id: erin.user.id });
  // Viewers read but do not manage.
  assert.equal((await erin.client.get(`/v1/orgs/${studio.id}/members`)).status, 200);
  expectError(assert, await erin.client.patch(`/v1/orgs/${studio.id}/members/${alex.user.id}`, { role: "viewer" }), 403, "forbidden");

  // An admin cannot grant ownership nor touch an owner.
  expectError(assert, await alex.client.patch(`/v1/orgs/${studio.id}/members/${erin.user.id}`, { role: "owner" }), 403, "forbidden");
  expectError(assert, await alex.client.patch(`/v1/orgs/${studio.id}/members/${alex.user.id}`, { role: "owner" }), 403, "forbidden");
  expectError(assert, await alex.client.patch(`/v1/orgs/${studio.id}/members/${ada.user.id}`, { role: "admin" }), 403, "forbidden");
  expectError(assert, await alex.client.delete(`/v1/orgs/${studio.id}/members/${ada.user.id}`), 403, "forbidden");

  // The last owner can neither step down nor leave.
  const stepDown = await ada.client.patch(`/v1/orgs/${studio.id}/members/${ada.user.id}`, { role: "admin" });
  expectError(assert, stepDown, 409, "last_owner");
  const leave = await ada.client.delete(`/v1/orgs/${studio.id}/members/${ada.user.id}`);
  expectError(assert, leave, 409, "last_owner");
  const owners = await app.query("SELECT user_id FROM memberships WHERE org_id = ? AND role = 'owner'", studio.id);
  assert.deepEqual(owners, [{ user_id: ada.user.id }]);

  // Bad roles and strangers.
  expectError(assert, await ada.client.patch(`/v1/orgs/${studio.id}/members/${erin.user.id}`, { role: "superuser" }), 422, "invalid_request");
  const stranger = await member("outsider");
  expectError(assert, await ada.client.patch(`/v1/orgs/${studio.id}/members/${stranger.user.id}`, { role: "viewer" }), 404, "not_found");
  expectError(assert, await ada.client.delete(`/v1/orgs/${studio.id}/members/${stranger.user.id}`), 404, "not_found");

  // An owner makes Alex an owner; then Ada may leave, and Alex is the last owner.
  const promote = await ada.client.patch(`/v1/orgs/${studio.id}/members/${alex.user.id}`, { role: "owner" });
  assert.equal(promote.status, 200, promote.text);
  audited(promote, studio.id, "member.role_change", user(ada), { type: "user", id: alex.user.id });
  const left = await ada.client.delete(`/v1/orgs/${studio.id}/members/${ada.user.id}`);
  assert.equal(left.status, 204, left.text);
  audited(left, studio.id, "member.leave", user(ada), { type: "user", id: ada.user.id });
  auditReaders.set(studio.id, alex.client);
  expectError(assert, await ada.client.get(`/v1/orgs/${studio.id}`), 404, "not_found");
  expectError(assert, await alex.client.patch(`/v1/orgs/${studio.id}/members/${alex.user.id}`, { role: "viewer" }), 409, "last_owner");

  // A member removed by an admin loses access at once; a viewer may leave on their own.
  const victor = await addMember(app, alex.client, studio.id, "viewer", "victor");
  remember(victor);
  const removed = await alex.client.delete(`/v1/orgs/${studio.id}/members/${erin.user.id}`);
  assert.equal(removed.status, 204, removed.text);
  audited(removed, studio.id, "member.remove", user(alex), { type: "user", id: erin.user.id });
  expectError(assert, await erin.client.get(`/v1/orgs/${studio.id}`), 404, "not_found");
  const gone = await victor.client.delete(`/v1/orgs/${studio.id}/members/${victor.user.id}`);
  assert.equal(gone.status, 204, gone.text);
  audited(gone, studio.id, "member.leave", user(victor), { type: "user", id: victor.user.id });
  const final = await alex.client.get(`/v1/orgs/${studio.id}/members`);
  assert.deepEqual(final.body.items.map((m) => [m.user.id, m.role]), [[alex.user.id, "owner"]]);
});

// ------------------------------------------------------------------------------------------ API keys

let keyOrg; // {owner, org}

test("API keys: the secret is shown once, the prefix always; keys act within their org and role", async () => {
  const owner = await member("keys");
  keyOrg = { owner, org: owner.org };
  auditReaders.set(owner.org.id, owner.client);
  const res = await owner.client.post(`/v1/orgs/${owner.org.id}/api-keys`, { name: "CI deploys", role: "editor" });
  assert.equal(res.status, 201, res.text);
  remember(res.body);
  const key = res.body.api_key;
  assert.match(key.id, id("key"));
  assert.match(key.prefix, /^cos_key_[A-Za-z0-9]{8}$/);
  assert.ok(key.key.startsWith(`${key.prefix}_`), "the key starts with its prefix");
  assert.ok(key.key.length >= key.prefix.length + 40);
  assert.equal(key.name, "CI deploys");
  assert.equal(key.role, "editor");
  audited(res, owner.org.id, "api_key.create", user(owner), { type: "api_key", id: key.id });

  const list = await owner.client.get(`/v1/orgs/${owner.org.id}/api-keys`);
  assert.equal(list.status, 200, list.text);
  const listed = list.body.items.find((k) => k.id === key.id);
  assert.equal(listed.prefix, key.prefix);
  assert.equal(listed.key, undefined);
  assert.ok(!list.text.includes(key.key.slice(key.prefix.length + 1)), "the secret is never listed");
  assert.deepEqual(Object.keys(listed).sort(), ["created_at", "id", "last_used_at", "name", "prefix", "revoked_at", "role"]);

  // The key works as a bearer token, within its org and role.
  const bearer = new Client(app, { token: key.key });
  const get = await bearer.get(`/v1/orgs/${owner.org.id}`);
  assert.equal(get.status, 200, get.text);
  assert.deepEqual(get.body, { org: owner.org, role: "editor" });
  assert.deepEqual((await bearer.get("/v1/orgs")).body.items, [{ org: owner.org, role: "editor" }]);
  assert.equal((await bearer.get(`/v1/orgs/${owner.org.id}/members`)).status, 200);
  expectError(assert, await bearer.patch(`/v1/orgs/${owner.org.id}`, { name: "Nope" }), 403, "forbidden");
  expectError(assert, await bearer.post(`/v1/orgs/${owner.org.id}/api-keys`, { name: "k", role: "viewer" }), 403, "forbidden");
  const used = await owner.client.get(`/v1/orgs/${owner.org.id}/api-keys`);
  assert.match(used.body.items.find((k) => k.id === key.id).last_used_at, RFC3339);

  // Other orgs do not exist for it.
  expectError(assert, await bearer.get(`/v1/orgs/${ada.org.id}`), 404, "not_found");
  expectError(assert, await bearer.get(`/v1/orgs/${studio.id}/members`), 404, "not_found");

  // Routes for people only.
  for (const [method, p, body] of [
    ["GET", "/v1/me"],
    ["POST", "/v1/orgs", { name: "By key" }],
    ["GET", "/v1/auth/sessions"],
    ["POST", "/v1/auth/logout"],
    ["POST", "/v1/auth/logout-all"],
    ["POST", "/v1/auth/password", { current_password: GOOD_PASSWORD, new_password: "tangerine-heron-lattice-47" }],
    ["POST", "/v1/invitations/cos_inv_x/accept"],
  ]) {
    expectError(assert, await bearer.request(method, p, body), 403, "forbidden");
  }

  // An admin key changes things, and the audit trail names the key.
  const admin = await createKey(app, owner.client, owner.org.id, "admin", "automation");
  remember(admin.res.body);
  audited(admin.res, owner.org.id, "api_key.create", user(owner), { type: "api_key", id: admin.id });
  const rename = await admin.client.patch(`/v1/orgs/${owner.org.id}`, { name: "Renamed by a key" });
  assert.equal(rename.status, 200, rename.text);
  audited(rename, owner.org.id, "org.rename", { type: "api_key", id: admin.id }, { type: "org", id: owner.org.id });
  keyOrg.org = rename.body.org;
  const invite = await admin.client.post(`/v1/orgs/${owner.org.id}/invitations`, { email: uniqueEmail(), role: "viewer" });
  assert.equal(invite.status, 201, invite.text);
  remember(invite.body);
  audited(invite, owner.org.id, "invitation.create", { type: "api_key", id: admin.id }, { type: "invitation", id: invite.body.invitation.id });
  expectError(assert, await admin.client.post(`/v1/orgs/${owner.org.id}/api-keys`, { name: "k", role: "owner" }), 422, "invalid_role");

  // Keys never exceed their creator, and never own.
  expectError(assert, await owner.client.post(`/v1/orgs/${owner.org.id}/api-keys`, { name: "root", role: "owner" }), 422, "invalid_role");

  // Forged keys.
  const forged = `${key.prefix}_${"A".repeat(43)}`;
  expectError(assert, await new Client(app, { token: forged }).get(`/v1/orgs/${owner.org.id}`), 401, "invalid_api_key");
  expectError(assert, await new Client(app, { token: `cos_key_zzzzzzzz_${"A".repeat(43)}` }).get(`/v1/orgs/${owner.org.id}`), 401, "invalid_api_key");

  // Revocation is immediate.
  const revoke = await owner.client.delete(`/v1/orgs/${owner.org.id}/api-keys/${key.id}`);
  assert.equal(revoke.status, 204, revoke.text);
  audited(revoke, owner.org.id, "api_key.revoke", user(owner), { type: "api_key", id: key.id });
  const refused = await bearer.get(`/v1/orgs/${owner.org.id}`);
  expectError(assert, refused, 401, "api_key_revoked");
  assert.match(refused.headers.get("www-authenticate") ?? "", /^Bearer /);
  expectError(assert, await owner.client.delete(`/v1/orgs/${owner.org.id}/api-keys/${key.id}`), 404, "not_found");
  const after = await owner.client.get(`/v1/orgs/${owner.org.id}/api-keys`);
  assert.match(after.body.items.find((k) => k.id === key.id).revoked_at, RFC3339);
  assert.equal(after.body.items.find((k) => k.id === admin.id).revoked_at, null);
});

test("editors and viewers cannot create keys; admins cannot mint keys above themselves", async () => {
  const { owner, org } = keyOrg;
  const editor = await addMember(app, owner.client, org.id, "editor", "key-editor");
  const admin = await addMember(app, owner.client, org.id, "admin", "key-admin");
  remember(editor);
  remember(admin);
  expectError(assert, await editor.client.post(`/v1/orgs/${org.id}/api-keys`, { name: "k", role: "viewer" }), 403, "forbidden");
  expectError(assert, await editor.client.get(`/v1/orgs/${org.id}/api-keys`), 403, "forbidden");
  const byAdmin = await admin.client.post(`/v1/orgs/${org.id}/api-keys`, { name: "admin's", role: "admin" });
  assert.equal(byAdmin.status, 201, byAdmin.text);
  remember(byAdmin.body);
  audited(byAdmin, org.id, "api_key.create", user(admin), { type: "api_key", id: byAdmin.body.api_key.id });
});

// ------------------------------------------------------------------------------------------ races

test("concurrent signups with one email: one account, the others 409 email_taken", async () => {
  const email = uniqueEmail("race");
  const results = await Promise.all(
    [1, 2, 3].map((n) => new Client(app).post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: `Racer ${n}` })),
  );
  const statuses = results.map((r) => r.status).sort();
  assert.deepEqual(statuses, [201, 409, 409], results.map((r) => r.text).join("\n"));
  for (const res of results.filter((r) => r.status === 409)) expectError(assert, res, 409, "email_taken");
  const winner = results.find((r) => r.status === 201).body;
  remember(winner);
  const users = await app.query("SELECT id FROM users WHERE email = ?", email);
  assert.deepEqual(users, [{ id: winner.user.id }]);
  const orgs = await app.query("SELECT count(*) AS n FROM orgs WHERE name LIKE 'Racer %'");
  assert.equal(orgs[0].n, 1, "the refused signups left no organisation behind");
});

test("an invitation accepted twice at once makes one membership and one audit record", async () => {
  const { owner, org } = keyOrg;
  const guest = await member("twice");
  const inv = await owner.client.post(`/v1/orgs/${org.id}/invitations`, { email: guest.email, role: "viewer" });
  assert.equal(inv.status, 201, inv.text);
  remember(inv.body);
  audited(inv, org.id, "invitation.create", user(owner), { type: "invitation", id: inv.body.invitation.id });
  const second = await login(app, guest.email);
  const results = await Promise.all(
    [guest.client, second.client, guest.client].map((c) => c.post(`/v1/invitations/${inv.body.invitation.token}/accept`)),
  );
  const ok = results.filter((r) => r.status === 200);
  assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.text}`).join("\n"));
  for (const res of results.filter((r) => r.status !== 200)) {
    assert.ok([409, 410].includes(res.status), res.text);
    expectError(assert, res, res.status);
  }
  audited(ok[0], org.id, "invitation.accept", user(guest), { type: "invitation", id: inv.body.invitation.id });
  const rows = await app.query("SELECT count(*) AS n FROM memberships WHERE org_id = ? AND user_id = ?", org.id, guest.user.id);
  assert.equal(rows[0].n, 1);
  const records = await app.query(
    "SELECT result FROM audit_log WHERE action = 'invitation.accept' AND target_id = ?",
    inv.body.invitation.id,
  );
  assert.deepEqual(records, [{ result: "success" }], "no record of an acceptance that did not happen");
});

test("an API key revoked twice at once is revoked once, with one audit record", async () => {
  const { owner, org } = keyOrg;
  const key = await createKey(app, owner.client, org.id, "viewer", "raced");
  remember(key.res.body);
  audited(key.res, org.id, "api_key.create", user(owner), { type: "api_key", id: key.id });
  const results = await Promise.all([1, 2, 3].map(() => owner.client.delete(`/v1/orgs/${org.id}/api-keys/${key.id}`)));
  const ok = results.filter((r) => r.status === 204);
  assert.equal(ok.length, 1, results.map((r) => `${r.status} ${r.text}`).join("\n"));
  for (const res of results.filter((r) => r.status !== 204)) expectError(assert, res, 404, "not_found");
  audited(ok[0], org.id, "api_key.revoke", user(owner), { type: "api_key", id: key.id });
  const records = await app.query("SELECT count(*) AS n FROM audit_log WHERE action = 'api_key.revoke' AND target_id = ?", key.id);
  assert.equal(records[0].n, 1);
  const [row] = await app.query("SELECT revoked_at FROM api_keys WHERE id = ?", key.id);
  const [record] = await app.query("SELECT at FROM audit_log WHERE action = 'api_key.revoke' AND target_id = ?", key.id);
  assert.equal(row.revoked_at, record.at, "revoked when the recorded revocation says");
});

// ------------------------------------------------------------------------------------------ audit

test("the audit trail records every change above with actor, target, result and request id", async () => {
  const byOrg = new Map();
  for (const entry of expectedAudit.filter((e) => e.org)) {
    if (!byOrg.has(entry.org)) byOrg.set(entry.org, []);
    byOrg.get(entry.org).push(entry);
  }
  for (const [org, entries] of byOrg) {
    const reader = auditReaders.get(org);
    assert.ok(reader, `someone can read ${org}`);
    const res = await reader.get(`/v1/orgs/${org}/audit?limit=200`);
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(Object.keys(res.body).sort(), ["items", "next_cursor"]);
    for (const entry of entries) {
      const matches = res.body.items.filter((i) => i.request_id === entry.request_id);
      assert.equal(matches.length, 1, `one record for ${entry.action} ${entry.request_id}`);
      const item = matches[0];
      assert.match(item.id, id("aud"));
      assert.match(item.at, RFC3339);
      assert.deepEqual(
        { action: item.action, actor: item.actor, target: item.target, result: item.result },
        { action: entry.action, actor: entry.actor, target: entry.target, result: entry.result },
        `${entry.action} in ${org}`,
      );
    }
  }
  // Changes that belong to no organisation (sign-ins, sign-outs, passwords) are in the same log.
  for (const entry of expectedAudit.filter((e) => !e.org)) {
    const rows = await app.query(
      "SELECT org_id, actor_type, actor_id, action, target_type, target_id, result FROM audit_log WHERE request_id = ?",
      entry.request_id,
    );
    assert.equal(rows.length, 1, `one record for ${entry.action} ${entry.request_id}`);
    const row = rows[0];
    assert.deepEqual(
      {
        org: row.org_id,
        action: row.action,
        actor: { type: row.actor_type, id: row.actor_id },
        target: row.target_type ? { type: row.target_type, id: row.target_id } : null,
        result: row.result,
      },
      { org: null, action: entry.action, actor: entry.actor, target: entry.target, result: entry.result },
    );
  }
  // Every audited change also emitted its analytics event, with the same request id.
  for (const entry of expectedAudit) {
    const events = await app.query("SELECT name FROM events WHERE request_id = ?", entry.request_id);
    assert.deepEqual(events, [{ name: entry.action }], `event for ${entry.action}`);
  }
});

test("the audit trail is newest first, pages with cursors, and filters by actor and action", async () => {
  const { owner, org } = keyOrg;
  const reader = auditReaders.get(studio.id);
  const all = (await reader.get(`/v1/orgs/${studio.id}/audit?limit=200`)).body;
  assert.equal(all.next_cursor, null);
  assert.ok(all.items.length >= 10, `enough records to page (${all.items.length})`);
  for (let i = 1; i < all.items.length; i++) {
    assert.ok(all.items[i - 1].id > all.items[i].id, "ids descend");
    assert.ok(Date.parse(all.items[i - 1].at) >= Date.parse(all.items[i].at), "newest first");
  }
  for (const item of all.items) {
    assert.deepEqual(Object.keys(item).sort(), ["action", "actor", "at", "details", "id", "ip", "request_id", "result", "target"]);
  }

  const paged = [];
  let cursor = null;
  let pages = 0;
  do {
    const res = await reader.get(`/v1/orgs/${studio.id}/audit?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    assert.equal(res.status, 200, res.text);
    assert.ok(res.body.items.length <= 2);
    paged.push(...res.body.items);
    cursor = res.body.next_cursor;
    pages += 1;
    assert.ok(pages <= all.items.length, "pagination ends");
  } while (cursor);
  assert.deepEqual(paged.map((i) => i.id), all.items.map((i) => i.id), "pages cover everything once, in order");
  assert.equal(new Set(paged.map((i) => i.id)).size, paged.length, "no overlap");

  const byActor = await reader.get(`/v1/orgs/${studio.id}/audit?actor=${alex.user.id}`);
  assert.equal(byActor.status, 200);
  assert.deepEqual(byActor.body.items.map((i) => i.id), all.items.filter((i) => i.actor.id === alex.user.id).map((i) => i.id));
  assert.ok(byActor.body.items.length >= 3);
  const byAction = await reader.get(`/v1/orgs/${studio.id}/audit?action=member.role_change`);
  assert.deepEqual(byAction.body.items.map((i) => i.id), all.items.filter((i) => i.action === "member.role_change").map((i) => i.id));
  assert.equal(byAction.body.items.length, 2);
  const both = await reader.get(`/v1/orgs/${studio.id}/audit?action=member.role_change&actor=${alex.user.id}&limit=1`);
  assert.equal(both.body.items.length, 1);
  assert.equal(both.body.items[0].actor.id, alex.user.id);
  assert.equal(both.body.items[0].action, "member.role_change");
  assert.equal(both.body.next_cursor, null);

  expectError(assert, await reader.get(`/v1/orgs/${studio.id}/audit?cursor=!!!`), 400, "invalid_cursor");
  for (const limit of ["0", "201", "abc", "-1"]) {
    expectError(assert, await reader.get(`/v1/orgs/${studio.id}/audit?limit=${limit}`), 422, "invalid_limit");
  }

  // Only admins (and admin keys) read it.
  const editor = await addMember(app, owner.client, org.id, "editor", "audit-editor");
  const viewer = await addMember(app, owner.client, org.id, "viewer", "audit-viewer");
  remember(editor);
  remember(viewer);
  expectError(assert, await editor.client.get(`/v1/orgs/${org.id}/audit`), 403, "forbidden");
  expectError(assert, await viewer.client.get(`/v1/orgs/${org.id}/audit`), 403, "forbidden");
  const editorKey = await createKey(app, owner.client, org.id, "editor");
  expectError(assert, await editorKey.client.get(`/v1/orgs/${org.id}/audit`), 403, "forbidden");
  const adminKey = await createKey(app, owner.client, org.id, "admin");
  remember(editorKey.res.body);
  remember(adminKey.res.body);
  const viaKey = await adminKey.client.get(`/v1/orgs/${org.id}/audit?limit=1`);
  assert.equal(viaKey.status, 200, viaKey.text);
  assert.equal(viaKey.body.items[0].action, "api_key.create", "newest first");
  assert.equal(viaKey.body.items[0].target.id, adminKey.id);
});

test("secrets are stored only as hashes: no token or key appears anywhere in D1", async () => {
  assert.ok(secrets.size >= 20, `collected ${secrets.size} secrets`);
  const snapshot = JSON.stringify(await app.snapshot());
  for (const secret of secrets) {
    assert.ok(!snapshot.includes(secret), "a secret is stored in clear");
    // Not even the secret half of an API key.
    if (secret.startsWith("cos_key_")) assert.ok(!snapshot.includes(secret.split("_").slice(3).join("_")));
  }
  assert.ok(!snapshot.includes(GOOD_PASSWORD), "no password in clear");
  // What is stored is the SHA-256 of the token (high-entropy tokens need no slow hash).
  const [session] = await app.query("SELECT token_hash FROM sessions WHERE token_hash = ?", sha256(ada.session.token));
  assert.ok(session, "the session is found by the hash of its token");
  const keys = await app.query("SELECT prefix, key_hash FROM api_keys");
  const keySecrets = [...secrets].filter((s) => s.startsWith("cos_key_"));
  for (const key of keySecrets) {
    const row = keys.find((k) => key.startsWith(`${k.prefix}_`));
    assert.ok(row, "the key's prefix is stored");
    assert.equal(row.key_hash, sha256(key));
  }
});

// ------------------------------------------------------------------------------------------ expiry

test("sessions end when idle and at their absolute lifetime; invitations expire (short-lived app)", async () => {
  const short = await shortStarting;
  const email = uniqueEmail("brief");
  const res = await new Client(short).post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "Brief" });
  assert.equal(res.status, 201, res.text);
  const idle = new Client(short, { token: res.body.session.token });
  const org = res.body.org.id;
  // The configured lifetimes are what the client is told.
  assert.equal(Number(parseSessionCookie(res).attrs["max-age"]), 4);
  assert.ok(Date.parse(res.body.session.expires_at) <= Date.now() + 4000);

  const busyLogin = await new Client(short).post("/v1/auth/login", { email, password: GOOD_PASSWORD });
  assert.equal(busyLogin.status, 200, busyLogin.text);
  const busy = new Client(short, { token: busyLogin.body.session.token });
  const busyStarted = Date.now();

  const invitee = await signup(short, "invitee");
  const inv = await idle.post(`/v1/orgs/${org}/invitations`, { email: invitee.email, role: "viewer" });
  assert.equal(inv.status, 201, inv.text);
  assert.ok(Date.parse(inv.body.invitation.expires_at) <= Date.now() + 2000, "the configured invitation lifetime");
  // The idle session's last use: it is idle from here (signups are slow on a loaded machine, so
  // this can be well after the signup).
  const idleSince = Date.now();

  // The busy session is used every 300 ms: activity keeps it past the 2 s idle timeout, until
  // its 4 s absolute lifetime ends it. The idle one is checked once it has been idle > 2 s.
  let idleChecked = false;
  let lastOk = busyStarted;
  let ended;
  while (!ended) {
    const me = await busy.get("/v1/me");
    if (me.status === 200) {
      lastOk = Date.now();
    } else {
      ended = me;
    }
    if (!idleChecked && Date.now() - idleSince > 2500) {
      const expired = await idle.get("/v1/me");
      expectError(assert, expired, 401, "session_expired");
      assert.match(expired.headers.get("www-authenticate") ?? "", /^Bearer /);
      idleChecked = true;
    }
    assert.ok(Date.now() - busyStarted < 30000, "the session ends");
    await sleep(300);
  }
  expectError(assert, ended, 401, "session_expired");
  if (!idleChecked) {
    // A slow start left the idle session's check for after the busy one ended.
    await sleep(Math.max(0, idleSince + 2500 - Date.now()));
    expectError(assert, await idle.get("/v1/me"), 401, "session_expired");
  }
  assert.ok(lastOk - busyStarted > 2500, "activity kept the session alive beyond the idle timeout");
  const [row] = await short.query(
    "SELECT created_at, absolute_expires_at FROM sessions WHERE token_hash = ?",
    sha256(busyLogin.body.session.token),
  );
  assert.equal(row.absolute_expires_at - row.created_at, 4000);

  // The invitation lapsed too: 410 for the invitee (signed in afresh), and no longer pending.
  const fresh = await login(short, invitee.email);
  const late = await fresh.client.post(`/v1/invitations/${inv.body.invitation.token}/accept`);
  expectError(assert, late, 410, "invitation_expired");
  const owner = await login(short, email);
  const pending = await owner.client.get(`/v1/orgs/${org}/invitations`);
  assert.equal(pending.status, 200, pending.text);
  assert.deepEqual(pending.body.items, []);
  const members = await short.query("SELECT count(*) AS n FROM memberships WHERE org_id = ?", org);
  assert.equal(members[0].n, 1);
});
