// Side panels of the editor: create (titles, colours, shapes), media (upload with progress,
// search, thumbnails, drag onto the timeline), comments (threads pinned to clips and frame
// ranges), the export dialog (render jobs with live progress) and the image loader that feeds
// asset pixels to the preview engine.
import { get, post, sendWithProgress } from "../api.js";
import { h, toast, modal, timecode, colorFor, initials } from "../dom.js";
import { icon } from "../icons.js";

// ------------------------------------------------------------------ create

export class CreatePanel {
  constructor(editor) {
    this.editor = editor;
    const item = (icon, label, hint, make) => h("button", {
      type: "button", class: "create-item", dataset: { create: label.toLowerCase().replace(/\W+/g, "-") },
      title: hint, onclick: () => {
        const { source, name, transform } = make(editor.timeline().settings);
        editor.addClip(source, { name, transform });
      },
    }, h("span", { class: "create-icon", "aria-hidden": "true" }, icon), h("span", {}, label));
    this.element = h("div", { class: "create" },
      h("p", { class: "muted small" }, "Adds a 5-second clip at the playhead."),
      h("div", { class: "create-grid" },
        item("T", "Title", "A bold white title", (s) => ({ name: "Title", source: { type: "text", text: "Your title", font_size: Math.round(s.height / 9), color: { r: 255, g: 255, b: 255, a: 255 }, bold: true, align: "center", box_width: Math.round(s.width * 0.8) }, transform: { position_x: Math.round(s.width * 0.1), position_y: Math.round(s.height * 0.42) } })),
        item("¶", "Caption", "A smaller caption", (s) => ({ name: "Caption", source: { type: "text", text: "Caption", font_size: Math.round(s.height / 20), color: { r: 255, g: 255, b: 255, a: 255 }, align: "center", box_width: Math.round(s.width * 0.8) }, transform: { position_x: Math.round(s.width * 0.1), position_y: Math.round(s.height * 0.8) } })),
        item("■", "Colour", "A full-frame colour", () => ({ name: "Colour", source: { type: "solid", color: { r: 38, g: 99, b: 235, a: 255 } } })),
        item("▭", "Rectangle", "A rounded rectangle", (s) => ({ name: "Rectangle", source: { type: "shape", shape: { type: "rounded_rect", width: Math.round(s.width * 0.4), height: Math.round(s.height * 0.3), radius: Math.round(s.height * 0.03) }, fill: { r: 245, g: 158, b: 11, a: 255 } }, transform: { position_x: Math.round(s.width * 0.3), position_y: Math.round(s.height * 0.35) } })),
        item("●", "Ellipse", "An ellipse", (s) => ({ name: "Ellipse", source: { type: "shape", shape: { type: "ellipse", width: Math.round(s.height * 0.4), height: Math.round(s.height * 0.4) }, fill: { r: 236, g: 72, b: 153, a: 255 } }, transform: { position_x: Math.round(s.width / 2 - s.height * 0.2), position_y: Math.round(s.height * 0.3) } })),
        item("◐", "Gradient", "A full-frame gradient", (s) => ({ name: "Gradient", source: { type: "linear_gradient", start: { x: 0, y: 0 }, end: { x: Math.round(s.width), y: Math.round(s.height) }, stops: [{ offset: 0, color: { r: 76, g: 29, b: 149, a: 255 } }, { offset: 1, color: { r: 14, g: 165, b: 233, a: 255 } }] } })),
      ));
  }
}

// ------------------------------------------------------------------ images for the preview

/** Fetches and decodes (in wasm) the images the timeline refers to. */
export class ImageLoader {
  constructor(view, onLoaded) {
    this.view = view;
    this.onLoaded = onLoaded;
    this.state = new Map();
  }

  want(assetId) {
    if (this.state.has(assetId)) return;
    this.state.set(assetId, "loading");
    fetch(`/v1/assets/${assetId}/content`, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.arrayBuffer() : Promise.reject(new Error(String(r.status)))))
      .then((bytes) => {
        this.view.registerImageEncoded(assetId, new Uint8Array(bytes));
        this.state.set(assetId, "ready");
        this.onLoaded();
      })
      .catch(() => {
        this.state.set(assetId, "failed");
        setTimeout(() => this.state.delete(assetId), 10_000);
      });
  }

  sync(timeline) {
    for (const track of timeline.tracks) {
      for (const clip of track.clips) {
        const s = clip.source;
        if (s.type === "image" || s.type === "image_sequence") this.want(s.asset_id);
        for (const e of clip.effects ?? []) if (e.kind?.mask?.asset_id) this.want(e.kind.mask.asset_id);
      }
    }
  }
}

// ------------------------------------------------------------------ media

const MULTIPART_ABOVE = 8 * 1024 * 1024;

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export class AssetsPanel {
  constructor(editor) {
    this.editor = editor;
    this.orgId = editor.orgId;
    this.search = h("input", { type: "search", placeholder: "Search media", "aria-label": "Search media", oninput: () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => this.load(), 250);
    } });
    this.fileInput = h("input", { type: "file", multiple: true, accept: "image/*,audio/*,video/*", class: "sr-only", "aria-label": "Choose files to upload", onchange: (e) => this.upload([...e.target.files]) });
    this.uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });
    this.list = h("ul", { class: "asset-grid", "aria-label": "Media" });
    this.drop = h("div", { class: "dropzone", tabindex: "0", role: "button", "aria-label": "Upload media: drop files here or press Enter to choose",
      onclick: () => this.fileInput.click(),
      onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); this.fileInput.click(); } },
    }, h("strong", {}, "Drop files to upload"), h("span", { class: "muted small" }, "or click to choose · images, audio, video"));
    for (const type of ["dragenter", "dragover"]) this.drop.addEventListener(type, (e) => {
      if (!e.dataTransfer.types.includes("Files")) return;
      e.preventDefault();
      this.drop.classList.add("over");
    });
    this.drop.addEventListener("dragleave", () => this.drop.classList.remove("over"));
    this.drop.addEventListener("drop", (e) => {
      e.preventDefault();
      this.drop.classList.remove("over");
      this.upload([...e.dataTransfer.files]);
    });
    this.element = h("div", { class: "assets" }, this.drop, this.fileInput, this.uploads, this.search, this.list);
  }

  async load() {
    const q = this.search.value.trim();
    try {
      const page = await get(`/v1/orgs/${this.orgId}/assets?limit=60${q ? `&q=${encodeURIComponent(q)}` : ""}`, { quiet401: true });
      this.render(page.items ?? []);
    } catch (e) {
      this.list.replaceChildren(h("li", { class: "muted small" }, e.status === 404 ? "The media library isn't available yet." : e.message));
    }
  }

  render(items) {
    if (!items.length) {
      this.list.replaceChildren(h("li", { class: "muted small" }, this.search.value ? "No media matches your search." : "No media yet. Upload images to use them in your edit."));
      return;
    }
    this.list.replaceChildren(...items.map((asset) => this.assetItem(asset)));
  }

  assetItem(asset) {
    const thumb = h("img", { alt: "", loading: "lazy", draggable: "false" });
    let tries = 0;
    const showThumb = () => { thumb.src = `/v1/assets/${asset.id}/thumbnail${tries ? `?t=${tries}` : ""}`; };
    thumb.addEventListener("error", () => {
      tries += 1;
      if (tries < 6) setTimeout(showThumb, 1500 * tries);
      else thumb.replaceWith(h("span", { class: "asset-icon" }, asset.kind === "audio" ? "♪" : "▣"));
    });
    showThumb();
    const item = h("li", {
      class: "asset", draggable: "true", tabindex: "0", dataset: { assetId: asset.id },
      title: `${asset.name} · ${asset.kind}${asset.width ? ` · ${asset.width}×${asset.height}` : ""} · ${formatBytes(asset.bytes)}`,
      "aria-label": `${asset.name}: drag onto the timeline, or press Enter to place at the playhead`,
      ondragstart: (e) => {
        e.dataTransfer.setData("application/x-creator-asset", JSON.stringify(asset));
        e.dataTransfer.effectAllowed = "copy";
      },
      ondblclick: () => this.editor.placeAsset(asset),
      onkeydown: (e) => { if (e.key === "Enter") this.editor.placeAsset(asset); },
    }, h("div", { class: "asset-thumb" }, thumb), h("div", { class: "asset-name" }, asset.name));
    return item;
  }

  async upload(files) {
    for (const file of files) {
      const bar = h("progress", { max: 100, value: 0, "aria-label": `Uploading ${file.name}` });
      const label = h("span", { class: "small" }, `${file.name} · ${formatBytes(file.size)}`);
      const row = h("li", { class: "upload" }, label, bar);
      this.uploads.append(row);
      try {
        const asset = file.size > MULTIPART_ABOVE ? await this.multipart(file, bar) : await this.single(file, bar);
        bar.value = 100;
        row.classList.add("done");
        label.textContent = `${file.name} · uploaded`;
        setTimeout(() => row.remove(), 2500);
        toast(asset?.duplicate ? `${file.name} was already in your library` : `${file.name} uploaded`, "success");
      } catch (e) {
        row.classList.add("failed");
        label.textContent = `${file.name}: ${e.message}`;
        setTimeout(() => row.remove(), 8000);
      }
    }
    this.load();
  }

  async single(file, bar) {
    const answer = await sendWithProgress("POST", `/v1/orgs/${this.orgId}/assets?name=${encodeURIComponent(file.name)}`, file, (sent, total) => {
      bar.value = total ? Math.round((sent / total) * 99) : 0;
    });
    return { ...answer.asset, duplicate: answer.duplicate };
  }

  async multipart(file, bar) {
    const { upload } = await post(`/v1/orgs/${this.orgId}/uploads`, { name: file.name, bytes: file.size });
    const partSize = upload.part_size;
    const parts = Math.ceil(file.size / partSize);
    let done = 0;
    for (let n = 1; n <= parts; n++) {
      const blob = file.slice((n - 1) * partSize, Math.min(file.size, n * partSize));
      await sendWithProgress("PUT", `/v1/uploads/${upload.id}/parts/${n}`, blob, (sent) => {
        bar.value = Math.round(((done + sent) / file.size) * 99);
      });
      done += blob.size;
    }
    const answer = await post(`/v1/uploads/${upload.id}/complete`);
    return answer.asset;
  }
}

// ------------------------------------------------------------------ comments

export class CommentsPanel {
  constructor(editor) {
    this.editor = editor;
    this.threads = new Map();
    this.showResolved = false;
    this.list = h("ul", { class: "threads", "aria-label": "Comment threads" });
    this.toggle = h("label", { class: "check small" }, h("input", { type: "checkbox", onchange: (e) => { this.showResolved = e.target.checked; this.render(); } }), "Show resolved");
    this.element = h("div", { class: "comments" },
      h("div", { class: "row" }, h("button", { type: "button", class: "primary small", onclick: () => this.startThread() }, "+ New comment"), this.toggle),
      this.list);
  }

  async load() {
    try {
      const answer = await get(`/v1/projects/${this.editor.project.id}/threads`);
      for (const thread of answer.items) this.threads.set(thread.id, thread);
      this.render();
    } catch (e) {
      this.list.replaceChildren(h("li", { class: "muted small" }, e.message));
    }
  }

  upsert(thread) {
    this.threads.set(thread.id, thread);
    this.render();
  }

  anchorLabel(anchor) {
    const fps = this.editor.fps();
    const parts = [];
    if (anchor?.clip_id) {
      const found = this.editor.findClip(anchor.clip_id);
      parts.push(found ? (found.clip.name || found.clip.source.type) : "removed clip");
    }
    if (anchor?.from_frame !== undefined && anchor?.from_frame !== null) {
      parts.push(anchor.to_frame !== undefined && anchor.to_frame !== anchor.from_frame
        ? `${timecode(anchor.from_frame, fps)}–${timecode(anchor.to_frame, fps)}`
        : timecode(anchor.from_frame, fps));
    }
    return parts.join(" · ") || "Project";
  }

  async startThread() {
    const editor = this.editor;
    const selected = editor.selectedClips();
    const anchor = {};
    if (selected.length === 1) anchor.clip_id = selected[0].clip.id;
    if (editor.looping && editor.loop) {
      anchor.from_frame = editor.loop.in;
      anchor.to_frame = editor.loop.out - 1;
    } else {
      anchor.from_frame = editor.playhead;
      anchor.to_frame = editor.playhead;
    }
    const body = await modal("New comment", (close) => {
      const text = h("textarea", { rows: 4, required: true, maxlength: 10000, "aria-label": "Comment", placeholder: "What should change here?" });
      return h("form", { onsubmit: (e) => { e.preventDefault(); if (text.value.trim()) close(text.value.trim()); } },
        h("p", { class: "muted small" }, `Pinned to ${this.anchorLabel(anchor)}`), text,
        h("div", { class: "actions" }, h("button", { type: "button", onclick: () => close(undefined) }, "Cancel"), h("button", { type: "submit", class: "primary" }, "Comment")));
    });
    if (!body) return;
    try {
      const thread = await editor.session.comment({ type: "comment_create", anchor, body });
      this.upsert(thread);
      editor.rightTabs.show(1);
    } catch (e) {
      toast(e.message, "error");
    }
  }

  render() {
    const threads = [...this.threads.values()].filter((t) => this.showResolved || !t.resolved);
    if (!threads.length) {
      this.list.replaceChildren(h("li", { class: "muted small" }, "No open comments. Select a clip or set a loop range, then add a comment."));
      return;
    }
    this.list.replaceChildren(...threads.map((thread) => {
      const reply = h("input", { type: "text", placeholder: "Reply…", "aria-label": "Reply" });
      return h("li", { class: `thread${thread.resolved ? " resolved" : ""}`, dataset: { threadId: thread.id } },
        h("button", { type: "button", class: "anchor link", onclick: () => {
          const a = thread.anchor ?? {};
          if (typeof a.from_frame === "number") this.editor.seek(a.from_frame);
          if (a.clip_id && this.editor.findClip(a.clip_id)) {
            this.editor.selection.clear();
            this.editor.selection.add(a.clip_id);
            this.editor.selectionChanged();
          }
        } }, icon("marker", 12), this.anchorLabel(thread.anchor)),
        h("ul", { class: "thread-comments" }, (thread.comments ?? []).map((c) => h("li", { class: "comment" },
          h("span", { class: "avatar tiny", style: { background: colorFor(c.author?.id) } }, initials(c.author?.name)),
          h("div", {}, h("div", { class: "comment-meta" }, h("strong", {}, c.author?.name ?? "Someone"), " ", h("span", { class: "muted small" }, new Date(c.created_at).toLocaleString())),
            h("div", { class: "comment-body" }, c.deleted ? h("em", { class: "muted" }, "deleted") : c.body))))),
        h("form", { class: "reply", onsubmit: async (e) => {
          e.preventDefault();
          if (!reply.value.trim()) return;
          try {
            this.upsert(await this.editor.session.comment({ type: "comment_reply", thread_id: thread.id, body: reply.value.trim() }));
          } catch (err) {
            toast(err.message, "error");
          }
        } }, reply,
          h("button", { type: "button", class: "ghost small", onclick: async () => {
            try {
              this.upsert(await this.editor.session.comment({ type: "thread_resolve", thread_id: thread.id, resolved: !thread.resolved }));
            } catch (err) {
              toast(err.message, "error");
            }
          } }, thread.resolved ? "Reopen" : "✓ Resolve")));
    }));
  }
}

// ------------------------------------------------------------------ export

const FORMATS = [
  { kind: "still", label: "Still image (PNG) at the playhead" },
  { kind: "png_sequence", label: "PNG sequence (zip)" },
  { kind: "apng", label: "Animated PNG" },
  { kind: "gif", label: "GIF" },
  { kind: "wav", label: "Audio (WAV)" },
];

/** The export dialog: choose range and format, watch the job's progress, download. */
export function exportDialog(editor) {
  const duration = Math.max(1, editor.duration());
  let poll = null;
  return modal("Export", (close) => {
    const kind = h("select", { name: "kind", "aria-label": "Format" }, FORMATS.map((f) => h("option", { value: f.kind }, f.label)));
    const range = editor.looping && editor.loop ? editor.loop : { in: 0, out: duration };
    const from = h("input", { type: "number", name: "from", min: 0, max: duration - 1, value: range.in, "aria-label": "First frame" });
    const to = h("input", { type: "number", name: "to", min: 0, max: duration - 1, value: Math.max(range.in, range.out - 1), "aria-label": "Last frame" });
    const scale = h("select", { name: "scale", "aria-label": "Size" }, [[1, "Full size"], [0.5, "Half size"], [0.25, "Quarter size"]].map(([v, l]) => h("option", { value: v }, l)));
    const bar = h("progress", { max: 100, value: 0, class: "hidden", "aria-label": "Export progress" });
    const status = h("p", { class: "export-status", role: "status" });
    const download = h("a", { class: "button primary hidden", download: "" }, "Download");
    const start = h("button", { type: "submit", class: "primary" }, "Start export");
    const cancel = h("button", { type: "button", class: "hidden" }, "Cancel export");
    const rangeRow = h("div", { class: "row" }, h("label", {}, "From frame", from), h("label", {}, "To frame", to));
    const showRange = () => rangeRow.classList.toggle("hidden", kind.value === "still");
    kind.addEventListener("change", showRange);
    showRange();
    let job = null;
    const show = (next) => {
      if (!job || next.id !== job.id) return;
      job = next;
      bar.classList.remove("hidden");
      bar.value = job.status === "succeeded" ? 100 : job.progress ?? 0;
      const words = { queued: "Waiting for a renderer…", running: `Rendering… ${job.progress ?? 0}%`, succeeded: "Done.", failed: `The export failed: ${job.error?.message ?? job.error ?? "unknown error"}`, cancelled: "Export cancelled.", dead: "The export could not be completed after several attempts." };
      status.textContent = words[job.status] ?? job.status;
      const finished = ["succeeded", "failed", "cancelled", "dead"].includes(job.status);
      cancel.classList.toggle("hidden", finished);
      if (finished) {
        clearInterval(poll);
        editor.onJob = null;
        start.disabled = false;
      }
      if (job.status === "succeeded" && job.result_asset_ids?.length) {
        download.href = `/v1/assets/${job.result_asset_ids[0]}/content`;
        download.classList.remove("hidden");
      }
    };
    cancel.addEventListener("click", async () => {
      try {
        const answer = await post(`/v1/jobs/${job.id}/cancel`);
        if (answer?.job) show(answer.job);
      } catch (e) {
        toast(e.message, "error");
      }
    });
    return h("form", {
      class: "export",
      onsubmit: async (e) => {
        e.preventDefault();
        const body = { kind: kind.value, from_frame: Number(from.value), to_frame: Number(to.value), scale: Number(scale.value) };
        if (kind.value === "still") body.from_frame = body.to_frame = editor.playhead;
        start.disabled = true;
        download.classList.add("hidden");
        status.textContent = "Starting…";
        try {
          const answer = await post(`/v1/projects/${editor.project.id}/renders`, body);
          job = answer.job;
          editor.onJob = show;
          show(job);
          poll = setInterval(async () => {
            try {
              show((await get(`/v1/jobs/${job.id}`)).job);
            } catch {
              // the room's job frames keep coming; polling resumes on the next tick
            }
          }, 1000);
        } catch (err) {
          status.textContent = err.status === 404 && err.code === "route_not_found" ? "Exports aren't available on this server yet." : err.message;
          start.disabled = false;
        }
      },
    },
      h("label", {}, "Format", kind),
      rangeRow,
      h("label", {}, "Size", scale),
      bar, status,
      h("div", { class: "actions" }, h("button", { type: "button", onclick: () => { clearInterval(poll); editor.onJob = null; close(); } }, "Close"), cancel, download, start));
  }).finally(() => {
    clearInterval(poll);
    editor.onJob = null;
  });
}
