// Small DOM helpers: element builder, toasts, modal dialogs.

/**
 * `h("button", {class: "primary", onclick}, "Save")`: attributes starting with `on` become
 * listeners, `class`/`style`/`dataset`/boolean attributes are handled, children may be
 * strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") element.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(element.dataset, value);
    else if (key === "style" && typeof value === "object") Object.assign(element.style, value);
    else if (key === "value") element.value = value;
    else if (key === "checked" || key === "selected" || key === "disabled") element[key] = !!value;
    else element.setAttribute(key, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Shows a short message; `kind` is info, success or error. */
export function toast(message, kind = "info", ms = 4500) {
  const box = document.getElementById("toasts");
  const item = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.classList.add("leaving"), ms);
  setTimeout(() => item.remove(), ms + 400);
  return item;
}

/**
 * A modal dialog. `build(close)` returns the body; resolves with what `close(value)` is given
 * (undefined when dismissed with Escape or the backdrop).
 */
export function modal(title, build, { wide = false } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: `modal${wide ? " wide" : ""}`, "aria-label": title });
    let done = false;
    const close = (value) => {
      if (done) return;
      done = true;
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    dialog.append(h("h2", {}, title), build(close));
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      close(undefined);
    });
    dialog.addEventListener("click", (event) => {
      if (event.target === dialog) close(undefined);
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("input, select, textarea, button.primary")?.focus();
  });
}

/** Asks a yes/no question; resolves true on confirm. */
export function confirmDialog(title, message, confirmLabel = "Confirm", danger = false) {
  return modal(title, (close) =>
    h("div", {},
      h("p", {}, message),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: danger ? "danger primary" : "primary", onclick: () => close(true) }, confirmLabel))),
  ).then((v) => v === true);
}

/** Asks for one line of text; resolves with it (trimmed) or undefined. */
export function promptDialog(title, label, initial = "", confirmLabel = "Save") {
  return modal(title, (close) => {
    const input = h("input", { type: "text", value: initial, required: true, "aria-label": label });
    return h("form", { onsubmit: (e) => { e.preventDefault(); if (input.value.trim()) close(input.value.trim()); } },
      h("label", {}, label, input),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: () => close(undefined) }, "Cancel"),
        h("button", { type: "submit", class: "primary" }, confirmLabel)));
  });
}

/** A stable colour for a member id. */
export function colorFor(id) {
  let hash = 0;
  for (const c of String(id)) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  const hues = [200, 330, 145, 35, 265, 5, 175, 55, 290, 95];
  return `hsl(${hues[hash % hues.length]} 75% 60%)`;
}

/** Initials of a display name. */
export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

/** Frames as a timecode `HH:MM:SS:FF` at `fps`. */
export function timecode(frame, fps) {
  const whole = Math.max(1, Math.round(fps));
  const ff = frame % whole;
  const totalSeconds = Math.floor(frame / whole);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(Math.floor(totalSeconds / 3600))}:${pad(Math.floor(totalSeconds / 60) % 60)}:${pad(totalSeconds % 60)}:${pad(ff)}`;
}
