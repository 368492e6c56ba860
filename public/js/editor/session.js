// The editor's connection to its project room (durable-objects/src/protocol.rs) and the two
// copies of the timeline it keeps in editor-core (wasm):
//
//   confirmed = the server's timeline at `seq`: only commands the room ordered are applied to it.
//   view      = confirmed + this editor's commands still in flight (optimistic), what is shown.
//
// A local edit is applied to `view` at once and sent; its `ack` applies it to `confirmed`.
// Others' `applied` commands go to `confirmed` and `view` is rebuilt by re-applying the
// pending commands on top (a rebase). A `reject` drops the command, rebuilds the view and
// checks `confirmed` against the server's timeline; any inconsistency (a gap in seq, a command
// the room accepted that the local engine refuses) resynchronises from the server. A lost
// socket reconnects with `?since=<seq>` and replays what was missed; heartbeats make sure a
// dead connection is noticed within seconds.
import { api, post, get } from "../api.js";

const HEARTBEAT_MS = 10_000;
const PONG_TIMEOUT_MS = 6_000;
const WELCOME_TIMEOUT_MS = 10_000;
const PRESENCE_INTERVAL_MS = 50;

/** JSON with object keys sorted at every level, for comparing timelines. */
export function canonical(value) {
  const sort = (v) => {
    if (Array.isArray(v)) return v.map(sort);
    if (v && typeof v === "object") {
      const out = {};
      for (const key of Object.keys(v).sort()) out[key] = sort(v[key]);
      return out;
    }
    return v;
  };
  return JSON.stringify(sort(typeof value === "string" ? JSON.parse(value) : value));
}

/** Whether a sent command is carried by a logged one (the log fills in defaults). */
function includes(expected, actual) {
  if (Array.isArray(expected)) {
    return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => includes(e, actual[i]));
  }
  if (expected && typeof expected === "object") {
    return !!actual && typeof actual === "object" && Object.keys(expected).every((k) => includes(expected[k], actual[k]));
  }
  return expected === actual;
}

const COMMAND_WORDS = {
  clip_overlap: "Clips can't overlap on this track.",
  incompatible_track: "That kind of clip can't go on this track.",
  track_locked: "This track is locked. Unlock it to edit.",
  invalid_trim: "A clip must stay at least one frame long.",
  split_out_of_range: "Move the playhead inside the clip to split it.",
  keyframe_conflict: "There is already a keyframe at this frame.",
  clip_not_found: "That clip was removed by someone else.",
  undo_conflict: "Later edits by others prevent undoing this step.",
  nothing_to_undo: "Nothing to undo.",
  nothing_to_redo: "Nothing to redo.",
  forbidden: "You can view this project but not edit it.",
  read_only: "You can view this project but not edit it.",
};

/** Words for a command refusal. */
export function commandMessage(error) {
  if (!error) return "That edit didn't work.";
  const code = error.reason ?? error.code;
  if (COMMAND_WORDS[code]) return COMMAND_WORDS[code];
  const message = String(error.message ?? "That edit didn't work.").replace(/^command \d+: /, "");
  return message.charAt(0).toUpperCase() + message.slice(1);
}

export class ProjectSession extends EventTarget {
  /**
   * @param {{projectId: string, Editor: any, view: any}} options `view` is the editor-core
   *   instance the preview renders (it keeps the decoded images).
   */
  constructor({ projectId, Editor, view }) {
    super();
    this.projectId = projectId;
    this.Editor = Editor;
    this.view = view;
    this.confirmed = null;
    this.seq = 0;
    /** In-flight requests, oldest first: `{kind, clientSeq, command?, sent}`. */
    this.pending = [];
    this.nextClientSeq = 1;
    this.members = new Map();
    this.you = null;
    this.canWrite = true;
    this.ws = null;
    this.status = "connecting";
    this.closedForGood = false;
    this.attempt = 0;
    this.presenceState = {};
    this.presenceTimer = null;
    this.lastPresenceSent = 0;
    this.connects = 0;
    this.onOnline = () => this.reconnectSoon(0);
    window.addEventListener("online", this.onOnline);
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  setStatus(status, message = "") {
    this.status = status;
    this.emit("status", { status, message });
  }

  /** Opens the room; resolves after the first welcome. */
  async start() {
    const first = new Promise((resolve, reject) => {
      this.firstWelcome = { resolve, reject };
    });
    this.connect();
    return first;
  }

  /** Closes the room for good. */
  stop() {
    this.closedForGood = true;
    window.removeEventListener("online", this.onOnline);
    clearTimeout(this.retryTimer);
    clearInterval(this.heartbeat);
    clearTimeout(this.presenceTimer);
    try {
      this.ws?.close(1000, "left");
    } catch {
      // already closed
    }
    this.confirmed?.free?.();
  }

  async connect({ fresh = false } = {}) {
    // One attempt at a time: a retry timer and the browser coming back online may both ask.
    if (this.closedForGood || this.connecting) return;
    clearTimeout(this.retryTimer);
    this.setStatus(this.connects ? "reconnecting" : "connecting", this.connects ? "Reconnecting…" : "Connecting…");
    let ticket;
    this.connecting = true;
    try {
      ({ ticket } = await post(`/v1/projects/${this.projectId}/room-ticket`));
    } catch (error) {
      this.connecting = false;
      if (error.status === 401 || error.status === 403 || error.status === 404) {
        this.fail(error.message);
        return;
      }
      this.scheduleRetry(error.message);
      return;
    }
    this.connecting = false;
    if (this.closedForGood || this.ws) return;
    const url = new URL(`/v1/projects/${this.projectId}/room`, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("ticket", ticket);
    const resuming = !fresh && !this.wantFresh && this.confirmed !== null;
    this.wantFresh = false;
    if (resuming) url.searchParams.set("since", String(this.seq));
    this.resumeFrom = resuming ? this.seq : null;
    const ws = new WebSocket(url);
    this.ws = ws;
    this.welcomed = false;
    this.connects += 1;
    let welcomed = false;
    const welcomeTimer = setTimeout(() => {
      if (!welcomed) ws.close(4000, "no welcome");
    }, WELCOME_TIMEOUT_MS);
    ws.onmessage = (event) => {
      if (this.ws !== ws) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "welcome") {
        welcomed = true;
        clearTimeout(welcomeTimer);
      }
      // Acks and applied frames made together arrive as one batch, in order.
      if (frame.type === "batch" && Array.isArray(frame.frames)) {
        for (const inner of frame.frames) this.receive(inner);
        return;
      }
      this.receive(frame);
    };
    ws.onclose = (event) => {
      clearTimeout(welcomeTimer);
      if (this.ws !== ws) return;
      this.ws = null;
      this.welcomed = false;
      clearInterval(this.heartbeat);
      for (const entry of this.pending) entry.sent = false;
      if (this.closedForGood) return;
      if (event.code === 4401) {
        this.fail("Your access to this project was removed.");
        return;
      }
      if (event.code === 4404) {
        this.fail("This project was deleted.");
        return;
      }
      this.scheduleRetry(welcomed ? "Connection lost. Reconnecting…" : "Couldn't connect. Retrying…");
    };
  }

  fail(message) {
    this.closedForGood = true;
    this.canWrite = false;
    this.setStatus("closed", message);
    this.firstWelcome?.reject(new Error(message));
    this.firstWelcome = null;
  }

  scheduleRetry(message) {
    if (this.closedForGood) return;
    this.setStatus("offline", message);
    const delay = Math.min(10_000, 400 * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.reconnectSoon(delay);
  }

  reconnectSoon(delay) {
    if (this.closedForGood || this.ws) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /** Drops the socket as a network failure would (it reconnects and resumes on its own). */
  drop() {
    this.ws?.close(4000, "dropped");
  }

  /** Forgets everything in flight and reloads the server's timeline. */
  resync(reason) {
    const lost = this.pending.filter((e) => e.kind === "command").length;
    this.pending = [];
    if (lost) this.emit("notice", { kind: "error", message: `${reason} ${lost} unsaved edit${lost > 1 ? "s were" : " was"} reverted.` });
    const ws = this.ws;
    this.ws = null;
    this.welcomed = false;
    this.wantFresh = true;
    clearInterval(this.heartbeat);
    try {
      ws?.close(4000, "resync");
    } catch {
      // already closed
    }
    this.connect({ fresh: true });
  }

  startHeartbeat() {
    clearInterval(this.heartbeat);
    this.heartbeat = setInterval(() => {
      const ws = this.ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      const id = `hb-${Date.now()}`;
      this.awaitingPong = id;
      ws.send(JSON.stringify({ type: "ping", id }));
      setTimeout(() => {
        if (this.awaitingPong === id && this.ws === ws) ws.close(4000, "heartbeat lost");
      }, PONG_TIMEOUT_MS);
    }, HEARTBEAT_MS);
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  sendEntry(entry) {
    if (entry.sent || !this.welcomed) return;
    const frame = entry.kind === "command"
      ? { type: "command", client_seq: entry.clientSeq, base_seq: this.seq, command: entry.command }
      : entry.kind === "comment"
        ? { ...entry.frame, client_seq: entry.clientSeq }
        : { type: entry.kind, client_seq: entry.clientSeq };
    entry.sent = this.send(frame);
    // Once sent, the room may have applied it even if the answer never comes back.
    if (entry.sent) entry.wasSent = true;
  }

  /** The timeline shown (confirmed + pending) as a value. */
  timeline() {
    return JSON.parse(this.view.timelineJson());
  }

  rebuildView() {
    this.view.loadTimeline(this.confirmed.timelineJson());
    for (const entry of this.pending) {
      if (entry.kind !== "command") continue;
      const result = JSON.parse(this.view.apply(JSON.stringify(entry.command)));
      // A pending command that no longer fits will be refused by the room too.
      entry.conflicted = !result.ok;
    }
  }

  /**
   * Applies an edit optimistically and sends it. Returns `{ok:true}` or `{ok:false, message}`
   * (refused locally: nothing changed, nothing sent).
   */
  edit(command) {
    if (!this.canWrite) return { ok: false, message: COMMAND_WORDS.read_only };
    const result = JSON.parse(this.view.apply(JSON.stringify(command)));
    if (!result.ok) return { ok: false, message: commandMessage(result.error), error: result.error };
    const entry = { kind: "command", clientSeq: this.nextClientSeq++, command, sent: false };
    this.pending.push(entry);
    this.sendEntry(entry);
    this.emit("timeline", { local: true });
    return { ok: true };
  }

  /** Undo (or redo) this editor's most recent change, through the room's per-member history. */
  history(kind) {
    if (!this.canWrite) return { ok: false, message: COMMAND_WORDS.read_only };
    if (!this.welcomed || !this.ws) return { ok: false, message: "Reconnecting — try again in a moment." };
    const entry = { kind, clientSeq: this.nextClientSeq++, sent: false };
    this.pending.push(entry);
    this.sendEntry(entry);
    return { ok: true };
  }

  /** Sends a comment operation; resolves with the thread (or rejects with a message). */
  comment(frame) {
    return new Promise((resolve, reject) => {
      if (!this.welcomed || !this.ws) {
        reject(new Error("Reconnecting — try again in a moment."));
        return;
      }
      const entry = { kind: "comment", clientSeq: this.nextClientSeq++, frame, sent: false, resolve, reject };
      this.pending.push(entry);
      this.sendEntry(entry);
    });
  }

  /** Merges awareness state and sends it (at most every 50 ms). */
  presence(state) {
    Object.assign(this.presenceState, state);
    this.dirtyPresence = { ...(this.dirtyPresence ?? {}), ...state };
    const wait = PRESENCE_INTERVAL_MS - (performance.now() - this.lastPresenceSent);
    if (wait <= 0) this.flushPresence();
    else if (!this.presenceTimer) this.presenceTimer = setTimeout(() => this.flushPresence(), wait);
  }

  flushPresence() {
    clearTimeout(this.presenceTimer);
    this.presenceTimer = null;
    if (!this.dirtyPresence) return;
    if (this.send({ type: "presence", ...this.dirtyPresence })) {
      this.dirtyPresence = null;
      this.lastPresenceSent = performance.now();
    }
  }

  /** Follows a member by actor id (null stops). */
  follow(actorId) {
    this.following = actorId;
    this.send({ type: "follow", actor: actorId });
    this.emit("members");
  }

  receive(frame) {
    switch (frame.type) {
      case "welcome":
        return this.onWelcome(frame);
      case "ack":
      case "reject":
        return this.onAnswer(frame);
      case "applied":
        return this.onApplied(frame);
      case "presence": {
        const member = this.members.get(frame.connection_id);
        if (member) {
          // The room sends the member's whole awareness state each time.
          member.presence = frame.presence && typeof frame.presence === "object" ? frame.presence : {};
          this.emit("presence", { member });
        }
        return;
      }
      case "joined":
        this.members.set(frame.member.connection_id, { member: frame.member, presence: {}, following: null });
        this.emit("members");
        return;
      case "left":
        this.members.delete(frame.connection_id);
        this.emit("members");
        return;
      case "follow": {
        const member = this.members.get(frame.connection_id);
        if (member) member.following = frame.target ?? null;
        this.emit("members");
        return;
      }
      case "thread":
        this.emit("thread", frame.thread);
        return;
      case "job":
        this.emit("job", frame.job);
        return;
      case "access":
        this.canWrite = !!frame.can_write;
        if (this.you) this.you.role = frame.role;
        this.emit("access", { role: frame.role, canWrite: this.canWrite });
        return;
      case "error":
        console.warn("room error", frame.error);
        return;
      case "pong":
        if (frame.id === this.awaitingPong) this.awaitingPong = null;
        return;
      default:
    }
  }

  onWelcome(frame) {
    /** How the last connection started: resumed from a seq (`missed`) or a full `timeline`. */
    this.lastWelcome = { since: this.resumeFrom, kind: frame.timeline ? "timeline" : "missed" };
    this.you = frame.you;
    this.canWrite = frame.you?.can_write !== false;
    this.members = new Map();
    for (const entry of frame.members ?? []) this.members.set(entry.member.connection_id, { ...entry, presence: entry.presence ?? {} });
    if (frame.timeline) {
      if (!this.confirmed) this.confirmed = this.Editor.fromJson(JSON.stringify(frame.timeline));
      else this.confirmed.loadTimeline(JSON.stringify(frame.timeline));
      this.seq = frame.seq;
      // What was in flight is either in this timeline already or lost with the old socket.
      this.pending = this.pending.filter((e) => !e.wasSent && e.kind === "command");
    } else if (Array.isArray(frame.missed)) {
      for (const entry of frame.missed) {
        if (entry.seq !== this.seq + 1) {
          this.resync("The project changed while you were offline.");
          return;
        }
        const result = JSON.parse(this.confirmed.apply(JSON.stringify(entry.command)));
        if (!result.ok) {
          this.resync("The project couldn't be brought up to date.");
          return;
        }
        this.seq = entry.seq;
        // One of ours that was applied before the socket dropped: its ack was lost.
        const head = this.pending.find((e) => e.wasSent);
        if (head && entry.actor?.id === this.you?.actor?.id && head.kind === "command" && includes(head.command, entry.command)) {
          this.pending.splice(this.pending.indexOf(head), 1);
        }
      }
      // Undo/redo and comments whose answer was lost: their outcome is in the log or not at all.
      for (const e of this.pending.filter((p) => p.wasSent && p.kind !== "command")) {
        e.reject?.(new Error("The connection dropped; please try again."));
      }
      this.pending = this.pending.filter((e) => e.kind === "command");
    }
    this.welcomed = true;
    this.attempt = 0;
    this.rebuildView();
    for (const entry of this.pending) {
      entry.sent = false;
      entry.wasSent = false;
      this.sendEntry(entry);
    }
    if (Object.keys(this.presenceState).length) this.presence(this.presenceState);
    if (this.following) this.send({ type: "follow", actor: this.following });
    this.startHeartbeat();
    this.setStatus("live", "");
    this.emit("members");
    this.emit("timeline", { reset: true });
    this.emit("welcome", frame);
    this.firstWelcome?.resolve(frame);
    this.firstWelcome = null;
  }

  onAnswer(frame) {
    const index = this.pending.findIndex((e) => e.clientSeq === frame.client_seq);
    if (index < 0) return;
    const [entry] = this.pending.splice(index, 1);
    if (entry.kind === "comment") {
      if (frame.type === "ack") entry.resolve(frame.thread);
      else entry.reject(new Error(commandMessage(frame.error)));
      return;
    }
    if (frame.type === "reject") {
      this.rebuildView();
      this.emit("timeline", { rejected: true });
      this.emit("notice", { kind: "error", message: commandMessage(frame.error) });
      this.verify();
      return;
    }
    if (frame.seq !== this.seq + 1) {
      this.resync("The project got out of step.");
      return;
    }
    const command = entry.kind === "command" ? entry.command : frame.command;
    const result = JSON.parse(this.confirmed.apply(JSON.stringify(command)));
    this.seq = frame.seq;
    if (!result.ok) {
      this.resync("The project got out of step.");
      return;
    }
    if (entry.kind !== "command" || index !== 0 || this.pending.some((e) => e.conflicted)) {
      this.rebuildView();
      this.emit("timeline", { history: entry.kind !== "command" ? entry.kind : undefined });
    }
    this.emit("seq", this.seq);
  }

  onApplied(frame) {
    if (frame.seq <= this.seq) return;
    if (frame.seq !== this.seq + 1) {
      this.resync("Some changes were missed.");
      return;
    }
    const result = JSON.parse(this.confirmed.apply(JSON.stringify(frame.command)));
    if (!result.ok) {
      this.resync("The project got out of step.");
      return;
    }
    this.seq = frame.seq;
    if (this.pending.some((e) => e.kind === "command")) this.rebuildView();
    else this.view.apply(JSON.stringify(frame.command));
    this.emit("timeline", { remote: true, actor: frame.actor });
    this.emit("seq", this.seq);
  }

  /** After a refusal: compares the confirmed timeline with the server's; resyncs on a difference. */
  async verify() {
    try {
      const state = await get(`/v1/projects/${this.projectId}`);
      if (state.seq !== this.seq) return;
      // Through the engine: the server's JSON widens f32 fields (21.6 → 21.600000381469727).
      const scratch = this.Editor.fromJson(JSON.stringify(state.timeline));
      const theirs = canonical(scratch.timelineJson());
      scratch.free?.();
      if (theirs !== canonical(this.confirmed.timelineJson())) {
        this.resync("This editor was out of step with the project.");
      }
    } catch {
      // Offline: the reconnect brings the timeline up to date.
    }
  }
}

export { api };
