// Benchmark of the real-time project room in local workerd. For 10, 50 and 100 clients in one
// room, every client sends commands at a steady pace so that the room is offered
// ROOM_BENCH_RATE commands/s in total (default 2000: the target), for ROOM_BENCH_SECONDS
// (default 6). It reports the sustained commands/s acknowledged, ack latency (p50/p99, send ->
// `ack`), broadcast fan-out latency (send -> the `applied` frame at the other clients) and
// workerd CPU per command. A second run per size keeps a window of ROOM_BENCH_WINDOW commands in
// flight per client (the next sent as soon as an ack returns) and reports the room's saturation
// throughput. Prints `bench <name>: <value> <unit>` lines; progress goes to stderr. Traffic stays
// on 127.0.0.1.
//
// CPU: workerd cannot time a Durable Object's own CPU from inside (its clock stands still while
// code runs), so the figure is the CPU time (utime + stime from /proc) of the workerd process
// hosting the Worker over the run, divided by the commands acknowledged: an upper bound on the
// object's CPU per command that also includes the runtime's socket I/O and sending each
// `applied` to every other client.
import { readdirSync, readFileSync } from "node:fs";
import WebSocket from "ws";
import { signup, startApp } from "../harness.mjs";
import { idMaker } from "../support/room-client.mjs";

const SECONDS = Number(process.env.ROOM_BENCH_SECONDS ?? 6);
const RATE = Number(process.env.ROOM_BENCH_RATE ?? 2000);
// Fan-out latency is measured at this many clients (parsing every frame at every client would
// make the benchmark's own process the bottleneck).
const OBSERVERS = 10;
const WINDOW = Number(process.env.ROOM_BENCH_WINDOW ?? 4);
const SIZES = (process.env.ROOM_BENCH_SIZES ?? "10,50,100").split(",").map(Number);
const note = (m) => process.stderr.write(`[bench room] ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** workerd processes under this one, with CPU seconds used so far. */
function workerdProcesses() {
  const ticks = 100; // USER_HZ on Linux
  const procs = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const close = stat.lastIndexOf(")");
      const fields = stat.slice(close + 2).split(" ");
      procs.set(Number(entry), { name: stat.slice(stat.indexOf("(") + 1, close), ppid: Number(fields[1]), cpu: (Number(fields[11]) + Number(fields[12])) / ticks });
    } catch {
      // gone
    }
  }
  const mine = new Set([process.pid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!mine.has(pid) && mine.has(p.ppid)) {
        mine.add(pid);
        grew = true;
      }
    }
  }
  return [...mine].filter((pid) => procs.get(pid)?.name === "workerd").map((pid) => ({ pid, cpu: procs.get(pid).cpu }));
}

function open(base, projectId, token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/v1/projects/${projectId}/room`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    ws.once("unexpected-response", (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    ws.once("error", reject);
    ws.once("message", (data) => {
      const welcome = JSON.parse(data.toString());
      if (welcome.type !== "welcome") reject(new Error(`expected welcome, got ${welcome.type}`));
      else resolve({ ws, welcome });
    });
  });
}

// Frames are scanned, not parsed: serde_json writes object keys in sorted order, so an ack is
// `{"client_seq":…,"seq":…,"type":"ack"}` and an applied frame ends `"seq":…,"type":"applied"}`,
// alone or inside a `batch`.
const ACK = /"client_seq":(\d+),"seq":(\d+),"type":"ack"/g;
const APPLIED = /"seq":(\d+),"type":"applied"/g;

async function makeRoom(app, token, clients) {
  const id = idMaker(clients % 32);
  const created = await fetch(`${app.base}/v1/orgs/${app.orgId}/projects`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: `bench ${clients}`, width: 640, height: 360, fps: 30 }),
  }).then((r) => r.json());
  const projectId = created.project.id;
  // One track and one clip per client, so that every command applies.
  const clipIds = [];
  const setup = [];
  for (let i = 0; i < clients; i++) {
    const trackId = id("trk");
    const clipId = id("clp");
    clipIds.push(clipId);
    setup.push({ type: "add_track", track: { id: trackId, kind: "video" } });
    setup.push({ type: "add_clip", track_id: trackId, clip: { id: clipId, start: 0, duration: 300, source: { type: "solid", color: { r: 10, g: 20, b: 30, a: 255 } } } });
  }
  const res = await fetch(`${app.base}/v1/projects/${projectId}/commands`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ commands: setup }),
  });
  if (res.status !== 200) throw new Error(`setup failed: ${res.status} ${await res.text()}`);
  const sockets = [];
  for (let i = 0; i < clients; i++) sockets.push(await open(app.base, projectId, token));
  await sleep(300);
  return { clipIds, sockets };
}

/**
 * Runs one measurement. `paced`: each client sends one command every `clients / RATE` seconds
 * (phases staggered), whatever the acks do; else each keeps WINDOW commands in flight.
 */
async function scenario(app, token, clients, paced) {
  const { clipIds, sockets } = await makeRoom(app, token, clients);
  const sentAt = new Map(); // seq → send time, learnt from the ack
  const receipts = []; // [seq, time] of applied frames at the observers
  const ackLatency = [];
  const trace = [];
  let running = true;
  let acked = 0;
  let rejected = 0;
  let skipped = 0;
  const perClient = new Array(clients).fill(0);
  const timers = [];

  const runs = sockets.map(({ ws }, i) => new Promise((resolve) => {
    const pending = new Map(); // client_seq → send time
    let clientSeq = 0;
    const send = () => {
      if (paced && pending.size >= 64) {
        skipped += 1; // the room is far behind: do not pile up more
        return;
      }
      clientSeq += 1;
      const frame = { type: "command", client_seq: clientSeq, command: { type: "set_clip_param", clip_id: clipIds[i], property: "opacity", value: (clientSeq % 100) / 100 } };
      pending.set(clientSeq, performance.now());
      ws.send(JSON.stringify(frame));
    };
    ws.on("message", (data) => {
      const now = performance.now();
      const text = data.toString();
      if (i < OBSERVERS) {
        for (const m of text.matchAll(APPLIED)) receipts.push(Number(m[1]), now);
      }
      if (text.includes('"type":"reject"')) {
        const { client_seq: cs } = JSON.parse(text);
        pending.delete(cs);
        rejected += 1;
      }
      for (const m of text.matchAll(ACK)) {
        const cs = Number(m[1]);
        const at = pending.get(cs);
        if (at === undefined) continue;
        pending.delete(cs);
        acked += 1;
        if (running) perClient[i] += 1;
        if (process.env.ROOM_BENCH_TRACE) trace.push([now, now - at]);
        ackLatency.push(now - at);
        sentAt.set(Number(m[2]), at);
        if (running && !paced) send();
      }
      if (!running && pending.size === 0) resolve();
    });
    if (paced) {
      const period = (clients / RATE) * 1000;
      setTimeout(() => {
        send();
        timers.push(setInterval(() => running && send(), period));
      }, (i / clients) * period);
    } else {
      for (let k = 0; k < WINDOW; k++) send();
    }
  }));

  const cpuBefore = workerdProcesses();
  const nodeBefore = process.cpuUsage();
  const started = performance.now();
  await sleep(SECONDS * 1000);
  const ackedInWindow = acked;
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = workerdProcesses();
  const nodeCpu = process.cpuUsage(nodeBefore);
  running = false;
  for (const t of timers) clearInterval(t);
  await Promise.race([Promise.all(runs), sleep(15000)]);
  await sleep(200);

  const fanout = [];
  for (let k = 0; k < receipts.length; k += 2) {
    const at = sentAt.get(receipts[k]);
    if (at !== undefined) fanout.push(receipts[k + 1] - at);
  }
  const cpu = cpuAfter.map((p) => ({ pid: p.pid, seconds: p.cpu - (cpuBefore.find((q) => q.pid === p.pid)?.cpu ?? p.cpu) }));
  if (process.env.ROOM_BENCH_TRACE) {
    // Commands acknowledged per 100 ms, and the worst ack latency in each slot (stalls show up).
    const slots = new Map();
    for (const [t, l] of trace) {
      const k = Math.floor((t - started) / 100);
      const slot = slots.get(k) ?? [0, 0];
      slot[0] += 1;
      slot[1] = Math.max(slot[1], l);
      slots.set(k, slot);
    }
    note([...slots.entries()].sort((a, b) => a[0] - b[0]).map(([k, [n, l]]) => `${k}:${n}/${l.toFixed(0)}`).join(" "));
  }
  for (const { ws } of sockets) ws.terminate();
  await sleep(300);
  const spread = [...perClient].sort((x, y) => x - y);
  note(`acks per client while running: min ${spread[0]}, median ${spread[Math.floor(clients / 2)]}, max ${spread.at(-1)}${skipped ? `; ${skipped} sends skipped (64 in flight)` : ""}`);
  return { clients, commandsPerSecond: ackedInWindow / elapsed, acked, rejected, ackLatency, fanout, cpu, ackedInWindow, elapsed, nodeSeconds: (nodeCpu.user + nodeCpu.system) / 1e6 };
}

const app = await startApp();
try {
  const owner = await signup(app, "bench");
  app.orgId = owner.org.id;
  const token = owner.session.token;
  for (const clients of SIZES) {
    const name = `room_${clients}_clients`;
    note(`${clients} clients, ${SECONDS} s, offered ${RATE} commands/s`);
    const r = await scenario(app, token, clients, true);
    const busiest = r.cpu.reduce((a, b) => (b.seconds > a.seconds ? b : a), { seconds: 0 });
    note(`${r.acked} acked, ${r.rejected} rejected, ${r.fanout.length} fan-out samples; CPU s over ${r.elapsed.toFixed(1)} s: this node ${r.nodeSeconds.toFixed(2)}, workerd ${r.cpu.map((p) => `${p.pid}=${p.seconds.toFixed(2)}`).join(" ")}`);
    console.log(`bench ${name}_cmds_per_s: ${r.commandsPerSecond.toFixed(0)} commands/s`);
    console.log(`bench ${name}_ack_p50_ms: ${percentile(r.ackLatency, 50).toFixed(1)} ms`);
    console.log(`bench ${name}_ack_p99_ms: ${percentile(r.ackLatency, 99).toFixed(1)} ms`);
    console.log(`bench ${name}_fanout_p50_ms: ${percentile(r.fanout, 50).toFixed(1)} ms`);
    console.log(`bench ${name}_fanout_p99_ms: ${percentile(r.fanout, 99).toFixed(1)} ms`);
    console.log(`bench ${name}_workerd_cpu_ms_per_cmd: ${((busiest.seconds * 1000) / Math.max(1, r.ackedInWindow)).toFixed(3)} ms`);
    note(`${clients} clients, ${SECONDS} s, window ${WINDOW} per client (saturation)`);
    const s = await scenario(app, token, clients, false);
    console.log(`bench ${name}_saturated_cmds_per_s: ${s.commandsPerSecond.toFixed(0)} commands/s`);
    console.log(`bench ${name}_saturated_ack_p99_ms: ${percentile(s.ackLatency, 99).toFixed(1)} ms`);
  }
} finally {
  await app.dispose();
}
