// The editor screen: preview rendered by editor-core (wasm) into a canvas, transport, timeline,
// inspector, media/create/comments panels and the export dialog, all over one ProjectSession.
import init, { Editor, wasmMemory } from "/pkg/editor_core_wasm.js";
import { get, patch } from "../api.js";
import { h, toast, colorFor, initials, timecode, promptDialog, confirmDialog, modal } from "../dom.js";
import { newId } from "../ids.js";
import { icon } from "../icons.js";
import { ProjectSession } from "./session.js";
import { TimelinePanel, trackAccepts } from "./timeline.js";
import { Inspector } from "./inspector.js";
import { CreatePanel, AssetsPanel, CommentsPanel, exportDialog, ImageLoader } from "./panels.js";

let wasmReady = null;

/** Loads the wasm engine once. */
export function loadEngine() {
  wasmReady ??= init();
  return wasmReady;
}

const SCALES = [
  { label: "Full", value: 1 },
  { label: "½", value: 0.5 },
  { label: "¼", value: 0.25 },
];

/**
 * Builds the editor for a project. Resolves once the project is loaded and its first frame
 * rendered; the room is joined in the background (the status pill shows when it is live).
 */
export async function mountEditor({ projectId, me, navigate }) {
  const started = performance.now();
  const [, state] = await Promise.all([loadEngine(), get(`/v1/projects/${projectId}`)]);
  const project = state.project;
  const view = Editor.fromJson(JSON.stringify(state.timeline));
  const session = new ProjectSession({ projectId, Editor, view });
  const editor = new EditorScreen({ project, session, view, me, navigate, orgId: project.org_id });
  // The first frame comes from the project as loaded; the room joins meanwhile (edits made
  // before it answers wait in line and are sent once it has).
  session.start().catch(() => {
    // The status pill and a notice say why; the editor stays open read-only.
  });
  editor.renderNow();
  editor.firstFrameMs = performance.now() - started;
  window.proeditor = editor;
  return editor;
}

/** The editor screen over one project: its DOM, playback state, selection and actions. */
class EditorScreen {
  constructor({ project, session, view, me, navigate, orgId }) {
    this.project = project;
    this.session = session;
    this.view = view;
    this.me = me;
    this.orgId = orgId;
    this.navigate = navigate;
    this.playhead = 0;
    this.playing = false;
    this.rate = 1;
    this.scale = Number(localStorage.getItem("cos.previewScale") || 0.5);
    this.selection = new Set();
    this.loop = null;
    this.looping = false;
    this.dirty = true;
    this.renderedFrames = [];
    this.lastRendered = -1;
    this.timelineCache = null;
    this.images = new ImageLoader(view, () => this.invalidate());
    this.build();
    this.bind();
    this.raf = requestAnimationFrame((t) => this.tick(t));
  }

  // ------------------------------------------------------------ model access

  /** The timeline shown (parsed once per change). */
  timeline() {
    this.timelineCache ??= this.session.timeline();
    return this.timelineCache;
  }

  fps() {
    const r = this.timeline().settings.frame_rate;
    return r.num / r.den;
  }

  duration() {
    return this.view.duration();
  }

  findClip(clipId) {
    for (const track of this.timeline().tracks) {
      const clip = track.clips.find((c) => c.id === clipId);
      if (clip) return { track, clip };
    }
    return null;
  }

  selectedClips() {
    return [...this.selection].map((id) => this.findClip(id)).filter(Boolean);
  }

  /** Sends an edit; shows why when it is refused. Returns whether it was applied. */
  edit(command) {
    const result = this.session.edit(command);
    if (!result.ok) toast(result.message, "error");
    return result.ok;
  }

  // ------------------------------------------------------------ layout

  build() {
    const project = this.project;
    this.statusPill = h("span", { class: "status-pill connecting", role: "status" }, "Connecting…");
    this.avatars = h("div", { class: "avatars", role: "list", "aria-label": "People and agents in this project" });
    this.nameButton = h("button", {
      type: "button", class: "project-name", title: "Rename project", onclick: async () => {
        const name = await promptDialog("Rename project", "Project name", this.project.name, "Rename");
        if (!name) return;
        try {
          const answer = await patch(`/v1/projects/${project.id}`, { name });
          this.project = answer.project;
          this.nameButton.textContent = name;
        } catch (e) {
          toast(e.message, "error");
        }
      },
    }, project.name);
    const top = h("header", { class: "topbar editor-top" },
      h("a", { href: "/", "data-nav": true, class: "brand", title: "Back to projects" }, h("span", { class: "logo" }, "▶"), "ProEditor"),
      h("span", { class: "crumb" }, "/"),
      h("h1", { class: "sr-only" }, `${project.name} — ProEditor`),
      this.nameButton,
      this.statusPill,
      h("div", { class: "spacer" }),
      this.avatars,
      h("button", { type: "button", class: "ghost", title: "Keyboard shortcuts (?)", "aria-label": "Keyboard shortcuts", onclick: () => shortcutsDialog() }, "?"),
      h("button", { type: "button", class: "primary", onclick: () => exportDialog(this) }, icon("export"), "Export"),
    );

    // Preview.
    this.canvas = h("canvas", { class: "preview-canvas", "aria-label": "Preview", role: "img" });
    this.context = this.canvas.getContext("2d", { willReadFrequently: false });
    this.cursorLayer = h("div", { class: "cursor-layer", "aria-hidden": "true" });
    this.stage = h("div", { class: "stage" }, h("div", { class: "canvas-box" }, this.canvas, this.cursorLayer));
    this.timecodeLabel = h("output", { class: "timecode", "aria-label": "Timecode" }, "00:00:00:00");
    this.fpsLabel = h("output", { class: "fps-readout", title: "Frames drawn per second" }, "— fps");
    this.playButton = h("button", { type: "button", class: "transport-play", "aria-label": "Play", title: "Play/pause (Space)", onclick: () => this.togglePlay() }, icon("play", 18));
    this.loopButton = h("button", { type: "button", class: "toggle", "aria-pressed": "false", title: "Loop between in and out points (set with I and O)", onclick: () => this.toggleLoop() }, icon("loop"), "Loop");
    this.scaleSelect = h("select", { "aria-label": "Preview resolution", onchange: (e) => this.setScale(Number(e.target.value)) },
      SCALES.map((s) => h("option", { value: s.value, selected: s.value === this.scale }, s.label)));
    this.scrubber = h("input", { type: "range", min: 0, max: 1, value: 0, class: "scrubber", "aria-label": "Scrub", oninput: (e) => this.seek(Number(e.target.value)) });
    const transport = h("div", { class: "transport", role: "toolbar", "aria-label": "Transport" },
      this.timecodeLabel,
      h("button", { type: "button", "aria-label": "Go to start", title: "Go to start (Home)", onclick: () => this.seek(0) }, icon("start")),
      h("button", { type: "button", "aria-label": "Previous frame", title: "Previous frame (←)", onclick: () => this.step(-1) }, icon("back")),
      this.playButton,
      h("button", { type: "button", "aria-label": "Next frame", title: "Next frame (→)", onclick: () => this.step(1) }, icon("forward")),
      h("button", { type: "button", "aria-label": "Go to end", title: "Go to end (End)", onclick: () => this.seek(Math.max(0, this.duration() - 1)) }, icon("end")),
      this.loopButton,
      this.scrubber,
      this.fpsLabel,
      h("label", { class: "scale" }, "Preview ", this.scaleSelect),
    );
    const viewer = h("section", { class: "viewer", "aria-label": "Viewer" }, this.stage, transport);

    // Timeline.
    this.timelinePanel = new TimelinePanel({
      fps: () => this.fps(),
      timeline: () => this.timeline(),
      playhead: () => this.playhead,
      seek: (f) => this.seek(f),
      edit: (c) => this.edit(c),
      selection: this.selection,
      onSelect: () => this.selectionChanged(),
      members: () => this.others(),
      remoteSelections: () => this.remoteSelections(),
      loopRange: () => (this.looping ? this.loop : null),
      onViewport: (v) => this.session.presence({ viewport: v }),
      confirm: (message) => confirmDialog("Remove track?", message, "Remove", true),
    });
    this.zoom = h("input", { type: "range", min: -4.3, max: 4.15, step: 0.05, value: Math.log(4), "aria-label": "Timeline zoom", oninput: (e) => this.timelinePanel.setZoom(Math.exp(Number(e.target.value))) });
    this.timelinePanel.host.onZoom = (px) => { this.zoom.value = Math.log(px); };
    this.snapButton = h("button", { type: "button", class: "toggle on", "aria-pressed": "true", title: "Snap to clip edges, markers and the playhead", onclick: () => {
      this.timelinePanel.snapping = !this.timelinePanel.snapping;
      this.snapButton.classList.toggle("on", this.timelinePanel.snapping);
      this.snapButton.setAttribute("aria-pressed", String(this.timelinePanel.snapping));
    } }, icon("magnet"), "Snap");
    const tools = h("div", { class: "tl-toolbar", role: "toolbar", "aria-label": "Timeline tools" },
      h("button", { type: "button", title: "Undo (Ctrl/⌘-Z)", "aria-label": "Undo", onclick: () => this.history("undo") }, icon("undo"), "Undo"),
      h("button", { type: "button", title: "Redo (Shift-Ctrl/⌘-Z)", "aria-label": "Redo", onclick: () => this.history("redo") }, icon("redo"), "Redo"),
      h("span", { class: "sep" }),
      h("button", { type: "button", title: "Split selected clips at the playhead (S)", onclick: () => this.split() }, icon("split"), "Split"),
      h("button", { type: "button", title: "Duplicate selected clips (Ctrl/⌘-D)", onclick: () => this.duplicate() }, icon("duplicate"), "Duplicate"),
      h("button", { type: "button", title: "Delete selected clips (Delete)", onclick: () => this.remove() }, icon("trash"), "Delete"),
      h("button", { type: "button", title: "Add a marker at the playhead (M)", onclick: () => this.addMarker() }, icon("marker"), "Marker"),
      h("button", { type: "button", title: "Comment on the selection or the playhead", onclick: () => this.comments.startThread() }, icon("comment"), "Comment"),
      h("span", { class: "sep" }),
      this.snapButton,
      h("select", { "aria-label": "Add a track", class: "add-track", onchange: (e) => {
        const kind = e.target.value;
        e.target.value = "";
        if (!kind) return;
        const count = this.timeline().tracks.filter((t) => t.kind === kind).length + 1;
        this.edit({ type: "add_track", track: { id: newId("trk"), kind, name: `${kind[0].toUpperCase()}${kind.slice(1)} ${count}` } });
      } }, h("option", { value: "" }, "+ Track"), ["video", "overlay", "text", "audio"].map((k) => h("option", { value: k }, `${k[0].toUpperCase()}${k.slice(1)} track`))),
      h("div", { class: "spacer" }),
      h("button", { type: "button", title: "Fit the whole timeline", onclick: () => this.timelinePanel.fit() }, icon("fit"), "Fit"),
      h("label", { class: "zoom" }, "Zoom ", this.zoom),
    );
    const timelineSection = h("section", { class: "timeline-section" }, tools, this.timelinePanel.element);
    timelineSection.addEventListener("dragover", (e) => {
      if (e.dataTransfer.types.includes("application/x-creator-asset")) {
        e.preventDefault();
        e.dataTransfer.dropEffect = "copy";
      }
    });
    timelineSection.addEventListener("drop", (e) => {
      const raw = e.dataTransfer.getData("application/x-creator-asset");
      if (!raw) return;
      e.preventDefault();
      const row = this.timelinePanel.rowAt(e.clientY);
      this.placeAsset(JSON.parse(raw), this.timelinePanel.frameAtClientX(e.clientX), row?.dataset.trackId);
    });

    // Side panels.
    this.inspector = new Inspector(this);
    this.comments = new CommentsPanel(this);
    this.create = new CreatePanel(this);
    this.assets = new AssetsPanel(this);
    const left = tabs("Library", [["Create", this.create.element], ["Media", this.assets.element]]);
    const right = tabs("Details", [["Inspector", this.inspector.element], ["Comments", this.comments.element]]);
    this.rightTabs = right;

    this.element = h("div", { class: "editor" },
      top,
      h("div", { class: "editor-grid" }, h("aside", { class: "panel left" }, left.element), viewer, h("aside", { class: "panel right" }, right.element)),
      timelineSection,
    );
  }

  bind() {
    const s = this.session;
    s.addEventListener("timeline", (e) => {
      this.timelineCache = null;
      const timeline = this.timeline();
      for (const id of [...this.selection]) if (!this.findClip(id)) this.selection.delete(id);
      this.images.sync(timeline);
      this.invalidate();
      this.timelinePanel.render();
      this.inspector.render();
      this.scrubber.max = Math.max(1, this.duration() - 1);
    });
    s.addEventListener("status", (e) => {
      const { status, message } = e.detail;
      this.statusPill.className = `status-pill ${status}`;
      this.statusPill.textContent = status === "live" ? "● Live" : message || status;
      if (status === "closed") {
        this.element.classList.add("read-only");
        toast(message, "error", 8000);
      }
    });
    s.addEventListener("notice", (e) => toast(e.detail.message, e.detail.kind));
    s.addEventListener("welcome", () => this.element.classList.toggle("read-only", !s.canWrite));
    s.addEventListener("members", () => this.renderMembers());
    s.addEventListener("presence", (e) => this.onPresence(e.detail.member));
    s.addEventListener("thread", (e) => this.comments.upsert(e.detail));
    s.addEventListener("job", (e) => this.onJob?.(e.detail));
    s.addEventListener("access", (e) => {
      this.element.classList.toggle("read-only", !e.detail.canWrite);
      toast(e.detail.canWrite ? `Your role is now ${e.detail.role}.` : "You can now only view this project.", "info");
    });

    this.keydown = (e) => this.onKey(e);
    window.addEventListener("keydown", this.keydown);
    this.canvas.addEventListener("pointermove", (e) => {
      const r = this.canvas.getBoundingClientRect();
      this.session.presence({ cursor: { x: +((e.clientX - r.left) / r.width).toFixed(4), y: +((e.clientY - r.top) / r.height).toFixed(4) } });
    });
    this.canvas.addEventListener("pointerleave", () => this.session.presence({ cursor: null }));
    this.resize = new ResizeObserver(() => this.fitCanvas());
    this.resize.observe(this.stage);
  }

  start() {
    this.timelinePanel.render();
    this.timelinePanel.fit();
    this.inspector.render();
    this.comments.load();
    this.assets.load();
    this.renderMembers();
    this.fitCanvas();
    // Once laid out: fit the whole edit into the timeline's width.
    requestAnimationFrame(() => this.timelinePanel.fit());
  }

  destroy() {
    cancelAnimationFrame(this.raf);
    window.removeEventListener("keydown", this.keydown);
    this.resize?.disconnect();
    this.session.stop();
    this.view.free?.();
    if (window.proeditor === this) delete window.proeditor;
  }

  // ------------------------------------------------------------ preview

  invalidate() {
    this.dirty = true;
  }

  setScale(scale) {
    this.scale = scale;
    localStorage.setItem("cos.previewScale", String(scale));
    this.invalidate();
    this.renderNow();
  }

  fitCanvas() {
    const settings = this.timeline().settings;
    const box = this.stage.getBoundingClientRect();
    const ratio = settings.width / settings.height;
    let width = box.width - 24;
    let height = width / ratio;
    if (height > box.height - 24) {
      height = box.height - 24;
      width = height * ratio;
    }
    const holder = this.canvas.parentElement;
    holder.style.width = `${Math.max(0, Math.floor(width))}px`;
    holder.style.height = `${Math.max(0, Math.floor(height))}px`;
  }

  /** Renders the playhead's frame now (editor-core → wasm memory → putImageData). */
  renderNow() {
    const frame = this.playhead;
    this.view.renderFrame(frame, this.scale);
    const width = this.view.frameWidth();
    const height = this.view.frameHeight();
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    // framePtr first: making the straight copy may grow (and so replace) the memory buffer.
    const ptr = this.view.framePtr();
    const pixels = new Uint8ClampedArray(wasmMemory().buffer, ptr, this.view.frameLen());
    this.context.putImageData(new ImageData(pixels, width, height), 0, 0);
    this.dirty = false;
    this.lastRendered = frame;
    const now = performance.now();
    this.renderedFrames.push(now);
  }

  tick() {
    this.raf = requestAnimationFrame(() => this.tick());
    // One clock for starting and advancing playback (a frame callback's own timestamp can be
    // older than the moment play was pressed).
    const now = performance.now();
    if (this.playing) {
      const fps = this.fps();
      let target = this.playStartFrame + Math.floor((Math.max(0, now - this.playStartTime) / 1000) * fps * this.rate);
      const end = this.looping && this.loop ? this.loop.out : Math.max(1, this.duration());
      const begin = this.looping && this.loop ? this.loop.in : 0;
      const forward = this.rate > 0;
      if (forward ? target >= end : target < begin) {
        if (this.looping) {
          // Wrap around and keep playing from the other end of the loop.
          target = forward ? begin : end - 1;
          this.playStartFrame = target;
          this.playStartTime = now;
        } else {
          this.pause();
          target = forward ? Math.max(0, end - 1) : begin;
        }
      } else if (forward && target < begin) {
        target = begin;
      } else if (!forward && target >= end) {
        target = end - 1;
      }
      if (target !== this.playhead) {
        this.setPlayhead(target, { fromPlayback: true });
      }
    }
    if (this.dirty) this.renderNow();
    while (this.renderedFrames.length && this.renderedFrames[0] < now - 1000) this.renderedFrames.shift();
    if (!this.lastFpsUpdate || now - this.lastFpsUpdate > 250) {
      this.lastFpsUpdate = now;
      this.fpsLabel.textContent = this.playing ? `${this.renderedFrames.length} / ${Math.round(this.fps())} fps` : `${Math.round(this.fps())} fps`;
      this.fpsLabel.classList.toggle("slow", this.playing && this.renderedFrames.length < this.fps() * 0.9);
    }
  }

  setPlayhead(frame, { fromPlayback = false, fromFollow = false } = {}) {
    const next = Math.max(0, Math.round(frame));
    if (next === this.playhead && !this.dirty) return;
    this.playhead = next;
    this.timecodeLabel.textContent = timecode(next, this.fps());
    this.scrubber.value = String(next);
    this.timelinePanel.updatePlayhead();
    if (fromPlayback) this.timelinePanel.follow();
    this.inspector.playheadMoved();
    this.invalidate();
    if (!fromFollow) this.session.presence({ playhead: next });
  }

  seek(frame) {
    this.setPlayhead(frame);
    if (this.playing) {
      this.playStartFrame = this.playhead;
      this.playStartTime = performance.now();
    }
  }

  step(delta) {
    this.pause();
    this.seek(this.playhead + delta);
  }

  play(rate = 1) {
    if (this.duration() === 0) return;
    if (!this.playing && rate > 0 && this.playhead >= this.duration() - 1 && !this.looping) this.setPlayhead(0);
    this.rate = rate;
    this.playing = true;
    this.playStartFrame = this.playhead;
    this.playStartTime = performance.now();
    this.playButton.replaceChildren(icon("pause", 18));
    this.playButton.setAttribute("aria-label", "Pause");
  }

  pause() {
    this.playing = false;
    this.rate = 1;
    this.playButton.replaceChildren(icon("play", 18));
    this.playButton.setAttribute("aria-label", "Play");
  }

  togglePlay() {
    if (this.playing) this.pause();
    else this.play(1);
  }

  toggleLoop() {
    this.looping = !this.looping;
    if (this.looping && !this.loop) this.loop = { in: 0, out: Math.max(1, this.duration()) };
    this.loopButton.classList.toggle("on", this.looping);
    this.loopButton.setAttribute("aria-pressed", String(this.looping));
    this.timelinePanel.drawRuler();
  }

  setLoopPoint(which) {
    const duration = Math.max(1, this.duration());
    this.loop ??= { in: 0, out: duration };
    if (which === "in") this.loop.in = Math.min(this.playhead, this.loop.out - 1);
    else this.loop.out = Math.max(this.playhead + 1, this.loop.in + 1);
    if (!this.looping) this.toggleLoop();
    this.timelinePanel.drawRuler();
    toast(`Loop ${timecode(this.loop.in, this.fps())} – ${timecode(this.loop.out, this.fps())}`);
  }

  // ------------------------------------------------------------ editing actions

  history(kind) {
    const result = this.session.history(kind);
    if (!result.ok) toast(result.message, "error");
  }

  split() {
    const targets = this.selectedClips().filter(({ clip }) => this.playhead > clip.start && this.playhead < clip.start + clip.duration);
    if (!targets.length) {
      toast("Select a clip under the playhead to split it.", "info");
      return;
    }
    const commands = targets.map(({ clip }) => ({ type: "split_clip", clip_id: clip.id, frame: this.playhead, new_clip_id: newId("clp") }));
    this.edit(commands.length === 1 ? commands[0] : { type: "batch", commands });
  }

  duplicate() {
    const targets = this.selectedClips();
    if (!targets.length) return;
    const ids = [];
    const commands = targets.map(({ clip }) => {
      const id = newId("clp");
      ids.push(id);
      return { type: "duplicate_clip", clip_id: clip.id, new_clip_id: id };
    });
    if (this.edit(commands.length === 1 ? commands[0] : { type: "batch", commands })) {
      this.selection.clear();
      for (const id of ids) this.selection.add(id);
      this.selectionChanged();
    }
  }

  /** Moves the selected clips by `frames` (Alt-←/→). */
  nudge(frames) {
    const targets = this.selectedClips();
    if (!targets.length) return;
    const moves = targets
      .slice()
      .sort((a, b) => (frames > 0 ? b.clip.start - a.clip.start : a.clip.start - b.clip.start))
      .map(({ clip }) => ({ type: "move_clip", clip_id: clip.id, start: Math.max(0, clip.start + frames) }));
    this.edit(moves.length === 1 ? moves[0] : { type: "batch", commands: moves });
  }

  /** Pastes copied clips at the playhead, keeping their spacing and tracks. */
  paste() {
    const copied = (this.clipboard ?? []).filter((c) => this.findClip(c.id));
    if (!copied.length) return;
    const first = Math.min(...copied.map((c) => c.start));
    const ids = [];
    const commands = copied.map((c) => {
      const id = newId("clp");
      ids.push(id);
      return { type: "duplicate_clip", clip_id: c.id, new_clip_id: id, start: this.playhead + (c.start - first) };
    });
    if (this.edit(commands.length === 1 ? commands[0] : { type: "batch", commands })) {
      this.selection.clear();
      for (const id of ids) this.selection.add(id);
      this.selectionChanged();
    }
  }

  remove() {
    const targets = this.selectedClips();
    if (!targets.length) return;
    const commands = targets.map(({ clip }) => ({ type: "remove_clip", clip_id: clip.id }));
    if (this.edit(commands.length === 1 ? commands[0] : { type: "batch", commands })) {
      this.selection.clear();
      this.selectionChanged();
    }
  }

  addMarker() {
    this.edit({ type: "add_marker", marker: { id: newId("mrk"), frame: this.playhead, label: `Marker ${timecode(this.playhead, this.fps())}` } });
  }

  /**
   * Places a new clip: on the topmost track of a suitable kind that is free at `start` (a new
   * track otherwise), selects it and returns its id.
   */
  addClip(source, { duration, start = this.playhead, trackId, name, transform } = {}) {
    const timeline = this.timeline();
    const length = duration ?? Math.round(this.fps() * 5);
    const clip = { id: newId("clp"), start, duration: length, source };
    if (name) clip.name = name;
    if (transform) clip.transform = transform;
    const fits = (track) => trackAccepts(track.kind, source) && !track.locked &&
      (track.allow_overlap || track.clips.every((c) => c.start + c.duration <= start || c.start >= start + length));
    // Titles go on text tracks and pictures on video/overlay tracks when one is free.
    const natural = (t) => (source.type === "text") === (t.kind === "text");
    let track = trackId ? timeline.tracks.find((t) => t.id === trackId && fits(t)) : null;
    if (!track) track = [...timeline.tracks].reverse().find((t) => natural(t) && fits(t));
    if (!track) track = [...timeline.tracks].reverse().find(fits);
    let command;
    if (track) command = { type: "add_clip", track_id: track.id, clip };
    else {
      const kind = source.type === "text" ? "text" : source.type === "audio" ? "audio" : timeline.tracks.some((t) => t.kind === "video") ? "overlay" : "video";
      const count = timeline.tracks.filter((t) => t.kind === kind).length + 1;
      const name = `${kind[0].toUpperCase()}${kind.slice(1)} ${count}`;
      command = { type: "add_track", track: { id: newId("trk"), kind, name, clips: [clip] } };
    }
    if (!this.edit(command)) return null;
    this.selection.clear();
    this.selection.add(clip.id);
    this.selectionChanged();
    return clip.id;
  }

  placeAsset(asset, frame, trackId) {
    if (!asset.width || !asset.height) {
      toast("Only images can be placed on the timeline for now.", "error");
      return;
    }
    this.images.want(asset.id);
    this.addClip({ type: "image", asset_id: asset.id, width: asset.width, height: asset.height, fit: "contain" }, { start: frame ?? this.playhead, trackId, name: asset.name });
  }

  selectionChanged() {
    this.timelinePanel.updateSelection();
    this.inspector.render();
    this.session.presence({ selection: [...this.selection] });
  }

  // ------------------------------------------------------------ collaboration

  others() {
    const you = this.session.you?.connection_id;
    return [...this.session.members.values()].filter((m) => m.member.connection_id !== you);
  }

  remoteSelections() {
    const map = new Map();
    for (const entry of this.others()) for (const id of entry.presence?.selection ?? []) map.set(id, colorFor(entry.member.actor.id));
    return map;
  }

  renderMembers() {
    const you = this.session.you;
    const seen = new Set();
    const items = [];
    for (const entry of this.session.members.values()) {
      const m = entry.member;
      const self = m.connection_id === you?.connection_id;
      if (seen.has(m.actor.id) && !self) continue;
      seen.add(m.actor.id);
      const following = this.session.following === m.actor.id;
      const agent = m.kind === "agent" || m.actor.type !== "user";
      items.push(h("button", {
        type: "button",
        role: "listitem",
        class: `avatar member${agent ? " agent" : ""}${following ? " following" : ""}${self ? " self" : ""}`,
        style: { background: colorFor(m.actor.id) },
        title: self ? `${m.name} (you)` : `${m.name}${agent ? " · agent" : ""} · ${m.role}${following ? " · following (click to stop)" : " · click to follow"}`,
        "aria-label": self ? `${m.name} (you)` : `${following ? "Stop following" : "Follow"} ${m.name}`,
        "aria-pressed": self ? undefined : String(following),
        dataset: { actorId: m.actor.id },
        disabled: self,
        onclick: () => this.toggleFollow(m.actor.id),
      }, agent ? icon("agent", 15) : initials(m.name)));
    }
    this.avatars.replaceChildren(...items);
    this.timelinePanel.updateRemote();
    this.renderCursors();
  }

  toggleFollow(actorId) {
    const next = this.session.following === actorId ? null : actorId;
    this.session.follow(next);
    if (next) {
      const target = this.others().find((m) => m.member.actor.id === next);
      toast(`Following ${target?.member.name ?? "member"}. Click their avatar again to stop.`);
      if (target) this.onPresence(target);
    }
  }

  onPresence(entry) {
    if (this.session.following && entry.member.actor.id === this.session.following) {
      const p = entry.presence ?? {};
      if (typeof p.playhead === "number") this.setPlayhead(p.playhead, { fromFollow: true });
      if (p.viewport) this.timelinePanel.showViewport(p.viewport);
    }
    this.timelinePanel.updateRemote();
    const selectionKey = JSON.stringify(entry.presence?.selection ?? []);
    if (selectionKey !== entry.shownSelection) {
      entry.shownSelection = selectionKey;
      this.timelinePanel.updateSelection();
    }
    this.renderCursors();
  }

  renderCursors() {
    const cursors = [];
    for (const entry of this.others()) {
      const c = entry.presence?.cursor;
      if (!c || typeof c.x !== "number") continue;
      const color = colorFor(entry.member.actor.id);
      const pointer = h("div", { class: "remote-cursor", style: { left: `${c.x * 100}%`, top: `${c.y * 100}%`, color } });
      pointer.innerHTML = '<svg viewBox="0 0 16 16" width="16" height="16"><path d="M1 1 L1 13 L5 9.5 L8 15 L10 14 L7 8.5 L12 8.5 Z" fill="currentColor" stroke="#000" stroke-width="0.8"/></svg>';
      pointer.append(h("span", { style: { background: color } }, entry.member.name));
      cursors.push(pointer);
    }
    this.cursorLayer.replaceChildren(...cursors);
  }

  // ------------------------------------------------------------ keyboard

  onKey(e) {
    if (e.target.closest?.("input, textarea, select, [contenteditable], dialog")) return;
    const mod = e.ctrlKey || e.metaKey;
    const key = e.key.toLowerCase();
    if (mod && key === "z") {
      e.preventDefault();
      this.history(e.shiftKey ? "redo" : "undo");
    } else if (mod && key === "y") {
      e.preventDefault();
      this.history("redo");
    } else if (mod && key === "d") {
      e.preventDefault();
      this.duplicate();
    } else if (mod && key === "c") {
      this.clipboard = this.selectedClips().map(({ clip }) => ({ id: clip.id, start: clip.start }));
      if (this.clipboard.length) toast(`Copied ${this.clipboard.length} clip${this.clipboard.length > 1 ? "s" : ""}`);
    } else if (mod && key === "v") {
      e.preventDefault();
      this.paste();
    } else if (mod) {
      return;
    } else if (e.key === " ") {
      // Space is play/pause everywhere in the editor, as in every NLE (Enter activates buttons).
      e.preventDefault();
      this.togglePlay();
    } else if (key === "k") {
      this.pause();
    } else if (key === "l") {
      this.play(this.playing && this.rate > 0 ? Math.min(8, this.rate * 2) : 1);
    } else if (key === "j") {
      this.play(this.playing && this.rate < 0 ? Math.max(-8, this.rate * 2) : -1);
    } else if (key === "s") {
      this.split();
    } else if (key === "m") {
      this.addMarker();
    } else if (key === "i") {
      this.setLoopPoint("in");
    } else if (key === "o") {
      this.setLoopPoint("out");
    } else if (e.key === "Delete" || e.key === "Backspace") {
      e.preventDefault();
      this.remove();
    } else if (e.altKey && (e.key === "ArrowLeft" || e.key === "ArrowRight")) {
      e.preventDefault();
      this.nudge((e.key === "ArrowLeft" ? -1 : 1) * (e.shiftKey ? 10 : 1));
    } else if (e.key === "ArrowLeft") {
      e.preventDefault();
      this.step(e.shiftKey ? -10 : -1);
    } else if (e.key === "ArrowRight") {
      e.preventDefault();
      this.step(e.shiftKey ? 10 : 1);
    } else if (e.key === "Home") {
      this.seek(0);
    } else if (e.key === "End") {
      this.seek(Math.max(0, this.duration() - 1));
    } else if (e.key === "+" || e.key === "=") {
      this.timelinePanel.setZoom(this.timelinePanel.pxPerFrame * 1.25);
    } else if (e.key === "-") {
      this.timelinePanel.setZoom(this.timelinePanel.pxPerFrame / 1.25);
    } else if (e.key === "?") {
      shortcutsDialog();
    } else if (e.key === "Escape") {
      this.selection.clear();
      this.selectionChanged();
    }
  }
}

const SHORTCUTS = [
  ["Space", "Play / pause"],
  ["J · K · L", "Play backwards (faster on repeat) · stop · play forwards (faster on repeat)"],
  ["← · →", "Previous / next frame (Shift: 10 frames)"],
  ["Home · End", "Go to start / end"],
  ["I · O", "Set loop in / out at the playhead"],
  ["S", "Split selected clips at the playhead"],
  ["Delete", "Delete selected clips"],
  ["Alt-← · Alt-→", "Nudge selected clips by a frame (Shift: 10)"],
  ["Ctrl/⌘-C · Ctrl/⌘-V", "Copy clips · paste them at the playhead"],
  ["Ctrl/⌘-D", "Duplicate selected clips"],
  ["Ctrl/⌘-Z · Shift-Ctrl/⌘-Z", "Undo · redo your own changes"],
  ["M", "Add a marker at the playhead"],
  ["+ · −", "Zoom the timeline in / out (or Ctrl/⌘-scroll)"],
  ["Shift-click", "Add a clip to the selection"],
  ["Esc", "Clear the selection"],
];

function shortcutsDialog() {
  return modal("Keyboard shortcuts", (close) => h("div", {},
    h("table", { class: "shortcuts" }, h("tbody", {}, SHORTCUTS.map(([keys, what]) => h("tr", {}, h("th", { scope: "row" }, h("kbd", {}, keys)), h("td", {}, what))))),
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => close() }, "Done"))), { wide: true });
}

/** A tab strip over panels. */
function tabs(label, entries) {
  const buttons = [];
  const panels = [];
  const element = h("div", { class: "tabs" });
  const strip = h("div", { role: "tablist", "aria-label": label, class: "tab-strip" });
  const show = (index) => {
    buttons.forEach((b, i) => {
      b.setAttribute("aria-selected", String(i === index));
      b.tabIndex = i === index ? 0 : -1;
      panels[i].hidden = i !== index;
    });
  };
  entries.forEach(([name, content], i) => {
    const id = `tab-${label}-${name}`.replace(/\W+/g, "-").toLowerCase();
    const button = h("button", { type: "button", role: "tab", id, "aria-controls": `${id}-panel`, onclick: () => show(i) }, name);
    const panel = h("div", { role: "tabpanel", id: `${id}-panel`, "aria-labelledby": id, class: "tab-panel" }, content);
    buttons.push(button);
    panels.push(panel);
    strip.append(button);
  });
  element.append(strip, ...panels);
  show(0);
  return { element, show };
}
