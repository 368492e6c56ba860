// Distributed jobs end to end: renders submitted over HTTP, run by the real queue consumers in
// local workerd (real local queues with retries and the dead-letter queue, D1, R2, the
// JobScheduler and ProjectRoom Durable Objects), outputs read back from R2.
import assert from "node:assert/strict";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { crc32 } from "node:zlib";
import { after, before, test } from "node:test";
import { Client, expectError, signup, startApp } from "./harness.mjs";
import WebSocket from "ws";
import { ended, fixture, gifFrames, loadR1, openStorage, pngChunks, readZip, seedAsset, waitForJob } from "./support/jobs-support.mjs";

const WEBHOOK_SECRET = "whsec_test_only_0123456789";
let app;
let storage;
let owner;
let orgId;
before(async () => {
  app = await startApp({
    vars: {
      // Small chunks so short ranges split; few, quick retries.
      JOBS_CHUNK_FRAMES: "4",
      JOBS_MAX_ATTEMPTS: "3",
      JOBS_BACKOFF_BASE_SECONDS: "1",
      JOBS_BACKOFF_MAX_SECONDS: "2",
      WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
    },
  });
  storage = await openStorage(app);
  owner = await signup(app, "renderer");
  orgId = owner.org.id;
});
after(async () => {
  await storage?.dispose();
  await app?.dispose();
});

let counter = 0;
function id(prefix) {
  counter += 1;
  return `${prefix}_01JF${String(counter).padStart(22, "0")}`;
}

const colors = [
  { r: 200, g: 40, b: 40, a: 255 },
  { r: 40, g: 160, b: 60, a: 255 },
  { r: 30, g: 60, b: 200, a: 255 },
  { r: 230, g: 200, b: 40, a: 255 },
];

/**
 * A project whose frames all differ in colour every 3 frames, with a shape on top; optionally
 * an image clip over frames 0–(length-1).
 */
async function makeProject(client, { name = "Launch video", length = 24, image = null, width = 160, height = 90 } = {}) {
  const res = await client.post(`/v1/orgs/${orgId}/projects`, { name, width, height, fps: 30 });
  assert.equal(res.status, 201, res.text);
  const project = res.body.project;
  const base = id("trk");
  const top = id("trk");
  const commands = [
    { type: "add_track", track: { id: base, kind: "video" } },
    { type: "add_track", track: { id: top, kind: "overlay" } },
  ];
  for (let start = 0; start < length; start += 3) {
    commands.push({
      type: "add_clip",
      track_id: base,
      clip: { id: id("clp"), start, duration: Math.min(3, length - start), source: { type: "solid", color: colors[(start / 3) % colors.length] } },
    });
  }
  commands.push({
    type: "add_clip",
    track_id: top,
    clip: {
      id: id("clp"), start: 0, duration: length,
      source: { type: "shape", shape: { type: "ellipse", width: 40, height: 30 }, fill: { r: 255, g: 255, b: 255, a: 200 } },
    },
  });
  if (image) {
    const imageTrack = id("trk");
    commands.push({ type: "add_track", track: { id: imageTrack, kind: "overlay" } });
    commands.push({
      type: "add_clip",
      track_id: imageTrack,
      clip: { id: id("clp"), start: 0, duration: length, source: { type: "image", asset_id: image.id, width: image.width, height: image.height, fit: "contain" } },
    });
    if (image.foreign) {
      commands.push({
        type: "add_clip",
        track_id: imageTrack,
        clip: { id: id("clp"), start: length, duration: 1, source: { type: "image", asset_id: image.foreign, width: 16, height: 16 } },
      });
    }
  }
  const applied = await client.post(`/v1/projects/${project.id}/commands`, { commands });
  assert.equal(applied.status, 200, applied.text);
  return project;
}

async function render(client, projectId, body) {
  const res = await client.post(`/v1/projects/${projectId}/renders`, body);
  assert.equal(res.status, 202, res.text);
  assert.match(res.body.job.id, /^job_/);
  return res.body.job;
}

async function outputOf(job) {
  assert.equal(job.status, "succeeded", JSON.stringify(job));
  assert.equal(job.result_asset_ids.length, 1);
  const [asset] = await query("SELECT * FROM assets WHERE id = ?", job.result_asset_ids[0]);
  assert.ok(asset, "the output asset row exists");
  const bytes = await storage.get(asset.r2_key);
  assert.ok(bytes, "the output bytes are in R2");
  assert.equal(asset.r2_key, `orgs/${orgId}/assets/${asset.id}`);
  assert.equal(asset.bytes, bytes.length);
  assert.equal(asset.sha256, createHash("sha256").update(bytes).digest("hex"));
  assert.equal(asset.owner_type, "job");
  assert.equal(asset.owner_id, job.id);
  assert.equal(asset.status, "ready");
  return { asset, bytes };
}

/**
 * Rows of a query on the app's D1 (through the harness's second runtime). A read that meets
 * the app's runtime mid-write fails with "internal error"; the state is settled, so read again.
 */
async function query(sql, ...params) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await app.query(sql, ...params);
    } catch (error) {
      if (attempt >= 5 || !String(error.message).includes("internal error")) throw error;
      await sleep(200);
    }
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("bad render requests are refused in the one error shape and change nothing", async () => {
  const project = await makeProject(owner.client, { length: 12 });
  const other = await signup(app, "stranger");
  const viewerKey = await owner.client.post(`/v1/orgs/${orgId}/api-keys`, { name: "watcher", role: "viewer" });
  assert.equal(viewerKey.status, 201, viewerKey.text);
  const viewer = new Client(app, { token: viewerKey.body.api_key.key });
  const emptyProject = (await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "Empty", width: 64, height: 64, fps: 30 })).body.project;

  const before = await storage.snapshot();
  const keysBefore = await storage.keys();
  const path = `/v1/projects/${project.id}/renders`;
  const cases = [
    [owner.client, path, { kind: "mp4", from_frame: 0, to_frame: 3 }, 422, "invalid_request"],
    [owner.client, path, { kind: "gif", from_frame: 0, to_frame: 12 }, 422, "invalid_range"],
    [owner.client, path, { kind: "gif", from_frame: 12 }, 422, "invalid_range"],
    [owner.client, path, { kind: "gif", from_frame: 5, to_frame: 2 }, 422, "invalid_range"],
    [owner.client, path, { kind: "still", from_frame: 1, to_frame: 2 }, 422, "invalid_range"],
    [owner.client, path, { kind: "gif", from_frame: -1, to_frame: 2 }, 422, "invalid_request"],
    [owner.client, path, { kind: "still", from_frame: 0, scale: 0 }, 422, "invalid_scale"],
    [owner.client, path, { kind: "still", from_frame: 0, scale: 1.5 }, 422, "invalid_scale"],
    [owner.client, path, { kind: "wav", from_frame: 0, to_frame: 3, scale: 0.5 }, 422, "invalid_scale"],
    [owner.client, path, { kind: "still", from_frame: 0, colour: "red" }, 422, "invalid_request"],
    [owner.client, path, "{\"kind\": \"still\",", 400, "malformed_json"],
    [owner.client, `/v1/projects/${emptyProject.id}/renders`, { kind: "still", from_frame: 0 }, 422, "empty_timeline"],
    [other.client, path, { kind: "still", from_frame: 0 }, 404, "not_found"],
    [viewer, path, { kind: "still", from_frame: 0 }, 403, "forbidden"],
    [new Client(app), path, { kind: "still", from_frame: 0 }, 401, "unauthenticated"],
  ];
  for (const [client, p, body, status, code] of cases) {
    const res = await client.post(p, body);
    expectError(assert, res, status, code);
  }
  const huge = await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "Huge", width: 1920, height: 1080, fps: 30 });
  const hugeTrack = id("trk");
  await owner.client.post(`/v1/projects/${huge.body.project.id}/commands`, {
    commands: [
      { type: "add_track", track: { id: hugeTrack, kind: "video" } },
      { type: "add_clip", track_id: hugeTrack, clip: { id: id("clp"), start: 0, duration: 5000, source: { type: "solid", color: colors[0] } } },
    ],
  });
  const snapshotBeforeHuge = await storage.snapshot();
  expectError(assert, await owner.client.post(`/v1/projects/${huge.body.project.id}/renders`, { kind: "apng", from_frame: 0, to_frame: 299 }), 422, "range_too_large");
  expectError(assert, await owner.client.post(`/v1/projects/${huge.body.project.id}/renders`, { kind: "gif", from_frame: 0, to_frame: 4999, scale: 0.1 }), 422, "range_too_long");
  assert.deepEqual(stripVolatile(await storage.snapshot()), stripVolatile(snapshotBeforeHuge));
  // The huge project itself was made after the first snapshot; compare the rest.
  const afterAll = stripVolatile(await storage.snapshot());
  for (const table of ["jobs", "job_chunks", "assets", "asset_lineage"]) {
    assert.deepEqual(afterAll[table], stripVolatile(before)[table], `${table} unchanged`);
  }
  assert.deepEqual((await storage.keys()).filter((k) => !k.includes("/projects/")), keysBefore.filter((k) => !k.includes("/projects/")));

  // Jobs of another organisation are invisible; viewers read but cannot cancel.
  const job = await render(owner.client, project.id, { kind: "still", from_frame: 0 });
  expectError(assert, await other.client.get(`/v1/jobs/${job.id}`), 404, "not_found");
  expectError(assert, await other.client.post(`/v1/jobs/${job.id}/cancel`), 404, "not_found");
  expectError(assert, await other.client.get(`/v1/orgs/${orgId}/jobs`), 404, "not_found");
  assert.equal((await viewer.get(`/v1/jobs/${job.id}`)).status, 200);
  expectError(assert, await viewer.post(`/v1/jobs/${job.id}/cancel`), 403, "forbidden");
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/jobs?status=done`), 422, "invalid_status");
  expectError(assert, await owner.client.get(`/v1/orgs/${orgId}/jobs?limit=0`), 422, "invalid_limit");
  expectError(assert, await owner.client.get(`/v1/jobs/job_01JF0000000000000000000000`), 404, "not_found");
  await waitForJob(owner.client, job.id, ended);
});

/** Rows without the columns that change by themselves (sessions' last use). */
function stripVolatile(snapshot) {
  const copy = { ...snapshot };
  delete copy.sessions;
  delete copy.events;
  delete copy.audit_log;
  delete copy.api_keys;
  return copy;
}

test("a still render becomes an asset whose PNG is frame.png of that frame, with its audit trail", async () => {
  const project = await makeProject(owner.client, { name: "Poster" });
  const queued = await render(owner.client, project.id, { kind: "still", from_frame: 7, scale: 0.5 });
  assert.equal(queued.kind, "render_still");
  assert.equal(queued.priority, "interactive");
  assert.equal(queued.status, "queued");
  assert.equal(queued.project_id, project.id);
  assert.equal(queued.org_id, orgId);
  assert.deepEqual(
    Object.keys(queued).sort(),
    ["attempts", "created_at", "error", "finished_at", "id", "kind", "org_id", "params", "priority", "progress", "project_id", "result_asset_ids", "started_at", "status", "updated_at"],
  );
  assert.equal(queued.params.kind, "still");
  assert.equal(queued.params.to_frame, 7);
  const job = await waitForJob(owner.client, queued.id, ended);
  assert.equal(job.progress, 100);
  assert.equal(job.attempts, 1);
  assert.ok(job.started_at && job.finished_at);
  const { asset, bytes } = await outputOf(job);
  assert.equal(asset.kind, "render");
  assert.equal(asset.mime, "image/png");
  assert.equal(asset.width, 80);
  assert.equal(asset.height, 45);
  assert.equal(asset.name, "Poster frame 7.png");
  const frame = await owner.client.request("GET", `/v1/projects/${project.id}/frame.png?frame=7&scale=0.5`);
  assert.equal(frame.status, 200);
  const expected = Buffer.from(await (await app.fetch(`/v1/projects/${project.id}/frame.png?frame=7&scale=0.5`, { headers: { authorization: `Bearer ${owner.session.token}` } })).arrayBuffer());
  assert.ok(bytes.equals(expected), "the rendered still is byte for byte frame.png");
  const other = Buffer.from(await (await app.fetch(`/v1/projects/${project.id}/frame.png?frame=3&scale=0.5`, { headers: { authorization: `Bearer ${owner.session.token}` } })).arrayBuffer());
  assert.ok(!bytes.equals(other), "another frame differs");

  const audit = await query("SELECT action, actor_type, result FROM audit_log WHERE target_id = ? ORDER BY at, rowid", job.id);
  assert.deepEqual(audit.map((a) => a.action), ["job.create", "job.succeed"]);
  assert.equal(audit[1].actor_type, "system");
  const events = await query("SELECT name FROM events WHERE properties LIKE ?", `%${job.id}%`);
  assert.deepEqual(events.map((e) => e.name).sort(), ["job.create", "job.succeed"]);
  // The working files are gone.
  assert.deepEqual(await storage.keys(`orgs/${orgId}/jobs/${job.id}/`), []);

  const listed = await owner.client.get(`/v1/orgs/${orgId}/jobs?status=succeeded&limit=1`);
  assert.equal(listed.status, 200);
  assert.equal(listed.body.items.length, 1);
  assert.ok(listed.body.next_cursor === null || typeof listed.body.next_cursor === "string");
});

test("range renders run as parallel chunks, joined once, with progress to 100 and lineage", async () => {
  const logo = await fixture("r1_logo.png");
  const image = await seedAsset(storage, { orgId, id: id("ast"), bytes: logo, width: 512, height: 512, name: "logo" });
  const stranger = await signup(app, "foreign");
  const foreign = await seedAsset(storage, { orgId: stranger.org.id, id: id("ast"), bytes: logo, width: 512, height: 512, name: "theirs" });
  const project = await makeProject(owner.client, { name: "Teaser", length: 24, image: { id: image.id, width: 512, height: 512 } });
  // Another tenant's asset in the timeline: the render is refused, naming it, and nothing is
  // queued; without it the project renders.
  const timelineTracks = (await owner.client.get(`/v1/projects/${project.id}`)).body.timeline.tracks;
  const foreignClip = id("clp");
  const withForeign = await owner.client.post(`/v1/projects/${project.id}/commands`, {
    commands: [{ type: "add_clip", track_id: timelineTracks.at(-1).id, clip: { id: foreignClip, start: 24, duration: 1, source: { type: "image", asset_id: foreign.id, width: 16, height: 16 } } }],
  });
  assert.equal(withForeign.status, 200, withForeign.text);
  const [{ n: jobsBefore }] = await query("SELECT COUNT(*) AS n FROM jobs");
  const refused = await owner.client.post(`/v1/projects/${project.id}/renders`, { kind: "gif", from_frame: 2, to_frame: 11 });
  expectError(assert, refused, 422, "missing_assets");
  assert.ok(refused.body.error.message.includes(foreign.id), refused.text);
  assert.ok(!refused.body.error.message.includes(image.id), "the organisation's own asset is fine");
  const [{ n: jobsAfter }] = await query("SELECT COUNT(*) AS n FROM jobs");
  assert.equal(jobsAfter, jobsBefore, "no job was recorded");
  const removed = await owner.client.post(`/v1/projects/${project.id}/commands`, { commands: [{ type: "remove_clip", clip_id: foreignClip }] });
  assert.equal(removed.status, 200, removed.text);

  const gifJob = await render(owner.client, project.id, { kind: "gif", from_frame: 2, to_frame: 11 });
  assert.equal(gifJob.kind, "render_range");
  assert.equal(gifJob.priority, "batch");
  const chunks = await query("SELECT idx, from_frame, to_frame FROM job_chunks WHERE job_id = ? ORDER BY idx", gifJob.id);
  assert.deepEqual(chunks.map((c) => [c.from_frame, c.to_frame]), [[2, 5], [6, 9], [10, 11]]);
  const seen = [];
  const done = await waitForJob(owner.client, gifJob.id, (j) => {
    seen.push(j.progress);
    return ended(j);
  }, { interval: 20 });
  assert.equal(done.progress, 100);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] >= seen[i - 1], `progress never goes back: ${seen}`);
  const { asset, bytes } = await outputOf(done);
  assert.equal(asset.mime, "image/gif");
  assert.equal(asset.name, "Teaser frames 2–11.gif");
  assert.equal(asset.duration_ms, 333);
  const gif = gifFrames(bytes);
  assert.equal(gif.width, 160);
  assert.equal(gif.height, 90);
  assert.equal(gif.frames.length, 10);
  assert.equal(gif.frames.reduce((sum, f) => sum + f.delay, 0), 33, "10 frames at 30 fps last 33 cs");
  const finishedChunks = await query("SELECT status, attempts, frames_done FROM job_chunks WHERE job_id = ? ORDER BY idx", gifJob.id);
  assert.deepEqual(finishedChunks.map((c) => c.status), ["succeeded", "succeeded", "succeeded"]);
  assert.deepEqual(finishedChunks.map((c) => c.frames_done), [4, 4, 2]);
  const lineage = await query("SELECT parent_id, org_id, recipe FROM asset_lineage WHERE child_id = ?", asset.id);
  assert.deepEqual(lineage.map((l) => l.parent_id), [image.id], "the image is the output's parent");
  const recipe = JSON.parse(lineage[0].recipe);
  assert.equal(recipe.job_kind, "render_range");
  assert.equal(recipe.params.kind, "gif");
  assert.equal(recipe.params.from_frame, 2);
  assert.match(recipe.editor_core_version, /^\d+\.\d+\.\d+/);

  // The same range as an animated PNG and as a zip of PNGs.
  const apngJob = await waitForJob(owner.client, (await render(owner.client, project.id, { kind: "apng", from_frame: 0, to_frame: 9, scale: 0.5 })).id, ended);
  const apng = await outputOf(apngJob);
  assert.equal(apng.asset.mime, "image/png");
  const pngChunkList = pngChunks(apng.bytes);
  const actl = pngChunkList.find((c) => c.type === "acTL");
  assert.equal(actl.data.readUInt32BE(0), 10, "ten frames");
  assert.equal(pngChunkList.filter((c) => c.type === "fcTL").length, 10);
  const sequence = pngChunkList.filter((c) => c.type === "fcTL" || c.type === "fdAT").map((c) => c.data.readUInt32BE(0));
  assert.deepEqual(sequence, sequence.map((_, i) => i), "frame sequence numbers run on across chunks");
  assert.equal(pngChunkList.at(-1).type, "IEND");

  // A zip of PNGs is compared with frame.png, so the project has no image clips.
  const plain = await makeProject(owner.client, { name: "Frames", length: 12 });
  const zipJob = await waitForJob(owner.client, (await render(owner.client, plain.id, { kind: "png_sequence", from_frame: 1, to_frame: 10 })).id, ended);
  const zip = await outputOf(zipJob);
  assert.equal(zip.asset.mime, "application/zip");
  const entries = readZip(zip.bytes);
  assert.deepEqual(entries.map((e) => e.name), Array.from({ length: 10 }, (_, i) => `frame_${String(i + 1).padStart(6, "0")}.png`));
  for (const entry of [entries[0], entries[4], entries[9]]) {
    const frameNumber = Number(entry.name.slice(6, 12));
    const expected = Buffer.from(await (await app.fetch(`/v1/projects/${plain.id}/frame.png?frame=${frameNumber}`, { headers: { authorization: `Bearer ${owner.session.token}` } })).arrayBuffer());
    assert.ok(Buffer.from(entry.data).equals(expected), `${entry.name} is frame.png of frame ${frameNumber}`);
  }
});

test("R1 at 1080p: small chunks, and an output larger than one upload part streamed into a zip", async () => {
  const project = await loadR1(storage, owner.client, orgId);
  const queued = await render(owner.client, project.id, { kind: "png_sequence", from_frame: 140, to_frame: 147 });
  assert.equal(queued.params.chunk_frames, 4, "1080p chunks hold four frames whatever JOBS_CHUNK_FRAMES allows");
  assert.equal(queued.params.width, 1920);
  const job = await waitForJob(owner.client, queued.id, ended, { timeout: 120_000 });
  const { asset, bytes } = await outputOf(job);
  assert.ok(bytes.length > 8 * 1024 * 1024, `the zip spans several parts (${bytes.length} bytes)`);
  const entries = readZip(bytes);
  assert.deepEqual(entries.map((e) => e.name), Array.from({ length: 8 }, (_, i) => `frame_${String(140 + i).padStart(6, "0")}.png`));
  for (const entry of entries) {
    assert.equal(crc32(entry.data), entry.crc, `${entry.name} matches its CRC`);
    const ihdr = pngChunks(Buffer.from(entry.data)).find((c) => c.type === "IHDR");
    assert.equal(ihdr.data.readUInt32BE(0), 1920);
  }
  const lineage = await query("SELECT parent_id FROM asset_lineage WHERE child_id = ? ORDER BY parent_id", asset.id);
  assert.deepEqual(lineage.map((l) => l.parent_id), ["ast_r1_logo", "ast_r1_photo_a", "ast_r1_photo_b"]);
});

/** A mono 16-bit PCM WAV file of a sine tone. */
function sineWav(seconds, rate = 48_000, hz = 440) {
  const samples = Math.round(seconds * rate);
  const out = Buffer.alloc(44 + samples * 2);
  out.write("RIFF", 0, "latin1");
  out.writeUInt32LE(36 + samples * 2, 4);
  out.write("WAVEfmt ", 8, "latin1");
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE(rate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write("data", 36, "latin1");
  out.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) out.writeInt16LE(Math.round(12000 * Math.sin((2 * Math.PI * hz * i) / rate)), 44 + i * 2);
  return out;
}

test("an audio mixdown becomes a WAV asset with the audio clip as its parent", async () => {
  const tone = await seedAsset(storage, { orgId, id: id("ast"), bytes: sineWav(2), kind: "audio", mime: "audio/wav", name: "tone" });
  const project = await makeProject(owner.client, { name: "Jingle", length: 60 });
  const track = id("trk");
  const added = await owner.client.post(`/v1/projects/${project.id}/commands`, {
    commands: [
      { type: "add_track", track: { id: track, kind: "audio" } },
      { type: "add_clip", track_id: track, clip: { id: id("clp"), start: 0, duration: 60, source: { type: "audio", asset_id: tone.id } } },
    ],
  });
  assert.equal(added.status, 200, added.text);
  const queued = await render(owner.client, project.id, { kind: "wav", from_frame: 0, to_frame: 29 });
  assert.equal(queued.kind, "audio_mixdown");
  const job = await waitForJob(owner.client, queued.id, ended);
  const { asset, bytes } = await outputOf(job);
  assert.equal(asset.kind, "audio");
  assert.equal(asset.mime, "audio/wav");
  assert.equal(asset.duration_ms, 1000);
  assert.equal(bytes.toString("latin1", 0, 4), "RIFF");
  assert.equal(bytes.readUInt16LE(22), 2, "stereo");
  assert.equal(bytes.readUInt32LE(24), 48_000);
  assert.equal(bytes.readUInt32LE(40), 48_000 * 2 * 2, "one second of 16-bit stereo");
  let peak = 0;
  for (let i = 44; i < bytes.length; i += 2) peak = Math.max(peak, Math.abs(bytes.readInt16LE(i)));
  assert.ok(peak > 8000, `the tone is in the mix (peak ${peak})`);
  const lineage = await query("SELECT parent_id FROM asset_lineage WHERE child_id = ?", asset.id);
  assert.deepEqual(lineage.map((l) => l.parent_id), [tone.id]);
});

test("a transient failure retries with backoff, then the dead-letter queue marks the job dead", async () => {
  const project = await makeProject(owner.client);
  const started = Date.now();
  const job = await render(owner.client, project.id, { kind: "still", from_frame: 0, fault: "transient" });
  const dead = await waitForJob(owner.client, job.id, ended, { timeout: 60_000 });
  const elapsed = Date.now() - started;
  assert.equal(dead.status, "dead", JSON.stringify(dead));
  assert.equal(dead.attempts, 3, "JOBS_MAX_ATTEMPTS attempts were made");
  assert.equal(dead.error.code, "dead_lettered");
  assert.match(dead.error.message, /gave up after 3 attempts: a transient failure was injected/);
  assert.deepEqual(dead.result_asset_ids, []);
  // Two retry delays of at least 1 s each (the backoff's fixed half), so the job took ≥ 2 s.
  assert.ok(elapsed >= 2000, `retries waited for their backoff (${elapsed} ms)`);
  const audit = await query("SELECT action, result FROM audit_log WHERE target_id = ? ORDER BY at, rowid", job.id);
  assert.deepEqual(audit.map((a) => [a.action, a.result]), [["job.create", "success"], ["job.dead", "failure"]]);
  const assets = await query("SELECT id FROM assets WHERE owner_id = ?", job.id);
  assert.equal(assets.length, 0);

  // One transient failure on a chunk: that chunk alone retries and the render succeeds.
  const flaky = await render(owner.client, project.id, { kind: "gif", from_frame: 0, to_frame: 7, fault: "transient_once" });
  const recovered = await waitForJob(owner.client, flaky.id, ended);
  assert.equal(recovered.status, "succeeded", JSON.stringify(recovered));
  assert.equal(recovered.attempts, 2);
  const chunkRows = await query("SELECT attempts, status FROM job_chunks WHERE job_id = ? ORDER BY idx", flaky.id);
  assert.deepEqual(chunkRows.map((c) => [c.attempts, c.status]), [[2, "succeeded"], [2, "succeeded"]]);
});

test("a permanent failure fails the job at once, without retries", async () => {
  const project = await makeProject(owner.client);
  const job = await render(owner.client, project.id, { kind: "gif", from_frame: 0, to_frame: 11, fault: "permanent" });
  const failed = await waitForJob(owner.client, job.id, ended);
  assert.equal(failed.status, "failed");
  assert.equal(failed.error.code, "injected_permanent");
  assert.equal(failed.attempts, 1);
  const chunkRows = await query("SELECT status, attempts FROM job_chunks WHERE job_id = ?", job.id);
  assert.ok(chunkRows.every((c) => c.attempts <= 1), JSON.stringify(chunkRows));
  assert.ok(chunkRows.every((c) => c.status === "failed"), JSON.stringify(chunkRows));
  await sleep(2500);
  const later = (await owner.client.get(`/v1/jobs/${job.id}`)).body.job;
  assert.equal(later.status, "failed");
  assert.equal(later.attempts, 1, "no retry happened");
  assert.equal((await query("SELECT id FROM assets WHERE owner_id = ?", job.id)).length, 0);
  assert.deepEqual(await storage.keys(`orgs/${orgId}/jobs/${job.id}/`), []);
});

test("duplicated messages produce one output and one success", async () => {
  const project = await makeProject(owner.client);
  const job = await render(owner.client, project.id, { kind: "gif", from_frame: 0, to_frame: 11 });
  // Every chunk message is delivered twice while the job is queued or running…
  const again = await owner.client.post(`/v1/jobs/${job.id}/redeliver`);
  assert.equal(again.status, 200, again.text);
  const done = await waitForJob(owner.client, job.id, ended);
  assert.equal(done.status, "succeeded");
  // …and once more after it finished.
  assert.equal((await owner.client.post(`/v1/jobs/${job.id}/redeliver`)).status, 200);
  const still = await waitForJob(owner.client, (await render(owner.client, project.id, { kind: "still", from_frame: 3 })).id, ended);
  assert.equal((await owner.client.post(`/v1/jobs/${still.id}/redeliver`)).status, 200);
  await sleep(3000);
  for (const finished of [done, still]) {
    const assets = await query("SELECT id FROM assets WHERE owner_id = ?", finished.id);
    assert.equal(assets.length, 1, "one output asset");
    const successes = await query("SELECT id FROM audit_log WHERE target_id = ? AND action = 'job.succeed'", finished.id);
    assert.equal(successes.length, 1, "one success recorded");
    const now = (await owner.client.get(`/v1/jobs/${finished.id}`)).body.job;
    assert.equal(now.status, "succeeded");
    assert.deepEqual(now.result_asset_ids, finished.result_asset_ids);
  }
  const chunkRows = await query("SELECT attempts FROM job_chunks WHERE job_id = ?", job.id);
  assert.ok(chunkRows.every((c) => c.attempts === 1), `no chunk rendered twice: ${JSON.stringify(chunkRows)}`);
});

test("cancel stops a render between frames and leaves no output", async () => {
  const project = await makeProject(owner.client, { length: 24 });
  const job = await render(owner.client, project.id, { kind: "gif", from_frame: 0, to_frame: 23, fault: "slow" });
  await waitForJob(owner.client, job.id, (j) => j.progress > 0 || ended(j), { interval: 50 });
  const cancelled = await owner.client.post(`/v1/jobs/${job.id}/cancel`);
  assert.equal(cancelled.status, 200, cancelled.text);
  assert.equal(cancelled.body.job.status, "cancelled");
  assert.ok(cancelled.body.job.progress < 100);
  // Cancelling again answers the same; the chunks in flight stop at their next frame.
  assert.equal((await owner.client.post(`/v1/jobs/${job.id}/cancel`)).body.job.status, "cancelled");
  await sleep(2500);
  const later = (await owner.client.get(`/v1/jobs/${job.id}`)).body.job;
  assert.equal(later.status, "cancelled");
  assert.deepEqual(later.result_asset_ids, []);
  assert.equal((await query("SELECT id FROM assets WHERE owner_id = ?", job.id)).length, 0);
  const [{ done }] = await query("SELECT SUM(frames_done) AS done FROM job_chunks WHERE job_id = ?", job.id);
  assert.ok(done < 24, `rendering stopped early (${done} of 24 frames)`);
  assert.deepEqual(await storage.keys(`orgs/${orgId}/jobs/${job.id}/`), []);
  const audit = await query("SELECT action FROM audit_log WHERE target_id = ? ORDER BY at, rowid", job.id);
  assert.deepEqual(audit.map((a) => a.action), ["job.create", "job.cancel"]);
  // A finished job cannot be cancelled.
  const finished = await waitForJob(owner.client, (await render(owner.client, project.id, { kind: "still", from_frame: 0 })).id, ended);
  expectError(assert, await owner.client.post(`/v1/jobs/${finished.id}/cancel`), 409, "job_finished");
});

test("job state and progress stream to the project's room over its WebSocket", async () => {
  const project = await makeProject(owner.client, { length: 16 });
  const room = await openRoom(project.id, owner.session.token);
  try {
    await room.until((f) => f.type === "welcome");
    const job = await render(owner.client, project.id, { kind: "apng", from_frame: 0, to_frame: 15 });
    const final = await room.until((f) => f.type === "job" && f.job.id === job.id && f.job.status === "succeeded");
    assert.equal(final.job.progress, 100);
    assert.equal(final.job.result_asset_ids.length, 1);
    const frames = room.frames.filter((f) => f.type === "job" && f.job.id === job.id);
    assert.equal(frames[0].job.status, "queued");
    assert.ok(frames.some((f) => f.job.status === "running"), "a running frame arrived");
    const progress = frames.map((f) => f.job.progress);
    for (let i = 1; i < progress.length; i++) assert.ok(progress[i] >= progress[i - 1], `progress in order: ${progress}`);
    assert.ok(progress.some((p) => p > 0 && p < 100), `intermediate progress arrived: ${progress}`);
  } finally {
    room.ws.close();
  }
});

/** A raw room socket that records every frame. */
async function openRoom(projectId, token) {
  const ws = new WebSocket(`${app.base.replace(/^http/, "ws")}/v1/projects/${projectId}/room`, {
    headers: { authorization: `Bearer ${token}` },
    perMessageDeflate: false,
  });
  const frames = [];
  ws.on("message", (data) => frames.push(JSON.parse(data.toString())));
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  return {
    ws,
    frames,
    async until(predicate, timeout = 30_000) {
      const deadline = Date.now() + timeout;
      while (Date.now() < deadline) {
        const found = frames.find(predicate);
        if (found) return found;
        await sleep(20);
      }
      assert.fail(`no matching room frame within ${timeout} ms; got ${JSON.stringify(frames.map((f) => f.type))}`);
    },
  };
}

test("fairness: a small organisation's renders finish while a large one's backlog waits", async () => {
  const big = owner;
  const small = await signup(app, "small");
  const bigProject = await makeProject(big.client, { name: "Big", length: 12 });
  const smallProject = (await small.client.post(`/v1/orgs/${small.org.id}/projects`, { name: "Small", width: 160, height: 90, fps: 30 })).body.project;
  const track = id("trk");
  await small.client.post(`/v1/projects/${smallProject.id}/commands`, {
    commands: [
      { type: "add_track", track: { id: track, kind: "video" } },
      { type: "add_clip", track_id: track, clip: { id: id("clp"), start: 0, duration: 12, source: { type: "solid", color: colors[2] } } },
    ],
  });
  const bigJobs = [];
  for (let i = 0; i < 20; i++) {
    bigJobs.push((await render(big.client, bigProject.id, { kind: "gif", from_frame: 0, to_frame: 11, fault: "slow" })).id);
  }
  const smallJobs = [];
  for (let i = 0; i < 2; i++) {
    smallJobs.push((await render(small.client, smallProject.id, { kind: "gif", from_frame: 0, to_frame: 7, fault: "slow" })).id);
  }
  // Interactive work of the busy organisation goes ahead of its own exports.
  const still = (await render(big.client, bigProject.id, { kind: "still", from_frame: 0 })).id;
  const smallDone = [];
  for (const jobId of smallJobs) smallDone.push(await waitForJob(small.client, jobId, ended, { timeout: 120_000 }));
  const stillDone = await waitForJob(big.client, still, ended, { timeout: 60_000 });
  assert.ok(smallDone.every((j) => j.status === "succeeded"), JSON.stringify(smallDone));
  assert.equal(stillDone.status, "succeeded");
  const smallFinished = Math.max(...smallDone.map((j) => Date.parse(j.finished_at)));
  const bigNow = await Promise.all(bigJobs.map(async (jobId) => (await big.client.get(`/v1/jobs/${jobId}`)).body.job));
  const waiting = bigNow.filter((j) => !ended(j) || Date.parse(j.finished_at) > smallFinished).length;
  assert.ok(waiting >= bigJobs.length / 4, `the big organisation still had work when the small one finished (${waiting} of ${bigJobs.length})`);
  assert.ok(Date.parse(stillDone.finished_at) < Math.max(...bigNow.map((j) => (ended(j) ? Date.parse(j.finished_at) : Infinity))), "the still did not wait for the exports");
  // The scheduler never let the big organisation run more than its batch share at once.
  const [{ running }] = await query("SELECT COUNT(*) AS running FROM job_chunks c JOIN jobs j ON j.id = c.job_id WHERE j.org_id = ? AND c.status = 'running'", big.org.id);
  assert.ok(running <= 2, `at most 2 batch chunks run at once (${running})`);
  for (const jobId of bigJobs) await waitForJob(big.client, jobId, ended, { timeout: 180_000 });
});

/**
 * A webhook receiver on loopback that checks signatures the way a receiver should: HMAC-SHA256
 * over "<t>.<body>" with the shared secret, compared in constant time.
 */
async function startReceiver(answers) {
  const deliveries = [];
  const server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => { body += chunk; });
    req.on("end", () => {
      const header = req.headers["x-creator-os-signature"] ?? "";
      const parts = Object.fromEntries(header.split(",").map((kv) => kv.split("=")));
      const expected = createHmac("sha256", WEBHOOK_SECRET).update(`${parts.t}.${body}`).digest();
      const given = Buffer.from(parts.v1 ?? "", "hex");
      const valid = given.length === expected.length && timingSafeEqual(given, expected);
      const status = answers[deliveries.length] ?? 204;
      deliveries.push({ headers: req.headers, body, valid, status });
      res.writeHead(status).end();
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${server.address().port}/hooks/render`, deliveries, close: () => new Promise((r) => server.close(r)) };
}

test("a finished render is announced to its webhook with an HMAC signature, retried on 5xx", async () => {
  const receiver = await startReceiver([503]);
  try {
    const project = await makeProject(owner.client);
    expectError(assert, await owner.client.post(`/v1/projects/${project.id}/renders`, { kind: "still", from_frame: 0, notify_url: "ftp://example.com/x" }), 422, "invalid_webhook_url");
    const job = await render(owner.client, project.id, { kind: "still", from_frame: 2, notify_url: receiver.url });
    const done = await waitForJob(owner.client, job.id, ended);
    assert.equal(done.status, "succeeded");
    const deadline = Date.now() + 30_000;
    while (receiver.deliveries.length < 2 && Date.now() < deadline) await sleep(100);
    assert.equal(receiver.deliveries.length, 2, "the 503 was retried once");
    const [first, second] = receiver.deliveries;
    for (const delivery of [first, second]) {
      assert.ok(delivery.valid, "the signature verifies with the shared secret");
      assert.equal(delivery.headers["x-creator-os-event"], "job.succeeded");
      assert.equal(delivery.headers["content-type"], "application/json");
      const payload = JSON.parse(delivery.body);
      assert.equal(payload.type, "job.succeeded");
      assert.equal(payload.job.id, job.id);
      assert.deepEqual(payload.job.result_asset_ids, done.result_asset_ids);
    }
    assert.match(first.headers["x-creator-os-delivery"], /^job_/);
    assert.equal(second.headers["x-creator-os-delivery"], first.headers["x-creator-os-delivery"], "one delivery id across retries");
    const delivery = await waitForJob(owner.client, first.headers["x-creator-os-delivery"], ended);
    assert.equal(delivery.kind, "deliver_webhook");
    assert.equal(delivery.status, "succeeded");
    assert.equal(delivery.attempts, 2);
    // The secret is never stored with the job.
    const [row] = await query("SELECT params FROM jobs WHERE id = ?", delivery.id);
    assert.ok(!row.params.includes(WEBHOOK_SECRET));
  } finally {
    await receiver.close();
  }
});
