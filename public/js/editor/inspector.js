// The inspector: the selected clip's properties, keyframes (add at the playhead, move, easing),
// effects and the transition into the next clip. Every change is an editor-core command.
import { h } from "../dom.js";
import { newId } from "../ids.js";

const PROPERTIES = [
  { property: "position_x", label: "Position X", path: ["transform", "position_x"], step: 1 },
  { property: "position_y", label: "Position Y", path: ["transform", "position_y"], step: 1 },
  { property: "scale_x", label: "Scale X", path: ["transform", "scale_x"], step: 0.01, fallback: 1 },
  { property: "scale_y", label: "Scale Y", path: ["transform", "scale_y"], step: 0.01, fallback: 1 },
  { property: "rotation", label: "Rotation °", path: ["transform", "rotation"], step: 1 },
  { property: "opacity", label: "Opacity", path: ["opacity"], step: 0.01, min: 0, max: 1, fallback: 1 },
];

const EASINGS = ["linear", "hold", "ease", "ease_in", "ease_out", "ease_in_out"];
const BLEND_MODES = ["normal", "multiply", "screen", "overlay", "darken", "lighten", "color_dodge", "color_burn", "hard_light", "soft_light", "difference", "exclusion", "hue", "saturation", "color", "luminosity"];

const EFFECTS = {
  gaussian_blur: { label: "Gaussian blur", make: () => ({ type: "gaussian_blur", radius: 8 }) },
  box_blur: { label: "Box blur", make: () => ({ type: "box_blur", radius: 4 }) },
  color_adjust: { label: "Colour adjust", make: () => ({ type: "color_adjust", brightness: 0, contrast: 1, saturation: 1, hue: 0 }) },
  tint: { label: "Tint", make: () => ({ type: "tint", color: { r: 255, g: 170, b: 60, a: 255 }, amount: 0.5 }) },
  drop_shadow: { label: "Drop shadow", make: () => ({ type: "drop_shadow", offset_x: 8, offset_y: 8, blur: 10, color: { r: 0, g: 0, b: 0, a: 200 }, opacity: 1 }) },
};

const TRANSITIONS = {
  crossfade: () => ({ type: "crossfade" }),
  dip_to_color: () => ({ type: "dip_to_color", color: { r: 0, g: 0, b: 0, a: 255 } }),
  wipe: () => ({ type: "wipe", direction: "left" }),
  slide: () => ({ type: "slide", direction: "left" }),
  push: () => ({ type: "push", direction: "left" }),
};

/** A parameter's parts whether stored as a number or `{value, keyframes}`. */
export function paramParts(param, fallback = 0) {
  if (param === undefined || param === null) return { value: fallback, keyframes: [] };
  if (typeof param === "number") return { value: param, keyframes: [] };
  return { value: param.value, keyframes: param.keyframes ?? [] };
}

/** Linear reading of a parameter at a clip-relative frame (for display; the engine eases). */
export function valueAt(param, frame, fallback = 0) {
  const { value, keyframes } = paramParts(param, fallback);
  if (!keyframes.length) return value;
  if (frame <= keyframes[0].frame) return keyframes[0].value;
  const last = keyframes[keyframes.length - 1];
  if (frame >= last.frame) return last.value;
  for (let i = 0; i < keyframes.length - 1; i++) {
    const a = keyframes[i];
    const b = keyframes[i + 1];
    if (frame >= a.frame && frame <= b.frame) {
      if (a.easing === "hold" || a.easing?.type === "hold") return a.value;
      return a.value + ((b.value - a.value) * (frame - a.frame)) / (b.frame - a.frame);
    }
  }
  return value;
}

function colorToHex(c) {
  const x = (n) => n.toString(16).padStart(2, "0");
  return c ? `#${x(c.r)}${x(c.g)}${x(c.b)}` : "#000000";
}

function hexToColor(hex, alpha = 255) {
  const n = parseInt(hex.slice(1), 16);
  return { r: (n >> 16) & 255, g: (n >> 8) & 255, b: n & 255, a: alpha };
}

function easingName(easing) {
  return typeof easing === "string" ? easing : easing?.type ?? "linear";
}

export class Inspector {
  constructor(editor) {
    this.editor = editor;
    this.element = h("div", { class: "inspector" });
    // A change arriving while someone types in a field is shown once they leave it.
    this.element.addEventListener("focusout", () => {
      setTimeout(() => {
        if (this.stale && !this.typing()) this.render();
      }, 0);
    });
  }

  /** Whether a field of the inspector has the keyboard. */
  typing() {
    const active = document.activeElement;
    return !!active && this.element.contains(active) && active.matches("input, textarea, select");
  }

  field(label, input, extra) {
    return h("label", { class: "field" }, h("span", {}, label), input, extra ?? null);
  }

  edit(command) {
    return this.editor.edit(command);
  }

  /** Refreshes the numbers that depend on the playhead (cheap: re-render when a clip is shown). */
  playheadMoved() {
    if (this.clipId && !this.editor.playing && !this.element.contains(document.activeElement)) this.render();
  }

  render() {
    const editor = this.editor;
    const selected = editor.selectedClips();
    if (this.typing() && selected.length === 1 && selected[0].clip.id === this.clipId) {
      this.stale = true;
      return;
    }
    this.stale = false;
    if (selected.length !== 1) {
      this.clipId = null;
      const settings = editor.timeline().settings;
      this.element.replaceChildren(
        h("h3", {}, selected.length ? `${selected.length} clips selected` : "Project"),
        h("p", { class: "muted" }, selected.length ? "Select one clip to edit its properties." : "Select a clip on the timeline to edit its properties, keyframes, effects and transition."),
        h("dl", { class: "facts" },
          h("dt", {}, "Format"), h("dd", {}, `${settings.width}×${settings.height}`),
          h("dt", {}, "Frame rate"), h("dd", {}, `${+(settings.frame_rate.num / settings.frame_rate.den).toFixed(3)} fps`),
          h("dt", {}, "Duration"), h("dd", {}, `${editor.duration()} frames`),
          h("dt", {}, "Tracks"), h("dd", {}, String(editor.timeline().tracks.length))),
        h("div", { class: "row" },
          this.field("Background", h("input", { type: "color", value: colorToHex(settings.background), onchange: (e) => this.edit({ type: "set_project_settings", background: hexToColor(e.target.value) }) })),
          this.field("Frame rate", h("select", { onchange: (e) => { const [num, den] = e.target.value.split("/").map(Number); this.edit({ type: "set_project_settings", frame_rate: { num, den } }); } },
            [[24, 1], [24000, 1001], [25, 1], [30, 1], [30000, 1001], [50, 1], [60, 1]].map(([num, den]) => h("option", { value: `${num}/${den}`, selected: settings.frame_rate.num * den === num * settings.frame_rate.den }, `${+(num / den).toFixed(3)} fps`))))),
        this.markersSection() ?? "",
      );
      return;
    }
    const { track, clip } = selected[0];
    this.clipId = clip.id;
    const relative = editor.playhead - clip.start;
    const inside = relative >= 0 && relative < clip.duration;
    const sections = [];

    const name = h("input", { type: "text", value: clip.name ?? "", placeholder: "Clip name", onchange: (e) => this.edit({ type: "set_clip_properties", clip_id: clip.id, name: e.target.value }) });
    const start = h("input", { type: "number", min: 0, step: 1, value: clip.start, onchange: (e) => this.edit({ type: "move_clip", clip_id: clip.id, start: Math.max(0, Math.round(Number(e.target.value))) }) });
    const duration = h("input", { type: "number", min: 1, step: 1, value: clip.duration, onchange: (e) => this.edit({ type: "trim_clip", clip_id: clip.id, edge: "end", frame: clip.start + Math.max(1, Math.round(Number(e.target.value))) }) });
    sections.push(h("h3", {}, "Clip"),
      this.field("Name", name),
      h("div", { class: "row" }, this.field("Start", start), this.field("Duration", duration)),
      h("p", { class: "muted small" }, `On ${track.name || track.kind} · ${clip.source.type.replace(/_/g, " ")}`));
    sections.push(...this.sourceFields(clip));

    const blend = h("select", { onchange: (e) => this.edit({ type: "set_clip_properties", clip_id: clip.id, blend_mode: e.target.value }) },
      BLEND_MODES.map((m) => h("option", { value: m, selected: (clip.blend_mode ?? "normal") === m }, m.replace(/_/g, " "))));
    sections.push(this.field("Blend mode", blend));

    // Animatable properties.
    sections.push(h("h3", {}, "Transform & opacity", h("span", { class: "muted small" }, inside ? ` · frame ${relative} of clip` : " · playhead outside clip")));
    for (const spec of PROPERTIES) sections.push(this.propertyRow(clip, spec, relative, inside));

    // Keyframes.
    const keyRows = [];
    for (const spec of PROPERTIES) {
      const param = spec.path.reduce((o, k) => o?.[k], clip);
      for (const key of paramParts(param, spec.fallback).keyframes) keyRows.push(this.keyframeRow(clip, spec, key));
    }
    sections.push(h("h3", {}, "Keyframes"), keyRows.length ? h("ul", { class: "keyframes", "aria-label": "Keyframes" }, keyRows) : h("p", { class: "muted small" }, "Add one with ◆ next to a property: it is set at the playhead."));

    sections.push(...this.effectsSection(clip));
    sections.push(...this.transitionSection(track, clip));
    this.element.replaceChildren(...sections.filter(Boolean));
  }

  propertyRow(clip, spec, relative, inside) {
    const param = spec.path.reduce((o, k) => o?.[k], clip);
    const { keyframes } = paramParts(param, spec.fallback);
    const animated = keyframes.length > 0;
    const value = valueAt(param, relative, spec.fallback);
    const atPlayhead = keyframes.find((k) => k.frame === relative);
    const input = h("input", {
      type: "number", step: spec.step, min: spec.min, max: spec.max, value: +value.toFixed(4),
      "aria-label": spec.label,
      dataset: { property: spec.property },
      onchange: (e) => {
        const v = Number(e.target.value);
        if (!Number.isFinite(v)) return;
        if (!animated) this.edit({ type: "set_clip_param", clip_id: clip.id, property: spec.property, value: v });
        else if (atPlayhead) this.edit({ type: "update_keyframe", clip_id: clip.id, keyframe_id: atPlayhead.id, value: v });
        else if (inside) this.edit({ type: "add_keyframe", clip_id: clip.id, property: spec.property, keyframe: { id: newId("kf"), frame: relative, value: v } });
      },
    });
    const key = h("button", {
      type: "button",
      class: `key-button${atPlayhead ? " on" : animated ? " animated" : ""}`,
      title: atPlayhead ? "Remove the keyframe at the playhead" : "Add a keyframe at the playhead",
      "aria-label": `${atPlayhead ? "Remove" : "Add"} ${spec.label} keyframe at the playhead`,
      dataset: { keyframeProperty: spec.property },
      disabled: !inside,
      onclick: () => {
        if (atPlayhead) this.edit({ type: "remove_keyframe", clip_id: clip.id, keyframe_id: atPlayhead.id });
        else this.edit({ type: "add_keyframe", clip_id: clip.id, property: spec.property, keyframe: { id: newId("kf"), frame: relative, value } });
      },
    }, "◆");
    return h("div", { class: "prop-row" }, h("span", { class: "prop-label" }, spec.label), input, key);
  }

  keyframeRow(clip, spec, key) {
    const frame = h("input", { type: "number", step: 1, value: key.frame, "aria-label": `${spec.label} keyframe frame`, onchange: (e) => this.edit({ type: "move_keyframe", clip_id: clip.id, keyframe_id: key.id, frame: Math.round(Number(e.target.value)) }) });
    const value = h("input", { type: "number", step: spec.step, value: key.value, "aria-label": `${spec.label} keyframe value`, onchange: (e) => this.edit({ type: "update_keyframe", clip_id: clip.id, keyframe_id: key.id, value: Number(e.target.value) }) });
    const easing = h("select", { "aria-label": `${spec.label} keyframe easing`, onchange: (e) => this.edit({ type: "update_keyframe", clip_id: clip.id, keyframe_id: key.id, easing: { type: e.target.value } }) },
      EASINGS.map((name) => h("option", { value: name, selected: easingName(key.easing) === name }, name.replace(/_/g, " "))));
    return h("li", { class: "keyframe", dataset: { keyframeId: key.id } },
      h("button", { type: "button", class: "ghost small", title: "Go to this keyframe", onclick: () => this.editor.seek(clip.start + key.frame) }, `◆ ${spec.label}`),
      frame, value, easing,
      h("button", { type: "button", class: "ghost small danger", "aria-label": "Remove keyframe", onclick: () => this.edit({ type: "remove_keyframe", clip_id: clip.id, keyframe_id: key.id }) }, "✕"));
  }

  sourceFields(clip) {
    const s = clip.source;
    const set = (source) => this.edit({ type: "set_clip_properties", clip_id: clip.id, source });
    if (s.type === "solid") {
      return [this.field("Colour", h("input", { type: "color", value: colorToHex(s.color), onchange: (e) => set({ ...s, color: hexToColor(e.target.value, s.color.a) }) }))];
    }
    if (s.type === "text") {
      return [
        this.field("Text", h("textarea", { rows: 2, onchange: (e) => set({ ...s, text: e.target.value || " " }) }, s.text)),
        h("div", { class: "row" },
          this.field("Size", h("input", { type: "number", min: 1, step: 1, value: s.font_size, onchange: (e) => set({ ...s, font_size: Math.max(1, Number(e.target.value)) }) })),
          this.field("Colour", h("input", { type: "color", value: colorToHex(s.color), onchange: (e) => set({ ...s, color: hexToColor(e.target.value, s.color.a) }) })),
          this.field("Bold", h("input", { type: "checkbox", checked: s.bold, onchange: (e) => set({ ...s, bold: e.target.checked }) }))),
      ];
    }
    if (s.type === "shape") {
      return [this.field("Fill", h("input", { type: "color", value: colorToHex(s.fill), onchange: (e) => set({ ...s, fill: hexToColor(e.target.value, s.fill?.a ?? 255) }) }))];
    }
    if (s.type === "image") {
      return [this.field("Fit", h("select", { onchange: (e) => set({ ...s, fit: e.target.value }) }, ["contain", "cover", "stretch", "native"].map((f) => h("option", { value: f, selected: (s.fit ?? "native") === f }, f))))];
    }
    return [];
  }

  effectsSection(clip) {
    const rows = (clip.effects ?? []).map((effect) => {
      const params = Object.entries(effect.kind).filter(([k, v]) => k !== "type" && (typeof v === "number" || (v && typeof v === "object" && "value" in v)));
      return h("li", { class: "effect", dataset: { effectId: effect.id } },
        h("div", { class: "effect-head" },
          h("label", { class: "check" }, h("input", { type: "checkbox", checked: effect.enabled !== false, onchange: (e) => this.edit({ type: "configure_effect", clip_id: clip.id, effect_id: effect.id, enabled: e.target.checked }) }), EFFECTS[effect.kind.type]?.label ?? effect.kind.type),
          h("button", { type: "button", class: "ghost small danger", "aria-label": "Remove effect", onclick: () => this.edit({ type: "remove_effect", clip_id: clip.id, effect_id: effect.id }) }, "✕")),
        params.map(([name, param]) => h("div", { class: "prop-row" }, h("span", { class: "prop-label" }, name.replace(/_/g, " ")),
          h("input", { type: "number", step: 0.1, value: paramParts(param).value, "aria-label": `${effect.kind.type} ${name}`, onchange: (e) => this.edit({ type: "set_clip_param", clip_id: clip.id, property: { effect: { effect_id: effect.id, param: name } }, value: Number(e.target.value) }) }))));
    });
    const add = h("select", { "aria-label": "Add an effect", onchange: (e) => {
      const kind = EFFECTS[e.target.value];
      e.target.value = "";
      if (kind) this.edit({ type: "add_effect", clip_id: clip.id, effect: { id: newId("fx"), kind: kind.make() } });
    } }, h("option", { value: "" }, "+ Add effect…"), Object.entries(EFFECTS).map(([k, v]) => h("option", { value: k }, v.label)));
    return [h("h3", {}, "Effects"), rows.length ? h("ul", { class: "effects" }, rows) : null, add];
  }

  transitionSection(track, clip) {
    const next = track.clips.find((c) => c.start === clip.start + clip.duration);
    const current = clip.transition;
    const kind = h("select", { "aria-label": "Transition into the next clip", disabled: !next && !current }, h("option", { value: "" }, "None"),
      Object.keys(TRANSITIONS).map((k) => h("option", { value: k, selected: current?.kind.type === k }, k.replace(/_/g, " "))));
    const duration = h("input", { type: "number", min: 1, step: 1, value: current?.duration ?? Math.round(this.editor.fps() / 2), "aria-label": "Transition length in frames", disabled: !next && !current });
    const easing = h("select", { "aria-label": "Transition easing", disabled: !next && !current }, EASINGS.filter((e) => e !== "hold").map((e) => h("option", { value: e, selected: easingName(current?.easing) === e }, e.replace(/_/g, " "))));
    const apply = () => {
      if (!kind.value) {
        if (current) this.edit({ type: "remove_transition", clip_id: clip.id });
        return;
      }
      this.edit({ type: "set_transition", clip_id: clip.id, transition: { kind: TRANSITIONS[kind.value](), duration: Math.max(1, Math.round(Number(duration.value))), easing: { type: easing.value } } });
    };
    kind.addEventListener("change", apply);
    duration.addEventListener("change", apply);
    easing.addEventListener("change", apply);
    return [h("h3", {}, "Transition"),
      next || current ? h("div", { class: "row" }, this.field("Type", kind), this.field("Frames", duration), this.field("Easing", easing)) : h("p", { class: "muted small" }, "Place a clip right after this one on the same track to add a transition.")];
  }

  markersSection() {
    const markers = this.editor.timeline().markers ?? [];
    if (!markers.length) return null;
    return h("div", {}, h("h3", {}, "Markers"), h("ul", { class: "markers" }, markers.map((m) => h("li", {},
      h("button", { type: "button", class: "ghost small", onclick: () => this.editor.seek(m.frame) }, `◆ ${m.label || m.frame}`),
      h("button", { type: "button", class: "ghost small danger", "aria-label": `Remove marker ${m.label}`, onclick: () => this.edit({ type: "remove_marker", marker_id: m.id }) }, "✕")))));
  }
}
