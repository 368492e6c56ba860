import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, GOOD_PASSWORD, startApp, uniqueEmail } from "./harness.mjs";

let app;
before(async () => { app = await startApp(); });
after(async () => { await app?.dispose(); });

test("health reports ok with D1 reachable", async () => {
  const res = await new Client(app).get("/v1/health");
  assert.equal(res.status, 200);
  assert.deepEqual(res.body, { status: "ok" });
  assert.match(res.headers.get("x-request-id"), /^req_/);
});

test("signup then me", async () => {
  const email = uniqueEmail();
  const t0 = Date.now();
  const res = await new Client(app).post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: "Ada" });
  console.log("signup ms", Date.now() - t0);
  assert.equal(res.status, 201, res.text);
  const me = await new Client(app, { token: res.body.session.token }).get("/v1/me");
  assert.equal(me.status, 200, me.text);
  assert.equal(me.body.user.email, email);
  assert.equal(me.body.memberships[0].role, "owner");
});
