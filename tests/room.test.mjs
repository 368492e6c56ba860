// The real-time project room (ProjectRoom Durable Object, WebSocket protocol of
// durable-objects/src/protocol.rs) through the real Worker in local workerd: two editors, a
// viewer and an agent (API key) in one room, each keeping a replica of the timeline with
// editor-core (wasm) and checked against the HTTP API.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, expectError, signup, startApp } from "./harness.mjs";
import { canonical, connect, idMaker, UpgradeRefused } from "./support/room-client.mjs";

let app;
let owner; // editor A (org owner)
let editor; // editor B
let viewer;
let agentKey; // an API key with the editor role: an agent member
let orgId;
const open = [];

before(async () => {
  app = await startApp();
  owner = await signup(app, "owner");
  orgId = owner.org.id;
  editor = await join("editor", "editor");
  viewer = await join("viewer", "viewer");
  const key = await owner.client.post(`/v1/orgs/${orgId}/api-keys`, { name: "Cutting agent", role: "editor" });
  assert.equal(key.status, 201, key.text);
  agentKey = key.body.api_key;
});
after(async () => {
  await Promise.all(open.map((c) => c.close().catch(() => {})));
  await app?.dispose();
});

async function join(label, role) {
  const person = await signup(app, label);
  const invite = await owner.client.post(`/v1/orgs/${orgId}/invitations`, { email: person.email, role });
  assert.equal(invite.status, 201, invite.text);
  const accepted = await person.client.post(`/v1/invitations/${invite.body.invitation.token}/accept`);
  assert.equal(accepted.status, 200, accepted.text);
  return person;
}

const id = idMaker(1);
const addTrack = (trackId) => ({ type: "add_track", track: { id: trackId, kind: "video" } });
const addSolid = (trackId, clipId, start = 0, duration = 30) => ({
  type: "add_clip",
  track_id: trackId,
  clip: { id: clipId, start, duration, source: { type: "solid", color: { r: 200, g: 10, b: 10, a: 255 } } },
});

async function createProject(name = "Room test") {
  const res = await owner.client.post(`/v1/orgs/${orgId}/projects`, { name, width: 320, height: 180, fps: 30 });
  assert.equal(res.status, 201, res.text);
  return res.body.project.id;
}

async function enter(projectId, who, options = {}) {
  const token = who === agentKey ? agentKey.key : who.session.token;
  const client = await connect(app, projectId, { token, label: options.label ?? who.email ?? "agent", ...options });
  open.push(client);
  return client;
}

async function httpState(projectId) {
  const res = await owner.client.get(`/v1/projects/${projectId}`);
  assert.equal(res.status, 200, res.text);
  return res.body;
}

/** Every client's replica equals the HTTP timeline, at the same seq, with no protocol problems. */
async function assertConverged(projectId, clients) {
  for (const client of clients) await client.sync();
  const state = await httpState(projectId);
  const expected = canonical(state.timeline);
  for (const client of clients) {
    assert.deepEqual(client.problems, [], `${client.label}: replica problems`);
    assert.deepEqual(client.garbage, [], `${client.label}: non-JSON frames`);
    assert.equal(client.replica.seq, state.seq, `${client.label} is at the room's seq`);
    assert.equal(client.replica.canonical(), expected, `${client.label}'s replica equals GET /v1/projects/{id}`);
  }
  return state;
}

const member = (entry) => entry.member ?? entry;

test("welcome: seq, timeline and members typed human or agent; joined and left are broadcast", async () => {
  const projectId = await createProject();
  const seeded = await owner.client.post(`/v1/projects/${projectId}/commands`, { commands: [addTrack(id("trk"))] });
  assert.equal(seeded.status, 200, seeded.text);

  const a = await enter(projectId, owner, { label: "A" });
  assert.equal(a.welcome.type, "welcome");
  assert.equal(a.welcome.seq, 1);
  const state = await httpState(projectId);
  assert.equal(canonical(a.welcome.timeline), canonical(state.timeline), "a fresh join carries the timeline");
  assert.equal(a.welcome.missed, undefined);
  const you = a.welcome.you;
  assert.match(you.connection_id, /^con_/);
  assert.deepEqual(you.actor, { type: "user", id: owner.user.id });
  assert.equal(you.kind, "human");
  assert.equal(you.role, "owner");
  assert.equal(you.can_write, true);
  assert.equal(typeof you.name, "string");

  const b = await enter(projectId, editor, { label: "B" });
  const v = await enter(projectId, viewer, { label: "V" });
  const k = await enter(projectId, agentKey, { label: "K" });
  assert.equal(b.welcome.you.role, "editor");
  assert.equal(b.welcome.you.can_write, true);
  assert.equal(v.welcome.you.role, "viewer");
  assert.equal(v.welcome.you.can_write, false);
  assert.equal(k.welcome.you.kind, "agent", "an API key is an agent member");
  assert.deepEqual(k.welcome.you.actor, { type: "api_key", id: agentKey.id });
  assert.equal(k.welcome.you.can_write, true);

  // The agent's welcome lists everyone in the room, itself included, each typed.
  const members = k.welcome.members.map(member);
  const byConnection = new Map(members.map((m) => [m.connection_id, m]));
  for (const client of [a, b, v, k]) {
    const listed = byConnection.get(client.welcome.you.connection_id);
    assert.ok(listed, `${client.label} is listed`);
    assert.deepEqual(listed.actor, client.welcome.you.actor);
    assert.equal(listed.kind, client === k ? "agent" : "human");
  }
  assert.equal(members.length, 4);

  // A saw the others join, in order.
  for (const client of [b, v, k]) {
    const joined = await a.waitFor((f) => f.type === "joined" && member(f.member).connection_id === client.welcome.you.connection_id);
    assert.deepEqual(member(joined.member).actor, client.welcome.you.actor);
  }
  // A's own join is not announced to itself.
  assert.equal(a.count((f) => f.type === "joined" && member(f.member).connection_id === you.connection_id), 0);

  // A clean close completes the handshake (1000 echoed), rather than ending abnormally (1006).
  const closed = await k.close(1000, "done");
  assert.equal(closed.code, 1000);
  for (const client of [a, b, v]) {
    await client.waitFor((f) => f.type === "left" && f.connection_id === k.welcome.you.connection_id);
  }
  await assertConverged(projectId, [a, b, v]);
  await Promise.all([a, b, v].map((c) => c.close()));
});

test("concurrent edits from two editors converge; the viewer follows; seqs are one total order", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const v = await enter(projectId, viewer, { label: "V" });

  const trackA = id("trk");
  const trackB = id("trk");
  const shared = id("trk");
  const sharedClip = id("clp");
  assert.equal((await a.command(addTrack(shared))).type, "ack");
  assert.equal((await a.command(addSolid(shared, sharedClip, 0, 20))).type, "ack");

  // Both fire without waiting: their own tracks, plus fights over the same clip and the same
  // frames of the shared track (some of these must be refused).
  const sentA = [a.command(addTrack(trackA))];
  const sentB = [b.command(addTrack(trackB))];
  for (let i = 0; i < 25; i++) {
    sentA.push(a.command(addSolid(trackA, id("clp"), i * 40, 30)));
    sentB.push(b.command(addSolid(trackB, id("clp"), i * 40, 30)));
    sentA.push(a.command({ type: "move_clip", clip_id: sharedClip, start: 100 + i * 7 }));
    sentB.push(b.command({ type: "move_clip", clip_id: sharedClip, start: 103 + i * 7 }));
    sentA.push(a.command(addSolid(shared, id("clp"), 500 + i * 10, 15)));
    sentB.push(b.command(addSolid(shared, id("clp"), 505 + i * 10, 15)));
  }
  sentA.push(a.command({ type: "remove_clip", clip_id: sharedClip }));
  sentB.push(b.command({ type: "remove_clip", clip_id: sharedClip }));
  const answersA = await Promise.all(sentA);
  const answersB = await Promise.all(sentB);
  for (const answer of [...answersA, ...answersB]) {
    assert.ok(answer.type === "ack" || answer.type === "reject", JSON.stringify(answer));
    if (answer.type === "reject") assert.equal(typeof answer.error.code, "string");
  }
  const removals = [answersA.at(-1), answersB.at(-1)].map((x) => x.type).sort();
  assert.deepEqual(removals, ["ack", "reject"], "exactly one of two removals of one clip wins");
  assert.ok([...answersA, ...answersB].some((x) => x.type === "reject"), "overlapping adds conflict");

  // One total order: acked seqs are distinct and, with the first two, exactly 1..seq.
  const acked = [...answersA, ...answersB].filter((x) => x.type === "ack").map((x) => x.seq);
  const state = await assertConverged(projectId, [a, b, v]);
  assert.deepEqual([...acked, 1, 2].sort((x, y) => x - y), Array.from({ length: state.seq }, (_, i) => i + 1));
  // The viewer saw every command as `applied`, each once, in order.
  const seen = v.frames((f) => f.type === "applied").map((f) => f.seq);
  assert.deepEqual(seen, Array.from({ length: state.seq }, (_, i) => i + 1));
  // The sender gets an ack, never its own `applied`.
  const ownA = a.frames((f) => f.type === "applied" && f.actor.id === owner.user.id);
  assert.equal(ownA.length, 0, "no applied echo of one's own socket commands");
  const ofB = a.frames((f) => f.type === "applied");
  assert.ok(ofB.every((f) => f.actor.type === "user" && f.actor.id === editor.user.id));
  await Promise.all([a, b, v].map((c) => c.close()));
});

test("a viewer's edits are rejected as forbidden and change nothing", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const v = await enter(projectId, viewer, { label: "V" });
  const trackId = id("trk");
  await a.command(addTrack(trackId));
  await v.reach(1);
  const before = await httpState(projectId);
  const mark = a.mark();

  const refused = await v.command(addSolid(trackId, id("clp")));
  assert.equal(refused.type, "reject");
  assert.equal(refused.error.code, "forbidden");
  assert.equal(refused.client_seq, 1);
  for (const step of [await v.undo(), await v.redo()]) {
    assert.equal(step.type, "reject");
    assert.equal(step.error.code, "forbidden");
  }
  await a.sync();
  assert.equal(a.count((f) => f.type === "applied", mark), 0, "nothing was broadcast");
  assert.deepEqual(await httpState(projectId), before);
  const history = await owner.client.get(`/v1/projects/${projectId}/history`);
  assert.deepEqual(history.body.items.map((i) => i.seq), [1]);
  await assertConverged(projectId, [a, v]);
  await Promise.all([a, v].map((c) => c.close()));
});

test("presence is relayed and coalesced; follow is broadcast", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const bId = b.welcome.you.connection_id;

  b.presence({ cursor: { x: 0.25, y: 0.5 }, playhead: 12, selection: [], viewport: { from_frame: 0, to_frame: 300 } });
  const first = await a.waitFor((f) => f.type === "presence" && f.connection_id === bId);
  assert.deepEqual(first.actor, { type: "user", id: editor.user.id });
  assert.deepEqual(first.presence.cursor, { x: 0.25, y: 0.5 });
  assert.equal(first.presence.playhead, 12);
  assert.deepEqual(first.presence.viewport, { from_frame: 0, to_frame: 300 });
  // Not echoed to the sender.
  await b.sync();
  assert.equal(b.count((f) => f.type === "presence" && f.connection_id === bId), 0);

  // A burst of 100 updates: absent fields keep their value, the final state arrives, and the
  // number of broadcasts is bounded by 20 a second over the window the burst took.
  await new Promise((r) => setTimeout(r, 120)); // leave the previous broadcast's interval
  const mark = a.mark();
  const started = performance.now();
  for (let i = 0; i < 100; i++) b.presence({ playhead: 1000 + i });
  const last = await a.waitFor((f) => f.type === "presence" && f.connection_id === bId && f.presence.playhead === 1099, { since: mark });
  const windowMs = last.at - started;
  await b.sync();
  await new Promise((r) => setTimeout(r, 200)); // let a late coalesced broadcast show itself
  await a.sync();
  const burst = a.frames((f) => f.type === "presence" && f.connection_id === bId, mark);
  const bound = Math.ceil((windowMs + 200) / 50) + 2;
  assert.ok(burst.length <= bound, `${burst.length} presence broadcasts for 100 updates over ${windowMs.toFixed(0)} ms (bound ${bound})`);
  assert.ok(burst.length < 100, "updates were coalesced");
  assert.equal(burst.at(-1).presence.playhead, 1099, "the last broadcast carries the final state");
  assert.deepEqual(burst.at(-1).presence.cursor, { x: 0.25, y: 0.5 }, "absent fields keep their value");

  // Follow: everyone (the follower included) learns who follows whom; null stops.
  a.follow(editor.user.id);
  for (const client of [a, b]) {
    const f = await client.waitFor((x) => x.type === "follow" && x.connection_id === a.welcome.you.connection_id);
    assert.equal(f.target, editor.user.id);
  }
  // A late joiner sees the follow in the member list.
  const c = await enter(projectId, viewer, { label: "C" });
  const listed = c.welcome.members.find((m) => member(m).connection_id === a.welcome.you.connection_id);
  assert.ok(listed);
  assert.equal(listed.following, editor.user.id, "a late joiner sees who follows whom");
  const bListed = c.welcome.members.find((m) => member(m).connection_id === bId);
  assert.equal(bListed.presence.playhead, 1099, "a late joiner gets current presence");
  assert.deepEqual(bListed.presence.cursor, { x: 0.25, y: 0.5 });
  const mark2 = b.mark();
  a.follow(null);
  const stop = await b.waitFor((x) => x.type === "follow" && x.connection_id === a.welcome.you.connection_id, { since: mark2 });
  assert.equal(stop.target, null);
  // Malformed presence is an error, not a broadcast.
  const mark3 = a.mark();
  b.send({ type: "presence", playhead: "soon" });
  const err = await b.waitFor((f) => f.type === "error", { since: mark2 });
  assert.equal(typeof err.error.code, "string");
  await a.sync();
  await b.sync();
  assert.equal(a.count((f) => f.type === "presence", mark3), 0);
  await Promise.all([a, b, c].map((x) => x.close()));
});

test("comments round-trip: thread on a clip and frame range, reply, mention, edit, delete, resolve, reopen", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const v = await enter(projectId, viewer, { label: "V" });
  const trackId = id("trk");
  const clipId = id("clp");
  await a.command(addTrack(trackId));
  await a.command(addSolid(trackId, clipId, 0, 60));
  const before = await httpState(projectId);

  const anchor = { clip_id: clipId, from_frame: 10, to_frame: 20 };
  const created = await a.commentCreate(anchor, "  The red is too loud here @B  ", [editor.user.id]);
  assert.equal(created.type, "ack", JSON.stringify(created));
  const thread = created.thread;
  assert.match(thread.id, /^thr_/);
  assert.deepEqual(thread.anchor, anchor);
  assert.equal(thread.resolved, false);
  assert.equal(thread.comments.length, 1);
  const first = thread.comments[0];
  assert.match(first.id, /^cmt_/);
  assert.equal(first.body, "The red is too loud here @B", "bodies are trimmed");
  assert.deepEqual(first.mentions, [editor.user.id]);
  assert.deepEqual({ type: first.author.type, id: first.author.id }, { type: "user", id: owner.user.id });
  // Broadcast to everyone, the sender included.
  for (const client of [a, b, v]) {
    const t = await client.waitFor((f) => f.type === "thread" && f.thread.id === thread.id);
    assert.deepEqual(t.thread, thread);
  }

  const reply = await b.commentReply(thread.id, "Agreed, toning it down", [owner.user.id]);
  assert.equal(reply.type, "ack", JSON.stringify(reply));
  assert.equal(reply.thread.comments.length, 2);
  const second = reply.thread.comments[1];
  assert.equal(second.author.id, editor.user.id);

  const edited = await a.commentEdit(first.id, "The red is far too loud");
  assert.equal(edited.type, "ack", JSON.stringify(edited));
  const firstAfter = edited.thread.comments.find((c) => c.id === first.id);
  assert.equal(firstAfter.body, "The red is far too loud");
  assert.notEqual(firstAfter.edited_at, null);
  // Not someone else's comment.
  const notOwn = await b.commentEdit(first.id, "hijacked");
  assert.equal(notOwn.type, "reject");
  assert.equal(notOwn.error.code, "forbidden");
  const notOwnDelete = await b.commentDelete(first.id);
  assert.equal(notOwnDelete.type, "reject");
  assert.equal(notOwnDelete.error.code, "forbidden");

  const deleted = await b.commentDelete(second.id);
  assert.equal(deleted.type, "ack", JSON.stringify(deleted));
  const secondAfter = deleted.thread.comments.find((c) => c.id === second.id);
  assert.equal(secondAfter.deleted, true);
  assert.equal(secondAfter.body, null, "a deleted comment's text is gone");
  const again = await b.commentDelete(second.id);
  assert.equal(again.type, "reject");
  assert.equal(again.error.code, "not_found");

  const resolved = await b.threadResolve(thread.id, true);
  assert.equal(resolved.type, "ack");
  assert.equal(resolved.thread.resolved, true);
  assert.equal(resolved.thread.resolved_by.id, editor.user.id);
  const reopened = await a.threadResolve(thread.id, false);
  assert.equal(reopened.thread.resolved, false);
  assert.equal(reopened.thread.resolved_by, null);

  // Every change reached the viewer, last state included.
  const lastSeen = await v.waitFor((f) => f.type === "thread" && f.thread.id === thread.id && f.thread.resolved === false && f.thread.comments.length === 2 && f.thread.comments[1].deleted);
  assert.deepEqual(lastSeen.thread, reopened.thread);

  // Refusals: an anchor on a clip that is not there, an empty body, an unknown thread.
  for (const [answer, code] of [
    [await a.commentCreate({ clip_id: id("clp"), from_frame: 0 }, "where?"), "invalid_anchor"],
    [await a.commentCreate({ from_frame: 20, to_frame: 10 }, "backwards"), "invalid_anchor"],
    [await a.commentCreate({}, "nowhere"), "invalid_anchor"],
    [await a.commentCreate({ from_frame: 0 }, "   "), "invalid_comment"],
    [await a.commentReply("thr_01JD0000000000000000000000", "hello?"), "not_found"],
  ]) {
    assert.equal(answer.type, "reject", JSON.stringify(answer));
    assert.equal(answer.error.code, code, JSON.stringify(answer));
  }

  // A frame-range-only thread.
  const ranged = await b.commentCreate({ from_frame: 40, to_frame: 45 }, "Cut here?");
  assert.equal(ranged.type, "ack");

  // Comments do not touch the timeline.
  assert.deepEqual((await httpState(projectId)).seq, before.seq);

  // Over HTTP: the same threads, and HTTP comment operations reach the room.
  const listed = await viewer.client.get(`/v1/projects/${projectId}/threads`);
  assert.equal(listed.status, 200, listed.text);
  assert.deepEqual(listed.body.items.map((t) => t.id), [thread.id, ranged.thread.id]);
  assert.deepEqual(listed.body.items[0], reopened.thread);
  const unresolved = await owner.client.get(`/v1/projects/${projectId}/threads?resolved=false`);
  assert.equal(unresolved.body.items.length, 2);
  const viaHttp = await editor.client.post(`/v1/projects/${projectId}/threads/${thread.id}/comments`, { body: "Done in v3" });
  assert.equal(viaHttp.status, 201, viaHttp.text);
  const live = await a.waitFor((f) => f.type === "thread" && f.thread.id === thread.id && f.thread.comments.length === 3);
  assert.deepEqual(live.thread, viaHttp.body.thread);
  const resolvedHttp = await owner.client.patch(`/v1/projects/${projectId}/threads/${thread.id}`, { resolved: true });
  assert.equal(resolvedHttp.status, 200, resolvedHttp.text);
  await v.waitFor((f) => f.type === "thread" && f.thread.id === thread.id && f.thread.resolved === true && f.thread.comments.length === 3);
  assert.deepEqual((await owner.client.get(`/v1/projects/${projectId}/threads?resolved=true`)).body.items.map((t) => t.id), [thread.id]);
  expectError(assert, await editor.client.patch(`/v1/projects/${projectId}/comments/${first.id}`, { body: "not mine" }), 403, "forbidden");
  await assertConverged(projectId, [a, b, v]);
  await Promise.all([a, b, v].map((c) => c.close()));
});

test("HTTP commands reach the room as applied, in order", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const trackId = id("trk");
  assert.equal((await b.command(addTrack(trackId))).seq, 1);
  const res = await owner.client.post(`/v1/projects/${projectId}/commands`, {
    commands: [addSolid(trackId, id("clp"), 0, 10), addSolid(trackId, id("clp"), 10, 10)],
    base_seq: 1,
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.body.seq, 3);
  for (const client of [a, b]) {
    const applied = [];
    for (const seq of [2, 3]) applied.push(await client.waitFor((f) => f.type === "applied" && f.seq === seq));
    for (const f of applied) assert.deepEqual(f.actor, { type: "user", id: owner.user.id });
    assert.equal(applied[0].command.type, "add_clip");
  }
  // An API key's commands are the agent's.
  const agent = new Client(app, { token: agentKey.key });
  const byAgent = await agent.post(`/v1/projects/${projectId}/commands`, { commands: [{ type: "add_marker", marker: { id: id("mrk"), frame: 5, label: "agent" } }] });
  assert.equal(byAgent.status, 200, byAgent.text);
  const f = await a.waitFor((x) => x.type === "applied" && x.seq === 4);
  assert.deepEqual(f.actor, { type: "api_key", id: agentKey.id });
  // A refused HTTP batch broadcasts nothing.
  const mark = a.mark();
  const refused = await owner.client.post(`/v1/projects/${projectId}/commands`, { commands: [addTrack(id("trk")), addTrack(trackId)] });
  expectError(assert, refused, 422);
  await assertConverged(projectId, [a, b]);
  assert.equal(a.count((x) => x.type === "applied", mark), 0);
  await Promise.all([a, b].map((c) => c.close()));
});

test("undo and redo are per actor across interleaved edits", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const v = await enter(projectId, viewer, { label: "V" });
  const trackA = id("trk");
  const trackB = id("trk");
  const clipA = id("clp");
  const clipB = id("clp");
  assert.equal((await a.undo()).error?.code, "nothing_to_undo");
  assert.equal((await a.command(addTrack(trackA))).seq, 1);
  assert.equal((await b.command(addTrack(trackB))).seq, 2);
  assert.equal((await a.command(addSolid(trackA, clipA, 0, 30))).seq, 3);
  assert.equal((await b.command(addSolid(trackB, clipB, 0, 30))).seq, 4);
  assert.equal((await a.command({ type: "move_clip", clip_id: clipA, start: 50 })).seq, 5);
  assert.equal((await b.command({ type: "move_clip", clip_id: clipB, start: 70 })).seq, 6);

  const clipStart = (timeline, clipId) => timeline.tracks.flatMap((t) => t.clips).find((c) => c.id === clipId)?.start;

  // A's undo reverts A's last change (the move), not B's later one.
  const undo1 = await a.undo();
  assert.equal(undo1.type, "ack", JSON.stringify(undo1));
  assert.equal(undo1.seq, 7);
  assert.deepEqual(undo1.command, { type: "move_clip", clip_id: clipA, start: 0 });
  let state = await assertConverged(projectId, [a, b, v]);
  assert.equal(clipStart(state.timeline, clipA), 0);
  assert.equal(clipStart(state.timeline, clipB), 70);
  // Others see the undo as an ordinary applied command by A.
  const seen = await b.waitFor((f) => f.type === "applied" && f.seq === 7);
  assert.deepEqual(seen.actor, { type: "user", id: owner.user.id });
  assert.deepEqual(seen.command, undo1.command);

  // B undoes twice: its move, then its clip.
  assert.deepEqual((await b.undo()).command, { type: "move_clip", clip_id: clipB, start: 0 });
  const undoClipB = await b.undo();
  assert.equal(undoClipB.command.type, "remove_clip");
  state = await assertConverged(projectId, [a, b, v]);
  assert.equal(clipStart(state.timeline, clipB), undefined);
  assert.equal(clipStart(state.timeline, clipA), 0);

  // A redoes its move; a new edit by A clears A's redo stack but not B's.
  const redo = await a.redo();
  assert.equal(redo.type, "ack");
  assert.deepEqual(redo.command, { type: "move_clip", clip_id: clipA, start: 50 });
  assert.equal((await a.command({ type: "move_clip", clip_id: clipA, start: 90 })).type, "ack");
  assert.equal((await a.redo()).error?.code, "nothing_to_undo", "a new edit clears the redo stack");
  const redoB = await b.redo();
  assert.equal(redoB.type, "ack");
  assert.equal(redoB.command.type, "add_clip");
  state = await assertConverged(projectId, [a, b, v]);
  assert.equal(clipStart(state.timeline, clipB), 0);

  // An undo that later edits by others made impossible is refused and changes nothing:
  // A's clip on B's track, then B removes its track.
  const clipOnB = id("clp");
  assert.equal((await a.command(addSolid(trackB, clipOnB, 200, 10))).type, "ack");
  assert.equal((await a.command({ type: "move_clip", clip_id: clipOnB, start: 300 })).type, "ack");
  assert.equal((await b.command({ type: "remove_track", track_id: trackB })).type, "ack");
  const seqBefore = (await httpState(projectId)).seq;
  const conflict = await a.undo();
  assert.equal(conflict.type, "reject");
  assert.equal(conflict.error.code, "undo_conflict");
  assert.equal((await httpState(projectId)).seq, seqBefore);

  // The undo also works over HTTP? Only through the room here; history records every step.
  const history = await owner.client.get(`/v1/projects/${projectId}/history?limit=1000`);
  assert.deepEqual(history.body.items.map((i) => i.seq), Array.from({ length: seqBefore }, (_, i) => i + 1));
  await assertConverged(projectId, [a, b, v]);
  await Promise.all([a, b, v].map((c) => c.close()));
});

test("a reconnect with ?since= gets exactly the missed commands", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const trackId = id("trk");
  await a.command(addTrack(trackId));
  await b.reach(1);
  await b.drop(); // the network goes away: no close handshake
  await a.waitFor((f) => f.type === "left" && f.connection_id === b.welcome.you.connection_id);

  for (let i = 0; i < 5; i++) await a.command(addSolid(trackId, id("clp"), i * 10, 10));
  const http = await owner.client.post(`/v1/projects/${projectId}/commands`, { commands: [{ type: "add_marker", marker: { id: id("mrk"), frame: 3 } }, { type: "add_marker", marker: { id: id("mrk"), frame: 4 } }] });
  assert.equal(http.status, 200, http.text);

  const welcome = await b.reconnect(); // since = the replica's seq (1)
  assert.equal(welcome.seq, 8);
  assert.equal(welcome.timeline, undefined, "a resume gets the gap, not the timeline");
  assert.deepEqual(welcome.missed.map((m) => m.seq), [2, 3, 4, 5, 6, 7, 8], "no gap, no duplicate");
  assert.ok(welcome.missed.every((m) => m.type === "applied"));
  const history = await owner.client.get(`/v1/projects/${projectId}/history`);
  assert.deepEqual(welcome.missed.map((m) => m.command), history.body.items.slice(1).map((i) => i.command));
  assert.deepEqual(welcome.missed.at(-1).actor, { type: "user", id: owner.user.id });

  // Live again: the next command arrives once.
  await a.command(addSolid(trackId, id("clp"), 100, 10));
  await b.reach(9);
  await assertConverged(projectId, [a, b]);
  assert.equal(b.count((f) => f.type === "applied" && f.seq === 9), 1);

  // Resuming at the current seq misses nothing; a since ahead of the room gets the timeline.
  const c = await enter(projectId, editor, { label: "C", since: 9 });
  assert.deepEqual(c.welcome.missed, []);
  const d = await enter(projectId, editor, { label: "D", since: 500 });
  assert.equal(canonical(d.welcome.timeline), canonical((await httpState(projectId)).timeline));
  await Promise.all([a, b, c, d].map((x) => x.close()));
});

test("malformed frames get error frames and change nothing; repeated abuse closes with 1008", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const trackId = id("trk");
  await a.command(addTrack(trackId));
  await b.reach(1);
  const before = await httpState(projectId);
  const markA = a.mark();
  const markB = b.mark();

  const bad = [
    "not json",
    "[]",
    "{}",
    JSON.stringify({ type: "teleport" }),
    JSON.stringify({ type: "command", client_seq: 1 }),
    JSON.stringify({ type: "command", client_seq: 2, command: { type: "move_clip" } }),
    JSON.stringify({ type: "command", client_seq: 3, command: { type: "add_track", track: { id: "x", kind: "video" } }, extra: true }),
    JSON.stringify({ type: "command", client_seq: -4, command: addTrack(id("trk")) }),
    JSON.stringify({ type: "undo" }),
    JSON.stringify({ type: "comment_create", client_seq: 5, anchor: { frame: 1 }, body: "x" }),
  ];
  for (const text of bad) b.sendRaw(text);
  b.sendRaw(Buffer.from([1, 2, 3])); // binary frames are not the protocol
  await b.sync();
  const errors = b.frames((f) => f.type === "error", markB);
  assert.equal(errors.length, bad.length + 1, `one error frame per malformed frame: ${JSON.stringify(b.frames(() => true, markB))}`);
  for (const e of errors) {
    assert.equal(typeof e.error.code, "string");
    assert.equal(typeof e.error.message, "string");
  }
  // An invalid id inside a well-formed frame is a reject from the engine, not a change.
  const invalid = await b.command(addTrack("trk_nope"));
  assert.equal(invalid.type, "reject");
  assert.equal(invalid.error.code, "invalid_id");
  await a.sync();
  assert.equal(a.count((f) => f.type === "applied", markA), 0);
  assert.deepEqual(await httpState(projectId), before);
  // The connection is still usable.
  assert.equal((await b.command(addSolid(trackId, id("clp")))).type, "ack");
  await assertConverged(projectId, [a, b]);

  // Abuse: a fresh connection sending garbage is closed with 1008 (policy).
  const c = await enter(projectId, editor, { label: "C" });
  for (let i = 0; i < 40 && c.isOpen; i++) c.sendRaw(`garbage ${i}`);
  const closed = await c.closed;
  assert.equal(closed.code, 1008);
  assert.ok(c.count((f) => f.type === "error") >= 1);
  await Promise.all([a, b].map((x) => x.close()));
});

test("an oversized frame closes the socket with 1009 and changes nothing", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  const trackId = id("trk");
  await a.command(addTrack(trackId));
  await b.reach(1);
  const before = await httpState(projectId);
  const mark = a.mark();
  const huge = { type: "add_marker", marker: { id: id("mrk"), frame: 1, label: "x".repeat(300 * 1024) } };
  const answer = await b.command(huge);
  assert.equal(answer.type, "disconnected", JSON.stringify(answer));
  const closed = await b.closed;
  assert.equal(closed.code, 1009);
  await a.sync();
  assert.equal(a.count((f) => f.type === "applied", mark), 0);
  assert.deepEqual(await httpState(projectId), before);
  // A frame just under the limit is fine (labels are capped at 100,000 bytes, so two markers).
  const big = { type: "batch", commands: [2, 3].map((frame) => ({ type: "add_marker", marker: { id: id("mrk"), frame, label: "y".repeat(95_000) } })) };
  const bigAnswer = await a.command(big);
  assert.equal(bigAnswer.type, "ack", JSON.stringify(bigAnswer).slice(0, 300));
  await assertConverged(projectId, [a]);
  await a.close();
});

test("authentication: bearer, cookie and single-use tickets; strangers and anonymous are refused", async () => {
  const projectId = await createProject();
  const ticketPath = `/v1/projects/${projectId}/room-ticket`;
  const issued = await editor.client.post(ticketPath);
  assert.equal(issued.status, 201, issued.text);
  assert.ok(Date.parse(issued.body.expires_at) > Date.now());
  const ticket = issued.body.ticket;
  assert.equal(typeof ticket, "string");
  assert.ok(ticket.length >= 20);

  const viaTicket = await connect(app, projectId, { ticket, label: "ticket" });
  open.push(viaTicket);
  assert.deepEqual(viaTicket.welcome.you.actor, { type: "user", id: editor.user.id });
  assert.equal(viaTicket.welcome.you.role, "editor");
  // The same ticket again is refused.
  await assert.rejects(connect(app, projectId, { ticket, label: "ticket again" }), (e) => {
    assert.ok(e instanceof UpgradeRefused, String(e));
    assert.equal(e.status, 401, e.body);
    return true;
  });
  // A ticket is for one project.
  const other = await createProject("Other");
  const second = (await editor.client.post(ticketPath)).body.ticket;
  await assert.rejects(connect(app, other, { ticket: second }), (e) => e instanceof UpgradeRefused && e.status >= 400 && e.status < 500);
  // A forged ticket.
  await assert.rejects(connect(app, projectId, { ticket: "x".repeat(43) }), (e) => e instanceof UpgradeRefused && e.status === 401);

  // The session cookie works like the bearer token.
  const cookieName = await (async () => {
    const login = await new Client(app).post("/v1/auth/login", { email: viewer.email, password: "vermilion-otter-canvas-92" });
    assert.equal(login.status, 200, login.text);
    return login.headers.get("set-cookie").split(";")[0];
  })();
  const viaCookie = await connect(app, projectId, { cookie: cookieName, label: "cookie", headers: { origin: app.origin } });
  open.push(viaCookie);
  assert.deepEqual(viaCookie.welcome.you.actor, { type: "user", id: viewer.user.id });
  // A cross-site page cannot open the room with the visitor's cookie.
  await assert.rejects(connect(app, projectId, { cookie: cookieName, headers: { origin: "https://evil.example" } }), (e) => e instanceof UpgradeRefused && e.status === 403);

  // No credentials, a stranger, a non-upgrade request, an unknown project.
  await assert.rejects(connect(app, projectId, { label: "anonymous" }), (e) => e instanceof UpgradeRefused && e.status === 401);
  const stranger = await signup(app, "stranger");
  await assert.rejects(connect(app, projectId, { token: stranger.session.token }), (e) => e instanceof UpgradeRefused && e.status === 404);
  await assert.rejects(connect(app, "prj_01JD0000000000000000000000", { token: owner.session.token }), (e) => e instanceof UpgradeRefused && e.status === 404);
  expectError(assert, await owner.client.get(`/v1/projects/${projectId}/room`), 426);
  await assert.rejects(connect(app, projectId, { token: owner.session.token, since: "soon" }), (e) => e instanceof UpgradeRefused && e.status === 422 && e.json?.error?.code === "invalid_since");
  expectError(assert, await stranger.client.post(ticketPath), 404, "not_found");
  await Promise.all([viaTicket, viaCookie].map((x) => x.close()));
});

test("members' display names travel intact, whatever their characters", async () => {
  const projectId = await createProject();
  const name = "Zoë Łukasz 李雷 🎬";
  const email = `unicode.${Date.now().toString(36)}@example.com`;
  const res = await new Client(app).post("/v1/auth/signup", { email, password: "vermilion-otter-canvas-92", name });
  assert.equal(res.status, 201, res.text);
  const invite = await owner.client.post(`/v1/orgs/${orgId}/invitations`, { email, role: "editor" });
  const person = new Client(app, { token: res.body.session.token });
  assert.equal((await person.post(`/v1/invitations/${invite.body.invitation.token}/accept`)).status, 200);
  const a = await enter(projectId, owner, { label: "A" });
  const z = await connect(app, projectId, { token: res.body.session.token, label: "Z" });
  open.push(z);
  assert.equal(z.welcome.you.name, name);
  const joined = await a.waitFor((f) => f.type === "joined" && member(f.member).connection_id === z.welcome.you.connection_id);
  assert.equal(member(joined.member).name, name);
  await Promise.all([a, z].map((c) => c.close()));
});

test("revoked access reaches open sockets: removed members, downgraded roles and revoked keys stop editing (4401)", async () => {
  const projectId = await createProject();
  const leaver = await join("leaver", "editor");
  const demoted = await join("demoted", "editor");
  const keyRes = await owner.client.post(`/v1/orgs/${orgId}/api-keys`, { name: "Short-lived agent", role: "editor" });
  assert.equal(keyRes.status, 201, keyRes.text);
  const key = keyRes.body.api_key;
  const a = await enter(projectId, owner, { label: "A" });
  const l = await enter(projectId, leaver, { label: "leaver" });
  const d = await enter(projectId, demoted, { label: "demoted" });
  const k = await connect(app, projectId, { token: key.key, label: "revoked key" });
  open.push(k);
  const trackId = id("trk");
  assert.equal((await l.command(addTrack(trackId))).type, "ack", "members can edit before");

  assert.equal((await owner.client.delete(`/v1/orgs/${orgId}/members/${leaver.user.id}`)).status, 204);
  const roleChange = await owner.client.patch(`/v1/orgs/${orgId}/members/${demoted.user.id}`, { role: "viewer" });
  assert.equal(roleChange.status, 200, roleChange.text);
  assert.equal((await owner.client.delete(`/v1/orgs/${orgId}/api-keys/${key.id}`)).status, 204);
  const before = await httpState(projectId);

  // None of them can change the timeline any more over the socket they already hold, and
  // those who lost access altogether are closed with 4401.
  const failures = [];
  for (const [client, what, closes, start] of [[l, "a removed member", true, 10], [d, "a member demoted to viewer", false, 20], [k, "a revoked API key", true, 30]]) {
    const answer = await client.command(addSolid(trackId, id("clp"), start, 5));
    if (answer.type === "ack") failures.push(`${what} still edits over an open socket (acked seq ${answer.seq})`);
    if (closes) {
      // The close frame arrives at once; locally, wrangler's dev proxy ends the connection
      // about 10 s after a server-initiated close, which is when the client reports it.
      const closed = await Promise.race([client.closed, new Promise((r) => setTimeout(() => r({ code: "none (still open)" }), 15000))]);
      if (closed.code !== 4401) failures.push(`${what}: socket close code ${closed.code}, expected 4401`);
    }
  }
  const after_ = await httpState(projectId);
  if (after_.seq !== before.seq) failures.push(`the timeline moved from seq ${before.seq} to ${after_.seq}`);
  assert.deepEqual(failures, []);
  await Promise.all([a, d, l, k].map((c) => c.drop()));
});

test("deleting a project closes its sockets (4404) and the room is gone", async () => {
  const projectId = await createProject();
  const a = await enter(projectId, owner, { label: "A" });
  const b = await enter(projectId, editor, { label: "B" });
  assert.equal((await owner.client.delete(`/v1/projects/${projectId}`)).status, 204);
  for (const client of [a, b]) assert.equal((await client.closed).code, 4404);
  await assert.rejects(connect(app, projectId, { token: owner.session.token }), (e) => e instanceof UpgradeRefused && e.status === 404);
});

test("a room holds at most 128 connections", async () => {
  const projectId = await createProject();
  const clients = [];
  try {
    for (let i = 0; i < 128; i++) {
      clients.push(await connect(app, projectId, { token: editor.session.token, label: `c${i}`, replicate: false, keepEvents: false }));
    }
    await assert.rejects(connect(app, projectId, { token: editor.session.token, label: "one too many" }), (e) => {
      assert.ok(e instanceof UpgradeRefused, String(e));
      assert.equal(e.status, 429, e.body);
      assert.equal(e.json?.error?.code, "room_full");
      return true;
    });
    // Leaving frees a place.
    await clients.pop().close();
    await clients[0].sync();
    const again = await connect(app, projectId, { token: editor.session.token, label: "again", replicate: false, keepEvents: false });
    clients.push(again);
  } finally {
    await Promise.all(clients.map((c) => c.drop()));
  }
});
