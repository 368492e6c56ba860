// Browser-test support: launches the system's Chromium through playwright-core, decodes PNGs in
// Node (zlib; no extra package), and drives the ProEditor page the way a creator does.
import { existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { chromium } from "playwright-core";

export { decodePng, encodePng } from "./png.mjs";

/** The Chromium binary: $CHROMIUM_PATH, else the first one found on this machine. */
export function chromiumPath() {
  const candidates = [
    process.env.CHROMIUM_PATH,
    "/usr/bin/chromium",
    "/usr/bin/chromium-browser",
    "/usr/bin/google-chrome",
    "/usr/bin/google-chrome-stable",
    "/snap/bin/chromium",
  ].filter(Boolean);
  for (const candidate of candidates) if (existsSync(candidate)) return candidate;
  for (const name of ["chromium", "chromium-browser", "google-chrome"]) {
    try {
      const found = execFileSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" }).trim();
      if (found) return found;
    } catch {
      // not on PATH
    }
  }
  throw new Error("Chromium not found: run `SETUP_BROWSER=1 bash scripts/setup.sh` or set CHROMIUM_PATH");
}

/** A headless Chromium. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
}

export function watchPage(page, label) {
  const problems = [];
  page.on("pageerror", (error) => problems.push(`${label}: ${error.message}`));
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource/.test(message.text())) problems.push(`${label} console: ${message.text()}`);
  });
  return problems;
}

/** Signs up through the page's form; resolves when the projects dashboard shows. */
export async function signUpInPage(page, base, { name, email, password }) {
  await page.goto(base + "/");
  await page.getByRole("button", { name: /create an account/i }).click();
  await page.getByLabel("Your name").fill(name);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Projects" }).waitFor();
}

/** Signs in through the page's form. */
export async function signInInPage(page, base, { email, password }) {
  await page.goto(base + "/");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Projects" }).waitFor();
}

/** Waits until the editor is connected and has nothing in flight. */
export async function settled(page, timeout = 15000) {
  await page.waitForFunction(() => {
    const e = window.proeditor;
    return e && e.session.status === "live" && e.session.pending.length === 0;
  }, null, { timeout });
}

/** The editor's shown timeline and seq. */
export function editorState(page) {
  return page.evaluate(() => ({ seq: window.proeditor.session.seq, timeline: JSON.parse(window.proeditor.view.timelineJson()) }));
}

/** All clips of a timeline by id, with their track id. */
export function clipsOf(timeline) {
  const map = new Map();
  for (const track of timeline.tracks) for (const clip of track.clips) map.set(clip.id, { ...clip, track_id: track.id });
  return map;
}

/** Drags from one point to another in steps (pointer events as a mouse makes them). */
export async function drag(page, from, to, steps = 12) {
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(from.x + (to.x - from.x) / steps, from.y + (to.y - from.y) / steps);
  await page.mouse.move(to.x, to.y, { steps });
  await page.mouse.up();
}

