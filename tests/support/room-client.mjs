// A small client of the project room's WebSocket protocol (durable-objects/src/protocol.rs) for
// end-to-end tests and benchmarks: connects with a bearer token, a cookie or a ticket, resumes
// with `?since=`, matches answers to requests by client_seq, buffers every frame for
// `waitFor`, and keeps a replica of the timeline with editor-core compiled to wasm for Node.
import { createRequire } from "node:module";
import WebSocket from "ws";

const require = createRequire(import.meta.url);
let editorModule;
/** editor-core's wasm bindings for Node (built by editor-core/wasm/build.sh). */
export function wasmEditor() {
  editorModule ??= require("../../editor-core/wasm/pkg-node/editor_core_wasm.js");
  return editorModule.Editor;
}

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function canonical(value) {
  const parsed = typeof value === "string" ? JSON.parse(value) : value;
  return JSON.stringify(sortKeys(parsed));
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    const out = {};
    for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
    return out;
  }
  return value;
}

/**
 * Whether `actual` carries everything `expected` says: the server stores commands with their
 * defaults filled in (a clip's opacity, a marker's colour…), so a sent command is a subset of
 * the logged one. Numbers compare by value (1 and 1.0 are one number).
 */
export function includes(expected, actual) {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => includes(e, actual[i]));
  }
  if (expected && typeof expected === "object") {
    return !!actual && typeof actual === "object" && !Array.isArray(actual) && Object.keys(expected).every((k) => includes(expected[k], actual[k]));
  }
  return expected === actual;
}

/**
 * A copy of the timeline kept by applying the room's commands in sequence order. Every
 * inconsistency (a gap or repeat in seq, a command the server accepted but the local engine
 * refuses) is recorded in `problems`, which tests assert empty.
 */
export class Replica {
  constructor(timeline, seq) {
    this.reset(timeline, seq);
    this.problems = [];
  }

  reset(timeline, seq) {
    const Editor = wasmEditor();
    this.editor?.free?.();
    this.editor = Editor.fromJson(typeof timeline === "string" ? timeline : JSON.stringify(timeline));
    this.seq = seq;
  }

  /** Applies the command numbered `seq`; it must be the next one. */
  apply(seq, command, origin = "") {
    if (seq !== this.seq + 1) {
      this.problems.push(`${origin}: expected seq ${this.seq + 1}, got ${seq}`);
      if (seq <= this.seq) return; // a duplicate: applying it again would diverge further
    }
    const result = JSON.parse(this.editor.apply(JSON.stringify(command)));
    if (!result.ok) {
      this.problems.push(`${origin}: seq ${seq} accepted by the room but refused locally: ${result.error.code} ${result.error.message}`);
    }
    this.seq = seq;
  }

  /** The timeline as a value. */
  timeline() {
    return JSON.parse(this.editor.timelineJson());
  }

  /** The timeline as canonical JSON. */
  canonical() {
    return canonical(this.editor.timelineJson());
  }
}

/** Why a WebSocket upgrade was refused: the HTTP answer. */
export class UpgradeRefused extends Error {
  constructor(status, body) {
    super(`upgrade refused with ${status}: ${body}`);
    this.status = status;
    this.body = body;
    try {
      this.json = JSON.parse(body);
    } catch {
      this.json = undefined;
    }
  }
}

function roomUrl(app, projectId, { ticket, since, query } = {}) {
  const url = new URL(`${app.base.replace(/^http/, "ws")}/v1/projects/${projectId}/room`);
  if (ticket !== undefined) url.searchParams.set("ticket", ticket);
  if (since !== undefined && since !== null) url.searchParams.set("since", String(since));
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

/**
 * Opens a room socket and waits for `welcome`.
 * @param app startApp()'s app (or any {base})
 * @param {string} projectId
 * @param {{token?: string, cookie?: string, ticket?: string, since?: number, replica?: Replica,
 *          headers?: object, label?: string, keepReplica?: boolean, welcomeTimeout?: number,
 *          parseApplied?: boolean}} options
 */
export async function connect(app, projectId, options = {}) {
  const client = new RoomClient(app, projectId, options);
  await client.open();
  return client;
}

export class RoomClient {
  constructor(app, projectId, options = {}) {
    this.app = app;
    this.projectId = projectId;
    this.options = { ...options };
    this.label = options.label ?? "client";
    /** Every frame received on every socket of this client, in order (parsed), with `at` (ms). */
    this.events = [];
    this.waiters = [];
    this.pending = new Map();
    this.nextClientSeq = 1;
    this.replica = options.replica ?? null;
    this.problems = [];
    this.welcome = null;
    this.ws = null;
    this.closeInfo = null;
    this.sockets = 0;
    /** Frames that were not JSON. */
    this.garbage = [];
  }

  /** Opens (or re-opens) the socket; resolves with the welcome frame. */
  open(overrides = {}) {
    Object.assign(this.options, overrides);
    const { token, cookie, ticket, since, headers, query } = this.options;
    const requestHeaders = { ...(headers ?? {}) };
    if (token) requestHeaders.authorization = `Bearer ${token}`;
    if (cookie) requestHeaders.cookie = cookie;
    const url = roomUrl(this.app, this.projectId, { ticket, since, query });
    // A ticket is single use: never reuse it implicitly on the next open.
    delete this.options.ticket;
    this.closeInfo = null;
    this.welcome = null;
    const ws = new WebSocket(url, { headers: requestHeaders, perMessageDeflate: false });
    this.ws = ws;
    this.sockets += 1;
    const socketNumber = this.sockets;
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        const info = { code, reason: reason.toString() };
        if (this.ws === ws) this.closeInfo = info;
        for (const [clientSeq, entry] of this.pending) {
          if (entry.socket === socketNumber) {
            this.pending.delete(clientSeq);
            entry.resolve({ type: "disconnected", client_seq: clientSeq, close: info });
          }
        }
        resolve(info);
      });
    });
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => {
        if (settled) return;
        settled = true;
        ws.terminate();
        reject(new Error(`${this.label}: no welcome within ${this.options.welcomeTimeout ?? 15000} ms`));
      }, this.options.welcomeTimeout ?? 15000);
      ws.on("unexpected-response", (req, res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => { body += chunk; });
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          reject(new UpgradeRefused(res.statusCode, body));
        });
      });
      ws.on("error", (error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      });
      ws.on("close", (code, reason) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(new Error(`${this.label}: closed before welcome: ${code} ${reason}`));
      });
      ws.on("message", (data, isBinary) => {
        const frame = this.receive(data, isBinary, socketNumber);
        if (frame?.type === "welcome" && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve(frame);
        }
      });
    });
  }

  receive(data, isBinary, socketNumber) {
    const at = performance.now();
    let frame;
    try {
      frame = JSON.parse(isBinary ? Buffer.from(data).toString("utf8") : data.toString());
    } catch {
      this.garbage.push(String(data).slice(0, 200));
      return undefined;
    }
    // The room sends what piled up between flushes as one `batch` of frames, in order.
    if (frame.type === "batch" && Array.isArray(frame.frames)) {
      let last;
      for (const inner of frame.frames) last = this.deliver(inner, at, socketNumber);
      return last;
    }
    return this.deliver(frame, at, socketNumber);
  }

  deliver(frame, at, socketNumber) {
    Object.defineProperty(frame, "at", { value: at, enumerable: false });
    Object.defineProperty(frame, "socket", { value: socketNumber, enumerable: false });
    this.handle(frame);
    if (this.options.keepEvents !== false) this.events.push(frame);
    this.onFrame?.(frame);
    for (const waiter of [...this.waiters]) {
      if (waiter.predicate(frame)) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        clearTimeout(waiter.timer);
        waiter.resolve(frame);
      }
    }
    return frame;
  }

  handle(frame) {
    switch (frame.type) {
      case "welcome": {
        this.welcome = frame;
        if (this.options.replicate === false) break;
        if (frame.timeline !== undefined && frame.timeline !== null) {
          if (this.replica) this.replica.reset(frame.timeline, frame.seq);
          else this.replica = new Replica(frame.timeline, frame.seq);
          this.replica.problems = this.problems;
        } else if (Array.isArray(frame.missed)) {
          if (!this.replica) {
            this.problems.push("welcome with missed entries but no replica to apply them to");
            break;
          }
          for (const entry of frame.missed) this.replica.apply(entry.seq, entry.command, `${this.label} missed`);
          if (this.replica.seq !== frame.seq) {
            this.problems.push(`${this.label}: after the missed entries the replica is at ${this.replica.seq}, welcome says ${frame.seq}`);
          }
        } else {
          this.problems.push(`${this.label}: welcome has neither timeline nor missed`);
        }
        break;
      }
      case "applied":
        if (this.replica && this.options.replicate !== false) this.replica.apply(frame.seq, frame.command, `${this.label} applied`);
        break;
      case "ack":
      case "reject": {
        const entry = this.pending.get(frame.client_seq);
        if (!entry) {
          this.problems.push(`${this.label}: ${frame.type} for unknown client_seq ${frame.client_seq}`);
          break;
        }
        this.pending.delete(frame.client_seq);
        if (frame.type === "ack" && this.replica && this.options.replicate !== false) {
          if (entry.kind === "command") this.replica.apply(frame.seq, entry.command, `${this.label} ack`);
          else if (entry.kind === "undo" || entry.kind === "redo") this.replica.apply(frame.seq, frame.command, `${this.label} ${entry.kind} ack`);
        }
        Object.defineProperty(frame, "latency", { value: frame.at - entry.sentAt, enumerable: false });
        entry.resolve(frame);
        break;
      }
      default:
        break;
    }
  }

  get isOpen() {
    return this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a raw text (or a Buffer) frame. */
  sendRaw(data) {
    this.ws.send(data);
  }

  /** Sends a frame object as JSON. */
  send(frame) {
    this.ws.send(JSON.stringify(frame));
  }

  request(kind, frame, extra = {}) {
    const clientSeq = frame.client_seq ?? this.nextClientSeq++;
    const full = { ...frame, client_seq: clientSeq };
    return new Promise((resolve) => {
      if (!this.isOpen) {
        resolve({ type: "disconnected", client_seq: clientSeq });
        return;
      }
      this.pending.set(clientSeq, { kind, resolve, sentAt: performance.now(), socket: this.sockets, ...extra });
      this.ws.send(JSON.stringify(full));
    });
  }

  /** Sends a timeline command; resolves with its `ack`, `reject` or `{type:"disconnected"}`. */
  command(command, { base_seq } = {}) {
    const frame = { type: "command", command };
    if (base_seq !== undefined) frame.base_seq = base_seq;
    return this.request("command", frame, { command });
  }

  undo() { return this.request("undo", { type: "undo" }); }
  redo() { return this.request("redo", { type: "redo" }); }

  commentCreate(anchor, body, mentions) {
    const frame = { type: "comment_create", anchor, body };
    if (mentions) frame.mentions = mentions;
    return this.request("comment", frame);
  }
  commentReply(threadId, body, mentions) {
    const frame = { type: "comment_reply", thread_id: threadId, body };
    if (mentions) frame.mentions = mentions;
    return this.request("comment", frame);
  }
  commentEdit(commentId, body) { return this.request("comment", { type: "comment_edit", comment_id: commentId, body }); }
  commentDelete(commentId) { return this.request("comment", { type: "comment_delete", comment_id: commentId }); }
  threadResolve(threadId, resolved) { return this.request("comment", { type: "thread_resolve", thread_id: threadId, resolved }); }

  presence(state) { this.send({ type: "presence", ...state }); }
  follow(actor) { this.send({ type: "follow", actor }); }
  ping(id) { this.send({ type: "ping", id }); }

  /** Index of the next frame to arrive: pass as `since` to waitFor/count to look only later. */
  mark() { return this.events.length; }

  /** Frames (from index `since`) matching `predicate`. */
  frames(predicate = () => true, since = 0) {
    return this.events.slice(since).filter(predicate);
  }

  count(predicate, since = 0) {
    return this.frames(predicate, since).length;
  }

  /**
   * Resolves with the first frame (already buffered from index `since`, or arriving later)
   * that matches; rejects after `timeout` ms with the recent frames in the message.
   */
  waitFor(predicate, { timeout = 10000, since = 0 } = {}) {
    for (let i = since; i < this.events.length; i++) {
      if (predicate(this.events[i])) return Promise.resolve(this.events[i]);
    }
    return new Promise((resolve, reject) => {
      const waiter = { predicate, resolve };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        const recent = this.events.slice(-8).map((f) => JSON.stringify(f).slice(0, 300));
        reject(new Error(`${this.label}: no matching frame within ${timeout} ms (predicate ${predicate}); last frames:\n${recent.join("\n")}`));
      }, timeout);
      this.waiters.push(waiter);
    });
  }

  /** Round trip through the room: every frame the room sent before the pong has arrived. */
  async sync(timeout = 10000) {
    const id = `sync-${Math.random().toString(36).slice(2)}`;
    const since = this.mark();
    this.ping(id);
    return this.waitFor((f) => f.type === "pong" && f.id === id, { timeout, since });
  }

  /** Waits until the replica has reached `seq`. */
  async reach(seq, timeout = 15000) {
    if (this.replica && this.replica.seq >= seq) return;
    await this.waitFor(() => this.replica && this.replica.seq >= seq, { timeout, since: this.events.length });
  }

  /** Closes gracefully and waits for the close. */
  async close(code = 1000, reason = "bye") {
    if (!this.ws) return null;
    if (this.ws.readyState === WebSocket.CLOSED) return this.closeInfo;
    this.ws.close(code, reason);
    const timer = setTimeout(() => this.ws.terminate(), 3000);
    const info = await this.closed;
    clearTimeout(timer);
    return info;
  }

  /** Drops the TCP connection without a close handshake (a network failure). */
  async drop() {
    if (!this.ws) return;
    this.ws.terminate();
    await this.closed;
  }

  /** Reconnects resuming from the replica's seq (or `since`); resolves with the welcome. */
  async reconnect(overrides = {}) {
    if (this.ws && this.ws.readyState !== WebSocket.CLOSED) await this.drop();
    const since = overrides.since ?? this.replica?.seq ?? this.welcome?.seq;
    return this.open({ ...overrides, since });
  }
}

/** Ids `<prefix>_<26-char Crockford ULID>` unique per generator namespace (0–31) and counter. */
export function idMaker(namespace = 0) {
  const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  let counter = 0;
  const space = alphabet[namespace % 32];
  return (prefix) => {
    counter += 1;
    return `${prefix}_01${space}${String(counter).padStart(23, "0")}`;
  };
}
