// The real Worker in local workerd, like harness.mjs's startApp, but restartable on the same
// state folder: `restart()` stops the runtime (Durable Objects, queues in flight, everything in
// memory is gone) and starts a new one on the same D1 / Durable Object / R2 files, as a
// `wrangler dev` restart does. The app object keeps working across restarts (its `base` moves
// to the new server), so clients made before a restart go on after it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { bootWorker, migrate, retryBusy } from "../harness.mjs";

const { Miniflare } = await import("miniflare");

/**
 * Starts the Worker on a fresh, migrated state folder.
 * @param {{vars?: Record<string,string|number>}} options
 */
export async function startRestartableApp(options = {}) {
  const persist = await mkdtemp(path.join(tmpdir(), "creator-os-agents-"));
  await migrate(persist);
  const vars = options.vars ?? {};
  let worker = await bootWorker(persist, { vars });
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
  const app = {
    persist,
    base: "",
    origin: "",
    fetch: (p, init) => fetch(app.base + p, init),
    async query(sql, ...params) {
      const db = await d1();
      const { results } = await retryBusy(() => db.prepare(sql).bind(...params).all());
      return results;
    },
    async snapshot() {
      const db = await d1();
      const { results: tables } = await db
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name != 'd1_migrations' ORDER BY name")
        .all();
      const virtual = tables.filter((t) => /^CREATE VIRTUAL TABLE/i.test(t.sql ?? "")).map((t) => t.name);
      const out = {};
      for (const { name } of tables) {
        if (virtual.some((v) => name === v || name.startsWith(`${v}_`))) continue;
        const { results } = await retryBusy(() => db.prepare(`SELECT * FROM "${name}" ORDER BY rowid`).all());
        out[name] = results;
      }
      return out;
    },
    /** Stops the runtime and starts a new one on the same state. */
    async restart() {
      await worker.dispose();
      worker = await bootWorker(persist, { vars });
      await located();
    },
    async dispose() {
      await worker.dispose();
      if (inspector) await inspector.dispose();
      await rm(persist, { recursive: true, force: true });
    },
  };
  async function located() {
    const url = await worker.url;
    app.base = url.toString().replace(/\/$/, "");
    app.origin = new URL(app.base).origin;
  }
  await located();
  return app;
}
