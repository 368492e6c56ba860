// Durability of the project room: commands acknowledged over the WebSocket (and over HTTP)
// survive the local runtime being killed with SIGKILL mid-stream. Runs `wrangler dev` as a child
// process on a temporary state folder, streams commands (single commands, atomic `batch`
// commands, multi-command HTTP requests), SIGKILLs workerd while commands are in flight,
// restarts on the same state and checks the history and the timeline.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { Client, migrate, root, signup } from "./harness.mjs";
import { canonical, connect, idMaker, includes, Replica, wasmEditor } from "./support/room-client.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Pids of every descendant of `pid` (from /proc), with their command names. */
function descendants(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const name = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push({ pid: Number(entry), name });
    } catch {
      // the process ended meanwhile
    }
  }
  const out = [];
  const queue = [pid];
  while (queue.length) {
    for (const child of children.get(queue.shift()) ?? []) {
      out.push(child);
      queue.push(child.pid);
    }
  }
  return out;
}

/** `wrangler dev` on a state folder, in its own process group. */
async function startDev(persist) {
  const port = await freePort();
  const log = [];
  const child = spawn(
    path.join(root, "node_modules", ".bin", "wrangler"),
    ["dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", persist, "--show-interactive-dev-session=false", "--log-level", "warn"],
    { cwd: root, env: { ...process.env, CREATOR_OS_SKIP_BUILD: "1", CI: "true" }, detached: true, stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout.on("data", (d) => log.push(d.toString()));
  child.stderr.on("data", (d) => log.push(d.toString()));
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const base = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited: ${log.join("")}`);
    try {
      const res = await fetch(`${base}/v1/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (attempt > 240) throw new Error(`wrangler dev did not start: ${log.join("")}`);
    await sleep(250);
  }
  return {
    base,
    origin: base,
    child,
    log,
    fetch: (p, init) => fetch(base + p, init),
    /** SIGKILLs workerd (the runtime holding the Durable Object), then the whole group. */
    async crash() {
      const runtimes = descendants(child.pid).filter((p) => p.name === "workerd");
      assert.ok(runtimes.length > 0, "workerd runs under wrangler dev");
      for (const p of runtimes) process.kill(p.pid, "SIGKILL");
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
      await exited;
      return runtimes.length;
    },
    async stop() {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try { process.kill(-child.pid, "SIGKILL"); } catch { /* gone */ }
      }, 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

let persist;
let dev;
after(async () => {
  await dev?.stop();
  if (persist) await rm(persist, { recursive: true, force: true });
});

test("acknowledged commands survive SIGKILL of the runtime; batches are all or nothing", { timeout: 240_000 }, async (t) => {
  persist = await mkdtemp(path.join(tmpdir(), "creator-os-durability-"));
  await migrate(persist);
  dev = await startDev(persist);

  const owner = await signup(dev, "owner");
  const http = owner.client;
  const created = await http.post(`/v1/orgs/${owner.org.id}/projects`, { name: "Durable", width: 320, height: 180, fps: 30 });
  assert.equal(created.status, 201, created.text);
  const projectId = created.body.project.id;
  const initial = (await http.get(`/v1/projects/${projectId}`)).body.timeline;

  const id = idMaker(7);
  const trackId = id("trk");
  const first = await http.post(`/v1/projects/${projectId}/commands`, { commands: [{ type: "add_track", track: { id: trackId, kind: "video" } }] });
  assert.equal(first.status, 200, first.text);

  // Everything sent, with what was acknowledged: {kind: "single"|"batch"|"http", markers, commands, seqs?}
  const sent = [];
  const marker = (frame) => ({ type: "add_marker", marker: { id: id("mrk"), frame, label: "durable" } });
  let frame = 0;

  /** Streams commands over a socket (single and batch) and over HTTP until the runtime dies. */
  function stream(socket, state) {
    async function overSocket() {
      const inFlight = new Set();
      while (!state.stop && socket.isOpen) {
        const batch = frame % 3 === 0;
        const commands = batch ? [marker(frame), marker(frame + 1), marker(frame + 2)] : [marker(frame)];
        frame += 3;
        const entry = { kind: batch ? "batch" : "single", markers: commands.map((c) => c.marker.id), commands };
        sent.push(entry);
        const p = socket.command(batch ? { type: "batch", commands } : commands[0]).then((answer) => {
          entry.answer = answer.type;
          if (answer.type === "ack") {
            entry.seqs = [answer.seq];
            state.acked += 1;
          }
        });
        const tracked = p.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        if (inFlight.size >= 8) await Promise.race(inFlight);
        await sleep(0); // a macrotask turn: answers that settle at once must not starve the loop
      }
      await Promise.all(inFlight);
    }
    async function overHttp() {
      while (!state.stop) {
        const commands = [marker(100_000 + frame), marker(100_001 + frame)];
        frame += 3;
        const entry = { kind: "http", markers: commands.map((c) => c.marker.id), commands };
        sent.push(entry);
        try {
          const res = await http.post(`/v1/projects/${projectId}/commands`, { commands });
          entry.answer = res.status;
          if (res.status === 200) {
            entry.seqs = res.body.results.map((r) => r.seq);
            state.acked += 1;
          }
        } catch (error) {
          entry.answer = String(error);
          return; // the runtime is gone
        }
      }
    }
    return Promise.all([overSocket(), overHttp()]);
  }

  /** After a restart: every acknowledged request is in the history and whole in the timeline. */
  async function verify(label) {
    const client = new Client(dev, { token: owner.session.token });
    const state = await client.get(`/v1/projects/${projectId}`);
    assert.equal(state.status, 200, state.text);
    const history = [];
    for (let cursor = 0; ;) {
      const page = await client.get(`/v1/projects/${projectId}/history?after_seq=${cursor}&limit=1000`);
      assert.equal(page.status, 200, page.text);
      history.push(...page.body.items);
      if (!page.body.next_cursor) break;
      cursor = page.body.next_cursor;
    }
    assert.deepEqual(history.map((h) => h.seq), Array.from({ length: state.body.seq }, (_, i) => i + 1), `${label}: a gap-free history up to the room's seq`);
    const bySeq = new Map(history.map((h) => [h.seq, h]));
    for (const entry of sent.filter((e) => e.seqs)) {
      if (entry.kind === "http") {
        entry.seqs.forEach((seq, i) => assert.ok(includes(entry.commands[i], bySeq.get(seq)?.command), `${label}: HTTP seq ${seq} survived`));
      } else {
        const expected = entry.kind === "batch" ? { type: "batch", commands: entry.commands } : entry.commands[0];
        assert.ok(includes(expected, bySeq.get(entry.seqs[0])?.command), `${label}: socket seq ${entry.seqs[0]} survived`);
      }
    }
    // The timeline is the replay of the history; every request is all or nothing in it.
    const replay = wasmEditor().fromJson(JSON.stringify(initial));
    for (const item of history) assert.ok(JSON.parse(replay.apply(JSON.stringify(item.command))).ok, `${label}: seq ${item.seq} replays`);
    assert.equal(canonical(replay.timelineJson()), canonical(state.body.timeline), `${label}: the timeline is the replay of the history`);
    const present = new Set(state.body.timeline.markers.map((m) => m.id));
    let unanswered = 0;
    let appliedUnanswered = 0;
    for (const entry of sent) {
      const count = entry.markers.filter((m) => present.has(m)).length;
      assert.ok(count === 0 || count === entry.markers.length, `${label}: ${entry.kind} request ${entry.markers[0]} is all or nothing (${count}/${entry.markers.length})`);
      if (entry.seqs) assert.equal(count, entry.markers.length, `${label}: acknowledged ${entry.kind} ${entry.markers[0]} is whole`);
      else {
        unanswered += 1;
        if (count) appliedUnanswered += 1;
      }
    }
    return { state: state.body, unanswered, appliedUnanswered };
  }

  // Three crashes at different points of the log (snapshots are written every 100 commands).
  for (const [cycle, threshold] of [150, 70, 190].entries()) {
    const socket = await connect(dev, projectId, { token: owner.session.token, label: `streamer ${cycle}` });
    const state = { stop: false, acked: 0 };
    const streams = stream(socket, state);
    while (state.acked < threshold) await sleep(2);
    const killed = await dev.crash();
    state.stop = true;
    await socket.closed;
    await streams;
    const inFlight = sent.filter((e) => !e.seqs && e.answer !== 200 && e.answer !== "ack").length;
    dev = await startDev(persist);
    const { state: after, unanswered, appliedUnanswered } = await verify(`crash ${cycle + 1}`);
    t.diagnostic(`crash ${cycle + 1}: SIGKILLed ${killed} workerd process(es) after ${state.acked} acknowledged requests this round; ${sent.filter((e) => e.seqs).length} acknowledged in all, all present; ${unanswered} unanswered (${appliedUnanswered} applied without an answer); room at seq ${after.seq}`);
    assert.ok(inFlight > 0, "the crash hit requests in flight");
  }

  // The room works again: a resume from 0 replays the whole log; a fresh join can edit.
  const final = await verify("final");
  const again = await connect(dev, projectId, { token: owner.session.token, label: "resume", since: 0, replica: new Replica(initial, 0) });
  assert.equal(again.welcome.seq, final.state.seq);
  assert.equal(again.welcome.missed.length, final.state.seq, "resuming from 0 replays the whole log");
  assert.deepEqual(again.problems, []);
  assert.equal(again.replica.canonical(), canonical(final.state.timeline));
  const fresh = await connect(dev, projectId, { token: owner.session.token, label: "fresh" });
  assert.equal(fresh.replica.canonical(), canonical(final.state.timeline));
  const next = await fresh.command(marker(999_999));
  assert.equal(next.type, "ack");
  assert.equal(next.seq, final.state.seq + 1);
  await again.reach(next.seq);
  assert.deepEqual(again.problems, []);
  await again.close();
  await fresh.close();
});

test("a project larger than one 2 MB storage value is stored in chunks and survives a restart", { timeout: 240_000 }, async (t) => {
  // Runs on the runtime the previous test left (or a fresh one when run alone).
  if (!dev) {
    persist = await mkdtemp(path.join(tmpdir(), "creator-os-durability-"));
    await migrate(persist);
    dev = await startDev(persist);
  }
  const owner = await signup(dev, "big");
  const http = owner.client;
  const created = await http.post(`/v1/orgs/${owner.org.id}/projects`, { name: "Big", width: 320, height: 180, fps: 30 });
  assert.equal(created.status, 201, created.text);
  const projectId = created.body.project.id;
  const id = idMaker(11);
  const trackId = id("trk");
  const track = await http.post(`/v1/projects/${projectId}/commands`, { commands: [{ type: "add_track", track: { id: trackId, kind: "text" } }] });
  assert.equal(track.status, 200, track.text);

  // Text clips of ~28 KB each (two per request keep the body under the 64 KiB limit) until the
  // timeline's JSON passes 2.5 MB: more than one storage value can hold. Enough commands to
  // cross snapshots (every 100) too.
  let size = 0;
  let clips = 0;
  while (size < 2.5 * 1024 * 1024) {
    const commands = [0, 1].map((k) => ({
      type: "add_clip",
      track_id: trackId,
      clip: { id: id("clp"), start: (clips + k) * 10, duration: 10, source: { type: "text", text: `${clips + k} `.padEnd(28_000, "abcdefghij "), font_size: 24, color: { r: 255, g: 255, b: 255, a: 255 } } },
    }));
    const res = await http.post(`/v1/projects/${projectId}/commands`, { commands });
    assert.equal(res.status, 200, res.text);
    clips += 2;
    if (clips % 20 === 0 || size === 0) size = (await http.get(`/v1/projects/${projectId}`)).text.length;
  }
  // Commands past the last snapshot as well, so a load is snapshot + replay.
  for (let k = 0; k < 30; k++) {
    const res = await http.post(`/v1/projects/${projectId}/commands`, { commands: [{ type: "add_marker", marker: { id: id("mrk"), frame: k, label: "after" } }] });
    assert.equal(res.status, 200, res.text);
  }
  const before = await http.get(`/v1/projects/${projectId}`);
  assert.equal(before.status, 200);
  assert.ok(before.text.length > 2.5 * 1024 * 1024, `the project is ${before.text.length} bytes`);
  assert.equal(before.body.timeline.tracks[0].clips.length, clips);

  await dev.stop();
  dev = await startDev(persist);
  const client = new Client(dev, { token: owner.session.token });
  const after = await client.get(`/v1/projects/${projectId}`);
  assert.equal(after.status, 200, after.text.slice(0, 300));
  assert.equal(after.body.seq, before.body.seq);
  assert.equal(canonical(after.body.timeline), canonical(before.body.timeline), "the whole timeline came back from storage");
  // The room serves it to a fresh join; the undo history came back from storage too: the
  // owner's undo removes the last marker added before the restart, redo puts it back.
  const socket = await connect(dev, projectId, { token: owner.session.token, label: "big" });
  assert.equal(socket.replica.canonical(), canonical(before.body.timeline));
  const lastMarker = before.body.timeline.markers.at(-1);
  const undo = await socket.undo();
  assert.equal(undo.type, "ack", JSON.stringify(undo));
  assert.equal(undo.seq, before.body.seq + 1);
  assert.ok(!socket.replica.timeline().markers.some((m) => m.id === lastMarker.id), "undo after the restart removed the marker");
  const redo = await socket.redo();
  assert.equal(redo.type, "ack", JSON.stringify(redo));
  assert.ok(socket.replica.timeline().markers.some((m) => m.id === lastMarker.id), "redo put it back");
  const next = await socket.command({ type: "add_marker", marker: { id: id("mrk"), frame: 99, label: "still editing" } });
  assert.equal(next.type, "ack");
  assert.equal(next.seq, before.body.seq + 3);
  await socket.close();
  t.diagnostic(`${clips} clips, ${(before.text.length / 1048576).toFixed(2)} MiB of timeline JSON, seq ${before.body.seq}`);
});
