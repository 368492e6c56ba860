// Seeded randomised convergence of the project room: five members (four people and an agent)
// send hundreds of random, often conflicting commands each, over sockets (some over HTTP), with
// random delays, undo/redo and random disconnects resumed with ?since=. In the end every
// replica, the HTTP timeline and a replay of the whole history are identical.
// ROOM_SEED=<n> reruns a seed; ROOM_COMMANDS=<n> changes the commands per client.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Client, signup, startApp } from "./harness.mjs";
import { canonical, connect, includes, wasmEditor } from "./support/room-client.mjs";
import { commandSource, rng } from "./support/room-commands.mjs";

const SEED = process.env.ROOM_SEED ? Number(process.env.ROOM_SEED) : Math.floor(Math.random() * 2 ** 31);
const PER_CLIENT = Number(process.env.ROOM_COMMANDS ?? 300);
console.log(`room-convergence seed: ${SEED} (rerun with ROOM_SEED=${SEED})`);

let app;
let owner;
const people = [];
let agentKey;
before(async () => {
  app = await startApp();
  owner = await signup(app, "owner");
  people.push(owner);
  for (const label of ["ed1", "ed2", "ed3"]) {
    const person = await signup(app, label);
    const invite = await owner.client.post(`/v1/orgs/${owner.org.id}/invitations`, { email: person.email, role: "editor" });
    assert.equal(invite.status, 201, invite.text);
    assert.equal((await person.client.post(`/v1/invitations/${invite.body.invitation.token}/accept`)).status, 200);
    people.push(person);
  }
  const key = await owner.client.post(`/v1/orgs/${owner.org.id}/api-keys`, { name: "agent", role: "editor" });
  assert.equal(key.status, 201, key.text);
  agentKey = key.body.api_key;
});
after(async () => { await app?.dispose(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function fullHistory(client, projectId) {
  const items = [];
  let after = 0;
  for (;;) {
    const res = await client.get(`/v1/projects/${projectId}/history?after_seq=${after}&limit=1000`);
    assert.equal(res.status, 200, res.text);
    items.push(...res.body.items);
    if (!res.body.next_cursor) return items;
    after = res.body.next_cursor;
  }
}

test(`random concurrent edits with disconnects converge (seed ${SEED})`, { timeout: 240_000 }, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const random = rng(SEED);
  const created = await owner.client.post(`/v1/orgs/${owner.org.id}/projects`, { name: "Convergence", width: 640, height: 360, fps: 30 });
  assert.equal(created.status, 201, created.text);
  const projectId = created.body.project.id;
  const initial = (await owner.client.get(`/v1/projects/${projectId}`)).body;
  assert.equal(initial.seq, 0);

  const identities = [
    ...people.map((p) => ({ token: p.session.token, actor: { type: "user", id: p.user.id } })),
    { token: agentKey.key, actor: { type: "api_key", id: agentKey.id } },
  ];
  const clients = [];
  for (const [index, who] of identities.entries()) {
    const client = await connect(app, projectId, { token: who.token, label: `client${index}` });
    clients.push({
      index,
      who,
      http: new Client(app, { token: who.token }),
      socket: client,
      random: rng(SEED * 31 + index + 1),
      source: null,
      acked: [], // {seq, command}
      rejected: 0,
      disconnects: 0,
      lost: 0, // commands whose answer was lost with the connection
      httpSent: 0,
    });
  }
  for (const c of clients) c.source = commandSource(c.random, c.index + 1);

  async function run(c) {
    const inFlight = new Set();
    for (let i = 0; i < PER_CLIENT; i++) {
      const r = c.random;
      if (r.chance(0.015)) {
        // A network failure (with commands in flight, whose answers are lost) or a clean
        // close, some time offline, then a resume.
        if (r.chance(0.5)) await c.socket.drop();
        else {
          await Promise.all(inFlight);
          await c.socket.close();
        }
        c.disconnects += 1;
        await sleep(r.int(0, 150));
        await c.socket.reconnect();
      }
      const view = c.socket.replica.timeline();
      const kind = r.weighted({ command: 90, undo: 3, redo: 2, http: 5 });
      let promise;
      if (kind === "http") {
        const command = c.source.next(view);
        c.httpSent += 1;
        promise = c.http.post(`/v1/projects/${projectId}/commands`, { commands: [command], base_seq: c.socket.replica.seq }).then((res) => {
          if (res.status === 200) c.acked.push({ seq: res.body.seq, command, via: "http" });
          else if (res.status === 409 || res.status === 422) c.rejected += 1;
          else throw new Error(`HTTP commands answered ${res.status}: ${res.text}`);
        });
      } else {
        const command = kind === "command" ? c.source.next(view) : null;
        const sent = kind === "command" ? c.socket.command(command, { base_seq: c.socket.replica.seq }) : kind === "undo" ? c.socket.undo() : c.socket.redo();
        promise = sent.then((answer) => {
          if (answer.type === "ack") c.acked.push({ seq: answer.seq, command: command ?? answer.command, via: kind });
          else if (answer.type === "reject") {
            assert.equal(typeof answer.error.code, "string");
            c.rejected += 1;
          } else if (answer.type === "disconnected") c.lost += 1;
          else throw new Error(`unexpected answer ${JSON.stringify(answer)}`);
        });
      }
      const tracked = promise.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
      // Up to three in flight; random pauses between sends.
      if (inFlight.size >= r.int(1, 3)) await Promise.race(inFlight);
      const pause = r.weighted({ 0: 5, 1: 3, 5: 2, 20: 1 });
      if (Number(pause) > 0) await sleep(r.int(0, Number(pause)));
    }
    await Promise.all(inFlight);
  }

  const started = Date.now();
  await Promise.all(clients.map(run));
  const elapsed = (Date.now() - started) / 1000;

  // Everyone catches up.
  const state = (await owner.client.get(`/v1/projects/${projectId}`)).body;
  for (const c of clients) {
    await c.socket.reach(state.seq);
    await c.socket.sync();
  }
  const final = (await owner.client.get(`/v1/projects/${projectId}`)).body;
  assert.equal(final.seq, state.seq, "quiet room");
  const expected = canonical(final.timeline);

  const totals = clients.map((c) => `client${c.index}: ${c.acked.length} acked, ${c.rejected} rejected, ${c.lost} lost, ${c.disconnects} disconnects`);
  t.diagnostic(`${final.seq} commands applied in ${elapsed.toFixed(1)} s; ${totals.join("; ")}`);

  for (const c of clients) {
    assert.deepEqual(c.socket.problems, [], `client${c.index}: replica problems`);
    assert.equal(c.socket.replica.seq, final.seq);
    assert.equal(c.socket.replica.canonical(), expected, `client${c.index}'s replica equals the HTTP timeline`);
  }

  // The history replayed onto the initial timeline gives the same timeline.
  const history = await fullHistory(owner.client, projectId);
  assert.deepEqual(history.map((h) => h.seq), Array.from({ length: final.seq }, (_, i) => i + 1), "history has no gaps");
  const Editor = wasmEditor();
  const replay = Editor.fromJson(JSON.stringify(initial.timeline));
  for (const item of history) {
    const result = JSON.parse(replay.apply(JSON.stringify(item.command)));
    assert.ok(result.ok, `history seq ${item.seq} replays: ${JSON.stringify(result.error)}`);
  }
  assert.equal(canonical(replay.timelineJson()), expected, "a replay of the history equals the timeline");

  // Every acknowledged command is in the history at its seq, by its actor; no seq twice.
  const bySeq = new Map(history.map((h) => [h.seq, h]));
  const allAcked = [];
  for (const c of clients) {
    for (const { seq, command } of c.acked) {
      const item = bySeq.get(seq);
      assert.ok(item, `acked seq ${seq} is in the history`);
      assert.deepEqual(item.actor, c.who.actor, `seq ${seq} is client${c.index}'s`);
      assert.ok(includes(command, item.command), `seq ${seq} is the acked command: sent ${JSON.stringify(command)}, logged ${JSON.stringify(item.command)}`);
      allAcked.push(seq);
    }
  }
  assert.equal(new Set(allAcked).size, allAcked.length, "each seq acknowledged once");
  // Answers lost with a connection may or may not have been applied; all others were acked.
  const lost = clients.reduce((n, c) => n + c.lost, 0);
  assert.ok(allAcked.length <= final.seq && final.seq <= allAcked.length + lost, `${allAcked.length} acked + ${lost} lost vs ${final.seq} applied`);

  // The mix really was concurrent and conflicting.
  assert.ok(clients.every((c) => c.acked.length > PER_CLIENT / 5), "every client got edits in");
  assert.ok(clients.reduce((n, c) => n + c.rejected, 0) > 0, "some commands conflicted");
  assert.ok(clients.reduce((n, c) => n + c.disconnects, 0) > 0, "some clients reconnected");

  await Promise.all(clients.map((c) => c.socket.close()));
});
