// Helpers for the jobs tests and benchmarks: direct access to the app's local R2 and D1 (to
// seed image assets until the assets API exists, and to read render outputs), waiting for job
// states, and small readers of the output formats (zip, GIF, animated PNG).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { root } from "../harness.mjs";

const { Miniflare } = await import("miniflare");

/**
 * The app's storage seen from a second local runtime on the same state files (as the harness
 * reads D1): R2 bucket ASSETS and D1 database DB.
 */
export async function openStorage(app) {
  const mf = new Miniflare({
    modules: true,
    script: "export default { fetch() { return new Response(null, { status: 404 }); } }",
    d1Databases: { DB: "00000000-0000-4000-8000-000000000000" },
    d1Persist: path.join(app.persist, "v3", "d1"),
    r2Buckets: { ASSETS: "creator-os-assets" },
    r2Persist: path.join(app.persist, "v3", "r2"),
  });
  const bucket = await mf.getR2Bucket("ASSETS");
  const db = await mf.getD1Database("DB");
  return {
    bucket,
    db,
    /** Bytes of an R2 object, or null. */
    async get(key) {
      const object = await bucket.get(key);
      return object ? Buffer.from(await object.arrayBuffer()) : null;
    },
    /**
     * Every row of the app's own tables (full-text index internals aside), for "nothing
     * changed" checks.
     */
    async snapshot() {
      // A read can meet the app's runtime mid-write on the shared files ("internal error"):
      // try again, the state itself is settled.
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.readAll();
        } catch (error) {
          if (attempt >= 5) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async readAll() {
      const { results: tables } = await db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%' AND name NOT LIKE '%_fts%' AND name != 'd1_migrations' ORDER BY name")
        .all();
      const out = {};
      for (const { name } of tables) {
        const { results } = await db.prepare(`SELECT * FROM "${name}"`).all();
        out[name] = results.map((row) => JSON.stringify(row)).sort();
      }
      return out;
    },
    /** Keys under a prefix. */
    async keys(prefix = "") {
      const out = [];
      let cursor;
      do {
        const page = await bucket.list({ prefix, cursor });
        out.push(...page.objects.map((o) => o.key));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      return out.sort();
    },
    dispose: () => mf.dispose(),
  };
}

/**
 * Stores an asset the way the assets module does (bytes in R2 under orgs/{org}/assets/{id},
 * a row in `assets`), for timelines that reference images.
 */
export async function seedAsset(storage, { orgId, id, bytes, kind = "image", mime = "image/png", width = null, height = null, name = "seed" }) {
  const key = `orgs/${orgId}/assets/${id}`;
  await storage.bucket.put(key, new Uint8Array(bytes));
  const sha = createHash("sha256").update(bytes).digest("hex");
  const now = Date.now();
  await storage.db
    .prepare(
      `INSERT INTO assets (id, org_id, owner_type, owner_id, kind, mime, bytes, sha256, r2_key, width, height, name, status, created_at, updated_at)
       VALUES (?1, ?2, 'user', NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'ready', ?11, ?11)`,
    )
    .bind(id, orgId, kind, mime, bytes.length, sha, key, width, height, name, now)
    .run();
  return { id, key, sha };
}

/** A fixture file of editor-core's tests. */
export const fixture = (name) => readFile(path.join(root, "editor-core", "tests", "fixtures", name));

/** Polls a job until `until(job)` holds; returns the job. */
export async function waitForJob(client, jobId, until, { timeout = 60_000, interval = 100 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    const res = await client.get(`/v1/jobs/${jobId}`);
    assert.equal(res.status, 200, res.text);
    last = res.body.job;
    if (until(last)) return last;
    await new Promise((r) => setTimeout(r, interval));
  }
  assert.fail(`job ${jobId} did not reach the expected state within ${timeout} ms; last: ${JSON.stringify(last)}`);
}

export const ended = (job) => ["succeeded", "failed", "cancelled", "dead"].includes(job.status);

/** Entries of a zip archive (stored or deflated names only; contents of stored entries). */
export function readZip(buffer) {
  const end = buffer.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  assert.ok(end >= 0, "zip end record");
  const count = buffer.readUInt16LE(end + 10);
  let offset = buffer.readUInt32LE(end + 16);
  const entries = [];
  for (let i = 0; i < count; i++) {
    assert.equal(buffer.readUInt32LE(offset), 0x02014b50, "central directory entry");
    const method = buffer.readUInt16LE(offset + 10);
    const crc = buffer.readUInt32LE(offset + 16);
    const size = buffer.readUInt32LE(offset + 20);
    const nameLength = buffer.readUInt16LE(offset + 28);
    const extra = buffer.readUInt16LE(offset + 30);
    const comment = buffer.readUInt16LE(offset + 32);
    const local = buffer.readUInt32LE(offset + 42);
    const name = buffer.toString("utf8", offset + 46, offset + 46 + nameLength);
    assert.equal(buffer.readUInt32LE(local), 0x04034b50, "local header");
    const localName = buffer.readUInt16LE(local + 26);
    const localExtra = buffer.readUInt16LE(local + 28);
    const start = local + 30 + localName + localExtra;
    entries.push({ name, method, crc, data: buffer.subarray(start, start + size) });
    offset += 46 + nameLength + extra + comment;
  }
  return entries;
}

/** Frames of a GIF: [{delay}] by walking its blocks. */
export function gifFrames(buffer) {
  assert.equal(buffer.toString("latin1", 0, 6), "GIF89a");
  const width = buffer.readUInt16LE(6);
  const height = buffer.readUInt16LE(8);
  let offset = 13;
  const flags = buffer[10];
  if (flags & 0x80) offset += 3 * (1 << ((flags & 7) + 1));
  const frames = [];
  let delay = 0;
  const skipSubBlocks = () => {
    while (buffer[offset] !== 0) offset += buffer[offset] + 1;
    offset += 1;
  };
  for (;;) {
    const block = buffer[offset];
    if (block === 0x3b) break;
    if (block === 0x21) {
      const label = buffer[offset + 1];
      if (label === 0xf9) delay = buffer.readUInt16LE(offset + 4);
      offset += 2;
      skipSubBlocks();
    } else if (block === 0x2c) {
      const packed = buffer[offset + 9];
      offset += 10;
      if (packed & 0x80) offset += 3 * (1 << ((packed & 7) + 1));
      offset += 1; // LZW minimum code size
      skipSubBlocks();
      frames.push({ delay });
    } else {
      assert.fail(`unexpected GIF block 0x${block.toString(16)} at ${offset}`);
    }
  }
  assert.equal(offset, buffer.length - 1, "trailer is the last byte");
  return { width, height, frames };
}

/** Chunks of a PNG file: [{type, data}]. */
export function pngChunks(buffer) {
  assert.deepEqual([...buffer.subarray(0, 8)], [137, 80, 78, 71, 13, 10, 26, 10]);
  const chunks = [];
  let offset = 8;
  while (offset < buffer.length) {
    const length = buffer.readUInt32BE(offset);
    chunks.push({ type: buffer.toString("latin1", offset + 4, offset + 8), data: buffer.subarray(offset + 8, offset + 8 + length) });
    offset += 12 + length;
  }
  return chunks;
}

/**
 * A project holding the reference timeline R1 (editor-core/tests/fixtures/r1.json), loaded
 * through the commands API, with R1's photos and logo stored as the organisation's assets.
 */
export async function loadR1(storage, client, orgId) {
  for (const [id, file, mime, width, height] of [
    ["ast_r1_photo_a", "r1_photo_a.jpg", "image/jpeg", 1920, 1080],
    ["ast_r1_photo_b", "r1_photo_b.jpg", "image/jpeg", 1920, 1080],
    ["ast_r1_logo", "r1_logo.png", "image/png", 512, 512],
  ]) {
    await seedAsset(storage, { orgId, id, bytes: await fixture(file), mime, width, height, name: file });
  }
  const r1 = JSON.parse(await readFile(path.join(root, "editor-core", "tests", "fixtures", "r1.json"), "utf8"));
  const created = await client.post(`/v1/orgs/${orgId}/projects`, { name: "R1", width: r1.settings.width, height: r1.settings.height, fps: 30 });
  assert.equal(created.status, 201, created.text);
  const commands = [
    ...r1.tracks.map((track) => ({ type: "add_track", track })),
    ...r1.markers.map((marker) => ({ type: "add_marker", marker })),
  ];
  const loaded = await client.post(`/v1/projects/${created.body.project.id}/commands`, { commands });
  assert.equal(loaded.status, 200, loaded.text);
  return created.body.project;
}
