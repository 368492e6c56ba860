// Login throttling, per account and per client address, with small budgets: refusals are
// 429 rate_limited with Retry-After, the throttle is checked before the password (so a right
// password during a lockout is refused too), and password checks share the account's budget.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, GOOD_PASSWORD, signup, startApp } from "./harness.mjs";

// 3 attempts per account, 12 per address; refills so slow (0.01 a minute) that nothing comes
// back during the test, which makes every count below exact.
const ACCOUNT_BURST = 3;
const IP_BURST = 12;

let app;
let users;
before(async () => {
  app = await startApp({
    vars: {
      LOGIN_ACCOUNT_BURST: String(ACCOUNT_BURST),
      LOGIN_ACCOUNT_PER_MINUTE: "0.01",
      LOGIN_IP_BURST: String(IP_BURST),
      LOGIN_IP_PER_MINUTE: "0.01",
    },
  });
  // Signing up is not a login attempt: it spends no budget.
  users = {};
  for (const name of ["ana", "ben", "cal", "dee"]) users[name] = await signup(app, name);
});
after(async () => {
  await app?.dispose();
});

const attempt = (user, password) => new Client(app).post("/v1/auth/login", { email: user.email, password });
let spent = 0; // attempts charged to the (single) client address so far

function expectThrottled(res) {
  expectError(assert, res, 429, "rate_limited");
  const retryAfter = res.headers.get("retry-after");
  assert.match(retryAfter ?? "", /^[1-9]\d*$/, "Retry-After in whole seconds");
  assert.deepEqual(res.headers.getSetCookie(), [], "no session");
  return Number(retryAfter);
}

async function failedLogins(user) {
  const rows = await app.query(
    "SELECT count(*) AS n FROM audit_log WHERE action = 'auth.login' AND result = 'failure' AND target_id = ?",
    user.user.id,
  );
  return rows[0].n;
}

test("repeated wrong passwords lock the account: 429 rate_limited with Retry-After", async () => {
  const ana = users.ana;
  for (let i = 0; i < ACCOUNT_BURST; i++) {
    expectError(assert, await attempt(ana, `wrong-password-${i}`), 401, "invalid_credentials");
    spent += 1;
  }
  const retryAfter = expectThrottled(await attempt(ana, "wrong-password-x"));
  spent += 1;
  // One token at 0.01 a minute: about 100 minutes away.
  assert.ok(retryAfter > 60 * 60 && retryAfter <= 6000, `Retry-After ${retryAfter}`);
  // Throttled attempts never reached the password check.
  assert.equal(await failedLogins(ana), ACCOUNT_BURST);
});

test("during a lockout the right password is refused too: the throttle comes first", async () => {
  const res = await attempt(users.ana, GOOD_PASSWORD);
  spent += 1;
  expectThrottled(res);
  const sessions = await app.query("SELECT count(*) AS n FROM sessions WHERE user_id = ?", users.ana.user.id);
  assert.equal(sessions[0].n, 1, "only the signup's session exists");
  // Email case and spacing do not open a second bucket.
  expectThrottled(await attempt({ email: `  ${users.ana.email.toUpperCase()} ` }, GOOD_PASSWORD));
  spent += 1;
});

test("password checks while signed in share the account's budget", async () => {
  const res = await users.ana.client.post("/v1/auth/password", {
    current_password: GOOD_PASSWORD,
    new_password: "tangerine-heron-lattice-47",
  });
  spent += 1;
  expectThrottled(res);
  const again = await new Client(app).post("/v1/auth/login", { email: users.ana.email, password: "tangerine-heron-lattice-47" });
  spent += 1;
  expectThrottled(again);
});

test("another account from the same address signs in until the address's budget runs out", async () => {
  const { ben, cal, dee } = users;
  assert.ok(spent < IP_BURST, `budget left: ${IP_BURST - spent}`);
  const ok = await attempt(ben, GOOD_PASSWORD);
  spent += 1;
  assert.equal(ok.status, 200, `a locked account does not lock others: ${ok.text}`);
  expectError(assert, await attempt(cal, "wrong-password"), 401, "invalid_credentials");
  spent += 1;
  while (spent < IP_BURST) {
    const res = await attempt(cal, GOOD_PASSWORD);
    spent += 1;
    assert.equal(res.status, 200, res.text);
  }
  // The address has no budget left: every account is refused, fresh ones included, whatever
  // the password.
  for (const [user, password] of [[dee, GOOD_PASSWORD], [ben, GOOD_PASSWORD], [cal, "wrong-password"]]) {
    expectThrottled(await attempt(user, password));
  }
  assert.equal(await failedLogins(dee), 0);
  const deeSessions = await app.query("SELECT count(*) AS n FROM sessions WHERE user_id = ?", dee.user.id);
  assert.equal(deeSessions[0].n, 1, "only the signup's session exists");
});

test("signing up and authenticated requests are not login attempts", async () => {
  const fresh = await signup(app, "later");
  const me = await fresh.client.get("/v1/me");
  assert.equal(me.status, 200, me.text);
  assert.equal((await users.ana.client.get("/v1/me")).status, 200, "existing sessions of a locked account still work");
});
