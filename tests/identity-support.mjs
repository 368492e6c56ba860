// Helpers shared by the identity end-to-end specs (conventions, identity, isolation, bad input,
// throttling). Not a test file itself: node --test only runs *.test.mjs.
import assert from "node:assert/strict";
import { Client, GOOD_PASSWORD, signup, uniqueEmail } from "./harness.mjs";

export const COOKIE_NAME = "__Host-cos_session";

/** The session cookie a response set, as a `name=value` pair for a Cookie header. */
export function sessionCookie(res) {
  const cookies = res.headers.getSetCookie();
  const ours = cookies.find((c) => c.startsWith(`${COOKIE_NAME}=`));
  assert.ok(ours, `no ${COOKIE_NAME} cookie in ${JSON.stringify(cookies)}`);
  return ours.split(";")[0];
}

/** Attributes of the session cookie a response set: {value, attrs: {lower-cased name: value}}. */
export function parseSessionCookie(res) {
  const cookies = res.headers.getSetCookie();
  const ours = cookies.find((c) => c.startsWith(`${COOKIE_NAME}=`));
  assert.ok(ours, `no ${COOKIE_NAME} cookie in ${JSON.stringify(cookies)}`);
  const [pair, ...rest] = ours.split(";").map((s) => s.trim());
  const attrs = {};
  for (const part of rest) {
    const [name, ...value] = part.split("=");
    attrs[name.toLowerCase()] = value.length ? value.join("=") : true;
  }
  return { value: pair.slice(COOKIE_NAME.length + 1), attrs };
}

/** Signs in; returns the body and a bearer client (throws unless 200). */
export async function login(app, email, password = GOOD_PASSWORD) {
  const res = await new Client(app).post("/v1/auth/login", { email, password });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  return { ...res.body, res, client: new Client(app, { token: res.body.session.token }) };
}

/**
 * Adds a new user to `orgId` with `role`, through the real invitation flow.
 * `inviter` is a client allowed to invite with that role.
 */
export async function addMember(app, inviter, orgId, role, label = role) {
  const user = await signup(app, label);
  const inv = await inviter.post(`/v1/orgs/${orgId}/invitations`, { email: user.email, role });
  assert.equal(inv.status, 201, inv.text);
  const accepted = await user.client.post(`/v1/invitations/${inv.body.invitation.token}/accept`);
  assert.equal(accepted.status, 200, accepted.text);
  return user;
}

/** Creates an API key; returns {id, prefix, key, client}. */
export async function createKey(app, client, orgId, role, name = `${role} key`) {
  const res = await client.post(`/v1/orgs/${orgId}/api-keys`, { name, role });
  assert.equal(res.status, 201, res.text);
  return { ...res.body.api_key, res, client: new Client(app, { token: res.body.api_key.key }) };
}

// Authentication keeps "last seen / last used" fresh at most once a minute: a legitimate side
// effect of any authenticated request, refused or not. Comparisons of "nothing changed" blank
// exactly these columns and nothing else.
const TOUCH_COLUMNS = { sessions: ["last_seen_at", "idle_expires_at"], api_keys: ["last_used_at"] };

/** A snapshot with the authentication touch columns blanked. */
export function withoutTouches(snapshot) {
  const out = {};
  for (const [table, rows] of Object.entries(snapshot)) {
    const blank = TOUCH_COLUMNS[table] ?? [];
    out[table] = rows.map((row) => {
      const copy = { ...row };
      for (const column of blank) copy[column] = "(touch)";
      return copy;
    });
  }
  return out;
}

const plans = new WeakMap();

/**
 * Every row of every table, like the harness's `app.snapshot()` (same tables, same row objects,
 * rowid order) but in one query instead of two round trips per table: specs that check "nothing
 * changed" around hundreds of refused requests would otherwise spend minutes snapshotting.
 */
export async function snapshot(app) {
  let plan = plans.get(app);
  if (!plan) {
    const tables = await app.query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' " +
        // The error tracker's issues and occurrences are observability, like the log: a refused
        // request may be recorded there when an upstream service failed it.
        "AND name NOT IN ('error_events', 'error_issues') " +
        // Full-text indexes keep their own shadow tables (some without rowid, holding blobs);
        // they mirror the tables they index, which are compared.
        "AND name NOT IN (SELECT v.name || s.suffix FROM sqlite_master v, (SELECT '_data' AS suffix UNION SELECT '_idx' UNION SELECT '_content' UNION SELECT '_docsize' UNION SELECT '_config') s WHERE v.sql LIKE 'CREATE VIRTUAL TABLE%') ORDER BY name",
    );
    const parts = [];
    for (const { name } of tables) {
      const columns = await app.query("SELECT name FROM pragma_table_info(?) ORDER BY cid", name);
      const object = columns.map((c) => `'${c.name}', "${c.name}"`).join(", ");
      parts.push(
        `(SELECT json_group_array(json(r)) FROM (SELECT json_object(${object}) AS r FROM "${name}" ORDER BY rowid)) AS "${name}"`,
      );
    }
    plan = `SELECT ${parts.join(", ")}`;
    plans.set(app, plan);
  }
  const [row] = await app.query(plan);
  return Object.fromEntries(Object.entries(row).map(([table, rows]) => [table, JSON.parse(rows)]));
}

/**
 * Checks that requests change nothing in D1. Each check compares with the state after the
 * previous one, so a run of refused requests costs one snapshot each; call `reset()` after
 * anything that changes D1 on purpose. With `strict` false, the authentication touch columns
 * are left out of the comparison (see `withoutTouches`).
 */
export class NoChange {
  constructor(app) {
    this.app = app;
    this.last = null;
  }

  reset() {
    this.last = null;
  }

  async around(label, strict, action) {
    const before = this.last ?? (await snapshot(this.app));
    this.last = null;
    const result = await action();
    const after = await snapshot(this.app);
    if (strict) assert.deepEqual(after, before, `${label}: D1 changed`);
    else assert.deepEqual(withoutTouches(after), withoutTouches(before), `${label}: D1 changed`);
    this.last = after;
    return result;
  }
}

export { Client, GOOD_PASSWORD, signup, uniqueEmail };
