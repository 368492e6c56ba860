// The timeline panel: tracks and clips drawn to scale (DOM elements, so every clip is a
// focusable control), a ruler with markers, the playhead and other members' playheads and
// selections. Mouse: click/shift-click to select, drag a clip to move it (also to another
// track of a compatible kind), drag its edges to trim, with snapping to clip edges, markers and
// the playhead; drag on the ruler to scrub; Ctrl/⌘-wheel to zoom.
import { h, colorFor, timecode } from "../dom.js";
import { icon } from "../icons.js";

const HEADER_WIDTH = 168;
const SNAP_PX = 8;
const KIND_ICONS = { video: "▣", overlay: "◧", text: "T", audio: "♪" };

/** Whether a track kind accepts a clip source (editor-core `TrackKind::accepts`). */
export function trackAccepts(kind, source) {
  if (kind === "audio") return source.type === "audio";
  if (kind === "text") return source.type === "text";
  return source.type !== "audio";
}

function clipLabel(clip) {
  if (clip.name) return clip.name;
  const s = clip.source;
  if (s.type === "text") return s.text.split("\n")[0] || "Text";
  return { solid: "Solid", shape: "Shape", linear_gradient: "Gradient", radial_gradient: "Gradient", image: "Image", image_sequence: "Sequence", audio: "Audio" }[s.type] ?? s.type;
}

function cssColor(c) {
  return c ? `rgba(${c.r}, ${c.g}, ${c.b}, ${(c.a ?? 255) / 255})` : "";
}

export class TimelinePanel {
  /**
   * @param {{fps: () => number, timeline: () => any, playhead: () => number,
   *   seek: (frame: number) => void, edit: (command: any) => boolean, selection: Set<string>,
   *   onSelect: () => void, members: () => any[], remoteSelections: () => Map<string,string>}} host
   */
  constructor(host) {
    this.host = host;
    this.pxPerFrame = 4;
    this.snapping = true;
    this.scroll = h("div", { class: "tl-scroll", tabindex: "-1" });
    this.ruler = h("div", { class: "tl-ruler", "aria-label": "Timeline ruler: click or drag to move the playhead" });
    this.rulerCanvas = h("canvas", { class: "tl-ruler-canvas", "aria-hidden": "true" });
    this.ruler.append(h("div", { class: "tl-corner" }, h("span", { class: "tl-timecode" })), h("div", { class: "tl-ruler-lane" }, this.rulerCanvas));
    this.rows = h("div", { class: "tl-rows" });
    this.playheadLine = h("div", { class: "tl-playhead", "aria-hidden": "true" }, h("div", { class: "tl-playhead-cap" }));
    this.remoteLayer = h("div", { class: "tl-remote", "aria-hidden": "true" });
    this.snapLine = h("div", { class: "tl-snap hidden", "aria-hidden": "true" });
    this.content = h("div", { class: "tl-content" }, this.ruler, this.rows, this.playheadLine, this.remoteLayer, this.snapLine);
    this.scroll.append(this.content);
    this.element = h("div", { class: "timeline", role: "region", "aria-label": "Timeline" }, this.scroll);

    this.ruler.querySelector(".tl-ruler-lane").addEventListener("pointerdown", (e) => this.scrub(e));
    this.scroll.addEventListener("wheel", (e) => {
      if (!e.ctrlKey && !e.metaKey) return;
      e.preventDefault();
      this.setZoom(this.pxPerFrame * (e.deltaY < 0 ? 1.2 : 1 / 1.2), e.clientX);
    }, { passive: false });
    this.scroll.addEventListener("scroll", () => {
      this.drawRuler();
      this.host.onViewport?.(this.viewport());
    });
    this.marquee = h("div", { class: "tl-marquee hidden", "aria-hidden": "true" });
    this.content.append(this.marquee);
    this.rows.addEventListener("pointerdown", (e) => {
      if (e.button === 0 && (e.target === this.rows || e.target.classList.contains("tl-lane"))) this.marqueeSelect(e);
    });
    new ResizeObserver(() => this.drawRuler()).observe(this.scroll);
  }

  /** Visible range, for presence. */
  viewport() {
    const from = Math.max(0, Math.floor(this.scroll.scrollLeft / this.pxPerFrame));
    const to = Math.ceil((this.scroll.scrollLeft + this.scroll.clientWidth - HEADER_WIDTH) / this.pxPerFrame);
    return { from_frame: from, to_frame: to, px_per_frame: +this.pxPerFrame.toFixed(3) };
  }

  /** Shows a range (when following someone). */
  showViewport(viewport) {
    if (!viewport || typeof viewport.from_frame !== "number") return;
    if (viewport.px_per_frame) this.pxPerFrame = Math.min(64, Math.max(0.05, viewport.px_per_frame));
    this.render();
    this.scroll.scrollLeft = viewport.from_frame * this.pxPerFrame;
  }

  setZoom(px, anchorClientX) {
    const old = this.pxPerFrame;
    const next = Math.min(64, Math.max(0.05, px));
    const rect = this.scroll.getBoundingClientRect();
    const anchorX = (anchorClientX ?? rect.left + HEADER_WIDTH) - rect.left - HEADER_WIDTH;
    const frameAtAnchor = (this.scroll.scrollLeft + anchorX) / old;
    this.pxPerFrame = next;
    this.render();
    this.scroll.scrollLeft = Math.max(0, frameAtAnchor * next - anchorX);
    this.host.onZoom?.(next);
  }

  /** Zoom so the whole timeline fits. */
  fit() {
    const duration = Math.max(this.duration() * 1.08, 150);
    this.setZoom((this.scroll.clientWidth - HEADER_WIDTH - 24) / duration);
    this.scroll.scrollLeft = 0;
  }

  duration() {
    let end = 0;
    for (const t of this.host.timeline().tracks) for (const c of t.clips) end = Math.max(end, c.start + c.duration);
    return end;
  }

  frameAtClientX(clientX) {
    const lane = this.rows.getBoundingClientRect();
    return Math.max(0, Math.round((clientX - lane.left - HEADER_WIDTH) / this.pxPerFrame));
  }

  scrub(event) {
    event.preventDefault();
    const move = (e) => this.host.seek(this.frameAtClientX(e.clientX));
    move(event);
    const target = event.currentTarget ?? event.target;
    target.setPointerCapture?.(event.pointerId);
    const up = () => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  /** Marks the selected clips (and other members' selections) without rebuilding. */
  updateSelection() {
    const remote = this.host.remoteSelections();
    for (const element of this.rows.querySelectorAll(".tl-clip")) {
      const id = element.dataset.clipId;
      const selected = this.host.selection.has(id);
      element.classList.toggle("selected", selected);
      element.setAttribute("aria-pressed", String(selected));
      element.classList.toggle("remote-selected", remote.has(id));
      if (remote.has(id)) element.style.setProperty("--remote", remote.get(id));
    }
  }

  /** Rebuilds tracks and clips from the timeline (after a drag, when one is in progress). */
  render() {
    if (this.dragging) {
      this.renderAfterDrag = true;
      return;
    }
    const timeline = this.host.timeline();
    const duration = this.duration();
    const width = Math.max((duration + 300) * this.pxPerFrame, this.scroll.clientWidth - HEADER_WIDTH);
    this.laneWidth = width;
    this.content.style.width = `${HEADER_WIDTH + width}px`;
    const remoteSelections = this.host.remoteSelections();
    const rows = [];
    for (let i = timeline.tracks.length - 1; i >= 0; i--) {
      const track = timeline.tracks[i];
      const lane = h("div", { class: "tl-lane", dataset: { trackId: track.id } });
      for (const clip of track.clips) lane.append(this.clipElement(track, clip, remoteSelections));
      const toggle = (field, label, on, off) => h("button", {
        type: "button",
        class: `tl-toggle${track[field] ? " on" : ""}`,
        "aria-pressed": String(!!track[field]),
        title: track[field] ? off : on,
        "aria-label": `${track[field] ? off : on} ${track.name || track.kind}`,
        onclick: () => this.host.edit({ type: "set_track_properties", track_id: track.id, [field]: !track[field] }),
      }, label);
      rows.push(h("div", { class: `tl-row kind-${track.kind}${track.hidden ? " hidden-track" : ""}${track.locked ? " locked" : ""}`, dataset: { trackId: track.id, kind: track.kind } },
        h("div", { class: "tl-head" },
          h("span", { class: "tl-kind", "aria-hidden": "true" }, KIND_ICONS[track.kind] ?? "▣"),
          h("span", { class: "tl-name", title: track.name || track.kind }, track.name || `${track.kind[0].toUpperCase()}${track.kind.slice(1)} ${i + 1}`),
          track.kind === "audio" ? toggle("muted", icon("mute", 13), "Mute", "Unmute") : toggle("hidden", icon("eye", 13), "Hide", "Show"),
          toggle("locked", icon("lock", 13), "Lock", "Unlock"),
          h("button", {
            type: "button",
            class: "tl-toggle tl-remove",
            title: "Remove track",
            "aria-label": `Remove ${track.name || track.kind}`,
            onclick: async () => {
              if (track.clips.length && !(await this.host.confirm?.(`Remove “${track.name || track.kind}” and its ${track.clips.length} clip${track.clips.length > 1 ? "s" : ""}?`))) return;
              this.host.edit({ type: "remove_track", track_id: track.id });
            },
          }, icon("trash", 13))),
        lane));
    }
    if (!rows.length) rows.push(h("div", { class: "tl-empty" }, "The timeline is empty. Add a title, a colour or a shape from the left, or drop media here."));
    this.rows.replaceChildren(...rows);
    this.drawRuler();
    this.updatePlayhead();
    this.updateRemote();
  }

  clipElement(track, clip, remoteSelections) {
    const selected = this.host.selection.has(clip.id);
    const remote = remoteSelections.get(clip.id);
    // Keyframes of every property, grouped by frame (one diamond per frame).
    const keyframes = new Map();
    const params = [clip.opacity, ...Object.values(clip.transform ?? {}), ...Object.values(clip.crop ?? {})];
    for (const p of params) {
      if (p && typeof p === "object" && p.keyframes) {
        for (const k of p.keyframes) keyframes.set(k.frame, [...(keyframes.get(k.frame) ?? []), k.id]);
      }
    }
    const fill = clip.source.type === "solid" ? cssColor(clip.source.color) : clip.source.type === "shape" ? cssColor(clip.source.fill) : "";
    const element = h("div", {
      class: `tl-clip src-${clip.source.type}${selected ? " selected" : ""}${remote ? " remote-selected" : ""}`,
      role: "button",
      tabindex: "0",
      "aria-pressed": String(selected),
      "aria-label": `${clipLabel(clip)}, frames ${clip.start} to ${clip.start + clip.duration}`,
      title: `${clipLabel(clip)} · ${clip.start}–${clip.start + clip.duration}`,
      dataset: { clipId: clip.id, trackId: track.id },
      style: {
        left: `${clip.start * this.pxPerFrame}px`,
        width: `${Math.max(2, clip.duration * this.pxPerFrame)}px`,
        ...(remote ? { "--remote": remote } : {}),
      },
    },
      fill ? h("span", { class: "tl-swatch", style: { background: fill } }) : null,
      h("span", { class: "tl-clip-label" }, clipLabel(clip)),
      clip.transition ? h("span", { class: "tl-transition", title: `${clip.transition.kind.type} transition` }, "⋈") : null,
      [...keyframes].map(([frame, ids]) => {
        const key = h("span", { class: "tl-key", title: `Keyframe at frame ${frame} of the clip: drag to move`, dataset: { frame }, style: { left: `${frame * this.pxPerFrame}px` } });
        key.addEventListener("pointerdown", (e) => this.keyframeDrag(e, clip, frame, ids, key));
        return key;
      }),
      h("div", { class: "tl-handle start", dataset: { edge: "start" }, "aria-hidden": "true" }),
      h("div", { class: "tl-handle end", dataset: { edge: "end" }, "aria-hidden": "true" }),
    );
    element.addEventListener("pointerdown", (e) => this.pointerDown(e, track, clip));
    element.addEventListener("keydown", (e) => {
      if (e.key === "Enter") {
        e.preventDefault();
        e.stopPropagation();
        this.select(clip.id, e.shiftKey || e.ctrlKey || e.metaKey);
      }
    });
    return element;
  }

  /**
   * On empty timeline space: a click moves the playhead there and clears the selection; a drag
   * draws a box and selects the clips it touches (Shift adds to the selection).
   */
  marqueeSelect(event) {
    event.preventDefault();
    const selection = this.host.selection;
    const before = event.shiftKey ? new Set(selection) : new Set();
    const origin = this.content.getBoundingClientRect();
    const x0 = event.clientX - origin.left;
    const y0 = event.clientY - origin.top;
    let dragging = false;
    const move = (e) => {
      const x1 = e.clientX - origin.left;
      const y1 = e.clientY - origin.top;
      if (!dragging && Math.hypot(x1 - x0, y1 - y0) < 4) return;
      dragging = true;
      const box = { left: Math.min(x0, x1), top: Math.min(y0, y1), right: Math.max(x0, x1), bottom: Math.max(y0, y1) };
      Object.assign(this.marquee.style, { left: `${box.left}px`, top: `${box.top}px`, width: `${box.right - box.left}px`, height: `${box.bottom - box.top}px` });
      this.marquee.classList.remove("hidden");
      selection.clear();
      for (const id of before) selection.add(id);
      for (const element of this.rows.querySelectorAll(".tl-clip")) {
        const r = element.getBoundingClientRect();
        const left = r.left - origin.left;
        const top = r.top - origin.top;
        if (left < box.right && left + r.width > box.left && top < box.bottom && top + r.height > box.top) selection.add(element.dataset.clipId);
      }
      this.host.onSelect();
    };
    const up = (e) => {
      window.removeEventListener("pointermove", move);
      window.removeEventListener("pointerup", up);
      this.marquee.classList.add("hidden");
      if (!dragging) {
        if (!e.shiftKey) selection.clear();
        this.host.onSelect();
        this.host.seek(this.frameAtClientX(e.clientX));
      }
    };
    window.addEventListener("pointermove", move);
    window.addEventListener("pointerup", up);
  }

  select(clipId, additive) {
    const selection = this.host.selection;
    if (additive) {
      if (selection.has(clipId)) selection.delete(clipId);
      else selection.add(clipId);
    } else if (!selection.has(clipId) || selection.size > 1) {
      selection.clear();
      selection.add(clipId);
    }
    this.host.onSelect();
  }

  snapPoints(excluded) {
    const points = [0, this.host.playhead()];
    const timeline = this.host.timeline();
    for (const t of timeline.tracks) for (const c of t.clips) if (!excluded.has(c.id)) points.push(c.start, c.start + c.duration);
    for (const m of timeline.markers ?? []) points.push(m.frame);
    return points;
  }

  /** The snapped value of `frames` (candidates moved together by one delta). */
  snap(candidates, excluded) {
    if (!this.snapping) return { delta: 0, at: null };
    const limit = SNAP_PX / this.pxPerFrame;
    let best = null;
    for (const point of this.snapPoints(excluded)) {
      for (const candidate of candidates) {
        const d = point - candidate;
        if (Math.abs(d) <= limit && (best === null || Math.abs(d) < Math.abs(best.delta))) best = { delta: d, at: point };
      }
    }
    return best ?? { delta: 0, at: null };
  }

  showSnap(frame) {
    this.snapLine.classList.toggle("hidden", frame === null);
    if (frame !== null) this.snapLine.style.left = `${HEADER_WIDTH + frame * this.pxPerFrame}px`;
  }

  rowAt(clientY) {
    for (const row of this.rows.querySelectorAll(".tl-row")) {
      const r = row.getBoundingClientRect();
      if (clientY >= r.top && clientY < r.bottom) return row;
    }
    return null;
  }

  pointerDown(event, track, clip) {
    if (event.button !== 0) return;
    event.preventDefault();
    event.stopPropagation();
    const element = event.currentTarget;
    element.focus({ preventScroll: true });
    const edge = event.target.dataset?.edge;
    const additive = event.shiftKey || event.ctrlKey || event.metaKey;
    if (additive) {
      this.select(clip.id, true);
      return;
    }
    if (!this.host.selection.has(clip.id)) this.select(clip.id, false);
    const startX = event.clientX;
    const timeline = this.host.timeline();
    const moving = edge ? [clip] : timeline.tracks.flatMap((t) => t.clips).filter((c) => this.host.selection.has(c.id));
    const excluded = new Set(moving.map((c) => c.id));
    const elements = new Map(moving.map((c) => [c.id, this.rows.querySelector(`.tl-clip[data-clip-id="${c.id}"]`)]));
    let delta = 0;
    let targetRow = null;
    let dragged = false;
    element.setPointerCapture(event.pointerId);
    this.dragging = true;

    const move = (e) => {
      const raw = (e.clientX - startX) / this.pxPerFrame;
      if (!dragged && Math.abs(e.clientX - startX) < 3 && !edge) {
        const row = this.rowAt(e.clientY);
        if (!row || row.dataset.trackId === track.id) return;
      }
      dragged = true;
      if (edge === "start") {
        const frame = Math.round(clip.start + raw);
        const s = this.snap([frame], excluded);
        delta = Math.min(Math.max(frame + s.delta, 0), clip.start + clip.duration - 1) - clip.start;
        this.showSnap(s.at);
        element.style.left = `${(clip.start + delta) * this.pxPerFrame}px`;
        element.style.width = `${(clip.duration - delta) * this.pxPerFrame}px`;
      } else if (edge === "end") {
        const frame = Math.round(clip.start + clip.duration + raw);
        const s = this.snap([frame], excluded);
        delta = Math.max(frame + s.delta, clip.start + 1) - (clip.start + clip.duration);
        this.showSnap(s.at);
        element.style.width = `${(clip.duration + delta) * this.pxPerFrame}px`;
      } else {
        const rounded = Math.round(raw);
        const minStart = Math.min(...moving.map((c) => c.start));
        const s = this.snap(moving.flatMap((c) => [c.start + rounded, c.start + c.duration + rounded]), excluded);
        delta = Math.max(rounded + s.delta, -minStart);
        this.showSnap(s.at);
        for (const c of moving) {
          const el = elements.get(c.id);
          if (el) el.style.left = `${(c.start + delta) * this.pxPerFrame}px`;
        }
        if (moving.length === 1) {
          const row = this.rowAt(e.clientY);
          targetRow = row && row.dataset.trackId !== track.id && trackAccepts(row.dataset.kind, clip.source) ? row : null;
          for (const r of this.rows.querySelectorAll(".tl-row.drop-target")) r.classList.remove("drop-target");
          if (targetRow) {
            targetRow.classList.add("drop-target");
            element.style.transform = `translateY(${targetRow.getBoundingClientRect().top - element.closest(".tl-row").getBoundingClientRect().top}px)`;
          } else {
            element.style.transform = "";
          }
        }
      }
    };
    const up = () => {
      element.removeEventListener("pointermove", move);
      element.removeEventListener("pointerup", up);
      element.removeEventListener("pointercancel", up);
      this.dragging = false;
      this.showSnap(null);
      for (const r of this.rows.querySelectorAll(".tl-row.drop-target")) r.classList.remove("drop-target");
      if (!dragged || (delta === 0 && !targetRow)) {
        element.style.transform = "";
        if (this.renderAfterDrag) this.render();
        this.renderAfterDrag = false;
        return;
      }
      this.renderAfterDrag = false;
      let command;
      if (edge === "start") command = { type: "trim_clip", clip_id: clip.id, edge: "start", frame: clip.start + delta };
      else if (edge === "end") command = { type: "trim_clip", clip_id: clip.id, edge: "end", frame: clip.start + clip.duration + delta };
      else {
        const moves = moving
          .slice()
          .sort((a, b) => (delta > 0 ? b.start - a.start : a.start - b.start))
          .map((c) => {
            const m = { type: "move_clip", clip_id: c.id, start: c.start + delta };
            if (targetRow) m.track_id = targetRow.dataset.trackId;
            return m;
          });
        command = moves.length === 1 ? moves[0] : { type: "batch", commands: moves };
      }
      if (!this.host.edit(command)) this.render();
    };
    // An edit arriving mid-drag re-renders once the drag ends (see render()).
    element.addEventListener("pointermove", move);
    element.addEventListener("pointerup", up);
    element.addEventListener("pointercancel", up);
  }

  /** Drags the keyframes at one frame of a clip along it (`move_keyframe` for each). */
  keyframeDrag(event, clip, frame, ids, element) {
    if (event.button !== 0) return;
    event.preventDefault();
    event.stopPropagation();
    const startX = event.clientX;
    let target = frame;
    element.setPointerCapture(event.pointerId);
    this.dragging = true;
    const move = (e) => {
      target = Math.max(0, Math.min(clip.duration - 1, frame + Math.round((e.clientX - startX) / this.pxPerFrame)));
      element.style.left = `${target * this.pxPerFrame}px`;
      this.host.seek(clip.start + target);
    };
    const up = () => {
      element.removeEventListener("pointermove", move);
      element.removeEventListener("pointerup", up);
      element.removeEventListener("pointercancel", up);
      this.dragging = false;
      this.renderAfterDrag = false;
      if (target === frame) {
        this.render();
        return;
      }
      const moves = ids.map((id) => ({ type: "move_keyframe", clip_id: clip.id, keyframe_id: id, frame: target }));
      if (!this.host.edit(moves.length === 1 ? moves[0] : { type: "batch", commands: moves })) this.render();
    };
    element.addEventListener("pointermove", move);
    element.addEventListener("pointerup", up);
    element.addEventListener("pointercancel", up);
  }

  updatePlayhead() {
    const frame = this.host.playhead();
    this.playheadLine.style.left = `${HEADER_WIDTH + frame * this.pxPerFrame}px`;
    const code = this.ruler.querySelector(".tl-timecode");
    code.textContent = timecode(frame, this.host.fps());
  }

  /** Keeps the playhead in view while playing. */
  follow() {
    const x = this.host.playhead() * this.pxPerFrame;
    const left = this.scroll.scrollLeft;
    const width = this.scroll.clientWidth - HEADER_WIDTH;
    if (x < left || x > left + width - 20) this.scroll.scrollLeft = Math.max(0, x - width * 0.1);
  }

  /** Other members' playheads. */
  updateRemote() {
    const lines = [];
    for (const entry of this.host.members()) {
      const frame = entry.presence?.playhead;
      if (typeof frame !== "number") continue;
      const color = colorFor(entry.member.actor.id);
      lines.push(h("div", {
        class: "tl-remote-playhead",
        dataset: { connectionId: entry.member.connection_id },
        style: { left: `${HEADER_WIDTH + frame * this.pxPerFrame}px`, background: color },
        title: `${entry.member.name}'s playhead`,
      }, h("span", { style: { background: color } }, entry.member.name)));
    }
    this.remoteLayer.replaceChildren(...lines);
  }

  drawRuler() {
    const canvas = this.rulerCanvas;
    const width = Math.max(1, this.scroll.clientWidth - HEADER_WIDTH);
    const dpr = window.devicePixelRatio || 1;
    canvas.width = width * dpr;
    canvas.height = 28 * dpr;
    canvas.style.width = `${width}px`;
    canvas.style.left = `${this.scroll.scrollLeft}px`;
    const ctx = canvas.getContext("2d");
    ctx.scale(dpr, dpr);
    ctx.clearRect(0, 0, width, 28);
    const fps = this.host.fps();
    const steps = [1, 2, 5, 10, fps / 2, fps, fps * 2, fps * 5, fps * 10, fps * 30, fps * 60, fps * 300];
    const major = steps.find((s) => s * this.pxPerFrame >= 80) ?? steps[steps.length - 1];
    const minor = major / (major >= fps ? 5 : 2);
    const from = this.scroll.scrollLeft / this.pxPerFrame;
    const to = from + width / this.pxPerFrame;
    ctx.font = "10px system-ui, sans-serif";
    ctx.textBaseline = "top";
    for (let f = Math.floor(from / minor) * minor; f <= to; f += minor) {
      const x = Math.round((f - from) * this.pxPerFrame) + 0.5;
      const isMajor = Math.abs(f / major - Math.round(f / major)) < 1e-6;
      ctx.strokeStyle = isMajor ? "#8b90a0" : "#4a4f5c";
      ctx.beginPath();
      ctx.moveTo(x, isMajor ? 14 : 21);
      ctx.lineTo(x, 28);
      ctx.stroke();
      if (isMajor) {
        ctx.fillStyle = "#a9aebb";
        ctx.fillText(timecode(Math.round(f), fps).slice(3), x + 3, 3);
      }
    }
    for (const marker of this.host.timeline().markers ?? []) {
      const x = (marker.frame - from) * this.pxPerFrame;
      if (x < -6 || x > width + 6) continue;
      ctx.fillStyle = cssColor(marker.color) || "#ffc400";
      ctx.beginPath();
      ctx.moveTo(x, 16);
      ctx.lineTo(x + 5, 22);
      ctx.lineTo(x, 28);
      ctx.lineTo(x - 5, 22);
      ctx.fill();
    }
    const loop = this.host.loopRange?.();
    if (loop) {
      ctx.fillStyle = "rgba(80, 160, 255, 0.25)";
      ctx.fillRect((loop.in - from) * this.pxPerFrame, 0, (loop.out - loop.in) * this.pxPerFrame, 6);
    }
  }
}
