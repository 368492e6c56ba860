// OpenID Connect sign-in, end to end: the Worker in local workerd against a real OpenID
// provider (the `oidc-provider` package) on 127.0.0.1, driven like a browser would be.
//
// Providers:
//   idp   – client_secret_basic; email and email_verified come from userinfo (the ID token
//           carries only the standard claims); RS256 and ES256 clients, plus a client the test
//           itself plays, to mint tokens for someone else.
//   idp2  – a second issuer sharing idp's signing key, that only takes client_secret_post and
//           puts email in the ID token (and lets us mint a validly signed token from the wrong
//           issuer: the mix-up attack).
// Apps: `app` has every provider (and one with no secret, one that is down), `bare` has none,
// `hasty` lets logins expire after one second. The providers are built after the apps start,
// since their clients' redirect URIs name the apps' ports.
import assert from "node:assert/strict";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Client, GOOD_PASSWORD, expectError, signup, startApp, uniqueEmail } from "./harness.mjs";
import { Browser, accounts, b64url, idTokenAsClient, listenIdp, sha256b64url, signingKeys } from "./support/oidc-idp.mjs";

const SESSION_COOKIE = "__Host-cos_session";
const SECRET = b64url(randomBytes(24));
const EC_SECRET = b64url(randomBytes(24));
const OTHER_SECRET = b64url(randomBytes(24));
const POST_SECRET = b64url(randomBytes(24));
const OTHER_REDIRECT = "http://127.0.0.1:9/other-app/callback";

let idp;
let idp2;
let app; // every provider configured
let bare; // no provider configured
let hasty; // logins expire after one second
let downIssuer; // nothing listens there

function providersFor() {
  return JSON.stringify([
    { id: "test", name: "Test IdP", issuer: idp.issuer, client_id: "creator-os" },
    { id: "test-ec", name: "Test IdP (ES256)", issuer: idp.issuer, client_id: "creator-os-ec" },
    { id: "wrong-secret", name: "Test IdP, wrong secret", issuer: idp.issuer, client_id: "creator-os" },
    { id: "post", name: "Post-only IdP", issuer: idp2.issuer, client_id: "creator-os" },
    { id: "no-secret", name: "Not usable", issuer: idp.issuer, client_id: "creator-os" },
    { id: "down", name: "Unreachable IdP", issuer: downIssuer, client_id: "creator-os" },
  ]);
}

before(async () => {
  idp = await listenIdp();
  idp2 = await listenIdp();
  const closed = await listenIdp();
  downIssuer = closed.issuer;
  await closed.close();
  const vars = {
    OIDC_PROVIDERS: providersFor(),
    OIDC_TEST_CLIENT_SECRET: SECRET,
    OIDC_TEST_EC_CLIENT_SECRET: EC_SECRET,
    OIDC_WRONG_SECRET_CLIENT_SECRET: "not-the-secret",
    OIDC_POST_CLIENT_SECRET: POST_SECRET,
    OIDC_DOWN_CLIENT_SECRET: "unused",
    OIDC_START_IP_BURST: "1000",
  };
  [app, bare, hasty] = await Promise.all([
    startApp({ vars }),
    startApp(),
    startApp({ vars: { ...vars, OIDC_LOGIN_TTL_SECONDS: "1" } }),
  ]);
  const keys = signingKeys();
  const callbacks = (id) => [app, hasty].map((a) => `${a.base}/v1/auth/oidc/${id}/callback`);
  const client = (fields) => ({ response_types: ["code"], grant_types: ["authorization_code"], ...fields });
  idp.configure({
    jwks: { keys: [keys.rsa, keys.ec] },
    clients: [
      client({
        client_id: "creator-os",
        client_secret: SECRET,
        redirect_uris: [...callbacks("test"), ...callbacks("wrong-secret")],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "RS256",
      }),
      client({
        client_id: "creator-os-ec",
        client_secret: EC_SECRET,
        redirect_uris: callbacks("test-ec"),
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "ES256",
      }),
      client({
        client_id: "other-app",
        client_secret: OTHER_SECRET,
        redirect_uris: [OTHER_REDIRECT],
        token_endpoint_auth_method: "client_secret_basic",
        id_token_signed_response_alg: "RS256",
      }),
    ],
  });
  idp2.configure({
    jwks: { keys: [keys.rsa] },
    clientAuthMethods: ["client_secret_post"],
    idTokenClaims: true,
    clients: [
      client({
        client_id: "creator-os",
        client_secret: POST_SECRET,
        redirect_uris: callbacks("post"),
        token_endpoint_auth_method: "client_secret_post",
        id_token_signed_response_alg: "RS256",
      }),
    ],
  });
});

after(async () => {
  await Promise.all([app?.dispose(), bare?.dispose(), hasty?.dispose()]);
  await Promise.all([idp?.close(), idp2?.close()]);
});

// ---------------------------------------------------------------- helpers

let people = 0;
/** A person at the providers; returns their account id (the `sub`). */
function person({ email = uniqueEmail("oidc"), verified = true, name = "Ada Lovelace" } = {}) {
  people += 1;
  const id = `acct-${people}-${Date.now().toString(36)}`;
  accounts.set(id, { email, email_verified: verified, name });
  return id;
}

/** GET /start in `browser`; returns the response and the authorization URL it points to. */
async function start(target, browser, provider = "test", returnTo = "/") {
  const query = returnTo === undefined ? "" : `?return_to=${encodeURIComponent(returnTo)}`;
  const res = await browser.fetch(`${target.base}/v1/auth/oidc/${provider}/start${query}`);
  const location = res.headers.get("location");
  await res.arrayBuffer();
  return { res, authorize: location ? new URL(location) : undefined };
}

/** Starts a login and follows the provider until it redirects back to the app; returns that URL. */
async function toCallback(target, browser, provider = "test", returnTo = "/") {
  const { res, authorize } = await start(target, browser, provider, returnTo);
  assert.equal(res.status, 302, `start answered ${res.status}`);
  const end = await browser.follow(authorize.href, (url) => url.href.startsWith(`${target.base}/`));
  assert.ok(end.stopped, `the provider did not send the browser back: ${end.response?.status} ${end.text}`);
  return { callback: end.url, authorize };
}

/** Fetches the callback in `browser`; returns a harness-style result (status, headers, body). */
async function callback(browser, url) {
  const res = await browser.fetch(url.href);
  const text = await res.text();
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, headers: res.headers, body, text };
}

/** A full login; returns the callback's answer. */
async function login(target, browser, provider = "test", returnTo = "/") {
  const { callback: url } = await toCallback(target, browser, provider, returnTo);
  return callback(browser, url);
}

function sessionCookieOf(res) {
  return res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
}

/** A client holding the session cookie the browser got. */
function clientOf(target, browser) {
  const value = browser.cookie(SESSION_COOKIE);
  assert.ok(value, "the browser holds no session cookie");
  return new Client(target, { cookie: `${SESSION_COOKIE}=${value}` });
}

async function count(target, sql, ...params) {
  const [row] = await target.query(sql, ...params);
  return row.n;
}

/** Runs `fn` while the provider swaps the ID token of its token responses for `idToken(original)`. */
async function withInjectedToken(provider, idToken, fn) {
  provider.onToken = async (body) => ({ ...body, id_token: await idToken(body.id_token) });
  try {
    return await fn();
  } finally {
    provider.onToken = undefined;
  }
}

function decodeJwt(token) {
  const [header, payload] = token.split(".");
  return { header: JSON.parse(Buffer.from(header, "base64url")), claims: JSON.parse(Buffer.from(payload, "base64url")) };
}

/** Asserts a refused callback: the error shape, and no session cookie. */
function expectRefused(res, status, code) {
  const error = expectError(assert, res, status, code);
  assert.equal(sessionCookieOf(res), undefined, "a refused login must not set a session cookie");
  return error;
}

// ---------------------------------------------------------------- configuration

describe("configuration", () => {
  test("the providers list shows the usable configured providers", async () => {
    const res = await new Client(app).get("/v1/auth/oidc/providers");
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(
      res.body.providers.map((p) => [p.id, p.name, p.start_url]),
      [
        ["test", "Test IdP", "/v1/auth/oidc/test/start"],
        ["test-ec", "Test IdP (ES256)", "/v1/auth/oidc/test-ec/start"],
        ["wrong-secret", "Test IdP, wrong secret", "/v1/auth/oidc/wrong-secret/start"],
        ["post", "Post-only IdP", "/v1/auth/oidc/post/start"],
        ["down", "Unreachable IdP", "/v1/auth/oidc/down/start"],
      ],
      "the provider without a client secret is not offered",
    );
    assert.ok(!res.text.includes(SECRET) && !res.text.includes("client_id"), "nothing secret or internal is listed");
  });

  test("with no provider configured the list is empty and start/callback are 404", async () => {
    const list = await new Client(bare).get("/v1/auth/oidc/providers");
    assert.equal(list.status, 200, list.text);
    assert.deepEqual(list.body.providers, []);
    const started = await new Client(bare).get("/v1/auth/oidc/test/start?return_to=/");
    expectError(assert, started, 404, "not_found");
    const back = await new Client(bare).get("/v1/auth/oidc/test/callback?code=x&state=y");
    expectError(assert, back, 404, "not_found");
  });

  test("a provider without its client secret is a server misconfiguration, reported without detail", async () => {
    const res = await new Client(app).get("/v1/auth/oidc/no-secret/start");
    const error = expectError(assert, res, 500, "internal_error");
    assert.ok(!error.message.includes("OIDC_"), "configuration details stay in the log");
  });

  test("an unreachable provider is a clean 502, with no login stored", async () => {
    const before = await count(app, "SELECT COUNT(*) AS n FROM oidc_logins");
    const res = await new Client(app).get("/v1/auth/oidc/down/start");
    expectError(assert, res, 502, "oidc_provider_unavailable");
    assert.equal(res.headers.get("location"), null);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM oidc_logins"), before);
  });

  test("an unknown provider id is 404", async () => {
    expectError(assert, await new Client(app).get("/v1/auth/oidc/nope/start"), 404, "not_found");
    expectError(assert, await new Client(app).get("/v1/auth/oidc/nope/callback?state=x&code=y"), 404, "not_found");
  });
});

// ---------------------------------------------------------------- the happy paths

describe("sign-in", () => {
  test("start sends the browser to the provider with PKCE (S256), state and nonce, storing only a hash of state", async () => {
    const browser = new Browser();
    const before = await count(app, "SELECT COUNT(*) AS n FROM oidc_logins");
    const { res, authorize } = await start(app, browser, "test", "/projects?tab=1");
    assert.equal(res.status, 302);
    assert.equal(authorize.origin, idp.issuer);
    const q = authorize.searchParams;
    assert.equal(q.get("response_type"), "code");
    assert.equal(q.get("client_id"), "creator-os");
    assert.equal(q.get("redirect_uri"), `${app.base}/v1/auth/oidc/test/callback`);
    assert.deepEqual(q.get("scope").split(" ").sort(), ["email", "openid", "profile"]);
    assert.equal(q.get("code_challenge_method"), "S256");
    assert.ok(q.get("state").length >= 43 && q.get("nonce").length >= 43);
    assert.notEqual(q.get("state"), q.get("nonce"));

    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM oidc_logins"), before + 1);
    const [row] = await app.query(
      "SELECT * FROM oidc_logins WHERE state_hash = ?",
      createHashHex(q.get("state")),
    );
    assert.ok(row, "the login is stored under the SHA-256 of its state");
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM oidc_logins WHERE state_hash = ?", q.get("state")), 0);
    assert.equal(row.provider, "test");
    assert.equal(row.nonce, q.get("nonce"));
    assert.equal(sha256b64url(row.code_verifier), q.get("code_challenge"), "the challenge is S256 of the stored verifier");
    assert.equal(row.return_to, "/projects?tab=1");
    assert.equal(row.used_at, null);
    assert.ok(row.expires_at - row.created_at <= 10 * 60 * 1000 && row.expires_at > row.created_at);
    const binding = res.headers.getSetCookie().find((c) => c.startsWith("__Host-cos_oidc="));
    assert.match(binding, /HttpOnly/);
    assert.match(binding, /Secure/);
    assert.match(binding, /SameSite=Lax/);
  });

  test("a first login creates the user and a personal org, signs in and returns to return_to", async () => {
    const email = uniqueEmail("first");
    const sub = person({ email: email.toUpperCase(), name: "Grace Hopper" });
    const browser = new Browser({ account: sub });
    const res = await login(app, browser, "test", "/projects?tab=1");
    assert.equal(res.status, 302, res.text);
    assert.equal(res.headers.get("location"), `${app.base}/projects?tab=1`);
    const cookie = sessionCookieOf(res);
    assert.match(cookie, /^__Host-cos_session=cos_sess_/);
    assert.match(cookie, /HttpOnly/);

    const me = await clientOf(app, browser).get("/v1/me");
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.user.email, email, "the email is stored lower-cased");
    assert.equal(me.body.user.name, "Grace Hopper");
    assert.equal(me.body.memberships.length, 1);
    assert.equal(me.body.memberships[0].role, "owner");

    const [user] = await app.query("SELECT * FROM users WHERE id = ?", me.body.user.id);
    assert.equal(user.email_verified, 1);
    assert.equal(user.password_hash, null);
    const identities = await app.query("SELECT * FROM identities WHERE user_id = ?", user.id);
    assert.deepEqual(identities.map((i) => [i.provider, i.subject, i.email]), [["test", sub, email]]);
    const sessions = await app.query("SELECT auth_method FROM sessions WHERE user_id = ?", user.id);
    assert.deepEqual(sessions.map((s) => s.auth_method), ["oidc:test"]);
    const audit = await app.query("SELECT action, result, details FROM audit_log WHERE actor_id = ?", user.id);
    assert.deepEqual(audit.map((a) => [a.action, a.result, JSON.parse(a.details).method]), [["auth.signup", "success", "oidc:test"]]);
  });

  test("a second login signs the same user in with a new session", async () => {
    const email = uniqueEmail("again");
    const browser = new Browser({ account: person({ email }) });
    assert.equal((await login(app, browser)).status, 302);
    const first = await clientOf(app, browser).get("/v1/me");
    const firstCookie = browser.cookie(SESSION_COOKIE);

    const res = await login(app, browser, "test", "/after");
    assert.equal(res.status, 302, res.text);
    assert.equal(res.headers.get("location"), `${app.base}/after`);
    assert.notEqual(browser.cookie(SESSION_COOKIE), firstCookie, "every login makes a new session");
    const second = await clientOf(app, browser).get("/v1/me");
    assert.equal(second.body.user.id, first.body.user.id);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM users WHERE email = ?", email), 1);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM identities WHERE user_id = ?", first.body.user.id), 1);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND revoked_at IS NULL", first.body.user.id), 2);
    const logins = await app.query(
      "SELECT details FROM audit_log WHERE actor_id = ? AND action = 'auth.login' AND result = 'success'",
      first.body.user.id,
    );
    assert.deepEqual(logins.map((l) => JSON.parse(l.details)), [{ method: "oidc:test" }]);
  });

  test("a password user with the same verified email is linked, not duplicated, and secured", async () => {
    const existing = await signup(app, "linked");
    const browser = new Browser({ account: person({ email: existing.email }) });
    const res = await login(app, browser);
    assert.equal(res.status, 302, res.text);
    const me = await clientOf(app, browser).get("/v1/me");
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.user.id, existing.user.id, "the existing user signs in");
    assert.deepEqual(me.body.memberships.map((m) => m.org.id), [existing.org.id]);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM users WHERE email = ?", existing.email), 1);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM identities WHERE user_id = ? AND provider = 'test'", existing.user.id), 1);

    // The address had never been proven: the password and the sessions made with it end.
    expectError(assert, await existing.client.get("/v1/me"), 401, "session_revoked");
    const password = await new Client(app).post("/v1/auth/login", { email: existing.email, password: GOOD_PASSWORD });
    expectError(assert, password, 401, "invalid_credentials");
    const [link] = await app.query("SELECT details FROM audit_log WHERE actor_id = ? AND action = 'identity.link'", existing.user.id);
    assert.deepEqual(JSON.parse(link.details), { provider: "test", email: existing.email, unverified_account_secured: true });

    // The same person through another provider (ES256 tokens): linked to the same, now verified, user.
    const ec = await login(app, browser, "test-ec");
    assert.equal(ec.status, 302, ec.text);
    const again = await clientOf(app, browser).get("/v1/me");
    assert.equal(again.body.user.id, existing.user.id);
    const providers = await app.query("SELECT provider FROM identities WHERE user_id = ? ORDER BY provider", existing.user.id);
    assert.deepEqual(providers.map((p) => p.provider), ["test", "test-ec"]);
    const [second] = await app.query(
      "SELECT details FROM audit_log WHERE actor_id = ? AND action = 'identity.link' ORDER BY id DESC LIMIT 1",
      existing.user.id,
    );
    assert.equal(JSON.parse(second.details).unverified_account_secured, false, "a verified account is only linked");
    assert.equal((await clientOf(app, browser).get("/v1/me")).status, 200);
  });

  test("discovery and the signing keys are cached between logins", async () => {
    const browser = new Browser({ account: person() });
    assert.equal((await login(app, browser)).status, 302);
    const seen = (path) => idp.hits.get(path) ?? 0;
    const before = { discovery: seen("/.well-known/openid-configuration"), jwks: seen("/jwks"), token: seen("/token") };
    assert.equal((await login(app, browser)).status, 302);
    assert.equal((await login(app, new Browser({ account: person() }))).status, 302);
    assert.equal(seen("/token"), before.token + 2, "each login exchanges its code");
    assert.equal(seen("/.well-known/openid-configuration"), before.discovery, "discovery came from the cache");
    assert.equal(seen("/jwks"), before.jwks, "the keys came from the cache");
  });

  test("a provider offering only client_secret_post, with email in the ID token, works", async () => {
    const email = uniqueEmail("post");
    const browser = new Browser({ account: person({ email }) });
    const res = await login(app, browser, "post", "/welcome");
    assert.equal(res.status, 302, res.text);
    assert.equal(res.headers.get("location"), `${app.base}/welcome`);
    const me = await clientOf(app, browser).get("/v1/me");
    assert.equal(me.body.user.email, email);
    const issued = decodeJwt(idp2.issued.at(-1)).claims;
    assert.equal(issued.email, email, "this provider put the email in the ID token");
  });
});

// ---------------------------------------------------------------- refusals

describe("refusals", () => {
  test("an unverified email neither links to an existing account nor creates one", async () => {
    const existing = await signup(app, "unverified");
    const browser = new Browser({ account: person({ email: existing.email, verified: false }) });
    const sessionsBefore = await count(app, "SELECT COUNT(*) AS n FROM sessions");
    const res = await login(app, browser);
    const error = expectRefused(res, 403, "oidc_email_unverified");
    assert.match(error.message, /not verified/);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM identities WHERE user_id = ?", existing.user.id), 0);
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM sessions"), sessionsBefore);
    assert.equal((await existing.client.get("/v1/me")).status, 200, "the existing account is untouched");

    const stranger = uniqueEmail("stranger");
    const res2 = await login(app, new Browser({ account: person({ email: stranger, verified: false }) }));
    expectRefused(res2, 403, "oidc_email_unverified");
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM users WHERE email = ?", stranger), 0);
    const [failure] = await app.query(
      "SELECT details FROM audit_log WHERE action = 'auth.login' AND result = 'failure' ORDER BY id DESC LIMIT 1",
    );
    assert.deepEqual(JSON.parse(failure.details), { method: "oidc:test", reason: "oidc_email_unverified" });
  });

  test("replaying the callback (same state and code) fails and makes no second session", async () => {
    const browser = new Browser({ account: person() });
    const { callback: url } = await toCallback(app, browser);
    const first = await callback(browser, url);
    assert.equal(first.status, 302, first.text);
    const sessions = await count(app, "SELECT COUNT(*) AS n FROM sessions");
    const replay = await callback(browser, url);
    expectRefused(replay, 400, "oidc_state_used");
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM sessions"), sessions);
  });

  test("a tampered or missing state fails, and leaves the real one unused", async () => {
    const browser = new Browser({ account: person() });
    const { callback: url } = await toCallback(app, browser);
    const sessions = await count(app, "SELECT COUNT(*) AS n FROM sessions");
    const tampered = new URL(url);
    const state = url.searchParams.get("state");
    tampered.searchParams.set("state", `${state.slice(0, -2)}${state.endsWith("AA") ? "BB" : "AA"}`);
    expectRefused(await callback(browser, tampered), 400, "oidc_invalid_state");
    const missing = new URL(url);
    missing.searchParams.delete("state");
    expectRefused(await callback(browser, missing), 400, "oidc_invalid_state");
    const otherProvider = new URL(url.href.replace("/oidc/test/", "/oidc/test-ec/"));
    expectRefused(await callback(browser, otherProvider), 400, "oidc_invalid_state");
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM sessions"), sessions);
    assert.equal((await callback(browser, url)).status, 302, "the genuine callback still works");
  });

  test("an answer naming another issuer (RFC 9207 iss) is refused before the code is used", async () => {
    const browser = new Browser({ account: person() });
    const { callback: url } = await toCallback(app, browser);
    assert.equal(url.searchParams.get("iss"), idp.issuer, "the provider names itself in its answer");
    const forged = new URL(url);
    forged.searchParams.set("iss", idp2.issuer);
    expectRefused(await callback(browser, forged), 400, "oidc_issuer_mismatch");
  });

  test("a callback delivered to another browser fails (login CSRF)", async () => {
    const attacker = new Browser({ account: person() });
    const { callback: url } = await toCallback(app, attacker);
    const victim = new Browser();
    const sessions = await count(app, "SELECT COUNT(*) AS n FROM sessions");
    expectRefused(await callback(victim, url), 400, "oidc_browser_mismatch");
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM sessions"), sessions);
  });

  test("the person declining at the provider (error=access_denied) fails cleanly", async () => {
    const browser = new Browser({ account: person(), deny: true });
    const { callback: url } = await toCallback(app, browser);
    assert.equal(url.searchParams.get("error"), "access_denied");
    assert.equal(url.searchParams.get("code"), null);
    const res = await callback(browser, url);
    const error = expectRefused(res, 400, "oidc_provider_error");
    assert.match(error.message, /access_denied/);
    assert.ok(!error.message.includes("declined"), "the provider's free text is not echoed");
    expectRefused(await callback(browser, url), 400, "oidc_state_used");
  });

  test("open redirects are refused: return_to must be a same-site path", async () => {
    const browser = new Browser();
    const before = await count(app, "SELECT COUNT(*) AS n FROM oidc_logins");
    for (const evil of ["https://evil.example", "//evil.example", "/\\evil.example", "///evil.example", "javascript:alert(1)", "evil"]) {
      const res = await browser.fetch(`${app.base}/v1/auth/oidc/test/start?return_to=${encodeURIComponent(evil)}`);
      const text = await res.text();
      expectError(assert, { status: res.status, headers: res.headers, body: JSON.parse(text), text }, 422, "invalid_return_to");
      assert.equal(res.headers.get("location"), null);
    }
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM oidc_logins"), before);
    const { authorize } = await start(app, browser, "test", undefined);
    const [row] = await app.query("SELECT return_to FROM oidc_logins WHERE state_hash = ?", createHashHex(authorize.searchParams.get("state")));
    assert.equal(row.return_to, "/", "no return_to means the home page");
  });

  test("a failing token exchange (wrong client secret) fails cleanly", async () => {
    const browser = new Browser({ account: person() });
    const res = await login(app, browser, "wrong-secret");
    const error = expectRefused(res, 400, "oidc_token_exchange_failed");
    assert.match(error.message, /invalid_client/);
    assert.ok(!res.text.includes("not-the-secret"));
  });

  test("a login that took too long has expired", async () => {
    const browser = new Browser({ account: person() });
    const { callback: url } = await toCallback(hasty, browser);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expectRefused(await callback(browser, url), 400, "oidc_state_expired");
  });
});

// ---------------------------------------------------------------- ID token checks

describe("ID token verification", () => {
  /**
   * A login whose token response carries `forge(original id_token, minted)` instead, where
   * `minted = await mint(nonce)` is made beforehand (for tokens that need this login's nonce).
   */
  async function loginWithToken(forge, mint = async () => undefined) {
    const browser = new Browser({ account: person() });
    const { callback: url, authorize } = await toCallback(app, browser);
    const minted = await mint(authorize.searchParams.get("nonce"));
    const sessions = await count(app, "SELECT COUNT(*) AS n FROM sessions");
    const res = await withInjectedToken(idp, (original) => forge(original, minted), () => callback(browser, url));
    assert.equal(await count(app, "SELECT COUNT(*) AS n FROM sessions"), sessions, "no session for a refused token");
    return res;
  }

  test("a genuine token from another login (wrong nonce) is refused", async () => {
    const other = new Browser({ account: person() });
    assert.equal((await login(app, other)).status, 302);
    const stolen = idp.issued.at(-1);
    const res = await loginWithToken(() => stolen);
    const error = expectRefused(res, 401, "oidc_invalid_id_token");
    assert.match(error.message, /nonce/);
  });

  test("a genuine token minted for another client (wrong audience) is refused", async () => {
    const res = await loginWithToken((_original, minted) => minted, (nonce) => foreign.get(nonce));
    const error = expectRefused(res, 401, "oidc_invalid_id_token");
    assert.match(error.message, /another client/);
  });

  test("a validly signed token from another issuer (mix-up) is refused", async () => {
    const res = await loginWithToken((_original, minted) => minted, (nonce) => mixedUp.get(nonce));
    const error = expectRefused(res, 401, "oidc_invalid_id_token");
    assert.match(error.message, /another issuer/);
  });

  test("a broken signature or an edited payload is refused", async () => {
    const flipped = await loginWithToken((original) => {
      const [h, p, s] = original.split(".");
      const bytes = Buffer.from(s, "base64url");
      bytes[10] ^= 0x01;
      return `${h}.${p}.${bytes.toString("base64url")}`;
    });
    assert.match(expectRefused(flipped, 401, "oidc_invalid_id_token").message, /signature/);

    const edited = await loginWithToken((original) => {
      const [h, p, s] = original.split(".");
      const claims = JSON.parse(Buffer.from(p, "base64url"));
      claims.sub = "someone-else";
      return `${h}.${Buffer.from(JSON.stringify(claims)).toString("base64url")}.${s}`;
    });
    assert.match(expectRefused(edited, 401, "oidc_invalid_id_token").message, /signature/);
  });

  test("unsigned (alg none) and HMAC tokens are refused", async () => {
    const resign = (original, header, sign) => {
      const [, p] = original.split(".");
      const h = Buffer.from(JSON.stringify(header)).toString("base64url");
      return `${h}.${p}.${sign(`${h}.${p}`)}`;
    };
    const none = await loginWithToken((original) => resign(original, { alg: "none" }, () => ""));
    assert.match(expectRefused(none, 401, "oidc_invalid_id_token").message, /algorithm/);
    const hmac = await loginWithToken((original) =>
      resign(original, { alg: "HS256", kid: "rsa-1" }, (input) => createHmac("sha256", SECRET).update(input).digest("base64url")),
    );
    assert.match(expectRefused(hmac, 401, "oidc_invalid_id_token").message, /algorithm/);
  });

  test("a token naming a key the provider does not publish is refused", async () => {
    const res = await loginWithToken((original) => {
      const [h, p, s] = original.split(".");
      const header = JSON.parse(Buffer.from(h, "base64url"));
      header.kid = "not-a-published-key";
      return `${Buffer.from(JSON.stringify(header)).toString("base64url")}.${p}.${s}`;
    });
    assert.match(expectRefused(res, 401, "oidc_invalid_id_token").message, /key/);
  });

  // Tokens minted for the audience/issuer tests, keyed by the nonce of the login they are
  // injected into (a real attacker would replay a token whose nonce they had chosen too).
  const foreign = {
    async get(nonce) {
      return idTokenAsClient(idp, {
        clientId: "other-app", clientSecret: OTHER_SECRET, redirectUri: OTHER_REDIRECT, nonce, account: person(),
      });
    },
  };
  const mixedUp = {
    async get(nonce) {
      return idTokenAsClient(idp2, {
        clientId: "creator-os", clientSecret: POST_SECRET, redirectUri: `${app.base}/v1/auth/oidc/post/callback`,
        nonce, account: person(), auth: "post",
      });
    },
  };
});

function createHashHex(text) {
  return createHash("sha256").update(text).digest("hex");
}
