// Projects and their timelines through the real Worker and ProjectRoom Durable Object.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, signup, startApp } from "./harness.mjs";
import { decodePng } from "./support/png.mjs";

let app;
let owner;
let orgId;
before(async () => {
  app = await startApp();
  owner = await signup(app, "owner");
  orgId = owner.org.id;
});
after(async () => { await app?.dispose(); });

let counter = 0;
/** A valid ULID-based id with the given prefix, unique in this run. */
function id(prefix) {
  counter += 1;
  return `${prefix}_01JD${String(counter).padStart(22, "0")}`;
}

const addTrack = (trackId) => ({ type: "add_track", track: { id: trackId, kind: "video" } });
const addSolid = (trackId, clipId, color, start = 0, duration = 30) => ({
  type: "add_clip",
  track_id: trackId,
  clip: { id: clipId, start, duration, source: { type: "solid", color } },
});

async function createProject(client = owner.client, name = "Launch video") {
  const res = await client.post(`/v1/orgs/${orgId}/projects`, { name, width: 320, height: 180, fps: 29.97 });
  assert.equal(res.status, 201, res.text);
  return res.body.project;
}


test("create, read, list, rename, archive, duplicate and delete a project", async () => {
  const project = await createProject();
  assert.match(project.id, /^prj_/);
  assert.deepEqual(project.frame_rate, { num: 30000, den: 1001 });

  const got = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(got.status, 200, got.text);
  assert.equal(got.body.seq, 0);
  assert.equal(got.body.timeline.settings.width, 320);

  const renamed = await owner.client.patch(`/v1/projects/${project.id}`, { name: "Launch video v2" });
  assert.equal(renamed.status, 200, renamed.text);
  assert.equal(renamed.body.project.name, "Launch video v2");

  const trackId = id("trk");
  const applied = await owner.client.post(`/v1/projects/${project.id}/commands`, { commands: [addTrack(trackId)] });
  assert.equal(applied.status, 200, applied.text);

  const copy = await owner.client.post(`/v1/projects/${project.id}/duplicate`);
  assert.equal(copy.status, 201, copy.text);
  const copied = await owner.client.get(`/v1/projects/${copy.body.project.id}`);
  assert.equal(copied.body.timeline.tracks[0].id, trackId, "the copy carries the timeline");

  const archived = await owner.client.patch(`/v1/projects/${project.id}`, { archived: true });
  assert.equal(archived.body.project.status, "archived");
  const active = await owner.client.get(`/v1/orgs/${orgId}/projects`);
  assert.ok(!active.body.items.some((p) => p.id === project.id), "archived projects leave the default list");
  const all = await owner.client.get(`/v1/orgs/${orgId}/projects?status=all`);
  assert.ok(all.body.items.some((p) => p.id === project.id));

  const deleted = await owner.client.delete(`/v1/projects/${project.id}`);
  assert.equal(deleted.status, 204, deleted.text);
  expectError(assert, await owner.client.get(`/v1/projects/${project.id}`), 404, "not_found");

  const audit = await owner.client.get(`/v1/orgs/${orgId}/audit?limit=200`);
  const actions = audit.body.items.map((item) => item.action);
  for (const action of ["project.create", "project.update", "project.commands", "project.duplicate", "project.delete"]) {
    assert.ok(actions.includes(action), `audit has ${action}`);
  }
});

test("commands are ordered, atomic, idempotent and listed in history", async () => {
  const project = await createProject();
  const path = `/v1/projects/${project.id}/commands`;
  const trackId = id("trk");
  const clipId = id("clp");
  const first = await owner.client.post(path, { commands: [addTrack(trackId), addSolid(trackId, clipId, { r: 255, g: 0, b: 0, a: 255 })], base_seq: 0 });
  assert.equal(first.status, 200, first.text);
  assert.equal(first.body.seq, 2);
  assert.deepEqual(first.body.results.map((r) => r.seq), [1, 2]);

  // A batch whose second command is refused changes nothing.
  const before = await owner.client.get(`/v1/projects/${project.id}`);
  const refused = await owner.client.post(path, { commands: [addTrack(id("trk")), addTrack(trackId)], base_seq: 2 });
  expectError(assert, refused, 422);
  const afterRefusal = await owner.client.get(`/v1/projects/${project.id}`);
  assert.deepEqual(afterRefusal.body, before.body);

  // A stale base that no longer applies is a conflict, not a silent divergence.
  const stale = await owner.client.post(path, { commands: [addTrack(trackId)], base_seq: 1 });
  expectError(assert, stale, 409, "conflict");
  // A stale base that still applies is rebased.
  const rebased = await owner.client.post(path, { commands: [addTrack(id("trk"))], base_seq: 1 });
  assert.equal(rebased.status, 200, rebased.text);
  assert.equal(rebased.body.seq, 3);

  // The same idempotency key answers the same, applying nothing twice.
  const keyed = { commands: [addTrack(id("trk"))], idempotency_key: "retry-1" };
  const once = await owner.client.post(path, keyed);
  const twice = await owner.client.post(path, keyed);
  assert.equal(once.status, 200);
  assert.deepEqual(twice.body, once.body);
  const state = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(state.body.seq, 4);

  const history = await owner.client.get(`/v1/projects/${project.id}/history?limit=2`);
  assert.equal(history.status, 200, history.text);
  assert.deepEqual(history.body.items.map((i) => i.seq), [1, 2]);
  assert.equal(history.body.items[0].actor.id, owner.user.id);
  const rest = await owner.client.get(`/v1/projects/${project.id}/history?after_seq=${history.body.next_cursor}`);
  assert.deepEqual(rest.body.items.map((i) => i.seq), [3, 4]);
  assert.equal(rest.body.next_cursor, null);
});

test("frame.png renders the timeline at the edge", async () => {
  const project = await createProject();
  const trackId = id("trk");
  await owner.client.post(`/v1/projects/${project.id}/commands`, {
    commands: [addTrack(trackId), addSolid(trackId, id("clp"), { r: 0, g: 128, b: 255, a: 255 }, 0, 10)],
  });
  const res = await app.fetch(`/v1/projects/${project.id}/frame.png?frame=5&scale=0.5`, {
    headers: { authorization: `Bearer ${owner.session.token}` },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  const png = decodePng(Buffer.from(await res.arrayBuffer()));
  assert.equal(png.width, 160);
  assert.equal(png.height, 90);
  assert.deepEqual(png.pixel(80, 45).slice(0, 3), [0, 128, 255]);
  // After the clip ends only the black background remains.
  const later = await app.fetch(`/v1/projects/${project.id}/frame.png?frame=20`, {
    headers: { authorization: `Bearer ${owner.session.token}` },
  });
  const blank = decodePng(Buffer.from(await later.arrayBuffer()));
  assert.deepEqual(blank.pixel(10, 10).slice(0, 3), [0, 0, 0]);
  expectError(assert, await owner.client.get(`/v1/projects/${project.id}/frame.png?scale=3`), 422, "invalid_scale");
});

test("viewers read but cannot edit; other orgs see nothing", async () => {
  const project = await createProject();
  const viewer = await signup(app, "viewer");
  const invite = await owner.client.post(`/v1/orgs/${orgId}/invitations`, { email: viewer.email, role: "viewer" });
  assert.equal(invite.status, 201, invite.text);
  const accepted = await viewer.client.post(`/v1/invitations/${invite.body.invitation.token}/accept`);
  assert.equal(accepted.status, 200, accepted.text);

  assert.equal((await viewer.client.get(`/v1/projects/${project.id}`)).status, 200);
  expectError(assert, await viewer.client.post(`/v1/projects/${project.id}/commands`, { commands: [addTrack(id("trk"))] }), 403, "forbidden");
  expectError(assert, await viewer.client.patch(`/v1/projects/${project.id}`, { name: "x" }), 403, "forbidden");

  const stranger = await signup(app, "stranger");
  for (const res of [
    await stranger.client.get(`/v1/projects/${project.id}`),
    await stranger.client.post(`/v1/projects/${project.id}/commands`, { commands: [addTrack(id("trk"))] }),
    await stranger.client.get(`/v1/projects/${project.id}/history`),
    await stranger.client.get(`/v1/projects/${project.id}/frame.png`),
    await stranger.client.delete(`/v1/projects/${project.id}`),
    await stranger.client.get(`/v1/orgs/${orgId}/projects`),
  ]) {
    expectError(assert, res, 404, "not_found");
  }
  const state = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(state.body.seq, 0, "refused edits changed nothing");
});

test("bad command input is refused with the one error shape", async () => {
  const project = await createProject();
  const path = `/v1/projects/${project.id}/commands`;
  expectError(assert, await owner.client.post(path, "{not json"), 400, "malformed_json");
  expectError(assert, await owner.client.post(path, { commands: [{ type: "teleport_clip" }] }), 422, "invalid_request");
  expectError(assert, await owner.client.post(path, { commands: [], base_seq: 0 }), 422, "invalid_commands");
  expectError(assert, await owner.client.post(path, { commands: [addTrack(id("trk"))], surprise: 1 }), 422, "invalid_request");
  expectError(assert, await owner.client.post(path, { commands: [addTrack(id("trk"))], base_seq: 99 }), 422, "invalid_base_seq");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "x", width: 10, height: 10, fps: 30 }), 422, "invalid_size");
  expectError(assert, await owner.client.post(`/v1/orgs/${orgId}/projects`, { name: "x", width: 320, height: 180, fps: 0 }), 422, "invalid_fps");
  const state = await owner.client.get(`/v1/projects/${project.id}`);
  assert.equal(state.body.seq, 0);
});
