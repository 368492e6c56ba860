// Seeded randomness and random timeline commands for the room's randomised tests and benchmark.
import { idMaker } from "./room-client.mjs";

/** mulberry32: a small, fast, seedable PRNG with helpers. */
export function rng(seed) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const random = {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
    /** Picks a key of `{name: weight}`. */
    weighted: (weights) => {
      const total = Object.values(weights).reduce((a, b) => a + b, 0);
      let r = next() * total;
      for (const [key, weight] of Object.entries(weights)) {
        r -= weight;
        if (r < 0) return key;
      }
      return Object.keys(weights).at(-1);
    },
  };
  return random;
}

const color = (random) => ({ r: random.int(0, 255), g: random.int(0, 255), b: random.int(0, 255), a: 255 });

/**
 * Random commands for one client. `view()` returns the client's current idea of the timeline
 * (its replica); commands name ids from it, so most apply, while concurrent edits by others make
 * a fair share conflict (a moved clip now overlaps, a removed clip is gone…).
 */
export function commandSource(random, namespace) {
  const newId = idMaker(namespace);
  const known = { tracks: [], clips: [], markers: [], keyframes: [] };

  function facts(timeline) {
    const tracks = timeline.tracks ?? [];
    const clips = [];
    const keyframes = [];
    for (const track of tracks) {
      for (const clip of track.clips ?? []) {
        clips.push({ ...clip, track_id: track.id, track_kind: track.kind });
        if (clip.opacity && typeof clip.opacity === "object") {
          for (const kf of clip.opacity.keyframes ?? []) keyframes.push({ clip_id: clip.id, ...kf });
        }
      }
    }
    return { tracks, clips, markers: timeline.markers ?? [], keyframes };
  }

  /** An id seen now, or (sometimes) one this client saw earlier that may be gone. */
  function choose(list, stale) {
    if ((list.length === 0 || random.chance(0.05)) && stale.length > 0) return random.pick(stale);
    return list.length ? random.pick(list) : undefined;
  }

  function one(timeline) {
    const { tracks, clips, markers, keyframes } = facts(timeline);
    for (const t of tracks) if (!known.tracks.includes(t.id)) known.tracks.push(t.id);
    for (const c of clips) if (!known.clips.includes(c.id)) known.clips.push(c.id);
    for (const m of markers) if (!known.markers.includes(m.id)) known.markers.push(m.id);
    const visual = tracks.filter((t) => t.kind === "video" || t.kind === "overlay");
    const kind = random.weighted({
      add_track: tracks.length < 3 ? 6 : tracks.length < 8 ? 1 : 0.1,
      remove_track: tracks.length > 4 ? 0.5 : 0.05,
      reorder_track: 1,
      set_track_properties: 2,
      add_clip: 12,
      move_clip: 12,
      trim_clip: 6,
      split_clip: 4,
      duplicate_clip: 3,
      remove_clip: clips.length > 20 ? 6 : 2,
      set_clip_param: 5,
      add_keyframe: 4,
      move_keyframe: 2,
      update_keyframe: 2,
      remove_keyframe: 1.5,
      add_marker: markers.length < 30 ? 3 : 0.3,
      move_marker: 2,
      update_marker: 1,
      remove_marker: markers.length > 10 ? 2 : 0.5,
    });
    const clip = () => choose(clips, []);
    const clipId = () => {
      const c = choose(clips, known.clips);
      return typeof c === "string" ? c : c?.id ?? newId("clp");
    };
    const trackId = () => {
      const t = choose(visual, known.tracks);
      return typeof t === "string" ? t : t?.id ?? newId("trk");
    };
    const markerId = () => {
      const m = choose(markers, known.markers);
      return typeof m === "string" ? m : m?.id ?? newId("mrk");
    };
    switch (kind) {
      case "add_track":
        return { type: "add_track", track: { id: newId("trk"), kind: random.chance(0.8) ? "video" : "overlay", allow_overlap: random.chance(0.2) } };
      case "remove_track":
        return { type: "remove_track", track_id: trackId() };
      case "reorder_track":
        return { type: "reorder_track", track_id: trackId(), index: random.int(0, Math.max(0, tracks.length - 1)) };
      case "set_track_properties": {
        const cmd = { type: "set_track_properties", track_id: trackId() };
        const what = random.int(0, 4);
        if (what === 0) cmd.name = `track ${random.int(0, 999)}`;
        else if (what === 1) cmd.muted = random.chance(0.5);
        else if (what === 2) cmd.hidden = random.chance(0.3);
        else if (what === 3) cmd.opacity = Math.round(random.next() * 100) / 100;
        else cmd.locked = random.chance(0.15); // a locked track refuses edits until unlocked
        return cmd;
      }
      case "add_clip":
        return {
          type: "add_clip",
          track_id: trackId(),
          clip: { id: newId("clp"), start: random.int(0, 600), duration: random.int(1, 90), source: { type: "solid", color: color(random) } },
        };
      case "move_clip": {
        const cmd = { type: "move_clip", clip_id: clipId(), start: random.int(0, 700) };
        if (random.chance(0.2)) cmd.track_id = trackId();
        return cmd;
      }
      case "trim_clip": {
        const c = clip();
        if (!c) return { type: "trim_clip", clip_id: clipId(), edge: "end", frame: random.int(1, 700) };
        const edge = random.chance(0.5) ? "start" : "end";
        const frame = edge === "start" ? Math.max(0, c.start + random.int(-20, c.duration - 1)) : c.start + random.int(1, c.duration + 30);
        return { type: "trim_clip", clip_id: c.id, edge, frame };
      }
      case "split_clip": {
        const c = clip();
        const frame = c ? c.start + random.int(1, Math.max(1, c.duration - 1)) : random.int(1, 600);
        return { type: "split_clip", clip_id: c?.id ?? clipId(), frame, new_clip_id: newId("clp") };
      }
      case "duplicate_clip": {
        const cmd = { type: "duplicate_clip", clip_id: clipId(), new_clip_id: newId("clp") };
        if (random.chance(0.5)) cmd.start = random.int(0, 800);
        return cmd;
      }
      case "remove_clip":
        return { type: "remove_clip", clip_id: clipId() };
      case "set_clip_param":
        return random.chance(0.5)
          ? { type: "set_clip_param", clip_id: clipId(), property: "opacity", value: Math.round(random.next() * 1000) / 1000 }
          : { type: "set_clip_param", clip_id: clipId(), property: "position_x", value: random.int(-500, 500) };
      case "add_keyframe":
        return {
          type: "add_keyframe",
          clip_id: clipId(),
          property: "opacity",
          keyframe: { id: newId("kf"), frame: random.int(-5, 60), value: Math.round(random.next() * 100) / 100, easing: { type: random.pick(["linear", "hold", "ease_in_out"]) } },
        };
      case "move_keyframe": {
        const k = choose(keyframes, []);
        return { type: "move_keyframe", clip_id: k?.clip_id ?? clipId(), keyframe_id: k?.id ?? newId("kf"), frame: random.int(-5, 60) };
      }
      case "update_keyframe": {
        const k = choose(keyframes, []);
        return { type: "update_keyframe", clip_id: k?.clip_id ?? clipId(), keyframe_id: k?.id ?? newId("kf"), value: Math.round(random.next() * 100) / 100 };
      }
      case "remove_keyframe": {
        const k = choose(keyframes, []);
        return { type: "remove_keyframe", clip_id: k?.clip_id ?? clipId(), keyframe_id: k?.id ?? newId("kf") };
      }
      case "add_marker":
        return { type: "add_marker", marker: { id: newId("mrk"), frame: random.int(0, 900), label: `m${random.int(0, 99)}`, color: color(random) } };
      case "move_marker":
        return { type: "move_marker", marker_id: markerId(), frame: random.int(0, 900) };
      case "update_marker":
        return { type: "update_marker", marker_id: markerId(), label: `m${random.int(0, 999)}` };
      case "remove_marker":
        return { type: "remove_marker", marker_id: markerId() };
      default:
        throw new Error(`unknown kind ${kind}`);
    }
  }

  return {
    newId,
    /** One random command against `timeline`; now and then an atomic batch of 2–4. */
    next(timeline) {
      if (random.chance(0.08)) {
        const commands = [];
        const count = random.int(2, 4);
        for (let i = 0; i < count; i++) commands.push(one(timeline));
        return { type: "batch", commands };
      }
      return one(timeline);
    },
  };
}
