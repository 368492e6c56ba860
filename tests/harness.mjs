// Test harness: runs the real Worker in local workerd (wrangler's unstable_startWorker) over a
// fresh state folder with the real D1 migrations applied, and gives tests an HTTP client and
// a read-only view of the D1 database (through a second local runtime on the same files).
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

// Keep wrangler local and quiet, whoever runs the tests.
process.env.WRANGLER_SEND_METRICS = "false";
process.env.WRANGLER_SEND_ERROR_REPORTS = "false";
process.env.CLOUDFLARE_CF_FETCH_ENABLED = "false";
process.env.XDG_CONFIG_HOME ??= path.join(root, ".state", "xdg");
process.env.WRANGLER_LOG_PATH ??= path.join(root, ".state", "logs");
process.env.PATH = `${process.env.HOME}/.cargo/bin:${path.join(root, "node_modules", ".bin")}:${process.env.PATH}`;

// With CREATOR_OS_PREBUILT=1 (scripts/test.sh builds the Worker once before the suite) the build
// step wrangler runs on start, scripts/build-worker.sh, returns at once.
if (process.env.CREATOR_OS_PREBUILT === "1") process.env.CREATOR_OS_SKIP_BUILD = "1";

const { unstable_startWorker } = await import("wrangler");
const { Miniflare } = await import("miniflare");

/** Applies the D1 migrations to a persist folder with the wrangler CLI, as `npm start` does. */
export async function migrate(persist) {
  await run(
    path.join(root, "node_modules", ".bin", "wrangler"),
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persist],
    { cwd: root, env: { ...process.env, CI: "true" } },
  );
}

/**
 * Runs a read of the app's database from the second runtime, again when it collides with a
 * write in progress in the app's runtime (the files are shared; a read that meets a lock comes
 * back as an internal D1 error).
 */
export async function retryBusy(read) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 20 || !/internal error|SQLITE_BUSY|database is locked/i.test(String(error?.message ?? error))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25 * (attempt + 1)));
    }
  }
}

/**
 * Starts the real Worker in local workerd on the state folder `persist` (already migrated).
 * @param {{vars?: Record<string,string|number>, testScheduled?: boolean}} options
 */
export async function bootWorker(persist, options = {}) {
  const bindings = {
    FAULT_INJECTION: { type: "plain_text", value: "1" },
    // Connector credentials (toolgraph): a fresh AES-256-GCM key per app.
    CONNECTOR_ENCRYPTION_KEY: { type: "plain_text", value: randomBytes(32).toString("base64") },
  };
  for (const [name, value] of Object.entries(options.vars ?? {})) {
    bindings[name] = { type: "plain_text", value: String(value) };
  }
  const worker = await unstable_startWorker({
    config: path.join(root, "wrangler.toml"),
    bindings,
    // Watch neither the Rust sources (wrangler.toml's watch_dir) nor the built bundle: an edit to
    // the sources, or a build by another run (which rewrites workers/build/), would otherwise
    // reload the Worker mid-run and fail the requests in flight with a 503 "Your worker
    // restarted mid-request". wrangler needs something to watch (an empty list never becomes
    // ready), so it watches the build script itself, which does not change during a run.
    build: { custom: { command: "bash scripts/build-worker.sh", watch: path.join(root, "scripts", "build-worker.sh") } },
    dev: {
      server: { hostname: "127.0.0.1", port: 0 },
      inspector: false,
      watch: false,
      liveReload: false,
      persist,
      logLevel: "warn",
      ...(options.testScheduled ? { testScheduled: true } : {}),
    },
  });
  await worker.ready;
  return worker;
}

/**
 * Starts the Worker on a fresh state folder.
 * @param {{vars?: Record<string,string>, testScheduled?: boolean}} options extra variables (e.g.
 *   shorter timeouts); `testScheduled` serves `GET /__scheduled?cron=…`, which runs the cron
 *   handler (wrangler's --test-scheduled; /cdn-cgi/handler/scheduled does not reach a Worker
 *   behind static assets)
 */
export async function startApp(options = {}) {
  const persist = await mkdtemp(path.join(tmpdir(), "creator-os-test-"));
  await migrate(persist);
  const worker = await bootWorker(persist, options);
  const url = await worker.url;
  const base = url.toString().replace(/\/$/, "");

  let inspector;
  async function d1() {
    inspector ??= new Miniflare({
      modules: true,
      script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
      d1Databases: { DB: "00000000-0000-4000-8000-000000000000" },
      d1Persist: path.join(persist, "v3", "d1"),
    });
    return inspector.getD1Database("DB");
  }

  return {
    base,
    origin: new URL(base).origin,
    persist,
    worker,
    /** Raw fetch against the app. */
    fetch: (p, init) => fetch(base + p, init),
    /** Rows of a query against the app's D1 database. */
    async query(sql, ...params) {
      const db = await d1();
      const { results } = await retryBusy(() => db.prepare(sql).bind(...params).all());
      return results;
    },
    /** Every row of every table, for "nothing changed" checks. */
    async snapshot() {
      const db = await d1();
      const { results: tables } = await db
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name")
        .all();
      // Full-text indexes (virtual tables and their shadow tables) mirror tables listed here.
      const virtual = tables.filter((t) => /^CREATE VIRTUAL TABLE/i.test(t.sql ?? "")).map((t) => t.name);
      // The error tracker's own records (issues and occurrences) are observability, like the
      // log: a refused request may be recorded there when an upstream service failed it.
      const observability = ["error_events", "error_issues"];
      const out = {};
      for (const { name } of tables) {
        if (virtual.some((v) => name === v || name.startsWith(`${v}_`))) continue;
        if (observability.includes(name)) continue;
        const { results } = await retryBusy(() => db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all());
        out[name] = results;
      }
      return out;
    },
    async dispose() {
      await worker.dispose();
      if (inspector) await inspector.dispose();
      await rm(persist, { recursive: true, force: true });
    },
  };
}

/** A JSON client bound to one principal (cookie jar or bearer token). */
export class Client {
  constructor(app, { token, cookie, origin } = {}) {
    this.app = app;
    this.token = token;
    this.cookie = cookie;
    this.origin = origin;
  }

  async request(method, p, body, extraHeaders = {}) {
    const headers = { ...extraHeaders };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.cookie) headers.cookie = this.cookie;
    if (this.origin) headers.origin = this.origin;
    let payload;
    if (body !== undefined) {
      headers["content-type"] ??= "application/json";
      payload = typeof body === "string" ? body : JSON.stringify(body);
    }
    const response = await this.app.fetch(p, { method, headers, body: payload, redirect: "manual" });
    const text = await response.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, body: json, text };
  }

  get(p, h) { return this.request("GET", p, undefined, h); }
  post(p, b, h) { return this.request("POST", p, b, h); }
  patch(p, b, h) { return this.request("PATCH", p, b, h); }
  delete(p, h) { return this.request("DELETE", p, undefined, h); }
}

let counter = 0;
/** A unique email for this run. */
export function uniqueEmail(label = "user") {
  counter += 1;
  return `${label}.${Date.now().toString(36)}.${counter}@example.com`;
}

/** A password that passes the policy. */
export const GOOD_PASSWORD = "vermilion-otter-canvas-92";

/** Signs up a new user; returns the body and a bearer client. */
export async function signup(app, label = "user") {
  const anonymous = new Client(app);
  const email = uniqueEmail(label);
  const res = await anonymous.post("/v1/auth/signup", { email, password: GOOD_PASSWORD, name: label });
  if (res.status !== 201) throw new Error(`signup failed: ${res.status} ${res.text}`);
  return { ...res.body, email, client: new Client(app, { token: res.body.session.token }) };
}

/** Asserts the one error shape and returns the error. */
export function expectError(assert, res, status, code) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${res.text}`);
  assert.ok(res.body && res.body.error, `error body expected: ${res.text}`);
  assert.equal(typeof res.body.error.message, "string");
  assert.match(res.body.error.request_id, /^req_/);
  assert.equal(res.headers.get("x-request-id"), res.body.error.request_id);
  if (code) assert.equal(res.body.error.code, code, res.text);
  return res.body.error;
}
