// Tenant isolation: every org-scoped identity route, tried by a member of another org (404),
// by viewers and editors of the org (reads 200, management 403), by another org's API key (404)
// and anonymously (401 with a challenge). A refused request changes nothing in D1.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, signup, startApp, uniqueEmail } from "./harness.mjs";
import { addMember, createKey, NoChange } from "./identity-support.mjs";

let app;
let alice; // owner of org A
let bob; // owner of org B
let A;
let B;
let members; // {editor, viewer} of A
let keys; // {viewerA, editorA, adminB}
let invitationA;
let routes;
let d1; // NoChange over `app`

before(async () => {
  app = await startApp();
  d1 = new NoChange(app);
  alice = await signup(app, "alice");
  bob = await signup(app, "bob");
  A = alice.org.id;
  B = bob.org.id;
  members = {
    editor: await addMember(app, alice.client, A, "editor", "ed"),
    viewer: await addMember(app, alice.client, A, "viewer", "vera"),
    // The member whose role and membership the member routes try to change (not one of the
    // callers: removing oneself is leaving, which any member may do).
    target: await addMember(app, alice.client, A, "editor", "tom"),
  };
  keys = {
    viewerA: await createKey(app, alice.client, A, "viewer"),
    editorA: await createKey(app, alice.client, A, "editor"),
    revocableA: await createKey(app, alice.client, A, "viewer", "to revoke"),
    adminB: await createKey(app, bob.client, B, "admin"),
  };
  const inv = await alice.client.post(`/v1/orgs/${A}/invitations`, { email: uniqueEmail("pending"), role: "viewer" });
  assert.equal(inv.status, 201, inv.text);
  invitationA = inv.body.invitation;
  // Bob's org has objects of its own, to make sure they are not confused with Alice's.
  await addMember(app, bob.client, B, "editor", "bea");
  await bob.client.post(`/v1/orgs/${B}/invitations`, { email: uniqueEmail("b-pending"), role: "viewer" });

  // Every org-scoped identity route, with real ids of org A's objects. `manage`: admin only.
  routes = [
    { method: "GET", path: `/v1/orgs/${A}`, template: "/v1/orgs/{org_id}", read: true },
    { method: "PATCH", path: `/v1/orgs/${A}`, template: "/v1/orgs/{org_id}", body: { name: "Taken over" } },
    { method: "GET", path: `/v1/orgs/${A}/members`, template: "/v1/orgs/{org_id}/members", read: true },
    {
      method: "PATCH",
      path: `/v1/orgs/${A}/members/${members.target.user.id}`,
      template: "/v1/orgs/{org_id}/members/{user_id}",
      body: { role: "admin" },
    },
    { method: "DELETE", path: `/v1/orgs/${A}/members/${members.target.user.id}`, template: "/v1/orgs/{org_id}/members/{user_id}" },
    {
      method: "POST",
      path: `/v1/orgs/${A}/invitations`,
      template: "/v1/orgs/{org_id}/invitations",
      body: { email: uniqueEmail("intruder"), role: "admin" },
    },
    { method: "GET", path: `/v1/orgs/${A}/invitations`, template: "/v1/orgs/{org_id}/invitations" },
    {
      method: "DELETE",
      path: `/v1/orgs/${A}/invitations/${invitationA.id}`,
      template: "/v1/orgs/{org_id}/invitations/{invitation_id}",
    },
    {
      method: "POST",
      path: `/v1/orgs/${A}/api-keys`,
      template: "/v1/orgs/{org_id}/api-keys",
      body: { name: "backdoor", role: "viewer" },
    },
    { method: "GET", path: `/v1/orgs/${A}/api-keys`, template: "/v1/orgs/{org_id}/api-keys" },
    {
      method: "DELETE",
      path: `/v1/orgs/${A}/api-keys/${keys.revocableA.id}`,
      template: "/v1/orgs/{org_id}/api-keys/{key_id}",
    },
    { method: "GET", path: `/v1/orgs/${A}/audit`, template: "/v1/orgs/{org_id}/audit" },
  ];
});
after(async () => {
  await app?.dispose();
});

/**
 * Sends `route` as `client`; asserts the refusal and that D1 did not change (apart from the
 * caller's own "last seen / last used" mark, which authenticating may refresh).
 */
async function refused(client, route, status, code, label) {
  return d1.around(`${label}: ${route.method} ${route.template}`, false, async () => {
    const res = await client.request(route.method, route.path, route.body);
    expectError(assert, res, status, code);
    return res;
  });
}

test("the route table covers every org-scoped identity route the API documents", async () => {
  const doc = (await new Client(app).get("/openapi.json")).body;
  const documented = [];
  for (const [template, item] of Object.entries(doc.paths)) {
    if (!template.startsWith("/v1/orgs/{org_id}")) continue;
    for (const [method, op] of Object.entries(item)) {
      if (op.tags.includes("identity")) documented.push(`${method.toUpperCase()} ${template}`);
    }
  }
  const covered = routes.map((r) => `${r.method} ${r.template}`);
  assert.deepEqual([...new Set(covered)].sort(), documented.sort());
});

test("a member of another org gets 404 for every route, exactly as for an org that does not exist", async () => {
  for (const route of routes) {
    const res = await refused(bob.client, route, 404, "not_found", "member of another org");
    // Indistinguishable from an absent org.
    const ghost = await bob.client.request(route.method, route.path.replace(A, "org_01J00000000000000000000000"), route.body);
    expectError(assert, ghost, 404, "not_found");
    assert.equal(ghost.body.error.message, res.body.error.message);
  }
  // Their own org's id with org A's objects in the path: still nothing to see.
  const crossed = [
    { method: "PATCH", path: `/v1/orgs/${B}/members/${members.editor.user.id}`, template: "member of A via B", body: { role: "viewer" } },
    { method: "DELETE", path: `/v1/orgs/${B}/members/${members.editor.user.id}`, template: "member of A via B" },
    { method: "DELETE", path: `/v1/orgs/${B}/members/${alice.user.id}`, template: "owner of A via B" },
    { method: "DELETE", path: `/v1/orgs/${B}/invitations/${invitationA.id}`, template: "invitation of A via B" },
    { method: "DELETE", path: `/v1/orgs/${B}/api-keys/${keys.revocableA.id}`, template: "API key of A via B" },
  ];
  for (const route of crossed) {
    await refused(bob.client, route, 404, "not_found", "object of another org");
    await refused(keys.adminB.client, route, 404, "not_found", "object of another org, by key");
  }
  // Someone else's invitation link.
  await refused(
    bob.client,
    { method: "POST", path: `/v1/invitations/${invitationA.token}/accept`, template: "accept" },
    404,
    "not_found",
    "another org's invitation",
  );
});

test("viewers and editors read, but every management route is 403", async () => {
  for (const [label, client] of [
    ["viewer", members.viewer.client],
    ["editor", members.editor.client],
    ["viewer key", keys.viewerA.client],
    ["editor key", keys.editorA.client],
  ]) {
    for (const route of routes) {
      if (route.read) {
        const res = await client.request(route.method, route.path);
        assert.equal(res.status, 200, `${label} reads ${route.template}: ${res.text}`);
      } else {
        await refused(client, route, 403, "forbidden", label);
      }
    }
  }
});

test("another org's API key gets 404 for every route", async () => {
  for (const route of routes) {
    await refused(keys.adminB.client, route, 404, "not_found", "another org's key");
  }
});

test("anonymous requests get 401 with a WWW-Authenticate challenge", async () => {
  for (const route of routes) {
    const res = await refused(new Client(app), route, 401, "unauthenticated", "anonymous");
    assert.match(res.headers.get("www-authenticate") ?? "", /^Bearer realm="creator-os"/);
  }
});

test("lists and trails never show another org's data", async () => {
  const orgs = await bob.client.get("/v1/orgs");
  assert.deepEqual(orgs.body.items.map((m) => m.org.id), [B]);
  const me = await bob.client.get("/v1/me");
  assert.deepEqual(me.body.memberships.map((m) => m.org.id), [B]);
  const keyOrgs = await keys.adminB.client.get("/v1/orgs");
  assert.deepEqual(keyOrgs.body.items.map((m) => m.org.id), [B]);

  const aliceIds = new Set([alice.user.id, members.editor.user.id, members.viewer.user.id, members.target.user.id, A]);
  const bobAudit = await bob.client.get(`/v1/orgs/${B}/audit?limit=200`);
  assert.equal(bobAudit.status, 200);
  for (const item of bobAudit.body.items) {
    assert.ok(!aliceIds.has(item.actor.id) && !aliceIds.has(item.target?.id), `A's record in B's trail: ${JSON.stringify(item)}`);
  }
  const aliceAudit = await alice.client.get(`/v1/orgs/${A}/audit?limit=200`);
  assert.ok(aliceAudit.body.items.length > 0);
  assert.ok(!JSON.stringify(aliceAudit.body).includes(bob.user.id));
  const bobMembers = await bob.client.get(`/v1/orgs/${B}/members`);
  assert.ok(!bobMembers.body.items.some((m) => aliceIds.has(m.user.id)));
  const bobKeys = await bob.client.get(`/v1/orgs/${B}/api-keys`);
  assert.deepEqual(bobKeys.body.items.map((k) => k.id), [keys.adminB.id]);
  // An audit cursor from another org's trail reveals nothing either.
  const page = await alice.client.get(`/v1/orgs/${A}/audit?limit=1`);
  const foreign = await bob.client.get(`/v1/orgs/${B}/audit?cursor=${page.body.next_cursor}`);
  assert.equal(foreign.status, 200);
  assert.ok(!JSON.stringify(foreign.body).includes(A));
});

test("the owner still manages everything the others could not", async () => {
  // The refusals above were refusals of real, allowed operations: the owner's requests succeed.
  for (const route of routes) {
    const res = await alice.client.request(route.method, route.path, route.body);
    assert.ok(res.status >= 200 && res.status < 300, `owner ${route.method} ${route.template}: ${res.status} ${res.text}`);
  }
});
